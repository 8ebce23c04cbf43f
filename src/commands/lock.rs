//! `upmsync lock`: resolves every app of every selected instance to an exact version and artifact,
//! downloads and verifies each artifact to record its sha256, and writes `apps.lock`.

use crate::http::HttpSettings;
use std::collections::BTreeMap;

use super::{cache, load_without_licenses, read_live, Exit};
use crate::cli::LockArgs;
use crate::execute::{self, error_text};
use crate::lock::{self, Lock, LockedApp, LockedInstance, LOCK_VERSION};
use crate::marketplace::download::Cache;
use crate::marketplace::MarketplaceClient;
use crate::model::{Desired, DesiredInstance, DesiredState, Location};
use crate::printer::Printer;
use crate::resolve::{self, Depth};

/// `upmsync lock`.
///
/// # Errors
///
/// A manifest that cannot be loaded or a cache folder that cannot be used, for `main` to print.
pub async fn run(
    args: &LockArgs,
    printer: &Printer,
    settings: &HttpSettings,
) -> anyhow::Result<Exit> {
    let desired = load_without_licenses(&args.manifest.file, &args.selection.instances)?;
    let cache = cache(args.cache.dir().as_deref(), settings)?;
    let keep_others = !args.selection.instances.is_empty();
    Ok(lock_desired(
        &desired,
        &cache,
        args.update,
        keep_others,
        printer,
        settings,
    )
    .await)
}

/// Locks the instances of `desired`. `keep_others` (with `--instance`) keeps the entries of other
/// instances; otherwise the lock holds exactly the manifest's instances.
pub async fn lock_desired(
    desired: &Desired,
    cache: &Cache,
    update: bool,
    keep_others: bool,
    printer: &Printer,
    settings: &HttpSettings,
) -> Exit {
    let previous = match Lock::load(&desired.manifest_path) {
        Ok(previous) => previous.unwrap_or_default(),
        Err(error) => {
            if !update {
                printer.error_text(&error_text(&error));
                return Exit::Failure;
            }
            Lock::default()
        }
    };
    let marketplace = match MarketplaceClient::new(&desired.marketplace_url, settings) {
        Ok(marketplace) => marketplace,
        Err(error) => {
            printer.error_text(&format!(
                "failed to set up an HTTP client\nCaused by: {}",
                error_text(&error)
            ));
            return Exit::Failure;
        }
    };
    let base = lock::base_of(&desired.manifest_path);
    // With `--instance`, the others keep their entries; otherwise instances gone from the
    // manifest leave the lock, so the same manifest always gives the same lock.
    let mut next = Lock {
        lock_version: LOCK_VERSION,
        instances: if keep_others {
            previous.instances.clone()
        } else {
            Default::default()
        },
    };
    let mut failed = false;
    for instance in &desired.instances {
        let kept = if update {
            None
        } else {
            previous.instances.get(&instance.name)
        };
        match lock_instance(instance, kept, &marketplace, cache, &base, settings).await {
            Ok(locked) => {
                printer.status(&format!(
                    "{}: locked {} app(s)",
                    instance.name,
                    locked.apps.len()
                ));
                next.instances.insert(instance.name.clone(), locked);
            }
            Err(error) => {
                printer.error_text(&format!("instance `{}`: {error}", instance.name));
                failed = true;
            }
        }
    }
    if failed {
        printer.error_text("the lock file was not written");
        return Exit::Failure;
    }
    match next.write(&desired.manifest_path) {
        Ok(path) => {
            printer.status(&format!("wrote `{}`", path.display()));
            Exit::Success
        }
        Err(error) => {
            printer.error_text(&error_text(&error));
            Exit::Failure
        }
    }
}

async fn lock_instance(
    instance: &DesiredInstance,
    kept: Option<&LockedInstance>,
    marketplace: &MarketplaceClient,
    cache: &Cache,
    base: &std::path::Path,
    settings: &HttpSettings,
) -> Result<LockedInstance, String> {
    let live = read_live(instance, settings)
        .await
        .map_err(|error| error_text(&error))?;
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
        .map_err(|errors| format!("cannot resolve:\n- {}", errors.join("\n- ")))?;
    let targets = crate::plan::decide(&to_resolve, &live, &facts).map_err(|errors| {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("cannot resolve:\n- {}", errors.join("\n- "))
    })?;
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
            Err(error) => {
                errors.push(format!("`{}` {}: {error}", app.key, target.version));
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
        return Err(format!(
            "artifacts failed verification:\n- {}",
            errors.join("\n- ")
        ));
    }
    Ok(LockedInstance {
        hosting: instance.hosting,
        product_build: live.product.ok().map(|product| product.build),
        apps,
    })
}
