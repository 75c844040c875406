//! The host side of `wasi:otel@0.2.0-rc.2` (WebAssembly/wasi-otel, vendored in
//! `wit/deps/otel`) for the agents `run` runs: a span that ends, a log record, a metrics
//! export each goes through the [`Mapper`] to the agent's [`Recorder`], and what the mapping
//! dropped is counted there. The agent gets no network for it: its OpenTelemetry SDK's
//! exporter is this import.
//!
//! `outer-span-context` answers an invalid context (all-zero ids, not sampled): the host has
//! no span of its own around the agent, and tells it so rather than inventing one.

use wasmtime::component::{HasSelf, Linker};

use super::recorder::Recorder;
use crate::otel::mapping::{
    AttrValue, Attributes, Mapper, Origin, Span, SpanStatus, TOKEN_METRIC, TokenPoint,
};

mod bindings {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasi:otel/imports@0.2.0-rc.2",
        require_store_data_send: true,
        with: {
            // The clocks' types (wasi:otel names 0.2.0) are the same as WASI's own.
            "wasi:clocks/wall-clock": wasmtime_wasi::p2::bindings::clocks::wall_clock,
            "wasi:clocks/monotonic-clock": wasmtime_wasi::p2::bindings::clocks::monotonic_clock,
            "wasi:io/poll": wasmtime_wasi_io::bindings::wasi::io::poll,
        },
    });
}

use bindings::wasi::otel::{logs, metrics, tracing, types};

/// The import's side of an agent's store: the mapper and the recorder its events go to.
pub struct OtelImport {
    recorder: Box<dyn Recorder>,
    mapper: Mapper,
}

impl OtelImport {
    /// An import whose events go to `recorder`.
    pub fn new(recorder: impl Recorder) -> OtelImport {
        OtelImport {
            recorder: Box::new(recorder),
            mapper: Mapper::for_one_agent(),
        }
    }

    /// Hands `events` to the recorder, and what the mapping dropped to be counted.
    fn forward(&mut self, events: Vec<crate::event::Event>) {
        if !events.is_empty() {
            self.recorder.record_many(events);
        }
        let dropped = self.mapper.take_dropped();
        if dropped.total() > 0 {
            self.recorder.inbound_dropped(&dropped);
        }
    }
}

/// Adds `wasi:otel` to an agent linker whose state holds an [`OtelImport`].
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut OtelImport,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasSelf<OtelImport>>(linker, get)?;
    tracing::add_to_linker::<T, HasSelf<OtelImport>>(linker, get)?;
    logs::add_to_linker::<T, HasSelf<OtelImport>>(linker, get)?;
    metrics::add_to_linker::<T, HasSelf<OtelImport>>(linker, get)?;
    Ok(())
}

impl types::Host for OtelImport {}

impl tracing::Host for OtelImport {
    fn on_start(&mut self, _context: tracing::SpanContext) {
        // A span is mapped when it ends, with all it carries.
    }

    fn on_end(&mut self, span: tracing::SpanData) {
        let span = Span {
            name: span.name,
            trace_id: span.span_context.trace_id,
            start_unix_nanos: unix_nanos(&span.start_time),
            end_unix_nanos: unix_nanos(&span.end_time),
            status: match span.status {
                tracing::Status::Unset => SpanStatus::Unset,
                tracing::Status::Ok => SpanStatus::Ok,
                tracing::Status::Error(_) => SpanStatus::Error,
            },
            attributes: attributes(span.attributes),
            events_and_links: (span.events.len() + span.links.len()) as u64,
        };
        let mut events = Vec::new();
        self.mapper.span(&Origin::default(), &span, &mut events);
        self.forward(events);
    }

    fn outer_span_context(&mut self) -> tracing::SpanContext {
        tracing::SpanContext {
            trace_id: "0".repeat(32),
            span_id: "0".repeat(16),
            trace_flags: tracing::TraceFlags::empty(),
            is_remote: false,
            trace_state: Vec::new(),
        }
    }
}

impl logs::Host for OtelImport {
    fn on_emit(&mut self, data: logs::LogRecord) {
        if let Some(resource) = data.resource {
            self.mapper.resource(&attributes(resource.attributes));
        }
        self.mapper.logs(1);
        self.forward(Vec::new());
    }
}

impl metrics::Host for OtelImport {
    fn export(&mut self, export: metrics::ResourceMetrics) -> Result<(), metrics::Error> {
        use metrics::MetricData as D;
        let origin = self
            .mapper
            .resource(&attributes(export.resource.attributes));
        let mut events = Vec::new();
        for scope in export.scope_metrics {
            for metric in scope.metrics {
                let token_metric = metric.name == TOKEN_METRIC;
                let points: Vec<TokenPoint> = match metric.data {
                    D::F64Histogram(h) | D::U64Histogram(h) | D::S64Histogram(h) => {
                        let cumulative = h.temporality == metrics::Temporality::Cumulative;
                        let start = unix_nanos(&h.start_time);
                        h.data_points
                            .into_iter()
                            .map(|p| TokenPoint {
                                attributes: attributes(p.attributes),
                                sum: number(p.sum),
                                cumulative,
                                start_unix_nanos: start,
                            })
                            .collect()
                    }
                    D::F64Sum(s) | D::U64Sum(s) | D::S64Sum(s) => {
                        let cumulative = s.temporality == metrics::Temporality::Cumulative;
                        let start = unix_nanos(&s.start_time);
                        s.data_points
                            .into_iter()
                            .map(|p| TokenPoint {
                                attributes: attributes(p.attributes),
                                sum: number(p.value),
                                cumulative,
                                start_unix_nanos: start,
                            })
                            .collect()
                    }
                    D::F64Gauge(g) | D::U64Gauge(g) | D::S64Gauge(g) => {
                        self.mapper.other_metric_points(g.data_points.len() as u64);
                        continue;
                    }
                    D::F64ExponentialHistogram(e)
                    | D::U64ExponentialHistogram(e)
                    | D::S64ExponentialHistogram(e) => {
                        self.mapper.other_metric_points(e.data_points.len() as u64);
                        continue;
                    }
                };
                if token_metric {
                    self.mapper.token_points(&origin, &points, &mut events);
                } else {
                    self.mapper.other_metric_points(points.len() as u64);
                }
            }
        }
        self.forward(events);
        Ok(())
    }
}

fn unix_nanos(t: &wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime) -> u64 {
    t.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::from(t.nanoseconds))
}

fn number(n: metrics::MetricNumber) -> f64 {
    match n {
        metrics::MetricNumber::F64(f) => f,
        metrics::MetricNumber::S64(i) => i as f64,
        metrics::MetricNumber::U64(u) => u as f64,
    }
}

/// `wasi:otel` values are JSON (the WIT has no recursive types). Only the values the mapping
/// reads are decoded, and of those a string, number or boolean is kept; anything else
/// (content, arrays, maps, bytes, text that is not JSON) is `Other`, never read.
fn attributes(pairs: Vec<types::KeyValue>) -> Attributes {
    pairs
        .into_iter()
        .map(|kv| {
            if !crate::otel::mapping::is_read(&kv.key) {
                return (kv.key, AttrValue::Other);
            }
            let value = match serde_json::from_str::<serde_json::Value>(&kv.value) {
                Ok(serde_json::Value::String(s)) => AttrValue::Str(s),
                Ok(serde_json::Value::Bool(b)) => AttrValue::Bool(b),
                Ok(serde_json::Value::Number(n)) => match n.as_i64() {
                    Some(i) => AttrValue::Int(i),
                    None => n.as_f64().map_or(AttrValue::Other, AttrValue::Double),
                },
                _ => AttrValue::Other,
            };
            (kv.key, value)
        })
        .collect()
}
