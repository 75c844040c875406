//! The mapping from OpenTelemetry's GenAI semantic conventions to this project's events: the
//! inbound half of the privacy contract. Both doors (an agent's `wasi:otel` import and the
//! `relay`'s OTLP receiver) hand their spans, token-usage metric points and log records to one
//! [`Mapper`], which turns what the tables below name into events and drops the rest, counting
//! what it dropped and why ([`Dropped`]).
//!
//! The tables are data: [`OPERATIONS`] (which spans become which kinds), [`ATTRIBUTES`] (the
//! only attributes read, with the older names SDKs still emit, and the catalogue fields each
//! fills) and [`CONTENT`] (attributes known to carry prompts, messages, instructions, tool
//! arguments or results, counted apart so a user sees that they were caught). The docs'
//! mapping table is generated from them ([`markdown`]) and a test holds it to the catalogue.
//!
//! Nothing an attribute says reaches the wire unchecked: the events go through the telemetry
//! component like any `recorder` event, so every name passes the same anonymizer.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::event::{
    AgentRegistered, ErrorKind, Event, Outcome, SessionEnd, SessionStart, TokenUsage, ToolCall,
    Workflow, WorkflowState,
};

/// An attribute's value, reduced to what the mapping can read.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// Anything else (bytes, arrays, maps): never read.
    Other,
}

/// A list of attributes as they came: key and value.
pub type Attributes = Vec<(String, AttrValue)>;

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpanStatus {
    /// Not set by the instrumentation.
    #[default]
    Unset,
    /// Marked successful.
    Ok,
    /// Marked failed (its description is never read: it is free text).
    Error,
}

/// One ended span, as either door hands it over.
#[derive(Debug, Clone, Default)]
pub struct Span {
    /// The span's name: only its first word is read, as the operation when the
    /// `gen_ai.operation.name` attribute is missing.
    pub name: String,
    /// The trace id, hex.
    pub trace_id: String,
    /// Start and end, in nanoseconds since the Unix epoch.
    pub start_unix_nanos: u64,
    /// See `start_unix_nanos`.
    pub end_unix_nanos: u64,
    /// How it ended.
    pub status: SpanStatus,
    /// Its attributes.
    pub attributes: Attributes,
    /// Span events and links it carried: never read, counted as dropped.
    pub events_and_links: u64,
}

/// One data point of the `gen_ai.client.token.usage` histogram.
#[derive(Debug, Clone, Default)]
pub struct TokenPoint {
    /// The point's attributes (`gen_ai.token.type`, the model, the operation, ...).
    pub attributes: Attributes,
    /// The sum of the histogram: tokens.
    pub sum: f64,
    /// Cumulative (a running total since `start_unix_nanos`) rather than a delta.
    pub cumulative: bool,
    /// When the series started.
    pub start_unix_nanos: u64,
}

/// Where telemetry came from: the resource attributes of an OTLP export.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// `service.name`: the agent, when a span names none (`gen_ai.agent.name`).
    pub service_name: Option<String>,
}

/// The metric whose points become token usage.
pub const TOKEN_METRIC: &str = "gen_ai.client.token.usage";

/// What the mapping dropped, by reason: none of it is forwarded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dropped {
    /// Attributes that carry content: messages, prompts, instructions, tool arguments and
    /// results ([`CONTENT`]).
    pub content_attributes: u64,
    /// Attributes not in the mapping ([`ATTRIBUTES`]), on a span, a point or a resource.
    pub other_attributes: u64,
    /// Spans of no operation the mapping has a kind for (or missing what their kind needs).
    pub spans: u64,
    /// Span events and links (GenAI content events among them).
    pub span_events: u64,
    /// Log records: GenAI log events carry content; none is mapped.
    pub log_records: u64,
    /// Metric data points other than token usage, or token usage already counted from spans.
    pub metric_points: u64,
    /// Spans, points or records past the relay's bounds for one request.
    pub over_limit: u64,
    /// Requests refused whole: not OTLP, too large, or in an encoding the relay does not take.
    pub requests: u64,
}

impl Dropped {
    /// Each count with what it counts, in the order [`describe`](Self::describe) says them
    /// (the destructuring fails to compile until a new count is listed here).
    fn counts(&self) -> [(u64, &'static str); 8] {
        let Dropped {
            content_attributes,
            other_attributes,
            spans,
            span_events,
            log_records,
            metric_points,
            over_limit,
            requests,
        } = *self;
        [
            (content_attributes, "content attributes"),
            (other_attributes, "other attributes"),
            (spans, "spans of no mapped kind"),
            (span_events, "span events and links"),
            (log_records, "log records"),
            (metric_points, "metric points"),
            (over_limit, "items past the relay's bounds"),
            (requests, "requests refused whole"),
        ]
    }

    /// Everything dropped, in all.
    pub fn total(&self) -> u64 {
        self.counts()
            .iter()
            .fold(0u64, |all, (n, _)| all.saturating_add(*n))
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Dropped) {
        self.content_attributes = self
            .content_attributes
            .saturating_add(other.content_attributes);
        self.other_attributes = self.other_attributes.saturating_add(other.other_attributes);
        self.spans = self.spans.saturating_add(other.spans);
        self.span_events = self.span_events.saturating_add(other.span_events);
        self.log_records = self.log_records.saturating_add(other.log_records);
        self.metric_points = self.metric_points.saturating_add(other.metric_points);
        self.over_limit = self.over_limit.saturating_add(other.over_limit);
        self.requests = self.requests.saturating_add(other.requests);
    }

    /// The counts in words, the nonzero ones only: what `log` and `status` show.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .counts()
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        if parts.is_empty() {
            "nothing".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// A GenAI operation (`gen_ai.operation.name`) and the kinds its span becomes.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// The operation's name, as `gen_ai.operation.name` has it (or the span name's first word).
    pub name: &'static str,
    /// The event kinds (catalogue wire names) its span becomes.
    pub kinds: &'static [&'static str],
    /// How, in words, for the docs.
    pub how: &'static str,
}

/// Which spans become which events; a span of any other operation is dropped and counted.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        name: "invoke_agent",
        kinds: &["session_start", "session_end"],
        how: "a session: started when the mapping first hears of it (this span or an earlier child), ended with this span; failed when the span's status is an error or `error.type` is set",
    },
    Operation {
        name: "execute_tool",
        kinds: &["tool_call"],
        how: "one tool call, its duration the span's",
    },
    Operation {
        name: "chat",
        kinds: &["token_usage"],
        how: "one model call's tokens, when the span carries any usage",
    },
    Operation {
        name: "text_completion",
        kinds: &["token_usage"],
        how: "as `chat`",
    },
    Operation {
        name: "generate_content",
        kinds: &["token_usage"],
        how: "as `chat`",
    },
    Operation {
        name: "invoke_workflow",
        kinds: &["workflow"],
        how: "a workflow that completed or failed, its duration the span's",
    },
    Operation {
        name: "create_agent",
        kinds: &["agent_registered"],
        how: "an agent registered",
    },
];

/// One attribute the mapping reads, and the catalogue fields (kind, field) it fills.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// Its current name in the GenAI conventions.
    pub attribute: &'static str,
    /// Older names SDKs still emit, read when the current one is missing.
    pub older: &'static [&'static str],
    /// The fields it fills, as (kind, field) in the catalogue's wire names.
    pub fills: &'static [(&'static str, &'static str)],
    /// What else it is read for, in words (empty when it only fills fields).
    pub read_for: &'static str,
}

impl Source {
    fn names(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.attribute).chain(self.older.iter().copied())
    }

    /// Whether it fills a field of `kind`.
    fn fills_kind(&self, kind: &str) -> bool {
        self.fills.iter().any(|(k, _)| *k == kind)
    }
}

const OPERATION_NAME: Source = Source {
    attribute: "gen_ai.operation.name",
    older: &[],
    fills: &[],
    read_for: "the operation, which decides the kind (else the span name's first word)",
};
const TOOL_CALL_ID: Source = Source {
    attribute: "gen_ai.tool.call.id",
    older: &["tool.call_id"],
    fills: &[],
    read_for: "one tool call once: a second span with the same id (docker-agent ends two per call) is dropped",
};
const CONVERSATION: Source = Source {
    attribute: "gen_ai.conversation.id",
    older: &["session.id", "conversation.id"],
    fills: &[
        ("session_start", "session_id"),
        ("session_end", "session_id"),
        ("tool_call", "session_id"),
        ("token_usage", "session_id"),
    ],
    read_for: "",
};
const AGENT: Source = Source {
    attribute: "gen_ai.agent.name",
    older: &["cagent.agent.name", "agent"],
    fills: &[
        ("session_start", "agent"),
        ("session_end", "agent"),
        ("tool_call", "agent"),
        ("token_usage", "agent"),
        ("agent_registered", "agent"),
    ],
    read_for: "",
};
const TOOL: Source = Source {
    attribute: "gen_ai.tool.name",
    older: &["tool.name"],
    fills: &[("tool_call", "tool")],
    read_for: "",
};
const RESPONSE_MODEL: Source = Source {
    attribute: "gen_ai.response.model",
    older: &[],
    fills: &[("token_usage", "model")],
    read_for: "",
};
const REQUEST_MODEL: Source = Source {
    attribute: "gen_ai.request.model",
    older: &[],
    fills: &[("token_usage", "model")],
    read_for: "",
};
const INPUT_TOKENS: Source = Source {
    attribute: "gen_ai.usage.input_tokens",
    older: &["gen_ai.usage.prompt_tokens", "llm.usage.prompt_tokens"],
    fills: &[("token_usage", "input_tokens")],
    read_for: "",
};
const OUTPUT_TOKENS: Source = Source {
    attribute: "gen_ai.usage.output_tokens",
    older: &[
        "gen_ai.usage.completion_tokens",
        "llm.usage.completion_tokens",
    ],
    fills: &[("token_usage", "output_tokens")],
    read_for: "",
};
const CACHE_READ_TOKENS: Source = Source {
    attribute: "gen_ai.usage.cache_read.input_tokens",
    older: &[
        "gen_ai.usage.cache_read_input_tokens",
        "gen_ai.usage.cached_tokens",
    ],
    fills: &[("token_usage", "cached_tokens")],
    read_for: "",
};
const REASONING_TOKENS: Source = Source {
    attribute: "gen_ai.usage.reasoning.output_tokens",
    older: &["gen_ai.usage.reasoning_tokens"],
    fills: &[("token_usage", "reasoning_tokens")],
    read_for: "",
};
const ERROR_TYPE: Source = Source {
    attribute: "error.type",
    older: &[],
    fills: &[
        ("session_end", "error"),
        ("tool_call", "error"),
        ("workflow", "state"),
    ],
    read_for: "",
};
const WORKFLOW: Source = Source {
    attribute: "gen_ai.workflow.name",
    older: &[],
    fills: &[("workflow", "workflow_id")],
    read_for: "",
};
const TOKEN_TYPE: Source = Source {
    attribute: "gen_ai.token.type",
    older: &[],
    fills: &[
        ("token_usage", "input_tokens"),
        ("token_usage", "output_tokens"),
        ("token_usage", "cached_tokens"),
        ("token_usage", "reasoning_tokens"),
    ],
    read_for: "which count a token metric point is: `input`, `output`, and docker-agent's `cache_read.input` and `reasoning.output`",
};

/// Every attribute the mapping reads: anything else is dropped and counted.
pub const ATTRIBUTES: &[Source] = &[
    OPERATION_NAME,
    TOOL_CALL_ID,
    CONVERSATION,
    AGENT,
    TOOL,
    RESPONSE_MODEL,
    REQUEST_MODEL,
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    CACHE_READ_TOKENS,
    REASONING_TOKENS,
    ERROR_TYPE,
    WORKFLOW,
    TOKEN_TYPE,
];

/// Attributes known to carry content: dropped, and counted apart from other attributes. A name
/// ending in `.` is a prefix of numbered keys (`gen_ai.prompt.0.content`, as OpenLLMetry
/// flattens messages); `gen_ai.prompt.name` is not one.
pub const CONTENT: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.retrieval.query.text",
    "gen_ai.retrieval.documents",
    "gen_ai.tool.description",
    "gen_ai.agent.description",
    "gen_ai.prompt",
    "gen_ai.prompt.",
    "gen_ai.completion",
    "gen_ai.completion.",
    "llm.prompts",
    "llm.prompts.",
    "llm.completions",
    "llm.completions.",
    "llm.input_messages.",
    "llm.output_messages.",
    "input.value",
    "output.value",
    "traceloop.entity.input",
    "traceloop.entity.output",
];

/// Whether the mapping ever reads `key`'s value (it is in [`ATTRIBUTES`], or `service.name`):
/// a door need not decode any other value.
pub fn is_read(key: &str) -> bool {
    key == "service.name" || ATTRIBUTES.iter().any(|s| s.names().any(|n| n == key))
}

/// Whether `key` names content ([`CONTENT`]).
pub fn is_content(key: &str) -> bool {
    CONTENT.iter().any(|c| {
        if c.ends_with('.') {
            key.strip_prefix(c)
                .is_some_and(|rest| rest.starts_with(|d: char| d.is_ascii_digit()))
        } else {
            key == *c
        }
    })
}

/// Names in `error.type` values and the error kind each means, the first match winning;
/// anything else is `other`. A name of six letters or more is found anywhere in the value with
/// its separators taken out (`FileNotFoundError`, `insufficient_quota`); a shorter one only as
/// the start of one of its words (`429`, `http_429`).
const ERROR_KINDS: &[(&[&str], ErrorKind)] = &[
    (
        &["timeout", "timedout", "deadline", "408", "504"],
        ErrorKind::Timeout,
    ),
    (&["cancel", "abort"], ErrorKind::Cancelled),
    (
        &[
            "ratelimit",
            "throttl",
            "exhausted",
            "quota",
            "429",
            "toomanyrequests",
        ],
        ErrorKind::RateLimited,
    ),
    (
        &["authentic", "unauthorized", "credential", "apikey", "401"],
        ErrorKind::Authentication,
    ),
    (
        &["permission", "forbidden", "denied", "authoriz", "403"],
        ErrorKind::PermissionDenied,
    ),
    (&["notfound", "404"], ErrorKind::NotFound),
    (
        &["invalid", "badrequest", "validation", "400", "422"],
        ErrorKind::InvalidInput,
    ),
    (
        &[
            "connection",
            "connect",
            "network",
            "dns",
            "socket",
            "econnrefused",
            "econnreset",
        ],
        ErrorKind::Network,
    ),
    (
        &[
            "unavailable",
            "overloaded",
            "internalserver",
            "500",
            "502",
            "503",
            "529",
        ],
        ErrorKind::Unavailable,
    ),
];

/// The error kind an `error.type` value means.
pub fn error_kind(error_type: &str) -> ErrorKind {
    let lower = error_type.to_ascii_lowercase();
    let compact: String = lower.chars().filter(char::is_ascii_alphanumeric).collect();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    for (names, kind) in ERROR_KINDS {
        let found = names.iter().any(|n| {
            if n.len() >= 6 {
                compact.contains(n)
            } else {
                words.iter().any(|w| w.starts_with(n))
            }
        });
        if found {
            return *kind;
        }
    }
    ErrorKind::Other
}

/// How many of each thing the mapper remembers (sessions started, tool calls seen, token
/// series, origins whose spans carry tokens); past it the oldest is forgotten. A forgotten
/// session's end starts it again (a session counted twice, never an event lost); a forgotten
/// series starts again from its next total.
const REMEMBERED: usize = 4096;

/// A bounded set of keys, the oldest forgotten first. Keys are hashes: what the mapper
/// remembers is never an agent's text, and never larger than 8 bytes an entry.
#[derive(Debug, Default)]
struct Remembered {
    keys: HashSet<u64>,
    order: VecDeque<u64>,
}

impl Remembered {
    fn contains(&self, key: u64) -> bool {
        self.keys.contains(&key)
    }

    /// Remembers `key`; false if it was already.
    fn insert(&mut self, key: u64) -> bool {
        if !self.keys.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.keys.remove(&oldest);
        }
        true
    }

    fn remove(&mut self, key: u64) {
        if self.keys.remove(&key) {
            self.order.retain(|k| *k != key);
        }
    }
}

/// Turns spans, token points and log records into events, with state across calls: which
/// sessions it has started, which tool calls it has seen, the last total of each cumulative
/// token series, and which origins' spans carry token usage (their token metric would count
/// the same tokens twice, and its points are dropped).
#[derive(Debug)]
pub struct Mapper {
    /// Keys the hashes below: random per mapper.
    hasher: std::collections::hash_map::RandomState,
    open: Remembered,
    tool_calls: Remembered,
    series: HashMap<u64, f64>,
    series_order: VecDeque<u64>,
    spans_carry_tokens: Remembered,
    /// Everything it maps comes from one agent (a `wasi:otel` door), whatever resources
    /// its exports name: its spans and its metrics are one origin.
    one_agent: bool,
    /// When this mapper started, in nanoseconds since the Unix epoch: a cumulative series
    /// that started before it is followed from its first total here, not counted from zero
    /// (a relay restarted under a running agent would count its tokens again).
    started_unix_nanos: u64,
    /// What was dropped since [`take_dropped`](Self::take_dropped) was last called.
    dropped: Dropped,
}

impl Default for Mapper {
    fn default() -> Mapper {
        Mapper::new()
    }
}

impl Mapper {
    /// A mapper that has seen nothing.
    pub fn new() -> Mapper {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Mapper {
            hasher: Default::default(),
            open: Remembered::default(),
            tool_calls: Remembered::default(),
            series: HashMap::new(),
            series_order: VecDeque::new(),
            spans_carry_tokens: Remembered::default(),
            one_agent: false,
            started_unix_nanos: u64::try_from(now.as_nanos()).unwrap_or(u64::MAX),
            dropped: Dropped::default(),
        }
    }

    /// A mapper for one agent's telemetry (an agent's `wasi:otel` import): the spans of its
    /// exports and its metrics are one origin, whatever resource each names.
    pub fn for_one_agent() -> Mapper {
        Mapper {
            one_agent: true,
            ..Mapper::new()
        }
    }

    /// The key of `origin` for the rule that spans with usage silence the token metric.
    fn origin_key(&self, origin: &Origin) -> u64 {
        if self.one_agent {
            self.key(())
        } else {
            self.key(&origin.service_name)
        }
    }

    fn key(&self, value: impl std::hash::Hash) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(value)
    }

    /// What was dropped since the last call, and starts counting again.
    pub fn take_dropped(&mut self) -> Dropped {
        std::mem::take(&mut self.dropped)
    }

    /// Counts resource attributes of an export: all but `service.name` are dropped.
    pub fn resource(&mut self, attributes: &Attributes) -> Origin {
        let mut origin = Origin::default();
        for (key, value) in attributes {
            match (key.as_str(), value) {
                ("service.name", AttrValue::Str(name)) if !name.is_empty() => {
                    origin.service_name = Some(name.clone())
                }
                (key, _) => self.drop_attribute(key),
            }
        }
        origin
    }

    /// Counts `records` log records as dropped: none is mapped.
    pub fn logs(&mut self, records: u64) {
        self.dropped.log_records = self.dropped.log_records.saturating_add(records);
    }

    /// Counts `points` metric data points (of a metric other than token usage) as dropped.
    pub fn other_metric_points(&mut self, points: u64) {
        self.dropped.metric_points = self.dropped.metric_points.saturating_add(points);
    }

    /// Counts a request refused whole.
    pub fn refused_request(&mut self) {
        self.dropped.requests = self.dropped.requests.saturating_add(1);
    }

    /// Counts `items` spans, points or records past a door's bounds as dropped.
    pub fn over_limit(&mut self, items: u64) {
        self.dropped.over_limit = self.dropped.over_limit.saturating_add(items);
    }

    fn drop_attribute(&mut self, key: &str) {
        if is_content(key) {
            self.dropped.content_attributes += 1;
        } else {
            self.dropped.other_attributes += 1;
        }
    }

    /// Counts every attribute of `attributes` but those `keep` says are read.
    fn drop_unread(&mut self, attributes: &Attributes, keep: impl Fn(&str) -> bool) {
        for (key, _) in attributes {
            if !keep(key) {
                self.drop_attribute(key);
            }
        }
    }

    /// Maps one ended span, appending its events to `out`.
    pub fn span(&mut self, origin: &Origin, span: &Span, out: &mut Vec<Event>) {
        self.dropped.span_events = self
            .dropped
            .span_events
            .saturating_add(span.events_and_links);
        let attrs = &span.attributes;
        let operation = text(attrs, &OPERATION_NAME)
            .map(str::to_string)
            .unwrap_or_else(|| span.name.split(' ').next().unwrap_or("").to_string());
        let Some(op) = OPERATIONS.iter().find(|o| o.name == operation) else {
            self.dropped.spans += 1;
            self.drop_unread(attrs, |_| false);
            return;
        };
        let kinds = op.kinds;
        self.drop_unread(attrs, |key| {
            ATTRIBUTES
                .iter()
                .filter(|s| s.fills.is_empty() || kinds.iter().any(|k| s.fills_kind(k)))
                .any(|s| s.names().any(|n| n == key))
        });
        let agent = text(attrs, &AGENT)
            .or(origin.service_name.as_deref())
            .map(str::to_string);
        let conversation = text(attrs, &CONVERSATION).map(str::to_string);
        let error_type = text(attrs, &ERROR_TYPE);
        let failed = span.status == SpanStatus::Error || error_type.is_some();
        let error = failed.then(|| error_type.map_or(ErrorKind::Other, error_kind));
        let outcome = match error {
            Some(ErrorKind::Cancelled) => Outcome::Cancelled,
            Some(_) => Outcome::Failure,
            None => Outcome::Success,
        };
        let duration_ms = span.end_unix_nanos.saturating_sub(span.start_unix_nanos) / 1_000_000;
        match op.name {
            "invoke_agent" => {
                let Some(session_id) = conversation.or_else(|| valid_trace_id(span)) else {
                    self.dropped.spans += 1;
                    return;
                };
                self.start_session(&session_id, agent.clone(), out);
                self.forget_session(&session_id);
                out.push(Event::SessionEnd(SessionEnd {
                    session_id,
                    agent,
                    outcome,
                    error,
                    ..Default::default()
                }));
            }
            "execute_tool" => {
                let Some(tool) = text(attrs, &TOOL) else {
                    self.dropped.spans += 1;
                    return;
                };
                if let Some(id) = text(attrs, &TOOL_CALL_ID)
                    && !self.tool_calls.insert(self.key((&span.trace_id, id)))
                {
                    self.dropped.spans += 1;
                    return;
                }
                if let Some(id) = &conversation {
                    self.start_session(id, agent.clone(), out);
                }
                out.push(Event::ToolCall(ToolCall {
                    tool: tool.to_string(),
                    session_id: conversation,
                    agent,
                    duration_ms,
                    outcome,
                    error,
                }));
            }
            "chat" | "text_completion" | "generate_content" => {
                let count = |source: &Source| number(attrs, source);
                let tokens = [
                    count(&INPUT_TOKENS),
                    count(&OUTPUT_TOKENS),
                    count(&CACHE_READ_TOKENS),
                    count(&REASONING_TOKENS),
                ];
                let model = text(attrs, &RESPONSE_MODEL).or_else(|| text(attrs, &REQUEST_MODEL));
                let (Some(model), true) = (model, tokens.iter().any(Option::is_some)) else {
                    self.dropped.spans += 1;
                    return;
                };
                let origin_key = self.origin_key(origin);
                self.spans_carry_tokens.insert(origin_key);
                if let Some(id) = &conversation {
                    self.start_session(id, agent.clone(), out);
                }
                let [input, output, cached, reasoning] = tokens.map(|t| t.unwrap_or(0));
                out.push(Event::TokenUsage(TokenUsage {
                    model: model.to_string(),
                    session_id: conversation,
                    agent,
                    input_tokens: input,
                    output_tokens: output,
                    cached_tokens: cached,
                    reasoning_tokens: reasoning,
                    cost_usd: None,
                }));
            }
            "invoke_workflow" => {
                let Some(workflow_id) = text(attrs, &WORKFLOW)
                    .map(str::to_string)
                    .or_else(|| valid_trace_id(span))
                else {
                    self.dropped.spans += 1;
                    return;
                };
                out.push(Event::Workflow(Workflow {
                    workflow_id,
                    state: if failed {
                        WorkflowState::Failed
                    } else {
                        WorkflowState::Completed
                    },
                    duration_ms: Some(duration_ms),
                    ..Default::default()
                }));
            }
            "create_agent" => {
                let Some(agent) = agent else {
                    self.dropped.spans += 1;
                    return;
                };
                out.push(Event::AgentRegistered(AgentRegistered {
                    agent,
                    ..Default::default()
                }));
            }
            _ => self.dropped.spans += 1,
        }
    }

    /// Starts `session_id` unless it is open.
    fn start_session(&mut self, session_id: &str, agent: Option<String>, out: &mut Vec<Event>) {
        if self.open.insert(self.key(session_id)) {
            out.push(Event::SessionStart(SessionStart {
                session_id: session_id.to_string(),
                agent,
                task_id: None,
            }));
        }
    }

    fn forget_session(&mut self, session_id: &str) {
        self.open.remove(self.key(session_id));
    }

    /// Maps the points of one `gen_ai.client.token.usage` export: one token-usage event per
    /// model, with the tokens counted since the last export (a cumulative series is followed
    /// from one export to the next). Dropped and counted when spans carry token usage: the
    /// same tokens would be counted twice.
    pub fn token_points(&mut self, origin: &Origin, points: &[TokenPoint], out: &mut Vec<Event>) {
        if self.spans_carry_tokens.contains(self.origin_key(origin)) {
            self.other_metric_points(points.len() as u64);
            return;
        }
        // Input, output, cache-read and reasoning tokens, by (model, agent, session).
        let mut by_model: Vec<(Series, [u64; 4])> = Vec::new();
        for point in points {
            let attrs = &point.attributes;
            self.drop_unread(attrs, |key| {
                [
                    &OPERATION_NAME,
                    &TOKEN_TYPE,
                    &RESPONSE_MODEL,
                    &REQUEST_MODEL,
                    &AGENT,
                    &CONVERSATION,
                ]
                .iter()
                .any(|s| s.names().any(|n| n == key))
            });
            let model = text(attrs, &RESPONSE_MODEL).or_else(|| text(attrs, &REQUEST_MODEL));
            let slot = match text(attrs, &TOKEN_TYPE) {
                Some("input") => 0,
                Some("output") => 1,
                Some("cache_read.input") => 2,
                Some("reasoning.output") => 3,
                _ => {
                    self.dropped.metric_points += 1;
                    continue;
                }
            };
            let (Some(model), true) = (model, point.sum.is_finite() && point.sum >= 0.0) else {
                self.dropped.metric_points += 1;
                continue;
            };
            let agent = text(attrs, &AGENT)
                .or(origin.service_name.as_deref())
                .map(str::to_string);
            let session = text(attrs, &CONVERSATION).map(str::to_string);
            let tokens = if point.cumulative {
                // A series is what the point's read attributes, its origin and its start
                // time name (nothing of the attributes the mapping drops is kept).
                let series = self.key((
                    &origin.service_name,
                    point.start_unix_nanos,
                    slot,
                    model,
                    &agent,
                    &session,
                ));
                let last = match self.series.get(&series) {
                    Some(last) => Some(*last),
                    None => {
                        self.series_order.push_back(series);
                        if self.series_order.len() > REMEMBERED
                            && let Some(oldest) = self.series_order.pop_front()
                        {
                            self.series.remove(&oldest);
                        }
                        None
                    }
                };
                self.series.insert(series, point.sum);
                match last {
                    // A total lower than the last one is a restarted series: all of it is new.
                    Some(last) if point.sum >= last => point.sum - last,
                    Some(_) => point.sum,
                    // First heard of: counted from zero if the series started after this
                    // mapper did, else only followed from here.
                    None if point.start_unix_nanos >= self.started_unix_nanos => point.sum,
                    None => 0.0,
                }
            } else {
                point.sum
            };
            let tokens = tokens.round() as u64;
            let key = (model.to_string(), agent, session);
            match by_model.iter_mut().find(|(k, _)| *k == key) {
                Some((_, counts)) => counts[slot] = counts[slot].saturating_add(tokens),
                None => {
                    let mut counts = [0; 4];
                    counts[slot] = tokens;
                    by_model.push((key, counts));
                }
            }
        }
        for ((model, agent, session_id), counts) in by_model {
            if counts.iter().all(|c| *c == 0) {
                continue;
            }
            let [input, output, cached, reasoning] = counts;
            out.push(Event::TokenUsage(TokenUsage {
                model,
                session_id,
                agent,
                input_tokens: input,
                output_tokens: output,
                cached_tokens: cached,
                reasoning_tokens: reasoning,
                cost_usd: None,
            }));
        }
    }
}

/// The span's trace id, when it is one: 32 hex digits, not all zero. It stands for a session
/// or a workflow that names no id of its own.
fn valid_trace_id(span: &Span) -> Option<String> {
    let id = span.trace_id.as_str();
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0'))
        .then(|| id.to_ascii_lowercase())
}

/// What token counts are summed by: the model, the agent and the session.
type Series = (String, Option<String>, Option<String>);

/// The first of `source`'s names that `attrs` holds as a string.
fn text<'a>(attrs: &'a Attributes, source: &Source) -> Option<&'a str> {
    source.names().find_map(|name| {
        attrs.iter().find_map(|(k, v)| match v {
            AttrValue::Str(s) if k == name && !s.is_empty() => Some(s.as_str()),
            _ => None,
        })
    })
}

/// The first of `source`'s names that `attrs` holds as a count (an integer not below zero, or
/// a whole number written as a float or a string).
fn number(attrs: &Attributes, source: &Source) -> Option<u64> {
    source.names().find_map(|name| {
        attrs.iter().find_map(|(k, v)| {
            if k != name {
                return None;
            }
            match v {
                AttrValue::Int(i) => u64::try_from(*i).ok(),
                AttrValue::Double(d) if d.is_finite() && *d >= 0.0 && d.fract() == 0.0 => {
                    Some(*d as u64)
                }
                AttrValue::Str(s) => s.trim().parse().ok(),
                _ => None,
            }
        })
    })
}

/// The mapping as the docs show it: operations, then attributes, then content.
pub fn markdown() -> String {
    let mut out =
        String::from("| Span (`gen_ai.operation.name`) | Becomes | How |\n|---|---|---|\n");
    for op in OPERATIONS {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            op.name,
            op.kinds
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
            op.how
        ));
    }
    out.push_str("\n| Attribute | Also read as | Fills |\n|---|---|---|\n");
    for source in ATTRIBUTES {
        let older = if source.older.is_empty() {
            "".to_string()
        } else {
            source
                .older
                .iter()
                .map(|o| format!("`{o}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut fills = source
            .fills
            .iter()
            .map(|(k, f)| format!("`{k}.{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        if !source.read_for.is_empty() {
            if !fills.is_empty() {
                fills.push_str(": ");
            }
            fills.push_str(source.read_for);
        }
        out.push_str(&format!("| `{}` | {older} | {fills} |\n", source.attribute));
    }
    out.push_str(&format!(
        "| `service.name` (resource) | | the `agent` of an event whose span names none |\n\
         | the span's trace id | | `session_start.session_id` and `session_end.session_id` of an `invoke_agent` span with no conversation id, `workflow.workflow_id` of a workflow with no name: only a real one (32 hex digits, not all zero) |\n\
         | `{TOKEN_METRIC}` (metric) | | a `token_usage` per model, agent and conversation in each export, by `gen_ai.token.type`, for an origin (`service.name`) none of whose spans has carried usage (else the same tokens would count twice); a cumulative series counted from its last total (one that started before the mapper did is followed from its first total here; 4,096 series are followed at once, the oldest forgotten) |\n"
    ));
    out.push_str(
        "\nDropped as content, and counted apart (a name ending in `.` stands for its numbered keys, `gen_ai.prompt.0.content`): ",
    );
    out.push_str(
        &CONTENT
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push_str(".\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, AttrValue)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn s(v: &str) -> AttrValue {
        AttrValue::Str(v.to_string())
    }

    /// Every field the tables fill is a field of the catalogue, of that kind, and every kind an
    /// operation names is a kind of the catalogue.
    #[test]
    fn the_tables_name_only_what_the_catalogue_has() {
        use agent_telemetry_contract::catalogue;
        for source in ATTRIBUTES {
            for (kind, field) in source.fills {
                assert!(
                    catalogue::field(kind, field).is_some(),
                    "{} fills {kind}.{field}, which the catalogue does not have",
                    source.attribute
                );
            }
        }
        for op in OPERATIONS {
            for kind in op.kinds {
                assert!(catalogue::KINDS.contains(kind), "{}: {kind}", op.name);
            }
        }
    }

    #[test]
    fn a_tool_span_becomes_a_tool_call_and_its_content_is_dropped_and_counted() {
        let mut mapper = Mapper::new();
        let span = Span {
            name: "execute_tool read_file".into(),
            start_unix_nanos: 1_000_000_000,
            end_unix_nanos: 1_250_000_000,
            status: SpanStatus::Error,
            attributes: attrs(&[
                ("gen_ai.operation.name", s("execute_tool")),
                ("gen_ai.tool.name", s("read_file")),
                ("gen_ai.conversation.id", s("conv-1")),
                (
                    "gen_ai.tool.call.arguments",
                    s("{\"path\":\"/home/alice/secret\"}"),
                ),
                ("gen_ai.tool.call.result", s("the file's text")),
                ("error.type", s("TimeoutError")),
                ("http.url", s("https://example.com")),
            ]),
            events_and_links: 2,
            ..Span::default()
        };
        let mut out = Vec::new();
        mapper.span(&Origin::default(), &span, &mut out);
        assert!(matches!(&out[0], Event::SessionStart(s) if s.session_id == "conv-1"));
        let Event::ToolCall(call) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(call.tool, "read_file");
        assert_eq!(call.duration_ms, 250);
        assert_eq!(call.outcome, Outcome::Failure);
        assert_eq!(call.error, Some(ErrorKind::Timeout));
        let dropped = mapper.take_dropped();
        assert_eq!(dropped.content_attributes, 2);
        assert_eq!(dropped.other_attributes, 1);
        assert_eq!(dropped.span_events, 2);
        assert_eq!(mapper.take_dropped(), Dropped::default());
    }

    #[test]
    fn an_agent_span_ends_the_session_its_children_started() {
        let mut mapper = Mapper::new();
        let mut out = Vec::new();
        let child = Span {
            name: "chat gpt-4o".into(),
            attributes: attrs(&[
                ("gen_ai.conversation.id", s("c")),
                ("gen_ai.request.model", s("gpt-4o")),
                ("gen_ai.usage.prompt_tokens", AttrValue::Int(12)),
                ("gen_ai.usage.output_tokens", AttrValue::Int(5)),
                ("gen_ai.input.messages", s("[{\"role\":\"user\"}]")),
            ]),
            ..Span::default()
        };
        mapper.span(&Origin::default(), &child, &mut out);
        let parent = Span {
            name: "invoke_agent planner".into(),
            trace_id: "ab".into(),
            attributes: attrs(&[
                ("gen_ai.operation.name", s("invoke_agent")),
                ("gen_ai.conversation.id", s("c")),
                ("gen_ai.agent.name", s("planner")),
                ("gen_ai.system_instructions", s("be nice")),
            ]),
            ..Span::default()
        };
        mapper.span(&Origin::default(), &parent, &mut out);
        let kinds: Vec<&str> = out
            .iter()
            .map(|e| match e {
                Event::SessionStart(_) => "start",
                Event::TokenUsage(t) => {
                    assert_eq!((t.input_tokens, t.output_tokens), (12, 5));
                    "tokens"
                }
                Event::SessionEnd(e) => {
                    assert_eq!(e.agent.as_deref(), Some("planner"));
                    "end"
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(kinds, ["start", "tokens", "end"]);
        assert_eq!(mapper.take_dropped().content_attributes, 2);
    }

    #[test]
    fn spans_of_other_operations_are_dropped_whole() {
        let mut mapper = Mapper::new();
        let mut out = Vec::new();
        let span = Span {
            name: "GET /users/alice".into(),
            attributes: attrs(&[
                ("http.route", s("/users/alice")),
                ("gen_ai.prompt.0.content", s("hi")),
            ]),
            ..Span::default()
        };
        mapper.span(&Origin::default(), &span, &mut out);
        assert!(out.is_empty());
        let d = mapper.take_dropped();
        assert_eq!(
            (d.spans, d.other_attributes, d.content_attributes),
            (1, 1, 1)
        );
    }

    #[test]
    fn cumulative_token_points_count_what_is_new_and_spans_win_over_the_metric() {
        let mut mapper = Mapper::new();
        let point = |kind: &str, sum: f64| TokenPoint {
            attributes: attrs(&[
                ("gen_ai.token.type", s(kind)),
                ("gen_ai.request.model", s("m")),
            ]),
            sum,
            cumulative: true,
            // After the mapper started: counted from zero.
            start_unix_nanos: u64::MAX,
        };
        let mut out = Vec::new();
        mapper.token_points(
            &Origin::default(),
            &[point("input", 10.0), point("output", 4.0)],
            &mut out,
        );
        mapper.token_points(
            &Origin::default(),
            &[point("input", 25.0), point("output", 4.0)],
            &mut out,
        );
        let totals: Vec<(u64, u64)> = out
            .iter()
            .map(|e| match e {
                Event::TokenUsage(t) => (t.input_tokens, t.output_tokens),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(totals, [(10, 4), (15, 0)]);
        let chat = Span {
            name: "chat".into(),
            attributes: attrs(&[
                ("gen_ai.request.model", s("m")),
                ("gen_ai.usage.input_tokens", AttrValue::Int(1)),
            ]),
            ..Span::default()
        };
        mapper.span(&Origin::default(), &chat, &mut out);
        out.clear();
        mapper.token_points(&Origin::default(), &[point("input", 30.0)], &mut out);
        assert!(out.is_empty());
        assert_eq!(mapper.take_dropped().metric_points, 1);

        // A series that started before the mapper did (a relay restarted under a running
        // agent) is followed from its first total, not counted again from zero.
        let mut mapper = Mapper::new();
        let mut out = Vec::new();
        let early = |sum: f64| TokenPoint {
            start_unix_nanos: 1,
            ..point("input", sum)
        };
        mapper.token_points(&Origin::default(), &[early(500.0)], &mut out);
        mapper.token_points(&Origin::default(), &[early(520.0)], &mut out);
        let counted: Vec<u64> = out
            .iter()
            .map(|e| match e {
                Event::TokenUsage(t) => t.input_tokens,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(counted, [20]);
    }

    #[test]
    fn what_the_mapper_remembers_is_bounded_and_never_the_agents_text() {
        let mut mapper = Mapper::new();
        let mut out = Vec::new();
        let long = "x".repeat(100_000);
        for i in 0..(REMEMBERED + 10) {
            let span = Span {
                name: "execute_tool".into(),
                trace_id: format!("{:032x}", i + 1),
                attributes: attrs(&[
                    ("gen_ai.tool.name", s("t")),
                    ("gen_ai.tool.call.id", s(&format!("{long}{i}"))),
                    ("gen_ai.conversation.id", s(&format!("{long}{i}"))),
                ]),
                ..Span::default()
            };
            mapper.span(&Origin::default(), &span, &mut out);
        }
        assert_eq!(mapper.open.keys.len(), REMEMBERED);
        assert_eq!(mapper.tool_calls.order.len(), REMEMBERED);
        // The same call id in another trace is another call.
        let again = |trace: &str| Span {
            name: "execute_tool".into(),
            trace_id: trace.to_string(),
            attributes: attrs(&[
                ("gen_ai.tool.name", s("t")),
                ("gen_ai.tool.call.id", s("call-1")),
            ]),
            ..Span::default()
        };
        out.clear();
        mapper.span(&Origin::default(), &again(&"a".repeat(32)), &mut out);
        mapper.span(&Origin::default(), &again(&"b".repeat(32)), &mut out);
        mapper.span(&Origin::default(), &again(&"b".repeat(32)), &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
    }

    #[test]
    fn only_a_real_trace_id_stands_for_a_session() {
        let mut mapper = Mapper::new();
        for (trace, sessions) in [
            ("", 0),
            (&*"0".repeat(32), 0),
            ("not hex at all, 32 characters!!", 0),
            (&*"4bf92f3577b34da6a3ce929d0e0e4736".to_uppercase(), 1),
        ] {
            let mut out = Vec::new();
            let span = Span {
                name: "invoke_agent".into(),
                trace_id: trace.to_string(),
                ..Span::default()
            };
            mapper.span(&Origin::default(), &span, &mut out);
            assert_eq!(
                out.iter()
                    .filter(|e| matches!(e, Event::SessionEnd(_)))
                    .count(),
                sessions,
                "{trace}"
            );
        }
    }

    #[test]
    fn error_types_name_their_kind() {
        for (value, kind) in [
            ("openai.RateLimitError", ErrorKind::RateLimited),
            ("TimeoutError", ErrorKind::Timeout),
            ("429", ErrorKind::RateLimited),
            ("asyncio.CancelledError", ErrorKind::Cancelled),
            ("anthropic.AuthenticationError", ErrorKind::Authentication),
            ("_OTHER", ErrorKind::Other),
            ("ValueError", ErrorKind::Other),
            ("FileNotFoundError", ErrorKind::NotFound),
            ("APIConnectionError", ErrorKind::Network),
            ("insufficient_quota", ErrorKind::RateLimited),
            ("http_429", ErrorKind::RateLimited),
            ("ThrottlingException", ErrorKind::RateLimited),
            ("RESOURCE_EXHAUSTED", ErrorKind::RateLimited),
            ("AuthorizationError", ErrorKind::PermissionDenied),
            ("Unauthorized", ErrorKind::Authentication),
            ("upstream_auth_failed", ErrorKind::Other),
        ] {
            assert_eq!(error_kind(value), kind, "{value}");
        }
    }

    /// docs/opentelemetry.md shows the tables as they are.
    #[test]
    fn the_docs_mapping_table_is_the_generated_one() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/opentelemetry.md");
        let page = std::fs::read_to_string(&path).unwrap();
        let table = page
            .split_once("<!-- otel-mapping:begin (generated from otel::mapping) -->\n")
            .and_then(|(_, rest)| rest.split_once("<!-- otel-mapping:end -->"))
            .map(|(table, _)| table)
            .expect("docs/opentelemetry.md has the table's markers");
        assert_eq!(
            table,
            markdown(),
            "docs/opentelemetry.md's mapping is out of date: paste what `otel::mapping::markdown()` makes (the right side) between its markers"
        );
    }

    #[test]
    fn content_names_and_prefixes() {
        assert!(is_content("gen_ai.input.messages"));
        assert!(is_content("gen_ai.prompt.0.content"));
        assert!(is_content("gen_ai.prompt"));
        assert!(!is_content("gen_ai.promptx"));
        assert!(!is_content("gen_ai.prompt.name"));
        assert!(!is_content("gen_ai.tool.name"));
    }
}
