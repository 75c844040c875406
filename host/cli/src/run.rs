//! `run`: an agent component with no network, its `recorder` import reporting telemetry;
//! and `flush`: what earlier runs left in the spool.

use std::path::PathBuf;
use std::time::Duration;

use agent_telemetry::Telemetry;
use agent_telemetry::agent::{AgentLimits, AgentOptions, compile_agent, run_agent_component};

use crate::notice::{Notice, compiling};
use agent_telemetry::shared_engine;
use anyhow::{Context, Result, bail};

use crate::settings::{ENDPOINT_VAR, WireArgs, command_settings, start_or_off};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Where telemetry goes (also AGENT_TELEMETRY_ENDPOINT). Without one, telemetry is off.
    #[arg(long, env = ENDPOINT_VAR)]
    pub endpoint: Option<String>,
    /// How long to wait for telemetry after the agent exits, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub flush_deadline_ms: u64,
    /// Give the agent a host directory: HOST::GUEST (as `wasmtime run --dir`).
    #[arg(long = "dir", value_name = "HOST::GUEST")]
    pub dirs: Vec<String>,
    /// Give the agent an environment variable: K=V.
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Product name reported in the envelope.
    #[arg(long, default_value = "agent")]
    pub product: String,
    /// Product version reported in the envelope.
    #[arg(long, default_value = "0.0.0")]
    pub product_version: String,
    /// After the agent exits and the flush deadline passes, leave a background
    /// `agent-telemetry flush` to deliver what is still spooled (for up to a minute).
    #[arg(long)]
    pub background_flush: bool,
    /// Send nothing: write each request the component makes to the debug log instead
    /// (also AGENT_TELEMETRY_DEBUG=1).
    #[arg(long)]
    pub debug: bool,
    /// The most memory the agent may use: bytes, or with K, M or G (KiB, MiB, GiB).
    #[arg(long, default_value = "1GiB", value_parser = parse_size)]
    pub max_memory: usize,
    /// Stop the agent after this long (`30s`, `5m`) and exit with 124.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// The least time between two of the agent's flushes that send (`1s`, `500ms`, `0s`):
    /// sooner ones return the current report and send nothing.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub min_flush_interval: Duration,
    #[command(flatten)]
    pub wire: WireArgs,
    /// The agent component (.wasm).
    pub agent: PathBuf,
    /// Arguments for the agent.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct FlushArgs {
    /// Where telemetry goes (also AGENT_TELEMETRY_ENDPOINT).
    #[arg(long, env = ENDPOINT_VAR)]
    pub endpoint: Option<String>,
    /// Give up after this many milliseconds; what is left stays spooled.
    #[arg(long, default_value_t = 10_000)]
    pub max_wait_ms: u64,
    /// Print nothing (for background use).
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub wire: WireArgs,
}

pub(crate) async fn run(args: RunArgs) -> Result<i32> {
    let wasm = std::fs::read(&args.agent)
        .with_context(|| format!("cannot read {}", args.agent.display()))?;
    let settings = command_settings(
        &args.product,
        &args.product_version,
        args.endpoint.clone(),
        args.debug,
        &args.wire,
    )?;
    let debug = settings.debug;
    // The agent's engine; the telemetry component is loaded only if telemetry is on.
    let engine = shared_engine()?;
    // Telemetry that cannot start (a bad endpoint, say) must not stop the agent from running.
    // Its component is compiled (or loaded) by its worker while the agent starts.
    let telemetry = start_or_off(settings, "run").await;
    let options = AgentOptions {
        args: args.args.clone(),
        env: args
            .env
            .iter()
            .map(|kv| split_pair(kv, "="))
            .collect::<Result<_>>()?,
        dirs: args
            .dirs
            .iter()
            .map(|d| split_pair(d, "::").map(|(h, g)| (PathBuf::from(h), g)))
            .collect::<Result<_>>()?,
        // An agent reaches neither telemetry's identity (its key, its spool) nor the code this
        // host runs natively: `run_agent` refuses those directories always.
        protected: Vec::new(),
        limits: AgentLimits {
            memory_bytes: args.max_memory,
            timeout: args.timeout,
            min_flush_interval: args.min_flush_interval,
            ..AgentLimits::default()
        },
        capture_output: false,
        program_name: args
            .agent
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    // A large agent compiles for seconds the first time: said on a terminal meanwhile.
    let compiled = {
        let name = match options.program_name.as_str() {
            "" => "the agent",
            name => name,
        };
        let _notice = Notice::after_delay(compiling(name));
        compile_agent(&engine, &wasm)
    };
    let outcome = match compiled {
        Ok(agent) => run_agent_component(&engine, &telemetry, &agent, &options).await,
        Err(e) => Err(e),
    };
    // Flush whether or not the agent succeeded; never longer than the deadline.
    let report = telemetry
        .shutdown(Duration::from_millis(args.flush_deadline_ms))
        .await;
    tracing::info!(
        sent = report.sent,
        failed = report.failed,
        dropped = report.dropped,
        pending = report.pending,
        "telemetry flushed"
    );
    // Debug mode sends nothing, in the foreground or the background.
    if args.background_flush && report.pending > 0 && !debug {
        spawn_background_flush(args.endpoint.as_deref(), &args.wire);
    }
    tracing::info!(peak_memory_kib = peak_memory_kib(), "resource use");
    let exit = outcome?;
    if exit.timed_out {
        eprintln!(
            "agent-telemetry: the agent ran past its --timeout of {} and was stopped",
            humantime::format_duration(args.timeout.unwrap_or_default())
        );
    }
    Ok(exit.code)
}

/// This process's peak resident memory, in KiB (0 where it cannot be told).
///
/// On Linux it is `VmHWM`, the peak of this program's own address space. `getrusage`'s
/// `ru_maxrss` is kept across `exec`: a process started by a large parent reports the parent's
/// size at the fork (everything it had resident was mapped in the child until the exec).
fn peak_memory_kib() -> u64 {
    #[cfg(target_os = "linux")]
    if let Some(kib) = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
            line.trim().trim_end_matches("kB").trim().parse().ok()
        })
    {
        return kib;
    }
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given and cannot fail for RUSAGE_SELF.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } == 0 {
            // SAFETY: initialized by the successful call above.
            return u64::try_from(unsafe { usage.assume_init() }.ru_maxrss).unwrap_or(0);
        }
    }
    0
}

/// `1073741824`, `1G`, `1GiB`, `512M`, `64KiB`: a size in bytes (the suffixes are powers of
/// 1024).
fn parse_size(value: &str) -> Result<usize, String> {
    let value = value.trim();
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits);
    let number: usize = number
        .parse()
        .map_err(|_| format!("`{value}` is not a size such as 1GiB or 512M"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("`{value}`: the unit must be K, M or G")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{value}` is too large"))
}

/// Starts `agent-telemetry flush` detached from this process, which is about to exit: it
/// delivers the spool while the user gets on with their work. The endpoint and the headers
/// reach it through its environment, never its command line, which any user can read (`ps`).
fn spawn_background_flush(endpoint: Option<&str>, wire: &WireArgs) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = background_flush_command(&exe, endpoint, wire);
    match command.spawn() {
        Ok(child) => tracing::info!(pid = child.id(), "delivering the spool in the background"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a background flush; the spool waits for the next run")
        }
    }
}

/// The command [`spawn_background_flush`] starts.
fn background_flush_command(
    exe: &std::path::Path,
    endpoint: Option<&str>,
    wire: &WireArgs,
) -> std::process::Command {
    let mut command = std::process::Command::new(exe);
    command
        .args(["flush", "--max-wait-ms", "60000", "--quiet"])
        .env(agent_telemetry::settings::NO_NOTICE_VAR, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    match endpoint {
        Some(endpoint) => command.env(ENDPOINT_VAR, endpoint),
        None => command.env_remove(ENDPOINT_VAR),
    };
    wire.to_args(&mut command);
    // Its own process group: a Ctrl-C meant for the terminal's job does not stop it.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
}

pub(crate) async fn flush(args: FlushArgs) -> Result<i32> {
    let mut settings = crate::settings::cli_settings();
    settings.endpoint = args.endpoint.clone();
    args.wire.apply(&mut settings)?;
    let say = |line: String| {
        if !args.quiet {
            println!("{line}");
        }
    };
    let dir = settings
        .identity_dir
        .clone()
        .context("no config directory; set AGENT_TELEMETRY_HOME")?;
    // Deletion requests `telemetry off` could not deliver: sent whether or not telemetry is
    // on (they only erase).
    let deletions = agent_telemetry::forget::send_pending(&settings).await;
    crate::consent::say_deletions(&deletions, &dir, say);
    let telemetry = Telemetry::start(settings).await?;
    if !telemetry.is_enabled() {
        say(format!(
            "telemetry is off ({}): nothing sent; the spool stays in {}",
            telemetry.status().await.reason,
            dir.join(agent_telemetry::SPOOL_DIR).display()
        ));
        return Ok(0);
    }
    let until = tokio::time::Instant::now() + Duration::from_millis(args.max_wait_ms);
    let mut sent = 0u64;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let report = telemetry.flush(left).await;
        sent += u64::from(report.sent);
        let pending = telemetry.status().await.spooled_pending;
        let wait = Duration::from_millis(report.retry_after_ms.max(200).into());
        if pending == 0 || left <= wait {
            telemetry.shutdown(Duration::from_secs(1)).await;
            say(format!("delivered {sent} events; {pending} still spooled"));
            return Ok(if pending == 0 { 0 } else { 1 });
        }
        tokio::time::sleep(wait).await;
    }
}

fn split_pair(value: &str, separator: &str) -> Result<(String, String)> {
    match value.split_once(separator) {
        Some((a, b)) if !a.is_empty() => Ok((a.to_string(), b.to_string())),
        _ => bail!("`{value}` is not of the form A{separator}B"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::{Cli, CliCommand};

    #[test]
    fn an_agent_gets_one_gibibyte_unless_told_otherwise() {
        let parsed = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
            CliCommand::Run(run) => run.max_memory,
            other => panic!("{other:?}"),
        };
        assert_eq!(parsed(&["agent-telemetry", "run", "a.wasm"]), 1 << 30);
        assert_eq!(
            parsed(&["agent-telemetry", "run", "--max-memory", "512M", "a.wasm"]),
            512 << 20
        );
    }

    /// Issue 20: the background flush put `--endpoint` on its command line, which any user
    /// can read in `ps`; the endpoint and the headers go through its environment instead.
    #[test]
    fn no_endpoint_or_header_on_the_background_flushs_command_line() {
        let wire = WireArgs {
            headers: Some("x-api-key=k3y".to_string()),
            tags: Some("team=a".to_string()),
            ..Default::default()
        };
        let command = background_flush_command(
            std::path::Path::new("/bin/agent-telemetry"),
            Some("http://127.0.0.1:1/v1/batch?token=s3cr3t"),
            &wire,
        );
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            args.iter()
                .all(|a| !a.contains("s3cr3t") && !a.contains("k3y")),
            "{args:?}"
        );
        assert!(args.iter().any(|a| a == "flush"), "{args:?}");
        let env: Vec<(String, String)> = command
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_str()?.to_string(), v?.to_str()?.to_string())))
            .collect();
        assert!(
            env.contains(&(
                ENDPOINT_VAR.to_string(),
                "http://127.0.0.1:1/v1/batch?token=s3cr3t".to_string()
            )),
            "{env:?}"
        );
        assert!(env.iter().any(|(_, v)| v.contains("k3y")), "{env:?}");
    }

    /// The background flush checks what the run spooled against what its own component would
    /// send: without the run's agent allowlist it would refuse (and set aside) every batch
    /// naming an allowed agent.
    #[test]
    fn the_background_flush_gets_the_runs_agent_allowlist() {
        let Ok(Cli {
            command: CliCommand::Run(run),
            ..
        }) = Cli::try_parse_from([
            "agent-telemetry",
            "run",
            "--allow-agent",
            "planner,coder",
            "a.wasm",
        ])
        else {
            panic!("run did not parse")
        };
        let command = background_flush_command(
            std::path::Path::new("/bin/agent-telemetry"),
            None,
            &run.wire,
        );
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let at = args
            .iter()
            .position(|a| a == "--allow-agent")
            .expect("passed on");
        assert_eq!(args[at + 1], "planner,coder");
        let Ok(Cli {
            command: CliCommand::Flush(flush),
            ..
        }) = Cli::try_parse_from(
            std::iter::once("agent-telemetry").chain(args.iter().map(String::as_str)),
        )
        else {
            panic!("flush did not parse {args:?}")
        };
        assert_eq!(flush.wire.allow_agent, ["planner", "coder"]);
    }

    #[test]
    fn sizes_are_read_in_powers_of_1024_and_bad_ones_refused() {
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size(" 2g "), Ok(2 << 30));
        assert_eq!(parse_size("1073741824"), Ok(1 << 30));
        for bad in ["", "G", "1T", "-1M", "99999999999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
