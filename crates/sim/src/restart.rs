//! Changes that need a product restart: staging installs, upgrades and uninstalls of the apps
//! configured with [`SimConfig::requires_restart`], the `/requires-restart` resources, and the
//! restart itself ([`Sim::restart`]).
//!
//! Real UPM (upm-rest-api.md §1 resource map, §4 202-on-DELETE, §5.1 `restartState`, §5.5) keeps
//! such a change pending: the install task succeeds, the plugin list shows the app as it runs now
//! with `restartState` and a `change-requiring-restart` link, `GET /requires-restart` lists the
//! change, `DELETE /requires-restart/{key}-key` reverts it, and a restart applies it (field report:
//! onepremise/gReview #47). A restart also clears the install tasks (§5.9) and every upm-token (§5.2).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::json;

use super::config::SimConfig;
use super::http;
use super::jar::PluginDescriptor;
use super::state::{Shared, SimPluginState, State};
use super::upm::{self, Call, ERROR};
use super::{enablement, Sim};
use upmsync_plugin::version;

/// `application/vnd.atl.plugins.changes.requiring.restart+json` (upm-rest-api.md §3).
pub(crate) const CHANGES: &str = "application/vnd.atl.plugins.changes.requiring.restart+json";

/// A change waiting for a product restart: the plugin's `restartState` (upm-rest-api.md §5.1) and
/// the `action` of its `/requires-restart` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimRestartState {
    /// A new app: listed with its new version, disabled, until the restart loads it.
    Install,
    /// A new version of an installed app: the list keeps the old version until the restart.
    Upgrade,
    /// An uninstall: the app stays listed (and running) until the restart.
    Remove,
}

impl SimRestartState {
    /// The wire value: `install`, `upgrade` or `remove`.
    pub fn as_str(self) -> &'static str {
        match self {
            SimRestartState::Install => "install",
            SimRestartState::Upgrade => "upgrade",
            SimRestartState::Remove => "remove",
        }
    }
}

impl SimConfig {
    /// Makes every install, upgrade and uninstall of this app need a product restart
    /// ([`Sim::restart`]) before it takes effect.
    pub fn requires_restart(mut self, key: &str) -> Self {
        self.requires_restart.insert(key.into());
        self
    }
}

impl Sim {
    /// Restarts the product: pending changes take effect (new apps are loaded and enabled when they
    /// can be, upgrades replace the old version, uninstalls remove the app), install tasks and
    /// upm-tokens on every node are forgotten (upm-rest-api.md §5.9, §5.2), a running install task
    /// is abandoned, and apps that cannot be enabled (missing dependencies, enable failures) come
    /// back disabled. Plugins, licenses, gates and safe mode persist.
    pub fn restart(&self) {
        let dependencies = &self.shared.dependencies;
        let mut state = self.shared.lock();
        apply_pending(&mut state);
        state.tasks.clear();
        state.clear_upm_tokens();
        state.generation += 1;
        enablement::boot(&mut state, dependencies);
    }

    /// The changes waiting for a restart, by app key.
    pub fn pending_restart(&self) -> BTreeMap<String, SimRestartState> {
        self.shared
            .lock()
            .plugins
            .values()
            .filter_map(|plugin| Some((plugin.key.clone(), plugin.restart_state?)))
            .collect()
    }
}

/// Carries out every pending change, as the plugin system does when the product starts.
fn apply_pending(state: &mut State) {
    let pending: Vec<(String, SimRestartState)> = state
        .plugins
        .values()
        .filter_map(|plugin| Some((plugin.key.clone(), plugin.restart_state?)))
        .collect();
    for (key, change) in pending {
        match change {
            SimRestartState::Remove => {
                state.plugins.remove(&key);
            }
            SimRestartState::Install => {
                if let Some(plugin) = state.plugins.get_mut(&key) {
                    plugin.restart_state = None;
                    plugin.enabled = true;
                }
            }
            SimRestartState::Upgrade => {
                let staged = state.staged.remove(&key);
                if let (Some(plugin), Some(staged)) = (state.plugins.get_mut(&key), staged) {
                    // guess: like an upgrade without restart, the new version keeps the enabled
                    // state and the user-installed/uninstallable flags of the old one.
                    plugin.version = staged.version;
                    plugin.name = staged.name;
                    plugin.uses_licensing = staged.uses_licensing;
                }
                if let Some(plugin) = state.plugins.get_mut(&key) {
                    plugin.restart_state = None;
                }
            }
        }
    }
    state.staged.clear();
}

/// Records a successful install task's artifact as a change pending restart.
///
/// The plugin framework's version rule (§5.6) still holds: a version lower than the installed one
/// is discarded. guess: a new app is listed at once with its new version, disabled, and
/// `restartState: "install"` (UPM lists what the plugin system knows, and an app waiting for a
/// restart is known but not loaded); a second install before the restart replaces the staged one.
pub(crate) fn stage(state: &mut State, descriptor: PluginDescriptor) {
    let key = descriptor.key.clone();
    let Some(existing) = state.plugins.get_mut(&key) else {
        state.plugins.insert(
            key.clone(),
            SimPluginState {
                key: descriptor.key,
                name: descriptor.name,
                version: descriptor.version,
                enabled: false,
                user_installed: true,
                uninstallable: true,
                uses_licensing: descriptor.uses_licensing,
                vendor: None,
                restart_state: Some(SimRestartState::Install),
            },
        );
        return;
    };
    if existing.restart_state == Some(SimRestartState::Install) {
        if version::compare(&descriptor.version, &existing.version) != Ordering::Less {
            existing.version = descriptor.version;
            existing.name = descriptor.name;
            existing.uses_licensing = descriptor.uses_licensing;
        }
        return;
    }
    if version::compare(&descriptor.version, &existing.version) == Ordering::Less {
        return;
    }
    // An install over a pending removal turns it into an upgrade (the app is not removed).
    existing.restart_state = Some(SimRestartState::Upgrade);
    let staged = SimPluginState {
        name: descriptor.name,
        version: descriptor.version,
        uses_licensing: descriptor.uses_licensing,
        restart_state: None,
        ..existing.clone()
    };
    state.staged.insert(key, staged);
}

/// Marks an app for removal at the next restart (a DELETE answered 202, §4, §5.5).
pub(crate) fn stage_removal(state: &mut State, key: &str) {
    state.staged.remove(key);
    if let Some(plugin) = state.plugins.get_mut(key) {
        plugin.restart_state = Some(SimRestartState::Remove);
    }
}

#[derive(Serialize)]
struct Change {
    links: BTreeMap<&'static str, String>,
    name: String,
    key: String,
    action: &'static str,
}

/// `GET /requires-restart`: `{"links":{"self"},"changes":[{"links","name","key","action"}]}`, the
/// shape of UPM's `ChangesRequiringRestartRepresentation` (links `self`, `plugin-icon`,
/// `plugin-logo`), empty `changes` when nothing is pending.
pub(crate) fn changes(shared: &Shared, call: &Call) -> Response {
    if let Err(response) = call.negotiate(&[], Some(CHANGES)) {
        return response;
    }
    if let Err(response) = call.require_user() {
        return response;
    }
    let base = shared.upm_rest_path();
    let changes: Vec<Change> = shared
        .lock()
        .plugins
        .values()
        .filter_map(|plugin| {
            let action = plugin.restart_state?.as_str();
            let plugin_link = upm::plugin_link(shared, &plugin.key);
            let links = BTreeMap::from([
                ("self", change_link(shared, &plugin.key)),
                ("plugin-icon", format!("{plugin_link}/media/plugin-icon")),
                ("plugin-logo", format!("{plugin_link}/media/plugin-logo")),
            ]);
            Some(Change {
                links,
                name: plugin.name.clone(),
                key: plugin.key.clone(),
                action,
            })
        })
        .collect();
    let links = BTreeMap::from([("self", format!("{base}/requires-restart"))]);
    http::json(
        StatusCode::OK,
        CHANGES,
        &json!({"links": links, "changes": changes}),
    )
}

/// The relative link of an app's pending change: `{context}/rest/plugins/1.0/requires-restart/{key}-key`.
pub(crate) fn change_link(shared: &Shared, key: &str) -> String {
    format!(
        "{}/requires-restart/{}-key",
        shared.upm_rest_path(),
        http::percent_encode(key)
    )
}

/// `DELETE /requires-restart/{key}-key`: reverts the pending change and answers 204, as UPM's
/// `ChangeRequiringRestartResource` does; 404 `upm.messages.requiresRestart.no.such.plugin` when the
/// app is installed without a pending change, and (as in UPM's code) 204 for an unknown app.
pub(crate) fn cancel(shared: &Shared, call: &Call, segment: &str) -> Response {
    if let Err(response) = call.require_user() {
        return response;
    }
    let key = match upm::plugin_key(segment) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let mut state = shared.lock();
    let Some(plugin) = state.plugins.get_mut(&key) else {
        return http::empty(StatusCode::NO_CONTENT);
    };
    match plugin.restart_state.take() {
        None => http::json(
            StatusCode::NOT_FOUND,
            ERROR,
            &json!({"subCode": "upm.messages.requiresRestart.no.such.plugin"}),
        ),
        Some(SimRestartState::Install) => {
            state.plugins.remove(&key);
            http::empty(StatusCode::NO_CONTENT)
        }
        Some(SimRestartState::Upgrade | SimRestartState::Remove) => {
            state.staged.remove(&key);
            http::empty(StatusCode::NO_CONTENT)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeedPlugin;

    fn descriptor(key: &str, version: &str) -> PluginDescriptor {
        PluginDescriptor {
            key: key.into(),
            name: "New".into(),
            version: version.into(),
            uses_licensing: false,
        }
    }

    fn state() -> State {
        Shared::test_state(SimConfig::empty().plugin(SeedPlugin::user("k", "Old", "1.0.0")))
    }

    #[test]
    fn upgrade_keeps_the_old_version_until_applied() {
        let mut state = state();
        stage(&mut state, descriptor("k", "2.0.0"));
        assert_eq!(state.plugins["k"].version, "1.0.0");
        assert_eq!(
            state.plugins["k"].restart_state,
            Some(SimRestartState::Upgrade)
        );
        apply_pending(&mut state);
        assert_eq!(state.plugins["k"].version, "2.0.0");
        assert_eq!(state.plugins["k"].name, "New");
        assert_eq!(state.plugins["k"].restart_state, None);
        assert!(state.staged.is_empty());
    }

    #[test]
    fn lower_version_is_not_staged() {
        let mut state = state();
        stage(&mut state, descriptor("k", "0.9.0"));
        assert_eq!(state.plugins["k"].restart_state, None);
        assert!(state.staged.is_empty());
    }

    #[test]
    fn new_app_is_listed_disabled_until_applied_and_removal_waits() {
        let mut state = state();
        stage(&mut state, descriptor("new", "1.0.0"));
        assert!(!state.plugins["new"].enabled);
        assert_eq!(
            state.plugins["new"].restart_state,
            Some(SimRestartState::Install)
        );
        stage_removal(&mut state, "k");
        assert!(state.plugins.contains_key("k"));
        apply_pending(&mut state);
        assert!(state.plugins["new"].enabled);
        assert!(!state.plugins.contains_key("k"));
    }
}
