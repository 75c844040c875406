//! The component's settings, read from `wasi:config` key/value pairs that the host supplies.
//!
//! Parsing is kept apart from `wasi:config` itself so the rules can be tested natively. A bad
//! value never traps: it falls back to the default and the problem is kept for `status`.

use std::time::Duration;

pub use agent_telemetry_contract::config::*;
pub use agent_telemetry_contract::endpoint::Endpoint;
use agent_telemetry_contract::ids;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub enabled: bool,
    /// Which input decided `enabled`, as the host reported it (or why the component overrode it).
    pub reason: String,
    pub endpoint: Option<Endpoint>,
    /// `None`: the component makes an `ephemeral_` id for this instance.
    pub installation_id: Option<String>,
    /// The pseudonymization key. `None`: a random key for this instance only.
    pub hash_key: Option<Vec<u8>>,
    pub source: String,
    pub environment: String,
    pub product: String,
    pub product_version: String,
    pub os: String,
    pub arch: String,
    pub ci: bool,
    pub batch_max_events: usize,
    /// A batch stops growing before it would pass this many bytes (one event always fits).
    pub batch_max_bytes: usize,
    pub queue_max_events: usize,
    pub timeout: Duration,
    pub agent_allowlist: Vec<String>,
    pub flag_allowlist: Vec<String>,
    /// Names of the local user, never sent: identifiers containing one are hashed.
    pub redact_words: Vec<String>,
    /// The wire format, and the OTLP encoding when it is `otlp`.
    pub format: Format,
    pub otlp_protocol: OtlpProtocol,
    pub otlp_names: OtlpNames,
    pub compression: Compression,
    /// Static request headers (an endpoint's API key, say). Never logged, never in `status`.
    pub headers: Vec<(String, String)>,
    /// The `swarm` format's context properties, as the host wrote them (the component holds
    /// their values to the identifier rule before they go out).
    pub context_properties: Vec<(String, String)>,
    /// The `docker` format's `os_language` (`en-US`), if the host gave one.
    pub os_language: Option<String>,
    /// Custom tags for every event, as the host wrote them (see [`parse_tags`]).
    pub tags: Vec<(String, String)>,
    /// Values that were present but unusable, reported through `status`.
    pub problems: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: false,
            reason: "no configuration".to_string(),
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
            timeout: DEFAULT_TIMEOUT,
            agent_allowlist: Vec::new(),
            flag_allowlist: Vec::new(),
            redact_words: Vec::new(),
            format: Format::default(),
            otlp_protocol: OtlpProtocol::default(),
            otlp_names: OtlpNames::default(),
            compression: Compression::default(),
            headers: Vec::new(),
            context_properties: Vec::new(),
            os_language: None,
            tags: Vec::new(),
            problems: Vec::new(),
        }
    }
}

impl Settings {
    /// The settings the host's `wasi:config` pairs give: read into the one configuration type
    /// ([`ComponentConfig`]), then each value checked. A value that cannot be used keeps its
    /// default and is kept in `problems`; nothing here can trap.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Settings {
        let (config, unreadable) = ComponentConfig::from_pairs(pairs);
        let mut s = Settings {
            enabled: config.enabled,
            reason: config.consent_reason,
            installation_id: config.installation_id,
            source: config.source,
            environment: config.environment,
            product: config.product,
            product_version: config.product_version,
            os: config.os,
            arch: config.arch,
            ci: config.ci,
            agent_allowlist: config.agent_allowlist,
            flag_allowlist: config.flag_allowlist,
            redact_words: config.redact_words,
            format: config.format,
            otlp_protocol: config.otlp_protocol,
            otlp_names: config.otlp_names,
            compression: config.compression,
            os_language: config.os_language,
            tags: parse_tags(&config.tags.0),
            ..Settings::default()
        };
        let mut bad_format = None;
        for Unreadable { key, value } in unreadable {
            match key.as_str() {
                keys::ENABLED => {
                    s.enabled = false;
                    s.reason =
                        format!("the host sent enabled=`{value}`, which is not true or false");
                }
                keys::FORMAT => bad_format = Some(value),
                keys::OTLP_PROTOCOL => s.problems.push(format!(
                    "otlp-protocol `{value}` is not http/protobuf or http/json; kept {}",
                    s.otlp_protocol.as_str()
                )),
                keys::OTLP_NAMES => s.problems.push(format!(
                    "otlp-names `{value}` is not current or older; kept {}",
                    s.otlp_names.as_str()
                )),
                keys::COMPRESSION => s.problems.push(format!(
                    "compression `{value}` is not none or gzip; kept {}",
                    s.compression.as_str()
                )),
                _ => s
                    .problems
                    .push(format!("{key}=`{value}` cannot be used; kept the default")),
            }
        }
        if let Some(value) = config.endpoint {
            match Endpoint::parse(&value) {
                Ok(e) => s.endpoint = Some(e),
                Err(e) => s
                    .problems
                    .push(format!("endpoint `{value}` cannot be used: {e}")),
            }
        }
        if let Some(value) = config.hash_key {
            match hex::decode(&value) {
                Ok(k) if k.len() >= ids::MIN_HASH_KEY_BYTES => s.hash_key = Some(k),
                _ => s
                    .problems
                    .push("hash-key must be at least 32 hex digits".to_string()),
            }
        }
        let mut count =
            |key, n: usize, range, into: &mut usize| in_range(key, n, range, into, &mut s.problems);
        let mut batch_max_events = DEFAULT_BATCH_MAX_EVENTS;
        let mut batch_max_bytes = DEFAULT_BATCH_MAX_BYTES;
        let mut queue_max_events = DEFAULT_QUEUE_MAX_EVENTS;
        let mut timeout_ms = DEFAULT_TIMEOUT.as_millis() as usize;
        count(
            keys::BATCH_MAX_EVENTS,
            config.batch_max_events,
            BATCH_MAX_EVENTS_RANGE,
            &mut batch_max_events,
        );
        count(
            keys::BATCH_MAX_BYTES,
            config.batch_max_bytes,
            BATCH_MAX_BYTES_RANGE,
            &mut batch_max_bytes,
        );
        count(
            keys::QUEUE_MAX_EVENTS,
            config.queue_max_events,
            QUEUE_MAX_EVENTS_RANGE,
            &mut queue_max_events,
        );
        count(
            keys::TIMEOUT_MS,
            config.timeout_ms,
            TIMEOUT_MS_RANGE,
            &mut timeout_ms,
        );
        s.batch_max_events = batch_max_events;
        s.batch_max_bytes = batch_max_bytes;
        s.queue_max_events = queue_max_events;
        s.timeout = Duration::from_millis(timeout_ms as u64);
        match parse_headers(&config.headers.0) {
            Ok(headers) => s.headers = headers,
            Err(why) => s.problems.push(format!("headers not used: {why}")),
        }
        match parse_context_properties(&config.context_properties.0) {
            Ok(properties) => s.context_properties = properties,
            Err(why) => s
                .problems
                .push(format!("context-properties not used: {why}")),
        }
        // Sending one format to an endpoint that speaks another loses every batch: an unknown
        // format turns telemetry off, and says so.
        if let Some(format) = bad_format.filter(|_| s.enabled) {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
            s.enabled = false;
            s.reason = format!("format `{format}` is not one of {}", names.join(", "));
        }
        if s.enabled && s.endpoint.is_none() {
            s.enabled = false;
            s.reason = "no usable endpoint is configured".to_string();
        }
        s
    }
}

/// `n` into `into` if `range` holds it, else a problem (and `into` kept).
fn in_range(
    key: &str,
    n: usize,
    range: std::ops::RangeInclusive<usize>,
    into: &mut usize,
    problems: &mut Vec<String>,
) {
    if range.contains(&n) {
        *into = n;
    } else {
        problems.push(format!(
            "{key}=`{n}` is not a number from {} to {}; kept {into}",
            range.start(),
            range.end()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabled_needs_an_endpoint() {
        let s = Settings::from_pairs([("enabled", "true")]);
        assert!(!s.enabled);
        assert!(s.reason.contains("endpoint"));
        let s = Settings::from_pairs([("enabled", "true"), ("endpoint", "http://127.0.0.1:9/v1")]);
        assert!(s.enabled);
        assert_eq!(s.endpoint.unwrap().authority, "127.0.0.1:9");
    }

    #[test]
    fn bad_numbers_keep_defaults_and_are_reported() {
        let s = Settings::from_pairs([("batch-max-events", "lots"), ("timeout-ms", "0")]);
        assert_eq!(s.batch_max_events, DEFAULT_BATCH_MAX_EVENTS);
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.problems.len(), 2);
    }

    #[test]
    fn redact_words_are_a_comma_separated_list() {
        let s = Settings::from_pairs([("redact-words", " alice , Alice.Smith,,bob ")]);
        assert_eq!(s.redact_words, ["alice", "Alice.Smith", "bob"]);
        assert!(s.problems.is_empty());
        assert!(
            Settings::from_pairs([("redact-words", "")])
                .redact_words
                .is_empty()
        );
    }

    #[test]
    fn endpoint_parsing() {
        let e = Endpoint::parse("http://localhost:4318").unwrap();
        assert_eq!(
            (e.authority.as_str(), e.path_with_query.as_str()),
            ("localhost:4318", "/")
        );
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://user@host/").is_err());
    }
}
