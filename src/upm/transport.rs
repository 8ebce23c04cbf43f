//! TLS settings of an instance's HTTP client: extra CA certificates (`ca_file`) beside the system
//! roots, and `insecure_skip_tls_verify`. The manifest loader reads `ca_file` through the same
//! function, so a bad file is a manifest problem before any request.

use std::path::Path;

use reqwest::{Certificate, ClientBuilder};
use url::{Host, Url};

use crate::files::{self, FileError};
use crate::model::Transport;

/// A CA bundle is a few kilobytes; even the whole system bundle is well under this.
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why a `ca_file` cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CaFileError {
    /// It cannot be read, is not a regular file, or is too large (see [`FileError`]).
    #[error(transparent)]
    File(#[from] FileError),
    #[error("it holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)")]
    NoCertificate,
    #[error("it holds a certificate that cannot be read: {0}")]
    Invalid(String),
}

/// Reads the PEM certificates of a CA file: at least one, each one checked to be a certificate a
/// TLS client can trust. The file must be a regular file; it is capped while reading.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<Certificate>, CaFileError> {
    let bytes = files::read_capped(path, MAX_CA_FILE_BYTES)?;
    let certificates = Certificate::from_pem_bundle(&bytes)
        .map_err(|error| CaFileError::Invalid(reason(&error)))?;
    if certificates.is_empty() {
        return Err(CaFileError::NoCertificate);
    }
    // `from_pem_bundle` only decodes base64; the DER inside is parsed when a client is built.
    // Building one without the system roots is cheap and checks every certificate now.
    certificates
        .iter()
        .fold(
            reqwest::Client::builder().tls_built_in_root_certs(false),
            |builder, certificate| builder.add_root_certificate(certificate.clone()),
        )
        .build()
        .map_err(|error| CaFileError::Invalid(reason(&error)))?;
    Ok(certificates)
}

/// Whether credentials may go to `url` over plain HTTP without `allow_http`: its host is
/// loopback (`127.0.0.0/8`, `::1` or `localhost`), so they never cross a network.
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(address)) => address.is_loopback(),
        Some(Host::Ipv6(address)) => address.is_loopback(),
        None => false,
    }
}

/// Whether sending credentials to `url` is refused: plain `http://` to a host that is not
/// loopback, unless the instance says `allow_http: true`.
pub(crate) fn is_plain_http_refused(url: &Url, transport: &Transport) -> bool {
    url.scheme() == "http" && !transport.allow_http && !is_loopback(url)
}

/// Applies an instance's transport settings to its client: `ca_file` certificates are trusted
/// beside the system roots, `insecure_skip_tls_verify` turns certificate checks off, and plain
/// HTTP the manifest would refuse is refused here too.
pub(crate) fn secure(builder: ClientBuilder, url: &Url, transport: &Transport) -> ClientBuilder {
    // The loader already refuses such a manifest; this keeps a hand-built `DesiredInstance` from
    // sending credentials in clear text.
    let mut builder = builder.https_only(is_plain_http_refused(url, transport));
    if let Some(path) = &transport.ca_file {
        match read_ca_file(path) {
            Ok(certificates) => {
                for certificate in certificates {
                    builder = builder.add_root_certificate(certificate);
                }
            }
            Err(error) => {
                // The loader checked this file, so it changed since. `UpmClient::new` can only
                // fail with a `reqwest::Error`: an empty root makes `build` fail, so the client
                // is never built without the CA the manifest asks for.
                tracing::error!("cannot use the CA file `{}`: {error}", path.display());
                if let Ok(empty) = Certificate::from_der(&[]) {
                    builder = builder.add_root_certificate(empty);
                }
            }
        }
    }
    if transport.insecure_skip_tls_verify {
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder
}

/// reqwest's message and its causes on one line.
fn reason(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
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
