//! Plans and apply reports to text, JSON or Markdown: pure functions to `String`. Licenses appear only as
//! short hashes; URLs without credentials or query strings.

mod json;
mod manifest;
mod markdown;
mod outdated;
mod publish;
mod saved;
mod text;
mod validate;

pub use json::{drift_json, plan_json};
pub use manifest::import_yaml;
pub use markdown::{
    drift_markdown, outdated_markdown, plan_markdown, readiness_markdown, saved_markdown,
    DETAILS_THRESHOLD,
};
pub use outdated::{outdated_json, outdated_text, readiness_json, readiness_text};
pub use publish::{publish_json, publish_text, refusal_json, PublishFormat};
pub use saved::{saved_json, saved_text};
pub use text::{apply_text, change_line, drift_text, plan_text, style_lines};
pub use validate::validate_summary;

/// Output format of `plan`, `drift`, `outdated` and `show`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
    // A summary line and tables for a pull-request comment (`markdown.rs`).
    Markdown,
}
