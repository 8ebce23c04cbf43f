//! `parse_str` never panics: whatever it is given, it returns `Ok` or `Err`.

use std::path::Path;

use proptest::prelude::*;
use upmsync::manifest::{self, LoadOptions};

fn env(name: &str) -> Option<String> {
    (!name.len().is_multiple_of(3)).then(|| name.to_lowercase())
}

fn parse(text: &str, require_secrets: bool) {
    let options = LoadOptions {
        require_secrets,
        ..LoadOptions::default()
    };
    match manifest::parse_str(text, Path::new("fuzz/apps.yaml"), &options, &env) {
        Ok(desired) => assert!(!desired.instances.is_empty()),
        Err(error) => {
            assert!(!error.problems().is_empty());
            let _ = error.to_string();
        }
    }
}

/// Lines of a manifest, shuffled and mutated, so the fuzzer reaches past the YAML parser.
fn manifest_lines() -> impl Strategy<Value = String> {
    let line = prop::sample::select(vec![
        "marketplace:",
        "  url: https://marketplace.atlassian.com",
        "instances:",
        "  - name: jira",
        "  - name: jira",
        "    url: https://jira.example.com/jira",
        "    url: ftp://x",
        "    product: jira",
        "    product: [jira]",
        "    auth: {token_env: PAT}",
        "    auth:",
        "      username_env: USER",
        "      password_env: PASSWORD",
        "    unmanaged: report",
        "    apps:",
        "      - key: com.x",
        "        enabled: false",
        "        state: absent",
        "        version: 2.0.0",
        "apps:",
        "  - key: com.x",
        "  - key: com.y",
        "    version: 1.0.0",
        "    version: latest",
        "    version: \">=8.20, <9\"",
        "    version: >=8.20",
        "    version: ~8.28",
        "    install: uri",
        "    install: upload",
        "    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "    sha256: abc",
        "    allow_incompatible: true",
        "    hosting: server",
        "    state: absent",
        "    license: absent",
        "    license: {env: LICENSE}",
        "    license: {file: missing.txt}",
        "    source: {url: https://example.com/x.jar}",
        "    source: {path: Cargo.toml}",
        "  - &a {key: com.z, version: 1.0.0}",
        "  - *a",
        "---",
        "",
    ]);
    prop::collection::vec(line, 0..40).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), require in any::<bool>()) {
        parse(&String::from_utf8_lossy(&bytes), require);
    }

    #[test]
    fn yaml_like_text_never_panics(text in "[-a-z_:{}\\[\\],&*!|>'\"#?~%@` \n\t.0-9]{0,300}", require in any::<bool>()) {
        parse(&text, require);
    }

    #[test]
    fn manifest_like_text_never_panics(text in manifest_lines(), require in any::<bool>()) {
        parse(&text, require);
    }
}

#[test]
fn known_hard_inputs_never_panic() {
    let deep_flow = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let deep_block: String = (0..200)
        .map(|depth| format!("{}- \n", "  ".repeat(depth)))
        .collect();
    for text in [
        "",
        "\u{feff}",
        "\u{feff}instances: []",
        "---",
        "...",
        "? [a]\n: b",
        "{[a]: b}",
        "*undefined",
        "&a [*a]",
        "!!binary aGVsbG8=",
        "%YAML 1.2\n---\na: b",
        "instances: !!str 5",
        &"[".repeat(100_000),
        &"{a: ".repeat(10_000),
        &deep_flow,
        &deep_block,
        &"- ".repeat(10_000),
        &"a:\n  ".repeat(1_000),
        "\0\0\0",
        "'unterminated",
        "\"\\u{d800}\"",
        "key: \"\\ud800\"",
    ] {
        parse(text, true);
    }
}
