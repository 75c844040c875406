//! Agents built against `agent:telemetry@0.1.0` keep running: their `recorder` import is
//! linked beside the current one, from bindings for the frozen `wit/v0.1.0`, and each call is
//! adapted to the current version and handed to the same [`RecorderImport`].
//!
//! A version adds event kinds and fields and never loosens a rule, so an old event becomes
//! the current one with every new field at its "not said" value, and a current report
//! becomes the old one without its new fields. Events go by field name (through serde, both
//! bindings derive it), with the "not said" values taken from the event catalogue, so a field
//! the current WIT adds needs nothing here; a test holds every 0.1.0 kind to it.

use wasmtime::component::{HasSelf, Linker};

use agent_telemetry_contract::catalogue::{FIELDS, Rule};

use super::recorder::RecorderImport;
use super::recorder::from as now;

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "agent",
    imports: { "agent:telemetry/recorder.flush": async },
    additional_derives: [serde::Serialize],
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
        match upgrade(event) {
            Some(event) => now::Host::record(self, event),
            None => self.dropped(1),
        }
    }

    fn record_many(&mut self, events: Vec<old::Event>) {
        let count = events.len();
        let events: Vec<now::Event> = events.into_iter().filter_map(upgrade).collect();
        let lost = count - events.len();
        if lost > 0 {
            self.dropped(lost as u64);
        }
        now::Host::record_many(self, events);
    }

    async fn flush(&mut self, deadline_ms: u32) -> old::FlushReport {
        now::Host::flush(self, deadline_ms).await.into()
    }

    fn status(&mut self) -> old::StatusReport {
        now::Host::status(self).into()
    }
}

/// The current event an old one is: its fields by name, each field 0.1.0 did not have at its
/// "not said" value (from the catalogue: absent when optional, else zero, false or empty).
/// `None` for an event that cannot be one of the current version (a field the current
/// version requires and has no "not said" value for), which the caller counts as dropped.
fn upgrade(event: old::Event) -> Option<now::Event> {
    // 0.1.0 said a rate limit only through the error kind.
    let rate_limited = matches!(
        &event,
        old::Event::SessionFailure(f) if matches!(f.error, old::ErrorKind::RateLimited)
    );
    let mut value = serde_json::to_value(event).ok()?;
    let (case, fields) = value.as_object_mut()?.iter_mut().next()?;
    let kind = snake_case(case);
    let fields = fields.as_object_mut()?;
    for field in FIELDS.iter().filter(|f| f.kind == kind && !f.optional) {
        if fields.contains_key(field.name) {
            continue;
        }
        let not_said = match field.rule {
            Rule::Computed => continue,
            Rule::Number | Rule::Duration => serde_json::json!(0),
            Rule::Flag => serde_json::json!(field.name == "was_rate_limited" && rate_limited),
            Rule::Names | Rule::Flags => serde_json::json!([]),
            Rule::Name | Rule::Pseudonym(_) | Rule::Agent | Rule::Enum | Rule::Cost => {
                return None;
            }
        };
        fields.insert(field.name.to_string(), not_said);
    }
    serde_json::from_value(value).ok()
}

/// `SessionCost` as the catalogue names it: `session_cost`.
fn snake_case(case: &str) -> String {
    let mut out = String::with_capacity(case.len() + 4);
    for (i, c) in case.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_event_becomes_the_current_one_with_new_fields_not_said() {
        let cost = upgrade(old::Event::SessionCost(old::SessionCost {
            session_id: "s-1".into(),
            agent: None,
            model: Some("gpt-4o".into()),
            cost_usd: 0.25,
            input_tokens: 10,
            output_tokens: 20,
        }));
        let Some(now::Event::SessionCost(cost)) = cost else {
            panic!("a session cost stays one: {cost:?}");
        };
        assert_eq!(
            (cost.input_tokens, cost.output_tokens, cost.cost_usd),
            (10, 20, 0.25)
        );
        assert_eq!(
            (cost.cache_read_tokens, cost.thinking_tokens, cost.turns),
            (0, 0, None)
        );
        assert!(!cost.is_error);

        for (error, rate_limited) in [
            (old::ErrorKind::RateLimited, true),
            (old::ErrorKind::Timeout, false),
        ] {
            let failure = upgrade(old::Event::SessionFailure(old::SessionFailure {
                session_id: "s-1".into(),
                agent: None,
                error,
            }));
            let Some(now::Event::SessionFailure(failure)) = failure else {
                panic!("a session failure stays one: {failure:?}");
            };
            assert_eq!(failure.was_rate_limited, rate_limited, "{error:?}");
            assert_eq!(failure.provider, None);
        }
    }

    #[test]
    fn kind_names_are_the_catalogues() {
        assert_eq!(snake_case("SessionCost"), "session_cost");
        assert_eq!(snake_case("Task"), "task");
        assert_eq!(snake_case("TaskSessionCompleted"), "task_session_completed");
    }
}
