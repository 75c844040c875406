//! OpenTelemetry in, through the relay, beside a plain OTLP receiver, in one run:
//! - `relay/direct-otlp-export`: an agent's OTLP/HTTP export of 1,000 GenAI spans (protobuf)
//!   to a loopback OTLP receiver that decodes the request and discards it: what exporting
//!   costs the agent with no relay;
//! - `relay/through-the-relay`: the same request to the relay's own server (`serve_otlp`, as
//!   `agent-telemetry relay` runs it), timed until the telemetry component holds the events it
//!   maps to (a status call answered behind them). Untimed: sending them on.
//!
//! Run: `cargo bench -p agent-telemetry-bench --bench relay`

use std::time::{Duration, Instant};

use agent_telemetry::otel::otlp::Limits;
use agent_telemetry::{Telemetry, TelemetryRuntime};
use agent_telemetry_collector::{Collector, EventStore};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Any};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

#[path = "common/settings.rs"]
mod common_settings;
use common_settings::settings;

/// Spans per export request (the OpenTelemetry SDKs' default batch is 512; 1,000 keeps the
/// relay's per-request work visible against the per-span work).
const SPANS: u64 = 1_000;

fn kv(key: &str, value: Any) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(value: &str) -> Any {
    Any::StringValue(value.to_string())
}

/// Half tool calls, half model calls, each with the content attributes an instrumentation
/// captures: the mapping reads some and drops the rest.
fn request() -> Vec<u8> {
    let spans = (0..SPANS)
        .map(|i| {
            let common = [
                kv("gen_ai.conversation.id", s(&format!("conv-{}", i / 50))),
                kv("gen_ai.agent.name", s("planner")),
            ];
            let attributes = if i % 2 == 0 {
                vec![
                    kv("gen_ai.operation.name", s("execute_tool")),
                    kv("gen_ai.tool.name", s("read_file")),
                    kv("gen_ai.tool.call.id", s(&format!("call-{i}"))),
                    kv("gen_ai.tool.call.arguments", s("{\"path\":\"/srv/app/README.md\"}")),
                    kv("gen_ai.tool.call.result", s("# app\nThe service that ...")),
                ]
            } else {
                vec![
                    kv("gen_ai.operation.name", s("chat")),
                    kv("gen_ai.provider.name", s("openai")),
                    kv("gen_ai.request.model", s("gpt-4o")),
                    kv("gen_ai.usage.input_tokens", Any::IntValue(1200)),
                    kv("gen_ai.usage.output_tokens", Any::IntValue(300)),
                    kv("gen_ai.input.messages", s("[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"summarise the README\"}]}]")),
                ]
            };
            Span {
                trace_id: vec![1; 16],
                span_id: (i + 1).to_be_bytes().to_vec(),
                name: "span".into(),
                start_time_unix_nano: 1_700_000_000_000_000_000,
                end_time_unix_nano: 1_700_000_000_250_000_000,
                attributes: attributes.into_iter().chain(common).collect(),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("bench-agent"))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// A loopback OTLP receiver: decodes each trace export and discards it.
async fn receiver() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |request: hyper::Request<hyper::body::Incoming>| async move {
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let decoded = ExportTraceServiceRequest::decode(body).unwrap();
                        std::hint::black_box(decoded.resource_spans.len());
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::new(),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A kept-alive HTTP/1.1 connection to `addr`.
async fn connect(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    sender
}

async fn export(sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>, body: &Bytes) {
    sender.ready().await.unwrap();
    let request = hyper::Request::post("/v1/traces")
        .header("host", "127.0.0.1")
        .header("content-type", "application/x-protobuf")
        .body(Full::new(body.clone()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let runtime = TelemetryRuntime::shared().unwrap();
    let db = tempfile::tempdir().unwrap();
    let collector = rt
        .block_on(Collector::start(
            "127.0.0.1:0".parse().unwrap(),
            EventStore::open(Some(&db.path().join("collector.sqlite3"))).unwrap(),
        ))
        .unwrap();
    let telemetry = rt
        .block_on(Telemetry::start_with(
            runtime,
            settings(collector.endpoint(), 1_000),
        ))
        .unwrap();
    let relay = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(agent_telemetry_cli::serve_otlp(
            listener,
            telemetry.clone(),
            Limits::default(),
            std::future::pending(),
        ));
        addr
    });
    let sink = rt.block_on(receiver());
    let body = Bytes::from(request());

    let mut group = c.benchmark_group("relay");
    group.throughput(Throughput::Elements(SPANS));
    group.sample_size(20);
    group.bench_function("direct-otlp-export", |b| {
        let mut sender = rt.block_on(connect(sink));
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                rt.block_on(export(&mut sender, &body));
            }
            start.elapsed()
        })
    });
    group.bench_function("through-the-relay", |b| {
        let mut sender = rt.block_on(connect(relay));
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                rt.block_on(export(&mut sender, &body));
                rt.block_on(telemetry.status());
                total += start.elapsed();
                rt.block_on(telemetry.flush(Duration::from_secs(30)));
            }
            total
        })
    });
    group.finish();
    rt.block_on(telemetry.shutdown(Duration::from_secs(5)));
    rt.block_on(collector.stop());
}

criterion_group! {
    name = relay;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = benches
}
criterion_main!(relay);
