//! The kit for agents written in Rust and compiled to `wasm32-wasip2`: the `recorder` import
//! of `world agent`, and guards that make recording the common events one line each.
//!
//! - [`Session`] records `session-start` when made and `session-end` when it ends: with the
//!   outcome it is given, or as a failure if it is dropped without one (an early return, a
//!   `?`) or the agent panics.
//! - [`ToolTimer`] records a `tool-call` with its duration when it ends, the same way.
//! - [`Tokens`] records one model call's `token-usage`.
//! - [`record`], [`record_many`], [`flush`], [`status`] and every event type ([`events`])
//!   are the import itself, for everything else. With the feature `serde`, the event types
//!   derive `serde::Deserialize`.
//!
//! ```ignore
//! use agent_telemetry_kit::{ErrorKind, Session};
//!
//! fn main() {
//!     let session = Session::builder("session-42").agent("planner").start();
//!     let read = session.tool("read_file");
//!     match std::fs::read("notes.txt") {
//!         Ok(_) => read.succeed(),
//!         Err(_) => read.fail(ErrorKind::NotFound),
//!     }
//!     // Or: the outcome follows the closure's `Result`.
//!     let _ = session.time("shell", || run_shell());
//!     session.tokens("gpt-4o").input(1200).output(300).cost_usd(0.0105).record();
//!     session.succeed();
//!     agent_telemetry_kit::flush(3000);
//! }
//! ```
//!
//! Agents built for `wasm32-wasip2` abort on a panic: no destructor runs. So the kit keeps
//! the guards that are open in this thread and, on the first guard, installs a panic hook
//! (chained before the one that was set) that records each of them as failed, with
//! `error: internal`, before the agent goes down. Where panics unwind, as in native tests,
//! the guards' destructors then find nothing left to record.

#![warn(missing_docs)]

mod guard;

pub use guard::{Session, Tokens, ToolTimer};

// The generated types carry the WIT's own doc comments; a field the WIT does not comment on is
// explained by its record's comment.
#[allow(missing_docs)]
mod bindings {
    #[cfg(not(feature = "serde"))]
    wit_bindgen::generate!({ world: "agent", path: "../wit" });
    // The same, with event types that can be read from data.
    #[cfg(feature = "serde")]
    wit_bindgen::generate!({
        world: "agent",
        path: "../wit",
        additional_derives: [serde::Deserialize],
    });
}

/// The event types of `agent:telemetry/recorder`, and its functions.
pub use bindings::agent::telemetry::recorder as events;

// Each event record has a `Default` from the event catalogue, so the guards name only the
// fields they set.
mod defaults {
    use crate::events as records;
    use agent_telemetry_contract::{enum_not_said, record_defaults};

    agent_telemetry_contract::for_each_enum!(enum_not_said);
    agent_telemetry_contract::for_each_event!(record_defaults);
}
pub use events::{ErrorKind, Event, FlushReport, Outcome, StatusReport, flush, status};

/// Records one event (the import's `record`).
pub fn record(event: &Event) {
    sink::record(std::slice::from_ref(event));
}

/// Records several events in one call (the import's `record-many`): the cheapest way to hand
/// over many.
pub fn record_many(events: &[Event]) {
    sink::record(events);
}

/// Where the guards' events go: the import, or in this crate's tests a list to look at.
mod sink {
    use super::Event;

    #[cfg(not(test))]
    pub fn record(events: &[Event]) {
        match events {
            [] => {}
            [one] => super::events::record(one),
            many => super::events::record_many(many),
        }
    }

    #[cfg(test)]
    thread_local! {
        pub static RECORDED: std::cell::RefCell<Vec<Event>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    #[cfg(test)]
    pub fn record(events: &[Event]) {
        RECORDED.with(|r| r.borrow_mut().extend_from_slice(events));
    }

    /// What this thread recorded since the last call.
    #[cfg(test)]
    pub fn take() -> Vec<Event> {
        RECORDED.with(|r| std::mem::take(&mut *r.borrow_mut()))
    }
}
