//! What the collector takes, in every format, as one kind of row: a [`Fact`] per event, with
//! the columns the report reads and the event as it arrived. Each format has its module, which
//! checks a body and turns it into facts, or refuses it with a short reason that never quotes
//! the input.
//!
//! What a body can cost is bounded before it is decoded whole: records are read one at a time
//! (`bounded`), at most [`MAX_RECORDS`] a body and [`MAX_RECORD_BYTES`] each, so that a small
//! body that would decode into far more memory than it weighs is refused early. What a record
//! stores is bounded too: every name in a column is at most [`MAX_TEXT`] bytes, and of the
//! properties (or attributes) the report does not read, only small flat values are kept, up to
//! [`MAX_EXTRA_PROPERTIES`] and [`MAX_EXTRA_BYTES`]; the rest are dropped and counted.

mod bounded;
pub mod counts;
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
    /// Every format the collector takes.
    pub const ALL: [Format; 4] = [Format::Native, Format::Otlp, Format::Docker, Format::Swarm];

    /// The format's name, as the store's `format` column and the report spell it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Otlp => "otlp",
            Format::Docker => "docker",
            Format::Swarm => "swarm",
        }
    }

    /// The path the collector takes this format at.
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
    /// The installation id that sent it (`ephemeral_…` for a run whose id was not kept).
    pub installation: String,
    /// Whether it came from a CI run (native `ci`, OTLP `agent_telemetry.ci`, docker's and
    /// swarm's `ci` property).
    pub ci: bool,
    /// The product that recorded it.
    pub product: String,
    /// The product's version.
    pub version: String,
    /// The operating system it ran on.
    pub os: String,
    /// What the event is about: a command's action, a tool, a model, a task's state...
    pub subject: Option<String>,
    /// `success`, `failure`, `cancelled`... for commands, tool calls and sessions.
    pub outcome: Option<String>,
    /// The session it belongs to, when it names one.
    pub session: Option<String>,
    /// How long a tool call, session, task or workflow took, in milliseconds.
    pub duration_ms: Option<i64>,
    /// Input tokens, for the events that count them.
    pub input_tokens: Option<i64>,
    /// Output tokens, for the events that count them.
    pub output_tokens: Option<i64>,
    /// Input tokens read from the provider's cache, for the events that count them.
    pub cache_read_tokens: Option<i64>,
    /// Input tokens written to the provider's cache, for the events that count them.
    pub cache_write_tokens: Option<i64>,
    /// Cost in US dollars, for the events that carry one: the reported cost, never an
    /// estimate (the store keeps that apart, see [`crate::prices`]).
    pub cost_usd: Option<f64>,
    /// The event as it arrived, as JSON.
    pub body: String,
}

/// A body the collector refuses: the reason is answered with a 400 (or a 413 when the body is
/// over a bound), and never quotes the input (a serde message would).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Refused {
    reason: String,
    too_large: bool,
}

impl Refused {
    /// A body refused for `why` (a 400).
    pub fn new(why: impl Into<String>) -> Refused {
        Refused {
            reason: why.into(),
            too_large: false,
        }
    }

    /// A body or record over one of the bounds (a 413).
    pub fn too_large(why: impl Into<String>) -> Refused {
        Refused {
            reason: why.into(),
            too_large: true,
        }
    }

    /// Why it was refused, as answered.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether it was refused for a bound (answered 413) rather than for its content (400).
    pub fn is_too_large(&self) -> bool {
        self.too_large
    }

    /// The same refusal, said of one record (`record 3: ...`).
    fn at(self, what: &str, i: usize) -> Refused {
        Refused {
            reason: format!("{what} {i}: {}", self.reason),
            ..self
        }
    }
}

/// What a body held: its events, the drops its sender reported (native batches only), and
/// the properties or attributes dropped rather than stored.
#[derive(Debug, Default)]
pub struct Received {
    /// One fact per event, in the body's order.
    pub facts: Vec<Fact>,
    /// Events the sender says it dropped before sending (a native batch's `dropped_events`).
    pub reported_drops: u64,
    /// Properties or attributes not stored (past the bounds, or not small and flat).
    pub dropped_properties: u64,
    /// A counts-only upload, taken at the native path instead of a batch.
    pub counts: Option<agent_telemetry_contract::counts::Upload>,
}

/// Records one body may carry: the component's largest batch.
pub const MAX_RECORDS: usize = 10_000;
/// Bytes one record may take in the body (as sent, inflated): the component's largest event is
/// a few KiB. Each is decoded alone, so this bounds the memory decoding takes.
pub const MAX_RECORD_BYTES: usize = 64 << 10;
/// Properties (or attributes) the report does not read, kept a record: room for the host's
/// tags (at most 32) and every format's own fields.
pub const MAX_EXTRA_PROPERTIES: usize = 64;
/// What those may take, a record, as JSON.
pub const MAX_EXTRA_BYTES: usize = 8 << 10;
/// The last millisecond of 9999: a time after it has no RFC 3339 form.
pub const LAST_MS: i64 = 253_402_300_799_999;

/// Counts one more record against [`MAX_RECORDS`] and checks its size.
fn admit(records: usize, what: &str, bytes: usize) -> Result<(), Refused> {
    if records >= MAX_RECORDS {
        return Err(Refused::too_large(format!(
            "more than {MAX_RECORDS} records in one body"
        )));
    }
    if bytes > MAX_RECORD_BYTES {
        return Err(Refused::too_large(format!(
            "{what} {records} is larger than {} KiB",
            MAX_RECORD_BYTES >> 10
        )));
    }
    Ok(())
}

impl Fact {
    /// The rules every stored event keeps, whatever its format: each name in a column at most
    /// [`MAX_TEXT`] bytes, its time from 1970 to 9999.
    pub fn check(&self) -> Result<(), Refused> {
        for s in [
            Some(&self.id),
            Some(&self.installation),
            Some(&self.product),
            Some(&self.version),
            Some(&self.os),
            self.subject.as_ref(),
            self.outcome.as_ref(),
            self.session.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            text(s)?;
        }
        if !(0..=LAST_MS).contains(&self.occurred_ms) {
            return Err(Refused::new("a timestamp is out of range (1970 to 9999)"));
        }
        Ok(())
    }
}

/// Checks `body` as `format` and turns it into facts. Blocking work (a body is up to 16 MiB):
/// the server runs it off the async threads.
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

/// [`with_content_id`] for a record that may hold more than is stored: the id is made from all
/// of it, so two records that differ only in what the bounds drop stay two, and one sent again
/// is a duplicate whatever the bounds; the text stored is the record after `trim` (which says
/// how many values it dropped), written again only when it dropped any.
fn trimmed_with_content_id(
    mut value: serde_json::Value,
    occurred_ms: i64,
    trim: impl FnOnce(&mut serde_json::Value) -> u64,
) -> (String, String, u64) {
    let (id, whole) = with_content_id(&value, occurred_ms);
    let dropped = trim(&mut value);
    let body = if dropped == 0 {
        whole
    } else {
        value.to_string()
    };
    (id, body, dropped)
}

/// [`keep`] on the object under `key` in `value`: what a trim of one record's properties does.
fn keep_under(value: &mut serde_json::Value, key: &str, read: &[&str]) -> u64 {
    let Some(serde_json::Value::Object(map)) = value.get_mut(key).map(std::mem::take) else {
        return 0;
    };
    let (kept, dropped) = keep(map, read);
    value[key] = serde_json::Value::Object(kept);
    dropped
}

/// RFC 3339 to Unix milliseconds.
/// Unix milliseconds of the start of `day` (`YYYY-MM-DD`, UTC).
pub(crate) fn day_ms(day: &str) -> Result<i64, Refused> {
    millis(&format!("{day}T00:00:00Z"))
}

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
/// Most one event may cost, in US dollars (the component drops a larger cost): the report's
/// sums of any number of events stay finite, where one that reached infinity would turn into
/// NaN when a deletion takes it out again.
pub use agent_telemetry_contract::catalogue::MAX_COST_USD;

fn cost(c: f64) -> Result<f64, Refused> {
    if c.is_finite() && (0.0..=MAX_COST_USD).contains(&c) {
        Ok(c)
    } else {
        Err(Refused::new(
            "a cost is negative, not finite, or over $1,000,000 for one event",
        ))
    }
}

/// Longest string the collector keeps in a column: well past any name the component lets
/// through, short enough that no sender can fill the report with one.
pub const MAX_TEXT: usize = 256;

fn text(s: &str) -> Result<String, Refused> {
    if s.len() > MAX_TEXT {
        return Err(Refused::new(format!(
            "a name is longer than {MAX_TEXT} bytes"
        )));
    }
    // PostgreSQL's text cannot hold it, and no name needs it: refused in every store alike.
    if s.contains('\0') {
        return Err(Refused::new("a name holds a NUL character"));
    }
    Ok(s.to_string())
}

fn opt_text(s: Option<&str>) -> Result<Option<String>, Refused> {
    s.map(text).transpose()
}

/// The properties or attributes of one record, read by name with their types checked: a
/// value of the wrong type is refused, a missing one is `None`. It remembers the names it
/// read: those are kept whole when the rest are bounded ([`keep`]).
struct Props<'a> {
    map: &'a serde_json::Map<String, serde_json::Value>,
    read: std::cell::RefCell<Vec<&'static str>>,
}

impl<'a> Props<'a> {
    fn new(map: &'a serde_json::Map<String, serde_json::Value>) -> Props<'a> {
        Props {
            map,
            read: Default::default(),
        }
    }

    fn get(&self, key: &'static str) -> Option<&'a serde_json::Value> {
        self.read.borrow_mut().push(key);
        self.map.get(key)
    }

    /// The names read so far.
    fn read(&self) -> Vec<&'static str> {
        self.read.borrow().clone()
    }

    fn str(&self, key: &'static str) -> Result<Option<&'a str>, Refused> {
        match self.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Refused::new(format!("`{key}` is not a string"))),
        }
    }

    fn text(&self, key: &'static str) -> Result<Option<String>, Refused> {
        opt_text(self.str(key)?)
    }

    fn required(&self, key: &'static str) -> Result<String, Refused> {
        self.text(key)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Refused::new(format!("`{key}` is missing")))
    }

    fn int(&self, key: &'static str) -> Result<Option<i64>, Refused> {
        match self.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => match n.as_u64() {
                Some(n) => count(n).map(Some),
                None => Err(Refused::new(format!("`{key}` is not a count"))),
            },
            Some(_) => Err(Refused::new(format!("`{key}` is not a number"))),
        }
    }

    fn cost(&self, key: &'static str) -> Result<Option<f64>, Refused> {
        match self.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Number(n)) => match n.as_f64() {
                Some(c) => cost(c).map(Some),
                None => Err(Refused::new(format!("`{key}` is not a number"))),
            },
            Some(_) => Err(Refused::new(format!("`{key}` is not a number"))),
        }
    }

    fn bool(&self, key: &'static str) -> Result<Option<bool>, Refused> {
        match self.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Refused::new(format!("`{key}` is not true or false"))),
        }
    }
}

/// Items a kept list may have (the component's longest lists have 16).
const MAX_LIST: usize = 16;

/// Whether a value the report does not read may be stored: a scalar, a string of at most
/// [`MAX_TEXT`] bytes, or a flat list of at most [`MAX_LIST`] of those.
fn storable(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => true,
        Value::String(s) => s.len() <= MAX_TEXT,
        Value::Array(items) => {
            items.len() <= MAX_LIST && items.iter().all(|v| !v.is_array() && storable(v))
        }
        Value::Object(_) => false,
    }
}

/// Keeps of `map` what is stored: every property the report read (already checked), and of
/// the others the storable ones, within [`MAX_EXTRA_PROPERTIES`] and [`MAX_EXTRA_BYTES`].
/// Returns what it kept and how many it dropped.
fn keep(
    map: serde_json::Map<String, serde_json::Value>,
    read: &[&str],
) -> (serde_json::Map<String, serde_json::Value>, u64) {
    let mut kept = serde_json::Map::new();
    let (mut dropped, mut extra, mut bytes) = (0u64, 0usize, 0usize);
    for (key, value) in map {
        if read.contains(&key.as_str()) {
            kept.insert(key, value);
            continue;
        }
        let fits = key.len() <= MAX_TEXT && storable(&value) && extra < MAX_EXTRA_PROPERTIES;
        let size = if fits {
            key.len() + value.to_string().len()
        } else {
            usize::MAX
        };
        if fits && bytes + size <= MAX_EXTRA_BYTES {
            extra += 1;
            bytes += size;
            kept.insert(key, value);
        } else {
            dropped += 1;
        }
    }
    (kept, dropped)
}

/// `success` or `failure`, from a format that has only a flag.
fn success(flag: Option<bool>) -> Option<String> {
    flag.map(|ok| if ok { "success" } else { "failure" }.to_string())
}

/// Every native kind, as [`Fact::kind`] names them: the event catalogue's.
pub use agent_telemetry_contract::catalogue::KINDS;

pub(crate) fn known_kind(name: &str) -> Option<&'static str> {
    KINDS.iter().copied().find(|k| *k == name)
}
