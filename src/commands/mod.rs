//! One module per subcommand: load -> read -> plan -> render -> (apply). This file holds the steps
//! they share: loading the manifest, picking instances, reading live state and resolving artifacts.

pub mod apply;
pub mod demo;
pub mod drift;
pub mod plan;
pub mod sim;
pub mod validate;

use std::collections::BTreeSet;
use std::io::Write;

use futures::stream::{self, StreamExt};

use crate::execute::error_text;
use crate::manifest::{self, LoadOptions};
use crate::marketplace::{MarketplaceClient, HOSTING_DATA_CENTER};
use crate::model::{
    AppKey, Artifact, Artifacts, Desired, DesiredInstance, DesiredLicense, DesiredState, Source,
};
use crate::plan::{self as planner, Plan, PlannedInstance};
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
pub fn data(text: &str) -> bool {
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
pub fn status(text: &str) {
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
    let options = LoadOptions {
        require_secrets,
        instances: instances.to_vec(),
    };
    match manifest::load(path, &options) {
        Ok(desired) => Some(desired),
        Err(error) => {
            report_error(&error);
            None
        }
    }
}

/// Prints the error of every instance that could not be read or planned to stderr (the data on
/// stdout only marks them), and says whether there was any.
pub fn report_instance_errors(plan: &Plan) -> bool {
    let mut any = false;
    for instance in &plan.instances {
        if let Err(error) = &instance.result {
            report_error_text(&format!("instance `{}`: {error}", instance.name));
            any = true;
        }
    }
    any
}

/// Whether to ask the Marketplace for artifacts: `plan` and `apply` do; `drift` does not, so that
/// monitoring works where only the instances are reachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    Artifacts,
    Skip,
}

/// Reads every instance of `desired` (the loader kept only the selected ones) and plans it. Instances are read concurrently; so are the license
/// reads within one and the Marketplace lookups.
pub async fn read_and_plan(desired: &Desired, resolve: Resolve) -> Plan {
    let marketplace = MarketplaceClient::new(&desired.marketplace_url);
    let planned = futures::future::join_all(desired.instances.iter().map(|instance| {
        let marketplace = marketplace.as_ref();
        async move {
            let result = match marketplace {
                Ok(marketplace) => plan_instance(instance, marketplace, resolve).await,
                Err(error) => Err(format!("failed to set up an HTTP client: {error}")),
            };
            PlannedInstance {
                name: instance.name.clone(),
                url: instance.url.clone(),
                result,
            }
        }
    }))
    .await;
    Plan { instances: planned }
}

async fn plan_instance(
    instance: &DesiredInstance,
    marketplace: &MarketplaceClient,
    resolve: Resolve,
) -> Result<planner::InstancePlan, String> {
    let upm = UpmClient::new(instance)
        .map_err(|error| format!("failed to set up an HTTP client: {error}"))?;
    let license_keys = managed_license_keys(instance);
    let live = upm.read_live(&license_keys).await.map_err(|error| {
        format!(
            "failed to read the installed apps of `{}`\nCaused by: {}",
            instance.name,
            error_text(&error)
        )
    })?;
    let artifacts = match resolve {
        Resolve::Artifacts => resolve_artifacts(instance, &live, marketplace).await?,
        Resolve::Skip => Artifacts::new(),
    };
    planner::plan(instance, &live, &artifacts).map_err(|errors| {
        let mut text = format!("cannot plan `{}`:", instance.name);
        for error in errors {
            text.push_str(&format!("\n- {error}"));
        }
        text
    })
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

/// Finds how to install each app that needs installing. Every failure is reported, not just the first.
async fn resolve_artifacts(
    instance: &DesiredInstance,
    live: &crate::model::Live,
    marketplace: &MarketplaceClient,
) -> Result<Artifacts, String> {
    let wanted = planner::needs_artifact(instance, live);
    let results: Vec<Result<(AppKey, Artifact), String>> = stream::iter(wanted)
        .map(|(key, version, source)| async move {
            let artifact = match source {
                Source::Path(path) => Artifact::Upload { path: path.clone() },
                Source::Url(url) => Artifact::Uri { url: url.clone() },
                Source::Marketplace => {
                    let resolved = marketplace
                        .resolve(key, version, HOSTING_DATA_CENTER)
                        .await
                        .map_err(|error| error_text(&error))?;
                    Artifact::Uri {
                        url: resolved.binary,
                    }
                }
            };
            Ok((key.clone(), artifact))
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut artifacts = Artifacts::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok((key, artifact)) => {
                artifacts.insert(key, artifact);
            }
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        return Ok(artifacts);
    }
    errors.sort();
    let mut text = format!(
        "cannot plan `{}`: the Marketplace could not resolve every version",
        instance.name
    );
    for error in errors {
        text.push_str(&format!("\n- {}", error.replace('\n', "\n  ")));
    }
    Err(text)
}
