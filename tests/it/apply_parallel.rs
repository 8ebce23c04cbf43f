//! Apply bound by the server: artifacts fetched beside the changes before them (a change whose
//! artifact fails fails alone, after the changes before it), and instances applied side by side
//! (`--parallelism`), each one change at a time and in order.

use std::time::Duration;

use crate::support::*;
use upmsync::execute::Outcome;
use upmsync_sim::{SeedPlugin, Sim, SimConfig, SimServer};

/// A Jira with `apps` user apps `{prefix}.app{i}` at 1.0.0 and a Marketplace with 2.0.0 of each.
fn upgradable(prefix: &str, apps: usize) -> SimConfig {
    let mut config = SimConfig::empty();
    for i in 0..apps {
        config = config.plugin(SeedPlugin::user(
            &format!("{prefix}.app{i}"),
            "App",
            "1.0.0",
        ));
    }
    with_marketplace(config, prefix, apps, 500)
}

/// `config` with a Marketplace that also has 1.0.0 and 2.0.0 of `{prefix}.app{i}` (ids from
/// `first_id`).
fn with_marketplace(mut config: SimConfig, prefix: &str, apps: usize, first_id: u64) -> SimConfig {
    for i in 0..apps {
        let key = format!("{prefix}.app{i}");
        config = config.marketplace_app(marketplace_app(
            &key,
            first_id + i as u64,
            &["1.0.0", "2.0.0"],
        ));
    }
    config
}

/// The apps UPM installed by URI from `sim`'s Marketplace, in the order it downloaded them (every
/// simulated UPM downloads from the Marketplace the plan names, and upmsync downloads nothing
/// when nothing is pinned): the ids of [`two_instances_setup`] named back.
fn installs(sim: &Sim) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.server == SimServer::Marketplace)
        .filter_map(|r| {
            let id = r.path.strip_prefix("/download/apps/")?.split('/').next()?;
            Some(
                match id {
                    "500" => "com.a.app0",
                    "501" => "com.a.app1",
                    "600" => "com.b.app0",
                    "601" => "com.b.app1",
                    other => other,
                }
                .to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_pinned_sha256_fails_its_own_change_after_the_changes_before_it() {
    let sim = start(upgradable("com.bench", 5)).await;
    let wrong = "0".repeat(64);
    let apps = (0..5)
        .map(|i| {
            let app = present(&format!("com.bench.app{i}"), "2.0.0");
            if i == 2 {
                pinned(app, &wrong)
            } else {
                app
            }
        })
        .collect();
    let desired = desired(&sim, vec![instance(&sim, apps)]);
    let plan = plan_one(&desired).await;
    let report = apply_plan(&desired, &plan).await;
    let outcomes: Vec<&Outcome> = report.changes.iter().map(|c| &c.outcome).collect();
    assert!(
        matches!(
            outcomes.as_slice(),
            [
                Outcome::Done,
                Outcome::Done,
                Outcome::Failed { .. },
                Outcome::NotStarted,
                Outcome::NotStarted
            ]
        ),
        "{report:#?}"
    );
    let Outcome::Failed { error } = outcomes[2] else {
        unreachable!()
    };
    assert!(
        error.contains("not started (nothing was changed for it)")
            && error.contains("`com.bench.app2` 2.0.0")
            && error.contains(&wrong),
        "names the change, the artifact and the expected hash: {error}"
    );
    assert_eq!(report.error, None, "the instance itself started");
    assert_eq!(mutating(&sim).len(), 2, "{:#?}", mutating(&sim));
    for (i, version) in [(0, "2.0.0"), (1, "2.0.0"), (2, "1.0.0"), (3, "1.0.0")] {
        assert_eq!(
            sim.plugin(&format!("com.bench.app{i}")).unwrap().version,
            version
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_reports_every_change_whose_artifact_fails() {
    let sim = start(upgradable("com.bench", 3)).await;
    let wrong = "0".repeat(64);
    let apps = (0..3)
        .map(|i| pinned(present(&format!("com.bench.app{i}"), "2.0.0"), &wrong))
        .collect();
    let desired = desired(&sim, vec![instance(&sim, apps)]);
    let plan = plan_one(&desired).await;
    let folder = tempfile::tempdir().unwrap();
    let cache = upmsync::marketplace::download::Cache::new(
        folder.path(),
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    let report = execute_plan(
        &desired,
        &plan,
        &cache,
        upmsync::execute::Mode::DryRun,
        upmsync::http::HttpSettings::default(),
    )
    .await;
    assert!(
        report.changes.iter().all(
            |change| matches!(&change.outcome, Outcome::Failed { error } if error.contains(&wrong))
        ),
        "{report:#?}"
    );
    assert!(mutating(&sim).is_empty());
}

/// Two instances on two simulators, both upgrading two apps: `jira-a` installs in `slow`,
/// `jira-b` in `fast`. Returns the folder with `apps.yaml`, and the simulators.
async fn two_instances_setup(slow: Duration, fast: Duration) -> (tempfile::TempDir, Sim, Sim) {
    // Both instances resolve on the Marketplace of the first simulator.
    let slow = start_with_task_delay(
        with_marketplace(upgradable("com.a", 2), "com.b", 2, 600),
        slow,
    )
    .await;
    let fast = start_with_task_delay(upgradable("com.b", 2), fast).await;
    let folder = tempfile::tempdir().unwrap();
    let instance = |name: &str, sim: &Sim, prefix: &str| {
        format!(
            "  - name: {name}\n    url: {}\n    product: jira\n    auth:\n      username_env: TEST_JIRA_USER\n      password_env: TEST_JIRA_PASSWORD\n    unmanaged: ignore\n    apps:\n      - key: {prefix}.app0\n        version: 2.0.0\n      - key: {prefix}.app1\n        version: 2.0.0\n",
            sim.upm_url()
        )
    };
    let manifest = format!(
        "marketplace:\n  url: {}\ninstances:\n{}{}",
        slow.marketplace_url(),
        instance("jira-a", &slow, "com.a"),
        instance("jira-b", &fast, "com.b"),
    );
    std::fs::write(folder.path().join("apps.yaml"), manifest).unwrap();
    (folder, slow, fast)
}

/// [`two_instances_setup`] with `jira-a` installing in 1.5 s, applied with `--parallelism` when
/// given.
async fn two_instances(parallelism: Option<&str>) -> (CommandOutput, Sim, Sim) {
    let (folder, slow, fast) =
        two_instances_setup(Duration::from_millis(1500), Duration::from_millis(30)).await;
    let mut args = vec!["apply", "-f", "apps.yaml", "--auto-approve"];
    if let Some(parallelism) = parallelism {
        args.extend(["--parallelism", parallelism]);
    }
    let output = run_binary(&args, folder.path(), &[]).await;
    (output, slow, fast)
}

/// The stderr lines that report a change starting, in order, as `instance app` (off a terminal
/// each change is told once as it starts, docs/terminal.md).
fn started_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|line| {
            let (instance, rest) = line.trim().split_once(": upgrade ")?;
            Some(format!("{instance} {}", rest.split(' ').next()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_apply_side_by_side_each_one_change_at_a_time_in_order() {
    let (output, slow, fast) = two_instances(None).await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    // `jira-b` did not wait for `jira-a`: its second change started (its first was done) while
    // `jira-a`'s first install still ran.
    let started = started_lines(&output.stderr);
    let position = |line: &str| started.iter().position(|found| found == line).unwrap();
    assert_eq!(started.len(), 4, "{}", output.stderr);
    assert!(
        position("jira-b com.b.app1") < position("jira-a com.a.app1"),
        "{}",
        output.stderr
    );
    // The one Marketplace both instances install from saw their installs interleaved, each
    // instance's in plan order: `jira-b`'s second before `jira-a`'s second.
    let installed = installs(&slow);
    let of = |prefix: &str| -> Vec<&str> {
        installed
            .iter()
            .map(String::as_str)
            .filter(|key| key.starts_with(prefix))
            .collect()
    };
    assert_eq!(of("com.a."), ["com.a.app0", "com.a.app1"], "{installed:?}");
    assert_eq!(of("com.b."), ["com.b.app0", "com.b.app1"], "{installed:?}");
    let position = |key: &str| installed.iter().position(|found| found == key).unwrap();
    assert!(
        position("com.b.app1") < position("com.a.app1"),
        "{installed:?}"
    );
    assert!(installs(&fast).is_empty());
    // The report is in plan order, whatever order the instances ended in.
    let a = output
        .stdout
        .find("jira-a: 2 done")
        .expect("jira-a's summary");
    let b = output
        .stdout
        .find("jira-b: 2 done")
        .expect("jira-b's summary");
    assert!(a < b, "{}", output.stdout);
    for (sim, prefix) in [(&slow, "com.a"), (&fast, "com.b")] {
        for i in 0..2 {
            assert_eq!(
                sim.plugin(&format!("{prefix}.app{i}")).unwrap().version,
                "2.0.0"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn parallelism_1_applies_one_instance_after_the_other() {
    let (output, slow, _fast) = two_instances(Some("1")).await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    assert_eq!(
        installs(&slow),
        ["com.a.app0", "com.a.app1", "com.b.app0", "com.b.app1"]
    );
    assert_eq!(
        started_lines(&output.stderr),
        [
            "jira-a com.a.app0",
            "jira-a com.a.app1",
            "jira-b com.b.app0",
            "jira-b com.b.app1"
        ],
        "{}",
        output.stderr
    );
    let starting_b = output
        .stderr
        .find("change(s) on jira-b")
        .expect("jira-b starts");
    let last_a = output.stderr.find("jira-a: upgrade com.a.app1").unwrap();
    assert!(last_a < starting_b, "{}", output.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn parallelism_0_is_refused() {
    let folder = tempfile::tempdir().unwrap();
    let output = run_binary(
        &["apply", "-f", "apps.yaml", "--parallelism", "0"],
        folder.path(),
        &[],
    )
    .await;
    assert_ne!(output.code, 0, "{}", output.snapshot());
    assert!(
        output
            .stderr
            .contains("invalid value '0' for '--parallelism <N>'"),
        "{}",
        output.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_lets_every_running_instance_finish_its_change_under_way() {
    // Both instances install slowly, so both have an install under way when the signal comes.
    let slow = Duration::from_millis(1500);
    let (folder, a, b) = two_instances_setup(slow, slow).await;
    let mut command = command(folder.path());
    command.args(["apply", "-f", "apps.yaml", "--auto-approve"]);
    let child = spawn(command);
    let posted = |sim: &Sim| {
        sim.requests()
            .iter()
            .any(|r| r.server == SimServer::Upm && r.method == "POST")
    };
    wait_until("both instances started an install", || {
        posted(&a) && posted(&b)
    })
    .await;
    send(&child, "-INT");
    let output = finish(child).await;
    assert_eq!(output.code, 1, "{}", output.snapshot());
    for name in ["jira-a", "jira-b"] {
        assert!(
            output
                .stdout
                .contains(&format!("{name}: 1 done, 0 failed, 1 not started")),
            "{}",
            output.snapshot()
        );
    }
    let mut installed = installs(&a);
    installed.sort();
    assert_eq!(installed, ["com.a.app0", "com.b.app0"]);
    assert_eq!(a.plugin("com.a.app1").unwrap().version, "1.0.0");
    assert_eq!(b.plugin("com.b.app1").unwrap().version, "1.0.0");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_fetches_of_one_url_download_it_once() {
    let sim = start(upgradable("com.bench", 1)).await;
    let url = sim
        .marketplace_url()
        .join("download/apps/500/version/500002")
        .unwrap();
    let folder = tempfile::tempdir().unwrap();
    let cache = upmsync::marketplace::download::Cache::new(
        folder.path(),
        &upmsync::http::HttpSettings::default(),
    )
    .unwrap();
    // As two instances applied side by side would: each with its clone of the run's cache.
    let other = cache.clone();
    let (first, second) = tokio::join!(cache.fetch(&url, None), other.fetch(&url, None));
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first, second);
    let downloads = sim
        .requests()
        .into_iter()
        .filter(|r| r.server == SimServer::Marketplace && r.path.starts_with("/download/"))
        .count();
    assert_eq!(downloads, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_instances_fit_a_low_open_files_limit() {
    // The hard limit must leave room to raise the soft one (as it does on usual systems).
    let hard = std::process::Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .unwrap();
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_string();
    if hard != "unlimited" && hard.parse::<u64>().unwrap_or(0) < 2_000 {
        return;
    }
    let sim = start(small_jira()).await;
    let folder = tempfile::tempdir().unwrap();
    let mut manifest = format!(
        "marketplace:\n  url: {}\ninstances:\n",
        sim.marketplace_url()
    );
    for i in 0..100 {
        manifest.push_str(&format!(
            "  - name: jira{i}\n    url: {}\n    product: jira\n    auth:\n      username_env: TEST_JIRA_USER\n      password_env: TEST_JIRA_PASSWORD\n    unmanaged: ignore\n",
            sim.upm_url()
        ));
    }
    // Already as wanted: apply takes the 100 locks, reads, and has nothing to do.
    manifest.push_str("apps:\n  - key: com.vendor.gamma\n    version: 1.0.0\n");
    std::fs::write(folder.path().join("apps.yaml"), manifest).unwrap();
    let mut command = command(folder.path());
    // The soft limit of macOS (256) and below: 100 locks and 100 clients do not fit in 64.
    let binary = command.get_program().to_owned();
    let mut limited = std::process::Command::new("sh");
    limited
        .current_dir(folder.path())
        .envs(
            command
                .get_envs()
                .filter_map(|(name, value)| Some((name.to_owned(), value?.to_owned()))),
        )
        .args(["-c", "ulimit -Sn 64 && exec \"$0\" \"$@\""])
        .arg(binary)
        .args(["apply", "-f", "apps.yaml", "--auto-approve"]);
    command = limited;
    let output = finish(spawn(command)).await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    assert!(
        output
            .stderr
            .contains("Nothing to apply: every instance matches the manifest."),
        "{}",
        output.snapshot()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_change_is_checked_after_the_install_before_it_ended() {
    // The next change's app is read beside the previous install's read-back: a change made to it
    // while that install ran is seen, and the change stops as stale.
    let sim = start_with_task_delay(upgradable("com.bench", 2), Duration::from_millis(800)).await;
    let apps = (0..2)
        .map(|i| present(&format!("com.bench.app{i}"), "2.0.0"))
        .collect();
    let desired = desired(&sim, vec![instance(&sim, apps)]);
    let plan = plan_one(&desired).await;
    let meanwhile = async {
        wait_until("the first install started", || {
            sim.requests()
                .iter()
                .any(|r| r.server == SimServer::Upm && r.method == "POST")
        })
        .await;
        // Another runner (an admin) disables the second app meanwhile.
        let other = upmsync::upm::UpmClient::new(
            &desired.instances[0],
            &upmsync::http::HttpSettings::default(),
        )
        .unwrap();
        other
            .set_enabled(&upmsync::model::AppKey::new("com.bench.app1"), false)
            .await
            .unwrap();
    };
    let (report, ()) = tokio::join!(apply_plan(&desired, &plan), meanwhile);
    assert!(
        matches!(report.changes[0].outcome, Outcome::Done),
        "{report:#?}"
    );
    assert!(
        matches!(&report.changes[1].outcome, Outcome::Stale { error } if error.contains("it is disabled (the plan assumed enabled)")),
        "{report:#?}"
    );
    assert_eq!(sim.plugin("com.bench.app1").unwrap().version, "1.0.0");
}
