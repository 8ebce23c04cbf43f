//! Issue 11, "plans that say why" and "help": the real binary against the simulator. Why an
//! uninstall is planned, what blocks apply, `plan --detailed-exitcode` and `drift` agreeing,
//! `validate --instance`, the docs' promises about `--skip-secrets`, versions and license changes,
//! completions, the man page, and flags only where they have an effect.

use crate::support::*;
use crate::upmsync_snapshot;

/// Alpha and beta as installed; gamma, also installed, is not named.
const NAMED: &str =
    "  - key: com.vendor.alpha\n    version: 1.0.0\n  - key: com.vendor.beta\n    version: 2.5.0\n";

fn assert_no_secret(output: &CommandOutput) {
    let all = format!("{}{}", output.stdout, output.stderr);
    assert!(!all.contains(LICENSE), "license text leaked:\n{all}");
    assert!(
        !all.contains("YWRtaW46YWRtaW4"),
        "Basic credentials leaked:\n{all}"
    );
    assert!(
        !all.contains("ALPHA-OLD-LICENSE"),
        "installed license leaked:\n{all}"
    );
}

/// `unmanaged: report` means the same to both: a reported app is a difference (exit 2), not a
/// change; `ignore` makes both answer 0 on the same instance.
#[tokio::test(flavor = "multi_thread")]
async fn plan_detailed_exitcode_and_drift_give_the_same_answer() {
    let case = TestEnv::new().await;
    for (policy, expected) in [("report", 2), ("ignore", 0)] {
        case.manifest(NAMED, policy);
        let plan = case
            .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
            .await;
        let drift = case.run(&["drift", "-f", "apps.yaml"]).await;
        assert_eq!(plan.code, expected, "plan, {policy}: {}", plan.snapshot());
        assert_eq!(
            drift.code,
            expected,
            "drift, {policy}: {}",
            drift.snapshot()
        );
        // Without the flag, plan succeeds either way.
        let plain = case.run(&["plan", "-f", "apps.yaml"]).await;
        assert_eq!(plain.code, 0, "{}", plain.snapshot());
        assert_no_secret(&plan);
        assert_no_secret(&drift);
        if policy == "report" {
            upmsync_snapshot!(case, plan, @r"
            exit: 2
            ----- stdout -----
            Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
              No changes to make.

              Not in the manifest (unmanaged: report), left alone:
                ? com.vendor.gamma 1.0.0 (Gamma)

            ----- stderr -----
            ");
        }
    }
    assert!(case.mutating().is_empty(), "plan and drift change nothing");
}

/// An uninstall of an app the manifest does not name says so, in text and JSON; safe mode, read
/// from the plugin list, is noted in the header (and in JSON) before apply would meet it.
#[tokio::test(flavor = "multi_thread")]
async fn the_plan_says_why_it_uninstalls_and_what_blocks_apply() {
    let case = TestEnv::new().await;
    case.sim.set_safe_mode(true);
    case.manifest(
        &format!("{NAMED}  - key: com.vendor.delta\n    state: absent\n"),
        "uninstall",
    );
    let output = case.run(&["plan", "-f", "apps.yaml"]).await;
    assert_no_secret(&output);
    upmsync_snapshot!(case, output, @r#"
    exit: 0
    ----- stdout -----
    Instance jira-test ([SIM]/, product 9.12.15 build 9120015)
      ! warning: UPM is in safe mode: apply refuses to install, upgrade, downgrade or uninstall apps until it is left (the Manage apps page, or `PUT /rest/plugins/1.0/safe-mode?keepState=true` with `{"enabled":false}`)
      - com.vendor.gamma  Gamma  (uninstall: not in the manifest)
          - version: 1.0.0

      Plan for jira-test: 1 uninstall.

    ----- stderr -----
    "#);
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--format", "json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    assert_no_secret(&output);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let instance = &json["instances"][0];
    assert_eq!(instance["changes"][0]["key"], "com.vendor.gamma");
    assert_eq!(instance["changes"][0]["reason"], "not-in-manifest");
    assert_eq!(instance["blocked_by"][0]["kind"], "safe-mode");
    // Drift shows the reason on its change line too.
    let drift = case.run(&["drift", "-f", "apps.yaml"]).await;
    assert_eq!(drift.code, 2);
    assert!(
        drift
            .stdout
            .contains("uninstall com.vendor.gamma 1.0.0 (not in the manifest)"),
        "{}",
        drift.stdout
    );
    // Out of safe mode, the header says nothing and the JSON has no `blocked_by`.
    case.sim.set_safe_mode(false);
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--format", "json"])
        .await;
    assert!(!output.stdout.contains("blocked_by"), "{}", output.stdout);
    assert!(case.mutating().is_empty());
}

/// docs/commands.md: a license change's `from`/`to` are the app's version when the license is
/// installed, its new version after an upgrade in the same plan; `license.from` is null without
/// an installed license.
#[tokio::test(flavor = "multi_thread")]
async fn a_license_change_shows_the_version_it_licenses() {
    let case = TestEnv::new().await;
    case.manifest(
        "  - key: com.vendor.alpha\n    version: 2.0.0\n    license:\n      env: TEST_LICENSE\n  - key: com.vendor.beta\n    version: 2.5.0\n    license:\n      env: TEST_LICENSE\n",
        "ignore",
    );
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--format", "json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    assert_no_secret(&output);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let licenses: Vec<(String, String, String, bool)> = json["instances"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|change| change["action"] == "license-set")
        .map(|change| {
            (
                change["key"].as_str().unwrap().to_string(),
                change["from"].as_str().unwrap().to_string(),
                change["to"].as_str().unwrap().to_string(),
                change["license"]["from"].is_null(),
            )
        })
        .collect();
    assert_eq!(
        licenses,
        [
            (
                "com.vendor.alpha".into(),
                "2.0.0".into(),
                "2.0.0".into(),
                false
            ),
            (
                "com.vendor.beta".into(),
                "2.5.0".into(),
                "2.5.0".into(),
                true
            ),
        ]
    );
}

/// `validate --instance` requires only those instances' secrets; an unknown name lists the names.
#[tokio::test(flavor = "multi_thread")]
async fn validate_takes_instance_like_plan() {
    let case = TestEnv::new().await;
    let text = format!(
        "{}  - name: jira-other\n    url: http://127.0.0.1:1/\n    product: jira\n    auth:\n      token_env: NOT_SET_ANYWHERE_11\n",
        manifest_text(&case.sim, "", "ignore")
            .split("apps:\n")
            .next()
            .unwrap()
    );
    std::fs::write(case.path("apps.yaml"), text).unwrap();
    let all = case.run(&["validate", "-f", "apps.yaml"]).await;
    assert_eq!(all.code, 1, "{}", all.snapshot());
    assert!(all.stderr.contains("NOT_SET_ANYWHERE_11"), "{}", all.stderr);
    let one = case
        .run(&["validate", "-f", "apps.yaml", "--instance", "jira-test"])
        .await;
    assert_eq!(one.code, 0, "{}", one.snapshot());
    let unknown = case
        .run(&["validate", "-f", "apps.yaml", "--instance", "nope"])
        .await;
    upmsync_snapshot!(case, unknown, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: manifest `apps.yaml` has 1 problem
    apps.yaml: no instance named `nope` (from `--instance`)
      hint: the manifest has: jira-test, jira-other
    ");
    assert!(case.sim.requests().is_empty(), "validate is offline");
}

/// docs/manifest.md: under `--skip-secrets` a license file may be missing (it is a secret), one
/// that is there is checked in full; without it, a missing one is an error.
#[tokio::test(flavor = "multi_thread")]
async fn skip_secrets_lets_a_license_file_be_missing_but_checks_one_that_is_there() {
    let case = TestEnv::new().await;
    case.manifest(
        "  - key: com.vendor.alpha\n    version: 1.0.0\n    license:\n      file: licenses/alpha.txt\n",
        "ignore",
    );
    let missing = case
        .run(&["validate", "-f", "apps.yaml", "--skip-secrets"])
        .await;
    assert_eq!(missing.code, 0, "{}", missing.snapshot());
    let required = case.run(&["validate", "-f", "apps.yaml"]).await;
    assert_eq!(required.code, 1, "{}", required.snapshot());
    assert!(
        required.stderr.contains("licenses/alpha.txt"),
        "{}",
        required.stderr
    );
    std::fs::create_dir_all(case.path("licenses")).unwrap();
    std::fs::write(case.path("licenses/alpha.txt"), "  \n").unwrap();
    let empty = case
        .run(&["validate", "-f", "apps.yaml", "--skip-secrets"])
        .await;
    assert_eq!(empty.code, 1, "{}", empty.snapshot());
    assert!(
        empty.stderr.contains("licenses/alpha.txt"),
        "{}",
        empty.stderr
    );
    std::fs::write(case.path("licenses/alpha.txt"), LICENSE).unwrap();
    let present = case
        .run(&["validate", "-f", "apps.yaml", "--skip-secrets"])
        .await;
    assert_eq!(present.code, 0, "{}", present.snapshot());
    assert_no_secret(&present);
}

/// docs/manifest.md: no whitespace inside a version (the Marketplace looks versions up by their
/// exact name); spaces around a version and a constraint's operators and commas are fine.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_with_a_space_inside_is_refused() {
    let case = TestEnv::new().await;
    case.manifest(
        "  - key: com.vendor.alpha\n    version: 1.0 .0\n  - key: com.vendor.beta\n    version: \">= 2.0, < 3\"\n  - key: com.vendor.delta\n    version: \"~ 1 .0\"\n",
        "ignore",
    );
    let output = case
        .run(&["validate", "-f", "apps.yaml", "--skip-secrets"])
        .await;
    assert_eq!(output.code, 1, "{}", output.snapshot());
    assert!(
        output.stderr.contains("has 2 problems"),
        "{}",
        output.stderr
    );
    assert!(output.stderr.contains("`1.0 .0`"), "{}", output.stderr);
    assert!(output.stderr.contains("`~ 1 .0`"), "{}", output.stderr);
    assert!(
        !output.stderr.contains("`>= 2.0, < 3`"),
        "{}",
        output.stderr
    );
    case.manifest(
        "  - key: com.vendor.alpha\n    version: \" 1.0.0 \"\n  - key: com.vendor.beta\n    version: \">= 2.0, < 3\"\n",
        "ignore",
    );
    let output = case
        .run(&["validate", "-f", "apps.yaml", "--skip-secrets"])
        .await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
}

#[tokio::test(flavor = "multi_thread")]
async fn completions_and_the_man_page_print_to_stdout() {
    let case = TestEnv::new().await;
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = case.run(&["completions", shell]).await;
        assert_eq!(output.code, 0, "{shell}: {}", output.snapshot());
        assert!(output.stderr.is_empty(), "{shell}: {}", output.stderr);
        for command in ["validate", "plan", "apply", "drift", "lock", "outdated"] {
            assert!(output.stdout.contains(command), "{shell} lacks {command}");
        }
        // A flag of one command, so the script knows more than the command names.
        assert!(output.stdout.contains("detailed-exitcode"), "{shell}");
    }
    let unknown = case.run(&["completions", "tcsh"]).await;
    assert_eq!(unknown.code, 1, "{}", unknown.snapshot());
    let man = case.run(&["man"]).await;
    assert_eq!(man.code, 0, "{}", man.snapshot());
    assert!(man.stdout.contains(".TH upmsync 1"), "{}", man.stdout);
    assert!(man.stdout.contains(".SH NAME"), "{}", man.stdout);
    assert!(man.stdout.contains("validate"), "{}", man.stdout);
}

/// Network flags only on the commands that talk to servers, `--task-timeout` only on apply, an
/// example in every `--help`; the old place before the command is a usage error (exit 1).
#[tokio::test(flavor = "multi_thread")]
async fn flags_show_only_where_they_have_an_effect() {
    let case = TestEnv::new().await;
    let help = |command: &'static str| {
        let case = &case;
        async move { case.run(&[command, "--help"]).await.stdout }
    };
    let plan = help("plan").await;
    assert!(plan.contains("--retries") && plan.contains("--max-requests-per-host"));
    assert!(!plan.contains("--task-timeout"), "{plan}");
    assert!(plan.contains("Examples:\n  upmsync plan"), "{plan}");
    let apply = help("apply").await;
    assert!(apply.contains("--task-timeout") && apply.contains("--retry-max-seconds"));
    for command in ["validate", "man", "completions"] {
        let text = help(command).await;
        assert!(!text.contains("--retries"), "{command}: {text}");
        assert!(
            text.contains("--verbose") && text.contains("--quiet"),
            "{text}"
        );
        assert!(
            text.contains("upmsync "),
            "{command} has no example: {text}"
        );
    }
    let old = case.run(&["--retries", "5", "plan"]).await;
    assert_eq!(old.code, 1, "{}", old.snapshot());
    assert!(old.stderr.contains("plan --retries"), "{}", old.stderr);
}
