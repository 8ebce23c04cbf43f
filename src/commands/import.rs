//! `upmsync import`: reads the live instances a manifest names and prints (stdout) a manifest that
//! pins every user-installed app at its installed version and enabled state.

use anyhow::Context;

use super::{load_without_licenses, Exit};
use crate::cli::ImportArgs;
use crate::http::HttpSettings;
use crate::ops;
use crate::printer::Printer;
use crate::render;

/// `upmsync import`: exit 0 with the manifest on stdout; 1 when the manifest cannot be loaded, an
/// instance cannot be read (nothing is printed), or the Marketplace could not be asked about an
/// app (the manifest is printed, that app marked in a comment, and the error on stderr).
///
/// # Errors
///
/// A manifest that cannot be loaded, an instance that cannot be read, or a Marketplace client
/// that cannot be built, for `main` to print.
pub async fn run(
    args: &ImportArgs,
    printer: &Printer,
    settings: &HttpSettings,
) -> anyhow::Result<Exit> {
    let path = &args.manifest.file;
    let desired = load_without_licenses(path, &args.selection.instances)?;
    // The loader accepted the file: read it once more as written (variable names, paths).
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read manifest `{}`", path.display()))?;
    let written = crate::manifest::written(&text, path)?;
    let imported = ops::import::import(&desired, &written, settings).await?;
    let from = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let unchecked = imported.unchecked();
    for (instance, key, error) in &unchecked {
        printer.error_text(&format!(
            "instance `{instance}`: app `{key}`: cannot ask the Marketplace whether it lists the app: {error}"
        ));
    }
    if !printer.data_or_report(&render::import_yaml(&imported, &from)) || !unchecked.is_empty() {
        Ok(Exit::Failure)
    } else {
        Ok(Exit::Success)
    }
}
