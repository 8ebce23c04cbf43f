//! `outdated`'s facts: per instance and app, the installed version, the wanted one (as the
//! manifest or lock resolves it) and the newest version compatible with the product build.

use serde::Serialize;

use crate::error::{error_text, Shared};
use crate::http::HttpSettings;
use crate::marketplace::{Criteria, MarketplaceClient, MarketplaceError};
use crate::model::{Desired, DesiredInstance, DesiredState, ProductInfo, Source};
use crate::plan::PlannedInstance;

use super::InstanceError;

/// One instance's row of `upmsync outdated` (its JSON is part of the output contract).
#[derive(Debug, Serialize)]
pub struct InstanceRow {
    /// The instance's name.
    pub name: String,
    /// The product version and build, when read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductInfo>,
    /// One per app the manifest wants present.
    pub apps: Vec<AppRow>,
    /// Why the instance could not be read or planned, as the user reads it (report data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One app's row.
#[derive(Debug, Serialize)]
pub struct AppRow {
    /// The app's key.
    pub key: String,
    /// The installed version, if installed.
    pub installed: Option<String>,
    /// What the manifest asks for, as written.
    pub requested: String,
    /// What that resolves to now (null where it could not be resolved).
    pub wanted: Option<String>,
    /// The newest version compatible with the instance (Marketplace apps only).
    pub newest_compatible: Option<String>,
    /// Why the newest compatible version could not be asked for (report data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An in-house app: the manifest gives its `source`, or the Marketplace does not know its key;
    /// it has no newest compatible version (left out of the JSON when `false`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_house: bool,
}

/// Reads and plans every instance of `desired`, then asks the Marketplace for each app's newest
/// compatible version: one row per instance.
///
/// # Errors
///
/// [`InstanceError::SetUp`] when the Marketplace's client cannot be built; every other failure is
/// in its row.
pub async fn outdated(
    desired: &Desired,
    settings: &HttpSettings,
) -> Result<Vec<InstanceRow>, InstanceError> {
    let marketplace = MarketplaceClient::new(&desired.marketplace_url, settings)
        .map_err(|error| InstanceError::SetUp(Shared::new(error)))?;
    // The wanted versions come from the same resolution `plan` does (lock included).
    let plan = super::read_and_plan(desired, settings).await;
    let mut rows = Vec::new();
    for (instance, planned) in desired.instances.iter().zip(&plan.instances) {
        rows.push(instance_row(instance, planned, &marketplace).await);
    }
    Ok(rows)
}

/// One instance, from the plan's single read: the plan's error (a version that does not exist, an
/// incompatible pin, a stale lock) is the row's error.
async fn instance_row(
    instance: &DesiredInstance,
    planned: &PlannedInstance,
    marketplace: &MarketplaceClient,
) -> InstanceRow {
    let Some(live) = &planned.live else {
        return InstanceRow {
            name: instance.name.clone(),
            product: None,
            apps: Vec::new(),
            error: planned
                .result
                .as_ref()
                .err()
                .map(|error| error_text(&**error)),
        };
    };
    let planned_ok = planned.result.as_ref().ok();
    let product = live.product.as_ref().ok().cloned();
    let mut apps = Vec::new();
    for app in instance.apps.values() {
        let DesiredState::Present(present) = &app.state else {
            continue;
        };
        let installed = live
            .apps
            .get(&app.key)
            .map(|live_app| live_app.version.to_string());
        // The plan's change for this app holds the resolved version; no change means the installed one.
        let wanted = match planned_ok {
            Some(plan) => plan
                .changes
                .iter()
                .find(|change| change.key == app.key && change.action().installs())
                .and_then(|change| change.op.to_version().map(ToString::to_string))
                .or_else(|| installed.clone()),
            None => None,
        };
        let mut in_house = !matches!(present.source, Source::Marketplace);
        let (newest_compatible, error) = match (&present.source, &product) {
            (Source::Marketplace, Some(product)) => {
                let criteria = Criteria {
                    application: instance.product.marketplace_application(),
                    build: product.build,
                    hosting: instance.hosting_of(present),
                };
                match marketplace.latest(&app.key, &criteria).await {
                    Ok(latest) => (Some(latest.name), None),
                    // An app pinned without a `source` that the Marketplace does not know (as
                    // `upmsync import` writes in-house apps) is listed, not an error.
                    Err(MarketplaceError::UnknownApp { .. }) => {
                        in_house = true;
                        (None, None)
                    }
                    Err(error) => (None, Some(error_text(&error))),
                }
            }
            _ => (None, None),
        };
        apps.push(AppRow {
            key: app.key.to_string(),
            installed,
            requested: present.version.to_string(),
            wanted,
            newest_compatible,
            error,
            in_house,
        });
    }
    InstanceRow {
        name: instance.name.clone(),
        product,
        apps,
        error: planned
            .result
            .as_ref()
            .err()
            .map(|error| error_text(&**error)),
    }
}
