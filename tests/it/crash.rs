//! Crash recovery: the real binary is killed (SIGKILL, nothing runs after it) at every point of a
//! downgrade, one request of the simulator after another, and the next `apply` converges with no
//! hand work: no lock to remove, and an app uninstalled by a downgrade that was cut in half is
//! simply missing, so the next plan installs it.

use std::time::Duration;

use crate::support::*;
use upmsync_sim::{Fault, FaultPlan, FaultRule, SeedPlugin};

const APPS: &str = "  - key: com.vendor.alpha\n    version: 1.1.0\n  - key: com.vendor.delta\n    version: 1.0.0\n  - key: com.vendor.gamma\n    state: absent\n";

/// Every request waits this long before UPM or the Marketplace acts on it, so a kill sent as soon
/// as request `k` is answered lands before request `k + 1` has done anything.
const LATENCY_MS: u64 = 80;
const TASK_DELAY: Duration = Duration::from_millis(100);

/// Alpha at 2.0.0 (the manifest wants 1.1.0: a downgrade), gamma to remove, delta to install;
/// every request slow.
async fn start_case() -> TestEnv {
    let config = small_jira()
        .plugin(SeedPlugin::user("com.vendor.alpha", "Alpha", "2.0.0"))
        .faults(faults(vec![FaultRule::new(Fault::Latency {
            millis: LATENCY_MS,
        })]));
    let case = TestEnv::with_task_delay(config, TASK_DELAY).await;
    case.manifest(APPS, "ignore");
    case
}

fn converged(case: &TestEnv) -> bool {
    let version = |key: &str| case.sim.plugin(key).map(|plugin| plugin.version);
    version("com.vendor.alpha") == Some("1.1.0".into())
        && version("com.vendor.delta") == Some("1.0.0".into())
        && version("com.vendor.gamma").is_none()
}

/// How many requests a whole, uninterrupted apply makes.
async fn requests_of_a_whole_apply() -> usize {
    let case = start_case().await;
    let output = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    assert!(converged(&case));
    case.sim.requests().len()
}

/// Starts an apply, kills it with SIGKILL once the simulator has answered `after` requests (or at
/// once for 0), then checks that the next apply and plan see a converged instance. Returns
/// whether the kill left alpha uninstalled (its downgrade cut between the halves).
async fn kill_then_recover(after: usize) -> bool {
    let case = start_case().await;
    let mut child = case.spawn(&["apply", "-f", "apps.yaml", "--auto-approve"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while case.sim.requests().len() < after {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the apply stalled before request {after}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let _ = child.kill();
    let killed = finish(child).await;
    let answered = case.sim.requests().len();
    // A request already on its way may still be acted on, and an install task runs on in UPM:
    // let the simulator settle (what a person restarting a job does anyway) before going on.
    tokio::time::sleep(Duration::from_millis(LATENCY_MS * 2) + TASK_DELAY * 2).await;
    case.sim.set_faults(FaultPlan::default());
    let cut_in_half = case.sim.plugin("com.vendor.alpha").is_none();

    let output = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    assert_eq!(
        output.code,
        0,
        "killed after {answered} answered requests; the killed run:\n{}\nthe next apply:\n{}",
        killed.snapshot(),
        output.snapshot()
    );
    assert!(
        converged(&case),
        "killed after {answered} requests: not converged: {:?}",
        case.sim.plugins()
    );
    let plan = case
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    assert_eq!(plan.code, 0, "{}", plan.snapshot());
    let left = files_in(&case.cache().join("locks"));
    assert!(
        left.is_empty(),
        "lock files left after the recovery: {left:?}"
    );
    cut_in_half
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_at_any_point_of_a_downgrade_is_repaired_by_the_next_apply() {
    let total = requests_of_a_whole_apply().await;
    assert!(total > 5, "a downgrade makes more than {total} requests");
    let mut cut_in_half = 0;
    for after in 0..total {
        if kill_then_recover(after).await {
            cut_in_half += 1;
        }
    }
    // The points include the worst one: alpha uninstalled, its older version not yet installed.
    assert!(
        cut_in_half > 0,
        "no kill landed between the halves of the downgrade"
    );
    eprintln!("{total} kill points, {cut_in_half} between the halves of the downgrade");
}
