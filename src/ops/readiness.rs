//! `outdated --product-version`'s facts: for every user-installed app on every instance, whether
//! its installed version is compatible with a product version the instances are to be upgraded
//! to, and if not, which versions are (marketplace-api.md §5, §8, §12).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{error_text, Shared};
use crate::http::HttpSettings;
use crate::marketplace::{
    is_compatible, ranges_of, Criteria, MarketplaceClient, MarketplaceError, ProductVersion,
};
use crate::model::{AppKey, Desired, DesiredInstance, DesiredState, LiveApp, Source, Version};

use super::InstanceError;

/// The answer of `upmsync outdated --product-version` (its JSON is part of the output contract):
/// a plain value that every renderer (text, JSON, markdown) reads.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// The product version asked about, as given (`10.3.0`).
    pub product_version: String,
    /// One per instance, in manifest order.
    pub instances: Vec<InstanceReadiness>,
}

/// One instance's readiness for the product version.
#[derive(Debug, Serialize)]
pub struct InstanceReadiness {
    /// The instance's name.
    pub name: String,
    /// The instance's product as the Marketplace names it (`jira`, `confluence`, `bitbucket`,
    /// `bamboo`).
    pub product: String,
    /// The product version and build the instance runs now, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<ProductVersion>,
    /// The product version asked about and its build number, as the Marketplace lists it for
    /// this product (`None` when the lookup failed: see `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<ProductVersion>,
    /// Every user-installed app (system apps are left out), by key.
    pub apps: Vec<AppReadiness>,
    /// Why the instance could not be read or the product version looked up, as the user reads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One app's readiness.
#[derive(Debug, Serialize)]
pub struct AppReadiness {
    /// The app's key.
    pub key: String,
    /// The app's name as UPM reports it.
    pub name: String,
    /// The installed version.
    pub installed: String,
    /// Whether the app is enabled.
    pub enabled: bool,
    /// Whether the manifest names the app for this instance.
    pub managed: bool,
    /// The verdict for the installed version.
    pub status: Status,
    /// The lowest version compatible with the product version, when the installed one is not
    /// (or its compatibility is not listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lowest_compatible: Option<String>,
    /// The newest version compatible with the product version, likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newest_compatible: Option<String>,
    /// Why the status is `unknown`, as the user reads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why the Marketplace could not answer for this app (report data; the run fails).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether an installed version fits the product version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The installed version's compatibility includes the product version's build.
    Compatible,
    /// It does not, but other versions do (`lowest_compatible`, `newest_compatible`).
    Incompatible,
    /// It does not, and no version of the app does.
    NoCompatibleVersion,
    /// Not known: an in-house app (a `source` in the manifest, or not on the Marketplace), an
    /// installed version the Marketplace does not list, or a failed question (`reason`, `error`).
    Unknown,
}

impl Status {
    /// Whether the app must change before the product upgrade.
    pub fn must_change(self) -> bool {
        matches!(self, Status::Incompatible | Status::NoCompatibleVersion)
    }
}

impl Readiness {
    /// Whether an instance or app could not be answered for (exit 1).
    pub fn failed(&self) -> bool {
        self.instances.iter().any(|instance| {
            instance.error.is_some() || instance.apps.iter().any(|app| app.error.is_some())
        })
    }

    /// Whether some app must change before the upgrade (exit 2).
    pub fn must_change(&self) -> bool {
        self.instances
            .iter()
            .flat_map(|instance| &instance.apps)
            .any(|app| app.status.must_change())
    }
}

/// Reads every instance of `desired` and, for each user-installed app, asks the Marketplace
/// whether its installed version is compatible with `product_version` of the instance's product
/// (looked up once per product).
///
/// # Errors
///
/// [`InstanceError::SetUp`] when the Marketplace's client cannot be built; every other failure is
/// in its instance or app.
pub async fn readiness(
    desired: &Desired,
    product_version: &str,
    settings: &HttpSettings,
) -> Result<Readiness, InstanceError> {
    let marketplace = MarketplaceClient::new(&desired.marketplace_url, settings)
        .map_err(|error| InstanceError::SetUp(Shared::new(error)))?;
    let marketplace = &marketplace;
    let instances =
        futures::future::join_all(desired.instances.iter().map(|instance| async move {
            let application = instance.product.marketplace_application();
            // The memo asks each product's lookup once, however many instances share it.
            let (target, live) = futures::join!(
                marketplace.product_version(application, product_version),
                read_apps(instance, settings)
            );
            let mut row = InstanceReadiness {
                name: instance.name.clone(),
                product: application.to_string(),
                current: None,
                target: None,
                apps: Vec::new(),
                error: None,
            };
            let live = match live {
                Ok(live) => live,
                Err(error) => {
                    row.error = Some(error_text(&error));
                    return row;
                }
            };
            row.current = live.product.as_ref().ok().map(|product| ProductVersion {
                version: product.version.clone(),
                build: product.build,
            });
            let target = match target {
                Ok(target) => target,
                Err(error) => {
                    row.error = Some(error_text(&error));
                    return row;
                }
            };
            let user_apps: Vec<&LiveApp> = live
                .apps
                .values()
                .filter(|app| app.user_installed)
                .collect();
            row.apps = futures::future::join_all(
                user_apps
                    .into_iter()
                    .map(|app| app_readiness(instance, app, target.build, marketplace)),
            )
            .await;
            row.target = Some(target);
            row
        }))
        .await;
    Ok(Readiness {
        product_version: product_version.to_string(),
        instances,
    })
}

/// The instance's plugin list and product version, within the run's cap on instances read at once.
async fn read_apps(
    instance: &DesiredInstance,
    settings: &HttpSettings,
) -> Result<crate::model::Live, InstanceError> {
    let _slot = settings.limits.instance().await;
    let upm = super::client(instance, settings)?;
    upm.apps_and_product(instance.product)
        .await
        .map_err(|source| InstanceError::Read {
            instance: instance.name.clone(),
            source,
        })
}

/// One app: its installed version's compatibility with `build`, and the compatible versions when
/// it does not fit.
async fn app_readiness(
    instance: &DesiredInstance,
    app: &LiveApp,
    build: u64,
    marketplace: &MarketplaceClient,
) -> AppReadiness {
    let present = instance
        .apps
        .get(&app.key)
        .and_then(|desired| match &desired.state {
            DesiredState::Present(present) => Some(present),
            DesiredState::Absent => None,
        });
    let hosting = present.map_or(instance.hosting, |present| instance.hosting_of(present));
    let mut row = AppReadiness {
        key: app.key.to_string(),
        name: app.name.clone(),
        installed: app.version.to_string(),
        enabled: app.enabled,
        managed: instance.apps.contains_key(&app.key),
        status: Status::Unknown,
        lowest_compatible: None,
        newest_compatible: None,
        reason: None,
        error: None,
    };
    if present.is_some_and(|present| !matches!(present.source, Source::Marketplace)) {
        row.reason = Some("in-house: the manifest gives its `source`".into());
        return row;
    }
    let application = instance.product.marketplace_application();
    let criteria = Criteria {
        application,
        build,
        hosting,
    };
    match marketplace
        .compatibilities(&app.key, &app.version, hosting)
        .await
    {
        Ok(compatibilities) => {
            if is_compatible(&ranges_of(&compatibilities, application, hosting), build) {
                row.status = Status::Compatible;
                return row;
            }
            row.status = Status::Incompatible;
        }
        Err(MarketplaceError::UnknownApp { .. }) => {
            row.reason = Some("in-house: not on the Marketplace".into());
            return row;
        }
        Err(MarketplaceError::UnknownVersion { .. }) => {
            row.reason = Some(format!(
                "the installed version is not listed on the Marketplace for {}",
                hosting.as_str()
            ));
        }
        Err(error) => {
            row.error = Some(error_text(&error));
            return row;
        }
    }
    match compatible_range(&app.key, &criteria, marketplace).await {
        Ok(Some((lowest, newest))) => {
            row.lowest_compatible = Some(lowest);
            row.newest_compatible = Some(newest);
        }
        Ok(None) if row.status == Status::Incompatible => row.status = Status::NoCompatibleVersion,
        Ok(None) => {}
        Err(error) => row.error = Some(error_text(&error)),
    }
    row
}

/// The lowest and the newest version compatible with `criteria`, in the plugin framework's order,
/// or `None` when there is none.
async fn compatible_range(
    key: &AppKey,
    criteria: &Criteria<'_>,
    marketplace: &MarketplaceClient,
) -> Result<Option<(String, String)>, MarketplaceError> {
    let names = marketplace.compatible_version_names(key, criteria).await?;
    // One entry per version (the same name may be listed for several hostings' builds).
    let versions: BTreeMap<&str, Version> = names
        .iter()
        .map(|name| (name.as_str(), Version::from_server(name)))
        .collect();
    let lowest = versions.values().min_by(|one, other| one.compare(other));
    let newest = versions.values().max_by(|one, other| one.compare(other));
    Ok(lowest
        .zip(newest)
        .map(|(lowest, newest)| (lowest.to_string(), newest.to_string())))
}
