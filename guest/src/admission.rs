//! Before the component sends a batch the host kept on disk (`delivery.deliver`), every string
//! in it must be one this component could have written. The spool is a directory anything
//! running as this user can write to: a planted or altered file must not be a way around the
//! privacy rules. So names must pass the identifier rule (or be its `other:` hash), ids must be
//! keyed pseudonyms, agents allowlisted names or pseudonyms, flags allowlisted names, the
//! installation id must be this installation's, ids UUIDs, times whole seconds and durations
//! coarse. Anything else refuses the whole batch: it is never sent.

use crate::anonymize::{self, Anonymizer, MAX_LIST_ITEMS, coarse_duration_ms};
use crate::wire::{Batch, Data, Event};

/// Why a batch may not be sent: where the problem is, never the value.
pub type Refusal = String;

pub fn admit(batch: &Batch, a: &Anonymizer, installation_id: &str) -> Result<(), Refusal> {
    if !is_uuid(&batch.batch_id) {
        return Err("the batch id is not a UUID".to_string());
    }
    if !is_whole_second(&batch.sent_at) {
        return Err("`sent_at` is not a time in whole seconds".to_string());
    }
    for (i, event) in batch.events.iter().enumerate() {
        admit_event(event, a, installation_id)
            .map_err(|why| format!("event {i} ({}): {why}", event.data.kind()))?;
    }
    Ok(())
}

fn admit_event(e: &Event, a: &Anonymizer, installation_id: &str) -> Result<(), Refusal> {
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("`{what}` is not what this component sends"))
        }
    };
    check(is_uuid(&e.event_id), "event_id")?;
    check(is_whole_second(&e.occurred_at), "occurred_at")?;
    check(e.installation_id == installation_id, "installation_id")?;
    for (key, value) in &e.tags {
        check(a.is_name_form(key) && a.is_name_form(value), "tags")?;
    }
    for (value, what) in [
        (&e.source, "source"),
        (&e.environment, "environment"),
        (&e.product, "product"),
        (&e.product_version, "product_version"),
        (&e.os, "os"),
        (&e.arch, "arch"),
    ] {
        check(a.is_name_form(value), what)?;
    }
    let name = |v: &str, what| check(a.is_name_form(v), what);
    let id = |kind, v: &str, what| check(a.is_pseudonym_form(kind, v), what);
    let agent = |v: &Option<String>| {
        v.as_deref()
            .map_or(Ok(()), |v| check(a.is_agent_form(v), "agent"))
    };
    let session = |v: &Option<String>| {
        v.as_deref()
            .map_or(Ok(()), |v| id("session", v, "session_id"))
    };
    let task = |v: &Option<String>| v.as_deref().map_or(Ok(()), |v| id("task", v, "task_id"));
    let duration = |ms: u64| check(coarse_duration_ms(ms) == ms, "duration_ms");
    let opt_name = |v: &Option<String>, what| v.as_deref().map_or(Ok(()), |v| name(v, what));
    let names = |v: &[String], what| {
        check(
            v.len() <= MAX_LIST_ITEMS && v.iter().all(|t| a.is_name_form(t)),
            what,
        )
    };
    // What `anonymize::cost` would send.
    let cost = |c: Option<f64>, what| check(c.is_none_or(|c| anonymize::cost(c).is_some()), what);
    match &e.data {
        Data::Command { action, flags, .. } => {
            name(action, "action")?;
            check(
                flags.len() <= MAX_LIST_ITEMS && flags.iter().all(|f| a.is_flag_form(f)),
                "flags",
            )
        }
        Data::ToolCall {
            tool,
            session_id,
            agent: who,
            duration_ms,
            ..
        } => {
            name(tool, "tool")?;
            session(session_id)?;
            agent(who)?;
            duration(*duration_ms)
        }
        Data::TokenUsage {
            model,
            session_id,
            agent: who,
            cost_usd,
            ..
        } => {
            name(model, "model")?;
            session(session_id)?;
            agent(who)?;
            cost(*cost_usd, "cost_usd")
        }
        Data::SessionStart {
            session_id,
            agent: who,
            task_id,
        } => {
            id("session", session_id, "session_id")?;
            agent(who)?;
            task(task_id)
        }
        Data::SessionEnd {
            session_id,
            agent: who,
            task_id,
            totals,
            ..
        } => {
            id("session", session_id, "session_id")?;
            agent(who)?;
            task(task_id)?;
            totals.duration_ms.map_or(Ok(()), duration)?;
            cost(Some(totals.cost_usd), "totals.cost_usd")
        }
        Data::SessionCost {
            session_id,
            agent: who,
            model,
            cost_usd,
            ..
        } => {
            id("session", session_id, "session_id")?;
            agent(who)?;
            model.as_deref().map_or(Ok(()), |m| name(m, "model"))?;
            cost(*cost_usd, "cost_usd")
        }
        Data::SessionFailure {
            session_id,
            agent: who,
            provider,
            ..
        } => {
            id("session", session_id, "session_id")?;
            agent(who)?;
            opt_name(provider, "provider")
        }
        Data::Server { uptime_ms, .. } => uptime_ms.map_or(Ok(()), duration),
        Data::AgentRegistered {
            agent: who,
            role,
            capabilities,
            ..
        } => {
            check(a.is_agent_form(who), "agent")?;
            opt_name(role, "role")?;
            names(capabilities, "capabilities")
        }
        Data::TaskSessionCompleted {
            task_id,
            agent: who,
            duration_ms,
            provider,
            harness,
            model,
            ..
        } => {
            id("task", task_id, "task_id")?;
            agent(who)?;
            duration_ms.map_or(Ok(()), duration)?;
            opt_name(provider, "provider")?;
            opt_name(harness, "harness")?;
            opt_name(model, "model")
        }
        Data::Workflow {
            workflow_id,
            source,
            trigger,
            duration_ms,
            ..
        } => {
            id("workflow", workflow_id, "workflow_id")?;
            opt_name(source, "source")?;
            opt_name(trigger, "trigger")?;
            duration_ms.map_or(Ok(()), duration)
        }
        Data::Schedule { schedule_type, .. } => opt_name(schedule_type, "schedule_type"),
        Data::Compaction {
            session_id,
            agent: who,
            ..
        } => {
            session(session_id)?;
            agent(who)
        }
        Data::Task {
            task_id,
            agent: who,
            source,
            tags,
            duration_ms,
            ..
        } => {
            id("task", task_id, "task_id")?;
            agent(who)?;
            opt_name(source, "source")?;
            names(tags, "tags")?;
            duration_ms.map_or(Ok(()), duration)
        }
    }
}

/// `xxxxxxxx-xxxx-7xxx-xxxx-xxxxxxxxxxxx`, lower-case hex, as the component writes its ids.
fn is_uuid(value: &str) -> bool {
    anonymize::uuid_shaped(value, |b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `YYYY-MM-DDTHH:MM:SS.000Z`: the component's timestamps, always whole seconds.
fn is_whole_second(value: &str) -> bool {
    let b = value.as_bytes();
    b.len() == 24
        && value.ends_with(".000Z")
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19..=23 => true,
            _ => c.is_ascii_digit(),
        })
}
