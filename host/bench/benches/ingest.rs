//! The collector's ingest, per format, side by side: a body checked, turned into rows and
//! stored in one transaction, in a SQLite file in WAL mode (what `collect --db` does for every
//! request, less HTTP). The bodies are the component's own encoders' output for generated
//! events, new ones for every iteration (the same ones again would only be counted as
//! duplicates).
//!
//! The events' times follow the order they arrive in, a few seconds apart at most, as a live
//! collector sees them: each batch holds what a component queued in the seconds before it
//! sent. `native-...-spread-over-a-day` is the worst case beside it: every batch's events at
//! random times of one day (batches held back for hours and sent out of order), so every
//! insert lands on a random page of the time-ordered indexes.
//!
//! `read/...` is the check alone, without the store.
//!
//! Run: `cargo bench -p agent-telemetry-bench --bench ingest`

use agent_telemetry_collector::{EventStore, Format, ingest};
use agent_telemetry_guest::config::{OtlpNames, OtlpProtocol};
use agent_telemetry_guest::encode::{docker, native, otlp, swarm};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

#[path = "common/generate.rs"]
mod generate;
use generate::Lcg;
use std::time::{Duration, UNIX_EPOCH};

/// Events per native, OTLP or docker-agent body (the component's default batch is 100; the
/// report bench stores 1,000 a body).
const EVENTS: u64 = 1_000;
/// Enough events that the bench never runs out of new ones.
const TOTAL: u64 = 100_000_000;

/// The bodies one batch of generated events makes in `format`, with their content type.
fn bodies(format: &str, batch: &agent_telemetry::wire::Batch) -> Vec<(Vec<u8>, &'static str)> {
    let encoded = match format {
        "native" => return vec![(native::encode(batch).unwrap(), "application/json")],
        "otlp-protobuf" => otlp::encode(batch, OtlpProtocol::Protobuf, OtlpNames::Current),
        "otlp-json" => otlp::encode(batch, OtlpProtocol::Json, OtlpNames::Current),
        "docker" => docker::encode(batch, None),
        _ => swarm::encode(
            batch,
            &swarm::Context {
                properties: &[],
                transport: "http",
            },
        ),
    }
    .unwrap();
    let content_type = encoded.content_type;
    encoded
        .requests
        .into_iter()
        .map(|r| (r.body, content_type))
        .collect()
}

/// Gives events `from..` of `batch` times in arrival order: 10 ms apart, each up to two
/// seconds early (clocks and queues differ between installations).
fn in_arrival_order(batch: &mut agent_telemetry::wire::Batch, from: u64, rng: &mut Lcg) {
    for (i, event) in (from..).zip(&mut batch.events) {
        let ms = generate::START * 1000 + i * 10 + 2_000 - rng.next(2_000);
        event.occurred_at =
            humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string();
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("ingest");
    g.sample_size(20);
    for (name, format, arrival) in [
        ("native", Format::Native, true),
        ("native", Format::Native, false),
        ("otlp-protobuf", Format::Otlp, true),
        ("otlp-json", Format::Otlp, true),
        ("docker", Format::Docker, true),
        ("swarm", Format::Swarm, true),
    ] {
        let label = if arrival {
            format!("{name}-{EVENTS}-events")
        } else {
            format!("{name}-{EVENTS}-events-spread-over-a-day")
        };
        let store = EventStore::open(Some(&dir.path().join(format!("{label}.sqlite3")))).unwrap();
        let mut rng = Lcg(7);
        let mut next = 0;
        let mut make = || {
            // One installation's events, as a component sends them.
            let mut batch = generate::from_one_installation(generate::batch(
                next,
                next + EVENTS,
                TOTAL,
                &mut rng,
            ));
            if arrival {
                in_arrival_order(&mut batch, next, &mut rng);
            }
            next += EVENTS;
            bodies(name, &batch)
        };
        // Events the format carries of each batch (docker-agent and Agent Swarm leave some out).
        let carried: usize = make()
            .iter()
            .map(|(body, ct)| ingest::parse(format, body, ct).unwrap().facts.len())
            .sum();
        g.throughput(Throughput::Elements(carried as u64));
        g.bench_function(label, |b| {
            b.iter_batched(
                &mut make,
                |bodies| {
                    // One transaction per body, as the collector does per request.
                    for (body, content_type) in &bodies {
                        let received = ingest::parse(format, body, content_type).unwrap();
                        store.store(format, &received).unwrap();
                    }
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();

    // The read alone (no store): what the event catalogue's reading costs the collector (and
    // the component, which reads each spooled batch before it sends it).
    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(EVENTS));
    let mut rng = Lcg(7);
    let mut next = 0;
    let mut make = || {
        let batch =
            generate::from_one_installation(generate::batch(next, next + EVENTS, TOTAL, &mut rng));
        next += EVENTS;
        bodies("native", &batch)
    };
    g.bench_function(format!("native-{EVENTS}-events"), |b| {
        b.iter_batched(
            &mut make,
            |bodies| {
                for (body, content_type) in &bodies {
                    ingest::parse(Format::Native, body, content_type).unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
