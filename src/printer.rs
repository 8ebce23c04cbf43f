//! The one printer: every line a user reads goes through a [`Printer`], and this is the only module
//! that touches stdout and stderr (the workspace lints enforce it).
//!
//! - [`Printer::data`]: the command's answer (a plan, a report, JSON) to stdout.
//! - [`Printer::status`]: what is happening (progress, "Saved the plan ...") to stderr; `--quiet`
//!   drops it.
//! - [`Printer::warn`]: `warning: ...` to stderr, always (a user must read it).
//! - [`Printer::error`]: `error: ...`, each cause once as `Caused by: ...`, then the `hint: ...`
//!   lines collected along the chain ([`crate::error`]), to stderr, always.
//!
//! Everything printed is escaped ([`crate::printable::escape_lines`]: nothing from a server can move
//! the cursor or clear the screen) and scrubbed ([`crate::scrub::scrub`]: no secret of this run is
//! printed, whatever a server echoed). Diagnostics for `-v`/`RUST_LOG` go through `tracing`, not
//! here.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A failed write of the command's data: the command must fail, so a CI job never reads an empty
/// plan as success. (A closed pipe, `upmsync plan | head`, is not one.)
#[derive(Debug, thiserror::Error)]
#[error("failed to write to stdout")]
pub struct PrintError(#[source] pub std::io::Error);

/// Where output goes. Cloning shares the same streams (a signal handler prints through a clone).
#[derive(Clone)]
pub struct Printer {
    inner: Arc<Inner>,
}

struct Inner {
    quiet: bool,
    out: Mutex<Box<dyn Write + Send>>,
    err: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer")
            .field("quiet", &self.inner.quiet)
            .finish_non_exhaustive()
    }
}

impl Printer {
    /// The process's stdout and stderr; `quiet` (`--quiet`) leaves only data, warnings and errors.
    #[expect(
        clippy::disallowed_methods,
        reason = "the printer: the one place that writes to stdout and stderr"
    )]
    pub fn stdio(quiet: bool) -> Self {
        Self::to_writers(
            quiet,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        )
    }

    /// A printer to any two writers (tests write to memory).
    pub fn to_writers(quiet: bool, out: Box<dyn Write + Send>, err: Box<dyn Write + Send>) -> Self {
        Self {
            inner: Arc::new(Inner {
                quiet,
                out: Mutex::new(out),
                err: Mutex::new(err),
            }),
        }
    }

    /// Whether `--quiet` was given.
    pub fn quiet(&self) -> bool {
        self.inner.quiet
    }

    /// Writes the command's data to stdout, as given (no newline added). A closed pipe is fine;
    /// any other failure (a full disk, a closed stdout) is an error the command must fail on.
    ///
    /// # Errors
    ///
    /// [`PrintError`] when stdout cannot be written (other than a closed pipe).
    pub fn data(&self, text: &str) -> Result<(), PrintError> {
        // Renderers escape each server value; this keeps any that slipped through from acting on
        // the terminal. Rendered JSON holds no such character (`printable::escape_json`).
        let text = clean(text);
        let mut out = self
            .inner
            .out
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(error) => Err(PrintError(error)),
        }
    }

    /// Writes the command's data and, when that fails, prints the error: `true` when written.
    pub fn data_or_report(&self, text: &str) -> bool {
        match self.data(text) {
            Ok(()) => true,
            Err(error) => {
                self.error(&error);
                false
            }
        }
    }

    /// A status line to stderr (progress, what was saved where); dropped with `--quiet`.
    pub fn status(&self, text: &str) {
        if !self.inner.quiet {
            self.line(text);
        }
    }

    /// A question to stderr (apply's confirmation): shown even with `--quiet`, since the run
    /// waits for its answer.
    pub fn prompt(&self, text: &str) {
        self.line(text);
    }

    /// `warning: <text>` to stderr, also with `--quiet`.
    pub fn warn(&self, text: &str) {
        self.line(&format!("warning: {text}"));
    }

    /// An error to stderr: `error: <message>`, each cause once (`Caused by: ...`), then the hints
    /// of the chain (`hint: ...`).
    pub fn error(&self, error: &(dyn std::error::Error + 'static)) {
        self.line(&format!("error: {}", crate::error::error_text(error)));
    }

    /// An error already in words: `error: <text>`.
    pub fn error_text(&self, text: &str) {
        self.line(&format!("error: {text}"));
    }

    /// An error already in words, then its advice: `error: <text>`, then `hint: <hint>`.
    pub fn error_with_hint(&self, text: &str, hint: &str) {
        self.line(&format!("error: {text}\nhint: {hint}"));
    }

    /// One line (or several) to stderr; a failed write to stderr has nowhere to be reported.
    fn line(&self, text: &str) {
        let text = clean(text);
        let mut err = self
            .inner
            .err
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let _ = writeln!(err, "{text}").and_then(|()| err.flush());
    }
}

/// Escaped (line breaks stay) and scrubbed of every secret of this run.
fn clean(text: &str) -> String {
    crate::scrub::scrub(&crate::printable::escape_lines(text))
}

impl crate::notice::Observer for Printer {
    fn notice(&self, instance: Option<&str>, notice: &crate::notice::Notice) {
        self.warn(&match instance {
            Some(instance) => format!("instance `{instance}`: {notice}"),
            None => notice.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer to shared memory, or one that always fails with `kind`.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<Vec<u8>>>, Option<std::io::ErrorKind>);

    impl Memory {
        fn failing(kind: std::io::ErrorKind) -> Self {
            Self(Arc::default(), Some(kind))
        }
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Memory {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Some(kind) = self.1 {
                return Err(std::io::Error::from(kind));
            }
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn printer(quiet: bool) -> (Printer, Memory, Memory) {
        let (out, err) = (Memory::default(), Memory::default());
        let printer = Printer::to_writers(quiet, Box::new(out.clone()), Box::new(err.clone()));
        (printer, out, err)
    }

    fn say_everything(printer: &Printer) {
        printer.data("the plan\n").unwrap();
        printer.status("Saved the plan");
        printer.warn("a retry");
        printer.error_text("it failed");
    }

    #[test]
    fn data_goes_to_stdout_and_the_rest_to_stderr() {
        let (printer, out, err) = printer(false);
        say_everything(&printer);
        assert_eq!(out.text(), "the plan\n");
        assert_eq!(
            err.text(),
            "Saved the plan\nwarning: a retry\nerror: it failed\n"
        );
    }

    #[test]
    fn quiet_leaves_only_data_warnings_and_errors() {
        let (printer, out, err) = printer(true);
        say_everything(&printer);
        assert_eq!(out.text(), "the plan\n");
        assert_eq!(err.text(), "warning: a retry\nerror: it failed\n");
    }

    #[test]
    fn a_closed_pipe_is_fine_and_other_write_failures_are_errors() {
        let err = Memory::default();
        let closed = Printer::to_writers(
            false,
            Box::new(Memory::failing(std::io::ErrorKind::BrokenPipe)),
            Box::new(err.clone()),
        );
        assert!(closed.data("x").is_ok());
        let full = Printer::to_writers(
            false,
            Box::new(Memory::failing(std::io::ErrorKind::StorageFull)),
            Box::new(err.clone()),
        );
        assert!(full.data("x").is_err());
        assert!(!full.data_or_report("x"));
        assert_eq!(
            err.text(),
            "error: failed to write to stdout\nCaused by: no storage space\n"
        );
    }

    #[test]
    fn control_characters_are_escaped_and_secrets_scrubbed() {
        let secret = "printer-test-secret-3f9a";
        crate::scrub::register(secret);
        let (printer, out, err) = printer(false);
        printer.data(&format!("token {secret}\n")).unwrap();
        printer.status("clear \u{1b}[2J screen");
        assert!(!out.text().contains(secret), "{}", out.text());
        assert!(!err.text().contains('\u{1b}'), "{}", err.text());
    }

    #[test]
    fn an_error_prints_its_causes_once_then_its_hints() {
        #[derive(Debug, thiserror::Error)]
        #[error("failed to apply")]
        struct Outer(#[source] crate::upm::UpmError);
        let (printer, _, err) = printer(true);
        printer.error(&Outer(crate::upm::UpmError::SafeMode));
        let text = err.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "error: failed to apply");
        assert!(
            lines[1].starts_with("Caused by: UPM is in safe mode"),
            "{text}"
        );
        assert_eq!(text.matches("hint: ").count(), 1, "{text}");
        assert!(
            lines.last().unwrap().starts_with("hint: exit safe mode"),
            "{text}"
        );
    }
}
