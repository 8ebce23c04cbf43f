//! The simulator as a Data Center cluster behind a load balancer, with a configured base URL, and
//! with app changes that need a restart, app dependencies and enable failures, driven over HTTP.

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use upmsync_sim::jar::build_plugin_jar;
use upmsync_sim::{SeedPlugin, Sim, SimConfig, SimRestartState, SimServer};
use url::Url;

use crate::support::{header, start as start_sim, upm_through, ADMIN};

const PLUGIN: &str = "application/vnd.atl.plugins.plugin+json";
const CHANGES: &str = "application/vnd.atl.plugins.changes.requiring.restart+json";
const APP: &str = "com.example.app";
const LIBRARY: &str = "com.example.library";

/// A client like upmsync's today: no cookies, redirects not followed.
/// A simulator whose install tasks take 30 ms.
async fn start(config: SimConfig) -> Sim {
    start_sim(config.task_delay(Duration::from_millis(30))).await
}

fn plain() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A client that keeps cookies, as a browser or a careful script does.
fn with_cookies() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// A request to `{upm}/rest/plugins/1.0/{path}` through `client`, as admin.
fn upm(client: &Client, sim: &Sim, method: Method, path: &str) -> RequestBuilder {
    upm_through(client, sim, ADMIN, method, path)
}

fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok().map(str::to_string))
        .collect()
}

async fn token(request: RequestBuilder) -> (String, String) {
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    (
        header(&response, "upm-token"),
        header(&response, "x-anodeid"),
    )
}

fn jar(key: &str, version: &str) -> Form {
    let bytes = build_plugin_jar(key, &format!("{key} app"), version, false);
    Form::new().part("plugin", Part::bytes(bytes).file_name("app.jar"))
}

/// HEAD for a token, then uploads `key` `version` with it, on one cookie-less client (nodes=1).
async fn upload(sim: &Sim, key: &str, version: &str) -> Response {
    let client = plain();
    let (token, _) = token(upm(&client, sim, Method::HEAD, "")).await;
    upm(&client, sim, Method::POST, &format!("?token={token}"))
        .header(ACCEPT, "application/json")
        .multipart(jar(key, version))
        .send()
        .await
        .unwrap()
}

/// Polls the `/pending/{id}` the 202 points at (under the sim's own URL) until it is done.
async fn finish(client: &Client, sim: &Sim, accepted: &Response) -> Response {
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let id = header(accepted, "location")
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = upm(client, sim, Method::GET, &format!("pending/{id}"))
            .send()
            .await
            .unwrap();
        let running = response.status() == StatusCode::OK
            && !header(&response, "content-type").contains("err");
        if !running || Instant::now() > deadline {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn plugin_json(sim: &Sim, key: &str) -> (StatusCode, Value) {
    let response = upm(&plain(), sim, Method::GET, &format!("{key}-key"))
        .header(ACCEPT, PLUGIN)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn set_enabled(sim: &Sim, key: &str, enabled: bool) -> (StatusCode, Value) {
    let response = upm(&plain(), sim, Method::PUT, &format!("{key}-key"))
        .header(CONTENT_TYPE, PLUGIN)
        .body(json!({ "enabled": enabled }).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn without_cookies_the_token_of_one_node_is_refused_by_the_next() {
    let sim = start(SimConfig::empty().nodes(2)).await;
    let client = plain();
    let (token_one, node) = token(upm(&client, &sim, Method::HEAD, "")).await;
    assert_eq!(node, "node1");

    // Round robin sends the POST to node 2, which never issued that token.
    let refused = upm(&client, &sim, Method::POST, &format!("?token={token_one}"))
        .header(ACCEPT, "application/json")
        .multipart(jar(APP, "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&refused, "x-anodeid"), "node2");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["subCode"], "upm.error.invalid.token");
    assert!(sim.plugin(APP).is_none());

    let nodes: Vec<Option<usize>> = sim.requests().iter().map(|request| request.node).collect();
    assert_eq!(nodes, [Some(1), Some(2)]);

    // Pinned by hand: node 2's own token still works after it refused node 1's, and node 1's
    // token is still good on node 1.
    let pin = |node: &str| format!("ATL_AFFINITY={node}");
    let (token_two, node) =
        token(upm(&client, &sim, Method::HEAD, "").header(COOKIE, pin("node2"))).await;
    assert_eq!(node, "node2");
    let refused_again = upm(&client, &sim, Method::POST, &format!("?token={token_one}"))
        .header(COOKIE, pin("node2"))
        .header(ACCEPT, "application/json")
        .multipart(jar(APP, "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused_again.status(), StatusCode::FORBIDDEN);
    let accepted = upm(&client, &sim, Method::POST, &format!("?token={token_two}"))
        .header(COOKIE, pin("node2"))
        .header(ACCEPT, "application/json")
        .multipart(jar(APP, "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&accepted, "x-anodeid"), "node2");
    let on_one = upm(&client, &sim, Method::POST, &format!("?token={token_one}"))
        .header(COOKIE, pin("node1"))
        .header(ACCEPT, "application/json")
        .multipart(jar(LIBRARY, "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(on_one.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&on_one, "x-anodeid"), "node1");
}

#[tokio::test]
async fn a_client_keeping_cookies_stays_on_its_node_and_installs() {
    let sim = start(SimConfig::empty().nodes(3)).await;
    let client = with_cookies();
    let first = upm(&client, &sim, Method::HEAD, "").send().await.unwrap();
    let node = header(&first, "x-anodeid");
    let cookies = set_cookies(&first);
    assert!(
        cookies.contains(&format!("ATL_AFFINITY={node}; Path=/; HttpOnly")),
        "{cookies:?}"
    );
    let session = cookies
        .iter()
        .find(|cookie| cookie.starts_with("JSESSIONID="))
        .expect("a session cookie");
    assert!(
        session.ends_with(&format!(".{node}; Path=/jira; HttpOnly")),
        "{session}"
    );
    let token = header(&first, "upm-token");

    let accepted = upm(&client, &sim, Method::POST, &format!("?token={token}"))
        .header(ACCEPT, "application/json")
        .multipart(jar(APP, "1.0.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&accepted, "x-anodeid"), node);
    assert!(
        set_cookies(&accepted).is_empty(),
        "a pinned request gets no new cookies"
    );
    let done = finish(&client, &sim, &accepted).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        sim.plugin(APP).map(|plugin| plugin.version).as_deref(),
        Some("1.0.0")
    );
    let pinned: Vec<Option<usize>> = sim.requests().iter().map(|request| request.node).collect();
    let number: usize = node.trim_start_matches("node").parse().unwrap();
    assert!(
        pinned.iter().all(|answered| *answered == Some(number)),
        "{pinned:?}"
    );

    // Tasks are cluster-wide: another node answers for the same task.
    let id = header(&accepted, "location")
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let elsewhere = format!("ATL_AFFINITY=node{}", number % 3 + 1);
    let task = upm(&plain(), &sim, Method::GET, &format!("tasks/{id}"))
        .header(COOKIE, elsewhere)
        .send()
        .await
        .unwrap();
    assert_ne!(header(&task, "x-anodeid"), node);
    let body: Value = task.json().await.unwrap();
    assert_eq!(body["done"], true);
}

#[tokio::test]
async fn round_robin_visits_every_node_and_a_session_route_pins() {
    let sim = start(SimConfig::empty().nodes(3)).await;
    assert_eq!(sim.nodes(), 3);
    let client = plain();
    let info = sim.upm_url().join("rest/api/2/serverInfo").unwrap();
    let mut visited = Vec::new();
    for _ in 0..6 {
        let response = client.get(info.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(set_cookies(&response).len(), 2);
        visited.push(header(&response, "x-anodeid"));
    }
    assert_eq!(
        visited,
        ["node1", "node2", "node3", "node1", "node2", "node3"]
    );

    for _ in 0..3 {
        let response = client
            .get(info.clone())
            .header(COOKIE, "JSESSIONID=0123456789ABCDEF.node3")
            .send()
            .await
            .unwrap();
        assert_eq!(header(&response, "x-anodeid"), "node3");
    }
    // The Marketplace is not behind the product's balancer.
    let marketplace = sim
        .requests()
        .into_iter()
        .filter(|request| request.server == SimServer::Marketplace)
        .count();
    assert_eq!(marketplace, 0);
}

#[tokio::test]
async fn a_single_node_sets_no_cookies() {
    let sim = start(SimConfig::empty()).await;
    let client = plain();
    for _ in 0..2 {
        let response = upm(&client, &sim, Method::HEAD, "").send().await.unwrap();
        assert_eq!(header(&response, "x-anodeid"), "node1");
        assert!(set_cookies(&response).is_empty());
    }
    let accepted = upload(&sim, APP, "1.0.0").await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert!(sim.requests().iter().all(|request| request.node == Some(1)));
}

#[tokio::test]
async fn links_and_product_info_use_the_configured_base_url() {
    let base = Url::parse("https://jira.example.com/tools/jira").unwrap();
    let sim = start(SimConfig::empty().base_url(base)).await;
    assert_eq!(
        sim.base_url().as_str(),
        "https://jira.example.com/tools/jira/"
    );
    assert!(sim.upm_url().as_str().ends_with("/jira/"));

    let accepted = upload(&sim, APP, "1.0.0").await;
    assert!(
        header(&accepted, "location")
            .starts_with("https://jira.example.com/tools/jira/rest/plugins/1.0/pending/"),
        "{}",
        header(&accepted, "location")
    );
    let body: Value = accepted.json().await.unwrap();
    let self_link = body["links"]["self"].as_str().unwrap().to_string();
    assert!(
        self_link.starts_with("/tools/jira/rest/plugins/1.0/pending/"),
        "{self_link}"
    );
    // The listener still serves under its own context path.
    let id = self_link.rsplit('/').next().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = loop {
        let response = upm(&plain(), &sim, Method::GET, &format!("pending/{id}"))
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::OK || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(&done, LOCATION.as_str()),
        format!("https://jira.example.com/tools/jira/rest/plugins/1.0/{APP}-key")
    );

    let collection: Value = upm(&plain(), &sim, Method::GET, "")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(collection["links"]["self"], "/tools/jira/rest/plugins/1.0/");
    assert_eq!(
        collection["links"]["marketplace"],
        "https://jira.example.com/tools/jira/plugins/servlet/upm/marketplace"
    );
    let app = collection["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|plugin| plugin["key"] == APP)
        .unwrap();
    assert!(app["links"]["manage"]
        .as_str()
        .unwrap()
        .starts_with("https://jira.example.com/tools/jira/plugins/servlet/upm?"));

    let info: Value = plain()
        .get(sim.upm_url().join("rest/api/2/serverInfo").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["baseUrl"], "https://jira.example.com/tools/jira");
    let manifest: Value = plain()
        .get(sim.upm_url().join("rest/applinks/1.0/manifest").unwrap())
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(manifest["url"], "https://jira.example.com/tools/jira");
}

#[tokio::test]
async fn without_a_base_url_the_product_reports_its_own_address() {
    let sim = start(SimConfig::empty()).await;
    assert_eq!(sim.base_url(), sim.upm_url());
    let info: Value = plain()
        .get(sim.upm_url().join("rest/api/2/serverInfo").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["baseUrl"],
        sim.upm_url().as_str().trim_end_matches('/')
    );
}

async fn requires_restart(sim: &Sim) -> Value {
    let response = upm(&plain(), sim, Method::GET, "requires-restart")
        .header(ACCEPT, CHANGES)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), CHANGES);
    response.json().await.unwrap()
}

#[tokio::test]
async fn requires_restart_is_empty_when_nothing_waits() {
    let sim = start(SimConfig::jira_demo()).await;
    let body = requires_restart(&sim).await;
    assert_eq!(body["changes"], json!([]));
    assert_eq!(
        body["links"]["self"],
        "/jira/rest/plugins/1.0/requires-restart"
    );
}

#[tokio::test]
async fn an_upgrade_needing_a_restart_keeps_the_old_version_until_the_restart() {
    let sim = start(
        SimConfig::empty()
            .plugin(SeedPlugin::user(APP, "The App", "1.0.0"))
            .requires_restart(APP),
    )
    .await;
    let accepted = upload(&sim, APP, "2.0.0").await;
    let id = header(&accepted, "location")
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let done = finish(&plain(), &sim, &accepted).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER, "the task succeeds");

    let (_, plugin) = plugin_json(&sim, APP).await;
    assert_eq!(plugin["version"], "1.0.0");
    assert_eq!(plugin["restartState"], "upgrade");
    assert_eq!(
        plugin["links"]["change-requiring-restart"],
        format!("/jira/rest/plugins/1.0/requires-restart/{APP}-key")
    );
    let changes = requires_restart(&sim).await;
    assert_eq!(changes["changes"][0]["key"], APP);
    assert_eq!(changes["changes"][0]["action"], "upgrade");
    assert_eq!(changes["changes"][0]["name"], "The App");
    assert_eq!(
        sim.pending_restart().get(APP),
        Some(&SimRestartState::Upgrade)
    );
    let client = plain();
    let (stale_token, _) = token(upm(&client, &sim, Method::HEAD, "")).await;

    sim.restart();
    let (_, plugin) = plugin_json(&sim, APP).await;
    assert_eq!(plugin["version"], "2.0.0");
    assert!(plugin.get("restartState").is_none());
    assert!(plugin["links"].get("change-requiring-restart").is_none());
    assert_eq!(requires_restart(&sim).await["changes"], json!([]));
    // Tasks and upm-tokens do not survive a restart.
    let gone = upm(&client, &sim, Method::GET, &format!("pending/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let refused = upm(
        &client,
        &sim,
        Method::POST,
        &format!("?token={stale_token}"),
    )
    .header(ACCEPT, "application/json")
    .multipart(jar(APP, "3.0.0"))
    .send()
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_uninstall_needing_a_restart_answers_202_and_waits() {
    let sim = start(
        SimConfig::empty()
            .plugin(SeedPlugin::user(APP, "The App", "1.0.0"))
            .requires_restart(APP),
    )
    .await;
    let response = upm(&plain(), &sim, Method::DELETE, &format!("{APP}-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(header(&response, "content-type"), PLUGIN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["restartState"], "remove");
    let (status, plugin) = plugin_json(&sim, APP).await;
    assert_eq!(status, StatusCode::OK, "still listed until the restart");
    assert_eq!(plugin["restartState"], "remove");
    assert_eq!(
        requires_restart(&sim).await["changes"][0]["action"],
        "remove"
    );

    sim.restart();
    let (status, _) = plugin_json(&sim, APP).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_new_app_needing_a_restart_is_listed_disabled_and_can_be_cancelled() {
    let sim = start(
        SimConfig::empty()
            .plugin(SeedPlugin::user(LIBRARY, "Library", "1.0.0"))
            .requires_restart(APP),
    )
    .await;
    let accepted = upload(&sim, APP, "1.0.0").await;
    assert_eq!(
        finish(&plain(), &sim, &accepted).await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, plugin) = plugin_json(&sim, APP).await;
    assert_eq!(plugin["restartState"], "install");
    assert_eq!(plugin["enabled"], false);
    assert_eq!(
        requires_restart(&sim).await["changes"][0]["action"],
        "install"
    );

    let cancel = |key: &str| {
        upm(
            &plain(),
            &sim,
            Method::DELETE,
            &format!("requires-restart/{key}-key"),
        )
        .send()
    };
    assert_eq!(cancel(APP).await.unwrap().status(), StatusCode::NO_CONTENT);
    let (status, _) = plugin_json(&sim, APP).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the cancelled install is gone"
    );
    // An installed app without a pending change.
    let nothing = cancel(LIBRARY).await.unwrap();
    assert_eq!(nothing.status(), StatusCode::NOT_FOUND);
    let body: Value = nothing.json().await.unwrap();
    assert_eq!(
        body["subCode"],
        "upm.messages.requiresRestart.no.such.plugin"
    );

    // Installed again and restarted: now it runs.
    let accepted = upload(&sim, APP, "1.0.0").await;
    assert_eq!(
        finish(&plain(), &sim, &accepted).await.status(),
        StatusCode::SEE_OTHER
    );
    sim.restart();
    let (_, plugin) = plugin_json(&sim, APP).await;
    assert_eq!(plugin["enabled"], true);
    assert!(plugin.get("restartState").is_none());
}

#[tokio::test]
async fn an_app_stays_disabled_until_its_dependency_runs() {
    let sim = start(SimConfig::empty().dependency(APP, LIBRARY)).await;
    let accepted = upload(&sim, APP, "1.0.0").await;
    assert_eq!(
        finish(&plain(), &sim, &accepted).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(sim.plugin(APP).map(|plugin| plugin.enabled), Some(false));

    let (status, body) = set_enabled(&sim, APP, true).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["subCode"], "upm.plugin.error.failed.to.enable");
    assert_eq!(sim.plugin(APP).map(|plugin| plugin.enabled), Some(false));

    let accepted = upload(&sim, LIBRARY, "1.0.0").await;
    assert_eq!(
        finish(&plain(), &sim, &accepted).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(sim.plugin(LIBRARY).map(|plugin| plugin.enabled), Some(true));
    // guess (documented): installing the dependency does not enable the app by itself.
    assert_eq!(sim.plugin(APP).map(|plugin| plugin.enabled), Some(false));
    let (status, body) = set_enabled(&sim, APP, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["enabled"], true);

    // Disabling the dependency takes the app down; enabling the app again fails meanwhile.
    let (status, _) = set_enabled(&sim, LIBRARY, false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sim.plugin(APP).map(|plugin| plugin.enabled), Some(false));
    let (status, _) = set_enabled(&sim, APP, true).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn uninstalling_a_dependency_disables_its_dependent() {
    let sim = start(
        SimConfig::empty()
            .plugin(SeedPlugin::user(LIBRARY, "Library", "1.0.0"))
            .plugin(SeedPlugin::user(APP, "App", "1.0.0"))
            .dependency(APP, LIBRARY),
    )
    .await;
    assert_eq!(sim.plugin(APP).map(|plugin| plugin.enabled), Some(true));
    let response = upm(&plain(), &sim, Method::DELETE, &format!("{LIBRARY}-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(sim.plugin(APP).map(|plugin| plugin.enabled), Some(false));
}

#[tokio::test]
async fn an_app_that_fails_to_enable_installs_but_stays_disabled() {
    let sim = start(
        SimConfig::empty()
            .plugin(SeedPlugin::user(LIBRARY, "Library", "1.0.0"))
            .enable_fails(APP),
    )
    .await;
    let accepted = upload(&sim, APP, "1.0.0").await;
    let done = finish(&plain(), &sim, &accepted).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER, "the task succeeds");
    assert_eq!(sim.plugin(APP).map(|plugin| plugin.enabled), Some(false));
    let (status, body) = set_enabled(&sim, APP, true).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["subCode"], "upm.plugin.error.failed.to.enable");

    sim.set_enable_fails(APP, false);
    let (status, body) = set_enabled(&sim, APP, true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["enabled"], true);

    // Switched on at runtime: a running app keeps running until it is next enabled.
    sim.set_enable_fails(LIBRARY, true);
    assert_eq!(sim.plugin(LIBRARY).map(|plugin| plugin.enabled), Some(true));
    assert_eq!(set_enabled(&sim, LIBRARY, false).await.0, StatusCode::OK);
    assert_eq!(
        set_enabled(&sim, LIBRARY, true).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}
