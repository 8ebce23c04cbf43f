//! `upmsync import`'s manifest: YAML written by hand (comments included), every value a plain
//! scalar only when YAML cannot read it as anything but that string, else double-quoted.
//!
//! Apps installed alike (version, enabled, listing) on every instance go in the top-level `apps`,
//! the others in their instance's `apps`. A licensed app gets a comment, never its license; an
//! in-house app (not on the Marketplace) is pinned without a `source`, with a comment: an exact
//! version that is installed plans no change and asks the Marketplace nothing (docs/manifest.md),
//! but a reinstall or `upmsync lock` needs the `source`.

use std::collections::BTreeMap;

use crate::manifest::{WrittenAuth, WrittenInstance};
use crate::model::{AppKey, UnmanagedPolicy};
use crate::ops::import::{Imported, ImportedApp, Listing};

/// The manifest `upmsync import` prints for `imported`, read from the manifest named `from`.
pub fn import_yaml(imported: &Imported, from: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# Written by `upmsync import` from {}: every user-installed app pinned at its installed\n\
         # version and enabled state. `upmsync plan` against the same instances shows no changes.\n\
         # Licenses are never written: licensed apps are named in comments.\n",
        comment_text(from)
    ));
    if let Some(url) = &imported.marketplace_url {
        out.push_str(&format!("marketplace:\n  url: {}\n", scalar(url.as_str())));
    }
    let names: Vec<&str> = imported
        .instances
        .iter()
        .map(|instance| instance.written.name.as_str())
        .collect();
    let shared = shared_apps(imported);
    out.push_str("instances:\n");
    for instance in &imported.instances {
        write_instance(&mut out, &instance.written);
        let own: Vec<&ImportedApp> = instance
            .apps
            .iter()
            .filter(|app| !shared.contains_key(&app.key))
            .collect();
        if !own.is_empty() {
            out.push_str("    apps:\n");
            for app in own {
                write_app(&mut out, "      ", app, app.licensed, &[]);
            }
        }
    }
    if !shared.is_empty() {
        out.push_str("apps:\n");
        for (app, licensed_on) in shared.values() {
            let everywhere = licensed_on.len() == names.len();
            write_app(
                &mut out,
                "  ",
                app,
                !licensed_on.is_empty(),
                if everywhere || names.len() == 1 {
                    &[]
                } else {
                    licensed_on
                },
            );
        }
    }
    out
}

/// The apps installed alike on every instance (same version, enabled state and listing), by key,
/// each with the instances it is licensed on.
fn shared_apps(imported: &Imported) -> BTreeMap<AppKey, (ImportedApp, Vec<String>)> {
    let mut shared = BTreeMap::new();
    let Some((first, rest)) = imported.instances.split_first() else {
        return shared;
    };
    for app in &first.apps {
        let alike = rest.iter().all(|instance| {
            instance.apps.iter().any(|other| {
                other.key == app.key
                    && other.version == app.version
                    && other.enabled == app.enabled
                    && other.listing == app.listing
            })
        });
        if alike {
            let licensed_on = imported
                .instances
                .iter()
                .filter(|instance| {
                    instance
                        .apps
                        .iter()
                        .any(|other| other.key == app.key && other.licensed)
                })
                .map(|instance| instance.written.name.clone())
                .collect();
            shared.insert(app.key.clone(), (app.clone(), licensed_on));
        }
    }
    shared
}

/// One entry of `instances`, without its `apps`.
fn write_instance(out: &mut String, instance: &WrittenInstance) {
    out.push_str(&format!("  - name: {}\n", scalar(&instance.name)));
    out.push_str(&format!("    url: {}\n", scalar(instance.url.as_str())));
    out.push_str(&format!(
        "    product: {}\n",
        instance.product.marketplace_application()
    ));
    if let Some(hosting) = instance.hosting {
        out.push_str(&format!("    hosting: {}\n", hosting.as_str()));
    }
    out.push_str("    auth:\n");
    match &instance.auth {
        WrittenAuth::Basic {
            username_env,
            password_env,
        } => {
            out.push_str(&format!("      username_env: {}\n", scalar(username_env)));
            out.push_str(&format!("      password_env: {}\n", scalar(password_env)));
        }
        WrittenAuth::Bearer { token_env } => {
            out.push_str(&format!("      token_env: {}\n", scalar(token_env)));
        }
    }
    if let Some(unmanaged) = instance.unmanaged {
        let policy = match unmanaged {
            UnmanagedPolicy::Ignore => "ignore",
            UnmanagedPolicy::Report => "report",
            UnmanagedPolicy::Uninstall => "uninstall",
        };
        out.push_str(&format!("    unmanaged: {policy}\n"));
    }
    if let Some(ca_file) = &instance.ca_file {
        out.push_str(&format!("    ca_file: {}\n", scalar(ca_file)));
    }
    if instance.insecure_skip_tls_verify {
        out.push_str("    insecure_skip_tls_verify: true\n");
    }
    if instance.allow_http {
        out.push_str("    allow_http: true\n");
    }
}

/// One app entry at `indent`: its comments, `key`, `version`, and `enabled: false` when disabled.
/// `licensed_on` names the instances it is licensed on when that is not all of them.
fn write_app(
    out: &mut String,
    indent: &str,
    app: &ImportedApp,
    licensed: bool,
    licensed_on: &[String],
) {
    let name = comment_text(&app.name);
    if !name.is_empty() {
        out.push_str(&format!("{indent}# {name}\n"));
    }
    if licensed {
        let on = if licensed_on.is_empty() {
            String::new()
        } else {
            format!(" on {}", comment_text(&licensed_on.join(", ")))
        };
        out.push_str(&format!(
            "{indent}# licensed{on}: manage it with `license: {{file: ...}}` or `license: {{env: ...}}`\n"
        ));
    }
    match &app.listing {
        Listing::Listed => {}
        Listing::NotListed => out.push_str(&format!(
            "{indent}# in-house: not on the Marketplace; add `source: {{path: ...}}` or `source: {{url: ...}}` before it must be installed again (or locked)\n"
        )),
        Listing::VersionNotListed(hosting) => out.push_str(&format!(
            "{indent}# this version is not on the Marketplace for {}: add a `source` before it must be installed again (or locked)\n",
            hosting.as_str()
        )),
        Listing::Unchecked(_) => out.push_str(&format!(
            "{indent}# not checked against the Marketplace (it could not be asked)\n"
        )),
    }
    out.push_str(&format!("{indent}- key: {}\n", scalar(app.key.as_str())));
    out.push_str(&format!("{indent}  version: {}\n", scalar(&app.version)));
    if !app.enabled {
        out.push_str(&format!("{indent}  enabled: false\n"));
    }
}

/// `text` for a comment on one line: hidden characters (control, bidi, invisible: the manifest
/// loader refuses them anywhere) become spaces, and the text is trimmed.
fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if crate::printable::is_hidden(c) {
                ' '
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// `text` as a YAML scalar: plain when YAML (1.1 or 1.2) reads it back as this very string, else
/// double-quoted with JSON's escapes (which YAML's double-quoted style shares).
fn scalar(text: &str) -> String {
    if is_plain_safe(text) {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
    }
}

/// Whether `text` can be written as a plain scalar: only letters, digits and `._-:/@+` (URLs,
/// keys, versions), not starting with a character YAML gives a meaning, and not a value YAML
/// reads as a number, boolean or null (`1.10` is the number 1.1, `1e3`, `0x1F`, `yes`, `~`).
fn is_plain_safe(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return false;
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@' | '+'))
    {
        return false;
    }
    // `: ` would start a mapping; a colon at the end too.
    if text.ends_with(':') || text.contains(": ") {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "nan" | "inf"
    ) {
        return false;
    }
    // Numbers in any YAML spelling: digits with `_`, `.`, exponents, `0x`/`0o`/`0b`, and
    // sexagesimal `1:20`.
    let digits = lower.replace('_', "");
    let numeric = digits.parse::<f64>().is_ok()
        || digits.starts_with("0x")
        || digits.starts_with("0o")
        || digits.starts_with("0b")
        || (digits.contains(':')
            && digits.split(':').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_digit() || c == '.')
            }));
    !numeric
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_booleans_and_odd_characters_are_quoted() {
        for (text, written) in [
            ("8.28.1", "8.28.1"),
            ("1.10", "\"1.10\""),
            ("2", "\"2\""),
            ("1e3", "\"1e3\""),
            ("1_000", "\"1_000\""),
            ("0x1F", "\"0x1F\""),
            ("yes", "\"yes\""),
            ("No", "\"No\""),
            ("null", "\"null\""),
            ("1.0.0-beta-2", "1.0.0-beta-2"),
            ("7.10.0-DC", "7.10.0-DC"),
            ("com.vendor.alpha", "com.vendor.alpha"),
            ("http://127.0.0.1:2990/jira/", "http://127.0.0.1:2990/jira/"),
            ("a #b", "\"a #b\""),
            ("key: value", "\"key: value\""),
            ("-x", "\"-x\""),
            ("", "\"\""),
            ("1:20", "\"1:20\""),
        ] {
            assert_eq!(scalar(text), written, "{text}");
        }
    }

    #[test]
    fn comments_hold_no_hidden_characters() {
        assert_eq!(comment_text("Evil\nname: x\u{202e}"), "Evil name: x");
    }
}
