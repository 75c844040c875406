//! Ingest over HTTP through 1, 2 and 4 collectors at once, into one SQLite file and into one
//! PostgreSQL database, side by side: eight native bodies of 1,000 new events each posted at
//! once, body `i` to collector `i mod n`, each collector checking and storing what it takes
//! (one transaction a body) as `collect` does. The collectors run in this process, each with
//! its own store and so its own connection to the database: what several `collect` processes
//! behind one address do, less the process boundary.
//!
//! SQLite takes one writer at a time whatever the number of collectors (they wait on its
//! lock); PostgreSQL takes one per connection. The PostgreSQL server is a throwaway cluster
//! (tests/tools/postgres.sh) on a Unix socket, or the one `AGENT_TELEMETRY_TEST_POSTGRES`
//! names, on the same two cores as the collectors and the senders.
//!
//! Run: `cargo bench -p agent-telemetry-bench --bench collectors`

use std::net::SocketAddr;
use std::sync::Arc;

use agent_telemetry_collector::{Collector, EventStore};
use agent_telemetry_guest::encode::native;
use agent_telemetry_test_support::postgres::Postgres;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

#[path = "common/generate.rs"]
mod generate;
use generate::Lcg;

/// Events a body.
const EVENTS: u64 = 1_000;
/// Bodies posted at once, an iteration.
const BODIES: u64 = 8;
/// Enough events that the bench never runs out of new ones.
const TOTAL: u64 = 100_000_000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = Postgres::start();
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("collectors");
    g.sample_size(10)
        .throughput(Throughput::Elements(BODIES * EVENTS));
    let mut rng = Lcg(11);
    let mut next = 0;
    let mut make = move || -> Vec<Arc<Vec<u8>>> {
        (0..BODIES)
            .map(|_| {
                let batch = generate::from_one_installation(generate::batch(
                    next,
                    next + EVENTS,
                    TOTAL,
                    &mut rng,
                ));
                next += EVENTS;
                Arc::new(native::encode(&batch).unwrap())
            })
            .collect()
    };
    for kind in ["sqlite", "postgres"] {
        for n in [1usize, 2, 4] {
            let location = match kind {
                "sqlite" => dir
                    .path()
                    .join(format!("collectors-{n}.sqlite3"))
                    .to_str()
                    .unwrap()
                    .to_string(),
                _ => server.database(&format!("collectors_{n}")),
            };
            let collectors: Vec<Collector> = (0..n)
                .map(|_| {
                    let store = EventStore::open_location(&location).unwrap();
                    rt.block_on(Collector::start("127.0.0.1:0".parse().unwrap(), store))
                        .unwrap()
                })
                .collect();
            let addrs: Vec<SocketAddr> = collectors.iter().map(Collector::addr).collect();
            g.bench_function(format!("{kind}-{n}-collectors"), |b| {
                b.iter_batched(
                    &mut make,
                    |bodies| {
                        rt.block_on(async {
                            let posts: Vec<_> = bodies
                                .into_iter()
                                .enumerate()
                                .map(|(i, body)| {
                                    let to = addrs[i % addrs.len()];
                                    tokio::spawn(async move {
                                        let (status, text) = agent_telemetry_test_support::post(
                                            to,
                                            "/v1/batch",
                                            &body,
                                        )
                                        .await;
                                        assert_eq!(status, 200, "{text}");
                                    })
                                })
                                .collect();
                            for p in posts {
                                p.await.unwrap();
                            }
                        })
                    },
                    BatchSize::PerIteration,
                )
            });
            for collector in collectors {
                rt.block_on(collector.stop());
            }
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
