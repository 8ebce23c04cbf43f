//! The human forms: a Terraform-like plan where each app shows a diff of its state (drawn with
//! `similar`), a drift summary, and the apply report.

use std::fmt::Write;

use similar::{ChangeTag, TextDiff};

use crate::execute::{ApplyReport, Outcome};
use crate::model::redact_url;
use crate::plan::{
    downgrade_warning, incompatible_warning, summary, Action, ArtifactSlot, ArtifactView, Change,
    InstancePlan, LicenseSlot, Op, Plan, Restore,
};
use crate::printable::{escape, escape_lines};

/// `upmsync plan` (and the plan `apply` shows before asking).
pub fn plan_text<A: ArtifactSlot>(plan: &Plan<A>) -> String {
    let mut out = String::new();
    for instance in &plan.instances {
        let product = instance
            .result
            .as_ref()
            .ok()
            .and_then(|planned| planned.product.as_ref())
            .map(|product| {
                format!(
                    ", product {} build {}",
                    shown(&product.version),
                    product.build
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "Instance {} ({}{product})",
            instance.name,
            redact_url(&instance.url)
        );
        match &instance.result {
            Err(error) => {
                let _ = writeln!(
                    out,
                    "  error: {} (details on stderr)",
                    shown(first_line(&error.to_string()))
                );
            }
            Ok(planned) => {
                for blocker in &planned.blocked_by {
                    let _ = writeln!(out, "  ! warning: {}", blocker.message());
                }
                if let Some(note) = base_url_note(planned) {
                    let _ = writeln!(out, "  note: {note}");
                }
                instance_text(&mut out, planned)
            }
        }
        out.push('\n');
    }
    out
}

/// Says when the product's configured base URL is not the manifest's `url`: UPM builds its task
/// links from the former (upm-rest-api.md §1), upmsync follows them under the latter.
pub(super) fn base_url_note<A: ArtifactSlot>(planned: &InstancePlan<A>) -> Option<String> {
    let reported = planned.product.as_ref()?.base_url.as_deref()?;
    let normal = |text: &str| text.trim().trim_end_matches('/').to_ascii_lowercase();
    let ours = redact_url(&planned.url);
    if normal(reported) == normal(&ours) {
        return None;
    }
    let reported = shown(reported);
    Some(format!(
        "the product's base URL is {reported}, not the manifest's url: UPM builds its links from it; upmsync follows them under {ours} (check the base URL in the product's general configuration if it is wrong)"
    ))
}

fn instance_text<A: ArtifactSlot>(out: &mut String, planned: &InstancePlan<A>) {
    if planned.changes.is_empty()
        && planned.pending_restart.is_empty()
        && planned.unmanaged.is_empty()
    {
        let _ = writeln!(out, "  No changes: the installed apps match the manifest.");
    } else if planned.changes.is_empty() && planned.pending_restart.is_empty() {
        let _ = writeln!(out, "  No changes to make.");
    } else if planned.changes.is_empty() {
        let _ = writeln!(out, "  No changes to make now.");
    }
    for pending in &planned.pending_restart {
        let name = pending
            .name
            .as_deref()
            .map(|name| format!("  {}", shown(name)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  ! {}{name}  ({} accepted by UPM, takes effect after a restart of {})",
            shown(&pending.key),
            pending.action,
            planned.name
        );
        if let Some(conflict) = &pending.conflict {
            let _ = writeln!(out, "      CONFLICT: {}", shown(conflict));
        }
    }
    for group in group_by_app(&planned.changes) {
        app_text(out, &group);
    }
    if !planned.unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "\n  Not in the manifest (unmanaged: report), left alone:"
        );
        for app in &planned.unmanaged {
            let state = if app.enabled { "" } else { ", disabled" };
            let _ = writeln!(
                out,
                "    ? {} {} ({}{state})",
                shown(&app.key),
                shown(&app.version),
                shown(&app.name)
            );
        }
    }
    if !planned.changes.is_empty() {
        let counts: Vec<String> = summary(&planned.changes)
            .into_iter()
            .map(|(action, count)| format!("{count} {action}"))
            .collect();
        let _ = writeln!(out, "\n  Plan for {}: {}.", planned.name, counts.join(", "));
    }
}

/// Consecutive-or-not changes of one app, kept in the order the app first appears.
fn group_by_app<A>(changes: &[Change<A>]) -> Vec<Vec<&Change<A>>> {
    let mut groups: Vec<Vec<&Change<A>>> = Vec::new();
    for change in changes {
        match groups.iter_mut().find(|group| group[0].key == change.key) {
            Some(group) => group.push(change),
            None => groups.push(vec![change]),
        }
    }
    groups
}

fn app_text<A: ArtifactSlot>(out: &mut String, changes: &[&Change<A>]) {
    let first = changes[0];
    let symbol = match first.op {
        Op::Install { .. } => "+",
        Op::Uninstall { .. } => "-",
        Op::Downgrade { .. } => "-/+",
        _ => "~",
    };
    let actions: Vec<String> = changes
        .iter()
        .map(|change| match &change.op {
            Op::Uninstall { reason, .. } => match reason.note() {
                Some(note) => format!("{}: {note}", change.action()),
                None => change.action().to_string(),
            },
            _ => change.action().to_string(),
        })
        .collect();
    let name = first
        .name
        .as_deref()
        .map(|name| format!("  {}", shown(name)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  {symbol} {}{name}  ({})",
        shown(&first.key),
        actions.join(", ")
    );
    // One diff per field, so each field's old and new lines stand together.
    for (before, after) in states(changes) {
        let diff = TextDiff::from_lines(&before, &after);
        for line in diff.iter_all_changes() {
            let sign = match line.tag() {
                ChangeTag::Delete => "-",
                ChangeTag::Insert => "+",
                ChangeTag::Equal => " ",
            };
            let _ = write!(out, "      {sign} {}", line.value());
            if line.missing_newline() {
                out.push('\n');
            }
        }
    }
    for change in changes {
        if let Some(artifact) = change.op.artifact().and_then(ArtifactSlot::view) {
            let _ = writeln!(out, "        from {}", artifact_text(&artifact));
        }
        if let Op::Downgrade { restore, .. } = &change.op {
            let shown_restore = |artifact: &A| {
                artifact.view().map(|view| {
                    artifact_text(&ArtifactView {
                        fetch_first: false,
                        fallback: None,
                        ..view
                    })
                })
            };
            match restore {
                Restore::ByUriThenUpload(artifact) => {
                    if let Some(text) = shown_restore(artifact) {
                        let _ = writeln!(
                            out,
                            "        restores from {text} if the install fails; if that fails too, uploads the copy fetched first"
                        );
                    }
                }
                Restore::ByUpload(artifact) => {
                    if let Some(text) = shown_restore(artifact) {
                        let _ = writeln!(
                            out,
                            "        restores from {text}, the copy fetched first, if the install fails"
                        );
                    }
                }
                Restore::Impossible => {}
            }
            let _ = writeln!(
                out,
                "      ! warning: {}",
                shown(&downgrade_warning(restore))
            );
        }
        if let Some(why) = &change.incompatible {
            let _ = writeln!(
                out,
                "      ! warning: {}",
                shown(&incompatible_warning(why))
            );
        }
    }
}

/// An artifact on one line: where it is, how it reaches UPM, its pinned sha256, and whether
/// upmsync fetches and verifies it before its change.
fn artifact_text(artifact: &ArtifactView) -> String {
    let how = match artifact.kind {
        crate::model::Delivery::Uri => "by URI",
        crate::model::Delivery::Upload => "upload",
    };
    let mut text = match (&artifact.url, &artifact.path) {
        (Some(url), _) => format!("{} ({how})", shown(url)),
        (None, Some(path)) => format!("{} ({how})", shown(&path.display())),
        (None, None) => format!("({how})"),
    };
    if let Some(sha256) = &artifact.sha256 {
        let short = sha256.as_str().get(..12).unwrap_or(sha256.as_str());
        text.push_str(&format!(" sha256 {short}"));
    }
    if artifact.fetch_first {
        text.push_str(", fetched first");
    }
    text
}

/// The app's state before and after its changes: per field, its `field: value` line before and after
/// (empty where the field has no value on that side).
fn states<A>(changes: &[&Change<A>]) -> Vec<(String, String)>
where
    A: ArtifactSlot,
{
    let mut version = (None, None);
    let mut enabled = (None, None);
    let mut license = (None, None);
    let versions = |change: &Change<A>| {
        (
            change.op.from_version().map(ToString::to_string),
            change.op.to_version().map(ToString::to_string),
        )
    };
    for change in changes {
        match &change.op {
            Op::Install {
                enabled: wanted, ..
            } => {
                version = versions(change);
                enabled.1 = Some(*wanted);
            }
            Op::Upgrade { .. } | Op::Downgrade { .. } | Op::Uninstall { .. } => {
                version = versions(change);
            }
            Op::Enable { .. } | Op::Disable { .. } => {
                let target = change.action() == Action::Enable;
                enabled = (Some(!target), Some(target));
                version = versions(change);
            }
            Op::SetLicense { .. } | Op::RemoveLicense { .. } => {
                if let Some(hashes) = change.op.license_change() {
                    let text = |hash: Option<crate::model::LicenseHash>| {
                        hash.as_ref()
                            .map_or("none".to_string(), ToString::to_string)
                    };
                    license = (Some(text(hashes.from)), Some(text(hashes.to)));
                }
                if version.0.is_none() && version.1.is_none() {
                    version = versions(change);
                }
            }
        }
    }
    let line = |field: &str, value: Option<String>| {
        value
            .map(|value| format!("{field}: {}\n", shown(&value)))
            .unwrap_or_default()
    };
    [
        ("version", version),
        (
            "enabled",
            (
                enabled.0.map(|e: bool| e.to_string()),
                enabled.1.map(|e: bool| e.to_string()),
            ),
        ),
        ("license", license),
    ]
    .into_iter()
    .map(|(field, (old, new))| (line(field, old), line(field, new)))
    .filter(|(old, new)| !old.is_empty() || !new.is_empty())
    .collect()
}

/// `upmsync drift` in text: one verdict line per instance, then the changes that would restore it.
pub fn drift_text<A: ArtifactSlot>(plan: &Plan<A>) -> String {
    let mut out = String::new();
    for instance in &plan.instances {
        match &instance.result {
            Err(error) => {
                let _ = writeln!(
                    out,
                    "{}: error: {} (details on stderr)",
                    instance.name,
                    shown(first_line(&error.to_string()))
                );
            }
            Ok(planned) if planned.in_sync() => {
                let _ = writeln!(out, "{}: in sync", instance.name);
            }
            Ok(planned) => {
                let restart = if planned.pending_restart.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", {} change(s) waiting for a restart",
                        planned.pending_restart.len()
                    )
                };
                let _ = writeln!(
                    out,
                    "{}: drift ({} change(s) needed, {} unmanaged app(s){restart})",
                    instance.name,
                    planned.changes.len(),
                    planned.unmanaged.len()
                );
                for pending in &planned.pending_restart {
                    let conflict = pending
                        .conflict
                        .as_ref()
                        .map(|conflict| format!(" (CONFLICT: {})", shown(conflict)))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "  {} {} waits for a restart of {}{conflict}",
                        pending.action,
                        shown(&pending.key),
                        instance.name
                    );
                }
                for change in &planned.changes {
                    let _ = writeln!(out, "  {}", change_line(change));
                }
                for app in &planned.unmanaged {
                    let _ = writeln!(
                        out,
                        "  unmanaged {} {}",
                        shown(&app.key),
                        shown(&app.version)
                    );
                }
            }
        }
    }
    out
}

/// One change in one line, e.g. `upgrade com.x 1.0 -> 2.0`; server text in it is escaped.
pub fn change_line<A, L: LicenseSlot>(change: &Change<A, L>) -> String {
    let from = change.op.from_version().map(shown).unwrap_or_default();
    let to = change.op.to_version().map(shown).unwrap_or_default();
    let detail = match &change.op {
        Op::Install { .. } => to,
        Op::Upgrade { .. } | Op::Downgrade { .. } => format!("{from} -> {to}"),
        Op::Uninstall { reason, .. } => match reason.note() {
            Some(note) => format!("{from} ({note})"),
            None => from,
        },
        Op::Enable { .. } | Op::Disable { .. } => String::new(),
        Op::SetLicense { .. } | Op::RemoveLicense { .. } => match change.op.license_change() {
            Some(hashes) => format!(
                "{} -> {}",
                hashes
                    .from
                    .as_ref()
                    .map_or("none".into(), ToString::to_string),
                hashes
                    .to
                    .as_ref()
                    .map_or("none".into(), ToString::to_string)
            ),
            None => String::new(),
        },
    };
    format!("{} {} {}", change.action(), shown(&change.key), detail)
        .trim_end()
        .to_string()
}

/// The apply report: what was done, what failed (and why), what was not started.
pub fn apply_text(reports: &[ApplyReport]) -> String {
    let mut out = String::new();
    for report in reports {
        let done = report
            .changes
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Done))
            .count();
        let restart = report
            .changes
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::PendingRestart { .. }))
            .count();
        let stale = report
            .changes
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Stale { .. }))
            .count();
        let would = report
            .changes
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::WouldDo))
            .count();
        let failed = report
            .changes
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed { .. }))
            .count();
        let not_started = report
            .changes
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::NotStarted))
            .count();
        let verdict = if would > 0
            || (report.changes.is_empty() && report.error.is_none() && done == 0 && failed == 0)
        {
            if would > 0 {
                format!("dry run, {would} change(s) would be made, nothing was changed")
            } else {
                "nothing to do".to_string()
            }
        } else {
            let mut verdict = format!("{done} done");
            if restart > 0 {
                verdict.push_str(&format!(", {restart} waiting for a restart"));
            }
            verdict.push_str(&format!(", {failed} failed"));
            if stale > 0 {
                verdict.push_str(&format!(", {stale} stale"));
            }
            verdict.push_str(&format!(", {not_started} not started"));
            verdict
        };
        let _ = writeln!(out, "{}: {verdict}", report.name);
        if let Some(error) = &report.error {
            let _ = writeln!(out, "  error: {}", indent(&escape_lines(error), "    "));
        }
        for change in &report.changes {
            let status = match &change.outcome {
                Outcome::Done => "done       ",
                Outcome::PendingRestart { .. } => "RESTART    ",
                Outcome::WouldDo => "would do   ",
                Outcome::NotStarted => "not started",
                Outcome::Failed { .. } => "FAILED     ",
                Outcome::Stale { .. } => "STALE      ",
            };
            let _ = writeln!(out, "  {status} {}", change_line(&change.change));
            match &change.outcome {
                Outcome::Failed { error } | Outcome::Stale { error } => {
                    let _ = writeln!(out, "    error: {}", indent(&escape_lines(error), "    "));
                }
                Outcome::PendingRestart { note } => {
                    let _ = writeln!(out, "    {}", shown(note));
                }
                _ => {}
            }
        }
    }
    out
}

/// Colours text already escaped for a terminal (the printer calls it when the stream's colour is
/// on; docs/terminal.md): line by line, by how each line starts, never by what a server said (a
/// server value cannot start a line: it is escaped). `+` lines green, `-` red, `~` yellow, a
/// downgrade `-/+` magenta and bold, warnings, conflicts and failures bold; the `warning:`,
/// `error:` and `hint:` prefixes of stderr as cargo colours them. What a line says is unchanged.
pub fn style_lines(text: &str) -> String {
    use anstyle::{AnsiColor, Style};
    let green = AnsiColor::Green.on_default();
    let red = AnsiColor::Red.on_default();
    let yellow = AnsiColor::Yellow.on_default();
    let cyan = AnsiColor::Cyan.on_default();
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        // A prefix styled on its own (stderr's `warning:`), or the whole line.
        let prefixes = [
            ("warning:", yellow.bold()),
            ("error:", red.bold()),
            ("hint:", cyan.bold()),
        ];
        if let Some((prefix, style)) = prefixes
            .iter()
            .find(|(prefix, _)| indent.is_empty() && body.starts_with(prefix))
        {
            let _ = write!(out, "{style}{prefix}{style:#}{}", &body[prefix.len()..]);
            continue;
        }
        let style = if body.starts_with("-/+ ") {
            Some(AnsiColor::Magenta.on_default().bold())
        } else if body.starts_with("+ ") {
            Some(green)
        } else if body.starts_with("- ") {
            Some(red)
        } else if body.starts_with("~ ") {
            Some(yellow)
        } else if body.starts_with("! warning:") || body.starts_with("warning:") {
            Some(yellow.bold())
        } else if body.starts_with("! ") {
            Some(yellow)
        } else if body.starts_with("CONFLICT:")
            || body.starts_with("error:")
            || body.starts_with("FAILED ")
            || body.starts_with("STALE ")
        {
            Some(red.bold())
        } else if body.starts_with("RESTART ") {
            Some(yellow)
        } else if body.starts_with("done ") {
            Some(green)
        } else if body.starts_with("not started ") || body.starts_with("? ") {
            Some(dim)
        } else if indent.is_empty()
            && (body.starts_with("Instance ") || body.ends_with(": in sync"))
        {
            Some(if body.ends_with(": in sync") {
                green
            } else {
                bold
            })
        } else if indent.is_empty() && body.contains(": drift (") {
            Some(yellow.bold())
        } else if body.starts_with("Plan for ") {
            Some(bold)
        } else {
            None
        };
        match style {
            Some(style) if !body.is_empty() => {
                let _ = write!(out, "{indent}{style}{body}{style:#}");
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// A value for one line of the output: text from a server (keys, names, versions, vendor text,
/// error bodies) cannot move the cursor, clear the screen or start a line of its own.
fn shown(value: &(impl std::fmt::Display + ?Sized)) -> String {
    escape(&value.to_string()).into_owned()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .collect::<Vec<_>>()
        .join(&format!("\n{prefix}"))
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

    fn artifact() -> PlannedArtifact {
        PlannedArtifact::Uri {
            url: Url::parse("http://m.test/a.jar").unwrap(),
            sha256: None,
            fetch_first: false,
        }
    }

    fn change(key: &str, op: Op) -> Change {
        Change {
            key: AppKey::new(key),
            name: Some("An App".into()),
            op,
            incompatible: None,
            assumed: Default::default(),
        }
    }

    fn upgrade(from: &str, to: &str) -> Op {
        Op::Upgrade {
            from: v(from),
            to: v(to),
            enabled: true,
            artifact: artifact(),
        }
    }

    #[test]
    fn plan_text_shows_each_app_as_a_state_diff() {
        let license = change(
            "com.a",
            Op::SetLicense {
                version: v("2.0"),
                from: None,
                to: License::new(Secret::new("SECRET-LICENSE"), "env L"),
            },
        );
        let planned = InstancePlan {
            product: None,
            pending_restart: Vec::new(),
            blocked_by: Vec::new(),
            name: "jira".into(),
            url: Url::parse("http://u:p@jira.test/jira/").unwrap(),
            changes: vec![change("com.a", upgrade("1.0", "2.0")), license],
            unmanaged: vec![],
        };
        let plan = Plan {
            instances: vec![PlannedInstance {
                name: "jira".into(),
                url: planned.url.clone(),
                live: None,
                result: Ok(planned),
            }],
        };
        let text = plan_text(&plan);
        assert!(
            text.contains("Instance jira (http://jira.test/jira/)"),
            "{text}"
        );
        assert!(
            text.contains("~ com.a  An App  (upgrade, license-set)"),
            "{text}"
        );
        assert!(text.contains("- version: 1.0\n"), "{text}");
        assert!(text.contains("+ version: 2.0\n"), "{text}");
        assert!(
            text.contains(&format!("+ license: {}", LicenseHash::of("SECRET-LICENSE"))),
            "{text}"
        );
        assert!(
            text.contains("Plan for jira: 1 upgrade, 1 license-set."),
            "{text}"
        );
        assert!(!text.contains("SECRET-LICENSE") && !text.contains("u:p"));
    }

    /// A server's key, name or version cannot clear the screen, move the cursor, reorder text or
    /// start a line that looks like a change a human approves.
    #[test]
    fn server_text_is_escaped_in_plan_drift_and_apply_text() {
        let evil_key = "com.a\n  - com.victim  (uninstall)\u{1b}[2J";
        let mut upgrade = change(evil_key, upgrade("1.0", "2.0"));
        upgrade.name = Some("App\u{1b}]0;title\u{7}\u{202e}kcab".into());
        let planned = InstancePlan {
            product: None,
            pending_restart: Vec::new(),
            blocked_by: Vec::new(),
            name: "jira".into(),
            url: Url::parse("https://jira.test/").unwrap(),
            changes: vec![upgrade.clone()],
            unmanaged: vec![crate::plan::UnmanagedApp {
                key: AppKey::new("com.u\u{1b}[1A"),
                name: "Unmanaged\n  + com.fake".into(),
                version: Version::from_server("1.0\u{202e}"),
                enabled: true,
            }],
        };
        let plan = Plan {
            instances: vec![
                PlannedInstance {
                    name: "jira".into(),
                    url: planned.url.clone(),
                    live: None,
                    result: Ok(planned),
                },
                PlannedInstance {
                    name: "conf".into(),
                    url: Url::parse("https://conf.test/").unwrap(),
                    live: None,
                    result: Err(std::sync::Arc::new(crate::ops::InstanceError::Read {
                        instance: "conf\u{1b}[2J".into(),
                        source: crate::upm::UpmError::ProductInfo {
                            errors: vec![crate::upm::UpmError::UploadDisabled {
                                body: "status 500: \u{1b}[2Jgone".into(),
                            }],
                        },
                    })),
                },
            ],
        };
        let report = ApplyReport {
            name: "jira".into(),
            error: Some("body: \u{1b}[31mred\nsecond line".into()),
            changes: vec![crate::execute::ChangeReport {
                change: upgrade,
                outcome: Outcome::Failed {
                    error: "installed `x\u{1b}[0m`".into(),
                },
            }],
        };
        for text in [plan_text(&plan), drift_text(&plan), apply_text(&[report])] {
            assert!(
                !text
                    .chars()
                    .any(|c| c != '\n' && crate::printable::is_hidden(c)),
                "{text:?}"
            );
            for line in text.lines() {
                let line = line.trim_start();
                assert!(
                    !line.starts_with("- com.victim") && !line.starts_with("+ com.fake"),
                    "a server value started a line: {text}"
                );
            }
            assert!(text.contains("\\u{1b}"), "{text}");
        }
    }

    #[test]
    fn style_lines_colours_by_how_lines_start_and_changes_no_word() {
        let plan = "Instance jira (http://jira.test/)\n  + com.new  (install)\n      + version: 1.0\n  - com.old  (uninstall)\n  ~ com.up  (upgrade)\n  -/+ com.down  (downgrade)\n      ! warning: data may be lost\n  plain line\n";
        let styled = style_lines(plan);
        let green = anstyle::AnsiColor::Green.on_default();
        let red = anstyle::AnsiColor::Red.on_default();
        let yellow = anstyle::AnsiColor::Yellow.on_default();
        assert!(
            styled.contains(&format!("  {green}+ com.new  (install){green:#}\n")),
            "{styled:?}"
        );
        assert!(
            styled.contains(&format!("      {green}+ version: 1.0{green:#}")),
            "{styled:?}"
        );
        assert!(
            styled.contains(&format!("  {red}- com.old  (uninstall){red:#}")),
            "{styled:?}"
        );
        assert!(
            styled.contains(&format!("  {yellow}~ com.up  (upgrade){yellow:#}")),
            "{styled:?}"
        );
        let down = anstyle::AnsiColor::Magenta.on_default().bold();
        assert!(
            styled.contains(&format!("{down}-/+ com.down  (downgrade){down:#}")),
            "{styled:?}"
        );
        assert!(
            styled.contains(&format!("{}! warning: data may be lost", yellow.bold())),
            "{styled:?}"
        );
        assert!(styled.contains("\n  plain line\n"), "{styled:?}");
        // Only styles were added: without them, the text is the same.
        let plain: String = anstream_strip(&styled);
        assert_eq!(plain, plan);
        let error = style_lines("error: it failed\nCaused by: x\nhint: do y");
        let bold_red = red.bold();
        assert!(
            error.starts_with(&format!(
                "{bold_red}error:{bold_red:#} it failed\nCaused by: x\n"
            )),
            "{error:?}"
        );
    }

    /// The text without its ANSI styles.
    fn anstream_strip(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn change_line_names_versions() {
        assert_eq!(
            change_line(&change(
                "k",
                Op::Downgrade {
                    from: v("2"),
                    to: v("1"),
                    enabled: true,
                    artifact: artifact(),
                    restore: Restore::Impossible
                }
            )),
            "downgrade k 2 -> 1"
        );
        assert_eq!(
            change_line(&change(
                "k",
                Op::Uninstall {
                    from: v("2"),
                    reason: crate::plan::UninstallReason::Absent
                }
            )),
            "uninstall k 2"
        );
        assert_eq!(
            change_line(&change(
                "k",
                Op::Disable {
                    from: v("2"),
                    to: v("2")
                }
            )),
            "disable k"
        );
    }
}
