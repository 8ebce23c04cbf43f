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
//! - [`Printer::progress_instance`] and the [`crate::notice::Activity`] it observes: live progress
//!   of `apply` (which change runs, downloads with bytes, UPM's install task) drawn with
//!   `indicatif` when stderr is a terminal; elsewhere a plain line per change; nothing
//!   with `--quiet`. Lines printed while it draws appear above it.
//! - Colour ([`Terminal`]): plans, drift and the apply summary on stdout, and the `warning:`,
//!   `error:` and `hint:` prefixes on stderr, when `--color` and `NO_COLOR` allow it for that
//!   stream; never in JSON and never in files (those do not pass here).
//!
//! Everything printed is escaped ([`crate::printable::escape_lines`]: nothing from a server can move
//! the cursor or clear the screen) and scrubbed ([`crate::scrub::scrub`]: no secret of this run is
//! printed, whatever a server echoed). Diagnostics for `-v`/`RUST_LOG` go through `tracing`, not
//! here.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::notice::Activity;

/// A failed write of the command's data: the command must fail, so a CI job never reads an empty
/// plan as success. (A closed pipe, `upmsync plan | head`, is not one.)
#[derive(Debug, thiserror::Error)]
#[error("failed to write to stdout")]
pub struct PrintError(#[source] pub std::io::Error);

/// What the process's streams are (terminals or not) and where colour goes, as `main` decided
/// it from `std::io::IsTerminal`, `--color` and `NO_COLOR`. The default: no terminal, no colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Terminal {
    /// Whether stdin is a terminal (apply can ask for confirmation).
    pub stdin: bool,
    /// Whether stdout is a terminal (the plan is read there).
    pub stdout: bool,
    /// Whether stderr is a terminal: progress is drawn live there.
    pub stderr: bool,
    /// Whether text on stdout (a plan, drift, the apply summary) is coloured.
    pub color_stdout: bool,
    /// Whether stderr is coloured (the `warning:`, `error:` and `hint:` prefixes, a plan shown
    /// there).
    pub color_stderr: bool,
}

/// Where output goes. Cloning shares the same streams (a signal handler prints through a clone).
#[derive(Clone)]
pub struct Printer {
    inner: Arc<Inner>,
}

/// Where the live progress is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Draw {
    /// The process's stderr, through `indicatif`'s own terminal (it knows the width).
    Stderr,
    /// The printer's error writer as an 80-column terminal (tests).
    Writer,
}

struct Inner {
    quiet: bool,
    terminal: Terminal,
    draw: Draw,
    out: Mutex<Box<dyn Write + Send>>,
    err: Arc<Mutex<Box<dyn Write + Send>>>,
    /// The live progress while it is drawn.
    board: Mutex<Option<Board>>,
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
    pub fn stdio(quiet: bool) -> Self {
        Self::stdio_on(quiet, Terminal::default())
    }

    /// The process's stdout and stderr, which are as `terminal` says (progress drawn live on a
    /// terminal stderr, colour where it allows).
    #[expect(
        clippy::disallowed_methods,
        reason = "the printer: the one place that writes to stdout and stderr"
    )]
    pub fn stdio_on(quiet: bool, terminal: Terminal) -> Self {
        Self::build(
            quiet,
            terminal,
            Draw::Stderr,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
        )
    }

    /// A printer to any two writers (tests write to memory): no terminal, no colour.
    pub fn to_writers(quiet: bool, out: Box<dyn Write + Send>, err: Box<dyn Write + Send>) -> Self {
        Self::to_writers_on(quiet, Terminal::default(), out, err)
    }

    /// A printer to any two writers that acts as if they were as `terminal` says (tests: live
    /// progress is drawn into `err` as on an 80-column terminal).
    pub fn to_writers_on(
        quiet: bool,
        terminal: Terminal,
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
    ) -> Self {
        Self::build(quiet, terminal, Draw::Writer, out, err)
    }

    fn build(
        quiet: bool,
        terminal: Terminal,
        draw: Draw,
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                quiet,
                terminal,
                draw,
                out: Mutex::new(out),
                err: Arc::new(Mutex::new(err)),
                board: Mutex::new(None),
            }),
        }
    }

    /// Whether `--quiet` was given.
    pub fn quiet(&self) -> bool {
        self.inner.quiet
    }

    /// What the streams are, and where colour goes.
    pub fn terminal(&self) -> Terminal {
        self.inner.terminal
    }

    /// Writes the command's data to stdout, as given (no newline added). A closed pipe is fine;
    /// any other failure (a full disk, a closed stdout) is an error the command must fail on.
    ///
    /// # Errors
    ///
    /// [`PrintError`] when stdout cannot be written (other than a closed pipe).
    pub fn data(&self, text: &str) -> Result<(), PrintError> {
        self.write_data(clean(text))
    }

    /// Like [`Printer::data`], for human text (a plan, drift, the apply summary): coloured when
    /// stdout is ([`Terminal::color_stdout`]; `crate::render::style_lines` says how).
    ///
    /// # Errors
    ///
    /// [`PrintError`] when stdout cannot be written (other than a closed pipe).
    pub fn data_text(&self, text: &str) -> Result<(), PrintError> {
        let text = clean(text);
        if self.inner.terminal.color_stdout {
            self.write_data(crate::render::style_lines(&text))
        } else {
            self.write_data(text)
        }
    }

    /// [`Printer::data_text`], and when that fails, prints the error: `true` when written.
    pub fn data_text_or_report(&self, text: &str) -> bool {
        self.data_or_report_styled(true, text)
    }

    /// [`Printer::data_text_or_report`] when `human` (text output), else
    /// [`Printer::data_or_report`] (JSON and markdown are never coloured).
    pub fn data_or_report_styled(&self, human: bool, text: &str) -> bool {
        let written = if human {
            self.data_text(text)
        } else {
            self.data(text)
        };
        match written {
            Ok(()) => true,
            Err(error) => {
                self.error(&error);
                false
            }
        }
    }

    /// Writes text already cleaned to stdout.
    fn write_data(&self, text: String) -> Result<(), PrintError> {
        // Renderers escape each server value; `clean` keeps any that slipped through from acting
        // on the terminal. Rendered JSON holds no such character (`printable::escape_json`).
        let write = || {
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
        };
        // stdout may be the terminal the progress is drawn on: printed above it.
        match self.board(|board| board.multi.clone()) {
            Some(multi) => multi.suspend(write),
            None => write(),
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

    /// A line to stderr that `--quiet` keeps: what a user cannot do without (the address `serve`
    /// bound, when the port was picked for it).
    pub fn always(&self, text: &str) {
        self.line(text);
    }

    /// A question to stderr (apply's confirmation): shown even with `--quiet`, since the run
    /// waits for its answer.
    pub fn prompt(&self, text: &str) {
        self.line(text);
    }

    /// Human text a question is about (the plan apply asks to approve, when stdout is not a
    /// terminal) to stderr, coloured as stdout text would be: shown even with `--quiet`.
    pub fn text_for_prompt(&self, text: &str) {
        let text = clean(text.trim_end_matches('\n'));
        let text = if self.inner.terminal.color_stderr {
            crate::render::style_lines(&text)
        } else {
            text
        };
        self.write_err(&text);
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

    /// One line (or several) to stderr, its `warning:`, `error:` and `hint:` prefixes coloured
    /// when stderr is.
    fn line(&self, text: &str) {
        let text = clean(text);
        if self.inner.terminal.color_stderr {
            self.write_err(&crate::render::style_lines(&text));
        } else {
            self.write_err(&text);
        }
    }

    /// Cleaned text and a newline to stderr, above the live progress while it is drawn; a failed
    /// write to stderr has nowhere to be reported.
    fn write_err(&self, text: &str) {
        let write = || {
            let mut err = self
                .inner
                .err
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            let _ = writeln!(err, "{text}").and_then(|()| err.flush());
        };
        // Cloned out, so the board's lock is not held while indicatif draws.
        match self.board(|board| board.multi.clone()) {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }

    /// Runs `f` on the live progress, when it is drawn.
    fn board<T>(&self, f: impl FnOnce(&mut Board) -> T) -> Option<T> {
        let mut board = self
            .inner
            .board
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        board.as_mut().map(f)
    }

    /// Runs `f` on the live progress, starting it when stderr is a terminal and `--quiet` was not
    /// given; `None` when there is none (then progress is told in plain lines, or not at all).
    fn live<T>(&self, f: impl FnOnce(&mut Board) -> T) -> Option<T> {
        if self.inner.quiet || !self.inner.terminal.stderr {
            return None;
        }
        let mut board = self
            .inner
            .board
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let board = board.get_or_insert_with(|| Board::new(self.draw_target()));
        Some(f(board))
    }

    fn draw_target(&self) -> ProgressDrawTarget {
        match self.inner.draw {
            Draw::Stderr => ProgressDrawTarget::stderr(),
            Draw::Writer => {
                ProgressDrawTarget::term_like(Box::new(WriterTerm(Arc::clone(&self.inner.err))))
            }
        }
    }

    /// What `instance` is doing now (`apply`: the change under way): drawn live at a terminal,
    /// else a status line `<instance>: <text>`; nothing with `--quiet`.
    pub fn progress_instance(&self, instance: &str, text: &str) {
        let text = clean(text);
        if self
            .live(|board| board.instance(instance).set_change(text.clone()))
            .is_none()
        {
            self.status(&format!("{instance}: {text}"));
        }
    }

    /// What `instance` is doing now, at a terminal only (off a terminal a status line says it
    /// already): its live line shows `text` until its first change starts.
    pub fn progress_instance_live(&self, instance: &str, text: &str) {
        let text = clean(text);
        self.live(|board| board.instance(instance).set_change(text));
    }

    /// `instance` is done: its live line goes (what became of it is in the summary).
    pub fn progress_instance_end(&self, instance: &str) {
        self.board(|board| {
            if let Some(line) = board.instances.remove(instance) {
                line.bar.finish_and_clear();
            }
        });
    }

    /// The live progress ends: every line of it is cleared (before a summary is printed).
    pub fn progress_end(&self) {
        let board = self
            .inner
            .board
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take();
        if let Some(board) = board {
            board.clear();
        }
    }

    /// Shows `activity` (see [`crate::notice::Activity`]): live at a terminal; elsewhere a plain
    /// line when a change starts; nothing with `--quiet`.
    fn activity(&self, instance: Option<&str>, activity: &Activity) {
        let instance = instance.unwrap_or("upmsync");
        let live = self.live(|board| board.activity(instance, activity));
        if live.is_some() {
            return;
        }
        // Off a terminal a download is not announced: it runs beside the changes, so its line
        // would fall anywhere among theirs (`-v` logs it; a failed one is reported).
        if let Activity::ChangeStarted {
            change,
            position,
            total,
        } = activity
        {
            self.status(&format!("{instance}: {change} ({position}/{total})..."));
        }
    }
}

/// The live progress: a line per instance at work (its change, UPM's task), a bar per download.
struct Board {
    multi: MultiProgress,
    instances: HashMap<String, InstanceLine>,
    downloads: HashMap<String, ProgressBar>,
}

/// An instance's live line: the change under way, then what UPM's task says.
struct InstanceLine {
    bar: ProgressBar,
    change: String,
}

impl InstanceLine {
    fn set_change(&mut self, change: String) {
        self.change = change;
        self.bar.set_message(self.change.clone());
    }
}

impl Board {
    fn new(target: ProgressDrawTarget) -> Self {
        Self {
            multi: MultiProgress::with_draw_target(target),
            instances: HashMap::new(),
            downloads: HashMap::new(),
        }
    }

    /// The instance's line, added when it has none.
    fn instance(&mut self, instance: &str) -> &mut InstanceLine {
        let multi = &self.multi;
        self.instances
            .entry(instance.to_string())
            .or_insert_with(|| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold}: {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(clean(instance));
                bar.enable_steady_tick(Duration::from_millis(120));
                InstanceLine {
                    bar,
                    change: String::new(),
                }
            })
    }

    fn activity(&mut self, instance: &str, activity: &Activity) {
        match activity {
            Activity::ChangeStarted {
                change,
                position,
                total,
            } => self
                .instance(instance)
                .set_change(clean(&format!("{change} ({position}/{total})"))),
            Activity::InstallTask { stage, percent } => {
                let line = self.instance(instance);
                let percent = percent.map(|p| format!(" {p}%")).unwrap_or_default();
                line.bar.set_message(format!(
                    "{}, UPM's install task: {stage}{percent}",
                    line.change
                ));
            }
            Activity::Downloading { url, done, total } => {
                let multi = &self.multi;
                let bar = self.downloads.entry(url.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(total.unwrap_or(0)));
                    let template = if total.is_some() {
                        "  downloading {msg} [{bar:24}] {binary_bytes}/{binary_total_bytes}"
                    } else {
                        "  downloading {msg} {binary_bytes}"
                    };
                    bar.set_style(
                        ProgressStyle::with_template(template)
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    bar.set_message(clean(url));
                    bar
                });
                bar.set_position(*done);
            }
            Activity::Downloaded { url } => {
                if let Some(bar) = self.downloads.remove(url) {
                    bar.finish_and_clear();
                }
            }
            Activity::Uploading { file, done, total } => {
                let multi = &self.multi;
                let bar = self
                    .downloads
                    .entry(format!("upload {file}"))
                    .or_insert_with(|| {
                        let bar = multi.add(ProgressBar::new(*total));
                        bar.set_style(
                            ProgressStyle::with_template(
                                "  uploading {msg} [{bar:24}] {binary_bytes}/{binary_total_bytes}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                        );
                        bar.set_message(clean(file));
                        bar
                    });
                bar.set_position(*done);
            }
            Activity::Uploaded { file } => {
                if let Some(bar) = self.downloads.remove(&format!("upload {file}")) {
                    bar.finish_and_clear();
                }
            }
        }
    }

    fn clear(self) {
        for line in self.instances.into_values() {
            line.bar.finish_and_clear();
        }
        for bar in self.downloads.into_values() {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

/// The printer's error writer as a terminal of 80 columns, for [`Printer::to_writers_on`].
struct WriterTerm(Arc<Mutex<Box<dyn Write + Send>>>);

impl std::fmt::Debug for WriterTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriterTerm")
    }
}

impl WriterTerm {
    fn write(&self, text: &str) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .write_all(text.as_bytes())
    }
}

impl indicatif::TermLike for WriterTerm {
    fn width(&self) -> u16 {
        80
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}A"))
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}B"))
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}C"))
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.write(&format!("\x1b[{n}D"))
    }
    fn write_line(&self, line: &str) -> std::io::Result<()> {
        self.write(&format!("{line}\n"))
    }
    fn write_str(&self, text: &str) -> std::io::Result<()> {
        self.write(text)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.write("\r\x1b[2K")
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .flush()
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

    fn activity(&self, instance: Option<&str>, activity: &Activity) {
        Printer::activity(self, instance, activity);
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

    fn started(position: usize) -> Activity {
        Activity::ChangeStarted {
            change: "upgrade com.x 1.0 -> 2.0".into(),
            position,
            total: 2,
        }
    }

    fn downloading(done: u64) -> Activity {
        Activity::Downloading {
            url: "https://m.test/a.jar".into(),
            done,
            total: Some(2048),
        }
    }

    /// What a run of apply tells the printer, in order.
    fn apply_progress(printer: &Printer) {
        printer.progress_instance("jira", "starting");
        printer.progress_instance_live("jira", "checking");
        printer.activity(Some("jira"), &started(1));
        printer.activity(None, &downloading(0));
        printer.activity(None, &downloading(1024));
        printer.warn("a retry");
        printer.activity(
            Some("jira"),
            &Activity::InstallTask {
                stage: crate::notice::TaskStage::Installing,
                percent: Some(40),
            },
        );
        printer.activity(
            None,
            &Activity::Downloaded {
                url: "https://m.test/a.jar".into(),
            },
        );
        for done in [0, 1024] {
            printer.activity(
                Some("jira"),
                &Activity::Uploading {
                    file: "a.jar".into(),
                    done,
                    total: 2048,
                },
            );
        }
        printer.activity(
            Some("jira"),
            &Activity::Uploaded {
                file: "a.jar".into(),
            },
        );
        printer.progress_instance_end("jira");
        printer.progress_end();
        printer.data("summary\n").unwrap();
    }

    #[test]
    fn off_a_terminal_progress_is_plain_lines_and_quiet_drops_it() {
        let (plain, out, err) = printer(false);
        apply_progress(&plain);
        assert_eq!(
            err.text(),
            "jira: starting\njira: upgrade com.x 1.0 -> 2.0 (1/2)...\nwarning: a retry\n"
        );
        assert_eq!(out.text(), "summary\n");
        let (quiet, _, err) = printer(true);
        apply_progress(&quiet);
        assert_eq!(err.text(), "warning: a retry\n");
    }

    #[test]
    fn at_a_terminal_progress_is_drawn_live_and_lines_print_above_it() {
        let (out, err) = (Memory::default(), Memory::default());
        let terminal = Terminal {
            stderr: true,
            ..Terminal::default()
        };
        let live = Printer::to_writers_on(
            false,
            terminal,
            Box::new(out.clone()),
            Box::new(err.clone()),
        );
        apply_progress(&live);
        let text = err.text();
        // Drawn and cleared with the terminal's control sequences, the warning on a line of its own.
        assert!(text.contains("\u{1b}[2K"), "{text:?}");
        assert!(
            text.contains("\u{1b}[2K\u{1b}[1Awarning: a retry\n"),
            "{text:?}"
        );
        assert!(
            text.contains(
                "jira: upgrade com.x 1.0 -> 2.0 (1/2), UPM's install task: installing 40%"
            ),
            "{text:?}"
        );
        assert!(
            text.contains("downloading https://m.test/a.jar ["),
            "{text:?}"
        );
        assert!(text.contains("uploading a.jar ["), "{text:?}");
        // Cleared at the end: nothing of it is left after the last line drawn.
        assert!(text.ends_with("\r\u{1b}[2K"), "{text:?}");
        assert_eq!(out.text(), "summary\n");
        // Quiet: nothing drawn.
        let err = Memory::default();
        let quiet = Printer::to_writers_on(
            true,
            terminal,
            Box::new(Memory::default()),
            Box::new(err.clone()),
        );
        apply_progress(&quiet);
        assert_eq!(err.text(), "warning: a retry\n");
    }

    #[test]
    fn live_progress_is_scrubbed_of_secrets_and_escaped() {
        let secret = "printer-progress-secret-7c1d";
        crate::scrub::register(secret);
        let err = Memory::default();
        let terminal = Terminal {
            stderr: true,
            ..Terminal::default()
        };
        let live = Printer::to_writers_on(
            false,
            terminal,
            Box::new(Memory::default()),
            Box::new(err.clone()),
        );
        live.activity(
            Some("jira"),
            &Activity::ChangeStarted {
                change: format!("license-set com.x {secret}\u{1b}]0;title\u{7}"),
                position: 1,
                total: 1,
            },
        );
        live.activity(
            None,
            &Activity::Downloading {
                url: format!("https://m.test/{secret}.jar"),
                done: 0,
                total: None,
            },
        );
        live.progress_end();
        let text = err.text();
        assert!(text.contains("license-set com.x"), "{text:?}");
        assert!(!text.contains(secret), "{text:?}");
        assert!(!text.contains("\u{1b}]0;"), "{text:?}");
    }

    #[test]
    fn colour_goes_where_the_terminal_allows_it_and_changes_no_word() {
        let (out, err) = (Memory::default(), Memory::default());
        let terminal = Terminal {
            color_stdout: true,
            color_stderr: true,
            ..Terminal::default()
        };
        let coloured = Printer::to_writers_on(
            false,
            terminal,
            Box::new(out.clone()),
            Box::new(err.clone()),
        );
        coloured.data("  + com.x  (install)\n").unwrap();
        coloured.data_text("  + com.x  (install)\n").unwrap();
        coloured.warn("careful");
        let green = anstyle::AnsiColor::Green.on_default();
        assert_eq!(
            out.text(),
            format!("  + com.x  (install)\n  {green}+ com.x  (install){green:#}\n"),
            "data is never coloured, text is"
        );
        let yellow = anstyle::AnsiColor::Yellow.on_default().bold();
        assert_eq!(err.text(), format!("{yellow}warning:{yellow:#} careful\n"));
        // Without colour, text is data.
        let (plain, out, _) = printer(false);
        plain.data_text("  + com.x  (install)\n").unwrap();
        assert_eq!(out.text(), "  + com.x  (install)\n");
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
