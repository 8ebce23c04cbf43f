//! The manifest fields of issue 3: version forms, `allow_incompatible`, `install`, `sha256` and
//! `hosting`. Each is loaded when valid, reported with its place when not, merged field by field,
//! and refused on absent apps.

use std::fs;

use crate::support::rules::*;
use upmsync::manifest::{self, LoadOptions};
use upmsync::model::{
    AppKey, Desired, DesiredState, Hosting, InstallMethod, PresentApp, Sha256, Version,
};

use upmsync::version::VersionSpec;

const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const OTHER_DIGEST: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

/// BASE with the instance's `apps` from line 7, then the top-level `apps` (its `apps:` line is
/// 7 + the number of lines of `own`).
fn with_both(own: &str, top: &str) -> String {
    format!("{BASE}    apps:\n{own}apps:\n{top}")
}

/// The present app `key` on the first instance.
fn present(desired: &Desired, key: &str) -> PresentApp {
    match &desired.instances[0].apps[&AppKey::new(key)].state {
        DesiredState::Present(app) => app.clone(),
        DesiredState::Absent => panic!("{key} is absent"),
    }
}

fn version_of(text_value: &str) -> VersionSpec {
    let desired = load(&with_apps(&format!(
        "  - key: com.x\n    version: {text_value}\n"
    )));
    present(&desired, "com.x").version
}

// ---------------------------------------------------------------------------------------------
// version

#[test]
fn version_accepts_exact_latest_and_constraints() {
    let exact = |text: &str| VersionSpec::Exact(Version::parse(text).unwrap());
    assert_eq!(version_of("8.28.1"), exact("8.28.1"));
    assert_eq!(version_of("1.0.0-beta-2"), exact("1.0.0-beta-2"));
    assert_eq!(version_of("latest"), VersionSpec::Latest);
    assert_eq!(version_of("\"latest\""), VersionSpec::Latest);
    for constraint in [
        "\">=8.20, <9\"",
        "'>=8.20, <9'",
        "\"~8.28\"",
        "~8.28",
        "\"^8.2\"",
        "^8.2",
        "<9",
        "\"=8.28.1\"",
        "\">8.0, <=8.30\"",
    ] {
        let spec = version_of(constraint);
        assert!(
            matches!(spec, VersionSpec::Constraint(_)),
            "{constraint}: {spec:?}"
        );
        assert_eq!(spec.to_string(), constraint.trim_matches(['"', '\'']));
    }
    let range = version_of("\">=8.20, <9\"");
    assert!(range.matches(&Version::parse("8.29.3").unwrap()));
    assert!(!range.matches(&Version::parse("9.0").unwrap()));
    // The plugin framework orders `9.0.0-DC` below `9`, but an upper bound does not admit a
    // suffixed build of the bound itself (docs/manifest.md).
    assert!(!range.matches(&Version::parse("9.0.0-DC").unwrap()));
    assert!(!version_of("\"~8.28\"").matches(&Version::parse("8.29.0-rc1").unwrap()));
}

#[test]
fn version_numbers_stay_as_written() {
    // A YAML float or integer is read as its text, not as a number.
    for written in ["1.10", "8", "1.0", "2.50"] {
        match version_of(written) {
            VersionSpec::Exact(version) => assert_eq!(version.as_str(), written),
            other => panic!("{written}: {other:?}"),
        }
    }
}

#[test]
fn invalid_versions_are_problems_with_their_place_and_the_three_forms() {
    let cases = [
        ("1.0+build", "invalid version `1.0+build` of app `com.x`"),
        ("\">=\"", "invalid version `>=` of app `com.x`"),
        ("\"~x.y\"", "numeric version parts"),
        ("\"8.2 <9\"", "invalid version `8.2 <9`"),
        ("\">=8.20,\"", "one is empty"),
        ("\"!8\"", "invalid version `!8`"),
        ("8.*", "invalid version `8.*`"),
    ];
    for (written, message) in cases {
        let problem = only(&with_apps(&format!(
            "  - key: com.x\n    version: {written}\n"
        )));
        assert_eq!(place(&problem), (8, 14), "{written}: {problem}");
        assert_contains(
            &problem,
            &[message, "`8.28.1`", "`latest`", "`\">=8.20, <9\"`"],
        );
        assert!(!problem.to_string().contains("not supported"), "{problem}");
    }
}

#[test]
fn latest_in_another_case_is_refused() {
    let problem = only(&with_apps("  - key: com.x\n    version: Latest\n"));
    assert_eq!(place(&problem), (8, 14));
    assert_contains(&problem, &["`Latest`, not `latest`", "lower case"]);
}

#[test]
fn unquoted_constraints_starting_with_greater_than_get_a_quoting_hint() {
    // YAML reads `>` as the start of a folded block: a syntax error, or an empty value.
    let problem = only(&with_apps("  - key: com.x\n    version: >=8.20, <9\n"));
    assert_eq!(problem.line, Some(8));
    assert_contains(&problem, &["invalid YAML", "quote it"]);

    let problem = only(&with_apps("  - key: com.x\n    version: >8\n"));
    assert_eq!(problem.line, Some(8));
    assert_contains(&problem, &["it is empty", "empty YAML block"]);
}

#[test]
fn a_missing_version_hint_shows_the_three_forms() {
    let problem = only(&with_apps("  - key: com.x\n"));
    assert_eq!(place(&problem), (7, 5));
    assert_contains(
        &problem,
        &[
            "missing required field `version`",
            "`latest`",
            "`\"~8.28\"`",
        ],
    );
}

#[test]
fn version_forms_merge_field_by_field() {
    let desired = load(&with_both(
        "      - key: com.x\n        version: \"~8.28\"\n      - key: com.y\n        enabled: false\n",
        "  - key: com.x\n    version: latest\n  - key: com.y\n    version: \">=1, <2\"\n",
    ));
    assert_eq!(present(&desired, "com.x").version.to_string(), "~8.28");
    let y = present(&desired, "com.y");
    assert_eq!(y.version.to_string(), ">=1, <2");
    assert!(!y.enabled);
}

// ---------------------------------------------------------------------------------------------
// allow_incompatible

#[test]
fn allow_incompatible_defaults_to_false_and_reads_booleans() {
    let desired = load(&with_apps(
        "  - key: com.a\n    version: 1.0.0\n  - key: com.b\n    version: 1.0.0\n    allow_incompatible: true\n  - key: com.c\n    version: 1.0.0\n    allow_incompatible: false\n",
    ));
    assert!(!present(&desired, "com.a").allow_incompatible);
    assert!(present(&desired, "com.b").allow_incompatible);
    assert!(!present(&desired, "com.c").allow_incompatible);
}

#[test]
fn allow_incompatible_must_be_true_or_false() {
    for written in ["yes", "1", "True", "[true]"] {
        let problem = only(&with_apps(&format!(
            "  - key: com.x\n    version: 1.0.0\n    allow_incompatible: {written}\n"
        )));
        assert_eq!(place(&problem), (9, 25), "{written}: {problem}");
        assert_contains(
            &problem,
            &["`allow_incompatible` of app `com.x` must be one of `true`, `false`"],
        );
    }
}

#[test]
fn allow_incompatible_merges_and_the_instance_entry_wins() {
    let top = "  - key: com.x\n    version: 1.0.0\n    allow_incompatible: true\n  - key: com.y\n    version: 1.0.0\n";
    let desired = load(&with_both(
        "      - key: com.x\n        allow_incompatible: false\n      - key: com.y\n        allow_incompatible: true\n",
        top,
    ));
    assert!(!present(&desired, "com.x").allow_incompatible);
    assert!(present(&desired, "com.y").allow_incompatible);

    let desired = load(&with_both(
        "      - key: com.x\n        enabled: false\n",
        top,
    ));
    assert!(present(&desired, "com.x").allow_incompatible, "inherited");
}

// ---------------------------------------------------------------------------------------------
// install

#[test]
fn install_defaults_to_auto_and_reads_its_three_values() {
    let desired = load(&with_apps(
        "  - key: com.a\n    version: 1.0.0\n  - key: com.b\n    version: 1.0.0\n    install: uri\n  - key: com.c\n    version: 1.0.0\n    install: upload\n  - key: com.d\n    version: 1.0.0\n    install: auto\n",
    ));
    assert_eq!(present(&desired, "com.a").install, InstallMethod::Auto);
    assert_eq!(present(&desired, "com.b").install, InstallMethod::Uri);
    assert_eq!(present(&desired, "com.c").install, InstallMethod::Upload);
    assert_eq!(present(&desired, "com.d").install, InstallMethod::Auto);
}

#[test]
fn install_values_are_checked_with_a_suggestion() {
    let problem = only(&with_apps(
        "  - key: com.x\n    version: 1.0.0\n    install: url\n",
    ));
    assert_eq!(place(&problem), (9, 14));
    assert_contains(
        &problem,
        &[
            "`install` of app `com.x` must be one of `uri`, `upload`, `auto`, found `url`",
            "did you mean `uri`?",
        ],
    );
}

#[test]
fn install_uri_of_a_local_file_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.jar"), b"jar").unwrap();
    let parse = |text: &str| {
        manifest::parse_str(
            text,
            &dir.path().join("apps.yaml"),
            &LoadOptions::default(),
            &env,
        )
    };
    let only_in = |text: &str| {
        let error = parse(text).expect_err("expected a problem");
        assert_eq!(error.problems().len(), 1, "{error}");
        error.problems()[0].clone()
    };

    // Same entry: at `install`.
    let problem = only_in(&with_apps(
        "  - key: com.x\n    version: 1.0.0\n    source: {path: app.jar}\n    install: uri\n",
    ));
    assert_eq!(place(&problem), (10, 5));
    assert_contains(
        &problem,
        &[
            "a local file cannot be installed by URI: app `com.x` has `install: uri` (line 10) and `source.path` (line 9)",
            "use `install: upload` or `auto`",
        ],
    );

    // The top-level entry installs by URI, the instance entry gives a path: at the path.
    let problem = only_in(&with_both(
        "      - key: com.x\n        source: {path: app.jar}\n",
        "  - key: com.x\n    version: 1.0.0\n    install: uri\n",
    ));
    assert_eq!(place(&problem), (8, 9));
    assert_contains(
        &problem,
        &["app `com.x` of instance `jira` has `install: uri` (line 12)"],
    );

    // The instance entry asks for URI over a top-level path: at its `install`.
    let problem = only_in(&with_both(
        "      - key: com.x\n        install: uri\n",
        "  - key: com.x\n    version: 1.0.0\n    source: {path: app.jar}\n",
    ));
    assert_eq!(place(&problem), (8, 9));

    // Upload and auto are fine with a path; the instance entry can override a top-level `uri`.
    for install in ["upload", "auto"] {
        parse(&with_apps(&format!(
            "  - key: com.x\n    version: 1.0.0\n    source: {{path: app.jar}}\n    install: {install}\n"
        )))
        .unwrap();
    }
    let desired = parse(&with_both(
        "      - key: com.x\n        install: upload\n",
        "  - key: com.x\n    version: 1.0.0\n    source: {path: app.jar}\n    install: uri\n",
    ))
    .unwrap();
    assert_eq!(present(&desired, "com.x").install, InstallMethod::Upload);

    // A URI install of a `url` source or the Marketplace is fine.
    let desired = load(&with_apps(
        "  - key: com.x\n    version: 1.0.0\n    source: {url: https://example.com/x.jar}\n    install: uri\n",
    ));
    assert_eq!(present(&desired, "com.x").install, InstallMethod::Uri);
}

#[test]
fn a_top_level_uri_and_path_conflict_is_reported_once_for_all_instances() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("app.jar"), b"jar").unwrap();
    let second = &BASE["instances:\n".len()..].replace("name: jira", "name: jira2");
    let text = format!(
        "{BASE}{second}apps:\n  - key: com.x\n    version: 1.0.0\n    install: uri\n    source: {{path: app.jar}}\n"
    );
    let error = manifest::parse_str(
        &text,
        &dir.path().join("apps.yaml"),
        &LoadOptions::default(),
        &env,
    )
    .unwrap_err();
    assert_eq!(error.problems().len(), 1, "{error}");
    assert_eq!(place(&error.problems()[0]), (13, 5));
}

// ---------------------------------------------------------------------------------------------
// sha256

#[test]
fn sha256_accepts_hex_with_or_without_prefix_in_any_case() {
    let desired = load(&with_apps(&format!(
        "  - key: com.a\n    version: 1.0.0\n  - key: com.b\n    version: 1.0.0\n    sha256: {DIGEST}\n  - key: com.c\n    version: 1.0.0\n    sha256: sha256:{}\n  - key: com.d\n    version: 1.0.0\n    sha256: \"{OTHER_DIGEST}\"\n",
        DIGEST.to_uppercase()
    )));
    assert_eq!(present(&desired, "com.a").sha256, None);
    let expected = Sha256::parse(DIGEST).unwrap();
    assert_eq!(present(&desired, "com.b").sha256.as_ref(), Some(&expected));
    assert_eq!(present(&desired, "com.c").sha256.as_ref(), Some(&expected));
    assert_eq!(
        present(&desired, "com.c").sha256.unwrap().as_str(),
        DIGEST,
        "stored in lower case"
    );
    assert_eq!(
        present(&desired, "com.d").sha256.unwrap().as_str(),
        OTHER_DIGEST
    );
}

#[test]
fn invalid_sha256_values_are_problems_with_their_place() {
    let cases = [
        (DIGEST[..63].to_string(), "found 63 hex digits"),
        (format!("{DIGEST}0"), "found 65 hex digits"),
        (
            format!("{}g", &DIGEST[..63]),
            "found `g`, which is not a hex digit",
        ),
        (
            format!("md5:{}", &DIGEST[..32]),
            "found `m`, which is not a hex digit",
        ),
        ("\"\"".to_string(), "found 0 hex digits"),
    ];
    for (written, message) in cases {
        let problem = only(&with_apps(&format!(
            "  - key: com.x\n    version: 1.0.0\n    sha256: {written}\n"
        )));
        assert_eq!(place(&problem), (9, 13), "{written}: {problem}");
        assert_contains(
            &problem,
            &[
                "`sha256` of app `com.x` must be 64 hex digits, optionally prefixed `sha256:`",
                message,
                "sha256sum",
            ],
        );
    }
    let problem = only(&with_apps(
        "  - key: com.x\n    version: 1.0.0\n    sha256:\n",
    ));
    assert_eq!(place(&problem), (9, 5));
    assert_contains(&problem, &["`sha256` of app `com.x` is empty"]);
}

#[test]
fn sha256_needs_an_exact_version() {
    for version in ["latest", "\"~8.28\""] {
        let problem = only(&with_apps(&format!(
            "  - key: com.x\n    version: {version}\n    sha256: {DIGEST}\n"
        )));
        assert_eq!(place(&problem), (9, 5), "{problem}");
        assert_contains(
            &problem,
            &[
                "`sha256` pins one artifact, but the version of app `com.x` is",
                "(line 8), not an exact version",
                "upmsync lock",
            ],
        );
    }
    // An instance entry that asks for `latest` cannot keep the top-level checksum either.
    let problem = only(&with_both(
        "      - key: com.x\n        version: latest\n",
        &format!("  - key: com.x\n    version: 1.0.0\n    sha256: {DIGEST}\n"),
    ));
    assert_eq!(place(&problem), (12, 5));
}

#[test]
fn sha256_merges_field_by_field() {
    let top = format!("  - key: com.x\n    version: 1.0.0\n    sha256: {DIGEST}\n");
    // Inherited along with the version it belongs to.
    let desired = load(&with_both(
        "      - key: com.x\n        enabled: false\n",
        &top,
    ));
    assert_eq!(present(&desired, "com.x").sha256.unwrap().as_str(), DIGEST);
    // The instance entry wins.
    let desired = load(&with_both(
        &format!("      - key: com.x\n        sha256: {OTHER_DIGEST}\n"),
        &top,
    ));
    assert_eq!(
        present(&desired, "com.x").sha256.unwrap().as_str(),
        OTHER_DIGEST
    );
    // A new version with its own checksum.
    let desired = load(&with_both(
        &format!("      - key: com.x\n        version: 2.0.0\n        sha256: {OTHER_DIGEST}\n"),
        &top,
    ));
    let app = present(&desired, "com.x");
    assert_eq!(app.version.to_string(), "2.0.0");
    assert_eq!(app.sha256.unwrap().as_str(), OTHER_DIGEST);
    // Writing the same version again keeps the checksum valid.
    load(&with_both(
        "      - key: com.x\n        version: \"1.0\"\n",
        &top,
    ));
}

#[test]
fn a_new_version_may_not_inherit_the_top_level_checksum() {
    let problem = only(&with_both(
        "      - key: com.x\n        version: 2.0.0\n",
        &format!("  - key: com.x\n    version: 1.0.0\n    sha256: {DIGEST}\n"),
    ));
    assert_eq!(place(&problem), (8, 9));
    assert_contains(
        &problem,
        &[
            "app `com.x` of instance `jira` sets `version: 2.0.0` but inherits `sha256` from the top-level entry (line 12), which is the checksum of version 1.0.0",
            "give this entry its own `sha256`",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// hosting

#[test]
fn hosting_defaults_to_datacenter_and_reads_server() {
    assert_eq!(
        load(&with_apps("")).instances[0].hosting,
        Hosting::Datacenter
    );
    let text = BASE.replace("    auth:", "    hosting: server\n    auth:");
    assert_eq!(load(&text).instances[0].hosting, Hosting::Server);
    let text = BASE.replace("    auth:", "    hosting: datacenter\n    auth:");
    assert_eq!(load(&text).instances[0].hosting, Hosting::Datacenter);
}

#[test]
fn hosting_values_are_checked_with_a_suggestion() {
    let problem = only(&BASE.replace("    auth:", "    hosting: cloud\n    auth:"));
    assert_eq!(place(&problem), (5, 14));
    assert_contains(
        &problem,
        &["`hosting` of instance `jira` must be one of `datacenter`, `server`, found `cloud`"],
    );
    let problem = only(&BASE.replace("    auth:", "    hosting: Server\n    auth:"));
    assert_contains(&problem, &["did you mean `server`?"]);
    let problem = only(&BASE.replace("    auth:", "    hosting: data-center\n    auth:"));
    assert_contains(&problem, &["did you mean `datacenter`?"]);
}

// ---------------------------------------------------------------------------------------------
// absent apps, unknown fields, typos, misplaced fields

#[test]
fn absent_apps_refuse_the_new_fields() {
    let text = with_apps(&format!(
        "  - key: com.x\n    state: absent\n    install: upload\n    sha256: {DIGEST}\n    allow_incompatible: true\n"
    ));
    let found = problems(&text);
    let places: Vec<(usize, usize)> = found.iter().map(place).collect();
    assert_eq!(places, [(9, 5), (10, 5), (11, 5)]);
    for (problem, field) in found
        .iter()
        .zip(["install", "sha256", "allow_incompatible"])
    {
        assert!(
            problem.message.starts_with(&format!(
                "`{field}` has no meaning for an absent app: app `com.x` has `state: absent` (line 8)"
            )),
            "{problem}"
        );
    }
}

#[test]
fn instance_entries_that_inherit_absent_may_not_set_the_new_fields() {
    let text = with_both(
        &format!(
            "      - key: com.x\n        install: uri\n        sha256: {DIGEST}\n        allow_incompatible: true\n"
        ),
        "  - key: com.x\n    state: absent\n",
    );
    let found = problems(&text);
    let lines: Vec<usize> = found.iter().map(|problem| place(problem).0).collect();
    assert_eq!(lines, [8, 9, 10]);
    for problem in &found {
        assert_contains(
            problem,
            &[
                "inherits `state: absent` from the top-level entry (line 13)",
                "add `state: present`",
            ],
        );
    }
}

#[test]
fn an_absent_instance_entry_drops_the_inherited_new_fields() {
    let desired = load(&with_both(
        "      - key: com.x\n        state: absent\n",
        &format!(
            "  - key: com.x\n    version: latest\n    install: uri\n    allow_incompatible: true\n    sha256: {DIGEST}\n"
        ),
    ));
    // `latest` with a sha256 is a problem only where the app is present: here it is absent.
    assert!(matches!(
        desired.instances[0].apps[&AppKey::new("com.x")].state,
        DesiredState::Absent
    ));
}

#[test]
fn typos_of_the_new_fields_get_a_suggestion() {
    let cases = [
        ("instal: uri", "install"),
        ("sha265: abc", "sha256"),
        ("allow_incompatable: true", "allow_incompatible"),
        ("allow-incompatible: true", "allow_incompatible"),
    ];
    for (written, near) in cases {
        let problem = only(&with_apps(&format!(
            "  - key: com.x\n    version: 1.0.0\n    {written}\n"
        )));
        assert_eq!(place(&problem), (9, 5));
        assert_eq!(
            problem.hint.as_deref(),
            Some(format!("did you mean `{near}`?").as_str())
        );
    }
    let problem = only(&BASE.replace("    auth:", "    hostng: server\n    auth:"));
    assert_eq!(place(&problem), (5, 5));
    assert_eq!(problem.hint.as_deref(), Some("did you mean `hosting`?"));
}

#[test]
fn fields_written_one_level_off_say_where_they_belong() {
    let problem = only(&with_apps(&format!(
        "  - key: com.x\n    version: 1.0.0\n    source:\n      url: https://example.com/x.jar\n      sha256: {DIGEST}\n"
    )));
    assert_eq!(place(&problem), (11, 7));
    assert_contains(
        &problem,
        &[
            "unknown field `sha256` in `source` of app `com.x`",
            "write it next to `source`",
        ],
    );

    // `hosting` is an app field too (it overrides the instance's); `ca_file` is not.
    let problem = only(&with_apps(
        "  - key: com.x\n    version: 1.0.0\n    ca_file: ca.pem\n",
    ));
    assert_contains(&problem, &["`ca_file` is a field of the instance"]);

    let problem = only(&BASE.replace("    auth:", "    allow_incompatible: true\n    auth:"));
    assert_contains(&problem, &["is a field of an app entry"]);
}

#[test]
fn problems_with_the_new_fields_are_all_reported_at_once() {
    let text = format!(
        "\
instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    hosting: cloud
    auth: {{token_env: PAT}}
apps:
  - key: com.a
    version: \"~x\"
  - key: com.b
    version: 1.0.0
    install: sometimes
    allow_incompatible: maybe
  - key: com.c
    version: latest
    sha256: {DIGEST}
  - key: com.d
    version: 1.0.0
    sha256: nope
"
    );
    let found: Vec<(usize, usize)> = problems(&text).iter().map(place).collect();
    assert_eq!(
        found,
        [(5, 14), (9, 14), (12, 14), (13, 25), (16, 5), (19, 13)]
    );
}
