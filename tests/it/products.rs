//! The binary against a simulated Jira, Confluence, Bitbucket and Bamboo: each reports its
//! version through its own endpoint (marketplace-api.md §12), and plan, apply (an upgrade with a
//! license) and drift work on each with the manifest's `product:` set accordingly.

use upmsync_sim::{Product, SimServer};

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
