//! What a report reads from one native event: what it is about (a command's action, a tool, a
//! model, a state), its outcome, duration, tokens and cost. The collector's report columns and
//! the host's counts-only mode ([`crate::counts`]) both read events through [`Data::summary`],
//! so counts folded on the machine add up to what the same events stored one by one report.

use crate::wire::{Data, Outcome, name};

/// An event's report columns (its kind is [`Data::kind`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary<'a> {
    /// What it is about: a command's action, a tool, a model, an error kind, a state...
    pub subject: Option<String>,
    /// `success`, `failure`, `cancelled`... for commands, tool calls, sessions and task
    /// sessions.
    pub outcome: Option<String>,
    /// The session it belongs to, when it names one (never folded into counts).
    pub session: Option<&'a str>,
    /// How long it took, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Input tokens, for the events that count them.
    pub input_tokens: Option<u64>,
    /// Output tokens, for the events that count them.
    pub output_tokens: Option<u64>,
    /// Input tokens read from a prompt cache, for the events that count them.
    pub cache_read_tokens: Option<u64>,
    /// Input tokens written to a prompt cache, for the events that count them.
    pub cache_write_tokens: Option<u64>,
    /// Cost in US dollars, for the events that carry one.
    pub cost_usd: Option<f64>,
}

impl Data {
    /// This event's report columns.
    pub fn summary(&self) -> Summary<'_> {
        let outcome = |o: &Outcome| Some(name(o));
        let mut s = Summary::default();
        match self {
            Data::Command {
                action, outcome: o, ..
            } => {
                s.subject = Some(action.clone());
                s.outcome = outcome(o);
            }
            Data::ToolCall {
                tool,
                session_id,
                duration_ms,
                outcome: o,
                ..
            } => {
                s.subject = Some(tool.clone());
                s.session = session_id.as_deref();
                s.duration_ms = Some(*duration_ms);
                s.outcome = outcome(o);
            }
            Data::TokenUsage {
                model,
                session_id,
                input_tokens,
                output_tokens,
                cached_tokens,
                cost_usd,
                ..
            } => {
                s.subject = Some(model.clone());
                s.session = session_id.as_deref();
                s.input_tokens = Some(*input_tokens);
                s.output_tokens = Some(*output_tokens);
                s.cache_read_tokens = Some(*cached_tokens);
                s.cost_usd = *cost_usd;
            }
            Data::SessionStart { session_id, .. } => s.session = Some(session_id),
            Data::SessionEnd {
                session_id,
                outcome: o,
                totals,
                ..
            } => {
                s.session = Some(session_id);
                s.outcome = outcome(o);
                s.duration_ms = totals.duration_ms;
                s.input_tokens = Some(totals.input_tokens);
                s.output_tokens = Some(totals.output_tokens);
                s.cost_usd = Some(totals.cost_usd);
            }
            Data::SessionCost {
                session_id,
                model,
                cost_usd,
                input_tokens,
                output_tokens,
                cache_read_tokens,
                cache_write_tokens,
                ..
            } => {
                s.session = Some(session_id);
                s.subject = model.clone();
                s.input_tokens = Some(*input_tokens);
                s.output_tokens = Some(*output_tokens);
                s.cache_read_tokens = Some(*cache_read_tokens);
                s.cache_write_tokens = Some(*cache_write_tokens);
                s.cost_usd = *cost_usd;
            }
            Data::SessionFailure {
                session_id, error, ..
            } => {
                s.session = Some(session_id);
                s.subject = Some(name(error));
            }
            Data::Server { state, .. } => s.subject = Some(name(state)),
            Data::AgentRegistered { agent, .. } => s.subject = Some(agent.clone()),
            Data::Task {
                state, duration_ms, ..
            } => {
                s.subject = Some(name(state));
                s.duration_ms = *duration_ms;
            }
            Data::TaskSessionCompleted {
                model,
                is_error,
                duration_ms,
                ..
            } => {
                s.subject = model.clone();
                s.outcome = Some(if *is_error { "failure" } else { "success" }.to_string());
                s.duration_ms = *duration_ms;
            }
            Data::Workflow {
                state, duration_ms, ..
            } => {
                s.subject = Some(name(state));
                s.duration_ms = *duration_ms;
            }
            Data::Schedule { state, .. } => s.subject = Some(name(state)),
            Data::Compaction {
                session_id,
                trigger,
                ..
            } => {
                s.session = session_id.as_deref();
                s.subject = Some(name(trigger));
            }
        }
        s
    }
}
