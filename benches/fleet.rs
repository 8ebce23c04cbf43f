//! The fleet benchmark of issue 10: runs the real `upmsync` binary (a child process per command)
//! against simulators in this process, with injected latency, and prints each figure next to its
//! goal with PASS or MISS. A missed goal is a result, not a failure: the bench exits 1 only when
//! something is broken (a command fails, the simulator does not end in the wanted state).
//!
//! ```text
//! cargo bench --bench fleet                       # every scenario, full size (a few minutes)
//! cargo bench --bench fleet -- plan               # one scenario: plan | apply | instances | memory
//! cargo bench --bench fleet -- --quick            # smaller sizes, a smoke check
//! cargo test --bench fleet -- --quick             # the same in the test profile (what CI runs)
//! ```
//!
//! How each figure is measured is in `docs/performance.md`.

// The bench is a program of its own that reports on stdout and stderr; upmsync's printer is the
// library's front, not this tool's.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use upmsync_sim::jar::{build_plugin_jar, write_padded_obr, write_padded_plugin_jar};
use upmsync_sim::{
    Fault, FaultPlan, FaultRule, RecordedRequest, SeedMarketplaceApp, SeedMarketplaceVersion,
    SeedPlugin, Sim, SimConfig, SimServer,
};

const BINARY: &str = env!("CARGO_BIN_EXE_upmsync");
const MIB: u64 = 1024 * 1024;
/// Every app key starts with this; the index follows (`…a0042`).
const KEY_PREFIX: &str = "com.example.fleet.a";

/// Sizes of one run: the issue's, or smaller ones for `--quick`.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    quick: bool,
    plan_apps: usize,
    plan_licensed: usize,
    plan_upgrades: usize,
    latency: Duration,
    paired_runs: usize,
    apply_upgrades: usize,
    download: Duration,
    install: Duration,
    instances: usize,
    instance_apps: usize,
    apply_instances: usize,
    memory_apps: usize,
    artifact_bytes: u64,
}

impl Sizes {
    fn full() -> Self {
        Self {
            quick: false,
            plan_apps: 500,
            plan_licensed: 100,
            plan_upgrades: 250,
            latency: Duration::from_millis(50),
            paired_runs: 5,
            apply_upgrades: 20,
            download: Duration::from_secs(1),
            install: Duration::from_secs(1),
            instances: 100,
            instance_apps: 20,
            apply_instances: 10,
            memory_apps: 2_000,
            artifact_bytes: 200 * MIB,
        }
    }

    fn quick() -> Self {
        Self {
            quick: true,
            plan_apps: 40,
            plan_licensed: 8,
            plan_upgrades: 20,
            latency: Duration::from_millis(20),
            paired_runs: 1,
            apply_upgrades: 3,
            download: Duration::from_millis(150),
            install: Duration::from_millis(150),
            instances: 5,
            instance_apps: 4,
            apply_instances: 2,
            memory_apps: 100,
            artifact_bytes: 4 * MIB,
        }
    }
}

/// The simulators run in this process and stand for servers on other machines, yet share this one
/// with the binary under test: mimalloc keeps their share of the CPU small (with glibc's malloc,
/// a third of their time went to it), so the figures measure upmsync rather than the simulators.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().collect();
    if arguments.get(1).map(String::as_str) == Some(LAUNCH) {
        return launch(&arguments[2..]);
    }
    let mut quick = false;
    let mut scenarios = Vec::new();
    // `cargo bench` passes `--bench`; the test profile passes nothing of its own.
    for argument in std::env::args().skip(1) {
        match argument.as_str() {
            "--quick" => quick = true,
            "plan" | "apply" | "instances" | "memory" => scenarios.push(argument),
            "--bench" => {}
            other if other.starts_with('-') => {}
            other => {
                eprintln!("fleet: unknown scenario `{other}` (plan, apply, instances, memory)");
                return ExitCode::FAILURE;
            }
        }
    }
    if scenarios.is_empty() {
        scenarios = ["plan", "apply", "instances", "memory"]
            .map(String::from)
            .to_vec();
    }
    let sizes = if quick { Sizes::quick() } else { Sizes::full() };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fleet: cannot start a tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(sizes, &scenarios)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fleet: broken: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(sizes: Sizes, scenarios: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    let work = tempfile::tempdir().context("cannot make a scratch folder")?;
    println!(
        "fleet benchmark ({}): upmsync at {BINARY}",
        if sizes.quick {
            "--quick: reduced sizes, goals are for the full sizes"
        } else {
            "full sizes"
        }
    );
    let mut report = Report::default();
    for scenario in scenarios {
        let folder = work.path().join(scenario);
        fs::create_dir_all(&folder)?;
        println!("\n== {scenario}");
        match scenario.as_str() {
            "plan" => plan_scenario(sizes, &folder, &mut report).await?,
            "apply" => apply_scenario(sizes, &folder, &mut report).await?,
            "instances" => instances_scenario(sizes, &folder, &mut report).await?,
            "memory" => memory_scenario(sizes, &folder, &mut report).await?,
            _ => {}
        }
    }
    println!("\n== summary ({:.0} s)", started.elapsed().as_secs_f64());
    report.print_summary();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Figures

/// Whether a figure should be at most or at least its goal.
#[derive(Clone, Copy)]
enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

#[derive(Default)]
struct Report {
    lines: Vec<String>,
    passed: usize,
    missed: usize,
}

impl Report {
    /// Prints one figure with its goal and PASS/MISS, and keeps it for the summary.
    fn figure(&mut self, name: &str, value: f64, unit: &str, goal: Goal) {
        let (pass, goal_text) = match goal {
            Goal::AtMost(limit) => (value <= limit, format!("<= {limit}{unit}")),
            Goal::AtLeast(limit) => (value >= limit, format!(">= {limit}{unit}")),
        };
        if pass {
            self.passed += 1;
        } else {
            self.missed += 1;
        }
        let line = format!(
            "{name:<48} {value:>10.2}{unit:<4} goal {goal_text:<12} {}",
            if pass { "PASS" } else { "MISS" }
        );
        println!("{line}");
        self.lines.push(line);
    }

    fn print_summary(&self) {
        for line in &self.lines {
            println!("{line}");
        }
        println!(
            "{} figures: {} PASS, {} MISS",
            self.passed + self.missed,
            self.passed,
            self.missed
        );
    }
}

fn info(text: &str) {
    println!("   {text}");
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

// ---------------------------------------------------------------------------------------------
// The fleet: apps, simulators, manifests

fn key(index: usize) -> String {
    format!("{KEY_PREFIX}{index:04}")
}

fn app_id(index: usize) -> u64 {
    10_000 + index as u64
}

/// Build number of version `major`.0.0 of app `index`.
fn build(index: usize, major: u64) -> u64 {
    app_id(index) * 10 + major
}

/// One app of a fleet: installed at 1.0.0; the Marketplace has 1.0.0 and 2.0.0.
#[derive(Clone)]
struct FleetApp {
    index: usize,
    licensed: bool,
    /// The manifest wants 2.0.0 (else 1.0.0).
    upgrade: bool,
}

fn fleet(apps: usize, licensed: usize, upgrades: usize) -> Vec<FleetApp> {
    // Licenses spread over the fleet (every n-th app), upgrades are the first ones.
    let every = apps
        .checked_div(licensed)
        .map_or(usize::MAX, |every| every.max(1));
    (0..apps)
        .map(|index| FleetApp {
            index,
            licensed: index.is_multiple_of(every) && index / every < licensed,
            upgrade: index < upgrades,
        })
        .collect()
}

fn marketplace_app(app: &FleetApp) -> SeedMarketplaceApp {
    let version = |major: u64| {
        let version = SeedMarketplaceVersion::new(&format!("{major}.0.0"), build(app.index, major));
        if app.licensed {
            version.licensing()
        } else {
            version
        }
    };
    SeedMarketplaceApp {
        key: key(app.index),
        name: format!("Fleet app {}", app.index),
        id: app_id(app.index),
        versions: vec![version(1), version(2)],
    }
}

fn installed(app: &FleetApp) -> SeedPlugin {
    let plugin = SeedPlugin::user(
        &key(app.index),
        &format!("Fleet app {}", app.index),
        "1.0.0",
    );
    if app.licensed {
        plugin.license(&format!("fleet-license-{}-old", app.index))
    } else {
        plugin
    }
}

/// Makes every artifact download take `download` whoever fetches it (UPM's install task or
/// upmsync itself), and UPM's downloading stage last at least that long: the "server download
/// time" of the apply scenarios.
fn slow_downloads(config: SimConfig, download: Duration) -> SimConfig {
    let millis = u64::try_from(download.as_millis()).unwrap_or(u64::MAX);
    config.download_delay(download).faults(FaultPlan {
        seed: Some(1),
        rules: vec![FaultRule::new(Fault::Latency { millis })
            .server(SimServer::Marketplace)
            .path("/download/")],
    })
}

/// A UPM with `apps` installed (and, when `catalog`, a Marketplace listing them).
fn upm_config(apps: &[FleetApp], catalog: bool) -> SimConfig {
    let mut config = SimConfig::empty();
    for app in apps {
        config = config.plugin(installed(app));
        if catalog {
            config = config.marketplace_app(marketplace_app(app));
        }
    }
    config
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start(config: SimConfig) -> anyhow::Result<Sim> {
    Sim::start(config, loopback(), loopback()).await
}

/// What a manifest says about one app.
struct Want {
    version: &'static str,
    /// License file (relative to the manifest) to manage, if any.
    license: Option<String>,
    sha256: Option<String>,
    install: Option<&'static str>,
    /// `source: {path: …}` (absolute) instead of the Marketplace.
    source_path: Option<PathBuf>,
}

fn want(app: &FleetApp, folder: &Path) -> anyhow::Result<Want> {
    let license = if app.licensed {
        // Half of the managed licenses change.
        let suffix = if app.index.is_multiple_of(2) {
            "old"
        } else {
            "new"
        };
        let name = format!("licenses/{}.txt", key(app.index));
        fs::create_dir_all(folder.join("licenses"))?;
        fs::write(
            folder.join(&name),
            format!("fleet-license-{}-{suffix}", app.index),
        )?;
        Some(name)
    } else {
        None
    };
    Ok(Want {
        version: if app.upgrade { "2.0.0" } else { "1.0.0" },
        license,
        sha256: None,
        install: None,
        source_path: None,
    })
}

/// Writes `apps.yaml` in `folder`: one instance per UPM URL, the apps under each instance (or the
/// top level when every instance wants the same).
fn write_manifest(
    folder: &Path,
    marketplace: &str,
    instances: &[String],
    apps: &[(String, Want)],
) -> anyhow::Result<PathBuf> {
    let mut text = format!("marketplace:\n  url: {marketplace}\ninstances:\n");
    for (index, url) in instances.iter().enumerate() {
        let _ = write!(
            text,
            "  - name: jira-{index:03}\n    url: {url}\n    product: jira\n    auth:\n      username_env: FLEET_USER\n      password_env: FLEET_PASSWORD\n"
        );
    }
    text.push_str("apps:\n");
    if apps.is_empty() {
        text.push_str("  []\n");
    }
    for (key, want) in apps {
        let _ = writeln!(text, "  - key: {key}\n    version: \"{}\"", want.version);
        if let Some(file) = &want.license {
            let _ = writeln!(text, "    license:\n      file: {file}");
        }
        if let Some(sha256) = &want.sha256 {
            let _ = writeln!(text, "    sha256: {sha256}");
        }
        if let Some(install) = want.install {
            let _ = writeln!(text, "    install: {install}");
        }
        if let Some(path) = &want.source_path {
            let _ = writeln!(text, "    source:\n      path: \"{}\"", path.display());
        }
    }
    let path = folder.join("apps.yaml");
    fs::write(&path, text)?;
    Ok(path)
}

// ---------------------------------------------------------------------------------------------
// Running the binary

/// What one run of the binary did.
struct Run {
    code: i32,
    wall: Duration,
    /// Peak resident set size in bytes; `None` where it cannot be measured.
    peak_rss: Option<u64>,
    stdout: String,
    stderr: String,
}

/// Runs `upmsync args…` in `folder` (its own cache) and waits for it, measuring wall time and peak
/// RSS. Fails when the command exits with a code other than `expect`.
async fn upmsync(folder: &Path, args: &[&str], expect: i32) -> anyhow::Result<Run> {
    let folder = folder.to_path_buf();
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_string()).collect();
    let shown = args.join(" ");
    let run = tokio::task::spawn_blocking(move || run_child(&folder, &args))
        .await
        .context("the child runner panicked")??;
    if run.code != expect {
        bail!(
            "`upmsync {shown}` exited {} (expected {expect})\n--- stdout\n{}\n--- stderr\n{}",
            run.code,
            tail(&run.stdout),
            tail(&run.stderr)
        );
    }
    Ok(run)
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(4000);
    let start = (start..text.len())
        .find(|at| text.is_char_boundary(*at))
        .unwrap_or(text.len());
    &text[start..]
}

fn run_child(folder: &Path, args: &[String]) -> anyhow::Result<Run> {
    let stdout_path = folder.join(".stdout");
    let stderr_path = folder.join(".stderr");
    let rss_path = folder.join(".rss");
    let _ = fs::remove_file(&rss_path);
    let launcher = std::env::current_exe().context("cannot find the bench's own executable")?;
    let mut command = std::process::Command::new(launcher);
    command
        .arg(LAUNCH)
        .arg(&rss_path)
        .arg(BINARY)
        .args(args)
        .current_dir(folder)
        .env("FLEET_USER", "admin")
        .env("FLEET_PASSWORD", "admin")
        // The simulated Marketplace's publisher, for `publish` (docs/simulator.md).
        .env("MARKETPLACE_EMAIL", upmsync_sim::PUBLISHER_EMAIL)
        .env("MARKETPLACE_API_TOKEN", upmsync_sim::PUBLISHER_TOKEN)
        .env("UPMSYNC_CACHE_DIR", folder.join(".cache"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout_path)?)
        .stderr(fs::File::create(&stderr_path)?);
    let started = Instant::now();
    let mut child = command.spawn().context("cannot start upmsync")?;
    let code = child.wait()?.code().unwrap_or(-1);
    let wall = started.elapsed();
    let peak_rss = fs::read_to_string(&rss_path)
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .filter(|bytes| *bytes > 0);
    Ok(Run {
        code,
        wall,
        peak_rss,
        stdout: fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr: fs::read_to_string(&stderr_path).unwrap_or_default(),
    })
}

/// The first argument that makes this program the launcher of one command (see [`launch`]).
const LAUNCH: &str = "--launch-measured";

/// `fleet --launch-measured RSS_FILE PROGRAM ARGS…`: runs the command, writes its peak RSS in
/// bytes to RSS_FILE and exits with its code.
///
/// Why a launcher: Linux keeps a process's peak RSS (`ru_maxrss`) across `execve`, taking the
/// peak of the memory it replaces; a child started from this bench (which holds the simulators
/// and their big uploads) would report the bench's own peak. Started from this small launcher,
/// freshly executed without a runtime, it reports its own (plus a floor of the launcher's few MiB).
fn launch(arguments: &[String]) -> ExitCode {
    let [rss_file, program, rest @ ..] = arguments else {
        eprintln!("fleet: {LAUNCH} RSS_FILE PROGRAM [ARGS…]");
        return ExitCode::FAILURE;
    };
    let child = match std::process::Command::new(program).args(rest).spawn() {
        Ok(child) => child,
        Err(error) => {
            eprintln!("fleet: cannot start `{program}`: {error}");
            return ExitCode::FAILURE;
        }
    };
    match wait(child) {
        Ok((code, rss)) => {
            if let Err(error) = fs::write(rss_file, rss.unwrap_or(0).to_string()) {
                eprintln!("fleet: cannot write `{rss_file}`: {error}");
                return ExitCode::FAILURE;
            }
            ExitCode::from(u8::try_from(code).unwrap_or(255))
        }
        Err(error) => {
            eprintln!("fleet: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Waits for the child with `wait4`, which reports its own peak RSS (`ru_maxrss`, KiB on Linux).
#[cfg(target_os = "linux")]
fn wait(child: std::process::Child) -> anyhow::Result<(i32, Option<u64>)> {
    let pid = libc::pid_t::try_from(child.id()).context("a child pid fits pid_t")?;
    let mut status: libc::c_int = 0;
    // SAFETY: plain syscall on our own child; `rusage` is plain data, zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if waited != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    // The child is reaped; `Child` does not wait on drop.
    drop(child);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let rss = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
    Ok((code, Some(rss)))
}

#[cfg(not(target_os = "linux"))]
fn wait(mut child: std::process::Child) -> anyhow::Result<(i32, Option<u64>)> {
    let status = child.wait()?;
    Ok((status.code().unwrap_or(-1), None))
}

/// The wall time of `plan` of an instance without apps at no latency: the process's own start-up
/// (loading, TLS roots, one plugin list), subtracted before counting round trips.
async fn startup(folder: &Path) -> anyhow::Result<Duration> {
    let sim = start(SimConfig::empty()).await?;
    let folder = folder.join("startup");
    fs::create_dir_all(&folder)?;
    let manifest = write_manifest(
        &folder,
        sim.marketplace_url().as_str(),
        &[sim.upm_url().to_string()],
        &[],
    )?;
    let manifest = manifest.to_string_lossy().to_string();
    let mut walls = Vec::new();
    for _ in 0..3 {
        walls.push(
            upmsync(&folder, &["plan", "-q", "-f", &manifest], 0)
                .await?
                .wall
                .as_secs_f64(),
        );
    }
    Ok(Duration::from_secs_f64(median(walls)))
}

// ---------------------------------------------------------------------------------------------
// Request log summaries

/// Requests by server and kind, and the most that were in flight at once on one listener.
fn request_summary(requests: &[RecordedRequest]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for request in requests {
        let kind = match request.server {
            SimServer::Upm if request.path.ends_with("/license") => "upm license",
            SimServer::Upm if request.path.ends_with("/installed-marketplace") => {
                "upm installed-marketplace"
            }
            SimServer::Upm if request.path.ends_with("/rest/plugins/1.0/") => "upm plugin list",
            SimServer::Upm if request.path.contains("/rest/plugins/") => "upm other",
            SimServer::Upm => "product info",
            SimServer::Marketplace if request.path.starts_with("/download/") => {
                "marketplace download"
            }
            SimServer::Marketplace if request.path.contains("/versions") => "marketplace version",
            SimServer::Marketplace => "marketplace other",
        };
        *counts.entry(kind).or_default() += 1;
    }
    let mut text = format!("{} requests:", requests.len());
    for (kind, count) in counts {
        let _ = write!(text, " {kind} {count},");
    }
    text.pop();
    let _ = write!(
        text,
        "; at most {} in flight on one listener",
        peak_in_flight(requests)
    );
    text
}

/// The most requests whose (receipt, answer) windows overlap, per server.
fn peak_in_flight(requests: &[RecordedRequest]) -> usize {
    let mut peak = 0;
    for server in [SimServer::Upm, SimServer::Marketplace] {
        let mut events: Vec<(Instant, i32)> = Vec::new();
        for request in requests.iter().filter(|request| request.server == server) {
            events.push((request.received, 1));
            events.push((request.received + request.elapsed, -1));
        }
        // Ends before starts at the same instant.
        events.sort();
        let mut current = 0i32;
        for (_, change) in events {
            current += change;
            peak = peak.max(usize::try_from(current).unwrap_or(0));
        }
    }
    peak
}

// ---------------------------------------------------------------------------------------------
// plan

async fn plan_scenario(sizes: Sizes, folder: &Path, report: &mut Report) -> anyhow::Result<()> {
    let apps = fleet(sizes.plan_apps, sizes.plan_licensed, sizes.plan_upgrades);
    info(&format!(
        "{} apps ({} with managed licenses, {} to upgrade), {} ms per request",
        apps.len(),
        apps.iter().filter(|app| app.licensed).count(),
        apps.iter().filter(|app| app.upgrade).count(),
        sizes.latency.as_millis()
    ));
    let startup = startup(folder).await?;
    info(&format!(
        "start-up (plan of an instance without apps, no latency, median of 3): {:.0} ms",
        startup.as_secs_f64() * 1000.0
    ));

    let sim = start(upm_config(&apps, true)).await?;
    let unlocked = folder.join("unlocked");
    let locked = folder.join("locked");
    let mut manifests = Vec::new();
    for dir in [&unlocked, &locked] {
        fs::create_dir_all(dir)?;
        let wants: Vec<(String, Want)> = apps
            .iter()
            .map(|app| Ok((key(app.index), want(app, dir)?)))
            .collect::<anyhow::Result<_>>()?;
        manifests.push(
            write_manifest(
                dir,
                sim.marketplace_url().as_str(),
                &[sim.upm_url().to_string()],
                &wants,
            )?
            .to_string_lossy()
            .to_string(),
        );
    }
    // The lock is made without latency (it downloads every artifact; not what is measured).
    upmsync(&locked, &["lock", "-q", "-f", &manifests[1]], 0).await?;
    sim.set_latency(sizes.latency);

    let latency = sizes.latency.as_secs_f64();
    let round_trips = |wall: Duration| (wall.saturating_sub(startup)).as_secs_f64() / latency;
    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut walls = Vec::new();
    let mut logs = (String::new(), String::new());
    for _ in 0..sizes.paired_runs {
        sim.clear_requests();
        let run = upmsync(&unlocked, &["plan", "-q", "-f", &manifests[0]], 0).await?;
        check_plan_output(&run, &apps)?;
        without.push(round_trips(run.wall));
        walls.push(run.wall.as_secs_f64());
        logs.0 = request_summary(&sim.requests());
        sim.clear_requests();
        let run = upmsync(&locked, &["plan", "-q", "-f", &manifests[1]], 0).await?;
        check_plan_output(&run, &apps)?;
        with.push(round_trips(run.wall));
        logs.1 = request_summary(&sim.requests());
    }
    info(&format!("without a lock: {}", logs.0));
    info(&format!("with a lock:    {}", logs.1));
    let plan_wall = median(walls);

    // The per-app sequential reader: the plugin list, then per app its license and its version.
    sim.clear_requests();
    let baseline = sequential_reader(&sim, &apps).await?;
    info(&format!(
        "per-app sequential reader: {:.1} s, {}",
        baseline.as_secs_f64(),
        request_summary(&sim.requests())
    ));
    info(&format!(
        "upmsync plan without a lock: {plan_wall:.2} s (median of {})",
        sizes.paired_runs
    ));
    report.figure(
        "plan: round trips with a lock",
        median(with),
        "",
        Goal::AtMost(4.0),
    );
    report.figure(
        "plan: round trips without a lock",
        median(without),
        "",
        Goal::AtMost(10.0),
    );
    report.figure(
        "plan: speed-up over the per-app sequential reader",
        baseline.as_secs_f64() / plan_wall,
        "x",
        Goal::AtLeast(100.0),
    );
    sim.shutdown().await;
    Ok(())
}

/// The plan must name every upgrade (a plan that read nothing would be fast and wrong).
fn check_plan_output(run: &Run, apps: &[FleetApp]) -> anyhow::Result<()> {
    for app in apps.iter().filter(|app| app.upgrade) {
        if !run.stdout.contains(&key(app.index)) {
            bail!(
                "the plan does not mention the upgrade of `{}`:\n{}",
                key(app.index),
                tail(&run.stdout)
            );
        }
    }
    Ok(())
}

/// The baseline the issue compares against: one request after another, as a naive script would.
async fn sequential_reader(sim: &Sim, apps: &[FleetApp]) -> anyhow::Result<Duration> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("cannot build the baseline's client")?;
    let upm = sim.upm_url();
    let get = |url: String| {
        client
            .get(url)
            .basic_auth("admin", Some("admin"))
            .header(
                "accept",
                "application/json, application/vnd.atl.plugins+json, */*",
            )
            .send()
    };
    let started = Instant::now();
    let list = get(format!("{upm}rest/plugins/1.0/")).await?;
    if !list.status().is_success() {
        bail!("the baseline's plugin list answered {}", list.status());
    }
    list.bytes().await?;
    for app in apps {
        let key = key(app.index);
        let license = get(format!("{upm}rest/plugins/1.0/{key}-key/license")).await?;
        if !license.status().is_success() {
            bail!(
                "the baseline's license of `{key}` answered {}",
                license.status()
            );
        }
        license.bytes().await?;
        let version = if app.upgrade { "2.0.0" } else { "1.0.0" };
        // Anonymous, as scripts read public apps (marketplace-api.md §1): the Marketplace
        // refuses credentials that are not an account's.
        let lookup = client
            .get(format!(
                "{}rest/2/addons/{key}/versions/name/{version}",
                sim.marketplace_url()
            ))
            .header("accept", "application/json")
            .send()
            .await?;
        if !lookup.status().is_success() {
            bail!(
                "the baseline's lookup of `{key}` answered {}",
                lookup.status()
            );
        }
        lookup.bytes().await?;
    }
    Ok(started.elapsed())
}

// ---------------------------------------------------------------------------------------------
// apply

async fn apply_scenario(sizes: Sizes, folder: &Path, report: &mut Report) -> anyhow::Result<()> {
    let apps = fleet(sizes.apply_upgrades, 0, sizes.apply_upgrades);
    info(&format!(
        "{} upgrades, each {} ms of download (from the Marketplace, for UPM and upmsync alike) + {} ms of install, no latency",
        apps.len(),
        sizes.download.as_millis(),
        sizes.install.as_millis()
    ));
    for (name, sha, install, goal) in [
        ("by URI", false, None, 1.10),
        ("pinned sha256, by URI", true, Some("uri"), 1.15),
        ("pinned sha256, upload", true, Some("upload"), 1.15),
    ] {
        let sim = start(
            slow_downloads(upm_config(&apps, true), sizes.download).task_delay(sizes.install),
        )
        .await?;
        let dir = folder.join(name.replace([' ', ','], "-"));
        fs::create_dir_all(&dir)?;
        let wants = apps
            .iter()
            .map(|app| {
                let sha256 = sha.then(|| {
                    hex(&Sha256::digest(build_plugin_jar(
                        &key(app.index),
                        &format!("Fleet app {}", app.index),
                        "2.0.0",
                        false,
                    )))
                });
                (
                    key(app.index),
                    Want {
                        version: "2.0.0",
                        license: None,
                        sha256,
                        install,
                        source_path: None,
                    },
                )
            })
            .collect::<Vec<_>>();
        let manifest = write_manifest(
            &dir,
            sim.marketplace_url().as_str(),
            &[sim.upm_url().to_string()],
            &wants,
        )?;
        let manifest = manifest.to_string_lossy().to_string();
        let run = upmsync(&dir, &["apply", "-q", "--auto-approve", "-f", &manifest], 0).await?;
        let server = server_task_time(&sim, apps.len(), "2.0.0", &apps)?;
        info(&format!(
            "{name}: apply {:.1} s, sum of server task time {:.1} s; {}",
            run.wall.as_secs_f64(),
            server.as_secs_f64(),
            request_summary(&sim.requests())
        ));
        report.figure(
            &format!("apply {name}: wall / server task time"),
            run.wall.as_secs_f64() / server.as_secs_f64(),
            "x",
            Goal::AtMost(goal),
        );
        sim.shutdown().await;
    }
    Ok(())
}

/// The sum of the install tasks' server time, after checking that there were `tasks` and every
/// app ended at `version`.
fn server_task_time(
    sim: &Sim,
    tasks: usize,
    version: &str,
    apps: &[FleetApp],
) -> anyhow::Result<Duration> {
    let record = sim.install_tasks();
    if record.len() != tasks || record.iter().any(|task| task.succeeded != Some(true)) {
        bail!("expected {tasks} successful install tasks, the simulator ran {record:?}");
    }
    for app in apps {
        let plugin = sim.plugin(&key(app.index));
        if plugin.as_ref().map(|plugin| plugin.version.as_str()) != Some(version) {
            bail!("`{}` is at {plugin:?}, not {version}", key(app.index));
        }
    }
    Ok(record.iter().filter_map(|task| task.server_time()).sum())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

// ---------------------------------------------------------------------------------------------
// instances

async fn instances_scenario(
    sizes: Sizes,
    folder: &Path,
    report: &mut Report,
) -> anyhow::Result<()> {
    let apps = fleet(
        sizes.instance_apps,
        sizes.instance_apps / 4,
        sizes.instance_apps / 2,
    );
    info(&format!(
        "plan: {} instances x {} apps, {} ms per request, one shared Marketplace",
        sizes.instances,
        apps.len(),
        sizes.latency.as_millis()
    ));
    // One Marketplace for every instance; each instance is a simulator of its own (its own port,
    // as per-host limits apply per instance).
    let started = Instant::now();
    let marketplace = start(upm_config(&[], true).marketplace_apps(&apps)).await?;
    let mut sims = Vec::new();
    for _ in 0..sizes.instances {
        // Each instance's UPM knows its apps come from the Marketplace (its catalog is the shared
        // one's), so `installed-marketplace` covers their licenses as on a real instance.
        sims.push(start(upm_config(&apps, true)).await?);
    }
    info(&format!(
        "started {} simulators in {:.2} s",
        sims.len() + 1,
        started.elapsed().as_secs_f64()
    ));
    marketplace.set_latency(sizes.latency);
    for sim in &sims {
        sim.set_latency(sizes.latency);
    }
    let urls: Vec<String> = sims.iter().map(|sim| sim.upm_url().to_string()).collect();
    let one = folder.join("one");
    let all = folder.join("all");
    let mut manifests = Vec::new();
    for (dir, instances) in [(&one, &urls[..1]), (&all, &urls[..])] {
        fs::create_dir_all(dir)?;
        let wants: Vec<(String, Want)> = apps
            .iter()
            .map(|app| Ok((key(app.index), want(app, dir)?)))
            .collect::<anyhow::Result<_>>()?;
        manifests.push(
            write_manifest(
                dir,
                marketplace.marketplace_url().as_str(),
                instances,
                &wants,
            )?
            .to_string_lossy()
            .to_string(),
        );
    }
    let mut ratios = Vec::new();
    let mut pair = (0.0, 0.0);
    for _ in 0..sizes.paired_runs.min(3) {
        let single = upmsync(&one, &["plan", "-q", "-f", &manifests[0]], 0).await?;
        let many = upmsync(&all, &["plan", "-q", "-f", &manifests[1]], 0).await?;
        pair = (single.wall.as_secs_f64(), many.wall.as_secs_f64());
        ratios.push(pair.1 / pair.0);
    }
    info(&format!(
        "plan of one instance {:.2} s, of {} instances {:.2} s (last pair)",
        pair.0, sizes.instances, pair.1
    ));
    report.figure(
        &format!("instances: plan {} / plan 1", sizes.instances),
        median(ratios),
        "x",
        Goal::AtMost(1.5),
    );
    for sim in sims {
        sim.shutdown().await;
    }
    marketplace.shutdown().await;

    // Apply: N instances with one upgrade each against one, fresh simulators each time.
    let help = upmsync(folder, &["apply", "--help"], 0).await?;
    let parallelism = help.stdout.contains("--parallelism");
    info(&format!(
        "apply: {} instances x 1 upgrade ({} ms download + {} ms install), no latency; {}",
        sizes.apply_instances,
        sizes.download.as_millis(),
        sizes.install.as_millis(),
        if parallelism {
            "the binary takes --parallelism: passing the instance count"
        } else {
            "the binary has no --parallelism: run as it is"
        }
    ));
    let upgrade = fleet(1, 0, 1);
    let mut walls = Vec::new();
    for count in [1, sizes.apply_instances] {
        let marketplace = start(slow_downloads(
            upm_config(&[], true).marketplace_apps(&upgrade),
            sizes.download,
        ))
        .await?;
        let mut sims = Vec::new();
        for _ in 0..count {
            sims.push(
                start(
                    upm_config(&upgrade, false)
                        .download_delay(sizes.download)
                        .task_delay(sizes.install),
                )
                .await?,
            );
        }
        let dir = folder.join(format!("apply-{count}"));
        fs::create_dir_all(&dir)?;
        let urls: Vec<String> = sims.iter().map(|sim| sim.upm_url().to_string()).collect();
        let wants = vec![(
            key(0),
            Want {
                version: "2.0.0",
                license: None,
                sha256: None,
                install: None,
                source_path: None,
            },
        )];
        let manifest = write_manifest(&dir, marketplace.marketplace_url().as_str(), &urls, &wants)?
            .to_string_lossy()
            .to_string();
        let count_text = count.to_string();
        let mut args = vec!["apply", "-q", "--auto-approve", "-f", &manifest];
        if parallelism {
            args.extend(["--parallelism", &count_text]);
        }
        let run = upmsync(&dir, &args, 0).await?;
        for sim in &sims {
            server_task_time(sim, 1, "2.0.0", &upgrade)?;
        }
        walls.push(run.wall.as_secs_f64());
        for sim in sims {
            sim.shutdown().await;
        }
        marketplace.shutdown().await;
    }
    info(&format!(
        "apply of one instance {:.2} s, of {} instances {:.2} s",
        walls[0], sizes.apply_instances, walls[1]
    ));
    report.figure(
        &format!("instances: apply {} / apply 1", sizes.apply_instances),
        walls[1] / walls[0],
        "x",
        Goal::AtMost(1.5),
    );
    Ok(())
}

/// Adds the fleet's apps to a simulator's Marketplace catalog.
trait MarketplaceApps {
    fn marketplace_apps(self, apps: &[FleetApp]) -> Self;
}

impl MarketplaceApps for SimConfig {
    fn marketplace_apps(self, apps: &[FleetApp]) -> Self {
        apps.iter().fold(self, |config, app| {
            config.marketplace_app(marketplace_app(app))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// memory

async fn memory_scenario(sizes: Sizes, folder: &Path, report: &mut Report) -> anyhow::Result<()> {
    if !cfg!(target_os = "linux") {
        info("peak RSS is measured on Linux only (wait4's ru_maxrss): skipped");
        return Ok(());
    }
    let limit = 30.0;
    // A plan of many apps, no latency.
    let apps = fleet(
        sizes.memory_apps,
        sizes.memory_apps / 5,
        sizes.memory_apps / 2,
    );
    let sim = start(upm_config(&apps, true)).await?;
    let dir = folder.join("plan");
    fs::create_dir_all(&dir)?;
    let wants: Vec<(String, Want)> = apps
        .iter()
        .map(|app| Ok((key(app.index), want(app, &dir)?)))
        .collect::<anyhow::Result<_>>()?;
    let manifest = write_manifest(
        &dir,
        sim.marketplace_url().as_str(),
        &[sim.upm_url().to_string()],
        &wants,
    )?
    .to_string_lossy()
    .to_string();
    let run = upmsync(&dir, &["plan", "-q", "-f", &manifest], 0).await?;
    report.figure(
        &format!("memory: plan of {} apps, peak RSS", apps.len()),
        mib(run.peak_rss),
        "MiB",
        Goal::AtMost(limit),
    );
    sim.shutdown().await;

    // A big artifact, as a jar and as an OBR.
    let app = FleetApp {
        index: 0,
        licensed: false,
        upgrade: true,
    };
    for kind in ["jar", "obr"] {
        let dir = folder.join(kind);
        fs::create_dir_all(&dir)?;
        let artifact = dir.join(format!("artifact.{kind}"));
        let name = format!("Fleet app {}", app.index);
        if kind == "jar" {
            write_padded_plugin_jar(
                &artifact,
                &key(app.index),
                &name,
                "2.0.0",
                false,
                sizes.artifact_bytes,
            )?;
        } else {
            write_padded_obr(
                &artifact,
                &key(app.index),
                &name,
                "2.0.0",
                false,
                sizes.artifact_bytes,
            )?;
        }
        let sha256 = file_sha256(&artifact)?;
        let size = fs::metadata(&artifact)?.len();
        info(&format!(
            "{kind} of {:.0} MiB, served from disk",
            size as f64 / MIB as f64
        ));
        let config = || {
            upm_config(std::slice::from_ref(&app), true).marketplace_artifact_file(
                &key(app.index),
                build(app.index, 2),
                &artifact,
            )
        };
        let want = || Want {
            version: "2.0.0",
            license: None,
            sha256: Some(sha256.clone()),
            install: None,
            source_path: None,
        };

        // `apply -f` with the sha256 pinned: downloaded, verified, uploaded.
        let sim = start(config()).await?;
        let apply_dir = dir.join("apply");
        fs::create_dir_all(&apply_dir)?;
        let manifest = write_manifest(
            &apply_dir,
            sim.marketplace_url().as_str(),
            &[sim.upm_url().to_string()],
            &[(key(app.index), want())],
        )?
        .to_string_lossy()
        .to_string();
        let run = upmsync(
            &apply_dir,
            &["apply", "-q", "--auto-approve", "-f", &manifest],
            0,
        )
        .await?;
        server_task_time(&sim, 1, "2.0.0", std::slice::from_ref(&app))?;
        report.figure(
            &format!("memory: apply -f, {kind}, peak RSS"),
            mib(run.peak_rss),
            "MiB",
            Goal::AtMost(limit),
        );
        sim.shutdown().await;

        // `lock` in a folder of its own; then `plan --out` with the sha256 pinned and `apply PLAN`
        // in another (each folder its own empty cache), on a fresh simulator.
        let sim = start(config()).await?;
        let lock_dir = dir.join("lock");
        let chain = dir.join("chain");
        let mut manifests = Vec::new();
        for (folder, sha256) in [(&lock_dir, None), (&chain, Some(sha256.clone()))] {
            fs::create_dir_all(folder)?;
            manifests.push(
                write_manifest(
                    folder,
                    sim.marketplace_url().as_str(),
                    &[sim.upm_url().to_string()],
                    &[(key(app.index), Want { sha256, ..want() })],
                )?
                .to_string_lossy()
                .to_string(),
            );
        }
        let lock = upmsync(&lock_dir, &["lock", "-q", "-f", &manifests[0]], 0).await?;
        let plan = upmsync(
            &chain,
            &["plan", "-q", "-f", &manifests[1], "--out", "plan.json"],
            0,
        )
        .await?;
        let apply = upmsync(&chain, &["apply", "-q", "plan.json"], 0).await?;
        server_task_time(&sim, 1, "2.0.0", std::slice::from_ref(&app))?;
        for (command, run) in [("lock", lock), ("plan --out", plan), ("apply PLAN", apply)] {
            report.figure(
                &format!("memory: {command}, {kind}, peak RSS"),
                mib(run.peak_rss),
                "MiB",
                Goal::AtMost(limit),
            );
        }
        sim.shutdown().await;

        // The same artifact as a local file (`source: {path: …}`, uploaded): `lock`, then
        // `plan --out` and `apply PLAN`, on a fresh simulator.
        let sim = start(config()).await?;
        let local = dir.join("local");
        fs::create_dir_all(&local)?;
        let manifest = write_manifest(
            &local,
            sim.marketplace_url().as_str(),
            &[sim.upm_url().to_string()],
            &[(
                key(app.index),
                Want {
                    sha256: None,
                    source_path: Some(artifact.clone()),
                    ..want()
                },
            )],
        )?
        .to_string_lossy()
        .to_string();
        let lock = upmsync(&local, &["lock", "-q", "-f", &manifest], 0).await?;
        let plan = upmsync(
            &local,
            &["plan", "-q", "-f", &manifest, "--out", "plan.json"],
            0,
        )
        .await?;
        let apply = upmsync(&local, &["apply", "-q", "plan.json"], 0).await?;
        server_task_time(&sim, 1, "2.0.0", std::slice::from_ref(&app))?;
        for (command, run) in [("lock", lock), ("plan --out", plan), ("apply PLAN", apply)] {
            report.figure(
                &format!("memory: {command}, local {kind} file, peak RSS"),
                mib(run.peak_rss),
                "MiB",
                Goal::AtMost(limit),
            );
        }
        sim.shutdown().await;

        // `publish` of the same artifact as version 2.0.0 of a listing that has only 1.0.0: read,
        // hashed and uploaded streamed from disk (docs/publish.md), then created.
        let listing = SeedMarketplaceApp {
            versions: vec![SeedMarketplaceVersion::new("1.0.0", build(app.index, 1))],
            ..marketplace_app(&app)
        };
        let sim = start(SimConfig::empty().marketplace_app(listing)).await?;
        let publish_dir = dir.join("publish");
        fs::create_dir_all(&publish_dir)?;
        let file = artifact.to_string_lossy().to_string();
        let marketplace = sim.marketplace_url().to_string();
        let run = upmsync(
            &publish_dir,
            &["publish", "-q", &file, "--marketplace-url", &marketplace],
            0,
        )
        .await?;
        report.figure(
            &format!("memory: publish, {kind}, peak RSS"),
            mib(run.peak_rss),
            "MiB",
            Goal::AtMost(limit),
        );
        sim.shutdown().await;
        fs::remove_file(&artifact)?;
    }
    Ok(())
}

/// Bytes in MiB; a peak that could not be measured is NaN, which no goal passes.
fn mib(bytes: Option<u64>) -> f64 {
    bytes.map_or(f64::NAN, |bytes| bytes as f64 / MIB as f64)
}

fn file_sha256(path: &Path) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    let mut file = fs::File::open(path)?;
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}
