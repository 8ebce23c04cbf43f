//! Monitoring with the real binary against the simulator: `drift --metrics-file` (the file, parsed
//! back; written atomically, also when an instance or the manifest cannot be read; no secret), and
//! `serve` (its endpoints on 127.0.0.1:0, only GETs sent to UPM, a change between two checks seen on
//! the next scrape, a clean stop on SIGTERM).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::Child;
use std::sync::{Arc, Mutex};

use crate::support::*;
use crate::upmsync_snapshot;
use upmsync_sim::SeedPlugin;

/// Alpha licensed from `TEST_LICENSE` (a secret), beta enabled, gamma absent: one uninstall and one
/// license change pending on [`small_jira`].
const APPS: &str = "  - key: com.vendor.alpha\n    version: 1.0.0\n    license:\n      env: TEST_LICENSE\n  - key: com.vendor.beta\n    version: 2.5.0\n  - key: com.vendor.gamma\n    state: absent\n";

/// One sample of the text format: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format 0.0.4 back (samples only; `# HELP` and `# TYPE` lines are
/// checked to precede each family), undoing the escapes of label values (`\\`, `\"`, `\n`).
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut typed: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            typed.push(name.to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(at) => line.split_at(at),
            None => panic!("no value: {line:?}"),
        };
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(mut inner) = rest.strip_prefix('{') {
            loop {
                if let Some(after) = inner.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let (label, after) = inner.split_once("=\"").expect("label=\"value\"");
                let mut value = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    let (at, c) = chars.next().expect("a closed label value");
                    match c {
                        '\\' => match chars.next().expect("an escape").1 {
                            'n' => value.push('\n'),
                            other => value.push(other),
                        },
                        '"' => break at,
                        other => value.push(other),
                    }
                };
                labels.insert(label.to_string(), value);
                inner = after[end + 1..].trim_start_matches(',');
            }
        }
        let value: f64 = rest.trim().parse().unwrap_or_else(|_| panic!("{line:?}"));
        assert!(
            typed.last().is_some_and(|family| family == name),
            "`{name}` has no # TYPE line before it:\n{text}"
        );
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

/// The value of the one sample `name` with exactly `labels`, if there is one.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|sample| sample.name == name && sample.labels == labels)
        .collect();
    assert!(found.len() <= 1, "{found:?}");
    found.first().map(|sample| sample.value)
}

/// How many samples of `name` there are.
fn count(samples: &[Sample], name: &str) -> usize {
    samples.iter().filter(|sample| sample.name == name).count()
}

/// `text` with the values of the time-dependent samples (timestamps, durations) replaced by
/// `[VALUE]`, for snapshots.
fn mask_times(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with("upmsync_last_check_timestamp_seconds{")
                || line.starts_with("upmsync_check_duration_seconds{")
            {
                let (sample, _) = line.rsplit_once(' ').unwrap();
                format!("{sample} [VALUE]\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

/// No secret of these tests in `text`: the license, the Basic credentials, a upm-token.
fn assert_no_secret(text: &str) {
    assert!(!text.contains(LICENSE), "license text leaked:\n{text}");
    assert!(
        !text.contains("YWRtaW46YWRtaW4"),
        "credentials leaked:\n{text}"
    );
    assert!(!text.contains("token="), "a upm-token leaked:\n{text}");
    assert!(
        !text.contains("sha256:"),
        "a license hash is not a metric:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_writes_every_metric_to_the_metrics_file_and_keeps_its_exit_code() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    std::fs::create_dir(case.path("textfile")).unwrap();
    let plain = case.run(&["drift", "-f", "apps.yaml"]).await;
    let output = case
        .run(&[
            "drift",
            "-f",
            "apps.yaml",
            "--metrics-file",
            "textfile/upmsync.prom",
        ])
        .await;
    // The same answer as without the flag: exit 2 (drift), the same drift on stdout.
    assert_eq!(output.snapshot(), plain.snapshot());
    assert_eq!(output.code, 2);
    let text = std::fs::read_to_string(case.path("textfile/upmsync.prom")).unwrap();
    insta::assert_snapshot!(mask_times(&text), @r#"
    # HELP upmsync_app_info A user-installed app as read from UPM (always 1); absent when the instance could not be read.
    # TYPE upmsync_app_info gauge
    upmsync_app_info{enabled="true",instance="jira-test",key="com.vendor.alpha",version="1.0.0"} 1
    upmsync_app_info{enabled="true",instance="jira-test",key="com.vendor.beta",version="2.5.0"} 1
    upmsync_app_info{enabled="true",instance="jira-test",key="com.vendor.gamma",version="1.0.0"} 1
    # HELP upmsync_changes_pending Changes apply would make, by action; absent when the instance could not be checked.
    # TYPE upmsync_changes_pending gauge
    upmsync_changes_pending{action="disable",instance="jira-test"} 0
    upmsync_changes_pending{action="downgrade",instance="jira-test"} 0
    upmsync_changes_pending{action="enable",instance="jira-test"} 0
    upmsync_changes_pending{action="install",instance="jira-test"} 0
    upmsync_changes_pending{action="license-remove",instance="jira-test"} 0
    upmsync_changes_pending{action="license-set",instance="jira-test"} 1
    upmsync_changes_pending{action="uninstall",instance="jira-test"} 1
    upmsync_changes_pending{action="upgrade",instance="jira-test"} 0
    # HELP upmsync_check_duration_seconds How long the last check took to read and plan the instance, in seconds.
    # TYPE upmsync_check_duration_seconds gauge
    upmsync_check_duration_seconds{instance="jira-test"} [VALUE]
    # HELP upmsync_instance_in_sync 1 when the instance matches the manifest (no change pending, no unmanaged app reported, no change waiting for a restart); 0 when it does not or could not be checked.
    # TYPE upmsync_instance_in_sync gauge
    upmsync_instance_in_sync{instance="jira-test"} 0
    # HELP upmsync_instance_read_error 1 when the last check could not read or plan the instance, else 0.
    # TYPE upmsync_instance_read_error gauge
    upmsync_instance_read_error{instance="jira-test"} 0
    # HELP upmsync_last_check_timestamp_seconds When the last check of the instance ended (successful or not), in seconds since the Unix epoch.
    # TYPE upmsync_last_check_timestamp_seconds gauge
    upmsync_last_check_timestamp_seconds{instance="jira-test"} [VALUE]
    # HELP upmsync_manifest_error 1 when the manifest could not be loaded (then no instance has metrics), else 0.
    # TYPE upmsync_manifest_error gauge
    upmsync_manifest_error 0
    # HELP upmsync_restart_pending_apps Apps whose last change waits for a product restart; absent when the instance could not be checked.
    # TYPE upmsync_restart_pending_apps gauge
    upmsync_restart_pending_apps{instance="jira-test"} 0
    # HELP upmsync_unmanaged_apps User-installed apps the manifest does not name, whatever its unmanaged policy; absent when the instance could not be read.
    # TYPE upmsync_unmanaged_apps gauge
    upmsync_unmanaged_apps{instance="jira-test"} 0
    "#);
    let samples = parse(&text);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let checked = value(
        &samples,
        "upmsync_last_check_timestamp_seconds",
        &[("instance", INSTANCE)],
    )
    .unwrap();
    assert!(
        checked > now - 600.0 && checked <= now,
        "{checked} is not a recent Unix time in seconds"
    );
    let took = value(
        &samples,
        "upmsync_check_duration_seconds",
        &[("instance", INSTANCE)],
    )
    .unwrap();
    assert!(took > 0.0, "{took}");
    assert_no_secret(&text);
    // Readable by node_exporter (another user), and no temporary file left beside it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(case.path("textfile/upmsync.prom"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    assert_eq!(files_in(&case.path("textfile")), ["upmsync.prom"]);

    // Once in sync: 1, and nothing pending. An app the manifest does not name is counted.
    case.manifest(
        "  - key: com.vendor.alpha\n    version: 1.0.0\n  - key: com.vendor.beta\n    version: 2.5.0\n",
        "ignore",
    );
    let output = case
        .run(&[
            "drift",
            "-f",
            "apps.yaml",
            "--metrics-file",
            "textfile/upmsync.prom",
        ])
        .await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    let samples = parse(&std::fs::read_to_string(case.path("textfile/upmsync.prom")).unwrap());
    let instance = [("instance", INSTANCE)];
    assert_eq!(
        value(&samples, "upmsync_instance_in_sync", &instance),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "upmsync_unmanaged_apps", &instance),
        Some(1.0)
    );
    let pending: f64 = samples
        .iter()
        .filter(|sample| sample.name == "upmsync_changes_pending")
        .map(|sample| sample.value)
        .sum();
    assert_eq!(pending, 0.0);
    assert_eq!(count(&samples, "upmsync_changes_pending"), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_that_cannot_be_read_is_not_claimed_in_sync_and_has_no_pending_changes() {
    let case = TestEnv::new().await;
    // Nothing listens on port 1.
    case.manifest_at("http://127.0.0.1:1/jira/", APPS, "ignore");
    std::fs::write(
        case.path("upmsync.prom"),
        "upmsync_instance_in_sync{instance=\"jira-test\"} 1\n",
    )
    .unwrap();
    let output = case
        .run(&[
            "drift",
            "--retries",
            "0",
            "-f",
            "apps.yaml",
            "--metrics-file",
            "upmsync.prom",
        ])
        .await;
    assert_eq!(output.code, 1, "{}", output.snapshot());
    let text = std::fs::read_to_string(case.path("upmsync.prom")).unwrap();
    let samples = parse(&text);
    let instance = [("instance", INSTANCE)];
    assert_eq!(
        value(&samples, "upmsync_instance_read_error", &instance),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "upmsync_instance_in_sync", &instance),
        Some(0.0)
    );
    // Unknown, so absent (not 0, which would read as "nothing to do").
    assert_eq!(count(&samples, "upmsync_changes_pending"), 0);
    assert_eq!(count(&samples, "upmsync_unmanaged_apps"), 0);
    assert_eq!(count(&samples, "upmsync_app_info"), 0);
    assert!(value(&samples, "upmsync_last_check_timestamp_seconds", &instance).is_some());
    assert!(value(&samples, "upmsync_check_duration_seconds", &instance).is_some());
    assert_no_secret(&text);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_that_cannot_be_loaded_replaces_the_metrics_with_a_manifest_error() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let output = case
        .run(&["drift", "-f", "apps.yaml", "--metrics-file", "upmsync.prom"])
        .await;
    assert_eq!(output.code, 2);
    std::fs::write(case.path("apps.yaml"), "instances: [\n").unwrap();
    let output = case
        .run(&["drift", "-f", "apps.yaml", "--metrics-file", "upmsync.prom"])
        .await;
    assert_eq!(output.code, 1);
    let text = std::fs::read_to_string(case.path("upmsync.prom")).unwrap();
    insta::assert_snapshot!(text, @r"
    # HELP upmsync_manifest_error 1 when the manifest could not be loaded (then no instance has metrics), else 0.
    # TYPE upmsync_manifest_error gauge
    upmsync_manifest_error 1
    ");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metrics_file_that_cannot_be_written_is_an_error_after_the_drift_is_shown() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let output = case
        .run(&[
            "drift",
            "-f",
            "apps.yaml",
            "--metrics-file",
            "missing/upmsync.prom",
        ])
        .await;
    upmsync_snapshot!(case, output, @r#"
    exit: 1
    ----- stdout -----
    jira-test: drift (2 change(s) needed, 0 unmanaged app(s))
      uninstall com.vendor.gamma 1.0.0
      license-set com.vendor.alpha sha256:5f88d32c426b -> sha256:5bda58d8c66f
    ----- stderr -----
    error: failed to write the metrics file `missing/upmsync.prom`
    Caused by: No such file or directory (os error 2) at path "[TEMP]/missing/.upmsync-[RANDOM].tmp"
    hint: the file's folder must exist and be writable by upmsync (for node_exporter, its `--collector.textfile.directory`)
    "#);
}

#[tokio::test(flavor = "multi_thread")]
async fn label_values_from_the_server_are_escaped() {
    let hostile_key = "com.vendor.q\"uote\\slash";
    let hostile_version = "1.0\"}\\ 9\nupmsync_instance_in_sync 1";
    let case = TestEnv::with(small_jira().plugin(SeedPlugin::user(
        hostile_key,
        "Hostile",
        hostile_version,
    )))
    .await;
    case.manifest(APPS, "ignore");
    let output = case
        .run(&["drift", "-f", "apps.yaml", "--metrics-file", "upmsync.prom"])
        .await;
    let text = std::fs::read_to_string(case.path("upmsync.prom")).unwrap();
    assert_eq!(output.code, 2, "{}\n{text}", output.snapshot());
    // Every line is a comment or one sample: the newline did not start a line of its own.
    assert!(
        text.lines()
            .all(|line| line.starts_with("# ") || line.starts_with("upmsync_")),
        "{text}"
    );
    assert!(!text.contains("\nupmsync_instance_in_sync 1"), "{text}");
    let samples = parse(&text);
    assert_eq!(
        value(
            &samples,
            "upmsync_app_info",
            &[
                ("instance", INSTANCE),
                ("key", hostile_key),
                ("version", hostile_version),
                ("enabled", "true"),
            ],
        ),
        Some(1.0),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_refuses_an_interval_of_zero_or_an_absurd_one() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let mut shown = String::new();
    for interval in ["0s", "500ms", "30d", "soon"] {
        let output = case
            .run(&["serve", "--listen", "127.0.0.1:0", "--interval", interval])
            .await;
        assert_eq!(output.code, 1, "{interval}: {}", output.snapshot());
        shown.push_str(output.stderr.lines().next().unwrap_or_default());
        shown.push('\n');
    }
    insta::assert_snapshot!(shown, @r"
    error: invalid value '0s' for '--interval <DURATION>': `0s` is outside 1s to 24h
    error: invalid value '500ms' for '--interval <DURATION>': `500ms` is outside 1s to 24h
    error: invalid value '30d' for '--interval <DURATION>': `30d` is outside 1s to 24h
    error: invalid value 'soon' for '--interval <DURATION>': `soon` is not a duration such as `30s`, `5m` or `1h`: expected number at 0
    ");
    assert!(case.sim.requests().is_empty(), "nothing was checked");
}

/// A running `upmsync serve`: its process, and its stderr lines as they come.
struct Served {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Served {
    /// Starts `upmsync serve` with `args` in the case's folder and waits for the address it
    /// prints.
    async fn start(case: &TestEnv, args: &[&str]) -> (Self, String) {
        let mut command = command(case.dir());
        command
            .arg("serve")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("the binary starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stderr.take().unwrap();
        let lines = Arc::clone(&stderr);
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(pipe).lines() {
                lines.lock().unwrap().push(line.unwrap());
            }
        });
        let served = Self {
            child,
            stderr,
            reader,
        };
        wait_until("serve prints its address", || served.address().is_some()).await;
        let address = served.address().unwrap();
        (served, address)
    }

    /// The `http://ADDR` of the "Serving metrics on http://ADDR/metrics ..." line.
    fn address(&self) -> Option<String> {
        self.stderr.lock().unwrap().iter().find_map(|line| {
            let rest = line.strip_prefix("Serving metrics on ")?;
            let url = rest.split_whitespace().next()?;
            Some(url.strip_suffix("/metrics")?.to_string())
        })
    }

    /// Stops it with `signal` and returns its exit code and stderr.
    fn stop(self, signal: &str) -> (i32, String) {
        send(&self.child, signal);
        let mut child = self.child;
        let status = child.wait().unwrap();
        self.reader.join().unwrap();
        let stderr = self.stderr.lock().unwrap().join("\n");
        (status.code().unwrap_or(-1), stderr)
    }
}

/// `GET url`: status, content type and body.
async fn get(url: &str) -> (u16, String, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// Scrapes `/metrics` until at least `checks` checks have finished; their samples.
async fn scrape_after(address: &str, checks: f64) -> Vec<Sample> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, content_type, body) = get(&format!("{address}/metrics")).await;
        assert_eq!(status, 200);
        assert_eq!(content_type, "text/plain; version=0.0.4");
        let samples = parse(&body);
        let done = value(&samples, "upmsync_checks_total", &[]).expect("upmsync_checks_total");
        if done >= checks {
            assert_no_secret(&body);
            return samples;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than {checks} checks finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_checks_on_a_schedule_with_gets_only_and_shows_a_change_on_the_next_scrape() {
    let case = TestEnv::new().await;
    case.manifest(APPS, "ignore");
    let (served, address) = Served::start(
        &case,
        &[
            "-f",
            "apps.yaml",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1s",
        ],
    )
    .await;
    assert!(address.starts_with("http://127.0.0.1:"), "{address}");
    assert!(
        !address.ends_with(":0"),
        "the bound port is printed: {address}"
    );

    let (status, _, body) = get(&format!("{address}/healthz")).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = get(&format!("{address}/nothing-here")).await;
    assert_eq!(status, 404);

    let samples = scrape_after(&address, 1.0).await;
    let instance = [("instance", INSTANCE)];
    assert_eq!(
        value(&samples, "upmsync_instance_in_sync", &instance),
        Some(0.0)
    );
    assert_eq!(
        value(
            &samples,
            "upmsync_changes_pending",
            &[("instance", INSTANCE), ("action", "uninstall")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "upmsync_changes_pending",
            &[("instance", INSTANCE), ("action", "enable")]
        ),
        Some(0.0)
    );

    // Someone disables beta between two checks (the test's own PUT is not serve's).
    let response = reqwest::Client::new()
        .put(format!(
            "{}rest/plugins/1.0/com.vendor.beta-key",
            case.sim.upm_url()
        ))
        .basic_auth("admin", Some(PASSWORD))
        .header("Content-Type", "application/vnd.atl.plugins.plugin+json")
        .body(r#"{"enabled":false}"#)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let before = serve_checks(&address).await;
    case.sim.clear_requests();
    // A check that started after the change has finished.
    let samples = scrape_after(&address, before + 2.0).await;
    assert_eq!(
        value(
            &samples,
            "upmsync_changes_pending",
            &[("instance", INSTANCE), ("action", "enable")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "upmsync_app_info",
            &[
                ("instance", INSTANCE),
                ("key", "com.vendor.beta"),
                ("version", "2.5.0"),
                ("enabled", "false"),
            ]
        ),
        Some(1.0)
    );
    // Read-only: every request serve sent is a GET, and it changed nothing (beta stays disabled).
    let requests = case.sim.requests();
    assert!(!requests.is_empty());
    let methods: std::collections::BTreeSet<&str> = requests
        .iter()
        .map(|request| request.method.as_str())
        .collect();
    assert_eq!(methods, ["GET"].into_iter().collect(), "{requests:#?}");
    assert!(!case.sim.plugin("com.vendor.beta").unwrap().enabled);
    assert!(case.sim.plugin("com.vendor.gamma").is_some());

    let (code, stderr) = served.stop("-TERM");
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Stopping (SIGTERM)."), "{stderr}");
    assert!(stderr.ends_with("Stopped."), "{stderr}");
    assert_no_secret(&stderr);
}

/// The checks finished so far, from `/metrics`.
async fn serve_checks(address: &str) -> f64 {
    let (_, _, body) = get(&format!("{address}/metrics")).await;
    value(&parse(&body), "upmsync_checks_total", &[]).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_reports_an_unreadable_instance_in_the_metrics_and_stays_healthy() {
    let case = TestEnv::new().await;
    case.manifest_at("http://127.0.0.1:1/jira/", APPS, "ignore");
    let (served, address) = Served::start(
        &case,
        &[
            "--retries",
            "0",
            "-f",
            "apps.yaml",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1h",
        ],
    )
    .await;
    let samples = scrape_after(&address, 1.0).await;
    let instance = [("instance", INSTANCE)];
    assert_eq!(
        value(&samples, "upmsync_instance_read_error", &instance),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "upmsync_instance_in_sync", &instance),
        Some(0.0)
    );
    assert_eq!(count(&samples, "upmsync_changes_pending"), 0);
    // The process is healthy; the instance is not (that is in /metrics).
    let (status, _, body) = get(&format!("{address}/healthz")).await;
    assert_eq!(status, 200, "{body}");
    let (code, stderr) = served.stop("-INT");
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: "),
        "the read error is shown: {stderr}"
    );
    assert!(stderr.contains("Stopping (Ctrl-C)."), "{stderr}");
}
