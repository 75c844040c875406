//! The telemetry instance of one `Telemetry` handle: started again after it fails, with what a
//! failure costs counted.
//!
//! A call that traps or overruns leaves the instance unusable. [`Supervised`] then counts what
//! the instance held (its queue at the last status snapshot, and every event handed to it
//! since: an upper bound) as dropped, counts a restart, and makes a fresh instance on the next
//! call. The caller never sees the failure, only a call that did not answer (`None`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::TelemetryRuntime;
use super::bindings::delivery::{Batch, DeliveryOutcome, DeliveryReport};
use super::bindings::recorder::{Event, FlushReport, StatusReport};
use super::instance::{InstanceError, TelemetryInstance};
use crate::egress::policy::EgressPolicy;

/// What a handle can read about its instance without waiting on it.
#[derive(Debug, Default)]
pub struct InstanceStats {
    /// Events dropped before reaching the component or lost with it (hand-off full, worker
    /// gone, a trap, still queued at stop).
    pub dropped: AtomicU64,
    /// Instances started again after a trap or an overrun.
    pub restarts: AtomicU64,
    /// The component's status as of the last call that told it, so that an agent's `status`
    /// call never queues behind a send.
    snapshot: Mutex<Option<StatusReport>>,
}

impl InstanceStats {
    /// Counts `events` as dropped (saturating: some counts come from spool file names).
    pub fn add_dropped(&self, events: u64) {
        crate::counter::add(&self.dropped, events);
    }

    pub fn snapshot(&self) -> Option<StatusReport> {
        self.lock().clone()
    }

    /// Events in the component's queue, as of the snapshot.
    pub fn queued_in_component(&self) -> u64 {
        self.lock().as_ref().map_or(0, |s| u64::from(s.queued))
    }

    fn set_snapshot(&self, report: Option<StatusReport>) {
        *self.lock() = report;
    }

    /// Changes the snapshot as a call that returned is known to have changed the component.
    fn update_snapshot(&self, change: impl FnOnce(&mut StatusReport)) {
        if let Some(report) = self.lock().as_mut() {
            change(report);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<StatusReport>> {
        self.snapshot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct Supervised {
    runtime: Arc<TelemetryRuntime>,
    config: Vec<(String, String)>,
    egress: EgressPolicy,
    /// The component's wall clock.
    clock: crate::clock::Clock,
    live: Option<TelemetryInstance>,
    stats: Arc<InstanceStats>,
    /// Events handed to the instance since its last snapshot: with the snapshot's queue, what
    /// a lost instance held at most.
    since_snapshot: u64,
    snapshot_at: Instant,
}

impl Supervised {
    /// Starts the first instance now, so a broken setup is an error here and not a silent
    /// no-op later.
    pub async fn start(
        runtime: Arc<TelemetryRuntime>,
        config: Vec<(String, String)>,
        egress: EgressPolicy,
        clock: crate::clock::Clock,
        stats: Arc<InstanceStats>,
    ) -> Result<Supervised, InstanceError> {
        let live = runtime
            .instantiate(config.clone(), egress.clone(), &clock)
            .await?;
        Ok(Supervised {
            runtime,
            config,
            egress,
            clock,
            live: Some(live),
            stats,
            since_snapshot: 0,
            snapshot_at: Instant::now(),
        })
    }

    pub fn stats(&self) -> &Arc<InstanceStats> {
        &self.stats
    }

    /// The live instance, made afresh after a failure.
    async fn live(&mut self) -> Result<&mut TelemetryInstance, InstanceError> {
        let live = match self.live.take() {
            Some(live) => live,
            None => {
                self.runtime
                    .instantiate(self.config.clone(), self.egress.clone(), &self.clock)
                    .await?
            }
        };
        Ok(self.live.insert(live))
    }

    /// A call's answer, or `None` after counting what its failure cost.
    fn settle<T>(&mut self, result: Result<T, InstanceError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.lost(&error);
                None
            }
        }
    }

    /// Hands `events` to the component; false if it did not take them (counted as lost).
    pub async fn record_many(&mut self, events: &[Event]) -> bool {
        self.since_snapshot += events.len() as u64;
        let result = match self.live().await {
            Ok(instance) => instance.record_many(events).await,
            Err(e) => Err(e),
        };
        self.settle(result).is_some()
    }

    /// Asks the component for its status, keeps it as the snapshot, and returns it.
    pub async fn refresh_snapshot(&mut self) -> Option<StatusReport> {
        self.snapshot_at = Instant::now();
        let result = match self.live().await {
            Ok(instance) => instance.status().await,
            Err(e) => Err(e),
        };
        let report = self.settle(result);
        // Only an answer accounts for what was handed over since; after a failure `lost`
        // has counted it.
        if report.is_some() {
            self.since_snapshot = 0;
        }
        self.stats.set_snapshot(report.clone());
        report
    }

    /// How long ago the snapshot was taken.
    pub fn snapshot_age(&self) -> Duration {
        self.snapshot_at.elapsed()
    }

    /// The component's own flush, bounded by `deadline`; the snapshot is refreshed after it.
    pub async fn flush(&mut self, deadline: Duration) -> Option<FlushReport> {
        let result = match self.live().await {
            Ok(instance) => instance.flush(deadline).await,
            Err(e) => Err(e),
        };
        let report = self.settle(result);
        if report.is_some() {
            self.refresh_snapshot().await;
        }
        report
    }

    /// Every batch the component holds; it holds none afterwards.
    pub async fn take_undelivered(&mut self) -> Option<Vec<Batch>> {
        let result = match self.live().await {
            Ok(instance) => instance.take_undelivered().await,
            Err(e) => Err(e),
        };
        let batches = self.settle(result)?;
        self.since_snapshot = 0;
        self.stats.update_snapshot(|s| s.queued = 0);
        Some(batches)
    }

    /// Sends one spooled batch within `left`.
    pub async fn deliver(&mut self, body: &[u8], left: Duration) -> Option<DeliveryReport> {
        let result = match self.live().await {
            Ok(instance) => instance.deliver(body, left).await,
            Err(e) => Err(e),
        };
        let report = self.settle(result)?;
        if matches!(report.outcome, DeliveryOutcome::Delivered) {
            self.stats
                .update_snapshot(|s| s.sent = s.sent.saturating_add(report.events.into()));
        }
        Some(report)
    }

    /// Drops the instance without counting anything: for one that holds no events (it was
    /// delivering from the spool) and is being abandoned mid-call.
    pub fn abandon(&mut self) {
        self.live = None;
    }

    /// Tells the component about events the host dropped, for the next batch's envelope; if
    /// it cannot take the count, the host keeps it.
    pub async fn note_dropped(&mut self, events: u64) {
        if events == 0 {
            return;
        }
        let count = u32::try_from(events).unwrap_or(u32::MAX);
        let result = match self.live().await {
            Ok(instance) => instance.note_dropped(count).await,
            Err(e) => Err(e),
        };
        match self.settle(result) {
            Some(()) => self
                .stats
                .update_snapshot(|s| s.dropped = s.dropped.saturating_add(events)),
            None => {
                self.stats.add_dropped(events);
            }
        }
    }

    /// The instance ends: what it still holds is counted as dropped (call after moving what
    /// can be moved to the spool).
    pub fn stop(&mut self) {
        let queued = self.stats.queued_in_component();
        if queued > 0 {
            tracing::warn!(
                events = queued,
                "telemetry stopped with events still queued; they are dropped"
            );
            self.stats.add_dropped(queued);
        }
        self.live = None;
    }

    /// A call failed: count what the instance held and start over with a fresh one.
    fn lost(&mut self, error: &InstanceError) {
        // The instance is unusable whatever happens next.
        self.live = None;
        let lost = self.stats.queued_in_component() + self.since_snapshot;
        self.since_snapshot = 0;
        self.stats.set_snapshot(None);
        self.stats.add_dropped(lost);
        if matches!(error, InstanceError::Unavailable(_)) {
            tracing::error!(error = %error, events = lost, "telemetry component could not be instantiated");
        } else {
            tracing::error!(error = %error, events = lost, "telemetry component failed; it will be restarted");
            self.stats.restarts.fetch_add(1, Ordering::Relaxed);
        }
    }
}
