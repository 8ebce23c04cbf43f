//! Saved plans (`plan --out plan.json`, `apply plan.json`): the changes a reviewer saw, with
//! fingerprints of what they were computed from (the manifest, the lock, each instance's installed
//! user apps). Applying re-reads everything and refuses when any fingerprint or the recomputed plan
//! differs: nobody's unreviewed plan is ever applied. Holds no secret: licenses appear as hashes and
//! are re-read from their variables or files at apply time.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{LicenseHash, Live, LiveLicense};
use crate::plan::{ArtifactView, Change, InstancePlan};

/// A change as a saved plan holds it: artifacts as shown (URLs without credentials or query),
/// licenses by hash only. Applying a saved plan re-plans from the manifest, which brings the
/// license texts back, and compares the new plan's [`Change::saved`] forms with these.
pub type SavedChange = Change<ArtifactView, LicenseHash>;

/// The saved plan format's version; another is refused.
pub const SAVED_PLAN_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedPlan {
    pub saved_plan_version: u32,
    /// The manifest, relative to the plan file's folder when it can be.
    pub manifest: PathBuf,
    pub manifest_sha256: String,
    /// The lock file's hash, or null when there was none.
    pub lock_sha256: Option<String>,
    pub instances: Vec<SavedInstance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedInstance {
    pub name: String,
    /// Fingerprint of the installed user apps: key, version, enabled, license hash.
    pub live_sha256: String,
    /// The changes exactly as `plan --format json` shows them.
    pub changes: Vec<SavedChange>,
    /// The sha256 of every local file the changes upload (by app key), so a jar rebuilt after the
    /// review is not applied.
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    /// A file the plan fingerprints (the manifest, its lock) cannot be read.
    #[error("cannot read `{}`: {error}", path.display())]
    Fingerprint {
        /// The file.
        path: PathBuf,
        /// Why (shown in the message, as before).
        error: std::io::Error,
    },
    #[error("failed to read the plan file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not an upmsync plan file: {reason}", path.display())]
    Invalid {
        path: PathBuf,
        reason: PlanFileProblem,
    },
    /// A plan file of another format version: an upmsync plan, written by another upmsync.
    #[error(
        "`{}` was written by another upmsync version (saved plan version {found}; this upmsync reads {SAVED_PLAN_VERSION})",
        path.display()
    )]
    OtherVersion {
        path: PathBuf,
        /// The file's `saved_plan_version`.
        found: u64,
    },
    /// What would be written does not read back (server text the loader refuses).
    #[error("refusing to write the plan file `{}`: {reason}", path.display())]
    Unreadable {
        path: PathBuf,
        reason: PlanFileProblem,
    },
    #[error("failed to write the plan file `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What makes bytes not a plan file ([`SavedPlan::from_bytes`]); shown after the file's name in
/// [`SavedPlanError`]. Names and excerpts are held escaped (no control or bidi characters).
#[derive(Debug, thiserror::Error)]
pub enum PlanFileProblem {
    /// A byte or character no file may hold, at a 1-based line and column.
    #[error("line {line}, column {column}: {message}")]
    Unprintable {
        /// The line.
        line: usize,
        /// The column.
        column: usize,
        /// What was found.
        message: String,
    },
    /// Not JSON, or not the plan's shape.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Another format version (read before the shape, which another version may change).
    #[error("saved_plan_version {found} is not {SAVED_PLAN_VERSION}")]
    Version {
        /// The file's version.
        found: u64,
    },
    /// A top-level fingerprint is not a sha256.
    #[error("`{field}` is not a sha256")]
    NotSha256 {
        /// `manifest_sha256` or `lock_sha256`.
        field: &'static str,
    },
    /// `manifest` is empty.
    #[error("`manifest` is empty")]
    NoManifest,
    /// An instance name upmsync never writes.
    #[error("instance name `{name}` may contain only letters, digits, `.`, `_` and `-`")]
    InstanceName {
        /// The name, escaped.
        name: String,
    },
    /// An instance's `live_sha256` is not a sha256.
    #[error("instance `{instance}`: `live_sha256` is not a sha256")]
    LiveNotSha256 {
        /// The instance.
        instance: String,
    },
    /// An instance's `files` names a key that is no app key.
    #[error("instance `{instance}`: `files` names an invalid app key `{key}`")]
    FileKey {
        /// The instance.
        instance: String,
        /// The key, escaped.
        key: String,
    },
    /// An instance's file hash is neither a sha256 nor `missing`.
    #[error("instance `{instance}`: the file hash of `{key}` is not a sha256")]
    FileHash {
        /// The instance.
        instance: String,
        /// The app key.
        key: String,
    },
    /// An instance's `changes` is not a list.
    #[error("instance `{instance}`: `changes` is not a list")]
    ChangesNotList {
        /// The instance, escaped.
        instance: String,
    },
    /// A string holds a character no file may hold, written as a JSON escape.
    #[error("a string holds {character}, written as an escape (`{excerpt}`)")]
    Escaped {
        /// The character, described.
        character: String,
        /// The string's first 40 characters, escaped.
        excerpt: String,
    },
}

/// A fingerprint of an instance's installed user apps (system apps never change through upmsync).
pub fn live_fingerprint(live: &Live) -> String {
    let mut hasher = Sha256::new();
    for app in live.apps.values().filter(|app| app.user_installed) {
        let license = match &app.license {
            LiveLicense::NotRead => "-".to_string(),
            LiveLicense::None => "none".to_string(),
            LiveLicense::Present(hash) => hash.to_string(),
        };
        hasher.update(
            format!("{}\t{}\t{}\t{license}\n", app.key, app.version, app.enabled).as_bytes(),
        );
    }
    hex::encode(hasher.finalize())
}

/// The hash of a file's bytes (lowercase hex), or `None` when it does not exist.
///
/// Streams the file through the hasher: an artifact of hundreds of MB costs a buffer, not its size.
pub fn file_sha256(path: &Path) -> std::io::Result<Option<String>> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(Some(hex::encode(hasher.finalize())))
}

/// Reads and hashes the local files an instance's changes upload, by app key ("missing" when
/// gone): this reads files, as apply reads them (a regular file, capped, never blocking).
pub fn read_file_fingerprints(
    planned: &InstancePlan,
) -> std::collections::BTreeMap<String, String> {
    planned
        .changes
        .iter()
        .filter_map(|change| {
            let crate::plan::PlannedArtifact::Upload {
                location: crate::model::Location::File(path),
                ..
            } = change.op.artifact()?
            else {
                return None;
            };
            let hash = crate::artifact::hash_file(path)
                .map(|(_, hash)| hash.to_string())
                .unwrap_or_else(|_| "missing".into());
            Some((change.key.to_string(), hash))
        })
        .collect()
}

/// The changes of an instance's plan as a saved plan holds them.
pub fn saved_changes(planned: &InstancePlan) -> Vec<SavedChange> {
    planned.changes.iter().map(Change::saved).collect()
}

/// Whether the changes planned now are those a saved plan holds, as `plan --format json` shows
/// them. What later versions add to that form (`fetch_first` and a restore's `fallback`, an
/// uninstall's `reason` and a change's `warning`, which follow from the rest) is not compared, so a plan saved before the addition still applies.
pub fn same_changes(now: &[SavedChange], saved: &[SavedChange]) -> bool {
    let shown = |changes: &[SavedChange]| {
        let mut value = serde_json::to_value(changes).unwrap_or_default();
        strip_additions(&mut value);
        value
    };
    now.len() == saved.len() && shown(now) == shown(saved)
}

/// Removes the compatible additions to format 1 from a changes list in JSON.
fn strip_additions(value: &mut serde_json::Value) {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            serde_json::Value::Array(items) => pending.extend(items.iter_mut()),
            serde_json::Value::Object(map) => {
                map.remove("fetch_first");
                map.remove("fallback");
                // Why a change is planned and its warnings follow from the manifest and the
                // live state, which the fingerprints cover.
                map.remove("reason");
                map.remove("warning");
                pending.extend(map.values_mut());
            }
            _ => {}
        }
    }
}

impl SavedPlanError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::OtherVersion { .. } => Some(
                "show or apply it with the upmsync that wrote it, or plan again with this one (`upmsync plan --out FILE`)"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

impl SavedPlan {
    /// Reads a plan file, checking every byte and value before any is used (see [`Self::from_bytes`]).
    pub fn read(path: &Path) -> Result<Self, SavedPlanError> {
        let bytes = std::fs::read(path).map_err(|source| SavedPlanError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes).map_err(|reason| match reason {
            PlanFileProblem::Version { found } => SavedPlanError::OtherVersion {
                path: path.to_path_buf(),
                found,
            },
            reason => SavedPlanError::Invalid {
                path: path.to_path_buf(),
                reason,
            },
        })
    }

    /// Parses and checks the bytes of a plan file: UTF-8 text without NUL, control or bidi
    /// characters (by line and column), one JSON value with nothing after it, no such character
    /// written as an escape in any string, and well-formed names and hashes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PlanFileProblem> {
        let text =
            crate::printable::check_file(bytes).map_err(|fault| PlanFileProblem::Unprintable {
                line: fault.line,
                column: fault.column,
                message: fault.message,
            })?;
        // serde_json refuses anything after the value, so the whole text is read.
        let value: serde_json::Value = serde_json::from_str(text)?;
        check_strings(&value)?;
        // The version first: another version's shape may differ (new fields), and its file is an
        // upmsync plan all the same.
        if let Some(found) = value
            .get("saved_plan_version")
            .and_then(serde_json::Value::as_u64)
            .filter(|found| *found != u64::from(SAVED_PLAN_VERSION))
        {
            return Err(PlanFileProblem::Version { found });
        }
        check_change_lists(&value)?;
        let plan: SavedPlan = serde_json::from_value(value)?;
        plan.check()?;
        Ok(plan)
    }

    /// Checks the names and hashes the plan holds.
    fn check(&self) -> Result<(), PlanFileProblem> {
        let hex = |text: &str| text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
        // `plan --out` writes an empty fingerprint for what it could not read (an instance that
        // did not answer): such a plan never applies, but it is a plan file.
        let hex_or_empty = |text: &str| text.is_empty() || hex(text);
        if !hex_or_empty(&self.manifest_sha256) {
            return Err(PlanFileProblem::NotSha256 {
                field: "manifest_sha256",
            });
        }
        if self.lock_sha256.as_deref().is_some_and(|lock| !hex(lock)) {
            return Err(PlanFileProblem::NotSha256 {
                field: "lock_sha256",
            });
        }
        if self.manifest.as_os_str().is_empty() {
            return Err(PlanFileProblem::NoManifest);
        }
        for instance in &self.instances {
            let name = &instance.name;
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid {
                return Err(PlanFileProblem::InstanceName {
                    name: crate::printable::escape(name).into_owned(),
                });
            }
            if !hex_or_empty(&instance.live_sha256) {
                return Err(PlanFileProblem::LiveNotSha256 {
                    instance: name.clone(),
                });
            }
            for (key, hash) in &instance.files {
                if key.trim().is_empty() || key.chars().any(char::is_whitespace) {
                    return Err(PlanFileProblem::FileKey {
                        instance: name.clone(),
                        key: crate::printable::escape(key).into_owned(),
                    });
                }
                if hash != "missing" && !hex(hash) {
                    return Err(PlanFileProblem::FileHash {
                        instance: name.clone(),
                        key: key.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Writes the plan file, after checking it reads back: text from a server that
    /// [`SavedPlan::read`] would refuse (a bidi control in an app name, say) is refused here.
    pub fn write(&self, path: &Path) -> Result<(), SavedPlanError> {
        let written = serde_json::to_string_pretty(self).unwrap_or_default();
        if let Err(reason) = Self::from_bytes(written.as_bytes()) {
            return Err(SavedPlanError::Unreadable {
                path: path.to_path_buf(),
                reason,
            });
        }
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        // Atomic and owner-only: a saved plan names instances, URLs and hashes.
        crate::files::write_private(path, text.as_bytes()).map_err(|source| SavedPlanError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The manifest path as seen from the current folder.
    pub fn manifest_path(&self, plan_file: &Path) -> PathBuf {
        if self.manifest.is_absolute() {
            return self.manifest.clone();
        }
        plan_file.parent().map_or_else(
            || self.manifest.clone(),
            |folder| folder.join(&self.manifest),
        )
    }
}

/// `manifest` as written in a plan file saved at `plan_file`: relative to the plan's folder when both
/// are under it, so a checkout can move.
pub fn relative_manifest(manifest: &Path, plan_file: &Path) -> PathBuf {
    let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let manifest = absolute(manifest);
    let folder = absolute(plan_file)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    manifest
        .strip_prefix(&folder)
        .map(Path::to_path_buf)
        .unwrap_or(manifest)
}

/// Refuses an instance whose `changes` is not a list, by name, before the changes are read.
fn check_change_lists(value: &serde_json::Value) -> Result<(), PlanFileProblem> {
    let instances = value
        .get("instances")
        .and_then(serde_json::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for instance in instances {
        let changes = instance.get("changes");
        if changes.is_some_and(|changes| !changes.is_array()) {
            let name = instance
                .get("name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            return Err(PlanFileProblem::ChangesNotList {
                instance: crate::printable::escape(name).into_owned(),
            });
        }
    }
    Ok(())
}

/// Refuses a string (key or value) anywhere in `value` that holds a character no file may hold,
/// such as `"\u001b"` or `"\u202e"` written as a JSON escape.
fn check_strings(value: &serde_json::Value) -> Result<(), PlanFileProblem> {
    let refuse = |text: &str, c: char| {
        Err(PlanFileProblem::Escaped {
            character: crate::printable::describe(c),
            excerpt: crate::printable::escape(&text.chars().take(40).collect::<String>())
                .into_owned(),
        })
    };
    // An explicit stack: serde_json limits nesting to 128, this never recurses at all.
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            serde_json::Value::String(text) => {
                if let Some(c) = crate::printable::forbidden_in_value(text) {
                    return refuse(text, c);
                }
            }
            serde_json::Value::Array(items) => pending.extend(items),
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    if let Some(c) = crate::printable::forbidden_in_value(key) {
                        return refuse(key, c);
                    }
                    pending.push(item);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes the saved plan: the changes and the fingerprints they were computed from.
///
/// # Errors
///
/// [`SavedPlanError`]: the manifest or lock cannot be read, or the plan cannot be written.
pub fn save(
    desired: &crate::model::Desired,
    plan: &crate::plan::Plan,
    out: &Path,
) -> Result<(), SavedPlanError> {
    let manifest_sha256 = file_sha256(&desired.manifest_path)
        .map_err(|error| SavedPlanError::Fingerprint {
            path: desired.manifest_path.clone(),
            error,
        })?
        .unwrap_or_default();
    let lock_path = crate::lock::path_for(&desired.manifest_path);
    let lock_sha256 = file_sha256(&lock_path).map_err(|error| SavedPlanError::Fingerprint {
        path: lock_path.clone(),
        error,
    })?;
    let instances = plan
        .instances
        .iter()
        .map(|instance| SavedInstance {
            name: instance.name.clone(),
            live_sha256: instance
                .live
                .as_ref()
                .map(live_fingerprint)
                .unwrap_or_default(),
            changes: instance
                .result
                .as_ref()
                .map(saved_changes)
                .unwrap_or_default(),
            files: instance
                .result
                .as_ref()
                .map(read_file_fingerprints)
                .unwrap_or_default(),
        })
        .collect();
    let saved = SavedPlan {
        saved_plan_version: SAVED_PLAN_VERSION,
        manifest: relative_manifest(&desired.manifest_path, out),
        manifest_sha256,
        lock_sha256,
        instances,
    };
    saved.write(out)
}

/// Every way the world differs from what a saved plan was made from.
///
/// The manifest, the lock, every instance's live state, the files it uploads and the recomputed
/// changes must be exactly those `expected` was saved with; each difference is one reason.
pub fn stale_reasons(
    desired: &crate::model::Desired,
    plan: &crate::plan::Plan,
    expected: &SavedPlan,
) -> Vec<String> {
    let mut reasons = Vec::new();
    match file_sha256(&desired.manifest_path) {
        Ok(Some(hash)) if hash == expected.manifest_sha256 => {}
        _ => reasons.push(format!(
            "the manifest `{}` changed",
            desired.manifest_path.display()
        )),
    }
    let lock_path = crate::lock::path_for(&desired.manifest_path);
    match file_sha256(&lock_path) {
        Ok(hash) if hash == expected.lock_sha256 => {}
        _ => reasons.push(format!("the lock file `{}` changed", lock_path.display())),
    }
    for saved_instance in &expected.instances {
        let Some(planned) = plan
            .instances
            .iter()
            .find(|planned| planned.name == saved_instance.name)
        else {
            reasons.push(format!(
                "instance `{}` is gone from the manifest",
                saved_instance.name
            ));
            continue;
        };
        match &planned.live {
            Some(live) if live_fingerprint(live) == saved_instance.live_sha256 => {}
            Some(_) => reasons.push(format!(
                "the installed apps of `{}` changed since the plan",
                saved_instance.name
            )),
            None => reasons.push(format!("`{}` could not be read", saved_instance.name)),
        }
        if let Ok(planned) = &planned.result {
            if read_file_fingerprints(planned) != saved_instance.files {
                reasons.push(format!(
                    "a file `{}` uploads changed since the plan",
                    saved_instance.name
                ));
            }
        }
        let now = planned.result.as_ref().ok().map(saved_changes);
        match now {
            Some(now) if same_changes(&now, &saved_instance.changes) => {}
            _ => reasons.push(format!(
                "the changes for `{}` are no longer those of the plan (a license, the Marketplace or the lock differ)",
                saved_instance.name
            )),
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed hash is the digest of the whole file, across many buffers; a missing file is `None`.
    #[test]
    fn file_sha256_streams_the_whole_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("big.bin");
        let bytes: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            file_sha256(&path).unwrap(),
            Some(hex::encode(Sha256::digest(&bytes)))
        );
        assert_eq!(file_sha256(&folder.path().join("missing")).unwrap(), None);
        assert!(file_sha256(folder.path()).is_err());
    }
}
