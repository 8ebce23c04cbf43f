//! `upmsync publish` against the simulated Marketplace: a version published, then resolved and
//! installed by plan and apply; private versions invisible to anonymous reads; every refusal
//! (key, name, build number, the Marketplace's field errors, credentials, plain http); the dry
//! run; a lost answer and a failed create; and no secret in any output.

use base64::Engine;
use upmsync_sim::jar::build_plugin_jar;
use upmsync_sim::{Fault, FaultRule, SimServer, PUBLISHER_EMAIL, PUBLISHER_TOKEN};

use crate::support::*;
use crate::upmsync_snapshot;

/// The listing every test publishes to: `com.vendor.alpha` of [`small_jira`] (versions 1.0.0,
/// 1.1.0, 2.0.0 with builds 100001 to 100003, compatible with Jira 8.0.0 to 11.0.0).
const KEY: &str = "com.vendor.alpha";

/// Writes a plugin jar of `key` at `version` into the test's folder as `name`.
fn write_jar(env: &TestEnv, name: &str, key: &str, version: &str) {
    std::fs::write(
        env.path(name),
        build_plugin_jar(key, "Alpha", version, true),
    )
    .expect("the jar is written");
}

/// Runs `upmsync publish` with `args` after the artifact, against the simulator's Marketplace,
/// with the publisher's credentials when `credentials` (and never from the test's own
/// environment otherwise).
async fn publish(env: &TestEnv, args: &[&str], credentials: bool) -> CommandOutput {
    publish_env(env, args, credentials, &[]).await
}

/// [`publish`] with more environment variables.
async fn publish_env(
    env: &TestEnv,
    args: &[&str],
    credentials: bool,
    extra: &[(&str, &str)],
) -> CommandOutput {
    let marketplace = env.sim.marketplace_url().to_string();
    let mut command = crate::support::command(env.dir());
    command
        .arg("publish")
        .args(args)
        .args(["--marketplace-url", &marketplace])
        .env_remove("MARKETPLACE_EMAIL")
        .env_remove("MARKETPLACE_API_TOKEN")
        .env_remove("UPMSYNC_MARKETPLACE_URL");
    if credentials {
        command
            .env("MARKETPLACE_EMAIL", PUBLISHER_EMAIL)
            .env("MARKETPLACE_API_TOKEN", PUBLISHER_TOKEN);
    }
    command.envs(extra.iter().copied());
    finish(spawn(command)).await
}

/// The version `name` of `key` as the Marketplace shows it to the publisher (private ones too),
/// or `None`.
async fn version(env: &TestEnv, key: &str, name: &str) -> Option<serde_json::Value> {
    let url = env
        .sim
        .marketplace_url()
        .join(&format!(
            "rest/2/addons/{key}/versions/name/{name}?includePrivate=true"
        ))
        .unwrap();
    let response = reqwest::Client::new()
        .get(url)
        .basic_auth(PUBLISHER_EMAIL, Some(PUBLISHER_TOKEN))
        .send()
        .await
        .unwrap();
    match response.status().as_u16() {
        404 => None,
        200 => Some(response.json().await.unwrap()),
        other => panic!("reading version `{name}` answered {other}"),
    }
}

/// The Marketplace's POSTs the simulator received.
fn posts(env: &TestEnv) -> Vec<String> {
    env.sim
        .requests()
        .into_iter()
        .filter(|request| request.server == SimServer::Marketplace && request.method == "POST")
        .map(|request| request.path)
        .collect()
}

/// The token, and the `Basic` forms of the credentials, never in what a run printed.
fn assert_no_secret(output: &CommandOutput) {
    let all = format!("{}{}", output.stdout, output.stderr);
    assert!(!all.contains(PUBLISHER_TOKEN), "the token leaked:\n{all}");
    let pair = format!("{PUBLISHER_EMAIL}:{PUBLISHER_TOKEN}");
    for engine in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for secret in [pair.as_str(), PUBLISHER_TOKEN] {
            let encoded = engine.encode(secret);
            assert!(!all.contains(&encoded), "`{encoded}` leaked:\n{all}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_version_published_is_planned_and_installed_end_to_end() {
    let env = TestEnv::new().await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    std::fs::write(env.path("notes.html"), "<p>Faster <b>reports</b></p>\n").unwrap();
    let output = publish(
        &env,
        &[
            "alpha-2.1.0.jar",
            "--status",
            "public",
            "--release-summary",
            "Faster",
            "--release-notes",
            "notes.html",
            "--supported",
        ],
        true,
    )
    .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let created = version(&env, KEY, "2.1.0").await.expect("created");
    assert_eq!(created["status"], "public");
    assert_eq!(created["text"]["releaseSummary"], "Faster");
    assert_eq!(
        created["text"]["releaseNotes"],
        "<p>Faster <b>reports</b></p>\n"
    );
    assert_eq!(created["release"]["supported"], true);
    let stdout = env.filter(&output.stdout);
    assert!(
        stdout.starts_with(
            "published `com.vendor.alpha` version `2.1.0` (build number 200100000, public)\n"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("copied from version `2.0.0`"), "{stdout}");
    // The listing is paid via the vendor: its new version stays so, and the output says why.
    assert!(
        stdout.contains("payment model: vendor (copied from version `2.0.0`)"),
        "{stdout}"
    );
    assert_eq!(created["paymentModel"], "vendor");
    assert!(stdout.contains("alpha-2.1.0.jar, "), "{stdout}");
    assert!(stdout.contains("url:"), "{stdout}");
    assert_eq!(
        posts(&env).len(),
        2,
        "one upload and one create: {:?}",
        posts(&env)
    );
    // Anonymous reads see it; plan resolves it, apply installs it, and then nothing is left.
    env.manifest("  - key: com.vendor.alpha\n    version: 2.1.0\n", "ignore");
    let plan = env.run(&["plan", "-f", "apps.yaml"]).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("2.1.0"), "{}", plan.stdout);
    let apply = env
        .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
        .await;
    assert_eq!(apply.code, 0, "{}\n{}", apply.stdout, apply.stderr);
    let installed = env.sim.plugin(KEY).expect("alpha is installed");
    assert_eq!(installed.version, "2.1.0");
    let again = env
        .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
        .await;
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_version_is_invisible_to_plan_and_its_name_counts_as_taken() {
    let env = TestEnv::new().await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    let output = publish(&env, &["alpha-2.1.0.jar"], true).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(output.stdout.contains(", private)"), "{}", output.stdout);
    let created = version(&env, KEY, "2.1.0").await.expect("created");
    assert_eq!(created["status"], "private");
    // plan reads the Marketplace anonymously: no such version.
    env.manifest("  - key: com.vendor.alpha\n    version: 2.1.0\n", "ignore");
    let plan = env.run(&["plan", "-f", "apps.yaml"]).await;
    assert_eq!(plan.code, 1, "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.stderr.contains("has no version `2.1.0`"),
        "{}",
        plan.stderr
    );
    // A second publish of the same name is refused: the private version counts.
    let again = publish(&env, &["alpha-2.1.0.jar"], true).await;
    upmsync_snapshot!(env, again, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: `com.vendor.alpha` already has a version `2.1.0` (private) on the Marketplace
    hint: publish never replaces a version: raise the version in the artifact's descriptor
    ");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_artifact_of_another_app_is_refused_before_anything_is_sent() {
    let env = TestEnv::new().await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    let output = publish(
        &env,
        &["alpha-2.1.0.jar", "--addon-key", "com.vendor.beta"],
        true,
    )
    .await;
    upmsync_snapshot!(env, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: `alpha-2.1.0.jar` is the app `com.vendor.alpha`, but `--addon-key` is `com.vendor.beta`
    hint: publish the listing's own artifact, or correct `--addon-key`
    ");
    // Neither a missing file nor one not named like an artifact reaches the Marketplace.
    let missing = publish(&env, &["missing-1.0.0.jar"], true).await;
    assert_eq!(missing.code, 1);
    assert!(
        missing
            .stderr
            .starts_with("error: cannot read `missing-1.0.0.jar`\nCaused by: "),
        "{}",
        missing.stderr
    );
    std::fs::copy(env.path("alpha-2.1.0.jar"), env.path("alpha-2.1.0.zip")).unwrap();
    let zip = publish(&env, &["alpha-2.1.0.zip"], true).await;
    assert!(
        zip.stderr
            .starts_with("error: `alpha-2.1.0.zip` is not named `*.jar` or `*.obr`"),
        "{}",
        zip.stderr
    );
    assert!(env.sim.requests().is_empty(), "{:?}", env.sim.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_or_build_number_taken_is_refused_and_nothing_is_uploaded() {
    let env = TestEnv::new().await;
    write_jar(&env, "alpha-2.0.0.jar", KEY, "2.0.0");
    let output = publish(&env, &["alpha-2.0.0.jar"], true).await;
    upmsync_snapshot!(env, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: `com.vendor.alpha` already has a version `2.0.0` (public) on the Marketplace
    hint: publish never replaces a version: raise the version in the artifact's descriptor
    ");
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    let output = publish(&env, &["alpha-2.1.0.jar", "--build-number", "100003"], true).await;
    upmsync_snapshot!(env, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: build number 100003 of `com.vendor.alpha` is already version `2.0.0`'s
    hint: pass another `--build-number` (above the latest version's)
    ");
    assert!(posts(&env).is_empty(), "{:?}", posts(&env));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_build_number_is_derived_and_a_low_one_warns() {
    let env = TestEnv::new().await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    let output = publish(&env, &["alpha-2.1.0.jar", "--format", "json"], true).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let shown: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(shown["format_version"], 1);
    assert_eq!(shown["published"], true);
    assert_eq!(shown["build_number"], 200_100_000);
    assert_eq!(shown["artifact"]["file"], "alpha-2.1.0.jar");
    assert_eq!(shown["artifact"]["sha256"].as_str().map(str::len), Some(64));
    let created = version(&env, KEY, "2.1.0").await.expect("created");
    assert_eq!(created["buildNumber"], 200_100_000);
    // A build number below the latest's is allowed, with a warning.
    write_jar(&env, "alpha-2.2.0.jar", KEY, "2.2.0");
    let output = publish(&env, &["alpha-2.2.0.jar", "--build-number", "150000"], true).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output.stderr.contains("warning: build number 150000 is not above that of the latest version `2.1.0` (200100000)"),
        "{}",
        output.stderr
    );
    // A version the formula cannot represent needs `--build-number`.
    write_jar(&env, "alpha-beta.jar", KEY, "3.0.0-beta1");
    let output = publish(&env, &["alpha-beta.jar"], true).await;
    upmsync_snapshot!(env, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: cannot derive a build number from version `3.0.0-beta1`: it is not MAJOR.MINOR.PATCH in digits (a qualifier such as `-beta` has no place in the formula)
    hint: pass `--build-number N` (above the latest version's; the Marketplace sorts versions by it)
    ");
}

#[tokio::test(flavor = "multi_thread")]
async fn compatibility_is_copied_from_the_latest_version_or_taken_as_given() {
    let env = TestEnv::new().await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    let output = publish(&env, &["alpha-2.1.0.jar"], true).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let latest = version(&env, KEY, "2.0.0").await.expect("2.0.0");
    let copied = version(&env, KEY, "2.1.0").await.expect("2.1.0");
    let data_center = |version: &serde_json::Value| {
        version["compatibilities"][0]["hosting"]["dataCenter"].clone()
    };
    assert_eq!(copied["compatibilities"][0]["application"], "jira");
    assert_eq!(
        data_center(&copied)["min"]["build"],
        data_center(&latest)["min"]["build"]
    );
    assert_eq!(
        data_center(&copied)["max"]["build"],
        data_center(&latest)["max"]["build"]
    );
    write_jar(&env, "alpha-2.2.0.jar", KEY, "2.2.0");
    let output = publish(
        &env,
        &["alpha-2.2.0.jar", "--compatibility", "jira:9000000-9200000"],
        true,
    )
    .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output
            .stdout
            .contains("jira builds 9000000 to 9200000, Data Center"),
        "{}",
        output.stdout
    );
    let given = version(&env, KEY, "2.2.0").await.expect("2.2.0");
    assert_eq!(data_center(&given)["min"]["build"], 9_000_000);
    assert_eq!(data_center(&given)["max"]["build"], 9_200_000);
    // A bad flag is refused by the parser, naming the value.
    let output = publish(
        &env,
        &["alpha-2.2.0.jar", "--compatibility", "jira:9-1"],
        true,
    )
    .await;
    assert_eq!(output.code, 1);
    assert!(
        output
            .stderr
            .contains("the lowest build 9 is above the highest 1"),
        "{}",
        output.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_listing_without_versions_needs_a_compatibility_and_an_unknown_listing_is_refused() {
    let config = small_jira().marketplace_app(marketplace_app("com.vendor.empty", 400, &[]));
    let env = TestEnv::with(config).await;
    write_jar(&env, "unlisted-1.0.0.jar", "com.vendor.unlisted", "1.0.0");
    let output = publish(&env, &["unlisted-1.0.0.jar"], true).await;
    upmsync_snapshot!(env, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: the Marketplace at [MARKETPLACE]/ has no listing `com.vendor.unlisted`
    hint: publish adds a version to an existing listing: create the listing on the Marketplace's website first, and check the key
    ");
    write_jar(&env, "empty-1.0.0.jar", "com.vendor.empty", "1.0.0");
    let output = publish(&env, &["empty-1.0.0.jar"], true).await;
    upmsync_snapshot!(env, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: no compatibility for `com.vendor.empty`: none was given and the listing has no version to copy it from
    hint: pass `--compatibility APP:MIN_BUILD-MAX_BUILD` (e.g. jira:9120000-10030000), once per product
    ");
    assert!(posts(&env).is_empty(), "{:?}", posts(&env));
    let output = publish(
        &env,
        &["empty-1.0.0.jar", "--compatibility", "jira:9120000-9120015"],
        true,
    )
    .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(version(&env, "com.vendor.empty", "1.0.0").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_marketplaces_field_errors_are_shown_one_per_line() {
    let env = TestEnv::new().await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    // `crowd` is an application key upmsync knows; the simulated Marketplace does not.
    let args = ["alpha-2.1.0.jar", "--compatibility", "crowd:1-2"];
    let output = publish(&env, &args, true).await;
    upmsync_snapshot!(env, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: POST [MARKETPLACE]/rest/2/addons/com.vendor.alpha/versions was refused (400 Bad Request):
      compatibilities[0].application: unknown application `crowd`
    ");
    let output = publish(&env, &[&args[..], &["--format", "json"]].concat(), true).await;
    assert_eq!(output.code, 1, "{}", output.stderr);
    let shown: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(shown["format_version"], 1);
    assert_eq!(shown["published"], false);
    assert_eq!(shown["errors"][0]["path"], "compatibilities[0].application");
    assert!(version(&env, KEY, "2.1.0").await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_are_required_and_go_only_over_https_or_loopback() {
    let env = TestEnv::new().await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    let output = publish(&env, &["alpha-2.1.0.jar"], false).await;
    upmsync_snapshot!(env, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: `MARKETPLACE_EMAIL` and `MARKETPLACE_API_TOKEN` are not set: publishing needs an Atlassian account's email and API token
    hint: set MARKETPLACE_EMAIL to the account's email and MARKETPLACE_API_TOKEN to one of its API tokens (id.atlassian.com, Security, API tokens; in CI, from the secret store); `--dry-run` reads anonymously without them
    ");
    let mut command = crate::support::command(env.dir());
    command
        .args(["publish", "alpha-2.1.0.jar"])
        .env("MARKETPLACE_EMAIL", PUBLISHER_EMAIL)
        .env_remove("MARKETPLACE_API_TOKEN")
        .env("UPMSYNC_MARKETPLACE_URL", "http://marketplace.example.com/");
    let output = finish(spawn(command)).await;
    assert_eq!(output.code, 1);
    assert!(
        output
            .stderr
            .starts_with("error: `MARKETPLACE_API_TOKEN` is not set"),
        "{}",
        output.stderr
    );
    // Plain http to a host that is not loopback: refused before any request.
    let mut command = crate::support::command(env.dir());
    command
        .args(["publish", "alpha-2.1.0.jar", "-v"])
        .env("MARKETPLACE_EMAIL", PUBLISHER_EMAIL)
        .env("MARKETPLACE_API_TOKEN", PUBLISHER_TOKEN)
        .env("UPMSYNC_MARKETPLACE_URL", "http://marketplace.example.com/");
    let output = finish(spawn(command)).await;
    upmsync_snapshot!(env, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: the Marketplace URL `http://marketplace.example.com/` uses plain `http://` to a host that is not loopback: the API token would cross the network unencrypted
    hint: use the Marketplace's `https://` URL
    ");
    // A URL with credentials in it is refused without being shown.
    let mut command = crate::support::command(env.dir());
    command
        .args(["publish", "alpha-2.1.0.jar"])
        .env("MARKETPLACE_EMAIL", PUBLISHER_EMAIL)
        .env("MARKETPLACE_API_TOKEN", PUBLISHER_TOKEN)
        .env(
            "UPMSYNC_MARKETPLACE_URL",
            "https://vendor:url-password@marketplace.example.com/",
        );
    let output = finish(spawn(command)).await;
    upmsync_snapshot!(env, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: the Marketplace URL (`--marketplace-url`, UPMSYNC_MARKETPLACE_URL) contains credentials
    hint: give them in MARKETPLACE_EMAIL and MARKETPLACE_API_TOKEN, never in the URL
    ");
    // Wrong credentials: the Marketplace's 401 explained.
    let marketplace = env.sim.marketplace_url().to_string();
    let mut command = crate::support::command(env.dir());
    command
        .args([
            "publish",
            "alpha-2.1.0.jar",
            "--marketplace-url",
            &marketplace,
        ])
        .env("MARKETPLACE_EMAIL", PUBLISHER_EMAIL)
        .env("MARKETPLACE_API_TOKEN", "not-the-token");
    let output = finish(spawn(command)).await;
    assert_eq!(output.code, 1);
    assert!(
        output
            .stderr
            .contains("the Marketplace refused the credentials"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("hint: check MARKETPLACE_EMAIL"),
        "{}",
        output.stderr
    );
    assert!(
        !output.stderr.contains("not-the-token"),
        "{}",
        output.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_posts_nothing_and_prints_the_document() {
    let env = TestEnv::new().await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    let output = publish(
        &env,
        &[
            "alpha-2.1.0.jar",
            "--dry-run",
            "--compatibility",
            "jira:9000000-9200000",
            "--beta",
        ],
        true,
    )
    .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let document: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(document["name"], "2.1.0");
    assert_eq!(document["buildNumber"], 200_100_000);
    assert_eq!(document["status"], "private");
    assert_eq!(document["release"]["beta"], true);
    assert_eq!(
        document["compatibilities"][0]["hosting"]["dataCenter"]["max"]["build"],
        9_200_000
    );
    assert!(document["_links"]["artifact"]["href"]
        .as_str()
        .is_some_and(|href| href.ends_with("alpha-2.1.0.jar")));
    assert!(
        output
            .stderr
            .contains("dry run: nothing was uploaded or created"),
        "{}",
        output.stderr
    );
    assert!(posts(&env).is_empty(), "{:?}", posts(&env));
    assert!(env.mutating().is_empty());
    assert!(version(&env, KEY, "2.1.0").await.is_none());
    // As JSON: the usual document, the version document inside it.
    let output = publish(
        &env,
        &["alpha-2.1.0.jar", "--dry-run", "--format", "json"],
        true,
    )
    .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let shown: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(shown["format_version"], 1);
    assert_eq!(shown["dry_run"], true);
    assert_eq!(shown["published"], false);
    assert_eq!(shown["compatibility_copied_from"], "2.0.0");
    assert_eq!(shown["document"]["name"], "2.1.0");
    assert!(shown.get("url").is_none(), "{shown}");
    // Without credentials it reads anonymously, and says what it could not check.
    let output = publish(&env, &["alpha-2.1.0.jar", "--dry-run"], false).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output
            .stderr
            .contains("warning: not checked: private versions"),
        "{}",
        output.stderr
    );
    assert!(posts(&env).is_empty(), "{:?}", posts(&env));
}

/// A rule on the create (`POST …/versions`) of the Marketplace.
fn on_create(fault: Fault) -> FaultRule {
    FaultRule {
        server: Some(SimServer::Marketplace),
        method: Some("POST".into()),
        path: Some("/versions$".into()),
        first: Some(1),
        probability: None,
        fault,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_answer_to_the_create_is_settled_by_reading_the_listing() {
    let env = TestEnv::with(small_jira().faults(faults(vec![on_create(Fault::DropAfter)]))).await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    let output = publish(&env, &["alpha-2.1.0.jar"], true).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output
            .stderr
            .contains("warning: the answer to creating version `2.1.0` was lost"),
        "{}",
        output.stderr
    );
    assert!(
        output
            .stderr
            .contains("found it with build number 200100000: it was published"),
        "{}",
        output.stderr
    );
    assert!(output.stdout.starts_with("published "), "{}", output.stdout);
    assert!(version(&env, KEY, "2.1.0").await.is_some());
    // The create was sent once, never repeated.
    let creates = posts(&env)
        .into_iter()
        .filter(|path| path.ends_with("/versions"))
        .count();
    assert_eq!(creates, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_create_says_nothing_was_created_and_a_rerun_publishes() {
    let status = Fault::Status {
        status: 500,
        retry_after: None,
    };
    let env = TestEnv::with(small_jira().faults(faults(vec![on_create(status)]))).await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    let output = publish(&env, &["alpha-2.1.0.jar"], true).await;
    upmsync_snapshot!(env, output, @r"
    exit: 1
    ----- stdout -----
    ----- stderr -----
    error: the answer to creating version `2.1.0` was lost (it answered 500 Internal Server Error), and the listing has no version `2.1.0`: nothing was created
    hint: it is safe to run the same publish again
    ");
    let again = publish(&env, &["alpha-2.1.0.jar"], true).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(version(&env, KEY, "2.1.0").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_any_output_at_any_log_level() {
    // The upload's answer echoes the request, its Authorization header included, and is shown
    // as an excerpt in the error.
    let echo = FaultRule {
        server: Some(SimServer::Marketplace),
        method: Some("POST".into()),
        path: Some("/assets/artifact$".into()),
        first: None,
        probability: None,
        fault: Fault::EchoRequest { status: 400 },
    };
    let env = TestEnv::with(small_jira().faults(faults(vec![echo]))).await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    for (args, log) in [
        (vec!["alpha-2.1.0.jar", "-vvv"], "warn,upmsync=trace"),
        (vec!["alpha-2.1.0.jar", "--format", "json"], "trace"),
        (vec!["alpha-2.1.0.jar", "-vvv", "--dry-run"], "trace"),
    ] {
        let output = publish_env(&env, &args, true, &[("RUST_LOG", log)]).await;
        assert!(output.code <= 1, "{args:?}: {}", output.stderr);
        assert!(!output.stderr.is_empty());
        assert_no_secret(&output);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_obr_is_published_as_its_main_jars_app_and_version() {
    let env = TestEnv::new().await;
    let main = build_plugin_jar(KEY, "Alpha", "2.1.0", true);
    let library = build_plugin_jar("com.vendor.library", "Library", "1.0.0", false);
    std::fs::write(
        env.path("alpha-2.1.0.obr"),
        upmsync_sim::jar::build_obr(&main, &[("library-1.0.0.jar", &library)]),
    )
    .unwrap();
    let output = publish(&env, &["alpha-2.1.0.obr", "--addon-key", KEY], true).await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    assert!(
        output.stdout.starts_with(
            "published `com.vendor.alpha` version `2.1.0` (build number 200100000, private)"
        ),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("alpha-2.1.0.obr, "),
        "{}",
        output.stdout
    );
    assert!(version(&env, KEY, "2.1.0").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_upload_is_never_sent_again_and_nothing_is_created() {
    let drop_upload = FaultRule {
        server: Some(SimServer::Marketplace),
        method: Some("POST".into()),
        path: Some("/assets/artifact$".into()),
        first: Some(1),
        probability: None,
        fault: Fault::DropAfter,
    };
    let env = TestEnv::with(small_jira().faults(faults(vec![drop_upload]))).await;
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    let output = publish(&env, &["alpha-2.1.0.jar"], true).await;
    assert_eq!(output.code, 1, "{}", output.stderr);
    let stderr = env.filter(&output.stderr);
    assert!(
        stderr.starts_with("error: uploading `alpha-2.1.0.jar` failed: nothing was published\nCaused by: POST [MARKETPLACE]/rest/2/assets/artifact?... failed: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: an upload the Marketplace may have stored is referenced by no version, invisible and harmless: it is safe to run the same publish again"),
        "{stderr}"
    );
    assert_eq!(
        posts(&env).len(),
        1,
        "one upload, no create: {:?}",
        posts(&env)
    );
    // The rerun uploads again and publishes.
    let again = publish(&env, &["alpha-2.1.0.jar"], true).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(version(&env, KEY, "2.1.0").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_host_never_carries_the_credentials() {
    use std::sync::{Arc, Mutex};
    // Another host (another origin: the port differs) that records what reaches it.
    let reached: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = Arc::clone(&reached);
    let other = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let record = Arc::clone(&record);
        async move {
            let authorization = request
                .headers()
                .get("authorization")
                .map(|value| value.to_str().unwrap_or("(binary)").to_string());
            record
                .lock()
                .unwrap()
                .push(authorization.unwrap_or_else(|| "(none)".into()));
            "{}"
        }
    });
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let other_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, other).await });
    // The "Marketplace" sends its root there.
    let target = format!("{other_url}/rest/2");
    let redirecting = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move { axum::response::Redirect::temporary(&target) }
    });
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let marketplace = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirecting).await });
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("alpha-2.1.0.jar"),
        build_plugin_jar(KEY, "Alpha", "2.1.0", true),
    )
    .unwrap();
    let mut command = crate::support::command(folder.path());
    command
        .args([
            "publish",
            "alpha-2.1.0.jar",
            "--marketplace-url",
            &marketplace,
        ])
        .env("MARKETPLACE_EMAIL", PUBLISHER_EMAIL)
        .env("MARKETPLACE_API_TOKEN", PUBLISHER_TOKEN);
    let output = finish(spawn(command)).await;
    assert_eq!(output.code, 1, "{}", output.stderr);
    assert!(
        output
            .stderr
            .contains("307 Temporary Redirect, a redirect to `http://"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("which upmsync does not follow"),
        "{}",
        output.stderr
    );
    assert!(
        reached.lock().unwrap().is_empty(),
        "the other host was reached: {:?}",
        reached.lock().unwrap()
    );
    assert_no_secret(&output);
}

/// A version name that cannot be a path segment of the `byName` link (`..`, a `/`) is refused
/// before anything is read or sent, and so is a `--payment-model` given explicitly kept as given.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_name_that_is_no_name_is_refused_and_a_given_payment_model_is_kept() {
    let env = TestEnv::new().await;
    for name in ["..", "1.0/2"] {
        write_jar(&env, "odd.jar", KEY, name);
        let output = publish(&env, &["odd.jar", "--build-number", "7"], true).await;
        assert_eq!(output.code, 1, "{}", output.snapshot());
        assert!(
            output
                .stderr
                .contains(&format!("`{name}` cannot be a Marketplace version name")),
            "{}",
            output.stderr
        );
    }
    assert!(env
        .sim
        .requests()
        .iter()
        .all(|request| request.server != SimServer::Marketplace));
    write_jar(&env, "alpha-2.1.0.jar", KEY, "2.1.0");
    let output = publish(
        &env,
        &["alpha-2.1.0.jar", "--payment-model", "free", "--dry-run"],
        true,
    )
    .await;
    assert_eq!(output.code, 0, "{}", output.snapshot());
    let document: serde_json::Value = serde_json::from_str(&output.stdout).unwrap();
    assert_eq!(document["paymentModel"], "free");
}
