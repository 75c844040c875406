//! A real OpenTelemetry collector between the component and `collect`: rotel (PyPI `rotel`, a
//! Rust OpenTelemetry collector, installed into `target/tools`) takes the component's OTLP/HTTP
//! logs, batches them and exports them over OTLP/HTTP to the collector, whose report counts every
//! event sent, in protobuf, gzipped protobuf and JSON.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use agent_telemetry_collector::Format;
use agent_telemetry_collector::report::{Range, Report};

use crate::support::*;

/// Events of the every-event fixture the OTLP format carries (all of them).
const EVERY_EVENT: u64 = 22;

/// A loopback port nothing listens on now (rotel takes ports, not a listener).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
}

/// rotel, listening for OTLP/HTTP on a free port and exporting to `collector`'s OTLP path;
/// killed when dropped.
async fn rotel(collector_origin: &str) -> (tokio::process::Child, SocketAddr) {
    let agent = tokio::task::spawn_blocking(|| installed_tool("rotel", "rotel/rotel-agent"))
        .await
        .unwrap()
        .join("rotel/rotel-agent");
    let (http, grpc) = (free_port(), free_port());
    let dir = temp_dir("rotel");
    let child = tokio::process::Command::new(agent)
        .args([
            "start",
            "--otlp-http-endpoint",
            &http.to_string(),
            "--otlp-grpc-endpoint",
            &grpc.to_string(),
            "--exporter",
            "otlp",
            "--otlp-exporter-protocol",
            "http",
            "--otlp-exporter-endpoint",
            collector_origin,
            "--pid-file",
            dir.join("rotel.pid").to_str().unwrap(),
            "--log-file",
            dir.join("rotel.log").to_str().unwrap(),
        ])
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("rotel-agent starts");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(http).await.is_ok() {
            return (child, http);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("rotel did not listen on {http}");
}

#[tokio::test]
async fn the_components_otlp_through_rotel_is_counted_whole_by_the_collector() {
    let collector = collector().await;
    let endpoint = collector.endpoint_for(Format::Otlp);
    let origin = endpoint.trim_end_matches("/v1/logs");
    let (mut rotel, http) = rotel(origin).await;
    let fixture = wasm("fixture-every-event");
    let through = format!("http://{http}/v1/logs");
    let encodings: [&[&str]; 3] = [&[], &["--gzip"], &["--otlp-protocol", "http/json"]];
    for (i, extra) in encodings.iter().enumerate() {
        let mut args = vec!["run", "--format", "otlp", "--endpoint", &through];
        args.extend_from_slice(extra);
        args.push(fixture.to_str().unwrap());
        let (code, stdout, stderr, _) = run_cli(&args, &[("AGENT_TELEMETRY_NO_NOTICE", "1")]).await;
        assert_eq!(code, 0, "{extra:?}: {stdout}\n{stderr}");
        let want = EVERY_EVENT * (i as u64 + 1);
        let stored = events_in(collector.store(), want, Duration::from_secs(20)).await;
        assert_eq!(
            stored, want,
            "{extra:?}: rotel delivered {stored} of {want}"
        );
    }
    let report = Report::build(collector.store(), Range::default()).unwrap();
    assert_eq!(report.events, 3 * EVERY_EVENT, "{report:?}");
    assert_eq!(report.installations, 3, "one home per run");
    let counts = collector.store().counts().unwrap();
    assert_eq!((counts.rejected_batches, counts.duplicates), (0, 0));
    let facts = collector.store().facts().unwrap();
    assert!(facts.iter().all(|f| f.format == "otlp"), "{facts:?}");
    rotel.kill().await.ok();
    collector.stop().await;
}
