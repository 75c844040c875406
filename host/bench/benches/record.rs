//! Cost per event of `record`, measured side by side in one run:
//! - `native-baseline`: the component's own validation + anonymization + queue code
//!   (`agent_telemetry_guest::pipeline`), compiled natively and called directly;
//! - `component/native-api-*`: the same code inside the sandboxed component, reached through
//!   the host's native API (hand-off to the worker, `record-many` into the component);
//! - `peer/opentelemetry-batch-log-processor`: the same tool call emitted as a log record
//!   through the OpenTelemetry Rust SDK's `BatchLogProcessor` (a real peer library);
//! - `component/agent-import`: a wasm agent calling its `recorder.record` import per event
//!   (`-many-100-a-call`: `record-many` with 100 events a call), timed until the component
//!   has queued them all, and (`-agent-time`) the agent's own run;
//! - `delivery/*`: recording and delivering 100 events to the local collector, batched (ours)
//!   against one HTTP request per event (what the seed systems do);
//! - `spool/*`: ten batches of 100 events moved to the spool together (one file, one `fsync`)
//!   against one file and one `fsync` each (how every batch was spooled before).
//!
//! Run: `cargo bench -p agent-telemetry-bench --bench record`

use std::time::{Duration, Instant, SystemTime};

use agent_telemetry::agent::{AgentOptions, run_agent_component};
use agent_telemetry::event::{Event, Outcome, ToolCall};
use agent_telemetry::{Telemetry, TelemetryRuntime, testing};
use agent_telemetry_collector::{Collector, EventStore};
use agent_telemetry_guest::bindings::exports::agent::telemetry::recorder as guest;
use agent_telemetry_guest::config::Settings;
use agent_telemetry_guest::pipeline::{Entropy, Pipeline};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchConfigBuilder, BatchLogProcessor, LogBatch, LogExporter, SdkLoggerProvider,
};
use wasmtime::component::Component;

/// Events per measured iteration (below the batch size, so no send happens while timed).
const N: u64 = 500;
/// Events per agent run (instantiation is measured separately and subtracted in BENCHMARKS.md).
const AGENT_N: u64 = 10_000;

/// The OpenTelemetry peer's exporter: takes every batch, keeps nothing.
#[derive(Debug)]
struct Discard;

impl LogExporter for Discard {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        std::hint::black_box(batch.iter().count());
        Ok(())
    }
}

struct XorShift(u64);

impl Entropy for XorShift {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = self.0 as u8;
        }
    }
}

/// A native batch of 100 events of one installation, as the component spools one.
fn spooled_batch() -> Vec<u8> {
    let mut rng = generate::Lcg(7);
    let batch = generate::from_one_installation(generate::batch(0, 100, 1_000, &mut rng));
    agent_telemetry_guest::encode::native::encode(&batch).unwrap()
}

fn host_event() -> Event {
    Event::ToolCall(ToolCall {
        tool: "read_file".into(),
        session_id: Some("session-42".into()),
        agent: Some("planner".into()),
        duration_ms: 12,
        outcome: Outcome::Success,
        error: None,
    })
}

fn guest_event() -> guest::Event {
    guest::Event::ToolCall(guest::ToolCall {
        tool: "read_file".into(),
        session_id: Some("session-42".into()),
        agent: Some("planner".into()),
        duration_ms: 12,
        outcome: guest::Outcome::Success,
        error: None,
    })
}

#[path = "common/settings.rs"]
mod common_settings;
#[path = "common/generate.rs"]
mod generate;
use common_settings::settings;

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let runtime = TelemetryRuntime::shared().unwrap();
    // The collector stores in a file, as `collect --db` does. An in-memory SQLite database
    // would be the wrong anchor: its page cache is the whole database, and SQLite walks all
    // of it at every commit, so each batch would cost more than the last (perf showed that
    // walk, `pcache1TruncateUnsafe`, at a quarter of the delivery bench).
    let db = tempfile::tempdir().unwrap();
    let collector = rt
        .block_on(Collector::start(
            "127.0.0.1:0".parse().unwrap(),
            EventStore::open(Some(&db.path().join("collector.sqlite3"))).unwrap(),
        ))
        .unwrap();
    let big_batches = rt
        .block_on(Telemetry::start_with(
            runtime.clone(),
            settings(collector.endpoint(), 1_000),
        ))
        .unwrap();

    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(N));

    group.bench_function("native-baseline", |b| {
        let config = Settings::from_pairs([
            ("enabled", "true"),
            ("endpoint", "http://127.0.0.1:9/"),
            ("batch-max-events", "1000"),
            ("queue-max-events", "50000"),
        ]);
        let mut entropy = XorShift(0x9e3779b97f4a7c15);
        let mut pipeline = Pipeline::new(config, &mut entropy);
        let event = guest_event();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for _ in 0..N {
                    pipeline.record(&event, SystemTime::now(), &mut entropy);
                }
                total += start.elapsed();
                while let Some(batch) = pipeline.take_batch(SystemTime::now(), &mut entropy) {
                    pipeline.delivered(batch, 0);
                }
            }
            total
        });
    });

    // Timed: handing N events over and the component having queued them (a status call
    // travels behind them, so its answer means they are in). Untimed: sending them.
    let component_rounds = |iters: u64, record: &dyn Fn()| {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            record();
            rt.block_on(big_batches.status());
            total += start.elapsed();
            rt.block_on(big_batches.flush(Duration::from_secs(30)));
        }
        total
    };
    group.bench_function("component/native-api-record", |b| {
        b.iter_custom(|iters| {
            component_rounds(iters, &|| {
                for _ in 0..N {
                    big_batches.record(host_event());
                }
            })
        })
    });
    group.bench_function("component/native-api-record-many", |b| {
        b.iter_custom(|iters| {
            component_rounds(iters, &|| {
                big_batches.record_many(vec![host_event(); N as usize])
            })
        })
    });
    group.bench_function("peer/opentelemetry-batch-log-processor", |b| {
        // A real peer: the OpenTelemetry Rust SDK's logger with its BatchLogProcessor (a
        // bounded channel to an export thread), emitting the same tool call as a log record
        // with the same attributes, unanonymized. Its exporter takes the batches and drops
        // them, so only the enqueue is measured, as for the component.
        let provider = SdkLoggerProvider::builder()
            .with_log_processor(
                BatchLogProcessor::builder(Discard)
                    .with_batch_config(
                        BatchConfigBuilder::default()
                            .with_max_queue_size(N as usize * 4)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let logger = provider.logger("bench");
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for _ in 0..N {
                    let mut record = logger.create_log_record();
                    record.set_event_name("agent_telemetry.tool_call");
                    record.set_timestamp(SystemTime::now());
                    record.set_severity_number(Severity::Info);
                    record.add_attribute("gen_ai.tool.name", "read_file");
                    record.add_attribute("gen_ai.conversation.id", "session-42");
                    record.add_attribute("gen_ai.agent.name", "planner");
                    record.add_attribute("agent_telemetry.duration_ms", 12);
                    record.add_attribute("agent_telemetry.outcome", "success");
                    logger.emit(record);
                }
                total += start.elapsed();
                // Untimed: the export thread empties the queue.
                provider.force_flush().unwrap();
            }
            total
        });
        provider.shutdown().unwrap();
    });
    group.finish();

    let every_event =
        std::fs::read(agent_telemetry_test_support::wasm("fixture-every-event")).unwrap();
    let agent = Component::new(runtime.engine(), &every_event).unwrap();
    let mut group = c.benchmark_group("agent");
    group.sample_size(10);
    // `record` per event, then `record-many` with 100 events a call.
    for (repeat, many) in [(0, None), (AGENT_N, None), (AGENT_N, Some(100))] {
        group.throughput(Throughput::Elements(repeat.max(1)));
        let mut args = vec!["--repeat".to_string(), repeat.to_string()];
        let mut import = "agent-import".to_string();
        if let Some(k) = many {
            args.extend(["--many".to_string(), k.to_string()]);
            import = format!("agent-import-many-{k}-a-call");
        }
        let options = AgentOptions {
            args,
            capture_output: true,
            ..AgentOptions::default()
        };
        // Timed: the agent's own run (`-agent-time`), or until the component has taken every
        // event as well. Untimed: the rest, and sending.
        for (suffix, until_queued) in [("-agent-time", false), ("", true)] {
            group.bench_function(format!("component/{import}-{repeat}-events{suffix}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let run =
                            run_agent_component(runtime.engine(), &big_batches, &agent, &options);
                        let exit = rt.block_on(run).unwrap();
                        if until_queued {
                            rt.block_on(big_batches.status());
                        }
                        total += start.elapsed();
                        assert_eq!(exit.code, 0);
                        rt.block_on(big_batches.status());
                        rt.block_on(big_batches.flush(Duration::from_secs(30)));
                    }
                    total
                })
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("delivery");
    group.sample_size(10);
    let spool_home =
        std::env::temp_dir().join(format!("agent-telemetry-bench-{}", std::process::id()));
    for (name, batch, spool, per_flush) in [
        ("batched-100-per-request", 100, false, 100),
        ("one-request-per-event", 1, false, 100),
        // The default for any program with an identity directory: each batch is written to
        // the spool, sent from there, and removed after the 2xx.
        ("batched-100-per-request-through-the-spool", 100, true, 100),
        // Ten batches a flush (a burst, or a collector that was away): moved to the spool
        // together, under one `fsync`.
        ("batched-1000-a-flush-through-the-spool", 100, true, 1000),
    ] {
        let mut settings = settings(collector.endpoint(), batch);
        if spool {
            settings.identity_dir = Some(spool_home.clone());
            settings.show_notice = false;
        }
        let telemetry = rt
            .block_on(Telemetry::start_with(runtime.clone(), settings))
            .unwrap();
        group.throughput(Throughput::Elements(per_flush));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    telemetry.record_many(vec![host_event(); per_flush as usize]);
                    let report = rt.block_on(telemetry.flush(Duration::from_secs(30)));
                    assert_eq!(report.pending, 0);
                }
                start.elapsed()
            })
        });
        rt.block_on(telemetry.shutdown(Duration::from_secs(5)));
    }
    group.finish();

    // Ten batches as the component makes them (native, 100 events each), into a spool in the
    // same temporary directory the delivery bench uses; emptied after each round, untimed.
    let mut group = c.benchmark_group("spool");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1000));
    let body = spooled_batch();
    let batches: Vec<(&[u8], u64)> = (0..10).map(|_| (body.as_slice(), 100)).collect();
    let spool = agent_telemetry::Spool::new(
        spool_home.join("spool-bench"),
        agent_telemetry::SpoolLimits::default(),
    );
    for together in [false, true] {
        let name = if together {
            "ten-batches-one-file"
        } else {
            "ten-batches-one-file-each"
        };
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    if together {
                        testing::write_all_to_spool(&spool, &batches).unwrap();
                    } else {
                        for (body, events) in &batches {
                            testing::write_to_spool(&spool, body, *events).unwrap();
                        }
                    }
                    total += start.elapsed();
                    assert_eq!(spool.discard_all(), 1000);
                }
                total
            })
        });
    }
    group.finish();
    rt.block_on(big_batches.shutdown(Duration::from_secs(5)));
    rt.block_on(collector.stop());
    let _ = std::fs::remove_dir_all(&spool_home);
}

criterion_group! {
    name = record;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(record);
