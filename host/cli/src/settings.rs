//! What the commands share: where the identity directory is, and the settings `run` builds.

use std::path::PathBuf;

use agent_telemetry::TelemetrySettings;

/// Where the installation id and key live: AGENT_TELEMETRY_HOME (unless empty or relative),
/// else the user's config dir.
pub fn identity_dir() -> Option<PathBuf> {
    agent_telemetry::settings::user_identity_dir()
}

/// Settings as `run` would build them, for `telemetry status`.
pub fn cli_settings() -> TelemetrySettings {
    let mut settings = TelemetrySettings::new("agent", "0.0.0");
    settings.endpoint = std::env::var("AGENT_TELEMETRY_ENDPOINT").ok();
    settings.identity_dir = identity_dir();
    settings
}
