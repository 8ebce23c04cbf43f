//! Whether an app can be enabled: app dependencies ([`SimConfig::dependency`]) and apps that fail
//! to enable inside the plugin system ([`SimConfig::enable_fails`]).
//!
//! An app that imports another app's packages cannot be enabled while that app is not installed
//! and enabled (field reports: smartics install order; pull-request-notifier-for-bitbucket #112,
//! an app that installs and then fails to enable). In both cases the install task succeeds and the
//! app stays disabled, and `PUT {"enabled":true}` answers 500 `upm.plugin.error.failed.to.enable`
//! (upm-rest-api.md §4: the enabler returned false).

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::config::SimConfig;
use super::http;
use super::restart::SimRestartState;
use super::state::State;
use super::upm::ERROR;
use super::Sim;

/// Dependencies by app key, as [`super::state::Shared`] keeps them.
pub(crate) type Dependencies = BTreeMap<String, BTreeSet<String>>;

impl SimConfig {
    /// Makes `app` need `needs` installed and enabled before it can be enabled (repeat for more).
    ///
    /// Installing `app` while `needs` is missing or disabled succeeds but leaves `app` disabled,
    /// and enabling it answers 500 `upm.plugin.error.failed.to.enable` until `needs` is installed
    /// and enabled. guess: installing `needs` later does not enable `app` by itself; disabling or
    /// uninstalling `needs` disables `app`.
    pub fn dependency(mut self, app: &str, needs: &str) -> Self {
        self.dependencies
            .entry(app.into())
            .or_default()
            .insert(needs.into());
        self
    }

    /// Makes this app fail to enable: it installs (the task succeeds) but stays disabled, and
    /// enabling it answers 500 `upm.plugin.error.failed.to.enable`.
    pub fn enable_fails(mut self, key: &str) -> Self {
        self.enable_fails.insert(key.into());
        self
    }
}

impl Sim {
    /// Turns enable failures of an app on or off at runtime (see [`SimConfig::enable_fails`]).
    ///
    /// guess: turning it on does not disable an app that is enabled now; it bites on the next
    /// enable (a `PUT`, an install or upgrade, a restart).
    pub fn set_enable_fails(&self, key: &str, on: bool) {
        let mut state = self.shared.lock();
        if on {
            state.enable_fails.insert(key.into());
        } else {
            state.enable_fails.remove(key);
        }
    }
}

/// Whether the plugin system would manage to enable `key` now.
pub(crate) fn can_enable(state: &State, dependencies: &Dependencies, key: &str) -> bool {
    let Some(plugin) = state.plugins.get(key) else {
        return false;
    };
    // guess: an app waiting for a restart to be installed is not loaded, so it cannot be enabled.
    if plugin.restart_state == Some(SimRestartState::Install) || state.enable_fails.contains(key) {
        return false;
    }
    dependencies
        .get(key)
        .into_iter()
        .flatten()
        .all(|needed| is_running(state, needed))
}

/// Installed (not merely waiting for a restart) and enabled.
fn is_running(state: &State, key: &str) -> bool {
    state.plugins.get(key).is_some_and(|plugin| {
        plugin.enabled && plugin.restart_state != Some(SimRestartState::Install)
    })
}

/// Disables every enabled app whose dependencies are no longer running, until nothing changes
/// (a chain of dependents goes down together).
pub(crate) fn settle(state: &mut State, dependencies: &Dependencies) {
    loop {
        let broken: Vec<String> = state
            .plugins
            .values()
            .filter(|plugin| plugin.enabled)
            .filter(|plugin| {
                dependencies
                    .get(&plugin.key)
                    .into_iter()
                    .flatten()
                    .any(|needed| !is_running(state, needed))
            })
            .map(|plugin| plugin.key.clone())
            .collect();
        if broken.is_empty() {
            return;
        }
        for key in broken {
            if let Some(plugin) = state.plugins.get_mut(&key) {
                plugin.enabled = false;
            }
        }
    }
}

/// After an install or upgrade replaced `key`: the plugin system tries to enable it (if it was
/// enabled, or is new); when that fails it stays disabled, and its dependents follow.
pub(crate) fn after_install(state: &mut State, dependencies: &Dependencies, key: &str) {
    let enabled = state.plugins.get(key).is_some_and(|plugin| plugin.enabled);
    if enabled && !can_enable(state, dependencies, key) {
        if let Some(plugin) = state.plugins.get_mut(key) {
            plugin.enabled = false;
        }
    }
    settle(state, dependencies);
}

/// Product start: every app that was enabled is enabled again where the plugin system can.
pub(crate) fn boot(state: &mut State, dependencies: &Dependencies) {
    let failing: Vec<String> = state
        .plugins
        .values()
        .filter(|plugin| plugin.enabled && state.enable_fails.contains(&plugin.key))
        .map(|plugin| plugin.key.clone())
        .collect();
    for key in failing {
        if let Some(plugin) = state.plugins.get_mut(&key) {
            plugin.enabled = false;
        }
    }
    settle(state, dependencies);
}

/// 500 `{"subCode":"upm.plugin.error.failed.to.enable"}` (upm-rest-api.md §4).
pub(crate) fn failed_to_enable() -> Response {
    http::json(
        StatusCode::INTERNAL_SERVER_ERROR,
        ERROR,
        &json!({"subCode": "upm.plugin.error.failed.to.enable"}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Shared;
    use crate::SeedPlugin;

    fn state(config: SimConfig) -> State {
        Shared::test_state(config)
    }

    #[test]
    fn a_dependency_must_run_before_its_dependent_can_enable() {
        let config = SimConfig::empty()
            .plugin(SeedPlugin::user("app", "App", "1.0").disabled())
            .dependency("app", "dep");
        let dependencies = config.dependencies.clone();
        let mut state = state(config);
        assert!(!can_enable(&state, &dependencies, "app"));
        state
            .plugins
            .insert("dep".into(), state.plugins["app"].clone_as("dep", false));
        assert!(!can_enable(&state, &dependencies, "app"), "dep is disabled");
        state.plugins.get_mut("dep").unwrap().enabled = true;
        assert!(can_enable(&state, &dependencies, "app"));
    }

    #[test]
    fn disabling_a_dependency_takes_the_chain_down_at_boot() {
        let config = SimConfig::empty()
            .plugin(SeedPlugin::user("a", "A", "1.0"))
            .plugin(SeedPlugin::user("b", "B", "1.0"))
            .plugin(SeedPlugin::user("c", "C", "1.0"))
            .dependency("b", "a")
            .dependency("c", "b")
            .enable_fails("a");
        let state = state(config);
        // `a` fails to enable at start, so `b` and then `c` cannot run either.
        for key in ["a", "b", "c"] {
            assert!(!state.plugins[key].enabled, "{key} is disabled");
        }
    }

    impl crate::SimPluginState {
        fn clone_as(&self, key: &str, enabled: bool) -> Self {
            Self {
                key: key.into(),
                enabled,
                ..self.clone()
            }
        }
    }
}
