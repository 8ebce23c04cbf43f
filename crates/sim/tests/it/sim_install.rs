//! The simulated UPM install path: upm-tokens, uploads, install-by-URI from the simulated
//! Marketplace, the async task views and the gates.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use upmsync_sim::jar::build_plugin_jar;
use upmsync_sim::{SeedMarketplaceApp, SeedMarketplaceVersion, Sim, SimConfig};

use crate::support::{
    any_port, client, content_type, finish_task, header, start as start_sim, token, token_for, upm,
    upm_as,
};

const SCRIPTRUNNER: &str = "com.onresolve.jira.groovy.groovyrunner";
const INSTALL_URI: &str = "application/vnd.atl.plugins.install.uri+json";

/// A simulator whose install tasks take 100 ms.
async fn start(config: SimConfig) -> Sim {
    start_sim(config.task_delay(Duration::from_millis(100))).await
}

fn jar_form(bytes: Vec<u8>) -> Form {
    Form::new().part("plugin", Part::bytes(bytes).file_name("upload.jar"))
}

async fn upload(sim: &Sim, token: &str, accept: &str, bytes: Vec<u8>) -> Response {
    upm(sim, Method::POST, &format!("?token={token}"))
        .header(ACCEPT, accept)
        .multipart(jar_form(bytes))
        .send()
        .await
        .unwrap()
}

async fn install_uri(sim: &Sim, user: (&str, &str), token: &str, uri: &str) -> Response {
    upm_as(sim, user, Method::POST, &format!("?token={token}"))
        .header(CONTENT_TYPE, INSTALL_URI)
        .header(ACCEPT, "application/json")
        .body(json!({ "pluginUri": uri }).to_string())
        .send()
        .await
        .unwrap()
}

/// Follows the task to its end ([`finish_task`]); its `Location` is absolute.
async fn finish(sim: &Sim, accepted: &Response) -> Response {
    let location = header(accepted, LOCATION.as_str());
    assert!(
        location.starts_with(sim.upm_url().as_str()),
        "{location} is absolute"
    );
    finish_task(accepted).await
}

fn task_id(accepted: &Response) -> String {
    let location = accepted.headers()[LOCATION].to_str().unwrap();
    location.rsplit('/').next().unwrap().to_string()
}

#[tokio::test]
async fn upload_answers_textarea_or_json_and_completes_with_a_redirect() {
    let sim = start(SimConfig::jira_demo()).await;
    let jar = build_plugin_jar("com.example.inhouse", "In-house", "2.0.0", false);

    let wrapped = upload(&sim, &token(&sim).await, "*/*", jar.clone()).await;
    assert_eq!(wrapped.status(), StatusCode::ACCEPTED);
    assert!(content_type(&wrapped).starts_with("text/html"));
    let location = wrapped.headers()[LOCATION].to_str().unwrap().to_string();
    let text = wrapped.text().await.unwrap();
    let json = text
        .strip_prefix("<textarea>")
        .and_then(|rest| rest.strip_suffix("</textarea>"))
        .unwrap();
    let body: Value = serde_json::from_str(json).unwrap();
    assert_eq!(body["type"], "INSTALL");
    assert_eq!(body["pingAfter"], 100);
    assert_eq!(body["status"]["done"], false);
    assert_eq!(
        body["status"]["contentType"],
        "application/vnd.atl.plugins.install.installing+json"
    );
    assert_eq!(body["status"]["name"], "upload.jar");
    let id = body["id"].as_str().unwrap();
    assert_eq!(
        body["links"]["self"],
        format!("/jira/rest/plugins/1.0/pending/{id}")
    );
    assert_eq!(
        body["links"]["alternate"],
        format!("/jira/rest/plugins/1.0/tasks/{id}")
    );
    assert!(body["timestamp"].is_u64() && body["userKey"].is_string());
    assert!(location.ends_with(&format!("/jira/rest/plugins/1.0/pending/{id}")));

    let plain = upload(&sim, &token(&sim).await, "application/json", jar).await;
    assert_eq!(plain.status(), StatusCode::ACCEPTED);
    assert_eq!(
        content_type(&plain),
        "application/vnd.atl.plugins.install.installing+json"
    );
    let id = task_id(&plain);

    // Running: 200 with the stage type; listed under /pending.
    let running = upm(&sim, Method::GET, &format!("pending/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(running.status(), StatusCode::OK);
    assert_eq!(
        content_type(&running),
        "application/vnd.atl.plugins.install.installing+json"
    );
    let pending: Value = upm(&sim, Method::GET, "pending")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!pending["tasks"].as_array().unwrap().is_empty());

    let done = finish(&sim, &plain).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        done.headers()[LOCATION].to_str().unwrap(),
        format!("{}rest/plugins/1.0/com.example.inhouse-key", sim.upm_url())
    );
    assert!(done.bytes().await.unwrap().is_empty());
    let installed = sim.plugin("com.example.inhouse").unwrap();
    assert_eq!(installed.version, "2.0.0");
    assert!(installed.enabled && installed.user_installed && installed.uninstallable);

    // The new task view is anonymous, 200, with a result link.
    let task: Value = client()
        .get(
            sim.upm_url()
                .join(&format!("rest/plugins/1.0/tasks/{id}"))
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(task["done"], true);
    assert_eq!(
        task["links"]["result"],
        "/jira/rest/plugins/1.0/com.example.inhouse-key"
    );
    assert!(task.get("userKey").is_none());

    let unknown = upm(&sim, Method::GET, "pending/no-such-task")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn task_keeps_running_for_the_delay_without_polling() {
    let sim = Sim::start(SimConfig::empty(), any_port(), any_port())
        .await
        .unwrap();
    let jar = build_plugin_jar("com.example.slow", "Slow", "1.0", false);
    let accepted = upload(&sim, &token(&sim).await, "application/json", jar).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert!(sim.plugin("com.example.slow").is_none());
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(sim.plugin("com.example.slow").is_some());
}

#[tokio::test]
async fn upm_token_is_single_use_and_per_user() {
    let sim = start(SimConfig::jira_demo().user("other", "pw", true)).await;
    let jar = || build_plugin_jar("com.example.t", "T", "1.0", false);

    let admin_token = token(&sim).await;
    let other_token = token_for(&sim, ("other", "pw")).await;
    assert_ne!(admin_token, other_token);

    // Another user's token is refused (and not consumed).
    let foreign = upload(&sim, &other_token, "application/json", jar()).await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert_eq!(content_type(&foreign), "application/json");
    assert_eq!(
        foreign.json::<Value>().await.unwrap(),
        json!({"errorMessage": "invalid token", "subCode": "upm.error.invalid.token"})
    );
    // A wrong token does not rotate the stored one.
    assert_eq!(token(&sim).await, admin_token);

    assert_eq!(
        upload(&sim, &admin_token, "application/json", jar())
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    let reused = upload(&sim, &admin_token, "*/*", jar()).await;
    assert_eq!(reused.status(), StatusCode::FORBIDDEN);
    assert!(content_type(&reused).starts_with("text/html"));
    assert!(reused.text().await.unwrap().starts_with("<textarea>{"));

    let missing = upm(&sim, Method::POST, "")
        .header(ACCEPT, "application/json")
        .multipart(jar_form(jar()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);

    // A fresh token after use, and the other user's token still works for them.
    assert_ne!(token(&sim).await, admin_token);
    let theirs = upm_as(
        &sim,
        ("other", "pw"),
        Method::POST,
        &format!("?token={other_token}"),
    )
    .header(ACCEPT, "application/json")
    .multipart(jar_form(jar()))
    .send()
    .await
    .unwrap();
    assert_eq!(theirs.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn lower_version_is_ignored_but_the_task_succeeds() {
    let sim = start(SimConfig::jira_demo()).await;
    let jar = build_plugin_jar(SCRIPTRUNNER, "ScriptRunner for Jira", "8.1.0", true);
    let accepted = upload(&sim, &token(&sim).await, "application/json", jar).await;
    let done = finish(&sim, &accepted).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(done.headers()[LOCATION]
        .to_str()
        .unwrap()
        .ends_with(&format!("{SCRIPTRUNNER}-key")));
    assert_eq!(sim.plugin(SCRIPTRUNNER).unwrap().version, "8.20.0");
}

#[tokio::test]
async fn broken_artifacts_and_forced_failures_end_as_error_tasks() {
    let sim = start(SimConfig::jira_demo()).await;

    let accepted = upload(
        &sim,
        &token(&sim).await,
        "application/json",
        b"not a zip".to_vec(),
    )
    .await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let id = task_id(&accepted);
    let failed = finish(&sim, &accepted).await;
    assert_eq!(failed.status(), StatusCode::OK);
    assert_eq!(
        content_type(&failed),
        "application/vnd.atl.plugins.task.install.err+json"
    );
    let body: Value = failed.json().await.unwrap();
    assert_eq!(body["status"]["done"], true);
    assert_eq!(
        body["status"]["contentType"],
        "application/vnd.atl.plugins.task.install.err+json"
    );
    assert!(body["status"]["errorMessage"].is_string());
    let task: Value = upm(&sim, Method::GET, &format!("tasks/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(task["done"], true);
    assert!(task["error"]["message"].is_string());
    assert!(task["links"].get("result").is_none());

    sim.fail_next_install("Simulated failure");
    let jar = build_plugin_jar("com.example.ok", "Ok", "1.0", false);
    let accepted = upload(&sim, &token(&sim).await, "application/json", jar.clone()).await;
    let body: Value = finish(&sim, &accepted).await.json().await.unwrap();
    assert_eq!(body["status"]["errorMessage"], "Simulated failure");
    assert!(sim.plugin("com.example.ok").is_none());
    // Only the next one fails.
    let accepted = upload(&sim, &token(&sim).await, "application/json", jar).await;
    assert_eq!(
        finish(&sim, &accepted).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn install_by_uri_downloads_from_the_simulated_marketplace() {
    let config = SimConfig::jira_demo().marketplace_app(
        SeedMarketplaceApp::new("com.example.broken", "Broken", 9001, [])
            .version(SeedMarketplaceVersion::new("1.0", 1).corrupt()),
    );
    let sim = start(config).await;
    let admin = ("admin", "admin");
    let uri = format!(
        "{}download/apps/6820/version/1006650",
        sim.marketplace_url()
    );

    let accepted = install_uri(&sim, admin, &token(&sim).await, &uri).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(
        content_type(&accepted),
        "application/vnd.atl.plugins.install.downloading+json"
    );
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(body["status"]["name"], "1006650");
    let accepted = install_uri(&sim, admin, &token(&sim).await, &uri).await;
    assert_eq!(
        finish(&sim, &accepted).await.status(),
        StatusCode::SEE_OTHER
    );
    let plugin = sim.plugin(SCRIPTRUNNER).unwrap();
    assert_eq!(plugin.version, "8.28.1");
    assert!(plugin.enabled);
    // The license stays with the plugin across an upgrade.
    assert_eq!(
        sim.license(SCRIPTRUNNER).as_deref(),
        Some("demo-old-scriptrunner-license")
    );
    let downloads = sim
        .requests()
        .into_iter()
        .filter(|request| request.path == "/download/apps/6820/version/1006650")
        .count();
    assert_eq!(downloads, 2);

    // Bad URIs are refused up front.
    for (uri, sub_code) in [
        (
            "/download/apps/6820/version/1006650",
            "upm.pluginInstall.error.invalid.relative.uri",
        ),
        (
            "http://bad host/x.jar",
            "upm.pluginInstall.error.invalid.uri.syntax",
        ),
    ] {
        let refused = install_uri(&sim, admin, &token(&sim).await, uri).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(refused.json::<Value>().await.unwrap()["subCode"], sub_code);
    }

    // Download and artifact failures end as error tasks.
    for (path, sub_code) in [
        (
            "download/apps/6820/version/424242",
            Some("upm.pluginInstall.error.file.not.found"),
        ),
        ("download/apps/9001/version/1", None),
    ] {
        let uri = format!("{}{path}", sim.marketplace_url());
        let accepted = install_uri(&sim, admin, &token(&sim).await, &uri).await;
        let body: Value = finish(&sim, &accepted).await.json().await.unwrap();
        assert_eq!(body["status"]["done"], true);
        match sub_code {
            Some(code) => assert_eq!(body["status"]["subCode"], code),
            None => assert!(body["status"]["errorMessage"].is_string()),
        }
    }
    let unreachable =
        install_uri(&sim, admin, &token(&sim).await, "http://127.0.0.1:1/x.jar").await;
    let body: Value = finish(&sim, &unreachable).await.json().await.unwrap();
    assert_eq!(
        body["status"]["subCode"],
        "upm.pluginInstall.error.response.exception"
    );
}

#[tokio::test]
async fn permissions_and_gates() {
    let sim = start(SimConfig::jira_demo().user("jadmin", "pw", false)).await;
    let jadmin = ("jadmin", "pw");
    let jar = build_plugin_jar("com.example.gated", "Gated", "1.0", false);

    // A non-sysadmin admin may not upload (401) and an install-by-URI fails inside the task.
    let token = token_for(&sim, jadmin).await;
    let refused = upm_as(&sim, jadmin, Method::POST, &format!("?token={token}"))
        .multipart(jar_form(jar.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let uri = format!(
        "{}download/apps/6572/version/1007300",
        sim.marketplace_url()
    );
    let accepted = install_uri(&sim, jadmin, &token_for(&sim, jadmin).await, &uri).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let body: Value = finish(&sim, &accepted).await.json().await.unwrap();
    assert_eq!(
        body["status"]["subCode"],
        "upm.pluginInstall.error.install.unpermitted"
    );

    sim.set_upload_enabled(false);
    let gated = upload(
        &sim,
        &self::token(&sim).await,
        "application/json",
        jar.clone(),
    )
    .await;
    assert_eq!(gated.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        gated.text().await.unwrap(),
        "Plugins cannot be installed via upload"
    );
    // Install by URI is not affected by the upload gate.
    let accepted = install_uri(&sim, ("admin", "admin"), &self::token(&sim).await, &uri).await;
    assert_eq!(
        finish(&sim, &accepted).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        sim.plugin("is.origo.jira.tempo-plugin").unwrap().version,
        "17.3.0"
    );
    sim.set_upload_enabled(true);

    sim.set_safe_mode(true);
    let safe = upload(
        &sim,
        &self::token(&sim).await,
        "application/json",
        jar.clone(),
    )
    .await;
    assert_eq!(safe.status(), StatusCode::CONFLICT);
    assert_eq!(
        content_type(&safe),
        "application/vnd.atl.plugins.task.error+json"
    );
    sim.set_safe_mode(false);

    let wrong_type = upm(
        &sim,
        Method::POST,
        &format!("?token={}", self::token(&sim).await),
    )
    .header(CONTENT_TYPE, "application/json")
    .body("{}")
    .send()
    .await
    .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let no_part = upm(
        &sim,
        Method::POST,
        &format!("?token={}", self::token(&sim).await),
    )
    .multipart(Form::new().text("url", ""))
    .send()
    .await
    .unwrap();
    assert_eq!(no_part.status(), StatusCode::BAD_REQUEST);
}
