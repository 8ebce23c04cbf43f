//! Product version endpoints: Jira's `serverInfo` and the applinks manifest (upm-rest-api.md §7,
//! marketplace-api.md §12). Both are anonymous.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::http;
use super::state::Shared;
use super::upm::Call;

/// `GET {ctx}/rest/api/2/serverInfo`, shaped like the real Jira 9.12.15 sample.
pub(crate) fn server_info(shared: &Shared, call: &Call) -> Response {
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
    if http::names_json(call.accept()) {
        let body = json!({
            "id": id,
            "name": "Jira (upmsync simulator)",
            "typeId": "jira",
            "version": shared.product_version,
            "buildNumber": shared.product_build,
            "applinksVersion": applinks_version,
            "inboundAuthenticationTypes": ["com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider"],
            "outboundAuthenticationTypes": ["com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider"],
            "publicSignup": false,
            "url": url,
            "iconUrl": format!("{url}/images/fav-jcore.png"),
            "iconUri": format!("{url}/images/fav-jcore.png"),
        });
        return http::json(StatusCode::OK, "application/json;charset=UTF-8", &body);
    }
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><manifest><id>{id}</id><name>Jira (upmsync simulator)</name>\
         <typeId>jira</typeId><version>{version}</version><buildNumber>{build}</buildNumber>\
         <applinksVersion>{applinks_version}</applinksVersion>\
         <inboundAuthenticationTypes>com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider</inboundAuthenticationTypes>\
         <outboundAuthenticationTypes>com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider</outboundAuthenticationTypes>\
         <publicSignup>false</publicSignup><url>{url}</url><iconUrl>{url}/images/fav-jcore.png</iconUrl>\
         <iconUri>{url}/images/fav-jcore.png</iconUri></manifest>",
        version = quick_xml::escape::escape(shared.product_version.as_str()),
        build = shared.product_build,
    );
    http::text(StatusCode::OK, "application/xml;charset=UTF-8", &xml)
}

/// The configured base URL without its trailing slash, as Jira reports it.
fn base_url(shared: &Shared) -> String {
    shared.base_url.as_str().trim_end_matches('/').to_string()
}
