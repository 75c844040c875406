//! Session totals, computed from the events the component saw (the seed systems sent zeros
//! or cumulative costs). Keyed by the session's pseudonym, so no raw id is kept.

use std::collections::HashMap;

use crate::wire::{Data, Outcome, SessionTotals};

/// Sessions tracked at once; beyond this, new sessions end with partial totals.
pub const MAX_OPEN_SESSIONS: usize = 4096;

#[derive(Default)]
pub struct SessionTracker {
    open: HashMap<String, Open>,
}

#[derive(Default)]
struct Open {
    started_at_ms: Option<u64>,
    totals: SessionTotals,
}

impl SessionTracker {
    /// Folds one (already anonymized) event into its session, and completes the totals of a
    /// `session_end`.
    pub fn observe(&mut self, data: &mut Data, now_ms: u64) {
        match data {
            Data::SessionStart { session_id, .. } => {
                self.entry(session_id).started_at_ms = Some(now_ms);
            }
            Data::ToolCall {
                session_id: Some(id),
                outcome,
                ..
            } => {
                let t = &mut self.entry(id).totals;
                t.tool_calls += 1;
                if *outcome != Outcome::Success {
                    t.tool_failures += 1;
                }
            }
            Data::TokenUsage {
                session_id: Some(id),
                input_tokens,
                output_tokens,
                cost_usd,
                ..
            } => {
                let t = &mut self.entry(id).totals;
                t.input_tokens = t.input_tokens.saturating_add(*input_tokens);
                t.output_tokens = t.output_tokens.saturating_add(*output_tokens);
                // A sum that overflowed would serialize as null and spoil the whole batch.
                let sum = t.cost_usd + cost_usd.unwrap_or(0.0);
                if sum.is_finite() {
                    t.cost_usd = sum;
                }
            }
            Data::SessionFailure { session_id, .. } => {
                self.entry(session_id).totals.error_count += 1;
            }
            Data::SessionEnd {
                session_id,
                outcome,
                totals,
                ..
            } => {
                let open = self.open.remove(session_id.as_str()).unwrap_or_default();
                *totals = open.totals;
                totals.duration_ms = open.started_at_ms.map(|start| now_ms.saturating_sub(start));
                if *outcome == Outcome::Failure {
                    totals.error_count += 1;
                }
            }
            _ => {}
        }
    }

    fn entry(&mut self, session_id: &str) -> &mut Open {
        if !self.open.contains_key(session_id) && self.open.len() >= MAX_OPEN_SESSIONS {
            // Forget the oldest-started session rather than grow without bound.
            if let Some(oldest) = self
                .open
                .iter()
                .min_by_key(|(_, o)| o.started_at_ms.unwrap_or(0))
                .map(|(k, _)| k.clone())
            {
                self.open.remove(&oldest);
            }
        }
        self.open.entry(session_id.to_string()).or_default()
    }
}
