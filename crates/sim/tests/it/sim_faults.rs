//! Fault injection in the simulator: each fault kind as a reqwest client sees it, `first` and seeded
//! `probability`, and the YAML format of a fault plan.

use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use upmsync_sim::{
    Fault, FaultPlan, FaultRule, SeedMarketplaceApp, SeedPlugin, Sim, SimConfig, SimServer,
};

use crate::support::{header, start as start_sim, upm_through, ADMIN};

const APP: &str = "com.vendor.alpha";
const APP_ID: u64 = 100;
const INSTALL_URI: &str = "application/vnd.atl.plugins.install.uri+json";
const COLLECTION: &str = "/rest/plugins/1.0/";

fn config() -> SimConfig {
    SimConfig::empty()
        .task_delay(Duration::from_millis(30))
        .plugin(SeedPlugin::user(APP, "Alpha", "1.0.0"))
        .marketplace_app(SeedMarketplaceApp::new(
            APP,
            "Alpha",
            APP_ID,
            [("1.0.0", 1), ("2.0.0", 2)],
        ))
}

/// A fault plan of `rules` with a fixed seed, so a run is repeatable.
fn plan(rules: Vec<FaultRule>) -> FaultPlan {
    FaultPlan {
        seed: Some(7),
        rules,
    }
}

async fn start(plan: FaultPlan) -> Sim {
    start_sim(config().faults(plan)).await
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A request to `{upm}/rest/plugins/1.0/{path}` as admin, through [`client`] (with a timeout).
fn upm(sim: &Sim, method: Method, path: &str) -> RequestBuilder {
    upm_through(&client(), sim, ADMIN, method, path)
}

async fn token(sim: &Sim) -> String {
    let response = upm(sim, Method::HEAD, "").send().await.unwrap();
    header(&response, "upm-token")
}

/// Starts installing Alpha 2.0.0 from the simulated Marketplace.
async fn install(sim: &Sim) -> reqwest::Result<reqwest::Response> {
    let token = token(sim).await;
    let uri = sim
        .marketplace_url()
        .join(&format!("download/apps/{APP_ID}/version/2"))
        .unwrap();
    upm(sim, Method::POST, &format!("?token={token}"))
        .header(CONTENT_TYPE, INSTALL_URI)
        .json(&json!({"pluginUri": uri.as_str()}))
        .send()
        .await
}

async fn pending(location: &str) -> reqwest::Response {
    client()
        .get(location)
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap()
}

fn statuses(sim: &Sim) -> Vec<u16> {
    sim.requests()
        .iter()
        .map(|request| request.status)
        .collect()
}

#[tokio::test]
async fn status_fault_answers_first_requests_with_retry_after_then_normally() {
    let sim = start(plan(vec![FaultRule::new(Fault::Status {
        status: 503,
        retry_after: Some(2),
    })
    .server(SimServer::Upm)
    .method("GET")
    .path(COLLECTION)
    .first(2)]))
    .await;
    for _ in 0..2 {
        let response = upm(&sim, Method::GET, "").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "2");
    }
    let response = upm(&sim, Method::GET, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(RETRY_AFTER).is_none());
    assert_eq!(statuses(&sim), [503, 503, 200]);
    assert_eq!(sim.fault_hits(), 2);
}

#[tokio::test]
async fn status_fault_replaces_the_handler_so_nothing_changes() {
    let sim = start(plan(vec![FaultRule::new(Fault::Status {
        status: 429,
        retry_after: None,
    })
    .method("DELETE")]))
    .await;
    let response = upm(&sim, Method::DELETE, &format!("{APP}-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get(RETRY_AFTER).is_none());
    assert!(sim.plugin(APP).is_some(), "the app was not uninstalled");
    assert_eq!(sim.requests()[0].method, "DELETE");
    assert_eq!(sim.requests()[0].status, 429);
}

#[tokio::test]
async fn latency_delays_then_answers_normally() {
    let sim = start(plan(vec![FaultRule::new(Fault::Latency { millis: 250 })
        .method("GET")
        .path("/serverInfo")]))
    .await;
    let started = Instant::now();
    let response = upm(&sim, Method::GET, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "not delayed"
    );

    let url = sim.upm_url().join("rest/api/2/serverInfo").unwrap();
    let started = Instant::now();
    let response = client().get(url).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sim.fault_hits(), 1);
}

#[tokio::test]
async fn drop_closes_the_connection_without_an_answer() {
    let sim = start(plan(vec![FaultRule::new(Fault::Drop)
        .method("GET")
        .path(COLLECTION)
        .first(1)]))
    .await;
    let error = upm(&sim, Method::GET, "").send().await.unwrap_err();
    assert!(error.status().is_none(), "no HTTP answer: {error:?}");
    assert!(error.is_request() || error.is_connect(), "{error:?}");
    // The next request is answered.
    let response = upm(&sim, Method::GET, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(statuses(&sim), [0, 200]);
}

#[tokio::test]
async fn drop_after_changes_state_but_loses_the_answer() {
    let sim = start(plan(vec![FaultRule::new(Fault::DropAfter)
        .method("POST")
        .path(COLLECTION)
        .first(1)]))
    .await;
    let error = install(&sim).await.unwrap_err();
    assert!(error.status().is_none(), "no HTTP answer: {error:?}");
    let post = sim
        .requests()
        .into_iter()
        .find(|request| request.method == "POST")
        .unwrap();
    assert_eq!(post.status, 0);
    // The install happened anyway.
    let deadline = Instant::now() + Duration::from_secs(3);
    while sim.plugin(APP).unwrap().version != "2.0.0" {
        assert!(Instant::now() < deadline, "the install never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.fault_hits(), 1);
}

#[tokio::test]
async fn task_fail_ends_the_install_task_as_an_error_task() {
    let sim = start(plan(vec![FaultRule::new(Fault::TaskFail {
        message: "simulated disk full".into(),
    })
    .path(COLLECTION)
    .first(1)]))
    .await;
    let response = install(&sim).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()[LOCATION].to_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let task = pending(&location).await;
    assert_eq!(task.status(), StatusCode::OK);
    let body: Value = task.json().await.unwrap();
    assert_eq!(body["status"]["done"], true);
    assert_eq!(body["status"]["errorMessage"], "simulated disk full");
    assert_eq!(sim.plugin(APP).unwrap().version, "1.0.0");
    // Only the POST counted: the token HEAD and the poll were not faulted.
    assert_eq!(sim.fault_hits(), 1);

    // `first: 1`: the next install succeeds.
    let response = install(&sim).await.unwrap();
    let location = response.headers()[LOCATION].to_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pending(&location).await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn task_hang_leaves_the_install_task_pending() {
    let sim = start(plan(vec![FaultRule::new(Fault::TaskHang)])).await;
    let response = install(&sim).await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()[LOCATION].to_str().unwrap().to_string();
    // Many times the task delay.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let task = pending(&location).await;
    assert_eq!(task.status(), StatusCode::OK);
    let body: Value = task.json().await.unwrap();
    assert_eq!(body["status"]["done"], false);
    let all: Value = upm(&sim, Method::GET, "pending")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(sim.plugin(APP).unwrap().version, "1.0.0");
}

#[tokio::test]
async fn slow_download_takes_time_proportional_to_size() {
    let sim = start(FaultPlan::default()).await;
    let url = sim
        .marketplace_url()
        .join(&format!("download/apps/{APP_ID}/version/2"))
        .unwrap();
    let fast = client().get(url.clone()).send().await.unwrap();
    let expected = fast.bytes().await.unwrap();
    let size = expected.len() as u64;

    // About 300 ms for this artifact.
    let bytes_per_second = size * 10 / 3;
    sim.set_faults(plan(vec![FaultRule::new(Fault::SlowDownload {
        bytes_per_second,
    })
    .server(SimServer::Marketplace)
    .path("/download/*")]));
    let started = Instant::now();
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.content_length(), Some(size));
    let body = response.bytes().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(body, expected);
    let ideal = Duration::from_secs_f64(size as f64 / bytes_per_second as f64);
    assert!(
        elapsed >= ideal.mul_f64(0.8) && elapsed < ideal * 4,
        "{size} bytes at {bytes_per_second} B/s took {elapsed:?}"
    );
    assert_eq!(sim.fault_hits(), 1);
}

/// The statuses of `count` sequential GETs under a 50 % status fault with this seed.
async fn pattern(seed: u64, count: usize) -> Vec<u16> {
    let sim = start(FaultPlan {
        seed: Some(seed),
        rules: vec![FaultRule::new(Fault::Status {
            status: 502,
            retry_after: None,
        })
        .method("GET")
        .probability(0.5)],
    })
    .await;
    for _ in 0..count {
        let _ = upm(&sim, Method::GET, "").send().await.unwrap();
    }
    statuses(&sim)
}

#[tokio::test]
async fn probability_with_a_seed_is_deterministic() {
    let first = pattern(42, 24).await;
    let second = pattern(42, 24).await;
    assert_eq!(first, second);
    let faulted = first.iter().filter(|status| **status == 502).count();
    assert!((4..=20).contains(&faulted), "{first:?}");
    assert!(first.iter().all(|status| matches!(status, 200 | 502)));
    assert_ne!(pattern(43, 24).await, first, "the seed matters");
}

#[tokio::test]
async fn set_faults_replaces_the_plan_and_resets_counts() {
    let sim = start(plan(vec![FaultRule::new(Fault::Status {
        status: 500,
        retry_after: None,
    })
    .first(1)]))
    .await;
    assert_eq!(
        upm(&sim, Method::GET, "").send().await.unwrap().status(),
        500
    );
    assert_eq!(sim.fault_hits(), 1);
    sim.set_faults(FaultPlan::default());
    assert_eq!(sim.fault_hits(), 0);
    assert_eq!(
        upm(&sim, Method::GET, "").send().await.unwrap().status(),
        200
    );
}

#[test]
fn the_documented_example_parses() {
    let text = r#"
seed: 42
rules:
  - {server: upm, method: GET, path: "/rest/plugins/1.0/", first: 2, fault: {status: 503, retry_after: 1}}
  - {method: POST, path: "/rest/plugins/1.0/", first: 1, fault: drop_after}
  - {server: marketplace, path: "/download/*", fault: {slow_download: {bytes_per_second: 2048}}}
  - {probability: 0.1, fault: {latency: {millis: 200}}}
  - {fault: drop, first: 1}
  - {fault: {task_fail: {message: "disk full"}}}
  - {fault: task_hang, method: post}
"#;
    let plan = FaultPlan::from_yaml(text).unwrap();
    assert_eq!(plan.seed, Some(42));
    let expected = vec![
        FaultRule::new(Fault::Status {
            status: 503,
            retry_after: Some(1),
        })
        .server(SimServer::Upm)
        .method("GET")
        .path(COLLECTION)
        .first(2),
        FaultRule::new(Fault::DropAfter)
            .method("POST")
            .path(COLLECTION)
            .first(1),
        FaultRule::new(Fault::SlowDownload {
            bytes_per_second: 2048,
        })
        .server(SimServer::Marketplace)
        .path("/download/*"),
        FaultRule::new(Fault::Latency { millis: 200 }).probability(0.1),
        FaultRule::new(Fault::Drop).first(1),
        FaultRule::new(Fault::TaskFail {
            message: "disk full".into(),
        }),
        FaultRule::new(Fault::TaskHang).method("post"),
    ];
    assert_eq!(plan.rules, expected);
    assert_eq!(
        FaultPlan::from_yaml("# no faults\n").unwrap(),
        FaultPlan::default()
    );
}

#[test]
fn yaml_errors_say_what_is_wrong_and_where() {
    let error = |text: &str| FaultPlan::from_yaml(text).unwrap_err();

    let message = error("rules:\n  - {pth: /x, fault: drop}\n");
    assert!(message.contains("unknown field `pth`"), "{message}");
    assert!(message.contains("line 2"), "{message}");

    let message = error("rules:\n  - {fault: dorp}\n");
    assert!(message.contains("unknown variant `dorp`"), "{message}");
    assert!(message.contains("drop_after"), "{message}");

    let message = error("rules:\n  - {fault: latency}\n");
    assert!(message.contains("`latency` needs parameters"), "{message}");

    let message = error("rules:\n  - {fault: {latency: {ms: 5}}}\n");
    assert!(message.contains("unknown field `ms`"), "{message}");

    let message = error("rules:\n  - {fault: {latency: {millis: 5}, retry_after: 1}}\n");
    assert!(
        message.contains("`retry_after` goes with a `status`"),
        "{message}"
    );

    let message = error("rules:\n  - {fault: {status: 503, latency: {millis: 5}}}\n");
    assert!(message.contains("exactly one kind"), "{message}");

    let message = error("rules:\n  - {fault: {drop: true}}\n");
    assert!(message.contains("write `fault: drop`"), "{message}");

    let message = error("seed: 1\nfaults: []\n");
    assert!(message.contains("unknown field `faults`"), "{message}");

    let message = error(concat!(
        "rules:\n",
        "  - {probability: 1.5, fault: drop}\n",
        "  - {first: 0, fault: {status: 200}}\n",
        "  - {method: GET, fault: task_hang}\n",
        "  - {fault: {slow_download: {bytes_per_second: 0}}}\n",
    ));
    for expected in [
        "rules[0]: `probability` must be between 0 and 1, got `1.5`",
        "rules[1]: `first` must be at least 1",
        "rules[1]: `status` must be an error status (400 to 599), got `200`",
        "rules[2]: `task_hang` applies to the POST",
        "rules[3]: `bytes_per_second` must be at least 1",
    ] {
        assert!(message.contains(expected), "{expected}\nin\n{message}");
    }
}

#[test]
fn load_names_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("faults.yaml");
    let error = FaultPlan::load(&path).unwrap_err();
    assert!(
        format!("{error:#}").contains("cannot read fault plan"),
        "{error:#}"
    );

    std::fs::write(&path, "rules:\n  - {fault: dorp}\n").unwrap();
    let error = format!("{:#}", FaultPlan::load(&path).unwrap_err());
    assert!(error.contains("invalid fault plan"), "{error}");
    assert!(error.contains("faults.yaml"), "{error}");
    assert!(error.contains("dorp"), "{error}");

    std::fs::write(&path, "seed: 3\nrules:\n  - {first: 1, fault: drop}\n").unwrap();
    let plan = FaultPlan::load(&path).unwrap();
    assert_eq!(plan.rules, [FaultRule::new(Fault::Drop).first(1)]);
}

/// A fault plan's YAML errors name their line and column (serde-saphyr), without a source snippet.
#[test]
fn fault_plan_errors_name_line_and_column() {
    let error = FaultPlan::from_yaml("rules:\n  - path: /x\n    colour: red\n").unwrap_err();
    assert!(error.starts_with("unknown field `colour`"), "{error}");
    assert!(error.ends_with("at line 3, column 5"), "{error}");
    assert!(!error.contains('\n'), "{error}");
    let error = FaultPlan::from_yaml("rules:\n  - [\n").unwrap_err();
    assert!(error.ends_with("at line 2, column 5"), "{error}");
}
