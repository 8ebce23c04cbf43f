//! The product listener: routes `{context}/rest/plugins/{1.0,latest}/…` (UPM) and the product-info
//! endpoints, and serves the plugin collection, single plugins and safe mode (upm-rest-api.md §1–§5).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Extensions, HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::{json, Value};

use super::auth::{self, Identity};
use super::cluster::Node;
use super::config::UPM_KEY;
use super::http;
use super::state::{now_ms, Shared, SimPluginState};
use super::{enablement, install, license, product, restart};

pub(crate) const INSTALLED: &str = "application/vnd.atl.plugins.installed+json";
pub(crate) const PLUGIN: &str = "application/vnd.atl.plugins.plugin+json";
pub(crate) const GENERIC: &str = "application/vnd.atl.plugins+json";
pub(crate) const ERROR: &str = "application/vnd.atl.plugins.error+json";
pub(crate) const TASK_ERROR: &str = "application/vnd.atl.plugins.task.error+json";
pub(crate) const SAFE_MODE_FLAG: &str = "application/vnd.atl.plugins.safe.mode.flag+json";

/// The largest request body read (uploads included).
pub(crate) const MAX_BODY: usize = 256 * 1024 * 1024;

/// Single-segment UPM resources this simulator does not serve; they answer 404 rather than the
/// 400 of a segment without `-key`.
const UNSIMULATED: &[&str] = &[
    "enablement-state",
    "uninstall",
    "product-updates",
    "notifications",
];

/// One request as the handlers see it.
pub(crate) struct Call {
    pub method: Method,
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    pub identity: Identity,
    /// Kept so a body can be handed back to an axum extractor with the router's body limit.
    pub extensions: Extensions,
}

impl Call {
    pub(crate) fn accept(&self) -> Option<&str> {
        http::header_text(&self.headers, header::ACCEPT)
    }

    /// The request's media type without parameters, lower-cased.
    pub(crate) fn content_type(&self) -> Option<String> {
        http::header_text(&self.headers, header::CONTENT_TYPE).map(http::essence)
    }

    /// The content negotiation JAX-RS does before a resource method runs: 415 when the body type is
    /// not one of `consumes`, 406 when `Accept` does not admit `produces` (upm-rest-api.md §3).
    ///
    /// guess: this runs before the missing-credentials 401, as Jersey 1 selects the resource method
    /// (media types included) before the resource filters run; wrong credentials are refused earlier.
    pub(crate) fn negotiate(
        &self,
        consumes: &[&str],
        produces: Option<&str>,
    ) -> Result<(), Response> {
        if !consumes.is_empty() {
            let matches = self.content_type().is_some_and(|content_type| {
                consumes.iter().any(|consumed| *consumed == content_type)
            });
            if !matches {
                return Err(http::empty(StatusCode::UNSUPPORTED_MEDIA_TYPE));
            }
        }
        if let Some(produced) = produces {
            if !http::accepts(self.accept(), produced) {
                return Err(http::empty(StatusCode::NOT_ACCEPTABLE));
            }
        }
        Ok(())
    }

    /// The cluster node answering this request (1 on a single node; cluster.rs).
    pub(crate) fn node(&self) -> usize {
        self.extensions.get::<Node>().map_or(1, |node| node.0)
    }

    /// The authenticated user (name, sysadmin), or the 401 of a resource that is not anonymous.
    pub(crate) fn require_user(&self) -> Result<(&str, bool), Response> {
        match &self.identity {
            Identity::User { name, sysadmin } => Ok((name, *sysadmin)),
            _ => Err(auth::unauthenticated(self.accept())),
        }
    }
}

/// Entry point of the product listener: authenticates, routes, adds Jira's headers.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let identity = auth::identify(&shared, &parts.headers);
    let call = Call {
        method: parts.method.clone(),
        headers: parts.headers.clone(),
        query: http::query_pairs(parts.uri.query()),
        identity,
        extensions: parts.extensions.clone(),
    };
    tracing::debug!(method = %parts.method, path = parts.uri.path(), "upm request");
    let mut response = if call.identity == Identity::Failed {
        // guess: wrong credentials are refused before routing, even on anonymous resources.
        auth::unauthenticated(call.accept())
    } else {
        route(&shared, &call, parts.uri.path(), body).await
    };
    decorate(&shared, &call.identity, &mut response);
    if parts.method == Method::HEAD {
        *response.body_mut() = Body::empty();
    }
    // Recorded by the fault layer in front of this handler (faults.rs).
    response
}

/// The headers a real Jira puts on every response (upm-rest-api.md §2).
fn decorate(shared: &Shared, identity: &Identity, response: &mut Response) {
    let number = shared.next_request_number();
    let minute_of_day = (now_ms() / 60_000) % (24 * 60);
    http::set_named_header(
        response,
        "x-arequestid",
        &format!("{minute_of_day}x{number}x1"),
    );
    // `X-ANODEID` is set by the load balancer layer, which knows the node (cluster.rs).
    match identity {
        Identity::User { name, .. } => {
            http::set_named_header(response, "x-ausername", name);
            http::set_named_header(response, "x-seraph-loginreason", "OK");
        }
        Identity::Failed => {
            http::set_named_header(response, "x-ausername", "anonymous");
            http::set_named_header(response, "x-seraph-loginreason", "AUTHENTICATED_FAILED");
        }
        Identity::Anonymous => http::set_named_header(response, "x-ausername", "anonymous"),
    }
}

async fn route(shared: &Arc<Shared>, call: &Call, path: &str, body: Body) -> Response {
    let Some(rest) = strip_context(path, &shared.context_path) else {
        return http::empty(StatusCode::NOT_FOUND);
    };
    for alias in ["/rest/plugins/1.0", "/rest/plugins/latest"] {
        if let Some(upm_path) = rest.strip_prefix(alias) {
            if upm_path.is_empty() || upm_path.starts_with('/') {
                return route_upm(shared, call, upm_path, body).await;
            }
        }
    }
    match rest.trim_end_matches('/') {
        "/rest/api/2/serverInfo" => product::server_info(shared, call),
        "/rest/applinks/1.0/manifest" => product::applinks_manifest(shared, call),
        "/rest/api/1.0/application-properties" => product::application_properties(shared, call),
        _ => http::empty(StatusCode::NOT_FOUND),
    }
}

/// The path after the context path, `None` when the request is outside it.
fn strip_context<'a>(path: &'a str, context: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(context)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Routes the part after `/rest/plugins/1.0` (upm-rest-api.md §1 resource map).
async fn route_upm(shared: &Arc<Shared>, call: &Call, upm_path: &str, body: Body) -> Response {
    // `GET /rest/plugins/1.0` without the trailing slash is not the collection (§1).
    let Some(inner) = upm_path.strip_prefix('/') else {
        return http::empty(StatusCode::NOT_FOUND);
    };
    let mut segments: Vec<&str> = inner.split('/').collect();
    // Tolerate one trailing slash on everything but the collection itself.
    if segments.len() > 1 && segments.last() == Some(&"") {
        segments.pop();
    }
    let method = if call.method == Method::HEAD {
        Method::GET
    } else {
        call.method.clone()
    };
    use Method as M;
    match segments.as_slice() {
        [""] => match method {
            M::GET => collection(shared, call),
            M::POST => install::post(shared, call, body).await,
            _ => http::method_not_allowed(&[M::GET, M::HEAD, M::POST]),
        },
        ["pending"] => only_get(&method, || install::pending_list(shared, call)),
        ["pending", id] => only_get(&method, || install::pending(shared, call, id)),
        ["tasks"] => only_get(&method, || install::task_list(shared, call)),
        ["tasks", id] => only_get(&method, || install::task(shared, call, id)),
        ["safe-mode"] => match method {
            M::GET => safe_mode_get(shared, call),
            M::PUT => safe_mode_put(shared, call, body).await,
            _ => http::method_not_allowed(&[M::GET, M::HEAD, M::PUT]),
        },
        ["requires-restart"] => only_get(&method, || restart::changes(shared, call)),
        ["installed-marketplace"] => {
            only_get(&method, || license::installed_marketplace(shared, call))
        }
        ["requires-restart", segment] => match method {
            M::DELETE => restart::cancel(shared, call, segment),
            _ => http::method_not_allowed(&[M::DELETE]),
        },
        [name] if UNSIMULATED.contains(name) => http::empty(StatusCode::NOT_FOUND),
        [segment] => match method {
            M::GET | M::PUT | M::DELETE => {
                plugin_resource(shared, call, &method, segment, body).await
            }
            _ => http::method_not_allowed(&[M::GET, M::HEAD, M::PUT, M::DELETE]),
        },
        [segment, "summary"] => match method {
            M::GET => summary(shared, call, segment),
            _ => http::method_not_allowed(&[M::GET, M::HEAD]),
        },
        [segment, "license"] => match method {
            M::GET | M::PUT | M::DELETE => {
                license::handle(shared, call, &method, segment, body).await
            }
            _ => http::method_not_allowed(&[M::GET, M::HEAD, M::PUT, M::DELETE]),
        },
        _ => http::empty(StatusCode::NOT_FOUND),
    }
}

fn only_get(method: &Method, handler: impl FnOnce() -> Response) -> Response {
    if method == Method::GET {
        handler()
    } else {
        http::method_not_allowed(&[Method::GET, Method::HEAD])
    }
}

/// Decodes a `{key}-key` segment (upm-rest-api.md §1, `UpmUriEscaper`): percent-decoded, last
/// `-key` stripped; anything else is a 400 task error.
pub(crate) fn plugin_key(segment: &str) -> Result<String, Response> {
    let invalid = || {
        http::json(
            StatusCode::BAD_REQUEST,
            TASK_ERROR,
            &json!({"errorMessage": "The plugin key in the URL must end in \"-key\"."}),
        )
    };
    let decoded = http::percent_decode(segment).ok_or_else(invalid)?;
    match decoded.strip_suffix("-key") {
        Some(key) if !key.is_empty() => Ok(key.to_string()),
        _ => Err(invalid()),
    }
}

/// The relative link of a plugin: `{context}/rest/plugins/1.0/{key}-key`.
pub(crate) fn plugin_link(shared: &Shared, key: &str) -> String {
    format!(
        "{}/{}-key",
        shared.upm_rest_path(),
        http::percent_encode(key)
    )
}

/// `GET /` (and HEAD): the installed plugins plus the user's upm-token header (§5.1, §5.2).
fn collection(shared: &Shared, call: &Call) -> Response {
    if let Err(response) = call.negotiate(&[], Some(INSTALLED)) {
        return response;
    }
    let (user, sysadmin) = match call.require_user() {
        Ok(user) => user,
        Err(response) => return response,
    };
    let base = shared.upm_rest_path();
    let mut state = shared.lock();
    let token = state.upm_token(call.node(), user);
    let mut plugins: Vec<&SimPluginState> = state.plugins.values().collect();
    // Sorted by name (UPM uses a locale collator; case-insensitive is close enough).
    plugins.sort_by(|a, b| {
        a.name
            .to_lowercase()
            .cmp(&b.name.to_lowercase())
            .then_with(|| a.key.cmp(&b.key))
    });
    let summaries: Vec<PluginSummary> = plugins
        .iter()
        .map(|plugin| PluginSummary::new(shared, plugin, sysadmin))
        .collect();
    let mut links = BTreeMap::new();
    links.insert("self", format!("{base}/"));
    links.insert(
        "changes-requiring-restart",
        format!("{base}/requires-restart"),
    );
    links.insert(
        "installed-marketplace",
        format!("{base}/installed-marketplace"),
    );
    links.insert(
        "marketplace",
        shared.absolute("plugins/servlet/upm/marketplace"),
    );
    links.insert("osgi-bundles", format!("{base}/osgi-bundles"));
    if state.tasks.iter().any(|task| !task.stage.is_done()) {
        links.insert("pending-tasks", format!("{base}/pending"));
    }
    safe_mode_links(&base, state.safe_mode, &mut links);
    drop(state);
    let mut response = http::json(
        StatusCode::OK,
        INSTALLED,
        &json!({"plugins": summaries, "links": links}),
    );
    http::set_named_header(&mut response, "upm-token", &token.to_string());
    response
}

fn safe_mode_links(base: &str, safe_mode: bool, links: &mut BTreeMap<&'static str, String>) {
    if safe_mode {
        links.insert(
            "exit-safe-mode-restore",
            format!("{base}/safe-mode?keepState=false"),
        );
        links.insert(
            "exit-safe-mode-keep",
            format!("{base}/safe-mode?keepState=true"),
        );
    } else {
        links.insert("enter-safe-mode", format!("{base}/safe-mode"));
    }
}

#[derive(Serialize)]
struct Vendor {
    name: String,
    #[serde(rename = "marketplaceLink")]
    marketplace_link: String,
    link: String,
}

/// A list item of `GET /` (upm-rest-api.md §5.1); nulls omitted.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PluginSummary {
    enabled: bool,
    links: BTreeMap<&'static str, String>,
    name: String,
    version: String,
    user_installed: bool,
    optional: bool,
    #[serde(rename = "static")]
    is_static: bool,
    unloadable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    restart_state: Option<&'static str>,
    key: String,
    uses_licensing: bool,
    remotable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor: Option<Vendor>,
    uninstallable: bool,
}

impl PluginSummary {
    fn new(shared: &Shared, plugin: &SimPluginState, sysadmin: bool) -> Self {
        let self_link = plugin_link(shared, &plugin.key);
        let is_upm = plugin.key == UPM_KEY;
        let mut links = BTreeMap::new();
        links.insert("self", self_link.clone());
        links.insert("plugin-summary", format!("{self_link}/summary"));
        links.insert("plugin-icon", format!("{self_link}/media/plugin-icon"));
        links.insert("plugin-logo", format!("{self_link}/media/plugin-logo"));
        links.insert(
            "manage",
            shared.absolute(&format!(
                "plugins/servlet/upm?fragment=manage%2F{}",
                http::percent_encode(&plugin.key)
            )),
        );
        if !is_upm {
            links.insert("modify", self_link.clone());
        }
        if plugin.restart_state.is_some() {
            links.insert(
                "change-requiring-restart",
                restart::change_link(shared, &plugin.key),
            );
        }
        // §5.1: `delete` only for sysadmins and plugins that may be uninstalled.
        if sysadmin && plugin.user_installed && plugin.uninstallable && !is_upm {
            links.insert("delete", self_link);
        }
        Self {
            enabled: plugin.enabled,
            links,
            name: plugin.name.clone(),
            version: plugin.version.clone(),
            user_installed: plugin.user_installed,
            // guess: every plugin is optional except UPM itself.
            optional: !is_upm,
            is_static: false,
            unloadable: false,
            restart_state: plugin.restart_state.map(|change| change.as_str()),
            key: plugin.key.clone(),
            uses_licensing: plugin.uses_licensing,
            remotable: false,
            vendor: plugin.vendor.as_ref().map(|(name, url)| Vendor {
                name: name.clone(),
                marketplace_link: url.clone(),
                link: url.clone(),
            }),
            uninstallable: plugin.uninstallable && !is_upm,
        }
    }
}

/// `GET /{key}-key` body (upm-rest-api.md §5.3): the summary plus module details.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PluginRepresentation {
    #[serde(flatten)]
    summary: PluginSummary,
    enabled_by_default: bool,
    unrecognised_module_types: bool,
    modules: Vec<Value>,
}

fn plugin_body(shared: &Shared, plugin: &SimPluginState, sysadmin: bool) -> PluginRepresentation {
    PluginRepresentation {
        summary: PluginSummary::new(shared, plugin, sysadmin),
        enabled_by_default: true,
        unrecognised_module_types: false,
        modules: Vec::new(),
    }
}

async fn plugin_resource(
    shared: &Shared,
    call: &Call,
    method: &Method,
    segment: &str,
    body: Body,
) -> Response {
    let (consumes, produces): (&[&str], Option<&str>) = match *method {
        Method::PUT => (&[PLUGIN], Some(PLUGIN)),
        Method::DELETE => (&[], None),
        _ => (&[], Some(PLUGIN)),
    };
    if let Err(response) = call.negotiate(consumes, produces) {
        return response;
    }
    let (_, sysadmin) = match call.require_user() {
        Ok(user) => user,
        Err(response) => return response,
    };
    let key = match plugin_key(segment) {
        Ok(key) => key,
        Err(response) => return response,
    };
    match *method {
        Method::PUT => put_plugin(shared, &key, sysadmin, body).await,
        Method::DELETE => delete_plugin(shared, &key, sysadmin),
        _ => {
            let state = shared.lock();
            match state.plugins.get(&key) {
                Some(plugin) => http::json(
                    StatusCode::OK,
                    PLUGIN,
                    &plugin_body(shared, plugin, sysadmin),
                ),
                None => http::empty(StatusCode::NOT_FOUND),
            }
        }
    }
}

/// `GET /{key}-key/summary` (§5.3): the list item under the generic media type.
fn summary(shared: &Shared, call: &Call, segment: &str) -> Response {
    if let Err(response) = call.negotiate(&[], Some(GENERIC)) {
        return response;
    }
    let (_, sysadmin) = match call.require_user() {
        Ok(user) => user,
        Err(response) => return response,
    };
    let key = match plugin_key(segment) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let state = shared.lock();
    match state.plugins.get(&key) {
        Some(plugin) => http::json(
            StatusCode::OK,
            GENERIC,
            &PluginSummary::new(shared, plugin, sysadmin),
        ),
        None => http::empty(StatusCode::NOT_FOUND),
    }
}

/// Reads a whole request body, or answers 400/413.
pub(crate) async fn read_body(body: Body) -> Result<bytes::Bytes, Response> {
    axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| http::empty(StatusCode::PAYLOAD_TOO_LARGE))
}

/// Parses a JSON request body; guess: malformed JSON is a 400 (Jackson's parse error).
pub(crate) async fn read_json(body: Body) -> Result<Value, Response> {
    let bytes = read_body(body).await?;
    serde_json::from_slice(&bytes).map_err(|error| {
        http::text(
            StatusCode::BAD_REQUEST,
            "text/plain;charset=UTF-8",
            &format!("Can not parse the request body as JSON: {error}"),
        )
    })
}

/// `PUT /{key}-key` `{"enabled": bool}` (upm-rest-api.md §5.4).
async fn put_plugin(shared: &Shared, key: &str, sysadmin: bool, body: Body) -> Response {
    let request = match read_json(body).await {
        Ok(value) => value,
        Err(response) => return response,
    };
    let mut state = shared.lock();
    let Some(plugin) = state.plugins.get_mut(key) else {
        return http::empty(StatusCode::NOT_FOUND);
    };
    if plugin.key == UPM_KEY {
        return http::json(
            StatusCode::CONFLICT,
            ERROR,
            &json!({"subCode": "upm.plugin.error.invalid.upm.plugin.action"}),
        );
    }
    // §5.4: a missing `enabled` is a NullPointerException in UPM, hence 500.
    let Some(enabled) = request.get("enabled").and_then(Value::as_bool) else {
        return http::empty(StatusCode::INTERNAL_SERVER_ERROR);
    };
    // A no-op when the state already matches (§5.4); otherwise the plugin system may refuse to
    // enable (missing dependency, enable failure), and disabling takes dependents down too.
    let was_enabled = plugin.enabled;
    if enabled && !was_enabled && !enablement::can_enable(&state, &shared.dependencies, key) {
        return enablement::failed_to_enable();
    }
    if let Some(plugin) = state.plugins.get_mut(key) {
        plugin.enabled = enabled;
    }
    enablement::settle(&mut state, &shared.dependencies);
    let Some(plugin) = state.plugins.get(key) else {
        return http::empty(StatusCode::NOT_FOUND);
    };
    let body = plugin_body(shared, plugin, sysadmin);
    http::json(StatusCode::OK, PLUGIN, &body)
}

/// `DELETE /{key}-key` (upm-rest-api.md §5.5), preconditions in UPM's order.
fn delete_plugin(shared: &Shared, key: &str, sysadmin: bool) -> Response {
    let mut state = shared.lock();
    let Some(plugin) = state.plugins.get(key) else {
        return http::empty(StatusCode::NOT_FOUND);
    };
    if !sysadmin {
        return auth::permission_denied(StatusCode::UNAUTHORIZED);
    }
    let name = plugin.name.clone();
    if key == UPM_KEY {
        // guess: §4 says UPM asks for 405 here; the simulator answers 405 as written.
        return http::json(
            StatusCode::METHOD_NOT_ALLOWED,
            ERROR,
            &json!({"errorMessage": "The Universal Plugin Manager cannot uninstall itself.",
                    "subCode": "upm.plugin.error.invalid.upm.plugin.action"}),
        );
    }
    let refusal = if !plugin.user_installed {
        Some((
            "upm.pluginUninstall.error.plugin.is.system",
            "is a system plugin",
        ))
    } else if !plugin.uninstallable {
        Some((
            "upm.pluginUninstall.error.plugin.not.uninstallable",
            "cannot be uninstalled",
        ))
    } else {
        None
    };
    if let Some((sub_code, reason)) = refusal {
        return http::json(
            StatusCode::FORBIDDEN,
            ERROR,
            &json!({"errorMessage": format!("Failed to uninstall \"{name}\": it {reason}."), "subCode": sub_code}),
        );
    }
    if state.safe_mode {
        return http::json(
            StatusCode::CONFLICT,
            ERROR,
            &json!({"subCode": "upm.pluginUninstall.error.safe.mode"}),
        );
    }
    if shared.requires_restart.contains(key) {
        // §4/§5.5: 202 with the plugin, `restartState: "remove"`, listed until the restart.
        restart::stage_removal(&mut state, key);
        return match state.plugins.get(key) {
            Some(plugin) => http::json(
                StatusCode::ACCEPTED,
                PLUGIN,
                &plugin_body(shared, plugin, sysadmin),
            ),
            None => http::empty(StatusCode::NOT_FOUND),
        };
    }
    state.plugins.remove(key);
    enablement::settle(&mut state, &shared.dependencies);
    http::empty(StatusCode::NO_CONTENT)
}

fn safe_mode_body(shared: &Shared, safe_mode: bool) -> Value {
    let base = shared.upm_rest_path();
    let mut links = BTreeMap::new();
    if safe_mode {
        safe_mode_links(&base, true, &mut links);
    } else {
        links.insert("safe-mode", format!("{base}/safe-mode"));
        links.insert("enter-safe-mode", format!("{base}/safe-mode"));
    }
    json!({"enabled": safe_mode, "links": links})
}

/// `GET /safe-mode` (upm-rest-api.md §5.12).
fn safe_mode_get(shared: &Shared, call: &Call) -> Response {
    if let Err(response) = call.negotiate(&[], Some(SAFE_MODE_FLAG)) {
        return response;
    }
    if let Err(response) = call.require_user() {
        return response;
    }
    let safe_mode = shared.lock().safe_mode;
    http::json(
        StatusCode::OK,
        SAFE_MODE_FLAG,
        &safe_mode_body(shared, safe_mode),
    )
}

/// `PUT /safe-mode?keepState=…` `{"enabled": bool}` (upm-rest-api.md §5.12): entering disables every
/// user-installed plugin; leaving restores them unless `keepState=true`.
async fn safe_mode_put(shared: &Shared, call: &Call, body: Body) -> Response {
    if let Err(response) = call.negotiate(&[SAFE_MODE_FLAG], Some(SAFE_MODE_FLAG)) {
        return response;
    }
    if let Err(response) = call.require_user() {
        return response;
    }
    let request = match read_json(body).await {
        Ok(value) => value,
        Err(response) => return response,
    };
    let Some(enable) = request.get("enabled").and_then(Value::as_bool) else {
        // guess: like PUT plugin, a missing flag is a 500.
        return http::empty(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let keep_state = http::query_value(&call.query, "keepState") == Some("true");
    let mut state = shared.lock();
    if enable == state.safe_mode {
        let sub_code = if enable {
            "upm.safeMode.error.already.entered.safeMode"
        } else {
            "upm.safeMode.error.already.exited.safeMode"
        };
        return http::json(StatusCode::CONFLICT, ERROR, &json!({"subCode": sub_code}));
    }
    if enable {
        let saved = state
            .plugins
            .values()
            .filter(|plugin| plugin.user_installed)
            .map(|plugin| (plugin.key.clone(), plugin.enabled))
            .collect();
        state.safe_mode_saved = Some(saved);
        for plugin in state
            .plugins
            .values_mut()
            .filter(|plugin| plugin.user_installed)
        {
            plugin.enabled = false;
        }
    } else if let Some(saved) = state.safe_mode_saved.take() {
        if !keep_state {
            for (key, enabled) in saved {
                if let Some(plugin) = state.plugins.get_mut(&key) {
                    plugin.enabled = enabled;
                }
            }
        }
    }
    state.safe_mode = enable;
    drop(state);
    http::json(
        StatusCode::OK,
        SAFE_MODE_FLAG,
        &safe_mode_body(shared, enable),
    )
}
