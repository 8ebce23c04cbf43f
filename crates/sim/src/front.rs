//! The foreign answers of real deployments, in front of the product router: a reverse proxy's body
//! limit, a web page (login, SSO redirect, setup, upgrade, maintenance) instead of the REST API,
//! Jira's rate limiting of changes, UPM's WebSudo demand, and a UPM without outbound access
//! (`shared/reference/field-reports.md`, upm-rest-api.md §2, §4, §6).
//!
//! Each behaviour has a [`SimConfig`] builder, a runtime switch on [`Sim`] and a `upmsync sim` flag.
//! The layer sits inside the fault layer (which records every exchange) and outside UPM, so what it
//! answers never reaches UPM and changes nothing.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use serde_json::json;

use super::auth::{self, Identity};
use super::config::SimConfig;
use super::faults;
use super::http;
use super::state::Shared;
use super::upm::ERROR;
use super::Sim;

/// A web page the product listener answers with instead of its REST API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WebPage {
    /// 200 with Jira's login page: after a product upgrade, REST calls get it until an admin logs
    /// in once in a browser (field report craftamap/pluploader #91).
    Login,
    /// 302 to a SAML identity provider on another host (field report: Atlassian KB "Bypass SAML
    /// authentication for Jira Data Center").
    Sso,
    /// 200 with the setup wizard of a Jira that was never set up.
    Setup,
    /// 200 with the "Jira is upgrading" page shown while the database upgrade runs.
    Upgrade,
    /// 503 with a reverse proxy's maintenance page, without `Retry-After`.
    Maintenance,
}

impl WebPage {
    /// Every kind, in the order `--web-page` lists them.
    pub const ALL: [WebPage; 5] = [
        WebPage::Login,
        WebPage::Sso,
        WebPage::Setup,
        WebPage::Upgrade,
        WebPage::Maintenance,
    ];

    /// The kind's name on the command line (`login`, `sso`, `setup`, `upgrade`, `maintenance`).
    pub fn name(self) -> &'static str {
        match self {
            WebPage::Login => "login",
            WebPage::Sso => "sso",
            WebPage::Setup => "setup",
            WebPage::Upgrade => "upgrade",
            WebPage::Maintenance => "maintenance",
        }
    }
}

impl fmt::Display for WebPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WebPage {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim();
        WebPage::ALL
            .into_iter()
            .find(|page| page.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                let names: Vec<&str> = WebPage::ALL.iter().map(|page| page.name()).collect();
                format!(
                    "unknown web page `{wanted}`\nhint: choose one of {}",
                    names.join(", ")
                )
            })
    }
}

/// The switches of this layer, as configured and as changed at runtime.
#[derive(Clone, Debug, Default)]
pub(crate) struct Front {
    pub websudo: bool,
    pub web_page: Option<WebPage>,
    pub proxy_max_body: Option<u64>,
    pub no_outbound: bool,
    pub rate_limit: Option<RateLimit>,
}

/// Jira's rate limiting as the simulator plays it: the next `remaining` changes are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateLimit {
    pub remaining: u32,
    pub retry_after_seconds: u64,
}

impl RateLimit {
    fn new(first: u32, retry_after_seconds: u64) -> Option<Self> {
        (first > 0).then_some(Self {
            remaining: first,
            retry_after_seconds,
        })
    }
}

impl SimConfig {
    /// Makes UPM demand a secure administrator session (WebSudo) from the start: every UPM resource
    /// except `HEAD /` (the upm-token) and `/tasks…` answers 401 `upm.websudo.error`
    /// (upm-rest-api.md §2). Product endpoints are unaffected.
    pub fn websudo(mut self, on: bool) -> Self {
        self.front.websudo = on;
        self
    }

    /// Makes every request to the product listener get this web page instead of the REST API.
    pub fn web_page(mut self, page: WebPage) -> Self {
        self.front.web_page = Some(page);
        self
    }

    /// Puts a reverse proxy in front of the product that refuses bodies larger than `bytes` with
    /// nginx's 413 page (field report reportportal #2586).
    pub fn proxy_max_body(mut self, bytes: u64) -> Self {
        self.front.proxy_max_body = Some(bytes);
        self
    }

    /// Takes UPM's route to the internet away: installs by URI fail while downloading, whatever the
    /// URI (field report bitbucket-webhooks-plugin #70). Uploads still work.
    pub fn no_outbound(mut self, on: bool) -> Self {
        self.front.no_outbound = on;
        self
    }

    /// Makes the first `first` changes (POST, PUT, DELETE) on the product listener answer 429 with
    /// `Retry-After: retry_after_seconds` and Jira's rate-limit headers, unprocessed
    /// (upm-rest-api.md §6). `first` 0 turns rate limiting off.
    pub fn rate_limit_changes(mut self, first: u32, retry_after_seconds: u64) -> Self {
        self.front.rate_limit = RateLimit::new(first, retry_after_seconds);
        self
    }
}

impl Sim {
    /// Turns UPM's WebSudo demand on or off (see [`SimConfig::websudo`]).
    pub fn set_websudo(&self, on: bool) {
        self.shared.front().websudo = on;
    }

    /// Shows a web page instead of the REST API, or (`None`) the API again (see [`SimConfig::web_page`]).
    pub fn set_web_page(&self, page: Option<WebPage>) {
        self.shared.front().web_page = page;
    }

    /// Sets or (`None`) removes the reverse proxy's body limit (see [`SimConfig::proxy_max_body`]).
    pub fn set_proxy_max_body(&self, bytes: Option<u64>) {
        self.shared.front().proxy_max_body = bytes;
    }

    /// Takes UPM's outbound access away or gives it back (see [`SimConfig::no_outbound`]).
    pub fn set_no_outbound(&self, on: bool) {
        self.shared.front().no_outbound = on;
    }

    /// Refuses the next `first` changes with 429 (see [`SimConfig::rate_limit_changes`]); the count
    /// starts over, and `first` 0 turns rate limiting off.
    pub fn set_rate_limit_changes(&self, first: u32, retry_after_seconds: u64) {
        self.shared.front().rate_limit = RateLimit::new(first, retry_after_seconds);
    }
}

/// The `errorMessage` of an install task whose download found no route out (`None` when UPM has
/// outbound access). guess: the text of the `HttpHostConnectException` UPM's Apache client throws,
/// without the resolved address.
pub(crate) fn unreachable_message(shared: &Shared, uri: &url::Url) -> Option<String> {
    if !shared.front().no_outbound {
        return None;
    }
    let host = uri.host_str().unwrap_or_default();
    let port = uri.port_or_known_default().unwrap_or(443);
    Some(format!(
        "Connect to {host}:{port} failed: Connection refused (Connection refused)"
    ))
}

/// The layer in front of the product router: the proxy, then the product's own filters (web
/// pages, rate limiting), then UPM's WebSudo check; otherwise the request goes on to UPM.
pub(crate) async fn layer(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let answer = {
        let mut front = shared.front();
        decide(&shared, &mut front, &request)
    };
    let Some(mut response) = answer else {
        return next.run(request).await;
    };
    let head = request.method() == Method::HEAD;
    // Read the body before answering, as nginx and Tomcat do: a client still sending a large upload
    // then gets the answer rather than a reset connection.
    let mut body = request.into_body().into_data_stream();
    while let Some(chunk) = body.next().await {
        if chunk.is_err() {
            break;
        }
    }
    if head {
        *response.body_mut() = Body::empty();
    }
    response
}

/// The answer this layer gives instead of UPM, if any.
fn decide(shared: &Shared, front: &mut Front, request: &Request) -> Option<Response> {
    let headers = request.headers();
    if let Some(limit) = front.proxy_max_body {
        // guess: like nginx's `client_max_body_size`, judged on the declared Content-Length; a
        // chunked body without one passes.
        let declared = http::header_text(headers, header::CONTENT_LENGTH)
            .and_then(|value| value.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit) {
            return Some(too_large());
        }
    }
    if let Some(page) = front.web_page {
        return Some(web_page(shared, page, request));
    }
    if let Some(rate_limit) = &mut front.rate_limit {
        let change = matches!(
            *request.method(),
            Method::POST | Method::PUT | Method::DELETE
        );
        if change && rate_limit.remaining > 0 {
            rate_limit.remaining -= 1;
            let retry_after = rate_limit.retry_after_seconds;
            if rate_limit.remaining == 0 {
                front.rate_limit = None;
            }
            return Some(faults::status_response(429, Some(retry_after)));
        }
    }
    if front.websudo
        && demands_websudo(&shared.context_path, request.method(), request.uri().path())
    {
        // guess: checked after authentication (anonymous callers get the usual 401 from UPM) but
        // before content negotiation and routing.
        if let Identity::User { .. } = auth::identify(shared, headers) {
            return Some(http::json(
                StatusCode::UNAUTHORIZED,
                ERROR,
                &json!({"subCode": "upm.websudo.error"}),
            ));
        }
    }
    None
}

/// Whether UPM demands WebSudo for this request: every UPM resource is `@WebSudoRequired` except
/// `HEAD /` (the upm-token) and `/tasks…` (upm-rest-api.md §2).
fn demands_websudo(context_path: &str, method: &Method, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(context_path) else {
        return false;
    };
    for alias in ["/rest/plugins/1.0/", "/rest/plugins/latest/"] {
        if let Some(inner) = rest.strip_prefix(alias) {
            let head_of_collection = inner.is_empty() && method == Method::HEAD;
            let tasks = inner == "tasks" || inner.starts_with("tasks/");
            return !head_of_collection && !tasks;
        }
    }
    false
}

/// nginx's answer to a body over `client_max_body_size` (field report reportportal #2586).
fn too_large() -> Response {
    let mut response = http::text(
        StatusCode::PAYLOAD_TOO_LARGE,
        "text/html",
        "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n\
         <center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n\
         </body>\r\n</html>\r\n",
    );
    http::set_header(&mut response, header::SERVER, "nginx");
    http::set_header(&mut response, header::CONNECTION, "close");
    response
}

/// The answer of a web page kind, for any request.
fn web_page(shared: &Shared, page: WebPage, request: &Request) -> Response {
    let context = shared.context_path.as_str();
    let brand = Brand::of(shared);
    match page {
        WebPage::Login => {
            let destination = request
                .uri()
                .path()
                .strip_prefix(context)
                .unwrap_or(request.uri().path());
            let mut response = html(StatusCode::OK, &login_page(&brand, context, destination));
            // The headers Seraph sends an anonymous caller it refused (upm-rest-api.md §2).
            http::set_named_header(
                &mut response,
                "x-seraph-loginreason",
                "AUTHENTICATION_DENIED",
            );
            http::set_named_header(&mut response, "x-ausername", "anonymous");
            http::set_header(
                &mut response,
                header::SET_COOKIE,
                &format!(
                    "JSESSIONID=SIMULATED0LOGIN0PAGE; Path={}; HttpOnly",
                    cookie_path(context)
                ),
            );
            response
        }
        WebPage::Sso => {
            // guess: a fixed, already encoded AuthnRequest; the relay state names the request.
            let relay = http::percent_encode(request.uri().path());
            let location = format!(
                "https://idp.example.com/saml2/sso?SAMLRequest={SAML_REQUEST}&RelayState={relay}"
            );
            let mut response = http::located(StatusCode::FOUND, &location);
            http::set_header(&mut response, header::CACHE_CONTROL, "no-cache, no-store");
            response
        }
        WebPage::Setup => html(StatusCode::OK, &setup_page(&brand, context)),
        WebPage::Upgrade => html(StatusCode::OK, &upgrade_page(&brand, context)),
        WebPage::Maintenance => {
            // guess: no Retry-After, so a client should not take it for a short overload.
            let mut response = html(StatusCode::SERVICE_UNAVAILABLE, &maintenance_page());
            http::set_header(&mut response, header::SERVER, "nginx");
            response
        }
    }
}

/// A deflated and base64-encoded SAML AuthnRequest, as an identity provider expects it (opaque here).
const SAML_REQUEST: &str = "fZJNT8MwDIbv%2FIoq9zZt1n0QbZUmJqRJIKEBHLiZNmsjNU6Jk238e9INBFzg6tjvk%2Beyl6f0mFb0uZ28PyiZ6hLs%2BpopxJKBpx5dvRsIC4VUeJ1tl6tvvOhz6JRGyFSvZ0Wl3G8bOjEeDR0XdHh7bvpjzPzPrHcd%2F7aMyuZh1bbjWNhHOSqnC%2F63kgGDp%2FHQsRn6QhRMfNzwK3lmsJsZ2TUqHMLLfPsLMNuBtQm7Tmya1hKGHGbnRl4ulKbm2CgG9sjc%2BoH";

fn cookie_path(context: &str) -> &str {
    if context.is_empty() {
        "/"
    } else {
        context
    }
}

fn html(status: StatusCode, body: &str) -> Response {
    let mut response = http::text(status, "text/html;charset=UTF-8", body);
    http::set_header(
        &mut response,
        header::CACHE_CONTROL,
        "no-cache, no-store, must-revalidate",
    );
    response
}

/// Web resources a Jira page loads: real pages are tens of KB, mostly these tags.
const RESOURCES: &[&str] = &[
    "jira.webresources:global-static",
    "jira.webresources:jira-global",
    "com.atlassian.auiplugin:aui-core",
    "com.atlassian.auiplugin:aui-forms",
    "com.atlassian.auiplugin:aui-buttons",
    "com.atlassian.auiplugin:aui-message",
    "com.atlassian.jira.jira-header-plugin:jira-header",
    "com.atlassian.plugins.atlassian-nav-links-plugin:rotp-menu",
    "jira.webresources:calendar-en",
    "jira.webresources:calendar-localisation-moment",
    "com.atlassian.analytics.analytics-client:js-events",
    "com.atlassian.jira.jira-tzdetect-plugin:tzdetect-banner-component",
    "jira.webresources:key-commands",
    "jira.webresources:user-message-flags",
];

/// Who a page says it is: the simulated product, its version and build.
///
/// guess: the other products' pages are Jira's with their name, version and build in place (the
/// reference has no Confluence, Bitbucket or Bamboo page); only what upmsync reads from a page
/// (its title, its kind) matters.
struct Brand {
    /// `Jira`, `Confluence`, …
    name: &'static str,
    /// `jira`, `confluence`, …
    id: &'static str,
    version: String,
    build: u64,
}

impl Brand {
    fn of(shared: &Shared) -> Self {
        Brand {
            name: shared.product.name(),
            id: shared.product.key(),
            version: shared.product_version.clone(),
            build: shared.product_build,
        }
    }
}

/// The `<head>` of a product page with its web-resource batches.
fn page_head(brand: &Brand, context: &str, title: &str) -> String {
    let Brand {
        name,
        id,
        version,
        build,
    } = brand;
    let upper = name.to_uppercase();
    let mut head = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"X-UA-Compatible\" content=\"IE=Edge\">\n\
         <meta name=\"application-name\" content=\"{upper}\" data-name=\"{id}\" data-version=\"{version}\">\n\
         <meta name=\"ajs-server-scheme\" content=\"http\">\n<meta name=\"ajs-context-path\" content=\"{context}\">\n\
         <meta name=\"ajs-version-number\" content=\"{version}\">\n<meta name=\"ajs-build-number\" content=\"{build}\">\n\
         <meta name=\"ajs-remote-user\" content=\"\">\n<meta name=\"ajs-is-admin\" content=\"false\">\n\
         <title>{title}</title>\n\
         <link rel=\"shortcut icon\" href=\"{context}/favicon.ico\">\n\
         <link rel=\"search\" type=\"application/opensearchdescription+xml\" href=\"{context}/osd.jsp\" title=\"{name}\">\n"
    );
    for (index, resource) in RESOURCES.iter().enumerate() {
        let hash = format!("{:032x}", 0x5eed_u128.wrapping_mul(index as u128 + 7919));
        let resource = resource.replace("jira", id);
        head.push_str(&format!(
            "<link type=\"text/css\" rel=\"stylesheet\" href=\"{context}/s/{hash}-CDN/-8bzdyf/{build}/1dlckms/{hash}/_/download/contextbatch/css/{resource}/batch.css?agile_global_admin_condition=true&amp;jag=true&amp;locale=en-US\" data-wrm-key=\"{resource}\" data-wrm-batch-type=\"context\" media=\"all\">\n\
             <script type=\"text/javascript\" src=\"{context}/s/{hash}-CDN/-8bzdyf/{build}/1dlckms/{hash}/_/download/contextbatch/js/{resource}/batch.js?locale=en-US\" data-wrm-key=\"{resource}\" data-wrm-batch-type=\"context\" data-initially-rendered></script>\n"
        ));
    }
    head.push_str("</head>\n");
    head
}

fn login_page(brand: &Brand, context: &str, destination: &str) -> String {
    let destination = quick_xml::escape::escape(destination);
    let Brand {
        name, id, build, ..
    } = brand;
    format!(
        "{head}<body id=\"{id}\" class=\"aui-layout aui-theme-default page-type-login\">\n\
         <div id=\"page\">\n<header id=\"header\" role=\"banner\"><nav class=\"aui-header\"><div class=\"aui-header-primary\">\
         <span id=\"logo\" class=\"aui-header-logo\"><a href=\"{context}/\"><img src=\"{context}/s/-8bzdyf/{build}/images/{id}-logo.png\" alt=\"{name}\"></a></span>\
         </div></nav></header>\n\
         <div id=\"content\"><section class=\"aui-page-panel\"><div class=\"aui-page-panel-inner\"><section class=\"aui-page-panel-content\">\n\
         <div class=\"aui-message aui-message-info\"><p>You must log in to access this page.</p></div>\n\
         <form action=\"{context}/login.jsp\" class=\"aui\" id=\"login-form\" method=\"post\">\n\
         <h1>Welcome to {name}</h1>\n\
         <div class=\"field-group\"><label for=\"login-form-username\">Username</label>\
         <input class=\"text medium-field\" id=\"login-form-username\" name=\"os_username\" type=\"text\" autocomplete=\"username\"></div>\n\
         <div class=\"field-group\"><label for=\"login-form-password\">Password</label>\
         <input class=\"text medium-field\" id=\"login-form-password\" name=\"os_password\" type=\"password\" autocomplete=\"current-password\"></div>\n\
         <fieldset class=\"group\"><div class=\"checkbox\"><input class=\"checkbox\" id=\"login-form-remember-me\" name=\"os_cookie\" type=\"checkbox\" value=\"true\">\
         <label for=\"login-form-remember-me\">Remember my login on this computer</label></div></fieldset>\n\
         <input type=\"hidden\" name=\"os_destination\" value=\"{destination}\">\n\
         <input type=\"hidden\" name=\"atl_token\" value=\"\">\n\
         <div class=\"buttons-container\"><div class=\"buttons\">\
         <input class=\"aui-button aui-button-primary\" id=\"login-form-submit\" name=\"login\" type=\"submit\" value=\"Log In\">\
         <a class=\"cancel\" href=\"{context}/secure/ForgotLoginDetails.jspa\">Can't access your account?</a></div></div>\n\
         </form>\n</section></div></section></div>\n\
         <footer id=\"footer\" role=\"contentinfo\"><section class=\"footer-body\"><ul class=\"atlassian-footer\">\
         <li>Atlassian {name} <a href=\"https://www.atlassian.com/software/{id}\">{name} Data Center</a></li>\
         <li><a href=\"https://jira.atlassian.com/\">Report a problem</a></li></ul></section></footer>\n\
         </div>\n</body>\n</html>\n",
        head = page_head(brand, context, &format!("Log in - {name}")),
    )
}

fn setup_page(brand: &Brand, context: &str) -> String {
    let Brand { name, id, .. } = brand;
    format!(
        "{head}<body id=\"{id}\" class=\"aui-layout aui-theme-default {id}-setup-page\">\n\
         <div id=\"page\"><div id=\"content\"><section class=\"aui-page-panel\"><div class=\"aui-page-panel-inner\">\
         <section class=\"aui-page-panel-content\">\n\
         <h1>Set up {name}</h1>\n\
         <form action=\"{context}/secure/SetupMode!changeMode.jspa\" class=\"aui\" id=\"{id}-setup-mode\" method=\"post\">\n\
         <div class=\"{id}-setup-choice-box\" data-choice-value=\"instant\"><h2>Set it up for me</h2>\
         <p>Get started with a trial license and a built-in database for evaluation.</p></div>\n\
         <div class=\"{id}-setup-choice-box\" data-choice-value=\"classic\"><h2>I'll set it up myself</h2>\
         <p>Connect to your own database and enter a license to set up a production instance.</p></div>\n\
         <input type=\"hidden\" name=\"setupOption\" value=\"classic\">\n\
         <div class=\"buttons-container\"><div class=\"buttons\">\
         <input class=\"aui-button aui-button-primary\" id=\"{id}-setup-mode-submit\" type=\"submit\" value=\"Next\"></div></div>\n\
         </form>\n</section></div></section></div></div>\n</body>\n</html>\n",
        head = page_head(brand, context, &format!("Set up {name}")),
    )
}

fn upgrade_page(brand: &Brand, context: &str) -> String {
    let Brand {
        name,
        id,
        version,
        build,
    } = brand;
    // guess: the Johnson event page Jira shows while its upgrade tasks run, with status 200 as the
    // field report saw it.
    format!(
        "{head}<body id=\"{id}\" class=\"aui-layout aui-theme-default page-type-message\">\n\
         <div id=\"page\"><div id=\"content\"><section class=\"aui-page-panel\"><div class=\"aui-page-panel-inner\">\
         <section class=\"aui-page-panel-content\">\n\
         <h1>{name} is upgrading</h1>\n\
         <div class=\"aui-message aui-message-info\"><p>Database upgrade in progress. {name} is running the upgrade tasks \
         of version {version} (build {build}). This can take a while; {name} will be available again when it has finished.</p></div>\n\
         <table class=\"aui\" id=\"johnson-events\"><thead><tr><th>Time</th><th>Level</th><th>Type</th><th>Description</th></tr></thead>\n\
         <tbody><tr><td>just now</td><td>warning</td><td>upgrade</td><td>Database upgrade in progress</td></tr></tbody></table>\n\
         <p>If this page is still shown after the upgrade should have finished, an administrator may need to log in \
         at <a href=\"{context}/login.jsp\">{context}/login.jsp</a> to complete it.</p>\n\
         </section></div></section></div></div>\n</body>\n</html>\n",
        head = page_head(brand, context, &format!("{name} is upgrading")),
    )
}

fn maintenance_page() -> String {
    let mut style = String::from("<style>\n");
    for (selector, rule) in [
        ("html, body", "height: 100%; margin: 0; padding: 0;"),
        ("body", "font-family: -apple-system, BlinkMacSystemFont, \"Segoe UI\", Roboto, \"Helvetica Neue\", Arial, sans-serif; background: #f4f5f7; color: #172b4d;"),
        (".wrapper", "display: flex; align-items: center; justify-content: center; min-height: 100%;"),
        (".panel", "max-width: 640px; margin: 48px auto; padding: 40px 48px; background: #fff; border-radius: 3px; box-shadow: 0 1px 2px rgba(9, 30, 66, 0.25);"),
        ("h1", "font-size: 29px; font-weight: 500; line-height: 32px; margin: 0 0 16px;"),
        ("p", "font-size: 16px; line-height: 24px; margin: 0 0 12px;"),
        (".muted", "color: #6b778c; font-size: 12px;"),
        ("a", "color: #0052cc; text-decoration: none;"),
        ("a:hover", "text-decoration: underline;"),
        (".services", "width: 100%; border-collapse: collapse; margin: 16px 0;"),
        (".services th, .services td", "text-align: left; padding: 6px 8px; border-bottom: 1px solid #dfe1e6; font-size: 14px;"),
        (".status", "display: inline-block; padding: 2px 6px; border-radius: 3px; background: #fffae6; color: #172b4d; font-weight: 600; font-size: 11px; text-transform: uppercase;"),
    ] {
        style.push_str(&format!("  {selector} {{ {rule} }}\n"));
    }
    style.push_str("</style>\n");
    let mut notes = String::new();
    for line in [
        "We are upgrading our Atlassian tools. Jira, Confluence and Bitbucket are unavailable during the maintenance window.",
        "Scheduled changes: operating system patches, a new reverse proxy configuration, database maintenance.",
        "Automations, webhooks and REST clients will receive this page until the maintenance has finished.",
        "Please do not restart long-running jobs until the status page reports that all services are back.",
        "If you need urgent help during the maintenance window, contact the IT service desk by phone.",
        "Maintenance window: Saturday 06:00 to 14:00 UTC. Changes made before the window are kept.",
        "After the maintenance, sign in again: sessions and remembered logins are reset by the upgrade.",
        "Browser bookmarks and links in e-mails and chat messages keep working once the services are back.",
        "Scripts that talk to the REST APIs should pause until the status page announces the end of the work.",
    ] {
        notes.push_str(&format!("<p>{line}</p>\n"));
    }
    let mut services = String::from(
        "<table class=\"services\"><thead><tr><th>Service</th><th>Address</th><th>Status</th></tr></thead><tbody>\n",
    );
    for (service, address) in [
        ("Jira Software", "jira.example.com"),
        ("Jira Service Management", "servicedesk.example.com"),
        ("Confluence", "wiki.example.com"),
        ("Bitbucket", "git.example.com"),
        ("Bamboo", "ci.example.com"),
        ("Crowd", "sso.example.com"),
        ("Artifact repository", "repo.example.com"),
        ("Status page", "status.example.com"),
    ] {
        services.push_str(&format!(
            "<tr><td>{service}</td><td><code>https://{address}/</code></td><td><span class=\"status\">In maintenance</span></td></tr>\n"
        ));
    }
    services.push_str("</tbody></table>\n");
    let mut page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex, nofollow\">\n\
         <title>Down for maintenance</title>\n{style}</head>\n<body>\n<div class=\"wrapper\"><div class=\"panel\">\n\
         <span class=\"status\">Maintenance</span>\n<h1>Down for maintenance</h1>\n\
         <p>This service is temporarily unavailable while we carry out planned maintenance. We'll be back shortly.</p>\n\
         {notes}{services}<p class=\"muted\">Status updates: <a href=\"https://status.example.com/\">status.example.com</a></p>\n\
         </div></div>\n"
    );
    // nginx error pages are padded so that browsers show them instead of their own.
    for _ in 0..6 {
        page.push_str("<!-- a padding to disable MSIE and Chrome friendly error page -->\n");
    }
    page.push_str("</body>\n</html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websudo_spares_the_token_and_tasks_only() {
        let get = Method::GET;
        let head = Method::HEAD;
        assert!(demands_websudo("/jira", &get, "/jira/rest/plugins/1.0/"));
        assert!(!demands_websudo("/jira", &head, "/jira/rest/plugins/1.0/"));
        assert!(demands_websudo(
            "/jira",
            &head,
            "/jira/rest/plugins/1.0/a-key"
        ));
        assert!(demands_websudo(
            "/jira",
            &Method::POST,
            "/jira/rest/plugins/latest/"
        ));
        assert!(!demands_websudo(
            "/jira",
            &get,
            "/jira/rest/plugins/1.0/tasks"
        ));
        assert!(!demands_websudo(
            "/jira",
            &get,
            "/jira/rest/plugins/1.0/tasks/1"
        ));
        assert!(demands_websudo(
            "/jira",
            &get,
            "/jira/rest/plugins/1.0/pending/1"
        ));
        assert!(!demands_websudo(
            "/jira",
            &get,
            "/jira/rest/api/2/serverInfo"
        ));
        assert!(!demands_websudo("/jira", &get, "/rest/plugins/1.0/"));
        assert!(demands_websudo("", &get, "/rest/plugins/1.0/safe-mode"));
    }

    #[test]
    fn web_page_names_round_trip() {
        for page in WebPage::ALL {
            assert_eq!(page.name().parse::<WebPage>(), Ok(page));
        }
        let error = "nope".parse::<WebPage>().unwrap_err();
        assert!(
            error.contains("`nope`") && error.contains("hint:"),
            "{error}"
        );
    }

    fn jira() -> Brand {
        Brand {
            name: "Jira",
            id: "jira",
            version: "9.12.15".into(),
            build: 9120015,
        }
    }

    #[test]
    fn pages_name_the_product_and_its_build() {
        let bitbucket = Brand {
            name: "Bitbucket",
            id: "bitbucket",
            version: "9.4.22".into(),
            build: 9004022,
        };
        for page in [
            login_page(&bitbucket, "", "/rest/plugins/1.0/"),
            setup_page(&bitbucket, ""),
            upgrade_page(&bitbucket, ""),
        ] {
            assert!(page.contains("Bitbucket") && page.contains("9004022"));
            assert!(
                !page.contains("Jira") && !page.contains("9120015"),
                "{page}"
            );
        }
        assert!(login_page(&jira(), "/jira", "/").contains("<title>Log in - Jira</title>"));
    }

    #[test]
    fn pages_are_several_kilobytes() {
        for page in [
            login_page(&jira(), "/jira", "/rest/plugins/1.0/"),
            setup_page(&jira(), "/jira"),
            upgrade_page(&jira(), "/jira"),
            maintenance_page(),
        ] {
            assert!(page.len() > 4096, "{} bytes", page.len());
        }
    }
}
