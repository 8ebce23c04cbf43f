//! Who upmsync trusts over TLS: the platform's root store (where enterprise CAs live), loaded once
//! per run and shared by every client, plus an instance's own `ca_file`. The manifest loader reads
//! `ca_file` through [`read_ca_file`] too, so a bad file is a manifest problem before any request.
//!
//! The platform's store is what `rustls-native-certs` finds: the system bundle on Linux (and
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` instead when they are set, read at the CLI edge), the keychain
//! on macOS, the certificate store on Windows. No root store is compiled into the binary.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use reqwest::Certificate;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use url::{Host, Url};

use crate::files::{self, FileError};
use crate::model::Transport;

/// A CA bundle is a few kilobytes; even the whole system bundle is well under this.
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why a `ca_file` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// It cannot be read, is not a regular file, or is too large (see [`FileError`]).
    #[error(transparent)]
    File(#[from] FileError),
    /// It holds no PEM block `-----BEGIN CERTIFICATE-----`.
    #[error("it holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)")]
    NoCertificate,
    /// A PEM block is not base64, or its DER is not an X.509 certificate a TLS client can trust.
    #[error("it holds a certificate that cannot be read")]
    Invalid(#[source] InvalidCertificate),
}

/// What is wrong with one certificate of a CA file.
#[derive(Debug, thiserror::Error)]
pub enum InvalidCertificate {
    /// The PEM block cannot be decoded.
    #[error(transparent)]
    Pem(#[from] rustls::pki_types::pem::Error),
    /// The DER is not a certificate rustls accepts as a trust anchor.
    #[error(transparent)]
    Anchor(#[from] rustls::Error),
    /// reqwest does not take the certificate.
    #[error(transparent)]
    Client(#[from] reqwest::Error),
}

/// Reads the PEM certificates of a CA file: at least one, each one parsed as a trust anchor (so a
/// client built with them cannot fail over them later). The file must be a regular file; it is
/// capped while reading.
pub fn read_ca_file(path: &Path) -> Result<Vec<Certificate>, CaFileError> {
    let bytes = files::read_capped(path, MAX_CA_FILE_BYTES)?;
    let mut certificates = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        let der = item.map_err(|error| CaFileError::Invalid(error.into()))?;
        check_anchor(&der).map_err(|error| CaFileError::Invalid(error.into()))?;
        certificates
            .push(Certificate::from_der(&der).map_err(|error| CaFileError::Invalid(error.into()))?);
    }
    if certificates.is_empty() {
        return Err(CaFileError::NoCertificate);
    }
    Ok(certificates)
}

/// Parses a DER certificate the way rustls will when a client is built with it.
fn check_anchor(der: &CertificateDer<'_>) -> Result<(), rustls::Error> {
    rustls::RootCertStore::empty().add(der.clone())
}

/// Where the platform's root certificates come from: the system's store, or the files
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` name when set (as OpenSSL and curl honour them). Built at the
/// CLI edge from the environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RootSource {
    /// `SSL_CERT_FILE`: a PEM bundle used instead of the system's.
    pub cert_file: Option<PathBuf>,
    /// `SSL_CERT_DIR`: folders of PEM files used instead of the system's.
    pub cert_dirs: Vec<PathBuf>,
}

/// The platform's root certificates, loaded on first use and then shared by every client built
/// from the same settings (clones share one store), with the TLS configuration built from them.
#[derive(Clone, Debug, Default)]
pub struct Roots {
    source: RootSource,
    loaded: Arc<OnceLock<Loaded>>,
}

/// The roots as loaded: for reqwest one by one, and as one rustls configuration.
#[derive(Debug)]
struct Loaded {
    certificates: Vec<Certificate>,
    /// `None` when rustls refused to build it (no protocol version the provider supports).
    config: Option<rustls::ClientConfig>,
}

impl Roots {
    /// Roots loaded from `source` when first needed.
    pub fn new(source: RootSource) -> Self {
        Self {
            source,
            loaded: Arc::default(),
        }
    }

    /// The certificates, loading them on the first call. Unreadable entries are skipped: with a
    /// warning in `notices` when `SSL_CERT_FILE`/`SSL_CERT_DIR` named them (the user asked for
    /// those), with a debug note in the system's store. A store with none left makes every TLS
    /// handshake fail with an unknown issuer, which [`crate::http::TransportFailure`] explains.
    pub fn certificates(&self, notices: &crate::notice::Notices) -> &[Certificate] {
        &self.loaded(notices).certificates
    }

    /// The TLS client configuration that trusts exactly these roots, built once per run: a
    /// client handed it (`reqwest::ClientBuilder::use_preconfigured_tls`) does not parse every
    /// root again, which is most of what building a client costs (issue 10: a fleet of 100
    /// instances builds 100 clients). HTTP/1.1 only, as the clients speak. `None` when rustls
    /// refused to build it; the caller then adds [`Roots::certificates`] one by one.
    pub fn client_config(&self, notices: &crate::notice::Notices) -> Option<&rustls::ClientConfig> {
        self.loaded(notices).config.as_ref()
    }

    fn loaded(&self, notices: &crate::notice::Notices) -> &Loaded {
        self.loaded.get_or_init(|| {
            let ders = load(&self.source, notices);
            Loaded {
                certificates: ders
                    .iter()
                    .filter_map(|der| Certificate::from_der(der).ok())
                    .collect(),
                config: client_config(&ders),
            }
        })
    }
}

/// A rustls client configuration trusting `roots`, with the ring provider reqwest uses, its safe
/// default protocol versions (TLS 1.2 and 1.3) and ALPN `http/1.1`.
fn client_config(roots: &[CertificateDer<'static>]) -> Option<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    store.add_parsable_certificates(roots.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Some(config)
}

fn load(source: &RootSource, notices: &crate::notice::Notices) -> Vec<CertificateDer<'static>> {
    let named = source.cert_file.is_some() || !source.cert_dirs.is_empty();
    let result = if source.cert_file.is_none() && source.cert_dirs.is_empty() {
        rustls_native_certs::load_native_certs()
    } else {
        let mut all = rustls_native_certs::load_certs_from_paths(source.cert_file.as_deref(), None);
        for dir in &source.cert_dirs {
            let more = rustls_native_certs::load_certs_from_paths(None, Some(dir));
            all.certs.extend(more.certs);
            all.errors.extend(more.errors);
        }
        all
    };
    let errors = result.errors;
    if !named {
        for error in &errors {
            tracing::debug!("skipping part of the platform's root certificates: {error}");
        }
    }
    let roots: Vec<CertificateDer<'static>> = result
        .certs
        .into_iter()
        // A root rustls cannot parse would fail every client build: leave it out.
        .filter(|der| check_anchor(der).is_ok())
        .collect();
    tracing::debug!(
        count = roots.len(),
        "loaded the platform's root certificates"
    );
    if named && (!errors.is_empty() || roots.is_empty()) {
        let mut errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        if errors.is_empty() {
            errors.push("no certificate found in the files named".into());
        }
        notices.emit(crate::notice::Notice::RootCertificatesSkipped {
            errors,
            loaded: roots.len(),
        });
    }
    roots
}

/// Whether credentials may go to `url` over plain HTTP without `allow_http`: its host is
/// loopback (`127.0.0.0/8`, `::1` or `localhost`), so they never cross a network.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(address)) => address.is_loopback(),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

/// Whether sending credentials to `url` is refused: plain `http://` to a host that is not
/// loopback, unless the instance says `allow_http: true`.
pub fn is_plain_http_refused(url: &Url, transport: &Transport) -> bool {
    url.scheme() == "http" && !transport.allow_http && !is_loopback(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for text in [
            "http://127.0.0.1:8080/",
            "http://127.1.2.3/",
            "http://[::1]:2990/jira/",
            "http://localhost/",
            "http://LOCALHOST:1/",
        ] {
            assert!(is_loopback(&Url::parse(text).unwrap()), "{text}");
        }
        for text in [
            "http://10.0.0.1/",
            "http://jira.example.com/",
            "http://localhost.example.com/",
            "http://[::ffff:10.0.0.1]/",
            "http://128.0.0.1/",
        ] {
            assert!(!is_loopback(&Url::parse(text).unwrap()), "{text}");
        }
    }

    #[test]
    fn plain_http_needs_loopback_or_allow_http() {
        let remote = Url::parse("http://jira.example.com/").unwrap();
        let secure = Url::parse("https://jira.example.com/").unwrap();
        let local = Url::parse("http://127.0.0.1:2990/").unwrap();
        let default = Transport::default();
        let allowed = Transport {
            allow_http: true,
            ..Transport::default()
        };
        assert!(is_plain_http_refused(&remote, &default));
        assert!(!is_plain_http_refused(&remote, &allowed));
        assert!(!is_plain_http_refused(&secure, &default));
        assert!(!is_plain_http_refused(&local, &default));
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        assert!(matches!(
            read_ca_file(&path),
            Err(CaFileError::NoCertificate)
        ));
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(matches!(read_ca_file(&path), Err(CaFileError::Invalid(_))));
        // Base64 that is not a certificate's DER.
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(matches!(read_ca_file(&path), Err(CaFileError::Invalid(_))));
        assert!(matches!(
            read_ca_file(folder.path()),
            Err(CaFileError::File(FileError::NotRegular("directory")))
        ));
        assert!(matches!(
            read_ca_file(&folder.path().join("missing.pem")),
            Err(CaFileError::File(FileError::Io(_)))
        ));
    }
}
