//! Valid manifests load into the expected `Desired`: defaults, merging, URLs, paths and secrets.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use upmsync::manifest::{self, LoadOptions, ManifestError};
use upmsync::model::{
    AppKey, Credentials, Desired, DesiredApp, DesiredInstance, DesiredLicense, DesiredState,
    Hosting, InstallMethod, LicenseHash, PresentApp, Product, Sha256, Source, UnmanagedPolicy,
    Version,
};
use upmsync::version::VersionSpec;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/manifest/valid")
}

fn environment() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        ("JIRA_ADMIN_USER", "admin"),
        ("JIRA_ADMIN_PASSWORD", "hunter2"),
        ("CONFLUENCE_PAT", "pat-123"),
        ("SCRIPTRUNNER_LICENSE", "  LICENSE-FROM-ENV\n"),
    ])
}

fn load_fixture() -> Desired {
    let env = environment();
    manifest::load_with_env(
        &fixture_dir().join("apps.yaml"),
        &LoadOptions::default(),
        &|name| env.get(name).map(|value| value.to_string()),
    )
    .unwrap_or_else(|error| panic!("{error}"))
}

fn parse(text: &str) -> Result<Desired, ManifestError> {
    let env = environment();
    manifest::parse_str(
        text,
        Path::new("apps.yaml"),
        &LoadOptions::default(),
        &|name| env.get(name).map(|value| value.to_string()),
    )
}

fn instance<'d>(desired: &'d Desired, name: &str) -> &'d DesiredInstance {
    desired
        .instances
        .iter()
        .find(|instance| instance.name == name)
        .unwrap_or_else(|| panic!("no instance {name}"))
}

fn app<'d>(instance: &'d DesiredInstance, key: &str) -> &'d DesiredApp {
    instance
        .apps
        .get(&AppKey::new(key))
        .unwrap_or_else(|| panic!("no app {key} on {}", instance.name))
}

fn present<'d>(instance: &'d DesiredInstance, key: &str) -> &'d PresentApp {
    match &app(instance, key).state {
        DesiredState::Present(app) => app,
        DesiredState::Absent => panic!("{key} is absent on {}", instance.name),
    }
}

/// The exact version an app asks for, as written.
fn exact(version: &VersionSpec) -> &str {
    match version {
        VersionSpec::Exact(version) => version.as_str(),
        other => panic!("expected an exact version, found {other:?}"),
    }
}

fn license_text(license: &DesiredLicense) -> (&str, &str) {
    match license {
        DesiredLicense::Present(license) => (license.text.expose(), license.origin.as_str()),
        other => panic!("expected a license, found {other:?}"),
    }
}

const MINIMAL: &str = "
instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    auth: {token_env: CONFLUENCE_PAT}
";

#[test]
fn fixture_loads_with_instances_in_manifest_order() {
    let desired = load_fixture();
    assert_eq!(desired.manifest_path, fixture_dir().join("apps.yaml"));
    assert_eq!(
        desired.marketplace_url.as_str(),
        "https://marketplace.example.com/"
    );
    let names: Vec<&str> = desired
        .instances
        .iter()
        .map(|instance| instance.name.as_str())
        .collect();
    assert_eq!(names, ["jira-prod", "confluence.test"]);

    let jira = instance(&desired, "jira-prod");
    assert_eq!(jira.url.as_str(), "https://jira.example.com/jira/");
    assert_eq!(jira.product, Product::Jira);
    assert_eq!(jira.hosting, Hosting::Datacenter);
    assert_eq!(jira.unmanaged, UnmanagedPolicy::Report);
    match &jira.credentials {
        Credentials::Basic { username, password } => {
            assert_eq!(username, "admin");
            assert_eq!(password.expose(), "hunter2");
        }
        other => panic!("expected Basic, found {other:?}"),
    }
    let confluence = instance(&desired, "confluence.test");
    assert_eq!(confluence.product, Product::Confluence);
    assert_eq!(confluence.hosting, Hosting::Server);
    assert_eq!(confluence.unmanaged, UnmanagedPolicy::Uninstall);
    assert!(
        matches!(&confluence.credentials, Credentials::Bearer { token } if token.expose() == "pat-123")
    );
}

#[test]
fn per_instance_entries_merge_field_by_field() {
    let desired = load_fixture();
    let jira = instance(&desired, "jira-prod");
    let keys: Vec<&str> = jira.apps.keys().map(AppKey::as_str).collect();
    assert_eq!(
        keys,
        [
            "com.example.inhouse",
            "com.example.newest",
            "com.example.prod-only",
            "com.example.ranged",
            "com.example.retired",
            "com.onresolve.jira.groovy.groovyrunner",
            "is.origo.jira.tempo-plugin",
        ]
    );

    // `enabled: false` from the instance; version, license and source from the top level.
    let tempo = present(jira, "is.origo.jira.tempo-plugin");
    assert!(!tempo.enabled);
    assert_eq!(exact(&tempo.version), "17.2.0");
    let (text, origin) = license_text(&tempo.license);
    assert_eq!(text, "AAABCCCDDD-fixture-license-1\n  wrapped-line-2==");
    assert_eq!(origin, "file licenses/scriptrunner.txt");
    assert_eq!(
        tempo.source,
        Source::Url(
            "https://artifacts.example.com/tempo-17.2.0.jar"
                .parse()
                .unwrap()
        )
    );

    // Only in the instance list: stands alone with its own version, kept as written.
    let prod_only = present(jira, "com.example.prod-only");
    assert_eq!(exact(&prod_only.version), "1.10");
    assert!(prod_only.enabled);
    assert!(matches!(prod_only.license, DesiredLicense::Unmanaged));
    assert_eq!(prod_only.source, Source::Marketplace);

    // Version forms, install method and compatibility opt-out merge field by field.
    let ranged = present(jira, "com.example.ranged");
    assert_eq!(ranged.version.to_string(), ">=3.1, <4");
    assert!(matches!(ranged.version, VersionSpec::Constraint(_)));
    assert_eq!(ranged.install, InstallMethod::Uri);
    assert!(!ranged.allow_incompatible, "the instance entry wins");
    let newest = present(jira, "com.example.newest");
    assert_eq!(newest.version, VersionSpec::Latest);
    assert_eq!(newest.install, InstallMethod::Auto);
    assert_eq!(newest.sha256, None);

    // Absent in the instance entry: the top-level version is dropped, not an error.
    assert!(matches!(
        app(jira, "com.example.retired").state,
        DesiredState::Absent
    ));

    let groovy = present(jira, "com.onresolve.jira.groovy.groovyrunner");
    let (text, origin) = license_text(&groovy.license);
    assert_eq!(text, "LICENSE-FROM-ENV", "license text is trimmed");
    assert_eq!(origin, "env SCRIPTRUNNER_LICENSE");
    if let DesiredLicense::Present(license) = &groovy.license {
        assert_eq!(license.hash, LicenseHash::of("LICENSE-FROM-ENV"));
    }

    let confluence = instance(&desired, "confluence.test");
    let groovy = present(confluence, "com.onresolve.jira.groovy.groovyrunner");
    assert_eq!(
        groovy.version,
        VersionSpec::Exact(Version::parse("8.29.0").unwrap())
    );
    assert!(matches!(groovy.license, DesiredLicense::Absent));
    assert!(matches!(
        app(confluence, "is.origo.jira.tempo-plugin").state,
        DesiredState::Absent
    ));
    assert!(!confluence
        .apps
        .contains_key(&AppKey::new("com.example.prod-only")));
    let ranged = present(confluence, "com.example.ranged");
    assert_eq!(ranged.version.to_string(), "~3.2");
    assert!(ranged.allow_incompatible);
    let retired = present(confluence, "com.example.retired");
    assert_eq!(exact(&retired.version), "1.0.0");
}

#[test]
fn source_paths_resolve_against_the_manifest_folder() {
    let desired = load_fixture();
    let inhouse = present(instance(&desired, "jira-prod"), "com.example.inhouse");
    let expected = fixture_dir().join("artifacts/inhouse-2.0.0.jar");
    assert_eq!(inhouse.source, Source::Path(expected.clone()));
    assert!(expected.is_absolute());
    assert_eq!(exact(&inhouse.version), "2.0.0-beta-1");
    assert_eq!(inhouse.install, InstallMethod::Upload);
    assert_eq!(
        inhouse.sha256.as_ref().map(Sha256::as_str),
        Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
    );
}

#[test]
fn defaults_apply_when_fields_are_left_out() {
    let desired = parse(&format!(
        "{MINIMAL}apps:\n  - key: com.x\n    version: 1.0.0\n"
    ))
    .unwrap();
    assert_eq!(
        desired.marketplace_url.as_str(),
        "https://marketplace.atlassian.com/"
    );
    let jira = &desired.instances[0];
    assert_eq!(jira.url.as_str(), "https://jira.example.com/");
    assert_eq!(jira.unmanaged, UnmanagedPolicy::Ignore);
    assert_eq!(jira.hosting, Hosting::Datacenter);
    let app = present(jira, "com.x");
    assert!(app.enabled);
    assert!(matches!(app.license, DesiredLicense::Unmanaged));
    assert_eq!(app.source, Source::Marketplace);
    assert_eq!(app.install, InstallMethod::Auto);
    assert_eq!(app.sha256, None);
    assert!(!app.allow_incompatible);
}

#[test]
fn empty_apps_and_null_marketplace_are_fine() {
    let desired = parse(&format!("marketplace:\n{MINIMAL}    apps:\napps: []\n")).unwrap();
    assert!(desired.instances[0].apps.is_empty());
    assert_eq!(
        desired.marketplace_url.as_str(),
        "https://marketplace.atlassian.com/"
    );
}

#[test]
fn context_path_keeps_a_single_trailing_slash() {
    for (written, stored) in [
        ("http://127.0.0.1:2990/jira", "http://127.0.0.1:2990/jira/"),
        ("http://127.0.0.1:2990/jira/", "http://127.0.0.1:2990/jira/"),
        (
            "https://confluence.example.com/wiki/",
            "https://confluence.example.com/wiki/",
        ),
    ] {
        let text = MINIMAL.replace("https://jira.example.com", written);
        assert_eq!(parse(&text).unwrap().instances[0].url.as_str(), stored);
    }
}

#[test]
fn instance_can_make_a_top_level_absent_app_present() {
    let text = format!(
        "{MINIMAL}    apps:\n      - key: com.x\n        state: present\n        version: 2.0.0\napps:\n  - key: com.x\n    state: absent\n"
    );
    let desired = parse(&text).unwrap();
    assert_eq!(
        exact(&present(&desired.instances[0], "com.x").version),
        "2.0.0"
    );
}

#[test]
fn skip_secrets_reads_missing_variables_as_empty() {
    let text = "
instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    auth:
      username_env: NOT_SET_USER
      password_env: NOT_SET_PASSWORD
apps:
  - key: com.x
    version: 1.0.0
    license:
      env: NOT_SET_LICENSE
";
    let options = LoadOptions {
        require_secrets: false,
        ..LoadOptions::default()
    };
    let desired = manifest::parse_str(text, Path::new("apps.yaml"), &options, &|_| None).unwrap();
    let jira = &desired.instances[0];
    assert!(
        matches!(&jira.credentials, Credentials::Basic { username, password }
        if username.is_empty() && password.expose().is_empty())
    );
    let (license, origin) = license_text(&present(jira, "com.x").license);
    assert_eq!((license, origin), ("", "env NOT_SET_LICENSE"));
    // The same manifest fails when secrets are required: one problem per variable.
    let error = manifest::parse_str(
        text,
        Path::new("apps.yaml"),
        &LoadOptions::default(),
        &|_| None,
    )
    .unwrap_err();
    let lines: Vec<Option<usize>> = error
        .problems()
        .iter()
        .map(|problem| problem.line)
        .collect();
    assert_eq!(
        lines,
        [Some(7), Some(8), Some(13)],
        "{error}\n{:?}",
        error.problems()
    );
}

#[test]
fn load_reads_the_process_environment_only_through_std_env() {
    // `load` with no variables set must report them, proving it looks them up.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apps.yaml");
    let text = MINIMAL.replace("CONFLUENCE_PAT", "UPMSYNC_TEST_SURELY_UNSET_7f3a");
    fs::write(&path, text).unwrap();
    let error = manifest::load(&path, &LoadOptions::default()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`UPMSYNC_TEST_SURELY_UNSET_7f3a` is not set"),
        "{error}"
    );
}

#[test]
fn apps_yaml_example_loads() {
    let example =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("apps.yaml.example"))
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("examples/artifacts/inhouse-2.0.0.jar");
    fs::create_dir_all(artifact.parent().unwrap()).unwrap();
    fs::write(&artifact, b"jar").unwrap();
    let env = HashMap::from([
        ("JIRA_ADMIN_USER", "admin"),
        ("JIRA_ADMIN_PASSWORD", "admin"),
        ("SCRIPTRUNNER_LICENSE", "any text"),
    ]);
    let desired = manifest::parse_str(
        &example,
        &dir.path().join("apps.yaml"),
        &LoadOptions::default(),
        &|name| env.get(name).map(|value| value.to_string()),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(desired.marketplace_url.as_str(), "http://127.0.0.1:2991/");
    let jira = &desired.instances[0];
    assert_eq!(jira.url.as_str(), "http://127.0.0.1:2990/jira/");
    assert_eq!(jira.apps.len(), 5);
    assert!(!present(jira, "is.origo.jira.tempo-plugin").enabled);
    assert_eq!(
        present(jira, "com.example.inhouse").source,
        Source::Path(artifact)
    );
}

#[test]
fn read_errors_name_the_file_and_keep_the_cause() {
    let error = manifest::load_with_env(
        Path::new("/nonexistent/apps.yaml"),
        &LoadOptions::default(),
        &|_| None,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "failed to read manifest `/nonexistent/apps.yaml`"
    );
    let source = std::error::Error::source(&error).expect("io error as the cause");
    assert!(source.to_string().contains("No such file"), "{source}");
}

#[test]
fn selected_instances_need_only_their_own_secrets() {
    let text = "\
instances:
  - name: staging
    url: https://staging.example.com
    product: jira
    auth:
      token_env: STAGING_PAT
  - name: prod
    url: https://prod.example.com
    product: jira
    auth:
      token_env: PROD_PAT_NOT_SET
    apps:
      - key: com.prod.only
        version: 1.0.0
        license:
          env: PROD_LICENSE_NOT_SET
";
    let env = |name: &str| (name == "STAGING_PAT").then(|| "staging-token".to_string());
    let staging = LoadOptions {
        instances: vec!["staging".into()],
        ..LoadOptions::default()
    };
    let desired = manifest::parse_str(text, Path::new("apps.yaml"), &staging, &env).unwrap();
    assert_eq!(desired.instances.len(), 1);
    assert_eq!(desired.instances[0].name, "staging");

    let error = manifest::parse_str(text, Path::new("apps.yaml"), &LoadOptions::default(), &env)
        .unwrap_err();
    assert!(error.to_string().contains("PROD_PAT_NOT_SET"), "{error}");
    assert!(
        error.to_string().contains("PROD_LICENSE_NOT_SET"),
        "{error}"
    );

    let unknown = LoadOptions {
        instances: vec!["nope".into()],
        ..LoadOptions::default()
    };
    let error = manifest::parse_str(text, Path::new("apps.yaml"), &unknown, &env).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("no instance named `nope`") && text.contains("staging, prod"),
        "{text}"
    );
}
