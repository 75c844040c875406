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

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

use super::{Encoded, darwin_os, one_request, unix_millis};
use crate::config::OtlpProtocol;
use crate::wire::{Batch, Data, Event, name};

pub const PROTOBUF: &str = "application/x-protobuf";
pub const JSON: &str = "application/json";

/// The instrumentation scope every record is reported under.
pub const SCOPE: &str = "agent-telemetry";

/// The batch as one export request. Every event kind has a record, so nothing is left out.
pub fn encode(batch: &Batch, protocol: OtlpProtocol) -> Result<Encoded, serde_json::Error> {
    let request = export_request(batch);
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
    match &e.data {
        Data::Command {
            action,
            outcome,
            error,
            arg_count,
            flags,
        } => {
            a.str("agent_telemetry.command.action", action);
            a.str("agent_telemetry.outcome", &name(outcome));
            a.opt_str("error.type", error.map(|k| name(&k)).as_deref());
            a.int("agent_telemetry.command.arg_count", (*arg_count).into());
            a.strs("agent_telemetry.command.flags", flags);
        }
        Data::ToolCall {
            tool,
            session_id,
            agent,
            duration_ms,
            outcome,
            error,
        } => {
            a.str("gen_ai.operation.name", "execute_tool");
            a.str("gen_ai.tool.name", tool);
            a.opt_str("gen_ai.conversation.id", session_id.as_deref());
            a.opt_str("gen_ai.agent.name", agent.as_deref());
            a.int("agent_telemetry.duration_ms", *duration_ms);
            a.str("agent_telemetry.outcome", &name(outcome));
            a.opt_str("error.type", error.map(|k| name(&k)).as_deref());
        }
        Data::TokenUsage {
            model,
            session_id,
            agent,
            input_tokens,
            output_tokens,
            cached_tokens,
            reasoning_tokens,
            cost_usd,
        } => {
            a.str("gen_ai.request.model", model);
            a.opt_str("gen_ai.conversation.id", session_id.as_deref());
            a.opt_str("gen_ai.agent.name", agent.as_deref());
            a.int("gen_ai.usage.input_tokens", *input_tokens);
            a.int("gen_ai.usage.output_tokens", *output_tokens);
            a.int("gen_ai.usage.cache_read.input_tokens", *cached_tokens);
            a.int("agent_telemetry.usage.reasoning_tokens", *reasoning_tokens);
            a.opt_double("agent_telemetry.cost_usd", *cost_usd);
        }
        Data::SessionStart {
            session_id,
            agent,
            task_id,
        } => {
            a.str("gen_ai.conversation.id", session_id);
            a.opt_str("gen_ai.agent.name", agent.as_deref());
            a.opt_str("agent_telemetry.task.id", task_id.as_deref());
        }
        Data::SessionEnd {
            session_id,
            agent,
            task_id,
            outcome,
            error,
            tasks_processed,
            totals,
        } => {
            a.str("gen_ai.conversation.id", session_id);
            a.opt_str("gen_ai.agent.name", agent.as_deref());
            a.opt_str("agent_telemetry.task.id", task_id.as_deref());
            a.str("agent_telemetry.outcome", &name(outcome));
            a.opt_str("error.type", error.map(|k| name(&k)).as_deref());
            a.opt_int(
                "agent_telemetry.session.tasks_processed",
                tasks_processed.map(u64::from),
            );
            if let Some(ms) = totals.duration_ms {
                a.int("agent_telemetry.session.duration_ms", ms);
            }
            a.int("agent_telemetry.session.tool_calls", totals.tool_calls);
            a.int(
                "agent_telemetry.session.tool_failures",
                totals.tool_failures,
            );
            a.int("gen_ai.usage.input_tokens", totals.input_tokens);
            a.int("gen_ai.usage.output_tokens", totals.output_tokens);
            a.double("agent_telemetry.cost_usd", totals.cost_usd);
            a.int("agent_telemetry.session.error_count", totals.error_count);
        }
        Data::SessionCost {
            session_id,
            agent,
            model,
            cost_usd,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            reasoning_tokens,
            thinking_tokens,
            turns,
            is_error,
        } => {
            a.str("gen_ai.conversation.id", session_id);
            a.opt_str("gen_ai.agent.name", agent.as_deref());
            a.opt_str("gen_ai.request.model", model.as_deref());
            a.opt_double("agent_telemetry.cost_usd", *cost_usd);
            a.int("gen_ai.usage.input_tokens", *input_tokens);
            a.int("gen_ai.usage.output_tokens", *output_tokens);
            a.int("gen_ai.usage.cache_read.input_tokens", *cache_read_tokens);
            a.int(
                "gen_ai.usage.cache_creation.input_tokens",
                *cache_write_tokens,
            );
            a.int("agent_telemetry.usage.reasoning_tokens", *reasoning_tokens);
            a.int("agent_telemetry.usage.thinking_tokens", *thinking_tokens);
            a.opt_int("agent_telemetry.session.turns", turns.map(u64::from));
            a.bool("agent_telemetry.is_error", *is_error);
        }
        Data::SessionFailure {
            session_id,
            agent,
            error,
            was_rate_limited,
            provider,
        } => {
            a.str("gen_ai.conversation.id", session_id);
            a.opt_str("gen_ai.agent.name", agent.as_deref());
            a.str("error.type", &name(error));
            a.bool("agent_telemetry.was_rate_limited", *was_rate_limited);
            a.opt_str("gen_ai.provider.name", provider.as_deref());
        }
        Data::Server {
            state,
            uptime_ms,
            sessions_processed,
        } => {
            a.str("agent_telemetry.server.state", &name(state));
            a.opt_int("agent_telemetry.server.uptime_ms", *uptime_ms);
            a.opt_int(
                "agent_telemetry.server.sessions_processed",
                *sessions_processed,
            );
        }
        Data::AgentRegistered {
            agent,
            role,
            capabilities,
            is_reconnect,
        } => {
            a.str("gen_ai.agent.name", agent);
            a.opt_str("agent_telemetry.agent.role", role.as_deref());
            a.strs("agent_telemetry.agent.capabilities", capabilities);
            a.bool("agent_telemetry.agent.is_reconnect", *is_reconnect);
        }
        Data::Task {
            task_id,
            state,
            previous_state,
            agent,
            source,
            tags,
            has_parent,
            priority,
            duration_ms,
        } => {
            a.str("agent_telemetry.task.id", task_id);
            a.str("agent_telemetry.task.state", &name(state));
            a.opt_str(
                "agent_telemetry.task.previous_state",
                previous_state.map(|s| name(&s)).as_deref(),
            );
            a.opt_str("gen_ai.agent.name", agent.as_deref());
            a.opt_str("agent_telemetry.task.source", source.as_deref());
            a.strs("agent_telemetry.task.tags", tags);
            a.bool("agent_telemetry.task.has_parent", *has_parent);
            if let Some(p) = priority {
                a.int("agent_telemetry.task.priority", (*p).into());
            }
            if let Some(ms) = duration_ms {
                a.int("agent_telemetry.duration_ms", *ms);
            }
        }
        Data::TaskSessionCompleted {
            task_id,
            agent,
            exit_code,
            is_error,
            duration_ms,
            provider,
            harness,
            model,
        } => {
            a.str("agent_telemetry.task.id", task_id);
            a.opt_str("gen_ai.agent.name", agent.as_deref());
            a.push("process.exit.code", Value::IntValue((*exit_code).into()));
            a.bool("agent_telemetry.is_error", *is_error);
            a.opt_int("agent_telemetry.duration_ms", *duration_ms);
            a.opt_str("gen_ai.provider.name", provider.as_deref());
            a.opt_str("agent_telemetry.harness", harness.as_deref());
            a.opt_str("gen_ai.request.model", model.as_deref());
        }
        Data::Workflow {
            workflow_id,
            state,
            node_count,
            source,
            trigger,
            duration_ms,
            steps_completed,
            steps_failed,
        } => {
            a.str("agent_telemetry.workflow.id", workflow_id);
            a.str("agent_telemetry.workflow.state", &name(state));
            a.opt_int(
                "agent_telemetry.workflow.node_count",
                node_count.map(u64::from),
            );
            a.opt_str("agent_telemetry.workflow.source", source.as_deref());
            a.opt_str("agent_telemetry.workflow.trigger", trigger.as_deref());
            a.opt_int("agent_telemetry.duration_ms", *duration_ms);
            let steps = |n: &Option<u32>| n.map(u64::from);
            a.opt_int(
                "agent_telemetry.workflow.steps_completed",
                steps(steps_completed),
            );
            a.opt_int("agent_telemetry.workflow.steps_failed", steps(steps_failed));
        }
        Data::Schedule {
            state,
            schedule_type,
            triggered_workflows,
            was_recovered,
            consecutive_errors,
        } => {
            a.str("agent_telemetry.schedule.state", &name(state));
            a.opt_str("agent_telemetry.schedule.type", schedule_type.as_deref());
            a.bool(
                "agent_telemetry.schedule.triggered_workflows",
                *triggered_workflows,
            );
            a.bool("agent_telemetry.schedule.was_recovered", *was_recovered);
            a.opt_int(
                "agent_telemetry.schedule.consecutive_errors",
                consecutive_errors.map(u64::from),
            );
        }
        Data::Compaction {
            session_id,
            agent,
            trigger,
            pre_compact_tokens,
            context_total_tokens,
        } => {
            a.opt_str("gen_ai.conversation.id", session_id.as_deref());
            a.opt_str("gen_ai.agent.name", agent.as_deref());
            a.str("agent_telemetry.compaction.trigger", &name(trigger));
            a.int(
                "agent_telemetry.compaction.pre_compact_tokens",
                *pre_compact_tokens,
            );
            a.int(
                "agent_telemetry.compaction.context_total_tokens",
                *context_total_tokens,
            );
        }
    }
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

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(key, value);
        }
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

    fn opt_int(&mut self, key: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.int(key, value);
        }
    }

    fn double(&mut self, key: &str, value: f64) {
        self.push(key, Value::DoubleValue(value));
    }

    fn opt_double(&mut self, key: &str, value: Option<f64>) {
        if let Some(value) = value {
            self.double(key, value);
        }
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.push(key, Value::BoolValue(value));
    }
}
