//! `upmsync lock`: resolves every app of every selected instance to an exact version and artifact,
//! downloads and verifies each artifact to record its sha256, and writes `apps.lock`.

use super::{cache, load_without_licenses, Exit};
use crate::cli::LockArgs;
use crate::error::{error_text, Shared};
use crate::http::HttpSettings;
use crate::lock::{self, Lock, LOCK_VERSION};
use crate::marketplace::download::Cache;
use crate::marketplace::MarketplaceClient;
use crate::model::Desired;
use crate::ops::{self, InstanceError};
use crate::printer::Printer;

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
                printer.error(&error);
                return Exit::Failure;
            }
            Lock::default()
        }
    };
    let marketplace = match MarketplaceClient::new(&desired.marketplace_url, settings) {
        Ok(marketplace) => marketplace,
        Err(error) => {
            printer.error(&InstanceError::SetUp(Shared::new(error)));
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
        match ops::lock::lock_instance(instance, kept, &marketplace, cache, &base, settings).await {
            Ok(locked) => {
                printer.status(&format!(
                    "{}: locked {} app(s)",
                    instance.name,
                    locked.apps.len()
                ));
                next.instances.insert(instance.name.clone(), locked);
            }
            Err(error) => {
                printer.error_text(&format!(
                    "instance `{}`: {}",
                    instance.name,
                    error_text(&error)
                ));
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
            printer.error(&error);
            Exit::Failure
        }
    }
}
