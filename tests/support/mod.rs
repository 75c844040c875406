//! Shared by the integration tests: fixture paths, a real collector, settings, and a plain
//! TCP listener that counts connections (to prove none were made).

#![allow(dead_code)]

pub mod faulty;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agent_telemetry::collector::{Collector, EventStore};
use agent_telemetry::{Consent, TelemetrySettings, wire};

/// A fixture agent (or the component) built by host/build.rs for wasm32-wasip2.
pub fn wasm(name: &str) -> PathBuf {
    PathBuf::from(env!("AGENT_TELEMETRY_WASM_DIR")).join(format!("{name}.wasm"))
}

/// The CLI binary of the package these tests belong to.
pub fn cli() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_agent-telemetry"))
}

/// The workspace's target directory, for tools the tests install.
pub fn target_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target"))
}

pub fn temp_dir(label: &str) -> PathBuf {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).unwrap();
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::env::temp_dir().join(format!("agent-telemetry-test-{label}-{suffix}"))
}

pub async fn collector() -> Collector {
    Collector::start(
        "127.0.0.1:0".parse().unwrap(),
        EventStore::open(None).unwrap(),
    )
    .await
    .unwrap()
}

/// Settings as a test wants them: on, explicit, ids in a fresh directory, not labelled CI.
pub fn settings(endpoint: &str, identity_dir: &std::path::Path) -> TelemetrySettings {
    let mut s = TelemetrySettings::new("test-product", "1.2.3")
        .endpoint(endpoint)
        .identity_dir(identity_dir)
        .consent(Consent::explicit(true, "test"));
    s.ci = false;
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

/// Runs the CLI to completion; returns (exit code, stdout, stderr, elapsed).
pub async fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String, Duration) {
    let start = std::time::Instant::now();
    let mut cmd = tokio::process::Command::new(cli());
    cmd.args(args).kill_on_drop(true);
    // The tests decide consent; the machine's own opt-outs must not change their outcome.
    // CI labelling is tested explicitly: the machine running the tests must not decide it.
    let ci = agent_telemetry::consent::CI_VARIABLES.iter().copied();
    for var in [
        "DO_NOT_TRACK",
        "TELEMETRY_ENABLED",
        "ANONYMIZED_TELEMETRY",
        "AGENT_TELEMETRY_ENDPOINT",
        "AGENT_TELEMETRY_HOME",
        "AGENT_TELEMETRY_DEBUG",
        "AGENT_TELEMETRY_NO_NOTICE",
        "AGENT_TELEMETRY_OFF_IN_CI",
    ]
    .into_iter()
    .chain(ci)
    {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("CLI hung")
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        start.elapsed(),
    )
}

/// A plain HTTP/1.1 POST over a TCP stream: the tests need no HTTP client crate for this.
pub async fn post(addr: SocketAddr, path: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A valid native batch of `n` server events with fresh ids.
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
        installation_id: "install_0123456789abcdef".to_string(),
        product: "test".to_string(),
        product_version: "1.0.0".to_string(),
        os: "linux".to_string(),
        arch: "x86_64".to_string(),
        ci: false,
        data: wire::Data::Server {
            state: wire::ServerState::Started,
        },
    };
    wire::Batch {
        schema: wire::SCHEMA.to_string(),
        schema_version: wire::SCHEMA_VERSION,
        batch_id: "batch-1".to_string(),
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
