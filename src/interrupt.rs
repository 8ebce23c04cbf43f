//! Ctrl-C (SIGINT) and SIGTERM, which CI cancel, Kubernetes and systemd send: both ask the same
//! thing, to stop soon and cleanly. A command that reads only is dropped where it waits, so what it
//! holds (temporary files, locks) is released by its destructors; `apply` finishes the change under
//! way first (see `ops::apply`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use crate::notice::Notice;
use crate::printer::Printer;

/// Which request to stop arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C on a terminal.
    Interrupt,
    /// SIGTERM: a CI cancel, `kubectl delete`, `systemctl stop`, `docker stop`.
    Terminate,
}

impl Signal {
    /// The name users know it by.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "Ctrl-C",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// Watches for Ctrl-C and SIGTERM from the moment it is made until the process ends.
///
/// The first signal sets [`Interrupts::flag`] and wakes [`Interrupts::wait`]. A second Ctrl-C
/// while changes are under way ends the process at once (a person asked twice); further SIGTERMs
/// are only acknowledged, because what sends them repeatedly (a supervisor) ends the process with
/// SIGKILL when its grace period is over anyway, and finishing the change is the safer side.
pub struct Interrupts {
    flag: Arc<AtomicBool>,
    acting: Arc<AtomicBool>,
    first: watch::Receiver<Option<Signal>>,
}

/// Starts watching. Before this, and after it for a command that does not, a signal ends the
/// process the operating system's way.
pub fn watch(printer: &Printer) -> Interrupts {
    let flag = Arc::new(AtomicBool::new(false));
    let acting = Arc::new(AtomicBool::new(false));
    let (sender, first) = watch::channel(None);
    // The handlers are installed here, synchronously, so no signal sent after `watch` returns is
    // lost to the default action.
    let mut listener = match Listener::new() {
        Ok(listener) => listener,
        Err(error) => {
            printer.warn(
                &Notice::SignalsUnwatched {
                    error: error.to_string(),
                }
                .to_string(),
            );
            return Interrupts {
                flag,
                acting,
                first,
            };
        }
    };
    let (task_flag, task_acting) = (Arc::clone(&flag), Arc::clone(&acting));
    let printer = printer.clone();
    tokio::spawn(async move {
        while let Some(signal) = listener.next().await {
            if !task_flag.swap(true, Ordering::SeqCst) {
                let _ = sender.send(Some(signal));
                if task_acting.load(Ordering::SeqCst) {
                    printer.status(&format!(
                        "\nInterrupted ({}): finishing the change under way, then stopping (Ctrl-C again to stop at once, which may leave that change half-done).",
                        signal.name()
                    ));
                }
                continue;
            }
            if !task_acting.load(Ordering::SeqCst) {
                // Not yet changing anything: the command is already stopping on the first one.
                continue;
            }
            match signal {
                Signal::Interrupt => {
                    printer.error_text("stopped at once by a second Ctrl-C: the change under way may be half-done; run `upmsync plan` to see the state, and `upmsync apply` to finish");
                    // The user asked twice: this is the one place a signal ends the process
                    // directly. The kernel releases the instance locks (they are OS file locks).
                    std::process::exit(130);
                }
                Signal::Terminate => printer.status(
                    "SIGTERM again: still finishing the change under way (SIGKILL or a second Ctrl-C stops at once)",
                ),
            }
        }
    });
    Interrupts {
        flag,
        acting,
        first,
    }
}

impl Interrupts {
    /// Set once a signal arrived: the executor checks it between changes.
    pub fn flag(&self) -> &AtomicBool {
        &self.flag
    }

    /// The first signal, if one arrived.
    pub fn received(&self) -> Option<Signal> {
        *self.first.borrow()
    }

    /// Marks that changes are under way: a signal now says it finishes the change first, and a
    /// second Ctrl-C stops at once.
    pub fn acting(&self) {
        self.acting.store(true, Ordering::SeqCst);
    }

    /// Resolves with the first signal (at once if one already arrived); never, if none comes.
    pub async fn wait(&self) -> Signal {
        let mut first = self.first.clone();
        let signal = match first.wait_for(Option::is_some).await {
            Ok(signal) => *signal,
            // The watcher is gone (it could not be installed): no signal will be seen.
            Err(_) => None,
        };
        match signal {
            Some(signal) => signal,
            None => std::future::pending().await,
        }
    }
}

/// Both signals as one stream.
struct Listener {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Listener {
    #[cfg(unix)]
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(not(unix))]
    fn new() -> std::io::Result<Self> {
        Ok(Self {})
    }

    #[cfg(unix)]
    async fn next(&mut self) -> Option<Signal> {
        tokio::select! {
            Some(()) = self.interrupt.recv() => Some(Signal::Interrupt),
            Some(()) = self.terminate.recv() => Some(Signal::Terminate),
            else => None,
        }
    }

    // guess: off Unix only Ctrl-C is watched (there is no SIGTERM to deliver).
    #[cfg(not(unix))]
    async fn next(&mut self) -> Option<Signal> {
        tokio::signal::ctrl_c()
            .await
            .ok()
            .map(|()| Signal::Interrupt)
    }
}
