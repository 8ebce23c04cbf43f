//! The demo seeds of Confluence, Bitbucket and Bamboo beside Jira's ([`SimConfig::jira_demo`]):
//! each product's own system apps, UPM, apps vendors really sell for it, and their Marketplace
//! listings with compatibility ranges in that product's build numbers.
//!
//! Every seed has the same shape, so one example manifest per product (`examples/<product>/`)
//! exercises the same loop: a licensed app to upgrade (with an old license installed), an app
//! installed above the version the manifest wants (a downgrade), a third app the manifest keeps
//! disabled, `com.example.retired` (the manifest says `state: absent`) and `com.example.sandbox`
//! (named nowhere: reported, or uninstalled with `unmanaged: uninstall`).
//!
//! The product build numbers come from the simulated Marketplace's application versions
//! (`marketplace.rs`, marketplace-api.md §8, §12), so `outdated --product-version` answers for
//! these products as it does for Jira. The installed version of each upgraded app is not
//! compatible with the product's newest listed version, so that question has a real answer.

use super::config::{SeedCompatibility, SeedMarketplaceApp, SeedMarketplaceVersion, SeedPlugin};
use super::product::Product;
use super::SimConfig;

/// A product version and its Marketplace build number, as the simulated Marketplace lists it.
type Build = (&'static str, u64);

// guess: Confluence's Marketplace build numbers are not in the reference (§12 says only that
// they are not the internal build); these are the simulated Marketplace's.
const CONFLUENCE_7_19: Build = ("7.19.0", 8_804);
const CONFLUENCE_8_5: Build = ("8.5.0", 9_012);
const CONFLUENCE_9_2: Build = ("9.2.0", 9_208);
// Real: Bitbucket 4.8.5 and 9.4.22 (§12); 8.19.0 is a guess numbered like them.
const BITBUCKET_4_8: Build = ("4.8.5", 4_008_005);
const BITBUCKET_8_19: Build = ("8.19.0", 8_019_000);
const BITBUCKET_9_4_22: Build = ("9.4.22", 9_004_022);
// guess: Bamboo's build numbers are not in the reference; these are the simulated Marketplace's.
const BAMBOO_9_2: Build = ("9.2.0", 90_208);
const BAMBOO_9_6: Build = ("9.6.0", 90_611);
const BAMBOO_10_0: Build = ("10.0.0", 100_007);

/// The inclusive range from `min` to `max`.
fn range(min: Build, max: Build) -> SeedCompatibility {
    SeedCompatibility {
        min_build: min.1,
        min_version: min.0.into(),
        max_build: max.1,
        max_version: max.0.into(),
    }
}

/// One Marketplace app of a seed: its listing and, per version, its compatibility.
struct Listing {
    key: &'static str,
    name: &'static str,
    id: u64,
    vendor: (&'static str, &'static str),
    licensing: bool,
    /// (version, build number, compatible from, compatible to), oldest first.
    versions: &'static [(&'static str, u64, Build, Build)],
}

impl SimConfig {
    /// Returns the demo seed of `product`: [`SimConfig::jira_demo`] for Jira,
    /// [`SimConfig::confluence_demo`], [`SimConfig::bitbucket_demo`] or
    /// [`SimConfig::bamboo_demo`] for the others.
    pub fn demo(product: Product) -> Self {
        match product {
            Product::Jira => Self::jira_demo(),
            Product::Confluence => Self::confluence_demo(),
            Product::Bitbucket => Self::bitbucket_demo(),
            Product::Bamboo => Self::bamboo_demo(),
        }
    }

    /// Returns the demo Confluence (9.2.0 at `/wiki`) that `examples/confluence/apps.yaml` is
    /// written against: Confluence's bundled apps, draw.io 24.0.0 (licensed; compatible with
    /// Confluence 7.19 to 8.5 only), Gliffy 10.3.0, Comala Document Management 6.21.1, and the
    /// retired and sandbox apps.
    pub fn confluence_demo() -> Self {
        let config = Self::empty().product(Product::Confluence);
        let config = system_apps(
            config,
            &[
                (
                    "com.atlassian.confluence.plugins.confluence-create-content-plugin",
                    "Confluence Create Content Plugin",
                    "9.2.0",
                ),
                ("confluence.macros.advanced", "Advanced Macros", "9.2.0"),
                // guess: the key of the collaborative editor (Synchrony) plugin.
                (
                    "com.atlassian.confluence.plugins.synchrony-interop",
                    "Confluence Synchrony Interop Plugin",
                    "9.2.0",
                ),
                (
                    "com.atlassian.troubleshooting.plugin-confluence",
                    "Atlassian Troubleshooting and Support Tools",
                    "1.56.2",
                ),
                (
                    "com.atlassian.applinks.applinks-plugin",
                    "Atlassian Applinks Plugin",
                    "10.0.4",
                ),
                (
                    "com.atlassian.analytics.analytics-client",
                    "Atlassian Analytics",
                    "9.6.0",
                ),
            ],
        );
        let drawio = "com.mxgraph.confluence.plugins.diagramly";
        let gliffy = "com.gliffy.integration.confluence";
        let comala = "com.comalatech.workflow";
        let config = config
            .plugin(
                SeedPlugin::user(drawio, "draw.io Diagrams for Confluence", "24.0.0")
                    .license("demo-old-drawio-license"),
            )
            .plugin(
                SeedPlugin::user(gliffy, "Gliffy Diagrams for Confluence", "10.3.0").licensing(),
            )
            .plugin(SeedPlugin::user(comala, "Comala Document Management", "6.21.1").licensing());
        // guess: the Marketplace app ids and the apps' build numbers.
        let listings = [
            Listing {
                key: drawio,
                name: "draw.io Diagrams for Confluence",
                id: 1_210_933,
                vendor: ("draw.io", "https://www.drawio.com"),
                licensing: true,
                versions: &[
                    ("24.0.0", 1_024_000, CONFLUENCE_7_19, CONFLUENCE_8_5),
                    ("24.5.1", 1_024_501, CONFLUENCE_7_19, CONFLUENCE_9_2),
                    ("25.0.2", 1_025_002, CONFLUENCE_8_5, CONFLUENCE_9_2),
                    ("25.1.0", 1_025_100, CONFLUENCE_9_2, CONFLUENCE_9_2),
                ],
            },
            Listing {
                key: gliffy,
                name: "Gliffy Diagrams for Confluence",
                id: 254,
                vendor: ("Gliffy", "https://www.gliffy.com"),
                licensing: true,
                versions: &[
                    ("10.1.0", 1_010_100, CONFLUENCE_7_19, CONFLUENCE_8_5),
                    ("10.2.1", 1_010_201, CONFLUENCE_7_19, CONFLUENCE_9_2),
                    ("10.3.0", 1_010_300, CONFLUENCE_8_5, CONFLUENCE_9_2),
                ],
            },
            Listing {
                key: comala,
                name: "Comala Document Management",
                id: 142,
                vendor: ("Appfire", "https://appfire.com"),
                licensing: true,
                versions: &[
                    ("6.20.0", 1_062_000, CONFLUENCE_7_19, CONFLUENCE_9_2),
                    ("6.21.1", 1_062_101, CONFLUENCE_8_5, CONFLUENCE_9_2),
                ],
            },
        ];
        with_listings(in_house_apps(config), &listings)
    }

    /// Returns the demo Bitbucket (9.4.22 at `/bitbucket`) that `examples/bitbucket/apps.yaml`
    /// is written against: Bitbucket's bundled apps, ScriptRunner for Bitbucket 8.20.0 (licensed;
    /// compatible with Bitbucket 4.8 to 8.19 only), Awesome Graphs 6.6.0, Pull Request Notifier
    /// 3.39.0 (free), and the retired and sandbox apps.
    pub fn bitbucket_demo() -> Self {
        let config = Self::empty().product(Product::Bitbucket);
        let config = system_apps(
            config,
            &[
                (
                    "com.atlassian.bitbucket.server.bitbucket-git",
                    "Bitbucket Server - Git",
                    "9.4.22",
                ),
                (
                    "com.atlassian.bitbucket.server.bitbucket-ref-restriction",
                    "Bitbucket Server - Ref Restriction",
                    "9.4.22",
                ),
                // guess: the key of the bundled mirroring plugin.
                (
                    "com.atlassian.bitbucket.server.bitbucket-mirroring-upstream",
                    "Bitbucket Server - Mirroring Upstream",
                    "9.4.22",
                ),
                (
                    "com.atlassian.troubleshooting.plugin-bitbucket",
                    "Atlassian Troubleshooting and Support Tools",
                    "1.56.2",
                ),
                (
                    "com.atlassian.applinks.applinks-plugin",
                    "Atlassian Applinks Plugin",
                    "10.0.4",
                ),
                (
                    "com.atlassian.analytics.analytics-client",
                    "Atlassian Analytics",
                    "9.6.0",
                ),
            ],
        );
        let scriptrunner = "com.onresolve.stash.groovy.groovyrunner";
        let graphs = "com.stiltsoft.stash.graphs";
        let notifier = "se.bjurr.prnfs.pull-request-notifier-for-stash";
        let config = config
            .plugin(
                SeedPlugin::user(scriptrunner, "ScriptRunner for Bitbucket", "8.20.0")
                    .license("demo-old-scriptrunner-bitbucket-license"),
            )
            .plugin(SeedPlugin::user(graphs, "Awesome Graphs for Bitbucket", "6.6.0").licensing())
            .plugin(SeedPlugin::user(
                notifier,
                "Pull Request Notifier for Bitbucket",
                "3.39.0",
            ));
        // guess: the Marketplace app ids and the apps' build numbers.
        let listings = [
            Listing {
                key: scriptrunner,
                name: "ScriptRunner for Bitbucket",
                id: 1_213_451,
                vendor: ("Adaptavist", "https://www.adaptavist.com"),
                licensing: true,
                versions: &[
                    ("8.20.0", 1_008_200, BITBUCKET_4_8, BITBUCKET_8_19),
                    ("8.27.0", 1_008_270, BITBUCKET_8_19, BITBUCKET_9_4_22),
                    ("8.28.1", 1_008_281, BITBUCKET_8_19, BITBUCKET_9_4_22),
                    ("8.30.0", 1_008_300, BITBUCKET_9_4_22, BITBUCKET_9_4_22),
                ],
            },
            Listing {
                key: graphs,
                name: "Awesome Graphs for Bitbucket",
                id: 1_214_416,
                vendor: ("Stiltsoft", "https://stiltsoft.com"),
                licensing: true,
                versions: &[
                    ("6.4.0", 1_006_400, BITBUCKET_4_8, BITBUCKET_8_19),
                    ("6.5.1", 1_006_501, BITBUCKET_8_19, BITBUCKET_9_4_22),
                    ("6.6.0", 1_006_600, BITBUCKET_8_19, BITBUCKET_9_4_22),
                ],
            },
            Listing {
                key: notifier,
                name: "Pull Request Notifier for Bitbucket",
                id: 1_213_177,
                vendor: ("Tomas Bjerre", "https://github.com/tomasbjerre"),
                licensing: false,
                versions: &[
                    ("3.38.0", 1_003_380, BITBUCKET_4_8, BITBUCKET_9_4_22),
                    ("3.39.0", 1_003_390, BITBUCKET_8_19, BITBUCKET_9_4_22),
                ],
            },
        ];
        with_listings(in_house_apps(config), &listings)
    }

    /// Returns the demo Bamboo (9.6.0 at `/bamboo`) that `examples/bamboo/apps.yaml` is written
    /// against: Bamboo's bundled apps, Tasks for AWS 3.6.0 (licensed; compatible with Bamboo 9.2
    /// only), Sonar for Bamboo 3.6.1, Ansible for Bamboo 2.4.0, and the retired and sandbox apps.
    pub fn bamboo_demo() -> Self {
        let config = Self::empty().product(Product::Bamboo);
        // guess: Bamboo's bundled plugin keys (not in the reference).
        let config = system_apps(
            config,
            &[
                (
                    "com.atlassian.bamboo.plugins.atlassian-bamboo-plugin-git",
                    "Atlassian Bamboo Git Repository",
                    "9.6.0",
                ),
                (
                    "com.atlassian.bamboo.plugins.bamboo-docker-plugin",
                    "Bamboo Docker Plugin",
                    "9.6.0",
                ),
                (
                    "com.atlassian.bamboo.plugins.bamboo-artifact-downloader-plugin",
                    "Artifact Downloader Task",
                    "9.6.0",
                ),
                (
                    "com.atlassian.troubleshooting.plugin-bamboo",
                    "Atlassian Troubleshooting and Support Tools",
                    "1.56.2",
                ),
                (
                    "com.atlassian.applinks.applinks-plugin",
                    "Atlassian Applinks Plugin",
                    "10.0.4",
                ),
                (
                    "com.atlassian.analytics.analytics-client",
                    "Atlassian Analytics",
                    "9.6.0",
                ),
            ],
        );
        let aws = "net.utoolity.atlassian.bamboo.tasks-for-aws";
        // guess: the keys of Sonar for Bamboo and Ansible for Bamboo.
        let sonar = "ch.mibex.bamboo.sonar4bamboo";
        let ansible = "ch.mibex.bamboo.ansible";
        let config = config
            .plugin(
                SeedPlugin::user(aws, "Tasks for AWS (Bamboo)", "3.6.0")
                    .license("demo-old-tasks-for-aws-license"),
            )
            .plugin(SeedPlugin::user(sonar, "Sonar for Bamboo", "3.6.1").licensing())
            .plugin(SeedPlugin::user(ansible, "Ansible for Bamboo", "2.4.0").licensing());
        // guess: the Marketplace app ids and the apps' build numbers.
        let listings = [
            Listing {
                key: aws,
                name: "Tasks for AWS (Bamboo)",
                id: 1_209_893,
                vendor: ("Utoolity", "https://utoolity.net"),
                licensing: true,
                versions: &[
                    ("3.6.0", 1_003_600, BAMBOO_9_2, BAMBOO_9_2),
                    ("3.7.0", 1_003_700, BAMBOO_9_2, BAMBOO_9_6),
                    ("3.8.2", 1_003_802, BAMBOO_9_2, BAMBOO_10_0),
                    ("3.9.0", 1_003_900, BAMBOO_9_6, BAMBOO_10_0),
                ],
            },
            Listing {
                key: sonar,
                name: "Sonar for Bamboo",
                id: 1_211_221,
                vendor: ("Mibex Software", "https://www.mibexsoftware.com"),
                licensing: true,
                versions: &[
                    ("3.4.0", 1_003_400, BAMBOO_9_2, BAMBOO_9_6),
                    ("3.5.0", 1_003_500, BAMBOO_9_2, BAMBOO_10_0),
                    ("3.6.1", 1_003_601, BAMBOO_9_6, BAMBOO_10_0),
                ],
            },
            Listing {
                key: ansible,
                name: "Ansible for Bamboo",
                id: 1_217_024,
                vendor: ("Mibex Software", "https://www.mibexsoftware.com"),
                licensing: true,
                versions: &[
                    ("2.3.0", 1_002_300, BAMBOO_9_2, BAMBOO_9_6),
                    ("2.4.0", 1_002_400, BAMBOO_9_2, BAMBOO_10_0),
                ],
            },
        ];
        with_listings(in_house_apps(config), &listings)
    }
}

/// Adds the product's bundled apps (system, by Atlassian).
fn system_apps(mut config: SimConfig, apps: &[(&str, &str, &str)]) -> SimConfig {
    for (key, name, version) in apps {
        config = config
            .plugin(SeedPlugin::system(key, name, version))
            .plugin_vendor(key, "Atlassian", "https://www.atlassian.com");
    }
    config
}

/// Adds the two in-house apps every demo has: one the manifest retires, one it does not name.
fn in_house_apps(config: SimConfig) -> SimConfig {
    config
        .plugin(SeedPlugin::user(
            "com.example.retired",
            "Retired Helper",
            "1.0.0",
        ))
        .plugin(SeedPlugin::user(
            "com.example.sandbox",
            "Sandbox Experiments",
            "0.3.0",
        ))
}

/// Adds each listing to the Marketplace with its versions' compatibility, and its vendor to the
/// installed app.
fn with_listings(mut config: SimConfig, listings: &[Listing]) -> SimConfig {
    for listing in listings {
        let mut app = SeedMarketplaceApp::new(listing.key, listing.name, listing.id, []);
        for (version, build, min, max) in listing.versions {
            let mut seed = SeedMarketplaceVersion::new(version, *build);
            if listing.licensing {
                seed = seed.licensing();
            }
            app = app.version(seed);
            config = config.version_compatibility(listing.key, *build, range(*min, *max));
        }
        config = config.marketplace_app(app).plugin_vendor(
            listing.key,
            listing.vendor.0,
            listing.vendor.1,
        );
    }
    config
}
