//! `upmsync plan`: reads live state, resolves versions and shows what apply would change.

use crate::http::HttpSettings;
use std::path::Path;

use super::{load, read_and_plan, report_instance_errors, Exit};
use crate::cli::PlanArgs;
use crate::files;
use crate::model::Desired;
use crate::plan::Plan;
use crate::printer::Printer;
use crate::render::{self, Format};
use crate::saved::{self, SavedInstance, SavedPlan};

/// `upmsync plan`.
///
/// # Errors
///
/// A manifest that cannot be loaded, for `main` to print.
pub async fn run(
    args: &PlanArgs,
    printer: &Printer,
    settings: &HttpSettings,
) -> anyhow::Result<Exit> {
    let desired = load(&args.manifest.file, true, &args.selection.instances)?;
    Ok(plan_desired(
        &desired,
        args.format,
        args.detailed_exitcode,
        args.out.as_deref(),
        printer,
        settings,
    )
    .await)
}

/// Plans `desired`, prints the plan (and saves it to `out`); exit 2 on changes with
/// `detailed_exitcode`.
pub async fn plan_desired(
    desired: &Desired,
    format: Format,
    detailed_exitcode: bool,
    out: Option<&Path>,
    printer: &Printer,
    settings: &HttpSettings,
) -> Exit {
    if let Some(out) = out {
        // Checked before anything is read: the saved plan must never replace the manifest or
        // its lock.
        let lock = crate::lock::path_for(&desired.manifest_path);
        let refused = files::refuse_same(out, &desired.manifest_path, "the plan", "the manifest")
            .and_then(|()| files::refuse_same(out, &lock, "the plan", "the manifest's lock file"));
        if let Err(error) = refused {
            printer.error_text(&error);
            return Exit::Failure;
        }
    }
    let plan = read_and_plan(desired, settings).await;
    if let Some(out) = out {
        if plan.has_errors() {
            printer.error_text(&format!(
                "the plan has errors, so it was not saved to `{}`",
                out.display()
            ));
        } else if let Err(error) = save(desired, &plan, out) {
            printer.error_text(&error);
            return Exit::Failure;
        } else {
            printer.status(&format!(
                "Saved the plan to `{}`; apply exactly it with `upmsync apply {}`.",
                out.display(),
                out.display()
            ));
        }
    }
    let written = printer.data_or_report(&match format {
        Format::Text => render::plan_text(&plan),
        Format::Json => render::plan_json(&plan),
    });
    if report_instance_errors(printer, &plan) || !written {
        Exit::Failure
    } else if detailed_exitcode && (plan.has_changes() || plan.has_conflicts()) {
        Exit::Changes
    } else {
        Exit::Success
    }
}

/// Writes the saved plan: the changes and the fingerprints they were computed from.
fn save(desired: &Desired, plan: &Plan, out: &Path) -> Result<(), String> {
    let manifest_sha256 = saved::file_sha256(&desired.manifest_path)
        .map_err(|error| format!("cannot read `{}`: {error}", desired.manifest_path.display()))?
        .unwrap_or_default();
    let lock_path = crate::lock::path_for(&desired.manifest_path);
    let lock_sha256 = saved::file_sha256(&lock_path)
        .map_err(|error| format!("cannot read `{}`: {error}", lock_path.display()))?;
    let instances = plan
        .instances
        .iter()
        .map(|instance| SavedInstance {
            name: instance.name.clone(),
            live_sha256: instance
                .live
                .as_ref()
                .map(saved::live_fingerprint)
                .unwrap_or_default(),
            changes: instance
                .result
                .as_ref()
                .map(saved::saved_changes)
                .unwrap_or_default(),
            files: instance
                .result
                .as_ref()
                .map(saved::read_file_fingerprints)
                .unwrap_or_default(),
        })
        .collect();
    let saved = SavedPlan {
        saved_plan_version: saved::SAVED_PLAN_VERSION,
        manifest: saved::relative_manifest(&desired.manifest_path, out),
        manifest_sha256,
        lock_sha256,
        instances,
    };
    saved
        .write(out)
        .map_err(|error| crate::execute::error_text(&error))
}
