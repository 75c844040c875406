//! [`Telemetry`]: the handle a program (or an agent's `recorder` import) records through.
//!
//! Never blocking the caller is the design: recording hands events to a worker task that owns
//! the component's store (`worker`), through a bounded hand-off (`handoff`), and returns at
//! once. Only `flush` and `status` wait, and `flush` never longer than its deadline. If the
//! hand-off is full (the component is stalled), events are dropped and counted rather than
//! making the caller wait. If the component traps, the worker logs it and starts a fresh
//! instance; the caller never sees the trap.
//!
//! With an identity directory, delivery goes through the spool (`crate::delivery`): a flush
//! first moves every batch the component made to disk, then sends from there, retrying while
//! the deadline allows. Without one, the component's own flush sends and retries, and what is
//! left at stop is counted as dropped. The native calls (`track_command`, …) are in `api`,
//! the status a handle reports in `status`.

mod api;
mod handle;
mod handoff;
mod status;
mod worker;

pub use api::Tokens;
pub use handle::Telemetry;
pub use status::Status;
