//! `lock`'s core: one instance resolved to exact versions and verified artifacts.

use crate::resolve::ResolveError;
use std::collections::BTreeMap;

use crate::execute::{self, VerifyFailure};
use crate::http::HttpSettings;
use crate::lock::{self, LockedApp, LockedInstance};
use crate::marketplace::download::Cache;
use crate::marketplace::MarketplaceClient;
use crate::model::{DesiredInstance, DesiredState, Location};
use crate::plan::PlanError;
use crate::resolve::{self, Depth};

use super::InstanceError;

/// Why one instance could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockInstanceError {
    /// The instance could not be read.
    #[error(transparent)]
    Read(#[from] InstanceError),
    /// Some version could not be resolved, one reason per app (their hints are this error's).
    #[error("cannot resolve:{}", list(.0.iter().map(ResolveError::line)))]
    Resolve(Vec<ResolveError>),
    /// The planner refused a wanted version (an incompatible pin, ...), one reason per app.
    #[error("cannot resolve:{}", list(.0.iter().map(PlanError::to_string)))]
    Plan(Vec<PlanError>),
    /// Some artifact failed download or verification, one reason per app.
    #[error("artifacts failed verification:{}", list(.0.iter().map(VerifyFailure::line)))]
    Verify(Vec<VerifyFailure>),
}

impl LockInstanceError {
    /// The problems of a list, whose hints are this error's ([`crate::error::hints`]).
    pub fn held(&self) -> Vec<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read(_) => Vec::new(),
            Self::Resolve(errors) => errors.iter().map(|error| error as _).collect(),
            Self::Plan(errors) => errors.iter().map(|error| error as _).collect(),
            Self::Verify(errors) => errors.iter().map(|error| error as _).collect(),
        }
    }
}

/// `\n- a\n- b`, continuation lines indented under their item.
fn list(items: impl Iterator<Item = String>) -> String {
    items
        .map(|item| format!("\n- {}", item.replace('\n', "\n  ")))
        .collect()
}

/// Locks one instance: reads it, keeps the entries of `kept` that still answer the manifest,
/// resolves the others and downloads, hashes and opens every artifact they name.
///
/// # Errors
///
/// [`LockInstanceError`]: the instance cannot be read, a version cannot be resolved, or an
/// artifact fails verification (every failing app named).
pub async fn lock_instance(
    instance: &DesiredInstance,
    kept: Option<&LockedInstance>,
    marketplace: &MarketplaceClient,
    cache: &Cache,
    base: &std::path::Path,
    settings: &HttpSettings,
) -> Result<LockedInstance, LockInstanceError> {
    let live = super::read_live(instance, settings).await?;
    // Entries that still answer the manifest are kept as they are; the others are resolved.
    let mut kept_apps = BTreeMap::new();
    let mut to_resolve = instance.clone();
    if let Some(kept) = kept.filter(|kept| kept.hosting == instance.hosting) {
        for app in instance.apps.values() {
            if let (DesiredState::Present(present), Some(entry)) =
                (&app.state, kept.apps.get(&app.key))
            {
                if entry.covers(present, base) {
                    kept_apps.insert(app.key.clone(), entry.clone());
                    to_resolve.apps.remove(&app.key);
                }
            }
        }
    }
    let facts = resolve::resolve(&to_resolve, &live, marketplace, None, base, Depth::Lock)
        .await
        .map_err(LockInstanceError::Resolve)?;
    let targets =
        crate::plan::decide(&to_resolve, &live, &facts).map_err(LockInstanceError::Plan)?;
    let mut apps = kept_apps;
    let mut errors = Vec::new();
    for app in to_resolve.apps.values() {
        let DesiredState::Present(present) = &app.state else {
            continue;
        };
        let Some(target) = targets.get(&app.key) else {
            continue;
        };
        let Some(artifact) = &target.artifact else {
            continue;
        };
        // Every locked artifact is downloaded (or read) once, hashed and opened here.
        let verified = execute::fetch_and_verify(cache, &app.key, &target.version, artifact).await;
        let verified = match verified {
            Ok(verified) => verified,
            Err(cause) => {
                errors.push(VerifyFailure {
                    key: app.key.clone(),
                    version: target.version.clone(),
                    cause,
                });
                continue;
            }
        };
        let (url, path) = match &artifact.location {
            Location::Url(url) => (Some(url.clone()), None),
            Location::File(path) => (None, Some(lock::relative(path, base))),
        };
        apps.insert(
            app.key.clone(),
            LockedApp {
                requested: present.version.to_string(),
                source: lock::source_text(&present.source, base),
                install: present.install,
                version: target.version.to_string(),
                build_number: target.build_number,
                delivery: artifact.delivery,
                url,
                path,
                sha256: verified.sha256,
                compatibility: target.compatibility.clone(),
                hosting: present.hosting,
                allow_incompatible: lock::locks_allow_incompatible(present),
            },
        );
    }
    if !errors.is_empty() {
        return Err(LockInstanceError::Verify(errors));
    }
    Ok(LockedInstance {
        hosting: instance.hosting,
        product_build: live.product.ok().map(|product| product.build),
        apps,
    })
}
