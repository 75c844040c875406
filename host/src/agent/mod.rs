//! Running an agent component: `wasi:cli/run`, no network, `recorder` linked to telemetry.
//!
//! The agent's linker has WASI (with sockets denied, wasmtime's default), the `recorder`
//! import (`recorder`; `compat` for agents built against an earlier version) and `wasi:otel`
//! (`otel`, through the mapping in `crate::otel`), nothing else (`run`). Its `recorder`
//! calls, and the events its OpenTelemetry spans map to, go to a [`Recorder`] (a `Telemetry`
//! handle), which hands them to the telemetry component's own store: the agent never waits
//! on the network.

mod compat;
mod otel;
mod recorder;
mod run;

pub use recorder::Recorder;
pub use run::{
    AgentExit, AgentLimits, AgentOptions, RECORDER_INTERFACE, TABLE_ELEMENT_BYTES,
    TIMEOUT_EXIT_CODE, code_is_cached, compile_agent, run_agent, run_agent_component, state_dirs,
};
