//! Outbound HTTP policy for the telemetry component: one allowed endpoint, capped timeouts,
//! a ledger entry for every request let out, and debug mode, where nothing leaves.
//!
//! This hook is the only way out. `default_send_request` opens its own TCP connection and does
//! not consult the WASI socket policy, so the allowlist must live here (WASMTIME-NOTES.md).
//! The body is read whole before anything is sent (batches are small and bounded), so the
//! ledger holds exactly the bytes that left, with their SHA-256.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks, default_send_request,
};

use crate::ledger::{Ledger, LedgerEntry};

/// The one scheme, host and port the component may send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedEndpoint {
    scheme: String,
    host: String,
    port: u16,
}

impl AllowedEndpoint {
    pub fn parse(url: &str) -> Result<AllowedEndpoint, crate::Error> {
        let bad = |why: &str| crate::Error::InvalidEndpoint {
            url: url.to_string(),
            why: why.to_string(),
        };
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| bad("no scheme"))?
            .to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not allowed"));
        }
        Ok(AllowedEndpoint {
            scheme,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(default_port),
        })
    }

    /// Whether a request URI goes to this endpoint (same scheme, host and port).
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
        let default_port = if scheme.as_deref() == Some("https") {
            443
        } else {
            80
        };
        scheme.as_deref() == Some(self.scheme.as_str())
            && uri
                .host()
                .is_some_and(|h| h.eq_ignore_ascii_case(&self.host))
            && uri.port_u16().unwrap_or(default_port) == self.port
    }
}

/// What the policy let out and what it stopped, shared by every store of one `Telemetry`.
#[derive(Debug, Default)]
pub struct EgressCounters {
    allowed: AtomicU64,
    denied: AtomicU64,
}

impl EgressCounters {
    pub fn allowed(&self) -> u64 {
        self.allowed.load(Ordering::Relaxed)
    }
    pub fn denied(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }
}

/// Largest request body let out; a batch is far smaller (the collector takes up to 16 MiB).
const MAX_BODY_BYTES: usize = 16 << 20;

/// The `WasiHttpHooks` of the telemetry component's store.
pub struct EgressPolicy {
    endpoint: Arc<AllowedEndpoint>,
    timeout_cap: Duration,
    counters: Arc<EgressCounters>,
    ledger: Arc<Ledger>,
    /// Debug mode: requests are written here and answered by the host; nothing is sent.
    debug_log: Option<Arc<PathBuf>>,
}

impl EgressPolicy {
    pub fn new(
        endpoint: Arc<AllowedEndpoint>,
        timeout_cap: Duration,
        counters: Arc<EgressCounters>,
        ledger: Arc<Ledger>,
        debug_log: Option<Arc<PathBuf>>,
    ) -> Self {
        EgressPolicy {
            endpoint,
            timeout_cap,
            counters,
            ledger,
            debug_log,
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
    crate::identity::append_private(path)?.write_all(&record)
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

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for EgressPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _guest_io: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        if !self.endpoint.allows(request.uri()) {
            self.counters.denied.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(uri = %request.uri(), "telemetry request to a non-allowed endpoint denied");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        self.counters.allowed.fetch_add(1, Ordering::Relaxed);
        let ledger = self.ledger.clone();
        let debug_log = self.debug_log.clone();
        // The guest's timeouts are honoured only up to the cap; unset ones would be 600 s.
        let cap = self.timeout_cap;
        let clamp = |d: Option<Duration>| Some(d.map_or(cap, |d| d.min(cap)));
        let asked = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: clamp(asked.connect_timeout),
            first_byte_timeout: clamp(asked.first_byte_timeout),
            between_bytes_timeout: clamp(asked.between_bytes_timeout),
        };
        Box::new(async move {
            let (parts, body) = request.into_parts();
            let body = tokio::time::timeout(cap, read_body(body))
                .await
                .map_err(|_| HttpError::ConnectionWriteTimeout)??;
            let mut entry = LedgerEntry::new(parts.uri.to_string(), &body);
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
                let io: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
                    Box::new(async { Ok(()) });
                return Ok((response, io));
            }
            let full = Full::new(body).map_err(|e| match e {}).boxed_unsync();
            let request = http::Request::from_parts(parts, full);
            // If the sender gives up before an answer (its deadline), this future is dropped:
            // the guard still records the request, which may well have left.
            let mut guard = Unanswered(Some((entry, ledger)));
            let result = default_send_request(request, Some(options)).await;
            let (mut entry, ledger) = guard.0.take().expect("taken once");
            match result {
                Ok((response, io)) => {
                    entry.status = Some(response.status().as_u16());
                    ledger.append(entry);
                    let io: Box<dyn Future<Output = Result<(), HttpError>> + Send> = Box::new(io);
                    Ok((response.map(BodyExt::boxed_unsync), io))
                }
                Err(e) => {
                    entry.error = Some(e.to_string());
                    ledger.append(entry);
                    Err(e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_only_the_configured_authority() {
        let e = AllowedEndpoint::parse("http://127.0.0.1:4318/v1/batch").unwrap();
        assert!(e.allows(&"http://127.0.0.1:4318/other".parse().unwrap()));
        assert!(!e.allows(&"http://127.0.0.1:4319/v1/batch".parse().unwrap()));
        assert!(!e.allows(&"https://127.0.0.1:4318/v1/batch".parse().unwrap()));
        assert!(!e.allows(&"http://example.com:4318/".parse().unwrap()));
        let default_port = AllowedEndpoint::parse("http://localhost/x").unwrap();
        assert!(default_port.allows(&"http://LOCALHOST:80/".parse().unwrap()));
    }

    #[test]
    fn rejects_unusable_endpoints() {
        for bad in [
            "ftp://host/",
            "not a url",
            "http://user:pw@host/",
            "/relative",
        ] {
            assert!(AllowedEndpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
