//! Agent Swarm's single event (`POST /v1/events`): an envelope with `product`, `event`,
//! `occurred_at`, `actor_anonymous_id`, camelCase `properties` and `metadata`. An event has no
//! id: it is deduplicated by the hash of its content.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    Fact, MAX_RECORD_BYTES, Props, Received, Refused, keep_under, millis, success, text,
    trimmed_with_content_id,
};

/// Where Agent Swarm posts its events.
pub const PATH: &str = "/v1/events";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
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
struct Metadata {
    transport: String,
    schema_version: u32,
    environment: String,
    /// Fields Agent Swarm may add: not stored, counted.
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// The fact in an Agent Swarm body, or why it is refused.
pub fn parse(body: &[u8]) -> Result<Received, Refused> {
    // One event a body: the body is the record, bounded as one before it is decoded.
    if body.len() > MAX_RECORD_BYTES {
        return Err(Refused::too_large(format!(
            "the event is larger than {} KiB",
            MAX_RECORD_BYTES >> 10
        )));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|_| Refused::new("not JSON"))?;
    let e: Envelope = serde_json::from_slice(body)
        .map_err(|_| Refused::new("not an Agent Swarm event envelope"))?;
    let p = Props::new(&e.properties);
    let occurred_ms = millis(&e.occurred_at)?;
    let mut f = Fact {
        occurred_ms,
        installation: text(&e.actor_anonymous_id)?,
        product: text(&e.product)?,
        version: p.text("swarmVersion")?.unwrap_or_default(),
        // A custom tag may be named `ci` too: only `true` itself marks a CI run.
        ci: p.bool("ci").ok().flatten().unwrap_or(false),
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
            f.cache_read_tokens = p.int("cacheReadTokens")?;
            f.cache_write_tokens = p.int("cacheWriteTokens")?;
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
    f.check()?;
    // What is stored: the envelope as it came, less what is over the bounds (counted); its id
    // is made from all of it.
    let read = p.read();
    for s in [&e.event, &e.occurred_at, &e.source, &e.actor_mode] {
        text(s)?;
    }
    text(&e.metadata.transport)?;
    text(&e.metadata.environment)?;
    let mut metadata = e.metadata.other;
    let known = ["transport", "schema_version", "environment"];
    metadata.insert("transport".into(), e.metadata.transport.into());
    metadata.insert("schema_version".into(), e.metadata.schema_version.into());
    metadata.insert("environment".into(), e.metadata.environment.into());
    let value = serde_json::json!({
        "product": e.product,
        "event": e.event,
        "occurred_at": e.occurred_at,
        "source": e.source,
        "actor_mode": e.actor_mode,
        "actor_anonymous_id": e.actor_anonymous_id,
        "properties": e.properties,
        "metadata": metadata,
    });
    let dropped;
    (f.id, f.body, dropped) = trimmed_with_content_id(value, occurred_ms, |v| {
        // Fields Agent Swarm may add to the metadata are not stored: counted.
        let mut dropped = 0;
        if let Some(serde_json::Value::Object(m)) = v.get_mut("metadata") {
            let before = m.len();
            m.retain(|k, _| known.contains(&k.as_str()));
            dropped += (before - m.len()) as u64;
        }
        dropped + keep_under(v, "properties", &read)
    });
    Ok(Received {
        facts: vec![f],
        reported_drops: 0,
        dropped_properties: dropped,
        ..Received::default()
    })
}

/// A state's name: a short lowercase word.
fn is_state(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}
