//! The simulated Marketplace: app and version resources, paging, filters, 404s and downloads.

use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use upmsync_sim::jar::read_descriptor;
use upmsync_sim::{
    SeedCompatibility, SeedMarketplaceApp, SeedMarketplaceVersion, Sim, SimConfig, SimServer,
};

use crate::support::start;

const SCRIPTRUNNER: &str = "com.onresolve.jira.groovy.groovyrunner";

async fn get(sim: &Sim, path: &str) -> (StatusCode, Value) {
    let url = sim
        .marketplace_url()
        .join(path.trim_start_matches('/'))
        .unwrap();
    let response = reqwest::get(url).await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn names(collection: &Value) -> Vec<&str> {
    collection["_embedded"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|version| version["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn apps_and_versions_resolve_like_the_marketplace() {
    let sim = start(SimConfig::jira_demo()).await;

    let (status, root) = get(&sim, "/rest/2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(root["_links"]["addons"]["href"], "/rest/2/addons");
    let (_, addons) = get(&sim, "/rest/2/addons?limit=0").await;
    assert_eq!(addons["count"], 3);
    assert_eq!(
        addons["_links"]["byKey"]["href"],
        "/rest/2/addons/{addonKey}"
    );
    assert_eq!(addons["_embedded"]["addons"].as_array().unwrap().len(), 0);

    let (status, app) = get(&sim, &format!("/rest/2/addons/{SCRIPTRUNNER}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app["id"], "6820");
    assert_eq!(
        app["_links"]["versions"]["href"],
        format!("/rest/2/addons/{SCRIPTRUNNER}/versions")
    );

    let (_, latest) = get(
        &sim,
        &format!("/rest/2/addons/{SCRIPTRUNNER}/versions/latest?hosting=datacenter"),
    )
    .await;
    assert_eq!(latest["name"], "8.29.0");
    assert_eq!(latest["buildNumber"], 1_006_750);

    let (status, version) = get(
        &sim,
        &format!("/rest/2/addons/{SCRIPTRUNNER}/versions/name/8.28.1?hosting=datacenter"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(version["buildNumber"], 1_006_650);
    assert_eq!(
        version["_links"]["self"]["href"],
        format!("/rest/2/addons/{SCRIPTRUNNER}/versions/build/1006650")
    );
    let binary = version["_embedded"]["artifact"]["_links"]["binary"]["href"]
        .as_str()
        .unwrap();
    assert_eq!(
        binary,
        format!(
            "{}download/apps/6820/version/1006650",
            sim.marketplace_url()
        )
    );
    let compatibility = &version["compatibilities"][0];
    assert_eq!(compatibility["application"], "jira");
    assert!(compatibility["hosting"]["dataCenter"]["min"]["build"].is_u64());
    assert_eq!(version["deployment"]["dataCenter"], true);
    assert_eq!(version["deployment"]["dataCenterStatus"], "compatible");

    let (_, by_build) = get(
        &sim,
        &format!("/rest/2/addons/{SCRIPTRUNNER}/versions/build/1005740"),
    )
    .await;
    assert_eq!(by_build["name"], "8.20.0");

    // The asset resource the artifact link points at.
    let asset = version["_links"]["artifact"]["href"].as_str().unwrap();
    let (status, asset) = get(&sim, asset).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        asset["fileInfo"]["logicalFileName"],
        format!("{SCRIPTRUNNER}-8.28.1.jar")
    );

    for path in [
        "/rest/2/addons/com.example.unknown".to_string(),
        "/rest/2/addons/com.example.unknown/versions".to_string(),
        format!("/rest/2/addons/{SCRIPTRUNNER}/versions/name/9.9.9"),
        format!("/rest/2/addons/{SCRIPTRUNNER}/versions/build/1"),
        format!("/rest/2/addons/{SCRIPTRUNNER}/versions/build/abc"),
        format!("/rest/2/addons/{SCRIPTRUNNER}/versions/name/8.28.1?hosting=cloud"),
        "/download/apps/6820/version/1".to_string(),
        "/nothing".to_string(),
    ] {
        let (status, _) = get(&sim, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    assert!(sim
        .requests()
        .iter()
        .all(|request| request.server == SimServer::Marketplace));
}

#[tokio::test]
async fn version_collection_pages_and_filters() {
    let range = |min_build, min_version: &str, max_build, max_version: &str| SeedCompatibility {
        min_build,
        min_version: min_version.into(),
        max_build,
        max_version: max_version.into(),
    };
    // A struct literal, as other tests build seeds.
    let narrow = SeedMarketplaceApp {
        key: "com.example.narrow".into(),
        name: "Narrow".into(),
        id: 42,
        versions: vec![
            SeedMarketplaceVersion::new("1.0", 100),
            SeedMarketplaceVersion {
                name: "2.0".into(),
                build_number: 200,
                uses_licensing: false,
                corrupt_artifact: false,
            },
        ],
    };
    let narrow_key = "com.example.narrow";
    let config = SimConfig::jira_demo()
        .marketplace_app(narrow)
        .version_compatibility(narrow_key, 100, range(800_000, "8.0.0", 899_999, "8.22.6"))
        .version_compatibility(
            narrow_key,
            200,
            range(900_000, "9.0.0", 9_999_999, "9.99.99"),
        );
    let sim = start(config).await;
    let versions = format!("/rest/2/addons/{SCRIPTRUNNER}/versions");

    let (_, empty) = get(&sim, &format!("{versions}?limit=0")).await;
    assert_eq!(empty["count"], 5);
    assert!(empty["_embedded"]["versions"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(empty["_links"]["byName"]["templated"].as_bool().unwrap());

    // Default page: newest first, summaries without buildNumber or compatibilities.
    let (_, all) = get(&sim, &versions).await;
    assert_eq!(
        names(&all),
        ["8.29.0", "8.28.1", "8.28.0", "8.27.0", "8.20.0"]
    );
    assert!(all["_links"].get("next").is_none());
    let item = &all["_embedded"]["versions"][0];
    assert!(item.get("buildNumber").is_none() && item.get("compatibilities").is_none());
    assert!(item["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .ends_with("/versions/build/1006750"));

    // Paging: follow `next` until it is gone.
    let mut seen = Vec::new();
    let mut next = Some(format!("{versions}?hosting=datacenter&limit=2"));
    while let Some(path) = next {
        let (_, page) = get(&sim, &path).await;
        assert_eq!(page["count"], 5);
        seen.extend(names(&page).into_iter().map(String::from));
        next = page["_links"]["next"]["href"].as_str().map(String::from);
    }
    assert_eq!(seen, ["8.29.0", "8.28.1", "8.28.0", "8.27.0", "8.20.0"]);
    let (_, second) = get(&sim, &format!("{versions}?limit=2&offset=2")).await;
    assert!(second["_links"]["prev"].is_array());

    let (_, after) = get(&sim, &format!("{versions}?afterVersion=8.28.0")).await;
    assert_eq!(names(&after), ["8.29.0", "8.28.1"]);
    let (_, cloud) = get(&sim, &format!("{versions}?hosting=cloud")).await;
    assert_eq!(cloud["count"], 0);
    let (status, _) = get(&sim, &format!("{versions}?limit=-1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Inclusive build ranges; applicationBuild counts only with application.
    let narrow = "/rest/2/addons/com.example.narrow/versions";
    let (_, jira9) = get(
        &sim,
        &format!("{narrow}?application=jira&applicationBuild=9120015&hosting=datacenter"),
    )
    .await;
    assert_eq!(names(&jira9), ["2.0"]);
    let (_, edge) = get(
        &sim,
        &format!("{narrow}?application=jira&applicationBuild=899999"),
    )
    .await;
    assert_eq!(names(&edge), ["1.0"]);
    let (_, unfiltered) = get(&sim, &format!("{narrow}?applicationBuild=899999")).await;
    assert_eq!(names(&unfiltered), ["2.0", "1.0"]);
    let (_, confluence) = get(&sim, &format!("{narrow}?application=confluence")).await;
    assert_eq!(confluence["count"], 0);
    let (_, latest) = get(&sim, "/rest/2/addons/com.example.narrow/versions/latest?application=jira&applicationBuild=805002").await;
    assert_eq!(latest["name"], "1.0");
    let (status, _) = get(
        &sim,
        "/rest/2/addons/com.example.narrow/versions/latest?application=jira&applicationBuild=1",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn downloads_are_byte_stable_jars_with_matching_descriptors() {
    let config = SimConfig::jira_demo().marketplace_app(
        SeedMarketplaceApp::new("com.example.broken", "Broken", 9001, [])
            .version(SeedMarketplaceVersion::new("1.0", 1).corrupt()),
    );
    let sim = start(config).await;
    let other = start(SimConfig::jira_demo()).await;
    let fetch = |sim: &Sim, path: &str| {
        let url = sim.marketplace_url().join(path).unwrap();
        async move { reqwest::get(url).await.unwrap() }
    };

    let response = fetch(&sim, "download/apps/5167/version/1004400").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/java-archive");
    assert_eq!(
        response.headers()[CONTENT_DISPOSITION],
        "attachment; filename=\"com.midori.jira.plugin.pdfview-11.4.0.jar\""
    );
    let bytes = response.bytes().await.unwrap();
    let descriptor = read_descriptor(&bytes).unwrap();
    assert_eq!(descriptor.key, "com.midori.jira.plugin.pdfview");
    assert_eq!(descriptor.version, "11.4.0");
    assert!(descriptor.uses_licensing);

    // Same bytes from another simulator instance: a sha256 can be pinned.
    let again = fetch(&other, "download/apps/5167/version/1004400")
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(Sha256::digest(&bytes), Sha256::digest(&again));

    let corrupt = fetch(&sim, "download/apps/9001/version/1")
        .await
        .bytes()
        .await
        .unwrap();
    assert!(read_descriptor(&corrupt).is_err());
}

#[tokio::test]
async fn product_versions_map_to_build_numbers_for_each_product() {
    let sim = start(SimConfig::jira_demo()).await;

    let (_, applications) = get(&sim, "/rest/2/applications?limit=0").await;
    let keys: Vec<&str> = applications["_embedded"]["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|application| application["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["jira", "confluence", "bitbucket", "bamboo"]);

    // Real pairs from the reference (marketplace-api.md §8, §12).
    for (application, version, build) in [
        ("jira", "8.6.0", 806_000),
        ("jira", "9.12.15", 9_120_015),
        ("bitbucket", "9.4.22", 9_004_022),
    ] {
        let (status, body) = get(
            &sim,
            &format!("/rest/2/applications/{application}/versions/name/{version}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{application} {version}");
        assert_eq!(body["buildNumber"], build);
        assert_eq!(body["version"], version);
        let (status, by_build) = get(
            &sim,
            &format!("/rest/2/applications/{application}/versions/build/{build}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(by_build["version"], version);
    }
    let (status, confluence) =
        get(&sim, "/rest/2/applications/confluence/versions/name/8.5.0").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        confluence["_links"]["parent"]["href"],
        "/rest/2/applications/confluence"
    );

    // Unknown names, builds and applications are 404s, as for any entity (§1).
    for path in [
        "/rest/2/applications/jira/versions/name/99.0.0",
        "/rest/2/applications/confluence/versions/name/9.12.15",
        "/rest/2/applications/jira/versions/build/1",
        "/rest/2/applications/fisheye/versions/name/4.8.0",
    ] {
        assert_eq!(get(&sim, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn the_configured_product_version_is_an_application_version() {
    let sim = start(SimConfig::jira_demo().product_build("10.1.2", 10_010_002)).await;
    let (status, body) = get(&sim, "/rest/2/applications/jira/versions/name/10.1.2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["buildNumber"], 10_010_002);
    let (_, latest) = get(&sim, "/rest/2/applications/jira/versions/latest").await;
    assert_eq!(latest["version"], "10.3.0");
}
