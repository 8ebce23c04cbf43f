//! Secrets (passwords, tokens, license text) never appear in an error message or a `Debug` dump.

use std::fs;
use std::path::Path;

use upmsync::manifest::{self, LoadOptions};

const LICENSE: &str = "AAABrQ0ODAoPeNp9kV1vgjAUhu/7K0h2jRaMX0ubLLplmNgpu2TDDiB5gorVRLP6o";
const PASSWORD: &str = "hunter2-correct-horse";

fn env(name: &str) -> Option<String> {
    match name {
        "LICENSE" => Some(format!("  {LICENSE}\n")),
        "PASSWORD" | "TOKEN" => Some(PASSWORD.to_string()),
        "USER" => Some("admin".to_string()),
        _ => None,
    }
}

fn assert_hidden(text: &str, path: &Path) {
    let error = manifest::parse_str(text, path, &LoadOptions::default(), &env)
        .expect_err("this manifest has a problem");
    let shown = format!("{error}\n{error:?}\n{:?}", error.problems());
    for secret in [LICENSE, &LICENSE[..24], PASSWORD] {
        assert!(!shown.contains(secret), "secret shown for\n{text}\n{shown}");
    }
}

const BASE: &str = "instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    auth: {username_env: USER, password_env: PASSWORD}
";

#[test]
fn license_values_never_appear_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("apps.yaml");
    fs::write(dir.path().join("license.txt"), format!("\n{LICENSE}\n")).unwrap();
    // Each manifest reads or holds the license and has one unrelated problem.
    let cases = [
        format!("{BASE}    unmanaged: all\napps:\n  - key: com.x\n    version: 1.0.0\n    license: {{env: LICENSE}}\n"),
        format!("{BASE}    unmanaged: all\napps:\n  - key: com.x\n    version: 1.0.0\n    license: {{file: license.txt}}\n"),
        format!("{BASE}apps:\n  - key: com.x\n    version: 1.0.0\n    license: {LICENSE}\n"),
        format!("{BASE}apps:\n  - key: com.x\n    version: 1.0.0\n    license: \"{LICENSE}\"\n"),
        format!("{BASE}apps:\n  - key: com.x\n    version: 1.0.0\n    license: |\n      {LICENSE}\n"),
        format!("{BASE}apps:\n  - key: com.x\n    version: 1.0.0\n    license: {{text: {LICENSE}}}\n"),
        format!("{BASE}apps:\n  - key: com.x\n    version: 1.0.0\n    license: {{env: \"{LICENSE}==\"}}\n"),
        format!("{BASE}apps:\n  - key: com.x\n    version: 1.0.0\n    license: {{{LICENSE}: x}}\n"),
        format!("{BASE}apps:\n  - key: com.x\n    version: 1.0.0\n    license:\n      {LICENSE}: x\n      {LICENSE}: y\n"),
        format!("{BASE}apps:\n  - key: com.x\n    version: 1.0.0\n    license_text: {LICENSE}\n"),
        format!("{BASE}apps:\n  - key: com.x\n    state: absent\n    license: {{env: LICENSE}}\n"),
        format!("{BASE}apps:\n  - key: com.x\n    version: 1.0.0\n    license: {{env: LICENSE}}\n    license: {{env: LICENSE}}\n"),
    ];
    for text in &cases {
        assert_hidden(text, &manifest_path);
    }
}

#[test]
fn passwords_never_appear_in_errors() {
    let cases = [
        BASE.replace("password_env: PASSWORD", &format!("password: {PASSWORD}")),
        BASE.replace(
            "password_env: PASSWORD",
            &format!("password_env: \"{PASSWORD}!\""),
        ),
        BASE.replace(
            "https://jira.example.com",
            &format!("https://admin:{PASSWORD}@jira.example.com"),
        ),
        BASE.replace(
            "https://jira.example.com",
            &format!("\"https://admin:{PASSWORD}@jira example.com\""),
        ),
        BASE.replace(
            "{username_env: USER, password_env: PASSWORD}",
            &format!("admin:{PASSWORD}"),
        ),
        format!("{BASE}    unmanaged: all\n"),
        format!("{BASE}    token: {PASSWORD}\n"),
    ];
    for text in &cases {
        assert_hidden(text, Path::new("apps.yaml"));
    }
}

#[test]
fn a_loaded_manifest_redacts_its_secrets_in_debug_output() {
    let text =
        format!("{BASE}apps:\n  - key: com.x\n    version: 1.0.0\n    license: {{env: LICENSE}}\n");
    let desired =
        manifest::parse_str(&text, Path::new("apps.yaml"), &LoadOptions::default(), &env).unwrap();
    let shown = format!("{desired:?}");
    assert!(!shown.contains(LICENSE), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains("[redacted]"));
}
