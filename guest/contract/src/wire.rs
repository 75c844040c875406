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
/// kinds and fields of `agent:telemetry@0.2.0` and the envelope's `tags`; version 3 writes the
/// envelope once per batch (`envelope`) instead of in every event.
pub const SCHEMA_VERSION: u32 = 3;
/// The first version that writes the envelope once, before the events.
pub const ENVELOPE_ONCE: u32 = 3;
/// The versions this build reads: versions 1 and 2 only add fields, version 3 only moves the
/// envelope, so a batch of any of them (spooled by an older build, say) reads as the same
/// [`Batch`], each event with its whole envelope.
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

/// One request's worth of events, with what the collector needs to read them.
///
/// Read and written as its `schema_version` says: from version 3 (this build's) the envelope
/// is written once, as `envelope`, and each event holds only its id, time and `data`
/// ([`Entry`]); in versions 1 and 2 each event holds the whole envelope. Read, every event has
/// its envelope either way. Written as version 3, the events must share one envelope and the
/// batch's version (they do in every batch the component makes); a batch without events is
/// written without an envelope.
#[derive(Debug, Clone, PartialEq)]
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
#[serde(deny_unknown_fields)]
/// One event: its envelope (who sent it, from what) and its own fields ([`Data`]). A batch of
/// version 1 or 2 writes its events so; one of version 3 writes them as [`Entry`]s after one
/// [`Envelope`].
pub struct Event {
    /// UUIDv7: time-ordered to the second (its embedded time is `occurred_at`'s), and stable
    /// across retries so redelivery is idempotent. Within a second, the batch order is the
    /// order of recording.
    pub event_id: String,
    /// RFC 3339, UTC, written with milliseconds but always whole seconds (`.000Z`): finer
    /// times would be a channel for the agent (see `anonymize`).
    pub occurred_at: String,
    /// The version the event was written in (its batch's, from version 3).
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

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
/// What every event of a batch shares (version 3): who sent them, from what.
pub struct Envelope {
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
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
/// One event of a batch of version 3: what is its own, the envelope being its batch's.
pub struct Entry {
    /// UUIDv7: time-ordered to the second (its embedded time is `occurred_at`'s), and stable
    /// across retries so redelivery is idempotent. Within a second, the batch order is the
    /// order of recording.
    pub event_id: String,
    /// RFC 3339, UTC, written with milliseconds but always whole seconds (`.000Z`): finer
    /// times would be a channel for the agent (see `anonymize`).
    pub occurred_at: String,
    /// The event's kind and its own fields.
    pub data: Data,
}

impl Event {
    /// The event of version `schema_version` made of `envelope` and `entry`.
    pub fn new(envelope: &Envelope, entry: Entry, schema_version: u32) -> Event {
        let Envelope {
            source,
            environment,
            installation_id,
            product,
            product_version,
            os,
            arch,
            ci,
            tags,
        } = envelope.clone();
        Event {
            event_id: entry.event_id,
            occurred_at: entry.occurred_at,
            schema_version,
            source,
            environment,
            installation_id,
            product,
            product_version,
            os,
            arch,
            ci,
            tags,
            data: entry.data,
        }
    }

    /// Its envelope, borrowed.
    pub fn envelope(&self) -> EnvelopeView<'_> {
        EnvelopeView {
            source: &self.source,
            environment: &self.environment,
            installation_id: &self.installation_id,
            product: &self.product,
            product_version: &self.product_version,
            os: &self.os,
            arch: &self.arch,
            ci: self.ci,
            tags: &self.tags,
        }
    }
}

impl Envelope {
    /// Borrowed, as a batch writes it.
    pub fn view(&self) -> EnvelopeView<'_> {
        EnvelopeView {
            source: &self.source,
            environment: &self.environment,
            installation_id: &self.installation_id,
            product: &self.product,
            product_version: &self.product_version,
            os: &self.os,
            arch: &self.arch,
            ci: self.ci,
            tags: &self.tags,
        }
    }
}

/// An [`Envelope`] borrowed: it serializes exactly as the envelope does (same fields, same
/// order), so a batch can be written without a copy of it.
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct EnvelopeView<'a> {
    /// As [`Envelope::source`].
    pub source: &'a str,
    /// As [`Envelope::environment`].
    pub environment: &'a str,
    /// As [`Envelope::installation_id`].
    pub installation_id: &'a str,
    /// As [`Envelope::product`].
    pub product: &'a str,
    /// As [`Envelope::product_version`].
    pub product_version: &'a str,
    /// As [`Envelope::os`].
    pub os: &'a str,
    /// As [`Envelope::arch`].
    pub arch: &'a str,
    /// As [`Envelope::ci`].
    pub ci: bool,
    /// As [`Envelope::tags`].
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: &'a BTreeMap<String, String>,
}

/// An [`Entry`] borrowed: it serializes exactly as the entry does.
#[derive(Serialize, Debug, Clone, Copy)]
pub struct EntryView<'a> {
    /// As [`Entry::event_id`].
    pub event_id: &'a str,
    /// As [`Entry::occurred_at`].
    pub occurred_at: &'a str,
    /// As [`Entry::data`].
    pub data: &'a Data,
}

/// The head of a batch of version 3, up to its events (written last): `events` must be empty,
/// and a batch writer appends them.
#[derive(Serialize)]
pub struct HeadView<'a> {
    /// As [`Batch::schema`].
    pub schema: &'a str,
    /// As [`Batch::schema_version`].
    pub schema_version: u32,
    /// As [`Batch::batch_id`].
    pub batch_id: &'a str,
    /// As [`Batch::sent_at`].
    pub sent_at: &'a str,
    /// As [`Batch::dropped_events`].
    pub dropped_events: u64,
    /// The events' envelope (none only for a batch without events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envelope: Option<EnvelopeView<'a>>,
    /// Always empty: a batch writer appends the events.
    pub events: [EntryView<'a>; 0],
}

impl Serialize for Batch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeStruct};
        if self.schema_version < ENVELOPE_ONCE {
            /// Versions 1 and 2: each event whole.
            #[derive(Serialize)]
            struct Flat<'a> {
                schema: &'a str,
                schema_version: u32,
                batch_id: &'a str,
                sent_at: &'a str,
                dropped_events: u64,
                events: &'a [Event],
            }
            return Flat {
                schema: &self.schema,
                schema_version: self.schema_version,
                batch_id: &self.batch_id,
                sent_at: &self.sent_at,
                dropped_events: self.dropped_events,
                events: &self.events,
            }
            .serialize(serializer);
        }
        let envelope = self.events.first().map(Event::envelope);
        if self
            .events
            .iter()
            .any(|e| Some(e.envelope()) != envelope || e.schema_version != self.schema_version)
        {
            return Err(S::Error::custom(
                "the events of a batch of version 3 must share one envelope and its version",
            ));
        }
        let mut s = serializer.serialize_struct("Batch", 7)?;
        s.serialize_field("schema", &self.schema)?;
        s.serialize_field("schema_version", &self.schema_version)?;
        s.serialize_field("batch_id", &self.batch_id)?;
        s.serialize_field("sent_at", &self.sent_at)?;
        s.serialize_field("dropped_events", &self.dropped_events)?;
        match envelope {
            Some(envelope) => s.serialize_field("envelope", &envelope)?,
            None => s.skip_field("envelope")?,
        }
        s.serialize_field("events", &Entries(&self.events))?;
        s.end()
    }
}

/// A batch's events as [`Entry`]s.
struct Entries<'a>(&'a [Event]);

impl Serialize for Entries<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|e| EntryView {
            event_id: &e.event_id,
            occurred_at: &e.occurred_at,
            data: &e.data,
        }))
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Batch, D::Error> {
        use serde::de::Error;
        /// Any version's batch: which fields it must have, and must not, is checked after.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Any {
            schema: String,
            schema_version: u32,
            batch_id: String,
            sent_at: String,
            dropped_events: u64,
            #[serde(default)]
            envelope: Option<Envelope>,
            events: Vec<AnyEvent>,
        }
        /// Any version's event: an [`Entry`] of version 3, an [`Event`] before it.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct AnyEvent {
            event_id: String,
            occurred_at: String,
            schema_version: Option<u32>,
            source: Option<String>,
            environment: Option<String>,
            installation_id: Option<String>,
            product: Option<String>,
            product_version: Option<String>,
            os: Option<String>,
            arch: Option<String>,
            ci: Option<bool>,
            tags: Option<BTreeMap<String, String>>,
            data: Data,
        }
        let any = Any::deserialize(deserializer)?;
        let version = any.schema_version;
        let events = if version >= ENVELOPE_ONCE {
            let envelope = match any.envelope {
                Some(envelope) => envelope,
                None if any.events.is_empty() => Envelope::default(),
                None => return Err(D::Error::missing_field("envelope")),
            };
            let mut events = Vec::with_capacity(any.events.len());
            for e in any.events {
                let own = [
                    ("schema_version", e.schema_version.is_some()),
                    ("source", e.source.is_some()),
                    ("environment", e.environment.is_some()),
                    ("installation_id", e.installation_id.is_some()),
                    ("product", e.product.is_some()),
                    ("product_version", e.product_version.is_some()),
                    ("os", e.os.is_some()),
                    ("arch", e.arch.is_some()),
                    ("ci", e.ci.is_some()),
                    ("tags", e.tags.is_some()),
                ];
                if let Some((field, _)) = own.iter().find(|(_, present)| *present) {
                    return Err(D::Error::unknown_field(field, ENTRY_FIELDS));
                }
                let entry = Entry {
                    event_id: e.event_id,
                    occurred_at: e.occurred_at,
                    data: e.data,
                };
                events.push(Event::new(&envelope, entry, version));
            }
            events
        } else {
            if any.envelope.is_some() {
                return Err(D::Error::unknown_field("envelope", FLAT_BATCH_FIELDS));
            }
            let mut events = Vec::with_capacity(any.events.len());
            for e in any.events {
                let need = |field: &'static str| D::Error::missing_field(field);
                events.push(Event {
                    event_id: e.event_id,
                    occurred_at: e.occurred_at,
                    schema_version: e.schema_version.ok_or_else(|| need("schema_version"))?,
                    source: e.source.ok_or_else(|| need("source"))?,
                    environment: e.environment.ok_or_else(|| need("environment"))?,
                    installation_id: e.installation_id.ok_or_else(|| need("installation_id"))?,
                    product: e.product.ok_or_else(|| need("product"))?,
                    product_version: e.product_version.ok_or_else(|| need("product_version"))?,
                    os: e.os.ok_or_else(|| need("os"))?,
                    arch: e.arch.ok_or_else(|| need("arch"))?,
                    ci: e.ci.ok_or_else(|| need("ci"))?,
                    tags: e.tags.unwrap_or_default(),
                    data: e.data,
                });
            }
            events
        };
        Ok(Batch {
            schema: any.schema,
            schema_version: version,
            batch_id: any.batch_id,
            sent_at: any.sent_at,
            dropped_events: any.dropped_events,
            events,
        })
    }
}

/// The fields of an event of version 3.
const ENTRY_FIELDS: &[&str] = &["event_id", "occurred_at", "data"];
/// The fields of a batch of version 1 or 2.
const FLAT_BATCH_FIELDS: &[&str] = &[
    "schema",
    "schema_version",
    "batch_id",
    "sent_at",
    "dropped_events",
    "events",
];

impl Batch {
    /// The same batch as the current version writes it, where its events share one envelope
    /// (as every batch of one installation's component does): an older build's spooled batch,
    /// sent again. Versions 1 and 2 only lack what version 3 reads as absent or moved, so
    /// nothing changes but where the envelope is written. A batch whose events differ in their
    /// envelope is left as it is.
    pub fn upgraded(mut self) -> Batch {
        let first = self.events.first().map(Event::envelope);
        if self.events.iter().all(|e| Some(e.envelope()) == first) {
            self.schema_version = SCHEMA_VERSION;
            for e in &mut self.events {
                e.schema_version = SCHEMA_VERSION;
            }
        }
        self
    }
}

/// A batch as the current version writes it: the JSON Schema's source (`batch_schema`).
#[cfg(feature = "schema")]
#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct BatchOfThisVersion {
    /// Always [`SCHEMA`].
    schema: String,
    /// The version this batch is written in: [`SCHEMA_VERSION`]. A collector reads versions 1
    /// and 2 too, whose events each hold the whole envelope.
    schema_version: u32,
    /// A UUIDv7, the same on every retry of the batch.
    batch_id: String,
    /// When the batch was made (RFC 3339, UTC, whole seconds).
    sent_at: String,
    /// Events dropped (queue full) since the previous batch was sent.
    dropped_events: u64,
    /// What every event of the batch shares, written before the events. (A reader takes a
    /// batch without events and without an envelope; the component never sends one.)
    envelope: Envelope,
    /// The events, in the order they were recorded.
    events: Vec<Entry>,
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
    published_schema::<BatchOfThisVersion>(SCHEMA, SCHEMA_VERSION)
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
