//! The must-fix findings of the two fresh-eyes reviews of issue 7, each as the test that failed on
//! the code under review and passes since its fix; each test names its finding number.

use crate::support::*;
use upmsync::plan::Action;
use upmsync_sim::{SeedPlugin, SimConfig};

/// Finding 1 (must-fix): a dependency that is installed but disabled, and that the same plan
/// enables, is enabled only in the enable phase, after the dependent app's install. The install
/// leaves the dependent disabled, nothing "later installs" it, so the instance stops at once
/// ("DOWN") and the enable of the dependency never starts: the first apply does not converge
/// although the plan holds every change needed (issue 7: "the first apply converges").
#[tokio::test(flavor = "multi_thread")]
async fn finding_1_a_dependency_enabled_later_in_the_same_run_lets_the_first_apply_converge() {
    // delta needs beta running; beta is installed but disabled; delta is new.
    let config = SimConfig::empty()
        .plugin(SeedPlugin::user("com.vendor.beta", "Beta", "2.5.0").disabled())
        .marketplace_app(marketplace_app("com.vendor.beta", 200, &["2.0.0", "2.5.0"]))
        .marketplace_app(marketplace_app(
            "com.vendor.delta",
            300,
            &["0.9.0", "1.0.0"],
        ))
        .dependency("com.vendor.delta", "com.vendor.beta");
    let sim = start(config).await;
    // The manifest lists the dependency first, and says so with `requires` too (as the hint
    // asks): there is nothing more a user can do.
    let mut delta = present("com.vendor.delta", "1.0.0");
    delta.requires = vec![upmsync::model::AppKey::new("com.vendor.beta")];
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![present("com.vendor.beta", "2.5.0"), delta],
        )],
    );
    let plan = plan_one(&desired).await;
    let actions: Vec<(&str, Action)> = plan
        .changes
        .iter()
        .map(|change| (change.key.as_str(), change.action()))
        .collect();
    assert_eq!(
        actions,
        [
            ("com.vendor.delta", Action::Install),
            ("com.vendor.beta", Action::Enable)
        ]
    );
    let report = apply_plan(&desired, &plan).await;
    assert!(report.succeeded(), "{report:#?}");
    assert!(sim.plugin("com.vendor.beta").unwrap().enabled);
    assert!(sim.plugin("com.vendor.delta").unwrap().enabled);
    assert!(
        plan_one(&desired).await.changes.is_empty(),
        "the first apply converged"
    );
}

/// Finding 2 (must-fix): while an app has a change waiting for a restart, every other manifest
/// change to it is silently dropped from the plan: a rotated license (which needs no restart) is
/// not planned, `plan --detailed-exitcode` exits 0 and `apply` says "every instance matches the
/// manifest".
#[tokio::test(flavor = "multi_thread")]
async fn finding_2_a_license_change_is_planned_while_an_upgrade_waits_for_a_restart() {
    let sim = start(small_jira().requires_restart("com.vendor.alpha")).await;
    let first = desired(
        &sim,
        vec![instance(
            &sim,
            vec![with_license(
                present("com.vendor.alpha", "2.0.0"),
                "ALPHA-OLD-LICENSE",
            )],
        )],
    );
    let report = apply_plan(&first, &plan_one(&first).await).await;
    assert!(report.restart_required(), "{report:#?}");
    // The license is rotated in the manifest: a license PUT does not wait for a restart.
    let rotated = desired(
        &sim,
        vec![instance(
            &sim,
            vec![with_license(
                present("com.vendor.alpha", "2.0.0"),
                "ALPHA-NEW-LICENSE",
            )],
        )],
    );
    let plan = plan_one(&rotated).await;
    assert!(
        plan.changes
            .iter()
            .any(|change| change.key.as_str() == "com.vendor.alpha"
                && change.action() == Action::LicenseSet),
        "the rotated license is not planned while the upgrade waits for a restart: {plan:#?}"
    );
}

/// Finding 2b (must-fix): a pending change that contradicts the manifest must not be hidden. UPM
/// does not say which version a pending upgrade installs (the plugin list keeps the running one,
/// §5.1), so what can be known is: a manifest that wants the running version contradicts any
/// pending upgrade, and a manifest that wants the app gone contradicts a pending install. Both
/// are conflicts (plan --detailed-exitcode 2, apply exits 1); any other pending upgrade stays
/// visible as pending (drift).
#[tokio::test(flavor = "multi_thread")]
async fn finding_2b_a_pending_upgrade_the_manifest_no_longer_wants_is_not_hidden() {
    let sim = start(small_jira().requires_restart("com.vendor.alpha")).await;
    let first = desired(
        &sim,
        vec![instance(
            &sim,
            vec![without_license(present("com.vendor.alpha", "2.0.0"))],
        )],
    );
    let report = apply_plan(&first, &plan_one(&first).await).await;
    assert!(report.restart_required(), "{report:#?}");
    let changed = desired(
        &sim,
        vec![instance(
            &sim,
            vec![without_license(present("com.vendor.alpha", "1.1.0"))],
        )],
    );
    let plan = plan_one(&changed).await;
    assert_eq!(plan.pending_restart.len(), 1, "{plan:#?}");
    assert!(!plan.in_sync(), "still drift: {plan:#?}");
    // Back to the running version: the pending upgrade contradicts it.
    let back = desired(
        &sim,
        vec![instance(
            &sim,
            vec![without_license(present("com.vendor.alpha", "1.0.0"))],
        )],
    );
    let plan = plan_one(&back).await;
    let conflict = plan.pending_restart[0].conflict.clone().unwrap_or_default();
    assert!(
        conflict.contains("upgrades it from 1.0.0 at the restart, but the manifest wants 1.0.0"),
        "{plan:#?}"
    );
    let gone = desired(&sim, vec![instance(&sim, vec![absent("com.vendor.alpha")])]);
    let plan = plan_one(&gone).await;
    let conflict = plan.pending_restart[0].conflict.clone().unwrap_or_default();
    assert!(
        conflict.contains("the manifest wants it absent"),
        "{plan:#?}"
    );
}

/// Finding 3 (must-fix, security): the cluster's session cookies reach the logs. `main.rs` adds
/// `cookie_store=off`, but a more specific `RUST_LOG` directive (the crate's module
/// `cookie_store::cookie_store`) wins, and the jar then logs every `Set-Cookie`, the product's
/// `JSESSIONID` included (docs/datacenter.md: "Cookies are never printed or logged").
#[tokio::test(flavor = "multi_thread")]
async fn finding_3_session_cookies_never_reach_the_logs_whatever_rust_log_says() {
    let case = TestEnv::with(small_jira().nodes(2)).await;
    case.manifest("  - key: com.vendor.gamma\n    version: 1.0.0\n", "ignore");
    let output = case
        .run_env(
            &["plan", "-f", "apps.yaml"],
            &[("RUST_LOG", "cookie_store::cookie_store=debug")],
        )
        .await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    let stderr = output.stderr;
    assert!(
        !stderr.contains("JSESSIONID=") && !stderr.contains("ATL_AFFINITY="),
        "session cookies in the logs:\n{stderr}"
    );
}

/// Finding 4 (must-fix): an upgrade whose POST is answered 502 by something in front of UPM (or
/// whose connection drops) is settled by reading the app back, but the code takes whatever is
/// installed as the result of the install. For an upgrade the old version is always there, so
/// the report says "UPM reports ... at version 1.0.0 after installing 2.0.0" with the hint "UPM
/// keeps an installed version that is newer": false (1.0.0 is older), and the 502 that happened is
/// not named at all. Cause: `execute::install`, the `is_lost_answer` arm, `Some(installed) =>
/// installed` without comparing with the state before the install.
#[tokio::test(flavor = "multi_thread")]
async fn finding_4_an_upgrade_answered_502_names_the_502_not_a_false_version_mismatch() {
    use upmsync::execute::Outcome;
    use upmsync_sim::{Fault, FaultRule, SimServer};
    let sim = start(small_jira()).await;
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![without_license(present("com.vendor.alpha", "2.0.0"))],
        )],
    );
    let plan = plan_one(&desired).await;
    sim.set_faults(faults(vec![FaultRule::new(Fault::Status {
        status: 502,
        retry_after: None,
    })
    .server(SimServer::Upm)
    .method("POST")
    .first(1)]));
    let report = apply_plan(&desired, &plan).await;
    let Outcome::Failed { error } = &report.changes[0].outcome else {
        panic!("{report:#?}");
    };
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "1.0.0");
    assert!(error.contains("502"), "the 502 is not named: {error}");
    assert!(
        !error.contains("keeps an installed version that is newer"),
        "false hint: {error}"
    );
}

/// Finding 10 (must-fix, regression of the "already done" fix): `already_done` looks only at the
/// field the change itself sets, and ignores every other difference `check_precondition` found.
/// Here the plan enables beta 2.5.0 (installed, disabled); meanwhile another pipeline with another
/// manifest downgrades beta to 2.0.0 and enables it. The enable is then "already done": apply
/// reports success (exit 0) although beta runs 2.0.0, not the manifest's 2.5.0, and the other
/// runner's change is hidden. Before the fix this was STALE, as docs/datacenter.md still promises
/// for any difference other than "exactly as the change would leave it".
#[tokio::test(flavor = "multi_thread")]
async fn finding_10_already_done_does_not_hide_another_runners_version_change() {
    use upmsync::execute::Outcome;
    let config = SimConfig::empty()
        .plugin(SeedPlugin::user("com.vendor.beta", "Beta", "2.5.0").disabled())
        .marketplace_app(marketplace_app("com.vendor.beta", 200, &["2.0.0", "2.5.0"]));
    let sim = start(config).await;
    let ours = desired(
        &sim,
        vec![instance(
            &sim,
            vec![without_license(present("com.vendor.beta", "2.5.0"))],
        )],
    );
    let plan = plan_one(&ours).await;
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].action(), Action::Enable);
    let theirs = desired(
        &sim,
        vec![instance(
            &sim,
            vec![without_license(present("com.vendor.beta", "2.0.0"))],
        )],
    );
    assert!(apply_plan(&theirs, &plan_one(&theirs).await)
        .await
        .succeeded());
    let report = apply_plan(&ours, &plan).await;
    assert_eq!(sim.plugin("com.vendor.beta").unwrap().version, "2.0.0");
    assert!(
        matches!(report.changes[0].outcome, Outcome::Stale { .. }),
        "beta is at 2.0.0 (the plan assumed 2.5.0), yet the enable counts as done: {report:#?}"
    );
}

/// Finding 11 (must-fix, same cause as 10): an upgrade found already made counts as done even
/// when the other runner also put in another license. Our manifest manages alpha's license and
/// it matches the live one, so only an upgrade is planned; the other pipeline upgrades alpha and
/// sets its own license. Our apply reports "done" (exit 0): the license difference the
/// precondition found is dropped and the instance no longer matches our manifest.
#[tokio::test(flavor = "multi_thread")]
async fn finding_11_already_done_does_not_hide_another_runners_license_change() {
    use upmsync::execute::Outcome;
    let sim = start(small_jira()).await;
    let ours = desired(
        &sim,
        vec![instance(
            &sim,
            vec![with_license(
                present("com.vendor.alpha", "2.0.0"),
                "ALPHA-OLD-LICENSE",
            )],
        )],
    );
    let plan = plan_one(&ours).await;
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].action(), Action::Upgrade);
    let theirs = desired(
        &sim,
        vec![instance(
            &sim,
            vec![with_license(
                present("com.vendor.alpha", "2.0.0"),
                "ALPHA-THEIRS",
            )],
        )],
    );
    assert!(apply_plan(&theirs, &plan_one(&theirs).await)
        .await
        .succeeded());
    let report = apply_plan(&ours, &plan).await;
    assert!(
        matches!(report.changes[0].outcome, Outcome::Stale { .. }),
        "the license is now another runner's, yet the upgrade counts as done: {report:#?}"
    );
}

/// Finding 12 (must-fix): a chain of dependencies listed dependents first (a needs b, b needs c;
/// manifest order a, b, c, no `requires`) does not converge. a and b are deferred; after c's
/// install `retry_deferred` makes one pass in index order: a fails (b still disabled), then b
/// is enabled, and nothing retries a. a is reported DOWN and the first apply does not converge,
/// although the next run's plain enable would work. Cause: `Run::retry_deferred` makes a single
/// pass instead of repeating while an app got enabled.
#[tokio::test(flavor = "multi_thread")]
async fn finding_12_a_chain_of_dependencies_listed_dependents_first_converges() {
    let config = SimConfig::empty()
        .marketplace_app(marketplace_app("com.vendor.a", 400, &["1.0.0"]))
        .marketplace_app(marketplace_app("com.vendor.b", 500, &["1.0.0"]))
        .marketplace_app(marketplace_app("com.vendor.c", 600, &["1.0.0"]))
        .dependency("com.vendor.a", "com.vendor.b")
        .dependency("com.vendor.b", "com.vendor.c");
    let sim = start(config).await;
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                without_license(present("com.vendor.a", "1.0.0")),
                without_license(present("com.vendor.b", "1.0.0")),
                without_license(present("com.vendor.c", "1.0.0")),
            ],
        )],
    );
    let report = apply_plan(&desired, &plan_one(&desired).await).await;
    assert!(report.succeeded(), "{report:#?}");
    for key in ["com.vendor.a", "com.vendor.b", "com.vendor.c"] {
        assert!(sim.plugin(key).unwrap().enabled, "{key} is disabled");
    }
}

/// Finding 13 (must-fix): finding 1 with a license. delta (new, licensed) needs beta, which is
/// installed but disabled and enabled by the same plan. Plan: install delta, license-set delta,
/// enable beta. The install leaves delta disabled and is deferred; the new "one more try before
/// its own next change" runs before delta's license-set, fails (beta is still disabled: its
/// enable is in the last phase), marks delta FAILED and stops the instance, so beta's enable
/// never starts. The first apply does not converge, and a license (which UPM accepts on a
/// disabled app) is needlessly not set. Cause: the pre-change block in `execute` treats any
/// next change of a deferred app as a deadline, although a later enable may still help.
#[tokio::test(flavor = "multi_thread")]
async fn finding_13_a_licensed_app_whose_dependency_is_enabled_later_converges() {
    let config = SimConfig::empty()
        .plugin(SeedPlugin::user("com.vendor.beta", "Beta", "2.5.0").disabled())
        .marketplace_app(marketplace_app("com.vendor.beta", 200, &["2.0.0", "2.5.0"]))
        .marketplace_app(marketplace_app(
            "com.vendor.delta",
            300,
            &["0.9.0", "1.0.0"],
        ))
        .dependency("com.vendor.delta", "com.vendor.beta");
    let sim = start(config).await;
    let mut delta = with_license(present("com.vendor.delta", "1.0.0"), "DELTA-LICENSE");
    delta.requires = vec![upmsync::model::AppKey::new("com.vendor.beta")];
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![without_license(present("com.vendor.beta", "2.5.0")), delta],
        )],
    );
    let plan = plan_one(&desired).await;
    let actions: Vec<(&str, Action)> = plan
        .changes
        .iter()
        .map(|change| (change.key.as_str(), change.action()))
        .collect();
    assert_eq!(
        actions,
        [
            ("com.vendor.delta", Action::Install),
            ("com.vendor.delta", Action::LicenseSet),
            ("com.vendor.beta", Action::Enable)
        ]
    );
    let report = apply_plan(&desired, &plan).await;
    assert!(report.succeeded(), "{report:#?}");
    assert!(sim.plugin("com.vendor.beta").unwrap().enabled);
    assert!(sim.plugin("com.vendor.delta").unwrap().enabled);
}
