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
