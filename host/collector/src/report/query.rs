//! The report's SQL: one query per section, each over one kind and the time range (the
//! `events_by_kind` index), aggregated in SQLite where it can and percentiles in Rust.

mod over_time;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use super::db::{Arg, Db};
use super::other::fold;
use super::{
    Cost, Count, CountRow, Counts, DEFAULT_TOP, Filter, Granularity, Model, More, Range, Rate,
    Report, Sessions, Tool,
};
use crate::EventStore;
use crate::ingest::{LAST_MS, MAX_TEXT};
use agent_telemetry_contract::ids::EPHEMERAL_PREFIX;

impl Report {
    /// The report of what `store` holds in `range`, [`DEFAULT_TOP`] rows a section.
    pub fn build(store: &EventStore, range: Range) -> Result<Report> {
        Report::build_top(store, range, DEFAULT_TOP)
    }

    /// The report of what `store` holds in `range`, `top` rows a section (the rest summed in
    /// an `other (K names)` row, and counted in [`Report::more`]).
    pub fn build_top(store: &EventStore, range: Range, top: usize) -> Result<Report> {
        Report::build_filtered(store, range, Filter::default(), top)
    }

    /// The report of what `store` holds in `range` that `filter` lets through, `top` rows a
    /// section and an `other (K names)` row for the rest.
    pub fn build_filtered(
        store: &EventStore,
        range: Range,
        filter: Filter,
        top: usize,
    ) -> Result<Report> {
        for kind in &filter.kinds {
            if crate::ingest::known_kind(kind).is_none() {
                bail!("`{}` is not an event kind", kind.escape_debug());
            }
        }
        let mut r = Report::build_all(store, range, filter)?;
        let top = top.max(1);
        // Each period's models in the models section's order, its top ones by name.
        let rank: HashMap<&str, usize> = r
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.model.as_str(), i))
            .collect();
        for period in &mut r.over_time.periods {
            over_time::fold_models(&mut period.models, &rank, top);
        }
        r.more = More {
            commands: fold(&mut r.commands, top),
            tools: fold(&mut r.tools, top),
            models: fold(&mut r.models, top),
            outcomes: fold(&mut r.sessions.outcomes, top),
            tasks: fold(&mut r.tasks, top),
            counters: fold(&mut r.counts.counters, top),
            versions: over_time::fold_versions(&mut r.versions, top),
            periods: r.more.periods,
        };
        Ok(r)
    }

    fn build_all(store: &EventStore, range: Range, filter: Filter) -> Result<Report> {
        store.read(|db| Report::read(&db, range, filter))
    }

    fn read(db: &Db<'_>, range: Range, filter: Filter) -> Result<Report> {
        let q = Query {
            db,
            since: range.since.unwrap_or(i64::MIN),
            until: range.until.unwrap_or(i64::MAX),
            filter: &filter,
        };
        let population = q.population()?;
        let models = q.models()?;
        let cost = q.cost(&models)?;
        let granularity = Granularity::for_range(range, population.first, population.last);
        let series = q.series(&population, granularity)?;
        Ok(Report {
            range,
            filter: filter.clone(),
            events: population.events,
            installations: population.installations,
            container_runs: population.container_runs,
            ci_runs: population.ci_runs,
            first: population.first.map(rfc3339),
            last: population.last.map(rfc3339),
            commands: q.commands()?,
            tools: q.tools()?,
            models,
            cost,
            sessions: q.sessions()?,
            tasks: q.counts("task")?,
            over_time: series.over_time,
            versions: series.versions,
            retention: series.retention,
            counts: q.counts_uploads()?,
            more: More {
                periods: series.cut_periods,
                ..More::default()
            },
            deletions: q.deletions()?,
        })
    }
}

impl Query<'_, '_> {
    /// Deletion requests carried out, ever.
    fn deletions(&self) -> Result<u64> {
        self.db.one(
            "SELECT COUNT(DISTINCT installation_sha256) FROM deletions",
            &[],
            |r| r.count(0),
        )
    }
}

struct Query<'a, 'db> {
    db: &'a Db<'db>,
    since: i64,
    until: i64,
    filter: &'a Filter,
}

/// Rows of the range: `?1` and `?2` are its bounds.
const IN_RANGE: &str = "occurred_ms >= ?1 AND occurred_ms < ?2";

/// The median and 95th percentile of `duration_ms`, by nearest rank as [`percentile`] takes
/// them (`percentile_disc`: the first value whose rank reaches the fraction), in PostgreSQL.
const PERCENTILES: &str = "percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms),
    percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms)";

/// A model's token use and cost, grouped by its name ([`model_at`] reads them).
const MODEL_COLUMNS: &str = "COALESCE(subject, 'unknown'), COUNT(*), TOTAL(input_tokens),
    TOTAL(output_tokens), TOTAL(cost_usd), TOTAL(estimated_cost_usd),
    COUNT(*) FILTER (WHERE cost_usd IS NULL AND estimated_cost_usd IS NULL)";

/// The [`MODEL_COLUMNS`] of `r` from its column `first` on.
fn model_at(r: &super::db::Row<'_>, first: usize) -> Result<Model> {
    Ok(Model {
        model: clip(r.text(first)?.to_string()),
        events: r.count(first + 1)?,
        // TOTAL is a float: a sum past i64::MAX saturates rather than failing.
        input_tokens: r.float(first + 2)? as i64,
        output_tokens: r.float(first + 3)? as i64,
        cost_usd: r.float(first + 4)?,
        estimated_cost_usd: r.float(first + 5)?,
        unpriced_events: r.count(first + 6)?,
        folded: 0,
    })
}

/// The columns of [`Query::token_use`]'s rows.
const TOKEN_COLUMNS: &str =
    "occurred_ms, subject, input_tokens, output_tokens, cost_usd, estimated_cost_usd, prices";

impl Query<'_, '_> {
    /// The rows of the range and the filter: `?1` and `?2` are the range's bounds, the
    /// filter's values follow (see [`args`](Self::args)). Only the filters given are in it,
    /// so an unfiltered report reads from the covering indexes as before.
    fn range(&self) -> String {
        let mut clause = IN_RANGE.to_string();
        let mut n = 2;
        let mut next = || {
            n += 1;
            n
        };
        if self.filter.product.is_some() {
            clause += &format!(" AND product = ?{}", next());
        }
        if self.filter.version.is_some() {
            clause += &format!(" AND version = ?{}", next());
        }
        if !self.filter.kinds.is_empty() {
            let list: Vec<String> = self
                .filter
                .kinds
                .iter()
                .map(|_| format!("?{}", next()))
                .collect();
            clause += &format!(" AND kind IN ({})", list.join(", "));
        }
        clause
    }

    /// The token-use rows of the range and filter, as a table `e` (of [`TOKEN_COLUMNS`]):
    /// per-call token use; a session's cost event counts only for a session with no token-use
    /// events (Agent Swarm sends only the former), so nothing is counted twice. Two scans, one
    /// a kind, each read from the sections' index alone (an `OR` of the kinds would read the
    /// table's rows).
    fn token_use(&self) -> String {
        let range = self.range();
        format!(
            "(SELECT {TOKEN_COLUMNS} FROM events WHERE kind = 'token_usage' AND {range}
              UNION ALL
              SELECT {TOKEN_COLUMNS} FROM events s WHERE kind = 'session_cost' AND {range}
                  AND NOT EXISTS (SELECT 1 FROM events t
                                  WHERE t.session = s.session AND t.kind = 'token_usage')) e"
        )
    }

    /// The uploads whose day is in the range, of the product and version filtered (the same
    /// placeholders as [`range`](Self::range), without the kinds).
    fn uploads_in_range(&self) -> String {
        let mut clause = "period_ms >= ?1 AND period_ms < ?2".to_string();
        let mut n = 2;
        if self.filter.product.is_some() {
            n += 1;
            clause += &format!(" AND product = ?{n}");
        }
        if self.filter.version.is_some() {
            n += 1;
            clause += &format!(" AND version = ?{n}");
        }
        clause
    }

    fn upload_args(&self) -> Vec<Arg> {
        let mut args = self.args(&[]);
        args.truncate(args.len() - self.filter.kinds.len());
        args
    }

    /// The counters' kinds filtered, after [`uploads_in_range`](Self::uploads_in_range)'s
    /// placeholders.
    fn counter_kinds(&self) -> String {
        if self.filter.kinds.is_empty() {
            return String::new();
        }
        let first = self.upload_args().len() + 1;
        let list: Vec<String> = (first..first + self.filter.kinds.len())
            .map(|n| format!("?{n}"))
            .collect();
        format!(" AND kind IN ({})", list.join(", "))
    }

    /// The values of [`range`](Self::range)'s placeholders, then `extra`.
    fn args(&self, extra: &[&str]) -> Vec<Arg> {
        let text = |s: &str| Arg::Text(s.to_string());
        [Arg::Int(self.since), Arg::Int(self.until)]
            .into_iter()
            .chain(self.filter.product.as_deref().map(text))
            .chain(self.filter.version.as_deref().map(text))
            .chain(self.filter.kinds.iter().map(|k| text(k)))
            .chain(extra.iter().map(|e| text(e)))
            .collect()
    }

    /// Events, installations and versions in the range, in one pass over the time index
    /// (SQLite's `COUNT(DISTINCT)` by day and version would sort a million rows twice): the
    /// installations of each day and version, which the over-time sections group by period.
    fn population(&self) -> Result<Population> {
        // A row a day, installation and version: its first and last time, whether CI, and
        // its events. SQLite returns each event as such a row of one.
        let sql = if self.db.groups() {
            format!(
                "SELECT MIN(occurred_ms), MAX(occurred_ms), installation, product, version,
                     MAX(ci), COUNT(*) FROM events WHERE {in_range}
                 GROUP BY {ms} / {DAY_MS}, installation, product, version",
                ms = over_time::clamped_ms(),
                in_range = self.range()
            )
        } else {
            format!(
                "SELECT occurred_ms, occurred_ms, installation, product, version, ci, 1
                 FROM events WHERE {in_range}",
                in_range = self.range()
            )
        };
        let mut installations: HashMap<String, u32> = HashMap::new();
        // Ephemeral ids: one a run (a container start, a CI job), never an installation.
        let mut runs: HashMap<String, bool> = HashMap::new();
        // Product, then version, to a number: looked up by borrowed names, made once each.
        let mut versions: HashMap<String, HashMap<String, u32>> = HashMap::new();
        let mut labels: Vec<(String, String)> = Vec::new();
        let mut days: HashMap<(i64, u32), (u64, HashSet<u32>)> = HashMap::new();
        let mut p = Population::default();
        self.db.each(&sql, &self.args(&[]), |r| {
            let (ms, last) = (clamp(r.int(0)?), clamp(r.int(1)?));
            let events = r.count(6)?;
            let id = r.text(2)?;
            let installation = if id.starts_with(EPHEMERAL_PREFIX) {
                if !runs.contains_key(id) {
                    runs.insert(id.to_string(), r.int(5)? != 0);
                }
                None
            } else {
                Some(intern(&mut installations, id))
            };
            let (product, version) = (r.text(3)?, r.text(4)?);
            let label = match versions.get(product).and_then(|v| v.get(version)) {
                Some(label) => *label,
                None => {
                    let label = labels.len() as u32;
                    labels.push((product.to_string(), version.to_string()));
                    versions
                        .entry(product.to_string())
                        .or_default()
                        .insert(version.to_string(), label);
                    label
                }
            };
            let day = days.entry((ms.div_euclid(DAY_MS), label)).or_default();
            day.0 += events;
            day.1.extend(installation);
            p.events += events;
            p.first = Some(p.first.map_or(ms, |f| f.min(ms)));
            p.last = Some(p.last.map_or(last, |l| l.max(last)));
            Ok(())
        })?;
        p.installations = installations.len() as u64;
        p.ci_runs = runs.values().filter(|ci| **ci).count() as u64;
        p.container_runs = runs.len() as u64 - p.ci_runs;
        p.ids = installations;
        p.labels = labels
            .into_iter()
            .map(|(product, version)| (clip(product), clip(version)))
            .collect();
        p.days = days
            .into_iter()
            .map(|((day, label), (events, installations))| Day {
                day,
                label,
                events,
                installations,
            })
            .collect();
        Ok(p)
    }

    /// Counts-only uploads of the days in the range, and their counters summed.
    fn counts_uploads(&self) -> Result<Counts> {
        let in_range = self.uploads_in_range();
        let (uploads, installations, events) = self.db.one(
            &format!(
                "SELECT COUNT(*), COUNT(DISTINCT CASE WHEN substr(installation, 1, {n}) <> '{EPHEMERAL_PREFIX}'
                     THEN installation END), TOTAL(events)
                 FROM uploads WHERE {in_range}",
                n = EPHEMERAL_PREFIX.len()
            ),
            &self.upload_args(),
            |r| Ok((r.count(0)?, r.count(1)?, r.float(2)?)),
        )?;
        let counters = self.db.rows(&format!(
            "SELECT kind, subject, outcome, TOTAL(count), TOTAL(input_tokens), TOTAL(output_tokens),
                 TOTAL(cost_usd), TOTAL(duration_ms)
             FROM counters WHERE upload_id IN (SELECT upload_id FROM uploads WHERE {in_range}){kinds}
             GROUP BY kind, subject, outcome ORDER BY 4 DESC, 1, 2 NULLS FIRST, 3 NULLS FIRST",
            kinds = self.counter_kinds(),
        ), &self.args(&[]), |r| {
                Ok(CountRow {
                    folded: 0,
                    kind: clip(r.text(0)?.to_string()),
                    subject: r.opt_text(1)?.map(|s| clip(s.to_string())),
                    outcome: r.opt_text(2)?.map(|s| clip(s.to_string())),
                    count: r.float(3)? as u64,
                    input_tokens: r.float(4)? as u64,
                    output_tokens: r.float(5)? as u64,
                    cost_usd: r.float(6)?,
                    duration_ms: r.float(7)? as u64,
                })
            })?;
        Ok(Counts {
            uploads,
            installations,
            events: events as u64,
            counters,
        })
    }

    fn commands(&self) -> Result<Vec<Rate>> {
        self.db.rows(
            &format!(
            "SELECT COALESCE(subject, '?'), COUNT(*), COUNT(*) FILTER (WHERE outcome = 'success')
             FROM events WHERE kind = 'command' AND {in_range} GROUP BY 1 ORDER BY 2 DESC, 1",
             in_range = self.range()
        ),
            &self.args(&[]),
            |r| {
                Ok(Rate::new(
                    clip(r.text(0)?.to_string()),
                    r.count(1)?,
                    r.count(2)?,
                ))
            },
        )
    }

    fn tools(&self) -> Result<Vec<Tool>> {
        let mut tools = if self.db.groups() {
            self.db.rows(
                &format!(
                    "SELECT COALESCE(subject, '?'), COUNT(*),
                         COUNT(*) FILTER (WHERE outcome = 'success'), {percentiles}
                     FROM events WHERE kind = 'tool_call' AND {in_range} GROUP BY 1",
                    percentiles = PERCENTILES,
                    in_range = self.range()
                ),
                &self.args(&[]),
                |r| {
                    Ok(Tool {
                        rate: Rate::new(clip(r.text(0)?.to_string()), r.count(1)?, r.count(2)?),
                        p50_ms: r.opt_int(3)?,
                        p95_ms: r.opt_int(4)?,
                    })
                },
            )?
        } else {
            self.tools_in_rust()?
        };
        tools.sort_by(|a, b| {
            b.rate
                .count
                .cmp(&a.rate.count)
                .then(a.rate.name.cmp(&b.rate.name))
        });
        Ok(tools)
    }

    /// [`tools`](Self::tools) from every tool call's row.
    fn tools_in_rust(&self) -> Result<Vec<Tool>> {
        let sql = format!(
            "SELECT COALESCE(subject, '?'), outcome, duration_ms FROM events
             WHERE kind = 'tool_call' AND {in_range}",
            in_range = self.range()
        );
        let mut by_tool: HashMap<String, (u64, u64, Vec<i64>)> = HashMap::new();
        self.db.each(&sql, &self.args(&[]), |r| {
            // Borrowed first: most rows are of a tool already seen, and need no new String.
            let name = r.text(0)?;
            let ok = r.opt_text(1)? == Some("success");
            let entry = match by_tool.get_mut(name) {
                Some(entry) => entry,
                None => by_tool.entry(name.to_string()).or_default(),
            };
            entry.0 += 1;
            entry.1 += u64::from(ok);
            if let Some(ms) = r.opt_int(2)? {
                entry.2.push(ms);
            }
            Ok(())
        })?;
        Ok(by_tool
            .into_iter()
            .map(|(name, (count, succeeded, mut durations))| Tool {
                rate: Rate::new(clip(name), count, succeeded),
                p50_ms: percentile(&mut durations, 50),
                p95_ms: percentile(&mut durations, 95),
            })
            .collect())
    }

    fn models(&self) -> Result<Vec<Model>> {
        self.db.rows(
            &format!(
                "SELECT {MODEL_COLUMNS} FROM {token_use}
             GROUP BY 1 ORDER BY TOTAL(cost_usd) + TOTAL(estimated_cost_usd) DESC, 1",
                token_use = self.token_use()
            ),
            &self.args(&[]),
            |r| model_at(r, 0),
        )
    }

    /// Every model's cost in all, and the price tables the estimates came from.
    fn cost(&self, models: &[Model]) -> Result<Cost> {
        let prices = self.db.rows(
            &format!(
                "SELECT DISTINCT prices FROM {token_use}
                 WHERE estimated_cost_usd IS NOT NULL ORDER BY 1",
                token_use = self.token_use()
            ),
            &self.args(&[]),
            |r| Ok(clip(r.text(0)?.to_string())),
        )?;
        let unpriced = models.iter().filter(|m| m.unpriced_events > 0);
        // A fold from 0: the float `sum` of nothing is -0, which would show as `$-0.0000`.
        let total = |usd: fn(&Model) -> f64| models.iter().map(usd).fold(0.0, |a, b| a + b);
        Ok(Cost {
            reported_usd: total(|m| m.cost_usd),
            estimated_usd: total(|m| m.estimated_cost_usd),
            unpriced_events: unpriced.clone().map(|m| m.unpriced_events).sum(),
            unpriced_models: unpriced.count() as u64,
            prices,
        })
    }

    fn sessions(&self) -> Result<Sessions> {
        let started = self.db.one(
            &format!(
                "SELECT COUNT(*) FROM events WHERE kind = 'session_start' AND {in_range}",
                in_range = self.range()
            ),
            &self.args(&[]),
            |r| r.count(0),
        )?;
        let mut outcomes: HashMap<String, u64> = HashMap::new();
        let mut cost = 0.0;
        let mut ended = 0u64;
        let (p50_ms, p95_ms) = if self.db.groups() {
            self.db.each(
                &format!(
                    "SELECT COALESCE(outcome, 'unknown'), COUNT(*), TOTAL(cost_usd) FROM events
                     WHERE kind = 'session_end' AND {in_range} GROUP BY 1",
                    in_range = self.range()
                ),
                &self.args(&[]),
                |r| {
                    let n = r.count(1)?;
                    ended += n;
                    *outcomes.entry(r.text(0)?.to_string()).or_default() += n;
                    cost += r.float(2)?;
                    Ok(())
                },
            )?;
            self.db.one(
                &format!(
                    "SELECT {PERCENTILES} FROM events WHERE kind = 'session_end' AND {in_range}",
                    in_range = self.range()
                ),
                &self.args(&[]),
                |r| Ok((r.opt_int(0)?, r.opt_int(1)?)),
            )?
        } else {
            let mut durations = Vec::new();
            self.db.each(
                &format!(
                    "SELECT COALESCE(outcome, 'unknown'), duration_ms, cost_usd FROM events
                     WHERE kind = 'session_end' AND {in_range}",
                    in_range = self.range()
                ),
                &self.args(&[]),
                |r| {
                    ended += 1;
                    *outcomes.entry(r.text(0)?.to_string()).or_default() += 1;
                    if let Some(ms) = r.opt_int(1)? {
                        durations.push(ms);
                    }
                    cost += r.float(2)?;
                    Ok(())
                },
            )?;
            (
                percentile(&mut durations, 50),
                percentile(&mut durations, 95),
            )
        };
        let mut outcomes: Vec<Count> = outcomes
            .into_iter()
            .map(|(name, count)| Count {
                name: clip(name),
                count,
                folded: 0,
            })
            .collect();
        outcomes.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
        Ok(Sessions {
            started,
            ended,
            outcomes,
            p50_ms,
            p95_ms,
            cost_usd: cost,
            mean_cost_usd: (ended > 0).then(|| cost / ended as f64),
        })
    }

    fn counts(&self, kind: &str) -> Result<Vec<Count>> {
        self.db.rows(
            &format!(
                "SELECT COALESCE(subject, '?'), COUNT(*) FROM events
                 WHERE {in_range} AND kind = ?{k} GROUP BY 1 ORDER BY 2 DESC, 1",
                in_range = self.range(),
                k = self.args(&[]).len() + 1
            ),
            &self.args(&[kind]),
            |r| {
                Ok(Count {
                    name: clip(r.text(0)?.to_string()),
                    count: r.count(1)?,
                    folded: 0,
                })
            },
        )
    }
}

const DAY_MS: i64 = 86_400_000;

#[derive(Default)]
struct Population {
    events: u64,
    installations: u64,
    container_runs: u64,
    ci_runs: u64,
    first: Option<i64>,
    last: Option<i64>,
    /// Persistent installation ids, each to its number.
    ids: HashMap<String, u32>,
    /// Product and version, by their number.
    labels: Vec<(String, String)>,
    /// Each day and version's events and installations, in no order.
    days: Vec<Day>,
}

/// One day's events of one product version, and the installations that sent them.
struct Day {
    /// Days since 1970-01-01.
    day: i64,
    /// The product and version's number in [`Population::labels`].
    label: u32,
    events: u64,
    /// Numbers of [`Population::ids`].
    installations: HashSet<u32>,
}

/// `name`'s number in `names`, given it if it is new.
fn intern(names: &mut HashMap<String, u32>, name: &str) -> u32 {
    if let Some(n) = names.get(name) {
        return *n;
    }
    let n = names.len() as u32;
    names.insert(name.to_string(), n);
    n
}

/// The `p`th percentile (nearest rank) of `values`, which it reorders.
fn percentile(values: &mut [i64], p: usize) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let rank = (values.len() * p).div_ceil(100).clamp(1, values.len()) - 1;
    Some(*values.select_nth_unstable(rank).1)
}

/// A stored time within what RFC 3339 can write: the ingest refuses others, but the database
/// may have been written by anything.
fn clamp(ms: i64) -> i64 {
    ms.clamp(0, LAST_MS)
}

fn rfc3339(ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(clamp(ms) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A stored name as the report shows it: at most [`MAX_TEXT`] bytes, cut at a character.
fn clip(mut name: String) -> String {
    if name.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
        name.push('…');
    }
    name
}

/// A `--since`/`--until` value as Unix milliseconds: an RFC 3339 time
/// (`2026-12-01T09:30:00Z`), a day (`2026-12-01`, its midnight UTC), or a span back from now
/// (`7d`, `12h`).
pub fn parse_time(value: &str) -> Result<i64> {
    let value = value.trim();
    let at = if let Ok(span) = humantime::parse_duration(value) {
        SystemTime::now()
            .checked_sub(span)
            .context("the span reaches before 1970")?
    } else if value.len() == 10 {
        humantime::parse_rfc3339(&format!("{value}T00:00:00Z"))
            .with_context(|| format!("`{value}` is not a day (YYYY-MM-DD)"))?
    } else {
        humantime::parse_rfc3339_weak(value).with_context(|| {
            format!("`{value}` is not an RFC 3339 time, a day (YYYY-MM-DD) or a span (7d)")
        })?
    };
    let Ok(since_epoch) = at.duration_since(UNIX_EPOCH) else {
        bail!("`{value}` is before 1970");
    };
    i64::try_from(since_epoch.as_millis()).context("the time is out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut v: Vec<i64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut v, 50), Some(50));
        assert_eq!(percentile(&mut v, 95), Some(95));
        assert_eq!(percentile(&mut [7], 95), Some(7));
        assert_eq!(percentile(&mut [], 50), None);
    }

    #[test]
    fn times_in_three_forms() {
        assert_eq!(parse_time("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_time("1970-01-01T00:00:01Z").unwrap(), 1000);
        let week_ago = parse_time("7d").unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert!((now - week_ago - 7 * 86_400_000).abs() < 60_000);
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("1960-01-01").is_err());
    }
}
