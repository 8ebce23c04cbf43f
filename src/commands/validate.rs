//! `upmsync validate`: checks the manifest offline.

use super::{load, status, Exit};
use crate::cli::ValidateArgs;
use crate::model::{Desired, DesiredState};

pub fn run(args: &ValidateArgs) -> Exit {
    match load(&args.manifest.file, !args.skip_secrets, &[]) {
        Some(desired) => {
            status(&summary(&desired));
            Exit::Success
        }
        None => Exit::Failure,
    }
}

/// `apps.yaml is valid: 2 instance(s), 5 app(s)`.
pub fn summary(desired: &Desired) -> String {
    let instances = desired.instances.len();
    let mut lines = vec![format!(
        "`{}` is valid: {instances} instance(s)",
        desired.manifest_path.display()
    )];
    for instance in &desired.instances {
        let present = instance
            .apps
            .values()
            .filter(|app| matches!(app.state, DesiredState::Present(_)))
            .count();
        let absent = instance.apps.len() - present;
        lines.push(format!(
            "  {} ({}, {}): {present} app(s) wanted, {absent} absent",
            instance.name,
            instance.product,
            crate::model::redact_url(&instance.url)
        ));
    }
    lines.join("\n")
}
