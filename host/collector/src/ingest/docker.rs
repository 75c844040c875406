//! docker-agent's body (`POST /events/v1/track`): `{"records":[{"event","event_timestamp",
//! "source","properties"}]}`, with its event names (`command`, `tool`, `token`, `session`)
//! and property names. A record has no id: it is deduplicated by the hash of its content.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{Fact, Props, Received, Refused, count, success, with_content_id};

pub const PATH: &str = "/events/v1/track";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    records: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    event: String,
    event_timestamp: u64,
    #[allow(dead_code)]
    source: String,
    properties: Map<String, Value>,
}

pub fn parse(body: &[u8]) -> Result<Received, Refused> {
    let body: Body = serde_json::from_slice(body)
        .map_err(|_| Refused::new("not a docker-agent body ({\"records\":[...]})"))?;
    let facts = body
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| fact(r).map_err(|e| Refused::new(format!("record {i}: {e}"))))
        .collect::<Result<_, _>>()?;
    Ok(Received {
        facts,
        reported_drops: 0,
    })
}

fn fact(value: &Value) -> Result<Fact, Refused> {
    let record =
        Record::deserialize(value).map_err(|_| Refused::new("not a docker-agent record"))?;
    // The name first: a record of another kind is told so, not that it lacks a field.
    let kind = match record.event.as_str() {
        "command" => "command",
        "tool" => "tool_call",
        "token" => "token_usage",
        "session" => "session_start",
        _ => return Err(Refused::new("not a docker-agent event name")),
    };
    let p = Props(&record.properties);
    let occurred_ms = count(record.event_timestamp)?;
    let (id, body) = with_content_id(value, occurred_ms);
    let mut f = Fact {
        id,
        occurred_ms,
        kind,
        installation: p.required("user_uuid")?,
        version: p.required("version")?,
        os: p.required("os")?,
        body,
        ..Fact::default()
    };
    let outcome = success(p.bool("is_success")?);
    match kind {
        "command" => {
            f.subject = Some(p.required("action")?);
            f.outcome = outcome;
        }
        "tool_call" => {
            f.subject = Some(p.required("tool_name")?);
            f.session = p.text("session_id")?;
            f.duration_ms = p.int("duration_ms")?;
            f.outcome = outcome;
        }
        "token_usage" => {
            f.subject = Some(p.required("model_name")?);
            f.session = p.text("session_id")?;
            f.input_tokens = p.int("input_tokens")?;
            f.output_tokens = p.int("output_tokens")?;
            f.cost_usd = p.cost("cost")?;
        }
        _ => {
            f.session = p.text("session_id")?;
            match p.str("action")? {
                Some("start") => {}
                Some("end") => {
                    f.kind = "session_end";
                    f.outcome = outcome;
                    f.duration_ms = p.int("duration_ms")?;
                    f.input_tokens = p.int("input_tokens")?;
                    f.output_tokens = p.int("output_tokens")?;
                    f.cost_usd = p.cost("cost")?;
                }
                _ => return Err(Refused::new("a session's action is neither start nor end")),
            }
        }
    }
    Ok(f)
}
