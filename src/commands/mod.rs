//! One module per subcommand: load -> read -> plan -> render -> (apply). This file holds the steps
//! they share: loading the manifest, picking instances, reading live state and resolving artifacts.

pub mod apply;
#[cfg(feature = "sim")]
pub mod demo;
pub mod drift;
pub mod interrupt;
pub mod lock;
pub mod outdated;
pub mod plan;
#[cfg(feature = "sim")]
pub mod sim;
pub mod validate;

use std::collections::BTreeSet;
use std::io::Write;

use crate::execute::error_text;
use crate::http::HttpSettings;
use crate::lock::{self as lockfile, Lock, LockedInstance};
use crate::manifest::{self, LoadOptions};
use crate::marketplace::MarketplaceClient;
use crate::model::{AppKey, Desired, DesiredInstance, DesiredLicense, DesiredState, Live};
use crate::plan::{self as planner, ArtifactSlot, Drift, Plan, PlannedInstance, Resolution};
use crate::resolve::{self as resolver, Depth};
use crate::upm::UpmClient;

/// How a command ended; `main` turns it into the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done, valid, in sync, or no changes.
    Success,
    /// 1: an error, or a usage error.
    Failure,
    /// 2: changes (`plan --detailed-exitcode`) or drift (`drift`).
    Changes,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Changes => 2,
        }
    }
}

/// Writes data to stdout. A closed pipe (`upmsync plan | head`) is fine; any other failure (a full
/// disk, a closed stdout) is reported and returns `false`, so a CI job never reads an empty plan
/// as success.
#[expect(
    clippy::disallowed_methods,
    reason = "the printer: the one place that writes to stdout"
)]
pub fn data(text: &str) -> bool {
    // As in `status`: renderers escape each server value; this keeps any that slipped through from
    // acting on the terminal. Rendered JSON holds no such character (`printable::escape_json`).
    // No secret of this run reaches output, whatever a server echoed (`crate::scrub`).
    let text = crate::scrub::scrub(&crate::printable::escape_lines(text));
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => true,
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => true,
        Err(error) => {
            report_error_text(&format!("failed to write to stdout: {error}"));
            false
        }
    }
}

/// Writes a status line to stderr.
#[expect(
    clippy::disallowed_methods,
    reason = "the printer: the one place that writes to stderr"
)]
pub fn status(text: &str) {
    // The last guard for text from a server that reached a message unescaped: nothing printed can
    // move the cursor or clear the screen (line breaks stay; each value is escaped where it is put
    // into a line, so none can start a line of its own). No secret of this run is printed either.
    let text = crate::scrub::scrub(&crate::printable::escape_lines(text));
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Prints an error to stderr in the house format: `error: ...` then causes and hints.
pub fn report_error(error: &(dyn std::error::Error + 'static)) {
    status(&format!("error: {}", error_text(error)));
}

/// Prints an already formatted error message to stderr.
pub fn report_error_text(text: &str) {
    status(&format!("error: {text}"));
}

/// Loads the manifest from disk, reading secrets from the process environment: only the selected
/// instances (all when `instances` is empty) are kept, and only their secrets are required.
pub fn load(
    path: &std::path::Path,
    require_secrets: bool,
    instances: &[String],
) -> Option<Desired> {
    load_with(
        path,
        LoadOptions {
            require_secrets,
            instances: instances.to_vec(),
            ..LoadOptions::default()
        },
    )
}

/// Loads for a command that reads instances but never sends a license (`lock`, `outdated`).
pub fn load_without_licenses(path: &std::path::Path, instances: &[String]) -> Option<Desired> {
    load_with(
        path,
        LoadOptions {
            instances: instances.to_vec(),
            require_licenses: false,
            ..LoadOptions::default()
        },
    )
}

fn load_with(path: &std::path::Path, options: LoadOptions) -> Option<Desired> {
    match manifest::load(path, &options) {
        Ok(desired) => Some(desired),
        Err(error) => {
            report_error(&error);
            None
        }
    }
}

/// The download cache: `--cache-dir`, else the user's cache folder.
pub fn cache(
    dir: Option<&std::path::Path>,
    settings: &HttpSettings,
) -> Option<crate::marketplace::download::Cache> {
    // Never a shared folder such as /tmp: without a per-user one, `--cache-dir` is asked for.
    match crate::marketplace::download::Cache::open(dir, settings) {
        Ok(cache) => Some(cache),
        Err(error) => {
            report_error(&error);
            None
        }
    }
}

/// Prints the error of every instance that could not be read or planned to stderr (the data on
/// stdout only marks them), and says whether there was any.
pub fn report_instance_errors<A: ArtifactSlot>(plan: &Plan<A>) -> bool {
    let mut any = false;
    for instance in &plan.instances {
        if let Err(error) = &instance.result {
            report_error_text(&format!("instance `{}`: {error}", instance.name));
            any = true;
        }
    }
    any
}

/// Reads every instance of `desired` (the loader kept only the selected ones) and plans it, with
/// every artifact an install needs (`plan`, `apply`). Instances are read concurrently; so are the
/// license reads within one and the Marketplace lookups. With a lock file, the Marketplace is asked
/// only where a downgrade's installed version is (to restore it if the install fails); a lock that
/// does not cover the manifest stops the instances it falls short for.
pub async fn read_and_plan(desired: &Desired, settings: &HttpSettings) -> Plan {
    read_and_plan_to(desired, Depth::Artifacts, settings).await
}

/// Like [`read_and_plan`], but resolves only what versions mean (`latest`, constraints) and no
/// artifact (`drift`), so monitoring works where only the instances are reachable.
pub async fn read_drift(desired: &Desired, settings: &HttpSettings) -> Drift {
    read_and_plan_to(desired, Depth::Versions, settings).await
}

async fn read_and_plan_to<A: Resolution>(
    desired: &Desired,
    depth: Depth,
    settings: &HttpSettings,
) -> Plan<A> {
    let lock = Lock::load(&desired.manifest_path);
    let base = lockfile::base_of(&desired.manifest_path);
    let gaps = match &lock {
        Ok(Some(lock)) => lock.gaps(desired, &base),
        _ => Default::default(),
    };
    let marketplace = MarketplaceClient::new(&desired.marketplace_url, settings);
    let planned = futures::future::join_all(desired.instances.iter().map(|instance| {
        let marketplace = marketplace.as_ref();
        let lock = &lock;
        let gaps = &gaps;
        let base = &base;
        async move {
            let (live, result) = match (marketplace, lock) {
                (Err(error), _) => (
                    None,
                    Err(format!(
                        "failed to set up an HTTP client\nCaused by: {}",
                        error_text(error)
                    )),
                ),
                (_, Err(error)) => (None, Err(error_text(error))),
                (Ok(_), Ok(Some(_))) if gaps.contains_key(&instance.name) => {
                    (None, Err(stale_lock(desired, &gaps[&instance.name])))
                }
                (Ok(marketplace), Ok(lock)) => {
                    let locked = lock
                        .as_ref()
                        .and_then(|lock| lock.instances.get(&instance.name));
                    match read_live(instance, settings).await {
                        Ok(live) => {
                            let result =
                                plan_instance(instance, &live, marketplace, locked, base, depth)
                                    .await;
                            (Some(live), result)
                        }
                        Err(error) => (None, Err(error)),
                    }
                }
            };
            PlannedInstance {
                name: instance.name.clone(),
                url: instance.url.clone(),
                live,
                result,
            }
        }
    }))
    .await;
    Plan { instances: planned }
}

fn stale_lock(desired: &Desired, gaps: &[String]) -> String {
    let mut text = format!(
        "the lock file `{}` does not cover the manifest:",
        lockfile::path_for(&desired.manifest_path).display()
    );
    for gap in gaps {
        text.push_str(&format!("\n- {gap}"));
    }
    text.push_str("\nhint: run `upmsync lock` to lock what changed (or `upmsync lock --update` to re-resolve everything)");
    text
}

/// Reads one instance's live state: plugins, managed licenses, product version.
pub async fn read_live(
    instance: &DesiredInstance,
    settings: &HttpSettings,
) -> Result<Live, String> {
    let upm = UpmClient::new(instance, settings).map_err(|error| {
        format!(
            "failed to set up an HTTP client\nCaused by: {}",
            error_text(&error)
        )
    })?;
    warn_if_insecure(instance);
    upm.read_live(instance.product, &managed_license_keys(instance))
        .await
        .map_err(|error| {
            format!(
                "failed to read the installed apps of `{}`\nCaused by: {}",
                instance.name,
                error_text(&error)
            )
        })
}

/// Warns on stderr, once per process and instance, that the instance's certificate is not
/// checked (`insecure_skip_tls_verify: true`), so the risk is seen on every run, not only when
/// the manifest is written.
fn warn_if_insecure(instance: &DesiredInstance) {
    static WARNED: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
    if !instance.transport.insecure_skip_tls_verify {
        return;
    }
    let first = WARNED
        .lock()
        .map_or(true, |mut warned| warned.insert(instance.name.clone()));
    if first {
        status(&format!(
            "warning: TLS verification is off for instance `{}` (insecure_skip_tls_verify); anyone on the network path can read its credentials",
            instance.name
        ));
    }
}

async fn plan_instance<A: Resolution>(
    instance: &DesiredInstance,
    live: &Live,
    marketplace: &MarketplaceClient,
    lock: Option<&LockedInstance>,
    base: &std::path::Path,
    depth: Depth,
) -> Result<planner::InstancePlan<A>, String> {
    let facts = resolver::resolve(instance, live, marketplace, lock, base, depth)
        .await
        .map_err(|errors| {
            list_errors(
                &format!("cannot resolve the versions of `{}`:", instance.name),
                &errors,
            )
        })?;
    planner::plan(instance, live, &facts).map_err(|errors| {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        list_errors(&format!("cannot plan `{}`:", instance.name), &errors)
    })
}

fn list_errors(title: &str, errors: &[String]) -> String {
    let mut text = title.to_string();
    for error in errors {
        text.push_str(&format!("\n- {}", error.replace('\n', "\n  ")));
    }
    text
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
