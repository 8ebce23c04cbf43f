//! The download cache: fetches artifacts (Marketplace binaries and `url` sources) once, streamed to
//! disk while hashing, and keeps them by sha256 (marketplace-api.md §6, §13).
//!
//! Layout under the cache directory:
//!
//! ```text
//! sha256/<hex>.jar|.obr   the artifacts, named by the sha256 of their content
//! urls/<sha256 of url>    the content sha256 a URL gave last time (the URL itself is not stored)
//! tmp/                    downloads in progress; renamed into sha256/ only when complete and checked
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::StatusCode;
use sha2::{Digest, Sha256 as Sha256Hasher};
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::artifact;
use crate::http::body::excerpt;
use crate::http::{Call, HttpError, HttpSettings, Profile, TransportFailure};
use crate::model::{redact_url, Sha256};
use crate::notice::Activity;
/// guess: no plugin artifact comes near this; it keeps a misbehaving server from filling the disk.
const MAX_DOWNLOAD_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// How many downloads one process runs at once, over every instance applied in parallel: each
/// holds a connection and a file open, and the servers are other people's.
pub const DOWNLOADS_IN_FLIGHT: usize = 8;

/// How many artifacts one process hashes and opens at once, over every instance applied in
/// parallel: the work of a CPU and a disk, and up to
/// [`crate::artifact::NESTED_JAR_IN_MEMORY_BYTES`] of memory each.
pub const VERIFICATIONS_IN_FLIGHT: usize = 4;

/// Why an artifact could not be downloaded into the cache. URLs are shown without credentials
/// or query string ([`redact_url`]).
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("cannot use the download cache at `{}`", path.display())]
    Cache {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the download cache at `{}` is not safe to trust: {reason}", path.display())]
    Untrusted { path: PathBuf, reason: String },
    #[error("no download cache folder: the user has no cache folder (on Linux: neither `XDG_CACHE_HOME` nor `HOME` is set and the user has no home directory)")]
    NoDefault,
    /// The client for downloads could not be built (a bad proxy).
    #[error(transparent)]
    Client(#[from] HttpError),
    #[error("{call} failed: {failure}")]
    Request {
        call: Call,
        failure: TransportFailure,
    },
    #[error("GET {url} answered {status}: {body}")]
    Status {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("GET {url} sent more than {} MiB", limit / (1024 * 1024))]
    TooLarge { url: String, limit: u64 },
    #[error("cannot store the download of {url} at `{}`", path.display())]
    Write {
        url: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the download of {url} has sha256 `{found}`, expected `{expected}`")]
    Sha256Mismatch {
        url: String,
        expected: Sha256,
        found: Sha256,
    },
}

impl DownloadError {
    /// What the user can do about this error, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            DownloadError::Cache { .. } => "check its permissions, or choose another one with `--cache-dir`".into(),
            DownloadError::Untrusted { .. } => "the cache must be a folder of the user running upmsync that no one else can write to; fix its owner or permissions (`chmod 700`), or choose another one with `--cache-dir`".into(),
            DownloadError::NoDefault => "choose one with `--cache-dir` (or `UPMSYNC_CACHE_DIR`); upmsync does not fall back to a shared folder such as /tmp".into(),
            DownloadError::Request { failure, .. } => return failure.hint(),
            DownloadError::Status { status, .. } => match status.as_u16() {
                404 | 410 => "check that this version exists and that the URL is right".into(),
                401 | 403 => "upmsync downloads anonymously and this artifact is not public; download it yourself and give the app a `path` source".into(),
                429 | 500..=599 => "the server is busy or failing; try again later".into(),
                _ => return None,
            },
            DownloadError::TooLarge { .. } => "this is not a plugin artifact; check the URL".into(),
            DownloadError::Write { .. } => "check free space and permissions of the cache directory (`--cache-dir`)".into(),
            DownloadError::Sha256Mismatch { .. } => "the artifact changed or the pinned sha256 is wrong; check the source before changing `sha256:` (or run `upmsync lock --update`)".into(),
            DownloadError::Client(_) => return None,
        })
    }
}

/// A file in the cache whose content has the sha256 `sha256`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedFile {
    pub path: PathBuf,
    pub sha256: Sha256,
}

/// The download cache.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
    http: reqwest::Client,
    /// The settings' retry bounds, notices and caps on requests in flight (`--max-requests-per-host`).
    settings: HttpSettings,
    /// How long reading an error body may take.
    deadline: std::time::Duration,
    /// Downloads under way, at most [`DOWNLOADS_IN_FLIGHT`], shared by the clones of this cache.
    downloads: Arc<tokio::sync::Semaphore>,
    /// Verifications under way, at most [`VERIFICATIONS_IN_FLIGHT`], shared likewise.
    verifications: Arc<tokio::sync::Semaphore>,
    /// One lock per URL being fetched (by the URL's index name), so that instances applied in
    /// parallel that need one artifact download it once: the later ones find it cached.
    fetching: Arc<std::sync::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Cache {
    /// Opens the cache in `dir`, creating it (and its sub-folders) if needed, owner-only (0700).
    /// The folder and its sub-folders must be real folders (no symlinks) of the user running
    /// upmsync that no one else can write to: whoever can write there chooses what is installed
    /// when no sha256 is pinned.
    ///
    /// Downloads use a client built by [`crate::http::client`] from `settings` (anonymous, through
    /// redirects, with the transfer timeout), and retry like the other reads.
    pub fn new(dir: impl Into<PathBuf>, settings: &HttpSettings) -> Result<Self, DownloadError> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        for sub in ["sha256", "urls", "tmp", "locks"] {
            create_private_dir(&dir.join(sub))?;
        }
        // Anonymous (marketplace-api.md §6): no credentials are ever configured on this client, so
        // none can follow a redirect. Redirects are followed (the Marketplace sends files via a CDN).
        let http = crate::http::client(settings, Profile::Download)?;
        Ok(Self {
            dir,
            http,
            settings: settings.clone(),
            deadline: settings.request_timeout,
            downloads: Arc::new(tokio::sync::Semaphore::new(DOWNLOADS_IN_FLIGHT)),
            verifications: Arc::new(tokio::sync::Semaphore::new(VERIFICATIONS_IN_FLIGHT)),
            fetching: Arc::default(),
        })
    }

    /// Opens the cache at `dir` (the CLI gives `--cache-dir`, else the user's cache folder, [`crate::cli::CacheArgs::dir`]); with
    /// none, refuses ([`DownloadError::NoDefault`]) rather than share a folder with other users.
    pub fn open(dir: Option<&Path>, settings: &HttpSettings) -> Result<Self, DownloadError> {
        let dir = dir.map(Path::to_path_buf).ok_or(DownloadError::NoDefault)?;
        Self::new(dir, settings)
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Waits for a turn to verify an artifact: at most [`VERIFICATIONS_IN_FLIGHT`] at once across
    /// the clones of this cache. The turn ends when the permit is dropped (`None`: no limit, never
    /// seen, as the semaphore is never closed).
    pub async fn verification_turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.verifications.acquire().await.ok()
    }

    /// Downloads `url` once.
    ///
    /// The body is streamed to a temporary file in the cache while being hashed (never held whole
    /// in memory), then renamed atomically to `sha256/<hex>.jar` (`.obr` for an OBR), and the URL
    /// is remembered so the next call makes no request. With `expected`, a cached file with that
    /// hash is returned without any request; a download with another hash is an error naming URL,
    /// expected and found, and is not kept.
    ///
    /// Concurrent fetches of one URL (by clones of this cache) download it once: the others wait
    /// and take the cached file. At most [`DOWNLOADS_IN_FLIGHT`] downloads run at once.
    pub async fn fetch(
        &self,
        url: &Url,
        expected: Option<&Sha256>,
    ) -> Result<CachedFile, DownloadError> {
        let lock = {
            let mut fetching = self
                .fetching
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            fetching.entry(self.index_path(url)).or_default().clone()
        };
        let _same_url = lock.lock().await;
        if let Some(expected) = expected {
            if let Some(cached) = self.cached(expected).await? {
                tracing::debug!(url = %redact_url(url), sha256 = %expected, "artifact already cached");
                return Ok(cached);
            }
        }
        if let Some(known) = self.indexed(url).await {
            // A URL whose last content is not the expected one is downloaded again: it may have
            // been fixed since, and if not, the mismatch is reported from fresh bytes.
            if expected.is_none_or(|expected| *expected == known) {
                if let Some(cached) = self.cached(&known).await? {
                    tracing::debug!(url = %redact_url(url), sha256 = %known, "artifact already cached");
                    return Ok(cached);
                }
            }
        }
        self.download(url, expected).await
    }

    /// The cached file with this content hash, if there is one and it still has that hash (a file
    /// damaged on disk is removed and treated as missing).
    async fn cached(&self, sha256: &Sha256) -> Result<Option<CachedFile>, DownloadError> {
        for extension in ["jar", "obr"] {
            let path = self.artifact_path(sha256, extension);
            if !path.is_file() {
                continue;
            }
            let hashed = path.clone();
            let found = tokio::task::spawn_blocking(move || {
                File::open(&hashed).and_then(|mut file| artifact::hash_reader(&mut file))
            })
            .await
            .map_err(|error| DownloadError::Cache {
                path: path.clone(),
                source: io::Error::other(error),
            })?
            .map_err(|source| DownloadError::Cache {
                path: path.clone(),
                source,
            })?;
            if found == *sha256 {
                return Ok(Some(CachedFile {
                    path,
                    sha256: found,
                }));
            }
            self.settings
                .notices
                .emit(crate::notice::Notice::DamagedCacheEntry { path: path.clone() });
            let _ = tokio::fs::remove_file(&path).await;
        }
        Ok(None)
    }

    /// The content hash this URL gave last time.
    async fn indexed(&self, url: &Url) -> Option<Sha256> {
        let text = tokio::fs::read_to_string(self.index_path(url)).await.ok()?;
        Sha256::parse(&text)
    }

    async fn download(
        &self,
        url: &Url,
        expected: Option<&Sha256>,
    ) -> Result<CachedFile, DownloadError> {
        // A closed semaphore is never seen: it is never closed.
        let _slot = self.downloads.acquire().await.ok();
        let shown = redact_url(url);
        tracing::info!(url = %shown, "downloading artifact");
        let call = Call::get(url.clone());
        let request_failed = |error: reqwest::Error| DownloadError::Request {
            call: call.clone(),
            failure: TransportFailure::of(&error),
        };
        // A download is a read: retried like the other reads (a CDN's 503, a reset).
        // Within the caps on requests in flight, like every read (`--max-requests-per-host`).
        let mut response =
            crate::http::send_read_within(self.http.get(url.clone()), &self.settings, &call)
                .await
                .map_err(request_failed)?;
        let status = response.status();
        if !status.is_success() {
            let body = crate::http::body::error_text(response, self.deadline).await;
            return Err(DownloadError::Status {
                url: shown,
                status,
                body: excerpt(&body),
            });
        }

        let tmp = self.dir.join("tmp");
        let write_failed = |path: &Path| {
            let url = shown.clone();
            let path = path.to_path_buf();
            move |source| DownloadError::Write { url, path, source }
        };
        let temp = tempfile::Builder::new()
            .prefix("download-")
            .suffix(".part")
            .tempfile_in(&tmp)
            .map_err(write_failed(&tmp))?;
        let mut file = tokio::fs::File::from_std(temp.reopen().map_err(write_failed(temp.path()))?);
        let mut hasher = Sha256Hasher::new();
        let mut size: u64 = 0;
        // Live progress at a terminal (docs/terminal.md); `Downloaded` however this ends.
        let notices = &self.settings.notices;
        let total = response.content_length();
        notices.activity(Activity::Downloading {
            url: shown.to_string(),
            done: 0,
            total,
        });
        let _told = DownloadEnds {
            notices,
            url: shown.to_string(),
        };
        while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
            size += chunk.len() as u64;
            notices.activity(Activity::Downloading {
                url: shown.to_string(),
                done: size,
                total,
            });
            if size > MAX_DOWNLOAD_BYTES {
                return Err(DownloadError::TooLarge {
                    url: shown,
                    limit: MAX_DOWNLOAD_BYTES,
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(write_failed(temp.path()))?;
        }
        file.flush().await.map_err(write_failed(temp.path()))?;
        file.sync_all().await.map_err(write_failed(temp.path()))?;
        drop(file);

        let found = Sha256::from_digest(&hasher.finalize());
        if let Some(expected) = expected {
            if *expected != found {
                // Dropping `temp` deletes the bad file.
                return Err(DownloadError::Sha256Mismatch {
                    url: shown,
                    expected: expected.clone(),
                    found,
                });
            }
        }
        // UPM tells an OBR from a jar by content, not by name (upm-rest-api.md §5.7); so does the cache.
        let is_obr = artifact::is_obr_file(temp.path()).await;
        let path = self.artifact_path(&found, if is_obr { "obr" } else { "jar" });
        temp.persist(&path)
            .map_err(|error| write_failed(&path)(error.error))?;
        self.write_index(url, &found)
            .map_err(|(path, source)| write_failed(&path)(source))?;
        tracing::debug!(url = %shown, sha256 = %found, size, "artifact cached");
        Ok(CachedFile {
            path,
            sha256: found,
        })
    }

    /// Remembers `url` → `sha256`, atomically (a temporary file renamed over the entry).
    fn write_index(&self, url: &Url, sha256: &Sha256) -> Result<(), (PathBuf, io::Error)> {
        let path = self.index_path(url);
        let tmp = self.dir.join("tmp");
        let mut temp = tempfile::NamedTempFile::new_in(&tmp).map_err(|error| (tmp, error))?;
        io::Write::write_all(&mut temp, format!("{sha256}\n").as_bytes())
            .map_err(|error| (temp.path().to_path_buf(), error))?;
        temp.persist(&path)
            .map_err(|error| (path.clone(), error.error))?;
        Ok(())
    }

    fn artifact_path(&self, sha256: &Sha256, extension: &str) -> PathBuf {
        self.dir
            .join("sha256")
            .join(format!("{}.{extension}", sha256.as_str()))
    }

    /// The index entry of a URL, named by the URL's sha256 so that no token in a query string ends
    /// up in a file name.
    fn index_path(&self, url: &Url) -> PathBuf {
        let digest = Sha256Hasher::digest(url.as_str().as_bytes());
        self.dir.join("urls").join(hex::encode(digest))
    }
}

/// Creates `path` (and its parents) if missing, a new folder with mode 0700, then checks it can be
/// trusted: a folder, not a symlink, owned by this user, not writable by group or others.
fn create_private_dir(path: &Path) -> Result<(), DownloadError> {
    let cache_error = |source| DownloadError::Cache {
        path: path.to_path_buf(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path).map_err(cache_error)?;
    let metadata = std::fs::symlink_metadata(path).map_err(cache_error)?;
    let untrusted = |reason: String| DownloadError::Untrusted {
        path: path.to_path_buf(),
        reason,
    };
    if !metadata.is_dir() {
        return Err(untrusted(
            "it is not a folder (a symbolic link is not followed)".into(),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: `geteuid` has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if metadata.uid() != me {
            return Err(untrusted(format!(
                "it belongs to user id {}, not to the user running upmsync ({me})",
                metadata.uid()
            )));
        }
        if metadata.mode() & 0o022 != 0 {
            return Err(untrusted(format!(
                "group or others may write to it (mode {:o})",
                metadata.mode() & 0o7777
            )));
        }
    }
    Ok(())
}

/// Tells [`Activity::Downloaded`] when a download ends, however it ends (an error, a drop).
struct DownloadEnds<'a> {
    notices: &'a crate::notice::Notices,
    url: String,
}

impl Drop for DownloadEnds<'_> {
    fn drop(&mut self) {
        self.notices.activity(Activity::Downloaded {
            url: std::mem::take(&mut self.url),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_new_cache_is_owner_only_and_a_shared_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let folder = tempfile::tempdir().unwrap();
        let fresh = folder.path().join("a/b/cache");
        Cache::new(&fresh, &HttpSettings::default()).unwrap();
        for path in [fresh.clone(), fresh.join("sha256"), fresh.join("tmp")] {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", path.display());
        }

        let shared = folder.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let error = Cache::new(&shared, &HttpSettings::default()).unwrap_err();
        let text = crate::error::error_text(&error);
        assert!(text.contains("group or others may write"), "{text}");
        assert!(
            error
                .hint()
                .is_some_and(|hint| hint.contains("--cache-dir")),
            "{text}"
        );

        // A planted sub-folder writable by others is refused too.
        let planted = folder.path().join("planted");
        Cache::new(&planted, &HttpSettings::default()).unwrap();
        std::fs::set_permissions(
            planted.join("sha256"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        assert!(matches!(
            Cache::new(&planted, &HttpSettings::default()),
            Err(DownloadError::Untrusted { .. })
        ));

        let link = folder.path().join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        assert!(matches!(
            Cache::new(&link, &HttpSettings::default()),
            Err(DownloadError::Untrusted { .. })
        ));
    }

    #[test]
    fn the_default_cache_is_never_the_shared_temporary_folder() {
        let hint = DownloadError::NoDefault.hint().unwrap_or_default();
        assert!(hint.contains("--cache-dir"), "{hint}");
    }

    #[test]
    fn status_errors_name_url_status_and_a_hint() {
        let error = DownloadError::Status {
            url: "https://m/download/apps/1/version/2".into(),
            status: StatusCode::NOT_FOUND,
            body: "nope".into(),
        };
        assert_eq!(
            crate::error::error_text(&error),
            "GET https://m/download/apps/1/version/2 answered 404 Not Found: nope\nhint: check that this version exists and that the URL is right"
        );
        assert_eq!(
            error.to_string(),
            "GET https://m/download/apps/1/version/2 answered 404 Not Found: nope"
        );
    }
}
