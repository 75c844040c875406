//! The collector's HTTP server, on loopback only, with a route per format (see `ingest`). It
//! is a real server: request heads and bodies must arrive within their timeouts, connections
//! are limited in number, a request from a web page (any `Origin` header) is refused so no
//! site can post into it, only each path's media type is taken (JSON, or protobuf for OTLP;
//! gzip or not), an error never echoes the request back, and what a body costs is bounded:
//! inflating, decoding and storing run off the async threads, a few bodies at a time
//! ([`CollectorOptions::max_decoders`]), each within the bounds `ingest` sets, and the bodies
//! held in memory at once, across every connection, within
//! [`CollectorOptions::max_body_bytes_held`]: a request takes its share (its `Content-Length`,
//! else the most a body may be) before its body is read. A database at its size, or a body
//! that cannot get its share in time, gets `503` with a `Retry-After`, which senders retry, so
//! nothing is lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::io::Read;

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use agent_telemetry_contract::deletion::{DeletionError, DeletionReceipt, DeletionRequest};

use crate::ingest::{self, Format, Refused, native, otlp};
use crate::store::{EventStore, Full, Ingested};

/// Where native batches are posted.
pub const BATCH_PATH: &str = native::PATH;
/// Largest request body accepted: well above the component's largest batch.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// A check of each batch body beyond the collector's own (a JSON Schema, say): `Err` with the
/// reason refuses the batch with a 400 (the reason is logged, not answered).
pub type BatchCheck = Arc<dyn Fn(&[u8]) -> Result<(), String> + Send + Sync>;

/// How the collector guards itself.
#[derive(Clone)]
pub struct CollectorOptions {
    /// A request's head must arrive within this.
    pub header_timeout: Duration,
    /// Its body must arrive within this once the head has.
    pub body_timeout: Duration,
    /// Connections served at once; more are closed as they come.
    pub max_connections: usize,
    /// Run on every (inflated) native batch body before it is parsed and stored. It sees the
    /// whole body at once, outside the record-at-a-time bounds: a check that decodes it whole
    /// (a JSON Schema, as the tests use) costs what the body inflates to, so `collect` sets
    /// none.
    pub check: Option<BatchCheck>,
    /// Bodies inflated, decoded and stored at once; the others wait their turn. Each may take
    /// up to its 16 MiB inflated plus what decoding one record at a time takes.
    pub max_decoders: usize,
    /// Events older than this are deleted when the collector starts, then every hour.
    pub retain: Option<Duration>,
    /// Request bodies held in memory at once, in bytes, across every connection (each body
    /// counts its `Content-Length`, or [`MAX_BODY_BYTES`] when it declares none). Without it,
    /// 64 connections of 16 MiB each would hold a gigabyte before any decoding began.
    pub max_body_bytes_held: usize,
}

/// How long a sender is asked to wait when the database is full.
pub const FULL_RETRY_AFTER_SECS: u64 = 60;
/// How far ahead of now an event may be dated and still be kept by retention.
const RETAIN_AHEAD: Duration = Duration::from_secs(86_400);
/// How often retention runs after the first time.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

impl std::fmt::Debug for CollectorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorOptions")
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("max_connections", &self.max_connections)
            .field("check", &self.check.is_some())
            .field("max_decoders", &self.max_decoders)
            .field("retain", &self.retain)
            .field("max_body_bytes_held", &self.max_body_bytes_held)
            .finish()
    }
}

impl Default for CollectorOptions {
    fn default() -> Self {
        CollectorOptions {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 64,
            check: None,
            max_decoders: 2,
            retain: None,
            max_body_bytes_held: 4 * MAX_BODY_BYTES,
        }
    }
}

/// A running collector; stops when [`Collector::stop`] is called or it is dropped.
pub struct Collector {
    addr: SocketAddr,
    store: Arc<EventStore>,
    refused_connections: Arc<AtomicU64>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    retention: Option<JoinHandle<()>>,
}

#[derive(Clone)]
struct Shared {
    store: Arc<EventStore>,
    body_timeout: Duration,
    check: Option<BatchCheck>,
    decoders: Arc<Semaphore>,
    /// [`CollectorOptions::max_body_bytes_held`], one permit a KiB.
    body_budget: Arc<Semaphore>,
}

impl Collector {
    /// Listens on `bind`, which must be a loopback address (port 0 picks a free port).
    pub async fn start(bind: SocketAddr, store: EventStore) -> Result<Collector> {
        Collector::start_with(bind, store, CollectorOptions::default()).await
    }

    /// [`start`](Self::start) with `options` instead of the defaults.
    pub async fn start_with(
        bind: SocketAddr,
        store: EventStore,
        options: CollectorOptions,
    ) -> Result<Collector> {
        if !bind.ip().is_loopback() {
            bail!("the collector listens on loopback only, not {}", bind.ip());
        }
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let addr = listener.local_addr()?;
        let store = Arc::new(store);
        let retention = match options.retain {
            Some(age) => {
                // Once before the first request, so that what is served is already within it.
                let first = store.clone();
                tokio::task::spawn_blocking(move || retain(&first, age))
                    .await
                    .context("retention failed")??;
                let store = store.clone();
                Some(tokio::spawn(async move {
                    let mut every = tokio::time::interval(RETENTION_EVERY);
                    every.tick().await;
                    loop {
                        every.tick().await;
                        let store = store.clone();
                        let done = tokio::task::spawn_blocking(move || retain(&store, age)).await;
                        if let Ok(Err(e)) = done {
                            tracing::error!(error = %e, "collector retention failed");
                        }
                    }
                }))
            }
            None => None,
        };
        let app = Format::ALL
            .into_iter()
            .fold(Router::new(), |router, format| {
                router.route(
                    format.path(),
                    post(move |state, headers, body| receive(format, state, headers, body)),
                )
            })
            .with_state(Shared {
                store: store.clone(),
                body_timeout: options.body_timeout,
                check: options.check.clone(),
                decoders: Arc::new(Semaphore::new(options.max_decoders.max(1))),
                body_budget: Arc::new(Semaphore::new(kib(options
                    .max_body_bytes_held
                    .max(MAX_BODY_BYTES))
                    as usize)),
            });
        let header_timeout = options.header_timeout;
        let refused_connections = Arc::new(AtomicU64::new(0));
        let refused = refused_connections.clone();
        let (shutdown, mut stopped) = oneshot::channel::<()>();
        let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = &mut stopped => break,
                    Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                };
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors and the like: let it pass rather than spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    refused.fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                    continue;
                };
                let service = TowerToHyperService::new(app.clone());
                connections.spawn(async move {
                    let served = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(header_timeout)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "collector connection ended with an error");
                    }
                    drop(permit);
                });
            }
            // Dropping the set aborts every connection still open.
        });
        Ok(Collector {
            addr,
            store,
            refused_connections,
            shutdown: Some(shutdown),
            task: Some(task),
            retention,
        })
    }

    /// The address it listens on (with the port picked, if 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to configure as the telemetry endpoint (native batches).
    pub fn endpoint(&self) -> String {
        self.endpoint_for(Format::Native)
    }

    /// The URL a format's sender posts to.
    pub fn endpoint_for(&self, format: Format) -> String {
        format!("http://{}{}", self.addr, format.path())
    }

    /// Where it stores what it takes (shared: a PostgreSQL store's calls block, so a caller on
    /// an async thread hands a clone to `spawn_blocking`).
    pub fn store(&self) -> &Arc<EventStore> {
        &self.store
    }

    /// Connections closed at once because the limit was reached.
    pub fn refused_connections(&self) -> u64 {
        self.refused_connections.load(Ordering::Relaxed)
    }

    /// Stops listening and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(retention) = self.retention.take() {
            retention.abort();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
        if let Some(retention) = &self.retention {
            retention.abort();
        }
    }
}

/// Deletes what is older than `age`, and what is dated more than [`RETAIN_AHEAD`] from now (a
/// sender's clock may be off by that much, but an event dated years ahead would never age out,
/// and could keep a full database full for good).
fn retain(store: &EventStore, age: Duration) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let before = millis(now.saturating_sub(age));
    let after = millis(now.saturating_add(RETAIN_AHEAD));
    let deleted = store.delete_outside(before, after)?;
    if deleted > 0 {
        tracing::info!(deleted, "collector retention deleted older events");
    }
    Ok(())
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, format!("{why}\n")).into_response()
}

/// The media type of a request, without its parameters, lowercased.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// A gzip body inflated, up to [`MAX_BODY_BYTES`] (a small body must not expand into a
/// large one).
fn gunzip(body: &[u8]) -> Result<Vec<u8>, Refused> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| Refused::new("the body is not valid gzip"))?;
    if out.len() > MAX_BODY_BYTES {
        // A 400, as before: a bomb, not a batch a sender could split.
        return Err(Refused::new("the body is too large once inflated"));
    }
    Ok(out)
}

async fn receive(
    format: Format,
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // A web page's request carries an Origin: no site may post into a local collector.
    if headers.contains_key(header::ORIGIN) {
        return refuse(StatusCode::FORBIDDEN, "requests from web pages are refused");
    }
    let media = media_type(&headers);
    let taken = match format {
        Format::Otlp => media == otlp::PROTOBUF || media == otlp::JSON,
        _ => media == "application/json",
    };
    if !taken {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            match format {
                Format::Otlp => "the body must be application/x-protobuf or application/json",
                _ => "the body must be application/json",
            },
        );
    }
    // The body's share of what all bodies may hold at once, taken before it is read: its
    // declared length, or the most a body may be. Taken whole, so that no two requests each
    // holding a part can wait on each other.
    let declared = match headers
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<usize>().ok()))
    {
        None => MAX_BODY_BYTES,
        Some(Some(length)) if length <= MAX_BODY_BYTES => length,
        Some(Some(_)) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"),
        Some(None) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "the Content-Length is not a length",
            );
        }
    };
    let held = match tokio::time::timeout(
        shared.body_timeout,
        shared.body_budget.clone().acquire_many_owned(kib(declared)),
    )
    .await
    {
        Ok(Ok(held)) => held,
        Ok(Err(_)) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "storage failed"),
        Err(_) => return busy(),
    };
    let body = match tokio::time::timeout(shared.body_timeout, axum::body::to_bytes(body, declared))
        .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"),
        Err(_) => return refuse(StatusCode::REQUEST_TIMEOUT, "the body took too long"),
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let gzipped = match encoding.as_deref() {
        None | Some("identity") => false,
        Some("gzip") => true,
        Some(_) => {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be gzip or not encoded",
            );
        }
    };
    // A deletion request, on the native path: carried out even when the database is full
    // (it makes room).
    if format == Format::Native && !gzipped {
        match DeletionRequest::parse(&body) {
            Ok(request) => return forget(&shared, request).await,
            Err(DeletionError::NotDeletion) => {}
            Err(why) => {
                shared.store.note_rejected();
                return refuse(StatusCode::BAD_REQUEST, &why.to_string());
            }
        }
    }
    // Full: said before any work is spent on the body.
    if shared.store.is_full() {
        return full();
    }
    // A few bodies at a time: each may inflate to 16 MiB and take as much again to decode.
    let Ok(permit) = shared.decoders.clone().acquire_owned().await else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "storage failed");
    };
    let store = shared.store.clone();
    let check = shared.check.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let outcome = ingest_body(format, &media, &body, gzipped, check.as_ref(), &store);
        drop(permit);
        drop(body);
        drop(held);
        (outcome, media)
    })
    .await;
    let (outcome, media) = match outcome {
        Ok(done) => done,
        Err(_) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "storage failed"),
    };
    match outcome {
        Outcome::Stored(
            Ingested {
                accepted,
                duplicates,
                forgotten,
            },
            dropped,
        ) => match format {
            // OTLP's answer is an ExportLogsServiceResponse: all taken, so empty.
            Format::Otlp if media == otlp::PROTOBUF => {
                (StatusCode::OK, [(header::CONTENT_TYPE, otlp::PROTOBUF)], "").into_response()
            }
            Format::Otlp => (StatusCode::OK, axum::Json(serde_json::json!({}))).into_response(),
            _ => {
                let mut body = serde_json::json!({
                    "accepted": accepted,
                    "duplicates": duplicates,
                    "dropped_properties": dropped,
                });
                if forgotten > 0 {
                    body["forgotten"] = forgotten.into();
                }
                (StatusCode::OK, axum::Json(body)).into_response()
            }
        },
        Outcome::Refused(why) => {
            shared.store.note_rejected();
            let status = if why.is_too_large() {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            refuse(status, why.reason())
        }
        Outcome::Full => full(),
        Outcome::Failed => refuse(StatusCode::INTERNAL_SERVER_ERROR, "storage failed"),
    }
}

/// Carries out a deletion request: every event of the installation deleted, the deletion
/// recorded, and the count answered (a [`DeletionReceipt`]).
async fn forget(shared: &Shared, request: DeletionRequest) -> Response {
    let store = shared.store.clone();
    let forgotten = tokio::task::spawn_blocking(move || store.forget(&request.installation_id))
        .await
        .map_err(anyhow::Error::from)
        .and_then(|done| done);
    match forgotten {
        Ok(deleted) => {
            tracing::info!(
                deleted,
                "an installation asked to be forgotten; its events were deleted"
            );
            (StatusCode::OK, axum::Json(DeletionReceipt { deleted })).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "collector could not carry out a deletion request");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "storage failed")
        }
    }
}

/// What became of a body.
enum Outcome {
    /// Stored, with the properties dropped.
    Stored(Ingested, u64),
    Refused(Refused),
    Full,
    Failed,
}

/// Inflates, checks, decodes and stores one body: blocking, and bounded by `ingest`.
fn ingest_body(
    format: Format,
    media: &str,
    body: &[u8],
    gzipped: bool,
    check: Option<&BatchCheck>,
    store: &EventStore,
) -> Outcome {
    let inflated;
    let body = if gzipped {
        match gunzip(body) {
            Ok(b) => {
                inflated = b;
                &inflated[..]
            }
            Err(why) => return Outcome::Refused(why),
        }
    } else {
        body
    };
    if format == Format::Native
        && let Some(check) = check
        && let Err(why) = check(body)
    {
        tracing::warn!(reason = %why, "a batch failed the collector's check");
        return Outcome::Refused(Refused::new("the batch failed the collector's check"));
    }
    let received = match ingest::parse(format, body, media) {
        Ok(received) => received,
        Err(why) => return Outcome::Refused(why),
    };
    match store.store(format, &received) {
        Ok(ingested) => Outcome::Stored(ingested, received.dropped_properties),
        Err(e) if e.downcast_ref::<Full>().is_some() => Outcome::Full,
        Err(e) => {
            tracing::error!(error = %e, "collector could not store a batch");
            Outcome::Failed
        }
    }
}

/// Too many bodies held at once to take this one within its time: the sender retries later.
fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, BUSY_RETRY_AFTER_SECS.to_string())],
        "the collector is busy; try again later\n",
    )
        .into_response()
}

/// How long a sender is asked to wait when too many bodies are held at once.
const BUSY_RETRY_AFTER_SECS: u64 = 5;

/// `bytes` in permits of a KiB, rounded up (at least one, so every body takes its turn).
fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX)
}

/// The database is full: `503` with a `Retry-After`, which a sender retries later (a 4xx it
/// would drop the batch for).
fn full() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, FULL_RETRY_AFTER_SECS.to_string())],
        "the database is full; try again later\n",
    )
        .into_response()
}
