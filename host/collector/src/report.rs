//! What the collector stored, summarized: commands by name with their success rate, tool
//! calls by tool with success rate and p50/p95 duration, tokens and cost by model (the cost
//! the events reported apart from the cost estimated from a price table), sessions,
//! task outcomes, and installations and versions by day. [`Report::build`] reads it from the
//! store in one pass per section (indexed by kind and time); `text`, JSON (serde) and `html`
//! show it.
//!
//! It survives whatever was stored, since an older collector or another program may have
//! written the database: times outside 1970–9999 are shown at the nearest bound, names are
//! cut to 256 bytes, each section keeps its top rows (`more` counts the rest), and the text
//! shows control characters escaped so that a name cannot drive the terminal.

mod db;
mod events;
pub mod html;
mod query;
pub mod text;

pub(crate) use db::Db;
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

/// Which events a report reads, beside the range: one product, one version, some kinds. Empty
/// (the default): all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filter {
    /// Only this product's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Only this product version's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Only events of these kinds (`tool_call`, `token_usage`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kinds: Vec<String>,
}

impl Filter {
    /// The filter in words (`product my-agent, version 1.2.0, kinds tool_call`), or `None`.
    pub fn describe(&self) -> Option<String> {
        let parts: Vec<String> = [
            self.product
                .as_ref()
                .map(|p| format!("product {}", printable(p))),
            self.version
                .as_ref()
                .map(|v| format!("version {}", printable(v))),
            (!self.kinds.is_empty()).then(|| format!("kinds {}", self.kinds.join(", "))),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Everything the collector stored in a range, summarized section by section.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The range it covers.
    pub range: Range,
    /// Which events it reads, beside the range.
    pub filter: Filter,
    /// Events in the range.
    pub events: u64,
    /// Distinct installations that sent them: persistent ids only, so that containers and CI
    /// runs, which send an `ephemeral_` id each, do not count as installations.
    pub installations: u64,
    /// Runs with an ephemeral id outside CI: container starts (or homes that could not be
    /// written), each counted once.
    pub container_runs: u64,
    /// Runs with an ephemeral id in CI, each counted once.
    pub ci_runs: u64,
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
    /// The models' cost in all: reported, estimated, and what could not be priced.
    pub cost: Cost,
    /// Sessions started and ended, their outcomes, durations and cost.
    pub sessions: Sessions,
    /// Task events by state.
    pub tasks: Vec<Count>,
    /// Installations and events by day and version.
    pub versions: Vec<VersionDay>,
    /// What counts-only installations uploaded for the days in the range.
    pub counts: Counts,
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
    /// Counters of counts-only uploads.
    pub counters: u64,
}

/// Counts-only mode's uploads for the days in a range: how many, from how many installations,
/// and their counters summed by kind, subject and outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Uploads (one per installation, product version and day).
    pub uploads: u64,
    /// Distinct persistent installations that sent them (ephemeral runs not counted).
    pub installations: u64,
    /// Events folded into them.
    pub events: u64,
    /// Their counters, summed across uploads, most events first.
    pub counters: Vec<CountRow>,
}

/// One kind, subject and outcome's counters, summed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CountRow {
    /// The event kind.
    pub kind: String,
    /// What they were about (a tool, a model, an action), if the kind names one.
    pub subject: Option<String>,
    /// Their outcome, for the kinds that have one.
    pub outcome: Option<String>,
    /// Events.
    pub count: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost in US dollars, of those that said one.
    pub cost_usd: f64,
    /// Durations, summed, in milliseconds.
    pub duration_ms: u64,
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
    /// Cost in US dollars in all, as the events reported it.
    pub cost_usd: f64,
    /// Cost in US dollars in all, estimated from a price table for the events that reported
    /// none.
    pub estimated_cost_usd: f64,
    /// Events that reported no cost and that no price table priced (their model unknown to
    /// it): their cost is in neither sum.
    pub unpriced_events: u64,
}

/// The cost of every model's token use in the range (not only the models shown).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cost {
    /// Cost in US dollars the events reported.
    pub reported_usd: f64,
    /// Cost in US dollars estimated for the events that reported none.
    pub estimated_usd: f64,
    /// Events that reported no cost and that the price table did not price.
    pub unpriced_events: u64,
    /// Models of those events.
    pub unpriced_models: u64,
    /// The price tables the estimates were made from (each `name (date)`, and the file it
    /// was read from if not the built-in one).
    pub prices: Vec<String>,
}

impl Cost {
    /// The line the text and the page show under the models: `$R reported, $E estimated
    /// (prices: ...); unpriced: N events of M models`.
    pub fn summary(&self) -> String {
        let prices = if self.prices.is_empty() {
            "none used".to_string()
        } else {
            self.prices.join("; ")
        };
        let plural = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
        format!(
            "cost ${:.4} reported, ${:.4} estimated (prices: {prices}); unpriced: {} of {}",
            self.reported_usd,
            self.estimated_usd,
            plural(self.unpriced_events, "event"),
            plural(self.unpriced_models, "model"),
        )
    }
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

impl Report {
    /// The runs that sent an ephemeral id, in words (`100 container runs and 20 CI runs (one
    /// id each, not installations)`); `None` when there were none.
    pub fn ephemeral_runs(&self) -> Option<String> {
        if self.container_runs == 0 && self.ci_runs == 0 {
            return None;
        }
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        Some(format!(
            "{} container run{} and {} CI run{} (an ephemeral id each, not installations)",
            self.container_runs,
            plural(self.container_runs),
            self.ci_runs,
            plural(self.ci_runs)
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Fact, Received};
    use crate::{EventStore, Format};

    /// A store holding token use: gpt-4o once without a cost (1M input tokens: $2.50 by the
    /// built-in table) and once with $0.50 reported; two models the table does not know,
    /// three events in all.
    fn priced_and_unpriced() -> EventStore {
        let store = EventStore::open(None).unwrap();
        let token = |id: &str, model: &str, cost: Option<f64>| Fact {
            id: id.to_string(),
            occurred_ms: 1_767_225_600_000,
            kind: "token_usage",
            installation: "i".into(),
            subject: Some(model.to_string()),
            input_tokens: Some(1_000_000),
            output_tokens: Some(0),
            cost_usd: cost,
            body: "{}".into(),
            ..Fact::default()
        };
        let facts = vec![
            token("a", "gpt-4o", None),
            token("b", "openai/gpt-4o", Some(0.5)),
            token("c", "llama-local", None),
            token("d", "llama-local", None),
            token("e", "mystery-model", None),
        ];
        store
            .store(
                Format::Native,
                &Received {
                    facts,
                    ..Received::default()
                },
            )
            .unwrap();
        store
    }

    const SUMMARY: &str = "cost $0.5000 reported, $2.5000 estimated (prices: agent-telemetry \
        default (2025-11-24)); unpriced: 3 events of 2 models";

    #[test]
    fn reported_and_estimated_cost_and_the_unpriced_are_shown_apart_in_every_form() {
        let r = Report::build_top(&priced_and_unpriced(), Range::default(), 2).unwrap();
        let row = |m: &Model| {
            (
                m.model.clone(),
                m.events,
                m.cost_usd,
                m.estimated_cost_usd,
                m.unpriced_events,
            )
        };
        let rows: Vec<_> = r.models.iter().map(row).collect();
        assert_eq!(
            rows,
            [
                ("gpt-4o".to_string(), 1, 0.0, 2.5, 0),
                ("openai/gpt-4o".to_string(), 1, 0.5, 0.0, 0)
            ]
        );
        // The totals count every model, the ones past the top too.
        assert_eq!(r.more.models, 2);
        assert_eq!(
            r.cost,
            Cost {
                reported_usd: 0.5,
                estimated_usd: 2.5,
                unpriced_events: 3,
                unpriced_models: 2,
                prices: vec!["agent-telemetry default (2025-11-24)".into()],
            }
        );
        assert_eq!(r.cost.summary(), SUMMARY);

        let text = text::render(&r);
        assert!(text.contains(SUMMARY), "{text}");
        assert!(
            text.contains("reported cost") && text.contains("estimated cost"),
            "{text}"
        );
        assert!(text.contains("$2.5000"), "{text}");

        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["cost"]["reported_usd"], 0.5);
        assert_eq!(json["cost"]["estimated_usd"], 2.5);
        assert_eq!(json["cost"]["unpriced_events"], 3);
        assert_eq!(json["cost"]["unpriced_models"], 2);
        assert_eq!(
            json["cost"]["prices"][0],
            "agent-telemetry default (2025-11-24)"
        );
        assert_eq!(json["models"][0]["estimated_cost_usd"], 2.5);
        assert_eq!(json["models"][1]["cost_usd"], 0.5);

        let page = html::render(&r);
        assert!(page.contains(SUMMARY), "{page}");
        assert!(page.contains(html::MODEL_ESTIMATED), "{page}");
        assert!(page.contains("estimated cost"), "{page}");
    }

    #[test]
    fn with_nothing_estimated_the_report_says_no_table_was_used() {
        let r = Report::build(&EventStore::open(None).unwrap(), Range::default()).unwrap();
        assert_eq!(r.cost, Cost::default());
        assert_eq!(
            r.cost.summary(),
            "cost $0.0000 reported, $0.0000 estimated (prices: none used); unpriced: 0 events of 0 models"
        );
    }
}
