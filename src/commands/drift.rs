//! `upmsync drift`: a read-only check for monitoring. Exit 0 in sync, 2 drift, 1 error.

use super::{load, read_drift, report_instance_errors, Exit};
use crate::cli::DriftArgs;
use crate::http::HttpSettings;
use crate::model::Desired;
use crate::printer::Printer;
use crate::render::{self, Format};

/// `upmsync drift`.
///
/// # Errors
///
/// A manifest that cannot be loaded, for `main` to print.
pub async fn run(
    args: &DriftArgs,
    printer: &Printer,
    settings: &HttpSettings,
) -> anyhow::Result<Exit> {
    let desired = load(&args.manifest.file, true, &args.selection.instances)?;
    Ok(drift_desired(&desired, args.format, printer, settings).await)
}

/// Reads and compares `desired`'s instances, prints the drift; exit 2 on drift.
pub async fn drift_desired(
    desired: &Desired,
    format: Format,
    printer: &Printer,
    settings: &HttpSettings,
) -> Exit {
    // Drift needs no artifacts: the Marketplace is not asked, so monitoring works from hosts that
    // reach only the instances.
    let plan = read_drift(desired, settings).await;
    let written = printer.data_or_report_styled(
        format == Format::Text,
        &match format {
            Format::Text => render::drift_text(&plan),
            Format::Json => render::drift_json(&plan),
            Format::Markdown => render::drift_markdown(&plan),
        },
    );
    if report_instance_errors(printer, &plan) || !written {
        Exit::Failure
    } else if plan.has_drift() {
        Exit::Changes
    } else {
        Exit::Success
    }
}
