//! OpenTelemetry in: agents that already emit OpenTelemetry with the GenAI semantic
//! conventions are counted with no code of ours, through two doors and one mapping.
//!
//! - the host side of `wasi:otel` for agents [`run_agent`](crate::agent::run_agent) runs
//!   (sandboxed, no network), beside their other imports in `agent::otel`;
//! - [`otlp`]: OTLP/HTTP export requests (protobuf or JSON) decoded within bounds, for the
//!   `relay` that native agents export to;
//! - [`mapping`]: what either door hears becomes this project's events, and everything else is
//!   dropped and counted ([`Dropped`]). The events then go through the telemetry component
//!   like any other: the same anonymizer, consent, spool, ledger and wire formats.

pub mod mapping;
pub mod otlp;

pub use mapping::{Dropped, Mapper};
