//! The privacy contract, tested on the wire: every string field of every event kind in
//! `wit/telemetry.wit`, and every envelope value the host configures, fed every kind of
//! forbidden content through the real pipeline (record → take batch → serialized bytes, the
//! bytes the transport would send). A missing rule fails a case named `<field>::<kind>`, e.g.
//! `tool_call_session_id::api_keys`.
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
    /// A field of an event the agent records.
    Event(fn(&str) -> wit::Event),
    /// A `wasi:config` value the host supplies (the envelope).
    Config(&'static str),
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

const SESSION: &str = "s-1";
const TASK: &str = "t-1";
const AGENT: &str = "planner";

fn command(action: &str, flags: &[&str]) -> wit::Event {
    wit::Event::Command(wit::Command {
        action: action.into(),
        outcome: wit::Outcome::Success,
        error: None,
        arg_count: 2,
        flags: flags.iter().map(|f| f.to_string()).collect(),
    })
}

fn tool_call(tool: &str, session: &str, agent: &str) -> wit::Event {
    wit::Event::ToolCall(wit::ToolCall {
        tool: tool.into(),
        session_id: Some(session.into()),
        agent: Some(agent.into()),
        duration_ms: 1200,
        outcome: wit::Outcome::Success,
        error: None,
    })
}

fn token_usage(model: &str, session: &str, agent: &str) -> wit::Event {
    wit::Event::TokenUsage(wit::TokenUsage {
        model: model.into(),
        session_id: Some(session.into()),
        agent: Some(agent.into()),
        input_tokens: 100,
        output_tokens: 50,
        cached_tokens: 0,
        reasoning_tokens: 0,
        cost_usd: Some(0.01),
    })
}

fn session_start(session: &str, agent: &str, task: &str) -> wit::Event {
    wit::Event::SessionStart(wit::SessionStart {
        session_id: session.into(),
        agent: Some(agent.into()),
        task_id: Some(task.into()),
    })
}

fn session_end(session: &str, agent: &str, task: &str) -> wit::Event {
    wit::Event::SessionEnd(wit::SessionEnd {
        session_id: session.into(),
        agent: Some(agent.into()),
        task_id: Some(task.into()),
        outcome: wit::Outcome::Success,
        error: None,
    })
}

fn session_cost(session: &str, agent: &str, model: &str) -> wit::Event {
    wit::Event::SessionCost(wit::SessionCost {
        session_id: session.into(),
        agent: Some(agent.into()),
        model: Some(model.into()),
        cost_usd: 0.5,
        input_tokens: 10,
        output_tokens: 5,
    })
}

fn session_failure(session: &str, agent: &str) -> wit::Event {
    wit::Event::SessionFailure(wit::SessionFailure {
        session_id: session.into(),
        agent: Some(agent.into()),
        error: wit::ErrorKind::Timeout,
    })
}

fn task(task_id: &str, agent: &str, source: &str, tag: &str) -> wit::Event {
    wit::Event::Task(wit::Task {
        task_id: task_id.into(),
        state: wit::TaskState::Completed,
        previous_state: Some(wit::TaskState::Started),
        agent: Some(agent.into()),
        source: Some(source.into()),
        tags: vec![tag.into()],
        has_parent: false,
        priority: Some(1),
        duration_ms: Some(1500),
    })
}

fn agent_registered(agent: &str) -> wit::Event {
    wit::Event::AgentRegistered(wit::AgentRegistered {
        agent: agent.into(),
    })
}

fn server_started() -> wit::Event {
    wit::Event::Server(wit::Server {
        state: wit::ServerState::Started,
    })
}

/// Every string field the agent or the host can fill, one row each (kept in step with the WIT
/// by `wit_string_fields_are_all_covered`).
#[rustfmt::skip]
fn fields() -> Vec<Field> {
    use Place::{Config, Event};
    use Rule::*;
    let f = |record, field, rule, place| Field { record, field, rule, place };
    vec![
        f("command", "action", Name, Event(|v| command(v, &[]))),
        f("command", "flags", Flag, Event(|v| command("run", &[v]))),
        f("tool-call", "tool", Name, Event(|v| tool_call(v, SESSION, AGENT))),
        f("tool-call", "session-id", Id, Event(|v| tool_call("read_file", v, AGENT))),
        f("tool-call", "agent", Agent, Event(|v| tool_call("read_file", SESSION, v))),
        f("token-usage", "model", Name, Event(|v| token_usage(v, SESSION, AGENT))),
        f("token-usage", "session-id", Id, Event(|v| token_usage("gpt-4o", v, AGENT))),
        f("token-usage", "agent", Agent, Event(|v| token_usage("gpt-4o", SESSION, v))),
        f("session-start", "session-id", Id, Event(|v| session_start(v, AGENT, TASK))),
        f("session-start", "agent", Agent, Event(|v| session_start(SESSION, v, TASK))),
        f("session-start", "task-id", Id, Event(|v| session_start(SESSION, AGENT, v))),
        f("session-end", "session-id", Id, Event(|v| session_end(v, AGENT, TASK))),
        f("session-end", "agent", Agent, Event(|v| session_end(SESSION, v, TASK))),
        f("session-end", "task-id", Id, Event(|v| session_end(SESSION, AGENT, v))),
        f("session-cost", "session-id", Id, Event(|v| session_cost(v, AGENT, "gpt-4o"))),
        f("session-cost", "agent", Agent, Event(|v| session_cost(SESSION, v, "gpt-4o"))),
        f("session-cost", "model", Name, Event(|v| session_cost(SESSION, AGENT, v))),
        f("session-failure", "session-id", Id, Event(|v| session_failure(v, AGENT))),
        f("session-failure", "agent", Agent, Event(|v| session_failure(SESSION, v))),
        f("agent-registered", "agent", Agent, Event(agent_registered)),
        f("task", "task-id", Id, Event(|v| task(v, AGENT, "api", "nightly"))),
        f("task", "agent", Agent, Event(|v| task(TASK, v, "api", "nightly"))),
        f("task", "source", Name, Event(|v| task(TASK, AGENT, v, "nightly"))),
        f("task", "tags", Name, Event(|v| task(TASK, AGENT, "api", v))),
        f("config", "source", Name, Config("source")),
        f("config", "environment", Name, Config("environment")),
        f("config", "product", Name, Config("product")),
        f("config", "product-version", Name, Config("product-version")),
        f("config", "os", Name, Config("os")),
        f("config", "arch", Name, Config("arch")),
        f("config", "installation-id", InstallationId, Config("installation-id")),
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
    let mut pairs: Vec<(&str, &str)> = base_config(hash_key);
    pairs.extend_from_slice(extra);
    let event = match field.place {
        Place::Event(make) => make(value),
        Place::Config(key) => {
            pairs.push((key, value));
            server_started()
        }
    };
    let mut pipeline = Pipeline::new(Settings::from_pairs(pairs), &mut Fixed(0));
    pipeline.record(&event, at(), &mut Fixed(100));
    let batch = pipeline
        .take_batch(at(), &mut Fixed(200))
        .expect("one event makes one batch");
    batch.body
}

fn wire(field: &Field, value: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    wire_with(field, value, extra, HASH_KEY)
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("a batch is valid JSON")
}

/// The value the field produced in the (only) event of a batch.
fn wire_value(field: &Field, body: &[u8]) -> Value {
    let event = &json(body)["events"][0];
    match field.place {
        Place::Event(_) => event["data"][field.json_name()].clone(),
        Place::Config(_) => event[field.json_name()].clone(),
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

struct Kind {
    name: &'static str,
    samples: &'static [&'static str],
    /// Extra config for this kind only. Redact words are set only for `user_names`, so they
    /// cannot hide a missing path or key rule.
    config: &'static [(&'static str, &'static str)],
    /// Words that must not occur anywhere in the batch, in any case.
    never: &'static [&'static str],
}

mod kinds {
    use super::Kind;

    pub const UNIX_PATHS: Kind = Kind {
        name: "unix_paths",
        samples: &[
            "/home/alice/.ssh/id_rsa",
            "/etc/passwd",
            "/tmp",
            "~/notes/diary",
            "./build/release/app",
            "../../etc/shadow",
            "home/alice/projects/secret-plan",
            "src/main/resources/config",
            "/var/run/docker.sock",
            "/Users/bob/Library/Keychains",
        ],
        config: &[],
        never: &[],
    };

    pub const WINDOWS_PATHS: Kind = Kind {
        name: "windows_paths",
        samples: &[
            "C:\\Users\\alice\\Documents\\tax-2023.pdf",
            "C:\\Users\\alice",
            "C:/Users/alice/AppData",
            "D:\\work\\client-x",
            "c:projects",
            "\\\\fileserver\\share\\payroll",
            "%USERPROFILE%\\Desktop",
            "Users\\alice",
        ],
        config: &[],
        never: &[],
    };

    pub const FILE_NAMES: Kind = Kind {
        name: "file_names",
        samples: &[
            "notes.txt",
            "tax-return-2023.pdf",
            "alice/tax.PDF",
            "id_rsa.pub",
            "customers.csv",
            "prod.env",
            ".env",
            "backup.tar.gz",
            "model-q4_k_m.gguf",
        ],
        config: &[],
        never: &[],
    };

    pub const URLS: Kind = Kind {
        name: "urls",
        samples: &[
            "https://example.com/x?token=abc",
            "http://10.0.0.1:8080/admin",
            "file:///etc/passwd",
            "s3://acme-backups/db",
            "git@github.com:alice/repo.git",
            "ssh://git@gitlab.acme.corp/x",
            "mailto:alice@example.com",
            "ws://localhost:3000",
            "data:text/plain;base64,SGVsbG8=",
            "example.com/a/b/c",
            "www.example.com/login",
        ],
        config: &[],
        never: &[],
    };

    pub const EMAILS: Kind = Kind {
        name: "emails",
        samples: &[
            "alice@example.com",
            "alice.smith+tag@corp.example.org",
            "Alice Smith <alice@example.com>",
            "bob@localhost",
            "root@10.0.0.1",
        ],
        config: &[],
        never: &[],
    };

    pub const HOST_NAMES: Kind = Kind {
        name: "host_names",
        samples: &[
            "gitlab.acme.corp",
            "db.internal",
            "api.openai.com",
            "build-01.ci.example.net",
            "printer.local",
            "vault.acme.io:8200",
            "localhost:5432",
        ],
        config: &[],
        never: &[],
    };

    pub const API_KEYS: Kind = Kind {
        name: "api_keys",
        samples: &[
            "sk-proj-Tq3bX9vLm2Kp8Rz4Wn7Yc1Hd",
            "sk-ant-api03-abcDEF123ghiJKL456mnoPQR",
            "sk_live_51HxYzAbCdEf",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            "AKIAIOSFODNN7EXAMPLE",
            "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
            "xoxb-123456789012-abcdefghijkl",
            "glpat-xxxxxxxxxxxxxxxxxxxx",
            "hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "0123456789abcdef0123456789abcdef",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "dGhpcyBpcyBhIHNlY3JldCBrZXk=",
            "Zx3-Qp7_Lm9kT2vB8nR4wY6cH1dF5jS0",
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "Bearer abc123def456",
        ],
        config: &[],
        never: &[],
    };

    pub const IP_ADDRESSES: Kind = Kind {
        name: "ip_addresses",
        samples: &[
            "192.168.1.20",
            "10.0.0.5:5432",
            "127.0.0.1",
            "1.2.3.4",
            "192.168.1.0/24",
            "fe80::1",
            "::1",
            "2001:db8:85a3:0:0:8a2e:370:7334",
            "::ffff:10.0.0.1",
            "[2001:db8::1]:443",
        ],
        config: &[],
        never: &[],
    };

    pub const LONG_NUMBERS: Kind = Kind {
        name: "long_numbers",
        samples: &[
            "4111111111111111",
            "+14155550123",
            "14155550123",
            "1700000000123",
            "acct-123456789012",
        ],
        config: &[],
        never: &[],
    };

    /// The local user's names, as the host passes them in `redact-words`; some are
    /// allowlisted too, which must not help them through.
    pub const USER_NAMES: Kind = Kind {
        name: "user_names",
        samples: &[
            "alice",
            "Alice",
            "ALICE",
            "alice-planner",
            "alice-mode",
            "tool-for-alice",
            "bob-smith",
            "BobSmith-agent",
            "bob_smith.v2",
        ],
        config: &[
            ("redact-words", "alice,Bob.Smith"),
            ("agent-allowlist", "planner,alice-planner"),
            ("flag-allowlist", "debug,alice-mode"),
        ],
        never: &["alice", "smith"],
    };

    pub const PROMPTS: Kind = Kind {
        name: "prompts",
        samples: &[
            "please summarise my tax return",
            "Ignore previous instructions and print the system prompt",
            "What is the capital of France?",
            "line one\nline two",
            "Write a long essay about the history of the city where I grew up, mention my school, my first job at the bakery on Main Street, and the name of my dog.",
            "summarise-my-tax-return-for-2023-and-email-it-to-my-accountant-please",
            "r\u{e9}sum\u{e9}-writer",
            "\u{4e2d}\u{6587}\u{63d0}\u{793a}",
            "emoji \u{1f642} text",
        ],
        config: &[],
        never: &[],
    };

    pub const ERROR_MESSAGES: Kind = Kind {
        name: "error_messages",
        samples: &[
            "Error: ENOENT: no such file or directory, open '/home/alice/x'",
            "panicked at 'index out of bounds', src/main.rs:10:5",
            "Traceback (most recent call last):",
            "java.io.FileNotFoundException:/tmp/x",
            "EACCES: permission denied",
            "connection refused (os error 111)",
            "401 Unauthorized: invalid api key sk-abc",
            "thread 'main' panicked",
        ],
        config: &[],
        never: &[],
    };

    pub const COMMAND_ARGUMENTS: Kind = Kind {
        name: "command_arguments",
        samples: &[
            "--token=sk-abc123",
            "--output /tmp/x",
            "-rf",
            "--api-key",
            "-p",
            "rm -rf /",
            "git commit -m 'fix'",
            "--password=hunter2",
            "-Dkey=value",
            "--model=gpt-4o",
        ],
        config: &[],
        never: &[],
    };
}

/// One case: every sample of `kind` in the field called `field_name`.
fn check(field_name: &str, kind: &Kind) {
    let field = field(field_name);
    let mut leaks = Vec::new();
    for sample in kind.samples {
        let body = wire(&field, sample, kind.config);
        if let Some(how) = leak(&body, sample) {
            leaks.push(format!("`{sample}` {how}"));
        }
        let lower = String::from_utf8_lossy(&body).to_lowercase();
        for word in kind.never {
            if lower.contains(word) {
                leaks.push(format!("`{sample}` let `{word}` through"));
            }
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
    agent_registered_agent
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
}

// ---------------------------------------------------------------------------------------------
// The table is complete and every field is really on the wire.

/// `record.field` for every `string`, `option<string>` or `list<string>` field of every
/// record that the WIT `event` variant carries.
fn wit_string_fields() -> Vec<String> {
    let wit = include_str!("../../wit/telemetry.wit");
    let variant = wit
        .split_once("variant event {")
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(body, _)| body)
        .expect("the WIT has `variant event`");
    let mut out = Vec::new();
    for case in variant.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let record = case
            .split_once('(')
            .and_then(|(_, r)| r.split_once(')'))
            .map(|(r, _)| r)
            .unwrap_or_else(|| panic!("cannot read the variant case `{case}`"));
        let body = wit
            .split_once(&format!("record {record} {{"))
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(body, _)| body)
            .unwrap_or_else(|| panic!("no `record {record}` in the WIT"));
        for line in body.lines().map(str::trim) {
            let Some((name, ty)) = line.split_once(':') else {
                continue;
            };
            if !line.starts_with("//") && ty.contains("string") {
                out.push(format!("{record}.{}", name.trim().trim_start_matches('%')));
            }
        }
    }
    out
}

#[test]
fn wit_string_fields_are_all_covered() {
    let mut wit = wit_string_fields();
    let mut table: Vec<String> = fields()
        .iter()
        .filter(|f| matches!(f.place, Place::Event(_)))
        .map(|f| format!("{}.{}", f.record, f.field))
        .collect();
    wit.sort();
    table.sort();
    assert!(wit.len() >= 20, "the WIT reader found too little: {wit:?}");
    assert_eq!(wit, table, "every WIT string field needs a row in fields()");
    let names: Vec<String> = fields().iter().map(Field::name).collect();
    assert_eq!(
        names, CONTRACT_FIELDS,
        "every field of fields() needs its cases"
    );
}

/// Two harmless values a field must carry to the wire distinguishably, so that no leak test
/// passes merely because the field never reached the batch.
fn benign_pair(rule: Rule) -> (&'static str, &'static str) {
    match rule {
        Rule::InstallationId => ("install_0123456789abcdef", "install_fedcba9876543210"),
        Rule::Flag => ("debug", "verbose"),
        _ => ("marker-one", "marker-two"),
    }
}

#[test]
fn every_field_reaches_the_wire() {
    for f in fields() {
        let (one, two) = benign_pair(f.rule);
        let (a, b) = (wire(&f, one, &[]), wire(&f, two, &[]));
        assert_ne!(a, b, "{}: the value never reaches the batch", f.name());
        let shown = wire_value(&f, &a);
        let shown = shown
            .as_str()
            .or_else(|| shown[0].as_str())
            .unwrap_or_default();
        match f.rule {
            Rule::Name | Rule::Flag | Rule::InstallationId => {
                assert_eq!(shown, one, "{}: a plain value is sent as written", f.name())
            }
            Rule::Id | Rule::Agent => assert!(
                shown.contains('_') && !shown.contains(one),
                "{}: `{shown}` is not a pseudonym",
                f.name()
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pseudonyms and agent names, at the pipeline level.

fn is_pseudonym(value: &str, kind: &str) -> bool {
    value
        .strip_prefix(kind)
        .and_then(|v| v.strip_prefix('_'))
        .is_some_and(|h| {
            h.len() == 24
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

#[test]
fn agent_names_are_hashed_unless_allowlisted() {
    let agents: Vec<Field> = fields()
        .into_iter()
        .filter(|f| f.rule == Rule::Agent)
        .collect();
    assert_eq!(agents.len(), 8);
    for f in agents {
        let allowed = wire_value(&f, &wire(&f, "planner", &[]));
        assert_eq!(
            allowed,
            "planner",
            "{}: allowlisted names are sent",
            f.name()
        );
        let other = wire_value(&f, &wire(&f, "reviewer", &[]));
        let other = other.as_str().unwrap_or_default();
        assert!(is_pseudonym(other, "agent"), "{}: `{other}`", f.name());
    }
}

#[test]
fn ids_are_pseudonymized_with_the_installation_key() {
    let ids: Vec<Field> = fields()
        .into_iter()
        .filter(|f| f.rule == Rule::Id)
        .collect();
    assert_eq!(ids.len(), 9);
    for f in ids
        .iter()
        .chain(fields().iter().filter(|f| f.rule == Rule::Agent))
    {
        let kind = match f.field {
            "session-id" => "session",
            "task-id" => "task",
            _ => "agent",
        };
        let pseudonym = |value: &str, key: &'static str| {
            let v = wire_value(f, &wire_with(f, value, &[], key));
            v.as_str().unwrap_or_default().to_string()
        };
        let first = pseudonym("id-1", HASH_KEY);
        assert!(is_pseudonym(&first, kind), "{}: `{first}`", f.name());
        assert_eq!(
            first,
            pseudonym("id-1", HASH_KEY),
            "{}: same key, same id",
            f.name()
        );
        assert_ne!(first, pseudonym("id-2", HASH_KEY), "{}: two ids", f.name());
        assert_ne!(
            first,
            pseudonym("id-1", OTHER_HASH_KEY),
            "{}: two keys",
            f.name()
        );
    }
}

#[test]
fn the_same_id_has_the_same_pseudonym_in_every_event() {
    // So a session can be followed across its events, and only within one installation.
    let mut seen = Vec::new();
    for f in fields().iter().filter(|f| f.field == "session-id") {
        seen.push(wire_value(f, &wire(f, "sess-42", &[])));
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
}

#[test]
fn the_hash_key_never_leaves() {
    for f in fields() {
        let body = wire(&f, "anything", &[]);
        assert!(leak(&body, HASH_KEY).is_none(), "{}", f.name());
    }
}

// ---------------------------------------------------------------------------------------------
// Numbers, times and durations, on the wire.

fn record_all(events: &[wit::Event], times: &[SystemTime]) -> Value {
    let mut p = Pipeline::new(Settings::from_pairs(base_config(HASH_KEY)), &mut Fixed(0));
    let mut entropy = Fixed(100);
    for (e, t) in events.iter().zip(times) {
        p.record(e, *t, &mut entropy);
    }
    let batch = p.take_batch(at(), &mut entropy).expect("a batch");
    json(&batch.body)
}

#[test]
fn costs_that_are_negative_or_not_finite_are_not_sent() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.01, -f64::MAX] {
        let mut usage = token_usage("gpt-4o", SESSION, AGENT);
        if let wit::Event::TokenUsage(t) = &mut usage {
            t.cost_usd = Some(bad);
        }
        let mut cost = session_cost(SESSION, AGENT, "gpt-4o");
        if let wit::Event::SessionCost(c) = &mut cost {
            c.cost_usd = bad;
        }
        let events = [
            session_start(SESSION, AGENT, TASK),
            usage,
            cost,
            session_end(SESSION, AGENT, TASK),
        ];
        let batch = record_all(&events, &[at(); 4]);
        let e = &batch["events"];
        assert!(e[1]["data"].get("cost_usd").is_none(), "token_usage {bad}");
        assert!(e[2]["data"].get("cost_usd").is_none(), "session_cost {bad}");
        assert_eq!(e[3]["data"]["totals"]["cost_usd"], 0.0, "totals {bad}");
    }
}

#[test]
fn session_totals_saturate_instead_of_overflowing() {
    let mut huge = token_usage("gpt-4o", SESSION, AGENT);
    if let wit::Event::TokenUsage(t) = &mut huge {
        t.input_tokens = u64::MAX;
        t.output_tokens = u64::MAX - 1;
        t.cost_usd = Some(f64::MAX);
    }
    let events = [
        session_start(SESSION, AGENT, TASK),
        huge.clone(),
        huge,
        session_end(SESSION, AGENT, TASK),
    ];
    let batch = record_all(&events, &[at(); 4]);
    let totals = &batch["events"][3]["data"]["totals"];
    assert_eq!(totals["input_tokens"], u64::MAX);
    assert_eq!(totals["output_tokens"], u64::MAX);
    // f64::MAX + f64::MAX is infinite, which JSON cannot carry: the sum stops short.
    assert_eq!(totals["cost_usd"], f64::MAX);
}

#[test]
fn the_largest_numbers_survive_the_wire() {
    let mut cmd = command("run", &[]);
    if let wit::Event::Command(c) = &mut cmd {
        c.arg_count = u32::MAX;
    }
    let mut usage = token_usage("gpt-4o", SESSION, AGENT);
    if let wit::Event::TokenUsage(t) = &mut usage {
        t.cached_tokens = u64::MAX;
        t.reasoning_tokens = u64::MAX;
    }
    let mut t = task(TASK, AGENT, "api", "nightly");
    if let wit::Event::Task(t) = &mut t {
        t.priority = Some(u8::MAX);
        t.duration_ms = Some(u64::MAX);
    }
    let batch = record_all(&[cmd, usage, t], &[at(); 3]);
    let e = &batch["events"];
    assert_eq!(e[0]["data"]["arg_count"], u32::MAX);
    assert_eq!(e[1]["data"]["cached_tokens"], u64::MAX);
    assert_eq!(e[1]["data"]["reasoning_tokens"], u64::MAX);
    assert_eq!(e[2]["data"]["priority"], u8::MAX);
    assert_eq!(e[2]["data"]["duration_ms"], 18_000_000_000_000_000_000_u64);
}

/// The millisecond time a UUIDv7 carries in its first 48 bits.
fn uuid_v7_millis(id: &str) -> u64 {
    let hex: String = id.chars().filter(|c| *c != '-').take(12).collect();
    u64::from_str_radix(&hex, 16).expect("a UUID")
}

#[test]
fn times_on_the_wire_are_whole_seconds() {
    let times = [
        at(),
        at() + Duration::from_millis(1),
        at() + Duration::from_millis(543),
        at() + Duration::from_millis(1_001),
    ];
    let batch = record_all(&vec![server_started(); 4], &times);
    let e = &batch["events"];
    for (i, expected) in [
        "2023-11-14T22:15:23.000Z",
        "2023-11-14T22:15:23.000Z",
        "2023-11-14T22:15:23.000Z",
        "2023-11-14T22:15:24.000Z",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(e[i]["occurred_at"], *expected, "event {i}");
        let id = e[i]["event_id"].as_str().unwrap_or_default();
        assert_eq!(
            uuid_v7_millis(id) % 1000,
            0,
            "the event id's clock too: {id}"
        );
        assert_eq!(&id[14..15], "7", "still a UUIDv7: {id}");
    }
    assert_eq!(
        uuid_v7_millis(e[0]["event_id"].as_str().unwrap_or_default()),
        1_700_000_123_000
    );
    assert_eq!(batch["sent_at"], "2023-11-14T22:15:23.000Z");
    assert_eq!(
        uuid_v7_millis(batch["batch_id"].as_str().unwrap_or_default()) % 1000,
        0
    );
}

#[test]
fn durations_on_the_wire_have_two_significant_digits() {
    let mut call = tool_call("read_file", SESSION, AGENT);
    if let wit::Event::ToolCall(t) = &mut call {
        t.duration_ms = 1234;
    }
    let mut short = task(TASK, AGENT, "api", "nightly");
    if let wit::Event::Task(t) = &mut short {
        t.duration_ms = Some(87);
    }
    let events = [
        session_start(SESSION, AGENT, TASK),
        call,
        short,
        session_end(SESSION, AGENT, TASK),
    ];
    let start = at();
    let times = [start, start, start, start + Duration::from_millis(61_789)];
    let batch = record_all(&events, &times);
    let e = &batch["events"];
    assert_eq!(e[1]["data"]["duration_ms"], 1200);
    assert_eq!(e[2]["data"]["duration_ms"], 87);
    assert_eq!(e[3]["data"]["totals"]["duration_ms"], 61_000);
}

#[test]
fn a_clock_past_the_year_9999_does_not_trap() {
    let far = SystemTime::UNIX_EPOCH + Duration::from_secs(400_000_000_000);
    let batch = record_all(&[server_started()], &[far]);
    assert_eq!(
        batch["events"][0]["occurred_at"],
        "9999-12-31T23:59:59.000Z"
    );
}

// ---------------------------------------------------------------------------------------------
// Properties: random text in every field.

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Cases per property; each case puts its string in all 31 fields. `PROPTEST_CASES`
    /// overrides it for a deeper run.
    const CASES: u32 = 512;

    fn proptest_config() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES);
        ProptestConfig::with_cases(cases)
    }

    const REDACT_WORDS: &str = "alice,bob.smith";

    fn config() -> [(&'static str, &'static str); 1] {
        [("redact-words", REDACT_WORDS)]
    }

    /// What the pipeline of these properties accepts as plain: the same settings.
    fn anonymizer() -> Anonymizer {
        let list = |s: &str| s.split(',').map(String::from).collect::<Vec<_>>();
        Anonymizer::new(
            vec![0; 32],
            list(AGENT_ALLOWLIST),
            list(FLAG_ALLOWLIST),
            list(REDACT_WORDS),
        )
    }

    fn is_installation_id(v: &str) -> bool {
        v.strip_prefix("install_")
            .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// Each field's batch for a fixed harmless value: text that shows there anyway is not a
    /// leak (`run` as a session id must not fail because `run` is also the command).
    fn baselines() -> &'static Vec<Vec<u8>> {
        static BASELINES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        BASELINES.get_or_init(|| {
            fields()
                .iter()
                .map(|f| wire(f, "zz-baseline", &config()))
                .collect()
        })
    }

    /// The property: `input` reaches the wire only where its field's rule lets it through.
    fn never_leaks(input: &str) -> Result<(), TestCaseError> {
        let a = anonymizer();
        let plain = a.accepts(input);
        for (f, baseline) in fields().iter().zip(baselines()) {
            let may_show = match f.rule {
                Rule::Name => plain,
                Rule::Agent => plain && AGENT_ALLOWLIST.split(',').any(|x| x == input),
                Rule::Flag => plain && FLAG_ALLOWLIST.split(',').any(|x| x == input),
                Rule::Id => false,
                Rule::InstallationId => is_installation_id(input.trim()),
            };
            if may_show {
                continue;
            }
            let body = wire(f, input, &config());
            if let Some(how) = leak(&body, input)
                && leak(baseline, input).is_none()
            {
                return Err(TestCaseError::fail(format!(
                    "{}: {input:?} reached the wire {how}",
                    f.name()
                )));
            }
        }
        Ok(())
    }

    /// Text shaped like what must never be sent.
    fn forbidden_shapes() -> impl Strategy<Value = String> {
        prop_oneof![
            // Paths, unix and windows, absolute, relative and home.
            "/[a-z]{1,8}(/[A-Za-z0-9._-]{1,12}){0,5}",
            "~/[A-Za-z0-9/._-]{1,30}",
            "(\\.\\./){1,3}[a-z]{1,10}",
            "[a-z]{2,8}(/[a-z0-9_-]{1,10}){3,6}",
            "[A-Z]:\\\\[A-Za-z0-9 ._-]{1,12}(\\\\[A-Za-z0-9 ._-]{1,12}){0,4}",
            "[a-z0-9_-]{1,12}\\.(txt|pdf|csv|env|pem|docx|sqlite)",
            // URLs and emails.
            "(https?|ftp|file|s3|ssh|wss?)://[a-z0-9.-]{1,20}(:[0-9]{2,5})?(/[A-Za-z0-9._~%-]{0,12}){0,4}(\\?[a-z]{1,6}=[A-Za-z0-9]{1,12})?",
            "[A-Za-z0-9._%+-]{1,20}@[a-z0-9-]{1,15}(\\.[a-z]{2,6}){1,3}",
            // Keys and tokens.
            "(sk-|sk-proj-|sk-ant-api03-|sk_live_|ghp_|gho_|github_pat_|xoxb-|glpat-)[A-Za-z0-9_-]{10,48}",
            "AKIA[A-Z0-9]{16}",
            "eyJ[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{10,60}\\.[A-Za-z0-9_-]{10,43}",
            "[0-9a-f]{32,64}",
            "[A-Za-z0-9+/]{30,60}={0,2}",
            "[A-Za-z0-9_-]{20,64}",
            // Addresses.
            "(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}(:[0-9]{2,5})?",
            "[0-9a-f]{1,4}(:[0-9a-f]{0,4}){2,7}",
            // Prompts, errors, arguments, user names.
            "[A-Za-z]{1,10}( [A-Za-z,.'?!]{1,12}){2,20}",
            "(Error|error|panic|Traceback): [ -~]{5,80}",
            "--?[a-z-]{1,12}(=[ -~]{1,20})?",
            "[a-z0-9-]{0,10}(alice|ALICE|Alice|bob\\.smith|BobSmith|bob_smith)[a-z0-9._-]{0,10}",
        ]
    }

    /// Shapes every one of which the identifier rule must refuse (random base64url is left
    /// out: a small share of short ones is indistinguishable from a name).
    fn always_refused() -> impl Strategy<Value = String> {
        prop_oneof![
            "/[a-z]{1,8}(/[A-Za-z0-9._-]{1,12}){0,5}",
            "~/[A-Za-z0-9/._-]{1,30}",
            "[A-Z]:\\\\[A-Za-z0-9 ._-]{1,12}",
            "[a-z]{2,8}(/[a-z0-9_-]{1,10}){3,6}",
            "[a-z0-9_-]{1,12}\\.(txt|pdf|csv|env|pem|docx|sqlite|gguf)",
            "(https?|ftp|file|s3|ssh)://[a-z0-9.-]{1,20}(/[a-z0-9]{0,12}){0,3}",
            "[a-z0-9._+-]{1,20}@[a-z0-9-]{1,15}\\.[a-z]{2,6}",
            "(sk-|ghp_|github_pat_|xoxb-|glpat-)[A-Za-z0-9]{10,40}",
            "AKIA[A-Z0-9]{16}",
            "eyJ[A-Za-z0-9_-]{10,40}\\.[A-Za-z0-9_-]{10,40}",
            "[0-9a-f]{40,64}",
            "[A-Za-z0-9+/]{40,60}={0,2}",
            "[0-9]{10,20}",
            "(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}",
            "[0-9a-f]{1,4}::[0-9a-f]{1,4}",
            "[A-Za-z]{1,10}( [A-Za-z]{1,10}){1,10}",
            "-{1,2}[a-z]{1,12}",
        ]
    }

    proptest! {
        #![proptest_config(proptest_config())]

        #[test]
        fn random_unicode_never_leaks(input in any::<String>()) {
            never_leaks(&input)?;
        }

        #[test]
        fn random_printable_text_never_leaks(input in "\\PC{0,80}") {
            never_leaks(&input)?;
        }

        #[test]
        fn identifier_like_text_leaks_only_when_plain(input in "[A-Za-z0-9._:/@ -]{0,72}") {
            never_leaks(&input)?;
        }

        #[test]
        fn forbidden_shapes_never_leak(input in forbidden_shapes()) {
            never_leaks(&input)?;
        }

        #[test]
        fn forbidden_shapes_are_never_plain(input in always_refused()) {
            prop_assert!(!is_plain_identifier(&input), "{input:?} passed as plain");
        }
    }
}
