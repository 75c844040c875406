//! The worker: one tokio task per `Telemetry` handle that owns the component's
//! instance and runs the commands callers send, one at a time. Events waiting in the hand-off
//! go to the component together, in one `record-many` call; a batch's worth of them (once the
//! burst pauses, or at once when the component's queue nears its bound), the flush timer, an
//! explicit flush and the shutdown each make a flush.

use std::sync::Arc;
use std::time::Duration;

use agent_telemetry_contract::retry;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::handoff::{Command, Room, until};
use crate::delivery::sender::{SpoolSender, nothing_flushed};
use crate::egress::ledger::{Ledger, LedgerEntry};
use crate::runtime::bindings::recorder::{Event, FlushReport};
use crate::runtime::supervisor::{InstanceStats, Supervised};

/// How stale the status snapshot may get while events are being recorded.
const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(50);

/// Most events handed to the component in one `record-many` call.
const COALESCE_MAX_EVENTS: usize = 4096;

/// How long a full batch waits for more events before it is sent: while an agent records a
/// burst, its events go into the component (anonymized, counted, off the agent's hands) at
/// the speed of `record`, instead of waiting in the hand-off behind a delivery; the burst's
/// batches go once it pauses this long, or sooner when the component's queue nears its bound.
const LINGER: Duration = Duration::from_millis(5);

pub(super) struct Worker {
    instance: Supervised,
    /// Delivery through the spool; `None` without an identity directory (the component then
    /// sends itself).
    sender: Option<SpoolSender>,
    /// Per request.
    timeout: Duration,
    /// A flush follows once this many events have been handed to the component since the last
    /// (after [`LINGER`] without more, or at once when the queue may not take another call's).
    batch_max: usize,
    since_flush: usize,
    /// The component's queue bound (`queue-max-events`, as the component reads it).
    queue_max: usize,
    /// Events the component still held after the last flush (with a spool: none).
    queued_after_flush: usize,
    /// A full batch waits for the burst to pause.
    flush_due: bool,
    /// Where a flush notes the events its wire format left out, and the endpoint it names.
    ledger: Arc<Ledger>,
    endpoint: String,
    /// What the worker's own flushes (timer, full batch, start-up) did since a caller last
    /// asked: the next flush report a caller gets includes it, so every delivery is reported
    /// once, to someone.
    unreported: FlushReport,
}

impl Worker {
    pub fn new(
        instance: Supervised,
        sender: Option<SpoolSender>,
        timeout: Duration,
        (batch_max, queue_max): (usize, usize),
        (ledger, endpoint): (Arc<Ledger>, String),
    ) -> Worker {
        Worker {
            instance,
            sender,
            timeout,
            batch_max,
            since_flush: 0,
            queue_max,
            queued_after_flush: 0,
            flush_due: false,
            ledger,
            endpoint,
            unreported: nothing_flushed(),
        }
    }

    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>, interval: Duration) {
        // tokio's interval panics on zero, and a huge one would overflow the first deadline.
        let interval = interval.clamp(Duration::from_millis(100), Duration::from_secs(86_400));
        let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
        // After a stall, one flush, not a burst of them.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // What earlier runs left in the spool goes first, in the background of this run.
        if self
            .sender
            .as_ref()
            .is_some_and(|s| s.spool().pending_events() > 0)
        {
            self.background_flush().await;
        }
        loop {
            // A timer only while a full batch waits (recording is the hot path), started again
            // at every command: it ends LINGER after the last one.
            let due = self.flush_due;
            let linger = async move {
                if due {
                    tokio::time::sleep(LINGER).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            let received = tokio::select! {
                command = rx.recv() => command,
                _ = tick.tick() => {
                    self.background_flush().await;
                    continue;
                }
                () = linger => {
                    self.background_flush().await;
                    continue;
                }
            };
            let Some(mut command) = received else {
                // Every handle is gone.
                self.stop().await;
                break;
            };
            if let Command::Record(events, room) = command {
                let next = self.record_waiting(events, room, &mut rx).await;
                // Recording is the hot path: the snapshot is refreshed at most this often.
                if self.instance.snapshot_age() >= SNAPSHOT_INTERVAL {
                    self.instance.refresh_snapshot().await;
                }
                match next {
                    Some(next) => command = next,
                    None => continue,
                }
            }
            if !self.handle(command).await {
                break;
            }
        }
        drop_the_rest(&mut rx, self.instance.stats());
    }

    /// Runs one command; false when the worker should end.
    async fn handle(&mut self, command: Command) -> bool {
        match command {
            Command::Record(events, room) => self.record(events, vec![room]).await,
            Command::Flush { until, reply } => {
                let report = self.flush(until, true).await;
                let _ = reply.send(self.with_unreported(report));
            }
            Command::Status(reply) => {
                let _ = reply.send(self.instance.refresh_snapshot().await);
            }
            Command::Shutdown { until, reply } => {
                // Leave room to move what is left to the spool and answer in time.
                let left = until.saturating_duration_since(Instant::now());
                let report = self.flush(until - retry::reserve(left), false).await;
                self.stop().await;
                let mut report = self.with_unreported(report);
                report.pending = u32::try_from(self.pending()).unwrap_or(u32::MAX);
                let _ = reply.send(report);
                return false;
            }
        }
        true
    }

    /// Records `events` and every record command already waiting, in one component call;
    /// returns the first other command it met.
    async fn record_waiting(
        &mut self,
        mut events: Vec<Event>,
        room: Room,
        rx: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Option<Command> {
        let mut rooms = vec![room];
        let mut next = None;
        while events.len() < COALESCE_MAX_EVENTS {
            match rx.try_recv() {
                Ok(Command::Record(more, room)) => {
                    events.extend(more);
                    rooms.push(room);
                }
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        self.record(events, rooms).await;
        if self.since_flush >= self.batch_max {
            if self.queue_may_overflow(COALESCE_MAX_EVENTS) {
                self.background_flush().await;
            } else {
                self.flush_due = true;
            }
        }
        next
    }

    /// Whether the component's queue might not take `more` events: what it held after the last
    /// flush and everything handed to it since (drops only make it less) plus `more` pass its
    /// bound.
    fn queue_may_overflow(&self, more: usize) -> bool {
        self.queued_after_flush
            .saturating_add(self.since_flush)
            .saturating_add(more)
            > self.queue_max
    }

    /// Hands events to the component; their room in the hand-off is free once it has them.
    async fn record(&mut self, events: Vec<Event>, rooms: Vec<Room>) {
        // A batch waiting for the burst to pause goes first when these would not fit beside it.
        if self.since_flush > 0 && self.queue_may_overflow(events.len()) {
            self.background_flush().await;
        }
        self.since_flush += events.len();
        self.instance.record_many(&events).await;
        drop(rooms);
    }

    /// A flush of the worker's own; what it did is reported with the next caller's flush.
    async fn background_flush(&mut self) {
        let report = self.flush(until(self.timeout), true).await;
        add_done(&mut self.unreported, &report);
    }

    /// `report` with what the worker's own flushes did since the last caller's.
    fn with_unreported(&mut self, mut report: FlushReport) -> FlushReport {
        let unreported = std::mem::replace(&mut self.unreported, nothing_flushed());
        add_done(&mut report, &unreported);
        report
    }

    /// Sends what is queued by `until`: through the spool when there is one. An
    /// `interruptible` flush gives way when `shutdown` is called (it is the worker's own, or
    /// one a caller waits for; the shutdown's own flush is not).
    async fn flush(&mut self, until: Instant, interruptible: bool) -> FlushReport {
        self.since_flush = 0;
        self.flush_due = false;
        let report = match &mut self.sender {
            None => {
                let left = until.saturating_duration_since(Instant::now());
                let report = self
                    .instance
                    .flush(left)
                    .await
                    .unwrap_or_else(nothing_flushed);
                self.queued_after_flush = report.pending as usize;
                report
            }
            Some(sender) => {
                sender.move_to_spool(&mut self.instance).await;
                let mut report = sender
                    .deliver(&mut self.instance, until, interruptible)
                    .await;
                // Everything the component held is in the spool now.
                report.pending = u32::try_from(sender.spool().pending_events()).unwrap_or(u32::MAX);
                report
            }
        };
        // The report says what the wire format left out; the ledger keeps it beside the
        // requests that went.
        if report.left_out > 0 {
            self.ledger.append(LedgerEntry::left_out(
                self.endpoint.clone(),
                report.left_out.into(),
            ));
        }
        report
    }

    /// At stop, whatever the component still holds goes to the spool; without one it cannot
    /// be delivered any more: it is counted, never lost silently.
    async fn stop(&mut self) {
        match &mut self.sender {
            Some(sender) => sender.move_to_spool(&mut self.instance).await,
            None => {
                self.instance.refresh_snapshot().await;
            }
        }
        self.instance.stop();
    }

    /// Events not delivered yet: in the spool (from any process) and in the component.
    fn pending(&self) -> u64 {
        let spooled = self
            .sender
            .as_ref()
            .map_or(0, |s| s.spool().pending_events());
        spooled.saturating_add(self.instance.stats().queued_in_component())
    }
}

/// A worker whose component could not be had: it says so once, answers every command, and
/// counts every event as dropped until it is shut down.
pub(super) async fn without_component(
    error: &anyhow::Error,
    mut rx: mpsc::UnboundedReceiver<Command>,
    stats: &InstanceStats,
) {
    tracing::error!(error = %format!("{error:#}"), "telemetry cannot start; events are dropped and counted");
    while let Some(command) = rx.recv().await {
        match command {
            Command::Record(events, _) => stats.add_dropped(events.len() as u64),
            Command::Flush { reply, .. } => {
                let _ = reply.send(nothing_flushed());
            }
            Command::Status(reply) => {
                let _ = reply.send(None);
            }
            Command::Shutdown { reply, .. } => {
                let _ = reply.send(nothing_flushed());
                break;
            }
        }
    }
    drop_the_rest(&mut rx, stats);
}

/// What one flush did (sent, dropped, rejected) added to another's report.
fn add_done(report: &mut FlushReport, more: &FlushReport) {
    report.sent = report.sent.saturating_add(more.sent);
    report.dropped = report.dropped.saturating_add(more.dropped);
    report.rejected = report.rejected.saturating_add(more.rejected);
    report.left_out = report.left_out.saturating_add(more.left_out);
}

/// Closes the worker's end: events sent after the shutdown are counted, never silently lost
/// (later sends fail, and are counted by the sender).
fn drop_the_rest(rx: &mut mpsc::UnboundedReceiver<Command>, stats: &InstanceStats) {
    rx.close();
    while let Ok(command) = rx.try_recv() {
        if let Command::Record(events, _) = command {
            stats.add_dropped(events.len() as u64);
        }
    }
}
