//! One line on the terminal while something slow runs: compiling an agent (seconds, the first
//! time, for a large one) or the telemetry component, so that `run` does not sit silent. Shown
//! only when the work outlasts [`DELAY`] and standard error is a terminal; erased when the work
//! is done, so the agent's own output starts on a clean line. Never shown when the output goes
//! to a file or a pipe.

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long work may take before it is said: a cache hit (milliseconds) says nothing.
pub(crate) const DELAY: Duration = Duration::from_millis(300);

/// The line of work going on; dropping it ends the work, and erases the line if it was shown.
pub(crate) struct Notice {
    done: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Notice {
    /// Says `text` on standard error once the work has taken [`DELAY`], if that is a terminal.
    pub(crate) fn after_delay(text: String) -> Notice {
        if !std::io::stderr().is_terminal() {
            return Notice {
                done: None,
                thread: None,
            };
        }
        let (done, wait) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if wait.recv_timeout(DELAY) != Err(RecvTimeoutError::Timeout) {
                return;
            }
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{text}");
            let _ = err.flush();
            drop(err);
            // Until the work is done (its sender dropped).
            let _ = wait.recv();
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        });
        Notice {
            done: Some(done),
            thread: Some(thread),
        }
    }
}

impl Drop for Notice {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What compiling `what` for this machine is, said on one line.
pub(crate) fn compiling(what: &str) -> String {
    if agent_telemetry::agent::code_is_cached() {
        format!(
            "agent-telemetry: compiling {what} for this machine (once: later runs load it from the code cache)…"
        )
    } else {
        format!(
            "agent-telemetry: compiling {what} for this machine (the code cache is off: every run compiles)…"
        )
    }
}
