//! Installing: the install POST (by URI or upload), the legacy pending task UPM answers it with
//! (upm-rest-api.md §5.7-§5.9), and where the task's links may lead.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use url::Url;

use super::client::UpmClient;
use super::diagnose::{install_refusal, is_download_failure};
use super::error::UpmError;
use super::session::Outgoing;
use super::wire::{self, media};
use crate::http::body::collapse;
use crate::http::Call;
use crate::model::{redact_url, AppKey, LiveApp, Secret};

impl UpmClient {
    /// Installs an artifact (by URI or upload), waits for UPM's task to finish, and returns the
    /// plugin as UPM then reports it. The caller checks the version: UPM silently keeps a newer
    /// installed version when given an older one (§5.6), and a change that waits for a restart
    /// keeps the old version with `restartState` set (§5.1).
    ///
    /// A refused upm-token (403 `upm.error.invalid.token`: the install was not processed) is
    /// fetched again once and the install sent again (§5.2: UPM's own UI does the same). When the
    /// finished task names another app than `key` (its 303 points at the plugin it installed),
    /// the error is [`UpmError::WrongApp`] with the real key.
    pub async fn install(&self, key: &AppKey, from: InstallFrom<'_>) -> Result<LiveApp, UpmError> {
        self.install_with_token(key, from, None).await
    }

    /// [`UpmClient::install`] with a upm-token fetched beforehand ([`UpmClient::token`]), so the
    /// caller can fetch it while it does something else (checking the app): one round trip less
    /// before the install starts. `None` fetches one. A token UPM refuses is replaced as for
    /// [`UpmClient::install`].
    pub async fn install_with_token(
        &self,
        key: &AppKey,
        from: InstallFrom<'_>,
        token: Option<Secret>,
    ) -> Result<LiveApp, UpmError> {
        self.install_beside(key, from, token, std::future::ready(()))
            .await
            .0
    }

    /// [`UpmClient::install_with_token`], running `beside` while the installed app is read back
    /// (once the task has finished), so a caller can read what it needs next in the same round
    /// trip. Its output is `None` when the install failed before the read-back (`beside` never
    /// ran).
    pub async fn install_beside<F: std::future::Future>(
        &self,
        key: &AppKey,
        from: InstallFrom<'_>,
        token: Option<Secret>,
        beside: F,
    ) -> (Result<LiveApp, UpmError>, Option<F::Output>) {
        if let Err(error) = self.install_task(key, from, token).await {
            return (Err(error), None);
        }
        let (installed, beside) = tokio::join!(self.plugin(key), beside);
        let installed = installed.and_then(|installed| {
            installed.ok_or_else(|| UpmError::MissingAfterInstall { key: key.clone() })
        });
        (installed, Some(beside))
    }

    /// The install POST and its task, up to the task's end (see [`UpmClient::install`]).
    async fn install_task(
        &self,
        key: &AppKey,
        from: InstallFrom<'_>,
        token: Option<Secret>,
    ) -> Result<(), UpmError> {
        let mut fresh_token = false;
        let mut fetched = token;
        let answer = loop {
            let token = match fetched.take() {
                Some(token) => token,
                None => self.token().await?,
            };
            let mut url = self.api.clone();
            url.query_pairs_mut().append_pair("token", token.expose());
            let call = Call::new(Method::POST, url);
            let answer = self
                .send_change(|| self.install_request(call.clone(), from))
                .await?;
            if answer.status() == StatusCode::ACCEPTED {
                break answer;
            }
            let error = install_refusal(answer.into_error().await, from);
            match error {
                UpmError::InvalidToken { .. } if !fresh_token => {
                    self.settings
                        .notices
                        .emit(crate::notice::Notice::UpmTokenRefreshed);
                    fresh_token = true;
                }
                error => return Err(error),
            }
        };
        let task_url = self.task_url(answer.response.headers(), None)?;
        let call = answer.call.clone();
        let task: wire::PendingTask = answer.json().await?;
        let task_url = match task_url {
            Some(found) => found,
            None => self
                .task_url(&HeaderMap::new(), task.links.self_link.as_deref())?
                .ok_or_else(|| UpmError::Decode {
                    call,
                    reason: "a 202 without a `Location` header or task link".into(),
                })?,
        };
        let installed_key = match (self.wait_for_task(&task_url, task.ping_after).await, from) {
            (Ok(installed_key), _) => installed_key,
            (
                Err(UpmError::TaskFailed {
                    url,
                    message,
                    sub_code,
                }),
                InstallFrom::Uri(artifact),
            ) if sub_code.as_deref().is_some_and(is_download_failure) => {
                return Err(UpmError::DownloadFailed {
                    url,
                    artifact: redact_url(artifact),
                    host: artifact.host_str().unwrap_or_default().to_string(),
                    message,
                });
            }
            (Err(error), _) => return Err(error),
        };
        if let Some(found) = installed_key.filter(|found| found != key) {
            let version = self.plugin(&found).await.ok().flatten();
            return Err(UpmError::WrongApp {
                wanted: key.clone(),
                found,
                version: version.map(|app| app.version.to_string()),
            });
        }
        Ok(())
    }

    /// The install POST: JSON for install by URI (§5.8), multipart for uploads (§5.7).
    async fn install_request(
        &self,
        call: Call,
        from: InstallFrom<'_>,
    ) -> Result<Outgoing, UpmError> {
        let request = self.request(call, "application/json");
        Ok(match from {
            InstallFrom::Uri(plugin_uri) => {
                let body = serde_json::to_vec(&wire::InstallUri {
                    plugin_uri: plugin_uri.as_str(),
                })
                .unwrap_or_default();
                request.with(|builder| builder.header(CONTENT_TYPE, media::INSTALL_URI).body(body))
            }
            InstallFrom::Upload(path) => {
                let part = upload_part(path, &self.settings.notices).await?;
                let form = reqwest::multipart::Form::new().part("plugin", part);
                let timeout = self.settings.transfer_timeout;
                request.with(|builder| builder.timeout(timeout).multipart(form))
            }
        })
    }

    /// Polls a legacy pending task (§5.9) until it redirects (303, done) or reports an error.
    /// Returns the key of the plugin the task installed, from the 303's `Location`
    /// (`…/{key}-key`), when it names one.
    ///
    /// Polls are `pingAfter` apart (§5.9: milliseconds, default 100), counted from when the last
    /// one was sent (the first from the install's answer), so a slow network does not add its
    /// round trip to every wait: a finished task is seen at most `pingAfter` plus one round trip
    /// later.
    async fn wait_for_task(
        &self,
        task_url: &Url,
        ping_after: Option<u64>,
    ) -> Result<Option<AppKey>, UpmError> {
        let started = Instant::now();
        let mut delay = ping_delay(ping_after);
        let mut sent = tokio::time::Instant::now();
        loop {
            tokio::time::sleep_until(sent + delay).await;
            sent = tokio::time::Instant::now();
            let answer = self
                .send(self.request(Call::get(task_url.clone()), "*/*"))
                .await?;
            match answer.status() {
                StatusCode::SEE_OTHER => {
                    return Ok(answer
                        .response
                        .headers()
                        .get(LOCATION)
                        .and_then(|value| value.to_str().ok())
                        .and_then(plugin_key_of_link));
                }
                status if status.is_success() => {
                    let task: wire::PendingTask = answer.json().await?;
                    if let Some(message) = task_failure(&task.status) {
                        return Err(UpmError::TaskFailed {
                            url: redact_url(task_url),
                            message,
                            sub_code: task.status.sub_code.clone(),
                        });
                    }
                    if task.status.done {
                        // Done without an error and without the 303: treat as success, the
                        // read-back decides.
                        return Ok(None);
                    }
                    // Live progress at a terminal (docs/terminal.md).
                    self.settings
                        .notices
                        .activity(crate::notice::Activity::InstallTask {
                            stage: task.status.stage(),
                            percent: task.status.percent(),
                        });
                    delay = ping_delay(task.ping_after);
                }
                _ => return Err(answer.into_error().await),
            }
            if started.elapsed() > self.settings.task_timeout {
                return Err(UpmError::TaskTimeout {
                    url: redact_url(task_url),
                    timeout: self.settings.task_timeout,
                });
            }
        }
    }

    /// The URL of a task, from the `Location` header, else the body's relative `links.self`.
    ///
    /// UPM builds both from the product's configured base URL (upm-rest-api.md §1), which need not
    /// be the `url` the manifest reaches the instance by (a node addressed directly, an internal
    /// name, a proxy that maps another context path). So the link is followed by its path under
    /// UPM's REST root (`rest/plugins/…`), joined to the instance's own URL: credentials never go
    /// to another host. A link with no such path is refused.
    fn task_url(
        &self,
        headers: &HeaderMap,
        self_link: Option<&str>,
    ) -> Result<Option<Url>, UpmError> {
        let candidate = headers
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .or(self_link);
        let Some(candidate) = candidate else {
            return Ok(None);
        };
        let Ok(link) = self.api.join(candidate) else {
            return Ok(None);
        };
        let path = link.path();
        if let Some(index) = path.find("/rest/plugins/") {
            let mut url =
                self.base
                    .join(&path[index + 1..])
                    .map_err(|_| UpmError::ForeignTaskLink {
                        url: redact_url(&link),
                    })?;
            url.set_query(link.query());
            if url != link {
                tracing::debug!(link = %redact_url(&link), followed = %redact_url(&url), "following UPM's task link under the instance's own URL");
            }
            return Ok(Some(url));
        }
        if link.origin() != self.api.origin() {
            return Err(UpmError::ForeignTaskLink {
                url: redact_url(&link),
            });
        }
        Ok(Some(link))
    }
}

/// The key in a plugin link `…/rest/plugins/1.0/{key}-key` (§1: percent-encoded, `-key` suffix).
pub(super) fn plugin_key_of_link(link: &str) -> Option<AppKey> {
    let path = link.split(['?', '#']).next()?;
    let segment = path.trim_end_matches('/').rsplit('/').next()?;
    let decoded = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()?;
    let key = decoded.strip_suffix("-key")?;
    (!key.is_empty()).then(|| AppKey::new(key))
}

/// Where an install comes from, as UPM takes it.
#[derive(Clone, Copy, Debug)]
pub enum InstallFrom<'a> {
    /// UPM downloads the URL (install by URI).
    Uri(&'a Url),
    /// upmsync uploads the file.
    Upload(&'a Path),
}

pub(super) fn ping_delay(ping_after: Option<u64>) -> Duration {
    Duration::from_millis(ping_after.unwrap_or(100).clamp(50, 5_000))
}

/// The error a finished task reports, if it failed (§5.9: an `…err+json` content type with a
/// `subCode` or an `errorMessage`).
pub(super) fn task_failure(status: &wire::TaskStatus) -> Option<String> {
    let is_error = status.content_type.as_deref() == Some(media::TASK_INSTALL_ERROR)
        || status.sub_code.is_some()
        || status.error_message.is_some();
    if !is_error {
        return None;
    }
    Some(match (&status.error_message, &status.sub_code) {
        (Some(message), Some(code)) => format!("{} ({})", collapse(message), collapse(code)),
        (Some(message), None) => collapse(message),
        (None, Some(code)) => collapse(code),
        (None, None) => "UPM reported an error without a message".to_string(),
    })
}

async fn upload_part(
    path: &Path,
    notices: &crate::notice::Notices,
) -> Result<reqwest::multipart::Part, UpmError> {
    let read_error = |source| UpmError::ReadArtifact {
        path: path.to_path_buf(),
        source,
    };
    let file = tokio::fs::File::open(path).await.map_err(read_error)?;
    let length = file.metadata().await.map_err(read_error)?.len();
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin.jar".into());
    // Streamed from disk, never held whole in memory, with live progress at a terminal.
    let body = crate::http::upload::file_body(file, length, &name, notices);
    Ok(reqwest::multipart::Part::stream_with_length(body, length).file_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_failure_reads_error_tasks() {
        let failed = wire::TaskStatus {
            done: true,
            content_type: Some(media::TASK_INSTALL_ERROR.into()),
            sub_code: Some("upm.pluginInstall.error.install.failed".into()),
            error_message: None,
            amount_downloaded: None,
            total_size: None,
        };
        assert_eq!(
            task_failure(&failed).as_deref(),
            Some("upm.pluginInstall.error.install.failed")
        );
        let running = wire::TaskStatus {
            done: false,
            content_type: Some("application/vnd.atl.plugins.install.installing+json".into()),
            sub_code: None,
            error_message: None,
            amount_downloaded: None,
            total_size: None,
        };
        assert_eq!(task_failure(&running), None);
    }

    fn client(url: &str) -> UpmClient {
        super::super::test_client(url)
    }

    #[test]
    fn task_links_are_followed_by_their_path_under_the_instance_url() {
        let upm = client("http://node1.internal:8080/jira/");
        let mut headers = HeaderMap::new();
        // UPM built the link from the configured base URL: another host, and a proxy that maps
        // the product to the root.
        headers.insert(
            LOCATION,
            "https://jira.example.com/rest/plugins/1.0/pending/42?x=1"
                .parse()
                .unwrap(),
        );
        let url = upm.task_url(&headers, None).unwrap().unwrap();
        assert_eq!(
            url.as_str(),
            "http://node1.internal:8080/jira/rest/plugins/1.0/pending/42?x=1"
        );
        let relative = upm
            .task_url(&HeaderMap::new(), Some("/jira/rest/plugins/1.0/pending/7"))
            .unwrap()
            .unwrap();
        assert_eq!(
            relative.as_str(),
            "http://node1.internal:8080/jira/rest/plugins/1.0/pending/7"
        );
        let mut foreign = HeaderMap::new();
        foreign.insert(LOCATION, "https://evil.example/steal".parse().unwrap());
        assert!(matches!(
            upm.task_url(&foreign, None),
            Err(UpmError::ForeignTaskLink { .. })
        ));
    }

    #[test]
    fn plugin_keys_are_read_from_links() {
        assert_eq!(
            plugin_key_of_link("http://h/jira/rest/plugins/1.0/com.a.b%20c-key"),
            Some(AppKey::new("com.a.b c"))
        );
        assert_eq!(
            plugin_key_of_link("/rest/plugins/1.0/x-key-key/"),
            Some(AppKey::new("x-key"))
        );
        assert_eq!(plugin_key_of_link("/rest/plugins/1.0/pending/1"), None);
    }
}
