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
/// A request header that builds before 0.2 added with the batch's event count. The component
/// sends no header of its own any more (the host counts a request's events from its body, and
/// the reports carry what a format left out), so none can reach a collector under a stock host;
/// the name stays reserved, so that no configured header can pass for one.
pub const EVENTS_HEADER: &str = "agent-telemetry-events";
/// Beside it, formerly: how many events the wire format left out. Reserved in the same way.
pub const LEFT_OUT_HEADER: &str = "agent-telemetry-left-out";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
/// One request's worth of events, with what the collector needs to read them.
pub struct Batch {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The version this batch is written in ([`SCHEMA_VERSION`] when this build wrote it).
    pub schema_version: u32,
    /// A UUIDv7, the same on every retry of the batch.
    pub batch_id: String,
    /// When the batch was made (RFC 3339, UTC, whole seconds).
    pub sent_at: String,
    /// Events dropped (queue full) since the previous batch was sent.
    pub dropped_events: u64,
    /// The events, in the order they were recorded.
    pub events: Vec<Event>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
/// One event: its envelope (who sent it, from what) and its own fields ([`Data`]).
pub struct Event {
    /// UUIDv7: time-ordered to the second (its embedded time is `occurred_at`'s), and stable
    /// across retries so redelivery is idempotent. Within a second, the batch order is the
    /// order of recording.
    pub event_id: String,
    /// RFC 3339, UTC, written with milliseconds but always whole seconds (`.000Z`): finer
    /// times would be a channel for the agent (see `anonymize`).
    pub occurred_at: String,
    /// The version the event was written in.
    pub schema_version: u32,
    /// What the host program calls the source of its events (`cli`, `server`).
    pub source: String,
    /// `production`, `staging`, ...: as the host says.
    pub environment: String,
    /// `install_` + 16 hex digits kept in the identity directory, or `ephemeral_` + 16 hex.
    pub installation_id: String,
    /// The host program's name.
    pub product: String,
    /// The host program's version.
    pub product_version: String,
    /// The operating system (`linux`, `macos`, `windows`).
    pub os: String,
    /// The CPU architecture (`x86_64`, `aarch64`).
    pub arch: String,
    /// Whether a CI environment was detected.
    pub ci: bool,
    /// The host's custom tags (docker-agent's `TELEMETRY_TAGS`), names under the name rule.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The event's kind and its own fields.
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
    /// Tool calls in the session.
    pub tool_calls: u64,
    /// Of them, those that did not succeed.
    pub tool_failures: u64,
    /// Input tokens of the session's model calls.
    pub input_tokens: u64,
    /// Output tokens of the session's model calls.
    pub output_tokens: u64,
    /// The session's model calls' cost, in US dollars.
    pub cost_usd: f64,
    /// Failures the session reported.
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
    published_schema::<Batch>(SCHEMA, SCHEMA_VERSION)
}

/// The JSON Schema of `T`, its `$id` the document's `schema` name and version.
#[cfg(feature = "schema")]
pub(crate) fn published_schema<T: schemars::JsonSchema>(
    name: &str,
    version: u32,
) -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "$id".to_string(),
            serde_json::Value::String(format!("{name}/v{version}")),
        );
    }
    schema
}
