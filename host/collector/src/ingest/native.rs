//! This project's batch (`POST /v1/batch`), checked against its schema: unknown fields and
//! other schema versions are refused.

use agent_telemetry_contract::batch::{self, BatchError};
use agent_telemetry_contract::wire::{Data, Event, Outcome, name};

use super::{Fact, Received, Refused, cost, count, millis};

pub const PATH: &str = "/v1/batch";

pub fn parse(body: &[u8]) -> Result<Received, Refused> {
    let batch = batch::parse(body).map_err(|e| {
        Refused::new(match e {
            BatchError::Malformed(_) => "not a valid batch".to_string(),
            BatchError::WrongSchema(_) => "not an agent-telemetry batch".to_string(),
            BatchError::OtherVersion(v) => format!("schema_version {v} is not supported"),
            BatchError::EventVersion { .. } => "an event has another schema_version".to_string(),
        })
    })?;
    count(batch.dropped_events).map_err(|_| Refused::new("dropped_events is out of range"))?;
    let facts = batch.events.iter().map(fact).collect::<Result<_, _>>()?;
    Ok(Received {
        facts,
        reported_drops: batch.dropped_events,
    })
}

/// The report's columns of one native event.
pub fn fact(e: &Event) -> Result<Fact, Refused> {
    let mut f = Fact {
        id: e.event_id.clone(),
        occurred_ms: millis(&e.occurred_at)?,
        kind: e.data.kind(),
        installation: e.installation_id.clone(),
        product: e.product.clone(),
        version: e.product_version.clone(),
        os: e.os.clone(),
        body: serde_json::to_string(e).map_err(|_| Refused::new("an event cannot be stored"))?,
        ..Fact::default()
    };
    let outcome = |o: &Outcome| Some(name(o));
    match &e.data {
        Data::Command {
            action, outcome: o, ..
        } => {
            f.subject = Some(action.clone());
            f.outcome = outcome(o);
        }
        Data::ToolCall {
            tool,
            session_id,
            duration_ms,
            outcome: o,
            ..
        } => {
            f.subject = Some(tool.clone());
            f.session = session_id.clone();
            f.duration_ms = Some(count(*duration_ms)?);
            f.outcome = outcome(o);
        }
        Data::TokenUsage {
            model,
            session_id,
            input_tokens,
            output_tokens,
            cost_usd,
            ..
        } => {
            f.subject = Some(model.clone());
            f.session = session_id.clone();
            f.input_tokens = Some(count(*input_tokens)?);
            f.output_tokens = Some(count(*output_tokens)?);
            f.cost_usd = cost_usd.map(cost).transpose()?;
        }
        Data::SessionStart { session_id, .. } => f.session = Some(session_id.clone()),
        Data::SessionEnd {
            session_id,
            outcome: o,
            totals,
            ..
        } => {
            f.session = Some(session_id.clone());
            f.outcome = outcome(o);
            f.duration_ms = totals.duration_ms.map(count).transpose()?;
            f.input_tokens = Some(count(totals.input_tokens)?);
            f.output_tokens = Some(count(totals.output_tokens)?);
            f.cost_usd = Some(cost(totals.cost_usd)?);
        }
        Data::SessionCost {
            session_id,
            model,
            cost_usd,
            input_tokens,
            output_tokens,
            ..
        } => {
            f.session = Some(session_id.clone());
            f.subject = model.clone();
            f.input_tokens = Some(count(*input_tokens)?);
            f.output_tokens = Some(count(*output_tokens)?);
            f.cost_usd = cost_usd.map(cost).transpose()?;
        }
        Data::SessionFailure {
            session_id, error, ..
        } => {
            f.session = Some(session_id.clone());
            f.subject = Some(name(error));
        }
        Data::Server { state, .. } => f.subject = Some(name(state)),
        Data::AgentRegistered { agent, .. } => f.subject = Some(agent.clone()),
        Data::Task {
            state, duration_ms, ..
        } => {
            f.subject = Some(name(state));
            f.duration_ms = duration_ms.map(count).transpose()?;
        }
        Data::TaskSessionCompleted {
            model,
            is_error,
            duration_ms,
            ..
        } => {
            f.subject = model.clone();
            f.outcome = Some(if *is_error { "failure" } else { "success" }.to_string());
            f.duration_ms = duration_ms.map(count).transpose()?;
        }
        Data::Workflow {
            state, duration_ms, ..
        } => {
            f.subject = Some(name(state));
            f.duration_ms = duration_ms.map(count).transpose()?;
        }
        Data::Schedule { state, .. } => f.subject = Some(name(state)),
        Data::Compaction {
            session_id,
            trigger,
            ..
        } => {
            f.session = session_id.clone();
            f.subject = Some(name(trigger));
        }
    }
    Ok(f)
}
