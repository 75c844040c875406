//! The layer around every request the policy lets out: its body is read whole (batches are
//! small and bounded), so the ledger holds exactly the bytes that left, with their SHA-256;
//! then it is sent, or in debug mode written to the debug log and answered by the host itself.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent_telemetry_contract::config::Format;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

use super::connections::Connections;

use super::ledger::{Ledger, LedgerEntry};

/// Largest request body let out; a batch is far smaller (the collector takes up to 16 MiB).
const MAX_BODY_BYTES: usize = 16 << 20;

pub(crate) type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// What `WasiHttpHooks::send_request` returns.
pub type ResponseFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

/// Reads the request, records it in `ledger`, and sends it on one of `connections` (or
/// captures it in `debug_log`).
pub(crate) async fn send_recorded(
    request: http::Request<WasiBody>,
    connections: Connections,
    options: RequestOptions,
    cap: Duration,
    ledger: Arc<Ledger>,
    debug_log: Option<Arc<PathBuf>>,
    format: Format,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = tokio::time::timeout(cap, read_body(body))
        .await
        .map_err(|_| HttpError::ConnectionWriteTimeout)??;
    let encoding = parts
        .headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let mut entry = LedgerEntry::encoded(parts.uri.to_string(), &body, None, encoding);
    let decoded = entry.decoded_body();
    entry.events = decoded
        .as_deref()
        .and_then(|decoded| events_in(format, content_type.as_deref(), decoded));
    // A counts-only upload says which period it holds, and how many events it folded.
    if let Some(upload) = decoded
        .as_deref()
        .and_then(|d| serde_json::from_slice::<agent_telemetry_contract::counts::Upload>(d).ok())
    {
        entry.events = Some(upload.events);
        entry.counts_of = Some(upload.period_start);
    }
    entry.content_type = content_type;
    entry.format = Some(format.as_str().to_string());
    if let Some(path) = debug_log {
        entry.debug = true;
        if let Err(e) = write_debug(&path, &entry, &body) {
            tracing::warn!(path = %path.display(), error = %e, "debug log cannot be written");
        }
        ledger.append(entry);
        return answered_here(200);
    }
    let request = http::Request::from_parts(parts, Full::new(body));
    // If the sender gives up before an answer (its deadline), this future is dropped: the
    // guard still records the request, which may well have left.
    let mut guard = Unanswered(Some((entry, ledger)));
    // wasmtime bounds the TCP connect and the first byte, not the TLS handshake between them:
    // the whole exchange up to the answer's head gets the capped timeouts, together.
    let whole = options.connect_timeout.unwrap_or(cap) + options.first_byte_timeout.unwrap_or(cap);
    let between_bytes = options.between_bytes_timeout.unwrap_or(cap);
    let result = match tokio::time::timeout(whole, connections.send(request, between_bytes)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::ConnectionTimeout),
    };
    let Some((mut entry, ledger)) = guard.0.take() else {
        unreachable!("the guard is taken once, here");
    };
    match result {
        Ok(response) => {
            entry.status = Some(response.status().as_u16());
            ledger.append(entry);
            // The connection is driven by the pool's own task, not by this request.
            let io: IoFuture = Box::new(async { Ok(()) });
            Ok((response, io))
        }
        Err(e) => {
            entry.error = Some(e.to_string());
            ledger.append(entry);
            Err(e)
        }
    }
}

/// How many events a request of the wire format `format` carries, read from its (decoded)
/// body: the ledger's count, which no header of the component's has to say. `None` for a body
/// that is not one of the format's.
pub(crate) fn events_in(format: Format, content_type: Option<&str>, body: &[u8]) -> Option<u64> {
    use serde::de::IgnoredAny;
    #[derive(serde::Deserialize)]
    struct Native {
        events: Vec<IgnoredAny>,
    }
    #[derive(serde::Deserialize)]
    struct Docker {
        records: Vec<IgnoredAny>,
    }
    let count = |n: usize| Some(n as u64);
    match format {
        Format::Native => count(serde_json::from_slice::<Native>(body).ok()?.events.len()),
        Format::Docker => count(serde_json::from_slice::<Docker>(body).ok()?.records.len()),
        // One event per request: its envelope.
        Format::Swarm => serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
            .ok()
            .map(|_| 1),
        Format::Otlp => {
            use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
            use prost::Message;
            let request = if content_type.is_some_and(|t| t.starts_with("application/json")) {
                serde_json::from_slice::<ExportLogsServiceRequest>(body).ok()?
            } else {
                ExportLogsServiceRequest::decode(body).ok()?
            };
            let records = request
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum();
            count(records)
        }
    }
}

/// Reads a request body whole, up to `MAX_BODY_BYTES`.
/// An answer the host gives itself (debug mode, counts-only mode): `status`, no body.
pub(crate) fn answered_here(
    status: u16,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    let response = http::Response::builder()
        .status(status)
        .body(empty_body())
        .map_err(|e| HttpError::InternalError(Some(e.to_string())))?;
    let io: IoFuture = Box::new(async { Ok(()) });
    Ok((response, io))
}

/// The whole body, up to the bound.
pub(crate) async fn read_body(mut body: WasiBody) -> Result<Bytes, HttpError> {
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if buf.len() + data.len() > MAX_BODY_BYTES {
                return Err(HttpError::HttpRequestBodySize(Some(buf.len() as u64)));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// Appends one captured request to the debug log: a header line, then the exact body.
fn write_debug(path: &std::path::Path, entry: &LedgerEntry, body: &[u8]) -> std::io::Result<()> {
    let mut record = format!(
        "--- {} POST {} ({} bytes, {} events, sha256 {}) captured, not sent\n",
        entry.at,
        entry.endpoint,
        entry.bytes,
        entry.events.map_or("?".to_string(), |n| n.to_string()),
        entry.sha256
    )
    .into_bytes();
    record.extend_from_slice(body);
    record.push(b'\n');
    use crate::trust::private_files::{append_private, check_private_dir, create_private_dir};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
        check_private_dir(dir).map_err(std::io::Error::other)?;
    }
    append_private(path)?.write_all(&record)
}

/// Records a request in the ledger as unanswered if its future is dropped mid-flight.
struct Unanswered(Option<(LedgerEntry, Arc<Ledger>)>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some((mut entry, ledger)) = self.0.take() {
            entry.error = Some("no answer before the sender gave up".to_string());
            ledger.append(entry);
        }
    }
}

/// `bytes` as a request or response body.
pub(crate) fn full_body(bytes: Bytes) -> WasiBody {
    Full::new(bytes).map_err(|e| match e {}).boxed_unsync()
}

fn empty_body() -> WasiBody {
    Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use prost::Message;

    #[test]
    fn the_ledger_counts_a_requests_events_from_its_body_in_every_format() {
        let native = br#"{"schema":"agent-telemetry/batch","events":[{},{},{}]}"#;
        assert_eq!(events_in(Format::Native, None, native), Some(3));
        let docker = br#"{"records":[{"event":"tool"},{"event":"token"}]}"#;
        assert_eq!(events_in(Format::Docker, None, docker), Some(2));
        assert_eq!(
            events_in(Format::Swarm, None, br#"{"event":"session.started"}"#),
            Some(1)
        );
        let scope = |n| ScopeLogs {
            log_records: vec![LogRecord::default(); n],
            ..Default::default()
        };
        let request = ExportLogsServiceRequest {
            resource_logs: vec![
                ResourceLogs {
                    scope_logs: vec![scope(2)],
                    ..Default::default()
                },
                ResourceLogs {
                    scope_logs: vec![scope(1), scope(4)],
                    ..Default::default()
                },
            ],
        };
        let protobuf = request.encode_to_vec();
        let json = serde_json::to_vec(&request).unwrap();
        assert_eq!(
            events_in(Format::Otlp, Some("application/x-protobuf"), &protobuf),
            Some(7)
        );
        assert_eq!(
            events_in(Format::Otlp, Some("application/json"), &json),
            Some(7)
        );
        // A body that is not one of the format's is not counted.
        assert_eq!(events_in(Format::Native, None, b"not json"), None);
        assert_eq!(events_in(Format::Docker, None, native), None);
    }
}
