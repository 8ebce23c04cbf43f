//! Prometheus metrics of a drift check, for `drift --metrics-file` (node_exporter's textfile
//! collector) and `serve` (`/metrics`): what one check found, rendered in the Prometheus text
//! format 0.0.4 by the `prometheus` crate (which escapes label values from servers), and the one
//! atomic write of the file. Every metric is documented in `docs/monitoring.md`.
//!
//! The metrics are a snapshot of one check, rebuilt from nothing each time: an instance no longer
//! checked has no series, and a fact that could not be learned is absent rather than 0. No metric
//! holds a URL, a credential, a license or an error text: only instance names (from the manifest),
//! app keys, versions and states (from UPM), counts and times.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use prometheus::{GaugeVec, IntCounter, IntGauge, IntGaugeVec, Opts, Registry};

use crate::model::{AppKey, Desired};
use crate::plan::{Action, Drift};

/// The `Content-Type` of the text format the metrics are rendered in:
/// `text/plain; version=0.0.4`.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Every action a change can have, so that `upmsync_changes_pending` shows 0 for those with no
/// change rather than no series.
const ACTIONS: [Action; 8] = [
    Action::Install,
    Action::Upgrade,
    Action::Downgrade,
    Action::Uninstall,
    Action::Enable,
    Action::Disable,
    Action::LicenseSet,
    Action::LicenseRemove,
];

/// What one drift check found: the drift of every instance checked, how long each took, and when
/// the check ended.
#[derive(Clone, Debug)]
pub struct Check {
    /// The drift (or the error) of each instance, in manifest order.
    pub drift: Drift,
    /// How long each instance took to read and plan, in the order of `drift.instances`.
    pub durations: Vec<Duration>,
    /// When the check ended.
    pub finished: SystemTime,
    /// The apps the manifest names, per instance (what `upmsync_unmanaged_apps` does not count).
    managed: BTreeMap<String, BTreeSet<AppKey>>,
}

impl Check {
    /// The check of `desired`'s instances that `drift` and `durations` (from
    /// [`crate::ops::read_drift_timed`]) describe, ended now.
    pub fn new(desired: &Desired, drift: Drift, durations: Vec<Duration>) -> Self {
        let managed = desired
            .instances
            .iter()
            .map(|instance| {
                (
                    instance.name.clone(),
                    instance.apps.keys().cloned().collect(),
                )
            })
            .collect();
        Self {
            drift,
            durations,
            finished: SystemTime::now(),
            managed,
        }
    }
}

/// Why the metrics could not be rendered or written.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The `prometheus` crate refused a metric (a name or label set it does not accept).
    #[error("failed to encode the metrics")]
    Encode(#[source] prometheus::Error),
    /// The metrics file could not be written (its folder is missing or not writable).
    #[error("failed to write the metrics file `{}`", path.display())]
    Write {
        /// The file asked for.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MetricsError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            MetricsError::Encode(_) => None,
            MetricsError::Write { .. } => Some(
                "the file's folder must exist and be writable by upmsync (for node_exporter, its `--collector.textfile.directory`)"
                    .to_string(),
            ),
        }
    }
}

/// The metrics of `check` in the text format ([`CONTENT_TYPE`]). `checks_total` is `serve`'s
/// count of finished checks (`upmsync_checks_total`); `None` leaves it out (`drift`).
///
/// # Errors
///
/// [`MetricsError::Encode`] when the crate refuses a metric (not expected: names are fixed).
pub fn render(check: &Check, checks_total: Option<u64>) -> Result<String, MetricsError> {
    let metrics = Metrics::new().map_err(MetricsError::Encode)?;
    metrics.manifest_error.set(0);
    if let Some(total) = checks_total {
        let counter = IntCounter::new(
            "upmsync_checks_total",
            "Drift checks finished since upmsync serve started.",
        )
        .map_err(MetricsError::Encode)?;
        counter.inc_by(total);
        metrics
            .registry
            .register(Box::new(counter))
            .map_err(MetricsError::Encode)?;
    }
    let finished = check
        .finished
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    for (index, instance) in check.drift.instances.iter().enumerate() {
        let name = instance.name.as_str();
        metrics.last_check.with_label_values(&[name]).set(finished);
        if let Some(duration) = check.durations.get(index) {
            metrics
                .duration
                .with_label_values(&[name])
                .set(duration.as_secs_f64());
        }
        if let Some(live) = &instance.live {
            let managed = check.managed.get(name);
            let mut unmanaged = 0;
            // System apps are the product's own: hundreds of them, never managed, not shown.
            for app in live.apps.values().filter(|app| app.user_installed) {
                let enabled = if app.enabled { "true" } else { "false" };
                metrics
                    .app_info
                    .with_label_values(&[name, app.key.as_str(), app.version.as_str(), enabled])
                    .set(1);
                if !managed.is_some_and(|keys| keys.contains(&app.key)) {
                    unmanaged += 1;
                }
            }
            metrics.unmanaged.with_label_values(&[name]).set(unmanaged);
        }
        match &instance.result {
            Ok(plan) => {
                metrics.read_error.with_label_values(&[name]).set(0);
                metrics
                    .in_sync
                    .with_label_values(&[name])
                    .set(i64::from(plan.in_sync()));
                let mut pending: BTreeMap<Action, i64> =
                    ACTIONS.iter().map(|action| (*action, 0)).collect();
                for change in &plan.changes {
                    *pending.entry(change.action()).or_default() += 1;
                }
                for (action, count) in pending {
                    metrics
                        .changes
                        .with_label_values(&[name, action.name()])
                        .set(count);
                }
                metrics
                    .restarts
                    .with_label_values(&[name])
                    .set(i64::try_from(plan.pending_restart.len()).unwrap_or(i64::MAX));
            }
            // Not read or not planned: in sync is not claimed, and what is not known (the
            // changes, the restarts) has no series rather than a 0 that reads as "none".
            Err(_) => {
                metrics.read_error.with_label_values(&[name]).set(1);
                metrics.in_sync.with_label_values(&[name]).set(0);
            }
        }
    }
    metrics.encode()
}

/// The metrics of a run whose manifest could not be loaded: `upmsync_manifest_error 1` and no
/// instance's series, so no earlier "in sync" is left standing in the file.
///
/// # Errors
///
/// [`MetricsError::Encode`] when the crate refuses a metric (not expected: names are fixed).
pub fn render_manifest_error() -> Result<String, MetricsError> {
    let metrics = Metrics::new().map_err(MetricsError::Encode)?;
    metrics.manifest_error.set(1);
    metrics.encode()
}

/// Writes `text` to `path` atomically (a temporary file in the same folder renamed over it), so
/// node_exporter's textfile collector never reads half a file; readable by everyone (0644), since
/// the collector runs as another user and the metrics hold no secret.
///
/// # Errors
///
/// [`MetricsError::Write`] when the folder is missing or not writable.
pub fn write_file(path: &Path, text: &str) -> Result<(), MetricsError> {
    crate::files::write_readable(path, text.as_bytes()).map_err(|source| MetricsError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The metric families of one rendering, registered in a registry of their own.
struct Metrics {
    registry: Registry,
    manifest_error: IntGauge,
    in_sync: IntGaugeVec,
    read_error: IntGaugeVec,
    changes: IntGaugeVec,
    restarts: IntGaugeVec,
    unmanaged: IntGaugeVec,
    last_check: GaugeVec,
    duration: GaugeVec,
    app_info: IntGaugeVec,
}

impl Metrics {
    fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let instance = &["instance"];
        let metrics = Self {
            manifest_error: IntGauge::new(
                "upmsync_manifest_error",
                "1 when the manifest could not be loaded (then no instance has metrics), else 0.",
            )?,
            in_sync: IntGaugeVec::new(
                Opts::new(
                    "upmsync_instance_in_sync",
                    "1 when the instance matches the manifest (no change pending, no unmanaged app reported, no change waiting for a restart); 0 when it does not or could not be checked.",
                ),
                instance,
            )?,
            read_error: IntGaugeVec::new(
                Opts::new(
                    "upmsync_instance_read_error",
                    "1 when the last check could not read or plan the instance, else 0.",
                ),
                instance,
            )?,
            changes: IntGaugeVec::new(
                Opts::new(
                    "upmsync_changes_pending",
                    "Changes apply would make, by action; absent when the instance could not be checked.",
                ),
                &["instance", "action"],
            )?,
            restarts: IntGaugeVec::new(
                Opts::new(
                    "upmsync_restart_pending_apps",
                    "Apps whose last change waits for a product restart; absent when the instance could not be checked.",
                ),
                instance,
            )?,
            unmanaged: IntGaugeVec::new(
                Opts::new(
                    "upmsync_unmanaged_apps",
                    "User-installed apps the manifest does not name, whatever its unmanaged policy; absent when the instance could not be read.",
                ),
                instance,
            )?,
            last_check: GaugeVec::new(
                Opts::new(
                    "upmsync_last_check_timestamp_seconds",
                    "When the last check of the instance ended (successful or not), in seconds since the Unix epoch.",
                ),
                instance,
            )?,
            duration: GaugeVec::new(
                Opts::new(
                    "upmsync_check_duration_seconds",
                    "How long the last check took to read and plan the instance, in seconds.",
                ),
                instance,
            )?,
            app_info: IntGaugeVec::new(
                Opts::new(
                    "upmsync_app_info",
                    "A user-installed app as read from UPM (always 1); absent when the instance could not be read.",
                ),
                &["instance", "key", "version", "enabled"],
            )?,
            registry,
        };
        metrics
            .registry
            .register(Box::new(metrics.manifest_error.clone()))?;
        for family in [
            &metrics.in_sync,
            &metrics.read_error,
            &metrics.changes,
            &metrics.restarts,
            &metrics.unmanaged,
            &metrics.app_info,
        ] {
            metrics.registry.register(Box::new(family.clone()))?;
        }
        for family in [&metrics.last_check, &metrics.duration] {
            metrics.registry.register(Box::new(family.clone()))?;
        }
        Ok(metrics)
    }

    fn encode(&self) -> Result<String, MetricsError> {
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .map_err(MetricsError::Encode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Live, LiveApp, LiveLicense, Version};
    use crate::ops::InstanceError;
    use crate::plan::{PlanError, PlannedInstance};

    fn app(key: &str, user_installed: bool) -> LiveApp {
        LiveApp {
            key: AppKey::new(key),
            name: key.to_string(),
            version: Version::from_server("1.0"),
            enabled: true,
            user_installed,
            uninstallable: true,
            uses_licensing: false,
            license: LiveLicense::NotRead,
            restart: None,
        }
    }

    #[test]
    fn an_instance_read_but_not_planned_shows_what_was_read_and_claims_nothing_else() {
        let live = Live {
            apps: [app("com.user", true), app("com.bundled", false)]
                .into_iter()
                .map(|app| (app.key.clone(), app))
                .collect(),
            ..Live::default()
        };
        let url = url::Url::parse("https://jira.example.com/").unwrap();
        let check = Check {
            drift: Drift {
                instances: vec![PlannedInstance {
                    name: "jira".into(),
                    url,
                    live: Some(live),
                    result: Err(std::sync::Arc::new(InstanceError::Plan {
                        instance: "jira".into(),
                        errors: vec![PlanError::SystemApp {
                            key: AppKey::new("com.bundled"),
                        }],
                    })),
                }],
            },
            durations: vec![Duration::from_millis(1500)],
            finished: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            managed: BTreeMap::new(),
        };
        let text = render(&check, None).unwrap();
        let samples: Vec<&str> = text.lines().filter(|line| !line.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                r#"upmsync_app_info{enabled="true",instance="jira",key="com.user",version="1.0"} 1"#,
                r#"upmsync_check_duration_seconds{instance="jira"} 1.5"#,
                r#"upmsync_instance_in_sync{instance="jira"} 0"#,
                r#"upmsync_instance_read_error{instance="jira"} 1"#,
                r#"upmsync_last_check_timestamp_seconds{instance="jira"} 1700000000"#,
                "upmsync_manifest_error 0",
                r#"upmsync_unmanaged_apps{instance="jira"} 1"#,
            ]
        );
        // Every family has its HELP and TYPE lines.
        assert_eq!(text.matches("# HELP ").count(), 7, "{text}");
        assert_eq!(text.matches("# TYPE ").count(), 7, "{text}");
    }
}
