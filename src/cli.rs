//! Command-line arguments. The doc comments are the `--help` text.

#[cfg(feature = "sim")]
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "sim")]
use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};

use crate::http::tls::{RootSource, Roots};
use crate::http::{HttpSettings, ProxySettings};
use crate::render::Format;
use crate::retry::RetryPolicy;
#[cfg(feature = "sim")]
use upmsync_sim::WebPage;

/// Manage Atlassian Data Center apps (UPM plugins) declaratively, from a YAML manifest
///
/// upmsync reads the apps you want on each instance from `apps.yaml`, reads what is installed from
/// the Universal Plugin Manager, and plans and applies the difference.
///
/// Exit codes: 0 success (in sync), 1 error (bad input, unreachable server, failed change),
/// 2 changes or drift found (`plan --detailed-exitcode`, `drift`).
#[derive(Debug, Parser)]
#[command(
    name = "upmsync",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Show more diagnostics on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print only data, warnings and errors: no status or progress lines on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Colour plans and warnings: auto (when the stream is a terminal and NO_COLOR is unset),
    /// always, or never
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// How a command that talks to servers talks to them: retries and the cap on requests in flight.
/// A command that contacts UPM or the Marketplace flattens this (`#[command(flatten)]`) and names
/// itself in [`Command::network`]; the flags then show only where they have an effect.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Network")]
pub struct NetworkArgs {
    /// Retry a failed read (connection error, timeout, 429, 5xx) up to this many times
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Start no retry later than this many seconds after the first attempt
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub retry_max_seconds: u64,

    /// Send at most this many requests at once to one host (each instance, the Marketplace)
    #[arg(long, value_name = "N", default_value_t = crate::http::limits::DEFAULT_MAX_REQUESTS_PER_HOST, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..), usize::from))]
    pub max_requests_per_host: usize,
}

impl Default for NetworkArgs {
    /// The flags' defaults: what a command that takes none of them (the demo) uses.
    fn default() -> Self {
        Self {
            retries: 3,
            retry_max_seconds: 60,
            max_requests_per_host: crate::http::limits::DEFAULT_MAX_REQUESTS_PER_HOST,
        }
    }
}

impl Command {
    /// The network flags of a command that talks to servers; `None` for one that does not
    /// (validate, sim, completions, man) or takes none (demo: the defaults).
    pub fn network(&self) -> Option<&NetworkArgs> {
        match self {
            Command::Plan(args) => Some(&args.network),
            Command::Apply(args) => Some(&args.network),
            Command::Drift(args) => Some(&args.network),
            Command::Outdated(args) => Some(&args.network),
            Command::Lock(args) => Some(&args.network),
            Command::Import(args) => Some(&args.network),
            Command::Serve(args) => Some(&args.network),
            Command::Publish(args) => Some(&args.network),
            _ => None,
        }
    }

    /// `--task-timeout` in seconds, where tasks run (apply).
    pub fn task_timeout(&self) -> Option<u64> {
        match self {
            Command::Apply(args) => Some(args.task_timeout),
            _ => None,
        }
    }
}

impl Cli {
    /// The settings every HTTP client of this run starts from: the command's network flags
    /// ([`NetworkArgs`], their defaults for a command without them), `--task-timeout` (apply),
    /// and what the environment says about proxies (`https_proxy`, `http_proxy`, `all_proxy`,
    /// `no_proxy`, lower case first, then upper case, as curl reads them) and root certificates
    /// (`SSL_CERT_FILE`, `SSL_CERT_DIR`). The environment is read here and nowhere else.
    #[expect(
        clippy::disallowed_methods,
        reason = "the CLI edge: proxy and certificate variables become settings here"
    )]
    pub fn http_settings(&self) -> HttpSettings {
        let variable = |name: &str| std::env::var(name).ok();
        let defaults = NetworkArgs::default();
        let network = self.command.network().unwrap_or(&defaults);
        HttpSettings {
            retry: RetryPolicy {
                attempts: network.retries.saturating_add(1),
                max_total: Duration::from_secs(network.retry_max_seconds),
                ..RetryPolicy::default()
            },
            task_timeout: self
                .command
                .task_timeout()
                .map_or(crate::http::DEFAULT_TASK_TIMEOUT, Duration::from_secs),
            limits: crate::http::Limits::new(network.max_requests_per_host),
            proxy: ProxySettings::from_lookup(variable),
            roots: Roots::new(RootSource {
                cert_file: std::env::var_os("SSL_CERT_FILE")
                    .filter(|value| !value.is_empty())
                    .map(PathBuf::from),
                cert_dirs: std::env::var_os("SSL_CERT_DIR")
                    .map(|dirs| {
                        std::env::split_paths(&dirs)
                            .filter(|dir| !dir.as_os_str().is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            ..HttpSettings::default()
        }
    }
}

/// `--color`: when stdout and stderr are coloured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// When the stream is a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always, terminal or not (and whatever `NO_COLOR` says).
    Always,
    /// Never.
    Never,
}

impl ColorChoice {
    /// Whether a stream is coloured: `terminal` says whether it is one, `no_color` whether
    /// `NO_COLOR` is set to a non-empty value.
    pub fn colors(self, terminal: bool, no_color: bool) -> bool {
        match self {
            Self::Always => true,
            Self::Never => false,
            Self::Auto => terminal && !no_color,
        }
    }
}

impl Cli {
    /// What the process's streams are and where colour goes: `std::io::IsTerminal` on each
    /// stream, `--color`, and `NO_COLOR` (any non-empty value turns `auto` colour off,
    /// no-color.org). `UPMSYNC_TEST_STDIN_IS_TERMINAL=1` makes stdin count as a terminal: for
    /// tests of apply's confirmation only (docs/terminal.md). The environment is read here.
    #[expect(
        clippy::disallowed_methods,
        reason = "the CLI edge: NO_COLOR and the test switch become settings here (asking whether stdout and stderr are terminals writes nothing)"
    )]
    pub fn terminal(&self) -> crate::printer::Terminal {
        use std::io::IsTerminal;
        let set = |name: &str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
        let (stdout, stderr) = (
            std::io::stdout().is_terminal(),
            std::io::stderr().is_terminal(),
        );
        let stdin = std::io::stdin().is_terminal()
            || std::env::var_os("UPMSYNC_TEST_STDIN_IS_TERMINAL").is_some_and(|value| value == "1");
        let no_color = set("NO_COLOR");
        let color = |terminal: bool| self.color.colors(terminal, no_color);
        crate::printer::Terminal {
            stdin,
            stdout,
            stderr,
            color_stdout: color(stdout),
            color_stderr: color(stderr),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifest offline: fields, versions, environment variables and files
    #[command(
        after_help = "Example:\n  upmsync validate -f apps.yaml --skip-secrets --instance jira-prod"
    )]
    Validate(ValidateArgs),
    /// Show what apply would change, without changing anything
    #[command(
        after_help = "Examples:\n  upmsync plan -f apps.yaml --instance jira-prod\n  upmsync plan --detailed-exitcode --out plan.json   # exit 2 when the instances differ"
    )]
    Plan(PlanArgs),
    /// Apply the plan: install, upgrade, downgrade, uninstall, enable, disable and license apps
    #[command(
        after_help = "Examples:\n  upmsync apply -f apps.yaml --instance jira-prod --dry-run\n  upmsync apply plan.json   # a plan saved with `upmsync plan --out plan.json`"
    )]
    Apply(ApplyArgs),
    /// Check whether the instances match the manifest, for monitoring (exit 0 in sync, 2 drift, 1 error)
    #[command(after_help = "Example:\n  upmsync drift -f apps.yaml --format json")]
    Drift(DriftArgs),
    /// Resolve every app to an exact version and artifact (downloaded and hashed) and write `apps.lock`
    #[command(after_help = "Example:\n  upmsync lock -f apps.yaml --update   # move `latest` on")]
    Lock(LockArgs),
    /// List, per instance and app: the installed version, the wanted one, and the newest compatible one
    #[command(after_help = "Example:\n  upmsync outdated -f apps.yaml --instance jira-prod")]
    Outdated(OutdatedArgs),
    /// Print a manifest that pins every user-installed app of the manifest's instances as it runs now
    #[command(
        after_help = "Example:\n  upmsync import -f instances.yaml --instance jira-prod > apps.yaml   # then: upmsync plan -f apps.yaml shows no changes"
    )]
    Import(ImportArgs),
    /// Show a plan saved with `plan --out`, without reading the manifest or contacting anything
    #[command(
        after_help = "Example:\n  upmsync plan -f apps.yaml --out plan.json && upmsync show plan.json --format markdown"
    )]
    Show(ShowArgs),
    /// Check drift on a schedule and serve Prometheus metrics on `/metrics` (read-only, never applies)
    #[command(
        after_help = "Example:\n  upmsync serve -f apps.yaml --listen 127.0.0.1:9841 --interval 5m\n\nSee docs/monitoring.md for every metric and an example alert rule."
    )]
    Serve(ServeArgs),
    /// Publish a new version of an existing Marketplace listing from a plugin jar or OBR
    #[command(
        after_help = "Examples:\n  upmsync publish target/my-app-1.2.3.jar --status public --compatibility jira:9120000-10030000\n  upmsync publish target/my-app-1.2.3.obr --dry-run   # check, and print the version document\n\nCredentials come from MARKETPLACE_EMAIL and MARKETPLACE_API_TOKEN; see docs/publish.md."
    )]
    Publish(PublishArgs),
    /// Run the UPM + Marketplace simulator (a Jira with apps; user `admin`, password `admin`)
    #[cfg(feature = "sim")]
    #[command(
        after_help = "Example:\n  upmsync sim --safe-mode --requires-restart com.example.app"
    )]
    Sim(SimArgs),
    /// Start the simulator in-process and run validate, plan, apply and drift on the example manifest
    #[cfg(feature = "sim")]
    #[command(after_help = "Examples:\n  upmsync demo\n  upmsync demo --product confluence")]
    Demo(DemoArgs),
    /// Print a shell completion script to stdout
    #[command(
        after_help = "Examples:\n  upmsync completions bash > /etc/bash_completion.d/upmsync\n  upmsync completions zsh > \"${fpath[1]}/_upmsync\"\n  upmsync completions fish > ~/.config/fish/completions/upmsync.fish\n  upmsync completions powershell >> $PROFILE"
    )]
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout
    #[command(after_help = "Example:\n  upmsync man > /usr/local/share/man/man1/upmsync.1")]
    Man,
}

/// The arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManifestArgs {
    /// The manifest file
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        default_value = "apps.yaml"
    )]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Only this instance (by its `name` in the manifest); repeat for several
    #[arg(long = "instance", value_name = "NAME")]
    pub instances: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Do not require credentials and licenses: their environment variables, and license files
    /// (for linting in CI); a license file that is there is still checked
    #[arg(long)]
    pub skip_secrets: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit 2 when the instances differ from the manifest, as `drift` counts it: changes to make,
    /// apps listed by `unmanaged: report`, changes waiting for a restart (0 none, 1 error)
    #[arg(long)]
    pub detailed_exitcode: bool,

    /// Save the plan, with fingerprints of the manifest, lock and live state, for `upmsync apply FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub network: NetworkArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `upmsync plan --out`: applied exactly, without asking, after checking that
    /// the manifest, lock and live state are still those it was made from (else nothing changes)
    #[arg(value_name = "PLAN", conflicts_with_all = ["file", "instances"])]
    pub plan: Option<PathBuf>,

    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Check everything that can be checked without changing anything (no POST, PUT or DELETE)
    #[arg(long)]
    pub dry_run: bool,

    /// Apply without asking; required when there is no terminal to ask on (CI)
    #[arg(long)]
    pub auto_approve: bool,

    /// Also write the report (every change: done, failed with the reason, or not started) as JSON
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// How many instances to apply at once (changes on one instance are always one at a time, in
    /// order)
    #[arg(long, value_name = "N", default_value_t = crate::ops::apply::DEFAULT_PARALLELISM, value_parser = clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..), usize::from))]
    pub parallelism: usize,

    /// Stop an instance when an install task runs longer than this (the error names the task URL)
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub task_timeout: u64,

    #[command(flatten)]
    pub cache: CacheArgs,

    #[command(flatten)]
    pub network: NetworkArgs,
}

/// The arguments of `drift`: those of a read-only report (reached through `Deref`), and where to
/// write its metrics.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Also write Prometheus metrics (text format) to FILE, atomically, for node_exporter's
    /// textfile collector; written also when an instance cannot be read
    // Before the flattened report: its network flags end with their own help heading.
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,

    #[command(flatten)]
    pub report: ReportArgs,
}

impl std::ops::Deref for DriftArgs {
    type Target = ReportArgs;

    fn deref(&self) -> &ReportArgs {
        &self.report
    }
}

/// The arguments of `outdated`: those of a read-only report (reached through `Deref`), and the
/// product version to check readiness for.
#[derive(Debug, Args)]
pub struct OutdatedArgs {
    /// Check every installed app against this product version (e.g. `10.3.0`, looked up for each
    /// instance's product on the Marketplace) instead: exit 2 when some app must change
    // Before the flattened report: its network flags end with their own help heading.
    #[arg(long, value_name = "VERSION", value_parser = parse_product_version)]
    pub product_version: Option<String>,

    #[command(flatten)]
    pub report: ReportArgs,
}

impl std::ops::Deref for OutdatedArgs {
    type Target = ReportArgs;

    fn deref(&self) -> &ReportArgs {
        &self.report
    }
}

/// The arguments of a read-only report (`drift`, `outdated`): the manifest, the instances and the
/// output format.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    #[command(flatten)]
    pub network: NetworkArgs,
}

/// The arguments of `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan file written by `upmsync plan --out FILE`
    #[arg(value_name = "PLAN")]
    pub plan: PathBuf,

    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Where downloaded artifacts are kept [default: the user's cache folder, e.g. ~/.cache/upmsync]
    #[arg(long, value_name = "DIR", env = "UPMSYNC_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl CacheArgs {
    /// The cache folder: `--cache-dir` (or `UPMSYNC_CACHE_DIR`), else `upmsync` in the user's
    /// cache folder as the platform names it (`dirs::cache_dir`: `$XDG_CACHE_HOME` or
    /// `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows); `None` when
    /// there is none. Never a shared folder such as `/tmp`.
    pub fn dir(&self) -> Option<PathBuf> {
        self.cache_dir.clone().or_else(|| {
            dirs::cache_dir()
                .filter(|path| path.is_absolute())
                .map(|path| path.join("upmsync"))
        })
    }
}

/// The arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[command(flatten)]
    pub selection: SelectionArgs,

    #[command(flatten)]
    pub network: NetworkArgs,
}

#[derive(Debug, Args)]
pub struct LockArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[command(flatten)]
    pub selection: SelectionArgs,

    #[command(flatten)]
    pub cache: CacheArgs,

    /// Re-resolve every app, not only those the lock does not cover yet
    #[arg(long)]
    pub update: bool,

    #[command(flatten)]
    pub network: NetworkArgs,
}

/// The arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub manifest: ManifestArgs,

    #[command(flatten)]
    pub selection: SelectionArgs,

    /// Serve `/metrics` and `/healthz` on this address (port 0: a free port, printed on stderr)
    #[arg(long, value_name = "ADDR", value_parser = parse_listen)]
    pub listen: std::net::SocketAddr,

    /// Start a check this often, e.g. `30s`, `5m`, `1h` (1s to 24h); a check that takes longer
    /// delays the next, never overlaps it
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_interval)]
    pub interval: Duration,

    #[command(flatten)]
    pub network: NetworkArgs,
}

/// The arguments of `publish`. The account's email and API token come from `MARKETPLACE_EMAIL`
/// and `MARKETPLACE_API_TOKEN` ([`PublishArgs::credentials`]), never from flags (a token on the
/// command line shows in the process list).
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The plugin jar or OBR to publish; its descriptor gives the listing's key and the version
    #[arg(value_name = "ARTIFACT")]
    pub artifact: PathBuf,

    /// The listing's key: refuse an artifact of another app
    #[arg(long, value_name = "KEY")]
    pub addon_key: Option<String>,

    /// The new version's status: private (the vendor's only) or public
    #[arg(long, value_enum, default_value_t)]
    pub status: crate::ops::publish::Status,

    /// Who is paid for the version [default: the latest version's, else free]
    #[arg(long, value_enum)]
    pub payment_model: Option<crate::ops::publish::PaymentModel>,

    /// A one-line summary of the release
    #[arg(long, value_name = "TEXT")]
    pub release_summary: Option<String>,

    /// A file of release notes (HTML or text, at most 64 KiB)
    #[arg(long, value_name = "FILE")]
    pub release_notes: Option<PathBuf>,

    /// Mark the version as a beta
    #[arg(long)]
    pub beta: bool,

    /// Mark the version as supported by the vendor
    #[arg(long)]
    pub supported: bool,

    /// A Data Center product build range the version supports, e.g. jira:9120000-10030000; repeat
    /// for more products [default: the latest version's]
    #[arg(long = "compatibility", value_name = "APP:MIN_BUILD-MAX_BUILD", value_parser = crate::ops::publish::parse_compatibility)]
    pub compatibilities: Vec<crate::ops::publish::CompatibilityRange>,

    /// The version's build number [default: MAJOR*100000000 + MINOR*100000 + PATCH*100 of the
    /// version]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=i64::MAX as u64))]
    pub build_number: Option<u64>,

    /// The Marketplace to publish to (checked by the command, so a URL holding credentials is
    /// never echoed)
    #[arg(long, value_name = "URL", env = "UPMSYNC_MARKETPLACE_URL", hide_env_values = true, default_value = crate::manifest::DEFAULT_MARKETPLACE)]
    pub marketplace_url: String,

    /// Only read the listing and check; print the version document that would be posted
    #[arg(long)]
    pub dry_run: bool,

    /// Output format on stdout
    #[arg(long, value_enum, default_value_t)]
    pub format: crate::render::PublishFormat,

    #[command(flatten)]
    pub network: NetworkArgs,
}

impl PublishArgs {
    /// The account's email and API token from `MARKETPLACE_EMAIL` and `MARKETPLACE_API_TOKEN`,
    /// each `None` when unset or blank. The environment is read here.
    #[expect(
        clippy::disallowed_methods,
        reason = "the CLI edge: the publisher's credentials become values here"
    )]
    pub fn credentials(&self) -> (Option<String>, Option<String>) {
        let variable = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        (
            variable("MARKETPLACE_EMAIL").map(|email| email.trim().to_string()),
            // A secret store's value often ends with a newline; no token has spaces.
            variable("MARKETPLACE_API_TOKEN").map(|token| token.trim().to_string()),
        )
    }
}

/// `serve --listen`: `IP:PORT`, or `HOST:PORT` resolved to its first address (`localhost:9841`).
fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    text.to_socket_addrs()
        .map_err(|error| format!("`{text}` is not an address to listen on, such as `127.0.0.1:9841` or `localhost:9841`: {error}"))?
        .next()
        .ok_or_else(|| format!("`{text}` resolves to no address"))
}

/// `--product-version`: a version name such as `10.3.0`, refused before any request when empty
/// or spaced (an unset shell variable).
fn parse_product_version(text: &str) -> Result<String, String> {
    if text.is_empty() || text.contains(char::is_whitespace) || text.chars().any(char::is_control) {
        Err("give a product version such as `10.3.0` (no spaces)".to_string())
    } else {
        Ok(text.to_string())
    }
}

/// The shortest and longest `serve --interval`.
pub const INTERVALS: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(24 * 60 * 60);

/// `30s`, `5m`, `1h 30m` -> the duration, within [`INTERVALS`].
fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text.trim()).map_err(|error| {
        format!("`{text}` is not a duration such as `30s`, `5m` or `1h`: {error}")
    })?;
    if INTERVALS.contains(&interval) {
        Ok(interval)
    } else {
        Err(format!("`{text}` is outside 1s to 24h"))
    }
}

#[cfg(feature = "sim")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Simulate this product and run its example manifest (`apps.yaml.example` for Jira,
    /// `examples/<product>/apps.yaml` for the others)
    #[arg(
        long,
        value_name = "PRODUCT",
        default_value = "jira",
        value_parser = clap::builder::PossibleValuesParser::new(upmsync_sim::Product::ALL.map(upmsync_sim::Product::key))
            .try_map(|key| upmsync_sim::Product::from_key(&key).ok_or("unknown product"))
    )]
    pub product: upmsync_sim::Product,
}

#[cfg(feature = "sim")]
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address of the simulated product (UPM under `<context-path>/rest/plugins/1.0/`)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2990")]
    pub listen: SocketAddr,

    /// Address of the simulated Marketplace
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2991")]
    pub marketplace_listen: SocketAddr,

    /// Context path of the simulated product [default: the product's usual one: `/jira`, `/wiki`,
    /// `/bitbucket`, `/bamboo`]
    #[arg(long, value_name = "PATH")]
    pub context_path: Option<String>,

    /// The product to simulate: its version endpoints, context path, version and build, and the
    /// Marketplace application its apps are compatible with, and the product's demo apps
    #[arg(
        long,
        value_name = "PRODUCT",
        default_value = "jira",
        value_parser = clap::builder::PossibleValuesParser::new(upmsync_sim::Product::ALL.map(upmsync_sim::Product::key))
            .try_map(|key| upmsync_sim::Product::from_key(&key).ok_or("unknown product"))
    )]
    pub product: upmsync_sim::Product,

    /// Product version and build number the simulated product reports, as VERSION:BUILD
    #[arg(long, value_name = "VERSION:BUILD", value_parser = parse_product_build)]
    pub product_build: Option<(String, u64)>,

    /// Refuse uploads as modern Data Center does by default (`upm.plugin.upload.enabled` off)
    #[arg(long)]
    pub upload_disabled: bool,

    /// Refuse unsigned uploads as UPM 8 does (app signature checking on)
    #[arg(long)]
    pub signature_check: bool,

    /// Start in UPM safe mode
    #[arg(long)]
    pub safe_mode: bool,

    /// Inject faults (errors, latency, dropped connections, failing or hanging install tasks, slow
    /// downloads) as described in this YAML file (see docs/simulator.md)
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,

    /// Demand a WebSudo (secure administrator) session: UPM answers 401 `upm.websudo.error` except
    /// for the upm-token HEAD and `/tasks`
    #[arg(long)]
    pub websudo: bool,

    /// Answer every request to the simulated product with this web page instead of its REST API: a
    /// login page, an SSO redirect, the setup wizard, the upgrade page or a proxy's maintenance page
    #[arg(
        long,
        value_name = "KIND",
        value_parser = clap::builder::PossibleValuesParser::new(WebPage::ALL.map(WebPage::name))
            .try_map(|name| name.parse::<WebPage>())
    )]
    pub web_page: Option<WebPage>,

    /// Put a reverse proxy in front of the simulated product that answers 413 to bodies over BYTES
    #[arg(long, value_name = "BYTES")]
    pub proxy_max_body: Option<u64>,

    /// Cut UPM off from the internet: installs by URI fail while downloading (uploads still work)
    #[arg(long)]
    pub no_outbound: bool,

    /// Answer the first N changes (POST, PUT, DELETE) to the simulated product with 429, as the products' rate
    /// limiting does
    #[arg(long, value_name = "N")]
    pub rate_limit_changes: Option<u32>,

    /// The `Retry-After` of the 429s of --rate-limit-changes, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 1)]
    pub rate_limit_retry_after: u64,

    /// Accept this personal access token (Bearer) for user `admin`; read from the environment so it
    /// does not show in the process list
    #[arg(
        long,
        env = "UPMSYNC_SIM_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,

    /// Run N product nodes behind one round-robin load balancer; upm-tokens are per node, so a
    /// client must keep the `ATL_AFFINITY` or `JSESSIONID` cookie the first answer sets
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_nodes)]
    pub nodes: usize,

    /// The product's configured base URL, when clients reach it by another host or path than the
    /// listen address (a proxy); UPM builds its `Location` headers and links from it
    #[arg(long, value_name = "URL", value_parser = parse_base_url)]
    pub base_url: Option<Box<url::Url>>,

    /// Make installs, upgrades and uninstalls of this app wait for a product restart (SIGHUP
    /// restarts); repeat for more apps
    #[arg(long = "requires-restart", value_name = "KEY")]
    pub requires_restart: Vec<String>,

    /// Make app APP need app DEP installed and enabled before it can be enabled; repeat for more
    #[arg(long = "requires", value_name = "APP=DEP", value_parser = parse_dependency)]
    pub requires: Vec<(String, String)>,

    /// Make this app fail to enable: it installs but stays disabled; repeat for more apps
    #[arg(long = "enable-fails", value_name = "KEY")]
    pub enable_fails: Vec<String>,

    /// Delay every answer (UPM, product endpoints, Marketplace, downloads) by MS milliseconds, like
    /// a network round trip; requests in flight together wait once, not once each
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency: u64,

    /// Make an install by URI spend at least MS milliseconds downloading before it installs (uploads
    /// have no download stage)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub download_delay: u64,
}

#[cfg(feature = "sim")]
/// `2` -> 2; at least one node.
fn parse_nodes(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(nodes) if nodes >= 1 => Ok(nodes),
        _ => Err(format!("`{text}` is not a number of nodes (1 or more)")),
    }
}

#[cfg(feature = "sim")]
/// `https://jira.example.com/jira` -> the URL (boxed: it is large and rarely given).
fn parse_base_url(text: &str) -> Result<Box<url::Url>, String> {
    match url::Url::parse(text.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(Box::new(url)),
        Ok(_) => Err(format!("`{text}` is not an http or https URL")),
        Err(error) => Err(format!("`{text}` is not a URL: {error}")),
    }
}

#[cfg(feature = "sim")]
/// `com.app=com.dep` -> (`com.app`, `com.dep`).
fn parse_dependency(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((app, needs)) if !app.trim().is_empty() && !needs.trim().is_empty() => {
            Ok((app.trim().to_string(), needs.trim().to_string()))
        }
        _ => Err("expected APP=DEP, e.g. com.example.app=com.example.library".to_string()),
    }
}

#[cfg(feature = "sim")]
/// `9.12.15:9120015` -> (`9.12.15`, 9120015).
fn parse_product_build(text: &str) -> Result<(String, u64), String> {
    let (version, build) = text
        .split_once(':')
        .ok_or_else(|| "expected VERSION:BUILD, e.g. 9.12.15:9120015".to_string())?;
    let build = build
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("`{build}` is not a build number"))?;
    Ok((version.trim().to_string(), build))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_cache_is_per_user_and_never_the_shared_temporary_folder() {
        let args = CacheArgs { cache_dir: None };
        if let Some(dir) = args.dir() {
            assert!(
                dir.is_absolute() && dir.ends_with("upmsync"),
                "{}",
                dir.display()
            );
            assert!(!dir.starts_with("/tmp"), "{}", dir.display());
        }
        let given = CacheArgs {
            cache_dir: Some(PathBuf::from("here")),
        };
        assert_eq!(given.dir(), Some(PathBuf::from("here")));
    }

    use super::*;

    #[test]
    fn http_settings_come_from_the_flags() {
        let cli = Cli::try_parse_from([
            "upmsync",
            "apply",
            "--retries",
            "0",
            "--retry-max-seconds",
            "5",
            "--task-timeout",
            "30",
            "--max-requests-per-host",
            "3",
        ])
        .unwrap();
        let settings = cli.http_settings();
        assert_eq!(settings.retry.attempts, 1, "no retry: one attempt");
        assert_eq!(settings.retry.max_total, Duration::from_secs(5));
        assert_eq!(settings.task_timeout, Duration::from_secs(30));
        assert_eq!(settings.limits.per_host(), 3);
        let defaults = Cli::try_parse_from(["upmsync", "plan"])
            .unwrap()
            .http_settings();
        assert_eq!(defaults.retry.attempts, 4);
        assert_eq!(defaults.task_timeout, crate::http::DEFAULT_TASK_TIMEOUT);
        assert_eq!(
            defaults.limits.per_host(),
            crate::http::limits::DEFAULT_MAX_REQUESTS_PER_HOST
        );
        assert!(Cli::try_parse_from(["upmsync", "plan", "--max-requests-per-host", "0"]).is_err());
    }

    /// The network flags only where upmsync talks to servers, `--task-timeout` only where tasks
    /// run; `-v`/`-q` everywhere, before or after the command.
    #[test]
    fn flags_appear_only_on_the_commands_they_affect() {
        let parses = |args: &[&str]| Cli::try_parse_from([&["upmsync"], args].concat()).is_ok();
        for command in ["plan", "apply", "drift", "lock", "outdated"] {
            assert!(parses(&[command, "--retries", "1"]), "{command}");
            assert!(parses(&[command, "--retry-max-seconds", "1"]), "{command}");
            assert!(
                parses(&[command, "--max-requests-per-host", "1"]),
                "{command}"
            );
            assert!(parses(&["-q", command, "-v"]), "{command}");
        }
        for command in ["validate", "completions bash", "man"] {
            let words: Vec<&str> = command.split(' ').collect();
            assert!(
                !parses(&[&words[..], &["--retries", "1"]].concat()),
                "{command}"
            );
            assert!(
                parses(&[&["-v"], &words[..], &["-q"]].concat()),
                "{command}"
            );
        }
        for command in ["plan", "drift", "lock", "outdated", "validate"] {
            assert!(!parses(&[command, "--task-timeout", "1"]), "{command}");
        }
        assert!(parses(&["apply", "--task-timeout", "1"]));
        // Before the command, as older versions took them: refused now.
        assert!(!parses(&["--retries", "5", "plan"]));
        let settings = Cli::try_parse_from(["upmsync", "drift", "--retries", "7"])
            .unwrap()
            .http_settings();
        assert_eq!(settings.retry.attempts, 8);
        assert_eq!(settings.task_timeout, crate::http::DEFAULT_TASK_TIMEOUT);
    }

    #[test]
    fn every_command_shows_an_example_in_its_help() {
        use clap::CommandFactory;
        for command in Cli::command().get_subcommands() {
            let help = command.get_after_help().map(ToString::to_string);
            assert!(
                help.is_some_and(|help| help.contains("upmsync ")),
                "`{}` has no example",
                command.get_name()
            );
        }
    }

    #[test]
    fn color_always_and_never_do_not_depend_on_the_terminal() {
        let always = Cli::try_parse_from(["upmsync", "plan", "--color", "always"]).unwrap();
        let terminal = always.terminal();
        assert!(terminal.color_stdout && terminal.color_stderr);
        let never = Cli::try_parse_from(["upmsync", "--color=never", "plan"]).unwrap();
        let terminal = never.terminal();
        assert!(!terminal.color_stdout && !terminal.color_stderr);
        assert!(Cli::try_parse_from(["upmsync", "--color", "sometimes", "plan"]).is_err());
        // auto: a terminal, unless NO_COLOR says otherwise.
        assert!(ColorChoice::Auto.colors(true, false));
        assert!(!ColorChoice::Auto.colors(true, true));
        assert!(!ColorChoice::Auto.colors(false, false));
        assert!(ColorChoice::Always.colors(false, true));
        assert!(!ColorChoice::Never.colors(true, false));
    }
}
