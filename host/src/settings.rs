//! What an embedding program configures, and how it reaches the component as `wasi:config`.
//!
//! | setting | `wasi:config` key | default |
//! |---|---|---|
//! | endpoint | `endpoint` | none: telemetry stays off until one is set |
//! | consent | `enabled`, `consent-reason` | from the environment (see `consent`) |
//! | identity directory | `installation-id`, `hash-key` | none: ephemeral identity |
//! | installation id handed in | `installation-id` | none (`AGENT_TELEMETRY_INSTALLATION_ID`) |
//! | product, product version | `product`, `product-version` | given to `new` |
//! | source | `source` | `cli` |
//! | environment | `environment` | `production` |
//! | batch size | `batch-max-events`, `batch-max-bytes` | 100 events, 512 KiB |
//! | queue bound | `queue-max-events` | 10000 |
//! | request timeout | `timeout-ms` | 5 s (also the host's cap) |
//! | agent names sent as written | `agent-allowlist` | none (all hashed) |
//! | command flags sent by name | `flag-allowlist` | none |
//! | os, arch, ci | `os`, `arch`, `ci` | this machine's; CI detected from the environment |
//! | local user names, hashed wherever they appear | `redact-words` | `$USER`, `$USERNAME`, the home directory's name |
//! | wire format: `native`, `docker`, `swarm`, `otlp` | `format` | `native` (`AGENT_TELEMETRY_FORMAT`) |
//! | OTLP encoding: `http/protobuf`, `http/json` | `otlp-protocol` | `http/protobuf` |
//! | OTLP attribute names: `current`, `older` | `otlp-names` | `current` |
//! | body compression: `none`, `gzip` | `compression` | `none` |
//! | static request headers (an API key) | `headers` | none (`AGENT_TELEMETRY_HEADERS`, `name=value,...`) |
//! | `swarm` context properties (`is_cloud=false`, ...) | `context-properties` | none |
//! | `docker`'s `os_language` | `os-language` | from `LC_ALL` / `LANG` (`en-US`) |
//! | custom tags on every event | `tags` | none (`TELEMETRY_TAGS` in the CLI, `key=value,...`) |
//!
//! Host-only settings (never given to the component): `off_in_ci` (`AGENT_TELEMETRY_OFF_IN_CI`),
//! `debug` (`AGENT_TELEMETRY_DEBUG`: capture requests in a file instead of sending them),
//! `show_notice` (off with `AGENT_TELEMETRY_NO_NOTICE`), `ledger_max_bytes`, `mode`
//! (`AGENT_TELEMETRY_MODE`: events, or counts only), `clock`, `container` and `ephemeral`
//! (`AGENT_TELEMETRY_EPHEMERAL`: whether runs keep an identity).

use std::path::PathBuf;
use std::time::Duration;

use agent_telemetry_contract::config::{
    self as defaults, ComponentConfig, Compression, Format, OtlpNames, OtlpProtocol, Pairs, keys,
};
use agent_telemetry_contract::ids;

use crate::delivery::spool::SpoolLimits;
use crate::trust::consent::{self, Consent, Switch};
use crate::trust::identity::Identity;
use crate::trust::private_files::check_private_dir;

/// Everything an embedding program can set, with the defaults of [`new`](Self::new): the
/// table atop this module says which `wasi:config` key each becomes. The fields are public
/// for programs that set many; the builder methods cover the common ones.
#[derive(Debug, Clone)]
pub struct TelemetrySettings {
    /// Where batches are sent: `https://`, or plain `http://` to a loopback address only.
    /// Without one telemetry stays off.
    pub endpoint: Option<String>,
    /// The consent as the program decided it (from the environment by default); the user's
    /// persisted choice and the CI rule are applied on top (see
    /// [`effective_consent`](Self::effective_consent)).
    pub consent: Consent,
    /// Where the installation id and hash key are kept; `None`: ephemeral.
    pub identity_dir: Option<PathBuf>,
    /// An installation id handed in (`install_` + 16 hex digits), used instead of the stored
    /// one and never written: one id for a fleet of images or CI runners
    /// (`AGENT_TELEMETRY_INSTALLATION_ID` by default).
    pub installation_id: Option<String>,
    /// Whether this runs in a container (`/.dockerenv`, `/run/.containerenv` or the `container`
    /// variable; detected): its home will not survive, so without an id handed in the run is
    /// ephemeral and nothing is written there.
    pub container: bool,
    /// Whether runs are ephemeral whatever was detected: `Some(false)` keeps the identity in a
    /// container whose home survives (a dev container's volume); `None` (the default, or
    /// `AGENT_TELEMETRY_EPHEMERAL` unset): a container or CI run is.
    pub ephemeral: Option<bool>,
    /// Where `agent-telemetry telemetry off` keeps the user's choice, honoured on top of the
    /// one in `identity_dir`: [`user_identity_dir`] by default.
    pub user_choice_dir: Option<PathBuf>,
    /// The product's name, in every event's envelope.
    pub product: String,
    /// The product's version, in every event's envelope.
    pub product_version: String,
    /// What kind of program records (`cli` by default), in every event's envelope.
    pub source: String,
    /// The deployment it runs in (`production` by default), in every event's envelope.
    pub environment: String,
    /// The most events in one batch (100 by default).
    pub batch_max_events: u32,
    /// The most bytes in one batch (512 KiB by default).
    pub batch_max_bytes: u32,
    /// The most events the component queues (10000 by default); more are dropped and
    /// counted.
    pub queue_max_events: u32,
    /// Per request, enforced by the component and capped by the host.
    pub request_timeout: Duration,
    /// How often queued events are sent even when no batch has filled.
    pub flush_interval: Duration,
    /// Agent names sent as written; every other agent name is hashed.
    pub agent_allowlist: Vec<String>,
    /// Command flags sent by name (see [`Telemetry::track_command`](crate::Telemetry::track_command));
    /// no flag is sent otherwise.
    pub flag_allowlist: Vec<String>,
    /// Whether this is a CI run, in every event's envelope (detected from the environment).
    pub ci: bool,
    /// Stay off when running in CI.
    pub off_in_ci: bool,
    /// `Events` (the default) sends events; `Aggregate` (counts-only mode) folds them into
    /// counters on this machine and sends one upload of counts per day. The user's choice
    /// (`agent-telemetry telemetry mode aggregate`, or `AGENT_TELEMETRY_MODE=aggregate`) turns
    /// it on over the program's; see [`effective_mode`](Self::effective_mode).
    pub mode: Mode,
    /// Counts-only mode's period: one upload a day (the default) or a week
    /// (`AGENT_TELEMETRY_COUNTS_PERIOD`).
    pub counts_period: agent_telemetry_contract::counts::Period,
    /// The time telemetry reads: the system's, or one the program gives (a simulation, a test).
    pub clock: crate::clock::Clock,
    /// Nothing leaves the machine: each request the component makes is written to
    /// `debug_log` and answered `200` by the host itself.
    pub debug: bool,
    /// Where debug mode writes; default `debug.log` in the identity directory (or, without
    /// one, in `<cache dir>/agent-telemetry`).
    pub debug_log: Option<PathBuf>,
    /// Print the first-run notice on stderr (once per notice version).
    pub show_notice: bool,
    /// The notice's words: the embedding program's name and its own ways to turn telemetry
    /// off. The default names no command (see [`NoticeWords`](crate::privacy::NoticeWords)).
    pub notice_words: crate::trust::privacy::NoticeWords,
    /// Bounds of the spool (in the identity directory): total bytes and age.
    pub spool_limits: SpoolLimits,
    /// Bound of the egress ledger file (`egress.jsonl` in the identity directory).
    pub ledger_max_bytes: u64,
    /// Words hashed wherever they appear in a name: the local user's names.
    pub redact_words: Vec<String>,
    /// Events waiting between the caller and the component; beyond this they are dropped and
    /// counted, so a stalled component can never make a caller wait.
    pub handoff_capacity: usize,
    /// The same bound in bytes (about: each event's size and its strings'), so that no caller
    /// can make the hand-off hold more than this much memory.
    pub handoff_max_bytes: usize,
    /// The wire format batches are sent in (`native` by default, or `AGENT_TELEMETRY_FORMAT`).
    pub format: Format,
    /// For the `otlp` format: protobuf (the default) or JSON.
    pub otlp_protocol: OtlpProtocol,
    /// For the `otlp` format: the GenAI semantic conventions' current attribute names (the
    /// default) or the older ones, for collectors that expect those.
    pub otlp_names: OtlpNames,
    /// Whether bodies are gzipped (not by default).
    pub compression: Compression,
    /// Static request headers (an endpoint's API key): sent with every request, never in
    /// the ledger, the debug log or `Debug` output.
    pub headers: RequestHeaders,
    /// Added to every event's properties by the `swarm` format: `true`, `false` or a name.
    pub context_properties: Vec<(String, String)>,
    /// `docker`'s `os_language` (`en-US`).
    pub os_language: Option<String>,
    /// Custom tags on every event (docker-agent's `TELEMETRY_TAGS`): keys and values are held
    /// to the name rule, and the envelope's own keys win over them.
    pub tags: Vec<(String, String)>,
    /// Environment values that were not understood, each with the side taken (a misspelt
    /// switch falls on its safe side): shown by `telemetry status` and printed by `run`.
    pub warnings: Vec<String>,
    /// Raw `wasi:config` pairs given to the component after (and so over) the ones above: for
    /// custom component builds and tests. The host's own checks (the allowed endpoint, the
    /// timeout cap) do not read these, so they cannot widen what the component may reach.
    pub component_config: Vec<(String, String)>,
}

impl TelemetrySettings {
    /// Defaults for `product` at `version`: consent and CI from the environment, no endpoint.
    pub fn new(product: impl Into<String>, version: impl Into<String>) -> TelemetrySettings {
        let mut warnings = Vec::new();
        // Each switch falls on its safe side when misspelt: debug mode (nothing sent), off in
        // CI, the notice shown.
        let mut switch = |name: &str, safe: bool| {
            let read = Switch::read(name, consent::env_text(name).as_deref(), false, safe);
            warnings.extend(read.warning);
            read.on
        };
        let off_in_ci = switch(consent::OFF_IN_CI_VAR, true);
        let debug = switch(DEBUG_VAR, true);
        let hide_notice = switch(NO_NOTICE_VAR, false);
        let format = format_from_env(&mut warnings);
        let installation_id = installation_id_from_env(&mut warnings);
        warnings.extend(crate::runtime::cache::switch(crate::environment::var).warning);
        TelemetrySettings {
            endpoint: None,
            consent: Consent::from_env(),
            identity_dir: None,
            installation_id,
            ephemeral: ephemeral_from_env(&mut warnings),
            mode: mode_from_env(&mut warnings),
            counts_period: counts_period_from_env(&mut warnings),
            clock: crate::clock::Clock::system(),
            container: detect_container(crate::environment::text, |p| {
                std::fs::symlink_metadata(p).is_ok()
            }),
            user_choice_dir: user_identity_dir(),
            product: product.into(),
            product_version: version.into(),
            source: "cli".to_string(),
            environment: "production".to_string(),
            batch_max_events: defaults::DEFAULT_BATCH_MAX_EVENTS as u32,
            batch_max_bytes: defaults::DEFAULT_BATCH_MAX_BYTES as u32,
            queue_max_events: defaults::DEFAULT_QUEUE_MAX_EVENTS as u32,
            request_timeout: defaults::DEFAULT_TIMEOUT,
            flush_interval: Duration::from_secs(10),
            agent_allowlist: Vec::new(),
            flag_allowlist: Vec::new(),
            ci: consent::detect_ci(consent::env_text),
            off_in_ci,
            debug,
            debug_log: None,
            show_notice: !hide_notice,
            notice_words: Default::default(),
            ledger_max_bytes: 4 << 20,
            spool_limits: SpoolLimits::default(),
            redact_words: local_user_names(),
            handoff_capacity: 65_536,
            handoff_max_bytes: 64 << 20,
            format,
            otlp_protocol: OtlpProtocol::default(),
            otlp_names: OtlpNames::default(),
            compression: Compression::default(),
            headers: RequestHeaders::default(),
            context_properties: Vec::new(),
            os_language: os_language(crate::environment::text),
            tags: Vec::new(),
            warnings,
            component_config: Vec::new(),
        }
    }

    /// Sends batches in `format` (see [`Format`]).
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Adds a static request header (an endpoint's API key, say).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.0.push((name.into(), value.into()));
        self
    }

    /// Checks what the component would otherwise only report in its status: the installation
    /// id handed in, the headers and the context properties, whose errors would cost every
    /// batch.
    pub fn check(&self) -> Result<(), crate::error::Error> {
        use crate::error::Error::InvalidSetting;
        if let Some(id) = &self.installation_id
            && !ids::is_installation_id(id)
        {
            return Err(InvalidSetting {
                key: keys::INSTALLATION_ID,
                why: format!("`{}` is not `install_` + 16 hex digits", id.escape_debug()),
            });
        }
        defaults::parse_headers(&Pairs::join(&self.headers.0).0).map_err(|why| InvalidSetting {
            key: keys::HEADERS,
            why,
        })?;
        defaults::parse_context_properties(&Pairs::join(&self.context_properties).0).map_err(
            |why| InvalidSetting {
                key: keys::CONTEXT_PROPERTIES,
                why,
            },
        )?;
        Ok(())
    }

    /// Sends batches to `url`: `https://`, or plain `http://` to a loopback address only.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Decides consent as `consent` says, instead of from the environment.
    pub fn consent(mut self, consent: Consent) -> Self {
        self.consent = consent;
        self
    }

    /// Speaks the first-run notice in `words`: the program's own name and ways to turn
    /// telemetry off, so that it never names a command its users do not have.
    pub fn notice_words(mut self, words: crate::trust::privacy::NoticeWords) -> Self {
        self.notice_words = words;
        self
    }

    /// Uses `id` (`install_` + 16 hex digits) as the installation id instead of a stored one,
    /// and never writes it: one id for a fleet of images or CI runners.
    pub fn installation_id(mut self, id: impl Into<String>) -> Self {
        self.installation_id = Some(id.into());
        self
    }

    /// Whether this run's home will not outlive it (a container, or CI): then nothing is
    /// written there, and without an id handed in the run is ephemeral.
    pub fn passing(&self) -> bool {
        self.ephemeral.unwrap_or(self.container || self.ci)
    }

    /// Keeps the installation id, the hash key, the spool and the ledger in `dir`.
    pub fn identity_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.identity_dir = Some(dir.into());
        self
    }

    /// The consent as given, then the persisted choice and the CI rule (see `consent`).
    pub fn effective_consent(&self) -> Consent {
        let mut consent = self.consent.clone();
        consent.warnings.extend(self.warnings.iter().cloned());
        // The identity directory must be this user's alone before anything is read from it.
        if let Some(dir) = &self.identity_dir {
            consent = consent.with_private_dir(check_private_dir(dir));
        }
        for dir in self.choice_dirs() {
            let file = dir.join(consent::CHOICE_FILE);
            consent = consent.with_choice(consent::read_choice(dir), &file);
        }
        consent.with_ci(self.ci, self.off_in_ci)
    }

    /// The mode runs use: counts-only when the program, the environment or the user (in
    /// either place the choice is kept) says so; the more private choice wins.
    pub fn effective_mode(&self) -> Mode {
        let chosen = self
            .choice_dirs()
            .into_iter()
            .any(|dir| read_mode(dir) == Some(Mode::Aggregate));
        if chosen { Mode::Aggregate } else { self.mode }
    }

    /// Whether the user said `telemetry off` (in either place the choice is kept).
    pub fn chose_off(&self) -> bool {
        self.choice_dirs()
            .into_iter()
            .any(|dir| consent::read_choice(dir) == Ok(Some(false)))
    }

    /// Where the user's choice is read: the identity directory, then the user's own (the
    /// `agent-telemetry` command's), so `telemetry off` is honoured by every program that
    /// uses this library.
    fn choice_dirs(&self) -> Vec<&PathBuf> {
        let mut dirs: Vec<&PathBuf> = self.identity_dir.iter().collect();
        if let Some(user) = self.user_choice_dir.as_ref().filter(|d| !dirs.contains(d)) {
            dirs.push(user);
        }
        dirs
    }

    /// Whether telemetry runs with these settings: the consent, then an endpoint to send to.
    pub fn decision(&self) -> Consent {
        self.effective_consent()
            .with_endpoint(self.endpoint.is_some())
    }

    /// Every place these settings keep state: the identity directory, the user's choice, and
    /// the debug log (the file itself: its directory may be one an agent is meant to have).
    /// Agents are refused them (see `agent::state_dirs`).
    pub fn state_dirs(&self) -> Vec<PathBuf> {
        self.identity_dir
            .iter()
            .chain(&self.user_choice_dir)
            .cloned()
            .chain(self.debug_log_path())
            .collect()
    }

    /// Where debug mode writes the requests it captures.
    /// Without an identity directory: a private directory of this user's
    /// (`<cache dir>/agent-telemetry`), never a shared temporary one.
    pub fn debug_log_path(&self) -> Option<PathBuf> {
        self.debug_log.clone().or_else(|| {
            self.identity_dir
                .clone()
                .or_else(|| dirs::cache_dir().map(|d| d.join("agent-telemetry")))
                .map(|dir| dir.join(DEBUG_LOG_FILE))
        })
    }

    /// The `wasi:config` variables the component reads: this configuration as the one type
    /// the component reads back ([`ComponentConfig`]), then the extra pairs given.
    /// `mode` is [`effective_mode`](Self::effective_mode)'s answer, read once by the caller.
    pub(crate) fn config_vars(&self, identity: &Identity, mode: Mode) -> Vec<(String, String)> {
        // Counts-only mode folds the component's batches on this machine: native, plain.
        let folded = mode == Mode::Aggregate;
        let config = ComponentConfig {
            enabled: self.consent.enabled,
            consent_reason: self.consent.reason.clone(),
            endpoint: self.endpoint.clone(),
            installation_id: identity.installation_id.clone(),
            hash_key: Some(identity.hash_key.clone()),
            source: self.source.clone(),
            environment: self.environment.clone(),
            product: self.product.clone(),
            product_version: self.product_version.clone(),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
            ci: self.ci,
            batch_max_events: self.batch_max_events as usize,
            batch_max_bytes: self.batch_max_bytes as usize,
            queue_max_events: self.queue_max_events as usize,
            timeout_ms: usize::try_from(self.request_timeout.as_millis()).unwrap_or(usize::MAX),
            agent_allowlist: self.agent_allowlist.clone(),
            flag_allowlist: self.flag_allowlist.clone(),
            redact_words: self.redact_words.clone(),
            format: if folded { Format::Native } else { self.format },
            otlp_protocol: self.otlp_protocol,
            otlp_names: self.otlp_names,
            compression: if folded {
                Compression::None
            } else {
                self.compression
            },
            headers: Pairs::join(&self.headers.0),
            context_properties: Pairs::join(&self.context_properties),
            os_language: self.os_language.clone(),
            tags: Pairs::join(&self.tags),
        };
        config
            .to_pairs()
            .into_iter()
            .chain(self.component_config.iter().cloned())
            .collect()
    }
}

/// The identity directory the `agent-telemetry` command uses, where the user's
/// `telemetry on|off` is kept: `AGENT_TELEMETRY_HOME`, else `<config dir>/agent-telemetry`
/// (`~/.config/agent-telemetry` on Linux). An empty or relative `AGENT_TELEMETRY_HOME` counts
/// as unset.
pub fn user_identity_dir() -> Option<PathBuf> {
    crate::environment::var(HOME_VAR)
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
        .or_else(|| dirs::config_dir().map(|d| d.join("agent-telemetry")))
}

/// Names the identity directory of the `agent-telemetry` command.
pub const HOME_VAR: &str = crate::environment::HOME;

/// Debug mode: capture requests instead of sending them.
pub const DEBUG_VAR: &str = crate::environment::DEBUG;
/// Hides the first-run notice.
pub const NO_NOTICE_VAR: &str = crate::environment::NO_NOTICE;
/// The debug log's name in the identity directory.
pub const DEBUG_LOG_FILE: &str = "debug.log";
/// The wire format, when the program sets none (`native`, `docker`, `swarm`, `otlp`).
pub const FORMAT_VAR: &str = crate::environment::FORMAT;

/// `AGENT_TELEMETRY_FORMAT`, or the default; a value that is not a format is a warning, and
/// ignored.
fn format_from_env(warnings: &mut Vec<String>) -> Format {
    let Some(value) = crate::environment::var(FORMAT_VAR) else {
        return Format::default();
    };
    let value = value.to_string_lossy();
    Format::parse(value.trim()).unwrap_or_else(|| {
        warnings.push(format!(
            "{FORMAT_VAR}=`{}` is not native, docker, swarm or otlp, so it is ignored",
            value.escape_debug()
        ));
        Format::default()
    })
}

/// `AGENT_TELEMETRY_INSTALLATION_ID`, if it is an installation id; anything else is a warning,
/// and ignored (the run then goes on as if none were handed in).
fn installation_id_from_env(warnings: &mut Vec<String>) -> Option<String> {
    env_choice(
        crate::environment::INSTALLATION_ID,
        |id| ids::is_installation_id(id).then(|| id.to_string()),
        "`install_` + 16 hex digits, so it is ignored",
        warnings,
    )
}

/// The variable `name` as `parse` reads it (trimmed): `None` when it is unset or blank, and
/// when `parse` refuses it, which is then a warning that it `is not` what it should be.
fn env_choice<T>(
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
    is_not: &str,
    warnings: &mut Vec<String>,
) -> Option<T> {
    let value = crate::environment::text(name)?;
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let parsed = parse(value);
    if parsed.is_none() {
        warnings.push(format!("{name}=`{}` is not {is_not}", value.escape_debug()));
    }
    parsed
}

/// What leaves the machine: events, or counts only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Events, in batches (the default).
    #[default]
    Events,
    /// Counts only: events are folded into counters on this machine (per kind, subject and
    /// outcome; duration and token buckets; token and cost sums) and one upload a day is sent,
    /// with no event id, no time finer than the day and no session id.
    Aggregate,
}

impl Mode {
    /// `events` or `aggregate`, as `AGENT_TELEMETRY_MODE` and the `mode` file spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Events => "events",
            Mode::Aggregate => "aggregate",
        }
    }

    /// The mode named `value` (as [`as_str`](Self::as_str) spells it, any case, spaces
    /// around ignored).
    pub fn parse(value: &str) -> Option<Mode> {
        [Mode::Events, Mode::Aggregate]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(value.trim()))
    }
}

/// The file in an identity directory where `telemetry mode` keeps the user's choice.
pub const MODE_FILE: &str = "mode";

/// The mode the user chose in `dir`, if the file there names one (untrusted: at most a line,
/// no link followed).
pub fn read_mode(dir: &std::path::Path) -> Option<Mode> {
    let bytes = crate::trust::private_files::read_private(&dir.join(MODE_FILE), 64)
        .ok()
        .flatten()?;
    Mode::parse(std::str::from_utf8(&bytes).ok()?)
}

/// Keeps `mode` as the user's choice in `dir` (created private if missing).
pub fn write_mode(dir: &std::path::Path, mode: Mode) -> std::io::Result<()> {
    crate::trust::private_files::create_private_dir(dir)?;
    crate::trust::private_files::replace_private(
        &dir.join(MODE_FILE),
        format!("{}\n", mode.as_str()).as_bytes(),
    )
}

/// `AGENT_TELEMETRY_COUNTS_PERIOD` (`day` or `week`), or a day; another value is a warning.
fn counts_period_from_env(warnings: &mut Vec<String>) -> agent_telemetry_contract::counts::Period {
    use agent_telemetry_contract::counts::Period;
    env_choice(
        crate::environment::COUNTS_PERIOD,
        Period::parse,
        "day or week, so counts are kept by the day",
        warnings,
    )
    .unwrap_or_default()
}

/// `AGENT_TELEMETRY_MODE`, or events; another value is a warning, and events are sent as
/// the program says.
fn mode_from_env(warnings: &mut Vec<String>) -> Mode {
    env_choice(
        crate::environment::MODE,
        Mode::parse,
        "events or aggregate, so it is ignored",
        warnings,
    )
    .unwrap_or_default()
}

/// `AGENT_TELEMETRY_EPHEMERAL`: `Some` when it says on or off, `None` when unset or empty;
/// anything else is a warning, and detection decides.
fn ephemeral_from_env(warnings: &mut Vec<String>) -> Option<bool> {
    env_choice(
        crate::environment::EPHEMERAL,
        consent::parse_bool,
        "1 or 0, so containers and CI are detected",
        warnings,
    )
}

/// The files container runtimes leave at the root: docker's, and podman's (and buildah's).
pub const CONTAINER_MARKERS: &[&str] = &["/.dockerenv", "/run/.containerenv"];

/// Whether this process runs in a container: one of [`CONTAINER_MARKERS`] exists, or the
/// `container` variable (systemd's and podman's convention) is set to anything.
pub(crate) fn detect_container(
    var: impl Fn(&str) -> Option<String>,
    exists: impl Fn(&std::path::Path) -> bool,
) -> bool {
    var(crate::environment::CONTAINER).is_some_and(|v| !v.trim().is_empty())
        || CONTAINER_MARKERS
            .iter()
            .any(|m| exists(std::path::Path::new(m)))
}

/// Static request headers. `Debug` shows their names only: a value may be an API key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RequestHeaders(pub Vec<(String, String)>);

impl RequestHeaders {
    /// Parses `name=value,name=value` (as `OTEL_EXPORTER_OTLP_HEADERS` is written).
    pub fn parse(value: &str) -> Result<RequestHeaders, crate::error::Error> {
        defaults::parse_headers(value)
            .map(RequestHeaders)
            .map_err(|why| crate::error::Error::InvalidSetting {
                key: keys::HEADERS,
                why,
            })
    }
}

impl std::fmt::Debug for RequestHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| format!("{name}=<redacted>")))
            .finish()
    }
}

/// The user's language as docker-agent reports it (`en-US`), from `LC_ALL` or `LANG`
/// (`en_US.UTF-8`); `None` for `C`, `POSIX`, or anything that is not a language tag.
pub(crate) fn os_language(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let value = crate::environment::LANGUAGE
        .iter()
        .filter_map(|name| var(name))
        .find(|v| !v.trim().is_empty())?;
    let tag = value.split(['.', '@']).next()?.replace('_', "-");
    let mut parts = tag.split('-');
    let language = parts.next()?;
    let region = parts.next();
    let ok = (2..=3).contains(&language.len())
        && language.chars().all(|c| c.is_ascii_lowercase())
        && region.is_none_or(|r| r.len() == 2 && r.chars().all(|c| c.is_ascii_uppercase()))
        && parts.next().is_none();
    ok.then_some(tag)
}

/// Account names shared by every machine of a kind: not a person.
const GENERIC_ACCOUNTS: &[&str] = &[
    "root",
    "runner",
    "ubuntu",
    "admin",
    "administrator",
    "user",
    "debian",
    "ec2-user",
    "vagrant",
    "docker",
    "jenkins",
    "circleci",
    "builder",
    "build",
    "gitlab-runner",
    "buildkite-agent",
    "nobody",
    "app",
    "node",
    "codespace",
    "vscode",
];

/// The names the local user goes by, so they are hashed if an agent puts them in a name.
fn local_user_names() -> Vec<String> {
    let mut names: Vec<String> = crate::environment::USER_NAMES
        .iter()
        .filter_map(|v| crate::environment::text(v))
        .chain(
            dirs::home_dir().and_then(|h| h.file_name().map(|n| n.to_string_lossy().into_owned())),
        )
        .map(|n| n.trim().to_string())
        // Very short names would hash ordinary words, and service accounts are no one in
        // particular (hashing every name with `runner` in it would help nobody).
        .filter(|n| {
            n.len() >= 3
                && !n.contains(defaults::LIST_SEPARATOR)
                && !GENERIC_ACCOUNTS.contains(&n.to_ascii_lowercase().as_str())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_is_told_by_its_marker_files_or_the_container_variable() {
        let none = |_: &str| None;
        let no_file = |_: &std::path::Path| false;
        assert!(!detect_container(none, no_file));
        assert!(detect_container(
            |name: &str| (name == "container").then(|| "podman".to_string()),
            no_file
        ));
        assert!(!detect_container(|_: &str| Some(" ".to_string()), no_file));
        for marker in CONTAINER_MARKERS {
            assert!(detect_container(none, |p: &std::path::Path| p
                == std::path::Path::new(marker)));
        }
    }

    #[test]
    fn an_installation_id_handed_in_is_held_to_the_id_format() {
        let settings = TelemetrySettings::new("p", "1");
        assert!(
            settings
                .clone()
                .installation_id("install_0123456789abcdef")
                .check()
                .is_ok()
        );
        for bad in [
            "install_0123",
            "ephemeral_0123456789abcdef",
            "INSTALL_0123456789ABCDEF",
            "",
        ] {
            assert!(
                settings.clone().installation_id(bad).check().is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn os_language_is_a_language_tag_or_nothing() {
        let from = |lc_all: Option<&str>, lang: Option<&str>| {
            os_language(|name| match name {
                "LC_ALL" => lc_all.map(str::to_string),
                "LANG" => lang.map(str::to_string),
                _ => None,
            })
        };
        assert_eq!(from(None, Some("en_US.UTF-8")), Some("en-US".to_string()));
        assert_eq!(
            from(Some("de_DE@euro"), Some("en_US.UTF-8")),
            Some("de-DE".to_string())
        );
        assert_eq!(from(Some(""), Some("fr")), Some("fr".to_string()));
        for bad in [
            "C",
            "POSIX",
            "C.UTF-8",
            "en_US_POSIX",
            "/etc/passwd",
            "english",
        ] {
            assert_eq!(from(None, Some(bad)), None, "{bad}");
        }
        assert_eq!(from(None, None), None);
    }

    #[test]
    fn header_values_never_show_in_debug_output() {
        let settings = TelemetrySettings::new("p", "1").header("x-api-key", "s3cr3t-value");
        let shown = format!("{settings:?}");
        assert!(
            shown.contains("x-api-key") && !shown.contains("s3cr3t-value"),
            "{shown}"
        );
        assert!(settings.check().is_ok());
        let bad = TelemetrySettings::new("p", "1").header("content-type", "text/plain");
        assert!(bad.check().is_err());
    }
}
