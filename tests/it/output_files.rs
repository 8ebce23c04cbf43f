//! Files upmsync writes: `apply --report`, `plan --out` and the lock file are written atomically
//! (a fresh temporary file in the same folder, then a rename; no symlink followed) and owner-only;
//! none of them may replace the manifest; and `--report` is claimed before the first change and
//! written however apply ends, so no older report is left beside a failed run.
#![cfg(unix)]

use std::path::{Path, PathBuf};

use crate::support::*;
use upmsync_sim::{RecordedRequest, Sim};

struct Case {
    sim: Sim,
    folder: tempfile::TempDir,
}

impl Case {
    async fn new() -> Self {
        Self {
            sim: start(small_jira()).await,
            folder: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.folder.path().join(name)
    }

    /// A manifest for the simulator (or `url` instead of it); `apps` is YAML for the app list.
    fn manifest_at(&self, url: &str, apps: &str) {
        let text = format!(
            "marketplace:\n  url: {marketplace}\ninstances:\n  - name: jira-test\n    url: {url}\n    product: jira\n    auth:\n      username_env: TEST_JIRA_USER\n      password_env: TEST_JIRA_PASSWORD\n    unmanaged: ignore\napps:\n{apps}",
            marketplace = self.sim.marketplace_url(),
        );
        std::fs::write(self.path("apps.yaml"), text).unwrap();
    }

    fn manifest(&self, apps: &str) {
        self.manifest_at(self.sim.upm_url().as_str(), apps);
    }

    async fn run(&self, args: &[&str]) -> CommandOutput {
        run_binary(args, self.folder.path(), &[]).await
    }

    fn mutating(&self) -> Vec<RecordedRequest> {
        self.sim
            .requests()
            .into_iter()
            .filter(RecordedRequest::is_mutating)
            .collect()
    }

    /// An older report the next run must replace.
    fn old_report(&self) {
        std::fs::write(
            self.path("report.json"),
            r#"{"format_version":1,"status":"done","instances":[],"old":true}"#,
        )
        .unwrap();
    }

    fn report(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path("report.json")).unwrap();
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"))
    }

    /// The files in the case folder, but the cache: no temporary file may be left behind.
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.folder.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != ".upmsync-cache")
            .collect();
        names.sort();
        names
    }
}

/// One app to upgrade on the small Jira.
const UPGRADE: &str = "  - key: com.vendor.alpha\n    version: 1.1.0\n";

/// Asserts the report replaced the older one and says `status`.
fn assert_report(case: &Case, status: &str) -> serde_json::Value {
    let report = case.report();
    assert_eq!(report["status"], status, "{report:#}");
    assert!(
        report.get("old").is_none(),
        "the older report is left: {report:#}"
    );
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_saved_plan_still_writes_the_report() {
    let case = Case::new().await;
    case.manifest(UPGRADE);
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--out", "plan.json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr.clone());
    std::fs::write(
        case.path("apps.yaml"),
        format!(
            "{}# edited\n",
            std::fs::read_to_string(case.path("apps.yaml")).unwrap()
        ),
    )
    .unwrap();
    case.old_report();
    case.sim.clear_requests();
    let output = case
        .run(&["apply", "plan.json", "--report", "report.json"])
        .await;
    assert_eq!(output.code, 1, "{}", output.stderr.clone());
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
    let case = Case::new().await;
    std::fs::write(case.path("plan.json"), "not a plan").unwrap();
    case.old_report();
    let output = case
        .run(&["apply", "plan.json", "--report", "report.json"])
        .await;
    assert_eq!(output.code, 1);
    assert_report(&case, "stopped");

    std::fs::write(case.path("apps.yaml"), "instances: [").unwrap();
    case.old_report();
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
    assert_eq!(output.code, 1);
    let report = assert_report(&case, "stopped");
    assert!(
        report["reason"].as_str().unwrap().contains("manifest"),
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_instance_still_writes_the_report() {
    let case = Case::new().await;
    // A port nothing listens on: bind one, then free it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    case.manifest_at(&url, UPGRADE);
    case.old_report();
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
    assert_eq!(output.code, 1, "{}", output.stderr.clone());
    let report = assert_report(&case, "failed");
    assert_eq!(report["instances"][0]["name"], "jira-test", "{report:#}");
    assert!(report["instances"][0]["error"].is_string(), "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_error_still_writes_the_report() {
    let case = Case::new().await;
    // No such version on the Marketplace: the instance cannot be planned.
    case.manifest("  - key: com.vendor.beta\n    version: 9.9.9\n");
    case.old_report();
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
    assert_eq!(output.code, 1, "{}", output.stderr.clone());
    let report = assert_report(&case, "failed");
    assert!(report["instances"][0]["error"].is_string(), "{report:#}");
    assert!(case.mutating().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_approval_still_writes_the_report() {
    let case = Case::new().await;
    case.manifest(UPGRADE);
    case.old_report();
    // No terminal and no --auto-approve: refused.
    let output = case
        .run(&["apply", "-f", "apps.yaml", "--report", "report.json"])
        .await;
    assert_eq!(output.code, 1, "{}", output.stderr.clone());
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
    let case = Case::new().await;
    case.manifest("  - key: com.vendor.beta\n    version: 2.5.0\n");
    case.old_report();
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
    assert_eq!(output.code, 0, "{}", output.stderr.clone());
    let report = assert_report(&case, "nothing-to-apply");
    assert_eq!(report["instances"], serde_json::json!([]), "{report:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_that_cannot_be_written_stops_apply_before_any_change() {
    let case = Case::new().await;
    case.manifest(UPGRADE);
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
    assert_eq!(output.code, 1);
    assert!(
        output
            .stderr
            .clone()
            .contains("cannot write the report `no-such-folder/report.json`"),
        "{}",
        output.stderr.clone()
    );
    assert!(case.mutating().is_empty(), "{:?}", case.mutating());
    assert!(case.sim.requests().is_empty(), "not even read");
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_never_replace_the_manifest_or_its_lock() {
    let case = Case::new().await;
    case.manifest(UPGRADE);
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
            output.stderr.clone().contains("it is the manifest"),
            "{}",
            output.stderr.clone()
        );
        let output = case
            .run(&["plan", "-f", "apps.yaml", "--out", target])
            .await;
        assert_eq!(output.code, 1, "--out {target}");
        assert!(
            output.stderr.clone().contains("it is the manifest"),
            "{}",
            output.stderr.clone()
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
    assert_eq!(output.code, 1, "{}", output.stderr.clone());
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
        upmsync::execute::error_text(&error).contains("the manifest itself"),
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
    let case = Case::new().await;
    case.manifest(UPGRADE);
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
    assert_eq!(output.code, 0, "{}", output.stderr.clone());
    assert_eq!(
        std::fs::read_to_string(case.path("victim.lock")).unwrap(),
        empty_lock
    );
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--out", "plan.json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr.clone());
    let output = case
        .run(&["apply", "plan.json", "--report", "report.json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr.clone());

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
    assert_eq!(case.report()["status"], "done");
    // No temporary file (fixed `X.tmp` or otherwise) is left.
    assert_eq!(
        case.files(),
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
