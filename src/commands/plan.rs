//! `upmsync plan`: reads live state, resolves versions and shows what apply would change.

use super::{data, load, read_and_plan, report_instance_errors, Exit, Resolve};
use crate::cli::PlanArgs;
use crate::model::Desired;
use crate::render::{self, Format};

pub async fn run(args: &PlanArgs) -> Exit {
    let Some(desired) = load(&args.manifest.file, true, &args.selection.instances) else {
        return Exit::Failure;
    };
    plan_desired(&desired, args.format, args.detailed_exitcode).await
}

pub async fn plan_desired(desired: &Desired, format: Format, detailed_exitcode: bool) -> Exit {
    let plan = read_and_plan(desired, Resolve::Artifacts).await;
    let written = data(&match format {
        Format::Text => render::plan_text(&plan),
        Format::Json => render::plan_json(&plan),
    });
    if report_instance_errors(&plan) || !written {
        Exit::Failure
    } else if detailed_exitcode && plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Success
    }
}
