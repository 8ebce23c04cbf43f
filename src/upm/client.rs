//! The UPM client: one instance's endpoints (upm-rest-api.md §5): reading live state, installing
//! (and following the install task), uninstalling, enabling, disabling and licensing apps, and the
//! product's version.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use url::Url;

use super::error::UpmError;
use super::session::cookie_jar;
use super::wire::{self, media};
use crate::http::{Call, HttpSettings, Profile};
use crate::model::{
    redact_url, AppKey, Credentials, DesiredInstance, LicenseHash, Live, LiveApp, LiveLicense,
    Product, ProductInfo, RestartAction, Secret, Version,
};

/// A client for one instance's UPM.
#[derive(Clone)]
pub struct UpmClient {
    pub(super) http: reqwest::Client,
    pub(super) settings: HttpSettings,
    /// The instance's base URL (with context path and trailing slash).
    pub(super) base: Url,
    /// `{base}/rest/plugins/1.0/`, with the trailing slash the collection needs (§1).
    pub(super) api: Url,
    pub(super) credentials: Credentials,
    /// The instance's cookie jar, shared with every client of the instance (see [`UpmClient::new`]).
    pub(super) cookies: Arc<reqwest::cookie::Jar>,
}

impl std::fmt::Debug for UpmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpmClient")
            .field("api", &self.api.as_str())
            .finish_non_exhaustive()
    }
}

impl UpmClient {
    /// Where this client's warnings go ([`HttpSettings::notices`]).
    pub fn notices(&self) -> &crate::notice::Notices {
        &self.settings.notices
    }

    /// Builds a client for an instance. Redirects are never followed: UPM answers a finished task
    /// with 303, and a redirect must never carry credentials to another host.
    ///
    /// Every client of one instance built from the same settings shares one cookie jar, so the session and
    /// load-balancer affinity cookies hold for the whole run: on a Data Center cluster the
    /// upm-token is node-local, and only a sticky session brings the install to the node that
    /// issued it (upm-rest-api.md §5.2; field-reports.md, smartics `install_plugins.sh`).
    ///
    /// The client is built by [`crate::http::client`] from `settings` (timeouts, proxy, the
    /// platform's roots) and the instance's transport (`ca_file`, ...); a bad `ca_file` or proxy is
    /// [`UpmError::Client`].
    pub fn new(instance: &DesiredInstance, settings: &HttpSettings) -> Result<Self, UpmError> {
        if let Credentials::Basic { username, password } = &instance.credentials {
            crate::scrub::register_basic(username, password.expose());
        }
        let cookies = cookie_jar(settings, instance);
        let http = crate::http::client(
            settings,
            Profile::Upm {
                url: &instance.url,
                transport: &instance.transport,
                cookies: Arc::clone(&cookies),
            },
        )?;
        let base = under(&instance.url, &[""]);
        // Its warnings name the instance (instances are read and applied side by side).
        let mut settings = settings.clone();
        settings.notices = settings.notices.for_instance(&instance.name);
        Ok(Self {
            http,
            settings,
            api: api_url(&base),
            base,
            credentials: instance.credentials.clone(),
            cookies,
        })
    }

    /// Reads every installed plugin and the licenses of the installed user apps in
    /// `license_keys` (the apps whose license the manifest manages): [`UpmClient::read_apps`],
    /// then [`UpmClient::read_licenses`] for the apps it left unread.
    pub async fn read_live(
        &self,
        product: Product,
        license_keys: &BTreeSet<AppKey>,
    ) -> Result<Live, UpmError> {
        let FirstRead { mut live, unread } = self.read_apps(product, license_keys).await?;
        let licenses = self.read_licenses(&unread).await?;
        fill_licenses(&mut live, licenses);
        Ok(live)
    }

    /// The first wave of a read, all at once: [`UpmClient::apps_and_product`] and
    /// [`UpmClient::restarts_and_licenses`]. The managed-license apps the latter does not cover
    /// are returned as `unread`, for [`UpmClient::read_licenses`].
    pub async fn read_apps(
        &self,
        product: Product,
        license_keys: &BTreeSet<AppKey>,
    ) -> Result<FirstRead, UpmError> {
        let (live, side) = futures::join!(
            self.apps_and_product(product),
            self.restarts_and_licenses(!license_keys.is_empty())
        );
        let mut live = live?;
        let unread = side.unread(licensed_installed(&live, license_keys));
        side.fill(&mut live, license_keys, &self.settings.notices);
        Ok(FirstRead { live, unread })
    }

    /// What a plan's Marketplace questions need, at once: the plugin list and the product's
    /// version (its build). The live state has no license read yet, and of the changes waiting
    /// for a restart only those the plugin list shows (`restartState`).
    pub async fn apps_and_product(&self, product: Product) -> Result<Live, UpmError> {
        let (collection, product_info) =
            futures::join!(self.plugin_collection(), self.product_info(product));
        // Another product than the manifest's is no instance to plan for, whatever the plan
        // needs: its builds are another product's and its apps another product's apps.
        if let Err(error @ UpmError::ProductMismatch { .. }) = product_info {
            return Err(error);
        }
        let collection = collection?;
        let mut live = Live {
            product: product_info
                .map_err(|error| crate::model::ProductInfoError::Upm(std::sync::Arc::new(error))),
            safe_mode: collection.safe_mode(),
            task_running: collection.task_running(),
            ..Live::default()
        };
        for plugin in collection.plugins {
            let app = live_app(plugin);
            if let Some(action) = app.restart {
                live.pending_restart.insert(app.key.clone(), action);
            }
            live.apps.insert(app.key.clone(), app);
        }
        Ok(live)
    }

    /// The rest of the first wave, at once: `/requires-restart` and, when `licenses` (the
    /// manifest manages a license), the licenses of the Marketplace apps in one request
    /// (`GET /installed-marketplace`, §5.11: `licenseDetails.rawLicense`). Neither fails the read:
    /// without `/requires-restart` the plugin list's `restartState` is used ([`SideRead::fill`]
    /// warns); without `installed-marketplace` (404 on an old UPM, 403, an unreadable body) each
    /// license is read on its own (a debug line: the answer is the same, only slower).
    pub async fn restarts_and_licenses(&self, licenses: bool) -> SideRead {
        let (restarts, covered) = futures::join!(self.changes_requiring_restart(), async {
            if !licenses {
                return BTreeMap::new();
            }
            self.marketplace_licenses().await.unwrap_or_else(|error| {
                tracing::debug!(
                    error = %crate::error::chain_text(&error),
                    "cannot read the Marketplace apps' licenses in one request; reading each app's license"
                );
                BTreeMap::new()
            })
        });
        SideRead { restarts, covered }
    }

    /// Reads the licenses of `keys` one request each (`GET /{key}-key/license`, §5.10), all at
    /// once within the caps on requests in flight; only their hashes are kept.
    pub async fn read_licenses(
        &self,
        keys: &[AppKey],
    ) -> Result<Vec<(AppKey, LiveLicense)>, UpmError> {
        futures::future::try_join_all(keys.iter().map(|key| async move {
            let license = self.license_hash(key).await?;
            Ok::<_, UpmError>((key.clone(), license))
        }))
        .await
    }

    /// `GET /installed-marketplace` (§5.11): the license of each Marketplace app that has
    /// `licenseDetails`, as a hash. The body holds license texts: a decode error never quotes it.
    async fn marketplace_licenses(&self) -> Result<BTreeMap<AppKey, LiveLicense>, UpmError> {
        let url = under(&self.api, &["installed-marketplace"]);
        // Sent once: when it fails, each license is read on its own (the same answer, slower).
        let answer = self
            .send_once(self.request(Call::get(url), media::GENERIC))
            .await?;
        let (call, bytes) = answer.success().await?.bytes().await?;
        let apps: wire::InstalledMarketplace =
            serde_json::from_slice(&bytes).map_err(|_| UpmError::Decode {
                call,
                reason: "not UPM's installed Marketplace apps".into(),
            })?;
        Ok(apps
            .plugins
            .into_iter()
            .filter_map(|app| {
                // guess: an entry whose `licenseDetails` lacks `rawLicense` is not taken as "no
                // license" (reference §5.11 lists `rawLicense` in the license representation but
                // no sample shows an unlicensed app): that app's license is read on its own.
                let license = app.license_details?;
                license.raw_license.as_ref()?;
                Some((AppKey::new(&app.key), hash_of(&license)))
            })
            .collect())
    }

    /// `GET /rest/plugins/1.0/` (§5.1). A 404 here means the URL is not UPM's (usually a missing
    /// context path, field-reports.md: pluploader #64): the error says so, and names a context
    /// path where UPM does answer when one of the product's usual ones does.
    pub async fn list_plugins(&self) -> Result<Vec<wire::PluginSummary>, UpmError> {
        Ok(self.plugin_collection().await?.plugins)
    }

    /// `GET /rest/plugins/1.0/` (§5.1): the plugin list with the collection's links.
    pub async fn plugin_collection(&self) -> Result<wire::PluginCollection, UpmError> {
        match self
            .get_json::<wire::PluginCollection>(self.api.clone(), media::INSTALLED)
            .await
        {
            Ok(collection) => Ok(collection),
            Err(error) => Err(self.explain_not_found(error).await),
        }
    }

    /// The apps whose changes wait for a product restart: `GET /requires-restart` (§1). An
    /// instance that does not serve it (404) has none to tell.
    pub async fn changes_requiring_restart(
        &self,
    ) -> Result<BTreeMap<AppKey, RestartAction>, UpmError> {
        let url = under(&self.api, &["requires-restart"]);
        let answer = self.send(self.request(Call::get(url), "*/*")).await?;
        if answer.status() == StatusCode::NOT_FOUND {
            return Ok(BTreeMap::new());
        }
        let changes: wire::ChangesRequiringRestart = answer.success().await?.json().await?;
        Ok(changes
            .changes
            .into_iter()
            .filter_map(|change| {
                let action = RestartAction::from_upm(change.action.as_deref().unwrap_or_default())?;
                Some((AppKey::new(change.key), action))
            })
            .collect())
    }

    /// `GET /{key}-key` (§5.3); `None` when UPM answers 404.
    pub async fn plugin(&self, key: &AppKey) -> Result<Option<LiveApp>, UpmError> {
        let url = self.plugin_url(key, &[]);
        let answer = self
            .send(self.request(Call::get(url), media::PLUGIN))
            .await?;
        if answer.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let summary: wire::PluginSummary = answer.json().await?;
        Ok(Some(live_app(summary)))
    }

    /// The hash of an app's installed license, if any.
    pub async fn license(&self, key: &AppKey) -> Result<Option<LicenseHash>, UpmError> {
        Ok(match self.license_hash(key).await? {
            LiveLicense::Present(hash) => Some(hash),
            _ => None,
        })
    }

    /// Reads an app's license and keeps only its hash (§5.10: always 200, `rawLicense` absent when none).
    async fn license_hash(&self, key: &AppKey) -> Result<LiveLicense, UpmError> {
        let url = self.plugin_url(key, &["license"]);
        let answer = self
            .send(self.request(Call::get(url), media::GENERIC))
            .await?;
        let (call, bytes) = answer.success().await?.bytes().await?;
        // The body holds the license text: a decode error must not quote it.
        let license: wire::PluginLicense =
            serde_json::from_slice(&bytes).map_err(|_| UpmError::Decode {
                call,
                reason: "not a UPM license representation".into(),
            })?;
        Ok(hash_of(&license))
    }

    /// Gets a fresh `upm-token` (§5.2): `HEAD /rest/plugins/1.0/?os_authType=basic`.
    pub async fn token(&self) -> Result<Secret, UpmError> {
        let mut url = self.api.clone();
        url.set_query(Some("os_authType=basic"));
        let call = Call::new(Method::HEAD, url.clone());
        let answer = self.send(self.request(call, media::INSTALLED)).await?;
        let answer = match answer.success().await {
            Ok(answer) => answer,
            Err(error) => return Err(self.explain_not_found(error).await),
        };
        answer
            .response
            .headers()
            .get("upm-token")
            .and_then(|value| value.to_str().ok())
            .map(Secret::new)
            .ok_or_else(|| UpmError::MissingToken {
                url: redact_url(&url),
            })
    }

    /// `PUT /{key}-key` `{"enabled": …}` (§5.4).
    pub async fn set_enabled(&self, key: &AppKey, enabled: bool) -> Result<(), UpmError> {
        let url = self.plugin_url(key, &[]);
        let body = serde_json::to_vec(&wire::EnabledUpdate { enabled }).unwrap_or_default();
        let call = Call::new(Method::PUT, url);
        let answer = self
            .send_change(|| async {
                Ok(self.request(call.clone(), media::PLUGIN).with(|builder| {
                    builder
                        .header(CONTENT_TYPE, media::PLUGIN)
                        .body(body.clone())
                }))
            })
            .await?;
        answer.success().await.map(drop)
    }

    /// `DELETE /{key}-key` (§5.5): 204 when gone. A 404 is only taken for "already gone" once the
    /// plugin list confirms it (a proxy's 404 is not UPM's); a 202 means the removal waits for a
    /// product restart.
    pub async fn uninstall(&self, key: &AppKey) -> Result<Removal, UpmError> {
        let url = self.plugin_url(key, &[]);
        let call = Call::new(Method::DELETE, url);
        let answer = self
            .send_change(|| async { Ok(self.request(call.clone(), "*/*")) })
            .await?;
        match answer.status() {
            StatusCode::NOT_FOUND => {
                let listed = self
                    .list_plugins()
                    .await?
                    .iter()
                    .any(|plugin| plugin.key == key.as_str());
                if listed {
                    Err(answer.into_error().await)
                } else {
                    Ok(Removal::Done)
                }
            }
            // 202 + the plugin with `restartState: remove` (§4, §5.5).
            StatusCode::ACCEPTED => Ok(Removal::AfterRestart),
            _ => answer.success().await.map(|_| Removal::Done),
        }
    }

    /// `PUT /{key}-key/license` (§5.10). UPM answers 400 `invalid.update` when the very same license
    /// is already installed: that is success.
    pub async fn set_license(&self, key: &AppKey, license: &Secret) -> Result<(), UpmError> {
        let url = self.plugin_url(key, &["license"]);
        let body = serde_json::to_vec(&wire::LicenseUpdate {
            raw_license: license.expose(),
        })
        .unwrap_or_default();
        let call = Call::new(Method::PUT, url);
        let answer = self
            .send_change(|| async {
                Ok(self.request(call.clone(), media::GENERIC).with(|builder| {
                    builder
                        .header(CONTENT_TYPE, media::GENERIC)
                        .body(body.clone())
                }))
            })
            .await?;
        match answer.success().await {
            Ok(_) => Ok(()),
            Err(error) if error.sub_code() == Some("upm.plugin.license.error.invalid.update") => {
                // Same license already there, or a blank one (never sent: the manifest refuses
                // blank licenses). Confirm it really is the same before calling it done.
                match self.license_hash(key).await? {
                    LiveLicense::Present(hash) if hash == LicenseHash::of(license.expose()) => {
                        Ok(())
                    }
                    _ => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// `DELETE /{key}-key/license` (§5.10).
    pub async fn remove_license(&self, key: &AppKey) -> Result<(), UpmError> {
        let url = self.plugin_url(key, &["license"]);
        let call = Call::new(Method::DELETE, url);
        let answer = self
            .send_change(|| async { Ok(self.request(call.clone(), media::GENERIC)) })
            .await?;
        answer.success().await.map(drop)
    }

    /// How many install tasks UPM is running (`GET /pending`, §5.9: ongoing tasks only).
    pub async fn pending_tasks(&self) -> Result<usize, UpmError> {
        let url = under(&self.api, &["pending"]);
        let pending: wire::PendingTasks = self.get_json(url, "*/*").await?;
        Ok(pending.tasks.len())
    }

    /// Waits (polling every second, within the task timeout) until UPM runs no install task.
    pub async fn wait_until_idle(&self) -> Result<(), UpmError> {
        let started = Instant::now();
        while self.pending_tasks().await? > 0 {
            if started.elapsed() > self.settings.task_timeout {
                let url = under(&self.api, &["pending"]);
                return Err(UpmError::TaskTimeout {
                    url: redact_url(&url),
                    timeout: self.settings.task_timeout,
                });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(())
    }

    /// Whether UPM is in safe mode (§5.12): then installs and uninstalls fail, so apply checks
    /// before its first change.
    pub async fn safe_mode(&self) -> Result<bool, UpmError> {
        let url = under(&self.api, &["safe-mode"]);
        let flag: wire::SafeMode = self.get_json(url, media::SAFE_MODE).await?;
        Ok(flag.enabled)
    }

    /// The product's version and build number (upm-rest-api.md §7, marketplace-api.md §12): Jira's
    /// `serverInfo`, Bitbucket's `application-properties`, and the applinks manifest for
    /// Confluence, Bamboo, and as the fallback for all.
    pub async fn product_info(&self, product: Product) -> Result<ProductInfo, UpmError> {
        let own = own_endpoint(product);
        let mut errors = Vec::new();
        if let Some(path) = own {
            match self.product_endpoint(path).await {
                Ok((info, _)) => return Ok(info),
                Err(error) => errors.push(error),
            }
        }
        let manifest = &["rest", "applinks", "1.0", "manifest"][..];
        match self.product_endpoint(manifest).await {
            Ok((info, type_id)) => {
                // Every product serves the applinks manifest, so a 404 on the product's own
                // endpoint followed by a manifest of another product means the manifest's
                // `product` (or `url`) is wrong: its build numbers are another product's.
                match type_id {
                    Some(type_id)
                        if !type_id
                            .trim()
                            .eq_ignore_ascii_case(product.applinks_type_id()) =>
                    {
                        Err(UpmError::ProductMismatch {
                            call: Call::get(under(&self.base, manifest)),
                            expected: product,
                            found: Product::from_applinks_type_id(&type_id),
                            evidence: format!("applinks `typeId` `{type_id}`"),
                        })
                    }
                    _ => Ok(info),
                }
            }
            Err(error) => {
                errors.push(error);
                // No manifest to tell: another product's own endpoint answering does.
                for other in [Product::Jira, Product::Bitbucket] {
                    let Some(path) = own_endpoint(other).filter(|_| other != product) else {
                        continue;
                    };
                    if self.product_endpoint(path).await.is_ok() {
                        return Err(UpmError::ProductMismatch {
                            call: Call::get(under(&self.base, path)),
                            expected: product,
                            found: Some(other),
                            evidence: format!("{}'s own version endpoint answers", other.title()),
                        });
                    }
                }
                Err(UpmError::ProductInfo { errors })
            }
        }
    }

    /// One product endpoint's version and build, with the applinks `typeId` when it has one.
    async fn product_endpoint(
        &self,
        path: &[&str],
    ) -> Result<(ProductInfo, Option<String>), UpmError> {
        let url = under(&self.base, path);
        let info: wire::ProductInfo = self.get_json(url.clone(), "application/json").await?;
        let build = info.build_number.as_u64().ok_or_else(|| UpmError::Decode {
            call: Call::get(url),
            reason: format!(
                "`buildNumber` is not a build number: {}",
                info.build_number.text()
            ),
        })?;
        Ok((
            ProductInfo {
                version: info.version,
                build,
                base_url: info.base_url.filter(|url| !url.trim().is_empty()),
            },
            info.type_id,
        ))
    }

    /// `{api}/{key}-key/{rest…}`: UPM strips a trailing `-key` from the segment (§1); the key
    /// itself is percent-encoded.
    pub(super) fn plugin_url(&self, key: &AppKey, rest: &[&str]) -> Url {
        let segment = format!("{key}-key");
        let segments: Vec<&str> = std::iter::once(segment.as_str())
            .chain(rest.iter().copied())
            .collect();
        under(&self.api, &segments)
    }
}

/// What the first wave of a read found ([`UpmClient::read_apps`]).
#[derive(Debug)]
pub struct FirstRead {
    /// The live state, with the licenses read so far.
    pub live: Live,
    /// The managed-license apps whose license is still to be read ([`UpmClient::read_licenses`]).
    pub unread: Vec<AppKey>,
}

/// What [`UpmClient::restarts_and_licenses`] read.
#[derive(Debug)]
pub struct SideRead {
    /// The changes waiting for a restart (`/requires-restart`), or why they could not be read.
    pub restarts: Result<BTreeMap<AppKey, RestartAction>, UpmError>,
    /// The licenses `installed-marketplace` told, by app.
    pub covered: BTreeMap<AppKey, LiveLicense>,
}

impl SideRead {
    /// Puts what was read into `live` (read whole: the plugin list is in): the changes waiting
    /// for a restart (a `restartState` of the plugin list stays) and the licenses of the apps in
    /// `license_keys` it covers. When `/requires-restart` could not be read, the plugin list's
    /// `restartState` stands alone, with a warning in `notices`: it says the same for every
    /// installed app, so that costs only pending new installs.
    pub fn fill(
        self,
        live: &mut Live,
        license_keys: &BTreeSet<AppKey>,
        notices: &crate::notice::Notices,
    ) {
        let restarts = self.restarts.unwrap_or_else(|error| {
            notices.emit(crate::notice::Notice::RestartReadFallback {
                error: error.to_string(),
            });
            BTreeMap::new()
        });
        for (key, action) in restarts {
            live.pending_restart.entry(key).or_insert(action);
        }
        for key in license_keys {
            if let (Some(app), Some(license)) = (live.apps.get_mut(key), self.covered.get(key)) {
                if app.user_installed {
                    app.license = license.clone();
                }
            }
        }
    }

    /// Which of `installed` (the installed user apps whose license the manifest manages) have no
    /// license told here, so must be read one by one.
    pub fn unread<'a>(&self, installed: impl IntoIterator<Item = &'a AppKey>) -> Vec<AppKey> {
        installed
            .into_iter()
            .filter(|key| !self.covered.contains_key(*key))
            .cloned()
            .collect()
    }
}

/// The installed user apps among `license_keys`: those whose license a read must tell.
pub fn licensed_installed<'a>(
    live: &'a Live,
    license_keys: &'a BTreeSet<AppKey>,
) -> impl Iterator<Item = &'a AppKey> {
    license_keys
        .iter()
        .filter(|key| live.apps.get(*key).is_some_and(|app| app.user_installed))
}

/// Puts licenses read by [`UpmClient::read_licenses`] into `live`.
pub fn fill_licenses(live: &mut Live, licenses: Vec<(AppKey, LiveLicense)>) {
    for (key, license) in licenses {
        if let Some(app) = live.apps.get_mut(&key) {
            app.license = license;
        }
    }
}

/// A license representation's license, by hash only (`rawLicense` absent or blank: none).
fn hash_of(license: &wire::PluginLicense) -> LiveLicense {
    match license.raw_license.as_deref().map(str::trim) {
        Some(raw) if !raw.is_empty() => LiveLicense::Present(LicenseHash::of(raw)),
        _ => LiveLicense::None,
    }
}

/// What became of an uninstall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// The app is gone.
    Done,
    /// UPM accepted it, but the app stays until the product restarts (202, §5.5).
    AfterRestart,
}

/// `{base}/rest/plugins/1.0/`, with the trailing slash the collection needs (§1).
pub(super) fn api_url(base: &Url) -> Url {
    under(base, &["rest", "plugins", "1.0", ""])
}

/// `url` (without query or fragment) with `segments` appended to its path, each percent-encoded:
/// `http://h/jira/` + [`rest`, ``] is `http://h/jira/rest/`. The http(s) URLs a client is built
/// for always have a path to append to (they are never "cannot be a base").
pub(super) fn under(url: &Url, segments: &[&str]) -> Url {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

pub(super) fn live_app(plugin: wire::PluginSummary) -> LiveApp {
    LiveApp {
        key: AppKey::new(&plugin.key),
        name: plugin.name.unwrap_or_else(|| plugin.key.clone()),
        version: Version::from_server(plugin.version.as_deref().unwrap_or("")),
        enabled: plugin.enabled,
        uninstallable: plugin.uninstallable.unwrap_or(plugin.user_installed),
        user_installed: plugin.user_installed,
        uses_licensing: plugin.uses_licensing,
        license: LiveLicense::NotRead,
        restart: plugin
            .restart_state
            .as_deref()
            .and_then(RestartAction::from_upm),
    }
}

/// The product's own version endpoint under its base URL (upm-rest-api.md §7): Jira's
/// `serverInfo`, Bitbucket's `application-properties`; Confluence and Bamboo have none but the
/// applinks manifest.
fn own_endpoint(product: Product) -> Option<&'static [&'static str]> {
    match product {
        Product::Jira => Some(&["rest", "api", "2", "serverInfo"]),
        Product::Bitbucket => Some(&["rest", "api", "1.0", "application-properties"]),
        Product::Confluence | Product::Bamboo => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_url_keeps_the_context_path_and_trailing_slash() {
        let base = Url::parse("http://host:8080/jira/").unwrap();
        assert_eq!(
            api_url(&base).as_str(),
            "http://host:8080/jira/rest/plugins/1.0/"
        );
        let bare = Url::parse("http://host/jira").unwrap();
        assert_eq!(
            api_url(&bare).as_str(),
            "http://host/jira/rest/plugins/1.0/"
        );
    }

    fn client(url: &str) -> UpmClient {
        super::super::test_client(url)
    }

    #[test]
    fn endpoints_are_built_under_the_api_without_fallbacks() {
        let upm = client("http://host/jira");
        assert_eq!(upm.base.as_str(), "http://host/jira/");
        assert_eq!(
            under(&upm.api, &["safe-mode"]).as_str(),
            "http://host/jira/rest/plugins/1.0/safe-mode"
        );
        assert_eq!(
            upm.plugin_url(&AppKey::new("com.a b"), &["license"])
                .as_str(),
            "http://host/jira/rest/plugins/1.0/com.a%20b-key/license"
        );
        assert_eq!(
            under(&upm.base, &["rest", "api", "2", "serverInfo"]).as_str(),
            "http://host/jira/rest/api/2/serverInfo"
        );
    }
}
