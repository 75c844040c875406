//! Golden files: one batch with an event of every kind (those of tests/events/every-kind.json),
//! as the native format and every other format writes it, checked in under `guest/golden/` and
//! reviewed by hand. A change to any
//! format shows here as a diff to review; `UPDATE_GOLDEN=1 cargo test -p agent-telemetry-guest
//! golden` writes the files again from the code.
//!
//! JSON files are compared as JSON values (they are checked in pretty-printed, for reading);
//! the protobuf file byte for byte.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::bindings::exports::agent::telemetry::recorder as wit;
use crate::config::{Endpoint, Format, OtlpNames, OtlpProtocol, Settings};
use crate::encode::{Options, encode};
use crate::pipeline::{Entropy, Pipeline};

struct Fixed(u8);

impl Entropy for Fixed {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_add(7);
            *b = self.0;
        }
    }
}

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_000_000 + seconds)
}

/// One event of every kind, as an agent would record them (tests/events/every-kind.json),
/// and the server's shutdown last.
fn events() -> Vec<wit::Event> {
    let mut events: Vec<wit::Event> = agent_telemetry_test_events::every_kind();
    events.push(wit::Event::Server(wit::Server {
        state: wit::ServerState::Shutdown,
        uptime_ms: Some(3_600_000),
        sessions_processed: Some(12),
    }));
    events
}

/// The golden batch's pipeline and native bytes.
fn golden_batch() -> (Pipeline, Vec<u8>) {
    let settings = Settings::from_pairs([
        ("enabled", "true"),
        ("endpoint", "http://127.0.0.1:4318/v1/logs"),
        ("installation-id", "install_0123456789abcdef"),
        (
            "hash-key",
            "8c1f0e4b2a7d93665e0f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7",
        ),
        ("source", "cli"),
        ("product", "my-agent"),
        ("product-version", "1.4.0"),
        ("os", "linux"),
        ("arch", "x86_64"),
        ("agent-allowlist", "planner"),
        ("flag-allowlist", "debug"),
        ("os-language", "en-US"),
        ("context-properties", "is_cloud=false,install_method=manual"),
        // `os` is a system key: docker-agent's wins, and so does the envelope's elsewhere.
        ("tags", "team=infra,repo=agent-telemetry,os=plan9"),
    ]);
    let mut pipeline = Pipeline::new(settings, &mut Fixed(0));
    for (i, event) in events().iter().enumerate() {
        pipeline.record(event, at(i as u64), &mut Fixed(i as u8));
    }
    let batch = pipeline
        .take_batch(at(60), &mut Fixed(99))
        .expect("fifteen events make a batch");
    assert_eq!(batch.len(), 15);
    (pipeline, batch.body)
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name)
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

/// Compares `bodies` (JSON, one per request) with the golden JSON file `name`: one value, or
/// an array of them when the format makes a request per event.
fn check_json(name: &str, bodies: &[Vec<u8>], one: bool) {
    let values: Vec<Value> = bodies
        .iter()
        .map(|b| serde_json::from_slice(b).expect("a JSON body"))
        .collect();
    let actual = if one {
        assert_eq!(values.len(), 1, "{name}: one request");
        values[0].clone()
    } else {
        Value::Array(values)
    };
    if updating() {
        let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
        std::fs::write(path(name), text).unwrap();
        return;
    }
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(path(name))
            .unwrap_or_else(|e| panic!("{name}: {e} (UPDATE_GOLDEN=1 writes it)")),
    )
    .unwrap();
    assert_eq!(
        actual, golden,
        "{name} differs from the golden file; review, then UPDATE_GOLDEN=1"
    );
}

fn requests(format: Format, protocol: OtlpProtocol) -> (Vec<Vec<u8>>, usize) {
    requests_named(format, protocol, OtlpNames::Current)
}

fn requests_named(
    format: Format,
    protocol: OtlpProtocol,
    names: OtlpNames,
) -> (Vec<Vec<u8>>, usize) {
    let (pipeline, body) = golden_batch();
    let options = Options {
        format,
        otlp_protocol: protocol,
        otlp_names: names,
        ..pipeline.wire().clone()
    };
    let endpoint = Endpoint::parse("http://127.0.0.1:4318/v1/logs").unwrap();
    let encoded = encode(&options, &endpoint, &body, 15, None).unwrap();
    let left_out = encoded.left_out;
    (
        encoded.requests.into_iter().map(|r| r.body).collect(),
        left_out,
    )
}

#[test]
fn native() {
    let (_, body) = golden_batch();
    check_json("native.json", &[body], true);
}

#[test]
fn docker() {
    let (bodies, left_out) = requests(Format::Docker, OtlpProtocol::Json);
    // docker-agent has no type for server, agent registration, session cost and failure,
    // tasks, task sessions, workflows, schedules, compactions.
    assert_eq!(left_out, 10);
    check_json("docker.json", &bodies, true);
}

#[test]
fn swarm() {
    let (bodies, left_out) = requests(Format::Swarm, OtlpProtocol::Json);
    // Agent Swarm has none for commands, tool calls and per-call token use.
    assert_eq!((bodies.len(), left_out), (12, 3));
    check_json("swarm.json", &bodies, false);
}

#[test]
fn otlp_json() {
    let (bodies, left_out) = requests(Format::Otlp, OtlpProtocol::Json);
    assert_eq!(left_out, 0);
    check_json("otlp.json", &bodies, true);
}

/// `otlp-names = older`: the same records, each renamed attribute under its older name, and no
/// current name of those left.
#[test]
fn otlp_json_older_names() {
    let (bodies, _) = requests_named(Format::Otlp, OtlpProtocol::Json, OtlpNames::Older);
    check_json("otlp-older.json", &bodies, true);
    let (current, _) = requests(Format::Otlp, OtlpProtocol::Json);
    let (older, current) = (
        String::from_utf8(bodies[0].clone()).unwrap(),
        String::from_utf8(current[0].clone()).unwrap(),
    );
    for (name, old) in crate::contract::otlp_names::OLDER {
        let quoted = |n: &str| format!("\"{n}\"");
        assert!(!older.contains(&quoted(name)), "{name} is still sent");
        assert_eq!(
            current.matches(&quoted(name)).count(),
            older.matches(&quoted(old)).count(),
            "{name} and {old}"
        );
    }
    assert!(
        older.contains("\"gen_ai.system\"") && older.contains("\"gen_ai.usage.prompt_tokens\"")
    );
}

#[test]
fn otlp_protobuf() {
    let (bodies, _) = requests(Format::Otlp, OtlpProtocol::Protobuf);
    assert_eq!(bodies.len(), 1);
    if updating() {
        std::fs::write(path("otlp.pb"), &bodies[0]).unwrap();
        return;
    }
    let golden = std::fs::read(path("otlp.pb")).expect("guest/golden/otlp.pb");
    assert!(
        bodies[0] == golden,
        "otlp.pb differs from the golden file; review, then UPDATE_GOLDEN=1"
    );
    // The same message as the JSON golden file, read back from the bytes.
    use prost::Message;
    let message =
        opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest::decode(
            &golden[..],
        )
        .unwrap();
    let golden_json: Value =
        serde_json::from_str(&std::fs::read_to_string(path("otlp.json")).unwrap()).unwrap();
    assert_eq!(serde_json::to_value(&message).unwrap(), golden_json);
}
