//! The collector's report over a million stored events: `Report::build` (every section, the
//! whole time range and the last week of it) and the page's and the text's rendering.
//!
//! The database is generated once, through the collector's own ingest path, into
//! `target/bench-data` (about a minute), and reused while its generator and layout are the
//! same. Run: `cargo bench -p agent-telemetry-bench --bench report`

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use agent_telemetry::wire::{self, Data, Event, Outcome, SCHEMA_VERSION, SessionTotals, TaskState};
use agent_telemetry_collector::EventStore;
use agent_telemetry_collector::report::{self, Range, Report};
use agent_telemetry_test_support::target_dir;
use criterion::{Criterion, criterion_group, criterion_main};

const EVENTS: u64 = 1_000_000;
const BATCH: u64 = 1_000;
const DAYS: u64 = 90;
/// Bumped when the generated data or the store's layout changes, so that an old file is not
/// reused.
const GENERATOR: u32 = 2;

const TOOLS: [&str; 12] = [
    "read_file",
    "write_file",
    "shell",
    "search",
    "edit",
    "list_dir",
    "fetch",
    "grep",
    "git",
    "test",
    "build",
    "think",
];
const MODELS: [&str; 5] = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet",
    "claude-haiku",
    "gemini-pro",
];
const COMMANDS: [&str; 4] = ["run", "exec", "new", "eval"];
const VERSIONS: [&str; 6] = ["1.0.0", "1.1.0", "1.2.0", "1.2.1", "1.3.0", "2.0.0"];

/// A small deterministic generator: the same database every time.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn event(i: u64, rng: &mut Lcg, start: u64) -> Event {
    let day = i * DAYS / EVENTS;
    let at = start + day * 86_400 + rng.next(86_400);
    let installation = rng.next(2_000);
    // Newer versions spread over the days.
    let version = VERSIONS[((day * VERSIONS.len() as u64 / DAYS) + rng.next(2)).min(5) as usize];
    let session = format!("session_{:024x}", i / 40);
    let ok = |rng: &mut Lcg, per_mille: u64| {
        if rng.next(1000) < per_mille {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    };
    let data = match rng.next(100) {
        0..40 => {
            let tool = rng.next(TOOLS.len() as u64) as usize;
            Data::ToolCall {
                tool: TOOLS[tool].into(),
                session_id: Some(session),
                agent: None,
                duration_ms: 5 + rng.next(50 * (tool as u64 + 1)),
                outcome: ok(rng, 900 + tool as u64 * 8),
                error: None,
            }
        }
        40..65 => Data::TokenUsage {
            model: MODELS[rng.next(MODELS.len() as u64) as usize].into(),
            session_id: Some(session),
            agent: None,
            input_tokens: 500 + rng.next(5000),
            output_tokens: 100 + rng.next(1000),
            cached_tokens: 0,
            reasoning_tokens: 0,
            cost_usd: Some(rng.next(1000) as f64 / 10_000.0),
        },
        65..75 => Data::Command {
            action: COMMANDS[rng.next(COMMANDS.len() as u64) as usize].into(),
            outcome: ok(rng, 970),
            error: None,
            arg_count: 1,
            flags: vec![],
        },
        75..80 => Data::SessionStart {
            session_id: session,
            agent: None,
            task_id: None,
        },
        80..85 => Data::SessionEnd {
            session_id: session,
            agent: None,
            task_id: None,
            outcome: ok(rng, 930),
            error: None,
            tasks_processed: None,
            totals: SessionTotals {
                duration_ms: Some(1_000 + rng.next(600_000)),
                cost_usd: rng.next(10_000) as f64 / 1000.0,
                ..SessionTotals::default()
            },
        },
        _ => Data::Task {
            task_id: format!("task_{:024x}", i),
            state: [
                TaskState::Created,
                TaskState::Started,
                TaskState::Completed,
                TaskState::Failed,
            ][rng.next(4) as usize],
            previous_state: None,
            agent: None,
            source: None,
            tags: vec![],
            has_parent: false,
            priority: None,
            duration_ms: None,
        },
    };
    Event {
        event_id: format!("0190{i:028x}"),
        occurred_at: humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_secs(at))
            .to_string(),
        schema_version: SCHEMA_VERSION,
        source: "bench".into(),
        environment: "production".into(),
        installation_id: format!("install_{installation:016x}"),
        product: "agent".into(),
        product_version: version.into(),
        os: "linux".into(),
        arch: "x86_64".into(),
        ci: false,
        tags: Default::default(),
        data,
    }
}

/// The million-event database, generated if it is not there yet; and the time of its last day.
fn database() -> (EventStore, u64) {
    let dir = target_dir().join("bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("report-{EVENTS}-g{GENERATOR}.sqlite3"));
    // A fixed start, so that the file is the same whenever it is made.
    let start = 1_767_225_600; // 2026-01-01
    let end = start + DAYS * 86_400;
    let done = dir.join(format!("report-{EVENTS}-g{GENERATOR}.done"));
    if !done.exists() {
        let _ = std::fs::remove_file(&path);
        let store = EventStore::open(Some(&path)).unwrap();
        let mut rng = Lcg(42);
        for b in 0..EVENTS / BATCH {
            let events = (b * BATCH..(b + 1) * BATCH)
                .map(|i| event(i, &mut rng, start))
                .collect();
            let batch = wire::Batch {
                schema: wire::SCHEMA.into(),
                schema_version: SCHEMA_VERSION,
                batch_id: format!("batch-{b}"),
                sent_at: String::new(),
                dropped_events: 0,
                events,
            };
            store.ingest(&batch).unwrap();
        }
        drop(store);
        std::fs::write(&done, "").unwrap();
    }
    (EventStore::open(Some(&path)).unwrap(), end)
}

fn bench(c: &mut Criterion) {
    let (store, end) = database();
    assert_eq!(store.counts().unwrap().events, EVENTS);
    let week = Range {
        since: Some(((end - 7 * 86_400) * 1000) as i64),
        until: None,
    };
    let mut g = c.benchmark_group("report");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("build-1m-events", |b| {
        b.iter(|| Report::build(&store, Range::default()).unwrap())
    });
    g.bench_function("build-1m-events-last-7-days", |b| {
        b.iter(|| Report::build(&store, week).unwrap())
    });
    let full = Report::build(&store, Range::default()).unwrap();
    assert_eq!(full.events, EVENTS);
    g.bench_function("render-text", |b| b.iter(|| report::text::render(&full)));
    g.bench_function("render-html", |b| b.iter(|| report::html::render(&full)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
