//! The Marketplace's publishing API: the discovery chain from `/rest/2` to a listing's versions
//! and the asset upload (marketplace-api.md §2), the checks before a publish (a name or build
//! number taken, the latest version), the streamed upload of an artifact (§6) and the creation of
//! a version (§3), with its re-read after a lost answer.
//!
//! Paths are never built: every URL comes from a link of the answer before it, and every link must
//! stay on the Marketplace's origin (scheme, host, port), because the account's credentials go
//! with these requests. Reads retry as every read does ([`crate::http::send_read_within`]); the
//! upload and the create are writes and are sent once.
//!
//! Credentials are HTTP Basic `email:api_token` (§1), sent only to the Marketplace's origin, only
//! over `https` (plain `http` to loopback is allowed, for the simulator and tests), never across
//! a redirect to another origin (the client follows redirects only within the origin).

use std::path::Path;

use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::{Deserialize, Serialize};
use url::Url;

use super::VersionCompatibility;
use crate::http::body::{self, excerpt};
use crate::http::{Call, HttpError, HttpSettings, Profile, TransportFailure};
use crate::model::{redact_url, Secret};

/// The Atlassian account a publish acts as: its email and an API token (§1: HTTP Basic).
#[derive(Clone, Debug)]
pub struct PublisherCredentials {
    /// The account's email address.
    pub email: String,
    /// The account's API token, registered for scrubbing in every form (its `Basic` form too).
    pub token: Secret,
}

impl PublisherCredentials {
    /// Credentials from an email and a token; both the token and `base64(email:token)` are
    /// registered for scrubbing ([`crate::scrub`]).
    pub fn new(email: impl Into<String>, token: impl Into<String>) -> Self {
        let email = email.into();
        let token = token.into();
        crate::scrub::register_basic(&email, &token);
        Self {
            email,
            token: Secret::new(token),
        }
    }
}

/// One problem the Marketplace found in a request: its `errors[]` entry (§1; field names are a
/// guess: `path` and `message`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The JSON path of the field, when the Marketplace names one (`name`, `compatibilities[0]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What is wrong with it.
    #[serde(default)]
    pub message: String,
}

/// What went wrong talking to the Marketplace for a publish. URLs are shown without credentials
/// or query.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The client could not be built (a bad proxy).
    #[error(transparent)]
    Client(#[from] HttpError),
    /// The Marketplace URL would send the credentials in clear text.
    #[error("the Marketplace URL `{url}` uses plain `http://` to a host that is not loopback: the API token would cross the network unencrypted")]
    PlainHttp { url: String },
    /// A request got no answer.
    #[error("{call} failed: {failure}")]
    Request {
        call: Call,
        failure: TransportFailure,
    },
    /// An answer's body could not be read.
    #[error("{call} failed: {reason}")]
    Body { call: Call, reason: String },
    /// An answer that is not what the API documents.
    #[error("{call} answered {status}: {body}")]
    Status {
        call: Call,
        status: StatusCode,
        body: String,
    },
    /// A body that does not read as the API documents it.
    #[error("{call} answered with a body upmsync cannot read: {reason}")]
    Decode { call: Call, reason: String },
    /// A link the discovery chain needs is missing or unusable.
    #[error("{call} answered without a usable `{rel}` link")]
    MissingLink { call: Call, rel: String },
    /// A link points away from the Marketplace, where the credentials must not go.
    #[error("{call} answered a `{rel}` link to another host (`{href}`); upmsync sends the credentials only to the Marketplace at {marketplace}")]
    ForeignLink {
        call: Call,
        rel: String,
        href: String,
        marketplace: String,
    },
    /// A redirect the client did not follow: to another origin, where the credentials must not go.
    #[error("{call} answered {status}, a redirect to `{location}`, which upmsync does not follow: the credentials go only to the Marketplace at {marketplace}")]
    Redirect {
        call: Call,
        status: StatusCode,
        location: String,
        marketplace: String,
    },
    /// 401 or 403: the credentials were refused.
    #[error("{call} answered {status}: the Marketplace refused the credentials{}", if body.is_empty() { String::new() } else { format!(" ({body})") })]
    Credentials {
        call: Call,
        status: StatusCode,
        body: String,
    },
    /// The listing does not exist (404 on `byKey`).
    #[error("the Marketplace at {marketplace} has no listing `{key}`")]
    NoListing { key: String, marketplace: String },
    /// The Marketplace refused a request field by field (400 with `errors[]`).
    #[error("{call} was refused ({status}):{}", field_lines(errors))]
    Refused {
        call: Call,
        status: StatusCode,
        errors: Vec<FieldError>,
    },
}

/// `errors` as lines `  path: message`, each on a line of its own after the message.
fn field_lines(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|error| match &error.path {
            Some(path) => format!("\n  {path}: {}", error.message),
            None => format!("\n  {}", error.message),
        })
        .collect()
}

impl PublishError {
    /// What the user can do about this error, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PublishError::Request { failure, .. } => return failure.hint(),
            PublishError::PlainHttp { .. } => "use the Marketplace's `https://` URL".into(),
            PublishError::Credentials { .. } => "check MARKETPLACE_EMAIL (the Atlassian account's email) and MARKETPLACE_API_TOKEN (an API token from id.atlassian.com, Security, API tokens); the account must be a contact of the listing's vendor with the right to manage it".into(),
            PublishError::NoListing { .. } => "publish adds a version to an existing listing: create the listing on the Marketplace's website first, and check the key".into(),
            PublishError::ForeignLink { .. } | PublishError::Redirect { .. } => "check `--marketplace-url` (the Marketplace's own address, not one that redirects) and any proxy in front of the Marketplace".into(),
            PublishError::Status { status, .. } if *status == StatusCode::NOT_FOUND => "check `--marketplace-url`: it must be the Marketplace's address, whose `/rest/2` is the API's root".into(),
            _ => return None,
        })
    }
}

/// Where a listing's resources are, found by walking links from `/rest/2` (§2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The listing's key.
    pub key: String,
    /// The listing's id (the numeric string of `/apps/{id}` URLs), when the body has one.
    pub id: Option<String>,
    /// The listing's name, when the body has one.
    pub name: Option<String>,
    /// Where artifacts are uploaded: the assets' `artifact` link (§6).
    pub artifact_upload: Url,
    /// The versions collection, without query: read with `limit=0` for the templates and POSTed
    /// to for a create (§3).
    pub versions: Url,
    /// The `byName` template (`…/versions/name/{name}{?hosting}`).
    pub by_name: String,
    /// The `byBuild` template (`…/versions/build/{pluginBuildNumber}`).
    pub by_build: String,
    /// The `latest` template (`…/versions/latest{?…}`).
    pub latest: String,
}

/// The parts of an AddonVersion (§4) a publish reads: to check, to copy compatibility from, and
/// to report what was created.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PublishedVersion {
    /// The version's name.
    pub name: String,
    /// The version's build number (§4: the listing's sort key).
    #[serde(rename = "buildNumber", default)]
    pub build_number: Option<u64>,
    /// `public`, `private`, `submitted` or `rejected` (§4).
    #[serde(default)]
    pub status: Option<String>,
    /// The product build ranges it supports.
    #[serde(default)]
    pub compatibilities: Vec<VersionCompatibility>,
    /// `free`, `vendor` or `atlassian` (§4).
    #[serde(rename = "paymentModel", default)]
    pub payment_model: Option<String>,
    #[serde(rename = "_links", default)]
    links: VersionLinks,
}

impl PublishedVersion {
    /// The web page of the version (`_links.alternate`, text/html), else its API resource
    /// (`_links.self`), as an absolute URL on `base`.
    pub fn page(&self, base: &Url) -> Option<Url> {
        let href = any_href(self.links.alternate.as_ref())
            .or_else(|| any_href(self.links.self_link.as_ref()))?;
        base.join(&href).ok()
    }
}

/// The `href` of a link object, or of the first object of an array of them; `None` for any other
/// shape (the links are read tolerantly: a version's body must not fail on them).
fn any_href(link: Option<&serde_json::Value>) -> Option<String> {
    let link = link?;
    let object = match link {
        serde_json::Value::Array(items) => items.first()?,
        object => object,
    };
    object.get("href")?.as_str().map(str::to_string)
}

#[derive(Clone, Debug, Default, Deserialize)]
struct VersionLinks {
    #[serde(rename = "self", default)]
    self_link: Option<serde_json::Value>,
    #[serde(default)]
    alternate: Option<serde_json::Value>,
}

/// The answer of an upload: the asset's own link (§6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedAsset {
    /// `_links.self.href` as the Marketplace gave it (relative, with `%2F`): what the create's
    /// `_links.artifact.href` names.
    pub href: String,
}

/// How a create ended when it did not fail.
#[derive(Clone, Debug)]
pub struct Created {
    /// The created version as read back (from `Location`, or by name after a lost answer).
    pub version: PublishedVersion,
    /// Whether the create's answer was lost and the version found by reading the listing again.
    pub answer_lost: Option<String>,
    /// Why the created version could not be read back (it was created; the report then shows
    /// what was sent).
    pub read_back_failed: Option<String>,
}

/// Why a create has no answer, and whether the version then exists.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// A definite refusal or an error before anything could be stored.
    #[error(transparent)]
    Publish(PublishError),
    /// The answer was lost and the listing has no version of that name: nothing was created.
    #[error("the answer to creating version `{name}` was lost ({why}), and the listing has no version `{name}`: nothing was created")]
    NotCreated { name: String, why: String },
    /// The answer was lost and the listing has a version of that name, but not ours.
    #[error("the answer to creating version `{name}` was lost ({why}), and the listing now has a version `{name}` with build number {found}, not {build_number}")]
    Other {
        name: String,
        why: String,
        build_number: u64,
        found: String,
    },
    /// The answer was lost and the listing could not be read again to tell.
    #[error("the answer to creating version `{name}` was lost ({why}), and reading the listing again failed: upmsync cannot tell whether the version was created")]
    Unknown {
        name: String,
        why: String,
        #[source]
        source: PublishError,
    },
}

impl CreateError {
    /// What the user can do about this error, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            CreateError::Publish(error) => return error.hint(),
            CreateError::NotCreated { .. } => "it is safe to run the same publish again".into(),
            CreateError::Other { .. } => "someone else published that name meanwhile; check the listing's version history".into(),
            CreateError::Unknown { .. } => "check the listing's version history before running publish again (a second run refuses a name that exists)".into(),
        })
    }
}

/// A client of the Marketplace's publishing API, for one run.
#[derive(Clone, Debug)]
pub struct Publisher {
    http: reqwest::Client,
    base: Url,
    credentials: Option<PublisherCredentials>,
    settings: HttpSettings,
}

impl Publisher {
    /// A client for the Marketplace at `base`, acting as `credentials` (anonymous when `None`:
    /// reads only, for `--dry-run`).
    ///
    /// # Errors
    ///
    /// [`PublishError::PlainHttp`] for plain `http://` to a host that is not loopback; a client
    /// that cannot be built.
    pub fn new(
        base: &Url,
        credentials: Option<PublisherCredentials>,
        settings: &HttpSettings,
    ) -> Result<Self, PublishError> {
        if base.scheme() != "https" && !crate::http::tls::is_loopback(base) {
            return Err(PublishError::PlainHttp {
                url: redact_url(base),
            });
        }
        let http = crate::http::client(settings, Profile::Publisher)?;
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self {
            http,
            base,
            credentials,
            settings: settings.clone(),
        })
    }

    /// The Marketplace's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Whether requests carry credentials (and so see private versions).
    pub fn authenticated(&self) -> bool {
        self.credentials.is_some()
    }

    /// Walks `/rest/2` → assets and addons → `byKey(key)` → the versions' templates (§2).
    ///
    /// # Errors
    ///
    /// [`PublishError::NoListing`] when `byKey` answers 404; missing or foreign links; the
    /// requests' own failures.
    pub async fn discover(&self, key: &str) -> Result<Listing, PublishError> {
        // The one path upmsync knows: the API's root (§2); everything else comes from links.
        let root_url = self.on_origin(&Call::get(self.base.clone()), "root", "rest/2")?;
        let root: Links = self.need(&root_url).await?;
        let assets_url = self.link(&root_url, &root.links, "assets")?;
        let addons_url = self.link(&root_url, &root.links, "addons")?;
        let assets: Links = self.need(&assets_url).await?;
        let artifact_upload = self.link(&assets_url, &assets.links, "artifact")?;
        let mut addons_zero = addons_url.clone();
        addons_zero.query_pairs_mut().append_pair("limit", "0");
        let addons: Links = self.need(&addons_zero).await?;
        let by_key = self.template(&addons_zero, &addons.links, "byKey")?;
        let listing_url = self.expand(&addons_zero, "byKey", &by_key, &[("addonKey", key)])?;
        let Some(listing) = self.get::<ListingBody>(&listing_url).await? else {
            return Err(PublishError::NoListing {
                key: key.to_string(),
                marketplace: redact_url(&self.base),
            });
        };
        let mut versions = self.link(&listing_url, &listing.links, "versions")?;
        versions.set_query(None);
        let mut versions_zero = versions.clone();
        versions_zero.query_pairs_mut().append_pair("limit", "0");
        let templates: Links = self.need(&versions_zero).await?;
        Ok(Listing {
            key: key.to_string(),
            id: listing.id,
            name: listing.name,
            artifact_upload,
            by_name: self.template(&versions_zero, &templates.links, "byName")?,
            by_build: self.template(&versions_zero, &templates.links, "byBuild")?,
            latest: self.template(&versions_zero, &templates.links, "latest")?,
            versions,
        })
    }

    /// The version named `name`, private ones included when authenticated; `None` when there is
    /// none.
    pub async fn version_by_name(
        &self,
        listing: &Listing,
        name: &str,
    ) -> Result<Option<PublishedVersion>, PublishError> {
        let url = self.versions_url(listing, "byName", &listing.by_name, &[("name", name)])?;
        self.get(&url).await
    }

    /// The version with build number `build`, private ones included when authenticated.
    pub async fn version_by_build(
        &self,
        listing: &Listing,
        build: u64,
    ) -> Result<Option<PublishedVersion>, PublishError> {
        let build = build.to_string();
        let url = self.versions_url(
            listing,
            "byBuild",
            &listing.by_build,
            &[("pluginBuildNumber", &build)],
        )?;
        self.get(&url).await
    }

    /// The listing's latest version (by build number), private ones included when authenticated.
    pub async fn latest(
        &self,
        listing: &Listing,
    ) -> Result<Option<PublishedVersion>, PublishError> {
        let url = self.versions_url(listing, "latest", &listing.latest, &[])?;
        self.get(&url).await
    }

    /// Uploads `path` as `file_name` (§6): `POST <artifact>?file=NAME`, octet-stream, the body
    /// streamed from the file (never held in memory). Sent once: an upload is a write.
    ///
    /// # Errors
    ///
    /// The request's failure, a refusal (`errors[]`), refused credentials, or an answer without
    /// the asset's link.
    pub async fn upload(
        &self,
        listing: &Listing,
        path: &Path,
        file_name: &str,
    ) -> Result<UploadedAsset, PublishError> {
        let mut url = listing.artifact_upload.clone();
        url.query_pairs_mut().append_pair("file", file_name);
        let call = Call::new(Method::POST, url.clone());
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|error| PublishError::Body {
                call: call.clone(),
                reason: format!("cannot read `{}`: {error}", path.display()),
            })?;
        let length = file
            .metadata()
            .await
            .map_err(|error| PublishError::Body {
                call: call.clone(),
                reason: format!("cannot read `{}`: {error}", path.display()),
            })?
            .len();
        let request = self
            .request(Method::POST, url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, length)
            .timeout(self.settings.transfer_timeout)
            // Streamed from disk in chunks as it is sent, with live progress at a terminal.
            .body(crate::http::upload::file_body(
                file,
                length,
                file_name,
                &self.settings.notices,
            ));
        let response = self.send_write(request, &call).await?;
        let response = self.accept(response, &call).await?;
        let text = self.body_text(response, &call).await?;
        let asset: Links = decode(&text, &call)?;
        let href = asset
            .links
            .get("self")
            .and_then(|link| link.href.clone())
            .ok_or_else(|| PublishError::MissingLink {
                call: call.clone(),
                rel: "self".into(),
            })?;
        Ok(UploadedAsset { href })
    }

    /// Creates the version (§3): `POST <versions>` with `document`, sent once. A 201 is read back
    /// from its `Location`; an answer that is lost (no answer, a timeout, a 5xx) is settled by
    /// reading the listing by name: the version there with `build_number` is a success.
    ///
    /// # Errors
    ///
    /// [`CreateError`]: a refusal, or a lost answer with no (or another) version of that name.
    pub async fn create(
        &self,
        listing: &Listing,
        document: &serde_json::Value,
        name: &str,
        build_number: u64,
    ) -> Result<Created, CreateError> {
        let call = Call::new(Method::POST, listing.versions.clone());
        let body = serde_json::to_vec(document).map_err(|error| {
            CreateError::Publish(PublishError::Decode {
                call: call.clone(),
                reason: error.to_string(),
            })
        })?;
        let request = self
            .request(Method::POST, listing.versions.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let lost = match self.send_write(request, &call).await {
            Err(PublishError::Request { failure, .. }) => failure.to_string(),
            Err(error) => return Err(CreateError::Publish(error)),
            Ok(response) if response.status().is_server_error() => {
                format!("it answered {}", response.status())
            }
            Ok(response) => {
                let status = response.status();
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string);
                self.accept(response, &call)
                    .await
                    .map_err(CreateError::Publish)?;
                tracing::debug!(%status, ?location, "version created");
                // Created: a read-back that fails is a warning, never an error (a rerun would
                // refuse the name, and the user would think nothing was published).
                let (version, read_back_failed) = match self
                    .read_back(listing, location.as_deref(), name, build_number)
                    .await
                {
                    Ok(version) => (version, None),
                    Err(error) => (
                        PublishedVersion {
                            name: name.to_string(),
                            build_number: Some(build_number),
                            ..PublishedVersion::default()
                        },
                        Some(crate::error::chain_text(&error)),
                    ),
                };
                return Ok(Created {
                    version,
                    answer_lost: None,
                    read_back_failed,
                });
            }
        };
        // guess: a 5xx or a lost connection after the body was sent may still have stored the
        // version; only the listing can tell.
        match self.version_by_name(listing, name).await {
            Ok(Some(version)) if version.build_number == Some(build_number) => Ok(Created {
                version,
                answer_lost: Some(lost),
                read_back_failed: None,
            }),
            Ok(Some(version)) => Err(CreateError::Other {
                name: name.to_string(),
                why: lost,
                build_number,
                found: version
                    .build_number
                    .map_or_else(|| "(none)".to_string(), |build| build.to_string()),
            }),
            Ok(None) => Err(CreateError::NotCreated {
                name: name.to_string(),
                why: lost,
            }),
            Err(source) => Err(CreateError::Unknown {
                name: name.to_string(),
                why: lost,
                source,
            }),
        }
    }

    /// Reads the created version from `Location` (§3, relative), else by its build number.
    async fn read_back(
        &self,
        listing: &Listing,
        location: Option<&str>,
        name: &str,
        build_number: u64,
    ) -> Result<PublishedVersion, PublishError> {
        let read = match location {
            Some(href) => {
                let call = Call::new(Method::POST, listing.versions.clone());
                let mut url = self.on_origin(&call, "Location", href)?;
                if self.authenticated() {
                    url.query_pairs_mut().append_pair("includePrivate", "true");
                }
                self.get::<PublishedVersion>(&url).await?
            }
            None => self.version_by_build(listing, build_number).await?,
        };
        // The create succeeded; a read-back that finds nothing still reports what was sent.
        Ok(read.unwrap_or_else(|| PublishedVersion {
            name: name.to_string(),
            build_number: Some(build_number),
            ..PublishedVersion::default()
        }))
    }

    /// A template of the versions resource expanded, with `includePrivate=true` when
    /// authenticated (§1: private versions need both).
    fn versions_url(
        &self,
        listing: &Listing,
        rel: &str,
        template: &str,
        values: &[(&str, &str)],
    ) -> Result<Url, PublishError> {
        let mut url = self.expand(&listing.versions, rel, template, values)?;
        if self.authenticated() {
            url.query_pairs_mut().append_pair("includePrivate", "true");
        }
        Ok(url)
    }

    /// A request to the Marketplace, with the credentials when there are some (every URL has been
    /// checked to be on the Marketplace's origin).
    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let same_origin = url.origin() == self.base.origin();
        let request = self
            .http
            .request(method, url)
            .header(ACCEPT, "application/json");
        match &self.credentials {
            Some(credentials) if same_origin => {
                request.basic_auth(&credentials.email, Some(credentials.token.expose()))
            }
            _ => request,
        }
    }

    /// Sends a write once, within the caps on requests in flight.
    async fn send_write(
        &self,
        request: RequestBuilder,
        call: &Call,
    ) -> Result<Response, PublishError> {
        tracing::debug!(request = %call, "marketplace write");
        let _permit = self.settings.limits.request(&call.url).await;
        crate::http::send_on_runtime(request)
            .await
            .map_err(|error| PublishError::Request {
                call: call.clone(),
                failure: TransportFailure::of(&error),
            })
    }

    /// A success answer as it is; any other as its error: 400 with `errors[]` field by field,
    /// 401/403 the credentials, anything else its status and an excerpt.
    async fn accept(&self, response: Response, call: &Call) -> Result<Response, PublishError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.is_redirection() {
            // The client follows redirects within the Marketplace's origin only (`Profile::Publisher`).
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            return Err(PublishError::Redirect {
                call: call.clone(),
                status,
                location: excerpt(location),
                marketplace: redact_url(&self.base),
            });
        }
        let text = body::error_text(response, self.settings.request_timeout).await;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let messages = field_errors(&text)
                .map(|errors| {
                    errors
                        .into_iter()
                        .map(|error| error.message)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            return Err(PublishError::Credentials {
                call: call.clone(),
                status,
                body: excerpt(&messages),
            });
        }
        if status.is_client_error() {
            if let Some(errors) = field_errors(&text).filter(|errors| !errors.is_empty()) {
                return Err(PublishError::Refused {
                    call: call.clone(),
                    status,
                    errors: errors
                        .into_iter()
                        .map(|error| FieldError {
                            path: error.path.map(|path| excerpt(&path)),
                            message: excerpt(&error.message),
                        })
                        .collect(),
                });
            }
        }
        Err(PublishError::Status {
            call: call.clone(),
            status,
            body: excerpt(&text),
        })
    }

    async fn body_text(&self, response: Response, call: &Call) -> Result<String, PublishError> {
        body::read_text(
            response,
            body::MAX_JSON_BYTES,
            self.settings.request_timeout,
        )
        .await
        .map_err(|error| PublishError::Body {
            call: call.clone(),
            reason: error.to_string(),
        })
    }

    /// GETs `url` as `T`, retrying as reads do; `None` on 404 or 204 (§1).
    async fn get<T: for<'de> Deserialize<'de>>(
        &self,
        url: &Url,
    ) -> Result<Option<T>, PublishError> {
        let call = Call::get(url.clone());
        tracing::debug!(request = %call, "marketplace request");
        let request = self.request(Method::GET, url.clone());
        let response = crate::http::send_read_within(request, &self.settings, &call)
            .await
            .map_err(|error| PublishError::Request {
                call: call.clone(),
                failure: TransportFailure::of(&error),
            })?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let response = self.accept(response, &call).await?;
        let text = self.body_text(response, &call).await?;
        decode(&text, &call).map(Some)
    }

    /// [`Publisher::get`] where a 404 is an error too.
    async fn need<T: for<'de> Deserialize<'de>>(&self, url: &Url) -> Result<T, PublishError> {
        self.get(url).await?.ok_or_else(|| PublishError::Status {
            call: Call::get(url.clone()),
            status: StatusCode::NOT_FOUND,
            body: String::new(),
        })
    }

    /// The plain link `rel` of `links`, resolved and checked to be on the Marketplace's origin.
    fn link(
        &self,
        at: &Url,
        links: &std::collections::BTreeMap<String, LinkValue>,
        rel: &str,
    ) -> Result<Url, PublishError> {
        let call = Call::get(at.clone());
        // A link marked templated with only query expressions (`…/versions{?offset,limit}`) is
        // the resource itself; a simple expression left open is no usable link.
        let href = links
            .get(rel)
            .and_then(|link| link.href.as_deref())
            .and_then(|href| expand_template(href, &[]))
            .ok_or_else(|| PublishError::MissingLink {
                call: call.clone(),
                rel: rel.to_string(),
            })?;
        self.on_origin(&call, rel, &href)
    }

    /// The template `rel` of `links`, as text (checked when expanded).
    fn template(
        &self,
        at: &Url,
        links: &std::collections::BTreeMap<String, LinkValue>,
        rel: &str,
    ) -> Result<String, PublishError> {
        links
            .get(rel)
            .and_then(|link| link.href.clone())
            .ok_or_else(|| PublishError::MissingLink {
                call: Call::get(at.clone()),
                rel: rel.to_string(),
            })
    }

    fn expand(
        &self,
        at: &Url,
        rel: &str,
        template: &str,
        values: &[(&str, &str)],
    ) -> Result<Url, PublishError> {
        let call = Call::get(at.clone());
        let href = expand_template(template, values).ok_or_else(|| PublishError::MissingLink {
            call: call.clone(),
            rel: rel.to_string(),
        })?;
        self.on_origin(&call, rel, &href)
    }

    /// `href` resolved against the Marketplace, refused when it leaves its origin.
    fn on_origin(&self, call: &Call, rel: &str, href: &str) -> Result<Url, PublishError> {
        match self.base.join(href) {
            Ok(url) if url.origin() == self.base.origin() => Ok(url),
            _ => Err(PublishError::ForeignLink {
                call: call.clone(),
                rel: rel.to_string(),
                href: excerpt(href),
                marketplace: redact_url(&self.base),
            }),
        }
    }
}

fn decode<T: for<'de> Deserialize<'de>>(text: &str, call: &Call) -> Result<T, PublishError> {
    serde_json::from_str(text).map_err(|error| PublishError::Decode {
        call: call.clone(),
        reason: error.to_string(),
    })
}

/// The `errors[]` of an error body (§1), if it has one.
fn field_errors(text: &str) -> Option<Vec<FieldError>> {
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(default)]
        errors: Vec<FieldError>,
    }
    serde_json::from_str::<ErrorBody>(text)
        .ok()
        .map(|body| body.errors)
}

/// Expands an RFC 6570 template as the Marketplace's links use them (§1): each `{name}` becomes
/// its value, percent-encoded as a path segment; each `{?…}`/`{&…}` query expression is dropped
/// (callers append the parameters they send). `None` when a simple expression has no value.
pub fn expand_template(template: &str, values: &[(&str, &str)]) -> Option<String> {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let mut expanded = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        expanded.push_str(&rest[..open]);
        let close = rest[open..].find('}')? + open;
        let expression = &rest[open + 1..close];
        if !expression.starts_with(['?', '&']) {
            let value = values
                .iter()
                .find(|(name, _)| *name == expression)
                .map(|(_, value)| *value)?;
            expanded.extend(percent_encoding::utf8_percent_encode(value, SEGMENT));
        }
        rest = &rest[close + 1..];
    }
    expanded.push_str(rest);
    Some(expanded)
}

/// A resource's `_links`: rel → link (arrays take their JSON entry).
#[derive(Clone, Debug, Default, Deserialize)]
struct Links {
    #[serde(rename = "_links", default)]
    links: std::collections::BTreeMap<String, LinkValue>,
}

/// A listing (`byKey`): its links, id and name.
#[derive(Clone, Debug, Default, Deserialize)]
struct ListingBody {
    #[serde(rename = "_links", default)]
    links: std::collections::BTreeMap<String, LinkValue>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// One link: an object, or an array of them whose JSON entry is taken (§7). Other shapes read as
/// no link.
#[derive(Clone, Debug, Default)]
struct LinkValue {
    href: Option<String>,
}

impl<'de> Deserialize<'de> for LinkValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let pick = |object: &serde_json::Value| {
            let json = object
                .get("type")
                .and_then(|kind| kind.as_str())
                .is_none_or(|kind| kind == "application/json");
            json.then(|| object.get("href")?.as_str().map(str::to_string))
                .flatten()
        };
        let href = match &value {
            serde_json::Value::Array(items) => items.iter().find_map(pick),
            object => pick(object),
        };
        Ok(Self { href })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_simple_expressions_and_drop_query_ones() {
        assert_eq!(
            expand_template(
                "/rest/2/addons/{addonKey}",
                &[("addonKey", "com.example.app")]
            )
            .as_deref(),
            Some("/rest/2/addons/com.example.app")
        );
        assert_eq!(
            expand_template(
                "/rest/2/addons/k/versions/name/{name}{?hosting}",
                &[("name", "1.0 beta/2")]
            )
            .as_deref(),
            Some("/rest/2/addons/k/versions/name/1.0%20beta%2F2")
        );
        assert_eq!(
            expand_template(
                "/rest/2/addons/k/versions/latest{?afterVersion,application,includePrivate}",
                &[]
            )
            .as_deref(),
            Some("/rest/2/addons/k/versions/latest")
        );
        assert_eq!(expand_template("/a/{missing}", &[]), None);
        assert_eq!(expand_template("/a/{unclosed", &[]), None);
    }

    #[test]
    fn field_errors_show_one_line_each() {
        let errors =
            field_errors(r#"{"errors":[{"path":"name","message":"a version named `1.0` already exists"},{"message":"bad"}]}"#)
                .unwrap();
        assert_eq!(
            field_lines(&errors),
            "\n  name: a version named `1.0` already exists\n  bad"
        );
        assert_eq!(field_errors("<html>"), None);
    }

    #[test]
    fn the_real_versions_collection_has_the_templates_publish_walks() {
        let body =
            include_str!("../../tests/fixtures/marketplace/addon-versions-collection-limit0.json");
        let links: Links = serde_json::from_str(body).unwrap();
        let template = |rel: &str| links.links[rel].href.clone().unwrap();
        assert_eq!(
            expand_template(&template("byName"), &[("name", "1.2.3")]).as_deref(),
            Some("/rest/2/addons/org.marvelution.buildsupport.test.simple-app/versions/name/1.2.3")
        );
        assert_eq!(
            expand_template(&template("byBuild"), &[("pluginBuildNumber", "100200300")]).as_deref(),
            Some("/rest/2/addons/org.marvelution.buildsupport.test.simple-app/versions/build/100200300")
        );
        assert_eq!(
            expand_template(&template("latest"), &[]).as_deref(),
            Some("/rest/2/addons/org.marvelution.buildsupport.test.simple-app/versions/latest")
        );
        let version: PublishedVersion = serde_json::from_str(include_str!(
            "../../tests/fixtures/marketplace/addon-version-build-1.json"
        ))
        .unwrap();
        assert_eq!(
            (version.name.as_str(), version.build_number),
            ("0.1.0", Some(1))
        );
        assert_eq!(version.status.as_deref(), Some("private"));
        let page = version.page(&Url::parse("https://marketplace.atlassian.com/").unwrap());
        assert_eq!(
            page.map(String::from).as_deref(),
            Some("https://marketplace.atlassian.com/apps/1211376/simple-app/version-history#b1")
        );
        // Links of other shapes never fail the body.
        let odd: PublishedVersion = serde_json::from_str(
            r#"{"name":"1.0","_links":{"self":3,"alternate":[{"href":"/apps/1/x","type":"text/html"}]}}"#,
        )
        .unwrap();
        let base = Url::parse("https://marketplace.atlassian.com/").unwrap();
        assert_eq!(
            odd.page(&base).map(String::from).as_deref(),
            Some("https://marketplace.atlassian.com/apps/1/x")
        );
    }

    #[test]
    fn links_read_objects_and_arrays() {
        let links: Links = serde_json::from_str(
            r#"{"_links":{"self":{"href":"/rest/2"},"next":[{"href":"/search","type":"text/html"},{"href":"/rest/2/x"}],"odd":3}}"#,
        )
        .unwrap();
        assert_eq!(links.links["self"].href.as_deref(), Some("/rest/2"));
        assert_eq!(links.links["next"].href.as_deref(), Some("/rest/2/x"));
        assert_eq!(links.links["odd"].href, None);
    }

    #[test]
    fn plain_http_is_refused_except_to_loopback() {
        let settings = HttpSettings::default();
        let remote = Url::parse("http://marketplace.example.com/").unwrap();
        assert!(matches!(
            Publisher::new(&remote, None, &settings),
            Err(PublishError::PlainHttp { .. })
        ));
        for url in [
            "http://127.0.0.1:2991/",
            "https://marketplace.atlassian.com",
        ] {
            let publisher = Publisher::new(&Url::parse(url).unwrap(), None, &settings).unwrap();
            assert!(publisher.base().path().ends_with('/'));
        }
    }

    #[test]
    fn links_off_the_origin_are_refused() {
        let publisher = Publisher::new(
            &Url::parse("https://marketplace.atlassian.com/").unwrap(),
            None,
            &HttpSettings::default(),
        )
        .unwrap();
        let call = Call::get(publisher.base().clone());
        assert!(publisher.on_origin(&call, "x", "/rest/2/assets").is_ok());
        for href in [
            "https://evil.example.com/rest/2/assets",
            "http://marketplace.atlassian.com/rest/2/assets",
            "https://marketplace.atlassian.com:8443/rest/2/assets",
        ] {
            assert!(matches!(
                publisher.on_origin(&call, "assets", href),
                Err(PublishError::ForeignLink { .. })
            ));
        }
    }

    #[test]
    fn credentials_are_registered_for_scrubbing_in_their_basic_form() {
        use base64::Engine;
        let credentials =
            PublisherCredentials::new("vendor@example.com", "unit-test-token-1234567");
        let basic = base64::engine::general_purpose::STANDARD
            .encode("vendor@example.com:unit-test-token-1234567");
        let text = format!("echo unit-test-token-1234567 and Basic {basic}");
        let scrubbed = crate::scrub::scrub(&text);
        assert!(!scrubbed.contains("unit-test-token-1234567"), "{scrubbed}");
        assert!(!scrubbed.contains(&basic), "{scrubbed}");
        assert!(!format!("{credentials:?}").contains("unit-test"));
    }
}
