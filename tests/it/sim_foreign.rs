//! The foreign answers of real deployments, as a raw reqwest client sees them: WebSudo, a web page
//! instead of the REST API, a reverse proxy's body limit, UPM without outbound access, rate limits
//! on changes, and a wrong context path or a collection without its trailing slash.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER, SERVER};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use upmsync_sim::{jar, SeedPlugin, Sim, SimConfig, WebPage};

const APP: &str = "com.vendor.alpha";
const APP_ID: u64 = 100;
const ERROR: &str = "application/vnd.atl.plugins.error+json";
const INSTALL_URI: &str = "application/vnd.atl.plugins.install.uri+json";
const PLUGIN: &str = "application/vnd.atl.plugins.plugin+json";
const INSTALL_ERROR: &str = "application/vnd.atl.plugins.task.install.err+json";

fn config() -> SimConfig {
    SimConfig::empty()
        .plugin(SeedPlugin::user(APP, "Alpha", "1.0.0"))
        .marketplace_app(crate::support::marketplace_app(
            APP,
            APP_ID,
            &["1.0.0", "2.0.0"],
        ))
}

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A request to `{context}/{path}` as `admin`.
fn product(sim: &Sim, method: Method, path: &str) -> RequestBuilder {
    let url = sim.upm_url().join(path).unwrap();
    client()
        .request(method, url)
        .basic_auth("admin", Some(crate::support::PASSWORD))
}

fn upm(sim: &Sim, method: Method, path: &str) -> RequestBuilder {
    product(sim, method, &format!("rest/plugins/1.0/{path}"))
}

async fn token(sim: &Sim) -> String {
    let response = upm(sim, Method::HEAD, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.headers()["upm-token"]
        .to_str()
        .unwrap()
        .to_string()
}

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` header"))
        .to_str()
        .unwrap()
}

/// `PUT /{APP}-key {"enabled": enabled}`.
async fn set_enabled(sim: &Sim, enabled: bool) -> Response {
    upm(sim, Method::PUT, &format!("{APP}-key"))
        .header(CONTENT_TYPE, PLUGIN)
        .json(&json!({"enabled": enabled}))
        .send()
        .await
        .unwrap()
}

/// Starts installing `APP` 2.0.0 by URI from the simulated Marketplace; returns the 202's `Location`.
async fn install_from_marketplace(sim: &Sim) -> String {
    let token = token(sim).await;
    let uri = sim
        .marketplace_url()
        .join(&format!(
            "download/apps/{APP_ID}/version/{}",
            APP_ID * 1000 + 2
        ))
        .unwrap();
    let response = upm(sim, Method::POST, &format!("?token={token}"))
        .header(CONTENT_TYPE, INSTALL_URI)
        .body(json!({"pluginUri": uri.as_str()}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    header(&response, "location").to_string()
}

/// Polls a legacy task until it is done: the final response (303 or an error task).
async fn wait_for_task(location: &str) -> Response {
    for _ in 0..500 {
        let response = client()
            .get(location)
            .basic_auth("admin", Some(crate::support::PASSWORD))
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::OK {
            return response;
        }
        let content_type = header(&response, "content-type").to_string();
        if content_type == INSTALL_ERROR {
            return response;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the task at {location} never finished");
}

// --- WebSudo ---------------------------------------------------------------------------------

#[tokio::test]
async fn websudo_refuses_upm_resources_but_not_the_token_tasks_or_product() {
    let sim = crate::support::start(config().websudo(true)).await;

    for (method, path) in [
        (Method::GET, ""),
        (Method::GET, &format!("{APP}-key") as &str),
        (Method::GET, &format!("{APP}-key/license")),
        (Method::GET, "safe-mode"),
        (Method::GET, "pending"),
    ] {
        let response = upm(&sim, method.clone(), path).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(header(&response, "content-type"), ERROR);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"subCode": "upm.websudo.error"}));
    }

    // A change is refused too and changes nothing.
    let response = set_enabled(&sim, false).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(sim.plugin(APP).unwrap().enabled);

    // HEAD / (the upm-token) and /tasks are @WebSudoNotRequired.
    let token = token(&sim).await;
    assert!(!token.is_empty());
    let response = upm(&sim, Method::GET, "tasks").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // The product's own endpoints are unaffected.
    let response = product(&sim, Method::GET, "rest/api/2/serverInfo")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // Without credentials, authentication comes first: the usual 401, not the WebSudo one.
    let response = client()
        .get(sim.upm_url().join("rest/plugins/1.0/").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!response.text().await.unwrap().contains("websudo"));
}

#[tokio::test]
async fn websudo_can_be_switched_at_runtime() {
    let sim = crate::support::start(config()).await;
    let response = upm(&sim, Method::GET, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    sim.set_websudo(true);
    let response = upm(&sim, Method::GET, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    sim.set_websudo(false);
    let response = upm(&sim, Method::GET, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

// --- Web pages -------------------------------------------------------------------------------

#[tokio::test]
async fn login_page_answers_200_html_to_upm_and_server_info() {
    let sim = crate::support::start(config().web_page(WebPage::Login)).await;
    for path in ["rest/plugins/1.0/", "rest/api/2/serverInfo"] {
        let response = product(&sim, Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(header(&response, "content-type").starts_with("text/html"));
        assert_eq!(
            header(&response, "x-seraph-loginreason"),
            "AUTHENTICATION_DENIED"
        );
        assert!(response.headers().get("upm-token").is_none());
        let body = response.text().await.unwrap();
        assert!(body.contains("<title>Log in - Jira</title>"), "{path}");
        assert!(body.contains("id=\"login-form\""));
        assert!(body.len() > 4096, "{} bytes", body.len());
    }
    // A HEAD for the token gets the page's headers, no token, no body.
    let response = upm(&sim, Method::HEAD, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("upm-token").is_none());
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn login_page_swallows_changes_and_the_marketplace_is_unaffected() {
    let sim = crate::support::start(config().web_page(WebPage::Login)).await;
    let response = set_enabled(&sim, false).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("Log in - Jira"));
    assert!(sim.plugin(APP).unwrap().enabled);

    let marketplace = client()
        .get(
            sim.marketplace_url()
                .join(&format!("rest/2/addons/{APP}"))
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(marketplace.status(), StatusCode::OK);
    assert!(header(&marketplace, "content-type").contains("json"));
}

#[tokio::test]
async fn sso_redirects_every_request_to_the_identity_provider() {
    let sim = crate::support::start(config().web_page(WebPage::Sso)).await;
    for path in ["rest/plugins/1.0/", "rest/api/2/serverInfo"] {
        let response = product(&sim, Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{path}");
        let location = header(&response, LOCATION.as_str());
        assert!(
            location.starts_with("https://idp.example.com/saml2/sso?SAMLRequest="),
            "{location}"
        );
        let target = url::Url::parse(location).unwrap();
        assert_ne!(target.host_str(), sim.upm_url().host_str());
    }
}

#[tokio::test]
async fn setup_and_upgrade_pages_answer_200_html() {
    let sim = crate::support::start(config().web_page(WebPage::Setup)).await;
    let response = upm(&sim, Method::GET, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").starts_with("text/html"));
    let body = response.text().await.unwrap();
    assert!(body.contains("<title>Set up Jira</title>"));
    assert!(body.len() > 4096);

    sim.set_web_page(Some(WebPage::Upgrade));
    let response = product(&sim, Method::GET, "rest/api/2/serverInfo")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").starts_with("text/html"));
    let body = response.text().await.unwrap();
    assert!(body.contains("Jira is upgrading"));
    assert!(body.contains("Database upgrade in progress"));
    assert!(body.len() > 4096);
}

#[tokio::test]
async fn maintenance_page_is_503_html_from_the_proxy_without_retry_after() {
    let sim = crate::support::start(config()).await;
    sim.set_web_page(Some(WebPage::Maintenance));
    for path in ["rest/plugins/1.0/", "rest/api/2/serverInfo"] {
        let response = product(&sim, Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(header(&response, "content-type").starts_with("text/html"));
        assert_eq!(header(&response, SERVER.as_str()), "nginx");
        assert!(response.headers().get(RETRY_AFTER).is_none());
        let body = response.text().await.unwrap();
        assert!(body.contains("<title>Down for maintenance</title>"));
        assert!(body.len() > 4096, "{} bytes", body.len());
    }

    // Switched off, the API is back.
    sim.set_web_page(None);
    let response = upm(&sim, Method::GET, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").contains("installed+json"));
}

// --- Reverse proxy body limit ----------------------------------------------------------------

#[tokio::test]
async fn proxy_refuses_a_large_upload_with_nginx_413_before_upm() {
    let sim = crate::support::start(config().proxy_max_body(256)).await;
    let token = token(&sim).await;
    let artifact = jar::build_plugin_jar("com.vendor.big", "Big", "9.9.9", false);
    assert!(artifact.len() > 256, "{} bytes", artifact.len());
    let bytes = artifact.clone();
    let form = reqwest::multipart::Form::new().part(
        "plugin",
        reqwest::multipart::Part::bytes(bytes).file_name("big.jar"),
    );
    let response = upm(&sim, Method::POST, &format!("?token={token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(header(&response, SERVER.as_str()), "nginx");
    assert!(header(&response, "content-type").starts_with("text/html"));
    let body = response.text().await.unwrap();
    assert!(body.contains("<title>413 Request Entity Too Large</title>"));
    assert!(body.contains("<center>nginx</center>"));
    assert!(sim.plugin("com.vendor.big").is_none());

    // A small change passes the proxy.
    let response = set_enabled(&sim, false).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!sim.plugin(APP).unwrap().enabled);

    // Without the limit the upload goes through (the token above was not consumed by UPM).
    sim.set_proxy_max_body(None);
    let form = reqwest::multipart::Form::new().part(
        "plugin",
        reqwest::multipart::Part::bytes(artifact).file_name("big.jar"),
    );
    let response = upm(&sim, Method::POST, &format!("?token={token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

// --- No outbound access ----------------------------------------------------------------------

#[tokio::test]
async fn without_outbound_access_installs_by_uri_fail_while_downloading() {
    let sim = crate::support::start(config().no_outbound(true)).await;
    let location = install_from_marketplace(&sim).await;
    let response = wait_for_task(&location).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), INSTALL_ERROR);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"]["done"], true);
    assert_eq!(
        body["status"]["subCode"],
        "upm.pluginInstall.error.response.exception"
    );
    let message = body["status"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("Connection refused"), "{message}");
    assert_eq!(sim.plugin(APP).unwrap().version, "1.0.0");
    // UPM never reached the Marketplace.
    assert!(sim
        .requests()
        .iter()
        .all(|request| request.server != upmsync_sim::SimServer::Marketplace));

    // Uploads still work.
    let token = token(&sim).await;
    let form = reqwest::multipart::Form::new().part(
        "plugin",
        reqwest::multipart::Part::bytes(jar::build_plugin_jar(APP, "Alpha", "3.0.0", false))
            .file_name("alpha.jar"),
    );
    let response = upm(&sim, Method::POST, &format!("?token={token}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = header(&response, "location").to_string();
    assert_eq!(
        wait_for_task(&location).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(sim.plugin(APP).unwrap().version, "3.0.0");
}

#[tokio::test]
async fn outbound_access_can_be_given_back_at_runtime() {
    let sim = crate::support::start(config()).await;
    sim.set_no_outbound(true);
    let location = install_from_marketplace(&sim).await;
    assert_eq!(
        header(&wait_for_task(&location).await, "content-type"),
        INSTALL_ERROR
    );

    sim.set_no_outbound(false);
    let location = install_from_marketplace(&sim).await;
    assert_eq!(
        wait_for_task(&location).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(sim.plugin(APP).unwrap().version, "2.0.0");
}

// --- Rate limiting ---------------------------------------------------------------------------

#[tokio::test]
async fn rate_limit_refuses_the_first_changes_unprocessed_then_releases() {
    let sim = crate::support::start(config().rate_limit_changes(2, 3)).await;

    // Reads are not limited.
    let response = upm(&sim, Method::GET, &format!("{APP}-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    for _ in 0..2 {
        let response = set_enabled(&sim, false).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&response, RETRY_AFTER.as_str()), "3");
        assert_eq!(header(&response, "x-ratelimit-remaining"), "0");
        assert_eq!(header(&response, "x-ratelimit-interval-seconds"), "3");
        for name in ["x-ratelimit-limit", "x-ratelimit-fillrate"] {
            assert!(
                header(&response, name).parse::<u64>().unwrap() > 0,
                "{name}"
            );
        }
        // Not processed: the app is still enabled.
        assert!(sim.plugin(APP).unwrap().enabled);
    }

    let response = set_enabled(&sim, false).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!sim.plugin(APP).unwrap().enabled);

    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|request| request.is_mutating())
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [429, 429, 200]);
}

#[tokio::test]
async fn rate_limit_counts_posts_and_deletes_and_can_be_turned_off() {
    let sim = crate::support::start(config()).await;
    sim.set_rate_limit_changes(5, 1);

    let response = upm(&sim, Method::DELETE, &format!("{APP}-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&response, RETRY_AFTER.as_str()), "1");
    assert!(sim.plugin(APP).is_some());

    let token = token(&sim).await;
    let response = upm(&sim, Method::POST, &format!("?token={token}"))
        .header(CONTENT_TYPE, INSTALL_URI)
        .body(r#"{"pluginUri":"http://127.0.0.1:9/x.jar"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    sim.set_rate_limit_changes(0, 1);
    let response = upm(&sim, Method::DELETE, &format!("{APP}-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(sim.plugin(APP).is_none());
}

// --- Context path and trailing slash ---------------------------------------------------------

#[tokio::test]
async fn upm_without_the_context_path_is_404() {
    let sim = crate::support::start(config()).await;
    let mut root = sim.upm_url();
    root.set_path("/rest/plugins/1.0/");
    let response = client()
        .get(root)
        .basic_auth("admin", Some(crate::support::PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().get("upm-token").is_none());

    // With it, the same request works.
    let response = upm(&sim, Method::GET, "").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("upm-token").is_some());
}

#[tokio::test]
async fn collection_without_its_trailing_slash_is_404() {
    let sim = crate::support::start(config()).await;
    for method in [Method::GET, Method::HEAD] {
        let response = product(&sim, method.clone(), "rest/plugins/1.0")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
        assert!(response.headers().get("upm-token").is_none());
    }
}

// --- The `upmsync sim` flags -----------------------------------------------------------------

/// Runs `upmsync sim` on free loopback ports with `flags`; returns the child and the product URL.
async fn run_sim(flags: &[&str]) -> (tokio::process::Child, url::Url) {
    use tokio::io::AsyncBufReadExt;
    let mut child =
        tokio::process::Command::from(crate::support::command(std::path::Path::new(".")))
            .args([
                "sim",
                "--listen",
                "127.0.0.1:0",
                "--marketplace-listen",
                "127.0.0.1:0",
            ])
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(url) = line.strip_prefix("UPM (Jira): ") {
            return (child, url::Url::parse(url.trim()).unwrap());
        }
    }
    panic!("`upmsync sim` printed no UPM address");
}

#[tokio::test]
async fn sim_flags_switch_the_foreign_answers_on() {
    let (mut child, url) = run_sim(&["--web-page", "maintenance"]).await;
    let response = client()
        .get(url.join("rest/plugins/1.0/").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    child.kill().await.unwrap();

    let (mut child, url) = run_sim(&[
        "--websudo",
        "--rate-limit-changes",
        "1",
        "--rate-limit-retry-after",
        "4",
        "--proxy-max-body",
        "100",
        "--no-outbound",
    ])
    .await;
    let put = |body: String| {
        client()
            .put(
                url.join("rest/plugins/1.0/com.example.sandbox-key")
                    .unwrap(),
            )
            .basic_auth("admin", Some("admin"))
            .header(CONTENT_TYPE, PLUGIN)
            .body(body)
            .send()
    };
    let response = put(" ".repeat(200)).await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = put(r#"{"enabled":false}"#.into()).await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&response, RETRY_AFTER.as_str()), "4");
    let response = put(r#"{"enabled":false}"#.into()).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["subCode"], "upm.websudo.error");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn sim_refuses_an_unknown_web_page() {
    let output = tokio::process::Command::from(crate::support::command(std::path::Path::new(".")))
        .args(["sim", "--web-page", "lunch"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(errors.contains("lunch"), "{errors}");
    assert!(errors.contains("maintenance"), "{errors}");
}

#[tokio::test]
async fn sim_names_the_marketplace_publisher_but_not_its_token() {
    use tokio::io::AsyncBufReadExt;
    let mut child =
        tokio::process::Command::from(crate::support::command(std::path::Path::new(".")))
            .args([
                "sim",
                "--listen",
                "127.0.0.1:0",
                "--marketplace-listen",
                "127.0.0.1:0",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        assert!(!line.contains(upmsync_sim::PUBLISHER_TOKEN), "{line}");
        let ready = line.contains("Press Ctrl-C");
        seen.push(line);
        if ready {
            break;
        }
    }
    child.kill().await.unwrap();
    assert!(
        seen.iter().any(|line| line.contains(&format!(
            "Marketplace publisher: `{}`",
            upmsync_sim::PUBLISHER_EMAIL
        ))),
        "{seen:?}"
    );
}
