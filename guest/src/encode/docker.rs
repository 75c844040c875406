//! docker-agent's format: `{"records":[{"event","event_timestamp","source","properties"}]}`,
//! with its event names (`command`, `tool`, `token`, `session`) and property names, many
//! records per request (docker-agent itself sends one per request).
//!
//! What differs from docker-agent, by this project's rules: a command carries no arguments
//! and its real outcome; an error is an error kind, never its text; a token event's `cost` is
//! that call's alone; a session's end carries the totals the component computed (docker-agent
//! sends `cost` and `error_count` as 0). Events docker-agent has no type for (session cost and
//! failure, server, agent registration, tasks, workflows, schedules, compactions) are left out
//! and counted (see `Encoded`). The host's custom tags are merged into the properties under
//! the system keys, as docker-agent merges `TELEMETRY_TAGS`.

use serde::Serialize;

use super::{Encoded, darwin_os, one_request, unix_millis};
use crate::wire::{Batch, Data, ErrorKind, Event, Outcome};

pub const CONTENT_TYPE: &str = "application/json";

#[derive(Serialize)]
struct Body<'a> {
    records: Vec<Record<'a>>,
}

#[derive(Serialize)]
struct Record<'a> {
    event: &'static str,
    /// Unix time in milliseconds, as docker-agent sends it.
    event_timestamp: u64,
    source: &'a str,
    properties: serde_json::Map<String, serde_json::Value>,
}

/// docker-agent's property names; each event kind fills its own.
#[derive(Serialize, Default)]
struct Properties<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_success: Option<bool>,
    /// An error kind (`timeout`, `tool`, ...), never an error's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Errors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cost: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_count: Option<u64>,
    // docker-agent's system keys, on every event.
    user_uuid: &'a str,
    version: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    os_language: Option<&'a str>,
}

/// A command's or tool's `error` is one kind; a session end's is a list (docker-agent's shape).
#[derive(Serialize)]
#[serde(untagged)]
enum Errors {
    One(ErrorKind),
    List(Vec<ErrorKind>),
}

/// The whole batch as one request; events docker-agent has no type for are left out.
pub fn encode(batch: &Batch, os_language: Option<&str>) -> Result<Encoded, serde_json::Error> {
    let records: Vec<Record> = batch
        .events
        .iter()
        .filter_map(|e| record(e, os_language))
        .collect();
    let events = records.len();
    let left_out = batch.events.len() - events;
    let body = serde_json::to_vec(&Body { records })?;
    Ok(Encoded {
        content_type: CONTENT_TYPE,
        requests: one_request(batch, body, events),
        left_out,
    })
}

fn record<'a>(e: &'a Event, os_language: Option<&'a str>) -> Option<Record<'a>> {
    let mut p = Properties {
        user_uuid: &e.installation_id,
        version: &e.product_version,
        os: darwin_os(&e.os),
        os_language,
        ..Properties::default()
    };
    let event = match &e.data {
        Data::Command {
            action,
            outcome,
            error,
            ..
        } => {
            p.action = Some(action);
            p.is_success = Some(*outcome == Outcome::Success);
            p.error = error.map(Errors::One);
            "command"
        }
        Data::ToolCall {
            tool,
            session_id,
            agent,
            duration_ms,
            outcome,
            error,
            ..
        } => {
            p.action = Some("call");
            p.session_id = session_id.as_deref();
            p.agent_name = agent.as_deref();
            p.tool_name = Some(tool);
            p.duration_ms = Some(*duration_ms);
            p.is_success = Some(*outcome == Outcome::Success);
            p.error = error.map(Errors::One);
            "tool"
        }
        Data::TokenUsage {
            model,
            session_id,
            agent,
            input_tokens,
            output_tokens,
            cost_usd,
            ..
        } => {
            p.action = Some("usage");
            p.session_id = session_id.as_deref();
            p.agent_name = agent.as_deref();
            p.model_name = Some(model);
            p.input_tokens = Some(*input_tokens);
            p.output_tokens = Some(*output_tokens);
            p.total_tokens = Some(input_tokens.saturating_add(*output_tokens));
            p.cost = *cost_usd;
            "token"
        }
        Data::SessionStart {
            session_id, agent, ..
        } => {
            p.action = Some("start");
            p.session_id = Some(session_id);
            p.agent_name = agent.as_deref();
            "session"
        }
        Data::SessionEnd {
            session_id,
            agent,
            outcome,
            error,
            totals,
            ..
        } => {
            p.action = Some("end");
            p.session_id = Some(session_id);
            p.agent_name = agent.as_deref();
            p.duration_ms = totals.duration_ms;
            p.tool_calls = Some(totals.tool_calls);
            p.input_tokens = Some(totals.input_tokens);
            p.output_tokens = Some(totals.output_tokens);
            p.total_tokens = Some(totals.input_tokens.saturating_add(totals.output_tokens));
            p.cost = Some(totals.cost_usd);
            p.error_count = Some(totals.error_count);
            p.is_success = Some(*outcome == Outcome::Success);
            p.error = Some(Errors::List(error.iter().copied().collect()));
            "session"
        }
        Data::SessionCost { .. }
        | Data::SessionFailure { .. }
        | Data::Server { .. }
        | Data::AgentRegistered { .. }
        | Data::Task { .. }
        | Data::TaskSessionCompleted { .. }
        | Data::Workflow { .. }
        | Data::Schedule { .. }
        | Data::Compaction { .. } => return None,
    };
    let mut properties = match serde_json::to_value(&p) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => return None,
    };
    // The host's tags go over the event's properties, and the system keys over them, as in
    // docker-agent.
    for (key, value) in &e.tags {
        if !SYSTEM_KEYS.contains(&key.as_str()) {
            properties.insert(key.clone(), value.clone().into());
        }
    }
    // A CI run says so (docker-agent has no key for it); an ephemeral one by its id's prefix.
    if e.ci {
        properties.insert("ci".into(), true.into());
    }
    Some(Record {
        event,
        event_timestamp: unix_millis(&e.occurred_at),
        source: &e.source,
        properties,
    })
}

/// The keys docker-agent adds to every event last, so that nothing overrides them.
const SYSTEM_KEYS: &[&str] = &["user_uuid", "version", "os", "os_language"];
