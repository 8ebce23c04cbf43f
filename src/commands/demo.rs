//! `upmsync demo`: the whole tool in one command. Starts the simulator in-process as the chosen
//! product (`--product`, default Jira) with that product's demo seed, writes the product's
//! example manifest (and the in-house jar it uploads) to a temporary folder, and runs validate,
//! plan, apply and drift on it.

use crate::http::HttpSettings;
use std::path::{Path, PathBuf};

use super::{apply, drift, plan, read_drift, Exit};
use crate::cli::DemoArgs;
use crate::execute::Mode;
use crate::manifest::{self, LoadOptions};
use crate::marketplace::download::Cache;
use crate::model::Desired;
use crate::printer::Printer;
use crate::render::Format;
use upmsync_sim::{jar, Product, Sim, SimConfig};

/// Where every example expects the in-house app's jar, relative to the repository root (and to
/// the demo's folder).
const INHOUSE_JAR: &str = "examples/artifacts/inhouse-2.0.0.jar";

/// A product's example manifest, as shipped in the repository, and the secrets it names.
struct Example {
    /// The manifest's path relative to the repository root; the demo writes it at the same path
    /// in its folder, so the manifest's relative `source.path` finds the jar.
    path: &'static str,
    /// The manifest's text.
    text: &'static str,
    /// The variables the manifest reads its credentials and license from, with the demo's values.
    secrets: &'static [(&'static str, &'static str)],
}

/// The example the demo runs for `product`.
fn example(product: Product) -> Example {
    match product {
        Product::Jira => Example {
            path: "apps.yaml.example",
            text: include_str!("../../apps.yaml.example"),
            secrets: &[
                ("JIRA_ADMIN_USER", "admin"),
                ("JIRA_ADMIN_PASSWORD", "admin"),
                (
                    "SCRIPTRUNNER_LICENSE",
                    "AAABdemoScriptRunnerLicenseForTheSimulator==",
                ),
            ],
        },
        Product::Confluence => Example {
            path: "examples/confluence/apps.yaml",
            text: include_str!("../../examples/confluence/apps.yaml"),
            secrets: &[
                ("CONFLUENCE_ADMIN_USER", "admin"),
                ("CONFLUENCE_ADMIN_PASSWORD", "admin"),
                ("DRAWIO_LICENSE", "AAABdemoDrawioLicenseForTheSimulator=="),
            ],
        },
        Product::Bitbucket => Example {
            path: "examples/bitbucket/apps.yaml",
            text: include_str!("../../examples/bitbucket/apps.yaml"),
            secrets: &[
                ("BITBUCKET_ADMIN_USER", "admin"),
                ("BITBUCKET_ADMIN_PASSWORD", "admin"),
                (
                    "SCRIPTRUNNER_LICENSE",
                    "AAABdemoScriptRunnerBitbucketLicenseForTheSimulator==",
                ),
            ],
        },
        Product::Bamboo => Example {
            path: "examples/bamboo/apps.yaml",
            text: include_str!("../../examples/bamboo/apps.yaml"),
            secrets: &[
                ("BAMBOO_ADMIN_USER", "admin"),
                ("BAMBOO_ADMIN_PASSWORD", "admin"),
                (
                    "TASKS_FOR_AWS_LICENSE",
                    "AAABdemoTasksForAwsLicenseForTheSimulator==",
                ),
            ],
        },
    }
}

/// `upmsync demo [--product PRODUCT]`.
pub async fn run(args: &DemoArgs, printer: &Printer, settings: &HttpSettings) -> Exit {
    let example = example(args.product);
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let sim = match Sim::start(SimConfig::demo(args.product), local, local).await {
        Ok(sim) => sim,
        Err(error) => {
            printer.error_text(&format!("failed to start the simulator: {error:#}"));
            return Exit::Failure;
        }
    };
    // A fresh, private folder (not a predictable name in /tmp), removed when dropped.
    let exit = match tempfile::Builder::new().prefix("upmsync-demo-").tempdir() {
        Ok(folder) => match (
            write_example(folder.path(), &example),
            Cache::new(folder.path().join("cache"), settings),
        ) {
            (Ok(manifest_path), Ok(cache)) => {
                let steps = Steps {
                    sim: &sim,
                    product: args.product,
                    example: &example,
                    manifest_path: &manifest_path,
                };
                steps.run(&cache, printer, settings).await
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

fn write_example(folder: &Path, example: &Example) -> std::io::Result<PathBuf> {
    let jar_path = folder.join(INHOUSE_JAR);
    if let Some(parent) = jar_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(
        &jar_path,
        jar::build_plugin_jar("com.example.inhouse", "In-house Tools", "2.0.0", false),
    )?;
    let manifest_path = folder.join(example.path);
    if let Some(parent) = manifest_path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&manifest_path, example.text)?;
    Ok(manifest_path)
}

/// One demo run: the simulator, the product it plays and the example written for it.
struct Steps<'a> {
    sim: &'a Sim,
    product: Product,
    example: &'a Example,
    manifest_path: &'a Path,
}

impl Steps<'_> {
    /// The secrets the example names, as the demo's own environment: the process environment is
    /// not touched, and none of these is ever printed.
    fn env(&self, name: &str) -> Option<String> {
        self.example
            .secrets
            .iter()
            .find(|(variable, _)| *variable == name)
            .map(|(_, value)| (*value).to_string())
    }

    async fn run(&self, cache: &Cache, printer: &Printer, settings: &HttpSettings) -> Exit {
        let sim = self.sim;
        let file = self.example.path;
        printer.status(&format!(
            "upmsync demo: a simulated {} at {} and Marketplace at {}\n",
            self.product.name(),
            sim.upm_url(),
            sim.marketplace_url()
        ));
        step(printer, &format!("upmsync validate -f {file}"));
        let env = |name: &str| self.env(name);
        let mut desired =
            match manifest::load_with_env(self.manifest_path, &LoadOptions::default(), &env) {
                Ok(desired) => desired,
                Err(error) => {
                    printer.error(&error);
                    return Exit::Failure;
                }
            };
        point_at(&mut desired, sim);
        printer.status(&crate::render::validate_summary(&desired));

        step(printer, &format!("upmsync plan -f {file}"));
        if plan::plan_desired(&desired, Format::Text, false, None, printer, settings).await
            != Exit::Success
        {
            return Exit::Failure;
        }

        step(
            printer,
            &format!("upmsync apply -f {file} --dry-run   (no POST, PUT or DELETE)"),
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

        step(printer, &format!("upmsync apply -f {file} --auto-approve"));
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
            &format!("upmsync drift -f {file}   (exit 0 in sync, 2 drift)"),
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
        printer.status(&format!("\nDemo finished: every app {file} names is now as it says. Drift still reports\n`com.example.sandbox`, installed but not in the manifest, because the example says `unmanaged: report`;\nwith `unmanaged: uninstall` apply would remove it, with `ignore` drift would not mention it."));
        Exit::Success
    }
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
