//! `upmsync plan`: reads live state, resolves versions and shows what apply would change.

use crate::http::HttpSettings;
use std::path::Path;

use super::{load, read_and_plan, report_instance_errors, Exit};
use crate::cli::PlanArgs;
use crate::files;
use crate::model::Desired;
use crate::printer::Printer;
use crate::render::{self, Format};
use crate::saved;

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

/// Plans `desired`, prints the plan (and saves it to `out`); with `detailed_exitcode`, exit 2
/// when `drift` would find drift ([`crate::plan::Plan::has_drift`]).
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
            printer.error(&error);
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
        } else if let Err(error) = saved::save(desired, &plan, out) {
            printer.error(&error);
            return Exit::Failure;
        } else {
            printer.status(&format!(
                "Saved the plan to `{}`; apply exactly it with `upmsync apply {}`.",
                out.display(),
                out.display()
            ));
        }
    }
    let written = printer.data_or_report_styled(
        format == Format::Text,
        &match format {
            Format::Text => render::plan_text(&plan),
            Format::Json => render::plan_json(&plan),
            Format::Markdown => render::plan_markdown(&plan),
        },
    );
    if report_instance_errors(printer, &plan) || !written {
        Exit::Failure
    } else if detailed_exitcode && plan.has_drift() {
        // The same answer as `drift` on the same state: changes to make, apps reported under
        // `unmanaged: report`, and changes waiting for a restart all mean the instances are not
        // (yet) what the manifest says.
        Exit::Changes
    } else {
        Exit::Success
    }
}
