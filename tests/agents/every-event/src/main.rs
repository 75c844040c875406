//! An agent as a wasm component: it has no network, and reports usage through the
//! `agent:telemetry/recorder` import. It records one event of every kind (the demo's example
//! and the integration tests' fixture), prints what it did, and exits with the code given
//! by `--exit N` (default 0), so a test can see output and exit codes pass through. With
//! `READ_FILE=path` it reads that file, to show `--dir` gives it one.
//!
//! It records through the agent kit (`agent-telemetry-kit`): its session by the kit's
//! session guard, its token use by the kit's helper, the other events through the import
//! itself (their values are fixed, for the tests to check).

use agent_telemetry_kit::events::{self as r, Event};
use agent_telemetry_kit::{Session, record, record_many};

/// How many events `main` records; the tests check the collector against it.
const EVENTS: usize = 22;

fn events() -> Vec<Event> {
    let session = || Some("session-42".to_string());
    let agent = || Some("planner".to_string());
    let mut events = vec![
        Event::Server(r::Server {
            state: r::ServerState::Started,
            uptime_ms: None,
            sessions_processed: None,
        }),
        Event::AgentRegistered(r::AgentRegistered {
            agent: "planner".into(),
            role: Some("lead".into()),
            capabilities: vec!["code".into(), "review".into()],
            is_reconnect: false,
        }),
        Event::Command(r::Command {
            action: "run".into(),
            outcome: r::Outcome::Success,
            error: None,
            arg_count: 2,
            flags: vec!["--debug".into(), "--model".into()],
        }),
        Event::SessionStart(r::SessionStart {
            session_id: "session-42".into(),
            agent: agent(),
            task_id: Some("task-7".into()),
        }),
        Event::ToolCall(r::ToolCall {
            tool: "read_file".into(),
            session_id: session(),
            agent: agent(),
            duration_ms: 12,
            outcome: r::Outcome::Success,
            error: None,
        }),
        Event::ToolCall(r::ToolCall {
            tool: "shell".into(),
            session_id: session(),
            agent: agent(),
            duration_ms: 250,
            outcome: r::Outcome::Failure,
            error: Some(r::ErrorKind::PermissionDenied),
        }),
        Event::TokenUsage(r::TokenUsage {
            model: "gpt-4o".into(),
            session_id: session(),
            agent: agent(),
            input_tokens: 1200,
            output_tokens: 300,
            cached_tokens: 800,
            reasoning_tokens: 0,
            cost_usd: Some(0.0105),
        }),
        Event::SessionCost(r::SessionCost {
            session_id: "session-42".into(),
            agent: agent(),
            model: Some("gpt-4o".into()),
            cost_usd: 0.0105,
            input_tokens: 1200,
            output_tokens: 300,
            cache_read_tokens: 800,
            cache_write_tokens: 100,
            reasoning_tokens: 0,
            thinking_tokens: 20,
            turns: Some(3),
            is_error: false,
        }),
        Event::SessionFailure(r::SessionFailure {
            session_id: "session-42".into(),
            agent: agent(),
            error: r::ErrorKind::Tool,
            was_rate_limited: false,
            provider: Some("openai".into()),
        }),
        Event::SessionEnd(r::SessionEnd {
            session_id: "session-42".into(),
            agent: agent(),
            task_id: Some("task-7".into()),
            outcome: r::Outcome::Success,
            error: None,
            tasks_processed: Some(1),
        }),
    ];
    use r::TaskState::*;
    let lifecycle = [
        (Created, None),
        (Claimed, Some(Created)),
        (Started, Some(Claimed)),
        (Completed, Some(Started)),
        (Failed, Some(Started)),
        (Cancelled, Some(Created)),
    ];
    for (state, previous) in lifecycle {
        events.push(Event::Task(r::Task {
            task_id: "task-7".into(),
            state,
            previous_state: previous,
            agent: agent(),
            source: Some("api".into()),
            tags: vec!["demo".into()],
            has_parent: false,
            priority: Some(5),
            duration_ms: matches!(state, Completed | Failed | Cancelled).then_some(900),
        }));
    }
    events.push(Event::TaskSessionCompleted(r::TaskSessionCompleted {
        task_id: "task-7".into(),
        agent: agent(),
        exit_code: 0,
        is_error: false,
        duration_ms: Some(900),
        provider: Some("openai".into()),
        harness: Some("default".into()),
        model: Some("gpt-4o".into()),
    }));
    for (state, duration_ms) in [
        (r::WorkflowState::Created, None),
        (r::WorkflowState::Completed, Some(1200)),
    ] {
        events.push(Event::Workflow(r::Workflow {
            workflow_id: "nightly-review".into(),
            state,
            node_count: Some(3),
            source: Some("api".into()),
            trigger: Some("schedule".into()),
            duration_ms,
            steps_completed: duration_ms.map(|_| 3),
            steps_failed: duration_ms.map(|_| 0),
        }));
    }
    events.push(Event::Schedule(r::Schedule {
        state: r::ScheduleState::Executed,
        schedule_type: Some("recurring".into()),
        triggered_workflows: true,
        was_recovered: false,
        consecutive_errors: None,
    }));
    events.push(Event::Compaction(r::Compaction {
        session_id: session(),
        agent: agent(),
        trigger: r::CompactionTrigger::Auto,
        pre_compact_tokens: 90_000,
        context_total_tokens: 128_000,
    }));
    events.push(Event::Server(r::Server {
        uptime_ms: Some(60_000),
        sessions_processed: Some(1),
        state: r::ServerState::Shutdown,
    }));
    events
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let exit_code: u8 = flag_value(&args, "--exit").unwrap_or(0);

    let events = events();
    assert_eq!(events.len(), EVENTS);
    // `--repeat N`: record the tool-call event N more times, one `record` call each (with
    // `--many K`, `record-many` calls of K), and stop (the benchmark's agent-side hot loop).
    if let Some(n) = flag_value::<usize>(&args, "--repeat") {
        match flag_value::<usize>(&args, "--many").filter(|k| *k > 0) {
            Some(k) => {
                let calls = vec![events[4].clone(); k];
                for start in (0..n).step_by(k) {
                    record_many(&calls[..k.min(n - start)]);
                }
            }
            None => {
                for _ in 0..n {
                    record(&events[4]);
                }
            }
        }
        return;
    }
    // `--flushes N`: record the tool-call event and flush, N times in a row, as an agent that
    // would decide when each request leaves; prints how many flushes were let through.
    if let Some(n) = flag_value::<usize>(&args, "--flushes") {
        let mut through = 0;
        for _ in 0..n {
            record(&events[4]);
            let report = r::flush(2000);
            // A coalesced flush sends nothing and says when the next one will be let through.
            if report.retry_after_ms == 0 || report.sent > 0 {
                through += 1;
            }
        }
        println!("every-event: {n} flushes, {through} let through");
        return;
    }
    // The session's start, its token use and its end come from the kit; they are the same
    // events as in the list. The first event alone, the others in calls of several: both
    // import functions get exercised.
    let at = |kind: fn(&Event) -> bool| events.iter().position(kind).expect("in the list");
    let start = at(|e| matches!(e, Event::SessionStart(_)));
    let tokens = at(|e| matches!(e, Event::TokenUsage(_)));
    let end = at(|e| matches!(e, Event::SessionEnd(_)));
    record(&events[0]);
    record_many(&events[1..start]);
    let mut session = Session::builder("session-42")
        .agent("planner")
        .task("task-7")
        .start();
    record_many(&events[start + 1..tokens]);
    session
        .tokens("gpt-4o")
        .input(1200)
        .output(300)
        .cached(800)
        .cost_usd(0.0105)
        .record();
    record_many(&events[tokens + 1..end]);
    session.set_tasks_processed(1);
    session.succeed();
    record_many(&events[end + 1..]);
    let status = r::status();
    println!(
        "every-event: recorded {EVENTS} events (telemetry enabled: {})",
        status.enabled
    );
    // An agent flushes before it exits: under a stock WASI host nobody else will.
    let report = r::flush(3000);
    println!(
        "every-event: flush sent {} failed {} dropped {} pending {}",
        report.sent, report.failed, report.dropped, report.pending
    );
    if let Ok(greeting) = std::env::var("GREETING") {
        println!("every-event: GREETING={greeting}");
    }
    if let Ok(path) = std::env::var("READ_FILE") {
        match std::fs::read(&path) {
            Ok(bytes) => println!("every-event: read {} bytes from {path}", bytes.len()),
            Err(e) => println!("every-event: cannot read {path}: {e}"),
        }
    }
    if exit_code != 0 {
        eprintln!("every-event: exiting with {exit_code}");
        exit(exit_code);
    }
}

fn flag_value<T: std::str::FromStr>(args: &[String], flag: &str) -> Option<T> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1)?.parse().ok()
}

#[cfg(target_arch = "wasm32")]
fn exit(code: u8) {
    wasip2::cli::exit::exit_with_code(code);
}

#[cfg(not(target_arch = "wasm32"))]
fn exit(code: u8) {
    std::process::exit(code.into());
}
