//! At a terminal and off it (issue 11, docs/terminal.md): plain lines without control characters
//! off a terminal, each change once while it runs and once in the summary, colour only where
//! `--color` allows and never in JSON or files, `--quiet`, and the plan shown on stderr before the
//! question when stdout is not a terminal.

use std::io::Write;
use std::process::Stdio;

use crate::support::{command, finish, CommandOutput, TestEnv, LICENSE};

/// An upgrade with a licence, an uninstall and a disable; alpha is uploaded, so upmsync downloads it.
const APPS: &str = "  - key: com.vendor.alpha\n    version: 2.0.0\n    install: upload\n    license:\n      env: TEST_LICENSE\n  - key: com.vendor.gamma\n    state: absent\n  - key: com.vendor.beta\n    version: 2.5.0\n    enabled: false\n";

/// The change lines of [`APPS`], as `render::change_line` writes them.
const CHANGES: [&str; 4] = [
    "uninstall com.vendor.gamma 1.0.0",
    "upgrade com.vendor.alpha 1.0.0 -> 2.0.0",
    "license-set com.vendor.alpha",
    "disable com.vendor.beta",
];

const ESC: char = '\u{1b}';

fn assert_no_secret(output: &CommandOutput) {
    let all = format!("{}{}", output.stdout, output.stderr);
    assert!(!all.contains(LICENSE), "license text leaked:\n{all}");
    assert!(
        !all.contains("YWRtaW46YWRtaW4"),
        "credentials leaked:\n{all}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn off_a_terminal_apply_prints_plain_lines_and_each_change_once_while_it_runs() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let output = case
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    // Off a terminal: no cursor movement, no colour, nothing but plain lines.
    assert!(!output.stdout.contains(ESC), "{:?}", output.stdout);
    assert!(!output.stderr.contains(ESC), "{:?}", output.stderr);
    assert!(!output.stderr.contains('\r'), "{:?}", output.stderr);
    // Each change: once in the plan and once in the summary (stdout), once while it runs
    // (stderr), with its position.
    for (position, change) in CHANGES.iter().enumerate() {
        assert_eq!(
            output.stderr.matches(change).count(),
            1,
            "{change}: {}",
            output.stderr
        );
        assert!(
            output.stderr.contains(&format!("jira-test: {change}")),
            "{}",
            output.stderr
        );
        assert!(
            output.stderr.contains(&format!("({}/4)...", position + 1)),
            "{}",
            output.stderr
        );
        assert_eq!(
            output
                .stdout
                .matches(&format!("done        {change}"))
                .count(),
            1,
            "{}",
            output.stdout
        );
    }
    // The download of the artifact it uploads runs beside the changes: off a terminal it is not
    // announced (its line would fall anywhere among theirs).
    assert!(!output.stderr.contains("ownloading"), "{}", output.stderr);
    assert_no_secret(&output);
    case.manifest(APPS, "ignore");
    let again = case
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    assert_eq!(again.code, 0, "{}", again.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn quiet_leaves_only_data_warnings_and_errors_for_every_command() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    for args in [
        &["validate", "-f", "apps.yaml"][..],
        &["plan", "-f", "apps.yaml"],
        &["drift", "-f", "apps.yaml"],
        &["outdated", "-f", "apps.yaml"],
        &["lock", "-f", "apps.yaml"],
        &["apply", "-f", "apps.yaml", "--dry-run"],
        &["apply", "-f", "apps.yaml", "--auto-approve"],
    ] {
        let mut quiet = args.to_vec();
        quiet.push("--quiet");
        let output = case.run(&quiet).await;
        assert!(
            output.code == 0 || output.code == 2,
            "{args:?}: {}",
            output.stderr
        );
        assert_eq!(output.stderr, "", "{args:?} printed more than data");
        assert!(!output.stdout.contains(ESC), "{args:?}");
    }
    std::fs::remove_file(case.path("apps.lock")).unwrap();
    // A warning stays: the instance's TLS check is off.
    let manifest = std::fs::read_to_string(case.path("apps.yaml")).unwrap();
    std::fs::write(
        case.path("apps.yaml"),
        manifest.replace(
            "    product: jira\n",
            "    product: jira\n    insecure_skip_tls_verify: true\n",
        ),
    )
    .unwrap();
    let output = case.run(&["plan", "-f", "apps.yaml", "--quiet"]).await;
    assert!(output.stderr.starts_with("warning: "), "{}", output.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn color_always_colours_text_on_both_streams_but_never_json_or_files() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let green = anstyle::AnsiColor::Green.on_default();
    let red = anstyle::AnsiColor::Red.on_default();

    let plain = case.run(&["plan", "-f", "apps.yaml"]).await;
    assert!(
        !plain.stdout.contains(ESC),
        "auto, off a terminal: no colour"
    );
    // `--color always` wins over NO_COLOR; a plan's lines keep their words.
    let coloured = case
        .run_env(
            &[
                "plan",
                "-f",
                "apps.yaml",
                "--color",
                "always",
                "--out",
                "plan.json",
            ],
            &[("NO_COLOR", "1")],
        )
        .await;
    assert_eq!(coloured.code, 0, "{}", coloured.stderr);
    assert!(
        coloured.stdout.contains(&format!(
            "  {red}- com.vendor.gamma  Gamma  (uninstall){red:#}"
        )),
        "{:?}",
        coloured.stdout
    );
    assert!(
        coloured
            .stdout
            .contains(&format!("{green}+ version: 2.0.0{green:#}")),
        "{:?}",
        coloured.stdout
    );
    assert_eq!(strip(&coloured.stdout), plain.stdout);
    let saved = std::fs::read_to_string(case.path("plan.json")).unwrap();
    assert!(!saved.contains(ESC), "a saved plan has no colour");

    let json = case
        .run(&[
            "plan",
            "-f",
            "apps.yaml",
            "--format",
            "json",
            "--color",
            "always",
        ])
        .await;
    assert!(!json.stdout.contains(ESC), "JSON has no colour");
    serde_json::from_str::<serde_json::Value>(&json.stdout).unwrap();

    let never = case
        .run(&["plan", "-f", "missing.yaml", "--color", "never"])
        .await;
    assert!(never.stderr.starts_with("error: "), "{}", never.stderr);
    let error = case
        .run(&["plan", "-f", "missing.yaml", "--color", "always"])
        .await;
    let bold_red = red.bold();
    assert!(
        error
            .stderr
            .starts_with(&format!("{bold_red}error:{bold_red:#} ")),
        "{:?}",
        error.stderr
    );
    assert_eq!(strip(&error.stderr), never.stderr);

    let applied = case
        .run(&[
            "apply",
            "-f",
            "apps.yaml",
            "--auto-approve",
            "--color",
            "always",
            "--report",
            "report.json",
        ])
        .await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert!(
        applied.stdout.contains(&format!(
            "{green}done        disable com.vendor.beta{green:#}"
        )),
        "{:?}",
        applied.stdout
    );
    let report = std::fs::read_to_string(case.path("report.json")).unwrap();
    assert!(!report.contains(ESC), "a report has no colour");
    assert_no_secret(&applied);
}

/// `apply > out.txt` at a terminal: stdin is a terminal, stdout is not.
async fn apply_answering(case: &TestEnv, answer: &str, extra: &[&str]) -> CommandOutput {
    let mut child = command(case.dir())
        .args(["apply", "-f", "apps.yaml"])
        .args(extra)
        .env("UPMSYNC_TEST_STDIN_IS_TERMINAL", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(answer.as_bytes()).unwrap();
    drop(stdin);
    finish(child).await
}

#[tokio::test(flavor = "multi_thread")]
async fn with_stdout_redirected_the_plan_is_shown_on_stderr_before_the_question() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let refused = apply_answering(&case, "no\n", &["--quiet"]).await;
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(case.mutating().is_empty(), "nothing was approved");
    // The plan (as on stdout), then the question, even with --quiet.
    let question = refused
        .stderr
        .find("Apply these changes?")
        .expect("the question");
    let plan = refused
        .stderr
        .find(refused.stdout.trim_end())
        .expect("the plan on stderr");
    assert!(plan < question, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("error: apply cancelled: nothing was changed"),
        "{}",
        refused.stderr
    );

    let approved = apply_answering(&case, "yes\n", &[]).await;
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    assert!(
        approved.stderr.contains("Apply these changes?"),
        "{}",
        approved.stderr
    );
    assert!(
        approved
            .stderr
            .contains("  - com.vendor.gamma  Gamma  (uninstall)"),
        "{}",
        approved.stderr
    );
    assert!(!approved.stderr.contains(ESC));
    assert_no_secret(&approved);
    let again = case
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    assert_eq!(again.code, 0, "{}", again.stdout);
}

/// The text without its ANSI styles.
fn strip(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == ESC {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
