//! Files upmsync writes: `apply --report`, `plan --out` and the lock file are written atomically
//! (a fresh temporary file in the same folder, then a rename; no symlink followed) and owner-only;
//! none of them may replace the manifest; and `--report` is claimed before the first change and
//! written however apply ends, so no older report is left beside a failed run.
#![cfg(unix)]

use std::path::Path;

use crate::support::*;
use crate::upmsync_snapshot;

/// An older report the next run must replace.
fn old_report(case: &TestEnv) {
    std::fs::write(
        case.path("report.json"),
        r#"{"format_version":1,"status":"done","instances":[],"old":true}"#,
    )
    .unwrap();
}

fn report(case: &TestEnv) -> serde_json::Value {
    let text = std::fs::read_to_string(case.path("report.json")).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// One app to upgrade on the small Jira.
const UPGRADE: &str = "  - key: com.vendor.alpha\n    version: 1.1.0\n";

/// Asserts the report replaced the older one and says `status`.
fn assert_report(case: &TestEnv, status: &str) -> serde_json::Value {
    let report = report(case);
    assert_eq!(report["status"], status, "{report:#}");
    assert!(
        report.get("old").is_none(),
        "the older report is left: {report:#}"
    );
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_saved_plan_still_writes_the_report() {
    let case = TestEnv::new().await;
    case.manifest(UPGRADE, "ignore");
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--out", "plan.json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    std::fs::write(
        case.path("apps.yaml"),
        format!(
            "{}# edited\n",
            std::fs::read_to_string(case.path("apps.yaml")).unwrap()
        ),
    )
    .unwrap();
    old_report(&case);
    case.sim.clear_requests();
    let output = case
        .run(&["apply", "plan.json", "--report", "report.json"])
        .await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: the saved plan is stale, so nothing was changed:
    - the manifest `apps.yaml` changed
    hint: make a new plan with `upmsync plan --out`, review it, and apply that
    ");
    let report = assert_report(&case, "stopped");
    assert!(
        report["reason"].as_str().unwrap().contains("stale"),
        "{report:#}"
    );
    assert_eq!(
        report["instances"][0]["changes"][0]["status"], "not-started",
        "{report:#}"
    );
    assert!(case.mutating().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_saved_plan_or_manifest_still_writes_the_report() {
    let case = TestEnv::new().await;
    std::fs::write(case.path("plan.json"), "not a plan").unwrap();
    old_report(&case);
    let output = case
        .run(&["apply", "plan.json", "--report", "report.json"])
        .await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: `plan.json` is not an upmsync plan file: expected ident at line 1 column 2
    ");
    assert_report(&case, "stopped");

    std::fs::write(case.path("apps.yaml"), "instances: [").unwrap();
    old_report(&case);
    let output = case
        .run(&[
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--report",
            "report.json",
        ])
        .await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: manifest `apps.yaml` has 1 problem
    apps.yaml:1:12: invalid YAML: unclosed bracket '['
    ");
    let report = assert_report(&case, "stopped");
    assert!(
        report["reason"].as_str().unwrap().contains("manifest"),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_instance_still_writes_the_report() {
    let case = TestEnv::new().await;
    // A port nothing listens on: bind one, then free it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    case.manifest_at(&url, UPGRADE, "ignore");
    old_report(&case);
    let output = case
        .run(&[
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--report",
            "report.json",
        ])
        .await;
    // The retries' warnings come in no fixed order, with random waits: left out.
    let text = without_retries(&output.snapshot()).replace(&url, "[CLOSED]/");
    insta::assert_snapshot!(case.filter(&text), @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([CLOSED]/)
      error: failed to read the installed apps of `jira-test` (details on stderr)

    ----- stderr -----
    error: failed to read the installed apps of `jira-test`
    Caused by: GET [CLOSED]/rest/plugins/1.0/ failed: could not connect: Connection refused (os error 111) (is the URL right and the server up?)
    Nothing to apply on the instances that could be planned.
    ");
    let report = assert_report(&case, "failed");
    assert_eq!(report["instances"][0]["name"], "jira-test", "{report:#}");
    assert!(report["instances"][0]["error"].is_string(), "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_error_still_writes_the_report() {
    let case = TestEnv::new().await;
    // No such version on the Marketplace: the instance cannot be planned.
    case.manifest("  - key: com.vendor.beta\n    version: 9.9.9\n", "ignore");
    old_report(&case);
    let output = case
        .run(&[
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--report",
            "report.json",
        ])
        .await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/)
      error: cannot resolve the versions of `jira-test`: (details on stderr)

    ----- stderr -----
    error: cannot resolve the versions of `jira-test`:
    - `com.vendor.beta`: app `com.vendor.beta` has no version `9.9.9` for datacenter on the Marketplace
    hint: check the version on the app's version history page
    Nothing to apply on the instances that could be planned.
    ");
    let report = assert_report(&case, "failed");
    assert!(report["instances"][0]["error"].is_string(), "{report:#}");
    assert!(case.mutating().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_approval_still_writes_the_report() {
    let case = TestEnv::new().await;
    case.manifest(UPGRADE, "ignore");
    old_report(&case);
    // No terminal and no --auto-approve: refused.
    let output = case
        .run(&["apply", "-f", "apps.yaml", "--report", "report.json"])
        .await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      ~ com.vendor.alpha  Alpha  (upgrade)
          - version: 1.0.0
          + version: 1.1.0
            from [MARKETPLACE]/download/apps/100/version/100002 (by URI)

      Plan for jira-test: 1 upgrade.

    ----- stderr -----
    error: refusing to apply without confirmation: there is no terminal to ask on
    hint: review the plan above and run again with `--auto-approve`
    ");
    let report = assert_report(&case, "stopped");
    assert!(
        report["reason"].as_str().unwrap().contains("not approved"),
        "{report:#}"
    );
    assert_eq!(
        report["instances"][0]["changes"][0]["status"], "not-started",
        "{report:#}"
    );
    assert!(case.mutating().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_to_apply_still_writes_the_report() {
    let case = TestEnv::new().await;
    case.manifest("  - key: com.vendor.beta\n    version: 2.5.0\n", "ignore");
    old_report(&case);
    let output = case
        .run(&[
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--report",
            "report.json",
        ])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let report = assert_report(&case, "nothing-to-apply");
    assert_eq!(report["instances"], serde_json::json!([]), "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_that_cannot_be_written_stops_apply_before_any_change() {
    let case = TestEnv::new().await;
    case.manifest(UPGRADE, "ignore");
    let output = case
        .run(&[
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--report",
            "no-such-folder/report.json",
        ])
        .await;
    upmsync_snapshot!(case, output, @r#"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: cannot write the report `no-such-folder/report.json`: No such file or directory (os error 2) at path "[TEMP]/no-such-folder/.upmsync-[RANDOM].tmp"; nothing was changed
    hint: name a file in a folder you can write to
    "#);
    assert!(case.mutating().is_empty(), "{:?}", case.mutating());
    assert!(case.sim.requests().is_empty(), "not even read");
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_never_replace_the_manifest_or_its_lock() {
    let case = TestEnv::new().await;
    case.manifest(UPGRADE, "ignore");
    let manifest = std::fs::read_to_string(case.path("apps.yaml")).unwrap();
    std::os::unix::fs::symlink("apps.yaml", case.path("link.yaml")).unwrap();
    for target in ["apps.yaml", "./apps.yaml", "link.yaml"] {
        let output = case
            .run(&[
                "apply",
                "-f",
                "apps.yaml",
                "--auto-approve",
                "--report",
                target,
            ])
            .await;
        assert_eq!(output.code, 1, "--report {target}");
        assert!(
            output.stderr.contains("it is the manifest"),
            "{}",
            output.stderr
        );
        let output = case
            .run(&["plan", "-f", "apps.yaml", "--out", target])
            .await;
        assert_eq!(output.code, 1, "--out {target}");
        assert!(
            output.stderr.contains("it is the manifest"),
            "{}",
            output.stderr
        );
        assert_eq!(
            std::fs::read_to_string(case.path("apps.yaml")).unwrap(),
            manifest
        );
    }
    assert!(case.mutating().is_empty());

    // A manifest named `*.lock` is its own lock path: `lock` never overwrites it.
    std::fs::rename(case.path("apps.yaml"), case.path("apps.lock")).unwrap();
    let output = case.run(&["lock", "-f", "apps.lock"]).await;
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert_eq!(
        std::fs::read_to_string(case.path("apps.lock")).unwrap(),
        manifest
    );
}

/// The lock writer itself refuses the manifest's own path, whatever the caller checked before.
#[test]
fn the_lock_is_never_written_over_its_manifest() {
    let folder = tempfile::tempdir().unwrap();
    let manifest = folder.path().join("apps.lock");
    std::fs::write(&manifest, "instances: []\n").unwrap();
    let lock = upmsync::lock::Lock {
        lock_version: 1,
        ..Default::default()
    };
    let error = lock.write(&manifest).unwrap_err();
    assert!(
        upmsync::error::error_text(&error).contains("the manifest itself"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(&manifest).unwrap(),
        "instances: []\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_are_owner_only_atomic_and_replace_symlinks_instead_of_following_them() {
    use std::os::unix::fs::PermissionsExt;
    let case = TestEnv::new().await;
    case.manifest(UPGRADE, "ignore");
    // Each output name starts as a symlink to a file that must stay untouched (for the lock, a
    // valid empty lock, which `lock` reads before it writes).
    std::fs::write(case.path("victim"), "keep").unwrap();
    let empty_lock = "lock_version: 1\ninstances: {}\n";
    std::fs::write(case.path("victim.lock"), empty_lock).unwrap();
    for name in ["report.json", "plan.json"] {
        std::os::unix::fs::symlink("victim", case.path(name)).unwrap();
    }
    std::os::unix::fs::symlink("victim.lock", case.path("apps.lock")).unwrap();
    let output = case.run(&["lock", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_eq!(
        std::fs::read_to_string(case.path("victim.lock")).unwrap(),
        empty_lock
    );
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--out", "plan.json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let output = case
        .run(&["apply", "plan.json", "--report", "report.json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);

    assert_eq!(
        std::fs::read_to_string(case.path("victim")).unwrap(),
        "keep"
    );
    for name in ["report.json", "plan.json", "apps.lock"] {
        let metadata = std::fs::symlink_metadata(case.path(name)).unwrap();
        assert!(metadata.file_type().is_file(), "{name} is a regular file");
        assert_eq!(
            metadata.permissions().mode() & 0o777,
            0o600,
            "{name} is owner-only"
        );
    }
    assert_eq!(report(&case)["status"], "done");
    // No temporary file (fixed `X.tmp` or otherwise) is left.
    let mut files = files_in(case.dir());
    files.retain(|name| name != ".upmsync-cache");
    assert_eq!(
        files,
        [
            "apps.lock",
            "apps.yaml",
            "plan.json",
            "report.json",
            "victim",
            "victim.lock"
        ]
    );
    // A fixed `X.tmp` name would have been written through a symlink placed there.
    assert!(!Path::new(&case.path("report.tmp")).exists());
}
