//! The telemetry component outside wasmtime: transpiled to JavaScript by `jco transpile`, run
//! under Node with Bytecode Alliance's preview2-shim as its WASI and our `wasi:config` module
//! (tests/node/wasi-config.js) as its configuration, it records events of every kind and
//! flushes them to a collector in another process (this one: preview2-shim's HTTP blocks
//! Node's main thread).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_telemetry::TELEMETRY_COMPONENT;
// Every kind the component sends, as the wire names it (the collector's own tests hold this
// list to what the component sends).
use agent_telemetry_collector::ingest::KINDS;

use crate::support::*;

/// The component as the library ships it, transpiled, with tests/node's two files and
/// tests/events/every-kind.json beside it.
async fn transpiled() -> PathBuf {
    let modules = tokio::task::spawn_blocking(|| {
        installed_tool("node", "node_modules/@bytecodealliance/preview2-shim")
    })
    .await
    .unwrap()
    .join("node_modules");
    let out = target_dir().join("test-artifacts/node-telemetry");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let component = out.join("agent_telemetry_guest.wasm");
    std::fs::write(&component, TELEMETRY_COMPONENT).unwrap();
    let jco = modules.join("@bytecodealliance/jco/dist/jco.js");
    let transpile = tokio::process::Command::new("node")
        .arg(&jco)
        .arg("transpile")
        .arg(&component)
        .args(["--name", "telemetry", "--quiet", "-o"])
        .arg(&out)
        .args(["--map", "wasi:config/store=./wasi-config.js"])
        .output()
        .await
        .expect("node is needed to run jco");
    assert!(
        transpile.status.success(),
        "jco transpile failed: {}",
        String::from_utf8_lossy(&transpile.stderr)
    );
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests");
    for file in [
        "node/wasi-config.js",
        "node/record-every-kind.mjs",
        "events/every-kind.json",
    ] {
        let from = tests.join(file);
        std::fs::copy(&from, out.join(from.file_name().unwrap())).unwrap();
    }
    // What jco wrote is ES modules, and it imports preview2-shim by its package name.
    std::fs::write(out.join("package.json"), r#"{"type":"module"}"#).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&modules, out.join("node_modules")).unwrap();
    out
}

#[tokio::test]
async fn the_component_transpiled_by_jco_records_every_kind_under_node() {
    let dir = transpiled().await;
    let collector = collector().await;
    let config = serde_json::json!({
        "enabled": "true",
        "endpoint": collector.endpoint(),
        "installation-id": "install_0123456789abcdef",
        "hash-key": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        "product": "node-program",
        "product-version": "1.0.0",
        "source": "node",
    });
    let run = tokio::process::Command::new("node")
        .arg("record-every-kind.mjs")
        .current_dir(&dir)
        .env("AGENT_TELEMETRY_CONFIG", config.to_string())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("node hung")
        .expect("node is needed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("recorded 14 events"), "{stdout}");
    assert!(stdout.contains(r#"flush {"sent":14,"#), "{stdout}");

    let events = events(&collector, KINDS.len(), Duration::from_secs(5)).await;
    let kinds: BTreeSet<&str> = events.iter().map(|e| e.data.kind()).collect();
    assert_eq!(kinds, KINDS.into_iter().collect());
    // The component did its work as under wasmtime: the envelope from our configuration,
    // ids replaced by pseudonyms.
    assert!(events.iter().all(|e| e.product == "node-program"
        && e.installation_id == "install_0123456789abcdef"));
    let body = serde_json::to_string(&events).unwrap();
    assert!(
        !body.contains("node-session-1"),
        "a session id left as it was: {body}"
    );
    collector.stop().await;
}
