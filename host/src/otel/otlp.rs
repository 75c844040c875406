//! OTLP/HTTP export requests (traces, metrics, logs), protobuf or OTLP/JSON, gzip or not,
//! decoded within bounds and handed to a [`Mapper`]: what the `relay` does with each request.
//!
//! A body is untrusted, and a small one can describe a great deal: an empty span is two bytes
//! of protobuf and a few hundred bytes decoded. So a request is bounded before anything is
//! decoded whole: its size (compressed and decompressed), then, in protobuf, the request is
//! walked message by message and each span or metric is decoded alone once it is known to be
//! within the count and size bounds; a log record is only counted (none is mapped). OTLP/JSON
//! is scanned for its number of objects and arrays before it is parsed. What lies past the
//! bounds is dropped and counted ([`Dropped::over_limit`]), and the answer says how much
//! (OTLP's partial success).

use std::io::Read;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value::Value as Any};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric::Data};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{Span as ProtoSpan, status::StatusCode};
use prost::Message;
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

use super::mapping::{
    AttrValue, Attributes, Mapper, Origin, Span, SpanStatus, TOKEN_METRIC, TokenPoint,
};
use crate::event::Event;

/// Which signal a request carries, by the path it was posted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// `/v1/traces`.
    Traces,
    /// `/v1/metrics`.
    Metrics,
    /// `/v1/logs`.
    Logs,
}

impl Signal {
    /// The signal posted to `path` (OTLP/HTTP's standard paths).
    pub fn from_path(path: &str) -> Option<Signal> {
        match path {
            "/v1/traces" => Some(Signal::Traces),
            "/v1/metrics" => Some(Signal::Metrics),
            "/v1/logs" => Some(Signal::Logs),
            _ => None,
        }
    }

    /// What OTLP calls the items of this signal in a partial success.
    fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "data points",
            Signal::Logs => "log records",
        }
    }
}

/// The media type of a protobuf body.
pub const PROTOBUF: &str = "application/x-protobuf";
/// The media type of an OTLP/JSON body.
pub const JSON: &str = "application/json";

/// How much one request may carry.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of body, as received and once decompressed.
    pub body_bytes: usize,
    /// Spans, data points or log records in one request; the rest are dropped and counted.
    pub items: usize,
    /// Bytes of one span or one metric (with its points) in protobuf; larger ones are dropped
    /// and counted.
    pub item_bytes: usize,
    /// Objects, arrays and elements in one OTLP/JSON body: more refuses the request.
    pub json_nodes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            body_bytes: 4 << 20,
            items: 10_000,
            item_bytes: 256 << 10,
            json_nodes: 300_000,
        }
    }
}

/// Why a request was refused, with the HTTP status that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// 400, 413 or 415.
    pub status: u16,
    /// What was wrong, in words.
    pub message: String,
}

impl Refused {
    fn new(status: u16, message: impl Into<String>) -> Refused {
        Refused {
            status,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for Refused {}

/// What one accepted request came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Items past the bounds, dropped: OTLP's `rejected_spans` (or points, or records).
    pub rejected: u64,
    /// Why, when some were.
    pub message: Option<String>,
    /// The items of the request: spans, data points or log records.
    pub items: u64,
}

/// Decodes one export request of `signal` (its body as received, its `Content-Type` and
/// `Content-Encoding`) into `mapper`, appending the events it maps to to `out`.
pub fn decode(
    signal: Signal,
    body: &[u8],
    content_type: &str,
    content_encoding: Option<&str>,
    limits: &Limits,
    mapper: &mut Mapper,
    out: &mut Vec<Event>,
) -> Result<Accepted, Refused> {
    let json = match media_type(content_type).as_str() {
        PROTOBUF => false,
        JSON => true,
        _ => {
            return Err(Refused::new(
                415,
                format!("OTLP/HTTP takes {PROTOBUF} or {JSON}, not `{content_type}`"),
            ));
        }
    };
    if body.len() > limits.body_bytes {
        return Err(too_large(limits));
    }
    let decompressed;
    let body = match content_encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => body,
        Some(e) if e.is_empty() || e == "identity" => body,
        Some(e) if e == "gzip" => {
            decompressed = gunzip(body, limits)?;
            &decompressed[..]
        }
        Some(e) => {
            return Err(Refused::new(
                415,
                format!("the content encoding `{e}` is not supported: send gzip or none"),
            ));
        }
    };
    let mut walk = Walk {
        limits,
        mapper,
        out,
        accepted: Accepted::default(),
    };
    if json {
        walk.json(signal, body)?;
    } else {
        walk.protobuf(signal, body)?;
    }
    let mut accepted = walk.accepted;
    if accepted.rejected > 0 {
        mapper.over_limit(accepted.rejected);
        accepted.message = Some(format!(
            "{} {} past the relay's bounds ({} a request, {} bytes each) were dropped",
            accepted.rejected,
            signal.items(),
            limits.items,
            limits.item_bytes
        ));
    }
    Ok(accepted)
}

/// The media type of a `Content-Type` value, lowercased, without its parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a `Content-Type` names OTLP/JSON (as [`decode`] reads it).
pub fn is_json(content_type: &str) -> bool {
    media_type(content_type) == JSON
}

fn too_large(limits: &Limits) -> Refused {
    Refused::new(
        413,
        format!("the body is larger than {} bytes", limits.body_bytes),
    )
}

fn gunzip(body: &[u8], limits: &Limits) -> Result<Vec<u8>, Refused> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take((limits.body_bytes as u64).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Refused::new(400, format!("the gzip body does not decompress: {e}")))?;
    if out.len() > limits.body_bytes {
        return Err(too_large(limits));
    }
    Ok(out)
}

/// One resource entry of a walked protobuf request: its resource's bytes, and its items'.
type Entry<'b> = (Option<&'b [u8]>, Vec<&'b [u8]>);

struct Walk<'a> {
    limits: &'a Limits,
    mapper: &'a mut Mapper,
    out: &'a mut Vec<Event>,
    accepted: Accepted,
}

const NOT_PROTOBUF: &str = "not an OTLP export request (protobuf)";

/// Calls `each` with every field of the protobuf message `buf`: its number, and its bytes if it
/// is length-delimited (`None` for any other wire type).
fn fields<'b>(
    mut buf: &'b [u8],
    mut each: impl FnMut(u32, Option<&'b [u8]>) -> Result<(), Refused>,
) -> Result<(), Refused> {
    let bad = |_| Refused::new(400, NOT_PROTOBUF);
    while !buf.is_empty() {
        let (tag, wire) = decode_key(&mut buf).map_err(bad)?;
        if wire == WireType::LengthDelimited {
            let len = decode_varint(&mut buf).map_err(bad)?;
            if len > buf.len() as u64 {
                return Err(Refused::new(400, NOT_PROTOBUF));
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

/// A message field that must be length-delimited.
fn message(field: Option<&[u8]>) -> Result<&[u8], Refused> {
    field.ok_or_else(|| Refused::new(400, NOT_PROTOBUF))
}

fn decoded<M: Message + Default>(bytes: &[u8]) -> Result<M, Refused> {
    M::decode(bytes).map_err(|e| Refused::new(400, format!("{NOT_PROTOBUF}: {e}")))
}

impl Walk<'_> {
    /// Takes one more item if the request has room for it and it is within its size bound.
    fn admit(&mut self, bytes: usize) -> bool {
        if self.accepted.items >= self.limits.items as u64 || bytes > self.limits.item_bytes {
            self.accepted.rejected += 1;
            return false;
        }
        self.accepted.items += 1;
        true
    }

    fn protobuf(&mut self, signal: Signal, body: &[u8]) -> Result<(), Refused> {
        // Every signal's request is `repeated Resource<Signal> = 1`, each of which is
        // `Resource resource = 1; repeated Scope<Signal> = 2;`, and each scope
        // `InstrumentationScope scope = 1; repeated <Item> = 2;`.
        //
        // First the whole request is walked, and its resources decoded, with nothing mapped:
        // a request refused is refused before it changes anything. Only the items' places are
        // kept (as many as a request may carry); each is then decoded alone and mapped.
        let mut entries: Vec<Entry> = Vec::new();
        let mut kept = 0usize;
        fields(body, |tag, field| {
            if tag != 1 {
                return Ok(());
            }
            let (mut resource, mut items) = (None, Vec::new());
            fields(message(field)?, |tag, field| match tag {
                1 => {
                    resource = Some(message(field)?);
                    Ok(())
                }
                2 => fields(message(field)?, |tag, field| {
                    let item = message(field)?;
                    if tag == 2 {
                        if kept < self.limits.items {
                            kept += 1;
                            items.push(item);
                        } else {
                            self.accepted.rejected += 1;
                        }
                    }
                    Ok(())
                }),
                _ => Ok(()),
            })?;
            entries.push((resource, items));
            Ok(())
        })?;
        let mut resources = Vec::with_capacity(entries.len());
        for (resource, _) in &entries {
            resources.push(match resource {
                Some(bytes) if bytes.len() > self.limits.item_bytes => {
                    return Err(Refused::new(
                        400,
                        format!("a resource is larger than {} bytes", self.limits.item_bytes),
                    ));
                }
                Some(bytes) => Some(decoded::<Resource>(bytes)?),
                None => None,
            });
        }
        for ((_, items), resource) in entries.into_iter().zip(resources) {
            let origin = self.origin(resource);
            for item in items {
                self.item(signal, &origin, item);
            }
        }
        Ok(())
    }

    /// Decodes and maps one span, metric or log record of a walked request; one that is too
    /// large, past the request's room or not what it should be is rejected and counted.
    fn item(&mut self, signal: Signal, origin: &Origin, item: &[u8]) {
        match signal {
            Signal::Traces => {
                if self.admit(item.len()) {
                    match decoded::<ProtoSpan>(item) {
                        Ok(span) => self.span(origin, span),
                        Err(_) => self.accepted.rejected += 1,
                    }
                }
            }
            Signal::Metrics => {
                let points = match count_points(item) {
                    Ok(points) if item.len() <= self.limits.item_bytes => points,
                    // Too large, or not a metric: its points are not known, so it counts as one.
                    _ => {
                        self.accepted.rejected += 1;
                        return;
                    }
                };
                let room = (self.limits.items as u64).saturating_sub(self.accepted.items);
                if points > room {
                    self.accepted.rejected += points;
                    return;
                }
                match decoded::<Metric>(item) {
                    Ok(metric) => {
                        self.accepted.items += points;
                        self.metric(origin, metric);
                    }
                    Err(_) => self.accepted.rejected += points.max(1),
                }
            }
            Signal::Logs => {
                if self.admit(item.len()) {
                    self.mapper.logs(1);
                }
            }
        }
    }

    /// What an export's resource says of its origin; the rest of it is dropped and counted.
    fn origin(&mut self, resource: Option<Resource>) -> Origin {
        self.mapper.resource(&attributes(
            resource.map_or_else(Vec::new, |r| r.attributes),
        ))
    }

    fn span(&mut self, origin: &Origin, span: ProtoSpan) {
        let status = match span.status.as_ref().map(|s| s.code()) {
            Some(StatusCode::Error) => SpanStatus::Error,
            Some(StatusCode::Ok) => SpanStatus::Ok,
            _ => SpanStatus::Unset,
        };
        let span = Span {
            trace_id: hex::encode(&span.trace_id),
            start_unix_nanos: span.start_time_unix_nano,
            end_unix_nanos: span.end_time_unix_nano,
            status,
            events_and_links: (span.events.len() + span.links.len()) as u64,
            attributes: attributes(span.attributes),
            name: span.name,
        };
        self.mapper.span(origin, &span, self.out);
    }

    fn metric(&mut self, origin: &Origin, metric: Metric) {
        const CUMULATIVE: i32 = 2;
        let points: Vec<TokenPoint> = match metric.data {
            Some(Data::Histogram(h)) => h
                .data_points
                .into_iter()
                .map(|p| TokenPoint {
                    attributes: attributes(p.attributes),
                    sum: p.sum.unwrap_or(f64::NAN),
                    cumulative: h.aggregation_temporality == CUMULATIVE,
                    start_unix_nanos: p.start_time_unix_nano,
                })
                .collect(),
            Some(Data::Sum(s)) => s
                .data_points
                .into_iter()
                .map(|p| {
                    use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
                    TokenPoint {
                        attributes: attributes(p.attributes),
                        sum: match p.value {
                            Some(Value::AsDouble(d)) => d,
                            Some(Value::AsInt(i)) => i as f64,
                            None => f64::NAN,
                        },
                        cumulative: s.aggregation_temporality == CUMULATIVE,
                        start_unix_nanos: p.start_time_unix_nano,
                    }
                })
                .collect(),
            other => {
                self.mapper
                    .other_metric_points(points_of_data(other.as_ref()));
                return;
            }
        };
        if metric.name == TOKEN_METRIC {
            self.mapper.token_points(origin, &points, self.out);
        } else {
            self.mapper.other_metric_points(points.len() as u64);
        }
    }

    fn json(&mut self, signal: Signal, body: &[u8]) -> Result<(), Refused> {
        let nodes = json_nodes(body);
        if nodes > self.limits.json_nodes {
            return Err(Refused::new(
                413,
                format!(
                    "the OTLP/JSON body has more than {} objects, arrays and elements",
                    self.limits.json_nodes
                ),
            ));
        }
        let bad = |e: serde_json::Error| {
            Refused::new(400, format!("not an OTLP export request (JSON): {e}"))
        };
        match signal {
            Signal::Traces => {
                let request: ExportTraceServiceRequest =
                    serde_json::from_slice(body).map_err(bad)?;
                for rs in request.resource_spans {
                    let origin = self.origin(rs.resource);
                    for ss in rs.scope_spans {
                        for span in ss.spans {
                            if self.admit(0) {
                                self.span(&origin, span);
                            }
                        }
                    }
                }
            }
            Signal::Metrics => {
                let request: ExportMetricsServiceRequest =
                    serde_json::from_slice(body).map_err(bad)?;
                for rm in request.resource_metrics {
                    let origin = self.origin(rm.resource);
                    for sm in rm.scope_metrics {
                        for metric in sm.metrics {
                            let points = points_of(&metric);
                            let room =
                                (self.limits.items as u64).saturating_sub(self.accepted.items);
                            if points > room {
                                self.accepted.rejected += points;
                                continue;
                            }
                            self.accepted.items += points;
                            self.metric(&origin, metric);
                        }
                    }
                }
            }
            Signal::Logs => {
                let request: ExportLogsServiceRequest =
                    serde_json::from_slice(body).map_err(bad)?;
                for rl in request.resource_logs {
                    self.origin(rl.resource);
                    for sl in rl.scope_logs {
                        for _ in sl.log_records {
                            if self.admit(0) {
                                self.mapper.logs(1);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The data points of an encoded `Metric`, counted without decoding it: its data (gauge 5,
/// sum 7, histogram 9, exponential histogram 10, summary 11) holds them as field 1.
fn count_points(metric: &[u8]) -> Result<u64, Refused> {
    let mut points = 0u64;
    fields(metric, |tag, field| {
        if matches!(tag, 5 | 7 | 9 | 10 | 11) {
            fields(message(field)?, |tag, _| {
                points += u64::from(tag == 1);
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok(points)
}

fn points_of(metric: &Metric) -> u64 {
    points_of_data(metric.data.as_ref())
}

fn points_of_data(data: Option<&Data>) -> u64 {
    (match data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(e)) => e.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }) as u64
}

/// Objects, arrays and the elements after their first (commas), outside strings, in a JSON
/// text: a bound on what parsing it allocates (every value but a lone one is counted), read
/// in one pass without parsing.
fn json_nodes(body: &[u8]) -> usize {
    let (mut nodes, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' | b',' => nodes += 1,
                _ => {}
            }
        }
    }
    nodes
}

/// OTLP attributes as the mapping reads them.
fn attributes(pairs: Vec<KeyValue>) -> Attributes {
    pairs
        .into_iter()
        .map(|kv| {
            let value = match kv.value.and_then(|v| v.value) {
                Some(Any::StringValue(s)) => AttrValue::Str(s),
                Some(Any::IntValue(i)) => AttrValue::Int(i),
                Some(Any::DoubleValue(d)) => AttrValue::Double(d),
                Some(Any::BoolValue(b)) => AttrValue::Bool(b),
                _ => AttrValue::Other,
            };
            (kv.key, value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(Any::StringValue(value.to_string())),
            }),
            ..Default::default()
        }
    }

    fn request(spans: usize) -> ExportTraceServiceRequest {
        let span = ProtoSpan {
            name: "execute_tool grep".into(),
            attributes: vec![
                kv("gen_ai.operation.name", "execute_tool"),
                kv("gen_ai.tool.name", "grep"),
                kv("gen_ai.tool.call.arguments", "{\"pattern\":\"password\"}"),
            ],
            start_time_unix_nano: 1,
            end_time_unix_nano: 2_000_001,
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "bot"), kv("host.name", "alice-laptop")],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span; spans],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn run(
        body: &[u8],
        content_type: &str,
        encoding: Option<&str>,
        limits: &Limits,
    ) -> (Result<Accepted, Refused>, Vec<Event>, Mapper) {
        let mut mapper = Mapper::new();
        let mut out = Vec::new();
        let r = decode(
            Signal::Traces,
            body,
            content_type,
            encoding,
            limits,
            &mut mapper,
            &mut out,
        );
        (r, out, mapper)
    }

    #[test]
    fn protobuf_json_and_gzip_map_the_same() {
        let req = request(2);
        let proto = req.encode_to_vec();
        let json = serde_json::to_vec(&req).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &proto).unwrap();
        let gz = gz.finish().unwrap();
        for (body, ct, enc) in [
            (&proto[..], PROTOBUF, None),
            (&json[..], "application/json; charset=utf-8", None),
            (&gz[..], PROTOBUF, Some("gzip")),
        ] {
            let (r, out, mut mapper) = run(body, ct, enc, &Limits::default());
            assert_eq!(r.unwrap().items, 2);
            assert_eq!(out.len(), 2, "{out:?}");
            for e in &out {
                let Event::ToolCall(call) = e else {
                    panic!("{e:?}")
                };
                assert_eq!((call.tool.as_str(), call.duration_ms), ("grep", 2));
                assert_eq!(call.agent.as_deref(), Some("bot"));
            }
            let d = mapper.take_dropped();
            assert_eq!((d.content_attributes, d.other_attributes), (2, 1), "{ct}");
        }
    }

    #[test]
    fn log_records_are_counted_never_mapped_in_protobuf_and_json() {
        use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "bot")],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![
                        LogRecord {
                            event_name: "gen_ai.client.inference.operation.details".into(),
                            attributes: vec![kv("gen_ai.input.messages", "my contract")],
                            ..Default::default()
                        };
                        3
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        for (body, content_type) in [
            (request.encode_to_vec(), PROTOBUF),
            (serde_json::to_vec(&request).unwrap(), JSON),
        ] {
            let mut mapper = Mapper::new();
            let mut out = Vec::new();
            let accepted = decode(
                Signal::Logs,
                &body,
                content_type,
                None,
                &Limits::default(),
                &mut mapper,
                &mut out,
            )
            .unwrap();
            assert_eq!(accepted.items, 3, "{content_type}");
            assert!(out.is_empty());
            assert_eq!(mapper.take_dropped().log_records, 3, "{content_type}");
        }
    }

    #[test]
    fn past_the_bounds_is_dropped_counted_or_refused() {
        let limits = Limits {
            items: 3,
            ..Limits::default()
        };
        let (r, out, mut mapper) = run(&request(5).encode_to_vec(), PROTOBUF, None, &limits);
        let accepted = r.unwrap();
        assert_eq!((accepted.items, accepted.rejected), (3, 2));
        assert!(accepted.message.unwrap().contains("2 spans"));
        assert_eq!(out.len(), 3);
        assert_eq!(mapper.take_dropped().over_limit, 2);

        // Two bytes an empty span: a million of them in 2 MB is refused by the item bound
        // before any is decoded past it.
        let mut flood = Vec::new();
        let scope: Vec<u8> = std::iter::repeat_n([0x12u8, 0x00], 1_000_000)
            .flatten()
            .collect();
        let mut rs = Vec::new();
        prost::encoding::encode_key(2, WireType::LengthDelimited, &mut rs);
        prost::encoding::encode_varint(scope.len() as u64, &mut rs);
        rs.extend_from_slice(&scope);
        prost::encoding::encode_key(1, WireType::LengthDelimited, &mut flood);
        prost::encoding::encode_varint(rs.len() as u64, &mut flood);
        flood.extend_from_slice(&rs);
        let (r, out, _) = run(&flood, PROTOBUF, None, &Limits::default());
        let accepted = r.unwrap();
        assert_eq!((accepted.items, accepted.rejected), (10_000, 990_000));
        assert!(out.is_empty());

        let bomb = {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            std::io::Write::write_all(&mut gz, &vec![0u8; 64 << 20]).unwrap();
            gz.finish().unwrap()
        };
        assert_eq!(
            run(&bomb, PROTOBUF, Some("gzip"), &Limits::default())
                .0
                .unwrap_err()
                .status,
            413
        );
        let nested = format!("{}{}", "[".repeat(400_000), "]".repeat(400_000));
        assert_eq!(
            run(nested.as_bytes(), JSON, None, &Limits::default())
                .0
                .unwrap_err()
                .status,
            413
        );
        assert_eq!(
            run(b"\xff\xff", PROTOBUF, None, &Limits::default())
                .0
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            run(b"{}", "text/plain", None, &Limits::default())
                .0
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(
            run(b"{}", JSON, Some("br"), &Limits::default())
                .0
                .unwrap_err()
                .status,
            415
        );
    }
}
