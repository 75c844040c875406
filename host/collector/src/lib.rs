//! The local collector: receives native batches on loopback (`server`), validates them
//! against the schema (unknown fields are refused), deduplicates by event id and stores them
//! in SQLite (`store`); `report` shows what it stored.

pub mod report;
mod server;
mod store;

pub use agent_telemetry_contract::batch::parse as parse_batch;
pub use server::{BATCH_PATH, BatchCheck, Collector, CollectorOptions, MAX_BODY_BYTES};
pub use store::{CollectorCounts, EventStore, Ingested};
