//! The native API for Rust tools, mirroring the seed systems' calls (docker-agent's
//! `TrackCommand`, `RecordToolCall`, `RecordTokenUsage`, sessions; Agent Swarm's server,
//! agent and task events). Each builds a WIT event and records it: none waits on the network.
//! Each names only the fields it sets; `..Default::default()` fills the rest, also where today
//! every field is named, so that a field the event catalogue adds needs nothing here.
#![allow(clippy::needless_update)]

use std::time::Duration;

use super::handle::Telemetry;
use crate::runtime::bindings::recorder::{
    AgentRegistered, Command, ErrorKind, Event, Outcome, Server, ServerState, SessionEnd,
    SessionStart, Task, TokenUsage, ToolCall,
};

/// Token counts of one model call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt tokens sent to the model.
    pub input: u64,
    /// Tokens the model produced.
    pub output: u64,
    /// Prompt tokens served from the provider's cache.
    pub cached: u64,
    /// Reasoning (thinking) tokens the model produced.
    pub reasoning: u64,
}

fn outcome(result: Result<(), ErrorKind>) -> (Outcome, Option<ErrorKind>) {
    match result {
        Ok(()) => (Outcome::Success, None),
        Err(ErrorKind::Cancelled) => (Outcome::Cancelled, Some(ErrorKind::Cancelled)),
        Err(kind) => (Outcome::Failure, Some(kind)),
    }
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_string)
}

impl Telemetry {
    /// A CLI command ran. The arguments never leave this function: the component receives
    /// their count and the names of the flags among them, and sends only the flag names the
    /// settings allowlist.
    pub fn track_command(
        &self,
        action: &str,
        args: &[impl AsRef<str>],
        result: Result<(), ErrorKind>,
    ) {
        let (outcome, error) = outcome(result);
        let flags = args
            .iter()
            .map(AsRef::as_ref)
            .filter(|a| a.starts_with('-'))
            .map(|a| a.split('=').next().unwrap_or_default().to_string())
            .collect();
        self.record(Event::Command(Command {
            action: action.to_string(),
            outcome,
            error,
            arg_count: u32::try_from(args.len()).unwrap_or(u32::MAX),
            flags,
            ..Default::default()
        }));
    }

    /// A tool call ended after `duration`, with `result`; `session_id` and `agent` say
    /// whose it was, when known.
    pub fn record_tool_call(
        &self,
        tool: &str,
        session_id: Option<&str>,
        agent: Option<&str>,
        duration: Duration,
        result: Result<(), ErrorKind>,
    ) {
        let (outcome, error) = outcome(result);
        self.record(Event::ToolCall(ToolCall {
            tool: tool.to_string(),
            session_id: owned(session_id),
            agent: owned(agent),
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            outcome,
            error,
            ..Default::default()
        }));
    }

    /// One model call's tokens and cost (this call's cost, not a running total).
    pub fn record_token_usage(
        &self,
        model: &str,
        session_id: Option<&str>,
        agent: Option<&str>,
        tokens: Tokens,
        cost_usd: Option<f64>,
    ) {
        self.record(Event::TokenUsage(TokenUsage {
            model: model.to_string(),
            session_id: owned(session_id),
            agent: owned(agent),
            input_tokens: tokens.input,
            output_tokens: tokens.output,
            cached_tokens: tokens.cached,
            reasoning_tokens: tokens.reasoning,
            cost_usd,
            ..Default::default()
        }));
    }

    /// A session began (for `agent`, working on `task_id`, when known).
    pub fn session_start(&self, session_id: &str, agent: Option<&str>, task_id: Option<&str>) {
        self.record(Event::SessionStart(SessionStart {
            session_id: session_id.to_string(),
            agent: owned(agent),
            task_id: owned(task_id),
            ..Default::default()
        }));
    }

    /// Ends a session; the component adds the totals from the session's events it saw.
    pub fn session_end(
        &self,
        session_id: &str,
        agent: Option<&str>,
        task_id: Option<&str>,
        result: Result<(), ErrorKind>,
    ) {
        let (outcome, error) = outcome(result);
        self.record(Event::SessionEnd(SessionEnd {
            session_id: session_id.to_string(),
            agent: owned(agent),
            task_id: owned(task_id),
            outcome,
            error,
            ..Default::default()
        }));
    }

    /// The server started.
    pub fn server_started(&self) {
        self.record(Event::Server(Server {
            state: ServerState::Started,
            ..Default::default()
        }));
    }

    /// The server stops (record `Event::Server` for its uptime and sessions processed).
    pub fn server_shutdown(&self) {
        self.record(Event::Server(Server {
            state: ServerState::Shutdown,
            ..Default::default()
        }));
    }

    /// An agent registered (record `Event::AgentRegistered` for its role and capabilities).
    pub fn agent_registered(&self, agent: &str) {
        self.record(Event::AgentRegistered(AgentRegistered {
            agent: agent.to_string(),
            ..Default::default()
        }));
    }

    /// A task changed state (Agent Swarm's `task.*` events).
    pub fn task(&self, task: Task) {
        self.record(Event::Task(task));
    }
}
