//! OTLP/HTTP logs (`POST /v1/logs`) for an OpenTelemetry Collector: one `LogRecord` per event,
//! as protobuf (`application/x-protobuf`) or as the OTLP/JSON mapping (`application/json`),
//! with the message types of the `opentelemetry-proto` crate.
//!
//! The envelope is the Resource (`service.name`, `service.version`, `service.instance.id`
//! for the installation, `os.type`, `host.arch`, `deployment.environment.name`). Each record
//! has `eventName` `agent_telemetry.<type>`, `timeUnixNano`, severity INFO, no body, and
//! attributes named after the OpenTelemetry semantic conventions where they have a name for
//! the thing (`gen_ai.*`, `error.type`, `log.record.uid` for the event id), and
//! `agent_telemetry.*` where they do not. Every value is one the privacy rules let through
//! already: this only renames.

use std::borrow::Cow;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::{Encoded, darwin_os, one_request, unix_millis};
use crate::config::{OtlpNames, OtlpProtocol};
use crate::contract::catalogue::{Field, Value as FieldValue, Visitor};
use crate::wire::{Batch, Data, Event, SessionTotals};

pub const PROTOBUF: &str = "application/x-protobuf";
pub const JSON: &str = "application/json";

/// The instrumentation scope every record is reported under.
pub const SCOPE: &str = "agent-telemetry";

/// The batch as one export request. Every event kind has a record, so nothing is left out.
pub fn encode(
    batch: &Batch,
    protocol: OtlpProtocol,
    names: OtlpNames,
) -> Result<Encoded, serde_json::Error> {
    let mut request = export_request(batch);
    if names == OtlpNames::Older {
        to_older_names(&mut request);
    }
    let (content_type, body) = match protocol {
        OtlpProtocol::Protobuf => (PROTOBUF, request.encode_to_vec()),
        OtlpProtocol::Json => (JSON, serde_json::to_vec(&request)?),
    };
    Ok(Encoded {
        content_type,
        requests: one_request(batch, body, batch.events.len()),
        left_out: 0,
    })
}

/// Records grouped by resource: the envelope is the same for the events of one instance, but
/// a spooled batch is read back as it was written, so each run of equal envelopes gets its own.
pub fn export_request(batch: &Batch) -> ExportLogsServiceRequest {
    let mut resource_logs: Vec<ResourceLogs> = Vec::new();
    let mut last: Option<&Event> = None;
    for event in &batch.events {
        let same = last.is_some_and(|l| same_envelope(l, event));
        if !same {
            resource_logs.push(ResourceLogs {
                resource: Some(resource(event)),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: SCOPE.to_string(),
                        version: env!("CARGO_PKG_VERSION").to_string(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        last = Some(event);
        if let Some(logs) = resource_logs.last_mut() {
            logs.scope_logs[0].log_records.push(log_record(event));
        }
    }
    ExportLogsServiceRequest { resource_logs }
}

/// Renames every attribute the GenAI conventions renamed back to its older name (see
/// `contract::otlp_names`), for collectors that expect those.
fn to_older_names(request: &mut ExportLogsServiceRequest) {
    let rename = |attributes: &mut Vec<KeyValue>| {
        for kv in attributes {
            if let Some(old) = crate::contract::otlp_names::older_of(&kv.key) {
                kv.key = old.to_string();
            }
        }
    };
    for logs in &mut request.resource_logs {
        if let Some(resource) = &mut logs.resource {
            rename(&mut resource.attributes);
        }
        for scope in &mut logs.scope_logs {
            for record in &mut scope.log_records {
                rename(&mut record.attributes);
            }
        }
    }
}

fn same_envelope(a: &Event, b: &Event) -> bool {
    (
        &a.source,
        &a.environment,
        &a.installation_id,
        &a.product,
        &a.product_version,
        &a.os,
        &a.arch,
        a.ci,
        &a.tags,
    ) == (
        &b.source,
        &b.environment,
        &b.installation_id,
        &b.product,
        &b.product_version,
        &b.os,
        &b.arch,
        b.ci,
        &b.tags,
    )
}

fn resource(e: &Event) -> Resource {
    let mut a = Attributes::default();
    a.str("service.name", &e.product);
    a.str("service.version", &e.product_version);
    a.str("service.instance.id", &e.installation_id);
    a.str("os.type", darwin_os(&e.os));
    a.str("host.arch", host_arch(&e.arch));
    a.str("deployment.environment.name", &e.environment);
    a.str("agent_telemetry.source", &e.source);
    a.bool("agent_telemetry.ci", e.ci);
    // The host's custom tags, under their own names; the envelope's keys win.
    for (key, value) in &e.tags {
        if !a.0.iter().any(|kv| &kv.key == key) {
            a.str(key, value);
        }
    }
    Resource {
        attributes: a.0,
        ..Default::default()
    }
}

fn log_record(e: &Event) -> LogRecord {
    let nanos = unix_millis(&e.occurred_at).saturating_mul(1_000_000);
    let mut a = Attributes::default();
    a.str("log.record.uid", &e.event_id);
    a.int("agent_telemetry.schema_version", e.schema_version.into());
    if let Data::ToolCall { .. } = e.data {
        a.str("gen_ai.operation.name", "execute_tool");
    }
    e.data.visit(&mut a);
    LogRecord {
        time_unix_nano: nanos,
        observed_time_unix_nano: nanos,
        severity_number: SeverityNumber::Info as i32,
        severity_text: "INFO".to_string(),
        event_name: format!("agent_telemetry.{}", e.data.kind()),
        attributes: a.0,
        ..Default::default()
    }
}

/// The attribute each field is sent under where it is not `agent_telemetry.<kind>.<field>`:
/// the OpenTelemetry semantic conventions' name where they have one (`gen_ai.*`, `error.type`,
/// `process.exit.code`), else a name shared by the kinds that carry the field. `*` is any kind.
const NAMES: &[(&str, &str, &str)] = &[
    ("*", "session_id", "gen_ai.conversation.id"),
    ("*", "agent", "gen_ai.agent.name"),
    ("*", "model", "gen_ai.request.model"),
    ("*", "provider", "gen_ai.provider.name"),
    ("*", "input_tokens", "gen_ai.usage.input_tokens"),
    ("*", "output_tokens", "gen_ai.usage.output_tokens"),
    (
        "*",
        "reasoning_tokens",
        "gen_ai.usage.reasoning.output_tokens",
    ),
    ("*", "cost_usd", "agent_telemetry.cost_usd"),
    ("*", "outcome", "agent_telemetry.outcome"),
    ("*", "error", "error.type"),
    ("*", "duration_ms", "agent_telemetry.duration_ms"),
    ("*", "task_id", "agent_telemetry.task.id"),
    ("*", "is_error", "agent_telemetry.is_error"),
    ("tool_call", "tool", "gen_ai.tool.name"),
    (
        "token_usage",
        "cached_tokens",
        "gen_ai.usage.cache_read.input_tokens",
    ),
    (
        "session_end",
        "tasks_processed",
        "agent_telemetry.session.tasks_processed",
    ),
    (
        "session_cost",
        "cache_read_tokens",
        "gen_ai.usage.cache_read.input_tokens",
    ),
    (
        "session_cost",
        "cache_write_tokens",
        "gen_ai.usage.cache_creation.input_tokens",
    ),
    (
        "session_cost",
        "thinking_tokens",
        "agent_telemetry.usage.thinking_tokens",
    ),
    ("session_cost", "turns", "agent_telemetry.session.turns"),
    (
        "session_failure",
        "was_rate_limited",
        "agent_telemetry.was_rate_limited",
    ),
    ("agent_registered", "role", "agent_telemetry.agent.role"),
    (
        "agent_registered",
        "capabilities",
        "agent_telemetry.agent.capabilities",
    ),
    (
        "agent_registered",
        "is_reconnect",
        "agent_telemetry.agent.is_reconnect",
    ),
    ("task_session_completed", "exit_code", "process.exit.code"),
    (
        "task_session_completed",
        "harness",
        "agent_telemetry.harness",
    ),
    ("workflow", "workflow_id", "agent_telemetry.workflow.id"),
    ("schedule", "schedule_type", "agent_telemetry.schedule.type"),
];

/// A field's attribute name: from [`NAMES`], else `agent_telemetry.<kind>.<field>`.
fn attribute_name(field: &Field) -> Cow<'static, str> {
    let named = |kind: &str| {
        NAMES
            .iter()
            .find(|(k, f, _)| *k == kind && *f == field.name)
            .map(|(_, _, name)| Cow::Borrowed(*name))
    };
    named(field.kind)
        .or_else(|| named("*"))
        .unwrap_or_else(|| Cow::Owned(format!("agent_telemetry.{}.{}", field.kind, field.name)))
}

impl Visitor for Attributes {
    fn field(&mut self, field: &'static Field, value: FieldValue<'_>) {
        match value {
            FieldValue::Totals(totals) => self.totals(totals),
            FieldValue::Str(v) | FieldValue::Enum(v) => self.str(&attribute_name(field), v),
            FieldValue::Strs(v) => self.strs(&attribute_name(field), v),
            FieldValue::UInt(v) => self.int(&attribute_name(field), v),
            FieldValue::Int(v) => self.push(&attribute_name(field), Value::IntValue(v)),
            FieldValue::Float(v) => self.double(&attribute_name(field), v),
            FieldValue::Bool(v) => self.bool(&attribute_name(field), v),
        }
    }
}

impl Attributes {
    /// A session's totals, each under its own name.
    fn totals(&mut self, totals: &SessionTotals) {
        if let Some(ms) = totals.duration_ms {
            self.int("agent_telemetry.session.duration_ms", ms);
        }
        self.int("agent_telemetry.session.tool_calls", totals.tool_calls);
        self.int(
            "agent_telemetry.session.tool_failures",
            totals.tool_failures,
        );
        self.int("gen_ai.usage.input_tokens", totals.input_tokens);
        self.int("gen_ai.usage.output_tokens", totals.output_tokens);
        self.double("agent_telemetry.cost_usd", totals.cost_usd);
        self.int("agent_telemetry.session.error_count", totals.error_count);
    }
}

/// OpenTelemetry's `host.arch` values, from Rust's `std::env::consts::ARCH`.
fn host_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm32",
        "powerpc" => "ppc32",
        "powerpc64" => "ppc64",
        other => other,
    }
}

#[derive(Default)]
struct Attributes(Vec<KeyValue>);

impl Attributes {
    fn push(&mut self, key: &str, value: Value) {
        self.0.push(KeyValue {
            key: key.to_string(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        });
    }

    fn str(&mut self, key: &str, value: &str) {
        self.push(key, Value::StringValue(value.to_string()));
    }

    fn strs(&mut self, key: &str, values: &[String]) {
        let values = values
            .iter()
            .map(|v| AnyValue {
                value: Some(Value::StringValue(v.clone())),
            })
            .collect();
        self.push(key, Value::ArrayValue(ArrayValue { values }));
    }

    fn int(&mut self, key: &str, value: u64) {
        self.push(
            key,
            Value::IntValue(i64::try_from(value).unwrap_or(i64::MAX)),
        );
    }

    fn double(&mut self, key: &str, value: f64) {
        self.push(key, Value::DoubleValue(value));
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.push(key, Value::BoolValue(value));
    }
}
