//! The real binary against the simulator: a NUL in the manifest changes nothing, a malformed lock
//! entry is an error (not a panic), and server text cannot put a terminal sequence in the plan.

use crate::support::*;
use crate::upmsync_snapshot;
use upmsync_sim::SeedPlugin;

const APPS: &str = "  - key: com.vendor.alpha\n    version: 1.0.0\n";

/// The finding: after a NUL, `com.vendor.beta` and `com.vendor.gamma` did not exist for the parser,
/// and `unmanaged: uninstall` removed them.
#[tokio::test(flavor = "multi_thread")]
async fn a_nul_in_the_manifest_fails_validate_and_apply_changes_nothing() {
    let case = TestEnv::new().await;
    let apps = format!("{APPS}\0  - key: com.vendor.beta\n    version: 2.5.0\n  - key: com.vendor.gamma\n    version: 1.0.0\n");
    case.manifest(&apps, "uninstall");
    let output = case.run(&["validate", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: manifest `apps.yaml` has 1 problem
    apps.yaml:14:1: a NUL byte (U+0000) is not allowed
      hint: a manifest is plain text: such a character can end the file early for the YAML parser or make a reviewer read another line than upmsync does; remove it (`cat -A` shows it)
    ");
    let output = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(case.mutating().is_empty(), "{:?}", case.mutating());
}

/// The finding: a short `sha256` in `apps.lock` panicked `plan`.
#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_lock_entry_is_an_error_naming_it_not_a_panic() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let output = case.run(&["lock", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let path = case.path("apps.lock");
    let lock = std::fs::read_to_string(&path).unwrap();
    let line = lock
        .lines()
        .find(|line| line.trim_start().starts_with("sha256: "))
        .expect("a locked sha256");
    let short = format!("{}\n", &line[..line.len() - 50]);
    std::fs::write(&path, lock.replace(&format!("{line}\n"), &short)).unwrap();
    let output = case.run(&["plan", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/)
      error: the lock file `apps.lock` is not valid: line 17, column 17: instance `jira-test`, app `com.vendor.alpha`: a sha256 must be 64 hex digits (optionally prefixed `sha256:`) (details on stderr)

    ----- stderr -----
    error: instance `jira-test`: the lock file `apps.lock` is not valid: line 17, column 17: instance `jira-test`, app `com.vendor.alpha`: a sha256 must be 64 hex digits (optionally prefixed `sha256:`)
    hint: run `upmsync lock --update` to write it anew
    ");
}

/// An unmanaged app whose name and version carry terminal sequences is shown escaped.
#[tokio::test(flavor = "multi_thread")]
async fn server_names_cannot_put_terminal_sequences_in_the_plan() {
    let config = small_jira().plugin(SeedPlugin::user(
        "com.vendor.evil",
        "Evil\u{1b}[2J\n    ? com.fake 1.0 (Fake)\u{202e}",
        "6.6.6",
    ));
    let case = TestEnv::with(config).await;
    case.manifest(APPS, "report");
    for args in [
        vec!["plan", "-f", "apps.yaml"],
        vec!["plan", "-f", "apps.yaml", "--format", "json"],
        vec!["drift", "-f", "apps.yaml"],
    ] {
        let output = case.run(&args).await;
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
    // How the text plan shows them instead.
    let output = case.run(&["plan", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 0
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      No changes to make.

      Not in the manifest (unmanaged: report), left alone:
        ? com.vendor.beta 2.5.0 (Beta)
        ? com.vendor.evil 6.6.6 (Evil\u{1b}[2J\n    ? com.fake 1.0 (Fake)\u{202e})
        ? com.vendor.gamma 1.0.0 (Gamma)

    ----- stderr -----
    ");
}
