//! The real binary against the simulator: a NUL in the manifest changes nothing, a malformed lock
//! entry is an error (not a panic), and server text cannot put a terminal sequence in the plan.

use std::path::Path;

use crate::support::*;
use upmsync_sim::{SeedPlugin, Sim};

/// Writes `apps.yaml` pointing at the simulator; `apps` is YAML for the top-level list.
fn manifest(sim: &Sim, folder: &Path, apps: &str, unmanaged: &str) {
    std::fs::write(
        folder.join("apps.yaml"),
        manifest_text(sim, apps, unmanaged),
    )
    .unwrap();
}

async fn run(folder: &Path, args: &[&str]) -> CommandOutput {
    run_binary(args, folder, &[]).await
}

const APPS: &str = "  - key: com.vendor.alpha\n    version: 1.0.0\n";

/// The finding: after a NUL, `com.vendor.beta` and `com.vendor.gamma` did not exist for the parser,
/// and `unmanaged: uninstall` removed them.
#[tokio::test(flavor = "multi_thread")]
async fn a_nul_in_the_manifest_fails_validate_and_apply_changes_nothing() {
    let sim = start(small_jira()).await;
    let folder = tempfile::tempdir().unwrap();
    let apps = format!("{APPS}\0  - key: com.vendor.beta\n    version: 2.5.0\n  - key: com.vendor.gamma\n    version: 1.0.0\n");
    manifest(&sim, folder.path(), &apps, "uninstall");
    let output = run(folder.path(), &["validate", "-f", "apps.yaml"]).await;
    assert_eq!(Some(output.code), Some(1), "{}", output.stderr.clone());
    assert!(
        output
            .stderr
            .clone()
            .contains("apps.yaml:14:1: a NUL byte (U+0000) is not allowed"),
        "{}",
        output.stderr.clone()
    );
    let output = run(
        folder.path(),
        &["apply", "-f", "apps.yaml", "--auto-approve"],
    )
    .await;
    assert_eq!(Some(output.code), Some(1), "{}", output.stderr.clone());
    assert!(mutating(&sim).is_empty(), "{:?}", mutating(&sim));
}

/// The finding: a short `sha256` in `apps.lock` panicked `plan`.
#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_lock_entry_is_an_error_naming_it_not_a_panic() {
    let sim = start(small_jira()).await;
    let folder = tempfile::tempdir().unwrap();
    manifest(&sim, folder.path(), APPS, "ignore");
    let output = run(folder.path(), &["lock", "-f", "apps.yaml"]).await;
    assert_eq!(Some(output.code), Some(0), "{}", output.stderr.clone());
    let path = folder.path().join("apps.lock");
    let lock = std::fs::read_to_string(&path).unwrap();
    let line = lock
        .lines()
        .find(|line| line.trim_start().starts_with("sha256: "))
        .expect("a locked sha256");
    let short = format!("{}\n", &line[..line.len() - 50]);
    std::fs::write(&path, lock.replace(&format!("{line}\n"), &short)).unwrap();
    let output = run(folder.path(), &["plan", "-f", "apps.yaml"]).await;
    let stderr = output.stderr.clone();
    assert_eq!(Some(output.code), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("apps.lock")
            && stderr.contains("com.vendor.alpha")
            && stderr.contains("sha256"),
        "{stderr}"
    );
}

/// An unmanaged app whose name and version carry terminal sequences is shown escaped.
#[tokio::test(flavor = "multi_thread")]
async fn server_names_cannot_put_terminal_sequences_in_the_plan() {
    let config = small_jira().plugin(SeedPlugin::user(
        "com.vendor.evil",
        "Evil\u{1b}[2J\n    ? com.fake 1.0 (Fake)\u{202e}",
        "6.6.6",
    ));
    let sim = start(config).await;
    let folder = tempfile::tempdir().unwrap();
    manifest(&sim, folder.path(), APPS, "report");
    for args in [
        vec!["plan", "-f", "apps.yaml"],
        vec!["plan", "-f", "apps.yaml", "--format", "json"],
        vec!["drift", "-f", "apps.yaml"],
    ] {
        let output = run(folder.path(), &args).await;
        let stdout = output.stdout.clone();
        assert!(stdout.contains("com.vendor.evil"), "{args:?}: {stdout}");
        assert!(
            !stdout
                .chars()
                .any(|c| c != '\n' && upmsync::printable::is_hidden(c)),
            "{args:?}: {stdout:?}"
        );
        assert!(
            !stdout
                .lines()
                .any(|line| line.trim_start().starts_with("? com.fake")),
            "{args:?}: {stdout}"
        );
    }
}
