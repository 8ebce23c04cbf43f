//! Every validation rule of the manifest, each reported with its place, all at once.

use std::fs;
use std::path::Path;

use crate::support::rules::*;
use upmsync::manifest::{self, LoadOptions};

#[test]
fn base_manifest_is_valid() {
    manifest::parse_str(
        &with_apps("  - key: com.x\n    version: 1.0.0\n"),
        Path::new("apps.yaml"),
        &LoadOptions::default(),
        &env,
    )
    .unwrap();
}

#[test]
fn five_different_problems_are_all_reported_with_their_lines() {
    let text = "\
marketplace:
  url: https://marketplace.atlassian.com
instances:
  - name: jira-prod
    url: https://jira.example.com/jira
    product: jiraa
    auth:
      username_env: UNSET_JIRA_USER
      password_env: JIRA_PASSWORD
  - name: jira-prod
    url: https://jira2.example.com
    product: jira
    auth: {token_env: PAT}
    unmanaged: all
apps:
  - key: com.onresolve.jira.groovy.groovyrunner
    verison: 8.28.1
  - key: com.example.inhouse
    version: 1.0+build
  - key: com.example.retired
    state: absent
    enabled: false
  - key: com.onresolve.jira.groovy.groovyrunner
    version: 8.28.1
";
    let error = error_at(text, Path::new("apps.yaml"));
    let found: Vec<(usize, usize, &str)> = error
        .problems()
        .iter()
        .map(|problem| {
            (
                line(problem),
                problem.column.unwrap(),
                problem.message.as_str(),
            )
        })
        .collect();
    let expected_starts = [
        (6, 14, "`product` of instance `jira-prod` must be one of `jira`, `confluence`, `bitbucket`, `bamboo`, found `jiraa`"),
        (8, 21, "environment variable `UNSET_JIRA_USER` is not set (`auth.username_env` of instance `jira-prod`)"),
        (10, 5, "duplicate instance name `jira-prod` (first at line 4)"),
        (14, 16, "`unmanaged` of instance `jira-prod` must be one of `ignore`, `report`, `uninstall`, found `all`"),
        (17, 5, "unknown field `verison` in app `com.onresolve.jira.groovy.groovyrunner`, expected one of `key`, `version`, `enabled`, `license`, `source`, `state`, `install`, `sha256`, `allow_incompatible`, `hosting`, `requires`"),
        (19, 14, "invalid version `1.0+build` of app `com.example.inhouse`"),
        (22, 5, "`enabled` has no meaning for an absent app"),
        (23, 5, "duplicate app `com.onresolve.jira.groovy.groovyrunner` in the top-level `apps` (first at line 16)"),
    ];
    assert_eq!(found.len(), expected_starts.len(), "{error}");
    for ((line, column, message), (expected_line, expected_column, expected)) in
        found.iter().zip(expected_starts)
    {
        assert_eq!(
            (*line, *column),
            (expected_line, expected_column),
            "{message}"
        );
        assert!(
            message.starts_with(expected),
            "{message}\n  does not start with\n{expected}"
        );
    }
    let shown = error.to_string();
    assert!(
        shown.starts_with(
            "manifest `apps.yaml` has 8 problems\napps.yaml:6:14: `product` of instance"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("\n  hint: did you mean `version`?\n"),
        "{shown}"
    );
    assert!(
        shown.contains("\n  hint: export UNSET_JIRA_USER=… before running upmsync\n"),
        "{shown}"
    );
}

#[test]
fn display_of_an_error_is_exact() {
    let error = error_at(
        &with_apps("  - key: com.x\n    version: 1.0.0\n    enabled: maybe\n"),
        Path::new("apps.yaml"),
    );
    assert_eq!(
        error.to_string(),
        "manifest `apps.yaml` has 1 problem\n\
         apps.yaml:9:14: `enabled` of app `com.x` must be one of `true`, `false`, found `maybe`"
    );
}

#[test]
fn yaml_syntax_error_is_one_problem_at_the_parser_place() {
    let problem = only("instances:\n  - name: [jira\n    url: x\n");
    assert_eq!((problem.line, problem.column), (Some(3), Some(8)));
    assert!(problem.message.starts_with("invalid YAML: "), "{problem}");

    let problem = only("instances:\n\t- name: jira\n");
    assert!(problem.message.starts_with("invalid YAML: "), "{problem}");
    assert_eq!(problem.line, Some(2));
}

#[test]
fn duplicate_mapping_keys_are_reported_at_the_second() {
    let problem = only(&with_apps(
        "  - key: com.x\n    version: 1.0.0\n    version: 2.0.0\n",
    ));
    assert_eq!((problem.line, problem.column), (Some(9), Some(5)));
    assert_contains(&problem, &["duplicate key `version`", "first at line 8"]);

    let problem = only(&format!("{BASE}instances: []\n"));
    assert_eq!(line(&problem), 6);
}

#[test]
fn unknown_fields_are_reported_everywhere_with_the_allowed_ones() {
    let text = "\
colour: blue
marketplace:
  url: https://marketplace.atlassian.com
  proxy: http://proxy
instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    auth: {token_env: PAT, realm: x}
    timeout: 5
    apps:
      - key: com.y
        version: 1.0.0
        enable: false
apps:
  - key: com.x
    version: 1.0.0
    license: {env: LICENSE, format: raw}
    source: {url: https://example.com/x.jar, checksum: abc}
";
    let found = problems(text);
    let expected = [
        (1, "unknown field `colour` in the manifest, expected one of `marketplace`, `instances`, `apps`"),
        (4, "unknown field `proxy` in `marketplace`, expected one of `url`"),
        (9, "unknown field `realm` in `auth` of instance `jira`, expected one of `username_env`, `password_env`, `token_env`"),
        (10, "unknown field `timeout` in instance `jira`, expected one of `name`, `url`, `product`, `hosting`, `auth`, `unmanaged`, `ca_file`, `insecure_skip_tls_verify`, `allow_http`, `apps`"),
        (14, "unknown field `enable` in app `com.y` of instance `jira`, expected one of `key`, `version`, `enabled`, `license`, `source`, `state`, `install`, `sha256`, `allow_incompatible`, `hosting`, `requires`"),
        (18, "unknown field `format` in `license` of app `com.x`, expected one of `env`, `file`"),
        (19, "unknown field `checksum` in `source` of app `com.x`, expected one of `path`, `url`"),
    ];
    let found: Vec<(usize, &str)> = found
        .iter()
        .map(|problem| (line(problem), problem.message.as_str()))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn typos_get_a_suggestion_and_no_second_missing_field_problem() {
    let problem = only(&with_apps("  - key: com.x\n    verison: 1.0.0\n"));
    assert_eq!(problem.hint.as_deref(), Some("did you mean `version`?"));
    let problem = only(&format!(
        "{BASE}    apps:\n      - key: com.only.here\n        verison: 1.0.0\n"
    ));
    assert_eq!(problem.hint.as_deref(), Some("did you mean `version`?"));
    let problem = only(&BASE.replace("    url:", "    ulr:"));
    assert_eq!(problem.hint.as_deref(), Some("did you mean `url`?"));
}

#[test]
fn literal_secrets_get_the_secret_hint() {
    let cases = [
        BASE.replace(
            "auth: {token_env: PAT}",
            "auth: {username: admin, password: hunter2}",
        ),
        BASE.replace(
            "auth: {token_env: PAT}",
            "auth: {token_env: PAT, token: abc}",
        ),
        format!("{BASE}    password: hunter2\n"),
        BASE.replace("auth: {token_env: PAT}", "auth: admin:hunter2"),
        with_apps("  - key: com.x\n    version: 1.0.0\n    license: AAABBBCCCDDDEEE\n"),
        with_apps("  - key: com.x\n    version: 1.0.0\n    license: {text: AAABBBCCC}\n"),
        with_apps("  - key: com.x\n    version: 1.0.0\n    license_key: AAABBBCCC\n"),
        with_apps("  - key: com.x\n    version: 1.0.0\n    license: {env: \"AAAB/CCC==\"}\n"),
        BASE.replace("{token_env: PAT}", "{token_env: \"s3cr3t!\"}"),
        BASE.replace(
            "https://jira.example.com",
            "https://admin:hunter2@jira.example.com",
        ),
    ];
    for text in cases {
        let found = problems(&text);
        assert!(
            found
                .iter()
                .any(|problem| problem.hint.as_deref().is_some_and(
                    |hint| hint.starts_with("secrets are never written in the manifest")
                )),
            "no secret hint for\n{text}\n{found:#?}"
        );
        for problem in &found {
            assert!(!problem.to_string().contains("hunter2"), "{problem}");
        }
    }
}

#[test]
fn wrong_types_and_values_list_the_allowed_values() {
    let cases = [
        (
            BASE.replace("product: jira", "product: jiraa"),
            4,
            "found `jiraa`",
            "`jira`, `confluence`, `bitbucket`, `bamboo`",
        ),
        (
            BASE.replace("product: jira", "product: Jira"),
            4,
            "found `Jira`",
            "did you mean `jira`?",
        ),
        (
            format!("{BASE}    unmanaged: all\n"),
            6,
            "found `all`",
            "`ignore`, `report`, `uninstall`",
        ),
        (
            with_apps("  - key: com.x\n    version: 1.0.0\n    enabled: maybe\n"),
            9,
            "found `maybe`",
            "`true`, `false`",
        ),
        (
            with_apps("  - key: com.x\n    version: 1.0.0\n    enabled: yes\n"),
            9,
            "found `yes`",
            "`true`, `false`",
        ),
        (
            with_apps("  - key: com.x\n    state: gone\n"),
            8,
            "found `gone`",
            "`present`, `absent`",
        ),
        (
            with_apps("  - key: com.x\n    version: [1, 0]\n"),
            8,
            "must be text, found a list",
            "`version` of app `com.x`",
        ),
        (
            format!("{BASE}apps: {{key: com.x}}\n"),
            6,
            "`apps` of the manifest must be a list, found a mapping",
            "",
        ),
        (
            format!("{BASE}    apps: some\n"),
            6,
            "`apps` of instance `jira` must be a list, found text",
            "",
        ),
        (
            with_apps("  - com.x\n"),
            7,
            "`apps[0]` must be a mapping of fields, found text",
            "",
        ),
        (
            "instances: jira\n".to_string(),
            1,
            "`instances` of the manifest must be a list, found text",
            "",
        ),
        (
            BASE.replace("auth: {token_env: PAT}", "auth:"),
            5,
            "`auth` of instance `jira` must be a mapping, found nothing",
            "",
        ),
        (
            with_apps("  - key: com.x\n    version: 1.0.0\n    source: marketplace\n"),
            9,
            "`source` of app `com.x` must be a mapping, found text",
            "",
        ),
        (
            with_apps("  - key: com.x\n    version:\n"),
            8,
            "`version` of app `com.x` is empty",
            "",
        ),
    ];
    for (text, expected_line, message, allowed) in cases {
        let problem = only(&text);
        assert_eq!(line(&problem), expected_line, "{problem}");
        assert_contains(&problem, &[message, allowed]);
    }
}

#[test]
fn booleans_accept_true_and_false_only() {
    for value in ["true", "false", "True", "FALSE", "'true'"] {
        let text = with_apps(&format!(
            "  - key: com.x\n    version: 1.0.0\n    enabled: {value}\n"
        ));
        let result =
            manifest::parse_str(&text, Path::new("apps.yaml"), &LoadOptions::default(), &env);
        assert_eq!(
            result.is_ok(),
            matches!(value, "true" | "false" | "'true'"),
            "{value}"
        );
    }
}

#[test]
fn missing_required_fields_are_reported() {
    let problem = only("apps: []\n");
    assert_eq!(problem.line, None);
    assert_contains(
        &problem,
        &["missing required field `instances` in the manifest"],
    );

    let found = problems("instances:\n  - unmanaged: report\n");
    let messages: Vec<&str> = found
        .iter()
        .map(|problem| problem.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "missing required field `name` in `instances[0]`",
            "missing required field `url` in `instances[0]`",
            "missing required field `product` in `instances[0]`",
            "missing required field `auth` in `instances[0]`",
        ]
    );
    assert!(found.iter().all(|problem| problem.line == Some(2)));

    let problem = only(&with_apps("  - version: 1.0.0\n"));
    assert_eq!(line(&problem), 7);
    assert_eq!(problem.message, "missing required field `key` in `apps[0]`");

    let problem = only(&with_apps("  - key: com.x\n"));
    assert_eq!(line(&problem), 7);
    assert_eq!(
        problem.message,
        "missing required field `version` in app `com.x`"
    );

    let problem = only(&BASE.replace("auth: {token_env: PAT}", "auth: {username_env: USER}"));
    assert_contains(
        &problem,
        &["missing required field `password_env` in `auth` of instance `jira`"],
    );
    let problem = only(&BASE.replace("auth: {token_env: PAT}", "auth: {}"));
    assert_contains(
        &problem,
        &["needs `username_env` and `password_env`, or `token_env`"],
    );
    let problem = only(&BASE.replace(
        "auth: {token_env: PAT}",
        "auth: {token_env: PAT, username_env: USER, password_env: PASSWORD}",
    ));
    assert_contains(&problem, &["exactly one of the two forms"]);
}

#[test]
fn empty_documents_and_wrong_roots_are_problems() {
    assert_contains(&only(""), &["the manifest is empty"]);
    assert_contains(&only("# nothing\n"), &["the manifest is empty"]);
    assert_contains(
        &only("- a\n- b\n"),
        &["must be a mapping with `instances` and `apps`, found a list"],
    );
    let problem = only(&format!("{BASE}---\n{BASE}"));
    assert_eq!(line(&problem), 6);
    assert_contains(&problem, &["one YAML document"]);
}

#[test]
fn empty_instances_is_a_problem() {
    for text in ["instances: []\n", "instances:\n", "instances: ~\n"] {
        let problem = only(text);
        assert_eq!(line(&problem), 1);
        assert_contains(&problem, &["`instances` is empty"]);
    }
}

#[test]
fn duplicate_instance_names_point_at_the_first() {
    let text = format!("{BASE}{}", &BASE["instances:\n".len()..]);
    let problem = only(&text);
    assert_eq!(line(&problem), 6);
    assert_eq!(
        problem.message,
        "duplicate instance name `jira` (first at line 2)"
    );
}

#[test]
fn instance_names_are_restricted() {
    let problem = only(&BASE.replace("name: jira", "name: jira prod"));
    assert_contains(
        &problem,
        &["instance name `jira prod` may contain only letters, digits, `.`, `_` and `-`"],
    );
    for name in ["jira-prod", "jira_2", "wiki.test", "A1"] {
        manifest::parse_str(
            &BASE.replace("name: jira", &format!("name: {name}")),
            Path::new("a.yaml"),
            &LoadOptions::default(),
            &env,
        )
        .unwrap();
    }
}

#[test]
fn duplicate_app_keys_point_at_the_first_in_each_list() {
    let problem = only(&with_apps(
        "  - key: com.x\n    version: 1.0.0\n  - key: com.x\n    version: 2.0.0\n",
    ));
    assert_eq!(line(&problem), 9);
    assert_eq!(
        problem.message,
        "duplicate app `com.x` in the top-level `apps` (first at line 7)"
    );

    let text = format!(
        "{BASE}    apps:\n      - key: com.x\n        enabled: false\n      - key: com.x\n        enabled: true\napps:\n  - key: com.x\n    version: 1.0.0\n"
    );
    let problem = only(&text);
    assert_eq!(line(&problem), 9);
    assert_eq!(
        problem.message,
        "duplicate app `com.x` in `apps` of instance `jira` (first at line 7)"
    );
}

#[test]
fn app_keys_are_checked() {
    for (key, message) in [
        ("\"\"", "must not be empty"),
        ("\"com x\"", "must not contain whitespace"),
        ("com.x/y", "must not contain `/`"),
    ] {
        let problem = only(&with_apps(&format!("  - key: {key}\n    version: 1.0.0\n")));
        assert_eq!(line(&problem), 7);
        assert_contains(&problem, &[message]);
    }
}

#[test]
fn versions_are_validated() {
    // More version forms, valid and not: tests/manifest_versions_artifacts.rs.
    let problem = only(&with_apps("  - key: com.x\n    version: 1.0+build\n"));
    assert_eq!((problem.line, problem.column), (Some(8), Some(14)));
    assert_contains(
        &problem,
        &["invalid version `1.0+build` of app `com.x`", "`latest`"],
    );

    let problem = only(&with_apps("  - key: com.x\n    version: \">=8.0,\"\n"));
    assert_contains(&problem, &["one is empty", "a constraint in quotes"]);

    let problem = only(&with_apps("  - key: com.x\n    version: \"\"\n"));
    assert_contains(&problem, &["it is empty"]);
}

#[test]
fn absent_apps_refuse_fields_with_no_meaning() {
    let text = with_apps(
        "  - key: com.x\n    state: absent\n    version: 1.0.0\n    enabled: true\n    license: absent\n    source: {url: https://example.com/x.jar}\n",
    );
    let found = problems(&text);
    let lines: Vec<usize> = found.iter().map(line).collect();
    assert_eq!(lines, [9, 10, 11, 12]);
    for (problem, field) in found
        .iter()
        .zip(["version", "enabled", "license", "source"])
    {
        assert!(
            problem.message.starts_with(&format!("`{field}` has no meaning for an absent app: app `com.x` has `state: absent` (line 8)")),
            "{problem}"
        );
    }
}

#[test]
fn instance_entries_that_inherit_absent_may_not_set_fields() {
    let text = format!(
        "{BASE}    apps:\n      - key: com.x\n        version: 2.0.0\napps:\n  - key: com.x\n    state: absent\n"
    );
    let problem = only(&text);
    assert_eq!(line(&problem), 8);
    assert_contains(
        &problem,
        &[
            "`version` has no meaning for an absent app",
            "inherits `state: absent`",
            "add `state: present`",
        ],
    );
}

#[test]
fn instance_only_entries_need_their_own_version() {
    let problem = only(&format!(
        "{BASE}    apps:\n      - key: com.y\n        enabled: false\n"
    ));
    assert_eq!(line(&problem), 7);
    assert_contains(
        &problem,
        &[
            "missing required field `version` in app `com.y` of instance `jira`",
            "not in the top-level `apps`",
        ],
    );

    let text = format!(
        "{BASE}    apps:\n      - key: com.x\n        state: present\napps:\n  - key: com.x\n    state: absent\n"
    );
    let problem = only(&text);
    assert_eq!(line(&problem), 7);
    assert_contains(&problem, &["the top-level entry is absent"]);

    // An absent instance-only entry needs nothing.
    manifest::parse_str(
        &format!("{BASE}    apps:\n      - key: com.y\n        state: absent\n"),
        Path::new("a.yaml"),
        &LoadOptions::default(),
        &env,
    )
    .unwrap();
}

#[test]
fn a_missing_top_level_version_is_reported_once_not_per_instance() {
    let text = format!(
        "{BASE}{}apps:\n  - key: com.x\n",
        &BASE["instances:\n".len()..].replace("name: jira", "name: jira2")
    );
    let problem = only(&text);
    assert_eq!(line(&problem), 11);
}

#[test]
fn missing_and_empty_environment_variables_are_reported() {
    let text = "\
instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    auth:
      username_env: UNSET_USER
      password_env: EMPTY_PASSWORD
apps:
  - key: com.x
    version: 1.0.0
    license:
      env: UNSET_LICENSE
";
    let found = problems(text);
    let shown: Vec<(usize, String)> = found
        .iter()
        .map(|problem| (line(problem), problem.to_string()))
        .collect();
    assert_eq!(
        shown,
        [
            (
                6,
                "apps.yaml:6:21: environment variable `UNSET_USER` is not set (`auth.username_env` of instance `jira`)\n  hint: export UNSET_USER=… before running upmsync".to_string()
            ),
            (
                7,
                "apps.yaml:7:21: environment variable `EMPTY_PASSWORD` is empty (`auth.password_env` of instance `jira`)\n  hint: export EMPTY_PASSWORD=… before running upmsync".to_string()
            ),
            (
                12,
                "apps.yaml:12:12: environment variable `UNSET_LICENSE` is not set (`license.env` of app `com.x`)\n  hint: export UNSET_LICENSE=… before running upmsync".to_string()
            ),
        ]
    );
    let options = LoadOptions {
        require_secrets: false,
        ..LoadOptions::default()
    };
    manifest::parse_str(text, Path::new("apps.yaml"), &options, &env).unwrap();
}

#[test]
fn license_files_resolve_relative_to_the_manifest_and_must_be_readable_text() {
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("apps.yaml");
    fs::create_dir(dir.path().join("licenses")).unwrap();
    fs::write(dir.path().join("licenses/empty.txt"), " \n\t\n").unwrap();
    fs::write(dir.path().join("licenses/binary.txt"), [0xff, 0xfe, 0x00]).unwrap();
    fs::write(dir.path().join("licenses/good.txt"), "LICENSE\n").unwrap();
    let license = |file: &str| {
        with_apps(&format!(
            "  - key: com.x\n    version: 1.0.0\n    license: {{file: {file}}}\n"
        ))
    };

    let ok = manifest::parse_str(
        &license("licenses/good.txt"),
        &manifest_path,
        &LoadOptions::default(),
        &env,
    );
    assert!(ok.is_ok(), "{}", ok.unwrap_err());

    for (file, message) in [
        (
            "licenses/missing.txt",
            "cannot read license file `licenses/missing.txt` of app `com.x`",
        ),
        (
            "licenses",
            "license file `licenses` of app `com.x` is a directory",
        ),
        (
            "licenses/empty.txt",
            "license file `licenses/empty.txt` of app `com.x` is empty",
        ),
        (
            "licenses/binary.txt",
            "cannot read license file `licenses/binary.txt`",
        ),
    ] {
        let error = error_at(&license(file), &manifest_path);
        let [problem] = error.problems() else {
            panic!("{error}")
        };
        assert_eq!(line(problem), 9, "{problem}");
        assert_contains(problem, &[message]);
    }
    let error = error_at(&license("licenses/missing.txt"), &manifest_path);
    let problem = &error.problems()[0];
    assert_contains(
        problem,
        &[
            &dir.path()
                .join("licenses/missing.txt")
                .display()
                .to_string(),
            "(os error 2)",
        ],
    );
}

#[test]
fn source_paths_must_exist_and_be_files() {
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("apps.yaml");
    fs::create_dir(dir.path().join("artifacts")).unwrap();
    fs::write(dir.path().join("artifacts/x.jar"), "jar").unwrap();
    let source = |path: &str| {
        with_apps(&format!(
            "  - key: com.x\n    version: 1.0.0\n    source:\n      path: {path}\n"
        ))
    };

    assert!(manifest::parse_str(
        &source("artifacts/x.jar"),
        &manifest_path,
        &LoadOptions::default(),
        &env
    )
    .is_ok());
    let absolute = dir.path().join("artifacts/x.jar").display().to_string();
    assert!(manifest::parse_str(
        &source(&absolute),
        Path::new("elsewhere/apps.yaml"),
        &LoadOptions::default(),
        &env
    )
    .is_ok());

    for (path, message) in [
        (
            "artifacts/missing.jar",
            "cannot read source file `artifacts/missing.jar` of app `com.x`",
        ),
        (
            "artifacts",
            "source file `artifacts` of app `com.x` is a directory",
        ),
    ] {
        let error = error_at(&source(path), &manifest_path);
        let [problem] = error.problems() else {
            panic!("{error}")
        };
        assert_eq!(line(problem), 10, "{problem}");
        assert_contains(problem, &[message]);
    }
}

#[test]
fn source_urls_are_absolute_http_https_or_file() {
    let source = |url: &str| {
        with_apps(&format!(
            "  - key: com.x\n    version: 1.0.0\n    source: {{url: \"{url}\"}}\n"
        ))
    };
    for url in [
        "https://example.com/x.jar?token=1",
        "http://example.com/x.jar",
        "file:///tmp/x.jar",
    ] {
        assert!(
            manifest::parse_str(
                &source(url),
                Path::new("a.yaml"),
                &LoadOptions::default(),
                &env
            )
            .is_ok(),
            "{url}"
        );
    }
    assert_contains(
        &only(&source("ftp://example.com/x.jar")),
        &["must use one of `http`, `https`, `file`, found `ftp`"],
    );
    assert_contains(&only(&source("artifacts/x.jar")), &["is not a valid URL"]);
    let both = with_apps("  - key: com.x\n    version: 1.0.0\n    source: {path: x.jar, url: https://example.com/x.jar}\n");
    assert_contains(
        &only(&both),
        &["has both `path` and `url`: give exactly one"],
    );
    let neither = with_apps("  - key: com.x\n    version: 1.0.0\n    source: {}\n");
    assert_contains(&only(&neither), &["needs `path` or `url`"]);
}

#[test]
fn instance_and_marketplace_urls_are_http_or_https_without_credentials_or_query() {
    for (url, message) in [
        (
            "ftp://jira.example.com",
            "must use one of `http`, `https`, found `ftp`",
        ),
        ("jira.example.com", "is not a valid URL"),
        ("https://jira.example.com/?a=b", "must not have a query"),
        ("https://admin:pw@jira.example.com", "contains credentials"),
    ] {
        assert_contains(
            &only(&BASE.replace("https://jira.example.com", url)),
            &[message],
        );
        assert_contains(
            &only(&format!("marketplace:\n  url: \"{url}\"\n{BASE}")),
            &["`url` of `marketplace`", message],
        );
    }
}

#[test]
fn license_has_exactly_one_form() {
    let both =
        with_apps("  - key: com.x\n    version: 1.0.0\n    license: {env: LICENSE, file: x.txt}\n");
    assert_contains(
        &only(&both),
        &["has both `env` and `file`: give exactly one"],
    );
    let neither = with_apps("  - key: com.x\n    version: 1.0.0\n    license: {}\n");
    assert_contains(
        &only(&neither),
        &["`license` of app `com.x` needs `env` or `file`"],
    );
}

#[test]
fn problems_come_in_file_order() {
    let text = format!("colour: blue\n{BASE}apps:\n  - key: com.x\n    verison: 1\n  - key: com.y\n    version: 1.0+x\n");
    let found = problems(&text);
    let lines: Vec<usize> = found.iter().map(line).collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted);
    assert_eq!(lines.len(), 3);
}

#[test]
fn non_utf8_manifests_are_a_problem_with_a_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apps.yaml");
    fs::write(&path, b"instances:\n  - name: j\xffra\n").unwrap();
    let error = manifest::load_with_env(&path, &LoadOptions::default(), &env).unwrap_err();
    let [problem] = error.problems() else {
        panic!("{error}")
    };
    assert_eq!((problem.line, problem.column), (Some(2), Some(12)));
    assert_contains(problem, &["not UTF-8"]);
}

#[test]
fn aliases_work_and_expand_within_limits() {
    let text = format!(
        "{BASE}    apps:\n      - &x {{key: com.x, enabled: false}}\napps:\n  - key: com.x\n    version: 1.0.0\n"
    );
    manifest::parse_str(&text, Path::new("a.yaml"), &LoadOptions::default(), &env).unwrap();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..12 {
        let alias = format!("*a{}", level - 1);
        bomb.push_str(&format!(
            "a{level}: &a{level} [{}]\n",
            [alias.as_str(); 10].join(", ")
        ));
    }
    assert_contains(&only(&bomb), &["more than 100000 values"]);
}
