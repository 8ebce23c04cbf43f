//! The local lock per instance that keeps two applies from this runner from interleaving on one
//! instance: an OS file lock, taken before anything is read.

use std::path::{Path, PathBuf};

/// Why an instance's lock could not be taken. Each says nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum InstanceLockError {
    /// The `locks` folder cannot be created.
    #[error("cannot create the lock folder `{}`", folder.display())]
    Folder {
        /// The folder.
        folder: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The lock file cannot be opened.
    #[error("cannot open the lock `{}`", path.display())]
    Open {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file system refused the lock.
    #[error("cannot lock `{}`", path.display())]
    Unsupported {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another live process holds the lock.
    #[error("another upmsync apply ({holder}) is changing `{instance}`: nothing was changed")]
    Held {
        /// `process <id>` or `another process`.
        holder: String,
        /// The instance.
        instance: String,
        /// The lock file.
        path: PathBuf,
    },
    /// The lock file kept being replaced while being taken.
    #[error("cannot take the lock `{}`: it was replaced {LOCK_ATTEMPTS} times while being taken: nothing was changed", path.display())]
    Replaced {
        /// The lock file.
        path: PathBuf,
        /// The instance.
        instance: String,
    },
}

impl InstanceLockError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Folder { .. } | Self::Open { .. } => None,
            Self::Unsupported { .. } => Some("the cache folder must be on a file system with file locks (not every network file system has them); choose another with `--cache-dir`".into()),
            Self::Held { path, .. } => Some(format!("wait for it to finish and run apply again (its lock is `{}`; the lock ends with its process, so there is nothing to remove)", path.display())),
            Self::Replaced { instance, .. } => Some(format!("other applies keep starting on `{instance}`; run one at a time")),
        }
    }
}

/// A local lock per instance: an OS file lock (`flock`) on `<cache>/locks/<instance>.lock`.
///
/// The kernel releases it when its process ends, however it ends (a crash, `kill -9`, a container
/// restart, a second Ctrl-C), so a lock never outlives its holder and no process id is trusted:
/// the id written into the file only names the holder in the message. The file is removed on
/// release; a file left by a killed process is simply taken over by the next run.
pub struct InstanceLock {
    path: PathBuf,
    file: std::fs::File,
}

/// How often a lock file removed by its releasing holder, just as this run opened it, is opened
/// again before giving up.
const LOCK_ATTEMPTS: usize = 8;

impl InstanceLock {
    /// Takes the lock for `instance` in `<cache_dir>/locks`, or says who holds it.
    ///
    /// # Errors
    ///
    /// [`InstanceLockError`]: the folder or file cannot be made, the file system has no locks,
    /// another process holds it, or it kept being replaced.
    pub fn acquire(cache_dir: &Path, instance: &str) -> Result<Self, InstanceLockError> {
        let folder = cache_dir.join("locks");
        let path = folder.join(format!("{}.lock", instance.replace(['/', '\\'], "_")));
        std::fs::create_dir_all(&folder).map_err(|source| InstanceLockError::Folder {
            folder: folder.clone(),
            source,
        })?;
        for _ in 0..LOCK_ATTEMPTS {
            let file = open_lock_file(&path).map_err(|source| InstanceLockError::Open {
                path: path.clone(),
                source,
            })?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(InstanceLockError::Held {
                        holder: holder(&file),
                        instance: instance.to_string(),
                        path,
                    });
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(InstanceLockError::Unsupported { path, source });
                }
            }
            // A holder removes the file as it releases it: a file opened just before that is no
            // longer the lock, and another run may have made a new one. Locked is only the file
            // the path still names.
            if !names_file(&path, &file) {
                continue;
            }
            let mut lock = Self { path, file };
            lock.write_holder();
            return Ok(lock);
        }
        Err(InstanceLockError::Replaced {
            path,
            instance: instance.to_string(),
        })
    }

    /// Writes this process's id, for another run's message only.
    fn write_holder(&mut self) {
        use std::io::{Seek, Write};
        let _ = self.file.set_len(0);
        let _ = self.file.seek(std::io::SeekFrom::Start(0));
        let _ = writeln!(self.file, "{}", std::process::id());
        let _ = self.file.flush();
    }
}

/// Opens (creating, owner-only) the lock file without emptying it: a live holder's id stays.
fn open_lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Whether `path` names this open file (and not a newer one, or none).
fn names_file(path: &Path, file: &std::fs::File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), file.metadata()) {
            (Ok(named), Ok(open)) => named.dev() == open.dev() && named.ino() == open.ino(),
            _ => false,
        }
    }
    // guess: off Unix an open file cannot be removed, so the path always names it.
    #[cfg(not(unix))]
    {
        let _ = (path, file);
        true
    }
}

/// Who holds a lock, by the id it wrote: `process 123`, or `another process`.
fn holder(file: &std::fs::File) -> String {
    use std::io::Read;
    let mut holder = String::new();
    // The id is only shown: a bounded read, and anything but digits is not repeated.
    let _ = Read::take(file, 32).read_to_string(&mut holder);
    let pid = holder.trim();
    if !pid.is_empty() && pid.bytes().all(|byte| byte.is_ascii_digit()) {
        format!("process {pid}")
    } else {
        "another process".to_string()
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Removed while still locked (the lock ends when `file` closes, after this), and only if
        // it is still this lock's file.
        if names_file(&self.path, &self.file) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
