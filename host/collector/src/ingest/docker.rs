//! docker-agent's body (`POST /events/v1/track`): `{"records":[{"event","event_timestamp",
//! "source","properties"}]}`, with its event names (`command`, `tool`, `token`, `session`)
//! and property names. A record has no id: it is deduplicated by the hash of its content.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::bounded::{Each, Stop, walk};
use super::{
    Fact, Props, Received, Refused, admit, count, keep_under, success, text,
    trimmed_with_content_id,
};

/// Where docker-agent posts its records.
pub const PATH: &str = "/events/v1/track";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    event: String,
    event_timestamp: u64,
    source: String,
    properties: Map<String, Value>,
}

/// The body's one field, `records`, walked a record at a time.
struct Body<'r> {
    received: &'r mut Received,
    stop: &'r mut Stop,
}

impl<'de> Visitor<'de> for Body<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a docker-agent body")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut records = false;
        while let Some(key) = map.next_key::<String>()? {
            if key != "records" || records {
                return Err(de::Error::custom("not a docker-agent body"));
            }
            records = true;
            let received = &mut *self.received;
            map.next_value_seed(Each {
                each: |raw: &serde_json::value::RawValue| {
                    let i = received.facts.len();
                    admit(i, "record", raw.get().len())?;
                    let f = fact(raw.get(), &mut received.dropped_properties)
                        .map_err(|e| e.at("record", i))?;
                    received.facts.push(f);
                    Ok(())
                },
                stop: &mut *self.stop,
            })?;
        }
        Ok(records)
    }
}

/// The facts in a docker-agent body, or why it is refused.
pub fn parse(body_in: &[u8]) -> Result<Received, Refused> {
    let mut received = Received::default();
    let mut stop = Stop::default();
    let body = Body {
        received: &mut received,
        stop: &mut stop,
    };
    if walk(body_in, body) {
        Ok(received)
    } else {
        Err(stop.or("not a docker-agent body ({\"records\":[...]})"))
    }
}

fn fact(raw: &str, dropped: &mut u64) -> Result<Fact, Refused> {
    let record: Record =
        serde_json::from_str(raw).map_err(|_| Refused::new("not a docker-agent record"))?;
    // The name first: a record of another kind is told so, not that it lacks a field.
    let kind = match record.event.as_str() {
        "command" => "command",
        "tool" => "tool_call",
        "token" => "token_usage",
        "session" => "session_start",
        _ => return Err(Refused::new("not a docker-agent event name")),
    };
    let p = Props::new(&record.properties);
    let occurred_ms = count(record.event_timestamp)?;
    let mut f = Fact {
        occurred_ms,
        kind,
        installation: p.required("user_uuid")?,
        version: p.required("version")?,
        os: p.required("os")?,
        // A custom tag may be named `ci` too: only `true` itself marks a CI run.
        ci: p.bool("ci").ok().flatten().unwrap_or(false),
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
    f.check()?;
    // What is stored: the record as it came, less what is over the bounds (counted); its id
    // is made from all of it, as it always was.
    let read = p.read();
    let value = serde_json::json!({
        "event": record.event,
        "event_timestamp": record.event_timestamp,
        "source": text(&record.source)?,
        "properties": record.properties,
    });
    let dropped_here;
    (f.id, f.body, dropped_here) =
        trimmed_with_content_id(value, occurred_ms, |v| keep_under(v, "properties", &read));
    *dropped += dropped_here;
    Ok(f)
}
