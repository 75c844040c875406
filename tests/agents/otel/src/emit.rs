//! What the OpenTelemetry fixtures emit, through `wasi:otel` (each binary generates the
//! bindings of its own world at its crate root). It ends the spans of one agent session with
//! the GenAI semantic conventions (an `invoke_agent` span with a model call and a tool call
//! under it, the tool call's span ended twice as docker-agent does), a workflow and an
//! agent's creation, plus a span of no GenAI operation, a log record and a metrics export.
//!
//! Every secret goes into a span's content attributes (messages, instructions, tool
//! arguments and results), its name, an attribute outside the mapping, a span event, the
//! names the mapping does read (tool, model, agent, conversation), `error.type`, a log record
//! and a metric's attributes.

use crate::wasi::otel::tracing::Datetime;
use crate::wasi::otel::{logs, metrics, tracing, types};

fn kv(key: &str, value: serde_json::Value) -> types::KeyValue {
    types::KeyValue {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn text(key: &str, value: &str) -> types::KeyValue {
    kv(key, serde_json::Value::from(value))
}

fn at(ms: u64) -> Datetime {
    Datetime {
        seconds: 1_700_000_000 + ms / 1000,
        nanoseconds: ((ms % 1000) * 1_000_000) as u32,
    }
}

fn context(trace: &str, span: u64) -> tracing::SpanContext {
    tracing::SpanContext {
        trace_id: trace.to_string(),
        span_id: format!("{span:016x}"),
        trace_flags: tracing::TraceFlags::SAMPLED,
        is_remote: false,
        trace_state: Vec::new(),
    }
}

fn scope() -> types::InstrumentationScope {
    types::InstrumentationScope {
        name: "fixture-otel".to_string(),
        version: Some("1.0.0".to_string()),
        schema_url: None,
        attributes: Vec::new(),
    }
}

/// Ends a span (after starting it) named `name`, from `start` to `end` ms, with `attributes`.
fn end(
    trace: &str,
    id: u64,
    name: &str,
    (start, end): (u64, u64),
    status: tracing::Status,
    attributes: Vec<types::KeyValue>,
    events: Vec<tracing::Event>,
) {
    let context = context(trace, id);
    tracing::on_start(&context);
    tracing::on_end(&tracing::SpanData {
        span_context: context,
        parent_span_id: String::new(),
        span_kind: tracing::SpanKind::Internal,
        name: name.to_string(),
        start_time: at(start),
        end_time: at(end),
        attributes,
        events,
        links: Vec::new(),
        status,
        instrumentation_scope: scope(),
        dropped_attributes: 0,
        dropped_events: 0,
        dropped_links: 0,
    });
}

/// Emits everything, with `secrets` put everywhere OpenTelemetry has room.
pub fn run(secrets: &[String]) {
    let host = tracing::outer_span_context();
    println!(
        "outer span context: trace {} span {} sampled {}",
        host.trace_id,
        host.span_id,
        host.trace_flags.contains(tracing::TraceFlags::SAMPLED)
    );
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let ok = || tracing::Status::Ok;
    let messages = serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": "please summarise my contract"}]}]);

    // One session: a model call and a tool call (its span ended twice, as docker-agent's
    // runtime.tool.call and runtime.tool.handler are) under an invoke_agent span.
    end(
        trace,
        2,
        "chat gpt-4o",
        (100, 900),
        ok(),
        vec![
            text("gen_ai.operation.name", "chat"),
            text("gen_ai.provider.name", "openai"),
            text("gen_ai.request.model", "gpt-4o"),
            text("gen_ai.response.model", "gpt-4o-2024-08-06"),
            text("gen_ai.conversation.id", "conv-fixture"),
            text("gen_ai.agent.name", "planner"),
            kv("gen_ai.usage.input_tokens", 1200.into()),
            kv("gen_ai.usage.output_tokens", 300.into()),
            kv("gen_ai.usage.cache_read.input_tokens", 100.into()),
            kv("gen_ai.usage.reasoning.output_tokens", 50.into()),
            kv("gen_ai.input.messages", messages.clone()),
            text("gen_ai.system_instructions", "You are a helpful lawyer."),
        ],
        Vec::new(),
    );
    for id in [3, 4] {
        end(
            trace,
            id,
            "execute_tool read_file",
            (1000, 1250),
            tracing::Status::Error("no such file".into()),
            vec![
                text("gen_ai.operation.name", "execute_tool"),
                text("gen_ai.tool.name", "read_file"),
                text("gen_ai.tool.call.id", "call-1"),
                text("gen_ai.conversation.id", "conv-fixture"),
                text("gen_ai.agent.name", "planner"),
                text(
                    "gen_ai.tool.call.arguments",
                    "{\"path\":\"/home/alice/contract.pdf\"}",
                ),
                text("error.type", "FileNotFoundError"),
            ],
            Vec::new(),
        );
    }
    end(
        trace,
        1,
        "invoke_agent planner",
        (0, 2000),
        ok(),
        vec![
            text("gen_ai.operation.name", "invoke_agent"),
            text("gen_ai.conversation.id", "conv-fixture"),
            text("gen_ai.agent.name", "planner"),
        ],
        Vec::new(),
    );
    end(
        trace,
        5,
        "invoke_workflow nightly",
        (0, 3000),
        ok(),
        vec![
            text("gen_ai.operation.name", "invoke_workflow"),
            text("gen_ai.workflow.name", "nightly"),
        ],
        Vec::new(),
    );
    end(
        trace,
        6,
        "create_agent reviewer",
        (0, 10),
        ok(),
        vec![
            text("gen_ai.operation.name", "create_agent"),
            text("gen_ai.agent.name", "reviewer"),
        ],
        Vec::new(),
    );
    end(
        trace,
        7,
        "GET /contracts",
        (0, 10),
        ok(),
        vec![text("http.route", "/contracts")],
        Vec::new(),
    );
    let mut spans = 8;

    for (i, secret) in secrets.iter().enumerate() {
        let s = secret.as_str();
        let call = format!("secret-call-{i}");
        let event = tracing::Event {
            name: s.to_string(),
            time: at(5),
            attributes: vec![text("gen_ai.prompt", s)],
        };
        end(
            trace,
            100 + i as u64,
            &format!("execute_tool {s}"),
            (0, 42),
            tracing::Status::Error(s.into()),
            vec![
                text("gen_ai.operation.name", "execute_tool"),
                text("gen_ai.tool.name", s),
                text("gen_ai.tool.call.id", &call),
                text("gen_ai.conversation.id", s),
                text("gen_ai.agent.name", s),
                text("gen_ai.tool.call.arguments", s),
                text("gen_ai.tool.call.result", s),
                text("error.type", s),
                text("user.note", s),
                text(s, s),
            ],
            vec![event],
        );
        end(
            trace,
            200 + i as u64,
            &format!("chat {s}"),
            (0, 42),
            ok(),
            vec![
                text("gen_ai.operation.name", "chat"),
                text("gen_ai.request.model", s),
                text("gen_ai.conversation.id", s),
                kv("gen_ai.usage.input_tokens", 7.into()),
                kv(
                    "gen_ai.input.messages",
                    serde_json::json!([{"role": "user", "content": s}]),
                ),
                text("gen_ai.output.messages", s),
                text("gen_ai.system_instructions", s),
                text("gen_ai.prompt.0.content", s),
                text("llm.completions.0.content", s),
            ],
            Vec::new(),
        );
        end(
            trace,
            300 + i as u64,
            s,
            (0, 1),
            ok(),
            vec![text("http.url", s)],
            Vec::new(),
        );
        spans += 3;
    }

    logs::on_emit(&logs::LogRecord {
        timestamp: Some(at(1)),
        observed_timestamp: None,
        severity_text: Some("INFO".to_string()),
        severity_number: Some(9),
        body: Some(serde_json::Value::from(secrets.join(" ")).to_string()),
        attributes: Some(
            secrets
                .iter()
                .map(|s| text("gen_ai.user.message", s))
                .collect(),
        ),
        event_name: Some("gen_ai.client.inference.operation.details".to_string()),
        resource: Some(types::Resource {
            attributes: secrets.iter().map(|s| text("host.name", s)).collect(),
            schema_url: None,
        }),
        instrumentation_scope: Some(scope()),
        trace_id: Some(trace.to_string()),
        span_id: None,
        trace_flags: None,
    });

    let point = |kind: &str, sum: f64| metrics::HistogramDataPoint {
        attributes: vec![
            text("gen_ai.token.type", kind),
            text("gen_ai.request.model", "gpt-4o"),
            text("gen_ai.operation.name", "chat"),
        ],
        count: 1,
        bounds: vec![],
        bucket_counts: vec![1],
        min: None,
        max: None,
        sum: metrics::MetricNumber::F64(sum),
        exemplars: vec![],
    };
    let exported = metrics::export(&metrics::ResourceMetrics {
        resource: types::Resource {
            attributes: std::iter::once(text("service.name", "fixture-otel"))
                .chain(secrets.iter().map(|s| text("process.command_line", s)))
                .collect(),
            schema_url: None,
        },
        scope_metrics: vec![metrics::ScopeMetrics {
            scope: scope(),
            metrics: vec![
                metrics::Metric {
                    name: "gen_ai.client.token.usage".to_string(),
                    description: String::new(),
                    unit: "{token}".to_string(),
                    data: metrics::MetricData::F64Histogram(metrics::Histogram {
                        data_points: vec![point("input", 1200.0), point("output", 300.0)],
                        start_time: at(0),
                        time: at(2000),
                        temporality: metrics::Temporality::Delta,
                    }),
                },
                metrics::Metric {
                    name: "app.requests".to_string(),
                    description: String::new(),
                    unit: "1".to_string(),
                    data: metrics::MetricData::U64Sum(metrics::Sum {
                        data_points: secrets
                            .iter()
                            .map(|s| metrics::SumDataPoint {
                                attributes: vec![text("url.full", s)],
                                value: metrics::MetricNumber::U64(1),
                                exemplars: vec![],
                            })
                            .collect(),
                        start_time: at(0),
                        time: at(2000),
                        temporality: metrics::Temporality::Cumulative,
                        is_monotonic: true,
                    }),
                },
            ],
        }],
    });
    println!("ended {spans} spans, emitted 1 log record, exported metrics: {exported:?}");
}
