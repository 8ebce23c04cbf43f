//! Real Data Center, not the ideal one (issue 7): rate limits on changes, a second runner, 404s
//! that are not UPM's, artifacts that turn out to be another app, a URL without the context path.
//! Each test reproduces the fault on the simulator and checks what upmsync does about it.

use crate::support::*;
use upmsync::commands::read_and_plan;
use upmsync::execute::{ApplyReport, Mode, Outcome};
use upmsync::marketplace::download::Cache;
use upmsync::model::{DesiredState, Source};
use upmsync::plan::Action;
use upmsync_sim::{jar, Fault, FaultRule, SimConfig, SimServer};

fn failure(report: &ApplyReport, index: usize) -> String {
    match &report.changes[index].outcome {
        Outcome::Failed { error } | Outcome::Stale { error } => error.clone(),
        other => panic!("change {index} was {other:?}: {report:#?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_refused_with_429_are_sent_again_after_retry_after() {
    let sim = start(small_jira()).await;
    // Rate limiting answers before UPM sees the request: nothing was processed (§6).
    sim.set_faults(faults(vec![
        FaultRule::new(Fault::Status {
            status: 429,
            retry_after: Some(1),
        })
        .server(SimServer::Upm)
        .method("POST")
        .first(1),
        FaultRule::new(Fault::Status {
            status: 503,
            retry_after: Some(1),
        })
        .server(SimServer::Upm)
        .method("PUT")
        .first(1),
        FaultRule::new(Fault::Status {
            status: 429,
            retry_after: None,
        })
        .server(SimServer::Upm)
        .method("DELETE")
        .first(1),
    ]));
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
    let plan = plan_one(&desired).await;
    let report = apply_plan(&desired, &plan).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(sim.fault_hits(), 3, "each kind of change met its 429/503");
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "2.0.0");
    assert!(!sim.plugin("com.vendor.beta").unwrap().enabled);
    assert!(sim.plugin("com.vendor.gamma").is_none());
    let limited: Vec<_> = mutating(&sim)
        .into_iter()
        .filter(|request| request.status == 429 || request.status == 503)
        .collect();
    assert_eq!(limited.len(), 3, "{limited:#?}");
    assert!(plan_one(&desired).await.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_longer_than_the_retry_bound_is_explained_and_changes_nothing() {
    let sim = start(small_jira()).await;
    sim.set_faults(faults(vec![FaultRule::new(Fault::Status {
        status: 429,
        retry_after: Some(3600),
    })
    .server(SimServer::Upm)
    .method("PUT")]));
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![disabled(present("com.vendor.beta", "2.5.0"))],
        )],
    );
    let plan = plan_one(&desired).await;
    let report = apply_plan(&desired, &plan).await;
    let error = failure(&report, 0);
    assert!(error.contains("429 Too Many Requests"), "{error}");
    assert!(error.contains("Retry-After: 3600 s"), "{error}");
    assert!(error.contains("--retry-max-seconds"), "{error}");
    assert!(sim.plugin("com.vendor.beta").unwrap().enabled);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_runner_that_changed_an_app_stops_the_first_as_stale() {
    let sim = start(small_jira()).await;
    let wanted = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                present("com.vendor.alpha", "2.0.0"),
                present("com.vendor.beta", "2.0.0"),
            ],
        )],
    );
    let plan = plan_one(&wanted).await;
    assert_eq!(plan.changes[0].key.as_str(), "com.vendor.alpha");
    // Meanwhile another pipeline, with another manifest, upgrades alpha to 1.1.0.
    let other = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.alpha", "1.1.0")])],
    );
    let other_plan = plan_one(&other).await;
    assert!(apply_plan(&other, &other_plan).await.succeeded());
    sim.clear_requests();

    let report = apply_plan(&wanted, &plan).await;
    assert!(!report.succeeded());
    let error = failure(&report, 0);
    assert!(matches!(report.changes[0].outcome, Outcome::Stale { .. }));
    assert!(
        error.contains("it is at 1.1.0 (the plan assumed at 1.0.0)"),
        "{error}"
    );
    assert!(error.contains("upmsync plan"), "{error}");
    assert!(report.changes[1..]
        .iter()
        .all(|change| change.outcome == Outcome::NotStarted));
    assert!(mutating(&sim).is_empty(), "nothing was changed");
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "1.1.0");
    assert_eq!(sim.plugin("com.vendor.beta").unwrap().version, "2.5.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_enable_state_changed_meanwhile_is_stale_too() {
    let sim = start(small_jira()).await;
    let wanted = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.alpha", "2.0.0")])],
    );
    let plan = plan_one(&wanted).await;
    assert_eq!(plan.changes[0].action(), Action::Upgrade);
    // Meanwhile an admin disables it on the Manage apps page.
    let other = desired(
        &sim,
        vec![instance(
            &sim,
            vec![disabled(present("com.vendor.alpha", "1.0.0"))],
        )],
    );
    assert!(apply_plan(&other, &plan_one(&other).await)
        .await
        .succeeded());
    let report = apply_plan(&wanted, &plan).await;
    let error = failure(&report, 0);
    assert!(
        error.contains("it is disabled (the plan assumed enabled)"),
        "{error}"
    );
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "1.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_removed_meanwhile_is_stale() {
    let sim = start(small_jira()).await;
    let wanted = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.gamma", "1.0.0")])],
    );
    let mut licensed = wanted.clone();
    licensed.instances[0].apps.insert(
        upmsync::model::AppKey::new("com.vendor.alpha"),
        with_license(present("com.vendor.alpha", "1.0.0"), "ALPHA-NEW"),
    );
    let plan = plan_one(&licensed).await;
    assert_eq!(plan.changes[0].action(), Action::LicenseSet);
    let other = desired(&sim, vec![instance(&sim, vec![absent("com.vendor.alpha")])]);
    assert!(apply_plan(&other, &plan_one(&other).await)
        .await
        .succeeded());
    let report = apply_plan(&licensed, &plan).await;
    let error = failure(&report, 0);
    assert!(
        error.contains("it is not installed (the plan assumed at 1.0.0)"),
        "{error}"
    );
    assert!(sim
        .license("com.vendor.alpha")
        .is_some_and(|text| text != "ALPHA-NEW"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_404_to_an_uninstall_counts_only_once_the_list_confirms_it() {
    let sim = start(small_jira()).await;
    // A proxy answers 404 to the DELETE; UPM never saw it.
    sim.set_faults(faults(vec![FaultRule::new(Fault::Status {
        status: 404,
        retry_after: None,
    })
    .server(SimServer::Upm)
    .method("DELETE")
    .first(1)]));
    let desired = desired(&sim, vec![instance(&sim, vec![absent("com.vendor.gamma")])]);
    let plan = plan_one(&desired).await;
    let report = apply_plan(&desired, &plan).await;
    let error = failure(&report, 0);
    assert!(error.contains("answered 404"), "{error}");
    assert!(sim.plugin("com.vendor.gamma").is_some());
    // The next apply converges.
    let report = apply_plan(&desired, &plan_one(&desired).await).await;
    assert!(report.succeeded(), "{report:#?}");
    assert!(sim.plugin("com.vendor.gamma").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_artifact_that_is_another_app_is_reported_by_its_real_key() {
    let sim = start(small_jira()).await;
    let mut app = present("com.vendor.delta", "1.0.0");
    if let DesiredState::Present(present) = &mut app.state {
        // The URL really serves another app (installed by URI, so not verified by upmsync).
        let other = jar::build_plugin_jar("com.vendor.epsilon", "Epsilon", "1.0.0", false);
        present.source = Source::Url(serve_bytes(other).await);
    }
    let desired = desired(&sim, vec![instance(&sim, vec![app])]);
    let report = apply_plan(&desired, &plan_one(&desired).await).await;
    let error = failure(&report, 0);
    assert!(
        error.contains("installed app `com.vendor.epsilon` 1.0.0"),
        "{error}"
    );
    assert!(
        error.contains("not") || error.contains("another app"),
        "{error}"
    );
    assert!(sim.plugin("com.vendor.epsilon").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_without_the_context_path_is_diagnosed_with_the_one_that_works() {
    let sim = start(SimConfig::empty()).await;
    let mut desired = desired(&sim, vec![instance(&sim, vec![])]);
    let root = sim.upm_url().join("/").unwrap();
    desired.instances[0].url = root.clone();
    let plan = read_and_plan(&desired, &upmsync::http::HttpSettings::default()).await;
    let error = upmsync::error::error_text(&*plan.instances[0].result.clone().unwrap_err());
    assert!(error.contains("answered 404"), "{error}");
    assert!(error.contains("no UPM REST API at this URL"), "{error}");
    assert!(
        error.contains(&format!("{root}rest/plugins/1.0/")),
        "names what was tried: {error}"
    );
    assert!(
        error.contains(&format!("`{}`", sim.upm_url())),
        "names the URL that works: {error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_downgrade_never_restores_over_a_version_another_runner_installed() {
    let sim = start(small_jira()).await;
    // The downgrade's install task fails, and its first poll is slow: time for another runner.
    sim.set_faults(faults(vec![
        FaultRule::new(Fault::TaskFail {
            message: "Failed to install beta".into(),
        })
        .server(SimServer::Upm)
        .method("POST")
        .first(1),
        FaultRule::new(Fault::Latency { millis: 1500 })
            .server(SimServer::Upm)
            .method("GET")
            .path("/pending/")
            .first(1),
    ]));
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.beta", "2.0.0")])],
    );
    let plan = plan_one(&desired).await;
    assert_eq!(plan.changes[0].action(), Action::Downgrade);
    assert!(matches!(
        plan.changes[0].op,
        upmsync::plan::Op::Downgrade {
            restore: upmsync::plan::Restore::ByUriThenUpload(_),
            ..
        }
    ));
    // The other runner installs 2.5.0 again as soon as this run's install was accepted.
    let upm = upmsync::upm::UpmClient::new(
        &desired.instances[0],
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    let url = sim
        .marketplace_url()
        .join("download/apps/200/version/200002")
        .unwrap();
    let other = async {
        while !sim
            .requests()
            .iter()
            .any(|request| request.method == "POST" && request.status == 202)
        {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let key = upmsync::model::AppKey::new("com.vendor.beta");
        upm.install(&key, upmsync::upm::InstallFrom::Uri(&url))
            .await
            .map(|app| app.version.to_string())
    };
    let (report, other) = tokio::join!(apply_plan(&desired, &plan), other);
    assert_eq!(other.unwrap(), "2.5.0");
    let error = failure(&report, 0);
    assert!(error.contains("Failed to install beta"), "{error}");
    assert!(error.contains("is installed now, at 2.5.0"), "{error}");
    assert!(error.contains("2.5.0 was not restored over it"), "{error}");
    let installs = mutating(&sim)
        .into_iter()
        .filter(|request| request.method == "POST")
        .count();
    assert_eq!(
        installs, 2,
        "the failed install and the other runner's; no restore"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_plan_applies_through_a_three_node_cluster() {
    let sim = start(small_jira().nodes(3)).await;
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                with_license(present("com.vendor.alpha", "2.0.0"), "ALPHA-NEW"),
                present("com.vendor.beta", "2.0.0"),
                disabled(present("com.vendor.delta", "1.0.0")),
                absent("com.vendor.gamma"),
            ],
        )],
    );
    let plan = plan_one(&desired).await;
    let actions: Vec<Action> = plan.changes.iter().map(|change| change.action()).collect();
    for action in [
        Action::Upgrade,
        Action::Downgrade,
        Action::Install,
        Action::Uninstall,
        Action::LicenseSet,
    ] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    let report = apply_plan(&desired, &plan).await;
    assert!(report.succeeded(), "{report:#?}");
    let requests = sim.requests();
    assert!(
        !requests.iter().any(|request| request.status == 403),
        "no install met another node's token: {requests:#?}"
    );
    // The first reads run at once, before any affinity cookie, so they may spread over the nodes
    // (how far depends on timing, so it is not asserted). From then on the session stays on one
    // node: without the cookie jar the balancer's round robin moves every request, and the
    // assertion below fails whatever the timing.
    let changes: std::collections::BTreeSet<usize> = mutating(&sim)
        .iter()
        .filter_map(|request| request.node)
        .collect();
    assert_eq!(
        changes.len(),
        1,
        "the changes stayed on one node: {changes:?}"
    );
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "2.0.0");
    assert_eq!(sim.plugin("com.vendor.beta").unwrap().version, "2.0.0");
    assert!(!sim.plugin("com.vendor.delta").unwrap().enabled);
    assert!(sim.plugin("com.vendor.gamma").is_none());
    assert_eq!(
        sim.license("com.vendor.alpha").as_deref(),
        Some("ALPHA-NEW")
    );
    assert!(plan_one(&desired).await.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_taken_by_another_runner_is_fetched_again_once() {
    let sim = start(small_jira()).await;
    // This run's install is slow to reach UPM; meanwhile another runner with the same account
    // takes the same upm-token (one per user, §5.2) and uses it up.
    sim.set_faults(faults(vec![FaultRule::new(Fault::Latency { millis: 800 })
        .server(SimServer::Upm)
        .method("POST")
        .first(1)]));
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.alpha", "2.0.0")])],
    );
    let plan = plan_one(&desired).await;
    sim.clear_requests();
    let upm = upmsync::upm::UpmClient::new(
        &desired.instances[0],
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    let url = sim
        .marketplace_url()
        .join("download/apps/300/version/300002")
        .unwrap();
    let other = async {
        while !sim
            .requests()
            .iter()
            .any(|request| request.method == "HEAD")
        {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let key = upmsync::model::AppKey::new("com.vendor.delta");
        upm.install(&key, upmsync::upm::InstallFrom::Uri(&url))
            .await
            .map(|app| app.version.to_string())
    };
    let (report, other) = tokio::join!(apply_plan(&desired, &plan), other);
    assert_eq!(other.unwrap(), "1.0.0");
    assert!(report.succeeded(), "{report:#?}");
    let posts: Vec<u16> = mutating(&sim)
        .into_iter()
        .filter(|request| request.method == "POST")
        .map(|request| request.status)
        .collect();
    assert!(
        posts.contains(&403),
        "the token was refused once: {posts:?}"
    );
    assert_eq!(posts.iter().filter(|status| **status == 202).count(), 2);
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "2.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn task_links_built_from_another_base_url_are_followed_under_the_manifest_url() {
    let base: url::Url = "https://jira.example.com/".parse().unwrap();
    let sim = start(small_jira().base_url(base)).await;
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.alpha", "2.0.0")])],
    );
    let plan = read_and_plan(&desired, &upmsync::http::HttpSettings::default()).await;
    let text = upmsync::render::plan_text(&plan);
    assert!(
        text.contains("note: the product's base URL is https://jira.example.com"),
        "{text}"
    );
    let plan = plan.instances[0].result.clone().unwrap();
    let report = apply_plan(&desired, &plan).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "2.0.0");
    assert!(sim
        .requests()
        .iter()
        .any(|request| request.path.starts_with("/jira/rest/plugins/1.0/pending/")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_waiting_for_a_restart_is_reported_as_such_and_not_planned_again() {
    let sim = start(small_jira().requires_restart("com.vendor.alpha")).await;
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                present("com.vendor.alpha", "2.0.0"),
                disabled(present("com.vendor.beta", "2.5.0")),
            ],
        )],
    );
    let plan = plan_one(&desired).await;
    let report = apply_plan(&desired, &plan).await;
    assert!(
        report.succeeded(),
        "a restart is not a failure: {report:#?}"
    );
    assert!(report.restart_required());
    let alpha = report
        .changes
        .iter()
        .find(|change| change.change.key.as_str() == "com.vendor.alpha")
        .unwrap();
    assert_eq!(
        alpha.outcome,
        Outcome::PendingRestart {
            note: "done, takes effect after a restart of jira-test".into()
        }
    );
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "1.0.0");
    // The next plan shows the pending restart and does not install the same thing again.
    let again = plan_one(&desired).await;
    assert!(again.changes.is_empty(), "{:#?}", again.changes);
    assert_eq!(again.pending_restart.len(), 1);
    assert!(!again.in_sync(), "drift until the restart");
    sim.restart();
    let after = plan_one(&desired).await;
    assert!(after.in_sync(), "{after:#?}");
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "2.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_uninstall_waiting_for_a_restart_is_not_a_failure() {
    let sim = start(small_jira().requires_restart("com.vendor.gamma")).await;
    let desired = desired(&sim, vec![instance(&sim, vec![absent("com.vendor.gamma")])]);
    let report = apply_plan(&desired, &plan_one(&desired).await).await;
    assert!(report.succeeded(), "{report:#?}");
    assert!(matches!(
        report.changes[0].outcome,
        Outcome::PendingRestart { .. }
    ));
    assert!(plan_one(&desired).await.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_whose_dependency_comes_later_is_enabled_once_it_is_installed() {
    // delta needs beta's packages; the manifest lists delta first and beta is not installed.
    let config = small_jira()
        .dependency("com.vendor.delta", "com.vendor.beta")
        .plugin(upmsync_sim::SeedPlugin::user(
            "com.vendor.gamma",
            "Gamma",
            "1.0.0",
        ));
    let sim = start(config).await;
    // Remove beta first so both must be installed in this run.
    let setup = desired(&sim, vec![instance(&sim, vec![absent("com.vendor.beta")])]);
    assert!(apply_plan(&setup, &plan_one(&setup).await)
        .await
        .succeeded());
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                present("com.vendor.delta", "1.0.0"),
                present("com.vendor.beta", "2.5.0"),
            ],
        )],
    );
    let plan = plan_one(&desired).await;
    let keys: Vec<&str> = plan
        .changes
        .iter()
        .map(|change| change.key.as_str())
        .collect();
    assert_eq!(
        keys,
        ["com.vendor.delta", "com.vendor.beta"],
        "manifest order"
    );
    let mut seen = Vec::new();
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(folder.path(), &upmsync::http::HttpSettings::default()).unwrap();
    let upm = upmsync::upm::UpmClient::new(
        &desired.instances[0],
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    let report = upmsync::execute::execute(
        &plan,
        &upm,
        &cache,
        Mode::Apply,
        &std::sync::atomic::AtomicBool::new(false),
        &mut |change, outcome| seen.push((change.key.to_string(), outcome.clone())),
    )
    .await;
    assert!(report.succeeded(), "{report:#?}");
    assert!(sim.plugin("com.vendor.delta").unwrap().enabled);
    assert!(sim.plugin("com.vendor.beta").unwrap().enabled);
    assert_eq!(
        seen.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>(),
        ["com.vendor.beta", "com.vendor.delta"],
        "delta is reported once it is enabled"
    );
    assert!(
        plan_one(&desired).await.changes.is_empty(),
        "the first apply converged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_install_that_cannot_be_enabled_says_the_app_is_down() {
    let sim = start(small_jira().enable_fails("com.vendor.delta")).await;
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.delta", "1.0.0")])],
    );
    let report = apply_plan(&desired, &plan_one(&desired).await).await;
    let error = failure(&report, 0);
    assert!(
        error.starts_with("installed `com.vendor.delta` 1.0.0, but UPM could not enable it"),
        "{error}"
    );
    assert!(error.contains("DOWN"), "{error}");
    assert!(
        error.contains("upm.plugin.error.failed.to.enable"),
        "{error}"
    );
    assert!(!error.contains("FAILED upgrade"), "{error}");
    let delta = sim.plugin("com.vendor.delta").unwrap();
    assert!(!delta.enabled);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_manifest_applied_twice_at_once_is_not_stale() {
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
    let plan = plan_one(&desired).await;
    // Another pipeline applies the very same manifest first.
    assert!(apply_plan(&desired, &plan_one(&desired).await)
        .await
        .succeeded());
    sim.clear_requests();
    let report = apply_plan(&desired, &plan).await;
    assert!(report.succeeded(), "{report:#?}");
    assert!(report
        .changes
        .iter()
        .all(|change| change.outcome == Outcome::Done));
    assert!(mutating(&sim).is_empty(), "nothing was done twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requires_restart_list_that_cannot_be_read_is_not_fatal() {
    let sim = start(small_jira()).await;
    sim.set_faults(faults(vec![FaultRule::new(Fault::Status {
        status: 403,
        retry_after: None,
    })
    .server(SimServer::Upm)
    .path("/requires-restart")]));
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.alpha", "2.0.0")])],
    );
    let plan = plan_one(&desired).await;
    assert_eq!(plan.changes[0].action(), Action::Upgrade);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_is_tried_again_after_ctrl_c() {
    let sim = start(small_jira().dependency("com.vendor.delta", "com.vendor.beta")).await;
    let setup = desired(&sim, vec![instance(&sim, vec![absent("com.vendor.beta")])]);
    assert!(apply_plan(&setup, &plan_one(&setup).await)
        .await
        .succeeded());
    // delta needs beta, which comes last; Ctrl-C arrives after alpha's upgrade.
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                present("com.vendor.delta", "1.0.0"),
                present("com.vendor.alpha", "2.0.0"),
                present("com.vendor.beta", "2.5.0"),
            ],
        )],
    );
    let plan = plan_one(&desired).await;
    sim.clear_requests();
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(folder.path(), &upmsync::http::HttpSettings::default()).unwrap();
    let upm = upmsync::upm::UpmClient::new(
        &desired.instances[0],
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    let report = upmsync::execute::execute(
        &plan,
        &upm,
        &cache,
        Mode::Apply,
        &interrupted,
        &mut |change, _| {
            if change.key.as_str() == "com.vendor.alpha" {
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        },
    )
    .await;
    let outcomes: Vec<(&str, &Outcome)> = report
        .changes
        .iter()
        .map(|change| (change.change.key.as_str(), &change.outcome))
        .collect();
    assert!(
        matches!(outcomes[0], ("com.vendor.delta", Outcome::Failed { .. })),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], ("com.vendor.alpha", &Outcome::Done));
    assert_eq!(outcomes[2], ("com.vendor.beta", &Outcome::NotStarted));
    let enables = mutating(&sim)
        .into_iter()
        .filter(|request| request.method == "PUT" && request.path.contains("com.vendor.delta-key"))
        .count();
    assert_eq!(
        enables, 2,
        "the install's enable and one retry after alpha; none after Ctrl-C"
    );
    assert!(sim.plugin("com.vendor.beta").is_none());
}
