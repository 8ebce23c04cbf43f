//! The one test harness: one way to start the simulator ([`start`]), one way to run the binary
//! ([`command`], [`run_binary`], [`TestEnv`]) into a [`CommandOutput`], the [`upmsync_snapshot!`]
//! macro, and small builders for desired state.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use upmsync::model::{
    AppKey, Credentials, Desired, DesiredApp, DesiredInstance, DesiredLicense, DesiredState,
    Hosting, InstallMethod, License, PresentApp, Product, Secret, Source, UnmanagedPolicy,
};
use upmsync::version::VersionSpec;
use upmsync_sim::{
    RecordedRequest, SeedMarketplaceApp, SeedMarketplaceVersion, SeedPlugin, Sim, SimConfig,
};

pub(crate) const PASSWORD: &str = "admin";

/// The license text every binary run finds in `TEST_LICENSE`; it must never be printed.
pub(crate) const LICENSE: &str = "AAABsecretLicenseTextThatMustNeverBePrinted==";

/// The manifest [`TestEnv::manifest`] writes: one instance `jira-test` on the simulator, with
/// credentials from `TEST_JIRA_USER`/`TEST_JIRA_PASSWORD`; `{apps}` is YAML for the app list.
pub(crate) fn manifest_text(sim: &Sim, apps: &str, unmanaged: &str) -> String {
    format!(
        "marketplace:\n  url: {marketplace}\ninstances:\n  - name: jira-test\n    url: {upm}\n    product: jira\n    auth:\n      username_env: TEST_JIRA_USER\n      password_env: TEST_JIRA_PASSWORD\n    unmanaged: {unmanaged}\napps:\n{apps}",
        marketplace = sim.marketplace_url(),
        upm = sim.upm_url(),
    )
}

/// The one way to start the binary: `upmsync` in `dir`, with the test credentials and license in
/// the environment, its own cache (so its own instance locks: tests run at once), no `RUST_LOG`
/// and no stdin. Callers add arguments, pipes or more variables.
pub(crate) fn command(dir: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_upmsync"));
    command
        .current_dir(dir)
        .env("TEST_JIRA_USER", "admin")
        .env("TEST_JIRA_PASSWORD", PASSWORD)
        .env("TEST_LICENSE", LICENSE)
        .env("UPMSYNC_CACHE_DIR", dir.join(".upmsync-cache"))
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null());
    command
}

/// What a run of the binary did: exit code (-1 when killed by a signal), stdout and stderr as text
/// (lossy UTF-8).
#[derive(Debug)]
pub(crate) struct CommandOutput {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl From<Output> for CommandOutput {
    fn from(raw: Output) -> Self {
        Self {
            code: raw.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
        }
    }
}

impl CommandOutput {
    /// Exit code, stdout and stderr in one text, as [`upmsync_snapshot!`] records them.
    pub(crate) fn snapshot(&self) -> String {
        format!(
            "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the binary ([`command`]) with `args` in `dir`, plus `extra` variables, to the end.
pub(crate) async fn run_binary(args: &[&str], dir: &Path, extra: &[(&str, &str)]) -> CommandOutput {
    let mut command = command(dir);
    command.args(args).envs(extra.iter().copied());
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the binary's runner does not panic")
        .expect("the binary starts")
        .into()
}

/// A simulator and a temporary folder to run the binary in, with a manifest pointing at it.
pub(crate) struct TestEnv {
    pub(crate) sim: Sim,
    pub(crate) folder: tempfile::TempDir,
}

impl TestEnv {
    /// [`small_jira`] on loopback.
    pub(crate) async fn new() -> Self {
        Self::with(small_jira()).await
    }

    /// The simulator seeded with `config`, on loopback.
    pub(crate) async fn with(config: SimConfig) -> Self {
        let sim = start(config).await;
        let folder = tempfile::tempdir().expect("a temporary folder");
        Self { sim, folder }
    }

    /// The temporary folder the binary runs in.
    pub(crate) fn dir(&self) -> &Path {
        self.folder.path()
    }

    /// Writes `apps.yaml` ([`manifest_text`]) and returns its path.
    pub(crate) fn manifest(&self, apps: &str, unmanaged: &str) -> PathBuf {
        let path = self.dir().join("apps.yaml");
        std::fs::write(&path, manifest_text(&self.sim, apps, unmanaged))
            .expect("apps.yaml written");
        path
    }

    /// Runs the binary in the folder.
    pub(crate) async fn run(&self, args: &[&str]) -> CommandOutput {
        run_binary(args, self.dir(), &[]).await
    }

    /// Runs the binary in the folder with more environment variables.
    pub(crate) async fn run_env(&self, args: &[&str], extra: &[(&str, &str)]) -> CommandOutput {
        run_binary(args, self.dir(), extra).await
    }

    /// The requests that could change something (POST, PUT, DELETE) the simulator received.
    pub(crate) fn mutating(&self) -> Vec<RecordedRequest> {
        mutating(&self.sim)
    }

    /// `text` with this run's addresses and folder replaced by `[SIM]`, `[MARKETPLACE]`, `[TEMP]`.
    pub(crate) fn filter(&self, text: &str) -> String {
        filter(&self.sim, self.dir(), text)
    }
}

/// `text` with the simulator's addresses replaced by `[SIM]` (the product) and `[MARKETPLACE]`,
/// and `dir` (also as its canonical path) by `[TEMP]`.
pub(crate) fn filter(sim: &Sim, dir: &Path, text: &str) -> String {
    let mut text = text
        .replace(sim.upm_url().as_str(), "[SIM]/")
        .replace(sim.upm_url().as_str().trim_end_matches('/'), "[SIM]")
        .replace(sim.marketplace_url().as_str(), "[MARKETPLACE]/")
        .replace(
            sim.marketplace_url().as_str().trim_end_matches('/'),
            "[MARKETPLACE]",
        );
    if let Ok(canonical) = dir.canonicalize() {
        text = text.replace(&canonical.display().to_string(), "[TEMP]");
    }
    text.replace(&dir.display().to_string(), "[TEMP]")
}

/// Snapshots a run's exit code, stdout and stderr together, addresses and folder filtered:
/// `upmsync_snapshot!(env, output, @"...")` or, for a named file snapshot,
/// `upmsync_snapshot!("name", env, output)`.
#[macro_export]
macro_rules! upmsync_snapshot {
    ($env:expr, $output:expr, @$snapshot:literal) => {
        insta::assert_snapshot!($env.filter(&$output.snapshot()), @$snapshot)
    };
    ($name:literal, $env:expr, $output:expr) => {
        insta::assert_snapshot!($name, $env.filter(&$output.snapshot()))
    };
}

pub(crate) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub(crate) async fn start(config: SimConfig) -> Sim {
    Sim::start(
        config.task_delay(Duration::from_millis(30)),
        loopback(),
        loopback(),
    )
    .await
    .expect("simulator starts on loopback")
}

/// A small Jira: two user apps, one system app, and a Marketplace with a few versions.
pub(crate) fn small_jira() -> SimConfig {
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

pub(crate) fn marketplace_app(key: &str, id: u64, versions: &[&str]) -> SeedMarketplaceApp {
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

pub(crate) fn present(key: &str, version: &str) -> DesiredApp {
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

pub(crate) fn absent(key: &str) -> DesiredApp {
    DesiredApp {
        key: AppKey::new(key),
        state: DesiredState::Absent,
        position: 0,
        requires: Vec::new(),
    }
}

pub(crate) fn with_license(mut app: DesiredApp, text: &str) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.license =
            DesiredLicense::Present(License::new(Secret::new(text), "env TEST_LICENSE"));
    }
    app
}

pub(crate) fn without_license(mut app: DesiredApp) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.license = DesiredLicense::Absent;
    }
    app
}

pub(crate) fn disabled(mut app: DesiredApp) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.enabled = false;
    }
    app
}

pub(crate) fn from_path(mut app: DesiredApp, path: &Path) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.source = Source::Path(path.to_path_buf());
    }
    app
}

pub(crate) fn instance(sim: &Sim, apps: Vec<DesiredApp>) -> DesiredInstance {
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

pub(crate) fn desired(sim: &Sim, instances: Vec<DesiredInstance>) -> Desired {
    Desired {
        manifest_path: "apps.yaml".into(),
        marketplace_url: sim.marketplace_url(),
        instances,
    }
}

/// Changes how an app's artifact reaches UPM.
pub(crate) fn installed_by(mut app: DesiredApp, install: InstallMethod) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.install = install;
    }
    app
}

/// Pins an app's artifact hash.
pub(crate) fn pinned(mut app: DesiredApp, sha256: &str) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.sha256 = Some(upmsync::model::Sha256::parse(sha256).unwrap());
    }
    app
}

pub(crate) fn allow_incompatible(mut app: DesiredApp) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.allow_incompatible = true;
    }
    app
}

/// The requests that could change something (POST, PUT, DELETE) the simulator received.
pub(crate) fn mutating(sim: &Sim) -> Vec<RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(RecordedRequest::is_mutating)
        .collect()
}

/// Carries out `plan` on the first instance of `desired`, with the given cache and client options.
pub(crate) async fn execute_plan(
    desired: &Desired,
    plan: &upmsync::plan::InstancePlan,
    cache: &upmsync::marketplace::download::Cache,
    mode: upmsync::execute::Mode,
    options: upmsync::http::HttpSettings,
) -> upmsync::execute::ApplyReport {
    let instance = &desired.instances[0];
    let upm = upmsync::upm::UpmClient::new(instance, &options).unwrap();
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    upmsync::execute::execute(plan, &upm, cache, mode, &interrupted, &mut |_, _| {}).await
}

/// Serves `bytes` at a loopback URL (any path: `/app.jar`) for the rest of the test.
pub(crate) async fn serve_bytes(bytes: Vec<u8>) -> url::Url {
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
pub(crate) async fn plan_one(desired: &Desired) -> upmsync::plan::InstancePlan {
    let plan =
        upmsync::commands::read_and_plan(desired, &upmsync::http::HttpSettings::default()).await;
    plan.instances[0]
        .result
        .clone()
        .expect("the instance plans")
}

/// Applies `plan` to the first instance of `desired`, with a fresh cache and default options.
pub(crate) async fn apply_plan(
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
