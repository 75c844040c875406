//! Agent Swarm's single event (`POST /v1/events`): an envelope with `product`, `event`,
//! `occurred_at`, `actor_anonymous_id`, camelCase `properties` and `metadata`. An event has no
//! id: it is deduplicated by the hash of its content.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Fact, Props, Received, Refused, millis, success, text, with_content_id};

pub const PATH: &str = "/v1/events";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Envelope {
    product: String,
    event: String,
    occurred_at: String,
    source: String,
    actor_mode: String,
    actor_anonymous_id: String,
    properties: Map<String, Value>,
    metadata: Metadata,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Metadata {
    transport: String,
    schema_version: u32,
    environment: String,
}

pub fn parse(body: &[u8]) -> Result<Received, Refused> {
    let value: Value = serde_json::from_slice(body).map_err(|_| Refused::new("not JSON"))?;
    let e = Envelope::deserialize(&value)
        .map_err(|_| Refused::new("not an Agent Swarm event envelope"))?;
    let p = Props(&e.properties);
    let occurred_ms = millis(&e.occurred_at)?;
    let (id, body) = with_content_id(&value, occurred_ms);
    let mut f = Fact {
        id,
        occurred_ms,
        installation: text(&e.actor_anonymous_id)?,
        product: text(&e.product)?,
        version: p.text("swarmVersion")?.unwrap_or_default(),
        body,
        ..Fact::default()
    };
    let (family, what) = e.event.split_once('.').unwrap_or((&e.event, ""));
    f.kind = match (family, what) {
        ("session", "started") => {
            f.session = p.text("sessionId")?;
            "session_start"
        }
        ("session", "ended") => {
            f.session = p.text("sessionId")?;
            f.outcome = p.text("outcome")?;
            f.duration_ms = p.int("durationMs")?;
            f.input_tokens = p.int("inputTokens")?;
            f.output_tokens = p.int("outputTokens")?;
            f.cost_usd = p.cost("totalCostUsd")?;
            "session_end"
        }
        ("session", "cost") => {
            f.session = p.text("sessionId")?;
            f.subject = p.text("model")?;
            f.input_tokens = p.int("inputTokens")?;
            f.output_tokens = p.int("outputTokens")?;
            f.cost_usd = p.cost("totalCostUsd")?;
            "session_cost"
        }
        ("session", "failure") => {
            f.session = p.text("sessionId")?;
            f.subject = p.text("errorCategory")?;
            "session_failure"
        }
        ("server", "started" | "shutdown") => {
            f.subject = Some(what.to_string());
            "server"
        }
        ("agent", "registered") => {
            f.subject = p.text("agentId")?;
            "agent_registered"
        }
        ("task", "session_completed") => {
            f.subject = p.text("model")?;
            f.outcome = success(p.bool("isError")?.map(|error| !error));
            f.duration_ms = p.int("durationMs")?;
            "task_session_completed"
        }
        ("compaction", "triggered") => {
            f.session = p.text("sessionId")?;
            f.subject = p.text("compactTrigger")?;
            "compaction"
        }
        ("task" | "workflow" | "schedule", state) if is_state(state) => {
            f.subject = Some(state.to_string());
            f.duration_ms = p.int("durationMs")?;
            match family {
                "task" => "task",
                "workflow" => "workflow",
                _ => "schedule",
            }
        }
        _ => return Err(Refused::new("not an Agent Swarm event name")),
    };
    Ok(Received {
        facts: vec![f],
        reported_drops: 0,
    })
}

/// A state's name: a short lowercase word.
fn is_state(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}
