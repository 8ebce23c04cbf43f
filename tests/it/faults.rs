//! upmsync's clients and executor under the simulator's faults: reads are retried, a lost answer
//! to a change is settled by reading the state, a hanging task stops at the task timeout.

use std::time::Duration;

use crate::support::*;
use upmsync::commands::read_and_plan;
use upmsync::execute::{ApplyReport, Mode, Outcome};
use upmsync::http::HttpSettings;
use upmsync::marketplace::download::Cache;
use upmsync_sim::{Fault, FaultRule, SimServer};

/// Applies `plan` to the first instance of `desired`, with a fresh download cache.
async fn apply_plan(
    desired: &upmsync::model::Desired,
    plan: &upmsync::plan::InstancePlan,
    options: HttpSettings,
) -> ApplyReport {
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(folder.path(), &upmsync::http::HttpSettings::default()).unwrap();
    execute_plan(desired, plan, &cache, Mode::Apply, options).await
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_are_retried_after_503_and_429() {
    let sim = start(small_jira()).await;
    sim.set_faults(faults(vec![
        FaultRule::new(Fault::Status {
            status: 503,
            retry_after: Some(1),
        })
        .server(SimServer::Upm)
        .method("GET")
        .path("/rest/plugins/1.0/$")
        .first(1),
        FaultRule::new(Fault::Status {
            status: 429,
            retry_after: None,
        })
        .server(SimServer::Marketplace)
        .first(1),
        FaultRule::new(Fault::Drop)
            .server(SimServer::Upm)
            .method("GET")
            .path("/installed-marketplace")
            .first(1),
    ]));
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![with_license(present("com.vendor.alpha", "2.0.0"), "L")],
        )],
    );
    let plan = read_and_plan(&desired, &upmsync::http::HttpSettings::default()).await;
    let planned = plan.instances[0]
        .result
        .as_ref()
        .expect("retries get through");
    assert_eq!(planned.changes.len(), 2);
    assert_eq!(sim.fault_hits(), 3);
    // The dropped read of the Marketplace apps' licenses is a shortcut: not sent again, the
    // license was read on its own instead.
    let requests = sim.requests();
    let asked = |part: &str| {
        requests
            .iter()
            .filter(|request| request.path.ends_with(part))
            .count()
    };
    assert_eq!(asked("/installed-marketplace"), 1);
    assert_eq!(asked("/license"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_a_change_is_settled_by_reading_the_state() {
    let sim = start(small_jira()).await;
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                present("com.vendor.alpha", "2.0.0"),
                disabled(present("com.vendor.beta", "2.5.0")),
                absent("com.vendor.gamma"),
            ],
        )],
    );
    let plan = read_and_plan(&desired, &upmsync::http::HttpSettings::default())
        .await
        .instances
        .remove(0)
        .result
        .unwrap();
    // Every change happens, but its answer is lost.
    sim.set_faults(faults(vec![
        FaultRule::new(Fault::DropAfter).method("POST").first(1),
        FaultRule::new(Fault::DropAfter).method("PUT").first(1),
        FaultRule::new(Fault::DropAfter).method("DELETE").first(1),
    ]));
    let report = apply_plan(&desired, &plan, HttpSettings::default()).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(sim.fault_hits(), 3);
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "2.0.0");
    assert!(!sim.plugin("com.vendor.beta").unwrap().enabled);
    assert!(sim.plugin("com.vendor.gamma").is_none());
    // Nothing was sent twice.
    let posts = sim.requests().iter().filter(|r| r.method == "POST").count();
    assert_eq!(posts, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_install_task_stops_at_the_task_timeout_naming_the_task() {
    let sim = start(small_jira()).await;
    sim.set_faults(faults(vec![FaultRule::new(Fault::TaskHang).method("POST")]));
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                present("com.vendor.alpha", "2.0.0"),
                present("com.vendor.delta", "1.0.0"),
            ],
        )],
    );
    let plan = read_and_plan(&desired, &upmsync::http::HttpSettings::default())
        .await
        .instances
        .remove(0)
        .result
        .unwrap();
    let options = HttpSettings {
        task_timeout: Duration::from_millis(600),
        ..HttpSettings::default()
    };
    let report = apply_plan(&desired, &plan, options).await;
    let Outcome::Failed { error } = &report.changes[0].outcome else {
        panic!("{report:#?}")
    };
    assert!(
        error.contains("/rest/plugins/1.0/pending/") && error.contains("did not finish"),
        "{error}"
    );
    assert_eq!(report.changes[1].outcome, Outcome::NotStarted);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_downgrade_whose_downloads_fail_after_the_uninstall_is_restored_from_the_kept_copy() {
    let sim = start(small_jira()).await;
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.beta", "2.0.0")])],
    );
    let plan = read_and_plan(&desired, &upmsync::http::HttpSettings::default())
        .await
        .instances
        .remove(0)
        .result
        .unwrap();
    // upmsync's own two downloads (target and restore, before the uninstall) get through; every
    // later download (UPM's, by URI) fails.
    sim.set_faults(faults(vec![
        FaultRule::new(Fault::Latency { millis: 0 })
            .server(SimServer::Marketplace)
            .path("/download/")
            .first(2),
        FaultRule::new(Fault::Status {
            status: 503,
            retry_after: None,
        })
        .server(SimServer::Marketplace)
        .path("/download/"),
    ]));
    let report = apply_plan(&desired, &plan, HttpSettings::default()).await;
    let Outcome::Failed { error } = &report.changes[0].outcome else {
        panic!("{report:#?}")
    };
    assert!(
        error.contains("2.5.0 was installed again (restored)"),
        "{error}"
    );
    assert_eq!(
        sim.plugin("com.vendor.beta").unwrap().version,
        "2.5.0",
        "nothing lost"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_downgrade_is_refused_before_the_uninstall_when_its_artifacts_cannot_be_had() {
    let sim = start(small_jira()).await;
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.beta", "2.0.0")])],
    );
    let plan = read_and_plan(&desired, &upmsync::http::HttpSettings::default())
        .await
        .instances
        .remove(0)
        .result
        .unwrap();
    sim.set_faults(faults(vec![FaultRule::new(Fault::Status {
        status: 404,
        retry_after: None,
    })
    .server(SimServer::Marketplace)
    .path("/download/")]));
    let report = apply_plan(&desired, &plan, HttpSettings::default()).await;
    // The downgrade fails without being started: its artifacts were never in hand.
    assert!(
        matches!(
            &report.changes[0].outcome,
            upmsync::execute::Outcome::Failed { error }
                if error.contains("not started (nothing was changed for it)") && error.contains("404")
        ),
        "{report:#?}"
    );
    assert!(!sim.requests().iter().any(|r| r.method == "DELETE"));
    assert_eq!(sim.plugin("com.vendor.beta").unwrap().version, "2.5.0");
}
