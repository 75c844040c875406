//! What a [`Telemetry`] handle reports about itself: the consent decision, what the component
//! says, and what the host counted on the way.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;

use super::handle::{Telemetry, WorkerHandle};
use super::handoff::Command;
use crate::delivery::spool::{Spool, SpoolCounters};
use crate::egress::ledger::LedgerEntry;
use crate::runtime::bindings::recorder::StatusReport;

/// The whole picture: the consent decision, what the component reports, and what the host
/// itself counted.
#[derive(Debug, Clone)]
pub struct Status {
    pub enabled: bool,
    pub reason: String,
    pub warnings: Vec<String>,
    pub endpoint: Option<String>,
    pub installation_id: Option<String>,
    /// `None` when telemetry is off (no component runs) or it did not answer.
    pub component: Option<StatusReport>,
    pub dropped_before_component: u64,
    pub requests_allowed: u64,
    pub requests_denied: u64,
    /// Debug mode: requests are captured in this file, not sent.
    pub debug_log: Option<PathBuf>,
    /// The egress ledger file, if the identity is stored.
    pub ledger: Option<PathBuf>,
    /// The spool directory, if the identity is stored.
    pub spool: Option<PathBuf>,
    /// Events waiting in the spool (from any process).
    pub spooled_pending: u64,
    /// Events this handle moved to the spool, delivered from it, dropped from it for its
    /// bounds, refused by the collector (a 4xx), and spool files set aside as unreadable.
    pub spooled: u64,
    pub delivered_from_spool: u64,
    pub dropped_from_spool: u64,
    pub refused_from_spool: u64,
    pub bad_spool_files: u64,
    /// Spool files refused for their content (planted or altered), never sent.
    pub refused_spool_files: u64,
    /// Component instances started again after a trap or an overrun.
    pub restarts: u64,
}

/// How long `status` waits for the component's answer.
const STATUS_WAIT: Duration = Duration::from_secs(5);

impl Telemetry {
    pub async fn status(&self) -> Status {
        let component = match &self.worker {
            Some(worker) => {
                let (reply, answer) = oneshot::channel();
                worker.handoff.send(Command::Status(reply));
                tokio::time::timeout(STATUS_WAIT, answer)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten()
            }
            None => None,
        };
        let stat = |read: fn(&WorkerHandle) -> u64| self.worker.as_deref().map_or(0, read);
        Status {
            enabled: self.consent.enabled && self.worker.is_some(),
            reason: self.consent.reason.clone(),
            warnings: self.consent.warnings.clone(),
            endpoint: self.endpoint.clone(),
            installation_id: self
                .identity
                .as_ref()
                .and_then(|i| i.installation_id.clone()),
            component,
            dropped_before_component: stat(|w| w.stats.dropped.load(Ordering::Relaxed)),
            requests_allowed: self.egress.allowed(),
            requests_denied: self.egress.denied(),
            debug_log: self.debug_log.as_deref().cloned(),
            ledger: self
                .ledger
                .as_ref()
                .and_then(|l| l.path().map(|p| p.to_path_buf())),
            spool: self.spool.as_ref().map(|s| s.dir().to_path_buf()),
            spooled_pending: self.spool.as_ref().map_or(0, |s| s.pending_events()),
            spooled: spool_count(&self.spool, |c| &c.spooled_events),
            delivered_from_spool: spool_count(&self.spool, |c| &c.delivered_events),
            dropped_from_spool: spool_count(&self.spool, |c| &c.dropped_events),
            refused_from_spool: spool_count(&self.spool, |c| &c.refused_events),
            bad_spool_files: spool_count(&self.spool, |c| &c.bad_files),
            refused_spool_files: spool_count(&self.spool, |c| &c.refused_files),
            restarts: stat(|w| w.stats.restarts.load(Ordering::Relaxed)),
        }
    }

    /// The requests this handle's component made (or had captured, in debug mode), newest
    /// last: what `agent-telemetry log` shows, as far as this process saw it.
    pub fn egress_log(&self) -> Vec<LedgerEntry> {
        self.ledger.as_ref().map_or_else(Vec::new, |l| l.recent())
    }
}

fn spool_count(
    spool: &Option<std::sync::Arc<Spool>>,
    counter: fn(&SpoolCounters) -> &AtomicU64,
) -> u64 {
    spool
        .as_ref()
        .map_or(0, |s| counter(&s.counters).load(Ordering::Relaxed))
}
