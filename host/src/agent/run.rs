//! Running an agent component to completion: `wasi:cli/run`, WASI without network, and the
//! `recorder` import. An agent that imports `wasi:http` is refused before it runs, with an
//! error that says why.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxView, WasiView};

use super::compat;
use super::recorder::{self, Recorder, RecorderImport};

/// The interface agents import, as named in the WIT package.
pub const RECORDER_INTERFACE: &str = "agent:telemetry/recorder@0.2.0";

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
    /// Host paths no directory in `dirs` may be, contain or lie inside: the identity
    /// directory (its key, its spool) and the code cache (code this host runs natively).
    pub protected: Vec<PathBuf>,
    /// What the agent may use.
    pub limits: AgentLimits,
    /// Capture stdout/stderr into [`AgentExit`] instead of inheriting the host's.
    pub capture_output: bool,
    pub program_name: String,
}

/// What an agent may use: it is untrusted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLimits {
    /// Linear memory in all, in bytes.
    pub memory_bytes: usize,
    /// Wall time for the whole run; `None`: as long as it takes.
    pub timeout: Option<Duration>,
    /// Bytes one call of an import may hand over (strings and lists, aliased ones counted
    /// each time): more traps the call.
    pub bytes_per_call: usize,
    /// Core and component instances, tables, memories, and table elements.
    pub instances: usize,
    pub tables: usize,
    pub memories: usize,
    pub table_elements: usize,
}

impl Default for AgentLimits {
    fn default() -> Self {
        AgentLimits {
            memory_bytes: 1 << 30,
            timeout: None,
            bytes_per_call: 16 << 20,
            instances: 256,
            tables: 256,
            memories: 16,
            table_elements: 1 << 20,
        }
    }
}

/// What `run` exits with when an agent runs past its timeout (as `timeout(1)` does).
pub const TIMEOUT_EXIT_CODE: i32 = 124;

#[derive(Debug, Clone)]
pub struct AgentExit {
    pub code: i32,
    /// The agent ran past [`AgentLimits::timeout`] and was stopped; `code` is then
    /// [`TIMEOUT_EXIT_CODE`].
    pub timed_out: bool,
    /// Empty unless `capture_output` was set.
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

struct AgentState {
    wasi: WasiCtx,
    table: ResourceTable,
    recorder: RecorderImport,
    limits: AgentLimiter,
}

/// wasmtime's [`StoreLimits`], remembering whether it refused the agent memory: a trap after
/// that is most likely the agent's allocator giving up, and the error says so.
struct AgentLimiter {
    limits: StoreLimits,
    memory_refused: bool,
}

impl ResourceLimiter for AgentLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?;
        self.memory_refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl WasiView for AgentState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The linker for agents: WASI plus `recorder` (the current version, and every earlier one
/// adapted to it), forwarded to the store's [`Recorder`].
fn linker(engine: &Engine) -> Result<Linker<AgentState>> {
    let mut linker = Linker::<AgentState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    recorder::add_to_linker(&mut linker, |state: &mut AgentState| &mut state.recorder)?;
    compat::add_to_linker(&mut linker, |state: &mut AgentState| &mut state.recorder)?;
    Ok(linker)
}

/// Runs `wasm` (an agent component exporting `wasi:cli/run`) on `engine` to completion and
/// returns its exit code; its compiled code comes from the code cache when there is one. Its
/// `recorder` calls go to `recorder`. Telemetry is not flushed here: the caller decides the
/// flush deadline.
pub async fn run_agent(
    engine: &Engine,
    recorder: &(impl Recorder + Clone),
    wasm: &[u8],
    options: &AgentOptions,
) -> Result<AgentExit> {
    let component = crate::runtime::load_component(engine, wasm)
        .map_err(|e| e.context("the agent is not a valid wasm component"))?;
    run_agent_component(engine, recorder, &component, options).await
}

/// [`run_agent`] for an agent already compiled with `engine`: for hosts that run the same
/// agent many times.
pub async fn run_agent_component(
    engine: &Engine,
    recorder: &(impl Recorder + Clone),
    component: &Component,
    options: &AgentOptions,
) -> Result<AgentExit> {
    refuse_network_imports(engine, component)?;
    refuse_protected_dirs(&options.dirs, &options.protected)?;
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

    let limits = &options.limits;
    let state = AgentState {
        wasi: wasi.build(),
        table: ResourceTable::new(),
        recorder: RecorderImport::new(recorder.clone()),
        limits: AgentLimiter {
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(limits.instances)
                .tables(limits.tables)
                .memories(limits.memories)
                .table_elements(limits.table_elements)
                .build(),
            memory_refused: false,
        },
    };
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    // Lifting what an import receives (a list of events whose strings all alias one buffer,
    // say) allocates host memory: bounded per call, beyond which the call traps.
    store.set_hostcall_fuel(limits.bytes_per_call);
    // The engine interrupts on epochs (for the telemetry component's CPU budget). An agent
    // has no budget: at each tick it yields to the executor and carries on, so a busy agent
    // never starves the telemetry worker.
    store.epoch_deadline_async_yield_and_update(1);
    store.set_epoch_deadline(1);
    let run = async {
        let instance = match command.instantiate_async(&mut store).await {
            Ok(instance) => instance,
            Err(e) => return Err((false, e)),
        };
        match instance.wasi_cli_run().call_run(&mut store).await {
            Ok(Ok(())) => Ok(0),
            Ok(Err(())) => Ok(1),
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => Ok(exit.0),
                None => Err((true, e)),
            },
        }
    };
    let outcome = match limits.timeout {
        // Dropping the run drops the agent's store: it is stopped wherever it was.
        Some(timeout) => tokio::time::timeout(timeout, run).await.ok(),
        None => Some(run.await),
    };
    let (code, timed_out) = match outcome {
        None => (TIMEOUT_EXIT_CODE, true),
        Some(Ok(code)) => (code, false),
        Some(Err((false, e))) => {
            return Err(anyhow::Error::from(e).context("the agent could not be instantiated"));
        }
        Some(Err((true, e))) => {
            let memory_refused = store.data().limits.memory_refused;
            return Err(explain_trap(anyhow::Error::from(e), limits, memory_refused));
        }
    };
    let (stdout, stderr) = match captured {
        Some((out, err)) => (out.contents().to_vec(), err.contents().to_vec()),
        None => (Vec::new(), Vec::new()),
    };
    Ok(AgentExit {
        code,
        timed_out,
        stdout,
        stderr,
    })
}

/// A trap, with what limit it probably hit said plainly.
fn explain_trap(error: anyhow::Error, limits: &AgentLimits, memory_refused: bool) -> anyhow::Error {
    let text = format!("{error:#}");
    let why = if text.contains("hostcalls") || text.contains("too much data") {
        format!(
            "the agent handed over more than {} bytes in one call of an import (its limit per call)",
            limits.bytes_per_call
        )
    } else if memory_refused {
        format!(
            "the agent trapped after it was refused memory past its memory limit of {} MiB \
             (--max-memory)",
            limits.memory_bytes >> 20
        )
    } else {
        "the agent trapped".to_string()
    };
    error.context(why)
}

/// Refuses a directory for the agent that is, contains or lies inside a protected path.
fn refuse_protected_dirs(dirs: &[(PathBuf, String)], protected: &[PathBuf]) -> Result<()> {
    let resolve = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    let protected: Vec<PathBuf> = protected.iter().map(resolve).collect();
    for (host, _) in dirs {
        let host = resolve(host);
        if let Some(p) = protected
            .iter()
            .find(|p| host == **p || host.starts_with(p) || p.starts_with(&host))
        {
            bail!(
                "{} cannot be given to the agent: it is, holds or lies in {}, which agents may \
                 not reach (telemetry keeps its identity, key, spool and compiled code there)",
                host.display(),
                p.display()
            );
        }
    }
    Ok(())
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
