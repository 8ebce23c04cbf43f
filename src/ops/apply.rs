//! `apply` as a value: takes the instance locks, reads and plans (or checks a saved plan), has the
//! plan shown and approved through the caller's [`Front`], then carries it out on every instance
//! that has changes, up to [`Request::parallelism`] instances at once and one change at a time on
//! each, and returns how it ended ([`ApplyRun`]). It never prints: the caller shows the plan,
//! asks, and is told what happens as [`Progress`] while it happens. Ctrl-C and SIGTERM ([`Interrupts`]) stop it where it waits
//! before the first change, and after the change under way once changes started.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use crate::execute::{self, ApplyReport, Mode, Outcome};
use crate::http::HttpSettings;
use crate::instance_lock::{InstanceLock, InstanceLockError};
use crate::interrupt::{Interrupts, Signal};
use crate::marketplace::download::Cache;
use crate::model::Desired;
use crate::plan::{Change, Plan};
use crate::saved::{self, SavedPlan};
use crate::upm::UpmClient;

/// What apply works with.
pub struct Request<'a> {
    /// The manifest, loaded with its secrets.
    pub desired: &'a Desired,
    /// The download cache (artifacts to upload); its folder also holds the instance locks.
    pub cache: &'a Cache,
    /// Apply, or only check (`--dry-run`: no lock is taken, nothing is asked).
    pub mode: Mode,
    /// A saved plan: nothing is changed unless the manifest, the lock, every instance's live state
    /// and the recomputed changes are exactly those it was saved with.
    pub expected: Option<&'a SavedPlan>,
    /// The HTTP settings (and where warnings go).
    pub settings: &'a HttpSettings,
    /// The signals that ask to stop.
    pub interrupts: &'a Interrupts,
    /// How many instances are applied at once (`--parallelism`; 0 counts as 1). Each holds a few
    /// connections and files open while it runs; changes on one instance are one at a time.
    pub parallelism: usize,
}

/// How many instances apply changes at once unless told otherwise: enough for a fleet to be
/// applied in about the time of its slowest instances, few enough that the connections and files
/// they hold open stay far below a process's usual limit of 1,024 file descriptors.
pub const DEFAULT_PARALLELISM: usize = 16;

/// The caller's side of an apply: how the plan is shown and approved, and what is told while
/// changes run.
pub trait Front {
    /// The plan is made (and, for a saved plan, still current): show it. `false` when it could not
    /// be shown; nothing is changed then.
    fn show(&mut self, plan: &Plan) -> bool;

    /// The go-ahead, asked only when there are changes to apply (not for `--dry-run`): `None` when
    /// it is given already (`--auto-approve`, a saved plan), else a question that blocks until it
    /// is answered (it runs on a thread of its own, so a signal still stops apply while it waits).
    fn approval(&mut self) -> Option<Box<dyn FnOnce() -> bool + Send>>;

    /// Something happened while applying.
    fn progress(&mut self, event: Progress<'_>);
}

/// How an apply run ended.
#[derive(Debug)]
pub enum ApplyRun {
    /// Stopped before the first change: nothing was changed.
    Stopped {
        /// Why.
        stop: Stop,
        /// The plan, when reading got that far.
        plan: Option<Plan>,
    },
    /// There was nothing to apply (or only changes waiting for a restart).
    NothingToApply {
        /// The plan shown.
        plan: Plan,
    },
    /// Changes were carried out (an instance that could not start says why in its report).
    Applied {
        /// The plan shown.
        plan: Plan,
        /// One report per instance with changes, in the plan's order.
        reports: Vec<ApplyReport>,
        /// The signal that asked to stop while changes ran, if one did.
        interrupted: Option<Signal>,
    },
}

/// Why apply stopped before the first change.
#[derive(Debug)]
pub enum Stop {
    /// A signal came while the instances were read.
    InterruptedReading(Signal),
    /// The saved plan no longer matches (each reason, for a list).
    Stale(Vec<String>),
    /// The plan could not be shown ([`Front::show`] said so).
    NotShown,
    /// The question was answered with anything but yes, or could not be asked.
    NotApproved,
    /// A signal came while the question waited.
    Cancelled(Signal),
}

/// Takes the instance locks (`Mode::Apply` only: two applies from this runner must not interleave
/// on one instance, and what is planned, and a saved plan's fingerprints, must hold while
/// applying), reads and plans, and goes as far as `front` and the signals let it. The locks are
/// released when it returns.
pub async fn apply(request: &Request<'_>, front: &mut (dyn Front + Send)) -> ApplyRun {
    let Request {
        desired,
        cache,
        mode,
        expected,
        settings,
        interrupts,
        parallelism,
    } = *request;
    let mut locks = Vec::new();
    let mut lock_errors = BTreeMap::new();
    if mode == Mode::Apply {
        for instance in &desired.instances {
            match InstanceLock::acquire(cache.dir(), &instance.name) {
                Ok(lock) => locks.push(lock),
                Err(error) => {
                    lock_errors.insert(instance.name.clone(), error);
                }
            }
        }
    }
    let plan = tokio::select! {
        plan = super::read_and_plan(desired, settings) => plan,
        signal = interrupts.wait() => {
            return ApplyRun::Stopped { stop: Stop::InterruptedReading(signal), plan: None };
        }
    };
    let stopped = |plan, stop| ApplyRun::Stopped {
        stop,
        plan: Some(plan),
    };
    if let Some(expected) = expected {
        let stale = saved::stale_reasons(desired, &plan, expected);
        if !stale.is_empty() {
            return stopped(plan, Stop::Stale(stale));
        }
    }
    if !front.show(&plan) {
        return stopped(plan, Stop::NotShown);
    }
    if !plan.has_changes() {
        return ApplyRun::NothingToApply { plan };
    }
    if mode == Mode::Apply {
        if let Some(ask) = front.approval() {
            let approved = tokio::select! {
                answer = tokio::task::spawn_blocking(ask) => answer.unwrap_or(false),
                signal = interrupts.wait() => return stopped(plan, Stop::Cancelled(signal)),
            };
            if !approved {
                return stopped(plan, Stop::NotApproved);
            }
        }
    }
    interrupts.acting();
    let received = || interrupts.received().map(Signal::name);
    let mut progress = |event: Progress<'_>| front.progress(event);
    let reports = apply_planned(
        desired,
        &plan,
        &Run {
            cache,
            mode,
            interrupted: interrupts.flag(),
            received: &received,
            lock_errors: &lock_errors,
            settings,
            parallelism,
        },
        &mut progress,
    )
    .await;
    drop(locks);
    ApplyRun::Applied {
        plan,
        reports,
        interrupted: interrupts.received(),
    }
}

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
    /// An instance's changes ended (its report is complete).
    Finished {
        /// The instance's name.
        instance: &'a str,
    },
}

/// What carrying out a plan works with besides the plan.
struct Run<'a> {
    /// The download cache (artifacts to upload).
    cache: &'a Cache,
    /// Apply, or only check.
    mode: Mode,
    /// Set when a signal asked to stop: the executor stops between changes.
    interrupted: &'a AtomicBool,
    /// The name of the signal that asked to stop, if one did (`Ctrl-C`, `SIGTERM`).
    received: &'a (dyn Fn() -> Option<&'static str> + Sync),
    /// The instances whose lock could not be taken: none of their changes start.
    lock_errors: &'a BTreeMap<String, InstanceLockError>,
    /// The HTTP settings (and where warnings go).
    settings: &'a HttpSettings,
    /// How many instances are applied at once.
    parallelism: usize,
}

/// Applies each instance's changes (instances that could not be planned, or have none, are left
/// out: the caller reports those), up to `run.parallelism` instances at once, each one change at a
/// time; the reports come back in the plan's order. An instance whose client cannot be built,
/// that a signal came before, or whose lock is held, gets a report of changes not started and why.
async fn apply_planned(
    desired: &Desired,
    plan: &Plan,
    run: &Run<'_>,
    progress: &mut (dyn FnMut(Progress<'_>) + Send),
) -> Vec<ApplyReport> {
    // The instances run side by side in this one task; each tells its progress in turn.
    let progress = std::sync::Mutex::new(progress);
    let tell = |event: Progress<'_>| {
        let mut progress = progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (*progress)(event);
    };
    let instances = plan.instances.iter().filter_map(|planned| {
        let instance_plan = planned.result.as_ref().ok()?;
        if instance_plan.changes.is_empty() {
            return None;
        }
        let instance = desired
            .instances
            .iter()
            .find(|instance| instance.name == planned.name)?;
        Some((instance, instance_plan))
    });
    // Manifest entries that name one UPM (one team's apps and another's, each leaving the rest
    // alone) take turns: UPM must never run their changes side by side (reference upm-rest-api.md
    // §6: serialize operations client-side). guess: entries reaching one cluster through different
    // URLs (a node's and the load balancer's) cannot be told apart here.
    let mut turns: std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>> =
        std::collections::HashMap::new();
    let instances: Vec<_> = instances
        .map(|(instance, instance_plan)| {
            let turn = turns.entry(same_upm(&instance.url)).or_default().clone();
            (instance, instance_plan, turn)
        })
        .collect();
    let mut reports: Vec<(usize, ApplyReport)> =
        futures::StreamExt::collect(futures::StreamExt::buffer_unordered(
            futures::stream::iter(instances.into_iter().enumerate().map(
                |(position, (instance, instance_plan, turn))| {
                    let tell = &tell;
                    async move {
                        let _turn = turn.lock().await;
                        let report = apply_instance(instance, instance_plan, run, tell).await;
                        (position, report)
                    }
                },
            )),
            run.parallelism.max(1),
        ))
        .await;
    reports.sort_by_key(|(position, _)| *position);
    reports.into_iter().map(|(_, report)| report).collect()
}

/// What makes two instance URLs one UPM: scheme, host, port and path (without a trailing `/`).
fn same_upm(url: &url::Url) -> String {
    format!(
        "{}://{}:{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default(),
        url.path().trim_end_matches('/')
    )
}

/// Applies one instance's changes, telling `tell` what happens.
async fn apply_instance(
    instance: &crate::model::DesiredInstance,
    instance_plan: &crate::plan::InstancePlan,
    run: &Run<'_>,
    tell: &(dyn Fn(Progress<'_>) + Sync),
) -> ApplyReport {
    // An instance still queued when a signal came is not started.
    if let Some(signal) = (run.received)() {
        return ApplyReport::not_started(
            instance_plan,
            format!("interrupted ({signal}) before this instance started"),
        );
    }
    let upm = match UpmClient::new(instance, run.settings) {
        Ok(upm) => upm,
        Err(error) => {
            let text = crate::error::error_text(&ClientError {
                instance: instance.name.clone(),
                source: error,
            });
            tell(Progress::SetUpFailed { text: &text });
            return ApplyReport::not_started(instance_plan, text);
        }
    };
    if let Some(error) = run.lock_errors.get(&instance.name) {
        return ApplyReport::not_started(instance_plan, crate::error::error_text(error));
    }
    tell(Progress::Starting {
        instance: &instance.name,
        changes: instance_plan.changes.len(),
    });
    let mut on_change = |change: &Change, outcome: &Outcome| {
        tell(Progress::Change {
            instance: &instance.name,
            change,
            outcome,
        });
    };
    let report = execute::execute(
        instance_plan,
        &upm,
        run.cache,
        run.mode,
        run.interrupted,
        &mut on_change,
    )
    .await;
    tell(Progress::Finished {
        instance: &instance.name,
    });
    report
}

/// An instance's UPM client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("failed to set up an HTTP client for `{instance}`")]
struct ClientError {
    instance: String,
    #[source]
    source: crate::upm::UpmError,
}
