//! What can go wrong talking to UPM ([`UpmError`]), with the advice for each case as a value
//! ([`UpmError::hint`]) rather than part of the message.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use url::Url;

use super::diagnose::WebPageKind;
use crate::http::{Call, HttpError, TransportFailure};
use crate::model::{AppKey, Product};

/// What went wrong talking to UPM. Every variant names the request without credentials or tokens.
#[derive(Debug, thiserror::Error)]
pub enum UpmError {
    /// The client for the instance could not be built (a bad `ca_file`, a bad proxy).
    #[error(transparent)]
    Client(#[from] HttpError),
    /// The request got no (whole) HTTP answer.
    #[error("{call} failed: {failure}")]
    Request {
        call: Call,
        failure: TransportFailure,
    },
    /// The answer's body did not arrive whole in time.
    #[error("{call} failed: {reason}")]
    Body { call: Call, reason: String },
    #[error("{call} answered {status}, a redirect to {location}")]
    Redirect {
        call: Call,
        status: StatusCode,
        location: String,
    },
    #[error("{call} answered {status} with a web page ({}{}) instead of UPM's JSON", kind.name(), title.as_ref().map(|title| format!(": \"{title}\"")).unwrap_or_default())]
    WebPage {
        call: Call,
        status: StatusCode,
        kind: WebPageKind,
        /// The page's `<title>` (or a short excerpt of its text), never the whole page.
        title: Option<String>,
    },
    #[error("{call} answered {status}: UPM demands a secure administrator session (WebSudo, `upm.websudo.error`)")]
    WebSudo { call: Call, status: StatusCode },
    #[error("{call} answered {status}: {body}")]
    Permission {
        call: Call,
        status: StatusCode,
        body: String,
    },
    #[error("{call} answered 403: UPM refused the upm-token (`upm.error.invalid.token`), also a fresh one")]
    InvalidToken { call: Call },
    #[error("{call} answered 413 Request Entity Too Large{}: something in front of UPM (a reverse proxy) refuses a body this large", size.map(|bytes| format!(" for {bytes} bytes")).unwrap_or_default())]
    TooLarge {
        call: Call,
        /// The size of the body sent, in bytes, when known.
        size: Option<u64>,
    },
    #[error("{call} answered 404: there is no UPM REST API at this URL{}", found.as_ref().map(|found| format!(", but there is one at {found}")).unwrap_or_default())]
    NoUpm {
        call: Call,
        /// A base URL with a context path where UPM did answer, when one was found.
        found: Option<String>,
    },
    #[error("{call} answered 429 Too Many Requests{}: the instance rate-limits REST calls", retry_after.map(|seconds| format!(" (Retry-After: {seconds} s)")).unwrap_or_default())]
    RateLimited {
        call: Call,
        /// The wait the answer asked for, in seconds.
        retry_after: Option<u64>,
    },
    #[error("{call} answered {status}: {body}")]
    Unauthorized {
        call: Call,
        status: StatusCode,
        body: String,
    },
    #[error("{call} answered {status}{}: {body}", sub_code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        call: Call,
        status: StatusCode,
        sub_code: Option<String>,
        body: String,
    },
    #[error("{call} answered with a body upmsync cannot read: {reason}")]
    Decode { call: Call, reason: String },
    #[error("UPM did not send an `upm-token` header on HEAD {url}")]
    MissingToken { url: String },
    #[error("the install task at {url} failed: {message}")]
    TaskFailed {
        url: String,
        message: String,
        /// The task's `subCode`, when it had one.
        sub_code: Option<String>,
    },
    #[error("UPM could not download the artifact {artifact} itself: the install task at {url} failed: {message}")]
    DownloadFailed {
        url: String,
        artifact: String,
        host: String,
        message: String,
    },
    #[error("the artifact for `{wanted}` installed app `{found}`{}: it is another app", version.as_ref().map(|version| format!(" {version}")).unwrap_or_default())]
    WrongApp {
        wanted: AppKey,
        found: AppKey,
        version: Option<String>,
    },
    #[error("the install task at {url} did not finish within {} seconds", timeout.as_secs())]
    TaskTimeout { url: String, timeout: Duration },
    #[error("UPM answered the install with a task link to another server ({url}) that is not under its REST API; refusing to send credentials there")]
    ForeignTaskLink { url: String },
    #[error("failed to read `{}` for upload", path.display())]
    ReadArtifact {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every endpoint that was asked failed (each shown with its causes; their hints are this
    /// error's).
    #[error("the product version could not be read: {}", errors.iter().map(|error| crate::error::causes_text(error)).collect::<Vec<_>>().join("; "))]
    ProductInfo { errors: Vec<UpmError> },
    /// The applinks manifest names another product than the manifest's `product` (a wrong
    /// `product`, or a `url` that leads to another server).
    #[error("{call} says this is {} ({evidence}), but the manifest says `product: {expected}`", found.map(|found| format!("a {}", found.title())).unwrap_or_else(|| "another product".into()))]
    ProductMismatch {
        call: Call,
        expected: Product,
        /// What told: the applinks manifest's `typeId`, or another product's own endpoint.
        evidence: String,
        /// The product `type_id` names, when it is one of the four upmsync knows.
        found: Option<Product>,
    },
    #[error("UPM refuses uploads: {body}")]
    UploadDisabled { body: String },
    #[error("UPM refused the artifact's signature: {body}")]
    SignatureCheck { body: String },
    #[error("UPM is in safe mode, so it cannot install or uninstall apps")]
    SafeMode,
    #[error("`{key}` is not installed after the install task reported success")]
    MissingAfterInstall { key: AppKey },
}

impl UpmError {
    /// The errors it holds besides its source (the endpoints a product-info read tried), whose
    /// hints are this error's ([`crate::error::hints`]).
    pub fn held(&self) -> Vec<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ProductInfo { errors } => errors.iter().map(|error| error as _).collect(),
            _ => Vec::new(),
        }
    }

    /// The request got no HTTP answer (timeout, reset): for a mutating request it may or may not
    /// have happened, so the state must be read again before deciding anything.
    pub fn is_lost_answer(&self) -> bool {
        match self {
            UpmError::Request { .. } | UpmError::Body { .. } => true,
            // A load balancer's 502/503/504 may come after the node made the change.
            UpmError::Status { call, status, .. } => {
                call.method != Method::GET && matches!(status.as_u16(), 502..=504)
            }
            _ => false,
        }
    }

    /// The UPM `subCode` of an error answer, if any.
    pub fn sub_code(&self) -> Option<&str> {
        match self {
            UpmError::Status { sub_code, .. } => sub_code.as_deref(),
            _ => None,
        }
    }

    /// What the user can do about this error, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            UpmError::Request { failure, .. } => return failure.hint(),
            UpmError::Redirect { call, location, .. } => redirect_hint(&call.url, location),
            UpmError::WebPage { kind, .. } => kind.hint().into(),
            UpmError::WebSudo { .. } => "scripts cannot open a WebSudo session: use a personal access token (Data Center), or switch secure administrator sessions off for the product (Jira: `-Djira.websudo.is.disabled=true`; Confluence: Security Configuration > Secure administrator sessions)".into(),
            UpmError::Permission { .. } => "the credentials work but the user lacks the permission: installing by upload and uninstalling need a system administrator, the other changes an administrator".into(),
            UpmError::InvalidToken { .. } => "on a Data Center cluster the token is node-local: the load balancer must keep a client on one node (sticky sessions; upmsync keeps its session and affinity cookies). Check the balancer's session affinity, or point `url` at one node".into(),
            UpmError::TooLarge { .. } => "raise the proxy's body limit (nginx `client_max_body_size`, Apache `LimitRequestBody`), or install by URI (`install: uri`) so UPM downloads the artifact itself".into(),
            UpmError::NoUpm { found, .. } => no_upm_hint(found.as_deref()),
            UpmError::RateLimited { .. } => "upmsync waits as `Retry-After` asks within `--retry-max-seconds` (and `--retries`); raise them, or ask an admin to exempt the upmsync user from rate limiting".into(),
            UpmError::Unauthorized { .. } => "check the credentials in the environment variables the manifest names for this instance (newer products refuse Basic auth on REST: use a personal access token, `token_env`), and that the user is an administrator".into(),
            UpmError::DownloadFailed { host, .. } => format!("UPM fetches install-by-URI artifacts from the product's own server: if that cannot reach `{host}` (a firewall, or no outbound proxy set for the product: `-Dhttps.proxyHost`/`-Dhttps.proxyPort`), use `install: upload` so upmsync downloads, verifies and uploads the artifact"),
            UpmError::WrongApp { found, .. } => format!("check the artifact's URL or file; `{found}` is now installed on the instance"),
            UpmError::UploadDisabled { .. } => "uploads are disabled by default since 2024 (`upm.plugin.upload.enabled`): start the product with `-Dupm.plugin.upload.enabled=true`, or install by URI (`install: uri`). With a sha256 pinned (in the manifest or the lock), `install: auto` uploads the verified bytes, because UPM's own download by URI could get other bytes; `install: uri` trusts that download instead".into(),
            UpmError::SignatureCheck { .. } => "UPM 8 checks app signatures: install signed artifacts (Marketplace ones are), or start the product with `-Datlassian.upm.signature.check.disabled=true`".into(),
            UpmError::ProductMismatch { found: Some(found), .. } => format!("if the instance is a {}, set its `product: {found}`; otherwise its `url` leads to another server than meant: check it", found.title()),
            UpmError::ProductMismatch { found: None, .. } => "upmsync manages Jira, Confluence, Bitbucket and Bamboo: check the instance's `url`".into(),
            UpmError::SafeMode => "exit safe mode on the Manage apps page (or `PUT /rest/plugins/1.0/safe-mode?keepState=true` with `{\"enabled\":false}`), then run apply again".into(),
            _ => return None,
        })
    }
}

fn redirect_hint(url: &Url, location: &str) -> String {
    let location_host = Url::parse(location)
        .ok()
        .and_then(|location| location.host_str().map(str::to_string));
    let same_host = url.host_str().map(str::to_string) == location_host;
    let lower = location.to_ascii_lowercase();
    if !same_host
        || lower.contains("saml")
        || lower.contains("sso")
        || lower.contains("oauth")
        || lower.contains("openid")
    {
        "the product sends the request to a login or single sign-on page: with SAML/OIDC SSO, let REST calls with Basic auth or a personal access token bypass the identity provider (Atlassian KB \"Bypass SAML authentication for Jira Data Center\"), and check the credentials".into()
    } else if url.scheme() == "http" && location.starts_with("https://") {
        "the server redirects to https: use the `https://` URL in the manifest".into()
    } else {
        "UPM answers its API directly; a redirect usually means a login page or a wrong base URL: check the instance's `url`, including the context path".into()
    }
}

fn no_upm_hint(found: Option<&str>) -> String {
    match found {
        Some(found) => format!("set the instance's `url` to `{found}`: the product runs under a context path"),
        None => "the instance's `url` probably lacks the product's context path (e.g. `/jira`, `/confluence`, `/wiki`, `/bitbucket`, `/bamboo`), or has one the product does not use, or names a proxy path that does not lead to the product; open the URL in a browser and use the address the product's pages have".into(),
    }
}
