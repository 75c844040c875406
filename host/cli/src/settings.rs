//! What the commands share: where the identity directory is, and the settings `run` builds.

use std::path::PathBuf;

use agent_telemetry::contract::config::parse_context_properties;
use agent_telemetry::settings::RequestHeaders;
use agent_telemetry::{Compression, Format, OtlpNames, OtlpProtocol};
use agent_telemetry::{Consent, Telemetry, TelemetrySettings};

/// Where the installation id and key live: AGENT_TELEMETRY_HOME (unless empty or relative),
/// else the user's config dir.
pub fn identity_dir() -> Option<PathBuf> {
    agent_telemetry::settings::user_identity_dir()
}

/// Where telemetry goes, when `--endpoint` does not say.
pub const ENDPOINT_VAR: &str = agent_telemetry::environment::ENDPOINT;

/// Settings as `run` would build them, for `telemetry status` and `flush`.
pub fn cli_settings() -> TelemetrySettings {
    let mut settings = base_settings("agent", "0.0.0");
    settings.endpoint = agent_telemetry::environment::text(ENDPOINT_VAR);
    settings
}

/// What every command sends with: `product` and `version` in the envelope, this user's
/// identity directory, and the command's own words in the notice (its users have
/// `agent-telemetry`).
fn base_settings(product: &str, version: &str) -> TelemetrySettings {
    let mut settings = TelemetrySettings::new(product, version);
    settings.notice_words = agent_telemetry::privacy::NoticeWords::agent_telemetry_cli();
    settings.identity_dir = identity_dir();
    settings
}

/// What `run` and `relay` send with: [`base_settings`], `endpoint`, debug mode when asked
/// (`AGENT_TELEMETRY_DEBUG` may ask too), and the wire options.
pub fn command_settings(
    product: &str,
    version: &str,
    endpoint: Option<String>,
    debug: bool,
    wire: &WireArgs,
) -> anyhow::Result<TelemetrySettings> {
    let mut settings = base_settings(product, version);
    settings.endpoint = endpoint;
    settings.debug |= debug;
    wire.apply(&mut settings)?;
    Ok(settings)
}

/// Starts telemetry for the command `what` (`run`, `relay`). Opt-out inputs that could not be
/// read turn it off, and are said where it happens; telemetry that cannot start (a bad
/// endpoint, say) is off for this command and said so, never an error: the command goes on.
pub async fn start_or_off(settings: TelemetrySettings, what: &str) -> Telemetry {
    for warning in settings.decision().warnings {
        eprintln!("agent-telemetry: {warning}");
    }
    match Telemetry::start(settings).await {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("agent-telemetry: telemetry is off for this {what}: {e:#}");
            Telemetry::disabled(Consent::explicit(
                false,
                format!("telemetry could not start: {e:#}"),
            ))
        }
    }
}

/// How `run` and `flush` send: the wire format and its options (the spool keeps batches in the
/// native form, so `flush` can send what `run` left in any format).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct WireArgs {
    /// The wire format: native, docker, swarm or otlp (also AGENT_TELEMETRY_FORMAT).
    #[arg(long, env = agent_telemetry::settings::FORMAT_VAR, value_parser = parse_format)]
    pub format: Option<Format>,
    /// For otlp: http/protobuf (the default) or http/json.
    #[arg(long, value_parser = parse_otlp_protocol)]
    pub otlp_protocol: Option<OtlpProtocol>,
    /// For otlp: the GenAI attribute names, `current` (the default) or `older` (the names
    /// before the current semantic conventions, for collectors that expect those).
    #[arg(long, value_parser = parse_otlp_names)]
    pub otlp_names: Option<OtlpNames>,
    /// Gzip request bodies (Content-Encoding: gzip).
    #[arg(long)]
    pub gzip: bool,
    /// Static request headers, `name=value,name=value` (also AGENT_TELEMETRY_HEADERS): an
    /// endpoint's API key, say. Never written to the ledger or the debug log.
    #[arg(long, env = HEADERS_VAR, hide_env_values = true)]
    pub headers: Option<String>,
    /// For swarm: properties added to every event, `key=value,...` (`true`, `false` or a name).
    #[arg(long = "context")]
    pub context: Option<String>,
    /// Custom tags on every event, `key=value,...` (also TELEMETRY_TAGS, as docker-agent reads it).
    #[arg(long, env = agent_telemetry::environment::TAGS)]
    pub tags: Option<String>,
    /// Agent names to send as written instead of hashed (comma-separated). `flush` needs the
    /// same list as the run that spooled: a spooled batch is checked against what this
    /// component would send, and a name sent as written is refused unless it is allowed.
    #[arg(long, value_delimiter = ',')]
    pub allow_agent: Vec<String>,
}

/// Static request headers for `run` and `flush`.
pub const HEADERS_VAR: &str = agent_telemetry::environment::HEADERS;

impl WireArgs {
    pub fn apply(&self, settings: &mut TelemetrySettings) -> anyhow::Result<()> {
        if let Some(format) = self.format {
            settings.format = format;
        }
        if let Some(protocol) = self.otlp_protocol {
            settings.otlp_protocol = protocol;
        }
        if let Some(names) = self.otlp_names {
            settings.otlp_names = names;
        }
        if self.gzip {
            settings.compression = Compression::Gzip;
        }
        if let Some(headers) = &self.headers {
            settings.headers = RequestHeaders::parse(headers)?;
        }
        if let Some(tags) = &self.tags {
            settings.tags = agent_telemetry::contract::config::parse_tags(tags);
        }
        if !self.allow_agent.is_empty() {
            settings.agent_allowlist = self.allow_agent.clone();
        }
        if let Some(context) = &self.context {
            settings.context_properties = parse_context_properties(context)
                .map_err(|why| anyhow::anyhow!("--context cannot be used: {why}"))?;
        }
        Ok(())
    }

    /// The same options as arguments for another `agent-telemetry` process; the headers go
    /// through its environment instead, so that no API key shows in a process list.
    pub fn to_args(&self, command: &mut std::process::Command) {
        if let Some(format) = self.format {
            command.args(["--format", format.as_str()]);
        }
        if let Some(protocol) = self.otlp_protocol {
            command.args(["--otlp-protocol", protocol.as_str()]);
        }
        if let Some(names) = self.otlp_names {
            command.args(["--otlp-names", names.as_str()]);
        }
        if self.gzip {
            command.arg("--gzip");
        }
        if let Some(context) = &self.context {
            command.args(["--context", context]);
        }
        if let Some(tags) = &self.tags {
            command.args(["--tags", tags]);
        }
        if !self.allow_agent.is_empty() {
            command.args(["--allow-agent", &self.allow_agent.join(",")]);
        }
        if let Some(headers) = &self.headers {
            command.env(HEADERS_VAR, headers);
        }
    }
}

fn parse_format(value: &str) -> Result<Format, String> {
    Format::parse(value).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
        format!("`{value}` is not one of {}", names.join(", "))
    })
}

fn parse_otlp_names(value: &str) -> Result<OtlpNames, String> {
    OtlpNames::parse(value).ok_or_else(|| format!("`{value}` is not current or older"))
}

fn parse_otlp_protocol(value: &str) -> Result<OtlpProtocol, String> {
    OtlpProtocol::parse(value).ok_or_else(|| format!("`{value}` is not http/protobuf or http/json"))
}
