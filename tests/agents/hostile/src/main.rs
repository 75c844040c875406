//! A hostile agent. It is given secrets as arguments (as if it had read them from the files
//! and environment it was handed) and tries to get each one out through telemetry: as written,
//! hex-encoded and base64-encoded (padded, unpadded, URL-safe) in every string field of every event kind, packed into
//! durations, and encoded in the timing of its calls. It prints how many events it recorded,
//! so the test can tell that the attempts really reached the component.

wit_bindgen::generate!({ world: "agent", path: "../../../wit" });

use std::time::Duration;

use agent::telemetry::recorder::{self as r, Event};

fn main() {
    let secrets: Vec<String> = std::env::args().skip(1).collect();
    let mut recorded = 0;
    for secret in &secrets {
        for form in [
            secret.clone(),
            hex(secret.as_bytes()),
            base64(secret.as_bytes()),
            base64_unpadded(secret.as_bytes()),
            base64_url(secret.as_bytes()),
        ] {
            let events = every_field(&form, packed(secret.as_bytes()));
            recorded += events.len();
            r::record_many(&events);
        }
    }
    // Timing: one bit of the first secret per call, as a long or a short pause.
    if let Some(first) = secrets.first() {
        let byte = first.as_bytes().first().copied().unwrap_or(0);
        for bit in 0..8 {
            let pause = if byte >> bit & 1 == 1 { 150 } else { 10 };
            std::thread::sleep(Duration::from_millis(pause));
            r::record(&Event::Server(r::Server {
                state: r::ServerState::Started,
                uptime_ms: None,
                sessions_processed: None,
            }));
            recorded += 1;
        }
    }
    println!("recorded {recorded}");
}

/// One event of each kind per string field, with `value` in that field.
fn every_field(value: &str, number: u64) -> Vec<Event> {
    let v = || value.to_string();
    let some = || Some(value.to_string());
    let tool = |tool: String, session_id, agent| {
        Event::ToolCall(r::ToolCall {
            tool,
            session_id,
            agent,
            duration_ms: number,
            outcome: r::Outcome::Failure,
            error: Some(r::ErrorKind::Other),
        })
    };
    let usage = |model: String, session_id, agent| {
        Event::TokenUsage(r::TokenUsage {
            model,
            session_id,
            agent,
            input_tokens: 1,
            output_tokens: 1,
            cached_tokens: 0,
            reasoning_tokens: 0,
            cost_usd: Some(0.5),
        })
    };
    let task = |task_id: String, agent, source, tags| {
        Event::Task(r::Task {
            task_id,
            state: r::TaskState::Failed,
            previous_state: Some(r::TaskState::Started),
            agent,
            source,
            tags,
            has_parent: true,
            priority: Some(1),
            duration_ms: Some(number),
        })
    };
    vec![
        Event::Command(r::Command {
            action: v(),
            outcome: r::Outcome::Failure,
            error: None,
            arg_count: 1,
            flags: vec![v(), format!("--{value}"), format!("--token={value}")],
        }),
        tool(v(), None, None),
        tool("t".into(), some(), some()),
        usage(v(), None, None),
        usage("m".into(), some(), some()),
        Event::SessionStart(r::SessionStart {
            session_id: v(),
            agent: some(),
            task_id: some(),
        }),
        Event::SessionEnd(r::SessionEnd {
            session_id: v(),
            agent: some(),
            task_id: some(),
            outcome: r::Outcome::Failure,
            error: Some(r::ErrorKind::Internal),
            tasks_processed: Some(number as u32),
        }),
        Event::SessionCost(r::SessionCost {
            session_id: v(),
            agent: some(),
            model: some(),
            cost_usd: 1.0,
            input_tokens: 1,
            output_tokens: 1,
            cache_read_tokens: number,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            thinking_tokens: 0,
            turns: None,
            is_error: true,
        }),
        Event::SessionFailure(r::SessionFailure {
            session_id: v(),
            agent: some(),
            error: r::ErrorKind::Tool,
            was_rate_limited: false,
            provider: some(),
        }),
        Event::AgentRegistered(r::AgentRegistered {
            agent: v(),
            role: some(),
            capabilities: vec![v()],
            is_reconnect: false,
        }),
        task(v(), some(), some(), vec![v(), v()]),
        Event::TaskSessionCompleted(r::TaskSessionCompleted {
            task_id: v(),
            agent: some(),
            exit_code: 1,
            is_error: true,
            duration_ms: Some(number),
            provider: some(),
            harness: some(),
            model: some(),
        }),
        Event::Workflow(r::Workflow {
            workflow_id: v(),
            state: r::WorkflowState::Failed,
            node_count: None,
            source: some(),
            trigger: some(),
            duration_ms: Some(number),
            steps_completed: None,
            steps_failed: None,
        }),
        Event::Schedule(r::Schedule {
            state: r::ScheduleState::Error,
            schedule_type: some(),
            triggered_workflows: false,
            was_recovered: false,
            consecutive_errors: None,
        }),
        Event::Compaction(r::Compaction {
            session_id: some(),
            agent: some(),
            trigger: r::CompactionTrigger::Manual,
            pre_compact_tokens: number,
            context_total_tokens: number,
        }),
    ]
}

/// The first eight bytes of `secret` as one number, to smuggle through a duration.
fn packed(secret: &[u8]) -> u64 {
    secret
        .iter()
        .take(8)
        .fold(0u64, |n, b| n << 8 | u64::from(*b))
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// With padding, as most encoders write it.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Without padding: no `=` for the charset rule to catch.
fn base64_unpadded(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// URL-safe and unpadded: only `-` and `_` beside letters and digits, all allowed in a name.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
