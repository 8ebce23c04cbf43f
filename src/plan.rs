//! The plan: a pure, deterministic function of one instance's desired state, its live state and the
//! artifacts resolved for it. Each [`Change`] is one [`Op`] carrying exactly the data its operation
//! needs (the artifact to install, how a downgrade is undone, the license to set), so the executor
//! has nothing left to decide and never looks at the manifest.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::resolve::{Fact, Facts, Release, Wanted};
use crate::version::VersionSpec;

use crate::model::{
    redact_url, AppKey, Artifact, Delivery, DesiredInstance, DesiredLicense, DesiredState,
    InstallMethod, License, LicenseHash, Live, LiveApp, LiveLicense, Location, ProductInfo,
    RestartAction, Sha256, Target, Targets, UnmanagedPolicy, Version,
};

/// What a change does, by the names the JSON output uses (`action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Uninstall,
    Downgrade,
    Upgrade,
    Install,
    LicenseRemove,
    LicenseSet,
    Enable,
    Disable,
}

impl Action {
    /// The name the JSON output and the text use, e.g. `license-set`.
    pub fn name(self) -> &'static str {
        match self {
            Action::Install => "install",
            Action::Upgrade => "upgrade",
            Action::Downgrade => "downgrade",
            Action::Uninstall => "uninstall",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::LicenseSet => "license-set",
            Action::LicenseRemove => "license-remove",
        }
    }

    /// Whether the change installs an artifact.
    pub fn installs(self) -> bool {
        matches!(self, Action::Install | Action::Upgrade | Action::Downgrade)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An artifact as a plan to apply carries it. How it reaches UPM decides what upmsync does with it
/// before the instance's first change (shown in the plan as `fetch_first`): an upload is always
/// fetched first (the type has no other form), a download by URI when the planner says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannedArtifact {
    /// UPM downloads it from `url` (install by URI).
    Uri {
        url: Url,
        /// The sha256 it must have, when pinned (manifest `sha256:` or the lock).
        sha256: Option<Sha256>,
        /// upmsync downloads it once into the cache, hashes and opens it before its change as
        /// well (while the changes before it run): its sha256 is pinned, or it belongs to a
        /// downgrade (which uninstalls first, so both versions must be in hand before that).
        fetch_first: bool,
    },
    /// upmsync uploads it: always fetched (downloaded once into the cache, or read in place),
    /// hashed and opened before its change, while the changes before it run.
    Upload {
        location: Location,
        /// The sha256 it must have, when pinned (manifest `sha256:` or the lock).
        sha256: Option<Sha256>,
    },
}

impl PlannedArtifact {
    /// The artifact as the plan carries it: by URI or by upload as its `delivery` says (a file
    /// only by upload, since UPM cannot download it), fetched first when it is uploaded, when its
    /// sha256 is pinned, or when `downgrade` (both versions of a downgrade must be in hand).
    pub fn new(artifact: Artifact, downgrade: bool) -> Self {
        match (artifact.delivery, artifact.location) {
            (Delivery::Uri, Location::Url(url)) => {
                let fetch_first = downgrade || artifact.sha256.is_some();
                PlannedArtifact::Uri {
                    url,
                    sha256: artifact.sha256,
                    fetch_first,
                }
            }
            (_, location) => PlannedArtifact::Upload {
                location,
                sha256: artifact.sha256,
            },
        }
    }

    /// Whether upmsync fetches and verifies it before the instance's first change.
    pub fn fetch_first(&self) -> bool {
        match self {
            PlannedArtifact::Uri { fetch_first, .. } => *fetch_first,
            PlannedArtifact::Upload { .. } => true,
        }
    }

    /// Where it is, how it reaches UPM and what it must hash to.
    pub fn artifact(&self) -> Artifact {
        match self {
            PlannedArtifact::Uri { url, sha256, .. } => Artifact {
                location: Location::Url(url.clone()),
                delivery: Delivery::Uri,
                sha256: sha256.clone(),
            },
            PlannedArtifact::Upload { location, sha256 } => Artifact {
                location: location.clone(),
                delivery: Delivery::Upload,
                sha256: sha256.clone(),
            },
        }
    }
}

/// An artifact as the plan shows it and a saved plan holds it: the URL without credentials or
/// query, so it cannot be installed from, only compared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactView {
    /// How it reaches UPM (`uri`: UPM downloads it; `upload`: upmsync uploads it).
    pub kind: Delivery,
    /// Where it is downloaded from, without credentials or query ([`redact_url`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The local file it is read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The sha256 it must have, when pinned (manifest `sha256:` or the lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256>,
    /// Fetched and verified by upmsync before its change, while the changes before it run (a
    /// compatible addition to format 1; the name is kept for the JSON contract).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fetch_first: bool,
    /// For a downgrade's restore by URI ([`Restore::ByUriThenUpload`]): how the installed
    /// version is put back when UPM cannot download it (`upload`: the copy fetched first). A
    /// compatible addition to format 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Delivery>,
}

impl ArtifactView {
    fn of(artifact: &Artifact, fetch_first: bool) -> Self {
        let (url, path) = match &artifact.location {
            Location::Url(url) => (Some(redact_url(url)), None),
            Location::File(path) => (None, Some(path.clone())),
        };
        Self {
            kind: artifact.delivery,
            url,
            path,
            sha256: artifact.sha256.clone(),
            fetch_first,
            fallback: None,
        }
    }
}

/// What a plan carries for an artifact: [`PlannedArtifact`] in a plan to apply, `()` in drift
/// (nothing resolved), [`ArtifactView`] in a saved plan.
pub trait ArtifactSlot: Clone + fmt::Debug + PartialEq {
    /// The artifact as shown, `None` when the plan holds none (drift).
    fn view(&self) -> Option<ArtifactView>;
}

impl ArtifactSlot for PlannedArtifact {
    fn view(&self) -> Option<ArtifactView> {
        Some(ArtifactView::of(&self.artifact(), self.fetch_first()))
    }
}

impl ArtifactSlot for ArtifactView {
    fn view(&self) -> Option<ArtifactView> {
        Some(self.clone())
    }
}

impl ArtifactSlot for () {
    fn view(&self) -> Option<ArtifactView> {
        None
    }
}

/// What a plan carries for a license to set: the [`License`] (its text a [`crate::model::Secret`])
/// in a plan to apply; only its [`LicenseHash`] in a saved plan, which never holds a license.
pub trait LicenseSlot: Clone + fmt::Debug + PartialEq {
    /// The license's short hash, the only form of it ever shown.
    fn hash(&self) -> &LicenseHash;
}

impl LicenseSlot for License {
    fn hash(&self) -> &LicenseHash {
        &self.hash
    }
}

impl LicenseSlot for LicenseHash {
    fn hash(&self) -> &LicenseHash {
        self
    }
}

/// How a downgrade puts the installed version back if installing the older one fails after the
/// uninstall (UPM refuses to downgrade in place, upm-rest-api.md §5.6). Decided by the planner and
/// shown in the plan; the executor runs exactly this strategy. The artifact is always fetched and
/// verified before the uninstall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restore<A> {
    /// UPM downloads the installed version again by URI; if that install fails, the copy upmsync
    /// fetched and verified before the uninstall is uploaded. By URI first because the upload gate
    /// and UPM 8's signature check do not apply to it; the upload second because it needs no
    /// download by UPM. Shown as `restore.kind: uri` with `fallback: upload`.
    ByUriThenUpload(A),
    /// The copy fetched and verified before the uninstall is uploaded (`install: upload`). Shown
    /// as `restore.kind: upload`.
    ByUpload(A),
    /// The installed version's artifact was not found (not on the Marketplace): a failed install
    /// leaves the app missing.
    Impossible,
}

/// One operation on one app, with exactly the data it needs. Versions `from`/`to` are the
/// installed version before and after the plan, as the JSON output shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op<A = PlannedArtifact, L = License> {
    /// Installs an app that is not installed.
    Install {
        to: Version,
        /// Whether the app must end up enabled (checked and set after the install).
        enabled: bool,
        artifact: A,
    },
    /// Installs a newer version over the installed one.
    Upgrade {
        from: Version,
        to: Version,
        enabled: bool,
        artifact: A,
    },
    /// Uninstall, then install the older version; `restore` undoes the uninstall on failure.
    Downgrade {
        from: Version,
        to: Version,
        enabled: bool,
        artifact: A,
        restore: Restore<A>,
    },
    /// Uninstalls the app; `reason` says why (named `absent`, or not named under
    /// `unmanaged: uninstall`).
    Uninstall {
        from: Version,
        reason: UninstallReason,
    },
    /// Enables the app. `from`/`to`: its version before and after the plan (an upgrade of it may
    /// come first).
    Enable { from: Version, to: Version },
    /// Disables the app; `from`/`to` as for [`Op::Enable`].
    Disable { from: Version, to: Version },
    /// Installs the license `to` (its text in a plan to apply, its hash in a saved plan) over
    /// `from`; `version` is the app's version when it runs.
    SetLicense {
        version: Version,
        from: Option<LicenseHash>,
        to: L,
    },
    /// Removes the installed license `from`.
    RemoveLicense { version: Version, from: LicenseHash },
}

impl<A, L> Op<A, L> {
    /// The operation's name in the output.
    pub fn action(&self) -> Action {
        match self {
            Op::Install { .. } => Action::Install,
            Op::Upgrade { .. } => Action::Upgrade,
            Op::Downgrade { .. } => Action::Downgrade,
            Op::Uninstall { .. } => Action::Uninstall,
            Op::Enable { .. } => Action::Enable,
            Op::Disable { .. } => Action::Disable,
            Op::SetLicense { .. } => Action::LicenseSet,
            Op::RemoveLicense { .. } => Action::LicenseRemove,
        }
    }

    /// The installed version before the change (`None`: not installed).
    pub fn from_version(&self) -> Option<&Version> {
        match self {
            Op::Install { .. } => None,
            Op::Upgrade { from, .. }
            | Op::Downgrade { from, .. }
            | Op::Uninstall { from, .. }
            | Op::Enable { from, .. }
            | Op::Disable { from, .. } => Some(from),
            Op::SetLicense { version, .. } | Op::RemoveLicense { version, .. } => Some(version),
        }
    }

    /// The installed version after the change (`None`: uninstalled).
    pub fn to_version(&self) -> Option<&Version> {
        match self {
            Op::Uninstall { .. } => None,
            Op::Install { to, .. }
            | Op::Upgrade { to, .. }
            | Op::Downgrade { to, .. }
            | Op::Enable { to, .. }
            | Op::Disable { to, .. } => Some(to),
            Op::SetLicense { version, .. } | Op::RemoveLicense { version, .. } => Some(version),
        }
    }

    /// For installs: the artifact of the version installed.
    pub fn artifact(&self) -> Option<&A> {
        match self {
            Op::Install { artifact, .. }
            | Op::Upgrade { artifact, .. }
            | Op::Downgrade { artifact, .. } => Some(artifact),
            _ => None,
        }
    }

    /// For license changes: the hashes before and after.
    pub fn license_change(&self) -> Option<LicenseChange>
    where
        L: LicenseSlot,
    {
        match self {
            Op::SetLicense { from, to, .. } => Some(LicenseChange {
                from: from.clone(),
                to: Some(to.hash().clone()),
            }),
            Op::RemoveLicense { from, .. } => Some(LicenseChange {
                from: Some(from.clone()),
                to: None,
            }),
            _ => None,
        }
    }
}

/// Why a downgrade needs care, as the plan shows it.
pub fn downgrade_warning<A>(restore: &Restore<A>) -> String {
    let mut warning = "a downgrade uninstalls the app first, then installs the older version: the app's data and configuration may not survive".to_string();
    if matches!(restore, Restore::Impossible) {
        warning.push_str("; and no artifact of the installed version was found (it is not on the Marketplace), so the app cannot be restored if the install fails");
    }
    warning
}

/// Why an uninstall is planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UninstallReason {
    /// The manifest names the app with `state: absent`.
    Absent,
    /// The manifest does not name the app and says `unmanaged: uninstall`.
    NotInManifest,
}

impl UninstallReason {
    /// How the plan explains it, when it needs explaining: an app the manifest names `absent` is
    /// plain; one it does not name at all surprises.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Self::Absent => None,
            Self::NotInManifest => Some("not in the manifest"),
        }
    }
}

/// How a warning about a version `allow_incompatible` lets through starts.
const INCOMPATIBLE_PREFIX: &str = "allowed by `allow_incompatible: true`: ";

/// The warning for a version `allow_incompatible` lets through; `why` is
/// [`Change::incompatible`].
pub fn incompatible_warning(why: &str) -> String {
    format!("{INCOMPATIBLE_PREFIX}{why}")
}

/// One step on one app. Changes run in the order of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change<A = PlannedArtifact, L = License> {
    pub key: AppKey,
    /// The app's display name, where UPM told it.
    pub name: Option<String>,
    pub op: Op<A, L>,
    /// For an install, upgrade or downgrade that `allow_incompatible: true` lets through: why the
    /// version does not fit the instance (the Marketplace's ranges and the instance's build, or
    /// that the build could not be read). Shown as a warning.
    pub incompatible: Option<String>,
    /// The app as the plan saw it. The executor reads the app again right before the change and
    /// stops the instance as stale when it differs: another runner or an admin changed it. Not
    /// part of the output.
    pub assumed: Assumed,
}

impl<A, L> Change<A, L> {
    /// The operation's name in the output.
    pub fn action(&self) -> Action {
        self.op.action()
    }
}

impl<L: LicenseSlot> Change<PlannedArtifact, L> {
    /// The change as a saved plan holds it: artifacts as shown, licenses by hash.
    pub fn saved(&self) -> Change<ArtifactView, LicenseHash> {
        let view = |artifact: &PlannedArtifact| {
            ArtifactView::of(&artifact.artifact(), artifact.fetch_first())
        };
        let op = match &self.op {
            Op::Install {
                to,
                enabled,
                artifact,
            } => Op::Install {
                to: to.clone(),
                enabled: *enabled,
                artifact: view(artifact),
            },
            Op::Upgrade {
                from,
                to,
                enabled,
                artifact,
            } => Op::Upgrade {
                from: from.clone(),
                to: to.clone(),
                enabled: *enabled,
                artifact: view(artifact),
            },
            Op::Downgrade {
                from,
                to,
                enabled,
                artifact,
                restore,
            } => Op::Downgrade {
                from: from.clone(),
                to: to.clone(),
                enabled: *enabled,
                artifact: view(artifact),
                restore: match restore {
                    Restore::ByUriThenUpload(artifact) => Restore::ByUriThenUpload(view(artifact)),
                    Restore::ByUpload(artifact) => Restore::ByUpload(view(artifact)),
                    Restore::Impossible => Restore::Impossible,
                },
            },
            Op::Uninstall { from, reason } => Op::Uninstall {
                from: from.clone(),
                reason: *reason,
            },
            Op::Enable { from, to } => Op::Enable {
                from: from.clone(),
                to: to.clone(),
            },
            Op::Disable { from, to } => Op::Disable {
                from: from.clone(),
                to: to.clone(),
            },
            Op::SetLicense { version, from, to } => Op::SetLicense {
                version: version.clone(),
                from: from.clone(),
                to: to.hash().clone(),
            },
            Op::RemoveLicense { version, from } => Op::RemoveLicense {
                version: version.clone(),
                from: from.clone(),
            },
        };
        Change {
            key: self.key.clone(),
            name: self.name.clone(),
            op,
            incompatible: self.incompatible.clone(),
            assumed: self.assumed.clone(),
        }
    }
}

/// The flat form of a change in the JSON output (format_version 1) and in saved plans: `action`
/// plus the fields that action uses.
#[derive(Serialize, Deserialize)]
struct ChangeWire {
    key: AppKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    action: Action,
    /// Installed version before the change (null when not installed).
    from: Option<Version>,
    /// Version after the change (null when uninstalled).
    to: Option<Version>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    artifact: Option<ArtifactView>,
    /// For license changes: the short hashes before and after (never the license).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    license: Option<LicenseChange>,
    /// For a downgrade: what reinstalls the current version if the install fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    restore: Option<ArtifactView>,
    /// Why the change needs care: a downgrade's risk, a version `allow_incompatible` lets
    /// through ([`incompatible_warning`]); both joined by `; ` when both apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
    /// For an uninstall: `absent` (the manifest says `state: absent`) or `not-in-manifest`
    /// (`unmanaged: uninstall`). A compatible addition to format 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<UninstallReason>,
}

impl<A: ArtifactSlot, L: LicenseSlot> Serialize for Change<A, L> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (enabled, restore, downgrade) = match &self.op {
            Op::Install { enabled, .. } | Op::Upgrade { enabled, .. } => {
                (Some(*enabled), None, None)
            }
            Op::Downgrade {
                enabled, restore, ..
            } => (
                Some(*enabled),
                match restore {
                    Restore::ByUriThenUpload(artifact) => {
                        artifact.view().map(|view| ArtifactView {
                            fallback: Some(Delivery::Upload),
                            ..view
                        })
                    }
                    Restore::ByUpload(artifact) => artifact.view(),
                    Restore::Impossible => None,
                },
                Some(downgrade_warning(restore)),
            ),
            _ => (None, None, None),
        };
        let incompatible = self.incompatible.as_deref().map(incompatible_warning);
        let warning = match (downgrade, incompatible) {
            (Some(downgrade), Some(incompatible)) => Some(format!("{downgrade}; {incompatible}")),
            (downgrade, incompatible) => downgrade.or(incompatible),
        };
        let reason = match &self.op {
            Op::Uninstall { reason, .. } => Some(*reason),
            _ => None,
        };
        ChangeWire {
            key: self.key.clone(),
            name: self.name.clone(),
            action: self.action(),
            from: self.op.from_version().cloned(),
            to: self.op.to_version().cloned(),
            enabled,
            artifact: self.op.artifact().and_then(ArtifactSlot::view),
            license: self.op.license_change(),
            restore,
            warning,
            reason,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Change<ArtifactView, LicenseHash> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = ChangeWire::deserialize(deserializer)?;
        let action = wire.action;
        let missing =
            |field: &str| D::Error::custom(format!("a `{action}` change needs `{field}`"));
        let from = || wire.from.clone().ok_or_else(|| missing("from"));
        let to = || wire.to.clone().ok_or_else(|| missing("to"));
        let enabled = || wire.enabled.ok_or_else(|| missing("enabled"));
        let artifact = || wire.artifact.clone().ok_or_else(|| missing("artifact"));
        let license = || wire.license.clone().ok_or_else(|| missing("license"));
        let op = match action {
            Action::Install => Op::Install {
                to: to()?,
                enabled: enabled()?,
                artifact: artifact()?,
            },
            Action::Upgrade => Op::Upgrade {
                from: from()?,
                to: to()?,
                enabled: enabled()?,
                artifact: artifact()?,
            },
            Action::Downgrade => Op::Downgrade {
                from: from()?,
                to: to()?,
                enabled: enabled()?,
                artifact: artifact()?,
                // A restore by URI always falls back to the upload, also in plans saved before
                // `fallback` was shown.
                restore: match wire.restore.clone() {
                    Some(restore) if restore.kind == Delivery::Upload => Restore::ByUpload(restore),
                    Some(restore) => Restore::ByUriThenUpload(restore),
                    None => Restore::Impossible,
                },
            },
            // Plans saved before `reason` was shown: an uninstall the manifest asked for by name
            // is the older and more common one (the recomputed plan has the true reason).
            Action::Uninstall => Op::Uninstall {
                from: from()?,
                reason: wire.reason.unwrap_or(UninstallReason::Absent),
            },
            Action::Enable => Op::Enable {
                from: from()?,
                to: to()?,
            },
            Action::Disable => Op::Disable {
                from: from()?,
                to: to()?,
            },
            Action::LicenseSet => Op::SetLicense {
                version: to()?,
                from: license()?.from,
                to: license()?.to.ok_or_else(|| missing("license.to"))?,
            },
            Action::LicenseRemove => Op::RemoveLicense {
                version: to()?,
                from: license()?.from.ok_or_else(|| missing("license.from"))?,
            },
        };
        // The warning `allow_incompatible` adds is what follows the downgrade's own, if any.
        let incompatible = wire.warning.as_deref().and_then(|warning| {
            let own = match &op {
                Op::Downgrade { restore, .. } => Some(downgrade_warning(restore)),
                _ => None,
            };
            let rest = match &own {
                Some(own) => warning.strip_prefix(own.as_str())?.strip_prefix("; ")?,
                None => warning,
            };
            rest.strip_prefix(INCOMPATIBLE_PREFIX).map(str::to_string)
        });
        Ok(Change {
            key: wire.key,
            name: wire.name,
            op,
            incompatible,
            assumed: Assumed::default(),
        })
    }
}
/// What the planner saw of one app: whether it was installed and at which version, whether it
/// was enabled, and its license when that was read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assumed {
    /// The installed version; `None` when the app was not installed.
    pub version: Option<Version>,
    /// `None` when the app was not installed.
    pub enabled: Option<bool>,
    /// [`LiveLicense::NotRead`] when the manifest does not manage the license (it is not checked).
    pub license: LiveLicense,
}

impl Assumed {
    /// The state of `app` as read (`None`: not installed).
    pub fn of(app: Option<&LiveApp>) -> Self {
        match app {
            Some(app) => Self {
                version: Some(app.version.clone()),
                enabled: Some(app.enabled),
                license: app.license.clone(),
            },
            None => Self::default(),
        }
    }
}

/// An app with a change UPM accepted that waits for a product restart: nothing is planned for it
/// until then (planning it again would repeat the same change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PendingRestart {
    pub key: AppKey,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `install`, `upgrade` or `remove`.
    pub action: RestartAction,
    /// Why the pending change contradicts the manifest, when it does: the restart will not bring
    /// the instance to what the manifest asks, and apply cannot act on the app before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
}

/// Why a change waiting for a restart contradicts what the manifest wants for the app, if it
/// does. A pending install or upgrade's target version is not shown by UPM (§5.1), so only a
/// manifest that wants the version running now is known to contradict an upgrade.
fn restart_conflict<R>(
    action: RestartAction,
    wish: &Wish<'_, R>,
    installed: Option<&LiveApp>,
) -> Option<String> {
    match (wish, action) {
        (Wish::Present(..), RestartAction::Remove) => {
            Some("UPM removes it at the restart, but the manifest wants it installed".to_string())
        }
        (Wish::Absent, RestartAction::Install | RestartAction::Upgrade) => Some(format!(
            "UPM {}s it at the restart, but the manifest wants it absent",
            action.name()
        )),
        (Wish::Present(_, decided), RestartAction::Upgrade) => {
            let running = &installed?.version;
            (decided.version() == running).then(|| {
                format!("UPM upgrades it from {running} at the restart, but the manifest wants {running}")
            })
        }
        _ => None,
    }
}

/// A license change as shown: the short hashes before and after (`None`: no license).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenseChange {
    pub from: Option<LicenseHash>,
    pub to: Option<LicenseHash>,
}

/// A user-installed app the manifest does not name, listed under `unmanaged: report`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnmanagedApp {
    pub key: AppKey,
    pub name: String,
    pub version: Version,
    pub enabled: bool,
}

/// The plan for one instance. `A` is what it carries for an artifact: [`PlannedArtifact`] in a
/// plan to apply, `()` in drift ([`Drift`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(bound = "")]
pub struct InstancePlan<A: ArtifactSlot = PlannedArtifact> {
    pub name: String,
    pub url: Url,
    /// The product version and build the plan was made for, when they could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductInfo>,
    pub changes: Vec<Change<A>>,
    pub unmanaged: Vec<UnmanagedApp>,
    /// Apps whose last change waits for a product restart; they are drift until the restart.
    pub pending_restart: Vec<PendingRestart>,
    /// What the live read knows will stop or hold up `apply` on this instance (safe mode, an
    /// install task running). Shown in the plan's header; a compatible addition to format 1.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<Blocker>,
}

/// Something the live read found that stops or holds up `apply` on an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// UPM is in safe mode (upm-rest-api.md §5.12): apply refuses to install, upgrade, downgrade
    /// or uninstall until it is left.
    SafeMode,
    /// An install task was running (§5.1 `pending-tasks`): apply waits for it, within a bound.
    TaskRunning,
    /// A change waiting for a product restart contradicts the manifest
    /// ([`PendingRestart::conflict`]): apply leaves that app alone and exits 1.
    RestartConflict,
}

impl Blocker {
    /// Its name in the JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Self::SafeMode => "safe-mode",
            Self::TaskRunning => "task-running",
            Self::RestartConflict => "restart-conflict",
        }
    }

    /// What it means for apply, in one line.
    pub fn message(self) -> String {
        match self {
            Self::SafeMode => "UPM is in safe mode: apply refuses to install, upgrade, downgrade or uninstall apps until it is left (the Manage apps page, or `PUT /rest/plugins/1.0/safe-mode?keepState=true` with `{\"enabled\":false}`)".to_string(),
            Self::TaskRunning => format!(
                "an install task was running on UPM (someone else's apply, or the Manage apps page): apply waits up to {} s for it to end, then refuses",
                crate::execute::PENDING_WAIT.as_secs()
            ),
            Self::RestartConflict => "a change waiting for a product restart contradicts the manifest (CONFLICT below): apply leaves that app alone and exits 1 until the change is cancelled on the Manage apps page or the product restarts".to_string(),
        }
    }
}

/// `{"kind": "safe-mode", "message": "..."}`.
impl Serialize for Blocker {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut shown = serializer.serialize_struct("Blocker", 2)?;
        shown.serialize_field("kind", self.name())?;
        shown.serialize_field("message", &self.message())?;
        shown.end()
    }
}

/// One instance's plan as `drift` makes it: no artifacts resolved.
pub type DriftPlan = InstancePlan<()>;

/// The plans of every instance `drift` looked at.
pub type Drift = Plan<()>;

impl<A: ArtifactSlot> InstancePlan<A> {
    /// True when applying would change nothing, nothing is reported and no change waits for a
    /// restart.
    pub fn in_sync(&self) -> bool {
        self.changes.is_empty() && self.unmanaged.is_empty() && self.pending_restart.is_empty()
    }
}

/// The plans of every instance a command looked at; an instance that could not be read or planned
/// carries its error instead, so the others still show.
#[derive(Clone, Debug)]
pub struct Plan<A: ArtifactSlot = PlannedArtifact> {
    pub instances: Vec<PlannedInstance<A>>,
}

impl<A: ArtifactSlot> Default for Plan<A> {
    fn default() -> Self {
        Self {
            instances: Vec::new(),
        }
    }
}

/// One instance of a [`Plan`]: its plan, or why there is none.
#[derive(Clone, Debug)]
pub struct PlannedInstance<A: ArtifactSlot = PlannedArtifact> {
    pub name: String,
    pub url: Url,
    /// What was read from the instance, when it could be read.
    pub live: Option<Live>,
    /// The plan, or why there is none (shared, so that a plan stays cheap to clone; shown as
    /// text with [`crate::error::error_text`]).
    pub result: Result<InstancePlan<A>, std::sync::Arc<crate::ops::InstanceError>>,
}

impl<A: ArtifactSlot> Plan<A> {
    /// Whether some instance could not be read or planned.
    pub fn has_errors(&self) -> bool {
        self.instances
            .iter()
            .any(|instance| instance.result.is_err())
    }

    /// Whether some instance has changes to make.
    pub fn has_changes(&self) -> bool {
        self.instances.iter().any(|instance| {
            instance
                .result
                .as_ref()
                .is_ok_and(|plan| !plan.changes.is_empty())
        })
    }

    /// Changes waiting for a restart that contradict the manifest, anywhere.
    pub fn has_conflicts(&self) -> bool {
        self.instances.iter().any(|instance| {
            instance.result.as_ref().is_ok_and(|plan| {
                plan.pending_restart
                    .iter()
                    .any(|pending| pending.conflict.is_some())
            })
        })
    }

    /// Changes waiting for a restart anywhere.
    pub fn has_pending_restarts(&self) -> bool {
        self.instances.iter().any(|instance| {
            instance
                .result
                .as_ref()
                .is_ok_and(|plan| !plan.pending_restart.is_empty())
        })
    }

    /// Changes or reported unmanaged apps anywhere: what `drift` calls drift.
    pub fn has_drift(&self) -> bool {
        self.instances
            .iter()
            .any(|instance| instance.result.as_ref().is_ok_and(|plan| !plan.in_sync()))
    }
}

/// Why an instance cannot be planned: the manifest asks for something that must not be done.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("`{key}` is a system app (bundled with the product, `userInstalled: false`): upmsync never changes system apps")]
    SystemApp { key: AppKey },
    #[error(
        "`{key}` must be absent, but UPM says it cannot be uninstalled (`uninstallable: false`)"
    )]
    NotUninstallable { key: AppKey },
    #[error("`{key}` does not use licensing (UPM would answer 412), but the manifest manages its license")]
    NotUsingLicensing { key: AppKey },
    /// The version to install does not support the instance's build (marketplace-api.md §5);
    /// `reason` names the ranges, `hint` the way out.
    #[error("{reason}")]
    Incompatible {
        key: AppKey,
        reason: String,
        hint: String,
    },
    #[error("`{key}`: cannot check compatibility, the product build is unknown: {error}")]
    UnknownBuild {
        key: AppKey,
        error: crate::model::ProductInfoError,
    },
    /// The lock entry's artifact is not where the manifest says the app comes from
    /// ([`check_locked_location`]); `reason` says where each points and has the way out.
    #[error("`{key}`: {reason}")]
    LockMoved {
        key: AppKey,
        reason: LockLocationError,
    },
}

impl PlanError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::SystemApp { key } => Some(format!("remove `{key}` from the manifest")),
            Self::NotUninstallable { key } => Some(format!(
                "remove it by hand in the product, or drop `state: absent` for `{key}`"
            )),
            Self::NotUsingLicensing { key } => Some(format!("remove `license` from `{key}`")),
            Self::Incompatible { hint, .. } => Some(hint.clone()),
            Self::UnknownBuild { .. } => None,
            Self::LockMoved { reason, .. } => reason.hint(),
        }
    }
}

/// Why a lock entry's artifact is not where the manifest says the app comes from
/// ([`check_locked_location`]). Locations are held as shown (URLs redacted, paths in backticks).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockLocationError {
    /// The entry points elsewhere than the manifest's source.
    #[error("the lock file names {found} for this app, but the manifest says it comes from {wanted}; upmsync refuses it")]
    Moved {
        /// Where the entry points.
        found: String,
        /// Where the manifest says the app comes from.
        wanted: String,
    },
    /// A Marketplace app's entry names a URL on another host or port than the Marketplace.
    #[error("the lock file names {url} for a Marketplace app, which is not on the Marketplace ({marketplace}); upmsync refuses it")]
    OffMarketplace {
        /// The entry's URL.
        url: String,
        /// The manifest's Marketplace.
        marketplace: String,
    },
    /// A Marketplace app's entry names a plain `http` link of an `https` Marketplace.
    #[error(transparent)]
    Insecure(#[from] crate::marketplace::InsecureLink),
}

impl LockLocationError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Moved { .. } => {
                Some("run `upmsync lock --update` to lock what the manifest names".into())
            }
            Self::OffMarketplace { .. } => Some("run `upmsync lock --update` to lock the Marketplace's own artifacts, or use `source: {url: ...}` for an artifact from elsewhere".into()),
            Self::Insecure(error) => error.hint(),
        }
    }
}

/// What the facts carry for an artifact, with the delivery decision on it: an [`Artifact`] (a plan
/// to apply, the lock) reaches UPM as [`delivery`] decides; `()` (drift) has none to decide.
pub trait Delivered: crate::resolve::Carried {
    /// The same, reaching UPM the way the app's `install` and the artifact's pin call for.
    fn delivered(self, install: InstallMethod) -> Self;
}

impl Delivered for Artifact {
    fn delivered(self, install: InstallMethod) -> Self {
        let delivery = match self.location {
            // A file reaches UPM only by upload.
            Location::File(_) => Delivery::Upload,
            Location::Url(_) => delivery(install, Delivery::Uri, self.sha256.is_some()),
        };
        Artifact { delivery, ..self }
    }
}

impl Delivered for () {
    fn delivered(self, _: InstallMethod) -> Self {}
}

/// How a plan's artifacts are made from what resolution found: [`PlannedArtifact`] when the
/// plan is to be applied (from an [`Artifact`]), `()` for drift (from nothing).
pub trait Resolution: ArtifactSlot + Sized {
    /// What the facts carry for an artifact.
    type Carried: Delivered;

    /// The artifact of an install (`downgrade`: of a downgrade, which uninstalls first).
    fn install(artifact: &Self::Carried, downgrade: bool) -> Self;

    /// How a downgrade is undone from the installed version's artifact, if one was found.
    fn restore(artifact: Option<&Artifact>, method: InstallMethod) -> Restore<Self>;
}

impl Resolution for PlannedArtifact {
    type Carried = Artifact;

    fn install(artifact: &Artifact, downgrade: bool) -> Self {
        // A downgrade uninstalls first: both its versions must be in hand, verified, before that,
        // even when UPM will download them itself.
        Self::new(artifact.clone(), downgrade)
    }
    fn restore(artifact: Option<&Artifact>, method: InstallMethod) -> Restore<Self> {
        let Some(artifact) = artifact else {
            return Restore::Impossible;
        };
        let copy = |delivery| {
            Self::new(
                Artifact {
                    delivery,
                    ..artifact.clone()
                },
                true,
            )
        };
        match (method, &artifact.location) {
            (InstallMethod::Auto | InstallMethod::Uri, Location::Url(_)) => {
                Restore::ByUriThenUpload(copy(Delivery::Uri))
            }
            // `install: upload`, or a file UPM cannot download: the kept copy is uploaded.
            (InstallMethod::Upload, _) | (_, Location::File(_)) => {
                Restore::ByUpload(copy(Delivery::Upload))
            }
        }
    }
}

impl Resolution for () {
    type Carried = ();

    fn install(_: &(), _: bool) -> Self {}
    fn restore(artifact: Option<&Artifact>, method: InstallMethod) -> Restore<Self> {
        match (artifact, method) {
            (None, _) => Restore::Impossible,
            (Some(_), InstallMethod::Upload) => Restore::ByUpload(()),
            (Some(_), InstallMethod::Auto | InstallMethod::Uri) => Restore::ByUriThenUpload(()),
        }
    }
}

/// Whether `latest` or a constraint keeps the installed version rather than the `release` found
/// for it: it never downgrades an installed version that still fits it (newer than the newest
/// compatible one, e.g. installed by hand).
pub fn keeps_installed(spec: &VersionSpec, installed: Option<&Version>, release: &Version) -> bool {
    !matches!(spec, VersionSpec::Exact(_))
        && installed
            .is_some_and(|installed| installed.is_newer_than(release) && spec.matches(installed))
}

/// What the planner decided for one wanted app.
#[derive(Clone, Debug)]
enum Decided<R> {
    /// The installed version stays: the manifest names it exactly, or `latest` or a constraint
    /// keeps it ([`keeps_installed`]). Nothing is installed.
    Keep(Version),
    /// The app is to be at `release` (installed when the installed version differs); `restore`:
    /// the installed version's artifact, for a downgrade; `incompatible`: why the release does
    /// not fit the instance, when `allow_incompatible` lets it through.
    Take {
        release: Release<R>,
        restore: Option<Artifact>,
        incompatible: Option<String>,
    },
}

impl<R> Decided<R> {
    /// The version the app is to be at.
    fn version(&self) -> &Version {
        match self {
            Decided::Keep(version) => version,
            Decided::Take { release, .. } => &release.version,
        }
    }
}

/// What the manifest wants for one app, with the decision for a present one.
#[expect(
    clippy::large_enum_variant,
    reason = "one short-lived value per app of one plan, never stored in bulk"
)]
enum Wish<'a, R> {
    Absent,
    Present(&'a crate::model::PresentApp, Decided<R>),
}

/// Decides each wanted app's target from what resolution found, as the lock file records it:
/// the version (the lock's, the named one, or the Marketplace's answer unless
/// [`keeps_installed`]), whether a lock entry may be used, the compatibility gate for a version
/// to install, the delivery ([`delivery`]) and, for a downgrade, the installed version's artifact
/// to restore. A target without an artifact keeps the installed version. Pure; every error is
/// returned.
pub fn decide(
    desired: &DesiredInstance,
    live: &Live,
    facts: &Facts<'_, Artifact>,
) -> Result<Targets, Vec<PlanError>> {
    let decided = decide_all(desired, live, facts)?;
    Ok(decided
        .into_iter()
        .map(|(wanted, decided)| {
            let target = match decided {
                Decided::Keep(version) => Target {
                    version,
                    artifact: None,
                    compatibility: Vec::new(),
                    build_number: None,
                    restore: None,
                },
                Decided::Take {
                    release, restore, ..
                } => Target {
                    version: release.version,
                    artifact: Some(release.artifact),
                    compatibility: release.compatibility,
                    build_number: release.build_number,
                    restore,
                },
            };
            (wanted.app.key.clone(), target)
        })
        .collect())
}

/// Each wanted app with what was decided for it.
type Decisions<'f, 'a, R> = Vec<(&'f Wanted<'a, R>, Decided<R>)>;

/// [`decide_app`] for every wanted app, in key order; every error is returned.
fn decide_all<'f, 'a, R: Delivered>(
    desired: &DesiredInstance,
    live: &Live,
    facts: &'f Facts<'a, R>,
) -> Result<Decisions<'f, 'a, R>, Vec<PlanError>> {
    let mut decided = Vec::new();
    let mut errors = Vec::new();
    for wanted in facts.values() {
        let installed = live
            .apps
            .get(&wanted.app.key)
            .filter(|live_app| live_app.user_installed)
            .map(|live_app| &live_app.version);
        match decide_app(desired, wanted, installed, &live.product) {
            Ok(decision) => decided.push((wanted, decision)),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(decided)
    } else {
        Err(errors)
    }
}

fn decide_app<R: Delivered>(
    desired: &DesiredInstance,
    wanted: &Wanted<'_, R>,
    installed: Option<&Version>,
    product: &Result<ProductInfo, crate::model::ProductInfoError>,
) -> Result<Decided<R>, PlanError> {
    let key = &wanted.app.key;
    let present = wanted.present;
    let found = match &wanted.fact {
        Fact::Installed(version) => return Ok(Decided::Keep(version.clone())),
        Fact::Found(found) => found,
    };
    if let Some(from_lock) = &found.from_lock {
        check_locked_location(&present.source, from_lock).map_err(|reason| {
            PlanError::LockMoved {
                key: key.clone(),
                reason,
            }
        })?;
    }
    if found.queried && keeps_installed(&present.version, installed, &found.release.version) {
        if let Some(installed) = installed {
            return Ok(Decided::Keep(installed.clone()));
        }
    }
    let release = Release {
        artifact: found.release.artifact.clone().delivered(present.install),
        ..found.release.clone()
    };
    let mut incompatible = None;
    if installed != Some(&release.version) {
        let checked = check_compatible(
            desired,
            desired.hosting_of(present),
            key,
            &release,
            found.server_ranges.as_deref(),
            product,
        );
        match checked {
            Ok(()) => {}
            // Let through, but the plan says so: whoever reviews it sees the risk.
            Err(PlanError::Incompatible { reason, .. }) if present.allow_incompatible => {
                incompatible = Some(reason);
            }
            Err(error) if present.allow_incompatible => incompatible = Some(error.to_string()),
            Err(error) => return Err(error),
        }
    }
    let restore = installed
        .filter(|installed| installed.is_newer_than(&release.version))
        .and(found.installed_release.clone());
    Ok(Decided::Take {
        release,
        restore,
        incompatible,
    })
}

/// A lock entry's artifact must be where the manifest says the app comes from (a lock is a file
/// anyone with commit access can edit): a Marketplace app's on the Marketplace the manifest names
/// (its host and port, and `https` when the Marketplace is); a `source.url` app's at that very URL;
/// a `source.path` app's at that very file (`from_lock.same_file`, found when the facts were
/// gathered).
pub fn check_locked_location(
    source: &crate::model::Source,
    from_lock: &crate::resolve::FromLock,
) -> Result<(), LockLocationError> {
    use crate::model::Source;
    let marketplace = &from_lock.marketplace;
    let moved = |found: String, wanted: String| Err(LockLocationError::Moved { found, wanted });
    let url = match (source, &from_lock.location) {
        (Source::Marketplace, Location::Url(url)) => url,
        (Source::Url(wanted), Location::Url(url)) if wanted == url => return Ok(()),
        (Source::Path(_), Location::File(_)) if from_lock.same_file => return Ok(()),
        (Source::Url(wanted), location) => {
            return moved(location_text(location), redact_url(wanted))
        }
        (Source::Path(wanted), location) => {
            return moved(location_text(location), format!("`{}`", wanted.display()))
        }
        (Source::Marketplace, location) => {
            return moved(location_text(location), "the Marketplace".into())
        }
    };
    if url.host_str() != marketplace.host_str()
        || url.port_or_known_default() != marketplace.port_or_known_default()
    {
        return Err(LockLocationError::OffMarketplace {
            url: redact_url(url),
            marketplace: redact_url(marketplace),
        });
    }
    Ok(crate::marketplace::check_download_link(marketplace, url)?)
}

fn location_text(location: &Location) -> String {
    match location {
        Location::Url(url) => redact_url(url),
        Location::File(path) => format!("`{}`", path.display()),
    }
}

/// `install: auto` takes the source's natural delivery, except that a pinned sha256 is only a
/// guarantee when the verified bytes are what UPM installs: then upmsync uploads them (UPM's own
/// download by URI could get other bytes). `install: uri` keeps trusting UPM's download.
pub fn delivery(method: InstallMethod, natural: Delivery, pinned: bool) -> Delivery {
    match method {
        InstallMethod::Auto if pinned => Delivery::Upload,
        InstallMethod::Auto => natural,
        InstallMethod::Uri => Delivery::Uri,
        InstallMethod::Upload => Delivery::Upload,
    }
}

/// A version about to be installed must support the instance's build (marketplace-api.md §5) for
/// the app's `hosting`, unless the app says `allow_incompatible: true`. Apps without Marketplace
/// data (files, URLs) are not checked. `server_ranges` are the version's Server ranges when it was
/// looked up for Data Center: when they fit, the hint offers `hosting: server` (field reports:
/// apps that run on Data Center but are listed for Server only).
fn check_compatible<R>(
    instance: &DesiredInstance,
    hosting: crate::model::Hosting,
    key: &AppKey,
    target: &Release<R>,
    server_ranges: Option<&[crate::model::Compatibility]>,
    product: &Result<ProductInfo, crate::model::ProductInfoError>,
) -> Result<(), PlanError> {
    use crate::marketplace::is_compatible;
    if target.compatibility.is_empty() && target.build_number.is_none() {
        return Ok(());
    }
    let product = product.as_ref().map_err(|error| PlanError::UnknownBuild {
        key: key.clone(),
        error: error.clone(),
    })?;
    if is_compatible(&target.compatibility, product.build) {
        return Ok(());
    }
    let ranges = if target.compatibility.is_empty() {
        format!("no {} {} range at all", instance.product, hosting.as_str())
    } else {
        target
            .compatibility
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let hint = match server_ranges.filter(|ranges| is_compatible(ranges, product.build)) {
        Some(_) => format!(
            "the Marketplace lists {} as compatible with {} {} for Server: if the app runs on Data Center anyway, set `hosting: server` on the app to use its Server listing; or set `allow_incompatible: true` on the app, or choose a compatible version (`upmsync outdated` lists the newest)",
            target.version, instance.product, product.version
        ),
        None => "choose a compatible version (`upmsync outdated` lists the newest), or set `allow_incompatible: true` on the app".to_string(),
    };
    Err(PlanError::Incompatible {
        key: key.clone(),
        hint,
        reason: format!(
            "`{key}` {} is not compatible with {} {} (build {}) on `{}` ({}): the Marketplace lists {ranges}",
            target.version,
            instance.product,
            product.version,
            product.build,
            instance.name,
            hosting.as_str()
        ),
    })
}

/// Plans one instance from what was found for it: first [`decide`]s each app's target, then the
/// changes. Changes come in phases: uninstalls, then installs (downgrades, upgrades, new
/// apps), then license changes, then enable/disable. Within a phase they follow
/// [`DesiredInstance::install_order`] (manifest order, each app after the apps it `requires`),
/// except what removes: uninstalls of unmanaged apps come first, by key, then uninstalls of named
/// apps in reverse install order (dependents first); disables come before enables, also in reverse
/// install order. The plan's `product` is the live one, when it was read.
pub fn plan<A: Resolution>(
    desired: &DesiredInstance,
    live: &Live,
    facts: &Facts<'_, A::Carried>,
) -> Result<InstancePlan<A>, Vec<PlanError>> {
    let decided = decide_all(desired, live, facts)?;
    let mut changes: Vec<Change<A>> = Vec::new();
    let mut errors = Vec::new();
    let mut unmanaged = Vec::new();
    let mut pending_restart = Vec::new();

    // Every app the manifest names, by key: those wanted absent, and those wanted present with
    // what was decided for them (the facts hold every one of them).
    let mut wishes: Vec<(&crate::model::DesiredApp, Wish<'_, A::Carried>)> = desired
        .apps
        .values()
        .filter(|app| matches!(app.state, DesiredState::Absent))
        .map(|app| (app, Wish::Absent))
        .chain(
            decided
                .into_iter()
                .map(|(wanted, decision)| (wanted.app, Wish::Present(wanted.present, decision))),
        )
        .collect();
    wishes.sort_by(|(a, _), (b, _)| a.key.cmp(&b.key));
    for (app, wish) in wishes {
        let installed = live.apps.get(&app.key);
        let pending = live.pending_restart.get(&app.key).copied();
        if let Some(action) = pending {
            let conflict = restart_conflict(action, &wish, installed);
            let manage_running = action == RestartAction::Upgrade
                && conflict.is_none()
                && matches!(wish, Wish::Present(..));
            pending_restart.push(PendingRestart {
                key: app.key.clone(),
                name: installed.map(|live_app| live_app.name.clone()),
                action,
                conflict,
            });
            // Only an upgrade that waits for a restart leaves a running app whose license and
            // enabled state can be managed now; a pending install or removal, or one the manifest
            // contradicts, is left alone until the restart.
            if !manage_running {
                continue;
            }
        }
        if let Some(live_app) = installed.filter(|live_app| !live_app.user_installed) {
            errors.push(PlanError::SystemApp {
                key: live_app.key.clone(),
            });
            continue;
        }
        let (present, decided) = match wish {
            Wish::Absent => {
                match installed {
                    Some(live_app) if !live_app.uninstallable => {
                        errors.push(PlanError::NotUninstallable {
                            key: live_app.key.clone(),
                        });
                    }
                    Some(live_app) => changes.push(uninstall(live_app, UninstallReason::Absent)),
                    None => {}
                }
                continue;
            }
            Wish::Present(present, decided) => (present, decided),
        };
        let change = |op, incompatible| Change {
            key: app.key.clone(),
            name: installed.map(|live_app| live_app.name.clone()),
            op,
            incompatible,
            assumed: Assumed::of(installed),
        };
        // While an upgrade waits for a restart, the running version stays until then.
        let after = match (pending, installed) {
            (Some(_), Some(live_app)) => live_app.version.clone(),
            _ => decided.version().clone(),
        };
        let install = match decided {
            Decided::Keep(_) => None,
            Decided::Take {
                release,
                restore,
                incompatible,
            } => {
                let action = match installed {
                    // The version is settled at the restart; installing again would repeat it.
                    _ if pending.is_some() => None,
                    None => Some(Action::Install),
                    Some(live_app) if release.version.is_newer_than(&live_app.version) => {
                        Some(Action::Upgrade)
                    }
                    Some(live_app) if live_app.version.is_newer_than(&release.version) => {
                        Some(Action::Downgrade)
                    }
                    Some(_) => None,
                };
                action.map(|action| (action, release, restore, incompatible))
            }
        };
        let install_action = install.as_ref().map(|(action, ..)| *action);
        if let Some((action, release, restore, incompatible)) = install {
            let downgrade = action == Action::Downgrade;
            let artifact = A::install(&release.artifact, downgrade);
            let enabled = present.enabled;
            let to = release.version;
            changes.push(change(
                match installed {
                    None => Op::Install {
                        to,
                        enabled,
                        artifact,
                    },
                    Some(live_app) if downgrade => Op::Downgrade {
                        from: live_app.version.clone(),
                        to,
                        enabled,
                        artifact,
                        restore: A::restore(restore.as_ref(), present.install),
                    },
                    Some(live_app) => Op::Upgrade {
                        from: live_app.version.clone(),
                        to,
                        enabled,
                        artifact,
                    },
                },
                incompatible,
            ));
        }
        // The install step already leaves the app as the manifest wants it; the separate
        // change shows an admin that the enablement changes too (its PUT is then a no-op).
        if let Some(live_app) = installed {
            if live_app.enabled != present.enabled {
                let (from, to) = (live_app.version.clone(), after.clone());
                changes.push(change(
                    if present.enabled {
                        Op::Enable { from, to }
                    } else {
                        Op::Disable { from, to }
                    },
                    None,
                ));
            }
        }
        let current = match installed.map(|live_app| &live_app.license) {
            Some(LiveLicense::Present(hash)) => Some(hash.clone()),
            _ => None,
        };
        let version = after;
        let op = match (&present.license, current) {
            (DesiredLicense::Unmanaged, _) => None,
            (DesiredLicense::Present(license), Some(current)) if current == license.hash => None,
            (DesiredLicense::Present(license), from) => {
                if installed.is_some_and(|live_app| !live_app.uses_licensing)
                    && install_action.is_none()
                {
                    errors.push(PlanError::NotUsingLicensing {
                        key: app.key.clone(),
                    });
                    continue;
                }
                Some(Op::SetLicense {
                    version,
                    from,
                    to: license.clone(),
                })
            }
            (DesiredLicense::Absent, Some(from)) => Some(Op::RemoveLicense { version, from }),
            (DesiredLicense::Absent, None) => None,
        };
        if let Some(op) = op {
            changes.push(change(op, None));
        }
    }

    for live_app in live.apps.values() {
        if !live_app.user_installed
            || desired.apps.contains_key(&live_app.key)
            || live.pending_restart.contains_key(&live_app.key)
        {
            continue;
        }
        match desired.unmanaged {
            UnmanagedPolicy::Ignore => {}
            UnmanagedPolicy::Uninstall if live_app.uninstallable => {
                changes.push(uninstall(live_app, UninstallReason::NotInManifest))
            }
            // UPM refuses to uninstall it (403 not.uninstallable): like a system app, it is left
            // alone, and not reported, or drift would never clear.
            UnmanagedPolicy::Uninstall => {}
            UnmanagedPolicy::Report => unmanaged.push(UnmanagedApp {
                key: live_app.key.clone(),
                name: live_app.name.clone(),
                version: live_app.version.clone(),
                enabled: live_app.enabled,
            }),
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let order: BTreeMap<AppKey, usize> = desired
        .install_order()
        .into_iter()
        .enumerate()
        .map(|(index, key)| (key, index))
        .collect();
    // `sort_by_key` is stable: an app's install keeps coming before its disable.
    changes.sort_by_key(|change| {
        let action = change.action();
        let phase = phase(action);
        match order.get(&change.key) {
            // Unmanaged uninstalls: by key, before those of apps the manifest names.
            None => (phase, 0, 0, change.key.clone()),
            // Removals go dependents first: the reverse of the install order.
            // guess: field reports only say dependents are installed and enabled after what they
            // import; disabling and uninstalling them first is the mirror image of that.
            Some(index) if matches!(action, Action::Uninstall | Action::Disable) => {
                (phase, 1, usize::MAX - index, change.key.clone())
            }
            Some(index) => (phase, 2, *index, change.key.clone()),
        }
    });
    let blocked_by = blockers(live, &pending_restart);
    Ok(InstancePlan {
        name: desired.name.clone(),
        url: desired.url.clone(),
        product: live.product.clone().ok(),
        changes,
        unmanaged,
        pending_restart,
        blocked_by,
    })
}

/// What the live read knows will stop or hold up apply.
fn blockers(live: &Live, pending_restart: &[PendingRestart]) -> Vec<Blocker> {
    let mut blockers = Vec::new();
    if live.safe_mode {
        blockers.push(Blocker::SafeMode);
    }
    if live.task_running {
        blockers.push(Blocker::TaskRunning);
    }
    if pending_restart
        .iter()
        .any(|pending| pending.conflict.is_some())
    {
        blockers.push(Blocker::RestartConflict);
    }
    blockers
}

/// The order in which kinds of change run: removals free keys first; licenses follow installs so
/// a new app can be licensed; enablement last.
fn phase(action: Action) -> u8 {
    match action {
        Action::Uninstall => 0,
        Action::Downgrade | Action::Upgrade | Action::Install => 1,
        Action::LicenseRemove | Action::LicenseSet => 2,
        Action::Enable | Action::Disable => 3,
    }
}

fn uninstall<A>(live_app: &LiveApp, reason: UninstallReason) -> Change<A> {
    Change {
        key: live_app.key.clone(),
        name: Some(live_app.name.clone()),
        op: Op::Uninstall {
            from: live_app.version.clone(),
            reason,
        },
        incompatible: None,
        assumed: Assumed::of(Some(live_app)),
    }
}

/// Counts of changes by action, for summaries.
pub fn summary<A, L>(changes: &[Change<A, L>]) -> BTreeMap<Action, usize> {
    let mut counts = BTreeMap::new();
    for change in changes {
        *counts.entry(change.action()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
pub(crate) mod builders;
#[cfg(test)]
mod decisions;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Credentials, Delivery, DesiredApp, Hosting, InstallMethod, License, Location, PresentApp,
        Product, Secret, Source,
    };

    /// Plans without artifacts (as drift does): most rules do not depend on them.
    fn plan(
        desired: &DesiredInstance,
        live: &Live,
        targets: &Targets,
    ) -> Result<DriftPlan, Vec<PlanError>> {
        super::plan(desired, live, &facts(desired, live, targets))
    }

    /// What resolution would have found to make these targets (the lock's or named releases) for
    /// every app `desired` wants present: an app without a target is wanted at its exact version,
    /// nothing asked when it is installed (a made-up artifact otherwise, for a plan to apply).
    fn facts<'a, R: crate::resolve::Carried>(
        desired: &'a DesiredInstance,
        live: &Live,
        targets: &Targets,
    ) -> Facts<'a, R> {
        let release = |key: &AppKey, target: &Target| {
            let made_up = || Artifact {
                location: Location::Url(
                    Url::parse(&format!("http://m.test/{key}-{}.jar", target.version)).unwrap(),
                ),
                delivery: Delivery::Uri,
                sha256: None,
            };
            let artifact = match (&target.artifact, R::unasked()) {
                (Some(artifact), _) => R::carry(artifact.clone()),
                (None, Some(nothing)) => nothing,
                (None, None) => R::carry(made_up()),
            };
            Box::new(crate::resolve::Found {
                release: Release {
                    version: target.version.clone(),
                    artifact,
                    compatibility: target.compatibility.clone(),
                    build_number: target.build_number,
                },
                queried: false,
                server_ranges: None,
                installed_release: target.restore.clone(),
                from_lock: None,
            })
        };
        desired
            .apps
            .values()
            .filter_map(|app| {
                let DesiredState::Present(present) = &app.state else {
                    return None;
                };
                let installed = live.apps.get(&app.key).map(|live_app| &live_app.version);
                let fact = match (targets.get(&app.key), &present.version) {
                    (Some(target), _) => Fact::Found(release(&app.key, target)),
                    (None, VersionSpec::Exact(version)) if installed == Some(version) => {
                        Fact::Installed(version.clone())
                    }
                    (None, VersionSpec::Exact(version)) => Fact::Found(release(
                        &app.key,
                        &Target {
                            version: version.clone(),
                            artifact: None,
                            compatibility: Vec::new(),
                            build_number: None,
                            restore: None,
                        },
                    )),
                    (None, spec) => panic!("no target for `{}` {spec}", app.key),
                };
                Some((app.key.clone(), Wanted { app, present, fact }))
            })
            .collect()
    }

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn instance(unmanaged: UnmanagedPolicy) -> DesiredInstance {
        DesiredInstance {
            name: "jira".into(),
            url: Url::parse("http://jira.test/").unwrap(),
            product: Product::Jira,
            hosting: Hosting::Datacenter,
            transport: Default::default(),
            credentials: Credentials::Bearer {
                token: Secret::new("t"),
            },
            unmanaged,
            apps: BTreeMap::new(),
        }
    }

    fn want(
        instance: &mut DesiredInstance,
        key: &str,
        version: &str,
        enabled: bool,
        license: DesiredLicense,
    ) {
        let position = instance.apps.len();
        instance.apps.insert(
            AppKey::new(key),
            DesiredApp {
                key: AppKey::new(key),
                state: DesiredState::Present(PresentApp {
                    version: VersionSpec::Exact(v(version)),
                    enabled,
                    license,
                    source: Source::Marketplace,
                    install: InstallMethod::Auto,
                    sha256: None,
                    allow_incompatible: false,
                    hosting: None,
                }),
                position,
                requires: Vec::new(),
            },
        );
    }

    fn want_absent(instance: &mut DesiredInstance, key: &str) {
        let position = instance.apps.len();
        instance.apps.insert(
            AppKey::new(key),
            DesiredApp {
                key: AppKey::new(key),
                state: DesiredState::Absent,
                position,
                requires: Vec::new(),
            },
        );
    }

    fn require(instance: &mut DesiredInstance, key: &str, required: &[&str]) {
        let app = instance.apps.get_mut(&AppKey::new(key)).unwrap();
        app.requires = required.iter().map(|key| AppKey::new(*key)).collect();
    }

    fn live_app(key: &str, version: &str) -> LiveApp {
        LiveApp {
            key: AppKey::new(key),
            name: format!("{key} name"),
            version: v(version),
            enabled: true,
            user_installed: true,
            uninstallable: true,
            uses_licensing: true,
            license: LiveLicense::NotRead,
            restart: None,
        }
    }

    fn live(apps: Vec<LiveApp>) -> Live {
        Live {
            apps: apps.into_iter().map(|app| (app.key.clone(), app)).collect(),
            ..Live::default()
        }
    }

    fn license(text: &str) -> DesiredLicense {
        DesiredLicense::Present(License::new(Secret::new(text), "env L"))
    }

    fn actions<A: ArtifactSlot>(plan: &InstancePlan<A>) -> Vec<(String, Action)> {
        plan.changes
            .iter()
            .map(|change| (change.key.to_string(), change.action()))
            .collect()
    }

    #[test]
    fn unchanged_state_plans_nothing() {
        let mut desired = instance(UnmanagedPolicy::Report);
        want(&mut desired, "a", "1.0", true, license("LIC"));
        let mut app = live_app("a", "1.0.0");
        app.license = LiveLicense::Present(LicenseHash::of("LIC"));
        let plan = plan(&desired, &live(vec![app]), &Targets::new()).unwrap();
        assert!(plan.in_sync(), "{plan:?}");
    }

    #[test]
    fn versions_decide_install_upgrade_and_downgrade() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        want(&mut desired, "new", "1.0", true, DesiredLicense::Unmanaged);
        want(&mut desired, "up", "2.0", true, DesiredLicense::Unmanaged);
        want(
            &mut desired,
            "down",
            "1.0.0-beta",
            true,
            DesiredLicense::Unmanaged,
        );
        let artifact = Artifact {
            location: Location::Url(Url::parse("http://m/new.jar").unwrap()),
            delivery: Delivery::Uri,
            sha256: None,
        };
        let artifacts: Targets = [(
            AppKey::new("new"),
            Target {
                version: v("1.0"),
                artifact: Some(artifact.clone()),
                compatibility: vec![],
                build_number: None,
                restore: None,
            },
        )]
        .into();
        let plan = plan(
            &desired,
            &live(vec![live_app("up", "1.9"), live_app("down", "1.0.0")]),
            &artifacts,
        )
        .unwrap();
        assert_eq!(
            actions(&plan),
            vec![
                ("new".into(), Action::Install),
                ("up".into(), Action::Upgrade),
                ("down".into(), Action::Downgrade)
            ],
            "manifest order"
        );
        let Op::Downgrade {
            from, to, restore, ..
        } = &plan.changes[2].op
        else {
            panic!("{plan:?}")
        };
        assert_eq!((from, to), (&v("1.0.0"), &v("1.0.0-beta")));
        assert_eq!(restore, &Restore::Impossible, "no restore artifact");
        assert!(downgrade_warning(restore).contains("may not survive"));
        assert!(
            downgrade_warning(restore).contains("cannot be restored"),
            "no restore artifact is said"
        );
        assert_eq!(plan.changes[0].op.from_version(), None);
    }

    #[test]
    fn enablement_is_part_of_an_install_and_separate_otherwise() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        want(
            &mut desired,
            "fresh",
            "1.0",
            false,
            DesiredLicense::Unmanaged,
        );
        want(
            &mut desired,
            "stay",
            "1.0",
            false,
            DesiredLicense::Unmanaged,
        );
        let mut disabled = live_app("other", "1.0");
        disabled.enabled = false;
        want(
            &mut desired,
            "other",
            "1.0",
            true,
            DesiredLicense::Unmanaged,
        );
        let plan = plan(
            &desired,
            &live(vec![live_app("stay", "1.0"), disabled]),
            &Targets::new(),
        )
        .unwrap();
        assert_eq!(
            actions(&plan),
            vec![
                ("fresh".into(), Action::Install),
                ("stay".into(), Action::Disable),
                ("other".into(), Action::Enable)
            ],
            "disables before enables"
        );
        assert!(
            matches!(
                plan.changes[0].op,
                Op::Install { enabled: false, .. } | Op::Upgrade { enabled: false, .. }
            ),
            "{plan:?}"
        );
    }

    #[test]
    fn an_upgrade_that_also_disables_shows_both() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        want(&mut desired, "app", "2.0", false, DesiredLicense::Unmanaged);
        let plan = plan(
            &desired,
            &live(vec![live_app("app", "1.0")]),
            &Targets::new(),
        )
        .unwrap();
        assert_eq!(
            actions(&plan),
            vec![
                ("app".into(), Action::Upgrade),
                ("app".into(), Action::Disable)
            ]
        );
        assert!(
            matches!(
                plan.changes[0].op,
                Op::Install { enabled: false, .. } | Op::Upgrade { enabled: false, .. }
            ),
            "{plan:?}"
        );
    }

    #[test]
    fn licenses_are_compared_by_hash() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        want(&mut desired, "set", "1.0", true, license("NEW"));
        want(&mut desired, "remove", "1.0", true, DesiredLicense::Absent);
        want(&mut desired, "fresh", "1.0", true, license("NEW"));
        let mut set = live_app("set", "1.0");
        set.license = LiveLicense::Present(LicenseHash::of("OLD"));
        let mut remove = live_app("remove", "1.0");
        remove.license = LiveLicense::Present(LicenseHash::of("OLD"));
        let plan = plan(&desired, &live(vec![set, remove]), &Targets::new()).unwrap();
        assert_eq!(
            actions(&plan),
            vec![
                ("fresh".into(), Action::Install),
                ("set".into(), Action::LicenseSet),
                ("remove".into(), Action::LicenseRemove),
                ("fresh".into(), Action::LicenseSet),
            ]
        );
        let set = &plan.changes[1];
        assert_eq!(
            set.op.license_change(),
            Some(LicenseChange {
                from: Some(LicenseHash::of("OLD")),
                to: Some(LicenseHash::of("NEW"))
            })
        );
        let shown = serde_json::to_string(&plan).unwrap();
        assert!(!shown.contains("NEW\"") && !shown.contains("OLD\""));
    }

    #[test]
    fn system_apps_are_errors_and_never_planned() {
        let mut desired = instance(UnmanagedPolicy::Uninstall);
        want(&mut desired, "sys", "2.0", true, DesiredLicense::Unmanaged);
        want_absent(&mut desired, "sys2");
        let mut sys = live_app("sys", "1.0");
        sys.user_installed = false;
        let mut sys2 = live_app("sys2", "1.0");
        sys2.user_installed = false;
        let mut untouched = live_app("bundled", "1.0");
        untouched.user_installed = false;
        let errors =
            plan(&desired, &live(vec![sys, sys2, untouched]), &Targets::new()).unwrap_err();
        assert_eq!(
            errors,
            vec![
                PlanError::SystemApp {
                    key: AppKey::new("sys")
                },
                PlanError::SystemApp {
                    key: AppKey::new("sys2")
                }
            ]
        );
    }

    #[test]
    fn unmanaged_policy_decides_extra_apps() {
        let extra = || live(vec![live_app("extra", "1.0")]);
        assert!(plan(
            &instance(UnmanagedPolicy::Ignore),
            &extra(),
            &Targets::new()
        )
        .unwrap()
        .in_sync());
        let report = plan(
            &instance(UnmanagedPolicy::Report),
            &extra(),
            &Targets::new(),
        )
        .unwrap();
        assert!(report.changes.is_empty());
        assert_eq!(report.unmanaged[0].key, AppKey::new("extra"));
        let removal = plan(
            &instance(UnmanagedPolicy::Uninstall),
            &extra(),
            &Targets::new(),
        )
        .unwrap();
        assert_eq!(actions(&removal), vec![("extra".into(), Action::Uninstall)]);
    }

    #[test]
    fn absent_apps_are_uninstalled_only_when_present() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        want_absent(&mut desired, "gone");
        want_absent(&mut desired, "never");
        let plan = plan(
            &desired,
            &live(vec![live_app("gone", "3.1")]),
            &Targets::new(),
        )
        .unwrap();
        assert_eq!(actions(&plan), vec![("gone".into(), Action::Uninstall)]);
        assert_eq!(
            (
                plan.changes[0].op.from_version(),
                plan.changes[0].op.to_version()
            ),
            (Some(&v("3.1")), None)
        );
    }

    #[test]
    fn license_on_an_app_without_licensing_is_an_error() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        want(&mut desired, "free", "1.0", true, license("X"));
        let mut free = live_app("free", "1.0");
        free.uses_licensing = false;
        free.license = LiveLicense::None;
        let errors = plan(&desired, &live(vec![free]), &Targets::new()).unwrap_err();
        assert_eq!(
            errors,
            vec![PlanError::NotUsingLicensing {
                key: AppKey::new("free")
            }]
        );
    }

    #[test]
    fn apps_that_cannot_be_uninstalled() {
        let mut stuck = live_app("stuck", "1.0");
        stuck.uninstallable = false;
        let mut desired = instance(UnmanagedPolicy::Ignore);
        want_absent(&mut desired, "stuck");
        let errors = plan(&desired, &live(vec![stuck.clone()]), &Targets::new()).unwrap_err();
        assert_eq!(
            errors,
            vec![PlanError::NotUninstallable {
                key: AppKey::new("stuck")
            }]
        );
        let removal = plan(
            &instance(UnmanagedPolicy::Uninstall),
            &live(vec![stuck]),
            &Targets::new(),
        )
        .unwrap();
        assert!(
            removal.in_sync(),
            "left alone and not reported: {removal:?}"
        );
    }

    #[test]
    fn targets_decide_the_version_of_latest_and_constraints() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        want(&mut desired, "app", "1.0", true, DesiredLicense::Unmanaged);
        if let DesiredState::Present(present) =
            &mut desired.apps.get_mut(&AppKey::new("app")).unwrap().state
        {
            present.version = VersionSpec::Latest;
        }
        let live = live(vec![live_app("app", "1.0")]);
        let targets: Targets = [(
            AppKey::new("app"),
            Target {
                version: v("1.5"),
                artifact: None,
                compatibility: vec![],
                build_number: None,
                restore: None,
            },
        )]
        .into();
        let plan = plan(&desired, &live, &targets).unwrap();
        assert_eq!(actions(&plan), vec![("app".into(), Action::Upgrade)]);
        assert_eq!(plan.changes[0].op.to_version(), Some(&v("1.5")));
    }

    #[test]
    fn every_phase_follows_manifest_order_not_keys() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        for key in ["zeta", "alpha", "mu"] {
            want(&mut desired, key, "2.0", true, license("NEW"));
        }
        let mut installed = Vec::new();
        for key in ["zeta", "alpha", "mu"] {
            let mut app = live_app(key, "1.0");
            app.enabled = false;
            installed.push(app);
        }
        let plan = plan(&desired, &live(installed), &Targets::new()).unwrap();
        assert_eq!(
            actions(&plan),
            vec![
                ("zeta".into(), Action::Upgrade),
                ("alpha".into(), Action::Upgrade),
                ("mu".into(), Action::Upgrade),
                ("zeta".into(), Action::LicenseSet),
                ("alpha".into(), Action::LicenseSet),
                ("mu".into(), Action::LicenseSet),
                ("zeta".into(), Action::Enable),
                ("alpha".into(), Action::Enable),
                ("mu".into(), Action::Enable),
            ]
        );
    }

    #[test]
    fn requires_orders_across_the_list() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        want(
            &mut desired,
            "addon",
            "1.0",
            true,
            DesiredLicense::Unmanaged,
        );
        want(
            &mut desired,
            "other",
            "1.0",
            true,
            DesiredLicense::Unmanaged,
        );
        want(&mut desired, "base", "1.0", true, DesiredLicense::Unmanaged);
        require(&mut desired, "addon", &["base"]);
        assert_eq!(
            desired.install_order(),
            vec![
                AppKey::new("other"),
                AppKey::new("base"),
                AppKey::new("addon")
            ],
            "`addon` waits for `base`; `other` keeps its place before `base`"
        );
        let plan = plan(&desired, &live(vec![]), &Targets::new()).unwrap();
        assert_eq!(
            actions(&plan),
            vec![
                ("other".into(), Action::Install),
                ("base".into(), Action::Install),
                ("addon".into(), Action::Install),
            ]
        );
    }

    #[test]
    fn manifest_order_breaks_ties_between_apps_that_are_ready() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        for key in ["second", "first", "core", "third"] {
            want(&mut desired, key, "1.0", true, DesiredLicense::Unmanaged);
        }
        require(&mut desired, "second", &["core"]);
        require(&mut desired, "first", &["core"]);
        require(&mut desired, "third", &["first", "core"]);
        let order: Vec<String> = desired
            .install_order()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(order, vec!["core", "second", "first", "third"]);
        // A chain written backwards comes out forwards.
        let mut chain = instance(UnmanagedPolicy::Ignore);
        for key in ["c", "b", "a"] {
            want(&mut chain, key, "1.0", true, DesiredLicense::Unmanaged);
        }
        require(&mut chain, "c", &["b"]);
        require(&mut chain, "b", &["a"]);
        let order: Vec<String> = chain
            .install_order()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(order, vec!["a", "b", "c"]);
    }

    #[test]
    fn install_order_survives_what_the_loader_refuses() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        for key in ["x", "y", "z"] {
            want(&mut desired, key, "1.0", true, DesiredLicense::Unmanaged);
        }
        require(&mut desired, "x", &["y", "missing", "x"]);
        require(&mut desired, "y", &["x"]);
        let order: Vec<String> = desired
            .install_order()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            order,
            vec!["z", "x", "y"],
            "the cycle follows, in manifest order"
        );
    }

    #[test]
    fn uninstalls_unmanaged_by_key_then_dependents_first() {
        let mut desired = instance(UnmanagedPolicy::Uninstall);
        want_absent(&mut desired, "base");
        want_absent(&mut desired, "plugin");
        want_absent(&mut desired, "library");
        want_absent(&mut desired, "extension");
        // `library` requires `extension` (written after it): `library` goes first.
        require(&mut desired, "library", &["extension"]);
        let installed = [
            "base",
            "plugin",
            "library",
            "extension",
            "zz-extra",
            "aa-extra",
        ]
        .into_iter()
        .map(|key| live_app(key, "1.0"))
        .collect();
        let plan = plan(&desired, &live(installed), &Targets::new()).unwrap();
        assert_eq!(
            actions(&plan),
            vec![
                ("aa-extra".into(), Action::Uninstall),
                ("zz-extra".into(), Action::Uninstall),
                ("library".into(), Action::Uninstall),
                ("extension".into(), Action::Uninstall),
                ("plugin".into(), Action::Uninstall),
                ("base".into(), Action::Uninstall),
            ]
        );
    }

    #[test]
    fn disables_go_dependents_first_and_enables_after_their_requirements() {
        let mut desired = instance(UnmanagedPolicy::Ignore);
        want(
            &mut desired,
            "addon",
            "1.0",
            false,
            DesiredLicense::Unmanaged,
        );
        want(
            &mut desired,
            "base",
            "1.0",
            false,
            DesiredLicense::Unmanaged,
        );
        want(
            &mut desired,
            "plugin",
            "1.0",
            true,
            DesiredLicense::Unmanaged,
        );
        want(&mut desired, "core", "1.0", true, DesiredLicense::Unmanaged);
        require(&mut desired, "addon", &["base"]);
        require(&mut desired, "plugin", &["core"]);
        let mut installed: Vec<LiveApp> = ["addon", "base"]
            .into_iter()
            .map(|key| live_app(key, "1.0"))
            .collect();
        for key in ["plugin", "core"] {
            let mut app = live_app(key, "1.0");
            app.enabled = false;
            installed.push(app);
        }
        let plan = plan(&desired, &live(installed), &Targets::new()).unwrap();
        assert_eq!(
            actions(&plan),
            vec![
                ("addon".into(), Action::Disable),
                ("base".into(), Action::Disable),
                ("core".into(), Action::Enable),
                ("plugin".into(), Action::Enable),
            ]
        );
    }

    /// The JSON output contract (`format_version: 1`) for a plan with every kind of change: written
    /// before the plan became typed by operation, and kept byte for byte since.
    #[test]
    fn a_rich_plan_keeps_its_json_and_text() {
        let mut desired = instance(UnmanagedPolicy::Uninstall);
        want(&mut desired, "new", "1.0", true, license("NEW"));
        want(&mut desired, "up", "2.0", false, DesiredLicense::Unmanaged);
        want(&mut desired, "down", "1.0", true, DesiredLicense::Unmanaged);
        want(&mut desired, "lost", "1.0", true, DesiredLicense::Unmanaged);
        want_absent(&mut desired, "gone");
        want(&mut desired, "en", "1.0", true, DesiredLicense::Unmanaged);
        want(&mut desired, "lic", "1.0", true, license("NEW"));
        want(&mut desired, "unlic", "1.0", true, DesiredLicense::Absent);
        want(&mut desired, "pend", "3.0", true, DesiredLicense::Unmanaged);
        let url = |path: &str| Artifact {
            location: Location::Url(Url::parse(&format!("http://m.test/{path}?token=x")).unwrap()),
            delivery: Delivery::Uri,
            sha256: None,
        };
        let target = |version: &str, artifact: Artifact, restore: Option<Artifact>| Target {
            version: v(version),
            artifact: Some(artifact),
            compatibility: vec![],
            build_number: None,
            restore,
        };
        let pinned = Artifact {
            location: Location::File("/jars/up-2.0.jar".into()),
            delivery: Delivery::Upload,
            sha256: crate::model::Sha256::parse(&"ab".repeat(32)),
        };
        let targets: Targets = [
            (AppKey::new("new"), target("1.0", url("new-1.0.jar"), None)),
            (AppKey::new("up"), target("2.0", pinned, None)),
            (
                AppKey::new("down"),
                target("1.0", url("down-1.0.jar"), Some(url("down-2.0.jar"))),
            ),
            (
                AppKey::new("lost"),
                target("1.0", url("lost-1.0.jar"), None),
            ),
        ]
        .into();
        let mut en = live_app("en", "1.0");
        en.enabled = false;
        let mut lic = live_app("lic", "1.0");
        lic.license = LiveLicense::Present(LicenseHash::of("OLD"));
        let mut unlic = live_app("unlic", "1.0");
        unlic.license = LiveLicense::Present(LicenseHash::of("OLD"));
        let mut live = live(vec![
            live_app("up", "1.0"),
            live_app("down", "2.0"),
            live_app("lost", "2.0"),
            live_app("gone", "1.0"),
            en,
            lic,
            unlic,
            live_app("pend", "2.0"),
            live_app("extra", "1.0"),
        ]);
        live.pending_restart
            .insert(AppKey::new("pend"), RestartAction::Upgrade);
        let product = ProductInfo {
            version: "9.12.0".into(),
            build: 912000,
            base_url: None,
        };
        live.product = Ok(product.clone());
        let planned =
            super::plan::<PlannedArtifact>(&desired, &live, &facts(&desired, &live, &targets))
                .unwrap();
        assert_eq!(
            planned.product,
            Some(product),
            "the live product, not patched in later"
        );
        let all = Plan {
            instances: vec![PlannedInstance {
                name: planned.name.clone(),
                url: planned.url.clone(),
                live: None,
                result: Ok(planned),
            }],
        };
        // A saved plan holds the same changes without a license, reads back typed, and a plan
        // saved before `fetch_first` was added still matches.
        let saved = crate::saved::saved_changes(all.instances[0].result.as_ref().unwrap());
        let written = serde_json::to_string(&saved).unwrap();
        assert!(
            !written.contains("NEW") && !written.contains("token=x"),
            "{written}"
        );
        let read: Vec<crate::saved::SavedChange> = serde_json::from_str(&written).unwrap();
        assert!(crate::saved::same_changes(&saved, &read));
        let old = written
            .replace(",\"fetch_first\":true", "")
            .replace(",\"fallback\":\"upload\"", "");
        assert_ne!(old, written);
        let old: Vec<crate::saved::SavedChange> = serde_json::from_str(&old).unwrap();
        assert!(crate::saved::same_changes(&saved, &old));
        let json = crate::render::plan_json(&all);
        assert!(!json.contains("NEW") && !json.contains("token=x"), "{json}");
        // Compatible additions since the contract was pinned are checked here, then removed.
        let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
        // (the text itself is compared below, in its own field order)
        let changes = value["instances"][0]["changes"].as_array_mut().unwrap();
        let fetched_first: Vec<String> = changes
            .iter_mut()
            .flat_map(|change| {
                let key = change["key"].as_str().unwrap_or_default().to_string();
                ["artifact", "restore"]
                    .into_iter()
                    .filter_map(move |field| {
                        let object = change.get_mut(field)?.as_object_mut()?;
                        let fallback = object.remove("fallback");
                        (object.remove("fetch_first")? == serde_json::json!(true)).then(|| {
                            match fallback {
                                Some(fallback) => format!("{key} {field}, fallback {fallback}"),
                                None => format!("{key} {field}"),
                            }
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            fetched_first,
            [
                "up artifact",
                "down artifact",
                "down restore, fallback \"upload\"",
                "lost artifact"
            ],
            "uploads, pinned artifacts and both versions of a downgrade are fetched first"
        );
        let mut lines: Vec<String> = Vec::new();
        for line in json.lines() {
            let field = line.trim().trim_end_matches(',');
            if ["\"fetch_first\": true", "\"fallback\": \"upload\""].contains(&field) {
                // The last field of its object: the one before it loses its comma.
                if !line.ends_with(',') {
                    if let Some(previous) = lines.last_mut() {
                        previous.pop();
                    }
                }
                continue;
            }
            lines.push(line.to_string());
        }
        let pinned = lines.join("\n") + "\n";
        insta::assert_snapshot!("rich_plan_json", pinned);
        insta::assert_snapshot!("rich_plan_text", crate::render::plan_text(&all));
        let drift = super::plan::<()>(&desired, &live, &facts(&desired, &live, &targets)).unwrap();
        let drift = Plan {
            instances: vec![PlannedInstance {
                name: drift.name.clone(),
                url: drift.url.clone(),
                live: None,
                result: Ok(drift),
            }],
        };
        insta::assert_snapshot!("rich_drift_text", crate::render::drift_text(&drift));
    }
}
