//! Privacy-first usage telemetry for AI agents, as a wasmtime host for the telemetry
//! component (`guest/`).
//!
//! Where things are: `telemetry` (the [`Telemetry`] handle and its worker), `api` (the
//! native calls: `track_command`, `record_tool_call`, …), `runtime` (engine, linkers, the
//! embedded component, CPU and memory bounds), `http_policy` (which requests may leave, and
//! debug capture), `ledger` (the egress ledger), `spool` (undelivered batches on disk),
//! `settings` (what reaches the component as `wasi:config`), `consent` (whether telemetry
//! runs), `identity` (installation id and key), `privacy` (what is collected, the notice),
//! `agent` (running agent components), `audit` (a component's imports), `collector` and
//! `report` (the local collector), `cli`.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use agent_telemetry::{Telemetry, TelemetrySettings};
//!
//! let settings = TelemetrySettings::new("my-tool", "1.2.0").endpoint("http://127.0.0.1:4318/v1/batch");
//! let telemetry = Telemetry::start(settings).await?;
//! telemetry.track_command("run", &["--debug"], Ok(()));
//! telemetry.shutdown(Duration::from_secs(2)).await;
//! # Ok(()) }
//! ```

pub mod agent;
pub mod api;
pub mod audit;
mod bindings;
pub mod cli;
pub mod collector;
pub mod consent;
pub mod http_policy;
pub mod identity;
pub mod ledger;
pub mod privacy;
pub mod report;
pub mod runtime;
pub mod settings;
pub mod spool;
pub mod telemetry;

/// The WIT event types, as Rust values.
pub mod event {
    pub use crate::bindings::recorder::*;
}

pub use agent_telemetry_guest::wire;
pub use api::Tokens;
pub use consent::Consent;
pub use runtime::TelemetryRuntime;
pub use settings::TelemetrySettings;
pub use telemetry::{Status, Telemetry};

/// Errors of this library's own making (wasmtime and I/O errors travel as `anyhow`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the endpoint `{url}` cannot be used: {why}")]
    InvalidEndpoint { url: String, why: String },
}
