//! Installs: `POST /` (upload and install-by-URI), the background install task, and the task views
//! `/pending[/{id}]` and `/tasks[/{id}]` (upm-rest-api.md §5.6–§5.9).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use url::Url;

use super::auth;
use super::faults::TaskFault;
use super::front;
use super::http;
use super::jar;
use super::state::{now_ms, Shared, SimPluginState, Task, TaskKind, TaskStage};
use super::upm::{self, Call, GENERIC, TASK_ERROR};
use super::{enablement, restart};
use upmsync_plugin::version;

pub(crate) const INSTALL_URI: &str = "application/vnd.atl.plugins.install.uri+json";
const DOWNLOADING: &str = "application/vnd.atl.plugins.install.downloading+json";
const INSTALLING: &str = "application/vnd.atl.plugins.install.installing+json";
const COMPLETE: &str = "application/vnd.atl.plugins.install.complete+json";
const INSTALL_ERROR: &str = "application/vnd.atl.plugins.task.install.err+json";
const PENDING_TASKS: &str = "application/vnd.atl.plugins.pending-tasks+json";
/// The refusal text of UPM 8's app signature check (upm-rest-api.md §5.7).
const SIGNATURE_CHECK_FAILED: &str = "Signature check failed!";
/// `pingAfter` / `pollDelay` in ms (§5.9 default).
const POLL_DELAY_MS: u64 = 100;

/// What a task installs from.
enum Payload {
    Bytes(Bytes),
    Uri(Url),
}

/// Why a task failed: a UPM i18n key and/or a human message (§4).
struct Failure {
    sub_code: Option<&'static str>,
    message: Option<String>,
}

impl Failure {
    fn code(sub_code: &'static str) -> Self {
        Self {
            sub_code: Some(sub_code),
            message: None,
        }
    }

    fn message(message: String) -> Self {
        Self {
            sub_code: None,
            message: Some(message),
        }
    }
}

/// `POST /?token=…`: checks permission, token and gates in UPM's order, then starts a task and
/// answers 202 with its legacy representation (§5.7, §5.8).
pub(crate) async fn post(shared: &Arc<Shared>, call: &Call, body: Body) -> Response {
    let kind = match call.content_type().as_deref() {
        Some("multipart/form-data" | "multipart/mixed") => TaskKind::Upload,
        Some(INSTALL_URI) => TaskKind::Uri,
        _ => return http::empty(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    };
    let (user, sysadmin) = match call.require_user() {
        Ok((user, sysadmin)) => (user.to_string(), sysadmin),
        Err(response) => return response,
    };
    // Read the body up front so an early refusal does not leave an upload half-sent.
    let bytes = match upm::read_body(body).await {
        Ok(bytes) => bytes,
        Err(response) => return response,
    };
    // §2: uploads need sysadmin (401); install-by-URI checks it inside the task.
    if kind == TaskKind::Upload && !sysadmin {
        return auth::permission_denied(StatusCode::UNAUTHORIZED);
    }
    let token = http::query_value(&call.query, "token");
    if !shared.lock().consume_upm_token(call.node(), &user, token) {
        let body = json!({"errorMessage": "invalid token", "subCode": "upm.error.invalid.token"});
        return if kind == TaskKind::Upload && http::wants_textarea(call.accept()) {
            http::textarea(StatusCode::FORBIDDEN, &body)
        } else {
            http::json(StatusCode::FORBIDDEN, "application/json", &body)
        };
    }
    {
        let state = shared.lock();
        if kind == TaskKind::Upload && !state.upload_enabled {
            // guess: exact body of the upload gate (§5.7 only quotes the text).
            return http::text(
                StatusCode::FORBIDDEN,
                "text/plain;charset=UTF-8",
                "Plugins cannot be installed via upload",
            );
        }
        if state.safe_mode {
            return http::json(
                StatusCode::CONFLICT,
                TASK_ERROR,
                &json!({"errorMessage": "Plugins cannot be installed while the system is in safe mode."}),
            );
        }
    }
    let (source, payload) = match kind {
        TaskKind::Upload => match read_upload(call, bytes).await {
            Ok((source, bytes)) => (source, Payload::Bytes(bytes)),
            Err(response) => return response,
        },
        TaskKind::Uri => match read_install_uri(&bytes) {
            Ok((source, uri)) => (source, Payload::Uri(uri)),
            Err(response) => return response,
        },
    };
    // UPM 8's signature check (§5.7): the simulator's uploads are unsigned jars, so with the check
    // on every upload is refused; Marketplace artifacts are signed, so installs by URI from the
    // (simulated) Marketplace pass and any other URI fails once its task has downloaded it.
    let unsigned_uri = {
        let state = shared.lock();
        if kind == TaskKind::Upload && state.signature_check {
            // guess: the exact status and body; §5.7 only reports "Signature check failed!" with a
            // 403 seen, so the body is that text, like the upload gate above.
            return http::text(
                StatusCode::FORBIDDEN,
                "text/plain;charset=UTF-8",
                SIGNATURE_CHECK_FAILED,
            );
        }
        match &payload {
            Payload::Uri(uri) => {
                state.signature_check && uri.origin() != shared.marketplace_url.origin()
            }
            Payload::Bytes(_) => false,
        }
    };
    let created = Instant::now();
    let task = Task {
        id: task_id(),
        user,
        source,
        created_ms: now_ms(),
        stage: match kind {
            TaskKind::Upload => TaskStage::Installing,
            TaskKind::Uri => TaskStage::Downloading,
        },
        kind,
        started: created,
        installing_at: (kind == TaskKind::Upload).then_some(created),
        finished_at: None,
    };
    let task_fault = call.extensions.get::<TaskFault>().cloned();
    let (generation, forced_failure) = {
        let mut state = shared.lock();
        state.tasks.push(task.clone());
        let generation = state.generation;
        let forced_failure = match &task_fault {
            Some(TaskFault::Fail(message)) => Some(message.clone()),
            // guess: reported as a failed install task with the same text.
            _ if unsigned_uri => Some(SIGNATURE_CHECK_FAILED.to_string()),
            _ => state.fail_next_install.take(),
        };
        (generation, forced_failure)
    };
    // A hanging task (fault injection) is never run, so it stays in its first stage.
    if !matches!(task_fault, Some(TaskFault::Hang)) {
        tokio::spawn(run(
            Arc::clone(shared),
            task.id.clone(),
            payload,
            sysadmin,
            forced_failure,
            generation,
        ));
    }

    let (content_type, body) = legacy(shared, &task);
    let mut response = if kind == TaskKind::Upload && http::wants_textarea(call.accept()) {
        http::textarea(StatusCode::ACCEPTED, &body)
    } else {
        // guess: install-by-URI answers plain JSON whatever the Accept (its 403 is never wrapped either).
        http::json(StatusCode::ACCEPTED, content_type, &body)
    };
    let location = shared.absolute(&format!("rest/plugins/1.0/pending/{}", task.id));
    http::set_header(&mut response, header::LOCATION, &location);
    response
}

/// The multipart part named `plugin`: (file name, bytes).
async fn read_upload(call: &Call, bytes: Bytes) -> Result<(String, Bytes), Response> {
    let bad_request = |message: String| {
        http::json(
            StatusCode::BAD_REQUEST,
            TASK_ERROR,
            &json!({"errorMessage": message}),
        )
    };
    let mut request = Request::new(Body::from(bytes));
    *request.headers_mut() = call.headers.clone();
    *request.extensions_mut() = call.extensions.clone();
    // axum's parser only knows multipart/form-data; UPM also takes multipart/mixed with the same framing.
    if let Some(content_type) = http::header_text(&call.headers, header::CONTENT_TYPE) {
        let form_data = content_type.replacen("multipart/mixed", "multipart/form-data", 1);
        if let Ok(value) = HeaderValue::from_str(&form_data) {
            request.headers_mut().insert(header::CONTENT_TYPE, value);
        }
    }
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|rejection| bad_request(format!("malformed multipart body: {rejection}")))?;
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|error| bad_request(format!("malformed multipart body: {error}")))?;
        let Some(field) = field else {
            // guess: UPM has no dedicated error for a missing part.
            return Err(bad_request(
                "the request has no file part named `plugin`".into(),
            ));
        };
        if field.name() != Some("plugin") {
            continue;
        }
        // §5.7: without a file name UPM names the temp file after `?type=` (default `jar`).
        let source = field
            .file_name()
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "plugin.{}",
                    http::query_value(&call.query, "type").unwrap_or("jar")
                )
            });
        let data = field
            .bytes()
            .await
            .map_err(|error| bad_request(format!("malformed multipart body: {error}")))?;
        return Ok((source, data));
    }
}

/// `{"pluginUri": "…", "pluginName"?: "…"}` → (display name, absolute URI), or 400 (§5.8).
fn read_install_uri(bytes: &[u8]) -> Result<(String, Url), Response> {
    let invalid = |sub_code: &str| {
        http::json(
            StatusCode::BAD_REQUEST,
            TASK_ERROR,
            &json!({"subCode": sub_code}),
        )
    };
    let request: Value = serde_json::from_slice(bytes).map_err(|error| {
        http::text(
            StatusCode::BAD_REQUEST,
            "text/plain;charset=UTF-8",
            &format!("Can not parse the request body as JSON: {error}"),
        )
    })?;
    let text = request
        .get("pluginUri")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim();
    // java.net.URI refuses spaces and control characters; an empty or missing URI is a syntax error too.
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("upm.pluginInstall.error.invalid.uri.syntax"));
    }
    let uri = match Url::parse(text) {
        Ok(uri) => uri,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err(invalid("upm.pluginInstall.error.invalid.relative.uri"))
        }
        Err(_) => return Err(invalid("upm.pluginInstall.error.invalid.uri.syntax")),
    };
    let name = request
        .get("pluginName")
        .and_then(Value::as_str)
        .filter(|name| !name.trim().is_empty())
        .map(str::to_string)
        .or_else(|| {
            uri.path_segments()
                .and_then(|mut segments| segments.next_back().map(str::to_string))
                .filter(|segment| !segment.is_empty())
        })
        .unwrap_or_else(|| uri.to_string());
    Ok((name, uri))
}

/// The task body: an install by URI downloads for at least `download_delay` (and as long as the
/// download takes), then every task installs for `task_delay`, whether polled or not.
async fn run(
    shared: Arc<Shared>,
    id: String,
    payload: Payload,
    sysadmin: bool,
    forced_failure: Option<String>,
    // The product restart count when the task was created (a restart abandons the task).
    generation: u64,
) {
    let started = Instant::now();
    let artifact = match payload {
        Payload::Bytes(bytes) => Ok(bytes),
        // §2: install-by-URI needs sysadmin, checked inside the task.
        Payload::Uri(_) if !sysadmin => {
            Err(Failure::code("upm.pluginInstall.error.install.unpermitted"))
        }
        Payload::Uri(uri) => {
            let downloaded = download(&shared, &uri).await;
            if let Some(remaining) = shared.download_delay.checked_sub(started.elapsed()) {
                tokio::time::sleep(remaining).await;
            }
            if let Some(task) = shared.lock().task_mut(&id) {
                task.enter(TaskStage::Installing);
            }
            downloaded
        }
    };
    tokio::time::sleep(shared.task_delay).await;
    let mut state = shared.lock();
    if state.generation != generation {
        // The product restarted while the task ran: the task is gone and its result with it.
        tracing::debug!(task = %id, "install task abandoned by a restart");
        return;
    }
    let source = state
        .task(&id)
        .map(|task| task.source.clone())
        .unwrap_or_default();
    let outcome = artifact.and_then(|bytes| match forced_failure {
        Some(message) => Err(Failure::message(message)),
        None => jar::read_descriptor(&bytes)
            .map_err(|error| Failure::message(format!("Failed to install {source}: {error}"))),
    });
    let stage = match outcome {
        Ok(descriptor) => {
            let key = descriptor.key.clone();
            if shared.requires_restart.contains(&key) {
                // The task succeeds; the change waits for a restart (restart.rs).
                restart::stage(&mut state, descriptor);
            } else if apply(&mut state.plugins, descriptor) {
                enablement::after_install(&mut state, &shared.dependencies, &key);
            }
            TaskStage::Succeeded { key }
        }
        Err(failure) => TaskStage::Failed {
            sub_code: failure.sub_code.map(str::to_string),
            message: failure.message,
        },
    };
    tracing::debug!(task = %id, ?stage, "install task finished");
    if let Some(task) = state.task_mut(&id) {
        task.enter(stage);
    }
}

/// The plugin framework's rule (§5.6): a version `>=` the installed one replaces it; a lower one is
/// discarded while the task still succeeds. Returns whether the plugin was installed or replaced.
fn apply(
    plugins: &mut BTreeMap<String, SimPluginState>,
    descriptor: jar::PluginDescriptor,
) -> bool {
    match plugins.get_mut(&descriptor.key) {
        Some(existing) => {
            if version::compare(&descriptor.version, &existing.version) == Ordering::Less {
                return false;
            }
            // guess: an upgrade keeps the enabled state and the user-installed/uninstallable flags.
            existing.version = descriptor.version;
            existing.name = descriptor.name;
            existing.uses_licensing = descriptor.uses_licensing;
            true
        }
        None => {
            plugins.insert(
                descriptor.key.clone(),
                SimPluginState {
                    key: descriptor.key,
                    name: descriptor.name,
                    version: descriptor.version,
                    enabled: true,
                    user_installed: true,
                    uninstallable: true,
                    uses_licensing: descriptor.uses_licensing,
                    vendor: None,
                    restart_state: None,
                },
            );
            true
        }
    }
}

/// Fetches an install URI like `PluginDownloadServiceImpl` (§5.8): http, https and file; the client
/// follows at most 6 redirects with 30 s timeouts.
async fn download(shared: &Shared, uri: &Url) -> Result<Bytes, Failure> {
    match uri.scheme() {
        "http" | "https" => {
            // Without a route out (field report bitbucket-webhooks-plugin #70) the connection fails,
            // whatever the host. guess: `file:` URIs still read local files.
            if let Some(message) = front::unreachable_message(shared, uri) {
                return Err(Failure {
                    sub_code: Some("upm.pluginInstall.error.response.exception"),
                    message: Some(message),
                });
            }
            let response = shared
                .http
                .get(uri.clone())
                .send()
                .await
                .map_err(|_| Failure::code("upm.pluginInstall.error.response.exception"))?;
            let status = response.status();
            if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
                return Err(Failure::code("upm.pluginInstall.error.file.not.found"));
            }
            if !status.is_success() {
                return Err(Failure::code("upm.pluginInstall.error.response.exception"));
            }
            response
                .bytes()
                .await
                .map_err(|_| Failure::code("upm.pluginInstall.error.response.exception"))
        }
        "file" => {
            let path = uri
                .to_file_path()
                .map_err(|_| Failure::code("upm.pluginInstall.error.file.not.found"))?;
            tokio::fs::read(path)
                .await
                .map(Bytes::from)
                .map_err(|_| Failure::code("upm.pluginInstall.error.file.not.found"))
        }
        _ => Err(Failure::code(
            "upm.pluginInstall.error.unsupported.protocol",
        )),
    }
}

/// A stable, opaque user key (Server/DC bodies carry `userKey`).
fn user_key(user: &str) -> String {
    hex::encode(Sha256::digest(user.as_bytes()))[..32].to_string()
}

fn stage_type(stage: &TaskStage) -> &'static str {
    match stage {
        TaskStage::Downloading => DOWNLOADING,
        TaskStage::Installing => INSTALLING,
        TaskStage::Succeeded { .. } => COMPLETE,
        TaskStage::Failed { .. } => INSTALL_ERROR,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyTask {
    #[serde(rename = "type")]
    kind: &'static str,
    ping_after: u64,
    status: LegacyStatus,
    links: BTreeMap<&'static str, String>,
    timestamp: u64,
    user_key: String,
    id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyStatus {
    done: bool,
    status_code: u16,
    content_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
    source: String,
    name: String,
}

/// The legacy representation (exact shape of the real 202 sample) and its content type.
fn legacy(shared: &Shared, task: &Task) -> (&'static str, LegacyTask) {
    let base = shared.upm_rest_path();
    let content_type = stage_type(&task.stage);
    let (sub_code, error_message) = match &task.stage {
        TaskStage::Failed { sub_code, message } => (sub_code.clone(), message.clone()),
        _ => (None, None),
    };
    let mut links = BTreeMap::new();
    links.insert("self", format!("{base}/pending/{}", task.id));
    links.insert("alternate", format!("{base}/tasks/{}", task.id));
    let body = LegacyTask {
        kind: "INSTALL",
        ping_after: POLL_DELAY_MS,
        status: LegacyStatus {
            done: task.stage.is_done(),
            status_code: 200,
            content_type,
            sub_code,
            error_message,
            source: task.source.clone(),
            name: task.source.clone(),
        },
        links,
        timestamp: task.created_ms,
        user_key: user_key(&task.user),
        id: task.id.clone(),
    };
    (content_type, body)
}

/// `GET /pending/{id}`: 200 while running, 303 to the plugin on success, 200 error body on failure.
pub(crate) fn pending(shared: &Shared, call: &Call, id: &str) -> Response {
    // guess: no Accept check here, since the answer's type depends on the task's stage.
    if let Err(response) = call.require_user() {
        return response;
    }
    let Some(task) = shared.lock().task(id).cloned() else {
        return http::empty(StatusCode::NOT_FOUND);
    };
    if let TaskStage::Succeeded { key } = &task.stage {
        let location = shared.absolute(&format!(
            "rest/plugins/1.0/{}-key",
            http::percent_encode(key)
        ));
        return http::located(StatusCode::SEE_OTHER, &location);
    }
    let (content_type, body) = legacy(shared, &task);
    http::json(StatusCode::OK, content_type, &body)
}

/// `GET /pending`: the running tasks in legacy form.
pub(crate) fn pending_list(shared: &Shared, call: &Call) -> Response {
    if let Err(response) = call.negotiate(&[], Some(PENDING_TASKS)) {
        return response;
    }
    if let Err(response) = call.require_user() {
        return response;
    }
    let running: Vec<Task> = shared
        .lock()
        .tasks
        .iter()
        .filter(|task| !task.stage.is_done())
        .cloned()
        .collect();
    let tasks: Vec<LegacyTask> = running.iter().map(|task| legacy(shared, task).1).collect();
    let links = json!({"self": format!("{}/pending", shared.upm_rest_path())});
    http::json(
        StatusCode::OK,
        PENDING_TASKS,
        &json!({"links": links, "tasks": tasks}),
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskRepresentation {
    links: BTreeMap<&'static str, String>,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
    #[serde(rename = "type")]
    kind: &'static str,
    progress: f64,
    poll_delay: u64,
    timestamp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_key: Option<String>,
}

/// The `/tasks/{id}` view (§5.9); `userKey` only for an authenticated admin.
fn representation(shared: &Shared, task: &Task, show_user: bool) -> TaskRepresentation {
    let base = shared.upm_rest_path();
    let mut links = BTreeMap::new();
    links.insert("self", format!("{base}/tasks/{}", task.id));
    let (progress, error) = match &task.stage {
        TaskStage::Downloading => (0.25, None),
        TaskStage::Installing => (0.5, None),
        TaskStage::Succeeded { key } => {
            links.insert("result", upm::plugin_link(shared, key));
            (1.0, None)
        }
        TaskStage::Failed { sub_code, message } => {
            let mut error = serde_json::Map::new();
            if let Some(code) = sub_code {
                error.insert("code".into(), json!(code));
            }
            if let Some(message) = message {
                error.insert("message".into(), json!(message));
            }
            (1.0, Some(Value::Object(error)))
        }
    };
    TaskRepresentation {
        links,
        done: task.stage.is_done(),
        error,
        kind: "INSTALL",
        progress,
        poll_delay: POLL_DELAY_MS,
        timestamp: task.created_ms,
        user_key: show_user.then(|| user_key(&task.user)),
    }
}

/// `GET /tasks/{id}`: anonymous, always 200 for a known task, never a redirect.
pub(crate) fn task(shared: &Shared, call: &Call, id: &str) -> Response {
    if let Err(response) = call.negotiate(&[], Some(GENERIC)) {
        return response;
    }
    let Some(task) = shared.lock().task(id).cloned() else {
        // guess: an unknown id is a 404 here as on /pending.
        return http::empty(StatusCode::NOT_FOUND);
    };
    let show_user = call.identity.user().is_some();
    http::json(
        StatusCode::OK,
        GENERIC,
        &representation(shared, &task, show_user),
    )
}

/// `GET /tasks`: the running tasks in the new form.
pub(crate) fn task_list(shared: &Shared, call: &Call) -> Response {
    if let Err(response) = call.negotiate(&[], Some(GENERIC)) {
        return response;
    }
    let show_user = call.identity.user().is_some();
    let running: Vec<Task> = shared
        .lock()
        .tasks
        .iter()
        .filter(|task| !task.stage.is_done())
        .cloned()
        .collect();
    let tasks: Vec<TaskRepresentation> = running
        .iter()
        .map(|task| representation(shared, task, show_user))
        .collect();
    let links = json!({"self": format!("{}/tasks", shared.upm_rest_path())});
    http::json(
        StatusCode::OK,
        GENERIC,
        &json!({"links": links, "tasks": tasks}),
    )
}

/// A random task id in the hyphenated 8-4-4-4-12 hex form UPM's task ids take.
fn task_id() -> String {
    let bits = fastrand::u128(..);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        bits >> 96,
        (bits >> 80) & 0xffff,
        (bits >> 64) & 0xffff,
        (bits >> 48) & 0xffff,
        bits & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(version: &str) -> SimPluginState {
        SimPluginState {
            key: "k".into(),
            name: "Old".into(),
            version: version.into(),
            enabled: false,
            user_installed: true,
            uninstallable: true,
            uses_licensing: false,
            vendor: None,
            restart_state: None,
        }
    }

    fn descriptor(version: &str) -> jar::PluginDescriptor {
        jar::PluginDescriptor {
            key: "k".into(),
            name: "New".into(),
            version: version.into(),
            uses_licensing: true,
        }
    }

    #[test]
    fn equal_or_higher_replaces_and_keeps_enabled_state() {
        for version in ["1.0", "1.0.0", "1.1"] {
            let mut plugins = BTreeMap::from([("k".to_string(), plugin("1.0.0"))]);
            assert!(apply(&mut plugins, descriptor(version)));
            assert_eq!(plugins["k"].version, version);
            assert_eq!(plugins["k"].name, "New");
            assert!(!plugins["k"].enabled);
        }
    }

    #[test]
    fn lower_version_is_discarded() {
        let mut plugins = BTreeMap::from([("k".to_string(), plugin("2.0.0"))]);
        assert!(!apply(&mut plugins, descriptor("1.9.9")));
        assert_eq!(plugins["k"].version, "2.0.0");
        assert_eq!(plugins["k"].name, "Old");
    }

    #[test]
    fn install_uri_validation() {
        let status = |body: &str| match read_install_uri(body.as_bytes()) {
            Ok(_) => StatusCode::ACCEPTED,
            Err(response) => response.status(),
        };
        assert_eq!(
            status(r#"{"pluginUri":"http://host/a.jar"}"#),
            StatusCode::ACCEPTED
        );
        assert_eq!(
            status(r#"{"pluginUri":"/download/a.jar"}"#),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(r#"{"pluginUri":"http://ho st/a.jar"}"#),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(status(r#"{"pluginName":"x"}"#), StatusCode::BAD_REQUEST);
        assert_eq!(status("not json"), StatusCode::BAD_REQUEST);
        let (name, _) = read_install_uri(br#"{"pluginUri":"http://host/dir/app-1.0.jar"}"#)
            .ok()
            .unwrap();
        assert_eq!(name, "app-1.0.jar");
    }
}
