//! The simulator as each product (Jira, Confluence, Bitbucket, Bamboo): the context path, its own
//! version endpoints with bodies shaped like the real ones (marketplace-api.md §12), 404 on the
//! other products' endpoints, and a Marketplace whose apps are compatible with that product.

use reqwest::header::ACCEPT;
use reqwest::StatusCode;
use serde_json::{json, Value};
use upmsync_sim::{Product, SeedMarketplaceApp, Sim, SimConfig, UPM_KEY};

use crate::support::{content_type, start};

const APP: &str = "com.example.app";

async fn product_sim(product: Product) -> Sim {
    start(
        SimConfig::empty()
            .product(product)
            .marketplace_app(SeedMarketplaceApp::new(
                APP,
                "Example",
                4242,
                [("1.0.0", 100), ("1.1.0", 110)],
            )),
    )
    .await
}

/// Status and body (JSON, else text as a JSON string) of an anonymous GET under the product.
async fn get(sim: &Sim, path: &str, accept: &str) -> (StatusCode, String, String) {
    let response = reqwest::Client::new()
        .get(sim.upm_url().join(path).unwrap())
        .header(ACCEPT, accept)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let kind = if status.is_success() {
        content_type(&response)
    } else {
        String::new()
    };
    (status, kind, response.text().await.unwrap())
}

const SERVER_INFO: &str = "rest/api/2/serverInfo";
const PROPERTIES: &str = "rest/api/1.0/application-properties";
const MANIFEST: &str = "rest/applinks/1.0/manifest";

#[tokio::test]
async fn each_product_has_its_context_path_and_default_version() {
    for (product, context, version, build) in [
        (Product::Jira, "/jira/", "9.12.15", 9_120_015),
        (Product::Confluence, "/wiki/", "9.2.0", 9_208),
        (Product::Bitbucket, "/bitbucket/", "9.4.22", 9_004_022),
        (Product::Bamboo, "/bamboo/", "9.6.0", 90_611),
    ] {
        let sim = product_sim(product).await;
        assert_eq!(sim.upm_url().path(), context, "{product:?}");
        let (status, _, body) = get(&sim, MANIFEST, "application/json").await;
        assert_eq!(status, StatusCode::OK, "{product:?}");
        let manifest: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(manifest["version"], version, "{product:?}");
        assert_eq!(manifest["buildNumber"], build, "{product:?}");
        // UPM answers under the context path for every product.
        let (status, _, _) = get(
            &sim,
            "rest/plugins/1.0/",
            "application/vnd.atl.plugins.installed+json",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{product:?}");
    }
}

#[tokio::test]
async fn only_jira_serves_server_info_and_only_bitbucket_application_properties() {
    for product in Product::ALL {
        let sim = product_sim(product).await;
        let (info, _, _) = get(&sim, SERVER_INFO, "application/json").await;
        let (properties, _, _) = get(&sim, PROPERTIES, "application/json").await;
        let expected = |own: bool| {
            if own {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            }
        };
        assert_eq!(info, expected(product == Product::Jira), "{product:?}");
        assert_eq!(
            properties,
            expected(product == Product::Bitbucket),
            "{product:?}"
        );
    }
}

#[tokio::test]
async fn bitbucket_application_properties_has_string_build_number_and_date() {
    let sim = product_sim(Product::Bitbucket).await;
    let (status, kind, body) = get(&sim, PROPERTIES, "application/json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("application/json"), "{kind}");
    let body: Value = serde_json::from_str(&body).unwrap();
    // The keys and types of the real 9.4.22 body (§12).
    assert_eq!(
        body,
        json!({
            "version": "9.4.22",
            "buildNumber": "9004022",
            "buildDate": "1783935727556",
            "displayName": "Bitbucket",
        })
    );
}

#[tokio::test]
async fn the_applinks_manifest_names_each_product_in_json_and_xml() {
    for (product, type_id) in [
        (Product::Jira, "jira"),
        (Product::Confluence, "confluence"),
        (Product::Bitbucket, "stash"),
        (Product::Bamboo, "bamboo"),
    ] {
        let sim = product_sim(product).await;
        let (_, _, body) = get(&sim, MANIFEST, "application/json").await;
        let manifest: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(manifest["typeId"], type_id, "{product:?}");
        assert_eq!(
            manifest["url"],
            sim.base_url().as_str().trim_end_matches('/'),
            "{product:?}"
        );
        let (status, kind, xml) = get(&sim, MANIFEST, "*/*").await;
        assert_eq!(status, StatusCode::OK);
        assert!(kind.starts_with("application/xml"), "{kind}");
        assert!(
            xml.contains(&format!("<typeId>{type_id}</typeId>")),
            "{xml}"
        );
    }
}

#[tokio::test]
async fn the_marketplace_serves_apps_compatible_with_the_simulated_product() {
    for product in Product::ALL {
        let sim = product_sim(product).await;
        let (_, build) = product.default_version();
        let key = product.key();
        let url = sim
            .marketplace_url()
            .join(&format!(
                "rest/2/addons/{APP}/versions?application={key}&applicationBuild={build}&hosting=datacenter"
            ))
            .unwrap();
        let page: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        assert_eq!(page["count"], 2, "{product:?}: {page}");

        let other = if product == Product::Jira {
            "confluence"
        } else {
            "jira"
        };
        let url = sim
            .marketplace_url()
            .join(&format!("rest/2/addons/{APP}/versions?application={other}"))
            .unwrap();
        let page: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        assert_eq!(page["count"], 0, "{product:?}: {page}");

        let url = sim
            .marketplace_url()
            .join(&format!("rest/2/addons/{APP}/versions/name/1.1.0"))
            .unwrap();
        let version: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        assert_eq!(
            version["compatibilities"][0]["application"], key,
            "{product:?}"
        );
    }
}

/// GET `path` on the simulated Marketplace, as JSON.
async fn marketplace_json(sim: &Sim, path: &str) -> Value {
    let response = reqwest::get(sim.marketplace_url().join(path).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn each_products_demo_seeds_its_own_system_apps_and_listed_vendor_apps() {
    // (product, a bundled app, the licensed app to upgrade, its installed version, the newest
    // version compatible with the product's default build, its highest compatible build).
    for (product, system, app, installed, newest, installed_max) in [
        (
            Product::Jira,
            "com.atlassian.jira.jira-software-application",
            "com.onresolve.jira.groovy.groovyrunner",
            "8.20.0",
            "8.29.0",
            11_000_000,
        ),
        (
            Product::Confluence,
            "com.atlassian.confluence.plugins.confluence-create-content-plugin",
            "com.mxgraph.confluence.plugins.diagramly",
            "24.0.0",
            "25.1.0",
            9_012,
        ),
        (
            Product::Bitbucket,
            "com.atlassian.bitbucket.server.bitbucket-git",
            "com.onresolve.stash.groovy.groovyrunner",
            "8.20.0",
            "8.30.0",
            8_019_000,
        ),
        (
            Product::Bamboo,
            "com.atlassian.bamboo.plugins.atlassian-bamboo-plugin-git",
            "net.utoolity.atlassian.bamboo.tasks-for-aws",
            "3.6.0",
            "3.9.0",
            90_208,
        ),
    ] {
        let sim = start(SimConfig::demo(product)).await;
        assert_eq!(
            sim.upm_url().path().trim_end_matches('/'),
            product.context_path(),
            "{product:?}"
        );
        let bundled = sim.plugin(system).expect("the product's bundled app");
        assert!(
            !bundled.user_installed && !bundled.uninstallable,
            "{product:?}"
        );
        assert!(sim.plugin(UPM_KEY).is_some(), "{product:?}: UPM");
        let plugin = sim.plugin(app).expect("the vendor app");
        assert!(
            plugin.user_installed && plugin.uses_licensing,
            "{product:?}"
        );
        assert_eq!(plugin.version, installed, "{product:?}");
        assert!(sim.license(app).is_some(), "{product:?}: an old license");
        for key in ["com.example.retired", "com.example.sandbox"] {
            assert!(sim.plugin(key).is_some(), "{product:?}: {key}");
        }
        // Every user-installed app is listed, several versions each.
        for plugin in sim
            .plugins()
            .iter()
            .filter(|plugin| plugin.user_installed && !plugin.key.starts_with("com.example."))
        {
            let page =
                marketplace_json(&sim, &format!("rest/2/addons/{}/versions", plugin.key)).await;
            assert!(page["count"].as_u64().unwrap() >= 2, "{product:?}: {page}");
        }

        let key = product.key();
        let (_, build) = product.default_version();
        let latest = marketplace_json(
            &sim,
            &format!("rest/2/addons/{app}/versions/latest?application={key}&applicationBuild={build}&hosting=datacenter"),
        )
        .await;
        assert_eq!(latest["name"], newest, "{product:?}");
        let version = marketplace_json(
            &sim,
            &format!("rest/2/addons/{app}/versions/name/{installed}"),
        )
        .await;
        let compatibility = &version["compatibilities"][0];
        assert_eq!(compatibility["application"], key, "{product:?}");
        assert_eq!(
            compatibility["hosting"]["dataCenter"]["max"]["build"], installed_max,
            "{product:?}: {compatibility}"
        );
        // The product's default build is listed by the Marketplace under its version.
        let (product_version, _) = product.default_version();
        let listed = marketplace_json(
            &sim,
            &format!("rest/2/applications/{key}/versions/name/{product_version}"),
        )
        .await;
        assert_eq!(listed["buildNumber"], build, "{product:?}");
    }
}
