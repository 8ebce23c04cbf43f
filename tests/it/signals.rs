//! Locks and signals, with the real binary against the simulator: SIGTERM is handled like the
//! first Ctrl-C (the change under way finishes, a downgrade with both halves, the rest is not
//! started, the report is written, the lock released, exit 1); a signal while reading leaves
//! nothing behind; the instance lock is an OS lock held by a live process only.

use std::time::Duration;

use crate::support::*;
use crate::upmsync_snapshot;
use upmsync_sim::{Fault, FaultRule, SeedPlugin, SimServer};

/// One app to install.
const DELTA: &str = "  - key: com.vendor.delta\n    version: 1.0.0\n";

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_change_under_way_reports_the_rest_and_releases_the_lock() {
    interrupt_an_install("-TERM", "SIGTERM").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_finishes_the_change_under_way_reports_the_rest_and_releases_the_lock() {
    interrupt_an_install("-INT", "Ctrl-C").await;
}

/// Sends `signal` (called `name` in the output) while alpha's upgrade is under way.
async fn interrupt_an_install(signal: &str, name: &str) {
    let case = TestEnv::with_task_delay(small_jira(), Duration::from_millis(1500)).await;
    case.manifest(
        "  - key: com.vendor.alpha\n    version: 2.0.0\n  - key: com.vendor.delta\n    version: 1.0.0\n  - key: com.vendor.gamma\n    state: absent\n",
        "ignore",
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
    send(&child, signal);
    let output = finish(child).await;
    // Exit 1, not death by the signal (which has no exit code). Changes run uninstall first: gamma
    // was done before the signal, alpha's install was under way and finished, delta never started.
    let text = output
        .snapshot()
        .replace(&format!("Interrupted ({name})"), "Interrupted ([SIGNAL])");
    // One snapshot for both signals (the tests run it one after the other or at once).
    insta::allow_duplicates! {
        insta::assert_snapshot!(case.filter(&text), @r"
        exit: 1
        ----- stdout -----
        Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
          - com.vendor.gamma  Gamma  (uninstall)
              - version: 1.0.0
          ~ com.vendor.alpha  Alpha  (upgrade)
              - version: 1.0.0
              + version: 2.0.0
                from [MARKETPLACE]/download/apps/100/version/100003 (by URI)
          + com.vendor.delta  (install)
              + version: 1.0.0
              + enabled: true
                from [MARKETPLACE]/download/apps/300/version/300002 (by URI)

          Plan for jira-test: 1 uninstall, 1 upgrade, 1 install.


        jira-test: 2 done, 0 failed, 1 not started
          error: interrupted (Ctrl-C or SIGTERM): the changes not started were left alone
          done        uninstall com.vendor.gamma 1.0.0
          done        upgrade com.vendor.alpha 1.0.0 -> 2.0.0
          not started install com.vendor.delta 1.0.0
        ----- stderr -----
        Applying 3 change(s) on jira-test...
        jira-test: uninstall com.vendor.gamma 1.0.0 (1/3)...
        jira-test: upgrade com.vendor.alpha 1.0.0 -> 2.0.0 (2/3)...

        Interrupted ([SIGNAL]): finishing the change under way, then stopping (Ctrl-C again to stop at once, which may leave that change half-done).
        error: not every change was applied (see the report on stdout); run `upmsync apply` again once the cause is fixed: it plans from what is installed now
        ");
    }
    assert_eq!(
        case.sim.plugin("com.vendor.alpha").unwrap().version,
        "2.0.0"
    );
    assert!(case.sim.plugin("com.vendor.delta").is_none());
    // The report is written, the rest marked not started.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.path("report.json")).unwrap()).unwrap();
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
    assert_eq!(output.code, 0, "{}", output.snapshot());
    assert_eq!(
        case.sim.plugin("com.vendor.delta").unwrap().version,
        "1.0.0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_between_the_halves_of_a_downgrade_still_installs_the_older_version() {
    let config = small_jira().plugin(SeedPlugin::user("com.vendor.alpha", "Alpha", "2.0.0"));
    let case = TestEnv::with_task_delay(config, Duration::from_millis(300)).await;
    case.manifest(
        "  - key: com.vendor.alpha\n    version: 1.1.0\n  - key: com.vendor.delta\n    version: 1.0.0\n",
        "ignore",
    );
    // The install's POST is slow to reach UPM, so the signal comes after the uninstall and before
    // the install has started.
    case.sim
        .set_faults(faults(vec![FaultRule::new(Fault::Latency {
            millis: 1500,
        })
        .server(SimServer::Upm)
        .method("POST")]));
    let child = case.spawn(&["apply", "-f", "apps.yaml", "--auto-approve"]);
    case.wait_for_request("alpha uninstalled", |r| {
        r.method == "DELETE" && r.path.contains("com.vendor.alpha")
    })
    .await;
    assert!(case.sim.plugin("com.vendor.alpha").is_none());
    send(&child, "-TERM");
    let output = finish(child).await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      -/+ com.vendor.alpha  Alpha  (downgrade)
          - version: 2.0.0
          + version: 1.1.0
            from [MARKETPLACE]/download/apps/100/version/100002 (by URI), fetched first
            restores from [MARKETPLACE]/download/apps/100/version/100003 (by URI) if the install fails; if that fails too, uploads the copy fetched first
          ! warning: a downgrade uninstalls the app first, then installs the older version: the app's data and configuration may not survive
      + com.vendor.delta  (install)
          + version: 1.0.0
          + enabled: true
            from [MARKETPLACE]/download/apps/300/version/300002 (by URI)

      Plan for jira-test: 1 downgrade, 1 install.


    jira-test: 1 done, 0 failed, 1 not started
      error: interrupted (Ctrl-C or SIGTERM): the changes not started were left alone
      done        downgrade com.vendor.alpha 2.0.0 -> 1.1.0
      not started install com.vendor.delta 1.0.0
    ----- stderr -----
    Applying 2 change(s) on jira-test...
    jira-test: downgrade com.vendor.alpha 2.0.0 -> 1.1.0 (1/2)...

    Interrupted (SIGTERM): finishing the change under way, then stopping (Ctrl-C again to stop at once, which may leave that change half-done).
    error: not every change was applied (see the report on stdout); run `upmsync apply` again once the cause is fixed: it plans from what is installed now
    ");
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
async fn slow_read_case() -> TestEnv {
    let case = TestEnv::with_task_delay(small_jira(), Duration::from_millis(30)).await;
    case.manifest(DELTA, "ignore");
    case.sim
        .set_faults(faults(vec![FaultRule::new(Fault::Status {
            status: 503,
            retry_after: Some(50),
        })
        .server(SimServer::Upm)
        .method("GET")
        .first(1)]));
    case
}

async fn wait_for_the_503(case: &TestEnv) {
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
    // The reads run at once: which of them meets the 503 (and warns) differs from run to run.
    let text = without_retries(&output.snapshot());
    insta::assert_snapshot!(case.filter(&text), @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: interrupted (SIGTERM) while reading the instances: nothing was changed
    ");
    assert_eq!(case.mutating().len(), 0);
    assert!(!case.lock_file().exists(), "the lock file is left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_plan_reads_exits_cleanly_and_writes_no_plan() {
    let case = slow_read_case().await;
    let child = case.spawn(&["plan", "-f", "apps.yaml", "--out", "plan.json"]);
    wait_for_the_503(&case).await;
    send(&child, "-INT");
    let output = finish(child).await;
    // The reads run at once: which of them meets the 503 (and warns) differs from run to run.
    let text = without_retries(&output.snapshot());
    insta::assert_snapshot!(case.filter(&text), @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: interrupted (Ctrl-C): stopped before finishing; nothing was written
    ");
    assert!(files_in(case.dir())
        .iter()
        .all(|name| !name.starts_with("plan")));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_apply_downloads_leaves_no_partial_file() {
    // Pinned in `apps.lock`, the artifact is downloaded (and checked) before the first change.
    let case = TestEnv::with_task_delay(small_jira(), Duration::from_millis(30)).await;
    case.manifest(DELTA, "ignore");
    let output = case.run(&["lock", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    // `lock` hashed the artifact through the cache: empty it, so it is downloaded again, slowly.
    std::fs::remove_dir_all(case.cache()).unwrap();
    case.sim
        .set_faults(faults(vec![FaultRule::new(Fault::SlowDownload {
            bytes_per_second: 16,
        })
        .server(SimServer::Marketplace)
        .path("/download/*")]));
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
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      + com.vendor.delta  (install)
          + version: 1.0.0
          + enabled: true
            from [MARKETPLACE]/download/apps/300/version/300002 (upload) sha256 3526c50cf623, fetched first

      Plan for jira-test: 1 install.


    jira-test: 0 done, 0 failed, 1 not started
      error: interrupted (Ctrl-C or SIGTERM) before the first change: nothing was changed
      not started install com.vendor.delta 1.0.0
    ----- stderr -----
    Applying 1 change(s) on jira-test...

    Interrupted (SIGTERM): finishing the change under way, then stopping (Ctrl-C again to stop at once, which may leave that change half-done).
    error: not every change was applied (see the report on stdout); run `upmsync apply` again once the cause is fixed: it plans from what is installed now
    ");
    assert_eq!(case.mutating().len(), 0);
    assert_eq!(
        partial(),
        Vec::<String>::new(),
        "a partial download is left"
    );
    assert!(!case.lock_file().exists(), "the lock file is left behind");
    let report = std::fs::read_to_string(case.path("report.json")).unwrap();
    assert!(report.contains("nothing was changed"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_apply_is_refused_while_the_first_runs_and_names_it() {
    let case = TestEnv::with_task_delay(small_jira(), Duration::from_millis(1500)).await;
    case.manifest(DELTA, "ignore");
    let first = case.spawn(&["apply", "-f", "apps.yaml", "--auto-approve"]);
    case.wait_for_request("an install started", |r| r.method == "POST")
        .await;
    let second = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    let second = second
        .snapshot()
        .replace(&format!("process {}", first.id()), "process [PID]");
    insta::assert_snapshot!(case.filter(&second), @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      ! warning: an install task was running on UPM (someone else's apply, or the Manage apps page): apply waits up to 60 s for it to end, then refuses
      + com.vendor.delta  (install)
          + version: 1.0.0
          + enabled: true
            from [MARKETPLACE]/download/apps/300/version/300002 (by URI)

      Plan for jira-test: 1 install.


    jira-test: 0 done, 0 failed, 1 not started
      error: another upmsync apply (process [PID]) is changing `jira-test`: nothing was changed
        hint: wait for it to finish and run apply again (its lock is `[TEMP]/.upmsync-cache/locks/jira-test.lock`; the lock ends with its process, so there is nothing to remove)
      not started install com.vendor.delta 1.0.0
    ----- stderr -----
    error: not every change was applied (see the report on stdout); run `upmsync apply` again once the cause is fixed: it plans from what is installed now
    ");
    let output = finish(first).await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    assert_eq!(
        case.mutating().len(),
        1,
        "only the first apply changed anything"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_left_by_a_killed_apply_blocks_nothing() {
    let case = TestEnv::with_task_delay(small_jira(), Duration::from_millis(1500)).await;
    case.manifest(DELTA, "ignore");
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
    assert_eq!(output.code, 0, "{}", output.snapshot());
    assert_eq!(
        case.sim.plugin("com.vendor.delta").unwrap().version,
        "1.0.0"
    );
    assert!(!case.lock_file().exists());
}
