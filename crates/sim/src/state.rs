//! The simulator's mutable world: installed plugins, licenses, upm-tokens, install tasks, gates and
//! the request log, shared by both servers and the background install tasks.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use url::Url;

use super::cluster::Balancer;
use super::config::{SeedCompatibility, SeedMarketplaceApp, SeedPlugin, SeedUser, SimConfig};
use super::faults::ActiveFaults;
use super::front::Front;
use super::publish::Publishing;
use super::restart::SimRestartState;
use super::RecordedRequest;

/// How long a upm-token lives (upm-rest-api.md §5.2: 300 000 ms).
const TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// One installed plugin as the simulator holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPluginState {
    pub key: String,
    pub name: String,
    pub version: String,
    pub enabled: bool,
    /// `false` for system (bundled) plugins.
    pub user_installed: bool,
    pub uninstallable: bool,
    pub uses_licensing: bool,
    /// Vendor name and URL.
    pub vendor: Option<(String, String)>,
    /// The change waiting for a product restart (`restartState`, upm-rest-api.md §5.1), if any.
    pub restart_state: Option<SimRestartState>,
}

impl SimPluginState {
    fn seeded(seed: &SeedPlugin, vendor: Option<(String, String)>) -> Self {
        Self {
            key: seed.key.clone(),
            name: seed.name.clone(),
            version: seed.version.clone(),
            enabled: seed.enabled,
            user_installed: seed.user_installed,
            uninstallable: seed.uninstallable,
            uses_licensing: seed.uses_licensing,
            vendor,
            restart_state: None,
        }
    }
}

/// An installed license: the raw text and when it was set (epoch ms).
#[derive(Clone, Debug)]
pub(crate) struct LicenseRecord {
    pub raw: String,
    pub set_at_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TaskKind {
    Upload,
    Uri,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TaskStage {
    Downloading,
    Installing,
    Succeeded {
        key: String,
    },
    Failed {
        sub_code: Option<String>,
        message: Option<String>,
    },
}

impl TaskStage {
    pub(crate) fn is_done(&self) -> bool {
        matches!(self, TaskStage::Succeeded { .. } | TaskStage::Failed { .. })
    }
}

/// An install task (upm-rest-api.md §5.9).
#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub id: String,
    pub user: String,
    /// `status.source` / `status.name`: the file name or the URI's last segment.
    pub source: String,
    pub created_ms: u64,
    pub stage: TaskStage,
    pub kind: TaskKind,
    /// When the task was created, entered its installing stage and finished.
    pub started: Instant,
    pub installing_at: Option<Instant>,
    pub finished_at: Option<Instant>,
}

impl Task {
    /// Moves the task to `stage`, noting when it starts installing and when it is done.
    pub(crate) fn enter(&mut self, stage: TaskStage) {
        let now = Instant::now();
        if stage == TaskStage::Installing {
            self.installing_at.get_or_insert(now);
        }
        if stage.is_done() {
            self.installing_at.get_or_insert(now);
            self.finished_at.get_or_insert(now);
        }
        self.stage = stage;
    }
}

#[derive(Clone, Copy, Debug)]
struct UpmToken {
    value: i64,
    created: Instant,
}

/// Everything that changes while the simulator runs.
#[derive(Debug)]
pub(crate) struct State {
    pub plugins: BTreeMap<String, SimPluginState>,
    /// Licenses by plugin key. guess: like UPM's plugin-settings storage, a license outlives an
    /// uninstall of its plugin, but is shown only while the plugin is installed.
    pub licenses: BTreeMap<String, LicenseRecord>,
    /// By (node, user): tokens are node-local on a cluster (upm-rest-api.md §5.2).
    upm_tokens: HashMap<(usize, String), UpmToken>,
    /// In creation order.
    pub tasks: Vec<Task>,
    pub upload_enabled: bool,
    /// UPM 8's app signature check (upm-rest-api.md §5.7): unsigned uploads are refused.
    pub signature_check: bool,
    pub safe_mode: bool,
    /// Enabled flags of user-installed plugins before entering safe mode over REST.
    pub safe_mode_saved: Option<BTreeMap<String, bool>>,
    pub fail_next_install: Option<String>,
    /// The new versions of upgrades waiting for a restart, by key (restart.rs).
    pub staged: BTreeMap<String, SimPluginState>,
    /// Apps whose enabling fails inside the plugin system (enablement.rs).
    pub enable_fails: BTreeSet<String>,
    /// Counts product restarts; an install task started before one does not apply its result.
    pub generation: u64,
}

impl State {
    /// Returns the user's current upm-token on a node, minting one if there is none or it expired.
    pub(crate) fn upm_token(&mut self, node: usize, user: &str) -> i64 {
        let now = Instant::now();
        let entry = self
            .upm_tokens
            .entry((node, user.to_string()))
            .or_insert_with(|| UpmToken {
                value: fastrand::i64(..),
                created: now,
            });
        if now.duration_since(entry.created) >= TOKEN_LIFETIME {
            *entry = UpmToken {
                value: fastrand::i64(..),
                created: now,
            };
        }
        entry.value
    }

    /// Checks a upm-token presented to a node: a match is consumed even when expired (then still
    /// refused); a mismatch leaves the stored token alone (upm-rest-api.md §5.2).
    pub(crate) fn consume_upm_token(
        &mut self,
        node: usize,
        user: &str,
        presented: Option<&str>,
    ) -> bool {
        let slot = (node, user.to_string());
        let (Some(presented), Some(stored)) = (presented, self.upm_tokens.get(&slot).copied())
        else {
            return false;
        };
        if presented.trim() != stored.value.to_string() {
            return false;
        }
        self.upm_tokens.remove(&slot);
        stored.created.elapsed() < TOKEN_LIFETIME
    }

    /// Makes the user's token look older, for tests of expiry.
    #[cfg(test)]
    pub(crate) fn age_upm_token(&mut self, user: &str, by: Duration) {
        if let Some(token) = self.upm_tokens.get_mut(&(1, user.to_string())) {
            token.created = token.created.checked_sub(by).unwrap_or(token.created);
        }
    }

    /// Forgets every upm-token on every node (a product restart, §5.2: tokens live in memory).
    pub(crate) fn clear_upm_tokens(&mut self) {
        self.upm_tokens.clear();
    }

    pub(crate) fn task(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|task| task.id == id)
    }

    pub(crate) fn task_mut(&mut self, id: &str) -> Option<&mut Task> {
        self.tasks.iter_mut().find(|task| task.id == id)
    }

    /// The license shown for a plugin: only while the plugin is installed.
    pub(crate) fn visible_license(&self, key: &str) -> Option<&LicenseRecord> {
        self.plugins.get(key).and(self.licenses.get(key))
    }
}

/// What both servers share: fixed configuration plus the locked [`State`].
#[derive(Debug)]
pub(crate) struct Shared {
    /// `""` or `/jira` (no trailing slash).
    pub context_path: String,
    pub task_delay: Duration,
    /// The least time an install-by-URI task spends downloading.
    pub download_delay: Duration,
    /// Added before every answer, in microseconds (faults.rs, where every request is seen first);
    /// changed at run time by `Sim::set_latency`.
    pub latency_micros: AtomicU64,
    /// Marketplace artifacts served from disk, by (app key, build number).
    pub artifact_files: BTreeMap<(String, u64), PathBuf>,
    /// The product played (its endpoints, Marketplace application).
    pub product: super::product::Product,
    pub product_version: String,
    pub product_build: u64,
    pub users: Vec<SeedUser>,
    /// Personal access tokens: (token, user).
    pub access_tokens: Vec<(String, String)>,
    pub catalog: Vec<SeedMarketplaceApp>,
    /// Compatible product builds by (app key, build number); absent means the wide default.
    pub compatibilities: BTreeMap<(String, u64), SeedCompatibility>,
    pub server_compatibilities: BTreeMap<(String, u64), SeedCompatibility>,
    /// Base URL of the product listener, ending in `/` (e.g. `http://127.0.0.1:1234/jira/`).
    pub upm_url: Url,
    /// The product's configured base URL, ending in `/`: what UPM builds links from (§1). The
    /// listener's own URL unless [`SimConfig::base_url`] set another (a proxy, another host name).
    pub base_url: Url,
    /// The nodes behind the product listener (cluster.rs).
    pub balancer: Balancer,
    /// Apps whose installs, upgrades and uninstalls need a product restart (restart.rs).
    pub requires_restart: BTreeSet<String>,
    /// The apps each app needs installed and enabled before it can be enabled (enablement.rs).
    pub dependencies: BTreeMap<String, BTreeSet<String>>,
    /// Base URL of the Marketplace, ending in `/`.
    pub marketplace_url: Url,
    /// The client install-by-URI downloads with.
    pub http: reqwest::Client,
    /// The account allowed to publish to the Marketplace: (email, API token).
    pub publisher: (String, String),
    state: Mutex<State>,
    /// Uploaded artifacts and published versions (publish.rs).
    publishing: Mutex<Publishing>,
    faults: Mutex<ActiveFaults>,
    front: Mutex<Front>,
    log: Mutex<Vec<RecordedRequest>>,
    request_counter: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        config: SimConfig,
        upm_url: Url,
        marketplace_url: Url,
        http: reqwest::Client,
    ) -> Self {
        let now = now_ms();
        let plugins = config
            .plugins
            .iter()
            .map(|seed| {
                let vendor = config.vendors.get(&seed.key).cloned();
                (seed.key.clone(), SimPluginState::seeded(seed, vendor))
            })
            .collect();
        let licenses = config
            .plugins
            .iter()
            .filter_map(|seed| {
                let raw = seed.license.clone()?;
                Some((
                    seed.key.clone(),
                    LicenseRecord {
                        raw,
                        set_at_ms: now,
                    },
                ))
            })
            .collect();
        let base_url = config
            .base_url
            .clone()
            .map(normalized_base_url)
            .unwrap_or_else(|| upm_url.clone());
        let mut state = State {
            plugins,
            licenses,
            upm_tokens: HashMap::new(),
            tasks: Vec::new(),
            upload_enabled: true,
            signature_check: false,
            safe_mode: false,
            safe_mode_saved: None,
            fail_next_install: None,
            staged: BTreeMap::new(),
            enable_fails: config.enable_fails.clone(),
            generation: 0,
        };
        // The product starts like after a restart: an app that cannot be enabled is disabled.
        super::enablement::boot(&mut state, &config.dependencies);
        Self {
            base_url,
            balancer: Balancer::new(config.nodes),
            requires_restart: config.requires_restart.clone(),
            dependencies: config.dependencies.clone(),
            context_path: config.context_path,
            task_delay: config.task_delay,
            download_delay: config.download_delay,
            latency_micros: AtomicU64::new(
                u64::try_from(config.latency.as_micros()).unwrap_or(u64::MAX),
            ),
            artifact_files: config.artifact_files,
            product: config.product,
            product_version: config.product_version,
            product_build: config.product_build,
            users: config.users,
            access_tokens: config.tokens,
            catalog: config.marketplace,
            compatibilities: config.compatibilities,
            server_compatibilities: config.server_compatibilities,
            upm_url,
            marketplace_url,
            http,
            publisher: config.publisher,
            state: Mutex::new(state),
            publishing: Mutex::new(Publishing::default()),
            faults: Mutex::new(ActiveFaults::new(config.faults)),
            front: Mutex::new(config.front),
            log: Mutex::new(Vec::new()),
            request_counter: AtomicU64::new(0),
        }
    }

    /// Locks the state. A panic elsewhere never leaves it half-written (every change is a few
    /// assignments), so a poisoned lock is still usable.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state a simulator with `config` starts with, for unit tests of code that works on a
    /// locked [`State`].
    #[cfg(test)]
    pub(crate) fn test_state(config: SimConfig) -> State {
        Self::new(
            config,
            Url::parse("http://127.0.0.1/jira/").expect("a valid URL"),
            Url::parse("http://127.0.0.1/").expect("a valid URL"),
            reqwest::Client::new(),
        )
        .state
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks what was published to the Marketplace (poisoning ignored, as for [`Shared::lock`]).
    pub(crate) fn publishing(&self) -> MutexGuard<'_, Publishing> {
        self.publishing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the fault plan in force (poisoning ignored, as for [`Shared::lock`]).
    pub(crate) fn faults(&self) -> MutexGuard<'_, ActiveFaults> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Locks the switches of the layer in front of the product (poisoning ignored, as above).
    pub(crate) fn front(&self) -> MutexGuard<'_, Front> {
        self.front.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn clear_requests(&self) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The latency injected before every answer.
    pub(crate) fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_micros.load(Ordering::Relaxed))
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.store(micros, Ordering::Relaxed);
    }

    /// The next request number, for `X-AREQUESTID`.
    pub(crate) fn next_request_number(&self) -> u64 {
        self.request_counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// `{context}/rest/plugins/1.0` — links always use `1.0`, whichever alias was requested
    /// (upm-rest-api.md §1: the path is hard-coded in `UpmUriBuilder`), and the context path is
    /// the one of the configured base URL, which a proxy may make differ from the listener's.
    pub(crate) fn upm_rest_path(&self) -> String {
        format!(
            "{}/rest/plugins/1.0",
            self.base_url.path().trim_end_matches('/')
        )
    }

    /// An absolute URL under the configured base URL, from a path relative to it (no leading `/`).
    pub(crate) fn absolute(&self, relative: &str) -> String {
        format!("{}{}", self.base_url, relative.trim_start_matches('/'))
    }
}

/// A base URL as UPM keeps it: no query or fragment, the path ending in `/`.
fn normalized_base_url(mut url: Url) -> Url {
    url.set_query(None);
    url.set_fragment(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        Shared::test_state(SimConfig::empty())
    }

    #[test]
    fn token_is_stable_per_user_and_single_use() {
        let mut state = state();
        let first = state.upm_token(1, "admin");
        assert_eq!(state.upm_token(1, "admin"), first);
        assert!(!state.consume_upm_token(1, "admin", Some("not-it")));
        assert!(!state.consume_upm_token(1, "other", Some(&first.to_string())));
        assert!(state.consume_upm_token(1, "admin", Some(&first.to_string())));
        assert!(!state.consume_upm_token(1, "admin", Some(&first.to_string())));
    }

    #[test]
    fn tokens_are_node_local() {
        let mut state = state();
        let on_one = state.upm_token(1, "admin");
        let on_two = state.upm_token(2, "admin");
        assert_ne!(on_one, on_two, "each node mints its own");
        // Node 2 refuses node 1's token and keeps its own.
        assert!(!state.consume_upm_token(2, "admin", Some(&on_one.to_string())));
        assert!(state.consume_upm_token(2, "admin", Some(&on_two.to_string())));
        assert!(state.consume_upm_token(1, "admin", Some(&on_one.to_string())));
    }

    #[test]
    fn expired_token_is_consumed_and_refused() {
        let mut state = state();
        let token = state.upm_token(1, "admin");
        state.age_upm_token("admin", TOKEN_LIFETIME);
        assert!(!state.consume_upm_token(1, "admin", Some(&token.to_string())));
        // Consumed: the next GET mints a fresh one.
        assert!(!state.consume_upm_token(1, "admin", Some(&token.to_string())));
        let fresh = state.upm_token(1, "admin");
        assert!(state.consume_upm_token(1, "admin", Some(&fresh.to_string())));
    }
}
