//! The telemetry settings the record and relay benches measure with: on, a batch of `batch`
//! events, a queue and a hand-off that never fill, and no timed flush (each bench flushes when
//! it means to).

use std::time::Duration;

use agent_telemetry::{Consent, TelemetrySettings};

pub fn settings(endpoint: String, batch: u32) -> TelemetrySettings {
    let mut s = TelemetrySettings::new("bench", "0.0.0")
        .endpoint(endpoint)
        .consent(Consent::explicit(true, "benchmark"));
    s.batch_max_events = batch;
    s.queue_max_events = 50_000;
    s.flush_interval = Duration::from_secs(3600);
    s.handoff_capacity = 1_000_000;
    s
}
