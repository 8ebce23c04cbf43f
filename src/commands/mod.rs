//! One module per subcommand: load -> ops -> render -> print. This file holds the steps they share
//! at the edge: loading the manifest, opening the cache, printing the instances' errors. The work
//! itself is in [`crate::ops`]; every line a user reads goes through a [`Printer`].

pub mod apply;
pub mod completions;
#[cfg(feature = "sim")]
pub mod demo;
pub mod drift;
pub mod import;
pub mod lock;
pub mod man;
pub mod outdated;
pub mod plan;
pub mod publish;
pub mod serve;
pub mod show;
#[cfg(feature = "sim")]
pub mod sim;
pub mod validate;

use crate::http::HttpSettings;
use crate::manifest::{self, LoadOptions, ManifestError};
use crate::model::Desired;
use crate::plan::{ArtifactSlot, Plan};
use crate::printer::Printer;

pub use crate::ops::{read_and_plan, read_drift, read_drift_timed, read_live};

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
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Changes => 2,
        }
    }
}

/// Loads the manifest from disk, reading secrets from the process environment: only the selected
/// instances (all when `instances` is empty) are kept, and only their secrets are required.
pub fn load(
    path: &std::path::Path,
    require_secrets: bool,
    instances: &[String],
) -> Result<Desired, ManifestError> {
    manifest::load(
        path,
        &LoadOptions {
            require_secrets,
            instances: instances.to_vec(),
            ..LoadOptions::default()
        },
    )
}

/// Loads for a command that reads instances but never sends a license (`lock`, `outdated`).
pub fn load_without_licenses(
    path: &std::path::Path,
    instances: &[String],
) -> Result<Desired, ManifestError> {
    manifest::load(
        path,
        &LoadOptions {
            instances: instances.to_vec(),
            require_licenses: false,
            ..LoadOptions::default()
        },
    )
}

/// The download cache: `--cache-dir`, else the user's cache folder.
pub fn cache(
    dir: Option<&std::path::Path>,
    settings: &HttpSettings,
) -> Result<crate::marketplace::download::Cache, crate::marketplace::download::DownloadError> {
    // Never a shared folder such as /tmp: without a per-user one, `--cache-dir` is asked for.
    crate::marketplace::download::Cache::open(dir, settings)
}

/// Prints the error of every instance that could not be read or planned to stderr (the data on
/// stdout only marks them), and says whether there was any.
pub fn report_instance_errors<A: ArtifactSlot>(printer: &Printer, plan: &Plan<A>) -> bool {
    let mut any = false;
    for instance in &plan.instances {
        if let Err(error) = &instance.result {
            let text = crate::error::error_text(&**error);
            // Each layer names what it knows once: an error about the instance names it itself.
            printer.error_text(&if error.names_instance() {
                text
            } else {
                format!("instance `{}`: {text}", instance.name)
            });
            any = true;
        }
    }
    any
}

/// Runs a command that only reads (and writes its output at the end, without waiting), or stops
/// it at the first signal: dropping it removes its temporary files, and it exits 1.
pub async fn unless_interrupted(
    printer: &Printer,
    work: impl std::future::Future<Output = anyhow::Result<Exit>>,
) -> anyhow::Result<Exit> {
    let interrupts = crate::interrupt::watch(printer);
    tokio::select! {
        exit = work => exit,
        signal = interrupts.wait() => Err(Interrupted(signal).into()),
    }
}

/// A reading command stopped by a signal before it finished.
#[derive(Debug, thiserror::Error)]
#[error("interrupted ({}): stopped before finishing; nothing was written", .0.name())]
pub struct Interrupted(pub crate::interrupt::Signal);
