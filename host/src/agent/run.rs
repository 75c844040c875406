//! Running an agent component to completion: `wasi:cli/run`, WASI without network, and the
//! `recorder` import. An agent that imports `wasi:http` is refused before it runs, with an
//! error that says why.

use std::path::PathBuf;

use anyhow::{Result, bail};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxView, WasiView};

use super::recorder::{self, Recorder, RecorderImport};
use crate::runtime::TelemetryRuntime;

/// The interface agents import, as named in the WIT package.
pub const RECORDER_INTERFACE: &str = "agent:telemetry/recorder@0.1.0";

/// Imports an agent may not have: the network is the telemetry component's alone.
const FORBIDDEN_IMPORT_PREFIXES: &[&str] = &["wasi:http/"];

/// Largest output kept when an agent's output is captured rather than inherited.
const CAPTURE_LIMIT: usize = 16 << 20;

#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// argv[1..]; argv[0] is the component's file name.
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Host directory, and where the agent sees it.
    pub dirs: Vec<(PathBuf, String)>,
    /// Capture stdout/stderr into [`AgentExit`] instead of inheriting the host's.
    pub capture_output: bool,
    pub program_name: String,
}

#[derive(Debug, Clone)]
pub struct AgentExit {
    pub code: i32,
    /// Empty unless `capture_output` was set.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

struct AgentState {
    wasi: WasiCtx,
    table: ResourceTable,
    recorder: RecorderImport,
}

impl WasiView for AgentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The linker for agents: WASI plus `recorder`, forwarded to the store's [`Recorder`].
fn linker(engine: &Engine) -> Result<Linker<AgentState>> {
    let mut linker = Linker::<AgentState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    recorder::add_to_linker(&mut linker, |state: &mut AgentState| &mut state.recorder)?;
    Ok(linker)
}

/// Runs `wasm` (an agent component exporting `wasi:cli/run`) to completion and returns its
/// exit code. Telemetry is not flushed here: the caller decides the flush deadline.
pub async fn run_agent(
    runtime: &TelemetryRuntime,
    recorder: &(impl Recorder + Clone),
    wasm: &[u8],
    options: &AgentOptions,
) -> Result<AgentExit> {
    let component = Component::new(runtime.engine(), wasm)
        .context("the agent is not a valid wasm component")?;
    run_agent_component(runtime, recorder, &component, options).await
}

/// [`run_agent`] for an agent already compiled with `runtime.engine()`: for hosts that run
/// the same agent many times.
pub async fn run_agent_component(
    runtime: &TelemetryRuntime,
    recorder: &(impl Recorder + Clone),
    component: &Component,
    options: &AgentOptions,
) -> Result<AgentExit> {
    let engine = runtime.engine();
    refuse_network_imports(engine, component)?;
    let pre = linker(engine)?.instantiate_pre(component).context(
        "the agent imports something this host does not provide (agents get WASI without \
         network, and agent:telemetry/recorder)",
    )?;
    let command = CommandPre::new(pre).context("the agent does not export wasi:cli/run")?;

    let mut wasi = WasiCtx::builder();
    let name = if options.program_name.is_empty() {
        "agent"
    } else {
        &options.program_name
    };
    wasi.arg(name).args(&options.args).envs(&options.env);
    for (host, guest) in &options.dirs {
        wasi.preopened_dir(host, guest, FsPerms::ReadWrite)
            .with_context(|| format!("cannot give the agent {}", host.display()))?;
    }
    let captured = options.capture_output.then(|| {
        let (out, err) = (
            MemoryOutputPipe::new(CAPTURE_LIMIT),
            MemoryOutputPipe::new(CAPTURE_LIMIT),
        );
        wasi.stdout(out.clone()).stderr(err.clone());
        (out, err)
    });
    if captured.is_none() {
        wasi.inherit_stdio();
    }
    // Sockets stay denied (wasmtime's default); said again here so it cannot drift.
    wasi.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);

    let state = AgentState {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        recorder: RecorderImport::new(recorder.clone()),
    };
    let mut store = Store::new(engine, state);
    // The engine interrupts on epochs (for the telemetry component's CPU budget). An agent
    // has no budget: at each tick it yields to the executor and carries on, so a busy agent
    // never starves the telemetry worker.
    store.epoch_deadline_async_yield_and_update(1);
    store.set_epoch_deadline(1);
    let instance = command
        .instantiate_async(&mut store)
        .await
        .context("the agent could not be instantiated")?;
    let code = match instance.wasi_cli_run().call_run(&mut store).await {
        Ok(Ok(())) => 0,
        Ok(Err(())) => 1,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => exit.0,
            None => return Err(anyhow::Error::from(e).context("the agent trapped")),
        },
    };
    let (stdout, stderr) = match captured {
        Some((out, err)) => (out.contents().to_vec(), err.contents().to_vec()),
        None => (Vec::new(), Vec::new()),
    };
    Ok(AgentExit {
        code,
        stdout,
        stderr,
    })
}

fn refuse_network_imports(engine: &Engine, component: &Component) -> Result<()> {
    let component_type = component.component_type();
    let forbidden: Vec<&str> = component_type
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| {
            FORBIDDEN_IMPORT_PREFIXES
                .iter()
                .any(|p| name.starts_with(p))
        })
        .collect();
    if !forbidden.is_empty() {
        bail!(
            "the agent imports {}: agents run without network access. Report usage through \
             `{RECORDER_INTERFACE}` instead; only the telemetry component may send, and only \
             to its configured endpoint",
            forbidden.join(", ")
        );
    }
    Ok(())
}
