//! Which requests the telemetry component may make: `POST` to exactly the endpoint (scheme,
//! host, port, path and query), with capped timeouts. Plain `http://` is allowed only to a
//! loopback address; anything else must be `https://`.
//!
//! This hook is the only way out. wasmtime's `default_send_request` opens its own TCP
//! connection and does not consult the WASI socket policy, so the allowlist must live here. A
//! request it lets out goes on through [`capture`](super::capture), which records it in the
//! ledger and sends it (or, in debug mode, keeps it).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agent_telemetry_contract::config::Format;
use agent_telemetry_contract::endpoint::Endpoint;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::capture::{self, ResponseFuture};
use super::connections::Connections;
use super::ledger::Ledger;

/// The one scheme, host and port the component may send to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedEndpoint {
    endpoint: Endpoint,
}

impl AllowedEndpoint {
    pub fn parse(url: &str) -> Result<AllowedEndpoint, crate::error::Error> {
        let invalid = |why: String| crate::error::Error::InvalidEndpoint {
            url: url.to_string(),
            why,
        };
        let endpoint = Endpoint::parse(url).map_err(|e| invalid(e.to_string()))?;
        // Telemetry in clear text may cross only this machine.
        if !endpoint.https && !is_loopback(&endpoint.host) {
            return Err(invalid(
                "plain http:// is allowed only to a loopback address; use https://".to_string(),
            ));
        }
        Ok(AllowedEndpoint { endpoint })
    }

    /// Whether a request goes to this endpoint: `POST`, same scheme, host, port, path and
    /// query, and no credentials in the URL.
    pub fn allows(&self, method: &http::Method, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
        let default_port = if scheme.as_deref() == Some("https") {
            443
        } else {
            80
        };
        method == http::Method::POST
            && scheme.as_deref() == Some(self.endpoint.scheme())
            && uri.authority().is_some_and(|a| !a.as_str().contains('@'))
            && uri
                .host()
                .is_some_and(|h| h.eq_ignore_ascii_case(&self.endpoint.host))
            && uri.port_u16().unwrap_or(default_port) == self.endpoint.port
            && uri.path_and_query().map_or("/", |p| p.as_str()) == self.endpoint.path_with_query
    }
}

/// `localhost`, `127.x.x.x` or `[::1]`.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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

/// The `WasiHttpHooks` of the telemetry component's store.
#[derive(Clone)]
pub struct EgressPolicy {
    endpoint: Arc<AllowedEndpoint>,
    timeout_cap: Duration,
    counters: Arc<EgressCounters>,
    ledger: Arc<Ledger>,
    /// Debug mode: requests are written here and answered by the host; nothing is sent.
    debug_log: Option<Arc<PathBuf>>,
    /// The wire format the component sends, so the ledger can count a request's events.
    format: Format,
    /// Counts-only mode: batches are folded here, never sent.
    counts: Option<Arc<dyn Fold>>,
    /// Connections to the endpoint, kept open between requests.
    connections: Connections,
}

impl EgressPolicy {
    pub(crate) fn new(
        endpoint: Arc<AllowedEndpoint>,
        timeout_cap: Duration,
        counters: Arc<EgressCounters>,
        ledger: Arc<Ledger>,
        debug_log: Option<Arc<PathBuf>>,
        format: Format,
    ) -> Self {
        EgressPolicy {
            endpoint,
            timeout_cap,
            counters,
            ledger,
            debug_log,
            format,
            counts: None,
            connections: Connections::new(timeout_cap),
        }
    }

    /// Folds every batch into `book` instead of sending it (counts-only mode).
    pub(crate) fn folding_into(mut self, book: Arc<dyn Fold>) -> Self {
        self.counts = Some(book);
        self
    }
}

/// What takes a batch in place of the network: counts-only mode's counters
/// (`delivery::counts::CountsBook`). It answers as a collector would: 200 when the batch is
/// kept, 400 for a body that is not a batch (the component counts it rejected), 503 when it
/// could not be kept now (the component keeps it and tries again).
pub(crate) trait Fold: Send + Sync + 'static {
    /// Takes the batch `body`; the status to answer. Blocking (files): run off the async threads.
    fn fold(&self, body: &[u8]) -> u16;
}

/// Counts-only mode's answer to a batch: folded (200), not a batch (400, the component counts
/// it rejected), or not kept (503: the component keeps it and tries again).
async fn fold(
    request: http::Request<WasiBody>,
    book: Arc<dyn Fold>,
    cap: Duration,
) -> Result<(http::Response<WasiBody>, capture::IoFuture), HttpError> {
    let body = tokio::time::timeout(cap, capture::read_body(request.into_body()))
        .await
        .map_err(|_| HttpError::ConnectionWriteTimeout)??;
    let status = tokio::task::spawn_blocking(move || book.fold(&body))
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "counts-only mode: folding failed; the batch is kept");
            503
        });
    capture::answered_here(status)
}

impl WasiHttpHooks for EgressPolicy {
    // A collector that is down or unreachable is an ordinary event, which the component
    // counts and retries: said at debug level, not as a warning per attempt on the agent's
    // standard error (wasmtime's defaults warn).
    fn p2_error_from_connect(&mut self, err: &std::io::Error) -> ErrorCode {
        tracing::debug!(error = %err, "telemetry endpoint: cannot connect");
        ErrorCode::ConnectionRefused
    }

    fn p2_error_from_hyper(&mut self, err: &hyper::Error) -> ErrorCode {
        tracing::debug!(error = %err, "telemetry endpoint: HTTP error");
        ErrorCode::HttpProtocolError
    }

    fn p2_error_from_tls(&mut self, err: &std::io::Error) -> ErrorCode {
        tracing::debug!(error = %err, "telemetry endpoint: TLS error");
        ErrorCode::TlsProtocolError
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _guest_io: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> ResponseFuture {
        if !self.endpoint.allows(request.method(), request.uri()) {
            self.counters.denied.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(method = %request.method(), uri = %request.uri(), "telemetry request that is not a POST to the endpoint denied");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        self.counters.allowed.fetch_add(1, Ordering::Relaxed);
        if let Some(book) = self.counts.clone() {
            // Nothing leaves: the batch is folded on this machine.
            return Box::new(fold(request, book, self.timeout_cap));
        }
        // The guest's timeouts are honoured only up to the cap; unset ones would be 600 s.
        let cap = self.timeout_cap;
        let clamp = |d: Option<Duration>| Some(d.map_or(cap, |d| d.min(cap)));
        let asked = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: clamp(asked.connect_timeout),
            first_byte_timeout: clamp(asked.first_byte_timeout),
            between_bytes_timeout: clamp(asked.between_bytes_timeout),
        };
        Box::new(capture::send_recorded(
            request,
            self.connections.clone(),
            options,
            cap,
            self.ledger.clone(),
            self.debug_log.clone(),
            self.format,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(e: &AllowedEndpoint, method: &str, uri: &str) -> bool {
        e.allows(&method.parse().unwrap(), &uri.parse().unwrap())
    }

    #[test]
    fn allows_only_a_post_to_exactly_the_endpoint() {
        let e = AllowedEndpoint::parse("http://127.0.0.1:4318/v1/batch").unwrap();
        assert!(allows(&e, "POST", "http://127.0.0.1:4318/v1/batch"));
        assert!(
            !allows(&e, "POST", "http://127.0.0.1:4318/other"),
            "another path"
        );
        assert!(
            !allows(&e, "POST", "http://127.0.0.1:4318/v1/batch?x=1"),
            "a query"
        );
        assert!(
            !allows(&e, "GET", "http://127.0.0.1:4318/v1/batch"),
            "another method"
        );
        assert!(!allows(&e, "PUT", "http://127.0.0.1:4318/v1/batch"));
        assert!(!allows(&e, "POST", "http://127.0.0.1:4319/v1/batch"));
        assert!(!allows(&e, "POST", "https://127.0.0.1:4318/v1/batch"));
        assert!(
            !allows(&e, "POST", "http://a@127.0.0.1:4318/v1/batch"),
            "credentials"
        );
        let default_port = AllowedEndpoint::parse("http://localhost/x").unwrap();
        assert!(allows(&default_port, "POST", "http://LOCALHOST:80/x"));
    }

    #[test]
    fn rejects_unusable_endpoints() {
        for bad in [
            "ftp://host/",
            "not a url",
            "http://user:pw@host/",
            "http://a@b/",
            "/relative",
            // Clear text only on this machine.
            "http://example.com:4318/v1/batch",
            "http://10.0.0.5/v1/batch",
        ] {
            assert!(AllowedEndpoint::parse(bad).is_err(), "{bad}");
        }
        for good in [
            "https://collector.example.com/v1/batch",
            "http://127.0.0.1:4318/v1/batch",
            "http://127.9.9.9/",
            "http://[::1]:4318/v1/logs",
            "http://localhost:4318/",
        ] {
            assert!(AllowedEndpoint::parse(good).is_ok(), "{good}");
        }
    }
}
