//! An agent built against `agent:telemetry@0.1.0` (the frozen `wit/v0.1.0`), as an agent
//! compiled before 0.2.0 shipped would be: it records one event of every 0.1.0 kind, flushes,
//! and prints what the flush and `status` said. The host must link it unchanged.

wit_bindgen::generate!({ world: "agent", path: "../../../wit/v0.1.0" });

use agent::telemetry::recorder::{self as r, Event};

fn main() {
    let session = || Some("legacy-session".to_string());
    let agent = || Some("legacy-agent".to_string());
    let events = [
        Event::Server(r::Server {
            state: r::ServerState::Started,
        }),
        Event::AgentRegistered(r::AgentRegistered {
            agent: "legacy-agent".into(),
        }),
        Event::Command(r::Command {
            action: "legacy".into(),
            outcome: r::Outcome::Failure,
            error: Some(r::ErrorKind::Timeout),
            arg_count: 1,
            flags: vec![],
        }),
        Event::SessionStart(r::SessionStart {
            session_id: "legacy-session".into(),
            agent: agent(),
            task_id: Some("legacy-task".into()),
        }),
        Event::ToolCall(r::ToolCall {
            tool: "grep".into(),
            session_id: session(),
            agent: agent(),
            duration_ms: 40,
            outcome: r::Outcome::Success,
            error: None,
        }),
        Event::TokenUsage(r::TokenUsage {
            model: "legacy-model".into(),
            session_id: session(),
            agent: agent(),
            input_tokens: 100,
            output_tokens: 20,
            cached_tokens: 10,
            reasoning_tokens: 5,
            cost_usd: Some(0.002),
        }),
        Event::SessionCost(r::SessionCost {
            session_id: "legacy-session".into(),
            agent: agent(),
            model: Some("legacy-model".into()),
            cost_usd: 0.002,
            input_tokens: 100,
            output_tokens: 20,
        }),
        Event::SessionFailure(r::SessionFailure {
            session_id: "legacy-session".into(),
            agent: agent(),
            error: r::ErrorKind::RateLimited,
        }),
        Event::SessionEnd(r::SessionEnd {
            session_id: "legacy-session".into(),
            agent: agent(),
            task_id: Some("legacy-task".into()),
            outcome: r::Outcome::Failure,
            error: Some(r::ErrorKind::Model),
        }),
        Event::Task(r::Task {
            task_id: "legacy-task".into(),
            state: r::TaskState::Completed,
            previous_state: Some(r::TaskState::Started),
            agent: agent(),
            source: Some("api".into()),
            tags: vec!["legacy".into()],
            has_parent: true,
            priority: Some(3),
            duration_ms: Some(700),
        }),
    ];
    r::record(&events[0]);
    r::record_many(&events[1..]);
    let report = r::flush(3000);
    let status = r::status();
    println!(
        "legacy-v0-1: recorded {} events; flush sent {} failed {}; status enabled {} sent {}",
        events.len(),
        report.sent,
        report.failed,
        status.enabled,
        status.sent
    );
}
