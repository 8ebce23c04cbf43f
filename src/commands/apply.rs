//! `upmsync apply`: loads the manifest (or a saved plan), runs [`ops::apply`] with a terminal
//! [`Front`] (the plan on stdout, the question on stdin, progress on stderr), then prints the
//! summary and writes the `--report` file however apply ended. Ctrl-C or SIGTERM stops after the
//! change under way and still reports; the instance locks are OS file locks, which end with their
//! process however it ends.

use crate::http::HttpSettings;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::{cache, load, report_instance_errors, Exit};
use crate::cli::ApplyArgs;
use crate::execute::{ApplyReport, Mode};
use crate::files;
use crate::interrupt;
use crate::marketplace::download::Cache;
use crate::model::Desired;
use crate::ops::{
    self,
    apply::{ApplyRun, Front, Progress, Stop},
};
use crate::plan::Plan;
use crate::printer::Printer;
use crate::render;
use crate::saved::SavedPlan;

/// Reports, on stderr, the changes waiting for a restart that contradict the manifest: apply
/// cannot act on those apps before the restart, so the instance will not match the manifest.
fn report_restart_conflicts(printer: &Printer, plan: &Plan) {
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
            }
        }
    }
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
    /// How many instances are applied at once (`--parallelism`).
    pub parallelism: usize,
}

impl ApplyOptions<'_> {
    /// Approved already, no report file, no saved plan (the demo).
    pub fn approved(mode: Mode) -> Self {
        Self {
            mode,
            approval: Approval::Given,
            report: None,
            expected: None,
            parallelism: ops::apply::DEFAULT_PARALLELISM,
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
        parallelism: args.parallelism,
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
    // From here on Ctrl-C and SIGTERM are apply's to handle: before the first change they stop it
    // where it waits (nothing changed, the locks and temporary files released as their owners
    // drop); during the changes, after the change under way.
    let interrupts = interrupt::watch(printer);
    let request = ops::apply::Request {
        desired,
        cache,
        mode: options.mode,
        expected: options.expected,
        settings,
        interrupts: &interrupts,
        parallelism: options.parallelism,
    };
    let mut front = Terminal {
        printer,
        approval: options.approval,
        verb: if options.mode == Mode::DryRun {
            "Checking"
        } else {
            "Applying"
        },
        shown: None,
    };
    let run = ops::apply::apply(&request, &mut front).await;
    // The live progress goes before the summary: each change is in it once more, with its outcome.
    printer.progress_end();
    match run {
        ApplyRun::Stopped { stop, plan } => {
            stopped(printer, report, plan.as_ref(), &stop);
            Exit::Failure
        }
        ApplyRun::NothingToApply { plan } => nothing_to_apply(printer, report, &plan),
        ApplyRun::Applied {
            plan,
            reports,
            interrupted,
        } => applied(printer, report, &plan, reports, interrupted),
    }
}

/// Apply at a terminal (or in CI): the plan and progress on the printer, the question on stdin.
///
/// What a user sees of each change (docs/terminal.md): the plan, before approval; one line while
/// the change runs (live at a terminal, where it goes when the change ends; else a plain
/// status line as it starts); and one line in the summary, with its outcome.
struct Terminal<'a> {
    printer: &'a Printer,
    approval: Approval,
    /// `Applying`, or `Checking` for `--dry-run`.
    verb: &'static str,
    /// The plan as shown on stdout, for the question to show on stderr when stdout is not a
    /// terminal.
    shown: Option<String>,
}

impl Front for Terminal<'_> {
    fn show(&mut self, plan: &Plan) -> bool {
        report_instance_errors(self.printer, plan);
        let text = render::plan_text(plan);
        if !self.printer.data_text_or_report(&text) {
            return false;
        }
        self.shown = Some(text);
        report_restart_conflicts(self.printer, plan);
        true
    }

    fn approval(&mut self) -> Option<Box<dyn FnOnce() -> bool + Send>> {
        match self.approval {
            Approval::Given => None,
            Approval::Ask => {
                let printer = self.printer.clone();
                let terminal = printer.terminal();
                // `apply > out.txt` at a terminal: the plan went to the file, so the person asked
                // sees it on stderr first; nobody approves a plan they did not see.
                if terminal.stdin && !terminal.stdout {
                    if let Some(plan) = &self.shown {
                        printer.text_for_prompt(plan);
                    }
                }
                Some(Box::new(move || confirm(&printer)))
            }
        }
    }

    fn progress(&mut self, event: Progress<'_>) {
        let printer = self.printer;
        match event {
            Progress::SetUpFailed { text } => printer.error_text(text),
            Progress::Starting { instance, changes } => {
                printer.status(&format!(
                    "{} {changes} change(s) on {instance}...",
                    self.verb
                ));
                // Until its first change starts (checks, artifacts): said live at a terminal.
                printer.progress_instance_live(
                    instance,
                    &format!("checking the instance and the artifacts of {changes} change(s)"),
                );
            }
            // Shown while it runs (the printer hears of its start, `notice::Activity`) and in
            // the summary, with this outcome: not a third time here.
            Progress::Change { .. } => {}
            Progress::Finished { instance } => printer.progress_instance_end(instance),
        }
    }
}

/// Says why apply stopped before the first change, on stderr and in the report.
fn stopped(printer: &Printer, report: &ReportFile, plan: Option<&Plan>, stop: &Stop) {
    let (reason, not_started_because) = match stop {
        Stop::InterruptedReading(signal) => {
            let reason = format!(
                "interrupted ({}) while reading the instances: nothing was changed",
                signal.name()
            );
            printer.error_text(&reason);
            (reason, None)
        }
        Stop::Stale(stale) => {
            let reason = format!(
                "the saved plan is stale, so nothing was changed:\n- {}",
                stale.join("\n- ")
            );
            printer.error_with_hint(
                &reason,
                "make a new plan with `upmsync plan --out`, review it, and apply that",
            );
            (reason, Some("the saved plan is stale"))
        }
        Stop::NotShown => (
            "the plan could not be written to stdout, so nothing was changed".to_string(),
            Some("the plan could not be shown"),
        ),
        Stop::Cancelled(signal) => {
            printer.error_text(&format!(
                "apply cancelled ({}): nothing was changed",
                signal.name()
            ));
            (
                "apply was not approved, so nothing was changed".to_string(),
                Some("apply was not approved"),
            )
        }
        Stop::NotApproved => (
            "apply was not approved, so nothing was changed".to_string(),
            Some("apply was not approved"),
        ),
    };
    let instances = match (plan, not_started_because) {
        (Some(plan), Some(because)) => not_started(plan, because),
        _ => Vec::new(),
    };
    report.finish(printer, RunStatus::Stopped, Some(&reason), &instances);
}

/// Every instance matches the manifest (or waits for a restart, or could not be planned).
fn nothing_to_apply(printer: &Printer, report: &ReportFile, plan: &Plan) -> Exit {
    let plan_errors = plan.has_errors();
    printer.status(if plan_errors {
        "Nothing to apply on the instances that could be planned."
    } else if plan.has_pending_restarts() {
        "Nothing to apply now: the changes shown wait for a restart of the product."
    } else {
        "Nothing to apply: every instance matches the manifest."
    });
    let failed = plan_errors || plan.has_conflicts();
    let run_status = if failed {
        RunStatus::Failed
    } else {
        RunStatus::NothingToApply
    };
    let written = report.finish(printer, run_status, None, &unplanned(plan));
    if failed || !written {
        Exit::Failure
    } else {
        Exit::Success
    }
}

/// Changes were carried out: the summary on stdout, the report, and what to do next.
fn applied(
    printer: &Printer,
    report: &ReportFile,
    plan: &Plan,
    reports: Vec<ApplyReport>,
    interrupted: Option<interrupt::Signal>,
) -> Exit {
    let (plan_errors, conflicts) = (plan.has_errors(), plan.has_conflicts());
    let mut written = printer.data_text_or_report(&format!("\n{}", render::apply_text(&reports)));
    let all_applied = reports.iter().all(ApplyReport::succeeded);
    let run_status = if all_applied && !plan_errors && !conflicts {
        RunStatus::Done
    } else {
        RunStatus::Failed
    };
    let mut everything = reports;
    let applied = everything.len();
    everything.extend(unplanned(plan));
    written &= report.finish(printer, run_status, None, &everything);
    for report in everything[..applied]
        .iter()
        .filter(|report| report.restart_required())
    {
        printer.warn(&format!(
            "some changes on {} take effect only after a restart of the product: restart {} (every node of a cluster); until then `upmsync plan` and `drift` show them as pending",
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
    if all_applied && !plan_errors && !conflicts && written && interrupted.is_none() {
        Exit::Success
    } else {
        Exit::Failure
    }
}

/// Asks for `yes` on the terminal. Without a terminal, refuses: CI must say `--auto-approve`.
fn confirm(printer: &Printer) -> bool {
    let stdin = std::io::stdin();
    // `Terminal::stdin`: a terminal, or a test that says it is one.
    if !printer.terminal().stdin {
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
fn not_started(plan: &Plan, reason: &str) -> Vec<ApplyReport> {
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
fn unplanned(plan: &Plan) -> Vec<ApplyReport> {
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
