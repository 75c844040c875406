//! OTLP/HTTP logs (`POST /v1/logs`), protobuf (`application/x-protobuf`) or the OTLP/JSON
//! mapping (`application/json`), decoded with the `opentelemetry-proto` message types. Each
//! record must be one of ours: `eventName` `agent_telemetry.<kind>` and its id in
//! `log.record.uid`; its Resource gives the installation, product, version and OS.

use std::fmt;

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::bounded::{Each, Stop, walk};
use super::{
    Fact, MAX_EXTRA_BYTES, MAX_EXTRA_PROPERTIES, MAX_RECORD_BYTES, MAX_TEXT, Props, Received,
    Refused, admit, known_kind, storable, success,
};

/// Where OTLP/HTTP logs are posted.
pub const PATH: &str = "/v1/logs";
/// The media type of a protobuf body.
pub const PROTOBUF: &str = "application/x-protobuf";
/// The media type of an OTLP/JSON body.
pub const JSON: &str = "application/json";

const NOT_PROTOBUF: &str = "not an OTLP logs export request (protobuf)";
const NOT_JSON: &str = "not an OTLP logs export request (JSON)";

/// The export request is walked, not decoded whole: its resources and scopes field by field,
/// each log record decoded alone once it is known to be within the bounds (an empty record is
/// two bytes on the wire and a whole `LogRecord` decoded).
pub fn parse(body: &[u8], content_type: &str) -> Result<Received, Refused> {
    let mut sink = Sink::default();
    if content_type == PROTOBUF {
        fields(body, |tag, field| match (tag, field) {
            (1, Some(resource_logs)) => protobuf_resource_logs(resource_logs, &mut sink),
            (1, None) => Err(Refused::new(NOT_PROTOBUF)),
            _ => Ok(()),
        })?;
    } else {
        let mut stop = Stop::default();
        let request = Request {
            sink: &mut sink,
            stop: &mut stop,
        };
        if !walk(body, request) {
            return Err(stop.or(NOT_JSON));
        }
    }
    Ok(Received {
        facts: sink.facts,
        reported_drops: 0,
        dropped_properties: sink.dropped,
        ..Received::default()
    })
}

/// What the records of a request became.
#[derive(Default)]
struct Sink {
    facts: Vec<Fact>,
    dropped: u64,
}

impl Sink {
    fn record(
        &mut self,
        bytes: usize,
        decode: impl FnOnce() -> Result<LogRecord, Refused>,
    ) -> Result<(), Refused> {
        let at = self.facts.len();
        admit(at, "log record", bytes)?;
        let f = decode()
            .and_then(|record| fact(record, &mut self.dropped))
            .map_err(|e| e.at("log record", at))?;
        self.facts.push(f);
        Ok(())
    }

    /// The resource's columns, for the records since `from` (a resource may come after its
    /// records in the body).
    fn resource(&mut self, from: usize, resource: Option<&Resource>) -> Result<(), Refused> {
        let resource = attributes(resource.map_or(&[][..], |r| r.attributes.as_slice()));
        let r = Props::new(&resource);
        for (i, f) in self.facts[from..].iter_mut().enumerate() {
            f.installation = r.required("service.instance.id")?;
            f.product = r.required("service.name")?;
            f.version = r.required("service.version")?;
            f.os = r.text("os.type")?.unwrap_or_default();
            f.ci = r.bool("agent_telemetry.ci")?.unwrap_or(false);
            f.check().map_err(|e| e.at("log record", from + i))?;
        }
        Ok(())
    }
}

/// Calls `each` with every field of the protobuf message `buf`: its number, and its bytes if it
/// is length-delimited (`None` for any other wire type).
fn fields<'a>(
    mut buf: &'a [u8],
    mut each: impl FnMut(u32, Option<&'a [u8]>) -> Result<(), Refused>,
) -> Result<(), Refused> {
    let bad = |_| Refused::new(NOT_PROTOBUF);
    while !buf.is_empty() {
        let (tag, wire) = decode_key(&mut buf).map_err(bad)?;
        if wire == WireType::LengthDelimited {
            let len = decode_varint(&mut buf).map_err(bad)?;
            if len > buf.len() as u64 {
                return Err(Refused::new(NOT_PROTOBUF));
            }
            let (field, rest) = buf.split_at(len as usize);
            buf = rest;
            each(tag, Some(field))?;
        } else {
            skip_field(wire, tag, &mut buf, DecodeContext::default()).map_err(bad)?;
            each(tag, None)?;
        }
    }
    Ok(())
}

/// `ResourceLogs`: its resource (1) and its scopes (2).
fn protobuf_resource_logs(buf: &[u8], sink: &mut Sink) -> Result<(), Refused> {
    let from = sink.facts.len();
    let mut resource: Option<Resource> = None;
    let mut resource_bytes = 0;
    fields(buf, |tag, field| match (tag, field) {
        (1, Some(bytes)) => {
            resource_bytes += bytes.len();
            if resource_bytes > MAX_RECORD_BYTES {
                return Err(resource_too_large());
            }
            resource
                .get_or_insert_default()
                .merge(bytes)
                .map_err(|_| Refused::new(NOT_PROTOBUF))
        }
        (2, Some(scope_logs)) => fields(scope_logs, |tag, field| match (tag, field) {
            (2, Some(bytes)) => sink.record(bytes.len(), || {
                LogRecord::decode(bytes).map_err(|_| Refused::new(NOT_PROTOBUF))
            }),
            (2, None) => Err(Refused::new(NOT_PROTOBUF)),
            _ => Ok(()),
        }),
        (1 | 2, None) => Err(Refused::new(NOT_PROTOBUF)),
        _ => Ok(()),
    })?;
    sink.resource(from, resource.as_ref())
}

fn resource_too_large() -> Refused {
    Refused::too_large(format!(
        "a resource is larger than {} KiB",
        MAX_RECORD_BYTES >> 10
    ))
}

/// OTLP/JSON's `ExportLogsServiceRequest`: unknown fields are ignored, as the message types'
/// own serde does.
struct Request<'r> {
    sink: &'r mut Sink,
    stop: &'r mut Stop,
}

impl<'de> Visitor<'de> for Request<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an export request")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let (sink, stop) = (self.sink, self.stop);
        while let Some(key) = map.next_key::<String>()? {
            if key == "resourceLogs" {
                map.next_value_seed(List(ResourceLogs {
                    sink: &mut *sink,
                    stop: &mut *stop,
                }))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(true)
    }
}

/// A list of `T`, each element walked with a fresh `T` over the same sink.
struct List<T>(T);

/// A message walked over a sink: what [`List`] makes one of per element.
trait Walked<'de>: Sized {
    /// The same walk, over the same sink, for the next element.
    fn again(&mut self) -> impl DeserializeSeed<'de, Value = ()> + '_;
}

impl<'de, T: Walked<'de>> DeserializeSeed<'de> for List<T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, T: Walked<'de>> Visitor<'de> for List<T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self.0.again())?.is_some() {}
        Ok(())
    }
}

impl<'de> Walked<'de> for ResourceLogs<'_> {
    fn again(&mut self) -> impl DeserializeSeed<'de, Value = ()> + '_ {
        ResourceLogs {
            sink: &mut *self.sink,
            stop: &mut *self.stop,
        }
    }
}

impl<'de> Walked<'de> for ScopeLogs<'_> {
    fn again(&mut self) -> impl DeserializeSeed<'de, Value = ()> + '_ {
        ScopeLogs {
            sink: &mut *self.sink,
            stop: &mut *self.stop,
        }
    }
}

struct ResourceLogs<'r> {
    sink: &'r mut Sink,
    stop: &'r mut Stop,
}

impl<'de> DeserializeSeed<'de> for ResourceLogs<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ResourceLogs<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("resource logs")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (sink, stop) = (self.sink, self.stop);
        let from = sink.facts.len();
        let mut resource = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "resource" => {
                    let raw = map.next_value::<&RawValue>()?;
                    if raw.get().len() > MAX_RECORD_BYTES {
                        return Err(stop.set(resource_too_large()));
                    }
                    resource = serde_json::from_str::<Option<Resource>>(raw.get())
                        .map_err(|_| stop.set::<A::Error>(Refused::new(NOT_JSON)))?;
                }
                "scopeLogs" => map.next_value_seed(List(ScopeLogs {
                    sink: &mut *sink,
                    stop: &mut *stop,
                }))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        sink.resource(from, resource.as_ref())
            .map_err(|refused| stop.set(refused))
    }
}

struct ScopeLogs<'r> {
    sink: &'r mut Sink,
    stop: &'r mut Stop,
}

impl<'de> DeserializeSeed<'de> for ScopeLogs<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ScopeLogs<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("scope logs")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (sink, stop) = (self.sink, self.stop);
        while let Some(key) = map.next_key::<String>()? {
            if key == "logRecords" {
                map.next_value_seed(Each {
                    each: |raw: &RawValue| {
                        sink.record(raw.get().len(), || {
                            serde_json::from_str(raw.get()).map_err(|_| Refused::new(NOT_JSON))
                        })
                    },
                    stop: &mut *stop,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

fn fact(mut record: LogRecord, dropped: &mut u64) -> Result<Fact, Refused> {
    let kind = record
        .event_name
        .strip_prefix("agent_telemetry.")
        .and_then(known_kind)
        .ok_or_else(|| Refused::new("not an agent_telemetry event"))?;
    let nanos = if record.time_unix_nano != 0 {
        record.time_unix_nano
    } else {
        record.observed_time_unix_nano
    };
    let attributes = attributes(&record.attributes);
    let a = Props::new(&attributes);
    let mut f = Fact {
        id: a.required("log.record.uid")?,
        // Nanoseconds in a u64 are always within i64 milliseconds.
        occurred_ms: (nanos / 1_000_000) as i64,
        kind,
        ..Fact::default()
    };
    let session = a.text("gen_ai.conversation.id")?;
    let outcome = a.text("agent_telemetry.outcome")?;
    match kind {
        "command" => {
            f.subject = Some(a.required("agent_telemetry.command.action")?);
            f.outcome = outcome;
        }
        "tool_call" => {
            f.subject = Some(a.required("gen_ai.tool.name")?);
            f.session = session;
            f.duration_ms = a.int("agent_telemetry.duration_ms")?;
            f.outcome = outcome;
        }
        "token_usage" | "session_cost" => {
            f.subject = a.text("gen_ai.request.model")?;
            f.session = session;
            f.input_tokens = a.int("gen_ai.usage.input_tokens")?;
            f.output_tokens = a.int("gen_ai.usage.output_tokens")?;
            f.cache_read_tokens = a.int("gen_ai.usage.cache_read.input_tokens")?;
            f.cache_write_tokens = a.int("gen_ai.usage.cache_creation.input_tokens")?;
            f.cost_usd = a.cost("agent_telemetry.cost_usd")?;
        }
        "session_start" => f.session = session,
        "session_end" => {
            f.session = session;
            f.outcome = outcome;
            f.duration_ms = a.int("agent_telemetry.session.duration_ms")?;
            f.input_tokens = a.int("gen_ai.usage.input_tokens")?;
            f.output_tokens = a.int("gen_ai.usage.output_tokens")?;
            f.cost_usd = a.cost("agent_telemetry.cost_usd")?;
        }
        "session_failure" => {
            f.session = session;
            f.subject = a.text("error.type")?;
        }
        "server" => f.subject = a.text("agent_telemetry.server.state")?,
        "agent_registered" => f.subject = a.text("gen_ai.agent.name")?,
        "task" => {
            f.subject = a.text("agent_telemetry.task.state")?;
            f.duration_ms = a.int("agent_telemetry.duration_ms")?;
        }
        "task_session_completed" => {
            f.subject = a.text("gen_ai.request.model")?;
            f.outcome = success(a.bool("agent_telemetry.is_error")?.map(|error| !error));
            f.duration_ms = a.int("agent_telemetry.duration_ms")?;
        }
        "workflow" => {
            f.subject = a.text("agent_telemetry.workflow.state")?;
            f.duration_ms = a.int("agent_telemetry.duration_ms")?;
        }
        "schedule" => f.subject = a.text("agent_telemetry.schedule.state")?,
        _ => {
            f.session = session;
            f.subject = a.text("agent_telemetry.compaction.trigger")?;
        }
    }
    *dropped += bound(&mut record, &a.read());
    f.body =
        serde_json::to_string(&record).map_err(|_| Refused::new("a record cannot be stored"))?;
    Ok(f)
}

/// Bounds what `record` stores, as `super::keep` does for the JSON formats: every attribute
/// the report read (the last of each name, the one it read), and of the others the storable
/// ones within the bounds; no body (ours have none), no over-long severity or ids. Returns how
/// many were dropped.
fn bound(record: &mut LogRecord, read: &[&str]) -> u64 {
    let mut dropped = 0;
    let (mut extra, mut bytes) = (0usize, 0usize);
    let mut seen: Vec<&str> = Vec::new();
    let mut kept: Vec<KeyValue> = Vec::new();
    for kv in std::mem::take(&mut record.attributes).into_iter().rev() {
        if let Some(name) = read.iter().find(|r| **r == kv.key) {
            // Read by the report, it is kept whole, so it must be a storable value: a map or
            // bytes under a name the report reads (which it takes as missing) could otherwise
            // carry far more than its wire size.
            if !seen.contains(name) && storable_any(kv.value.as_ref()) {
                seen.push(name);
                kept.push(kv);
            } else {
                dropped += 1;
            }
            continue;
        }
        let fits = kv.key.len() <= MAX_TEXT
            && storable_any(kv.value.as_ref())
            && extra < MAX_EXTRA_PROPERTIES;
        let size = kv.key.len() + kv.value.as_ref().map_or(0, |v| v.encoded_len());
        if fits && bytes + size <= MAX_EXTRA_BYTES {
            extra += 1;
            bytes += size;
            kept.push(kv);
        } else {
            dropped += 1;
        }
    }
    kept.reverse();
    record.attributes = kept;
    if record.body.take().is_some() {
        dropped += 1;
    }
    if record.severity_text.len() > MAX_TEXT {
        record.severity_text.clear();
        dropped += 1;
    }
    for (id, len) in [(&mut record.trace_id, 16), (&mut record.span_id, 8)] {
        if id.len() > len {
            id.clear();
            dropped += 1;
        }
    }
    dropped
}

/// [`super::storable`] for an OTLP value: maps and bytes are not (nothing of ours is either).
fn storable_any(value: Option<&AnyValue>) -> bool {
    match value.and_then(|v| v.value.as_ref()) {
        None => true,
        Some(Any::KvlistValue(_) | Any::BytesValue(_)) => false,
        Some(Any::ArrayValue(a))
            if a.values.iter().any(|v| {
                matches!(
                    v.value,
                    Some(Any::ArrayValue(_) | Any::KvlistValue(_) | Any::BytesValue(_))
                )
            }) =>
        {
            false
        }
        Some(v) => storable(&any(v)),
    }
}

/// OTLP attributes as a JSON object, so that they are read like the other formats'
/// properties.
/// The attributes by name; one under an older GenAI name (a sender set to `otlp-names =
/// older`, or an older SDK) is read under its current name, unless that is there too.
fn attributes(list: &[KeyValue]) -> Map<String, Value> {
    let mut map: Map<String, Value> = list
        .iter()
        .map(|kv| {
            let value = kv
                .value
                .as_ref()
                .and_then(|v| v.value.as_ref())
                .map_or(Value::Null, any);
            (kv.key.clone(), value)
        })
        .collect();
    for (current, older) in agent_telemetry_contract::otlp_names::OLDER {
        if !map.contains_key(*current)
            && let Some(value) = map.remove(*older)
        {
            map.insert(current.to_string(), value);
        }
    }
    map
}

fn any(value: &Any) -> Value {
    match value {
        Any::StringValue(s) => Value::String(s.clone()),
        Any::BoolValue(b) => Value::Bool(*b),
        Any::IntValue(i) => Value::from(*i),
        Any::DoubleValue(d) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
        Any::ArrayValue(a) => Value::Array(
            a.values
                .iter()
                .map(|v| v.value.as_ref().map_or(Value::Null, any))
                .collect(),
        ),
        // Nothing of ours is a map or bytes: kept out of reach of the report.
        _ => Value::Null,
    }
}
