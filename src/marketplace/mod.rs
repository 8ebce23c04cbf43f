//! The only code that speaks the Atlassian Marketplace REST API v2: resolves an app key and exact
//! version to an installable artifact link (marketplace-api.md §3, §4, §10); [`download`] fetches
//! artifacts and [`publish`] publishes new versions (with the account's credentials).
//!
//! One [`MarketplaceClient`] serves a whole run and asks each distinct question once: its clones
//! share a memo of answers keyed by the request URL, so a hundred instances asking the same twenty
//! questions send twenty requests, and a question asked while the same one is on its way waits
//! for that answer. Answers that will not change within a run are kept (a body, a 404, another
//! 4xx, a body that cannot be read as expected); a failure that may pass (no connection, a timeout,
//! 408, 429, 5xx, a broken body) is shared with those who waited for it but not kept, so a later
//! question asks again.

pub mod download;
pub mod publish;

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};

use reqwest::{header::ACCEPT, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::http::body::{self, excerpt};
use crate::http::{Call, HttpError, HttpSettings, Profile, TransportFailure};
use crate::model::{redact_url, AppKey, Compatibility, Hosting, Version};

/// A bound on pagination, against a server whose `next` never ends.
const MAX_PAGES: usize = 200;

/// What went wrong asking the Marketplace. URLs are shown without credentials or query.
#[derive(Debug, thiserror::Error)]
pub enum MarketplaceError {
    /// The client could not be built (a bad proxy).
    #[error(transparent)]
    Client(#[from] HttpError),
    #[error("{call} failed: {failure}")]
    Request {
        call: Call,
        failure: TransportFailure,
    },
    #[error("GET {url} failed: {reason}")]
    Body { url: String, reason: String },
    #[error("GET {url} answered {status}: {body}")]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("GET {url} answered with a body upmsync cannot read: {reason}")]
    Decode { url: String, reason: String },
    #[error("app `{key}` is not on the Marketplace at {marketplace}")]
    UnknownApp { key: AppKey, marketplace: String },
    #[error("app `{key}` has no version `{version}` for {} on the Marketplace", hosting.as_str())]
    UnknownVersion {
        key: AppKey,
        version: Version,
        hosting: Hosting,
    },
    #[error("app `{key}` has no version matching `{wanted}` that is compatible with {application} build {build} ({})", hosting.as_str())]
    NoCompatibleVersion {
        key: AppKey,
        wanted: String,
        application: String,
        build: u64,
        hosting: Hosting,
    },
    #[error("listing versions at {url} stopped: {reason}")]
    Pagination { url: String, reason: String },
    #[error("the Marketplace answered version `{found}` when asked for `{version}` of `{key}`")]
    WrongVersion {
        key: AppKey,
        version: Version,
        found: String,
    },
    #[error("version `{version}` of `{key}` has no downloadable artifact on the Marketplace (a listing-only or Connect version)")]
    NoArtifact { key: AppKey, version: Version },
    /// The Marketplace does not know this product version (`applications/{app}/versions/name/{v}`
    /// answered 404, §8).
    #[error("{application} has no version `{version}` on the Marketplace at {marketplace}")]
    UnknownProductVersion {
        application: String,
        version: String,
        marketplace: String,
    },
}

/// A Marketplace version resolved to what UPM can install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedVersion {
    /// The version's name as the Marketplace spells it.
    pub name: String,
    /// The Marketplace's own build number of the app version (not a product build).
    pub build_number: Option<u64>,
    /// `_embedded.artifact._links.binary.href`, absolute.
    pub binary: Url,
    pub compatibilities: Vec<VersionCompatibility>,
}

impl ResolvedVersion {
    /// The inclusive product build ranges this version supports for one application and hosting.
    pub fn ranges(&self, application: &str, hosting: Hosting) -> Vec<Compatibility> {
        ranges_of(&self.compatibilities, application, hosting)
    }
}

/// The inclusive product build ranges `compatibilities` (an app version's, §4) give one
/// application and hosting.
pub fn ranges_of(
    compatibilities: &[VersionCompatibility],
    application: &str,
    hosting: Hosting,
) -> Vec<Compatibility> {
    compatibilities
        .iter()
        .filter(|compatibility| compatibility.application == application)
        .filter_map(|compatibility| match hosting {
            Hosting::Datacenter => compatibility.hosting.data_center.as_ref(),
            Hosting::Server => compatibility.hosting.server.as_ref(),
        })
        .map(|range| Compatibility {
            min_build: range.min.build,
            max_build: range.max.build,
            min_version: range.min.version.clone(),
            max_version: range.max.version.clone(),
        })
        .collect()
}

/// A product version as the Marketplace lists it (an ApplicationVersion, §8).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProductVersion {
    /// The version's name, e.g. `10.3.0`.
    pub version: String,
    /// The product build number the Marketplace's compatibility ranges use (§5, §12).
    pub build: u64,
}

/// What the Marketplace is asked about one instance (§3 query parameters).
#[derive(Debug, Clone, Copy)]
pub struct Criteria<'a> {
    pub application: &'a str,
    pub build: u64,
    pub hosting: Hosting,
}

impl Criteria<'_> {
    fn append_to(&self, url: &mut Url) {
        url.query_pairs_mut()
            .append_pair("application", self.application)
            .append_pair("applicationBuild", &self.build.to_string())
            .append_pair("hosting", self.hosting.as_str());
    }
}

/// Whether `build` lies in one of `ranges` (bounds inclusive, build numbers only: §5).
pub fn is_compatible(ranges: &[Compatibility], build: u64) -> bool {
    ranges
        .iter()
        .any(|range| range.min_build <= build && build <= range.max_build)
}

/// `compatibilities[]` of an AddonVersion (§4).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct VersionCompatibility {
    pub application: String,
    #[serde(default)]
    pub hosting: CompatibilityHosting,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CompatibilityHosting {
    #[serde(default)]
    pub server: Option<BuildRange>,
    #[serde(rename = "dataCenter", default)]
    pub data_center: Option<BuildRange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BuildRange {
    pub min: BuildBound,
    pub max: BuildBound,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BuildBound {
    pub build: u64,
    #[serde(default)]
    pub version: Option<String>,
}

impl MarketplaceError {
    /// What the user can do about this error, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            MarketplaceError::Request { failure, .. } => return failure.hint(),
            MarketplaceError::UnknownApp { .. } => "check the key, or give the app a `source` (path or url) if it is not a Marketplace app".into(),
            MarketplaceError::UnknownVersion { .. } => "check the version on the app's version history page".into(),
            MarketplaceError::NoCompatibleVersion { .. } => "check the app's supported versions, or loosen the version in the manifest".into(),
            MarketplaceError::UnknownProductVersion { .. } => "give a released version as the product's release notes name it (`10.3.0`), and check `product` in the manifest".into(),
            _ => return None,
        })
    }
}

/// A client for the Marketplace's REST API v2. Reads of public apps are anonymous (§1): no
/// credentials are ever sent. Clones share the memo of answers (see the module docs) and the
/// settings' caps on requests in flight.
#[derive(Clone, Debug)]
pub struct MarketplaceClient {
    http: reqwest::Client,
    base: Url,
    settings: HttpSettings,
    /// How long reading a body may take.
    deadline: Duration,
    memo: Memo,
}

/// A decoded answer, shared by everyone who asked the same question.
type Decoded = Arc<dyn Any + Send + Sync>;

/// The outcome of one question: the decoded body (`None` for 404 or 204), or why there is none.
type Outcome = Result<Option<Decoded>, Failure>;

/// A question: the request URL and the type its answer is read as.
type Question = (Url, std::any::TypeId);

/// A question's answer, on its way or in, for everyone who asks.
type Answer = Shared<BoxFuture<'static, Outcome>>;

/// Answers by question, shared by clones.
#[derive(Clone, Default)]
struct Memo(Arc<Mutex<HashMap<Question, Answer>>>);

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.0.lock().map_or(0, |memo| memo.len());
        write!(f, "Memo({count} questions)")
    }
}

/// Why a question got no answer, in a form that can be shared with every waiter.
#[derive(Clone, Debug)]
enum Failure {
    Request {
        call: Call,
        failure: TransportFailure,
    },
    Body {
        url: String,
        reason: String,
    },
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
    Decode {
        url: String,
        reason: String,
    },
}

impl Failure {
    /// Whether asking again in the same run may get another answer.
    fn may_pass(&self) -> bool {
        match self {
            Failure::Request { .. } | Failure::Body { .. } => true,
            Failure::Status { status, .. } => {
                // 408 and 429 say "not now"; a CDN or proxy may also answer 403 for a rate limit,
                // but a 403 from the Marketplace itself is lasting, so it is kept.
                status.is_server_error()
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::REQUEST_TIMEOUT
            }
            Failure::Decode { .. } => false,
        }
    }
}

impl From<Failure> for MarketplaceError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Request { call, failure } => MarketplaceError::Request { call, failure },
            Failure::Body { url, reason } => MarketplaceError::Body { url, reason },
            Failure::Status { url, status, body } => MarketplaceError::Status { url, status, body },
            Failure::Decode { url, reason } => MarketplaceError::Decode { url, reason },
        }
    }
}

impl MarketplaceClient {
    /// The Marketplace's base URL (`marketplace.url` in the manifest).
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// How many apps one instance's resolution works on at once: twice the cap on requests in
    /// flight to the Marketplace, so the cap, not this, paces the requests.
    pub fn questions_at_once(&self) -> usize {
        self.settings.limits.per_host().saturating_mul(2)
    }

    /// Refuses a download link the Marketplace handed out that upmsync must not trust: plain
    /// `http` from an `https` Marketplace (anyone on the path could swap the artifact).
    pub fn check_download_link(&self, link: &Url) -> Result<(), InsecureLink> {
        check_download_link(&self.base, link)
    }

    /// A client for the Marketplace at `base` (`marketplace.url` in the manifest), built by
    /// [`crate::http::client`] from `settings`; reads retry within `settings.retry`.
    pub fn new(base: &Url, settings: &HttpSettings) -> Result<Self, MarketplaceError> {
        let http = crate::http::client(settings, Profile::Marketplace)?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self {
            http,
            base,
            settings: settings.clone(),
            deadline: settings.request_timeout,
            memo: Memo::default(),
        })
    }

    /// `GET /rest/2/addons/{key}/versions/name/{version}?hosting=…` (§10 step 2). A 404 is told apart
    /// into "unknown app" and "unknown version" with one more request.
    pub async fn resolve(
        &self,
        key: &AppKey,
        version: &Version,
        hosting: Hosting,
    ) -> Result<ResolvedVersion, MarketplaceError> {
        let mut url = self.addon_url(key);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(["versions", "name", version.as_str()]);
        }
        url.query_pairs_mut()
            .append_pair("hosting", hosting.as_str());
        let Some(body) = self.get::<AddonVersion>(&url).await? else {
            return Err(self
                .not_found(key, || MarketplaceError::UnknownVersion {
                    key: key.clone(),
                    version: version.clone(),
                    hosting,
                })
                .await?);
        };
        if Version::from_server(&body.name) != *version {
            return Err(MarketplaceError::WrongVersion {
                key: key.clone(),
                version: version.clone(),
                found: body.name,
            });
        }
        self.resolved(key, body)
    }

    /// The build number of `application`'s version `version` (for example `jira`, `10.3.0`):
    /// `GET /rest/2/applications/{application}/versions/name/{version}` (§8, §12).
    ///
    /// # Errors
    ///
    /// [`MarketplaceError::UnknownProductVersion`] on a 404; the request's own failures.
    pub async fn product_version(
        &self,
        application: &str,
        version: &str,
    ) -> Result<ProductVersion, MarketplaceError> {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend([
                "rest",
                "2",
                "applications",
                application,
                "versions",
                "name",
                version,
            ]);
        }
        match self.get::<ApplicationVersion>(&url).await? {
            Some(body) => Ok(ProductVersion {
                version: body.version,
                build: body.build_number,
            }),
            None => Err(MarketplaceError::UnknownProductVersion {
                application: application.to_string(),
                version: version.to_string(),
                marketplace: redact_url(&self.base),
            }),
        }
    }

    /// The compatibility of one app version for `hosting`, whether or not it has an artifact:
    /// the same `GET /rest/2/addons/{key}/versions/name/{version}?hosting=…` as
    /// [`MarketplaceClient::resolve`] (one question for both, §4, §5).
    ///
    /// # Errors
    ///
    /// [`MarketplaceError::UnknownApp`] or [`MarketplaceError::UnknownVersion`] on a 404; the
    /// request's own failures.
    pub async fn compatibilities(
        &self,
        key: &AppKey,
        version: &Version,
        hosting: Hosting,
    ) -> Result<Vec<VersionCompatibility>, MarketplaceError> {
        let mut url = self.addon_url(key);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(["versions", "name", version.as_str()]);
        }
        url.query_pairs_mut()
            .append_pair("hosting", hosting.as_str());
        match self.get::<AddonVersion>(&url).await? {
            Some(body) => Ok(body.compatibilities),
            None => Err(self
                .not_found(key, || MarketplaceError::UnknownVersion {
                    key: key.clone(),
                    version: version.clone(),
                    hosting,
                })
                .await?),
        }
    }

    /// The newest version compatible with `application` at `build` for `hosting`:
    /// `GET /rest/2/addons/{key}/versions/latest?application=…&applicationBuild=…&hosting=…` (§10).
    pub async fn latest(
        &self,
        key: &AppKey,
        criteria: &Criteria<'_>,
    ) -> Result<ResolvedVersion, MarketplaceError> {
        let mut url = self.addon_url(key);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(["versions", "latest"]);
        }
        criteria.append_to(&mut url);
        let Some(body) = self.get::<AddonVersion>(&url).await? else {
            return Err(self
                .not_found(key, || MarketplaceError::NoCompatibleVersion {
                    key: key.clone(),
                    wanted: "latest".into(),
                    application: criteria.application.to_string(),
                    build: criteria.build,
                    hosting: criteria.hosting,
                })
                .await?);
        };
        self.resolved(key, body)
    }

    /// The names of every version compatible with `criteria`, following `_links.next` (§7). List
    /// items are brief (no build numbers or compatibility), so only names are taken.
    pub async fn compatible_version_names(
        &self,
        key: &AppKey,
        criteria: &Criteria<'_>,
    ) -> Result<Vec<String>, MarketplaceError> {
        let mut url = self.addon_url(key);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push("versions");
        }
        criteria.append_to(&mut url);
        self.version_names_at(key, url).await
    }

    /// The names of every version listed for `hosting`, compatible with any product build or none
    /// (for `allow_incompatible` with `latest` or a constraint), following `_links.next` (§7).
    pub async fn version_names(
        &self,
        key: &AppKey,
        hosting: Hosting,
    ) -> Result<Vec<String>, MarketplaceError> {
        let mut url = self.addon_url(key);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push("versions");
        }
        // guess: without `application`, the list is filtered by hosting only (marketplace-api.md
        // §3 lists the parameters as optional filters; the simulator does the same).
        url.query_pairs_mut()
            .append_pair("hosting", hosting.as_str());
        self.version_names_at(key, url).await
    }

    /// Follows the pages of a version list from `url`.
    async fn version_names_at(
        &self,
        key: &AppKey,
        mut url: Url,
    ) -> Result<Vec<String>, MarketplaceError> {
        url.query_pairs_mut().append_pair("limit", "50");
        let mut names = Vec::new();
        let mut next = Some(url);
        let mut pages = 0;
        while let Some(page_url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(MarketplaceError::Pagination {
                    url: redact_url(&page_url),
                    reason: format!("more than {MAX_PAGES} pages"),
                });
            }
            let Some(page) = self.get::<VersionCollection>(&page_url).await? else {
                return Err(self
                    .not_found(key, || MarketplaceError::UnknownApp {
                        key: key.clone(),
                        marketplace: redact_url(&self.base),
                    })
                    .await?);
            };
            names.extend(page.embedded.versions.into_iter().map(|item| item.name));
            next = match page.links.next.and_then(Link::href) {
                None => None,
                Some(href) => match self.base.join(&href) {
                    Ok(next_url) if next_url.origin() == self.base.origin() => Some(next_url),
                    _ => {
                        return Err(MarketplaceError::Pagination {
                            url: redact_url(&page_url),
                            reason: format!("its `next` link `{href}` leaves the Marketplace"),
                        })
                    }
                },
            };
        }
        Ok(names)
    }

    /// After a 404: the app itself unknown, or else `otherwise`.
    async fn not_found(
        &self,
        key: &AppKey,
        otherwise: impl FnOnce() -> MarketplaceError,
    ) -> Result<MarketplaceError, MarketplaceError> {
        Ok(
            if self
                .get::<serde::de::IgnoredAny>(&self.addon_url(key))
                .await?
                .is_none()
            {
                MarketplaceError::UnknownApp {
                    key: key.clone(),
                    marketplace: redact_url(&self.base),
                }
            } else {
                otherwise()
            },
        )
    }

    fn resolved(
        &self,
        key: &AppKey,
        body: AddonVersion,
    ) -> Result<ResolvedVersion, MarketplaceError> {
        let version = Version::from_server(&body.name);
        let binary = body
            .embedded
            .and_then(|embedded| embedded.artifact)
            .and_then(|artifact| artifact.links.binary)
            .and_then(|link| link.href())
            .and_then(|href| self.base.join(&href).ok())
            .filter(|binary| matches!(binary.scheme(), "http" | "https"))
            .ok_or_else(|| MarketplaceError::NoArtifact {
                key: key.clone(),
                version: version.clone(),
            })?;
        Ok(ResolvedVersion {
            name: body.name,
            build_number: body.build_number,
            binary,
            compatibilities: body.compatibilities,
        })
    }

    fn addon_url(&self, key: &AppKey) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["rest", "2", "addons", key.as_str()]);
        }
        url
    }

    /// GETs JSON as `T`; `None` on 404 or 204 ("does not exist", §1). Asked once per run: see
    /// the module docs.
    async fn get<T>(&self, url: &Url) -> Result<Option<T>, MarketplaceError>
    where
        T: for<'de> Deserialize<'de> + Clone + Send + Sync + 'static,
    {
        let key = (url.clone(), std::any::TypeId::of::<T>());
        let asked = {
            let mut memo = self.memo.0.lock().unwrap_or_else(PoisonError::into_inner);
            memo.entry(key.clone())
                .or_insert_with(|| self.ask::<T>(url.clone()).boxed().shared())
                .clone()
        };
        let outcome = asked.clone().await;
        if matches!(&outcome, Err(failure) if failure.may_pass()) {
            let mut memo = self.memo.0.lock().unwrap_or_else(PoisonError::into_inner);
            if memo.get(&key).is_some_and(|kept| kept.ptr_eq(&asked)) {
                memo.remove(&key);
            }
        }
        match outcome? {
            None => Ok(None),
            Some(decoded) => match decoded.downcast::<T>() {
                Ok(value) => Ok(Some((*value).clone())),
                // The key holds the type: never the case.
                Err(_) => Err(MarketplaceError::Decode {
                    url: redact_url(url),
                    reason: "the answer was read as another type".into(),
                }),
            },
        }
    }

    /// Sends one question and reads its answer as `T`, owning all it needs so the answer can be
    /// shared.
    fn ask<T>(&self, url: Url) -> impl std::future::Future<Output = Outcome> + Send + 'static
    where
        T: for<'de> Deserialize<'de> + Send + Sync + 'static,
    {
        let http = self.http.clone();
        let settings = self.settings.clone();
        let deadline = self.deadline;
        async move {
            let call = Call::get(url.clone());
            tracing::debug!(request = %call, "marketplace request");
            let shown = redact_url(&url);
            let request = http.get(url).header(ACCEPT, "application/json");
            let response = crate::http::send_read_within(request, &settings, &call)
                .await
                .map_err(|error| Failure::Request {
                    failure: TransportFailure::of(&error),
                    call,
                })?;
            let status = response.status();
            if status == StatusCode::NOT_FOUND || status == StatusCode::NO_CONTENT {
                return Ok(None);
            }
            if !status.is_success() {
                let text = body::error_text(response, deadline).await;
                return Err(Failure::Status {
                    url: shown,
                    status,
                    body: excerpt(&text),
                });
            }
            let text = body::read_text(response, body::MAX_JSON_BYTES, deadline)
                .await
                .map_err(|error| Failure::Body {
                    url: shown.clone(),
                    reason: error.to_string(),
                })?;
            let value: T = serde_json::from_str(&text).map_err(|error| Failure::Decode {
                url: shown,
                reason: error.to_string(),
            })?;
            Ok(Some(Arc::new(value) as Decoded))
        }
    }
}

/// The parts of an AddonVersion (§4) that resolution needs.
#[derive(Clone, Debug, Deserialize)]
struct AddonVersion {
    name: String,
    #[serde(rename = "buildNumber", default)]
    build_number: Option<u64>,
    #[serde(rename = "_embedded", default)]
    embedded: Option<Embedded>,
    #[serde(default)]
    compatibilities: Vec<VersionCompatibility>,
}

/// The parts of an ApplicationVersion (§8) that a product version lookup needs.
#[derive(Clone, Debug, Deserialize)]
struct ApplicationVersion {
    version: String,
    #[serde(rename = "buildNumber")]
    build_number: u64,
}

/// A page of `/versions` (§7): brief items, maybe a `next` link.
#[derive(Clone, Debug, Deserialize)]
struct VersionCollection {
    #[serde(rename = "_links", default)]
    links: CollectionLinks,
    #[serde(rename = "_embedded", default)]
    embedded: VersionItems,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct CollectionLinks {
    #[serde(default)]
    next: Option<Link>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct VersionItems {
    #[serde(default)]
    versions: Vec<VersionItem>,
}

#[derive(Clone, Debug, Deserialize)]
struct VersionItem {
    name: String,
}

#[derive(Clone, Debug, Deserialize)]
struct Embedded {
    #[serde(default)]
    artifact: Option<ArtifactInfo>,
}

#[derive(Clone, Debug, Deserialize)]
struct ArtifactInfo {
    #[serde(rename = "_links", default)]
    links: ArtifactLinks,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct ArtifactLinks {
    #[serde(default)]
    binary: Option<Link>,
}

/// A HAL link: an object, or an array of them (§7: `next` is seen as an array); the JSON one is
/// the entry without `type` or with `application/json`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum Link {
    One(LinkObject),
    Many(Vec<LinkObject>),
}

#[derive(Clone, Debug, Deserialize)]
struct LinkObject {
    href: String,
    #[serde(rename = "type", default)]
    media_type: Option<String>,
}

impl Link {
    fn href(self) -> Option<String> {
        match self {
            Link::One(link) => Some(link.href),
            Link::Many(links) => links
                .into_iter()
                .find(|link| {
                    link.media_type
                        .as_deref()
                        .is_none_or(|t| t == "application/json")
                })
                .map(|link| link.href),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_real_addon_version_body() {
        let body = include_str!("../../tests/fixtures/marketplace/addon-version-build-1.json");
        let version: AddonVersion = serde_json::from_str(body).unwrap();
        assert_eq!(version.name, "0.1.0");
        assert_eq!(version.build_number, Some(1));
        let href = version
            .embedded
            .unwrap()
            .artifact
            .unwrap()
            .links
            .binary
            .unwrap()
            .href();
        assert_eq!(
            href.as_deref(),
            Some("https://marketplace.atlassian.com/download/apps/1211376/version/1")
        );
    }

    #[test]
    fn reads_the_real_application_version_body() {
        let body =
            include_str!("../../tests/fixtures/marketplace/application-version-jira-8.6.0.json");
        let version: ApplicationVersion = serde_json::from_str(body).unwrap();
        assert_eq!(version.version, "8.6.0");
        assert_eq!(version.build_number, 806_000);
    }

    #[test]
    fn link_arrays_pick_the_json_entry() {
        let link: Link = serde_json::from_str(
            r#"[{"href":"/search?offset=10","type":"text/html"},{"href":"/rest/2/addons?offset=10","type":"application/json"}]"#,
        )
        .unwrap();
        assert_eq!(link.href().as_deref(), Some("/rest/2/addons?offset=10"));
    }
}

/// A download link an `https` Marketplace handed out over plain `http`: anyone on the path could
/// swap the artifact, so upmsync refuses it. Both URLs are held redacted (no credentials).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the Marketplace at {marketplace} handed out a download link over plain `{scheme}` ({link}), so the artifact could be swapped on the way; upmsync refuses it")]
pub struct InsecureLink {
    /// The Marketplace's base URL, redacted.
    pub marketplace: String,
    /// The link's scheme.
    pub scheme: String,
    /// The link, redacted.
    pub link: String,
}

impl InsecureLink {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some("check the Marketplace URL and any proxy in front of it".into())
    }
}

/// See [`MarketplaceClient::check_download_link`].
pub fn check_download_link(marketplace: &Url, link: &Url) -> Result<(), InsecureLink> {
    if marketplace.scheme() == "https" && link.scheme() != "https" {
        return Err(InsecureLink {
            marketplace: crate::model::redact_url(marketplace),
            scheme: link.scheme().to_owned(),
            link: crate::model::redact_url(link),
        });
    }
    Ok(())
}

#[cfg(test)]
mod link_tests {
    use super::*;

    #[test]
    fn an_https_marketplace_never_hands_out_plain_http() {
        let https = Url::parse("https://marketplace.atlassian.com/").unwrap();
        let plain =
            Url::parse("http://marketplace.atlassian.com/download/apps/1/version/2").unwrap();
        let secure =
            Url::parse("https://marketplace.atlassian.com/download/apps/1/version/2").unwrap();
        assert!(check_download_link(&https, &plain).is_err());
        assert!(check_download_link(&https, &secure).is_ok());
        let local = Url::parse("http://127.0.0.1:2991/").unwrap();
        assert!(check_download_link(&local, &plain).is_ok());
    }
}
