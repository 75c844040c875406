//! The `recorder` export: WASI in, WASI out. Settings come from `wasi:config` on the first
//! call; time from `wasi:clocks`; randomness from `wasi:random`; batches leave via `transport`,
//! on `flush` only (or `delivery.deliver`, for batches the host's spool kept).
//!
//! A flush sends batch after batch until the queue is empty or the deadline is near. A batch
//! that fails is retried in the same flush after a backoff (or the collector's `Retry-After`)
//! as long as the wait and another attempt fit before the deadline, at most
//! [`ATTEMPTS_PER_FLUSH`] times; then the flush stops and says how long to wait, and the batch
//! stays at the front of the queue as the same bytes.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime};

use crate::bindings::exports::agent::telemetry::delivery::{
    self as delivery, DeliveryOutcome, DeliveryReport,
};
use crate::bindings::exports::agent::telemetry::recorder::{self as wit, Guest};
use crate::bindings::wasi::clocks::monotonic_clock;
use crate::bindings::wasi::config::store;
use crate::bindings::wasi::random::random;
use crate::config::Settings;
use crate::pipeline::{Counters, Entropy, Pipeline};
use crate::transport::{self, Verdict};
use crate::{retry, wire};

/// Tries of one batch within one flush.
const ATTEMPTS_PER_FLUSH: u32 = 4;
/// The least time worth starting a request with.
const MIN_ATTEMPT: Duration = Duration::from_millis(50);

struct Component;

crate::bindings::export!(Component with_types_in crate::bindings);

struct State {
    pipeline: Pipeline,
    entropy: WasiEntropy,
    /// Counters at the end of the previous flush, so each report gives what changed since.
    at_last_flush: Counters,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let state = slot.get_or_insert_with(State::load);
        f(state)
    })
}

impl State {
    fn load() -> State {
        let settings = match store::get_all() {
            Ok(pairs) => Settings::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            Err(e) => Settings {
                reason: format!("configuration could not be read: {e:?}"),
                ..Settings::default()
            },
        };
        let mut entropy = WasiEntropy::default();
        let pipeline = Pipeline::new(settings, &mut entropy);
        State {
            pipeline,
            entropy,
            at_last_flush: Counters::default(),
        }
    }

    fn record(&mut self, event: &wit::Event) {
        self.pipeline
            .record(event, SystemTime::now(), &mut self.entropy);
    }

    fn flush(&mut self, deadline_ms: u32) -> wit::FlushReport {
        let deadline = Instant::now() + Duration::from_millis(u64::from(deadline_ms));
        let mut attempt = 0;
        let mut failed = 0;
        let mut retry_after = Duration::ZERO;
        while let Some(batch) = self.next_batch(deadline) {
            let settings = self.pipeline.settings();
            let Some(endpoint) = settings.endpoint.clone() else {
                self.pipeline.failed(batch);
                break;
            };
            let timeout = settings
                .timeout
                .min(deadline.saturating_duration_since(Instant::now()));
            match transport::post(&endpoint, &batch.body, timeout) {
                Verdict::Delivered => {
                    self.pipeline.delivered(batch);
                    attempt = 0;
                }
                Verdict::Rejected => self.pipeline.rejected(batch),
                Verdict::Failed { retry_after: asked } => {
                    // A retry is always of this same batch: count its events once.
                    if attempt == 0 {
                        failed += batch.len();
                    }
                    self.pipeline.failed(batch);
                    attempt += 1;
                    let wait = asked.unwrap_or_else(|| retry::backoff(attempt, self.random_u32()));
                    let fits = Instant::now() + wait + MIN_ATTEMPT < deadline;
                    if attempt >= ATTEMPTS_PER_FLUSH || !fits {
                        retry_after = wait;
                        break;
                    }
                    sleep(wait);
                }
            }
        }
        let now = self.pipeline.counters();
        let before = std::mem::replace(&mut self.at_last_flush, now);
        let delta = |a: u64, b: u64| u32::try_from(a.saturating_sub(b)).unwrap_or(u32::MAX);
        wit::FlushReport {
            sent: delta(now.sent, before.sent),
            dropped: delta(now.dropped, before.dropped),
            rejected: delta(now.rejected, before.rejected),
            failed: u32::try_from(failed).unwrap_or(u32::MAX),
            pending: u32::try_from(self.pipeline.queued()).unwrap_or(u32::MAX),
            retry_after_ms: u32::try_from(retry_after.as_millis()).unwrap_or(u32::MAX),
        }
    }

    /// The next batch, if there is time left to send one.
    fn next_batch(&mut self, deadline: Instant) -> Option<crate::pipeline::PendingBatch> {
        if deadline.saturating_duration_since(Instant::now()) < MIN_ATTEMPT {
            return None;
        }
        self.pipeline
            .take_batch(SystemTime::now(), &mut self.entropy)
    }

    fn random_u32(&mut self) -> u32 {
        let mut bytes = [0; 4];
        self.entropy.fill(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    /// Sends a batch the host kept, as it is; refuses anything that is not one of ours.
    fn deliver(&mut self, body: &[u8], deadline_ms: u32) -> DeliveryReport {
        let report = |outcome, events: usize, retry: Duration| DeliveryReport {
            outcome,
            events: u32::try_from(events).unwrap_or(u32::MAX),
            retry_after_ms: u32::try_from(retry.as_millis()).unwrap_or(u32::MAX),
        };
        let events = match serde_json::from_slice::<wire::Batch>(body) {
            Ok(batch) if batch.schema == wire::SCHEMA => batch.events.len(),
            _ => return report(DeliveryOutcome::Rejected, 0, Duration::ZERO),
        };
        let settings = self.pipeline.settings();
        let Some(endpoint) = settings.endpoint.clone().filter(|_| settings.enabled) else {
            return report(DeliveryOutcome::Failed, events, Duration::ZERO);
        };
        let timeout = settings
            .timeout
            .min(Duration::from_millis(u64::from(deadline_ms)));
        match transport::post(&endpoint, body, timeout) {
            Verdict::Delivered => {
                // `status.sent` counts every 2xx, whichever path the batch took.
                self.pipeline.note_sent(events as u64);
                report(DeliveryOutcome::Delivered, events, Duration::ZERO)
            }
            Verdict::Rejected => report(DeliveryOutcome::Rejected, events, Duration::ZERO),
            // Without a `Retry-After` the host, which knows how often it failed, backs off.
            Verdict::Failed { retry_after } => report(
                DeliveryOutcome::Failed,
                events,
                retry_after.unwrap_or_default(),
            ),
        }
    }

    fn status(&self) -> wit::StatusReport {
        let settings = self.pipeline.settings();
        let mut reason = settings.reason.clone();
        if !settings.problems.is_empty() {
            reason = format!(
                "{reason}; configuration problems: {}",
                settings.problems.join("; ")
            );
        }
        let c = self.pipeline.counters();
        wit::StatusReport {
            enabled: settings.enabled,
            reason,
            queued: u32::try_from(self.pipeline.queued()).unwrap_or(u32::MAX),
            recorded: c.recorded,
            sent: c.sent,
            dropped: c.dropped,
            rejected: c.rejected,
            failed: c.failed,
        }
    }
}

/// Waits without spinning: the host parks this instance on a monotonic-clock pollable.
fn sleep(wait: Duration) {
    let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
    monotonic_clock::subscribe_duration(nanos).block();
}

impl Guest for Component {
    // Recording never touches the network: the WIT promises it, and under a stock host the
    // caller is the agent itself. Batches leave on `flush`, which the host calls when a batch
    // has filled, on a timer, and at exit (an agent under a stock host calls it itself).
    fn record(event: wit::Event) {
        with_state(|s| s.record(&event))
    }

    fn record_many(events: Vec<wit::Event>) {
        with_state(|s| {
            for event in &events {
                s.record(event);
            }
        })
    }

    fn flush(deadline_ms: u32) -> wit::FlushReport {
        with_state(|s| s.flush(deadline_ms))
    }

    fn status() -> wit::StatusReport {
        with_state(|s| s.status())
    }
}

impl delivery::Guest for Component {
    fn take_undelivered() -> Vec<Vec<u8>> {
        with_state(|s| {
            s.pipeline
                .take_undelivered(SystemTime::now(), &mut s.entropy)
        })
    }

    fn deliver(batch: Vec<u8>, deadline_ms: u32) -> DeliveryReport {
        with_state(|s| s.deliver(&batch, deadline_ms))
    }

    fn note_dropped(count: u32) {
        with_state(|s| s.pipeline.note_dropped(u64::from(count)))
    }
}

/// `wasi:random` bytes, fetched a block at a time so the record path makes no host call for
/// most events.
#[derive(Default)]
struct WasiEntropy {
    buf: Vec<u8>,
}

impl Entropy for WasiEntropy {
    fn fill(&mut self, out: &mut [u8]) {
        if self.buf.len() < out.len() {
            self.buf = random::get_random_bytes(4096.max(out.len() as u64));
        }
        // A host that returns fewer bytes than asked must not make this trap.
        let take = self.buf.len().min(out.len());
        let rest = self.buf.split_off(self.buf.len() - take);
        out[..take].copy_from_slice(&rest);
    }
}
