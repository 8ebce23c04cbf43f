//! The Markdown forms of plan, drift, a saved plan and outdated, for a pull-request or merge-request
//! comment: a one-line summary first (`3 to add, 1 to change, 0 to remove`, Terraform style), then
//! per instance a compact table (action, app, from -> to, notes). An instance's table of more than
//! [`DETAILS_THRESHOLD`] rows is folded into a `<details>` block under a line that keeps its counts
//! in view. An instance that failed shows its error in a code block and the summary line says so,
//! so a comment never looks clean when something failed.
//!
//! Every value that comes from a server or a file (keys, names, versions, URLs, error text) is
//! written as a code span ([`code`]) or a fenced code block ([`fenced`]): Markdown, HTML, links and
//! `@mentions` inside them are shown as text, and a `|` cannot split a table cell. Licenses appear
//! only as their short hashes, as in the JSON.

use std::fmt::Write;

use crate::model::redact_url;
use crate::ops::outdated::InstanceRow;
use crate::ops::readiness::{AppReadiness, Readiness, Status};
use crate::plan::{
    ArtifactSlot, Change, InstancePlan, LicenseSlot, Op, PendingRestart, Plan, Restore,
    UnmanagedApp,
};
use crate::saved::SavedPlan;

/// An instance whose table has more rows than this is folded into a `<details>` block (its
/// counts stay in view): a comment of a large plan stays short, a small plan shows whole.
pub const DETAILS_THRESHOLD: usize = 10;

/// `upmsync plan --format markdown`.
pub fn plan_markdown<A: ArtifactSlot>(plan: &Plan<A>) -> String {
    let sections: Vec<Section> = plan
        .instances
        .iter()
        .map(|instance| Section::of(&instance.name, &instance.url, &instance.result))
        .collect();
    document("upmsync plan", None, &sections, Kind::Plan)
}

/// `upmsync drift --format markdown`: the plan's table for each instance that drifted, one line
/// for each in sync.
pub fn drift_markdown<A: ArtifactSlot>(plan: &Plan<A>) -> String {
    let sections: Vec<Section> = plan
        .instances
        .iter()
        .map(|instance| Section::of(&instance.name, &instance.url, &instance.result))
        .collect();
    document("upmsync drift", None, &sections, Kind::Drift)
}

/// `upmsync show PLAN --format markdown`: a saved plan (`plan --out`) as `plan --format markdown`
/// shows a plan, with the manifest it was made from. A saved plan holds no URL, product, unmanaged
/// apps or errors (a plan with errors is never saved).
pub fn saved_markdown(saved: &SavedPlan) -> String {
    let sections: Vec<Section> = saved
        .instances
        .iter()
        .map(|instance| Section {
            name: instance.name.clone(),
            about: String::new(),
            blockers: Vec::new(),
            body: Shown::Planned(Body::of(&instance.changes, &[], &[], &instance.name)),
        })
        .collect();
    let hash = saved.manifest_sha256.get(..12).unwrap_or("-");
    let about = format!(
        "Saved plan of {} (sha256 {}). {}",
        code(&saved.manifest.display().to_string()),
        code(hash),
        super::saved::UNMANAGED_NOTE
    );
    document("upmsync plan (saved)", Some(&about), &sections, Kind::Plan)
}

/// `upmsync outdated --format markdown`: the summary line, then per instance a table of its apps
/// (installed, requested, wanted, newest compatible) with each app's error in its notes.
pub fn outdated_markdown(rows: &[InstanceRow]) -> String {
    let apps: usize = rows.iter().map(|row| row.apps.len()).sum();
    let behind = rows
        .iter()
        .flat_map(|row| &row.apps)
        .filter(|app| {
            app.newest_compatible
                .as_ref()
                .is_some_and(|newest| app.installed.as_ref() != Some(newest))
        })
        .count();
    let app_errors = rows
        .iter()
        .flat_map(|row| &row.apps)
        .filter(|app| app.error.is_some())
        .count();
    let failed: Vec<&str> = rows
        .iter()
        .filter(|row| row.error.is_some())
        .map(|row| row.name.as_str())
        .collect();
    let mut out = format!(
        "**upmsync outdated:** {behind} of {apps} {} not at the newest compatible version",
        plural(apps, "app", "apps")
    );
    if app_errors > 0 {
        let _ = write!(
            out,
            "; {app_errors} {} could not be looked up",
            plural(app_errors, "app", "apps")
        );
    }
    out.push('.');
    push_failed(&mut out, &failed, rows.len());
    out.push_str("\n\n");
    for row in rows {
        let product = row
            .product
            .as_ref()
            .map(|product| {
                format!(
                    " · product {} build {}",
                    code(&product.version),
                    product.build
                )
            })
            .unwrap_or_default();
        let _ = writeln!(out, "#### {}{product}\n", code(&row.name));
        if let Some(error) = &row.error {
            push_error(&mut out, error);
            continue;
        }
        if row.apps.is_empty() {
            out.push_str("No apps.\n\n");
            continue;
        }
        let mut table = String::from(
            "| app | installed | requested | wanted | newest compatible | notes |\n|---|---|---|---|---|---|\n",
        );
        for app in &row.apps {
            let dash = || "—".to_string();
            let cell = |value: &Option<String>| value.as_deref().map_or_else(dash, cell_code);
            let note = match (&app.newest_compatible, &app.installed) {
                (Some(newest), Some(installed)) if newest != installed => {
                    "not the newest compatible".to_string()
                }
                (Some(_), None) => "not installed".to_string(),
                _ if app.in_house => "in-house (not on the Marketplace)".to_string(),
                _ => String::new(),
            };
            let note = match &app.error {
                Some(error) => cell_code(first_line(error)),
                None => note,
            };
            let _ = writeln!(
                table,
                "| {} | {} | {} | {} | {} | {note} |",
                cell_code(&app.key),
                cell(&app.installed),
                cell_code(&app.requested),
                cell(&app.wanted),
                cell(&app.newest_compatible),
            );
        }
        let counts = format!(
            "{} {}",
            row.apps.len(),
            plural(row.apps.len(), "app", "apps")
        );
        push_table(&mut out, &row.name, &counts, row.apps.len(), &table);
    }
    out
}

/// `outdated --product-version` as Markdown: a summary line (how many apps must change before the
/// upgrade, how many are unknown), then per instance a table of app, installed version, verdict
/// and the compatible versions (lowest, newest); an instance's error in a code block.
pub fn readiness_markdown(readiness: &Readiness) -> String {
    let apps: Vec<&AppReadiness> = readiness
        .instances
        .iter()
        .flat_map(|instance| &instance.apps)
        .collect();
    let must_change = apps.iter().filter(|app| app.status.must_change()).count();
    let unknown = apps
        .iter()
        .filter(|app| app.status == Status::Unknown)
        .count();
    let failed: Vec<&str> = readiness
        .instances
        .iter()
        .filter(|instance| instance.error.is_some())
        .map(|instance| instance.name.as_str())
        .collect();
    let mut out = format!(
        "**upmsync outdated --product-version {}:** {must_change} of {} {} must change before the upgrade",
        code(&readiness.product_version),
        apps.len(),
        plural(apps.len(), "app", "apps")
    );
    if unknown > 0 {
        let _ = write!(out, "; {unknown} unknown");
    }
    out.push('.');
    push_failed(&mut out, &failed, readiness.instances.len());
    out.push_str("\n\n");
    for instance in &readiness.instances {
        let build = |version: &Option<crate::marketplace::ProductVersion>| {
            version.as_ref().map_or_else(
                || "—".to_string(),
                |version| format!("{} (build {})", code(&version.version), version.build),
            )
        };
        let _ = writeln!(
            out,
            "#### {} · {} {} → {}\n",
            code(&instance.name),
            code(&instance.product),
            build(&instance.current),
            build(&instance.target)
        );
        if let Some(error) = &instance.error {
            push_error(&mut out, error);
            continue;
        }
        if instance.apps.is_empty() {
            out.push_str("No user-installed apps.\n\n");
            continue;
        }
        let mut table = String::from(
            "| app | installed | verdict | lowest compatible | newest compatible | notes |\n|---|---|---|---|---|---|\n",
        );
        for app in &instance.apps {
            let cell = |value: &Option<String>| {
                value.as_deref().map_or_else(|| "—".to_string(), cell_code)
            };
            let verdict = match app.status {
                Status::Compatible => "compatible",
                Status::Incompatible => "**must change**",
                Status::NoCompatibleVersion => "**no compatible version**",
                Status::Unknown => "unknown",
            };
            let note = app
                .error
                .as_deref()
                .or(app.reason.as_deref())
                .map(|note| cell_code(first_line(note)))
                .unwrap_or_default();
            let _ = writeln!(
                table,
                "| {} | {} | {verdict} | {} | {} | {note} |",
                app_cell(&app.key, Some(&app.name)),
                cell_code(&app.installed),
                cell(&app.lowest_compatible),
                cell(&app.newest_compatible),
            );
        }
        let counts = format!(
            "{} {}",
            instance.apps.len(),
            plural(instance.apps.len(), "app", "apps")
        );
        push_table(
            &mut out,
            &instance.name,
            &counts,
            instance.apps.len(),
            &table,
        );
    }
    out
}

/// Whether the document is a plan (counts of changes) or drift (a verdict per instance).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plan,
    Drift,
}

/// One instance as shown: its name, a line about it (URL, product), its rows or its error.
struct Section {
    name: String,
    /// Already Markdown: ` · URL · product ...` or empty.
    about: String,
    /// What the live read knows will stop or hold up apply (safe mode, a running task), one
    /// warning line each above the table.
    blockers: Vec<String>,
    body: Shown,
}

/// An instance's rows, or the error that stopped it (with causes and hints).
enum Shown {
    Planned(Body),
    Failed(String),
}

impl Shown {
    fn planned(&self) -> Option<&Body> {
        match self {
            Shown::Planned(body) => Some(body),
            Shown::Failed(_) => None,
        }
    }
}

impl Section {
    fn of<A: ArtifactSlot>(
        name: &str,
        url: &url::Url,
        result: &Result<InstancePlan<A>, std::sync::Arc<crate::ops::InstanceError>>,
    ) -> Self {
        let mut about = format!(" · {}", code(&redact_url(url)));
        if let Some(product) = result.as_ref().ok().and_then(|plan| plan.product.as_ref()) {
            let _ = write!(
                about,
                " · product {} build {}",
                code(&product.version),
                product.build
            );
        }
        Section {
            name: name.to_string(),
            about,
            blockers: result
                .as_ref()
                .map(|planned| {
                    planned
                        .blocked_by
                        .iter()
                        .map(|blocker| blocker.message())
                        .collect()
                })
                .unwrap_or_default(),
            body: match result {
                Ok(planned) => Shown::Planned(Body::of(
                    &planned.changes,
                    &planned.pending_restart,
                    &planned.unmanaged,
                    name,
                )),
                Err(error) => Shown::Failed(crate::error::error_text(&**error)),
            },
        }
    }
}

/// The rows of one instance and their counts.
struct Body {
    rows: Vec<String>,
    tally: Tally,
}

/// Changes counted Terraform style, plus what waits for a restart and the unmanaged apps reported.
#[derive(Default, Clone, Copy)]
struct Tally {
    add: usize,
    change: usize,
    remove: usize,
    restart: usize,
    unmanaged: usize,
}

impl Tally {
    fn changes(self) -> usize {
        self.add + self.change + self.remove
    }

    fn in_sync(self) -> bool {
        self.changes() + self.restart + self.unmanaged == 0
    }

    fn sum(self, other: Tally) -> Tally {
        Tally {
            add: self.add + other.add,
            change: self.change + other.change,
            remove: self.remove + other.remove,
            restart: self.restart + other.restart,
            unmanaged: self.unmanaged + other.unmanaged,
        }
    }

    /// `3 to add, 1 to change, 0 to remove`, then what waits for a restart and the unmanaged apps
    /// when there are any.
    fn text(self) -> String {
        let mut text = format!(
            "{} to add, {} to change, {} to remove",
            self.add, self.change, self.remove
        );
        if self.restart > 0 {
            let _ = write!(text, ", {} waiting for a restart", self.restart);
        }
        if self.unmanaged > 0 {
            let _ = write!(
                text,
                ", {} unmanaged {}",
                self.unmanaged,
                plural(self.unmanaged, "app", "apps")
            );
        }
        text
    }
}

impl Body {
    fn of<A: ArtifactSlot, L: LicenseSlot>(
        changes: &[Change<A, L>],
        pending: &[PendingRestart],
        unmanaged: &[UnmanagedApp],
        instance: &str,
    ) -> Self {
        let mut tally = Tally::default();
        let mut rows = Vec::new();
        for pending in pending {
            tally.restart += 1;
            let mut notes = format!(
                "accepted by UPM, takes effect after a restart of {}",
                code(instance)
            );
            if let Some(conflict) = &pending.conflict {
                let _ = write!(notes, "; **conflict:** {}", cell_code(conflict));
            }
            rows.push(format!(
                "| ! | {} (pending) | {} | | {notes} |",
                pending.action,
                app_cell(pending.key.as_str(), pending.name.as_deref())
            ));
        }
        for change in changes {
            match change.op {
                Op::Install { .. } => tally.add += 1,
                Op::Uninstall { .. } => tally.remove += 1,
                _ => tally.change += 1,
            }
            rows.push(change_row(change));
        }
        for app in unmanaged {
            tally.unmanaged += 1;
            let state = if app.enabled { "" } else { ", disabled" };
            rows.push(format!(
                "| ? | unmanaged | {} | {} | not in the manifest (`unmanaged: report`), left alone{state} |",
                app_cell(app.key.as_str(), Some(&app.name)),
                cell_code(&app.version.to_string())
            ));
        }
        Body { rows, tally }
    }
}

/// One change as a table row: sign, action, app, from -> to, notes.
fn change_row<A: ArtifactSlot, L: LicenseSlot>(change: &Change<A, L>) -> String {
    let version = |version: Option<&crate::model::Version>| {
        version.map_or_else(
            || "—".to_string(),
            |version| cell_code(&version.to_string()),
        )
    };
    let from = version(change.op.from_version());
    let to = version(change.op.to_version());
    let mut notes: Vec<String> = Vec::new();
    let (sign, transition) = match &change.op {
        Op::Install { enabled, .. } => {
            if !enabled {
                notes.push("installed disabled".into());
            }
            ("+", format!("— → {to}"))
        }
        Op::Upgrade { .. } => ("~", format!("{from} → {to}")),
        Op::Downgrade { restore, .. } => {
            notes.push(format!(
                "**warning:** uninstalls first: the app's data and configuration may not survive{}",
                if matches!(restore, Restore::Impossible) {
                    "; cannot be restored if the install fails (no artifact of the installed version)"
                } else {
                    ""
                }
            ));
            ("-/+", format!("{from} → {to}"))
        }
        Op::Uninstall { reason, .. } => {
            if let Some(note) = reason.note() {
                notes.push(note.to_string());
            }
            ("-", format!("{from} → —"))
        }
        Op::Enable { .. } => ("~", format!("{to}: disabled → enabled")),
        Op::Disable { .. } => ("~", format!("{to}: enabled → disabled")),
        Op::SetLicense { .. } | Op::RemoveLicense { .. } => {
            let hashes = change.op.license_change();
            let hash = |hash: Option<&crate::model::LicenseHash>| {
                hash.map_or_else(|| "none".to_string(), |hash| cell_code(&hash.to_string()))
            };
            let (before, after) = hashes
                .as_ref()
                .map(|hashes| (hash(hashes.from.as_ref()), hash(hashes.to.as_ref())))
                .unwrap_or_default();
            notes.push("license shown by hash".into());
            ("~", format!("license {before} → {after}"))
        }
    };
    if let Some(why) = &change.incompatible {
        notes.push(format!(
            "**warning:** allowed by `allow_incompatible: true`: {}",
            cell_code(first_line(why))
        ));
    }
    if let Some(artifact) = change.op.artifact().and_then(ArtifactSlot::view) {
        if artifact.kind == crate::model::Delivery::Upload {
            notes.push("uploaded by upmsync".into());
        }
    }
    format!(
        "| {sign} | {} | {} | {transition} | {} |",
        change.action(),
        app_cell(change.key.as_str(), change.name.as_deref()),
        notes.join("; ")
    )
}

/// The app's key and, when known, its name.
fn app_cell(key: &str, name: Option<&str>) -> String {
    match name {
        Some(name) if !name.is_empty() && name != key => {
            format!("{} {}", cell_code(key), cell_code(name))
        }
        _ => cell_code(key),
    }
}

/// The whole document: the summary line, then each instance.
fn document(title: &str, about: Option<&str>, sections: &[Section], kind: Kind) -> String {
    let total = sections
        .iter()
        .filter_map(|section| section.body.planned())
        .fold(Tally::default(), |sum, body| sum.sum(body.tally));
    let failed: Vec<&str> = sections
        .iter()
        .filter(|section| section.body.planned().is_none())
        .map(|section| section.name.as_str())
        .collect();
    let mut out = format!("**{title}:** ");
    match kind {
        Kind::Plan => {
            let _ = write!(out, "{}.", total.text());
        }
        Kind::Drift => {
            let drifted = sections
                .iter()
                .filter(|section| {
                    section
                        .body
                        .planned()
                        .is_some_and(|body| !body.tally.in_sync())
                })
                .count();
            let read = sections.len() - failed.len();
            if drifted == 0 {
                let _ = write!(
                    out,
                    "{read} of {} {} in sync.",
                    sections.len(),
                    plural(sections.len(), "instance", "instances")
                );
            } else {
                let _ = write!(
                    out,
                    "drift on {drifted} of {} {} ({}).",
                    sections.len(),
                    plural(sections.len(), "instance", "instances"),
                    total.text()
                );
            }
        }
    }
    push_failed(&mut out, &failed, sections.len());
    out.push_str("\n\n");
    if let Some(about) = about {
        let _ = writeln!(out, "{about}\n");
    }
    for section in sections {
        let verdict = match (&section.body, kind) {
            (Shown::Failed(_), _) => " · **failed**",
            (Shown::Planned(body), Kind::Drift) if body.tally.in_sync() => " · in sync",
            (Shown::Planned(_), Kind::Drift) => " · **drift**",
            (Shown::Planned(_), Kind::Plan) => "",
        };
        let _ = writeln!(
            out,
            "#### {}{}{verdict}\n",
            code(&section.name),
            section.about
        );
        for blocker in &section.blockers {
            // upmsync's own words (`Blocker::message`), no server text: written as they are.
            let _ = writeln!(out, "> **warning:** {blocker}\n");
        }
        match &section.body {
            Shown::Failed(error) => push_error(&mut out, error),
            Shown::Planned(body) if body.rows.is_empty() => out.push_str(match kind {
                Kind::Plan => "No changes.\n\n",
                Kind::Drift => "The installed apps match the manifest.\n\n",
            }),
            Shown::Planned(body) => {
                let mut table =
                    String::from("| | action | app | from → to | notes |\n|---|---|---|---|---|\n");
                for row in &body.rows {
                    table.push_str(row);
                    table.push('\n');
                }
                push_table(
                    &mut out,
                    &section.name,
                    &body.tally.text(),
                    body.rows.len(),
                    &table,
                );
            }
        }
    }
    out
}

/// ` **1 of 3 instances failed:** `a`.` after the summary when any failed.
fn push_failed(out: &mut String, failed: &[&str], total: usize) {
    if failed.is_empty() {
        return;
    }
    let names: Vec<String> = failed.iter().map(|name| code(name)).collect();
    let _ = write!(
        out,
        " **{} of {total} {} failed:** {} (errors below).",
        failed.len(),
        plural(total, "instance", "instances"),
        names.join(", ")
    );
}

/// A table, folded into `<details>` when it has more than [`DETAILS_THRESHOLD`] rows.
fn push_table(out: &mut String, name: &str, counts: &str, rows: usize, table: &str) {
    if rows > DETAILS_THRESHOLD {
        // HTML, not Markdown, inside <summary>: the name is escaped for HTML (and is only letters,
        // digits, `.`, `_` and `-` in a valid manifest).
        let _ = write!(
            out,
            "<details><summary>{}: {}</summary>\n\n{table}\n</details>\n\n",
            html(name),
            html(counts)
        );
    } else {
        out.push_str(table);
        out.push('\n');
    }
}

/// An instance's error, in a fenced code block so its text is shown as it is.
fn push_error(out: &mut String, error: &str) {
    let _ = write!(out, "**error:**\n\n{}\n", fenced(error));
}

/// `text` as a code span outside a table: shown as text whatever it holds (Markdown, HTML,
/// `@mentions`, links), on one line (control and bidi characters written as escapes).
fn code(text: &str) -> String {
    let text = crate::printable::escape(text);
    if text.is_empty() {
        return "—".to_string();
    }
    // A run of backticks longer than any in the text opens and closes the span (CommonMark §6.1);
    // a space pads a text that starts or ends with a backtick (or a space, which would be
    // stripped).
    let fence = "`".repeat(longest_run(&text, '`') + 1);
    let pad = if text.starts_with(['`', ' ']) || text.ends_with(['`', ' ']) {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// [`code`] for a table cell: a `|` would end the cell even inside a code span (GFM tables split
/// rows before reading spans) and `\|` can be undone by a backslash before it, so it is written
/// as `\u{7c}`, as other characters that cannot be shown are.
fn cell_code(text: &str) -> String {
    code(&text.replace('|', "\\u{7c}"))
}

/// `text` in a fenced code block: a fence of backticks longer than any run in the text (at
/// least three), so no line of it closes the block; control and bidi characters as escapes.
fn fenced(text: &str) -> String {
    let text = crate::printable::escape_lines(text.trim_end());
    let fence = "`".repeat((longest_run(&text, '`') + 1).max(3));
    format!("{fence}text\n{text}\n{fence}\n")
}

/// `text` for HTML: `&`, `<`, `>`, `"` and `'` as entities.
fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in crate::printable::escape(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn longest_run(text: &str, wanted: char) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == wanted {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppKey, License, LicenseHash, Secret, Version};
    use crate::plan::{PlannedArtifact, PlannedInstance};
    use url::Url;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn change(key: &str, name: Option<&str>, op: Op) -> Change {
        Change {
            key: AppKey::new(key),
            name: name.map(Into::into),
            op,
            incompatible: None,
            assumed: Default::default(),
        }
    }

    fn install(version: &str) -> Op {
        Op::Install {
            to: v(version),
            enabled: true,
            artifact: PlannedArtifact::Uri {
                url: Url::parse("http://u:p@m.test/a.jar?token=t").unwrap(),
                sha256: None,
                fetch_first: false,
            },
        }
    }

    fn plan_of(instances: Vec<(&str, Result<Vec<Change>, &str>)>) -> Plan {
        Plan {
            instances: instances
                .into_iter()
                .map(|(name, result)| {
                    let url = Url::parse(&format!("https://u:secret@{name}.test/")).unwrap();
                    PlannedInstance {
                        name: name.into(),
                        url: url.clone(),
                        live: None,
                        result: result
                            .map(|changes| InstancePlan {
                                name: name.into(),
                                url,
                                product: None,
                                changes,
                                unmanaged: vec![],
                                pending_restart: vec![],
                                blocked_by: vec![],
                            })
                            .map_err(|error| {
                                std::sync::Arc::new(crate::ops::InstanceError::Read {
                                    instance: name.into(),
                                    source: crate::upm::UpmError::UploadDisabled {
                                        body: error.into(),
                                    },
                                })
                            }),
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn a_plan_has_a_summary_line_and_a_table_with_hashes_only() {
        let plan = plan_of(vec![(
            "jira",
            Ok(vec![
                change("com.a", Some("App A"), install("1.0")),
                change(
                    "com.b",
                    None,
                    Op::Uninstall {
                        from: v("2.0"),
                        reason: crate::plan::UninstallReason::NotInManifest,
                    },
                ),
                change(
                    "com.c",
                    None,
                    Op::SetLicense {
                        version: v("3.0"),
                        from: None,
                        to: License::new(Secret::new("SECRET-LICENSE"), "env L"),
                    },
                ),
            ]),
        )]);
        let markdown = plan_markdown(&plan);
        insta::assert_snapshot!(markdown, @r"
        **upmsync plan:** 1 to add, 1 to change, 1 to remove.

        #### `jira` · `https://jira.test/`

        | | action | app | from → to | notes |
        |---|---|---|---|---|
        | + | install | `com.a` `App A` | — → `1.0` |  |
        | - | uninstall | `com.b` | `2.0` → — | not in the manifest |
        | ~ | license-set | `com.c` | license none → `sha256:a519a0d60f2b` | license shown by hash |
        ");
        assert!(markdown.contains(&LicenseHash::of("SECRET-LICENSE").to_string()));
        assert!(!markdown.contains("SECRET-LICENSE") && !markdown.contains("secret"));
    }

    #[test]
    fn what_blocks_apply_and_an_incompatible_version_allowed_are_warnings() {
        let mut allowed = change("com.a", None, install("1.0"));
        allowed.incompatible = Some("compatible with builds 1 to 2, not 9".into());
        let mut plan = plan_of(vec![("jira", Ok(vec![allowed]))]);
        if let Ok(instance) = &mut plan.instances[0].result {
            instance.blocked_by = vec![crate::plan::Blocker::SafeMode];
        }
        let markdown = plan_markdown(&plan);
        assert!(
            markdown.contains("> **warning:** UPM is in safe mode"),
            "{markdown}"
        );
        assert!(
            markdown.contains(
                "**warning:** allowed by `allow_incompatible: true`: `compatible with builds 1 to 2, not 9`"
            ),
            "{markdown}"
        );
    }

    #[test]
    fn readiness_says_which_apps_must_change_before_the_upgrade() {
        use crate::marketplace::ProductVersion;
        use crate::ops::readiness::InstanceReadiness;
        let app = |key: &str, status: Status, newest: Option<&str>| AppReadiness {
            key: key.into(),
            name: "<b>|name".into(),
            installed: "1.0".into(),
            enabled: true,
            managed: true,
            status,
            lowest_compatible: newest.map(Into::into),
            newest_compatible: newest.map(Into::into),
            reason: None,
            error: None,
        };
        let readiness = Readiness {
            product_version: "10.3.0".into(),
            instances: vec![InstanceReadiness {
                name: "jira".into(),
                product: "jira".into(),
                current: Some(ProductVersion {
                    version: "9.12.15".into(),
                    build: 9_120_015,
                }),
                target: Some(ProductVersion {
                    version: "10.3.0".into(),
                    build: 10_030_000,
                }),
                apps: vec![
                    app("com.a", Status::Compatible, None),
                    app("com.b", Status::Incompatible, Some("2.0")),
                    app("com.c", Status::Unknown, None),
                ],
                error: None,
            }],
        };
        let markdown = readiness_markdown(&readiness);
        insta::assert_snapshot!(markdown, @r"
        **upmsync outdated --product-version `10.3.0`:** 1 of 3 apps must change before the upgrade; 1 unknown.

        #### `jira` · `jira` `9.12.15` (build 9120015) → `10.3.0` (build 10030000)

        | app | installed | verdict | lowest compatible | newest compatible | notes |
        |---|---|---|---|---|---|
        | `com.a` `<b>\u{7c}name` | `1.0` | compatible | — | — |  |
        | `com.b` `<b>\u{7c}name` | `1.0` | **must change** | `2.0` | `2.0` |  |
        | `com.c` `<b>\u{7c}name` | `1.0` | unknown | — | — |  |
        ");
    }

    #[test]
    fn a_failed_instance_is_in_the_summary_and_its_error_in_a_code_block() {
        let plan = plan_of(vec![
            ("jira", Ok(vec![])),
            ("conf", Err("status 500: ```\n<b>down</b> @everyone")),
        ]);
        let markdown = plan_markdown(&plan);
        let first = markdown.lines().next().unwrap();
        assert_eq!(
            first,
            "**upmsync plan:** 0 to add, 0 to change, 0 to remove. **1 of 2 instances failed:** `conf` (errors below)."
        );
        assert!(markdown.contains("#### `conf` · `https://conf.test/` · **failed**"));
        // The fence is longer than the backticks of the error, so it cannot close the block.
        assert!(markdown.contains("````text\n"), "{markdown}");
        assert!(markdown.contains("<b>down</b> @everyone\n"), "{markdown}");
        let drift = drift_markdown(&plan);
        assert!(
            drift.starts_with(
                "**upmsync drift:** 1 of 2 instances in sync. **1 of 2 instances failed:** `conf`"
            ),
            "{drift}"
        );
    }

    /// A hostile app name or version cannot end the table cell, open HTML, link, mention or
    /// start a line of its own.
    #[test]
    fn server_values_cannot_break_the_table_or_inject() {
        let evil = "x | <img src=x onerror=alert(1)> ` [a](http://e) @org/team\n| - | uninstall | `com.victim`";
        let upgrade = change(
            "com.a|b`",
            Some(evil),
            Op::Upgrade {
                from: v("1.0"),
                to: Version::from_server("2.0 | **bold** \\| \u{202e}"),
                enabled: true,
                artifact: PlannedArtifact::Uri {
                    url: Url::parse("http://m.test/a.jar").unwrap(),
                    sha256: None,
                    fetch_first: false,
                },
            },
        );
        let plan = plan_of(vec![("jira", Ok(vec![upgrade]))]);
        let markdown = plan_markdown(&plan);
        let rows: Vec<&str> = markdown
            .lines()
            .filter(|line| line.starts_with("| ~"))
            .collect();
        assert_eq!(rows.len(), 1, "one row, no injected one: {markdown}");
        let row = rows[0];
        // Outside code spans, the row holds only the six cell delimiters.
        let mut outside = String::new();
        let mut rest = row;
        while let Some(start) = rest.find('`') {
            outside.push_str(&rest[..start]);
            let fence = rest[start..].chars().take_while(|&c| c == '`').count();
            let after = &rest[start + fence..];
            let close = after.find(&"`".repeat(fence)).expect("closed span");
            rest = &after[close + fence..];
        }
        outside.push_str(rest);
        assert_eq!(outside.matches('|').count(), 6, "{row}\n{outside}");
        assert!(
            !outside.contains('<') && !outside.contains('@') && !outside.contains('['),
            "{outside}"
        );
        assert!(
            !row.contains('\u{202e}') && row.contains("\\u{202e}"),
            "{row}"
        );
        // No `|` inside a span either: GFM splits cells before it reads spans.
        assert_eq!(row.matches('|').count(), 6, "{row}");
        assert!(
            markdown.lines().all(|line| !line.starts_with("| - |")),
            "{markdown}"
        );
    }

    #[test]
    fn code_spans_hold_any_text() {
        assert_eq!(code("com.a"), "`com.a`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(code(""), "—");
        assert_eq!(cell_code("a|b"), "`a\\u{7c}b`");
        assert_eq!(code("a\nb"), "`a\\nb`");
        assert_eq!(
            html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn a_long_table_is_folded_with_its_counts_in_view() {
        let changes = |count: usize| {
            (0..count)
                .map(|index| change(&format!("com.app{index}"), None, install("1.0")))
                .collect::<Vec<_>>()
        };
        let short = plan_markdown(&plan_of(vec![("jira", Ok(changes(DETAILS_THRESHOLD)))]));
        assert!(!short.contains("<details>"), "{short}");
        let long = plan_markdown(&plan_of(vec![("jira", Ok(changes(DETAILS_THRESHOLD + 1)))]));
        assert!(
            long.contains(
                "<details><summary>jira: 11 to add, 0 to change, 0 to remove</summary>\n\n| |"
            ),
            "{long}"
        );
        assert!(long.trim_end().ends_with("</details>"), "{long}");
    }
}
