//! The command line: `run`, `collect`, `report`, `demo`, `telemetry on|off|status|fields`,
//! `log`, `flush`, `audit`, `relay`. One module per command family: `run` (running an agent,
//! and `flush`), `relay` (OTLP from native agents), `consent` (`telemetry on|off|status|fields`), `log` (the egress ledger), `collect`
//! (the local collector, its report and the demo), `audit` (a component's imports);
//! `settings` is what they share.

pub mod audit;
mod collect;
mod consent;
mod log;
mod notice;
mod relay;
mod run;
mod settings;

use anyhow::Result;
use clap::{Parser, Subcommand};

pub use collect::DEMO_AGENT;
use collect::{CollectArgs, ReportArgs};
use consent::TelemetryAction;
use log::LogArgs;
pub use relay::serve_otlp;
use run::{FlushArgs, RunArgs};

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
    Run(Box<RunArgs>),
    /// Run a local collector on loopback that takes every wire format and stores it in SQLite.
    Collect(CollectArgs),
    /// Summarize what a collector stored: text tables, JSON, or an HTML page with charts.
    Report(ReportArgs),
    /// Start a collector, run the bundled example agent against it, show what arrived.
    Demo,
    /// Turn telemetry on or off for this user (remembered), or show what it would do.
    Telemetry {
        #[command(subcommand)]
        action: TelemetryAction,
    },
    /// Show the egress ledger: every request telemetry let out, with its payload.
    Log(LogArgs),
    /// Take OpenTelemetry (OTLP/HTTP) from native agents on loopback and report its GenAI
    /// spans and token metric as telemetry; everything else is dropped and counted.
    Relay(Box<relay::RelayArgs>),
    /// Send what earlier runs left in the spool, retrying with backoff for a while.
    Flush(FlushArgs),
    /// List a component's imports and exports and flag any import outside the allowed set.
    Audit(crate::audit::AuditArgs),
    /// Print the JSON Schema of the native batch (what `collect` accepts at /v1/batch).
    Schema {
        /// The schema of counts-only mode's upload instead (taken at the same path).
        #[arg(long)]
        counts: bool,
    },
}

pub async fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        CliCommand::Run(args) => run::run(*args).await,
        CliCommand::Collect(args) => collect::collect(args).await.map(|()| 0),
        CliCommand::Report(args) => collect::report(args).await.map(|()| 0),
        CliCommand::Demo => collect::demo().await.map(|()| 0),
        CliCommand::Audit(args) => crate::audit::run(&args),
        CliCommand::Telemetry { action } => consent::command(action).await.map(|()| 0),
        CliCommand::Log(args) => log::log(&args).map(|()| 0),
        CliCommand::Flush(args) => run::flush(args).await,
        CliCommand::Relay(args) => relay::relay(*args).await,
        CliCommand::Schema { counts } => {
            let schema = if counts {
                agent_telemetry_contract::counts::upload_schema()
            } else {
                agent_telemetry_contract::wire::batch_schema()
            };
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(0)
        }
    }
}
