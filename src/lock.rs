//! The lock file (`apps.lock` beside `apps.yaml`): for each instance and app, the exact version,
//! Marketplace build number, artifact location and sha256 that `upmsync lock` resolved. Plan and
//! apply use it instead of asking the Marketplace; a manifest change it does not cover stops them.
//! Deterministic (sorted maps, no timestamps) and free of secrets.
//!
//! Read with serde-saphyr after a pass over granit-parser's events (the same parser as the
//! manifest's), so that every problem names its line, column and entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::model::{
    AppKey, Artifact, Compatibility, Delivery, Desired, DesiredState, Hosting, InstallMethod,
    Location, PresentApp, Sha256, Source, Version,
};

/// The lock format's version; a file with another is refused.
pub const LOCK_VERSION: u32 = 1;

/// Why the lock file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("failed to read the lock file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the lock file `{}` is not valid: {problem}", path.display())]
    Invalid { path: PathBuf, problem: LockProblem },
    /// What would be written does not read back (a server value the loader refuses).
    #[error("refusing to write the lock file `{}`: {problem}", path.display())]
    Unreadable { path: PathBuf, problem: LockProblem },
    #[error("failed to write the lock file `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LockError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            LockError::Invalid { .. } => {
                Some("run `upmsync lock --update` to write it anew".into())
            }
            _ => None,
        }
    }
}

/// Why the bytes of a lock file are not a lock: the first problem found, where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockProblem {
    /// A problem at a place in the file (when known), within the entry that place falls in.
    #[error("{}{}{problem}", place.map(|place| format!("line {}, column {}: ", place.line, place.column)).unwrap_or_default(), entry.as_deref().unwrap_or_default())]
    Located {
        place: Option<Place>,
        /// `instance `x`: ` or `instance `x`, app `y`: `, empty outside any entry.
        entry: Option<String>,
        problem: FileProblem,
    },
    #[error("lock_version {found} is not {LOCK_VERSION}")]
    LockVersion { found: u32 },
    #[error("instance name `{name}` may contain only letters, digits, `.`, `_` and `-`")]
    InstanceName { name: String },
    #[error("instance `{instance}`: app key `{key}` {problem}")]
    AppKey {
        instance: String,
        key: String,
        problem: &'static str,
    },
    #[error("instance `{instance}`, app `{key}`: {problem}")]
    Entry {
        instance: String,
        key: String,
        problem: EntryProblem,
    },
}

/// What is wrong with the text of a lock file at a place.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    /// A byte or character no file may hold ([`crate::printable::check_file`]'s message).
    #[error("{0}")]
    Unprintable(String),
    #[error("invalid YAML: {0}")]
    Syntax(String),
    #[error("a lock file is one YAML document, found a second one")]
    SecondDocument,
    #[error("a value holds {character}, written as an escape (`{value}`)")]
    Escaped { character: String, value: String },
    /// The YAML does not have the lock's shape (serde-saphyr's message, without its place).
    #[error("{0}")]
    Shape(String),
}

/// What is wrong with the values of one lock entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    #[error("`requested` is empty")]
    RequestedEmpty,
    #[error("`source` is empty")]
    SourceEmpty,
    #[error("`version` is empty")]
    VersionEmpty,
    #[error("`version` holds whitespace")]
    VersionWhitespace,
    #[error("`version` is not a plugin version: {0}")]
    VersionInvalid(crate::version::InvalidVersion),
    #[error("has both `url` and `path`")]
    UrlAndPath,
    #[error("has neither `url` nor `path`")]
    NoLocation,
    #[error("`url` must be http or https, found `{scheme}`")]
    UrlScheme { scheme: String },
    #[error("`url` must not carry credentials")]
    UrlCredentials,
    #[error("`path` is empty")]
    PathEmpty,
    #[error("a `path` must be delivered by `upload`, found `uri`")]
    PathByUri,
    #[error("a compatibility range runs backwards ({min} > {max})")]
    RangeBackwards { min: u64, max: u64 },
}

/// The whole lock file: its format version and each instance's locked apps, by instance name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub lock_version: u32,
    pub instances: BTreeMap<String, LockedInstance>,
}

/// One instance's entry: its hosting and its locked apps, by key.
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

/// One app's entry: what the manifest asked for and the exact artifact it resolved to.
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

/// Why a lock entry cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockEntryError {
    /// It names neither `url` nor `path` (a hand-edited file: [`Lock::load`] refuses one).
    #[error("the lock file's entry has neither `url` nor `path`")]
    NoLocation,
}

impl LockEntryError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::NoLocation => Some("run `upmsync lock --update` to write it anew".into()),
        }
    }
}

impl LockedApp {
    /// The release this entry pins, delivered as locked: the artifact is always verified against
    /// its sha256, and the planner decides how it reaches UPM ([`crate::plan::decide`]). An entry
    /// names a `url` or a `path` (as [`Lock::load`] checks); the error says it names neither.
    pub fn release(&self, base: &Path) -> Result<crate::resolve::Release, LockEntryError> {
        let location = match (&self.url, &self.path) {
            (Some(url), _) => Location::Url(url.clone()),
            (None, Some(path)) => Location::File(base.join(path)),
            (None, None) => return Err(LockEntryError::NoLocation),
        };
        Ok(crate::resolve::Release {
            version: Version::from_server(&self.version),
            artifact: Artifact {
                location,
                delivery: self.delivery,
                sha256: Some(self.sha256.clone()),
            },
            compatibility: self.compatibility.clone(),
            build_number: self.build_number,
        })
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

/// `path` relative to `base` with `/` separators (as written in the lock); `path` itself, so
/// written, when it is not under `base`.
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
            .map_err(|problem| LockError::Invalid { path, problem })
    }

    /// Parses and checks the bytes of a lock file; the error is the reason, for [`LockError::Invalid`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Lock, LockProblem> {
        let text = crate::printable::check_file(bytes).map_err(|fault| LockProblem::Located {
            place: Some(Place {
                line: fault.line,
                column: fault.column,
            }),
            entry: None,
            problem: FileProblem::Unprintable(fault.message.to_string()),
        })?;
        // Read as plain YAML events first, so that a value written with an escape (`"\e"`,
        // `"\u202e"`) is refused wherever it is, and so that an error can name its entry; then
        // as the lock's types.
        let entries = scan(text)?;
        let lock: Lock = serde_saphyr::from_str(text).map_err(|error| {
            let place = error.location().map(|at| Place {
                line: usize::try_from(at.line()).unwrap_or(usize::MAX),
                column: usize::try_from(at.column()).unwrap_or(usize::MAX),
            });
            located(
                place,
                &entries,
                FileProblem::Shape(describe_yaml_error(&error)),
            )
        })?;
        if lock.lock_version != LOCK_VERSION {
            return Err(LockProblem::LockVersion {
                found: lock.lock_version,
            });
        }
        lock.check()?;
        Ok(lock)
    }

    /// Checks every value a lock entry holds, naming the first entry that is wrong.
    fn check(&self) -> Result<(), LockProblem> {
        for (name, instance) in &self.instances {
            if !valid_instance_name(name) {
                return Err(LockProblem::InstanceName {
                    name: crate::printable::escape(&shorten(name)).into_owned(),
                });
            }
            for (key, app) in &instance.apps {
                let shown_key = crate::printable::escape(&shorten(key.as_str())).into_owned();
                if let Some(problem) = app_key_problem(key.as_str()) {
                    return Err(LockProblem::AppKey {
                        instance: name.clone(),
                        key: shown_key,
                        problem,
                    });
                }
                app.check().map_err(|problem| LockProblem::Entry {
                    instance: name.clone(),
                    key: shown_key.clone(),
                    problem,
                })?;
            }
        }
        Ok(())
    }
}

impl LockedApp {
    /// What is wrong with this entry's values, if anything.
    fn check(&self) -> Result<(), EntryProblem> {
        if self.requested.trim().is_empty() {
            return Err(EntryProblem::RequestedEmpty);
        }
        if self.source.trim().is_empty() {
            return Err(EntryProblem::SourceEmpty);
        }
        if self.version.trim().is_empty() {
            return Err(EntryProblem::VersionEmpty);
        }
        // `lock` writes versions as the Marketplace names them: never with whitespace, which the
        // plugin framework would silently drop (`2.0.0 - x` reads as `2.0.0-x`).
        if self.version.chars().any(char::is_whitespace) {
            return Err(EntryProblem::VersionWhitespace);
        }
        if let Err(error) = crate::version::validate(&self.version) {
            return Err(EntryProblem::VersionInvalid(error));
        }
        match (&self.url, &self.path) {
            (Some(_), Some(_)) => return Err(EntryProblem::UrlAndPath),
            (None, None) => return Err(EntryProblem::NoLocation),
            (Some(url), None) => {
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(EntryProblem::UrlScheme {
                        scheme: url.scheme().to_string(),
                    });
                }
                // guess: a lock is shared through version control, so it never carries
                // credentials; one that does was edited by hand (or by someone else).
                if !url.username().is_empty() || url.password().is_some() {
                    return Err(EntryProblem::UrlCredentials);
                }
            }
            (None, Some(path)) => {
                if path.trim().is_empty() {
                    return Err(EntryProblem::PathEmpty);
                }
                // guess: UPM cannot fetch a file on this machine by URI; `lock` writes `upload`.
                if self.delivery == Delivery::Uri {
                    return Err(EntryProblem::PathByUri);
                }
            }
        }
        for range in &self.compatibility {
            if range.min_build > range.max_build {
                return Err(EntryProblem::RangeBackwards {
                    min: range.min_build,
                    max: range.max_build,
                });
            }
        }
        Ok(())
    }
}

/// A place in the lock file, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub line: usize,
    pub column: usize,
}

impl Place {
    fn of(marker: &granit_parser::Marker) -> Self {
        // granit-parser counts lines from 1 and columns from 0.
        Self {
            line: marker.line().max(1),
            column: marker.col() + 1,
        }
    }
}

/// Where an instance or app entry starts: `(line, instance, app)`, in file order.
type Entries = Vec<(usize, String, Option<String>)>;

/// A problem at `place`, within the entry that place falls in (when known).
fn located(place: Option<Place>, entries: &Entries, problem: FileProblem) -> LockProblem {
    let entry = place.and_then(|place| {
        entries
            .iter()
            .rev()
            .find(|(line, _, _)| *line <= place.line)
            .map(|(_, instance, app)| match app {
                Some(app) => format!("instance `{instance}`, app `{app}`: "),
                None => format!("instance `{instance}`: "),
            })
    });
    LockProblem::Located {
        place,
        entry,
        problem,
    }
}

/// serde-saphyr's message without its own rendering of the place (which [`located`] adds).
fn describe_yaml_error(error: &serde_saphyr::Error) -> String {
    let text = error.without_snippet().to_string();
    let text = text.trim();
    // guess: serde-saphyr writes a plain message as `message at line L, column C`.
    let message = text
        .rsplit_once(" at line ")
        .filter(|(_, place)| {
            place.split_once(", column ").is_some_and(|(line, column)| {
                line.parse::<u64>().is_ok() && column.parse::<u64>().is_ok()
            })
        })
        .map_or(text, |(message, _)| message);
    if message.is_empty() {
        "not a lock file".to_string()
    } else {
        message.to_string()
    }
}

/// Reads the YAML events of a lock file: refuses a syntax error, a second document and any
/// string (key or value) holding a character no file may hold, each at its line and column;
/// returns where each instance and app entry starts, for messages.
fn scan(text: &str) -> Result<Entries, LockProblem> {
    let mut entries = Entries::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut documents = 0;
    for next in granit_parser::Parser::new_from_str(text) {
        let (event, span) = next.map_err(|error| {
            located(
                Some(Place::of(error.marker())),
                &entries,
                FileProblem::Syntax(error.info().to_string()),
            )
        })?;
        let place = Place::of(&span.start);
        // Whether this event is a node in key position (then its text is the key).
        let is_key = matches!(
            stack.last(),
            Some(Open::Mapping {
                next_is_key: true,
                ..
            })
        );
        match event {
            granit_parser::Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    return Err(located(Some(place), &entries, FileProblem::SecondDocument));
                }
            }
            granit_parser::Event::Scalar(value, ..) => {
                if let Some(c) = crate::printable::forbidden_in_value(&value) {
                    return Err(located(
                        Some(place),
                        &entries,
                        FileProblem::Escaped {
                            character: crate::printable::describe(c).to_string(),
                            value: crate::printable::escape(&shorten(&value)).into_owned(),
                        },
                    ));
                }
                if is_key {
                    let path: Vec<&str> = stack
                        .iter()
                        .filter_map(|open| match open {
                            Open::Mapping { key, .. } => key.as_deref(),
                            Open::Sequence => None,
                        })
                        .collect();
                    let shown = || crate::printable::escape(&shorten(&value)).into_owned();
                    match (stack.len(), path.as_slice()) {
                        (2, ["instances"]) => entries.push((place.line, shown(), None)),
                        (4, ["instances", instance, "apps"]) => {
                            let instance =
                                crate::printable::escape(&shorten(instance)).into_owned();
                            entries.push((place.line, instance, Some(shown())));
                        }
                        _ => {}
                    }
                }
                advance(&mut stack, value.into_owned());
            }
            granit_parser::Event::Alias(_) => advance(&mut stack, String::new()),
            granit_parser::Event::SequenceStart(..) => stack.push(Open::Sequence),
            granit_parser::Event::MappingStart(..) => stack.push(Open::Mapping {
                key: None,
                next_is_key: true,
            }),
            granit_parser::Event::SequenceEnd | granit_parser::Event::MappingEnd => {
                stack.pop();
                // A collection as a key is refused by the types; as a value it completes an entry.
                advance(&mut stack, String::new());
            }
            _ => {}
        }
    }
    Ok(entries)
}

/// One open collection while scanning; a mapping knows whether its next node is a key, and its
/// last key.
enum Open {
    Sequence,
    Mapping {
        key: Option<String>,
        next_is_key: bool,
    },
}

/// Completes a node (its text when it is a scalar) inside the innermost open collection: a key is
/// remembered, a value makes the next node a key again.
fn advance(stack: &mut [Open], text: String) {
    if let Some(Open::Mapping { key, next_is_key }) = stack.last_mut() {
        if *next_is_key {
            *key = Some(text);
        }
        *next_is_key = !*next_is_key;
    }
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
        // YAML 1.2 quoting (the loader reads YAML 1.2): `version: 2.0.0` stays unquoted, `1.10`
        // is quoted so it stays text. No `%YAML` directive, so the file reads as it always did.
        let options = serde_saphyr::ser_options! {
            yaml_12: true,
            no_lang_directive: true,
        };
        // Plain data (strings, numbers, maps): serializing it cannot fail.
        let body = serde_saphyr::to_string_with_options(self, options).unwrap_or_default();
        format!("# Written by `upmsync lock`: the exact versions and artifacts the manifest resolved to.\n# Do not edit; run `upmsync lock` (or `upmsync lock --update`) again.\n{body}")
    }

    /// Writes the lock beside `manifest`, after checking it reads back: a value from a server that
    /// [`Lock::load`] would refuse (a control character in a version, say) is refused here.
    pub fn write(&self, manifest: &Path) -> Result<PathBuf, LockError> {
        let path = path_for(manifest);
        if let Err(problem) = Self::from_bytes(self.to_text().as_bytes()) {
            return Err(LockError::Unreadable { path, problem });
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
        let mut entry: LockedApp = serde_saphyr::from_str(text).unwrap();
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
        let written = serde_saphyr::to_string(&entry).unwrap();
        assert!(written.contains("hosting: server"), "{written}");
    }

    /// An entry's release is delivered as locked (the planner decides how it reaches UPM), and an
    /// entry built without a location has none.
    #[test]
    fn an_entry_pins_its_release_as_locked() {
        let text = "requested: 1.2.0\nsource: marketplace\ninstall: auto\nversion: 1.2.0\ndelivery: uri\nurl: https://m.example/a.jar\nsha256: 0000000000000000000000000000000000000000000000000000000000000000\n";
        let mut entry: LockedApp = serde_saphyr::from_str(text).unwrap();
        let release = entry.release(Path::new("/")).unwrap();
        assert_eq!(release.artifact.delivery, Delivery::Uri);
        assert!(release.artifact.sha256.is_some());
        entry.url = None;
        assert!(entry.release(Path::new("/")).is_err());
    }

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn lock_with(entry_line: &str) -> String {
        format!(
            "lock_version: 1\ninstances:\n  jira:\n    hosting: datacenter\n    apps:\n      com.a:\n        requested: 1.0.0\n        source: marketplace\n        install: auto\n        version: 1.0.0\n        delivery: uri\n        url: https://m.example/a.jar\n        sha256: {SHA}\n{entry_line}"
        )
    }

    fn reason(text: &str) -> String {
        Lock::from_bytes(text.as_bytes()).unwrap_err().to_string()
    }

    /// After the switch to serde-saphyr, every kind of problem still names its line, column and
    /// entry, once.
    #[test]
    fn problems_name_their_line_column_and_entry() {
        assert!(Lock::from_bytes(lock_with("").as_bytes()).is_ok());
        let short = lock_with("").replace(SHA, "abc");
        assert_eq!(
            reason(&short),
            "line 13, column 17: instance `jira`, app `com.a`: a sha256 must be 64 hex digits (optionally prefixed `sha256:`)"
        );
        let unknown = reason(&lock_with("        colour: red\n"));
        assert!(
            unknown.starts_with(
                "line 14, column 9: instance `jira`, app `com.a`: unknown field `colour`"
            ),
            "{unknown}"
        );
        let variant = reason(&lock_with("").replace("install: auto", "install: sideways"));
        assert!(
            variant.starts_with(
                "line 9, column 18: instance `jira`, app `com.a`: unknown variant `sideways`"
            ),
            "{variant}"
        );
        let syntax = reason(&lock_with("").replace("hosting: datacenter", "hosting: [x"));
        assert!(
            syntax.starts_with("line 5, column 9: instance `jira`: invalid YAML:"),
            "{syntax}"
        );
        let escaped = reason(&lock_with("").replace("requested: 1.0.0", "requested: \"a\\e\""));
        assert!(
            escaped.starts_with("line 7, column 20: instance `jira`, app `com.a`: a value holds the control character U+001B"),
            "{escaped}"
        );
        let second = reason(&format!("{}---\nlock_version: 1\n", lock_with("")));
        assert!(second.starts_with("line 14, column 1:"), "{second}");
        assert!(second.contains("one YAML document"), "{second}");
        assert_eq!(
            reason("lock_version: one\n"),
            "line 1, column 15: invalid u32"
        );
        assert!(reason("[]\n").starts_with("line 1, column 1: "));
        assert_eq!(
            reason("instances: {}\n"),
            "line 1, column 1: missing field `lock_version`"
        );
    }

    /// What `to_text` writes reads back as the same lock, and keeps version-like text as text.
    #[test]
    fn written_text_reads_back() {
        let lock = Lock::from_bytes(lock_with("").replace("1.0.0", "1.10").as_bytes()).unwrap();
        let text = lock.to_text();
        assert_eq!(Lock::from_bytes(text.as_bytes()).unwrap(), lock);
        assert!(text.contains("version: \"1.10\"\n"), "{text}");
        assert!(text.contains("lock_version: 1\ninstances:\n"), "{text}");
        let plain = Lock::from_bytes(lock_with("").as_bytes())
            .unwrap()
            .to_text();
        assert!(plain.contains("        version: 1.0.0\n"), "{plain}");
        assert_eq!(
            lock.instances["jira"].apps[&AppKey::new("com.a")].version,
            "1.10"
        );
    }
}
