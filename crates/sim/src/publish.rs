//! Publishing on the simulated Marketplace (issue 12): the artifact upload of marketplace-api.md
//! §6 (`POST /rest/2/assets/artifact?file=NAME`) and the version create of §3/§4
//! (`POST /rest/2/addons/{key}/versions`), both for the one publisher account of
//! [`crate::SimConfig::publisher`] (HTTP Basic `email:api_token`, §1).
//!
//! Uploaded artifacts are streamed to files in a temporary directory (never held in memory whole)
//! and checked to be plugins with `upmsync-plugin`'s descriptor reader. A created version joins its
//! listing: `marketplace.rs` merges [`Publishing::versions`] into every read (latest, byName,
//! byBuild, the versions collection, downloads), hiding private ones from anyone but the publisher
//! asking with `includePrivate=true`.
//!
//! The request body fields follow a real publisher tool's fake Marketplace (MARV: Marvelution's
//! mpac-version-publisher, `core/src/test/resources/fake-marketplace/`) and §4. The validation
//! errors' `path`s are guesses: the real Marketplace's are not in the reference.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::config::SeedMarketplaceApp;
use super::http;
use super::state::Shared;

/// The largest artifact an upload may carry by default: 512 MiB (bytes). A larger one is refused
/// with 413, up front when `Content-Length` says so, else as soon as the streamed body passes the
/// cap (tests lower it with [`crate::Sim::set_max_artifact_bytes`]).
pub const MAX_ARTIFACT_BYTES: u64 = 512 * 1024 * 1024;

/// The largest version document a create may carry: 1 MiB (bytes); larger answers 413.
pub const MAX_VERSION_DOCUMENT_BYTES: usize = 1024 * 1024;

const JSON: &str = "application/json";

/// Who is calling the Marketplace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// No `Authorization` header.
    Anonymous,
    /// The publisher account's email and API token.
    Publisher,
    /// Credentials that are not the publisher's (or a scheme other than Basic).
    Failed,
}

/// Resolves `Authorization` against the publisher account (§1: Basic `email:api_token`).
pub(crate) fn caller(shared: &Shared, headers: &HeaderMap) -> Caller {
    let Some(value) = http::header_text(headers, header::AUTHORIZATION) else {
        return Caller::Anonymous;
    };
    let (scheme, credential) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        // guess: the Marketplace knows only Basic for API tokens; anything else is refused.
        return Caller::Failed;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credential.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    match decoded.as_deref().and_then(|text| text.split_once(':')) {
        Some((email, token)) if email == shared.publisher.0 && token == shared.publisher.1 => {
            Caller::Publisher
        }
        _ => Caller::Failed,
    }
}

/// 401 for missing or wrong credentials. guess: the body carries an `errors` array like the
/// Marketplace's other errors (§1), and the challenge names Basic.
pub(crate) fn unauthorized() -> Response {
    let mut response = http::json(
        StatusCode::UNAUTHORIZED,
        JSON,
        &json!({"errors": [{"message": "authentication with an Atlassian account email and API token is required"}]}),
    );
    http::set_header(
        &mut response,
        header::WWW_AUTHENTICATE,
        "Basic realm=\"Atlassian Marketplace\"",
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    http::json(status, JSON, &json!({"errors": [{"message": message}]}))
}

/// A stored upload (an "asset").
#[derive(Clone, Debug)]
pub(crate) struct Asset {
    /// The uuid of `artifact/<uuid>/<file name>`.
    pub id: String,
    /// The `file` the upload named, e.g. `my-app-1.2.3.jar`.
    pub file_name: String,
    /// Where the bytes are, in the simulator's temporary directory.
    pub path: PathBuf,
    /// Bytes.
    pub size: u64,
    /// The plugin key and version the artifact's descriptor names.
    pub key: String,
    pub version: String,
}

impl Asset {
    /// `/rest/2/assets/artifact%2F<uuid>%2F<file name>` (§6: the slashes pre-encoded).
    pub(crate) fn href(&self) -> String {
        format!(
            "/rest/2/assets/artifact%2F{}%2F{}",
            self.id,
            http::percent_encode(&self.file_name)
        )
    }
}

/// `public` or `private` (§4 `status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Visibility {
    Public,
    Private,
}

impl Visibility {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
        }
    }
}

/// An inclusive product build range as posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BuildRange {
    pub min: u64,
    pub max: u64,
}

impl BuildRange {
    pub(crate) fn contains(self, build: u64) -> bool {
        (self.min..=self.max).contains(&build)
    }
}

/// One `compatibilities[]` entry as posted (cloud hosting ignored: a Data Center simulator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublishedCompatibility {
    pub application: String,
    pub server: Option<BuildRange>,
    pub data_center: Option<BuildRange>,
}

/// A version created through `POST /rest/2/addons/{key}/versions`.
#[derive(Clone, Debug)]
pub(crate) struct PublishedVersion {
    pub name: String,
    pub build_number: u64,
    pub status: Visibility,
    /// `free`, `vendor` or `atlassian`.
    pub payment_model: String,
    /// `YYYY-MM-DD`; today (UTC) when the create left it out.
    pub release_date: String,
    pub released_by: Option<String>,
    pub beta: bool,
    pub supported: bool,
    pub compatibilities: Vec<PublishedCompatibility>,
    pub release_summary: Option<String>,
    pub release_notes: Option<String>,
    /// `deployment.server` / `deployment.dataCenter` / `deployment.dataCenterStatus` as posted
    /// (defaults: false, true, `compatible`).
    pub server: bool,
    pub data_center: bool,
    pub data_center_status: String,
    pub asset: Asset,
}

impl PublishedVersion {
    /// guess: a version uses licensing when it is paid (via the vendor or Atlassian).
    pub(crate) fn uses_licensing(&self) -> bool {
        self.payment_model != "free"
    }
}

/// Everything published since the simulator started.
#[derive(Debug, Default)]
pub(crate) struct Publishing {
    /// Where uploads are stored; made at the first upload, removed with the simulator.
    dir: Option<tempfile::TempDir>,
    /// By uuid.
    assets: BTreeMap<String, Asset>,
    /// By app key, in creation order.
    versions: BTreeMap<String, Vec<Arc<PublishedVersion>>>,
    /// The upload cap in bytes when not [`MAX_ARTIFACT_BYTES`].
    pub(crate) max_artifact_bytes: Option<u64>,
}

impl Publishing {
    /// The published versions of an app, in creation order.
    pub(crate) fn versions(&self, key: &str) -> Vec<Arc<PublishedVersion>> {
        self.versions.get(key).cloned().unwrap_or_default()
    }

    /// The published version of an app with this build number.
    pub(crate) fn version(&self, key: &str, build_number: u64) -> Option<Arc<PublishedVersion>> {
        self.versions
            .get(key)?
            .iter()
            .find(|version| version.build_number == build_number)
            .cloned()
    }

    /// The uploaded asset with this uuid.
    pub(crate) fn asset(&self, id: &str) -> Option<&Asset> {
        self.assets.get(id)
    }

    /// The published version an asset became, if any.
    pub(crate) fn version_of_asset(&self, id: &str) -> Option<(String, Arc<PublishedVersion>)> {
        self.versions.iter().find_map(|(key, versions)| {
            versions
                .iter()
                .find(|version| version.asset.id == id)
                .map(|version| (key.clone(), Arc::clone(version)))
        })
    }

    fn directory(&mut self) -> std::io::Result<PathBuf> {
        if let Some(dir) = &self.dir {
            return Ok(dir.path().to_path_buf());
        }
        let dir = tempfile::Builder::new()
            .prefix("upmsync-sim-marketplace-")
            .tempdir()?;
        let path = dir.path().to_path_buf();
        self.dir = Some(dir);
        Ok(path)
    }
}

/// A random version-4 uuid, as the Marketplace names assets.
fn uuid() -> String {
    let hex = format!("{:032x}", fastrand::u128(..));
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// `POST /rest/2/assets/artifact?file=NAME` (§6): streams the body to disk (at most
/// [`MAX_ARTIFACT_BYTES`]), checks it is a plugin jar or OBR, and answers 200 with the asset's
/// self link (guess: MARV answers 200, not 201). The caller has been authenticated.
pub(crate) async fn upload(
    shared: &Shared,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Body,
) -> Response {
    if !has_content_type(headers, "application/octet-stream") {
        return unsupported("application/octet-stream");
    }
    let Some(file_name) = http::query_value(query, "file").map(str::trim) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the `file` parameter (the artifact's file name) is required",
        );
    };
    let lower = file_name.to_ascii_lowercase();
    if file_name.contains(['/', '\\', '"'])
        || file_name.chars().any(char::is_control)
        || !(lower.ends_with(".jar") || lower.ends_with(".obr"))
        || file_name.len() <= 4
    {
        // guess: the real Marketplace's wording; MARV's stub only accepts `.jar`/`.obr` names.
        return error(
            StatusCode::BAD_REQUEST,
            &format!("`{file_name}` is not a `.jar` or `.obr` file name"),
        );
    }
    let cap = shared
        .publishing()
        .max_artifact_bytes
        .unwrap_or(MAX_ARTIFACT_BYTES);
    let declared = http::header_text(headers, header::CONTENT_LENGTH)
        .and_then(|length| length.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > cap) {
        return too_large(cap);
    }
    let directory = shared.publishing().directory();
    let directory = match directory {
        Ok(directory) => directory,
        Err(problem) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot store the upload: {problem}"),
            )
        }
    };
    let id = uuid();
    let path = directory.join(&id);
    let size = match store(body, &path, cap).await {
        Ok(size) => size,
        Err(response) => {
            let _ = tokio::fs::remove_file(&path).await;
            return response;
        }
    };
    let read_path = path.clone();
    let descriptor = tokio::task::spawn_blocking(move || {
        std::fs::File::open(&read_path)
            .map_err(|problem| problem.to_string())
            .and_then(|file| {
                upmsync_plugin::descriptor::read_descriptor_from(std::io::BufReader::new(file))
                    .map_err(|problem| problem.to_string())
            })
    })
    .await
    .unwrap_or_else(|join| Err(join.to_string()));
    let descriptor = match descriptor {
        Ok(descriptor) => descriptor,
        Err(reason) => {
            let _ = tokio::fs::remove_file(&path).await;
            return error(
                StatusCode::BAD_REQUEST,
                &format!("`{file_name}` is not an app artifact: {reason}"),
            );
        }
    };
    let asset = Asset {
        id: id.clone(),
        file_name: file_name.to_string(),
        path,
        size,
        key: descriptor.key,
        version: descriptor.version,
    };
    let href = asset.href();
    shared.publishing().assets.insert(id, asset);
    http::json(
        StatusCode::OK,
        JSON,
        &json!({"_links": {"self": {"href": href}}}),
    )
}

/// Whether the request's `Content-Type` is `expected` (parameters ignored).
fn has_content_type(headers: &HeaderMap, expected: &str) -> bool {
    http::header_text(headers, header::CONTENT_TYPE)
        .is_some_and(|value| http::essence(value) == expected)
}

/// 415 for a body of another media type. guess: the real Marketplace's answer to a wrong
/// `Content-Type` is not in the reference; the simulator insists on the documented ones.
fn unsupported(expected: &str) -> Response {
    error(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &format!("the body must be sent as `{expected}`"),
    )
}

/// 413 for an upload above `cap` bytes.
fn too_large(cap: u64) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the artifact is larger than the simulator's cap of `{cap}` bytes"),
    )
}

/// Writes the streamed body to `path`, refusing more than `cap` bytes; its size in bytes.
async fn store(body: Body, path: &Path, cap: u64) -> Result<u64, Response> {
    let failed = |problem: std::io::Error| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot store the upload: {problem}"),
        )
    };
    let mut file = tokio::fs::File::create(path).await.map_err(failed)?;
    let mut stream = body.into_data_stream();
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "the upload ended before its body did",
            )
        })?;
        size += chunk.len() as u64;
        if size > cap {
            return Err(too_large(cap));
        }
        file.write_all(&chunk).await.map_err(failed)?;
    }
    file.flush().await.map_err(failed)?;
    Ok(size)
}

/// One field error of a create: (JSON path, message).
type FieldError = (String, String);

/// `POST /rest/2/addons/{key}/versions` (§3): validates the version document (every problem at
/// once, 400 `{"errors":[{"path","message"}]}`), stores the version and returns its build number;
/// the caller answers 201. The caller has been authenticated and found the listing.
pub(crate) async fn create(
    shared: &Shared,
    app: &SeedMarketplaceApp,
    headers: &HeaderMap,
    body: Body,
) -> Result<u64, Response> {
    if !has_content_type(headers, JSON) {
        return Err(unsupported(JSON));
    }
    let bytes = axum::body::to_bytes(body, MAX_VERSION_DOCUMENT_BYTES)
        .await
        .map_err(|_| {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the version document is larger than 1 MiB",
            )
        })?;
    let document: Value = serde_json::from_slice(&bytes).map_err(|problem| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("the version document is not JSON: {problem}"),
        )
    })?;
    if !document.is_object() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "the version document must be a JSON object",
        ));
    }
    let mut publishing = shared.publishing();
    let version = validate(app, &document, &publishing).map_err(|errors| {
        let errors: Vec<Value> = errors
            .into_iter()
            .map(|(path, message)| json!({"path": path, "message": message}))
            .collect();
        http::json(StatusCode::BAD_REQUEST, JSON, &json!({"errors": errors}))
    })?;
    let build = version.build_number;
    publishing
        .versions
        .entry(app.key.clone())
        .or_default()
        .push(Arc::new(version));
    Ok(build)
}

/// Checks a version document against the listing (seeded and published versions) and the
/// uploaded assets; every problem found, or the version to store.
fn validate(
    app: &SeedMarketplaceApp,
    document: &Value,
    publishing: &Publishing,
) -> Result<PublishedVersion, Vec<FieldError>> {
    let mut errors: Vec<FieldError> = Vec::new();
    let mut problem = |path: &str, message: String| errors.push((path.to_string(), message));
    // (name, build) of every version the listing has, private ones included.
    let mut existing: Vec<(String, u64)> = app
        .versions
        .iter()
        .map(|version| (version.name.clone(), version.build_number))
        .collect();
    existing.extend(
        publishing
            .versions(&app.key)
            .iter()
            .map(|version| (version.name.clone(), version.build_number)),
    );

    let name = match document.get("name").and_then(Value::as_str).map(str::trim) {
        Some(name) if !name.is_empty() => {
            if existing.iter().any(|(other, _)| other == name) {
                problem("name", format!("a version named `{name}` already exists"));
            }
            Some(name.to_string())
        }
        _ => {
            problem(
                "name",
                "`name` is required (the version's display name)".into(),
            );
            None
        }
    };
    // A Java `long` on the real Marketplace (§4 `buildNumber` int64): 1 to 2^63 - 1.
    let build_number = match document
        .get("buildNumber")
        .and_then(Value::as_u64)
        .filter(|build| i64::try_from(*build).is_ok())
    {
        Some(build) if build > 0 => {
            if let Some((other, _)) = existing.iter().find(|(_, used)| *used == build) {
                problem(
                    "buildNumber",
                    format!("build number `{build}` is already used by version `{other}`"),
                );
            }
            Some(build)
        }
        _ => {
            problem(
                "buildNumber",
                "`buildNumber` must be a positive integer".into(),
            );
            None
        }
    };
    let compatibilities = compatibilities(document.get("compatibilities"), &mut problem);
    let asset = match document
        .pointer("/_links/artifact/href")
        .and_then(Value::as_str)
        .and_then(asset_id)
        .and_then(|(id, file_name)| {
            publishing
                .asset(&id)
                .filter(|asset| asset.file_name == file_name)
        }) {
        None => {
            problem(
                "_links.artifact",
                "`_links.artifact.href` must be the self link of an artifact uploaded to this Marketplace".into(),
            );
            None
        }
        Some(asset) => {
            if asset.key != app.key {
                // guess: the real Marketplace checks the key in the artifact against the listing.
                problem(
                    "_links.artifact",
                    format!("the artifact is app `{}`, not `{}`", asset.key, app.key),
                );
            }
            if let Some(name) = &name {
                if asset.version != *name {
                    // guess: the real Marketplace names the version after the artifact's.
                    problem(
                        "name",
                        format!("the artifact is version `{}`, not `{name}`", asset.version),
                    );
                }
            }
            Some(asset.clone())
        }
    };
    let status = match document.get("status").and_then(Value::as_str) {
        Some("public") => Some(Visibility::Public),
        Some("private") => Some(Visibility::Private),
        other => {
            problem(
                "status",
                format!(
                    "`status` must be `public` or `private`, got {}",
                    shown(other)
                ),
            );
            None
        }
    };
    let payment_model = match document.get("paymentModel").and_then(Value::as_str) {
        Some(model @ ("free" | "vendor" | "atlassian")) => Some(model.to_string()),
        other => {
            problem(
                "paymentModel",
                format!(
                    "`paymentModel` must be `free`, `vendor` or `atlassian`, got {}",
                    shown(other)
                ),
            );
            None
        }
    };
    let release = document.get("release");
    let release_date = match release.and_then(|release| release.get("date")) {
        None | Some(Value::Null) => Some(today()),
        Some(Value::String(date)) if is_date(date) => Some(date.clone()),
        Some(_) => {
            problem(
                "release.date",
                "`release.date` must be a date like `2026-12-01`".into(),
            );
            None
        }
    };
    let flag = |value: Option<&Value>, name: &str| {
        value
            .and_then(|value| value.get(name))
            .and_then(Value::as_bool)
    };
    let text = |name: &str| {
        document
            .pointer(&format!("/text/{name}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let deployment = document.get("deployment");
    match (
        name,
        build_number,
        compatibilities,
        asset,
        status,
        payment_model,
        release_date,
    ) {
        (
            Some(name),
            Some(build_number),
            Some(compatibilities),
            Some(asset),
            Some(status),
            Some(payment_model),
            Some(release_date),
        ) if errors.is_empty() => Ok(PublishedVersion {
            name,
            build_number,
            status,
            payment_model,
            release_date,
            released_by: release
                .and_then(|release| release.get("releasedBy"))
                .and_then(Value::as_str)
                .map(str::to_string),
            beta: flag(release, "beta").unwrap_or(false),
            supported: flag(release, "supported").unwrap_or(false),
            compatibilities,
            release_summary: text("releaseSummary"),
            release_notes: text("releaseNotes"),
            server: flag(deployment, "server").unwrap_or(false),
            data_center: flag(deployment, "dataCenter").unwrap_or(true),
            data_center_status: deployment
                .and_then(|deployment| deployment.get("dataCenterStatus"))
                .and_then(Value::as_str)
                .unwrap_or("compatible")
                .to_string(),
            asset,
        }),
        _ => Err(errors),
    }
}

/// `compatibilities` as posted: at least one entry, each for a known application with a Server or
/// Data Center range whose minimum is not above its maximum.
fn compatibilities(
    value: Option<&Value>,
    problem: &mut impl FnMut(&str, String),
) -> Option<Vec<PublishedCompatibility>> {
    let entries = match value.and_then(Value::as_array) {
        Some(entries) if !entries.is_empty() => entries,
        _ => {
            problem(
                "compatibilities",
                "at least one compatibility (application and build range) is required".into(),
            );
            return None;
        }
    };
    let mut parsed = Vec::new();
    let mut valid = true;
    for (index, entry) in entries.iter().enumerate() {
        let at = format!("compatibilities[{index}]");
        let application = entry.get("application").and_then(Value::as_str);
        let known = application.filter(|application| {
            super::marketplace::APPLICATIONS
                .iter()
                .any(|(key, _)| key == application)
        });
        let Some(application) = known else {
            problem(
                &format!("{at}.application"),
                format!("unknown application {}", shown(application)),
            );
            valid = false;
            continue;
        };
        let mut range = |hosting: &str| -> Result<Option<BuildRange>, ()> {
            let Some(range) = entry.pointer(&format!("/hosting/{hosting}")) else {
                return Ok(None);
            };
            let min = range.pointer("/min/build").and_then(Value::as_u64);
            let max = range.pointer("/max/build").and_then(Value::as_u64);
            match (min, max) {
                (Some(min), Some(max)) if min <= max => Ok(Some(BuildRange { min, max })),
                (Some(min), Some(max)) => {
                    problem(
                        &at,
                        format!("the minimum build `{min}` is above the maximum build `{max}`"),
                    );
                    Err(())
                }
                _ => {
                    // guess: the path of a range without its bounds.
                    problem(
                        &format!("{at}.hosting.{hosting}"),
                        "a range needs `min.build` and `max.build` (integers)".into(),
                    );
                    Err(())
                }
            }
        };
        let (server, data_center) = (range("server"), range("dataCenter"));
        match (server, data_center) {
            (Ok(None), Ok(None)) => {
                // guess: a compatibility without a Server or Data Center range is refused here.
                problem(
                    &format!("{at}.hosting"),
                    "a `dataCenter` (or `server`) build range is required".into(),
                );
                valid = false;
            }
            (Ok(server), Ok(data_center)) => parsed.push(PublishedCompatibility {
                application: application.to_string(),
                server,
                data_center,
            }),
            _ => valid = false,
        }
    }
    valid.then_some(parsed)
}

/// A value for an error message: `` `text` `` or `nothing`.
fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "nothing".to_string(), |value| format!("`{value}`"))
}

/// `(uuid, file name)` of an asset self link (relative or absolute, slashes `%2F`-encoded as §6
/// shows them or not).
pub(crate) fn asset_id(href: &str) -> Option<(String, String)> {
    let path = match href.find("/rest/2/assets/") {
        Some(at) => &href[at + "/rest/2/assets/".len()..],
        None => return None,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let mut parts = decoded.splitn(3, '/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("artifact"), Some(id), Some(name)) if !id.is_empty() && !name.is_empty() => {
            Some((id.to_string(), name.to_string()))
        }
        _ => None,
    }
}

/// `YYYY-MM-DD` with a plausible month and day.
fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return false;
    };
    let number = |part: &str, digits: usize| {
        (part.len() == digits && part.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    };
    matches!(
        (number(year, 4), number(month, 2), number(day, 2)),
        (Some(_), Some(1..=12), Some(1..=31))
    )
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    date_of(seconds)
}

/// The UTC date of a Unix time in seconds, as `YYYY-MM-DD` (Howard Hinnant's civil-from-days).
fn date_of(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_links_are_read_encoded_or_not() {
        let expected = Some(("abc".to_string(), "my-app-1.0.jar".to_string()));
        assert_eq!(
            asset_id("/rest/2/assets/artifact%2Fabc%2Fmy-app-1.0.jar"),
            expected
        );
        assert_eq!(
            asset_id("https://marketplace.example/rest/2/assets/artifact/abc/my-app-1.0.jar"),
            expected
        );
        assert_eq!(asset_id("/rest/2/assets/image%2Fabc%2Fx.png"), None);
        assert_eq!(asset_id("/rest/2/addons/x"), None);
    }

    #[test]
    fn dates() {
        assert!(is_date("2026-12-01"));
        assert!(!is_date("2026-13-01"));
        assert!(!is_date("26-12-01"));
        assert!(is_date(&today()));
        assert_eq!(date_of(0), "1970-01-01");
        // 2024-02-29 12:00 UTC, a leap day; 2026-12-01 00:00 UTC.
        assert_eq!(date_of(1_709_208_000), "2024-02-29");
        assert_eq!(date_of(1_796_083_200), "2026-12-01");
    }

    #[test]
    fn uuids_are_version_4() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(uuid(), id);
    }
}
