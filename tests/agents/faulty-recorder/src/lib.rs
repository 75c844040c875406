//! Takes the telemetry component's place to show that the host contains a component that goes
//! wrong. It is a trivial recorder (it counts events and holds them: it never sends, so every
//! recorded event stays `queued`), until a `tool-call` event names one of these tools:
//!
//! - `spin`: loops forever, so only the host's CPU budget (epoch deadline) can end the call;
//! - `trap`: panics, which aborts the instance (a wasm trap);
//! - `grow`: allocates and touches ~1 GiB, far past the host's memory cap; the allocation
//!   that is refused aborts the instance (a trap).
//!
//! Any other event is just counted.

wit_bindgen::generate!({ world: "telemetry", path: "../../../wit", generate_all });

use std::sync::atomic::{AtomicU64, Ordering};

use exports::agent::telemetry::delivery::{self, DeliveryOutcome, DeliveryReport};
use exports::agent::telemetry::recorder::{self, Event, FlushReport, StatusReport};

/// Events recorded by this instance (a fresh instance starts again from zero).
static RECORDED: AtomicU64 = AtomicU64::new(0);
/// Events the host said it dropped (`note-dropped`).
static NOTED_DROPPED: AtomicU64 = AtomicU64::new(0);

/// How much `grow` asks for in all, and in how large steps: stepwise, so memory really fills
/// up to the host's cap instead of one oversized request failing on its own.
const GROW_TOTAL: usize = 1 << 30;
const GROW_STEP: usize = 1 << 20;

struct Faulty;

impl recorder::Guest for Faulty {
    fn record(event: Event) {
        take(&event);
    }

    fn record_many(events: Vec<Event>) {
        events.iter().for_each(take);
    }

    fn flush(_: u32) -> FlushReport {
        FlushReport {
            sent: 0,
            dropped: 0,
            rejected: 0,
            failed: 0,
            pending: held(),
            retry_after_ms: 0,
            left_out: 0,
        }
    }

    fn status() -> StatusReport {
        StatusReport {
            enabled: true,
            reason: "faulty-recorder fixture".to_string(),
            queued: held(),
            recorded: RECORDED.load(Ordering::Relaxed),
            sent: 0,
            dropped: NOTED_DROPPED.load(Ordering::Relaxed),
            rejected: 0,
            failed: 0,
            left_out: 0,
        }
    }
}

/// It never makes batches, so it has none to hand over, and any batch it is given is refused.
impl delivery::Guest for Faulty {
    fn take_undelivered() -> Vec<delivery::Batch> {
        Vec::new()
    }

    fn deliver(_: Vec<u8>, _: u32) -> DeliveryReport {
        DeliveryReport {
            outcome: DeliveryOutcome::Rejected,
            events: 0,
            retry_after_ms: 0,
            problem: None,
            left_out: 0,
            rest: None,
        }
    }

    fn note_dropped(count: u32) {
        NOTED_DROPPED.fetch_add(count.into(), Ordering::Relaxed);
    }
}

/// Misbehaves if `event` asks for it, else counts it.
fn take(event: &Event) {
    if let Event::ToolCall(call) = event {
        match call.tool.as_str() {
            "spin" => spin(),
            "trap" => panic!("faulty-recorder: asked to trap"),
            "grow" => grow(),
            _ => {}
        }
    }
    RECORDED.fetch_add(1, Ordering::Relaxed);
}

fn held() -> u32 {
    u32::try_from(RECORDED.load(Ordering::Relaxed)).unwrap_or(u32::MAX)
}

/// A busy loop: `black_box` keeps the optimizer from proving it does nothing and removing it.
fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Fills memory step by step, writing every byte, and keeps all of it. Under the host's cap a
/// step's allocation fails and Rust aborts the instance; without a cap this returns and the
/// event is merely counted (which a test notices: no restart).
fn grow() {
    let mut kept: Vec<Vec<u8>> = Vec::with_capacity(GROW_TOTAL / GROW_STEP);
    for step in 0..GROW_TOTAL / GROW_STEP {
        // A non-zero fill, so the allocator cannot hand out untouched zeroed pages.
        kept.push(vec![(step as u8) | 1; GROW_STEP]);
        std::hint::black_box(&kept);
    }
}

export!(Faulty);
