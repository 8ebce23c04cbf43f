//! Plugin artifacts on disk or in memory: reads the descriptor of a jar or OBR and verifies a file
//! against the wanted key, version and sha256 before its change starts (marketplace-api.md §13).
//!
//! No HTTP here: downloading is [`crate::marketplace::download`]'s job. Reading the descriptor is
//! [`upmsync_plugin::descriptor`]'s (shared with the simulator), re-exported here.
//!
//! Hashing and unzipping block; async code calls [`verify_file_async`] and [`is_obr_file`], which
//! run them on tokio's blocking pool rather than on a runtime worker.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256 as Sha256Hasher};
pub use upmsync_plugin::descriptor::{
    is_obr, read_descriptor, read_descriptor_from, DescriptorError, PluginDescriptor,
    MAX_DESCRIPTOR_BYTES, MAX_NESTED_JAR_BYTES, NESTED_JAR_IN_MEMORY_BYTES,
};

use crate::model::{AppKey, Sha256, Version};

/// The largest local artifact (`source.path`) read, as large as a download may be.
pub const MAX_SOURCE_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// A local artifact that matched what was wanted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub path: PathBuf,
    pub sha256: Sha256,
    pub descriptor: PluginDescriptor,
}

/// Why an artifact could not be read or is not the one wanted. `path` is `None` when the artifact
/// was read from memory or a reader without a name.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a plugin jar or OBR (not a zip file): {reason}", shown(.path))]
    NotZip {
        path: Option<PathBuf>,
        reason: String,
    },
    #[error("{} has neither an atlassian-plugin.xml nor a Bundle-SymbolicName", shown(.path))]
    NoDescriptor { path: Option<PathBuf> },
    #[error("the plugin descriptor of {} is invalid: {reason}", shown(.path))]
    InvalidDescriptor {
        path: Option<PathBuf>,
        reason: String,
    },
    #[error("{} is an OBR but has {found} jar files at its root, expected exactly one main plugin jar", shown(.path))]
    ObrMainJar { path: Option<PathBuf>, found: usize },
    #[error("`{}` is the plugin `{found}`, expected `{expected}`", path.display())]
    KeyMismatch {
        path: PathBuf,
        expected: AppKey,
        found: String,
    },
    #[error("`{}` is version `{found}` of the plugin, expected `{expected}`", path.display())]
    VersionMismatch {
        path: PathBuf,
        expected: Version,
        found: String,
    },
    #[error("`{}` has sha256 `{found}`, expected `{expected}`", path.display())]
    Sha256Mismatch {
        path: PathBuf,
        expected: Sha256,
        found: Sha256,
    },
}

impl ArtifactError {
    /// What the user can do about this error, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ArtifactError::KeyMismatch { .. } => "the file or URL points at another app".into(),
            ArtifactError::VersionMismatch { .. } => {
                "the file or URL points at another version".into()
            }
            ArtifactError::Sha256Mismatch { .. } => "the artifact changed or the pinned sha256 is wrong; check the source before changing `sha256:`".into(),
            _ => return None,
        })
    }

    /// Names the file (or `None` for bytes without a name) in a descriptor reading error.
    pub(crate) fn from_descriptor(error: DescriptorError, path: Option<PathBuf>) -> Self {
        match error {
            DescriptorError::NotZip { reason } => ArtifactError::NotZip { path, reason },
            DescriptorError::NoDescriptor => ArtifactError::NoDescriptor { path },
            DescriptorError::InvalidDescriptor { reason } => {
                ArtifactError::InvalidDescriptor { path, reason }
            }
            DescriptorError::ObrMainJar { found } => ArtifactError::ObrMainJar { path, found },
        }
    }
}

fn shown(path: &Option<PathBuf>) -> String {
    match path {
        Some(path) => format!("`{}`", path.display()),
        None => "the artifact".to_string(),
    }
}

/// Opens a local artifact (jar, or OBR → its main jar), hashes it (streaming), and checks that key
/// and version (plugin-framework equality via [`Version`]) match, and the sha256 when one is expected.
///
/// The sha256 is checked first: a file that is not the pinned one is not opened as a zip at all.
pub fn verify_file(
    path: &Path,
    key: &AppKey,
    version: &Version,
    sha256: Option<&Sha256>,
) -> Result<Verified, ArtifactError> {
    let io_error = |source| ArtifactError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (mut file, found) = hash_file(path).map_err(|error| io_error(error.into()))?;
    if let Some(expected) = sha256 {
        if *expected != found {
            return Err(ArtifactError::Sha256Mismatch {
                path: path.to_path_buf(),
                expected: expected.clone(),
                found,
            });
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(io_error)?;
    let descriptor = read_descriptor_from(BufReader::new(file))
        .map_err(|error| ArtifactError::from_descriptor(error, Some(path.to_path_buf())))?;
    if descriptor.key != key.as_str() {
        return Err(ArtifactError::KeyMismatch {
            path: path.to_path_buf(),
            expected: key.clone(),
            found: descriptor.key,
        });
    }
    if Version::from_server(&descriptor.version) != *version {
        return Err(ArtifactError::VersionMismatch {
            path: path.to_path_buf(),
            expected: version.clone(),
            found: descriptor.version,
        });
    }
    Ok(Verified {
        path: path.to_path_buf(),
        sha256: found,
        descriptor,
    })
}

/// Does what [`verify_file`] does on tokio's blocking pool: hashing and unzipping a jar of
/// hundreds of MB must not hold up a runtime worker.
///
/// # Errors
/// As [`verify_file`]; a verification that could not run to its end (the runtime shutting down)
/// is an [`ArtifactError::Io`] for `path`.
pub async fn verify_file_async(
    path: &Path,
    key: &AppKey,
    version: &Version,
    sha256: Option<&Sha256>,
) -> Result<Verified, ArtifactError> {
    let (owned_path, key, version, sha256) = (
        path.to_path_buf(),
        key.clone(),
        version.clone(),
        sha256.cloned(),
    );
    tokio::task::spawn_blocking(move || verify_file(&owned_path, &key, &version, sha256.as_ref()))
        .await
        .unwrap_or_else(|error| {
            Err(ArtifactError::Io {
                path: path.to_path_buf(),
                source: io::Error::other(format!("the verification did not finish: {error}")),
            })
        })
}

/// Whether the file at `path` is an OBR (see [`is_obr`]), read on tokio's blocking pool; `false`
/// when it cannot be read.
pub async fn is_obr_file(path: &Path) -> bool {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        File::open(path).is_ok_and(|file| is_obr(BufReader::new(file)))
    })
    .await
    .unwrap_or(false)
}

/// Opens a local artifact as a regular file (never a device, FIFO or `/proc` file; never
/// blocking) and hashes it, at most [`MAX_SOURCE_FILE_BYTES`]. The manifest loader checks
/// `source.path` files through this same function, so `validate` refuses what apply would.
pub fn hash_file(path: &Path) -> Result<(File, Sha256), crate::files::FileError> {
    let mut file = crate::files::open_regular(path)?;
    let mut hasher = Sha256Hasher::new();
    crate::files::read_streaming(&mut file, MAX_SOURCE_FILE_BYTES, |chunk| {
        hasher.update(chunk)
    })?;
    Ok((file, Sha256::from_digest(&hasher.finalize())))
}

/// The sha256 of everything a reader yields, read in chunks.
pub fn hash_reader(reader: &mut impl Read) -> io::Result<Sha256> {
    let mut hasher = Sha256Hasher::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        hasher.update(&buffer[..read]);
    }
    Ok(Sha256::from_digest(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use upmsync_sim::jar::{build_obr, build_plugin_jar};
    use zip::write::SimpleFileOptions;
    use zip::ZipWriter;

    use super::*;

    /// The async wrappers give what the blocking functions give, from the blocking pool; an OBR
    /// whose main jar is larger than the in-memory spool is unpacked through a temporary file.
    #[tokio::test]
    async fn async_wrappers_verify_jars_and_obrs_on_the_blocking_pool() {
        let folder = tempfile::tempdir().unwrap();
        let key = AppKey::new("com.example.a");
        let version = Version::parse("1.2.3").unwrap();
        let jar = build_plugin_jar("com.example.a", "A", "1.2.3", false);
        // Stored bytes that do not compress keep the main jar above the spool's memory limit.
        let padding: Vec<u8> = (0..NESTED_JAR_IN_MEMORY_BYTES + 1024)
            .map(|_| fastrand::u8(..))
            .collect();
        let big_jar = {
            let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
            for (name, bytes) in [
                ("padding.bin", padding.as_slice()),
                ("atlassian-plugin.xml", br#"<atlassian-plugin key="com.example.a" name="A"><plugin-info><version>1.2.3</version></plugin-info></atlassian-plugin>"#.as_slice()),
            ] {
                writer
                    .start_file(name, SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored))
                    .unwrap();
                writer.write_all(bytes).unwrap();
            }
            writer.finish().unwrap().into_inner()
        };
        let obr = build_obr(&big_jar, &[]);
        for (name, bytes, obr_expected) in [("a.jar", &jar, false), ("a.obr", &obr, true)] {
            let path = folder.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let sha256 = Sha256::of(bytes);
            let verified = verify_file_async(&path, &key, &version, Some(&sha256))
                .await
                .unwrap();
            assert_eq!(verified.sha256, sha256);
            assert_eq!(verified.descriptor.key, "com.example.a");
            assert_eq!(is_obr_file(&path).await, obr_expected);
            let wrong = Sha256::of(b"other");
            assert!(matches!(
                verify_file_async(&path, &key, &version, Some(&wrong)).await,
                Err(ArtifactError::Sha256Mismatch { .. })
            ));
        }
        assert!(!is_obr_file(&folder.path().join("missing")).await);
        assert!(matches!(
            verify_file_async(&folder.path().join("missing"), &key, &version, None).await,
            Err(ArtifactError::Io { .. })
        ));
    }
}
