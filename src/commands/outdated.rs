//! `upmsync outdated`: per instance and app, the installed version, the wanted one (as the manifest
//! or lock resolves it) and the newest version compatible with the instance's product build.

use crate::http::HttpSettings;
use serde::Serialize;

use super::{load_without_licenses, read_and_plan, Exit};
use crate::cli::OutdatedArgs;
use crate::execute::error_text;
use crate::marketplace::{Criteria, MarketplaceClient};
use crate::model::{Desired, DesiredInstance, DesiredState, ProductInfo, Source};
use crate::plan::PlannedInstance;
use crate::printer::Printer;
use crate::render::Format;

#[derive(Serialize)]
struct Report {
    format_version: u32,
    instances: Vec<InstanceRow>,
}

#[derive(Serialize)]
struct InstanceRow {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    product: Option<ProductInfo>,
    apps: Vec<AppRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct AppRow {
    key: String,
    installed: Option<String>,
    /// What the manifest asks for, as written.
    requested: String,
    /// What that resolves to now (null where it could not be resolved).
    wanted: Option<String>,
    /// The newest version compatible with the instance (Marketplace apps only).
    newest_compatible: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `upmsync outdated`.
///
/// # Errors
///
/// A manifest that cannot be loaded, for `main` to print.
pub async fn run(
    args: &OutdatedArgs,
    printer: &Printer,
    settings: &HttpSettings,
) -> anyhow::Result<Exit> {
    let desired = load_without_licenses(&args.manifest.file, &args.selection.instances)?;
    Ok(outdated_desired(&desired, args.format, printer, settings).await)
}

/// Prints, per instance and app, the installed, wanted and latest compatible version.
pub async fn outdated_desired(
    desired: &Desired,
    format: Format,
    printer: &Printer,
    settings: &HttpSettings,
) -> Exit {
    let marketplace = match MarketplaceClient::new(&desired.marketplace_url, settings) {
        Ok(marketplace) => marketplace,
        Err(error) => {
            printer.error_text(&format!(
                "failed to set up an HTTP client\nCaused by: {}",
                error_text(&error)
            ));
            return Exit::Failure;
        }
    };
    // The wanted versions come from the same resolution `plan` does (lock included).
    let plan = read_and_plan(desired, settings).await;
    let mut rows = Vec::new();
    for (instance, planned) in desired.instances.iter().zip(&plan.instances) {
        rows.push(instance_row(instance, planned, &marketplace).await);
    }
    let failed = rows
        .iter()
        .any(|row| row.error.is_some() || row.apps.iter().any(|app| app.error.is_some()));
    for row in &rows {
        if let Some(error) = &row.error {
            printer.error_text(&format!("instance `{}`: {error}", row.name));
        }
    }
    let text = match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&Report {
                format_version: 1,
                instances: rows,
            })
            .unwrap_or_default();
            text.push('\n');
            text
        }
        Format::Text => render_text(&rows),
    };
    if !printer.data_or_report(&text) || failed {
        Exit::Failure
    } else {
        Exit::Success
    }
}

/// One instance, from the plan's single read: the plan's error (a version that does not exist, an
/// incompatible pin, a stale lock) is the row's error.
async fn instance_row(
    instance: &DesiredInstance,
    planned: &PlannedInstance,
    marketplace: &MarketplaceClient,
) -> InstanceRow {
    let Some(live) = &planned.live else {
        return InstanceRow {
            name: instance.name.clone(),
            product: None,
            apps: Vec::new(),
            error: planned.result.as_ref().err().cloned(),
        };
    };
    let planned_ok = planned.result.as_ref().ok();
    let product = live.product.as_ref().ok().cloned();
    let mut apps = Vec::new();
    for app in instance.apps.values() {
        let DesiredState::Present(present) = &app.state else {
            continue;
        };
        let installed = live
            .apps
            .get(&app.key)
            .map(|live_app| live_app.version.to_string());
        // The plan's change for this app holds the resolved version; no change means the installed one.
        let wanted = match planned_ok {
            Some(plan) => plan
                .changes
                .iter()
                .find(|change| change.key == app.key && change.action().installs())
                .and_then(|change| change.op.to_version().map(ToString::to_string))
                .or_else(|| installed.clone()),
            None => None,
        };
        let (newest_compatible, error) = match (&present.source, &product) {
            (Source::Marketplace, Some(product)) => {
                let criteria = Criteria {
                    application: instance.product.marketplace_application(),
                    build: product.build,
                    hosting: instance.hosting_of(present),
                };
                match marketplace.latest(&app.key, &criteria).await {
                    Ok(latest) => (Some(latest.name), None),
                    Err(error) => (None, Some(error_text(&error))),
                }
            }
            _ => (None, None),
        };
        apps.push(AppRow {
            key: app.key.to_string(),
            installed,
            requested: present.version.to_string(),
            wanted,
            newest_compatible,
            error,
        });
    }
    InstanceRow {
        name: instance.name.clone(),
        product,
        apps,
        error: planned.result.as_ref().err().cloned(),
    }
}

fn render_text(rows: &[InstanceRow]) -> String {
    let mut out = String::new();
    for row in rows {
        let product = row
            .product
            .as_ref()
            .map(|product| format!(" ({} build {})", product.version, product.build))
            .unwrap_or_default();
        out.push_str(&format!("Instance {}{product}\n", row.name));
        if let Some(error) = &row.error {
            out.push_str(&format!(
                "  error: {} (details on stderr)\n",
                error.lines().next().unwrap_or("")
            ));
            continue;
        }
        let header = [
            "app",
            "installed",
            "requested",
            "wanted",
            "newest compatible",
        ];
        let table: Vec<[String; 5]> = row
            .apps
            .iter()
            .map(|app| {
                let dash = || "-".to_string();
                [
                    app.key.clone(),
                    app.installed.clone().unwrap_or_else(dash),
                    app.requested.clone(),
                    app.wanted.clone().unwrap_or_else(dash),
                    match (&app.newest_compatible, &app.error) {
                        (Some(newest), _) => newest.clone(),
                        (None, Some(error)) => {
                            format!("error: {}", error.lines().next().unwrap_or(""))
                        }
                        (None, None) => dash(),
                    },
                ]
            })
            .collect();
        let widths: Vec<usize> = (0..5)
            .map(|column| {
                table
                    .iter()
                    .map(|line| line[column].len())
                    .chain([header[column].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: [&str; 5]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            format!("  {}\n", padded.join("  ").trim_end())
        };
        out.push_str(&line(header));
        for cells in &table {
            out.push_str(&line([
                &cells[0], &cells[1], &cells[2], &cells[3], &cells[4],
            ]));
        }
    }
    out
}
