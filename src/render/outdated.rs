//! `upmsync outdated`'s rows to text (a table per instance) or JSON.

use crate::ops::outdated::InstanceRow;

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
