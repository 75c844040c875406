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
    /// Whether this handle records (consent given, an endpoint set, a worker running).
    pub enabled: bool,
    /// Which input decided consent, in words (`DO_NOT_TRACK=1`, say).
    pub reason: String,
    /// Environment values that were not understood, and the side taken for each.
    pub warnings: Vec<String>,
    /// Where batches are sent, if an endpoint is set.
    pub endpoint: Option<String>,
    /// This installation's id, when the identity is stored (`None` for an ephemeral one).
    pub installation_id: Option<String>,
    /// `None` when telemetry is off (no component runs) or it did not answer.
    pub component: Option<StatusReport>,
    /// Events the host dropped itself: the hand-off was full, the worker was gone, or they
    /// were lost with an instance that trapped or still held them at stop.
    pub dropped_before_component: u64,
    /// Requests of the component the egress policy let out (or captured, in debug mode).
    pub requests_allowed: u64,
    /// Requests of the component the egress policy stopped: not a `POST` to the endpoint.
    pub requests_denied: u64,
    /// Debug mode: requests are captured in this file, not sent.
    pub debug_log: Option<PathBuf>,
    /// The egress ledger file, if the identity is stored.
    pub ledger: Option<PathBuf>,
    /// The spool directory, if the identity is stored.
    pub spool: Option<PathBuf>,
    /// Events waiting in the spool (from any process).
    pub spooled_pending: u64,
    /// Events this handle moved to the spool.
    pub spooled: u64,
    /// Events this handle delivered from the spool.
    pub delivered_from_spool: u64,
    /// Events this handle dropped from the spool for its bounds (bytes or age).
    pub dropped_from_spool: u64,
    /// Events of spooled batches the collector refused (a 4xx): dropped too.
    pub refused_from_spool: u64,
    /// Spool files this handle set aside as unreadable (`.bad`), never sent.
    pub bad_spool_files: u64,
    /// Spool files refused for their content (planted or altered), never sent.
    pub refused_spool_files: u64,
    /// Component instances started again after a trap or an overrun.
    pub restarts: u64,
    /// What the OpenTelemetry mapping dropped of what agents emitted through `wasi:otel` or
    /// the relay: never forwarded, counted by reason.
    pub inbound_dropped: crate::otel::Dropped,
}

/// How long `status` waits for the component's answer.
const STATUS_WAIT: Duration = Duration::from_secs(5);

impl Telemetry {
    /// The whole picture (see [`Status`]); asks the component, waiting at most 5 s for its
    /// answer.
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
            inbound_dropped: self.worker.as_deref().map_or_else(Default::default, |w| {
                w.inbound.lock().unwrap_or_else(|e| e.into_inner()).total
            }),
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
