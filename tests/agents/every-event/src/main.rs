//! An agent as a wasm component: it has no network, and reports usage through the
//! `agent:telemetry/recorder` import. It records one event of every kind (the demo's example
//! and the integration tests' fixture), prints what it did, and exits with the code given
//! by `--exit N` (default 0), so a test can see output and exit codes pass through. With
//! `READ_FILE=path` it reads that file, to show `--dir` gives it one.
//!
//! Its events are those of tests/events/every-kind.json (built in), and around them a tool
//! call that succeeds, the task's whole lifecycle, the workflow's creation and the server's
//! shutdown. It records through the agent kit (`agent-telemetry-kit`): its session by the
//! kit's session guard, its token use by the kit's helper (with the file's values, but for
//! the session's outcome: it succeeds), the other events through the import itself.

use agent_telemetry_kit::events::{self as r, Event};
use agent_telemetry_kit::{Session, record, record_many};

/// What `main` records: 22 events (the tests count on it), 14 of them the file's.
fn events() -> Vec<Event> {
    let mut events = Vec::new();
    for event in agent_telemetry_test_events::every_kind::<Event>() {
        match event {
            Event::ToolCall(call) => {
                events.push(Event::ToolCall(r::ToolCall {
                    tool: "read_file".into(),
                    duration_ms: 12,
                    outcome: r::Outcome::Success,
                    error: None,
                    ..call.clone()
                }));
                events.push(Event::ToolCall(call));
            }
            Event::Task(task) => {
                use r::TaskState::*;
                let lifecycle = [
                    (Created, None),
                    (Claimed, Some(Created)),
                    (Started, Some(Claimed)),
                    (Completed, Some(Started)),
                    (Failed, Some(Started)),
                    (Cancelled, Some(Created)),
                ];
                for (state, previous_state) in lifecycle {
                    let ended = matches!(state, Completed | Failed | Cancelled);
                    events.push(Event::Task(r::Task {
                        state,
                        previous_state,
                        duration_ms: task.duration_ms.filter(|_| ended),
                        ..task.clone()
                    }));
                }
            }
            Event::Workflow(workflow) => {
                events.push(Event::Workflow(r::Workflow {
                    state: r::WorkflowState::Created,
                    duration_ms: None,
                    steps_completed: None,
                    steps_failed: None,
                    ..workflow.clone()
                }));
                events.push(Event::Workflow(workflow));
            }
            other => events.push(other),
        }
    }
    events.push(Event::Server(r::Server {
        state: r::ServerState::Shutdown,
        uptime_ms: Some(60_000),
        sessions_processed: Some(1),
    }));
    events
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let exit_code: u8 = flag_value(&args, "--exit").unwrap_or(0);

    let events = events();
    let at = |kind: fn(&Event) -> bool| events.iter().position(kind).expect("in the list");
    let call = at(|e| matches!(e, Event::ToolCall(_)));
    // `--repeat N`: record the tool-call event N more times, one `record` call each (with
    // `--many K`, `record-many` calls of K), and stop (the benchmark's agent-side hot loop).
    if let Some(n) = flag_value::<usize>(&args, "--repeat") {
        match flag_value::<usize>(&args, "--many").filter(|k| *k > 0) {
            Some(k) => {
                let calls = vec![events[call].clone(); k];
                for start in (0..n).step_by(k) {
                    record_many(&calls[..k.min(n - start)]);
                }
            }
            None => {
                for _ in 0..n {
                    record(&events[call]);
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
            record(&events[call]);
            let report = r::flush(2000);
            // A coalesced flush sends nothing and says when the next one will be let through.
            if report.retry_after_ms == 0 || report.sent > 0 {
                through += 1;
            }
        }
        println!("every-event: {n} flushes, {through} let through");
        return;
    }
    // The session's start, its token use and its end come from the kit, in their places in
    // the list and with the list's values, but for the end's outcome: the kit's session
    // succeeds. The first event alone, the others in calls of several: both import
    // functions get exercised.
    let start = at(|e| matches!(e, Event::SessionStart(_)));
    let tokens = at(|e| matches!(e, Event::TokenUsage(_)));
    let end = at(|e| matches!(e, Event::SessionEnd(_)));
    let (Event::SessionStart(started), Event::TokenUsage(usage), Event::SessionEnd(ended)) =
        (&events[start], &events[tokens], &events[end])
    else {
        unreachable!("found by their kinds");
    };
    record(&events[0]);
    record_many(&events[1..start]);
    let mut session = Session::builder(&started.session_id);
    if let Some(agent) = &started.agent {
        session = session.agent(agent);
    }
    if let Some(task) = &started.task_id {
        session = session.task(task);
    }
    let mut session = session.start();
    record_many(&events[start + 1..tokens]);
    let model_call = session
        .tokens(&usage.model)
        .input(usage.input_tokens)
        .output(usage.output_tokens)
        .cached(usage.cached_tokens)
        .reasoning(usage.reasoning_tokens);
    match usage.cost_usd {
        Some(cost) => model_call.cost_usd(cost),
        None => model_call,
    }
    .record();
    record_many(&events[tokens + 1..end]);
    if let Some(tasks) = ended.tasks_processed {
        session.set_tasks_processed(tasks);
    }
    session.succeed();
    record_many(&events[end + 1..]);
    let status = r::status();
    println!(
        "every-event: recorded {} events (telemetry enabled: {})",
        events.len(),
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
