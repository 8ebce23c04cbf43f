//! Small builders for planner tests: a desired instance, its live state and what resolution found,
//! written the way a manifest and UPM would say them. Each modifier applies to the app added last.

use std::collections::BTreeMap;

use url::Url;

use crate::model::{
    AppKey, Artifact, Compatibility, Credentials, Delivery, DesiredApp, DesiredInstance,
    DesiredLicense, DesiredState, Hosting, InstallMethod, License, LicenseHash, Live, LiveApp,
    LiveLicense, Location, PresentApp, Product, ProductInfo, Secret, Sha256, Source,
    UnmanagedPolicy, Version,
};
use crate::resolve::{Fact, Facts, Found, Release, Wanted};
use crate::version::VersionSpec;

/// A desired instance `jira` at `http://jira.test/`, unmanaged apps ignored.
pub(crate) fn desired() -> DesiredBuilder {
    DesiredBuilder(DesiredInstance {
        name: "jira".into(),
        url: Url::parse("http://jira.test/").unwrap(),
        product: Product::Jira,
        hosting: Hosting::Datacenter,
        transport: Default::default(),
        credentials: Credentials::Bearer {
            token: Secret::new("t"),
        },
        unmanaged: UnmanagedPolicy::Ignore,
        apps: BTreeMap::new(),
    })
}

pub(crate) struct DesiredBuilder(pub(crate) DesiredInstance);

impl DesiredBuilder {
    /// Wants `key` at `version` (`latest`, a constraint or an exact version), enabled, from the
    /// Marketplace.
    pub(crate) fn app(mut self, key: &str, version: &str) -> Self {
        let position = self.0.apps.len();
        self.0.apps.insert(
            AppKey::new(key),
            DesiredApp {
                key: AppKey::new(key),
                state: DesiredState::Present(PresentApp {
                    version: VersionSpec::parse(version).unwrap(),
                    enabled: true,
                    license: DesiredLicense::Unmanaged,
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
        self
    }

    /// Wants `key` absent.
    pub(crate) fn absent(mut self, key: &str) -> Self {
        let position = self.0.apps.len();
        self.0.apps.insert(
            AppKey::new(key),
            DesiredApp {
                key: AppKey::new(key),
                state: DesiredState::Absent,
                position,
                requires: Vec::new(),
            },
        );
        self
    }

    pub(crate) fn unmanaged(mut self, policy: UnmanagedPolicy) -> Self {
        self.0.unmanaged = policy;
        self
    }

    fn last(&mut self) -> &mut PresentApp {
        let app = self
            .0
            .apps
            .values_mut()
            .max_by_key(|app| app.position)
            .unwrap();
        match &mut app.state {
            DesiredState::Present(present) => present,
            DesiredState::Absent => panic!("the last app is absent"),
        }
    }

    pub(crate) fn disabled(mut self) -> Self {
        self.last().enabled = false;
        self
    }

    pub(crate) fn license(mut self, text: &str) -> Self {
        self.last().license = DesiredLicense::Present(License::new(Secret::new(text), "env L"));
        self
    }

    pub(crate) fn license_absent(mut self) -> Self {
        self.last().license = DesiredLicense::Absent;
        self
    }

    pub(crate) fn install(mut self, method: InstallMethod) -> Self {
        self.last().install = method;
        self
    }

    /// Comes from `url` (`source: {url: ...}`).
    pub(crate) fn source_url(mut self, url: &str) -> Self {
        self.last().source = Source::Url(Url::parse(url).unwrap());
        self
    }

    pub(crate) fn allow_incompatible(mut self) -> Self {
        self.last().allow_incompatible = true;
        self
    }

    pub(crate) fn build(self) -> DesiredInstance {
        self.0
    }
}

/// An instance running Jira 9.12.0 (build 912000) with no app installed.
pub(crate) fn live() -> LiveBuilder {
    LiveBuilder::new_empty(Live {
        product: Ok(ProductInfo {
            version: "9.12.0".into(),
            build: 912000,
            base_url: None,
        }),
        ..Live::default()
    })
}

pub(crate) struct LiveBuilder(pub(crate) Live, Option<AppKey>);

impl LiveBuilder {
    /// `key` installed at `version`, enabled, user-installed, its license not read.
    pub(crate) fn app(mut self, key: &str, version: &str) -> Self {
        self.0.apps.insert(
            AppKey::new(key),
            LiveApp {
                key: AppKey::new(key),
                name: format!("{key} app"),
                version: Version::parse(version).unwrap(),
                enabled: true,
                user_installed: true,
                uninstallable: true,
                uses_licensing: true,
                license: LiveLicense::NotRead,
                restart: None,
            },
        );
        self.1 = Some(AppKey::new(key));
        self
    }

    fn last(&mut self) -> &mut LiveApp {
        let key = self.1.clone().unwrap();
        self.0.apps.get_mut(&key).unwrap()
    }

    pub(crate) fn disabled(mut self) -> Self {
        self.last().enabled = false;
        self
    }

    /// The license UPM shows (read because the manifest manages it).
    pub(crate) fn license(mut self, text: &str) -> Self {
        self.last().license = LiveLicense::Present(LicenseHash::of(text));
        self
    }

    /// Read: no license installed.
    pub(crate) fn no_license(mut self) -> Self {
        self.last().license = LiveLicense::None;
        self
    }

    /// UPM is in safe mode (the plugin list's links say so).
    pub(crate) fn safe_mode(mut self) -> Self {
        self.0.safe_mode = true;
        self
    }

    /// An install task was running when the plugin list was read.
    pub(crate) fn task_running(mut self) -> Self {
        self.0.task_running = true;
        self
    }

    pub(crate) fn build(self) -> Live {
        self.0
    }
}

impl LiveBuilder {
    fn new_empty(live: Live) -> Self {
        Self(live, None)
    }
}

/// Nothing found yet.
pub(crate) fn found() -> FoundBuilder {
    FoundBuilder(BTreeMap::new(), None)
}

/// What was found, by app; [`facts`] makes the planner's input of it.
pub(crate) type FoundApps = BTreeMap<AppKey, Found>;

pub(crate) struct FoundBuilder(FoundApps, Option<AppKey>);

/// The facts for every app `desired` wants present: what was `found` for it, else its exact
/// version, which must be the installed one (nothing would have been asked).
pub(crate) fn facts<'a>(desired: &'a DesiredInstance, live: &Live, found: &FoundApps) -> Facts<'a> {
    desired
        .apps
        .values()
        .filter_map(|app| {
            let DesiredState::Present(present) = &app.state else {
                return None;
            };
            let fact = match (found.get(&app.key), &present.version) {
                (Some(found), _) => Fact::Found(Box::new(found.clone())),
                (None, VersionSpec::Exact(version))
                    if live
                        .apps
                        .get(&app.key)
                        .is_some_and(|installed| &installed.version == version) =>
                {
                    Fact::Installed(version.clone())
                }
                (None, spec) => panic!("nothing found for `{}` {spec}", app.key),
            };
            Some((app.key.clone(), Wanted { app, present, fact }))
        })
        .collect()
}

impl FoundBuilder {
    /// The Marketplace release `version` of `key`, as named by the manifest, by URI, compatible
    /// with every build.
    pub(crate) fn release(mut self, key: &str, version: &str) -> Self {
        let url = format!("http://marketplace.test/download/{key}/{version}");
        self.0.insert(
            AppKey::new(key),
            Found {
                release: Release {
                    version: Version::parse(version).unwrap(),
                    artifact: Artifact {
                        location: Location::Url(Url::parse(&url).unwrap()),
                        delivery: Delivery::Uri,
                        sha256: None,
                    },
                    compatibility: vec![Compatibility {
                        min_build: 0,
                        max_build: u64::MAX,
                        min_version: None,
                        max_version: None,
                    }],
                    build_number: Some(1),
                },
                queried: false,
                server_ranges: None,
                installed_release: None,
                from_lock: None,
            },
        );
        self.1 = Some(AppKey::new(key));
        self
    }

    fn last(&mut self) -> &mut Found {
        let key = self.1.clone().unwrap();
        self.0.get_mut(&key).unwrap()
    }

    /// Chosen by a Marketplace query (`latest`, a constraint).
    pub(crate) fn queried(mut self) -> Self {
        self.last().queried = true;
        self
    }

    /// Supports only builds `min..=max` for Data Center (and, with `server`, these for Server).
    pub(crate) fn builds(mut self, min: u64, max: u64, server: Option<(u64, u64)>) -> Self {
        let range = |(min_build, max_build)| Compatibility {
            min_build,
            max_build,
            min_version: None,
            max_version: None,
        };
        let found = self.last();
        found.release.compatibility = vec![range((min, max))];
        found.server_ranges = server.map(|server| vec![range(server)]);
        self
    }

    /// Its sha256 is pinned (manifest `sha256:` or the lock).
    pub(crate) fn pinned(mut self) -> Self {
        self.last().release.artifact.sha256 = Sha256::parse(&"ab".repeat(32));
        self
    }

    /// The installed version's release was found on the Marketplace at `version`.
    pub(crate) fn installed_release(mut self, key: &str, version: &str) -> Self {
        let url = format!("http://marketplace.test/download/{key}/{version}");
        self.last().installed_release = Some(Artifact {
            location: Location::Url(Url::parse(&url).unwrap()),
            delivery: Delivery::Uri,
            sha256: None,
        });
        self
    }

    /// Taken from the lock file, whose manifest names the Marketplace `marketplace`.
    pub(crate) fn locked(mut self, marketplace: &str) -> Self {
        let found = self.last();
        found.from_lock = Some(crate::resolve::FromLock {
            marketplace: Url::parse(marketplace).unwrap(),
            location: found.release.artifact.location.clone(),
            same_file: false,
        });
        self
    }

    pub(crate) fn build(self) -> FoundApps {
        self.0
    }
}
