//! The simulated UPM read/modify surface: auth, content negotiation, `-key` paths, plugins,
//! uninstall, licenses, safe mode and product info, driven over HTTP with reqwest.

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use upmsync_sim::{SeedPlugin, Sim, SimConfig, SimServer, UPM_KEY};

use crate::support::{client, content_type, start, upm, upm_url};

const SCRIPTRUNNER: &str = "com.onresolve.jira.groovy.groovyrunner";
const PDF: &str = "com.midori.jira.plugin.pdfview";
const LICENSE_TYPE: &str = "application/vnd.atl.plugins+json";

fn anonymous(sim: &Sim, method: Method, path: &str) -> RequestBuilder {
    client().request(method, upm_url(sim, path))
}

#[tokio::test]
async fn collection_lists_plugins_sorted_with_relative_links_and_a_token() {
    let sim = start(SimConfig::jira_demo()).await;
    assert!(sim.upm_url().as_str().ends_with("/jira/"));

    let response = upm(&sim, Method::GET, "")
        .header(ACCEPT, "application/vnd.atl.plugins.installed+json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        content_type(&response),
        "application/vnd.atl.plugins.installed+json"
    );
    let token = response.headers()["upm-token"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        token.parse::<i64>().is_ok(),
        "token {token} is a decimal i64"
    );
    assert_eq!(response.headers()["x-ausername"], "admin");
    assert_eq!(response.headers()["x-seraph-loginreason"], "OK");
    assert!(response.headers().contains_key("x-arequestid"));
    let body: Value = response.json().await.unwrap();

    let plugins = body["plugins"].as_array().unwrap();
    let names: Vec<String> = plugins
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(body["links"]["self"], "/jira/rest/plugins/1.0/");
    assert_eq!(
        body["links"]["enter-safe-mode"],
        "/jira/rest/plugins/1.0/safe-mode"
    );

    let scriptrunner = plugins.iter().find(|p| p["key"] == SCRIPTRUNNER).unwrap();
    assert_eq!(scriptrunner["version"], "8.20.0");
    assert_eq!(scriptrunner["userInstalled"], true);
    assert_eq!(scriptrunner["usesLicensing"], true);
    assert_eq!(
        scriptrunner["links"]["self"],
        format!("/jira/rest/plugins/1.0/{SCRIPTRUNNER}-key")
    );
    assert_eq!(
        scriptrunner["links"]["delete"],
        format!("/jira/rest/plugins/1.0/{SCRIPTRUNNER}-key")
    );
    assert!(scriptrunner["links"]["manage"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    // Null fields are omitted, not sent as null.
    let retired = plugins
        .iter()
        .find(|p| p["key"] == "com.example.retired")
        .unwrap();
    assert!(retired.get("description").is_none() && retired.get("vendor").is_none());
    let system = plugins.iter().find(|p| p["key"] == UPM_KEY).unwrap();
    assert_eq!(system["userInstalled"], false);
    assert!(system["links"].get("delete").is_none());

    // The same token until used; HEAD gives it too, with an empty body.
    let head = upm(&sim, Method::HEAD, "").send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["upm-token"].to_str().unwrap(), token);
    assert!(head.bytes().await.unwrap().is_empty());

    // Without the trailing slash there is no collection; the `latest` alias works.
    let no_slash = client()
        .get(sim.upm_url().join("rest/plugins/1.0").unwrap())
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_slash.status(), StatusCode::NOT_FOUND);
    let latest = client()
        .get(sim.upm_url().join("rest/plugins/latest/").unwrap())
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(latest.status(), StatusCode::OK);
}

#[tokio::test]
async fn unauthenticated_requests_get_the_rest_status_entity() {
    let sim = start(SimConfig::empty().personal_access_token("pat-123", "admin")).await;

    let xml = anonymous(&sim, Method::GET, "").send().await.unwrap();
    assert_eq!(xml.status(), StatusCode::UNAUTHORIZED);
    assert!(xml.headers().get("x-seraph-loginreason").is_none());
    let text = xml.text().await.unwrap();
    assert!(text.contains("<status-code>401</status-code>"), "{text}");

    // JAX-RS negotiates before the auth filter: a bare `application/json` is a 406 here, so ask
    // for JSON next to a wildcard.
    let json = anonymous(&sim, Method::GET, "")
        .header(ACCEPT, "application/json, */*")
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::UNAUTHORIZED);
    let body: Value = json.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "Client must be authenticated to access this resource.", "status-code": 401})
    );

    let wrong = anonymous(&sim, Method::GET, "")
        .basic_auth("admin", Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.headers()["x-seraph-loginreason"],
        "AUTHENTICATED_FAILED"
    );

    let bearer = anonymous(&sim, Method::GET, "")
        .bearer_auth("pat-123")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);
    let bad_bearer = anonymous(&sim, Method::GET, "")
        .bearer_auth("pat-999")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_bearer.status(), StatusCode::UNAUTHORIZED);

    // The log keeps the scheme, never the credential.
    let log = sim.requests();
    assert_eq!(log.len(), 5);
    assert!(log
        .iter()
        .all(|request| request.server == SimServer::Upm && !request.is_mutating()));
    assert_eq!(log[3].auth_scheme.as_deref(), Some("Bearer"));
    assert_eq!(log[3].status, 200);
    assert_eq!(log[2].auth_scheme.as_deref(), Some("Basic"));
    assert!(!format!("{log:?}").contains("pat-123"));
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn accept_content_type_and_key_paths_are_checked() {
    let sim = start(SimConfig::jira_demo()).await;
    let path = format!("{SCRIPTRUNNER}-key");

    let json_accept = upm(&sim, Method::GET, &path)
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json_accept.status(), StatusCode::NOT_ACCEPTABLE);
    for accept in [
        "*/*",
        "application/*",
        "application/vnd.atl.plugins.plugin+json",
    ] {
        let response = upm(&sim, Method::GET, &path)
            .header(ACCEPT, accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{accept}");
    }
    let plugin: Value = upm(&sim, Method::GET, &format!("{path}/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plugin["key"], SCRIPTRUNNER);
    assert_eq!(plugin["modules"], json!([]));

    let summary = upm(&sim, Method::GET, &format!("{path}/summary"))
        .send()
        .await
        .unwrap();
    assert_eq!(content_type(&summary), LICENSE_TYPE);

    let wrong_type = upm(&sim, Method::PUT, &path)
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"enabled":false}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let no_suffix = upm(&sim, Method::GET, SCRIPTRUNNER).send().await.unwrap();
    assert_eq!(no_suffix.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        content_type(&no_suffix),
        "application/vnd.atl.plugins.task.error+json"
    );
    let body: Value = no_suffix.json().await.unwrap();
    assert!(body["errorMessage"].is_string());

    let unknown = upm(&sim, Method::GET, "com.example.nothing-key")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown.bytes().await.unwrap().is_empty());

    // Keys are percent-decoded path segments.
    let encoded = upm(&sim, Method::GET, "com%2Eexample%2Eretired-key")
        .send()
        .await
        .unwrap();
    assert_eq!(encoded.status(), StatusCode::OK);
}

#[tokio::test]
async fn enable_disable_and_uninstall_follow_upm_rules() {
    let config = SimConfig::jira_demo()
        .plugin(SeedPlugin::user("com.example.pinned", "Pinned", "1.0").not_uninstallable())
        .user("jadmin", "pw", false);
    let sim = start(config).await;
    let plugin_type = "application/vnd.atl.plugins.plugin+json";

    let disabled = upm(&sim, Method::PUT, "com.example.sandbox-key")
        .header(CONTENT_TYPE, plugin_type)
        .body(r#"{"enabled":false}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    assert_eq!(disabled.json::<Value>().await.unwrap()["enabled"], false);
    assert!(!sim.plugin("com.example.sandbox").unwrap().enabled);

    let missing = upm(&sim, Method::PUT, "com.example.sandbox-key")
        .header(CONTENT_TYPE, plugin_type)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::INTERNAL_SERVER_ERROR);

    let upm_itself = upm(&sim, Method::PUT, &format!("{UPM_KEY}-key"))
        .header(CONTENT_TYPE, plugin_type)
        .body(r#"{"enabled":false}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(upm_itself.status(), StatusCode::CONFLICT);
    let body: Value = upm_itself.json().await.unwrap();
    assert_eq!(
        body["subCode"],
        "upm.plugin.error.invalid.upm.plugin.action"
    );

    let system = upm(
        &sim,
        Method::DELETE,
        "com.atlassian.jira.jira-software-application-key",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(system.status(), StatusCode::FORBIDDEN);
    let body: Value = system.json().await.unwrap();
    assert_eq!(
        body["subCode"],
        "upm.pluginUninstall.error.plugin.is.system"
    );

    let pinned = upm(&sim, Method::DELETE, "com.example.pinned-key")
        .send()
        .await
        .unwrap();
    assert_eq!(pinned.status(), StatusCode::FORBIDDEN);
    let body: Value = pinned.json().await.unwrap();
    assert_eq!(
        body["subCode"],
        "upm.pluginUninstall.error.plugin.not.uninstallable"
    );

    let upm_delete = upm(&sim, Method::DELETE, &format!("{UPM_KEY}-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(upm_delete.status(), StatusCode::METHOD_NOT_ALLOWED);

    let not_sysadmin = anonymous(&sim, Method::DELETE, "com.example.retired-key")
        .basic_auth("jadmin", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(not_sysadmin.status(), StatusCode::UNAUTHORIZED);

    sim.set_safe_mode(true);
    let in_safe_mode = upm(&sim, Method::DELETE, "com.example.retired-key")
        .send()
        .await
        .unwrap();
    assert_eq!(in_safe_mode.status(), StatusCode::CONFLICT);
    sim.set_safe_mode(false);

    let deleted = upm(&sim, Method::DELETE, "com.example.retired-key")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(sim.plugin("com.example.retired").is_none());
    let again = upm(&sim, Method::DELETE, "com.example.retired-key")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    let mutating: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.is_mutating())
        .collect();
    assert_eq!(mutating.len(), 10);
}

async fn put_license(sim: &Sim, key: &str, raw: &str) -> reqwest::Response {
    upm(sim, Method::PUT, &format!("{key}-key/license"))
        .header(CONTENT_TYPE, LICENSE_TYPE)
        .json(&json!({ "rawLicense": raw }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn licenses_follow_upm_rules() {
    let sim = start(SimConfig::jira_demo()).await;

    // GET is always 200, even without a license or plugin.
    for key in [PDF, "com.example.nothing"] {
        let response = upm(&sim, Method::GET, &format!("{key}-key/license"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(content_type(&response), LICENSE_TYPE);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["pluginKey"], key);
        assert_eq!(
            (body["valid"].clone(), body["active"].clone()),
            (json!(false), json!(false))
        );
        assert!(body.get("rawLicense").is_none());
    }
    let current: Value = upm(&sim, Method::GET, &format!("{SCRIPTRUNNER}-key/license"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["rawLicense"], "demo-old-scriptrunner-license");
    assert_eq!(current["licenseType"], "COMMERCIAL");
    assert!(current["expiryDate"].is_u64());

    let wrong_type = upm(&sim, Method::PUT, &format!("{SCRIPTRUNNER}-key/license"))
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"rawLicense":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(
        put_license(&sim, "com.example.nothing", "x").await.status(),
        StatusCode::NOT_FOUND
    );
    let not_licensed = put_license(&sim, "com.example.sandbox", "x").await;
    assert_eq!(not_licensed.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        not_licensed.json::<Value>().await.unwrap()["subCode"],
        "upm.plugin.error.plugin.not.using.licensing"
    );
    for raw in ["demo-old-scriptrunner-license", "  "] {
        let refused = put_license(&sim, SCRIPTRUNNER, raw).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            refused.json::<Value>().await.unwrap()["subCode"],
            "upm.plugin.license.error.invalid.update"
        );
    }

    let replaced = put_license(&sim, SCRIPTRUNNER, "new-license\nline 2").await;
    assert_eq!(replaced.status(), StatusCode::OK);
    assert_eq!(
        replaced.json::<Value>().await.unwrap()["rawLicense"],
        "new-license\nline 2"
    );
    assert_eq!(
        sim.license(SCRIPTRUNNER).as_deref(),
        Some("new-license\nline 2")
    );
    assert_eq!(
        put_license(&sim, PDF, "pdf-license").await.status(),
        StatusCode::OK
    );

    let deleted = upm(&sim, Method::DELETE, &format!("{SCRIPTRUNNER}-key/license"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(
        deleted.json::<Value>().await.unwrap()["rawLicense"],
        "new-license\nline 2"
    );
    assert_eq!(sim.license(SCRIPTRUNNER), None);
    let nothing_left: Value = upm(&sim, Method::DELETE, &format!("{SCRIPTRUNNER}-key/license"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(nothing_left["valid"], false);
    let unknown = upm(&sim, Method::DELETE, "com.example.nothing-key/license")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn safe_mode_over_rest_disables_and_restores_user_plugins() {
    let sim = start(SimConfig::jira_demo()).await;
    let flag = "application/vnd.atl.plugins.safe.mode.flag+json";
    let get: Value = upm(&sim, Method::GET, "safe-mode")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get["enabled"], false);

    let enter = upm(&sim, Method::PUT, "safe-mode")
        .header(CONTENT_TYPE, flag)
        .body(r#"{"enabled":true,"links":{}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(enter.status(), StatusCode::OK);
    let body: Value = enter.json().await.unwrap();
    assert_eq!(
        body["links"]["exit-safe-mode-restore"],
        "/jira/rest/plugins/1.0/safe-mode?keepState=false"
    );
    assert!(!sim.plugin(SCRIPTRUNNER).unwrap().enabled);
    assert!(sim.plugin(UPM_KEY).unwrap().enabled);

    let again = upm(&sim, Method::PUT, "safe-mode")
        .header(CONTENT_TYPE, flag)
        .body(r#"{"enabled":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);

    let exit = upm(&sim, Method::PUT, "safe-mode?keepState=false")
        .header(CONTENT_TYPE, flag)
        .body(r#"{"enabled":false}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(exit.status(), StatusCode::OK);
    assert!(sim.plugin(SCRIPTRUNNER).unwrap().enabled);
}

#[tokio::test]
async fn root_context_path_and_product_info() {
    let sim = start(
        SimConfig::empty()
            .context_path("")
            .product_build("10.3.4", 10_030_004),
    )
    .await;
    let base = sim.upm_url();
    assert_eq!(base.path(), "/");

    let list: Value = upm(&sim, Method::GET, "")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["links"]["self"], "/rest/plugins/1.0/");
    assert_eq!(list["plugins"].as_array().unwrap().len(), 1);

    let info: Value = client()
        .get(base.join("rest/api/2/serverInfo").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["version"], "10.3.4");
    assert_eq!(info["buildNumber"], 10_030_004);
    assert_eq!(info["versionNumbers"], json!([10, 3, 4]));
    assert_eq!(info["baseUrl"], base.as_str().trim_end_matches('/'));

    let manifest: Value = client()
        .get(base.join("rest/applinks/1.0/manifest").unwrap())
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(manifest["typeId"], "jira");
    let xml = client()
        .get(base.join("rest/applinks/1.0/manifest").unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.contains("<buildNumber>10030004</buildNumber>"));
    sim.shutdown().await;
}

#[tokio::test]
async fn installed_marketplace_lists_marketplace_apps_with_their_licenses() {
    let sim = start(SimConfig::jira_demo()).await;
    let response = upm(&sim, Method::GET, "installed-marketplace")
        .header(ACCEPT, LICENSE_TYPE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(content_type(&response), LICENSE_TYPE);
    assert!(response.headers().contains_key("upm-token"));
    let body: Value = response.json().await.unwrap();
    let plugins = body["plugins"].as_array().unwrap();
    let keys: Vec<&str> = plugins
        .iter()
        .map(|plugin| plugin["key"].as_str().unwrap())
        .collect();
    // The user-installed apps the Marketplace lists; no system app, no in-house app.
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, [PDF, SCRIPTRUNNER, "is.origo.jira.tempo-plugin"]);
    let details = |key: &str| {
        plugins
            .iter()
            .find(|plugin| plugin["key"] == key)
            .unwrap()
            .get("licenseDetails")
            .cloned()
    };
    // The license representation of §5.10, `rawLicense` included; none without a license.
    let licensed = details(SCRIPTRUNNER).expect("a licensed app has licenseDetails");
    assert_eq!(licensed["rawLicense"], "demo-old-scriptrunner-license");
    assert_eq!(licensed["pluginKey"], SCRIPTRUNNER);
    assert_eq!(licensed["valid"], true);
    assert_eq!(details(PDF), None);
    // A license set later shows at once.
    assert_eq!(put_license(&sim, PDF, "pdf-license").await.status(), 200);
    let body: Value = upm(&sim, Method::GET, "installed-marketplace")
        .header(ACCEPT, LICENSE_TYPE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pdf = body["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|plugin| plugin["key"] == PDF)
        .unwrap()
        .clone();
    assert_eq!(pdf["licenseDetails"]["rawLicense"], "pdf-license");
    // Without credentials: 401, like every other UPM read.
    let anonymous = anonymous(&sim, Method::GET, "installed-marketplace")
        .header(ACCEPT, LICENSE_TYPE)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
