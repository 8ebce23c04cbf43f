//! `upmsync validate`: checks the manifest offline.

use super::{load, Exit};
use crate::cli::ValidateArgs;
use crate::model::{Desired, DesiredState};
use crate::printer::Printer;

/// Loads and validates the manifest; prints its summary.
///
/// # Errors
///
/// The manifest's problems ([`crate::manifest::ManifestError`]), for `main` to print.
pub fn run(args: &ValidateArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let desired = load(&args.manifest.file, !args.skip_secrets, &[])?;
    printer.status(&summary(&desired));
    Ok(Exit::Success)
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
