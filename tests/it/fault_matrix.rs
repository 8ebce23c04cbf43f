//! The fault matrix (issue 4): a plan with an upgrade, a downgrade, a license change, a disable and
//! an uninstall, applied once under each simulator fault at each step, then planned and applied
//! again without faults. After the faulted run no app the manifest wants present is missing, the
//! report tells the truth, no secret is printed, and the second apply converges.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::support::*;
use upmsync::commands::read_and_plan;
use upmsync::execute::{execute, ApplyReport};
use upmsync::http::HttpSettings;
use upmsync::marketplace::download::Cache;
use upmsync::model::{Credentials, Desired, Secret};
use upmsync::plan::{Action, InstancePlan};
use upmsync::retry::RetryPolicy;
use upmsync::upm::UpmClient;
use upmsync_sim::{
    Fault, FaultPlan, FaultRule, SeedPlugin, Sim, SimConfig, SimPluginState, SimServer,
};

const MATRIX_PASSWORD: &str = "Matrix-Passw0rd-7f3c91";
const NEW_LICENSE: &str = "MATRIX-NEW-LICENSE-9b1e2d";
const OLD_LICENSE: &str = "ALPHA-OLD-LICENSE";

fn options() -> HttpSettings {
    HttpSettings {
        retry: RetryPolicy {
            attempts: 3,
            max_total: Duration::from_secs(5),
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        task_timeout: Duration::from_secs(1),
        ..HttpSettings::default()
    }
}

/// When the fault plan is put in force.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// Before planning: planning and execution both see it.
    BeforePlan,
    /// After planning: only execution sees it.
    BeforeApply,
}

/// A request the fault is aimed at: the `nth` (0-based) request matching method and path.
#[derive(Clone, Copy, Debug)]
struct Step {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    nth: u32,
}

const STEPS: &[Step] = &[
    Step {
        name: "plugin-list GET",
        method: "GET",
        path: "/rest/plugins/1.0/$",
        nth: 0,
    },
    Step {
        name: "license GET",
        method: "GET",
        path: "/license$",
        nth: 0,
    },
    Step {
        name: "plugin GET (read-back)",
        method: "GET",
        path: "-key$",
        nth: 0,
    },
    Step {
        name: "token HEAD",
        method: "HEAD",
        path: "/rest/plugins/1.0/$",
        nth: 0,
    },
    Step {
        name: "install POST (upgrade)",
        method: "POST",
        path: "/rest/plugins/1.0/$",
        nth: 0,
    },
    Step {
        name: "install POST (downgrade)",
        method: "POST",
        path: "/rest/plugins/1.0/$",
        nth: 1,
    },
    Step {
        name: "pending-task GET",
        method: "GET",
        path: "/pending/",
        nth: 0,
    },
    Step {
        name: "DELETE (uninstall)",
        method: "DELETE",
        path: "-key$",
        nth: 0,
    },
    Step {
        name: "DELETE (downgrade)",
        method: "DELETE",
        path: "-key$",
        nth: 1,
    },
    Step {
        name: "PUT enable",
        method: "PUT",
        path: "-key$",
        nth: 0,
    },
    Step {
        name: "PUT license",
        method: "PUT",
        path: "/license$",
        nth: 0,
    },
];

fn faults() -> Vec<Fault> {
    let status = |status, retry_after| Fault::Status {
        status,
        retry_after,
    };
    vec![
        status(500, None),
        status(502, None),
        status(503, None),
        status(429, Some(1)),
        Fault::Drop,
        Fault::DropAfter,
        Fault::TaskFail {
            message: "simulated disk full".into(),
        },
        Fault::TaskHang,
    ]
}

#[derive(Clone, Debug)]
struct Cell {
    fault: Fault,
    step: Step,
    phase: Phase,
}

impl Cell {
    fn name(&self) -> String {
        let fault = match &self.fault {
            Fault::Status { status, .. } => format!("status {status}"),
            other => other.name().to_string(),
        };
        format!("{fault} at {} ({:?})", self.step.name, self.phase)
    }

    /// The fault plan: requests before the `nth` pass through a harmless rule first.
    fn plan(&self) -> FaultPlan {
        let rule = |fault: Fault| {
            FaultRule::new(fault)
                .server(SimServer::Upm)
                .method(self.step.method)
                .path(self.step.path)
        };
        let mut rules = Vec::new();
        if self.step.nth > 0 {
            rules.push(rule(Fault::Latency { millis: 0 }).first(self.step.nth));
        }
        rules.push(rule(self.fault.clone()).first(1));
        FaultPlan {
            seed: Some(4),
            rules,
        }
    }
}

fn cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for fault in faults() {
        let task_fault = matches!(fault, Fault::TaskFail { .. } | Fault::TaskHang);
        for step in STEPS {
            if task_fault && step.method != "POST" {
                continue; // task faults only ever apply to the POST that starts a task
            }
            cells.push(Cell {
                fault: fault.clone(),
                step: *step,
                phase: Phase::BeforeApply,
            });
            // Planning only reads the plugin list and the licenses.
            if step.name == "plugin-list GET" || step.name == "license GET" {
                cells.push(Cell {
                    fault: fault.clone(),
                    step: *step,
                    phase: Phase::BeforePlan,
                });
            }
        }
    }
    cells
}

/// The same instance, started afresh from `sim`'s user apps (a hung install task is gone).
async fn restart(sim: &Sim) -> Sim {
    let mut config = SimConfig::empty()
        .user("admin", MATRIX_PASSWORD, true)
        .plugin(SeedPlugin::system(
            "com.atlassian.jira.bundled",
            "Bundled Thing",
            "9.12.15",
        ));
    for plugin in sim.plugins().into_iter().filter(|p| p.user_installed) {
        config = config.plugin(SeedPlugin {
            license: sim.license(&plugin.key),
            key: plugin.key,
            name: plugin.name,
            version: plugin.version,
            enabled: plugin.enabled,
            user_installed: true,
            uninstallable: plugin.uninstallable,
            uses_licensing: plugin.uses_licensing,
        });
    }
    start(small_marketplace(config)).await
}

fn manifest(sim: &Sim) -> Desired {
    let mut instance = instance(
        sim,
        vec![
            with_license(present("com.vendor.alpha", "2.0.0"), NEW_LICENSE), // upgrade + license
            disabled(present("com.vendor.beta", "2.0.0")),                   // downgrade + disable
            absent("com.vendor.gamma"),                                      // uninstall
        ],
    );
    instance.credentials = Credentials::Basic {
        username: "admin".into(),
        password: Secret::new(MATRIX_PASSWORD),
    };
    desired(sim, vec![instance])
}

const WANTED_PRESENT: &[&str] = &["com.vendor.alpha", "com.vendor.beta"];

async fn plan(desired: &Desired) -> Result<InstancePlan, String> {
    read_and_plan(desired, &upmsync::http::HttpSettings::default())
        .await
        .instances
        .remove(0)
        .result
        .map_err(|error| upmsync::error::error_text(&*error))
}

async fn apply(plan: &InstancePlan, desired: &Desired) -> ApplyReport {
    let instance = &desired.instances[0];
    let upm = UpmClient::new(instance, &options()).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let cache = Cache::new(folder.path(), &upmsync::http::HttpSettings::default()).unwrap();
    execute(
        plan,
        &upm,
        &cache,
        upmsync::execute::Mode::Apply,
        &AtomicBool::new(false),
        &mut |_, _| {},
    )
    .await
}

fn snapshot(sim: &Sim) -> Vec<(SimPluginState, Option<String>)> {
    let mut plugins: Vec<_> = sim
        .plugins()
        .into_iter()
        .map(|p| {
            let license = sim.license(&p.key);
            (p, license)
        })
        .collect();
    plugins.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    plugins
}

/// What one cell saw, for the summary.
struct Seen {
    fired: bool,
    planned: bool,
    succeeded: bool,
}

async fn run_cell(cell: Cell) -> Result<Seen, String> {
    let fail = |what: String| Err(format!("{}: {what}", cell.name()));
    let sim = start(small_jira().user("admin", MATRIX_PASSWORD, true)).await;
    let desired = manifest(&sim);
    let before = snapshot(&sim);

    if cell.phase == Phase::BeforePlan {
        sim.set_faults(cell.plan());
    }
    let planned = match plan(&desired).await {
        Ok(planned) => Some(planned),
        Err(error) if cell.phase == Phase::BeforePlan => {
            // Reads that failed past their retries: acceptable, if nothing changed.
            if snapshot(&sim) != before {
                return fail(format!("planning failed ({error}) but the state changed"));
            }
            None
        }
        Err(error) => return fail(format!("planning without faults failed: {error}")),
    };
    let mut seen = Seen {
        fired: false,
        planned: planned.is_some(),
        succeeded: false,
    };
    let mut tokens = Vec::new();
    if let Some(planned) = &planned {
        let actions: Vec<Action> = planned.changes.iter().map(|c| c.action()).collect();
        let expected = [
            Action::Uninstall,
            Action::Upgrade,
            Action::Downgrade,
            Action::LicenseSet,
            Action::Disable,
        ];
        if actions != expected {
            return fail(format!("unexpected plan {actions:?}"));
        }
        if cell.phase == Phase::BeforeApply {
            sim.set_faults(cell.plan());
        }
        let report = apply(planned, &desired).await;
        seen.fired = sim.fault_hits() > 0;
        seen.succeeded = report.succeeded();
        sim.set_faults(Default::default());

        // (a) nothing the manifest wants present is missing.
        for key in WANTED_PRESENT {
            if sim.plugin(key).is_none() {
                return fail(format!(
                    "`{key}` is missing after the faulted run: {report:#?}"
                ));
            }
        }
        // (c) the report tells the truth: succeeded exactly when the state matches.
        let converged = plan(&desired)
            .await
            .map_err(|error| format!("{}: re-plan failed: {error}", cell.name()))?
            .changes
            .is_empty();
        if report.succeeded() != converged {
            return fail(format!(
                "report says succeeded={} but the state {} the manifest: {report:#?}",
                report.succeeded(),
                if converged {
                    "matches"
                } else {
                    "does not match"
                }
            ));
        }
        // (d) no secret in any report text.
        tokens.extend(sim.requests().iter().filter_map(|r| {
            r.query
                .as_deref()
                .and_then(|q| q.strip_prefix("token="))
                .map(str::to_string)
        }));
        let texts = [
            format!("{report:?}"),
            format!("{report:#?}"),
            upmsync::render::apply_text(std::slice::from_ref(&report)),
            serde_json::to_string(&report).unwrap(),
        ];
        let mut secrets = vec![
            MATRIX_PASSWORD.to_string(),
            NEW_LICENSE.to_string(),
            OLD_LICENSE.to_string(),
        ];
        secrets.extend(tokens.iter().filter(|t| t.len() >= 6).cloned());
        for text in &texts {
            for secret in &secrets {
                if text.contains(secret.as_str()) {
                    return fail(format!("a secret appears in the report: {text}"));
                }
            }
        }
    } else {
        seen.fired = sim.fault_hits() > 0;
        sim.set_faults(Default::default());
    }

    // (b) a second apply without faults converges. A hung task never ends in the simulator, and
    // apply rightly waits for tasks it did not start, so the instance is restarted first.
    let sim = if matches!(cell.fault, Fault::TaskHang) {
        restart(&sim).await
    } else {
        sim
    };
    let desired = manifest(&sim);
    let second = plan(&desired)
        .await
        .map_err(|error| format!("{}: second plan failed: {error}", cell.name()))?;
    let report = apply(&second, &desired).await;
    if !report.succeeded() {
        return fail(format!("second apply failed: {report:#?}"));
    }
    let after = plan(&desired)
        .await
        .map_err(|error| format!("{}: last plan failed: {error}", cell.name()))?;
    if !after.changes.is_empty() {
        return fail(format!(
            "plan after the second apply is not empty: {after:#?}"
        ));
    }
    let alpha = sim.plugin("com.vendor.alpha").unwrap();
    let beta = sim.plugin("com.vendor.beta").unwrap();
    if alpha.version != "2.0.0"
        || sim.license("com.vendor.alpha").as_deref() != Some(NEW_LICENSE)
        || (beta.version.as_str(), beta.enabled) != ("2.0.0", false)
        || sim.plugin("com.vendor.gamma").is_some()
    {
        return fail("final state is not the manifest's".into());
    }
    Ok(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn every_fault_at_every_step_loses_nothing_and_converges() {
    let started = Instant::now();
    let cells = cells();
    // All cells at once, each against its own simulator.
    let results = futures::future::join_all(cells.iter().cloned().map(run_cell)).await;
    let mut failures = Vec::new();
    let mut lines = Vec::new();
    for (cell, result) in cells.iter().zip(results) {
        match result {
            Ok(seen) => lines.push(format!(
                "{:<48} fired={:<5} planned={:<5} faulted-run-succeeded={}",
                cell.name(),
                seen.fired,
                seen.planned,
                seen.succeeded
            )),
            Err(failure) => failures.push(failure),
        }
    }
    println!("{}", lines.join("\n"));
    println!(
        "{} cells in {:.1} s",
        cells.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cells failed:\n\n{}",
        failures.len(),
        cells.len(),
        failures.join("\n\n")
    );
}
