//! The printer from outside: `--quiet` leaves only data, warnings and errors; warnings a user must
//! read (a retry) reach stderr as `warning:` lines without `-v`; an escaping error prints its
//! hints once, after the message.

use crate::support::*;
use upmsync_sim::{Fault, FaultPlan, FaultRule, SimServer};

const APPS: &str = "  - key: com.vendor.alpha\n    version: 2.0.0\n";

/// The first read of the plugin list answers 503: upmsync retries it after the wait asked for.
fn plugin_list_fails_once() -> FaultPlan {
    FaultPlan {
        seed: Some(1),
        rules: vec![FaultRule::new(Fault::Status {
            status: 503,
            retry_after: Some(0),
        })
        .server(SimServer::Upm)
        .method("GET")
        .path("/rest/plugins/1.0/$")
        .first(1)],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_reaches_stderr_as_a_warning_without_verbose() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    case.sim.set_faults(plugin_list_fails_once());
    let output = case.run(&["plan", "-f", "apps.yaml"]).await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    let warnings: Vec<&str> = output
        .stderr
        .lines()
        .filter(|line| line.starts_with("warning: instance `jira-test`: retrying `GET "))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", output.stderr);
    assert!(warnings[0].contains("503"), "{}", output.stderr);
    assert!(!output.stderr.contains("WARN"), "{}", output.stderr);
    assert!(
        !output.stdout.contains("warning: retrying"),
        "{}",
        output.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_leaves_only_data_warnings_and_errors() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");

    // Status lines go: validate's summary, plan's "Saved the plan".
    let loud = case.run(&["validate", "-f", "apps.yaml"]).await;
    assert!(loud.stderr.contains("is valid"), "{}", loud.snapshot());
    let quiet = case.run(&["validate", "-q", "-f", "apps.yaml"]).await;
    assert_eq!(
        (quiet.code, quiet.stderr.as_str()),
        (0, ""),
        "{}",
        quiet.snapshot()
    );

    let loud = case
        .run(&["plan", "-f", "apps.yaml", "--out", "loud.plan"])
        .await;
    assert!(
        loud.stderr.contains("Saved the plan"),
        "{}",
        loud.snapshot()
    );
    case.sim.set_faults(plugin_list_fails_once());
    let quiet = case
        .run(&["--quiet", "plan", "-f", "apps.yaml", "--out", "quiet.plan"])
        .await;
    assert_eq!(quiet.code, 0, "{}", quiet.snapshot());
    // The data is the same; of stderr only the warning is left.
    assert_eq!(quiet.stdout, loud.stdout);
    assert!(!quiet.stdout.is_empty());
    for line in quiet.stderr.lines() {
        assert!(line.starts_with("warning: "), "{}", quiet.snapshot());
    }
    assert!(
        quiet
            .stderr
            .contains("warning: instance `jira-test`: retrying"),
        "{}",
        quiet.snapshot()
    );

    // Errors stay.
    let missing = case.run(&["plan", "-q", "-f", "missing.yaml"]).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.starts_with("error: "),
        "{}",
        missing.snapshot()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_escaping_error_prints_its_hint_once_after_the_message() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let output = case
        .run(&[
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--report",
            "no-such-folder/report.json",
        ])
        .await;
    assert_eq!(output.code, 1, "{}", output.snapshot());
    let lines: Vec<&str> = output.stderr.lines().collect();
    assert!(
        lines[0].starts_with("error: cannot write the report `no-such-folder/report.json`"),
        "{}",
        output.stderr
    );
    assert_eq!(
        output.stderr.matches("hint: ").count(),
        1,
        "{}",
        output.stderr
    );
    assert_eq!(
        lines.last().copied(),
        Some("hint: name a file in a folder you can write to"),
        "{}",
        output.stderr
    );
    assert!(case.mutating().is_empty());
}
