//! The collector's report over a million stored events: `Report::build` (every section, the
//! whole time range and the last week of it) and the page's and the text's rendering.
//!
//! The database is generated once, through the collector's own ingest path, into
//! `target/bench-data` (about a minute), and reused while its generator and layout are the
//! same. Run: `cargo bench -p agent-telemetry-bench --bench report`

use std::path::PathBuf;
use std::time::Duration;

use agent_telemetry_collector::EventStore;
use agent_telemetry_collector::report::{self, Range, Report};
use agent_telemetry_test_support::target_dir;
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "common/generate.rs"]
mod generate;
use generate::{DAYS, Lcg, START};

const EVENTS: u64 = 1_000_000;
const BATCH: u64 = 1_000;
/// Bumped when the generated data or the store's layout changes, so that an old file is not
/// reused.
const GENERATOR: u32 = 2;

/// The million-event database, generated if it is not there yet; and the time of its last day.
fn database() -> (EventStore, u64) {
    let dir = target_dir().join("bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("report-{EVENTS}-g{GENERATOR}.sqlite3"));
    let end = START + DAYS * 86_400;
    let done = dir.join(format!("report-{EVENTS}-g{GENERATOR}.done"));
    if !done.exists() {
        let _ = std::fs::remove_file(&path);
        let store = EventStore::open(Some(&path)).unwrap();
        let mut rng = Lcg(42);
        for b in 0..EVENTS / BATCH {
            let batch = generate::batch(b * BATCH, (b + 1) * BATCH, EVENTS, &mut rng);
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
