//! The `upmsync` binary: parse arguments, run the command, turn its outcome into an exit code.
//! This is the only place that decides an exit code.

use std::process::ExitCode;

use clap::Parser;
use std::sync::Arc;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use upmsync::cli::{Cli, Command};
use upmsync::commands::{self, Exit};
use upmsync::http::HttpSettings;
use upmsync::notice::Notices;
use upmsync::printer::Printer;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            // Usage errors exit 1, never 2: 2 means drift or changes.
            return if error.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let terminal = cli.terminal();
    init_tracing(cli.verbose, terminal.color_stderr, is_server(&cli.command));
    raise_open_files_limit();
    let printer = Printer::stdio_on(cli.quiet, terminal);
    let mut settings = cli.http_settings();
    // Warnings a user must read (retries, lost answers, ...) reach the printer as they happen.
    settings.notices = Notices::to(Arc::new(printer.clone()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            printer.error(&RuntimeError(error));
            return ExitCode::from(Exit::Failure.code());
        }
    };
    let exit = match runtime.block_on(run(cli.command, &printer, &settings)) {
        Ok(exit) => exit,
        // The one place an escaping error is printed: its message, each cause once, its hints.
        Err(error) => {
            printer.error(error.as_ref());
            Exit::Failure
        }
    };
    // The command is over and has awaited every write it relies on; what may still run is a
    // question left on the terminal after a signal cancelled it, which must not keep the process.
    runtime.shutdown_background();
    ExitCode::from(exit.code())
}

/// Ctrl-C and SIGTERM stop a reading command where it waits, so it leaves no temporary file;
/// `apply` handles them itself (it finishes the change under way), and `sim` stops on them as its
/// way to end.
async fn run(command: Command, printer: &Printer, settings: &HttpSettings) -> anyhow::Result<Exit> {
    use commands::unless_interrupted;
    let p = printer;
    match command {
        Command::Validate(args) => commands::validate::run(&args, p),
        Command::Completions(args) => Ok(commands::completions::run(&args, p)),
        Command::Man => Ok(commands::man::run(p)),
        Command::Plan(args) => unless_interrupted(p, commands::plan::run(&args, p, settings)).await,
        Command::Apply(args) => commands::apply::run(&args, p, settings).await,
        Command::Drift(args) => {
            unless_interrupted(p, commands::drift::run(&args, p, settings)).await
        }
        Command::Lock(args) => unless_interrupted(p, commands::lock::run(&args, p, settings)).await,
        Command::Outdated(args) => {
            unless_interrupted(p, commands::outdated::run(&args, p, settings)).await
        }
        Command::Import(args) => {
            unless_interrupted(p, commands::import::run(&args, p, settings)).await
        }
        Command::Show(args) => commands::show::run(&args, p),
        // A publish is not stopped mid-way by a signal: the upload or create under way would be
        // cut with its outcome unknown; Ctrl-C ends the process as usual.
        Command::Publish(args) => commands::publish::run(&args, p, settings).await,
        // `serve` stops on a signal as its way to end (and answers the requests under way).
        Command::Serve(args) => commands::serve::run(&args, p, settings).await,
        #[cfg(feature = "sim")]
        Command::Sim(args) => Ok(commands::sim::run(&args, p).await),
        #[cfg(feature = "sim")]
        // The demo changes only its own simulator: stopped anywhere, its temporary folder goes.
        Command::Demo(args) => {
            unless_interrupted(p, async {
                Ok(commands::demo::run(&args, p, settings).await)
            })
            .await
        }
    }
}

/// The async runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("failed to start the async runtime")]
struct RuntimeError(#[source] std::io::Error);

/// Raises the soft limit on open files toward the hard one, as the Go runtime does for every
/// program: a fleet run holds a socket per request in flight (up to
/// `http::limits::MAX_REQUESTS_IN_FLIGHT`), idle connections of the instances being read, and
/// `apply` a lock file per instance for the whole run: more than Linux's usual soft limit of 1,024
/// for fleets of hundreds of instances (issue 10). At most 1,048,576; where the system refuses
/// (macOS caps it below an unlimited hard limit), 65,536, then 10,240; a limit that cannot be
/// raised is left as it is (a debug line), and what then cannot be opened says so where it fails.
fn raise_open_files_limit() {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let limit = getrlimit(Resource::Nofile);
        let room = |wanted: u64| limit.maximum.map_or(wanted, |maximum| wanted.min(maximum));
        for wanted in [1 << 20, 65_536, 10_240].map(room) {
            // `None`: unlimited already.
            if limit.current.is_none_or(|current| current >= wanted) {
                return;
            }
            let raised = Rlimit {
                current: Some(wanted),
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => {
                    tracing::debug!(wanted, "raised the open-files limit");
                    return;
                }
                Err(error) => {
                    tracing::debug!(%error, wanted, "the open-files limit was not raised")
                }
            }
        }
    }
}

/// Whether the command is a server whose log is its output (`sim`): its warnings show without
/// `-v`.
fn is_server(command: &Command) -> bool {
    #[cfg(feature = "sim")]
    if matches!(command, Command::Sim(_)) {
        return true;
    }
    let _ = command;
    false
}

/// Diagnostics (`tracing`) for `-v`/`RUST_LOG` only: without them nothing is logged (what a user
/// must read comes as `warning:` lines through the printer, `crate::notice`), except the
/// warnings of a server command (`sim`). Coloured as stderr is (`--color`, `NO_COLOR`).
#[expect(
    clippy::disallowed_methods,
    reason = "`-v` diagnostics (tracing) write to stderr themselves; output goes through the printer"
)]
fn init_tracing(verbose: u8, color: bool, server: bool) {
    let default = match verbose {
        0 if server => "warn",
        0 => "off",
        1 => "warn,upmsync=info",
        2 => "warn,upmsync=debug",
        _ => "warn,upmsync=trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // The cookie jar logs every cookie it stores, session cookies included: those are secrets,
    // so its events are dropped whatever `RUST_LOG` says.
    let no_cookies = tracing_subscriber::filter::filter_fn(|metadata| {
        !metadata.target().starts_with("cookie_store")
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .with_filter(filter)
        .with_filter(no_cookies);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
