//! The command line: `run`, `collect`, `demo`, `telemetry on|off|status|fields`, `log`, `flush`,
//! `audit`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use crate::agent::{AgentOptions, run_agent};
use crate::collector::{Collector, EventStore};
use crate::consent::Consent;
use crate::report;
use crate::runtime::TelemetryRuntime;
use crate::settings::TelemetrySettings;
use crate::telemetry::Telemetry;

/// The example agent the demo runs (tests/agents/every-event), built into this binary.
pub const DEMO_AGENT: &[u8] = include_bytes!(env!("AGENT_TELEMETRY_DEMO_AGENT"));

#[derive(Parser, Debug)]
#[command(
    name = "agent-telemetry",
    version,
    about = "Privacy-first usage telemetry for AI agents in wasm sandboxes"
)]
pub struct Cli {
    /// More log output on stderr (-v: info, -vv: debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: CliCommand,
}

#[derive(Subcommand, Debug)]
pub enum CliCommand {
    /// Run an agent component with no network; its `recorder` import reports telemetry.
    Run(RunArgs),
    /// Run a local collector on loopback that stores batches in SQLite.
    Collect(CollectArgs),
    /// Start a collector, run the bundled example agent against it, show what arrived.
    Demo,
    /// Turn telemetry on or off for this user (remembered), or show what it would do.
    Telemetry {
        #[command(subcommand)]
        action: TelemetryAction,
    },
    /// Show the egress ledger: every request telemetry let out, with its payload.
    Log(LogArgs),
    /// Send what earlier runs left in the spool, retrying with backoff for a while.
    Flush(FlushArgs),
    /// List a component's imports and exports and flag any import outside the allowed set.
    Audit(crate::audit::AuditArgs),
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Where telemetry goes (also AGENT_TELEMETRY_ENDPOINT). Without one, telemetry is off.
    #[arg(long, env = "AGENT_TELEMETRY_ENDPOINT")]
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
    /// Agent names to send as written instead of hashed (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub allow_agent: Vec<String>,
    /// The agent component (.wasm).
    pub agent: PathBuf,
    /// Arguments for the agent.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum TelemetryAction {
    /// Turn telemetry on (environment opt-outs such as DO_NOT_TRACK still win).
    On,
    /// Turn telemetry off for every run of every tool using this identity directory.
    Off,
    /// Whether telemetry is on, which input decided it, where it goes, what it collects.
    Status {
        /// Print JSON for machines.
        #[arg(long)]
        json: bool,
    },
    /// Print the README's Privacy table, generated from the field rules.
    Fields,
}

#[derive(clap::Args, Debug)]
pub struct FlushArgs {
    /// Where telemetry goes (also AGENT_TELEMETRY_ENDPOINT).
    #[arg(long, env = "AGENT_TELEMETRY_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Give up after this many milliseconds; what is left stays spooled.
    #[arg(long, default_value_t = 10_000)]
    pub max_wait_ms: u64,
    /// Print nothing (for background use).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Print JSON lines for machines.
    #[arg(long)]
    pub json: bool,
    /// Also print each request's exact payload.
    #[arg(long)]
    pub body: bool,
}

#[derive(clap::Args, Debug)]
pub struct CollectArgs {
    /// Loopback port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// SQLite file to store events in [default: collector.sqlite3 in the data directory].
    #[arg(long)]
    pub db: Option<PathBuf>,
}

/// Where the installation id and key live: AGENT_TELEMETRY_HOME, else the user's config dir.
pub fn identity_dir() -> Option<PathBuf> {
    std::env::var_os("AGENT_TELEMETRY_HOME")
        .map(PathBuf::from)
        .or_else(|| dirs::config_dir().map(|d| d.join("agent-telemetry")))
}

pub async fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        CliCommand::Run(args) => run_command(args).await,
        CliCommand::Collect(args) => collect(args).await.map(|()| 0),
        CliCommand::Demo => demo().await.map(|()| 0),
        CliCommand::Audit(args) => crate::audit::run(&args),
        CliCommand::Telemetry { action } => telemetry_command(action).map(|()| 0),
        CliCommand::Log(args) => log(&args).map(|()| 0),
        CliCommand::Flush(args) => flush(args).await,
    }
}

async fn run_command(args: RunArgs) -> Result<i32> {
    let wasm = std::fs::read(&args.agent)
        .with_context(|| format!("cannot read {}", args.agent.display()))?;
    let mut settings = TelemetrySettings::new(&args.product, &args.product_version);
    settings.endpoint = args.endpoint.clone();
    settings.identity_dir = identity_dir();
    settings.agent_allowlist = args.allow_agent.clone();
    settings.debug |= args.debug;
    let debug = settings.debug;
    let runtime = TelemetryRuntime::shared()?;
    // Telemetry that cannot start (a bad endpoint, say) must not stop the agent from running.
    let telemetry = match Telemetry::start_with(runtime.clone(), settings).await {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("agent-telemetry: telemetry is off for this run: {e:#}");
            Telemetry::disabled(Consent::explicit(
                false,
                format!("telemetry could not start: {e:#}"),
            ))
        }
    };
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
        capture_output: false,
        program_name: args
            .agent
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let outcome = run_agent(&runtime, &telemetry, &wasm, &options).await;
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
        spawn_background_flush(args.endpoint.as_deref());
    }
    Ok(outcome?.code)
}

/// Starts `agent-telemetry flush` detached from this process, which is about to exit: it
/// delivers the spool while the user gets on with their work.
fn spawn_background_flush(endpoint: Option<&str>) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = std::process::Command::new(exe);
    command
        .args(["flush", "--max-wait-ms", "60000", "--quiet"])
        .env(crate::settings::NO_NOTICE_VAR, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(endpoint) = endpoint {
        command.args(["--endpoint", endpoint]);
    }
    // Its own process group: a Ctrl-C meant for the terminal's job does not stop it.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    match command.spawn() {
        Ok(child) => tracing::info!(pid = child.id(), "delivering the spool in the background"),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a background flush; the spool waits for the next run")
        }
    }
}

async fn flush(args: FlushArgs) -> Result<i32> {
    let mut settings = cli_settings();
    settings.endpoint = args.endpoint.clone();
    let say = |line: String| {
        if !args.quiet {
            println!("{line}");
        }
    };
    let dir = settings
        .identity_dir
        .clone()
        .context("no config directory; set AGENT_TELEMETRY_HOME")?;
    let telemetry = Telemetry::start_with(TelemetryRuntime::shared()?, settings).await?;
    if !telemetry.is_enabled() {
        say(format!(
            "telemetry is off ({}): nothing sent; the spool stays in {}",
            telemetry.status().await.reason,
            dir.join(crate::spool::SPOOL_DIR).display()
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

/// Settings as `run` would build them, for `telemetry status`.
fn cli_settings() -> TelemetrySettings {
    let mut settings = TelemetrySettings::new("agent", "0.0.0");
    settings.endpoint = std::env::var("AGENT_TELEMETRY_ENDPOINT").ok();
    settings.identity_dir = identity_dir();
    settings
}

fn telemetry_command(action: TelemetryAction) -> Result<()> {
    let dir = || identity_dir().context("no config directory; set AGENT_TELEMETRY_HOME");
    match action {
        TelemetryAction::On | TelemetryAction::Off => {
            let on = matches!(action, TelemetryAction::On);
            let dir = dir()?;
            crate::consent::write_choice(&dir, on)
                .with_context(|| format!("cannot write {}", dir.display()))?;
            println!(
                "telemetry turned {} (remembered in {})",
                if on { "on" } else { "off" },
                dir.join(crate::consent::CHOICE_FILE).display()
            );
            let now = cli_settings().effective_consent();
            if on && !now.enabled {
                println!("but it stays off for now: {}", now.reason);
            }
            Ok(())
        }
        TelemetryAction::Status { json } => {
            let status = StatusView::gather(&cli_settings());
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{status}");
            }
            Ok(())
        }
        TelemetryAction::Fields => {
            print!("{}", crate::privacy::markdown());
            Ok(())
        }
    }
}

/// What `telemetry status` shows.
#[derive(serde::Serialize)]
struct StatusView {
    enabled: bool,
    decided_by: String,
    warnings: Vec<String>,
    endpoint: Option<String>,
    ci: bool,
    debug: bool,
    debug_log: String,
    identity_dir: Option<PathBuf>,
    id_file: Option<PathBuf>,
    installation_id: Option<String>,
    choice_file: Option<PathBuf>,
    ledger: Option<PathBuf>,
    spool: Option<PathBuf>,
    spooled_events: u64,
    collected: Vec<serde_json::Value>,
    never_collected: &'static str,
}

impl StatusView {
    fn gather(settings: &TelemetrySettings) -> StatusView {
        let consent = settings.decision();
        let dir = settings.identity_dir.clone();
        let id_file = dir.as_ref().map(|d| d.join(crate::identity::ID_FILE));
        StatusView {
            enabled: consent.enabled,
            decided_by: consent.reason,
            warnings: consent.warnings,
            endpoint: settings.endpoint.clone(),
            ci: settings.ci,
            debug: settings.debug,
            debug_log: settings.debug_log_path().display().to_string(),
            installation_id: id_file
                .as_ref()
                .and_then(|f| std::fs::read_to_string(f).ok())
                .map(|id| id.trim().to_string()),
            id_file,
            choice_file: dir.as_ref().map(|d| d.join(crate::consent::CHOICE_FILE)),
            ledger: dir.as_ref().map(|d| d.join(crate::ledger::LEDGER_FILE)),
            spool: dir.as_ref().map(|d| d.join(crate::spool::SPOOL_DIR)),
            spooled_events: dir.as_ref().map_or(0, |d| {
                crate::spool::Spool::new(d.join(crate::spool::SPOOL_DIR), settings.spool_limits)
                    .pending_events()
            }),
            identity_dir: dir,
            collected: crate::privacy::FIELDS
                .iter()
                .map(|(event, field, treatment)| {
                    serde_json::json!({"event": event, "field": field, "sent": treatment.describe()})
                })
                .collect(),
            never_collected: crate::privacy::NEVER,
        }
    }
}

impl std::fmt::Display for StatusView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let or_none = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or("none".to_string(), |p| p.display().to_string())
        };
        writeln!(f, "telemetry: {}", if self.enabled { "on" } else { "off" })?;
        writeln!(f, "decided by: {}", self.decided_by)?;
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        let endpoint = self
            .endpoint
            .as_deref()
            .unwrap_or("none (set AGENT_TELEMETRY_ENDPOINT or --endpoint)");
        writeln!(f, "endpoint: {endpoint}")?;
        writeln!(f, "ci detected: {}", if self.ci { "yes" } else { "no" })?;
        if self.debug {
            writeln!(
                f,
                "debug mode: on; nothing is sent, requests are written to {}",
                self.debug_log
            )?;
        }
        let id = match (&self.id_file, &self.installation_id) {
            (Some(file), Some(id)) => format!("{id} (in {})", file.display()),
            (Some(file), None) => format!("not created yet (will be {})", file.display()),
            (None, _) => "ephemeral (no config directory)".to_string(),
        };
        writeln!(f, "installation id: {id}")?;
        writeln!(f, "choice file: {}", or_none(&self.choice_file))?;
        writeln!(
            f,
            "egress ledger: {} (see `agent-telemetry log`)",
            or_none(&self.ledger)
        )?;
        writeln!(
            f,
            "spool: {} event(s) waiting in {} (sent by the next run or `agent-telemetry flush`)",
            self.spooled_events,
            or_none(&self.spool)
        )?;
        writeln!(f, "{}", crate::privacy::summary())
    }
}

fn log(args: &LogArgs) -> Result<()> {
    let dir = identity_dir().context("no config directory; set AGENT_TELEMETRY_HOME")?;
    let path = dir.join(crate::ledger::LEDGER_FILE);
    let (entries, unreadable) =
        crate::ledger::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    if unreadable > 0 {
        eprintln!(
            "agent-telemetry: skipped {unreadable} unreadable line(s) in {}",
            path.display()
        );
    }
    if args.json {
        for mut entry in entries {
            if !args.body {
                entry.body = None;
            }
            println!("{}", serde_json::to_string(&entry)?);
        }
        return Ok(());
    }
    if entries.is_empty() {
        println!("no requests recorded in {}", path.display());
        return Ok(());
    }
    println!("{}", report::ledger_table(&entries));
    if args.body {
        for entry in &entries {
            println!(
                "--- {} {} sha256 {}",
                entry.at, entry.endpoint, entry.sha256
            );
            println!(
                "{}",
                entry.body.as_deref().unwrap_or("(not UTF-8; not kept)")
            );
        }
    }
    Ok(())
}

fn split_pair(value: &str, separator: &str) -> Result<(String, String)> {
    match value.split_once(separator) {
        Some((a, b)) if !a.is_empty() => Ok((a.to_string(), b.to_string())),
        _ => bail!("`{value}` is not of the form A{separator}B"),
    }
}

async fn collect(args: CollectArgs) -> Result<()> {
    let db = match args.db {
        Some(db) => db,
        None => {
            let dir = dirs::data_dir()
                .context("no data directory; pass --db")?
                .join("agent-telemetry");
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.join("collector.sqlite3")
        }
    };
    let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let collector = Collector::start(bind, EventStore::open(Some(&db))?).await?;
    println!("collector listening on {}", collector.endpoint());
    println!("storing events in {}", db.display());
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for ctrl-c")?;
    let counts = collector.store().counts()?;
    println!(
        "stopping: {} events stored from {} batches ({} duplicates, {} batches rejected)",
        counts.events, counts.batches, counts.duplicates, counts.rejected_batches
    );
    collector.stop().await;
    Ok(())
}

async fn demo() -> Result<()> {
    let collector = Collector::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        EventStore::open(None)?,
    )
    .await?;
    println!("1. local collector listening on {}", collector.endpoint());

    // The demo's identity lives in a temporary directory, so it leaves nothing behind.
    let home = std::env::temp_dir().join(format!("agent-telemetry-demo-{}", std::process::id()));
    let mut settings = TelemetrySettings::new("agent-telemetry-demo", env!("CARGO_PKG_VERSION"))
        .endpoint(collector.endpoint())
        .identity_dir(&home)
        .consent(Consent::explicit(
            true,
            "the demo sends only to its own local collector",
        ));
    settings.agent_allowlist = vec!["planner".to_string()];
    settings.flag_allowlist = vec!["debug".to_string()];
    let runtime = TelemetryRuntime::shared()?;
    let telemetry = Telemetry::start_with(runtime.clone(), settings).await?;

    println!(
        "2. running the bundled example agent (no network; it reports through its recorder import):"
    );
    let options = AgentOptions {
        program_name: "every-event.wasm".to_string(),
        ..AgentOptions::default()
    };
    let exit = run_agent(&runtime, &telemetry, DEMO_AGENT, &options).await?;
    let report = telemetry.flush(Duration::from_secs(5)).await;
    let status = telemetry.status().await;
    telemetry.shutdown(Duration::from_secs(1)).await;
    let sent = status.component.as_ref().map_or(0, |c| c.sent);
    println!(
        "3. agent exited with {}; the component sent {sent} events in {} request(s) ({} pending after the final flush, {} denied)",
        exit.code, status.requests_allowed, report.pending, status.requests_denied
    );

    let events = collector.store().events()?;
    let counts = collector.store().counts()?;
    println!(
        "4. the collector stored {} events in {} batch(es):",
        counts.events, counts.batches
    );
    if let Some(first) = events.first() {
        println!(
            "   envelope: installation {} | product {} {} | source {} | environment {} | {}/{} | ci {} | schema v{}",
            first.installation_id,
            first.product,
            first.product_version,
            first.source,
            first.environment,
            first.os,
            first.arch,
            first.ci,
            first.schema_version
        );
    }
    println!("{}", report::events_table(&events));
    println!("{}", report::summary_table(&events));
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
    if events.is_empty() {
        bail!("the collector received no events");
    }
    Ok(())
}
