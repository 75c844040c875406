//! Before the component sends a batch the host kept on disk (`delivery.deliver`), every string
//! in it must be one this component could have written. The spool is a directory anything
//! running as this user can write to: a planted or altered file must not be a way around the
//! privacy rules. So names must pass the identifier rule (or be its `other:` hash), ids must be
//! keyed pseudonyms, agents allowlisted names or pseudonyms, flags allowlisted names, the
//! installation id must be this installation's, ids UUIDs, times whole seconds and durations
//! coarse. Anything else refuses the whole batch: it is never sent.

use crate::anonymize::{self, Anonymizer, MAX_LIST_ITEMS, coarse_duration_ms};
use crate::contract::catalogue::{Field, Rule, Value, Visitor};
use crate::wire::{Batch, Event};

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
    let mut fields = Fields { a, refusal: None };
    e.data.visit(&mut fields);
    fields.refusal.map_or(Ok(()), Err)
}

/// Checks each field of an event against its rule in the catalogue, keeping the first refusal.
struct Fields<'a> {
    a: &'a Anonymizer,
    refusal: Option<Refusal>,
}

impl Visitor for Fields<'_> {
    fn field(&mut self, field: &'static Field, value: Value<'_>) {
        if self.refusal.is_some() {
            return;
        }
        let a = self.a;
        let names = |v: &[String], ok: &dyn Fn(&str) -> bool| {
            v.len() <= MAX_LIST_ITEMS && v.iter().all(|t| ok(t))
        };
        let duration = |ms: u64| coarse_duration_ms(ms) == ms;
        // What `anonymize::cost` would send.
        let cost = |c: f64| anonymize::cost(c).is_some();
        let (ok, what) = match (field.rule, value) {
            (Rule::Name, Value::Str(v)) => (a.is_name_form(v), field.name),
            (Rule::Names, Value::Strs(v)) => (names(v, &|t| a.is_name_form(t)), field.name),
            (Rule::Flags, Value::Strs(v)) => (names(v, &|t| a.is_flag_form(t)), field.name),
            (Rule::Pseudonym(kind), Value::Str(v)) => (a.is_pseudonym_form(kind, v), field.name),
            (Rule::Agent, Value::Str(v)) => (a.is_agent_form(v), field.name),
            (Rule::Duration, Value::UInt(ms)) => (duration(ms), "duration_ms"),
            (Rule::Cost, Value::Float(c)) => (cost(c), field.name),
            (Rule::Computed, Value::Totals(totals)) => {
                if !totals.duration_ms.is_none_or(duration) {
                    (false, "duration_ms")
                } else {
                    (cost(totals.cost_usd), "totals.cost_usd")
                }
            }
            (Rule::Enum, Value::Enum(_))
            | (Rule::Number, Value::UInt(_) | Value::Int(_))
            | (Rule::Flag, Value::Bool(_)) => (true, field.name),
            // A rule the catalogue gives a type it cannot hold: refused, not guessed at.
            _ => (false, field.name),
        };
        if !ok {
            self.refusal = Some(format!("`{what}` is not what this component sends"));
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
