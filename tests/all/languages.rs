//! Agents written in other languages than Rust, built with their own toolchains against
//! `world agent-command`, run under `agent-telemetry run` like any other agent: a Python agent
//! built with componentize-py and a JavaScript agent built with componentize-js (both
//! installed into target/tools by tests/tools/install.sh).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_telemetry::wire::Data;

use crate::support::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a toolchain's build command, which must succeed and write `out`.
async fn build(mut command: tokio::process::Command, out: &Path) {
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(out);
    let built = command
        .current_dir(root())
        .output()
        .await
        .expect("the toolchain's interpreter is needed");
    assert!(
        built.status.success() && out.exists(),
        "the build failed: {}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
}

/// Builds tests/agents/python with componentize-py, the build command in docs/languages.md
/// (with tests/events on the module path: the agent reads every-kind.json as it is built), into
/// `target/test-artifacts/<name>.wasm` (a file of the caller's own: tests run at once).
pub(crate) async fn python_agent(name: &str) -> PathBuf {
    let tool = tokio::task::spawn_blocking(|| installed_tool("componentize-py", "componentize_py"))
        .await
        .unwrap();
    let out = target_dir().join(format!("test-artifacts/{name}.wasm"));
    let mut command = tokio::process::Command::new("python3");
    command
        .args([
            "-c",
            "import sys; from componentize_py import script; sys.exit(script())",
        ])
        .args(["-d", "wit", "-w", "agent-command", "componentize"])
        .args(["-p", "tests/agents/python", "-p", "tests/events"])
        .args(["app", "-o"])
        .arg(&out)
        .env("PYTHONPATH", &tool);
    build(command, &out).await;
    out
}

/// Builds tests/agents/javascript with componentize-js, the build command in docs/languages.md.
async fn javascript_agent() -> PathBuf {
    let tool = tokio::task::spawn_blocking(|| {
        installed_tool("node", "node_modules/@bytecodealliance/componentize-js")
    })
    .await
    .unwrap();
    let out = target_dir().join("test-artifacts/javascript-agent.wasm");
    let mut command = tokio::process::Command::new("node");
    command
        .arg("tests/agents/javascript/build.mjs")
        .arg(&out)
        .env("NODE_PATH", tool.join("node_modules"));
    build(command, &out).await;
    out
}

/// What both agents record: a session with two tool calls and a model call. The collector
/// must have received every one, with the session's totals computed by the component.
async fn assert_delivered(collector: &agent_telemetry_collector::Collector) {
    let events = events(collector, 5, Duration::from_secs(5)).await;
    let mut kinds = BTreeMap::new();
    for e in &events {
        *kinds.entry(e.data.kind()).or_insert(0) += 1;
    }
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("session_end", 1),
            ("session_start", 1),
            ("token_usage", 1),
            ("tool_call", 2)
        ])
    );
    let mut tools: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.data {
            Data::ToolCall { tool, .. } => Some(tool.as_str()),
            _ => None,
        })
        .collect();
    tools.sort();
    assert_eq!(tools, ["read_file", "shell"]);
    let totals = events.iter().find_map(|e| match &e.data {
        Data::SessionEnd { totals, .. } => Some(totals),
        _ => None,
    });
    let totals = totals.expect("a session end");
    assert_eq!((totals.tool_calls, totals.tool_failures), (2, 1));
    assert_eq!((totals.input_tokens, totals.output_tokens), (1200, 300));
}

#[tokio::test]
async fn a_python_agent_delivers_every_event_it_records_without_network_and_its_exit_code() {
    let agent = python_agent("python-agent").await;
    let collector = collector().await;
    let listener = CountingListener::start().await;
    let (code, stdout, stderr, _) = run_cli(
        &[
            "run",
            "--endpoint",
            &collector.endpoint(),
            agent.to_str().unwrap(),
            "--connect",
            &listener.addr.to_string(),
            "--exit",
            "3",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 3, "the exit code passes through; {stdout}{stderr}");
    assert!(
        stdout.contains("python-agent: recorded 5 events"),
        "{stdout}"
    );
    // The attempt to open a socket fails inside the agent, and nothing reaches the listener.
    assert!(stdout.contains("python-agent: socket refused"), "{stdout}");
    assert_eq!(
        listener.connections(),
        0,
        "the sandbox let a connection through"
    );

    assert_delivered(&collector).await;
    collector.stop().await;
}

#[tokio::test]
async fn a_javascript_agent_delivers_every_event_it_records_and_has_no_network_at_all() {
    let agent = javascript_agent().await;
    let path = agent.to_str().unwrap();
    // Built without `http` and `fetch-event`: it imports neither HTTP nor sockets.
    let (code, audit, stderr, _) = run_cli(&["audit", path], &[]).await;
    assert!(audit.contains("imports ("), "{audit}{stderr}");
    assert!(code == 0 || code == 1, "{audit}{stderr}");
    for import in ["wasi:http/", "wasi:sockets/"] {
        assert!(!audit.contains(import), "imports {import}: {audit}");
    }

    let collector = collector().await;
    let endpoint = collector.endpoint();
    let (code, stdout, stderr, _) =
        run_cli(&["run", "--endpoint", &endpoint, path, "--exit", "3"], &[]).await;
    assert_eq!(code, 3, "the exit code passes through; {stdout}{stderr}");
    assert!(stdout.contains("js-agent: recorded 5 events"), "{stdout}");
    assert_delivered(&collector).await;
    collector.stop().await;

    // `fetch` has nothing to call: the agent stops there, and nothing reaches the listener.
    let listener = CountingListener::start().await;
    let url = format!("http://{}/", listener.addr);
    let (code, stdout, stderr, _) = run_cli(&["run", path, "--fetch", &url], &[]).await;
    assert!(stdout.contains("js-agent: fetching"), "{stdout}");
    assert!(!stdout.contains("fetch succeeded"), "{stdout}");
    assert_ne!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        listener.connections(),
        0,
        "the sandbox let a connection through"
    );
}
