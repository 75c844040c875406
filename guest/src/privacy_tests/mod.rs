//! The privacy contract, tested on the wire: every string field of every event kind in
//! `wit/telemetry.wit`, and every envelope value the host configures, fed every kind of
//! forbidden content through the real pipeline (record → take batch → serialized bytes, the
//! bytes the transport would send). A missing rule fails a case named `<field>::<kind>`, e.g.
//! `tool_call_session_id::api_keys`. Each case puts its value in that kind's event of
//! tests/events/every-kind.json.
//!
//! Then the rest of the contract at the same level: ids are keyed pseudonyms, agent names are
//! hashed unless allowlisted, numbers are held to their rules, times and durations are coarse;
//! and property tests over random text in every field.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::anonymize::{Anonymizer, is_plain_identifier};
use crate::bindings::exports::agent::telemetry::recorder as wit;
use crate::config::Settings;
use crate::pipeline::{Entropy, Pipeline};

/// The pseudonymization key of every pipeline here (32 bytes, hex).
const HASH_KEY: &str = "8c1f0e4b2a7d93665e0f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";
const OTHER_HASH_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const AGENT_ALLOWLIST: &str = "planner";
const FLAG_ALLOWLIST: &str = "debug,verbose";

/// When every event here is recorded: 2023-11-14T22:15:23.456Z.
fn at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_123_456)
}

/// Deterministic "randomness", so two runs differ only where their inputs do.
struct Fixed(u8);

impl Entropy for Fixed {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fields: where a value goes, and which rule it is owed.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    /// Sent as written if it is a plain identifier, else `other:` + hash.
    Name,
    /// Always a keyed pseudonym.
    Id,
    /// A pseudonym unless allowlisted (and plain, and naming no local user).
    Agent,
    /// Dropped unless allowlisted; sent by name only.
    Flag,
    /// Sent only in the `install_` + 16 hex form, else replaced by an ephemeral id.
    InstallationId,
}

#[derive(Clone, Copy)]
enum Place {
    /// A field of an event the agent records: of that kind's event in every-kind.json.
    Event,
    /// A `wasi:config` value the host supplies (the envelope).
    Config(&'static str),
    /// A custom tag's key (`tags` = `<value>=x`) or value (`tags` = `team=<value>`).
    TagKey,
    TagValue,
}

#[derive(Clone, Copy)]
struct Field {
    /// The WIT record (`config` for host settings).
    record: &'static str,
    /// The WIT field, or the config key.
    field: &'static str,
    rule: Rule,
    place: Place,
}

impl Field {
    /// `tool-call` / `session-id` → `tool_call_session_id`: the name of its test module.
    fn name(&self) -> String {
        format!("{}_{}", self.record, self.field).replace('-', "_")
    }

    /// Where the value lands in the wire event's `data`.
    fn json_name(&self) -> String {
        self.field.replace('-', "_")
    }
}

/// The event of kind `kind` in tests/events/every-kind.json.
fn event(kind: &str) -> wit::Event {
    agent_telemetry_test_events::read(agent_telemetry_test_events::kind_json(kind))
}

/// The event of kind `record` in every-kind.json, with `value` in its field `field` (alone in
/// it, for a list).
fn event_with(record: &str, field: &str, value: &str) -> wit::Event {
    let mut event = agent_telemetry_test_events::kind_json(record);
    let slot = &mut event[record][field];
    *slot = if slot.is_array() {
        serde_json::json!([value])
    } else {
        serde_json::json!(value)
    };
    agent_telemetry_test_events::read(event)
}

/// Every string field the agent or the host can fill, one row each (kept in step with the WIT
/// by `wit_string_fields_are_all_covered`).
#[rustfmt::skip]
fn fields() -> Vec<Field> {
    use Place::{Config, Event};
    use Rule::*;
    let f = |record, field, rule, place| Field { record, field, rule, place };
    vec![
        f("command", "action", Name, Event),
        f("command", "flags", Flag, Event),
        f("tool-call", "tool", Name, Event),
        f("tool-call", "session-id", Id, Event),
        f("tool-call", "agent", Agent, Event),
        f("token-usage", "model", Name, Event),
        f("token-usage", "session-id", Id, Event),
        f("token-usage", "agent", Agent, Event),
        f("session-start", "session-id", Id, Event),
        f("session-start", "agent", Agent, Event),
        f("session-start", "task-id", Id, Event),
        f("session-end", "session-id", Id, Event),
        f("session-end", "agent", Agent, Event),
        f("session-end", "task-id", Id, Event),
        f("session-cost", "session-id", Id, Event),
        f("session-cost", "agent", Agent, Event),
        f("session-cost", "model", Name, Event),
        f("session-failure", "session-id", Id, Event),
        f("session-failure", "agent", Agent, Event),
        f("session-failure", "provider", Name, Event),
        f("agent-registered", "agent", Agent, Event),
        f("agent-registered", "role", Name, Event),
        f("agent-registered", "capabilities", Name, Event),
        f("task-session-completed", "task-id", Id, Event),
        f("task-session-completed", "agent", Agent, Event),
        f("task-session-completed", "provider", Name, Event),
        f("task-session-completed", "harness", Name, Event),
        f("task-session-completed", "model", Name, Event),
        f("workflow", "workflow-id", Id, Event),
        f("workflow", "source", Name, Event),
        f("workflow", "trigger", Name, Event),
        f("schedule", "schedule-type", Name, Event),
        f("compaction", "session-id", Id, Event),
        f("compaction", "agent", Agent, Event),
        f("task", "task-id", Id, Event),
        f("task", "agent", Agent, Event),
        f("task", "source", Name, Event),
        f("task", "tags", Name, Event),
        f("config", "source", Name, Config("source")),
        f("config", "environment", Name, Config("environment")),
        f("config", "product", Name, Config("product")),
        f("config", "product-version", Name, Config("product-version")),
        f("config", "os", Name, Config("os")),
        f("config", "arch", Name, Config("arch")),
        f("config", "installation-id", InstallationId, Config("installation-id")),
        f("tag", "key", Name, Place::TagKey),
        f("tag", "value", Name, Place::TagValue),
    ]
}

fn field(name: &str) -> Field {
    fields()
        .into_iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no field named {name} in fields()"))
}

// ---------------------------------------------------------------------------------------------
// The pipeline, driven for real.

fn base_config(hash_key: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("enabled", "true"),
        ("endpoint", "http://127.0.0.1:9/v1/batch"),
        ("hash-key", hash_key),
        ("source", "test-suite"),
        ("product", "my-tool"),
        ("product-version", "1.2.3"),
        ("os", "linux"),
        ("arch", "x86_64"),
        ("agent-allowlist", AGENT_ALLOWLIST),
        ("flag-allowlist", FLAG_ALLOWLIST),
    ]
}

/// The bytes one batch would carry after `value` was put in `field`.
fn wire_with(
    field: &Field,
    value: &str,
    extra: &[(&str, &str)],
    hash_key: &'static str,
) -> Vec<u8> {
    pipeline_with(field, value, extra, hash_key).1
}

/// The pipeline that made [`wire_with`]'s batch, and the batch.
fn pipeline_with(
    field: &Field,
    value: &str,
    extra: &[(&str, &str)],
    hash_key: &'static str,
) -> (Pipeline, Vec<u8>) {
    let tag = match field.place {
        Place::TagKey => format!("{value}=x"),
        _ => format!("team={value}"),
    };
    let mut pairs: Vec<(&str, &str)> = base_config(hash_key);
    pairs.extend_from_slice(extra);
    let event = match field.place {
        Place::Event => event_with(field.record, field.field, value),
        Place::Config(key) => {
            pairs.push((key, value));
            event("server")
        }
        Place::TagKey | Place::TagValue => {
            pairs.push(("tags", &tag));
            event("server")
        }
    };
    let mut pipeline = Pipeline::new(Settings::from_pairs(pairs), &mut Fixed(0));
    pipeline.record(&event, at(), &mut Fixed(100));
    let batch = pipeline
        .take_batch(at(), &mut Fixed(200))
        .expect("one event makes one batch");
    (pipeline, batch.body)
}

fn wire(field: &Field, value: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    wire_with(field, value, extra, HASH_KEY)
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("a batch is valid JSON")
}

/// The value the field produced in the (only) event of a batch.
fn wire_value(field: &Field, body: &[u8]) -> Value {
    let batch = json(body);
    // The envelope is the batch's, written once before the events.
    let (event, envelope) = (&batch["events"][0], &batch["envelope"]);
    match field.place {
        Place::Event => event["data"][field.json_name()].clone(),
        Place::Config(_) => envelope[field.json_name()].clone(),
        Place::TagValue => envelope["tags"]["team"].clone(),
        Place::TagKey => envelope["tags"]
            .as_object()
            .and_then(|tags| tags.keys().next())
            .map_or(Value::Null, |k| Value::String(k.clone())),
    }
}

fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// Where `needle` shows in a serialized batch, if anywhere: a JSON string equal to it, a JSON
/// string containing it (from 6 characters: shorter text occurs in ordinary values by chance),
/// or the raw bytes containing it (from 8 bytes).
fn leak(body: &[u8], needle: &str) -> Option<String> {
    let parsed = json(body);
    let mut values = Vec::new();
    strings(&parsed, &mut values);
    let long = needle.chars().count() >= 6;
    if let Some(v) = values
        .iter()
        .find(|v| **v == needle || (long && v.contains(needle)))
    {
        return Some(format!("in the JSON string `{v}`"));
    }
    let raw = needle.as_bytes();
    if raw.len() >= 8 && body.windows(raw.len()).any(|w| w == raw) {
        return Some("in the raw bytes".to_string());
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Forbidden content, by kind.

mod kinds;

use kinds::Kind;
mod catalogue;
mod formats;
mod properties;
mod rules;

/// One case: every sample of `kind` in the field called `field_name`, looked for in the
/// native batch and in the requests of every other wire format.
fn check(field_name: &str, kind: &Kind) {
    let field = field(field_name);
    let mut leaks = Vec::new();
    for sample in kind.samples {
        let (pipeline, body) = pipeline_with(&field, sample, kind.config, HASH_KEY);
        let mut sent = vec![("native", body.clone(), body.clone())];
        sent.extend(formats::bodies(&pipeline, &body));
        for (format, raw, as_json) in sent {
            leaks.extend(formats::leaks_in(format, &raw, &as_json, sample, kind));
        }
    }
    assert!(
        leaks.is_empty(),
        "{field_name} × {}: forbidden content reached the wire:\n{}",
        kind.name,
        leaks.join("\n")
    );
}

/// One test module per field, one test per kind of forbidden content.
macro_rules! contract_cases {
    ($($field:ident)*) => {
        /// The fields that have cases, in the order of `fields()`.
        const CONTRACT_FIELDS: &[&str] = &[$(stringify!($field)),*];
        $(
            mod $field {
                use super::kinds::*;
                fn check(kind: &super::Kind) {
                    super::check(stringify!($field), kind)
                }
                #[test]
                fn unix_paths() {
                    check(&UNIX_PATHS)
                }
                #[test]
                fn windows_paths() {
                    check(&WINDOWS_PATHS)
                }
                #[test]
                fn file_names() {
                    check(&FILE_NAMES)
                }
                #[test]
                fn urls() {
                    check(&URLS)
                }
                #[test]
                fn emails() {
                    check(&EMAILS)
                }
                #[test]
                fn host_names() {
                    check(&HOST_NAMES)
                }
                #[test]
                fn api_keys() {
                    check(&API_KEYS)
                }
                #[test]
                fn ip_addresses() {
                    check(&IP_ADDRESSES)
                }
                #[test]
                fn long_numbers() {
                    check(&LONG_NUMBERS)
                }
                #[test]
                fn user_names() {
                    check(&USER_NAMES)
                }
                #[test]
                fn prompts() {
                    check(&PROMPTS)
                }
                #[test]
                fn error_messages() {
                    check(&ERROR_MESSAGES)
                }
                #[test]
                fn command_arguments() {
                    check(&COMMAND_ARGUMENTS)
                }
            }
        )*
    };
}

contract_cases! {
    command_action
    command_flags
    tool_call_tool
    tool_call_session_id
    tool_call_agent
    token_usage_model
    token_usage_session_id
    token_usage_agent
    session_start_session_id
    session_start_agent
    session_start_task_id
    session_end_session_id
    session_end_agent
    session_end_task_id
    session_cost_session_id
    session_cost_agent
    session_cost_model
    session_failure_session_id
    session_failure_agent
    session_failure_provider
    agent_registered_agent
    agent_registered_role
    agent_registered_capabilities
    task_session_completed_task_id
    task_session_completed_agent
    task_session_completed_provider
    task_session_completed_harness
    task_session_completed_model
    workflow_workflow_id
    workflow_source
    workflow_trigger
    schedule_schedule_type
    compaction_session_id
    compaction_agent
    task_task_id
    task_agent
    task_source
    task_tags
    config_source
    config_environment
    config_product
    config_product_version
    config_os
    config_arch
    config_installation_id
    tag_key
    tag_value
}
