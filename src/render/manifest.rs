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
use crate::model::{AppKey, Hosting, UnmanagedPolicy};
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
    // Defaults (`datacenter`, `ignore`) are left out, as most manifests leave them.
    if let Some(hosting @ Hosting::Server) = instance.hosting {
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
    let policy = match instance.unmanaged {
        None | Some(UnmanagedPolicy::Ignore) => None,
        Some(UnmanagedPolicy::Report) => Some("report"),
        Some(UnmanagedPolicy::Uninstall) => Some("uninstall"),
    };
    if let Some(policy) = policy {
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
    use crate::ops::import::ImportedInstance;

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

    fn app(
        key: &str,
        version: &str,
        enabled: bool,
        licensed: bool,
        listing: Listing,
    ) -> ImportedApp {
        ImportedApp {
            key: AppKey::new(key),
            name: format!("{key}\n# name"),
            version: version.into(),
            enabled,
            licensed,
            listing,
        }
    }

    fn instance(name: &str, auth: WrittenAuth, apps: Vec<ImportedApp>) -> ImportedInstance {
        ImportedInstance {
            written: WrittenInstance {
                name: name.into(),
                url: url::Url::parse(&format!("https://{name}.example.com/jira/")).unwrap(),
                product: crate::model::Product::Confluence,
                hosting: Some(Hosting::Server),
                auth,
                unmanaged: Some(UnmanagedPolicy::Report),
                ca_file: None,
                insecure_skip_tls_verify: true,
                allow_http: false,
            },
            apps,
        }
    }

    #[test]
    fn the_manifest_round_trips_through_the_loader() {
        let imported = Imported {
            marketplace_url: Some(url::Url::parse("https://mirror.example.com/mpac").unwrap()),
            instances: vec![
                instance(
                    "one",
                    WrittenAuth::Bearer {
                        token_env: "ONE_PAT".into(),
                    },
                    vec![
                        app("com.a", "1.10", true, true, Listing::Listed),
                        app("com.b", "2", false, false, Listing::NotListed),
                        app("com.c", "1.0.0-beta-2", true, false, Listing::Listed),
                    ],
                ),
                instance(
                    "two",
                    WrittenAuth::Basic {
                        username_env: "TWO_USER".into(),
                        password_env: "TWO_PASSWORD".into(),
                    },
                    vec![
                        app("com.a", "1.10", true, false, Listing::Listed),
                        app(
                            "com.b",
                            "3",
                            true,
                            false,
                            Listing::VersionNotListed(Hosting::Server),
                        ),
                    ],
                ),
            ],
        };
        let text = import_yaml(&imported, "apps.yaml");
        assert!(text.contains("  # licensed on one: manage it"), "{text}");
        let desired = crate::manifest::parse_str(
            &text,
            std::path::Path::new("/nowhere/imported.yaml"),
            &crate::manifest::LoadOptions::default(),
            &|_| Some("value".into()),
        )
        .unwrap_or_else(|error| panic!("{error}\n{text}"));
        assert_eq!(
            desired.marketplace_url.as_str(),
            "https://mirror.example.com/mpac/"
        );
        let pins = |index: usize| -> Vec<(String, String, bool)> {
            desired.instances[index]
                .apps
                .values()
                .map(|app| match &app.state {
                    crate::model::DesiredState::Present(present) => (
                        app.key.to_string(),
                        present.version.to_string(),
                        present.enabled,
                    ),
                    crate::model::DesiredState::Absent => panic!("absent"),
                })
                .collect()
        };
        let pin =
            |key: &str, version: &str, enabled| (key.to_string(), version.to_string(), enabled);
        assert_eq!(
            pins(0),
            [
                pin("com.a", "1.10", true),
                pin("com.b", "2", false),
                pin("com.c", "1.0.0-beta-2", true)
            ]
        );
        assert_eq!(
            pins(1),
            [pin("com.a", "1.10", true), pin("com.b", "3", true)]
        );
        let one = &desired.instances[0];
        assert_eq!(
            (
                one.hosting,
                one.unmanaged,
                one.transport.insecure_skip_tls_verify
            ),
            (Hosting::Server, UnmanagedPolicy::Report, true)
        );
        assert!(matches!(
            one.credentials,
            crate::model::Credentials::Bearer { .. }
        ));
    }

    #[test]
    fn comments_hold_no_hidden_characters() {
        assert_eq!(comment_text("Evil\nname: x\u{202e}"), "Evil name: x");
    }
}
