//! What the collector stored, summarized: commands by name with their success rate, tool
//! calls by tool with success rate and p50/p95 duration, tokens and cost by model, sessions,
//! task outcomes, and installations and versions by day. [`Report::build`] reads it from the
//! store in one pass per section (indexed by kind and time); `text`, JSON (serde) and `html`
//! show it.
//!
//! It survives whatever was stored, since an older collector or another program may have
//! written the database: times outside 1970–9999 are shown at the nearest bound, names are
//! cut to 256 bytes, each section keeps its top rows (`more` counts the rest), and the text
//! shows control characters escaped so that a name cannot drive the terminal.

mod events;
pub mod html;
mod query;
pub mod text;

pub use events::events_table;
pub use query::parse_time;

use serde::Serialize;

/// The time range a report covers: Unix milliseconds, `since` included, `until` not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Range {
    /// The first millisecond included; `None`: from the first event.
    #[serde(rename = "since_ms")]
    pub since: Option<i64>,
    /// The first millisecond no longer included; `None`: up to the last event.
    #[serde(rename = "until_ms")]
    pub until: Option<i64>,
}

/// Everything the collector stored in a range, summarized section by section.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The range it covers.
    pub range: Range,
    /// Events in the range.
    pub events: u64,
    /// Distinct installations that sent them.
    pub installations: u64,
    /// First and last event in the range, RFC 3339.
    pub first: Option<String>,
    /// See `first`.
    pub last: Option<String>,
    /// Commands by action, most run first.
    pub commands: Vec<Rate>,
    /// Tool calls by tool, most called first.
    pub tools: Vec<Tool>,
    /// Tokens and cost by model.
    pub models: Vec<Model>,
    /// Sessions started and ended, their outcomes, durations and cost.
    pub sessions: Sessions,
    /// Task events by state.
    pub tasks: Vec<Count>,
    /// Installations and events by day and version.
    pub versions: Vec<VersionDay>,
    /// Rows each section left out, past its top.
    pub more: More,
    /// Installations that asked to be forgotten, ever (whatever the range): their events are
    /// deleted, and none stored since.
    pub deletions: u64,
}

/// Rows of each section past its top rows: shown as "and K more".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct More {
    /// Commands.
    pub commands: u64,
    /// Tools.
    pub tools: u64,
    /// Models.
    pub models: u64,
    /// Session outcomes.
    pub outcomes: u64,
    /// Task states.
    pub tasks: u64,
    /// Versions folded into each day's `other versions` row.
    pub versions: u64,
    /// Days before the last [`MAX_DAYS`] with events.
    pub days: u64,
}

/// Rows a section shows unless told otherwise.
pub const DEFAULT_TOP: usize = 20;
/// Days the by-day section shows at most: the latest.
pub const MAX_DAYS: usize = 366;
/// What a version row stands for when it folds the versions past the top.
pub const OTHER_VERSIONS: &str = "other versions";

/// `name` with its control characters (and the marks that reorder text) written as escapes
/// such as `\u{1b}`: what a terminal is given of a name a sender chose.
pub fn printable(name: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !name.chars().any(hidden) {
        return name.into();
    }
    name.chars()
        .map(|c| {
            if hidden(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// How often something ran and how often it succeeded.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rate {
    /// What ran: a command's action, a tool's name.
    pub name: String,
    /// How often it ran.
    pub count: u64,
    /// How often it succeeded.
    pub succeeded: u64,
    /// `succeeded / count`, 0 to 1.
    pub success_rate: f64,
}

/// One tool's calls: how often, how often they succeeded, and how long they took.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tool {
    /// The tool's name, its calls and its successes.
    #[serde(flatten)]
    pub rate: Rate,
    /// The median call's duration (nearest rank), when any call said how long it took.
    pub p50_ms: Option<i64>,
    /// The 95th percentile of the calls' durations (nearest rank).
    pub p95_ms: Option<i64>,
}

/// One model's tokens and cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Model {
    /// The model's name.
    pub model: String,
    /// Token-use events (or, for a session that has none, its session cost).
    pub events: u64,
    /// Input tokens in all.
    pub input_tokens: i64,
    /// Output tokens in all.
    pub output_tokens: i64,
    /// Cost in US dollars in all.
    pub cost_usd: f64,
}

/// The sessions in a range.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sessions {
    /// `session_start` events.
    pub started: u64,
    /// `session_end` events.
    pub ended: u64,
    /// Ended sessions by outcome.
    pub outcomes: Vec<Count>,
    /// The median ended session's duration (nearest rank).
    pub p50_ms: Option<i64>,
    /// The 95th percentile of the ended sessions' durations (nearest rank).
    pub p95_ms: Option<i64>,
    /// The ended sessions' cost, and its mean per ended session.
    pub cost_usd: f64,
    /// See `cost_usd`; `None` when no session ended.
    pub mean_cost_usd: Option<f64>,
}

/// How many events had one value (a session outcome, a task state).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The value.
    pub name: String,
    /// Events with it.
    pub count: u64,
}

/// One product version's installations and events on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VersionDay {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// The product.
    pub product: String,
    /// Its version, or [`OTHER_VERSIONS`] for the versions folded past the top.
    pub version: String,
    /// Distinct installations that sent events that day with that version.
    pub installations: u64,
    /// Events that day with that version.
    pub events: u64,
}

impl Rate {
    fn new(name: String, count: u64, succeeded: u64) -> Rate {
        let success_rate = if count == 0 {
            0.0
        } else {
            succeeded as f64 / count as f64
        };
        Rate {
            name,
            count,
            succeeded,
            success_rate,
        }
    }
}
