//! Manifest order, `requires`, per-app `hosting` and keys pasted with UPM's `-key` suffix: what
//! loads, and every problem with its line and column.

use crate::support::rules::*;
use upmsync::model::{AppKey, DesiredInstance, DesiredState, Hosting};

fn order(instance: &DesiredInstance) -> Vec<String> {
    instance
        .install_order()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn position(instance: &DesiredInstance, key: &str) -> usize {
    instance.apps[&AppKey::new(key)].position
}

#[test]
fn positions_follow_the_top_level_list_then_the_instances_own() {
    let desired = load(
        "\
instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    auth: {token_env: PAT}
    apps:
      - key: com.own.first
        version: 1.0.0
      - key: com.top.second
        version: 3.0.0
      - key: com.own.last
        version: 1.0.0
apps:
  - key: com.top.zulu
    version: 1.0.0
  - key: com.top.second
    version: 2.0.0
  - key: com.top.alpha
    state: absent
",
    );
    let jira = &desired.instances[0];
    let positions: Vec<(&str, usize)> = [
        "com.top.zulu",
        "com.top.second",
        "com.top.alpha",
        "com.own.first",
        "com.own.last",
    ]
    .into_iter()
    .map(|key| (key, position(jira, key)))
    .collect();
    assert_eq!(
        positions,
        vec![
            ("com.top.zulu", 0),
            // Overridden by the instance entry, it keeps its top-level place.
            ("com.top.second", 1),
            ("com.top.alpha", 2),
            ("com.own.first", 3),
            ("com.own.last", 4),
        ]
    );
    assert_eq!(
        order(jira),
        vec![
            "com.top.zulu",
            "com.top.second",
            "com.top.alpha",
            "com.own.first",
            "com.own.last"
        ]
    );
}

#[test]
fn requires_loads_and_orders_the_apps() {
    let desired = load(&with_apps(
        "  - key: com.example.addon
    version: 1.0.0
    requires: [com.example.base]
  - key: com.example.other
    version: 1.0.0
  - key: com.example.base
    version: 1.0.0
  - key: com.example.old
    state: absent
    requires:
      - com.example.older
  - key: com.example.older
    state: absent
",
    ));
    let jira = &desired.instances[0];
    assert_eq!(
        jira.apps[&AppKey::new("com.example.addon")].requires,
        vec![AppKey::new("com.example.base")]
    );
    assert_eq!(
        order(jira),
        vec![
            "com.example.other",
            "com.example.base",
            "com.example.addon",
            "com.example.older",
            "com.example.old"
        ]
    );
}

#[test]
fn an_instance_entrys_requires_replaces_the_top_level_one() {
    let desired = load(
        "\
instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    auth: {token_env: PAT}
    apps:
      - key: com.example.addon
        requires: [com.example.other]
  - name: jira2
    url: https://jira2.example.com
    product: jira
    auth: {token_env: PAT}
apps:
  - key: com.example.addon
    version: 1.0.0
    requires: [com.example.base]
  - key: com.example.base
    version: 1.0.0
  - key: com.example.other
    version: 1.0.0
",
    );
    let requires = |index: usize| {
        desired.instances[index].apps[&AppKey::new("com.example.addon")]
            .requires
            .clone()
    };
    assert_eq!(requires(0), vec![AppKey::new("com.example.other")]);
    assert_eq!(requires(1), vec![AppKey::new("com.example.base")]);
}

#[test]
fn requires_naming_an_app_the_instance_does_not_have() {
    let problem = only(&with_apps(
        "  - key: com.example.addon
    version: 1.0.0
    requires: [com.example.base, com.example.missing]
  - key: com.example.base
    version: 1.0.0
",
    ));
    assert_eq!(place(&problem), (9, 34));
    assert_contains(
        &problem,
        &[
            "app `com.example.addon` requires `com.example.missing`, which is not an app of instance `jira`",
            "add an entry for `com.example.missing`",
        ],
    );
}

#[test]
fn an_app_only_another_instance_has_is_unknown_here() {
    let found = problems(
        "\
instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    auth: {token_env: PAT}
    apps:
      - key: com.example.base
        version: 1.0.0
  - name: jira2
    url: https://jira2.example.com
    product: jira
    auth: {token_env: PAT}
apps:
  - key: com.example.addon
    version: 1.0.0
    requires: [com.example.base]
",
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(place(&found[0]), (16, 16));
    assert_contains(&found[0], &["not an app of instance `jira2`"]);
}

#[test]
fn a_key_in_requires_that_differs_only_in_case_is_named() {
    let problem = only(&with_apps(
        "  - key: com.example.Base
    version: 1.0.0
  - key: com.example.addon
    version: 1.0.0
    requires: [com.example.base]
",
    ));
    assert_eq!(place(&problem), (11, 16));
    assert_contains(&problem, &["did you mean `com.example.Base`?"]);
}

#[test]
fn an_app_that_requires_itself() {
    let problem = only(&with_apps(
        "  - key: com.example.addon
    version: 1.0.0
    requires:
      - com.example.addon
",
    ));
    assert_eq!(place(&problem), (10, 9));
    assert_contains(&problem, &["app `com.example.addon` requires itself"]);
}

#[test]
fn requiring_an_absent_app() {
    let problem = only(&with_apps(
        "  - key: com.example.base
    state: absent
  - key: com.example.addon
    version: 1.0.0
    requires: [com.example.base]
",
    ));
    assert_eq!(place(&problem), (11, 16));
    assert_contains(
        &problem,
        &[
            "requires `com.example.base`, which has `state: absent` on instance `jira`",
            "install `com.example.base` too",
        ],
    );
}

#[test]
fn a_cycle_is_named_once_at_its_first_app() {
    let problem = only(&with_apps(
        "  - key: a
    version: 1.0.0
    requires: [c]
  - key: b
    version: 1.0.0
    requires: [a]
  - key: c
    version: 1.0.0
    requires: [b]
",
    ));
    assert_eq!(place(&problem), (9, 16));
    assert_contains(&problem, &["`requires` makes a cycle: a -> c -> b -> a"]);
}

#[test]
fn a_two_app_cycle_through_an_instance_entry() {
    let found = problems(
        "\
instances:
  - name: jira
    url: https://jira.example.com
    product: jira
    auth: {token_env: PAT}
    apps:
      - key: b
        requires: [a]
apps:
  - key: a
    version: 1.0.0
    requires: [b]
  - key: b
    version: 1.0.0
",
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(place(&found[0]), (12, 16));
    assert_contains(&found[0], &["a -> b -> a"]);
}

#[test]
fn a_key_named_twice_in_requires() {
    let problem = only(&with_apps(
        "  - key: base
    version: 1.0.0
  - key: addon
    version: 1.0.0
    requires: [base, base]
",
    ));
    assert_eq!(place(&problem), (11, 22));
    assert_contains(
        &problem,
        &["`requires` of app `addon` names `base` twice (first at line 11, column 16)"],
    );
}

#[test]
fn requires_must_be_a_list_of_keys() {
    let problem = only(&with_apps(
        "  - key: addon
    version: 1.0.0
    requires: base
",
    ));
    assert_eq!(place(&problem), (9, 15));
    assert_contains(
        &problem,
        &[
            "must be a list of app keys, found text",
            "requires: [com.example.base]",
        ],
    );
    let problem = only(&with_apps(
        "  - key: addon
    version: 1.0.0
    requires: [{key: base}]
",
    ));
    // A flow mapping is marked at its first key.
    assert_eq!(place(&problem), (9, 17));
    assert_contains(
        &problem,
        &["an entry of `requires` of app `addon` must be an app key, found a mapping"],
    );
}

#[test]
fn a_key_pasted_from_a_upm_url_is_refused_with_the_real_key() {
    let problem = only(&with_apps(
        "  - key: com.onresolve.jira.groovy.groovyrunner-key
    version: 8.28.1
",
    ));
    assert_eq!(place(&problem), (7, 10));
    assert_contains(
        &problem,
        &[
            "an app key `com.onresolve.jira.groovy.groovyrunner-key` ends in `-key`",
            "write the plugin key without the suffix: `com.onresolve.jira.groovy.groovyrunner`",
        ],
    );
    let problem = only(&with_apps(
        "  - key: com.example.base
    version: 1.0.0
  - key: com.example.addon
    version: 1.0.0
    requires: [com.example.base-key]
",
    ));
    assert_eq!(place(&problem), (11, 16));
    assert_contains(
        &problem,
        &[
            "a key in `requires` `com.example.base-key` ends in `-key`",
            "`com.example.base`",
        ],
    );
    // Without a `.` before it, `-key` is taken as part of the key.
    let desired = load(&with_apps("  - key: my-key\n    version: 1.0.0\n"));
    assert!(desired.instances[0]
        .apps
        .contains_key(&AppKey::new("my-key")));
}

#[test]
fn per_app_hosting_overrides_the_instance() {
    let desired = load(
        "\
instances:
  - name: dc
    url: https://jira.example.com
    product: jira
    auth: {token_env: PAT}
    apps:
      - key: com.example.dc-listed
        hosting: datacenter
  - name: server
    url: https://jira2.example.com
    product: jira
    hosting: server
    auth: {token_env: PAT}
apps:
  - key: ru.mail.jira.plugins.groovy
    version: 3.0.0
    hosting: server
  - key: com.example.dc-listed
    version: 1.0.0
",
    );
    let hosting = |instance: usize, key: &str| {
        let instance = &desired.instances[instance];
        match &instance.apps[&AppKey::new(key)].state {
            DesiredState::Present(present) => (present.hosting, instance.hosting_of(present)),
            DesiredState::Absent => panic!("{key} is absent"),
        }
    };
    assert_eq!(
        hosting(0, "ru.mail.jira.plugins.groovy"),
        (Some(Hosting::Server), Hosting::Server)
    );
    // The instance's own hosting is kept as no override.
    assert_eq!(
        hosting(0, "com.example.dc-listed"),
        (None, Hosting::Datacenter)
    );
    assert_eq!(
        hosting(1, "ru.mail.jira.plugins.groovy"),
        (None, Hosting::Server)
    );
    assert_eq!(hosting(1, "com.example.dc-listed"), (None, Hosting::Server));
}

#[test]
fn per_app_hosting_problems() {
    let problem = only(&with_apps(
        "  - key: com.example.app
    version: 1.0.0
    hosting: cloud
",
    ));
    assert_eq!(place(&problem), (9, 14));
    assert_contains(&problem, &["`hosting` of app `com.example.app` must be one of `datacenter`, `server`, found `cloud`"]);
    let problem = only(&with_apps(
        "  - key: com.example.app
    state: absent
    hosting: server
",
    ));
    assert_eq!(place(&problem), (9, 5));
    assert_contains(&problem, &["`hosting` has no meaning for an absent app"]);
}

#[test]
fn unknown_fields_stay_errors_and_list_the_new_ones() {
    let problem = only(&with_apps(
        "  - key: com.example.app
    version: 1.0.0
    require: [com.example.base]
",
    ));
    assert_eq!(place(&problem), (9, 5));
    assert_contains(
        &problem,
        &[
            "unknown field `require`",
            "`requires`",
            "`hosting`",
            "did you mean `requires`?",
        ],
    );
}

#[test]
fn a_plan_from_the_manifest_installs_in_its_order() {
    let desired = load(&with_apps(
        "  - key: com.vendor.c-addon
    version: 1.0.0
    requires: [com.vendor.a-base]
  - key: com.vendor.b-other
    version: 1.0.0
  - key: com.vendor.a-base
    version: 1.0.0
",
    ));
    let plan = upmsync::plan::plan::<()>(
        &desired.instances[0],
        &upmsync::model::Live::default(),
        &upmsync::resolve::named(&desired.instances[0]).unwrap(),
    )
    .unwrap();
    let keys: Vec<&str> = plan
        .changes
        .iter()
        .map(|change| change.key.as_str())
        .collect();
    assert_eq!(
        keys,
        vec![
            "com.vendor.b-other",
            "com.vendor.a-base",
            "com.vendor.c-addon"
        ]
    );
}
