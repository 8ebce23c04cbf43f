//! upmsync-sim: the UPM + Marketplace simulator behind `upmsync sim`, the demo and the tests: a Jira whose
//! Universal Plugin Manager REST API behaves like the real one, quirks included, and a Marketplace.
//!
//! A crate of its own so the upmsync core builds without a web server; it knows nothing of upmsync
//! but the plugin framework's rules it shares through `upmsync-plugin` (version ordering, reading a
//! plugin descriptor). It prints nothing: `upmsync sim` reports its addresses through upmsync's printer.
//!
//! Two listeners: the product (UPM under `{context}/rest/plugins/{1.0,latest}/`, plus the
//! [`Product`]'s version endpoints: Jira `serverInfo`, Bitbucket `application-properties`, the
//! applinks manifest) and the Marketplace (`/rest/2/…`, `/download/apps/…`). The behaviour
//! follows `shared/reference/upm-rest-api.md` and `marketplace-api.md`; where those are silent the
//! code says `guess:`. A [`FaultPlan`] in front of both listeners makes chosen requests fail, stall,
//! lose their answer or slow down. Behind it, the product listener can answer as real deployments
//! do when something stands in the way (WebSudo, a [`WebPage`], a proxy's body limit, rate limits),
//! and a load balancer spreads product requests over [`SimConfig::nodes`] nodes with node-local
//! upm-tokens (`cluster.rs`); apps can need a restart (`restart.rs`), other apps
//! (`enablement.rs`) or fail to enable. For benchmarks, every answer can wait an injected
//! [`SimConfig::latency`], installs by URI spend a [`SimConfig::download_delay`] downloading, the
//! request log and [`Sim::install_tasks`] carry timing, and big Marketplace artifacts are served
//! from files ([`SimConfig::marketplace_artifact_file`]).
//!
//! The Marketplace also accepts publishing (`publish.rs`): the publisher account of
//! [`SimConfig::publisher`] ([`PUBLISHER_EMAIL`] / [`PUBLISHER_TOKEN`] by default) uploads an
//! artifact (`POST /rest/2/assets/artifact?file=NAME`, checked to be a plugin, at most
//! [`MAX_ARTIFACT_BYTES`]) and creates a version from it (`POST /rest/2/addons/{key}/versions`,
//! 201 or 400 with every field error); the version then resolves and downloads like a seeded one,
//! a private one only for the publisher with `includePrivate=true` ([`Sim::published_versions`]).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use upmsync_sim::{Sim, SimConfig};
//! let any = "127.0.0.1:0".parse()?;
//! let sim = Sim::start(SimConfig::jira_demo(), any, any).await?;
//! println!("UPM at {}rest/plugins/1.0/", sim.upm_url());
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

// Handlers return `Result<T, Response>`: the error *is* the HTTP answer, as with axum's own
// rejections, so its size is not a concern on this path.
#![allow(clippy::result_large_err)]

mod auth;
mod cluster;
mod config;
mod enablement;
mod faults;
mod front;
mod http;
mod install;
pub mod jar;
mod license;
mod marketplace;
mod product;
mod publish;
mod restart;
mod state;
mod upm;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

pub use config::{
    SeedCompatibility, SeedMarketplaceApp, SeedMarketplaceVersion, SeedPlugin, SimConfig,
    PUBLISHER_EMAIL, PUBLISHER_TOKEN, UPM_KEY,
};
pub use faults::{Fault, FaultPlan, FaultRule};
pub use front::WebPage;
pub use product::Product;
pub use publish::{MAX_ARTIFACT_BYTES, MAX_VERSION_DOCUMENT_BYTES};
pub use restart::SimRestartState;
pub use state::SimPluginState;

use state::Shared;

/// Which listener received a request (`upm` or `marketplace` in a fault plan).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimServer {
    Upm,
    Marketplace,
}

/// One request as the simulator saw it, with the status it answered (0 when a fault dropped the
/// answer). Credentials are never kept: `auth_scheme` is only the first word of `Authorization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub server: SimServer,
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    /// `Basic`, `Bearer`, …
    pub auth_scheme: Option<String>,
    pub status: u16,
    /// The product node (1-based, `X-ANODEID: node{n}`) that answered; `None` for the Marketplace
    /// and for requests a fault answered before they reached a node.
    pub node: Option<usize>,
    /// When the simulator received the request (before any injected latency).
    pub received: Instant,
    /// From receipt until the answer's head was ready (injected latency and faults included; a
    /// streamed body, such as a download, may take longer to send).
    pub elapsed: Duration,
}

impl RecordedRequest {
    /// Whether the request could change state (POST, PUT, DELETE, PATCH).
    pub fn is_mutating(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "DELETE" | "PATCH")
    }
}

/// One install task as the simulator ran it, with its timing: the server's own record of how
/// long installs took (upm-rest-api.md §5.9), for tests and benchmarks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimInstallTask {
    /// The task id of `/pending/{id}` and `/tasks/{id}`.
    pub id: String,
    /// The uploaded file's name, or the install URI's last segment.
    pub source: String,
    /// `true` for an upload (no downloading stage), `false` for an install by URI.
    pub upload: bool,
    /// When the task was created (the 202 of `POST /`).
    pub started: Instant,
    /// When the task entered its installing stage (an upload: at once); `None` while downloading.
    pub installing: Option<Instant>,
    /// When the task was done; `None` while it runs.
    pub finished: Option<Instant>,
    /// `Some(true)` succeeded, `Some(false)` ended as an error task, `None` still running.
    pub succeeded: Option<bool>,
}

impl SimInstallTask {
    /// The task's time on the server, from creation to done (download and install); `None` while
    /// it runs.
    pub fn server_time(&self) -> Option<Duration> {
        Some(self.finished?.saturating_duration_since(self.started))
    }
}

/// A version published to the simulated Marketplace (`POST /rest/2/addons/{key}/versions`), as
/// [`Sim::published_versions`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPublishedVersion {
    /// The display name, e.g. `1.2.3`.
    pub name: String,
    /// The version's Marketplace build number (`buildNumber`), as posted.
    pub build_number: u64,
    /// `public` or `private`, as posted.
    pub status: String,
    /// The uploaded artifact's file name (`my-app-1.2.3.jar`).
    pub file_name: String,
    /// The uploaded artifact's size in bytes.
    pub size: u64,
}

/// A running simulator. Dropping it (or [`Sim::shutdown`]) stops both listeners.
pub struct Sim {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("upm_url", &self.shared.upm_url.as_str())
            .field("marketplace_url", &self.shared.marketplace_url.as_str())
            .finish()
    }
}

impl Sim {
    /// Binds both listeners (port 0 picks a free one) and starts serving.
    pub async fn start(
        config: SimConfig,
        upm_listen: SocketAddr,
        marketplace_listen: SocketAddr,
    ) -> anyhow::Result<Sim> {
        let upm_listener = TcpListener::bind(upm_listen).await.with_context(|| {
            format!("cannot listen on `{upm_listen}` for the simulated product")
        })?;
        let marketplace_listener =
            TcpListener::bind(marketplace_listen)
                .await
                .with_context(|| {
                    format!("cannot listen on `{marketplace_listen}` for the simulated Marketplace")
                })?;
        let upm_url = base_url(upm_listener.local_addr()?, &config.context_path)?;
        let marketplace_url = base_url(marketplace_listener.local_addr()?, "")?;
        // §5.8: UPM follows at most 6 redirects with 30 s connect/read timeouts. guess: no proxy
        // from the environment, so downloads from the simulator's own Marketplace stay local.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(6))
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(30))
            .no_proxy()
            .user_agent("Atlassian UPM (upmsync simulator)")
            .build()
            .context("cannot build the simulator's HTTP client")?;
        let shared = Arc::new(Shared::new(config, upm_url, marketplace_url, http));

        let (stop, stopped) = watch::channel(false);
        // The fault layer is outermost: it sees every request first and records every exchange.
        let upm_router = Router::new()
            .fallback(upm::handle)
            .layer(DefaultBodyLimit::max(upm::MAX_BODY))
            // The load balancer in front of the product nodes, behind the faults (a fault's
            // status answer is the balancer's or a proxy's, from no node).
            .layer(middleware::from_fn_with_state(
                Arc::clone(&shared),
                cluster::layer,
            ))
            .layer(middleware::from_fn_with_state(
                Arc::clone(&shared),
                front::layer,
            ))
            .layer(middleware::from_fn_with_state(
                (Arc::clone(&shared), SimServer::Upm),
                faults::layer,
            ))
            .with_state(Arc::clone(&shared));
        let marketplace_router = Router::new()
            .fallback(marketplace::handle)
            .layer(middleware::from_fn_with_state(
                (Arc::clone(&shared), SimServer::Marketplace),
                faults::layer,
            ))
            .with_state(Arc::clone(&shared));
        let servers = vec![
            serve(upm_listener, upm_router, stopped.clone()),
            serve(marketplace_listener, marketplace_router, stopped),
        ];
        Ok(Sim {
            shared,
            stop,
            servers,
        })
    }

    /// The product base URL including the context path, always ending in `/`
    /// (e.g. `http://127.0.0.1:41234/jira/`).
    pub fn upm_url(&self) -> Url {
        self.shared.upm_url.clone()
    }

    /// The product's configured base URL, ending in `/`: [`SimConfig::base_url`], or else the
    /// same as [`Sim::upm_url`].
    pub fn base_url(&self) -> Url {
        self.shared.base_url.clone()
    }

    /// How many product nodes answer behind the load balancer ([`SimConfig::nodes`]).
    pub fn nodes(&self) -> usize {
        self.shared.balancer.nodes()
    }

    /// The Marketplace base URL, ending in `/`.
    pub fn marketplace_url(&self) -> Url {
        self.shared.marketplace_url.clone()
    }

    /// The email of the Marketplace's publisher account ([`SimConfig::publisher`]); the API token
    /// is never reported.
    pub fn publisher_email(&self) -> &str {
        &self.shared.publisher.0
    }

    /// The versions published to an app's listing since the start, in creation order (seeded
    /// versions are not among them).
    pub fn published_versions(&self, key: &str) -> Vec<SimPublishedVersion> {
        self.shared
            .publishing()
            .versions(key)
            .iter()
            .map(|version| SimPublishedVersion {
                name: version.name.clone(),
                build_number: version.build_number,
                status: version.status.as_str().to_string(),
                file_name: version.asset.file_name.clone(),
                size: version.asset.size,
            })
            .collect()
    }

    /// Changes the largest artifact an upload may carry (default [`MAX_ARTIFACT_BYTES`]); a larger
    /// upload is answered 413.
    pub fn set_max_artifact_bytes(&self, bytes: u64) {
        self.shared.publishing().max_artifact_bytes = Some(bytes);
    }

    /// Every request both listeners received, in the order they were answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Every install task since the start (or the last product restart), in creation order, with
    /// its timing.
    pub fn install_tasks(&self) -> Vec<SimInstallTask> {
        self.shared
            .lock()
            .tasks
            .iter()
            .map(|task| SimInstallTask {
                id: task.id.clone(),
                source: task.source.clone(),
                upload: task.kind == state::TaskKind::Upload,
                started: task.started,
                installing: task.installing_at,
                finished: task.finished_at,
                succeeded: match task.stage {
                    state::TaskStage::Succeeded { .. } => Some(true),
                    state::TaskStage::Failed { .. } => Some(false),
                    _ => None,
                },
            })
            .collect()
    }

    /// Changes the latency injected before every answer (see [`SimConfig::latency`]); requests
    /// already waiting keep theirs.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_latency(latency);
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// The installed plugins, by key.
    pub fn plugins(&self) -> Vec<SimPluginState> {
        self.shared.lock().plugins.values().cloned().collect()
    }

    pub fn plugin(&self, key: &str) -> Option<SimPluginState> {
        self.shared.lock().plugins.get(key).cloned()
    }

    /// The raw license text stored for a plugin (kept across an uninstall, like UPM's storage).
    pub fn license(&self, key: &str) -> Option<String> {
        self.shared
            .lock()
            .licenses
            .get(key)
            .map(|license| license.raw.clone())
    }

    /// Turns the upload gate of modern DC (upm-rest-api.md §5.7) off (`false`: uploads get 403).
    pub fn set_upload_enabled(&self, on: bool) {
        self.shared.lock().upload_enabled = on;
    }

    /// Turns UPM 8's app signature check on (default off, as on UPM before 8). When on, uploads are
    /// refused with 403 "Signature check failed!" (upm-rest-api.md §5.7) because the simulator's jars
    /// are unsigned; installs by URI from the simulated Marketplace still work (Marketplace artifacts
    /// are signed), while a URI elsewhere fails inside its install task.
    pub fn set_signature_check(&self, on: bool) {
        self.shared.lock().signature_check = on;
    }

    /// Puts UPM in safe mode (installs and uninstalls get 409). Unlike `PUT /safe-mode`, this
    /// only flips the gate and leaves the plugins' enabled states alone.
    pub fn set_safe_mode(&self, on: bool) {
        let mut state = self.shared.lock();
        state.safe_mode = on;
        state.safe_mode_saved = None;
    }

    /// Replaces the fault plan in force (see [`FaultPlan`]); `first` counts and [`Sim::fault_hits`]
    /// start again from zero.
    pub fn set_faults(&self, plan: FaultPlan) {
        *self.shared.faults() = faults::ActiveFaults::new(plan);
    }

    /// How many requests a fault was applied to under the current plan.
    pub fn fault_hits(&self) -> u64 {
        self.shared.faults().hits()
    }

    /// Makes the next install task end as an error task with this `errorMessage`.
    pub fn fail_next_install(&self, message: &str) {
        self.shared.lock().fail_next_install = Some(message.to_string());
    }

    /// Stops both listeners and waits (briefly) for them to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for server in self.servers.drain(..) {
            let abort = server.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), server)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for server in &self.servers {
            server.abort();
        }
    }
}

fn serve(
    listener: TcpListener,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!("simulator listener stopped: {error}");
        }
    })
}

/// `http://{addr}{context}/`; an unspecified bind address is reached through loopback.
fn base_url(address: SocketAddr, context_path: &str) -> anyhow::Result<Url> {
    let mut address = address;
    if address.ip().is_unspecified() {
        address.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let text = format!("http://{address}{context_path}/");
    Url::parse(&text).with_context(|| format!("`{text}` is not a valid base URL"))
}
