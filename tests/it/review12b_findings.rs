//! The second fresh-eyes review of issue 12, publishing half (`upmsync publish`, the simulated
//! Marketplace's publishing side, publish -> plan -> apply), on the merged result (`a40856c`).
//! Each finding is a test that fails on that tree, marked must-fix or nice-to-have, with what is
//! wrong and what a fix looks like. No must-fix was found: the secrets, the dry run, the lost and
//! failed creates, the upload's validation and the end-to-end install all held (see the report).

use upmsync_sim::jar::build_plugin_jar;
use upmsync_sim::{SimServer, PUBLISHER_EMAIL, PUBLISHER_TOKEN};

use crate::support::*;

/// `com.vendor.alpha` of [`small_jira`]: versions 1.0.0, 1.1.0, 2.0.0 (builds 100001 to
/// 100003), paid (`paymentModel: vendor`), compatible with Jira 8.0.0 to 11.0.0.
const KEY: &str = "com.vendor.alpha";

fn write_jar(env: &TestEnv, name: &str, version: &str) {
    std::fs::write(
        env.path(name),
        build_plugin_jar(KEY, "Alpha", version, true),
    )
    .expect("the jar is written");
}

/// `upmsync publish ARGS` against the simulator's Marketplace, with `token` as the API token (the
/// publisher's email), or anonymously when `None`.
async fn publish(env: &TestEnv, args: &[&str], token: Option<&str>) -> CommandOutput {
    let marketplace = env.sim.marketplace_url().to_string();
    let mut command = command(env.dir());
    command
        .arg("publish")
        .args(args)
        .args(["--marketplace-url", &marketplace])
        .env_remove("MARKETPLACE_EMAIL")
        .env_remove("MARKETPLACE_API_TOKEN")
        .env_remove("UPMSYNC_MARKETPLACE_URL");
    if let Some(token) = token {
        command
            .env("MARKETPLACE_EMAIL", PUBLISHER_EMAIL)
            .env("MARKETPLACE_API_TOKEN", token);
    }
    finish(spawn(command)).await
}

fn marketplace_posts(env: &TestEnv) -> usize {
    env.sim
        .requests()
        .into_iter()
        .filter(|request| request.server == SimServer::Marketplace && request.method == "POST")
        .count()
}

/// Finding 1 (nice-to-have). `--compatibility` repeated for one application is accepted and sent
/// as two entries for that application: `--compatibility jira:8000000-8999999 --compatibility
/// jira:9120000-10030000` publishes `"compatibilities": [{"application":"jira",…},
/// {"application":"jira",…}]` and prints "jira builds 8000000 to 8999999 / jira builds 9120000
/// to 10030000" as if the version had two ranges for Jira. A Marketplace version has one range
/// per application and hosting (§4; MPC's `VersionCompatibility`), so the real Marketplace either
/// refuses the document after the upload went through, or keeps one of the ranges (which one is
/// anyone's guess); the simulator stores both, and the next publish copies both. Usually a typo
/// (`jira` for `confluence`) or a leftover line in a CI script. Where: `parse_compatibility`
/// (src/ops/publish.rs) checks each flag alone; nothing checks the list
/// (`commands::publish` / `ops::publish::publish`). Fix: refuse the list before anything is read
/// or sent, naming the application and both ranges ("`--compatibility` names `jira` twice
/// (8000000-8999999, 9120000-10030000): give one range per application"). The simulator could
/// refuse it too (`compatibilities[1].application`: "`jira` appears twice").
#[tokio::test(flavor = "multi_thread")]
async fn review12b_a_compatibility_repeated_for_one_application_is_refused() {
    let env = TestEnv::with(small_jira()).await;
    write_jar(&env, "alpha-2.1.0.jar", "2.1.0");
    let output = publish(
        &env,
        &[
            "alpha-2.1.0.jar",
            "--compatibility",
            "jira:8000000-8999999",
            "--compatibility",
            "jira:9120000-10030000",
        ],
        Some(PUBLISHER_TOKEN),
    )
    .await;
    assert_eq!(
        output.code, 1,
        "two ranges for `jira` were published:\n{}\n{}",
        output.stdout, output.stderr
    );
    assert!(output.stderr.contains("jira"), "{}", output.stderr);
    assert_eq!(
        marketplace_posts(&env),
        0,
        "refused before anything is sent"
    );
}

/// Finding 2 (nice-to-have, simulator). The simulated Marketplace takes a `buildNumber` above
/// 2^63-1 (Java's `long`, the Marketplace's type; upmsync's own `--build-number` stops at
/// 2^63-1): `"buildNumber": 18446744073709551615` is created (201), while
/// `99999999999999999999` is refused as "must be a positive integer". The version so created is
/// then every later publish's "latest" (each warns "build number … is not above that of the
/// latest version (18446744073709551615)") and its download URL carries a number no client of
/// the real Marketplace would see. Where: `crates/sim/src/publish.rs`, the `buildNumber` check
/// reads `Value::as_u64`. Fix: accept 1..=i64::MAX only (`as_i64().filter(|n| *n > 0)`), else
/// 400 `buildNumber`, as for any other number out of range.
#[tokio::test(flavor = "multi_thread")]
async fn review12b_the_simulator_refuses_a_build_number_above_a_java_long() {
    let env = TestEnv::with(small_jira()).await;
    let marketplace = env.sim.marketplace_url();
    let client = reqwest::Client::new();
    let upload: serde_json::Value = client
        .post(
            marketplace
                .join("rest/2/assets/artifact?file=alpha-2.1.0.jar")
                .unwrap(),
        )
        .basic_auth(PUBLISHER_EMAIL, Some(PUBLISHER_TOKEN))
        .header("Content-Type", "application/octet-stream")
        .body(build_plugin_jar(KEY, "Alpha", "2.1.0", true))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let asset = upload["_links"]["self"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let document = format!(
        r#"{{"_links":{{"artifact":{{"href":"{asset}"}}}},"buildNumber":9223372036854775808,
            "name":"2.1.0","status":"public","paymentModel":"vendor",
            "compatibilities":[{{"application":"jira","hosting":{{"dataCenter":
              {{"min":{{"build":800000}},"max":{{"build":11000000}}}}}}}}]}}"#
    );
    let response = client
        .post(
            marketplace
                .join(&format!("rest/2/addons/{KEY}/versions"))
                .unwrap(),
        )
        .basic_auth(PUBLISHER_EMAIL, Some(PUBLISHER_TOKEN))
        .header("Content-Type", "application/json")
        .body(document)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert_eq!(status, 400, "build number 2^63 was created: {body}");
    assert!(body.contains("buildNumber"), "{body}");
}

/// Finding 3 (nice-to-have). An API token with a trailing newline (a secret pasted with its line
/// end, `MARKETPLACE_API_TOKEN=$(cat token.txt)` in a shell that keeps it, a Kubernetes secret
/// from a file made with `echo`) is sent as is, so the Marketplace answers 401 and upmsync says
/// "check MARKETPLACE_EMAIL ... and MARKETPLACE_API_TOKEN": the user looks at a token that is
/// right. upmsync already treats a blank variable as not set (it trims to decide that), but it
/// does not trim the value it sends. API tokens and emails never have surrounding whitespace.
/// Where: where `MARKETPLACE_EMAIL`/`MARKETPLACE_API_TOKEN` are read (src/commands/publish.rs).
/// Fix: trim both (or refuse them naming the whitespace: "`MARKETPLACE_API_TOKEN` ends with a
/// newline"); either way a 401 is not the first thing the user sees.
#[tokio::test(flavor = "multi_thread")]
async fn review12b_a_token_with_a_trailing_newline_is_not_a_mystery_401() {
    let env = TestEnv::with(small_jira()).await;
    write_jar(&env, "alpha-2.1.0.jar", "2.1.0");
    let token = format!("{PUBLISHER_TOKEN}\n");
    let output = publish(&env, &["alpha-2.1.0.jar", "--dry-run"], Some(&token)).await;
    assert!(
        output.code == 0
            || output.stderr.contains("newline")
            || output.stderr.contains("whitespace"),
        "a token with a line end gives an unexplained 401:\n{}",
        output.stderr
    );
}

/// Finding 4 (nice-to-have). A paid listing's next version is published free without a word:
/// compatibility is copied from the latest version when not given, but the payment model is
/// not, and `--payment-model` defaults to `free`. So `upmsync publish alpha-2.1.0.jar --status
/// public` on a listing whose versions are all `paymentModel: vendor` posts `"paymentModel":
/// "free"` (the simulator then serves the version as `commercial-free`); on the real Marketplace
/// this is at best a refusal after the upload and at worst a paid app's release offered free.
/// The dry run that CI runs first shows it only inside the JSON document. Where:
/// `ops::publish::publish` (src/ops/publish.rs) reads `latest` but compares only its build
/// number. Fix: when `--payment-model` is not given, take the latest version's (as for the
/// compatibility, saying "payment model vendor, copied from version 2.0.0"), or at least warn
/// when the model sent differs from the latest version's; docs/publish.md and commands.md then
/// say so.
#[tokio::test(flavor = "multi_thread")]
async fn review12b_a_paid_listing_is_not_published_free_by_default_without_a_word() {
    let env = TestEnv::with(small_jira()).await;
    write_jar(&env, "alpha-2.1.0.jar", "2.1.0");
    let output = publish(
        &env,
        &["alpha-2.1.0.jar", "--dry-run", "--status", "public"],
        Some(PUBLISHER_TOKEN),
    )
    .await;
    assert_eq!(output.code, 0, "{}", output.stderr);
    let document: serde_json::Value = serde_json::from_str(&output.stdout).expect("the document");
    assert!(
        document["paymentModel"] == "vendor"
            || (output.stderr.contains("payment") && output.stderr.contains("vendor")),
        "a `vendor` listing's version is sent as `{}` silently:\n{}",
        document["paymentModel"],
        output.stderr
    );
}

/// Finding 5 (nice-to-have, docs). docs/publish.md "Trying it on the simulator" tells a new user
/// to `upmsync sim &` and `upmsync publish my-app-1.2.3.jar --status public`, and docs/simulator.md
/// "Publishing" does the same with `my-app-1.2.3.jar`; neither says which listings the simulated
/// Marketplace has, so the user's own jar fails with "the Marketplace at http://127.0.0.1:2991/
/// has no listing `com.example.my-app`; hint: ... create the listing on the Marketplace's website
/// first", which is impossible on the simulator (it has no way to create a listing). Where:
/// docs/publish.md (and docs/simulator.md) only. Fix: name a listing of `upmsync sim`'s default
/// Marketplace (for Jira `com.onresolve.jira.groovy.groovyrunner`,
/// `com.midori.jira.plugin.pdfview`, `is.origo.jira.tempo-plugin`; per `--product`, see
/// simulator.md) and say the jar's descriptor must carry that key and a version the listing does
/// not have; ideally the "no listing" hint, against a loopback Marketplace, lists the simulator's
/// keys.
#[test]
fn review12b_the_simulator_walkthrough_names_a_listing_the_simulator_has() {
    let publish_md = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/publish.md"),
    )
    .unwrap();
    let section = publish_md
        .split("## Trying it on the simulator")
        .nth(1)
        .expect("the section")
        .split("\n## ")
        .next()
        .unwrap();
    let seeded = [
        "com.onresolve.jira.groovy.groovyrunner",
        "com.midori.jira.plugin.pdfview",
        "is.origo.jira.tempo-plugin",
    ];
    assert!(
        seeded.iter().any(|key| section.contains(key)),
        "the walkthrough names no listing the simulator has:\n{section}"
    );
}
