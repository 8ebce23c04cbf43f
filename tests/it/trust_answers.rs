//! Issue 8, part C: no secret comes back through a server (a server that echoes the request is
//! scrubbed), and every answer is read with a cap (an endless body is an error naming the URL).

use crate::support::*;
use base64::Engine;
use upmsync::model::{AppKey, Credentials, Secret, Version};
use upmsync::scrub::REDACTED;
use upmsync::upm::UpmClient;
use upmsync_sim::{Fault, FaultRule, SimServer};

const USER: &str = "ops-robot";
const PASSWORD_ECHOED: &str = "Tr0ub4dor-echo-pw";
const LICENSE: &str =
    "AAABechoedLICENSEline1xyz\nAAABechoedLICENSEline2xyz\nAAABechoedLICENSEline3xyz";

fn basic() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD_ECHOED}"))
}

/// Asserts that no form of this test's secrets is in `text`, and that something was redacted
/// (so the server did echo them and the echo reached the text).
fn assert_scrubbed(text: &str) {
    for secret in [
        PASSWORD_ECHOED.to_string(),
        basic(),
        "LICENSEline".to_string(),
    ] {
        assert!(!text.contains(&secret), "`{secret}` leaked in: {text}");
    }
    assert!(text.contains(REDACTED), "nothing was redacted: {text}");
}

async fn echoing_sim(rule: FaultRule) -> upmsync_sim::Sim {
    let sim = start(small_jira().user(USER, PASSWORD_ECHOED, true)).await;
    sim.set_faults(faults(vec![rule]));
    sim
}

fn ops_instance(
    sim: &upmsync_sim::Sim,
    apps: Vec<upmsync::model::DesiredApp>,
) -> upmsync::model::DesiredInstance {
    let mut instance = instance(sim, apps);
    instance.credentials = Credentials::Basic {
        username: USER.into(),
        password: Secret::new(PASSWORD_ECHOED),
    };
    instance
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echoed_authorization_header_is_scrubbed_from_errors() {
    let sim = echoing_sim(
        FaultRule::new(Fault::EchoRequest { status: 400 })
            .server(SimServer::Upm)
            .method("GET")
            .path("/rest/plugins/1.0/$"),
    )
    .await;
    let instance = ops_instance(&sim, vec![]);
    let upm = UpmClient::new(&instance, &upmsync::http::HttpSettings::default()).unwrap();
    let error = upm.list_plugins().await.unwrap_err().to_string();
    assert!(error.contains("400"), "{error}");
    assert_scrubbed(&error);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echoed_license_and_upm_token_are_scrubbed_from_the_report() {
    let sim = echoing_sim(
        FaultRule::new(Fault::EchoRequest { status: 409 })
            .server(SimServer::Upm)
            .method("PUT")
            .path("/license"),
    )
    .await;
    let desired = desired(
        &sim,
        vec![ops_instance(
            &sim,
            vec![with_license(present("com.vendor.alpha", "1.0.0"), LICENSE)],
        )],
    );
    let plan = plan_one(&desired).await;
    assert!(!plan.changes.is_empty(), "the license is to be set");
    let report = apply_plan(&desired, &plan).await;
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("409"), "{json}");
    assert_scrubbed(&json);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echoed_install_request_is_scrubbed() {
    // The install POST carries the upm-token in its query; the echo sends it back.
    let sim = echoing_sim(
        FaultRule::new(Fault::EchoRequest { status: 400 })
            .server(SimServer::Upm)
            .method("POST"),
    )
    .await;
    let desired = desired(
        &sim,
        vec![ops_instance(
            &sim,
            vec![present("com.vendor.delta", "1.0.0")],
        )],
    );
    let plan = plan_one(&desired).await;
    let report = apply_plan(&desired, &plan).await;
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("400"), "{json}");
    // The token is a fresh random value: the echo holds it only in its scrubbed form.
    assert!(json.contains("token=[redacted]"), "{json}");
    assert_scrubbed(&json);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_upm_answer_is_an_error_naming_the_url() {
    let sim = echoing_sim(
        FaultRule::new(Fault::EndlessBody)
            .server(SimServer::Upm)
            .method("GET")
            .path("/rest/plugins/1.0/$"),
    )
    .await;
    let instance = ops_instance(&sim, vec![]);
    let upm = UpmClient::new(&instance, &upmsync::http::HttpSettings::default()).unwrap();
    let error = upm.list_plugins().await.unwrap_err().to_string();
    assert!(error.contains("/rest/plugins/1.0/"), "{error}");
    assert!(error.contains("32 MiB"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_marketplace_answer_is_an_error_naming_the_url() {
    let sim = echoing_sim(FaultRule::new(Fault::EndlessBody).server(SimServer::Marketplace)).await;
    let marketplace = upmsync::marketplace::MarketplaceClient::new(
        &sim.marketplace_url(),
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    let error = marketplace
        .resolve(
            &AppKey::new("com.vendor.alpha"),
            &Version::from_server("1.0.0"),
            upmsync::model::Hosting::Datacenter,
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("/rest/2/addons/com.vendor.alpha"), "{error}");
    assert!(error.contains("32 MiB"), "{error}");
}
