//! The event catalogue, declared once: every kind, every field, its type on the wire and its
//! privacy rule. Everything else is derived from this one list:
//!
//! - the wire type [`Data`] (with [`Data::kind`], [`KINDS`] and [`FIELDS`]);
//! - [`Data::visit`], through which the wire formats walk an event's fields, each keeping only a
//!   table of its own names;
//! - in the component, the conversion from the WIT event with each field's rule applied, and
//!   the check of a spooled batch against the same rules (`guest/src/event.rs`,
//!   `guest/src/admission.rs`);
//! - in the host, the conversions between the WIT bindings an agent calls and the ones the
//!   component is called with, and the privacy table that `telemetry fields` prints and the
//!   README shows (`host/src/trust/privacy.rs`).
//!
//! The list is handed to a macro of the caller's ([`for_each_event!`], [`for_each_enum!`]),
//! so a field added here is a field added everywhere: where a conversion cannot be derived,
//! the build fails until it is written.
//!
//! Field names are the WIT's with `_` for `-`; a field whose rule is `Computed` is the
//! component's own (a session's totals) and has no WIT field.

use serde::{Deserialize, Serialize};

use crate::wire::SessionTotals;

mod read;

/// Most one event's cost may be, in US dollars: past any model call, and small enough that
/// any number of them sum to a finite amount (the collector's day tables add and take away
/// sums). A larger cost is dropped by the component and refused by the collector.
pub const MAX_COST_USD: f64 = 1_000_000.0;

/// How the component treats a field before it reaches the wire (the rules themselves are in
/// the component's `anonymize` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A name: sent as written when it is a plain identifier, else `other:` + keyed hash.
    Name,
    /// Up to 16 names, each as [`Rule::Name`].
    Names,
    /// An id: always a keyed hash, in the namespace given (`session`, `task`, `workflow`).
    Pseudonym(&'static str),
    /// An agent: a keyed hash unless the host allowlists the name.
    Agent,
    /// Command-line flags: only names the host allowlists, never values.
    Flags,
    /// One of a fixed set of values.
    Enum,
    /// A count or small number, as given.
    Number,
    /// Milliseconds, rounded to two significant digits.
    Duration,
    /// US dollars, dropped unless finite, not negative and at most [`MAX_COST_USD`].
    Cost,
    /// True or false.
    Flag,
    /// Computed by the component from other events; nothing an agent says.
    Computed,
}

impl Rule {
    /// The rule in words, as the privacy table shows it.
    pub fn describe(self) -> &'static str {
        match self {
            Rule::Name => {
                "as written if a plain identifier (`[A-Za-z0-9._:/-]`, at most 64, not path-, address- or secret-shaped, no local user name); otherwise `other:` + keyed hash"
            }
            Rule::Names => "at most 16, each as a name",
            Rule::Pseudonym(_) => {
                "always a keyed hash (HMAC-SHA256 under a key that stays on this machine)"
            }
            Rule::Agent => "keyed hash, unless the host allowlists the exact name",
            Rule::Flags => "only flag names the host allowlists; never values",
            Rule::Enum => "one of a fixed set",
            Rule::Number => "number as given",
            Rule::Duration => "milliseconds, rounded to 2 significant digits",
            Rule::Cost => "dropped unless finite, not negative and at most $1,000,000",
            Rule::Flag => "true or false",
            Rule::Computed => "computed by the component from the session's events",
        }
    }
}

/// One field of one kind, as the catalogue declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The kind's wire name (`tool_call`).
    pub kind: &'static str,
    /// The field's wire name (`session_id`).
    pub name: &'static str,
    /// What the component does to it.
    pub rule: Rule,
    /// Whether an event may leave it out (an `option` in the WIT).
    pub optional: bool,
}

/// A field's value as [`Data::visit`] hands it over: only what the wire types hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A name, id or agent, already under its rule.
    Str(&'a str),
    /// A list of names or flags.
    Strs(&'a [String]),
    /// A count, duration or other unsigned number.
    UInt(u64),
    /// A signed number (an exit code).
    Int(i64),
    /// A cost: finite and not negative.
    Float(f64),
    /// True or false.
    Bool(bool),
    /// An enum's wire name (`permission_denied`).
    Enum(&'static str),
    /// A session's totals.
    Totals(&'a SessionTotals),
}

/// What walks an event's fields: a wire format, the component's admission check, a test.
pub trait Visitor {
    /// Called once per field that has a value (an absent optional field is not visited), in
    /// the catalogue's order.
    fn field(&mut self, field: &'static Field, value: Value<'_>);
}

/// How a field's Rust type shows itself to a [`Visitor`].
pub trait FieldValue {
    /// Whether the field may be absent: true of `Option` only.
    const OPTIONAL: bool = false;
    /// The value, or `None` for an absent optional field.
    fn value(&self) -> Option<Value<'_>>;
}

impl FieldValue for String {
    fn value(&self) -> Option<Value<'_>> {
        Some(Value::Str(self))
    }
}

impl FieldValue for Vec<String> {
    fn value(&self) -> Option<Value<'_>> {
        Some(Value::Strs(self))
    }
}

impl FieldValue for bool {
    fn value(&self) -> Option<Value<'_>> {
        Some(Value::Bool(*self))
    }
}

impl FieldValue for f64 {
    fn value(&self) -> Option<Value<'_>> {
        Some(Value::Float(*self))
    }
}

impl FieldValue for i32 {
    fn value(&self) -> Option<Value<'_>> {
        Some(Value::Int((*self).into()))
    }
}

macro_rules! unsigned {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            fn value(&self) -> Option<Value<'_>> {
                Some(Value::UInt((*self).into()))
            }
        }
    )*};
}
unsigned!(u8, u32, u64);

impl FieldValue for SessionTotals {
    fn value(&self) -> Option<Value<'_>> {
        Some(Value::Totals(self))
    }
}

impl<T: FieldValue> FieldValue for Option<T> {
    const OPTIONAL: bool = true;
    fn value(&self) -> Option<Value<'_>> {
        self.as_ref().and_then(FieldValue::value)
    }
}

/// The value of a field no caller set: absent, zero, empty or false (and, through
/// [`enum_not_said!`], an enum's first case). It gives each record of a crate's WIT bindings a
/// `Default` ([`record_defaults!`]), so that code building events names only the fields it
/// sets, and a field the catalogue adds needs nothing there. A required field is always given
/// by whoever records the event; its "not said" value only fills the struct.
pub trait NotSaid {
    /// The value when nothing was said.
    fn not_said() -> Self;
}

macro_rules! not_said_as_default {
    ($($t:ty),*) => {$(
        impl NotSaid for $t {
            fn not_said() -> $t {
                <$t>::default()
            }
        }
    )*};
}
not_said_as_default!(String, Vec<String>, bool, u8, u32, u64, i32, f64);

impl<T> NotSaid for Option<T> {
    fn not_said() -> Option<T> {
        None
    }
}

/// A [`for_each_enum!`] callback: [`NotSaid`] for each enum of the WIT bindings' `recorder`
/// module, which must be in scope as `records`.
#[macro_export]
macro_rules! enum_not_said {
    ($( $(#[$doc:meta])* $Enum:ident { $First:ident = $first:literal $(, $Variant:ident = $name:literal)* $(,)? } )*) => {$(
        impl $crate::catalogue::NotSaid for records::$Enum {
            fn not_said() -> records::$Enum {
                records::$Enum::$First
            }
        }
    )*};
}

/// A [`for_each_event!`] callback: `Default` for each event record of the WIT bindings'
/// `recorder` module, which must be in scope as `records` (with [`enum_not_said!`] applied).
#[macro_export]
macro_rules! record_defaults {
    ($(
        $(#[$kind_attr:meta])*
        $Kind:ident = $kind:literal {
            $( $(#[$attr:meta])* $field:ident : $ty:ty => $rule:ident $(($ns:literal))? ),* $(,)?
        } $(+ computed { $( $cfield:ident : $cty:ty ),* $(,)? })?
    )*) => {$(
        impl Default for records::$Kind {
            fn default() -> records::$Kind {
                records::$Kind { $( $field: $crate::catalogue::NotSaid::not_said(), )* }
            }
        }
    )*};
}

/// Hands the whole event catalogue to `$callback!`, as
/// `Kind = "wire_name" { field: Type => Rule, ... } ...`, each kind and field with its doc
/// and serde attributes; a kind may end with `+ computed { field: Type, ... }`, the fields the
/// component fills in itself (a session's totals), which no agent sets. The one list of what
/// an event can carry.
#[macro_export]
macro_rules! for_each_event {
    ($callback:ident) => {
        $callback! {
            /// A CLI command ran (docker-agent's `command`): its flag names, never arguments.
            Command = "command" {
                action: String => Name,
                outcome: Outcome => Enum,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                error: Option<ErrorKind> => Enum,
                arg_count: u32 => Number,
                flags: Vec<String> => Flags,
            }
            /// An agent called a tool (docker-agent's `tool`).
            ToolCall = "tool_call" {
                tool: String => Name,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                session_id: Option<String> => Pseudonym("session"),
                #[serde(default, skip_serializing_if = "Option::is_none")]
                agent: Option<String> => Agent,
                duration_ms: u64 => Duration,
                outcome: Outcome => Enum,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                error: Option<ErrorKind> => Enum,
            }
            /// One model call's token use and cost (docker-agent's `token`).
            TokenUsage = "token_usage" {
                model: String => Name,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                session_id: Option<String> => Pseudonym("session"),
                #[serde(default, skip_serializing_if = "Option::is_none")]
                agent: Option<String> => Agent,
                input_tokens: u64 => Number,
                output_tokens: u64 => Number,
                cached_tokens: u64 => Number,
                reasoning_tokens: u64 => Number,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                cost_usd: Option<f64> => Cost,
            }
            /// A session began.
            SessionStart = "session_start" {
                session_id: String => Pseudonym("session"),
                #[serde(default, skip_serializing_if = "Option::is_none")]
                agent: Option<String> => Agent,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                task_id: Option<String> => Pseudonym("task"),
            }
            /// A session ended, with the totals the component computed from its events.
            SessionEnd = "session_end" {
                session_id: String => Pseudonym("session"),
                #[serde(default, skip_serializing_if = "Option::is_none")]
                agent: Option<String> => Agent,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                task_id: Option<String> => Pseudonym("task"),
                outcome: Outcome => Enum,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                error: Option<ErrorKind> => Enum,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                tasks_processed: Option<u32> => Number,
            } + computed {
                totals: SessionTotals,
            }
            /// A session's cost as the agent reports it (Agent Swarm's `session.cost`).
            SessionCost = "session_cost" {
                session_id: String => Pseudonym("session"),
                #[serde(default, skip_serializing_if = "Option::is_none")]
                agent: Option<String> => Agent,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                model: Option<String> => Name,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                cost_usd: Option<f64> => Cost,
                input_tokens: u64 => Number,
                output_tokens: u64 => Number,
                #[serde(default)]
                cache_read_tokens: u64 => Number,
                #[serde(default)]
                cache_write_tokens: u64 => Number,
                #[serde(default)]
                reasoning_tokens: u64 => Number,
                #[serde(default)]
                thinking_tokens: u64 => Number,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                turns: Option<u32> => Number,
                #[serde(default)]
                is_error: bool => Flag,
            }
            /// A session failed (Agent Swarm's `session.failure`).
            SessionFailure = "session_failure" {
                session_id: String => Pseudonym("session"),
                #[serde(default, skip_serializing_if = "Option::is_none")]
                agent: Option<String> => Agent,
                error: ErrorKind => Enum,
                #[serde(default)]
                was_rate_limited: bool => Flag,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                provider: Option<String> => Name,
            }
            /// A server started or shut down.
            Server = "server" {
                state: ServerState => Enum,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                uptime_ms: Option<u64> => Duration,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                sessions_processed: Option<u64> => Number,
            }
            /// An agent registered with a server.
            AgentRegistered = "agent_registered" {
                agent: String => Agent,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                role: Option<String> => Name,
                #[serde(default)]
                capabilities: Vec<String> => Names,
                #[serde(default)]
                is_reconnect: bool => Flag,
            }
            /// A task changed state (Agent Swarm's `task.*`).
            Task = "task" {
                task_id: String => Pseudonym("task"),
                state: TaskState => Enum,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                previous_state: Option<TaskState> => Enum,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                agent: Option<String> => Agent,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                source: Option<String> => Name,
                tags: Vec<String> => Names,
                has_parent: bool => Flag,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                priority: Option<u8> => Number,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                duration_ms: Option<u64> => Duration,
            }
            /// A task's session finished (Agent Swarm's `task.session_completed`).
            TaskSessionCompleted = "task_session_completed" {
                task_id: String => Pseudonym("task"),
                #[serde(default, skip_serializing_if = "Option::is_none")]
                agent: Option<String> => Agent,
                exit_code: i32 => Number,
                is_error: bool => Flag,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                duration_ms: Option<u64> => Duration,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                provider: Option<String> => Name,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                harness: Option<String> => Name,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                model: Option<String> => Name,
            }
            /// A workflow changed state (Agent Swarm's `workflow.*`).
            Workflow = "workflow" {
                workflow_id: String => Pseudonym("workflow"),
                state: WorkflowState => Enum,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                node_count: Option<u32> => Number,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                source: Option<String> => Name,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                trigger: Option<String> => Name,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                duration_ms: Option<u64> => Duration,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                steps_completed: Option<u32> => Number,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                steps_failed: Option<u32> => Number,
            }
            /// A schedule ran or failed (Agent Swarm's `schedule.*`).
            Schedule = "schedule" {
                state: ScheduleState => Enum,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                schedule_type: Option<String> => Name,
                triggered_workflows: bool => Flag,
                was_recovered: bool => Flag,
                #[serde(default, skip_serializing_if = "Option::is_none")]
                consecutive_errors: Option<u32> => Number,
            }
            /// A context compaction (Agent Swarm's `compaction.triggered`).
            Compaction = "compaction" {
                #[serde(default, skip_serializing_if = "Option::is_none")]
                session_id: Option<String> => Pseudonym("session"),
                #[serde(default, skip_serializing_if = "Option::is_none")]
                agent: Option<String> => Agent,
                trigger: CompactionTrigger => Enum,
                pre_compact_tokens: u64 => Number,
                context_total_tokens: u64 => Number,
            }
        }
    };
}

/// Hands every enum an event field can hold to `$callback!`, as
/// `Enum { Variant = "wire_name", ... } ...`. The WIT's enums have the same cases.
#[macro_export]
macro_rules! for_each_enum {
    ($callback:ident) => {
        $callback! {
            /// How an operation ended.
            Outcome { Success = "success", Failure = "failure", Cancelled = "cancelled" }
            /// Why an operation failed: a fixed set, never the error's text.
            ErrorKind {
                Timeout = "timeout",
                Cancelled = "cancelled",
                InvalidInput = "invalid_input",
                NotFound = "not_found",
                PermissionDenied = "permission_denied",
                Authentication = "authentication",
                RateLimited = "rate_limited",
                Network = "network",
                Unavailable = "unavailable",
                Tool = "tool",
                Model = "model",
                Internal = "internal",
                Other = "other",
            }
            /// A server's state.
            ServerState { Started = "started", Shutdown = "shutdown" }
            /// A task's state.
            TaskState {
                Created = "created",
                Started = "started",
                Claimed = "claimed",
                Completed = "completed",
                Failed = "failed",
                Cancelled = "cancelled",
            }
            /// A workflow's state.
            WorkflowState {
                Created = "created",
                Deleted = "deleted",
                Started = "started",
                Completed = "completed",
                Failed = "failed",
            }
            /// A schedule's state.
            ScheduleState { Executed = "executed", Error = "error" }
            /// What started a compaction.
            CompactionTrigger { Auto = "auto", Manual = "manual", AutoInferred = "auto_inferred" }
        }
    };
}

macro_rules! define_enums {
    ($( $(#[$doc:meta])* $Enum:ident { $( $Variant:ident = $name:literal ),* $(,)? } )*) => {$(
        $(#[$doc])*
        #[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[allow(missing_docs)] // The cases say what they are; their wire names are below.
        pub enum $Enum {
            $(
                #[serde(rename = $name)]
                $Variant,
            )*
        }

        impl $Enum {
            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $Enum::$Variant => $name, )*
                }
            }
        }

        impl FieldValue for $Enum {
            fn value(&self) -> Option<Value<'_>> {
                Some(Value::Enum(self.as_str()))
            }
        }
    )*};
}

for_each_enum!(define_enums);

/// Whether a field's attributes include `#[serde(default ...)]`: a field an event may leave
/// out even though it is not an `Option`.
macro_rules! has_serde_default {
    () => {
        false
    };
    (#[serde(default $($rest:tt)*)] $($more:tt)*) => {
        true
    };
    (#[$($other:tt)*] $($more:tt)*) => {
        has_serde_default!($($more)*)
    };
}

macro_rules! define_data {
    ($(
        $(#[$kind_attr:meta])*
        $Kind:ident = $kind:literal {
            $( $(#[$($attr:tt)*])* $field:ident : $ty:ty => $rule:ident $(($ns:literal))? ),* $(,)?
        } $(+ computed { $( $cfield:ident : $cty:ty ),* $(,)? })?
    )*) => {
        /// An event's own fields, tagged with its kind (`"type": "tool_call"`).
        #[derive(Serialize, Debug, Clone, PartialEq)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
        pub enum Data {
            $(
                $(#[$kind_attr])*
                #[allow(missing_docs)]
                $Kind { $( $(#[$($attr)*])* $field: $ty, )* $($( $cfield: $cty, )*)? },
            )*
        }

        /// Each kind's fields as they are read ([`read::read_fields`]), under the kind's name.
        #[allow(non_upper_case_globals)]
        mod reads {
            use super::*;
            $(
                pub(super) const $Kind: &[read::FieldRead] = &[
                    $(read::FieldRead {
                        name: stringify!($field),
                        shape: <$ty as read::ReadField>::SHAPE,
                        nullable: <$ty as FieldValue>::OPTIONAL,
                        required: !<$ty as FieldValue>::OPTIONAL
                            && !has_serde_default!($(#[$($attr)*])*),
                    },)*
                    $($(read::FieldRead {
                        name: stringify!($cfield),
                        shape: <$cty as read::ReadField>::SHAPE,
                        nullable: <$cty as FieldValue>::OPTIONAL,
                        required: !<$cty as FieldValue>::OPTIONAL,
                    },)*)?
                ];
                const _: () = assert!($Kind.len() <= read::MAX_FIELDS);
            )*
        }

        /// Each kind's field names, in the same order.
        #[allow(non_upper_case_globals)]
        mod names {
            $(
                pub(super) const $Kind: &[&str] =
                    &[$(stringify!($field),)* $($(stringify!($cfield),)*)?];
            )*
        }

        /// The fields of an event of `kind` (one of [`KINDS`]), read from `map`.
        fn data_of_kind<'de, A: serde::de::MapAccess<'de>>(
            kind: &str,
            map: A,
        ) -> Result<Data, A::Error> {
            match kind {
                $( $kind => {
                    let mut slots = read::read_fields(reads::$Kind, names::$Kind, map)?;
                    let mut slots = slots.iter_mut();
                    Ok(Data::$Kind {
                        $($field: read::take(&mut slots),)*
                        $($($cfield: read::take(&mut slots),)*)?
                    })
                } )*
                other => Err(serde::de::Error::unknown_variant(other, &KINDS)),
            }
        }

        /// How the fields of `kind` are read.
        #[cfg(test)]
        fn fields_read(kind: &str) -> &'static [read::FieldRead] {
            match kind {
                $( $kind => reads::$Kind, )*
                _ => &[],
            }
        }

        /// Every kind's wire name, in the catalogue's order.
        pub const KINDS: [&str; [$($kind),*].len()] = [$($kind),*];

        /// Every field of every kind, in the catalogue's order.
        pub const FIELDS: &[Field] = &[$($(
            Field {
                kind: $kind,
                name: stringify!($field),
                rule: Rule::$rule $(($ns))?,
                optional: <$ty as FieldValue>::OPTIONAL,
            },
        )* $($(
            Field {
                kind: $kind,
                name: stringify!($cfield),
                rule: Rule::Computed,
                optional: <$cty as FieldValue>::OPTIONAL,
            },
        )*)? )*];

        impl Data {
            /// The `type` tag, as it appears on the wire.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( Data::$Kind { .. } => $kind, )*
                }
            }

            /// Hands each field that has a value to `visitor`, in the catalogue's order.
            /// (`dyn`: one copy of this walk over every kind, not one per visitor.)
            pub fn visit(&self, visitor: &mut dyn Visitor) {
                match self {
                    $( Data::$Kind { $($field,)* $($($cfield,)*)? } => {
                        $(
                            if let Some(value) = FieldValue::value($field) {
                                const FIELD: Field = Field {
                                    kind: $kind,
                                    name: stringify!($field),
                                    rule: Rule::$rule $(($ns))?,
                                    optional: <$ty as FieldValue>::OPTIONAL,
                                };
                                visitor.field(&FIELD, value);
                            }
                        )*
                        $($(
                            if let Some(value) = FieldValue::value($cfield) {
                                const FIELD: Field = Field {
                                    kind: $kind,
                                    name: stringify!($cfield),
                                    rule: Rule::Computed,
                                    optional: <$cty as FieldValue>::OPTIONAL,
                                };
                                visitor.field(&FIELD, value);
                            }
                        )*)?
                    } )*
                }
            }
        }
    };
}

for_each_event!(define_data);

/// [`Data`] is read `type` first, as this project writes it, and then the kind's fields
/// straight from the input, by the kind's table ([`read`]); with `type` anywhere else, by
/// reading the object whole and then again with `type` first. (serde's derive for a tagged
/// enum buffers every event's fields before reading them, and its code for that, repeated for
/// each kind, was a seventh of the component.)
impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Data, D::Error> {
        deserializer.deserialize_map(DataVisitor)
    }
}

struct DataVisitor;

impl<'de> serde::de::Visitor<'de> for DataVisitor {
    type Value = Data;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an event's data: an object with its `type`")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Data, A::Error> {
        use serde::de::Error;
        let first = match map.next_key::<FirstKey>()? {
            Some(FirstKey::Type) => {
                let kind = map.next_value_seed(Kind)?;
                return data_of_kind(kind, map);
            }
            Some(FirstKey::Other(key)) => key,
            None => return Err(A::Error::missing_field("type")),
        };
        // A list, not a map: an event has a few fields, and a map's code is not worth it here.
        let mut object: Vec<(String, serde_json::Value)> = Vec::new();
        let mut key = first;
        loop {
            let value: serde_json::Value = map.next_value()?;
            if object.iter().any(|(k, _)| *k == key) {
                return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
            }
            object.push((key, value));
            match map.next_key::<FirstKey>()? {
                Some(FirstKey::Type) => key = "type".to_string(),
                Some(FirstKey::Other(next)) => key = next,
                None => break,
            }
        }
        let kind = match object.iter().position(|(k, _)| k == "type") {
            Some(at) => match object.remove(at).1 {
                serde_json::Value::String(kind) => kind,
                _ => return Err(A::Error::custom("`type` is not a string")),
            },
            None => return Err(A::Error::missing_field("type")),
        };
        let mut again = br#"{"type":"#.to_vec();
        serde_json::to_writer(&mut again, &kind).map_err(A::Error::custom)?;
        for (key, value) in &object {
            again.push(b',');
            serde_json::to_writer(&mut again, key).map_err(A::Error::custom)?;
            again.push(b':');
            serde_json::to_writer(&mut again, value).map_err(A::Error::custom)?;
        }
        again.push(b'}');
        serde_json::from_slice(&again).map_err(A::Error::custom)
    }
}

/// An object's key, told apart from `type` without a copy.
enum FirstKey {
    Type,
    Other(String),
}

impl<'de> Deserialize<'de> for FirstKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<FirstKey, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = FirstKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FirstKey, E> {
                Ok(match v {
                    "type" => FirstKey::Type,
                    other => FirstKey::Other(other.to_string()),
                })
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// An event's `type`, as the kind's name in [`KINDS`] (no copy).
struct Kind;

impl<'de> serde::de::DeserializeSeed<'de> for Kind {
    type Value = &'static str;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for Kind {
    type Value = &'static str;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an event kind")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<&'static str, E> {
        KINDS
            .iter()
            .find(|k| **k == v)
            .copied()
            .ok_or_else(|| E::unknown_variant(v, &KINDS))
    }
}

/// The catalogue's entry for `name` of `kind`, if there is one.
pub fn field(kind: &str, name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.kind == kind && f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_fields_and_every_field_a_kind() {
        for kind in KINDS {
            assert!(
                FIELDS.iter().any(|f| f.kind == kind),
                "{kind} declares no field"
            );
        }
        for field in FIELDS {
            assert!(KINDS.contains(&field.kind), "{field:?} has no kind");
        }
    }

    /// A failed tool call with every field but its session.
    fn a_tool_call() -> Data {
        Data::ToolCall {
            tool: "grep".into(),
            session_id: None,
            agent: Some("a".into()),
            duration_ms: 1200,
            outcome: Outcome::Failure,
            error: Some(ErrorKind::RateLimited),
        }
    }

    #[test]
    fn visit_hands_over_present_fields_in_order_and_skips_absent_ones() {
        struct Seen(Vec<(&'static str, String)>);
        impl Visitor for Seen {
            fn field(&mut self, field: &'static Field, value: Value<'_>) {
                self.0.push((field.name, format!("{value:?}")));
            }
        }
        let data = a_tool_call();
        let mut seen = Seen(Vec::new());
        data.visit(&mut seen);
        assert_eq!(
            seen.0,
            vec![
                ("tool", "Str(\"grep\")".to_string()),
                ("agent", "Str(\"a\")".to_string()),
                ("duration_ms", "UInt(1200)".to_string()),
                ("outcome", "Enum(\"failure\")".to_string()),
                ("error", "Enum(\"rate_limited\")".to_string()),
            ]
        );
        assert_eq!(
            field("tool_call", "session_id").unwrap().rule,
            Rule::Pseudonym("session")
        );
    }

    #[test]
    fn data_is_read_with_its_type_anywhere_and_refused_when_it_is_not_whole() {
        let data = a_tool_call();
        let written = serde_json::to_string(&data).unwrap();
        assert!(written.starts_with(r#"{"type":"tool_call","#), "{written}");
        assert_eq!(serde_json::from_str::<Data>(&written).unwrap(), data);
        let fields = r#""tool":"grep","agent":"a","duration_ms":1200,"outcome":"failure","error":"rate_limited""#;
        for reordered in [
            format!(r#"{{{fields},"type":"tool_call"}}"#),
            r#"{"tool":"grep","type":"tool_call","agent":"a","duration_ms":1200,"outcome":"failure","error":"rate_limited"}"#.to_string(),
            format!(r#"{{ "type" : "tool_call" , {fields} }}"#),
        ] {
            assert_eq!(
                serde_json::from_str::<Data>(&reordered).unwrap(),
                data,
                "{reordered}"
            );
        }
        for (json, says) in [
            (format!("{{{fields}}}"), "missing field `type`"),
            ("{}".to_string(), "missing field `type`"),
            (
                format!(r#"{{"type":"tool_kall",{fields}}}"#),
                "unknown variant `tool_kall`",
            ),
            (
                format!(r#"{{{fields},"type":"tool_kall"}}"#),
                "unknown variant `tool_kall`",
            ),
            (
                format!(r#"{{"type":"tool_call","type":"tool_call",{fields}}}"#),
                "unknown field `type`",
            ),
            (
                format!(r#"{{"type":"tool_call",{fields},"type":"tool_call"}}"#),
                "unknown field `type`",
            ),
            (
                format!(r#"{{"tool":"x",{fields},"type":"tool_call"}}"#),
                "duplicate field `tool`",
            ),
            (
                format!(r#"{{"type":"tool_call",{fields},"secret":"x"}}"#),
                "unknown field `secret`",
            ),
            (
                format!(r#"{{"secret":"x",{fields},"type":"tool_call"}}"#),
                "unknown field `secret`",
            ),
            (format!(r#"{{"type":1,{fields}}}"#), "invalid type"),
            (
                format!(r#"{{{fields},"type":1}}"#),
                "`type` is not a string",
            ),
            (r#"["tool_call","grep"]"#.to_string(), "invalid type"),
            (
                r#"{"type":"tool_call","tool":"grep","duration_ms":1200}"#.to_string(),
                "missing field `outcome`",
            ),
            (
                r#"{"duration_ms":-1,"type":"tool_call"}"#.to_string(),
                "invalid value",
            ),
        ] {
            let error = serde_json::from_str::<Data>(&json).unwrap_err().to_string();
            assert!(error.contains(says), "{json}: {error}");
        }
    }

    /// serde's derive for each kind's fields, as they were read before [`read`]: the reference
    /// the table-driven reading is held to.
    macro_rules! by_derive {
        ($(
            $(#[$kind_attr:meta])*
            $Kind:ident = $kind:literal {
                $( $(#[$attr:meta])* $field:ident : $ty:ty => $rule:ident $(($ns:literal))? ),* $(,)?
            } $(+ computed { $( $cfield:ident : $cty:ty ),* $(,)? })?
        )*) => {
            #[allow(dead_code)]
            mod derived {
                use super::super::*;
                $(
                    #[derive(serde::Deserialize)]
                    #[serde(deny_unknown_fields)]
                    pub struct $Kind { $( $(#[$attr])* pub $field: $ty, )* $($( pub $cfield: $cty, )*)? }
                )*
            }

            /// The fields of `kind` in the JSON object `fields`, read by serde's derive.
            fn read_by_derive(kind: &str, fields: &str) -> Option<Data> {
                match kind {
                    $( $kind => {
                        let derived::$Kind { $($field,)* $($($cfield,)*)? } =
                            serde_json::from_str(fields).ok()?;
                        Some(Data::$Kind { $($field,)* $($($cfield,)*)? })
                    } )*
                    _ => None,
                }
            }
        };
    }

    for_each_event!(by_derive);

    /// A value of `shape` that reads.
    fn a_value_of(shape: read::Shape) -> String {
        match shape {
            read::Shape::Str => r#""a""#.into(),
            read::Shape::Strs => r#"["a","b"]"#.into(),
            read::Shape::UInt(_) => "7".into(),
            read::Shape::Int(..) => "-7".into(),
            read::Shape::Float => "0.25".into(),
            read::Shape::Bool => "true".into(),
            read::Shape::Enum(names) => format!(r#""{}""#, names[names.len() - 1]),
            read::Shape::Totals => serde_json::to_string(&SessionTotals::default()).unwrap(),
        }
    }

    #[test]
    fn every_field_of_every_kind_is_accepted_and_refused_as_serdes_derive_does() {
        let others = [
            "null",
            r#""a""#,
            r#""""#,
            r#"["a"]"#,
            "[]",
            "[1]",
            "{}",
            "0",
            "1",
            "-1",
            "255",
            "256",
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "4294967295",
            "4294967296",
            "18446744073709551615",
            "18446744073709551616",
            "1.5",
            "-0.5",
            "1e3",
            "true",
            "false",
            r#""success""#,
            r#""nope""#,
            r#""auto_inferred""#,
            r#""rate_limited""#,
            r#"{"tool_calls":1,"tool_failures":0,"input_tokens":0,"output_tokens":0,"cost_usd":0,"error_count":0}"#,
            r#"{"tool_calls":1}"#,
        ];
        let mut compared = 0;
        for kind in KINDS {
            let fields = fields_read(kind);
            assert!(!fields.is_empty(), "{kind}");
            let base: Vec<(&str, String)> = fields
                .iter()
                .map(|f| (f.name, a_value_of(f.shape)))
                .collect();
            let mut cases: Vec<Vec<(&str, String)>> = vec![base.clone()];
            for (i, field) in fields.iter().enumerate() {
                let mut left_out = base.clone();
                left_out.remove(i);
                cases.push(left_out);
                let mut twice = base.clone();
                twice.push(base[i].clone());
                cases.push(twice);
                for other in others {
                    let mut changed = base.clone();
                    changed[i].1 = other.to_string();
                    cases.push(changed);
                }
                let mut unknown = base.clone();
                unknown.insert(i, ("not_a_field", "1".to_string()));
                cases.push(unknown);
                assert!(fields.iter().filter(|f| f.name == field.name).count() == 1);
            }
            for case in cases {
                let body: Vec<String> = case.iter().map(|(k, v)| format!(r#""{k}":{v}"#)).collect();
                let body = body.join(",");
                let derived = read_by_derive(kind, &format!("{{{body}}}"));
                let sep = if body.is_empty() { "" } else { "," };
                let ours =
                    serde_json::from_str::<Data>(&format!(r#"{{"type":"{kind}"{sep}{body}}}"#));
                assert_eq!(
                    ours.as_ref().ok(),
                    derived.as_ref(),
                    "{kind}: {body}: {ours:?}"
                );
                compared += 1;
            }
        }
        // Every kind whole, and each field in 34 ways.
        assert_eq!(compared, KINDS.len() + FIELDS.len() * (3 + others.len()));
    }

    #[test]
    fn an_enums_wire_name_is_its_serde_name() {
        for kind in [ErrorKind::PermissionDenied, ErrorKind::RateLimited] {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().to_string())
            );
        }
        assert_eq!(
            serde_json::to_value(CompactionTrigger::AutoInferred).unwrap(),
            "auto_inferred"
        );
    }
}
