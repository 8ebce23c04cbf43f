//! `upmsync validate`'s summary of a valid manifest.

use crate::model::{Desired, DesiredState};

/// `apps.yaml is valid: 2 instance(s), 5 app(s)`.
pub fn validate_summary(desired: &Desired) -> String {
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
