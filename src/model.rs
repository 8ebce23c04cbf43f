//! Plain data that flows through the pipeline: desired state (from the manifest), live state (from UPM),
//! secrets and license hashes. No IO here.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256 as Sha256Hasher};
use url::Url;

use crate::version::{self, VersionSpec};

/// An app (plugin) key as UPM and the Marketplace know it, e.g. `com.onresolve.jira.groovy.groovyrunner`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppKey(String);

impl AppKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A plugin version string, compared exactly as the Atlassian plugin framework compares them
/// (see [`crate::version`]) through [`Version::compare`]. Equality follows that comparison:
/// `1.0` equals `1.0.0`. Not `Ord`: the framework's order is not total (see [`Version::compare`]).
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(String);

impl Version {
    /// Wraps a version written in a manifest, rejecting what the plugin framework would reject
    /// (regex `[\d\w]+(?:[\.-][\d\w]+)*` after removing spaces) and whitespace inside it
    /// ([`crate::version::validate_written`]); whitespace around it is trimmed.
    pub fn parse(text: &str) -> Result<Self, version::InvalidVersion> {
        crate::version::validate_written(text)?;
        Ok(Self(text.trim().to_string()))
    }

    /// Wraps a version reported by a server without validating it: UPM may report anything, and an
    /// invalid live version must still be shown and compared (it sorts below every valid one).
    pub fn from_server(text: &str) -> Self {
        Self(text.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares two versions as the plugin framework does ([`version::compare`]).
    ///
    /// Deliberately not `Ord`: the framework's comparator is not transitive across mixed parts
    /// (`0 < 1A < SNAPSHOT < 0`), so `sort` could panic and `max` would depend on the input's
    /// order. Compare two versions with this; pick the newest of many with
    /// `max_by(Version::compare)`, which never panics and, given the Marketplace's order, is stable.
    pub fn compare(&self, other: &Self) -> Ordering {
        version::compare(&self.0, &other.0)
    }

    /// Whether the plugin framework takes `self` for a newer version than `other` (the
    /// framework's upgrade test is `new.compareTo(installed) >= 0`, marketplace-api.md §11).
    pub fn is_newer_than(&self, other: &Self) -> bool {
        self.compare(other) == Ordering::Greater
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.compare(other) == Ordering::Equal
    }
}

impl Eq for Version {}

/// A secret value (password, token, license text, upm-token). `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value and registers it for scrubbing ([`crate::scrub`]), so no form of it
    /// can come back through a server into output.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        crate::scrub::register(&value);
        Self(value)
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A short, stable fingerprint of a license, safe to print: the first 12 hex digits of the SHA-256
/// of the license text with all whitespace removed.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LicenseHash(String);

impl LicenseHash {
    /// Hashes a license text. Whitespace is ignored because license keys are line-wrapped
    /// differently by different tools (the file, the env var, UPM's `rawLicense`) while meaning the
    /// same key. [guess: UPM compares the raw strings; a whitespace-only difference would make UPM
    /// replace the license, which is harmless, while we would report no change.]
    pub fn of(license: &str) -> Self {
        let compact: String = license.chars().filter(|c| !c.is_whitespace()).collect();
        let digest = Sha256Hasher::digest(compact.as_bytes());
        Self(format!("sha256:{}", &hex::encode(digest)[..12]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LicenseHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LicenseHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host product of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    Jira,
    Confluence,
    Bitbucket,
    Bamboo,
}

impl Product {
    /// The Marketplace application key for this product.
    pub fn marketplace_application(self) -> &'static str {
        match self {
            Product::Jira => "jira",
            Product::Confluence => "confluence",
            Product::Bitbucket => "bitbucket",
            Product::Bamboo => "bamboo",
        }
    }

    /// The product's name as people write it (`Jira`, `Confluence`, …).
    pub fn title(self) -> &'static str {
        match self {
            Product::Jira => "Jira",
            Product::Confluence => "Confluence",
            Product::Bitbucket => "Bitbucket",
            Product::Bamboo => "Bamboo",
        }
    }

    /// The `typeId` the product's applinks manifest reports (upm-rest-api.md §7): Bitbucket keeps
    /// its old name, `stash`.
    pub fn applinks_type_id(self) -> &'static str {
        match self {
            Product::Bitbucket => "stash",
            other => other.marketplace_application(),
        }
    }

    /// The product an applinks `typeId` names, if it is one of the four (case-insensitive).
    pub fn from_applinks_type_id(type_id: &str) -> Option<Product> {
        [
            Product::Jira,
            Product::Confluence,
            Product::Bitbucket,
            Product::Bamboo,
        ]
        .into_iter()
        .find(|product| {
            product
                .applinks_type_id()
                .eq_ignore_ascii_case(type_id.trim())
        })
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.marketplace_application())
    }
}

/// What to do with user-installed apps the manifest does not name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnmanagedPolicy {
    /// Leave them alone and say nothing.
    #[default]
    Ignore,
    /// Leave them alone but list them in plan and drift output (drift counts them).
    Report,
    /// Plan their uninstall.
    Uninstall,
}

/// TLS and plain-HTTP settings of an instance (manifest `ca_file`, `insecure_skip_tls_verify`,
/// `allow_http`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transport {
    /// Extra CA certificates (PEM) trusted for this instance, beside the system's.
    pub ca_file: Option<PathBuf>,
    /// Do not verify the server's certificate (a warning is printed on every run).
    pub insecure_skip_tls_verify: bool,
    /// Allow sending credentials over plain `http://` to a host that is not loopback.
    pub allow_http: bool,
}

/// How upmsync authenticates to an instance; the secrets come from environment variables.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// HTTP Basic.
    Basic { username: String, password: Secret },
    /// A Data Center personal access token, sent as `Authorization: Bearer`.
    Bearer { token: Secret },
}

/// The whole desired state, as loaded and validated from the manifest.
#[derive(Clone, Debug)]
pub struct Desired {
    /// The manifest file it came from.
    pub manifest_path: PathBuf,
    /// Marketplace base URL (default `https://marketplace.atlassian.com`).
    pub marketplace_url: Url,
    /// Instances in manifest order.
    pub instances: Vec<DesiredInstance>,
}

/// One instance (Jira, Confluence, ...) and the apps wanted on it, top-level and per-instance lists merged.
#[derive(Clone, Debug)]
pub struct DesiredInstance {
    pub name: String,
    /// Base URL including any context path, always ending in `/` so joins keep the context path.
    pub url: Url,
    pub product: Product,
    /// Marketplace hosting type for this instance's artifacts (default `datacenter`).
    pub hosting: Hosting,
    pub credentials: Credentials,
    /// How the connection to the instance is secured.
    pub transport: Transport,
    pub unmanaged: UnmanagedPolicy,
    /// The apps by key. Their order is not the map's: see [`DesiredApp::position`],
    /// [`DesiredApp::requires`] and [`DesiredInstance::install_order`].
    pub apps: BTreeMap<AppKey, DesiredApp>,
}

impl DesiredInstance {
    /// The order in which the apps are installed (and enabled): every app after the apps it
    /// `requires`; among the apps whose requirements are met, the first in manifest order
    /// ([`DesiredApp::position`]; the key breaks a tie between equal positions, which only
    /// hand-built instances have). With no `requires`, this is manifest order.
    ///
    /// Absent apps are in it too: uninstalls of named apps run in the reverse of this order, so an
    /// app is removed before the apps it requires. A `requires` naming a key the instance does not
    /// have is ignored here, and apps in a cycle follow the others in manifest order (the manifest
    /// loader refuses both).
    pub fn install_order(&self) -> Vec<AppKey> {
        use std::collections::{BTreeSet, HashMap};
        let rank = |app: &DesiredApp| (app.position, app.key.clone());
        // Requirements not yet placed, per app; and who waits on each app.
        let mut waiting_on: HashMap<&AppKey, usize> = HashMap::new();
        let mut dependents: HashMap<&AppKey, Vec<&DesiredApp>> = HashMap::new();
        let mut ready: BTreeSet<(usize, AppKey)> = BTreeSet::new();
        for app in self.apps.values() {
            let required: BTreeSet<&AppKey> = app
                .requires
                .iter()
                .filter(|key| **key != app.key && self.apps.contains_key(*key))
                .collect();
            for key in &required {
                dependents.entry(*key).or_default().push(app);
            }
            if required.is_empty() {
                ready.insert(rank(app));
            }
            waiting_on.insert(&app.key, required.len());
        }
        let mut order = Vec::with_capacity(self.apps.len());
        while let Some((_, key)) = ready.pop_first() {
            for dependent in dependents.get(&key).into_iter().flatten() {
                if let Some(count) = waiting_on.get_mut(&dependent.key) {
                    *count -= 1;
                    if *count == 0 {
                        ready.insert(rank(dependent));
                    }
                }
            }
            order.push(key);
        }
        if order.len() < self.apps.len() {
            let mut rest: Vec<&DesiredApp> = self
                .apps
                .values()
                .filter(|app| !order.contains(&app.key))
                .collect();
            rest.sort_by_key(|app| rank(app));
            order.extend(rest.into_iter().map(|app| app.key.clone()));
        }
        order
    }

    /// The hosting an app's Marketplace lookups and compatibility use: its own `hosting`, else the
    /// instance's.
    pub fn hosting_of(&self, app: &PresentApp) -> Hosting {
        app.hosting.unwrap_or(self.hosting)
    }
}

/// One app entry after merging.
#[derive(Clone, Debug)]
pub struct DesiredApp {
    pub key: AppKey,
    pub state: DesiredState,
    /// Where the app comes in the manifest, 0-based, counted over the instance's merged list: the
    /// top-level `apps` in their order, then the instance's own entries that are not in the
    /// top-level list, in theirs. An instance entry that overrides a top-level one keeps the
    /// top-level entry's position.
    pub position: usize,
    /// Apps of the same instance that must be installed (and enabled) before this one, as written
    /// (`requires:`; an instance entry's list replaces the top-level one). For an absent app: apps
    /// it is uninstalled before.
    pub requires: Vec<AppKey>,
}

// One value per app in the manifest: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum DesiredState {
    Present(PresentApp),
    Absent,
}

#[derive(Clone, Debug)]
pub struct PresentApp {
    /// An exact version, `latest`, or a constraint (`>=8.20, <9`, `~8.28`).
    pub version: VersionSpec,
    pub enabled: bool,
    pub license: DesiredLicense,
    pub source: Source,
    /// How the artifact reaches UPM.
    pub install: InstallMethod,
    /// The artifact's SHA-256, pinned in the manifest: it is then downloaded and checked before
    /// anything changes.
    pub sha256: Option<Sha256>,
    /// Install even when the Marketplace says the version does not fit the instance's build. With
    /// `latest` or a constraint, the version is chosen among every version listed for the hosting,
    /// compatible or not.
    pub allow_incompatible: bool,
    /// The app's own Marketplace hosting (`hosting:` on the app entry), overriding the instance's
    /// for this app's lookups and compatibility; `None` when the app does not set one or sets the
    /// instance's. See [`DesiredInstance::hosting_of`].
    pub hosting: Option<Hosting>,
}

/// How an artifact reaches UPM (`install:` in the manifest).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallMethod {
    /// Marketplace and `url` sources install by URI, `path` sources upload.
    #[default]
    Auto,
    /// UPM downloads the artifact itself.
    Uri,
    /// upmsync downloads (or reads) the artifact, verifies it, and uploads it.
    Upload,
}

/// Which Marketplace hosting type an instance's artifacts and compatibility come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hosting {
    #[default]
    Datacenter,
    Server,
}

impl Hosting {
    /// The query parameter value (marketplace-api.md §3).
    pub fn as_str(self) -> &'static str {
        match self {
            Hosting::Datacenter => "datacenter",
            Hosting::Server => "server",
        }
    }
}

/// A SHA-256 digest as 64 lowercase hex digits.
///
/// Deserializing checks the text like [`Sha256::parse`]: a digest read from a file (the lock) is
/// never short, never other than hex, and so never a path or a panic when it is cut or joined.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256(String);

/// A text that is not a sha256 ([`Sha256::parse`] refused it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a sha256 must be 64 hex digits (optionally prefixed `sha256:`)")]
pub struct InvalidSha256;

impl TryFrom<String> for Sha256 {
    type Error = InvalidSha256;

    fn try_from(text: String) -> Result<Self, InvalidSha256> {
        Self::parse(&text).ok_or(InvalidSha256)
    }
}

impl From<Sha256> for String {
    fn from(sha256: Sha256) -> String {
        sha256.0
    }
}

impl Sha256 {
    /// Accepts 64 hex digits (any case), optionally prefixed `sha256:`.
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.trim().strip_prefix("sha256:").unwrap_or(text.trim());
        (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| Self(hex.to_ascii_lowercase()))
    }

    /// The digest of some bytes.
    pub fn of(bytes: &[u8]) -> Self {
        Self(hex::encode(Sha256Hasher::digest(bytes)))
    }

    /// From a finished hasher.
    pub fn from_digest(digest: &[u8]) -> Self {
        Self(hex::encode(digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.0)
    }
}

/// The license the manifest asks for.
#[derive(Clone, Debug)]
pub enum DesiredLicense {
    /// The manifest says nothing about the license: leave it alone and do not read it.
    Unmanaged,
    /// This license must be installed.
    Present(License),
    /// No license must be installed (`license: absent`).
    Absent,
}

/// A license value and where it came from.
#[derive(Clone, Debug)]
pub struct License {
    pub text: Secret,
    pub hash: LicenseHash,
    /// Where the text came from, for messages: `env SCRIPTRUNNER_LICENSE` or `file licenses/x.txt`.
    pub origin: String,
}

/// Licenses are equal when their hashes and origins are (the text itself is never compared in the
/// open, nor printed).
impl PartialEq for License {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.origin == other.origin
    }
}

impl Eq for License {}

impl License {
    pub fn new(text: Secret, origin: impl Into<String>) -> Self {
        let hash = LicenseHash::of(text.expose());
        Self {
            text,
            hash,
            origin: origin.into(),
        }
    }
}

/// Where an app's artifact comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Resolved by key and version on the Marketplace, installed by URI.
    Marketplace,
    /// A local file (absolute, resolved against the manifest's folder), uploaded.
    Path(PathBuf),
    /// Installed by UPM from this URL.
    Url(Url),
}

/// The live state of one instance, as read from UPM and the product.
#[derive(Clone, Debug)]
pub struct Live {
    /// Every installed plugin, system ones included, by key.
    pub apps: BTreeMap<AppKey, LiveApp>,
    /// The product's version and build, or why it could not be read.
    pub product: Result<ProductInfo, ProductInfoError>,
    /// Changes UPM accepted that wait for a product restart, by app (upm-rest-api.md §1
    /// `/requires-restart`, §5.1 `restartState`): until the restart, UPM still runs the old state.
    pub pending_restart: BTreeMap<AppKey, RestartAction>,
    /// Whether UPM is in safe mode (upm-rest-api.md §5.1, the plugin list's exit links; §5.12):
    /// installs and uninstalls fail until it is left.
    pub safe_mode: bool,
    /// Whether an install task was running when the plugin list was read (§5.1, the
    /// `pending-tasks` link): apply waits for it, within a bound, before any change.
    pub task_running: bool,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            apps: BTreeMap::new(),
            product: Err(ProductInfoError::NotRead),
            pending_restart: BTreeMap::new(),
            safe_mode: false,
            task_running: false,
        }
    }
}

/// Why an instance's product version and build are not known. Cheap to clone: every planned app
/// that needs the build shares the one read that failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ProductInfoError {
    /// Nothing read it (a [`Live`] made by hand).
    #[error("the product version was not read")]
    NotRead,
    /// Reading it from the product failed.
    #[error(transparent)]
    Upm(std::sync::Arc<crate::upm::UpmError>),
}

/// Two failures are the same when they are the same read (or both unread).
impl PartialEq for ProductInfoError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::NotRead, Self::NotRead) => true,
            (Self::Upm(one), Self::Upm(other)) => std::sync::Arc::ptr_eq(one, other),
            _ => false,
        }
    }
}

impl Eq for ProductInfoError {}

/// The product version and build number an instance reports (the build is what the Marketplace's
/// compatibility ranges are written in).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductInfo {
    pub version: String,
    pub build: u64,
    /// The base URL the product is configured with (Jira `serverInfo.baseUrl`, the applinks
    /// manifest's `url`), when it says. UPM builds its task links from it (upm-rest-api.md §1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

/// A change UPM accepted that waits for a product restart (`restartState`, upm-rest-api.md §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartAction {
    Install,
    Upgrade,
    Remove,
}

impl RestartAction {
    /// Reads UPM's `restartState` / `action` value (`install`, `upgrade`, `remove`; absent or
    /// `none` when nothing waits).
    pub fn from_upm(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "install" => Some(Self::Install),
            "upgrade" => Some(Self::Upgrade),
            "remove" | "uninstall" => Some(Self::Remove),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Install => "install",
            Self::Upgrade => "upgrade",
            Self::Remove => "remove",
        }
    }
}

impl fmt::Display for RestartAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Marketplace compatibility range for one application and hosting, product builds inclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compatibility {
    pub min_build: u64,
    pub max_build: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.min_version, &self.max_version) {
            (Some(min), Some(max)) => write!(
                f,
                "{min} ({}) to {max} ({})",
                self.min_build, self.max_build
            ),
            _ => write!(f, "builds {} to {}", self.min_build, self.max_build),
        }
    }
}

#[derive(Clone, Debug)]
pub struct LiveApp {
    pub key: AppKey,
    pub name: String,
    pub version: Version,
    pub enabled: bool,
    /// `false` for system (bundled) apps, which are never planned for.
    pub user_installed: bool,
    pub uninstallable: bool,
    pub uses_licensing: bool,
    pub license: LiveLicense,
    /// A change to this app that waits for a product restart (`restartState`).
    pub restart: Option<RestartAction>,
}

/// What is known of an installed app's license.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LiveLicense {
    /// Not read, because the manifest does not manage this app's license.
    #[default]
    NotRead,
    /// Read: there is none.
    None,
    /// Read: this one is installed (only its hash is kept).
    Present(LicenseHash),
}

/// Where an artifact is, how it reaches UPM, and what it must hash to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    pub location: Location,
    pub delivery: Delivery,
    /// Pinned (manifest `sha256:` or the lock): the artifact is downloaded and checked before any
    /// change on the instance.
    pub sha256: Option<Sha256>,
}

impl Artifact {
    /// Whether upmsync must have the artifact in hand, verified, before changing anything: it
    /// uploads it, or its hash is pinned.
    pub fn needs_verification(&self) -> bool {
        self.delivery == Delivery::Upload || self.sha256.is_some()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Url(Url),
    File(PathBuf),
}

/// How the artifact reaches UPM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// UPM downloads it (install by URI).
    Uri,
    /// upmsync uploads it (multipart).
    Upload,
}

impl Serialize for Artifact {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // `kind` is how it reaches UPM, as in format_version 1 since the first release.
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kind", &self.delivery)?;
        match &self.location {
            Location::Url(url) => map.serialize_entry("url", &redact_url(url))?,
            Location::File(path) => map.serialize_entry("path", path)?,
        }
        if let Some(sha256) = &self.sha256 {
            map.serialize_entry("sha256", sha256)?;
        }
        map.end()
    }
}

impl fmt::Display for Artifact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.delivery {
            Delivery::Uri => "by URI",
            Delivery::Upload => "upload",
        };
        match &self.location {
            Location::Url(url) => write!(f, "{} ({how})", redact_url(url))?,
            Location::File(path) => write!(f, "{} ({how})", path.display())?,
        }
        if let Some(sha256) = &self.sha256 {
            let short = sha256.as_str().get(..12).unwrap_or(sha256.as_str());
            write!(f, " sha256 {short}")?;
        }
        Ok(())
    }
}

/// What an app resolves to on one instance: the exact version and, when it must be installed, its
/// artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub version: Version,
    pub artifact: Option<Artifact>,
    /// The product builds this version supports, when known (Marketplace or lock).
    pub compatibility: Vec<Compatibility>,
    /// The Marketplace's build number of this app version, when known.
    pub build_number: Option<u64>,
    /// For a downgrade: the installed version's artifact, to reinstall if the install fails after
    /// the uninstall.
    pub restore: Option<Artifact>,
}

/// Targets for one instance, by app.
pub type Targets = BTreeMap<AppKey, Target>;

/// A URL as it may be printed: without user info (credentials) and without a query string, which
/// may carry tokens (e.g. `?token=` or `?access-token=`).
pub fn redact_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    if shown.query().is_some() {
        shown.set_query(Some("..."));
    }
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        let credentials = Credentials::Basic {
            username: "admin".into(),
            password: secret,
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }

    #[test]
    fn license_hash_ignores_whitespace_and_hides_text() {
        let a = LicenseHash::of("AAAB\nCCCD==");
        let b = LicenseHash::of("AAABCCCD==\n");
        assert_eq!(a, b);
        assert_ne!(a, LicenseHash::of("AAABCCCE=="));
        assert!(a.as_str().starts_with("sha256:"));
        assert_eq!(a.as_str().len(), "sha256:".len() + 12);
    }

    #[test]
    fn redact_url_drops_credentials_and_query() {
        let url = Url::parse("https://user:pw@host/rest/plugins/1.0/?token=123").unwrap();
        assert_eq!(redact_url(&url), "https://host/rest/plugins/1.0/?...");
    }
}
