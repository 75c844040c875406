//! The wasmtime side: the engine (`engine`), the telemetry component compiled and
//! pre-instantiated with its linker ([`TelemetryRuntime`]), one instance in its own store
//! with a typed method per export (`instance`), and the instance of one `Telemetry` handle,
//! started again when it fails (`supervisor`).

pub mod bindings;
pub mod engine;
pub mod instance;
pub mod supervisor;

use std::sync::{Arc, OnceLock};

use anyhow::Result;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime::error::Context as _;
use wasmtime_wasi_config::WasiConfig;

use self::bindings::RecorderHostPre;
use self::instance::{InstanceError, TelemetryInstance, TelemetryState};
use crate::egress::policy::EgressPolicy;

/// The telemetry component, built from `guest/` by `build.rs` and carried in this library.
pub const TELEMETRY_COMPONENT: &[u8] = include_bytes!(env!("AGENT_TELEMETRY_COMPONENT"));

pub struct TelemetryRuntime {
    engine: Engine,
    telemetry: RecorderHostPre<TelemetryState>,
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
        let engine = engine::new_engine()?;
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
        Ok(TelemetryRuntime { engine, telemetry })
    }

    /// The engine agents run on too, so their `recorder` calls can reach this component.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A fresh telemetry instance in its own store.
    pub async fn instantiate(
        &self,
        config: Vec<(String, String)>,
        egress: EgressPolicy,
    ) -> Result<TelemetryInstance, InstanceError> {
        TelemetryInstance::new(&self.telemetry, config, egress).await
    }
}
