//! Agents built against `agent:telemetry@0.1.0` keep running: their `recorder` import is
//! linked beside the current one, from bindings for the frozen `wit/v0.1.0`, and each call is
//! adapted to the current version and handed to the same [`RecorderImport`].
//!
//! A version adds event kinds and fields and never loosens a rule, so an old event becomes
//! the current one with every new field at its "not said" value, and a current report
//! becomes the old one without its new fields. Written out field by field, like
//! `recorder.rs`, so that a field the current WIT adds is a compile error here until it is
//! given its old value.

use wasmtime::component::{HasSelf, Linker};

use super::recorder::RecorderImport;
use super::recorder::from as now;

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "agent",
    imports: { "agent:telemetry/recorder.flush": async },
});

use self::agent::telemetry::recorder as old;

/// Adds the 0.1.0 `recorder` import to an agent linker whose state holds a
/// [`RecorderImport`].
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RecorderImport,
) -> wasmtime::Result<()> {
    old::add_to_linker::<T, HasSelf<RecorderImport>>(linker, get)
}

impl old::Host for RecorderImport {
    fn record(&mut self, event: old::Event) {
        now::Host::record(self, event.into());
    }

    fn record_many(&mut self, events: Vec<old::Event>) {
        now::Host::record_many(self, events.into_iter().map(Into::into).collect());
    }

    async fn flush(&mut self, deadline_ms: u32) -> old::FlushReport {
        now::Host::flush(self, deadline_ms).await.into()
    }

    fn status(&mut self) -> old::StatusReport {
        now::Host::status(self).into()
    }
}

impl From<old::Event> for now::Event {
    fn from(event: old::Event) -> now::Event {
        match event {
            old::Event::Command(c) => now::Event::Command(now::Command {
                action: c.action,
                outcome: c.outcome.into(),
                error: c.error.map(Into::into),
                arg_count: c.arg_count,
                flags: c.flags,
            }),
            old::Event::ToolCall(t) => now::Event::ToolCall(now::ToolCall {
                tool: t.tool,
                session_id: t.session_id,
                agent: t.agent,
                duration_ms: t.duration_ms,
                outcome: t.outcome.into(),
                error: t.error.map(Into::into),
            }),
            old::Event::TokenUsage(t) => now::Event::TokenUsage(now::TokenUsage {
                model: t.model,
                session_id: t.session_id,
                agent: t.agent,
                input_tokens: t.input_tokens,
                output_tokens: t.output_tokens,
                cached_tokens: t.cached_tokens,
                reasoning_tokens: t.reasoning_tokens,
                cost_usd: t.cost_usd,
            }),
            old::Event::SessionStart(s) => now::Event::SessionStart(now::SessionStart {
                session_id: s.session_id,
                agent: s.agent,
                task_id: s.task_id,
            }),
            old::Event::SessionEnd(s) => now::Event::SessionEnd(now::SessionEnd {
                session_id: s.session_id,
                agent: s.agent,
                task_id: s.task_id,
                outcome: s.outcome.into(),
                error: s.error.map(Into::into),
                tasks_processed: None,
            }),
            old::Event::SessionCost(s) => now::Event::SessionCost(now::SessionCost {
                session_id: s.session_id,
                agent: s.agent,
                model: s.model,
                cost_usd: s.cost_usd,
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                cache_read_tokens: 0,
                cache_write_tokens: 0,
                reasoning_tokens: 0,
                thinking_tokens: 0,
                turns: None,
                is_error: false,
            }),
            old::Event::SessionFailure(s) => now::Event::SessionFailure(now::SessionFailure {
                session_id: s.session_id,
                agent: s.agent,
                // 0.1.0 said a rate limit only through the error kind.
                was_rate_limited: matches!(s.error, old::ErrorKind::RateLimited),
                error: s.error.into(),
                provider: None,
            }),
            old::Event::Server(s) => now::Event::Server(now::Server {
                state: match s.state {
                    old::ServerState::Started => now::ServerState::Started,
                    old::ServerState::Shutdown => now::ServerState::Shutdown,
                },
                uptime_ms: None,
                sessions_processed: None,
            }),
            old::Event::AgentRegistered(a) => now::Event::AgentRegistered(now::AgentRegistered {
                agent: a.agent,
                role: None,
                capabilities: Vec::new(),
                is_reconnect: false,
            }),
            old::Event::Task(t) => now::Event::Task(now::Task {
                task_id: t.task_id,
                state: t.state.into(),
                previous_state: t.previous_state.map(Into::into),
                agent: t.agent,
                source: t.source,
                tags: t.tags,
                has_parent: t.has_parent,
                priority: t.priority,
                duration_ms: t.duration_ms,
            }),
        }
    }
}

impl From<old::Outcome> for now::Outcome {
    fn from(outcome: old::Outcome) -> now::Outcome {
        match outcome {
            old::Outcome::Success => now::Outcome::Success,
            old::Outcome::Failure => now::Outcome::Failure,
            old::Outcome::Cancelled => now::Outcome::Cancelled,
        }
    }
}

impl From<old::ErrorKind> for now::ErrorKind {
    fn from(kind: old::ErrorKind) -> now::ErrorKind {
        use now::ErrorKind as N;
        use old::ErrorKind as O;
        match kind {
            O::Timeout => N::Timeout,
            O::Cancelled => N::Cancelled,
            O::InvalidInput => N::InvalidInput,
            O::NotFound => N::NotFound,
            O::PermissionDenied => N::PermissionDenied,
            O::Authentication => N::Authentication,
            O::RateLimited => N::RateLimited,
            O::Network => N::Network,
            O::Unavailable => N::Unavailable,
            O::Tool => N::Tool,
            O::Model => N::Model,
            O::Internal => N::Internal,
            O::Other => N::Other,
        }
    }
}

impl From<old::TaskState> for now::TaskState {
    fn from(state: old::TaskState) -> now::TaskState {
        use now::TaskState as N;
        use old::TaskState as O;
        match state {
            O::Created => N::Created,
            O::Started => N::Started,
            O::Claimed => N::Claimed,
            O::Completed => N::Completed,
            O::Failed => N::Failed,
            O::Cancelled => N::Cancelled,
        }
    }
}

impl From<now::FlushReport> for old::FlushReport {
    fn from(r: now::FlushReport) -> old::FlushReport {
        let now::FlushReport {
            sent,
            dropped,
            rejected,
            failed,
            pending,
            retry_after_ms,
            // Agents of 0.1.0 do not know of formats that leave events out.
            left_out: _,
        } = r;
        old::FlushReport {
            sent,
            dropped,
            rejected,
            failed,
            pending,
            retry_after_ms,
        }
    }
}

impl From<now::StatusReport> for old::StatusReport {
    fn from(r: now::StatusReport) -> old::StatusReport {
        let now::StatusReport {
            enabled,
            reason,
            queued,
            recorded,
            sent,
            dropped,
            rejected,
            failed,
            left_out: _,
        } = r;
        old::StatusReport {
            enabled,
            reason,
            queued,
            recorded,
            sent,
            dropped,
            rejected,
            failed,
        }
    }
}
