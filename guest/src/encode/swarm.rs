//! Agent Swarm's format: one envelope per request (`product`, `event`, `occurred_at`,
//! `source`, `actor_mode: "anonymous"`, `actor_anonymous_id`, `properties` with camelCase
//! names, `metadata{transport, schema_version, environment}`), as its endpoint takes them.
//!
//! A batch becomes as many requests as it has events Agent Swarm has a name for; the sender
//! goes through them in order and remembers how far it got, so a retry (or the host's spool)
//! carries on after the last one delivered. Commands, tool calls and per-call token use have
//! no Agent Swarm event: they are left out and counted (see `Encoded`). The host's context
//! properties (`is_cloud`-style booleans and allowlisted names, see `config`) are added to
//! every event's properties, after the event's own, as Agent Swarm does.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Encoded, Request};
use crate::wire::{Batch, Data, ErrorKind, Event, ServerState, name};

pub const CONTENT_TYPE: &str = "application/json";

/// `metadata.schema_version`: Agent Swarm's envelope version.
const ENVELOPE_VERSION: u32 = 1;

#[derive(Serialize)]
struct Envelope<'a> {
    product: &'a str,
    event: String,
    occurred_at: &'a str,
    source: &'a str,
    actor_mode: &'static str,
    actor_anonymous_id: &'a str,
    properties: Map<String, Value>,
    metadata: Metadata<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    transport: &'a str,
    schema_version: u32,
    environment: &'a str,
}

/// What the host adds to every event, and how the endpoint is reached.
pub struct Context<'a> {
    /// `properties` every event gets (booleans and names the host allowlisted).
    pub properties: &'a [(String, Value)],
    /// `http` or `https`: `metadata.transport`.
    pub transport: &'a str,
}

/// One request per event that Agent Swarm has a name for.
pub fn encode(batch: &Batch, context: &Context) -> Result<Encoded, serde_json::Error> {
    let mut requests = Vec::new();
    for (i, event) in batch.events.iter().enumerate() {
        if let Some((name, properties)) = event_of(event) {
            let body = serde_json::to_vec(&envelope(event, name, properties, context))?;
            let since = requests.last().map_or(0, |r: &Request| r.through);
            requests.push(Request {
                body,
                events: 1,
                through: i + 1,
                left_out: i - since,
            });
        }
    }
    let left_out = batch.events.len() - requests.len();
    if let Some(last) = requests.last_mut() {
        last.left_out += batch.events.len() - last.through;
    }
    Ok(Encoded {
        content_type: CONTENT_TYPE,
        requests,
        left_out,
    })
}

fn envelope<'a>(
    e: &'a Event,
    event: String,
    mut properties: Map<String, Value>,
    context: &Context<'a>,
) -> Envelope<'a> {
    // The host's tags go over the event's properties, its context properties over them.
    for (key, value) in &e.tags {
        properties.insert(key.clone(), value.clone().into());
    }
    for (key, value) in context.properties {
        properties.insert(key.clone(), value.clone());
    }
    properties.insert("swarmVersion".into(), e.product_version.clone().into());
    Envelope {
        product: &e.product,
        event,
        occurred_at: &e.occurred_at,
        source: &e.source,
        actor_mode: "anonymous",
        actor_anonymous_id: &e.installation_id,
        properties,
        metadata: Metadata {
            transport: context.transport,
            schema_version: ENVELOPE_VERSION,
            environment: &e.environment,
        },
    }
}

/// Agent Swarm's event name and its own properties, or `None` for an event it has no name for.
fn event_of(e: &Event) -> Option<(String, Map<String, Value>)> {
    let mut p = Props::default();
    let name = match &e.data {
        Data::Command { .. } | Data::ToolCall { .. } | Data::TokenUsage { .. } => return None,
        Data::SessionStart {
            session_id,
            agent,
            task_id,
        } => {
            p.str("sessionId", session_id);
            p.opt_str("agentId", agent.as_deref());
            p.opt_str("taskId", task_id.as_deref());
            "session.started".to_string()
        }
        Data::SessionEnd {
            session_id,
            agent,
            task_id,
            outcome,
            error,
            tasks_processed,
            totals,
        } => {
            p.str("sessionId", session_id);
            p.opt_str("agentId", agent.as_deref());
            p.opt_str("taskId", task_id.as_deref());
            p.str("outcome", &name(outcome));
            p.opt_str("errorCategory", error.map(error_category));
            p.opt_int("durationMs", totals.duration_ms);
            p.opt_int("tasksProcessed", tasks_processed.map(u64::from));
            p.int("toolCalls", totals.tool_calls);
            p.int("toolFailures", totals.tool_failures);
            p.int("inputTokens", totals.input_tokens);
            p.int("outputTokens", totals.output_tokens);
            p.float("totalCostUsd", Some(totals.cost_usd));
            p.int("errorCount", totals.error_count);
            "session.ended".to_string()
        }
        Data::SessionCost {
            session_id,
            agent,
            model,
            cost_usd,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            reasoning_tokens,
            thinking_tokens,
            turns,
            is_error,
        } => {
            p.str("sessionId", session_id);
            p.opt_str("agentId", agent.as_deref());
            p.opt_str("model", model.as_deref());
            p.int("inputTokens", *input_tokens);
            p.int("outputTokens", *output_tokens);
            p.int("cacheReadTokens", *cache_read_tokens);
            p.int("cacheWriteTokens", *cache_write_tokens);
            p.int("reasoningOutputTokens", *reasoning_tokens);
            p.int("thinkingTokens", *thinking_tokens);
            p.float("totalCostUsd", *cost_usd);
            p.opt_int("numTurns", turns.map(u64::from));
            p.bool("isError", *is_error);
            "session.cost".to_string()
        }
        Data::SessionFailure {
            session_id,
            agent,
            error,
            was_rate_limited,
            provider,
        } => {
            p.str("sessionId", session_id);
            p.opt_str("agentId", agent.as_deref());
            p.str("errorCategory", error_category(*error));
            p.bool(
                "wasRateLimited",
                *was_rate_limited || *error == ErrorKind::RateLimited,
            );
            p.opt_str("provider", provider.as_deref());
            "session.failure".to_string()
        }
        Data::Server {
            state,
            uptime_ms,
            sessions_processed,
        } => {
            p.opt_int("uptimeMs", *uptime_ms);
            p.opt_int("sessionsProcessed", *sessions_processed);
            match state {
                ServerState::Started => "server.started".to_string(),
                ServerState::Shutdown => "server.shutdown".to_string(),
            }
        }
        Data::AgentRegistered {
            agent,
            role,
            capabilities,
            is_reconnect,
        } => {
            p.str("agentId", agent);
            p.opt_str("role", role.as_deref());
            p.0.insert("capabilities".into(), capabilities.clone().into());
            p.bool("isReconnect", *is_reconnect);
            "agent.registered".to_string()
        }
        Data::TaskSessionCompleted {
            task_id,
            agent,
            exit_code,
            is_error,
            duration_ms,
            provider,
            harness,
            model,
        } => {
            p.str("taskId", task_id);
            p.opt_str("agentId", agent.as_deref());
            p.0.insert("exitCode".into(), (*exit_code).into());
            p.bool("isError", *is_error);
            p.opt_int("durationMs", *duration_ms);
            p.opt_str("provider", provider.as_deref());
            p.opt_str("harnessVariant", harness.as_deref());
            p.opt_str("model", model.as_deref());
            "task.session_completed".to_string()
        }
        Data::Workflow {
            workflow_id,
            state,
            node_count,
            source,
            trigger,
            duration_ms,
            steps_completed,
            steps_failed,
        } => {
            p.str("workflowId", workflow_id);
            p.opt_int("nodeCount", node_count.map(u64::from));
            p.opt_str("source", source.as_deref());
            p.opt_str("triggerType", trigger.as_deref());
            p.opt_int("durationMs", *duration_ms);
            p.opt_int("stepsCompleted", steps_completed.map(u64::from));
            p.opt_int("stepsFailed", steps_failed.map(u64::from));
            format!("workflow.{}", name(state))
        }
        Data::Schedule {
            state,
            schedule_type,
            triggered_workflows,
            was_recovered,
            consecutive_errors,
        } => {
            p.opt_str("scheduleType", schedule_type.as_deref());
            p.bool("triggeredWorkflows", *triggered_workflows);
            p.bool("wasRecovered", *was_recovered);
            p.opt_int("consecutiveErrors", consecutive_errors.map(u64::from));
            format!("schedule.{}", name(state))
        }
        Data::Compaction {
            session_id,
            agent,
            trigger,
            pre_compact_tokens,
            context_total_tokens,
        } => {
            p.opt_str("sessionId", session_id.as_deref());
            p.opt_str("agentId", agent.as_deref());
            // Agent Swarm's names: `auto`, `manual`, `auto-inferred`.
            p.str("compactTrigger", &name(trigger).replace('_', "-"));
            p.int("preCompactTokens", *pre_compact_tokens);
            p.int("contextTotalTokens", *context_total_tokens);
            "compaction.triggered".to_string()
        }
        Data::Task {
            task_id,
            state,
            previous_state,
            agent,
            source,
            tags,
            has_parent,
            priority,
            duration_ms,
        } => {
            p.str("taskId", task_id);
            p.opt_str("source", source.as_deref());
            p.opt_str("agentId", agent.as_deref());
            p.bool("hasParent", *has_parent);
            p.opt_int("priority", priority.map(u64::from));
            p.opt_int("durationMs", *duration_ms);
            p.opt_str(
                "previousStatus",
                previous_state.map(|s| name(&s)).as_deref(),
            );
            if !tags.is_empty() {
                p.0.insert("tags".into(), tags.clone().into());
            }
            format!("task.{}", name(state))
        }
    };
    Some((name, p.0))
}

/// Agent Swarm's `errorCategory` values where one fits the error kind; `unknown` otherwise.
fn error_category(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RateLimited => "rate_limit",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Network | ErrorKind::Unavailable => "api_error",
        ErrorKind::Model => "provider_error",
        _ => "unknown",
    }
}

#[derive(Default)]
struct Props(Map<String, Value>);

impl Props {
    fn str(&mut self, key: &str, value: &str) {
        self.0.insert(key.into(), value.into());
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(key, value);
        }
    }

    fn int(&mut self, key: &str, value: u64) {
        self.0.insert(key.into(), value.into());
    }

    fn opt_int(&mut self, key: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.int(key, value);
        }
    }

    /// A cost: finite already (the anonymizer's rule), so it always has a JSON number.
    fn float(&mut self, key: &str, value: Option<f64>) {
        if let Some(number) = value.and_then(serde_json::Number::from_f64) {
            self.0.insert(key.into(), Value::Number(number));
        }
    }

    fn bool(&mut self, key: &str, value: bool) {
        self.0.insert(key.into(), value.into());
    }
}
