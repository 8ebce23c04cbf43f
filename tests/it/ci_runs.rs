//! The CI examples (`examples/ci/`) run as written: each pipeline's own shell steps, read from the
//! file at test time, run the way its engine runs them (GitHub Actions: `bash --noprofile --norc
//! -eo pipefail`; GitLab CI: one `sh` session per job with the runner's preamble; Jenkins: each
//! `sh` body with `sh -xe`), in the engine's order for each trigger, with the engine's variables,
//! against the simulator. `upmsync` is the binary under test; every other tool a step calls
//! (`docker`, `gh`, `curl`) is a stand-in that records its arguments and the files it is given.
//! Template expressions (`${{ ... }}`, rules' `if:`, Jenkins `when`) get explicit stand-ins; an
//! unknown one fails the test, so a changed pipeline is never run half-understood.
//!
//! Not run: the engines themselves, actions (`uses:`), images, `withCredentials` and
//! `pullRequest.comment` (their effects are stood in for, as each helper below says).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use upmsync_sim::jar::build_plugin_jar;
use upmsync_sim::{SimServer, PUBLISHER_EMAIL, PUBLISHER_TOKEN};

use crate::support::{finish, spawn, system_path, CommandOutput, TestEnv, LICENSE, PASSWORD};

/// The token a GitHub job's `GH_TOKEN` and GitLab's `GITLAB_API_TOKEN` hold; never printed.
const CI_TOKEN: &str = "ci-api-token-secret-4711";

/// `admin:admin` in Basic encoding, which must never be printed.
const BASIC: &str = "YWRtaW46YWRtaW4";

/// The repository's manifest: apps.yaml.example's variable names, on the simulator: alpha upgraded
/// with its license from `SCRIPTRUNNER_LICENSE`, beta disabled, gamma removed.
fn manifest(env: &TestEnv) -> String {
    format!(
        "marketplace:\n  url: {marketplace}\ninstances:\n  - name: jira-prod\n    url: {upm}\n    product: jira\n    auth:\n      username_env: JIRA_ADMIN_USER\n      password_env: JIRA_ADMIN_PASSWORD\n    unmanaged: report\napps:\n  - key: com.vendor.alpha\n    version: 2.0.0\n    license:\n      env: SCRIPTRUNNER_LICENSE\n  - key: com.vendor.beta\n    version: 2.5.0\n    enabled: false\n  - key: com.vendor.gamma\n    state: absent\n",
        marketplace = env.sim.marketplace_url(),
        upm = env.sim.upm_url(),
    )
}

/// The secrets of the CI's store, by the names the manifest and the pipelines use.
fn secrets() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("JIRA_ADMIN_USER", "admin"),
        ("JIRA_ADMIN_PASSWORD", PASSWORD),
        ("SCRIPTRUNNER_LICENSE", LICENSE),
        ("GITLAB_API_TOKEN", CI_TOKEN),
    ])
}

/// Fails the test when `text` (`what` names it) holds a secret of these runs.
fn assert_no_secret(what: &str, text: &str) {
    for secret in [LICENSE, BASIC, CI_TOKEN] {
        assert!(!text.contains(secret), "{what}: `{secret}` leaked:\n{text}");
    }
}

/// The stand-in for every tool but `upmsync`: it appends its arguments (one a line, after a
/// `--- TOOL` line) to `$STANDIN_LOG/TOOL.log`, with the content of each file it is handed
/// (`--body-file FILE`, `--data-urlencode body@FILE`) after a `--- file FILE` line; `gh` also
/// whether it found a token in `GH_TOKEN` (`GH_TOKEN set`), not the token. `docker`
/// also plays the image: `create` prints a container id and `cp` puts the binary under test
/// where it is asked to.
const STANDIN: &str = r#"#!/bin/bash
set -eu
tool=$(basename "$0")
log="$STANDIN_LOG/$tool.log"
{
  echo "--- $tool"
  printf '%s\n' "$@"
  if [ "$tool" = gh ]; then echo "GH_TOKEN ${GH_TOKEN:+set}"; fi
  previous=
  for arg in "$@"; do
    file=
    if [ "$previous" = --body-file ]; then file=$arg; fi
    case "$arg" in body@*) file=${arg#body@} ;; esac
    if [ -n "$file" ]; then echo "--- file $file"; cat -- "$file"; echo "--- end"; fi
    previous=$arg
  done
} >> "$log"
if [ "$tool" = docker ]; then
  case "$1" in
    create) echo standin-container ;;
    cp) [ "$2" = "standin-container:/usr/local/bin/upmsync" ] || { echo "docker cp: no $2" >&2; exit 1; }
        ln -s "$UPMSYNC_UNDER_TEST" "$3" ;;
    rm) echo "$2" ;;
    *) echo "docker $1: not stood in" >&2; exit 1 ;;
  esac
fi
"#;

/// One pipeline's world: the simulator, stand-ins on `PATH`, a home, artifact storage, and a
/// fresh checkout of the repository (its `apps.yaml`) per job.
struct Sandbox {
    env: TestEnv,
    root: PathBuf,
    /// The stand-ins (`docker`, `gh`, `curl`).
    standins: PathBuf,
    /// `upmsync` alone: the image's binary, for GitLab and Jenkins jobs.
    image: PathBuf,
    /// How many folders [`Sandbox::fresh`] made, so each is new.
    jobs: std::cell::Cell<usize>,
}

impl Sandbox {
    async fn new() -> Self {
        let env = TestEnv::new().await;
        let root = env.dir().to_path_buf();
        let standins = root.join("standins");
        let image = root.join("image-bin");
        for dir in [&standins, &image, &root.join("logs"), &root.join("home")] {
            std::fs::create_dir_all(dir).unwrap();
        }
        for tool in ["docker", "gh", "curl"] {
            let path = standins.join(tool);
            std::fs::write(&path, STANDIN).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_upmsync"), image.join("upmsync")).unwrap();
        Self {
            env,
            root,
            standins,
            image,
            jobs: std::cell::Cell::new(0),
        }
    }

    /// A new, empty folder of its own (no job or run shares one), named after `what`.
    fn fresh(&self, what: &str) -> PathBuf {
        self.jobs.set(self.jobs.get() + 1);
        let folder = self.root.join(format!("{what}-{}", self.jobs.get()));
        std::fs::create_dir_all(&folder).unwrap();
        folder
    }

    /// A new job's folder with a checkout of the repository (`apps.yaml`).
    fn checkout(&self, job: &str) -> PathBuf {
        let workspace = self.fresh(job);
        std::fs::write(workspace.join("apps.yaml"), manifest(&self.env)).unwrap();
        workspace
    }

    /// A shell command with only the environment a CI job has: `PATH` (the stand-ins first, then
    /// `extra_path`, then the system's), `HOME`, the stand-ins' own variables.
    fn shell(
        &self,
        program: &str,
        workspace: &Path,
        extra_path: &[PathBuf],
    ) -> std::process::Command {
        let mut path: Vec<PathBuf> = extra_path.to_vec();
        path.push(self.standins.clone());
        path.extend(std::env::split_paths(&system_path()));
        let mut command = std::process::Command::new(program);
        command
            .current_dir(workspace)
            .env_clear()
            .env("PATH", std::env::join_paths(path).unwrap())
            .env("HOME", self.root.join("home"))
            .env("CI", "true")
            .env("STANDIN_LOG", self.root.join("logs"))
            .env("UPMSYNC_UNDER_TEST", env!("CARGO_BIN_EXE_upmsync"))
            .stdin(std::process::Stdio::null());
        command
    }

    /// Runs `command`; its output must hold no secret.
    async fn run(&self, what: &str, command: std::process::Command) -> CommandOutput {
        let output = finish(spawn(command)).await;
        assert_no_secret(what, &output.snapshot());
        output
    }

    /// What the stand-in `tool` recorded (empty when it never ran).
    fn log(&self, tool: &str) -> String {
        std::fs::read_to_string(self.root.join("logs").join(format!("{tool}.log")))
            .unwrap_or_default()
    }

    /// The bodies of the files the stand-in `tool` was handed, in order.
    fn bodies(&self, tool: &str) -> Vec<String> {
        let log = self.log(tool);
        let mut bodies = Vec::new();
        let mut rest = log.as_str();
        while let Some(at) = rest.find("--- file ") {
            let after = &rest[at..];
            let start = after.find('\n').unwrap() + 1;
            let end = after.find("--- end\n").unwrap();
            bodies.push(after[start..end].to_string());
            rest = &after[end..];
        }
        bodies
    }

    /// The simulator's user-installed apps as `key version enabled`.
    fn installed(&self) -> Vec<String> {
        self.env
            .sim
            .plugins()
            .into_iter()
            .filter(|plugin| plugin.user_installed)
            .map(|plugin| format!("{} {} {}", plugin.key, plugin.version, plugin.enabled))
            .collect()
    }
}

/// The simulator's apps before any apply, and after the manifest is applied.
const BEFORE: &[&str] = &[
    "com.vendor.alpha 1.0.0 true",
    "com.vendor.beta 2.5.0 true",
    "com.vendor.gamma 1.0.0 true",
];
const AFTER: &[&str] = &["com.vendor.alpha 2.0.0 true", "com.vendor.beta 2.5.0 false"];

fn example(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn yaml(path: &str) -> serde_json::Value {
    serde_saphyr::from_str(&example(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Copies `from` (a file) to `to`, creating `to`'s folder.
fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|error| panic!("{}: {error}", from.display()));
}

// ---------------------------------------------------------------------------------------------
// GitHub Actions

/// What a GitHub job did: whether it succeeded, each step's name and outcome, its summary.
#[derive(Debug)]
struct GithubJob {
    success: bool,
    steps: Vec<(String, &'static str)>,
    summary: String,
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    /// The output of each step that failed.
    logs: Vec<String>,
}

/// A GitHub run: the event, artifacts stored between jobs.
struct Github<'a> {
    sandbox: &'a Sandbox,
    workflow: serde_json::Value,
    event: &'static str,
    secrets: BTreeMap<&'static str, &'static str>,
    artifacts: PathBuf,
    /// `github.ref_name`: the branch, or the tag pushed.
    ref_name: &'static str,
    /// Variables every step gets besides the workflow's: what a repository variable or the
    /// runner's environment would hold (the simulator's Marketplace for the vendor pipeline).
    runner_env: Vec<(String, String)>,
    /// The repository actions/checkout clones, at `ref_name` (a tag left lightweight, as the
    /// action leaves it: actions/checkout#290); `None`: the repository is `apps.yaml`.
    origin: Option<PathBuf>,
}

impl<'a> Github<'a> {
    fn new(sandbox: &'a Sandbox, event: &'static str, with_secrets: bool) -> Self {
        let artifacts = sandbox.fresh("github-artifacts");
        Self {
            sandbox,
            workflow: yaml("examples/ci/github/upmsync.yml"),
            event,
            // A fork's pull request gets no secrets: each `secrets.X` is empty.
            secrets: if with_secrets {
                secrets()
            } else {
                BTreeMap::new()
            },
            artifacts,
            ref_name: "main",
            runner_env: Vec::new(),
            origin: None,
        }
    }

    /// The vendor pipeline (`examples/ci/github/publish.yml`) on a push of the tag `ref_name` of
    /// the repository `origin`, with `secrets` in the store and `runner_env` besides.
    fn publishing(
        sandbox: &'a Sandbox,
        origin: PathBuf,
        ref_name: &'static str,
        secrets: BTreeMap<&'static str, &'static str>,
        runner_env: Vec<(String, String)>,
    ) -> Self {
        Self {
            workflow: yaml("examples/ci/github/publish.yml"),
            secrets,
            ref_name,
            runner_env,
            origin: Some(origin),
            ..Self::new(sandbox, "push", false)
        }
    }

    /// `text` with each `${{ ... }}` replaced by its stand-in (`outputs`: the job's step outputs
    /// by step `id`); an unknown one fails the test.
    fn expand(&self, text: &str, outputs: &BTreeMap<String, BTreeMap<String, String>>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("${{") {
            out.push_str(&rest[..at]);
            let end = rest[at..].find("}}").expect("a closed expression") + at;
            let expression = rest[at + 3..end].trim();
            let value = if let Some(name) = expression.strip_prefix("secrets.") {
                self.secrets
                    .get(name)
                    .copied()
                    .unwrap_or_default()
                    .to_string()
            } else {
                match expression {
                    "github.ref_name" => self.ref_name.to_string(),
                    // `steps.ID.outputs.KEY`: empty when the step set none, as on GitHub.
                    other if other.starts_with("steps.") => {
                        let parts: Vec<&str> = other.split('.').collect();
                        let ["steps", id, "outputs", key] = parts.as_slice() else {
                            panic!("no stand-in for `${{{{ {other} }}}}`")
                        };
                        outputs
                            .get(*id)
                            .and_then(|outputs| outputs.get(*key))
                            .cloned()
                            .unwrap_or_default()
                    }
                    "github.token" => CI_TOKEN.to_string(),
                    "github.event.pull_request.number" => "42".to_string(),
                    other => panic!("no stand-in for `${{{{ {other} }}}}`"),
                }
            };
            out.push_str(&value);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// Whether the `if:` of a job or step holds (`None`: no `if:`, success of the steps so far).
    fn condition(&self, condition: Option<&str>, ok: bool, job: &GithubJob) -> bool {
        let Some(condition) = condition else {
            return ok;
        };
        match condition {
            "github.event_name == 'pull_request'" => self.event == "pull_request",
            "github.event_name == 'push'" => self.event == "push",
            "github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'" => {
                matches!(self.event, "schedule" | "workflow_dispatch")
            }
            "always()" => true,
            "steps.plan.outputs.exit == '1'" => {
                ok && job
                    .outputs
                    .get("plan")
                    .and_then(|o| o.get("exit"))
                    .map(String::as_str)
                    == Some("1")
            }
            other => panic!("no stand-in for the condition `{other}`"),
        }
    }

    /// The jobs this event runs, in the order `needs` allows (file order otherwise).
    fn jobs(&self) -> Vec<String> {
        let jobs = self.workflow["jobs"].as_object().unwrap();
        let placeholder = GithubJob {
            success: true,
            steps: Vec::new(),
            summary: String::new(),
            outputs: BTreeMap::new(),
            logs: Vec::new(),
        };
        jobs.iter()
            .filter(|(_, job)| self.condition(job["if"].as_str(), true, &placeholder))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Runs the workflow's jobs for this event, a job whose `needs` failed skipped.
    async fn run(&self) -> BTreeMap<String, GithubJob> {
        let mut done: BTreeMap<String, GithubJob> = BTreeMap::new();
        let mut waiting = self.jobs();
        while !waiting.is_empty() {
            let at = waiting
                .iter()
                .position(|name| {
                    let needs = &self.workflow["jobs"][name]["needs"];
                    needs
                        .as_str()
                        .is_none_or(|need| !waiting.iter().any(|w| w == need))
                })
                .expect("a job whose needs are done");
            let name = waiting.remove(at);
            // A job whose need was skipped or failed is skipped.
            if let Some(need) = self.workflow["jobs"][&name]["needs"].as_str() {
                if !done.get(need).is_some_and(|need| need.success) {
                    continue;
                }
            }
            let job = self.job(&name).await;
            done.insert(name, job);
        }
        done
    }

    /// Runs the job `name`: each step in order, `run:` steps with bash as the runner does.
    async fn job(&self, name: &str) -> GithubJob {
        let definition = &self.workflow["jobs"][name];
        // The runner's empty workspace (the checkout action fills it) and its `RUNNER_TEMP`.
        let workspace = self.sandbox.fresh(&format!("github-{name}"));
        let runner_temp = self.sandbox.fresh(&format!("github-{name}-temp"));
        let mut path: Vec<PathBuf> = Vec::new();
        let mut job = GithubJob {
            success: true,
            steps: Vec::new(),
            summary: String::new(),
            outputs: BTreeMap::new(),
            logs: Vec::new(),
        };
        let mut variables: Vec<(String, String)> = Vec::new();
        for scope in [&self.workflow["env"], &definition["env"]] {
            for (var, value) in scope.as_object().into_iter().flatten() {
                variables.push((
                    var.clone(),
                    self.expand(value.as_str().unwrap(), &BTreeMap::new()),
                ));
            }
        }
        for step in definition["steps"].as_array().unwrap() {
            let step_name = step["name"]
                .as_str()
                .or(step["uses"].as_str())
                .unwrap()
                .to_string();
            if !self.condition(step["if"].as_str(), job.success, &job) {
                job.steps.push((step_name, "skipped"));
                continue;
            }
            let ok = if let Some(action) = step["uses"].as_str() {
                self.action(action, &step["with"], &workspace)
            } else {
                let files: BTreeMap<&str, PathBuf> =
                    ["GITHUB_OUTPUT", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"]
                        .into_iter()
                        .map(|var| (var, runner_temp.join(format!("{var}-{}", job.steps.len()))))
                        .collect();
                for file in files.values() {
                    std::fs::write(file, "").unwrap();
                }
                let mut command = self.sandbox.shell("bash", &workspace, &path);
                command
                    .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
                    .arg(self.expand(step["run"].as_str().unwrap(), &job.outputs))
                    .env("GITHUB_ACTIONS", "true")
                    .env("GITHUB_EVENT_NAME", self.event)
                    .env("GITHUB_WORKSPACE", &workspace)
                    .env("RUNNER_TEMP", &runner_temp)
                    .env("GITHUB_REF_NAME", self.ref_name)
                    .envs(self.runner_env.iter().map(|(var, value)| (var, value)))
                    .envs(variables.iter().map(|(var, value)| (var, value)))
                    .envs(&files);
                for (var, value) in step["env"].as_object().into_iter().flatten() {
                    command.env(var, self.expand(value.as_str().unwrap(), &job.outputs));
                }
                let output = self
                    .sandbox
                    .run(&format!("{name}: {step_name}"), command)
                    .await;
                let read = |var: &str| std::fs::read_to_string(&files[var]).unwrap();
                for line in read("GITHUB_PATH").lines() {
                    path.insert(0, PathBuf::from(line));
                }
                if let Some(id) = step["id"].as_str() {
                    let outputs = read("GITHUB_OUTPUT")
                        .lines()
                        .filter_map(|line| line.split_once('='))
                        .map(|(key, value)| (key.to_string(), value.to_string()))
                        .collect();
                    job.outputs.insert(id.to_string(), outputs);
                }
                job.summary.push_str(&read("GITHUB_STEP_SUMMARY"));
                if output.code != 0 {
                    job.logs
                        .push(format!("{step_name}:\n{}", output.snapshot()));
                }
                output.code == 0
            };
            job.success &= ok;
            job.steps
                .push((step_name, if ok { "success" } else { "failure" }));
        }
        job
    }

    /// The stand-in for an action: checkout writes the repository, the artifact actions copy
    /// files to and from this run's artifact storage.
    fn action(&self, action: &str, with: &serde_json::Value, workspace: &Path) -> bool {
        match action {
            "actions/checkout@v4" => {
                match &self.origin {
                    Some(origin) => {
                        // The action's clone: the ref's commit, the pushed tag made lightweight.
                        git(
                            workspace,
                            &["clone", "--quiet", &origin.to_string_lossy(), "."],
                        );
                        let commit = git(
                            workspace,
                            &["rev-parse", &format!("{}^{{commit}}", self.ref_name)],
                        );
                        git(workspace, &["tag", "-f", self.ref_name, commit.trim()]);
                    }
                    None => {
                        std::fs::write(workspace.join("apps.yaml"), manifest(&self.sandbox.env))
                            .unwrap()
                    }
                }
                true
            }
            // Java comes with the `mvn` stand-in.
            "actions/setup-java@v4" => true,
            "actions/upload-artifact@v4" => {
                let file = workspace.join(with["path"].as_str().unwrap());
                let stored = self.artifacts.join(with["name"].as_str().unwrap());
                if !file.exists() {
                    // `if-no-files-found` is `warn` unless it says `ignore` or `error`.
                    return with["if-no-files-found"] != "error";
                }
                copy(&file, &stored.join(file.file_name().unwrap()));
                true
            }
            "actions/download-artifact@v4" => {
                let stored = self.artifacts.join(with["name"].as_str().unwrap());
                let Ok(entries) = std::fs::read_dir(&stored) else {
                    return false;
                };
                for entry in entries {
                    let entry = entry.unwrap();
                    copy(&entry.path(), &workspace.join(entry.file_name()));
                }
                true
            }
            other => panic!("no stand-in for the action `{other}`"),
        }
    }
}

/// Runs `git` in `dir` with a fixed identity and no system or user configuration; panics with
/// its output when it fails; returns its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "Release Bot")
        .env("GIT_AUTHOR_EMAIL", "release@example.com")
        .env("GIT_COMMITTER_NAME", "Release Bot")
        .env("GIT_COMMITTER_EMAIL", "release@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The vendor pipeline (`examples/ci/github/publish.yml`) runs as written on a pushed tag
/// `v1.2.3`, annotated and lightweight, through the same runner as the admin workflow: the job's
/// `env:` with the store's secrets, every `run:` step (Build with a `mvn` stand-in that puts the
/// app's jar under `target/` as Maven would, the artifact found by the tag's version and the tag's
/// message read after fetching the annotated tag again, the binary installed from the image with
/// the `docker` stand-in, the dry run, the publish), outputs by step `id`, `if: always()` and the
/// kept `published.json`. The Marketplace is the simulator's (`UPMSYNC_MARKETPLACE_URL`, what a
/// repository variable would set; the workflow itself names none).
#[tokio::test(flavor = "multi_thread")]
async fn the_vendor_pipeline_runs_as_written_on_a_tag() {
    for annotated in [true, false] {
        let sandbox = Sandbox::new().await;
        let source = sandbox.fresh("app-source");
        git(&source, &["init", "--quiet", "--initial-branch=main"]);
        std::fs::write(source.join("pom.xml"), "<project/>\n").unwrap();
        git(&source, &["add", "pom.xml"]);
        git(&source, &["commit", "--quiet", "-m", "Release 1.2.3"]);
        if annotated {
            let message = "Fixes the frobnicator.\n\nAnd the <widget>.";
            git(&source, &["tag", "-a", "v1.2.3", "-m", message]);
        } else {
            git(&source, &["tag", "v1.2.3"]);
        }
        let origin = sandbox.fresh("origin");
        git(
            &origin,
            &["clone", "--quiet", "--bare", &source.to_string_lossy(), "."],
        );
        let jar = sandbox.root.join("alpha-1.2.3.jar");
        std::fs::write(
            &jar,
            build_plugin_jar("com.vendor.alpha", "Alpha", "1.2.3", true),
        )
        .unwrap();
        let mvn = sandbox.standins.join("mvn");
        std::fs::write(
            &mvn,
            format!(
                "#!/bin/sh\nset -eu\nmkdir -p target\ncp '{}' target/alpha-1.2.3.jar\n",
                jar.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&mvn, std::fs::Permissions::from_mode(0o755)).unwrap();
        let github = Github::publishing(
            &sandbox,
            origin,
            "v1.2.3",
            BTreeMap::from([
                ("MARKETPLACE_EMAIL", PUBLISHER_EMAIL),
                ("MARKETPLACE_API_TOKEN", PUBLISHER_TOKEN),
            ]),
            vec![(
                "UPMSYNC_MARKETPLACE_URL".to_string(),
                sandbox.env.sim.marketplace_url().to_string(),
            )],
        );
        let jobs = github.run().await;
        let job = &jobs["publish"];
        assert!(job.success, "{job:#?}");
        assert!(
            job.steps.iter().all(|(_, outcome)| *outcome == "success"),
            "{:?}",
            job.steps
        );
        assert!(
            sandbox.log("docker").contains("create\n"),
            "installed from the image"
        );
        // One upload and one create: the dry run posted nothing.
        let posts: Vec<String> = sandbox
            .env
            .sim
            .requests()
            .into_iter()
            .filter(|request| request.server == SimServer::Marketplace && request.method == "POST")
            .map(|request| request.path)
            .collect();
        assert_eq!(posts.len(), 2, "{posts:?}");
        let kept =
            std::fs::read_to_string(github.artifacts.join("published/published.json")).unwrap();
        let kept: serde_json::Value = serde_json::from_str(&kept).unwrap();
        assert_eq!(
            (&kept["published"], &kept["name"]),
            (&true.into(), &"1.2.3".into()),
            "{kept}"
        );
        let version: serde_json::Value = reqwest::Client::new()
            .get(
                sandbox
                    .env
                    .sim
                    .marketplace_url()
                    .join("rest/2/addons/com.vendor.alpha/versions/name/1.2.3?includePrivate=true")
                    .unwrap(),
            )
            .basic_auth(PUBLISHER_EMAIL, Some(PUBLISHER_TOKEN))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(version["status"], "public", "{version}");
        assert_eq!(version["text"]["releaseSummary"], "v1.2.3", "{version}");
        if annotated {
            // The annotated tag's message, escaped into paragraphs; not the commit's.
            assert_eq!(
                version["text"]["releaseNotes"],
                "<p>Fixes the frobnicator.</p>\n<p>And the &lt;widget&gt;.</p>",
                "{version}"
            );
        } else {
            assert!(version["text"].get("releaseNotes").is_none(), "{version}");
        }
        for log in &job.logs {
            assert!(!log.contains(PUBLISHER_TOKEN), "{log}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_github_workflow_runs_as_written_for_each_trigger() {
    let sandbox = Sandbox::new().await;

    // Schedule before anything was applied: drift, the job fails, its summary says why.
    let jobs = Github::new(&sandbox, "schedule", true).run().await;
    assert_eq!(jobs.keys().collect::<Vec<_>>(), ["drift"]);
    assert!(!jobs["drift"].success, "{:?}", jobs["drift"]);
    assert!(
        jobs["drift"].summary.contains("**drift**"),
        "{}",
        jobs["drift"].summary
    );

    // Pull request: validate, plan, the plan as the comment; changes are not a failure.
    let jobs = Github::new(&sandbox, "pull_request", true).run().await;
    assert_eq!(jobs.keys().collect::<Vec<_>>(), ["plan"]);
    let plan = &jobs["plan"];
    assert!(plan.success, "{plan:?}");
    assert_eq!(plan.outputs["plan"]["exit"], "2", "{plan:?}");
    assert_eq!(
        plan.steps.last().unwrap(),
        &("Fail on plan errors".to_string(), "skipped")
    );
    let comment = sandbox.bodies("gh");
    assert_eq!(comment.len(), 1, "{}", sandbox.log("gh"));
    assert!(
        sandbox.log("gh").starts_with(
            "--- gh\npr\ncomment\n42\n--body-file\nplan.md\n--edit-last\n--create-if-none\nGH_TOKEN set\n"
        ),
        "{}",
        sandbox.log("gh")
    );
    let comment = &comment[0];
    assert!(comment.starts_with("**upmsync plan:** "), "{comment}");
    assert!(
        comment.contains("| ~ | upgrade | `com.vendor.alpha`"),
        "{comment}"
    );
    assert!(comment.contains("license-set"), "{comment}");
    assert!(comment.contains("`com.vendor.gamma`"), "{comment}");
    assert_eq!(&plan.summary, comment, "the summary is the comment");
    assert_no_secret("the comment", comment);
    let docker = sandbox.log("docker");
    assert!(
        docker.contains("--- docker\ncreate\nghcr.io/your-org/upmsync:0.1.0\n"),
        "{docker}"
    );
    assert_eq!(
        sandbox.installed(),
        BEFORE,
        "a pull request changes nothing"
    );

    // A fork's pull request: no secrets, the plan fails, the comment is posted, the job fails.
    let jobs = Github::new(&sandbox, "pull_request", false).run().await;
    let plan = &jobs["plan"];
    assert!(!plan.success, "{plan:?}");
    assert_eq!(plan.outputs["plan"]["exit"], "1", "{plan:?}");
    assert_eq!(
        plan.steps.last().unwrap(),
        &("Fail on plan errors".to_string(), "failure")
    );
    let comments = sandbox.bodies("gh");
    assert_eq!(comments.len(), 2);
    assert!(
        comments[1].starts_with("**upmsync plan failed**"),
        "{}\n{:?}",
        comments[1],
        plan
    );

    // Merge: plan-main saves the plan, apply downloads exactly that file and applies it.
    let run = Github::new(&sandbox, "push", true);
    let jobs = run.run().await;
    assert_eq!(jobs.keys().collect::<Vec<_>>(), ["apply", "plan-main"]);
    for job in jobs.values() {
        assert!(job.success, "{job:?}");
    }
    let saved = std::fs::read_to_string(run.artifacts.join("plan/plan.json")).unwrap();
    assert_no_secret("the saved plan", &saved);
    assert!(
        jobs["apply"]
            .summary
            .starts_with("**upmsync plan (saved):** ")
            && jobs["apply"].summary.contains("`com.vendor.alpha`"),
        "the apply job shows the saved plan: {:?}",
        jobs["apply"]
    );
    assert!(
        jobs["plan-main"].summary.contains("`com.vendor.alpha`"),
        "{:?}",
        jobs["plan-main"]
    );
    let report = std::fs::read_to_string(run.artifacts.join("apply-report/report.json")).unwrap();
    assert_no_secret("the apply report", &report);
    assert_eq!(sandbox.installed(), AFTER);
    // Re-run, the apply job takes the same saved plan, now stale: it applies nothing and fails.
    let again = run.job("apply").await;
    assert!(!again.success, "{again:?}");
    assert!(
        again.logs.concat().contains("the saved plan is stale"),
        "{again:?}"
    );
    assert_eq!(sandbox.installed(), AFTER);

    // Schedule after the apply: in sync, the job succeeds.
    let jobs = Github::new(&sandbox, "schedule", true).run().await;
    assert!(jobs["drift"].success, "{:?}", jobs["drift"]);
    assert!(
        jobs["drift"].summary.contains("in sync"),
        "{}",
        jobs["drift"].summary
    );
}

// ---------------------------------------------------------------------------------------------
// GitLab CI

/// What GitLab's runner puts before a job's script lines (its `bash` shell, which runs the script
/// with `sh` when the image has no bash, as upmsync's `ci` image on Alpine has not): pipefail where
/// the shell has it, errexit, noclobber off; all lines in one session.
// guess: the preamble of gitlab-runner's generated script (shells/bash.go), from memory. The
// image's BusyBox ash has pipefail; the test's `sh` (dash on Debian) has not, and the scripts have
// no pipes, so the difference does not show.
const GITLAB_PREAMBLE: &str =
    "if set -o | grep pipefail > /dev/null; then set -o pipefail; fi; set -o errexit\nset +o noclobber\n";

/// Whether a rule's `if:` holds for `variables`: `$VAR` (set and not empty), `$A == $B`,
/// `$VAR == "text"`, joined by `&&`; anything else fails the test.
fn gitlab_if(condition: &str, variables: &BTreeMap<String, String>) -> bool {
    let value = |operand: &str| -> Option<String> {
        if let Some(name) = operand.strip_prefix('$') {
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "no stand-in for `{operand}` in `{condition}`"
            );
            variables
                .get(name)
                .cloned()
                .filter(|value| !value.is_empty())
        } else if let Some(text) = operand.strip_prefix('"').and_then(|o| o.strip_suffix('"')) {
            Some(text.to_string())
        } else {
            panic!("no stand-in for `{operand}` in `{condition}`")
        }
    };
    assert!(
        !condition.contains("||") && !condition.contains('(') && !condition.contains("=~"),
        "no stand-in for `{condition}`"
    );
    condition
        .split("&&")
        .all(|term| match term.split_once("==") {
            Some((left, right)) => value(left.trim()) == value(right.trim()),
            None => value(term.trim()).is_some(),
        })
}

/// How a job takes part, by its `rules` (none: always): `None` when it is not in the pipeline.
fn gitlab_rules(rules: &serde_json::Value, variables: &BTreeMap<String, String>) -> Option<String> {
    let Some(rules) = rules.as_array() else {
        return Some("on_success".to_string());
    };
    for rule in rules {
        for key in rule.as_object().unwrap().keys() {
            assert!(
                matches!(key.as_str(), "if" | "when"),
                "no stand-in for `{key}` in {rule}"
            );
        }
        if gitlab_if(rule["if"].as_str().unwrap(), variables) {
            let when = rule["when"].as_str().unwrap_or("on_success");
            return (when != "never").then(|| when.to_string());
        }
    }
    None
}

/// A GitLab job's result: its status (`success`, `failed`), output, and `when`.
#[derive(Debug)]
struct GitlabJob {
    success: bool,
    when: String,
    output: CommandOutput,
    workspace: PathBuf,
}

/// Runs the pipeline GitLab would create for `predefined` variables (those of the trigger, plus
/// the project's CI/CD variables and the file's `variables`): stage by stage, a stage's jobs one
/// after another (GitLab runs them at once), a failed job stopping the later stages; a manual job is started as if someone pressed play. Artifacts go from each job to
/// the jobs it `needs`, or to all jobs of later stages.
async fn gitlab_pipeline(
    sandbox: &Sandbox,
    predefined: &[(&'static str, &str)],
) -> BTreeMap<String, GitlabJob> {
    let pipeline = yaml("examples/ci/gitlab/.gitlab-ci.yml");
    let mut variables: BTreeMap<String, String> = secrets()
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    for (name, value) in pipeline["variables"].as_object().unwrap() {
        variables.insert(name.clone(), value.as_str().unwrap().to_string());
    }
    for (name, value) in predefined {
        variables.insert(name.to_string(), value.to_string());
    }
    let mut jobs: BTreeMap<String, GitlabJob> = BTreeMap::new();
    if gitlab_rules(&pipeline["workflow"]["rules"], &variables).is_none() {
        return jobs;
    }
    let artifacts = sandbox.fresh("gitlab-artifacts");
    let stages: Vec<&str> = pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stage| stage.as_str().unwrap())
        .collect();
    let reserved = ["variables", "default", "stages", "workflow"];
    // serde_json's map is sorted; GitLab runs a stage's jobs at once, so their order is free.
    for stage in stages {
        if jobs.values().any(|job| !job.success) {
            break;
        }
        for (name, job) in pipeline.as_object().unwrap() {
            if reserved.contains(&name.as_str()) || job["stage"] != stage {
                continue;
            }
            let Some(when) = gitlab_rules(&job["rules"], &variables) else {
                continue;
            };
            let workspace = sandbox.checkout(&format!("gitlab-{name}"));
            let sources: Vec<String> = match job["needs"].as_array() {
                Some(needs) => needs
                    .iter()
                    .map(|need| need.as_str().unwrap().to_string())
                    .collect(),
                None => jobs.keys().cloned().collect(),
            };
            for source in sources {
                for entry in std::fs::read_dir(artifacts.join(&source))
                    .into_iter()
                    .flatten()
                {
                    let entry = entry.unwrap();
                    copy(&entry.path(), &workspace.join(entry.file_name()));
                }
            }
            let lines: Vec<&str> = job["script"]
                .as_array()
                .unwrap()
                .iter()
                .map(|line| line.as_str().unwrap())
                .collect();
            let script = format!("{GITLAB_PREAMBLE}{}\n", lines.join("\n"));
            let mut command = sandbox.shell("sh", &workspace, std::slice::from_ref(&sandbox.image));
            command
                .arg("-c")
                .arg(script)
                .env("GITLAB_CI", "true")
                .env("CI_PROJECT_DIR", &workspace)
                .envs(&variables);
            let output = sandbox.run(&format!("GitLab job {name}"), command).await;
            let success = output.code == 0;
            let save = job["artifacts"]["when"].as_str().unwrap_or("on_success");
            if success || save == "always" {
                for path in job["artifacts"]["paths"].as_array().into_iter().flatten() {
                    let file = workspace.join(path.as_str().unwrap());
                    if file.exists() {
                        copy(&file, &artifacts.join(name).join(path.as_str().unwrap()));
                    }
                }
            }
            jobs.insert(
                name.clone(),
                GitlabJob {
                    success,
                    when,
                    output,
                    workspace,
                },
            );
        }
    }
    jobs
}

/// The predefined variables of a merge-request pipeline.
const MERGE_REQUEST: &[(&str, &str)] = &[
    ("CI_PIPELINE_SOURCE", "merge_request_event"),
    ("CI_DEFAULT_BRANCH", "main"),
    ("CI_MERGE_REQUEST_IID", "7"),
    ("CI_PROJECT_ID", "99"),
    ("CI_API_V4_URL", "https://gitlab.example.com/api/v4"),
];

/// The predefined variables of a push to the default branch, no merge request open.
const PUSH_MAIN: &[(&str, &str)] = &[
    ("CI_PIPELINE_SOURCE", "push"),
    ("CI_COMMIT_BRANCH", "main"),
    ("CI_DEFAULT_BRANCH", "main"),
];

/// The predefined variables of a scheduled pipeline of the default branch.
const SCHEDULE: &[(&str, &str)] = &[
    ("CI_PIPELINE_SOURCE", "schedule"),
    ("CI_COMMIT_BRANCH", "main"),
    ("CI_DEFAULT_BRANCH", "main"),
];

#[tokio::test(flavor = "multi_thread")]
async fn the_gitlab_pipeline_runs_as_written_for_each_trigger() {
    let sandbox = Sandbox::new().await;

    // A push to a branch with an open merge request: no second pipeline.
    let branch = [
        ("CI_PIPELINE_SOURCE", "push"),
        ("CI_COMMIT_BRANCH", "feature"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_OPEN_MERGE_REQUESTS", "group/project!7"),
    ];
    assert!(gitlab_pipeline(&sandbox, &branch).await.is_empty());

    // The schedule before any apply: drift fails the job, its Markdown kept.
    let jobs = gitlab_pipeline(&sandbox, SCHEDULE).await;
    assert_eq!(jobs.keys().collect::<Vec<_>>(), ["drift"]);
    let drift = &jobs["drift"];
    assert!(!drift.success && drift.output.code == 2, "{drift:?}");
    let report = std::fs::read_to_string(drift.workspace.join("drift.md")).unwrap();
    assert!(report.contains("**drift**"), "{report}");

    // Merge request: validate, then plan with the note; changes are not a failure.
    let jobs = gitlab_pipeline(&sandbox, MERGE_REQUEST).await;
    assert_eq!(jobs.keys().collect::<Vec<_>>(), ["plan", "validate"]);
    for job in jobs.values() {
        assert!(job.success, "{job:?}");
    }
    let curl = sandbox.log("curl");
    assert!(
        curl.contains("--header\nPRIVATE-TOKEN: ")
            && curl.contains(
                "--data-urlencode\nbody@plan.md\nhttps://gitlab.example.com/api/v4/projects/99/merge_requests/7/notes\n"
            ),
        "{curl}"
    );
    let notes = sandbox.bodies("curl");
    assert_eq!(notes.len(), 1, "{curl}");
    let plan = std::fs::read_to_string(jobs["plan"].workspace.join("plan.md")).unwrap();
    assert_eq!(notes[0], plan);
    assert!(plan.starts_with("**upmsync plan:** "), "{plan}");
    assert!(
        plan.contains("| ~ | upgrade | `com.vendor.alpha`"),
        "{plan}"
    );
    assert_no_secret("the note", &plan);
    assert_eq!(
        sandbox.installed(),
        BEFORE,
        "a merge request changes nothing"
    );

    // Merge: validate, plan-main saves the plan, the manual apply applies that file.
    let jobs = gitlab_pipeline(&sandbox, PUSH_MAIN).await;
    assert_eq!(
        jobs.keys().collect::<Vec<_>>(),
        ["apply", "plan-main", "validate"]
    );
    for job in jobs.values() {
        assert!(job.success, "{job:?}");
    }
    assert_eq!(jobs["apply"].when, "manual");
    let saved = std::fs::read(jobs["plan-main"].workspace.join("plan.json")).unwrap();
    let applied = std::fs::read(jobs["apply"].workspace.join("plan.json")).unwrap();
    assert_eq!(saved, applied, "the saved plan is the one applied");
    assert!(jobs["apply"].workspace.join("report.json").exists());
    assert_eq!(sandbox.installed(), AFTER);

    // The schedule after the apply: in sync.
    let jobs = gitlab_pipeline(&sandbox, SCHEDULE).await;
    assert!(jobs["drift"].success, "{:?}", jobs["drift"]);
}

// ---------------------------------------------------------------------------------------------
// Jenkins

/// The text of the block that opens at the first `{` at or after `from` in `text`, without its
/// braces (braces inside single-quoted strings do not count).
fn groovy_block(text: &str, from: usize) -> &str {
    let open = from + text[from..].find('{').expect("a block");
    let mut depth = 0;
    let mut quoted = false;
    for (at, c) in text[open..].char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + at];
                }
            }
            _ => {}
        }
    }
    panic!("an unclosed block at {from}")
}

/// One `sh` step of a stage: its script, whether it runs inside `withManifestSecrets`, whether
/// its status is returned (`returnStatus: true`) instead of failing the stage.
#[derive(Debug)]
struct JenkinsSh {
    script: String,
    secrets: bool,
    returns_status: bool,
}

/// The `sh` steps of a stage's `steps` block, in order.
fn jenkins_sh_steps(steps: &str) -> Vec<JenkinsSh> {
    let secret_blocks: Vec<(usize, usize)> = steps
        .match_indices("withManifestSecrets {")
        .map(|(at, _)| {
            let block = groovy_block(steps, at);
            let start = block.as_ptr() as usize - steps.as_ptr() as usize;
            (start, start + block.len())
        })
        .collect();
    let mut found = Vec::new();
    for (opening, returns_status) in [("sh '", false), ("sh(returnStatus: true, script: '", true)] {
        for (at, _) in steps.match_indices(opening) {
            let start = at + opening.len();
            let end = start + steps[start..].find('\'').expect("a closed script");
            found.push((
                at,
                JenkinsSh {
                    script: steps[start..end].to_string(),
                    secrets: secret_blocks
                        .iter()
                        .any(|&(from, to)| from <= at && at < to),
                    returns_status,
                },
            ));
        }
    }
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, step)| step).collect()
}

/// A Jenkins build: the branch (`PR-5` for a pull request, with `CHANGE_ID`), whether the timer
/// started it.
struct JenkinsBuild {
    branch: &'static str,
    change_id: Option<&'static str>,
    timer: bool,
}

/// What a Jenkins build did: each stage run and its result, the pull-request comments, the
/// workspace.
#[derive(Debug)]
struct JenkinsResult {
    stages: Vec<(String, bool)>,
    comments: Vec<String>,
    approvals: usize,
    workspace: PathBuf,
    logs: Vec<String>,
}

impl JenkinsResult {
    fn success(&self) -> bool {
        self.stages.iter().all(|(_, ok)| *ok)
    }
}

/// Runs the Jenkinsfile's stages for `build`: a stage's `when` by its stand-in, each `sh` body as
/// the step runs it (`sh -xe` on a script file, in the build's workspace), the credentials bound
/// only inside `withManifestSecrets`; `input` approved, `pullRequest.comment(readFile(...))`
/// recorded. The first failed stage skips the rest.
async fn jenkins_build(sandbox: &Sandbox, build: &JenkinsBuild) -> JenkinsResult {
    let file = example("examples/ci/jenkins/Jenkinsfile");
    let environment = groovy_block(&file, file.find("environment {").expect("environment"));
    let variables: Vec<(String, String)> = environment
        .lines()
        .filter_map(|line| line.split_once(" = "))
        .map(|(name, value)| {
            (
                name.trim().to_string(),
                value.trim().trim_matches('\'').to_string(),
            )
        })
        .collect();
    assert!(!variables.is_empty(), "{environment}");
    let workspace = sandbox.checkout("jenkins");
    // Where the `sh` step writes its script: `WORKSPACE@tmp/durable-*/script.sh`.
    let scripts = sandbox.fresh("jenkins-tmp");
    let mut result = JenkinsResult {
        stages: Vec::new(),
        comments: Vec::new(),
        approvals: 0,
        workspace: workspace.clone(),
        logs: Vec::new(),
    };
    let stages = groovy_block(&file, file.find("stages {").expect("stages"));
    for (at, _) in stages.match_indices("stage('") {
        let name_end = at + 7 + stages[at + 7..].find('\'').unwrap();
        let name = &stages[at + 7..name_end];
        let stage = groovy_block(stages, at);
        // The stage's conditions, whitespace folded; each has a stand-in.
        let when = match stage.find("when {") {
            Some(at) => groovy_block(stage, at)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            None => String::new(),
        };
        let main = build.branch == "main";
        let runs = match when.as_str() {
            "" => true,
            "changeRequest()" => build.change_id.is_some(),
            "branch 'main' triggeredBy 'TimerTrigger'" => main && build.timer,
            "branch 'main' not { triggeredBy 'TimerTrigger' }" => main && !build.timer,
            other => panic!("stage `{name}`: no stand-in for `when {{ {other} }}`"),
        };
        if !runs {
            continue;
        }
        let steps = groovy_block(stage, stage.find("steps {").expect("steps"));
        if steps.contains("input ") {
            result.approvals += 1;
        }
        let mut ok = true;
        let mut status = 0;
        for (n, sh) in jenkins_sh_steps(steps).into_iter().enumerate() {
            let script = scripts.join(format!("{name}-{n}.sh"));
            std::fs::write(&script, &sh.script).unwrap();
            let mut command = sandbox.shell("sh", &workspace, std::slice::from_ref(&sandbox.image));
            command
                .arg("-xe")
                .arg(&script)
                .env("JENKINS_URL", "https://jenkins.example.com/")
                .env("WORKSPACE", &workspace)
                .env("BRANCH_NAME", build.branch)
                .envs(variables.iter().map(|(name, value)| (name, value)));
            if let Some(id) = build.change_id {
                command.env("CHANGE_ID", id);
            }
            if sh.secrets {
                for name in [
                    "JIRA_ADMIN_USER",
                    "JIRA_ADMIN_PASSWORD",
                    "SCRIPTRUNNER_LICENSE",
                ] {
                    command.env(name, secrets()[name]);
                }
            }
            let output = sandbox.run(&format!("Jenkins stage {name}"), command).await;
            if output.code != 0 {
                result
                    .logs
                    .push(format!("{name}: {}\n{}", sh.script, output.snapshot()));
            }
            if sh.returns_status {
                status = output.code;
            } else if output.code != 0 {
                ok = false;
                break;
            }
        }
        // The Groovy around the plan's `sh`: comment, then fail on status 1.
        if ok && steps.contains("returnStatus: true") {
            for groovy in [
                "pullRequest.comment(readFile('plan.md'))",
                "if (code == 1) {",
            ] {
                assert!(
                    steps.contains(groovy),
                    "stage `{name}`: no stand-in for its Groovy"
                );
            }
            match std::fs::read_to_string(workspace.join("plan.md")) {
                Ok(body) => result.comments.push(body),
                Err(_) => ok = false,
            }
            ok &= status != 1;
        }
        result.stages.push((name.to_string(), ok));
        if !ok {
            break;
        }
    }
    result
}

#[tokio::test(flavor = "multi_thread")]
async fn the_jenkinsfile_runs_as_written_for_each_build() {
    let sandbox = Sandbox::new().await;
    let stages = |result: &JenkinsResult| -> Vec<String> {
        result.stages.iter().map(|(name, _)| name.clone()).collect()
    };

    // The nightly build before any apply: drift fails it, its Markdown kept for the archive.
    let nightly = JenkinsBuild {
        branch: "main",
        change_id: None,
        timer: true,
    };
    let build = jenkins_build(&sandbox, &nightly).await;
    assert_eq!(stages(&build), ["Validate", "Drift"]);
    assert!(!build.success(), "{build:?}");
    let report = std::fs::read_to_string(build.workspace.join("drift.md")).unwrap();
    assert!(report.contains("**drift**"), "{report}");

    // A pull request: validate (without credentials), plan, the plan as the comment.
    let pull_request = JenkinsBuild {
        branch: "PR-5",
        change_id: Some("5"),
        timer: false,
    };
    let build = jenkins_build(&sandbox, &pull_request).await;
    assert_eq!(stages(&build), ["Validate", "Plan"]);
    assert!(build.success(), "{build:?}");
    assert_eq!(build.comments.len(), 1);
    let comment = &build.comments[0];
    assert!(comment.starts_with("**upmsync plan:** "), "{comment}");
    assert!(
        comment.contains("| ~ | upgrade | `com.vendor.alpha`"),
        "{comment}"
    );
    assert_no_secret("the comment", comment);
    assert_eq!(
        sandbox.installed(),
        BEFORE,
        "a pull request changes nothing"
    );

    // The main branch: plan, save it, approve, apply that file.
    let main = JenkinsBuild {
        branch: "main",
        change_id: None,
        timer: false,
    };
    let build = jenkins_build(&sandbox, &main).await;
    assert_eq!(stages(&build), ["Validate", "Plan for apply", "Apply"]);
    assert!(build.success(), "{build:?}");
    assert_eq!(build.approvals, 1);
    let shown = std::fs::read_to_string(build.workspace.join("plan.md")).unwrap();
    assert!(shown.contains("`com.vendor.alpha`"), "{shown}");
    assert!(build.workspace.join("report.json").exists());
    assert_eq!(sandbox.installed(), AFTER);

    // The nightly build after the apply: in sync.
    let build = jenkins_build(&sandbox, &nightly).await;
    assert!(build.success(), "{build:?}");
}
