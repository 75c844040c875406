//! One instance of the telemetry component in its own store, with one typed method per export.
//!
//! The store gets exactly: `wasi:http` through the [`EgressPolicy`], `wasi:config` from the
//! host's settings, and a WASI context with no environment, no arguments, no files, no stdin
//! and no sockets. Its memory is capped. Every call sets its own CPU budget: at each epoch
//! tick the component yields to the executor (so it never holds a runtime thread) and spends
//! one tick of its budget; time blocked in a host call (waiting on the network) costs one tick,
//! not all of it. A call that spends its budget traps; a call that waits past its deadline is
//! cut off. Either way the method says so with an [`InstanceError`], and the instance must not
//! be used again.

use std::time::Duration;

use agent_telemetry_contract::retry;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::delivery::{Batch, DeliveryReport};
use super::bindings::recorder::{Event, FlushReport, StatusReport};
use super::bindings::{RecorderHost, RecorderHostPre};
use super::engine::epoch_ticks;
use crate::egress::policy::EgressPolicy;

/// Memory the telemetry component may use.
pub const TELEMETRY_MEMORY_LIMIT: usize = 64 << 20;

/// CPU budget of a call that does no I/O (record, status, take-undelivered, note-dropped,
/// instantiation); calls that send get their deadline on top of it.
pub const CALL_BUDGET: Duration = Duration::from_secs(2);

/// Why a call into the instance did not return normally.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// The component trapped (a panic, memory past its cap, a bad call).
    #[error("the telemetry component trapped: {0:#}")]
    Trap(wasmtime::Error),
    /// It ran past its CPU budget, or waited past the call's deadline.
    #[error("the telemetry component overran its budget of {0:?}")]
    Overran(Duration),
    /// There is no instance to call: it could not be created.
    #[error("the telemetry component could not be instantiated: {0:#}")]
    Unavailable(wasmtime::Error),
}

pub(crate) struct TelemetryState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    egress: EgressPolicy,
    table: ResourceTable,
    pub(super) config: WasiConfigVariables,
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

/// A live telemetry instance.
pub struct TelemetryInstance {
    store: Store<TelemetryState>,
    bindings: RecorderHost,
}

impl TelemetryInstance {
    pub(super) async fn new(
        pre: &RecorderHostPre<TelemetryState>,
        config: Vec<(String, String)>,
        egress: EgressPolicy,
        clock: &crate::clock::Clock,
    ) -> Result<TelemetryInstance, InstanceError> {
        let mut wasi = WasiCtx::builder();
        if let Some(clock) = clock.wasi() {
            wasi.wall_clock(clock);
        }
        let state = TelemetryState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            egress,
            table: ResourceTable::new(),
            config: config.into_iter().collect(),
            limits: StoreLimitsBuilder::new()
                .memory_size(TELEMETRY_MEMORY_LIMIT)
                .build(),
            cpu_ticks_left: 0,
        };
        let mut store = Store::new(pre.engine(), state);
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_callback(|mut ctx| {
            let left = &mut ctx.data_mut().cpu_ticks_left;
            if *left == 0 {
                return Ok(wasmtime::UpdateDeadline::Interrupt);
            }
            *left -= 1;
            Ok(wasmtime::UpdateDeadline::Yield(1))
        });
        set_cpu_budget(&mut store, CALL_BUDGET);
        let bindings = pre
            .instantiate_async(&mut store)
            .await
            .map_err(InstanceError::Unavailable)?;
        Ok(TelemetryInstance { store, bindings })
    }

    /// Hands `events` to the component, which validates, anonymizes and queues them.
    pub async fn record_many(&mut self, events: &[Event]) -> Result<(), InstanceError> {
        set_cpu_budget(&mut self.store, CALL_BUDGET);
        let call = self
            .bindings
            .agent_telemetry_recorder()
            .call_record_many(&mut self.store, events);
        settle(call.await, CALL_BUDGET)
    }

    /// The component's own status report.
    pub async fn status(&mut self) -> Result<StatusReport, InstanceError> {
        set_cpu_budget(&mut self.store, CALL_BUDGET);
        let call = self
            .bindings
            .agent_telemetry_recorder()
            .call_status(&mut self.store);
        settle(call.await, CALL_BUDGET)
    }

    /// The component's own flush (it sends and retries), cut off at `deadline`; it is asked
    /// to finish a little earlier, so that its answer arrives in time.
    pub async fn flush(&mut self, deadline: Duration) -> Result<FlushReport, InstanceError> {
        set_cpu_budget(&mut self.store, deadline + CALL_BUDGET);
        let call = self
            .bindings
            .agent_telemetry_recorder()
            .call_flush(&mut self.store, millis(retry::within(deadline)));
        match tokio::time::timeout(deadline, call).await {
            Ok(result) => settle(result, deadline + CALL_BUDGET),
            Err(_) => Err(InstanceError::Overran(deadline)),
        }
    }

    /// Every event not yet delivered, as whole serialized batches, oldest first; the
    /// component holds none afterwards.
    pub async fn take_undelivered(&mut self) -> Result<Vec<Batch>, InstanceError> {
        set_cpu_budget(&mut self.store, CALL_BUDGET);
        let call = self
            .bindings
            .agent_telemetry_delivery()
            .call_take_undelivered(&mut self.store);
        settle(call.await, CALL_BUDGET)
    }

    /// Sends one spooled batch, cut off at `left` (asked to finish a little earlier).
    pub async fn deliver(
        &mut self,
        body: &[u8],
        left: Duration,
    ) -> Result<DeliveryReport, InstanceError> {
        set_cpu_budget(&mut self.store, left + CALL_BUDGET);
        let call = self.bindings.agent_telemetry_delivery().call_deliver(
            &mut self.store,
            body,
            millis(retry::within(left)),
        );
        match tokio::time::timeout(left, call).await {
            Ok(result) => settle(result, left + CALL_BUDGET),
            Err(_) => Err(InstanceError::Overran(left)),
        }
    }

    /// Tells the component about `count` events the host dropped, for the next batch's
    /// envelope.
    pub async fn note_dropped(&mut self, count: u32) -> Result<(), InstanceError> {
        set_cpu_budget(&mut self.store, CALL_BUDGET);
        let call = self
            .bindings
            .agent_telemetry_delivery()
            .call_note_dropped(&mut self.store, count);
        settle(call.await, CALL_BUDGET)
    }
}

/// Gives the next call into the component `budget` of CPU time.
fn set_cpu_budget(store: &mut Store<TelemetryState>, budget: Duration) {
    store.data_mut().cpu_ticks_left = epoch_ticks(budget);
    store.set_epoch_deadline(1);
}

/// A call's result as this module reports it: running out of epoch ticks is an overrun.
fn settle<T>(result: wasmtime::Result<T>, budget: Duration) -> Result<T, InstanceError> {
    result.map_err(|e| match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => InstanceError::Overran(budget),
        _ => InstanceError::Trap(e),
    })
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
