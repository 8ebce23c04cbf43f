//! Carries out one instance's plan: one change at a time, in plan order, each verified by reading
//! UPM back. The first failure stops the instance; the report says what was done, what failed and
//! what was not started.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use tracing::Instrument;

use crate::model::{AppKey, DesiredInstance, DesiredLicense, DesiredState, Secret};
use crate::plan::{Action, Change, InstancePlan};
use crate::upm::{UpmClient, UpmError};

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
    #[error("`{}` cannot be read: {source}", path.display())]
    Artifact {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Applies (or dry-runs) a plan. `progress` is told of each change as it finishes. Once
/// `interrupted` is set (Ctrl-C), the change under way finishes (both halves of a downgrade) and
/// the rest are not started.
pub async fn execute(
    plan: &InstancePlan,
    desired: &DesiredInstance,
    upm: &UpmClient,
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
        if mode == Mode::DryRun && !plan.changes.is_empty() {
            // HEAD is not a mutating request; a token proves the credentials are an admin's.
            if let Err(error) = upm.token().await {
                report.error = Some(format!("{error}"));
            }
        }
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
                    Mode::Apply => apply_change(change, desired, upm)
                        .instrument(tracing::info_span!("change", key = %change.key, action = %change.action))
                        .await,
                    Mode::DryRun => check_change(change, desired).await,
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

async fn apply_change(
    change: &Change,
    desired: &DesiredInstance,
    upm: &UpmClient,
) -> Result<(), ChangeError> {
    let key = &change.key;
    match change.action {
        Action::Install | Action::Upgrade => install(change, upm).await,
        Action::Downgrade => {
            // UPM refuses to downgrade in place (§5.6): uninstall, then install the older version.
            upm.uninstall(key).await?;
            install(change, upm)
                .await
                .map_err(|source| ChangeError::DowngradeInstallFailed {
                    key: key.clone(),
                    from: version_text(&change.from),
                    to: version_text(&change.to),
                    source: Box::new(source),
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
async fn install(change: &Change, upm: &UpmClient) -> Result<(), ChangeError> {
    let key = &change.key;
    let artifact = change
        .artifact
        .as_ref()
        .ok_or_else(|| ChangeError::NoArtifact { key: key.clone() })?;
    let installed = upm.install(key, artifact).await?;
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

/// Dry run of one change: everything that can be checked without changing anything.
async fn check_change(change: &Change, desired: &DesiredInstance) -> Result<(), ChangeError> {
    match change.action {
        action if action.installs() => match &change.artifact {
            None => Err(ChangeError::NoArtifact {
                key: change.key.clone(),
            }),
            Some(crate::model::Artifact::Upload { path }) => tokio::fs::File::open(path)
                .await
                .map(drop)
                .map_err(|source| ChangeError::Artifact {
                    path: path.clone(),
                    source,
                }),
            Some(crate::model::Artifact::Uri { .. }) => Ok(()),
        },
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
