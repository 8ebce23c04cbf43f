//! Carries out one instance's plan: one change at a time, in plan order, each verified by reading
//! UPM back. The first failure stops the instance; the report says what was done, what failed and
//! what was not started.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use tracing::Instrument;

use crate::artifact;
use crate::marketplace::download::Cache;
use crate::model::{
    AppKey, Delivery, DesiredInstance, DesiredLicense, DesiredState, Location, Secret,
};
use crate::plan::{Action, Change, InstancePlan};
use crate::upm::{InstallFrom, UpmClient, UpmError};

/// Whether changes are made or only checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Apply,
    /// No POST, PUT or DELETE: checks credentials (by fetching a upm-token with HEAD) and that
    /// every artifact is at hand, then says what would be done.
    DryRun,
}

/// What became of one change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    Done,
    /// Dry run: checked, and would be done.
    WouldDo,
    Failed {
        error: String,
    },
    NotStarted,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChangeReport {
    #[serde(flatten)]
    pub change: Change,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The result of applying one instance's plan.
#[derive(Clone, Debug, Serialize)]
pub struct ApplyReport {
    pub name: String,
    pub changes: Vec<ChangeReport>,
    /// A failure before any change could start (e.g. the dry-run credential check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ApplyReport {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
            && self
                .changes
                .iter()
                .all(|report| matches!(report.outcome, Outcome::Done | Outcome::WouldDo))
    }
}

/// Why a change failed, said so that an admin knows the state it left behind.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Upm(#[from] UpmError),
    #[error("UPM reports `{key}` at version {found} after installing {wanted}\nhint: UPM keeps an installed version that is newer and silently ignores the older artifact; check the artifact's version")]
    VersionMismatch {
        key: AppKey,
        wanted: String,
        found: String,
    },
    #[error("`{key}` was uninstalled (it was at {from}) but installing {to} failed, so the app is now missing: {source}\nhint: fix the cause and run apply again, or reinstall {from} by hand")]
    DowngradeInstallFailed {
        key: AppKey,
        from: String,
        to: String,
        #[source]
        source: Box<ChangeError>,
    },
    #[error("UPM reports `{key}` as {} after the change", if *enabled { "enabled" } else { "disabled" })]
    EnablementMismatch { key: AppKey, enabled: bool },
    #[error("no artifact was resolved for `{key}` (internal error: plan without resolution)")]
    NoArtifact { key: AppKey },
    #[error("the manifest no longer holds the license for `{key}`")]
    NoLicense { key: AppKey },
}

/// Applies (or dry-runs) a plan. `progress` is told of each change as it finishes. Once
/// `interrupted` is set (Ctrl-C), the change under way finishes (both halves of a downgrade) and
/// the rest are not started.
pub async fn execute(
    plan: &InstancePlan,
    desired: &DesiredInstance,
    upm: &UpmClient,
    cache: &Cache,
    mode: Mode,
    interrupted: &AtomicBool,
    progress: &mut dyn FnMut(&Change, &Outcome),
) -> ApplyReport {
    let span = tracing::info_span!("instance", name = %plan.name);
    async {
        let mut report = ApplyReport {
            name: plan.name.clone(),
            changes: Vec::new(),
            error: None,
        };
        // Everything that can fail without changing anything fails here, before the first change:
        // a downgrade never uninstalls an app whose replacement is not in hand.
        let prepared = match prepare(plan, upm, cache, mode).await {
            Ok(prepared) => prepared,
            Err(error) => {
                report.error = Some(error);
                BTreeMap::new()
            }
        };
        let mut stopped = report.error.is_some();
        for change in &plan.changes {
            if !stopped && interrupted.load(Ordering::SeqCst) {
                stopped = true;
                report.error = Some("interrupted (Ctrl-C): the changes not started were left alone".into());
            }
            let outcome = if stopped {
                Outcome::NotStarted
            } else {
                let result = match mode {
                    Mode::Apply => apply_change(change, desired, upm, &prepared)
                        .instrument(tracing::info_span!("change", key = %change.key, action = %change.action))
                        .await,
                    Mode::DryRun => check_change(change, desired),
                };
                match result {
                    Ok(()) if mode == Mode::Apply => Outcome::Done,
                    Ok(()) => Outcome::WouldDo,
                    Err(error) => {
                        stopped = true;
                        Outcome::Failed { error: error_text(&error) }
                    }
                }
            };
            progress(change, &outcome);
            report.changes.push(ChangeReport {
                change: change.clone(),
                outcome,
            });
        }
        report
    }
    .instrument(span)
    .await
}

/// Checks made before any change: UPM not in safe mode (a token also proves admin rights in a dry
/// run), and every artifact that is uploaded or pinned downloaded (once, into the cache), hashed
/// and opened: its key and version must be the wanted ones. Returns the verified local files.
async fn prepare(
    plan: &InstancePlan,
    upm: &UpmClient,
    cache: &Cache,
    mode: Mode,
) -> Result<BTreeMap<AppKey, PathBuf>, String> {
    let mut prepared = BTreeMap::new();
    if plan.changes.is_empty() {
        return Ok(prepared);
    }
    if mode == Mode::DryRun {
        // HEAD is not a mutating request; a token proves the credentials are an admin's.
        upm.token().await.map_err(|error| error_text(&error))?;
    }
    let changes_apps = plan
        .changes
        .iter()
        .any(|change| change.action.installs() || change.action == Action::Uninstall);
    if changes_apps && upm.safe_mode().await.map_err(|error| error_text(&error))? {
        return Err(error_text(&UpmError::SafeMode));
    }
    let mut errors = Vec::new();
    for change in plan
        .changes
        .iter()
        .filter(|change| change.action.installs())
    {
        let (Some(artifact), Some(version)) = (&change.artifact, &change.to) else {
            continue;
        };
        if !artifact.needs_verification() {
            continue;
        }
        let verified = match &artifact.location {
            Location::File(path) => {
                artifact::verify_file(path, &change.key, version, artifact.sha256.as_ref())
                    .map_err(|error| error_text(&error))
            }
            Location::Url(url) => match cache.fetch(url, artifact.sha256.as_ref()).await {
                Ok(file) => artifact::verify_file(&file.path, &change.key, version, None)
                    .map_err(|error| error_text(&error)),
                Err(error) => Err(error_text(&error)),
            },
        };
        match verified {
            Ok(verified) => {
                prepared.insert(change.key.clone(), verified.path);
            }
            Err(error) => errors.push(format!("`{}` {version}: {error}", change.key)),
        }
    }
    if errors.is_empty() {
        Ok(prepared)
    } else {
        Err(format!(
            "artifacts failed verification, so nothing was changed on this instance:\n- {}",
            errors.join("\n- ").replace('\n', "\n  ")
        ))
    }
}

async fn apply_change(
    change: &Change,
    desired: &DesiredInstance,
    upm: &UpmClient,
    prepared: &BTreeMap<AppKey, PathBuf>,
) -> Result<(), ChangeError> {
    let key = &change.key;
    match change.action {
        Action::Install | Action::Upgrade => install(change, upm, prepared).await,
        Action::Downgrade => {
            // UPM refuses to downgrade in place (§5.6): uninstall, then install the older version.
            upm.uninstall(key).await?;
            install(change, upm, prepared).await.map_err(|source| {
                ChangeError::DowngradeInstallFailed {
                    key: key.clone(),
                    from: version_text(&change.from),
                    to: version_text(&change.to),
                    source: Box::new(source),
                }
            })
        }
        Action::Uninstall => Ok(upm.uninstall(key).await?),
        Action::Enable | Action::Disable => {
            set_enabled(upm, key, change.action == Action::Enable).await
        }
        Action::LicenseSet => {
            let license = license_text(desired, key)
                .ok_or_else(|| ChangeError::NoLicense { key: key.clone() })?;
            Ok(upm.set_license(key, license).await?)
        }
        Action::LicenseRemove => Ok(upm.remove_license(key).await?),
    }
}

/// Installs, then reads the app back: the version must be the wanted one, and the enablement the
/// one the plan asked for.
async fn install(
    change: &Change,
    upm: &UpmClient,
    prepared: &BTreeMap<AppKey, PathBuf>,
) -> Result<(), ChangeError> {
    let key = &change.key;
    let artifact = change
        .artifact
        .as_ref()
        .ok_or_else(|| ChangeError::NoArtifact { key: key.clone() })?;
    let from = match (&artifact.delivery, &artifact.location, prepared.get(key)) {
        (Delivery::Upload, _, Some(path)) => InstallFrom::Upload(path),
        (Delivery::Uri, Location::Url(url), _) => InstallFrom::Uri(url),
        _ => return Err(ChangeError::NoArtifact { key: key.clone() }),
    };
    let installed = upm.install(key, from).await?;
    if let Some(wanted) = &change.to {
        if &installed.version != wanted {
            return Err(ChangeError::VersionMismatch {
                key: key.clone(),
                wanted: wanted.to_string(),
                found: installed.version.to_string(),
            });
        }
    }
    if let Some(enabled) = change.enabled {
        if installed.enabled != enabled {
            set_enabled(upm, key, enabled).await?;
        }
    }
    Ok(())
}

async fn set_enabled(upm: &UpmClient, key: &AppKey, enabled: bool) -> Result<(), ChangeError> {
    upm.set_enabled(key, enabled).await?;
    match upm.plugin(key).await? {
        Some(app) if app.enabled == enabled => Ok(()),
        _ => Err(ChangeError::EnablementMismatch {
            key: key.clone(),
            enabled: !enabled,
        }),
    }
}

/// Dry run of one change, after `prepare` checked the artifacts: what is left to check.
fn check_change(change: &Change, desired: &DesiredInstance) -> Result<(), ChangeError> {
    match change.action {
        action if action.installs() && change.artifact.is_none() => Err(ChangeError::NoArtifact {
            key: change.key.clone(),
        }),
        Action::LicenseSet => {
            license_text(desired, &change.key)
                .map(drop)
                .ok_or_else(|| ChangeError::NoLicense {
                    key: change.key.clone(),
                })
        }
        _ => Ok(()),
    }
}

fn license_text<'a>(desired: &'a DesiredInstance, key: &AppKey) -> Option<&'a Secret> {
    match &desired.apps.get(key)?.state {
        DesiredState::Present(present) => match &present.license {
            DesiredLicense::Present(license) => Some(&license.text),
            _ => None,
        },
        DesiredState::Absent => None,
    }
}

fn version_text(version: &Option<crate::model::Version>) -> String {
    version
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "none".into())
}

/// An error with its causes, each once, as `a: b: c`.
pub fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(&format!("\nCaused by: {cause_text}"));
        }
        current = cause.source();
    }
    text
}
