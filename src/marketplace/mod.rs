//! The only code that speaks the Atlassian Marketplace REST API v2: resolves an app key and exact
//! version to an installable artifact link (marketplace-api.md §3, §4, §10).

use std::time::Duration;

use reqwest::{header::ACCEPT, StatusCode};
use serde::Deserialize;
use url::Url;

use crate::model::{redact_url, AppKey, Version};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Hosting type for Data Center targets, lower-case as the query parameter wants it (§3).
pub const HOSTING_DATA_CENTER: &str = "datacenter";

#[derive(Debug, thiserror::Error)]
pub enum MarketplaceError {
    #[error("GET {url} failed: {reason}")]
    Request { url: String, reason: String },
    #[error("GET {url} answered {status}: {body}")]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("GET {url} answered with a body upmsync cannot read: {reason}")]
    Decode { url: String, reason: String },
    #[error("app `{key}` is not on the Marketplace at {marketplace}\nhint: check the key, or give the app a `source` (path or url) if it is not a Marketplace app")]
    UnknownApp { key: AppKey, marketplace: String },
    #[error("app `{key}` has no version `{version}` for {hosting} on the Marketplace\nhint: check the version on the app's version history page")]
    UnknownVersion {
        key: AppKey,
        version: Version,
        hosting: String,
    },
    #[error("the Marketplace answered version `{found}` when asked for `{version}` of `{key}`")]
    WrongVersion {
        key: AppKey,
        version: Version,
        found: String,
    },
    #[error("version `{version}` of `{key}` has no downloadable artifact on the Marketplace (a listing-only or Connect version)")]
    NoArtifact { key: AppKey, version: Version },
}

/// A Marketplace version resolved to what UPM can install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedVersion {
    pub name: String,
    /// The Marketplace's own build number of the app version (not a product build).
    pub build_number: Option<u64>,
    /// `_embedded.artifact._links.binary.href`, absolute.
    pub binary: Url,
}

#[derive(Clone, Debug)]
pub struct MarketplaceClient {
    http: reqwest::Client,
    base: Url,
}

impl MarketplaceClient {
    /// Reads of public apps are anonymous (§1): no credentials are ever sent here.
    pub fn new(base: &Url) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("upmsync/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self { http, base })
    }

    /// `GET /rest/2/addons/{key}/versions/name/{version}?hosting=…` (§10 step 2). A 404 is told apart
    /// into "unknown app" and "unknown version" with one more request.
    pub async fn resolve(
        &self,
        key: &AppKey,
        version: &Version,
        hosting: &str,
    ) -> Result<ResolvedVersion, MarketplaceError> {
        let mut url = self.addon_url(key);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.extend(["versions", "name", version.as_str()]);
        }
        url.query_pairs_mut().append_pair("hosting", hosting);
        let Some(body) = self.get::<AddonVersion>(&url).await? else {
            return Err(
                if self
                    .get::<serde_json::Value>(&self.addon_url(key))
                    .await?
                    .is_none()
                {
                    MarketplaceError::UnknownApp {
                        key: key.clone(),
                        marketplace: redact_url(&self.base),
                    }
                } else {
                    MarketplaceError::UnknownVersion {
                        key: key.clone(),
                        version: version.clone(),
                        hosting: hosting.to_string(),
                    }
                },
            );
        };
        let binary = body
            .embedded
            .and_then(|embedded| embedded.artifact)
            .and_then(|artifact| artifact.links.binary)
            .and_then(|link| link.href())
            .and_then(|href| self.base.join(&href).ok())
            .ok_or_else(|| MarketplaceError::NoArtifact {
                key: key.clone(),
                version: version.clone(),
            })?;
        if Version::from_server(&body.name) != *version {
            return Err(MarketplaceError::WrongVersion {
                key: key.clone(),
                version: version.clone(),
                found: body.name,
            });
        }
        if !matches!(binary.scheme(), "http" | "https") {
            return Err(MarketplaceError::NoArtifact {
                key: key.clone(),
                version: version.clone(),
            });
        }
        Ok(ResolvedVersion {
            name: body.name,
            build_number: body.build_number,
            binary,
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

    /// GETs JSON; `None` on 404 or 204 ("does not exist", §1).
    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        url: &Url,
    ) -> Result<Option<T>, MarketplaceError> {
        tracing::debug!(url = %redact_url(url), "marketplace request");
        let shown = redact_url(url);
        let response = self
            .http
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| MarketplaceError::Request {
                url: shown.clone(),
                reason: crate::upm::transport_reason(&error),
            })?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let text = response
            .text()
            .await
            .map_err(|error| MarketplaceError::Request {
                url: shown.clone(),
                reason: crate::upm::transport_reason(&error),
            })?;
        if !status.is_success() {
            return Err(MarketplaceError::Status {
                url: shown,
                status,
                body: text.chars().take(300).collect(),
            });
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| MarketplaceError::Decode {
                url: shown,
                reason: error.to_string(),
            })
    }
}

/// The parts of an AddonVersion (§4) that resolution needs.
#[derive(Debug, Deserialize)]
struct AddonVersion {
    name: String,
    #[serde(rename = "buildNumber", default)]
    build_number: Option<u64>,
    #[serde(rename = "_embedded", default)]
    embedded: Option<Embedded>,
}

#[derive(Debug, Deserialize)]
struct Embedded {
    #[serde(default)]
    artifact: Option<ArtifactInfo>,
}

#[derive(Debug, Deserialize)]
struct ArtifactInfo {
    #[serde(rename = "_links", default)]
    links: ArtifactLinks,
}

#[derive(Debug, Default, Deserialize)]
struct ArtifactLinks {
    #[serde(default)]
    binary: Option<Link>,
}

/// A HAL link: an object, or an array of them (§7: `next` is seen as an array); the JSON one is
/// the entry without `type` or with `application/json`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Link {
    One(LinkObject),
    Many(Vec<LinkObject>),
}

#[derive(Debug, Deserialize)]
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
    fn link_arrays_pick_the_json_entry() {
        let link: Link = serde_json::from_str(
            r#"[{"href":"/search?offset=10","type":"text/html"},{"href":"/rest/2/addons?offset=10","type":"application/json"}]"#,
        )
        .unwrap();
        assert_eq!(link.href().as_deref(), Some("/rest/2/addons?offset=10"));
    }
}
