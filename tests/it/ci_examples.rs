//! The CI examples (`examples/ci/`), the `Dockerfile` and `docs/ci.md` are right as written: every
//! `upmsync` command line in them parses with the real CLI, the YAML pipelines parse and have the
//! jobs they promise, secrets come from the CI's secret store into the variables the example
//! manifest names, and the Dockerfile builds this package's binary. `ci_runs` runs their steps.

use std::path::{Path, PathBuf};

use clap::Parser;
use upmsync::cli::Cli;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The files whose `upmsync` command lines must parse.
const FILES: &[&str] = &[
    "examples/ci/github/upmsync.yml",
    "examples/ci/github/publish.yml",
    "examples/ci/gitlab/.gitlab-ci.yml",
    "examples/ci/jenkins/Jenkinsfile",
    "Dockerfile",
    "docs/ci.md",
];

/// Every `upmsync SUBCOMMAND ...` in `text`, as arguments (the program name first), up to the end
/// of the shell command: a redirection, a pipe, `;`, `&&`, `||`, a closing quote or backtick.
fn commands(text: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    // A `cargo` line names the package and binary, it does not run them.
    for line in text.lines().filter(|line| !line.contains("cargo ")) {
        let mut rest = line;
        while let Some(at) = rest.find("upmsync ") {
            let before = rest[..at].chars().last();
            let after = &rest[at + "upmsync ".len()..];
            rest = after;
            // A command, not a word inside another (`-t upmsync .`, `upmsync:ci`, a path).
            if before.is_some_and(|c| !matches!(c, ' ' | '\'' | '"' | '`' | '(' | '$')) {
                continue;
            }
            if !after.starts_with(|c: char| c.is_ascii_lowercase() || c == '-') {
                continue;
            }
            let end = after
                .find(['>', '|', ';', '&', ')', '\'', '`', '#'])
                .unwrap_or(after.len());
            let mut args = vec!["upmsync".to_string()];
            args.extend(
                after[..end]
                    .split_whitespace()
                    .map(|word| word.trim_matches('"'))
                    // A bash array of optional flags (`"${notes[@]}"`) stands for none here.
                    .filter(|word| !(word.starts_with("${") && word.ends_with("[@]}")))
                    .map(str::to_string),
            );
            found.push(args);
        }
    }
    found
}

#[test]
fn every_upmsync_command_in_the_examples_and_docs_parses() {
    let mut subcommands = std::collections::BTreeSet::new();
    for file in FILES {
        let found = commands(&read(file));
        assert!(!found.is_empty(), "{file} shows no upmsync command");
        for args in found {
            if let Err(error) = Cli::try_parse_from(&args) {
                use clap::error::ErrorKind;
                assert!(
                    matches!(
                        error.kind(),
                        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                    ),
                    "{file}: `{}` does not parse:\n{error}",
                    args.join(" ")
                );
            }
            subcommands.insert(args[1].clone());
        }
    }
    for wanted in ["validate", "plan", "show", "apply", "drift", "publish"] {
        assert!(
            subcommands.contains(wanted),
            "no `upmsync {wanted}` in {subcommands:?}"
        );
    }
}

#[test]
fn the_extraction_finds_commands_and_skips_other_words() {
    let found = commands(
        "run: upmsync plan -f \"$MANIFEST\" --format markdown > plan.md\n\
         sh 'upmsync drift -f apps.yaml'\n\
         code=0; upmsync apply plan.json || code=$?\n\
         docker build -t upmsync . && docker build --target ci -t upmsync:ci .\n\
         see `upmsync show plan.json --format markdown`",
    );
    let shown: Vec<String> = found.iter().map(|args| args.join(" ")).collect();
    assert_eq!(
        shown,
        [
            "upmsync plan -f $MANIFEST --format markdown",
            "upmsync drift -f apps.yaml",
            "upmsync apply plan.json",
            "upmsync show plan.json --format markdown",
        ]
    );
    // And a wrong flag is caught by the parse.
    assert!(Cli::try_parse_from(["upmsync", "plan", "--format", "html"]).is_err());
}

fn yaml(path: &str) -> serde_json::Value {
    serde_saphyr::from_str(&read(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

#[test]
fn the_github_workflow_parses_and_has_its_jobs() {
    let workflow = yaml("examples/ci/github/upmsync.yml");
    let on = &workflow["on"];
    for trigger in ["pull_request", "push", "schedule"] {
        assert!(on.get(trigger).is_some(), "no `{trigger}` trigger: {on}");
    }
    let jobs = workflow["jobs"].as_object().expect("jobs");
    for job in ["plan", "plan-main", "apply", "drift"] {
        let steps = jobs[job]["steps"].as_array().expect("steps");
        assert!(jobs[job]["runs-on"].is_string(), "{job}");
        assert!(!steps.is_empty(), "{job}");
        for step in steps {
            assert!(
                step.get("run").is_some() != step.get("uses").is_some(),
                "{job}: a step runs a command or uses an action: {step}"
            );
        }
    }
    assert_eq!(jobs["apply"]["needs"], "plan-main");
    assert_eq!(
        jobs["plan"]["permissions"]["pull-requests"], "write",
        "the pull-request comment needs it"
    );
}

/// The vendor's pipeline publishes on a tag `v*`, with the credentials from the secret store in the
/// environment, never on a command line, and checks with a dry run first.
#[test]
fn the_github_publish_workflow_publishes_on_a_tag_with_secrets_from_the_store() {
    let path = "examples/ci/github/publish.yml";
    let workflow = yaml(path);
    assert_eq!(
        workflow["on"]["push"]["tags"][0], "v*",
        "{}",
        workflow["on"]
    );
    assert!(workflow["on"].get("pull_request").is_none());
    let job = &workflow["jobs"]["publish"];
    for name in ["MARKETPLACE_EMAIL", "MARKETPLACE_API_TOKEN"] {
        assert_eq!(
            job["env"][name],
            format!("${{{{ secrets.{name} }}}}"),
            "`{name}` from the repository's secrets"
        );
    }
    let steps = job["steps"].as_array().expect("steps");
    let runs: Vec<&str> = steps
        .iter()
        .filter_map(|step| step.get("run").and_then(|run| run.as_str()))
        .collect();
    let publishes: Vec<Vec<String>> = runs.iter().flat_map(|run| commands(run)).collect();
    assert_eq!(
        publishes.iter().filter(|args| args[1] == "publish").count(),
        2
    );
    let dry_run = runs.iter().position(|run| run.contains("--dry-run"));
    let real = runs
        .iter()
        .position(|run| run.contains("upmsync publish") && !run.contains("--dry-run"));
    assert!(
        dry_run.is_some() && dry_run < real,
        "a dry run before the publish"
    );
    let text = read(path);
    assert!(
        !text.contains("--marketplace-url"),
        "the public Marketplace by default"
    );
    for line in text.lines().filter(|line| line.contains("upmsync publish")) {
        assert!(!line.contains("TOKEN") && !line.contains("EMAIL"), "{line}");
    }
}

#[test]
fn the_gitlab_pipeline_parses_and_has_its_jobs() {
    let pipeline = yaml("examples/ci/gitlab/.gitlab-ci.yml");
    let stages: Vec<&str> = pipeline["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|stage| stage.as_str())
        .collect();
    for job in ["validate", "plan", "plan-main", "apply", "drift"] {
        let stage = pipeline[job]["stage"].as_str().expect("stage");
        assert!(stages.contains(&stage), "{job}: stage `{stage}`");
        assert!(
            pipeline[job]["script"]
                .as_array()
                .is_some_and(|script| !script.is_empty()),
            "{job}"
        );
    }
    assert_eq!(pipeline["apply"]["needs"][0], "plan-main");
}

/// The secrets the example manifest names come from each CI's secret store, never from the files.
#[test]
fn secrets_come_from_the_secret_stores_into_the_manifests_variables() {
    let manifest = read("apps.yaml.example");
    let mut variables: Vec<String> = Vec::new();
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        for field in ["username_env:", "password_env:", "env:"] {
            if let Some(name) = line.strip_prefix(field) {
                variables.push(name.trim().to_string());
            }
        }
    }
    assert_eq!(
        variables,
        [
            "JIRA_ADMIN_USER",
            "JIRA_ADMIN_PASSWORD",
            "SCRIPTRUNNER_LICENSE"
        ]
    );
    let github = read("examples/ci/github/upmsync.yml");
    let gitlab = yaml("examples/ci/gitlab/.gitlab-ci.yml");
    let jenkins = read("examples/ci/jenkins/Jenkinsfile");
    for name in &variables {
        assert!(
            github.contains(&format!("{name}: ${{{{ secrets.{name} }}}}")),
            "GitHub: `{name}` from the repository's secrets"
        );
        assert!(
            gitlab["variables"].get(name).is_none(),
            "GitLab: `{name}` is a CI/CD variable of the project, not in the file"
        );
        assert!(
            read("examples/ci/gitlab/.gitlab-ci.yml").contains(name.as_str()),
            "GitLab: the file says which CI/CD variable `{name}` is"
        );
        assert!(
            jenkins.contains(&format!("Variable: '{name}'"))
                || jenkins.contains(&format!("variable: '{name}'")),
            "Jenkins: `{name}` bound from a credential"
        );
    }
}

/// The Dockerfile builds this package's binary, and copies it from where that build puts it.
#[test]
fn the_dockerfile_builds_this_packages_binary() {
    let dockerfile = read("Dockerfile");
    let build = dockerfile
        .lines()
        .find(|line| line.contains("cargo build"))
        .expect("a cargo build line");
    let words: Vec<&str> = build.split_whitespace().collect();
    let after = |flag: &str| {
        words
            .iter()
            .position(|word| *word == flag)
            .and_then(|at| words.get(at + 1).copied())
    };
    let package = env!("CARGO_PKG_NAME");
    let binary = Path::new(env!("CARGO_BIN_EXE_upmsync"))
        .file_name()
        .and_then(|name| name.to_str())
        .expect("the binary's name");
    assert_eq!(after("-p"), Some(package), "{build}");
    assert_eq!(after("--bin"), Some(binary), "{build}");
    assert!(
        words.contains(&"--locked") && words.contains(&"--release"),
        "{build}"
    );
    // No `--target`: the binary is where a native release build puts it.
    assert!(!words.contains(&"--target"), "{build}");
    let built = format!("target/release/{binary}");
    assert!(
        dockerfile.contains(&format!("strip {built}")),
        "the built binary is stripped"
    );
    let copies: Vec<&str> = dockerfile
        .lines()
        .filter(|line| line.starts_with("COPY --from=build"))
        .collect();
    assert!(!copies.is_empty());
    for copy in &copies {
        assert!(copy.contains(&format!("/src/{built} ")), "{copy}");
    }
    // The last stage runs that binary and has the CA certificates rustls needs.
    let last = &dockerfile[dockerfile.rfind("\nFROM ").expect("stages")..];
    assert!(
        last.contains("ENTRYPOINT [\"/usr/local/bin/upmsync\"]"),
        "{last}"
    );
    assert!(
        last.contains("/etc/ssl/certs/ca-certificates.crt"),
        "{last}"
    );
    // The builder's Rust is at least the package's rust-version.
    let rust_version = read("Cargo.toml")
        .lines()
        .find_map(|line| line.strip_prefix("rust-version = "))
        .map(|version| version.trim_matches('"').to_string())
        .expect("rust-version");
    assert!(
        dockerfile.contains(&format!("FROM rust:{rust_version}-alpine AS build")),
        "the builder is Rust {rust_version}"
    );
    assert!(dockerfile.contains("WORKDIR /src"));
}
