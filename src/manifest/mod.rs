//! Reads `apps.yaml` and validates it into a [`Desired`], reporting every problem at once.
//!
//! Three steps, one file each, all before any network request:
//!
//! - `tree` parses the YAML into nodes that remember their line and column (syntax errors,
//!   duplicate mapping keys, alias and nesting limits);
//! - `schema` reads those nodes into typed entries (unknown fields, types, allowed values,
//!   required fields, versions, URLs), without IO;
//! - `validate` checks what spans entries (duplicate names and keys), reads environment
//!   variables and files, and merges per-instance app entries over the top-level ones.
//!
//! The format is documented field by field in `docs/manifest.md`.

mod schema;
mod tree;
mod validate;

pub use validate::DEFAULT_MARKETPLACE;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::Desired;

/// How strictly [`load`] treats secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Whether a missing or empty environment variable (credentials, license) is a problem.
    ///
    /// `false` serves `validate --skip-secrets`: such variables then read as empty secrets.
    pub require_secrets: bool,
    /// Only these instances (by name) are loaded, and only their secrets are required; empty means
    /// all. A name the manifest does not have is a problem.
    pub instances: Vec<String>,
    /// Whether license variables and files must be present (with `require_secrets`). `lock` and
    /// `outdated` never send a license and set this to `false`.
    pub require_licenses: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            require_secrets: true,
            instances: Vec::new(),
            require_licenses: true,
        }
    }
}

/// Loads and validates the manifest at `path`, reading secrets from the process environment.
#[expect(
    clippy::disallowed_methods,
    reason = "the manifest's `${ENV}` secrets are read from the environment, by design"
)]
pub fn load(path: &Path, options: &LoadOptions) -> Result<Desired, ManifestError> {
    load_with_env(path, options, &|name| std::env::var(name).ok())
}

/// Loads and validates the manifest at `path`, reading environment variables through `env`.
///
/// Tests and the demo inject `env` so they never touch the process environment.
pub fn load_with_env(
    path: &Path,
    options: &LoadOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Desired, ManifestError> {
    let bytes = std::fs::read(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match crate::printable::check_file(&bytes) {
        Ok(text) => parse_str(text, path, options, env),
        Err(fault) => {
            let mut problems = Problems::new(path);
            add_fault(&mut problems, &fault);
            Err(problems.into_error())
        }
    }
}

/// Records a byte-level problem of the file (not UTF-8, a NUL, a control or bidi character).
fn add_fault(problems: &mut Problems, fault: &crate::printable::Fault) {
    let message = if fault.message.contains("UTF-8") {
        "the manifest is not UTF-8 text".to_string()
    } else {
        fault.message.clone()
    };
    problems
        .add(
            Some(tree::Mark {
                line: fault.line,
                column: fault.column,
            }),
            message,
        )
        .with_hint(
            "a manifest is plain text: such a character can end the file early for the YAML parser \
             or make a reviewer read another line than upmsync does; remove it (`cat -A` shows it)",
        );
}

/// Validates manifest text into a [`Desired`].
///
/// `path` is where the text came from: it names the file in messages, and relative license and
/// source paths resolve against its folder.
pub fn parse_str(
    text: &str,
    path: &Path,
    options: &LoadOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Desired, ManifestError> {
    let mut problems = Problems::new(path);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Err(fault) = crate::printable::check_text(text) {
        add_fault(&mut problems, &fault);
        return Err(problems.into_error());
    }
    let desired = tree::parse(text, &mut problems)
        .and_then(|root| schema::read(&root, &mut problems))
        .and_then(|manifest| validate::validate(&manifest, path, options, env, &mut problems));
    match desired {
        Some(desired) if problems.list.is_empty() => Ok(desired),
        _ => Err(problems.into_error()),
    }
}

/// An instance's settings as the manifest writes them, for `upmsync import`, which writes them
/// back: environment variable names, not secrets; paths as written; a field left out is `None`
/// (or `false`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrittenInstance {
    pub name: String,
    pub url: url::Url,
    pub product: crate::model::Product,
    pub hosting: Option<crate::model::Hosting>,
    pub auth: WrittenAuth,
    pub unmanaged: Option<crate::model::UnmanagedPolicy>,
    /// `ca_file` as written (relative to the manifest's folder, or absolute).
    pub ca_file: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub allow_http: bool,
}

/// `auth` as written: the names of the environment variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WrittenAuth {
    Basic {
        username_env: String,
        password_env: String,
    },
    Bearer {
        token_env: String,
    },
}

/// The parts of a manifest `upmsync import` keeps: `marketplace.url` as written (`None` when left
/// out) and the instances, in manifest order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    pub marketplace_url: Option<url::Url>,
    pub instances: Vec<WrittenInstance>,
}

/// Reads `text` (a manifest [`load`] accepted) as written. Instances that cannot be read whole
/// are left out; [`load`] has reported them.
///
/// # Errors
///
/// The manifest's problems, as [`load`] reports them.
pub fn written(text: &str, path: &Path) -> Result<Written, ManifestError> {
    let mut problems = Problems::new(path);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(manifest) =
        tree::parse(text, &mut problems).and_then(|root| schema::read(&root, &mut problems))
    else {
        return Err(problems.into_error());
    };
    let instances = manifest
        .instances
        .iter()
        .filter_map(|instance| {
            Some(WrittenInstance {
                name: instance.name.as_ref()?.0.clone(),
                url: instance.url.clone()?,
                product: instance.product?,
                hosting: instance.hosting,
                auth: match instance.auth.as_ref()? {
                    schema::Auth::Basic {
                        username_env,
                        password_env,
                    } => WrittenAuth::Basic {
                        username_env: username_env.name.clone(),
                        password_env: password_env.name.clone(),
                    },
                    schema::Auth::Bearer { token_env } => WrittenAuth::Bearer {
                        token_env: token_env.name.clone(),
                    },
                },
                unmanaged: instance.unmanaged,
                ca_file: instance.ca_file.as_ref().map(|(path, _)| path.clone()),
                insecure_skip_tls_verify: instance.insecure_skip_tls_verify.unwrap_or(false),
                allow_http: instance.allow_http.unwrap_or(false),
            })
        })
        .collect();
    Ok(Written {
        marketplace_url: manifest.marketplace_url,
        instances,
    })
}

/// Why the manifest could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read at all.
    #[error("failed to read manifest `{}`", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// The file was read but is not a valid manifest; `problems` lists every problem found.
    #[error("{}", render_invalid(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl ManifestError {
    /// The problems found, empty for [`ManifestError::Read`].
    pub fn problems(&self) -> &[Problem] {
        match self {
            ManifestError::Read { .. } => &[],
            ManifestError::Invalid { problems, .. } => problems,
        }
    }
}

fn render_invalid(path: &Path, problems: &[Problem]) -> String {
    let count = problems.len();
    let noun = if count == 1 { "problem" } else { "problems" };
    let mut text = format!("manifest `{}` has {count} {noun}", path.display());
    for problem in problems {
        text.push('\n');
        text.push_str(&problem.to_string());
    }
    text
}

/// One thing wrong with the manifest, with the place it was written when YAML has one.
///
/// Displays as `apps.yaml:12:5: message`, followed by `  hint: ...` on its own line when there is
/// a hint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The manifest file, as given to [`load`].
    pub path: PathBuf,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column (in characters).
    pub column: Option<usize>,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    fn with_hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Problems collected while loading one manifest.
struct Problems {
    path: PathBuf,
    list: Vec<Problem>,
}

impl Problems {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            list: Vec::new(),
        }
    }

    /// Records a problem at `mark` (or at no particular place) and returns it so a hint can be added.
    fn add(&mut self, mark: Option<tree::Mark>, message: impl Into<String>) -> &mut Problem {
        self.list.push(Problem {
            path: self.path.clone(),
            line: mark.map(|mark| mark.line),
            column: mark.map(|mark| mark.column),
            message: message.into(),
            hint: None,
        });
        let last = self.list.len() - 1;
        &mut self.list[last]
    }

    /// The problems in file order: whole-file problems first, then by line and column.
    fn into_error(mut self) -> ManifestError {
        if self.list.is_empty() {
            // Every path that fails records a problem first; this keeps a bug from showing as
            // "0 problems".
            self.add(None, "the manifest could not be validated (internal error)");
        }
        self.list
            .sort_by_key(|problem| (problem.line.is_some(), problem.line, problem.column));
        self.list.dedup();
        ManifestError::Invalid {
            path: self.path,
            problems: self.list,
        }
    }
}

/// A user value as it may appear in a message: at most 40 characters, control and bidi
/// characters escaped.
fn shown(text: &str) -> String {
    const LIMIT: usize = 40;
    if text.chars().count() <= LIMIT {
        crate::printable::escape(text).into_owned()
    } else {
        let cut: String = text.chars().take(LIMIT).collect();
        format!("{}…", crate::printable::escape(&cut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_display_has_place_message_and_hint() {
        let mut problems = Problems::new(Path::new("apps.yaml"));
        problems
            .add(
                Some(tree::Mark {
                    line: 12,
                    column: 5,
                }),
                "unknown field `verison`",
            )
            .with_hint("did you mean `version`?");
        problems.add(None, "the manifest is empty");
        let error = problems.into_error();
        assert_eq!(
            error.to_string(),
            "manifest `apps.yaml` has 2 problems\n\
             apps.yaml: the manifest is empty\n\
             apps.yaml:12:5: unknown field `verison`\n  hint: did you mean `version`?"
        );
    }

    #[test]
    fn one_problem_is_singular() {
        let mut problems = Problems::new(Path::new("a.yaml"));
        problems.add(Some(tree::Mark { line: 1, column: 1 }), "x");
        assert!(problems
            .into_error()
            .to_string()
            .starts_with("manifest `a.yaml` has 1 problem\n"));
    }

    #[test]
    fn shown_truncates_long_values() {
        assert_eq!(shown("short"), "short");
        let long = "x".repeat(100);
        assert_eq!(shown(&long).chars().count(), 41);
    }
}
