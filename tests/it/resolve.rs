//! Issue 3 against the simulator: versions that follow the Marketplace (latest, constraints,
//! compatibility), the lock file, artifacts verified before anything changes, and platform gates.

use crate::support::*;
use upmsync::commands::{lock::lock_desired, read_and_plan, Exit};
use upmsync::execute::{ApplyReport, Mode};
use upmsync::http::HttpSettings;
use upmsync::marketplace::download::Cache;
use upmsync::model::{Desired, Hosting, InstallMethod, Sha256};
use upmsync::plan::{Action, InstancePlan};
use upmsync_sim::{
    jar, SeedCompatibility, SeedMarketplaceVersion, SeedPlugin, Sim, SimConfig, SimServer,
};

/// Jira 9.12.15 (build 9120015). `com.vendor.alpha` 1.0.0 is installed; the Marketplace has 1.0.0,
/// 1.1.0, 1.2.0 (compatible) and 2.0.0 (Jira 10+ only).
fn jira_with_an_incompatible_newest() -> SimConfig {
    small_jira()
        .marketplace_app(marketplace_app(
            "com.vendor.omega",
            400,
            &["1.0.0", "1.1.0", "1.2.0", "2.0.0"],
        ))
        .version_compatibility(
            "com.vendor.omega",
            400_004,
            SeedCompatibility {
                min_build: 10_000_000,
                min_version: "10.0.0".into(),
                max_build: 10_999_999,
                max_version: "10.9.9".into(),
            },
        )
}

async fn plan_one(desired: &Desired) -> Result<InstancePlan, String> {
    read_and_plan(desired, &upmsync::http::HttpSettings::default())
        .await
        .instances
        .into_iter()
        .next()
        .unwrap()
        .result
        .map_err(|error| upmsync::error::error_text(&*error))
}

async fn apply_one(desired: &Desired, cache: &Cache) -> ApplyReport {
    let plan = plan_one(desired).await.expect("plans");
    execute_plan(desired, &plan, cache, Mode::Apply, HttpSettings::default()).await
}

fn target_of(plan: &InstancePlan, key: &str) -> (Action, String) {
    let change = plan
        .changes
        .iter()
        .find(|change| change.key.as_str() == key && change.action().installs())
        .unwrap();
    (change.action(), change.op.to_version().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn latest_is_the_newest_compatible_version_not_the_newest() {
    let sim = start(jira_with_an_incompatible_newest()).await;
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.omega", "latest")])],
    );
    let plan = plan_one(&desired).await.unwrap();
    assert_eq!(
        target_of(&plan, "com.vendor.omega"),
        (Action::Install, "1.2.0".into())
    );
    let product = plan.product.as_ref().unwrap();
    assert_eq!(
        (product.version.as_str(), product.build),
        ("9.12.15", 9120015)
    );
    // The Marketplace was asked with the instance's build and hosting.
    let asked = sim
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/versions/latest"))
        .unwrap();
    let query = asked.query.unwrap_or_default();
    assert!(
        query.contains("application=jira")
            && query.contains("applicationBuild=9120015")
            && query.contains("hosting=datacenter"),
        "{query}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn constraints_pick_the_newest_compatible_match() {
    let sim = start(jira_with_an_incompatible_newest()).await;
    let cases = [
        (">=1.0, <1.2", "1.1.0"),
        ("~1.1", "1.1.0"),
        ("^1.0", "1.2.0"),
        (">=1.1", "1.2.0"),
    ];
    for (constraint, expected) in cases {
        let desired = desired(
            &sim,
            vec![instance(
                &sim,
                vec![present("com.vendor.omega", constraint)],
            )],
        );
        let plan = plan_one(&desired).await.unwrap();
        assert_eq!(
            target_of(&plan, "com.vendor.omega").1,
            expected,
            "{constraint}"
        );
    }
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.omega", ">=2.0")])],
    );
    let error = plan_one(&desired).await.unwrap_err();
    assert!(
        error.contains("no version matching `>=2.0`") && error.contains("build 9120015"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incompatible_pin_fails_at_plan_time_unless_allowed() {
    let sim = start(jira_with_an_incompatible_newest()).await;
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.omega", "2.0.0")])],
    );
    let error = plan_one(&desired).await.unwrap_err();
    for part in [
        "`com.vendor.omega` 2.0.0",
        "not compatible",
        "9.12.15 (build 9120015)",
        "10.0.0 (10000000) to 10.9.9 (10999999)",
        "allow_incompatible",
    ] {
        assert!(error.contains(part), "missing {part}: {error}");
    }
    assert!(mutating(&sim).is_empty());
    let desired = desired_allowing(&sim);
    let plan = plan_one(&desired).await.unwrap();
    assert_eq!(target_of(&plan, "com.vendor.omega").1, "2.0.0");
}

fn desired_allowing(sim: &Sim) -> Desired {
    desired(
        sim,
        vec![instance(
            sim,
            vec![allow_incompatible(present("com.vendor.omega", "2.0.0"))],
        )],
    )
}

/// The error of the change whose artifacts failed: it fails without being started (nothing was
/// changed for it), and stops the instance.
fn artifact_failure(report: &upmsync::execute::ApplyReport) -> String {
    let failed: Vec<_> = report
        .changes
        .iter()
        .filter_map(|change| match &change.outcome {
            upmsync::execute::Outcome::Failed { error } => Some(error.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{report:#?}");
    assert!(
        failed[0].contains("not started (nothing was changed for it)"),
        "{}",
        failed[0]
    );
    failed[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_artifact_fails_before_a_downgrade_uninstalls_anything() {
    let mut app = marketplace_app("com.vendor.eps", 500, &["2.0.0", "2.5.0"]);
    app.versions[0] = SeedMarketplaceVersion {
        corrupt_artifact: true,
        ..app.versions[0].clone()
    };
    let sim = start(
        small_jira()
            .plugin(SeedPlugin::user("com.vendor.eps", "Eps", "2.5.0"))
            .marketplace_app(app),
    )
    .await;
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(folder.path(), &upmsync::http::HttpSettings::default()).unwrap();
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![installed_by(
                present("com.vendor.eps", "2.0.0"),
                InstallMethod::Upload,
            )],
        )],
    );
    let report = apply_one(&desired, &cache).await;
    assert!(!report.succeeded());
    let error = artifact_failure(&report);
    assert!(
        error.contains("nothing was changed") && error.contains("com.vendor.eps"),
        "{error}"
    );
    assert!(
        mutating(&sim).is_empty(),
        "no DELETE before the target was verified: {:#?}",
        mutating(&sim)
    );
    assert_eq!(sim.plugin("com.vendor.eps").unwrap().version, "2.5.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_hash_that_does_not_match_fails_before_any_change() {
    let sim = start(small_jira()).await;
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(folder.path(), &upmsync::http::HttpSettings::default()).unwrap();
    let wrong = "0".repeat(64);
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![pinned(present("com.vendor.beta", "2.0.0"), &wrong)],
        )],
    );
    let report = apply_one(&desired, &cache).await;
    let error = artifact_failure(&report);
    assert!(error.contains(&wrong), "names the expected hash: {error}");
    assert!(mutating(&sim).is_empty());
    assert_eq!(sim.plugin("com.vendor.beta").unwrap().version, "2.5.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jar_whose_descriptor_is_another_version_is_refused_before_upload() {
    let sim = start(small_jira()).await;
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(
        folder.path().join("cache"),
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    let jar_path = folder.path().join("alpha.jar");
    std::fs::write(
        &jar_path,
        jar::build_plugin_jar("com.vendor.alpha", "Alpha", "0.5.0", true),
    )
    .unwrap();
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![from_path(present("com.vendor.alpha", "3.0.0"), &jar_path)],
        )],
    );
    let report = apply_one(&desired, &cache).await;
    let error = artifact_failure(&report);
    assert!(
        error.contains("3.0.0") && error.contains("0.5.0"),
        "expected and found: {error}"
    );
    assert!(mutating(&sim).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn verified_uploads_of_marketplace_apps_install() {
    let sim = start(small_jira()).await;
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(folder.path(), &upmsync::http::HttpSettings::default()).unwrap();
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![installed_by(
                present("com.vendor.beta", "2.0.0"),
                InstallMethod::Upload,
            )],
        )],
    );
    let report = apply_one(&desired, &cache).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(sim.plugin("com.vendor.beta").unwrap().version, "2.0.0");
    let upload = mutating(&sim)
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert!(upload
        .content_type
        .unwrap_or_default()
        .starts_with("multipart/form-data"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lock_round_trips_and_a_stale_lock_is_refused() {
    let sim = start(jira_with_an_incompatible_newest()).await;
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(
        folder.path().join("cache"),
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    let mut desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                present("com.vendor.omega", "latest"),
                present("com.vendor.alpha", "1.0.0"),
                absent("com.vendor.gamma"),
            ],
        )],
    );
    desired.manifest_path = folder.path().join("apps.yaml");
    assert_eq!(
        lock_desired(
            &desired,
            &cache,
            false,
            false,
            &upmsync::printer::Printer::stdio(false),
            &upmsync::http::HttpSettings::default()
        )
        .await,
        Exit::Success
    );
    let lock_path = folder.path().join("apps.lock");
    let first = std::fs::read_to_string(&lock_path).unwrap();
    assert!(
        first.contains("com.vendor.omega")
            && first.contains("version: 1.2.0")
            && first.contains("sha256:"),
        "{first}"
    );
    assert!(!first.contains("admin"), "no secret in the lock");

    // Same inputs, same bytes, with or without --update.
    assert_eq!(
        lock_desired(
            &desired,
            &cache,
            false,
            false,
            &upmsync::printer::Printer::stdio(false),
            &upmsync::http::HttpSettings::default()
        )
        .await,
        Exit::Success
    );
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), first);
    assert_eq!(
        lock_desired(
            &desired,
            &cache,
            true,
            false,
            &upmsync::printer::Printer::stdio(false),
            &upmsync::http::HttpSettings::default()
        )
        .await,
        Exit::Success
    );
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), first);

    // With the lock, plan never asks the Marketplace.
    sim.clear_requests();
    let plan = plan_one(&desired).await.unwrap();
    assert_eq!(target_of(&plan, "com.vendor.omega").1, "1.2.0");
    assert!(
        !sim.requests()
            .iter()
            .any(|r| r.server == SimServer::Marketplace),
        "{:#?}",
        sim.requests()
    );
    let artifact = plan
        .changes
        .iter()
        .find_map(|change| change.op.artifact().map(|planned| planned.artifact()))
        .unwrap();
    assert!(artifact.sha256.is_some(), "locked artifacts are pinned");

    // And apply verifies the locked hash, then converges.
    let report = apply_one(&desired, &cache).await;
    assert!(report.succeeded(), "{report:#?}");
    assert!(plan_one(&desired).await.unwrap().changes.is_empty());

    // A manifest change the lock does not cover stops the plan with the way out.
    let mut changed = desired.clone();
    changed.instances[0].apps.insert(
        present("com.vendor.delta", "1.0.0").key.clone(),
        present("com.vendor.delta", "1.0.0"),
    );
    let error = plan_one(&changed).await.unwrap_err();
    assert!(
        error.contains("does not cover")
            && error.contains("`com.vendor.delta` is not locked")
            && error.contains("upmsync lock"),
        "{error}"
    );
    assert_eq!(
        lock_desired(
            &changed,
            &cache,
            false,
            false,
            &upmsync::printer::Printer::stdio(false),
            &upmsync::http::HttpSettings::default()
        )
        .await,
        Exit::Success
    );
    assert!(plan_one(&changed).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn safe_mode_and_the_upload_gate_are_explained_before_or_instead_of_damage() {
    let sim = start(small_jira()).await;
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(
        folder.path().join("cache"),
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    sim.set_safe_mode(true);
    let wanted = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.beta", "2.0.0")])],
    );
    let report = apply_one(&wanted, &cache).await;
    let error = report.error.clone().unwrap();
    assert!(
        error.contains("safe mode") && error.contains("hint:"),
        "{error}"
    );
    assert!(
        mutating(&sim).is_empty(),
        "safe mode is detected before any change"
    );
    sim.set_safe_mode(false);

    sim.set_upload_enabled(false);
    let jar_path = folder.path().join("inhouse.jar");
    std::fs::write(
        &jar_path,
        jar::build_plugin_jar("com.example.inhouse", "In-house", "1.0.0", false),
    )
    .unwrap();
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![from_path(
                present("com.example.inhouse", "1.0.0"),
                &jar_path,
            )],
        )],
    );
    let report = apply_one(&desired, &cache).await;
    let failure = format!("{:?}", report.changes[0].outcome);
    assert!(
        failure.contains("upm.plugin.upload.enabled") && failure.contains("install by URI"),
        "{failure}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sha256_from_the_manifest_is_checked_against_the_download() {
    let sim = start(small_jira()).await;
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(folder.path(), &upmsync::http::HttpSettings::default()).unwrap();
    // The right hash: the simulator's artifacts are byte-stable.
    let bytes = reqwest::get(format!(
        "{}download/apps/200/version/200001",
        sim.marketplace_url()
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    let right = Sha256::of(&bytes);
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![pinned(present("com.vendor.beta", "2.0.0"), right.as_str())],
        )],
    );
    let report = apply_one(&desired, &cache).await;
    assert!(report.succeeded(), "{report:#?}");
    assert_eq!(sim.plugin("com.vendor.beta").unwrap().version, "2.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn constraints_follow_pagination_across_pages() {
    let names: Vec<String> = (0..60).map(|minor| format!("3.{minor}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let sim =
        start(small_jira().marketplace_app(marketplace_app("com.vendor.many", 600, &names))).await;
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.many", "<3.55")])],
    );
    let plan = plan_one(&desired).await.unwrap();
    assert_eq!(target_of(&plan, "com.vendor.many").1, "3.54");
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/com.vendor.many/versions"))
        .count();
    assert!(pages >= 2, "60 versions take more than one page: {pages}");
}

#[tokio::test(flavor = "multi_thread")]
async fn latest_never_downgrades_a_newer_install() {
    let sim = start(
        small_jira()
            .plugin(upmsync_sim::SeedPlugin::user(
                "com.vendor.omega",
                "Omega",
                "1.9.0",
            ))
            .marketplace_app(marketplace_app(
                "com.vendor.omega",
                400,
                &["1.0.0", "1.2.0"],
            )),
    )
    .await;
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.omega", "latest")])],
    );
    let plan = plan_one(&desired).await.unwrap();
    assert!(
        plan.changes.is_empty(),
        "1.9.0 is newer than the newest compatible 1.2.0: {:?}",
        plan.changes
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_instances_hosting_decides_compatibility() {
    // 1.2.0 supports Jira 9.12 on Server, but on Data Center only Jira 10.
    let sim = start(
        small_jira()
            .marketplace_app(marketplace_app(
                "com.vendor.sigma",
                700,
                &["1.0.0", "1.1.0", "1.2.0"],
            ))
            .version_compatibility(
                "com.vendor.sigma",
                700_003,
                SeedCompatibility {
                    min_build: 10_000_000,
                    min_version: "10.0.0".into(),
                    max_build: 10_999_999,
                    max_version: "10.9.9".into(),
                },
            )
            .server_compatibility("com.vendor.sigma", 700_003, SeedCompatibility::default()),
    )
    .await;
    let data_center = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.sigma", "latest")])],
    );
    assert_eq!(
        target_of(&plan_one(&data_center).await.unwrap(), "com.vendor.sigma").1,
        "1.1.0"
    );
    let mut server = data_center.clone();
    server.instances[0].hosting = upmsync::model::Hosting::Server;
    assert_eq!(
        target_of(&plan_one(&server).await.unwrap(), "com.vendor.sigma").1,
        "1.2.0"
    );
    let asked: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/latest"))
        .filter_map(|r| r.query)
        .collect();
    assert!(
        asked.iter().any(|q| q.contains("hosting=datacenter"))
            && asked.iter().any(|q| q.contains("hosting=server")),
        "{asked:?}"
    );
    // A pin of 1.2.0 is refused on Data Center, naming the Data Center range.
    let pinned = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.sigma", "1.2.0")])],
    );
    let error = plan_one(&pinned).await.unwrap_err();
    assert!(error.contains("10.0.0 (10000000)"), "{error}");
}

/// Sets an app's own `hosting`.
fn hosted(mut app: upmsync::model::DesiredApp, hosting: Hosting) -> upmsync::model::DesiredApp {
    if let upmsync::model::DesiredState::Present(present) = &mut app.state {
        present.hosting = Some(hosting);
    }
    app
}

/// `com.vendor.sigma` 1.2.0 supports Jira 9.12 on Server, but on Data Center only Jira 10 (the
/// field reports' apps that run on Data Center but are listed for Server only).
fn jira_with_a_server_only_listing() -> SimConfig {
    small_jira()
        .marketplace_app(marketplace_app(
            "com.vendor.sigma",
            700,
            &["1.0.0", "1.1.0", "1.2.0"],
        ))
        .version_compatibility(
            "com.vendor.sigma",
            700_003,
            SeedCompatibility {
                min_build: 10_000_000,
                min_version: "10.0.0".into(),
                max_build: 10_999_999,
                max_version: "10.9.9".into(),
            },
        )
        .server_compatibility("com.vendor.sigma", 700_003, SeedCompatibility::default())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_apps_hosting_overrides_the_instances() {
    let sim = start(jira_with_a_server_only_listing()).await;
    // The instance is Data Center; only this app is looked up as Server.
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                hosted(present("com.vendor.sigma", "latest"), Hosting::Server),
                present("com.vendor.delta", "latest"),
            ],
        )],
    );
    let plan = plan_one(&desired).await.unwrap();
    assert_eq!(target_of(&plan, "com.vendor.sigma").1, "1.2.0");
    assert_eq!(target_of(&plan, "com.vendor.delta").1, "1.0.0");
    let asked: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/latest"))
        .map(|r| format!("{} {}", r.path, r.query.unwrap_or_default()))
        .collect();
    assert!(
        asked
            .iter()
            .any(|q| q.contains("com.vendor.sigma") && q.contains("hosting=server"))
            && asked
                .iter()
                .any(|q| q.contains("com.vendor.delta") && q.contains("hosting=datacenter"))
            && !asked
                .iter()
                .any(|q| q.contains("com.vendor.sigma") && q.contains("hosting=datacenter")),
        "{asked:?}"
    );

    // A pin of 1.2.0 with `hosting: server` is compatible, and installs.
    let pinned = one_instance(
        &sim,
        vec![hosted(
            present("com.vendor.sigma", "1.2.0"),
            Hosting::Server,
        )],
    );
    let plan = plan_one(&pinned).await.unwrap();
    assert_eq!(
        target_of(&plan, "com.vendor.sigma"),
        (Action::Install, "1.2.0".into())
    );
    let artifact = plan.changes[0]
        .op
        .artifact()
        .map(|planned| planned.artifact().to_string());
    assert!(
        artifact
            .as_deref()
            .is_some_and(|artifact| artifact.contains("/700003")),
        "the artifact of build 700003 (1.2.0): {artifact:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compatibility_error_offers_hosting_server_only_when_it_fits() {
    let sim = start(jira_with_a_server_only_listing()).await;
    let error = plan_one(&one_instance(
        &sim,
        vec![present("com.vendor.sigma", "1.2.0")],
    ))
    .await
    .unwrap_err();
    for part in [
        "`com.vendor.sigma` 1.2.0 is not compatible with jira 9.12.15 (build 9120015) on `jira-test` (datacenter)",
        "lists 1.2.0 as compatible with jira 9.12.15 for Server",
        "`hosting: server`",
        "`allow_incompatible: true`",
    ] {
        assert!(error.contains(part), "missing {part}: {error}");
    }
    // omega 2.0.0 is Jira 10 only on Server too: no `hosting: server` to offer.
    let sim = start(jira_with_an_incompatible_newest()).await;
    let error = plan_one(&one_instance(
        &sim,
        vec![present("com.vendor.omega", "2.0.0")],
    ))
    .await
    .unwrap_err();
    assert!(error.contains("`allow_incompatible: true`"), "{error}");
    assert!(!error.contains("hosting: server"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_incompatible_with_latest_and_constraints_picks_among_every_version() {
    let sim = start(jira_with_an_incompatible_newest()).await;
    let allowed = |version: &str| {
        one_instance(
            &sim,
            vec![allow_incompatible(present("com.vendor.omega", version))],
        )
    };
    // Without it, the newest compatible: 1.2.0 (see above); with it, the newest of all.
    let plan = plan_one(&allowed("latest")).await.unwrap();
    assert_eq!(
        target_of(&plan, "com.vendor.omega"),
        (Action::Install, "2.0.0".into())
    );
    let plan = plan_one(&allowed(">=1.1")).await.unwrap();
    assert_eq!(target_of(&plan, "com.vendor.omega").1, "2.0.0");
    let plan = plan_one(&allowed("<2")).await.unwrap();
    assert_eq!(target_of(&plan, "com.vendor.omega").1, "1.2.0");
    let plan = plan_one(&one_instance(
        &sim,
        vec![present("com.vendor.omega", ">=1.1")],
    ))
    .await
    .unwrap();
    assert_eq!(
        target_of(&plan, "com.vendor.omega").1,
        "1.2.0",
        "not allowed: compatible only"
    );
    // The list was asked for the hosting alone, without the product build.
    let listed: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/com.vendor.omega/versions"))
        .filter_map(|r| r.query)
        .collect();
    assert!(
        listed
            .iter()
            .any(|q| q.contains("hosting=datacenter") && !q.contains("applicationBuild")),
        "{listed:?}"
    );
    // Nothing matches: said, with the hosting.
    let error = plan_one(&allowed(">=3")).await.unwrap_err();
    assert!(
        error.contains("no version matching `>=3` for datacenter"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_incompatible_latest_never_downgrades_a_newer_install() {
    let sim = start(
        jira_with_an_incompatible_newest().plugin(upmsync_sim::SeedPlugin::user(
            "com.vendor.omega",
            "Omega",
            "2.5.0",
        )),
    )
    .await;
    let plan = plan_one(&one_instance(
        &sim,
        vec![allow_incompatible(present("com.vendor.omega", "latest"))],
    ))
    .await
    .unwrap();
    assert!(
        plan.changes.is_empty(),
        "2.5.0 is newer than every listed version: {:?}",
        plan.changes
    );
}
