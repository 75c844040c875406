//! What the collector stored, summarized: commands by name with their success rate, tool
//! calls by tool with success rate and p50/p95 duration, tokens and cost by model (the cost
//! the events reported apart from the cost estimated from a price table), sessions,
//! task outcomes; over time, by day or week: active installations, events, tool calls and
//! their failure rate, tokens and cost by model, and version adoption; and new, returning and
//! retained installations by week. [`Report::build`] reads it from the store in one pass per
//! section (indexed by kind and time); `text`, JSON (serde) and `html` show it.
//!
//! It survives whatever was stored, since an older collector or another program may have
//! written the database: times outside 1970–9999 are shown at the nearest bound, names are
//! cut to 256 bytes, each section keeps its top rows and sums the rest in one
//! `other (K names)` row (`more` counts them), and the text shows control characters escaped
//! so that a name cannot drive the terminal.

pub(crate) mod db;
mod events;
pub mod html;
mod other;
mod query;
pub mod text;

pub(crate) use db::Db;
pub use other::other_name;

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
    /// Active installations, events, tool calls and token use by day or week.
    pub over_time: OverTime,
    /// Version adoption: installations and events by period (the periods of `over_time`)
    /// and version, with each version's share of the period's active installations.
    pub versions: Vec<VersionPeriod>,
    /// New and returning installations by week, and what each week's new ones did after.
    pub retention: Retention,
    /// What counts-only installations uploaded for the days in the range.
    pub counts: Counts,
    /// Rows each section left out, past its top.
    pub more: More,
    /// Installations that asked to be forgotten, ever (whatever the range): their events are
    /// deleted, and none stored since.
    pub deletions: u64,
}

/// Rows of each section past its top rows: each section shows them summed in one
/// `other (K names)` row, and these are the Ks.
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
    /// Versions (of the whole range) folded into each period's `other` row.
    pub versions: u64,
    /// Periods before the last [`MAX_PERIODS`] of the over-time series and the versions, or
    /// weeks before the last [`MAX_PERIODS`] of the weekly tables (whichever is more).
    pub periods: u64,
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
    /// Names this row sums: 0 for one kind, subject and outcome's own row, K for the
    /// `other (K names)` row (in `kind`) that sums the rows past the top.
    #[serde(skip_serializing_if = "is_zero")]
    pub folded: u64,
}

/// Rows a section shows unless told otherwise; the rest are summed in one `other (K names)`
/// row.
pub const DEFAULT_TOP: usize = 15;
/// Periods the over-time series (and the versions) shows at most, and weeks the weekly
/// tables show at most: the latest. Two years of weeks; a daily series is never longer than
/// [`DAILY_UP_TO_DAYS`] + 1 days.
pub const MAX_PERIODS: usize = 104;
/// The longest range, in days, shown day by day: a longer one is shown week by week. About two
/// months: up to 63 columns a chart can still tell apart, and enough days to see a week's
/// rhythm; a quarter by day would be a blur, so it is 13 weeks instead.
pub const DAILY_UP_TO_DAYS: i64 = 62;
/// Weeks after its own that a retention cohort's row follows at most.
pub const COHORT_WEEKS: usize = 12;

/// For `skip_serializing_if`: a name's own row has nothing folded into it.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

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
    /// Names this row sums: 0 for a name's own row, K for the `other (K names)` row.
    #[serde(skip_serializing_if = "is_zero")]
    pub folded: u64,
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
    /// Models this row sums: 0 for a model's own row, K for the `other (K names)` row.
    #[serde(skip_serializing_if = "is_zero")]
    pub folded: u64,
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
    /// Values this row sums: 0 for a value's own row, K for the `other (K names)` row.
    #[serde(skip_serializing_if = "is_zero")]
    pub folded: u64,
}

/// One product version's installations and events in one period of the over-time series.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VersionPeriod {
    /// The period's first day, `YYYY-MM-DD`, UTC.
    pub period: String,
    /// The product (empty in the `other` row).
    pub product: String,
    /// Its version, or `other (K names)` for the K versions of that period past the top.
    pub version: String,
    /// Distinct installations that sent events in the period with that version (in the
    /// `other` row, summed over its versions: one that ran two of them counts twice).
    pub installations: u64,
    /// Events in the period with that version.
    pub events: u64,
    /// `installations` over the period's active installations, 0 to 1: the version's
    /// adoption.
    pub share: f64,
    /// Versions this row sums: 0 for a version's own row, K for the `other (K names)` row.
    #[serde(skip_serializing_if = "is_zero")]
    pub folded: u64,
}

/// How the over-time series is cut: by day, or by week for a range longer than
/// [`DAILY_UP_TO_DAYS`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// UTC days.
    #[default]
    Day,
    /// ISO weeks: Monday to Sunday, UTC.
    Week,
}

impl Granularity {
    /// By week when the range is longer than [`DAILY_UP_TO_DAYS`] days, else by day. The range
    /// is `since` to `until` where given; where not, the first event (`first`) or just after
    /// the last (`last`) stands for it.
    pub fn for_range(range: Range, first: Option<i64>, last: Option<i64>) -> Granularity {
        let from = range.since.or(first);
        let to = range.until.or(last.map(|l| l.saturating_add(1)));
        match (from, to) {
            (Some(from), Some(to)) if to.saturating_sub(from) > DAILY_UP_TO_DAYS * 86_400_000 => {
                Granularity::Week
            }
            _ => Granularity::Day,
        }
    }

    /// `day` or `week`: what the text and the page call a period.
    pub fn noun(self) -> &'static str {
        match self {
            Granularity::Day => "day",
            Granularity::Week => "week",
        }
    }
}

/// The range by day or by week: every period from the first with events to the last (the
/// latest [`MAX_PERIODS`]), the empty ones too.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OverTime {
    /// Day or week.
    pub granularity: Granularity,
    /// The periods, oldest first.
    pub periods: Vec<Period>,
}

/// One day or week of the over-time series.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Period {
    /// Its first day, `YYYY-MM-DD`, UTC (a Monday for a week).
    pub start: String,
    /// Distinct installations that sent events in it: persistent ids only, as `installations`.
    pub installations: u64,
    /// Events in it.
    pub events: u64,
    /// Tool calls in it.
    pub tool_calls: u64,
    /// Tool calls whose outcome was not `success` (or was not said).
    pub tool_failures: u64,
    /// `tool_failures / tool_calls`, 0 to 1; `None` without tool calls.
    pub tool_failure_rate: Option<f64>,
    /// Tokens and cost by model, in the order of the models section: its top models, then
    /// one `other (K names)` row for the K other models used in this period.
    pub models: Vec<Model>,
}

impl Period {
    /// Input and output tokens, and reported plus estimated cost, of every model in it.
    pub fn token_totals(&self) -> (i64, i64, f64) {
        self.models.iter().fold((0, 0, 0.0), |(i, o, c), m| {
            (
                i.saturating_add(m.input_tokens),
                o.saturating_add(m.output_tokens),
                c + m.cost_usd + m.estimated_cost_usd,
            )
        })
    }
}

/// Installations new and returning by week, and a table of cohorts.
///
/// An installation's first week is the week of its first event in the whole store, not only in
/// the range (of the product filtered, if `--product` was given; the version and the kinds
/// filtered do not apply, since a new version or a kind never sent before does not make an
/// installation new). So a report of the last month still counts as returning an installation
/// first seen a year ago. Persistent ids only, as `installations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Retention {
    /// Every ISO week (Monday to Sunday, UTC) from the first with active installations to the
    /// last (the latest [`MAX_PERIODS`]).
    pub weeks: Vec<WeekSplit>,
    /// A row for each of those weeks in which installations were first seen.
    pub cohorts: Vec<Cohort>,
}

/// One week's active installations: first seen that week, or before.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WeekSplit {
    /// Its Monday, `YYYY-MM-DD`.
    pub week: String,
    /// Installations active that week whose first event in the store was that week.
    pub new: u64,
    /// Installations active that week first seen in an earlier week.
    pub returning: u64,
}

/// The installations first seen in one week, and how many of them were active in each week
/// after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cohort {
    /// The week they were first seen in: its Monday, `YYYY-MM-DD`.
    pub week: String,
    /// Installations first seen that week (and active in the range).
    pub installations: u64,
    /// `active[k - 1]`: how many of them were active in week +k, for each week after it up to
    /// the last week of the range, at most [`COHORT_WEEKS`].
    pub active: Vec<u64>,
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
            folded: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventStore;
    use crate::ingest::Fact;

    /// A store holding token use: gpt-4o once without a cost (1M input tokens: $2.50 by the
    /// built-in table) and once with $0.50 reported; two models the table does not know,
    /// three events in all.
    fn priced_and_unpriced() -> EventStore {
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
        EventStore::holding(facts)
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
        // The two models past the top, three unpriced events, in one row.
        assert_eq!(
            rows,
            [
                ("gpt-4o".to_string(), 1, 0.0, 2.5, 0),
                ("openai/gpt-4o".to_string(), 1, 0.5, 0.0, 0),
                ("other (2 names)".to_string(), 3, 0.0, 0.0, 3)
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
