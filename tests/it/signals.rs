//! Locks and signals, with the real binary against the simulator: SIGTERM is handled like the
//! first Ctrl-C (the change under way finishes, a downgrade with both halves, the rest is not
//! started, the report is written, the lock released, exit 1); a signal while reading leaves
//! nothing behind; the instance lock is an OS lock held by a live process only.

use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::Duration;

use crate::support::*;
use upmsync_sim::{Fault, FaultPlan, FaultRule, SeedPlugin, Sim, SimConfig, SimServer};

const INSTANCE: &str = "jira-test";

struct Case {
    sim: Sim,
    folder: tempfile::TempDir,
}

impl Case {
    /// A simulator whose install tasks take `task_delay`: long enough for a signal to arrive
    /// while one runs.
    async fn start(config: SimConfig, task_delay: Duration) -> Self {
        let sim = Sim::start(config.task_delay(task_delay), loopback(), loopback())
            .await
            .expect("simulator starts on loopback");
        Self {
            sim,
            folder: tempfile::tempdir().unwrap(),
        }
    }

    fn manifest(&self, apps: &str) {
        let text = format!(
            "marketplace:\n  url: {marketplace}\ninstances:\n  - name: {INSTANCE}\n    url: {upm}\n    product: jira\n    auth:\n      username_env: TEST_JIRA_USER\n      password_env: TEST_JIRA_PASSWORD\n    unmanaged: ignore\napps:\n{apps}",
            marketplace = self.sim.marketplace_url(),
            upm = self.sim.upm_url(),
        );
        std::fs::write(self.folder.path().join("apps.yaml"), text).unwrap();
    }

    fn cache(&self) -> PathBuf {
        self.folder.path().join(".upmsync-cache")
    }

    fn lock_file(&self) -> PathBuf {
        self.cache().join("locks").join(format!("{INSTANCE}.lock"))
    }

    fn spawn(&self, args: &[&str]) -> Child {
        command(self.folder.path())
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    async fn run(&self, args: &[&str]) -> Output {
        let child = self.spawn(args);
        finish(child).await
    }

    /// Waits until the simulator has answered a request this predicate picks.
    async fn wait_for_request(
        &self,
        what: &str,
        pick: impl Fn(&upmsync_sim::RecordedRequest) -> bool,
    ) {
        wait_until(what, || self.sim.requests().iter().any(&pick)).await;
    }

    fn mutating(&self) -> usize {
        self.sim
            .requests()
            .iter()
            .filter(|request| request.is_mutating())
            .count()
    }
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn finish(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

fn send(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit 1, not death by the signal (which has no exit code).
fn assert_exit_1(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{:?}\n{}\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

fn files_in(folder: &Path) -> Vec<String> {
    match std::fs::read_dir(folder) {
        Ok(entries) => entries
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_change_under_way_reports_the_rest_and_releases_the_lock() {
    let case = Case::start(small_jira(), Duration::from_millis(1500)).await;
    case.manifest(
        "  - key: com.vendor.alpha\n    version: 2.0.0\n  - key: com.vendor.delta\n    version: 1.0.0\n  - key: com.vendor.gamma\n    state: absent\n",
    );
    let child = case.spawn(&[
        "apply",
        "-f",
        "apps.yaml",
        "--auto-approve",
        "--report",
        "report.json",
    ]);
    // The first install (alpha's upgrade) is under way: its POST reached UPM.
    case.wait_for_request("an install started", |r| r.method == "POST")
        .await;
    assert!(case.lock_file().exists(), "the lock is held while applying");
    send(&child, "-TERM");
    let output = finish(child).await;
    assert_exit_1(&output);
    let (out, err) = (text(&output.stdout), text(&output.stderr));
    assert!(err.contains("Interrupted (SIGTERM)"), "{err}");
    assert!(
        out.contains("done        uninstall com.vendor.gamma"),
        "{out}"
    );
    assert!(
        out.contains("done        upgrade com.vendor.alpha 1.0.0 -> 2.0.0"),
        "{out}"
    );
    assert!(
        out.contains("not started install com.vendor.delta"),
        "{out}"
    );
    assert_eq!(
        case.sim.plugin("com.vendor.alpha").unwrap().version,
        "2.0.0"
    );
    assert!(case.sim.plugin("com.vendor.delta").is_none());
    // The report is written, the rest marked not started.
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(case.folder.path().join("report.json")).unwrap(),
    )
    .unwrap();
    let statuses: Vec<&str> = report["instances"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["done", "done", "not-started"], "{report:#}");
    assert!(
        report["instances"][0]["error"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{report:#}"
    );
    // The lock is released: its file is gone and the next apply finishes the job.
    assert!(!case.lock_file().exists(), "the lock file is left behind");
    let output = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        case.sim.plugin("com.vendor.delta").unwrap().version,
        "1.0.0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_between_the_halves_of_a_downgrade_still_installs_the_older_version() {
    let config = small_jira().plugin(SeedPlugin::user("com.vendor.alpha", "Alpha", "2.0.0"));
    let case = Case::start(config, Duration::from_millis(300)).await;
    case.manifest(
        "  - key: com.vendor.alpha\n    version: 1.1.0\n  - key: com.vendor.delta\n    version: 1.0.0\n",
    );
    // The install's POST is slow to reach UPM, so the signal comes after the uninstall and before
    // the install has started.
    case.sim.set_faults(FaultPlan {
        seed: Some(1),
        rules: vec![FaultRule::new(Fault::Latency { millis: 1500 })
            .server(SimServer::Upm)
            .method("POST")],
    });
    let child = case.spawn(&["apply", "-f", "apps.yaml", "--auto-approve"]);
    case.wait_for_request("alpha uninstalled", |r| {
        r.method == "DELETE" && r.path.contains("com.vendor.alpha")
    })
    .await;
    assert!(case.sim.plugin("com.vendor.alpha").is_none());
    send(&child, "-TERM");
    let output = finish(child).await;
    assert_exit_1(&output);
    let out = text(&output.stdout);
    assert!(
        out.contains("done        downgrade com.vendor.alpha 2.0.0 -> 1.1.0"),
        "{out}"
    );
    assert!(
        out.contains("not started install com.vendor.delta"),
        "{out}"
    );
    assert_eq!(
        case.sim
            .plugin("com.vendor.alpha")
            .map(|plugin| plugin.version),
        Some("1.1.0".to_string()),
        "the downgrade was left half-done"
    );
    assert!(case.sim.plugin("com.vendor.delta").is_none());
}

/// The first read of UPM is answered 503 with a long `Retry-After`: the command then waits,
/// reading, when the signal comes.
async fn slow_read_case() -> Case {
    let case = Case::start(small_jira(), Duration::from_millis(30)).await;
    case.manifest("  - key: com.vendor.delta\n    version: 1.0.0\n");
    case.sim.set_faults(FaultPlan {
        seed: Some(1),
        rules: vec![FaultRule::new(Fault::Status {
            status: 503,
            retry_after: Some(50),
        })
        .server(SimServer::Upm)
        .method("GET")
        .first(1)],
    });
    case
}

async fn wait_for_the_503(case: &Case) {
    case.wait_for_request("the first read answered 503", |r| r.status == 503)
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_apply_reads_stops_at_once_and_leaves_no_lock() {
    let case = slow_read_case().await;
    let child = case.spawn(&["apply", "-f", "apps.yaml", "--auto-approve"]);
    wait_for_the_503(&case).await;
    assert!(case.lock_file().exists());
    send(&child, "-TERM");
    let output = finish(child).await;
    assert_exit_1(&output);
    assert!(
        text(&output.stderr)
            .contains("interrupted (SIGTERM) while reading the instances: nothing was changed"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(case.mutating(), 0);
    assert!(!case.lock_file().exists(), "the lock file is left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_plan_reads_exits_cleanly_and_writes_no_plan() {
    let case = slow_read_case().await;
    let child = case.spawn(&["plan", "-f", "apps.yaml", "--out", "plan.json"]);
    wait_for_the_503(&case).await;
    send(&child, "-INT");
    let output = finish(child).await;
    assert_exit_1(&output);
    assert!(
        text(&output.stderr).contains("interrupted (Ctrl-C)"),
        "{}",
        text(&output.stderr)
    );
    assert!(files_in(case.folder.path())
        .iter()
        .all(|name| !name.starts_with("plan")));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_apply_downloads_leaves_no_partial_file() {
    // Pinned in `apps.lock`, the artifact is downloaded (and checked) before the first change.
    let case = Case::start(small_jira(), Duration::from_millis(30)).await;
    case.manifest("  - key: com.vendor.delta\n    version: 1.0.0\n");
    let output = case.run(&["lock", "-f", "apps.yaml"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    // `lock` hashed the artifact through the cache: empty it, so it is downloaded again, slowly.
    std::fs::remove_dir_all(case.cache()).unwrap();
    case.sim.set_faults(FaultPlan {
        seed: Some(1),
        rules: vec![FaultRule::new(Fault::SlowDownload {
            bytes_per_second: 16,
        })
        .server(SimServer::Marketplace)
        .path("/download/*")],
    });
    let partial = || files_in(&case.cache().join("tmp"));
    let child = case.spawn(&[
        "apply",
        "-f",
        "apps.yaml",
        "--auto-approve",
        "--report",
        "report.json",
    ]);
    wait_until("a download started", || !partial().is_empty()).await;
    send(&child, "-TERM");
    let output = finish(child).await;
    assert_exit_1(&output);
    assert_eq!(case.mutating(), 0);
    assert_eq!(
        partial(),
        Vec::<String>::new(),
        "a partial download is left"
    );
    assert!(!case.lock_file().exists(), "the lock file is left behind");
    let report = std::fs::read_to_string(case.folder.path().join("report.json")).unwrap();
    assert!(report.contains("nothing was changed"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_apply_is_refused_while_the_first_runs_and_names_it() {
    let case = Case::start(small_jira(), Duration::from_millis(1500)).await;
    case.manifest("  - key: com.vendor.delta\n    version: 1.0.0\n");
    let first = case.spawn(&["apply", "-f", "apps.yaml", "--auto-approve"]);
    case.wait_for_request("an install started", |r| r.method == "POST")
        .await;
    let second = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    assert_exit_1(&second);
    let out = text(&second.stdout);
    assert!(
        out.contains(&format!("another upmsync apply (process {})", first.id())),
        "{out}"
    );
    let output = finish(first).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(case.mutating(), 1, "only the first apply changed anything");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_left_by_a_killed_apply_blocks_nothing() {
    let case = Case::start(small_jira(), Duration::from_millis(1500)).await;
    case.manifest("  - key: com.vendor.delta\n    version: 1.0.0\n");
    let mut first = case.spawn(&["apply", "-f", "apps.yaml", "--auto-approve"]);
    case.wait_for_request("an install started", |r| r.method == "POST")
        .await;
    first.kill().unwrap();
    let _ = finish(first).await;
    // The killed run's file is still there, naming a process that is gone.
    assert!(case.lock_file().exists());
    let output = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert_eq!(
        case.sim.plugin("com.vendor.delta").unwrap().version,
        "1.0.0"
    );
    assert!(!case.lock_file().exists());
}
