//! `upmsync drift`: a read-only check for monitoring. Exit 0 in sync, 2 drift, 1 error. With
//! `--metrics-file`, the check's Prometheus metrics are written too (`crate::metrics`), also when
//! an instance or the manifest cannot be read.

use std::path::Path;

use super::{load, read_drift_timed, report_instance_errors, Exit};
use crate::cli::DriftArgs;
use crate::http::HttpSettings;
use crate::metrics::{self, Check};
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
    let desired = match load(&args.manifest.file, true, &args.selection.instances) {
        Ok(desired) => desired,
        Err(error) => {
            // The metrics say the manifest failed, so no earlier "in sync" stays in the file.
            if let Some(path) = &args.metrics_file {
                if let Err(failed) = metrics::render_manifest_error()
                    .and_then(|text| metrics::write_file(path, &text))
                {
                    printer.error(&failed);
                }
            }
            return Err(error.into());
        }
    };
    Ok(drift_measured(
        &desired,
        args.format,
        args.metrics_file.as_deref(),
        printer,
        settings,
    )
    .await)
}

/// Reads and compares `desired`'s instances, prints the drift; exit 2 on drift.
pub async fn drift_desired(
    desired: &Desired,
    format: Format,
    printer: &Printer,
    settings: &HttpSettings,
) -> Exit {
    drift_measured(desired, format, None, printer, settings).await
}

/// [`drift_desired`], also writing the check's metrics to `metrics_file` when given (a file that
/// cannot be written is an error: exit 1).
pub async fn drift_measured(
    desired: &Desired,
    format: Format,
    metrics_file: Option<&Path>,
    printer: &Printer,
    settings: &HttpSettings,
) -> Exit {
    // Drift needs no artifacts: the Marketplace is not asked, so monitoring works from hosts that
    // reach only the instances.
    let (plan, durations) = read_drift_timed(desired, settings).await;
    let (plan, metrics_written) = match metrics_file {
        Some(path) => {
            let check = Check::new(desired, plan, durations);
            let written =
                metrics::render(&check, None).and_then(|text| metrics::write_file(path, &text));
            if let Err(error) = &written {
                printer.error(error);
            }
            (check.drift, written.is_ok())
        }
        None => (plan, true),
    };
    let written = printer.data_or_report_styled(
        format == Format::Text,
        &match format {
            Format::Text => render::drift_text(&plan),
            Format::Json => render::drift_json(&plan),
            Format::Markdown => render::drift_markdown(&plan),
        },
    );
    if report_instance_errors(printer, &plan) || !written || !metrics_written {
        Exit::Failure
    } else if plan.has_drift() {
        Exit::Changes
    } else {
        Exit::Success
    }
}
