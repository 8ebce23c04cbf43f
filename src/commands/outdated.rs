//! `upmsync outdated`: per instance and app, the installed version, the wanted one (as the manifest
//! or lock resolves it) and the newest version compatible with the instance's product build.

use super::{load_without_licenses, Exit};
use crate::cli::OutdatedArgs;
use crate::http::HttpSettings;
use crate::model::Desired;
use crate::ops;
use crate::printer::Printer;
use crate::render::{self, Format};

/// `upmsync outdated`.
///
/// # Errors
///
/// A manifest that cannot be loaded, or a Marketplace client that cannot be built, for `main` to
/// print.
pub async fn run(
    args: &OutdatedArgs,
    printer: &Printer,
    settings: &HttpSettings,
) -> anyhow::Result<Exit> {
    let desired = load_without_licenses(&args.manifest.file, &args.selection.instances)?;
    outdated_desired(&desired, args.format, printer, settings).await
}

/// Prints, per instance and app, the installed, wanted and latest compatible version.
///
/// # Errors
///
/// A Marketplace client that cannot be built.
pub async fn outdated_desired(
    desired: &Desired,
    format: Format,
    printer: &Printer,
    settings: &HttpSettings,
) -> anyhow::Result<Exit> {
    let rows = ops::outdated::outdated(desired, settings).await?;
    let failed = rows
        .iter()
        .any(|row| row.error.is_some() || row.apps.iter().any(|app| app.error.is_some()));
    for row in &rows {
        if let Some(error) = &row.error {
            printer.error_text(&format!("instance `{}`: {error}", row.name));
        }
    }
    let text = match format {
        Format::Json => render::outdated_json(&rows),
        Format::Text => render::outdated_text(&rows),
        Format::Markdown => render::outdated_markdown(&rows),
    };
    if !printer.data_or_report(&text) || failed {
        Ok(Exit::Failure)
    } else {
        Ok(Exit::Success)
    }
}
