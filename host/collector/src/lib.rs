//! The local collector: receives native batches on loopback, validates them against the
//! schema (unknown fields are refused), deduplicates by event id, stores them in SQLite;
//! `report` shows what it stored.

pub mod report;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use agent_telemetry_contract::batch::parse as parse_batch;
use agent_telemetry_contract::wire;
use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rusqlite::{Connection, params};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where batches are posted.
pub const BATCH_PATH: &str = "/v1/batch";
/// Largest request body accepted: well above the component's largest batch.
pub const MAX_BODY_BYTES: usize = 16 << 20;

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

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (it has its own
        // transactions), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a batch's events, skipping ids already stored.
    pub fn ingest(&self, batch: &wire::Batch) -> Result<Ingested> {
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
            params![batch.batch_id, batch.events.len() as i64, duplicates as i64, batch.dropped_events as i64],
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
            "SELECT COUNT(*), COALESCE(SUM(duplicates), 0), COALESCE(SUM(dropped_events), 0) FROM batches",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)),
        )?;
        let events = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))?;
        Ok(CollectorCounts {
            batches: batches as u64,
            events: events as u64,
            duplicates: duplicates as u64,
            rejected_batches: self.rejected_batches.load(Ordering::Relaxed),
            reported_drops: reported_drops as u64,
        })
    }
}

/// A running collector; stops when [`Collector::stop`] is called or it is dropped.
pub struct Collector {
    addr: SocketAddr,
    store: Arc<EventStore>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Collector {
    /// Listens on `bind`, which must be a loopback address (port 0 picks a free port).
    pub async fn start(bind: SocketAddr, store: EventStore) -> Result<Collector> {
        if !bind.ip().is_loopback() {
            bail!("the collector listens on loopback only, not {}", bind.ip());
        }
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let addr = listener.local_addr()?;
        let store = Arc::new(store);
        let app = Router::new()
            .route(BATCH_PATH, post(receive))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(store.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let server = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = server.await {
                tracing::error!(error = %e, "collector stopped with an error");
            }
        });
        Ok(Collector {
            addr,
            store,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to configure as the telemetry endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}{BATCH_PATH}", self.addr)
    }

    pub fn store(&self) -> &EventStore {
        &self.store
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn receive(State(store): State<Arc<EventStore>>, body: Bytes) -> Response {
    let batch = match parse_batch(&body) {
        Ok(batch) => batch,
        Err(e) => {
            store.rejected_batches.fetch_add(1, Ordering::Relaxed);
            return (StatusCode::BAD_REQUEST, format!("{e:#}\n")).into_response();
        }
    };
    match store.ingest(&batch) {
        Ok(Ingested {
            accepted,
            duplicates,
        }) => {
            let body = serde_json::json!({ "accepted": accepted, "duplicates": duplicates });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "collector could not store a batch");
            (StatusCode::INTERNAL_SERVER_ERROR, "storage failed\n").into_response()
        }
    }
}
