//! Every byte of a file counts: the manifest, `apps.lock` and saved plans refuse NUL, control and
//! bidi characters (raw or written as escapes) with their place, a second document, and anything
//! the parser did not read; every lock value is checked on load, so no file makes upmsync panic.

use std::fs;
use std::path::{Path, PathBuf};

use upmsync::lock::{Lock, LockError};
use upmsync::manifest::{self, LoadOptions, ManifestError, Problem};
use upmsync::saved::SavedPlan;

fn env(_: &str) -> Option<String> {
    Some("value".into())
}

const HEAD: &str = "instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    auth: {token_env: PAT}
    unmanaged: uninstall
apps:
  - key: com.a
    version: 1.0.0
";

const TAIL: &str = "  - key: com.b
    version: 2.0.0
  - key: com.c
    version: 3.0.0
";

fn load_bytes(bytes: &[u8]) -> Result<upmsync::model::Desired, ManifestError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apps.yaml");
    fs::write(&path, bytes).unwrap();
    manifest::load_with_env(&path, &LoadOptions::default(), &env)
}

fn only_problem(bytes: &[u8]) -> Problem {
    let error = load_bytes(bytes).expect_err("the manifest must be refused");
    let [problem] = error.problems() else {
        panic!("expected one problem: {error}")
    };
    problem.clone()
}

#[test]
fn the_whole_manifest_loads() {
    let desired = load_bytes(format!("{HEAD}{TAIL}").as_bytes()).unwrap();
    assert_eq!(desired.instances[0].apps.len(), 3);
}

/// The finding: a NUL ended the file for the YAML scanner, so the apps after it did not exist and
/// `unmanaged: uninstall` would remove them.
#[test]
fn a_nul_byte_is_refused_with_its_place_not_the_end_of_the_file() {
    for at in ["", "  ", "# c"] {
        let text = format!("{HEAD}{at}\0\n{TAIL}");
        let problem = only_problem(text.as_bytes());
        assert_eq!(problem.line, Some(10), "{problem}");
        assert_eq!(problem.column, Some(at.len() + 1), "{problem}");
        assert!(problem.message.contains("NUL"), "{problem}");
    }
    // Through `parse_str` too (text already in memory).
    let text = format!("{HEAD}\0{TAIL}");
    let error = manifest::parse_str(&text, Path::new("apps.yaml"), &LoadOptions::default(), &env)
        .unwrap_err();
    assert!(
        error.to_string().contains("apps.yaml:10:1: a NUL byte"),
        "{error}"
    );
}

#[test]
fn control_and_bidi_characters_are_refused_anywhere_in_the_file() {
    for (inserted, what) in [
        ("\u{1b}[2J", "U+001B"),
        ("\u{7}", "U+0007"),
        ("\u{7f}", "U+007F"),
        ("\u{85}", "U+0085"),
        ("\u{202e}", "U+202E"),
        ("\u{2066}", "U+2066"),
        ("\u{200b}", "U+200B"),
        ("\u{feff}", "U+FEFF"),
        ("\u{2028}", "U+2028"),
    ] {
        // In a comment, where a reviewer sees it and the parser does not.
        let text = format!("{HEAD}  # note {inserted}\n{TAIL}");
        let problem = only_problem(text.as_bytes());
        assert_eq!(
            (problem.line, problem.column),
            (Some(10), Some(10)),
            "{what}: {problem}"
        );
        assert!(problem.message.contains(what), "{what}: {problem}");
        // In a key.
        let text = format!("{HEAD}  - key: com.{inserted}d\n");
        let problem = only_problem(text.as_bytes());
        assert_eq!(
            (problem.line, problem.column),
            (Some(10), Some(14)),
            "{what}: {problem}"
        );
    }
}

#[test]
fn control_and_bidi_characters_written_as_escapes_are_refused_in_keys_and_names() {
    for escape in [
        "\\e[2J", "\\0", "\\x07", "\\u202e", "\\u2067", "\\N", "\\u200b",
    ] {
        let key = format!("{HEAD}  - key: \"com.{escape}x\"\n    version: 1.0.0\n");
        let error = load_bytes(key.as_bytes()).expect_err(escape);
        assert!(
            error
                .problems()
                .iter()
                .any(|problem| problem.line == Some(10)
                    && problem.message.contains("written as an escape")),
            "{escape}: {error}"
        );
        // No message quotes the character itself.
        assert!(
            !error
                .to_string()
                .chars()
                .any(|c| c != '\n' && upmsync::printable::is_hidden(c)),
            "{error:?}"
        );
        let name = HEAD.replace("name: jira", &format!("name: \"jira{escape}\""));
        let error = load_bytes(name.as_bytes()).expect_err(escape);
        assert!(
            error
                .problems()
                .iter()
                .any(|problem| problem.line == Some(2)),
            "{escape}: {error}"
        );
    }
}

#[test]
fn a_leading_bom_is_accepted_but_not_invalid_utf8_or_a_second_document() {
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend_from_slice(HEAD.as_bytes());
    assert!(load_bytes(&bytes).is_ok());

    let mut bytes = HEAD.as_bytes().to_vec();
    bytes.extend_from_slice(b"  - key: com.\xc3(\n");
    let problem = only_problem(&bytes);
    assert_eq!(
        (problem.line, problem.column),
        (Some(10), Some(14)),
        "{problem}"
    );
    assert!(problem.message.contains("UTF-8"), "{problem}");

    for separator in ["---\n", "...\n---\n", "...\n"] {
        let text = format!("{HEAD}{separator}{TAIL}");
        let error = load_bytes(text.as_bytes()).expect_err(separator);
        assert!(
            error
                .problems()
                .iter()
                .any(|problem| problem.line >= Some(10) && problem.message.contains("second")),
            "{separator:?}: {error}"
        );
    }
}

// --- the lock ---

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn lock_text(entry: &str) -> String {
    format!(
        "lock_version: 1
instances:
  jira:
    hosting: datacenter
    apps:
      com.a:
{entry}"
    )
}

fn entry(sha256: &str) -> String {
    format!(
        "        requested: 1.0.0
        source: marketplace
        install: auto
        version: 1.0.0
        delivery: uri
        url: https://marketplace.example/download/a.jar
        sha256: {sha256}
"
    )
}

fn write_lock(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("apps.yaml");
    fs::write(dir.path().join("apps.lock"), bytes).unwrap();
    (dir, manifest)
}

fn lock_reason(bytes: &[u8]) -> String {
    let (_dir, manifest) = write_lock(bytes);
    match Lock::load(&manifest) {
        Err(LockError::Invalid { path, problem }) => {
            assert!(path.ends_with("apps.lock"));
            let shown = LockError::Invalid {
                path,
                problem: problem.clone(),
            }
            .to_string();
            assert!(shown.contains("apps.lock"), "{shown}");
            problem.to_string()
        }
        other => panic!("expected an invalid lock, got {other:?}"),
    }
}

#[test]
fn a_valid_lock_loads() {
    let (_dir, manifest) = write_lock(lock_text(&entry(SHA)).as_bytes());
    let lock = Lock::load(&manifest).unwrap().unwrap();
    assert_eq!(lock.instances["jira"].apps.len(), 1);
    // What upmsync writes, it reads back.
    let (_dir, manifest) = write_lock(lock.to_text().as_bytes());
    assert_eq!(Lock::load(&manifest).unwrap().unwrap(), lock);
}

/// The finding: a short or non-hex sha256 loaded, then `plan` cut it at 12 characters and panicked
/// (and a cache path was built from it).
#[test]
fn a_malformed_sha256_is_refused_naming_the_entry() {
    for bad in [
        "abc",
        "\"\"",
        &SHA[..63],
        &format!("{}g", &SHA[..63]),
        "../../../etc/passwd",
        &format!("{SHA}0"),
    ] {
        let reason = lock_reason(lock_text(&entry(bad)).as_bytes());
        assert!(reason.contains("sha256"), "{bad}: {reason}");
        assert!(
            reason.contains("com.a") || reason.contains("jira"),
            "{bad}: {reason}"
        );
    }
}

#[test]
fn every_lock_value_is_checked() {
    let cases: Vec<(String, &str)> = vec![
        (
            entry(SHA).replace("https://marketplace", "ftp://marketplace"),
            "http or https",
        ),
        (
            entry(SHA).replace("https://marketplace", "https://user:pw@marketplace"),
            "credentials",
        ),
        (
            entry(SHA).replace(
                "        url: https://marketplace.example/download/a.jar\n",
                "",
            ),
            "neither",
        ),
        (format!("{}        path: a.jar\n", entry(SHA)), "both"),
        (
            entry(SHA).replace("version: 1.0.0", "version: \"\""),
            "`version` is empty",
        ),
        (
            entry(SHA).replace("requested: 1.0.0", "requested: \" \""),
            "`requested` is empty",
        ),
        (
            format!(
                "{}        compatibility:\n          - {{min_build: 9, max_build: 1}}\n",
                entry(SHA)
            ),
            "backwards",
        ),
    ];
    for (text, expected) in cases {
        let reason = lock_reason(lock_text(&text).as_bytes());
        assert!(reason.contains(expected), "{expected}: {reason}");
        assert!(reason.contains("instance `jira`, app `com.a`"), "{reason}");
    }
    let key = lock_text(&entry(SHA)).replace("com.a:", "\"com a\":");
    assert!(lock_reason(key.as_bytes()).contains("whitespace"));
    let name = lock_text(&entry(SHA)).replace("  jira:", "  \"ji/ra\":");
    assert!(lock_reason(name.as_bytes()).contains("instance name"));
}

#[test]
fn a_lock_refuses_nul_control_bidi_escapes_and_a_second_document() {
    let text = lock_text(&entry(SHA));
    let nul = text.replace("install: auto", "install: auto\0");
    assert!(lock_reason(nul.as_bytes()).contains("line 9, column 22: a NUL byte"));
    let bidi = text.replace("requested: 1.0.0", "requested: 1.0.0 # \u{202e}");
    assert!(lock_reason(bidi.as_bytes()).contains("bidirectional"));
    let escaped = text.replace("com.a:", "\"com.a\\e[2J\":");
    let reason = lock_reason(escaped.as_bytes());
    assert!(
        reason.contains("U+001B") && !reason.contains('\u{1b}'),
        "{reason}"
    );
    let escaped = text.replace("version: 1.0.0", "version: \"1.0.0\\u202e\"");
    assert!(lock_reason(escaped.as_bytes()).contains("U+202E"));
    let second = format!("{text}---\nlock_version: 1\ninstances: {{}}\n");
    assert!(!lock_reason(second.as_bytes()).is_empty());
    let mut invalid = text.into_bytes();
    invalid.extend_from_slice(b"# \xff\n");
    assert!(lock_reason(&invalid).contains("UTF-8"));
}

// --- saved plans ---

fn saved_text(changes: &str, live: &str) -> String {
    format!(
        r#"{{
  "saved_plan_version": 1,
  "manifest": "apps.yaml",
  "manifest_sha256": "{SHA}",
  "lock_sha256": null,
  "instances": [
    {{"name": "jira", "live_sha256": "{live}", "changes": {changes}, "files": {{}}}}
  ]
}}
"#
    )
}

fn saved_reason(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    fs::write(&path, bytes).unwrap();
    match SavedPlan::read(&path) {
        Err(error) => {
            let shown = error.to_string();
            assert!(shown.contains("plan.json"), "{shown}");
            shown
        }
        Ok(plan) => panic!("expected a refusal, read {plan:?}"),
    }
}

#[test]
fn a_saved_plan_refuses_bad_bytes_escapes_hashes_and_trailing_text() {
    let good = saved_text("[]", SHA);
    assert!(SavedPlan::from_bytes(good.as_bytes()).is_ok());
    assert!(saved_reason(good.replace("\"jira\"", "\"jira\0\"").as_bytes()).contains("NUL"));
    assert!(saved_reason(format!("{good}\0").as_bytes()).contains("NUL"));
    assert!(saved_reason(good.replace("[]", "[\"\u{202e}\"]").as_bytes()).contains("U+202E"));
    let escaped = saved_text(r#"[{"key": "com.a\u001b[2J"}]"#, SHA);
    assert!(saved_reason(escaped.as_bytes()).contains("U+001B"));
    assert!(saved_reason(format!("{good}{{}}").as_bytes()).contains("trailing"));
    assert!(saved_reason(saved_text("[]", "abc").as_bytes()).contains("live_sha256"));
    assert!(saved_reason(saved_text("{}", SHA).as_bytes()).contains("not a list"));
    let name = good.replace("\"jira\"", "\"../jira\"");
    assert!(saved_reason(name.as_bytes()).contains("instance name"));
}

/// What upmsync writes it reads back: a server value the loaders would refuse is refused when
/// writing, not found on the next run.
#[test]
fn a_lock_or_plan_that_would_not_read_back_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("apps.yaml");
    let mut lock = Lock::from_bytes(lock_text(&entry(SHA)).as_bytes()).unwrap();
    lock.write(&manifest).unwrap();
    let written = fs::read(dir.path().join("apps.lock")).unwrap();
    if let Some(instance) = lock.instances.get_mut("jira") {
        for app in instance.apps.values_mut() {
            app.version = "1.0\u{202e}".into();
        }
    }
    let error = lock.write(&manifest).unwrap_err();
    assert!(matches!(error, LockError::Unreadable { .. }), "{error}");
    assert_eq!(fs::read(dir.path().join("apps.lock")).unwrap(), written);

    let mut plan = SavedPlan::from_bytes(saved_text("[]", SHA).as_bytes()).unwrap();
    plan.instances[0].changes = serde_json::from_value(serde_json::json!([{
        "key": "com.a",
        "name": "App\u{1b}[2J",
        "action": "uninstall",
        "from": "1.0",
        "to": null
    }]))
    .unwrap();
    let path = dir.path().join("plan.json");
    assert!(plan.write(&path).is_err());
    assert!(!path.exists());
}
