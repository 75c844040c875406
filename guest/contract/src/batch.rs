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
    #[error("schema is `{0}`, expected `{SCHEMA}`")]
    WrongSchema(String),
    /// One of our batches, of a version this build does not read (an older or newer tool
    /// sharing the same spool, say).
    #[error("schema_version {0} is not supported (this build reads 1 to {SCHEMA_VERSION})")]
    OtherVersion(u32),
    #[error("event {event_id} has schema_version {version}")]
    EventVersion { event_id: String, version: u32 },
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

    #[test]
    fn a_version_1_batch_reads_as_the_current_version() {
        // As an older build spooled it: an event of 0.1.0's shape, without 0.2.0's fields.
        let v1 = r#"{"schema":"agent-telemetry/batch","schema_version":1,"batch_id":"b","sent_at":"t","dropped_events":0,"events":[{"event_id":"e","occurred_at":"t","schema_version":1,"source":"s","environment":"e","installation_id":"i","product":"p","product_version":"1","os":"linux","arch":"x86_64","ci":false,"data":{"type":"session_failure","session_id":"s","error":"timeout"}}]}"#;
        let batch = parse(v1.as_bytes()).unwrap();
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
