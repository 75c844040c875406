//! The wasmtime side, built once per process: the engine, the telemetry component compiled
//! and pre-instantiated with its linker, and the linker agents are instantiated with.
//!
//! The telemetry component's store gets exactly: `wasi:http` through [`EgressPolicy`],
//! `wasi:config` from the host's settings, and a WASI context with no environment, no
//! arguments, no files, no stdin, and no sockets. Its memory is capped, and its CPU time per
//! call is bounded by epoch deadlines: a ticker thread advances the engine's epoch every
//! [`EPOCH_TICK`], and the worker gives each call a budget in ticks (see `telemetry.rs`). At
//! each tick the component yields to the executor (so it never holds a runtime thread) and
//! spends one tick of its budget; time blocked in a host call (waiting on the network) costs
//! one tick, not all of it. A call that spends its budget traps, and the worker starts a
//! fresh instance.

use std::sync::{Arc, OnceLock};

use anyhow::Result;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::agent::{self, AgentState};
use crate::bindings::{RecorderHost, RecorderHostPre};
use crate::http_policy::EgressPolicy;

/// The telemetry component, built from `guest/` by `build.rs` and carried in this binary.
pub const TELEMETRY_COMPONENT: &[u8] = include_bytes!(env!("AGENT_TELEMETRY_COMPONENT"));

/// Memory the telemetry component may use.
pub const TELEMETRY_MEMORY_LIMIT: usize = 64 << 20;

/// CPU budget for instantiating the telemetry component.
const INSTANTIATE_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

/// How often the engine's epoch advances: the grain of every CPU budget.
pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

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
pub(crate) fn epoch_ticks(budget: std::time::Duration) -> u64 {
    (budget.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

/// Gives the next call into the telemetry component `budget` of CPU time.
pub(crate) fn set_cpu_budget(store: &mut Store<TelemetryState>, budget: std::time::Duration) {
    store.data_mut().cpu_ticks_left = epoch_ticks(budget);
    store.set_epoch_deadline(1);
}

pub struct TelemetryRuntime {
    engine: Engine,
    telemetry: RecorderHostPre<TelemetryState>,
    agent_linker: Linker<AgentState>,
}

impl TelemetryRuntime {
    /// The process-wide runtime with the embedded component, compiled on first use.
    pub fn shared() -> Result<Arc<TelemetryRuntime>> {
        static SHARED: OnceLock<Arc<TelemetryRuntime>> = OnceLock::new();
        if let Some(rt) = SHARED.get() {
            return Ok(rt.clone());
        }
        let rt = Arc::new(TelemetryRuntime::with_component(TELEMETRY_COMPONENT)?);
        Ok(SHARED.get_or_init(|| rt).clone())
    }

    /// A runtime for another build of the telemetry component (tests, custom builds).
    pub fn with_component(wasm: &[u8]) -> Result<TelemetryRuntime> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        start_epoch_ticker(&engine);
        let component =
            Component::new(&engine, wasm).context("the telemetry component does not compile")?;

        let mut linker = Linker::<TelemetryState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |s: &mut TelemetryState| {
            WasiConfig::from(&s.config)
        })?;
        let pre = linker
            .instantiate_pre(&component)
            .context("the telemetry component imports something this host does not provide")?;
        let telemetry = RecorderHostPre::new(pre)?;
        let agent_linker = agent::linker(&engine)?;
        Ok(TelemetryRuntime {
            engine,
            telemetry,
            agent_linker,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn agent_linker(&self) -> &Linker<AgentState> {
        &self.agent_linker
    }

    /// A fresh telemetry instance in its own store.
    pub(crate) async fn instantiate(
        &self,
        config: Vec<(String, String)>,
        egress: EgressPolicy,
    ) -> Result<(Store<TelemetryState>, RecorderHost)> {
        let state = TelemetryState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            egress,
            table: ResourceTable::new(),
            config: config.into_iter().collect(),
            limits: StoreLimitsBuilder::new()
                .memory_size(TELEMETRY_MEMORY_LIMIT)
                .build(),
            cpu_ticks_left: 0,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(|mut ctx| {
            let left = &mut ctx.data_mut().cpu_ticks_left;
            if *left == 0 {
                return Ok(wasmtime::UpdateDeadline::Interrupt);
            }
            *left -= 1;
            Ok(wasmtime::UpdateDeadline::Yield(1))
        });
        set_cpu_budget(&mut store, INSTANTIATE_BUDGET);
        let bindings = self.telemetry.instantiate_async(&mut store).await?;
        Ok((store, bindings))
    }
}

pub(crate) struct TelemetryState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    egress: EgressPolicy,
    table: ResourceTable,
    config: WasiConfigVariables,
    limits: StoreLimits,
    /// Epoch ticks the current call may still run for.
    cpu_ticks_left: u64,
}

impl WasiView for TelemetryState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for TelemetryState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}
