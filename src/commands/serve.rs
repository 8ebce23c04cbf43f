//! `upmsync serve`: checks drift on a schedule and serves the last check's metrics on `/metrics`
//! and the process's liveness on `/healthz`, until SIGTERM or Ctrl-C. Read-only: a check sends
//! exactly the GETs `drift` sends and never applies anything.
//!
//! The manifest (and the secrets it names in the environment) is read once, at start: a changed
//! manifest takes effect when the service restarts, so a half-edited file never silences the
//! metrics. The first check starts at once; the next starts an interval after the previous one
//! started, or as soon as it ends when it took longer: checks never overlap.

use std::future::IntoFuture as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::{load, read_drift_timed, Exit};
use crate::cli::ServeArgs;
use crate::http::HttpSettings;
use crate::metrics::{self, Check};
use crate::model::Desired;
use crate::printer::Printer;

/// Why `serve` could not start or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("failed to listen on `{address}`")]
    Bind {
        /// The address asked for.
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The web server failed while serving.
    #[error("the metrics server stopped")]
    Serve(#[source] std::io::Error),
}

impl ServeError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ServeError::Bind { .. } => Some(
                "is another process using this port? choose another with --listen (port 0 picks a free one)"
                    .to_string(),
            ),
            ServeError::Serve(_) => None,
        }
    }
}

/// What the web server shows, shared with the check loop.
struct Shared {
    /// The last check's metrics, in the text format.
    metrics: RwLock<String>,
    /// Checks finished so far.
    checks: AtomicU64,
}

/// `upmsync serve`: exit 0 when stopped by a signal, 1 when it cannot start or serve.
///
/// # Errors
///
/// A manifest that cannot be loaded, an address that cannot be bound ([`ServeError`]), for `main`
/// to print.
pub async fn run(
    args: &ServeArgs,
    printer: &Printer,
    settings: &HttpSettings,
) -> anyhow::Result<Exit> {
    let desired = load(&args.manifest.file, true, &args.selection.instances)?;
    // Watched before anything starts, so a signal from now on stops the service cleanly.
    let interrupts = crate::interrupt::watch(printer);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| ServeError::Bind {
            address: args.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| ServeError::Bind {
        address: args.listen,
        source,
    })?;
    // No check has finished yet: `upmsync_checks_total 0`, no instance's series.
    let empty = Check::new(&desired, Default::default(), Vec::new());
    let shared = Arc::new(Shared {
        metrics: RwLock::new(metrics::render(&empty, Some(0))?),
        checks: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/healthz", get(serve_health))
        .with_state(Arc::clone(&shared));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let mut stopped = stopped;
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .into_future(),
    );
    // Kept by `--quiet`: with `--listen ADDR:0` this is the only way to find the port.
    printer.always(&format!(
        "Serving metrics on http://{address}/metrics and health on http://{address}/healthz; checking {} instance(s) every {} (read-only). Stop with Ctrl-C or SIGTERM.",
        desired.instances.len(),
        humantime::format_duration(args.interval),
    ));
    let mut server = server;
    // The loop runs in this task: a check's reads are not `Send` across a spawn, and a loop that
    // failed would end the process rather than leave a server that only seems healthy.
    let outcome = tokio::select! {
        signal = interrupts.wait() => {
            printer.status(&format!("Stopping ({}).", signal.name()));
            Ok(())
        }
        ended = &mut server => Err(match ended {
            Ok(Ok(())) => ServeError::Serve(std::io::Error::other("it ended by itself")),
            Ok(Err(error)) => ServeError::Serve(error),
            Err(error) => ServeError::Serve(std::io::Error::other(error)),
        }),
        () = check_loop(&desired, args.interval, &shared, printer, settings) => Ok(()),
    };
    // A check under way only reads: it is dropped where it waits.
    let _ = stop.send(true);
    outcome?;
    // Requests under way are answered, then the server ends.
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(ServeError::Serve(error).into()),
        Err(error) => return Err(ServeError::Serve(std::io::Error::other(error)).into()),
    }
    printer.status("Stopped.");
    Ok(Exit::Success)
}

/// Checks `desired` every `interval` (the first at once), one check at a time, and publishes each
/// check's metrics in `shared`.
async fn check_loop(
    desired: &Desired,
    interval: Duration,
    shared: &Shared,
    printer: &Printer,
    settings: &HttpSettings,
) {
    let mut ticks = tokio::time::interval(interval);
    // A check longer than the interval delays the next one; missed ticks are not made up in a
    // burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (drift, durations) = read_drift_timed(desired, settings).await;
        let check = Check::new(desired, drift, durations);
        let done = shared.checks.load(Ordering::SeqCst) + 1;
        report(printer, &check, done);
        match metrics::render(&check, Some(done)) {
            Ok(text) => {
                *shared
                    .metrics
                    .write()
                    .unwrap_or_else(|poison| poison.into_inner()) = text;
                shared.checks.store(done, Ordering::SeqCst);
            }
            Err(error) => printer.error(&error),
        }
    }
}

/// One status line per check, and a warning per instance that could not be checked (with why):
/// the service keeps running, the instance needs attention.
fn report(printer: &Printer, check: &Check, number: u64) {
    let (mut in_sync, mut drifted, mut failed) = (0, 0, 0);
    for instance in &check.drift.instances {
        match &instance.result {
            Ok(plan) if plan.in_sync() => in_sync += 1,
            Ok(_) => drifted += 1,
            Err(error) => {
                failed += 1;
                let text = crate::error::error_text(&**error);
                printer.warn(&if error.names_instance() {
                    text
                } else {
                    format!("instance `{}`: {text}", instance.name)
                });
            }
        }
    }
    printer.status(&format!(
        "Check {number}: {in_sync} in sync, {drifted} drifted, {failed} could not be checked."
    ));
}

/// `GET /metrics`: the last check's metrics, text format 0.0.4.
async fn serve_metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let text = shared
        .metrics
        .read()
        .unwrap_or_else(|poison| poison.into_inner())
        .clone();
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text)
}

/// `GET /healthz`: 200 while the process serves, which is while its check loop runs (they run in
/// one process; a loop that failed would end it). It says the process is healthy, not the
/// instances: their state is in `/metrics`.
async fn serve_health(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let checks = shared.checks.load(Ordering::SeqCst);
    (
        StatusCode::OK,
        format!("ok: checking; {checks} check(s) finished\n"),
    )
}
