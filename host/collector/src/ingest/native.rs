//! This project's batch (`POST /v1/batch`), checked against its schema: unknown fields and
//! other schema versions are refused.

use std::fmt;

use agent_telemetry_contract::wire::{
    ENVELOPE_ONCE, Entry, Envelope, Event, READABLE_VERSIONS, SCHEMA,
};
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::bounded::{Each, MAX_ITEMS, Names, Stop, walk};
use super::{Fact, MAX_TEXT, Received, Refused, admit, cost, count, millis};

/// Where the native batch is posted.
pub const PATH: &str = "/v1/batch";

/// Read as `agent_telemetry_contract::batch::parse` reads a batch (its head first, then its
/// fields, unknown ones refused), but an event at a time: each is decoded only once it is
/// known to be within the bounds. A batch of version 3 must have its `envelope` before its
/// `events` (as the component writes it), so that each event is whole when it is read.
pub fn parse(body: &[u8]) -> Result<Received, Refused> {
    // The head first: a newer batch may well have fields this build would call unknown.
    #[derive(Deserialize)]
    struct Head {
        schema: String,
        schema_version: u32,
    }
    let head: Head = serde_json::from_slice(body).map_err(|_| Refused::new("not a valid batch"))?;
    if head.schema == agent_telemetry_contract::counts::SCHEMA {
        return Ok(Received {
            counts: Some(super::counts::parse(body)?),
            ..Received::default()
        });
    }
    if head.schema != SCHEMA {
        return Err(Refused::new("not an agent-telemetry batch"));
    }
    if !READABLE_VERSIONS.contains(&head.schema_version) {
        return Err(Refused::new(format!(
            "schema_version {} is not supported",
            head.schema_version
        )));
    }
    let mut received = Received::default();
    let mut stop = Stop::default();
    let batch = Batch {
        version: head.schema_version,
        received: &mut received,
        stop: &mut stop,
    };
    if walk(body, batch) {
        Ok(received)
    } else {
        Err(stop.or("not a valid batch"))
    }
}

/// The batch's fields, its events walked one at a time.
struct Batch<'r> {
    /// Its `schema_version`, read first.
    version: u32,
    received: &'r mut Received,
    stop: &'r mut Stop,
}

const FIELDS: [&str; 7] = [
    "schema",
    "schema_version",
    "batch_id",
    "sent_at",
    "dropped_events",
    "envelope",
    "events",
];
/// The index in [`FIELDS`] of `envelope`, which only version 3 has (and needs, with events).
const ENVELOPE: usize = 5;

impl<'de> Visitor<'de> for Batch<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a batch")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let once = self.version >= ENVELOPE_ONCE;
        let mut seen = [false; FIELDS.len()];
        let mut envelope: Option<Envelope> = None;
        while let Some(key) = map.next_key::<String>()? {
            let Some(i) = FIELDS.iter().position(|f| *f == key) else {
                return Err(de::Error::custom("an unknown field"));
            };
            if i == ENVELOPE && !once {
                return Err(de::Error::custom("an unknown field"));
            }
            if std::mem::replace(&mut seen[i], true) {
                return Err(de::Error::custom("a field twice"));
            }
            match FIELDS[i] {
                "schema" | "batch_id" | "sent_at" => {
                    map.next_value::<String>()?;
                }
                "schema_version" => {
                    map.next_value::<u32>()?;
                }
                "dropped_events" => {
                    let n = map.next_value::<u64>()?;
                    count(n).map_err(|_| {
                        self.stop
                            .set::<A::Error>(Refused::new("dropped_events is out of range"))
                    })?;
                    self.received.reported_drops = n;
                }
                "envelope" => {
                    let raw = map.next_value::<&'de RawValue>()?;
                    let read = admit(0, "the envelope", raw.get().len())
                        .and_then(|()| bounded_names(raw, "the envelope"))
                        .and_then(|()| {
                            serde_json::from_str::<Envelope>(raw.get())
                                .map_err(|_| Refused::new("not a valid batch"))
                        });
                    envelope = Some(read.map_err(|refused| self.stop.set::<A::Error>(refused))?);
                }
                _ => {
                    if once && envelope.is_none() {
                        return Err(self.stop.set(Refused::new(
                            "a batch of version 3 must have its envelope before its events",
                        )));
                    }
                    let received = &mut *self.received;
                    let version = self.version;
                    let envelope = envelope.as_ref();
                    map.next_value_seed(Each {
                        each: |raw: &RawValue| {
                            let i = received.facts.len();
                            admit(i, "event", raw.get().len())?;
                            // Every name in it (tags, flags, labels too) within the name rule.
                            bounded_names(raw, &format!("event {i}"))?;
                            let e = match envelope {
                                Some(envelope) => {
                                    let entry: Entry = serde_json::from_str(raw.get())
                                        .map_err(|_| Refused::new("not a valid batch"))?;
                                    Event::new(envelope, entry, version)
                                }
                                None => {
                                    let e: Event = serde_json::from_str(raw.get())
                                        .map_err(|_| Refused::new("not a valid batch"))?;
                                    if !READABLE_VERSIONS.contains(&e.schema_version)
                                        || e.schema_version >= ENVELOPE_ONCE
                                    {
                                        return Err(Refused::new(
                                            "an event has another schema_version",
                                        ));
                                    }
                                    e
                                }
                            };
                            let f = fact(&e)?;
                            f.check().map_err(|e| e.at("event", i))?;
                            received.facts.push(f);
                            Ok(())
                        },
                        stop: &mut *self.stop,
                    })?;
                }
            }
        }
        // Every field; the envelope is checked above (before the events of a batch of version
        // 3, absent from those of versions 1 and 2), and a batch without events needs none.
        Ok(seen.iter().enumerate().all(|(i, s)| *s || i == ENVELOPE))
    }
}

/// `raw`'s names, lists and objects within the bounds.
fn bounded_names(raw: &RawValue, what: &str) -> Result<(), Refused> {
    serde_json::from_str::<Names>(raw.get())
        .map(|_| ())
        .map_err(|_| {
            Refused::new(format!(
                "{what}: a name is longer than {MAX_TEXT} bytes, or a list or object longer \
                 than {MAX_ITEMS}"
            ))
        })
}

/// The report's columns of one native event.
pub fn fact(e: &Event) -> Result<Fact, Refused> {
    let mut f = Fact {
        id: e.event_id.clone(),
        occurred_ms: millis(&e.occurred_at)?,
        kind: e.data.kind(),
        installation: e.installation_id.clone(),
        ci: e.ci,
        product: e.product.clone(),
        version: e.product_version.clone(),
        os: e.os.clone(),
        body: serde_json::to_string(e).map_err(|_| Refused::new("an event cannot be stored"))?,
        ..Fact::default()
    };
    let s = e.data.summary();
    f.subject = s.subject;
    f.outcome = s.outcome;
    f.session = s.session.map(str::to_string);
    f.duration_ms = s.duration_ms.map(count).transpose()?;
    f.input_tokens = s.input_tokens.map(count).transpose()?;
    f.output_tokens = s.output_tokens.map(count).transpose()?;
    f.cache_read_tokens = s.cache_read_tokens.map(count).transpose()?;
    f.cache_write_tokens = s.cache_write_tokens.map(count).transpose()?;
    f.cost_usd = s.cost_usd.map(cost).transpose()?;
    Ok(f)
}
