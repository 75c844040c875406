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
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Settings {
        let mut s = Settings::default();
        let mut enabled_value = None;
        let mut bad_format = None;
        for (key, value) in pairs {
            let value = value.trim();
            match key {
                keys::ENABLED => enabled_value = Some(value.to_string()),
                keys::CONSENT_REASON => s.reason = value.to_string(),
                keys::ENDPOINT => match Endpoint::parse(value) {
                    Ok(e) => s.endpoint = Some(e),
                    Err(e) => s
                        .problems
                        .push(format!("endpoint `{value}` cannot be used: {e}")),
                },
                keys::INSTALLATION_ID if !value.is_empty() => {
                    s.installation_id = Some(value.to_string())
                }
                keys::HASH_KEY => match hex::decode(value) {
                    Ok(k) if k.len() >= ids::MIN_HASH_KEY_BYTES => s.hash_key = Some(k),
                    _ => s
                        .problems
                        .push("hash-key must be at least 32 hex digits".to_string()),
                },
                keys::SOURCE => s.source = value.to_string(),
                keys::ENVIRONMENT => s.environment = value.to_string(),
                keys::PRODUCT => s.product = value.to_string(),
                keys::PRODUCT_VERSION => s.product_version = value.to_string(),
                keys::OS => s.os = value.to_string(),
                keys::ARCH => s.arch = value.to_string(),
                keys::CI => s.ci = value.eq_ignore_ascii_case("true"),
                keys::BATCH_MAX_EVENTS => parse_count(
                    key,
                    value,
                    BATCH_MAX_EVENTS_RANGE,
                    &mut s.batch_max_events,
                    &mut s.problems,
                ),
                keys::BATCH_MAX_BYTES => parse_count(
                    key,
                    value,
                    BATCH_MAX_BYTES_RANGE,
                    &mut s.batch_max_bytes,
                    &mut s.problems,
                ),
                keys::QUEUE_MAX_EVENTS => parse_count(
                    key,
                    value,
                    QUEUE_MAX_EVENTS_RANGE,
                    &mut s.queue_max_events,
                    &mut s.problems,
                ),
                keys::TIMEOUT_MS => {
                    let mut ms = DEFAULT_TIMEOUT.as_millis() as usize;
                    parse_count(key, value, TIMEOUT_MS_RANGE, &mut ms, &mut s.problems);
                    s.timeout = Duration::from_millis(ms as u64);
                }
                keys::AGENT_ALLOWLIST => s.agent_allowlist = split_list(value),
                keys::FLAG_ALLOWLIST => s.flag_allowlist = split_list(value),
                keys::REDACT_WORDS => s.redact_words = split_list(value),
                keys::FORMAT => match Format::parse(value) {
                    Some(format) => s.format = format,
                    None => bad_format = Some(value.to_string()),
                },
                keys::OTLP_PROTOCOL => match OtlpProtocol::parse(value) {
                    Some(protocol) => s.otlp_protocol = protocol,
                    None => s.problems.push(format!(
                        "otlp-protocol `{value}` is not http/protobuf or http/json; kept {}",
                        s.otlp_protocol.as_str()
                    )),
                },
                keys::COMPRESSION => match Compression::parse(value) {
                    Some(compression) => s.compression = compression,
                    None => s.problems.push(format!(
                        "compression `{value}` is not none or gzip; kept {}",
                        s.compression.as_str()
                    )),
                },
                keys::HEADERS => match parse_headers(value) {
                    Ok(headers) => s.headers = headers,
                    Err(why) => s.problems.push(format!("headers not used: {why}")),
                },
                keys::CONTEXT_PROPERTIES => match parse_context_properties(value) {
                    Ok(properties) => s.context_properties = properties,
                    Err(why) => s
                        .problems
                        .push(format!("context-properties not used: {why}")),
                },
                keys::OS_LANGUAGE if !value.is_empty() => s.os_language = Some(value.to_string()),
                keys::TAGS => s.tags = parse_tags(value),
                _ => {}
            }
        }
        match enabled_value.as_deref() {
            Some("true") => s.enabled = true,
            Some("false") => s.enabled = false,
            Some(other) => {
                s.enabled = false;
                s.reason = format!("the host sent enabled=`{other}`, which is not true or false");
            }
            None => {}
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

fn parse_count(
    key: &str,
    value: &str,
    range: std::ops::RangeInclusive<usize>,
    into: &mut usize,
    problems: &mut Vec<String>,
) {
    match value.parse::<usize>() {
        Ok(n) if range.contains(&n) => *into = n,
        _ => problems.push(format!(
            "{key}=`{value}` is not a number from {} to {}; kept {into}",
            range.start(),
            range.end()
        )),
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(LIST_SEPARATOR)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
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
