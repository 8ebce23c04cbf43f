//! Snapshots of what users read: the text plan, the JSON plan, the apply report and drift, from the
//! real binary against the demo Jira, with addresses filtered to `[SIM]` and `[MARKETPLACE]`.

use std::process::Output;

use crate::support::*;
use upmsync_sim::{Sim, SimConfig};

const MANIFEST: &str = "marketplace:\n  url: MARKETPLACE\ninstances:\n  - name: jira-prod\n    url: UPM\n    product: jira\n    auth:\n      username_env: SNAP_USER\n      password_env: SNAP_PASSWORD\n    unmanaged: report\napps:\n  - key: com.onresolve.jira.groovy.groovyrunner\n    version: 8.28.1\n    license:\n      env: SNAP_LICENSE\n  - key: com.midori.jira.plugin.pdfview\n    version: 11.4.0\n  - key: is.origo.jira.tempo-plugin\n    version: 17.3.0\n    enabled: false\n  - key: com.example.retired\n    state: absent\n";

async fn run(sim: &Sim, dir: &std::path::Path, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let dir = dir.to_path_buf();
    let _ = sim;
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_upmsync"))
            .args(&args)
            .current_dir(dir)
            .env("SNAP_USER", "admin")
            .env("SNAP_PASSWORD", PASSWORD)
            .env("SNAP_LICENSE", "AAAB-snapshot-license")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn filtered(sim: &Sim, output: &Output) -> String {
    let text = String::from_utf8_lossy(&output.stdout);
    text.replace(sim.upm_url().as_str(), "[SIM]/")
        .replace(sim.upm_url().as_str().trim_end_matches('/'), "[SIM]")
        .replace(sim.marketplace_url().as_str(), "[MARKETPLACE]/")
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_and_drift_output() {
    let sim = start(SimConfig::jira_demo()).await;
    let folder = tempfile::tempdir().unwrap();
    let manifest = MANIFEST
        .replace("MARKETPLACE", sim.marketplace_url().as_str())
        .replace("UPM", sim.upm_url().as_str());
    std::fs::write(folder.path().join("apps.yaml"), manifest).unwrap();

    let plan = run(&sim, folder.path(), &["plan", "-f", "apps.yaml"]).await;
    insta::assert_snapshot!("plan_text", filtered(&sim, &plan));
    let json = run(
        &sim,
        folder.path(),
        &["plan", "-f", "apps.yaml", "--format", "json"],
    )
    .await;
    insta::assert_snapshot!("plan_json", filtered(&sim, &json));
    let apply = run(
        &sim,
        folder.path(),
        &["apply", "-f", "apps.yaml", "--auto-approve"],
    )
    .await;
    assert_eq!(
        apply.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let report = filtered(&sim, &apply);
    let report = &report[report.rfind("\njira-prod:").unwrap_or(0)..];
    insta::assert_snapshot!("apply_report", report);
    let drift = run(
        &sim,
        folder.path(),
        &["drift", "-f", "apps.yaml", "--format", "json"],
    )
    .await;
    assert_eq!(
        drift.status.code(),
        Some(2),
        "the unmanaged sandbox app is drift"
    );
    insta::assert_snapshot!("drift_json", filtered(&sim, &drift));
}
