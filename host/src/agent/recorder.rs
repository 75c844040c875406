//! The agent's `recorder` import, from bindings generated for `world agent`: the generated
//! host trait is implemented on [`RecorderImport`], a part of the agent's store state, which
//! forwards every call to the [`Recorder`] it holds (a `Telemetry` handle, for agents this host
//! runs).
//!
//! wasmtime generates separate Rust types for an interface's imports and its exports, though
//! they have the same shape (bytecodealliance/wasmtime#7485). Agents call the import side; the
//! telemetry component is called on the export side; the conversions between them are here,
//! generated from the event catalogue so that a field the WIT adds is carried over with no
//! code of its own (and a field the catalogue and the WIT disagree on is a compile error).

use std::pin::Pin;
use std::time::{Duration, Instant};

use wasmtime::component::{HasSelf, Linker};

use crate::runtime::bindings::recorder as to;

/// What an agent's `recorder` import calls. `Telemetry` implements it; none of it may wait on
/// the network but `flush`, which is bounded by its deadline.
pub trait Recorder: Send + Sync + 'static {
    /// One event the agent recorded; returns at once.
    fn record(&self, event: to::Event);
    /// Events the agent recorded in one call; returns at once.
    fn record_many(&self, events: Vec<to::Event>);
    /// Events the import refused (more in one call than it takes): counted as dropped.
    fn dropped(&self, events: u64);
    /// What the OpenTelemetry mapping dropped of what an agent emitted (content, attributes
    /// outside the mapping, spans of no kind): counted, never forwarded.
    fn inbound_dropped(&self, dropped: &crate::otel::Dropped);
    /// Sends what is queued, giving up when `deadline` has passed.
    fn flush(
        &self,
        deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = to::FlushReport> + Send + '_>>;
    /// Whether telemetry is on, and the counts so far.
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

    /// Counts events that never reached the recorder as dropped.
    pub(super) fn dropped(&self, events: u64) {
        self.recorder.dropped(events);
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
    // For agents of 0.1.0, whose events become current ones by field name (`compat`).
    additional_derives: [serde::Deserialize],
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
    /// Field for field, generated from the catalogue (`agent_telemetry_contract::catalogue`):
    /// a field it declares is carried over, or the build fails.
    fn from(event: from::Event) -> to::Event {
        macro_rules! carry {
            ($(
                $(#[$kind_attr:meta])*
                $Kind:ident = $kind:literal {
                    $( $(#[$attr:meta])* $field:ident : $ty:ty => $rule:ident $(($ns:literal))? ),* $(,)?
                } $(+ computed { $( $cfield:ident : $cty:ty ),* $(,)? })?
            )*) => {
                // Computed fields (a session's totals) are the component's own: no WIT field.
                match event {
                    $( from::Event::$Kind(record) => to::Event::$Kind(to::$Kind {
                        $( $field: Carry::carry(record.$field), )*
                    }), )*
                }
            };
        }
        agent_telemetry_contract::for_each_event!(carry)
    }
}

/// A value of the agent's bindings as the same value of the component's: the WIT types are the
/// same, the generated Rust types are not (bytecodealliance/wasmtime#7485).
pub(super) trait Carry<T> {
    fn carry(self) -> T;
}

macro_rules! carried_as_is {
    ($($t:ty),*) => {$(
        impl Carry<$t> for $t {
            fn carry(self) -> $t {
                self
            }
        }
    )*};
}
carried_as_is!(String, Vec<String>, bool, u8, u32, u64, i32, f64);

impl<F: Carry<T>, T> Carry<Option<T>> for Option<F> {
    fn carry(self) -> Option<T> {
        self.map(Carry::carry)
    }
}

macro_rules! enums {
    ($( $(#[$doc:meta])* $Enum:ident { $( $Variant:ident = $name:literal ),* $(,)? } )*) => {$(
        impl Carry<to::$Enum> for from::$Enum {
            fn carry(self) -> to::$Enum {
                match self {
                    $( from::$Enum::$Variant => to::$Enum::$Variant, )*
                }
            }
        }
    )*};
}
agent_telemetry_contract::for_each_enum!(enums);

// Each component-side record has a `Default` from the catalogue, so the library's convenience
// calls (`telemetry/api.rs`) name only what they set.
mod defaults {
    use crate::runtime::bindings::recorder as records;
    use agent_telemetry_contract::{enum_not_said, record_defaults};

    agent_telemetry_contract::for_each_enum!(enum_not_said);
    agent_telemetry_contract::for_each_event!(record_defaults);
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
