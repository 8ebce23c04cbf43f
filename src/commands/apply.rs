//! `upmsync apply`: shows the plan, asks (or needs `--auto-approve`), then applies it instance by
//! instance, one change at a time. Ctrl-C or SIGTERM stops after the change under way and still
//! reports; the instance locks are OS file locks, which end with their process however it ends.

use crate::http::HttpSettings;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use super::{
    cache, data, interrupt, load, read_and_plan, report_error_text, report_instance_errors, status,
    Exit,
};
use crate::cli::ApplyArgs;
use crate::execute::{self, ApplyReport, Mode, Outcome};
use crate::files;
use crate::marketplace::download::Cache;
use crate::model::Desired;
use crate::render;
use crate::saved::{self, SavedPlan};
use crate::upm::UpmClient;

/// Reports, on stderr, the changes waiting for a restart that contradict the manifest: apply
/// cannot act on those apps before the restart, so the instance will not match the manifest.
fn report_restart_conflicts(plan: &crate::plan::Plan) -> bool {
    let mut any = false;
    for instance in &plan.instances {
        let Ok(planned) = &instance.result else {
            continue;
        };
        for pending in &planned.pending_restart {
            if let Some(conflict) = &pending.conflict {
                report_error_text(&format!(
                    "instance `{}`: `{}`: {conflict}; nothing can be done for it before the restart\nhint: cancel the pending change on the Manage apps page (or `DELETE /rest/plugins/1.0/requires-restart/{}-key`), or restart the product and run apply again",
                    instance.name, pending.key, pending.key
                ));
                any = true;
            }
        }
    }
    any
}

/// How apply gets its go-ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approval {
    /// Ask on the terminal; refuse when there is none.
    Ask,
    /// `--auto-approve`.
    Given,
}

pub async fn run(args: &ApplyArgs, settings: &HttpSettings) -> Exit {
    // Reading a saved plan changes nothing; it comes first so the report is checked against the
    // manifest the plan names.
    let saved = args
        .plan
        .as_ref()
        .map(|path| SavedPlan::read(path).map(|saved| (path.clone(), saved)));
    let manifest = match &saved {
        Some(Ok((path, saved))) => saved.manifest_path(path),
        _ => args.manifest.file.clone(),
    };
    let report = match ReportFile::claim(args.report.as_deref(), &manifest, args.plan.as_deref()) {
        Ok(report) => report,
        Err(error) => {
            report_error_text(&error);
            return Exit::Failure;
        }
    };
    let saved = match saved {
        Some(Ok(saved)) => Some(saved),
        Some(Err(error)) => {
            let text = crate::execute::error_text(&error);
            report_error_text(&text);
            report.finish(RunStatus::Stopped, Some(&text), &[]);
            return Exit::Failure;
        }
        None => None,
    };
    let instances = match &saved {
        Some((_, saved)) => saved.instances.iter().map(|i| i.name.clone()).collect(),
        None => args.selection.instances.clone(),
    };
    let Some(desired) = load(&manifest, true, &instances) else {
        report.finish(
            RunStatus::Stopped,
            Some(&format!(
                "the manifest `{}` could not be loaded (see the errors above), so nothing was changed",
                manifest.display()
            )),
            &[],
        );
        return Exit::Failure;
    };
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Apply
    };
    // A saved plan was reviewed when it was made: it is its own approval.
    let approval = if args.auto_approve || saved.is_some() {
        Approval::Given
    } else {
        Approval::Ask
    };
    let Some(cache) = cache(args.cache.dir().as_deref(), settings) else {
        report.finish(
            RunStatus::Stopped,
            Some("the cache folder cannot be used (see the error above), so nothing was changed"),
            &[],
        );
        return Exit::Failure;
    };
    let expected = saved.as_ref().map(|(_, saved)| saved);
    apply_with_report(
        &desired, mode, approval, &cache, &report, expected, settings,
    )
    .await
}

/// Plans and applies. `report` is where to also write the report as JSON, if anywhere.
pub async fn apply_desired(
    desired: &Desired,
    mode: Mode,
    approval: Approval,
    cache: &Cache,
    report: Option<&Path>,
    settings: &HttpSettings,
) -> Exit {
    apply_desired_checked(desired, mode, approval, cache, report, None, settings).await
}

/// As `apply_desired`; with `expected` (a saved plan), refuses unless the manifest, the lock, every
/// instance's live state and the recomputed changes are exactly those the plan was saved with.
/// The report, when asked for, is checked writable before anything else and written however
/// apply ends.
pub async fn apply_desired_checked(
    desired: &Desired,
    mode: Mode,
    approval: Approval,
    cache: &Cache,
    report: Option<&Path>,
    expected: Option<&SavedPlan>,
    settings: &HttpSettings,
) -> Exit {
    let report = match ReportFile::claim(report, &desired.manifest_path, None) {
        Ok(report) => report,
        Err(error) => {
            report_error_text(&error);
            return Exit::Failure;
        }
    };
    apply_with_report(desired, mode, approval, cache, &report, expected, settings).await
}

async fn apply_with_report(
    desired: &Desired,
    mode: Mode,
    approval: Approval,
    cache: &Cache,
    report: &ReportFile,
    expected: Option<&SavedPlan>,
    settings: &HttpSettings,
) -> Exit {
    // From here on Ctrl-C and SIGTERM are this function's to handle: before the first change they
    // stop it where it waits (nothing changed, the locks and temporary files released as their
    // owners drop); during the changes, after the change under way.
    let interrupts = interrupt::watch();
    // Two applies from this runner must not interleave on one instance: the locks are taken before
    // anything is read, so what is planned (and a saved plan's fingerprints) holds while applying.
    let mut locks = Vec::new();
    let mut lock_errors = std::collections::BTreeMap::new();
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
        plan = read_and_plan(desired, settings) => plan,
        signal = interrupts.wait() => {
            let reason = format!(
                "interrupted ({}) while reading the instances: nothing was changed",
                signal.name()
            );
            report_error_text(&reason);
            report.finish(RunStatus::Stopped, Some(&reason), &[]);
            return Exit::Failure;
        }
    };
    if let Some(expected) = expected {
        let stale = stale_reasons(desired, &plan, expected);
        if !stale.is_empty() {
            let reason = format!(
                "the saved plan is stale, so nothing was changed:\n- {}",
                stale.join("\n- ")
            );
            report_error_text(&format!(
                "{reason}\nhint: make a new plan with `upmsync plan --out`, review it, and apply that"
            ));
            report.finish(
                RunStatus::Stopped,
                Some(&reason),
                &not_started(&plan, "the saved plan is stale"),
            );
            return Exit::Failure;
        }
    }
    let plan_errors = report_instance_errors(&plan);
    if !data(&render::plan_text(&plan)) {
        report.finish(
            RunStatus::Stopped,
            Some("the plan could not be written to stdout, so nothing was changed"),
            &not_started(&plan, "the plan could not be shown"),
        );
        return Exit::Failure;
    }
    let conflicts = report_restart_conflicts(&plan);
    if !plan.has_changes() {
        status(if plan_errors {
            "Nothing to apply on the instances that could be planned."
        } else if plan.has_pending_restarts() {
            "Nothing to apply now: the changes shown wait for a restart of the product."
        } else {
            "Nothing to apply: every instance matches the manifest."
        });
        let failed = plan_errors || conflicts;
        let run_status = if failed {
            RunStatus::Failed
        } else {
            RunStatus::NothingToApply
        };
        let written = report.finish(run_status, None, &unplanned(&plan));
        return if failed || !written {
            Exit::Failure
        } else {
            Exit::Success
        };
    }
    if mode == Mode::Apply && approval == Approval::Ask {
        // The question waits on the terminal in a thread of its own, so a signal still stops it.
        let confirmed = tokio::select! {
            answer = tokio::task::spawn_blocking(confirm) => answer.unwrap_or(false),
            signal = interrupts.wait() => {
                report_error_text(&format!(
                    "apply cancelled ({}): nothing was changed",
                    signal.name()
                ));
                false
            }
        };
        if !confirmed {
            report.finish(
                RunStatus::Stopped,
                Some("apply was not approved, so nothing was changed"),
                &not_started(&plan, "apply was not approved"),
            );
            return Exit::Failure;
        }
    }

    interrupts.acting();
    let interrupted = interrupts.flag();
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
        let upm = match UpmClient::new(instance, settings) {
            Ok(upm) => upm,
            Err(error) => {
                let text = format!(
                    "failed to set up an HTTP client for `{}`\nCaused by: {}",
                    instance.name,
                    crate::execute::error_text(&error)
                );
                report_error_text(&text);
                reports.push(ApplyReport::not_started(instance_plan, text));
                continue;
            }
        };
        if let Some(signal) = interrupts.received() {
            reports.push(ApplyReport::not_started(
                instance_plan,
                format!(
                    "interrupted ({}) before this instance started",
                    signal.name()
                ),
            ));
            continue;
        }
        if let Some(error) = lock_errors.get(&instance.name) {
            reports.push(ApplyReport::not_started(instance_plan, error.clone()));
            continue;
        }
        let verb = if mode == Mode::DryRun {
            "Checking"
        } else {
            "Applying"
        };
        status(&format!(
            "{verb} {} change(s) on {}...",
            instance_plan.changes.len(),
            instance.name
        ));
        let mut progress = |change: &crate::plan::Change, outcome: &Outcome| {
            let word = match outcome {
                Outcome::Done => "done",
                Outcome::PendingRestart { .. } => "done, takes effect after a restart",
                Outcome::WouldDo => "would do",
                Outcome::Failed { .. } => "FAILED",
                Outcome::Stale { .. } => "STALE, not done",
                Outcome::NotStarted => return,
            };
            status(&format!(
                "  {}: {word}: {}",
                instance.name,
                render::change_line(change)
            ));
        };
        reports.push(
            execute::execute(instance_plan, &upm, cache, mode, interrupted, &mut progress).await,
        );
    }
    let mut written = data(&format!("\n{}", render::apply_text(&reports)));
    let all_applied = reports.iter().all(ApplyReport::succeeded);
    let run_status = if all_applied && !plan_errors && !conflicts {
        RunStatus::Done
    } else {
        RunStatus::Failed
    };
    let mut everything = reports.clone();
    everything.extend(unplanned(&plan));
    written &= report.finish(run_status, None, &everything);
    for report in reports.iter().filter(|report| report.restart_required()) {
        status(&format!(
            "warning: some changes on {} take effect only after a restart of the product: restart {} (every node of a cluster); until then `upmsync plan` and `drift` show them as pending",
            report.name, report.name
        ));
    }
    if !all_applied {
        report_error_text("not every change was applied (see the report on stdout); run `upmsync apply` again once the cause is fixed: it plans from what is installed now");
    }
    if plan_errors {
        report_error_text("some instances could not be planned and were left unchanged");
    }
    // Asked to stop, the run exits non-zero even when the signal came after the last change.
    let stopped = interrupts.received().is_some();
    if all_applied && !plan_errors && !conflicts && written && !stopped {
        Exit::Success
    } else {
        Exit::Failure
    }
}

/// Asks for `yes` on the terminal. Without a terminal, refuses: CI must say `--auto-approve`.
fn confirm() -> bool {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        report_error_text("refusing to apply without confirmation: there is no terminal to ask on\nhint: review the plan above and run again with `--auto-approve`");
        return false;
    }
    status("Apply these changes? Only `yes` is accepted:");
    let mut answer = String::new();
    if stdin.lock().read_line(&mut answer).is_err() || answer.trim() != "yes" {
        report_error_text("apply cancelled: nothing was changed");
        return false;
    }
    true
}

/// How an apply run ended, as the report file says it (`status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
enum RunStatus {
    /// Written before the first change: a report that still says this is from a run that was
    /// killed or is still going.
    Running,
    /// Every change was applied (or, with `--dry-run`, would be).
    Done,
    /// Some change failed, or some instance could not be planned.
    Failed,
    /// Nothing to do: every instance matches the manifest (or waits for a restart).
    NothingToApply,
    /// Apply stopped before the first change; `reason` says why.
    Stopped,
}

/// `--report FILE`: claimed before anything can change (refused when it is the manifest, its
/// lock or the saved plan being applied; then written with status `running`, which checks that it
/// is writable and replaces any older report) and written again however apply ends, so no report
/// of an earlier run is ever left beside this one.
struct ReportFile {
    path: Option<PathBuf>,
}

impl ReportFile {
    fn claim(
        path: Option<&Path>,
        manifest: &Path,
        saved_plan: Option<&Path>,
    ) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self { path: None });
        };
        files::refuse_same(path, manifest, "the report", "the manifest")?;
        let lock = crate::lock::path_for(manifest);
        files::refuse_same(path, &lock, "the report", "the manifest's lock file")?;
        if let Some(plan) = saved_plan {
            files::refuse_same(path, plan, "the report", "the saved plan being applied")?;
        }
        let report = Self {
            path: Some(path.to_path_buf()),
        };
        report.write(RunStatus::Running, None, &[]).map_err(|error| {
            format!(
                "cannot write the report `{}`: {error}; nothing was changed\nhint: name a file in a folder you can write to",
                path.display()
            )
        })?;
        Ok(report)
    }

    /// Writes the final report; `false` (after saying why on stderr) when it cannot be written.
    fn finish(&self, status: RunStatus, reason: Option<&str>, instances: &[ApplyReport]) -> bool {
        match self.write(status, reason, instances) {
            Ok(()) => true,
            Err(error) => {
                report_error_text(&format!(
                    "failed to write the report `{}`: {error}",
                    self.path.as_deref().unwrap_or(Path::new("")).display()
                ));
                false
            }
        }
    }

    /// The report as JSON, written atomically and owner-only (it names instances, URLs and
    /// hashes).
    fn write(
        &self,
        status: RunStatus,
        reason: Option<&str>,
        instances: &[ApplyReport],
    ) -> std::io::Result<()> {
        #[derive(serde::Serialize)]
        struct Document<'a> {
            format_version: u32,
            status: RunStatus,
            #[serde(skip_serializing_if = "Option::is_none")]
            reason: Option<&'a str>,
            instances: &'a [ApplyReport],
        }
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut text = serde_json::to_string_pretty(&Document {
            format_version: 1,
            status,
            reason,
            instances,
        })
        .map_err(std::io::Error::other)?;
        text.push('\n');
        // No secret of this run is written, whatever a server echoed (`crate::scrub`).
        let text = crate::scrub::scrub(&text);
        files::write_private(path, text.as_bytes())
    }
}

/// Every planned instance with changes, none of them started, and why.
fn not_started(plan: &crate::plan::Plan, reason: &str) -> Vec<ApplyReport> {
    let mut reports: Vec<ApplyReport> = plan
        .instances
        .iter()
        .filter_map(|planned| planned.result.as_ref().ok())
        .filter(|instance_plan| !instance_plan.changes.is_empty())
        .map(|instance_plan| ApplyReport::not_started(instance_plan, reason.to_string()))
        .collect();
    reports.extend(unplanned(plan));
    reports
}

/// The instances that could not be planned (unreachable, refused, ...), each with its error.
fn unplanned(plan: &crate::plan::Plan) -> Vec<ApplyReport> {
    plan.instances
        .iter()
        .filter_map(|planned| {
            let error = planned.result.as_ref().err()?;
            Some(ApplyReport {
                name: planned.name.clone(),
                changes: Vec::new(),
                error: Some(error.clone()),
            })
        })
        .collect()
}

/// A local lock per instance: an OS file lock (`flock`) on `<cache>/locks/<instance>.lock`.
///
/// The kernel releases it when its process ends, however it ends (a crash, `kill -9`, a container
/// restart, a second Ctrl-C), so a lock never outlives its holder and no process id is trusted:
/// the id written into the file only names the holder in the message. The file is removed on
/// release; a file left by a killed process is simply taken over by the next run.
struct InstanceLock {
    path: PathBuf,
    file: std::fs::File,
}

/// How often a lock file removed by its releasing holder, just as this run opened it, is opened
/// again before giving up.
const LOCK_ATTEMPTS: usize = 8;

impl InstanceLock {
    fn acquire(cache_dir: &Path, instance: &str) -> Result<Self, String> {
        let folder = cache_dir.join("locks");
        let path = folder.join(format!("{}.lock", instance.replace(['/', '\\'], "_")));
        std::fs::create_dir_all(&folder).map_err(|error| {
            format!(
                "cannot create the lock folder `{}`: {error}",
                folder.display()
            )
        })?;
        for _ in 0..LOCK_ATTEMPTS {
            let file = open_lock_file(&path)
                .map_err(|error| format!("cannot open the lock `{}`: {error}", path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(held_message(&file, &path, instance));
                }
                Err(std::fs::TryLockError::Error(error)) => {
                    return Err(format!(
                        "cannot lock `{}`: {error}\nhint: the cache folder must be on a file system with file locks (not every network file system has them); choose another with `--cache-dir`",
                        path.display()
                    ));
                }
            }
            // A holder removes the file as it releases it: a file opened just before that is no
            // longer the lock, and another run may have made a new one. Locked is only the file
            // the path still names.
            if !names_file(&path, &file) {
                continue;
            }
            let mut lock = Self { path, file };
            lock.write_holder();
            return Ok(lock);
        }
        Err(format!(
            "cannot take the lock `{}`: it was replaced {LOCK_ATTEMPTS} times while being taken: nothing was changed\nhint: other applies keep starting on `{instance}`; run one at a time",
            path.display()
        ))
    }

    /// Writes this process's id, for another run's message only.
    fn write_holder(&mut self) {
        use std::io::{Seek, Write};
        let _ = self.file.set_len(0);
        let _ = self.file.seek(std::io::SeekFrom::Start(0));
        let _ = writeln!(self.file, "{}", std::process::id());
        let _ = self.file.flush();
    }
}

/// Opens (creating, owner-only) the lock file without emptying it: a live holder's id stays.
fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Whether `path` names this open file (and not a newer one, or none).
fn names_file(path: &Path, file: &std::fs::File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), file.metadata()) {
            (Ok(named), Ok(open)) => named.dev() == open.dev() && named.ino() == open.ino(),
            _ => false,
        }
    }
    // guess: off Unix an open file cannot be removed, so the path always names it.
    #[cfg(not(unix))]
    {
        let _ = (path, file);
        true
    }
}

/// The message for a lock another live process holds, naming it by the id it wrote.
fn held_message(file: &std::fs::File, path: &Path, instance: &str) -> String {
    use std::io::Read;
    let mut holder = String::new();
    // The id is only shown: a bounded read, and anything but digits is not repeated.
    let _ = Read::take(file, 32).read_to_string(&mut holder);
    let pid = holder.trim();
    let who = if !pid.is_empty() && pid.bytes().all(|byte| byte.is_ascii_digit()) {
        format!("process {pid}")
    } else {
        "another process".to_string()
    };
    format!(
        "another upmsync apply ({who}) is changing `{instance}`: nothing was changed\nhint: wait for it to finish and run apply again (its lock is `{}`; the lock ends with its process, so there is nothing to remove)",
        path.display()
    )
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Removed while still locked (the lock ends when `file` closes, after this), and only if
        // it is still this lock's file.
        if names_file(&self.path, &self.file) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Every way the world differs from what a saved plan was made from.
fn stale_reasons(desired: &Desired, plan: &crate::plan::Plan, expected: &SavedPlan) -> Vec<String> {
    let mut reasons = Vec::new();
    match saved::file_sha256(&desired.manifest_path) {
        Ok(Some(hash)) if hash == expected.manifest_sha256 => {}
        _ => reasons.push(format!(
            "the manifest `{}` changed",
            desired.manifest_path.display()
        )),
    }
    let lock_path = crate::lock::path_for(&desired.manifest_path);
    match saved::file_sha256(&lock_path) {
        Ok(hash) if hash == expected.lock_sha256 => {}
        _ => reasons.push(format!("the lock file `{}` changed", lock_path.display())),
    }
    for saved_instance in &expected.instances {
        let Some(planned) = plan
            .instances
            .iter()
            .find(|planned| planned.name == saved_instance.name)
        else {
            reasons.push(format!(
                "instance `{}` is gone from the manifest",
                saved_instance.name
            ));
            continue;
        };
        match &planned.live {
            Some(live) if saved::live_fingerprint(live) == saved_instance.live_sha256 => {}
            Some(_) => reasons.push(format!(
                "the installed apps of `{}` changed since the plan",
                saved_instance.name
            )),
            None => reasons.push(format!("`{}` could not be read", saved_instance.name)),
        }
        if let Ok(planned) = &planned.result {
            if saved::read_file_fingerprints(planned) != saved_instance.files {
                reasons.push(format!(
                    "a file `{}` uploads changed since the plan",
                    saved_instance.name
                ));
            }
        }
        let now = planned.result.as_ref().ok().map(saved::saved_changes);
        match now {
            Some(now) if saved::same_changes(&now, &saved_instance.changes) => {}
            _ => reasons.push(format!(
                "the changes for `{}` are no longer those of the plan (a license, the Marketplace or the lock differ)",
                saved_instance.name
            )),
        }
    }
    reasons
}
