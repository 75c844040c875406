//! The `wasi:config` keys the component reads, with their defaults and bounds. The host
//! writes its settings through these keys (`host/src/settings.rs`), the component reads them
//! (`guest/src/config.rs`); a stock host sets them with `-S config-var=KEY=VALUE`.

use std::ops::RangeInclusive;
use std::time::Duration;

/// Every key the component reads.
pub mod keys {
    /// `true` or `false`: the host's consent decision.
    pub const ENABLED: &str = "enabled";
    /// What decided `enabled`, shown by `status`.
    pub const CONSENT_REASON: &str = "consent-reason";
    /// `http(s)://host[:port]/path` that batches are POSTed to.
    pub const ENDPOINT: &str = "endpoint";
    /// `install_` + 16 hex digits (see [`crate::ids`]).
    pub const INSTALLATION_ID: &str = "installation-id";
    /// The pseudonymization key, hex; never sent.
    pub const HASH_KEY: &str = "hash-key";
    /// The envelope's `source`: what kind of program records (`cli`, say).
    pub const SOURCE: &str = "source";
    /// The envelope's `environment`: the deployment it runs in (`production`, say).
    pub const ENVIRONMENT: &str = "environment";
    /// The envelope's `product`: the recording program's name.
    pub const PRODUCT: &str = "product";
    /// The envelope's `product_version`.
    pub const PRODUCT_VERSION: &str = "product-version";
    /// The envelope's `os` (the host's `std::env::consts::OS`).
    pub const OS: &str = "os";
    /// The envelope's `arch` (the host's `std::env::consts::ARCH`).
    pub const ARCH: &str = "arch";
    /// The envelope's `ci`: `true` for a CI run, anything else for not.
    pub const CI: &str = "ci";
    /// The most events in one batch (see [`super::BATCH_MAX_EVENTS_RANGE`]).
    pub const BATCH_MAX_EVENTS: &str = "batch-max-events";
    /// The most bytes in one batch (see [`super::BATCH_MAX_BYTES_RANGE`]).
    pub const BATCH_MAX_BYTES: &str = "batch-max-bytes";
    /// The most events the queue holds (see [`super::QUEUE_MAX_EVENTS_RANGE`]).
    pub const QUEUE_MAX_EVENTS: &str = "queue-max-events";
    /// The timeout of one request, in milliseconds (see [`super::TIMEOUT_MS_RANGE`]).
    pub const TIMEOUT_MS: &str = "timeout-ms";
    /// Agent names sent as written, comma-separated.
    pub const AGENT_ALLOWLIST: &str = "agent-allowlist";
    /// Command flag names that may be sent, comma-separated.
    pub const FLAG_ALLOWLIST: &str = "flag-allowlist";
    /// The local user's names (`$USER`, `$USERNAME`, the home directory's name), separated by
    /// commas: the component cannot read the environment, so the host passes them. Any
    /// identifier that contains one is hashed.
    pub const REDACT_WORDS: &str = "redact-words";
    /// The wire format: `native` (the default), `docker`, `swarm` or `otlp`.
    pub const FORMAT: &str = "format";
    /// For `otlp`: `http/protobuf` (the default) or `http/json`.
    pub const OTLP_PROTOCOL: &str = "otlp-protocol";
    /// For `otlp`: `current` (the default) or `older` attribute names (see
    /// [`crate::otlp_names`]).
    pub const OTLP_NAMES: &str = "otlp-names";
    /// `none` (the default) or `gzip`.
    pub const COMPRESSION: &str = "compression";
    /// Static request headers, `name=value,name=value` (see [`super::parse_headers`]).
    pub const HEADERS: &str = "headers";
    /// For `swarm`: `key=value,...` added to every event's properties (see
    /// [`super::parse_context_properties`]).
    pub const CONTEXT_PROPERTIES: &str = "context-properties";
    /// For `docker`: the user's language tag (`en-US`), which docker-agent reports.
    pub const OS_LANGUAGE: &str = "os-language";
    /// Custom tags on every event, `key=value,...` (docker-agent's `TELEMETRY_TAGS`; see
    /// [`super::parse_tags`]).
    pub const TAGS: &str = "tags";
}

/// Events per request.
pub const DEFAULT_BATCH_MAX_EVENTS: usize = 100;
/// The values `batch-max-events` may take; another is reported and the default kept.
pub const BATCH_MAX_EVENTS_RANGE: RangeInclusive<usize> = 1..=10_000;
/// Bytes per request (one event always fits): well under the local collector's 16 MiB body
/// limit, and under common proxies' 1 MiB.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 512 << 10;
/// The values `batch-max-bytes` may take; another is reported and the default kept.
pub const BATCH_MAX_BYTES_RANGE: RangeInclusive<usize> = 1024..=16 << 20;
/// Events the component's queue holds; beyond it they are dropped and counted.
pub const DEFAULT_QUEUE_MAX_EVENTS: usize = 10_000;
/// The values `queue-max-events` may take; another is reported and the default kept.
pub const QUEUE_MAX_EVENTS_RANGE: RangeInclusive<usize> = 1..=1_000_000;
/// Per request; the host caps it too.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The request timeout's bounds, in milliseconds.
pub const TIMEOUT_MS_RANGE: RangeInclusive<usize> = 1..=600_000;

/// The envelope's `source` when the host sets none.
pub const DEFAULT_SOURCE: &str = "unknown";
/// The envelope's `environment` when the host sets none.
pub const DEFAULT_ENVIRONMENT: &str = "production";
/// The envelope's `product` when the host sets none.
pub const DEFAULT_PRODUCT: &str = "unknown";
/// The envelope's `product_version` when the host sets none.
pub const DEFAULT_PRODUCT_VERSION: &str = "0.0.0";
/// The envelope's `os` when the host sets none.
pub const DEFAULT_OS: &str = "unknown";
/// The envelope's `arch` when the host sets none.
pub const DEFAULT_ARCH: &str = "unknown";

/// How list values (allowlists, redact words) are joined.
pub const LIST_SEPARATOR: char = ',';

/// The wire format batches are sent in (key [`keys::FORMAT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// This project's batch (`agent-telemetry/batch`, its JSON Schema published).
    #[default]
    Native,
    /// docker-agent's `{"records":[...]}`, many records per request.
    Docker,
    /// Agent Swarm's envelope, one event per request.
    Swarm,
    /// OTLP/HTTP logs, for an OpenTelemetry Collector (see [`OtlpProtocol`]).
    Otlp,
}

impl Format {
    /// Every format, in the order they are listed to users.
    pub const ALL: [Format; 4] = [Format::Native, Format::Docker, Format::Swarm, Format::Otlp];

    /// The format's name, as the `format` key and `AGENT_TELEMETRY_FORMAT` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Docker => "docker",
            Format::Swarm => "swarm",
            Format::Otlp => "otlp",
        }
    }

    /// The format named `value` (exactly as [`as_str`](Self::as_str) spells it), if any.
    pub fn parse(value: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == value)
    }
}

/// How OTLP requests are written (key [`keys::OTLP_PROTOCOL`]), named as
/// `OTEL_EXPORTER_OTLP_PROTOCOL` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    /// `application/x-protobuf`.
    #[default]
    Protobuf,
    /// `application/json`, the OTLP/JSON mapping.
    Json,
}

impl OtlpProtocol {
    /// Both encodings.
    pub const ALL: [OtlpProtocol; 2] = [OtlpProtocol::Protobuf, OtlpProtocol::Json];

    /// The encoding's name, as `OTEL_EXPORTER_OTLP_PROTOCOL` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Protobuf => "http/protobuf",
            OtlpProtocol::Json => "http/json",
        }
    }

    /// The encoding named `value` (exactly as [`as_str`](Self::as_str) spells it), if any.
    pub fn parse(value: &str) -> Option<OtlpProtocol> {
        OtlpProtocol::ALL.into_iter().find(|p| p.as_str() == value)
    }
}

/// Which GenAI semantic-convention names OTLP attributes are written under (key
/// [`keys::OTLP_NAMES`]; the names themselves are in [`crate::otlp_names`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpNames {
    /// The current names (`gen_ai.provider.name`, `gen_ai.usage.input_tokens`, ...).
    #[default]
    Current,
    /// The names before them, for collectors that expect those (`gen_ai.system`,
    /// `gen_ai.usage.prompt_tokens`, ...).
    Older,
}

impl OtlpNames {
    /// Both sets.
    pub const ALL: [OtlpNames; 2] = [OtlpNames::Current, OtlpNames::Older];

    /// The set's name, as the key spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpNames::Current => "current",
            OtlpNames::Older => "older",
        }
    }

    /// The set named `value` (exactly as [`as_str`](Self::as_str) spells it), if any.
    pub fn parse(value: &str) -> Option<OtlpNames> {
        OtlpNames::ALL.into_iter().find(|n| n.as_str() == value)
    }
}

/// Request body compression (key [`keys::COMPRESSION`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Bodies sent as they are.
    #[default]
    None,
    /// `Content-Encoding: gzip`.
    Gzip,
}

impl Compression {
    /// Both choices.
    pub const ALL: [Compression; 2] = [Compression::None, Compression::Gzip];

    /// The choice's name, as the `compression` key spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
        }
    }

    /// The choice named `value` (exactly as [`as_str`](Self::as_str) spells it), if any.
    pub fn parse(value: &str) -> Option<Compression> {
        Compression::ALL.into_iter().find(|c| c.as_str() == value)
    }
}

/// Everything the component is configured with, in one type: the host fills it in and writes
/// it as `wasi:config` pairs ([`ComponentConfig::to_pairs`]); the component reads the pairs back
/// ([`ComponentConfig::from_pairs`]) and then checks each value (ranges, the endpoint's form,
/// header names: `guest/src/config.rs`). A field's name in kebab case is its key; a stock host
/// sets the same keys with `-S config-var=KEY=VALUE`. Lists are written comma-separated,
/// `name=value` lists ([`Pairs`]) as written.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentConfig {
    /// The host's consent decision.
    pub enabled: bool,
    /// What decided `enabled`, shown by `status`.
    pub consent_reason: String,
    /// Where batches are POSTed.
    pub endpoint: Option<String>,
    /// `install_` + 16 hex digits; without it the component makes an `ephemeral_` one.
    pub installation_id: Option<String>,
    /// The pseudonymization key, hex; without it a random key for this instance only.
    pub hash_key: Option<String>,
    /// Envelope label.
    pub source: String,
    /// Envelope label.
    pub environment: String,
    /// Envelope label.
    pub product: String,
    /// Envelope label.
    pub product_version: String,
    /// Envelope label.
    pub os: String,
    /// Envelope label.
    pub arch: String,
    /// Envelope label: whether a CI environment was detected.
    pub ci: bool,
    /// Events per request.
    pub batch_max_events: usize,
    /// Bytes per request.
    pub batch_max_bytes: usize,
    /// The queue's bound.
    pub queue_max_events: usize,
    /// Per request, in milliseconds.
    pub timeout_ms: usize,
    /// Agent names sent as written.
    pub agent_allowlist: Vec<String>,
    /// Command flag names that may be sent.
    pub flag_allowlist: Vec<String>,
    /// The local user's names: any identifier containing one is hashed.
    pub redact_words: Vec<String>,
    /// The wire format.
    pub format: Format,
    /// For `otlp`: how requests are written.
    pub otlp_protocol: OtlpProtocol,
    /// For `otlp`: the attribute names' generation.
    pub otlp_names: OtlpNames,
    /// Request body compression.
    pub compression: Compression,
    /// Static request headers (see [`parse_headers`]).
    pub headers: Pairs,
    /// For `swarm`: properties added to every event (see [`parse_context_properties`]).
    pub context_properties: Pairs,
    /// For `docker`: the user's language tag.
    pub os_language: Option<String>,
    /// Custom tags on every event (see [`parse_tags`]).
    pub tags: Pairs,
}

impl Default for ComponentConfig {
    fn default() -> Self {
        ComponentConfig {
            enabled: false,
            consent_reason: "no configuration".to_string(),
            endpoint: None,
            installation_id: None,
            hash_key: None,
            source: DEFAULT_SOURCE.to_string(),
            environment: DEFAULT_ENVIRONMENT.to_string(),
            product: DEFAULT_PRODUCT.to_string(),
            product_version: DEFAULT_PRODUCT_VERSION.to_string(),
            os: DEFAULT_OS.to_string(),
            arch: DEFAULT_ARCH.to_string(),
            ci: false,
            batch_max_events: DEFAULT_BATCH_MAX_EVENTS,
            batch_max_bytes: DEFAULT_BATCH_MAX_BYTES,
            queue_max_events: DEFAULT_QUEUE_MAX_EVENTS,
            timeout_ms: DEFAULT_TIMEOUT.as_millis() as usize,
            agent_allowlist: Vec::new(),
            flag_allowlist: Vec::new(),
            redact_words: Vec::new(),
            format: Format::default(),
            otlp_protocol: OtlpProtocol::default(),
            otlp_names: OtlpNames::default(),
            compression: Compression::default(),
            headers: Pairs::default(),
            context_properties: Pairs::default(),
            os_language: None,
            tags: Pairs::default(),
        }
    }
}

/// `name=value` pairs, kept as written (`a=1,b=2`): the component parses and checks them
/// ([`parse_headers`], [`parse_tags`], [`parse_context_properties`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pairs(pub String);

impl Pairs {
    /// The pairs written `name=value,...`.
    pub fn join(pairs: &[(String, String)]) -> Pairs {
        let written: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Pairs(written.join(&LIST_SEPARATOR.to_string()))
    }
}

/// A pair [`ComponentConfig::from_pairs`] could not read into its field: kept at its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The key.
    pub key: String,
    /// The value as given.
    pub value: String,
}

/// Each field of [`ComponentConfig`] with its key, once: [`ComponentConfig::to_pairs`] and
/// [`ComponentConfig::from_pairs`] are made from this list (and destructure the struct, so a
/// field left out of it does not compile).
macro_rules! config_pairs {
    ($($field:ident => $key:ident),* $(,)?) => {
        impl ComponentConfig {
            /// The `wasi:config` pairs: every field that has a value, under its key (in key
            /// order).
            pub fn to_pairs(&self) -> Vec<(String, String)> {
                let ComponentConfig { $($field),* } = self;
                let mut pairs: Vec<(String, String)> = [$((keys::$key, PairValue::write($field))),*]
                    .into_iter()
                    .filter_map(|(key, value)| Some((key.to_string(), value?)))
                    .collect();
                pairs.sort();
                pairs
            }

            /// Reads pairs back: each known key's value into its field, by the field's type
            /// (values trimmed; an empty value of an optional field leaves it unset). Unknown
            /// keys are ignored; a value that does not fit its field leaves the field as it was
            /// (its default, unless an earlier pair set it) and is returned.
            pub fn from_pairs<'a>(
                pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
            ) -> (ComponentConfig, Vec<Unreadable>) {
                let mut config = ComponentConfig::default();
                let mut unreadable = Vec::new();
                for (key, value) in pairs {
                    let value = value.trim();
                    let fits = match key {
                        $(keys::$key => PairValue::read(value).map(|v| config.$field = v).is_some(),)*
                        _ => continue,
                    };
                    if !fits {
                        unreadable.push(Unreadable {
                            key: key.to_string(),
                            value: value.to_string(),
                        });
                    }
                }
                (config, unreadable)
            }
        }
    };
}

config_pairs! {
    enabled => ENABLED,
    consent_reason => CONSENT_REASON,
    endpoint => ENDPOINT,
    installation_id => INSTALLATION_ID,
    hash_key => HASH_KEY,
    source => SOURCE,
    environment => ENVIRONMENT,
    product => PRODUCT,
    product_version => PRODUCT_VERSION,
    os => OS,
    arch => ARCH,
    ci => CI,
    batch_max_events => BATCH_MAX_EVENTS,
    batch_max_bytes => BATCH_MAX_BYTES,
    queue_max_events => QUEUE_MAX_EVENTS,
    timeout_ms => TIMEOUT_MS,
    agent_allowlist => AGENT_ALLOWLIST,
    flag_allowlist => FLAG_ALLOWLIST,
    redact_words => REDACT_WORDS,
    format => FORMAT,
    otlp_protocol => OTLP_PROTOCOL,
    otlp_names => OTLP_NAMES,
    compression => COMPRESSION,
    headers => HEADERS,
    context_properties => CONTEXT_PROPERTIES,
    os_language => OS_LANGUAGE,
    tags => TAGS,
}

/// How a field of [`ComponentConfig`] is written as a `wasi:config` value and read back.
trait PairValue: Sized {
    /// The value as written; `None` for an unset optional field.
    fn write(&self) -> Option<String>;
    /// `value` (already trimmed) as the field's type, or `None` if it does not fit.
    fn read(value: &str) -> Option<Self>;
}

impl PairValue for bool {
    fn write(&self) -> Option<String> {
        Some(self.to_string())
    }
    fn read(value: &str) -> Option<bool> {
        match value.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

impl PairValue for usize {
    fn write(&self) -> Option<String> {
        Some(self.to_string())
    }
    fn read(value: &str) -> Option<usize> {
        value.parse().ok()
    }
}

impl PairValue for String {
    fn write(&self) -> Option<String> {
        Some(self.clone())
    }
    fn read(value: &str) -> Option<String> {
        Some(value.to_string())
    }
}

impl PairValue for Option<String> {
    fn write(&self) -> Option<String> {
        self.clone()
    }
    fn read(value: &str) -> Option<Option<String>> {
        Some((!value.is_empty()).then(|| value.to_string()))
    }
}

/// A list: written comma-separated, read with each item trimmed and empty items left out.
impl PairValue for Vec<String> {
    fn write(&self) -> Option<String> {
        Some(self.join(&LIST_SEPARATOR.to_string()))
    }
    fn read(value: &str) -> Option<Vec<String>> {
        Some(
            value
                .split(LIST_SEPARATOR)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }
}

impl PairValue for Pairs {
    fn write(&self) -> Option<String> {
        Some(self.0.clone())
    }
    fn read(value: &str) -> Option<Pairs> {
        Some(Pairs(value.to_string()))
    }
}

/// The choices: by the name [`as_str`](Format::as_str) gives, exactly.
macro_rules! choice_pair_value {
    ($($Choice:ty),*) => {$(
        impl PairValue for $Choice {
            fn write(&self) -> Option<String> {
                Some(self.as_str().to_string())
            }
            fn read(value: &str) -> Option<$Choice> {
                <$Choice>::parse(value)
            }
        }
    )*};
}

choice_pair_value!(Format, OtlpProtocol, OtlpNames, Compression);

/// One configuration key as the docs describe it: generated into `docs/configuration.md`
/// (a test holds the page to it, and it to [`ComponentConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    /// The key.
    pub key: &'static str,
    /// What it sets.
    pub meaning: &'static str,
    /// Its default, in words where a value does not say it.
    pub default: &'static str,
}

/// Every key of [`ComponentConfig`], described, in the order the docs list them.
pub const KEY_DOCS: &[KeyDoc] = &[
    KeyDoc {
        key: "enabled",
        meaning: "`true` or `false` (the host's consent decision)",
        default: "`false`",
    },
    KeyDoc {
        key: "consent-reason",
        meaning: "what decided it, shown by `status`",
        default: "`no configuration`",
    },
    KeyDoc {
        key: "endpoint",
        meaning: "`http(s)://host[:port]/path` that batches are POSTed to",
        default: "none (telemetry stays off)",
    },
    KeyDoc {
        key: "installation-id",
        meaning: "`install_` + 16 hex digits",
        default: "`ephemeral_` + 16 hex, per instance",
    },
    KeyDoc {
        key: "hash-key",
        meaning: "hex key (≥ 32 digits) for pseudonyms; never sent",
        default: "random, per instance",
    },
    KeyDoc {
        key: "source",
        meaning: "envelope label",
        default: "`unknown`",
    },
    KeyDoc {
        key: "environment",
        meaning: "envelope label",
        default: "`production`",
    },
    KeyDoc {
        key: "product",
        meaning: "envelope label",
        default: "`unknown`",
    },
    KeyDoc {
        key: "product-version",
        meaning: "envelope label",
        default: "`0.0.0`",
    },
    KeyDoc {
        key: "os",
        meaning: "envelope label",
        default: "`unknown`",
    },
    KeyDoc {
        key: "arch",
        meaning: "envelope label",
        default: "`unknown`",
    },
    KeyDoc {
        key: "ci",
        meaning: "envelope label: whether a CI environment was detected",
        default: "`false`",
    },
    KeyDoc {
        key: "batch-max-events",
        meaning: "events per request (1 to 10000)",
        default: "`100`",
    },
    KeyDoc {
        key: "batch-max-bytes",
        meaning: "bytes per request, one event always fits (1024 to 16777216)",
        default: "`524288`",
    },
    KeyDoc {
        key: "queue-max-events",
        meaning: "queue bound; beyond it events are dropped and counted (1 to 1000000)",
        default: "`10000`",
    },
    KeyDoc {
        key: "timeout-ms",
        meaning: "per request, the host caps it too (1 to 600000)",
        default: "`5000`",
    },
    KeyDoc {
        key: "agent-allowlist",
        meaning: "agent names sent as written (comma-separated)",
        default: "none: all hashed",
    },
    KeyDoc {
        key: "flag-allowlist",
        meaning: "command flag names that may be sent (comma-separated)",
        default: "none",
    },
    KeyDoc {
        key: "redact-words",
        meaning: "words hashed wherever they appear in a name (the host sends the local user's names)",
        default: "none",
    },
    KeyDoc {
        key: "format",
        meaning: "`native`, `docker`, `swarm` or `otlp` (see [Wire formats](formats.md)); another value turns telemetry off, and says why",
        default: "`native`",
    },
    KeyDoc {
        key: "otlp-protocol",
        meaning: "`http/protobuf` or `http/json`",
        default: "`http/protobuf`",
    },
    KeyDoc {
        key: "otlp-names",
        meaning: "`current` (the GenAI semantic conventions' current attribute names) or `older` (the names before them, for collectors that expect those)",
        default: "`current`",
    },
    KeyDoc {
        key: "compression",
        meaning: "`none` or `gzip`",
        default: "`none`",
    },
    KeyDoc {
        key: "headers",
        meaning: "static request headers, `name=value,...` (names the component sets itself are refused)",
        default: "none",
    },
    KeyDoc {
        key: "context-properties",
        meaning: "`swarm`: `key=value,...` added to every event's properties",
        default: "none",
    },
    KeyDoc {
        key: "os-language",
        meaning: "`docker`: the user's language tag",
        default: "none (the CLI sends `LC_ALL`/`LANG`'s)",
    },
    KeyDoc {
        key: "tags",
        meaning: "custom tags on every event, `key=value,...` (as docker-agent's `TELEMETRY_TAGS`; keys and values held to the name rule; the envelope's own keys win)",
        default: "none",
    },
];

/// The configuration table of `docs/configuration.md`, generated from [`KEY_DOCS`].
pub fn markdown() -> String {
    let mut out = String::from("| key | meaning | default |\n|---|---|---|\n");
    for KeyDoc {
        key,
        meaning,
        default,
    } in KEY_DOCS
    {
        out.push_str(&format!("| `{key}` | {meaning} | {default} |\n"));
    }
    out
}

/// Request headers the component sets itself, or that only the transport may set (wasmtime's
/// `wasi:http` refuses these from a guest, so every request carrying one would fail): a
/// configured header cannot be one of them.
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "http2-settings",
    crate::wire::EVENTS_HEADER,
    crate::wire::LEFT_OUT_HEADER,
];

/// Parses `name=value,name=value` (the shape of `OTEL_EXPORTER_OTLP_HEADERS`): static request
/// headers, such as an endpoint's API key. Names are HTTP tokens, taken in lower case, and
/// may not be one the component sets; values are visible ASCII and spaces, without commas.
/// The error names the header, never its value (it may be a secret).
pub fn parse_headers(value: &str) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    for pair in value.split(LIST_SEPARATOR).filter(|p| !p.trim().is_empty()) {
        let Some((name, value)) = pair.split_once('=') else {
            return Err("a header is not written `name=value`".to_string());
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(token) {
            return Err("a header name is not an HTTP token of at most 64 characters".to_string());
        }
        if RESERVED_HEADERS.contains(&name.as_str()) {
            return Err(format!("header `{name}` is set by the component itself"));
        }
        if value.len() > 4096 || !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err(format!(
                "header `{name}` has a value that is not visible ASCII of at most 4096 bytes"
            ));
        }
        headers.push((name, value.to_string()));
    }
    Ok(headers)
}

/// Parses `key=value,key=value` as docker-agent reads `TELEMETRY_TAGS`: pairs without `=` or
/// with an empty key are skipped, keys and values are trimmed, only the first `=` splits. The
/// component holds keys and values alike to the identifier rule; at most 32 tags are kept.
pub fn parse_tags(value: &str) -> Vec<(String, String)> {
    value
        .split(LIST_SEPARATOR)
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = key.trim();
            (!key.is_empty()).then(|| (key.to_string(), value.trim().to_string()))
        })
        .take(MAX_TAGS)
        .collect()
}

/// The most custom tags an event carries.
pub const MAX_TAGS: usize = 32;

/// Parses `key=value,key=value`: the context properties the `swarm` format adds to every
/// event (key [`keys::CONTEXT_PROPERTIES`]). Keys are `[a-z][a-z0-9_]*`, at most 64
/// characters; values are `true`, `false`, or a name (held to the identifier rule by the
/// component).
pub fn parse_context_properties(value: &str) -> Result<Vec<(String, String)>, String> {
    let mut properties = Vec::new();
    for pair in value.split(LIST_SEPARATOR).filter(|p| !p.trim().is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            return Err("a context property is not written `key=value`".to_string());
        };
        let key = key.trim();
        let good_key = key.len() <= 64
            && key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !good_key {
            return Err(format!(
                "context property key `{}` is not [a-z][a-z0-9_]* of at most 64 characters",
                key.escape_debug()
            ));
        }
        properties.push((key.to_string(), value.trim().to_string()));
    }
    Ok(properties)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration with no field at its default.
    fn everything_set() -> ComponentConfig {
        ComponentConfig {
            enabled: true,
            consent_reason: "the user said so".into(),
            endpoint: Some("https://collector.invalid:4318/v1/logs".into()),
            installation_id: Some("install_0123456789abcdef".into()),
            hash_key: Some("ab".repeat(32)),
            source: "cli".into(),
            environment: "staging".into(),
            product: "my-tool".into(),
            product_version: "1.2.3".into(),
            os: "linux".into(),
            arch: "aarch64".into(),
            ci: true,
            batch_max_events: 7,
            batch_max_bytes: 2048,
            queue_max_events: 70,
            timeout_ms: 700,
            agent_allowlist: vec!["planner".into(), "coder".into()],
            flag_allowlist: vec!["--verbose".into()],
            redact_words: vec!["alice".into()],
            format: Format::Otlp,
            otlp_protocol: OtlpProtocol::Json,
            otlp_names: OtlpNames::Older,
            compression: Compression::Gzip,
            headers: Pairs("x-api-key=k1".into()),
            context_properties: Pairs("is_cloud=false".into()),
            os_language: Some("en-US".into()),
            tags: Pairs("team=infra,tier=gold".into()),
        }
    }

    #[test]
    fn the_configuration_reads_back_as_it_was_written() {
        let config = everything_set();
        let pairs = config.to_pairs();
        let defaults = ComponentConfig::default().to_pairs();
        for (key, value) in &pairs {
            assert!(
                defaults.iter().all(|(k, v)| k != key || v != value),
                "`{key}` is at its default in the test's configuration"
            );
        }
        let (read, unreadable) =
            ComponentConfig::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!(unreadable, []);
        assert_eq!(read, config);
        let (read, unreadable) =
            ComponentConfig::from_pairs(defaults.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        assert_eq!((read, unreadable), (ComponentConfig::default(), vec![]));
    }

    #[test]
    fn a_value_that_does_not_fit_keeps_the_default_and_is_returned() {
        let (read, unreadable) = ComponentConfig::from_pairs([
            ("batch-max-events", "lots"),
            ("ci", "maybe"),
            ("format", "xml"),
            ("compression", "zstd"),
            ("product", " my-tool "),
            ("no-such-key", "x"),
        ]);
        let keys: Vec<&str> = unreadable.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["batch-max-events", "ci", "format", "compression"]);
        assert_eq!(read.batch_max_events, DEFAULT_BATCH_MAX_EVENTS);
        assert_eq!(
            (read.format, read.compression),
            (Format::Native, Compression::None)
        );
        assert_eq!(read.product, "my-tool");
        assert_eq!(unreadable[2].value, "xml");
    }

    #[test]
    fn a_key_given_twice_takes_its_last_value_that_fits_and_an_empty_optional_value_unsets() {
        let (read, unreadable) = ComponentConfig::from_pairs([
            ("format", "swarm"),
            ("format", "xml"),
            ("timeout-ms", "10"),
            ("timeout-ms", " 20 "),
            ("endpoint", "http://127.0.0.1:9/v1"),
            ("endpoint", "  "),
            ("flag-allowlist", "--a,,--b ,"),
            ("ci", "TRUE"),
        ]);
        assert_eq!(read.format, Format::Swarm);
        assert_eq!(read.timeout_ms, 20);
        assert_eq!(read.endpoint, None);
        assert_eq!(read.flag_allowlist, ["--a", "--b"]);
        assert!(read.ci);
        assert_eq!(
            unreadable,
            [Unreadable {
                key: "format".into(),
                value: "xml".into()
            }]
        );
    }

    #[test]
    fn every_key_is_a_field_and_every_field_a_documented_key() {
        let mut fields: Vec<String> = everything_set()
            .to_pairs()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut documented: Vec<&str> = KEY_DOCS.iter().map(|d| d.key).collect();
        fields.sort();
        documented.sort();
        assert_eq!(fields, documented, "KEY_DOCS lists ComponentConfig's keys");
        // Where the default is a value, the docs say that value.
        for (key, value) in ComponentConfig::default().to_pairs() {
            if value.is_empty() {
                continue;
            }
            let doc = KEY_DOCS.iter().find(|d| d.key == key).unwrap();
            assert!(
                doc.default.contains(&format!("`{value}`")),
                "the docs give `{key}` the default {}, the code `{value}`",
                doc.default
            );
        }
    }

    #[test]
    fn the_docs_configuration_table_is_the_generated_one() {
        let page = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
        )
        .unwrap();
        let start = "<!-- config-table:begin (generated from config::KEY_DOCS) -->\n";
        let table = page
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once("<!-- config-table:end -->"))
            .map(|(table, _)| table)
            .expect("docs/configuration.md has the table's markers");
        assert_eq!(
            table,
            markdown(),
            "docs/configuration.md's table is out of date: paste the table `config::markdown()` makes"
        );
    }

    #[test]
    fn every_format_reads_back_its_own_name_and_nothing_else() {
        for format in Format::ALL {
            assert_eq!(Format::parse(format.as_str()), Some(format));
        }
        for protocol in OtlpProtocol::ALL {
            assert_eq!(OtlpProtocol::parse(protocol.as_str()), Some(protocol));
        }
        for bad in ["", "NATIVE", "otlp-json", "grpc", "json"] {
            assert_eq!(Format::parse(bad), None, "{bad}");
            assert_eq!(OtlpProtocol::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn headers_are_tokens_and_values_and_never_ones_the_component_sets() {
        assert_eq!(
            parse_headers(" X-Api-Key = abc123 ,authorization=Bearer t0ken,").unwrap(),
            [
                ("x-api-key".to_string(), "abc123".to_string()),
                ("authorization".to_string(), "Bearer t0ken".to_string())
            ]
        );
        assert_eq!(parse_headers("").unwrap(), []);
        for bad in [
            "novalue",
            "=abc",
            "bad name=1",
            "content-type=text/plain",
            "Content-Encoding=gzip",
            "host=evil.example",
            "agent-telemetry-events=99",
            "Proxy-Authorization=Basic eA==",
            "http2-settings=AAMAAABkAAQAAP__",
            "x-key=line\nbreak",
            "x-key=caf\u{e9}",
        ] {
            assert!(parse_headers(bad).is_err(), "{bad:?}");
        }
        // The error names the header, never its value (it may be a secret).
        let why = parse_headers("x-api-key=s3cr3t\u{7f}").unwrap_err();
        assert!(
            why.contains("x-api-key") && !why.contains("s3cr3t"),
            "{why}"
        );
    }

    #[test]
    fn context_properties_have_snake_case_keys() {
        assert_eq!(
            parse_context_properties("is_cloud=false, install_method = manual").unwrap(),
            [
                ("is_cloud".to_string(), "false".to_string()),
                ("install_method".to_string(), "manual".to_string())
            ]
        );
        for bad in ["isCloud=true", "9lives=true", "is-cloud=true", "flag", "=x"] {
            assert!(parse_context_properties(bad).is_err(), "{bad:?}");
        }
    }
}
