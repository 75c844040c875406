//! One row per native event, in short (the demo prints it).

use agent_telemetry_contract::wire::{self, Data, name};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

/// One row per event: when, what, and its fields in short.
pub fn events_table(events: &[wire::Event]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["occurred at", "event", "details"]);
    for event in events {
        table.add_row([
            event.occurred_at.clone(),
            event.data.kind().to_string(),
            details(&event.data),
        ]);
    }
    table
}

fn details(data: &Data) -> String {
    let opt = |v: &Option<String>| v.as_deref().unwrap_or("-").to_string();
    match data {
        Data::Command {
            action,
            outcome,
            arg_count,
            flags,
            ..
        } => {
            format!(
                "{action} {}, {arg_count} args, flags [{}]",
                name(outcome),
                flags.join(",")
            )
        }
        Data::ToolCall {
            tool,
            session_id,
            duration_ms,
            outcome,
            error,
            ..
        } => format!(
            "{tool} {}{} in {duration_ms} ms, session {}",
            name(outcome),
            error
                .as_ref()
                .map(|e| format!(" ({})", name(e)))
                .unwrap_or_default(),
            opt(session_id)
        ),
        Data::TokenUsage {
            model,
            input_tokens,
            output_tokens,
            cost_usd,
            ..
        } => {
            format!(
                "{model}: {input_tokens} in, {output_tokens} out, {}",
                dollars(cost_usd)
            )
        }
        Data::SessionStart {
            session_id, agent, ..
        } => format!("{session_id} by {}", opt(agent)),
        Data::SessionEnd {
            session_id,
            outcome,
            totals,
            ..
        } => format!(
            "{session_id} {}: {} tool calls ({} failed), {} in / {} out tokens, ${:.4}, {} errors, {}",
            name(outcome),
            totals.tool_calls,
            totals.tool_failures,
            totals.input_tokens,
            totals.output_tokens,
            totals.cost_usd,
            totals.error_count,
            totals
                .duration_ms
                .map(|ms| format!("{ms} ms"))
                .unwrap_or_else(|| "start not seen".to_string())
        ),
        Data::SessionCost {
            session_id,
            cost_usd,
            ..
        } => format!("{session_id} {}", dollars(cost_usd)),
        Data::SessionFailure {
            session_id, error, ..
        } => format!("{session_id} {}", name(error)),
        Data::Server {
            state, uptime_ms, ..
        } => match uptime_ms {
            Some(ms) => format!("{} after {ms} ms", name(state)),
            None => name(state),
        },
        Data::AgentRegistered { agent, role, .. } => format!("{agent} as {}", opt(role)),
        Data::Task {
            task_id,
            state,
            previous_state,
            source,
            ..
        } => format!(
            "{task_id} {} -> {} from {}",
            previous_state
                .as_ref()
                .map(name)
                .unwrap_or_else(|| "new".to_string()),
            name(state),
            opt(source)
        ),
        Data::TaskSessionCompleted {
            task_id,
            exit_code,
            model,
            ..
        } => format!("{task_id} exited {exit_code}, model {}", opt(model)),
        Data::Workflow {
            workflow_id, state, ..
        } => format!("{workflow_id} {}", name(state)),
        Data::Schedule {
            state,
            schedule_type,
            ..
        } => format!("{} {}", opt(schedule_type), name(state)),
        Data::Compaction {
            trigger,
            pre_compact_tokens,
            context_total_tokens,
            ..
        } => format!(
            "{}: {pre_compact_tokens} of {context_total_tokens} tokens",
            name(trigger)
        ),
    }
}

fn dollars(cost: &Option<f64>) -> String {
    cost.map(|c| format!("${c:.4}"))
        .unwrap_or_else(|| "no cost".to_string())
}
