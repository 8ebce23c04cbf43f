//! The lock file (`apps.lock` beside `apps.yaml`): for each instance and app, the exact version,
//! Marketplace build number, artifact location and sha256 that `upmsync lock` resolved. Plan and
//! apply use it instead of asking the Marketplace; a manifest change it does not cover stops them.
//! Deterministic (sorted maps, no timestamps) and free of secrets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::model::{
    AppKey, Artifact, Compatibility, Delivery, Desired, DesiredState, Hosting, InstallMethod,
    Location, PresentApp, Sha256, Source, Target, Version,
};

/// The lock format's version; a file with another is refused.
pub const LOCK_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("failed to read the lock file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the lock file `{}` is not valid: {reason}\nhint: run `upmsync lock --update` to write it anew", path.display())]
    Invalid { path: PathBuf, reason: String },
    /// What would be written does not read back (a server value the loader refuses).
    #[error("refusing to write the lock file `{}`: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("failed to write the lock file `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub lock_version: u32,
    pub instances: BTreeMap<String, LockedInstance>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedInstance {
    pub hosting: Hosting,
    /// The product build the versions were resolved for (informational: compatibility is checked
    /// against the build the instance reports at plan time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_build: Option<u64>,
    pub apps: BTreeMap<AppKey, LockedApp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedApp {
    /// What the manifest asked for (`8.28.1`, `latest`, `>=8.20, <9`), to tell when it changed.
    pub requested: String,
    /// `marketplace`, or the `url`/`path` the manifest gave (paths relative to the manifest).
    pub source: String,
    /// The manifest's `install` (`auto`, `uri`, `upload`).
    pub install: InstallMethod,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_number: Option<u64>,
    /// How the artifact reaches UPM.
    pub delivery: Delivery,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub sha256: Sha256,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compatibility: Vec<Compatibility>,
    /// The app's own `hosting` when it differs from the instance's (absent otherwise, and in lock
    /// files written before apps had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosting: Option<Hosting>,
    /// The manifest's `allow_incompatible` for a `latest` or constraint (it changes what they
    /// resolve to); absent when `false`, and for exact versions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_incompatible: bool,
}

impl LockedApp {
    /// The target this entry pins: the artifact is always verified against its sha256.
    pub fn target(&self, base: &Path) -> Target {
        let location = match (&self.url, &self.path) {
            (Some(url), _) => Location::Url(url.clone()),
            (None, Some(path)) => Location::File(base.join(path)),
            (None, None) => Location::File(PathBuf::new()),
        };
        Target {
            version: Version::from_server(&self.version),
            artifact: Some(Artifact {
                location,
                // Pinned: with `install: auto` the verified bytes are uploaded (what was verified
                // is what gets installed); `install: uri` trusts UPM's own download.
                delivery: crate::resolve::delivery(self.install, self.delivery, true),
                sha256: Some(self.sha256.clone()),
            }),
            compatibility: self.compatibility.clone(),
            build_number: self.build_number,
            restore: None,
        }
    }

    /// Whether this entry still answers what the manifest asks.
    pub fn covers(&self, present: &PresentApp, base: &Path) -> bool {
        self.requested == present.version.to_string()
            && self.source == source_text(&present.source, base)
            && self.install == present.install
            && self.hosting == present.hosting
            && self.allow_incompatible == locks_allow_incompatible(present)
            && present
                .sha256
                .as_ref()
                .is_none_or(|pinned| pinned == &self.sha256)
    }
}

/// What a lock entry records as `allow_incompatible`: it matters only where it chooses the version.
pub fn locks_allow_incompatible(present: &PresentApp) -> bool {
    present.allow_incompatible && !matches!(present.version, crate::version::VersionSpec::Exact(_))
}

/// The lock file of a manifest: `apps.yaml` -> `apps.lock`, beside it.
pub fn path_for(manifest: &Path) -> PathBuf {
    let stem = manifest
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "apps".into());
    manifest.with_file_name(format!("{stem}.lock"))
}

/// How a source is written in the lock (paths relative to the manifest folder, so the lock is the
/// same on every machine).
pub fn source_text(source: &Source, base: &Path) -> String {
    match source {
        Source::Marketplace => "marketplace".into(),
        Source::Url(url) => format!("url {url}"),
        Source::Path(path) => format!("path {}", relative(path, base)),
    }
}

pub fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

impl Lock {
    /// Reads the lock beside a manifest; `None` when there is none.
    ///
    /// Every byte and every value is checked before any is used: the file is UTF-8 text without
    /// NUL, control or bidi characters (named by line and column), one YAML document, and each
    /// entry holds a valid instance name, app key, version, sha256 and location.
    pub fn load(manifest: &Path) -> Result<Option<Lock>, LockError> {
        let path = path_for(manifest);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LockError::Read { path, source }),
        };
        Self::from_bytes(&bytes)
            .map(Some)
            .map_err(|reason| LockError::Invalid { path, reason })
    }

    /// Parses and checks the bytes of a lock file; the error is the reason, for [`LockError::Invalid`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Lock, String> {
        let text = crate::printable::check_file(bytes).map_err(|fault| {
            format!(
                "line {}, column {}: {}",
                fault.line, fault.column, fault.message
            )
        })?;
        // Read as plain YAML first, so that a value written with an escape (`"\e"`, `"\u202e"`)
        // is refused wherever it is, then as the lock's types.
        let value: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|error| error.to_string())?;
        check_strings(&value, "")?;
        let lock: Lock = match serde_yaml::from_value(value.clone()) {
            Ok(lock) => lock,
            Err(error) => return Err(locate(&value).unwrap_or_else(|| error.to_string())),
        };
        if lock.lock_version != LOCK_VERSION {
            return Err(format!(
                "lock_version {} is not {LOCK_VERSION}",
                lock.lock_version
            ));
        }
        lock.check()?;
        Ok(lock)
    }

    /// Checks every value a lock entry holds, naming the first entry that is wrong.
    fn check(&self) -> Result<(), String> {
        for (name, instance) in &self.instances {
            if !valid_instance_name(name) {
                return Err(format!(
                    "instance name `{}` may contain only letters, digits, `.`, `_` and `-`",
                    crate::printable::escape(&shorten(name))
                ));
            }
            for (key, app) in &instance.apps {
                let shown_key = crate::printable::escape(&shorten(key.as_str())).into_owned();
                if let Some(problem) = app_key_problem(key.as_str()) {
                    return Err(format!(
                        "instance `{name}`: app key `{shown_key}` {problem}"
                    ));
                }
                app.check().map_err(|problem| {
                    format!("instance `{name}`, app `{shown_key}`: {problem}")
                })?;
            }
        }
        Ok(())
    }
}

impl LockedApp {
    /// What is wrong with this entry's values, if anything.
    fn check(&self) -> Result<(), String> {
        if self.requested.trim().is_empty() {
            return Err("`requested` is empty".into());
        }
        if self.source.trim().is_empty() {
            return Err("`source` is empty".into());
        }
        if self.version.trim().is_empty() {
            return Err("`version` is empty".into());
        }
        // `lock` writes versions as the Marketplace names them: never with whitespace, which the
        // plugin framework would silently drop (`2.0.0 - x` reads as `2.0.0-x`).
        if self.version.chars().any(char::is_whitespace) {
            return Err("`version` holds whitespace".into());
        }
        if let Err(error) = crate::version::validate(&self.version) {
            return Err(format!("`version` is not a plugin version: {error}"));
        }
        match (&self.url, &self.path) {
            (Some(_), Some(_)) => return Err("has both `url` and `path`".into()),
            (None, None) => return Err("has neither `url` nor `path`".into()),
            (Some(url), None) => {
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(format!(
                        "`url` must be http or https, found `{}`",
                        url.scheme()
                    ));
                }
                // guess: a lock is shared through version control, so it never carries
                // credentials; one that does was edited by hand (or by someone else).
                if !url.username().is_empty() || url.password().is_some() {
                    return Err("`url` must not carry credentials".into());
                }
            }
            (None, Some(path)) => {
                if path.trim().is_empty() {
                    return Err("`path` is empty".into());
                }
                // guess: UPM cannot fetch a file on this machine by URI; `lock` writes `upload`.
                if self.delivery == Delivery::Uri {
                    return Err("a `path` must be delivered by `upload`, found `uri`".into());
                }
            }
        }
        for range in &self.compatibility {
            if range.min_build > range.max_build {
                return Err(format!(
                    "a compatibility range runs backwards ({} > {})",
                    range.min_build, range.max_build
                ));
            }
        }
        Ok(())
    }
}

/// The first app entry that does not read as one, named by instance and key (serde's own error
/// from the whole file says what is wrong but not where).
fn locate(value: &serde_yaml::Value) -> Option<String> {
    let instances = value.get("instances")?.as_mapping()?;
    for (name, instance) in instances {
        let name = crate::printable::escape(&shorten(name.as_str().unwrap_or("?"))).into_owned();
        let Some(apps) = instance.get("apps").and_then(serde_yaml::Value::as_mapping) else {
            continue;
        };
        for (key, app) in apps {
            if let Err(error) = serde_yaml::from_value::<LockedApp>(app.clone()) {
                let key =
                    crate::printable::escape(&shorten(key.as_str().unwrap_or("?"))).into_owned();
                return Some(format!("instance `{name}`, app `{key}`: {error}"));
            }
        }
    }
    None
}

/// Refuses a string (key or value) anywhere in `value` that holds a character no file may hold.
fn check_strings(value: &serde_yaml::Value, at: &str) -> Result<(), String> {
    let refuse = |text: &str, c: char| {
        Err(format!(
            "a value{} holds {}, written as an escape (`{}`)",
            if at.is_empty() {
                String::new()
            } else {
                format!(" under `{at}`")
            },
            crate::printable::describe(c),
            crate::printable::escape(&shorten(text))
        ))
    };
    // An explicit stack: a lock nested deep must not overflow ours.
    let mut pending = vec![(value, at.to_string())];
    while let Some((value, at)) = pending.pop() {
        match value {
            serde_yaml::Value::String(text) => {
                if let Some(c) = crate::printable::forbidden_in_value(text) {
                    return refuse(text, c);
                }
            }
            serde_yaml::Value::Sequence(items) => {
                pending.extend(items.iter().map(|item| (item, at.clone())));
            }
            serde_yaml::Value::Mapping(mapping) => {
                for (key, item) in mapping {
                    let name = match key {
                        serde_yaml::Value::String(text) => {
                            if let Some(c) = crate::printable::forbidden_in_value(text) {
                                return refuse(text, c);
                            }
                            text.clone()
                        }
                        _ => String::new(),
                    };
                    pending.push((key, at.clone()));
                    pending.push((item, crate::printable::escape(&shorten(&name)).into_owned()));
                }
            }
            serde_yaml::Value::Tagged(tagged) => pending.push((&tagged.value, at)),
            _ => {}
        }
    }
    Ok(())
}

/// The manifest's rule for instance names.
fn valid_instance_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Why an app key read from a file is not one, if it is not (the manifest's rules).
fn app_key_problem(key: &str) -> Option<&'static str> {
    if key.trim().is_empty() {
        Some("is empty")
    } else if key.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else if key.contains('/') {
        Some("contains `/`")
    } else if crate::printable::forbidden_in_value(key).is_some() {
        Some("contains a control or bidirectional character")
    } else {
        None
    }
}

/// At most 40 characters of a value, for a message.
fn shorten(text: &str) -> String {
    let mut cut: String = text.chars().take(40).collect();
    if text.chars().nth(40).is_some() {
        cut.push('…');
    }
    cut
}

impl Lock {
    /// The same bytes for the same content.
    pub fn to_text(&self) -> String {
        let body = serde_yaml::to_string(self).unwrap_or_default();
        format!("# Written by `upmsync lock`: the exact versions and artifacts the manifest resolved to.\n# Do not edit; run `upmsync lock` (or `upmsync lock --update`) again.\n{body}")
    }

    /// Writes the lock beside `manifest`, after checking it reads back: a value from a server that
    /// [`Lock::load`] would refuse (a control character in a version, say) is refused here.
    pub fn write(&self, manifest: &Path) -> Result<PathBuf, LockError> {
        let path = path_for(manifest);
        if let Err(reason) = Self::from_bytes(self.to_text().as_bytes()) {
            return Err(LockError::Unreadable { path, reason });
        }
        // A manifest named `*.lock` is its own lock path: never overwrite it.
        if path == manifest || crate::files::same_file(&path, manifest) {
            return Err(LockError::Write {
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "it is the manifest itself; rename the manifest so it does not end in `.lock`",
                ),
                path,
            });
        }
        // Atomic and owner-only: the lock names artifact URLs (internal hosts) and hashes.
        crate::files::write_private(&path, self.to_text().as_bytes()).map_err(|source| {
            LockError::Write {
                path: path.clone(),
                source,
            }
        })?;
        Ok(path)
    }

    /// Every way the lock falls short of the manifest (for the selected instances), as messages.
    /// `base` is the folder relative paths resolve against ([`base_of`], which reads the file
    /// system, is the caller's step).
    pub fn gaps(&self, desired: &Desired, base: &Path) -> BTreeMap<String, Vec<String>> {
        let mut gaps = BTreeMap::new();
        for instance in &desired.instances {
            let mut missing = Vec::new();
            match self.instances.get(&instance.name) {
                None => missing.push("the instance is not in the lock".to_string()),
                Some(locked) => {
                    if locked.hosting != instance.hosting {
                        missing.push(format!(
                            "the hosting changed to `{}`",
                            instance.hosting.as_str()
                        ));
                    }
                    for app in instance.apps.values() {
                        let DesiredState::Present(present) = &app.state else {
                            continue;
                        };
                        match locked.apps.get(&app.key) {
                            None => missing.push(format!("`{}` is not locked", app.key)),
                            Some(entry) if !entry.covers(present, base) => missing.push(format!(
                                "`{}` changed (locked: `{}` from {})",
                                app.key, entry.requested, entry.source
                            )),
                            Some(_) => {}
                        }
                    }
                }
            }
            if !missing.is_empty() {
                gaps.insert(instance.name.clone(), missing);
            }
        }
        gaps
    }
}

/// The folder relative paths in the manifest (and the lock) resolve against.
pub fn base_of(manifest: &Path) -> PathBuf {
    let parent = manifest.parent().unwrap_or(Path::new("."));
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf())
}

/// A target of an instance with its lock base: relative paths in the lock resolve against the manifest.
pub fn locked_target(locked: &LockedApp, manifest: &Path) -> Target {
    locked.target(&base_of(manifest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::VersionSpec;

    fn present(hosting: Option<Hosting>) -> PresentApp {
        PresentApp {
            version: VersionSpec::Latest,
            enabled: true,
            license: crate::model::DesiredLicense::Unmanaged,
            source: Source::Marketplace,
            install: InstallMethod::Auto,
            sha256: None,
            allow_incompatible: false,
            hosting,
        }
    }

    /// A lock entry written before apps had a `hosting` still reads, and covers an app without one.
    #[test]
    fn an_apps_own_hosting_is_part_of_what_the_lock_covers() {
        let text = "requested: latest\nsource: marketplace\ninstall: auto\nversion: 1.2.0\ndelivery: uri\nurl: https://m.example/a.jar\nsha256: 0000000000000000000000000000000000000000000000000000000000000000\n";
        let mut entry: LockedApp = serde_yaml::from_str(text).unwrap();
        assert_eq!(entry.hosting, None);
        let base = Path::new("/");
        assert!(entry.covers(&present(None), base));
        assert!(!entry.covers(&present(Some(Hosting::Server)), base));
        entry.hosting = Some(Hosting::Server);
        assert!(entry.covers(&present(Some(Hosting::Server)), base));
        assert!(!entry.covers(&present(None), base));
        // `allow_incompatible` changes what `latest` means.
        let mut allowing = present(Some(Hosting::Server));
        allowing.allow_incompatible = true;
        assert!(!entry.covers(&allowing, base));
        entry.allow_incompatible = true;
        assert!(entry.covers(&allowing, base));
        let written = serde_yaml::to_string(&entry).unwrap();
        assert!(written.contains("hosting: server"), "{written}");
    }
}
