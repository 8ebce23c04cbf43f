//! The `upmsync` binary: parse arguments, run the command, turn its outcome into an exit code.
//! This is the only place that decides an exit code.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use upmsync::cli::{Cli, Command};
use upmsync::commands::{self, Exit};
use upmsync::http::HttpSettings;

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
    init_tracing(cli.verbose);
    let settings = cli.http_settings();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            commands::report_error_text(&format!("failed to start the async runtime: {error}"));
            return ExitCode::from(1);
        }
    };
    let exit = runtime.block_on(run(cli.command, &settings));
    // The command is over and has awaited every write it relies on; what may still run is a
    // question left on the terminal after a signal cancelled it, which must not keep the process.
    runtime.shutdown_background();
    ExitCode::from(exit.code())
}

/// Ctrl-C and SIGTERM stop a reading command where it waits, so it leaves no temporary file;
/// `apply` handles them itself (it finishes the change under way), and `sim` stops on them as its
/// way to end.
async fn run(command: Command, settings: &HttpSettings) -> Exit {
    use commands::interrupt::unless_interrupted;
    match command {
        Command::Validate(args) => commands::validate::run(&args),
        Command::Plan(args) => unless_interrupted(commands::plan::run(&args, settings)).await,
        Command::Apply(args) => commands::apply::run(&args, settings).await,
        Command::Drift(args) => unless_interrupted(commands::drift::run(&args, settings)).await,
        Command::Lock(args) => unless_interrupted(commands::lock::run(&args, settings)).await,
        Command::Outdated(args) => {
            unless_interrupted(commands::outdated::run(&args, settings)).await
        }
        #[cfg(feature = "sim")]
        Command::Sim(args) => commands::sim::run(&args).await,
        #[cfg(feature = "sim")]
        // The demo changes only its own simulator: stopped anywhere, its temporary folder goes.
        Command::Demo => unless_interrupted(commands::demo::run(settings)).await,
    }
}

/// Diagnostics go to stderr. `-v` levels apply to upmsync only; `RUST_LOG` overrides.
#[expect(
    clippy::disallowed_methods,
    reason = "`-v` diagnostics (tracing) write to stderr themselves; output goes through the printer"
)]
fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
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
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(filter)
        .with_filter(no_cookies);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
