//! `log`: the egress ledger, every request telemetry let out, with its payload.

use agent_telemetry::ledger::{self, LEDGER_FILE, LedgerEntry};
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
            if args.body {
                // An OTLP protobuf body, as its OTLP/JSON mapping (the bytes stay in base64).
                if entry.body.is_none() {
                    entry.body = readable_body(&entry);
                }
            } else {
                (entry.body, entry.body_base64) = (None, None);
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
            let encoding = match &entry.content_encoding {
                Some(encoding) => format!(" (sent with {encoding}, shown decompressed)"),
                None => String::new(),
            };
            println!(
                "--- {} {} sha256 {}{encoding}",
                entry.at, entry.endpoint, entry.sha256
            );
            println!(
                "{}",
                readable_body(entry).unwrap_or_else(|| "(no body kept)".to_string())
            );
        }
    }
    Ok(())
}

/// The body a person can read: the text the ledger kept, or an OTLP protobuf body decoded
/// into its OTLP/JSON mapping (anything else binary in base64, as kept).
fn readable_body(entry: &LedgerEntry) -> Option<String> {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use prost::Message;
    if let Some(text) = &entry.body {
        // The file is untrusted: no terminal control sequence is printed from it.
        return Some(
            text.chars()
                .filter(|c| !c.is_control() || *c == '\n')
                .collect(),
        );
    }
    let bytes = entry.decoded_body()?;
    let protobuf = entry
        .content_type
        .as_deref()
        .is_some_and(|t| t.starts_with("application/x-protobuf"));
    let decoded = protobuf
        .then(|| ExportLogsServiceRequest::decode(&bytes[..]).ok())
        .flatten()
        .and_then(|request| serde_json::to_string_pretty(&request).ok());
    Some(decoded.unwrap_or_else(|| {
        format!(
            "(binary, base64) {}",
            entry.body_base64.as_deref().unwrap_or_default()
        )
    }))
}

/// A deletion request's outcome, as `telemetry off` told it.
fn deletion_status(e: &LedgerEntry) -> String {
    match (e.status, &e.error) {
        (Some(code @ 200..=299), _) => match e.deleted {
            Some(n) => format!("deletion request: {code}, {n} event(s) deleted"),
            None => format!("deletion request: {code}"),
        },
        (Some(code), _) if agent_telemetry::forget::kept_pending(code) => {
            format!("deletion request: {code}, kept pending")
        }
        (Some(code), _) => format!("deletion request: refused, {code}"),
        (None, Some(error)) => format!("deletion request: {error}, kept pending"),
        (None, None) => "deletion request: no answer, kept pending".to_string(),
    }
}

/// The egress ledger, one request a row.
fn ledger_table(entries: &[LedgerEntry]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["time", "endpoint", "status", "bytes", "events", "sha256"]);
    for e in entries {
        let status = match (e.debug, e.status, &e.error) {
            _ if e.dropped.is_some() => {
                format!("{} dropped (OpenTelemetry in)", e.dropped.unwrap_or(0))
            }
            _ if e.deletion && e.note.is_some() => format!(
                "no deletion request: the {} format has none",
                e.format.as_deref().unwrap_or("unknown")
            ),
            _ if e.note.is_some() => format!("{} left out", e.left_out.unwrap_or(0)),
            _ if e.deletion => deletion_status(e),
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
            match (&e.counts_of, e.events) {
                (Some(period), Some(n)) => format!("{n} (counts of {period})"),
                (_, n) => n.map_or("-".to_string(), |n| n.to_string()),
            },
            // The file is untrusted: cut by characters, never at a byte that may split one.
            e.sha256.chars().take(16).collect(),
        ]);
    }
    table
}
