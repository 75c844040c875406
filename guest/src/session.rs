//! Session totals, computed from the events the component saw (the seed systems sent zeros
//! or cumulative costs). Keyed by the session's pseudonym, so no raw id is kept.

use std::collections::HashMap;

use crate::anonymize::coarse_duration_ms;
use crate::wire::{Data, Outcome, SessionTotals};

/// Sessions tracked at once; beyond this, new sessions end with partial totals.
pub const MAX_OPEN_SESSIONS: usize = 4096;

#[derive(Default)]
pub struct SessionTracker {
    /// By pseudonym: keyed hashes the agent cannot aim at one bucket, so a fast hash will do.
    open: HashMap<String, Open, foldhash::fast::FixedState>,
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
                t.tool_calls = t.tool_calls.saturating_add(1);
                if *outcome != Outcome::Success {
                    t.tool_failures = t.tool_failures.saturating_add(1);
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
                // A sum that overflowed would serialize as null and spoil the whole batch; one
                // past the bound of a cost would be refused by the collector.
                let sum = t.cost_usd + cost_usd.unwrap_or(0.0);
                if sum.is_finite() && sum <= agent_telemetry_contract::catalogue::MAX_COST_USD {
                    t.cost_usd = sum;
                }
            }
            Data::SessionFailure { session_id, .. } => {
                let t = &mut self.entry(session_id).totals;
                t.error_count = t.error_count.saturating_add(1);
            }
            Data::SessionEnd {
                session_id,
                outcome,
                totals,
                ..
            } => {
                let open = self.open.remove(session_id.as_str()).unwrap_or_default();
                *totals = open.totals;
                // Coarsened like every duration on the wire (a timing channel, see `anonymize`).
                totals.duration_ms = open
                    .started_at_ms
                    .map(|start| coarse_duration_ms(now_ms.saturating_sub(start)));
                if *outcome == Outcome::Failure {
                    totals.error_count = totals.error_count.saturating_add(1);
                }
            }
            _ => {}
        }
    }

    fn entry(&mut self, session_id: &str) -> &mut Open {
        // An open session (nearly every event's) is found without building its key.
        if self.open.contains_key(session_id) {
            return self.open.get_mut(session_id).expect("just looked up");
        }
        if self.open.len() >= MAX_OPEN_SESSIONS {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, cost: Option<f64>) -> Data {
        Data::TokenUsage {
            model: "gpt-4o".into(),
            session_id: Some("session_1".into()),
            agent: None,
            input_tokens: input,
            output_tokens: output,
            cached_tokens: 0,
            reasoning_tokens: 0,
            cost_usd: cost,
        }
    }

    fn end(tracker: &mut SessionTracker, now_ms: u64) -> SessionTotals {
        let mut data = Data::SessionEnd {
            session_id: "session_1".into(),
            agent: None,
            task_id: None,
            outcome: Outcome::Success,
            error: None,
            tasks_processed: None,
            totals: SessionTotals::default(),
        };
        tracker.observe(&mut data, now_ms);
        match data {
            Data::SessionEnd { totals, .. } => totals,
            _ => unreachable!(),
        }
    }

    #[test]
    fn token_totals_saturate_at_u64_max() {
        let mut t = SessionTracker::default();
        for _ in 0..3 {
            t.observe(&mut usage(u64::MAX, u64::MAX / 2 + 1, None), 0);
        }
        let totals = end(&mut t, 0);
        assert_eq!(
            (totals.input_tokens, totals.output_tokens),
            (u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn a_cost_sum_past_the_bound_of_a_cost_is_left_out() {
        let mut t = SessionTracker::default();
        t.observe(&mut usage(1, 1, Some(600_000.0)), 0);
        // 1.2 million dollars, which the collector would refuse, and infinity: left out.
        t.observe(&mut usage(1, 1, Some(600_000.0)), 0);
        t.observe(&mut usage(1, 1, Some(f64::MAX)), 0);
        t.observe(&mut usage(1, 1, None), 0);
        t.observe(&mut usage(1, 1, Some(0.5)), 0);
        assert_eq!(end(&mut t, 0).cost_usd, 600_000.5);
    }

    #[test]
    fn the_session_duration_is_coarsened() {
        let mut t = SessionTracker::default();
        let mut start = Data::SessionStart {
            session_id: "session_1".into(),
            agent: None,
            task_id: None,
        };
        t.observe(&mut start, 1_000);
        assert_eq!(end(&mut t, 2_234).duration_ms, Some(1_200));
    }
}
