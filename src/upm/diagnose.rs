//! Diagnoses of answers that are not what UPM would say: web pages (login, setup, upgrade,
//! maintenance: field-reports.md), a 404 where UPM should be (a missing context path), and the
//! platform's refusals of an install (upload gate, signature check, safe mode, a proxy's 413).

use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode};

use super::answer::Answer;
use super::client::{api_url, UpmClient};
use super::error::UpmError;
use super::install::InstallFrom;
use super::wire::media;
use crate::http::body::{self, collapse, excerpt};
use crate::http::Call;
use crate::model::redact_url;

impl UpmClient {
    /// Turns a 404 from UPM's collection or token request into [`UpmError::NoUpm`], after
    /// looking for UPM under the context paths products use by default.
    pub(super) async fn explain_not_found(&self, error: UpmError) -> UpmError {
        let call = match &error {
            UpmError::Status { call, status, .. } if *status == StatusCode::NOT_FOUND => {
                call.clone()
            }
            _ => return error,
        };
        let mut found = None;
        // The usual context paths, then the origin itself (Bitbucket and Bamboo often run at the
        // root, so a `url` with a context path can be the wrong one).
        for context in ["jira/", "confluence/", "wiki/", "bitbucket/", "bamboo/", ""] {
            let Ok(base) = self.base.join(&format!("/{context}")) else {
                continue;
            };
            if base == self.base {
                continue;
            }
            let api = api_url(&base);
            let request = self
                .request(Call::new(Method::HEAD, api), media::INSTALLED)
                .builder
                .timeout(Duration::from_secs(10));
            // A probe: one try each, and only on the instance's own origin.
            if let Ok(response) = request.send().await {
                if response.status().is_success() && response.headers().contains_key("upm-token") {
                    found = Some(redact_url(&base));
                    break;
                }
            }
        }
        UpmError::NoUpm { call, found }
    }
}

/// The kind of web page a product or proxy answered instead of UPM's JSON (field-reports.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebPageKind {
    /// The product's login page (Seraph): credentials refused, or a product upgrade waiting for
    /// an admin to log in once (field report: pluploader #91).
    Login,
    /// The product's setup wizard: the instance is not set up.
    Setup,
    /// An upgrade (or database upgrade) screen.
    Upgrade,
    /// A maintenance page, usually from a proxy while the node is down.
    Maintenance,
    /// Anything else: another application, a proxy's page.
    Other,
}

impl WebPageKind {
    /// The kind, in words (`a login page`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "a login page",
            Self::Setup => "the product's setup wizard",
            Self::Upgrade => "an upgrade screen",
            Self::Maintenance => "a maintenance page",
            Self::Other => "not UPM",
        }
    }

    /// What to do about such a page.
    pub fn hint(self) -> &'static str {
        match self {
            Self::Login => "the product did not accept the credentials for its REST API and showed its login page: check the user and password (or use a personal access token); after a product upgrade REST calls get this page until an admin logs in once in a browser",
            Self::Setup => "the product is not set up yet: finish its setup wizard, or check that `url` names the right instance",
            Self::Upgrade => "the product is upgrading, or waits for an admin to finish an upgrade: wait until it is done (log in once in a browser), then run again",
            Self::Maintenance => "the product, or a proxy in front of it, shows a maintenance page: the node is down or being maintained; run again when it is back",
            Self::Other => "this is not UPM: `url` may name a proxy's page or another application; check it, including the product's context path (e.g. `/jira`, `/wiki`)",
        }
    }

    /// Classifies a page by the login header Jira sends and the page's words.
    pub(super) fn of(status: StatusCode, headers: &HeaderMap, text: &str) -> Self {
        let login_reason = headers
            .get("x-seraph-loginreason")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_ascii_uppercase();
        let head: String = text.chars().take(20_000).collect::<String>().to_lowercase();
        let title = page_title(text).unwrap_or_default().to_lowercase();
        if login_reason.contains("DENIED") || login_reason.contains("FAILED") {
            return Self::Login;
        }
        if status == StatusCode::SERVICE_UNAVAILABLE || title.contains("maintenance") {
            return Self::Maintenance;
        }
        if title.contains("set up") || title.contains("setup") || head.contains("setup wizard") {
            return Self::Setup;
        }
        if title.contains("upgrad") || head.contains("upgrade in progress") {
            return Self::Upgrade;
        }
        if title.contains("log in")
            || title.contains("login")
            || head.contains("os_username")
            || head.contains("login-form")
        {
            return Self::Login;
        }
        if head.contains("maintenance") {
            return Self::Maintenance;
        }
        Self::Other
    }
}

/// Passes a response through unless it is a web page (`text/html` that is not UPM's
/// `<textarea>`-wrapped JSON, §5.7); a page becomes [`UpmError::WebPage`], with its title only.
pub(super) async fn web_page(answer: Answer) -> Result<Answer, Box<UpmError>> {
    let Answer {
        call,
        response,
        deadline,
    } = answer;
    let is_html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().contains("html"));
    let status = response.status();
    // Answers whose status says more than their page: redirects, a proxy's 413, rate limits
    // (a 429, or a 503 with `Retry-After`) are explained by their status, later.
    let explained_by_status = status.is_redirection()
        || status == StatusCode::PAYLOAD_TOO_LARGE
        || status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::SERVICE_UNAVAILABLE
            && response.headers().contains_key(RETRY_AFTER));
    if !is_html || explained_by_status {
        return Ok(Answer {
            call,
            response,
            deadline,
        });
    }
    let headers = response.headers().clone();
    let text = body::error_text(response, deadline).await;
    if text.trim_start().starts_with("<textarea>") {
        let mut rebuilt = ::http::Response::new(text);
        *rebuilt.status_mut() = status;
        *rebuilt.headers_mut() = headers;
        return Ok(Answer {
            call,
            response: Response::from(rebuilt),
            deadline,
        });
    }
    Err(Box::new(UpmError::WebPage {
        call,
        status,
        kind: WebPageKind::of(status, &headers, &text),
        title: page_title(&text).or_else(|| {
            let shown = excerpt(&text);
            (shown != "(empty body)").then(|| shown.chars().take(120).collect())
        }),
    }))
}

/// The text of a page's `<title>`, whitespace collapsed and control characters escaped.
pub(super) fn page_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower[start..].find('>')? + 1;
    let close = open_end + lower[open_end..].find("</title")?;
    let title = collapse(&text[open_end..close]);
    (!title.is_empty()).then(|| title.chars().take(120).collect())
}

/// Task errors that mean UPM could not fetch an install-by-URI artifact itself (§4, §5.8).
pub(super) fn is_download_failure(sub_code: &str) -> bool {
    matches!(
        sub_code,
        "upm.pluginInstall.error.response.exception"
            | "upm.pluginInstall.error.file.not.found"
            | "upm.pluginInstall.error.access.denied"
            | "upm.pluginInstall.error.unsupported.protocol"
    )
}

/// Names the platform gates of modern Data Center (upm-rest-api.md §5.7) when UPM refuses an
/// install, and safe mode (§4: 409), and the size of an upload a proxy refused (413).
// guess: the exact bodies of the gates are only known from prose.
pub(super) fn install_refusal(error: UpmError, from: InstallFrom<'_>) -> UpmError {
    let UpmError::Status {
        status,
        body,
        sub_code,
        ..
    } = &error
    else {
        return install_refusal_size(error, from);
    };
    let text = body.to_ascii_lowercase();
    if *status == StatusCode::FORBIDDEN && text.contains("cannot be installed via upload") {
        return UpmError::UploadDisabled { body: body.clone() };
    }
    if *status == StatusCode::FORBIDDEN && text.contains("signature") {
        return UpmError::SignatureCheck { body: body.clone() };
    }
    if *status == StatusCode::CONFLICT
        && (text.contains("safe mode")
            || sub_code.as_deref().is_some_and(|c| c.contains("safe.mode")))
    {
        return UpmError::SafeMode;
    }
    error
}

/// Names the size of an upload a proxy refused (413).
fn install_refusal_size(error: UpmError, from: InstallFrom<'_>) -> UpmError {
    if let (UpmError::TooLarge { call, .. }, InstallFrom::Upload(path)) = (&error, from) {
        return UpmError::TooLarge {
            call: call.clone(),
            size: std::fs::metadata(path).ok().map(|metadata| metadata.len()),
        };
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_pages_are_classified_by_what_they_say() {
        let headers = HeaderMap::new();
        let page =
            |title: &str| format!("<html><head><title>{title}</title></head><body>x</body></html>");
        assert_eq!(
            WebPageKind::of(StatusCode::OK, &headers, &page("Log in - Jira")),
            WebPageKind::Login
        );
        assert_eq!(
            WebPageKind::of(StatusCode::OK, &headers, &page("Set up Jira")),
            WebPageKind::Setup
        );
        assert_eq!(
            WebPageKind::of(StatusCode::OK, &headers, &page("Jira is upgrading")),
            WebPageKind::Upgrade
        );
        assert_eq!(
            WebPageKind::of(StatusCode::SERVICE_UNAVAILABLE, &headers, &page("Oops")),
            WebPageKind::Maintenance
        );
        assert_eq!(
            WebPageKind::of(StatusCode::OK, &headers, &page("Welcome to nginx")),
            WebPageKind::Other
        );
        let mut denied = HeaderMap::new();
        denied.insert(
            "x-seraph-loginreason",
            "AUTHENTICATION_DENIED".parse().unwrap(),
        );
        assert_eq!(
            WebPageKind::of(StatusCode::OK, &denied, &page("Dashboard")),
            WebPageKind::Login
        );
        assert_eq!(
            page_title("<HTML><TITLE>\n  Down for\tmaintenance </TITLE>").as_deref(),
            Some("Down for maintenance")
        );
    }
}
