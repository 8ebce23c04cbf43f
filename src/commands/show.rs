//! `upmsync show PLAN`: a saved plan (`plan --out`) in text, JSON or Markdown. Reads only the plan
//! file: no manifest, no environment variables, no network.

use super::Exit;
use crate::cli::ShowArgs;
use crate::printer::Printer;
use crate::render::{self, Format};
use crate::saved::SavedPlan;

/// `upmsync show`.
///
/// # Errors
///
/// A plan file that cannot be read or is not a saved plan (corrupt, truncated, another format),
/// naming the file, for `main` to print.
pub fn run(args: &ShowArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let saved = SavedPlan::read(&args.plan)?;
    let text = match args.format {
        Format::Text => render::saved_text(&saved, &args.plan),
        Format::Json => render::saved_json(&saved),
        Format::Markdown => render::saved_markdown(&saved),
    };
    Ok(if printer.data_or_report(&text) {
        Exit::Success
    } else {
        Exit::Failure
    })
}
