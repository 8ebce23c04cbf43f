//! `upmsync outdated`'s rows to text (a table per instance) or JSON, and its readiness for a
//! product version (`--product-version`) likewise.

use crate::ops::outdated::InstanceRow;
use crate::ops::readiness::{Readiness, Status};

/// `upmsync outdated` as JSON: `{format_version: 1, instances: [...]}`.
pub fn outdated_json(rows: &[InstanceRow]) -> String {
    #[derive(serde::Serialize)]
    struct Report<'a> {
        format_version: u32,
        instances: &'a [InstanceRow],
    }
    let mut text = serde_json::to_string_pretty(&Report {
        format_version: 1,
        instances: rows,
    })
    .unwrap_or_default();
    text.push('\n');
    text
}

/// `upmsync outdated` as text: a table per instance.
pub fn outdated_text(rows: &[InstanceRow]) -> String {
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
                        (None, None) if app.in_house => "- (in-house)".to_string(),
                        (None, Some(error)) => {
                            format!("error: {}", error.lines().next().unwrap_or(""))
                        }
                        (None, None) => dash(),
                    },
                ]
            })
            .collect();
        out.push_str(&table_text(&header, &table));
    }
    out
}

/// A table indented by two spaces, each column as wide as its widest cell, trailing spaces cut.
fn table_text<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .chain([header[column].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// `upmsync outdated --product-version` as JSON: `{format_version: 1, product_version,
/// instances: [...]}`.
pub fn readiness_json(readiness: &Readiness) -> String {
    #[derive(serde::Serialize)]
    struct Report<'a> {
        format_version: u32,
        #[serde(flatten)]
        readiness: &'a Readiness,
    }
    let mut text = serde_json::to_string_pretty(&Report {
        format_version: 1,
        readiness,
    })
    .unwrap_or_default();
    text.push('\n');
    text
}

/// What a status reads as in text.
fn status_text(status: Status) -> &'static str {
    match status {
        Status::Compatible => "compatible",
        Status::Incompatible => "incompatible",
        Status::NoCompatibleVersion => "no compatible version",
        Status::Unknown => "unknown",
    }
}

/// `upmsync outdated --product-version` as text: a table per instance, then one line that says
/// how many apps must change.
pub fn readiness_text(readiness: &Readiness) -> String {
    let mut out = String::new();
    let mut must_change = 0;
    let mut unknown = 0;
    let mut apps = 0;
    for instance in &readiness.instances {
        let current = instance
            .current
            .as_ref()
            .map(|current| format!("{} build {}", current.version, current.build))
            .unwrap_or_else(|| "version unknown".into());
        let target = instance.target.as_ref().map_or_else(
            || readiness.product_version.clone(),
            |target| format!("{} build {}", target.version, target.build),
        );
        out.push_str(&format!(
            "Instance {} ({} {current} -> {target})\n",
            instance.name, instance.product
        ));
        if let Some(error) = &instance.error {
            out.push_str(&format!(
                "  error: {} (details on stderr)\n",
                error.lines().next().unwrap_or("")
            ));
            continue;
        }
        if instance.apps.is_empty() {
            out.push_str("  no user-installed apps\n");
            continue;
        }
        let header = [
            "app",
            "installed",
            "status",
            "lowest compatible",
            "newest compatible",
            "note",
        ];
        let rows: Vec<[String; 6]> = instance
            .apps
            .iter()
            .map(|app| {
                apps += 1;
                if app.status == crate::ops::readiness::Status::Unknown {
                    unknown += 1;
                }
                if app.status.must_change() {
                    must_change += 1;
                }
                let dash = || "-".to_string();
                let note = match (&app.error, &app.reason, app.managed) {
                    (Some(error), _, _) => format!("error: {}", error.lines().next().unwrap_or("")),
                    (None, Some(reason), _) => reason.clone(),
                    (None, None, false) => "not in the manifest".into(),
                    (None, None, true) => String::new(),
                };
                [
                    app.key.clone(),
                    app.installed.clone(),
                    status_text(app.status).to_string(),
                    app.lowest_compatible.clone().unwrap_or_else(dash),
                    app.newest_compatible.clone().unwrap_or_else(dash),
                    note,
                ]
            })
            .collect();
        out.push_str(&table_text(&header, &rows));
    }
    // A count that leaves out what could not be answered would mislead: then only the errors.
    if !readiness.failed() {
        let unknown = match unknown {
            0 => String::new(),
            count => format!("; {count} unknown (not on the Marketplace: check with their owners)"),
        };
        out.push_str(&format!(
            "\n{must_change} of {apps} apps must change before the upgrade to {}{unknown}.\n",
            readiness.product_version
        ));
    }
    out
}
