//! The native wire format: one JSON batch of events, each with its full envelope.
//!
//! The component writes it; the local collector reads it back with the same types (`batch`
//! checks the schema), and `deny_unknown_fields` makes it refuse anything this schema does not
//! name. Every field
//! here is either an enum, a number, a timestamp, or an identifier that the anonymizer has
//! already validated or replaced. Every `duration_ms` has two significant digits at most, and
//! every timestamp whole seconds (the component's `anonymize` rules).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::catalogue::{
    CompactionTrigger, Data, ErrorKind, Outcome, ScheduleState, ServerState, TaskState,
    WorkflowState,
};

/// The `schema` field of every batch.
pub const SCHEMA: &str = "agent-telemetry/batch";
/// Bumped on any change that an older collector could not read. Version 2 added the event
/// kinds and fields of `agent:telemetry@0.2.0` and the envelope's `tags`.
pub const SCHEMA_VERSION: u32 = 2;
/// The versions this build reads: each version only adds to the one before, so a batch of
/// version 1 (spooled by an older build, say) reads as one of version 2.
pub const READABLE_VERSIONS: std::ops::RangeInclusive<u32> = 1..=SCHEMA_VERSION;
/// The media type the component sends.
pub const CONTENT_TYPE: &str = "application/json";
/// A request header the component adds with the batch's event count, so that the host's
/// egress ledger need not parse the body to count them. The host's policy takes it off before
/// the request leaves; under a stock host it reaches the collector, which ignores it.
pub const EVENTS_HEADER: &str = "agent-telemetry-events";
/// Beside it, when the wire format has no type for some of the batch's events: how many were
/// left out (taken off by the host's policy in the same way).
pub const LEFT_OUT_HEADER: &str = "agent-telemetry-left-out";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub schema: String,
    pub schema_version: u32,
    pub batch_id: String,
    pub sent_at: String,
    /// Events dropped (queue full) since the previous batch was sent.
    pub dropped_events: u64,
    pub events: Vec<Event>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// UUIDv7: time-ordered to the second (its embedded time is `occurred_at`'s), and stable
    /// across retries so redelivery is idempotent. Within a second, the batch order is the
    /// order of recording.
    pub event_id: String,
    /// RFC 3339, UTC, written with milliseconds but always whole seconds (`.000Z`): finer
    /// times would be a channel for the agent (see `anonymize`).
    pub occurred_at: String,
    pub schema_version: u32,
    pub source: String,
    pub environment: String,
    pub installation_id: String,
    pub product: String,
    pub product_version: String,
    pub os: String,
    pub arch: String,
    pub ci: bool,
    /// The host's custom tags (docker-agent's `TELEMETRY_TAGS`), names under the name rule.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    pub data: Data,
}

/// A session's totals, computed by the component from the events of that session it saw.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SessionTotals {
    /// Absent when the component did not see the session start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    pub tool_calls: u64,
    pub tool_failures: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub error_count: u64,
}

/// An enum's name on the wire (`permission_denied`, not `PermissionDenied`): its serde name;
/// `?` for a value that does not serialize as a string (none of this module's enums).
pub fn name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => "?".to_string(),
    }
}

/// The JSON Schema of [`Batch`], generated from these types (so it cannot drift from them):
/// what `agent-telemetry schema` prints and `guest/contract/batch.schema.json` holds.
#[cfg(feature = "schema")]
pub fn batch_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Batch)).unwrap_or_default();
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "$id".to_string(),
            serde_json::Value::String(format!("{SCHEMA}/v{SCHEMA_VERSION}")),
        );
    }
    schema
}
