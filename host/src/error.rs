//! The one error type of this library's public calls.
//!
//! Inside, wasmtime and I/O errors travel as `anyhow`; at the public boundary they become a
//! variant of [`Error`] that says which step failed, with the underlying error as its
//! [`source`](std::error::Error::source). A variant's message is the step alone: print the
//! chain (`{:#}` through `anyhow`, or by walking `source`) to see the cause.

use std::path::PathBuf;

/// An underlying error (from wasmtime, the file system, ...), kept as the source of a variant.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a call of this library failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint is not a URL telemetry may send to (see
    /// [`TelemetrySettings::endpoint`](crate::TelemetrySettings::endpoint)).
    #[error("the endpoint `{url}` cannot be used: {why}")]
    InvalidEndpoint {
        /// The endpoint as it was given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// A setting the component could not use; the message names it, never a header's value.
    #[error("the setting `{key}` cannot be used: {why}")]
    InvalidSetting {
        /// The `wasi:config` key of the setting.
        key: &'static str,
        /// What is wrong with its value.
        why: String,
    },
    /// The wasmtime engine could not be created.
    #[error("the wasmtime engine cannot be created")]
    Engine(#[source] BoxError),
    /// The telemetry component could not be loaded: it does not compile for this engine, or
    /// it imports something this host does not provide.
    #[error("the telemetry component cannot be loaded")]
    Component(#[source] BoxError),
    /// The agent is not a wasm component.
    #[error("the agent is not a valid wasm component")]
    InvalidAgent(#[source] BoxError),
    /// The agent imports `wasi:http`: agents run without network access.
    #[error(
        "the agent imports {}: agents run without network access. Report usage through \
         `{}` instead; only the telemetry component may send, and only to its configured \
         endpoint",
        imports.join(", "),
        crate::agent::RECORDER_INTERFACE
    )]
    NetworkImport {
        /// The network imports found.
        imports: Vec<String>,
    },
    /// The agent imports something this host does not provide.
    #[error(
        "the agent imports something this host does not provide (agents get WASI without \
         network, and agent:telemetry/recorder)"
    )]
    UnsupportedImport(#[source] BoxError),
    /// The agent does not export `wasi:cli/run`, so there is nothing to run.
    #[error("the agent does not export wasi:cli/run")]
    NotACommand(#[source] BoxError),
    /// A directory asked for the agent is, holds or lies in one where telemetry keeps its
    /// state (see [`agent::state_dirs`](crate::agent::state_dirs)).
    #[error(
        "{} cannot be given to the agent: it is, holds or lies in {}, which agents may not \
         reach (telemetry keeps its identity, key, spool and compiled code there)",
        dir.display(),
        protected.display()
    )]
    ProtectedDir {
        /// The directory asked for, links resolved.
        dir: PathBuf,
        /// The protected directory it meets.
        protected: PathBuf,
    },
    /// A directory asked for the agent could not be opened.
    #[error("cannot give the agent {}", dir.display())]
    AgentDir {
        /// The directory asked for.
        dir: PathBuf,
        /// Why it could not be opened.
        #[source]
        source: BoxError,
    },
    /// The agent could not be instantiated (its start-up ran into one of its limits, say).
    #[error("the agent could not be instantiated")]
    AgentInstantiation(#[source] BoxError),
    /// The agent trapped while it ran.
    #[error("{why}")]
    AgentTrap {
        /// What limit it most likely hit, said plainly (or only that it trapped).
        why: String,
        /// The trap, with its wasm backtrace.
        #[source]
        source: BoxError,
    },
    /// Something went wrong in this host rather than in what it was given (the agent's linker
    /// could not be set up, say).
    #[error("internal error of the telemetry host")]
    Internal(#[source] BoxError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Consent, Telemetry, TelemetrySettings};

    fn settings(endpoint: &str) -> TelemetrySettings {
        let mut settings = TelemetrySettings::new("tool", "1.0")
            .endpoint(endpoint)
            .consent(Consent::explicit(true, "test"));
        // Neither the user's own `telemetry off` nor the machine's CI switch decides this test.
        settings.user_choice_dir = None;
        settings.off_in_ci = false;
        settings
    }

    /// A caller can tell a bad endpoint from a bad setting without reading the message.
    #[tokio::test]
    async fn start_says_which_input_it_refused() {
        let refused = Telemetry::start(settings("http://example.com/v1/batch")).await;
        assert!(
            matches!(&refused, Err(Error::InvalidEndpoint { url, .. }) if url == "http://example.com/v1/batch"),
            "{:?}",
            refused.err()
        );
        let bad_header = settings("http://127.0.0.1:9/v1/batch").header("content-type", "x");
        let refused = Telemetry::start(bad_header).await;
        assert!(
            matches!(&refused, Err(Error::InvalidSetting { key: "headers", .. })),
            "{:?}",
            refused.err()
        );
    }

    /// The cause stays reachable as the source, for `{:#}` through anyhow and for callers
    /// that walk the chain.
    #[test]
    fn the_cause_is_the_source() {
        let error = Error::Component(anyhow::anyhow!("bad magic number").into());
        assert_eq!(
            error.to_string(),
            "the telemetry component cannot be loaded"
        );
        let chained = format!("{:#}", anyhow::Error::from(error));
        assert_eq!(
            chained,
            "the telemetry component cannot be loaded: bad magic number"
        );
    }
}
