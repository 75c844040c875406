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

use super::{Encoded, Request};
use crate::contract::catalogue::{Field, Value as FieldValue, Visitor};
use crate::wire::{Batch, Data, ErrorKind, Event, SessionTotals};

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
    // The host's tags go over the event's properties, its context properties over them.
    for (key, value) in &e.tags {
        properties.insert(key.clone(), value.clone().into());
    }
    for (key, value) in context.properties {
        properties.insert(key.clone(), value.clone());
    }
    properties.insert("swarmVersion".into(), e.product_version.clone().into());
    // A CI run says so (Agent Swarm has no field for it); an ephemeral one by its id's prefix.
    if e.ci {
        properties.insert("ci".into(), true.into());
    }
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

/// Agent Swarm's event for each kind it has one for: its name, or the prefix that the
/// event's `state` completes (`task` and `started` make `task.started`).
const EVENTS: &[(&str, SwarmEvent)] = &[
    ("session_start", SwarmEvent::Named("session.started")),
    ("session_end", SwarmEvent::Named("session.ended")),
    ("session_cost", SwarmEvent::Named("session.cost")),
    ("session_failure", SwarmEvent::Named("session.failure")),
    ("server", SwarmEvent::State("server")),
    ("agent_registered", SwarmEvent::Named("agent.registered")),
    ("task", SwarmEvent::State("task")),
    (
        "task_session_completed",
        SwarmEvent::Named("task.session_completed"),
    ),
    ("workflow", SwarmEvent::State("workflow")),
    ("schedule", SwarmEvent::State("schedule")),
    ("compaction", SwarmEvent::Named("compaction.triggered")),
];

#[derive(Clone, Copy)]
enum SwarmEvent {
    Named(&'static str),
    State(&'static str),
}

/// The property each field is sent as where Agent Swarm's name is not the field's name in
/// camelCase (`session_id` is `sessionId`). `*` is any kind.
const NAMES: &[(&str, &str, &str)] = &[
    ("*", "agent", "agentId"),
    ("*", "error", "errorCategory"),
    ("*", "cost_usd", "totalCostUsd"),
    ("*", "reasoning_tokens", "reasoningOutputTokens"),
    ("*", "turns", "numTurns"),
    ("*", "harness", "harnessVariant"),
    ("*", "previous_state", "previousStatus"),
    ("workflow", "trigger", "triggerType"),
    ("compaction", "trigger", "compactTrigger"),
];

fn property_name(field: &Field) -> String {
    let named = |kind: &str| {
        NAMES
            .iter()
            .find(|(k, f, _)| *k == kind && *f == field.name)
            .map(|(_, _, name)| name.to_string())
    };
    named(field.kind)
        .or_else(|| named("*"))
        .unwrap_or_else(|| camel_case(field.name))
}

fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Agent Swarm's event name and its own properties, or `None` for an event it has no name for
/// (commands, tool calls, per-call token use).
fn event_of(e: &Event) -> Option<(String, Map<String, Value>)> {
    let kind = e.data.kind();
    let (_, event) = EVENTS.iter().find(|(k, _)| *k == kind)?;
    let mut p = Props::default();
    e.data.visit(&mut p);
    // Agent Swarm's flag says a rate limit whichever way the agent said it.
    if let Data::SessionFailure {
        error: ErrorKind::RateLimited,
        ..
    } = e.data
    {
        p.bool("wasRateLimited", true);
    }
    let name = match event {
        SwarmEvent::Named(name) => name.to_string(),
        SwarmEvent::State(prefix) => format!("{prefix}.{}", p.state?),
    };
    Some((name, p.map))
}

/// Agent Swarm's `errorCategory` values where one fits the error kind; `unknown` otherwise.
fn error_category(kind: &str) -> &'static str {
    match kind {
        "rate_limited" => "rate_limit",
        "timeout" => "timeout",
        "network" | "unavailable" => "api_error",
        "model" => "provider_error",
        _ => "unknown",
    }
}

impl Visitor for Props {
    fn field(&mut self, field: &'static Field, value: FieldValue<'_>) {
        if field.name == "state" {
            if let FieldValue::Enum(state) = value {
                self.state = Some(state);
            }
            return;
        }
        let key = property_name(field);
        match value {
            FieldValue::Totals(totals) => self.totals(totals),
            FieldValue::Enum(kind) if field.name == "error" => self.str(&key, error_category(kind)),
            // Agent Swarm's names: `auto`, `manual`, `auto-inferred`.
            FieldValue::Enum(v) if field.kind == "compaction" => {
                self.str(&key, &v.replace('_', "-"))
            }
            FieldValue::Str(v) | FieldValue::Enum(v) => self.str(&key, v),
            // A task's tags only when it has some; an agent's capabilities always.
            FieldValue::Strs(v) if v.is_empty() && field.kind == "task" => {}
            FieldValue::Strs(v) => {
                self.map.insert(key, v.to_vec().into());
            }
            FieldValue::UInt(v) => self.int(&key, v),
            FieldValue::Int(v) => {
                self.map.insert(key, v.into());
            }
            FieldValue::Float(v) => self.float(&key, Some(v)),
            FieldValue::Bool(v) => self.bool(&key, v),
        }
    }
}

#[derive(Default)]
struct Props {
    map: Map<String, Value>,
    /// The event's `state`, which completes its name instead of being a property.
    state: Option<&'static str>,
}

impl Props {
    fn str(&mut self, key: &str, value: &str) {
        self.map.insert(key.into(), value.into());
    }

    fn int(&mut self, key: &str, value: u64) {
        self.map.insert(key.into(), value.into());
    }

    /// A cost: finite already (the anonymizer's rule), so it always has a JSON number.
    fn float(&mut self, key: &str, value: Option<f64>) {
        if let Some(number) = value.and_then(serde_json::Number::from_f64) {
            self.map.insert(key.into(), Value::Number(number));
        }
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.map.insert(key.into(), value.into());
    }

    /// A session's totals, as Agent Swarm's `session.ended` names them.
    fn totals(&mut self, totals: &SessionTotals) {
        if let Some(ms) = totals.duration_ms {
            self.int("durationMs", ms);
        }
        self.int("toolCalls", totals.tool_calls);
        self.int("toolFailures", totals.tool_failures);
        self.int("inputTokens", totals.input_tokens);
        self.int("outputTokens", totals.output_tokens);
        self.float("totalCostUsd", Some(totals.cost_usd));
        self.int("errorCount", totals.error_count);
    }
}
