//! `relay`: an OTLP/HTTP receiver on loopback for native agents that already export
//! OpenTelemetry. `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318` is the only change an
//! agent needs: its GenAI spans and token metric become events through the mapping
//! (`agent_telemetry::otel`), and go out through the telemetry component with the same
//! consent, identity, spool, ledger and wire formats as `run`. Everything else is dropped and
//! counted, never forwarded.
//!
//! Hardened as the collector is: loopback only unless told otherwise, a bound on connections,
//! on the time to send headers and body, on each body's size, and on what one request may
//! carry (`otel::otlp::Limits`). Ctrl-C or SIGTERM stops it: no new requests, then one flush
//! bounded by `--flush-deadline-ms`, and what is not delivered stays in the spool.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_telemetry::Telemetry;
use agent_telemetry::otel::otlp::{self, Limits, Signal};
use agent_telemetry::otel::{Dropped, Mapper};
use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prost::Message;
use tokio::sync::Semaphore;

use crate::settings::{ENDPOINT_VAR, WireArgs, command_settings, start_or_off};

/// OTLP/HTTP's standard port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4318";

#[derive(clap::Args, Debug)]
pub struct RelayArgs {
    /// Where to listen for OTLP/HTTP (`/v1/traces`, `/v1/metrics`, `/v1/logs`); port 0 picks a
    /// free one, and the address is printed.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Listen on an address other than loopback: any machine that reaches it could then feed
    /// this installation's telemetry.
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Where telemetry goes (also AGENT_TELEMETRY_ENDPOINT). Without one, telemetry is off and
    /// the relay answers every export with success and keeps nothing.
    #[arg(long, env = ENDPOINT_VAR)]
    pub endpoint: Option<String>,
    /// Product name reported in the envelope.
    #[arg(long, default_value = "agent")]
    pub product: String,
    /// Product version reported in the envelope.
    #[arg(long, default_value = "0.0.0")]
    pub product_version: String,
    /// Send nothing: write each request the component makes to the debug log instead (also
    /// AGENT_TELEMETRY_DEBUG=1).
    #[arg(long)]
    pub debug: bool,
    /// How long the flush at stop may take, in milliseconds; what is not delivered by then
    /// stays in the spool.
    #[arg(long, default_value_t = 2000)]
    pub flush_deadline_ms: u64,
    /// The largest request body, in bytes (compressed and decompressed).
    #[arg(long, default_value_t = Limits::default().body_bytes)]
    pub max_body_bytes: usize,
    /// The most spans, data points or log records one request may carry; the rest are
    /// dropped, counted and reported to the exporter as rejected.
    #[arg(long, default_value_t = Limits::default().items)]
    pub max_items: usize,
    #[command(flatten)]
    pub wire: WireArgs,
}

/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 256;
/// Requests whose bodies are read and decoded at once (so at most this many bodies of
/// `--max-body-bytes` are held); more wait their turn.
const MAX_REQUESTS: usize = 8;
/// How long the connections open at a stop get to finish the request they serve.
pub const STOP_GRACE: Duration = Duration::from_secs(2);
/// How long a client may take to send its headers, then its body.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

struct Shared {
    telemetry: Telemetry,
    mapper: Mutex<Mapper>,
    /// What the mapping dropped in all, whether or not telemetry is on.
    dropped: Mutex<Dropped>,
    limits: Limits,
    /// One permit a request whose body is read and decoded: [`MAX_REQUESTS`] bodies held at
    /// once at most, the others wait.
    requests: Arc<Semaphore>,
}

pub(crate) async fn relay(args: RelayArgs) -> Result<i32> {
    if !args.listen.ip().is_loopback() && !args.allow_non_loopback {
        bail!(
            "the relay listens on loopback only, not {}: pass --allow-non-loopback to listen there \
             (anyone who reaches it could then feed this installation's telemetry)",
            args.listen.ip()
        );
    }
    let settings = command_settings(
        &args.product,
        &args.product_version,
        args.endpoint.clone(),
        args.debug,
        &args.wire,
    )?;
    let telemetry = start_or_off(settings, "relay").await;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let limits = Limits {
        body_bytes: args.max_body_bytes,
        items: args.max_items,
        ..Limits::default()
    };
    // Listening for the stop signals before saying where it listens: a stop sent as soon as
    // the address is known is not missed.
    let stop = stop_signal()?;
    println!("relay listening on http://{addr}");
    println!("  point agents at it: OTEL_EXPORTER_OTLP_ENDPOINT=http://{addr}");
    if !telemetry.is_enabled() {
        println!(
            "  telemetry is off ({}): exports are answered and nothing is kept",
            telemetry.status().await.reason
        );
    }
    // Tests and scripts read the address from the first line.
    use std::io::Write as _;
    std::io::stdout().flush().ok();

    let dropped = serve_otlp(listener, telemetry.clone(), limits, stop).await;

    let report = telemetry
        .shutdown(Duration::from_millis(args.flush_deadline_ms))
        .await;
    println!(
        "stopping: {} events sent, {} still pending (kept in the spool when there is one); dropped from what agents emitted: {}",
        report.sent,
        report.pending,
        dropped.describe()
    );
    Ok(0)
}

/// Ctrl-C or SIGTERM, listened for from now on.
fn stop_signal() -> Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// The relay's server: OTLP/HTTP on `listener`, each request's GenAI telemetry recorded into
/// `telemetry` within `limits`, until `stop`. Then it takes no new connection, asks every
/// open one to close after the request it is serving (keep-alive connections included), and
/// gives them [`STOP_GRACE`] to do so. Returns what the mapping dropped in all. `relay` runs
/// it; the benches do too.
pub async fn serve_otlp(
    listener: tokio::net::TcpListener,
    telemetry: Telemetry,
    limits: Limits,
    stop: impl Future<Output = ()>,
) -> Dropped {
    let shared = Arc::new(Shared {
        telemetry,
        mapper: Mutex::new(Mapper::new()),
        dropped: Mutex::new(Dropped::default()),
        limits,
        requests: Arc::new(Semaphore::new(MAX_REQUESTS)),
    });
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, std::convert::Infallible>(receive(shared, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                () = async { drop(stopped.wait_for(|s| *s).await) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "relay connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    stopping.send_replace(true);
    if tokio::time::timeout(STOP_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        connections.abort_all();
    }
    *shared.dropped.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts what `count` drops, as [`note_dropped`] does.
fn count_dropped(shared: &Shared, count: impl FnOnce(&mut Mapper)) {
    let mut mapper = shared.mapper.lock().unwrap_or_else(|e| e.into_inner());
    count(&mut mapper);
    let dropped = mapper.take_dropped();
    drop(mapper);
    note_dropped(shared, &dropped);
}

/// Adds what the mapping dropped to the relay's total and to telemetry's (the ledger's note).
fn note_dropped(shared: &Shared, dropped: &Dropped) {
    if dropped.total() == 0 {
        return;
    }
    shared
        .dropped
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .add(dropped);
    shared.telemetry.inbound_dropped(dropped);
}

fn plain(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn receive(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(signal) = Signal::from_path(request.uri().path()) else {
        return plain(
            StatusCode::NOT_FOUND,
            "the relay takes OTLP/HTTP at /v1/traces, /v1/metrics and /v1/logs".to_string(),
        );
    };
    if request.method() != hyper::Method::POST {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "OTLP/HTTP exports are POSTed".to_string(),
        );
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let content_type = header("content-type").unwrap_or_default();
    let content_encoding = header("content-encoding");
    // A turn to hold a body: the bodies held at once are bounded, whatever the connections.
    let Ok(_turn) = shared.requests.clone().acquire_owned().await else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "stopping".to_string());
    };
    let limit = shared.limits.body_bytes;
    let refused = |status: StatusCode, message: String| {
        count_dropped(&shared, |mapper| mapper.refused_request());
        plain(status, message)
    };
    let body = match tokio::time::timeout(
        BODY_TIMEOUT,
        Limited::new(request.into_body(), limit).collect(),
    )
    .await
    {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {limit} bytes"),
            );
        }
        Ok(Err(e)) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("cannot read the body: {e}"),
            );
        }
        Err(_) => {
            return refused(
                StatusCode::REQUEST_TIMEOUT,
                "the body took too long".to_string(),
            );
        }
    };
    let json = otlp::is_json(&content_type);
    // Decompressing, decoding and mapping are CPU work: off the async threads.
    let work = shared.clone();
    let decoded = tokio::task::spawn_blocking(move || {
        let mut events = Vec::new();
        let mut mapper = work.mapper.lock().unwrap_or_else(|e| e.into_inner());
        let decoded = otlp::decode(
            signal,
            &body,
            &content_type,
            content_encoding.as_deref(),
            &work.limits,
            &mut mapper,
            &mut events,
        );
        if decoded.is_err() {
            mapper.refused_request();
        }
        let dropped = mapper.take_dropped();
        drop(mapper);
        note_dropped(&work, &dropped);
        decoded.map(|accepted| (accepted, events))
    })
    .await;
    let (accepted, events) = match decoded {
        Ok(Ok(decoded)) => decoded,
        Ok(Err(refused)) => {
            let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST);
            return plain(status, refused.message);
        }
        Err(_) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request could not be decoded".to_string(),
            );
        }
    };
    if !events.is_empty() {
        shared.telemetry.record_many(events);
    }
    success(signal, json, &accepted)
}

/// OTLP's answer: an export response in the request's encoding, with a partial success when
/// items were rejected.
fn success(signal: Signal, json: bool, accepted: &otlp::Accepted) -> Response<Full<Bytes>> {
    use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
    fn encoded<M: Message + serde::Serialize>(m: M, json: bool) -> (Vec<u8>, &'static str) {
        if json {
            (serde_json::to_vec(&m).unwrap_or_default(), otlp::JSON)
        } else {
            (m.encode_to_vec(), otlp::PROTOBUF)
        }
    }
    let rejected = i64::try_from(accepted.rejected).unwrap_or(i64::MAX);
    let message = accepted.message.clone().unwrap_or_default();
    let partial = accepted.rejected > 0;
    let (body, media) = match signal {
        Signal::Traces => encoded(
            trace::v1::ExportTraceServiceResponse {
                partial_success: partial.then_some(trace::v1::ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message: message,
                }),
            },
            json,
        ),
        Signal::Metrics => encoded(
            metrics::v1::ExportMetricsServiceResponse {
                partial_success: partial.then_some(metrics::v1::ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message: message,
                }),
            },
            json,
        ),
        Signal::Logs => encoded(
            logs::v1::ExportLogsServiceResponse {
                partial_success: partial.then_some(logs::v1::ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message: message,
                }),
            },
            json,
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(media),
    );
    response
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::{Cli, CliCommand};

    #[test]
    fn the_relay_listens_on_the_standard_port_of_loopback_by_default() {
        let Ok(Cli {
            command: CliCommand::Relay(args),
            ..
        }) = Cli::try_parse_from(["agent-telemetry", "relay"])
        else {
            panic!("relay did not parse")
        };
        assert_eq!(args.listen.to_string(), super::DEFAULT_LISTEN);
        assert!(args.listen.ip().is_loopback());
    }

    #[tokio::test]
    async fn it_refuses_a_non_loopback_address_unless_told() {
        let Ok(Cli {
            command: CliCommand::Relay(args),
            ..
        }) = Cli::try_parse_from(["agent-telemetry", "relay", "--listen", "0.0.0.0:0"])
        else {
            panic!("relay did not parse")
        };
        let error = super::relay(*args).await.unwrap_err().to_string();
        assert!(error.contains("loopback only"), "{error}");
    }
}
