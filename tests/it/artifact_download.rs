//! The download cache against the simulated Marketplace: streamed once, cached by sha256, pinned
//! hashes short-circuit, mismatches are refused and not kept (issue 3 "Artifacts").

use std::path::Path;

use crate::support::start;
use upmsync::artifact::verify_file;
use upmsync::marketplace::download::{Cache, DownloadError};
use upmsync::model::{AppKey, Sha256, Version};
use upmsync_sim::{
    RecordedRequest, SeedMarketplaceApp, SeedMarketplaceVersion, Sim, SimConfig, SimServer,
};
use url::Url;

/// PDF View 11.4.0 in `SimConfig::jira_demo()`.
const PDFVIEW: &str = "com.midori.jira.plugin.pdfview";
const PDFVIEW_DOWNLOAD: &str = "download/apps/5167/version/1004400";

fn url(sim: &Sim, path: &str) -> Url {
    sim.marketplace_url().join(path).unwrap()
}

fn downloads(sim: &Sim) -> Vec<RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|request| request.server == SimServer::Marketplace && request.method == "GET")
        .collect()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_download_is_cached_and_not_requested_again() {
    let sim = start(SimConfig::jira_demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(
        dir.path().join("cache"),
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    let download = url(&sim, PDFVIEW_DOWNLOAD);

    let first = cache.fetch(&download, None).await.unwrap();
    assert_eq!(downloads(&sim).len(), 1);
    assert_eq!(
        first.path,
        dir.path()
            .join("cache/sha256")
            .join(format!("{}.jar", first.sha256.as_str()))
    );
    let bytes = std::fs::read(&first.path).unwrap();
    assert_eq!(Sha256::of(&bytes), first.sha256);
    // What was cached is the plugin, and it verifies.
    let verified = verify_file(
        &first.path,
        &AppKey::new(PDFVIEW),
        &Version::parse("11.4.0").unwrap(),
        Some(&first.sha256),
    )
    .unwrap();
    assert_eq!(verified.descriptor.key, PDFVIEW);

    sim.clear_requests();
    let second = cache.fetch(&download, None).await.unwrap();
    assert_eq!(second, first);
    assert_eq!(downloads(&sim), vec![], "the second fetch made no request");
    // A second Cache on the same directory (a later run) also finds it.
    let again = Cache::new(
        dir.path().join("cache"),
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    assert_eq!(again.fetch(&download, None).await.unwrap(), first);
    assert_eq!(downloads(&sim), vec![]);
    assert!(files(&dir.path().join("cache/tmp")).is_empty());
}

#[tokio::test]
async fn a_pinned_sha256_already_cached_makes_no_request() {
    let sim = start(SimConfig::jira_demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path(), &upmsync::http::HttpSettings::default()).unwrap();
    let pinned = cache
        .fetch(&url(&sim, PDFVIEW_DOWNLOAD), None)
        .await
        .unwrap()
        .sha256;

    sim.clear_requests();
    // Another URL (the older download form, §6) for the same bytes: the hash alone finds them.
    let other_form = url(&sim, &format!("download/plugins/{PDFVIEW}/version/1004400"));
    let cached = cache.fetch(&other_form, Some(&pinned)).await.unwrap();
    assert_eq!(cached.sha256, pinned);
    assert_eq!(sim.requests(), vec![], "no request at all");

    // Without the pin, that URL is unknown and is downloaded (to the same file).
    let downloaded = cache.fetch(&other_form, None).await.unwrap();
    assert_eq!(downloaded, cached);
    assert_eq!(downloads(&sim).len(), 1);
}

#[tokio::test]
async fn a_sha256_mismatch_names_url_expected_and_found_and_keeps_nothing() {
    let sim = start(SimConfig::jira_demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path(), &upmsync::http::HttpSettings::default()).unwrap();
    let download = url(&sim, &format!("{PDFVIEW_DOWNLOAD}?access-token=secret"));
    let pinned = Sha256::of(b"not the artifact");

    let error = cache.fetch(&download, Some(&pinned)).await.unwrap_err();
    let DownloadError::Sha256Mismatch {
        url,
        expected,
        found,
    } = &error
    else {
        panic!("expected a sha256 mismatch, got {error:?}");
    };
    assert_eq!(expected, &pinned);
    assert_ne!(found, &pinned);
    assert!(url.ends_with(&format!("{PDFVIEW_DOWNLOAD}?...")), "{url}");
    let message = error.to_string();
    assert!(!message.contains("secret"), "{message}");
    assert!(
        message.contains(pinned.as_str()) && message.contains(found.as_str()),
        "{message}"
    );
    for sub in ["sha256", "urls", "tmp"] {
        assert!(files(&dir.path().join(sub)).is_empty(), "{sub} is empty");
    }

    // Asked again, it is downloaded again (nothing bad was remembered) and refused again.
    sim.clear_requests();
    assert!(cache.fetch(&download, Some(&pinned)).await.is_err());
    assert_eq!(downloads(&sim).len(), 1);
}

#[tokio::test]
async fn an_unknown_download_is_a_404_naming_the_url() {
    let sim = start(SimConfig::jira_demo()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path(), &upmsync::http::HttpSettings::default()).unwrap();
    let missing = url(&sim, "download/apps/5167/version/1");

    let error = cache.fetch(&missing, None).await.unwrap_err();
    assert!(
        matches!(&error, DownloadError::Status { status, .. } if status.as_u16() == 404),
        "{error:?}"
    );
    let message = upmsync::error::error_text(&error);
    assert!(
        message.starts_with(&format!("GET {missing} answered 404")),
        "{message}"
    );
    assert!(message.contains("\nhint: "), "{message}");
    assert!(files(&dir.path().join("sha256")).is_empty());
    assert!(files(&dir.path().join("tmp")).is_empty());
}

#[tokio::test]
async fn a_corrupt_artifact_is_cached_as_downloaded_and_fails_verification() {
    let config = SimConfig::jira_demo().marketplace_app(
        SeedMarketplaceApp::new("com.example.broken", "Broken", 9001, [])
            .version(SeedMarketplaceVersion::new("1.0", 1).corrupt()),
    );
    let sim = start(config).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path(), &upmsync::http::HttpSettings::default()).unwrap();
    let cached = cache
        .fetch(&url(&sim, "download/apps/9001/version/1"), None)
        .await
        .unwrap();
    let error = verify_file(
        &cached.path,
        &AppKey::new("com.example.broken"),
        &Version::parse("1.0").unwrap(),
        Some(&cached.sha256),
    )
    .unwrap_err();
    assert!(error.to_string().contains("not a zip file"), "{error}");
}

#[tokio::test]
async fn redirects_are_followed() {
    let sim = start(SimConfig::jira_demo()).await;
    let target = url(&sim, PDFVIEW_DOWNLOAD).to_string();
    let router = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { axum::response::Redirect::temporary(&target) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path(), &upmsync::http::HttpSettings::default()).unwrap();
    let redirecting = Url::parse(&format!("http://{address}/download/plugins/x")).unwrap();
    let cached = cache.fetch(&redirecting, None).await.unwrap();
    assert_eq!(
        downloads(&sim).len(),
        1,
        "the simulator served the redirect target"
    );
    let verified = verify_file(
        &cached.path,
        &AppKey::new(PDFVIEW),
        &Version::parse("11.4.0").unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(verified.sha256, cached.sha256);
    server.abort();
}
