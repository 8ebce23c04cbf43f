//! The Marketplace listener: REST v2 app and app-version resources, a little of `applications`, and
//! the artifact download (marketplace-api.md §1–§8, checklist §15), plus the publishing routes
//! (asset upload, version create: `publish.rs`). Every read sees published versions as it sees
//! seeded ones; a private one only when the publisher asks with `includePrivate=true`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::config::{SeedCompatibility, SeedMarketplaceApp, SeedMarketplaceVersion};
use super::http;
use super::jar;
use super::product::Product;
use super::publish::{self, Caller, PublishedVersion};
use super::state::Shared;

const JSON: &str = "application/json";
/// Default page size of collections (§7: 10 for `/rest/2/addons`; guess: the same for versions).
const DEFAULT_LIMIT: usize = 10;
/// The applications (products) the simulated Marketplace knows: key and name.
pub(crate) const APPLICATIONS: &[(&str, &str)] = &[
    ("jira", "Jira"),
    ("confluence", "Confluence"),
    ("bitbucket", "Bitbucket"),
    ("bamboo", "Bamboo"),
];

/// Product versions and their Marketplace build numbers, by application (§8, §12). Real pairs
/// where the reference has them; the rest are guesses in the products' numbering style.
const PRODUCT_VERSIONS: &[(&str, &str, u64)] = &[
    // Real: §8 (MARV, ENQ) and §12 (a live Jira 9.12.15).
    ("jira", "7.2.0", 72_002),
    ("jira", "8.0.0", 800_007),
    ("jira", "8.5.2", 805_002),
    ("jira", "8.6.0", 806_000),
    ("jira", "8.8.1", 808_001),
    ("jira", "9.12.15", 9_120_015),
    // guess: Jira 9.4.0, 10.0.0 and 10.3.0 numbered like 9.12.15 (major, minor in two digits,
    // patch in four).
    ("jira", "9.4.0", 9_040_000),
    ("jira", "10.0.0", 10_000_000),
    ("jira", "10.3.0", 10_030_000),
    // guess: Confluence's Marketplace build numbers (§12: "not the Confluence build") are not in
    // the reference; these are small, increasing numbers as the Marketplace lists them.
    ("confluence", "7.19.0", 8_804),
    ("confluence", "8.5.0", 9_012),
    ("confluence", "9.2.0", 9_208),
    // Real: §12 (Bitbucket 9.4.22 and 4.8.5).
    ("bitbucket", "4.8.5", 4_008_005),
    ("bitbucket", "9.4.22", 9_004_022),
    // guess: Bitbucket 8.19.0 and 9.4.0 numbered like 9.4.22.
    ("bitbucket", "8.19.0", 8_019_000),
    ("bitbucket", "9.4.0", 9_004_000),
    // guess: Bamboo's build numbers are not in the reference.
    ("bamboo", "9.2.0", 90_208),
    ("bamboo", "9.6.0", 90_611),
    ("bamboo", "10.0.0", 100_007),
];

/// One product version as the Marketplace lists it.
struct ProductVersion {
    version: String,
    build: u64,
}

/// Entry point of the Marketplace listener: routes.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    tracing::debug!(method = %parts.method, path = parts.uri.path(), "marketplace request");
    let caller = publish::caller(&shared, &parts.headers);
    let query = http::query_pairs(parts.uri.query());
    // guess: wrong credentials are refused on reads too, as on the product side.
    let mut response = if caller == Caller::Failed {
        publish::unauthorized()
    } else if parts.method == Method::GET || parts.method == Method::HEAD {
        route(&shared, parts.uri.path(), &query, caller)
    } else if parts.method == Method::POST {
        post(
            &shared,
            parts.uri.path(),
            &query,
            &parts.headers,
            caller,
            body,
        )
        .await
    } else {
        http::method_not_allowed(&[Method::GET, Method::HEAD, Method::POST])
    };
    if parts.method == Method::HEAD {
        *response.body_mut() = Body::empty();
    }
    // Recorded by the fault layer in front of this handler (faults.rs).
    response
}

/// The decoded segments of a path; `None` when an escape is broken.
fn segments(path: &str) -> Option<Vec<String>> {
    path.trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .map(http::percent_decode)
        .collect()
}

/// The POST routes: the asset upload and the version create (publish.rs), for the publisher only.
async fn post(
    shared: &Shared,
    path: &str,
    query: &[(String, String)],
    headers: &axum::http::HeaderMap,
    caller: Caller,
    body: Body,
) -> Response {
    let Some(segments) = segments(path) else {
        return not_found("malformed path");
    };
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["rest", "2", "assets", "artifact"] if caller != Caller::Publisher => {
            publish::unauthorized()
        }
        ["rest", "2", "assets", "artifact"] => publish::upload(shared, query, headers, body).await,
        ["rest", "2", "addons", _, "versions"] if caller != Caller::Publisher => {
            publish::unauthorized()
        }
        ["rest", "2", "addons", key, "versions"] => {
            let Some(seed) = shared.catalog.iter().find(|app| app.key == *key) else {
                return not_found("no such app");
            };
            let build = match publish::create(shared, seed, headers, body).await {
                Ok(build) => build,
                Err(response) => return response,
            };
            // The created version as a byBuild read by the publisher would show it.
            let Ok(app) = app(shared, key, true) else {
                return not_found("no such app");
            };
            let Some(version) = app.versions.iter().find(|v| v.build_number == build) else {
                return not_found("no such version");
            };
            let location = format!(
                "/rest/2/addons/{}/versions/build/{build}",
                http::percent_encode(key)
            );
            let mut response = http::json(
                StatusCode::CREATED,
                JSON,
                &version_body(shared, &app, version),
            );
            http::set_header(&mut response, header::LOCATION, &location);
            response
        }
        _ => http::method_not_allowed(&[Method::GET, Method::HEAD]),
    }
}

fn route(shared: &Shared, path: &str, query: &[(String, String)], caller: Caller) -> Response {
    let Some(segments) = segments(path) else {
        return not_found("malformed path");
    };
    // §1: private versions only for an authorised request with `includePrivate=true`.
    let private = caller == Caller::Publisher
        && http::query_value(query, "includePrivate")
            .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let result = match segments.as_slice() {
        ["rest", "2"] => Ok(root()),
        ["rest", "2", "addons"] => addons(shared, query),
        ["rest", "2", "addons", key] => app(shared, key, private).map(|app| addon(&app)),
        ["rest", "2", "addons", key, "versions"] => {
            app(shared, key, private).and_then(|app| versions(shared, &app, query))
        }
        ["rest", "2", "addons", key, "versions", "latest"] => {
            app(shared, key, private).and_then(|app| latest(shared, &app, query))
        }
        ["rest", "2", "addons", key, "versions", "name", name] => {
            app(shared, key, private).and_then(|app| by_name(shared, &app, name, query))
        }
        ["rest", "2", "addons", key, "versions", "build", build] => app(shared, key, private)
            .and_then(|app| {
                let version = build
                    .parse::<u64>()
                    .ok()
                    .and_then(|build| {
                        app.versions
                            .iter()
                            .find(|version| version.build_number == build)
                    })
                    .ok_or_else(|| not_found("no such version"))?;
                Ok(version_body(shared, &app, version))
            }),
        ["rest", "2", "assets"] => Ok(assets()),
        ["rest", "2", "assets", asset] => asset_body(shared, asset),
        ["rest", "2", "applications"] => Ok(applications()),
        ["rest", "2", "applications", application] => {
            known_application(application).map(application_body)
        }
        ["rest", "2", "applications", application, "versions", "latest"] => {
            known_application(application).and_then(|application| {
                product_versions(shared, application)
                    .into_iter()
                    .max_by_key(|version| version.build)
                    .map(|version| application_version(application, &version))
                    .ok_or_else(|| not_found("no such application version"))
            })
        }
        ["rest", "2", "applications", application, "versions", "name", name] => {
            known_application(application).and_then(|application| {
                product_versions(shared, application)
                    .into_iter()
                    .find(|version| version.version == *name)
                    .map(|version| application_version(application, &version))
                    .ok_or_else(|| not_found("no such application version"))
            })
        }
        ["rest", "2", "applications", application, "versions", "build", build] => {
            known_application(application).and_then(|application| {
                product_versions(shared, application)
                    .into_iter()
                    .find(|version| version.build.to_string() == *build)
                    .map(|version| application_version(application, &version))
                    .ok_or_else(|| not_found("no such application version"))
            })
        }
        // guess: the publisher may download a private version without `includePrivate`.
        ["download", "apps", id, "version", build] => {
            let private = caller == Caller::Publisher;
            return download(shared, |app| app.id.to_string() == *id, build, private);
        }
        // The older download form (§6), still used as UPM `pluginUri` by some installers.
        ["download", "plugins", key, "version", build] => {
            let private = caller == Caller::Publisher;
            return download(shared, |app| app.key == *key, build, private);
        }
        // guess: where an uploaded asset not yet part of a version is served; publisher only.
        ["download", "assets", id] if caller == Caller::Publisher => {
            return asset_download(shared, id);
        }
        _ => Err(not_found("no such resource")),
    };
    match result {
        Ok(body) => http::json(StatusCode::OK, JSON, &body),
        Err(response) => response,
    }
}

/// guess: Marketplace error bodies carry an `errors` array (§1); the field names are not confirmed.
fn not_found(message: &str) -> Response {
    http::json(
        StatusCode::NOT_FOUND,
        JSON,
        &json!({"errors": [{"message": message}]}),
    )
}

fn bad_request(message: &str) -> Response {
    http::json(
        StatusCode::BAD_REQUEST,
        JSON,
        &json!({"errors": [{"message": message}]}),
    )
}

/// The listing of `key` as one request sees it: the seeded versions plus the published ones
/// (private ones only when `private`).
fn app(shared: &Shared, key: &str, private: bool) -> Result<SeedMarketplaceApp, Response> {
    let seed = shared
        .catalog
        .iter()
        .find(|app| app.key == key)
        .ok_or_else(|| not_found("no such app"))?;
    Ok(with_published(shared, seed, private))
}

/// `seed` with its published versions appended (private ones only when `private`).
fn with_published(shared: &Shared, seed: &SeedMarketplaceApp, private: bool) -> SeedMarketplaceApp {
    let mut app = seed.clone();
    for version in shared.publishing().versions(&seed.key) {
        if private || version.status == publish::Visibility::Public {
            let mut listed = SeedMarketplaceVersion::new(&version.name, version.build_number);
            listed.uses_licensing = version.uses_licensing();
            app.versions.push(listed);
        }
    }
    app
}

/// The published version behind a listed one, if it was published rather than seeded.
fn published(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    version: &SeedMarketplaceVersion,
) -> Option<Arc<PublishedVersion>> {
    shared.publishing().version(&app.key, version.build_number)
}

/// `GET /rest/2/assets` (MARV `assets.json`): where to upload and fetch artifacts.
fn assets() -> Value {
    json!({"_links": {
        "self": link("/rest/2/assets"),
        "artifact": link("/rest/2/assets/artifact"),
        "fetchArtifact": link("/rest/2/assets/artifact/fetch"),
        "imageByType": template("/rest/2/assets/image/{imageType}"),
    }})
}

fn link(href: impl Into<String>) -> Value {
    json!({"href": href.into()})
}

fn html_link(href: impl Into<String>) -> Value {
    json!({"href": href.into(), "type": "text/html"})
}

fn template(href: impl Into<String>) -> Value {
    json!({"href": href.into(), "templated": true})
}

/// `scriptrunner-for-jira` from `ScriptRunner for Jira`, as in `/apps/6820/scriptrunner-for-jira`.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_string()
}

/// `GET /rest/2` (the trimmed root of §2).
fn root() -> Value {
    json!({"_links": {
        "self": link("/rest/2"),
        "addons": link("/rest/2/addons"),
        "applications": link("/rest/2/applications"),
        "assets": link("/rest/2/assets"),
        "licenseTypes": link("/rest/2/licenseTypes"),
        "products": link("/rest/2/products"),
        "vendors": link("/rest/2/vendors"),
    }})
}

/// `offset` and `limit` of a collection request.
fn paging(query: &[(String, String)]) -> Result<(usize, usize), Response> {
    let number = |name: &str, default: usize| match http::query_value(query, name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<usize>()
            .map_err(|_| bad_request(&format!("`{name}` must be a non-negative integer"))),
    };
    Ok((number("offset", 0)?, number("limit", DEFAULT_LIMIT)?))
}

/// `path?query` with `offset` replaced, for `next`/`prev` links.
fn with_offset(path: &str, query: &[(String, String)], offset: usize) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in query.iter().filter(|(name, _)| name != "offset") {
        serializer.append_pair(name, value);
    }
    serializer.append_pair("offset", &offset.to_string());
    format!("{path}?{}", serializer.finish())
}

fn self_href(path: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return path.to_string();
    }
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in query {
        serializer.append_pair(name, value);
    }
    format!("{path}?{}", serializer.finish())
}

/// Adds `next` (and `prev`) links to a page (§7). guess: `next` is an array (the real addons search
/// shape) when `array_next`, else a single link; `prev` is always an array.
fn page_links(
    links: &mut Map<String, Value>,
    path: &str,
    query: &[(String, String)],
    (offset, limit): (usize, usize),
    count: usize,
    array_next: bool,
) {
    if limit > 0 && offset + limit < count {
        let next = link(with_offset(path, query, offset + limit));
        let next = if array_next {
            json!([{"href": next["href"], "type": JSON}])
        } else {
            next
        };
        links.insert("next".into(), next);
    }
    if offset > 0 && limit > 0 {
        links.insert(
            "prev".into(),
            json!([{"href": with_offset(path, query, offset.saturating_sub(limit)), "type": JSON}]),
        );
    }
}

/// `GET /rest/2/addons` (§2): templates, `count`, a page of app summaries.
fn addons(shared: &Shared, query: &[(String, String)]) -> Result<Value, Response> {
    let (offset, limit) = paging(query)?;
    let path = "/rest/2/addons";
    let mut links = Map::new();
    links.insert("self".into(), link(self_href(path, query)));
    links.insert("alternate".into(), html_link("/search"));
    links.insert(
        "query".into(),
        template("/rest/2/addons{?application,applicationBuild,category*,cost,filter,forThisUser,hosting*,includeHidden,includePrivate,marketingLabel*,text,withVersion,storesPersonalData,offset,limit}"),
    );
    links.insert("byKey".into(), template("/rest/2/addons/{addonKey}"));
    page_links(
        &mut links,
        path,
        query,
        (offset, limit),
        shared.catalog.len(),
        true,
    );
    let items: Vec<Value> = shared
        .catalog
        .iter()
        .skip(offset)
        .take(limit)
        .map(|app| {
            json!({
                "_links": {"self": link(format!("/rest/2/addons/{}", http::percent_encode(&app.key))),
                           "alternate": html_link(format!("/apps/{}/{}", app.id, slug(&app.name)))},
                "id": app.id.to_string(),
                "key": app.key,
                "name": app.name,
                "status": "public",
            })
        })
        .collect();
    Ok(json!({"_links": links, "_embedded": {"addons": items}, "count": shared.catalog.len()}))
}

/// `GET /rest/2/addons/{key}` (§2): `id` is a numeric string.
fn addon(app: &SeedMarketplaceApp) -> Value {
    let key = http::percent_encode(&app.key);
    json!({
        "_links": {
            "self": link(format!("/rest/2/addons/{key}")),
            "alternate": html_link(format!("/apps/{}/{}?hosting=datacenter&tab=overview", app.id, slug(&app.name))),
            "versions": link(format!("/rest/2/addons/{key}/versions")),
            "latestVersion": link(format!("/rest/2/addons/{key}/versions/latest")),
        },
        "id": app.id.to_string(),
        "key": app.key,
        "name": app.name,
        "status": "public",
        "summary": format!("{} (simulated Marketplace listing)", app.name),
        "_embedded": {"distribution": {"bundled": false, "bundledCloud": false, "downloads": 1000, "totalInstalls": 100, "totalUsers": 1000}},
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hosting {
    Any,
    Server,
    DataCenter,
    Cloud,
}

/// The query filters of the versions collection and `latest` (§3, §5).
struct Filter {
    application: Option<String>,
    application_build: Option<u64>,
    hosting: Hosting,
    /// Only builds above this one (`afterVersion` resolved to its build).
    after_build: Option<u64>,
    /// `afterVersion` named a version that does not exist: nothing matches. guess.
    nothing: bool,
}

impl Filter {
    fn parse(app: &SeedMarketplaceApp, query: &[(String, String)]) -> Result<Self, Response> {
        let hosting = match http::query_value(query, "hosting")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("" | "any") => Hosting::Any,
            Some("server") => Hosting::Server,
            Some("datacenter") => Hosting::DataCenter,
            Some("cloud") => Hosting::Cloud,
            Some(_) => {
                return Err(bad_request(
                    "`hosting` must be any, cloud, datacenter or server",
                ))
            }
        };
        let application_build = match http::query_value(query, "applicationBuild") {
            None => None,
            Some(text) => Some(
                text.trim()
                    .parse::<u64>()
                    .map_err(|_| bad_request("`applicationBuild` must be an integer"))?,
            ),
        };
        let mut after_build = None;
        let mut nothing = false;
        if let Some(after) = http::query_value(query, "afterVersion") {
            match app.versions.iter().find(|version| version.name == after) {
                Some(version) => after_build = Some(version.build_number),
                None => nothing = true,
            }
        }
        Ok(Self {
            application: http::query_value(query, "application").map(str::to_ascii_lowercase),
            application_build,
            hosting,
            after_build,
            nothing,
        })
    }

    /// §5: bounds are inclusive; `applicationBuild` only counts together with `application`.
    fn matches(
        &self,
        shared: &Shared,
        app: &SeedMarketplaceApp,
        version: &SeedMarketplaceVersion,
    ) -> bool {
        if self.nothing || self.hosting == Hosting::Cloud {
            return false;
        }
        if self
            .after_build
            .is_some_and(|after| version.build_number <= after)
        {
            return false;
        }
        if let Some(published) = published(shared, app, version) {
            // Published versions: the ranges as posted, for any application they name.
            return self.application.as_ref().is_none_or(|application| {
                published.compatibilities.iter().any(|entry| {
                    entry.application == *application
                        && self.application_build.is_none_or(|build| {
                            let within = |range: Option<publish::BuildRange>| {
                                range.is_some_and(|range| range.contains(build))
                            };
                            match self.hosting {
                                Hosting::Server => within(entry.server),
                                Hosting::DataCenter => within(entry.data_center),
                                _ => within(entry.data_center) || within(entry.server),
                            }
                        })
                })
            });
        }
        match &self.application {
            None => true,
            Some(application) if application != shared.product.key() => false,
            // Inclusive build ranges of the asked hosting (§5); `any` takes either.
            Some(_) => self.application_build.is_none_or(|build| {
                let within =
                    |range: SeedCompatibility| (range.min_build..=range.max_build).contains(&build);
                match self.hosting {
                    Hosting::Server => within(server_compatibility(shared, app, version)),
                    Hosting::DataCenter => within(compatibility(shared, app, version)),
                    _ => {
                        within(compatibility(shared, app, version))
                            || within(server_compatibility(shared, app, version))
                    }
                }
            }),
        }
    }
}

/// The app's versions matching `filter`, newest (highest build number) first.
fn matching<'a>(
    shared: &Shared,
    app: &'a SeedMarketplaceApp,
    filter: &Filter,
) -> Vec<&'a SeedMarketplaceVersion> {
    let mut versions: Vec<&SeedMarketplaceVersion> = app
        .versions
        .iter()
        .filter(|version| filter.matches(shared, app, version))
        .collect();
    versions.sort_by_key(|version| std::cmp::Reverse(version.build_number));
    versions
}

/// `GET /rest/2/addons/{key}/versions` (§3, §4, §7): AddonVersionSummary items, paged.
fn versions(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    query: &[(String, String)],
) -> Result<Value, Response> {
    let filter = Filter::parse(app, query)?;
    let (offset, limit) = paging(query)?;
    let key = http::percent_encode(&app.key);
    let path = format!("/rest/2/addons/{key}/versions");
    let all = matching(shared, app, &filter);
    let mut links = Map::new();
    links.insert("self".into(), link(self_href(&path, query)));
    links.insert(
        "alternate".into(),
        html_link(format!(
            "/apps/{}/{}/version-history",
            app.id,
            slug(&app.name)
        )),
    );
    links.insert(
        "query".into(),
        template(format!("{path}{{?afterVersion,application,applicationBuild,cost,hosting,includePrivate,offset,limit}}")),
    );
    links.insert(
        "byBuild".into(),
        template(format!("{path}/build/{{pluginBuildNumber}}")),
    );
    links.insert(
        "byName".into(),
        template(format!("{path}/name/{{name}}{{?hosting}}")),
    );
    links.insert(
        "latest".into(),
        template(format!("{path}/latest{{?afterVersion,application,applicationBuild,cost,hosting,includePrivate}}")),
    );
    page_links(&mut links, &path, query, (offset, limit), all.len(), false);
    let items: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|version| version_summary(shared, app, version))
        .collect();
    Ok(json!({"_links": links, "_embedded": {"versions": items}, "count": all.len()}))
}

fn latest(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    query: &[(String, String)],
) -> Result<Value, Response> {
    let filter = Filter::parse(app, query)?;
    let newest = matching(shared, app, &filter)
        .into_iter()
        .next()
        .ok_or_else(|| not_found("no matching version"))?;
    Ok(version_body(shared, app, newest))
}

/// `versions/name/{name}{?hosting}`: the display name exactly; no cloud versions exist here.
fn by_name(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    name: &str,
    query: &[(String, String)],
) -> Result<Value, Response> {
    let filter = Filter::parse(app, query)?;
    let version = app
        .versions
        .iter()
        .filter(|version| version.name == name && filter.hosting != Hosting::Cloud)
        .max_by_key(|version| version.build_number)
        .ok_or_else(|| not_found("no such version"))?;
    Ok(version_body(shared, app, version))
}

fn compatibility(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    version: &SeedMarketplaceVersion,
) -> SeedCompatibility {
    shared
        .compatibilities
        .get(&(app.key.clone(), version.build_number))
        .cloned()
        .unwrap_or_else(|| wide_compatibility(shared))
}

/// The range of an unseeded version: Jira's wide default ([`SeedCompatibility::default`]); for the
/// other products every version of the table and the configured one (their build numbers are
/// numbered differently, so Jira's range would leave them out).
fn wide_compatibility(shared: &Shared) -> SeedCompatibility {
    if shared.product == Product::Jira {
        return SeedCompatibility::default();
    }
    let versions = product_versions(shared, shared.product.key());
    let least = versions.iter().min_by_key(|version| version.build);
    let most = versions.iter().max_by_key(|version| version.build);
    match (least, most) {
        (Some(least), Some(most)) => SeedCompatibility {
            min_build: least.build,
            min_version: least.version.clone(),
            max_build: most.build,
            max_version: most.version.clone(),
        },
        _ => SeedCompatibility::default(),
    }
}

/// The Server range: its own when seeded, else the same as Data Center.
fn server_compatibility(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    version: &SeedMarketplaceVersion,
) -> SeedCompatibility {
    shared
        .server_compatibilities
        .get(&(app.key.clone(), version.build_number))
        .cloned()
        .unwrap_or_else(|| compatibility(shared, app, version))
}

/// guess: release dates a month apart in build order, the newest in 2025, so they are stable
/// (published versions do not move them); a published version's is the one it was posted with.
fn release_date(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    version: &SeedMarketplaceVersion,
) -> String {
    if let Some(published) = published(shared, app, version) {
        return published.release_date.clone();
    }
    let seeded = shared
        .catalog
        .iter()
        .find(|seed| seed.key == app.key)
        .map_or(&app.versions, |seed| &seed.versions);
    let newer = seeded
        .iter()
        .filter(|other| other.build_number > version.build_number)
        .count();
    let months_back = newer % 60;
    let (year, month) = (2025 - (months_back / 12) as i32, 12 - (months_back % 12));
    format!("{year}-{month:02}-15")
}

/// `{key}-{version}.jar`, or with the extension of the file served instead (`.obr`).
fn file_name(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    version: &SeedMarketplaceVersion,
) -> String {
    if let Some(published) = published(shared, app, version) {
        return published.asset.file_name.clone();
    }
    let extension = artifact_file(shared, app, version)
        .and_then(|path| path.extension())
        .and_then(|extension| extension.to_str())
        .unwrap_or("jar");
    format!("{}-{}.{extension}", app.key, version.name)
}

/// The file served as a version's artifact ([`crate::SimConfig::marketplace_artifact_file`]).
fn artifact_file<'a>(
    shared: &'a Shared,
    app: &SeedMarketplaceApp,
    version: &SeedMarketplaceVersion,
) -> Option<&'a PathBuf> {
    shared
        .artifact_files
        .get(&(app.key.clone(), version.build_number))
}

/// `/rest/2/assets/artifact%2F<uuid>%2F<file>`, with a uuid derived from key and build.
fn asset_href(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    version: &SeedMarketplaceVersion,
) -> String {
    if let Some(published) = published(shared, app, version) {
        return published.asset.href();
    }
    format!(
        "/rest/2/assets/artifact%2F{}%2F{}",
        asset_id(app, version),
        http::percent_encode(&file_name(shared, app, version))
    )
}

fn asset_id(app: &SeedMarketplaceApp, version: &SeedMarketplaceVersion) -> String {
    let digest = hex::encode(Sha256::digest(format!(
        "{}:{}",
        app.key, version.build_number
    )));
    format!(
        "{}-{}-4{}-8{}-{}",
        &digest[0..8],
        &digest[8..12],
        &digest[13..16],
        &digest[17..20],
        &digest[20..32]
    )
}

fn binary_href(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    version: &SeedMarketplaceVersion,
) -> String {
    format!(
        "{}download/apps/{}/version/{}",
        shared.marketplace_url, app.id, version.build_number
    )
}

/// Fields shared by AddonVersion and AddonVersionSummary.
fn version_common(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    version: &SeedMarketplaceVersion,
) -> Map<String, Value> {
    let key = http::percent_encode(&app.key);
    let asset = asset_href(shared, app, version);
    let license_key = if version.uses_licensing {
        "commercial"
    } else {
        "commercial-free"
    };
    let body = json!({
        "_links": {
            "self": link(format!("/rest/2/addons/{key}/versions/build/{}", version.build_number)),
            "alternate": html_link(format!("/apps/{}/{}/version-history#b{}", app.id, slug(&app.name), version.build_number)),
            "artifact": link(asset.clone()),
            "functionalCategories": [],
            "license": link(format!("/rest/2/licenseTypes/{license_key}")),
        },
        "_embedded": {
            "artifact": {"_links": {"self": link(asset), "binary": link(binary_href(shared, app, version))}},
            "functionalCategories": [],
            "highlights": [],
            "screenshots": [],
            "license": {"_links": {"self": link(format!("/rest/2/licenseTypes/{license_key}"))},
                        "key": license_key,
                        "name": if version.uses_licensing { "Commercial" } else { "Commercial - no charge" }},
        },
        "name": version.name,
        "status": "public",
        "paymentModel": if version.uses_licensing { "vendor" } else { "free" },
        "release": {"date": release_date(shared, app, version), "beta": false, "supported": true},
        "vendorLinks": {},
        "static": false,
        "deployable": true,
        "deployment": {"server": true, "cloud": false, "connect": false, "autoUpdateAllowed": false,
                       "permissions": [], "dataCenter": true, "dataCenterStatus": "compatible"},
    });
    let mut body = match body {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    if let Some(published) = published(shared, app, version) {
        // What the publisher posted (§4 fields); the license follows the payment model.
        body.insert("status".into(), json!(published.status.as_str()));
        body.insert("paymentModel".into(), json!(published.payment_model));
        let mut release = json!({"date": published.release_date, "beta": published.beta,
                                 "supported": published.supported});
        if let Some(by) = &published.released_by {
            release["releasedBy"] = json!(by);
        }
        body.insert("release".into(), release);
        body.insert(
            "deployment".into(),
            json!({"server": published.server, "cloud": false, "connect": false,
                   "autoUpdateAllowed": false, "permissions": [],
                   "dataCenter": published.data_center,
                   "dataCenterStatus": published.data_center_status}),
        );
    }
    body
}

/// A versions-list item: no `buildNumber`, no `compatibilities` (§4).
fn version_summary(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    version: &SeedMarketplaceVersion,
) -> Value {
    Value::Object(version_common(shared, app, version))
}

/// A full AddonVersion, shaped like the real sample plus the Data Center fields (§4).
fn version_body(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    version: &SeedMarketplaceVersion,
) -> Value {
    let mut body = version_common(shared, app, version);
    let bounds = |range: SeedCompatibility| {
        json!({
            "min": {"build": range.min_build, "version": range.min_version},
            "max": {"build": range.max_build, "version": range.max_version},
        })
    };
    body.insert("buildNumber".into(), json!(version.build_number));
    if let Some(published) = published(shared, app, version) {
        let bound = |application: &str, build: u64| {
            let name = product_versions(shared, application)
                .into_iter()
                .find(|known| known.build == build)
                .map(|known| known.version);
            match name {
                Some(name) => json!({"build": build, "version": name}),
                None => json!({"build": build}),
            }
        };
        let entries: Vec<Value> = published
            .compatibilities
            .iter()
            .map(|entry| {
                let mut hosting = Map::new();
                for (name, range) in [("server", entry.server), ("dataCenter", entry.data_center)] {
                    if let Some(range) = range {
                        hosting.insert(
                            name.into(),
                            json!({"min": bound(&entry.application, range.min),
                                   "max": bound(&entry.application, range.max)}),
                        );
                    }
                }
                json!({"application": entry.application, "hosting": hosting})
            })
            .collect();
        body.insert("compatibilities".into(), Value::Array(entries));
        let mut text = Map::new();
        if let Some(summary) = &published.release_summary {
            text.insert("releaseSummary".into(), json!(summary));
        }
        if let Some(notes) = &published.release_notes {
            text.insert("releaseNotes".into(), json!(notes));
        }
        body.insert("text".into(), Value::Object(text));
        return Value::Object(body);
    }
    body.insert(
        "compatibilities".into(),
        json!([{"application": shared.product.key(), "hosting": {
            "server": bounds(server_compatibility(shared, app, version)),
            "dataCenter": bounds(compatibility(shared, app, version)),
        }}]),
    );
    body.insert(
        "text".into(),
        json!({"releaseSummary": format!("{} {}", app.name, version.name)}),
    );
    Value::Object(body)
}

/// `GET /rest/2/assets/artifact%2F…` (§6): the binary link and file info.
fn asset_body(shared: &Shared, asset: &str) -> Result<Value, Response> {
    if let Some((id, name)) = publish::asset_id(&format!("/rest/2/assets/{asset}")) {
        let publishing = shared.publishing();
        if let Some(uploaded) = publishing
            .asset(&id)
            .filter(|found| found.file_name == name)
        {
            // guess: an asset that became a version downloads like one; before, from its own URL.
            let binary = publishing
                .version_of_asset(&id)
                .and_then(|(key, version)| {
                    let app = shared.catalog.iter().find(|app| app.key == key)?;
                    Some(format!(
                        "{}download/apps/{}/version/{}",
                        shared.marketplace_url, app.id, version.build_number
                    ))
                })
                .unwrap_or_else(|| format!("{}download/assets/{id}", shared.marketplace_url));
            return Ok(json!({
                "_links": {"self": link(uploaded.href()), "binary": link(binary)},
                "fileInfo": {"logicalFileName": uploaded.file_name, "size": uploaded.size},
            }));
        }
    }
    for app in &shared.catalog {
        for version in &app.versions {
            let name = file_name(shared, app, version);
            if asset == format!("artifact/{}/{}", asset_id(app, version), name) {
                let size = match artifact_file(shared, app, version) {
                    Some(path) => std::fs::metadata(path)
                        .map(|metadata| metadata.len())
                        .unwrap_or(0),
                    None => artifact(app, version).len() as u64,
                };
                return Ok(json!({
                    "_links": {"self": link(asset_href(shared, app, version)), "binary": link(binary_href(shared, app, version))},
                    "fileInfo": {"logicalFileName": name, "size": size},
                }));
            }
        }
    }
    Err(not_found("no such asset"))
}

fn artifact(app: &SeedMarketplaceApp, version: &SeedMarketplaceVersion) -> Vec<u8> {
    if version.corrupt_artifact {
        return b"<html><body>This is not a plugin artifact.</body></html>\n".to_vec();
    }
    jar::build_plugin_jar(&app.key, &app.name, &version.name, version.uses_licensing)
}

/// `GET /download/apps/{id}/version/{build}`: the generated jar, byte-stable, or the uploaded
/// bytes of a published version (a private one only when `private`).
fn download(
    shared: &Shared,
    which: impl Fn(&SeedMarketplaceApp) -> bool,
    build: &str,
    private: bool,
) -> Response {
    let found = shared
        .catalog
        .iter()
        .filter(|app| which(app))
        .find_map(|seed| {
            let app = with_published(shared, seed, private);
            let version = app
                .versions
                .iter()
                .find(|version| version.build_number.to_string() == build)?
                .clone();
            Some((app, version))
        });
    let Some((app, version)) = found else {
        return not_found("no such artifact");
    };
    let (app, version) = (&app, &version);
    let uploaded = published(shared, app, version).map(|published| published.asset.path.clone());
    let mut response = match uploaded.as_ref().or(artifact_file(shared, app, version)) {
        Some(path) => match stream_file(path) {
            Some(response) => response,
            None => return not_found("no such artifact"),
        },
        None => http::bytes_response(
            StatusCode::OK,
            "application/java-archive",
            artifact(app, version),
        ),
    };
    http::set_header(
        &mut response,
        header::CONTENT_DISPOSITION,
        &format!(
            "attachment; filename=\"{}\"",
            file_name(shared, app, version)
        ),
    );
    response
}

/// `GET /download/assets/{uuid}` (guess): an uploaded asset's bytes, for the publisher.
fn asset_download(shared: &Shared, id: &str) -> Response {
    let found = shared
        .publishing()
        .asset(id)
        .map(|asset| (asset.path.clone(), asset.file_name.clone()));
    let Some((path, name)) = found else {
        return not_found("no such asset");
    };
    let Some(mut response) = stream_file(&path) else {
        return not_found("no such asset");
    };
    http::set_header(
        &mut response,
        header::CONTENT_DISPOSITION,
        &format!("attachment; filename=\"{name}\""),
    );
    response
}

/// A 200 that streams a file from disk in 64 KiB chunks, with its `Content-Length`; `None` when the
/// file cannot be opened.
fn stream_file(path: &Path) -> Option<Response> {
    const CHUNK: usize = 64 * 1024;
    let file = std::fs::File::open(path).ok()?;
    let length = file.metadata().ok()?.len();
    let file = tokio::fs::File::from_std(file);
    let chunks = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0; CHUNK];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(Bytes::from(buffer)), Some(file)))
            }
            // The error ends the body early; the client sees a short read.
            Err(error) => Some((Err(error), None)),
        }
    });
    let mut response = Response::new(Body::from_stream(chunks));
    http::set_header(
        &mut response,
        header::CONTENT_TYPE,
        "application/java-archive",
    );
    http::set_header(&mut response, header::CONTENT_LENGTH, &length.to_string());
    Some(response)
}

/// `GET /rest/2/applications` (sample `applications-collection-limit0.json`) with the four products.
fn applications() -> Value {
    let embedded: Vec<Value> = APPLICATIONS
        .iter()
        .map(|(key, name)| {
            json!({"_links": {"self": link(format!("/rest/2/applications/{key}"))},
                   "key": key, "name": name})
        })
        .collect();
    json!({
        "_links": {
            "self": link("/rest/2/applications"),
            "byKey": template("/rest/2/applications/{applicationKey}"),
            "latestVersion": template("/rest/2/applications/{applicationKey}/versions/latest"),
            "versionByBuild": template("/rest/2/applications/{applicationKey}/versions/build/{applicationBuildNumber}"),
        },
        "_embedded": {"applications": embedded},
    })
}

/// The application key as the Marketplace knows it, or a 404 as for any unknown resource.
fn known_application(application: &str) -> Result<&str, Response> {
    APPLICATIONS
        .iter()
        .any(|(key, _)| *key == application)
        .then_some(application)
        .ok_or_else(|| not_found("no such application"))
}

/// The versions of `application`: the table, and for the simulated product its configured
/// version (replacing a table entry of the same name).
fn product_versions(shared: &Shared, application: &str) -> Vec<ProductVersion> {
    let mut versions: Vec<ProductVersion> = PRODUCT_VERSIONS
        .iter()
        .filter(|(key, version, _)| {
            *key == application
                && !(application == shared.product.key() && *version == shared.product_version)
        })
        .map(|(_, version, build)| ProductVersion {
            version: (*version).to_string(),
            build: *build,
        })
        .collect();
    if application == shared.product.key() {
        versions.push(ProductVersion {
            version: shared.product_version.clone(),
            build: shared.product_build,
        });
    }
    versions
}

/// `GET /rest/2/applications/{key}` (sample `application-jira.json`, trimmed).
fn application_body(application: &str) -> Value {
    let base = format!("/rest/2/applications/{application}");
    let name = APPLICATIONS
        .iter()
        .find(|(key, _)| *key == application)
        .map_or(application, |(_, name)| name);
    json!({
        "_links": {
            "self": link(base.clone()),
            "versions": template(format!("{base}/versions{{?afterBuildNumber,offset,limit}}")),
            "latestVersion": link(format!("{base}/versions/latest")),
            "versionByBuild": template(format!("{base}/versions/build/{{applicationBuildNumber}}")),
            "versionByName": template(format!("{base}/versions/name/{{name}}")),
            "addons": link(format!("/rest/2/addons?application={application}")),
        },
        "name": name,
        "key": application,
        "keyAliases": [],
        "status": "published",
        "hostingSupport": {
            "cloud": {"enabled": true, "customHamsKey": format!("{application}-core.ondemand")},
            "server": {"enabled": true, "customHamsKey": format!("{application}-core")},
            "dataCenter": {"enabled": true, "customHamsKey": format!("{application}-data-center")},
        },
        "compatibilityMode": "micro",
    })
}

/// A product version as an ApplicationVersion (sample `application-version-jira-8.6.0.json`).
fn application_version(application: &str, version: &ProductVersion) -> Value {
    json!({
        "_links": {
            "self": link(format!("/rest/2/applications/{application}/versions/build/{}", version.build)),
            "parent": link(format!("/rest/2/applications/{application}")),
        },
        "buildNumber": version.build,
        "dataCenterCompatible": true,
        "version": version.version,
        // guess: the release date is not used by upmsync; one date for all.
        "releaseDate": "2024-11-06",
        "status": "published",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_look_like_marketplace_urls() {
        assert_eq!(slug("ScriptRunner for Jira"), "scriptrunner-for-jira");
        assert_eq!(
            slug("Better PDF Exporter (for Jira)"),
            "better-pdf-exporter-for-jira"
        );
    }

    #[test]
    fn next_link_keeps_other_parameters() {
        let query = vec![
            ("hosting".to_string(), "datacenter".to_string()),
            ("offset".to_string(), "0".to_string()),
        ];
        assert_eq!(
            with_offset("/rest/2/x", &query, 10),
            "/rest/2/x?hosting=datacenter&offset=10"
        );
    }
}
