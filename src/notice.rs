//! Warnings a user must read, as values: the core never prints, it hands a [`Notice`] to the
//! [`Notices`] it was given, when it happens (a retry shows while apply waits, not at its end). The
//! command passes the printer as the observer, which prints `warning: <notice>`; tests pass a
//! collector or nothing. Each notice is also recorded for `-v` diagnostics (`tracing`). The same
//! handle carries [`Activity`]: what is under way (a change, a download, UPM's install task), for
//! the live progress of `apply` at a terminal.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Something a user must know about that does not stop the run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A read (GET, HEAD, the upm-token) is sent again after a failure.
    RetryingRead {
        /// The request, `METHOD url` (without credentials or token).
        call: String,
        /// The attempt that failed, from 1.
        attempt: u32,
        /// The wait before the next attempt.
        wait: Duration,
        /// The status or transport failure, in words.
        why: String,
    },
    /// A change the server said it did not process (429, 503 with `Retry-After`) is sent again.
    ResendingChange {
        /// The request, `METHOD url`.
        call: String,
        /// The attempt that was refused, from 1.
        attempt: u32,
        /// The wait before sending it again.
        wait: Duration,
        /// The status, e.g. `503 Service Unavailable`.
        status: String,
    },
    /// UPM refused the upm-token; a fresh one is fetched and the install sent again.
    UpmTokenRefreshed,
    /// `/requires-restart` could not be read; the plugin list's `restartState` is used instead.
    RestartReadFallback {
        /// Why it could not be read.
        error: String,
    },
    /// A cached artifact's sha256 no longer matches; it is removed and fetched again.
    DamagedCacheEntry {
        /// The cache file.
        path: PathBuf,
    },
    /// UPM is running install tasks started elsewhere; apply waits for them.
    WaitingForTasks {
        /// How many tasks are running.
        running: u64,
    },
    /// An app is installed but could not be enabled; enabling is tried again after later changes.
    EnableDeferred {
        /// The app's key.
        key: String,
    },
    /// Restoring an app by URI failed; the copy kept before the uninstall is uploaded instead.
    RestoreByUpload {
        /// The app's key.
        key: String,
        /// Why the URI install failed.
        error: String,
    },
    /// A change's answer was lost, but UPM's state shows the change was made.
    LostAnswerButDone {
        /// The error the request ended with.
        error: String,
    },
    /// An install's answer was lost; UPM's state is read to decide what happened.
    LostInstallAnswer {
        /// The app's key.
        key: String,
        /// The error the request ended with.
        error: String,
    },
    /// Ctrl-C and SIGTERM cannot be watched: they end the process the operating system's way.
    SignalsUnwatched {
        /// Why.
        error: String,
    },
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR` name files that could not be used: those parts are left
    /// out of the trusted roots (with none left, every TLS handshake fails).
    RootCertificatesSkipped {
        /// Each file or folder that could not be used, with why.
        errors: Vec<String>,
        /// How many root certificates are left.
        loaded: usize,
    },
    /// An instance's TLS certificate is not checked (`insecure_skip_tls_verify: true`).
    InsecureTls {
        /// The instance's name.
        instance: String,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RetryingRead {
                call,
                attempt,
                wait,
                why,
            } => write!(
                f,
                "retrying `{call}` in {} ms (attempt {attempt} failed: {why})",
                wait.as_millis()
            ),
            Self::ResendingChange {
                call,
                attempt,
                wait,
                status,
            } => write!(
                f,
                "the change `{call}` was not processed ({status}, attempt {attempt}); sending it again in {} ms, the wait the server asked for",
                wait.as_millis()
            ),
            Self::UpmTokenRefreshed => f.write_str(
                "UPM refused the upm-token (on a cluster another node may have answered); fetching a fresh one and sending the install again",
            ),
            Self::RestartReadFallback { error } => write!(
                f,
                "cannot read the changes waiting for a restart ({error}); relying on the plugin list's `restartState`"
            ),
            Self::DamagedCacheEntry { path } => write!(
                f,
                "the cached artifact `{}` is damaged; removing it and fetching it again",
                path.display()
            ),
            Self::WaitingForTasks { running } => write!(
                f,
                "waiting for {running} UPM install task(s) already running"
            ),
            Self::EnableDeferred { key } => write!(
                f,
                "`{key}` is installed but UPM could not enable it; trying again after this run's later changes"
            ),
            Self::RestoreByUpload { key, error } => write!(
                f,
                "restoring `{key}` by URI failed ({error}); uploading the copy kept before the uninstall, as planned"
            ),
            Self::LostAnswerButDone { error } => write!(
                f,
                "the answer was lost, but UPM shows the change was made: {error}"
            ),
            Self::LostInstallAnswer { key, error } => write!(
                f,
                "the answer to the install of `{key}` was lost ({error}); reading UPM's state to decide"
            ),
            Self::SignalsUnwatched { error } => write!(
                f,
                "cannot watch for Ctrl-C and SIGTERM ({error}); they stop the process at once"
            ),
            Self::RootCertificatesSkipped { errors, loaded } => write!(
                f,
                "SSL_CERT_FILE/SSL_CERT_DIR: {}; {loaded} root certificate(s) are trusted{}",
                errors.join("; "),
                if *loaded == 0 {
                    ", so every TLS handshake will fail"
                } else {
                    ""
                }
            ),
            Self::InsecureTls { instance } => write!(
                f,
                "TLS verification is off for instance `{instance}` (insecure_skip_tls_verify); anyone on the network path can read its credentials"
            ),
        }
    }
}

/// Something under way that a terminal may show as live progress (docs/terminal.md): not a
/// warning, and nothing a user must read. The printer draws it at a terminal, prints a plain line
/// for some of it elsewhere, and drops it with `--quiet`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Activity {
    /// A change of the plan starts (apply, not `--dry-run`).
    ChangeStarted {
        /// The change in one line, e.g. `upgrade com.x 1.0 -> 2.0`.
        change: String,
        /// Its position in the instance's plan, from 1.
        position: usize,
        /// How many changes the instance's plan has.
        total: usize,
    },
    /// upmsync downloads an artifact into its cache (to verify it, upload it or keep it for a
    /// restore): told when it starts (`done` 0) and as bytes arrive.
    Downloading {
        /// The URL, without credentials or query.
        url: String,
        /// Bytes received so far.
        done: u64,
        /// The size the server announced (`Content-Length`), in bytes, when it did.
        total: Option<u64>,
    },
    /// A download ended (kept in the cache, or failed: the failure is reported where it matters).
    Downloaded {
        /// The URL, as in [`Activity::Downloading`].
        url: String,
    },
    /// upmsync uploads an artifact (to UPM, or to the Marketplace by `publish`): told when it
    /// starts (`done` 0) and as bytes are read to be sent.
    Uploading {
        /// The file's name.
        file: String,
        /// Bytes handed to the connection so far.
        done: u64,
        /// The file's size, in bytes.
        total: u64,
    },
    /// An upload's body ended (sent whole, failed or abandoned).
    Uploaded {
        /// The file's name, as in [`Activity::Uploading`].
        file: String,
    },
    /// UPM's install task was polled and is not done yet (upm-rest-api.md §5.9).
    InstallTask {
        /// Its stage, from the task's `status.contentType`.
        stage: TaskStage,
        /// UPM's progress, 0 to 100, when the task reports one (`amountDownloaded` of
        /// `totalSize`).
        percent: Option<u8>,
    },
}

/// The stage of a UPM install task (upm-rest-api.md §5.9: the `install.downloading` and
/// `install.installing` content types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskStage {
    /// UPM downloads the app from its URI.
    Downloading,
    /// UPM installs the app.
    Installing,
    /// A stage this version does not know.
    Other,
}

impl fmt::Display for TaskStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Downloading => "downloading",
            Self::Installing => "installing",
            Self::Other => "working",
        })
    }
}

/// What receives notices as they happen (the printer, or a test's collector).
pub trait Observer: Send + Sync {
    /// Called once per notice, on the task where it happened; `instance` names the instance it is
    /// about, when it came from one instance's work ([`Notices::for_instance`]).
    fn notice(&self, instance: Option<&str>, notice: &Notice);

    /// Called as work goes on (live progress); ignored unless the observer shows progress.
    fn activity(&self, instance: Option<&str>, activity: &Activity) {
        let _ = (instance, activity);
    }
}

/// Where this run's notices go: a cheap handle, cloned into every client. The default sends them
/// nowhere (only to `tracing`).
#[derive(Clone, Default)]
pub struct Notices {
    observer: Option<Arc<dyn Observer>>,
    /// The keys of the notices given once per run ([`Notices::emit_once`]), shared by clones.
    given: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    /// The instance whose work these notices come from, if one ([`Notices::for_instance`]).
    instance: Option<Arc<str>>,
}

impl fmt::Debug for Notices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notices")
            .field("observed", &self.observer.is_some())
            .finish()
    }
}

impl Notices {
    /// Notices go to `observer`.
    pub fn to(observer: Arc<dyn Observer>) -> Self {
        Self {
            observer: Some(observer),
            given: Arc::default(),
            instance: None,
        }
    }

    /// The same notices, each marked as coming from `instance`'s work: when instances run side
    /// by side, a warning says which one it is about.
    pub fn for_instance(&self, instance: &str) -> Self {
        Self {
            instance: Some(Arc::from(instance)),
            ..self.clone()
        }
    }

    /// Like [`Notices::emit`], but only the first time in this run (these notices and their
    /// clones) that `key` is given: a warning about the manifest, say, shown once per instance.
    pub fn emit_once(&self, key: &str, notice: Notice) {
        let first = self
            .given
            .lock()
            .map_or(true, |mut given| given.insert(key.to_string()));
        if first {
            self.emit(notice);
        }
    }

    /// Hands `notice` to the observer, and records it for `-v` diagnostics.
    pub fn emit(&self, notice: Notice) {
        tracing::info!(instance = self.instance.as_deref(), ?notice, "notice");
        if let Some(observer) = &self.observer {
            observer.notice(self.instance.as_deref(), &notice);
        }
    }
}

impl Notices {
    /// Hands `activity` to the observer (live progress; nothing is recorded for `-v` but the
    /// start of a change).
    pub fn activity(&self, activity: Activity) {
        if let Activity::ChangeStarted { change, .. } = &activity {
            tracing::debug!(instance = self.instance.as_deref(), %change, "change started");
        }
        if let Some(observer) = &self.observer {
            observer.activity(self.instance.as_deref(), &activity);
        }
    }
}

/// Collects notices in memory (tests).
#[derive(Debug, Default)]
pub struct Collected(pub std::sync::Mutex<Vec<Notice>>);

impl Observer for Collected {
    fn notice(&self, _instance: Option<&str>, notice: &Notice) {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(notice.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_reach_the_observer_in_order_and_read_as_warnings() {
        let collected = Arc::new(Collected::default());
        let notices = Notices::to(collected.clone());
        notices.emit(Notice::UpmTokenRefreshed);
        notices.emit(Notice::RetryingRead {
            call: "GET https://jira/rest/plugins/1.0/".into(),
            attempt: 1,
            wait: Duration::from_millis(250),
            why: "503 Service Unavailable".into(),
        });
        let seen = collected.0.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], Notice::UpmTokenRefreshed);
        assert_eq!(
            seen[1].to_string(),
            "retrying `GET https://jira/rest/plugins/1.0/` in 250 ms (attempt 1 failed: 503 Service Unavailable)"
        );
        // Without an observer a notice goes only to `tracing`.
        Notices::default().emit(Notice::UpmTokenRefreshed);
    }
}
