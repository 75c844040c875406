//! What the telemetry component (`guest/`) and its host (`host/`) agree on, in one place:
//!
//! - [`catalogue`]: every event kind and field, with its privacy rule, declared once;
//! - [`wire`]: the native batch, as Rust types both sides serialize and read;
//! - [`batch`]: reading a batch back, with a typed error ([`batch::BatchError`]);
//! - [`config`]: the `wasi:config` keys the component reads, their defaults and bounds;
//! - [`deletion`]: the deletion request the host sends after `telemetry off`, and the
//!   collector's receipt;
//! - [`ids`]: the formats of installation ids and hash keys;
//! - [`otlp_names`]: the GenAI attribute names that changed, for the `otlp` format;
//! - [`endpoint`]: the one parser of the endpoint URL, for the component and the host's policy;
//! - [`retry`]: the one retry schedule, driving both the component's own flush and the host's
//!   spool delivery;
//! - [`summary`]: what a report reads from an event, for the collector and counts-only mode;
//! - [`counts`]: counts-only mode's upload, which the host writes and the collector reads.
//!
//! Nothing here touches WASI or the host's runtime: it builds for `wasm32-wasip2` and natively
//! alike, and the host links only this crate of the guest's code.

#![warn(missing_docs)]

pub mod batch;
pub mod catalogue;
pub mod config;
pub mod counts;
pub mod deletion;
pub mod endpoint;
pub mod ids;
pub mod otlp_names;
pub mod retry;
pub mod summary;
pub mod wire;
