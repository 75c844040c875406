//! `log`: the egress ledger, every request telemetry let out, with its payload.

use agent_telemetry::egress::ledger::{self, LEDGER_FILE, LedgerEntry};
use anyhow::{Context, Result};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use crate::settings::identity_dir;

#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Print JSON lines for machines.
    #[arg(long)]
    pub json: bool,
    /// Also print each request's exact payload.
    #[arg(long)]
    pub body: bool,
}

pub(crate) fn log(args: &LogArgs) -> Result<()> {
    let dir = identity_dir().context("no config directory; set AGENT_TELEMETRY_HOME")?;
    let path = dir.join(LEDGER_FILE);
    let (entries, unreadable) =
        ledger::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
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
    println!("{}", ledger_table(&entries));
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

/// The egress ledger, one request a row.
fn ledger_table(entries: &[LedgerEntry]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["time", "endpoint", "status", "bytes", "events", "sha256"]);
    for e in entries {
        let status = match (e.debug, e.status, &e.error) {
            (true, _, _) => "captured (debug)".to_string(),
            (false, Some(code), _) => code.to_string(),
            (false, None, Some(error)) => format!("error: {error}"),
            (false, None, None) => "-".to_string(),
        };
        table.add_row([
            e.at.clone(),
            e.endpoint.clone(),
            status,
            e.bytes.to_string(),
            e.events.map_or("-".to_string(), |n| n.to_string()),
            // The file is untrusted: cut by characters, never at a byte that may split one.
            e.sha256.chars().take(16).collect(),
        ]);
    }
    table
}
