//! Crate-wide error helpers: the one walk over an error's cause chain, the one way to collect the
//! hints of the crate's error types along it, and the one text an error is shown as.
//!
//! Each error type describes only its own layer and names its cause with `#[source]`, never in its
//! message as well; its advice is a value ([`hints`]), not part of `Display`, so a wrapper or a
//! printer decides where it goes.

use std::error::Error;
use std::sync::Arc;

use crate::artifact::ArtifactError;
use crate::execute::ChangeError;
use crate::marketplace::download::DownloadError;
use crate::marketplace::MarketplaceError;
use crate::upm::UpmError;

/// The error and its causes, outermost first.
pub fn chain<'a>(
    error: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    let mut next = Some(error);
    std::iter::from_fn(move || {
        let current = next?;
        next = current.source();
        Some(current)
    })
}

/// The innermost cause (the error itself when it has none).
pub fn root_cause<'a>(error: &'a (dyn Error + 'static)) -> &'a (dyn Error + 'static) {
    chain(error).last().unwrap_or(error)
}

/// The error and its causes on one line, `a: b: c` (for errors of libraries, whose layers are
/// short phrases).
pub fn chain_text(error: &(dyn Error + 'static)) -> String {
    chain(error)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// An error several results share (one client that cannot be built fails every instance alike):
/// it shows, chains and hints as the error it holds.
#[derive(Clone, Debug)]
pub struct Shared(Arc<dyn Error + Send + Sync>);

impl Shared {
    /// Shares `error`.
    pub fn new(error: impl Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(error))
    }

    /// The error it holds.
    pub fn get(&self) -> &(dyn Error + 'static) {
        &*self.0
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Error for Shared {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.source()
    }
}

/// The hints of every error in the chain that has one, outermost first, each once; an error that
/// holds others besides its source (a list of problems, a restore that failed too: [`held`])
/// gives their hints after its own.
pub fn hints(error: &(dyn Error + 'static)) -> Vec<String> {
    let mut hints: Vec<String> = Vec::new();
    collect_hints(error, &mut hints);
    hints
}

fn collect_hints(error: &(dyn Error + 'static), hints: &mut Vec<String>) {
    for cause in chain(error) {
        if let Some(hint) = hint_of(cause) {
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
        for other in held(cause) {
            collect_hints(other, hints);
        }
    }
}

/// The errors one error holds besides its source, which its message shows without their hints
/// ([`causes_text`]): the problems of a list, a second failure.
fn held<'a>(cause: &'a (dyn Error + 'static)) -> Vec<&'a (dyn Error + 'static)> {
    if let Some(shared) = cause.downcast_ref::<Shared>() {
        held(shared.get())
    } else if let Some(error) = cause.downcast_ref::<crate::ops::InstanceError>() {
        error.held()
    } else if let Some(error) = cause.downcast_ref::<crate::ops::lock::LockInstanceError>() {
        error.held()
    } else if let Some(error) = cause.downcast_ref::<ChangeError>() {
        error.held()
    } else if let Some(error) = cause.downcast_ref::<UpmError>() {
        error.held()
    } else {
        Vec::new()
    }
}

/// The hint of one error (not of its causes), if its type has one.
fn hint_of(cause: &(dyn Error + 'static)) -> Option<String> {
    if let Some(shared) = cause.downcast_ref::<Shared>() {
        return hint_of(shared.get());
    }
    {
        if let Some(error) = cause.downcast_ref::<UpmError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<MarketplaceError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::marketplace::InsecureLink>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::resolve::ResolveCause>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::lock::LockError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::lock::LockEntryError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::execute::FetchError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::execute::PrepareError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::metrics::MetricsError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::commands::serve::ServeError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::plan::PlanError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::plan::LockLocationError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<DownloadError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<ArtifactError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<ChangeError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::instance_lock::InstanceLockError>()
        {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::commands::apply::ReportError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::ops::InstanceError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::files::SameFile>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::ops::import::ImportError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::saved::SavedPlanError>() {
            error.hint()
        } else if let Some(error) =
            cause.downcast_ref::<crate::marketplace::publish::PublishError>()
        {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::marketplace::publish::CreateError>()
        {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::ops::publish::PublishRunError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::ops::publish::BuildNumberError>() {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::ops::publish::MarketplaceUrlError>()
        {
            error.hint()
        } else if let Some(error) =
            cause.downcast_ref::<crate::commands::publish::MissingCredentials>()
        {
            error.hint()
        } else if let Some(error) = cause.downcast_ref::<crate::commands::publish::EmailWithColon>()
        {
            error.hint()
        } else {
            None
        }
    }
}

/// An error as the user reads it: its message, each cause once as `Caused by: …` on a line of its
/// own, then its hints as `hint: …` lines.
pub fn error_text(error: &(dyn Error + 'static)) -> String {
    let mut text = causes_text(error);
    for hint in hints(error) {
        text.push_str("\nhint: ");
        text.push_str(&hint);
    }
    text
}

/// An error and its causes as [`error_text`] shows them, without the hints: for an error shown
/// inside another's message (an item of a list), whose hints the outer error gives ([`hints`]).
pub fn causes_text(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    for cause in chain(error).skip(1) {
        text.push_str("\nCaused by: ");
        text.push_str(&cause.to_string());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] UpmError);

    #[test]
    fn the_chain_prints_once_and_hints_follow() {
        let error = Outer(UpmError::SafeMode);
        let text = error_text(&error);
        assert!(
            text.starts_with(
                "outer\nCaused by: UPM is in safe mode, so it cannot install or uninstall apps\nhint: exit safe mode"
            ),
            "{text}"
        );
        assert_eq!(hints(&error).len(), 1);
        assert_eq!(chain(&error).count(), 2);
        assert_eq!(
            root_cause(&error).to_string(),
            UpmError::SafeMode.to_string()
        );
    }

    #[test]
    fn a_list_shows_its_problems_without_hints_and_gives_theirs_after_the_causes() {
        let key = |key: &str| crate::model::AppKey::new(key);
        let error = crate::ops::InstanceError::Plan {
            instance: "jira".into(),
            errors: vec![
                crate::plan::PlanError::SystemApp { key: key("a.b") },
                crate::plan::PlanError::NotUsingLicensing { key: key("c.d") },
            ],
        };
        assert!(!error.to_string().contains("hint"), "{error}");
        assert_eq!(
            error_text(&error),
            "cannot plan `jira`:\n- `a.b` is a system app (bundled with the product, `userInstalled: false`): upmsync never changes system apps\n- `c.d` does not use licensing (UPM would answer 412), but the manifest manages its license\nhint: remove `a.b` from the manifest\nhint: remove `license` from `c.d`"
        );
    }
}
