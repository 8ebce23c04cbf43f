//! The binary against a simulated Jira, Confluence, Bitbucket and Bamboo: each reports its
//! version through its own endpoint (marketplace-api.md §12), and plan, apply (an upgrade with a
//! license) and drift work on each with the manifest's `product:` set accordingly. The full loop
//! (an upgrade, a downgrade, a license change, a disable, an upload and two uninstalls) runs on
//! each product's demo seed with the product's own example manifest, and `validate` accepts every
//! example.

use std::collections::BTreeSet;
use std::path::Path;

use upmsync_sim::{Product, SimConfig, SimServer};

use crate::support::*;

const APPS: &str = "  - key: com.vendor.alpha\n    version: 2.0.0\n    license:\n      env: TEST_LICENSE\n  - key: com.vendor.beta\n    version: 2.5.0\n";

/// The product-listener paths (under the context path) of the successful GETs, deduplicated.
fn product_reads(case: &TestEnv) -> Vec<String> {
    let context = case.sim.upm_url().path().trim_end_matches('/').to_string();
    let mut paths: Vec<String> = case
        .sim
        .requests()
        .into_iter()
        .filter(|request| request.server == SimServer::Upm && request.status == 200)
        .filter_map(|request| request.path.strip_prefix(&context).map(String::from))
        .filter(|path| !path.starts_with("/rest/plugins/"))
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

fn assert_no_secret(output: &CommandOutput) {
    let all = format!("{}{}", output.stdout, output.stderr);
    assert!(!all.contains(LICENSE), "license text leaked:\n{all}");
    assert!(
        !all.contains("YWRtaW46YWRtaW4"),
        "Basic credentials leaked:\n{all}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_and_drift_work_on_each_product() {
    for (product, context, version_endpoint) in [
        (Product::Jira, "/jira/", "/rest/api/2/serverInfo"),
        (Product::Confluence, "/wiki/", "/rest/applinks/1.0/manifest"),
        (
            Product::Bitbucket,
            "/bitbucket/",
            "/rest/api/1.0/application-properties",
        ),
        (Product::Bamboo, "/bamboo/", "/rest/applinks/1.0/manifest"),
    ] {
        let case = TestEnv::with(small_jira().product(product)).await;
        assert_eq!(case.sim.upm_url().path(), context);
        let text = manifest_text(&case.sim, APPS, "ignore")
            .replace("product: jira", &format!("product: {}", product.key()));
        assert!(text.contains(&format!("product: {}", product.key())));
        std::fs::write(case.path("apps.yaml"), text).expect("apps.yaml written");
        let (version, build) = product.default_version();
        let heading = format!("product {version} build {build}");

        let plan = case
            .run(&["plan", "-f", "apps.yaml", "--detailed-exitcode"])
            .await;
        assert_eq!(plan.code, 2, "{product:?}: {}", plan.snapshot());
        assert!(
            plan.stdout.contains(&heading),
            "{product:?}: {}",
            plan.stdout
        );
        assert!(
            plan.stdout.contains("com.vendor.alpha") && plan.stdout.contains("upgrade"),
            "{product:?}: {}",
            plan.stdout
        );
        assert!(
            case.mutating().is_empty(),
            "{product:?}: plan changed nothing"
        );
        assert_eq!(
            product_reads(&case),
            [version_endpoint],
            "{product:?}: the version is read from the product's own endpoint"
        );

        let apply = case
            .run(&["apply", "-f", "apps.yaml", "--auto-approve"])
            .await;
        assert_eq!(apply.code, 0, "{product:?}: {}", apply.snapshot());
        let alpha = case
            .sim
            .plugin("com.vendor.alpha")
            .expect("alpha installed");
        assert_eq!(alpha.version, "2.0.0", "{product:?}");
        assert_eq!(
            case.sim.license("com.vendor.alpha").as_deref(),
            Some(LICENSE),
            "{product:?}"
        );

        let drift = case.run(&["drift", "-f", "apps.yaml"]).await;
        assert_eq!(drift.code, 0, "{product:?}: {}", drift.snapshot());
        for output in [&plan, &apply, &drift] {
            assert_no_secret(output);
        }

        // A manifest that wants another version is drift.
        let moved = std::fs::read_to_string(case.path("apps.yaml"))
            .expect("apps.yaml read")
            .replace("version: 2.0.0", "version: 1.1.0");
        std::fs::write(case.path("apps.yaml"), moved).expect("apps.yaml written");
        let drift = case.run(&["drift", "-f", "apps.yaml"]).await;
        assert_eq!(drift.code, 2, "{product:?}: {}", drift.snapshot());
    }
}

/// `upmsync sim --product bitbucket` (free loopback ports): the first stdout line's product name
/// and URL.
async fn run_sim(flags: &[&str]) -> (tokio::process::Child, String, url::Url) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::from(command(std::path::Path::new(".")))
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--marketplace-listen",
            "127.0.0.1:0",
        ])
        .args(flags)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("upmsync sim starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await.expect("a stdout line") {
        if let Some((name, url)) = line
            .strip_prefix("UPM (")
            .and_then(|rest| rest.split_once("): "))
        {
            let url = url::Url::parse(url.trim()).expect("a URL");
            return (child, name.to_string(), url);
        }
    }
    panic!("`upmsync sim` printed no UPM address");
}

#[tokio::test]
async fn sim_product_serves_that_product_at_its_context_path() {
    let (mut child, name, url) = run_sim(&["--product", "bitbucket"]).await;
    assert_eq!(name, "Bitbucket");
    assert_eq!(url.path(), "/bitbucket/");
    let body: serde_json::Value =
        reqwest::get(url.join("rest/api/1.0/application-properties").unwrap())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(body["buildNumber"], "9004022");
    let status = reqwest::get(url.join("rest/api/2/serverInfo").unwrap())
        .await
        .unwrap()
        .status();
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);
    child.kill().await.unwrap();

    let (mut child, name, url) =
        run_sim(&["--product", "confluence", "--context-path", "/confluence"]).await;
    assert_eq!(name, "Confluence");
    assert_eq!(url.path(), "/confluence/");
    child.kill().await.unwrap();

    let (mut child, name, url) = run_sim(&[]).await;
    assert_eq!((name.as_str(), url.path()), ("Jira", "/jira/"));
    child.kill().await.unwrap();
}

/// What a product's example manifest does to its demo seed (`SimConfig::demo`).
struct Loop {
    product: Product,
    /// The example's path in the repository.
    example: &'static str,
    /// The variables of its user, password and license.
    user: &'static str,
    password: &'static str,
    license: &'static str,
    /// (key, installed, wanted) of the licensed upgrade and of the downgrade.
    upgrade: (&'static str, &'static str, &'static str),
    downgrade: (&'static str, &'static str, &'static str),
    /// The app the instance keeps disabled.
    disabled: &'static str,
    /// A bundled app that stays as it is.
    system: &'static str,
}

const LOOPS: [Loop; 4] = [
    Loop {
        product: Product::Jira,
        example: "apps.yaml.example",
        user: "JIRA_ADMIN_USER",
        password: "JIRA_ADMIN_PASSWORD",
        license: "SCRIPTRUNNER_LICENSE",
        upgrade: ("com.onresolve.jira.groovy.groovyrunner", "8.20.0", "8.28.1"),
        downgrade: ("com.midori.jira.plugin.pdfview", "11.5.1", "11.4.0"),
        disabled: "is.origo.jira.tempo-plugin",
        system: "com.atlassian.jira.jira-software-application",
    },
    Loop {
        product: Product::Confluence,
        example: "examples/confluence/apps.yaml",
        user: "CONFLUENCE_ADMIN_USER",
        password: "CONFLUENCE_ADMIN_PASSWORD",
        license: "DRAWIO_LICENSE",
        upgrade: (
            "com.mxgraph.confluence.plugins.diagramly",
            "24.0.0",
            "25.0.2",
        ),
        downgrade: ("com.gliffy.integration.confluence", "10.3.0", "10.2.1"),
        disabled: "com.comalatech.workflow",
        system: "com.atlassian.confluence.plugins.confluence-create-content-plugin",
    },
    Loop {
        product: Product::Bitbucket,
        example: "examples/bitbucket/apps.yaml",
        user: "BITBUCKET_ADMIN_USER",
        password: "BITBUCKET_ADMIN_PASSWORD",
        license: "SCRIPTRUNNER_LICENSE",
        upgrade: (
            "com.onresolve.stash.groovy.groovyrunner",
            "8.20.0",
            "8.28.1",
        ),
        downgrade: ("com.stiltsoft.stash.graphs", "6.6.0", "6.5.1"),
        disabled: "se.bjurr.prnfs.pull-request-notifier-for-stash",
        system: "com.atlassian.bitbucket.server.bitbucket-git",
    },
    Loop {
        product: Product::Bamboo,
        example: "examples/bamboo/apps.yaml",
        user: "BAMBOO_ADMIN_USER",
        password: "BAMBOO_ADMIN_PASSWORD",
        license: "TASKS_FOR_AWS_LICENSE",
        upgrade: (
            "net.utoolity.atlassian.bamboo.tasks-for-aws",
            "3.6.0",
            "3.8.2",
        ),
        downgrade: ("ch.mibex.bamboo.sonar4bamboo", "3.6.1", "3.5.0"),
        disabled: "ch.mibex.bamboo.ansible",
        system: "com.atlassian.bamboo.plugins.atlassian-bamboo-plugin-git",
    },
];

const RETIRED: &str = "com.example.retired";
const SANDBOX: &str = "com.example.sandbox";
const INHOUSE: &str = "com.example.inhouse";

/// The repository's file at `path`.
fn repository_file(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect("a repository file")
}

/// Writes `example` (pointed at the simulator, with `unmanaged` instead of `report`) and the
/// in-house jar at their repository paths in the case's folder.
fn write_example(case: &TestEnv, example: &Loop, unmanaged: &str) {
    let text = String::from_utf8(repository_file(example.example)).expect("UTF-8");
    let context = example.product.context_path();
    let upm = format!("http://127.0.0.1:2990{context}");
    assert!(text.contains(&upm), "{}: {upm}", example.example);
    let text = text
        .replace(&upm, case.sim.upm_url().as_str())
        .replace(
            "http://127.0.0.1:2991",
            case.sim.marketplace_url().as_str().trim_end_matches('/'),
        )
        .replace("unmanaged: report", &format!("unmanaged: {unmanaged}"));
    let path = case.path(example.example);
    std::fs::create_dir_all(path.parent().expect("a folder")).expect("folder created");
    std::fs::write(path, text).expect("manifest written");
    let jar = case.path("examples/artifacts/inhouse-2.0.0.jar");
    std::fs::create_dir_all(jar.parent().expect("a folder")).expect("folder created");
    std::fs::write(jar, repository_file("examples/artifacts/inhouse-2.0.0.jar")).expect("jar");
}

/// The (key, action) pairs of a JSON plan's one instance.
fn planned(output: &CommandOutput) -> BTreeSet<(String, String)> {
    let plan: serde_json::Value = serde_json::from_str(&output.stdout).expect("a JSON plan");
    plan["instances"][0]["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|change| {
            (
                change["key"].as_str().unwrap_or_default().to_string(),
                change["action"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_full_loop_on_each_products_demo_seed_and_example() {
    for example in LOOPS {
        let product = example.product;
        let case = TestEnv::with(SimConfig::demo(product)).await;
        write_example(&case, &example, "uninstall");
        let env = [
            (example.user, "admin"),
            (example.password, PASSWORD),
            (example.license, LICENSE),
        ];
        let file = example.example;
        let (upgraded, upgraded_from, upgraded_to) = example.upgrade;
        let (downgraded, downgraded_from, downgraded_to) = example.downgrade;
        assert_eq!(
            case.sim.plugin(upgraded).map(|plugin| plugin.version),
            Some(upgraded_from.to_string()),
            "{product:?}"
        );
        assert_eq!(
            case.sim.plugin(downgraded).map(|plugin| plugin.version),
            Some(downgraded_from.to_string()),
            "{product:?}"
        );
        let old_license = case.sim.license(upgraded).expect("an old license");
        let bundled = case.sim.plugin(example.system).expect("a bundled app");

        let plan = case
            .run_env(
                &[
                    "plan",
                    "-f",
                    file,
                    "--format",
                    "json",
                    "--detailed-exitcode",
                ],
                &env,
            )
            .await;
        assert_eq!(plan.code, 2, "{product:?}: {}", plan.snapshot());
        let changes = planned(&plan);
        for (key, action) in [
            (upgraded, "upgrade"),
            (upgraded, "license-set"),
            (downgraded, "downgrade"),
            (example.disabled, "disable"),
            (INHOUSE, "install"),
            (RETIRED, "uninstall"),
            (SANDBOX, "uninstall"),
        ] {
            assert!(
                changes.contains(&(key.to_string(), action.to_string())),
                "{product:?}: no {action} of {key} in {changes:?}"
            );
        }
        assert!(
            case.mutating().is_empty(),
            "{product:?}: plan changed nothing"
        );

        let apply = case
            .run_env(&["apply", "-f", file, "--auto-approve"], &env)
            .await;
        assert_eq!(apply.code, 0, "{product:?}: {}", apply.snapshot());

        // The live state, app by app.
        let version = |key: &str| case.sim.plugin(key).map(|plugin| plugin.version);
        assert_eq!(
            version(upgraded).as_deref(),
            Some(upgraded_to),
            "{product:?}"
        );
        assert_eq!(
            case.sim.license(upgraded).as_deref(),
            Some(LICENSE),
            "{product:?}: the license changed from {old_license}"
        );
        assert_eq!(
            version(downgraded).as_deref(),
            Some(downgraded_to),
            "{product:?}"
        );
        assert_eq!(version(INHOUSE).as_deref(), Some("2.0.0"), "{product:?}");
        let disabled = case.sim.plugin(example.disabled).expect("still installed");
        assert!(
            !disabled.enabled,
            "{product:?}: {} disabled",
            example.disabled
        );
        for gone in [RETIRED, SANDBOX] {
            assert!(
                case.sim.plugin(gone).is_none(),
                "{product:?}: {gone} uninstalled"
            );
        }
        assert_eq!(
            case.sim.plugin(example.system),
            Some(bundled),
            "{product:?}"
        );
        // The downgrade uninstalled the newer version, then installed the older one.
        let downgrade_path = format!("{downgraded}-key");
        let requests = case.mutating();
        let delete = requests.iter().position(|request| {
            request.method == "DELETE" && request.path.ends_with(&downgrade_path)
        });
        let install = requests.iter().rposition(|request| {
            request.method == "POST" && request.path.ends_with("/rest/plugins/1.0/")
        });
        assert!(
            matches!((delete, install), (Some(delete), Some(install)) if delete < install),
            "{product:?}: uninstall then install of {downgraded}"
        );

        let drift = case.run_env(&["drift", "-f", file], &env).await;
        assert_eq!(drift.code, 0, "{product:?}: {}", drift.snapshot());
        let again = case
            .run_env(&["plan", "-f", file, "--detailed-exitcode"], &env)
            .await;
        assert_eq!(again.code, 0, "{product:?}: {}", again.snapshot());
        for output in [&plan, &apply, &drift, &again] {
            assert_no_secret(output);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_accepts_every_products_example() {
    for example in LOOPS {
        let case = TestEnv::new().await;
        write_example(&case, &example, "report");
        let env = [
            (example.user, "admin"),
            (example.password, PASSWORD),
            (example.license, LICENSE),
        ];
        let output = case
            .run_env(&["validate", "-f", example.example], &env)
            .await;
        assert_eq!(
            output.code,
            0,
            "{:?}: {}",
            example.product,
            output.snapshot()
        );
        // `validate` names each instance with its product: `confluence-prod (confluence, URL)`.
        let all = format!("{}{}", output.stdout, output.stderr);
        assert!(
            all.contains(&format!("-prod ({}, ", example.product.key())),
            "{:?}: {all}",
            example.product
        );
        assert_no_secret(&output);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_answers_for_each_products_demo() {
    // (the product version to upgrade to, the licensed app, its lowest and newest compatible
    // versions there).
    for (example, target, lowest, newest) in [
        (&LOOPS[1], "9.2.0", "24.5.1", "25.1.0"),
        (&LOOPS[2], "9.4.22", "8.27.0", "8.30.0"),
        (&LOOPS[3], "10.0.0", "3.8.2", "3.9.0"),
    ] {
        let product = example.product;
        let case = TestEnv::with(SimConfig::demo(product)).await;
        write_example(&case, example, "report");
        let env = [
            (example.user, "admin"),
            (example.password, PASSWORD),
            (example.license, LICENSE),
        ];
        let output = case
            .run_env(
                &[
                    "outdated",
                    "-f",
                    example.example,
                    "--product-version",
                    target,
                    "--format",
                    "json",
                ],
                &env,
            )
            .await;
        assert_eq!(output.code, 2, "{product:?}: {}", output.snapshot());
        let readiness: serde_json::Value =
            serde_json::from_str(&output.stdout).expect("JSON readiness");
        let instance = &readiness["instances"][0];
        assert_eq!(instance["product"], product.key(), "{product:?}");
        let app = instance["apps"]
            .as_array()
            .expect("apps")
            .iter()
            .find(|app| app["key"] == example.upgrade.0)
            .expect("the licensed app");
        assert_eq!(app["status"], "incompatible", "{product:?}: {app}");
        assert_eq!(app["lowest_compatible"], lowest, "{product:?}: {app}");
        assert_eq!(app["newest_compatible"], newest, "{product:?}: {app}");
    }
}
