//! This project's own JSON batch (see [`crate::wire`]).

use serde::Serialize;

use crate::contract::batch;
use crate::wire::{Batch, HeadView};

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
    /// Starts a batch with `head`'s fields (its envelope included: the events to come must
    /// share it).
    pub fn new(head: &HeadView) -> Result<BatchWriter, serde_json::Error> {
        let mut body = serde_json::to_vec(head)?;
        // `events` is the last field, written as `[]}`: reopen the list.
        debug_assert!(body.ends_with(b"[]}"));
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
