//! The knobs benchmarks use (issue 10): injected latency, the download stage of installs by URI,
//! the timing in the request log and the install-task record, artifacts served from disk and
//! uploads of several MiB. No assertion here depends on how fast the machine is: each checks an
//! order of events or a lower bound the simulator guarantees.

use std::time::Duration;

use futures::future::join_all;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use serde_json::json;
use upmsync_sim::jar::{build_plugin_jar, write_padded_obr, write_padded_plugin_jar};
use upmsync_sim::{SeedMarketplaceApp, SeedPlugin, SimConfig, SimServer};

use crate::support::{client, content_type, finish_task, start, token, upm};

const INSTALL_URI: &str = "application/vnd.atl.plugins.install.uri+json";
const DOWNLOADING: &str = "application/vnd.atl.plugins.install.downloading+json";
const INSTALLING: &str = "application/vnd.atl.plugins.install.installing+json";
const MIB: u64 = 1024 * 1024;

async fn install_uri(sim: &upmsync_sim::Sim, uri: &str) -> Response {
    upm(sim, Method::POST, &format!("?token={}", token(sim).await))
        .header(CONTENT_TYPE, INSTALL_URI)
        .header(ACCEPT, "application/json")
        .body(json!({ "pluginUri": uri }).to_string())
        .send()
        .await
        .unwrap()
}

async fn upload(sim: &upmsync_sim::Sim, name: &str, bytes: Vec<u8>) -> Response {
    upm(sim, Method::POST, &format!("?token={}", token(sim).await))
        .header(ACCEPT, "application/json")
        .multipart(Form::new().part("plugin", Part::bytes(bytes).file_name(name.to_string())))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn latency_delays_every_answer_and_requests_wait_together() {
    let latency = Duration::from_millis(400);
    let sim = start(SimConfig::jira_demo().latency(latency)).await;
    let list = || async { upm(&sim, Method::GET, "").send().await.unwrap().status() };
    let statuses = join_all((0..4).map(|_| list())).await;
    assert!(statuses.iter().all(|status| *status == StatusCode::OK));
    let marketplace = client()
        .get(
            sim.marketplace_url()
                .join("rest/2/addons/com.onresolve.jira.groovy.groovyrunner")
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(marketplace.status(), StatusCode::OK);

    let requests = sim.requests();
    assert_eq!(requests.len(), 5);
    assert!(
        requests.iter().all(|request| request.elapsed >= latency),
        "every answer waited the latency: {requests:?}"
    );
    assert_eq!(requests[4].server, SimServer::Marketplace);
    // The four lists were in the simulator at the same time: each arrived before any was answered.
    let lists = &requests[..4];
    let last_arrival = lists.iter().map(|request| request.received).max().unwrap();
    let first_answer = lists
        .iter()
        .map(|request| request.received + request.elapsed)
        .min()
        .unwrap();
    assert!(last_arrival < first_answer, "served concurrently");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_install_by_uri_downloads_for_the_download_delay_then_installs() {
    let download = Duration::from_millis(700);
    let install = Duration::from_millis(200);
    let sim = start(
        SimConfig::jira_demo()
            .download_delay(download)
            .task_delay(install),
    )
    .await;
    let uri = format!(
        "{}download/apps/6820/version/1006650",
        sim.marketplace_url()
    );
    let accepted = install_uri(&sim, &uri).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(content_type(&accepted), DOWNLOADING);
    // Right after the start the task is still downloading (the delay is far from over).
    let location = accepted.headers()["location"].to_str().unwrap().to_string();
    let pending = client()
        .get(&location)
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(content_type(&pending), DOWNLOADING);
    let tasks = sim.install_tasks();
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0].installing, tasks[0].finished), (None, None));
    assert_eq!(tasks[0].succeeded, None);

    assert_eq!(finish_task(&accepted).await.status(), StatusCode::SEE_OTHER);
    let task = &sim.install_tasks()[0];
    assert!(!task.upload);
    assert_eq!(task.succeeded, Some(true));
    assert_eq!(task.source, "1006650");
    let installing = task.installing.expect("the task installed");
    assert!(installing - task.started >= download);
    assert!(task.finished.unwrap() - installing >= install);
    assert!(task.server_time().unwrap() >= download + install);
    assert_eq!(
        sim.plugin("com.onresolve.jira.groovy.groovyrunner")
            .unwrap()
            .version,
        "8.28.1"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_has_no_download_stage() {
    let sim = start(
        SimConfig::empty()
            .download_delay(Duration::from_secs(30))
            .task_delay(Duration::from_millis(100)),
    )
    .await;
    let jar = build_plugin_jar("com.example.up", "Up", "1.0", false);
    let accepted = upload(&sim, "up.jar", jar).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(content_type(&accepted), INSTALLING);
    assert_eq!(finish_task(&accepted).await.status(), StatusCode::SEE_OTHER);
    let task = &sim.install_tasks()[0];
    assert!(task.upload);
    assert_eq!(task.installing, Some(task.started));
    assert_eq!(task.succeeded, Some(true));
    assert!(sim.plugin("com.example.up").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn artifacts_are_served_from_files_and_install_by_uri() {
    let folder = tempfile::tempdir().unwrap();
    let jar = folder.path().join("big.jar");
    write_padded_plugin_jar(&jar, "com.example.big", "Big", "2.0.0", true, 5 * MIB).unwrap();
    let obr = folder.path().join("bundle.obr");
    write_padded_obr(&obr, "com.example.obr", "Obr", "3.0.0", false, 5 * MIB).unwrap();
    let config = SimConfig::empty()
        .task_delay(Duration::from_millis(50))
        .plugin(SeedPlugin::user("com.example.big", "Big", "1.0.0"))
        .marketplace_app(SeedMarketplaceApp::new(
            "com.example.big",
            "Big",
            500,
            [("1.0.0", 10), ("2.0.0", 20)],
        ))
        .marketplace_app(SeedMarketplaceApp::new(
            "com.example.obr",
            "Obr",
            501,
            [("3.0.0", 30)],
        ))
        .marketplace_artifact_file("com.example.big", 20, &jar)
        .marketplace_artifact_file("com.example.obr", 30, &obr);
    let sim = start(config).await;

    let download = client()
        .get(
            sim.marketplace_url()
                .join("download/apps/500/version/20")
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let length = std::fs::metadata(&jar).unwrap().len();
    assert_eq!(
        download.headers()[CONTENT_LENGTH].to_str().unwrap(),
        length.to_string()
    );
    assert_eq!(
        download.bytes().await.unwrap(),
        std::fs::read(&jar).unwrap()
    );
    // The OBR's download is named like one; the file name comes from the file served.
    let obr_download = client()
        .get(
            sim.marketplace_url()
                .join("download/apps/501/version/30")
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(obr_download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("com.example.obr-3.0.0.obr"));
    // A version without a file is still built in memory.
    let small = client()
        .get(
            sim.marketplace_url()
                .join("download/apps/500/version/10")
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        small,
        build_plugin_jar("com.example.big", "Big", "1.0.0", true)
    );

    for (path, key, version) in [
        ("download/apps/500/version/20", "com.example.big", "2.0.0"),
        ("download/apps/501/version/30", "com.example.obr", "3.0.0"),
    ] {
        let uri = format!("{}{path}", sim.marketplace_url());
        let accepted = install_uri(&sim, &uri).await;
        assert_eq!(
            finish_task(&accepted).await.status(),
            StatusCode::SEE_OTHER,
            "{key} installs"
        );
        assert_eq!(sim.plugin(key).unwrap().version, version);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_of_several_mib_installs_and_the_proxy_limit_still_refuses() {
    let folder = tempfile::tempdir().unwrap();
    let jar = folder.path().join("big.jar");
    // Well over axum's default body limit of 2 MiB.
    write_padded_plugin_jar(&jar, "com.example.big", "Big", "1.0.0", false, 6 * MIB).unwrap();
    let bytes = std::fs::read(&jar).unwrap();
    let sim = start(SimConfig::empty().task_delay(Duration::from_millis(50))).await;
    let accepted = upload(&sim, "big.jar", bytes.clone()).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(finish_task(&accepted).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(sim.plugin("com.example.big").unwrap().version, "1.0.0");

    sim.set_proxy_max_body(Some(4 * MIB));
    let refused = upload(&sim, "big.jar", bytes).await;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
