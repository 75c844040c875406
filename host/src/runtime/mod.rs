//! The wasmtime side: the engine (`engine`), compiled code kept between processes (`cache`),
//! the telemetry component loaded and pre-instantiated with its linker
//! ([`TelemetryRuntime`]), one instance in its own store with a typed method per export
//! (`instance`), and the instance of one `Telemetry` handle, started again when it fails
//! (`supervisor`).

pub(crate) mod bindings;
pub(crate) mod cache;
pub(crate) mod engine;
pub(crate) mod engine_config;
pub(crate) mod instance;
pub(crate) mod supervisor;

use std::sync::{Arc, Mutex};

use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime::error::Context as _;
use wasmtime_wasi_config::WasiConfig;

use self::bindings::RecorderHostPre;
use self::cache::{CodeCache, Lookup};
use self::instance::{InstanceError, TelemetryInstance, TelemetryState};
use crate::egress::policy::EgressPolicy;
use crate::error::Error;

/// The telemetry component, built from `guest/` by `build.rs` and carried in this library.
pub const TELEMETRY_COMPONENT: &[u8] = include_bytes!(env!("AGENT_TELEMETRY_COMPONENT"));

/// [`TELEMETRY_COMPONENT`] compiled by `build.rs` for the machine the library was built on
/// (empty when it was built for another): what [`TelemetryRuntime::shared`] loads first.
const TELEMETRY_CODE: &[u8] = include_bytes!(env!("AGENT_TELEMETRY_COMPONENT_CODE"));

/// The telemetry component compiled and linked, ready to be instantiated: loaded once per
/// process ([`shared`](Self::shared)) and shared by every [`Telemetry`](crate::Telemetry)
/// handle, each of which gets its own instance in its own store.
pub struct TelemetryRuntime {
    engine: Engine,
    telemetry: RecorderHostPre<TelemetryState>,
}

impl TelemetryRuntime {
    /// The process-wide runtime with the embedded component, loaded on first use: the code
    /// compiled with the library when it fits this machine and engine (a few milliseconds),
    /// else from the code cache, or compiled. Callers that come while it loads wait for that
    /// one load.
    pub fn shared() -> Result<Arc<TelemetryRuntime>, Error> {
        static SHARED: Mutex<Option<Arc<TelemetryRuntime>>> = Mutex::new(None);
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(runtime) = &*shared {
            return Ok(runtime.clone());
        }
        let engine = engine::shared_engine()?;
        let runtime = match TelemetryRuntime::built_in(&engine) {
            Some(runtime) => runtime,
            None => TelemetryRuntime::with_component(TELEMETRY_COMPONENT)?,
        };
        let runtime = Arc::new(runtime);
        *shared = Some(runtime.clone());
        Ok(runtime)
    }

    /// The runtime with the code compiled at build time, if there is some and `engine` can
    /// run it (wasmtime checks its version, settings and this CPU's features).
    pub(crate) fn built_in(engine: &Engine) -> Option<TelemetryRuntime> {
        if TELEMETRY_CODE.is_empty() {
            return None;
        }
        // SAFETY: the code is part of this library's own binary, compiled by its build script
        // from the component it carries: as trusted as the library itself.
        let component = match unsafe { Component::deserialize(engine, TELEMETRY_CODE) } {
            Ok(component) => component,
            Err(e) => {
                tracing::debug!(error = %e, "the code compiled with the library does not fit this engine; compiling the component");
                return None;
            }
        };
        TelemetryRuntime::link(engine, &component)
            .inspect_err(
                |e| tracing::warn!(error = %e, "the code compiled with the library does not link"),
            )
            .ok()
    }

    /// A runtime for another build of the telemetry component (tests, custom builds), on
    /// the process's engine, through the code cache the environment names.
    pub fn with_component(wasm: &[u8]) -> Result<TelemetryRuntime, Error> {
        let cache = CodeCache::from_env();
        let (runtime, _) = TelemetryRuntime::load(&engine::shared_engine()?, wasm, cache.as_ref())
            .map_err(|e| Error::Component(e.into()))?;
        Ok(runtime)
    }

    /// Loads `wasm` on `engine`, from `cache` if given, and links it; says how the code was
    /// had.
    pub(crate) fn load(
        engine: &Engine,
        wasm: &[u8],
        cache: Option<&CodeCache>,
    ) -> anyhow::Result<(TelemetryRuntime, Lookup)> {
        let (component, lookup) = CodeCache::load(cache, engine, wasm)
            .map_err(|e| e.context("the telemetry component does not compile"))?;
        Ok((TelemetryRuntime::link(engine, &component)?, lookup))
    }

    /// `component` linked to what this host gives the telemetry component.
    fn link(engine: &Engine, component: &Component) -> anyhow::Result<TelemetryRuntime> {
        let engine = engine.clone();
        let mut linker = Linker::<TelemetryState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |s: &mut TelemetryState| {
            WasiConfig::from(&s.config)
        })?;
        let pre = linker
            .instantiate_pre(component)
            .context("the telemetry component imports something this host does not provide")?;
        let telemetry = RecorderHostPre::new(pre)?;
        Ok(TelemetryRuntime { engine, telemetry })
    }

    /// The engine agents run on too, so their `recorder` calls can reach this component.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A fresh telemetry instance in its own store.
    pub(crate) async fn instantiate(
        &self,
        config: Vec<(String, String)>,
        egress: EgressPolicy,
        clock: &crate::clock::Clock,
    ) -> Result<TelemetryInstance, InstanceError> {
        TelemetryInstance::new(&self.telemetry, config, egress, clock).await
    }
}

/// `wasm` compiled for `engine`, through the code cache the environment names (if any).
pub(crate) fn load_component(engine: &Engine, wasm: &[u8]) -> anyhow::Result<Component> {
    Ok(CodeCache::load(CodeCache::from_env().as_ref(), engine, wasm)?.0)
}
