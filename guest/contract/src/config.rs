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
    /// Agent names sent as written, comma-separated.
    pub const AGENT_ALLOWLIST: &str = "agent-allowlist";
    /// Command flag names that may be sent, comma-separated.
    pub const FLAG_ALLOWLIST: &str = "flag-allowlist";
    /// The local user's names (`$USER`, `$USERNAME`, the home directory's name), separated by
    /// commas: the component cannot read the environment, so the host passes them. Any
    /// identifier that contains one is hashed.
    pub const REDACT_WORDS: &str = "redact-words";
}

/// Events per request.
pub const DEFAULT_BATCH_MAX_EVENTS: usize = 100;
pub const BATCH_MAX_EVENTS_RANGE: RangeInclusive<usize> = 1..=10_000;
/// Bytes per request (one event always fits): well under the local collector's 16 MiB body
/// limit, and under common proxies' 1 MiB.
pub const DEFAULT_BATCH_MAX_BYTES: usize = 512 << 10;
pub const BATCH_MAX_BYTES_RANGE: RangeInclusive<usize> = 1024..=16 << 20;
/// Events the component's queue holds; beyond it they are dropped and counted.
pub const DEFAULT_QUEUE_MAX_EVENTS: usize = 10_000;
pub const QUEUE_MAX_EVENTS_RANGE: RangeInclusive<usize> = 1..=1_000_000;
/// Per request; the host caps it too.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The request timeout's bounds, in milliseconds.
pub const TIMEOUT_MS_RANGE: RangeInclusive<usize> = 1..=600_000;

/// Envelope labels when the host sets none.
pub const DEFAULT_SOURCE: &str = "unknown";
pub const DEFAULT_ENVIRONMENT: &str = "production";
pub const DEFAULT_PRODUCT: &str = "unknown";
pub const DEFAULT_PRODUCT_VERSION: &str = "0.0.0";
pub const DEFAULT_OS: &str = "unknown";
pub const DEFAULT_ARCH: &str = "unknown";

/// How list values (allowlists, redact words) are joined.
pub const LIST_SEPARATOR: char = ',';
