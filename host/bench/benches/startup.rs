//! Start-up, measured side by side in one run:
//! - `component/compile`: compiling the embedded telemetry component with cranelift, what every
//!   process paid before the code cache (and what a cold cache still pays, once);
//! - `component/load-cached`: loading it from a warm code cache (read, checksum,
//!   deserialize) and linking it: what a process paid before the code compiled at build time,
//!   and what it pays when that code does not fit the machine;
//! - `component/load-built-in`: loading the code compiled with the library (deserialize from
//!   the binary, link): what a process pays now, on a first run too;
//! - `instance/on-demand` and `instance/pooling`: a fresh instance of the linked component,
//!   with wasmtime's default allocator and with its pooling allocator (with `--features
//!   pooling`: the feature would otherwise change wasmtime's build for the whole workspace's
//!   tests, and the library does not use it);
//! - `telemetry/start-until-first-event`: `Telemetry::start_with` until the component holds
//!   the first event recorded (a status call answered after it), with a loaded runtime.
//!
//! Whole-process figures (`run` of a hello-world agent against stock `wasmtime run`) are
//! measured with hyperfine; BENCHMARKS.md has both, with the commands.
//!
//! Run: `cargo bench -p agent-telemetry-bench --bench startup --features pooling`

use std::sync::Arc;
use std::time::Duration;

use agent_telemetry::event::{Event, Server, ServerState};
use agent_telemetry::testing::{self, CodeCache, EgressPolicy, Lookup};
use agent_telemetry::{Consent, TELEMETRY_COMPONENT, Telemetry, TelemetrySettings, shared_engine};
use criterion::{Criterion, criterion_group, criterion_main};
use wasmtime::component::Component;
#[cfg(feature = "pooling")]
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

const ENDPOINT: &str = "http://127.0.0.1:9/v1/batch";

fn policy() -> EgressPolicy {
    testing::egress_policy(ENDPOINT).unwrap()
}

fn config_vars() -> Vec<(String, String)> {
    [("enabled", "true"), ("endpoint", ENDPOINT)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(feature = "pooling")]
/// An engine like the shared one, with instances from the pooling allocator, sized for the
/// telemetry component (its memory cap is 64 MiB).
fn pooling_engine() -> Engine {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(16)
        .total_core_instances(64)
        .total_memories(64)
        .total_tables(64)
        .max_memory_size(64 << 20);
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).unwrap()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = shared_engine().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = CodeCache::new(cache_dir.path().join("code"), cache_dir.path().join("key"));

    let mut group = c.benchmark_group("component");
    group.sample_size(10);
    group.bench_function("compile", |b| {
        b.iter(|| Component::new(&engine, TELEMETRY_COMPONENT).unwrap())
    });
    let (_, first) = testing::load_runtime(&engine, TELEMETRY_COMPONENT, Some(&cache)).unwrap();
    assert_eq!(first, Lookup::Miss);
    group.bench_function("load-cached", |b| {
        b.iter(|| {
            let (runtime, lookup) =
                testing::load_runtime(&engine, TELEMETRY_COMPONENT, Some(&cache)).unwrap();
            assert_eq!(lookup, Lookup::Hit);
            runtime
        })
    });
    // What a run does first: the code compiled with the library, carried in its binary.
    group.bench_function("load-built-in", |b| {
        b.iter(|| testing::load_built_in(&engine).expect("code compiled with the library"))
    });
    group.finish();

    let mut group = c.benchmark_group("instance");
    let on_demand = testing::load_runtime(&engine, TELEMETRY_COMPONENT, Some(&cache))
        .unwrap()
        .0;
    #[allow(unused_mut)]
    let mut allocators = vec![("on-demand", &on_demand)];
    #[cfg(feature = "pooling")]
    let pooling = testing::load_runtime(&pooling_engine(), TELEMETRY_COMPONENT, Some(&cache))
        .unwrap()
        .0;
    #[cfg(feature = "pooling")]
    allocators.push(("pooling", &pooling));
    for (name, runtime) in allocators {
        group.bench_function(name, |b| {
            b.iter(|| {
                rt.block_on(testing::instantiate(runtime, config_vars(), policy()))
                    .unwrap()
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("telemetry");
    let runtime = Arc::new(on_demand);
    let event = Event::Server(Server {
        state: ServerState::Started,
        uptime_ms: None,
        sessions_processed: None,
    });
    group.bench_function("start-until-first-event", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let settings = TelemetrySettings::new("bench", "0.0.0")
                    .endpoint(ENDPOINT)
                    .consent(Consent::explicit(true, "benchmark"));
                let start = std::time::Instant::now();
                let telemetry = rt
                    .block_on(Telemetry::start_with(runtime.clone(), settings))
                    .unwrap();
                telemetry.record(event.clone());
                let status = rt.block_on(telemetry.status());
                total += start.elapsed();
                assert_eq!(status.component.map(|c| c.recorded), Some(1));
                rt.block_on(telemetry.shutdown(Duration::ZERO));
            }
            total
        })
    });
    group.finish();
}

criterion_group! {
    name = startup;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(startup);
