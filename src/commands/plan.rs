//! `upmsync plan`: reads live state, resolves versions and shows what apply would change.

use super::{data, load, read_and_plan, report_error_text, select, Exit, Resolve};
use crate::cli::PlanArgs;
use crate::model::Desired;
use crate::render::{self, Format};

pub async fn run(args: &PlanArgs) -> Exit {
    let Some(desired) = load(&args.manifest.file, true) else {
        return Exit::Failure;
    };
    plan_desired(
        &desired,
        &args.selection.instances,
        args.format,
        args.detailed_exitcode,
    )
    .await
}

pub async fn plan_desired(
    desired: &Desired,
    names: &[String],
    format: Format,
    detailed_exitcode: bool,
) -> Exit {
    let instances = match select(desired, names) {
        Ok(instances) => instances,
        Err(error) => {
            report_error_text(&error);
            return Exit::Failure;
        }
    };
    let plan = read_and_plan(desired, &instances, Resolve::Artifacts).await;
    data(&match format {
        Format::Text => render::plan_text(&plan),
        Format::Json => render::plan_json(&plan),
    });
    if plan.has_errors() {
        report_error_text("some instances could not be planned (see above)");
        Exit::Failure
    } else if detailed_exitcode && plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Success
    }
}
