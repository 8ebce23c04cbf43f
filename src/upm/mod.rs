//! The only code that speaks UPM's REST API (`/rest/plugins/1.0/`): reads live state, installs,
//! uninstalls, enables, disables and licenses apps, following the protocol as it really is
//! (upm-rest-api.md).

pub(crate) mod transport;
pub mod wire;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::model::{
    redact_url, AppKey, Credentials, DesiredInstance, LicenseHash, Live, LiveApp, LiveLicense,
    Product, ProductInfo, Secret, Version,
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
/// How much of an error body is shown.
const BODY_EXCERPT: usize = 300;

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
    #[error("{method} {url} answered {status}, a redirect to {location}\nhint: UPM answers its API directly; a redirect usually means a login page (SSO) or a wrong base URL: check the instance's `url`, including the context path")]
    Redirect {
        method: Method,
        url: String,
        status: StatusCode,
        location: String,
    },
    #[error("{method} {url} answered {status}: {body}\nhint: check the credentials in the environment variables the manifest names for this instance, and that the user is a system administrator")]
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
    TaskFailed { url: String, message: String },
    #[error("the install task at {url} did not finish within {} seconds", timeout.as_secs())]
    TaskTimeout { url: String, timeout: Duration },
    #[error("UPM answered the install with a task link to another server ({url}); refusing to send credentials there")]
    ForeignTaskLink { url: String },
    #[error("failed to read `{}` for upload", path.display())]
    ReadArtifact {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("UPM needs a product restart to finish the {what} of `{key}`\nhint: restart the instance, then run apply again")]
    RestartRequired { key: AppKey, what: &'static str },
    #[error("the product version could not be read: {errors}")]
    ProductInfo { errors: String },
    #[error("UPM refuses uploads: {body}\nhint: uploads are disabled by default since 2024 (`upm.plugin.upload.enabled`): install by URI instead (`install: uri` or `auto` for Marketplace and `url` sources), or start the product with `-Dupm.plugin.upload.enabled=true`")]
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
    pub fn new(instance: &DesiredInstance) -> Result<Self, reqwest::Error> {
        let builder = reqwest::Client::builder()
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
        let (plugins, product_info) =
            futures::join!(self.list_plugins(), self.product_info(product));
        let plugins = plugins?;
        let mut live = Live {
            product: product_info.map_err(|error| error.to_string()),
            ..Live::default()
        };
        for plugin in plugins {
            let app = live_app(plugin);
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

    /// `GET /rest/plugins/1.0/` (§5.1).
    pub async fn list_plugins(&self) -> Result<Vec<wire::PluginSummary>, UpmError> {
        let request = self.request(Method::GET, self.api.clone(), media::INSTALLED);
        let collection: wire::PluginCollection = self.json(request, Method::GET, &self.api).await?;
        Ok(collection.plugins)
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
        let bytes = response
            .bytes()
            .await
            .map_err(|error| request_error(&Method::GET, &url, error))?;
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
        let response = expect_success(response, &Method::HEAD, &url).await?;
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
    /// installed version when given an older one (§5.6).
    pub async fn install(&self, key: &AppKey, from: InstallFrom<'_>) -> Result<LiveApp, UpmError> {
        let token = self.token().await?;
        let mut url = self.api.clone();
        url.query_pairs_mut().append_pair("token", token.expose());
        let request = match from {
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
        };
        let response = self.send(request, &Method::POST, &url).await?;
        if response.status() != StatusCode::ACCEPTED {
            return Err(install_refusal(
                status_error(response, &Method::POST, &url).await,
                from,
            ));
        }
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
        self.wait_for_task(&task_url, task.ping_after).await?;
        self.plugin(key)
            .await?
            .ok_or_else(|| UpmError::MissingAfterInstall { key: key.clone() })
    }

    /// Polls a legacy pending task (§5.9) until it redirects (303, done) or reports an error.
    async fn wait_for_task(&self, task_url: &Url, ping_after: Option<u64>) -> Result<(), UpmError> {
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
                StatusCode::SEE_OTHER => return Ok(()),
                status if status.is_success() => {
                    let task: wire::PendingTask =
                        read_json(response, &Method::GET, task_url).await?;
                    if let Some(message) = task_failure(&task.status) {
                        return Err(UpmError::TaskFailed {
                            url: redact_url(task_url),
                            message,
                        });
                    }
                    if task.status.done {
                        // Done without an error and without the 303: treat as success, the
                        // version read-back decides.
                        return Ok(());
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
        let request = self
            .request(Method::PUT, url.clone(), media::PLUGIN)
            .header(CONTENT_TYPE, media::PLUGIN)
            .body(serde_json::to_vec(&wire::EnabledUpdate { enabled }).unwrap_or_default());
        let response = self.send(request, &Method::PUT, &url).await?;
        expect_success(response, &Method::PUT, &url).await.map(drop)
    }

    /// `DELETE /{key}-key` (§5.5): 204 when gone; 404 means already gone, which is what was wanted.
    pub async fn uninstall(&self, key: &AppKey) -> Result<(), UpmError> {
        let url = self.plugin_url(key, &[]);
        let response = self
            .send(
                self.request(Method::DELETE, url.clone(), "*/*"),
                &Method::DELETE,
                &url,
            )
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(()),
            // 202 + the plugin: removal waits for a product restart (§5.5).
            StatusCode::ACCEPTED => Err(UpmError::RestartRequired {
                key: key.clone(),
                what: "uninstall",
            }),
            _ => expect_success(response, &Method::DELETE, &url)
                .await
                .map(drop),
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
        let request = self
            .request(Method::PUT, url.clone(), media::GENERIC)
            .header(CONTENT_TYPE, media::GENERIC)
            .body(body);
        let response = self.send(request, &Method::PUT, &url).await?;
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
            .send(
                self.request(Method::DELETE, url.clone(), media::GENERIC),
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

    /// The absolute URL of a task: the `Location` header, else the body's relative `links.self`.
    /// It must be on the instance's own origin: credentials go nowhere else.
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
        let Ok(url) = self.api.join(candidate) else {
            return Ok(None);
        };
        if url.origin() != self.api.origin() {
            return Err(UpmError::ForeignTaskLink {
                url: redact_url(&url),
            });
        }
        Ok(Some(url))
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
        // 401 is the product refusing the credentials, or UPM refusing a permission (§2); 403s
        // are UPM's own refusals (token, system app, upload gate) and carry a body worth showing.
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(UpmError::Unauthorized {
                method: method.clone(),
                url: redact_url(url),
                status: response.status(),
                body: excerpt(&response.text().await.unwrap_or_default()),
            });
        }
        Ok(response)
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
            &mut rand::thread_rng(),
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
        return error;
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
    let _ = from;
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
        (Some(message), Some(code)) => format!("{message} ({code})"),
        (Some(message), None) => message.clone(),
        (None, Some(code)) => code.clone(),
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
    let text = response.text().await.unwrap_or_default();
    let parsed: wire::ErrorBody =
        serde_json::from_str(wire::strip_textarea(&text)).unwrap_or_default();
    let body = parsed
        .error_message
        .clone()
        .unwrap_or_else(|| excerpt(&text));
    UpmError::Status {
        method: method.clone(),
        url: redact_url(url),
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
    let text = response
        .text()
        .await
        .map_err(|error| request_error(method, url, error))?;
    serde_json::from_str(wire::strip_textarea(&text)).map_err(|error| UpmError::Decode {
        method: method.clone(),
        url: redact_url(url),
        reason: format!("{error} in `{}`", excerpt(&text)),
    })
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    match text.char_indices().nth(BODY_EXCERPT) {
        Some((index, _)) => format!("{}…", &text[..index]),
        None => text.to_string(),
    }
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

    #[test]
    fn excerpt_truncates_long_bodies_on_char_boundaries() {
        let long = "é".repeat(1000);
        let shown = excerpt(&long);
        assert!(shown.chars().count() <= BODY_EXCERPT + 1);
        assert_eq!(excerpt("  "), "(empty body)");
    }
}
