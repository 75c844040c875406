//! The contract in every wire format: each case of `check` runs its samples through the
//! pipeline once and looks for them in the bytes of every format (`docker`, `swarm`, OTLP as
//! JSON and as protobuf, the protobuf also read back into its messages), and the values
//! only some formats send (`docker`'s `os_language`, `swarm`'s context properties) get
//! every kind of forbidden content here.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

use super::kinds::{self, Kind};
use super::*;
use crate::config::{Endpoint, Format, OtlpProtocol};
use crate::encode::{self, Options};

/// Every format's requests for the native batch `body` that `pipeline` made, as text to search:
/// (format, bytes as sent, bytes as JSON). Protobuf bodies are read back into their messages
/// and written as JSON, so that a string they carry is found however it is framed.
pub(super) fn bodies(pipeline: &Pipeline, body: &[u8]) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let endpoint = Endpoint::parse("http://127.0.0.1:9/v1/logs").unwrap();
    let events = json(body)["events"].as_array().map_or(0, Vec::len);
    let formats = [
        ("docker", Format::Docker, OtlpProtocol::Json),
        ("swarm", Format::Swarm, OtlpProtocol::Json),
        ("otlp-json", Format::Otlp, OtlpProtocol::Json),
        ("otlp-protobuf", Format::Otlp, OtlpProtocol::Protobuf),
    ];
    let mut out = Vec::new();
    for (name, format, otlp_protocol) in formats {
        let options = Options {
            format,
            otlp_protocol,
            ..pipeline.wire().clone()
        };
        let encoded = encode::encode(&options, &endpoint, body, events, None)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        for request in encoded.requests {
            let as_json = if otlp_protocol == OtlpProtocol::Protobuf {
                let message = ExportLogsServiceRequest::decode(&request.body[..])
                    .expect("the component's protobuf reads back");
                serde_json::to_vec(&message).unwrap()
            } else {
                request.body.clone()
            };
            out.push((name, request.body, as_json));
        }
    }
    out
}

/// Where `needle` shows in a format's request, if anywhere (as `leak` looks in a batch).
pub(super) fn leak_in(raw: &[u8], as_json: &[u8], needle: &str) -> Option<String> {
    if let Some(how) = leak(as_json, needle) {
        return Some(how);
    }
    let bytes = needle.as_bytes();
    (bytes.len() >= 8 && raw.windows(bytes.len()).any(|w| w == bytes))
        .then(|| "in the raw bytes".to_string())
}

/// What of `sample` (one of `kind`'s) shows in a format's request, described.
pub(super) fn leaks_in(
    format: &str,
    raw: &[u8],
    as_json: &[u8],
    sample: &str,
    kind: &Kind,
) -> Vec<String> {
    let mut leaks = Vec::new();
    if let Some(how) = leak_in(raw, as_json, sample) {
        leaks.push(format!("{format}: `{sample}` {how}"));
    }
    let lower = String::from_utf8_lossy(as_json).to_lowercase();
    for word in kind.never {
        if lower.contains(word) {
            leaks.push(format!("{format}: `{sample}` let `{word}` through"));
        }
    }
    leaks
}

/// Every sample of `kind` as the value of config `key` (`prefix` before it), searched for in
/// every format's bytes.
fn check_config(key: &'static str, prefix: &str, kind: &Kind) {
    let mut leaks = Vec::new();
    for sample in kind.samples {
        let value = format!("{prefix}{sample}");
        let mut pairs = base_config(HASH_KEY);
        pairs.extend_from_slice(kind.config);
        pairs.push((key, &value));
        let mut pipeline = Pipeline::new(Settings::from_pairs(pairs), &mut Fixed(0));
        // An event every format sends, and one `docker` sends.
        pipeline.record(&event("session-start"), at(), &mut Fixed(100));
        pipeline.record(&event("command"), at(), &mut Fixed(100));
        let batch = pipeline.take_batch(at(), &mut Fixed(200)).unwrap();
        for (format, raw, as_json) in bodies(&pipeline, &batch.body) {
            leaks.extend(leaks_in(format, &raw, &as_json, sample, kind));
        }
    }
    assert!(
        leaks.is_empty(),
        "{key} × {}: forbidden content reached the wire:\n{}",
        kind.name,
        leaks.join("\n")
    );
}

#[test]
fn os_language_holds_to_the_name_rule_in_every_format() {
    for kind in kinds::ALL {
        check_config("os-language", "", kind);
    }
}

#[test]
fn context_property_values_hold_to_the_name_rule_in_every_format() {
    for kind in kinds::ALL {
        check_config("context-properties", "install_method=", kind);
    }
}

#[test]
fn every_format_carries_what_it_can_of_a_plain_batch() {
    let mut pipeline = Pipeline::new(Settings::from_pairs(base_config(HASH_KEY)), &mut Fixed(0));
    pipeline.record(
        &event_with("tool-call", "tool", "read_file"),
        at(),
        &mut Fixed(100),
    );
    pipeline.record(&event("task"), at(), &mut Fixed(100));
    let batch = pipeline.take_batch(at(), &mut Fixed(200)).unwrap();
    let found: Vec<&str> = bodies(&pipeline, &batch.body)
        .iter()
        .filter(|(_, _, json)| String::from_utf8_lossy(json).contains("read_file"))
        .map(|(format, _, _)| *format)
        .collect();
    // Agent Swarm has no tool event; every other format carries the tool's name.
    assert_eq!(found, ["docker", "otlp-json", "otlp-protobuf"]);
}
