//! What an embedding program configures, and how it reaches the component as `wasi:config`.
//!
//! | setting | `wasi:config` key | default |
//! |---|---|---|
//! | endpoint | `endpoint` | none: telemetry stays off until one is set |
//! | consent | `enabled`, `consent-reason` | from the environment (see `consent`) |
//! | identity directory | `installation-id`, `hash-key` | none: ephemeral identity |
//! | product, product version | `product`, `product-version` | given to `new` |
//! | source | `source` | `cli` |
//! | environment | `environment` | `production` |
//! | batch size | `batch-max-events` | 100 |
//! | queue bound | `queue-max-events` | 10000 |
//! | request timeout | `timeout-ms` | 5 s (also the host's cap) |
//! | agent names sent as written | `agent-allowlist` | none (all hashed) |
//! | command flags sent by name | `flag-allowlist` | none |
//! | os, arch, ci | `os`, `arch`, `ci` | this machine's; CI detected from the environment |

use std::path::PathBuf;
use std::time::Duration;

use crate::consent::{self, Consent};
use crate::identity::Identity;

#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    pub endpoint: Option<String>,
    pub consent: Consent,
    /// Where the installation id and hash key are kept; `None`: ephemeral.
    pub identity_dir: Option<PathBuf>,
    pub product: String,
    pub product_version: String,
    pub source: String,
    pub environment: String,
    pub batch_max_events: u32,
    pub queue_max_events: u32,
    /// Per request, enforced by the component and capped by the host.
    pub request_timeout: Duration,
    /// How often queued events are sent even when no batch has filled.
    pub flush_interval: Duration,
    pub agent_allowlist: Vec<String>,
    pub flag_allowlist: Vec<String>,
    pub ci: bool,
    /// Events waiting between the caller and the component; beyond this they are dropped and
    /// counted, so a stalled component can never make a caller wait.
    pub handoff_capacity: usize,
    /// Raw `wasi:config` pairs given to the component after (and so over) the ones above: for
    /// custom component builds and tests. The host's own checks (the allowed endpoint, the
    /// timeout cap) do not read these, so they cannot widen what the component may reach.
    pub component_config: Vec<(String, String)>,
}

impl TelemetrySettings {
    /// Defaults for `product` at `version`: consent and CI from the environment, no endpoint.
    pub fn new(product: impl Into<String>, version: impl Into<String>) -> TelemetrySettings {
        TelemetrySettings {
            endpoint: None,
            consent: Consent::from_env(),
            identity_dir: None,
            product: product.into(),
            product_version: version.into(),
            source: "cli".to_string(),
            environment: "production".to_string(),
            batch_max_events: 100,
            queue_max_events: 10_000,
            request_timeout: Duration::from_secs(5),
            flush_interval: Duration::from_secs(10),
            agent_allowlist: Vec::new(),
            flag_allowlist: Vec::new(),
            ci: consent::detect_ci(|name| std::env::var(name).ok()),
            handoff_capacity: 65_536,
            component_config: Vec::new(),
        }
    }

    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    pub fn consent(mut self, consent: Consent) -> Self {
        self.consent = consent;
        self
    }

    pub fn identity_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.identity_dir = Some(dir.into());
        self
    }

    /// The `wasi:config` variables the component reads (see the table above).
    pub(crate) fn config_vars(&self, identity: &Identity) -> Vec<(String, String)> {
        let mut vars = vec![
            ("enabled", self.consent.enabled.to_string()),
            ("consent-reason", self.consent.reason.clone()),
            ("hash-key", identity.hash_key.clone()),
            ("source", self.source.clone()),
            ("environment", self.environment.clone()),
            ("product", self.product.clone()),
            ("product-version", self.product_version.clone()),
            ("os", std::env::consts::OS.to_string()),
            ("arch", std::env::consts::ARCH.to_string()),
            ("ci", self.ci.to_string()),
            ("batch-max-events", self.batch_max_events.to_string()),
            ("queue-max-events", self.queue_max_events.to_string()),
            ("timeout-ms", self.request_timeout.as_millis().to_string()),
            ("agent-allowlist", self.agent_allowlist.join(",")),
            ("flag-allowlist", self.flag_allowlist.join(",")),
        ];
        if let Some(endpoint) = &self.endpoint {
            vars.push(("endpoint", endpoint.clone()));
        }
        if let Some(id) = &identity.installation_id {
            vars.push(("installation-id", id.clone()));
        }
        vars.into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .chain(self.component_config.iter().cloned())
            .collect()
    }
}
