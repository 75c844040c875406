//! The over-time sections: the series by day or week, version adoption by period, and new,
//! returning and retained installations by week.
//!
//! Installations come from the population pass (each day's installations by version), grouped
//! here by period, so no event is read twice; tool calls and token use are grouped by period
//! in SQL, a row a period (and model) coming back. The SQL is what SQLite and PostgreSQL both
//! read: `?N` placeholders, `COUNT(*) FILTER (WHERE ...)`, `TOTAL`, and periods as integer
//! division of the bigint `occurred_ms`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use anyhow::Result;

use super::{DAY_MS, MODEL_COLUMNS, Population, Query, clamp, model_at, rfc3339};
use crate::report::db::Arg;
use crate::report::other::{Fold, other_name};
use crate::report::{
    COHORT_WEEKS, Cohort, Granularity, MAX_PERIODS, Model, OverTime, Period, Retention,
    VersionPeriod, WeekSplit,
};

/// The over-time sections, every row kept (the top is applied after).
pub(super) struct Series {
    pub over_time: OverTime,
    pub versions: Vec<VersionPeriod>,
    pub retention: Retention,
    /// Periods (or weeks) before the latest [`MAX_PERIODS`], left out.
    pub cut_periods: u64,
}

/// A row's period number, in SQL, from its `day` (days since 1970-01-01): the day, or weeks
/// counted from the Monday before it (1970-01-01 was a Thursday, so day + 3 is days since
/// that Monday). Integer division of a bigint that is never negative: the same in SQLite and
/// PostgreSQL.
fn period_sql(g: Granularity) -> &'static str {
    match g {
        Granularity::Day => "day",
        Granularity::Week => "(day + 3) / 7",
    }
}

/// The week (as [`period_sql`] numbers it) of a day since 1970-01-01.
fn week_of(day: i64) -> i64 {
    (day + 3).div_euclid(7)
}

/// The period a day falls in.
fn period_of(g: Granularity, day: i64) -> i64 {
    match g {
        Granularity::Day => day,
        Granularity::Week => week_of(day),
    }
}

/// The first day of a period: the day itself, or the week's Monday.
fn first_day(g: Granularity, period: i64) -> i64 {
    match g {
        Granularity::Day => period,
        Granularity::Week => period * 7 - 3,
    }
}

/// A day as `YYYY-MM-DD` (1970-01-01 for the Monday before it, which the week of the first
/// days of 1970 starts on).
fn date(day: i64) -> String {
    rfc3339(day.saturating_mul(DAY_MS))[..10].to_string()
}

/// `part` of `whole`, 0 to 1; 0 of nothing.
fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The smallest and largest of `values`.
fn bounds(values: impl Iterator<Item = i64>) -> Option<(i64, i64)> {
    values.fold(None, |b, v| {
        Some(b.map_or((v, v), |(lo, hi): (i64, i64)| (lo.min(v), hi.max(v))))
    })
}

/// The latest [`MAX_PERIODS`] of `first..=last`: where they start.
fn shown_from(first: i64, last: i64) -> i64 {
    first.max(last - (MAX_PERIODS as i64 - 1))
}

impl Query<'_, '_> {
    /// The over-time series, versions by period and the weekly tables, from the population
    /// pass and two grouped queries.
    pub(super) fn series(&self, p: &Population, g: Granularity) -> Result<Series> {
        let (retention, cut_weeks) = self.retention(p)?;
        let Some((first, last)) = bounds(p.days.iter().map(|d| period_of(g, d.day))) else {
            return Ok(Series {
                over_time: OverTime {
                    granularity: g,
                    periods: Vec::new(),
                },
                versions: Vec::new(),
                retention,
                cut_periods: cut_weeks,
            });
        };
        let from = shown_from(first, last);
        let mut periods: Vec<Period> = (from..=last)
            .map(|n| Period {
                start: date(first_day(g, n)),
                ..Period::default()
            })
            .collect();
        let mut active: Vec<HashSet<u32>> = vec![HashSet::new(); periods.len()];
        let mut versions: HashMap<(usize, u32), (u64, HashSet<u32>)> = HashMap::new();
        for d in &p.days {
            let n = period_of(g, d.day);
            if n < from {
                continue;
            }
            let i = (n - from) as usize;
            periods[i].events += d.events;
            active[i].extend(&d.installations);
            let v = versions.entry((i, d.label)).or_default();
            v.0 += d.events;
            v.1.extend(&d.installations);
        }
        for (period, ids) in periods.iter_mut().zip(&active) {
            period.installations = ids.len() as u64;
        }
        self.tool_calls_by_period(g, from, &mut periods)?;
        self.models_by_period(g, from, &mut periods)?;
        let mut versions: Vec<_> = versions.into_iter().collect();
        versions.sort_by(|a, b| {
            (a.0.0, &p.labels[a.0.1 as usize]).cmp(&(b.0.0, &p.labels[b.0.1 as usize]))
        });
        let versions = versions
            .into_iter()
            .map(|((i, label), (events, ids))| {
                let (product, version) = p.labels[label as usize].clone();
                VersionPeriod {
                    period: periods[i].start.clone(),
                    product,
                    version,
                    installations: ids.len() as u64,
                    events,
                    share: share(ids.len(), active[i].len()),
                    folded: 0,
                }
            })
            .collect();
        Ok(Series {
            over_time: OverTime {
                granularity: g,
                periods,
            },
            versions,
            retention,
            cut_periods: ((from - first) as u64).max(cut_weeks),
        })
    }

    /// Tool calls and their failures (an outcome other than `success`, or none) by period.
    fn tool_calls_by_period(
        &self,
        g: Granularity,
        from: i64,
        periods: &mut [Period],
    ) -> Result<()> {
        let sql = format!(
            "SELECT {period}, TOTAL(events), TOTAL(events) FILTER (WHERE outcome = 'success')
             FROM {source} GROUP BY 1",
            period = period_sql(g),
            source = self.source(&["tool_call"])
        );
        self.db.each(&sql, &self.args(&[]), |r| {
            let Some(period) = slot(periods, from, r.int(0)?) else {
                return Ok(());
            };
            let calls = r.sum(1)?;
            let succeeded = r.sum(2)?;
            period.tool_calls = calls;
            period.tool_failures = calls.saturating_sub(succeeded);
            period.tool_failure_rate =
                (calls > 0).then(|| period.tool_failures as f64 / calls as f64);
            Ok(())
        })
    }

    /// Token use and cost by period and model: the same events as the models section (the
    /// [`Query::token_use`] rule), most costly first.
    fn models_by_period(&self, g: Granularity, from: i64, periods: &mut [Period]) -> Result<()> {
        let sql = format!(
            "SELECT {period}, {MODEL_COLUMNS} FROM {token_use} GROUP BY 1, 2",
            period = period_sql(g),
            token_use = self.token_use()
        );
        self.db.each(&sql, &self.args(&[]), |r| {
            let Some(period) = slot(periods, from, r.int(0)?) else {
                return Ok(());
            };
            period.models.push(model_at(r, 1)?);
            Ok(())
        })?;
        for period in periods {
            period.models.sort_by(|a, b| {
                let cost = |m: &Model| m.cost_usd + m.estimated_cost_usd;
                cost(b).total_cmp(&cost(a)).then(a.model.cmp(&b.model))
            });
        }
        Ok(())
    }

    /// New and returning installations by week, and the cohorts; and how many weeks before
    /// the latest [`MAX_PERIODS`] it left out.
    fn retention(&self, p: &Population) -> Result<(Retention, u64)> {
        // Each installation's active weeks, by its number.
        let mut weeks_of: Vec<BTreeSet<i64>> = vec![BTreeSet::new(); p.ids.len()];
        for d in &p.days {
            let week = week_of(d.day);
            for id in &d.installations {
                if let Some(weeks) = weeks_of.get_mut(*id as usize) {
                    weeks.insert(week);
                }
            }
        }
        let mut first_week: Vec<Option<i64>> =
            weeks_of.iter().map(|w| w.first().copied()).collect();
        for (id, ms) in self.first_seen()? {
            if let Some(first) = p.ids.get(&id).and_then(|n| first_week.get_mut(*n as usize)) {
                let week = week_of(clamp(ms).div_euclid(DAY_MS));
                *first = Some(first.map_or(week, |f| f.min(week)));
            }
        }
        let Some((first, last)) = bounds(weeks_of.iter().flatten().copied()) else {
            return Ok((Retention::default(), 0));
        };
        let from = shown_from(first, last);
        let mut weeks: Vec<WeekSplit> = (from..=last)
            .map(|w| WeekSplit {
                week: date(first_day(Granularity::Week, w)),
                ..WeekSplit::default()
            })
            .collect();
        let mut cohorts: BTreeMap<i64, (u64, Vec<u64>)> = BTreeMap::new();
        for (active, first_seen) in weeks_of.iter().zip(&first_week) {
            let Some(first_seen) = *first_seen else {
                continue;
            };
            for &w in active.range(from..) {
                let split = &mut weeks[(w - from) as usize];
                if w == first_seen {
                    split.new += 1;
                } else {
                    split.returning += 1;
                }
            }
            if first_seen < from {
                continue;
            }
            let columns = COHORT_WEEKS.min((last - first_seen).max(0) as usize);
            let cohort = cohorts
                .entry(first_seen)
                .or_insert_with(|| (0, vec![0; columns]));
            cohort.0 += 1;
            for &w in active.range(first_seen + 1..first_seen + 1 + columns as i64) {
                cohort.1[(w - first_seen - 1) as usize] += 1;
            }
        }
        let cohorts = cohorts
            .into_iter()
            .map(|(w, (installations, active))| Cohort {
                week: date(first_day(Granularity::Week, w)),
                installations,
                active,
            })
            .collect();
        Ok((Retention { weeks, cohorts }, (from - first) as u64))
    }

    /// Each installation's first event before the range (or, with a version or kinds
    /// filtered, before its end, since the range's own events then do not show every
    /// installation's first one), of the product filtered, if any: the version and the kinds
    /// do not make an installation new. A row an installation, grouped in SQL; ephemeral ids
    /// come back too (filtering them in SQL costs more than the rows), and the caller, which
    /// looks up only the installations active in the range, never finds them.
    ///
    /// Read from the `first_seen` table (each installation's first event of each product,
    /// kept as events are stored): a row an installation and product, not every earlier event.
    fn first_seen(&self) -> Result<Vec<(String, i64)>> {
        let bound = if self.filter.version.is_none() && self.filter.kinds.is_empty() {
            self.since
        } else {
            self.until
        };
        if bound == i64::MIN {
            return Ok(Vec::new());
        }
        let mut sql =
            "SELECT installation, MIN(first_ms) FROM first_seen WHERE first_ms < ?1".to_string();
        let mut args = vec![Arg::Int(bound)];
        if let Some(product) = &self.filter.product {
            sql += " AND product = ?2";
            args.push(Arg::Text(product.clone()));
        }
        sql += " GROUP BY installation";
        self.db
            .rows(&sql, &args, |r| Ok((r.text(0)?.to_string(), r.int(1)?)))
    }
}

/// The period numbered `n` of those from `from`, if it is one of them.
fn slot(periods: &mut [Period], from: i64, n: i64) -> Option<&mut Period> {
    let i = usize::try_from(n.checked_sub(from)?).ok()?;
    periods.get_mut(i)
}

/// Puts one period's models in the order of `rank` (the models section's, by name) and keeps
/// those among its `top`, with one `other (K names)` row for the K others of the period.
pub(super) fn fold_models(models: &mut Vec<Model>, rank: &HashMap<&str, usize>, top: usize) {
    let place = |m: &Model| rank.get(m.model.as_str()).copied().unwrap_or(usize::MAX);
    let (mut kept, rest): (Vec<Model>, Vec<Model>) = models.drain(..).partition(|m| place(m) < top);
    kept.sort_by_key(place);
    if !rest.is_empty() {
        kept.push(Model::other(&rest));
    }
    *models = kept;
}

/// Keeps each period's rows of the `top` versions with most events in the whole range, and
/// sums the period's other versions in one `other (K names)` row; returns how many versions it
/// folded in all. (A period's installations in that row may count one installation twice if
/// it ran two of the folded versions in it.)
pub(super) fn fold_versions(rows: &mut Vec<VersionPeriod>, top: usize) -> u64 {
    let mut totals: HashMap<(&str, &str), u64> = HashMap::new();
    for v in rows.iter() {
        *totals.entry((&v.product, &v.version)).or_default() += v.events;
    }
    let folded = totals.len().saturating_sub(top) as u64;
    if folded == 0 {
        return 0;
    }
    let mut ranked: Vec<_> = totals.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let kept: HashSet<(String, String)> = ranked
        .into_iter()
        .take(top)
        .map(|((p, v), _)| (p.to_string(), v.to_string()))
        .collect();
    let mut out: Vec<VersionPeriod> = Vec::new();
    let mut other: Option<VersionPeriod> = None;
    let finish = |out: &mut Vec<VersionPeriod>, other: &mut Option<VersionPeriod>| {
        if let Some(mut o) = other.take() {
            o.version = other_name(o.folded);
            out.push(o);
        }
    };
    for v in rows.drain(..) {
        if other.as_ref().is_some_and(|o| o.period != v.period) {
            finish(&mut out, &mut other);
        }
        if kept.contains(&(v.product.clone(), v.version.clone())) {
            out.push(v);
        } else {
            let o = other.get_or_insert_with(|| VersionPeriod {
                period: v.period.clone(),
                ..VersionPeriod::default()
            });
            o.installations += v.installations;
            o.events += v.events;
            o.share += v.share;
            o.folded += 1;
        }
    }
    finish(&mut out, &mut other);
    *rows = out;
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventStore;
    use crate::ingest::Fact;
    use crate::report::{Range, Report};

    /// Monday 2026-01-05, 00:00 UTC: week 0 of the scenario.
    const MONDAY: i64 = 1_767_571_200_000;
    const WEEK: i64 = 7 * DAY_MS;

    /// Installations and the weeks (from [`MONDAY`]) each was active in. `old` was first seen
    /// ten weeks before and is back in week 2; `ephemeral_x` is a run, not an installation.
    const ACTIVE: [(&str, &[i64]); 7] = [
        ("a", &[0, 1, 2, 3, 4]),
        ("b", &[0, 2]),
        ("c", &[1, 2]),
        ("d", &[1]),
        ("e", &[3, 4]),
        ("old", &[-10, 2]),
        ("ephemeral_x", &[0, 1]),
    ];

    /// Each installation's weeks: a tool call each week (b's and d's fail), on a day of the
    /// week of its own; `a` also uses `m-big` each week (100 input tokens a week more, $1
    /// reported) and `c` `m-small` (7 in, 3 out, $0.25); `a` runs 2.0 in week 4, all else 1.0.
    fn scenario() -> EventStore {
        let mut facts = Vec::new();
        for (n, (id, weeks)) in ACTIVE.iter().enumerate() {
            for &w in *weeks {
                let at = MONDAY + w * WEEK + n as i64 * DAY_MS % WEEK + 3_600_000;
                let base = Fact {
                    occurred_ms: at,
                    installation: id.to_string(),
                    product: "agent".into(),
                    version: if *id == "a" && w == 4 { "2.0" } else { "1.0" }.into(),
                    body: "{}".into(),
                    ..Fact::default()
                };
                let failed = matches!(*id, "b" | "d");
                facts.push(Fact {
                    id: format!("{id}-{w}-tool"),
                    kind: "tool_call",
                    subject: Some("read".into()),
                    outcome: Some(if failed { "failure" } else { "success" }.into()),
                    ..base.clone()
                });
                let tokens = match *id {
                    "a" => Some(("m-big", 100 * (w + 1), 10, 1.0)),
                    "c" => Some(("m-small", 7, 3, 0.25)),
                    _ => None,
                };
                if let Some((model, input, output, cost)) = tokens {
                    facts.push(Fact {
                        id: format!("{id}-{w}-tokens"),
                        kind: "token_usage",
                        subject: Some(model.into()),
                        input_tokens: Some(input),
                        output_tokens: Some(output),
                        cost_usd: Some(cost),
                        ..base
                    });
                }
            }
        }
        EventStore::holding(facts)
    }

    /// The five weeks from [`MONDAY`].
    fn five_weeks() -> Range {
        Range {
            since: Some(MONDAY),
            until: Some(MONDAY + 5 * WEEK),
        }
    }

    fn splits(r: &Report) -> Vec<(String, u64, u64)> {
        r.retention
            .weeks
            .iter()
            .map(|w| (w.week.clone(), w.new, w.returning))
            .collect()
    }

    #[test]
    fn new_returning_and_cohorts_by_week_count_first_seen_in_the_whole_store() {
        let r = Report::build(&scenario(), five_weeks()).unwrap();
        let week = |w: i64| date((MONDAY + w * WEEK) / DAY_MS);
        assert_eq!(week(0), "2026-01-05");
        // `old` is returning in week 2: first seen ten weeks before the range.
        assert_eq!(
            splits(&r),
            [
                (week(0), 2, 0),
                (week(1), 2, 1),
                (week(2), 0, 4),
                (week(3), 1, 1),
                (week(4), 0, 2),
            ]
        );
        let cohorts: Vec<(String, u64, Vec<u64>)> = r
            .retention
            .cohorts
            .iter()
            .map(|c| (c.week.clone(), c.installations, c.active.clone()))
            .collect();
        assert_eq!(
            cohorts,
            [
                (week(0), 2, vec![1, 2, 1, 1]),
                (week(1), 2, vec![1, 0, 0]),
                (week(3), 1, vec![1]),
            ]
        );
        // Five weeks are 35 days: by day, every day from the first event to the last.
        assert_eq!(r.over_time.granularity, Granularity::Day);
        assert_eq!(r.over_time.periods.first().unwrap().start, "2026-01-05");
        let days = r.over_time.periods.len();
        let last = &r.over_time.periods[days - 1].start;
        assert!(days > 28 && days <= 35, "{days} days, to {last}");
        let active: u64 = r.over_time.periods.iter().map(|p| p.events).sum();
        assert_eq!(active, r.events);

        // The whole store, 15 weeks: longer than 62 days, so by week.
        let all = Report::build(&scenario(), Range::default()).unwrap();
        assert_eq!(all.over_time.granularity, Granularity::Week);
        assert_eq!(all.over_time.periods.len(), 15);
        // Now `old` is new in its first week, and a cohort of one that came back in week
        // +12 (week 2 of the scenario), the last column kept.
        assert_eq!(
            all.retention.weeks[0],
            WeekSplit {
                week: week(-10),
                new: 1,
                returning: 0
            }
        );
        assert_eq!(all.retention.cohorts[0].week, week(-10));
        let old = &all.retention.cohorts[0].active;
        assert_eq!(old.len(), COHORT_WEEKS);
        assert_eq!(old.iter().sum::<u64>(), 1);
        assert_eq!(old[11], 1);
    }

    #[test]
    fn the_series_by_week_counts_installations_tool_failures_and_tokens_by_model() {
        let r = Report::build(&scenario(), Range::default()).unwrap();
        // Weeks -10 to 4: week 0 is the eleventh.
        let weeks = &r.over_time.periods[10..];
        let row = |p: &Period| (p.installations, p.events, p.tool_calls, p.tool_failures);
        // Week 0: a (2 events), b (1, failed), the run x (1: an event, not an installation).
        assert_eq!(
            weeks.iter().map(row).collect::<Vec<_>>(),
            [
                (2, 4, 3, 1),
                (3, 6, 4, 1),
                (4, 6, 4, 1),
                (2, 3, 2, 0),
                (2, 3, 2, 0)
            ]
        );
        assert_eq!(weeks[0].tool_failure_rate, Some(1.0 / 3.0));
        assert_eq!(weeks[3].tool_failure_rate, Some(0.0));
        // The empty weeks between are there, with nothing in them.
        let empty = &r.over_time.periods[1];
        assert_eq!((empty.events, empty.tool_failure_rate), (0, None));
        assert!(empty.models.is_empty());

        let models = |p: &Period| {
            p.models
                .iter()
                .map(|m| {
                    (
                        m.model.clone(),
                        m.events,
                        m.input_tokens,
                        m.output_tokens,
                        m.cost_usd,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(models(&weeks[0]), [("m-big".to_string(), 1, 100, 10, 1.0)]);
        assert_eq!(
            models(&weeks[1]),
            [
                ("m-big".to_string(), 1, 200, 10, 1.0),
                ("m-small".to_string(), 1, 7, 3, 0.25)
            ]
        );
        assert_eq!(weeks[2].token_totals(), (307, 13, 1.25));

        // Top 1: m-big (the costlier in all) by name, m-small in the other row.
        let top1 = Report::build_top(&scenario(), Range::default(), 1).unwrap();
        let w1 = &top1.over_time.periods[11];
        assert_eq!(
            models(w1),
            [
                ("m-big".to_string(), 1, 200, 10, 1.0),
                ("other (1 name)".to_string(), 1, 7, 3, 0.25)
            ]
        );
        assert_eq!(w1.models[1].folded, 1);
        // What the page and the text show of it.
        assert!(text_has_row(
            &top1,
            &["2026-01-12", "other (1 name)", "7", "3"]
        ));
    }

    #[test]
    fn versions_by_period_carry_their_share_of_the_active_installations() {
        let r = Report::build(&scenario(), Range::default()).unwrap();
        let last = r.over_time.periods.last().unwrap().start.clone();
        let shares: Vec<(&str, u64, f64)> = r
            .versions
            .iter()
            .filter(|v| v.period == last)
            .map(|v| (v.version.as_str(), v.installations, v.share))
            .collect();
        assert_eq!(shares, [("1.0", 1, 0.5), ("2.0", 1, 0.5)]);
        // Top 1 of the versions: 1.0, and 2.0 folded into week 4's other row.
        let top1 = Report::build_top(&scenario(), Range::default(), 1).unwrap();
        assert_eq!(top1.more.versions, 1);
        let other = top1.versions.last().unwrap();
        assert_eq!(
            (
                other.period.as_str(),
                other.version.as_str(),
                other.share,
                other.folded
            ),
            (last.as_str(), "other (1 name)", 0.5, 1)
        );
    }

    #[test]
    fn the_filters_apply_to_the_series_and_first_seen_ignores_the_version() {
        let store = scenario();
        let filter = crate::report::Filter {
            version: Some("2.0".into()),
            ..Default::default()
        };
        let r = Report::build_filtered(&store, Range::default(), filter, 15).unwrap();
        // Only a's two events of week 4; a was first seen in week 0, so it returns.
        assert_eq!(r.events, 2);
        assert_eq!(r.over_time.periods.len(), 1);
        assert_eq!(r.over_time.periods[0].tool_calls, 1);
        assert_eq!(splits(&r), [("2026-02-02".to_string(), 0, 1)]);
        assert!(r.retention.cohorts.is_empty());
        let kinds = crate::report::Filter {
            kinds: vec!["token_usage".into()],
            ..Default::default()
        };
        let r = Report::build_filtered(&store, five_weeks(), kinds, 15).unwrap();
        assert!(r.over_time.periods.iter().all(|p| p.tool_calls == 0));
        let tokens: i64 = r.over_time.periods.iter().map(|p| p.token_totals().0).sum();
        assert_eq!(tokens, 100 + 200 + 300 + 400 + 500 + 7 + 7);
    }

    #[test]
    fn daily_up_to_62_days_then_weekly() {
        let day = |n: i64| Some(MONDAY + n * DAY_MS);
        let range = |since, until| Range { since, until };
        let g = Granularity::for_range;
        assert_eq!(g(range(day(0), day(62)), None, None), Granularity::Day);
        assert_eq!(g(range(day(0), day(63)), None, None), Granularity::Week);
        // Without bounds, the first and the last event stand for them.
        assert_eq!(g(Range::default(), day(0), day(61)), Granularity::Day);
        assert_eq!(g(Range::default(), day(0), day(62)), Granularity::Week);
        assert_eq!(g(range(day(0), None), None, day(70)), Granularity::Week);
        assert_eq!(g(Range::default(), None, None), Granularity::Day);
    }

    #[test]
    fn the_json_and_the_text_carry_the_struct_s_numbers() {
        let r = Report::build(&scenario(), Range::default()).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(json["over_time"]["granularity"], "week");
        let periods = json["over_time"]["periods"].as_array().unwrap();
        assert_eq!(periods.len(), r.over_time.periods.len());
        for (p, j) in r.over_time.periods.iter().zip(periods) {
            assert_eq!(j["start"], p.start.as_str());
            assert_eq!(j["installations"], p.installations);
            assert_eq!(j["events"], p.events);
            assert_eq!(j["tool_calls"], p.tool_calls);
            assert_eq!(j["tool_failures"], p.tool_failures);
            assert_eq!(j["tool_failure_rate"].as_f64(), p.tool_failure_rate);
            assert_eq!(j["models"].as_array().unwrap().len(), p.models.len());
        }
        for (c, j) in r
            .retention
            .cohorts
            .iter()
            .zip(json["retention"]["cohorts"].as_array().unwrap())
        {
            assert_eq!(j["week"], c.week.as_str());
            assert_eq!(j["installations"], c.installations);
            assert_eq!(j["active"], serde_json::json!(c.active));
        }
        assert_eq!(
            json["retention"]["weeks"].as_array().unwrap().len(),
            r.retention.weeks.len()
        );
        assert_eq!(json["versions"][0]["share"], r.versions[0].share);

        // The text: week 0's row of the series, and its cohort's row.
        let w0 = &r.over_time.periods[10];
        assert!(text_has_row(
            &r,
            &["2026-01-05", "2", "4", "3", "33.3%", "100", "10", "$1.0000"]
        ));
        assert_eq!((w0.installations, w0.events), (2, 4));
        assert!(text_has_row(
            &r,
            &["2026-01-05", "2", "1 (50%)", "2 (100%)", "1 (50%)"]
        ));
        let page = crate::report::html::render(&r);
        assert!(page.contains("2 (100%)"), "{page}");
    }

    /// Whether a line of the text report holds `cells` in turn, each a cell of its own.
    fn text_has_row(r: &Report, cells: &[&str]) -> bool {
        let text = crate::report::text::render(r);
        text.lines().any(|line| {
            let row: Vec<&str> = line.split(['│', '┆']).map(str::trim).collect();
            let mut at = 0;
            cells
                .iter()
                .all(|cell| match row[at..].iter().position(|c| c == cell) {
                    Some(i) => {
                        at += i + 1;
                        true
                    }
                    None => false,
                })
        })
    }
}
