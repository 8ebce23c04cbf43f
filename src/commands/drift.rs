//! `upmsync drift`: a read-only check for monitoring. Exit 0 in sync, 2 drift, 1 error.

use super::{data, load, read_drift, report_instance_errors, Exit};
use crate::cli::DriftArgs;
use crate::http::HttpSettings;
use crate::model::Desired;
use crate::render::{self, Format};

pub async fn run(args: &DriftArgs, settings: &HttpSettings) -> Exit {
    let Some(desired) = load(&args.manifest.file, true, &args.selection.instances) else {
        return Exit::Failure;
    };
    drift_desired(&desired, args.format, settings).await
}

pub async fn drift_desired(desired: &Desired, format: Format, settings: &HttpSettings) -> Exit {
    // Drift needs no artifacts: the Marketplace is not asked, so monitoring works from hosts that
    // reach only the instances.
    let plan = read_drift(desired, settings).await;
    let written = data(&match format {
        Format::Text => render::drift_text(&plan),
        Format::Json => render::drift_json(&plan),
    });
    if report_instance_errors(&plan) || !written {
        Exit::Failure
    } else if plan.has_drift() {
        Exit::Changes
    } else {
        Exit::Success
    }
}
