//! The file held to the WIT, and the reader tried on types shaped as a binding's are.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::json;
use wit_parser::{Resolve, Type, TypeDefKind};

use super::*;

/// The cases of the `event` variant of `wit/telemetry.wit`, each with its record's fields.
fn wit_kinds() -> BTreeMap<String, Vec<String>> {
    let mut resolve = Resolve::default();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit");
    let (package, _) = resolve.push_dir(&dir).expect("wit/ parses");
    let recorder = resolve.packages[package].interfaces["recorder"];
    let event = resolve.interfaces[recorder].types["event"];
    let TypeDefKind::Variant(variant) = &resolve.types[event].kind else {
        panic!("`event` is not a variant");
    };
    let record_fields = |ty: Option<Type>| match ty {
        Some(Type::Id(id)) => match &resolve.types[id].kind {
            TypeDefKind::Record(record) => record.fields.iter().map(|f| f.name.clone()).collect(),
            other => panic!("an event case carries a {other:?}, not a record"),
        },
        _ => Vec::new(),
    };
    variant
        .cases
        .iter()
        .map(|case| (case.name.clone(), record_fields(case.ty)))
        .collect()
}

#[test]
fn the_file_has_every_kind_of_the_wit_once() {
    let wit: Vec<String> = wit_kinds().into_keys().collect();
    assert!(wit.len() >= 14, "the WIT was not read: {wit:?}");
    let mut file: Vec<String> = every_kind_json()
        .iter()
        .map(|event| kind_of(event).to_string())
        .collect();
    file.sort();
    let missing: Vec<&String> = wit.iter().filter(|kind| !file.contains(kind)).collect();
    assert!(
        missing.is_empty(),
        "kinds the WIT has and every-kind.json lacks: {missing:?}"
    );
    assert_eq!(file, wit, "each kind once, and none the WIT lacks");
}

#[test]
fn every_event_writes_every_field_of_its_record_and_no_other() {
    let wit = wit_kinds();
    for event in every_kind_json() {
        let kind = kind_of(&event);
        let mut written: Vec<&str> = event[kind]
            .as_object()
            .unwrap_or_else(|| panic!("{kind}: not a record"))
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields: Vec<&str> = wit[kind].iter().map(String::as_str).collect();
        written.sort();
        fields.sort();
        assert_eq!(written, fields, "{kind}");
    }
}

// Types named as wit-bindgen names them.

#[derive(Debug, PartialEq, Deserialize)]
enum Outcome {
    Success,
    PermissionDenied,
}

#[derive(Debug, PartialEq, Deserialize)]
struct ToolCall {
    tool: String,
    session_id: Option<String>,
    duration_ms: u64,
    outcome: Outcome,
    error: Option<Outcome>,
    flags: Vec<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
enum Event {
    ToolCall(ToolCall),
}

fn tool_call() -> Value {
    json!({"tool-call": {
        "tool": "shell",
        "session-id": null,
        "duration-ms": 250,
        "outcome": "permission-denied",
        "error": "success",
        "flags": ["--debug"],
    }})
}

#[test]
fn the_wit_s_names_are_read_as_the_binding_s() {
    assert_eq!(
        from_wit_json::<Event>(tool_call()).unwrap(),
        Event::ToolCall(ToolCall {
            tool: "shell".into(),
            session_id: None,
            duration_ms: 250,
            outcome: Outcome::PermissionDenied,
            error: Some(Outcome::Success),
            flags: vec!["--debug".into()],
        })
    );
}

#[test]
fn a_field_left_out_or_unknown_or_a_case_unknown_is_refused() {
    let mut left_out = tool_call();
    left_out["tool-call"]
        .as_object_mut()
        .unwrap()
        .remove("session-id");
    let mut unknown = tool_call();
    unknown["tool-call"]["sesion-id"] = json!(null);
    let mut case = tool_call();
    case["tool-call"]["outcome"] = json!("permision-denied");
    let kind = json!({"tool-cal": tool_call()["tool-call"]});
    for (label, event) in [
        ("left out", left_out),
        ("unknown field", unknown),
        ("unknown case", case),
        ("unknown kind", kind),
    ] {
        assert!(from_wit_json::<Event>(event).is_err(), "{label}");
    }
}
