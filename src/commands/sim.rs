//! `upmsync sim`: runs the UPM + Marketplace simulator until Ctrl-C.

use super::{data, report_error_text, status, Exit};
use crate::cli::SimArgs;
use crate::sim::{FaultPlan, Sim, SimConfig};

pub async fn run(args: &SimArgs) -> Exit {
    let mut config = SimConfig::jira_demo().context_path(&args.context_path);
    if let Some(path) = &args.faults {
        match FaultPlan::load(path) {
            Ok(plan) => config = config.faults(plan),
            Err(error) => {
                report_error_text(&format!("{error:#}"));
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
    let sim = match Sim::start(config, args.listen, args.marketplace_listen).await {
        Ok(sim) => sim,
        Err(error) => {
            report_error_text(&format!(
                "failed to start the simulator on {} and {}: {error:#}\nhint: is another process using these ports? choose others with --listen and --marketplace-listen",
                args.listen, args.marketplace_listen
            ));
            return Exit::Failure;
        }
    };
    sim.set_upload_enabled(!args.upload_disabled);
    sim.set_signature_check(args.signature_check);
    sim.set_safe_mode(args.safe_mode);
    data(&format!(
        "UPM (Jira): {}\nMarketplace: {}\n",
        sim.upm_url(),
        sim.marketplace_url()
    ));
    status("Simulated Jira with apps; user `admin`, password `admin`. Press Ctrl-C to stop.");
    if let Err(error) = tokio::signal::ctrl_c().await {
        report_error_text(&format!("failed to wait for Ctrl-C: {error}"));
    }
    sim.shutdown().await;
    status("Simulator stopped.");
    Exit::Success
}
