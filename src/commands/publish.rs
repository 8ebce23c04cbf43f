//! `upmsync publish`: a new version of an existing Marketplace listing from a plugin artifact
//! (`docs/publish.md`). Credentials from the environment (read in `cli.rs`) -> ops -> render ->
//! print. Exit 0 published (or a dry run checked), 1 error.

use super::Exit;
use crate::cli::PublishArgs;
use crate::http::HttpSettings;
use crate::marketplace::publish::{CreateError, PublishError, PublisherCredentials};
use crate::ops::publish::{self, PublishRequest, PublishRunError};
use crate::printer::Printer;
use crate::render::{self, PublishFormat};

/// The environment variables a publish needs, not set.
#[derive(Debug, thiserror::Error)]
#[error("{} not set: publishing needs an Atlassian account's email and API token", names(.missing))]
pub struct MissingCredentials {
    /// The variables missing (`MARKETPLACE_EMAIL`, `MARKETPLACE_API_TOKEN`).
    pub missing: Vec<&'static str>,
}

fn names(missing: &[&'static str]) -> String {
    let shown: Vec<String> = missing.iter().map(|name| format!("`{name}`")).collect();
    match shown.as_slice() {
        [one] => format!("{one} is"),
        _ => format!("{} are", shown.join(" and ")),
    }
}

impl MissingCredentials {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some("set MARKETPLACE_EMAIL to the account's email and MARKETPLACE_API_TOKEN to one of its API tokens (id.atlassian.com, Security, API tokens; in CI, from the secret store); `--dry-run` reads anonymously without them".into())
    }
}

/// `MARKETPLACE_EMAIL` holds a `:`, which Basic auth cannot carry in a user id (RFC 7617).
#[derive(Debug, thiserror::Error)]
#[error("`MARKETPLACE_EMAIL` contains a `:`, which HTTP Basic authentication cannot send in an account name")]
pub struct EmailWithColon;

impl EmailWithColon {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some("set MARKETPLACE_EMAIL to the Atlassian account's email address alone, and the API token in MARKETPLACE_API_TOKEN".into())
    }
}

/// `upmsync publish`.
///
/// # Errors
///
/// Missing credentials, and every [`PublishRunError`], for `main` to print.
pub async fn run(
    args: &PublishArgs,
    printer: &Printer,
    settings: &HttpSettings,
) -> anyhow::Result<Exit> {
    let marketplace = publish::parse_marketplace_url(&args.marketplace_url)?;
    let (email, token) = args.credentials();
    let credentials = match (email, token) {
        (Some(email), _) if email.contains(':') => return Err(EmailWithColon.into()),
        (Some(email), Some(token)) => Some(PublisherCredentials::new(email, token)),
        (None, None) if args.dry_run => None,
        (email, token) => {
            let mut missing = Vec::new();
            if email.is_none() {
                missing.push("MARKETPLACE_EMAIL");
            }
            if token.is_none() {
                missing.push("MARKETPLACE_API_TOKEN");
            }
            return Err(MissingCredentials { missing }.into());
        }
    };
    let request = PublishRequest {
        artifact: args.artifact.clone(),
        addon_key: args.addon_key.clone(),
        status: args.status,
        payment_model: args.payment_model,
        release_summary: args.release_summary.clone(),
        release_notes: args.release_notes.clone(),
        beta: args.beta,
        supported: args.supported,
        compatibilities: args.compatibilities.clone(),
        build_number: args.build_number,
        marketplace,
        dry_run: args.dry_run,
        credentials,
        release_date: today(),
    };
    let result = publish::publish(&request, settings).await;
    // The upload's live bar (at a terminal) goes before the outcome, or the error, is printed.
    printer.progress_end();
    let publication = match result {
        Ok(publication) => publication,
        Err(error) => {
            if args.format == PublishFormat::Json {
                if let Some(errors) = refused(&error) {
                    printer.data_or_report(&render::refusal_json(errors));
                }
            }
            return Err(error.into());
        }
    };
    for warning in &publication.warnings {
        printer.warn(warning);
    }
    for unchecked in &publication.unchecked {
        printer.warn(&format!("not checked: {unchecked}"));
    }
    if let Some(why) = &publication.answer_lost {
        printer.warn(&format!(
            "the answer to creating version `{}` was lost ({why}); reading the listing again found it with build number {}: it was published",
            publication.name, publication.build_number
        ));
    }
    if publication.dry_run.is_some() {
        printer.status("dry run: nothing was uploaded or created; stdout has the version document publish would post (its artifact link a placeholder)");
        let mut copied = Vec::new();
        if let Some(from) = &publication.compatibility_copied_from {
            copied.push(format!("the compatibility from version `{from}`"));
        }
        if let Some(from) = &publication.payment_model_copied_from {
            copied.push(format!(
                "the payment model `{}` from version `{from}`",
                publication.payment_model.as_str()
            ));
        }
        if !copied.is_empty() {
            printer.status(&format!("copied {}", copied.join(" and ")));
        }
    }
    let text = match args.format {
        PublishFormat::Text => render::publish_text(&publication),
        PublishFormat::Json => render::publish_json(&publication),
    };
    Ok(if printer.data_or_report(&text) {
        Exit::Success
    } else {
        Exit::Failure
    })
}

/// The field errors of a refusal, wherever it is in the error.
fn refused(error: &PublishRunError) -> Option<&[crate::marketplace::publish::FieldError]> {
    let inner: &PublishError = match error {
        PublishRunError::Marketplace(error) | PublishRunError::Upload { source: error, .. } => {
            error
        }
        PublishRunError::Create(create) => match &**create {
            CreateError::Publish(error) => error,
            _ => return None,
        },
        _ => return None,
    };
    match inner {
        PublishError::Refused { errors, .. } => Some(errors),
        _ => None,
    }
}

/// Today's date in UTC, `YYYY-MM-DD`: the release date.
fn today() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    now.chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variables_are_named() {
        let both = MissingCredentials {
            missing: vec!["MARKETPLACE_EMAIL", "MARKETPLACE_API_TOKEN"],
        };
        assert_eq!(
            both.to_string(),
            "`MARKETPLACE_EMAIL` and `MARKETPLACE_API_TOKEN` are not set: publishing needs an Atlassian account's email and API token"
        );
        let one = MissingCredentials {
            missing: vec!["MARKETPLACE_API_TOKEN"],
        };
        assert!(one
            .to_string()
            .starts_with("`MARKETPLACE_API_TOKEN` is not set"));
        assert!(one.hint().unwrap().contains("--dry-run"));
    }

    #[test]
    fn today_is_a_date() {
        let today = today();
        assert_eq!(today.len(), 10);
        assert_eq!(today.as_bytes()[4], b'-');
        assert_eq!(today.as_bytes()[7], b'-');
    }
}
