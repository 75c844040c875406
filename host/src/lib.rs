//! Privacy-first usage telemetry for AI agents: the wasmtime host of the telemetry component
//! (`guest/`), for native programs that embed it and for agents it runs without network.
//!
//! # The data path, one hop at a time
//!
//! ```text
//!  native API (telemetry::api)     agent's `recorder` import (agent)
//!            \                        /
//!             Telemetry::record   (telemetry)         never waits
//!                       |  bounded hand-off           full: dropped, counted
//!                    worker   (telemetry::worker)     one task per handle
//!                       |  record-many
//!        telemetry component   (runtime::supervisor,  CPU budget per call;
//!        validate, anonymize,   runtime::instance)    restarted after a trap
//!        queue, batch
//!                       |  take-undelivered
//!                    spool   (delivery::spool)        on disk before it is sent
//!                       |  deliver, as the retry schedule says (delivery::sender)
//!        component's wasi:http request
//!                       |
//!             egress policy   (egress::policy)        one endpoint, capped timeouts
//!                       |
//!      ledger, debug capture  (egress::capture,       what left, byte for byte
//!                              egress::ledger)
//!                       |
//!                   collector
//! ```
//!
//! Whether any of it runs is decided by consent (`trust::consent`), who it says it is by the
//! identity (`trust::identity`); both are kept in private files (`trust::private_files`), and
//! what the component is told is `settings`. Without an identity directory there is no spool:
//! the component's own flush sends and retries.
//!
//! # What a program uses
//!
//! [`Telemetry`] (started from [`TelemetrySettings`]) to record, flush and shut down;
//! [`agent::run_agent`] to run an agent component without network, its `recorder` import
//! feeding a `Telemetry` handle; [`event`] for the event types; [`consent`], [`identity`],
//! [`ledger`], [`Spool`] and [`privacy`] to show a user what telemetry decided, keeps, sent
//! and collects. Every fallible call returns [`Error`], whose variants say which step failed.
//! The rest (the runtime, the worker, the spool's sender, the egress policy) is
//! implementation.
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

#![warn(missing_docs)]

pub mod agent;
mod clock;
mod counter;
mod delivery;
#[cfg(test)]
mod docs_layout;
mod egress;
pub mod environment;
mod error;
pub mod forget;
pub mod otel;
mod runtime;
pub mod settings;
mod telemetry;
#[doc(hidden)]
pub mod testing;
mod trust;

/// The WIT event types, as Rust values: what [`Telemetry::record`] takes, and the reports
/// [`Telemetry::flush`] and [`Telemetry::component_status`] return.
pub mod event {
    pub use crate::runtime::bindings::recorder::*;
}

/// What is collected, as users are told: the field table the README's "Privacy" section and
/// `agent-telemetry telemetry fields` show, and what is never collected.
pub mod privacy {
    pub use crate::trust::privacy::{
        ENVELOPE, FIELDS, NEVER, NoticeWords, Published, Rule, markdown, notice, summary,
    };
}

pub use agent_telemetry_contract::config::{Compression, Format, OtlpNames, OtlpProtocol};
pub use agent_telemetry_contract::{self as contract, wire};
pub use clock::Clock;
pub use delivery::counts::COUNTS_FILE;
pub use delivery::spool::{SPOOL_DIR, Spool, SpoolLimits};
pub use egress::ledger;
pub use error::Error;
pub use runtime::engine::shared_engine;
pub use runtime::{TELEMETRY_COMPONENT, TelemetryRuntime};
pub use settings::{RequestHeaders, TelemetrySettings};
pub use telemetry::{Status, Telemetry, Tokens};
pub use trust::consent::{self, Consent};
pub use trust::identity;
