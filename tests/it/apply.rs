//! Client, planner and executor against the simulator on loopback: recorded requests, final state,
//! and apply followed by plan being empty.

use crate::support::*;
use upmsync::commands::{read_and_plan, read_drift};
use upmsync::execute::{ApplyReport, Mode, Outcome};
use upmsync::http::HttpSettings;
use upmsync::marketplace::download::Cache;
use upmsync::model::{AppKey, Credentials, Desired, Secret};
use upmsync::plan::{Action, InstancePlan};
use upmsync::upm::UpmClient;
use upmsync_sim::{jar, SeedPlugin, SimServer};

async fn apply_one(desired: &Desired, mode: Mode) -> ApplyReport {
    let plan = plan_one(desired).await;
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(folder.path(), &upmsync::http::HttpSettings::default()).unwrap();
    execute_plan(desired, &plan, &cache, mode, HttpSettings::default()).await
}

fn actions(plan: &InstancePlan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .map(|change| (change.key.to_string(), change.action()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_reaches_the_desired_state_and_the_next_plan_is_empty() {
    let sim = start(small_jira()).await;
    let folder = tempfile::tempdir().unwrap();
    let jar_path = folder.path().join("inhouse.jar");
    std::fs::write(
        &jar_path,
        jar::build_plugin_jar("com.example.inhouse", "In-house", "2.0.0", false),
    )
    .unwrap();
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                with_license(present("com.vendor.alpha", "2.0.0"), "ALPHA-NEW-LICENSE"), // upgrade + license
                disabled(present("com.vendor.beta", "2.0.0")), // downgrade, disabled
                present("com.vendor.delta", "1.0.0"),          // install
                from_path(present("com.example.inhouse", "2.0.0"), &jar_path), // upload
                absent("com.vendor.gamma"),                    // uninstall
            ],
        )],
    );

    let plan = plan_one(&desired).await;
    // Within each phase, in the order the apps are listed.
    assert_eq!(
        actions(&plan),
        vec![
            ("com.vendor.gamma".into(), Action::Uninstall),
            ("com.vendor.alpha".into(), Action::Upgrade),
            ("com.vendor.beta".into(), Action::Downgrade),
            ("com.vendor.delta".into(), Action::Install),
            ("com.example.inhouse".into(), Action::Install),
            ("com.vendor.alpha".into(), Action::LicenseSet),
            ("com.vendor.beta".into(), Action::Disable),
        ]
    );
    sim.clear_requests();
    let report = apply_one(&desired, Mode::Apply).await;
    assert!(report.succeeded(), "{report:#?}");

    let alpha = sim.plugin("com.vendor.alpha").unwrap();
    assert_eq!(alpha.version, "2.0.0");
    assert_eq!(
        sim.license("com.vendor.alpha").as_deref(),
        Some("ALPHA-NEW-LICENSE")
    );
    let beta = sim.plugin("com.vendor.beta").unwrap();
    assert_eq!((beta.version.as_str(), beta.enabled), ("2.0.0", false));
    assert_eq!(sim.plugin("com.vendor.delta").unwrap().version, "1.0.0");
    assert_eq!(sim.plugin("com.example.inhouse").unwrap().version, "2.0.0");
    assert!(sim.plugin("com.vendor.gamma").is_none());

    // The downgrade uninstalled before installing, every install POST carried a fresh token from a
    // HEAD, and the license PUT used UPM's media type.
    let changes = mutating(&sim);
    let beta_delete = changes
        .iter()
        .position(|r| r.method == "DELETE" && r.path.ends_with("/com.vendor.beta-key"))
        .unwrap();
    let posts: Vec<usize> = changes
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "POST")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(posts.len(), 4, "{changes:#?}");
    assert!(posts.iter().any(|&post| post > beta_delete));
    for request in changes.iter().filter(|r| r.method == "POST") {
        assert!(
            request.query.as_deref().unwrap_or("").starts_with("token="),
            "{request:?}"
        );
        assert_eq!(request.auth_scheme.as_deref(), Some("Basic"));
    }
    let heads = sim.requests().iter().filter(|r| r.method == "HEAD").count();
    assert_eq!(heads, 4, "one token per install");
    let license_put = changes
        .iter()
        .find(|r| r.method == "PUT" && r.path.ends_with("/license"))
        .unwrap();
    assert_eq!(
        license_put.content_type.as_deref(),
        Some("application/vnd.atl.plugins+json")
    );
    let uri_installs = changes
        .iter()
        .filter(|r| {
            r.content_type.as_deref() == Some("application/vnd.atl.plugins.install.uri+json")
        })
        .count();
    assert_eq!(uri_installs, 3);
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.server == SimServer::Marketplace && r.path.contains("/download/")));

    // Apply is idempotent: the next plan is empty and a second apply changes nothing.
    assert!(plan_one(&desired).await.changes.is_empty());
    sim.clear_requests();
    let again = apply_one(&desired, Mode::Apply).await;
    assert!(again.succeeded() && again.changes.is_empty());
    assert!(mutating(&sim).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_drift_and_dry_run_send_no_mutating_request() {
    let sim = start(small_jira()).await;
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                with_license(present("com.vendor.alpha", "2.0.0"), "NEW"),
                present("com.vendor.beta", "2.0.0"),
                absent("com.vendor.gamma"),
                present("com.vendor.delta", "1.0.0"),
            ],
        )],
    );
    let drift = read_drift(&desired, &upmsync::http::HttpSettings::default()).await;
    assert!(drift.has_drift());
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.server == SimServer::Marketplace),
        "drift does not ask the Marketplace"
    );
    let report = apply_one(&desired, Mode::DryRun).await;
    assert!(report.succeeded(), "{report:#?}");
    assert!(report.changes.iter().all(|c| c.outcome == Outcome::WouldDo));
    assert!(mutating(&sim).is_empty(), "{:#?}", mutating(&sim));
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "1.0.0");
    assert!(sim.plugin("com.vendor.gamma").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn licenses_are_read_concurrently_not_one_by_one() {
    let mut config = small_jira();
    for index in 0..12 {
        config = config
            .plugin(SeedPlugin::user(&format!("com.many.app{index}"), "Many", "1.0").licensing());
    }
    let sim = start(config).await;
    let apps = (0..12)
        .map(|index| with_license(present(&format!("com.many.app{index}"), "1.0"), "L"))
        .collect();
    let desired = desired(&sim, vec![instance(&sim, apps)]);
    let plan = plan_one(&desired).await;
    assert_eq!(plan.changes.len(), 12);
    let reads = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/license"))
        .count();
    assert_eq!(reads, 12);
    // Only apps whose license the manifest manages are read.
    assert!(!sim
        .requests()
        .iter()
        .any(|r| r.path.contains("com.vendor.alpha-key/license")));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_artifact_silently_ignored_by_upm_is_a_failure() {
    let sim = start(small_jira()).await;
    // The manifest says 3.0.0 but the URL (installed by URI, so not verified by upmsync) really
    // serves 0.5.0 of the installed app: UPM keeps 1.0.0 and reports success (§5.6).
    let mut app = present("com.vendor.alpha", "3.0.0");
    if let upmsync::model::DesiredState::Present(present) = &mut app.state {
        let rebuilt = jar::build_plugin_jar("com.vendor.alpha", "Alpha", "0.5.0", true);
        let url = serve_bytes(rebuilt).await;
        present.source = upmsync::model::Source::Url(url);
    }
    let desired = desired(&sim, vec![instance(&sim, vec![app])]);
    let report = apply_one(&desired, Mode::Apply).await;
    assert!(!report.succeeded());
    let Outcome::Failed { error } = &report.changes[0].outcome else {
        panic!("{report:#?}")
    };
    assert!(
        error.contains("at version 1.0.0 after installing 3.0.0"),
        "{error}"
    );
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "1.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_stops_the_instance_and_reports_what_was_not_started() {
    let sim = start(small_jira()).await;
    sim.fail_next_install("simulated broken artifact");
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                present("com.vendor.alpha", "2.0.0"),
                present("com.vendor.delta", "1.0.0"),
                disabled(present("com.vendor.gamma", "1.0.0")),
            ],
        )],
    );
    let report = apply_one(&desired, Mode::Apply).await;
    let outcomes: Vec<(&str, &Outcome)> = report
        .changes
        .iter()
        .map(|c| (c.change.key.as_str(), &c.outcome))
        .collect();
    assert!(
        matches!(outcomes[0], ("com.vendor.alpha", Outcome::Failed { error }) if error.contains("simulated broken artifact")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], ("com.vendor.delta", &Outcome::NotStarted));
    assert_eq!(outcomes[2], ("com.vendor.gamma", &Outcome::NotStarted));
    assert!(sim.plugin("com.vendor.delta").is_none());
    assert!(sim.plugin("com.vendor.gamma").unwrap().enabled);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_downgrade_install_restores_the_previous_version() {
    let sim = start(small_jira()).await;
    sim.fail_next_install("simulated failure");
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.beta", "2.0.0")])],
    );
    let plan = plan_one(&desired).await;
    assert!(
        matches!(
            plan.changes[0].op,
            upmsync::plan::Op::Downgrade {
                restore: upmsync::plan::Restore::ByUriThenUpload(_),
                ..
            }
        ),
        "the installed version's artifact is found before the uninstall"
    );
    let report = apply_one(&desired, Mode::Apply).await;
    assert!(!report.succeeded());
    let Outcome::Failed { error } = &report.changes[0].outcome else {
        panic!("{report:#?}")
    };
    assert!(
        error.contains("installing 2.0.0 of `com.vendor.beta` failed")
            && error.contains("2.5.0 was installed again (restored)"),
        "{error}"
    );
    assert!(error.contains("simulated failure"), "{error}");
    assert_eq!(
        sim.plugin("com.vendor.beta").unwrap().version,
        "2.5.0",
        "nothing lost"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_license_again_is_success_and_removal_works() {
    let sim = start(small_jira()).await;
    let desired = desired(&sim, vec![instance(&sim, vec![])]);
    let upm = UpmClient::new(
        &desired.instances[0],
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    let key = AppKey::new("com.vendor.alpha");
    upm.set_license(&key, &Secret::new("ALPHA-OLD-LICENSE"))
        .await
        .expect("identical license is success");
    upm.set_license(&key, &Secret::new("ANOTHER"))
        .await
        .unwrap();
    assert_eq!(sim.license("com.vendor.alpha").as_deref(), Some("ANOTHER"));
    upm.remove_license(&key).await.unwrap();
    assert_eq!(sim.license("com.vendor.alpha"), None);
    let without = one_instance(
        &sim,
        vec![without_license(present("com.vendor.alpha", "1.0.0"))],
    );
    assert!(plan_one(&without).await.changes.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn system_apps_and_unknown_versions_fail_the_plan_before_any_change() {
    let sim = start(small_jira()).await;
    let desired = one_instance(
        &sim,
        vec![
            absent("com.atlassian.jira.bundled"),
            present("com.vendor.alpha", "9.9.9"),
        ],
    );
    let plan = read_and_plan(&desired, &upmsync::http::HttpSettings::default()).await;
    let error = upmsync::error::error_text(&**plan.instances[0].result.as_ref().unwrap_err());
    assert!(
        error.contains("`com.vendor.alpha` has no version `9.9.9`"),
        "{error}"
    );
    let desired = one_instance(&sim, vec![absent("com.atlassian.jira.bundled")]);
    let plan = read_and_plan(&desired, &upmsync::http::HttpSettings::default()).await;
    let error = upmsync::error::error_text(&**plan.instances[0].result.as_ref().unwrap_err());
    assert!(error.contains("is a system app"), "{error}");
    assert!(mutating(&sim).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_tokens_authenticate_and_bad_credentials_are_explained() {
    let sim = start(small_jira().personal_access_token("pat-secret-123", "admin")).await;
    let mut desired = one_instance(&sim, vec![present("com.vendor.alpha", "1.0.0")]);
    desired.instances[0].credentials = Credentials::Bearer {
        token: Secret::new("pat-secret-123"),
    };
    assert!(plan_one(&desired).await.changes.is_empty());
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.auth_scheme.as_deref() == Some("Bearer")));

    desired.instances[0].credentials = Credentials::Basic {
        username: "admin".into(),
        password: Secret::new("wrong-password"),
    };
    let plan = read_and_plan(&desired, &upmsync::http::HttpSettings::default()).await;
    let error = upmsync::error::error_text(&**plan.instances[0].result.as_ref().unwrap_err());
    assert!(
        error.contains("failed to read the installed apps of `jira-test`"),
        "{error}"
    );
    assert!(error.contains("401"), "{error}");
    assert!(error.contains("hint: check the credentials"), "{error}");
    assert!(!error.contains("wrong-password"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_instance_is_an_error_naming_it() {
    let sim = start(small_jira()).await;
    let mut desired = one_instance(&sim, vec![]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    desired.instances[0].url = format!("http://{closed}/jira/").parse().unwrap();
    let plan = read_and_plan(&desired, &upmsync::http::HttpSettings::default()).await;
    let error = upmsync::error::error_text(&**plan.instances[0].result.as_ref().unwrap_err());
    assert!(
        error.contains("`jira-test`") && error.contains("could not connect"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn works_without_a_context_path() {
    let sim = start(small_jira().context_path("")).await;
    assert_eq!(sim.upm_url().path(), "/");
    let desired = one_instance(&sim, vec![present("com.vendor.alpha", "1.1.0")]);
    let report = apply_one(&desired, Mode::Apply).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "1.1.0");
}
