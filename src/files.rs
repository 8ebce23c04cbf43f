//! Local files upmsync reads because the manifest names them (licenses, CA bundles, `source.path`
//! artifacts) and files it writes (reports, saved plans, lock files).
//!
//! Reading: a named file must be a regular file. Devices (`/dev/zero`), FIFOs, sockets and
//! directories are refused without blocking: the file is opened with `O_NONBLOCK` (so opening a
//! FIFO returns at once) and its type is checked with `fstat` on the opened handle, so a file
//! swapped between a check and the open cannot slip through. Reading is capped while reading,
//! never by `metadata().len()` alone (that is 0 for `/proc` files), and a file whose byte count
//! differs from its size (procfs/sysfs pseudo-files, or a file written to while read) is refused.
//!
//! Writing: the whole text goes to a fresh temporary file in the same folder (`tempfile`, a random
//! name created exclusively, never following a symlink), which is then renamed over the target. A
//! reader sees the old file or the new one, never half of one; a symlink at the target is replaced,
//! not followed. Files that can name internal hosts or hashes are owner-only (0600).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Why a file named in the manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The OS refused to open, inspect or read it.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// It is not a regular file (a directory, device, FIFO or socket).
    #[error("it is a {0}, not a regular file")]
    NotRegular(&'static str),
    /// It holds more than `limit` bytes.
    #[error("it is larger than {} ({limit} bytes at most)", size_text(*limit))]
    TooLarge {
        /// The cap, in bytes.
        limit: u64,
    },
    /// Reading gave another byte count than its size: a pseudo-file (`/proc`, `/sys`) or a file
    /// that changed while it was read.
    #[error("it reads as {read} bytes but its size is {size}: it is a pseudo-file (such as one in `/proc` or `/sys`) or it changed while being read")]
    SizeMismatch {
        /// What the file system says.
        size: u64,
        /// What reading gave.
        read: u64,
    },
}

fn size_text(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

/// The kind of a file that is not a regular file, in words.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        return "directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "FIFO (named pipe)";
        }
        if file_type.is_socket() {
            return "socket";
        }
        if file_type.is_char_device() {
            return "character device";
        }
        if file_type.is_block_device() {
            return "block device";
        }
    }
    "special file"
}

/// Opens `path` (following symlinks) for reading and checks on the opened handle that it is a
/// regular file. Never blocks: a FIFO is opened non-blocking and then refused.
pub fn open_regular(path: &Path) -> Result<File, FileError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever. O_NOCTTY: a
        // terminal device never becomes the controlling terminal. Neither changes how a regular
        // file reads.
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    if !metadata.file_type().is_file() {
        return Err(FileError::NotRegular(kind_of(metadata.file_type())));
    }
    Ok(file)
}

/// Reads a whole regular file of at most `limit` bytes. The cap holds while reading, and the
/// bytes read must be the file's size (see [`FileError::SizeMismatch`]).
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let mut file = open_regular(path)?;
    let mut bytes = Vec::new();
    read_streaming(&mut file, limit, |chunk| bytes.extend_from_slice(chunk))?;
    Ok(bytes)
}

/// Streams a just-opened regular file (from its start) to `sink` in chunks: at most `limit`
/// bytes, checked while reading, and the count must be the file's size. Returns the count.
pub fn read_streaming(
    file: &mut File,
    limit: u64,
    mut sink: impl FnMut(&[u8]),
) -> Result<u64, FileError> {
    let size = file.metadata()?.len();
    if size > limit {
        return Err(FileError::TooLarge { limit });
    }
    let mut buffer = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error.into()),
        };
        total += read as u64;
        if total > limit {
            return Err(FileError::TooLarge { limit });
        }
        sink(&buffer[..read]);
    }
    if total != size {
        return Err(FileError::SizeMismatch { size, read: total });
    }
    Ok(total)
}

impl From<FileError> for io::Error {
    fn from(error: FileError) -> Self {
        match error {
            FileError::Io(error) => error,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }
}

/// Writes `bytes` to `path` atomically and owner-only (0600): a fresh temporary file in the same
/// folder (random name, created exclusively), flushed to disk, then renamed over `path`. A symlink
/// at `path` is replaced, never followed; on failure `path` is left as it was and the temporary
/// file is removed.
// Owner-only for every output: reports, saved plans and lock files all name instances, URLs
// (internal hosts) and hashes, and git does not keep group/other bits anyway.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, bytes, 0o600)
}

/// Writes `bytes` to `path` atomically as [`write_private`] does, but readable by everyone (0644):
/// for a metrics file (`drift --metrics-file`) that another user's process (node_exporter's
/// textfile collector) reads. Only for files that hold no secret, host or hash.
pub fn write_readable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, bytes, 0o644)
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    if path.file_name().is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ));
    }
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // tempfile creates the file with O_EXCL and mode 0600 on unix.
    let mut temporary = tempfile::Builder::new()
        .prefix(".upmsync-")
        .suffix(".tmp")
        .tempfile_in(folder)?;
    set_mode(temporary.as_file(), mode)?;
    temporary.write_all(bytes)?;
    temporary.as_file().sync_all()?;
    temporary.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(unix)]
fn set_mode(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &File, _mode: u32) -> io::Result<()> {
    // guess: elsewhere the temporary file's own permissions (tempfile's defaults) are kept.
    Ok(())
}

/// Whether `a` and `b` name the same existing file (same device and inode, through any symlink or
/// spelling). `false` when either does not exist.
pub fn same_file(a: &Path, b: &Path) -> bool {
    // A file that does not exist yet (a lock not written yet) is the same as another path when
    // both name the same entry of the same folder, however spelled.
    let resolved = |path: &Path| -> Option<std::path::PathBuf> {
        std::fs::canonicalize(path).ok().or_else(|| {
            let parent = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            Some(std::fs::canonicalize(parent).ok()?.join(path.file_name()?))
        })
    };
    let (Ok(first), Ok(second)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return matches!((resolved(a), resolved(b)), (Some(a), Some(b)) if a == b);
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        first.dev() == second.dev() && first.ino() == second.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (first, second);
        match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// Refuses to write `what` (e.g. "the report") to `output` when it is the same file as `kept`
/// (described as `kept_what`, e.g. "the manifest"), however either is spelled.
///
/// # Errors
///
/// [`SameFile`] when they are the same file.
pub fn refuse_same(
    output: &Path,
    kept: &Path,
    what: &'static str,
    kept_what: &'static str,
) -> Result<(), SameFile> {
    if same_file(output, kept) {
        return Err(SameFile {
            what,
            output: output.to_path_buf(),
            kept_what,
        });
    }
    Ok(())
}

/// An output file that is a file upmsync must keep (the manifest, its lock, a saved plan).
#[derive(Debug, thiserror::Error)]
#[error("refusing to write {what} to `{}`: it is {kept_what}", output.display())]
pub struct SameFile {
    /// What was to be written, e.g. `the report`.
    pub what: &'static str,
    /// Where.
    pub output: PathBuf,
    /// What the file is, e.g. `the manifest`.
    pub kept_what: &'static str,
}

impl SameFile {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some("name another file".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_reads_whole_and_an_oversized_one_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("small");
        std::fs::write(&path, b"hello").unwrap();
        assert_eq!(read_capped(&path, 5).unwrap(), b"hello");
        assert!(matches!(
            read_capped(&path, 4),
            Err(FileError::TooLarge { limit: 4 })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn devices_directories_and_proc_files_are_refused() {
        let zero = read_capped(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(matches!(zero, FileError::NotRegular(_)), "{zero}");
        let folder = tempfile::tempdir().unwrap();
        let directory = read_capped(folder.path(), 1024).unwrap_err();
        assert!(
            matches!(directory, FileError::NotRegular("directory")),
            "{directory}"
        );
        if Path::new("/proc/self/status").exists() {
            let proc = read_capped(Path::new("/proc/self/status"), 1024 * 1024).unwrap_err();
            assert!(matches!(proc, FileError::SizeMismatch { .. }), "{proc}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn writes_are_owner_only_and_replace_a_symlink_rather_than_follow_it() {
        use std::os::unix::fs::PermissionsExt;
        let folder = tempfile::tempdir().unwrap();
        let victim = folder.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let path = folder.path().join("report.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_private(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert!(!std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Nothing else is left in the folder.
        assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 2);
    }
}
