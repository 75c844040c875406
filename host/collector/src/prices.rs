//! The price table the collector estimates a token event's cost from when the event carries
//! none: a model's price per million input, output, cache-read and cache-write tokens, in US
//! dollars. One is built in ([`Prices::embedded`], `prices/default.json`: list prices from
//! the providers' pages, with its date and source); `collect --prices FILE` gives another in
//! the same form.
//!
//! A model is looked up by its name as sent; failing that, without a provider prefix
//! (`openai/gpt-4o`, `models/gemini-2.5-pro`: what follows the last `/`); failing that, also
//! without a dated suffix (`claude-sonnet-4-5-20250929`, `gpt-4o-2024-08-06`: the family's
//! entry). An exact entry always wins, so a dated model priced apart is listed under its own
//! name. Cache-read and cache-write tokens are priced apart from input tokens (input tokens
//! are taken not to include them, as Anthropic and Agent Swarm count); a model without a
//! cache price has them priced as input.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::ingest::Fact;

/// The kinds of event a cost is estimated for: a model call's token use, and a session's
/// token use as the agent reports it.
pub const TOKEN_KINDS: [&str; 2] = ["token_usage", "session_cost"];

/// The table built in.
const DEFAULT: &str = include_str!("../prices/default.json");

/// Prices of one model, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Input (prompt) tokens.
    pub input: f64,
    /// Output (completion) tokens, reasoning included.
    pub output: f64,
    /// Input tokens read from the provider's cache; `None`: priced as input.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Input tokens written to the provider's cache; `None`: priced as input.
    #[serde(default)]
    pub cache_write: Option<f64>,
}

/// A price table as its file says it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    date: String,
    #[serde(default)]
    #[allow(dead_code)]
    source: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    notes: Option<String>,
    models: BTreeMap<String, Price>,
}

/// A price table that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadTable(String);

/// A price table: its name and date, and each model's [`Price`].
#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    label: String,
    models: BTreeMap<String, Price>,
}

static EMBEDDED: LazyLock<Prices> = LazyLock::new(|| {
    // The file is part of this crate, and a test parses it.
    Prices::parse(DEFAULT, None).expect("the built-in price table is valid")
});

impl Prices {
    /// The table built in (`prices/default.json`).
    pub fn embedded() -> &'static Prices {
        &EMBEDDED
    }

    /// A table from its JSON text: `{"name", "date" (YYYY-MM-DD), "source"?, "notes"?,
    /// "models": {"<model>": {"input", "output", "cache_read"?, "cache_write"?}}}`, prices in
    /// US dollars per million tokens, finite and not negative; unknown fields are refused.
    /// `from`: the file it was read from, which its label names.
    pub fn parse(text: &str, from: Option<&Path>) -> Result<Prices, BadTable> {
        let file: File =
            serde_json::from_str(text).map_err(|e| BadTable(format!("not a price table: {e}")))?;
        let name = file.name.trim();
        if name.is_empty() {
            return Err(BadTable("the table has no name".into()));
        }
        let date = file.date.trim();
        let is_day =
            date.len() == 10 && humantime::parse_rfc3339(&format!("{date}T00:00:00Z")).is_ok();
        if !is_day {
            return Err(BadTable(format!("the date `{date}` is not YYYY-MM-DD")));
        }
        if file.models.is_empty() {
            return Err(BadTable("the table prices no model".into()));
        }
        for (model, p) in &file.models {
            let all = [Some(p.input), Some(p.output), p.cache_read, p.cache_write];
            if all.into_iter().flatten().any(|v| !v.is_finite() || v < 0.0) {
                return Err(BadTable(format!(
                    "`{model}` has a price that is negative or not finite"
                )));
            }
        }
        let label = match from {
            Some(path) => format!("{name} ({date}) from {}", path.display()),
            None => format!("{name} ({date})"),
        };
        Ok(Prices {
            label,
            models: file.models,
        })
    }

    /// The table in the file at `path`.
    pub fn read(path: &Path) -> anyhow::Result<Prices> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the price table {}: {e}", path.display()))?;
        Prices::parse(&text, Some(path))
            .map_err(|e| anyhow::anyhow!("the price table {}: {e}", path.display()))
    }

    /// What the report calls it: `name (date)`, and the file it came from if not built in.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The price of `model`: by its name, else without a provider prefix, else also without
    /// a dated suffix (see the module's doc).
    pub fn lookup(&self, model: &str) -> Option<&Price> {
        let bare = model.rsplit('/').next().unwrap_or(model);
        [Some(model), Some(bare), undated(bare)]
            .into_iter()
            .flatten()
            .find_map(|name| self.models.get(name))
    }

    /// The estimated cost in US dollars of a token event (one of [`TOKEN_KINDS`]) with no
    /// reported cost, whose model the table prices; `None` otherwise. Missing counts are 0.
    pub fn estimate(&self, f: &Fact) -> Option<f64> {
        if f.cost_usd.is_some() || !TOKEN_KINDS.contains(&f.kind) {
            return None;
        }
        let p = self.lookup(f.subject.as_deref()?)?;
        let n = |v: Option<i64>| v.unwrap_or(0).max(0) as f64;
        let cost = n(f.input_tokens) * p.input
            + n(f.output_tokens) * p.output
            + n(f.cache_read_tokens) * p.cache_read.unwrap_or(p.input)
            + n(f.cache_write_tokens) * p.cache_write.unwrap_or(p.input);
        // A table's prices times a sender's token counts can overflow: such an estimate is
        // none (the event counts as unpriced), as a reported cost past the bound is refused.
        let cost = cost / 1_000_000.0;
        (cost.is_finite() && cost <= crate::ingest::MAX_COST_USD).then_some(cost)
    }
}

/// `name` without a dated suffix (`-20250929`, `-2024-08-06`), if it has one.
fn undated(name: &str) -> Option<&str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (head, tail) = name.rsplit_once('-')?;
    if tail.len() == 8 && digits(tail) {
        return (!head.is_empty()).then_some(head);
    }
    // `-YYYY-MM-DD`: three parts of 4, 2 and 2 digits.
    let (head, day) = (head, tail);
    let (head, month) = head.rsplit_once('-')?;
    let (head, year) = head.rsplit_once('-')?;
    let sizes = (year.len(), month.len(), day.len()) == (4, 2, 2);
    (sizes && digits(year) && digits(month) && digits(day) && !head.is_empty()).then_some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_usage(model: &str, input: i64, output: i64) -> Fact {
        Fact {
            kind: "token_usage",
            subject: Some(model.to_string()),
            input_tokens: Some(input),
            output_tokens: Some(output),
            ..Fact::default()
        }
    }

    #[test]
    fn the_built_in_table_parses_and_names_its_date() {
        let p = Prices::embedded();
        assert_eq!(p.label(), "agent-telemetry default (2025-11-24)");
        let gpt = p.lookup("gpt-4o").unwrap();
        assert_eq!(
            (gpt.input, gpt.output, gpt.cache_read),
            (2.5, 10.0, Some(1.25))
        );
        assert!(p.lookup("claude-sonnet-4-5").is_some());
        assert!(p.lookup("gemini-2.5-pro").is_some());
    }

    #[test]
    fn names_are_matched_exactly_then_without_a_prefix_then_without_a_date() {
        let p = Prices::embedded();
        let sonnet = p.lookup("claude-sonnet-4-5").unwrap();
        assert_eq!(p.lookup("claude-sonnet-4-5-20250929"), Some(sonnet));
        assert_eq!(
            p.lookup("anthropic/claude-sonnet-4-5-20250929"),
            Some(sonnet)
        );
        assert_eq!(p.lookup("gpt-4o-2024-08-06"), p.lookup("gpt-4o"));
        assert_eq!(p.lookup("openai/gpt-4o"), p.lookup("gpt-4o"));
        assert_eq!(
            p.lookup("models/gemini-2.5-pro"),
            p.lookup("gemini-2.5-pro")
        );
        // An exact entry wins over its family's.
        assert_eq!(p.lookup("gpt-4o-2024-05-13").unwrap().input, 5.0);
        // Nothing else is guessed.
        for unknown in [
            "gpt-4o-turbo",
            "GPT-4O",
            "claude-sonnet",
            "gpt-4o-2024",
            "llama-3",
            "",
        ] {
            assert_eq!(p.lookup(unknown), None, "{unknown}");
        }
        assert_eq!(undated("-20250929"), None);
        assert_eq!(undated("x-2024-08-06"), Some("x"));
        assert_eq!(undated("2024-08-06"), None);
        assert_eq!(undated("o3-mini"), None);
    }

    #[test]
    fn an_estimate_prices_each_kind_of_token_and_only_when_no_cost_was_reported() {
        let p = Prices::embedded();
        // 1M input at $2.50, 0.5M output at $10.
        let f = token_usage("gpt-4o", 1_000_000, 500_000);
        assert_eq!(p.estimate(&f), Some(7.5));
        let cached = Fact {
            kind: "session_cost",
            cache_read_tokens: Some(1_000_000),
            cache_write_tokens: Some(1_000_000),
            ..token_usage("claude-sonnet-4-5-20250929", 0, 0)
        };
        assert_eq!(p.estimate(&cached), Some(0.3 + 3.75));
        // Without cache prices, cached tokens are priced as input.
        let gemini = Fact {
            cache_read_tokens: Some(2_000_000),
            ..token_usage("gemini-2.5-pro", 0, 0)
        };
        assert_eq!(p.estimate(&gemini), Some(2.5));
        let reported = Fact {
            cost_usd: Some(0.01),
            ..token_usage("gpt-4o", 1, 1)
        };
        assert_eq!(p.estimate(&reported), None);
        assert_eq!(p.estimate(&token_usage("my-local-model", 1, 1)), None);
        let not_tokens = Fact {
            kind: "session_end",
            ..token_usage("gpt-4o", 1, 1)
        };
        assert_eq!(p.estimate(&not_tokens), None);
        let no_model = Fact {
            subject: None,
            ..token_usage("gpt-4o", 1, 1)
        };
        assert_eq!(p.estimate(&no_model), None);
    }

    #[test]
    fn a_table_from_a_file_is_labelled_with_its_path() {
        let text = r#"{"name": "team", "date": "2026-01-31",
            "models": {"local-llm": {"input": 0.5, "output": 1.0}}}"#;
        let p = Prices::parse(text, Some(Path::new("/etc/prices.json"))).unwrap();
        assert_eq!(p.label(), "team (2026-01-31) from /etc/prices.json");
        assert_eq!(
            p.estimate(&token_usage("local-llm", 2_000_000, 1_000_000)),
            Some(2.0)
        );
        assert_eq!(p.lookup("gpt-4o"), None);
    }

    #[test]
    fn a_bad_table_is_refused_with_its_reason() {
        let cases = [
            ("not json", "not a price table"),
            (
                r#"{"name": "t", "date": "2026-01-31"}"#,
                "missing field `models`",
            ),
            (
                r#"{"name": "t", "date": "2026-01-31", "models": {"m": {"input": 1, "ouput": 2}}}"#,
                "unknown field `ouput`",
            ),
            (
                r#"{"name": " ", "date": "2026-01-31", "models": {"m": {"input": 1, "output": 2}}}"#,
                "no name",
            ),
            (
                r#"{"name": "t", "date": "January", "models": {"m": {"input": 1, "output": 2}}}"#,
                "not YYYY-MM-DD",
            ),
            (
                r#"{"name": "t", "date": "2026-02-31", "models": {"m": {"input": 1, "output": 2}}}"#,
                "not YYYY-MM-DD",
            ),
            (
                r#"{"name": "t", "date": "2026-01-31", "models": {}}"#,
                "prices no model",
            ),
            (
                r#"{"name": "t", "date": "2026-01-31", "models": {"m": {"input": -1, "output": 2}}}"#,
                "`m` has a price that is negative",
            ),
            (
                r#"{"name": "t", "date": "2026-01-31", "models": {"m": {"input": "1", "output": 2}}}"#,
                "invalid type",
            ),
        ];
        for (text, why) in cases {
            let err = Prices::parse(text, None).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.json");
        let err = Prices::read(&missing).unwrap_err().to_string();
        assert!(err.contains("cannot read the price table"), "{err}");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        let err = Prices::read(&bad).unwrap_err().to_string();
        assert!(
            err.contains("bad.json") && err.contains("not a price table"),
            "{err}"
        );
    }
}
