//! Doors into the implementation for this workspace's integration tests and benchmarks: no
//! part of the library's API, hidden from its documentation, and free to change with it.
//!
//! Each door is here because a test or a benchmark measures something no public call can
//! reach: a spool file written as the worker writes it, the component loaded through a code
//! cache of the caller's, an instance made without a `Telemetry` handle around it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::Engine;

use crate::delivery::spool::Spool;
use crate::egress::ledger::Ledger;
pub use crate::egress::policy::EgressPolicy;
use crate::egress::policy::{AllowedEndpoint, EgressCounters};
use crate::error::Error;
use crate::runtime::TelemetryRuntime;
pub use crate::runtime::cache::{CodeCache, Lookup};
pub use crate::runtime::instance::{InstanceError, TelemetryInstance};

/// Writes one batch of `events` events to `spool` as a flush does; returns how many events the
/// spool's bounds evicted to make room.
pub fn write_to_spool(spool: &Spool, body: &[u8], events: u64) -> io::Result<u64> {
    write_all_to_spool(spool, &[(body, events)])
}

/// Writes `batches` (bodies and their events) to `spool` together, as a flush that moves
/// several does; returns how many events the spool's bounds evicted to make room.
pub fn write_all_to_spool(spool: &Spool, batches: &[(&[u8], u64)]) -> io::Result<u64> {
    spool.write_all(batches).map_err(|(_, _, e)| e)
}

/// Loads `wasm` on `engine` through `cache` (compiling it without one), and says how the code
/// was had.
pub fn load_runtime(
    engine: &Engine,
    wasm: &[u8],
    cache: Option<&CodeCache>,
) -> Result<(TelemetryRuntime, Lookup), Error> {
    TelemetryRuntime::load(engine, wasm, cache).map_err(|e| Error::Component(e.into()))
}

/// The runtime with the code compiled with the library (as [`TelemetryRuntime::shared`] loads
/// it first), if it fits `engine`.
pub fn load_built_in(engine: &Engine) -> Option<TelemetryRuntime> {
    TelemetryRuntime::built_in(engine)
}

/// The egress policy of a handle sending to `endpoint`: the default timeout, no ledger file,
/// no debug log.
pub fn egress_policy(endpoint: &str) -> Result<EgressPolicy, Error> {
    Ok(EgressPolicy::new(
        Arc::new(AllowedEndpoint::parse(endpoint)?),
        Duration::from_secs(5),
        Arc::new(EgressCounters::default()),
        Ledger::open(None, 1 << 20),
        None,
        Default::default(),
    ))
}

/// A fresh instance of `runtime`'s component with the `wasi:config` pairs `config`, its
/// requests going through `egress`.
pub async fn instantiate(
    runtime: &TelemetryRuntime,
    config: Vec<(String, String)>,
    egress: EgressPolicy,
) -> Result<TelemetryInstance, InstanceError> {
    runtime
        .instantiate(config, egress, &crate::clock::Clock::system())
        .await
}
