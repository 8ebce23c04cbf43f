//! `upmsync publish`'s output: what was published as text or JSON (`format_version: 1`), a dry
//! run's version document, and a refusal's field errors as JSON. Pure functions to `String`.

use serde::Serialize;

use crate::marketplace::publish::FieldError;
use crate::ops::publish::{ArtifactFacts, CompatibilityRange, Publication};
use crate::printable::escape_json;

/// Output format of `publish` on stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PublishFormat {
    /// Lines for people; a dry run prints the version document itself.
    #[default]
    Text,
    /// One JSON document (`format_version: 1`).
    Json,
}

/// The text of a publication: a heading line, then compatibility, artifact and URL; a dry run is
/// the version document it would post (pretty JSON), what it says about itself goes to stderr.
pub fn publish_text(publication: &Publication) -> String {
    if let Some(document) = &publication.dry_run {
        let mut text = serde_json::to_string_pretty(document).unwrap_or_default();
        text.push('\n');
        return escape_json(&text).into_owned();
    }
    let mut text = format!(
        "published `{}` version `{}` (build number {}, {})\n",
        publication.key, publication.name, publication.build_number, publication.status
    );
    for (index, range) in publication.compatibilities.iter().enumerate() {
        let label = if index == 0 { "compatibility:" } else { "" };
        text.push_str(&format!("  {label:<15}{}\n", range_text(range)));
    }
    if let Some(from) = &publication.compatibility_copied_from {
        text.push_str(&format!("  {:<15}copied from version `{from}`\n", ""));
    }
    let copied = publication
        .payment_model_copied_from
        .as_ref()
        .map(|from| format!(" (copied from version `{from}`)"))
        .unwrap_or_default();
    text.push_str(&format!(
        "  {:<15}{}{copied}\n",
        "payment model:",
        publication.payment_model.as_str()
    ));
    text.push_str(&format!(
        "  {:<15}{}\n",
        "artifact:",
        artifact_text(&publication.artifact)
    ));
    if let Some(url) = &publication.url {
        text.push_str(&format!(
            "  {:<15}{}\n",
            "url:",
            crate::model::redact_url(url)
        ));
    }
    text
}

fn range_text(range: &CompatibilityRange) -> String {
    let version = |version: &Option<String>| {
        version
            .as_ref()
            .map(|version| format!(" ({version})"))
            .unwrap_or_default()
    };
    format!(
        "{} builds {}{} to {}{}, Data Center",
        range.application,
        range.min_build,
        version(&range.min_version),
        range.max_build,
        version(&range.max_version)
    )
}

fn artifact_text(artifact: &ArtifactFacts) -> String {
    format!(
        "{}, {} bytes, sha256 {}",
        artifact.file, artifact.size, artifact.sha256
    )
}

/// The JSON form of a publication.
#[derive(Serialize)]
struct PublicationJson<'a> {
    format_version: u32,
    published: bool,
    dry_run: bool,
    key: &'a str,
    name: &'a str,
    build_number: u64,
    status: &'a str,
    compatibilities: &'a [CompatibilityRange],
    #[serde(skip_serializing_if = "Option::is_none")]
    compatibility_copied_from: Option<&'a str>,
    payment_model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_model_copied_from: Option<&'a str>,
    artifact: &'a ArtifactFacts,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer_lost: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<&'a serde_json::Value>,
    unchecked: &'a [String],
    warnings: &'a [String],
}

/// `{"format_version": 1, "published": …, "key": …, …}`; a dry run has `"published": false`,
/// `"dry_run": true` and the `document` it would post.
pub fn publish_json(publication: &Publication) -> String {
    let shown = PublicationJson {
        format_version: 1,
        published: publication.dry_run.is_none(),
        dry_run: publication.dry_run.is_some(),
        key: &publication.key,
        name: &publication.name,
        build_number: publication.build_number,
        status: &publication.status,
        compatibilities: &publication.compatibilities,
        compatibility_copied_from: publication.compatibility_copied_from.as_deref(),
        payment_model: publication.payment_model.as_str(),
        payment_model_copied_from: publication.payment_model_copied_from.as_deref(),
        artifact: &publication.artifact,
        url: publication.url.as_ref().map(crate::model::redact_url),
        answer_lost: publication.answer_lost.as_deref(),
        document: publication.dry_run.as_ref(),
        unchecked: &publication.unchecked,
        warnings: &publication.warnings,
    };
    let mut text = serde_json::to_string_pretty(&shown).unwrap_or_default();
    text.push('\n');
    escape_json(&text).into_owned()
}

/// `{"format_version": 1, "published": false, "errors": [{"path": …, "message": …}]}`: a refusal
/// of the Marketplace, field by field.
pub fn refusal_json(errors: &[FieldError]) -> String {
    #[derive(Serialize)]
    struct Refusal<'a> {
        format_version: u32,
        published: bool,
        errors: &'a [FieldError],
    }
    let mut text = serde_json::to_string_pretty(&Refusal {
        format_version: 1,
        published: false,
        errors,
    })
    .unwrap_or_default();
    text.push('\n');
    escape_json(&text).into_owned()
}
