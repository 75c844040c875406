//! OpenTelemetry in, through both doors, end to end: an agent that imports only `wasi:otel`
//! (built with wit-bindgen against the vendored WIT) under `run`, and a native agent using the
//! official OpenTelemetry Python SDK exporting to `relay`. Their GenAI spans and token metric
//! arrive at a real collector as events; their content, span names and other attributes never
//! reach the wire in any format, and what was dropped is counted where `log` shows it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use agent_telemetry::wire::{self, Data};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::privacy::{HOSTILE_USER, assert_no_secret_in, secrets};
use crate::support::capture::CaptureServer;
use crate::support::{
    cli_command, collector, dead_port, events, home_env, installed_tool, post_bytes, run_cli,
    temp_dir, wasm,
};

/// What the fixture's and the Python agent's spans (with no secrets) become: a session with
/// a model call and a tool call in it, a workflow and an agent's creation.
const SESSION_EVENTS: usize = 6;

fn kinds(events: &[wire::Event]) -> BTreeMap<&'static str, usize> {
    let mut map = BTreeMap::new();
    for e in events {
        *map.entry(e.data.kind()).or_default() += 1;
    }
    map
}

/// The events of one session, a workflow and a registration, as both agents send them.
fn check_session(events: &[wire::Event], exact_durations: bool) {
    let kinds = kinds(events);
    for kind in [
        "session_start",
        "session_end",
        "tool_call",
        "token_usage",
        "workflow",
        "agent_registered",
    ] {
        assert_eq!(kinds.get(kind), Some(&1), "{kind} in {kinds:?}");
    }
    for e in events {
        match &e.data {
            Data::ToolCall {
                tool,
                outcome,
                error,
                duration_ms,
                ..
            } => {
                assert_eq!(tool, "read_file");
                assert_eq!(*outcome, wire::Outcome::Failure);
                assert_eq!(*error, Some(wire::ErrorKind::NotFound));
                if exact_durations {
                    assert_eq!(*duration_ms, 250);
                }
            }
            Data::TokenUsage {
                model,
                input_tokens,
                output_tokens,
                ..
            } => {
                assert!(model.starts_with("gpt-4o"), "{model}");
                assert_eq!((*input_tokens, *output_tokens), (1200, 300));
            }
            Data::SessionEnd { agent, outcome, .. } => {
                assert_eq!(agent.as_deref(), Some("planner"));
                assert_eq!(*outcome, wire::Outcome::Success);
            }
            Data::AgentRegistered { agent, .. } => assert_eq!(agent, "reviewer"),
            _ => {}
        }
    }
}

/// The reasons and counts in a note of what was dropped (`... : 4 content attributes, 1 log
/// records`), each whole, so that `2` is never found in `12`.
fn reasons(text: &str) -> BTreeSet<String> {
    text.rsplit_once(": ")
        .map_or("", |(_, list)| list.trim())
        .split(", ")
        .map(str::to_string)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Runs the wasi:otel fixture `name` with `args` (its secrets) under `run` with `options`.
async fn run_otel_fixture(
    name: &str,
    home: &Path,
    endpoint: &str,
    options: &[&str],
    args: &[String],
) -> String {
    let fixture = wasm(name);
    let mut argv = vec![
        "run",
        "--endpoint",
        endpoint,
        "--flush-deadline-ms",
        "5000",
        "--allow-agent",
        "planner,reviewer",
    ];
    argv.extend_from_slice(options);
    argv.push(fixture.to_str().unwrap());
    argv.extend(args.iter().map(String::as_str));
    let user = HOSTILE_USER;
    let (code, stdout, stderr, _) =
        run_cli(&argv, &[home_env(home), ("USER", user), ("LOGNAME", user)]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    stdout
}

/// The ledger's notes of what OpenTelemetry in dropped, as `log --json` shows them.
async fn dropped_notes(home: &Path) -> Vec<Value> {
    let (code, stdout, stderr, _) = run_cli(&["log", "--json"], &[home_env(home)]).await;
    assert_eq!(code, 0, "{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["dropped"].is_u64())
        .collect()
}

#[tokio::test]
async fn an_agent_that_speaks_only_wasi_otel_is_counted_with_no_network() {
    let collector = collector().await;
    let home = temp_dir("otel-wasi");
    let stdout =
        run_otel_fixture("fixture-otel-only", &home, &collector.endpoint(), &[], &[]).await;
    assert!(
        stdout.contains(&format!(
            "outer span context: trace {} span {} sampled false",
            "0".repeat(32),
            "0".repeat(16)
        )),
        "{stdout}"
    );
    assert!(stdout.contains("exported metrics: Ok(())"), "{stdout}");
    let stored = events(&collector, SESSION_EVENTS, Duration::from_secs(5)).await;
    assert_eq!(stored.len(), SESSION_EVENTS, "{:?}", kinds(&stored));
    check_session(&stored, true);

    // What was dropped is in the ledger: the content attributes, the span of no GenAI
    // operation, the duplicate tool span, the log record and the metric points (the token
    // metric's included: the spans carried the same tokens).
    let notes = dropped_notes(&home).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    let note = notes[0]["note"].as_str().unwrap();
    assert_eq!(
        reasons(note),
        set(&[
            "4 content attributes",
            "2 other attributes",
            "2 spans of no mapped kind",
            "1 log records",
            "2 metric points",
        ]),
        "{note}"
    );
    assert_eq!(notes[0]["dropped"], 11);
    let (_, log, _, _) = run_cli(&["log"], &[home_env(&home)]).await;
    assert!(log.contains("dropped (OpenTelemetry in)"), "{log}");
    let total = notes[0]["dropped"].as_u64().unwrap();
    let status = crate::support::status_json(&[home_env(&home)]).await;
    assert_eq!(status["otel_dropped"], total, "{status}");

    // `audit` allows the import, and says why; the agent imports nothing of ours.
    let (code, audit, stderr, _) = run_cli(
        &[
            "audit",
            "--json",
            wasm("fixture-otel-only").to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{audit}\n{stderr}");
    assert!(audit.contains("wasi:otel/tracing"), "{audit}");
    assert!(audit.contains("OpenTelemetry the agent emits"), "{audit}");
    assert!(!audit.contains("agent:telemetry"), "{audit}");
    collector.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn an_agent_may_import_both_wasi_otel_and_the_recorder() {
    let collector = collector().await;
    let home = temp_dir("otel-both");
    let stdout = run_otel_fixture(
        "fixture-otel",
        &home,
        &collector.endpoint(),
        &[],
        &["--recorder".to_string()],
    )
    .await;
    assert!(
        stdout.contains("recorded 1 event through the recorder import"),
        "{stdout}"
    );
    // The session's events, and the one event of the recorder import beside them.
    let stored = events(&collector, SESSION_EVENTS + 1, Duration::from_secs(5)).await;
    assert_eq!(stored.len(), SESSION_EVENTS + 1, "{:?}", kinds(&stored));
    assert_eq!(kinds(&stored).get("command"), Some(&1));
    check_session(&stored, true);
    collector.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
}

/// Every wire format, as `run` and `relay` are told to send it: a label and the options.
fn every_format() -> [(&'static str, Vec<&'static str>); 5] {
    [
        ("native", vec![]),
        ("docker", vec!["--format", "docker"]),
        ("swarm", vec!["--format", "swarm"]),
        ("otlp-pb", vec!["--format", "otlp", "--gzip"]),
        (
            "otlp-json",
            vec!["--format", "otlp", "--otlp-protocol", "http/json"],
        ),
    ]
}

#[tokio::test]
async fn no_content_a_wasi_otel_agent_emits_reaches_the_wire_in_any_format() {
    let secrets = secrets(HOSTILE_USER);
    for (label, options) in every_format() {
        let server = CaptureServer::start().await;
        let home = temp_dir(&format!("otel-secrets-{label}"));
        run_otel_fixture(
            "fixture-otel-only",
            &home,
            &server.url("/ingest"),
            &options,
            &secrets,
        )
        .await;
        let requests = server.accepted();
        assert!(!requests.is_empty(), "{label}: something was sent");
        let wire: Vec<u8> = requests.iter().flat_map(|r| r.decoded_body()).collect();
        assert_no_secret_in(label, &String::from_utf8_lossy(&wire), &secrets);
        assert!(
            !String::from_utf8_lossy(&wire)
                .to_lowercase()
                .contains(HOSTILE_USER),
            "{label}: the user name reached the wire"
        );
        if label == "native" {
            // Each secret's tool span and model span came through (as a session start, a
            // tool call and a token use, their names under the anonymizer's rules): the
            // checks above saw them.
            let sent = native_events(&requests);
            assert_eq!(sent, SESSION_EVENTS + 3 * secrets.len(), "{label}");
        }
        std::fs::remove_dir_all(&home).unwrap();
    }
}

/// A `relay` process, stopped with SIGTERM; its output is read as it comes.
struct Relay {
    child: tokio::process::Child,
    url: String,
    output: tokio::task::JoinHandle<String>,
}

impl Relay {
    async fn start(home: &Path, endpoint: &str, extra: &[&str]) -> Relay {
        Relay::start_as(home, endpoint, extra, &[]).await
    }

    /// [`start`](Self::start) with `env` on top of the tests' environment.
    async fn start_as(home: &Path, endpoint: &str, extra: &[&str], env: &[(&str, &str)]) -> Relay {
        // A deadline a slow machine meets: the tests wait for what the relay delivers.
        let mut args = vec![
            "relay",
            "--listen",
            "127.0.0.1:0",
            "--endpoint",
            endpoint,
            "--flush-deadline-ms",
            "10000",
        ];
        args.extend_from_slice(extra);
        let mut vars = vec![home_env(home), ("AGENT_TELEMETRY_NO_NOTICE", "1")];
        vars.extend_from_slice(env);
        let mut command = cli_command(&args, &vars);
        command.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the relay did not start")
            .unwrap()
            .unwrap_or_default();
        let url = first
            .strip_prefix("relay listening on ")
            .unwrap_or_else(|| panic!("{first}"))
            .to_string();
        let output = tokio::spawn(async move {
            let mut rest = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                rest.push_str(&line);
                rest.push('\n');
            }
            rest
        });
        Relay { child, url, output }
    }

    /// SIGTERM, then what it printed after its address. It must stop on its own: the grace
    /// for open connections (2 s) and the flush (10 s at most here) well within 20 s.
    async fn stop(mut self) -> String {
        let pid = self.child.id().unwrap() as i32;
        // SAFETY: a signal to our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the relay did not stop on SIGTERM")
            .unwrap();
        let out = self.output.await.unwrap();
        assert!(status.success(), "{out}");
        out
    }
}

/// The official OpenTelemetry Python SDK (installed by tests/tools/install.sh).
fn python_sdk() -> PathBuf {
    installed_tool("otel-sdk", "opentelemetry/sdk")
}

/// Runs the Python agent in `mode` (`protobuf` or `json`) with `secrets`, exporting to `url`.
async fn python_agent(url: &str, mode: &str, secrets: &[String]) {
    let sdk = tokio::task::spawn_blocking(python_sdk).await.unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/agents/python-otel/agent.py");
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(mode)
        .args(secrets)
        .env("PYTHONPATH", &sdk)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", url)
        .env_remove("OTEL_SDK_DISABLED")
        .output()
        .await
        .expect("python3 is needed");
    assert!(
        out.status.success(),
        "the Python agent failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_python_agent_using_the_official_sdk_is_counted_through_the_relay() {
    for mode in ["protobuf", "json"] {
        let collector = collector().await;
        let home = temp_dir(&format!("relay-{mode}"));
        let relay = Relay::start(
            &home,
            &collector.endpoint(),
            &["--allow-agent", "planner,reviewer"],
        )
        .await;
        python_agent(&relay.url, mode, &[]).await;
        let out = relay.stop().await;
        assert!(out.contains("stopping:"), "{out}");
        let stored = events(&collector, SESSION_EVENTS, Duration::from_secs(5)).await;
        assert_eq!(stored.len(), SESSION_EVENTS, "{mode}: {:?}", kinds(&stored));
        check_session(&stored, false);
        let notes = dropped_notes(&home).await;
        let note = notes
            .iter()
            .filter_map(|n| n["note"].as_str())
            .collect::<Vec<_>>()
            .join("; ");
        assert!(note.contains("content attributes"), "{mode}: {note}");
        collector.stop().await;
        std::fs::remove_dir_all(&home).unwrap();
    }
}

#[tokio::test]
async fn no_content_a_native_agent_exports_reaches_the_wire_through_the_relay() {
    let secrets = secrets(HOSTILE_USER);
    for (label, options) in every_format() {
        let server = CaptureServer::start().await;
        let home = temp_dir(&format!("relay-secrets-{label}"));
        // As the hostile user, as the hostile tests run: the user's name is a secret too.
        let user = HOSTILE_USER;
        let relay = Relay::start_as(
            &home,
            &server.url("/ingest"),
            &options,
            &[("USER", user), ("LOGNAME", user)],
        )
        .await;
        python_agent(&relay.url, "protobuf", &secrets).await;
        relay.stop().await;
        let requests = server.accepted();
        assert!(!requests.is_empty(), "{label}: something was sent");
        let wire: Vec<u8> = requests.iter().flat_map(|r| r.decoded_body()).collect();
        assert_no_secret_in(label, &String::from_utf8_lossy(&wire), &secrets);
        if label == "native" {
            // Each secret's tool and model spans came through the mapping (a session start,
            // a tool call, a token use, their names under the anonymizer's rules).
            let sent = native_events(&requests);
            assert_eq!(sent, SESSION_EVENTS + 3 * secrets.len(), "{label}");
        }
        std::fs::remove_dir_all(&home).unwrap();
    }
}

#[tokio::test]
async fn behind_the_relay_a_dead_collector_loses_nothing() {
    let home = temp_dir("relay-dead");
    let dead = format!("http://{}/v1/batch", dead_port());
    let relay = Relay::start(&home, &dead, &["--allow-agent", "planner,reviewer"]).await;
    python_agent(&relay.url, "protobuf", &[]).await;
    let out = relay.stop().await;
    assert!(out.contains("still pending"), "{out}");

    let collector = collector().await;
    let (code, stdout, stderr, _) = run_cli(
        // The same allowlist as the relay's: the spooled names were sent as written.
        &[
            "flush",
            "--endpoint",
            &collector.endpoint(),
            "--allow-agent",
            "planner,reviewer",
        ],
        &[home_env(&home)],
    )
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let stored = events(&collector, SESSION_EVENTS, Duration::from_secs(5)).await;
    assert_eq!(
        stored.len(),
        SESSION_EVENTS,
        "{:?}\nrelay: {out}\nflush: {stdout}{stderr}",
        kinds(&stored)
    );
    check_session(&stored, false);
    collector.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
}

/// An export request of `spans` tool spans, as protobuf.
fn tool_spans(spans: usize) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value as Any};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message;
    let kv = |k: &str, v: &str| KeyValue {
        key: k.to_string(),
        value: Some(AnyValue {
            value: Some(Any::StringValue(v.to_string())),
        }),
        ..Default::default()
    };
    let span = Span {
        name: "execute_tool grep".into(),
        attributes: vec![
            kv("gen_ai.operation.name", "execute_tool"),
            kv("gen_ai.tool.name", "grep"),
        ],
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span; spans],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

#[tokio::test]
async fn a_flood_of_spans_is_bounded_and_counted() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
    use prost::Message;
    let server = CaptureServer::start().await;
    let home = temp_dir("relay-flood");
    let relay = Relay::start(&home, &server.url("/ingest"), &["--max-items", "1000"]).await;
    // One request past the bound: the first 1,000 are taken, the rest refused and counted,
    // and the exporter is told (OTLP's partial success).
    let (status, body) = post_protobuf(&relay.url, "/v1/traces", tool_spans(1500)).await;
    assert_eq!(status, 200);
    let answer = ExportTraceServiceResponse::decode(&body[..]).unwrap();
    let partial = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 500);
    // Then many requests at once: the relay stays up, and answers each.
    let mut sent = Vec::new();
    for _ in 0..40 {
        let url = relay.url.clone();
        sent.push(tokio::spawn(async move {
            post_protobuf(&url, "/v1/traces", tool_spans(1000)).await.0
        }));
    }
    for s in sent {
        assert_eq!(s.await.unwrap(), 200);
    }
    // Bad bodies get a clear refusal, not a crash.
    let (status, _) = post_protobuf(&relay.url, "/v1/traces", b"\xff\xff\xff".to_vec()).await;
    assert_eq!(status, 400);
    // An exporter's kept-alive connection, open when the relay is stopped, does not hold the
    // stop up (`stop` allows 20 s; the relay gives open connections 2).
    let addr = relay.url.strip_prefix("http://").unwrap().to_string();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let held = tokio::spawn(connection);
    let request = http::Request::post("/v1/traces")
        .header(http::header::HOST, &addr)
        .header("content-type", "application/x-protobuf")
        .body(http_body_util::Full::new(bytes::Bytes::from(tool_spans(1))))
        .unwrap();
    assert_eq!(sender.send_request(request).await.unwrap().status(), 200);
    let out = relay.stop().await;
    drop(sender);
    held.abort();
    let line = out
        .lines()
        .find(|l| l.starts_with("stopping:"))
        .unwrap_or_default();
    assert_eq!(
        reasons(line),
        set(&[
            "500 items past the relay's bounds",
            "1 requests refused whole"
        ]),
        "{out}"
    );
    std::fs::remove_dir_all(&home).unwrap();
}

/// POSTs `body` as protobuf to `path` of the relay at `url`, on a connection of its own; the
/// status and the body of the answer.
async fn post_protobuf(url: &str, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let addr = url.strip_prefix("http://").unwrap().parse().unwrap();
    let headers = [("content-type", "application/x-protobuf")];
    let (status, _, body) = post_bytes(addr, path, &headers, &body).await;
    (status, body)
}

/// Events in the native batches `requests` carried.
fn native_events(requests: &[crate::support::capture::Captured]) -> usize {
    requests
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.decoded_body()).unwrap()["events"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum()
}
