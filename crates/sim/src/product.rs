//! The simulated product (Jira, Confluence, Bitbucket or Bamboo) and its version endpoints: Jira's
//! `serverInfo`, Bitbucket's `application-properties` and every product's applinks manifest
//! (upm-rest-api.md §7, marketplace-api.md §12). All are anonymous.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::http;
use super::state::Shared;
use super::upm::Call;

/// The product a simulator plays: its context path, version endpoints, default version and build,
/// and the Marketplace application its apps are compatible with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Product {
    /// Jira at `/jira`: `serverInfo` and the applinks manifest.
    #[default]
    Jira,
    /// Confluence at `/wiki` (`/confluence` is the other common one): the applinks manifest only.
    Confluence,
    /// Bitbucket at `/bitbucket`: `application-properties` and the applinks manifest.
    Bitbucket,
    /// Bamboo at `/bamboo`: the applinks manifest only.
    Bamboo,
}

impl Product {
    /// Every product, Jira first.
    pub const ALL: [Product; 4] = [
        Product::Jira,
        Product::Confluence,
        Product::Bitbucket,
        Product::Bamboo,
    ];

    /// The Marketplace application key (`jira`, `confluence`, `bitbucket`, `bamboo`).
    pub fn key(self) -> &'static str {
        match self {
            Product::Jira => "jira",
            Product::Confluence => "confluence",
            Product::Bitbucket => "bitbucket",
            Product::Bamboo => "bamboo",
        }
    }

    /// The product's display name.
    pub fn name(self) -> &'static str {
        match self {
            Product::Jira => "Jira",
            Product::Confluence => "Confluence",
            Product::Bitbucket => "Bitbucket",
            Product::Bamboo => "Bamboo",
        }
    }

    /// The product named by its Marketplace application key, `None` for any other text.
    pub fn from_key(key: &str) -> Option<Product> {
        Product::ALL
            .into_iter()
            .find(|product| product.key() == key)
    }

    /// The usual context path (upm-rest-api.md §1 names `/jira`, `/confluence` and `/wiki`).
    pub fn context_path(self) -> &'static str {
        match self {
            Product::Jira => "/jira",
            Product::Confluence => "/wiki",
            // guess: Bitbucket and Bamboo installs are commonly served under their own name; the
            // reference does not say.
            Product::Bitbucket => "/bitbucket",
            Product::Bamboo => "/bamboo",
        }
    }

    /// The default product version and its Marketplace build number (marketplace-api.md §12).
    pub fn default_version(self) -> (&'static str, u64) {
        match self {
            // Real: a live Jira 9.12.15 (§12).
            Product::Jira => ("9.12.15", 9_120_015),
            // guess: the reference has no real Confluence pair; one of the simulated
            // Marketplace's Confluence versions.
            Product::Confluence => ("9.2.0", 9_208),
            // Real: Bitbucket 9.4.22 (§12).
            Product::Bitbucket => ("9.4.22", 9_004_022),
            // guess: the reference has no real Bamboo pair; one of the simulated Marketplace's.
            Product::Bamboo => ("9.6.0", 90_611),
        }
    }

    /// The applinks manifest `typeId` (§7: `jira|confluence|stash|…`).
    fn type_id(self) -> &'static str {
        match self {
            Product::Bitbucket => "stash",
            other => other.key(),
        }
    }
}

/// `GET {ctx}/rest/api/1.0/application-properties` (Bitbucket only), shaped like the real
/// Bitbucket 9.4.22 body of marketplace-api.md §12: `buildNumber` and `buildDate` are strings.
pub(crate) fn application_properties(shared: &Shared, call: &Call) -> Response {
    if shared.product != Product::Bitbucket {
        return http::empty(StatusCode::NOT_FOUND);
    }
    if let Err(response) = call.negotiate(&[], Some("application/json")) {
        return response;
    }
    let body = json!({
        "version": shared.product_version,
        "buildNumber": shared.product_build.to_string(),
        // guess: a fixed build date (ms since the epoch, as text like the real body).
        "buildDate": "1783935727556",
        "displayName": "Bitbucket",
    });
    http::json(StatusCode::OK, "application/json;charset=UTF-8", &body)
}

/// `GET {ctx}/rest/api/2/serverInfo`, shaped like the real Jira 9.12.15 sample.
pub(crate) fn server_info(shared: &Shared, call: &Call) -> Response {
    if shared.product != Product::Jira {
        return http::empty(StatusCode::NOT_FOUND);
    }
    if let Err(response) = call.negotiate(&[], Some("application/json")) {
        return response;
    }
    let version_numbers: Vec<u64> = shared
        .product_version
        .split('.')
        .filter_map(|part| part.parse().ok())
        .collect();
    let body = json!({
        "baseUrl": base_url(shared),
        "version": shared.product_version,
        "versionNumbers": version_numbers,
        "deploymentType": "Server",
        "buildNumber": shared.product_build,
        "buildDate": "2024-11-06T00:00:00.000+0000",
        "databaseBuildNumber": shared.product_build,
        "scmInfo": "4d9c4bd7a744d02f6fd1c40b1e7bc5cff95adbdc",
        "serverTitle": "Jira (upmsync simulator)",
    });
    http::json(StatusCode::OK, "application/json;charset=UTF-8", &body)
}

/// `GET {ctx}/rest/applinks/1.0/manifest`: JSON when `Accept` names `application/json`, XML otherwise.
pub(crate) fn applinks_manifest(shared: &Shared, call: &Call) -> Response {
    let url = base_url(shared);
    // guess: a fixed server id and applinks version.
    let id = "4f1c2d3e-0000-4000-8000-5e4d6c7b8a91";
    let applinks_version = "9.1.4";
    let name = format!("{} (upmsync simulator)", shared.product.name());
    let type_id = shared.product.type_id();
    // guess: the other products' favicons beside Jira's `fav-jcore.png`.
    let icon = match shared.product {
        Product::Jira => format!("{url}/images/fav-jcore.png"),
        other => format!("{url}/images/fav-{}.png", other.type_id()),
    };
    if http::names_json(call.accept()) {
        let body = json!({
            "id": id,
            "name": name,
            "typeId": type_id,
            "version": shared.product_version,
            "buildNumber": shared.product_build,
            "applinksVersion": applinks_version,
            "inboundAuthenticationTypes": ["com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider"],
            "outboundAuthenticationTypes": ["com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider"],
            "publicSignup": false,
            "url": url,
            "iconUrl": icon,
            "iconUri": icon,
        });
        return http::json(StatusCode::OK, "application/json;charset=UTF-8", &body);
    }
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><manifest><id>{id}</id><name>{name}</name>\
         <typeId>{type_id}</typeId><version>{version}</version><buildNumber>{build}</buildNumber>\
         <applinksVersion>{applinks_version}</applinksVersion>\
         <inboundAuthenticationTypes>com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider</inboundAuthenticationTypes>\
         <outboundAuthenticationTypes>com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider</outboundAuthenticationTypes>\
         <publicSignup>false</publicSignup><url>{url}</url><iconUrl>{icon}</iconUrl>\
         <iconUri>{icon}</iconUri></manifest>",
        version = quick_xml::escape::escape(shared.product_version.as_str()),
        build = shared.product_build,
        icon = quick_xml::escape::escape(icon.as_str()),
    );
    http::text(StatusCode::OK, "application/xml;charset=UTF-8", &xml)
}

/// The configured base URL without its trailing slash, as the products report it.
fn base_url(shared: &Shared) -> String {
    shared.base_url.as_str().trim_end_matches('/').to_string()
}
