//! Shared test support: a simulator on loopback and small builders for desired state.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use upmsync::model::{
    AppKey, Credentials, Desired, DesiredApp, DesiredInstance, DesiredLicense, DesiredState,
    Hosting, InstallMethod, License, PresentApp, Product, Secret, Source, UnmanagedPolicy,
};
use upmsync::sim::{SeedMarketplaceApp, SeedMarketplaceVersion, SeedPlugin, Sim, SimConfig};
use upmsync::version::VersionSpec;

pub const PASSWORD: &str = "admin";

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub async fn start(config: SimConfig) -> Sim {
    Sim::start(
        config.task_delay(Duration::from_millis(30)),
        loopback(),
        loopback(),
    )
    .await
    .expect("simulator starts on loopback")
}

/// A small Jira: two user apps, one system app, and a Marketplace with a few versions.
pub fn small_jira() -> SimConfig {
    SimConfig::empty()
        .plugin(SeedPlugin::system(
            "com.atlassian.jira.bundled",
            "Bundled Thing",
            "9.12.15",
        ))
        .plugin(
            SeedPlugin::user("com.vendor.alpha", "Alpha", "1.0.0")
                .licensing()
                .license("ALPHA-OLD-LICENSE"),
        )
        .plugin(SeedPlugin::user("com.vendor.beta", "Beta", "2.5.0").licensing())
        .plugin(SeedPlugin::user("com.vendor.gamma", "Gamma", "1.0.0"))
        .marketplace_app(marketplace_app(
            "com.vendor.alpha",
            100,
            &["1.0.0", "1.1.0", "2.0.0"],
        ))
        .marketplace_app(marketplace_app("com.vendor.beta", 200, &["2.0.0", "2.5.0"]))
        .marketplace_app(marketplace_app(
            "com.vendor.delta",
            300,
            &["0.9.0", "1.0.0"],
        ))
}

pub fn marketplace_app(key: &str, id: u64, versions: &[&str]) -> SeedMarketplaceApp {
    SeedMarketplaceApp {
        key: key.into(),
        name: format!("{key} app"),
        id,
        versions: versions
            .iter()
            .enumerate()
            .map(|(index, name)| SeedMarketplaceVersion {
                name: (*name).into(),
                build_number: id * 1000 + index as u64 + 1,
                uses_licensing: true,
                corrupt_artifact: false,
            })
            .collect(),
    }
}

pub fn present(key: &str, version: &str) -> DesiredApp {
    DesiredApp {
        key: AppKey::new(key),
        state: DesiredState::Present(PresentApp {
            version: VersionSpec::parse(version).unwrap(),
            enabled: true,
            license: DesiredLicense::Unmanaged,
            source: Source::Marketplace,
            install: InstallMethod::Auto,
            sha256: None,
            allow_incompatible: false,
            hosting: None,
        }),
        position: 0,
        requires: Vec::new(),
    }
}

pub fn absent(key: &str) -> DesiredApp {
    DesiredApp {
        key: AppKey::new(key),
        state: DesiredState::Absent,
        position: 0,
        requires: Vec::new(),
    }
}

pub fn with_license(mut app: DesiredApp, text: &str) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.license =
            DesiredLicense::Present(License::new(Secret::new(text), "env TEST_LICENSE"));
    }
    app
}

pub fn without_license(mut app: DesiredApp) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.license = DesiredLicense::Absent;
    }
    app
}

pub fn disabled(mut app: DesiredApp) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.enabled = false;
    }
    app
}

pub fn from_path(mut app: DesiredApp, path: &Path) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.source = Source::Path(path.to_path_buf());
    }
    app
}

pub fn instance(sim: &Sim, apps: Vec<DesiredApp>) -> DesiredInstance {
    DesiredInstance {
        name: "jira-test".into(),
        url: sim.upm_url(),
        product: Product::Jira,
        hosting: Hosting::Datacenter,
        transport: Default::default(),
        credentials: Credentials::Basic {
            username: "admin".into(),
            password: Secret::new(PASSWORD),
        },
        unmanaged: UnmanagedPolicy::Ignore,
        // Manifest order is the order of the list.
        apps: apps
            .into_iter()
            .enumerate()
            .map(|(position, app)| (app.key.clone(), DesiredApp { position, ..app }))
            .collect::<BTreeMap<_, _>>(),
    }
}

pub fn desired(sim: &Sim, instances: Vec<DesiredInstance>) -> Desired {
    Desired {
        manifest_path: "apps.yaml".into(),
        marketplace_url: sim.marketplace_url(),
        instances,
    }
}

/// Changes how an app's artifact reaches UPM.
pub fn installed_by(mut app: DesiredApp, install: InstallMethod) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.install = install;
    }
    app
}

/// Pins an app's artifact hash.
pub fn pinned(mut app: DesiredApp, sha256: &str) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.sha256 = Some(upmsync::model::Sha256::parse(sha256).unwrap());
    }
    app
}

pub fn allow_incompatible(mut app: DesiredApp) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.allow_incompatible = true;
    }
    app
}

/// The requests that could change something (POST, PUT, DELETE) the simulator received.
pub fn mutating(sim: &Sim) -> Vec<upmsync::sim::RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(upmsync::sim::RecordedRequest::is_mutating)
        .collect()
}

/// Carries out `plan` on the first instance of `desired`, with the given cache and client options.
pub async fn execute_plan(
    desired: &Desired,
    plan: &upmsync::plan::InstancePlan,
    cache: &upmsync::marketplace::download::Cache,
    mode: upmsync::execute::Mode,
    options: upmsync::http::HttpSettings,
) -> upmsync::execute::ApplyReport {
    let instance = &desired.instances[0];
    let upm = upmsync::upm::UpmClient::new(instance, &options).unwrap();
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    upmsync::execute::execute(
        plan,
        instance,
        &upm,
        cache,
        mode,
        &interrupted,
        &mut |_, _| {},
    )
    .await
}

/// Serves `bytes` at a loopback URL (any path: `/app.jar`) for the rest of the test.
pub async fn serve_bytes(bytes: Vec<u8>) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move || {
        let bytes = bytes.clone();
        async move { bytes }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}/app.jar").parse().unwrap()
}

/// Reads and plans the first instance of `desired` (resolving artifacts), which must plan.
pub async fn plan_one(desired: &Desired) -> upmsync::plan::InstancePlan {
    let plan = upmsync::commands::read_and_plan(
        desired,
        upmsync::commands::Resolve::Artifacts,
        &upmsync::http::HttpSettings::default(),
    )
    .await;
    plan.instances[0]
        .result
        .clone()
        .expect("the instance plans")
}

/// Applies `plan` to the first instance of `desired`, with a fresh cache and default options.
pub async fn apply_plan(
    desired: &Desired,
    plan: &upmsync::plan::InstancePlan,
) -> upmsync::execute::ApplyReport {
    let folder = tempfile::tempdir().unwrap();
    let cache = upmsync::marketplace::download::Cache::new(
        folder.path(),
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    execute_plan(
        desired,
        plan,
        &cache,
        upmsync::execute::Mode::Apply,
        upmsync::http::HttpSettings::default(),
    )
    .await
}
