//! `upmsync apply`: shows the plan, asks (or needs `--auto-approve`), then applies it instance by
//! instance, one change at a time. Ctrl-C or SIGTERM stops after the change under way and still
//! reports; the instance locks are OS file locks, which end with their process however it ends.

use crate::http::HttpSettings;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use super::{cache, interrupt, load, read_and_plan, report_instance_errors, Exit};
use crate::cli::ApplyArgs;
use crate::execute::{ApplyReport, Mode, Outcome};
use crate::files;
use crate::instance_lock::InstanceLock;
use crate::marketplace::download::Cache;
use crate::model::Desired;
use crate::ops::{self, apply::Progress};
use crate::printer::Printer;
use crate::render;
use crate::saved::{self, SavedPlan};

/// Reports, on stderr, the changes waiting for a restart that contradict the manifest: apply
/// cannot act on those apps before the restart, so the instance will not match the manifest.
fn report_restart_conflicts(printer: &Printer, plan: &crate::plan::Plan) -> bool {
    let mut any = false;
    for instance in &plan.instances {
        let Ok(planned) = &instance.result else {
            continue;
        };
        for pending in &planned.pending_restart {
            if let Some(conflict) = &pending.conflict {
                printer.error_with_hint(
                    &format!(
                        "instance `{}`: `{}`: {conflict}; nothing can be done for it before the restart",
                        instance.name, pending.key
                    ),
                    &format!(
                        "cancel the pending change on the Manage apps page (or `DELETE /rest/plugins/1.0/requires-restart/{}-key`), or restart the product and run apply again",
                        pending.key
                    ),
                );
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

/// How to apply: the one set of options of [`apply_desired`].
#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions<'a> {
    /// Apply, or only check (`--dry-run`).
    pub mode: Mode,
    /// Ask on the terminal, or approved already.
    pub approval: Approval,
    /// `--report FILE`: where to also write the report as JSON.
    pub report: Option<&'a Path>,
    /// A saved plan: apply refuses unless the manifest, the lock, every instance's live state and
    /// the recomputed changes are exactly those it was saved with.
    pub expected: Option<&'a SavedPlan>,
}

impl ApplyOptions<'_> {
    /// Approved already, no report file, no saved plan (the demo).
    pub fn approved(mode: Mode) -> Self {
        Self {
            mode,
            approval: Approval::Given,
            report: None,
            expected: None,
        }
    }
}

/// `upmsync apply`.
///
/// # Errors
///
/// A report file that cannot be claimed, for `main` to print. Every other failure is printed and
/// written to the report as it happens (exit 1).
pub async fn run(
    args: &ApplyArgs,
    printer: &Printer,
    settings: &HttpSettings,
) -> anyhow::Result<Exit> {
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
    let report = ReportFile::claim(args.report.as_deref(), &manifest, args.plan.as_deref())?;
    let saved = match saved {
        Some(Ok(saved)) => Some(saved),
        Some(Err(error)) => {
            report.finish(
                printer,
                RunStatus::Stopped,
                Some(&crate::error::error_text(&error)),
                &[],
            );
            return Err(error.into());
        }
        None => None,
    };
    let instances = match &saved {
        Some((_, saved)) => saved.instances.iter().map(|i| i.name.clone()).collect(),
        None => args.selection.instances.clone(),
    };
    let desired = match load(&manifest, true, &instances) {
        Ok(desired) => desired,
        Err(error) => {
            report.finish(
                printer,
                RunStatus::Stopped,
                Some(&format!(
                    "the manifest `{}` could not be loaded (see the errors above), so nothing was changed",
                    manifest.display()
                )),
                &[],
            );
            return Err(error.into());
        }
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
    let cache = match cache(args.cache.dir().as_deref(), settings) {
        Ok(cache) => cache,
        Err(error) => {
            report.finish(
                printer,
                RunStatus::Stopped,
                Some(
                    "the cache folder cannot be used (see the error above), so nothing was changed",
                ),
                &[],
            );
            return Err(error.into());
        }
    };
    let options = ApplyOptions {
        mode,
        approval,
        report: None,
        expected: saved.as_ref().map(|(_, saved)| saved),
    };
    Ok(apply_with_report(&desired, &options, &cache, &report, printer, settings).await)
}

/// Plans and applies `desired` as `options` say. The report, when asked for, is checked writable
/// before anything else and written however apply ends.
pub async fn apply_desired(
    desired: &Desired,
    options: &ApplyOptions<'_>,
    cache: &Cache,
    printer: &Printer,
    settings: &HttpSettings,
) -> Exit {
    let report = match ReportFile::claim(options.report, &desired.manifest_path, None) {
        Ok(report) => report,
        Err(error) => {
            printer.error(&error);
            return Exit::Failure;
        }
    };
    apply_with_report(desired, options, cache, &report, printer, settings).await
}

async fn apply_with_report(
    desired: &Desired,
    options: &ApplyOptions<'_>,
    cache: &Cache,
    report: &ReportFile,
    printer: &Printer,
    settings: &HttpSettings,
) -> Exit {
    let ApplyOptions {
        mode,
        approval,
        expected,
        ..
    } = *options;
    // From here on Ctrl-C and SIGTERM are this function's to handle: before the first change they
    // stop it where it waits (nothing changed, the locks and temporary files released as their
    // owners drop); during the changes, after the change under way.
    let interrupts = interrupt::watch(printer);
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
            printer.error_text(&reason);
            report.finish(printer, RunStatus::Stopped, Some(&reason), &[]);
            return Exit::Failure;
        }
    };
    if let Some(expected) = expected {
        let stale = saved::stale_reasons(desired, &plan, expected);
        if !stale.is_empty() {
            let reason = format!(
                "the saved plan is stale, so nothing was changed:\n- {}",
                stale.join("\n- ")
            );
            printer.error_with_hint(
                &reason,
                "make a new plan with `upmsync plan --out`, review it, and apply that",
            );
            report.finish(
                printer,
                RunStatus::Stopped,
                Some(&reason),
                &not_started(&plan, "the saved plan is stale"),
            );
            return Exit::Failure;
        }
    }
    let plan_errors = report_instance_errors(printer, &plan);
    if !printer.data_or_report(&render::plan_text(&plan)) {
        report.finish(
            printer,
            RunStatus::Stopped,
            Some("the plan could not be written to stdout, so nothing was changed"),
            &not_started(&plan, "the plan could not be shown"),
        );
        return Exit::Failure;
    }
    let conflicts = report_restart_conflicts(printer, &plan);
    if !plan.has_changes() {
        printer.status(if plan_errors {
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
        let written = report.finish(printer, run_status, None, &unplanned(&plan));
        return if failed || !written {
            Exit::Failure
        } else {
            Exit::Success
        };
    }
    if mode == Mode::Apply && approval == Approval::Ask {
        // The question waits on the terminal in a thread of its own, so a signal still stops it.
        let confirmed = tokio::select! {
            answer = tokio::task::spawn_blocking({
                let printer = printer.clone();
                move || confirm(&printer)
            }) => answer.unwrap_or(false),
            signal = interrupts.wait() => {
                printer.error_text(&format!(
                    "apply cancelled ({}): nothing was changed",
                    signal.name()
                ));
                false
            }
        };
        if !confirmed {
            report.finish(
                printer,
                RunStatus::Stopped,
                Some("apply was not approved, so nothing was changed"),
                &not_started(&plan, "apply was not approved"),
            );
            return Exit::Failure;
        }
    }

    interrupts.acting();
    let verb = if mode == Mode::DryRun {
        "Checking"
    } else {
        "Applying"
    };
    let mut progress = |event: Progress<'_>| match event {
        Progress::SetUpFailed { text } => printer.error_text(text),
        Progress::Starting { instance, changes } => {
            printer.status(&format!("{verb} {changes} change(s) on {instance}..."));
        }
        Progress::Change {
            instance,
            change,
            outcome,
        } => {
            let word = match outcome {
                Outcome::Done => "done",
                Outcome::PendingRestart { .. } => "done, takes effect after a restart",
                Outcome::WouldDo => "would do",
                Outcome::Failed { .. } => "FAILED",
                Outcome::Stale { .. } => "STALE, not done",
                Outcome::NotStarted => return,
            };
            printer.status(&format!(
                "  {instance}: {word}: {}",
                render::change_line(change)
            ));
        }
    };
    let received = || interrupts.received().map(interrupt::Signal::name);
    let reports = ops::apply::apply_planned(
        desired,
        &plan,
        &ops::apply::Run {
            cache,
            mode,
            interrupted: interrupts.flag(),
            received: &received,
            lock_errors: &lock_errors,
            settings,
        },
        &mut progress,
    )
    .await;
    let mut written = printer.data_or_report(&format!("\n{}", render::apply_text(&reports)));
    let all_applied = reports.iter().all(ApplyReport::succeeded);
    let run_status = if all_applied && !plan_errors && !conflicts {
        RunStatus::Done
    } else {
        RunStatus::Failed
    };
    let mut everything = reports.clone();
    everything.extend(unplanned(&plan));
    written &= report.finish(printer, run_status, None, &everything);
    for report in reports.iter().filter(|report| report.restart_required()) {
        printer.status(&format!(
            "warning: some changes on {} take effect only after a restart of the product: restart {} (every node of a cluster); until then `upmsync plan` and `drift` show them as pending",
            report.name, report.name
        ));
    }
    if !all_applied {
        printer.error_text("not every change was applied (see the report on stdout); run `upmsync apply` again once the cause is fixed: it plans from what is installed now");
    }
    if plan_errors {
        printer.error_text("some instances could not be planned and were left unchanged");
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
fn confirm(printer: &Printer) -> bool {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        printer.error_with_hint(
            "refusing to apply without confirmation: there is no terminal to ask on",
            "review the plan above and run again with `--auto-approve`",
        );
        return false;
    }
    printer.prompt("Apply these changes? Only `yes` is accepted:");
    let mut answer = String::new();
    if stdin.lock().read_line(&mut answer).is_err() || answer.trim() != "yes" {
        printer.error_text("apply cancelled: nothing was changed");
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

/// Why the report file cannot be claimed; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// It names a file apply must not replace (the manifest, its lock, the saved plan); the
    /// text says which.
    #[error(transparent)]
    Refused(#[from] files::SameFile),
    /// It cannot be written.
    #[error("cannot write the report `{}`: {error}; nothing was changed", path.display())]
    Write {
        /// The report file.
        path: PathBuf,
        /// Why (in the message, where the report's readers have always found it).
        error: std::io::Error,
    },
}

impl ReportError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Refused(error) => error.hint(),
            Self::Write { .. } => Some("name a file in a folder you can write to".into()),
        }
    }
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
    ) -> Result<Self, ReportError> {
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
        report
            .write(RunStatus::Running, None, &[])
            .map_err(|error| ReportError::Write {
                path: path.to_path_buf(),
                error,
            })?;
        Ok(report)
    }

    /// Writes the final report; `false` (after saying why on stderr) when it cannot be written.
    fn finish(
        &self,
        printer: &Printer,
        status: RunStatus,
        reason: Option<&str>,
        instances: &[ApplyReport],
    ) -> bool {
        match self.write(status, reason, instances) {
            Ok(()) => true,
            Err(error) => {
                printer.error_text(&format!(
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
                error: Some(crate::error::error_text(&**error)),
            })
        })
        .collect()
}
