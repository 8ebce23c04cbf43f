//! What was verified is what gets installed (issue 8): a pinned sha256 (manifest or lock) makes
//! `install: auto` upload the verified bytes instead of letting UPM download them again, `install:
//! uri` keeps trusting UPM's download, a refused upload names that choice, and a lock entry for a
//! Marketplace app that points elsewhere is refused.

use crate::support::*;
use upmsync::model::{Delivery, DesiredApp, DesiredState, InstallMethod, Sha256};
use upmsync_sim::Sim;

/// The sha256 of what the simulated Marketplace serves for `com.vendor.alpha` 2.0.0.
async fn alpha_sha(sim: &Sim) -> String {
    let url = sim
        .marketplace_url()
        .join("download/apps/100/version/100003")
        .unwrap();
    let bytes = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    Sha256::of(&bytes).to_string()
}

fn with_install(mut app: DesiredApp, install: InstallMethod) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.install = install;
    }
    app
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pinned_artifact_is_uploaded_as_verified() {
    let sim = start(small_jira()).await;
    let sha = alpha_sha(&sim).await;
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![pinned(present("com.vendor.alpha", "2.0.0"), &sha)],
        )],
    );
    let plan = plan_one(&desired).await;
    let artifact = plan.changes[0].op.artifact().unwrap().artifact();
    assert_eq!(artifact.delivery, Delivery::Upload, "{artifact:?}");
    sim.clear_requests();
    let report = apply_plan(&desired, &plan).await;
    assert!(report.succeeded(), "{report:#?}");
    let posts: Vec<_> = mutating(&sim)
        .into_iter()
        .filter(|request| request.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert!(
        posts[0]
            .content_type
            .as_deref()
            .is_some_and(|content_type| content_type.starts_with("multipart/")),
        "the verified bytes were uploaded: {posts:?}"
    );
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "2.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn install_uri_keeps_trusting_upms_own_download() {
    let sim = start(small_jira()).await;
    let sha = alpha_sha(&sim).await;
    let app = with_install(
        pinned(present("com.vendor.alpha", "2.0.0"), &sha),
        InstallMethod::Uri,
    );
    let desired = desired(&sim, vec![instance(&sim, vec![app])]);
    let plan = plan_one(&desired).await;
    assert!(matches!(
        plan.changes[0].op.artifact(),
        Some(upmsync::plan::PlannedArtifact::Uri {
            fetch_first: true,
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_upload_of_a_pinned_artifact_names_the_choice() {
    let sim = start(small_jira()).await;
    sim.set_upload_enabled(false);
    let sha = alpha_sha(&sim).await;
    let desired = desired(
        &sim,
        vec![instance(
            &sim,
            vec![pinned(present("com.vendor.alpha", "2.0.0"), &sha)],
        )],
    );
    let report = apply_plan(&desired, &plan_one(&desired).await).await;
    let upmsync::execute::Outcome::Failed { error } = &report.changes[0].outcome else {
        panic!("{report:#?}")
    };
    assert!(error.contains("upm.plugin.upload.enabled"), "{error}");
    assert!(
        error.contains("`install: uri` trusts that download"),
        "{error}"
    );
    assert_eq!(sim.plugin("com.vendor.alpha").unwrap().version, "1.0.0");
}
