//! The component's settings, read from `wasi:config` key/value pairs that the host supplies.
//!
//! Parsing is kept apart from `wasi:config` itself so the rules can be tested natively. A bad
//! value never traps: it falls back to the default and the problem is kept for `status`.

use std::time::Duration;

/// Every key the component reads. The host documents them; see `host/src/settings.rs`.
pub mod keys {
    pub const ENABLED: &str = "enabled";
    pub const CONSENT_REASON: &str = "consent-reason";
    pub const ENDPOINT: &str = "endpoint";
    pub const INSTALLATION_ID: &str = "installation-id";
    pub const HASH_KEY: &str = "hash-key";
    pub const SOURCE: &str = "source";
    pub const ENVIRONMENT: &str = "environment";
    pub const PRODUCT: &str = "product";
    pub const PRODUCT_VERSION: &str = "product-version";
    pub const OS: &str = "os";
    pub const ARCH: &str = "arch";
    pub const CI: &str = "ci";
    pub const BATCH_MAX_EVENTS: &str = "batch-max-events";
    pub const BATCH_MAX_BYTES: &str = "batch-max-bytes";
    pub const QUEUE_MAX_EVENTS: &str = "queue-max-events";
    pub const TIMEOUT_MS: &str = "timeout-ms";
    pub const AGENT_ALLOWLIST: &str = "agent-allowlist";
    pub const FLAG_ALLOWLIST: &str = "flag-allowlist";
    /// The local user's names (`$USER`, `$USERNAME`, the home directory's name), separated by
    /// commas: the component cannot read the environment, so the host passes them. Any
    /// identifier that contains one is hashed (see `anonymize`).
    pub const REDACT_WORDS: &str = "redact-words";
}

pub const DEFAULT_BATCH_MAX_EVENTS: usize = 100;
/// Well under the local collector's 16 MiB body limit, and under common proxies' 1 MiB.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 512 << 10;
pub const DEFAULT_QUEUE_MAX_EVENTS: usize = 10_000;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

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
            source: "unknown".to_string(),
            environment: "production".to_string(),
            product: "unknown".to_string(),
            product_version: "0.0.0".to_string(),
            os: "unknown".to_string(),
            arch: "unknown".to_string(),
            ci: false,
            batch_max_events: DEFAULT_BATCH_MAX_EVENTS,
            batch_max_bytes: DEFAULT_BATCH_MAX_BYTES,
            queue_max_events: DEFAULT_QUEUE_MAX_EVENTS,
            timeout: DEFAULT_TIMEOUT,
            agent_allowlist: Vec::new(),
            flag_allowlist: Vec::new(),
            redact_words: Vec::new(),
            problems: Vec::new(),
        }
    }
}

/// Where batches go: `http://authority/path`, split the way `wasi:http` wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub https: bool,
    pub authority: String,
    pub path_with_query: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let (https, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else {
            return Err(format!(
                "endpoint `{url}` must start with http:// or https://"
            ));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("endpoint `{url}` has no usable host"));
        }
        Ok(Endpoint {
            https,
            authority: authority.to_string(),
            path_with_query: path.to_string(),
        })
    }
}

impl Settings {
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Settings {
        let mut s = Settings::default();
        let mut enabled_value = None;
        for (key, value) in pairs {
            let value = value.trim();
            match key {
                keys::ENABLED => enabled_value = Some(value.to_string()),
                keys::CONSENT_REASON => s.reason = value.to_string(),
                keys::ENDPOINT => match Endpoint::parse(value) {
                    Ok(e) => s.endpoint = Some(e),
                    Err(e) => s.problems.push(e),
                },
                keys::INSTALLATION_ID if !value.is_empty() => {
                    s.installation_id = Some(value.to_string())
                }
                keys::HASH_KEY => match decode_hex(value) {
                    Some(k) if k.len() >= 16 => s.hash_key = Some(k),
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
                    1,
                    10_000,
                    &mut s.batch_max_events,
                    &mut s.problems,
                ),
                keys::BATCH_MAX_BYTES => parse_count(
                    key,
                    value,
                    1024,
                    16 << 20,
                    &mut s.batch_max_bytes,
                    &mut s.problems,
                ),
                keys::QUEUE_MAX_EVENTS => parse_count(
                    key,
                    value,
                    1,
                    1_000_000,
                    &mut s.queue_max_events,
                    &mut s.problems,
                ),
                keys::TIMEOUT_MS => {
                    let mut ms = DEFAULT_TIMEOUT.as_millis() as usize;
                    parse_count(key, value, 1, 600_000, &mut ms, &mut s.problems);
                    s.timeout = Duration::from_millis(ms as u64);
                }
                keys::AGENT_ALLOWLIST => s.agent_allowlist = split_list(value),
                keys::FLAG_ALLOWLIST => s.flag_allowlist = split_list(value),
                keys::REDACT_WORDS => s.redact_words = split_list(value),
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
    min: usize,
    max: usize,
    into: &mut usize,
    problems: &mut Vec<String>,
) {
    match value.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => *into = n,
        _ => problems.push(format!(
            "{key}=`{value}` is not a number from {min} to {max}; kept {into}"
        )),
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
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
