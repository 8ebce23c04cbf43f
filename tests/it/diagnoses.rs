//! Every answer that is not UPM's gets a diagnosis an admin can act on without reading HTTP
//! (issue 7): web pages, SSO, WebSudo, permissions, a proxy's 413, UPM failing to download, rate
//! limits. Raw HTML never reaches the message.

use crate::support::*;
use upmsync::commands::read_and_plan;
use upmsync::execute::{ApplyReport, Outcome};
use upmsync::model::{Credentials, Desired, DesiredState, InstallMethod, Secret, Source};
use upmsync_sim::{jar, Sim, WebPage};

/// The error of reading and planning the only instance.
async fn plan_error(desired: &Desired) -> String {
    let plan = read_and_plan(desired, &upmsync::http::HttpSettings::default()).await;
    plan.instances[0]
        .result
        .as_ref()
        .map(|_| ())
        .map_err(|error| upmsync::error::error_text(&**error))
        .expect_err("the instance must not plan")
}

/// Plans and applies the only instance, with a fresh cache.
async fn apply(desired: &Desired) -> ApplyReport {
    apply_plan(desired, &plan_one(desired).await).await
}

fn failed(report: &ApplyReport) -> String {
    report
        .changes
        .iter()
        .find_map(|change| match &change.outcome {
            Outcome::Failed { error } => Some(error.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no change failed: {report:#?}"))
}

fn no_markup(error: &str) {
    assert!(
        !error.contains("<html") && !error.contains("<body") && !error.contains("<form"),
        "raw markup in: {error}"
    );
    assert!(error.len() < 1500, "too long: {error}");
}

fn small(sim: &Sim) -> Desired {
    desired(
        sim,
        vec![instance(sim, vec![present("com.vendor.alpha", "1.0.0")])],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn each_web_page_is_named_with_what_usually_causes_it() {
    let sim = start(small_jira()).await;
    let desired = small(&sim);
    for (page, says, hint) in [
        (WebPage::Login, "a login page", "logs in once in a browser"),
        (
            WebPage::Setup,
            "the product's setup wizard",
            "finish its setup wizard",
        ),
        (WebPage::Upgrade, "an upgrade screen", "upgrading"),
        (
            WebPage::Maintenance,
            "a maintenance page",
            "run again when it is back",
        ),
    ] {
        sim.set_web_page(Some(page));
        let error = plan_error(&desired).await;
        assert!(error.contains(says), "{page:?}: {error}");
        assert!(error.contains(hint), "{page:?}: {error}");
        assert!(
            error.contains("rest/plugins/1.0/"),
            "names the request: {error}"
        );
        no_markup(&error);
    }
    sim.set_web_page(Some(WebPage::Sso));
    let error = plan_error(&desired).await;
    assert!(
        error.contains("a redirect to https://idp.example.com/"),
        "{error}"
    );
    assert!(error.contains("single sign-on"), "{error}");
    assert!(!error.contains("SAMLRequest="), "no query strings: {error}");
    sim.set_web_page(None);
    assert!(
        read_and_plan(&desired, &upmsync::http::HttpSettings::default())
            .await
            .instances[0]
            .result
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn websudo_gets_its_own_hint() {
    let sim = start(small_jira()).await;
    sim.set_websudo(true);
    let error = plan_error(&small(&sim)).await;
    assert!(error.contains("upm.websudo.error"), "{error}");
    assert!(error.contains("secure administrator session"), "{error}");
    assert!(error.contains("personal access token"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_permission_is_not_called_a_credential_problem() {
    let sim = start(small_jira().user("helpdesk", "pw", false)).await;
    let mut desired = desired(&sim, vec![instance(&sim, vec![absent("com.vendor.gamma")])]);
    desired.instances[0].credentials = Credentials::Basic {
        username: "helpdesk".into(),
        password: Secret::new("pw"),
    };
    let report = apply(&desired).await;
    let error = failed(&report);
    assert!(error.contains("answered 401"), "{error}");
    assert!(error.contains("lacks the permission"), "{error}");
    assert!(error.contains("system administrator"), "{error}");
    assert!(sim.plugin("com.vendor.gamma").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_body_limit_names_the_size_and_the_way_around() {
    let sim = start(small_jira()).await;
    sim.set_proxy_max_body(Some(200));
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("delta.jar");
    std::fs::write(
        &path,
        jar::build_plugin_jar("com.vendor.delta", "Delta", "1.0.0", false),
    )
    .unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let app = from_path(present("com.vendor.delta", "1.0.0"), &path);
    let desired = desired(&sim, vec![instance(&sim, vec![app])]);
    let error = failed(&apply(&desired).await);
    assert!(error.contains("413 Request Entity Too Large"), "{error}");
    assert!(error.contains(&format!("for {size} bytes")), "{error}");
    assert!(error.contains("client_max_body_size"), "{error}");
    assert!(error.contains("install: uri"), "{error}");
    no_markup(&error);
    assert!(sim.plugin("com.vendor.delta").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn upm_that_cannot_download_points_at_upload_and_its_proxy() {
    let sim = start(small_jira()).await;
    sim.set_no_outbound(true);
    let desired = desired(
        &sim,
        vec![instance(&sim, vec![present("com.vendor.delta", "1.0.0")])],
    );
    let error = failed(&apply(&desired).await);
    assert!(
        error.contains("UPM could not download the artifact"),
        "{error}"
    );
    assert!(
        error.contains("upm.pluginInstall.error.response.exception")
            || error.contains("Connect to"),
        "{error}"
    );
    assert!(error.contains("install: upload"), "{error}");
    assert!(error.contains("proxy"), "{error}");
    // The way around works.
    let mut app = present("com.vendor.delta", "1.0.0");
    if let DesiredState::Present(present) = &mut app.state {
        present.install = InstallMethod::Upload;
    }
    let desired = one_instance(&sim, vec![app]);
    assert!(apply(&desired).await.succeeded());
    assert_eq!(sim.plugin("com.vendor.delta").unwrap().version, "1.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limited_changes_converge() {
    let sim = start(small_jira()).await;
    sim.set_rate_limit_changes(3, 1);
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![
                present("com.vendor.alpha", "2.0.0"),
                disabled(present("com.vendor.beta", "2.5.0")),
                absent("com.vendor.gamma"),
            ],
        )],
    );
    let report = apply(&desired).await;
    assert!(report.succeeded(), "{report:#?}");
    let limited = mutating(&sim)
        .into_iter()
        .filter(|request| request.status == 429)
        .count();
    assert_eq!(limited, 3);
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "2.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_source_that_upm_cannot_fetch_is_a_download_failure_too() {
    let sim = start(small_jira()).await;
    let mut app = present("com.vendor.delta", "1.0.0");
    if let DesiredState::Present(present) = &mut app.state {
        // Nothing listens there.
        present.source = Source::Url("http://127.0.0.1:9/delta.jar".parse().unwrap());
    }
    let error = failed(&apply(&one_instance(&sim, vec![app])).await);
    assert!(
        error.contains("UPM could not download the artifact"),
        "{error}"
    );
    assert!(error.contains("`127.0.0.1`"), "{error}");
}
