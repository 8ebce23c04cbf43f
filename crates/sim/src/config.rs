//! What a simulator starts with: context path, users, installed plugins, the Marketplace catalog.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use super::faults::FaultPlan;
use super::front::Front;
use super::product::Product;

/// The key UPM itself is installed under.
pub const UPM_KEY: &str = "com.atlassian.upm.atlassian-universal-plugin-manager-plugin";

/// The Atlassian account email of the simulated Marketplace's publisher by default (see
/// [`SimConfig::publisher`]).
pub const PUBLISHER_EMAIL: &str = "vendor@example.com";

/// The API token of the default publisher account ([`PUBLISHER_EMAIL`]). Not a secret of anyone's:
/// it is documented in `docs/simulator.md`, and `upmsync sim` prints only the email.
pub const PUBLISHER_TOKEN: &str = "sim-marketplace-token";

/// Builder for a simulator. Start from [`SimConfig::empty`] or [`SimConfig::jira_demo`].
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub(crate) context_path: String,
    pub(crate) plugins: Vec<SeedPlugin>,
    pub(crate) marketplace: Vec<SeedMarketplaceApp>,
    pub(crate) users: Vec<SeedUser>,
    pub(crate) tokens: Vec<(String, String)>,
    pub(crate) task_delay: Duration,
    /// How long an install-by-URI task spends downloading before it installs (see
    /// [`SimConfig::download_delay`]).
    pub(crate) download_delay: Duration,
    /// Added before every answer of both listeners (see [`SimConfig::latency`]).
    pub(crate) latency: Duration,
    pub(crate) product: Product,
    pub(crate) product_version: String,
    pub(crate) product_build: u64,
    /// Vendor (name, URL) by plugin key.
    pub(crate) vendors: BTreeMap<String, (String, String)>,
    /// Compatible product builds by (app key, version build number); the default is wide.
    pub(crate) compatibilities: BTreeMap<(String, u64), SeedCompatibility>,
    /// Server-hosting ranges that differ from the Data Center ones.
    pub(crate) server_compatibilities: BTreeMap<(String, u64), SeedCompatibility>,
    pub(crate) faults: FaultPlan,
    /// The one account (email, API token) allowed to publish (see [`SimConfig::publisher`]).
    pub(crate) publisher: (String, String),
    /// WebSudo, web pages, proxy limit, rate limit, outbound access (builders in `front.rs`).
    pub(crate) front: Front,
    /// Product nodes behind the load balancer (cluster.rs; builder there).
    pub(crate) nodes: usize,
    /// The product's configured base URL (builder in cluster.rs); `None`: the listener's own URL.
    pub(crate) base_url: Option<Url>,
    /// Artifacts served from disk by (app key, version build number).
    pub(crate) artifact_files: BTreeMap<(String, u64), PathBuf>,
    /// Apps whose changes need a product restart (restart.rs).
    pub(crate) requires_restart: BTreeSet<String>,
    /// App → the apps it needs (enablement.rs).
    pub(crate) dependencies: BTreeMap<String, BTreeSet<String>>,
    /// Apps that fail to enable (enablement.rs).
    pub(crate) enable_fails: BTreeSet<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct SeedUser {
    pub name: String,
    pub password: String,
    pub sysadmin: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::empty()
    }
}

impl SimConfig {
    /// Returns a Jira at `/jira` with only UPM installed, user `admin`/`admin` (sysadmin) and an
    /// empty Marketplace catalog.
    pub fn empty() -> Self {
        Self {
            context_path: "/jira".into(),
            plugins: vec![SeedPlugin::system(
                UPM_KEY,
                "Atlassian Universal Plugin Manager Plugin",
                "7.1.6",
            )],
            marketplace: Vec::new(),
            users: vec![SeedUser {
                name: "admin".into(),
                password: "admin".into(),
                sysadmin: true,
            }],
            tokens: Vec::new(),
            task_delay: Duration::from_millis(300),
            download_delay: Duration::ZERO,
            latency: Duration::ZERO,
            product: Product::Jira,
            product_version: "9.12.15".into(),
            product_build: 9_120_015,
            vendors: BTreeMap::from([(UPM_KEY.to_string(), atlassian())]),
            compatibilities: BTreeMap::new(),
            server_compatibilities: BTreeMap::new(),
            faults: FaultPlan::default(),
            publisher: (PUBLISHER_EMAIL.into(), PUBLISHER_TOKEN.into()),
            front: Front::default(),
            nodes: 1,
            base_url: None,
            artifact_files: BTreeMap::new(),
            requires_restart: BTreeSet::new(),
            dependencies: BTreeMap::new(),
            enable_fails: BTreeSet::new(),
        }
    }

    /// Returns the demo Jira that `apps.yaml.example` is written against: bundled plugins, five
    /// user-installed apps and a Marketplace with ScriptRunner, Better PDF Exporter and Tempo.
    pub fn jira_demo() -> Self {
        let mut config = Self::empty();
        for (key, name, version) in [
            (
                "com.atlassian.jira.jira-software-application",
                "Jira Software Application",
                "9.12.15",
            ),
            (
                "com.atlassian.troubleshooting.plugin-jira",
                "Atlassian Troubleshooting and Support Tools",
                "1.56.2",
            ),
            (
                "com.atlassian.jira.plugins.jira-slack-server-integration-plugin",
                "Jira Slack Server Integration Plugin",
                "4.1.5",
            ),
            (
                "com.atlassian.jira.jira-mail-plugin",
                "Atlassian Jira - Plugins - Mail Plugin",
                "13.4.6",
            ),
            (
                "com.atlassian.applinks.applinks-plugin",
                "Atlassian Applinks Plugin",
                "9.1.3",
            ),
            (
                "com.atlassian.analytics.analytics-client",
                "Atlassian Analytics",
                "9.6.0",
            ),
        ] {
            config = config.plugin(SeedPlugin::system(key, name, version));
            config.vendors.insert(key.into(), atlassian());
        }
        let scriptrunner = "com.onresolve.jira.groovy.groovyrunner";
        let pdf = "com.midori.jira.plugin.pdfview";
        let tempo = "is.origo.jira.tempo-plugin";
        config
            .plugin(
                SeedPlugin::user(scriptrunner, "ScriptRunner for Jira", "8.20.0")
                    .licensing()
                    .license("demo-old-scriptrunner-license"),
            )
            .plugin(SeedPlugin::user(pdf, "Better PDF Exporter for Jira", "11.5.1").licensing())
            .plugin(SeedPlugin::user(tempo, "Tempo Timesheets", "17.2.0").licensing())
            .plugin(SeedPlugin::user(
                "com.example.retired",
                "Retired Helper",
                "1.0.0",
            ))
            .plugin(SeedPlugin::user(
                "com.example.sandbox",
                "Sandbox Experiments",
                "0.3.0",
            ))
            .plugin_vendor(scriptrunner, "Adaptavist", "https://www.adaptavist.com")
            .plugin_vendor(pdf, "Midori", "https://www.midori-global.com")
            .plugin_vendor(tempo, "Tempo Software", "https://www.tempo.io")
            .marketplace_app(SeedMarketplaceApp::new(
                scriptrunner,
                "ScriptRunner for Jira",
                6820,
                [
                    ("8.20.0", 1_005_740),
                    ("8.27.0", 1_006_540),
                    ("8.28.0", 1_006_640),
                    ("8.28.1", 1_006_650),
                    ("8.29.0", 1_006_750),
                ],
            ))
            .marketplace_app(SeedMarketplaceApp::new(
                pdf,
                "Better PDF Exporter for Jira",
                5167,
                [
                    ("11.4.0", 1_004_400),
                    ("11.5.0", 1_004_500),
                    ("11.5.1", 1_004_510),
                ],
            ))
            .marketplace_app(SeedMarketplaceApp::new(
                tempo,
                "Tempo Timesheets",
                6572,
                [("17.2.0", 1_007_200), ("17.3.0", 1_007_300)],
            ))
    }

    /// Sets the context path (default `/jira`; `""` serves at the root).
    pub fn context_path(mut self, path: &str) -> Self {
        let trimmed = path.trim().trim_matches('/');
        self.context_path = if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        };
        self
    }

    /// Adds an installed plugin, replacing one with the same key.
    pub fn plugin(mut self, plugin: SeedPlugin) -> Self {
        self.plugins.retain(|existing| existing.key != plugin.key);
        self.plugins.push(plugin);
        self
    }

    /// Adds an app to the Marketplace catalog, replacing one with the same key.
    pub fn marketplace_app(mut self, app: SeedMarketplaceApp) -> Self {
        self.marketplace.retain(|existing| existing.key != app.key);
        self.marketplace.push(app);
        self
    }

    /// Adds a user for Basic auth (or changes the password of an existing one). Users who are not
    /// sysadmins are Jira administrators (UPM's `admin` permission level, upm-rest-api.md §2).
    pub fn user(mut self, name: &str, password: &str, sysadmin: bool) -> Self {
        self.users.retain(|user| user.name != name);
        self.users.push(SeedUser {
            name: name.into(),
            password: password.into(),
            sysadmin,
        });
        self
    }

    /// Adds a personal access token, accepted as `Authorization: Bearer <token>` for `user`.
    pub fn personal_access_token(mut self, token: &str, user: &str) -> Self {
        self.tokens.retain(|(existing, _)| existing != token);
        self.tokens.push((token.into(), user.into()));
        self
    }

    /// Sets how long an install task spends installing before it completes (default 300 ms). An
    /// install by URI downloads first (at least [`SimConfig::download_delay`]) and then installs
    /// for this long; an upload installs for this long from the start.
    pub fn task_delay(mut self, delay: Duration) -> Self {
        self.task_delay = delay;
        self
    }

    /// Sets how long an install-by-URI task spends in its downloading stage at least (default
    /// none): the task shows `downloading` (upm-rest-api.md §5.9) until the artifact has been
    /// fetched and this much time has passed since the task started, and then installs for
    /// [`SimConfig::task_delay`]. Uploads have no downloading stage.
    pub fn download_delay(mut self, delay: Duration) -> Self {
        self.download_delay = delay;
        self
    }

    /// Delays every answer of both listeners (UPM, product endpoints, Marketplace API and
    /// downloads) by `latency` before it starts, like a network round trip (default none).
    /// Requests are served concurrently, so requests in flight together wait one latency, not
    /// one each.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the vendor shown for an installed plugin.
    pub fn plugin_vendor(mut self, key: &str, name: &str, url: &str) -> Self {
        self.vendors.insert(key.into(), (name.into(), url.into()));
        self
    }

    /// Sets the product builds a Marketplace version is compatible with (default:
    /// [`SeedCompatibility::default`]), for both Server and Data Center.
    pub fn version_compatibility(
        mut self,
        key: &str,
        build_number: u64,
        compatibility: SeedCompatibility,
    ) -> Self {
        self.compatibilities
            .insert((key.into(), build_number), compatibility);
        self
    }

    /// Serves the file at `path` as the artifact of a Marketplace version (app key, version build
    /// number), streamed from disk on each download and never held in memory, so artifacts of
    /// hundreds of MiB are cheap. The file should be a plugin jar or OBR whose descriptor names
    /// the app's key and the version (build one with [`crate::jar::write_padded_plugin_jar`] or
    /// [`crate::jar::write_padded_obr`]); the download's file name takes the file's extension
    /// (`.jar`, `.obr`). It is read when it is served, so it must exist then; a missing file
    /// answers 404.
    pub fn marketplace_artifact_file(
        mut self,
        key: &str,
        build_number: u64,
        path: impl AsRef<Path>,
    ) -> Self {
        self.artifact_files
            .insert((key.into(), build_number), path.as_ref().to_path_buf());
        self
    }

    /// Sets the one Atlassian account allowed to publish to every listing of the simulated
    /// Marketplace: HTTP Basic `email:api_token` (marketplace-api.md §1). Default:
    /// [`PUBLISHER_EMAIL`] / [`PUBLISHER_TOKEN`]. With it (and `includePrivate=true`), reads also
    /// see private versions.
    pub fn publisher(mut self, email: &str, api_token: &str) -> Self {
        self.publisher = (email.into(), api_token.into());
        self
    }

    /// Sets the fault plan in force from the start (default: no faults); see [`FaultPlan`].
    pub fn faults(mut self, plan: FaultPlan) -> Self {
        self.faults = plan;
        self
    }

    /// Sets a Server-hosting range different from the Data Center one for a Marketplace version
    /// (`hosting=server` filters on it; `hosting=datacenter` on the other).
    pub fn server_compatibility(
        mut self,
        key: &str,
        build_number: u64,
        compatibility: SeedCompatibility,
    ) -> Self {
        self.server_compatibilities
            .insert((key.into(), build_number), compatibility);
        self
    }

    /// Plays `product` (default Jira): its version endpoints, its usual context path and default
    /// version and build ([`Product::context_path`], [`Product::default_version`]; later
    /// [`SimConfig::context_path`] and [`SimConfig::product_build`] calls override them), and the
    /// Marketplace application its apps are compatible with.
    pub fn product(mut self, product: Product) -> Self {
        let (version, build) = product.default_version();
        self.product = product;
        self.product_version = version.into();
        self.product_build = build;
        self.context_path = product.context_path().into();
        self
    }

    /// Sets the product version and build number (default Jira 9.12.15 / 9120015).
    pub fn product_build(mut self, version: &str, build: u64) -> Self {
        self.product_version = version.into();
        self.product_build = build;
        self
    }
}

fn atlassian() -> (String, String) {
    ("Atlassian".into(), "https://www.atlassian.com".into())
}

/// A plugin installed when the simulator starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedPlugin {
    pub key: String,
    pub name: String,
    pub version: String,
    pub enabled: bool,
    pub user_installed: bool,
    pub uninstallable: bool,
    pub uses_licensing: bool,
    pub license: Option<String>,
}

impl SeedPlugin {
    /// Returns a user-installed plugin: enabled, uninstallable, not using licensing.
    pub fn user(key: &str, name: &str, version: &str) -> Self {
        Self {
            key: key.into(),
            name: name.into(),
            version: version.into(),
            enabled: true,
            user_installed: true,
            uninstallable: true,
            uses_licensing: false,
            license: None,
        }
    }

    /// Returns a system (bundled) plugin: enabled, `userInstalled: false`, not uninstallable.
    pub fn system(key: &str, name: &str, version: &str) -> Self {
        Self {
            user_installed: false,
            uninstallable: false,
            ..Self::user(key, name, version)
        }
    }

    pub fn disabled(mut self) -> Self {
        self.enabled = false;
        self
    }

    pub fn licensing(mut self) -> Self {
        self.uses_licensing = true;
        self
    }

    /// Installs a license; implies [`SeedPlugin::licensing`].
    pub fn license(mut self, text: &str) -> Self {
        self.uses_licensing = true;
        self.license = Some(text.into());
        self
    }

    /// Marks a user-installed plugin as one UPM refuses to uninstall.
    pub fn not_uninstallable(mut self) -> Self {
        self.uninstallable = false;
        self
    }
}

/// An app listed on the simulated Marketplace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedMarketplaceApp {
    pub key: String,
    pub name: String,
    /// The numeric app id of `/apps/{id}` and `/download/apps/{id}/...` URLs.
    pub id: u64,
    pub versions: Vec<SeedMarketplaceVersion>,
}

impl SeedMarketplaceApp {
    /// Returns an app whose versions (display name, build number) all use licensing.
    pub fn new<'a>(
        key: &str,
        name: &str,
        id: u64,
        versions: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> Self {
        Self {
            key: key.into(),
            name: name.into(),
            id,
            versions: versions
                .into_iter()
                .map(|(version, build)| SeedMarketplaceVersion::new(version, build).licensing())
                .collect(),
        }
    }

    /// Adds a version (replacing one with the same build number).
    pub fn version(mut self, version: SeedMarketplaceVersion) -> Self {
        self.versions
            .retain(|existing| existing.build_number != version.build_number);
        self.versions.push(version);
        self
    }
}

/// One version of a Marketplace app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedMarketplaceVersion {
    /// The display version, e.g. `8.28.1`; also the `plugin-info/version` of the served jar.
    pub name: String,
    pub build_number: u64,
    pub uses_licensing: bool,
    /// Serves bytes that are not a zip.
    pub corrupt_artifact: bool,
}

/// An inclusive product build range with the matching display versions (marketplace-api.md §5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedCompatibility {
    pub min_build: u64,
    pub min_version: String,
    pub max_build: u64,
    pub max_version: String,
}

impl Default for SeedCompatibility {
    // guess: a wide default (Jira 8.0.0 through 11.0.0) so seeds are compatible unless a test narrows it.
    fn default() -> Self {
        Self {
            min_build: 800_000,
            min_version: "8.0.0".into(),
            max_build: 11_000_000,
            max_version: "11.0.0".into(),
        }
    }
}

impl SeedMarketplaceVersion {
    pub fn new(name: &str, build_number: u64) -> Self {
        Self {
            name: name.into(),
            build_number,
            uses_licensing: false,
            corrupt_artifact: false,
        }
    }

    pub fn licensing(mut self) -> Self {
        self.uses_licensing = true;
        self
    }

    pub fn corrupt(mut self) -> Self {
        self.corrupt_artifact = true;
        self
    }
}
