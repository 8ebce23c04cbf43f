//! Issue 10, reading in few round trips: the licenses of Marketplace apps come in one
//! `installed-marketplace` request with the plugin list, in-house apps get their own license read,
//! the Marketplace is asked each distinct question once per run, and the caps on requests in
//! flight never keep a plan from completing. The simulator's request log proves the shape.

use crate::support::*;
use upmsync::commands::read_and_plan;
use upmsync::http::{HttpSettings, Limits};
use upmsync::marketplace::MarketplaceClient;
use upmsync::model::{AppKey, Hosting, Version};
use upmsync::plan::{InstancePlan, Plan};
use upmsync_sim::{Fault, FaultRule, SeedPlugin, Sim, SimConfig, SimServer};

/// How many recorded requests have a path ending in `end`.
fn count(sim: &Sim, end: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|request| request.path.ends_with(end))
        .count()
}

/// The plan of the first instance, which must have one.
fn first(plan: &Plan) -> InstancePlan {
    plan.instances[0]
        .result
        .clone()
        .expect("the instance plans")
}

/// A Jira with `licensed` Marketplace apps `com.vendor.m{i}` at 1.0.0, each licensed `OLD-{i}`
/// (the Marketplace has 1.0.0 and 2.0.0), and the in-house app `com.inhouse.tool`, licensed too.
fn licensed_jira(licensed: usize) -> SimConfig {
    let mut config = small_jira().plugin(
        SeedPlugin::user("com.inhouse.tool", "In-house Tool", "1.0.0")
            .licensing()
            .license("INHOUSE-OLD"),
    );
    for i in 0..licensed {
        let key = format!("com.vendor.m{i}");
        config = config
            .plugin(
                SeedPlugin::user(&key, &format!("M{i}"), "1.0.0")
                    .licensing()
                    .license(&format!("OLD-{i}")),
            )
            .marketplace_app(marketplace_app(&key, 1000 + i as u64, &["1.0.0", "2.0.0"]));
    }
    config
}

/// The apps of [`licensed_jira`] wanted at `latest`: half of the Marketplace apps keep their
/// license, the other half get a new one; the in-house app gets a new one.
fn licensed_apps(licensed: usize) -> Vec<upmsync::model::DesiredApp> {
    let mut apps: Vec<_> = (0..licensed)
        .map(|i| {
            let text = if i % 2 == 0 {
                format!("OLD-{i}")
            } else {
                format!("NEW-{i}")
            };
            with_license(present(&format!("com.vendor.m{i}"), "latest"), &text)
        })
        .collect();
    apps.push(with_license(
        present("com.inhouse.tool", "1.0.0"),
        "INHOUSE-NEW",
    ));
    apps
}

#[tokio::test(flavor = "multi_thread")]
async fn marketplace_licenses_come_in_one_request_and_in_house_apps_alone() {
    let sim = start(licensed_jira(6)).await;
    let desired = one_instance(&sim, licensed_apps(6));
    let plan = first(&read_and_plan(&desired, &HttpSettings::default()).await);
    assert_eq!(count(&sim, "/installed-marketplace"), 1);
    // Only the in-house app's license is read on its own.
    let license_reads: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|request| request.method == "GET" && request.path.ends_with("/license"))
        .map(|request| request.path)
        .collect();
    assert_eq!(license_reads.len(), 1, "{license_reads:?}");
    assert!(license_reads[0].contains("com.inhouse.tool-key"));
    // Six upgrades, the three changed Marketplace licenses and the in-house one: the hashes
    // read in one request decide as the per-app reads do.
    let shown = format!("{:?}", plan.changes);
    assert_eq!(plan.changes.len(), 6 + 3 + 1, "{shown}");
    for i in [1, 3, 5] {
        assert!(shown.contains(&format!("com.vendor.m{i}")), "{shown}");
    }
    assert!(shown.contains("com.inhouse.tool"), "{shown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_installed_marketplace_every_license_is_read_alone_and_plans_the_same() {
    let sim = start(licensed_jira(4)).await;
    let desired = one_instance(&sim, licensed_apps(4));
    let expected = first(&read_and_plan(&desired, &HttpSettings::default()).await);
    sim.clear_requests();
    // An old UPM: no `installed-marketplace`.
    sim.set_faults(faults(vec![FaultRule::new(Fault::Status {
        status: 404,
        retry_after: None,
    })
    .server(SimServer::Upm)
    .path("/installed-marketplace")]));
    let fallback = first(&read_and_plan(&desired, &HttpSettings::default()).await);
    assert_eq!(fallback, expected);
    assert_eq!(count(&sim, "/installed-marketplace"), 1);
    assert_eq!(count(&sim, "/license"), 4 + 1);
}

/// `installed-marketplace` is a shortcut: a 500 there is not retried (no warning, no wait), the
/// licenses are read one by one, and the plan is the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_installed_marketplace_is_asked_once_and_read_around() {
    let sim = start(licensed_jira(4)).await;
    let desired = one_instance(&sim, licensed_apps(4));
    let expected = first(&read_and_plan(&desired, &HttpSettings::default()).await);
    sim.clear_requests();
    sim.set_faults(faults(vec![FaultRule::new(Fault::Status {
        status: 500,
        retry_after: None,
    })
    .server(SimServer::Upm)
    .path("/installed-marketplace")]));
    let notices = std::sync::Arc::new(Collected::default());
    let settings = HttpSettings {
        notices: upmsync::notice::Notices::to(notices.clone()),
        ..HttpSettings::default()
    };
    let fallback = first(&read_and_plan(&desired, &settings).await);
    assert_eq!(fallback, expected);
    assert_eq!(count(&sim, "/installed-marketplace"), 1);
    assert_eq!(count(&sim, "/license"), 4 + 1);
    assert!(
        notices.0.lock().unwrap().is_empty(),
        "{:?}",
        notices.0.lock().unwrap()
    );
}

/// The notices a run gave, for a test to read.
#[derive(Default)]
struct Collected(std::sync::Mutex<Vec<String>>);

impl upmsync::notice::Observer for Collected {
    fn notice(&self, _instance: Option<&str>, notice: &upmsync::notice::Notice) {
        self.0.lock().unwrap().push(notice.to_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_licensed_asks_no_licenses() {
    let sim = start(licensed_jira(2)).await;
    let desired = one_instance(&sim, vec![present("com.vendor.m0", "latest")]);
    first(&read_and_plan(&desired, &HttpSettings::default()).await);
    assert_eq!(count(&sim, "/installed-marketplace"), 0);
    assert_eq!(count(&sim, "/license"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_asking_the_same_question_send_it_once() {
    let sim = start(licensed_jira(3)).await;
    let apps = || {
        vec![
            present("com.vendor.m0", "latest"),
            present("com.vendor.m1", "2.0.0"),
            present("com.vendor.m2", "^1.0.0"),
        ]
    };
    let instances = (0..4)
        .map(|n| upmsync::model::DesiredInstance {
            name: format!("jira-{n}"),
            ..instance(&sim, apps())
        })
        .collect();
    let plan = read_and_plan(&desired(&sim, instances), &HttpSettings::default()).await;
    assert!(plan.instances.iter().all(|planned| planned.result.is_ok()));
    let marketplace: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|request| request.server == SimServer::Marketplace)
        .map(|request| format!("{}?{}", request.path, request.query.unwrap_or_default()))
        .collect();
    let mut distinct = marketplace.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(marketplace.len(), distinct.len(), "{marketplace:#?}");
    // latest, the exact version, the compatible list and the version it chose.
    assert_eq!(marketplace.len(), 4, "{marketplace:#?}");
    // Each instance read its own plugin list.
    assert_eq!(count(&sim, "/rest/plugins/1.0/"), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cap_of_one_request_per_host_still_plans_everything() {
    let sim = start(licensed_jira(5)).await;
    let desired = one_instance(&sim, licensed_apps(5));
    let expected = first(&read_and_plan(&desired, &HttpSettings::default()).await);
    let one_at_a_time = HttpSettings {
        limits: Limits::new(1),
        ..HttpSettings::default()
    };
    let plan = first(&read_and_plan(&desired, &one_at_a_time).await);
    assert_eq!(plan, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_marketplace_keeps_lasting_answers_and_asks_again_after_a_passing_failure() {
    let sim = start(small_jira()).await;
    let settings = HttpSettings {
        retry: upmsync::retry::RetryPolicy {
            attempts: 1,
            ..Default::default()
        },
        ..HttpSettings::default()
    };
    let marketplace = MarketplaceClient::new(&sim.marketplace_url(), &settings).unwrap();
    let alpha = AppKey::new("com.vendor.alpha");
    let version = Version::from_server("2.0.0");
    sim.set_faults(faults(vec![FaultRule::new(Fault::Status {
        status: 503,
        retry_after: None,
    })
    .server(SimServer::Marketplace)
    .first(1)]));
    // A 503 may pass: not kept, the next question asks again and gets the answer.
    assert!(marketplace
        .resolve(&alpha, &version, Hosting::Datacenter)
        .await
        .is_err());
    let found = marketplace
        .resolve(&alpha, &version, Hosting::Datacenter)
        .await
        .unwrap();
    assert_eq!(found.name, "2.0.0");
    let asked = sim.requests().len();
    assert_eq!(asked, 2);
    // The answer is kept, by every clone of the client.
    let clone = marketplace.clone();
    assert_eq!(
        clone
            .resolve(&alpha, &version, Hosting::Datacenter)
            .await
            .unwrap(),
        found
    );
    assert_eq!(sim.requests().len(), asked);
    // So is a 404: an unknown version is told once (with the app's own lookup).
    let missing = Version::from_server("9.9.9");
    for _ in 0..3 {
        assert!(marketplace
            .resolve(&alpha, &missing, Hosting::Datacenter)
            .await
            .is_err());
    }
    assert_eq!(sim.requests().len(), asked + 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn marketplace_questions_do_not_wait_for_the_license_reads() {
    let sim = start(licensed_jira(2)).await;
    let desired = one_instance(&sim, licensed_apps(2));
    // The in-house app's license read fails (no retry): the instance cannot be planned, but its
    // Marketplace questions went out with that read, not after it.
    sim.set_faults(faults(vec![FaultRule::new(Fault::Status {
        status: 500,
        retry_after: None,
    })
    .server(SimServer::Upm)
    .path("com.inhouse.tool-key/license")]));
    let settings = HttpSettings {
        retry: upmsync::retry::RetryPolicy {
            attempts: 1,
            ..Default::default()
        },
        ..HttpSettings::default()
    };
    let plan = read_and_plan(&desired, &settings).await;
    let error = plan.instances[0].result.as_ref().unwrap_err();
    assert!(
        matches!(**error, upmsync::ops::InstanceError::Read { .. }),
        "{error:?}"
    );
    let asked: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|request| request.server == SimServer::Marketplace)
        .map(|request| request.path)
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked.iter().all(|path| path.ends_with("/versions/latest")));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fallback_is_a_debug_line_and_never_shows_a_license() {
    let env = TestEnv::new().await;
    env.sim
        .set_faults(faults(vec![FaultRule::new(Fault::Status {
            status: 404,
            retry_after: None,
        })
        .server(SimServer::Upm)
        .path("/installed-marketplace")]));
    let apps =
        "  - key: com.vendor.alpha\n    version: 2.0.0\n    license:\n      env: TEST_LICENSE\n";
    env.manifest(apps, "ignore");
    let quiet = env.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(quiet.code, 2, "{}", quiet.stderr);
    assert!(
        !quiet.stderr.contains("installed-marketplace"),
        "{}",
        quiet.stderr
    );
    assert!(!quiet.stderr.contains("warning"), "{}", quiet.stderr);
    let verbose = env.run(&["-vv", "plan", "--detailed-exitcode"]).await;
    assert_eq!(verbose.code, 2, "{}", verbose.stderr);
    assert_eq!(verbose.stdout, quiet.stdout);
    assert!(
        verbose.stderr.contains("reading each app's license"),
        "{}",
        verbose.stderr
    );
    // The license installed (the simulator's seed) and the manifest's are never shown.
    for secret in ["ALPHA-OLD-LICENSE", LICENSE] {
        assert!(!verbose.stdout.contains(secret) && !verbose.stderr.contains(secret));
    }
}
