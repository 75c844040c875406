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
    #[serde(rename = "since_ms")]
    pub since: Option<i64>,
    #[serde(rename = "until_ms")]
    pub until: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub range: Range,
    pub events: u64,
    pub installations: u64,
    /// First and last event in the range, RFC 3339.
    pub first: Option<String>,
    pub last: Option<String>,
    pub commands: Vec<Rate>,
    pub tools: Vec<Tool>,
    pub models: Vec<Model>,
    pub sessions: Sessions,
    /// Task events by state.
    pub tasks: Vec<Count>,
    /// Installations and events by day and version.
    pub versions: Vec<VersionDay>,
    /// Rows each section left out, past its top.
    pub more: More,
}

/// Rows of each section past its top rows: shown as "and K more".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct More {
    pub commands: u64,
    pub tools: u64,
    pub models: u64,
    /// Session outcomes.
    pub outcomes: u64,
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
    pub name: String,
    pub count: u64,
    pub succeeded: u64,
    /// `succeeded / count`, 0 to 1.
    pub success_rate: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tool {
    #[serde(flatten)]
    pub rate: Rate,
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Model {
    pub model: String,
    /// Token-use events (or, for a session that has none, its session cost).
    pub events: u64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sessions {
    pub started: u64,
    pub ended: u64,
    /// Ended sessions by outcome.
    pub outcomes: Vec<Count>,
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
    /// The ended sessions' cost, and its mean per ended session.
    pub cost_usd: f64,
    pub mean_cost_usd: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VersionDay {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub product: String,
    pub version: String,
    pub installations: u64,
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
