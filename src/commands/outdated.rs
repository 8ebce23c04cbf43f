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
    match &args.product_version {
        Some(version) => readiness(&desired, version, args.format, printer, settings).await,
        None => outdated_desired(&desired, args.format, printer, settings).await,
    }
}

/// Prints, per instance and user-installed app, whether the installed version is compatible with
/// `product_version`, and which versions are when it is not: exit 2 when some app must change, 1
/// when an instance or app could not be answered for.
///
/// # Errors
///
/// A Marketplace client that cannot be built.
pub async fn readiness(
    desired: &Desired,
    product_version: &str,
    format: Format,
    printer: &Printer,
    settings: &HttpSettings,
) -> anyhow::Result<Exit> {
    let readiness = ops::readiness::readiness(desired, product_version, settings).await?;
    for instance in &readiness.instances {
        if let Some(error) = &instance.error {
            printer.error_text(&format!("instance `{}`: {error}", instance.name));
        }
        for app in &instance.apps {
            if let Some(error) = &app.error {
                printer.error_text(&format!(
                    "instance `{}`: app `{}`: {error}",
                    instance.name, app.key
                ));
            }
        }
    }
    let text = match format {
        Format::Json => render::readiness_json(&readiness),
        Format::Text => render::readiness_text(&readiness),
        Format::Markdown => render::readiness_markdown(&readiness),
    };
    Ok(if !printer.data_or_report(&text) || readiness.failed() {
        Exit::Failure
    } else if readiness.must_change() {
        Exit::Changes
    } else {
        Exit::Success
    })
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
