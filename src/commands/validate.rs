//! `upmsync validate`: checks the manifest offline.

use super::{load, Exit};
use crate::cli::ValidateArgs;
use crate::printer::Printer;

/// Loads and validates the manifest; prints its summary.
///
/// # Errors
///
/// The manifest's problems ([`crate::manifest::ManifestError`]), for `main` to print.
pub fn run(args: &ValidateArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let desired = load(
        &args.manifest.file,
        !args.skip_secrets,
        &args.selection.instances,
    )?;
    printer.status(&crate::render::validate_summary(&desired));
    Ok(Exit::Success)
}
