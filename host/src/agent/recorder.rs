//! The agent's `recorder` import, from bindings generated for `world agent`: the generated
//! host trait is implemented on [`RecorderImport`], a part of the agent's store state, which
//! forwards every call to the [`Recorder`] it holds (a `Telemetry` handle, for agents this host
//! runs).
//!
//! wasmtime generates separate Rust types for an interface's imports and its exports, though
//! they have the same shape (bytecodealliance/wasmtime#7485). Agents call the import side; the
//! telemetry component is called on the export side; the conversions between them are here,
//! written out field by field so that a field the WIT adds is a compile error until it is
//! carried over.

use std::pin::Pin;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker};

use crate::runtime::bindings::recorder as to;

/// What an agent's `recorder` import calls. `Telemetry` implements it; none of it may wait on
/// the network but `flush`, which is bounded by its deadline.
pub trait Recorder: Send + Sync + 'static {
    fn record(&self, event: to::Event);
    fn record_many(&self, events: Vec<to::Event>);
    /// Events the import refused (more in one call than it takes): counted as dropped.
    fn dropped(&self, events: u64);
    fn flush(
        &self,
        deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = to::FlushReport> + Send + '_>>;
    fn status(&self) -> to::StatusReport;
    /// Where this recorder keeps state (its identity directory, spool, debug log): an agent
    /// it serves is never given them, on top of the user's own (see [`super::state_dirs`]).
    /// No default: a recorder that wraps another forwards its places.
    fn state_dirs(&self) -> Vec<std::path::PathBuf>;
}

/// Events one `record-many` call may hand over; the rest are dropped and counted (the bytes
/// one call may hand over are bounded too, by the store's hostcall fuel).
pub const MAX_EVENTS_PER_CALL: usize = 10_000;

/// The import's side of an agent's store: the [`Recorder`] its calls go to.
pub struct RecorderImport {
    recorder: Box<dyn Recorder>,
    /// See [`AgentLimits::min_flush_interval`](super::AgentLimits::min_flush_interval).
    min_flush_interval: Duration,
    last_flush: Option<Instant>,
}

impl RecorderImport {
    pub fn new(recorder: impl Recorder) -> RecorderImport {
        RecorderImport {
            recorder: Box::new(recorder),
            min_flush_interval: super::AgentLimits::default().min_flush_interval,
            last_flush: None,
        }
    }

    pub fn with_min_flush_interval(mut self, interval: Duration) -> RecorderImport {
        self.min_flush_interval = interval;
        self
    }

    /// The agent's `flush`, coalesced: within `min_flush_interval` of the last one that was
    /// let through, nothing is sent and the report says what is pending and, as
    /// `retry-after-ms`, when the next flush will be let through. The events are not lost:
    /// the component sends them with its next batch, and the host flushes after the agent
    /// exits.
    async fn flush_coalesced(&mut self, deadline: Duration) -> to::FlushReport {
        let now = Instant::now();
        if let Some(wait) = self
            .last_flush
            .map(|last| self.min_flush_interval.saturating_sub(now - last))
            .filter(|wait| !wait.is_zero())
        {
            let status = self.recorder.status();
            return to::FlushReport {
                pending: status.queued,
                retry_after_ms: u32::try_from(wait.as_millis().max(1)).unwrap_or(u32::MAX),
                ..crate::delivery::sender::nothing_flushed()
            };
        }
        self.last_flush = Some(now);
        self.recorder.flush(deadline).await
    }
}

wasmtime::component::bindgen!({
    path: "../wit",
    world: "agent",
    imports: { "agent:telemetry/recorder.flush": async },
});

pub(super) use self::agent::telemetry::recorder as from;

/// Adds the `recorder` import to an agent linker whose state holds a [`RecorderImport`].
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RecorderImport,
) -> wasmtime::Result<()> {
    from::add_to_linker::<T, HasSelf<RecorderImport>>(linker, get)
}

impl from::Host for RecorderImport {
    fn record(&mut self, event: from::Event) {
        self.recorder.record(event.into());
    }

    fn record_many(&mut self, events: Vec<from::Event>) {
        let refused = events.len().saturating_sub(MAX_EVENTS_PER_CALL);
        if refused > 0 {
            self.recorder.dropped(refused as u64);
        }
        self.recorder.record_many(
            events
                .into_iter()
                .take(MAX_EVENTS_PER_CALL)
                .map(Into::into)
                .collect(),
        );
    }

    async fn flush(&mut self, deadline_ms: u32) -> from::FlushReport {
        let deadline = Duration::from_millis(deadline_ms.into());
        self.flush_coalesced(deadline).await.into()
    }

    fn status(&mut self) -> from::StatusReport {
        let mut report: from::StatusReport = self.recorder.status().into();
        // The host's reason may name a path or a setting; the agent learns on or off only.
        report.reason = if report.enabled { "on" } else { "off" }.to_string();
        report
    }
}

impl From<from::Event> for to::Event {
    fn from(event: from::Event) -> to::Event {
        match event {
            from::Event::Command(c) => to::Event::Command(to::Command {
                action: c.action,
                outcome: c.outcome.into(),
                error: c.error.map(Into::into),
                arg_count: c.arg_count,
                flags: c.flags,
            }),
            from::Event::ToolCall(t) => to::Event::ToolCall(to::ToolCall {
                tool: t.tool,
                session_id: t.session_id,
                agent: t.agent,
                duration_ms: t.duration_ms,
                outcome: t.outcome.into(),
                error: t.error.map(Into::into),
            }),
            from::Event::TokenUsage(t) => to::Event::TokenUsage(to::TokenUsage {
                model: t.model,
                session_id: t.session_id,
                agent: t.agent,
                input_tokens: t.input_tokens,
                output_tokens: t.output_tokens,
                cached_tokens: t.cached_tokens,
                reasoning_tokens: t.reasoning_tokens,
                cost_usd: t.cost_usd,
            }),
            from::Event::SessionStart(s) => to::Event::SessionStart(to::SessionStart {
                session_id: s.session_id,
                agent: s.agent,
                task_id: s.task_id,
            }),
            from::Event::SessionEnd(s) => to::Event::SessionEnd(to::SessionEnd {
                session_id: s.session_id,
                agent: s.agent,
                task_id: s.task_id,
                outcome: s.outcome.into(),
                error: s.error.map(Into::into),
                tasks_processed: s.tasks_processed,
            }),
            from::Event::SessionCost(s) => to::Event::SessionCost(to::SessionCost {
                session_id: s.session_id,
                agent: s.agent,
                model: s.model,
                cost_usd: s.cost_usd,
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                cache_read_tokens: s.cache_read_tokens,
                cache_write_tokens: s.cache_write_tokens,
                reasoning_tokens: s.reasoning_tokens,
                thinking_tokens: s.thinking_tokens,
                turns: s.turns,
                is_error: s.is_error,
            }),
            from::Event::SessionFailure(s) => to::Event::SessionFailure(to::SessionFailure {
                session_id: s.session_id,
                agent: s.agent,
                error: s.error.into(),
                was_rate_limited: s.was_rate_limited,
                provider: s.provider,
            }),
            from::Event::Server(s) => to::Event::Server(to::Server {
                state: match s.state {
                    from::ServerState::Started => to::ServerState::Started,
                    from::ServerState::Shutdown => to::ServerState::Shutdown,
                },
                uptime_ms: s.uptime_ms,
                sessions_processed: s.sessions_processed,
            }),
            from::Event::AgentRegistered(a) => to::Event::AgentRegistered(to::AgentRegistered {
                agent: a.agent,
                role: a.role,
                capabilities: a.capabilities,
                is_reconnect: a.is_reconnect,
            }),
            from::Event::Task(t) => to::Event::Task(to::Task {
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
            from::Event::TaskSessionCompleted(t) => {
                to::Event::TaskSessionCompleted(to::TaskSessionCompleted {
                    task_id: t.task_id,
                    agent: t.agent,
                    exit_code: t.exit_code,
                    is_error: t.is_error,
                    duration_ms: t.duration_ms,
                    provider: t.provider,
                    harness: t.harness,
                    model: t.model,
                })
            }
            from::Event::Workflow(w) => to::Event::Workflow(to::Workflow {
                workflow_id: w.workflow_id,
                state: match w.state {
                    from::WorkflowState::Created => to::WorkflowState::Created,
                    from::WorkflowState::Deleted => to::WorkflowState::Deleted,
                    from::WorkflowState::Started => to::WorkflowState::Started,
                    from::WorkflowState::Completed => to::WorkflowState::Completed,
                    from::WorkflowState::Failed => to::WorkflowState::Failed,
                },
                node_count: w.node_count,
                source: w.source,
                trigger: w.trigger,
                duration_ms: w.duration_ms,
                steps_completed: w.steps_completed,
                steps_failed: w.steps_failed,
            }),
            from::Event::Schedule(s) => to::Event::Schedule(to::Schedule {
                state: match s.state {
                    from::ScheduleState::Executed => to::ScheduleState::Executed,
                    from::ScheduleState::Error => to::ScheduleState::Error,
                },
                schedule_type: s.schedule_type,
                triggered_workflows: s.triggered_workflows,
                was_recovered: s.was_recovered,
                consecutive_errors: s.consecutive_errors,
            }),
            from::Event::Compaction(c) => to::Event::Compaction(to::Compaction {
                session_id: c.session_id,
                agent: c.agent,
                trigger: match c.trigger {
                    from::CompactionTrigger::Auto => to::CompactionTrigger::Auto,
                    from::CompactionTrigger::Manual => to::CompactionTrigger::Manual,
                    from::CompactionTrigger::AutoInferred => to::CompactionTrigger::AutoInferred,
                },
                pre_compact_tokens: c.pre_compact_tokens,
                context_total_tokens: c.context_total_tokens,
            }),
        }
    }
}

impl From<from::Outcome> for to::Outcome {
    fn from(outcome: from::Outcome) -> to::Outcome {
        match outcome {
            from::Outcome::Success => to::Outcome::Success,
            from::Outcome::Failure => to::Outcome::Failure,
            from::Outcome::Cancelled => to::Outcome::Cancelled,
        }
    }
}

impl From<from::ErrorKind> for to::ErrorKind {
    fn from(kind: from::ErrorKind) -> to::ErrorKind {
        use from::ErrorKind as F;
        use to::ErrorKind as T;
        match kind {
            F::Timeout => T::Timeout,
            F::Cancelled => T::Cancelled,
            F::InvalidInput => T::InvalidInput,
            F::NotFound => T::NotFound,
            F::PermissionDenied => T::PermissionDenied,
            F::Authentication => T::Authentication,
            F::RateLimited => T::RateLimited,
            F::Network => T::Network,
            F::Unavailable => T::Unavailable,
            F::Tool => T::Tool,
            F::Model => T::Model,
            F::Internal => T::Internal,
            F::Other => T::Other,
        }
    }
}

impl From<from::TaskState> for to::TaskState {
    fn from(state: from::TaskState) -> to::TaskState {
        use from::TaskState as F;
        use to::TaskState as T;
        match state {
            F::Created => T::Created,
            F::Started => T::Started,
            F::Claimed => T::Claimed,
            F::Completed => T::Completed,
            F::Failed => T::Failed,
            F::Cancelled => T::Cancelled,
        }
    }
}

impl From<to::FlushReport> for from::FlushReport {
    fn from(r: to::FlushReport) -> from::FlushReport {
        let to::FlushReport {
            sent,
            dropped,
            rejected,
            failed,
            pending,
            retry_after_ms,
            left_out,
        } = r;
        from::FlushReport {
            sent,
            dropped,
            rejected,
            failed,
            pending,
            retry_after_ms,
            left_out,
        }
    }
}

impl From<to::StatusReport> for from::StatusReport {
    fn from(r: to::StatusReport) -> from::StatusReport {
        let to::StatusReport {
            enabled,
            reason,
            queued,
            recorded,
            sent,
            dropped,
            rejected,
            failed,
            left_out,
        } = r;
        from::StatusReport {
            enabled,
            reason,
            queued,
            recorded,
            sent,
            dropped,
            rejected,
            failed,
            left_out,
        }
    }
}
