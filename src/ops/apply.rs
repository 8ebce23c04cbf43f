//! Carries out a plan on every instance that has changes, one instance after another, and returns
//! their reports. It never prints: what happens is told as [`Progress`] while it happens.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use crate::execute::{self, ApplyReport, Mode, Outcome};
use crate::http::HttpSettings;
use crate::instance_lock::InstanceLockError;
use crate::marketplace::download::Cache;
use crate::model::Desired;
use crate::plan::{Change, Plan};
use crate::upm::UpmClient;

/// What happens while applying, in order.
#[derive(Debug)]
pub enum Progress<'a> {
    /// An instance's HTTP client could not be built: its changes were not started (the text, with
    /// its causes, is also its report's error).
    SetUpFailed {
        /// The error as the user reads it.
        text: &'a str,
    },
    /// An instance's changes start.
    Starting {
        /// The instance's name.
        instance: &'a str,
        /// How many changes it has.
        changes: usize,
    },
    /// One change ended (or was not started).
    Change {
        /// The instance's name.
        instance: &'a str,
        /// The change.
        change: &'a Change,
        /// How it ended.
        outcome: &'a Outcome,
    },
}

/// What an apply run works with besides the plan.
pub struct Run<'a> {
    /// The download cache (artifacts to upload).
    pub cache: &'a Cache,
    /// Apply, or only check.
    pub mode: Mode,
    /// Set when a signal asked to stop: the executor stops between changes.
    pub interrupted: &'a AtomicBool,
    /// The name of the signal that asked to stop, if one did (`Ctrl-C`, `SIGTERM`).
    pub received: &'a (dyn Fn() -> Option<&'static str> + Sync),
    /// The instances whose lock could not be taken: none of their changes start.
    pub lock_errors: &'a BTreeMap<String, InstanceLockError>,
    /// The HTTP settings (and where warnings go).
    pub settings: &'a HttpSettings,
}

/// Applies each instance's changes (instances that could not be planned, or have none, are left
/// out: the caller reports those). An instance whose client cannot be built, that a signal came
/// before, or whose lock is held, gets a report of changes not started and why.
pub async fn apply_planned(
    desired: &Desired,
    plan: &Plan,
    run: &Run<'_>,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Vec<ApplyReport> {
    let mut reports: Vec<ApplyReport> = Vec::new();
    for planned in &plan.instances {
        let Ok(instance_plan) = &planned.result else {
            continue;
        };
        if instance_plan.changes.is_empty() {
            continue;
        }
        let Some(instance) = desired
            .instances
            .iter()
            .find(|instance| instance.name == planned.name)
        else {
            continue;
        };
        let upm = match UpmClient::new(instance, run.settings) {
            Ok(upm) => upm,
            Err(error) => {
                let text = crate::error::error_text(&ClientError {
                    instance: instance.name.clone(),
                    source: error,
                });
                progress(Progress::SetUpFailed { text: &text });
                reports.push(ApplyReport::not_started(instance_plan, text));
                continue;
            }
        };
        if let Some(signal) = (run.received)() {
            reports.push(ApplyReport::not_started(
                instance_plan,
                format!("interrupted ({signal}) before this instance started"),
            ));
            continue;
        }
        if let Some(error) = run.lock_errors.get(&instance.name) {
            reports.push(ApplyReport::not_started(
                instance_plan,
                crate::error::error_text(error),
            ));
            continue;
        }
        progress(Progress::Starting {
            instance: &instance.name,
            changes: instance_plan.changes.len(),
        });
        let mut on_change = |change: &Change, outcome: &Outcome| {
            progress(Progress::Change {
                instance: &instance.name,
                change,
                outcome,
            });
        };
        reports.push(
            execute::execute(
                instance_plan,
                &upm,
                run.cache,
                run.mode,
                run.interrupted,
                &mut on_change,
            )
            .await,
        );
    }
    reports
}

/// An instance's UPM client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("failed to set up an HTTP client for `{instance}`")]
struct ClientError {
    instance: String,
    #[source]
    source: crate::upm::UpmError,
}
