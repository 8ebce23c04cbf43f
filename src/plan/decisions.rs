//! The planner's decisions, each on the smallest input that shows it: which version, the
//! compatibility gate, whether a lock entry may be used, delivery, how a downgrade is undone, licenses, enablement and unmanaged
//! apps. No simulator: the input is built with [`super::builders`], the plan shown as text.

use super::builders::{desired, facts, found, live, FoundApps};
use super::{InstancePlan, PlanError, PlannedArtifact, PlannedInstance};
use crate::model::{DesiredInstance, InstallMethod, Live, UnmanagedPolicy};

/// The plan to apply from what was found.
fn plan(
    desired: &DesiredInstance,
    live: &Live,
    found: &FoundApps,
) -> Result<InstancePlan, Vec<PlanError>> {
    super::plan(desired, live, &facts(desired, live, found))
}

/// The plan as `upmsync plan` shows it, or the planner's errors.
fn show(desired: &DesiredInstance, live: &Live, found: &FoundApps) -> String {
    match plan(desired, live, found) {
        Ok(planned) => crate::render::plan_text(&super::Plan {
            instances: vec![PlannedInstance {
                name: planned.name.clone(),
                url: planned.url.clone(),
                live: None,
                result: Ok(planned),
            }],
        }),
        Err(errors) => errors
            .iter()
            .map(|error| format!("error: {}\n", crate::error::error_text(error)))
            .collect(),
    }
}

#[test]
fn unchanged_state_plans_nothing() {
    let desired = desired().app("a", "1.0").license("LICENSE").build();
    let live = live().app("a", "1.0.0").license("LICENSE").build();
    insta::assert_snapshot!(show(&desired, &live, &found().build()), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          No changes: the installed apps match the manifest.
    "#);
}

#[test]
fn latest_never_downgrades_an_installed_newer_version() {
    let desired = desired().app("a", "latest").build();
    let live = live().app("a", "2.0").build();
    let newest = found().release("a", "1.5").queried().build();
    insta::assert_snapshot!(show(&desired, &live, &newest), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          No changes: the installed apps match the manifest.
    "#);
    // A version the lock names is what the lock says, even below the installed one.
    let locked = found().release("a", "1.5").build();
    insta::assert_snapshot!(show(&desired, &live, &locked), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          -/+ a  a app  (downgrade)
              - version: 2.0
              + version: 1.5
                from http://marketplace.test/download/a/1.5 (by URI), fetched first
              ! warning: a downgrade uninstalls the app first, then installs the older version: the app's data and configuration may not survive; and no artifact of the installed version was found (it is not on the Marketplace), so the app cannot be restored if the install fails

          Plan for jira: 1 downgrade.
    "#);
}

#[test]
fn an_incompatible_release_is_refused_unless_allowed() {
    let live = live().build();
    let incompatible = found().release("a", "2.0").builds(1, 100, None).build();
    let wanted = desired().app("a", "2.0").build();
    insta::assert_snapshot!(show(&wanted, &live, &incompatible), @r#"
        error: `a` 2.0 is not compatible with jira 9.12.0 (build 912000) on `jira` (datacenter): the Marketplace lists builds 1 to 100
        hint: choose a compatible version (`upmsync outdated` lists the newest), or set `allow_incompatible: true` on the app
    "#);
    let server = found()
        .release("a", "2.0")
        .builds(1, 100, Some((900000, 999999)))
        .build();
    insta::assert_snapshot!(show(&wanted, &live, &server), @r#"
        error: `a` 2.0 is not compatible with jira 9.12.0 (build 912000) on `jira` (datacenter): the Marketplace lists builds 1 to 100
        hint: the Marketplace lists 2.0 as compatible with jira 9.12.0 for Server: if the app runs on Data Center anyway, set `hosting: server` on the app to use its Server listing; or set `allow_incompatible: true` on the app, or choose a compatible version (`upmsync outdated` lists the newest)
    "#);
    let allowed = desired().app("a", "2.0").allow_incompatible().build();
    insta::assert_snapshot!(show(&allowed, &live, &incompatible), @r"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          + a  (install)
              + version: 2.0
              + enabled: true
                from http://marketplace.test/download/a/2.0 (by URI)
              ! warning: allowed by `allow_incompatible: true`: `a` 2.0 is not compatible with jira 9.12.0 (build 912000) on `jira` (datacenter): the Marketplace lists builds 1 to 100

          Plan for jira: 1 install.
    ");
}

#[test]
fn a_pinned_artifact_is_uploaded_unless_the_manifest_says_uri() {
    let live = live().build();
    let pinned = found().release("a", "1.0").pinned().build();
    let auto = desired().app("a", "1.0").build();
    insta::assert_snapshot!(show(&auto, &live, &pinned), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          + a  (install)
              + version: 1.0
              + enabled: true
                from http://marketplace.test/download/a/1.0 (upload) sha256 abababababab, fetched first

          Plan for jira: 1 install.
    "#);
    let uri = desired()
        .app("a", "1.0")
        .install(InstallMethod::Uri)
        .build();
    insta::assert_snapshot!(show(&uri, &live, &pinned), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          + a  (install)
              + version: 1.0
              + enabled: true
                from http://marketplace.test/download/a/1.0 (by URI) sha256 abababababab, fetched first

          Plan for jira: 1 install.
    "#);
}

#[test]
fn a_downgrade_is_restored_by_uri_then_upload_by_upload_or_not_at_all() {
    let live = live().app("a", "2.0").build();
    let restorable = found()
        .release("a", "1.0")
        .installed_release("a", "2.0")
        .build();
    let by_uri = desired().app("a", "1.0").build();
    insta::assert_snapshot!(show(&by_uri, &live, &restorable), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          -/+ a  a app  (downgrade)
              - version: 2.0
              + version: 1.0
                from http://marketplace.test/download/a/1.0 (by URI), fetched first
                restores from http://marketplace.test/download/a/2.0 (by URI) if the install fails; if that fails too, uploads the copy fetched first
              ! warning: a downgrade uninstalls the app first, then installs the older version: the app's data and configuration may not survive

          Plan for jira: 1 downgrade.
    "#);
    let by_upload = desired()
        .app("a", "1.0")
        .install(InstallMethod::Upload)
        .build();
    insta::assert_snapshot!(show(&by_upload, &live, &restorable), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          -/+ a  a app  (downgrade)
              - version: 2.0
              + version: 1.0
                from http://marketplace.test/download/a/1.0 (upload), fetched first
                restores from http://marketplace.test/download/a/2.0 (upload), the copy fetched first, if the install fails
              ! warning: a downgrade uninstalls the app first, then installs the older version: the app's data and configuration may not survive

          Plan for jira: 1 downgrade.
    "#);
    let gone = found().release("a", "1.0").build();
    insta::assert_snapshot!(show(&by_uri, &live, &gone), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          -/+ a  a app  (downgrade)
              - version: 2.0
              + version: 1.0
                from http://marketplace.test/download/a/1.0 (by URI), fetched first
              ! warning: a downgrade uninstalls the app first, then installs the older version: the app's data and configuration may not survive; and no artifact of the installed version was found (it is not on the Marketplace), so the app cannot be restored if the install fails

          Plan for jira: 1 downgrade.
    "#);
}

#[test]
fn licenses_are_set_and_removed_by_hash() {
    let desired = desired()
        .app("set", "1.0")
        .license("NEW")
        .app("removed", "1.0")
        .license_absent()
        .app("none", "1.0")
        .license_absent()
        .build();
    let live = live()
        .app("set", "1.0")
        .license("OLD")
        .app("removed", "1.0")
        .license("OLD")
        .app("none", "1.0")
        .no_license()
        .build();
    let shown = show(&desired, &live, &found().build());
    assert!(!shown.contains("NEW") && !shown.contains("OLD"), "{shown}");
    insta::assert_snapshot!(shown, @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          ~ set  set app  (license-set)
                version: 1.0
              - license: sha256:099d90cbee62
              + license: sha256:a253ff09c5a8
          ~ removed  removed app  (license-remove)
                version: 1.0
              - license: sha256:099d90cbee62
              + license: none

          Plan for jira: 1 license-remove, 1 license-set.
    "#);
}

#[test]
fn enablement_changes_on_its_own_and_with_an_upgrade() {
    let desired = desired()
        .app("on", "1.0")
        .app("off", "1.0")
        .disabled()
        .app("up", "2.0")
        .disabled()
        .build();
    let live = live()
        .app("on", "1.0")
        .disabled()
        .app("off", "1.0")
        .app("up", "1.0")
        .build();
    let facts = found().release("up", "2.0").build();
    insta::assert_snapshot!(show(&desired, &live, &facts), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          ~ up  up app  (upgrade, disable)
              - version: 1.0
              + version: 2.0
              - enabled: true
              + enabled: false
                from http://marketplace.test/download/up/2.0 (by URI)
          ~ off  off app  (disable)
                version: 1.0
              - enabled: true
              + enabled: false
          ~ on  on app  (enable)
                version: 1.0
              - enabled: false
              + enabled: true

          Plan for jira: 1 upgrade, 1 enable, 2 disable.
    "#);
}

#[test]
fn unmanaged_apps_follow_the_policy() {
    let live = live().app("extra", "1.0").build();
    let facts = found().build();
    let policies = [
        UnmanagedPolicy::Ignore,
        UnmanagedPolicy::Report,
        UnmanagedPolicy::Uninstall,
    ];
    let shown: String = policies
        .into_iter()
        .map(|policy| {
            let desired = desired().absent("gone").unmanaged(policy).build();
            format!("{policy:?}:\n{}", show(&desired, &live, &facts))
        })
        .collect();
    insta::assert_snapshot!(shown, @r"
        Ignore:
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          No changes: the installed apps match the manifest.

        Report:
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          No changes to make.

          Not in the manifest (unmanaged: report), left alone:
            ? extra 1.0 (extra app)

        Uninstall:
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          - extra  extra app  (uninstall: not in the manifest)
              - version: 1.0

          Plan for jira: 1 uninstall.
    ");
}

#[test]
fn the_restore_strategy_is_named_in_the_json() {
    let live = live().app("a", "2.0").build();
    let restorable = found()
        .release("a", "1.0")
        .installed_release("a", "2.0")
        .build();
    let restore_of = |desired: &DesiredInstance| {
        let planned = plan(desired, &live, &restorable).unwrap();
        let json = serde_json::to_value(&planned.changes[0]).unwrap();
        json["restore"].to_string()
    };
    let by_uri = desired().app("a", "1.0").build();
    insta::assert_snapshot!(restore_of(&by_uri), @r#"{"fallback":"upload","fetch_first":true,"kind":"uri","url":"http://marketplace.test/download/a/2.0"}"#);
    let by_upload = desired()
        .app("a", "1.0")
        .install(InstallMethod::Upload)
        .build();
    insta::assert_snapshot!(restore_of(&by_upload), @r#"{"fetch_first":true,"kind":"upload","url":"http://marketplace.test/download/a/2.0"}"#);
}

#[test]
fn an_upload_is_always_fetched_first() {
    let live = live().build();
    let facts = found().release("a", "1.0").build();
    let upload = desired()
        .app("a", "1.0")
        .install(InstallMethod::Upload)
        .build();
    let planned = plan(&upload, &live, &facts).unwrap();
    let artifact = planned.changes[0].op.artifact().unwrap();
    assert!(
        matches!(artifact, PlannedArtifact::Upload { .. }) && artifact.fetch_first(),
        "{artifact:?}"
    );
    let by_uri = desired().app("a", "1.0").build();
    let planned = plan(&by_uri, &live, &facts).unwrap();
    let artifact = planned.changes[0].op.artifact().unwrap();
    assert!(
        matches!(
            artifact,
            PlannedArtifact::Uri {
                fetch_first: false,
                ..
            }
        ),
        "nothing to verify, UPM downloads it: {artifact:?}"
    );
}

#[test]
fn a_lock_entry_must_stay_where_the_manifest_says_the_app_comes_from() {
    let live = live().build();
    let marketplace = desired().app("a", "1.0").build();
    let on_the_marketplace = found()
        .release("a", "1.0")
        .locked("http://marketplace.test/")
        .build();
    insta::assert_snapshot!(show(&marketplace, &live, &on_the_marketplace), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          + a  (install)
              + version: 1.0
              + enabled: true
                from http://marketplace.test/download/a/1.0 (by URI)

          Plan for jira: 1 install.
    "#);
    let elsewhere = found()
        .release("a", "1.0")
        .locked("https://other.test/")
        .build();
    insta::assert_snapshot!(show(&marketplace, &live, &elsewhere), @r#"
        error: `a`: the lock file names http://marketplace.test/download/a/1.0 for a Marketplace app, which is not on the Marketplace (https://other.test/); upmsync refuses it
        hint: run `upmsync lock --update` to lock the Marketplace's own artifacts, or use `source: {url: ...}` for an artifact from elsewhere
    "#);
    let from_url = desired()
        .app("a", "1.0")
        .source_url("http://files.test/a.jar")
        .build();
    insta::assert_snapshot!(show(&from_url, &live, &on_the_marketplace), @r#"
        error: `a`: the lock file names http://marketplace.test/download/a/1.0 for this app, but the manifest says it comes from http://files.test/a.jar; upmsync refuses it
        hint: run `upmsync lock --update` to lock what the manifest names
    "#);
}

#[test]
fn drift_takes_exact_versions_as_named_and_needs_the_marketplace_for_the_rest() {
    let exact = desired().app("a", "1.0").build();
    let facts = crate::resolve::named(&exact).unwrap();
    let drift = super::plan::<()>(&exact, &live().build(), &facts).unwrap();
    let actions: Vec<_> = drift.changes.iter().map(|change| change.action()).collect();
    assert_eq!(actions, [super::Action::Install]);
    let latest = desired().app("a", "latest").build();
    let errors: Vec<String> = crate::resolve::named(&latest)
        .unwrap_err()
        .iter()
        .map(crate::resolve::ResolveError::line)
        .collect();
    assert_eq!(errors, ["`a`: version `latest` needs the Marketplace"]);
}

#[test]
fn an_exact_version_installed_is_kept_without_an_artifact() {
    let wanted = desired().app("a", "1.0").disabled().build();
    let installed = live().app("a", "1.0").build();
    // Nothing was found (nothing asked): the app stays at its version, only its state changes.
    insta::assert_snapshot!(show(&wanted, &installed, &found().build()), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          ~ a  a app  (disable)
                version: 1.0
              - enabled: true
              + enabled: false

          Plan for jira: 1 disable.
    "#);
}

/// The plan as `upmsync plan --format json` shows it.
fn show_json(desired: &DesiredInstance, live: &Live, found: &FoundApps) -> String {
    let planned = plan(desired, live, found).unwrap();
    crate::render::plan_json(&super::Plan {
        instances: vec![PlannedInstance {
            name: planned.name.clone(),
            url: planned.url.clone(),
            live: None,
            result: Ok(planned),
        }],
    })
}

#[test]
fn an_uninstall_says_why_in_text_and_json() {
    let live = live().app("extra", "1.0").app("gone", "1.0").build();
    let desired = desired()
        .absent("gone")
        .unmanaged(UnmanagedPolicy::Uninstall)
        .build();
    insta::assert_snapshot!(show(&desired, &live, &found().build()), @r"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          - extra  extra app  (uninstall: not in the manifest)
              - version: 1.0
          - gone  gone app  (uninstall)
              - version: 1.0

          Plan for jira: 2 uninstall.
    ");
    let json: serde_json::Value =
        serde_json::from_str(&show_json(&desired, &live, &found().build())).unwrap();
    let reasons: Vec<(&str, &str)> = json["instances"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| {
            (
                change["key"].as_str().unwrap(),
                change["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(reasons, [("extra", "not-in-manifest"), ("gone", "absent")]);
}

#[test]
fn a_version_allow_incompatible_lets_through_carries_a_warning_that_a_saved_plan_keeps() {
    let wanted = desired().app("a", "1.0").allow_incompatible().build();
    let installed = live().app("a", "2.0").build();
    let incompatible = found()
        .release("a", "1.0")
        .builds(1, 100, None)
        .installed_release("a", "2.0")
        .build();
    insta::assert_snapshot!(show(&wanted, &installed, &incompatible), @r"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          -/+ a  a app  (downgrade)
              - version: 2.0
              + version: 1.0
                from http://marketplace.test/download/a/1.0 (by URI), fetched first
                restores from http://marketplace.test/download/a/2.0 (by URI) if the install fails; if that fails too, uploads the copy fetched first
              ! warning: a downgrade uninstalls the app first, then installs the older version: the app's data and configuration may not survive
              ! warning: allowed by `allow_incompatible: true`: `a` 1.0 is not compatible with jira 9.12.0 (build 912000) on `jira` (datacenter): the Marketplace lists builds 1 to 100

          Plan for jira: 1 downgrade.
    ");
    let json: serde_json::Value =
        serde_json::from_str(&show_json(&wanted, &installed, &incompatible)).unwrap();
    let warning = json["instances"][0]["changes"][0]["warning"]
        .as_str()
        .unwrap();
    assert!(
        warning.starts_with("a downgrade uninstalls")
            && warning.ends_with("allowed by `allow_incompatible: true`: `a` 1.0 is not compatible with jira 9.12.0 (build 912000) on `jira` (datacenter): the Marketplace lists builds 1 to 100"),
        "{warning}"
    );
    // A saved plan reads the warning back, for a downgrade and for an install.
    let fresh = live().build();
    for live in [&installed, &fresh] {
        let planned = plan(&wanted, live, &incompatible).unwrap();
        let saved = crate::saved::saved_changes(&planned);
        assert!(saved[0].incompatible.is_some(), "{saved:?}");
        let read: Vec<crate::saved::SavedChange> =
            serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        assert_eq!(read[0].incompatible, saved[0].incompatible);
        assert!(crate::saved::same_changes(&saved, &read));
    }
    // A build that could not be read: refused without `allow_incompatible`, a warning with it.
    let mut unknown = live().build();
    unknown.product = Err(crate::model::ProductInfoError::NotRead);
    let refused = desired().app("a", "1.0").build();
    assert!(matches!(
        plan(&refused, &unknown, &incompatible).unwrap_err()[..],
        [PlanError::UnknownBuild { .. }]
    ));
    let planned = plan(&wanted, &unknown, &incompatible).unwrap();
    assert_eq!(
        planned.changes[0].incompatible.as_deref(),
        Some("`a`: cannot check compatibility, the product build is unknown: the product version was not read")
    );
    // A compatible version carries none.
    let compatible = found()
        .release("a", "1.0")
        .installed_release("a", "2.0")
        .build();
    let planned = plan(&wanted, &installed, &compatible).unwrap();
    assert_eq!(planned.changes[0].incompatible, None);
}

#[test]
fn the_header_notes_what_blocks_apply() {
    let wanted = desired().app("a", "1.0").build();
    let blocked = live().safe_mode().task_running().build();
    insta::assert_snapshot!(show(&wanted, &blocked, &found().release("a", "1.0").build()), @r#"
        Instance jira (http://jira.test/, product 9.12.0 build 912000)
          ! warning: UPM is in safe mode: apply refuses to install, upgrade, downgrade or uninstall apps until it is left (the Manage apps page, or `PUT /rest/plugins/1.0/safe-mode?keepState=true` with `{"enabled":false}`)
          ! warning: an install task was running on UPM (someone else's apply, or the Manage apps page): apply waits up to 60 s for it to end, then refuses
          + a  (install)
              + version: 1.0
              + enabled: true
                from http://marketplace.test/download/a/1.0 (by URI)

          Plan for jira: 1 install.
    "#);
    let json: serde_json::Value = serde_json::from_str(&show_json(
        &wanted,
        &blocked,
        &found().release("a", "1.0").build(),
    ))
    .unwrap();
    let kinds: Vec<&str> = json["instances"][0]["blocked_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|blocker| blocker["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["safe-mode", "task-running"]);
    // Nothing blocks: no field at all (the contract as it was).
    let free = show_json(
        &wanted,
        &live().build(),
        &found().release("a", "1.0").build(),
    );
    assert!(!free.contains("blocked_by"), "{free}");
}
