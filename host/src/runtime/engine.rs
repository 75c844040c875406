//! The wasmtime engine (one per process) and the clock of every CPU budget.
//!
//! Every engine here interrupts on epochs: a ticker thread advances the engine's epoch every
//! [`EPOCH_TICK`] for as long as the engine lives, and each store decides what a tick costs.
//! The telemetry component's calls get a budget in ticks (see `instance.rs`); agents yield at
//! every tick and carry on.

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::Engine;

use crate::error::Error;

/// How often the engine's epoch advances: the grain of every CPU budget.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The process's engine, built on first use: the telemetry component and every agent run on
/// it, so it is configured (and its ticker started) once.
pub fn shared_engine() -> Result<Engine, Error> {
    static SHARED: OnceLock<Engine> = OnceLock::new();
    if let Some(engine) = SHARED.get() {
        return Ok(engine.clone());
    }
    let engine = new_engine().map_err(|e| Error::Engine(e.into()))?;
    // Two threads may race here; the engine that loses is dropped, and its ticker with it.
    Ok(SHARED.get_or_init(|| engine).clone())
}

/// Set to `perfmap` to have `perf` name the wasm functions it samples (a `/tmp/perf-<pid>.map`
/// is written): how BENCHMARKS.md profiles the code inside the component.
pub(crate) const PROFILE_ENV: &str = crate::environment::PROFILE;

/// An engine for components, with epoch interruption and its ticker running.
pub(crate) fn new_engine() -> wasmtime::Result<Engine> {
    let mut config = super::engine_config::config();
    if crate::environment::var(PROFILE_ENV).is_some_and(|v| v == "perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config)?;
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// Advances `engine`'s epoch every tick for as long as the engine lives.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("agent-telemetry-epoch".to_string())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
    if let Err(e) = spawned {
        // Without a ticker no deadline ever passes: calls are then bounded only by the
        // worker's own timeouts.
        tracing::error!(error = %e, "cannot start the epoch ticker");
    }
}

/// Epoch ticks for a CPU budget of `budget`, at least one.
pub(crate) fn epoch_ticks(budget: Duration) -> u64 {
    (budget.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}
