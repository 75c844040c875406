//! The `recorder` and `delivery` exports: WASI in, WASI out. Settings come from `wasi:config`
//! on the first call; time from `wasi:clocks`; randomness from `wasi:random`; batches leave
//! via `transport`, on `flush` only (or `delivery.deliver`, for batches the host's spool kept).
//!
//! A flush sends batch after batch until the queue is empty or the deadline is near, as the
//! shared retry schedule (`agent_telemetry_contract::retry`) decides: a batch that fails is
//! retried after the backoff (or the collector's `Retry-After`) when that fits before the
//! deadline; otherwise the flush stops and says how long to wait, and the batch stays at the
//! front of the queue as the same bytes.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime};

use crate::admission;
use crate::bindings::clocks::monotonic_clock;
use crate::bindings::exports::agent::telemetry::delivery::{
    self as delivery, DeliveryOutcome, DeliveryReport,
};
use crate::bindings::exports::agent::telemetry::recorder::{self as wit, Guest};
use crate::bindings::wasi::config::store;
use crate::bindings::wasi::random::random;
use crate::config::Settings;
use crate::contract::batch::{self, BatchError};
use crate::contract::retry::{self, Attempt, Driven, RetryState};
use crate::encode;
use crate::pipeline::{Counters, Entropy, Pipeline, Progress};
use crate::send;
use crate::transport::Verdict;

struct Component;

crate::bindings::export!(Component with_types_in crate::bindings);

struct State {
    pipeline: Pipeline,
    entropy: WasiEntropy,
    /// Counters at the end of the previous flush, so each report gives what changed since.
    at_last_flush: Counters,
    /// The retry schedule's memory across flushes.
    retry: RetryState,
    /// Where the schedule's clock starts.
    origin: Instant,
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

fn count(n: impl TryInto<u32>) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

fn millis(d: Duration) -> u32 {
    count(d.as_millis())
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
            retry: RetryState::default(),
            origin: Instant::now(),
        }
    }

    /// Takes in `events`, handed over together, as of one reading of the clock: one host
    /// call for the call, not one per event (their times are whole seconds on the wire anyway).
    fn record(&mut self, events: &[wit::Event]) {
        let now = SystemTime::now();
        for event in events {
            self.pipeline.record(event, now, &mut self.entropy);
        }
    }

    fn flush(&mut self, deadline_ms: u32) -> wit::FlushReport {
        let State {
            pipeline,
            entropy,
            retry,
            origin,
            ..
        } = self;
        let start = origin.elapsed();
        let flush = retry.begin(
            start,
            start + Duration::from_millis(deadline_ms.into()),
            false,
        );
        let mut courier = Queue {
            pipeline,
            entropy,
            origin: *origin,
        };
        let Driven {
            failed_events: failed,
            retry_after,
        } = retry::block_on(retry::drive(flush, &mut courier));
        let now = self.pipeline.counters();
        let before = std::mem::replace(&mut self.at_last_flush, now);
        let delta = |a: u64, b: u64| count(a.saturating_sub(b));
        wit::FlushReport {
            sent: delta(now.sent, before.sent),
            dropped: delta(now.dropped, before.dropped),
            rejected: delta(now.rejected, before.rejected),
            failed: count(failed),
            pending: count(self.pipeline.queued()),
            retry_after_ms: millis(retry_after),
            left_out: delta(now.left_out, before.left_out),
        }
    }

    /// Sends a batch the host kept, in the configured format; refuses anything that is not
    /// one of ours, or that holds anything this component would not have sent.
    fn deliver(&mut self, body: &[u8], deadline_ms: u32) -> DeliveryReport {
        let report = |outcome, events: usize, retry: Duration| DeliveryReport {
            outcome,
            events: count(events),
            retry_after_ms: millis(retry),
            problem: None,
            left_out: 0,
            rest: None,
        };
        // The one time a spooled batch is read between the component and the collector, and
        // read strictly: the wire format, the native one included, is written from this
        // reading, never from the file's bytes (see `batch::parse_strict`).
        let batch = match batch::parse_strict(body) {
            Ok(batch) => {
                let (rules, installation) =
                    (self.pipeline.anonymizer(), self.pipeline.installation_id());
                if let Err(why) = admission::admit(&batch, rules, installation) {
                    return DeliveryReport {
                        problem: Some(why),
                        ..report(DeliveryOutcome::Refused, batch.events.len(), Duration::ZERO)
                    };
                }
                // An older build's batch goes in this build's version: the envelope once.
                batch.upgraded()
            }
            Err(BatchError::OtherVersion(_)) => {
                return report(DeliveryOutcome::OtherVersion, 0, Duration::ZERO);
            }
            Err(_) => return report(DeliveryOutcome::Malformed, 0, Duration::ZERO),
        };
        let events = batch.events.len();
        let settings = self.pipeline.settings();
        let Some(endpoint) = settings.endpoint.clone().filter(|_| settings.enabled) else {
            return report(DeliveryOutcome::Failed, events, Duration::ZERO);
        };
        let timeout = settings
            .timeout
            .min(Duration::from_millis(u64::from(deadline_ms)));
        let Ok(checked) = encode::native::encode(&batch) else {
            return report(DeliveryOutcome::Malformed, 0, Duration::ZERO);
        };
        let mut progress = Progress::default();
        let sent = send::send(
            self.pipeline.wire(),
            &endpoint,
            &checked,
            events,
            Some(&batch),
            &mut progress,
            timeout,
        );
        // `status.sent` counts every 2xx, whichever path the batch took.
        self.pipeline.note_sent(sent.delivered as u64);
        let remaining = events - progress.events;
        match sent.verdict {
            Verdict::Delivered => {
                self.pipeline.note_left_out(sent.left_out as u64);
                DeliveryReport {
                    left_out: count(sent.left_out),
                    ..report(DeliveryOutcome::Delivered, progress.events, Duration::ZERO)
                }
            }
            Verdict::Rejected => {
                self.pipeline.note_left_out(sent.left_out as u64);
                DeliveryReport {
                    left_out: count(sent.left_out),
                    ..report(
                        DeliveryOutcome::Rejected,
                        remaining.saturating_sub(sent.left_out),
                        Duration::ZERO,
                    )
                }
            }
            // Without a `Retry-After` the host, which knows how often it failed, backs off.
            Verdict::Failed { retry_after } => {
                let mut failed = report(
                    DeliveryOutcome::Failed,
                    remaining,
                    retry_after.unwrap_or_default(),
                );
                // Sent in part: the host keeps what is left in its place, so nothing is sent
                // twice.
                if progress.through > 0
                    && let Some(rest) = encode::native::rest(&checked, progress.through)
                {
                    let left_out = progress.through - progress.events;
                    self.pipeline.note_left_out(left_out as u64);
                    failed.left_out = count(left_out);
                    failed.events = count(events - progress.through);
                    failed.rest = Some(rest);
                }
                failed
            }
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
            queued: count(self.pipeline.queued()),
            recorded: c.recorded,
            sent: c.sent,
            dropped: c.dropped,
            rejected: c.rejected,
            failed: c.failed,
            left_out: c.left_out,
        }
    }
}

/// The component's own courier for the shared delivery loop ([`retry::drive`]): batches from
/// its queue, sent by `send` (blocking, so every step of the loop is ready at once).
struct Queue<'a> {
    pipeline: &'a mut Pipeline,
    entropy: &'a mut WasiEntropy,
    origin: Instant,
}

impl retry::Courier for Queue<'_> {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn random(&mut self) -> u32 {
        random_u32(self.entropy)
    }

    async fn wait(&mut self, wait: Duration) -> bool {
        sleep(wait);
        true
    }

    async fn send_next(&mut self, left: Duration) -> Option<Attempt> {
        let pipeline = &mut *self.pipeline;
        let mut batch = pipeline.take_batch(SystemTime::now(), self.entropy)?;
        let settings = pipeline.settings();
        let Some(endpoint) = settings.endpoint.clone() else {
            pipeline.failed(batch);
            return None;
        };
        let timeout = settings.timeout.min(left);
        let (body, events) = (&batch.body, batch.len());
        let sent = send::send(
            pipeline.wire(),
            &endpoint,
            body,
            events,
            None,
            &mut batch.progress,
            timeout,
        );
        pipeline.note_sent(sent.delivered as u64);
        Some(match sent.verdict {
            Verdict::Delivered => {
                pipeline.delivered(batch, sent.left_out);
                Attempt::Delivered
            }
            Verdict::Rejected => {
                pipeline.rejected(batch, sent.left_out);
                Attempt::Settled
            }
            Verdict::Failed { retry_after } => {
                // A retry is always of this same batch: the schedule counts it once.
                let failed = Attempt::Failed {
                    batch: batch.seq,
                    events: batch.len() as u64,
                    retry_after,
                };
                pipeline.failed(batch);
                failed
            }
        })
    }
}

fn random_u32(entropy: &mut WasiEntropy) -> u32 {
    let mut bytes = [0; 4];
    entropy.fill(&mut bytes);
    u32::from_le_bytes(bytes)
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
        with_state(|s| s.record(std::slice::from_ref(&event)))
    }

    fn record_many(events: Vec<wit::Event>) {
        with_state(|s| s.record(&events))
    }

    fn flush(deadline_ms: u32) -> wit::FlushReport {
        with_state(|s| s.flush(deadline_ms))
    }

    fn status() -> wit::StatusReport {
        with_state(|s| s.status())
    }
}

impl delivery::Guest for Component {
    fn take_undelivered() -> Vec<delivery::Batch> {
        with_state(|s| {
            s.pipeline
                .take_undelivered(SystemTime::now(), &mut s.entropy)
                .into_iter()
                .map(|batch| delivery::Batch {
                    events: count(batch.len()),
                    body: batch.body,
                })
                .collect()
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
