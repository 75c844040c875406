//! The row that stands for the rows past a section's top: `other (K names)`, with their counts,
//! tokens and costs summed (never their percentiles, which do not add up), so that a section's
//! rows still add up to the whole.

use super::{Count, CountRow, Model, Rate, Tool};

/// The name of the row that sums `k` names past the top: `other (5 names)`, `other (1 name)`.
pub fn other_name(k: u64) -> String {
    format!("other ({k} name{})", if k == 1 { "" } else { "s" })
}

/// A row that can sum others into an `other (K names)` row.
pub(super) trait Fold: Sized {
    /// One row named [`other_name`] that sums `rows`.
    fn other(rows: &[Self]) -> Self;
}

/// Keeps the first `top` rows and, if it cut any, ends with one `other (K names)` row that sums
/// them; returns K.
pub(super) fn fold<T: Fold>(rows: &mut Vec<T>, top: usize) -> u64 {
    if rows.len() <= top {
        return 0;
    }
    let rest = rows.split_off(top);
    rows.push(T::other(&rest));
    rest.len() as u64
}

/// A sum of counts that stops at the largest rather than wrapping.
fn sum<T>(rows: &[T], count: impl Fn(&T) -> u64) -> u64 {
    rows.iter().fold(0, |a, r| a.saturating_add(count(r)))
}

/// A sum of token counts (which may be anything a database held) that stops at the bounds.
fn sum_i64<T>(rows: &[T], count: impl Fn(&T) -> i64) -> i64 {
    rows.iter().fold(0, |a, r| a.saturating_add(count(r)))
}

/// A sum of dollars from 0: the float `sum` of nothing is -0, which would show as `$-0.0000`.
fn sum_f64<T>(rows: &[T], usd: impl Fn(&T) -> f64) -> f64 {
    rows.iter().fold(0.0, |a, r| a + usd(r))
}

impl Fold for Rate {
    fn other(rows: &[Rate]) -> Rate {
        let mut rate = Rate::new(
            other_name(rows.len() as u64),
            sum(rows, |r| r.count),
            sum(rows, |r| r.succeeded),
        );
        rate.folded = rows.len() as u64;
        rate
    }
}

impl Fold for Tool {
    fn other(rows: &[Tool]) -> Tool {
        let rates: Vec<Rate> = rows.iter().map(|t| t.rate.clone()).collect();
        Tool {
            rate: Rate::other(&rates),
            // Percentiles of different tools' calls cannot be summed.
            p50_ms: None,
            p95_ms: None,
        }
    }
}

impl Fold for Model {
    fn other(rows: &[Model]) -> Model {
        Model {
            model: other_name(rows.len() as u64),
            events: sum(rows, |m| m.events),
            input_tokens: sum_i64(rows, |m| m.input_tokens),
            output_tokens: sum_i64(rows, |m| m.output_tokens),
            cost_usd: sum_f64(rows, |m| m.cost_usd),
            estimated_cost_usd: sum_f64(rows, |m| m.estimated_cost_usd),
            unpriced_events: sum(rows, |m| m.unpriced_events),
            folded: rows.len() as u64,
        }
    }
}

impl Fold for Count {
    fn other(rows: &[Count]) -> Count {
        Count {
            name: other_name(rows.len() as u64),
            count: sum(rows, |c| c.count),
            folded: rows.len() as u64,
        }
    }
}

impl Fold for CountRow {
    fn other(rows: &[CountRow]) -> CountRow {
        CountRow {
            kind: other_name(rows.len() as u64),
            subject: None,
            outcome: None,
            count: sum(rows, |c| c.count),
            input_tokens: sum(rows, |c| c.input_tokens),
            output_tokens: sum(rows, |c| c.output_tokens),
            cost_usd: sum_f64(rows, |c| c.cost_usd),
            duration_ms: sum(rows, |c| c.duration_ms),
            folded: rows.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::EventStore;
    use crate::ingest::Fact;
    use crate::report::{DEFAULT_TOP, Range, Report, html, text};

    /// 20 tools, `tool-01` called once up to `tool-20` called 20 times, each one's first call
    /// failed (and, the slowest, 100 ms; the others 10 ms); 20 models, `model-n` once with $n
    /// reported and n thousand input tokens; and 20 task states, state n n times.
    fn twenty_of_each() -> EventStore {
        let mut facts = Vec::new();
        for n in 1..=20i64 {
            for call in 0..n {
                facts.push(Fact {
                    id: format!("tool{n}-{call}"),
                    kind: "tool_call",
                    subject: Some(format!("tool-{n:02}")),
                    outcome: Some(if call == 0 { "failure" } else { "success" }.into()),
                    duration_ms: Some(if call == 0 { 100 } else { 10 }),
                    ..fact()
                });
                facts.push(Fact {
                    id: format!("task{n}-{call}"),
                    kind: "task",
                    subject: Some(format!("state-{n:02}")),
                    ..fact()
                });
            }
            facts.push(Fact {
                id: format!("model{n}"),
                kind: "token_usage",
                subject: Some(format!("model-{n:02}")),
                input_tokens: Some(n * 1000),
                output_tokens: Some(n),
                cost_usd: Some(n as f64),
                ..fact()
            });
        }
        EventStore::holding(facts)
    }

    fn fact() -> Fact {
        Fact {
            occurred_ms: 1_767_225_600_000,
            installation: "i".into(),
            body: "{}".into(),
            ..Fact::default()
        }
    }

    #[test]
    fn a_cut_section_ends_with_an_other_row_that_sums_the_rows_cut() {
        assert_eq!(DEFAULT_TOP, 15);
        let r = Report::build(&twenty_of_each(), Range::default()).unwrap();
        // The 15 most called tools, then the 5 least called (1 to 5 calls, each one failed).
        assert_eq!(r.tools.len(), 16);
        assert_eq!(r.more.tools, 5);
        let other = &r.tools[15];
        let cut: u64 = (1..=5).sum();
        assert_eq!(other.rate.name, "other (5 names)");
        assert_eq!(other.rate.count, cut);
        assert_eq!(other.rate.succeeded, cut - 5);
        assert_eq!(other.rate.success_rate, (cut - 5) as f64 / cut as f64);
        assert_eq!(other.rate.folded, 5);
        assert_eq!((other.p50_ms, other.p95_ms), (None, None));
        assert_eq!(r.tools[14].rate.name, "tool-06");
        let calls: u64 = r.tools.iter().map(|t| t.rate.count).sum();
        assert_eq!(calls, (1..=20).sum::<u64>());

        // Models by cost: the five cheapest, $1 to $5, summed.
        let m = &r.models[15];
        assert_eq!(m.model, "other (5 names)");
        assert_eq!((m.events, m.input_tokens, m.output_tokens), (5, 15_000, 15));
        assert_eq!(m.cost_usd, 15.0);
        assert_eq!(r.tasks[15].name, "other (5 names)");
        assert_eq!(r.tasks[15].count, cut);
        // The period's models, too.
        let period = &r.over_time.periods[0];
        assert_eq!(period.models.len(), 16);
        assert_eq!(period.models[15].cost_usd, 15.0);

        // The JSON, read back, has the same row.
        let json: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(json["tools"].as_array().unwrap().len(), 16);
        assert_eq!(json["tools"][15]["name"], "other (5 names)");
        assert_eq!(json["tools"][15]["count"], cut);
        assert_eq!(json["tools"][15]["succeeded"], cut - 5);
        assert_eq!(json["tools"][15]["folded"], 5);
        assert!(json["tools"][15]["p50_ms"].is_null());
        assert!(
            json["tools"][0].get("folded").is_none(),
            "{}",
            json["tools"][0]
        );
        assert_eq!(json["models"][15]["cost_usd"], 15.0);
        assert_eq!(
            json["over_time"]["periods"][0]["models"][15]["input_tokens"],
            15_000
        );
        assert_eq!(json["more"]["tools"], 5);

        // The text has it as a row: the name, then its calls and successes.
        let text = text::render(&r);
        let row = text
            .lines()
            .find(|l| l.contains("other (5 names)"))
            .unwrap_or_else(|| panic!("{text}"));
        let cells: Vec<&str> = row.split(['│', '┆']).map(str::trim).collect();
        assert_eq!(
            cells[1..5],
            ["other (5 names)", "15", "10", "66.7%"],
            "{row}"
        );
        assert!(!text.contains("more tools"), "{text}");
        // And the page, in the chart and in the table.
        let page = html::render(&r);
        assert!(page.matches("other (5 names)").count() >= 4, "{page}");
        assert!(
            page.contains("<td>other (5 names)</td><td>15</td>"),
            "{page}"
        );
    }

    #[test]
    fn an_uncut_section_has_no_other_row() {
        let r = Report::build_top(&twenty_of_each(), Range::default(), 20).unwrap();
        assert_eq!(r.tools.len(), 20);
        assert_eq!(r.more.tools, 0);
        assert!(r.tools.iter().all(|t| t.rate.folded == 0));
        assert!(!text::render(&r).contains("other ("));
    }
}
