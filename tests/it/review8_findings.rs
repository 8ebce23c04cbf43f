//! The fresh-eyes review of issue 8: its findings, each a test against the real binary and the
//! simulator that failed on the commit under review and passes since its fix.

use crate::support::*;
use upmsync_sim::{Fault, FaultPlan, FaultRule, SeedPlugin, Sim, SimConfig, SimServer};

struct Case {
    sim: Sim,
    folder: tempfile::TempDir,
}

impl Case {
    async fn with(config: SimConfig) -> Self {
        let sim = start(config).await;
        let folder = tempfile::tempdir().unwrap();
        Self { sim, folder }
    }

    fn manifest(&self, apps: &str) {
        let text = format!(
            "marketplace:\n  url: {marketplace}\ninstances:\n  - name: jira-test\n    url: {upm}\n    product: jira\n    auth:\n      username_env: TEST_JIRA_USER\n      password_env: TEST_JIRA_PASSWORD\n    unmanaged: ignore\napps:\n{apps}",
            marketplace = self.sim.marketplace_url(),
            upm = self.sim.upm_url(),
        );
        std::fs::write(self.folder.path().join("apps.yaml"), text).unwrap();
    }

    async fn run(&self, args: &[&str]) -> CommandOutput {
        run_binary(args, self.folder.path(), &[]).await
    }
}

fn text(output: &CommandOutput) -> String {
    output.snapshot()
}

/// Finding 1. With `apps.lock`, a downgrade is planned without a restore artifact ("no artifact of
/// the installed version was found (it is not on the Marketplace)", though it is), and the locked
/// artifact is pinned, so `install: auto` uploads it. Where uploads are refused (the default on
/// modern Data Center), the install fails after the uninstall and the app is left missing
/// ("internal error: plan without resolution"). docs/security.md promises "a downgrade restores
/// the version it removed". The same manifest without a lock (or with `sha256:` in the manifest)
/// restores it.
#[tokio::test(flavor = "multi_thread")]
async fn a_locked_downgrade_refused_by_the_upload_gate_keeps_the_app() {
    let case =
        Case::with(small_jira().plugin(SeedPlugin::user("com.vendor.alpha", "Alpha", "2.0.0")))
            .await;
    case.manifest("  - key: com.vendor.alpha\n    version: 1.1.0\n");
    let lock = case.run(&["lock", "-f", "apps.yaml"]).await;
    assert_eq!(Some(lock.code), Some(0), "{}", text(&lock));
    case.sim.set_upload_enabled(false);

    let apply = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    assert_eq!(
        Some(apply.code),
        Some(1),
        "the upload is refused: {}",
        text(&apply)
    );
    let alpha = case.sim.plugin("com.vendor.alpha");
    assert_eq!(
        alpha.map(|plugin| plugin.version),
        Some("2.0.0".to_string()),
        "the refused downgrade must restore the version it removed, not leave the app missing: {}",
        text(&apply)
    );
}

/// Finding 2. A lock entry of an app with `source: {url: ...}` can name any other URL, on any
/// host, and plan and apply use it silently instead of the URL the manifest names. Issue 8: a lock
/// entry whose URL is not on a host the manifest allows is refused; today only Marketplace entries
/// are checked (`check_locked_link`).
#[tokio::test(flavor = "multi_thread")]
async fn a_lock_entry_cannot_move_a_url_source_to_another_host() {
    let case = Case::with(small_jira()).await;
    let wanted = case
        .sim
        .marketplace_url()
        .join("download/apps/100/version/100002")
        .unwrap();
    case.manifest(&format!(
        "  - key: com.vendor.alpha\n    version: 1.1.0\n    source: {{url: \"{wanted}\"}}\n"
    ));
    let lock = case.run(&["lock", "-f", "apps.yaml"]).await;
    assert_eq!(Some(lock.code), Some(0), "{}", text(&lock));

    // The same bytes, served by another host (here: another loopback server).
    let bytes = reqwest::get(wanted.clone())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let elsewhere = serve_bytes(bytes.to_vec()).await;
    assert_ne!(
        (elsewhere.host_str(), elsewhere.port_or_known_default()),
        (wanted.host_str(), wanted.port_or_known_default())
    );
    let path = case.folder.path().join("apps.lock");
    let locked = std::fs::read_to_string(&path).unwrap();
    let edited = locked.replace(&format!("url: {wanted}"), &format!("url: {elsewhere}"));
    assert_ne!(locked, edited, "the lock names the URL: {locked}");
    std::fs::write(&path, edited).unwrap();

    let plan = case.run(&["plan", "-f", "apps.yaml"]).await;
    assert_eq!(
        Some(plan.code),
        Some(1),
        "a lock entry pointing away from the manifest's URL must be refused: {}",
        text(&plan)
    );
    assert!(
        !plan.stdout.clone().contains(elsewhere.as_str()),
        "{}",
        text(&plan)
    );
}

/// Finding 3. On a cluster, upmsync keeps the balancer's session cookies; a server that echoes the
/// request puts `JSESSIONID=<32 hex>.node1` into the error, and upmsync prints it on stdout and
/// writes it to `--report`. A Jira session id of an authenticated admin is a credential (and CI
/// logs keep stdout). docs/security.md: "It never prints or writes a secret ... This covers ...
/// session cookies ... even when a server echoes them" (while a later section says they are "not
/// covered").
#[tokio::test(flavor = "multi_thread")]
async fn a_session_cookie_echoed_by_the_server_is_not_printed_or_reported() {
    let faults = FaultPlan {
        seed: Some(1),
        rules: vec![FaultRule::new(Fault::EchoRequest { status: 500 })
            .server(SimServer::Upm)
            .method("POST")
            .path("/rest/plugins/1.0/")],
    };
    let case = Case::with(small_jira().nodes(2).faults(faults)).await;
    case.manifest("  - key: com.vendor.alpha\n    version: 1.1.0\n");
    let apply = case
        .run(&[
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--report",
            "report.json",
        ])
        .await;
    assert_eq!(Some(apply.code), Some(1), "{}", text(&apply));
    let report = std::fs::read_to_string(case.folder.path().join("report.json")).unwrap();
    let all = format!("{}\n{report}", text(&apply));
    assert!(
        all.contains("simulated echo"),
        "the echo reached the output: {all}"
    );
    let leaked = all.match_indices("JSESSIONID=").any(|(at, name)| {
        let value: String = all[at + name.len()..].chars().take(32).collect();
        value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit())
    });
    assert!(!leaked, "a session id was printed or reported: {all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_or_saved_plan_never_takes_the_lock_files_place_even_before_it_exists() {
    let case = Case::with(small_jira()).await;
    case.manifest("  - key: com.vendor.alpha\n    version: 2.0.0\n");
    let lock = case.folder.path().join("apps.lock");
    assert!(!lock.exists());
    for args in [
        vec![
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--report",
            "apps.lock",
        ],
        vec!["plan", "-f", "apps.yaml", "--out", "./apps.lock"],
    ] {
        let output = case.run(&args).await;
        assert_eq!(Some(output.code), Some(1), "{args:?}: {}", text(&output));
        assert!(
            !lock.exists(),
            "{args:?} wrote over the lock path: {}",
            text(&output)
        );
    }
    assert!(mutating_requests(&case.sim).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_version_that_is_not_a_plugin_version_is_refused_on_load() {
    let case = Case::with(small_jira()).await;
    case.manifest("  - key: com.vendor.alpha\n    version: 2.0.0\n");
    let output = case.run(&["lock", "-f", "apps.yaml"]).await;
    assert_eq!(Some(output.code), Some(0), "{}", text(&output));
    let path = case.folder.path().join("apps.lock");
    let lock = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        lock.replace("version: 2.0.0", "version: \"2.0.0 - evil\""),
    )
    .unwrap();
    let output = case.run(&["plan", "-f", "apps.yaml"]).await;
    let err = output.stderr.clone();
    assert_eq!(Some(output.code), Some(1), "{}", text(&output));
    assert!(err.contains("`version` holds whitespace"), "{err}");
}

fn mutating_requests(sim: &Sim) -> Vec<upmsync_sim::RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(upmsync_sim::RecordedRequest::is_mutating)
        .collect()
}
