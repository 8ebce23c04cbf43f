//! The simulator's UPM 8 signature check (upm-rest-api.md §5.7): unsigned uploads are refused with
//! 403, Marketplace installs by URI still work, and the upload gate and safe mode keep their say.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use upmsync_sim::jar::build_plugin_jar;
use upmsync_sim::{Sim, SimConfig};

use crate::support::{finish_task, start as start_sim, token, upm};

const INSTALL_URI: &str = "application/vnd.atl.plugins.install.uri+json";
const TEMPO: &str = "is.origo.jira.tempo-plugin";

/// The demo Jira, install tasks taking 30 ms.
async fn start() -> Sim {
    start_sim(SimConfig::jira_demo().task_delay(Duration::from_millis(30))).await
}

async fn upload(sim: &Sim, bytes: Vec<u8>) -> Response {
    upm(sim, Method::POST, &format!("?token={}", token(sim).await))
        .header(ACCEPT, "application/json")
        .multipart(Form::new().part("plugin", Part::bytes(bytes).file_name("upload.jar")))
        .send()
        .await
        .unwrap()
}

async fn install_uri(sim: &Sim, uri: &str) -> Response {
    upm(sim, Method::POST, &format!("?token={}", token(sim).await))
        .header(CONTENT_TYPE, INSTALL_URI)
        .header(ACCEPT, "application/json")
        .body(json!({ "pluginUri": uri }).to_string())
        .send()
        .await
        .unwrap()
}

fn jar() -> Vec<u8> {
    build_plugin_jar("com.example.unsigned", "Unsigned", "1.0.0", false)
}

#[tokio::test]
async fn signature_check_refuses_uploads_with_403_but_not_marketplace_installs() {
    let sim = start().await;

    // Off by default: an upload installs.
    let accepted = upload(&sim, jar()).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(finish_task(&accepted).await.status(), StatusCode::SEE_OTHER);
    assert!(sim.plugin("com.example.unsigned").is_some());

    sim.set_signature_check(true);
    let refused = upload(
        &sim,
        build_plugin_jar("com.example.unsigned2", "Unsigned 2", "1.0.0", false),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.text().await.unwrap(), "Signature check failed!");
    assert!(sim.plugin("com.example.unsigned2").is_none());
    let mutating: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|request| request.is_mutating())
        .map(|request| request.status)
        .collect();
    assert_eq!(mutating, vec![202, 403]);

    // Marketplace artifacts are signed: install by URI from the Marketplace still works.
    let uri = format!(
        "{}download/apps/6572/version/1007300",
        sim.marketplace_url()
    );
    let accepted = install_uri(&sim, &uri).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(finish_task(&accepted).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(sim.plugin(TEMPO).unwrap().version, "17.3.0");

    // An unsigned jar by URI from elsewhere fails inside its task.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unsigned3.jar");
    std::fs::write(
        &path,
        build_plugin_jar("com.example.unsigned3", "Unsigned 3", "1.0.0", false),
    )
    .unwrap();
    let file_uri = url::Url::from_file_path(&path).unwrap();
    let accepted = install_uri(&sim, file_uri.as_str()).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let body: Value = finish_task(&accepted).await.json().await.unwrap();
    assert_eq!(body["status"]["errorMessage"], "Signature check failed!");
    assert!(sim.plugin("com.example.unsigned3").is_none());

    // Off again: uploads work again.
    sim.set_signature_check(false);
    let accepted = upload(
        &sim,
        build_plugin_jar("com.example.unsigned2", "Unsigned 2", "1.0.0", false),
    )
    .await;
    assert_eq!(finish_task(&accepted).await.status(), StatusCode::SEE_OTHER);
    assert!(sim.plugin("com.example.unsigned2").is_some());
}

#[tokio::test]
async fn upload_gate_and_safe_mode_still_answer_first() {
    let sim = start().await;
    sim.set_signature_check(true);

    sim.set_upload_enabled(false);
    let gated = upload(&sim, jar()).await;
    assert_eq!(gated.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        gated.text().await.unwrap(),
        "Plugins cannot be installed via upload"
    );
    sim.set_upload_enabled(true);

    sim.set_safe_mode(true);
    let safe = upload(&sim, jar()).await;
    assert_eq!(safe.status(), StatusCode::CONFLICT);
    let uri = format!(
        "{}download/apps/6572/version/1007300",
        sim.marketplace_url()
    );
    assert_eq!(install_uri(&sim, &uri).await.status(), StatusCode::CONFLICT);
    sim.set_safe_mode(false);

    let refused = upload(&sim, jar()).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.text().await.unwrap(), "Signature check failed!");
    assert!(sim.plugin("com.example.unsigned").is_none());
}
