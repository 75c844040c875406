//! `telemetry on|off|mode|status|fields`: the user's choice, and what telemetry would do.

use std::path::PathBuf;

use agent_telemetry::TelemetrySettings;
use agent_telemetry::forget::{Deletion, DeletionOutcome};
use agent_telemetry::{SPOOL_DIR, Spool};
use anyhow::{Context, Result};
use clap::Subcommand;

use crate::settings::{cli_settings, identity_dir};

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
    /// Choose what leaves: `aggregate` (counts-only mode: events are folded into counters on
    /// this machine and one upload of counts a day is sent) or `events` (the default).
    Mode {
        /// `events` or `aggregate`.
        #[arg(value_parser = ["events", "aggregate"])]
        mode: String,
    },
    /// Print the README's Privacy table, generated from the field rules.
    Fields,
}

pub(crate) async fn command(action: TelemetryAction) -> Result<()> {
    let dir = || identity_dir().context("no config directory; set AGENT_TELEMETRY_HOME");
    match action {
        TelemetryAction::On => {
            let dir = dir()?;
            agent_telemetry::consent::write_choice(&dir, true)
                .with_context(|| format!("cannot write {}", dir.display()))?;
            println!(
                "telemetry turned on (remembered in {})",
                dir.join(agent_telemetry::consent::CHOICE_FILE).display()
            );
            let now = cli_settings().effective_consent();
            if !now.enabled {
                println!("but it stays off for now: {}", now.reason);
            }
            Ok(())
        }
        TelemetryAction::Off => {
            let dir = dir()?;
            let settings = cli_settings();
            // What was recorded is never sent after the user said no, and what was sent is
            // asked to be forgotten.
            let done = agent_telemetry::forget::opt_out(&settings)
                .await
                .with_context(|| format!("cannot write {}", dir.display()))?;
            println!(
                "telemetry turned off (remembered in {})",
                dir.join(agent_telemetry::consent::CHOICE_FILE).display()
            );
            println!(
                "discarded {} event(s) that were waiting in {}",
                done.discarded_events,
                dir.join(SPOOL_DIR).display()
            );
            if let Some(id) = &settings.installation_id {
                println!(
                    "the installation id {id} handed in (AGENT_TELEMETRY_INSTALLATION_ID) is a \
                     fleet's, not this user's: it is neither removed nor asked to be forgotten"
                );
            }
            if done.discarded_counts > 0 {
                println!(
                    "discarded the counts of {} event(s) not yet uploaded (counts-only mode)",
                    done.discarded_counts
                );
            }
            if let Some(id) = &done.forgotten_id {
                println!(
                    "installation id {id} removed: a later `telemetry on` starts a new installation"
                );
            }
            for (endpoint, format) in &done.no_deletion {
                println!(
                    "no deletion request to {endpoint}: the {format} format has none, so that \
                     collector keeps what it was sent"
                );
            }
            say_deletions(&done.deletions, &dir, |line| println!("{line}"));
            Ok(())
        }
        TelemetryAction::Mode { mode } => {
            let dir = dir()?;
            let mode = agent_telemetry::settings::Mode::parse(&mode)
                .context("the mode is `events` or `aggregate`")?;
            agent_telemetry::settings::write_mode(&dir, mode)
                .with_context(|| format!("cannot write {}", dir.display()))?;
            println!(
                "telemetry mode: {} (remembered in {})",
                mode.as_str(),
                dir.join(agent_telemetry::settings::MODE_FILE).display()
            );
            let now = cli_settings().effective_mode();
            if now != mode {
                println!(
                    "but runs stay in {} mode: a program or AGENT_TELEMETRY_MODE chose it, and the more private choice wins",
                    now.as_str()
                );
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
            print!("{}", agent_telemetry::privacy::markdown());
            Ok(())
        }
    }
}

/// A line for each deletion request sent, or left pending, by `telemetry off` or `flush`.
pub(crate) fn say_deletions(
    outcomes: &[DeletionOutcome],
    dir: &std::path::Path,
    say: impl Fn(String),
) {
    for DeletionOutcome { request, outcome } in outcomes {
        let (id, endpoint) = (&request.installation_id, &request.endpoint);
        say(match outcome {
            Deletion::Deleted(Some(n)) => {
                format!("deletion request for {id} carried out by {endpoint}: {n} event(s) deleted")
            }
            Deletion::Deleted(None) => {
                format!("deletion request for {id} carried out by {endpoint}")
            }
            Deletion::Refused(code) => format!(
                "deletion request for {id} refused by {endpoint} ({code}): that collector may \
                 not support deletion; not sent again"
            ),
            Deletion::Pending(why) => format!(
                "deletion request for {id} NOT delivered to {endpoint} ({why}): kept pending in \
                 {}; `agent-telemetry flush` or the next `telemetry off` sends it again",
                dir.join(agent_telemetry::forget::PENDING_FILE).display()
            ),
            Deletion::Denied(why) => format!("deletion request for {id} dropped: {why}"),
        });
    }
}

/// What `telemetry status` shows.
#[derive(serde::Serialize)]
struct StatusView {
    enabled: bool,
    decided_by: String,
    warnings: Vec<String>,
    endpoint: Option<String>,
    /// The wire format (`AGENT_TELEMETRY_FORMAT`, or `run --format`).
    format: &'static str,
    ci: bool,
    container: bool,
    /// Whether runs are ephemeral (a container or CI, unless `AGENT_TELEMETRY_EPHEMERAL=0`).
    ephemeral: bool,
    /// `events` or `aggregate` (counts-only mode).
    mode: &'static str,
    /// `AGENT_TELEMETRY_INSTALLATION_ID` (or the program's setting).
    handed_in_id: Option<String>,
    debug: bool,
    debug_log: String,
    identity_dir: Option<PathBuf>,
    id_file: Option<PathBuf>,
    installation_id: Option<String>,
    choice_file: Option<PathBuf>,
    ledger: Option<PathBuf>,
    spool: Option<PathBuf>,
    spooled_events: u64,
    /// Spool files set aside, never to be sent (see `Spool::set_aside_files`).
    set_aside_files: u64,
    /// Deletion requests not yet delivered (`telemetry off` against a collector that did not
    /// answer), sent again by `flush` or the next `telemetry off`.
    pending_deletions: u64,
    /// What the OpenTelemetry mapping dropped (`wasi:otel`, `relay`), as the ledger's notes
    /// still hold it: never forwarded.
    otel_dropped: u64,
    collected: Vec<serde_json::Value>,
    never_collected: &'static str,
}

impl StatusView {
    fn gather(settings: &TelemetrySettings) -> StatusView {
        let consent = settings.decision();
        let dir = settings.identity_dir.clone();
        let id_file = dir
            .as_ref()
            .map(|d| d.join(agent_telemetry::identity::ID_FILE));
        let spool = dir
            .as_ref()
            .map(|d| Spool::new(d.join(SPOOL_DIR), settings.spool_limits));
        StatusView {
            enabled: consent.enabled,
            decided_by: consent.reason,
            warnings: consent.warnings,
            endpoint: settings.endpoint.clone(),
            format: settings.format.as_str(),
            ci: settings.ci,
            container: settings.container,
            ephemeral: settings.passing(),
            mode: settings.effective_mode().as_str(),
            handed_in_id: settings.installation_id.clone(),
            debug: settings.debug,
            debug_log: settings
                .debug_log_path()
                .map_or_else(|| "none".to_string(), |p| p.display().to_string()),
            installation_id: dir
                .as_deref()
                .and_then(agent_telemetry::identity::read_installation_id),
            id_file,
            choice_file: dir.as_ref().map(|d| d.join(agent_telemetry::consent::CHOICE_FILE)),
            ledger: dir.as_ref().map(|d| d.join(agent_telemetry::ledger::LEDGER_FILE)),
            spool: spool.as_ref().map(|s| s.dir().to_path_buf()),
            spooled_events: spool.as_ref().map_or(0, |s| s.pending_events()),
            set_aside_files: spool.as_ref().map_or(0, |s| s.set_aside_files()),
            pending_deletions: dir
                .as_deref()
                .map_or(0, |d| agent_telemetry::forget::read_pending(d).len() as u64),
            otel_dropped: dir
                .as_ref()
                .and_then(|d| {
                    agent_telemetry::ledger::read(&d.join(agent_telemetry::ledger::LEDGER_FILE))
                        .ok()
                })
                .map_or(0, |(entries, _)| {
                    entries
                        .iter()
                        .filter_map(|e| e.dropped)
                        .fold(0u64, u64::saturating_add)
                }),
            identity_dir: dir,
            collected: agent_telemetry::privacy::FIELDS
                .iter()
                .map(|p| {
                    serde_json::json!({"event": p.event, "field": p.field, "sent": p.rule.describe()})
                })
                .collect(),
            never_collected: agent_telemetry::privacy::NEVER,
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
        writeln!(
            f,
            "format: {} (AGENT_TELEMETRY_FORMAT or --format)",
            self.format
        )?;
        writeln!(
            f,
            "mode: {}{}",
            self.mode,
            if self.mode == "aggregate" {
                " (counts only: one upload of counts a day, no events)"
            } else {
                " (`agent-telemetry telemetry mode aggregate` sends counts only)"
            }
        )?;
        writeln!(f, "ci detected: {}", if self.ci { "yes" } else { "no" })?;
        writeln!(
            f,
            "container detected: {}",
            if self.container { "yes" } else { "no" }
        )?;
        if self.debug {
            writeln!(
                f,
                "debug mode: on; nothing is sent, requests are written to {}",
                self.debug_log
            )?;
        }
        let id = match (&self.id_file, &self.installation_id) {
            _ if self.handed_in_id.is_some() => format!(
                "{} (handed in by AGENT_TELEMETRY_INSTALLATION_ID; never written)",
                self.handed_in_id.as_deref().unwrap_or_default()
            ),
            _ if self.ephemeral => {
                "ephemeral: a new one each run, nothing written (a container or CI run; hand one in with AGENT_TELEMETRY_INSTALLATION_ID, or keep one with AGENT_TELEMETRY_EPHEMERAL=0)".to_string()
            }
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
        if self.set_aside_files > 0 {
            writeln!(
                f,
                "spool: {} file(s) set aside, never to be sent (unreadable, or holding what \
                 the component would not send; removed past the spool's age bound)",
                self.set_aside_files
            )?;
        }
        if self.pending_deletions > 0 {
            writeln!(
                f,
                "deletion requests: {} not delivered yet (sent again by `agent-telemetry flush` \
                 or the next `telemetry off`)",
                self.pending_deletions
            )?;
        }
        if self.otel_dropped > 0 {
            writeln!(
                f,
                "OpenTelemetry in: {} item(s) dropped and never forwarded (content, attributes \
                 outside the mapping, spans of no kind; `agent-telemetry log` has each note)",
                self.otel_dropped
            )?;
        }
        writeln!(f, "{}", agent_telemetry::privacy::summary())
    }
}
