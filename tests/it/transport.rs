//! Transport security against servers on loopback: a redirect never carries credentials to
//! another host, and the binary warns on every run about an instance whose TLS is not verified.

use std::sync::{Arc, Mutex};

use crate::support::*;
use crate::upmsync_snapshot;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use upmsync::model::Transport;
use upmsync::upm::{UpmClient, UpmError};

/// A request a test server received: its path and whether it carried `Authorization`.
type Received = Arc<Mutex<Vec<(String, bool)>>>;

/// Serves `answer` for every request on 127.0.0.1:0 and records what it received.
async fn serve(
    answer: impl Fn() -> (StatusCode, HeaderMap) + Clone + Send + Sync + 'static,
) -> (String, Received, tokio::task::JoinHandle<()>) {
    let received: Received = Arc::default();
    let recorder = received.clone();
    let router = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let recorder = recorder.clone();
        let answer = answer.clone();
        async move {
            recorder
                .lock()
                .unwrap()
                .push((uri.to_string(), headers.contains_key(header::AUTHORIZATION)));
            answer()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{address}/"), received, server)
}

#[tokio::test]
async fn a_redirect_to_another_host_is_an_error_and_carries_no_credentials() {
    let (other, other_received, other_server) = serve(|| (StatusCode::OK, HeaderMap::new())).await;
    let location = format!("{other}rest/plugins/1.0/");
    let (origin, origin_received, origin_server) = serve(move || {
        let mut headers = HeaderMap::new();
        headers.insert(header::LOCATION, location.parse().unwrap());
        (StatusCode::FOUND, headers)
    })
    .await;

    let sim = start(small_jira()).await;
    let mut instance = instance(&sim, vec![]);
    instance.url = origin.parse().unwrap();
    let client = UpmClient::new(&instance, &upmsync::http::HttpSettings::default()).unwrap();
    let error = client.list_plugins().await.unwrap_err();

    assert!(
        matches!(error, UpmError::Redirect { status, .. } if status == reqwest::StatusCode::FOUND),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains(&other), "names the redirect target: {text}");
    let origin_received = origin_received.lock().unwrap().clone();
    assert!(
        !origin_received.is_empty() && origin_received.iter().all(|(_, auth)| *auth),
        "the instance itself got the credentials: {origin_received:?}"
    );
    let other_received = other_received.lock().unwrap().clone();
    assert!(
        other_received.iter().all(|(_, auth)| !auth),
        "credentials reached the other host: {other_received:?}"
    );
    assert!(
        other_received.is_empty(),
        "the redirect was followed: {other_received:?}"
    );
    origin_server.abort();
    other_server.abort();
}

#[tokio::test]
async fn a_client_never_sends_credentials_over_plain_http_the_manifest_would_refuse() {
    // A hand-built instance skips the loader's check; the client refuses the request itself.
    // `0.0.0.0` is not loopback by the manifest's rule, yet never leaves this machine.
    let sim = start(small_jira()).await;
    let mut remote = instance(&sim, vec![]);
    remote.url = "http://0.0.0.0:1/".parse().unwrap();
    let error = UpmClient::new(&remote, &upmsync::http::HttpSettings::default())
        .unwrap()
        .list_plugins()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("scheme"), "{error}");

    // Loopback stays allowed, and an unverified client still works.
    let mut local = instance(&sim, vec![]);
    local.transport = Transport {
        insecure_skip_tls_verify: true,
        ..Transport::default()
    };
    let client = UpmClient::new(&local, &upmsync::http::HttpSettings::default()).unwrap();
    assert!(!client.list_plugins().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_ca_file_that_vanished_after_loading_stops_the_client() {
    let sim = start(small_jira()).await;
    let mut instance = instance(&sim, vec![]);
    instance.transport.ca_file = Some("/nonexistent/upmsync-test/ca.pem".into());
    let error = UpmClient::new(&instance, &upmsync::http::HttpSettings::default()).unwrap_err();
    // A typed error that names the file, not reqwest's refusal of an empty certificate.
    assert!(
        matches!(
            &error,
            upmsync::upm::UpmError::Client(upmsync::http::HttpError::CaFile { .. })
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("`/nonexistent/upmsync-test/ca.pem`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_ca_file_without_certificates_is_an_error_naming_the_file() {
    let sim = start(small_jira()).await;
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("corporate-ca.pem");
    std::fs::write(
        &path,
        "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let mut instance = instance(&sim, vec![]);
    instance.transport.ca_file = Some(path.clone());
    let error = UpmClient::new(&instance, &upmsync::http::HttpSettings::default()).unwrap_err();
    let text = upmsync::error::error_text(&error);
    assert!(
        text.starts_with(&format!(
            "cannot use the CA file `{}`\nCaused by: it holds a certificate that cannot be read",
            path.display()
        )),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_warns_once_per_run_about_each_unverified_instance() {
    let case = TestEnv::new().await;
    let sim = &case.sim;
    let instance = |name: &str, extra: &str| {
        format!(
            "  - name: {name}\n    url: {upm}\n    product: jira\n    auth:\n      username_env: TEST_JIRA_USER\n      password_env: TEST_JIRA_PASSWORD\n{extra}",
            upm = sim.upm_url()
        )
    };
    let manifest = format!(
        "marketplace:\n  url: {marketplace}\ninstances:\n{insecure}{verified}apps:\n  - key: com.vendor.beta\n    version: 2.5.0\n",
        marketplace = sim.marketplace_url(),
        insecure = instance("jira-insecure", "    insecure_skip_tls_verify: true\n"),
        verified = instance("jira-verified", "    insecure_skip_tls_verify: false\n"),
    );
    std::fs::write(case.path("apps.yaml"), manifest).unwrap();
    let warning = "warning: TLS verification is off for instance `jira-insecure` (insecure_skip_tls_verify); anyone on the network path can read its credentials";

    for command in ["plan", "drift", "apply"] {
        let output = case.run(&[command, "-f", "apps.yaml"]).await;
        let stderr = &output.stderr;
        assert_eq!(output.code, 0, "{command} exits 0: {stderr}");
        assert_eq!(
            stderr.matches(warning).count(),
            1,
            "{command} warns once:\n{stderr}"
        );
        assert!(
            !stderr.contains("`jira-verified` (insecure"),
            "{command} warns only about the unverified instance:\n{stderr}"
        );
        assert!(!output.stdout.contains("warning:"), "warnings go to stderr");
    }

    // `validate` touches no instance, so it does not warn.
    let output = case.run(&["validate", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 0
    ----- stdout -----
    ----- stderr -----
    `apps.yaml` is valid: 2 instance(s)
      jira-insecure (jira, [SIM]/): 1 app(s) wanted, 0 absent
      jira-verified (jira, [SIM]/): 1 app(s) wanted, 0 absent
    ");
}

/// `SSL_CERT_FILE` naming a file that does not exist: the user asked for those roots, so the run
/// says on stderr that none could be used (not only in a `-v` debug line), once, naming the file.
#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_ssl_cert_file_is_a_warning_naming_it() {
    let case = TestEnv::new().await;
    case.manifest("", "ignore");
    let missing = case.path("no-such-bundle.pem");
    let drift = case
        .run_env(
            &["drift", "-f", "apps.yaml"],
            // An empty SSL_CERT_DIR names no folder (this machine's may set one).
            &[
                ("SSL_CERT_FILE", missing.to_str().unwrap()),
                ("SSL_CERT_DIR", ""),
            ],
        )
        .await;
    // The simulator speaks plain HTTP on loopback: the run itself still works.
    assert_eq!(drift.code, 0, "{}", drift.snapshot());
    let warnings: Vec<&str> = drift
        .stderr
        .lines()
        .filter(|line| line.starts_with("warning: SSL_CERT_FILE/SSL_CERT_DIR"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", drift.snapshot());
    assert!(
        warnings[0].contains("no-such-bundle.pem")
            && warnings[0].contains("0 root certificate(s) are trusted"),
        "{}",
        drift.snapshot()
    );
}

/// A test CA and a certificate it signed for `127.0.0.1`, as PEM files in `dir`, with the leaf's
/// key for a server.
fn test_ca(
    dir: &std::path::Path,
    name: &str,
) -> (
    std::path::PathBuf,
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("upmsync test CA {name}"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, ca.pem()).unwrap();
    (
        path,
        leaf.der().clone(),
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
}

/// An HTTPS server on 127.0.0.1:0 that answers every request `200 ok` and closes.
async fn serve_tls(
    certificate: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certificate], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, server)
}

/// HTTPS through the TLS setup every client shares (built once per run from the platform's roots,
/// here `SSL_CERT_FILE`'s CA): a server that CA signed is trusted, a server another CA signed is
/// refused; an instance's own `ca_file`, and `insecure_skip_tls_verify`, still get a setup of
/// their own that works beside the shared one.
#[tokio::test]
async fn https_is_verified_by_the_shared_roots_and_by_an_instances_own_ca_file() {
    use upmsync::http::tls::{RootSource, Roots};
    use upmsync::http::{client, HttpSettings, Profile};
    let dir = tempfile::tempdir().unwrap();
    let (trusted_ca, trusted_leaf, trusted_key) = test_ca(dir.path(), "trusted");
    let (other_ca, other_leaf, other_key) = test_ca(dir.path(), "other");
    let (trusted_port, trusted_server) = serve_tls(trusted_leaf, trusted_key).await;
    let (other_port, other_server) = serve_tls(other_leaf, other_key).await;
    let settings = HttpSettings {
        roots: Roots::new(RootSource {
            cert_file: Some(trusted_ca),
            cert_dirs: Vec::new(),
        }),
        ..HttpSettings::default()
    };
    assert!(settings.roots.client_config(&settings.notices).is_some());

    let marketplace = client(&settings, Profile::Marketplace).unwrap();
    let answer = marketplace
        .get(format!("https://127.0.0.1:{trusted_port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let refused = marketplace
        .get(format!("https://127.0.0.1:{other_port}/"))
        .send()
        .await
        .unwrap_err();
    let text = upmsync::error::chain_text(&refused);
    assert!(text.contains("UnknownIssuer"), "{text}");

    // The other server, trusted through an instance's own CA file (the shared roots do not hold it).
    let url = url::Url::parse(&format!("https://127.0.0.1:{other_port}/")).unwrap();
    let own_ca = Transport {
        ca_file: Some(other_ca),
        ..Transport::default()
    };
    let upm = client(
        &settings,
        Profile::Upm {
            url: &url,
            transport: &own_ca,
            cookies: Arc::default(),
        },
    )
    .unwrap();
    assert_eq!(upm.get(url.clone()).send().await.unwrap().status(), 200);
    // And without verification.
    let insecure = Transport {
        insecure_skip_tls_verify: true,
        ..Transport::default()
    };
    let upm = client(
        &settings,
        Profile::Upm {
            url: &url,
            transport: &insecure,
            cookies: Arc::default(),
        },
    )
    .unwrap();
    assert_eq!(upm.get(url).send().await.unwrap().status(), 200);
    trusted_server.abort();
    other_server.abort();
}
