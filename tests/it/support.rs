//! The one test harness: one way to start the simulator ([`start`], [`TestEnv`]), one way to run
//! the binary ([`command`] built, [`spawn`]ed and [`finish`]ed under a watchdog, or all at once with
//! [`run_binary`] and [`TestEnv::run`]) into a [`CommandOutput`], the [`upmsync_snapshot!`] macro,
//! small builders for desired state and fault plans, and [`rules`] for the manifest-rule tests.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use upmsync::model::{
    AppKey, Credentials, Desired, DesiredApp, DesiredInstance, DesiredLicense, DesiredState,
    Hosting, InstallMethod, License, PresentApp, Product, Secret, Source, UnmanagedPolicy,
};
use upmsync::version::VersionSpec;
use upmsync_sim::{
    FaultPlan, FaultRule, RecordedRequest, SeedMarketplaceApp, SeedMarketplaceVersion, SeedPlugin,
    Sim, SimConfig,
};

/// The password of the simulator's `admin`, which every binary run finds in `TEST_JIRA_PASSWORD`.
pub(crate) const PASSWORD: &str = "admin";

/// The license text every binary run finds in `TEST_LICENSE`; it must never be printed.
pub(crate) const LICENSE: &str = "AAABsecretLicenseTextThatMustNeverBePrinted==";

/// The manifest [`TestEnv::manifest`] writes: one instance `jira-test` on the simulator, with
/// credentials from `TEST_JIRA_USER`/`TEST_JIRA_PASSWORD`; `{apps}` is YAML for the app list.
pub(crate) fn manifest_text(sim: &Sim, apps: &str, unmanaged: &str) -> String {
    manifest_text_at(sim, sim.upm_url().as_str(), apps, unmanaged)
}

/// [`manifest_text`] with the instance at `url` instead of the simulator's UPM.
fn manifest_text_at(sim: &Sim, url: &str, apps: &str, unmanaged: &str) -> String {
    format!(
        "marketplace:\n  url: {marketplace}\ninstances:\n  - name: {INSTANCE}\n    url: {url}\n    product: jira\n    auth:\n      username_env: TEST_JIRA_USER\n      password_env: TEST_JIRA_PASSWORD\n    unmanaged: {unmanaged}\napps:\n{apps}",
        marketplace = sim.marketplace_url(),
    )
}

/// The instance [`manifest_text`] names.
pub(crate) const INSTANCE: &str = "jira-test";

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
        .stdin(Stdio::null());
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

impl CommandOutput {
    /// Exit code, stdout and stderr in one text, as [`upmsync_snapshot!`] records them.
    pub(crate) fn snapshot(&self) -> String {
        format!(
            "exit: {}\n----- stdout -----\n{}----- stderr -----\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// How long one run of the binary may take before the test fails instead of hanging (what
/// reading a FIFO or `/dev/zero` once did); nothing asserts about time below it.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Starts `command` with stdout and stderr piped; [`finish`] ends it.
pub(crate) fn spawn(mut command: std::process::Command) -> Child {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// Waits (off the runtime's threads) for a started binary to end and collects what it printed
/// (an output not piped is empty). A watchdog kills a run that takes longer than [`RUN_LIMIT`]
/// and fails the test.
pub(crate) async fn finish(child: Child) -> CommandOutput {
    tokio::task::spawn_blocking(move || wait_with_watchdog(child))
        .await
        .expect("the binary's waiter does not panic")
}

fn wait_with_watchdog(mut child: Child) -> CommandOutput {
    fn read_all(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes)
                .expect("the binary's output is read");
            bytes
        })
    }
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the binary's status is read") {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("upmsync ran longer than {RUN_LIMIT:?} (blocked?)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let collect = |reader: Option<std::thread::JoinHandle<Vec<u8>>>| {
        let bytes = reader
            .map(|reader| reader.join().expect("the reader does not panic"))
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    CommandOutput {
        code: status.code().unwrap_or(-1),
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

/// Sends `signal` (`-TERM`, `-INT`, ...) to a running binary with `kill`.
pub(crate) fn send(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} failed");
}

/// The `PATH` the tests run with, where the shell steps of the CI examples find bash, git and
/// coreutils.
#[allow(clippy::disallowed_methods)] // a test harness passing its own PATH on, not upmsync's code
pub(crate) fn system_path() -> std::ffi::OsString {
    std::env::var_os("PATH").unwrap_or_default()
}

/// Polls `done` every 10 ms; fails the test naming `what` after 30 seconds.
pub(crate) async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The names of the entries of `folder`, sorted; none when it does not exist.
pub(crate) fn files_in(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(folder) {
        Ok(entries) => entries
            .map(|entry| entry.expect("a folder entry").file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// A fault plan of `rules` with a fixed seed, so a run is repeatable.
pub(crate) fn faults(rules: Vec<FaultRule>) -> FaultPlan {
    FaultPlan {
        seed: Some(1),
        rules,
    }
}

/// Runs the binary ([`command`]) with `args` in `dir`, plus `extra` variables, to the end.
pub(crate) async fn run_binary(args: &[&str], dir: &Path, extra: &[(&str, &str)]) -> CommandOutput {
    let mut command = command(dir);
    command.args(args).envs(extra.iter().copied());
    finish(spawn(command)).await
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

    /// The simulator seeded with `config`, on loopback, its install tasks taking 30 ms.
    pub(crate) async fn with(config: SimConfig) -> Self {
        Self::with_task_delay(config, Duration::from_millis(30)).await
    }

    /// The simulator seeded with `config`, on loopback, its install tasks taking `task_delay`
    /// (long enough, say, for a signal to arrive while one runs).
    pub(crate) async fn with_task_delay(config: SimConfig, task_delay: Duration) -> Self {
        let sim = start_with_task_delay(config, task_delay).await;
        let folder = tempfile::tempdir().expect("a temporary folder");
        Self { sim, folder }
    }

    /// The temporary folder the binary runs in.
    pub(crate) fn dir(&self) -> &Path {
        self.folder.path()
    }

    /// `name` in the folder.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// The binary's cache folder ([`command`] sets it).
    pub(crate) fn cache(&self) -> PathBuf {
        self.path(".upmsync-cache")
    }

    /// The file of the instance lock apply holds on [`INSTANCE`].
    pub(crate) fn lock_file(&self) -> PathBuf {
        self.cache().join("locks").join(format!("{INSTANCE}.lock"))
    }

    /// Writes `apps.yaml` ([`manifest_text`]) and returns its path.
    pub(crate) fn manifest(&self, apps: &str, unmanaged: &str) -> PathBuf {
        let path = self.path("apps.yaml");
        std::fs::write(&path, manifest_text(&self.sim, apps, unmanaged))
            .expect("apps.yaml written");
        path
    }

    /// Writes `apps.yaml` as [`TestEnv::manifest`] does, but with the instance at `url` (a closed
    /// port, another server) instead of the simulator.
    pub(crate) fn manifest_at(&self, url: &str, apps: &str, unmanaged: &str) -> PathBuf {
        let text = manifest_text_at(&self.sim, url, apps, unmanaged);
        let path = self.path("apps.yaml");
        std::fs::write(&path, text).expect("apps.yaml written");
        path
    }

    /// Starts the binary in the folder with `args`, stdout and stderr piped; [`finish`] ends it.
    pub(crate) fn spawn(&self, args: &[&str]) -> Child {
        let mut command = command(self.dir());
        command.args(args);
        spawn(command)
    }

    /// Waits until the simulator has answered a request `pick` picks; `what` names it.
    pub(crate) async fn wait_for_request(
        &self,
        what: &str,
        pick: impl Fn(&RecordedRequest) -> bool,
    ) {
        wait_until(what, || self.sim.requests().iter().any(&pick)).await;
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
/// `dir` (also as its canonical path) by `[TEMP]`, the random part of a temporary file's name by
/// `[RANDOM]`, and the timestamp that starts a log line by `[TIME]`.
pub(crate) fn filter(sim: &Sim, dir: &Path, text: &str) -> String {
    let text = mask_temporary_names(&filter_places(sim, dir, text));
    let mut lines: Vec<String> = text.split('\n').map(mask_timestamp).collect();
    if lines.last().is_some_and(String::is_empty) && !text.ends_with('\n') {
        lines.pop();
    }
    lines.join("\n")
}

/// A line that starts with an RFC 3339 UTC timestamp (`2026-11-30T19:39:19.496740Z`, as log lines
/// do) with `[TIME]` in its place; any other line as it is.
fn mask_timestamp(line: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    let bytes = line.as_bytes();
    let shaped = bytes.len() > SHAPE.len()
        && SHAPE.iter().zip(bytes).all(|(shape, byte)| match shape {
            b'd' => byte.is_ascii_digit(),
            other => other == byte,
        });
    if !shaped {
        return line.to_string();
    }
    let rest = &line[SHAPE.len()..];
    let rest = rest.strip_prefix('.').map_or(rest, |fraction| {
        fraction.trim_start_matches(|c: char| c.is_ascii_digit())
    });
    match rest.strip_prefix('Z') {
        Some(rest) => format!("[TIME]{rest}"),
        None => line.to_string(),
    }
}

/// `text` with the random part of upmsync's temporary file names (`.upmsync-Ab3xYz.tmp`) replaced by
/// `[RANDOM]`.
fn mask_temporary_names(text: &str) -> String {
    const PREFIX: &str = ".upmsync-";
    let mut masked = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        let (before, after) = rest.split_at(at + PREFIX.len());
        masked.push_str(before);
        let random = after
            .find(".tmp")
            .filter(|&end| end > 0 && after[..end].chars().all(|c| c.is_ascii_alphanumeric()));
        match random {
            Some(end) => {
                masked.push_str("[RANDOM]");
                rest = &after[end..];
            }
            None => rest = after,
        }
    }
    masked.push_str(rest);
    masked
}

fn filter_places(sim: &Sim, dir: &Path, text: &str) -> String {
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

/// `text` without the lines that warn about a read being retried (their order and waits differ
/// from run to run).
pub(crate) fn without_retries(text: &str) -> String {
    text.split_inclusive('\n')
        .filter(|line| {
            let warning = line.strip_prefix("warning: ").unwrap_or_default();
            // `instance `NAME`: ` when the read was one instance's.
            let warning = match warning.strip_prefix("instance `") {
                Some(rest) => rest.split_once("`: ").map_or(rest, |(_, rest)| rest),
                None => warning,
            };
            !warning.starts_with("retrying `")
        })
        .collect()
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

/// Loopback, any free port.
pub(crate) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The one way to start a simulator: seeded with `config`, on loopback, install tasks of 30 ms.
pub(crate) async fn start(config: SimConfig) -> Sim {
    start_with_task_delay(config, Duration::from_millis(30)).await
}

/// [`start`], with install tasks taking `task_delay`.
pub(crate) async fn start_with_task_delay(config: SimConfig, task_delay: Duration) -> Sim {
    Sim::start(config.task_delay(task_delay), loopback(), loopback())
        .await
        .expect("simulator starts on loopback")
}

/// A small Jira: two user apps, one system app, and a Marketplace with a few versions.
pub(crate) fn small_jira() -> SimConfig {
    let config = SimConfig::empty()
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
        .plugin(SeedPlugin::user("com.vendor.gamma", "Gamma", "1.0.0"));
    small_marketplace(config)
}

/// The Marketplace of [`small_jira`] added to `config`: alpha 1.0.0, 1.1.0 and 2.0.0, beta 2.0.0
/// and 2.5.0, delta 0.9.0 and 1.0.0.
pub(crate) fn small_marketplace(config: SimConfig) -> SimConfig {
    config
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

/// A Marketplace app `key` with id `id` and `versions` (oldest first); version `i` (from 0) has
/// build `id * 1000 + i + 1`, uses licensing and has a sound artifact.
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

/// App `key` wanted at `version` (exact, `latest` or a constraint), enabled, from the Marketplace,
/// license left alone.
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

/// App `key` wanted absent.
pub(crate) fn absent(key: &str) -> DesiredApp {
    DesiredApp {
        key: AppKey::new(key),
        state: DesiredState::Absent,
        position: 0,
        requires: Vec::new(),
    }
}

/// `app` with its license set to `text` (as if read from `TEST_LICENSE`).
pub(crate) fn with_license(mut app: DesiredApp, text: &str) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.license =
            DesiredLicense::Present(License::new(Secret::new(text), "env TEST_LICENSE"));
    }
    app
}

/// `app` with its license removed.
pub(crate) fn without_license(mut app: DesiredApp) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.license = DesiredLicense::Absent;
    }
    app
}

/// `app` wanted disabled.
pub(crate) fn disabled(mut app: DesiredApp) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.enabled = false;
    }
    app
}

/// `app` with its artifact read from the file `path`.
pub(crate) fn from_path(mut app: DesiredApp, path: &Path) -> DesiredApp {
    if let DesiredState::Present(present) = &mut app.state {
        present.source = Source::Path(path.to_path_buf());
    }
    app
}

/// The instance `jira-test` on the simulator, as admin, unmanaged apps ignored, with `apps` in
/// manifest order.
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

/// The desired state of one instance on the simulator ([`instance`]) with `apps`.
pub(crate) fn one_instance(sim: &Sim, apps: Vec<DesiredApp>) -> Desired {
    desired(sim, vec![instance(sim, apps)])
}

/// A desired state of `instances`, with the simulator's Marketplace.
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

/// `app` allowed on a product its version is not compatible with.
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

/// Helpers of the tests of manifest rules (no simulator, no binary): a base manifest, a test
/// environment, and parsing into a loaded manifest or its problems.
pub(crate) mod rules {
    use std::path::Path;

    use upmsync::manifest::{self, LoadOptions, ManifestError, Problem};
    use upmsync::model::Desired;

    /// Lines 1-5: one valid instance `jira`; its own `apps` or the top-level ones follow.
    pub(crate) const BASE: &str = "instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    auth: {token_env: PAT}
";

    /// [`BASE`] with the top-level `apps` from line 7.
    pub(crate) fn with_apps(apps: &str) -> String {
        format!("{BASE}apps:\n{apps}")
    }

    /// The environment of these tests: variables named `UNSET_*` are not set and `EMPTY_*` are
    /// empty; every other one is `value-of-{name}`.
    pub(crate) fn env(name: &str) -> Option<String> {
        if name.starts_with("UNSET_") {
            None
        } else if name.starts_with("EMPTY_") {
            Some(String::new())
        } else {
            Some(format!("value-of-{name}"))
        }
    }

    /// `text` loaded as `apps.yaml`, which must load.
    pub(crate) fn load(text: &str) -> Desired {
        manifest::parse_str(text, Path::new("apps.yaml"), &LoadOptions::default(), &env)
            .unwrap_or_else(|error| panic!("{error}\n---\n{text}"))
    }

    /// The error of `text` loaded from `path`, which must not load.
    pub(crate) fn error_at(text: &str, path: &Path) -> ManifestError {
        match manifest::parse_str(text, path, &LoadOptions::default(), &env) {
            Ok(desired) => panic!("expected problems, loaded {desired:#?}"),
            Err(error) => error,
        }
    }

    /// The problems of `text` loaded as `apps.yaml`, which must not load.
    pub(crate) fn problems(text: &str) -> Vec<Problem> {
        error_at(text, Path::new("apps.yaml")).problems().to_vec()
    }

    /// The single problem `text` has.
    pub(crate) fn only(text: &str) -> Problem {
        let mut found = problems(text);
        assert_eq!(found.len(), 1, "expected one problem, found {found:#?}");
        found.remove(0)
    }

    /// A problem's line.
    pub(crate) fn line(problem: &Problem) -> usize {
        problem.line.unwrap_or_else(|| panic!("no line: {problem}"))
    }

    /// A problem's line and column.
    pub(crate) fn place(problem: &Problem) -> (usize, usize) {
        let column = problem
            .column
            .unwrap_or_else(|| panic!("no column: {problem}"));
        (line(problem), column)
    }

    /// Each of `parts` is in the problem's message or its hint.
    pub(crate) fn assert_contains(problem: &Problem, parts: &[&str]) {
        for part in parts {
            assert!(
                problem.message.contains(part)
                    || problem
                        .hint
                        .as_deref()
                        .is_some_and(|hint| hint.contains(part)),
                "`{part}` not in {problem}"
            );
        }
    }
}
