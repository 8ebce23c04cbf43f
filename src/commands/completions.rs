//! `upmsync completions SHELL`: a completion script for the shell, generated from the clap
//! definitions (`clap_complete`), to stdout.

use clap::CommandFactory;

use super::Exit;
use crate::cli::{Cli, CompletionsArgs};
use crate::printer::Printer;

/// Prints the completion script for `args.shell`; exit 1 only if stdout cannot be written.
pub fn run(args: &CompletionsArgs, printer: &Printer) -> Exit {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "upmsync", &mut script);
    if printer.data_or_report(&String::from_utf8_lossy(&script)) {
        Exit::Success
    } else {
        Exit::Failure
    }
}
