//! What the collector takes, in every format, as one kind of row: a [`Fact`] per event, with
//! the columns the report reads and the event as it arrived. Each format has its module, which
//! checks a body and turns it into facts, or refuses it with a short reason that never quotes
//! the input.

pub mod docker;
pub mod native;
pub mod otlp;
pub mod swarm;

use sha2::{Digest, Sha256};

/// The wire formats the collector takes, each at the path its system posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// This project's batch, at [`native::PATH`].
    Native,
    /// OTLP/HTTP logs, protobuf or JSON, at [`otlp::PATH`].
    Otlp,
    /// docker-agent's `{"records":[...]}`, at [`docker::PATH`].
    Docker,
    /// Agent Swarm's single event, at [`swarm::PATH`].
    Swarm,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Native, Format::Otlp, Format::Docker, Format::Swarm];

    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Otlp => "otlp",
            Format::Docker => "docker",
            Format::Swarm => "swarm",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Format::Native => native::PATH,
            Format::Otlp => otlp::PATH,
            Format::Docker => docker::PATH,
            Format::Swarm => swarm::PATH,
        }
    }
}

/// One received event, in the columns the report reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fact {
    /// The event's id, or for a format without one (docker, swarm) its time and the hash of
    /// the record's content (`t<ms>.sha256:<hex>`): what deduplicates it.
    pub id: String,
    /// Unix time in milliseconds.
    pub occurred_ms: i64,
    /// The native kind (`tool_call`, `session_end`, ...), whatever the format called it.
    pub kind: &'static str,
    pub installation: String,
    pub product: String,
    pub version: String,
    pub os: String,
    /// What the event is about: a command's action, a tool, a model, a task's state...
    pub subject: Option<String>,
    /// `success`, `failure`, `cancelled`... for commands, tool calls and sessions.
    pub outcome: Option<String>,
    pub session: Option<String>,
    pub duration_ms: Option<i64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    /// The event as it arrived, as JSON.
    pub body: String,
}

/// A body the collector refuses: the reason is answered with a 400, and never quotes the
/// input (a serde message would).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl Refused {
    pub fn new(why: impl Into<String>) -> Refused {
        Refused(why.into())
    }
}

/// What a body held: its events, and the drops its sender reported (native batches only).
#[derive(Debug, Default)]
pub struct Received {
    pub facts: Vec<Fact>,
    pub reported_drops: u64,
}

/// Checks `body` as `format` and turns it into facts.
pub fn parse(format: Format, body: &[u8], content_type: &str) -> Result<Received, Refused> {
    match format {
        Format::Native => native::parse(body),
        Format::Otlp => otlp::parse(body, content_type),
        Format::Docker => docker::parse(body),
        Format::Swarm => swarm::parse(body),
    }
}

/// A record that has no id, as the text stored for it and the id made from that text: its
/// time (part of what it says), then the hash of what it says.
fn with_content_id(value: &serde_json::Value, occurred_ms: i64) -> (String, String) {
    // serde_json writes a value the same way each time (its maps are ordered), so the same
    // record hashes the same however often it is sent.
    let body = value.to_string();
    // The time first, zero-padded: ids then sort as the events arrive, so the deduplicating
    // index grows at its end, as it does for the formats whose ids are UUIDv7. A hash alone
    // would put every insert on a random page of that index (five times slower per event in
    // `--bench ingest` once the index outgrows SQLite's page cache).
    let id = format!(
        "t{occurred_ms:015}.sha256:{}",
        hex::encode(Sha256::digest(body.as_bytes()))
    );
    (id, body)
}

/// RFC 3339 to Unix milliseconds.
fn millis(rfc3339: &str) -> Result<i64, Refused> {
    let at = humantime::parse_rfc3339_weak(rfc3339)
        .map_err(|_| Refused::new("a timestamp is not RFC 3339"))?;
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Refused::new("a timestamp is before 1970"))?
        .as_millis();
    i64::try_from(ms).map_err(|_| Refused::new("a timestamp is out of range"))
}

/// A count as SQLite stores it: past `i64::MAX` is refused, not wrapped.
fn count(n: u64) -> Result<i64, Refused> {
    i64::try_from(n).map_err(|_| Refused::new("a count is out of range"))
}

/// A cost must be a finite amount, zero or more.
fn cost(c: f64) -> Result<f64, Refused> {
    if c.is_finite() && c >= 0.0 {
        Ok(c)
    } else {
        Err(Refused::new("a cost is negative or not finite"))
    }
}

/// Longest string the collector keeps in a column: well past any name the component lets
/// through, short enough that no sender can fill the report with one.
const MAX_TEXT: usize = 256;

fn text(s: &str) -> Result<String, Refused> {
    if s.len() > MAX_TEXT {
        return Err(Refused::new(format!(
            "a name is longer than {MAX_TEXT} bytes"
        )));
    }
    Ok(s.to_string())
}

fn opt_text(s: Option<&str>) -> Result<Option<String>, Refused> {
    s.map(text).transpose()
}

/// The properties or attributes of one record, read by name with their types checked: a
/// value of the wrong type is refused, a missing one is `None`.
struct Props<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl<'a> Props<'a> {
    fn str(&self, key: &str) -> Result<Option<&'a str>, Refused> {
        match self.0.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Refused::new(format!("`{key}` is not a string"))),
        }
    }

    fn text(&self, key: &str) -> Result<Option<String>, Refused> {
        opt_text(self.str(key)?)
    }

    fn required(&self, key: &str) -> Result<String, Refused> {
        self.text(key)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Refused::new(format!("`{key}` is missing")))
    }

    fn int(&self, key: &str) -> Result<Option<i64>, Refused> {
        match self.0.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => match n.as_u64() {
                Some(n) => count(n).map(Some),
                None => Err(Refused::new(format!("`{key}` is not a count"))),
            },
            Some(_) => Err(Refused::new(format!("`{key}` is not a number"))),
        }
    }

    fn cost(&self, key: &str) -> Result<Option<f64>, Refused> {
        match self.0.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => match n.as_f64() {
                Some(c) => cost(c).map(Some),
                None => Err(Refused::new(format!("`{key}` is not a number"))),
            },
            Some(_) => Err(Refused::new(format!("`{key}` is not a number"))),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, Refused> {
        match self.0.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Refused::new(format!("`{key}` is not true or false"))),
        }
    }
}

/// `success` or `failure`, from a format that has only a flag.
fn success(flag: Option<bool>) -> Option<String> {
    flag.map(|ok| if ok { "success" } else { "failure" }.to_string())
}

/// Every native kind, as [`Fact::kind`] names them.
pub const KINDS: [&str; 14] = [
    "command",
    "tool_call",
    "token_usage",
    "session_start",
    "session_end",
    "session_cost",
    "session_failure",
    "server",
    "agent_registered",
    "task",
    "task_session_completed",
    "workflow",
    "schedule",
    "compaction",
];

pub(crate) fn known_kind(name: &str) -> Option<&'static str> {
    KINDS.iter().copied().find(|k| *k == name)
}
