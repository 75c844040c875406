//! From a WIT event to its wire form. Each string field goes through the anonymizer rule
//! that fits what it is: a name (`identifier`), an id (`pseudonym`), an agent (`agent`), or
//! a flag list (`flags`). Numbers are held to their rules here too: costs must be finite and
//! non-negative, durations are coarsened (a timing channel, see `anonymize`); errors are
//! enums already.

use crate::anonymize::{self, Anonymizer};
use crate::bindings::exports::agent::telemetry::recorder as wit;
use crate::wire::{self, Data};

pub fn to_wire(a: &Anonymizer, event: &wit::Event) -> Data {
    let agent = |v: &Option<String>| v.as_deref().map(|v| a.agent(v));
    let session = |v: &str| a.pseudonym("session", v);
    let task = |v: &str| a.pseudonym("task", v);
    let name = |v: &Option<String>| v.as_deref().map(|v| a.identifier(v));
    match event {
        wit::Event::Command(c) => Data::Command {
            action: a.identifier(&c.action),
            outcome: outcome(c.outcome),
            error: c.error.map(error_kind),
            arg_count: c.arg_count,
            flags: a.flags(&c.flags),
        },
        wit::Event::ToolCall(t) => Data::ToolCall {
            tool: a.identifier(&t.tool),
            session_id: t.session_id.as_deref().map(session),
            agent: agent(&t.agent),
            duration_ms: anonymize::coarse_duration_ms(t.duration_ms),
            outcome: outcome(t.outcome),
            error: t.error.map(error_kind),
        },
        wit::Event::TokenUsage(t) => Data::TokenUsage {
            model: a.identifier(&t.model),
            session_id: t.session_id.as_deref().map(session),
            agent: agent(&t.agent),
            input_tokens: t.input_tokens,
            output_tokens: t.output_tokens,
            cached_tokens: t.cached_tokens,
            reasoning_tokens: t.reasoning_tokens,
            cost_usd: t.cost_usd.and_then(anonymize::cost),
        },
        wit::Event::SessionStart(s) => Data::SessionStart {
            session_id: session(&s.session_id),
            agent: agent(&s.agent),
            task_id: s.task_id.as_deref().map(task),
        },
        wit::Event::SessionEnd(s) => Data::SessionEnd {
            session_id: session(&s.session_id),
            agent: agent(&s.agent),
            task_id: s.task_id.as_deref().map(task),
            outcome: outcome(s.outcome),
            error: s.error.map(error_kind),
            tasks_processed: s.tasks_processed,
            // Filled in by the session tracker, which has seen the session's other events.
            totals: wire::SessionTotals::default(),
        },
        wit::Event::SessionCost(s) => Data::SessionCost {
            session_id: session(&s.session_id),
            agent: agent(&s.agent),
            model: s.model.as_deref().map(|m| a.identifier(m)),
            cost_usd: anonymize::cost(s.cost_usd),
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cache_read_tokens: s.cache_read_tokens,
            cache_write_tokens: s.cache_write_tokens,
            reasoning_tokens: s.reasoning_tokens,
            thinking_tokens: s.thinking_tokens,
            turns: s.turns,
            is_error: s.is_error,
        },
        wit::Event::SessionFailure(s) => Data::SessionFailure {
            session_id: session(&s.session_id),
            agent: agent(&s.agent),
            error: error_kind(s.error),
            was_rate_limited: s.was_rate_limited,
            provider: name(&s.provider),
        },
        wit::Event::Server(s) => Data::Server {
            state: match s.state {
                wit::ServerState::Started => wire::ServerState::Started,
                wit::ServerState::Shutdown => wire::ServerState::Shutdown,
            },
            // Durations are coarsened like every other (a timing channel).
            uptime_ms: s.uptime_ms.map(anonymize::coarse_duration_ms),
            sessions_processed: s.sessions_processed,
        },
        wit::Event::AgentRegistered(r) => Data::AgentRegistered {
            agent: a.agent(&r.agent),
            role: name(&r.role),
            capabilities: a.identifiers(&r.capabilities),
            is_reconnect: r.is_reconnect,
        },
        wit::Event::Task(t) => Data::Task {
            task_id: task(&t.task_id),
            state: task_state(t.state),
            previous_state: t.previous_state.map(task_state),
            agent: agent(&t.agent),
            source: t.source.as_deref().map(|s| a.identifier(s)),
            tags: a.identifiers(&t.tags),
            has_parent: t.has_parent,
            priority: t.priority,
            duration_ms: t.duration_ms.map(anonymize::coarse_duration_ms),
        },
        wit::Event::TaskSessionCompleted(t) => Data::TaskSessionCompleted {
            task_id: task(&t.task_id),
            agent: agent(&t.agent),
            exit_code: t.exit_code,
            is_error: t.is_error,
            duration_ms: t.duration_ms.map(anonymize::coarse_duration_ms),
            provider: name(&t.provider),
            harness: name(&t.harness),
            model: name(&t.model),
        },
        wit::Event::Workflow(w) => Data::Workflow {
            workflow_id: a.pseudonym("workflow", &w.workflow_id),
            state: match w.state {
                wit::WorkflowState::Created => wire::WorkflowState::Created,
                wit::WorkflowState::Deleted => wire::WorkflowState::Deleted,
                wit::WorkflowState::Started => wire::WorkflowState::Started,
                wit::WorkflowState::Completed => wire::WorkflowState::Completed,
                wit::WorkflowState::Failed => wire::WorkflowState::Failed,
            },
            node_count: w.node_count,
            source: name(&w.source),
            trigger: name(&w.trigger),
            duration_ms: w.duration_ms.map(anonymize::coarse_duration_ms),
            steps_completed: w.steps_completed,
            steps_failed: w.steps_failed,
        },
        wit::Event::Schedule(s) => Data::Schedule {
            state: match s.state {
                wit::ScheduleState::Executed => wire::ScheduleState::Executed,
                wit::ScheduleState::Error => wire::ScheduleState::Error,
            },
            schedule_type: name(&s.schedule_type),
            triggered_workflows: s.triggered_workflows,
            was_recovered: s.was_recovered,
            consecutive_errors: s.consecutive_errors,
        },
        wit::Event::Compaction(c) => Data::Compaction {
            session_id: c.session_id.as_deref().map(session),
            agent: agent(&c.agent),
            trigger: match c.trigger {
                wit::CompactionTrigger::Auto => wire::CompactionTrigger::Auto,
                wit::CompactionTrigger::Manual => wire::CompactionTrigger::Manual,
                wit::CompactionTrigger::AutoInferred => wire::CompactionTrigger::AutoInferred,
            },
            pre_compact_tokens: c.pre_compact_tokens,
            context_total_tokens: c.context_total_tokens,
        },
    }
}

fn outcome(o: wit::Outcome) -> wire::Outcome {
    match o {
        wit::Outcome::Success => wire::Outcome::Success,
        wit::Outcome::Failure => wire::Outcome::Failure,
        wit::Outcome::Cancelled => wire::Outcome::Cancelled,
    }
}

fn error_kind(e: wit::ErrorKind) -> wire::ErrorKind {
    use wire::ErrorKind as W;
    match e {
        wit::ErrorKind::Timeout => W::Timeout,
        wit::ErrorKind::Cancelled => W::Cancelled,
        wit::ErrorKind::InvalidInput => W::InvalidInput,
        wit::ErrorKind::NotFound => W::NotFound,
        wit::ErrorKind::PermissionDenied => W::PermissionDenied,
        wit::ErrorKind::Authentication => W::Authentication,
        wit::ErrorKind::RateLimited => W::RateLimited,
        wit::ErrorKind::Network => W::Network,
        wit::ErrorKind::Unavailable => W::Unavailable,
        wit::ErrorKind::Tool => W::Tool,
        wit::ErrorKind::Model => W::Model,
        wit::ErrorKind::Internal => W::Internal,
        wit::ErrorKind::Other => W::Other,
    }
}

fn task_state(s: wit::TaskState) -> wire::TaskState {
    use wire::TaskState as W;
    match s {
        wit::TaskState::Created => W::Created,
        wit::TaskState::Started => W::Started,
        wit::TaskState::Claimed => W::Claimed,
        wit::TaskState::Completed => W::Completed,
        wit::TaskState::Failed => W::Failed,
        wit::TaskState::Cancelled => W::Cancelled,
    }
}
