//! The local collector: receives every wire format on loopback at the path its system posts
//! to (`server`), checks each body (`ingest`: the native batch against its schema, unknown
//! fields refused), deduplicates by event id (or content hash) and stores in SQLite
//! (`store`), estimating the cost of token events that report none from a price table
//! (`prices`); `report` summarizes what it stored as text, JSON or an HTML page.

#![warn(missing_docs)]

pub mod ingest;
pub mod prices;
pub mod report;
mod server;
mod store;

pub use agent_telemetry_contract::batch::parse as parse_batch;
pub use ingest::Format;
pub use prices::Prices;
pub use server::{BATCH_PATH, BatchCheck, Collector, CollectorOptions, MAX_BODY_BYTES};
pub use store::{
    CollectorCounts, EventStore, Full, Ingested, StoredFact, describe_postgres_url, is_postgres,
};
