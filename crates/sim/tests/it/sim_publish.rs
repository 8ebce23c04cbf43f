//! Publishing on the simulated Marketplace: the asset upload, the version create with its
//! validation errors, private versions, and faults on the publishing POSTs.

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use upmsync_sim::jar::{build_obr, build_plugin_jar};
use upmsync_sim::{
    Fault, FaultPlan, FaultRule, SeedMarketplaceApp, Sim, SimConfig, SimServer, PUBLISHER_EMAIL,
    PUBLISHER_TOKEN,
};

use crate::support::{client, start};

const APP: &str = "com.example.publish-me";
const APP_ID: u64 = 4242;

/// A Marketplace with one listing of two seeded versions.
fn config() -> SimConfig {
    SimConfig::empty().marketplace_app(SeedMarketplaceApp::new(
        APP,
        "Publish Me",
        APP_ID,
        [("1.0.0", 100), ("1.1.0", 110)],
    ))
}

fn jar(version: &str) -> Vec<u8> {
    build_plugin_jar(APP, "Publish Me", version, false)
}

/// A request to the Marketplace at `path` (absolute path with query), as the publisher.
fn publisher(sim: &Sim, method: Method, path: &str) -> RequestBuilder {
    anonymous(sim, method, path).basic_auth(PUBLISHER_EMAIL, Some(PUBLISHER_TOKEN))
}

fn anonymous(sim: &Sim, method: Method, path: &str) -> RequestBuilder {
    let url = sim
        .marketplace_url()
        .join(path.trim_start_matches('/'))
        .unwrap();
    client().request(method, url)
}

/// The upload's media type on `request`.
fn octets(request: RequestBuilder) -> RequestBuilder {
    request.header(CONTENT_TYPE, "application/octet-stream")
}

async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Uploads `bytes` as `file`; the asset self link.
async fn upload(sim: &Sim, file: &str, bytes: Vec<u8>) -> String {
    let (status, body) = send(
        publisher(
            sim,
            Method::POST,
            &format!("/rest/2/assets/artifact?file={file}"),
        )
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(bytes),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["_links"]["self"]["href"].as_str().unwrap().to_string()
}

/// The contract's version document for `name`/`build` with artifact `href`.
fn document(href: &str, name: &str, build: u64, status: &str) -> Value {
    json!({
        "_links": {"artifact": {"href": href},
                   "agreement": {"href": "http://www.atlassian.com/licensing/marketplace/publisheragreement"}},
        "buildNumber": build, "name": name, "status": status, "paymentModel": "free",
        "release": {"date": "2026-12-01", "beta": false, "supported": false},
        "compatibilities": [{"application": "jira", "hosting": {"dataCenter": {"min": {"build": 9_000_000}, "max": {"build": 10_000_000}}}}],
        "text": {"releaseSummary": "Faster", "releaseNotes": "<p>Faster.</p>"},
        "deployment": {"server": false, "cloud": false, "connect": false, "dataCenter": true, "dataCenterStatus": "compatible"},
    })
}

async fn create(sim: &Sim, document: &Value) -> reqwest::Response {
    publisher(sim, Method::POST, &format!("/rest/2/addons/{APP}/versions"))
        .json(document)
        .send()
        .await
        .unwrap()
}

/// Uploads a jar of `name` and publishes it; the 201's `Location`.
async fn publish(sim: &Sim, name: &str, build: u64, status: &str) -> String {
    let href = upload(sim, &format!("publish-me-{name}.jar"), jar(name)).await;
    let response = create(sim, &document(&href, name, build, status)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.headers()[LOCATION].to_str().unwrap().to_string()
}

fn errors(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["path"].as_str().unwrap_or_default().to_string(),
                error["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn paths(body: &Value) -> Vec<String> {
    errors(body).into_iter().map(|(path, _)| path).collect()
}

#[tokio::test]
async fn discovery_leads_to_the_upload_and_the_create() {
    let sim = start(config()).await;
    let (_, root) = send(anonymous(&sim, Method::GET, "/rest/2")).await;
    let assets = root["_links"]["assets"]["href"].as_str().unwrap();
    let (status, assets) = send(anonymous(&sim, Method::GET, assets)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        assets,
        json!({"_links": {"self": {"href": "/rest/2/assets"},
                          "artifact": {"href": "/rest/2/assets/artifact"},
                          "fetchArtifact": {"href": "/rest/2/assets/artifact/fetch"},
                          "imageByType": {"href": "/rest/2/assets/image/{imageType}", "templated": true}}})
    );
}

#[tokio::test]
async fn a_published_version_resolves_and_downloads_like_a_seeded_one() {
    let sim = start(config()).await;
    let bytes = jar("1.2.0");
    let href = upload(&sim, "publish-me-1.2.0.jar", bytes.clone()).await;
    assert!(
        href.starts_with("/rest/2/assets/artifact%2F") && href.ends_with("%2Fpublish-me-1.2.0.jar"),
        "{href}"
    );
    // The asset reads like a seeded one.
    let (status, asset) = send(anonymous(&sim, Method::GET, &href)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(asset["fileInfo"]["logicalFileName"], "publish-me-1.2.0.jar");
    assert_eq!(asset["fileInfo"]["size"], bytes.len());

    let response = create(&sim, &document(&href, "1.2.0", 120, "public")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.headers()[LOCATION],
        format!("/rest/2/addons/{APP}/versions/build/120")
    );
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["name"], "1.2.0");
    assert_eq!(created["buildNumber"], 120);
    assert_eq!(created["status"], "public");
    assert_eq!(created["paymentModel"], "free");
    assert_eq!(created["_links"]["artifact"]["href"], href.as_str());
    assert_eq!(created["text"]["releaseNotes"], "<p>Faster.</p>");
    assert_eq!(created["release"]["date"], "2026-12-01");
    // A bound gets its product version where the Marketplace knows the build (Jira 10.0.0).
    assert_eq!(
        created["compatibilities"],
        json!([{"application": "jira", "hosting": {"dataCenter": {
            "min": {"build": 9_000_000}, "max": {"build": 10_000_000, "version": "10.0.0"}}}}])
    );

    let versions = format!("/rest/2/addons/{APP}/versions");
    for path in [
        format!("{versions}/build/120"),
        format!("{versions}/name/1.2.0?hosting=datacenter"),
        format!("{versions}/latest?application=jira&applicationBuild=9120015&hosting=datacenter"),
        format!("{versions}/latest"),
    ] {
        let (status, version) = send(anonymous(&sim, Method::GET, &path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(version["name"], "1.2.0", "{path}");
        assert_eq!(version, created, "{path}");
    }
    let (_, list) = send(anonymous(&sim, Method::GET, &versions)).await;
    assert_eq!(list["count"], 3);
    assert_eq!(list["_embedded"]["versions"][0]["name"], "1.2.0");
    // Outside the posted range, the compatibility filter leaves it out.
    let (_, old) = send(anonymous(
        &sim,
        Method::GET,
        &format!("{versions}/latest?application=jira&applicationBuild=805002&hosting=datacenter"),
    ))
    .await;
    assert_eq!(old["name"], "1.1.0");
    let (status, _) = send(anonymous(
        &sim,
        Method::GET,
        &format!("{versions}/latest?application=confluence&hosting=datacenter"),
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The binary link downloads the uploaded bytes, by app id and by key.
    let binary = created["_embedded"]["artifact"]["_links"]["binary"]["href"]
        .as_str()
        .unwrap();
    assert_eq!(
        binary,
        format!(
            "{}download/apps/{APP_ID}/version/120",
            sim.marketplace_url()
        )
    );
    for url in [
        binary.to_string(),
        format!(
            "{}download/plugins/{APP}/version/120",
            sim.marketplace_url()
        ),
    ] {
        let response = client().get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("publish-me-1.2.0.jar"));
        assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
    // Seeded versions keep their release dates.
    let (_, seeded) = send(anonymous(
        &sim,
        Method::GET,
        &format!("{versions}/build/110"),
    ))
    .await;
    assert_eq!(seeded["release"]["date"], "2025-12-15");

    let published = sim.published_versions(APP);
    assert_eq!(published.len(), 1);
    assert_eq!(
        (
            published[0].name.as_str(),
            published[0].build_number,
            published[0].status.as_str()
        ),
        ("1.2.0", 120, "public")
    );
}

#[tokio::test]
async fn an_obr_is_accepted_and_a_non_plugin_is_refused() {
    let sim = start(config()).await;
    let obr = build_obr(&jar("2.0.0"), &[("dep.jar", b"not read")]);
    let href = upload(&sim, "publish-me-2.0.0.obr", obr.clone()).await;
    assert!(href.ends_with("%2Fpublish-me-2.0.0.obr"), "{href}");
    let response = create(&sim, &document(&href, "2.0.0", 200, "public")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let download = client()
        .get(format!(
            "{}download/apps/{APP_ID}/version/200",
            sim.marketplace_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(download.bytes().await.unwrap().as_ref(), obr.as_slice());

    for (file, bytes) in [
        ("readme.jar", b"just text, not a zip".to_vec()),
        ("publish-me.zip", jar("2.0.1")),
        ("publish-me.jar", Vec::new()),
        ("dir%2Fpublish-me.jar", jar("2.0.1")),
        ("publish%22me.jar", jar("2.0.1")),
    ] {
        let (status, body) = send(
            publisher(
                &sim,
                Method::POST,
                &format!("/rest/2/assets/artifact?file={file}"),
            )
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(bytes),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{file}: {body}");
        let named = file.replace("%2F", "/").replace("%22", "\"");
        assert!(
            errors(&body)[0].1.contains(&named),
            "{file}: the message names the file: {body}"
        );
    }
    let (status, _) = send(
        publisher(&sim, Method::POST, "/rest/2/assets/artifact")
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(jar("2.0.1")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no file name");
}

#[tokio::test]
async fn writes_need_the_publisher_and_reads_refuse_wrong_credentials() {
    let sim = start(config().publisher("me@example.com", "my-token")).await;
    let upload_path = "/rest/2/assets/artifact?file=publish-me-1.2.0.jar";
    let create_path = format!("/rest/2/addons/{APP}/versions");
    for request in [
        anonymous(&sim, Method::POST, upload_path).body(jar("1.2.0")),
        // The default account is not this simulator's publisher.
        publisher(&sim, Method::POST, upload_path).body(jar("1.2.0")),
        anonymous(&sim, Method::POST, &create_path).json(&json!({})),
        anonymous(&sim, Method::POST, &create_path)
            .basic_auth("me@example.com", Some("wrong"))
            .json(&json!({})),
        anonymous(&sim, Method::POST, &create_path)
            .bearer_auth("my-token")
            .json(&json!({})),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.unwrap();
        assert!(!body.to_string().contains("my-token"));
        assert!(errors(&body)[0].1.contains("API token"), "{body}");
    }
    // Anonymous reads work; wrong credentials on a read are refused.
    let (status, _) = send(anonymous(&sim, Method::GET, &create_path)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(publisher(&sim, Method::GET, &create_path)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The right account publishes.
    let response = octets(anonymous(&sim, Method::POST, upload_path))
        .basic_auth("me@example.com", Some("my-token"))
        .body(jar("1.2.0"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(sim.publisher_email(), "me@example.com");
    // Nothing was stored by the refused requests.
    assert!(sim.published_versions(APP).is_empty());
}

#[tokio::test]
async fn an_unknown_listing_is_404_and_other_methods_405() {
    let sim = start(config()).await;
    let (status, _) = send(
        publisher(
            &sim,
            Method::POST,
            "/rest/2/addons/com.example.nope/versions",
        )
        .json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let response = publisher(&sim, Method::POST, &format!("/rest/2/addons/{APP}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let response = publisher(&sim, Method::PUT, &format!("/rest/2/addons/{APP}/versions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_validation_error_is_reported_at_once() {
    let sim = start(config()).await;
    let (status, body) = send(
        publisher(
            &sim,
            Method::POST,
            &format!("/rest/2/addons/{APP}/versions"),
        )
        .json(&json!({"status": "secret", "paymentModel": "gratis", "buildNumber": -3})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        paths(&body),
        [
            "name",
            "buildNumber",
            "compatibilities",
            "_links.artifact",
            "status",
            "paymentModel"
        ]
    );
    let messages: Vec<String> = errors(&body).into_iter().map(|(_, m)| m).collect();
    assert!(messages[4].contains("`secret`"), "{messages:?}");

    let (status, body) = send(
        publisher(
            &sim,
            Method::POST,
            &format!("/rest/2/addons/{APP}/versions"),
        )
        .header(CONTENT_TYPE, "application/json")
        .body("{not json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(errors(&body)[0].1.contains("not JSON"), "{body}");
    assert!(sim.published_versions(APP).is_empty());
}

#[tokio::test]
async fn duplicates_and_bad_compatibilities_are_refused_field_by_field() {
    let sim = start(config()).await;
    let href = upload(&sim, "publish-me-1.1.0.jar", jar("1.1.0")).await;
    // Name and build number of a seeded version.
    let response = create(&sim, &document(&href, "1.1.0", 100, "public")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        errors(&body),
        [
            (
                "name".to_string(),
                "a version named `1.1.0` already exists".to_string()
            ),
            (
                "buildNumber".to_string(),
                "build number `100` is already used by version `1.0.0`".to_string()
            ),
        ]
    );

    // A published version's name and build count too (a private one included).
    publish(&sim, "1.2.0", 120, "private").await;
    let href = upload(&sim, "publish-me-1.2.0.jar", jar("1.2.0")).await;
    let response = create(&sim, &document(&href, "1.2.0", 120, "public")).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(paths(&body), ["name", "buildNumber"]);

    // Compatibilities: empty, min above max, unknown application, no range.
    let href = upload(&sim, "publish-me-1.3.0.jar", jar("1.3.0")).await;
    let mut empty = document(&href, "1.3.0", 130, "public");
    empty["compatibilities"] = json!([]);
    let response = create(&sim, &empty).await;
    assert_eq!(paths(&response.json().await.unwrap()), ["compatibilities"]);
    let mut wrong = document(&href, "1.3.0", 130, "public");
    wrong["compatibilities"] = json!([
        {"application": "jira", "hosting": {"dataCenter": {"min": {"build": 10}, "max": {"build": 9}}}},
        {"application": "jra", "hosting": {"dataCenter": {"min": {"build": 1}, "max": {"build": 9}}}},
        {"application": "bamboo", "hosting": {}},
    ]);
    let response = create(&sim, &wrong).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        paths(&body),
        [
            "compatibilities[0]",
            "compatibilities[1].application",
            "compatibilities[2].hosting"
        ]
    );
    assert!(errors(&body)[0].1.contains("`10`"), "{body}");

    // The artifact: not uploaded here, another app's, another version's.
    let mut foreign = document(
        "/rest/2/assets/artifact%2F00000000-0000-4000-8000-000000000000%2Fx.jar",
        "1.3.0",
        130,
        "public",
    );
    let response = create(&sim, &foreign).await;
    assert_eq!(paths(&response.json().await.unwrap()), ["_links.artifact"]);
    let other = upload(
        &sim,
        "other-1.3.0.jar",
        build_plugin_jar("com.example.other", "Other", "1.3.0", false),
    )
    .await;
    foreign["_links"]["artifact"]["href"] = json!(other);
    let response = create(&sim, &foreign).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(paths(&body), ["_links.artifact"]);
    assert!(errors(&body)[0].1.contains("com.example.other"), "{body}");
    let response = create(&sim, &document(&href, "1.3.1", 131, "public")).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        errors(&body),
        [(
            "name".to_string(),
            "the artifact is version `1.3.0`, not `1.3.1`".to_string()
        )]
    );
    // Nothing but the one good version was stored.
    assert_eq!(sim.published_versions(APP).len(), 1);
}

#[tokio::test]
async fn a_private_version_is_only_for_the_publisher_asking_for_it() {
    let sim = start(config()).await;
    let bytes = jar("1.2.0");
    let href = upload(&sim, "publish-me-1.2.0.jar", bytes.clone()).await;
    let response = create(&sim, &document(&href, "1.2.0", 120, "private")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["status"], "private");

    let versions = format!("/rest/2/addons/{APP}/versions");
    let by_build = format!("{versions}/build/120");
    let by_name = format!("{versions}/name/1.2.0");
    // Anonymous, and the publisher without includePrivate: not there.
    for private in [false, true] {
        let request = |path: &str| {
            if private {
                publisher(&sim, Method::GET, path)
            } else {
                anonymous(&sim, Method::GET, path)
            }
        };
        for path in [&by_build, &by_name] {
            let (status, _) = send(request(path)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            let (status, _) = send(anonymous(
                &sim,
                Method::GET,
                &format!("{path}?includePrivate=true"),
            ))
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "anonymous {path}");
        }
        let (_, latest) = send(request(&format!("{versions}/latest"))).await;
        assert_eq!(latest["name"], "1.1.0");
        let (_, list) = send(request(&versions)).await;
        assert_eq!(list["count"], 2);
    }
    let download = format!("download/apps/{APP_ID}/version/120");
    let (status, _) = send(anonymous(&sim, Method::GET, &download)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The publisher with includePrivate sees it everywhere.
    for path in [
        format!("{by_build}?includePrivate=true"),
        format!("{by_name}?hosting=datacenter&includePrivate=true"),
        format!("{versions}/latest?includePrivate=true"),
    ] {
        let (status, version) = send(publisher(&sim, Method::GET, &path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(version["status"], "private", "{path}");
    }
    let (_, list) = send(publisher(
        &sim,
        Method::GET,
        &format!("{versions}?includePrivate=true"),
    ))
    .await;
    assert_eq!(list["count"], 3);
    let response = publisher(&sim, Method::GET, &download)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

#[tokio::test]
async fn a_lost_answer_still_stores_and_a_failed_create_stores_nothing() {
    let rules = |fault: Fault| FaultPlan {
        seed: Some(1),
        rules: vec![FaultRule::new(fault)
            .server(SimServer::Marketplace)
            .method("POST")
            .path("/versions$")
            .first(1)],
    };
    let sim = start(config().faults(rules(Fault::Status {
        status: 500,
        retry_after: None,
    })))
    .await;
    let href = upload(&sim, "publish-me-1.2.0.jar", jar("1.2.0")).await;
    let response = create(&sim, &document(&href, "1.2.0", 120, "public")).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        sim.published_versions(APP).is_empty(),
        "failed before storing"
    );
    // The retry goes through.
    let response = create(&sim, &document(&href, "1.2.0", 120, "public")).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    // A lost answer: the version is stored, the client hears nothing, the listing shows it and
    // a blind repeat is refused as a duplicate.
    sim.set_faults(rules(Fault::DropAfter));
    let href = upload(&sim, "publish-me-1.3.0.jar", jar("1.3.0")).await;
    let version = document(&href, "1.3.0", 130, "public");
    let lost = publisher(
        &sim,
        Method::POST,
        &format!("/rest/2/addons/{APP}/versions"),
    )
    .json(&version)
    .send()
    .await
    .unwrap_err();
    assert!(lost.status().is_none(), "no HTTP answer: {lost:?}");
    assert_eq!(sim.fault_hits(), 1);
    assert_eq!(sim.published_versions(APP).len(), 2);
    let (status, stored) = send(anonymous(
        &sim,
        Method::GET,
        &format!("/rest/2/addons/{APP}/versions/name/1.3.0"),
    ))
    .await;
    assert_eq!(
        (status, stored["buildNumber"].as_u64()),
        (StatusCode::OK, Some(130))
    );
    let response = create(&sim, &version).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // The answer of an upload can be lost too; the next upload is a new asset.
    let plan = FaultPlan {
        seed: Some(1),
        rules: vec![FaultRule::new(Fault::DropAfter)
            .server(SimServer::Marketplace)
            .path("/assets/artifact$")
            .first(1)],
    };
    sim.set_faults(plan);
    let lost = publisher(
        &sim,
        Method::POST,
        "/rest/2/assets/artifact?file=publish-me-1.4.0.jar",
    )
    .body(jar("1.4.0"))
    .send()
    .await
    .unwrap_err();
    assert!(lost.status().is_none(), "no HTTP answer: {lost:?}");
    let href = upload(&sim, "publish-me-1.4.0.jar", jar("1.4.0")).await;
    let response = create(&sim, &document(&href, "1.4.0", 140, "public")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let statuses: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|request| request.method == "POST")
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, [200, 500, 201, 200, 0, 400, 0, 200, 201]);
}

#[test]
fn a_fault_plan_names_the_publishing_posts() {
    let plan = FaultPlan::from_yaml(
        "rules:\n  - {server: marketplace, method: POST, path: \"/versions$\", first: 1, fault: drop_after}\n",
    )
    .unwrap();
    assert_eq!(
        plan.rules,
        [FaultRule::new(Fault::DropAfter)
            .server(SimServer::Marketplace)
            .method("POST")
            .path("/versions$")
            .first(1)]
    );
}

#[tokio::test]
async fn an_upload_above_the_cap_is_413_declared_or_streamed() {
    let sim = start(config()).await;
    let bytes = jar("1.2.0");
    sim.set_max_artifact_bytes(bytes.len() as u64 - 1);
    let path = "/rest/2/assets/artifact?file=publish-me-1.2.0.jar";
    // With a Content-Length.
    let (status, body) =
        send(octets(publisher(&sim, Method::POST, path)).body(bytes.clone())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(errors(&body)[0]
        .1
        .contains(&format!("`{}`", bytes.len() - 1)));
    // Chunked: refused once the streamed body passes the cap.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(100).map(|chunk| Ok(chunk.to_vec())).collect();
    let stream = futures::stream::iter(chunks);
    let (status, _) =
        send(octets(publisher(&sim, Method::POST, path)).body(reqwest::Body::wrap_stream(stream)))
            .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // At the cap it is fine.
    sim.set_max_artifact_bytes(bytes.len() as u64);
    let (status, _) = send(
        octets(publisher(&sim, Method::POST, path)).body(reqwest::Body::wrap_stream(
            futures::stream::iter(
                bytes
                    .chunks(100)
                    .map(|chunk| Ok::<_, std::io::Error>(chunk.to_vec()))
                    .collect::<Vec<_>>(),
            ),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn bodies_of_another_media_type_are_415() {
    let sim = start(config()).await;
    let (status, body) = send(
        publisher(
            &sim,
            Method::POST,
            "/rest/2/assets/artifact?file=publish-me-1.2.0.jar",
        )
        .header(CONTENT_TYPE, "multipart/form-data")
        .body(jar("1.2.0")),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(errors(&body)[0].1.contains("application/octet-stream"));
    let href = upload(&sim, "publish-me-1.2.0.jar", jar("1.2.0")).await;
    let (status, _) = send(
        publisher(
            &sim,
            Method::POST,
            &format!("/rest/2/addons/{APP}/versions"),
        )
        .header(CONTENT_TYPE, "text/plain")
        .body(document(&href, "1.2.0", 120, "public").to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(sim.published_versions(APP).is_empty());
    // Parameters do not matter.
    let (status, _) = send(
        publisher(
            &sim,
            Method::POST,
            &format!("/rest/2/addons/{APP}/versions"),
        )
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(document(&href, "1.2.0", 120, "public").to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_simulated_upm_installs_a_published_version_by_uri() {
    let sim = start(config().task_delay(std::time::Duration::ZERO)).await;
    publish(&sim, "1.2.0", 120, "public").await;
    publish(&sim, "1.3.0", 130, "private").await;
    let install = |build: u64| {
        let sim = &sim;
        async move {
            let token = crate::support::token(sim).await;
            let accepted = crate::support::upm(sim, Method::POST, &format!("?token={token}"))
                .header(CONTENT_TYPE, "application/vnd.atl.plugins.install.uri+json")
                .header(reqwest::header::ACCEPT, "application/json")
                .body(
                    json!({"pluginUri": format!("{}download/apps/{APP_ID}/version/{build}", sim.marketplace_url())})
                        .to_string(),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(accepted.status(), StatusCode::ACCEPTED);
            crate::support::finish_task(&accepted).await
        }
    };
    let done = install(120).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(sim.plugin(APP).unwrap().version, "1.2.0");
    // UPM downloads anonymously: a private version is not there for it.
    let failed = install(130).await;
    assert_eq!(failed.status(), StatusCode::OK);
    assert!(crate::support::content_type(&failed).contains("err"));
    assert_eq!(sim.plugin(APP).unwrap().version, "1.2.0");
}

#[tokio::test]
async fn a_version_for_another_product_resolves_for_that_product() {
    let sim = start(config().product(upmsync_sim::Product::Confluence)).await;
    let href = upload(&sim, "publish-me-1.2.0.jar", jar("1.2.0")).await;
    let mut version = document(&href, "1.2.0", 120, "public");
    version["compatibilities"] = json!([
        {"application": "confluence", "hosting": {"dataCenter": {"min": {"build": 9_012}, "max": {"build": 9_208}}}},
        {"application": "jira", "hosting": {"dataCenter": {"min": {"build": 9_000_000}, "max": {"build": 10_000_000}}}},
    ]);
    assert_eq!(create(&sim, &version).await.status(), StatusCode::CREATED);
    let latest = |application: &str, build: u64| {
        anonymous(
            &sim,
            Method::GET,
            &format!("/rest/2/addons/{APP}/versions/latest?application={application}&applicationBuild={build}&hosting=datacenter"),
        )
    };
    let (status, found) = send(latest("confluence", 9_208)).await;
    assert_eq!(
        (status, found["name"].as_str()),
        (StatusCode::OK, Some("1.2.0"))
    );
    assert_eq!(
        found["compatibilities"][0]["hosting"]["dataCenter"]["max"],
        json!({"build": 9_208, "version": "9.2.0"})
    );
    let (_, found) = send(latest("jira", 9_120_015)).await;
    assert_eq!(found["name"], "1.2.0");
    // Below the posted range: the seeded versions' (wide) range still answers.
    let (_, found) = send(latest("confluence", 8_804)).await;
    assert_eq!(found["name"], "1.1.0");
}
