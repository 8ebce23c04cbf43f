//! The fresh-eyes review of issue 12, products half only ("Confluence, Bitbucket and Bamboo as
//! first-class as Jira"): each finding a test that fails on the branch under review (`566d535`),
//! marked must-fix or nice-to-have, with what is wrong and what a fix looks like. The publishing
//! half was not in the reviewed tree.

use upmsync_sim::Product;

use crate::support::*;

/// Two apps of [`small_jira`]'s Marketplace, one licensed.
const APPS: &str = "  - key: com.vendor.alpha\n    version: 2.0.0\n    license:\n      env: TEST_LICENSE\n  - key: com.vendor.beta\n    version: 2.5.0\n";

/// Finding 1 (must-fix). A manifest whose `product:` disagrees with the server is not noticed:
/// upmsync reads the product's own endpoint, gets a 404 (a Confluence has no `serverInfo`), falls
/// back to the applinks manifest, which says `"typeId":"confluence"`, and takes its version and
/// build as the manifest's product's. So against a Confluence 9.2.0 (build 9208) with
/// `product: jira`, `plan` says "`com.vendor.alpha` 2.0.0 is not compatible with jira 9.2.0
/// (build 9208)" (with `latest`: "no version ... compatible with jira build 9208"), and
/// `outdated --product-version 10.3.0` prints `Instance ... (jira 9.2.0 build 9208 -> 10.3.0 build
/// 10030000)` and marks every Marketplace app "no compatible version" (exit 2): the admin is told
/// to replace apps when the manifest (or its `url`: a copied manifest pointing at the wrong host)
/// is what is wrong. With an app range that happens to hold the foreign build (a Bamboo build
/// 90611 lies between Jira 7.2's 72002 and 8.0's 800007) `latest` resolves to a version for the
/// wrong product, silently. Where: `UpmClient::product_info` (src/upm/client.rs) falls back to the
/// applinks manifest without looking at its `typeId`, and `wire::ProductInfo` (src/upm/wire.rs)
/// does not read it. A fix: read `typeId` (`jira`, `confluence`, `stash` for Bitbucket, `bamboo`),
/// and when it names another product than the manifest's, fail the instance with an error naming
/// both (`instance `jira-test` is a Confluence (applinks typeId `confluence`), but the manifest
/// says `product: jira``), hint: fix `product` or `url`. (The docs' Products table already lists
/// `typeId` per product.)
#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_product_the_server_contradicts_is_an_error_naming_the_servers_product() {
    // A context path that names no product, so only a message can say "confluence".
    let env = TestEnv::with(small_jira().product(Product::Confluence).context_path("/x")).await;
    env.manifest(APPS, "ignore"); // `product: jira`
    for args in [
        &["plan", "-f", "apps.yaml"][..],
        &["drift", "-f", "apps.yaml"][..],
        &["outdated", "-f", "apps.yaml", "--product-version", "10.3.0"][..],
    ] {
        let output = env.run(args).await;
        let all = format!("{}{}", output.stdout, output.stderr).to_lowercase();
        assert!(
            output.code == 1 && all.contains("confluence"),
            "`{}` against a Confluence with `product: jira` must fail naming the product the \
             server reports, not treat Confluence's build as a Jira one:\n{}",
            args.join(" "),
            output.snapshot()
        );
        assert!(
            !all.contains("jira 9.2.0") && !all.contains("jira build 9208"),
            "`{}` presents Confluence's version and build as Jira's:\n{}",
            args.join(" "),
            output.snapshot()
        );
    }
    assert!(env.mutating().is_empty());
}

/// Finding 1, the other direction (must-fix): `product: confluence` against a Jira takes Jira's
/// build 9120015 as a Confluence build, and a manifest that needs no compatibility check (here an
/// uninstall) plans and would apply on an instance of the wrong product without a word (plan
/// exits 0 showing `Plan for prod: 1 uninstall` under `product 9.12.15 build 9120015`). Same
/// cause and fix as above. (The instance is named `prod` and the context path `/x` so that only a
/// message can say "jira".)
#[tokio::test(flavor = "multi_thread")]
async fn a_confluence_manifest_does_not_plan_against_a_jira() {
    let env = TestEnv::with(small_jira().context_path("/x")).await;
    let text = manifest_text(
        &env.sim,
        "  - key: com.vendor.gamma\n    state: absent\n",
        "ignore",
    )
    .replace("product: jira", "product: confluence")
    .replace(&format!("name: {INSTANCE}"), "name: prod");
    assert!(!text.contains("jira"), "{text}");
    std::fs::write(env.path("apps.yaml"), text).unwrap();
    let plan = env.run(&["plan", "-f", "apps.yaml"]).await;
    let all = format!("{}{}", plan.stdout, plan.stderr).to_lowercase();
    assert!(
        plan.code == 1 && all.contains("jira"),
        "a `product: confluence` manifest against a Jira must fail naming the product the server \
         reports:\n{}",
        plan.snapshot()
    );
}

/// Finding 2 (nice-to-have). docs/manifest.md's Products table says Bitbucket and Bamboo run
/// "often [with] none (its own host)" as context path, but when a manifest's `url` carries a
/// context path the product does not have (`https://bitbucket.example.com/bitbucket` for a
/// Bitbucket at the root), the 404 diagnosis does not look at the root: it says "there is no UPM
/// REST API at this URL" and hints that the url "probably lacks the product's context path (e.g.
/// `/jira`, `/confluence`, `/wiki`)", the opposite of the truth. Where:
/// `UpmClient::explain_not_found` (src/upm/diagnose.rs) probes only `jira/`, `confluence/`,
/// `wiki/`, `bitbucket/`, `bamboo/` under the origin, never the origin itself; the hint is in
/// src/upm/error.rs (`NoUpm` without `found`). A fix: probe `/` too (one more HEAD on the same
/// origin), so the error says "but there is one at https://bitbucket.example.com/", and name
/// `/bitbucket` and `/bamboo` in the hint's examples.
#[tokio::test(flavor = "multi_thread")]
async fn a_url_with_a_context_path_the_product_lacks_points_at_the_root() {
    let env = TestEnv::with(small_jira().product(Product::Bitbucket).context_path("")).await;
    let root = env.sim.upm_url().clone();
    assert_eq!(root.path(), "/");
    let wrong = root.join("bitbucket/").unwrap();
    let text = manifest_text(&env.sim, APPS, "ignore")
        .replace(root.as_str(), wrong.as_str())
        .replace("product: jira", "product: bitbucket");
    assert!(text.contains(wrong.as_str()));
    std::fs::write(env.path("apps.yaml"), text).unwrap();
    let plan = env.run(&["plan", "-f", "apps.yaml"]).await;
    assert_eq!(plan.code, 1, "{}", plan.snapshot());
    assert!(
        plan.stderr.contains(&format!("there is one at {root}")),
        "the diagnosis should find UPM at the root {root}, where a Bitbucket usually runs:\n{}",
        plan.snapshot()
    );
}

/// Finding 3 (nice-to-have). The simulator's docs and help still describe a Jira-only simulator
/// after `--product`: docs/simulator.md's "How closely it follows UPM" says "**Product info**:
/// Jira `/rest/api/2/serverInfo` and `/rest/applinks/1.0/manifest`" and "The apps' compatibility
/// ranges are for `jira`." (with `--product X` they are for X, as its own Products section says),
/// and `upmsync sim --help` says `--product-build` is what "the simulated Jira reports" and
/// `--listen` is the address of "the simulated Jira", though both apply to every product. Where:
/// docs/simulator.md (the Product info and Marketplace bullets), src/cli.rs (the sim arguments'
/// doc comments). A fix: "the simulated product" in the help; in the docs, point the bullets at
/// the Products section ("the simulated product's endpoints", "ranges are for the simulated
/// product's application").
#[test]
fn the_simulator_docs_and_help_do_not_describe_a_jira_only_simulator() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/simulator.md"),
    )
    .unwrap();
    let stale: Vec<&str> = [
        "The apps' compatibility ranges are for `jira`.",
        "**Product info**: Jira `/rest/api/2/serverInfo` and `/rest/applinks/1.0/manifest`.",
    ]
    .into_iter()
    .filter(|line| docs.contains(line))
    .collect();
    let help = command(std::path::Path::new("."))
        .args(["sim", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let product_build = help
        .split("--product-build")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default()
        .to_string();
    assert!(
        stale.is_empty() && !product_build.contains("simulated Jira"),
        "docs/simulator.md still says {stale:?}; `sim --help` for --product-build says: {product_build}"
    );
}

/// Finding 4 (nice-to-have). The simulator's web pages (`--web-page`, `SimConfig::web_page`) are
/// Jira's whatever the product: `upmsync sim --product bitbucket --web-page login` answers "Log
/// in - Jira" with Jira's logo and links, `setup` "Set up Jira", and `upgrade` "Jira is upgrading
/// ... version 9.12.15 (build 9120015)" (hard-coded, not even the configured build), so a user
/// trying upmsync's diagnoses on a simulated Bitbucket reads `answered 200 OK with a web page (a
/// login page: "Log in - Jira")`. The issue asks the simulator to play each product as
/// first-class as Jira. Where: crates/sim/src/front.rs (`jira_head` and the page bodies take no
/// product). A fix: name the simulated product (`Product::name`) and its configured version and
/// build in the pages (the product's own title formats where known, `guess:` otherwise), and say
/// so in docs/simulator.md's table of pages.
#[tokio::test(flavor = "multi_thread")]
async fn the_simulated_web_pages_belong_to_the_simulated_product() {
    use upmsync_sim::WebPage;
    let mut wrong = Vec::new();
    for page in [WebPage::Login, WebPage::Setup, WebPage::Upgrade] {
        let env = TestEnv::with(small_jira().product(Product::Bitbucket).web_page(page)).await;
        let body = reqwest::get(env.sim.upm_url().join("rest/plugins/1.0/").unwrap())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if body.contains("Jira") || body.contains("9120015") {
            wrong.push(format!("{page:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "a simulated Bitbucket answers Jira's pages (naming Jira or its build 9120015): {wrong:?}"
    );
}
