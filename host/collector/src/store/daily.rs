//! The day tables: what the report reads instead of every event. They are kept as events are
//! stored, in the same transaction, so they always say what the events say:
//!
//! - `daily_population`: a row a day, installation, product and version (its events, first
//!   and last time, whether CI): the report's population, active installations and versions;
//! - `daily_events`: a row a day, kind, product, version, subject, outcome, price table and
//!   duration bucket (its events, tokens and costs): every other section.
//!
//! A month of a product is a few hundred thousand such rows where it was millions of events.
//! Durations are kept to two significant figures ([`bucket`]), so percentiles read from the
//! rows are the events' own to within 10% (exact under 100 ms).
//!
//! Each table is filled from rows of `events` by one statement written once for SQLite and
//! PostgreSQL ([`fold_population`], [`fold_events`]): at ingest from the rows just stored, when
//! a layout without them is opened from every row, and (for `daily_events`, with the sign
//! turned) from the rows about to be deleted by a `forget` or by retention.

/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;

use anyhow::Result;

use crate::ingest::LAST_MS;
use crate::report::db::Arg;

/// Runs one statement (`?N` placeholders) with its values: how many rows it changed. What
/// the maintenance below runs on either database, inside the caller's transaction.
pub(crate) type Exec<'a> = dyn FnMut(&str, &[Arg]) -> Result<usize> + 'a;

/// `occurred_ms` clamped to what the report shows (1970 to 9999): a time another program
/// stored out of bounds falls in the first or the last day.
pub(crate) fn clamped_ms() -> String {
    format!(
        "(CASE WHEN occurred_ms < 0 THEN 0 WHEN occurred_ms > {LAST_MS} THEN {LAST_MS} \
         ELSE occurred_ms END)"
    )
}

/// An event's day (since 1970-01-01), in SQL: integer division of a bigint that is never
/// negative, the same in SQLite and PostgreSQL.
pub(crate) fn day_sql() -> String {
    format!("{} / {DAY_MS}", clamped_ms())
}

/// A duration kept to two significant figures, rounded down (exact under 100 ms, then to
/// 10 ms under a second, to 100 ms under 10 s, and so on), in SQL: integer arithmetic both
/// databases do alike, of the column `column`. What a duration percentile reports.
fn bucket_sql(column: &str) -> String {
    let mut sql = format!("CASE WHEN {column} < 100 THEN {column}");
    let mut unit = 1i64;
    // Up to i64::MAX (19 digits): a bigint's every power of ten.
    while let Some(next) = unit.checked_mul(10) {
        unit = next;
        match next.checked_mul(100) {
            Some(bound) => {
                sql += &format!(" WHEN {column} < {bound} THEN {column} / {unit} * {unit}")
            }
            None => {
                sql += &format!(" ELSE {column} / {unit} * {unit}");
                break;
            }
        }
    }
    sql + " END"
}

/// The columns of `daily_events`, in order: what [`raw_events`] gives for one event and the
/// table keeps summed for many.
pub(crate) const EVENT_COLUMNS: &str = "day, kind, product, version, subject, outcome, prices,
    duration, events, input_tokens, output_tokens, cost_usd, estimated_cost_usd,
    estimated_events, unpriced";

/// The rows of `events` that `tail` selects (`events WHERE …`) in the shape of
/// `daily_events`, one event a row: its day, its duration's [`bucket`], and counts of one.
/// The report reads days the tables do not cover whole through it, and the folds sum it.
pub(crate) fn raw_events(tail: &str) -> String {
    format!(
        "SELECT {day} AS day, kind, product, version, subject, outcome, prices,
             {bucket} AS duration, 1 AS events, input_tokens, output_tokens, cost_usd,
             estimated_cost_usd,
             CASE WHEN estimated_cost_usd IS NULL THEN 0 ELSE 1 END AS estimated_events,
             CASE WHEN cost_usd IS NULL AND estimated_cost_usd IS NULL THEN 1 ELSE 0 END
                 AS unpriced
         FROM {tail}",
        day = day_sql(),
        bucket = bucket_sql("duration_ms"),
    )
}

/// Adds to `daily_events` the events `tail` selects (`events WHERE …`), each counted `sign`
/// times: 1 as they are stored, -1 before they are deleted (the rows left at no event are
/// then removed by [`PRUNE_EVENTS`]).
pub(crate) fn fold_events(tail: &str, sign: i64) -> String {
    format!(
        "INSERT INTO daily_events ({EVENT_COLUMNS})
         SELECT day, kind, product, version, subject, outcome, prices, duration,
             {sign} * SUM(events), {sign} * TOTAL(input_tokens), {sign} * TOTAL(output_tokens),
             {sign} * TOTAL(cost_usd), {sign} * TOTAL(estimated_cost_usd),
             {sign} * SUM(estimated_events), {sign} * SUM(unpriced)
         FROM ({raw}) e WHERE true
         GROUP BY day, kind, product, version, subject, outcome, prices, duration
         ORDER BY day, kind, product, version, subject, outcome, prices, duration
         ON CONFLICT (key) DO UPDATE SET
             events = daily_events.events + excluded.events,
             input_tokens = daily_events.input_tokens + excluded.input_tokens,
             output_tokens = daily_events.output_tokens + excluded.output_tokens,
             cost_usd = daily_events.cost_usd + excluded.cost_usd,
             estimated_cost_usd = daily_events.estimated_cost_usd + excluded.estimated_cost_usd,
             estimated_events = daily_events.estimated_events + excluded.estimated_events,
             unpriced = daily_events.unpriced + excluded.unpriced",
        raw = raw_events(tail),
    )
}

/// Removes the rows of `daily_events` a deletion left at no event.
pub(crate) const PRUNE_EVENTS: &str = "DELETE FROM daily_events WHERE events <= 0";

/// Adds to `daily_population` the events `tail` selects (`events WHERE …`).
pub(crate) fn fold_population(tail: &str) -> String {
    let larger = |column: &str| {
        format!(
            "{column} = CASE WHEN excluded.{column} > daily_population.{column}
                 THEN excluded.{column} ELSE daily_population.{column} END"
        )
    };
    format!(
        "INSERT INTO daily_population (day, installation, product, version, ci, first_ms,
             last_ms, events)
         SELECT {day}, installation, product, version, MAX(ci), MIN(occurred_ms),
             MAX(occurred_ms), COUNT(*)
         FROM {tail}
         GROUP BY 1, installation, product, version
         ORDER BY 1, installation, product, version
         ON CONFLICT (day, installation, product, version) DO UPDATE SET
             events = daily_population.events + excluded.events,
             first_ms = CASE WHEN excluded.first_ms < daily_population.first_ms
                 THEN excluded.first_ms ELSE daily_population.first_ms END,
             {last}, {ci}",
        day = day_sql(),
        last = larger("last_ms"),
        ci = larger("ci"),
    )
}

/// The day of a time, as [`day_sql`] counts it.
fn day_of(ms: i64) -> i64 {
    ms.clamp(0, LAST_MS) / DAY_MS
}

/// The events of day `day` (as [`day_sql`] counts it: the first and last days take the times
/// before and after the bounds), as a range of `occurred_ms` an index reads.
fn day_range(day: i64) -> [Arg; 2] {
    let from = if day <= 0 { i64::MIN } else { day * DAY_MS };
    let to = if day >= day_of(LAST_MS) {
        i64::MAX
    } else {
        (day + 1) * DAY_MS
    };
    [Arg::Int(from), Arg::Int(to)]
}

/// Deletes the events that occurred before `before` or after `after`, and what the day tables
/// hold of them: their counts taken out of `daily_events`; the days of `daily_population`
/// wholly outside dropped, and the two days the bounds cut counted again from the events left.
/// Returns how many events were deleted.
pub(crate) fn delete_outside(exec: &mut Exec<'_>, before: i64, after: i64) -> Result<usize> {
    let outside = "events WHERE occurred_ms < ?1 OR occurred_ms > ?2";
    let bounds = [Arg::Int(before), Arg::Int(after)];
    exec(&fold_events(outside, -1), &bounds)?;
    let deleted = exec(&format!("DELETE FROM {outside}"), &bounds)?;
    if deleted == 0 {
        return Ok(0);
    }
    exec(PRUNE_EVENTS, &[])?;
    let (first, last) = (day_of(before), day_of(after));
    exec(
        "DELETE FROM daily_population WHERE day <= ?1 OR day >= ?2",
        &[Arg::Int(first), Arg::Int(last)],
    )?;
    let within = "events WHERE occurred_ms >= ?1 AND occurred_ms < ?2";
    for day in if first == last {
        vec![first]
    } else {
        vec![first, last]
    } {
        exec(&fold_population(within), &day_range(day))?;
    }
    Ok(deleted)
}

/// Takes what the day tables hold of `installation`'s events out of them: run before its
/// events are deleted.
pub(crate) fn forget(exec: &mut Exec<'_>, installation: &str) -> Result<()> {
    let id = [Arg::Text(installation.to_string())];
    exec(&fold_events("events WHERE installation = ?1", -1), &id)?;
    exec(PRUNE_EVENTS, &[])?;
    exec("DELETE FROM daily_population WHERE installation = ?1", &id)?;
    Ok(())
}

/// Fills the day tables from every stored event: once, when a layout without them is opened.
pub(crate) fn fill(exec: &mut Exec<'_>) -> Result<()> {
    exec(&fold_population("events WHERE true"), &[])?;
    exec(&fold_events("events WHERE true", 1), &[])?;
    Ok(())
}

/// The `daily_events` key: every grouped column, each written with its length first (so no
/// two rows' keys run together) or `-` when NULL. A generated column both databases compute
/// alike, on which `ON CONFLICT` finds a row whatever its NULLs.
fn key_sql() -> String {
    let parts: Vec<String> = [
        "day", "kind", "product", "version", "subject", "outcome", "prices", "duration",
    ]
    .iter()
    .map(|c| {
        format!(
            "COALESCE(CAST(length(CAST({c} AS TEXT)) AS TEXT) || ':' || CAST({c} AS TEXT), '-')"
        )
    })
    .collect();
    parts.join(" || ',' || ")
}

/// The day tables in SQLite.
pub(crate) fn sqlite_schema() -> String {
    schema("INTEGER", "REAL", "")
}

/// The day tables in PostgreSQL (text in byte order, as in SQLite).
pub(crate) fn postgres_schema() -> String {
    schema("BIGINT", "DOUBLE PRECISION", " COLLATE \"C\"")
}

fn schema(int: &str, real: &str, collate: &str) -> String {
    let text = format!("TEXT{collate}");
    format!(
        "CREATE TABLE IF NOT EXISTS daily_population (
            day {int} NOT NULL,
            installation {text} NOT NULL,
            product {text} NOT NULL,
            version {text} NOT NULL,
            ci {int} NOT NULL,
            first_ms {int} NOT NULL,
            last_ms {int} NOT NULL,
            events {int} NOT NULL,
            PRIMARY KEY (day, installation, product, version)
        );
        CREATE INDEX IF NOT EXISTS daily_population_of ON daily_population (installation);
        CREATE TABLE IF NOT EXISTS daily_events (
            day {int} NOT NULL,
            kind {text} NOT NULL,
            product {text} NOT NULL,
            version {text} NOT NULL,
            subject {text},
            outcome {text},
            prices {text},
            duration {int},
            events {int} NOT NULL,
            input_tokens {real} NOT NULL,
            output_tokens {real} NOT NULL,
            cost_usd {real} NOT NULL,
            estimated_cost_usd {real} NOT NULL,
            estimated_events {int} NOT NULL,
            unpriced {int} NOT NULL,
            key TEXT GENERATED ALWAYS AS ({key}) STORED
        );
        CREATE UNIQUE INDEX IF NOT EXISTS daily_events_key ON daily_events (key);
        CREATE INDEX IF NOT EXISTS daily_events_by_kind ON daily_events (kind, day);",
        key = key_sql(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`bucket_sql`] computes: two significant figures, rounded down.
    fn bucket(ms: i64) -> i64 {
        let mut unit = 1i64;
        while ms / unit >= 100 {
            unit *= 10;
        }
        ms / unit * unit
    }

    #[test]
    fn durations_keep_two_significant_figures() {
        for (ms, kept) in [
            (0, 0),
            (7, 7),
            (99, 99),
            (100, 100),
            (109, 100),
            (250, 250),
            (999, 990),
            (1_049, 1_000),
            (61_234, 61_000),
            (i64::MAX, 9_200_000_000_000_000_000),
        ] {
            assert_eq!(bucket(ms), kept, "{ms}");
        }
    }

    #[test]
    fn the_sql_bucket_is_the_rust_one() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let sql = format!("SELECT {}", bucket_sql("?1"));
        let mut stmt = conn.prepare(&sql).unwrap();
        let mut values: Vec<i64> = (0..2_000).collect();
        values.extend((0..63).map(|p| 1i64 << p));
        values.extend((1..19).map(|p| 10i64.pow(p) - 1));
        values.extend([i64::MAX, i64::MAX - 1, 1_234_567, 98_765_432]);
        for v in values {
            let got: i64 = stmt.query_row([v], |r| r.get(0)).unwrap();
            assert_eq!(got, bucket(v), "{v}");
        }
    }

    use crate::EventStore;
    use crate::ingest::Fact;
    use crate::report::{Filter, Range, Report};

    /// 2026-03-02, 00:00 UTC.
    const START: i64 = 1_772_409_600_000;

    /// A small deterministic generator.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    /// Events `from..to` of every kind the report reads, over six days at any millisecond,
    /// from five installations (one a CI run), two products and three versions; tool calls
    /// and sessions with durations from 0 to minutes, token use with and without a cost
    /// (some models unpriced), session costs of sessions with and without token use.
    fn facts(from: u64, to: u64, rng: &mut Lcg) -> Vec<Fact> {
        (from..to)
            .map(|i| {
                let installation = match rng.next(5) {
                    4 => "ephemeral_00000000000000c1".to_string(),
                    n => format!("install_{n:016x}"),
                };
                let session = Some(format!("session_{}", rng.next(40)));
                let mut f = Fact {
                    id: format!("event-{i}"),
                    occurred_ms: START + rng.next(6 * DAY_MS as u64) as i64,
                    ci: installation.starts_with("ephemeral"),
                    installation,
                    product: ["agent", "swarm"][rng.next(2) as usize].into(),
                    version: ["1.0", "1.1", "2.0"][rng.next(3) as usize].into(),
                    os: "linux".into(),
                    body: "{}".into(),
                    ..Fact::default()
                };
                let outcome = || Some(["success", "failure"][(i % 3 == 0) as usize].to_string());
                match rng.next(8) {
                    0 | 1 => {
                        f.kind = "tool_call";
                        f.subject = Some(["read", "write", "shell"][rng.next(3) as usize].into());
                        f.outcome = outcome();
                        f.duration_ms = (i % 7 != 0).then(|| rng.next(5_000) as i64);
                    }
                    2 => {
                        f.kind = "token_usage";
                        f.subject = Some(["gpt-4o", "made-up-model"][rng.next(2) as usize].into());
                        f.session = session.filter(|s| !s.ends_with('7'));
                        f.input_tokens = Some(rng.next(9_000) as i64);
                        f.output_tokens = Some(rng.next(900) as i64);
                        f.cost_usd = (i % 2 == 0).then(|| rng.next(100) as f64 / 1000.0);
                    }
                    3 => {
                        f.kind = "session_cost";
                        f.subject = Some("gpt-4o".into());
                        f.session = session;
                        f.input_tokens = Some(rng.next(9_000) as i64);
                        f.output_tokens = Some(rng.next(900) as i64);
                    }
                    4 => {
                        f.kind = "session_end";
                        f.session = session;
                        f.outcome = outcome();
                        f.duration_ms = Some(rng.next(600_000) as i64);
                        f.cost_usd = Some(rng.next(1000) as f64 / 100.0);
                    }
                    5 => {
                        f.kind = "session_start";
                        f.session = session;
                    }
                    6 => {
                        f.kind = "command";
                        f.subject = Some(["run", "eval"][rng.next(2) as usize].into());
                        f.outcome = outcome();
                    }
                    _ => {
                        f.kind = "task";
                        f.subject = (i % 5 != 0).then(|| "completed".to_string());
                    }
                }
                f
            })
            .collect()
    }

    /// A report as JSON, its floats to 9 significant figures: the day tables and the events
    /// sum floats in different orders, which changes only the last bits.
    fn rounded(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Number(n) if n.is_f64() => {
                let f = n.as_f64().unwrap();
                serde_json::json!(format!("{f:.8e}"))
            }
            Value::Array(a) => Value::Array(a.into_iter().map(rounded).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (k, rounded(v))).collect())
            }
            other => other,
        }
    }

    /// The report from the day tables is the report from the events, over ranges that cut
    /// days anywhere (or none), with and without filters.
    fn reads_as_the_events(store: &EventStore) {
        let hour = 3_600_000;
        let ranges = [
            (None, None),
            (Some(START + DAY_MS), None),
            (
                Some(START + DAY_MS + 5 * hour + 17),
                Some(START + 4 * DAY_MS + 123),
            ),
            (None, Some(START + 3 * DAY_MS - 1)),
            (
                Some(START + 2 * DAY_MS + hour),
                Some(START + 2 * DAY_MS + 9 * hour),
            ),
            (
                Some(START + 2 * DAY_MS + hour),
                Some(START + 3 * DAY_MS + 9 * hour),
            ),
            (Some(START + 9 * DAY_MS), None),
        ];
        let filters = [
            Filter::default(),
            Filter {
                product: Some("agent".into()),
                ..Filter::default()
            },
            Filter {
                product: Some("swarm".into()),
                version: Some("1.1".into()),
                ..Filter::default()
            },
            Filter {
                kinds: vec!["tool_call".into(), "session_cost".into()],
                ..Filter::default()
            },
        ];
        let mut events = 0;
        for (since, until) in ranges {
            for filter in &filters {
                let range = Range { since, until };
                let daily = Report::build_filtered(store, range, filter.clone(), 15).unwrap();
                let raw = Report::build_from_events(store, range, filter.clone(), 15).unwrap();
                events += daily.events;
                assert_eq!(
                    rounded(serde_json::to_value(&daily).unwrap()),
                    rounded(serde_json::to_value(&raw).unwrap()),
                    "{range:?} {filter:?}"
                );
            }
        }
        assert!(events > 0, "the ranges hold events");
    }

    #[test]
    fn the_report_from_the_day_tables_is_the_report_from_the_events() {
        let mut rng = Lcg(7);
        let store = EventStore::holding(facts(0, 500, &mut rng));
        for b in 1..6 {
            store.add(facts(b * 500, (b + 1) * 500, &mut rng));
        }
        // Sent again: duplicates, not counted twice.
        store.add(facts(0, 500, &mut Lcg(7)));
        let report = Report::build(&store, Range::default()).unwrap();
        assert_eq!(report.events, 3_000);
        assert!(report.tools.iter().all(|t| t.p95_ms.is_some()));
        reads_as_the_events(&store);

        // A forgotten installation and retention take their events out of the tables too.
        store.forget("install_0000000000000001").unwrap();
        reads_as_the_events(&store);
        let deleted = store
            .delete_outside(START + DAY_MS + 7_654_321, START + 5 * DAY_MS - 1_234)
            .unwrap();
        assert!(deleted > 0);
        reads_as_the_events(&store);
        let rows = |table: &str| -> i64 {
            store
                .conn()
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        };
        assert!(
            rows("daily_events") < rows("events"),
            "the tables are smaller"
        );
        // Nothing left at no event.
        assert_eq!(rows("daily_events WHERE events <= 0"), 0);
    }

    #[test]
    fn a_database_without_the_day_tables_gets_them_filled_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let store = EventStore::open(Some(&path)).unwrap();
            store.add(facts(0, 800, &mut Lcg(3)));
            let conn = store.conn();
            conn.execute_batch(
                "DROP TABLE daily_events; DROP TABLE daily_population; PRAGMA user_version = 4;",
            )
            .unwrap();
        }
        let store = EventStore::open(Some(&path)).unwrap();
        reads_as_the_events(&store);
    }

    #[test]
    fn two_writers_of_one_sqlite_file_wait_their_turn_and_keep_the_tables_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.sqlite3");
        let writers: Vec<_> = (0..2u64)
            .map(|w| {
                let store = EventStore::open(Some(&path)).unwrap();
                std::thread::spawn(move || {
                    let mut rng = Lcg(w);
                    for b in 0..20 {
                        let first = (w * 20 + b) * 50;
                        store.store(
                            crate::Format::Native,
                            &crate::ingest::Received {
                                facts: facts(first, first + 50, &mut rng),
                                ..Default::default()
                            },
                        )?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap().expect("every body stored");
        }
        let store = EventStore::open(Some(&path)).unwrap();
        assert_eq!(store.counts().unwrap().events, 2_000);
        reads_as_the_events(&store);
    }
}
