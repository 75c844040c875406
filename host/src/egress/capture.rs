//! The layer around every request the policy lets out: its body is read whole (batches are
//! small and bounded), so the ledger holds exactly the bytes that left, with their SHA-256;
//! then it is sent, or in debug mode written to the debug log and answered by the host itself.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agent_telemetry_contract::wire;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, default_send_request};

use super::ledger::{Ledger, LedgerEntry};

/// Largest request body let out; a batch is far smaller (the collector takes up to 16 MiB).
const MAX_BODY_BYTES: usize = 16 << 20;

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// What `WasiHttpHooks::send_request` returns.
pub type ResponseFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>;

/// Reads the request, records it in `ledger`, and sends it (or captures it in `debug_log`).
pub(super) async fn send_recorded(
    request: http::Request<WasiBody>,
    options: RequestOptions,
    cap: Duration,
    ledger: Arc<Ledger>,
    debug_log: Option<Arc<PathBuf>>,
) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
    let (mut parts, body) = request.into_parts();
    // The component says how many events the batch holds; the header is ours, not the
    // collector's, and goes no further.
    let events = parts
        .headers
        .remove(wire::EVENTS_HEADER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let left_out = parts
        .headers
        .remove(wire::LEFT_OUT_HEADER)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
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
    let mut entry = LedgerEntry::encoded(parts.uri.to_string(), &body, events, encoding);
    entry.left_out = left_out;
    entry.content_type = content_type;
    if let Some(path) = debug_log {
        entry.debug = true;
        if let Err(e) = write_debug(&path, &entry, &body) {
            tracing::warn!(path = %path.display(), error = %e, "debug log cannot be written");
        }
        ledger.append(entry);
        let response = http::Response::builder()
            .status(200)
            .body(empty_body())
            .map_err(|e| HttpError::InternalError(Some(e.to_string())))?;
        let io: IoFuture = Box::new(async { Ok(()) });
        return Ok((response, io));
    }
    let full = Full::new(body).map_err(|e| match e {}).boxed_unsync();
    let request = http::Request::from_parts(parts, full);
    // If the sender gives up before an answer (its deadline), this future is dropped: the
    // guard still records the request, which may well have left.
    let mut guard = Unanswered(Some((entry, ledger)));
    // wasmtime bounds the TCP connect and the first byte, not the TLS handshake between them:
    // the whole exchange up to the answer's head gets the capped timeouts, together.
    let whole = options.connect_timeout.unwrap_or(cap) + options.first_byte_timeout.unwrap_or(cap);
    let result =
        match tokio::time::timeout(whole, default_send_request(request, Some(options))).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::ConnectionTimeout),
        };
    let Some((mut entry, ledger)) = guard.0.take() else {
        unreachable!("the guard is taken once, here");
    };
    match result {
        Ok((response, io)) => {
            entry.status = Some(response.status().as_u16());
            ledger.append(entry);
            let io: IoFuture = Box::new(io);
            Ok((response.map(BodyExt::boxed_unsync), io))
        }
        Err(e) => {
            entry.error = Some(e.to_string());
            ledger.append(entry);
            Err(e)
        }
    }
}

/// Reads a request body whole, up to `MAX_BODY_BYTES`.
async fn read_body(mut body: WasiBody) -> Result<Bytes, HttpError> {
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

fn empty_body() -> WasiBody {
    Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync()
}
