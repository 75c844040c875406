//! Agent Swarm's format: one envelope per request (`product`, `event`, `occurred_at`,
//! `source`, `actor_mode: "anonymous"`, `actor_anonymous_id`, `properties` with camelCase
//! names, `metadata{transport, schema_version, environment}`), as its endpoint takes them.
//!
//! A batch becomes as many requests as it has events Agent Swarm has a name for; the sender
//! goes through them in order and remembers how far it got, so a retry (or the host's spool)
//! carries on after the last one delivered. Commands, tool calls and per-call token use have
//! no Agent Swarm event: they are left out and counted (see `Encoded`). The host's context
//! properties (`is_cloud`-style booleans and allowlisted names, see `config`) are added to
//! every event's properties, after the event's own, as Agent Swarm does.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Encoded, Request, name};
use crate::wire::{Batch, Data, ErrorKind, Event, ServerState};

pub const CONTENT_TYPE: &str = "application/json";

/// `metadata.schema_version`: Agent Swarm's envelope version.
const ENVELOPE_VERSION: u32 = 1;

#[derive(Serialize)]
struct Envelope<'a> {
    product: &'a str,
    event: String,
    occurred_at: &'a str,
    source: &'a str,
    actor_mode: &'static str,
    actor_anonymous_id: &'a str,
    properties: Map<String, Value>,
    metadata: Metadata<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    transport: &'a str,
    schema_version: u32,
    environment: &'a str,
}

/// What the host adds to every event, and how the endpoint is reached.
pub struct Context<'a> {
    /// `properties` every event gets (booleans and names the host allowlisted).
    pub properties: &'a [(String, Value)],
    /// `http` or `https`: `metadata.transport`.
    pub transport: &'a str,
}

/// One request per event that Agent Swarm has a name for.
pub fn encode(batch: &Batch, context: &Context) -> Result<Encoded, serde_json::Error> {
    let mut requests = Vec::new();
    for (i, event) in batch.events.iter().enumerate() {
        if let Some((name, properties)) = event_of(event) {
            let body = serde_json::to_vec(&envelope(event, name, properties, context))?;
            let since = requests.last().map_or(0, |r: &Request| r.through);
            requests.push(Request {
                body,
                events: 1,
                through: i + 1,
                left_out: i - since,
            });
        }
    }
    let left_out = batch.events.len() - requests.len();
    if let Some(last) = requests.last_mut() {
        last.left_out += batch.events.len() - last.through;
    }
    Ok(Encoded {
        content_type: CONTENT_TYPE,
        requests,
        left_out,
    })
}

fn envelope<'a>(
    e: &'a Event,
    event: String,
    mut properties: Map<String, Value>,
    context: &Context<'a>,
) -> Envelope<'a> {
    for (key, value) in context.properties {
        properties.insert(key.clone(), value.clone());
    }
    properties.insert("swarmVersion".into(), e.product_version.clone().into());
    Envelope {
        product: &e.product,
        event,
        occurred_at: &e.occurred_at,
        source: &e.source,
        actor_mode: "anonymous",
        actor_anonymous_id: &e.installation_id,
        properties,
        metadata: Metadata {
            transport: context.transport,
            schema_version: ENVELOPE_VERSION,
            environment: &e.environment,
        },
    }
}

/// Agent Swarm's event name and its own properties, or `None` for an event it has no name for.
fn event_of(e: &Event) -> Option<(String, Map<String, Value>)> {
    let mut p = Props::default();
    let name = match &e.data {
        Data::Command { .. } | Data::ToolCall { .. } | Data::TokenUsage { .. } => return None,
        Data::SessionStart {
            session_id,
            agent,
            task_id,
        } => {
            p.str("sessionId", session_id);
            p.opt_str("agentId", agent.as_deref());
            p.opt_str("taskId", task_id.as_deref());
            "session.started".to_string()
        }
        Data::SessionEnd {
            session_id,
            agent,
            task_id,
            outcome,
            error,
            totals,
        } => {
            p.str("sessionId", session_id);
            p.opt_str("agentId", agent.as_deref());
            p.opt_str("taskId", task_id.as_deref());
            p.str("outcome", &name(outcome));
            p.opt_str("errorCategory", error.map(error_category));
            p.opt_int("durationMs", totals.duration_ms);
            p.int("toolCalls", totals.tool_calls);
            p.int("toolFailures", totals.tool_failures);
            p.int("inputTokens", totals.input_tokens);
            p.int("outputTokens", totals.output_tokens);
            p.float("totalCostUsd", Some(totals.cost_usd));
            p.int("errorCount", totals.error_count);
            "session.ended".to_string()
        }
        Data::SessionCost {
            session_id,
            agent,
            model,
            cost_usd,
            input_tokens,
            output_tokens,
        } => {
            p.str("sessionId", session_id);
            p.opt_str("agentId", agent.as_deref());
            p.opt_str("model", model.as_deref());
            p.int("inputTokens", *input_tokens);
            p.int("outputTokens", *output_tokens);
            p.float("totalCostUsd", *cost_usd);
            "session.cost".to_string()
        }
        Data::SessionFailure {
            session_id,
            agent,
            error,
        } => {
            p.str("sessionId", session_id);
            p.opt_str("agentId", agent.as_deref());
            p.str("errorCategory", error_category(*error));
            p.bool("wasRateLimited", *error == ErrorKind::RateLimited);
            "session.failure".to_string()
        }
        Data::Server { state } => match state {
            ServerState::Started => "server.started".to_string(),
            ServerState::Shutdown => "server.shutdown".to_string(),
        },
        Data::AgentRegistered { agent } => {
            p.str("agentId", agent);
            "agent.registered".to_string()
        }
        Data::Task {
            task_id,
            state,
            previous_state,
            agent,
            source,
            tags,
            has_parent,
            priority,
            duration_ms,
        } => {
            p.str("taskId", task_id);
            p.opt_str("source", source.as_deref());
            p.opt_str("agentId", agent.as_deref());
            p.bool("hasParent", *has_parent);
            p.opt_int("priority", priority.map(u64::from));
            p.opt_int("durationMs", *duration_ms);
            p.opt_str(
                "previousStatus",
                previous_state.map(|s| name(&s)).as_deref(),
            );
            if !tags.is_empty() {
                p.0.insert("tags".into(), tags.clone().into());
            }
            format!("task.{}", name(state))
        }
    };
    Some((name, p.0))
}

/// Agent Swarm's `errorCategory` values where one fits the error kind; `unknown` otherwise.
fn error_category(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RateLimited => "rate_limit",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Network | ErrorKind::Unavailable => "api_error",
        ErrorKind::Model => "provider_error",
        _ => "unknown",
    }
}

#[derive(Default)]
struct Props(Map<String, Value>);

impl Props {
    fn str(&mut self, key: &str, value: &str) {
        self.0.insert(key.into(), value.into());
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(key, value);
        }
    }

    fn int(&mut self, key: &str, value: u64) {
        self.0.insert(key.into(), value.into());
    }

    fn opt_int(&mut self, key: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.int(key, value);
        }
    }

    /// A cost: finite already (the anonymizer's rule), so it always has a JSON number.
    fn float(&mut self, key: &str, value: Option<f64>) {
        if let Some(number) = value.and_then(serde_json::Number::from_f64) {
            self.0.insert(key.into(), Value::Number(number));
        }
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.0.insert(key.into(), value.into());
    }
}
