//! Carries out one instance's plan: one change at a time, in plan order, each checked against the
//! state the plan assumed right before it runs and verified by reading UPM back afterwards, while
//! the artifacts of the changes to come are fetched and verified beside it. The first failure (an
//! artifact that failed included, or a stale precondition) stops the instance; an install that
//! leaves its app disabled waits for the later installs of the run (its dependencies) before it
//! counts as failed. The report says what was done, what waits for a restart, what failed and
//! what was not started.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use tracing::Instrument;

use crate::artifact;
use crate::error::error_text;
use crate::marketplace::download::Cache;
use crate::model::{AppKey, Artifact, LiveLicense, Location, Version};
use crate::notice::{Activity, Notice, Notices};
use crate::plan::{Action, Assumed, Change, InstancePlan, Op, PlannedArtifact, Restore};
use crate::upm::{InstallFrom, Removal, UpmClient, UpmError};

/// How long apply waits for install tasks someone else started before it refuses.
pub const PENDING_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

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
    /// UPM accepted the change, but it takes effect only after the product restarts (UPM keeps
    /// the old state until then, `restartState`, upm-rest-api.md §5.1). Not a failure: the plan
    /// and `drift` show it as pending until the restart.
    PendingRestart {
        note: String,
    },
    /// Dry run: checked, and would be done.
    WouldDo,
    Failed {
        error: String,
    },
    /// Not done: the app is no longer as the plan assumed (another runner or an admin changed
    /// it), so the instance stopped here without touching it.
    Stale {
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
    /// An instance none of whose changes started, and why.
    pub fn not_started(plan: &InstancePlan, error: String) -> Self {
        Self {
            name: plan.name.clone(),
            changes: plan
                .changes
                .iter()
                .map(|change| ChangeReport {
                    change: change.clone(),
                    outcome: Outcome::NotStarted,
                })
                .collect(),
            error: Some(error),
        }
    }

    pub fn succeeded(&self) -> bool {
        self.error.is_none()
            && self.changes.iter().all(|report| {
                matches!(
                    report.outcome,
                    Outcome::Done | Outcome::WouldDo | Outcome::PendingRestart { .. }
                )
            })
    }

    /// Whether some change waits for a restart of the product.
    pub fn restart_required(&self) -> bool {
        self.changes
            .iter()
            .any(|report| matches!(report.outcome, Outcome::PendingRestart { .. }))
    }
}

/// Why an artifact could not be had in hand and checked.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The download into the cache failed.
    #[error(transparent)]
    Download(#[from] crate::marketplace::download::DownloadError),
    /// The file is not the wanted artifact (hash, key, version), or cannot be read.
    #[error(transparent)]
    Verify(#[from] artifact::ArtifactError),
}

impl FetchError {
    /// The hint of the error it holds (a transparent layer, which the chain walk skips).
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Download(error) => error.hint(),
            Self::Verify(error) => error.hint(),
        }
    }
}

/// One artifact that failed [`fetch_and_verify`] while preparing an instance.
#[derive(Debug, thiserror::Error)]
#[error("`{key}` {version}")]
pub struct VerifyFailure {
    /// The app.
    pub key: AppKey,
    /// The version whose artifact failed.
    pub version: Version,
    /// Why.
    #[source]
    pub cause: FetchError,
}

impl VerifyFailure {
    /// `` `key` version: why `` with the cause's causes, for a list (the hints are the list's).
    pub fn line(&self) -> String {
        format!("{self}: {}", crate::error::causes_text(&self.cause))
    }
}

/// Why an instance was not started: a check of the whole instance made before any change failed
/// (a change's artifacts are checked as the change comes: [`ChangeError::Artifact`]).
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// UPM could not be asked (a token, the safe-mode flag, the running tasks), or is in safe
    /// mode.
    #[error(transparent)]
    Upm(#[from] UpmError),
    /// Install tasks someone else started were still running when the wait ran out.
    #[error("UPM is still running {running} install task(s) after {seconds} seconds: nothing was changed")]
    TasksRunning {
        /// How many tasks.
        running: usize,
        /// How long it waited, in seconds.
        seconds: u64,
    },
}

impl PrepareError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Upm(error) => error.hint(),
            Self::TasksRunning { .. } => Some("wait for them to finish (see the Manage apps page), then run apply again; a task that never finishes clears only when the product restarts".into()),
        }
    }
}

/// Gets an artifact in hand and checks it: a local file is read in place, a URL downloaded once
/// into the cache (streamed, hashed); then its sha256 (when pinned), key and version must match.
/// Downloads and verifications take turns through the cache ([`Cache::verification_turn`]), so
/// instances applied in parallel share the machine's CPU, disk and memory.
pub async fn fetch_and_verify(
    cache: &Cache,
    key: &AppKey,
    version: &crate::model::Version,
    artifact: &Artifact,
) -> Result<artifact::Verified, FetchError> {
    match &artifact.location {
        Location::File(path) => {
            let _turn = cache.verification_turn().await;
            Ok(artifact::verify_file_async(path, key, version, artifact.sha256.as_ref()).await?)
        }
        Location::Url(url) => {
            let file = cache.fetch(url, artifact.sha256.as_ref()).await?;
            let _turn = cache.verification_turn().await;
            Ok(artifact::verify_file_async(&file.path, key, version, None).await?)
        }
    }
}

/// An artifact as [`prepare_op`] left it before its change: what UPM downloads, or the local
/// file upmsync verified and uploads. An upload without its verified file cannot be written.
#[derive(Debug)]
enum Ready {
    /// UPM downloads it by URI. `copy`: the file fetched and verified before its change, when
    /// the plan fetched it first; uploaded only by a restore that falls back to it.
    Uri { url: url::Url, copy: Option<Kept> },
    /// The verified file is uploaded.
    Upload(Kept),
}

/// A file verified before its change, and the sha256 it must still have when it is sent
/// (when pinned).
#[derive(Clone, Debug)]
struct Kept {
    path: PathBuf,
    sha256: Option<crate::model::Sha256>,
}

/// A change's operation with its artifacts in hand, as [`prepare_op`] made it.
type ReadyOp = Op<Ready, crate::model::License>;

/// Why a change failed, said so that an admin knows the state it left behind.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Upm(#[from] UpmError),
    #[error("UPM reports `{key}` at version {found} after installing {wanted}")]
    VersionMismatch {
        key: AppKey,
        wanted: String,
        found: String,
    },
    #[error("`{key}` was uninstalled (it was at {from}) but installing {to} failed, and restoring {from} failed too ({}), so the app is now missing", crate::error::causes_text(&**restore))]
    DowngradeInstallFailed {
        key: AppKey,
        from: String,
        to: String,
        #[source]
        source: Box<ChangeError>,
        /// Why the restore failed (its hints are this error's).
        restore: Box<ChangeError>,
    },
    #[error("installing {to} of `{key}` failed after it was uninstalled, so {from} was installed again (restored)")]
    DowngradeRestored {
        key: AppKey,
        from: String,
        to: String,
        #[source]
        source: Box<ChangeError>,
    },
    #[error("the artifact of `{key}` at `{}` no longer has the pinned sha256 `{expected}` (it has `{found}`): it changed after it was verified, so it was not installed", path.display())]
    ChangedSinceVerified {
        key: AppKey,
        path: PathBuf,
        expected: crate::model::Sha256,
        found: String,
    },
    #[error("UPM reports `{key}` as {} after the change", if *enabled { "enabled" } else { "disabled" })]
    EnablementMismatch { key: AppKey, enabled: bool },
    #[error("installed `{key}` {version}, but UPM could not enable it, so the app is DOWN (installed and disabled): {}", crate::error::causes_text(&**reason))]
    InstalledDisabled {
        key: AppKey,
        version: String,
        /// Why enabling failed (its hints are this error's).
        reason: Box<ChangeError>,
    },
    #[error("`{key}` changed since the plan was made: {differences}; another runner or an admin changed it, so nothing more was changed on this instance")]
    Stale { key: AppKey, differences: String },
    #[error("`{key}` was uninstalled (it was at {from}) but installing {to} failed; `{key}` is installed now, at {found} (from that install, or another runner's), so {from} was not restored over it")]
    DowngradeOvertaken {
        key: AppKey,
        from: String,
        to: String,
        found: String,
        #[source]
        source: Box<ChangeError>,
    },
    #[error("no artifact of the installed version was found (it is not on the Marketplace), so it could not be installed again")]
    NoRestore,
    /// The change's artifacts (for a downgrade: the version to install and the one to restore)
    /// could not be fetched or did not verify, so the change was not started: nothing was
    /// changed for it. One line per artifact; their hints are this error's.
    #[error("the change was not started (nothing was changed for it): its artifact could not be fetched or verified:\n- {}", failures.iter().map(VerifyFailure::line).collect::<Vec<_>>().join("\n- ").replace('\n', "\n  "))]
    Artifact {
        /// Every failing artifact of the change.
        failures: Vec<VerifyFailure>,
    },
}

impl ChangeError {
    /// What the user can do about this error, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            // Transparent: the UPM error is this error, not its cause.
            ChangeError::Upm(error) => return error.hint(),
            ChangeError::VersionMismatch { .. } => "UPM keeps an installed version that is newer and silently ignores the older artifact; check the artifact's version".into(),
            ChangeError::DowngradeInstallFailed { from, .. } => format!("fix the cause and run apply again, or reinstall {from} by hand"),
            ChangeError::ChangedSinceVerified { .. } => "something else writes to the download cache or the source file; check it, then run apply again".into(),
            ChangeError::InstalledDisabled { .. } => "the product's log (atlassian-jira.log, atlassian-confluence.log) says why the plugin system refused it. An app that imports another app's packages is enabled only while that app is installed and enabled: upmsync installs in manifest order and after the apps named in `requires:`, and tries again after the run's later changes; fix the cause, then run apply again".into(),
            ChangeError::Stale { .. } => "run `upmsync plan` again to see the instance as it is now".into(),
            ChangeError::DowngradeOvertaken { .. } => "run `upmsync plan` to see the instance as it is now".into(),
            _ => return None,
        })
    }

    /// The other failures it holds besides its source (a restore's, a list of artifacts), whose
    /// hints are this error's ([`crate::error::hints`]).
    pub fn held(&self) -> Vec<&(dyn std::error::Error + 'static)> {
        match self {
            Self::DowngradeInstallFailed { restore, .. } => vec![&**restore as _],
            Self::InstalledDisabled { reason, .. } => vec![&**reason as _],
            Self::Artifact { failures } => failures.iter().map(|error| error as _).collect(),
            _ => Vec::new(),
        }
    }
}

/// How many of one instance's changes have their artifacts fetched and verified at once, ahead of
/// the change under way (downloads across instances are bounded by the cache as well:
/// [`Cache::fetch`]).
pub const FETCHES_PER_INSTANCE: usize = 4;

/// Applies (or dry-runs) a plan, exactly as it says: each change is one attempt (a lost answer is
/// verified by reading back), a failed downgrade is restored the way the plan says, and license
/// texts come from the plan (the manifest is never read here). `progress` is told of each change
/// as it finishes.
///
/// The artifacts the plan marks `fetch_first` (uploads, pinned sha256s, both versions of a
/// downgrade) are fetched and verified while the changes before them run, in plan order and at
/// most [`FETCHES_PER_INSTANCE`] at once, starting when the instance starts: each change waits only
/// for its own artifacts. A change whose artifact cannot be had or does not verify fails
/// ([`ChangeError::Artifact`]) without touching the instance, and, like any failed change, stops
/// the instance (a dry run checks and reports every change instead). A downgrade starts only with
/// both its artifacts in hand, so it never uninstalls an app whose replacement or restore is
/// missing.
///
/// Once `interrupted` is set (Ctrl-C), the change under way finishes (both halves of a downgrade)
/// and the rest are not started; a change still waiting for its artifact is not started.
pub async fn execute(
    plan: &InstancePlan,
    upm: &UpmClient,
    cache: &Cache,
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
        // One slot per change, filled in plan order by the fetches running beside the changes.
        let (senders, receivers): (Vec<_>, Vec<_>) = plan
            .changes
            .iter()
            .map(|_| tokio::sync::oneshot::channel())
            .unzip();
        let fetching = async {
            futures::StreamExt::for_each_concurrent(
                futures::stream::iter(plan.changes.iter().zip(senders)),
                FETCHES_PER_INSTANCE,
                |(change, sender)| async move {
                    // The receiver is gone only when the instance stopped: nothing waits for it.
                    let _ = sender.send(prepare_op(cache, &change.key, &change.op).await);
                },
            )
            .await;
            // Done fetching: the changes decide when the instance ends.
            std::future::pending::<()>().await;
        };
        let running = run_changes(
            plan,
            upm,
            mode,
            interrupted,
            progress,
            receivers,
            &mut report,
        );
        // The changes end the instance; the fetches still under way then are dropped (a
        // download's partial file goes with it).
        tokio::select! {
            () = running => {}
            () = fetching => {}
        }
        report
    }
    .instrument(span)
    .await
}

/// An operation with its artifacts in hand, or why they could not be had.
type Prepared = Result<ReadyOp, Vec<VerifyFailure>>;

/// The changes of one instance, in plan order, each taking its artifacts from its slot in
/// `slots` when it starts.
async fn run_changes(
    plan: &InstancePlan,
    upm: &UpmClient,
    mode: Mode,
    interrupted: &AtomicBool,
    progress: &mut dyn FnMut(&Change, &Outcome),
    slots: Vec<tokio::sync::oneshot::Receiver<Prepared>>,
    report: &mut ApplyReport,
) {
    // What can fail without changing anything and concerns the whole instance fails here, before
    // the first change. Nothing is changed yet, so a signal stops it at once.
    tokio::select! {
        checked = check_instance(plan, upm, mode) => if let Err(error) = checked {
            report.error = Some(error_text(&error));
        },
        () = raised(interrupted) => {
            report.error = Some(INTERRUPTED_BEFORE_FIRST.into());
        }
    }
    let mut stopped = report.error.is_some();
    // Whether a change has been started: until then, nothing was changed on the instance.
    let mut started = false;
    let mut run = Run::default();
    let mut slots = slots.into_iter();
    for (index, change) in plan.changes.iter().enumerate() {
        let slot = slots.next();
        if !stopped && interrupted.load(Ordering::SeqCst) {
            stopped = true;
            report.error = Some(interrupted_text(started));
        }
        let later_helps = plan.changes[index + 1..]
            .iter()
            .any(|later| later.key != change.key && may_enable_others(later.action()));
        // An app left disabled by its install gets another try before its own next change.
        // Still disabled: an enable of it waits with the install; anything else runs on the
        // disabled app while later changes may still help, and otherwise the app has failed
        // (it is down) and the instance stops.
        let mut waits = false;
        if !stopped && mode == Mode::Apply && run.deferred(&change.key).is_some() {
            for (deferred, outcome) in run.retry_deferred(upm).await {
                settle_late(plan, report, progress, deferred, outcome);
            }
            if change.action() == Action::Enable && later_helps {
                if let Some(deferred) = run.deferred(&change.key) {
                    deferred.changes.push(index);
                    waits = true;
                }
            } else if !later_helps {
                if let Some(deferred) = run.take_deferred(&change.key) {
                    for (index, outcome) in failed_deferred(deferred) {
                        settle_late(plan, report, progress, index, outcome);
                    }
                    stopped = true;
                }
            }
        }
        let outcome = if waits {
            None
        } else if stopped {
            Some(Outcome::NotStarted)
        } else {
            // Its artifacts: in hand already when the fetches ran ahead, else waited for. Nothing
            // is changed while waiting, so a signal stops the wait.
            let ready = match slot {
                Some(mut slot) => match slot.try_recv() {
                    Ok(ready) => Some(Ok(ready)),
                    Err(_) => {
                        // What was looked at beside the last install is old by the time it
                        // comes: looked at again.
                        run.looked = None;
                        tokio::select! {
                            ready = slot => Some(ready),
                            () = raised(interrupted) => None,
                        }
                    }
                },
                None => None,
            };
            match (mode, ready) {
                (_, None) => {
                    stopped = true;
                    report.error = Some(interrupted_text(started));
                    Some(Outcome::NotStarted)
                }
                (_, Some(Err(_))) => {
                    // The fetches are dropped only after the changes: a slot is always filled.
                    stopped = true;
                    Some(Outcome::NotStarted)
                }
                (_, Some(Ok(Err(failures)))) => {
                    // Nothing was done for it: in a dry run the next changes are checked too.
                    let error = ChangeError::Artifact { failures };
                    Some(Outcome::Failed {
                        error: error_text(&error),
                    })
                }
                (Mode::Apply, Some(Ok(Ok(ready)))) => {
                    started = true;
                    // Live progress only (docs/terminal.md): the outcome is told through
                    // `progress` once the change ends.
                    upm.notices().activity(Activity::ChangeStarted {
                        change: crate::render::change_line(change),
                        position: index + 1,
                        total: plan.changes.len(),
                    });
                    let next = plan.changes.get(index + 1);
                    run.apply(change, &ready, index, later_helps, &plan.name, upm, next)
                        .instrument(tracing::info_span!("change", key = %change.key, action = %change.action()))
                        .await
                }
                // Everything a change needs is in the plan, and its artifacts were checked:
                // nothing is left to check.
                (Mode::DryRun, Some(Ok(Ok(_)))) => Some(Outcome::WouldDo),
            }
        };
        if mode == Mode::Apply
            && matches!(
                outcome,
                Some(Outcome::Failed { .. } | Outcome::Stale { .. })
            )
        {
            stopped = true;
        }
        if let Some(outcome) = &outcome {
            progress(change, outcome);
        }
        let helped = outcome == Some(Outcome::Done) && may_enable_others(change.action());
        report.changes.push(ChangeReport {
            change: change.clone(),
            outcome: outcome.unwrap_or(Outcome::NotStarted),
        });
        // An app left disabled by its install is enabled as soon as a later install or enable
        // (its dependency) makes that possible; never after the instance stopped.
        if helped && !stopped && !run.deferred.is_empty() {
            for (deferred, outcome) in run.retry_deferred(upm).await {
                settle_late(plan, report, progress, deferred, outcome);
            }
        }
    }
    // What is still disabled at the end has failed: the app is down.
    for deferred in std::mem::take(&mut run.deferred) {
        for (index, outcome) in failed_deferred(deferred) {
            settle_late(plan, report, progress, index, outcome);
        }
    }
}

/// The report's error when a signal came before the first change.
const INTERRUPTED_BEFORE_FIRST: &str =
    "interrupted (Ctrl-C or SIGTERM) before the first change: nothing was changed";

/// The report's error when a signal stopped the instance, before its first change or later.
fn interrupted_text(started: bool) -> String {
    if started {
        "interrupted (Ctrl-C or SIGTERM): the changes not started were left alone".into()
    } else {
        INTERRUPTED_BEFORE_FIRST.into()
    }
}

/// Resolves once `flag` is set; looked at often enough for a person waiting after Ctrl-C.
async fn raised(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Gives a change whose outcome was left open (an install that left its app disabled) its
/// outcome, in the report and to `progress`.
fn settle_late(
    plan: &InstancePlan,
    report: &mut ApplyReport,
    progress: &mut dyn FnMut(&Change, &Outcome),
    index: usize,
    outcome: Outcome,
) {
    progress(&plan.changes[index], &outcome);
    report.changes[index].outcome = outcome;
}

/// What the executor knows while it runs one instance's plan.
#[derive(Default)]
struct Run {
    /// The state each app must be in before its next change: the plan's assumption at first,
    /// then what this run's own changes left. `None`: not checked (a change waits for a restart).
    expected: BTreeMap<AppKey, Option<Assumed>>,
    /// Apps whose install left them disabled while later changes may still let them be enabled.
    deferred: Vec<Deferred>,
    /// The next change's look ([`look`]), taken beside the read-back of the install before it:
    /// the change's index and what was found. Used only by that change, right after.
    looked: Option<(usize, Looked)>,
}

/// A change's precondition as read right before it, and a upm-token for an install or upgrade
/// (`None` for the others, or when none could be had: the install asks again and reports it).
type Looked = (
    Result<Precondition, ChangeError>,
    Option<crate::model::Secret>,
);

/// Reads the app a change is about and checks the state it must be in ([`check_precondition`];
/// `expected` `None`: not checked), fetching a upm-token beside it for an install or upgrade, so
/// the install starts one round trip sooner.
async fn look(change: &Change, expected: Option<Assumed>, upm: &UpmClient) -> Looked {
    let wants_token = matches!(change.op, Op::Install { .. } | Op::Upgrade { .. });
    let check = async {
        match &expected {
            Some(expected) => check_precondition(change, expected, upm).await,
            None => Ok(Precondition::Holds),
        }
    };
    let fetch_token = async {
        match wants_token {
            true => upm.token().await.ok(),
            false => None,
        }
    };
    tokio::join!(check, fetch_token)
}

/// An app left disabled by its install, waiting for the run's later changes (its dependencies).
struct Deferred {
    key: AppKey,
    /// The changes whose outcome waits on it: its install, and an enable of it met meanwhile.
    changes: Vec<usize>,
    /// What they report if the app is still disabled when nothing more can help.
    error: ChangeError,
}

/// What a change achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Applied {
    Done,
    /// UPM accepted it, but it takes effect after a product restart.
    AfterRestart,
}

/// Whether a change may let another app be enabled: its dependency installed or enabled.
fn may_enable_others(action: Action) -> bool {
    action.installs() || action == Action::Enable
}

impl Run {
    /// Checks the change's precondition and applies it. Returns `None` when the outcome is
    /// decided later (an install that left its app disabled while later changes may fix it).
    #[allow(clippy::too_many_arguments)]
    async fn apply(
        &mut self,
        change: &Change,
        ready: &ReadyOp,
        index: usize,
        later_helps: bool,
        instance: &str,
        upm: &UpmClient,
        next: Option<&Change>,
    ) -> Option<Outcome> {
        let expected = self.expected_of(change);
        // Looked at beside the previous change's read-back, or now.
        let (checked, token) = match self.looked.take() {
            Some((at, looked)) if at == index => looked,
            _ => look(change, expected.clone(), upm).await,
        };
        // The next change is looked at while this install's app is read back, when it concerns
        // another app (which this change leaves as it is).
        let next = next
            .filter(|next| next.key != change.key)
            .map(|next| look(next, self.expected_of(next), upm));
        let mut looked_next = None;
        let result = match checked {
            Ok(Precondition::Holds) => {
                let (result, looked) = apply_change(&change.key, ready, upm, token, next).await;
                looked_next = looked;
                result
            }
            Ok(Precondition::AlreadyDone) => {
                tracing::info!(
                    "`{}` is already as this change would leave it (changed since the plan was made): nothing to do",
                    change.key
                );
                Ok(Applied::Done)
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(Applied::Done) => {
                self.expected
                    .insert(change.key.clone(), Some(after(change, expected)));
                self.looked = looked_next.map(|looked| (index + 1, looked));
                Some(Outcome::Done)
            }
            Ok(Applied::AfterRestart) => {
                self.expected.insert(change.key.clone(), None);
                Some(Outcome::PendingRestart {
                    note: format!("done, takes effect after a restart of {instance}"),
                })
            }
            Err(error @ ChangeError::InstalledDisabled { .. }) if later_helps => {
                upm.notices().emit(Notice::EnableDeferred {
                    key: change.key.to_string(),
                });
                let mut left = after(change, expected);
                left.enabled = Some(false);
                self.expected.insert(change.key.clone(), Some(left));
                self.deferred.push(Deferred {
                    key: change.key.clone(),
                    changes: vec![index],
                    error,
                });
                None
            }
            Err(error @ ChangeError::Stale { .. }) => Some(Outcome::Stale {
                error: error_text(&error),
            }),
            Err(error) => {
                // What this run did to the app is no longer known for sure: later changes to it
                // are not started anyway (the instance stops).
                self.expected.insert(change.key.clone(), None);
                Some(Outcome::Failed {
                    error: error_text(&error),
                })
            }
        }
    }

    /// The state `change`'s app must be in before it: what this run's changes left, else what
    /// the plan assumed (`None`: not checked).
    fn expected_of(&self, change: &Change) -> Option<Assumed> {
        self.expected
            .get(&change.key)
            .cloned()
            .unwrap_or_else(|| Some(change.assumed.clone()))
    }

    fn deferred(&mut self, key: &AppKey) -> Option<&mut Deferred> {
        self.deferred
            .iter_mut()
            .find(|deferred| &deferred.key == key)
    }

    /// Removes and returns the deferred app `key`, if it is still waiting.
    fn take_deferred(&mut self, key: &AppKey) -> Option<Deferred> {
        let position = self
            .deferred
            .iter()
            .position(|deferred| &deferred.key == key)?;
        Some(self.deferred.remove(position))
    }

    /// Tries again to enable the apps whose install left them disabled, again and again while
    /// one more got enabled (a chain: `a` needs `b` needs `c`); returns the change outcomes of
    /// those that are now enabled.
    async fn retry_deferred(&mut self, upm: &UpmClient) -> Vec<(usize, Outcome)> {
        // Enabling an app may change the one the next change was looked at for.
        self.looked = None;
        let mut resolved = Vec::new();
        loop {
            let mut progressed = false;
            let mut still = Vec::new();
            for deferred in std::mem::take(&mut self.deferred) {
                if set_enabled(upm, &deferred.key, true).await.is_err() {
                    still.push(deferred);
                    continue;
                }
                tracing::info!(
                    "enabled `{}` now that the apps it needs are there",
                    deferred.key
                );
                if let Some(Some(expected)) = self.expected.get_mut(&deferred.key) {
                    expected.enabled = Some(true);
                }
                resolved.extend(
                    deferred
                        .changes
                        .into_iter()
                        .map(|index| (index, Outcome::Done)),
                );
                progressed = true;
            }
            self.deferred = still;
            if !progressed || self.deferred.is_empty() {
                return resolved;
            }
        }
    }
}

/// The outcomes of a deferred app that is still disabled when nothing more can help: its changes
/// have failed, the app is down.
fn failed_deferred(deferred: Deferred) -> Vec<(usize, Outcome)> {
    let error = error_text(&deferred.error);
    deferred
        .changes
        .into_iter()
        .map(|index| {
            (
                index,
                Outcome::Failed {
                    error: error.clone(),
                },
            )
        })
        .collect()
}

/// Whether a change may run, from the app as it is right before it.
#[derive(Debug, PartialEq, Eq)]
enum Precondition {
    /// The app is as the plan (or this run) left it: the change runs.
    Holds,
    /// The app is already as the change would leave it (another runner applying the same
    /// manifest got there first): nothing to do, and nothing stale.
    AlreadyDone,
}

/// The state an app is in after `change` succeeded, from the state before it.
fn after(change: &Change, before: Option<Assumed>) -> Assumed {
    let before = before.unwrap_or_default();
    match &change.op {
        Op::Install { to, enabled, .. }
        | Op::Upgrade { to, enabled, .. }
        | Op::Downgrade { to, enabled, .. } => Assumed {
            version: Some(to.clone()),
            enabled: Some(*enabled),
            // guess: UPM keeps a license in its storage across an uninstall, so what a new
            // install shows is not known in advance: not checked.
            license: if matches!(change.op, Op::Upgrade { .. }) {
                before.license
            } else {
                LiveLicense::NotRead
            },
        },
        Op::Uninstall { .. } => Assumed::default(),
        Op::Enable { .. } | Op::Disable { .. } => Assumed {
            enabled: Some(matches!(change.op, Op::Enable { .. })),
            ..before
        },
        Op::SetLicense { to, .. } => Assumed {
            license: LiveLicense::Present(to.hash.clone()),
            ..before
        },
        Op::RemoveLicense { .. } => Assumed {
            license: LiveLicense::None,
            ..before
        },
    }
}

/// Reads the app right before a change and compares it with what the plan (or this run's own
/// earlier changes) left: installed version, enabled state and, when it was read, the license.
/// Two runners applying to one instance thus never undo each other: the second stops as stale,
/// unless it finds the app in every checked respect as its change would leave it (the same
/// manifest applied twice).
async fn check_precondition(
    change: &Change,
    expected: &Assumed,
    upm: &UpmClient,
) -> Result<Precondition, ChangeError> {
    let key = &change.key;
    let result = after(change, Some(expected.clone()));
    let app = upm.plugin(key).await?;
    let license = match &app {
        Some(_)
            if expected.license != LiveLicense::NotRead
                || result.license != LiveLicense::NotRead =>
        {
            match upm.license(key).await? {
                Some(hash) => LiveLicense::Present(hash),
                None => LiveLicense::None,
            }
        }
        _ => LiveLicense::NotRead,
    };
    let now = Assumed {
        version: app.as_ref().map(|app| app.version.clone()),
        enabled: app.as_ref().map(|app| app.enabled),
        license,
    };
    let found = differences(&now, expected);
    let waits_for_restart = app.as_ref().is_some_and(|app| app.restart.is_some());
    if found.is_empty() {
        Ok(Precondition::Holds)
    } else if differences(&now, &result).is_empty() && !waits_for_restart {
        Ok(Precondition::AlreadyDone)
    } else {
        Err(ChangeError::Stale {
            key: key.clone(),
            differences: found.join(", "),
        })
    }
}

/// How the app as read `now` differs from `wanted`, in the respects `wanted` knows: its version
/// (or absence), its enabled state, and its license when that was read.
fn differences(now: &Assumed, wanted: &Assumed) -> Vec<String> {
    let shown = |version: Option<&Version>| {
        version.map_or_else(
            || "not installed".to_string(),
            |version| format!("at {version}"),
        )
    };
    let mut found = Vec::new();
    if now.version != wanted.version {
        found.push(format!(
            "it is {} (the plan assumed {})",
            shown(now.version.as_ref()),
            shown(wanted.version.as_ref())
        ));
    }
    let installed = now.version.is_some() && wanted.version.is_some();
    if let (Some(enabled), Some(wanted_enabled)) = (now.enabled, wanted.enabled) {
        if installed && enabled != wanted_enabled {
            found.push(format!(
                "it is {} (the plan assumed {})",
                enabled_text(enabled),
                enabled_text(wanted_enabled)
            ));
        }
    }
    if installed && wanted.license != LiveLicense::NotRead && now.license != wanted.license {
        found.push(format!(
            "its license is {} (the plan assumed {})",
            license_text_of(&now.license),
            license_text_of(&wanted.license)
        ));
    }
    found
}

fn enabled_text(enabled: bool) -> &'static str {
    if enabled {
        "enabled"
    } else {
        "disabled"
    }
}

fn license_text_of(license: &LiveLicense) -> String {
    match license {
        LiveLicense::Present(hash) => hash.to_string(),
        LiveLicense::None => "none".into(),
        LiveLicense::NotRead => "not read".into(),
    }
}

/// Checks made before any change, for the whole instance: UPM not in safe mode (a token also
/// proves admin rights in a dry run), and no install task someone else started still running
/// (waited for, within a bound). The artifacts are checked change by change ([`prepare_op`]).
async fn check_instance(
    plan: &InstancePlan,
    upm: &UpmClient,
    mode: Mode,
) -> Result<(), PrepareError> {
    if plan.changes.is_empty() {
        return Ok(());
    }
    if mode == Mode::DryRun {
        // HEAD is not a mutating request; a token proves the credentials are an admin's.
        upm.token().await?;
    }
    let changes_apps = plan
        .changes
        .iter()
        .any(|change| change.action().installs() || change.action() == Action::Uninstall);
    if changes_apps && upm.safe_mode().await? {
        return Err(UpmError::SafeMode.into());
    }
    // One apply at a time: install tasks already running (someone else's apply, the UPM page)
    // are waited for, within a bound, before anything starts.
    let waited = std::time::Instant::now();
    loop {
        let running = upm.pending_tasks().await?;
        if running == 0 {
            break;
        }
        if waited.elapsed() > PENDING_WAIT {
            return Err(PrepareError::TasksRunning {
                running,
                seconds: PENDING_WAIT.as_secs(),
            });
        }
        if waited.elapsed() < std::time::Duration::from_secs(2) {
            upm.notices().emit(Notice::WaitingForTasks {
                running: running as u64,
            });
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    Ok(())
}

/// One change's operation with its artifacts in hand: what the plan marks `fetch_first` fetched
/// and verified (the artifacts to upload or whose sha256 is pinned, both versions of a
/// downgrade), the rest left to UPM's download. Every failure is returned, `` `key` version: why ``.
async fn prepare_op(
    cache: &Cache,
    key: &AppKey,
    op: &Op<PlannedArtifact, crate::model::License>,
) -> Result<ReadyOp, Vec<VerifyFailure>> {
    let mut errors = Vec::new();
    let op = match op {
        Op::Install {
            to,
            enabled,
            artifact,
        } => noted(
            &mut errors,
            key,
            to,
            prepare_artifact(cache, key, to, artifact).await,
        )
        .map(|artifact| Op::Install {
            to: to.clone(),
            enabled: *enabled,
            artifact,
        }),
        Op::Upgrade {
            from,
            to,
            enabled,
            artifact,
        } => noted(
            &mut errors,
            key,
            to,
            prepare_artifact(cache, key, to, artifact).await,
        )
        .map(|artifact| Op::Upgrade {
            from: from.clone(),
            to: to.clone(),
            enabled: *enabled,
            artifact,
        }),
        Op::Downgrade {
            from,
            to,
            enabled,
            artifact,
            restore,
        } => {
            let artifact = noted(
                &mut errors,
                key,
                to,
                prepare_artifact(cache, key, to, artifact).await,
            );
            // The restore's copy is in hand before the uninstall, whatever the strategy.
            let restore = match restore {
                Restore::ByUriThenUpload(planned) => {
                    let kept = noted(
                        &mut errors,
                        key,
                        from,
                        fetch_kept(cache, key, from, planned).await,
                    );
                    kept.map(|kept| {
                        Restore::ByUriThenUpload(match planned {
                            PlannedArtifact::Uri { url, .. } => Ready::Uri {
                                url: url.clone(),
                                copy: Some(kept),
                            },
                            // Nothing UPM could download: only the upload is left.
                            PlannedArtifact::Upload { .. } => Ready::Upload(kept),
                        })
                    })
                }
                Restore::ByUpload(planned) => noted(
                    &mut errors,
                    key,
                    from,
                    fetch_kept(cache, key, from, planned).await,
                )
                .map(|kept| Restore::ByUpload(Ready::Upload(kept))),
                Restore::Impossible => Some(Restore::Impossible),
            };
            match (artifact, restore) {
                (Some(artifact), Some(restore)) => Some(Op::Downgrade {
                    from: from.clone(),
                    to: to.clone(),
                    enabled: *enabled,
                    artifact,
                    restore,
                }),
                _ => None,
            }
        }
        Op::Uninstall { from, reason } => Some(Op::Uninstall {
            from: from.clone(),
            reason: *reason,
        }),
        Op::Enable { from, to } => Some(Op::Enable {
            from: from.clone(),
            to: to.clone(),
        }),
        Op::Disable { from, to } => Some(Op::Disable {
            from: from.clone(),
            to: to.clone(),
        }),
        Op::SetLicense { version, from, to } => Some(Op::SetLicense {
            version: version.clone(),
            from: from.clone(),
            to: to.clone(),
        }),
        Op::RemoveLicense { version, from } => Some(Op::RemoveLicense {
            version: version.clone(),
            from: from.clone(),
        }),
    };
    match op {
        Some(op) if errors.is_empty() => Ok(op),
        _ => Err(errors),
    }
}

/// The value, or `None` with the failure noted for `key` and `version`.
fn noted<T>(
    errors: &mut Vec<VerifyFailure>,
    key: &AppKey,
    version: &Version,
    result: Result<T, FetchError>,
) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(cause) => {
            errors.push(VerifyFailure {
                key: key.clone(),
                version: version.clone(),
                cause,
            });
            None
        }
    }
}

/// An artifact to install, as the plan says: an upload (always fetched first) or a download by
/// URI that is also fetched first when the plan says so.
async fn prepare_artifact(
    cache: &Cache,
    key: &AppKey,
    version: &Version,
    planned: &PlannedArtifact,
) -> Result<Ready, FetchError> {
    match planned {
        PlannedArtifact::Uri {
            url,
            fetch_first: false,
            ..
        } => Ok(Ready::Uri {
            url: url.clone(),
            copy: None,
        }),
        PlannedArtifact::Uri { url, .. } => Ok(Ready::Uri {
            url: url.clone(),
            copy: Some(fetch_kept(cache, key, version, planned).await?),
        }),
        PlannedArtifact::Upload { .. } => Ok(Ready::Upload(
            fetch_kept(cache, key, version, planned).await?,
        )),
    }
}

/// Fetches and verifies an artifact ([`fetch_and_verify`]), keeping its local file.
async fn fetch_kept(
    cache: &Cache,
    key: &AppKey,
    version: &Version,
    planned: &PlannedArtifact,
) -> Result<Kept, FetchError> {
    let artifact = planned.artifact();
    let verified = fetch_and_verify(cache, key, version, &artifact).await?;
    Ok(Kept {
        path: verified.path,
        sha256: artifact.sha256,
    })
}

/// Carries out one change; `token`: a upm-token fetched beforehand for an install or upgrade.
/// `next` (the next change's [`look`]) runs beside an install's or upgrade's read-back; its
/// result is returned when it ran.
async fn apply_change(
    key: &AppKey,
    op: &ReadyOp,
    upm: &UpmClient,
    token: Option<crate::model::Secret>,
    next: Option<impl std::future::Future<Output = Looked>>,
) -> (Result<Applied, ChangeError>, Option<Looked>) {
    match op {
        Op::Install {
            to,
            enabled,
            artifact,
        }
        | Op::Upgrade {
            to,
            enabled,
            artifact,
            ..
        } => install_with_token(key, artifact, to, *enabled, upm, token, next).await,
        _ => (apply_op(key, op, upm).await, None),
    }
}

/// Carries out one change (an install or upgrade without a token fetched beforehand).
async fn apply_op(key: &AppKey, op: &ReadyOp, upm: &UpmClient) -> Result<Applied, ChangeError> {
    match op {
        Op::Install {
            to,
            enabled,
            artifact,
        }
        | Op::Upgrade {
            to,
            enabled,
            artifact,
            ..
        } => install(key, artifact, to, *enabled, upm).await,
        Op::Downgrade {
            from,
            to,
            enabled,
            artifact,
            restore,
        } => {
            // UPM refuses to downgrade in place (§5.6): uninstall, then install the older version.
            if uninstall(upm, key).await? == Applied::AfterRestart {
                // The old version stays until the restart; an older one sent now would be
                // discarded (§5.6). The install happens on the next apply after the restart.
                return Ok(Applied::AfterRestart);
            }
            let source = match install(key, artifact, to, *enabled, upm).await {
                Ok(applied) => return Ok(applied),
                Err(source) => source,
            };
            // Nothing lost: put back the version that was there, as the plan says, but never
            // over a version someone else installed meanwhile.
            if let Some(found) = upm.plugin(key).await? {
                if &found.version == to {
                    // The install happened (say, the app was left disabled): nothing is missing.
                    return Err(source);
                }
                return Err(ChangeError::DowngradeOvertaken {
                    key: key.clone(),
                    from: from.to_string(),
                    to: to.to_string(),
                    found: found.version.to_string(),
                    source: Box::new(source),
                });
            }
            let restored = restore_previous(key, from, *enabled, restore, upm).await;
            Err(match restored {
                Ok(_) => ChangeError::DowngradeRestored {
                    key: key.clone(),
                    from: from.to_string(),
                    to: to.to_string(),
                    source: Box::new(source),
                },
                Err(restore_error) => ChangeError::DowngradeInstallFailed {
                    key: key.clone(),
                    from: from.to_string(),
                    to: to.to_string(),
                    source: Box::new(source),
                    restore: Box::new(restore_error),
                },
            })
        }
        Op::Uninstall { .. } => uninstall(upm, key).await,
        Op::Enable { .. } | Op::Disable { .. } => {
            set_enabled(upm, key, matches!(op, Op::Enable { .. })).await?;
            Ok(Applied::Done)
        }
        Op::SetLicense { to: license, .. } => {
            let outcome = upm.set_license(key, &license.text).await;
            settle(outcome, upm.notices(), || async {
                Ok(upm.license(key).await? == Some(license.hash.clone()))
            })
            .await?;
            Ok(Applied::Done)
        }
        Op::RemoveLicense { .. } => {
            let outcome = upm.remove_license(key).await;
            settle(outcome, upm.notices(), || async {
                Ok(upm.license(key).await?.is_none())
            })
            .await?;
            Ok(Applied::Done)
        }
    }
}

/// Reinstalls the version a failed downgrade removed, with the strategy the plan shows: by URI
/// and, if that fails, by uploading the copy verified before the uninstall
/// ([`Restore::ByUriThenUpload`]); or by uploading that copy straight away.
async fn restore_previous(
    key: &AppKey,
    from: &Version,
    enabled: bool,
    restore: &Restore<Ready>,
    upm: &UpmClient,
) -> Result<Applied, ChangeError> {
    match restore {
        Restore::Impossible => Err(ChangeError::NoRestore),
        Restore::ByUpload(ready) => install(key, ready, from, enabled, upm).await,
        Restore::ByUriThenUpload(ready) => {
            let error = match install(key, ready, from, enabled, upm).await {
                Ok(applied) => return Ok(applied),
                Err(error) => error,
            };
            match ready {
                Ready::Uri {
                    copy: Some(copy), ..
                } => {
                    upm.notices().emit(Notice::RestoreByUpload {
                        key: key.to_string(),
                        error: error.to_string(),
                    });
                    install(key, &Ready::Upload(copy.clone()), from, enabled, upm).await
                }
                // No copy in hand, or the upload already failed: nothing else to try.
                Ready::Uri { copy: None, .. } | Ready::Upload(_) => Err(error),
            }
        }
    }
}

/// A mutating request whose answer was lost (timeout, reset) may or may not have happened: the
/// state is read again and decides. Any other outcome stands.
async fn settle<F, Fut>(
    outcome: Result<(), UpmError>,
    notices: &Notices,
    happened: F,
) -> Result<(), ChangeError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<bool, UpmError>>,
{
    match outcome {
        Ok(()) => Ok(()),
        Err(error) if error.is_lost_answer() => match happened().await {
            Ok(true) => {
                notices.emit(Notice::LostAnswerButDone {
                    error: error.to_string(),
                });
                Ok(())
            }
            _ => Err(error.into()),
        },
        Err(error) => Err(error.into()),
    }
}

/// Uninstalls; a lost answer is settled by reading the app back, and a 202 means the removal
/// waits for a restart (§5.5).
async fn uninstall(upm: &UpmClient, key: &AppKey) -> Result<Applied, ChangeError> {
    match upm.uninstall(key).await {
        Ok(Removal::Done) => Ok(Applied::Done),
        Ok(Removal::AfterRestart) => Ok(Applied::AfterRestart),
        Err(error) => settle(Err(error), upm.notices(), || async {
            Ok(upm.plugin(key).await?.is_none())
        })
        .await
        .map(|()| Applied::Done),
    }
}

/// Installs `artifact`, then reads the app back: its key, the version must be `version`, and the
/// enablement the one the plan asked for. A change UPM keeps for a restart (`restartState`, or
/// listed under `/requires-restart`) is [`Applied::AfterRestart`]. An app that installed but
/// cannot be enabled is [`ChangeError::InstalledDisabled`]. After a lost answer, waits for UPM's
/// tasks to end and reads back.
async fn install(
    key: &AppKey,
    ready: &Ready,
    version: &Version,
    enabled: bool,
    upm: &UpmClient,
) -> Result<Applied, ChangeError> {
    let none = None::<std::future::Pending<Looked>>;
    install_looking(key, ready, version, enabled, upm, None, none, &mut None).await
}

/// [`install`] with a upm-token fetched beforehand, when there is one, and the next change's
/// [`look`] run beside the read-back (returned when it ran).
async fn install_with_token(
    key: &AppKey,
    ready: &Ready,
    version: &Version,
    enabled: bool,
    upm: &UpmClient,
    token: Option<crate::model::Secret>,
    next: Option<impl std::future::Future<Output = Looked>>,
) -> (Result<Applied, ChangeError>, Option<Looked>) {
    let mut looked = None;
    let result = install_looking(key, ready, version, enabled, upm, token, next, &mut looked).await;
    (result, looked)
}

/// [`install_with_token`], leaving the next change's look in `looked`.
#[allow(clippy::too_many_arguments)]
async fn install_looking(
    key: &AppKey,
    ready: &Ready,
    version: &Version,
    enabled: bool,
    upm: &UpmClient,
    token: Option<crate::model::Secret>,
    next: Option<impl std::future::Future<Output = Looked>>,
    looked: &mut Option<Looked>,
) -> Result<Applied, ChangeError> {
    let (from, pinned) = match ready {
        Ready::Uri { url, .. } => (InstallFrom::Uri(url), None),
        Ready::Upload(kept) => (InstallFrom::Upload(&kept.path), kept.sha256.as_ref()),
    };
    // What was verified is what is uploaded: a pinned file is hashed again right before it is
    // sent (it may sit in the cache from a check made minutes before).
    if let (InstallFrom::Upload(path), Some(expected)) = (&from, pinned) {
        let path = path.to_path_buf();
        let hashed = path.clone();
        let found = tokio::task::spawn_blocking(move || {
            std::fs::File::open(&hashed).and_then(|mut file| artifact::hash_reader(&mut file))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|result| result);
        let found = match found {
            Ok(found) if &found == expected => None,
            Ok(found) => Some(found.to_string()),
            Err(error) => Some(format!("unreadable: {error}")),
        };
        if let Some(found) = found {
            return Err(ChangeError::ChangedSinceVerified {
                key: key.clone(),
                path,
                expected: expected.clone(),
                found,
            });
        }
    }
    let beside = async {
        match next {
            Some(next) => Some(next.await),
            None => None,
        }
    };
    let (installed, beside) = upm.install_beside(key, from, token, beside).await;
    *looked = beside.flatten();
    let installed = match installed {
        Ok(installed) => installed,
        Err(error) if error.is_lost_answer() => {
            upm.notices().emit(Notice::LostInstallAnswer {
                key: key.to_string(),
                error: error.to_string(),
            });
            upm.wait_until_idle().await?;
            match upm.plugin(key).await? {
                // UPM shows the wanted version: the install happened.
                Some(installed) if &installed.version == version => installed,
                _ if waits_for_restart(upm, key).await => return Ok(Applied::AfterRestart),
                // Not installed, or still the version from before: the install did not happen,
                // and the answer that was lost is the error.
                _ => return Err(error.into()),
            }
        }
        Err(UpmError::MissingAfterInstall { .. }) if waits_for_restart(upm, key).await => {
            return Ok(Applied::AfterRestart);
        }
        Err(error) => return Err(error.into()),
    };
    if installed.restart.is_some() {
        return Ok(Applied::AfterRestart);
    }
    if &installed.version != version {
        if waits_for_restart(upm, key).await {
            return Ok(Applied::AfterRestart);
        }
        return Err(ChangeError::VersionMismatch {
            key: key.clone(),
            wanted: version.to_string(),
            found: installed.version.to_string(),
        });
    }
    match enabled {
        true if !installed.enabled => {
            // UPM installed the app but the plugin system left it disabled (or it came up
            // disabled): try to enable it; when that fails the app is down, and says so.
            set_enabled(upm, key, true)
                .await
                .map_err(|error| ChangeError::InstalledDisabled {
                    key: key.clone(),
                    version: installed.version.to_string(),
                    reason: Box::new(error),
                })?;
        }
        false if installed.enabled => set_enabled(upm, key, false).await?,
        _ => {}
    }
    Ok(Applied::Done)
}

/// Whether UPM lists a change of `key` that waits for a restart (`/requires-restart`, §1).
async fn waits_for_restart(upm: &UpmClient, key: &AppKey) -> bool {
    upm.changes_requiring_restart()
        .await
        .is_ok_and(|changes| changes.contains_key(key))
}

async fn set_enabled(upm: &UpmClient, key: &AppKey, enabled: bool) -> Result<(), ChangeError> {
    let outcome = upm.set_enabled(key, enabled).await;
    settle(outcome, upm.notices(), || async {
        Ok(upm
            .plugin(key)
            .await?
            .is_some_and(|app| app.enabled == enabled))
    })
    .await?;
    match upm.plugin(key).await? {
        Some(app) if app.enabled == enabled => Ok(()),
        _ => Err(ChangeError::EnablementMismatch {
            key: key.clone(),
            enabled: !enabled,
        }),
    }
}
