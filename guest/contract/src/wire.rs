//! The native wire format: one JSON batch of events, each with its full envelope.
//!
//! The component writes it; the local collector reads it back with the same types (`batch`
//! checks the schema), and `deny_unknown_fields` makes it refuse anything this schema does not
//! name. Every field
//! here is either an enum, a number, a timestamp, or an identifier that the anonymizer has
//! already validated or replaced. Every `duration_ms` has two significant digits at most, and
//! every timestamp whole seconds (the component's `anonymize` rules).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `schema` field of every batch.
pub const SCHEMA: &str = "agent-telemetry/batch";
/// Bumped on any change that an older collector could not read. Version 2 added the event
/// kinds and fields of `agent:telemetry@0.2.0` and the envelope's `tags`.
pub const SCHEMA_VERSION: u32 = 2;
/// The versions this build reads: each version only adds to the one before, so a batch of
/// version 1 (spooled by an older build, say) reads as one of version 2.
pub const READABLE_VERSIONS: std::ops::RangeInclusive<u32> = 1..=SCHEMA_VERSION;
/// The media type the component sends.
pub const CONTENT_TYPE: &str = "application/json";
/// A request header the component adds with the batch's event count, so that the host's
/// egress ledger need not parse the body to count them. The host's policy takes it off before
/// the request leaves; under a stock host it reaches the collector, which ignores it.
pub const EVENTS_HEADER: &str = "agent-telemetry-events";
/// Beside it, when the wire format has no type for some of the batch's events: how many were
/// left out (taken off by the host's policy in the same way).
pub const LEFT_OUT_HEADER: &str = "agent-telemetry-left-out";

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub schema: String,
    pub schema_version: u32,
    pub batch_id: String,
    pub sent_at: String,
    /// Events dropped (queue full) since the previous batch was sent.
    pub dropped_events: u64,
    pub events: Vec<Event>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// UUIDv7: time-ordered to the second (its embedded time is `occurred_at`'s), and stable
    /// across retries so redelivery is idempotent. Within a second, the batch order is the
    /// order of recording.
    pub event_id: String,
    /// RFC 3339, UTC, written with milliseconds but always whole seconds (`.000Z`): finer
    /// times would be a channel for the agent (see `anonymize`).
    pub occurred_at: String,
    pub schema_version: u32,
    pub source: String,
    pub environment: String,
    pub installation_id: String,
    pub product: String,
    pub product_version: String,
    pub os: String,
    pub arch: String,
    pub ci: bool,
    /// The host's custom tags (docker-agent's `TELEMETRY_TAGS`), names under the name rule.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    pub data: Data,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Data {
    Command {
        action: String,
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorKind>,
        arg_count: u32,
        flags: Vec<String>,
    },
    ToolCall {
        tool: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
        duration_ms: u64,
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorKind>,
    },
    TokenUsage {
        model: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
        input_tokens: u64,
        output_tokens: u64,
        cached_tokens: u64,
        reasoning_tokens: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
    },
    SessionStart {
        session_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task_id: Option<String>,
    },
    SessionEnd {
        session_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        task_id: Option<String>,
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorKind>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tasks_processed: Option<u32>,
        totals: SessionTotals,
    },
    SessionCost {
        session_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
        input_tokens: u64,
        output_tokens: u64,
        #[serde(default)]
        cache_read_tokens: u64,
        #[serde(default)]
        cache_write_tokens: u64,
        #[serde(default)]
        reasoning_tokens: u64,
        #[serde(default)]
        thinking_tokens: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        turns: Option<u32>,
        #[serde(default)]
        is_error: bool,
    },
    SessionFailure {
        session_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
        error: ErrorKind,
        #[serde(default)]
        was_rate_limited: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
    },
    Server {
        state: ServerState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uptime_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sessions_processed: Option<u64>,
    },
    AgentRegistered {
        agent: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
        #[serde(default)]
        capabilities: Vec<String>,
        #[serde(default)]
        is_reconnect: bool,
    },
    Task {
        task_id: String,
        state: TaskState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous_state: Option<TaskState>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        tags: Vec<String>,
        has_parent: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u64>,
    },
    TaskSessionCompleted {
        task_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
        exit_code: i32,
        is_error: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        harness: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    Workflow {
        workflow_id: String,
        state: WorkflowState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node_count: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trigger: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        steps_completed: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        steps_failed: Option<u32>,
    },
    Schedule {
        state: ScheduleState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schedule_type: Option<String>,
        triggered_workflows: bool,
        was_recovered: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        consecutive_errors: Option<u32>,
    },
    Compaction {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
        trigger: CompactionTrigger,
        pre_compact_tokens: u64,
        context_total_tokens: u64,
    },
}

impl Data {
    /// The `type` tag, as it appears on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            Data::Command { .. } => "command",
            Data::ToolCall { .. } => "tool_call",
            Data::TokenUsage { .. } => "token_usage",
            Data::SessionStart { .. } => "session_start",
            Data::SessionEnd { .. } => "session_end",
            Data::SessionCost { .. } => "session_cost",
            Data::SessionFailure { .. } => "session_failure",
            Data::Server { .. } => "server",
            Data::AgentRegistered { .. } => "agent_registered",
            Data::Task { .. } => "task",
            Data::TaskSessionCompleted { .. } => "task_session_completed",
            Data::Workflow { .. } => "workflow",
            Data::Schedule { .. } => "schedule",
            Data::Compaction { .. } => "compaction",
        }
    }
}

/// A session's totals, computed by the component from the events of that session it saw.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SessionTotals {
    /// Absent when the component did not see the session start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    pub tool_calls: u64,
    pub tool_failures: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub error_count: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Cancelled,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Timeout,
    Cancelled,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Authentication,
    RateLimited,
    Network,
    Unavailable,
    Tool,
    Model,
    Internal,
    Other,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    Started,
    Shutdown,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Created,
    Started,
    Claimed,
    Completed,
    Failed,
    Cancelled,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WorkflowState {
    Created,
    Deleted,
    Started,
    Completed,
    Failed,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScheduleState {
    Executed,
    Error,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum CompactionTrigger {
    Auto,
    Manual,
    AutoInferred,
}

/// An enum's name on the wire (`permission_denied`, not `PermissionDenied`): its serde name;
/// `?` for a value that does not serialize as a string (none of this module's enums).
pub fn name(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => "?".to_string(),
    }
}

/// The JSON Schema of [`Batch`], generated from these types (so it cannot drift from them):
/// what `agent-telemetry schema` prints and `guest/contract/batch.schema.json` holds.
#[cfg(feature = "schema")]
pub fn batch_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Batch)).unwrap_or_default();
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "$id".to_string(),
            serde_json::Value::String(format!("{SCHEMA}/v{SCHEMA_VERSION}")),
        );
    }
    schema
}
