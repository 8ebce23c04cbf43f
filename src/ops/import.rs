//! `import`'s facts: what each instance of a manifest runs now (every user-installed app, its
//! version, whether it is enabled and licensed) and whether the Marketplace lists it, for a
//! manifest that pins it all ([`crate::render::import_yaml`]).

use std::collections::BTreeSet;

use crate::error::{error_text, Shared};
use crate::http::HttpSettings;
use crate::manifest::{Written, WrittenInstance};
use crate::marketplace::{MarketplaceClient, MarketplaceError};
use crate::model::{AppKey, Desired, DesiredInstance, Hosting, Live, LiveLicense};
use crate::upm::{fill_licenses, licensed_installed};

use super::InstanceError;

/// What `upmsync import` found: the manifest's settings as written, and each instance's apps.
#[derive(Debug)]
pub struct Imported {
    /// `marketplace.url` as the manifest writes it (`None`: left out, the default).
    pub marketplace_url: Option<url::Url>,
    /// The instances read, in manifest order.
    pub instances: Vec<ImportedInstance>,
}

/// One instance: its settings as written and its user-installed apps, by key.
#[derive(Debug)]
pub struct ImportedInstance {
    /// The instance's settings as the manifest writes them.
    pub written: WrittenInstance,
    /// Every user-installed app (system apps are never pinned), in key order.
    pub apps: Vec<ImportedApp>,
}

/// One user-installed app as it runs now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedApp {
    pub key: AppKey,
    /// The name UPM reports (for a comment; a server controls it).
    pub name: String,
    /// The installed version as UPM reports it.
    pub version: String,
    pub enabled: bool,
    /// A license is installed (only that is kept: never the license).
    pub licensed: bool,
    /// What the Marketplace says of the app and its installed version.
    pub listing: Listing,
}

/// What the Marketplace says of an installed app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listing {
    /// The installed version is listed for the instance's hosting.
    Listed,
    /// The app is listed, but not its installed version for this hosting.
    VersionNotListed(Hosting),
    /// The Marketplace does not know the app: an in-house app.
    NotListed,
    /// The Marketplace could not be asked (the text is the error as the user reads it).
    Unchecked(String),
}

impl Imported {
    /// The apps the Marketplace could not be asked about, as `(instance, key, error)`.
    pub fn unchecked(&self) -> Vec<(&str, &AppKey, &str)> {
        self.instances
            .iter()
            .flat_map(|instance| {
                instance.apps.iter().filter_map(|app| match &app.listing {
                    Listing::Unchecked(error) => {
                        Some((instance.written.name.as_str(), &app.key, error.as_str()))
                    }
                    _ => None,
                })
            })
            .collect()
    }
}

/// Why `import` prints nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// An instance could not be read, or the Marketplace's client built.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// Installed versions a manifest cannot name (UPM reports any text as a version; the manifest
    /// takes the plugin framework's versions without whitespace, `version.rs`): pinning them would
    /// print a manifest the loader refuses, and leaving them out one that plans their uninstall
    /// under `unmanaged: uninstall`.
    #[error(
        "cannot pin {} in a manifest: {}",
        if .apps.len() == 1 { "an installed version" } else { "installed versions" },
        .apps.iter().map(|(instance, key, version, reason)| format!("instance `{instance}`: app `{key}` is at version `{version}` ({reason})")).collect::<Vec<_>>().join("; ")
    )]
    Unpinnable {
        /// `(instance, app key, installed version, why the manifest refuses it)`.
        apps: Vec<(String, AppKey, String, String)>,
    },
}

impl ImportError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Instance(error) => error.hint(),
            Self::Unpinnable { .. } => Some(
                "update or remove that app on the instance (a version such as `1.0.1`), or import the other instances with `--instance NAME`"
                    .to_string(),
            ),
        }
    }
}

/// Why `version` cannot be pinned as it is in a manifest, if it cannot: the loader must read it
/// back as this exact version (not `latest`, not a constraint, nothing the grammar refuses).
fn unpinnable(version: &str) -> Option<String> {
    match crate::version::VersionSpec::parse(version) {
        Ok(crate::version::VersionSpec::Exact(exact)) if exact.to_string() == version => None,
        Ok(crate::version::VersionSpec::Exact(_)) => {
            Some("it would be read back as another text".to_string())
        }
        Ok(_) => Some("a manifest reads it as `latest` or a constraint".to_string()),
        Err(error) => Some(error.reason.to_string()),
    }
}

/// Reads every instance of `desired` (the selected ones) and asks the Marketplace about each
/// user-installed app's installed version.
///
/// # Errors
///
/// The first instance that cannot be read (a manifest that leaves an instance out would plan its
/// apps' uninstall under `unmanaged: uninstall`), a Marketplace client that cannot be built, or
/// installed versions a manifest cannot name ([`ImportError::Unpinnable`], all of them at once).
pub async fn import(
    desired: &Desired,
    written: &Written,
    settings: &HttpSettings,
) -> Result<Imported, ImportError> {
    let marketplace = MarketplaceClient::new(&desired.marketplace_url, settings)
        .map_err(|error| InstanceError::SetUp(Shared::new(error)))?;
    let marketplace = &marketplace;
    let read = futures::future::join_all(desired.instances.iter().map(|instance| async move {
        let live = read_with_licenses(instance, settings).await?;
        let apps =
            futures::future::join_all(live.apps.values().filter(|app| app.user_installed).map(
                |app| async move {
                    let listing = match marketplace
                        .compatibilities(&app.key, &app.version, instance.hosting)
                        .await
                    {
                        Ok(_) => Listing::Listed,
                        Err(MarketplaceError::UnknownApp { .. }) => Listing::NotListed,
                        Err(MarketplaceError::UnknownVersion { hosting, .. }) => {
                            Listing::VersionNotListed(hosting)
                        }
                        Err(error) => Listing::Unchecked(error_text(&error)),
                    };
                    ImportedApp {
                        key: app.key.clone(),
                        name: app.name.clone(),
                        version: app.version.to_string(),
                        enabled: app.enabled,
                        licensed: matches!(app.license, LiveLicense::Present(_)),
                        listing,
                    }
                },
            ))
            .await;
        Ok::<_, InstanceError>((instance.name.clone(), apps))
    }))
    .await;
    let mut instances = Vec::new();
    let mut unpinnable_apps = Vec::new();
    for result in read {
        let (name, apps) = result?;
        for app in &apps {
            if let Some(reason) = unpinnable(&app.version) {
                unpinnable_apps.push((name.clone(), app.key.clone(), app.version.clone(), reason));
            }
        }
        // The loader kept the selected instances; their written settings are found by name.
        if let Some(written) = written.instances.iter().find(|each| each.name == name) {
            instances.push(ImportedInstance {
                written: written.clone(),
                apps,
            });
        }
    }
    if !unpinnable_apps.is_empty() {
        return Err(ImportError::Unpinnable {
            apps: unpinnable_apps,
        });
    }
    Ok(Imported {
        marketplace_url: written.marketplace_url.clone(),
        instances,
    })
}

/// The instance's plugin list and product, with the license of every user-installed app that
/// uses licensing (as hashes), within the run's cap on instances read at once: the first wave
/// as `plan` sends it, then the licenses `installed-marketplace` did not tell, one by one.
async fn read_with_licenses(
    instance: &DesiredInstance,
    settings: &HttpSettings,
) -> Result<Live, InstanceError> {
    let _slot = settings.limits.instance().await;
    let upm = super::client(instance, settings)?;
    let read_error = |source| InstanceError::Read {
        instance: instance.name.clone(),
        source,
    };
    let (live, side) = futures::join!(
        upm.apps_and_product(instance.product),
        upm.restarts_and_licenses(true)
    );
    let mut live = live.map_err(read_error)?;
    let licensing: BTreeSet<AppKey> = live
        .apps
        .values()
        .filter(|app| app.user_installed && app.uses_licensing)
        .map(|app| app.key.clone())
        .collect();
    let unread = side.unread(licensed_installed(&live, &licensing));
    side.fill(&mut live, &licensing, &settings.notices);
    let licenses = upm.read_licenses(&unread).await.map_err(read_error)?;
    fill_licenses(&mut live, licenses);
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::unpinnable;

    #[test]
    fn only_versions_the_loader_reads_back_as_themselves_can_be_pinned() {
        for version in ["1.0.0", "8.28.1", "1.10", "1.0.0-beta-2", "2.0_1"] {
            assert_eq!(unpinnable(version), None, "{version}");
        }
        // What UPM may report as a version but a manifest cannot say: whitespace, a word the
        // manifest reads otherwise (`latest`, a constraint), what the version grammar refuses.
        for version in [
            "1.0 beta", "latest", "~1.2", ">=1", "1,2", ".5", "-1", "1.0#x", "", " 1.0",
        ] {
            assert!(unpinnable(version).is_some(), "{version:?}");
        }
    }
}
