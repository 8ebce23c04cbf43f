//! `upmsync man`: the manual page in roff (`clap_mangen`), to stdout: the command, its global
//! flags and its subcommands with their one-line summaries.

use clap::CommandFactory;

use super::Exit;
use crate::cli::Cli;
use crate::printer::Printer;

/// Prints the manual page; exit 1 if it cannot be rendered or stdout cannot be written.
pub fn run(printer: &Printer) -> Exit {
    let mut page = Vec::new();
    if let Err(error) = clap_mangen::Man::new(Cli::command()).render(&mut page) {
        printer.error(&ManError(error));
        return Exit::Failure;
    }
    if printer.data_or_report(&String::from_utf8_lossy(&page)) {
        Exit::Success
    } else {
        Exit::Failure
    }
}

/// The manual page could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("failed to render the manual page")]
struct ManError(#[source] std::io::Error);
