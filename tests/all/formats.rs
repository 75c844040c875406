//! The wire formats, end to end: the real component in the real host (through `run` and the
//! native API) sends docker-agent's, Agent Swarm's and OTLP's requests to a real endpoint on
//! 127.0.0.1, which keeps them as they came. OTLP bodies are read back by the official Python
//! classes (`tests/tools/otlp_decode.py`); an agent built against `agent:telemetry@0.1.0`
//! still runs; a hostile agent gets nothing out in any format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agent_telemetry::event::{Event, ServerState, Task, TaskState};
use agent_telemetry::{Format, Telemetry};
use serde_json::Value;

use crate::privacy::{HOSTILE_USER, assert_no_secret_in, run_hostile, secrets};
use crate::support::capture::{CaptureServer, Captured};
use crate::support::{
    collector, events, events_in, home_env, identity_dir, installed_tool, run_cli, settings,
    temp_dir, wasm,
};

/// Runs the every-event fixture with `extra` options against `endpoint`; returns the home.
async fn run_every_event(label: &str, endpoint: &str, extra: &[&str]) -> PathBuf {
    let home = temp_dir(label);
    let fixture = wasm("fixture-every-event");
    let mut args = vec!["run", "--endpoint", endpoint, "--flush-deadline-ms", "5000"];
    args.extend_from_slice(extra);
    args.push(fixture.to_str().unwrap());
    let (code, stdout, stderr, _) = run_cli(&args, &[home_env(&home)]).await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    home
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// The egress ledger's entries (`egress.jsonl` in `home`), as JSON.
fn ledger(home: &Path) -> Vec<Value> {
    std::fs::read_to_string(home.join("egress.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn count<'a>(names: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut map = BTreeMap::new();
    for name in names {
        *map.entry(name.to_string()).or_default() += 1;
    }
    map
}

#[tokio::test]
async fn an_agent_built_against_0_1_0_still_runs_and_its_events_arrive() {
    let collector = collector().await;
    let home = temp_dir("legacy");
    let fixture = wasm("fixture-legacy-v0-1");
    let (code, stdout, stderr, _) = run_cli(
        &[
            "run",
            "--endpoint",
            &collector.endpoint(),
            fixture.to_str().unwrap(),
        ],
        &[home_env(&home)],
    )
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("recorded 10 events"), "{stdout}");
    assert!(stdout.contains("status enabled true"), "{stdout}");
    let stored = events(&collector, 10, Duration::from_secs(5)).await;
    let kinds = count(stored.iter().map(|e| e.data.kind()));
    assert_eq!(kinds.len(), 10, "one of every 0.1.0 kind: {kinds:?}");
    assert!(stored.iter().all(|e| e.product == "agent"));
    collector.stop().await;
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn docker_format_sends_docker_agents_records_with_the_configured_headers() {
    let server = CaptureServer::start().await;
    let home = run_every_event(
        "docker",
        &server.url("/events/v1/track"),
        &[
            "--format",
            "docker",
            "--headers",
            "x-api-key=test-key-4711",
            "--tags",
            "team=infra,os=plan9,note=/home/alice/secret.txt",
        ],
    )
    .await;
    let requests = server.accepted();
    assert!(!requests.is_empty());
    let mut names = Vec::new();
    for request in &requests {
        assert_eq!(request.path, "/events/v1/track");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("x-api-key"), Some("test-key-4711"));
        assert_eq!(
            request.header("agent-telemetry-events"),
            None,
            "the host takes it off"
        );
        for record in json(&request.body)["records"].as_array().unwrap() {
            let p = &record["properties"];
            assert!(record["event_timestamp"].as_u64().unwrap() % 1000 == 0);
            for key in ["user_uuid", "version", "os"] {
                assert!(p[key].is_string(), "{key} in {record}");
            }
            assert!(p.get("args").is_none(), "no arguments: {record}");
            // Custom tags go in; a system key is not theirs to change; a path is not sent.
            assert_eq!(p["team"], "infra", "{record}");
            assert_eq!(p["os"], std::env::consts::OS, "{record}");
            assert!(
                p["note"].as_str().unwrap().starts_with("other:"),
                "{record}"
            );
            let name = record["event"].as_str().unwrap();
            if name == "session" && p["action"] == "end" {
                // The totals docker-agent leaves at zero are the component's own.
                assert!(p["cost"].as_f64().unwrap() > 0.0, "{record}");
                assert!(p["error_count"].as_u64().unwrap() > 0, "{record}");
                assert_eq!(p["tool_calls"], 2);
            }
            names.push(name.to_string());
        }
    }
    assert_eq!(
        count(names.iter().map(String::as_str)),
        count(["command", "session", "session", "tool", "tool", "token"])
    );
    // The other 16 events have no docker-agent type: left out, and counted in the ledger.
    let entries = ledger(&home);
    let left_out: u64 = entries.iter().filter_map(|e| e["left_out"].as_u64()).sum();
    assert_eq!(left_out, 16, "{entries:?}");
    let ledger_text = std::fs::read_to_string(home.join("egress.jsonl")).unwrap();
    assert!(
        !ledger_text.contains("test-key-4711"),
        "a header value reached the ledger"
    );
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn swarm_format_sends_one_envelope_per_event_with_the_context_properties() {
    let server = CaptureServer::start().await;
    let home = run_every_event(
        "swarm",
        &server.url("/v1/events"),
        &[
            "--format",
            "swarm",
            "--context",
            "is_cloud=false,install_method=manual",
        ],
    )
    .await;
    let requests = server.accepted();
    let envelopes: Vec<Value> = requests.iter().map(|r| json(&r.body)).collect();
    let names: Vec<&str> = envelopes
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let mut expected = vec![
        "server.started",
        "agent.registered",
        "session.started",
        "session.cost",
        "session.failure",
        "session.ended",
    ];
    expected.extend(["task.created", "task.claimed", "task.started"]);
    expected.extend([
        "task.session_completed",
        "workflow.created",
        "workflow.completed",
    ]);
    expected.extend(["schedule.executed", "compaction.triggered"]);
    expected.extend([
        "task.completed",
        "task.failed",
        "task.cancelled",
        "server.shutdown",
    ]);
    assert_eq!(count(names), count(expected));
    for e in &envelopes {
        assert_eq!(e["actor_mode"], "anonymous");
        assert_eq!(e["product"], "agent");
        assert!(
            e["actor_anonymous_id"]
                .as_str()
                .unwrap()
                .starts_with("install_")
        );
        assert!(e["occurred_at"].as_str().unwrap().ends_with(".000Z"));
        assert_eq!(e["metadata"]["schema_version"], 1);
        assert_eq!(e["metadata"]["transport"], "http");
        assert_eq!(e["properties"]["is_cloud"], false);
        assert_eq!(e["properties"]["install_method"], "manual");
    }
    let left_out: u64 = ledger(&home)
        .iter()
        .filter_map(|e| e["left_out"].as_u64())
        .sum();
    assert_eq!(
        left_out, 4,
        "a command, two tool calls and a token use have no swarm event"
    );
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn a_swarm_batch_cut_short_by_failures_is_finished_later_without_duplicates() {
    let server = CaptureServer::start().await;
    // Three envelopes get through, then the endpoint fails until it is told otherwise.
    server.answer_from(3, 503);
    let url = server.url("/v1/events");
    let home = run_every_event("swarm-cut", &url, &["--format", "swarm"]).await;
    assert_eq!(server.accepted().len(), 3);
    assert!(server.requests().len() > 3, "it did try the rest");
    server.answer_from(0, 200);
    let (code, stdout, stderr, _) = run_cli(
        &["flush", "--endpoint", &url, "--format", "swarm"],
        &[home_env(&home)],
    )
    .await;
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let accepted: Vec<Vec<u8>> = server.accepted().into_iter().map(|r| r.body).collect();
    let mut distinct = accepted.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        accepted.len(),
        "an envelope was delivered twice"
    );
    assert_eq!(accepted.len(), 18, "every swarm event, once");
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn the_status_counts_events_a_format_leaves_out() {
    let server = CaptureServer::start().await;
    let dir = identity_dir("left-out");
    let telemetry =
        Telemetry::start(settings(&server.url("/events/v1/track"), &dir).format(Format::Docker))
            .await
            .unwrap();
    telemetry.record(Event::Server(agent_telemetry::event::Server {
        state: ServerState::Started,
        uptime_ms: None,
        sessions_processed: None,
    }));
    telemetry.record(Event::Task(Task {
        task_id: "t-1".into(),
        state: TaskState::Created,
        previous_state: None,
        agent: None,
        source: None,
        tags: Vec::new(),
        has_parent: false,
        priority: None,
        duration_ms: None,
    }));
    telemetry.track_command("run", &[] as &[&str], Ok(()));
    let report = telemetry.flush(Duration::from_secs(5)).await;
    assert_eq!((report.sent, report.left_out), (1, 2), "{report:?}");
    let status = telemetry.status().await;
    let component = status.component.expect("the component answers");
    assert_eq!((component.sent, component.left_out), (1, 2));
    assert_eq!(server.accepted().len(), 1);
    telemetry.shutdown(Duration::from_secs(2)).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Where tests/tools/install.sh puts the Python OTLP classes (installing them first if they
/// are not there yet).
fn python_path() -> PathBuf {
    installed_tool("python", "opentelemetry/proto")
}

/// What the official Python classes read from each `(encoding, file)`: per body, its records.
async fn python_decode(bodies: &[(&str, PathBuf)]) -> Vec<Vec<Value>> {
    let python = tokio::task::spawn_blocking(python_path).await.unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tools/otlp_decode.py");
    let mut command = tokio::process::Command::new("python3");
    command.arg(&script).env("PYTHONPATH", &python);
    for (encoding, path) in bodies {
        command.arg(format!("{encoding}:{}", path.display()));
    }
    let out = command.output().await.expect("python3 is needed");
    assert!(
        out.status.success(),
        "the Python OTLP decoder refused a body: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Writes each request's (gunzipped) body to a file for the decoder.
fn bodies_to_files(
    label: &str,
    requests: &[Captured],
    encoding: &'static str,
) -> Vec<(&'static str, PathBuf)> {
    let dir = temp_dir(label);
    std::fs::create_dir_all(&dir).unwrap();
    requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let path = dir.join(format!("{i}.body"));
            std::fs::write(&path, r.decoded_body()).unwrap();
            (encoding, path)
        })
        .collect()
}

/// The every-event fixture's 22 events, as OTLP log records read by Python.
fn check_fixture_records(records: &[Value]) {
    assert_eq!(records.len(), 22);
    let names = count(records.iter().map(|r| r["event_name"].as_str().unwrap()));
    assert_eq!(names["agent_telemetry.task"], 6);
    assert_eq!(names["agent_telemetry.tool_call"], 2);
    for r in records {
        assert_eq!(r["severity_number"], 9);
        assert_eq!(r["severity_text"], "INFO");
        assert_eq!(r["scope"], "agent-telemetry");
        assert_eq!(r["time_unix_nano"].as_u64().unwrap() % 1_000_000_000, 0);
        assert_eq!(r["resource"]["service.name"], "agent");
        assert_eq!(r["resource"]["os.type"], std::env::consts::OS);
        assert!(
            r["resource"]["service.instance.id"]
                .as_str()
                .unwrap()
                .starts_with("install_")
        );
        assert!(r["attributes"]["log.record.uid"].is_string());
        match r["event_name"].as_str().unwrap() {
            "agent_telemetry.tool_call" => {
                assert!(r["attributes"]["gen_ai.tool.name"].is_string(), "{r}");
                assert!(r["attributes"]["gen_ai.conversation.id"].is_string(), "{r}");
            }
            "agent_telemetry.token_usage" => {
                assert_eq!(r["attributes"]["gen_ai.request.model"], "gpt-4o");
                assert_eq!(r["attributes"]["gen_ai.usage.input_tokens"], 1200);
                assert_eq!(r["attributes"]["gen_ai.usage.output_tokens"], 300);
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn otlp_protobuf_gzipped_is_read_by_the_official_python_classes() {
    let server = CaptureServer::start().await;
    let home = run_every_event(
        "otlp-pb",
        &server.url("/v1/logs"),
        &["--format", "otlp", "--gzip"],
    )
    .await;
    let requests = server.accepted();
    for r in &requests {
        assert_eq!(r.path, "/v1/logs");
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));
    }
    let decoded = python_decode(&bodies_to_files("otlp-pb-bodies", &requests, "protobuf")).await;
    check_fixture_records(&decoded.concat());
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test]
async fn otlp_json_is_read_by_an_independent_json_mapping() {
    let server = CaptureServer::start().await;
    let home = run_every_event(
        "otlp-json",
        &server.url("/v1/logs"),
        &[
            "--format",
            "otlp",
            "--otlp-protocol",
            "http/json",
            "--tags",
            "team=infra",
        ],
    )
    .await;
    let requests = server.accepted();
    for r in &requests {
        assert_eq!(r.header("content-type"), Some("application/json"));
        // The OTLP/JSON mapping: lowerCamelCase names, int64 as decimal strings.
        let body = json(&r.body);
        let record = &body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
        assert!(record["timeUnixNano"].is_string(), "{record}");
        assert!(record["severityNumber"].is_number(), "{record}");
    }
    let decoded = python_decode(&bodies_to_files("otlp-json-bodies", &requests, "json")).await;
    let records = decoded.concat();
    check_fixture_records(&records);
    assert!(
        records.iter().all(|r| r["resource"]["team"] == "infra"),
        "custom tags in the Resource"
    );
    std::fs::remove_dir_all(&home).unwrap();
}

/// `--otlp-names older`: the official Python classes read the older GenAI names where the
/// current ones were, and the collector reads them as it reads the current ones.
#[tokio::test]
async fn otlp_with_the_older_names_is_read_by_python_and_by_the_collector() {
    let server = CaptureServer::start().await;
    let home = run_every_event(
        "otlp-older",
        &server.url("/v1/logs"),
        &["--format", "otlp", "--otlp-names", "older"],
    )
    .await;
    let requests = server.accepted();
    let decoded = python_decode(&bodies_to_files("otlp-older-bodies", &requests, "protobuf")).await;
    let records = decoded.concat();
    assert_eq!(records.len(), 22);
    let usage: Vec<&Value> = records
        .iter()
        .filter(|r| r["event_name"] == "agent_telemetry.token_usage")
        .collect();
    assert!(!usage.is_empty());
    for r in usage {
        assert_eq!(r["attributes"]["gen_ai.usage.prompt_tokens"], 1200, "{r}");
        assert_eq!(
            r["attributes"]["gen_ai.usage.completion_tokens"], 300,
            "{r}"
        );
        assert!(
            r["attributes"]["gen_ai.usage.input_tokens"].is_null(),
            "{r}"
        );
    }
    for r in &records {
        assert!(r["resource"]["deployment.environment"].is_string(), "{r}");
        assert!(
            r["resource"]["deployment.environment.name"].is_null(),
            "{r}"
        );
    }
    std::fs::remove_dir_all(&home).unwrap();

    // The collector reports the older names as it does the current ones.
    let mut models = Vec::new();
    for names in ["current", "older"] {
        let collector = collector().await;
        let home = run_every_event(
            names,
            &collector.endpoint_for(agent_telemetry_collector::Format::Otlp),
            &["--format", "otlp", "--otlp-names", names],
        )
        .await;
        assert_eq!(
            events_in(collector.store(), 22, Duration::from_secs(5)).await,
            22
        );
        let report =
            agent_telemetry_collector::report::Report::build(collector.store(), Default::default())
                .unwrap();
        models.push(
            report
                .models
                .iter()
                .map(|m| (m.model.clone(), m.events, m.input_tokens, m.output_tokens))
                .collect::<Vec<_>>(),
        );
        collector.stop().await;
        std::fs::remove_dir_all(&home).unwrap();
    }
    assert!(models[0].iter().any(|m| m.2 > 0), "{models:?}");
    assert_eq!(models[0], models[1]);
}

#[tokio::test]
async fn the_otlp_golden_files_read_the_same_in_python_as_protobuf_and_as_json() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest/golden");
    let decoded = python_decode(&[
        ("protobuf", golden.join("otlp.pb")),
        ("json", golden.join("otlp.json")),
    ])
    .await;
    assert_eq!(
        decoded[0].len(),
        15,
        "one record per event of the golden batch"
    );
    assert_eq!(decoded[0], decoded[1]);
}

#[tokio::test]
async fn a_hostile_agent_gets_nothing_out_in_any_format() {
    let secrets = secrets(HOSTILE_USER);
    for (label, options) in [
        ("docker", vec!["--format", "docker"]),
        ("swarm", vec!["--format", "swarm"]),
        ("otlp-pb", vec!["--format", "otlp", "--gzip"]),
        (
            "otlp-json",
            vec!["--format", "otlp", "--otlp-protocol", "http/json"],
        ),
    ] {
        let server = CaptureServer::start().await;
        let label = format!("hostile-{label}");
        let (home, _) = run_hostile(&label, &server.url("/ingest"), &options).await;
        let requests = server.accepted();
        assert!(
            !requests.is_empty(),
            "{label}: something was sent, so this means something"
        );
        let wire: Vec<u8> = requests.iter().flat_map(|r| r.decoded_body()).collect();
        assert_no_secret_in(&label, &String::from_utf8_lossy(&wire), &secrets);
        std::fs::remove_dir_all(&home).unwrap();
    }
}
