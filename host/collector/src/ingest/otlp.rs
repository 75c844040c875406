//! OTLP/HTTP logs (`POST /v1/logs`), protobuf (`application/x-protobuf`) or the OTLP/JSON
//! mapping (`application/json`), decoded with the `opentelemetry-proto` message types. Each
//! record must be one of ours: `eventName` `agent_telemetry.<kind>` and its id in
//! `log.record.uid`; its Resource gives the installation, product, version and OS.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;
use serde_json::{Map, Value};

use super::{Fact, Props, Received, Refused, known_kind, success};

pub const PATH: &str = "/v1/logs";
pub const PROTOBUF: &str = "application/x-protobuf";
pub const JSON: &str = "application/json";

pub fn parse(body: &[u8], content_type: &str) -> Result<Received, Refused> {
    let request = if content_type == PROTOBUF {
        ExportLogsServiceRequest::decode(body)
            .map_err(|_| Refused::new("not an OTLP logs export request (protobuf)"))?
    } else {
        serde_json::from_slice::<ExportLogsServiceRequest>(body)
            .map_err(|_| Refused::new("not an OTLP logs export request (JSON)"))?
    };
    let mut facts = Vec::new();
    for logs in &request.resource_logs {
        let resource = attributes(
            logs.resource
                .as_ref()
                .map_or(&[][..], |r| r.attributes.as_slice()),
        );
        let r = Props(&resource);
        for scope in &logs.scope_logs {
            for record in &scope.log_records {
                let at = facts.len();
                let mut f =
                    fact(record).map_err(|e| Refused::new(format!("log record {at}: {e}")))?;
                f.installation = r.required("service.instance.id")?;
                f.product = r.required("service.name")?;
                f.version = r.required("service.version")?;
                f.os = r.text("os.type")?.unwrap_or_default();
                facts.push(f);
            }
        }
    }
    Ok(Received {
        facts,
        reported_drops: 0,
    })
}

fn fact(record: &LogRecord) -> Result<Fact, Refused> {
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
    let a = Props(&attributes);
    let mut f = Fact {
        id: a.required("log.record.uid")?,
        // Nanoseconds in a u64 are always within i64 milliseconds.
        occurred_ms: (nanos / 1_000_000) as i64,
        kind,
        body: serde_json::to_string(record)
            .map_err(|_| Refused::new("a record cannot be stored"))?,
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
    Ok(f)
}

/// OTLP attributes as a JSON object, so that they are read like the other formats'
/// properties.
fn attributes(list: &[KeyValue]) -> Map<String, Value> {
    list.iter()
        .map(|kv| {
            let value = kv
                .value
                .as_ref()
                .and_then(|v| v.value.as_ref())
                .map_or(Value::Null, any);
            (kv.key.clone(), value)
        })
        .collect()
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
