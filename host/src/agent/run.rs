//! Running an agent component to completion: `wasi:cli/run`, WASI without network, the
//! `recorder` import and `wasi:otel`. An agent that imports `wasi:http` is refused before it runs, with an
//! error that says why.

use std::path::PathBuf;
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxView, WasiView};

use super::compat;
use super::otel::{self, OtelImport};
use super::recorder::{self, Recorder, RecorderImport};
use crate::error::Error;

/// The interface agents import, as named in the WIT package.
pub const RECORDER_INTERFACE: &str = "agent:telemetry/recorder@0.2.0";

/// Imports an agent may not have: the network is the telemetry component's alone.
const FORBIDDEN_IMPORT_PREFIXES: &[&str] = &["wasi:http/"];

/// Largest output kept when an agent's output is captured rather than inherited.
const CAPTURE_LIMIT: usize = 16 << 20;

/// How one agent runs: what it is given (arguments, environment, directories), what it may
/// use, and where its output goes. The default gives it nothing and the default limits.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// The agent's arguments after its name (`argv[1..]`); the name (`argv[0]`) is
    /// [`program_name`](Self::program_name).
    pub args: Vec<String>,
    /// The agent's whole environment, as (name, value) pairs: nothing of the host's is
    /// passed on unless it is here.
    pub env: Vec<(String, String)>,
    /// Host directory, and where the agent sees it.
    pub dirs: Vec<(PathBuf, String)>,
    /// Host paths no directory in `dirs` may be, contain or lie inside, on top of those that
    /// are refused always: [`state_dirs`] (this user's identity, code cache and its key) and
    /// the recorder's own ([`Recorder::state_dirs`]). So even `AgentOptions::default()`
    /// protects them.
    pub protected: Vec<PathBuf>,
    /// What the agent may use.
    pub limits: AgentLimits,
    /// Capture stdout/stderr into [`AgentExit`] instead of inheriting the host's.
    pub capture_output: bool,
    /// The agent's name as its `argv[0]`; `agent` when empty.
    pub program_name: String,
}

/// What an agent may use: it is untrusted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLimits {
    /// Memory in all, in bytes: the sum of every linear memory of every instance, and of every
    /// table (each element counted as [`TABLE_ELEMENT_BYTES`]).
    pub memory_bytes: usize,
    /// Wall time for the whole run; `None`: as long as it takes.
    pub timeout: Option<Duration>,
    /// Bytes one call of an import may hand over (strings and lists, aliased ones counted
    /// each time): more traps the call.
    pub bytes_per_call: usize,
    /// Core and component instances the agent may create.
    pub instances: usize,
    /// Tables the agent may create.
    pub tables: usize,
    /// Linear memories the agent may create (multi-memory is on).
    pub memories: usize,
    /// Elements of any one table.
    pub table_elements: usize,
    /// The least time between two flushes that reach the network: a `flush` sooner than this
    /// after the last one returns the current report and sends nothing, so an agent cannot
    /// decide when each request leaves (nor make a spool write and fsync per call).
    pub min_flush_interval: Duration,
}

/// What one table element is counted as in [`AgentLimits::memory_bytes`]: wasmtime keeps a
/// pointer per element.
pub const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<usize>();

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
            min_flush_interval: Duration::from_secs(1),
        }
    }
}

/// What `run` exits with when an agent runs past its timeout (as `timeout(1)` does).
pub const TIMEOUT_EXIT_CODE: i32 = 124;

/// How an agent's run ended.
#[derive(Debug, Clone)]
pub struct AgentExit {
    /// Its exit code: the one it exited with, 0 or 1 when `wasi:cli/run` returned `ok` or
    /// `err`, or [`TIMEOUT_EXIT_CODE`].
    pub code: i32,
    /// The agent ran past [`AgentLimits::timeout`] and was stopped; `code` is then
    /// [`TIMEOUT_EXIT_CODE`].
    pub timed_out: bool,
    /// What the agent wrote to stdout (up to 16 MiB); empty unless
    /// [`AgentOptions::capture_output`] was set.
    pub stdout: Vec<u8>,
    /// What the agent wrote to stderr, the same way.
    pub stderr: Vec<u8>,
}

struct AgentState {
    wasi: WasiCtx,
    table: ResourceTable,
    recorder: RecorderImport,
    otel: OtelImport,
    limits: AgentLimiter,
}

/// One budget for all of an agent's memory. wasmtime's [`StoreLimits`] bounds each linear
/// memory on its own, and tables not at all: an agent with 16 memories (multi-memory is on)
/// and large tables would get many times its limit. This keeps a running total of every
/// memory and table the store grows, and refuses growth past the budget. It also remembers
/// whether it refused: a trap after that is most likely the agent's allocator giving up, and
/// the error says so.
struct AgentLimiter {
    /// Counts (instances, tables, memories) and bounds per memory and per table.
    limits: StoreLimits,
    budget: usize,
    /// Bytes granted so far. Memories and tables never shrink, and they live as long as the
    /// store. A growth granted here that then fails in wasmtime (the OS refusing memory)
    /// stays counted: the error is on the safe side.
    used: usize,
    memory_refused: bool,
}

impl AgentLimiter {
    /// Grants `current` → `desired` bytes of one memory or table, within its own maximum
    /// and the budget in all.
    fn grant(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> bool {
        let growth = desired.saturating_sub(current);
        let total = self.used.saturating_add(growth);
        if maximum.is_some_and(|max| desired > max) || total > self.budget {
            return false;
        }
        self.used = total;
        true
    }
}

impl ResourceLimiter for AgentLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum)?
            && self.grant(current, desired, maximum);
        self.memory_refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes = |elements: usize| elements.saturating_mul(TABLE_ELEMENT_BYTES);
        let allowed = self.limits.table_growing(current, desired, maximum)?
            && self.grant(bytes(current), bytes(desired), maximum.map(bytes));
        self.memory_refused |= !allowed;
        Ok(allowed)
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
/// adapted to it) and `wasi:otel`, both forwarded to the store's [`Recorder`].
fn linker(engine: &Engine) -> wasmtime::Result<Linker<AgentState>> {
    let mut linker = Linker::<AgentState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    recorder::add_to_linker(&mut linker, |state: &mut AgentState| &mut state.recorder)?;
    compat::add_to_linker(&mut linker, |state: &mut AgentState| &mut state.recorder)?;
    otel::add_to_linker(&mut linker, |state: &mut AgentState| &mut state.otel)?;
    Ok(linker)
}

/// Runs `wasm` (an agent component exporting `wasi:cli/run`) on `engine` to completion and
/// returns its exit code; its compiled code comes from the code cache when there is one. Its
/// `recorder` calls go to `recorder`. Telemetry is not flushed here: the caller decides the
/// flush deadline.
///
/// Give it [`shared_engine`](crate::shared_engine) (or
/// [`TelemetryRuntime::engine`](crate::TelemetryRuntime::engine)): its epoch ticker makes a
/// busy agent yield to the executor, so it never starves the telemetry worker. An agent that cannot run is an [`Error`] saying why (not a component, a network
/// import, a protected directory, ...); one that traps is [`Error::AgentTrap`]; one that runs
/// past its timeout is not an error but an [`AgentExit`] with `timed_out` set.
pub async fn run_agent(
    engine: &Engine,
    recorder: &(impl Recorder + Clone),
    wasm: &[u8],
    options: &AgentOptions,
) -> Result<AgentExit, Error> {
    let component = compile_agent(engine, wasm)?;
    run_agent_component(engine, recorder, &component, options).await
}

/// The agent `wasm` compiled for `engine`, from the code cache when it holds it: what
/// [`run_agent`] does first, for a host that says what it is doing while it compiles (a large
/// agent takes seconds the first time).
pub fn compile_agent(engine: &Engine, wasm: &[u8]) -> Result<Component, Error> {
    crate::runtime::load_component(engine, wasm).map_err(|e| Error::InvalidAgent(e.into()))
}

/// Whether compiled code is kept for later runs: the code cache is on
/// (`AGENT_TELEMETRY_CACHE` is not `off`) and its directories can be found.
pub fn code_is_cached() -> bool {
    crate::runtime::cache::CodeCache::from_env().is_some()
}

/// [`run_agent`] for an agent already compiled with `engine`: for hosts that run the same
/// agent many times.
pub async fn run_agent_component(
    engine: &Engine,
    recorder: &(impl Recorder + Clone),
    component: &Component,
    options: &AgentOptions,
) -> Result<AgentExit, Error> {
    refuse_network_imports(engine, component)?;
    let protected: Vec<PathBuf> = state_dirs()
        .into_iter()
        .chain(recorder.state_dirs())
        .chain(options.protected.iter().cloned())
        .collect();
    refuse_protected_dirs(&options.dirs, &protected)?;
    let pre = linker(engine)
        .map_err(|e| Error::Internal(e.into()))?
        .instantiate_pre(component)
        .map_err(|e| Error::UnsupportedImport(e.into()))?;
    let command = CommandPre::new(pre).map_err(|e| Error::NotACommand(e.into()))?;

    let mut wasi = WasiCtx::builder();
    let name = if options.program_name.is_empty() {
        "agent"
    } else {
        &options.program_name
    };
    wasi.arg(name).args(&options.args).envs(&options.env);
    for (host, guest) in &options.dirs {
        wasi.preopened_dir(host, guest, FsPerms::ReadWrite)
            .map_err(|e| Error::AgentDir {
                dir: host.clone(),
                source: e.into(),
            })?;
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
        recorder: RecorderImport::new(recorder.clone())
            .with_min_flush_interval(limits.min_flush_interval),
        otel: OtelImport::new(recorder.clone()),
        limits: AgentLimiter {
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(limits.instances)
                .tables(limits.tables)
                .memories(limits.memories)
                .table_elements(limits.table_elements)
                .build(),
            budget: limits.memory_bytes,
            used: 0,
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
        Some(Err((false, e))) => return Err(Error::AgentInstantiation(e.into())),
        Some(Err((true, e))) => {
            let memory_refused = store.data().limits.memory_refused;
            return Err(explain_trap(e, limits, memory_refused));
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
fn explain_trap(error: wasmtime::Error, limits: &AgentLimits, memory_refused: bool) -> Error {
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
    Error::AgentTrap {
        why,
        source: error.into(),
    }
}

/// Every directory where this user's telemetry keeps state, whatever this run's environment
/// says: the identity directory of the `agent-telemetry` command (`AGENT_TELEMETRY_HOME`) and
/// the default one, the code cache and its key (as configured, and the defaults), whether or
/// not telemetry or the cache is on in this run. The defaults are found from the environment
/// (`HOME`, `XDG_*`) and, on Unix, again from the user's entry in the password database, so
/// that no variable set for one run hides them.
pub fn state_dirs() -> Vec<PathBuf> {
    const NAME: &str = "agent-telemetry";
    let (cache, key) = crate::runtime::cache::dirs_from_vars(
        crate::environment::var,
        dirs::cache_dir(),
        dirs::data_local_dir(),
    );
    let platform = [
        dirs::config_dir(),
        dirs::cache_dir(),
        dirs::data_local_dir(),
    ];
    let account = account_home()
        .map(|home| {
            ACCOUNT_PLACES
                .iter()
                .map(|d| home.join(d))
                .collect::<Vec<PathBuf>>()
        })
        .unwrap_or_default();
    platform
        .into_iter()
        .flatten()
        .chain(account)
        .map(|d| d.join(NAME))
        .chain(crate::settings::user_identity_dir())
        .chain(cache)
        .chain(key)
        .collect()
}

/// Where the platform keeps a user's config, cache and data, under the home directory: what
/// `dirs` finds from the environment, found again from the account.
#[cfg(target_os = "macos")]
const ACCOUNT_PLACES: &[&str] = &["Library/Application Support", "Library/Caches"];
#[cfg(not(target_os = "macos"))]
const ACCOUNT_PLACES: &[&str] = &[".config", ".cache", ".local/share"];

/// This user's home directory as the password database has it, not as `HOME` says.
#[cfg(unix)]
fn account_home() -> Option<PathBuf> {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;
    let mut entry = std::mem::MaybeUninit::<libc::passwd>::zeroed();
    let mut buffer = vec![0 as libc::c_char; 16 << 10];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwuid_r writes only into `entry` and `buffer` (whose length it is given),
    // and sets `found` to `entry` or to null.
    let status = unsafe {
        libc::getpwuid_r(
            libc::getuid(),
            entry.as_mut_ptr(),
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if status != 0 || found.is_null() {
        return None;
    }
    // SAFETY: `found` is non-null, so the entry is filled, and its `pw_dir` points into
    // `buffer`, which outlives this read.
    let dir = unsafe { (*found).pw_dir };
    if dir.is_null() {
        return None;
    }
    // SAFETY: as above: a NUL-terminated string inside `buffer`.
    let dir = unsafe { CStr::from_ptr(dir) };
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(dir.to_bytes()))).filter(|d| d.is_absolute())
}

#[cfg(not(unix))]
fn account_home() -> Option<PathBuf> {
    None
}

/// `path` with links resolved as far as it exists: a protected directory not made yet is
/// still found under the real name of its parent.
fn resolve(path: &std::path::Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    // Some of it does not exist: `.` and `..` are taken lexically (there is nothing for the
    // system to follow there either), then links resolved up to where it stops existing.
    let mut clean = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    let path = clean.as_path();
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Refuses a directory for the agent that is, contains or lies inside a protected path.
fn refuse_protected_dirs(dirs: &[(PathBuf, String)], protected: &[PathBuf]) -> Result<(), Error> {
    let protected: Vec<PathBuf> = protected.iter().map(|p| resolve(p)).collect();
    for (host, _) in dirs {
        let host = resolve(host);
        if let Some(p) = protected
            .iter()
            .find(|p| host == **p || host.starts_with(p) || p.starts_with(&host))
        {
            return Err(Error::ProtectedDir {
                dir: host,
                protected: p.clone(),
            });
        }
    }
    Ok(())
}

fn refuse_network_imports(engine: &Engine, component: &Component) -> Result<(), Error> {
    let component_type = component.component_type();
    let forbidden: Vec<String> = component_type
        .imports(engine)
        .map(|(name, _)| name)
        .filter(|name| {
            FORBIDDEN_IMPORT_PREFIXES
                .iter()
                .any(|p| name.starts_with(p))
        })
        .map(str::to_string)
        .collect();
    if !forbidden.is_empty() {
        return Err(Error::NetworkImport { imports: forbidden });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The user's own places are found without trusting `HOME`: the password database names
    /// the same home whatever one run's environment says.
    #[cfg(unix)]
    #[test]
    fn state_dirs_include_the_accounts_own_places() {
        // A container's user may have no entry in the password database: nothing to check.
        let Some(home) = account_home() else { return };
        let dirs = state_dirs();
        for place in ACCOUNT_PLACES {
            let expected = home.join(place).join("agent-telemetry");
            assert!(
                dirs.contains(&expected),
                "{} not in {dirs:?}",
                expected.display()
            );
        }
    }

    #[test]
    fn a_dir_is_refused_when_it_is_holds_or_lies_in_a_protected_one() {
        let root = tempfile::tempdir().unwrap();
        let protected = root.path().join("state/agent-telemetry");
        let given = |p: PathBuf| vec![(p, "/x".to_string())];
        for refused in [
            protected.clone(),
            protected.join("spool"),
            root.path().join("state"),
            // Through a link to a parent that exists, to a directory not made yet.
            root.path().join("link/agent-telemetry"),
            // And with `..` on the way to it.
            root.path().join("state/missing/../agent-telemetry/./spool"),
        ] {
            std::fs::create_dir_all(root.path().join("state")).unwrap();
            if !root.path().join("link").exists() {
                #[cfg(unix)]
                std::os::unix::fs::symlink(root.path().join("state"), root.path().join("link"))
                    .unwrap();
            }
            assert!(
                refuse_protected_dirs(&given(refused.clone()), std::slice::from_ref(&protected))
                    .is_err(),
                "{}",
                refused.display()
            );
        }
        let other = root.path().join("work");
        assert!(refuse_protected_dirs(&given(other), &[protected]).is_ok());
    }

    #[test]
    fn the_budget_counts_every_memory_and_table() {
        let mut limiter = AgentLimiter {
            limits: StoreLimitsBuilder::new().build(),
            budget: 100,
            used: 0,
            memory_refused: false,
        };
        assert!(limiter.memory_growing(0, 60, None).unwrap());
        assert!(
            !limiter.memory_growing(0, 60, None).unwrap(),
            "a second memory of 60"
        );
        assert!(limiter.memory_refused);
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        // 10 bytes left: one table element more than fits is refused.
        let fits = 10 / TABLE_ELEMENT_BYTES;
        assert!(!limiter.table_growing(0, fits + 1, None).unwrap());
        assert!(limiter.table_growing(0, fits, None).unwrap());
        assert!(
            !limiter.memory_growing(60, 63, Some(1000)).unwrap(),
            "3 over 2 left"
        );
        assert!(
            limiter.memory_growing(60, 62, Some(1000)).unwrap(),
            "the last 2"
        );
        assert_eq!(limiter.used, 100);
    }
}
