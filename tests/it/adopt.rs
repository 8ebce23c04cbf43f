//! Adopting instances and preparing a product upgrade, through the real binary: `upmsync import`
//! prints a manifest that plans no change against the instances it was read from, and `upmsync
//! outdated --product-version` tells which apps must change before the product upgrade.

use upmsync_sim::{SeedCompatibility, SeedPlugin, Sim};

use crate::support::*;
use crate::upmsync_snapshot;

/// The second instance's license, which must never be printed either.
const LICENSE_B: &str = "BETA-INSTANCE-LICENSE-SECRET";

/// Asserts that no license text or credential appears in `output`.
fn assert_no_secret(output: &CommandOutput) {
    let all = format!("{}{}", output.stdout, output.stderr);
    for secret in [LICENSE, LICENSE_B, "ALPHA-OLD-LICENSE", "YWRtaW46YWRtaW4"] {
        assert!(!all.contains(secret), "`{secret}` leaked:\n{all}");
    }
}

/// A manifest with the simulator's Marketplace and `instances` (YAML of the list's entries), no
/// apps at all.
fn instances_manifest(env: &TestEnv, instances: &str) -> String {
    format!(
        "marketplace:\n  url: {}\ninstances:\n{instances}",
        env.sim.marketplace_url()
    )
}

/// One instance entry at `url` with the test credentials.
fn instance_entry(name: &str, url: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    url: {url}\n    product: jira\n    auth:\n      username_env: TEST_JIRA_USER\n      password_env: TEST_JIRA_PASSWORD\n{extra}"
    )
}

/// The first instance: [`small_jira`] (alpha licensed, beta using licensing without a license,
/// gamma in-house, a system app) with a disabled Marketplace app and an in-house app whose
/// version YAML would read as a number.
fn jira_a() -> upmsync_sim::SimConfig {
    small_jira()
        .plugin(SeedPlugin::user("com.vendor.delta", "Delta", "1.0.0").disabled())
        .plugin(SeedPlugin::user(
            "com.example.tools",
            "Tools: in-house\u{202e}",
            "1.10",
        ))
}

/// The second instance: alpha as on the first but licensed here too, beta at another version, and
/// an app of its own.
async fn jira_b() -> Sim {
    start(
        upmsync_sim::SimConfig::empty()
            .plugin(SeedPlugin::user("com.vendor.alpha", "Alpha", "1.0.0").license(LICENSE_B))
            .plugin(SeedPlugin::user("com.vendor.beta", "Beta", "2.0.0"))
            .plugin(SeedPlugin::user("com.vendor.delta", "Delta", "0.9.0")),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn import_pins_every_user_app_and_planning_the_result_changes_nothing() {
    let case = TestEnv::with(jira_a()).await;
    let b = jira_b().await;
    // `unmanaged: uninstall` on the first: an app the import forgot would be planned for removal.
    let manifest = instances_manifest(
        &case,
        &format!(
            "{}{}",
            instance_entry(
                "jira-a",
                case.sim.upm_url().as_str(),
                "    unmanaged: uninstall\n"
            ),
            instance_entry("jira-b", b.upm_url().as_str(), "    unmanaged: report\n")
        ),
    );
    std::fs::write(case.path("apps.yaml"), manifest).unwrap();

    let output = case.run(&["import", "-f", "apps.yaml"]).await;
    assert_no_secret(&output);
    let text = case
        .filter(&output.snapshot())
        .replace(b.upm_url().as_str(), "[SIM-B]/");
    insta::assert_snapshot!(text, @r#"
    exit: 0
    ----- stdout -----
    # Written by `upmsync import` from apps.yaml: every user-installed app pinned at its installed
    # version and enabled state. `upmsync plan` against the same instances shows no changes.
    # Licenses are never written: licensed apps are named in comments.
    marketplace:
      url: [MARKETPLACE]/
    instances:
      - name: jira-a
        url: [SIM]/
        product: jira
        auth:
          username_env: TEST_JIRA_USER
          password_env: TEST_JIRA_PASSWORD
        unmanaged: uninstall
        apps:
          # Tools: in-house
          # in-house: not on the Marketplace; add `source: {path: ...}` or `source: {url: ...}` before it must be installed again (or locked)
          - key: com.example.tools
            version: "1.10"
          # Beta
          - key: com.vendor.beta
            version: 2.5.0
          # Delta
          - key: com.vendor.delta
            version: 1.0.0
            enabled: false
          # Gamma
          # in-house: not on the Marketplace; add `source: {path: ...}` or `source: {url: ...}` before it must be installed again (or locked)
          - key: com.vendor.gamma
            version: 1.0.0
      - name: jira-b
        url: [SIM-B]/
        product: jira
        auth:
          username_env: TEST_JIRA_USER
          password_env: TEST_JIRA_PASSWORD
        unmanaged: report
        apps:
          # Beta
          - key: com.vendor.beta
            version: 2.0.0
          # Delta
          - key: com.vendor.delta
            version: 0.9.0
    apps:
      # Alpha
      # licensed: manage it with `license: {file: ...}` or `license: {env: ...}`
      - key: com.vendor.alpha
        version: 1.0.0
    ----- stderr -----
    "#);

    // The printed manifest loads, and planning it against the same instances changes nothing.
    std::fs::write(case.path("imported.yaml"), &output.stdout).unwrap();
    let plan = case
        .run(&[
            "plan",
            "-f",
            "imported.yaml",
            "--detailed-exitcode",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
    let json: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    for instance in json["instances"].as_array().unwrap() {
        assert_eq!(instance["changes"], serde_json::json!([]), "{instance}");
    }
    let drift = case.run(&["drift", "-f", "imported.yaml"]).await;
    assert_eq!(drift.code, 0, "{}\n{}", drift.stdout, drift.stderr);
    assert!(case.mutating().is_empty() && mutating(&b).is_empty());

    // One instance of the manifest: only it is read and written.
    let one = case
        .run(&["import", "-f", "apps.yaml", "--instance", "jira-b"])
        .await;
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(!one.stdout.contains("jira-a") && one.stdout.contains("name: jira-b"));
    std::fs::write(case.path("one.yaml"), &one.stdout).unwrap();
    let plan = case
        .run(&["plan", "-f", "one.yaml", "--detailed-exitcode"])
        .await;
    assert_eq!(plan.code, 0, "{}\n{}", plan.stdout, plan.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn import_fails_without_output_when_an_instance_cannot_be_read() {
    let case = TestEnv::new().await;
    let manifest = instances_manifest(
        &case,
        &instance_entry("jira-gone", "http://127.0.0.1:9/jira", ""),
    );
    std::fs::write(case.path("apps.yaml"), manifest).unwrap();
    let output = case.run(&["import", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert_eq!(output.stdout, "");
    assert!(output.stderr.contains("jira-gone"), "{}", output.stderr);
}

/// [`small_jira`] with delta installed, and compatibility ranges around Jira 10.3.0 (build
/// 10030000 on the simulated Marketplace): alpha 1.0.0 stops at 9.12, 1.1.0 and 2.0.0 reach 10.3;
/// beta keeps the wide default; no delta version reaches 10.3; gamma is in-house.
fn upgrade_jira() -> upmsync_sim::SimConfig {
    let up_to_9 = SeedCompatibility {
        min_build: 800_000,
        min_version: "8.0.0".into(),
        max_build: 9_120_015,
        max_version: "9.12.15".into(),
    };
    small_jira()
        .plugin(SeedPlugin::user("com.vendor.delta", "Delta", "1.0.0"))
        .version_compatibility("com.vendor.alpha", 100_001, up_to_9.clone())
        .version_compatibility("com.vendor.delta", 300_001, up_to_9.clone())
        .version_compatibility("com.vendor.delta", 300_002, up_to_9)
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_product_version_tells_which_apps_must_change() {
    let case = TestEnv::with(upgrade_jira()).await;
    case.manifest("  - key: com.vendor.beta\n    version: 2.5.0\n", "ignore");

    let output = case
        .run(&["outdated", "-f", "apps.yaml", "--product-version", "10.3.0"])
        .await;
    assert_no_secret(&output);
    upmsync_snapshot!(case, output, @r"
    exit: 2
    ----- stdout -----
    Instance jira-test (jira 9.12.15 build 9120015 -> 10.3.0 build 10030000)
      app               installed  status                 lowest compatible  newest compatible  note
      com.vendor.alpha  1.0.0      incompatible           1.1.0              2.0.0              not in the manifest
      com.vendor.beta   2.5.0      compatible             -                  -
      com.vendor.delta  1.0.0      no compatible version  -                  -                  not in the manifest
      com.vendor.gamma  1.0.0      unknown                -                  -                  in-house: not on the Marketplace

    2 of 4 apps must change before the upgrade to 10.3.0; 1 unknown (not on the Marketplace: check with their owners).
    ----- stderr -----
    ");

    let output = case
        .run(&[
            "outdated",
            "-f",
            "apps.yaml",
            "--product-version",
            "10.3.0",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(output.code, 2, "{}", output.stderr);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["product_version"], "10.3.0");
    let instance = &json["instances"][0];
    assert_eq!(instance["target"]["build"], 10_030_000);
    assert_eq!(instance["current"]["build"], 9_120_015);
    let app = |key: &str| {
        instance["apps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|app| app["key"] == key)
            .unwrap()
            .clone()
    };
    assert_eq!(app("com.vendor.alpha")["status"], "incompatible");
    assert_eq!(app("com.vendor.alpha")["lowest_compatible"], "1.1.0");
    assert_eq!(app("com.vendor.alpha")["newest_compatible"], "2.0.0");
    assert_eq!(app("com.vendor.beta")["status"], "compatible");
    assert_eq!(app("com.vendor.beta")["managed"], true);
    assert_eq!(app("com.vendor.delta")["status"], "no_compatible_version");
    assert_eq!(app("com.vendor.gamma")["status"], "unknown");
    assert!(instance["apps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|app| app["key"] != "com.atlassian.jira.bundled"));

    // The version the instance runs now: every app fits, exit 0.
    let output = case
        .run(&[
            "outdated",
            "-f",
            "apps.yaml",
            "--product-version",
            "9.12.15",
        ])
        .await;
    assert_eq!(output.code, 0, "{}\n{}", output.stdout, output.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_product_version_names_an_unknown_version_and_its_product() {
    let case = TestEnv::new().await;
    case.manifest("", "ignore");
    let output = case
        .run(&["outdated", "-f", "apps.yaml", "--product-version", "99.0.0"])
        .await;
    upmsync_snapshot!(case, output, @r"
    exit: 1
    ----- stdout -----
    Instance jira-test (jira 9.12.15 build 9120015 -> 99.0.0)
      error: jira has no version `99.0.0` on the Marketplace at [MARKETPLACE]/ (details on stderr)
    ----- stderr -----
    error: instance `jira-test`: jira has no version `99.0.0` on the Marketplace at [MARKETPLACE]/
    hint: give a released version as the product's release notes name it (`10.3.0`), and check `product` in the manifest
    ");
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_lists_an_in_house_app_pinned_without_a_source() {
    let case = TestEnv::new().await;
    // As `import` writes it: gamma is not on the Marketplace.
    case.manifest(
        "  - key: com.vendor.gamma\n    version: 1.0.0\n  - key: com.vendor.beta\n    version: 2.5.0\n",
        "ignore",
    );
    let output = case.run(&["outdated", "-f", "apps.yaml"]).await;
    upmsync_snapshot!(case, output, @r"
    exit: 0
    ----- stdout -----
    Instance jira-test (9.12.15 build 9120015)
      app               installed  requested  wanted  newest compatible
      com.vendor.beta   2.5.0      2.5.0      2.5.0   2.5.0
      com.vendor.gamma  1.0.0      1.0.0      1.0.0   - (in-house)
    ----- stderr -----
    ");
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_product_version_looks_the_version_up_once_per_product() {
    let case = TestEnv::new().await;
    let b = jira_b().await;
    // A Bamboo of its own: upmsync refuses a server of another product than the manifest's.
    let bamboo = start(
        upmsync_sim::SimConfig::empty()
            .product(upmsync_sim::Product::Bamboo)
            .plugin(SeedPlugin::user("com.vendor.beta", "Beta", "2.0.0")),
    )
    .await;
    let manifest = instances_manifest(
        &case,
        &format!(
            "{}{}{}",
            instance_entry("jira-one", case.sim.upm_url().as_str(), ""),
            instance_entry("jira-two", b.upm_url().as_str(), ""),
            instance_entry("bamboo", bamboo.upm_url().as_str(), "")
                .replace("product: jira", "product: bamboo"),
        ),
    );
    std::fs::write(case.path("apps.yaml"), manifest).unwrap();
    let output = case
        .run(&[
            "outdated",
            "-f",
            "apps.yaml",
            "--product-version",
            "10.0.0",
            "--format",
            "json",
        ])
        .await;
    assert_no_secret(&output);
    let json: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    let targets: Vec<(&str, u64)> = json["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| {
            (
                instance["product"].as_str().unwrap(),
                instance["target"]["build"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            ("jira", 10_000_000),
            ("jira", 10_000_000),
            ("bamboo", 100_007)
        ]
    );
    let mut lookups: Vec<String> = case
        .sim
        .requests()
        .iter()
        .filter(|request| request.path.starts_with("/rest/2/applications/"))
        .map(|request| request.path.clone())
        .collect();
    lookups.sort();
    assert_eq!(
        lookups,
        [
            "/rest/2/applications/bamboo/versions/name/10.0.0",
            "/rest/2/applications/jira/versions/name/10.0.0"
        ],
        "one lookup per product"
    );
    // The simulated apps are Jira apps: on Bamboo none of their versions fits, so exit 2.
    assert_eq!(output.code, 2, "{}", output.stderr);
}
