//! Shared by the integration tests (`tests/all`) and the benchmark: the fixture agents (built
//! by this crate's `build.rs`), a real collector, settings, an HTTP client, a faulty collector,
//! and a plain TCP listener that counts connections (to prove none were made).

pub mod capture;
pub mod faulty;
pub mod postgres;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agent_telemetry::{Consent, TelemetrySettings, wire};
use agent_telemetry_collector::{BatchCheck, Collector, CollectorOptions, EventStore};
use http_body_util::{BodyExt, Full};

/// A fixture agent (or the component) built for wasm32-wasip2 by this crate's build.rs.
pub fn wasm(name: &str) -> PathBuf {
    PathBuf::from(env!("AGENT_TELEMETRY_WASM_DIR")).join(format!("{name}.wasm"))
}

/// The workspace's target directory, for tools the tests install.
pub fn target_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../target"))
}

pub fn temp_dir(label: &str) -> PathBuf {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    std::env::temp_dir().join(format!(
        "agent-telemetry-test-{label}-{}",
        hex::encode(bytes)
    ))
}

pub async fn collector() -> Collector {
    let options = CollectorOptions {
        check: Some(schema_check()),
        ..CollectorOptions::default()
    };
    Collector::start_with(
        "127.0.0.1:0".parse().unwrap(),
        EventStore::open(None).unwrap(),
        options,
    )
    .await
    .unwrap()
}

/// The native batch's published JSON Schema, as checked in.
pub const BATCH_SCHEMA: &str = include_str!("../../../guest/contract/batch.schema.json");

/// Counts-only mode's upload's published JSON Schema, as checked in.
pub const COUNTS_SCHEMA: &str = include_str!("../../../guest/contract/counts.schema.json");

/// Every batch a test's collector takes is checked against the published schema by a JSON
/// Schema validator (the `jsonschema` crate): a batch the schema does not describe is refused,
/// and the test that sent it sees it missing.
pub fn schema_check() -> BatchCheck {
    let validator = |text: &str| {
        let schema: serde_json::Value = serde_json::from_str(text).unwrap();
        jsonschema::validator_for(&schema).expect("the published schema is valid")
    };
    let (batches, counts) = (validator(BATCH_SCHEMA), validator(COUNTS_SCHEMA));
    std::sync::Arc::new(move |body: &[u8]| {
        let batch: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        // Counts-only mode's uploads come to the same path, under their own schema.
        let validator = if batch["schema"] == agent_telemetry::contract::counts::SCHEMA {
            &counts
        } else if matches!(batch["schema_version"].as_u64(), Some(v) if v < wire::SCHEMA_VERSION.into())
        {
            // The schema describes the version this build writes; the collector's own check
            // reads the older ones (which the tests post by hand).
            return Ok(());
        } else {
            &batches
        };
        let errors: Vec<String> = validator
            .iter_errors(&batch)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            eprintln!("a batch does not match batch.schema.json: {errors:?}");
            Err(errors.join("; "))
        }
    })
}

/// Settings as a test wants them: on, explicit, ids in a fresh directory, not labelled CI.
pub fn settings(endpoint: &str, identity_dir: &std::path::Path) -> TelemetrySettings {
    let mut s = TelemetrySettings::new("test-product", "1.2.3")
        .endpoint(endpoint)
        .identity_dir(identity_dir)
        .consent(Consent::explicit(true, "test"));
    s.ci = false;
    // Tests run in containers too: a test about ephemeral runs says so.
    s.container = false;
    s.ephemeral = None;
    // The machine's own `telemetry off` must not decide a test.
    s.user_choice_dir = None;
    s.source = "test-suite".to_string();
    s.environment = "development".to_string();
    s
}

/// Waits until the collector holds `n` events (or the time is up) and returns them.
pub async fn events(collector: &Collector, n: usize, within: Duration) -> Vec<wire::Event> {
    let start = tokio::time::Instant::now();
    loop {
        let events = collector.store().events().unwrap();
        if events.len() >= n || start.elapsed() > within {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `store` holds `n` events (or the time is up); returns how many it holds.
pub async fn events_in(store: &EventStore, n: u64, within: Duration) -> u64 {
    let start = tokio::time::Instant::now();
    loop {
        let stored = store.counts().unwrap().events;
        if stored >= n || start.elapsed() > within {
            return stored;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Accepts connections on loopback and counts them; `hold` keeps them open without ever
/// answering (a collector that hangs).
pub struct CountingListener {
    pub addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingListener {
    pub async fn start() -> CountingListener {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                held.push(stream);
            }
        });
        CountingListener {
            addr,
            connections,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/v1/batch", self.addr)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for CountingListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port with nothing listening on it.
pub fn dead_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// POSTs `body` as JSON to `path` on `addr` with hyper, on a connection of its own; returns
/// the status and the whole response as text (status line, headers, body), for assertions and
/// messages.
pub async fn post(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, String) {
    post_with(addr, path, &[("content-type", "application/json")], body).await
}

/// [`post`] with the request headers given (a content type, an encoding...).
pub async fn post_with(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let (status, response_headers, body) = post_bytes(addr, path, headers, body).await;
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in &response_headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        text.push_str(&format!("{}: {value}\r\n", title_case(name.as_str())));
    }
    text.push_str("\r\n");
    text.push_str(&String::from_utf8_lossy(&body));
    (status, text)
}

/// POSTs `body` with `headers` to `path` on `addr` with hyper, on a connection of its own;
/// returns the status, the response's headers and its body as bytes (a protobuf answer, say).
pub async fn post_bytes(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, http::HeaderMap, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let mut request = http::Request::post(path).header(http::header::HOST, addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(bytes::Bytes::copy_from_slice(body)))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let response_headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    drop(sender);
    let _ = connection.await;
    (status, response_headers, body.to_vec())
}

/// `content-length` → `Content-Length`: how a header name is usually written (hyper keeps
/// them in lower case).
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The installation id of [`identity_dir`]'s directories and of [`batch`]'s events.
pub const INSTALLATION: &str = "install_0123456789abcdef";

/// A fresh identity directory whose installation id is [`INSTALLATION`]: batches from
/// [`batch`] planted in its spool are ones the component would send.
pub fn identity_dir(label: &str) -> PathBuf {
    let home = temp_dir(label);
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("installation-id"), INSTALLATION).unwrap();
    home
}

/// A valid native batch of `n` server events with fresh ids, one that passes every check the
/// component makes of a spooled batch (ids are UUIDs, times whole seconds) when it is sent
/// from an [`identity_dir`].
pub fn batch(n: usize) -> wire::Batch {
    let event = |i: usize| wire::Event {
        event_id: format!(
            "01900000-0000-7000-8000-{:012x}",
            i + usize::from(rand_u16()) * 1000
        ),
        occurred_at: "2026-01-01T00:00:00.000Z".to_string(),
        schema_version: wire::SCHEMA_VERSION,
        source: "test".to_string(),
        environment: "development".to_string(),
        installation_id: INSTALLATION.to_string(),
        product: "test".to_string(),
        product_version: "1.0.0".to_string(),
        os: "linux".to_string(),
        arch: "x86_64".to_string(),
        ci: false,
        tags: Default::default(),
        data: wire::Data::Server {
            state: wire::ServerState::Started,
            uptime_ms: None,
            sessions_processed: None,
        },
    };
    wire::Batch {
        schema: wire::SCHEMA.to_string(),
        schema_version: wire::SCHEMA_VERSION,
        batch_id: format!("01900000-0000-7000-9000-{:012x}", rand_u16()),
        sent_at: "2026-01-01T00:00:00.000Z".to_string(),
        dropped_events: 0,
        events: (0..n).map(event).collect(),
    }
}

fn rand_u16() -> u16 {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).unwrap();
    u16::from_le_bytes(bytes)
}
