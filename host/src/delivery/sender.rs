//! Delivery through the spool: a flush first moves every batch the component made to disk,
//! then sends from there, oldest first, as the shared retry schedule
//! (`agent_telemetry_contract::retry`) decides. So whatever has left the component survives a
//! dead collector, a crash or the end of the process, and is sent by the next flush, the next
//! run or `agent-telemetry flush`.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent_telemetry_contract::retry::{self, Attempt, RetryState};
use tokio::sync::watch;
use tokio::time::Instant;

use super::spool::{Claimed, Spool};
use crate::runtime::bindings::delivery::{Batch, DeliveryOutcome, DeliveryReport};
use crate::runtime::bindings::recorder::FlushReport;
use crate::runtime::supervisor::Supervised;

pub struct SpoolSender {
    spool: Arc<Spool>,
    retry: RetryState,
    /// Where the retry schedule's clock starts.
    origin: Instant,
    /// True once `shutdown` was called: a delivery the worker started on its own gives way.
    stopping: watch::Receiver<bool>,
    /// Per request.
    timeout: Duration,
}

impl SpoolSender {
    pub fn new(spool: Arc<Spool>, stopping: watch::Receiver<bool>, timeout: Duration) -> Self {
        SpoolSender {
            spool,
            retry: RetryState::default(),
            origin: Instant::now(),
            stopping,
            timeout,
        }
    }

    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// Moves every batch the component holds to the spool (no network: fast).
    pub async fn move_to_spool(&mut self, instance: &mut Supervised) {
        let Some(batches) = instance.take_undelivered().await else {
            return;
        };
        // Written together: several batches to a file, one `fsync` for them all.
        let bodies: Vec<(&[u8], u64)> = batches
            .iter()
            .map(|b| (b.body.as_slice(), u64::from(b.events)))
            .collect();
        // Counts from spool file names are untrusted: they saturate, never overflow.
        let evicted = match self.spool.write_all(&bodies) {
            Ok(evicted) => evicted,
            Err((written, evicted, e)) => {
                // A full disk or a read-only directory must not cost what a healthy
                // collector would take: what was not written is sent directly, once.
                tracing::error!(dir = %self.spool.dir().display(), error = %e, "cannot write to the spool; sending the batches directly");
                let mut lost: u64 = evicted;
                for batch in &batches[written..] {
                    lost = lost.saturating_add(self.deliver_unspooled(instance, batch).await);
                }
                lost
            }
        };
        instance.note_dropped(evicted).await;
    }

    /// One attempt to send a batch the spool could not take; returns the events lost.
    async fn deliver_unspooled(&mut self, instance: &mut Supervised, batch: &Batch) -> u64 {
        match instance.deliver(&batch.body, self.timeout).await {
            Some(report) if matches!(report.outcome, DeliveryOutcome::Delivered) => 0,
            _ => {
                tracing::error!(
                    events = batch.events,
                    "a batch that could not be spooled was not delivered; dropped"
                );
                batch.events.into()
            }
        }
    }

    /// Sends spooled batches, oldest first, until the spool is empty or `until` is near. An
    /// `interruptible` flush (the worker's own, or one a caller waits for) gives way when
    /// `shutdown` is called; the shutdown's own flush is not, and is the last one. The loop is
    /// the shared one ([`retry::drive`]); this courier takes batches from the spool.
    pub async fn deliver(
        &mut self,
        instance: &mut Supervised,
        until: Instant,
        interruptible: bool,
    ) -> FlushReport {
        let origin = self.origin;
        let deadline = until.saturating_duration_since(origin);
        let flush = self.retry.begin(origin.elapsed(), deadline, !interruptible);
        let mut courier = FromSpool {
            spool: &self.spool,
            instance,
            origin,
            interruptible,
            stopping: self.stopping.clone(),
            skip: Vec::new(),
            current: None,
            report: nothing_flushed(),
        };
        let driven = retry::drive(flush, &mut courier).await;
        // What is left of a file sent batch by batch goes back to the spool.
        if let Some(claimed) = courier.current.take() {
            self.spool.release(claimed);
        }
        let mut report = courier.report;
        report.failed = u32::try_from(driven.failed_events).unwrap_or(u32::MAX);
        report.retry_after_ms = u32::try_from(driven.retry_after.as_millis()).unwrap_or(u32::MAX);
        report
    }
}

/// The host's courier for the shared delivery loop: batches from the spool, oldest first,
/// each settled in the spool as its delivery report says.
struct FromSpool<'a> {
    spool: &'a Arc<Spool>,
    instance: &'a mut Supervised,
    origin: Instant,
    interruptible: bool,
    stopping: watch::Receiver<bool>,
    /// Batches of another schema version: left for a build that reads them.
    skip: Vec<PathBuf>,
    /// A spool file of several batches being sent one by one; what is left of it goes back
    /// to the spool when the flush ends.
    current: Option<Claimed>,
    report: FlushReport,
}

impl retry::Courier for FromSpool<'_> {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn random(&mut self) -> u32 {
        random_u32()
    }

    async fn wait(&mut self, wait: Duration) -> bool {
        let interruptible = self.interruptible;
        tokio::select! {
            _ = tokio::time::sleep(wait) => true,
            _ = self.stopping.wait_for(|s| *s), if interruptible => false,
        }
    }

    async fn send_next(&mut self, left: Duration) -> Option<Attempt> {
        if self.interruptible && *self.stopping.borrow() {
            return None;
        }
        // A file sent batch by batch is checked to be still this sender's before each batch
        // (it is gone after `telemetry off`).
        let current = self.current.take().and_then(|c| self.spool.resume(c));
        let mut claimed = match current {
            Some(claimed) => claimed,
            None => self.spool.claim_next(&self.skip)?,
        };
        // An unsettled claim also goes back to the spool when dropped (a send cancelled).
        let Some(delivery) = deliver_once(
            self.instance,
            &claimed.batch().body,
            left,
            self.interruptible,
            &mut self.stopping,
        )
        .await
        else {
            self.spool.release(claimed);
            return None;
        };
        let report = &mut self.report;
        let events = delivery.events;
        let attempt = match delivery.outcome {
            DeliveryOutcome::Delivered => {
                // The component read the batch: its count is the true one.
                claimed.batch_mut().events = events.into();
                self.spool.delivered(&mut claimed);
                report.sent += events;
                report.left_out = report.left_out.saturating_add(delivery.left_out);
                Attempt::Delivered
            }
            DeliveryOutcome::Rejected => {
                claimed.batch_mut().events = events.into();
                self.spool.discard(&mut claimed);
                report.rejected += events;
                report.dropped += events;
                report.left_out = report.left_out.saturating_add(delivery.left_out);
                self.instance.note_dropped(events.into()).await;
                Attempt::Settled
            }
            DeliveryOutcome::Failed => {
                let retry_after = match delivery.retry_after_ms {
                    0 => None,
                    ms => Some(Duration::from_millis(ms.into())),
                };
                // What is left of a file keeps its place (and so its key) in the spool.
                let failed = Attempt::Failed {
                    batch: key(claimed.position()),
                    events: claimed.events_left(),
                    retry_after,
                };
                match delivery.rest {
                    // Sent in part (a request per event): what is left takes its place.
                    Some(rest) => {
                        let done = claimed.batch().events.saturating_sub(events.into());
                        let sent = done.saturating_sub(delivery.left_out.into());
                        report.sent = report
                            .sent
                            .saturating_add(u32::try_from(sent).unwrap_or(u32::MAX));
                        report.left_out = report.left_out.saturating_add(delivery.left_out);
                        self.spool.keep_rest(claimed, rest, events.into());
                    }
                    None => {
                        self.spool.release(claimed);
                    }
                }
                return Some(failed);
            }
            DeliveryOutcome::Malformed => {
                self.spool.set_aside(&mut claimed);
                Attempt::Settled
            }
            DeliveryOutcome::Refused => {
                let why = delivery.problem.as_deref().unwrap_or("no reason given");
                self.spool.refuse(&mut claimed, why);
                Attempt::Settled
            }
            DeliveryOutcome::OtherVersion => {
                if let Some(waits) = self.spool.release(claimed) {
                    self.skip.push(waits);
                }
                return Some(Attempt::Settled);
            }
        };
        if !claimed.done() {
            self.current = Some(claimed);
        }
        Some(attempt)
    }
}

/// One `deliver` call. An `interruptible` one is abandoned when `shutdown` is called: the
/// instance holds no events while it delivers (they were all moved to the spool first), so it
/// is simply replaced.
async fn deliver_once(
    instance: &mut Supervised,
    body: &[u8],
    left: Duration,
    interruptible: bool,
    stopping: &mut watch::Receiver<bool>,
) -> Option<DeliveryReport> {
    if !interruptible {
        return instance.deliver(body, left).await;
    }
    tokio::select! {
        report = instance.deliver(body, left) => report,
        _ = stopping.wait_for(|s| *s) => {
            instance.abandon();
            None
        }
    }
}

/// A flush report with nothing in it.
pub fn nothing_flushed() -> FlushReport {
    FlushReport {
        sent: 0,
        dropped: 0,
        rejected: 0,
        failed: 0,
        pending: 0,
        retry_after_ms: 0,
        left_out: 0,
    }
}

/// Tells one spooled file from the others, for the schedule's count of failed batches.
fn key(position: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    position.hash(&mut hasher);
    hasher.finish()
}

fn random_u32() -> u32 {
    let mut bytes = [0; 4];
    // Jitter only: a failing random source just means no jitter.
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes)
}
