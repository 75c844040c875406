//! This project's own JSON batch (see [`crate::wire`]).

use crate::wire::Batch;

/// Serializes a batch. The wire types hold only strings, integers, finite floats and enums,
/// so this cannot fail in practice; if it ever did, the caller drops and counts the batch.
pub fn encode(batch: &Batch) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(batch)
}
