//! Counts-only mode's upload: one document per installation, product version and period (a UTC
//! day), holding counters instead of events. The host folds each event the component has
//! checked into them ([`Upload::fold`]) and sends the document once the period is over; the
//! collector reads it with the same types.
//!
//! What it holds is less than any batch: no event id, no time finer than the period's first
//! day, no session or task id, no agent name; per kind, subject (a command's action, a tool, a
//! model: the names the rules already let through) and outcome, a count, duration and token
//! buckets, token and cost sums.

use serde::{Deserialize, Serialize};

use crate::wire::Event;

/// The `schema` field of every upload.
pub const SCHEMA: &str = "agent-telemetry/counts";
/// The version this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;
/// A period's name on the wire: a UTC day.
pub const PERIOD_DAY: &str = "day";
/// A period's name on the wire: a week, Monday to Sunday (UTC).
pub const PERIOD_WEEK: &str = "week";

/// How long one upload's counts run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A UTC day (the default).
    #[default]
    Day,
    /// A week from Monday, UTC.
    Week,
}

impl Period {
    /// `day` or `week`.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => PERIOD_DAY,
            Period::Week => PERIOD_WEEK,
        }
    }

    /// The period named `value` (`day`, `week`; any case, spaces around ignored).
    pub fn parse(value: &str) -> Option<Period> {
        [Period::Day, Period::Week]
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(value.trim()))
    }

    /// The first day of the period `unix_days` (days since 1970-01-01, a Thursday) falls in.
    pub fn start(self, unix_days: i64) -> i64 {
        match self {
            Period::Day => unix_days,
            // Monday is 3 days before Thursday.
            Period::Week => unix_days - (unix_days + 3).rem_euclid(7),
        }
    }
}
/// Upper bounds (exclusive) of the duration buckets, in milliseconds; the last is open.
pub const DURATION_BUCKETS_MS: [u64; 5] = [100, 1_000, 10_000, 60_000, 600_000];
/// Upper bounds (exclusive) of the token buckets (an event's input plus output tokens).
pub const TOKEN_BUCKETS: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];
/// Counters one upload holds at most; events past it are counted in [`Upload::overflow`].
pub const MAX_COUNTERS: usize = 4_096;

/// One period's counts of one installation and product version.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Upload {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Random, made when the upload's first event was folded: the same on every retry, so the
    /// collector keeps it once. (Not an event's id: one per period's upload.)
    pub upload_id: String,
    /// The installation (or `ephemeral_` run) the counts are of.
    pub installation_id: String,
    /// [`PERIOD_DAY`] or [`PERIOD_WEEK`].
    pub period: String,
    /// The period's first day, `YYYY-MM-DD` (UTC; a Monday for a week).
    pub period_start: String,
    /// The product's name.
    pub product: String,
    /// The product's version.
    pub product_version: String,
    /// The operating system.
    pub os: String,
    /// Whether the events came from a CI run.
    pub ci: bool,
    /// Events folded in, in all (the counters' counts add up to it, with `overflow`).
    pub events: u64,
    /// Events that found no room past [`MAX_COUNTERS`]: counted, not kept apart.
    #[serde(default)]
    pub overflow: u64,
    /// The counters, one per kind, subject and outcome.
    pub counters: Vec<Counter>,
}

/// The events of one kind, subject and outcome in a period.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Counter {
    /// The event kind (`tool_call`).
    pub kind: String,
    /// What they are about (a tool, a model, an action), as the report reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Their outcome, for the kinds that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// How many.
    pub count: u64,
    /// Of them, how many took each of [`DURATION_BUCKETS_MS`] (and longer, last); empty when
    /// none had a duration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duration_buckets: Vec<u64>,
    /// Their durations' sum, in milliseconds.
    #[serde(default)]
    pub duration_ms: u64,
    /// Of them, how many had each of [`TOKEN_BUCKETS`] tokens (and more, last); empty when
    /// none counted tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_buckets: Vec<u64>,
    /// Input tokens, summed.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens, summed.
    #[serde(default)]
    pub output_tokens: u64,
    /// Cost in US dollars, summed over the events that said one.
    #[serde(default)]
    pub cost_usd: f64,
    /// Of them, how many said a cost.
    #[serde(default)]
    pub costed: u64,
}

/// The JSON Schema of [`Upload`], generated from these types: what
/// `agent-telemetry schema --counts` prints and `guest/contract/counts.schema.json` holds.
#[cfg(feature = "schema")]
pub fn upload_schema() -> serde_json::Value {
    crate::wire::published_schema::<Upload>(SCHEMA, SCHEMA_VERSION)
}

/// The UTC day of an RFC 3339 time (`2026-12-01T10:00:00.000Z`): its first ten characters,
/// when they are a date.
pub fn day_of(rfc3339: &str) -> Option<&str> {
    let day = rfc3339.get(..10)?;
    let b = day.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10)).then_some(day)
}

impl Upload {
    /// An empty upload, `upload_id`, of the envelope of `event`, for the `period` that
    /// starts on `period_start` (`YYYY-MM-DD`, the host's reckoning of the event's time).
    pub fn for_event(
        event: &Event,
        upload_id: String,
        period: Period,
        period_start: String,
    ) -> Upload {
        Upload {
            schema: SCHEMA.to_string(),
            schema_version: SCHEMA_VERSION,
            upload_id,
            installation_id: event.installation_id.clone(),
            period: period.as_str().to_string(),
            period_start,
            product: event.product.clone(),
            product_version: event.product_version.clone(),
            os: event.os.clone(),
            ci: event.ci,
            events: 0,
            overflow: 0,
            counters: Vec::new(),
        }
    }

    /// Whether `event`, of the period `period` starting `period_start`, belongs in this upload:
    /// same period, installation and product version.
    pub fn holds(&self, event: &Event, period: Period, period_start: &str) -> bool {
        self.period == period.as_str()
            && self.period_start == period_start
            && event.installation_id == self.installation_id
            && event.product == self.product
            && event.product_version == self.product_version
            && event.os == self.os
            && event.ci == self.ci
    }

    /// Adds `event` (one [`holds`](Self::holds)) to its counter.
    pub fn fold(&mut self, event: &Event) {
        let mut s = event.data.summary();
        let kind = event.data.kind();
        // An agent registration's subject is the agent's name (or its pseudonym): no agent
        // name leaves in counts, so those are counted by kind alone.
        if matches!(event.data, crate::wire::Data::AgentRegistered { .. }) {
            s.subject = None;
        }
        self.events += 1;
        let at = self
            .counters
            .iter()
            .position(|c| c.kind == kind && c.subject == s.subject && c.outcome == s.outcome);
        let counter = match at {
            Some(i) => &mut self.counters[i],
            None if self.counters.len() >= MAX_COUNTERS => {
                self.overflow += 1;
                return;
            }
            None => {
                self.counters.push(Counter {
                    kind: kind.to_string(),
                    subject: s.subject.clone(),
                    outcome: s.outcome.clone(),
                    ..Counter::default()
                });
                self.counters.last_mut().expect("just pushed")
            }
        };
        counter.count += 1;
        if let Some(ms) = s.duration_ms {
            bump(&mut counter.duration_buckets, &DURATION_BUCKETS_MS, ms);
            counter.duration_ms = counter.duration_ms.saturating_add(ms);
        }
        if s.input_tokens.is_some() || s.output_tokens.is_some() {
            let (input, output) = (s.input_tokens.unwrap_or(0), s.output_tokens.unwrap_or(0));
            bump(
                &mut counter.token_buckets,
                &TOKEN_BUCKETS,
                input.saturating_add(output),
            );
            counter.input_tokens = counter.input_tokens.saturating_add(input);
            counter.output_tokens = counter.output_tokens.saturating_add(output);
        }
        if let Some(cost) = s
            .cost_usd
            .filter(|c| c.is_finite() && (0.0..=crate::catalogue::MAX_COST_USD).contains(c))
        {
            counter.cost_usd += cost;
            counter.costed += 1;
        }
    }
}

/// Counts `value` in the bucket of `bounds` it falls in (the last bucket is open).
fn bump(buckets: &mut Vec<u64>, bounds: &[u64], value: u64) {
    buckets.resize(bounds.len() + 1, 0);
    let at = bounds
        .iter()
        .position(|b| value < *b)
        .unwrap_or(bounds.len());
    buckets[at] += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_read_only_from_dates() {
        assert_eq!(day_of("2026-12-01T10:00:00.000Z"), Some("2026-12-01"));
        for bad in [
            "",
            "2026-12",
            "20261201T10:00",
            "2026/12/01T",
            "２０２６-12-01",
        ] {
            assert_eq!(day_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_week_starts_on_monday() {
        // 1970-01-01 was a Thursday; 1970-01-05 a Monday; 2026-11-02 (day 20759) too.
        assert_eq!(Period::Week.start(0), -3);
        assert_eq!(Period::Week.start(4), 4);
        assert_eq!(Period::Week.start(10), 4);
        assert_eq!(Period::Week.start(11), 11);
        assert_eq!(Period::Week.start(20_759 + 6), 20_759);
        assert_eq!(Period::Day.start(20_400), 20_400);
        assert_eq!(Period::parse(" Week "), Some(Period::Week));
        assert_eq!(Period::parse("month"), None);
    }

    #[test]
    fn an_agent_registration_is_counted_without_its_agent() {
        let event: Event = serde_json::from_str(
            r#"{"event_id":"e","occurred_at":"2026-11-02T10:00:00.000Z","schema_version":2,"source":"cli","environment":"production","installation_id":"install_0123456789abcdef","product":"p","product_version":"1","os":"linux","arch":"x86_64","ci":false,"data":{"type":"agent_registered","agent":"agent_5f1e0c","role":"lead","capabilities":[],"is_reconnect":false}}"#,
        )
        .unwrap();
        let mut upload = Upload::for_event(&event, "u".into(), Period::Day, "2026-11-02".into());
        upload.fold(&event);
        assert_eq!(upload.counters[0].subject, None);
        assert!(
            !serde_json::to_string(&upload)
                .unwrap()
                .contains("agent_5f1e0c")
        );
    }

    #[test]
    fn buckets_take_each_value_once() {
        let mut b = Vec::new();
        for v in [0, 99, 100, 5_000, 600_000, u64::MAX] {
            bump(&mut b, &DURATION_BUCKETS_MS, v);
        }
        assert_eq!(b, [2, 1, 1, 0, 0, 2]);
    }
}
