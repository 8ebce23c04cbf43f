//! The real binary against the simulator: exit codes, stdout, stderr, and no secret in any output.

use crate::support::*;
use std::path::Path;

use crate::upmsync_snapshot;
use upmsync_sim::jar;

/// The secrets of these tests: the license text and the `Authorization` values. (The password
/// `admin` is also the user name, so it is checked through its Basic encoding.)
fn assert_no_secret(output: &CommandOutput) {
    let all = format!("{}{}", output.stdout, output.stderr);
    assert!(!all.contains(LICENSE), "license text leaked:\n{all}");
    assert!(
        !all.contains("YWRtaW46YWRtaW4"),
        "Basic credentials leaked:\n{all}"
    );
    assert!(!all.contains("pat-secret"), "token leaked:\n{all}");
    assert!(!all.contains("token="), "a upm-token query leaked:\n{all}");
}

const APPS: &str = "  - key: com.vendor.alpha\n    version: 2.0.0\n    license:\n      env: TEST_LICENSE\n  - key: com.vendor.gamma\n    state: absent\n  - key: com.vendor.beta\n    version: 2.5.0\n    enabled: false\n";

#[tokio::test(flavor = "multi_thread")]
async fn validate_accepts_a_good_manifest_and_reports_every_problem_of_a_bad_one() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let output = case.run(&["validate", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(output.stderr.contains("is valid"));

    let bad = case.folder.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "instances:\n  - name: x\n    url: http://127.0.0.1:1/\n    product: jira\n    auth:\n      token_env: NOT_SET_ANYWHERE_42\napps:\n  - key: a\n    verison: 1.0\n  - key: b\n    version: 1.0+x\n",
    )
    .unwrap();
    let output = case.run(&["validate", "-f", "bad.yaml"]).await;
    assert_eq!(output.code, 1);
    let text = output.stderr;
    assert!(text.contains("bad.yaml:6"), "{text}");
    assert!(text.contains("NOT_SET_ANYWHERE_42"), "{text}");
    assert!(
        text.contains("bad.yaml:9") && text.contains("verison"),
        "{text}"
    );
    assert!(
        text.contains("bad.yaml:11") && text.contains("1.0+x"),
        "{text}"
    );
    assert!(case.sim.requests().is_empty(), "validate is offline");
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_json_and_detailed_exit_codes() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let output = case
        .run(&[
            "plan",
            "-f",
            "apps.yaml",
            "--format",
            "json",
            "--detailed-exitcode",
        ])
        .await;
    assert_eq!(output.code, 2, "{}", output.stderr);
    let json: serde_json::Value =
        serde_json::from_str(&output.stdout).expect("stdout is JSON only");
    assert_eq!(json["format_version"], 1);
    let instance = &json["instances"][0];
    assert_eq!(instance["name"], "jira-test");
    let changes: Vec<(String, String, serde_json::Value, serde_json::Value)> = instance["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().into(),
                c["action"].as_str().unwrap().into(),
                c["from"].clone(),
                c["to"].clone(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (
                "com.vendor.gamma".into(),
                "uninstall".into(),
                "1.0.0".into(),
                serde_json::Value::Null
            ),
            (
                "com.vendor.alpha".into(),
                "upgrade".into(),
                "1.0.0".into(),
                "2.0.0".into()
            ),
            (
                "com.vendor.alpha".into(),
                "license-set".into(),
                "2.0.0".into(),
                "2.0.0".into()
            ),
            (
                "com.vendor.beta".into(),
                "disable".into(),
                "2.5.0".into(),
                "2.5.0".into()
            ),
        ]
    );
    assert!(instance["changes"][2]["license"]["to"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_no_secret(&output);

    let output = case.run(&["plan", "-f", "apps.yaml"]).await;
    assert_eq!(
        output.code, 0,
        "without --detailed-exitcode, changes exit 0"
    );
    assert!(
        output.stdout.contains("~ com.vendor.alpha"),
        "{}",
        output.stdout
    );
    assert!(case.mutating().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_needs_approval_without_a_terminal_then_converges() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let output = case.run(&["apply", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("--auto-approve"),
        "{}",
        output.stderr
    );
    assert!(case.mutating().is_empty(), "refused apply changed nothing");

    let output = case.run(&["apply", "-f", "apps.yaml", "--dry-run"]).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(output.stdout.contains("would do"), "{}", output.stdout);
    assert!(case.mutating().is_empty(), "dry run changed nothing");

    let output = case.run(&["drift", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 2);
    assert!(
        output.stdout.contains("jira-test: drift"),
        "{}",
        output.stdout
    );

    let output = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    assert_eq!(output.code, 0, "{}\n{}", output.stdout, output.stderr);
    assert!(
        output.stdout.contains("4 done, 0 failed, 0 not started"),
        "{}",
        output.stdout
    );
    assert_no_secret(&output);
    assert_eq!(
        case.sim.license("com.vendor.alpha").as_deref(),
        Some(LICENSE)
    );

    let output = case
        .run(&["drift", "-f", "apps.yaml", "--format", "json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stdout);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(json["drift"], false);
    assert_eq!(json["instances"][0]["in_sync"], true);

    let output = case
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    assert_eq!(output.code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn unmanaged_report_counts_as_drift_but_not_as_a_change() {
    let case = TestEnv::new().await;
    case.manifest("  - key: com.vendor.alpha\n    version: 1.0.0\n  - key: com.vendor.beta\n    version: 2.5.0\n", "report");
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    upmsync_snapshot!(case, output, @r"
    exit: 0
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      No changes: the installed apps match the manifest.

      Not in the manifest (unmanaged: report), left alone:
        ? com.vendor.gamma 1.0.0 (Gamma)

    ----- stderr -----
    ");
    let output = case.run(&["drift", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 2
    ----- stdout -----
    jira-test: drift (0 change(s) needed, 1 unmanaged app(s))
      unmanaged com.vendor.gamma 1.0.0
    ----- stderr -----
    ");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_exit_1_and_say_what_to_do() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");

    let output = case
        .run(&["plan", "-f", "apps.yaml", "--instance", "nope"])
        .await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: manifest `apps.yaml` has 1 problem
    apps.yaml: no instance named `nope` (from `--instance`)
      hint: the manifest has: jira-test
    ");

    let output = case.run(&["plan", "--no-such-flag"]).await;
    assert_eq!(output.code, 1, "usage errors exit 1, never 2");

    let output = case.run(&["drift", "-f", "missing.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: failed to read manifest `missing.yaml`
    Caused by: No such file or directory (os error 2)
    ");

    let output = case
        .run_env(
            &["plan", "-f", "apps.yaml"],
            &[("TEST_JIRA_PASSWORD", "wrong-password-value")],
        )
        .await;
    assert_eq!(output.code, 1);
    assert!(
        output.stdout.contains("jira-test") && output.stdout.contains("details on stderr"),
        "{}",
        output.stdout
    );
    assert!(
        output.stderr.contains("401") && output.stderr.contains("hint: check the credentials"),
        "{}",
        output.stderr
    );
    assert!(!format!("{}{}", output.stdout, output.stderr).contains("wrong-password-value"));

    let output = case.run(&["--help"]).await;
    assert_eq!(output.code, 0);
    for command in ["validate", "plan", "apply", "drift", "sim", "demo"] {
        assert!(output.stdout.contains(command), "--help lists {command}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_instance_exits_1_naming_it() {
    let case = TestEnv::new().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let path = case.manifest(APPS, "ignore");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        case.sim.upm_url().as_str(),
        &format!("http://{closed}/jira/"),
    );
    std::fs::write(&path, text).unwrap();
    let output = case.run(&["drift", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 1);
    assert!(
        output.stdout.contains("jira-test: error"),
        "{}",
        output.stdout
    );
    let errors = output.stderr;
    assert!(
        errors.contains("instance `jira-test`") && errors.contains("could not connect"),
        "{errors}"
    );
    assert!(
        !errors.contains("Caused by: client error"),
        "reqwest internals are not shown:\n{errors}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_any_output_at_any_log_level() {
    let case = TestEnv::with(small_jira().personal_access_token("pat-secret-456", "admin")).await;
    let jar_path = case.folder.path().join("inhouse.jar");
    std::fs::write(
        &jar_path,
        jar::build_plugin_jar("com.example.inhouse", "In-house", "1.0.0", false),
    )
    .unwrap();
    let apps = format!("{APPS}  - key: com.example.inhouse\n    version: 1.0.0\n    source:\n      path: inhouse.jar\n");
    case.manifest(&apps, "report");
    for (args, env) in [
        (vec!["validate", "-f", "apps.yaml"], vec![]),
        (vec!["plan", "-f", "apps.yaml", "-vvv"], vec![]),
        (
            vec!["plan", "-f", "apps.yaml", "--format", "json"],
            vec![("RUST_LOG", "trace")],
        ),
        (
            vec!["apply", "-f", "apps.yaml", "--dry-run", "-vvv"],
            vec![],
        ),
        (
            vec!["apply", "-f", "apps.yaml", "--auto-approve"],
            vec![("RUST_LOG", "trace")],
        ),
        (vec!["drift", "-f", "apps.yaml", "-vvv"], vec![]),
    ] {
        let output = case.run_env(&args, &env).await;
        assert!(output.code <= 2, "{args:?}: {}", output.stderr);
        assert_no_secret(&output);
    }
    // And with a personal access token.
    let path = case.folder.path().join("apps.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "      username_env: TEST_JIRA_USER\n      password_env: TEST_JIRA_PASSWORD\n",
        "      token_env: TEST_PAT\n",
    );
    std::fs::write(&path, text).unwrap();
    let output = case
        .run_env(
            &["plan", "-f", "apps.yaml", "-vvv"],
            &[("TEST_PAT", "pat-secret-456"), ("RUST_LOG", "trace")],
        )
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert_no_secret(&output);
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_end_to_end() {
    let output = run_binary(&["demo"], Path::new("."), &[]).await;
    assert_eq!(output.code, 0, "{}\n{}", output.stdout, output.stderr);
    let all = format!("{}{}", output.stdout, output.stderr);
    for step in [
        "==> upmsync validate",
        "==> upmsync plan",
        "==> upmsync apply",
        "==> upmsync drift",
        "Demo finished",
    ] {
        assert!(all.contains(step), "missing {step}:\n{all}");
    }
    assert!(
        !all.contains("AAABdemoScriptRunnerLicense"),
        "demo license leaked"
    );
}

#[test]
fn the_example_jar_is_the_builders_output() {
    let committed = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/artifacts/inhouse-2.0.0.jar"),
    )
    .unwrap();
    let built = jar::build_plugin_jar("com.example.inhouse", "In-house Tools", "2.0.0", false);
    assert!(
        committed == built,
        "run `cargo run --example make_artifacts` and commit the jar"
    );
    let descriptor = jar::read_descriptor(&committed).unwrap();
    assert_eq!(
        (descriptor.key.as_str(), descriptor.version.as_str()),
        ("com.example.inhouse", "2.0.0")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_stdout_write_is_an_error() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let mut command = command(case.dir());
    command
        .args(["plan", "-f", "apps.yaml", "--format", "json"])
        .stdout(std::fs::File::create("/dev/full").unwrap());
    let output = CommandOutput::from(
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap(),
    );
    assert_eq!(output.code, 1, "a plan nobody could read is not a success");
    assert!(
        output.stderr.contains("failed to write to stdout"),
        "{}",
        output.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_finishes_the_change_under_way_and_reports_the_rest() {
    let case = TestEnv::with(small_jira().task_delay(std::time::Duration::from_millis(1500))).await;
    case.manifest(
        "  - key: com.vendor.alpha\n    version: 2.0.0\n  - key: com.vendor.delta\n    version: 1.0.0\n  - key: com.vendor.gamma\n    state: absent\n",
        "ignore",
    );
    let child = command(case.dir())
        .args(["apply", "-f", "apps.yaml", "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first install is under way (its POST reached UPM), then interrupt.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !case.sim.requests().iter().any(|r| r.method == "POST") {
        assert!(
            std::time::Instant::now() < deadline,
            "apply never started installing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = CommandOutput::from(
        tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap(),
    );
    let (out, err) = (output.stdout, output.stderr);
    assert_eq!(output.code, 1, "{out}\n{err}");
    assert!(err.contains("Interrupted"), "{err}");
    // Changes run uninstall first: gamma was done before the interrupt, alpha's install was under
    // way and finished, delta was never started.
    assert!(
        out.contains("done        uninstall com.vendor.gamma"),
        "{out}"
    );
    assert!(
        out.contains("done        upgrade com.vendor.alpha 1.0.0 -> 2.0.0"),
        "{out}"
    );
    assert!(
        out.contains("not started install com.vendor.delta"),
        "{out}"
    );
    assert_eq!(
        case.sim.plugin("com.vendor.alpha").unwrap().version,
        "2.0.0"
    );
    assert!(case.sim.plugin("com.vendor.delta").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_lock_and_plan_from_the_lock() {
    let case = TestEnv::new().await;
    let cache = case.folder.path().join("cache");
    let cache = cache.to_str().unwrap();
    case.manifest("  - key: com.vendor.alpha\n    version: latest\n  - key: com.vendor.beta\n    version: \"~2.0\"\n", "ignore");

    let output = case
        .run(&["outdated", "-f", "apps.yaml", "--format", "json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let apps = &json["instances"][0]["apps"];
    let alpha = apps
        .as_array()
        .unwrap()
        .iter()
        .find(|app| app["key"] == "com.vendor.alpha")
        .unwrap();
    assert_eq!(
        (
            alpha["installed"].as_str(),
            alpha["wanted"].as_str(),
            alpha["newest_compatible"].as_str()
        ),
        (Some("1.0.0"), Some("2.0.0"), Some("2.0.0"))
    );
    let beta = apps
        .as_array()
        .unwrap()
        .iter()
        .find(|app| app["key"] == "com.vendor.beta")
        .unwrap();
    assert_eq!(
        (beta["requested"].as_str(), beta["wanted"].as_str()),
        (Some("~2.0"), Some("2.0.0"))
    );
    assert_eq!(json["instances"][0]["product"]["build"], 9120015);

    let output = case
        .run(&["lock", "-f", "apps.yaml", "--cache-dir", cache])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let lock = std::fs::read_to_string(case.folder.path().join("apps.lock")).unwrap();
    assert!(
        lock.contains("requested: latest") && lock.contains("version: 2.0.0"),
        "{lock}"
    );

    case.sim.clear_requests();
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    assert_eq!(output.code, 2, "{}", output.stderr);
    assert!(
        output.stdout.contains("product 9.12.15 build 9120015"),
        "{}",
        output.stdout
    );
    // With a lock the Marketplace is asked only for what a downgrade needs to put the installed
    // version back if its install fails (beta 2.5.0 -> 2.0.0 here).
    let asked: Vec<String> = case
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.server == upmsync_sim::SimServer::Marketplace)
        .map(|r| r.path)
        .collect();
    assert!(
        asked.iter().all(|path| path.contains("com.vendor.beta")),
        "{asked:?}"
    );

    case.manifest("  - key: com.vendor.alpha\n    version: 1.1.0\n  - key: com.vendor.beta\n    version: \"~2.0\"\n", "ignore");
    let output = case.run(&["plan", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("does not cover") && output.stderr.contains("run `upmsync lock`"),
        "{}",
        output.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signature_check_refusal_names_the_cause_and_the_fix() {
    let case = TestEnv::new().await;
    case.sim.set_signature_check(true);
    let jar_path = case.folder.path().join("inhouse.jar");
    std::fs::write(
        &jar_path,
        jar::build_plugin_jar("com.example.inhouse", "In-house", "1.0.0", false),
    )
    .unwrap();
    case.manifest(
        "  - key: com.example.inhouse\n    version: 1.0.0\n    source:\n      path: inhouse.jar\n",
        "ignore",
    );
    let cache = case.folder.path().join("cache");
    let output = case
        .run(&[
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--cache-dir",
            cache.to_str().unwrap(),
        ])
        .await;
    assert_eq!(output.code, 1);
    let out = output.stdout;
    assert!(
        out.contains("signature") && out.contains("atlassian.upm.signature.check.disabled"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_reports_what_cannot_be_resolved() {
    let case = TestEnv::new().await;
    case.manifest("  - key: com.vendor.alpha\n    version: 99.0.0\n", "ignore");
    let output = case.run(&["outdated", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 1, "{}", output.stdout);
    assert!(
        output.stderr.contains("no version `99.0.0`"),
        "{}",
        output.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_writes_a_json_report_and_honours_local_locks() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let cache = case.folder.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    let locks = cache.join("locks");
    std::fs::create_dir_all(&locks).unwrap();

    // A lock held by a running process (this test holds the OS lock) blocks the instance, named
    // by the id written in it; nothing changes.
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(locks.join("jira-test.lock"))
        .unwrap();
    held.try_lock().unwrap();
    std::io::Write::write_all(&mut &held, format!("{}\n", std::process::id()).as_bytes()).unwrap();
    let output = case
        .run(&[
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--cache-dir",
            cache_arg,
        ])
        .await;
    assert_eq!(output.code, 1);
    assert!(
        output.stdout.contains(&format!(
            "another upmsync apply (process {})",
            std::process::id()
        )),
        "{}",
        output.stdout
    );
    assert!(case.mutating().is_empty());

    // Released, the file stays behind still naming this live process (as after a `kill -9`, or
    // when the id was reused): it blocks nothing, and needs no `rm`.
    drop(held);
    let output = case
        .run(&[
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--cache-dir",
            cache_arg,
            "--report",
            "report.json",
        ])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(case.folder.path().join("report.json")).unwrap(),
    )
    .unwrap();
    let changes = report["instances"][0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 4);
    assert!(
        changes.iter().all(|change| change["status"] == "done"),
        "{report:#}"
    );
    assert!(
        !locks.join("jira-test.lock").exists(),
        "the lock is released"
    );
    assert!(
        !std::fs::read_to_string(case.folder.path().join("report.json"))
            .unwrap()
            .contains(LICENSE)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plans_apply_exactly_or_not_at_all() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let cache = case.folder.path().join("cache");
    let cache = cache.to_str().unwrap();

    let output = case
        .run(&["plan", "-f", "apps.yaml", "--out", "plan.json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let saved = std::fs::read_to_string(case.folder.path().join("plan.json")).unwrap();
    assert!(
        !saved.contains(LICENSE) && !saved.contains("YWRtaW46YWRtaW4"),
        "no secret in a plan file"
    );
    assert!(
        saved.contains("live_sha256") && saved.contains("manifest_sha256"),
        "{saved}"
    );

    // A different license at apply time than at plan time: the plan is stale.
    case.sim.clear_requests();
    let output = case
        .run_env(
            &["apply", "plan.json", "--cache-dir", cache],
            &[("TEST_LICENSE", "AAABanotherLicense==")],
        )
        .await;
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("stale") && output.stderr.contains("no longer those of the plan"),
        "{}",
        output.stderr
    );
    assert!(case.mutating().is_empty());

    // The live state changed since the plan (someone disabled an app): stale, nothing changes.
    let client = reqwest::Client::new();
    let url = format!(
        "{}rest/plugins/1.0/com.vendor.gamma-key",
        case.sim.upm_url()
    );
    let response = client
        .put(url)
        .basic_auth("admin", Some(PASSWORD))
        .header("Content-Type", "application/vnd.atl.plugins.plugin+json")
        .body(r#"{"enabled":false}"#)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    case.sim.clear_requests();
    let output = case
        .run(&["apply", "plan.json", "--cache-dir", cache])
        .await;
    assert_eq!(output.code, 1);
    assert!(
        output
            .stderr
            .contains("installed apps of `jira-test` changed"),
        "{}",
        output.stderr
    );
    assert!(case.mutating().is_empty());

    // A fresh plan applies exactly, without a terminal and without --auto-approve.
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--out", "plan.json"])
        .await;
    assert_eq!(output.code, 0);
    let output = case
        .run(&["apply", "plan.json", "--cache-dir", cache])
        .await;
    assert_eq!(output.code, 0, "{}\n{}", output.stdout, output.stderr);
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    assert_eq!(output.code, 0, "converged");
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_and_outdated_do_not_need_license_secrets() {
    let case = TestEnv::new().await;
    case.manifest("  - key: com.vendor.alpha\n    version: latest\n    license:\n      env: LICENSE_NOT_SET_FOR_LOCK\n", "ignore");
    let cache = case.folder.path().join("cache");
    let output = case
        .run(&[
            "lock",
            "-f",
            "apps.yaml",
            "--cache-dir",
            cache.to_str().unwrap(),
        ])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let output = case.run(&["outdated", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let output = case.run(&["plan", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 1, "plan sends licenses, so it needs them");
    assert!(
        output.stderr.contains("LICENSE_NOT_SET_FOR_LOCK"),
        "{}",
        output.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_refuses_a_rebuilt_upload() {
    let case = TestEnv::new().await;
    let jar_path = case.folder.path().join("inhouse.jar");
    std::fs::write(
        &jar_path,
        jar::build_plugin_jar("com.example.inhouse", "In-house", "1.0.0", false),
    )
    .unwrap();
    case.manifest(
        "  - key: com.example.inhouse\n    version: 1.0.0\n    source:\n      path: inhouse.jar\n",
        "ignore",
    );
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--out", "plan.json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    // Same key and version, other bytes: not what was reviewed.
    std::fs::write(
        &jar_path,
        jar::build_plugin_jar("com.example.inhouse", "In-house (rebuilt)", "1.0.0", false),
    )
    .unwrap();
    let cache = case.folder.path().join("cache");
    let output = case
        .run(&["apply", "plan.json", "--cache-dir", cache.to_str().unwrap()])
        .await;
    assert_eq!(output.code, 1);
    assert!(
        output.stderr.contains("changed since the plan"),
        "{}",
        output.stderr
    );
    assert!(case.mutating().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_waits_in_apply_plan_and_drift_with_their_exit_codes() {
    let case = TestEnv::with(small_jira().requires_restart("com.vendor.alpha")).await;
    case.manifest("  - key: com.vendor.alpha\n    version: 2.0.0\n", "ignore");
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
    let (out, err) = (apply.stdout, apply.stderr);
    assert_eq!(apply.code, 0, "a restart is not a failure:\n{out}\n{err}");
    assert!(
        out.contains("RESTART     upgrade com.vendor.alpha 1.0.0 -> 2.0.0"),
        "{out}"
    );
    assert!(
        out.contains("done, takes effect after a restart of jira-test"),
        "{out}"
    );
    assert!(err.contains("restart jira-test"), "{err}");
    let report = std::fs::read_to_string(case.folder.path().join("report.json")).unwrap();
    assert!(
        report.contains("\"status\": \"pending-restart\""),
        "{report}"
    );

    let plan = case
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    assert_eq!(plan.code, 0, "nothing apply could do: {}", plan.stdout);
    assert!(
        plan.stdout.contains("! com.vendor.alpha  Alpha  (upgrade accepted by UPM, takes effect after a restart of jira-test)"),
        "{}",
        plan.stdout
    );
    let json = case
        .run(&["plan", "-f", "apps.yaml", "--format", "json"])
        .await;
    assert!(
        json.stdout.contains("\"pending_restart\""),
        "{}",
        json.stdout
    );
    let drift = case.run(&["drift", "-f", "apps.yaml"]).await;
    assert_eq!(drift.code, 2, "{}", drift.stdout);
    assert!(
        drift
            .stdout
            .contains("upgrade com.vendor.alpha waits for a restart of jira-test"),
        "{}",
        drift.stdout
    );
    case.sim.restart();
    let drift = case.run(&["drift", "-f", "apps.yaml"]).await;
    assert_eq!(drift.code, 0, "{}", drift.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_converges_from_the_cli_and_no_session_cookie_is_printed() {
    let case = TestEnv::with(small_jira().nodes(2)).await;
    case.manifest(APPS, "ignore");
    let apply = case
        .run_env(
            &["apply", "-f", "apps.yaml", "--auto-approve", "-vvv"],
            &[("RUST_LOG", "trace")],
        )
        .await;
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert_no_secret(&apply);
    let all = format!("{}{}", apply.stdout, apply.stderr);
    assert!(!all.contains("JSESSIONID="), "a session cookie was printed");
    assert!(
        !all.contains("ATL_AFFINITY="),
        "an affinity cookie was printed"
    );
    let drift = case.run(&["drift", "-f", "apps.yaml"]).await;
    assert_eq!(drift.code, 0, "{}", drift.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_restart_the_manifest_contradicts_is_a_conflict() {
    let case = TestEnv::with(small_jira().requires_restart("com.vendor.alpha")).await;
    case.manifest("  - key: com.vendor.alpha\n    version: 2.0.0\n", "ignore");
    let apply = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    // The manifest goes back to the version running now, before the restart.
    case.manifest("  - key: com.vendor.alpha\n    version: 1.0.0\n", "ignore");
    let plan = case
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    assert_eq!(plan.code, 2, "{}", plan.stdout);
    assert!(
        plan.stdout.contains(
            "CONFLICT: UPM upgrades it from 1.0.0 at the restart, but the manifest wants 1.0.0"
        ),
        "{}",
        plan.stdout
    );
    let apply = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    let err = apply.stderr;
    assert_eq!(apply.code, 1, "{err}");
    assert!(
        err.contains("nothing can be done for it before the restart"),
        "{err}"
    );
    assert!(
        err.contains("requires-restart/com.vendor.alpha-key"),
        "{err}"
    );
    assert!(err.contains("Nothing to apply now"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_locked_marketplace_artifact_from_elsewhere_is_refused() {
    let case = TestEnv::new().await;
    let cache = case.folder.path().join("cache");
    let cache = cache.to_str().unwrap();
    case.manifest("  - key: com.vendor.alpha\n    version: 2.0.0\n", "ignore");
    let output = case
        .run(&["lock", "-f", "apps.yaml", "--cache-dir", cache])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let lock_path = case.folder.path().join("apps.lock");
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    let marketplace = case.sim.marketplace_url();
    let host = format!(
        "{}:{}",
        marketplace.host_str().unwrap(),
        marketplace.port().unwrap()
    );
    assert!(lock.contains(&host), "{lock}");
    // Someone with commit access points the entry at their own server.
    std::fs::write(&lock_path, lock.replace(&host, "127.0.0.1:9")).unwrap();
    let plan = case.run(&["plan", "-f", "apps.yaml"]).await;
    let err = plan.stderr;
    assert_eq!(plan.code, 1, "{err}");
    assert!(err.contains("which is not on the Marketplace"), "{err}");
    assert!(err.contains("upmsync lock --update"), "{err}");
}
