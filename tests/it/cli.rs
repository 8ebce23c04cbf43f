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
    upmsync_snapshot!(case, output, @r"
    exit: 0
    ----- stdout -----
    ----- stderr -----
    `apps.yaml` is valid: 1 instance(s)
      jira-test (jira, [SIM]/): 2 app(s) wanted, 1 absent
    ");

    let bad = case.folder.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "instances:\n  - name: x\n    url: http://127.0.0.1:1/\n    product: jira\n    auth:\n      token_env: NOT_SET_ANYWHERE_42\napps:\n  - key: a\n    verison: 1.0\n  - key: b\n    version: 1.0+x\n",
    )
    .unwrap();
    let output = case.run(&["validate", "-f", "bad.yaml"]).await;
    upmsync_snapshot!(case, output, @r#"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: manifest `bad.yaml` has 3 problems
    bad.yaml:6:18: environment variable `NOT_SET_ANYWHERE_42` is not set (`auth.token_env` of instance `x`)
      hint: export NOT_SET_ANYWHERE_42=… before running upmsync
    bad.yaml:9:5: unknown field `verison` in app `a`, expected one of `key`, `version`, `enabled`, `license`, `source`, `state`, `install`, `sha256`, `allow_incompatible`, `hosting`, `requires`
      hint: did you mean `version`?
    bad.yaml:11:14: invalid version `1.0+x` of app `b`: a version is letters, digits and `_` in parts separated by `.` or `-` (e.g. `8.28.1` or `1.0.0-beta-2`)
      hint: write an exact version (`8.28.1`), `latest`, or a constraint in quotes (`">=8.20, <9"`, `"~8.28"`, `"^8.2"`)
    "#);
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

    // Without --detailed-exitcode, changes exit 0.
    let output = case.run(&["plan", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 0
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      - com.vendor.gamma  Gamma  (uninstall)
          - version: 1.0.0
      ~ com.vendor.alpha  Alpha  (upgrade, license-set)
          - version: 1.0.0
          + version: 2.0.0
          - license: sha256:5f88d32c426b
          + license: sha256:5bda58d8c66f
            from [MARKETPLACE]/download/apps/100/version/100003 (by URI)
      ~ com.vendor.beta  Beta  (disable)
            version: 2.5.0
          - enabled: true
          + enabled: false

      Plan for jira-test: 1 uninstall, 1 upgrade, 1 license-set, 1 disable.

    ----- stderr -----
    ");
    assert!(case.mutating().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_needs_approval_without_a_terminal_then_converges() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let output = case.run(&["apply", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      - com.vendor.gamma  Gamma  (uninstall)
          - version: 1.0.0
      ~ com.vendor.alpha  Alpha  (upgrade, license-set)
          - version: 1.0.0
          + version: 2.0.0
          - license: sha256:5f88d32c426b
          + license: sha256:5bda58d8c66f
            from [MARKETPLACE]/download/apps/100/version/100003 (by URI)
      ~ com.vendor.beta  Beta  (disable)
            version: 2.5.0
          - enabled: true
          + enabled: false

      Plan for jira-test: 1 uninstall, 1 upgrade, 1 license-set, 1 disable.

    ----- stderr -----
    error: refusing to apply without confirmation: there is no terminal to ask on
    hint: review the plan above and run again with `--auto-approve`
    ");
    assert!(case.mutating().is_empty(), "refused apply changed nothing");

    let output = case.run(&["apply", "-f", "apps.yaml", "--dry-run"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 0
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      - com.vendor.gamma  Gamma  (uninstall)
          - version: 1.0.0
      ~ com.vendor.alpha  Alpha  (upgrade, license-set)
          - version: 1.0.0
          + version: 2.0.0
          - license: sha256:5f88d32c426b
          + license: sha256:5bda58d8c66f
            from [MARKETPLACE]/download/apps/100/version/100003 (by URI)
      ~ com.vendor.beta  Beta  (disable)
            version: 2.5.0
          - enabled: true
          + enabled: false

      Plan for jira-test: 1 uninstall, 1 upgrade, 1 license-set, 1 disable.


    jira-test: dry run, 4 change(s) would be made, nothing was changed
      would do    uninstall com.vendor.gamma 1.0.0
      would do    upgrade com.vendor.alpha 1.0.0 -> 2.0.0
      would do    license-set com.vendor.alpha sha256:5f88d32c426b -> sha256:5bda58d8c66f
      would do    disable com.vendor.beta
    ----- stderr -----
    Checking 4 change(s) on jira-test...
    ");
    assert!(case.mutating().is_empty(), "dry run changed nothing");

    let output = case.run(&["drift", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 2
    ----- stdout -----
    jira-test: drift (4 change(s) needed, 0 unmanaged app(s))
      uninstall com.vendor.gamma 1.0.0
      upgrade com.vendor.alpha 1.0.0 -> 2.0.0
      license-set com.vendor.alpha sha256:5f88d32c426b -> sha256:5bda58d8c66f
      disable com.vendor.beta
    ----- stderr -----
    ");

    let output = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    upmsync_snapshot!(case, output, @r"
    exit: 0
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      - com.vendor.gamma  Gamma  (uninstall)
          - version: 1.0.0
      ~ com.vendor.alpha  Alpha  (upgrade, license-set)
          - version: 1.0.0
          + version: 2.0.0
          - license: sha256:5f88d32c426b
          + license: sha256:5bda58d8c66f
            from [MARKETPLACE]/download/apps/100/version/100003 (by URI)
      ~ com.vendor.beta  Beta  (disable)
            version: 2.5.0
          - enabled: true
          + enabled: false

      Plan for jira-test: 1 uninstall, 1 upgrade, 1 license-set, 1 disable.


    jira-test: 4 done, 0 failed, 0 not started
      done        uninstall com.vendor.gamma 1.0.0
      done        upgrade com.vendor.alpha 1.0.0 -> 2.0.0
      done        license-set com.vendor.alpha sha256:5f88d32c426b -> sha256:5bda58d8c66f
      done        disable com.vendor.beta
    ----- stderr -----
    Applying 4 change(s) on jira-test...
    jira-test: uninstall com.vendor.gamma 1.0.0 (1/4)...
    jira-test: upgrade com.vendor.alpha 1.0.0 -> 2.0.0 (2/4)...
    jira-test: license-set com.vendor.alpha sha256:5f88d32c426b -> sha256:5bda58d8c66f (3/4)...
    jira-test: disable com.vendor.beta (4/4)...
    ");
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
async fn unmanaged_report_is_not_a_change_but_plan_and_drift_count_it_alike() {
    let case = TestEnv::new().await;
    case.manifest("  - key: com.vendor.alpha\n    version: 1.0.0\n  - key: com.vendor.beta\n    version: 2.5.0\n", "report");
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    upmsync_snapshot!(case, output, @r"
    exit: 2
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      No changes to make.

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
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/)
      error: failed to read the installed apps of `jira-test` (details on stderr)

    ----- stderr -----
    error: failed to read the installed apps of `jira-test`
    Caused by: GET [SIM]/rest/plugins/1.0/ answered 401 Unauthorized: 401 Client must be authenticated to access this resource.
    hint: check the credentials in the environment variables the manifest names for this instance (newer products refuse Basic auth on REST: use a personal access token, `token_env`), and that the user is an administrator
    ");
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
    // Reqwest's internals (`Caused by: client error`) are not shown.
    // The retries' warnings come in no fixed order, with random waits: left out.
    let text = without_retries(&output.snapshot()).replace(&closed.to_string(), "[CLOSED]");
    insta::assert_snapshot!(case.filter(&text), @r"
    exit: 1
    ----- stdout -----
    jira-test: error: failed to read the installed apps of `jira-test` (details on stderr)
    ----- stderr -----
    error: failed to read the installed apps of `jira-test`
    Caused by: GET http://[CLOSED]/jira/rest/plugins/1.0/ failed: could not connect: Connection refused (os error 111) (is the URL right and the server up?)
    ");
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
    for (args, name, example) in [
        (&["demo"][..], "Jira", "apps.yaml.example"),
        (
            &["demo", "--product", "confluence"][..],
            "Confluence",
            "examples/confluence/apps.yaml",
        ),
        (
            &["demo", "--product", "bitbucket"][..],
            "Bitbucket",
            "examples/bitbucket/apps.yaml",
        ),
        (
            &["demo", "--product", "bamboo"][..],
            "Bamboo",
            "examples/bamboo/apps.yaml",
        ),
    ] {
        let folder = tempfile::tempdir().unwrap();
        let output = run_binary(args, folder.path(), &[]).await;
        assert_eq!(
            output.code, 0,
            "{args:?}: {}\n{}",
            output.stdout, output.stderr
        );
        let all = format!("{}{}", output.stdout, output.stderr);
        assert!(
            all.contains(&format!("a simulated {name} at")),
            "{args:?}:\n{all}"
        );
        for step in [
            format!("==> upmsync validate -f {example}"),
            format!("==> upmsync plan -f {example}"),
            format!("==> upmsync apply -f {example}"),
            format!("==> upmsync drift -f {example}"),
            "Demo finished".to_string(),
        ] {
            assert!(all.contains(&step), "{args:?}: missing {step}:\n{all}");
        }
        // Each demo upgrades, downgrades and uninstalls.
        for change in ["(upgrade, license-set)", "(downgrade)", "(uninstall)"] {
            assert!(all.contains(change), "{args:?}: missing {change}:\n{all}");
        }
        assert!(
            !all.contains("AAABdemo") && !all.contains("YWRtaW46YWRtaW4"),
            "{args:?}: demo secret leaked"
        );
    }
    let folder = tempfile::tempdir().unwrap();
    let output = run_binary(&["demo", "--product", "crowd"], folder.path(), &[]).await;
    assert_eq!(output.code, 1, "a usage error: {}", output.stderr);
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
    let child = command(case.dir())
        .args(["plan", "-f", "apps.yaml", "--format", "json"])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let output = finish(child).await;
    // A plan nobody could read is not a success.
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: failed to write to stdout
    Caused by: No space left on device (os error 28)
    ");
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
    upmsync_snapshot!(case, output, @r"
    exit: 2
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      ~ com.vendor.alpha  Alpha  (upgrade)
          - version: 1.0.0
          + version: 2.0.0
            from [MARKETPLACE]/download/apps/100/version/100003 (upload) sha256 a775b41b9abb, fetched first
      -/+ com.vendor.beta  Beta  (downgrade)
          - version: 2.5.0
          + version: 2.0.0
            from [MARKETPLACE]/download/apps/200/version/200001 (upload) sha256 278d6e8d4120, fetched first
            restores from [MARKETPLACE]/download/apps/200/version/200002 (by URI) if the install fails; if that fails too, uploads the copy fetched first
          ! warning: a downgrade uninstalls the app first, then installs the older version: the app's data and configuration may not survive

      Plan for jira-test: 1 downgrade, 1 upgrade.

    ----- stderr -----
    ");
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
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/)
      error: the lock file `apps.lock` does not cover the manifest: (details on stderr)

    ----- stderr -----
    error: instance `jira-test`: the lock file `apps.lock` does not cover the manifest:
    - `com.vendor.alpha` changed (locked: `latest` from marketplace)
    hint: run `upmsync lock` to lock what changed (or `upmsync lock --update` to re-resolve everything)
    ");
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
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      + com.example.inhouse  (install)
          + version: 1.0.0
          + enabled: true
            from [TEMP]/inhouse.jar (upload), fetched first

      Plan for jira-test: 1 install.


    jira-test: 0 done, 1 failed, 0 not started
      FAILED      install com.example.inhouse 1.0.0
        error: UPM refused the artifact's signature: Signature check failed!
        hint: UPM 8 checks app signatures: install signed artifacts (Marketplace ones are), or start the product with `-Datlassian.upm.signature.check.disabled=true`
    ----- stderr -----
    Applying 1 change(s) on jira-test...
    jira-test: install com.example.inhouse 1.0.0 (1/1)...
    error: not every change was applied (see the report on stdout); run `upmsync apply` again once the cause is fixed: it plans from what is installed now
    ");
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_reports_what_cannot_be_resolved() {
    let case = TestEnv::new().await;
    case.manifest("  - key: com.vendor.alpha\n    version: 99.0.0\n", "ignore");
    let output = case.run(&["outdated", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test (9.12.15 build 9120015)
      error: cannot resolve the versions of `jira-test`: (details on stderr)
    ----- stderr -----
    error: instance `jira-test`: cannot resolve the versions of `jira-test`:
    - `com.vendor.alpha`: app `com.vendor.alpha` has no version `99.0.0` for datacenter on the Marketplace
    hint: check the version on the app's version history page
    ");
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
    let text = output
        .snapshot()
        .replace(&format!("process {}", std::process::id()), "process [PID]");
    insta::assert_snapshot!(case.filter(&text), @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      - com.vendor.gamma  Gamma  (uninstall)
          - version: 1.0.0
      ~ com.vendor.alpha  Alpha  (upgrade, license-set)
          - version: 1.0.0
          + version: 2.0.0
          - license: sha256:5f88d32c426b
          + license: sha256:5bda58d8c66f
            from [MARKETPLACE]/download/apps/100/version/100003 (by URI)
      ~ com.vendor.beta  Beta  (disable)
            version: 2.5.0
          - enabled: true
          + enabled: false

      Plan for jira-test: 1 uninstall, 1 upgrade, 1 license-set, 1 disable.


    jira-test: 0 done, 0 failed, 4 not started
      error: another upmsync apply (process [PID]) is changing `jira-test`: nothing was changed
        hint: wait for it to finish and run apply again (its lock is `[TEMP]/cache/locks/jira-test.lock`; the lock ends with its process, so there is nothing to remove)
      not started uninstall com.vendor.gamma 1.0.0
      not started upgrade com.vendor.alpha 1.0.0 -> 2.0.0
      not started license-set com.vendor.alpha sha256:5f88d32c426b -> sha256:5bda58d8c66f
      not started disable com.vendor.beta
    ----- stderr -----
    error: not every change was applied (see the report on stdout); run `upmsync apply` again once the cause is fixed: it plans from what is installed now
    ");
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
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: the saved plan is stale, so nothing was changed:
    - the changes for `jira-test` are no longer those of the plan (a license, the Marketplace or the lock differ)
    hint: make a new plan with `upmsync plan --out`, review it, and apply that
    ");
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
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: the saved plan is stale, so nothing was changed:
    - the installed apps of `jira-test` changed since the plan
    hint: make a new plan with `upmsync plan --out`, review it, and apply that
    ");
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
    // Plan sends licenses, so it needs them.
    let output = case.run(&["plan", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: manifest `apps.yaml` has 1 problem
    apps.yaml:15:12: environment variable `LICENSE_NOT_SET_FOR_LOCK` is not set (`license.env` of app `com.vendor.alpha`)
      hint: export LICENSE_NOT_SET_FOR_LOCK=… before running upmsync
    ");
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
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: the saved plan is stale, so nothing was changed:
    - a file `jira-test` uploads changed since the plan
    hint: make a new plan with `upmsync plan --out`, review it, and apply that
    ");
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
    // A restart is not a failure.
    upmsync_snapshot!(case, apply, @r"
    exit: 0
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      ~ com.vendor.alpha  Alpha  (upgrade)
          - version: 1.0.0
          + version: 2.0.0
            from [MARKETPLACE]/download/apps/100/version/100003 (by URI)

      Plan for jira-test: 1 upgrade.


    jira-test: 0 done, 1 waiting for a restart, 0 failed, 0 not started
      RESTART     upgrade com.vendor.alpha 1.0.0 -> 2.0.0
        done, takes effect after a restart of jira-test
    ----- stderr -----
    Applying 1 change(s) on jira-test...
    jira-test: upgrade com.vendor.alpha 1.0.0 -> 2.0.0 (1/1)...
    warning: some changes on jira-test take effect only after a restart of the product: restart jira-test (every node of a cluster); until then `upmsync plan` and `drift` show them as pending
    ");
    let report = std::fs::read_to_string(case.folder.path().join("report.json")).unwrap();
    assert!(
        report.contains("\"status\": \"pending-restart\""),
        "{report}"
    );

    let plan = case
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    // Nothing apply could do, but the instance does not run what the manifest says until the
    // restart: exit 2, the answer `drift` gives on the same state.
    upmsync_snapshot!(case, plan, @r"
    exit: 2
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      No changes to make now.
      ! com.vendor.alpha  Alpha  (upgrade accepted by UPM, takes effect after a restart of jira-test)

    ----- stderr -----
    ");
    let json = case
        .run(&["plan", "-f", "apps.yaml", "--format", "json"])
        .await;
    upmsync_snapshot!(case, json, @r#"
    exit: 0
    ----- stdout -----
    {
      "format_version": 1,
      "instances": [
        {
          "name": "jira-test",
          "url": "[SIM]/",
          "product": {
            "version": "9.12.15",
            "build": 9120015,
            "base_url": "[SIM]"
          },
          "changes": [],
          "unmanaged": [],
          "pending_restart": [
            {
              "key": "com.vendor.alpha",
              "name": "Alpha",
              "action": "upgrade"
            }
          ]
        }
      ]
    }
    ----- stderr -----
    "#);
    let drift = case.run(&["drift", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, drift, @r"
    exit: 2
    ----- stdout -----
    jira-test: drift (0 change(s) needed, 0 unmanaged app(s), 1 change(s) waiting for a restart)
      upgrade com.vendor.alpha waits for a restart of jira-test
    ----- stderr -----
    ");
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
    upmsync_snapshot!(case, plan, @r"
    exit: 2
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      ! warning: a change waiting for a product restart contradicts the manifest (CONFLICT below): apply leaves that app alone and exits 1 until the change is cancelled on the Manage apps page or the product restarts
      No changes to make now.
      ! com.vendor.alpha  Alpha  (upgrade accepted by UPM, takes effect after a restart of jira-test)
          CONFLICT: UPM upgrades it from 1.0.0 at the restart, but the manifest wants 1.0.0

    ----- stderr -----
    ");
    let apply = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    upmsync_snapshot!(case, apply, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      ! warning: a change waiting for a product restart contradicts the manifest (CONFLICT below): apply leaves that app alone and exits 1 until the change is cancelled on the Manage apps page or the product restarts
      No changes to make now.
      ! com.vendor.alpha  Alpha  (upgrade accepted by UPM, takes effect after a restart of jira-test)
          CONFLICT: UPM upgrades it from 1.0.0 at the restart, but the manifest wants 1.0.0

    ----- stderr -----
    error: instance `jira-test`: `com.vendor.alpha`: UPM upgrades it from 1.0.0 at the restart, but the manifest wants 1.0.0; nothing can be done for it before the restart
    hint: cancel the pending change on the Manage apps page (or `DELETE /rest/plugins/1.0/requires-restart/com.vendor.alpha-key`), or restart the product and run apply again
    Nothing to apply now: the changes shown wait for a restart of the product.
    ");
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
    upmsync_snapshot!(case, plan, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test ([SIM]/)
      error: cannot plan `jira-test`: (details on stderr)

    ----- stderr -----
    error: cannot plan `jira-test`:
    - `com.vendor.alpha`: the lock file names http://127.0.0.1:9/download/apps/100/version/100003 for a Marketplace app, which is not on the Marketplace ([MARKETPLACE]/); upmsync refuses it
    hint: run `upmsync lock --update` to lock the Marketplace's own artifacts, or use `source: {url: ...}` for an artifact from elsewhere
    ");
}
