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
        Report::build_with(store, range, filter, top, false)
    }

    /// [`Report::build_filtered`] read from every event in the range rather than the day
    /// tables: what the tests hold the day tables to.
    #[doc(hidden)]
    pub fn build_from_events(
        store: &EventStore,
        range: Range,
        filter: Filter,
        top: usize,
    ) -> Result<Report> {
        Report::build_with(store, range, filter, top, true)
    }

    fn build_with(
        store: &EventStore,
        range: Range,
        filter: Filter,
        top: usize,
        raw: bool,
    ) -> Result<Report> {
        for kind in &filter.kinds {
            if crate::ingest::known_kind(kind).is_none() {
                bail!("`{}` is not an event kind", kind.escape_debug());
            }
        }
        let mut r = store.read(|db| Report::read(&db, range, filter, raw))?;
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

    fn read(db: &Db<'_>, range: Range, filter: Filter, raw: bool) -> Result<Report> {
        let q = Query {
            db,
            since: range.since.unwrap_or(i64::MIN),
            until: range.until.unwrap_or(i64::MAX),
            filter: &filter,
            raw,
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

/// From a first value to before a last: milliseconds, or days.
type Span = (i64, i64);

/// Values, each with how many times it occurred.
type Counted = Vec<(i64, u64)>;

struct Query<'a, 'db> {
    db: &'a Db<'db>,
    since: i64,
    until: i64,
    filter: &'a Filter,
    /// Every section from the events themselves, not the day tables (what the tests compare
    /// the day tables with).
    raw: bool,
}

/// A model's token use and cost, grouped by its name ([`model_at`] reads them), from rows of
/// the day tables' shape.
const MODEL_COLUMNS: &str = "COALESCE(subject, 'unknown'), TOTAL(events), TOTAL(input_tokens),
    TOTAL(output_tokens), TOTAL(cost_usd), TOTAL(estimated_cost_usd), TOTAL(unpriced)";

/// The [`MODEL_COLUMNS`] of `r` from its column `first` on.
fn model_at(r: &super::db::Row<'_>, first: usize) -> Result<Model> {
    Ok(Model {
        model: clip(r.text(first)?.to_string()),
        events: r.sum(first + 1)?,
        // TOTAL is a float: a sum past i64::MAX saturates rather than failing.
        input_tokens: r.float(first + 2)? as i64,
        output_tokens: r.float(first + 3)? as i64,
        cost_usd: r.float(first + 4)?,
        estimated_cost_usd: r.float(first + 5)?,
        unpriced_events: r.sum(first + 6)?,
        folded: 0,
    })
}

/// The columns of [`Query::token_use`]'s rows.
const TOKEN_COLUMNS: &str = "day, subject, events, input_tokens, output_tokens, cost_usd,
    estimated_cost_usd, estimated_events, unpriced, prices";

impl Query<'_, '_> {
    /// `occurred_ms` from `from` to before `to`, a side left out where it is unbounded (so
    /// that no bound is ever a literal past a bigint).
    fn time(from: i64, to: i64) -> String {
        let mut clause = "true".to_string();
        if from != i64::MIN {
            clause += &format!(" AND occurred_ms >= {from}");
        }
        if to != i64::MAX {
            clause += &format!(" AND occurred_ms < {to}");
        }
        clause
    }

    /// The filter's conditions, each ` AND …`, its values the placeholders `?1` on (see
    /// [`args`](Self::args)): the product, the version, then the kinds if `kinds`.
    fn filters(&self, kinds: bool) -> String {
        let mut clause = String::new();
        let mut n = 0;
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
        if kinds && !self.filter.kinds.is_empty() {
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

    /// The events of the range and the filter.
    fn range(&self) -> String {
        Self::time(self.since, self.until) + &self.filters(true)
    }

    /// The values of [`filters`](Self::filters)' placeholders, then `extra`.
    fn args(&self, extra: &[&str]) -> Vec<Arg> {
        let text = |s: &str| Arg::Text(s.to_string());
        self.filter
            .product
            .as_deref()
            .map(text)
            .into_iter()
            .chain(self.filter.version.as_deref().map(text))
            .chain(self.filter.kinds.iter().map(|k| text(k)))
            .chain(extra.iter().map(|e| text(e)))
            .collect()
    }

    /// The range split where the day tables answer: the whole days in it (first, and the
    /// day after the last), and the parts of days at its edges, read from the events. The
    /// tables count a time before 1970 or after 9999 in the first or the last day, so a range
    /// open on that side takes those days whole.
    fn split(&self) -> (Option<Span>, Vec<Span>) {
        let whole = (self.since, self.until);
        if self.raw {
            return (None, vec![whole]);
        }
        let first = if self.since <= 0 {
            0
        } else {
            self.since / DAY_MS + i64::from(self.since % DAY_MS != 0)
        };
        let end = if self.until > LAST_MS {
            LAST_MS / DAY_MS + 1
        } else {
            self.until.div_euclid(DAY_MS)
        };
        if first >= end {
            return (None, vec![whole]);
        }
        let mut edges = Vec::new();
        if self.since > 0 && self.since < first * DAY_MS {
            edges.push((self.since, first * DAY_MS));
        }
        if self.until <= LAST_MS && end * DAY_MS < self.until {
            edges.push((end * DAY_MS, self.until));
        }
        (Some((first, end)), edges)
    }

    /// The events of `kinds` in the range and the filter, as a table `r` of the day tables'
    /// columns ([`daily::EVENT_COLUMNS`]): the `daily_events` rows of the range's whole days,
    /// and the events of the days at its edges, each a row of one.
    fn source(&self, kinds: &[&str]) -> String {
        let kinds: Vec<String> = kinds.iter().map(|k| format!("'{k}'")).collect();
        let kinds = kinds.join(", ");
        let filters = self.filters(true);
        let (days, edges) = self.split();
        let mut parts = Vec::new();
        if let Some((first, end)) = days {
            parts.push(format!(
                "SELECT {columns} FROM daily_events
                 WHERE kind IN ({kinds}) AND day >= {first} AND day < {end}{filters}",
                columns = daily::EVENT_COLUMNS
            ));
        }
        for (from, to) in edges {
            parts.push(daily::raw_events(&format!(
                "events WHERE kind IN ({kinds}) AND {time}{filters}",
                time = Self::time(from, to)
            )));
        }
        format!("({}) r", parts.join(" UNION ALL "))
    }

    /// The token-use rows of the range and filter, as a table `e` (of [`TOKEN_COLUMNS`]):
    /// per-call token use; a session's cost event counts only for a session with no token-use
    /// events (Agent Swarm sends only the former), so nothing is counted twice. The latter
    /// are few, and read from the events whatever the range.
    fn token_use(&self) -> String {
        let costs = daily::raw_events(&format!(
            "events s WHERE kind = 'session_cost' AND {range}
                 AND NOT EXISTS (SELECT 1 FROM events t
                                 WHERE t.session = s.session AND t.kind = 'token_usage')",
            range = self.range()
        ));
        format!(
            "(SELECT {TOKEN_COLUMNS} FROM {usage}
              UNION ALL
              SELECT {TOKEN_COLUMNS} FROM ({costs}) c) e",
            usage = self.source(&["token_usage"])
        )
    }

    /// The uploads whose day is in the range, of the product and version filtered (the same
    /// placeholders as [`filters`](Self::filters), without the kinds).
    fn uploads_in_range(&self) -> String {
        Self::time(self.since, self.until).replace("occurred_ms", "period_ms")
            + &self.filters(false)
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

    /// Events, installations and versions in the range: the installations of each day and
    /// version, which the over-time sections group by period. From `daily_population` for
    /// the range's whole days, and from the events for the rest (and for a report of some
    /// kinds only, which that table does not tell apart).
    fn population(&self) -> Result<Population> {
        // A row a day, installation and version: its first and last time, whether CI, and
        // its events. SQLite returns each event as such a row of one.
        let raw = |range: String| {
            if self.db.groups() {
                format!(
                    "SELECT MIN(occurred_ms), MAX(occurred_ms), installation, product, version,
                         MAX(ci), COUNT(*) FROM events WHERE {range}
                     GROUP BY {day}, installation, product, version",
                    day = daily::day_sql()
                )
            } else {
                format!(
                    "SELECT occurred_ms, occurred_ms, installation, product, version, ci, 1
                     FROM events WHERE {range}"
                )
            }
        };
        let sql = if self.filter.kinds.is_empty() {
            let (days, edges) = self.split();
            let filters = self.filters(false);
            let mut parts: Vec<String> = days
                .map(|(first, end)| {
                    format!(
                        "SELECT first_ms, last_ms, installation, product, version, ci, events
                         FROM daily_population WHERE day >= {first} AND day < {end}{filters}"
                    )
                })
                .into_iter()
                .collect();
            for (from, to) in edges {
                parts.push(raw(Self::time(from, to) + &filters));
            }
            parts.join(" UNION ALL ")
        } else {
            raw(self.range())
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
                let ci = r.int(5)? != 0;
                match runs.get_mut(id) {
                    Some(was) => *was |= ci,
                    None => {
                        runs.insert(id.to_string(), ci);
                    }
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
                "SELECT COALESCE(subject, '?'), TOTAL(events),
                     TOTAL(events) FILTER (WHERE outcome = 'success')
                 FROM {source} GROUP BY 1 ORDER BY 2 DESC, 1",
                source = self.source(&["command"])
            ),
            &self.args(&[]),
            |r| {
                Ok(Rate::new(
                    clip(r.text(0)?.to_string()),
                    r.sum(1)?,
                    r.sum(2)?,
                ))
            },
        )
    }

    /// Tool calls by tool: how many, how many succeeded, and the median and 95th percentile
    /// of their durations (from their buckets).
    fn tools(&self) -> Result<Vec<Tool>> {
        let sql = format!(
            "SELECT COALESCE(subject, '?'), duration, TOTAL(events),
                 TOTAL(events) FILTER (WHERE outcome = 'success')
             FROM {source} GROUP BY 1, 2",
            source = self.source(&["tool_call"])
        );
        let mut by_tool: HashMap<String, (u64, u64, Counted)> = HashMap::new();
        self.db.each(&sql, &self.args(&[]), |r| {
            let name = r.text(0)?;
            let entry = match by_tool.get_mut(name) {
                Some(entry) => entry,
                None => by_tool.entry(name.to_string()).or_default(),
            };
            let (calls, succeeded) = (r.sum(2)?, r.sum(3)?);
            entry.0 += calls;
            entry.1 += succeeded;
            if let Some(ms) = r.opt_int(1)? {
                entry.2.push((ms, calls));
            }
            Ok(())
        })?;
        let mut tools: Vec<Tool> = by_tool
            .into_iter()
            .map(|(name, (count, succeeded, mut durations))| Tool {
                rate: Rate::new(clip(name), count, succeeded),
                p50_ms: percentile(&mut durations, 50),
                p95_ms: percentile(&mut durations, 95),
            })
            .collect();
        tools.sort_by(|a, b| {
            b.rate
                .count
                .cmp(&a.rate.count)
                .then(a.rate.name.cmp(&b.rate.name))
        });
        Ok(tools)
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
                "SELECT DISTINCT prices FROM {token_use} WHERE estimated_events > 0 ORDER BY 1",
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
                "SELECT TOTAL(events) FROM {source}",
                source = self.source(&["session_start"])
            ),
            &self.args(&[]),
            |r| r.sum(0),
        )?;
        let mut outcomes: HashMap<String, u64> = HashMap::new();
        let mut durations: Counted = Vec::new();
        let mut cost = 0.0;
        let mut ended = 0u64;
        self.db.each(
            &format!(
                "SELECT COALESCE(outcome, 'unknown'), duration, TOTAL(events), TOTAL(cost_usd)
                 FROM {source} GROUP BY 1, 2",
                source = self.source(&["session_end"])
            ),
            &self.args(&[]),
            |r| {
                let n = r.sum(2)?;
                ended += n;
                *outcomes.entry(r.text(0)?.to_string()).or_default() += n;
                if let Some(ms) = r.opt_int(1)? {
                    durations.push((ms, n));
                }
                cost += r.float(3)?;
                Ok(())
            },
        )?;
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
            p50_ms: percentile(&mut durations, 50),
            p95_ms: percentile(&mut durations, 95),
            cost_usd: cost,
            mean_cost_usd: (ended > 0).then(|| cost / ended as f64),
        })
    }

    /// Events of `kind` (one of this build's) by subject.
    fn counts(&self, kind: &'static str) -> Result<Vec<Count>> {
        self.db.rows(
            &format!(
                "SELECT COALESCE(subject, '?'), TOTAL(events) FROM {source}
                 GROUP BY 1 ORDER BY 2 DESC, 1",
                source = self.source(&[kind])
            ),
            &self.args(&[]),
            |r| {
                Ok(Count {
                    name: clip(r.text(0)?.to_string()),
                    count: r.sum(1)?,
                    folded: 0,
                })
            },
        )
    }
}

use crate::store::daily::{self, DAY_MS};

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

/// The `p`th percentile (nearest rank) of values each counted as often as its weight:
/// `values` (value, weight), which it sorts.
fn percentile(values: &mut [(i64, u64)], p: u64) -> Option<i64> {
    let total: u64 = values.iter().map(|v| v.1).sum();
    if total == 0 {
        return None;
    }
    values.sort_unstable();
    let rank = (total.saturating_mul(p)).div_ceil(100).clamp(1, total);
    let mut seen = 0u64;
    values.iter().find_map(|&(value, weight)| {
        seen += weight;
        (seen >= rank).then_some(value)
    })
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
        let mut v: Vec<(i64, u64)> = (1..=100).rev().map(|v| (v, 1)).collect();
        assert_eq!(percentile(&mut v, 50), Some(50));
        assert_eq!(percentile(&mut v, 95), Some(95));
        assert_eq!(percentile(&mut [(7, 1)], 95), Some(7));
        assert_eq!(percentile(&mut [], 50), None);
        assert_eq!(percentile(&mut [(3, 0)], 50), None);
        // Weighted: 10 at 10 ms and 90 at 20 ms are a hundred values.
        let mut w = vec![(20, 90), (10, 10)];
        assert_eq!(percentile(&mut w, 10), Some(10));
        assert_eq!(percentile(&mut w, 11), Some(20));
        assert_eq!(percentile(&mut w, 95), Some(20));
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
