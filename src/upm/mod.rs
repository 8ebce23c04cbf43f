//! The only code that speaks UPM's REST API (`/rest/plugins/1.0/`): reads live state, installs,
//! uninstalls, enables, disables and licenses apps, following the protocol as it really is
//! (upm-rest-api.md).

pub mod body;
pub(crate) mod transport;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::model::{
    redact_url, AppKey, Credentials, DesiredInstance, LicenseHash, Live, LiveApp, LiveLicense,
    Product, ProductInfo, RestartAction, Secret, Version,
};
use crate::retry::{self, RetryPolicy};
use wire::media;

/// How long one request may take before it is abandoned.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Uploads carry a whole artifact.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an install task may run by default. UPM's own download timeout is 30 s per read, but
/// installing a large app on a busy node takes minutes.
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(600);

/// Retry bounds and the install-task timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    pub retry: RetryPolicy,
    pub task_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            task_timeout: DEFAULT_TASK_TIMEOUT,
        }
    }
}

/// The options every client of this process starts with: set once by `main` from the command
/// line (`--retries`, `--retry-max-seconds`, `--task-timeout`), the defaults otherwise.
static PROCESS_OPTIONS: std::sync::OnceLock<ClientOptions> = std::sync::OnceLock::new();

pub fn set_process_options(options: ClientOptions) {
    let _ = PROCESS_OPTIONS.set(options);
}

pub fn process_options() -> ClientOptions {
    PROCESS_OPTIONS.get().copied().unwrap_or_default()
}
/// How many license reads run at once.
const READ_CONCURRENCY: usize = 8;
/// How much of an error body is shown, in characters.
const BODY_EXCERPT: usize = 300;
/// UPM's refusal of a missing, wrong or expired upm-token (upm-rest-api.md §5.2).
const INVALID_TOKEN: &str = "upm.error.invalid.token";
/// UPM's refusal when WebSudo (a secure administrator session) is demanded (upm-rest-api.md §2).
const WEBSUDO: &str = "upm.websudo.error";

/// What went wrong talking to UPM. Every variant names the request without credentials or tokens.
#[derive(Debug, thiserror::Error)]
pub enum UpmError {
    /// The request got no HTTP answer. `reason` already holds the useful part of reqwest's
    /// error chain, so the chain itself is not repeated.
    #[error("{method} {url} failed: {reason}")]
    Request {
        method: Method,
        url: String,
        reason: String,
    },
    #[error(
        "{method} {url} answered {status}, a redirect to {location}\nhint: {}",
        redirect_hint(url, location)
    )]
    Redirect {
        method: Method,
        url: String,
        status: StatusCode,
        location: String,
    },
    #[error("{method} {url} answered {status} with a web page ({}{}) instead of UPM's JSON\nhint: {}", kind.name(), title.as_ref().map(|title| format!(": \"{title}\"")).unwrap_or_default(), kind.hint())]
    WebPage {
        method: Method,
        url: String,
        status: StatusCode,
        kind: WebPageKind,
        /// The page's `<title>` (or a short excerpt of its text), never the whole page.
        title: Option<String>,
    },
    #[error("{method} {url} answered {status}: UPM demands a secure administrator session (WebSudo, `upm.websudo.error`)\nhint: scripts cannot open a WebSudo session: use a personal access token (Data Center), or switch secure administrator sessions off for the product (Jira: `-Djira.websudo.is.disabled=true`; Confluence: Security Configuration > Secure administrator sessions)")]
    WebSudo {
        method: Method,
        url: String,
        status: StatusCode,
    },
    #[error("{method} {url} answered {status}: {body}\nhint: the credentials work but the user lacks the permission: installing by upload and uninstalling need a system administrator, the other changes an administrator")]
    Permission {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("{method} {url} answered 403: UPM refused the upm-token (`upm.error.invalid.token`), also a fresh one\nhint: on a Data Center cluster the token is node-local: the load balancer must keep a client on one node (sticky sessions; upmsync keeps its session and affinity cookies). Check the balancer's session affinity, or point `url` at one node")]
    InvalidToken { method: Method, url: String },
    #[error("{method} {url} answered 413 Request Entity Too Large{}: something in front of UPM (a reverse proxy) refuses a body this large\nhint: raise the proxy's body limit (nginx `client_max_body_size`, Apache `LimitRequestBody`), or install by URI (`install: uri`) so UPM downloads the artifact itself", size.map(|bytes| format!(" for {bytes} bytes")).unwrap_or_default())]
    TooLarge {
        method: Method,
        url: String,
        /// The size of the body sent, in bytes, when known.
        size: Option<u64>,
    },
    #[error("{method} {url} answered 404: there is no UPM REST API at this URL{}\nhint: {}", found.as_ref().map(|found| format!(", but there is one at {found}")).unwrap_or_default(), no_upm_hint(found.as_deref()))]
    NoUpm {
        method: Method,
        url: String,
        /// A base URL with a context path where UPM did answer, when one was found.
        found: Option<String>,
    },
    #[error("{method} {url} answered 429 Too Many Requests{}: the instance rate-limits REST calls\nhint: upmsync waits as `Retry-After` asks within `--retry-max-seconds` (and `--retries`); raise them, or ask an admin to exempt the upmsync user from rate limiting", retry_after.map(|seconds| format!(" (Retry-After: {seconds} s)")).unwrap_or_default())]
    RateLimited {
        method: Method,
        url: String,
        retry_after: Option<u64>,
    },
    #[error("{method} {url} answered {status}: {body}\nhint: check the credentials in the environment variables the manifest names for this instance (newer products refuse Basic auth on REST: use a personal access token, `token_env`), and that the user is an administrator")]
    Unauthorized {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("{method} {url} answered {status}{}: {body}", sub_code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        sub_code: Option<String>,
        body: String,
    },
    #[error("{method} {url} answered with a body upmsync cannot read: {reason}")]
    Decode {
        method: Method,
        url: String,
        reason: String,
    },
    #[error("UPM did not send an `upm-token` header on HEAD {url}")]
    MissingToken { url: String },
    #[error("the install task at {url} failed: {message}")]
    TaskFailed {
        url: String,
        message: String,
        /// The task's `subCode`, when it had one.
        sub_code: Option<String>,
    },
    #[error("UPM could not download the artifact {artifact} itself: the install task at {url} failed: {message}\nhint: UPM fetches install-by-URI artifacts from the product's own server: if that cannot reach `{host}` (a firewall, or no outbound proxy set for the product: `-Dhttps.proxyHost`/`-Dhttps.proxyPort`), use `install: upload` so upmsync downloads, verifies and uploads the artifact")]
    DownloadFailed {
        url: String,
        artifact: String,
        host: String,
        message: String,
    },
    #[error("the artifact for `{wanted}` installed app `{found}`{}: it is another app\nhint: check the artifact's URL or file; `{found}` is now installed on the instance", version.as_ref().map(|version| format!(" {version}")).unwrap_or_default())]
    WrongApp {
        wanted: AppKey,
        found: AppKey,
        version: Option<String>,
    },
    #[error("the install task at {url} did not finish within {} seconds", timeout.as_secs())]
    TaskTimeout { url: String, timeout: Duration },
    #[error("UPM answered the install with a task link to another server ({url}) that is not under its REST API; refusing to send credentials there")]
    ForeignTaskLink { url: String },
    #[error("failed to read `{}` for upload", path.display())]
    ReadArtifact {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the product version could not be read: {errors}")]
    ProductInfo { errors: String },
    #[error("UPM refuses uploads: {body}\nhint: uploads are disabled by default since 2024 (`upm.plugin.upload.enabled`): start the product with `-Dupm.plugin.upload.enabled=true`, or install by URI (`install: uri`). With a sha256 pinned (in the manifest or the lock), `install: auto` uploads the verified bytes, because UPM's own download by URI could get other bytes; `install: uri` trusts that download instead")]
    UploadDisabled { body: String },
    #[error("UPM refused the artifact's signature: {body}\nhint: UPM 8 checks app signatures: install signed artifacts (Marketplace ones are), or start the product with `-Datlassian.upm.signature.check.disabled=true`")]
    SignatureCheck { body: String },
    #[error("UPM is in safe mode, so it cannot install or uninstall apps\nhint: exit safe mode on the Manage apps page (or `PUT /rest/plugins/1.0/safe-mode?keepState=true` with `{{\"enabled\":false}}`), then run apply again")]
    SafeMode,
    #[error("`{key}` is not installed after the install task reported success")]
    MissingAfterInstall { key: AppKey },
}

impl UpmError {
    /// The request got no HTTP answer (timeout, reset): for a mutating request it may or may not
    /// have happened, so the state must be read again before deciding anything.
    pub fn is_lost_answer(&self) -> bool {
        match self {
            UpmError::Request { .. } => true,
            // A load balancer's 502/503/504 may come after the node made the change.
            UpmError::Status { method, status, .. } => {
                *method != Method::GET && matches!(status.as_u16(), 502..=504)
            }
            _ => false,
        }
    }

    /// The UPM `subCode` of an error answer, if any.
    pub fn sub_code(&self) -> Option<&str> {
        match self {
            UpmError::Status { sub_code, .. } => sub_code.as_deref(),
            _ => None,
        }
    }
}

/// A client for one instance's UPM.
#[derive(Clone)]
pub struct UpmClient {
    http: reqwest::Client,
    options: ClientOptions,
    /// The instance's base URL (with context path and trailing slash).
    base: Url,
    /// `{base}/rest/plugins/1.0/`, with the trailing slash the collection needs (§1).
    api: Url,
    credentials: Credentials,
    /// The instance's cookie jar, shared with every client of the instance (see [`UpmClient::new`]).
    cookies: Arc<reqwest::cookie::Jar>,
}

impl std::fmt::Debug for UpmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpmClient")
            .field("api", &self.api.as_str())
            .finish_non_exhaustive()
    }
}

impl UpmClient {
    /// Builds a client for an instance. Redirects are never followed: UPM answers a finished task
    /// with 303, and a redirect must never carry credentials to another host.
    ///
    /// Every client of one instance in this process shares one cookie jar, so the session and
    /// load-balancer affinity cookies hold for the whole run: on a Data Center cluster the
    /// upm-token is node-local, and only a sticky session brings the install to the node that
    /// issued it (upm-rest-api.md §5.2; field-reports.md, smartics `install_plugins.sh`).
    pub fn new(instance: &DesiredInstance) -> Result<Self, reqwest::Error> {
        if let Credentials::Basic { username, password } = &instance.credentials {
            crate::scrub::register_basic(username, password.expose());
        }
        let cookies = cookie_jar(instance);
        let builder = reqwest::Client::builder()
            .cookie_provider(Arc::clone(&cookies))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("upmsync/", env!("CARGO_PKG_VERSION")));
        let http = transport::secure(builder, &instance.url, &instance.transport).build()?;
        let api = api_url(&instance.url);
        Ok(Self {
            http,
            options: process_options(),
            base: api
                .join("../../../")
                .unwrap_or_else(|_| instance.url.clone()),
            api,
            credentials: instance.credentials.clone(),
            cookies,
        })
    }

    /// Sets retry bounds and the install-task timeout.
    pub fn with_options(mut self, options: ClientOptions) -> Self {
        self.options = options;
        self
    }

    /// Reads every installed plugin and, concurrently, the licenses of the installed user apps in
    /// `license_keys` (the apps whose license the manifest manages).
    pub async fn read_live(
        &self,
        product: Product,
        license_keys: &BTreeSet<AppKey>,
    ) -> Result<Live, UpmError> {
        let (plugins, product_info, restarts) = futures::join!(
            self.list_plugins(),
            self.product_info(product),
            self.changes_requiring_restart()
        );
        let plugins = plugins?;
        // The plugin list's `restartState` says the same for every installed app: a
        // `/requires-restart` that cannot be read costs only pending new installs.
        let restarts = restarts.unwrap_or_else(|error| {
            tracing::warn!("cannot read the changes waiting for a restart ({error}); relying on the plugin list's `restartState`");
            BTreeMap::new()
        });
        let mut live = Live {
            product: product_info.map_err(|error| error.to_string()),
            pending_restart: restarts,
            ..Live::default()
        };
        for plugin in plugins {
            let app = live_app(plugin);
            if let Some(action) = app.restart {
                live.pending_restart.insert(app.key.clone(), action);
            }
            live.apps.insert(app.key.clone(), app);
        }
        let wanted: Vec<AppKey> = license_keys
            .iter()
            .filter(|key| live.apps.get(*key).is_some_and(|app| app.user_installed))
            .cloned()
            .collect();
        let licenses: Vec<(AppKey, LiveLicense)> = stream::iter(wanted)
            .map(|key| async move {
                let license = self.license_hash(&key).await?;
                Ok::<_, UpmError>((key, license))
            })
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        for (key, license) in licenses {
            if let Some(app) = live.apps.get_mut(&key) {
                app.license = license;
            }
        }
        Ok(live)
    }

    /// `GET /rest/plugins/1.0/` (§5.1). A 404 here means the URL is not UPM's (usually a missing
    /// context path, field-reports.md: pluploader #64): the error says so, and names a context
    /// path where UPM does answer when one of the product's usual ones does.
    pub async fn list_plugins(&self) -> Result<Vec<wire::PluginSummary>, UpmError> {
        let request = self.request(Method::GET, self.api.clone(), media::INSTALLED);
        match self
            .json::<wire::PluginCollection>(request, Method::GET, &self.api)
            .await
        {
            Ok(collection) => Ok(collection.plugins),
            Err(error) => Err(self.explain_not_found(error).await),
        }
    }

    /// The apps whose changes wait for a product restart: `GET /requires-restart` (§1). An
    /// instance that does not serve it (404) has none to tell.
    pub async fn changes_requiring_restart(
        &self,
    ) -> Result<BTreeMap<AppKey, RestartAction>, UpmError> {
        let url = self
            .api
            .join("requires-restart")
            .unwrap_or_else(|_| self.api.clone());
        let response = self
            .send(
                self.request(Method::GET, url.clone(), "*/*"),
                &Method::GET,
                &url,
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(BTreeMap::new());
        }
        let response = expect_success(response, &Method::GET, &url).await?;
        let changes: wire::ChangesRequiringRestart =
            read_json(response, &Method::GET, &url).await?;
        Ok(changes
            .changes
            .into_iter()
            .filter_map(|change| {
                let action = RestartAction::from_upm(change.action.as_deref().unwrap_or_default())?;
                Some((AppKey::new(change.key), action))
            })
            .collect())
    }

    /// Turns a 404 from UPM's collection or token request into [`UpmError::NoUpm`], after
    /// looking for UPM under the context paths products use by default.
    async fn explain_not_found(&self, error: UpmError) -> UpmError {
        let (method, url) = match &error {
            UpmError::Status {
                method,
                url,
                status,
                ..
            } if *status == StatusCode::NOT_FOUND => (method.clone(), url.clone()),
            _ => return error,
        };
        let mut found = None;
        for context in ["jira/", "confluence/", "wiki/", "bitbucket/", "bamboo/"] {
            let Ok(base) = self.base.join(&format!("/{context}")) else {
                continue;
            };
            let api = api_url(&base);
            let request = self
                .request(Method::HEAD, api.clone(), media::INSTALLED)
                .timeout(Duration::from_secs(10));
            // A probe: one try each, and only on the instance's own origin.
            if let Ok(response) = request.send().await {
                if response.status().is_success() && response.headers().contains_key("upm-token") {
                    found = Some(redact_url(&base));
                    break;
                }
            }
        }
        UpmError::NoUpm { method, url, found }
    }

    /// `GET /{key}-key` (§5.3); `None` when UPM answers 404.
    pub async fn plugin(&self, key: &AppKey) -> Result<Option<LiveApp>, UpmError> {
        let url = self.plugin_url(key, &[]);
        let response = self
            .send(
                self.request(Method::GET, url.clone(), media::PLUGIN),
                &Method::GET,
                &url,
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let summary: wire::PluginSummary = read_json(response, &Method::GET, &url).await?;
        Ok(Some(live_app(summary)))
    }

    /// The hash of an app's installed license, if any.
    pub async fn license(&self, key: &AppKey) -> Result<Option<LicenseHash>, UpmError> {
        Ok(match self.license_hash(key).await? {
            LiveLicense::Present(hash) => Some(hash),
            _ => None,
        })
    }

    /// Reads an app's license and keeps only its hash (§5.10: always 200, `rawLicense` absent when none).
    async fn license_hash(&self, key: &AppKey) -> Result<LiveLicense, UpmError> {
        let url = self.plugin_url(key, &["license"]);
        let response = self
            .send(
                self.request(Method::GET, url.clone(), media::GENERIC),
                &Method::GET,
                &url,
            )
            .await?;
        let response = expect_success(response, &Method::GET, &url).await?;
        let bytes = body::read_capped(response, body::MAX_JSON_BYTES, REQUEST_TIMEOUT)
            .await
            .map_err(|error| body_error(&Method::GET, &url, error))?;
        // The body holds the license text: a decode error must not quote it.
        let license: wire::PluginLicense =
            serde_json::from_slice(&bytes).map_err(|_| UpmError::Decode {
                method: Method::GET,
                url: redact_url(&url),
                reason: "not a UPM license representation".into(),
            })?;
        Ok(match license.raw_license.as_deref().map(str::trim) {
            Some(raw) if !raw.is_empty() => LiveLicense::Present(LicenseHash::of(raw)),
            _ => LiveLicense::None,
        })
    }

    /// Gets a fresh `upm-token` (§5.2): `HEAD /rest/plugins/1.0/?os_authType=basic`.
    pub async fn token(&self) -> Result<Secret, UpmError> {
        let mut url = self.api.clone();
        url.set_query(Some("os_authType=basic"));
        let response = self
            .send(
                self.request(Method::HEAD, url.clone(), media::INSTALLED),
                &Method::HEAD,
                &url,
            )
            .await?;
        let response = match expect_success(response, &Method::HEAD, &url).await {
            Ok(response) => response,
            Err(error) => return Err(self.explain_not_found(error).await),
        };
        response
            .headers()
            .get("upm-token")
            .and_then(|value| value.to_str().ok())
            .map(Secret::new)
            .ok_or_else(|| UpmError::MissingToken {
                url: redact_url(&url),
            })
    }

    /// Installs an artifact (by URI or upload), waits for UPM's task to finish, and returns the
    /// plugin as UPM then reports it. The caller checks the version: UPM silently keeps a newer
    /// installed version when given an older one (§5.6), and a change that waits for a restart
    /// keeps the old version with `restartState` set (§5.1).
    ///
    /// A refused upm-token (403 `upm.error.invalid.token`: the install was not processed) is
    /// fetched again once and the install sent again (§5.2: UPM's own UI does the same). When the
    /// finished task names another app than `key` (its 303 points at the plugin it installed),
    /// the error is [`UpmError::WrongApp`] with the real key.
    pub async fn install(&self, key: &AppKey, from: InstallFrom<'_>) -> Result<LiveApp, UpmError> {
        let mut fresh_token = false;
        let (response, url) = loop {
            let token = self.token().await?;
            let mut url = self.api.clone();
            url.query_pairs_mut().append_pair("token", token.expose());
            let response = self
                .send_change(|| self.install_request(&url, from), &Method::POST, &url)
                .await?;
            if response.status() == StatusCode::ACCEPTED {
                break (response, url);
            }
            let error = install_refusal(status_error(response, &Method::POST, &url).await, from);
            match error {
                UpmError::InvalidToken { .. } if !fresh_token => {
                    tracing::warn!("UPM refused the upm-token (on a cluster another node may have answered); fetching a fresh one and sending the install again");
                    fresh_token = true;
                }
                error => return Err(error),
            }
        };
        let task_url = self.task_url(response.headers(), None)?;
        let task: wire::PendingTask = read_json(response, &Method::POST, &url).await?;
        let task_url = match task_url {
            Some(found) => found,
            None => self
                .task_url(&HeaderMap::new(), task.links.self_link.as_deref())?
                .ok_or_else(|| UpmError::Decode {
                    method: Method::POST,
                    url: redact_url(&url),
                    reason: "a 202 without a `Location` header or task link".into(),
                })?,
        };
        let installed_key = match self.wait_for_task(&task_url, task.ping_after).await {
            Ok(installed_key) => installed_key,
            Err(UpmError::TaskFailed {
                url,
                message,
                sub_code,
            }) if matches!(from, InstallFrom::Uri(_))
                && sub_code.as_deref().is_some_and(is_download_failure) =>
            {
                let InstallFrom::Uri(artifact) = from else {
                    unreachable!("matched above")
                };
                return Err(UpmError::DownloadFailed {
                    url,
                    artifact: redact_url(artifact),
                    host: artifact.host_str().unwrap_or_default().to_string(),
                    message,
                });
            }
            Err(error) => return Err(error),
        };
        if let Some(found) = installed_key.filter(|found| found != key) {
            let version = self.plugin(&found).await.ok().flatten();
            return Err(UpmError::WrongApp {
                wanted: key.clone(),
                found,
                version: version.map(|app| app.version.to_string()),
            });
        }
        self.plugin(key)
            .await?
            .ok_or_else(|| UpmError::MissingAfterInstall { key: key.clone() })
    }

    /// The install POST: JSON for install by URI (§5.8), multipart for uploads (§5.7).
    async fn install_request(
        &self,
        url: &Url,
        from: InstallFrom<'_>,
    ) -> Result<RequestBuilder, UpmError> {
        Ok(match from {
            InstallFrom::Uri(plugin_uri) => self
                .request(Method::POST, url.clone(), "application/json")
                .header(CONTENT_TYPE, media::INSTALL_URI)
                .body(
                    serde_json::to_vec(&wire::InstallUri {
                        plugin_uri: plugin_uri.as_str(),
                    })
                    .unwrap_or_default(),
                ),
            InstallFrom::Upload(path) => {
                let form = reqwest::multipart::Form::new().part("plugin", upload_part(path).await?);
                self.request(Method::POST, url.clone(), "application/json")
                    .timeout(UPLOAD_TIMEOUT)
                    .multipart(form)
            }
        })
    }

    /// Polls a legacy pending task (§5.9) until it redirects (303, done) or reports an error.
    /// Returns the key of the plugin the task installed, from the 303's `Location`
    /// (`…/{key}-key`), when it names one.
    async fn wait_for_task(
        &self,
        task_url: &Url,
        ping_after: Option<u64>,
    ) -> Result<Option<AppKey>, UpmError> {
        let started = Instant::now();
        let mut delay = ping_delay(ping_after);
        loop {
            tokio::time::sleep(delay).await;
            let response = self
                .send(
                    self.request(Method::GET, task_url.clone(), "*/*"),
                    &Method::GET,
                    task_url,
                )
                .await?;
            match response.status() {
                StatusCode::SEE_OTHER => {
                    return Ok(response
                        .headers()
                        .get(LOCATION)
                        .and_then(|value| value.to_str().ok())
                        .and_then(plugin_key_of_link));
                }
                status if status.is_success() => {
                    let task: wire::PendingTask =
                        read_json(response, &Method::GET, task_url).await?;
                    if let Some(message) = task_failure(&task.status) {
                        return Err(UpmError::TaskFailed {
                            url: redact_url(task_url),
                            message,
                            sub_code: task.status.sub_code.clone(),
                        });
                    }
                    if task.status.done {
                        // Done without an error and without the 303: treat as success, the
                        // read-back decides.
                        return Ok(None);
                    }
                    delay = ping_delay(task.ping_after);
                }
                _ => return Err(status_error(response, &Method::GET, task_url).await),
            }
            if started.elapsed() > self.options.task_timeout {
                return Err(UpmError::TaskTimeout {
                    url: redact_url(task_url),
                    timeout: self.options.task_timeout,
                });
            }
        }
    }

    /// `PUT /{key}-key` `{"enabled": …}` (§5.4).
    pub async fn set_enabled(&self, key: &AppKey, enabled: bool) -> Result<(), UpmError> {
        let url = self.plugin_url(key, &[]);
        let body = serde_json::to_vec(&wire::EnabledUpdate { enabled }).unwrap_or_default();
        let response = self
            .send_change(
                || async {
                    Ok(self
                        .request(Method::PUT, url.clone(), media::PLUGIN)
                        .header(CONTENT_TYPE, media::PLUGIN)
                        .body(body.clone()))
                },
                &Method::PUT,
                &url,
            )
            .await?;
        expect_success(response, &Method::PUT, &url).await.map(drop)
    }

    /// `DELETE /{key}-key` (§5.5): 204 when gone. A 404 is only taken for "already gone" once the
    /// plugin list confirms it (a proxy's 404 is not UPM's); a 202 means the removal waits for a
    /// product restart.
    pub async fn uninstall(&self, key: &AppKey) -> Result<Removal, UpmError> {
        let url = self.plugin_url(key, &[]);
        let response = self
            .send_change(
                || async { Ok(self.request(Method::DELETE, url.clone(), "*/*")) },
                &Method::DELETE,
                &url,
            )
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => {
                let listed = self
                    .list_plugins()
                    .await?
                    .iter()
                    .any(|plugin| plugin.key == key.as_str());
                if listed {
                    Err(status_error(response, &Method::DELETE, &url).await)
                } else {
                    Ok(Removal::Done)
                }
            }
            // 202 + the plugin with `restartState: remove` (§4, §5.5).
            StatusCode::ACCEPTED => Ok(Removal::AfterRestart),
            _ => expect_success(response, &Method::DELETE, &url)
                .await
                .map(|_| Removal::Done),
        }
    }

    /// `PUT /{key}-key/license` (§5.10). UPM answers 400 `invalid.update` when the very same license
    /// is already installed: that is success.
    pub async fn set_license(&self, key: &AppKey, license: &Secret) -> Result<(), UpmError> {
        let url = self.plugin_url(key, &["license"]);
        let body = serde_json::to_vec(&wire::LicenseUpdate {
            raw_license: license.expose(),
        })
        .unwrap_or_default();
        let response = self
            .send_change(
                || async {
                    Ok(self
                        .request(Method::PUT, url.clone(), media::GENERIC)
                        .header(CONTENT_TYPE, media::GENERIC)
                        .body(body.clone()))
                },
                &Method::PUT,
                &url,
            )
            .await?;
        match expect_success(response, &Method::PUT, &url).await {
            Ok(_) => Ok(()),
            Err(error) if error.sub_code() == Some("upm.plugin.license.error.invalid.update") => {
                // Same license already there, or a blank one (never sent: the manifest refuses
                // blank licenses). Confirm it really is the same before calling it done.
                match self.license_hash(key).await? {
                    LiveLicense::Present(hash) if hash == LicenseHash::of(license.expose()) => {
                        Ok(())
                    }
                    _ => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// `DELETE /{key}-key/license` (§5.10).
    pub async fn remove_license(&self, key: &AppKey) -> Result<(), UpmError> {
        let url = self.plugin_url(key, &["license"]);
        let response = self
            .send_change(
                || async { Ok(self.request(Method::DELETE, url.clone(), media::GENERIC)) },
                &Method::DELETE,
                &url,
            )
            .await?;
        expect_success(response, &Method::DELETE, &url)
            .await
            .map(drop)
    }

    /// How many install tasks UPM is running (`GET /pending`, §5.9: ongoing tasks only).
    pub async fn pending_tasks(&self) -> Result<usize, UpmError> {
        let url = self
            .api
            .join("pending")
            .unwrap_or_else(|_| self.api.clone());
        let pending: wire::PendingTasks = self
            .json(
                self.request(Method::GET, url.clone(), "*/*"),
                Method::GET,
                &url,
            )
            .await?;
        Ok(pending.tasks.len())
    }

    /// Waits (polling every second, within the task timeout) until UPM runs no install task.
    pub async fn wait_until_idle(&self) -> Result<(), UpmError> {
        let started = Instant::now();
        while self.pending_tasks().await? > 0 {
            if started.elapsed() > self.options.task_timeout {
                let url = self
                    .api
                    .join("pending")
                    .unwrap_or_else(|_| self.api.clone());
                return Err(UpmError::TaskTimeout {
                    url: redact_url(&url),
                    timeout: self.options.task_timeout,
                });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(())
    }

    /// Whether UPM is in safe mode (§5.12): then installs and uninstalls fail, so apply checks
    /// before its first change.
    pub async fn safe_mode(&self) -> Result<bool, UpmError> {
        let url = self
            .api
            .join("safe-mode")
            .unwrap_or_else(|_| self.api.clone());
        let flag: wire::SafeMode = self
            .json(
                self.request(Method::GET, url.clone(), media::SAFE_MODE),
                Method::GET,
                &url,
            )
            .await?;
        Ok(flag.enabled)
    }

    /// The product's version and build number (upm-rest-api.md §7, marketplace-api.md §12): Jira's
    /// `serverInfo`, Bitbucket's `application-properties`, and the applinks manifest for
    /// Confluence, Bamboo, and as the fallback for all.
    pub async fn product_info(&self, product: Product) -> Result<ProductInfo, UpmError> {
        let own = match product {
            Product::Jira => Some("rest/api/2/serverInfo"),
            Product::Bitbucket => Some("rest/api/1.0/application-properties"),
            Product::Confluence | Product::Bamboo => None,
        };
        let mut errors = Vec::new();
        if let Some(path) = own {
            match self.product_endpoint(path).await {
                Ok(info) => return Ok(info),
                Err(error) => errors.push(error.to_string()),
            }
        }
        self.product_endpoint("rest/applinks/1.0/manifest")
            .await
            .map_err(|error| {
                errors.push(error.to_string());
                UpmError::ProductInfo {
                    errors: errors.join("; "),
                }
            })
    }

    async fn product_endpoint(&self, path: &str) -> Result<ProductInfo, UpmError> {
        let url = self.base.join(path).unwrap_or_else(|_| self.base.clone());
        let info: wire::ProductInfo = self
            .json(
                self.request(Method::GET, url.clone(), "application/json"),
                Method::GET,
                &url,
            )
            .await?;
        let build = info.build_number.as_u64().ok_or_else(|| UpmError::Decode {
            method: Method::GET,
            url: redact_url(&url),
            reason: format!(
                "`buildNumber` is not a build number: {}",
                info.build_number.text()
            ),
        })?;
        Ok(ProductInfo {
            version: info.version,
            build,
            base_url: info.base_url.filter(|url| !url.trim().is_empty()),
        })
    }

    fn plugin_url(&self, key: &AppKey, rest: &[&str]) -> Url {
        let mut url = self.api.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            // UPM strips a trailing `-key` from the segment (§1); the key itself is percent-encoded.
            segments
                .pop_if_empty()
                .push(&format!("{key}-key"))
                .extend(rest);
        }
        url
    }

    /// The URL of a task, from the `Location` header, else the body's relative `links.self`.
    ///
    /// UPM builds both from the product's configured base URL (upm-rest-api.md §1), which need not
    /// be the `url` the manifest reaches the instance by (a node addressed directly, an internal
    /// name, a proxy that maps another context path). So the link is followed by its path under
    /// UPM's REST root (`rest/plugins/…`), joined to the instance's own URL: credentials never go
    /// to another host. A link with no such path is refused.
    fn task_url(
        &self,
        headers: &HeaderMap,
        self_link: Option<&str>,
    ) -> Result<Option<Url>, UpmError> {
        let candidate = headers
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .or(self_link);
        let Some(candidate) = candidate else {
            return Ok(None);
        };
        let Ok(link) = self.api.join(candidate) else {
            return Ok(None);
        };
        let path = link.path();
        if let Some(index) = path.find("/rest/plugins/") {
            let mut url =
                self.base
                    .join(&path[index + 1..])
                    .map_err(|_| UpmError::ForeignTaskLink {
                        url: redact_url(&link),
                    })?;
            url.set_query(link.query());
            if url != link {
                tracing::debug!(link = %redact_url(&link), followed = %redact_url(&url), "following UPM's task link under the instance's own URL");
            }
            return Ok(Some(url));
        }
        if link.origin() != self.api.origin() {
            return Err(UpmError::ForeignTaskLink {
                url: redact_url(&link),
            });
        }
        Ok(Some(link))
    }

    fn request(&self, method: Method, url: Url, accept: &str) -> RequestBuilder {
        let builder = self.http.request(method, url).header(ACCEPT, accept);
        match &self.credentials {
            Credentials::Basic { username, password } => {
                builder.basic_auth(username, Some(password.expose()))
            }
            Credentials::Bearer { token } => builder.bearer_auth(token.expose()),
        }
    }

    async fn send(
        &self,
        request: RequestBuilder,
        method: &Method,
        url: &Url,
    ) -> Result<Response, UpmError> {
        tracing::debug!(%method, url = %redact_url(url), "upm request");
        let response = self.send_with_retries(request, method, url).await?;
        tracing::debug!(status = %response.status(), "upm response");
        self.register_session_cookies();
        // UPM answers JSON (or JSON in a `<textarea>`, §5.7). A web page comes from something
        // else: a login or SSO page, a setup or upgrade screen, a proxy's maintenance page
        // (field-reports.md). Whatever its status, it is not UPM's answer.
        let response = match web_page(response, method, url).await {
            Ok(response) => response,
            Err(error) => return Err(*error),
        };
        // 401 is the product refusing the credentials, UPM refusing a permission, or WebSudo
        // (§2); 403s are UPM's own refusals (token, system app, upload gate), classified later.
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(status_error(response, method, url).await);
        }
        Ok(response)
    }

    /// Makes the session cookies the instance set secrets of this run, so a server that echoes
    /// them (in an error body, say) never has them printed or reported (`crate::scrub`). Short
    /// values, such as a load balancer's node name, are not secrets.
    fn register_session_cookies(&self) {
        use reqwest::cookie::CookieStore;
        let Some(header) = self.cookies.cookies(&self.api) else {
            return;
        };
        for cookie in header.to_str().unwrap_or_default().split(';') {
            if let Some((_, value)) = cookie.split_once('=') {
                let value = value.trim();
                if value.len() >= 16 {
                    crate::scrub::register(value);
                }
            }
        }
    }

    /// Sends a change (POST, PUT, DELETE). A 429, or a 503 with `Retry-After`, means the request
    /// was not processed (rate limiting, upm-rest-api.md §6; field-reports.md): it is sent again
    /// after the wait the server asks for, within the retry bounds (`--retries`,
    /// `--retry-max-seconds`). Any other answer is returned as it is: a change is never repeated
    /// blindly. `build` makes the request anew for each try (an upload's body is a stream).
    async fn send_change<F, Fut>(
        &self,
        build: F,
        method: &Method,
        url: &Url,
    ) -> Result<Response, UpmError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<RequestBuilder, UpmError>>,
    {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let response = self.send(build().await?, method, url).await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(retry::parse_retry_after);
            let not_processed = status == StatusCode::TOO_MANY_REQUESTS
                || (status == StatusCode::SERVICE_UNAVAILABLE && retry_after.is_some());
            if !not_processed {
                return Ok(response);
            }
            let Some(wait) = self.options.retry.delay(
                attempt,
                started.elapsed(),
                retry_after,
                &mut fastrand::Rng::new(),
            ) else {
                return Ok(response);
            };
            tracing::warn!(url = %redact_url(url), attempt, wait_ms = wait.as_millis() as u64, "{method} was not processed ({status}); sending it again after the wait the server asked for");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Sends once, or, for reads (GET, HEAD: they change nothing), with retries. A mutating request
    /// is never repeated here: after a lost answer the caller re-reads the state and decides (see
    /// `execute`).
    async fn send_with_retries(
        &self,
        request: RequestBuilder,
        method: &Method,
        url: &Url,
    ) -> Result<Response, UpmError> {
        let result = if matches!(*method, Method::GET | Method::HEAD) {
            send_read(request, &self.options.retry, url).await
        } else {
            request.send().await
        };
        result.map_err(|error| request_error(method, url, error))
    }

    async fn json<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        method: Method,
        url: &Url,
    ) -> Result<T, UpmError> {
        let response = self.send(request, &method, url).await?;
        let response = expect_success(response, &method, url).await?;
        read_json(response, &method, url).await
    }
}

/// Sends a read (a request that changes nothing), again after connection errors, timeouts, 429 and
/// 5xx, within `policy`: backoff with jitter, honouring `Retry-After`. The last answer or error is
/// returned. Used by the UPM and Marketplace clients.
pub(crate) async fn send_read(
    request: RequestBuilder,
    policy: &RetryPolicy,
    url: &Url,
) -> Result<Response, reqwest::Error> {
    let started = Instant::now();
    let mut attempt = 1;
    loop {
        let Some(this_try) = request.try_clone() else {
            return request.send().await;
        };
        let outcome = this_try.send().await;
        let retry_after = match &outcome {
            Ok(response) if retry::is_retryable_status(response.status().as_u16()) => Some(
                response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(retry::parse_retry_after),
            ),
            Ok(_) => None,
            Err(_) => Some(None),
        };
        let Some(retry_after) = retry_after else {
            return outcome;
        };
        let Some(wait) = policy.delay(
            attempt,
            started.elapsed(),
            retry_after,
            &mut fastrand::Rng::new(),
        ) else {
            return outcome;
        };
        let why = match &outcome {
            Ok(response) => response.status().to_string(),
            Err(error) => transport_reason(error),
        };
        tracing::warn!(url = %redact_url(url), attempt, wait_ms = wait.as_millis() as u64, "retrying a read after: {why}");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// What became of an uninstall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// The app is gone.
    Done,
    /// UPM accepted it, but the app stays until the product restarts (202, §5.5).
    AfterRestart,
}

/// The cookie jar of an instance (by name and URL) for this process: shared by every client of
/// that instance, so session and load-balancer affinity cookies hold for the whole run.
fn cookie_jar(instance: &DesiredInstance) -> Arc<reqwest::cookie::Jar> {
    static JARS: Mutex<BTreeMap<String, Arc<reqwest::cookie::Jar>>> = Mutex::new(BTreeMap::new());
    let mut jars = JARS.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(
        jars.entry(format!("{}\n{}", instance.name, instance.url))
            .or_default(),
    )
}

/// The kind of web page a product or proxy answered instead of UPM's JSON (field-reports.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebPageKind {
    /// The product's login page (Seraph): credentials refused, or a product upgrade waiting for
    /// an admin to log in once (field report: pluploader #91).
    Login,
    /// The product's setup wizard: the instance is not set up.
    Setup,
    /// An upgrade (or database upgrade) screen.
    Upgrade,
    /// A maintenance page, usually from a proxy while the node is down.
    Maintenance,
    /// Anything else: another application, a proxy's page.
    Other,
}

impl WebPageKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "a login page",
            Self::Setup => "the product's setup wizard",
            Self::Upgrade => "an upgrade screen",
            Self::Maintenance => "a maintenance page",
            Self::Other => "not UPM",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Self::Login => "the product did not accept the credentials for its REST API and showed its login page: check the user and password (or use a personal access token); after a product upgrade REST calls get this page until an admin logs in once in a browser",
            Self::Setup => "the product is not set up yet: finish its setup wizard, or check that `url` names the right instance",
            Self::Upgrade => "the product is upgrading, or waits for an admin to finish an upgrade: wait until it is done (log in once in a browser), then run again",
            Self::Maintenance => "the product, or a proxy in front of it, shows a maintenance page: the node is down or being maintained; run again when it is back",
            Self::Other => "this is not UPM: `url` may name a proxy's page or another application; check it, including the product's context path (e.g. `/jira`, `/wiki`)",
        }
    }

    /// Classifies a page by the login header Jira sends and the page's words.
    fn of(status: StatusCode, headers: &HeaderMap, text: &str) -> Self {
        let login_reason = headers
            .get("x-seraph-loginreason")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_ascii_uppercase();
        let head: String = text.chars().take(20_000).collect::<String>().to_lowercase();
        let title = page_title(text).unwrap_or_default().to_lowercase();
        if login_reason.contains("DENIED") || login_reason.contains("FAILED") {
            return Self::Login;
        }
        if status == StatusCode::SERVICE_UNAVAILABLE || title.contains("maintenance") {
            return Self::Maintenance;
        }
        if title.contains("set up") || title.contains("setup") || head.contains("setup wizard") {
            return Self::Setup;
        }
        if title.contains("upgrad") || head.contains("upgrade in progress") {
            return Self::Upgrade;
        }
        if title.contains("log in")
            || title.contains("login")
            || head.contains("os_username")
            || head.contains("login-form")
        {
            return Self::Login;
        }
        if head.contains("maintenance") {
            return Self::Maintenance;
        }
        Self::Other
    }
}

/// Passes a response through unless it is a web page (`text/html` that is not UPM's
/// `<textarea>`-wrapped JSON, §5.7); a page becomes [`UpmError::WebPage`], with its title only.
async fn web_page(
    response: Response,
    method: &Method,
    url: &Url,
) -> Result<Response, Box<UpmError>> {
    let is_html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().contains("html"));
    let status = response.status();
    // Answers whose status says more than their page: redirects, a proxy's 413, rate limits
    // (a 429, or a 503 with `Retry-After`) are explained by their status, later.
    let explained_by_status = status.is_redirection()
        || status == StatusCode::PAYLOAD_TOO_LARGE
        || status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::SERVICE_UNAVAILABLE
            && response.headers().contains_key(RETRY_AFTER));
    if !is_html || explained_by_status {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let text = body::error_text(response, REQUEST_TIMEOUT).await;
    if text.trim_start().starts_with("<textarea>") {
        let mut rebuilt = http::Response::new(text);
        *rebuilt.status_mut() = status;
        *rebuilt.headers_mut() = headers;
        return Ok(Response::from(rebuilt));
    }
    Err(Box::new(UpmError::WebPage {
        method: method.clone(),
        url: redact_url(url),
        status,
        kind: WebPageKind::of(status, &headers, &text),
        title: page_title(&text).or_else(|| {
            let shown = excerpt(&text);
            (shown != "(empty body)").then(|| shown.chars().take(120).collect())
        }),
    }))
}

/// The text of a page's `<title>`, whitespace collapsed and control characters escaped.
fn page_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower[start..].find('>')? + 1;
    let close = open_end + lower[open_end..].find("</title")?;
    let title = collapse(&text[open_end..close]);
    (!title.is_empty()).then(|| title.chars().take(120).collect())
}

/// The key in a plugin link `…/rest/plugins/1.0/{key}-key` (§1: percent-encoded, `-key` suffix).
fn plugin_key_of_link(link: &str) -> Option<AppKey> {
    let path = link.split(['?', '#']).next()?;
    let segment = path.trim_end_matches('/').rsplit('/').next()?;
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()?;
    let key = decoded.strip_suffix("-key")?;
    (!key.is_empty()).then(|| AppKey::new(key))
}

/// Task errors that mean UPM could not fetch an install-by-URI artifact itself (§4, §5.8).
fn is_download_failure(sub_code: &str) -> bool {
    matches!(
        sub_code,
        "upm.pluginInstall.error.response.exception"
            | "upm.pluginInstall.error.file.not.found"
            | "upm.pluginInstall.error.access.denied"
            | "upm.pluginInstall.error.unsupported.protocol"
    )
}

fn redirect_hint(url: &str, location: &str) -> String {
    let host = |text: &str| {
        Url::parse(text)
            .ok()
            .and_then(|url| url.host_str().map(str::to_string))
    };
    let same_host = host(url) == host(location);
    let lower = location.to_ascii_lowercase();
    if !same_host
        || lower.contains("saml")
        || lower.contains("sso")
        || lower.contains("oauth")
        || lower.contains("openid")
    {
        "the product sends the request to a login or single sign-on page: with SAML/OIDC SSO, let REST calls with Basic auth or a personal access token bypass the identity provider (Atlassian KB \"Bypass SAML authentication for Jira Data Center\"), and check the credentials".into()
    } else if url.starts_with("http://") && location.starts_with("https://") {
        "the server redirects to https: use the `https://` URL in the manifest".into()
    } else {
        "UPM answers its API directly; a redirect usually means a login page or a wrong base URL: check the instance's `url`, including the context path".into()
    }
}

fn no_upm_hint(found: Option<&str>) -> String {
    match found {
        Some(found) => format!("set the instance's `url` to `{found}`: the product runs under a context path"),
        None => "the instance's `url` probably lacks the product's context path (e.g. `/jira`, `/confluence`, `/wiki`), or names a proxy path that does not lead to the product; open the URL in a browser and use the address the product's pages have".into(),
    }
}

/// Where an install comes from, as UPM takes it.
#[derive(Clone, Copy, Debug)]
pub enum InstallFrom<'a> {
    /// UPM downloads the URL (install by URI).
    Uri(&'a Url),
    /// upmsync uploads the file.
    Upload(&'a Path),
}

/// Names the platform gates of modern Data Center (upm-rest-api.md §5.7) when UPM refuses an
/// install, and safe mode (§4: 409). [guess: the exact bodies are only known from prose.]
fn install_refusal(error: UpmError, from: InstallFrom<'_>) -> UpmError {
    let UpmError::Status {
        status,
        body,
        sub_code,
        ..
    } = &error
    else {
        return install_refusal_size(error, from);
    };
    let text = body.to_ascii_lowercase();
    if *status == StatusCode::FORBIDDEN && text.contains("cannot be installed via upload") {
        return UpmError::UploadDisabled { body: body.clone() };
    }
    if *status == StatusCode::FORBIDDEN && text.contains("signature") {
        return UpmError::SignatureCheck { body: body.clone() };
    }
    if *status == StatusCode::CONFLICT
        && (text.contains("safe mode")
            || sub_code.as_deref().is_some_and(|c| c.contains("safe.mode")))
    {
        return UpmError::SafeMode;
    }
    error
}

/// Names the size of an upload a proxy refused (413).
fn install_refusal_size(error: UpmError, from: InstallFrom<'_>) -> UpmError {
    if let (UpmError::TooLarge { method, url, .. }, InstallFrom::Upload(path)) = (&error, from) {
        return UpmError::TooLarge {
            method: method.clone(),
            url: url.clone(),
            size: std::fs::metadata(path).ok().map(|metadata| metadata.len()),
        };
    }
    error
}

/// `{base}/rest/plugins/1.0/` from an instance base URL that ends in `/`.
fn api_url(base: &Url) -> Url {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join("rest/plugins/1.0/").unwrap_or(base)
}

fn live_app(plugin: wire::PluginSummary) -> LiveApp {
    LiveApp {
        key: AppKey::new(&plugin.key),
        name: plugin.name.unwrap_or_else(|| plugin.key.clone()),
        version: Version::from_server(plugin.version.as_deref().unwrap_or("")),
        enabled: plugin.enabled,
        uninstallable: plugin.uninstallable.unwrap_or(plugin.user_installed),
        user_installed: plugin.user_installed,
        uses_licensing: plugin.uses_licensing,
        license: LiveLicense::NotRead,
        restart: plugin
            .restart_state
            .as_deref()
            .and_then(RestartAction::from_upm),
    }
}

fn ping_delay(ping_after: Option<u64>) -> Duration {
    Duration::from_millis(ping_after.unwrap_or(100).clamp(50, 5_000))
}

/// The error a finished task reports, if it failed (§5.9: an `…err+json` content type with a
/// `subCode` or an `errorMessage`).
fn task_failure(status: &wire::TaskStatus) -> Option<String> {
    let is_error = status.content_type.as_deref() == Some(media::TASK_INSTALL_ERROR)
        || status.sub_code.is_some()
        || status.error_message.is_some();
    if !is_error {
        return None;
    }
    Some(match (&status.error_message, &status.sub_code) {
        (Some(message), Some(code)) => format!("{} ({})", collapse(message), collapse(code)),
        (Some(message), None) => collapse(message),
        (None, Some(code)) => collapse(code),
        (None, None) => "UPM reported an error without a message".to_string(),
    })
}

async fn upload_part(path: &Path) -> Result<reqwest::multipart::Part, UpmError> {
    let read_error = |source| UpmError::ReadArtifact {
        path: path.to_path_buf(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(read_error)?;
    let length = file.metadata().await.map_err(read_error)?.len();
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin.jar".into());
    // Streamed from disk, never held whole in memory.
    Ok(
        reqwest::multipart::Part::stream_with_length(reqwest::Body::from(file), length)
            .file_name(name),
    )
}

/// A body that could not be read whole: too large is a body upmsync cannot read; a stall or a
/// broken connection is a request without a (whole) answer.
fn body_error(method: &Method, url: &Url, error: body::BodyError) -> UpmError {
    match error {
        body::BodyError::TooLarge { .. } => UpmError::Decode {
            method: method.clone(),
            url: redact_url(url),
            reason: error.to_string(),
        },
        body::BodyError::Timeout { .. } | body::BodyError::Transport(_) => UpmError::Request {
            method: method.clone(),
            url: redact_url(url),
            reason: error.to_string(),
        },
    }
}

fn request_error(method: &Method, url: &Url, error: reqwest::Error) -> UpmError {
    UpmError::Request {
        method: method.clone(),
        url: redact_url(url),
        reason: transport_reason(&error),
    }
}

/// What went wrong below HTTP, in one line with a hint: reqwest's chain is long and internal
/// ("client error (Connect)"); its innermost cause is what an admin can act on. reqwest puts the
/// URL (with a upm-token query) into its own message, which is never shown.
pub fn transport_reason(error: &reqwest::Error) -> String {
    let root = root_cause(error);
    let chain = error_chain(error).to_ascii_lowercase();
    if error.is_timeout() {
        "the request timed out (is the server overloaded, or a firewall dropping packets?)"
            .to_string()
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
    {
        format!("TLS failed: {root}\nhint: if the server uses a private CA, add it to the system trust store or point SSL_CERT_FILE at it")
    } else if error.is_connect() {
        format!("could not connect: {root} (is the URL right and the server up?)")
    } else {
        root
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(cause) = current.source() {
        current = cause;
    }
    current.to_string()
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut current = error.source();
    while let Some(cause) = current {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        current = cause.source();
    }
    if text.is_empty() {
        "request error".into()
    } else {
        text
    }
}

async fn expect_success(
    response: Response,
    method: &Method,
    url: &Url,
) -> Result<Response, UpmError> {
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(status_error(response, method, url).await)
    }
}

async fn status_error(response: Response, method: &Method, url: &Url) -> UpmError {
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| url.join(value).ok())
            .map_or_else(
                || "(no Location header)".to_string(),
                |target| redact_url(&target),
            );
        return UpmError::Redirect {
            method: method.clone(),
            url: redact_url(url),
            status,
            location,
        };
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let text = body::error_text(response, REQUEST_TIMEOUT).await;
    let parsed: wire::ErrorBody =
        serde_json::from_str(wire::strip_textarea(&text)).unwrap_or_default();
    let body = parsed
        .error_message
        .as_deref()
        .map(collapse)
        .unwrap_or_else(|| excerpt(&text));
    let (method, url) = (method.clone(), redact_url(url));
    let lower = text.to_ascii_lowercase();
    match (status.as_u16(), parsed.sub_code.as_deref()) {
        (401 | 403, Some(WEBSUDO)) => {
            return UpmError::WebSudo {
                method,
                url,
                status,
            }
        }
        (403, Some(INVALID_TOKEN)) => return UpmError::InvalidToken { method, url },
        (401 | 403 | 409, None)
            if lower.contains("must have permission")
                || lower.contains("cannot access this resource") =>
        {
            return UpmError::Permission {
                method,
                url,
                status,
                body,
            }
        }
        (401, _) => {
            return UpmError::Unauthorized {
                method,
                url,
                status,
                body,
            }
        }
        (413, _) => {
            return UpmError::TooLarge {
                method,
                url,
                size: None,
            }
        }
        (429, _) => {
            return UpmError::RateLimited {
                method,
                url,
                retry_after,
            }
        }
        _ => {}
    }
    UpmError::Status {
        method,
        url,
        status,
        sub_code: parsed.sub_code,
        body,
    }
}

async fn read_json<T: DeserializeOwned>(
    response: Response,
    method: &Method,
    url: &Url,
) -> Result<T, UpmError> {
    let text = body::read_text(response, body::MAX_JSON_BYTES, REQUEST_TIMEOUT)
        .await
        .map_err(|error| body_error(method, url, error))?;
    serde_json::from_str(wire::strip_textarea(&text)).map_err(|error| UpmError::Decode {
        method: method.clone(),
        url: redact_url(url),
        reason: format!("{error} in `{}`", excerpt(&text)),
    })
}

/// A short, printable excerpt of a body: markup (XML, HTML) is reduced to its text, whitespace
/// collapsed, control characters escaped, at most [`BODY_EXCERPT`] characters.
fn excerpt(text: &str) -> String {
    // Secrets first: before markup is stripped or the text is cut, so no piece of one survives.
    let text = crate::scrub::scrub(text);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    let plain = if text.starts_with('<') {
        strip_tags(text)
    } else {
        text.to_string()
    };
    let plain = collapse(&plain);
    match plain.char_indices().nth(BODY_EXCERPT) {
        Some((index, _)) => format!("{}…", &plain[..index]),
        None => plain,
    }
}

/// The text between the tags of XML or HTML (`<status><message>m</message></status>` -> `m`),
/// without scripts and styles.
fn strip_tags(markup: &str) -> String {
    let mut text = String::new();
    let mut rest = markup;
    let lower_skip = ["<script", "<style"];
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        text.push(' ');
        let after = &rest[open..];
        let lower: String = after
            .chars()
            .take(8)
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(tag) = lower_skip.iter().find(|tag| lower.starts_with(**tag)) {
            let closing = format!("</{}", &tag[1..]);
            match after.to_ascii_lowercase().find(&closing) {
                Some(end) => rest = &after[end + closing.len()..],
                None => return text,
            }
            if let Some(close) = rest.find('>') {
                rest = &rest[close + 1..];
            }
            continue;
        }
        match after.find('>') {
            Some(close) => rest = &after[close + 1..],
            None => return text,
        }
    }
    text.push_str(rest);
    text
}

/// Collapses runs of whitespace to one space and escapes control and bidi characters (the one rule
/// of [`crate::printable`]), so a body cannot move the cursor or hide a line of output.
fn collapse(text: &str) -> String {
    let text = crate::scrub::scrub(text);
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
            continue;
        }
        space = false;
        crate::printable::push_char(&mut out, c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_url_keeps_the_context_path_and_trailing_slash() {
        let base = Url::parse("http://host:8080/jira/").unwrap();
        assert_eq!(
            api_url(&base).as_str(),
            "http://host:8080/jira/rest/plugins/1.0/"
        );
        let bare = Url::parse("http://host/jira").unwrap();
        assert_eq!(
            api_url(&bare).as_str(),
            "http://host/jira/rest/plugins/1.0/"
        );
    }

    #[test]
    fn task_failure_reads_error_tasks() {
        let failed = wire::TaskStatus {
            done: true,
            content_type: Some(media::TASK_INSTALL_ERROR.into()),
            sub_code: Some("upm.pluginInstall.error.install.failed".into()),
            error_message: None,
        };
        assert_eq!(
            task_failure(&failed).as_deref(),
            Some("upm.pluginInstall.error.install.failed")
        );
        let running = wire::TaskStatus {
            done: false,
            content_type: Some("application/vnd.atl.plugins.install.installing+json".into()),
            sub_code: None,
            error_message: None,
        };
        assert_eq!(task_failure(&running), None);
    }

    fn client(url: &str) -> UpmClient {
        let instance = DesiredInstance {
            name: "jira".into(),
            url: Url::parse(url).unwrap(),
            product: Product::Jira,
            hosting: Default::default(),
            credentials: Credentials::Basic {
                username: "admin".into(),
                password: Secret::new("pw"),
            },
            transport: Default::default(),
            unmanaged: Default::default(),
            apps: Default::default(),
        };
        UpmClient::new(&instance).unwrap()
    }

    #[test]
    fn task_links_are_followed_by_their_path_under_the_instance_url() {
        let upm = client("http://node1.internal:8080/jira/");
        let mut headers = HeaderMap::new();
        // UPM built the link from the configured base URL: another host, and a proxy that maps
        // the product to the root.
        headers.insert(
            LOCATION,
            "https://jira.example.com/rest/plugins/1.0/pending/42?x=1"
                .parse()
                .unwrap(),
        );
        let url = upm.task_url(&headers, None).unwrap().unwrap();
        assert_eq!(
            url.as_str(),
            "http://node1.internal:8080/jira/rest/plugins/1.0/pending/42?x=1"
        );
        let relative = upm
            .task_url(&HeaderMap::new(), Some("/jira/rest/plugins/1.0/pending/7"))
            .unwrap()
            .unwrap();
        assert_eq!(
            relative.as_str(),
            "http://node1.internal:8080/jira/rest/plugins/1.0/pending/7"
        );
        let mut foreign = HeaderMap::new();
        foreign.insert(LOCATION, "https://evil.example/steal".parse().unwrap());
        assert!(matches!(
            upm.task_url(&foreign, None),
            Err(UpmError::ForeignTaskLink { .. })
        ));
    }

    #[test]
    fn plugin_keys_are_read_from_links() {
        assert_eq!(
            plugin_key_of_link("http://h/jira/rest/plugins/1.0/com.a.b%20c-key"),
            Some(AppKey::new("com.a.b c"))
        );
        assert_eq!(
            plugin_key_of_link("/rest/plugins/1.0/x-key-key/"),
            Some(AppKey::new("x-key"))
        );
        assert_eq!(plugin_key_of_link("/rest/plugins/1.0/pending/1"), None);
    }

    #[test]
    fn web_pages_are_classified_by_what_they_say() {
        let headers = HeaderMap::new();
        let page =
            |title: &str| format!("<html><head><title>{title}</title></head><body>x</body></html>");
        assert_eq!(
            WebPageKind::of(StatusCode::OK, &headers, &page("Log in - Jira")),
            WebPageKind::Login
        );
        assert_eq!(
            WebPageKind::of(StatusCode::OK, &headers, &page("Set up Jira")),
            WebPageKind::Setup
        );
        assert_eq!(
            WebPageKind::of(StatusCode::OK, &headers, &page("Jira is upgrading")),
            WebPageKind::Upgrade
        );
        assert_eq!(
            WebPageKind::of(StatusCode::SERVICE_UNAVAILABLE, &headers, &page("Oops")),
            WebPageKind::Maintenance
        );
        assert_eq!(
            WebPageKind::of(StatusCode::OK, &headers, &page("Welcome to nginx")),
            WebPageKind::Other
        );
        let mut denied = HeaderMap::new();
        denied.insert(
            "x-seraph-loginreason",
            "AUTHENTICATION_DENIED".parse().unwrap(),
        );
        assert_eq!(
            WebPageKind::of(StatusCode::OK, &denied, &page("Dashboard")),
            WebPageKind::Login
        );
        assert_eq!(
            page_title("<HTML><TITLE>\n  Down for\tmaintenance </TITLE>").as_deref(),
            Some("Down for maintenance")
        );
    }

    #[test]
    fn excerpts_show_the_text_of_markup_and_escape_control_characters() {
        let xml = "<?xml version=\"1.0\"?><status><status-code>401</status-code><message>Client must be authenticated to access this resource.</message></status>";
        assert_eq!(
            excerpt(xml),
            "401 Client must be authenticated to access this resource."
        );
        let html = "<html><head><style>body{}</style><script>var a = '<b>';</script></head><body><h1>Hello</h1></body></html>";
        assert_eq!(excerpt(html), "Hello");
        assert_eq!(excerpt("bad\u{1b}[2Jthing"), "bad\\u{1b}[2Jthing");
    }

    #[test]
    fn excerpt_truncates_long_bodies_on_char_boundaries() {
        let long = "é".repeat(1000);
        let shown = excerpt(&long);
        assert!(shown.chars().count() <= BODY_EXCERPT + 1);
        assert_eq!(excerpt("  "), "(empty body)");
    }
}
