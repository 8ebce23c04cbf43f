//! Why an instance could not be read or planned: one value per failed step, each describing only
//! its own step, with the cause as its source.

use std::path::PathBuf;

use crate::error::Shared;
use crate::plan::PlanError;
use crate::resolve::ResolveError;
use crate::upm::UpmError;

/// Why one instance has no plan. A plan shows it as text ([`crate::error::error_text`]).
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// An HTTP client could not be built (a bad proxy, an unreadable CA file). Shared: the
    /// Marketplace's client fails every instance alike.
    #[error("failed to set up an HTTP client")]
    SetUp(#[source] Shared),
    /// The lock file could not be read (shared by every instance).
    #[error(transparent)]
    Lock(Shared),
    /// The lock file does not cover what the manifest asks of this instance.
    #[error("the lock file `{}` does not cover the manifest:{}", path.display(), list(gaps))]
    StaleLock {
        /// The lock file.
        path: PathBuf,
        /// What it falls short in, one line each.
        gaps: Vec<String>,
    },
    /// UPM could not be read.
    #[error("failed to read the installed apps of `{instance}`")]
    Read {
        /// The instance's name.
        instance: String,
        /// Why.
        #[source]
        source: UpmError,
    },
    /// Some wanted version could not be resolved (each reason a line of its own, with its
    /// causes: [`ResolveError::line`]; their hints are this error's).
    #[error("cannot resolve the versions of `{instance}`:{}", list(&errors.iter().map(ResolveError::line).collect::<Vec<_>>()))]
    Resolve {
        /// The instance's name.
        instance: String,
        /// One per app.
        errors: Vec<ResolveError>,
    },
    /// The planner refused (a system app, an incompatible pin, ...), one reason per app.
    #[error("cannot plan `{instance}`:{}", list(&errors.iter().map(PlanError::to_string).collect::<Vec<_>>()))]
    Plan {
        /// The instance's name.
        instance: String,
        /// One per app (their hints are this error's).
        errors: Vec<PlanError>,
    },
}

impl InstanceError {
    /// Whether the message already names the instance (reading, resolving, planning it), so a
    /// caller that lists errors by instance does not name it a second time.
    pub fn names_instance(&self) -> bool {
        matches!(
            self,
            Self::Read { .. } | Self::Resolve { .. } | Self::Plan { .. }
        )
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::StaleLock { .. } => Some("run `upmsync lock` to lock what changed (or `upmsync lock --update` to re-resolve everything)".into()),
            // Transparent: the chain walker never meets the lock file's error itself.
            Self::Lock(shared) => crate::error::hints(shared.get()).into_iter().next(),
            _ => None,
        }
    }

    /// The problems of a list, whose hints are this error's ([`crate::error::hints`]).
    pub fn held(&self) -> Vec<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Resolve { errors, .. } => errors.iter().map(|error| error as _).collect(),
            Self::Plan { errors, .. } => errors.iter().map(|error| error as _).collect(),
            _ => Vec::new(),
        }
    }
}

/// `\n- a\n- b`, continuation lines indented under their item.
fn list(items: &[String]) -> String {
    items
        .iter()
        .map(|item| format!("\n- {}", item.replace('\n', "\n  ")))
        .collect()
}
