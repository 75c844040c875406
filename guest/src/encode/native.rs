//! This project's own JSON batch (see [`crate::wire`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::contract::batch;
use crate::wire::{Batch, Data};

/// Serializes a batch. The wire types hold only strings, integers, finite floats and enums,
/// so this cannot fail in practice; if it ever did, the caller drops and counts the batch.
pub fn encode(batch: &Batch) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(batch)
}

/// The batch in `body` without its first `through` events (the same header otherwise): what is
/// left of a batch sent in part. `None` if `body` is not a batch.
pub fn rest(body: &[u8], through: usize) -> Option<Vec<u8>> {
    let mut batch = batch::parse(body).ok()?;
    batch.events.drain(..through.min(batch.events.len()));
    encode(&batch).ok()
}

/// An event as a batch writes it, borrowing what is the same for every event of an instance
/// (the envelope) instead of holding a copy per event. It serializes exactly as
/// [`Event`](crate::wire::Event) does (same fields, same order): the golden native batch,
/// written through the pipeline, holds them together byte for byte.
#[derive(Serialize)]
pub struct EventView<'a> {
    pub event_id: &'a str,
    pub occurred_at: &'a str,
    pub schema_version: u32,
    pub source: &'a str,
    pub environment: &'a str,
    pub installation_id: &'a str,
    pub product: &'a str,
    pub product_version: &'a str,
    pub os: &'a str,
    pub arch: &'a str,
    pub ci: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: &'a BTreeMap<String, String>,
    pub data: &'a Data,
}

/// Writes a batch one event at a time, so a batch can stop at a byte bound without
/// serializing any event twice. The result is exactly what [`encode`] makes of the same batch.
pub struct BatchWriter {
    body: Vec<u8>,
    events: usize,
}

pub enum Pushed {
    Added,
    /// It would not fit: the batch is complete without it.
    Full,
    /// It could not be serialized (and is not in the batch).
    Unwritable,
}

impl BatchWriter {
    /// Starts a batch with `header`'s fields; its `events` must be empty.
    pub fn new(header: &Batch) -> Result<BatchWriter, serde_json::Error> {
        let mut body = serde_json::to_vec(header)?;
        // `events` is the last field, written as `[]}`: reopen the list.
        debug_assert!(body.ends_with(b"[]}") && header.events.is_empty());
        body.truncate(body.len() - 2);
        Ok(BatchWriter { body, events: 0 })
    }

    /// Adds `event` unless the batch would then exceed `max_bytes`; the first event is always
    /// added, whatever its size, so every event can be sent.
    pub fn push(&mut self, event: &impl Serialize, max_bytes: usize) -> Pushed {
        // Written straight into the body, and taken back out if it does not fit.
        let mark = self.body.len();
        if self.events > 0 {
            self.body.push(b',');
        }
        if serde_json::to_writer(&mut self.body, event).is_err() {
            self.body.truncate(mark);
            return Pushed::Unwritable;
        }
        let closing = 2;
        if self.events > 0 && self.body.len() + closing > max_bytes {
            self.body.truncate(mark);
            return Pushed::Full;
        }
        self.events += 1;
        Pushed::Added
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.body.extend_from_slice(b"]}");
        self.body
    }
}
