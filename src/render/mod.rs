//! Plans and apply reports to text or JSON: pure functions to `String`. Licenses appear only as
//! short hashes; URLs without credentials or query strings.

mod json;
mod manifest;
mod outdated;
mod text;
mod validate;

pub use json::{drift_json, plan_json};
pub use manifest::import_yaml;
pub use outdated::{outdated_json, outdated_text, readiness_json, readiness_text};
pub use text::{apply_text, change_line, drift_text, plan_text, style_lines};
pub use validate::validate_summary;

/// Output format of `plan` and `drift`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}
