//! Resolution gathers the facts the planner decides from, concurrently: for each wanted app (exact
//! version, `latest`, or a constraint) the release its version means ([`Found`]: version, artifact,
//! compatibility), from the lock file when there is one, else from the source or the Marketplace
//! (through [`crate::marketplace`], the only code that asks it); and, where a downgrade may need it,
//! the installed version's artifact. It decides nothing: the target version, the compatibility
//! gate, the delivery, the restore and whether a lock entry may be used are chosen by
//! [`crate::plan::plan`]. Every failure is reported, not only the first.

use std::path::Path;

use futures::stream::{self, StreamExt};

use crate::lock::LockedInstance;
use crate::marketplace::{self, Criteria, MarketplaceClient, ResolvedVersion};
use crate::model::{
    AppKey, Artifact, Compatibility, Delivery, DesiredApp, DesiredInstance, DesiredState, Hosting,
    Live, Location, PresentApp, ProductInfo, Source, Version,
};

/// What the facts carry for an artifact: the [`Artifact`] itself when resolving for a plan to
/// apply or for the lock, `()` for drift, which asks only what versions mean.
pub trait Carried: Clone + std::fmt::Debug + PartialEq + Send + Sync {
    /// The form of `artifact` the facts keep.
    fn carry(artifact: Artifact) -> Self;

    /// The value for a release the manifest names exactly, asked nothing about: `Some` only when
    /// the facts carry no artifact (drift), so an exact version needs no question.
    fn unasked() -> Option<Self>;
}

impl Carried for Artifact {
    fn carry(artifact: Artifact) -> Self {
        artifact
    }

    fn unasked() -> Option<Self> {
        None
    }
}

impl Carried for () {
    fn carry(_: Artifact) -> Self {}

    fn unasked() -> Option<Self> {
        Some(())
    }
}

/// A release of an app: its version, its artifact (`R`: see [`Carried`]) and what it supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release<R = Artifact> {
    pub version: Version,
    pub artifact: R,
    /// The product builds this version supports, when known (Marketplace or lock).
    pub compatibility: Vec<Compatibility>,
    /// The Marketplace's build number of this app version, when known.
    pub build_number: Option<u64>,
}

/// Why the version of one wanted app could not be resolved: the app, and what failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve `{key}`")]
pub struct ResolveError {
    /// The app.
    pub key: AppKey,
    /// What failed.
    #[source]
    pub cause: ResolveCause,
}

impl ResolveError {
    /// One line per app as a list shows it: `` `key`: `` and the cause with its own causes
    /// ([`crate::error::causes_text`]; the hints are the list's).
    pub fn line(&self) -> String {
        format!("`{}`: {}", self.key, crate::error::causes_text(&self.cause))
    }
}

/// What failed while resolving one app's version.
#[derive(Debug, thiserror::Error)]
pub enum ResolveCause {
    /// The version is `latest` or a constraint, which only the Marketplace can answer, and the
    /// facts are gathered without asking it (drift with exact versions only).
    #[error("version `{version}` needs the Marketplace")]
    NotAsked {
        /// The manifest's version.
        version: VersionSpec,
    },
    /// The version is `latest` or a constraint, but the app comes from a file or URL.
    #[error("version `{version}` needs the Marketplace to mean anything, but the app's source is a file or URL")]
    NotOnMarketplace {
        /// The manifest's version.
        version: VersionSpec,
    },
    /// The lock file's entry cannot be used.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockEntryError),
    /// The Marketplace failed or has no such version.
    #[error(transparent)]
    Marketplace(#[from] marketplace::MarketplaceError),
    /// The Marketplace handed out a download link upmsync refuses.
    #[error(transparent)]
    InsecureLink(#[from] marketplace::InsecureLink),
    /// With `allow_incompatible`, no version of the hosting matches.
    #[error("app `{key}` has no version matching `{version}` for {hosting} on the Marketplace (compatible or not)", hosting = hosting.as_str())]
    NoMatch {
        /// The app.
        key: AppKey,
        /// The manifest's version.
        version: VersionSpec,
        /// The hosting looked up.
        hosting: Hosting,
    },
    /// A `latest` or constraint needs the product build, which could not be read.
    #[error("version `{version}` depends on the instance's product build, which could not be read: {product}")]
    UnknownBuild {
        /// The manifest's version.
        version: VersionSpec,
        /// Why the build is unknown.
        product: crate::model::ProductInfoError,
    },
}

impl ResolveCause {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NotOnMarketplace { .. } => Some("give an exact version".into()),
            Self::NoMatch { .. } => Some("check the app's version history, or loosen the version in the manifest".into()),
            Self::UnknownBuild { .. } => Some("give an exact version, or make the product version endpoints readable (a proxy blocking `/rest/api` or `/rest/applinks`?)".into()),
            // Transparent: their own types' hints (the chain walk skips a transparent layer).
            Self::Lock(error) => error.hint(),
            Self::Marketplace(error) => error.hint(),
            Self::InsecureLink(error) => error.hint(),
            Self::NotAsked { .. } => None,
        }
    }
}

/// What resolution found for one app, before any decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found<R = Artifact> {
    /// The release the manifest's version means: from the lock, the app's source, or the
    /// Marketplace for the app's hosting (for drift, an exact version as named).
    pub release: Release<R>,
    /// The release was chosen by a Marketplace query (`latest`, a constraint), not named by the
    /// manifest or the lock: then an installed version newer than it and still matching is kept.
    pub queried: bool,
    /// For a Marketplace app looked up for Data Center: the Server compatibility of the same
    /// version (to say when `hosting: server` would fit).
    pub server_ranges: Option<Vec<Compatibility>>,
    /// The installed version's artifact on the Marketplace (by URI), looked up when the release is
    /// older than the installed version: a downgrade would need it to restore.
    pub installed_release: Option<Artifact>,
    /// The release is the lock file's entry: the planner checks that it stays where the manifest
    /// says the app comes from ([`crate::plan::check_locked_location`]).
    pub from_lock: Option<FromLock>,
}

/// What was found for one wanted app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact<R = Artifact> {
    /// The manifest names exactly this version, and it is installed: nothing was asked, and
    /// nothing is to be installed.
    Installed(Version),
    /// The release the manifest's version means.
    Found(Box<Found<R>>),
}

/// One app the manifest wants present, with what was found for it.
#[derive(Clone, Debug)]
pub struct Wanted<'a, R = Artifact> {
    pub app: &'a DesiredApp,
    pub present: &'a PresentApp,
    pub fact: Fact<R>,
}

/// What was found for one instance: an entry for every app its manifest wants present, by key
/// (made by [`resolve`] or [`named`]), so the planner meets no app it knows nothing of.
pub type Facts<'a, R = Artifact> = std::collections::BTreeMap<AppKey, Wanted<'a, R>>;

/// The facts for drift without asking anything, when every wanted version is exact: each as
/// named. The versions that need the Marketplace (`latest`, constraints) are returned instead.
pub fn named(instance: &DesiredInstance) -> Result<Facts<'_, ()>, Vec<ResolveError>> {
    let mut facts = Facts::new();
    let mut errors = Vec::new();
    for app in instance.apps.values() {
        let DesiredState::Present(present) = &app.state else {
            continue;
        };
        match &present.version {
            VersionSpec::Exact(version) => {
                facts.insert(
                    app.key.clone(),
                    Wanted {
                        app,
                        present,
                        fact: Fact::Found(Box::new(unasked_release(version, ()))),
                    },
                );
            }
            spec => errors.push(ResolveError {
                key: app.key.clone(),
                cause: ResolveCause::NotAsked {
                    version: spec.clone(),
                },
            }),
        }
    }
    if errors.is_empty() {
        Ok(facts)
    } else {
        Err(errors)
    }
}

/// An exact version as named, nothing asked.
fn unasked_release<R>(version: &Version, artifact: R) -> Found<R> {
    Found {
        release: Release {
            version: version.clone(),
            artifact,
            compatibility: Vec::new(),
            build_number: None,
        },
        queried: false,
        server_ranges: None,
        installed_release: None,
        from_lock: None,
    }
}

/// What the planner needs to check a lock entry's location, gathered with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FromLock {
    /// The Marketplace the manifest names (`marketplace.url`).
    pub marketplace: url::Url,
    /// Where the entry's artifact is.
    pub location: Location,
    /// For a `source.path` app whose entry names a file: that the entry's file is the manifest's
    /// (the same path, or the same file by another path).
    pub same_file: bool,
}

use crate::version::VersionSpec;

/// How much to resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Every app that must be installed gets its artifact (plan, apply, lock).
    Artifacts,
    /// Only what versions mean (`latest`, constraints), for drift: exact versions need no
    /// question because drift's facts carry no artifact ([`Carried::unasked`]); the installed
    /// version's artifact is never looked up.
    Versions,
    /// Everything, installed apps included, for the lock file.
    Lock,
}

/// Resolves every present app of an instance: one [`Wanted`] entry each, carrying `R` for an
/// artifact ([`Carried`]). With a lock, the Marketplace is asked only, for a
/// downgrade planned to be applied, where the installed version's artifact is (to restore it if the
/// install fails after the uninstall).
pub async fn resolve<'a, R: Carried>(
    instance: &'a DesiredInstance,
    live: &Live,
    marketplace: &MarketplaceClient,
    lock: Option<&LockedInstance>,
    base: &Path,
    depth: Depth,
) -> Result<Facts<'a, R>, Vec<ResolveError>> {
    let product = live.product.clone();
    let wanted: Vec<(&DesiredApp, &PresentApp)> = instance
        .apps
        .values()
        .filter_map(|app| match &app.state {
            DesiredState::Present(present) => Some((app, present)),
            DesiredState::Absent => None,
        })
        .collect();
    // As many apps at once as the Marketplace may be asked about (twice its cap on requests in
    // flight, so the next app is ready when a request ends; memory stays flat with thousands of
    // apps): the cap ([`crate::http::Limits`]) paces the requests, and the memo answers a
    // question asked before without one.
    let results: Vec<Result<(AppKey, Wanted<'a, R>), ResolveError>> = stream::iter(wanted)
        .map(|(app, present)| {
            let product = product.clone();
            let key = &app.key;
            async move {
                let installed = live
                    .apps
                    .get(key)
                    .filter(|app| app.user_installed)
                    .map(|app| &app.version);
                let found = match lock.and_then(|lock| lock.apps.get(key)) {
                    Some(locked) => {
                        let release = locked.release(base).map_err(|error| ResolveError {
                            key: key.clone(),
                            cause: error.into(),
                        })?;
                        let location = release.artifact.location.clone();
                        let same_file = match (&present.source, &location) {
                            (Source::Path(wanted), Location::File(path)) => {
                                wanted == path || crate::files::same_file(wanted, path)
                            }
                            _ => false,
                        };
                        // A downgrade from the lock needs the installed version's artifact as
                        // much as one resolved on the Marketplace: to put it back if the
                        // install fails after the uninstall.
                        let mut installed_release = None;
                        if depth == Depth::Artifacts
                            && matches!(present.source, Source::Marketplace)
                        {
                            if let Some(installed) = installed
                                .filter(|installed| installed.is_newer_than(&release.version))
                            {
                                installed_release = restore_artifact(
                                    marketplace,
                                    key,
                                    installed,
                                    instance.hosting_of(present),
                                )
                                .await;
                            }
                        }
                        Fact::Found(Box::new(Found {
                            release: Release {
                                version: release.version,
                                artifact: R::carry(release.artifact),
                                compatibility: release.compatibility,
                                build_number: release.build_number,
                            },
                            queried: false,
                            server_ranges: None,
                            installed_release,
                            from_lock: Some(FromLock {
                                marketplace: marketplace.base().clone(),
                                location,
                                same_file,
                            }),
                        }))
                    }
                    None => resolve_app(
                        instance,
                        key,
                        present,
                        installed,
                        product.as_ref(),
                        marketplace,
                        depth,
                    )
                    .await
                    .map_err(|cause| ResolveError {
                        key: key.clone(),
                        cause,
                    })?,
                };
                Ok((
                    key.clone(),
                    Wanted {
                        app,
                        present,
                        fact: found,
                    },
                ))
            }
        })
        .buffer_unordered(marketplace.questions_at_once())
        .collect()
        .await;
    let mut facts = Facts::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok((key, wanted)) => {
                facts.insert(key, wanted);
            }
            Err(error) => errors.push(error),
        }
    }
    errors.sort_by_cached_key(ResolveError::line);
    if errors.is_empty() {
        Ok(facts)
    } else {
        Err(errors)
    }
}

/// One app without a lock. Nothing is asked for an exact version that is installed (unless for
/// the lock), nor for any exact version when the facts carry no artifact (drift).
async fn resolve_app<R: Carried>(
    instance: &DesiredInstance,
    key: &AppKey,
    present: &PresentApp,
    installed: Option<&crate::model::Version>,
    product: Result<&ProductInfo, &crate::model::ProductInfoError>,
    marketplace: &MarketplaceClient,
    depth: Depth,
) -> Result<Fact<R>, ResolveCause> {
    let hosting = instance.hosting_of(present);
    let exact = match &present.version {
        VersionSpec::Exact(version) => Some(version),
        _ => None,
    };
    if let Some(version) = exact {
        if installed == Some(version) && depth != Depth::Lock {
            return Ok(Fact::Installed(version.clone()));
        }
        if let Some(nothing) = R::unasked() {
            return Ok(Fact::Found(Box::new(unasked_release(version, nothing))));
        }
    }
    let named = |version: &Version, artifact: Artifact| {
        Fact::Found(Box::new(Found {
            release: Release {
                version: version.clone(),
                artifact: R::carry(artifact),
                compatibility: Vec::new(),
                build_number: None,
            },
            queried: false,
            server_ranges: None,
            installed_release: None,
            from_lock: None,
        }))
    };
    match (&present.source, exact) {
        (Source::Path(path), Some(version)) => Ok(named(
            version,
            Artifact {
                location: Location::File(path.clone()),
                delivery: Delivery::Upload,
                sha256: present.sha256.clone(),
            },
        )),
        (Source::Url(url), Some(version)) => Ok(named(
            version,
            Artifact {
                location: Location::Url(url.clone()),
                delivery: Delivery::Uri,
                sha256: present.sha256.clone(),
            },
        )),
        (Source::Path(_) | Source::Url(_), None) => Err(ResolveCause::NotOnMarketplace {
            version: present.version.clone(),
        }),
        (Source::Marketplace, _) => {
            let resolved =
                marketplace_version(instance, key, present, product, marketplace).await?;
            let version = crate::model::Version::from_server(&resolved.name);
            let queried = exact.is_none();
            let application = instance.product.marketplace_application();
            let release = Release {
                version: version.clone(),
                artifact: R::carry(Artifact {
                    location: Location::Url(resolved.binary.clone()),
                    delivery: Delivery::Uri,
                    sha256: present.sha256.clone(),
                }),
                compatibility: resolved.ranges(application, hosting),
                build_number: resolved.build_number,
            };
            let server_ranges = (hosting == Hosting::Datacenter)
                .then(|| resolved.ranges(application, Hosting::Server));
            // What the planner will keep installed is not asked about further (its rule, asked
            // here only to spare needless requests).
            if queried && crate::plan::keeps_installed(&present.version, installed, &version) {
                return Ok(Fact::Found(Box::new(Found {
                    release,
                    queried,
                    server_ranges,
                    installed_release: None,
                    from_lock: None,
                })));
            }
            marketplace.check_download_link(&resolved.binary)?;
            // A downgrade uninstalls first: find the installed version's artifact now, to put it
            // back if the install fails. Not on the Marketplace (any more): no restore possible.
            let installed_release =
                match installed.filter(|installed| installed.is_newer_than(&version)) {
                    Some(installed) => restore_artifact(marketplace, key, installed, hosting).await,
                    None => None,
                };
            Ok(Fact::Found(Box::new(Found {
                release,
                queried,
                server_ranges,
                installed_release,
                from_lock: None,
            })))
        }
    }
}

/// The Marketplace version an app's `version` means, for the app's hosting. With
/// `allow_incompatible`, `latest` and constraints choose among every version listed for the
/// hosting, not only those compatible with the instance's build.
async fn marketplace_version(
    instance: &DesiredInstance,
    key: &AppKey,
    present: &PresentApp,
    product: Result<&ProductInfo, &crate::model::ProductInfoError>,
    marketplace: &MarketplaceClient,
) -> Result<ResolvedVersion, ResolveCause> {
    let text = ResolveCause::Marketplace;
    let hosting = instance.hosting_of(present);
    if let VersionSpec::Exact(version) = &present.version {
        return marketplace
            .resolve(key, version, hosting)
            .await
            .map_err(text);
    }
    if present.allow_incompatible {
        // Every version of the hosting, newest matching first; no product build is needed.
        let names = marketplace
            .version_names(key, hosting)
            .await
            .map_err(text)?;
        let best = names
            .iter()
            .map(|name| crate::model::Version::from_server(name))
            .filter(|version| present.version.matches(version))
            .max_by(crate::model::Version::compare)
            .ok_or_else(|| ResolveCause::NoMatch {
                key: key.clone(),
                version: present.version.clone(),
                hosting,
            })?;
        return marketplace.resolve(key, &best, hosting).await.map_err(text);
    }
    let product = product.map_err(|error| ResolveCause::UnknownBuild {
        version: present.version.clone(),
        product: error.clone(),
    })?;
    let criteria = Criteria {
        application: instance.product.marketplace_application(),
        build: product.build,
        hosting,
    };
    match &present.version {
        VersionSpec::Latest => marketplace.latest(key, &criteria).await.map_err(text),
        spec => {
            // The list is filtered by the Marketplace to compatible versions; the constraint is
            // applied here with the plugin framework's ordering.
            let names = marketplace
                .compatible_version_names(key, &criteria)
                .await
                .map_err(text)?;
            let best = names
                .iter()
                .map(|name| crate::model::Version::from_server(name))
                .filter(|version| spec.matches(version))
                .max_by(crate::model::Version::compare)
                .ok_or_else(|| {
                    text(marketplace::MarketplaceError::NoCompatibleVersion {
                        key: key.clone(),
                        wanted: spec.to_string(),
                        application: criteria.application.to_string(),
                        build: criteria.build,
                        hosting: criteria.hosting,
                    })
                })?;
            marketplace.resolve(key, &best, hosting).await.map_err(text)
        }
    }
}

/// The installed version's artifact on the Marketplace, to put back if a downgrade's install fails
/// after the uninstall; `None` when it is not listed (any more). By URI whatever `install` says:
/// the upload gate and UPM 8's signature check do not apply, so the restore does not fail for the
/// reason the install might.
async fn restore_artifact(
    marketplace: &MarketplaceClient,
    key: &AppKey,
    installed: &crate::model::Version,
    hosting: Hosting,
) -> Option<Artifact> {
    let old = marketplace.resolve(key, installed, hosting).await.ok()?;
    marketplace.check_download_link(&old.binary).ok()?;
    Some(Artifact {
        location: Location::Url(old.binary),
        delivery: Delivery::Uri,
        sha256: None,
    })
}
