//! Snapshots of what users read: the text plan, the JSON plan, the apply report and drift, from the
//! real binary against the demo Jira: exit code, stdout and stderr together, with addresses filtered
//! to `[SIM]` and `[MARKETPLACE]`.

use crate::support::*;
use crate::upmsync_snapshot;
use upmsync_sim::SimConfig;

const MANIFEST: &str = "marketplace:\n  url: MARKETPLACE\ninstances:\n  - name: jira-prod\n    url: UPM\n    product: jira\n    auth:\n      username_env: TEST_JIRA_USER\n      password_env: TEST_JIRA_PASSWORD\n    unmanaged: report\napps:\n  - key: com.onresolve.jira.groovy.groovyrunner\n    version: 8.28.1\n    license:\n      env: TEST_LICENSE\n  - key: com.midori.jira.plugin.pdfview\n    version: 11.4.0\n  - key: is.origo.jira.tempo-plugin\n    version: 17.3.0\n    enabled: false\n  - key: com.example.retired\n    state: absent\n";

/// The license the manifest reads; its hash shows in the plan, so it is fixed here.
const SNAPSHOT_LICENSE: &str = "AAAB-snapshot-license";

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_and_drift_output() {
    let env = TestEnv::with(SimConfig::jira_demo()).await;
    let manifest = MANIFEST
        .replace("MARKETPLACE", env.sim.marketplace_url().as_str())
        .replace("UPM", env.sim.upm_url().as_str());
    std::fs::write(env.dir().join("apps.yaml"), manifest).unwrap();
    let license = [("TEST_LICENSE", SNAPSHOT_LICENSE)];

    let plan = env.run_env(&["plan", "-f", "apps.yaml"], &license).await;
    upmsync_snapshot!("plan_text", env, plan);
    let json = env
        .run_env(&["plan", "-f", "apps.yaml", "--format", "json"], &license)
        .await;
    upmsync_snapshot!("plan_json", env, json);
    let apply = env
        .run_env(&["apply", "-f", "apps.yaml", "--auto-approve"], &license)
        .await;
    upmsync_snapshot!("apply_report", env, apply);
    let drift = env
        .run_env(&["drift", "-f", "apps.yaml", "--format", "json"], &license)
        .await;
    assert_eq!(drift.code, 2, "the unmanaged sandbox app is drift");
    upmsync_snapshot!("drift_json", env, drift);
}
