//! Reading a native batch back from its bytes: the collector does it for every request, the
//! component for a batch the host's spool kept. Schema and version are checked before the
//! events, so a batch of another version is told apart from one that is broken.

use serde::Deserialize;

use crate::wire::{Batch, READABLE_VERSIONS, SCHEMA, SCHEMA_VERSION};

/// Why bytes are not a batch this build can read.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Not JSON, not whole, or not of the batch's shape (an unknown field, a wrong type).
    #[error("not a valid batch: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Its `schema` names something other than this project's batch.
    #[error("schema is `{0}`, expected `{SCHEMA}`")]
    WrongSchema(String),
    /// One of our batches, of a version this build does not read (an older or newer tool
    /// sharing the same spool, say).
    #[error("schema_version {0} is not supported (this build reads 1 to {SCHEMA_VERSION})")]
    OtherVersion(u32),
    /// An event's own `schema_version` differs from its batch's.
    #[error("event {event_id} has schema_version {version}")]
    EventVersion {
        /// The event's id.
        event_id: String,
        /// The version it carries.
        version: u32,
    },
    /// Read strictly ([`parse_strict`]): JSON that a lenient reader takes but this project never
    /// writes (a key twice in one object, a number or a space written otherwise).
    #[error("not written as this project writes a batch: {0}")]
    NotCanonical(&'static str),
}

/// The batch in `body`, checked against the native schema.
pub fn parse(body: &[u8]) -> Result<Batch, BatchError> {
    // The head first: a newer batch may well have fields this build would call unknown.
    #[derive(Deserialize)]
    struct Head {
        schema: String,
        schema_version: u32,
    }
    let head: Head = serde_json::from_slice(body)?;
    if head.schema != SCHEMA {
        return Err(BatchError::WrongSchema(head.schema));
    }
    if !READABLE_VERSIONS.contains(&head.schema_version) {
        return Err(BatchError::OtherVersion(head.schema_version));
    }
    let batch: Batch = serde_json::from_slice(body)?;
    if let Some(e) = batch
        .events
        .iter()
        .find(|e| !READABLE_VERSIONS.contains(&e.schema_version))
    {
        return Err(BatchError::EventVersion {
            event_id: e.event_id.clone(),
            version: e.schema_version,
        });
    }
    Ok(batch)
}

/// The batch in `body`, read as strictly as a file that anything can write must be: a batch the
/// host kept on disk, before the component sends it again.
///
/// A lenient reader and the bytes can disagree: with `"tags":{"note":"<free text>","note":"ok"}`
/// serde keeps the last value, so a check of the parsed batch passes while the bytes still hold
/// the first. So a key twice in any object refuses the batch, and a batch of the current
/// version must be byte for byte what [`serde_json::to_vec`] makes of what was read (this
/// project's own writer makes exactly that): no other spelling of a number, no other spacing,
/// order or escape. A batch of an older version is read with the duplicate-key rule only.
/// Either way the caller sends what it re-serializes from the value it checked, never `body`.
pub fn parse_strict(body: &[u8]) -> Result<Batch, BatchError> {
    serde_json::from_slice::<NoDuplicateKeys>(body)?;
    let batch = parse(body)?;
    if batch.schema_version == SCHEMA_VERSION
        && serde_json::to_vec(&batch).ok().as_deref() != Some(body)
    {
        return Err(BatchError::NotCanonical(
            "it differs from what this project writes for the same batch",
        ));
    }
    Ok(batch)
}

/// Any JSON value, read only to refuse an object that has a key twice (at any depth).
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(serde::de::Error::custom("an object has a key twice"));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"{"schema":"agent-telemetry/batch","schema_version":1,"batch_id":"b","sent_at":"t","dropped_events":0,"events":[]}"#;

    #[test]
    fn unknown_fields_and_wrong_schemas_are_refused() {
        assert!(matches!(parse(b"{}"), Err(BatchError::Malformed(_))));
        assert!(matches!(parse(b"not json"), Err(BatchError::Malformed(_))));
        assert!(parse(OK.as_bytes()).is_ok());
        let extra = OK.replace("\"events\":[]", "\"events\":[],\"prompt\":\"hi\"");
        assert!(matches!(
            parse(extra.as_bytes()),
            Err(BatchError::Malformed(_))
        ));
        let other = OK.replace("agent-telemetry/batch", "someone-else");
        assert!(matches!(
            parse(other.as_bytes()),
            Err(BatchError::WrongSchema(_))
        ));
    }

    #[test]
    fn another_version_is_told_apart_from_a_broken_batch() {
        let newer =
            r#"{"schema":"agent-telemetry/batch","schema_version":9,"new_field":1,"events":[]}"#;
        assert!(matches!(
            parse(newer.as_bytes()),
            Err(BatchError::OtherVersion(9))
        ));
        let zero = OK.replace("\"schema_version\":1", "\"schema_version\":0");
        assert!(matches!(
            parse(zero.as_bytes()),
            Err(BatchError::OtherVersion(0))
        ));
        let torn = &OK[..OK.len() / 2];
        assert!(matches!(
            parse(torn.as_bytes()),
            Err(BatchError::Malformed(_))
        ));
    }

    /// Issue 20, case 7: a duplicate key smuggled free text past the spool's check.
    #[test]
    fn strictly_read_a_key_twice_or_another_spelling_is_refused() {
        let current = OK.replace(
            "\"schema_version\":1",
            &format!("\"schema_version\":{SCHEMA_VERSION}"),
        );
        let batch = parse_strict(current.as_bytes()).unwrap();
        assert_eq!(serde_json::to_vec(&batch).unwrap(), current.as_bytes());
        // The case as it was found: a map (the tags) with a key twice. Read leniently, the
        // last value wins and the first would still be in the bytes.
        let v1 = r#"{"schema":"agent-telemetry/batch","schema_version":1,"batch_id":"b","sent_at":"t","dropped_events":0,"events":[{"event_id":"e","occurred_at":"t","schema_version":1,"source":"s","environment":"e","installation_id":"i","product":"p","product_version":"1","os":"linux","arch":"x86_64","ci":false,"tags":{"note":"my free text","note":"ok"},"data":{"type":"session_failure","session_id":"s","error":"timeout"}}]}"#;
        assert_eq!(parse(v1.as_bytes()).unwrap().events[0].tags["note"], "ok");
        assert!(matches!(
            parse_strict(v1.as_bytes()),
            Err(BatchError::Malformed(_))
        ));
        let nested = r#"{"a":[{"k":1,"k":2}]}"#;
        assert!(serde_json::from_str::<NoDuplicateKeys>(nested).is_err());
        assert!(serde_json::from_str::<NoDuplicateKeys>(r#"{"a":[{"k":1},{"k":2}]}"#).is_ok());
        for other in [
            current.replace("\"dropped_events\":0", "\"dropped_events\": 0"),
            current.replace("\"dropped_events\":0", "\"dropped_events\":0e0"),
            current.replace("\"b\"", "\"\\u0062\""),
            format!("{current} "),
            format!("{current}\n"),
        ] {
            assert!(parse_strict(other.as_bytes()).is_err(), "{other}");
        }
        assert!(
            parse_strict(format!("{current}{{}}").as_bytes()).is_err(),
            "trailing data"
        );
    }

    /// A version 2 event as an older build wrote it, with `id` and `product_version`.
    fn flat_event(id: &str, product_version: &str) -> String {
        format!(
            r#"{{"event_id":"{id}","occurred_at":"t","schema_version":2,"source":"s","environment":"e","installation_id":"i","product":"p","product_version":"{product_version}","os":"linux","arch":"x86_64","ci":false,"data":{{"type":"server","state":"started"}}}}"#
        )
    }

    fn flat_batch(events: &[String]) -> String {
        format!(
            r#"{{"schema":"agent-telemetry/batch","schema_version":2,"batch_id":"b","sent_at":"t","dropped_events":0,"events":[{}]}}"#,
            events.join(",")
        )
    }

    #[test]
    fn version_3_writes_the_envelope_once_and_reads_back_every_event_whole() {
        let older =
            parse(flat_batch(&[flat_event("a", "1"), flat_event("b", "1")]).as_bytes()).unwrap();
        let current = older.clone().upgraded();
        assert_eq!(current.schema_version, SCHEMA_VERSION);
        let text = String::from_utf8(serde_json::to_vec(&current).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"schema":"agent-telemetry/batch","schema_version":3,"batch_id":"b","sent_at":"t","dropped_events":0,"envelope":{"source":"s","environment":"e","installation_id":"i","product":"p","product_version":"1","os":"linux","arch":"x86_64","ci":false},"events":[{"event_id":"a","occurred_at":"t","data":{"type":"server","state":"started"}},{"event_id":"b","occurred_at":"t","data":{"type":"server","state":"started"}}]}"#
        );
        let read = parse_strict(text.as_bytes()).unwrap();
        assert_eq!(read, current);
        for (new, old) in read.events.iter().zip(&older.events) {
            assert_eq!(new.envelope(), old.envelope());
            assert_eq!((new.schema_version, &new.data), (SCHEMA_VERSION, &old.data));
        }
        // Written as it was read, an older batch keeps its shape and version.
        let flat = serde_json::to_vec(&older).unwrap();
        assert_eq!(parse(&flat).unwrap(), older);
        assert!(!String::from_utf8(flat).unwrap().contains("envelope"));
    }

    #[test]
    fn a_batch_that_mixes_the_two_shapes_is_refused() {
        let good = serde_json::to_string(
            &parse(flat_batch(&[flat_event("a", "1")]).as_bytes())
                .unwrap()
                .upgraded(),
        )
        .unwrap();
        let cases = [
            // An envelope field in an event of version 3.
            good.replace(r#""event_id":"a","#, r#""event_id":"a","os":"linux","#),
            good.replace(
                r#""event_id":"a","#,
                r#""event_id":"a","schema_version":3,"#,
            ),
            // Version 3 without its envelope.
            good.replace(
                &good[good.find(r#""envelope""#).unwrap()..good.find(r#""events""#).unwrap()],
                "",
            ),
            // Version 2 with one, and without the envelope in its events.
            good.replace(r#""schema_version":3"#, r#""schema_version":2"#),
        ];
        for case in &cases {
            assert_ne!(case, &good);
            assert!(
                matches!(parse(case.as_bytes()), Err(BatchError::Malformed(_))),
                "{case}"
            );
        }
        // Version 2 whose events lack an envelope field.
        let short = flat_batch(&[flat_event("a", "1").replace(r#""os":"linux","#, "")]);
        assert!(matches!(
            parse(short.as_bytes()),
            Err(BatchError::Malformed(_))
        ));
    }

    #[test]
    fn events_that_differ_in_their_envelope_stay_in_their_version() {
        let mixed = flat_batch(&[flat_event("a", "1"), flat_event("b", "2")]);
        let batch = parse(mixed.as_bytes()).unwrap();
        assert_eq!(batch.clone().upgraded(), batch, "left as it was");
        let mut forced = batch;
        forced.schema_version = SCHEMA_VERSION;
        for e in &mut forced.events {
            e.schema_version = SCHEMA_VERSION;
        }
        assert!(
            serde_json::to_vec(&forced).is_err(),
            "version 3 cannot write two envelopes"
        );
    }

    #[test]
    fn a_version_1_batch_reads_as_the_current_version() {
        // As an older build spooled it: an event of 0.1.0's shape, without 0.2.0's fields.
        let v1 = r#"{"schema":"agent-telemetry/batch","schema_version":1,"batch_id":"b","sent_at":"t","dropped_events":0,"events":[{"event_id":"e","occurred_at":"t","schema_version":1,"source":"s","environment":"e","installation_id":"i","product":"p","product_version":"1","os":"linux","arch":"x86_64","ci":false,"data":{"type":"session_failure","session_id":"s","error":"timeout"}}]}"#;
        let batch = parse(v1.as_bytes()).unwrap();
        assert_eq!(
            parse_strict(v1.as_bytes()).unwrap(),
            batch,
            "older: no canonical rule"
        );
        assert!(batch.events[0].tags.is_empty());
        assert!(matches!(
            batch.events[0].data,
            crate::wire::Data::SessionFailure {
                was_rate_limited: false,
                provider: None,
                ..
            }
        ));
    }
}
