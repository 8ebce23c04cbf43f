//! UPM's JSON bodies and media types, as `/rest/plugins/1.0/` sends and takes them (upm-rest-api.md §3-§5).
//! Tolerant of new fields: UPM versions differ.

use serde::{Deserialize, Serialize};

/// Media types from UPM's `MediaTypes.java` (upm-rest-api.md §3).
pub mod media {
    pub const INSTALLED: &str = "application/vnd.atl.plugins.installed+json";
    pub const PLUGIN: &str = "application/vnd.atl.plugins.plugin+json";
    pub const INSTALL_URI: &str = "application/vnd.atl.plugins.install.uri+json";
    pub const GENERIC: &str = "application/vnd.atl.plugins+json";
    pub const TASK_INSTALL_ERROR: &str = "application/vnd.atl.plugins.task.install.err+json";
    pub const SAFE_MODE: &str = "application/vnd.atl.plugins.safe.mode.flag+json";
    pub const CHANGES_REQUIRING_RESTART: &str =
        "application/vnd.atl.plugins.changes.requiring.restart+json";
}

/// `GET /rest/plugins/1.0/`.
#[derive(Debug, Deserialize)]
pub struct PluginCollection {
    #[serde(default)]
    pub plugins: Vec<PluginSummary>,
    /// The collection's links (§5.1): `exit-safe-mode-restore`/`exit-safe-mode-keep` while UPM is
    /// in safe mode, `pending-tasks` while an install task runs. Values are not read.
    #[serde(default)]
    pub links: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
}

impl PluginCollection {
    /// Whether the links say UPM is in safe mode (§5.1: the exit links replace `enter-safe-mode`).
    pub fn safe_mode(&self) -> bool {
        self.links.contains_key("exit-safe-mode-restore")
            || self.links.contains_key("exit-safe-mode-keep")
    }

    /// Whether the links say an install task is running (§5.1: `pending-tasks` only then).
    pub fn task_running(&self) -> bool {
        self.links.contains_key("pending-tasks")
    }
}

/// One item of the plugin list, or the body of `GET /{key}-key` (the extra fields are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSummary {
    pub key: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub user_installed: bool,
    /// Absent on some UPM versions (upm-rest-api.md §9); read as uninstallable when the app is user-installed.
    #[serde(default)]
    pub uninstallable: Option<bool>,
    #[serde(default)]
    pub uses_licensing: bool,
    /// `install`, `upgrade` or `remove` while a change waits for a product restart; absent otherwise (§5.1).
    #[serde(default)]
    pub restart_state: Option<String>,
}

/// `GET /requires-restart` (§1): `{"links": {...}, "changes": [{"key", "name", "action", "links"}]}`,
/// as UPM's `ChangesRequiringRestartRepresentation` writes it.
#[derive(Debug, Default, Deserialize)]
pub struct ChangesRequiringRestart {
    #[serde(default)]
    pub changes: Vec<ChangeRequiringRestart>,
}

#[derive(Debug, Deserialize)]
pub struct ChangeRequiringRestart {
    pub key: String,
    #[serde(default)]
    pub action: Option<String>,
}

/// `GET /{key}-key/license`. Only the raw text is read; the rest is ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginLicense {
    #[serde(default)]
    pub raw_license: Option<String>,
}

/// `GET /installed-marketplace` (§5.11): per Marketplace app, its key and its license. Only
/// `licenseDetails.rawLicense` is read; the rest is ignored. A body without `plugins` covers no app.
#[derive(Deserialize)]
pub struct InstalledMarketplace {
    #[serde(default)]
    pub plugins: Vec<InstalledMarketplaceApp>,
}

/// One app of [`InstalledMarketplace`]: `licenseDetails` is the license representation of
/// `GET /{key}-key/license` (§5.10), absent when UPM tells nothing of the app's license.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledMarketplaceApp {
    pub key: String,
    #[serde(default)]
    pub license_details: Option<PluginLicense>,
}

/// `PUT /{key}-key/license` body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LicenseUpdate<'a> {
    pub raw_license: &'a str,
}

/// `PUT /{key}-key` body: only `enabled` is read by UPM (§5.4).
#[derive(Serialize)]
pub struct EnabledUpdate {
    pub enabled: bool,
}

/// `POST /?token=` install-by-URI body (§5.8).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallUri<'a> {
    pub plugin_uri: &'a str,
}

/// The legacy pending-task representation (§5.9), answered by the install POST (202) and by
/// `GET /pending/{id}` while running or after a failure.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTask {
    #[serde(default)]
    pub ping_after: Option<u64>,
    pub status: TaskStatus,
    #[serde(default)]
    pub links: TaskLinks,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub sub_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    /// Progress so far, out of `total_size` (§5.9: progress × 100 of 100); any JSON number.
    #[serde(default)]
    pub amount_downloaded: Option<serde_json::Value>,
    /// What `amount_downloaded` counts toward (§5.9: 100).
    #[serde(default)]
    pub total_size: Option<serde_json::Value>,
}

impl TaskStatus {
    /// The stage of a running task, from its content type (§5.9).
    pub fn stage(&self) -> crate::notice::TaskStage {
        use crate::notice::TaskStage;
        match self.content_type.as_deref() {
            Some(kind) if kind.contains("install.downloading") => TaskStage::Downloading,
            Some(kind) if kind.contains("install.installing") => TaskStage::Installing,
            _ => TaskStage::Other,
        }
    }

    /// The task's progress in percent, when it reports one that makes sense.
    pub fn percent(&self) -> Option<u8> {
        let done = self.amount_downloaded.as_ref()?.as_f64()?;
        let total = self
            .total_size
            .as_ref()
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(100.0);
        if !(total > 0.0 && done >= 0.0 && done <= total) {
            return None;
        }
        // In 0..=100 by the check above.
        Some((done / total * 100.0).round() as u8)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct TaskLinks {
    #[serde(rename = "self", default)]
    pub self_link: Option<String>,
}

/// UPM's error body `{"errorMessage"?, "subCode"?}` (§4).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub sub_code: Option<String>,
}

/// Jira `serverInfo`, Bitbucket `application-properties` or the applinks manifest (§7): all have
/// `version` and `buildNumber`, a number in some and a string in others.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductInfo {
    pub version: String,
    pub build_number: BuildNumber,
    /// Jira `serverInfo.baseUrl`; the applinks manifest calls it `url`; Bitbucket's
    /// application-properties has none.
    #[serde(default, alias = "url")]
    pub base_url: Option<String>,
    /// The applinks manifest's `typeId` (§7: `jira`, `confluence`, `stash` for Bitbucket,
    /// `bamboo`, …); the products' own endpoints have none.
    #[serde(default)]
    pub type_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum BuildNumber {
    Number(u64),
    Text(String),
}

impl BuildNumber {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            BuildNumber::Number(number) => Some(*number),
            BuildNumber::Text(text) => text.trim().parse().ok(),
        }
    }

    pub fn text(&self) -> String {
        match self {
            BuildNumber::Number(number) => number.to_string(),
            BuildNumber::Text(text) => format!("`{text}`"),
        }
    }
}

/// `GET /pending` (§5.9): the ongoing tasks.
#[derive(Debug, Deserialize)]
pub struct PendingTasks {
    #[serde(default)]
    pub tasks: Vec<serde_json::Value>,
}

/// `GET /safe-mode` (§5.12).
#[derive(Debug, Deserialize)]
pub struct SafeMode {
    #[serde(default)]
    pub enabled: bool,
}

/// Removes UPM's `<textarea>` wrapping, which it adds to install responses when `Accept` contains
/// `text/html` or `*` (§5.7). Harmless on plain JSON.
pub fn strip_textarea(body: &str) -> &str {
    let trimmed = body.trim();
    trimmed
        .strip_prefix("<textarea>")
        .and_then(|rest| rest.strip_suffix("</textarea>"))
        .unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_task_tells_its_stage_and_progress() {
        let task: PendingTask = serde_json::from_str(
            r#"{"pingAfter":100,"status":{"done":false,"contentType":"application/vnd.atl.plugins.install.downloading+json","amountDownloaded":25,"totalSize":100}}"#,
        )
        .unwrap();
        assert_eq!(task.status.stage(), crate::notice::TaskStage::Downloading);
        assert_eq!(task.status.percent(), Some(25));
        let odd: TaskStatus = serde_json::from_str(
            r#"{"contentType":"application/vnd.atl.plugins.install.installing+json","amountDownloaded":"x"}"#,
        )
        .unwrap();
        assert_eq!(odd.stage(), crate::notice::TaskStage::Installing);
        assert_eq!(odd.percent(), None);
        let over: TaskStatus =
            serde_json::from_str(r#"{"amountDownloaded":150,"totalSize":100}"#).unwrap();
        assert_eq!(over.percent(), None);
    }

    #[test]
    fn reads_the_real_202_upload_body() {
        let body = include_str!(
            "../../tests/fixtures/upm/pending-task-upload-202-confluence-8.textarea.txt"
        );
        let task: PendingTask = serde_json::from_str(strip_textarea(body)).unwrap();
        assert!(!task.status.done);
        assert_eq!(task.ping_after, Some(100));
        assert_eq!(
            task.links.self_link.as_deref(),
            Some("/rest/plugins/1.0/pending/52227753-1c3e-496f-a4f4-d52a8b3850dc")
        );
    }

    #[test]
    fn reads_the_real_cloud_pending_body() {
        let body = include_str!(
            "../../tests/fixtures/upm/pending-task-install-uri-downloading-confluence-cloud.json"
        );
        let task: PendingTask = serde_json::from_str(strip_textarea(body)).unwrap();
        assert_eq!(task.ping_after, Some(300));
        assert_eq!(
            task.status.content_type.as_deref(),
            Some("application/vnd.atl.plugins.install.downloading+json")
        );
    }

    /// The real Jira 9.12.15 `serverInfo` body (marketplace-api.md §12, byte for byte the
    /// reference's `marketplace-samples/jira-serverinfo-issues.redhat.com.json`).
    #[test]
    fn reads_the_real_jira_server_info() {
        let body =
            include_str!("../../tests/fixtures/marketplace/jira-serverinfo-issues.redhat.com.json");
        let info: ProductInfo = serde_json::from_str(body).unwrap();
        assert_eq!(
            (info.version.as_str(), info.build_number.as_u64()),
            ("9.12.15", Some(9120015))
        );
        assert_eq!(info.base_url.as_deref(), Some("https://issues.redhat.com"));
    }

    /// The real Bitbucket 9.4.22 `application-properties` body, verbatim from marketplace-api.md
    /// §12 (source BB-CAP, a capture of a live 9.4.22): `buildNumber` and `buildDate` are strings.
    #[test]
    fn reads_the_real_bitbucket_application_properties_with_a_string_build_number() {
        let body = include_str!(
            "../../tests/fixtures/marketplace/bitbucket-application-properties-9.4.22.json"
        );
        let info: ProductInfo = serde_json::from_str(body).unwrap();
        assert_eq!(
            (info.version.as_str(), info.build_number.as_u64()),
            ("9.4.22", Some(9004022))
        );
        assert_eq!(info.base_url, None);
        // Bitbucket 4.8.5 reports `"4008005"` the same way (§12, source BB-PERL).
        let old: ProductInfo =
            serde_json::from_str(r#"{"version":"4.8.5","buildNumber":"4008005"}"#).unwrap();
        assert_eq!(old.build_number.as_u64(), Some(4008005));
    }

    /// The applinks manifest is how Confluence and Bamboo report their version (and every
    /// product's fallback). The reference holds no real body of it, only its fields from
    /// applinks 9.1.4's `ManifestEntity` (upm-rest-api.md §7: `buildNumber` a long, the base URL
    /// as `url`); this is a body with exactly those fields, as Confluence and Bamboo would send it.
    #[test]
    fn reads_an_applinks_manifest_of_confluence_and_bamboo() {
        for (type_id, version, build) in [("confluence", "9.2.0", 9208), ("bamboo", "9.6.0", 90611)]
        {
            let body = format!(
                r#"{{"id":"4f1c2d3e-0000-4000-8000-5e4d6c7b8a91","name":"{type_id}","typeId":"{type_id}","version":"{version}","buildNumber":{build},"applinksVersion":"9.1.4","inboundAuthenticationTypes":["com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider"],"outboundAuthenticationTypes":["com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider"],"publicSignup":false,"url":"https://{type_id}.example.com/wiki","iconUrl":"https://{type_id}.example.com/wiki/images/icon.png","iconUri":"https://{type_id}.example.com/wiki/images/icon.png"}}"#
            );
            let info: ProductInfo = serde_json::from_str(&body).unwrap();
            assert_eq!(
                (info.version.as_str(), info.build_number.as_u64()),
                (version, Some(build))
            );
            assert_eq!(
                info.base_url,
                Some(format!("https://{type_id}.example.com/wiki"))
            );
            assert_eq!(info.type_id.as_deref(), Some(type_id));
        }
    }

    #[test]
    fn strip_textarea_leaves_plain_json() {
        assert_eq!(strip_textarea(" {\"a\":1} "), "{\"a\":1}");
        assert_eq!(strip_textarea("<textarea>{}</textarea>\n"), "{}");
    }
}
