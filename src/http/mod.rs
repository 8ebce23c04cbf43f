//! The one place that builds HTTP clients, and the plumbing every client shares: the settings a
//! run's clients start from ([`HttpSettings`], built at the CLI edge), one builder per kind of peer
//! ([`client`] with a [`Profile`]), the retrying read ([`send_read`]), why a request got no answer
//! ([`TransportFailure`]), bounded body reading and excerpts ([`body`]), the request a call is
//! about ([`Call`]), who is trusted over TLS ([`tls`]), and the caps on requests in flight per
//! host and per run ([`limits`]).
//!
//! Policy, per peer (see `docs/security.md`):
//! - **UPM** (credentials attached): redirects are never followed, because UPM answers a finished
//!   task with 303 and a redirect must never carry credentials elsewhere; plain `http://` to a host
//!   that is not loopback is refused unless the instance allows it; the instance's `ca_file` is
//!   trusted beside the platform's roots; the instance's cookie jar keeps session affinity.
//! - **Marketplace** API reads (anonymous): up to 10 redirects, as reqwest does by default.
//! - **Marketplace publishing** (the account's credentials attached): redirects only within the
//!   Marketplace's origin; plain `http://` only to loopback (`marketplace::publish`).
//! - **Downloads** (anonymous): up to 10 redirects (the Marketplace serves files through a CDN), and
//!   the long transfer timeout.
//! - **Proxy**: only what [`ProxySettings`] says (read from `HTTPS_PROXY`, `HTTP_PROXY`,
//!   `ALL_PROXY` and `NO_PROXY` by the CLI); reqwest's own environment lookup is switched off.
//! - **TLS**: rustls with the platform's root store, loaded once per run ([`tls::Roots`]).

pub mod body;
pub mod limits;
mod read;
pub mod tls;
pub mod upload;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::redirect;
use reqwest::Method;
use url::Url;

use crate::model::{redact_url, Transport};
use crate::retry::RetryPolicy;

pub use limits::Limits;
pub(crate) use read::{retry_after, send_on_runtime};
pub use read::{send_read, send_read_within, TransportFailure};

/// The user agent of every request: `upmsync/<version>`.
pub const USER_AGENT: &str = concat!("upmsync/", env!("CARGO_PKG_VERSION"));

/// How long an install task may run by default. UPM's own download timeout is 30 s per read, but
/// installing a large app on a busy node takes minutes.
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(600);

/// What every HTTP client of a run starts from: built once by the CLI from the arguments and the
/// environment (`cli::Cli::http_settings`), then passed by reference to each client's constructor.
/// Clones share the loaded root store.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Retry bounds for reads (`--retries`, `--retry-max-seconds`), and for changes the server
    /// says it did not process (429, 503 with `Retry-After`).
    pub retry: RetryPolicy,
    /// How long an install task may run (`--task-timeout`).
    pub task_timeout: Duration,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long one request may take, its body included (UPM and Marketplace API calls).
    pub request_timeout: Duration,
    /// How long a transfer of a whole artifact may take (uploads to UPM, downloads).
    pub transfer_timeout: Duration,
    /// The proxies to use, if any.
    pub proxy: ProxySettings,
    /// The platform's root certificates, loaded on first use and shared.
    pub roots: tls::Roots,
    /// Where warnings a user must read (retries, ...) go as they happen ([`crate::notice`]).
    pub notices: crate::notice::Notices,
    /// The cookie jars of this run, one per instance, shared by the clones of these settings.
    pub cookies: CookieJars,
    /// The caps on requests in flight (`--max-requests-per-host`), shared by the clones of these
    /// settings and so by every client built from them.
    pub limits: Limits,
}

/// The cookie jars of one run, one per instance (keyed by the caller), shared by clones: session
/// and load-balancer affinity cookies must hold across every client of an instance in a run
/// (on a cluster the upm-token is node-local, upm-rest-api.md §5.2). Cookies are secrets: `Debug`
/// shows only how many jars there are.
#[derive(Clone, Default)]
pub struct CookieJars(Arc<Mutex<BTreeMap<String, Arc<reqwest::cookie::Jar>>>>);

impl CookieJars {
    /// The jar for `key`, made empty on first use.
    pub fn jar(&self, key: &str) -> Arc<reqwest::cookie::Jar> {
        let mut jars = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(jars.entry(key.to_string()).or_default())
    }
}

impl fmt::Debug for CookieJars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.lock().map_or(0, |jars| jars.len());
        write!(f, "CookieJars({count} jars)")
    }
}

impl Default for HttpSettings {
    /// Today's defaults, no proxy, and the platform's roots as the system has them.
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            task_timeout: DEFAULT_TASK_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            transfer_timeout: Duration::from_secs(600),
            proxy: ProxySettings::default(),
            roots: tls::Roots::default(),
            notices: crate::notice::Notices::default(),
            cookies: CookieJars::default(),
            limits: Limits::default(),
        }
    }
}

/// The proxies for outgoing requests, as curl reads them from the environment: each variable in
/// lower case first, then upper case. Values may hold credentials (`http://user:pass@proxy:3128`),
/// so they are never shown; errors name the variable, and `Debug` shows only which are set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// `https_proxy` / `HTTPS_PROXY`: for `https://` URLs.
    pub https: Option<String>,
    /// `http_proxy` / `HTTP_PROXY`: for `http://` URLs.
    pub http: Option<String>,
    /// `all_proxy` / `ALL_PROXY`: for URLs the two above do not cover.
    pub all: Option<String>,
    /// `no_proxy` / `NO_PROXY`: hosts, domains (`.example.com`), IP addresses and CIDR ranges
    /// reached directly, comma-separated; `*` for all.
    pub no_proxy: Option<String>,
    /// The variables the three proxies were read from (`https_proxy` or `HTTPS_PROXY`, ...), so an
    /// error names the one the user set; the upper-case name where unknown.
    pub read_from: ProxyVariables,
}

/// The names of the environment variables [`ProxySettings`]' proxies came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyVariables {
    pub https: Option<String>,
    pub http: Option<String>,
    pub all: Option<String>,
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |value: &Option<String>| value.as_ref().map(|_| "(set)");
        f.debug_struct("ProxySettings")
            .field("https", &set(&self.https))
            .field("http", &set(&self.http))
            .field("all", &set(&self.all))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxySettings {
    /// Reads the four variables through `lookup` (the CLI passes the process environment), lower
    /// case before upper case; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let read = |name: &str| {
            [name.to_ascii_lowercase(), name.to_string()]
                .into_iter()
                .filter_map(|variable| {
                    let value = lookup(&variable)?.trim().to_string();
                    (!value.is_empty()).then_some((variable, value))
                })
                .next()
        };
        let (https, http, all) = (read("HTTPS_PROXY"), read("HTTP_PROXY"), read("ALL_PROXY"));
        let name = |read: &Option<(String, String)>| read.as_ref().map(|(name, _)| name.clone());
        Self {
            read_from: ProxyVariables {
                https: name(&https),
                http: name(&http),
                all: name(&all),
            },
            https: https.map(|(_, value)| value),
            http: http.map(|(_, value)| value),
            all: all.map(|(_, value)| value),
            no_proxy: read("NO_PROXY").map(|(_, value)| value),
        }
    }

    /// Whether any proxy is set.
    pub fn is_set(&self) -> bool {
        self.https.is_some() || self.http.is_some() || self.all.is_some()
    }

    /// Configures `builder` with exactly these proxies: reqwest's own environment lookup is off.
    fn apply(&self, builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, HttpError> {
        // `no_proxy()` clears reqwest's environment proxies; each `proxy()` after it adds one.
        let mut builder = builder.no_proxy();
        let exceptions = self
            .no_proxy
            .as_deref()
            .and_then(reqwest::NoProxy::from_string);
        type MakeProxy = fn(&str) -> reqwest::Result<reqwest::Proxy>;
        let read_from = &self.read_from;
        let proxies: [(&Option<String>, &str, &Option<String>, MakeProxy); 3] = [
            (&read_from.https, "HTTPS_PROXY", &self.https, |url| {
                reqwest::Proxy::https(url)
            }),
            (&read_from.http, "HTTP_PROXY", &self.http, |url| {
                reqwest::Proxy::http(url)
            }),
            (&read_from.all, "ALL_PROXY", &self.all, |url| {
                reqwest::Proxy::all(url)
            }),
        ];
        for (read, upper, value, make) in proxies {
            let Some(value) = value else { continue };
            let variable = read.clone().unwrap_or_else(|| upper.to_string());
            let proxy = make(value).map_err(|_| HttpError::Proxy { variable })?;
            builder = builder.proxy(proxy.no_proxy(exceptions.clone()));
        }
        Ok(builder)
    }
}

/// The peer a client is for, which decides its redirects, timeouts and TLS (see the module docs).
#[derive(Clone, Debug)]
pub enum Profile<'a> {
    /// One instance's UPM: credentials go with every request.
    Upm {
        /// The instance's URL (plain `http://` to a remote host is refused without `allow_http`).
        url: &'a Url,
        /// The instance's transport settings (`ca_file`, `insecure_skip_tls_verify`, `allow_http`).
        transport: &'a Transport,
        /// The instance's cookie jar, shared by all its clients.
        cookies: Arc<reqwest::cookie::Jar>,
    },
    /// The Marketplace's REST API: anonymous reads.
    Marketplace,
    /// The Marketplace's publishing API (`upmsync publish`): the account's credentials go with
    /// every request, so redirects are followed only within the Marketplace's origin.
    Publisher,
    /// Artifact downloads: anonymous, through redirects, with the transfer timeout.
    Download,
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The instance's `ca_file` cannot be used.
    #[error("cannot use the CA file `{}`", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: tls::CaFileError,
    },
    /// A proxy variable does not hold a proxy URL (its value is not shown: it may hold a password).
    #[error("the proxy in `{variable}` is not a URL such as `http://proxy.example.com:3128`")]
    Proxy { variable: String },
    /// reqwest refused the configuration (its TLS backend failed to start, say).
    #[error("cannot build the HTTP client: {reason}")]
    Build { reason: String },
}

/// Builds the client for `profile` from `settings`.
pub fn client(settings: &HttpSettings, profile: Profile<'_>) -> Result<reqwest::Client, HttpError> {
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(settings.connect_timeout)
        .tls_built_in_root_certs(false);
    builder = settings.proxy.apply(builder)?;
    // An instance with its own CA file or without verification gets a TLS setup of its own; every
    // other client shares the one built from the platform's roots (built once per run).
    let own_tls = matches!(&profile, Profile::Upm { transport, .. }
        if transport.ca_file.is_some() || transport.insecure_skip_tls_verify);
    match settings.roots.client_config(&settings.notices) {
        Some(config) if !own_tls => builder = builder.use_preconfigured_tls(config.clone()),
        _ => {
            for root in settings.roots.certificates(&settings.notices) {
                builder = builder.add_root_certificate(root.clone());
            }
        }
    }
    builder = match profile {
        Profile::Upm {
            url,
            transport,
            cookies,
        } => {
            // The loader already refuses plain HTTP to a remote host; this keeps a hand-built
            // `DesiredInstance` from sending credentials in clear text.
            let mut builder = builder
                .redirect(redirect::Policy::none())
                .timeout(settings.request_timeout)
                .pool_max_idle_per_host(limits::UPM_IDLE_CONNECTIONS)
                .cookie_provider(cookies)
                .https_only(tls::is_plain_http_refused(url, transport));
            if let Some(path) = &transport.ca_file {
                let certificates = tls::read_ca_file(path).map_err(|source| HttpError::CaFile {
                    path: path.clone(),
                    source,
                })?;
                for certificate in certificates {
                    builder = builder.add_root_certificate(certificate);
                }
            }
            if transport.insecure_skip_tls_verify {
                builder = builder.danger_accept_invalid_certs(true);
            }
            builder
        }
        Profile::Marketplace => builder
            .redirect(redirect::Policy::limited(10))
            .timeout(settings.request_timeout),
        Profile::Publisher => builder
            .redirect(redirect::Policy::custom(|attempt| {
                let first = attempt.previous().first().map(Url::origin);
                if attempt.previous().len() > 10 || first.as_ref() != Some(&attempt.url().origin())
                {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .timeout(settings.request_timeout),
        Profile::Download => builder
            .redirect(redirect::Policy::limited(10))
            .timeout(settings.transfer_timeout),
    };
    builder.build().map_err(|error| HttpError::Build {
        reason: crate::error::chain_text(&error),
    })
}

/// The request an answer or an error is about: its method and URL, carried together so they are
/// passed once. Displays as `GET https://host/path` without credentials or query ([`redact_url`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub method: Method,
    /// Boxed: a `Call` sits in every error variant, and errors should stay small.
    pub url: Box<Url>,
}

impl Call {
    /// A call of `method` to `url`.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url: Box::new(url),
        }
    }

    /// `GET url`.
    pub fn get(url: Url) -> Self {
        Self::new(Method::GET, url)
    }

    /// Whether the call changes nothing (GET, HEAD), so it may be sent again.
    pub fn is_read(&self) -> bool {
        matches!(self.method, Method::GET | Method::HEAD)
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, redact_url(&self.url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A one-shot HTTP server on 127.0.0.1 that answers 200 and hands back the request line.
    fn one_shot() -> (Url, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buffer = [0u8; 4096];
            let read = stream.read(&mut buffer).unwrap();
            let text = String::from_utf8_lossy(&buffer[..read]).to_string();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .unwrap();
            text.lines().next().unwrap_or_default().to_string()
        });
        (url, handle)
    }

    #[test]
    fn proxy_variables_are_read_lower_case_first_and_empty_means_unset() {
        let proxy = ProxySettings::from_lookup(|name| match name {
            "https_proxy" => Some("http://lower:3128".into()),
            "HTTPS_PROXY" => Some("http://upper:3128".into()),
            "HTTP_PROXY" => Some("http://only-upper:3128".into()),
            "all_proxy" => Some("  ".into()),
            "NO_PROXY" => Some("localhost,.internal".into()),
            _ => None,
        });
        assert_eq!(
            proxy,
            ProxySettings {
                https: Some("http://lower:3128".into()),
                http: Some("http://only-upper:3128".into()),
                all: None,
                no_proxy: Some("localhost,.internal".into()),
                read_from: ProxyVariables {
                    https: Some("https_proxy".into()),
                    http: Some("HTTP_PROXY".into()),
                    all: None,
                },
            }
        );
        assert!(proxy.is_set());
        assert!(!ProxySettings::from_lookup(|_| None).is_set());
    }

    #[tokio::test]
    async fn requests_go_through_the_configured_proxy() {
        let (proxy_url, proxy) = one_shot();
        let settings = HttpSettings {
            proxy: ProxySettings {
                http: Some(proxy_url.to_string()),
                ..ProxySettings::default()
            },
            ..HttpSettings::default()
        };
        let client = client(&settings, Profile::Marketplace).unwrap();
        let response = client
            .get("http://marketplace.invalid/rest/2/addons")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        // A proxy gets the absolute URL in the request line.
        assert_eq!(
            proxy.join().unwrap(),
            "GET http://marketplace.invalid/rest/2/addons HTTP/1.1"
        );
    }

    #[tokio::test]
    async fn no_proxy_hosts_are_reached_directly() {
        let (direct_url, direct) = one_shot();
        let settings = HttpSettings {
            proxy: ProxySettings {
                all: Some("http://127.0.0.1:9".into()),
                no_proxy: Some("127.0.0.1".into()),
                ..ProxySettings::default()
            },
            ..HttpSettings::default()
        };
        let client = client(&settings, Profile::Download).unwrap();
        let response = client
            .get(direct_url.join("x").unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(direct.join().unwrap(), "GET /x HTTP/1.1");
    }

    #[test]
    fn proxy_credentials_never_show_in_debug() {
        let settings = HttpSettings {
            proxy: ProxySettings {
                https: Some("http://user:secret@proxy:3128".into()),
                ..ProxySettings::default()
            },
            ..HttpSettings::default()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("(set)"), "{shown}");
    }

    #[test]
    fn a_bad_proxy_names_the_variable_never_the_value() {
        let settings = HttpSettings {
            proxy: ProxySettings {
                https: Some("http://user:secret@[bad".into()),
                ..ProxySettings::default()
            },
            ..HttpSettings::default()
        };
        let error = client(&settings, Profile::Marketplace).unwrap_err();
        let text = crate::error::error_text(&error);
        assert!(text.contains("`HTTPS_PROXY`"), "{text}");
        assert!(!text.contains("secret"), "{text}");
        // Read from the lower-case variable, the error names that one.
        let settings = HttpSettings {
            proxy: ProxySettings::from_lookup(|name| {
                (name == "http_proxy").then(|| "http://[bad".to_string())
            }),
            ..HttpSettings::default()
        };
        let error = client(&settings, Profile::Marketplace).unwrap_err();
        let text = crate::error::error_text(&error);
        assert!(text.contains("`http_proxy`"), "{text}");
    }

    #[tokio::test]
    async fn the_request_timeout_of_the_settings_holds() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let settings = HttpSettings {
            request_timeout: Duration::from_millis(200),
            ..HttpSettings::default()
        };
        let client = client(&settings, Profile::Marketplace).unwrap();
        // The listener accepts (the kernel's backlog) but never answers.
        let error = client.get(url).send().await.unwrap_err();
        assert_eq!(TransportFailure::of(&error), TransportFailure::TimedOut);
        drop(listener);
    }

    #[test]
    fn a_bad_ca_file_is_an_error_naming_the_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("corporate-ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let url = Url::parse("https://jira.example.com/").unwrap();
        let transport = Transport {
            ca_file: Some(path.clone()),
            ..Transport::default()
        };
        let error = client(
            &HttpSettings::default(),
            Profile::Upm {
                url: &url,
                transport: &transport,
                cookies: Arc::default(),
            },
        )
        .unwrap_err();
        assert!(matches!(&error, HttpError::CaFile { path: named, .. } if *named == path));
        let text = crate::error::error_text(&error);
        assert!(text.contains("corporate-ca.pem"), "{text}");
        assert!(text.contains("no PEM certificate"), "{text}");
    }

    #[test]
    fn calls_show_method_and_url_without_credentials() {
        let call = Call::get(Url::parse("https://user:pw@host/rest/plugins/1.0/?token=t").unwrap());
        assert_eq!(call.to_string(), "GET https://host/rest/plugins/1.0/?...");
        assert!(call.is_read());
        assert!(!Call::new(Method::POST, *call.url.clone()).is_read());
    }
}
