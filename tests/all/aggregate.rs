//! Counts-only mode (`mode = aggregate`): the real component checks each event, the host folds
//! it into counters kept in the identity directory, and one upload a day reaches the real
//! collector. A week of events arrives as seven uploads whose totals are those of the same
//! events sent one by one; a crash after the counters were written loses nothing; no upload
//! carries an event id, a session id or a time finer than its day; `log` shows each upload.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use agent_telemetry::event::Event;
use agent_telemetry::settings::Mode;
use agent_telemetry::{Clock, Telemetry, TelemetrySettings};
use agent_telemetry_collector::Collector;
use agent_telemetry_collector::report::{Range, Report};

use crate::support::*;

/// Monday 2026-11-02, 09:00 UTC, in seconds.
const MONDAY_9AM: u64 = 1_793_610_000;
const DAY: u64 = 86_400;

/// A clock the test moves by hand.
fn clock() -> (Clock, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(MONDAY_9AM));
    let read = now.clone();
    let clock =
        Clock::from_fn(move || UNIX_EPOCH + Duration::from_secs(read.load(Ordering::SeqCst)));
    (clock, now)
}

/// What day `d` of the week records: commands, tool calls of several tools, outcomes and
/// durations, token use of two models (with and without a cost), and a session, more of them
/// as the week goes on.
fn day_events(d: u64) -> Vec<Event> {
    use agent_telemetry::event::{
        Command, Outcome, SessionEnd, SessionStart, TokenUsage, ToolCall,
    };
    let session = format!("session-{d}");
    let mut events = vec![Event::SessionStart(SessionStart {
        session_id: session.clone(),
        ..Default::default()
    })];
    for i in 0..=d {
        events.push(Event::Command(Command {
            action: if i % 2 == 0 { "run" } else { "build" }.to_string(),
            outcome: Outcome::Success,
            ..Default::default()
        }));
        events.push(Event::ToolCall(ToolCall {
            tool: ["read_file", "shell", "search"][(i % 3) as usize].to_string(),
            session_id: Some(session.clone()),
            duration_ms: 40 + 700 * i + 13 * d,
            outcome: if i % 4 == 3 {
                Outcome::Failure
            } else {
                Outcome::Success
            },
            ..Default::default()
        }));
        events.push(Event::TokenUsage(TokenUsage {
            model: if i % 2 == 0 {
                "gpt-4o"
            } else {
                "claude-sonnet-4"
            }
            .to_string(),
            session_id: Some(session.clone()),
            input_tokens: 1_000 * (i + 1) + d,
            output_tokens: 200 * (i + 1),
            cost_usd: (i % 2 == 0).then_some(0.0125 * (i + 1) as f64),
            ..Default::default()
        }));
    }
    events.push(Event::SessionEnd(SessionEnd {
        session_id: session,
        outcome: Outcome::Success,
        ..Default::default()
    }));
    events
}

fn week_settings(endpoint: &str, home: &Path, mode: Mode, clock: &Clock) -> TelemetrySettings {
    let mut s = settings(endpoint, home);
    s.mode = mode;
    s.clock = clock.clone();
    s.show_notice = false;
    s
}

/// One run on day `d` (the clock set to it): records the day's events and stops.
async fn one_day(collector: &Collector, home: &Path, mode: Mode, d: u64) {
    let (clock, now) = clock();
    now.store(MONDAY_9AM + d * DAY, Ordering::SeqCst);
    let mut s = week_settings(&collector.endpoint(), home, mode, &clock);
    if mode == Mode::Events {
        // One by one: a request per event.
        s.batch_max_events = 1;
    }
    let telemetry = Telemetry::start(s).await.unwrap();
    telemetry.record_many(day_events(d));
    let report = telemetry.shutdown(Duration::from_secs(20)).await;
    assert_eq!(report.pending, 0, "day {d}: {report:?}");
}

/// Totals by kind, subject and outcome: events, input and output tokens, cost (in
/// micro-dollars, so that sums in another order compare equal), duration.
type Totals = BTreeMap<(String, Option<String>, Option<String>), (u64, u64, u64, i64, u64)>;

fn event_totals(collector: &Collector) -> Totals {
    let mut totals = Totals::new();
    for f in collector.store().facts().unwrap() {
        let f = f.fact;
        let t = totals
            .entry((f.kind.to_string(), f.subject, f.outcome))
            .or_default();
        t.0 += 1;
        t.1 += f.input_tokens.unwrap_or(0) as u64;
        t.2 += f.output_tokens.unwrap_or(0) as u64;
        t.3 += (f.cost_usd.unwrap_or(0.0) * 1e6).round() as i64;
        t.4 += f.duration_ms.unwrap_or(0) as u64;
    }
    totals
}

fn counts_totals(report: &Report) -> Totals {
    report
        .counts
        .counters
        .iter()
        .map(|c| {
            (
                (c.kind.clone(), c.subject.clone(), c.outcome.clone()),
                (
                    c.count,
                    c.input_tokens,
                    c.output_tokens,
                    (c.cost_usd * 1e6).round() as i64,
                    c.duration_ms,
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_week_of_counts_arrives_as_seven_uploads_that_add_up_to_the_events() {
    let counts = collector().await;
    let events = collector().await;
    let (counts_home, events_home) = (temp_dir("aggregate-week"), temp_dir("events-week"));
    for d in 0..7 {
        one_day(&counts, &counts_home, Mode::Aggregate, d).await;
        one_day(&events, &events_home, Mode::Events, d).await;
    }
    // A run the next Monday sends Sunday's counts (each earlier day went with the run after it).
    one_day(&counts, &counts_home, Mode::Aggregate, 7).await;

    let report = Report::build_top(counts.store(), Range::default(), 1_000).unwrap();
    assert_eq!(report.counts.uploads, 7, "{:?}", report.counts);
    assert_eq!(report.counts.installations, 1);
    assert_eq!(
        report.events, 0,
        "counts-only mode sends no event: {report:?}"
    );
    let sent: u64 = (0..7).map(|d| day_events(d).len() as u64).sum();
    // The component adds what it computes (a session's totals): both modes alike.
    let stored_events = events.store().facts().unwrap().len() as u64;
    assert!(stored_events >= sent, "{stored_events} < {sent}");
    assert_eq!(report.counts.events, stored_events);
    assert_eq!(counts_totals(&report), event_totals(&events));

    // One upload per day, each with that day's events.
    let per_day: BTreeMap<String, u64> = counts.store().uploads().unwrap().into_iter().collect();
    let days: Vec<&str> = per_day.keys().map(String::as_str).collect();
    for (d, events) in per_day.values().enumerate() {
        assert!(*events >= day_events(d as u64).len() as u64, "{per_day:?}");
    }
    assert_eq!(
        days,
        [
            "2026-11-02",
            "2026-11-03",
            "2026-11-04",
            "2026-11-05",
            "2026-11-06",
            "2026-11-07",
            "2026-11-08"
        ]
    );

    // What left: seven uploads, in the ledger and in `log`, and nothing finer than a day.
    let (code, stdout, stderr, _) =
        run_cli(&["log", "--json", "--body"], &[home_env(&counts_home)]).await;
    assert_eq!(code, 0, "{stderr}");
    let entries: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let uploads: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["counts_of"].is_string())
        .collect();
    assert_eq!(uploads.len(), 7, "{stdout}");
    assert!(uploads.iter().all(|e| e["status"] == 200), "{uploads:?}");
    let sessions: Vec<String> = events
        .store()
        .facts()
        .unwrap()
        .into_iter()
        .filter_map(|f| f.fact.session)
        .collect();
    assert!(!sessions.is_empty());
    for upload in &uploads {
        let body = upload["body"].as_str().unwrap();
        for forbidden in [
            "event_id",
            "occurred_at",
            "session_id",
            "T09:",
            "ephemeral_",
        ] {
            assert!(!body.contains(forbidden), "{forbidden} in {body}");
        }
        assert!(
            sessions.iter().all(|s| !body.contains(s.as_str())),
            "a session id in {body}"
        );
    }
    let (code, table, _, _) = run_cli(&["log"], &[home_env(&counts_home)]).await;
    assert_eq!(code, 0);
    assert!(table.contains("(counts of 2026-11-08)"), "{table}");

    // Every output of the report shows the uploads.
    let text = agent_telemetry_collector::report::text::render(&report);
    assert!(
        text.contains(&format!(
            "Counts-only uploads: 7 uploads from 1 installation, {stored_events} events"
        )),
        "{text}"
    );
    assert!(
        agent_telemetry_collector::report::html::render(&report).contains("Counts-only uploads")
    );
    counts.stop().await;
    events.stop().await;
}

/// The process dies after the counters were written and before any upload: the next run
/// sends every count.
#[test]
fn a_crash_mid_period_loses_no_count() {
    let server = tokio::runtime::Runtime::new().unwrap();
    let collector = server.block_on(collector());
    let home = temp_dir("aggregate-crash");
    let (clock, now) = clock();
    let recorded = {
        let doomed = tokio::runtime::Runtime::new().unwrap();
        let s = week_settings(&collector.endpoint(), &home, Mode::Aggregate, &clock);
        let recorded = doomed.block_on(async {
            let telemetry = Telemetry::start(s).await.unwrap();
            let events = day_events(1);
            telemetry.record_many(events.clone());
            let report = telemetry.flush(Duration::from_secs(20)).await;
            assert_eq!(report.pending, 0, "{report:?}");
            events.len()
        });
        // No shutdown: the worker, the component and every task die with the runtime.
        doomed.shutdown_background();
        recorded
    };
    let kept = std::fs::read_to_string(home.join(agent_telemetry::COUNTS_FILE)).unwrap();
    assert!(kept.contains("2026-11-02"), "{kept}");
    now.store(MONDAY_9AM + DAY, Ordering::SeqCst);
    server.block_on(async {
        let s = week_settings(&collector.endpoint(), &home, Mode::Aggregate, &clock);
        Telemetry::start(s)
            .await
            .unwrap()
            .shutdown(Duration::from_secs(20))
            .await;
        let report = Report::build(collector.store(), Range::default()).unwrap();
        assert_eq!(report.counts.uploads, 1, "{:?}", report.counts);
        assert!(
            report.counts.events >= recorded as u64,
            "{:?}",
            report.counts
        );
        collector.stop().await;
    });
}

/// The mode is the user's to choose: `telemetry mode aggregate` is kept in the identity
/// directory and wins over a program's events; `status` says which mode runs use.
#[tokio::test]
async fn the_user_chooses_counts_only_and_the_more_private_choice_wins() {
    let home = temp_dir("mode-choice");
    let (code, stdout, stderr, _) =
        run_cli(&["telemetry", "mode", "aggregate"], &[home_env(&home)]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("telemetry mode: aggregate"), "{stdout}");
    let mut s = TelemetrySettings::new("p", "1").identity_dir(&home);
    s.user_choice_dir = None;
    s.mode = Mode::Events;
    assert_eq!(s.effective_mode(), Mode::Aggregate);
    let (_, status, _, _) = run_cli(&["telemetry", "status"], &[home_env(&home)]).await;
    assert!(status.contains("mode: aggregate"), "{status}");
    let (code, stdout, _, _) = run_cli(
        &["telemetry", "mode", "events"],
        &[home_env(&home), ("AGENT_TELEMETRY_MODE", "aggregate")],
    )
    .await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("but runs stay in aggregate mode"),
        "{stdout}"
    );
    let (code, _, stderr, _) =
        run_cli(&["telemetry", "mode", "everything"], &[home_env(&home)]).await;
    assert_ne!(code, 0, "{stderr}");
}

/// `telemetry off` in counts-only mode: the counts not yet uploaded are discarded, and the
/// collector forgets the uploads it took.
#[tokio::test]
async fn opting_out_discards_the_counts_and_the_collector_forgets_the_uploads() {
    let collector = collector().await;
    let home = temp_dir("aggregate-forget");
    one_day(&collector, &home, Mode::Aggregate, 0).await;
    one_day(&collector, &home, Mode::Aggregate, 1).await; // sends day 0, keeps day 1
    assert_eq!(collector.store().uploads().unwrap().len(), 1);
    let (code, stdout, stderr, _) = run_cli(&["telemetry", "off"], &[home_env(&home)]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("discarded the counts of") && stdout.contains("carried out by"),
        "{stdout}"
    );
    assert!(collector.store().uploads().unwrap().is_empty());
    let report = Report::build(collector.store(), Range::default()).unwrap();
    assert_eq!(report.counts.uploads, 0);
    let kept = std::fs::read_to_string(home.join(agent_telemetry::COUNTS_FILE)).unwrap();
    assert!(!kept.contains("2026-11-03"), "{kept}");
    collector.stop().await;
}

/// An endpoint that is not a collector of counts (docker-agent's path) refuses an upload for
/// good: it is dropped, not sent again every run.
#[tokio::test]
async fn an_upload_refused_for_good_is_dropped_not_sent_for_ever() {
    let collector = collector().await;
    let home = temp_dir("aggregate-refused");
    let endpoint = collector.endpoint_for(agent_telemetry_collector::Format::Docker);
    for d in 0..3 {
        let (clock, now) = clock();
        now.store(MONDAY_9AM + d * DAY, Ordering::SeqCst);
        let s = week_settings(&endpoint, &home, Mode::Aggregate, &clock);
        let telemetry = Telemetry::start(s).await.unwrap();
        telemetry.record_many(day_events(d));
        telemetry.shutdown(Duration::from_secs(20)).await;
    }
    let (code, stdout, _, _) = run_cli(&["log", "--json"], &[home_env(&home)]).await;
    assert_eq!(code, 0);
    let uploads: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["counts_of"].is_string())
        .collect();
    // Monday's and Tuesday's, once each: refused, and not sent again.
    let days: Vec<&str> = uploads
        .iter()
        .map(|e| e["counts_of"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2026-11-02", "2026-11-03"], "{uploads:?}");
    assert!(uploads.iter().all(|e| e["status"] == 400), "{uploads:?}");
    collector.stop().await;
}
