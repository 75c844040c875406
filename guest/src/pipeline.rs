//! The record path, independent of WASI so it runs (and is measured) natively too:
//! validate + anonymize → session totals → envelope → bounded queue → batches.
//!
//! A batch is bounded by event count and by bytes. Once serialized, a batch keeps its bytes
//! until a collector takes it or refuses it: a failed batch waits at the front as the same
//! bytes (same batch id, same event ids), and `take_undelivered` hands every waiting batch to
//! the host's spool, so redelivery is idempotent wherever it happens.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crate::anonymize::{self, Anonymizer};
use crate::bindings::exports::agent::telemetry::recorder as wit;
use crate::config::Settings;
use crate::contract::ids;
use crate::session::SessionTracker;
use crate::{encode, event, wire};

/// Where the component's randomness comes from: `wasi:random` in the component, anything in
/// native tests and benchmarks.
pub trait Entropy {
    fn fill(&mut self, buf: &mut [u8]);
}

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub recorded: u64,
    pub sent: u64,
    pub dropped: u64,
    /// Of `dropped`, refused by the collector.
    pub rejected: u64,
    pub failed: u64,
    /// Events the wire format has no type for: not sent (`status-report.left-out`).
    pub left_out: u64,
}

/// How far the attempts at one batch got.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Requests delivered.
    pub requests: usize,
    /// Events in them.
    pub events: usize,
    /// The batch's events up to and including the last one delivered: those are done (sent,
    /// or left out by the format), and a batch cut short starts after them.
    pub through: usize,
}

/// A batch taken off the queue and serialized, waiting for the transport's verdict.
pub struct PendingBatch {
    pub body: Vec<u8>,
    /// Tells this batch from the others of this instance (for the retry schedule's count).
    pub seq: u64,
    events: usize,
    dropped_reported: u64,
    /// How far earlier attempts got (formats that make a request per event).
    pub progress: Progress,
}

impl PendingBatch {
    pub fn len(&self) -> usize {
        self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Events not delivered yet.
    pub fn remaining(&self) -> usize {
        self.events - self.progress.events
    }
}

/// A queued event: what differs from one event to the next. The envelope is the pipeline's,
/// and ids and times are formatted only when the batch is written.
struct Queued {
    id: uuid::Uuid,
    at_ms: u64,
    data: wire::Data,
}

pub struct Pipeline {
    settings: Settings,
    /// The envelope fields that are the same for every event of this instance.
    envelope: wire::Envelope,
    anonymizer: Anonymizer,
    /// How batches are written when they are sent.
    wire: encode::Options,
    sessions: SessionTracker,
    queue: VecDeque<Queued>,
    /// Serialized batches that failed, oldest first: sent again before anything newer.
    unsent: VecDeque<PendingBatch>,
    unsent_events: usize,
    counters: Counters,
    /// Drops not yet reported in a delivered batch's `dropped_events`.
    unreported_drops: u64,
    /// The last `occurred_at` formatted, by (whole) second: events come in bursts.
    last_timestamp: (u64, String),
    /// Batches made so far: the next one's `seq`.
    batches_made: u64,
}

impl Pipeline {
    pub fn new(settings: Settings, entropy: &mut impl Entropy) -> Pipeline {
        let key = settings
            .hash_key
            .clone()
            .unwrap_or_else(|| random_bytes::<32>(entropy).to_vec());
        let anonymizer = Anonymizer::new(
            key,
            settings.agent_allowlist.clone(),
            settings.flag_allowlist.clone(),
            settings.redact_words.clone(),
        );
        // When telemetry is off no id is made at all, not even an ephemeral one.
        let installation_id = match &settings.installation_id {
            _ if !settings.enabled => String::new(),
            Some(id) if ids::is_installation_id(id) => id.clone(),
            _ => format!(
                "{}{}",
                ids::EPHEMERAL_PREFIX,
                hex::encode(random_bytes::<{ ids::ID_HEX_DIGITS / 2 }>(entropy))
            ),
        };
        // The envelope's names come from the host, but they are held to the same rule.
        let envelope = wire::Envelope {
            source: anonymizer.identifier(&settings.source),
            environment: anonymizer.identifier(&settings.environment),
            installation_id,
            product: anonymizer.identifier(&settings.product),
            product_version: anonymizer.identifier(&settings.product_version),
            os: anonymizer.identifier(&settings.os),
            arch: anonymizer.identifier(&settings.arch),
            ci: settings.ci,
            tags: settings
                .tags
                .iter()
                .map(|(k, v)| (anonymizer.identifier(k), anonymizer.identifier(v)))
                .collect(),
        };
        let wire = encode::Options::new(&settings, &anonymizer);
        Pipeline {
            settings,
            envelope,
            anonymizer,
            wire,
            sessions: SessionTracker::default(),
            queue: VecDeque::new(),
            unsent: VecDeque::new(),
            unsent_events: 0,
            counters: Counters::default(),
            unreported_drops: 0,
            last_timestamp: (u64::MAX, String::new()),
            batches_made: 0,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// How batches are written when they are sent.
    pub fn wire(&self) -> &encode::Options {
        &self.wire
    }

    /// The rules every string of this instance went through.
    pub fn anonymizer(&self) -> &Anonymizer {
        &self.anonymizer
    }

    /// The installation id every event of this instance carries.
    pub fn installation_id(&self) -> &str {
        &self.envelope.installation_id
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Events not yet delivered: queued, or in a batch waiting to be sent again.
    pub fn queued(&self) -> usize {
        self.queue.len() + self.unsent_events
    }

    /// Validates, anonymizes and queues one event; when the queue is full it is dropped and
    /// counted. A no-op when telemetry is off.
    pub fn record(&mut self, event: &wit::Event, now: SystemTime, entropy: &mut impl Entropy) {
        if !self.settings.enabled {
            return;
        }
        self.counters.recorded += 1;
        if self.queued() >= self.settings.queue_max_events {
            self.drop_events(1);
            return;
        }
        let now_ms = unix_millis(now);
        let mut data = event::to_wire(&self.anonymizer, event);
        // Session durations are measured on the full clock, then coarsened by the tracker.
        self.sessions.observe(&mut data, now_ms);
        // The time on the wire, in `occurred_at` and in the UUIDv7 id alike, is whole seconds:
        // the id must not give back the milliseconds that `occurred_at` leaves out.
        let at_ms = anonymize::coarse_time_ms(now_ms);
        let id = uuid::Builder::from_unix_timestamp_millis(at_ms, &random_bytes::<10>(entropy));
        self.queue.push_back(Queued {
            id: id.into_uuid(),
            at_ms,
            data,
        });
    }

    /// The next batch to send: one that failed before, else up to `batch_max_events` events
    /// and `batch_max_bytes` bytes off the queue, serialized (at least one event, however big).
    pub fn take_batch(
        &mut self,
        now: SystemTime,
        entropy: &mut impl Entropy,
    ) -> Option<PendingBatch> {
        if let Some(batch) = self.unsent.pop_front() {
            self.unsent_events -= batch.events;
            return Some(batch);
        }
        if self.queue.is_empty() {
            return None;
        }
        // When a batch is taken can depend on the agent (it may call `flush`): same rule.
        let at_ms = anonymize::coarse_time_ms(unix_millis(now));
        let batch_id =
            uuid::Builder::from_unix_timestamp_millis(at_ms, &random_bytes::<10>(entropy))
                .into_uuid();
        let (mut id_text, sent_at) = (uuid::Uuid::encode_buffer(), timestamp(at_ms));
        let head = wire::HeadView {
            schema: wire::SCHEMA,
            schema_version: wire::SCHEMA_VERSION,
            batch_id: batch_id.hyphenated().encode_lower(&mut id_text),
            sent_at: &sent_at,
            dropped_events: self.unreported_drops,
            envelope: Some(self.envelope.view()),
            events: [],
        };
        let mut writer = match encode::native::BatchWriter::new(&head) {
            Ok(writer) => writer,
            Err(_) => return None,
        };
        let mut taken = 0;
        let mut unwritable = 0;
        let mut id = uuid::Uuid::encode_buffer();
        while taken + unwritable < self.settings.batch_max_events {
            let Some(queued) = self.queue.front() else {
                break;
            };
            if self.last_timestamp.0 != queued.at_ms {
                self.last_timestamp = (queued.at_ms, timestamp(queued.at_ms));
            }
            let event = wire::EntryView {
                event_id: queued.id.hyphenated().encode_lower(&mut id),
                occurred_at: &self.last_timestamp.1,
                data: &queued.data,
            };
            match writer.push(&event, self.settings.batch_max_bytes) {
                encode::native::Pushed::Added => taken += 1,
                encode::native::Pushed::Full => break,
                // Cannot happen with these types; if it did, the event is dropped and counted.
                encode::native::Pushed::Unwritable => unwritable += 1,
            }
            self.queue.pop_front();
        }
        self.drop_events(unwritable as u64);
        if taken == 0 {
            return None;
        }
        let dropped_reported = self.unreported_drops - unwritable as u64;
        self.unreported_drops = unwritable as u64;
        self.batches_made += 1;
        Some(PendingBatch {
            body: writer.finish(),
            seq: self.batches_made,
            events: taken,
            dropped_reported,
            progress: Progress::default(),
        })
    }

    /// Every undelivered event, as serialized batches, oldest first; none stay here. A
    /// batch that was sent in part is cut to the events still to go.
    pub fn take_undelivered(
        &mut self,
        now: SystemTime,
        entropy: &mut impl Entropy,
    ) -> Vec<PendingBatch> {
        let mut batches = Vec::new();
        while let Some(mut batch) = self.take_batch(now, entropy) {
            let Progress {
                events, through, ..
            } = batch.progress;
            if through > 0 {
                match encode::native::rest(&batch.body, through) {
                    Some(rest) => {
                        // What was left out before the cut is done with.
                        self.note_left_out((through - events) as u64);
                        batch.body = rest;
                        batch.events -= through;
                        batch.progress = Progress::default();
                    }
                    // Cannot happen to our own bytes; if it did, the whole batch goes.
                    None => batch.progress = Progress::default(),
                }
            }
            if batch.events > 0 {
                batches.push(batch);
            }
        }
        batches
    }

    /// Every request of the batch was delivered (its events were counted as they were, by
    /// [`Pipeline::note_sent`]); `left_out` of its events the format has no type for.
    pub fn delivered(&mut self, _batch: PendingBatch, left_out: usize) {
        self.note_left_out(left_out as u64);
    }

    /// The collector refused the batch for good (a 4xx other than 408 and 429): drop and
    /// count what was still to go; the drops it reported are reported again in the next
    /// batch.
    pub fn rejected(&mut self, batch: PendingBatch, left_out: usize) {
        let refused = batch.remaining().saturating_sub(left_out) as u64;
        self.unreported_drops += batch.dropped_reported;
        self.counters.rejected += refused;
        self.drop_events(refused);
        self.note_left_out(left_out as u64);
    }

    /// Not delivered this time: the batch goes back to the front, as the same bytes (and
    /// how far it got), so the next attempt (here, or from the host's spool) is idempotent.
    pub fn failed(&mut self, batch: PendingBatch) {
        self.counters.failed += batch.remaining() as u64;
        self.unsent_events += batch.events;
        self.unsent.push_front(batch);
    }

    /// Events delivered: by a flush, or through `delivery.deliver` (from the host's spool).
    pub fn note_sent(&mut self, n: u64) {
        self.counters.sent += n;
    }

    /// Events the wire format has no type for.
    pub fn note_left_out(&mut self, n: u64) {
        self.counters.left_out += n;
    }

    /// Events the host dropped for its own reasons (its spool's bounds): counted here, so the
    /// next batch reports them.
    pub fn note_dropped(&mut self, n: u64) {
        self.drop_events(n);
    }

    fn drop_events(&mut self, n: u64) {
        self.counters.dropped += n;
        self.unreported_drops += n;
    }
}

/// Milliseconds since the Unix epoch; a clock before 1970 reads as 0.
fn unix_millis(t: SystemTime) -> u64 {
    let millis = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    u64::try_from(millis).unwrap_or(u64::MAX)
}

/// RFC 3339 with milliseconds (`.000` once coarsened), clamped to the last instant that
/// format can write: a clock past the year 9999 must not make the component trap.
fn timestamp(unix_ms: u64) -> String {
    const LAST_WRITABLE_MS: u64 = 253_402_300_799_000;
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(unix_ms.min(LAST_WRITABLE_MS));
    humantime::format_rfc3339_millis(t).to_string()
}

fn random_bytes<const N: usize>(entropy: &mut impl Entropy) -> [u8; N] {
    let mut buf = [0; N];
    entropy.fill(&mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::agent::telemetry::recorder as wit;

    struct Counter(u8);

    impl Entropy for Counter {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
        }
    }

    fn pipeline(extra: &[(&str, &str)]) -> Pipeline {
        let mut pairs = vec![
            ("enabled", "true"),
            ("endpoint", "http://127.0.0.1:9/v1/batch"),
        ];
        pairs.extend_from_slice(extra);
        Pipeline::new(Settings::from_pairs(pairs), &mut Counter(0))
    }

    fn server_started() -> wit::Event {
        wit::Event::Server(wit::Server {
            state: wit::ServerState::Started,
            uptime_ms: None,
            sessions_processed: None,
        })
    }

    fn decode(batch: &PendingBatch) -> wire::Batch {
        serde_json::from_slice(&batch.body).unwrap()
    }

    #[test]
    fn disabled_records_nothing_and_makes_no_id() {
        let mut p = Pipeline::new(
            Settings::from_pairs([("enabled", "false")]),
            &mut Counter(0),
        );
        p.record(&server_started(), SystemTime::now(), &mut Counter(0));
        assert_eq!(p.queued(), 0);
        assert_eq!(p.counters(), Counters::default());
        assert!(p.envelope.installation_id.is_empty());
        assert!(p.take_batch(SystemTime::now(), &mut Counter(0)).is_none());
    }

    #[test]
    fn without_a_stored_id_the_installation_is_ephemeral() {
        let p = pipeline(&[]);
        assert!(p.envelope.installation_id.starts_with("ephemeral_"));
        assert_eq!(p.envelope.installation_id.len(), "ephemeral_".len() + 16);
        let p = pipeline(&[("installation-id", "install_0123456789abcdef")]);
        assert_eq!(p.envelope.installation_id, "install_0123456789abcdef");
    }

    #[test]
    fn a_full_queue_drops_counts_and_reports_in_the_next_batch() {
        let mut p = pipeline(&[("queue-max-events", "3"), ("batch-max-events", "10")]);
        for _ in 0..5 {
            p.record(&server_started(), SystemTime::now(), &mut Counter(0));
        }
        assert_eq!(p.queued(), 3);
        assert_eq!(p.counters().dropped, 2);
        let batch = p.take_batch(SystemTime::now(), &mut Counter(0)).unwrap();
        let decoded = decode(&batch);
        assert_eq!((decoded.events.len(), decoded.dropped_events), (3, 2));
        p.note_sent(batch.len() as u64);
        p.delivered(batch, 0);
        p.record(&server_started(), SystemTime::now(), &mut Counter(0));
        let next = decode(&p.take_batch(SystemTime::now(), &mut Counter(0)).unwrap());
        assert_eq!(next.dropped_events, 0, "a drop is reported once");
    }

    #[test]
    fn a_failed_batch_goes_back_as_the_same_bytes() {
        let mut p = pipeline(&[("batch-max-events", "2")]);
        let mut entropy = Counter(7);
        for _ in 0..3 {
            p.record(&server_started(), SystemTime::now(), &mut entropy);
        }
        let first = p.take_batch(SystemTime::now(), &mut entropy).unwrap();
        let body = first.body.clone();
        let ids: Vec<String> = decode(&first)
            .events
            .into_iter()
            .map(|e| e.event_id)
            .collect();
        assert_ne!(ids[0], ids[1], "distinct events have distinct ids");
        p.failed(first);
        assert_eq!((p.queued(), p.counters().failed), (3, 2));
        let again = p.take_batch(SystemTime::now(), &mut entropy).unwrap();
        assert_eq!(
            again.body, body,
            "redelivery sends the same batch, so it is idempotent"
        );
    }

    #[test]
    fn undelivered_events_leave_as_whole_batches_failed_ones_first() {
        let mut p = pipeline(&[("batch-max-events", "2"), ("queue-max-events", "4")]);
        let mut entropy = Counter(1);
        for _ in 0..3 {
            p.record(&server_started(), SystemTime::now(), &mut entropy);
        }
        let failed = p.take_batch(SystemTime::now(), &mut entropy).unwrap();
        let failed_body = failed.body.clone();
        p.failed(failed);
        // The failed batch still takes room in the queue's bound.
        p.record(&server_started(), SystemTime::now(), &mut entropy);
        p.record(&server_started(), SystemTime::now(), &mut entropy);
        assert_eq!((p.queued(), p.counters().dropped), (4, 1));
        let batches = p.take_undelivered(SystemTime::now(), &mut entropy);
        let bodies: Vec<&Vec<u8>> = batches.iter().map(|b| &b.body).collect();
        assert_eq!(bodies.len(), 2);
        assert_eq!(*bodies[0], failed_body);
        let events: usize = bodies
            .iter()
            .map(|b| {
                serde_json::from_slice::<wire::Batch>(b)
                    .unwrap()
                    .events
                    .len()
            })
            .sum();
        assert_eq!((events, p.queued()), (4, 0));
    }

    #[test]
    fn batches_stop_at_the_byte_bound_and_splice_exactly() {
        let mut p = pipeline(&[("batch-max-bytes", "2048"), ("batch-max-events", "1000")]);
        let mut entropy = Counter(3);
        for _ in 0..40 {
            p.record(&server_started(), SystemTime::now(), &mut entropy);
        }
        let mut total = 0;
        while let Some(batch) = p.take_batch(SystemTime::now(), &mut entropy) {
            assert!(batch.body.len() <= 2048, "{} bytes", batch.body.len());
            let decoded = decode(&batch);
            assert_eq!(decoded.events.len(), batch.len());
            // Spliced bytes are exactly what serializing the whole batch gives.
            assert_eq!(serde_json::to_vec(&decoded).unwrap(), batch.body);
            total += batch.len();
        }
        assert_eq!(total, 40);
    }

    #[test]
    fn a_rejected_batch_is_dropped_and_counted_and_host_drops_are_reported() {
        let mut p = pipeline(&[]);
        p.record(&server_started(), SystemTime::now(), &mut Counter(0));
        let batch = p.take_batch(SystemTime::now(), &mut Counter(0)).unwrap();
        p.rejected(batch, 0);
        assert_eq!(
            (p.queued(), p.counters().dropped, p.counters().rejected),
            (0, 1, 1)
        );
        p.note_dropped(5);
        p.record(&server_started(), SystemTime::now(), &mut Counter(0));
        let next = decode(&p.take_batch(SystemTime::now(), &mut Counter(0)).unwrap());
        assert_eq!(next.dropped_events, 6);
    }

    #[test]
    fn batches_are_valid_native_json() {
        let mut p = pipeline(&[("product", "my-tool"), ("source", "/home/alice/bin")]);
        p.record(&server_started(), SystemTime::now(), &mut Counter(0));
        let batch = decode(&p.take_batch(SystemTime::now(), &mut Counter(0)).unwrap());
        assert_eq!(
            (batch.schema.as_str(), batch.schema_version),
            (wire::SCHEMA, wire::SCHEMA_VERSION)
        );
        let event = &batch.events[0];
        assert_eq!(event.product, "my-tool");
        assert!(
            event.source.starts_with("other:"),
            "envelope values obey the identifier rule too"
        );
    }
}
