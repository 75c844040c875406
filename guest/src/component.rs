//! The `recorder` export: WASI in, WASI out. Settings come from `wasi:config` on the first
//! call; time from `wasi:clocks`; randomness from `wasi:random`; batches leave via `transport`,
//! on `flush` only.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime};

use crate::bindings::exports::agent::telemetry::recorder::{self as wit, Guest};
use crate::bindings::wasi::config::store;
use crate::bindings::wasi::random::random;
use crate::config::Settings;
use crate::pipeline::{Counters, Entropy, Pipeline};
use crate::transport::{self, Verdict};

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

    /// Sends one batch; false when nothing more should be sent now.
    fn send_one(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let Some(batch) = self
            .pipeline
            .take_batch(SystemTime::now(), &mut self.entropy)
        else {
            return false;
        };
        let settings = self.pipeline.settings();
        let Some(endpoint) = settings.endpoint.clone() else {
            self.pipeline.failed(batch);
            return false;
        };
        let timeout = settings.timeout.min(left);
        match transport::post(&endpoint, &batch.body, timeout) {
            Verdict::Delivered => {
                self.pipeline.delivered(batch);
                true
            }
            Verdict::Rejected => {
                self.pipeline.rejected(batch);
                true
            }
            Verdict::Failed => {
                // Stop here: the next flush tries again, with the same event ids.
                self.pipeline.failed(batch);
                false
            }
        }
    }

    fn flush(&mut self, deadline_ms: u32) -> wit::FlushReport {
        let deadline = Instant::now() + Duration::from_millis(u64::from(deadline_ms));
        while self.pipeline.queued() > 0 && self.send_one(deadline) {}
        let now = self.pipeline.counters();
        let before = std::mem::replace(&mut self.at_last_flush, now);
        let delta = |a: u64, b: u64| u32::try_from(a.saturating_sub(b)).unwrap_or(u32::MAX);
        wit::FlushReport {
            sent: delta(now.sent, before.sent),
            dropped: delta(now.dropped, before.dropped),
            failed: delta(now.failed, before.failed),
            pending: u32::try_from(self.pipeline.queued()).unwrap_or(u32::MAX),
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
            failed: c.failed,
        }
    }
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
