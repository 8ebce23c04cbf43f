//! A saved plan (`plan --out`) as `upmsync show` prints it in text or JSON; its Markdown form is in
//! `markdown.rs`. A saved plan holds what it was made from (the manifest, by path and hash) and
//! each instance's changes, never a license (hashes only) nor a URL with credentials.

use std::fmt::Write;
use std::path::Path;

use serde::Serialize;

use super::text::change_line;
use crate::plan::summary;
use crate::printable::escape;
use crate::saved::{SavedChange, SavedPlan};

/// `upmsync show PLAN`: what the plan was made from, then per instance one line per change
/// (`upgrade com.x 1.0 -> 2.0`) and its counts.
pub fn saved_text(saved: &SavedPlan, file: &Path) -> String {
    let mut out = format!(
        "Saved plan `{}`, made from the manifest `{}` (sha256 {}",
        escape(&file.display().to_string()),
        escape(&saved.manifest.display().to_string()),
        short(&saved.manifest_sha256)
    );
    match &saved.lock_sha256 {
        Some(lock) => {
            let _ = write!(out, ", lock sha256 {}", short(lock));
        }
        None => out.push_str(", no lock"),
    }
    out.push_str(")\n\n");
    for instance in &saved.instances {
        let _ = writeln!(out, "Instance {}", escape(&instance.name));
        if instance.changes.is_empty() {
            out.push_str("  No changes.\n\n");
            continue;
        }
        for change in &instance.changes {
            let _ = writeln!(out, "  {}", change_line(change));
        }
        let counts: Vec<String> = summary(&instance.changes)
            .into_iter()
            .map(|(action, count)| format!("{count} {action}"))
            .collect();
        let _ = writeln!(
            out,
            "\n  Plan for {}: {}.\n",
            escape(&instance.name),
            counts.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "Apply exactly this plan with `upmsync apply {}`: it checks first that the manifest, lock and installed apps are still those the plan was made from.",
        escape(&file.display().to_string())
    );
    let _ = writeln!(out, "{UNMANAGED_NOTE}");
    out
}

/// What a saved plan does not hold: it keeps the changes only; `plan` lists the apps it reports.
pub(super) const UNMANAGED_NOTE: &str = "A saved plan holds the changes only: apps not in the manifest (`unmanaged: report`) and changes waiting for a restart are not in it; `upmsync plan` lists them.";

/// `upmsync show PLAN --format json`: `{"format_version": 1, "saved_plan": {...}, "instances":
/// [{"name", "changes"}]}`, each change exactly as `plan --format json` shows it.
pub fn saved_json(saved: &SavedPlan) -> String {
    #[derive(Serialize)]
    struct Document<'a> {
        format_version: u32,
        saved_plan: About<'a>,
        instances: Vec<Instance<'a>>,
    }
    #[derive(Serialize)]
    struct About<'a> {
        manifest: &'a Path,
        manifest_sha256: &'a str,
        lock_sha256: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct Instance<'a> {
        name: &'a str,
        changes: &'a [SavedChange],
    }
    let document = Document {
        format_version: 1,
        saved_plan: About {
            manifest: &saved.manifest,
            manifest_sha256: &saved.manifest_sha256,
            lock_sha256: saved.lock_sha256.as_deref(),
        },
        instances: saved
            .instances
            .iter()
            .map(|instance| Instance {
                name: &instance.name,
                changes: &instance.changes,
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&document)
        .unwrap_or_else(|error| format!("{{\"error\":\"{error}\"}}"));
    text.push('\n');
    crate::printable::escape_json(&text).into_owned()
}

/// The first 12 hex digits of a sha256 (`-` when it is empty: what could not be read).
fn short(hash: &str) -> &str {
    match hash.get(..12) {
        Some(short) => short,
        None if hash.is_empty() => "-",
        None => hash,
    }
}
