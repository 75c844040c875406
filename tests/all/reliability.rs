//! The fault-injection suite: the real component in the real host against a collector on
//! 127.0.0.1 that fails in one way per case. For each case it counts what was recorded,
//! delivered while the program ran, left in the spool at exit, refused, delivered by the next
//! run, duplicated and lost, and how long the program waited at exit; it asserts that nothing
//! within the spool's quota is lost and that the wait stays within the flush deadline, and it
//! prints the table docs/reliability.md shows:
//!
//! ```sh
//! cargo test -p agent-telemetry-cli --test all reliability -- --nocapture
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support;
use crate::support::faulty::{Fault, FaultyCollector};
use crate::support::temp_dir;
use agent_telemetry::event::{Event, Outcome, ToolCall};
use agent_telemetry::{SPOOL_DIR, Spool, SpoolLimits};
use agent_telemetry::{Telemetry, TelemetryRuntime, TelemetrySettings};

/// What a program gives telemetry at exit.
const DEADLINE: Duration = Duration::from_millis(2000);
/// Scheduling slack on a busy 2-core machine on top of the deadline.
const SLACK: Duration = Duration::from_millis(400);
/// Events each case records: three batches of 20, 20 and 10.
const EVENTS: usize = 50;

fn events(run: &str, n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            Event::ToolCall(ToolCall {
                tool: format!("tool-{run}-{}", i % 7),
                session_id: Some(format!("session-{run}")),
                agent: None,
                duration_ms: i as u64,
                outcome: Outcome::Success,
                error: None,
            })
        })
        .collect()
}

fn settings(collector: &FaultyCollector, home: &Path) -> TelemetrySettings {
    let mut s = support::settings(&collector.url(), home);
    s.batch_max_events = 20;
    s.show_notice = false;
    s
}

/// Waits until no process of this test holds a claim in the spool (a worker may still be in
/// a request the deadline cut short for the caller; it puts the batch back when it ends).
async fn spool_settled(home: &Path) {
    let dir = home.join(SPOOL_DIR);
    for _ in 0..200 {
        let claimed = std::fs::read_dir(&dir).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    e.path()
                        .extension()
                        .is_some_and(|x| x == "sending" || x == "sending-batches")
                })
                .count()
        });
        if claimed == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a spool claim was never released");
}

#[derive(Debug, Default)]
struct Row {
    case: &'static str,
    recorded: u64,
    delivered_in_run: u64,
    spooled_at_exit: u64,
    refused: u64,
    evicted: u64,
    delivered_next_run: u64,
    duplicates: u64,
    lost: u64,
    wait: Duration,
    requests_in_run: usize,
}

/// One case: record, exit within the deadline, then a next run with the collector healthy.
async fn case(
    runtime: &Arc<TelemetryRuntime>,
    name: &'static str,
    fault: Fault,
    limits: SpoolLimits,
) -> Row {
    let collector = FaultyCollector::start().await;
    let home = temp_dir("fault");
    if fault == Fault::Refuse {
        collector.go_down().await;
    } else {
        collector.set(fault);
    }
    let mut s = settings(&collector, &home);
    s.spool_limits = limits;
    let telemetry = Telemetry::start_with(runtime.clone(), s.clone())
        .await
        .unwrap();
    telemetry.record_many(events(name, EVENTS));
    let started = Instant::now();
    telemetry.shutdown(DEADLINE).await;
    let wait = started.elapsed();
    let status = telemetry.status().await;
    let requests_in_run = collector.requests();
    let delivered_in_run = collector.store().counts().unwrap().events;
    spool_settled(&home).await;
    let spooled_at_exit = Spool::new(home.join(SPOOL_DIR), limits).pending_events();

    // The next run, with the collector well again. The first run's worker may still be in a
    // request the deadline cut short for its caller; a batch it holds comes back to the spool
    // when that ends, so the next run keeps flushing until the spool is empty.
    collector.come_back().await;
    let next = Telemetry::start_with(runtime.clone(), s).await.unwrap();
    let spool = Spool::new(home.join(SPOOL_DIR), limits);
    for _ in 0..40 {
        next.flush(Duration::from_secs(2)).await;
        if spool.pending_events() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    next.shutdown(Duration::from_secs(2)).await;
    let counts = collector.store().counts().unwrap();
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);

    let refused = status.refused_from_spool;
    let evicted = status.dropped_from_spool;
    Row {
        case: name,
        recorded: EVENTS as u64,
        delivered_in_run,
        spooled_at_exit,
        refused,
        evicted,
        delivered_next_run: counts.events - delivered_in_run,
        duplicates: counts.duplicates,
        lost: (EVENTS as u64).saturating_sub(counts.events + refused + evicted),
        wait,
        requests_in_run,
    }
}

/// Records a first part, goes down, records a second part, comes back, records a third;
/// returns the row and what waited in the spool while the collector was down.
async fn down_mid_run_and_back(runtime: &Arc<TelemetryRuntime>) -> (Row, u64) {
    let collector = FaultyCollector::start().await;
    let home = temp_dir("fault-midrun");
    let s = settings(&collector, &home);
    let telemetry = Telemetry::start_with(runtime.clone(), s.clone())
        .await
        .unwrap();
    telemetry.record_many(events("before", 20));
    telemetry.flush(DEADLINE).await;
    collector.go_down().await;
    telemetry.record_many(events("during", 20));
    telemetry.flush(DEADLINE).await;
    let spool = Spool::new(home.join(SPOOL_DIR), SpoolLimits::default());
    let spooled_while_down = spool.pending_events();
    collector.come_back().await;
    telemetry.record_many(events("after", 10));
    let started = Instant::now();
    telemetry.shutdown(DEADLINE).await;
    let wait = started.elapsed();
    let delivered_in_run = collector.store().counts().unwrap().events;
    let requests_in_run = collector.requests();
    spool_settled(&home).await;
    let spooled_at_exit = spool.pending_events();
    let next = Telemetry::start_with(runtime.clone(), s).await.unwrap();
    next.flush(Duration::from_secs(5)).await;
    next.shutdown(Duration::from_secs(2)).await;
    let counts = collector.store().counts().unwrap();
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
    let row = Row {
        case: "goes down mid-run, comes back",
        recorded: 50,
        delivered_in_run,
        spooled_at_exit,
        refused: 0,
        evicted: 0,
        delivered_next_run: counts.events - delivered_in_run,
        duplicates: counts.duplicates,
        lost: 50u64.saturating_sub(counts.events),
        wait,
        requests_in_run,
    };
    (row, spooled_while_down)
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| case | recorded | delivered in run | spooled | refused (4xx) | evicted (quota) | delivered next run | duplicates | lost | wait at exit |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ms |\n",
            r.case,
            r.recorded,
            r.delivered_in_run,
            r.spooled_at_exit,
            r.refused,
            r.evicted,
            r.delivered_next_run,
            r.duplicates,
            r.lost,
            r.wait.as_millis()
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_loses_nothing_within_quota_and_never_holds_the_program_past_its_deadline() {
    let runtime = TelemetryRuntime::shared().unwrap();
    let quota = SpoolLimits::default();
    let retry_after = |code: u16, value: &str| Fault::Status {
        code,
        retry_after: Some(value.to_string()),
    };
    let mut rows = vec![
        case(&runtime, "healthy", Fault::None, quota).await,
        case(&runtime, "refuses connections", Fault::Refuse, quota).await,
        case(&runtime, "accepts, never answers", Fault::Hang, quota).await,
        case(&runtime, "resets mid-body", Fault::ResetMidBody, quota).await,
        case(
            &runtime,
            "500, then 200",
            Fault::Sequence(vec![Fault::status(500), Fault::None]),
            quota,
        )
        .await,
        case(
            &runtime,
            "503 + Retry-After: 1, then 200",
            Fault::Sequence(vec![retry_after(503, "1"), Fault::None]),
            quota,
        )
        .await,
        case(
            &runtime,
            "429 + Retry-After: 120",
            retry_after(429, "120"),
            quota,
        )
        .await,
        case(&runtime, "400", Fault::status(400), quota).await,
        case(&runtime, "answers garbage", Fault::Garbage, quota).await,
        case(
            &runtime,
            "reads the body very slowly",
            Fault::SlowRead {
                bytes_per_sec: 1000,
            },
            quota,
        )
        .await,
    ];
    let (midrun, spooled_while_down) = down_mid_run_and_back(&runtime).await;
    rows.push(midrun);
    // A spool with room for about two of the three batches (about 5 KB each, the envelope
    // written once per batch): the oldest goes, counted.
    let small = SpoolLimits {
        max_bytes: 9 * 1024,
        ..quota
    };
    rows.push(
        case(
            &runtime,
            "refuses connections, spool over quota",
            Fault::Refuse,
            small,
        )
        .await,
    );
    println!("\n{}", table(&rows));

    for r in &rows {
        assert_eq!(r.lost, 0, "{}: events lost: {r:?}", r.case);
        assert!(
            r.wait <= DEADLINE + SLACK,
            "{}: waited {:?}",
            r.case,
            r.wait
        );
    }
    let row = |name: &str| rows.iter().find(|r| r.case == name).unwrap();
    let healthy = row("healthy");
    assert_eq!((healthy.delivered_in_run, healthy.spooled_at_exit), (50, 0));
    for name in [
        "refuses connections",
        "accepts, never answers",
        "resets mid-body",
        "answers garbage",
        "reads the body very slowly",
    ] {
        let r = row(name);
        assert_eq!(r.delivered_in_run + r.spooled_at_exit, 50, "{name}: {r:?}");
        assert_eq!(
            r.delivered_in_run + r.delivered_next_run,
            50,
            "{name}: everything arrives by the next run: {r:?}"
        );
    }
    for name in ["500, then 200", "503 + Retry-After: 1, then 200"] {
        let r = row(name);
        assert_eq!(
            (r.delivered_in_run, r.spooled_at_exit),
            (50, 0),
            "{name}: retried within the deadline: {r:?}"
        );
    }
    let honoured = row("429 + Retry-After: 120");
    assert_eq!(
        honoured.requests_in_run, 1,
        "Retry-After is honoured: no second request in this run"
    );
    assert_eq!(honoured.delivered_next_run, 50);
    let refused = row("400");
    assert_eq!(
        (
            refused.refused,
            refused.spooled_at_exit,
            refused.delivered_next_run
        ),
        (50, 0, 0),
        "a 400 drops and counts: {refused:?}"
    );
    let midrun = row("goes down mid-run, comes back");
    assert_eq!(
        spooled_while_down, 20,
        "what was recorded while down waited on disk"
    );
    assert_eq!(
        (midrun.delivered_in_run, midrun.spooled_at_exit),
        (50, 0),
        "once it is back, the run's final flush delivers everything: {midrun:?}"
    );
    let over = row("refuses connections, spool over quota");
    assert!(over.evicted > 0, "the quota evicts and counts: {over:?}");
    assert_eq!(over.delivered_next_run + over.evicted, 50, "{over:?}");
    // Redelivery is idempotent: the same ids, deduplicated by the collector, counted here.
    for r in &rows {
        assert!(
            r.delivered_in_run + r.delivered_next_run + r.refused + r.evicted == 50,
            "{r:?}"
        );
    }
}

/// A crash between a 2xx and removing the batch from the spool means it is sent again: the
/// same bytes, the same event ids, so the collector stores each event once and counts the rest
/// as duplicates.
#[tokio::test]
async fn a_batch_sent_twice_is_stored_once_and_the_duplicates_are_counted() {
    let runtime = TelemetryRuntime::shared().unwrap();
    let collector = FaultyCollector::start().await;
    let home = temp_dir("redeliver");
    collector.go_down().await;
    let telemetry = Telemetry::start_with(runtime.clone(), settings(&collector, &home))
        .await
        .unwrap();
    telemetry.record_many(events("twice", 20));
    telemetry.shutdown(Duration::from_millis(300)).await;
    spool_settled(&home).await;
    // Keep a copy of the spooled batch, as a crash after the 2xx would leave it.
    let spool_dir = home.join(SPOOL_DIR);
    let files: Vec<_> = std::fs::read_dir(&spool_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect();
    assert_eq!(files.len(), 1, "one batch of 20 in the spool");

    collector.come_back().await;
    let next = Telemetry::start_with(runtime.clone(), settings(&collector, &home))
        .await
        .unwrap();
    next.flush(Duration::from_secs(3)).await;
    let (path, body) = &files[0];
    std::fs::write(path, body).unwrap();
    next.flush(Duration::from_secs(3)).await;
    let sent = next.status().await.component.map(|c| c.sent);
    assert_eq!(
        sent,
        Some(40),
        "the component counts every 2xx, spooled or not"
    );
    next.shutdown(Duration::from_secs(1)).await;
    let counts = collector.store().counts().unwrap();
    assert_eq!(
        (counts.events, counts.duplicates, counts.batches),
        (20, 20, 2)
    );
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// The batches one flush moves to the spool are written to one file under one `fsync`, and
/// sent one request each; when a send fails halfway, what is left of the file goes back in
/// its place and is sent next, with nothing sent twice.
#[tokio::test]
async fn batches_spooled_together_share_one_file_and_a_failure_halfway_keeps_the_rest() {
    let runtime = TelemetryRuntime::shared().unwrap();
    let collector = FaultyCollector::start().await;
    let home = temp_dir("spooled-together");
    collector.go_down().await;
    let telemetry = Telemetry::start_with(runtime.clone(), settings(&collector, &home))
        .await
        .unwrap();
    telemetry.record_many(events("together", 100));
    telemetry.shutdown(Duration::from_millis(300)).await;
    spool_settled(&home).await;
    let names: Vec<String> = std::fs::read_dir(home.join(SPOOL_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "five batches of 20, one file: {names:?}");
    assert!(names[0].ends_with("-100e.batches"), "{names:?}");

    // Two batches go, the third gets a 503, the rest go after the retry.
    collector.come_back().await;
    collector.set(Fault::Sequence(vec![
        Fault::None,
        Fault::None,
        Fault::status(503),
        Fault::None,
    ]));
    let next = Telemetry::start_with(runtime.clone(), settings(&collector, &home))
        .await
        .unwrap();
    let report = next.flush(Duration::from_secs(10)).await;
    assert_eq!((report.sent, report.pending), (100, 0));
    next.shutdown(Duration::from_secs(1)).await;
    let counts = collector.store().counts().unwrap();
    assert_eq!(
        (counts.events, counts.duplicates, counts.batches),
        (100, 0, 5),
        "each batch stored once"
    );
    assert_eq!(collector.requests(), 6, "five batches and the one 503");
    assert_eq!(
        Spool::new(home.join(SPOOL_DIR), SpoolLimits::default()).pending_events(),
        0
    );
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// Batches go out on one kept-alive connection, not one each; a collector that closes it
/// (it restarted) costs a new connection and no batch.
#[tokio::test]
async fn batches_share_one_kept_alive_connection_and_a_closed_one_is_replaced() {
    let runtime = TelemetryRuntime::shared().unwrap();
    let collector = FaultyCollector::start().await;
    let home = temp_dir("keep-alive");
    let telemetry = Telemetry::start_with(runtime.clone(), settings(&collector, &home))
        .await
        .unwrap();
    for round in 0..5 {
        telemetry.record_many(events(&format!("kept{round}"), 10));
        let report = telemetry.flush(Duration::from_secs(5)).await;
        assert_eq!((report.sent, report.pending), (10, 0), "round {round}");
    }
    assert_eq!(
        (collector.requests(), collector.connections()),
        (5, 1),
        "five batches, one connection"
    );

    // The collector restarts: the kept connection is closed under the sender.
    collector.go_down().await;
    collector.come_back().await;
    for round in 0..2 {
        telemetry.record_many(events(&format!("again{round}"), 10));
        let report = telemetry.flush(Duration::from_secs(5)).await;
        assert_eq!((report.sent, report.pending), (10, 0), "after the restart");
    }
    assert_eq!((collector.requests(), collector.connections()), (7, 2));
    telemetry.shutdown(Duration::from_secs(1)).await;
    assert_eq!(collector.store().counts().unwrap().events, 70);
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// A full batch waits for the burst to pause, then goes without anyone flushing; a burst larger
/// than the component's queue is sent as it comes, so that none of it is dropped.
#[tokio::test]
async fn full_batches_go_when_the_burst_pauses_and_a_burst_never_overflows_the_queue() {
    let runtime = TelemetryRuntime::shared().unwrap();
    let collector = FaultyCollector::start().await;
    let home = temp_dir("linger");
    let mut s = settings(&collector, &home);
    s.batch_max_events = 100;
    s.flush_interval = Duration::from_secs(3600);
    // Room for one call's worth (4,096) and a little more: a burst must be sent as it comes.
    s.queue_max_events = 5_000;
    let telemetry = Telemetry::start_with(runtime.clone(), s).await.unwrap();

    // No flush is asked for, and the timer is an hour away: the pause sends them.
    telemetry.record_many(events("paused", 250));
    assert_eq!(
        support::events_in(collector.store(), 250, Duration::from_secs(10)).await,
        250
    );

    // Four times the queue, as fast as the caller can hand it over.
    for round in 0..40 {
        telemetry.record_many(events(&format!("burst{round}"), 500));
    }
    let report = telemetry.flush(Duration::from_secs(30)).await;
    assert_eq!(report.pending, 0, "{report:?}");

    // A full batch waiting for the pause, then one call that would not fit beside it in the
    // queue: the batch goes first.
    telemetry.record_many(events("before", 500));
    telemetry.status().await;
    telemetry.record_many(events("large", 4_600));
    let report = telemetry.flush(Duration::from_secs(30)).await;
    assert_eq!(report.pending, 0, "{report:?}");

    let status = telemetry.status().await;
    let component = status.component.expect("the component runs");
    assert_eq!(
        (component.dropped, component.sent),
        (0, 25_350),
        "{component:?}"
    );
    telemetry.shutdown(Duration::from_secs(1)).await;
    assert_eq!(collector.store().counts().unwrap().events, 25_350);
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// 32 programs' worth of telemetry in one process, all with one identity directory: one
/// spool, one ledger. The collector is down while they record and exit, then comes back;
/// every event arrives exactly once and every ledger line is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_stores_share_one_spool_and_one_ledger_without_loss_or_corruption() {
    const STORES: usize = 32;
    const EACH: usize = 25;
    let runtime = TelemetryRuntime::shared().unwrap();
    let collector = FaultyCollector::start().await;
    let home = temp_dir("many");
    // Half of them deliver (and write the ledger) at once; the rest meet a dead collector.
    let mut handles = Vec::new();
    for i in 0..STORES {
        let telemetry = Telemetry::start_with(runtime.clone(), settings(&collector, &home))
            .await
            .unwrap();
        handles.push((i, telemetry));
    }
    let record = |half: usize| {
        let handles = &handles;
        async move {
            let mut tasks = tokio::task::JoinSet::new();
            for (i, telemetry) in handles.iter().filter(|(i, _)| i % 2 == half) {
                let telemetry = telemetry.clone();
                let name = format!("store{i}");
                tasks.spawn(async move {
                    telemetry.record_many(events(&name, EACH));
                    telemetry.shutdown(DEADLINE).await
                });
            }
            tasks.join_all().await
        }
    };
    record(0).await;
    collector.go_down().await;
    record(1).await;
    spool_settled(&home).await;
    let spooled = Spool::new(home.join(SPOOL_DIR), SpoolLimits::default()).pending_events();
    assert_eq!(
        spooled as usize,
        STORES / 2 * EACH,
        "the dead half is all in the spool"
    );

    collector.come_back().await;
    let next = Telemetry::start_with(runtime.clone(), settings(&collector, &home))
        .await
        .unwrap();
    next.flush(Duration::from_secs(10)).await;
    next.shutdown(Duration::from_secs(2)).await;
    let counts = collector.store().counts().unwrap();
    assert_eq!(counts.events as usize, STORES * EACH, "every event arrived");
    assert_eq!(counts.duplicates, 0, "and only once");

    let (entries, unreadable) =
        agent_telemetry::ledger::read(&home.join(agent_telemetry::ledger::LEDGER_FILE)).unwrap();
    assert_eq!(unreadable, 0, "no ledger line is torn or interleaved");
    let ledgered: u64 = entries
        .iter()
        .filter(|e| e.status == Some(200))
        .filter_map(|e| e.events)
        .sum();
    assert_eq!(
        ledgered as usize,
        STORES * EACH,
        "the ledger accounts for every delivered event"
    );
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// `run --background-flush`: the CLI returns within its deadline while the collector is down,
/// and a detached `agent-telemetry flush` delivers the spool once it is back.
#[tokio::test]
async fn a_background_flush_delivers_after_the_cli_has_returned() {
    let collector = FaultyCollector::start().await;
    let home = temp_dir("background");
    collector.go_down().await;
    let fixture = support::wasm("fixture-every-event");
    let (code, _, stderr, elapsed) = support::run_cli(
        &[
            "run",
            "--endpoint",
            &collector.url(),
            "--flush-deadline-ms",
            "500",
            "--background-flush",
            fixture.to_str().unwrap(),
        ],
        &[
            ("AGENT_TELEMETRY_HOME", home.to_str().unwrap()),
            ("AGENT_TELEMETRY_NO_NOTICE", "1"),
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    // The fixture's own flush (3 s) and the exit flush (0.5 s) bound the run, not the spool.
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
    assert_eq!(collector.store().counts().unwrap().events, 0);
    collector.come_back().await;
    let arrived = support::events_in(collector.store(), 22, Duration::from_secs(20)).await;
    assert_eq!(arrived, 22, "the background flush delivered the spool");
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// The worker is busy in a delivery of its own (a full batch, to a collector that never
/// answers) when the program records more and shuts down: the delivery gives way, the
/// shutdown returns within its deadline, and every event is in the spool for the next run.
#[tokio::test]
async fn shutdown_preempts_a_background_delivery_and_loses_nothing() {
    let runtime = TelemetryRuntime::shared().unwrap();
    let collector = FaultyCollector::start().await;
    let home = temp_dir("preempt");
    collector.set(Fault::Hang);
    let telemetry = Telemetry::start_with(runtime.clone(), settings(&collector, &home))
        .await
        .unwrap();
    telemetry.record_many(events("full", 20));
    // Let the worker start sending the full batch (it will wait up to the 5 s timeout).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        collector.requests() >= 1,
        "the background delivery is under way"
    );
    telemetry.record_many(events("late", 7));
    let started = Instant::now();
    telemetry.shutdown(Duration::from_secs(1)).await;
    let waited = started.elapsed();
    assert!(
        waited <= Duration::from_secs(1) + SLACK,
        "waited {waited:?}"
    );
    // Checked the moment shutdown returns: a process would exit right here.
    let spooled = Spool::new(home.join(SPOOL_DIR), SpoolLimits::default()).pending_events();
    assert_eq!(
        spooled, 27,
        "the batch in flight and the late events are all spooled"
    );
    spool_settled(&home).await;
    let status = telemetry.status().await;
    assert_eq!(status.dropped_before_component, 0, "{status:?}");

    collector.come_back().await;
    let next = Telemetry::start_with(runtime.clone(), settings(&collector, &home))
        .await
        .unwrap();
    next.flush(Duration::from_secs(5)).await;
    next.shutdown(Duration::from_secs(2)).await;
    assert_eq!(collector.store().counts().unwrap().events, 27);
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
}

/// The spool does not read batches; the component does, once, when it sends one. A file cut
/// short is set aside as `.bad` and never sent, a batch of another schema version is left for
/// a build that reads it, and the whole batch beside them is delivered.
#[tokio::test]
async fn a_torn_spool_file_is_set_aside_and_another_version_left_alone() {
    let runtime = TelemetryRuntime::shared().unwrap();
    let collector = FaultyCollector::start().await;
    let home = support::identity_dir("spool-files");
    let dir = home.join(SPOOL_DIR);
    let whole = serde_json::to_vec(&support::batch(3)).unwrap();
    let spool = Spool::new(dir.clone(), SpoolLimits::default());
    agent_telemetry::testing::write_to_spool(&spool, &whole, 3).unwrap();
    // Named as the spool names its files, and older, so they are tried first.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        - 1_000_000;
    let torn = format!("{nanos:024}-aaaaaa-3e");
    let newer = format!("{:024}-bbbbbb-0e", nanos + 1);
    std::fs::write(dir.join(format!("{torn}.batch")), &whole[..whole.len() / 2]).unwrap();
    let newer_body = br#"{"schema":"agent-telemetry/batch","schema_version":99,"events":[]}"#;
    std::fs::write(dir.join(format!("{newer}.batch")), newer_body).unwrap();

    let telemetry = Telemetry::start_with(runtime, settings(&collector, &home))
        .await
        .unwrap();
    telemetry.flush(Duration::from_secs(5)).await;
    let status = telemetry.status().await;
    telemetry.shutdown(Duration::from_secs(1)).await;

    assert_eq!(collector.store().counts().unwrap().events, 3);
    assert_eq!(
        collector.requests(),
        1,
        "neither the torn file nor the newer batch was sent"
    );
    assert_eq!(status.bad_spool_files, 1);
    assert!(dir.join(format!("{torn}.bad")).exists());
    assert!(
        dir.join(format!("{newer}.batch")).exists(),
        "left for a build that reads it"
    );
    collector.stop().await;
    let _ = std::fs::remove_dir_all(&home);
}
