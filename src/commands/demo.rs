//! `upmsync demo`: the whole tool in one command. Starts the simulator in-process, writes the
//! example manifest (and the in-house jar it uploads) to a temporary folder, and runs validate,
//! plan, apply and drift on it.

use crate::http::HttpSettings;
use std::path::{Path, PathBuf};

use super::{apply, drift, plan, read_drift, Exit};
use crate::execute::Mode;
use crate::manifest::{self, LoadOptions};
use crate::marketplace::download::Cache;
use crate::model::Desired;
use crate::printer::Printer;
use crate::render::Format;
use upmsync_sim::{jar, Sim, SimConfig};

/// The example manifest, as shipped at the repository root.
const EXAMPLE: &str = include_str!("../../apps.yaml.example");
/// Where the example expects the in-house app's jar, relative to the manifest.
const INHOUSE_JAR: &str = "examples/artifacts/inhouse-2.0.0.jar";

/// `upmsync demo`.
pub async fn run(printer: &Printer, settings: &HttpSettings) -> Exit {
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let sim = match Sim::start(SimConfig::jira_demo(), local, local).await {
        Ok(sim) => sim,
        Err(error) => {
            printer.error_text(&format!("failed to start the simulator: {error:#}"));
            return Exit::Failure;
        }
    };
    // A fresh, private folder (not a predictable name in /tmp), removed when dropped.
    let exit = match tempfile::Builder::new().prefix("upmsync-demo-").tempdir() {
        Ok(folder) => match (
            write_example(folder.path()),
            Cache::new(folder.path().join("cache"), settings),
        ) {
            (Ok(manifest_path), Ok(cache)) => {
                run_steps(&sim, &manifest_path, &cache, printer, settings).await
            }
            (Err(error), _) => {
                printer.error_text(&format!(
                    "failed to write the demo files to `{}`: {error}",
                    folder.path().display()
                ));
                Exit::Failure
            }
            (_, Err(error)) => {
                printer.error_text(&format!(
                    "failed to create the demo's download cache: {}",
                    crate::error::error_text(&error)
                ));
                Exit::Failure
            }
        },
        Err(error) => {
            printer.error_text(&format!(
                "failed to create a temporary folder for the demo: {error}"
            ));
            Exit::Failure
        }
    };
    sim.shutdown().await;
    exit
}

fn write_example(folder: &Path) -> std::io::Result<PathBuf> {
    let jar_path = folder.join(INHOUSE_JAR);
    if let Some(parent) = jar_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(
        &jar_path,
        jar::build_plugin_jar("com.example.inhouse", "In-house Tools", "2.0.0", false),
    )?;
    let manifest_path = folder.join("apps.yaml.example");
    std::fs::write(&manifest_path, EXAMPLE)?;
    Ok(manifest_path)
}

/// The secrets the example names, as the demo's own environment: the process environment is not
/// touched, and none of these is ever printed.
fn demo_env(name: &str) -> Option<String> {
    match name {
        "JIRA_ADMIN_USER" => Some("admin".into()),
        "JIRA_ADMIN_PASSWORD" => Some("admin".into()),
        "SCRIPTRUNNER_LICENSE" => Some("AAABdemoScriptRunnerLicenseForTheSimulator==".into()),
        _ => None,
    }
}

async fn run_steps(
    sim: &Sim,
    manifest_path: &Path,
    cache: &Cache,
    printer: &Printer,
    settings: &HttpSettings,
) -> Exit {
    printer.status(&format!(
        "upmsync demo: a simulated Jira at {} and Marketplace at {}\n",
        sim.upm_url(),
        sim.marketplace_url()
    ));
    step(printer, "upmsync validate -f apps.yaml.example");
    let mut desired =
        match manifest::load_with_env(manifest_path, &LoadOptions::default(), &demo_env) {
            Ok(desired) => desired,
            Err(error) => {
                printer.error(&error);
                return Exit::Failure;
            }
        };
    point_at(&mut desired, sim);
    printer.status(&crate::render::validate_summary(&desired));

    step(printer, "upmsync plan -f apps.yaml.example");
    if plan::plan_desired(&desired, Format::Text, false, None, printer, settings).await
        != Exit::Success
    {
        return Exit::Failure;
    }

    step(
        printer,
        "upmsync apply -f apps.yaml.example --dry-run   (no POST, PUT or DELETE)",
    );
    if apply::apply_desired(
        &desired,
        &apply::ApplyOptions::approved(Mode::DryRun),
        cache,
        printer,
        settings,
    )
    .await
        != Exit::Success
    {
        return Exit::Failure;
    }

    step(printer, "upmsync apply -f apps.yaml.example --auto-approve");
    if apply::apply_desired(
        &desired,
        &apply::ApplyOptions::approved(Mode::Apply),
        cache,
        printer,
        settings,
    )
    .await
        != Exit::Success
    {
        return Exit::Failure;
    }

    step(
        printer,
        "upmsync drift -f apps.yaml.example   (exit 0 in sync, 2 drift)",
    );
    let drift_exit = drift::drift_desired(&desired, Format::Text, printer, settings).await;
    printer.status(&format!(
        "drift exit code: {} ({})",
        drift_exit.code(),
        match drift_exit {
            Exit::Success => "in sync",
            Exit::Changes => "drift: here, the sandbox app the manifest does not name",
            Exit::Failure => "error",
        }
    ));

    // The demo succeeded when apply left nothing to change; the example reports one app it does
    // not manage (`unmanaged: report`), which drift rightly counts.
    let after = read_drift(&desired, settings).await;
    if after.has_errors() || after.has_changes() {
        printer.error_text("the instance does not match the manifest after apply");
        return Exit::Failure;
    }
    printer.status("\nDemo finished: every app apps.yaml.example names is now as it says. Drift still reports\n`com.example.sandbox`, installed but not in the manifest, because the example says `unmanaged: report`;\nwith `unmanaged: uninstall` apply would remove it, with `ignore` drift would not mention it.");
    Exit::Success
}

fn step(printer: &Printer, title: &str) {
    printer.status(&format!("\n==> {title}"));
}

/// Points the example at the simulator's ephemeral ports.
fn point_at(desired: &mut Desired, sim: &Sim) {
    desired.marketplace_url = sim.marketplace_url();
    for instance in &mut desired.instances {
        instance.url = sim.upm_url();
    }
}
