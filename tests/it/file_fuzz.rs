//! The lock and saved-plan loaders never panic, and escaped server text is inert: whatever bytes they are given, they return `Ok` or
//! `Err`, and what they accept can be used (targets built, artifacts shown) without a panic.

use std::path::Path;

use proptest::prelude::*;
use upmsync::lock::Lock;
use upmsync::saved::SavedPlan;

fn lock(bytes: &[u8]) {
    match Lock::from_bytes(bytes) {
        Ok(lock) => {
            for instance in lock.instances.values() {
                for entry in instance.apps.values() {
                    // Every entry that loads names its artifact.
                    let release = entry.release(Path::new("/base")).unwrap();
                    let _ = release.version.to_string();
                    let _ = release.artifact.to_string();
                }
            }
            let _ = lock.to_text();
        }
        Err(reason) => assert!(!reason.to_string().is_empty()),
    }
}

fn saved(bytes: &[u8]) {
    match SavedPlan::from_bytes(bytes) {
        Ok(plan) => {
            let _ = plan.manifest_path(Path::new("plans/plan.json"));
        }
        Err(reason) => assert!(!reason.to_string().is_empty()),
    }
}

fn lock_lines() -> impl Strategy<Value = String> {
    let line = prop::sample::select(vec![
        "lock_version: 1",
        "lock_version: 2",
        "instances:",
        "instances: {}",
        "  jira:",
        "  \"ji ra\":",
        "    hosting: datacenter",
        "    hosting: cloud",
        "    product_build: 100",
        "    product_build: -1",
        "    apps:",
        "      com.a:",
        "      \"com.a\\e\":",
        "      \"\":",
        "        requested: 1.0.0",
        "        requested: latest",
        "        source: marketplace",
        "        install: auto",
        "        install: upload",
        "        version: 1.0.0",
        "        version: \"\"",
        "        build_number: 7",
        "        delivery: uri",
        "        delivery: upload",
        "        url: https://m.example/a.jar",
        "        url: ftp://m.example/a.jar",
        "        url: not a url",
        "        path: a.jar",
        "        path: ../../etc/passwd",
        "        sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "        sha256: 9f86d0",
        "        sha256: zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "        compatibility:",
        "          - {min_build: 1, max_build: 2}",
        "          - {min_build: 3, max_build: 1, min_version: \"\\u202e\"}",
        "        hosting: server",
        "        allow_incompatible: true",
        "  - x",
        "---",
        "&a [*a]",
        "\0",
        "",
    ]);
    prop::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"))
}

fn saved_parts() -> impl Strategy<Value = String> {
    let part = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"saved_plan_version\": 1",
        "\"manifest\": \"apps.yaml\"",
        "\"manifest\": \"\"",
        "\"manifest_sha256\": \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"",
        "\"manifest_sha256\": \"x\"",
        "\"lock_sha256\": null",
        "\"instances\": [",
        "\"name\": \"jira\"",
        "\"name\": \"ji\\u001bra\"",
        "\"live_sha256\": \"\"",
        "\"changes\": []",
        "\"changes\": [{\"key\": \"com.a\\u202e\"}]",
        "\"files\": {\"com.a\": \"missing\"}",
        "\"files\": {\"com.a\": \"abc\"}",
        "\u{0}",
        "\u{202e}",
        " ",
    ]);
    prop::collection::vec(part, 0..40).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_lock(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        lock(&bytes);
    }

    #[test]
    fn lock_like_text_never_panics(text in lock_lines()) {
        lock(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_saved_plan(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        saved(&bytes);
    }

    #[test]
    fn plan_like_text_never_panics(text in saved_parts()) {
        saved(text.as_bytes());
    }

    /// Whatever a server sends, its escaped form is one line with nothing a terminal acts on, and
    /// escaped JSON is the same value.
    #[test]
    fn escaped_server_text_is_inert(text in any::<String>()) {
        let one_line = upmsync::printable::escape(&text);
        prop_assert!(!one_line.chars().any(upmsync::printable::is_hidden), "{one_line:?}");
        let lines = upmsync::printable::escape_lines(&text);
        prop_assert!(!lines.chars().any(|c| c != '\n' && upmsync::printable::is_hidden(c)));
        prop_assert_eq!(lines.matches('\n').count(), text.matches('\n').count());
        let json = serde_json::to_string(&text).unwrap();
        let escaped = upmsync::printable::escape_json(&json);
        prop_assert!(!escaped.chars().any(upmsync::printable::is_hidden));
        let back: String = serde_json::from_str(&escaped).unwrap();
        prop_assert_eq!(back, text);
    }
}

#[test]
fn known_hard_inputs_never_panic() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let laughs = {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let previous = level - 1;
            text.push_str(&format!(
                "a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"
            ));
        }
        text
    };
    for text in [
        "",
        "\u{feff}",
        "~",
        "[]",
        "lock_version: 1\ninstances: {jira: {hosting: datacenter, apps: {com.a: {}}}}\n",
        "lock_version: 99999999999999999999\n",
        &deep,
        &laughs,
        &"{a: ".repeat(10_000),
    ] {
        lock(text.as_bytes());
        saved(text.as_bytes());
    }
}
