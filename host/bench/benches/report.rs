//! The collector's report over a million and ten million stored events, in SQLite and in
//! PostgreSQL side by side: `Report::build` (every section, the whole time range, the last
//! week of it, and that week from 13:37 on its first day) and the page's and the text's
//! rendering.
//!
//! Each database is generated once, through the collector's own ingest path, into
//! `target/bench-data` (SQLite files; a PostgreSQL cluster kept there, started by
//! tests/tools/postgres.sh and stopped when the bench ends, or the server
//! `AGENT_TELEMETRY_TEST_POSTGRES` names), and reused while its generator and layout are the
//! same: the first run takes several minutes. Run:
//! `cargo bench -p agent-telemetry-bench --bench report`

use std::path::PathBuf;
use std::time::Duration;

use agent_telemetry_collector::EventStore;
use agent_telemetry_collector::report::{self, Range, Report};
use agent_telemetry_test_support::postgres::Postgres;
use agent_telemetry_test_support::target_dir;
use criterion::{Criterion, criterion_group, criterion_main};

#[path = "common/generate.rs"]
mod generate;
use generate::{DAYS, Lcg, START};

const BATCH: u64 = 1_000;
/// Bumped when the generated data or the store's layout changes, so that an old file is not
/// reused.
const GENERATOR: u32 = 2;

/// Stores `events` generated events into `store`.
fn generate(store: &EventStore, events: u64) {
    let mut rng = Lcg(42);
    for b in 0..events / BATCH {
        let batch = generate::batch(b * BATCH, (b + 1) * BATCH, events, &mut rng);
        store.ingest(&batch).unwrap();
    }
}

/// The SQLite database of `events` generated events, made if it is not there yet.
fn sqlite(events: u64) -> EventStore {
    let dir = target_dir().join("bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("report-{events}-g{GENERATOR}.sqlite3"));
    let done = dir.join(format!("report-{events}-g{GENERATOR}.done"));
    if !done.exists() {
        let _ = std::fs::remove_file(&path);
        generate(&EventStore::open(Some(&path)).unwrap(), events);
        std::fs::write(&done, "").unwrap();
    }
    EventStore::open(Some(&path)).unwrap()
}

/// The PostgreSQL database of `events` generated events in `server`, made if it is not there
/// yet (a second database, empty, marks it whole).
fn postgres(server: &Postgres, events: u64) -> EventStore {
    let name = format!("report_{events}_g{GENERATOR}");
    let done = format!("{name}_done");
    if !server.exists(&done) {
        // Not whole: made again from nothing.
        server.execute(&format!("DROP DATABASE IF EXISTS {name}"));
        server.execute(&format!("CREATE DATABASE {name}"));
        let store = EventStore::connect(&server.url_of(&name)).unwrap();
        generate(&store, events);
        // The planner's statistics and the visibility map, as autovacuum leaves them.
        drop(store);
        let mut client = postgres::Client::connect(&server.url_of(&name), postgres::NoTls).unwrap();
        client.batch_execute("VACUUM ANALYZE").unwrap();
        server.execute(&format!("CREATE DATABASE {done}"));
    }
    EventStore::connect(&server.url_of(&name)).unwrap()
}

fn bench(c: &mut Criterion) {
    let server = Postgres::kept(&target_dir().join("bench-data").join("postgres"));
    let end = START + DAYS * 86_400;
    let week = Range {
        since: Some(((end - 7 * 86_400) * 1000) as i64),
        until: None,
    };
    // The same week from 13:37 on its first day: the day tables for its whole days, the
    // events for the two days it cuts.
    let cut_week = Range {
        since: week.since.map(|s| s + 49_020_000),
        until: None,
    };
    let mut g = c.benchmark_group("report");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    for (events, label) in [(1_000_000u64, "1m"), (10_000_000, "10m")] {
        for (kind, store) in [
            ("sqlite", sqlite(events)),
            ("postgres", postgres(&server, events)),
        ] {
            assert_eq!(store.counts().unwrap().events, events);
            g.bench_function(format!("build-{label}-events-{kind}"), |b| {
                b.iter(|| Report::build(&store, Range::default()).unwrap())
            });
            g.bench_function(format!("build-{label}-events-last-7-days-{kind}"), |b| {
                b.iter(|| Report::build(&store, week).unwrap())
            });
            g.bench_function(
                format!("build-{label}-events-last-7-days-cut-{kind}"),
                |b| b.iter(|| Report::build(&store, cut_week).unwrap()),
            );
        }
    }
    let full = Report::build(&sqlite(1_000_000), Range::default()).unwrap();
    g.bench_function("render-text", |b| b.iter(|| report::text::render(&full)));
    g.bench_function("render-html", |b| b.iter(|| report::html::render(&full)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
