//! The fresh-eyes review of issue 8: its findings, each a test against the real binary and the
//! simulator that failed on the commit under review and passes since its fix.

use crate::support::*;
use crate::upmsync_snapshot;
use upmsync_sim::{Fault, FaultRule, SeedPlugin, SimServer};

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
        TestEnv::with(small_jira().plugin(SeedPlugin::user("com.vendor.alpha", "Alpha", "2.0.0")))
            .await;
    case.manifest("  - key: com.vendor.alpha\n    version: 1.1.0\n", "ignore");
    let lock = case.run(&["lock", "-f", "apps.yaml"]).await;
    assert_eq!(lock.code, 0, "{}", lock.snapshot());
    case.sim.set_upload_enabled(false);

    let apply = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    // The upload is refused.
    upmsync_snapshot!(case, apply, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      -/+ com.vendor.alpha  Alpha  (downgrade)
          - version: 2.0.0
          + version: 1.1.0
            from [MARKETPLACE]/download/apps/100/version/100002 (upload) sha256 6fab2d4f9632, fetched first
            restores from [MARKETPLACE]/download/apps/100/version/100003 (by URI) if the install fails; if that fails too, uploads the copy fetched first
          ! warning: a downgrade uninstalls the app first, then installs the older version: the app's data and configuration may not survive

      Plan for jira-test: 1 downgrade.


    jira-test: 0 done, 1 failed, 0 not started
      FAILED      downgrade com.vendor.alpha 2.0.0 -> 1.1.0
        error: installing 1.1.0 of `com.vendor.alpha` failed after it was uninstalled, so 2.0.0 was installed again (restored)
        Caused by: UPM refuses uploads: Plugins cannot be installed via upload
    ----- stderr -----
    Applying 1 change(s) on jira-test...
    jira-test: downgrade com.vendor.alpha 2.0.0 -> 1.1.0 (1/1)...
    error: not every change was applied (see the report on stdout); run `upmsync apply` again once the cause is fixed: it plans from what is installed now
    ");
    let alpha = case.sim.plugin("com.vendor.alpha");
    assert_eq!(
        alpha.map(|plugin| plugin.version),
        Some("2.0.0".to_string()),
        "the refused downgrade must restore the version it removed, not leave the app missing: {}",
        apply.snapshot()
    );
}

/// Finding 2. A lock entry of an app with `source: {url: ...}` can name any other URL, on any
/// host, and plan and apply use it silently instead of the URL the manifest names. Issue 8: a lock
/// entry whose URL is not on a host the manifest allows is refused; today only Marketplace entries
/// are checked (`check_locked_link`).
#[tokio::test(flavor = "multi_thread")]
async fn a_lock_entry_cannot_move_a_url_source_to_another_host() {
    let case = TestEnv::with(small_jira()).await;
    let wanted = case
        .sim
        .marketplace_url()
        .join("download/apps/100/version/100002")
        .unwrap();
    case.manifest(
        &format!(
            "  - key: com.vendor.alpha\n    version: 1.1.0\n    source: {{url: \"{wanted}\"}}\n"
        ),
        "ignore",
    );
    let lock = case.run(&["lock", "-f", "apps.yaml"]).await;
    assert_eq!(lock.code, 0, "{}", lock.snapshot());

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
    let path = case.path("apps.lock");
    let locked = std::fs::read_to_string(&path).unwrap();
    let edited = locked.replace(&format!("url: {wanted}"), &format!("url: {elsewhere}"));
    assert_ne!(locked, edited, "the lock names the URL: {locked}");
    std::fs::write(&path, edited).unwrap();

    let plan = case.run(&["plan", "-f", "apps.yaml"]).await;
    // A lock entry pointing away from the manifest's URL is refused.
    let text = plan.snapshot().replace(elsewhere.as_str(), "[ELSEWHERE]");
    insta::assert_snapshot!(case.filter(&text), @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/)
      error: cannot plan `jira-test`: (details on stderr)

    ----- stderr -----
    error: cannot plan `jira-test`:
    - `com.vendor.alpha`: the lock file names [ELSEWHERE] for this app, but the manifest says it comes from [MARKETPLACE]/download/apps/100/version/100002; upmsync refuses it
    hint: run `upmsync lock --update` to lock what the manifest names
    ");
    assert!(
        !plan.stdout.contains(elsewhere.as_str()),
        "{}",
        plan.snapshot()
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
    let echo = faults(vec![FaultRule::new(Fault::EchoRequest { status: 500 })
        .server(SimServer::Upm)
        .method("POST")
        .path("/rest/plugins/1.0/")]);
    let case = TestEnv::with(small_jira().nodes(2).faults(echo)).await;
    case.manifest("  - key: com.vendor.alpha\n    version: 1.1.0\n", "ignore");
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
    assert_eq!(apply.code, 1, "{}", apply.snapshot());
    let report = std::fs::read_to_string(case.path("report.json")).unwrap();
    let all = format!("{}\n{report}", apply.snapshot());
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
    let case = TestEnv::with(small_jira()).await;
    case.manifest("  - key: com.vendor.alpha\n    version: 2.0.0\n", "ignore");
    let lock = case.path("apps.lock");
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
        assert_eq!(output.code, 1, "{args:?}: {}", output.snapshot());
        assert!(
            !lock.exists(),
            "{args:?} wrote over the lock path: {}",
            output.snapshot()
        );
    }
    assert!(case.mutating().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_version_that_is_not_a_plugin_version_is_refused_on_load() {
    let case = TestEnv::with(small_jira()).await;
    case.manifest("  - key: com.vendor.alpha\n    version: 2.0.0\n", "ignore");
    let output = case.run(&["lock", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    let path = case.path("apps.lock");
    let lock = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        lock.replace("version: 2.0.0", "version: \"2.0.0 - evil\""),
    )
    .unwrap();
    let output = case.run(&["plan", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/)
      error: the lock file `apps.lock` is not valid: instance `jira-test`, app `com.vendor.alpha`: `version` holds whitespace (details on stderr)

    ----- stderr -----
    error: instance `jira-test`: the lock file `apps.lock` is not valid: instance `jira-test`, app `com.vendor.alpha`: `version` holds whitespace
    hint: run `upmsync lock --update` to write it anew
    ");
}
