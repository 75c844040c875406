//! Where the collector keeps what it received: SQLite (a file, or memory) in WAL mode, one row
//! an event in the report's columns (deduplicated by id), one row a request body, and one row
//! a deletion request carried out (`forget`).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use agent_telemetry_contract::wire;
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::ingest::{Fact, Format, Received, known_kind, native};
use crate::prices::{Prices, TOKEN_KINDS};
use crate::report::db::sqlite_execute;

pub(crate) mod daily;
mod postgres;
pub use postgres::describe as describe_postgres_url;

/// The layout this build writes (SQLite's `user_version`). Version 1 (no `user_version`, an
/// `events` table keyed by `event_id`) held native events only; version 2 keyed docker-agent
/// and Agent Swarm events by `sha256:<hex>` alone, where 3 puts their time first. Both are
/// migrated on open. Version 4 adds token events' cache tokens and the cost estimated from a
/// price table ([`add_estimates`]).
const LAYOUT: i64 = 5;

/// Where a store keeps its rows.
enum Backend {
    /// A SQLite file, or memory: one process.
    Sqlite(Mutex<Connection>),
    /// A PostgreSQL database: as many collector processes as write to it.
    Postgres(Box<postgres::Postgres>),
}

/// Received events, in SQLite (a file, or memory) or PostgreSQL.
pub struct EventStore {
    backend: Backend,
    rejected_batches: AtomicU64,
    dropped_properties: AtomicU64,
    /// The most the database may hold, in bytes (0: no bound).
    max_bytes: AtomicU64,
    /// Whether it held that much when last written or pruned.
    full: std::sync::atomic::AtomicBool,
    /// The table a token event's cost is estimated from when it carries none.
    prices: std::sync::RwLock<std::sync::Arc<Prices>>,
    /// The SHA-256 of every installation id forgotten (the `deletions` table's): events of
    /// theirs that arrive later (a batch another process had in flight) are not stored.
    forgotten: Mutex<HashSet<String>>,
}

/// The database holds [`EventStore::set_max_bytes`] already: a body is refused until
/// retention (or the user) makes room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database is full")]
pub struct Full;

/// What storing one body did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// Events stored.
    pub accepted: usize,
    /// Events already stored (the same id), not stored again.
    pub duplicates: usize,
    /// Events of an installation that asked to be forgotten, arriving after it was: not
    /// stored.
    pub forgotten: usize,
}

/// What the store holds and what it turned away, since it was opened (for the counts kept in
/// memory) or ever (for those in the database).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectorCounts {
    /// Bodies stored, ever.
    pub batches: u64,
    /// Events stored, ever.
    pub events: u64,
    /// Duplicate events not stored again, ever.
    pub duplicates: u64,
    /// Bodies refused as invalid since the store was opened.
    pub rejected_batches: u64,
    /// Sum of the `dropped_events` the senders reported.
    pub reported_drops: u64,
    /// Properties or attributes over the bounds, dropped rather than stored.
    pub dropped_properties: u64,
    /// Deletion requests carried out, ever (installations forgotten).
    pub deletions: u64,
    /// Events those requests deleted, ever.
    pub deleted_events: u64,
}

/// A stored event in the report's columns, with the format it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFact {
    /// The format's name ([`Format::name`](crate::Format::name)).
    pub format: String,
    /// The event.
    pub fact: Fact,
    /// The cost estimated from the price table when the event is a token event that reported
    /// none, and the table prices its model.
    pub estimated_cost_usd: Option<f64>,
    /// The table consulted for that estimate (its [`Prices::label`]), whether or not it
    /// priced the model: set for every token event without a reported cost.
    pub prices: Option<String>,
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS events (
        id TEXT PRIMARY KEY,
        format TEXT NOT NULL,
        occurred_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        installation TEXT NOT NULL,
        ci INTEGER NOT NULL DEFAULT 0,
        product TEXT NOT NULL,
        version TEXT NOT NULL,
        os TEXT NOT NULL,
        subject TEXT,
        outcome TEXT,
        session TEXT,
        duration_ms INTEGER,
        input_tokens INTEGER,
        output_tokens INTEGER,
        cost_usd REAL,
        body TEXT NOT NULL,
        cache_read_tokens INTEGER,
        cache_write_tokens INTEGER,
        estimated_cost_usd REAL,
        prices TEXT
    );
    -- The report reads one kind over a time range, and every event's installation and
    -- version over one: both from an index alone (covering), never from the wide rows.
    DROP INDEX IF EXISTS events_by_kind;
    DROP INDEX IF EXISTS events_report;
    DROP INDEX IF EXISTS events_in_time;
    CREATE INDEX IF NOT EXISTS events_population ON events (occurred_ms, installation, ci,
        product, version);
    DROP INDEX IF EXISTS events_by_time;
    -- A session's token use, for the models' section.
    CREATE INDEX IF NOT EXISTS events_by_session ON events (session, kind) WHERE session IS NOT NULL;
    -- Counts-only mode's uploads, one row each, and their counters: kept once by upload id.
    CREATE TABLE IF NOT EXISTS uploads (
        upload_id TEXT PRIMARY KEY,
        installation TEXT NOT NULL,
        ci INTEGER NOT NULL,
        period_start TEXT NOT NULL,
        period_ms INTEGER NOT NULL,
        product TEXT NOT NULL,
        version TEXT NOT NULL,
        os TEXT NOT NULL,
        events INTEGER NOT NULL,
        overflow INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS counters (
        upload_id TEXT NOT NULL REFERENCES uploads (upload_id),
        period_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT,
        outcome TEXT,
        count INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        duration_buckets TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        output_tokens INTEGER NOT NULL,
        token_buckets TEXT NOT NULL,
        cost_usd REAL NOT NULL,
        costed INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS counters_in_time ON counters (period_ms);
    -- Each installation's first event of each product, kept as events are stored: what the
    -- report's new-and-returning section reads instead of every earlier event. Added within
    -- layout 4 (filled from the events when it is made): a table an older build ignores.
    CREATE TABLE IF NOT EXISTS first_seen (
        installation TEXT NOT NULL,
        product TEXT NOT NULL,
        first_ms INTEGER NOT NULL,
        PRIMARY KEY (installation, product)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS batches (
        format TEXT NOT NULL,
        received_events INTEGER NOT NULL,
        duplicates INTEGER NOT NULL,
        dropped_events INTEGER NOT NULL
    );
    -- One row a deletion request carried out: the SHA-256 of the installation id (never the
    -- id itself), when, and how many events it deleted. Added within layout 3: a table an
    -- older build of it ignores.
    CREATE TABLE IF NOT EXISTS deletions (
        installation_sha256 TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        deleted_events INTEGER NOT NULL
    );";

impl EventStore {
    /// The SQLite database at `path` (created, or brought to this version's layout), or one
    /// in memory.
    pub fn open(path: Option<&Path>) -> Result<EventStore> {
        let mut conn = match path {
            Some(p) => {
                Connection::open(p).with_context(|| format!("cannot open {}", p.display()))?
            }
            None => Connection::open_in_memory()?,
        };
        // WAL: the report reads while the collector writes; NORMAL: a commit is durable once
        // the WAL is synced at checkpoints, which is what a collector of usage data needs.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Checkpoint every 10,000 pages (40 MB of WAL) instead of every 1,000: the indexes'
        // pages are rewritten by many transactions, and each checkpoint copies a page once
        // however often it was rewritten since the last (measured in `--bench ingest`).
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn).context("cannot bring the database to this version's layout")?;
        let forgotten = conn
            .prepare("SELECT installation_sha256 FROM deletions")?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<Result<HashSet<_>, _>>()?;
        Ok(EventStore::with(
            Backend::Sqlite(Mutex::new(conn)),
            forgotten,
        ))
    }

    /// The PostgreSQL database at `url` (`postgres://user:password@host:port/database`, or
    /// any form [`postgres::Config`] reads), its tables created or brought to this version's
    /// layout. Several processes may store into one database at once.
    pub fn connect(url: &str) -> Result<EventStore> {
        Ok(EventStore::with(
            Backend::Postgres(Box::new(postgres::Postgres::connect(url)?)),
            HashSet::new(),
        ))
    }

    /// The database `location` names: a PostgreSQL URL (`postgres://` or `postgresql://`),
    /// otherwise a SQLite file.
    pub fn open_location(location: &str) -> Result<EventStore> {
        if is_postgres(location) {
            EventStore::connect(location)
        } else {
            EventStore::open(Some(Path::new(location)))
        }
    }

    fn with(backend: Backend, forgotten: HashSet<String>) -> EventStore {
        EventStore {
            forgotten: Mutex::new(forgotten),
            backend,
            rejected_batches: AtomicU64::new(0),
            dropped_properties: AtomicU64::new(0),
            max_bytes: AtomicU64::new(0),
            full: std::sync::atomic::AtomicBool::new(false),
            prices: std::sync::RwLock::new(std::sync::Arc::new(Prices::embedded().clone())),
        }
    }

    /// Estimates from now on the cost of token events that carry none from `prices` instead
    /// of the table built in ([`Prices::embedded`]). What is stored already keeps its estimate.
    pub fn set_prices(&self, prices: Prices) {
        *self.prices.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(prices);
    }

    /// The table costs are estimated from.
    pub fn prices(&self) -> std::sync::Arc<Prices> {
        self.prices
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Bounds the database: once the pages in use reach `max` bytes, [`EventStore::store`]
    /// refuses with [`Full`]. `None`: no bound. A SQLite file only: a PostgreSQL database's
    /// size does not shrink when rows are deleted (the space is reused, not returned), so the
    /// bound, once reached, would never clear; the server's own quotas bound it instead.
    pub fn set_max_bytes(&self, max: Option<u64>) -> Result<()> {
        if max.is_some() && matches!(self.backend, Backend::Postgres(_)) {
            anyhow::bail!(
                "a size bound is for a SQLite file; bound a PostgreSQL database with the \
                 server's quotas (its size does not shrink when rows are deleted)"
            );
        }
        self.max_bytes
            .store(max.map_or(0, |m| m.max(1)), Ordering::Relaxed);
        Ok(())
    }

    /// Bytes in use: the pages that hold something (a page freed by a deletion is reused
    /// before the file grows). The write-ahead log is not counted: it is folded into the file
    /// at each checkpoint.
    fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
        let pages: i64 = conn.query_row(
            "SELECT (SELECT page_count FROM pragma_page_count())
                  - (SELECT freelist_count FROM pragma_freelist_count())",
            [],
            |r| r.get(0),
        )?;
        let size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        Ok(pages.max(0) as u64 * size.max(0) as u64)
    }

    /// Whether the database had reached its bound when it was last written or pruned: a flag,
    /// so that asking never waits on the database (the async threads ask).
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// Sets the flag [`is_full`](Self::is_full) reads, from the pages in use now.
    fn note_fullness(&self, conn: Option<&Connection>) -> Result<bool> {
        let max = self.max_bytes.load(Ordering::Relaxed);
        let used = || -> Result<u64> {
            match (&self.backend, conn) {
                (Backend::Postgres(_), _) => Ok(0),
                (Backend::Sqlite(_), Some(conn)) => Ok(Self::used_bytes(conn)?),
                (Backend::Sqlite(c), None) => Ok(Self::used_bytes(&lock(c))?),
            }
        };
        let full = max > 0 && used()? >= max;
        self.full.store(full, Ordering::Relaxed);
        Ok(full)
    }

    /// Deletes the events that occurred before `before` or after `after` (Unix milliseconds);
    /// returns how many. The times are the senders' own: an event dated far ahead would never
    /// age out by its date alone, so retention takes those too.
    pub fn delete_outside(&self, before: i64, after: i64) -> Result<usize> {
        let mut conn = match &self.backend {
            Backend::Postgres(pg) => {
                let deleted = pg.delete_outside(before, after)?;
                self.note_fullness(None)?;
                return Ok(deleted);
            }
            Backend::Sqlite(c) => lock(c),
        };
        let tx = write(&mut conn)?;
        let deleted = daily::delete_outside(
            &mut |sql, args| sqlite_execute(&tx, sql, args),
            before,
            after,
        )?;
        tx.commit()?;
        self.note_fullness(Some(&conn))?;
        Ok(deleted)
    }

    /// Forgets the installation `installation_id`: deletes every event of it, in every format
    /// (each format's installation column holds the id as sent: native `installation_id`,
    /// docker-agent `user_uuid`, Agent Swarm `actor_anonymous_id`, OTLP
    /// `service.instance.id`), records the deletion (the id's SHA-256, the time, the count),
    /// and from then on stores no event of it. Returns how many events were deleted.
    pub fn forget(&self, installation_id: &str) -> Result<u64> {
        let hash = installation_hash(installation_id);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut conn = match &self.backend {
            Backend::Postgres(pg) => {
                let deleted = pg.forget(installation_id, &hash, now_ms)?;
                self.note_fullness(None)?;
                return Ok(deleted);
            }
            Backend::Sqlite(c) => lock(c),
        };
        let tx = write(&mut conn)?;
        daily::forget(
            &mut |sql, args| sqlite_execute(&tx, sql, args),
            installation_id,
        )?;
        let mut deleted = tx.execute(
            "DELETE FROM events WHERE installation = ?1",
            params![installation_id],
        )?;
        // Its counts-only uploads too: their events count as deleted.
        let counted: i64 = tx.query_row(
            "SELECT COALESCE(SUM(events), 0) FROM uploads WHERE installation = ?1",
            params![installation_id],
            |r| r.get(0),
        )?;
        tx.execute(
            "DELETE FROM counters WHERE upload_id IN
                 (SELECT upload_id FROM uploads WHERE installation = ?1)",
            params![installation_id],
        )?;
        tx.execute(
            "DELETE FROM uploads WHERE installation = ?1",
            params![installation_id],
        )?;
        tx.execute(
            "DELETE FROM first_seen WHERE installation = ?1",
            params![installation_id],
        )?;
        deleted += usize::try_from(counted).unwrap_or(0);
        tx.execute(
            "INSERT INTO deletions (installation_sha256, at_ms, deleted_events)
             VALUES (?1, ?2, ?3)",
            params![hash, now_ms, deleted as i64],
        )?;
        tx.commit()?;
        self.forgotten
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash);
        self.note_fullness(Some(&conn))?;
        Ok(deleted as u64)
    }

    /// Whether the installation `installation_id` asked to be forgotten (of this process, or
    /// of any collector writing the same PostgreSQL database).
    pub fn is_forgotten(&self, installation_id: &str) -> Result<bool> {
        Ok(match &self.backend {
            Backend::Postgres(pg) => pg.is_forgotten(installation_id)?,
            Backend::Sqlite(_) => self.forgotten_here(installation_id),
        })
    }

    /// Whether this process forgot `installation_id` or found it forgotten when it opened the
    /// database.
    fn forgotten_here(&self, installation_id: &str) -> bool {
        let forgotten = self.forgotten.lock().unwrap_or_else(|e| e.into_inner());
        !forgotten.is_empty() && forgotten.contains(&installation_hash(installation_id))
    }

    /// Counts a body refused as invalid.
    pub fn note_rejected(&self) {
        self.rejected_batches.fetch_add(1, Ordering::Relaxed);
    }

    /// The report's view of the database, for the time `read` takes.
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(crate::report::Db<'_>) -> Result<T>,
    ) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(c) => read(crate::report::Db::Sqlite(&lock(c))),
            Backend::Postgres(pg) => {
                let mut client = pg.reader()?;
                read(crate::report::Db::Postgres(std::cell::RefCell::new(
                    &mut client,
                )))
            }
        }
    }

    /// A store in memory holding `facts`, as native events (the unit tests' data).
    #[cfg(test)]
    pub(crate) fn holding(facts: Vec<Fact>) -> EventStore {
        let store = EventStore::open(None).unwrap();
        store.add(facts);
        store
    }

    /// Stores `facts` as one native body (the unit tests' data).
    #[cfg(test)]
    pub(crate) fn add(&self, facts: Vec<Fact>) {
        self.store(
            Format::Native,
            &Received {
                facts,
                ..Received::default()
            },
        )
        .unwrap();
    }

    #[cfg(test)]
    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        match &self.backend {
            Backend::Sqlite(c) => lock(c),
            Backend::Postgres(_) => unreachable!("the unit tests' stores are SQLite"),
        }
    }

    /// Stores a native batch (what the tests and the spool-free paths call).
    pub fn ingest(&self, batch: &wire::Batch) -> Result<Ingested> {
        let facts = batch
            .events
            .iter()
            .map(native::fact)
            .collect::<Result<Vec<_>, _>>()?;
        self.store(
            Format::Native,
            &Received {
                facts,
                reported_drops: batch.dropped_events,
                dropped_properties: 0,
                counts: None,
            },
        )
    }

    /// Stores a counts-only upload with its counters, unless its `upload_id` is stored already
    /// (a retry): its events count as accepted or as duplicates.
    pub fn store_counts(
        &self,
        upload: &agent_telemetry_contract::counts::Upload,
    ) -> Result<Ingested> {
        let period_ms = crate::ingest::day_ms(&upload.period_start)?;
        let events = usize::try_from(upload.events).unwrap_or(usize::MAX);
        // Counted before the installation asked to be forgotten, sent after: not kept.
        let forgotten = Ingested {
            accepted: 0,
            duplicates: 0,
            forgotten: events,
        };
        if matches!(self.backend, Backend::Sqlite(_))
            && self.forgotten_here(&upload.installation_id)
        {
            return Ok(forgotten);
        }
        if self.note_fullness(None)? {
            return Err(Full.into());
        }
        let mut conn = match &self.backend {
            Backend::Postgres(pg) => {
                return Ok(match pg.store_counts(upload, period_ms)? {
                    Some(new) => Ingested::counted(new, events),
                    None => forgotten,
                });
            }
            Backend::Sqlite(c) => lock(c),
        };
        let tx = write(&mut conn)?;
        let new = tx.execute(
            "INSERT OR IGNORE INTO uploads (upload_id, installation, ci, period_start, period_ms,
                 product, version, os, events, overflow)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                upload.upload_id,
                upload.installation_id,
                upload.ci,
                upload.period_start,
                period_ms,
                upload.product,
                upload.product_version,
                upload.os,
                i64::try_from(upload.events)?,
                i64::try_from(upload.overflow)?,
            ],
        )? == 1;
        if new {
            let mut insert = tx.prepare_cached(
                "INSERT INTO counters (upload_id, period_ms, kind, subject, outcome, count,
                     duration_ms, duration_buckets, input_tokens, output_tokens, token_buckets,
                     cost_usd, costed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for c in &upload.counters {
                insert.execute(params![
                    upload.upload_id,
                    period_ms,
                    c.kind,
                    c.subject,
                    c.outcome,
                    i64::try_from(c.count)?,
                    i64::try_from(c.duration_ms)?,
                    serde_json::to_string(&c.duration_buckets)?,
                    i64::try_from(c.input_tokens)?,
                    i64::try_from(c.output_tokens)?,
                    serde_json::to_string(&c.token_buckets)?,
                    c.cost_usd,
                    i64::try_from(c.costed)?,
                ])?;
            }
        }
        tx.commit()?;
        Ok(Ingested::counted(new, events))
    }

    /// Stores what one body held, in one transaction, skipping ids already stored.
    pub fn store(&self, format: Format, received: &Received) -> Result<Ingested> {
        if let Some(upload) = &received.counts {
            return self.store_counts(upload);
        }
        let dropped = i64::try_from(received.reported_drops)
            .map_err(|_| anyhow::anyhow!("dropped_events is out of range"))?;
        let prices = self.prices();
        if self.note_fullness(None)? {
            return Err(Full.into());
        }
        let mut conn = match &self.backend {
            Backend::Postgres(pg) => {
                let (accepted, forgotten) =
                    pg.store(format.name(), &received.facts, dropped, &prices)?;
                self.dropped_properties
                    .fetch_add(received.dropped_properties, Ordering::Relaxed);
                return Ok(Ingested {
                    accepted,
                    duplicates: received.facts.len() - accepted - forgotten,
                    forgotten,
                });
            }
            Backend::Sqlite(c) => lock(c),
        };
        let tx = write(&mut conn)?;
        let mut accepted = 0;
        let mut forgotten = 0;
        // The rows stored next are those after the last one now (SQLite gives a new row the
        // largest rowid yet, plus one): what the day tables are brought up to date from.
        let first_new: i64 =
            tx.query_row("SELECT COALESCE(MAX(rowid), 0) + 1 FROM events", [], |r| {
                r.get(0)
            })?;
        {
            let mut insert = tx.prepare_cached(INSERT)?;
            // A batch's events mostly share one installation: its answer is kept.
            let mut last: Option<(&str, bool)> = None;
            let mut kept: Vec<&Fact> = Vec::with_capacity(received.facts.len());
            for f in &received.facts {
                let gone = match last {
                    Some((id, gone)) if id == f.installation => gone,
                    _ => self.forgotten_here(&f.installation),
                };
                last = Some((&f.installation, gone));
                if gone {
                    forgotten += 1;
                    continue;
                }
                accepted += insert_fact(&mut insert, format.name(), f, &prices)?;
                kept.push(f);
            }
            let mut first = tx.prepare_cached(
                "INSERT INTO first_seen (installation, product, first_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (installation, product) DO UPDATE
                     SET first_ms = MIN(first_ms, excluded.first_ms)",
            )?;
            for (installation, product, ms) in first_times(&kept) {
                first.execute(params![installation, product, ms])?;
            }
        }
        if accepted > 0 {
            let new = "events WHERE rowid >= ?1";
            let first_new = [crate::report::db::Arg::Int(first_new)];
            sqlite_execute(&tx, &daily::fold_population(new), &first_new)?;
            sqlite_execute(&tx, &daily::fold_events(new, 1), &first_new)?;
        }
        let duplicates = received.facts.len() - accepted - forgotten;
        tx.execute(
            "INSERT INTO batches (format, received_events, duplicates, dropped_events)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                format.name(),
                received.facts.len() as i64,
                duplicates as i64,
                dropped
            ],
        )?;
        tx.commit()?;
        self.dropped_properties
            .fetch_add(received.dropped_properties, Ordering::Relaxed);
        if forgotten > 0 {
            tracing::info!(
                forgotten,
                "events of an installation that asked to be forgotten were not stored"
            );
        }
        Ok(Ingested {
            accepted,
            duplicates,
            forgotten,
        })
    }

    /// Every counts-only upload stored, by period: its first day and the events folded in it.
    pub fn uploads(&self) -> Result<Vec<(String, u64)>> {
        let conn = match &self.backend {
            Backend::Postgres(pg) => return pg.uploads(),
            Backend::Sqlite(c) => lock(c),
        };
        let mut stmt =
            conn.prepare("SELECT period_start, events FROM uploads ORDER BY period_ms, rowid")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every stored native event, oldest first (arrival order within the same millisecond).
    pub fn events(&self) -> Result<Vec<wire::Event>> {
        let bodies = match &self.backend {
            Backend::Postgres(pg) => pg.bodies()?,
            Backend::Sqlite(c) => lock(c)
                .prepare(
                    "SELECT body FROM events WHERE format = 'native' ORDER BY occurred_ms, rowid",
                )?
                .query_map([], |row| row.get::<_, String>(0))?
                .collect::<Result<_, _>>()?,
        };
        bodies
            .iter()
            .map(|body| Ok(serde_json::from_str(body)?))
            .collect()
    }

    /// Every stored event of every format, in the report's columns, in arrival order.
    pub fn facts(&self) -> Result<Vec<StoredFact>> {
        let conn = match &self.backend {
            Backend::Postgres(pg) => return pg.facts(),
            Backend::Sqlite(c) => lock(c),
        };
        let mut stmt = conn.prepare(
            "SELECT format, id, occurred_ms, kind, installation, product, version, os, subject,
                    outcome, session, duration_ms, input_tokens, output_tokens, cost_usd, body,
                    cache_read_tokens, cache_write_tokens, estimated_cost_usd, prices, ci
             FROM events ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            let kind: String = r.get(3)?;
            Ok(StoredFact {
                format: r.get(0)?,
                fact: Fact {
                    id: r.get(1)?,
                    occurred_ms: r.get(2)?,
                    kind: known_kind(&kind).unwrap_or("?"),
                    installation: r.get(4)?,
                    product: r.get(5)?,
                    version: r.get(6)?,
                    os: r.get(7)?,
                    subject: r.get(8)?,
                    outcome: r.get(9)?,
                    session: r.get(10)?,
                    duration_ms: r.get(11)?,
                    input_tokens: r.get(12)?,
                    output_tokens: r.get(13)?,
                    cost_usd: r.get(14)?,
                    body: r.get(15)?,
                    cache_read_tokens: r.get(16)?,
                    cache_write_tokens: r.get(17)?,
                    ci: r.get(20)?,
                },
                estimated_cost_usd: r.get(18)?,
                prices: r.get(19)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// What the store holds and what it turned away (see [`CollectorCounts`]).
    pub fn counts(&self) -> Result<CollectorCounts> {
        let conn = match &self.backend {
            Backend::Postgres(pg) => {
                let [
                    batches,
                    events,
                    duplicates,
                    reported_drops,
                    deletions,
                    deleted_events,
                ] = pg.counts()?;
                return Ok(CollectorCounts {
                    batches,
                    events,
                    duplicates,
                    rejected_batches: self.rejected_batches.load(Ordering::Relaxed),
                    reported_drops,
                    dropped_properties: self.dropped_properties.load(Ordering::Relaxed),
                    deletions,
                    deleted_events,
                });
            }
            Backend::Sqlite(c) => lock(c),
        };
        let (batches, duplicates, reported_drops) = conn.query_row(
            // TOTAL, not SUM: a sum past i64::MAX is an error in SQLite, a float here.
            "SELECT COUNT(*), COALESCE(SUM(duplicates), 0), TOTAL(dropped_events) FROM batches",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, f64>(2)?,
                ))
            },
        )?;
        let events = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))?;
        let (deletions, deleted_events) = conn.query_row(
            // Installations, not requests: a request sent again counts once.
            "SELECT COUNT(DISTINCT installation_sha256), COALESCE(SUM(deleted_events), 0)
             FROM deletions",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )?;
        Ok(CollectorCounts {
            batches: batches as u64,
            events: events as u64,
            duplicates: duplicates as u64,
            rejected_batches: self.rejected_batches.load(Ordering::Relaxed),
            // `as` saturates a float that does not fit.
            reported_drops: reported_drops as u64,
            dropped_properties: self.dropped_properties.load(Ordering::Relaxed),
            deletions: deletions as u64,
            deleted_events: deleted_events as u64,
        })
    }
}

/// Whether `location` (`--db`) names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// A transaction that writes, holding SQLite's write lock from its start: it waits its turn
/// (the busy timeout) behind another connection's writes, where a transaction that read
/// first could not take the lock once another had written since its read.
fn write(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave SQLite inconsistent (it has its own
    // transactions), so a poisoned lock is still usable.
    conn.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ingested {
    /// What storing a counts-only upload of `events` did: new, or a retry already stored.
    fn counted(new: bool, events: usize) -> Ingested {
        Ingested {
            accepted: if new { events } else { 0 },
            duplicates: if new { 0 } else { events },
            forgotten: 0,
        }
    }
}

/// What the `deletions` table keeps of an installation id: its SHA-256, in hex. The id is 64
/// random bits, so the hash cannot be turned back into it, yet whoever holds the id (the user
/// asking "was I forgotten?") can find their row.
fn installation_hash(installation_id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(installation_id.as_bytes()))
}

const INSERT: &str = "INSERT OR IGNORE INTO events (id, format, occurred_ms, kind,
        installation, product, version, os, subject, outcome, session, duration_ms,
        input_tokens, output_tokens, cost_usd, body, cache_read_tokens, cache_write_tokens,
        estimated_cost_usd, prices, ci)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
        ?19, ?20, ?21)";

/// Whether `f` is a token event without a reported cost: one whose cost is estimated.
fn to_estimate(f: &Fact) -> bool {
    f.cost_usd.is_none() && TOKEN_KINDS.contains(&f.kind)
}

/// Inserts one event unless its id is stored already: 1 if it was new, 0 if not. A token
/// event without a reported cost gets its cost estimated from `prices`.
fn insert_fact(
    insert: &mut rusqlite::CachedStatement<'_>,
    format: &str,
    f: &Fact,
    prices: &Prices,
) -> rusqlite::Result<usize> {
    let consulted = to_estimate(f).then(|| prices.label());
    insert.execute(params![
        f.id,
        format,
        f.occurred_ms,
        f.kind,
        f.installation,
        f.product,
        f.version,
        f.os,
        f.subject,
        f.outcome,
        f.session,
        f.duration_ms,
        f.input_tokens,
        f.output_tokens,
        f.cost_usd,
        f.body,
        f.cache_read_tokens,
        f.cache_write_tokens,
        prices.estimate(f),
        consulted,
        f.ci,
    ])
}

/// Creates the tables, or brings a database an older collector wrote to this layout.
/// The `ci` column came after layout 3 without changing it (a collector of that layout still
/// writes the table, leaving `ci` at 0): added where it is missing, and filled for the native
/// events, whose bodies say it.
/// Whether the `events` table (if there is one) has the column `name`.
/// Whether the database has the table `name`.
fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn has_column(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM pragma_table_info('events') WHERE name = ?1",
        [name],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
}

fn add_ci_column(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    if has_column(tx, "id")? && !has_column(tx, "ci")? {
        tx.execute_batch(
            "ALTER TABLE events ADD COLUMN ci INTEGER NOT NULL DEFAULT 0;
             UPDATE events SET ci = 1 WHERE format = 'native' AND json_extract(body, '$.ci') = 1;",
        )?;
    }
    Ok(())
}

/// The index each section of the report reads one kind over a time range from, alone.
/// Fills a new `first_seen` table from the events stored (the same text for PostgreSQL).
pub(crate) const FILL_FIRST_SEEN: &str = "INSERT INTO first_seen (installation, product, first_ms)
    SELECT installation, product, MIN(occurred_ms) FROM events GROUP BY installation, product;";

/// Each installation and product of `facts` with its first time among them, in order.
pub(crate) fn first_times(facts: &[&Fact]) -> Vec<(String, String, i64)> {
    let mut first: std::collections::BTreeMap<(&str, &str), i64> = Default::default();
    for f in facts {
        let at = first
            .entry((&f.installation, &f.product))
            .or_insert(f.occurred_ms);
        *at = (*at).min(f.occurred_ms);
    }
    first
        .into_iter()
        .map(|((i, p), ms)| (i.to_string(), p.to_string(), ms))
        .collect()
}

const REPORT_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS events_sections ON events (kind, occurred_ms,
    subject, outcome, duration_ms, input_tokens, output_tokens, cost_usd, estimated_cost_usd,
    prices, session);";

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > LAYOUT {
        anyhow::bail!("the database was written by a newer collector (layout {version})");
    }
    // Under the write lock from the start: another collector of the same file may be writing.
    let tx = write(conn)?;
    let old = version < LAYOUT && has_column(&tx, "event_id")?;
    if old {
        tx.execute_batch(
            "ALTER TABLE events RENAME TO events_v1;
             ALTER TABLE batches RENAME TO batches_v1;",
        )?;
    }
    add_ci_column(&tx)?;
    let first_seen_made = has_table(&tx, "first_seen")?;
    let daily_made = has_table(&tx, "daily_events")?;
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch(&daily::sqlite_schema())?;
    if old {
        tx.execute_batch(
            "INSERT INTO batches SELECT 'native', received_events, duplicates, dropped_events
             FROM batches_v1;
             DROP TABLE batches_v1;",
        )?;
        let bodies: Vec<String> = tx
            .prepare("SELECT body FROM events_v1 ORDER BY rowid")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut kept = 0usize;
        for body in &bodies {
            // Rows this build cannot read stay in events_v1 rather than being lost.
            let Ok(event) = serde_json::from_str::<wire::Event>(body) else {
                continue;
            };
            let Ok(f) = native::fact(&event) else {
                continue;
            };
            insert_fact(
                &mut tx.prepare_cached(INSERT)?,
                "native",
                &f,
                Prices::embedded(),
            )?;
            kept += 1;
        }
        if kept == bodies.len() {
            tx.execute_batch("DROP TABLE events_v1;")?;
        }
    }
    if version == 2 {
        // The same id a record gets now, so one sent again is still a duplicate.
        tx.execute(
            "UPDATE events SET id = printf('t%015d.', occurred_ms) || id
             WHERE format IN ('docker', 'swarm') AND id LIKE 'sha256:%'",
            [],
        )?;
    }
    if version < 4 {
        add_estimates(&tx)?;
    }
    if !first_seen_made {
        tx.execute_batch(FILL_FIRST_SEEN)?;
    }
    if !daily_made {
        daily::fill(&mut |sql, args| sqlite_execute(&tx, sql, args))?;
    }
    // Once every column is there: the sections' covering index, the estimate included.
    tx.execute_batch(REPORT_INDEX)?;
    tx.pragma_update(None, "user_version", LAYOUT)?;
    tx.commit()?;
    Ok(())
}

/// Layout 4: the columns for token events' cache tokens and their estimated cost (added to a
/// table an older collector made), and an estimate from the built-in table for each token
/// event stored without a reported cost (from its input and output tokens: an older
/// collector did not keep the cache tokens).
fn add_estimates(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    if !has_column(tx, "estimated_cost_usd")? {
        tx.execute_batch(
            "ALTER TABLE events ADD COLUMN cache_read_tokens INTEGER;
             ALTER TABLE events ADD COLUMN cache_write_tokens INTEGER;
             ALTER TABLE events ADD COLUMN estimated_cost_usd REAL;
             ALTER TABLE events ADD COLUMN prices TEXT;",
        )?;
    }
    let prices = Prices::embedded();
    let mut select = tx.prepare(
        "SELECT rowid, kind, subject, input_tokens, output_tokens FROM events
         WHERE kind IN ('token_usage', 'session_cost') AND cost_usd IS NULL AND prices IS NULL",
    )?;
    let mut update =
        tx.prepare("UPDATE events SET estimated_cost_usd = ?1, prices = ?2 WHERE rowid = ?3")?;
    let mut rows = select.query([])?;
    while let Some(r) = rows.next()? {
        let kind: String = r.get(1)?;
        let f = Fact {
            kind: known_kind(&kind).unwrap_or("?"),
            subject: r.get(2)?,
            input_tokens: r.get(3)?,
            output_tokens: r.get(4)?,
            ..Fact::default()
        };
        update.execute(params![
            prices.estimate(&f),
            prices.label(),
            r.get::<_, i64>(0)?
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"event_id":"0190a0b0-0000-7000-8000-000000000001","occurred_at":"2026-01-01T00:00:00.000Z","schema_version":1,"source":"cli","environment":"production","installation_id":"install_0123456789abcdef","product":"agent","product_version":"1.0.0","os":"linux","arch":"x86_64","ci":false,"data":{"type":"command","action":"run","outcome":"success","arg_count":0,"flags":[]}}"#;

    /// A database in a fresh directory, as `sql` (an older collector's tables) makes it; the
    /// connection that made it, for more.
    fn older(sql: &str) -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(sql).unwrap();
        (dir, path, conn)
    }

    #[test]
    fn a_database_of_the_first_layout_is_migrated_on_open() {
        let (_dir, path, old) = older(
            // What the collector before the wire formats wrote.
            "CREATE TABLE events (event_id TEXT PRIMARY KEY, occurred_at TEXT NOT NULL,
                     kind TEXT NOT NULL, installation_id TEXT NOT NULL, body TEXT NOT NULL);
                 CREATE TABLE batches (batch_id TEXT NOT NULL, received_events INTEGER NOT NULL,
                     duplicates INTEGER NOT NULL, dropped_events INTEGER NOT NULL);
                 INSERT INTO batches VALUES ('b', 2, 0, 7);",
        );
        {
            for body in [EVENT, r#"{"not":"an event"}"#] {
                old.execute(
                    "INSERT INTO events VALUES (?1, 't', 'command', 'i', ?2)",
                    params![body.len().to_string(), body],
                )
                .unwrap();
            }
            drop(old);
        }
        let store = EventStore::open(Some(&path)).unwrap();
        let events = store.events().unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_id, "0190a0b0-0000-7000-8000-000000000001");
        let facts = store.facts().unwrap();
        assert_eq!(facts[0].fact.subject.as_deref(), Some("run"));
        assert_eq!(facts[0].fact.occurred_ms, 1_767_225_600_000);
        let counts = store.counts().unwrap();
        assert_eq!((counts.batches, counts.reported_drops), (1, 7));
        // The row it could not read is kept, not lost.
        let kept: i64 = store
            .conn()
            .query_row("SELECT COUNT(*) FROM events_v1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 2);
        drop(store);
        // Opening again changes nothing.
        assert_eq!(
            EventStore::open(Some(&path))
                .unwrap()
                .events()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_database_without_the_ci_column_gets_it_filled_from_the_native_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layout3.sqlite3");
        let event = |id: &str, ci: bool| -> wire::Event {
            serde_json::from_str(
                &EVENT
                    .replace("0190a0b0-0000-7000-8000-000000000001", id)
                    .replace(r#""ci":false"#, &format!(r#""ci":{ci}"#)),
            )
            .unwrap()
        };
        {
            let store = EventStore::open(Some(&path)).unwrap();
            store
                .ingest(&wire::Batch {
                    schema: wire::SCHEMA.to_string(),
                    schema_version: 1,
                    batch_id: "b".to_string(),
                    sent_at: "2026-01-01T00:00:00Z".to_string(),
                    dropped_events: 0,
                    events: vec![
                        event("0190a0b0-0000-7000-8000-000000000001", true),
                        event("0190a0b0-0000-7000-8000-000000000002", false),
                    ],
                })
                .unwrap();
            // As a collector of layout 3 left it: no `ci` column.
            store
                .conn()
                .execute_batch("DROP INDEX events_population; ALTER TABLE events DROP COLUMN ci;")
                .unwrap();
        }
        let store = EventStore::open(Some(&path)).unwrap();
        let ci: Vec<bool> = store.facts().unwrap().iter().map(|f| f.fact.ci).collect();
        assert_eq!(ci, [true, false]);
    }

    #[test]
    fn content_ids_of_the_second_layout_get_their_time_first_so_a_resent_record_is_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.sqlite3");
        let body = br#"{"records":[{"event":"command","event_timestamp":1767225600000,"source":"test","properties":{"user_uuid":"u","version":"1.0.0","os":"linux","action":"run","is_success":true}}]}"#;
        let received = crate::ingest::parse(Format::Docker, body, "application/json").unwrap();
        let new_id = received.facts[0].id.clone();
        assert!(new_id.starts_with("t001767225600000.sha256:"), "{new_id}");
        {
            // What a layout-2 collector stored for the same record.
            let store = EventStore::open(Some(&path)).unwrap();
            store.store(Format::Docker, &received).unwrap();
            let conn = store.conn();
            conn.execute("UPDATE events SET id = substr(id, instr(id, '.') + 1)", [])
                .unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
        }
        let store = EventStore::open(Some(&path)).unwrap();
        assert_eq!(store.facts().unwrap()[0].fact.id, new_id);
        let again = store.store(Format::Docker, &received).unwrap();
        assert_eq!((again.accepted, again.duplicates), (0, 1));
    }

    /// Issue 23: a deletion request deletes every row of that installation in every format,
    /// records the id's hash (never the id), and keeps later events of it out.
    #[test]
    fn forgetting_an_installation_deletes_its_rows_in_every_format_and_keeps_late_ones_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("forget.sqlite3");
        let gone = "install_0123456789abcdef";
        let kept = "install_fedcba9876543210";
        let docker = |id: &str, ms: u64| {
            format!(
                r#"{{"records":[{{"event":"command","event_timestamp":{ms},"source":"test","properties":{{"user_uuid":"{id}","version":"1.0.0","os":"linux","action":"run","is_success":true}}}}]}}"#
            )
        };
        let native = |id: &str, n: u8| {
            EVENT
                .replace("install_0123456789abcdef", id)
                .replace("000000000001", &format!("0000000000{n:02}"))
        };
        let store = EventStore::open(Some(&path)).unwrap();
        for (id, n) in [(gone, 1), (gone, 2), (kept, 3)] {
            let event: wire::Event = serde_json::from_str(&native(id, n)).unwrap();
            store.ingest(&batch(event)).unwrap();
        }
        for (id, ms) in [(gone, 1_767_225_600_000u64), (kept, 1_767_225_601_000)] {
            let received = crate::ingest::parse(
                Format::Docker,
                docker(id, ms).as_bytes(),
                "application/json",
            )
            .unwrap();
            store.store(Format::Docker, &received).unwrap();
        }
        assert_eq!(store.counts().unwrap().events, 5);

        assert_eq!(store.forget(gone).unwrap(), 3);
        let left: Vec<String> = store
            .facts()
            .unwrap()
            .into_iter()
            .map(|f| f.fact.installation)
            .collect();
        assert_eq!(left, [kept, kept]);
        let counts = store.counts().unwrap();
        assert_eq!((counts.deletions, counts.deleted_events), (1, 3));
        let recorded: String = store
            .conn()
            .query_row("SELECT installation_sha256 FROM deletions", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(recorded, installation_hash(gone));
        assert!(!recorded.contains(gone));
        drop(store);

        // After a restart, a batch of it that was still in flight is not stored.
        let store = EventStore::open(Some(&path)).unwrap();
        assert!(store.is_forgotten(gone).unwrap() && !store.is_forgotten(kept).unwrap());
        let late: wire::Event = serde_json::from_str(&native(gone, 9)).unwrap();
        let ingested = store.ingest(&batch(late)).unwrap();
        assert_eq!(
            (ingested.accepted, ingested.duplicates, ingested.forgotten),
            (0, 0, 1)
        );
        assert_eq!(store.counts().unwrap().events, 2);
        // Forgetting again (a retried request) deletes nothing more and says so.
        assert_eq!(store.forget(gone).unwrap(), 0);
    }

    fn batch(event: wire::Event) -> wire::Batch {
        wire::Batch {
            schema: wire::SCHEMA.to_string(),
            schema_version: wire::SCHEMA_VERSION,
            batch_id: "0190a0b0-0000-7000-8000-0000000000ff".to_string(),
            sent_at: "2026-01-01T00:00:00Z".to_string(),
            dropped_events: 0,
            events: vec![event],
        }
    }

    #[test]
    fn token_events_without_a_cost_get_one_estimated_and_a_reported_cost_is_kept() {
        let store = EventStore::open(None).unwrap();
        let token = |id: &str, model: &str, cost: Option<f64>| Fact {
            id: id.to_string(),
            kind: "token_usage",
            subject: Some(model.to_string()),
            input_tokens: Some(1_000_000),
            output_tokens: Some(0),
            cache_read_tokens: Some(1_000_000),
            cost_usd: cost,
            ..Fact::default()
        };
        let received = |facts| Received {
            facts,
            ..Received::default()
        };
        store
            .store(
                Format::Native,
                &received(vec![
                    token("a", "gpt-4o", None),
                    token("b", "gpt-4o", Some(0.5)),
                    token("c", "my-local-model", None),
                    Fact {
                        id: "d".into(),
                        kind: "command",
                        ..Fact::default()
                    },
                ]),
            )
            .unwrap();
        let custom = Prices::parse(
            r#"{"name": "mine", "date": "2026-01-31", "models": {"my-local-model": {"input": 1, "output": 2}}}"#,
            None,
        )
        .unwrap();
        store.set_prices(custom);
        store
            .store(
                Format::Native,
                &received(vec![token("e", "my-local-model", None)]),
            )
            .unwrap();
        let got: Vec<_> = store
            .facts()
            .unwrap()
            .into_iter()
            .map(|s| {
                (
                    s.fact.cost_usd,
                    s.fact.cache_read_tokens,
                    s.estimated_cost_usd,
                    s.prices,
                )
            })
            .collect();
        let default = Some("agent-telemetry default (2025-11-24)".to_string());
        assert_eq!(
            got,
            [
                // 1M input at $2.50 and 1M read from the cache at $1.25.
                (None, Some(1_000_000), Some(3.75), default.clone()),
                (Some(0.5), Some(1_000_000), None, None),
                (None, Some(1_000_000), None, default),
                (None, None, None, None),
                // Cache reads priced as input where the table has no cache price.
                (
                    None,
                    Some(1_000_000),
                    Some(2.0),
                    Some("mine (2026-01-31)".into())
                ),
            ]
        );
    }

    #[test]
    fn token_events_of_the_third_layout_get_the_new_columns_and_an_estimate() {
        // The events table as a layout-3 collector made it.
        let (_dir, path, old) = older(
            "CREATE TABLE events (id TEXT PRIMARY KEY, format TEXT NOT NULL,
                     occurred_ms INTEGER NOT NULL, kind TEXT NOT NULL, installation TEXT NOT NULL,
                     product TEXT NOT NULL, version TEXT NOT NULL, os TEXT NOT NULL, subject TEXT,
                     outcome TEXT, session TEXT, duration_ms INTEGER, input_tokens INTEGER,
                     output_tokens INTEGER, cost_usd REAL, body TEXT NOT NULL);
                 INSERT INTO events VALUES
                     ('a', 'native', 1, 'token_usage', 'i', 'p', 'v', 'linux', 'gpt-4o', NULL,
                      NULL, NULL, 1000000, 1000000, NULL, '{}'),
                     ('b', 'native', 2, 'token_usage', 'i', 'p', 'v', 'linux', 'gpt-4o', NULL,
                      NULL, NULL, 1000000, 1000000, 0.25, '{}'),
                     ('c', 'swarm', 3, 'session_cost', 'i', 'p', 'v', 'linux', 'llama', NULL,
                      's', NULL, 10, 10, NULL, '{}'),
                     ('d', 'native', 4, 'command', 'i', 'p', 'v', 'linux', 'run', 'success',
                      NULL, NULL, NULL, NULL, NULL, '{}');
                 PRAGMA user_version = 3;",
        );
        drop(old);
        let store = EventStore::open(Some(&path)).unwrap();
        let got: Vec<_> = store
            .facts()
            .unwrap()
            .into_iter()
            .map(|s| (s.fact.id, s.fact.cost_usd, s.estimated_cost_usd, s.prices))
            .collect();
        let default = Some(Prices::embedded().label().to_string());
        assert_eq!(
            got,
            [
                ("a".to_string(), None, Some(12.5), default.clone()),
                ("b".to_string(), Some(0.25), None, None),
                ("c".to_string(), None, None, default),
                ("d".to_string(), None, None, None),
            ]
        );
        drop(store);
        // Opening again changes nothing, and new events are stored in every column.
        let store = EventStore::open(Some(&path)).unwrap();
        assert_eq!(store.facts().unwrap().len(), 4);
        let version: i64 = store
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, LAYOUT);
    }

    #[test]
    fn a_database_of_a_newer_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite3");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", LAYOUT + 1)
            .unwrap();
        let err = EventStore::open(Some(&path)).err().unwrap();
        assert!(format!("{err:#}").contains("newer collector"), "{err:#}");
    }
}
