//! `upmsync sim`: runs the UPM + Marketplace simulator until Ctrl-C.

use std::time::Duration;

use super::Exit;
use crate::cli::SimArgs;
use crate::printer::Printer;
use upmsync_sim::{FaultPlan, Product, Sim, SimConfig};

/// `upmsync sim`: serves until Ctrl-C.
pub async fn run(args: &SimArgs, printer: &Printer) -> Exit {
    // Only Jira has demo apps; the other products start with UPM alone.
    let mut config = match args.product {
        Product::Jira => SimConfig::jira_demo(),
        other => SimConfig::empty().product(other),
    };
    if let Some(path) = &args.context_path {
        config = config.context_path(path);
    }
    if let Some(path) = &args.faults {
        match FaultPlan::load(path) {
            Ok(plan) => config = config.faults(plan),
            Err(error) => {
                printer.error_text(&format!("{error:#}"));
                return Exit::Failure;
            }
        }
    }
    if let Some((version, build)) = &args.product_build {
        config = config.product_build(version, *build);
    }
    if let Some(token) = &args.token {
        config = config.personal_access_token(token, "admin");
    }
    config = config.websudo(args.websudo).no_outbound(args.no_outbound);
    if let Some(page) = args.web_page {
        config = config.web_page(page);
    }
    if let Some(bytes) = args.proxy_max_body {
        config = config.proxy_max_body(bytes);
    }
    if let Some(first) = args.rate_limit_changes {
        config = config.rate_limit_changes(first, args.rate_limit_retry_after);
    }
    config = config.nodes(args.nodes);
    if let Some(url) = &args.base_url {
        config = config.base_url(url.as_ref().clone());
    }
    for key in &args.requires_restart {
        config = config.requires_restart(key);
    }
    for (app, needs) in &args.requires {
        config = config.dependency(app, needs);
    }
    for key in &args.enable_fails {
        config = config.enable_fails(key);
    }
    config = config
        .latency(Duration::from_millis(args.latency))
        .download_delay(Duration::from_millis(args.download_delay));
    let sim = match Sim::start(config, args.listen, args.marketplace_listen).await {
        Ok(sim) => sim,
        Err(error) => {
            printer.error_with_hint(
                &format!(
                    "failed to start the simulator on {} and {}: {error:#}",
                    args.listen, args.marketplace_listen
                ),
                "is another process using these ports? choose others with --listen and --marketplace-listen",
            );
            return Exit::Failure;
        }
    };
    sim.set_upload_enabled(!args.upload_disabled);
    sim.set_signature_check(args.signature_check);
    sim.set_safe_mode(args.safe_mode);
    let product = args.product.name();
    printer.data_or_report(&format!(
        "UPM ({product}): {}\nMarketplace: {}\n",
        sim.upm_url(),
        sim.marketplace_url()
    ));
    if sim.base_url() != sim.upm_url() {
        printer.status(&format!("Configured base URL: {}", sim.base_url()));
    }
    // The API token is not printed: docs/simulator.md documents the default one.
    printer.status(&format!(
        "Marketplace publisher: `{}` (API token: see docs/simulator.md).",
        sim.publisher_email()
    ));
    if sim.nodes() > 1 {
        printer.status(&format!(
            "{} nodes behind a round-robin load balancer (affinity cookies `ATL_AFFINITY`, `JSESSIONID`).",
            sim.nodes()
        ));
    }
    let seeded = if args.product == Product::Jira {
        "with apps"
    } else {
        "with only UPM installed"
    };
    printer.status(&format!(
        "Simulated {product} {seeded}; user `admin`, password `admin`. Press Ctrl-C to stop."
    ));
    wait_for_stop(&sim, printer).await;
    sim.shutdown().await;
    printer.status("Simulator stopped.");
    Exit::Success
}

/// Waits for Ctrl-C; on Unix, each SIGHUP restarts the simulated product meanwhile.
async fn wait_for_stop(sim: &Sim, printer: &Printer) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut hangup) = signal(SignalKind::hangup()) {
            loop {
                tokio::select! {
                    stopped = tokio::signal::ctrl_c() => {
                        if let Err(error) = stopped {
                            printer.error_text(&format!("failed to wait for Ctrl-C: {error}"));
                        }
                        return;
                    }
                    _ = hangup.recv() => {
                        sim.restart();
                        printer.status("Product restarted: pending changes applied, tasks and upm-tokens cleared.");
                    }
                }
            }
        }
    }
    if let Err(error) = tokio::signal::ctrl_c().await {
        printer.error_text(&format!("failed to wait for Ctrl-C: {error}"));
    }
}
