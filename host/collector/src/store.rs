//! Where the collector keeps what it received: SQLite (a file, or memory), one row an event,
//! deduplicated by event id, and one row a batch.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use agent_telemetry_contract::wire;
use anyhow::{Context, Result};
use rusqlite::{Connection, params};

/// Received events, in SQLite (a file, or memory).
pub struct EventStore {
    conn: Mutex<Connection>,
    rejected_batches: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    pub accepted: usize,
    pub duplicates: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CollectorCounts {
    pub batches: u64,
    pub events: u64,
    pub duplicates: u64,
    pub rejected_batches: u64,
    /// Sum of the `dropped_events` the senders reported.
    pub reported_drops: u64,
}

impl EventStore {
    pub fn open(path: Option<&Path>) -> Result<EventStore> {
        let conn = match path {
            Some(p) => {
                Connection::open(p).with_context(|| format!("cannot open {}", p.display()))?
            }
            None => Connection::open_in_memory()?,
        };
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS events (
                 event_id TEXT PRIMARY KEY,
                 occurred_at TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 installation_id TEXT NOT NULL,
                 body TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS batches (
                 batch_id TEXT NOT NULL,
                 received_events INTEGER NOT NULL,
                 duplicates INTEGER NOT NULL,
                 dropped_events INTEGER NOT NULL
             );",
        )?;
        Ok(EventStore {
            conn: Mutex::new(conn),
            rejected_batches: AtomicU64::new(0),
        })
    }

    /// Counts a batch refused as invalid.
    pub fn note_rejected(&self) {
        self.rejected_batches.fetch_add(1, Ordering::Relaxed);
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (it has its own
        // transactions), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a batch's events, skipping ids already stored. Its numbers must fit SQLite's
    /// integers: a `dropped_events` past `i64::MAX` is refused, not wrapped.
    pub fn ingest(&self, batch: &wire::Batch) -> Result<Ingested> {
        let dropped = i64::try_from(batch.dropped_events)
            .map_err(|_| anyhow::anyhow!("dropped_events is out of range"))?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let mut accepted = 0;
        for event in &batch.events {
            accepted += tx.execute(
                "INSERT OR IGNORE INTO events (event_id, occurred_at, kind, installation_id, body)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    event.event_id,
                    event.occurred_at,
                    event.data.kind(),
                    event.installation_id,
                    serde_json::to_string(event)?
                ],
            )?;
        }
        let duplicates = batch.events.len() - accepted;
        tx.execute(
            "INSERT INTO batches (batch_id, received_events, duplicates, dropped_events) VALUES (?1, ?2, ?3, ?4)",
            params![batch.batch_id, batch.events.len() as i64, duplicates as i64, dropped],
        )?;
        tx.commit()?;
        Ok(Ingested {
            accepted,
            duplicates,
        })
    }

    /// Every stored event, oldest first (arrival order within the same millisecond).
    pub fn events(&self) -> Result<Vec<wire::Event>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT body FROM events ORDER BY occurred_at, rowid")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        rows.map(|body| Ok(serde_json::from_str(&body?)?)).collect()
    }

    pub fn counts(&self) -> Result<CollectorCounts> {
        let conn = self.conn();
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
        Ok(CollectorCounts {
            batches: batches as u64,
            events: events as u64,
            duplicates: duplicates as u64,
            rejected_batches: self.rejected_batches.load(Ordering::Relaxed),
            // `as` saturates a float that does not fit.
            reported_drops: reported_drops as u64,
        })
    }
}
