//! `--format markdown` of plan, drift and outdated against the simulator, and `upmsync show`
//! rendering a saved plan with every server stopped and no manifest.

use crate::support::{run_binary, TestEnv, LICENSE, PASSWORD};
use crate::upmsync_snapshot;

/// An upgrade with a license change, an uninstall and a disable; `unmanaged: report` lists delta.
const APPS: &str = "  - key: com.vendor.alpha\n    version: 2.0.0\n    license:\n      env: TEST_LICENSE\n  - key: com.vendor.gamma\n    state: absent\n  - key: com.vendor.beta\n    version: 2.5.0\n    enabled: false\n";

/// The table rows of a Markdown document (lines that start with `| ` and are not a header).
fn rows(markdown: &str) -> Vec<&str> {
    markdown
        .lines()
        .filter(|line| {
            line.starts_with("| ") && !line.starts_with("| |") && !line.starts_with("| app")
        })
        .collect()
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(LICENSE), "the license text: {text}");
    assert!(
        !text.contains("YWRtaW46YWRtaW4"),
        "the basic-auth header: {text}"
    );
    assert!(
        !text.contains(&format!(":{PASSWORD}@")),
        "credentials in a URL: {text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_and_drift_in_markdown_have_a_summary_and_a_table_without_secrets() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let output = case
        .run(&[
            "plan",
            "-f",
            "apps.yaml",
            "--format",
            "markdown",
            "--detailed-exitcode",
        ])
        .await;
    assert_no_secret(&output.stdout);
    assert_no_secret(&output.stderr);
    upmsync_snapshot!(case, output, @r"
    exit: 2
    ----- stdout -----
    **upmsync plan:** 0 to add, 3 to change, 1 to remove.

    #### `jira-test` · `[SIM]/` · product `9.12.15` build 9120015

    | | action | app | from → to | notes |
    |---|---|---|---|---|
    | - | uninstall | `com.vendor.gamma` `Gamma` | `1.0.0` → — |  |
    | ~ | upgrade | `com.vendor.alpha` `Alpha` | `1.0.0` → `2.0.0` |  |
    | ~ | license-set | `com.vendor.alpha` `Alpha` | license `sha256:5f88d32c426b` → `sha256:5bda58d8c66f` | license shown by hash |
    | ~ | disable | `com.vendor.beta` `Beta` | `2.5.0`: enabled → disabled |  |

    ----- stderr -----
    ");

    let output = case
        .run(&["drift", "-f", "apps.yaml", "--format", "markdown"])
        .await;
    assert_no_secret(&output.stdout);
    upmsync_snapshot!(case, output, @r"
    exit: 2
    ----- stdout -----
    **upmsync drift:** drift on 1 of 1 instance (0 to add, 3 to change, 1 to remove).

    #### `jira-test` · `[SIM]/` · product `9.12.15` build 9120015 · **drift**

    | | action | app | from → to | notes |
    |---|---|---|---|---|
    | - | uninstall | `com.vendor.gamma` `Gamma` | `1.0.0` → — |  |
    | ~ | upgrade | `com.vendor.alpha` `Alpha` | `1.0.0` → `2.0.0` |  |
    | ~ | license-set | `com.vendor.alpha` `Alpha` | license `sha256:5f88d32c426b` → `sha256:5bda58d8c66f` | license shown by hash |
    | ~ | disable | `com.vendor.beta` `Beta` | `2.5.0`: enabled → disabled |  |

    ----- stderr -----
    ");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_instance_shows_in_the_markdown_and_the_exit_code() {
    let case = TestEnv::new().await;
    case.manifest_at("http://127.0.0.1:1/jira", "", "ignore");
    for command in ["plan", "drift"] {
        let output = case
            .run(&[command, "-f", "apps.yaml", "--format", "markdown"])
            .await;
        assert_eq!(output.code, 1, "{}", output.stderr);
        let first = output.stdout.lines().next().unwrap_or_default();
        assert!(
            first.contains("**1 of 1 instance failed:** `jira-test`"),
            "{command}: {first}"
        );
        assert!(
            output
                .stdout
                .contains("#### `jira-test` · `http://127.0.0.1:1/jira/` · **failed**"),
            "{}",
            output.stdout
        );
        assert!(output.stdout.contains("```text\n"), "{}", output.stdout);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_in_markdown() {
    let case = TestEnv::new().await;
    case.manifest(
        "  - key: com.vendor.alpha\n    version: 1.1.0\n  - key: com.vendor.beta\n    version: latest\n",
        "ignore",
    );
    let output = case
        .run(&["outdated", "-f", "apps.yaml", "--format", "markdown"])
        .await;
    upmsync_snapshot!(case, output, @r"
    exit: 0
    ----- stdout -----
    **upmsync outdated:** 1 of 2 apps not at the newest compatible version.

    #### `jira-test` · product `9.12.15` build 9120015

    | app | installed | requested | wanted | newest compatible | notes |
    |---|---|---|---|---|---|
    | `com.vendor.alpha` | `1.0.0` | `1.1.0` | `1.1.0` | `2.0.0` | not the newest compatible |
    | `com.vendor.beta` | `2.5.0` | `latest` | `2.5.0` | `2.5.0` |  |

    ----- stderr -----
    ");
}

/// `show` reads only the plan file: the simulator is stopped and the manifest is gone, and it
/// still renders, the same changes as the plan it was saved from.
#[tokio::test(flavor = "multi_thread")]
async fn show_renders_a_saved_plan_without_the_manifest_or_any_server() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "report");
    let output = case
        .run(&[
            "plan",
            "-f",
            "apps.yaml",
            "--out",
            "plan.json",
            "--format",
            "markdown",
        ])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let planned = output.stdout;

    // The manifest names the simulator's port, so its hash differs from run to run.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.path("plan.json")).unwrap()).unwrap();
    let manifest_hash = saved["manifest_sha256"].as_str().unwrap()[..12].to_string();
    let stable = |text: &str| text.replace(&manifest_hash, "[MANIFEST-SHA]");

    let TestEnv { sim, folder } = case;
    sim.shutdown().await;
    std::fs::remove_file(folder.path().join("apps.yaml")).unwrap();
    // Not even the variables the manifest named.
    let show = |format: &'static str| {
        let dir = folder.path().to_path_buf();
        async move {
            let mut command = crate::support::command(&dir);
            command
                .args(["show", "plan.json", "--format", format])
                .env_remove("TEST_LICENSE")
                .env_remove("TEST_JIRA_PASSWORD");
            crate::support::finish(crate::support::spawn(command)).await
        }
    };

    let markdown = show("markdown").await;
    assert_eq!(markdown.code, 0, "{}", markdown.stderr);
    assert_eq!(rows(&markdown.stdout), rows(&planned).into_iter().filter(|row| !row.starts_with("| ? ")).collect::<Vec<_>>(), "the saved plan's rows are the plan's (without the unmanaged apps a saved plan does not hold)");
    assert_no_secret(&markdown.stdout);
    insta::assert_snapshot!(stable(&markdown.stdout), @r"
    **upmsync plan (saved):** 0 to add, 3 to change, 1 to remove.

    Saved plan of `apps.yaml` (sha256 `[MANIFEST-SHA]`). A saved plan holds the changes only: apps not in the manifest (`unmanaged: report`) and changes waiting for a restart are not in it; `upmsync plan` lists them.

    #### `jira-test`

    | | action | app | from → to | notes |
    |---|---|---|---|---|
    | - | uninstall | `com.vendor.gamma` `Gamma` | `1.0.0` → — |  |
    | ~ | upgrade | `com.vendor.alpha` `Alpha` | `1.0.0` → `2.0.0` |  |
    | ~ | license-set | `com.vendor.alpha` `Alpha` | license `sha256:5f88d32c426b` → `sha256:5bda58d8c66f` | license shown by hash |
    | ~ | disable | `com.vendor.beta` `Beta` | `2.5.0`: enabled → disabled |  |
    ");

    let text = show("text").await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_no_secret(&text.stdout);
    insta::assert_snapshot!(stable(&text.stdout), @r"
    Saved plan `plan.json`, made from the manifest `apps.yaml` (sha256 [MANIFEST-SHA], no lock)

    Instance jira-test
      uninstall com.vendor.gamma 1.0.0
      upgrade com.vendor.alpha 1.0.0 -> 2.0.0
      license-set com.vendor.alpha sha256:5f88d32c426b -> sha256:5bda58d8c66f
      disable com.vendor.beta

      Plan for jira-test: 1 uninstall, 1 upgrade, 1 license-set, 1 disable.

    Apply exactly this plan with `upmsync apply plan.json`: it checks first that the manifest, lock and installed apps are still those the plan was made from.
    A saved plan holds the changes only: apps not in the manifest (`unmanaged: report`) and changes waiting for a restart are not in it; `upmsync plan` lists them.
    ");

    let json = show("json").await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    assert_no_secret(&json.stdout);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(value["format_version"], 1);
    assert_eq!(value["saved_plan"]["manifest"], "apps.yaml");
    let changes = value["instances"][0]["changes"]
        .as_array()
        .expect("changes");
    let actions: Vec<&str> = changes
        .iter()
        .filter_map(|change| change["action"].as_str())
        .collect();
    assert_eq!(actions, ["uninstall", "upgrade", "license-set", "disable"]);
    assert!(changes[2]["license"]["to"]
        .as_str()
        .is_some_and(|hash| hash.starts_with("sha256:")));
}

#[tokio::test(flavor = "multi_thread")]
async fn show_names_a_file_that_is_not_a_saved_plan() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let output = case
        .run(&["plan", "-f", "apps.yaml", "--out", "plan.json"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let saved = std::fs::read(case.path("plan.json")).unwrap();
    std::fs::write(case.path("truncated.json"), &saved[..saved.len() / 2]).unwrap();
    std::fs::write(
        case.path("corrupt.json"),
        b"{\"saved_plan_version\": 1,\x00}",
    )
    .unwrap();
    let json = case
        .run(&["plan", "-f", "apps.yaml", "--format", "json"])
        .await;
    std::fs::write(case.path("foreign.json"), json.stdout).unwrap();

    let mut shown = String::new();
    for file in ["corrupt.json", "foreign.json", "missing.json"] {
        let output = run_binary(&["show", file], case.dir(), &[]).await;
        assert_eq!(output.code, 1, "{file}");
        assert!(output.stdout.is_empty(), "{file}: {}", output.stdout);
        assert!(
            output.stderr.contains(&format!("`{file}`")),
            "{}",
            output.stderr
        );
        shown.push_str(&output.stderr);
    }
    // Where the text ends depends on the length of the simulator's addresses in it.
    let output = run_binary(&["show", "truncated.json"], case.dir(), &[]).await;
    assert_eq!(output.code, 1);
    assert!(
        output
            .stderr
            .starts_with("error: `truncated.json` is not an upmsync plan file: EOF while parsing"),
        "{}",
        output.stderr
    );
    insta::assert_snapshot!(case.filter(&shown), @r"
    error: `corrupt.json` is not an upmsync plan file: line 1, column 26: a NUL byte (U+0000) is not allowed
    error: `foreign.json` is not an upmsync plan file: unknown field `format_version`, expected one of `saved_plan_version`, `manifest`, `manifest_sha256`, `lock_sha256`, `instances`
    error: failed to read the plan file `missing.json`
    Caused by: No such file or directory (os error 2)
    ");
}
