//! Manifest transport settings: `ca_file`, `insecure_skip_tls_verify`, `allow_http`, and plain
//! HTTP refused at load time for hosts that are not loopback.

use std::path::{Path, PathBuf};

use upmsync::manifest::{self, LoadOptions, Problem};
use upmsync::model::Desired;

/// A self-signed CA certificate (P-256), generated with openssl for these tests.
const CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBizCCATGgAwIBAgIUU2UELr4iA8xxTZKFYhSA/1MiXTkwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPdXBtc3luYyB0ZXN0IENBMCAXDTI2MTEyMjE2NDgzNFoYDzIx
MjYxMDI5MTY0ODM0WjAaMRgwFgYDVQQDDA91cG1zeW5jIHRlc3QgQ0EwWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAAReWBhFVG3dk8gAOuwLY9x7Q7fxiGuEWJEzCese
lSv+oq7oHjGTQPkq95fiyyD6A1xpvc7VKy1ba4QOsXEqG5tQo1MwUTAdBgNVHQ4E
FgQULqINbPVXBaUwznhCrx1sOmQDPvUwHwYDVR0jBBgwFoAULqINbPVXBaUwznhC
rx1sOmQDPvUwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAl+zM
nyXEutGE7jF0jzBgECSFqkEoBFQgRuLE7WZ2SrQCICr8muqmc5IMgJmWEBaHv6M2
OgH7gj4ZQn3I059siJoS
-----END CERTIFICATE-----
";

fn env(_name: &str) -> Option<String> {
    Some("value".into())
}

/// A manifest with one instance at `url`; `extra` is YAML for more instance fields (indented 4).
fn text(url: &str, extra: &str) -> String {
    format!(
        "instances:\n  - name: jira\n    url: {url}\n    product: jira\n    auth: {{token_env: PAT}}\n{extra}apps: []\n"
    )
}

fn load(folder: &Path, text: &str) -> Result<Desired, Vec<Problem>> {
    let path = folder.join("apps.yaml");
    manifest::parse_str(text, &path, &LoadOptions::default(), &env)
        .map_err(|error| error.problems().to_vec())
}

fn only(folder: &Path, text: &str) -> Problem {
    let mut problems = load(folder, text).expect_err("expected a problem");
    assert_eq!(problems.len(), 1, "expected one problem: {problems:#?}");
    problems.remove(0)
}

fn folder_with(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let folder = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = folder.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let path = folder.path().to_path_buf();
    (folder, path)
}

#[test]
fn defaults_are_verified_tls_and_no_plain_http() {
    let (_guard, folder) = folder_with(&[]);
    let desired = load(&folder, &text("https://jira.example.com", "")).unwrap();
    let transport = &desired.instances[0].transport;
    assert_eq!(transport.ca_file, None);
    assert!(!transport.insecure_skip_tls_verify);
    assert!(!transport.allow_http);
}

#[test]
fn a_ca_file_with_a_certificate_loads_relative_to_the_manifest() {
    let (_guard, folder) = folder_with(&[("certs/ca.pem", CA_PEM)]);
    let desired = load(
        &folder,
        &text(
            "https://jira.example.com",
            "    ca_file: certs/ca.pem\n    insecure_skip_tls_verify: false\n",
        ),
    )
    .unwrap();
    assert_eq!(
        desired.instances[0].transport.ca_file.as_deref(),
        Some(folder.join("certs/ca.pem").as_path())
    );
}

#[test]
fn a_ca_file_without_a_certificate_is_a_problem_at_its_line() {
    let (_guard, folder) = folder_with(&[
        ("notes.txt", "this is not a certificate\n"),
        (
            "key.pem",
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
        ),
        (
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\nMIIBizCCATGgAwIBAgIU\n-----END CERTIFICATE-----\n",
        ),
    ]);
    for (file, expected) in [
        ("notes.txt", "holds no PEM certificate"),
        ("key.pem", "holds no PEM certificate"),
        ("broken.pem", "cannot be read"),
    ] {
        let problem = only(
            &folder,
            &text(
                "https://jira.example.com",
                &format!("    ca_file: {file}\n"),
            ),
        );
        assert_eq!(problem.line, Some(6), "{problem}");
        assert_eq!(problem.column, Some(14), "{problem}");
        assert!(
            problem.message.contains(&format!("`ca_file` `{file}`")),
            "{problem}"
        );
        assert!(problem.message.contains(expected), "{problem}");
        assert!(
            problem.hint.as_deref().unwrap().contains("PEM"),
            "{problem}"
        );
    }
}

#[test]
fn a_missing_ca_file_is_a_problem_with_the_full_path() {
    let (_guard, folder) = folder_with(&[]);
    let problem = only(
        &folder,
        &text("https://jira.example.com", "    ca_file: nowhere.pem\n"),
    );
    assert_eq!(problem.line, Some(6));
    assert!(problem
        .message
        .contains(&folder.join("nowhere.pem").display().to_string()));
    assert!(problem.hint.as_deref().unwrap().contains("relative"));
}

#[test]
fn plain_http_to_a_remote_host_is_refused_at_load() {
    let (_guard, folder) = folder_with(&[]);
    for url in ["http://jira.example.com", "http://10.1.2.3:8080/jira"] {
        let problem = only(&folder, &text(url, ""));
        assert_eq!(problem.line, Some(3), "{problem}");
        assert!(problem.message.contains("plain `http://`"), "{problem}");
        assert!(problem.message.contains("not loopback"), "{problem}");
        let hint = problem.hint.as_deref().unwrap();
        assert!(hint.contains("https://"), "{problem}");
        assert!(hint.contains("allow_http: true"), "{problem}");
    }
}

#[test]
fn allow_http_accepts_plain_http_to_a_remote_host() {
    let (_guard, folder) = folder_with(&[]);
    let desired = load(
        &folder,
        &text("http://jira.example.com", "    allow_http: true\n"),
    )
    .unwrap();
    assert!(desired.instances[0].transport.allow_http);
}

#[test]
fn plain_http_to_loopback_is_accepted() {
    let (_guard, folder) = folder_with(&[]);
    for url in [
        "http://127.0.0.1:2990/jira",
        "http://127.8.9.10/",
        "http://[::1]:8090/",
        "http://localhost:2990/jira",
    ] {
        let desired = load(&folder, &text(url, "")).unwrap_or_else(|p| panic!("{url}: {p:#?}"));
        assert!(!desired.instances[0].transport.allow_http);
    }
}

#[test]
fn insecure_skip_tls_verify_is_read() {
    let (_guard, folder) = folder_with(&[]);
    let desired = load(
        &folder,
        &text(
            "https://jira.example.com",
            "    insecure_skip_tls_verify: true\n",
        ),
    )
    .unwrap();
    assert!(desired.instances[0].transport.insecure_skip_tls_verify);
}

#[test]
fn every_transport_problem_is_reported_at_once() {
    let (_guard, folder) = folder_with(&[("notes.txt", "no certificate\n")]);
    let problems = load(
        &folder,
        &text(
            "http://jira.example.com",
            "    ca_file: notes.txt\n    insecure_skip_tls_verify: yes\n    alow_http: true\n",
        ),
    )
    .unwrap_err();
    let lines: Vec<Option<usize>> = problems.iter().map(|problem| problem.line).collect();
    assert_eq!(lines, [Some(3), Some(6), Some(7), Some(8)], "{problems:#?}");
    assert!(problems[2]
        .message
        .contains("must be one of `true`, `false`, found `yes`"));
    assert!(problems[3].message.contains("unknown field `alow_http`"));
    assert_eq!(
        problems[3].hint.as_deref(),
        Some("did you mean `allow_http`?")
    );
}

#[test]
fn a_transport_field_in_an_app_entry_says_where_it_belongs() {
    let (_guard, folder) = folder_with(&[]);
    let text = "instances:\n  - name: jira\n    url: https://jira.example.com\n    product: jira\n    auth: {token_env: PAT}\napps:\n  - key: com.vendor.alpha\n    version: 1.0.0\n    allow_http: true\n";
    let problem = only(&folder, text);
    assert_eq!(problem.line, Some(9));
    assert!(problem
        .hint
        .as_deref()
        .unwrap()
        .contains("is a field of the instance"));
}
