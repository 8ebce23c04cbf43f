//! The core the commands stand on: reads live state, gathers facts and plans, and returns plans,
//! reports and errors as values; it never prints (warnings go to [`HttpSettings::notices`]).
//! Commands are thin: load -> ops -> render -> print.

pub mod apply;
mod error;
pub mod import;
pub mod lock;
pub mod outdated;
pub mod publish;
pub mod readiness;

use std::collections::BTreeSet;

pub use error::InstanceError;

use crate::error::Shared;
use crate::http::HttpSettings;
use crate::lock::{self as lockfile, Lock, LockedInstance};

use crate::marketplace::MarketplaceClient;
use crate::model::{AppKey, Desired, DesiredInstance, DesiredLicense, DesiredState, Live};
use crate::notice::Notice;
use crate::plan::{self as planner, Drift, Plan, PlannedInstance, Resolution};
use crate::resolve::{self as resolver, Depth};
use crate::upm::{fill_licenses, licensed_installed, UpmClient, UpmError};

/// Reads every instance of `desired` (the loader kept only the selected ones) and plans it, with
/// every artifact an install needs (`plan`, `apply`). Instances are read concurrently (up to
/// [`crate::http::limits::MAX_INSTANCES_READING`] at once), each in two waves (see
/// `read_and_plan_instance`); every request waits for its slot under the run's caps
/// ([`crate::http::Limits`]), and the Marketplace client asks each distinct question once for all
/// instances. With a lock file, the Marketplace is asked
/// only where a downgrade's installed version is (to restore it if the install fails); a lock that
/// does not cover the manifest stops the instances it falls short for.
pub async fn read_and_plan(desired: &Desired, settings: &HttpSettings) -> Plan {
    read_and_plan_to(desired, Depth::Artifacts, settings).await
}

/// Like [`read_and_plan`], but resolves only what versions mean (`latest`, constraints) and no
/// artifact (`drift`), so monitoring works where only the instances are reachable.
pub async fn read_drift(desired: &Desired, settings: &HttpSettings) -> Drift {
    read_drift_timed(desired, settings).await.0
}

/// Like [`read_drift`], with how long each instance took to read and plan, in the plan's order
/// (`drift --metrics-file`, `serve`: `upmsync_check_duration_seconds`). An instance's time
/// includes its wait for a slot under the run's caps.
pub async fn read_drift_timed(
    desired: &Desired,
    settings: &HttpSettings,
) -> (Drift, Vec<std::time::Duration>) {
    read_and_plan_timed(desired, Depth::Versions, settings).await
}

async fn read_and_plan_to<A: Resolution>(
    desired: &Desired,
    depth: Depth,
    settings: &HttpSettings,
) -> Plan<A> {
    read_and_plan_timed(desired, depth, settings).await.0
}

async fn read_and_plan_timed<A: Resolution>(
    desired: &Desired,
    depth: Depth,
    settings: &HttpSettings,
) -> (Plan<A>, Vec<std::time::Duration>) {
    // Shared by every instance: a failure stops each of them, with the same cause.
    let lock = Lock::load(&desired.manifest_path).map_err(Shared::new);
    let base = lockfile::base_of(&desired.manifest_path);
    let gaps = match &lock {
        Ok(Some(lock)) => lock.gaps(desired, &base),
        _ => Default::default(),
    };
    let marketplace =
        MarketplaceClient::new(&desired.marketplace_url, settings).map_err(Shared::new);
    let planned = futures::future::join_all(desired.instances.iter().map(|instance| {
        let marketplace = marketplace.as_ref();
        let lock = &lock;
        let gaps = &gaps;
        let base = &base;
        async move {
            let started = std::time::Instant::now();
            let (live, result) = match (marketplace, lock) {
                (Err(error), _) => (None, Err(InstanceError::SetUp(error.clone()))),
                (_, Err(error)) => (None, Err(InstanceError::Lock(error.clone()))),
                (Ok(_), Ok(Some(_))) if gaps.contains_key(&instance.name) => (
                    None,
                    Err(InstanceError::StaleLock {
                        path: lockfile::path_for(&desired.manifest_path),
                        gaps: gaps[&instance.name].clone(),
                    }),
                ),
                (Ok(marketplace), Ok(lock)) => {
                    let locked = lock
                        .as_ref()
                        .and_then(|lock| lock.instances.get(&instance.name));
                    match read_and_plan_instance(
                        instance,
                        settings,
                        marketplace,
                        locked,
                        base,
                        depth,
                    )
                    .await
                    {
                        Ok((live, result)) => (Some(live), result),
                        Err(error) => (None, Err(error)),
                    }
                }
            };
            let planned = PlannedInstance {
                name: instance.name.clone(),
                url: instance.url.clone(),
                live,
                // The plan holds the typed error; its text and JSON show it with its causes and
                // hints (`crate::error::error_text`).
                result: result.map_err(std::sync::Arc::new),
            };
            (planned, started.elapsed())
        }
    }))
    .await;
    let (instances, durations) = planned.into_iter().unzip();
    (Plan { instances }, durations)
}

/// Reads one instance and plans it, in as few round trips as the API allows. One wave of
/// requests goes out at once: the plugin list and the product's version
/// ([`UpmClient::apps_and_product`]), `/requires-restart` and the Marketplace apps' licenses
/// ([`UpmClient::restarts_and_licenses`]). The Marketplace questions ([`resolver::resolve`]) start
/// as soon as the plugin list and the product build are in (what they need: the installed
/// versions, and the build for `latest` and constraints), without waiting for the rest of the
/// wave or for the license reads it leaves (in-house apps), which run alongside them. The
/// instance's UPM client (and its connections), and its slot among the instances read at once
/// ([`crate::http::Limits::instance`]), are given up as soon as UPM is read.
///
/// # Errors
///
/// [`InstanceError::SetUp`] or [`InstanceError::Read`] when UPM cannot be read (then there is no
/// live state); else the live state with the plan or why there is none.
async fn read_and_plan_instance<A: Resolution>(
    instance: &DesiredInstance,
    settings: &HttpSettings,
    marketplace: &MarketplaceClient,
    lock: Option<&LockedInstance>,
    base: &std::path::Path,
    depth: Depth,
) -> Result<(Live, Result<planner::InstancePlan<A>, InstanceError>), InstanceError> {
    let slot = settings.limits.instance().await;
    let upm = client(instance, settings)?;
    let read_error = |source| InstanceError::Read {
        instance: instance.name.clone(),
        source,
    };
    let license_keys = managed_license_keys(instance);
    let keys = &license_keys;
    // The installed apps whose license is managed, once the plugin list is in.
    let (listed, installed) = tokio::sync::oneshot::channel::<Vec<AppKey>>();
    let reading = {
        let upm = upm.clone();
        async move {
            let live = upm.apps_and_product(instance.product).await;
            drop(upm);
            let live = live?;
            let _ = listed.send(licensed_installed(&live, keys).cloned().collect());
            let facts = resolver::resolve(instance, &live, marketplace, lock, base, depth).await;
            Ok::<_, UpmError>((live, facts))
        }
    };
    let licensing = async move {
        let side = upm.restarts_and_licenses(!keys.is_empty()).await;
        // No list, nothing to read: the read fails with the list's error.
        let installed = installed.await.unwrap_or_default();
        let licenses = upm.read_licenses(&side.unread(&installed)).await;
        drop(upm);
        drop(slot);
        licenses.map(|licenses| (side, licenses))
    };
    let (read, licensed) = futures::join!(reading, licensing);
    let (mut live, facts) = read.map_err(read_error)?;
    let (side, licenses) = licensed.map_err(read_error)?;
    side.fill(&mut live, keys, &settings.notices);
    fill_licenses(&mut live, licenses);
    let result = facts
        .map_err(|errors| InstanceError::Resolve {
            instance: instance.name.clone(),
            errors,
        })
        .and_then(|facts| {
            planner::plan(instance, &live, &facts).map_err(|errors| InstanceError::Plan {
                instance: instance.name.clone(),
                errors,
            })
        });
    Ok((live, result))
}

/// Reads one instance's live state: plugins, managed licenses, product version
/// ([`UpmClient::read_live`]), within the run's cap on instances read at once.
///
/// # Errors
///
/// [`InstanceError::SetUp`] when its HTTP client cannot be built, [`InstanceError::Read`] when
/// UPM cannot be read.
pub async fn read_live(
    instance: &DesiredInstance,
    settings: &HttpSettings,
) -> Result<Live, InstanceError> {
    let _slot = settings.limits.instance().await;
    let upm = client(instance, settings)?;
    upm.read_live(instance.product, &managed_license_keys(instance))
        .await
        .map_err(|source| InstanceError::Read {
            instance: instance.name.clone(),
            source,
        })
}

/// The instance's UPM client, after the warning an instance without TLS checks gets.
fn client(instance: &DesiredInstance, settings: &HttpSettings) -> Result<UpmClient, InstanceError> {
    let upm = UpmClient::new(instance, settings)
        .map_err(|error| InstanceError::SetUp(Shared::new(error)))?;
    warn_if_insecure(instance, settings);
    Ok(upm)
}

/// Warns ([`Notice::InsecureTls`]), once per run and instance, that the instance's certificate
/// is not checked (`insecure_skip_tls_verify: true`), so the risk is seen on every run, not only
/// when the manifest is written.
fn warn_if_insecure(instance: &DesiredInstance, settings: &HttpSettings) {
    if instance.transport.insecure_skip_tls_verify {
        settings.notices.emit_once(
            &format!("insecure-tls\n{}", instance.name),
            Notice::InsecureTls {
                instance: instance.name.clone(),
            },
        );
    }
}

/// The apps whose license the manifest manages (a license or `license: absent`).
fn managed_license_keys(instance: &DesiredInstance) -> BTreeSet<AppKey> {
    instance
        .apps
        .values()
        .filter(|app| matches!(&app.state, DesiredState::Present(present) if !matches!(present.license, DesiredLicense::Unmanaged)))
        .map(|app| app.key.clone())
        .collect()
}
