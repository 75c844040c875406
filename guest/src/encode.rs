//! Wire formats, one submodule each: `native` (this project's batch), `docker`
//! (docker-agent's records), `swarm` (Agent Swarm's envelopes) and `otlp` (OTLP/HTTP logs).
//!
//! The queue and the host's spool keep every batch in the native form; it is written in the
//! configured format when it is sent. So a batch spooled by one run can be sent by a run
//! configured for another format, and every format is made from events that went through the
//! privacy rules already: no format can carry what the rules removed.

pub mod docker;
pub mod native;
pub mod otlp;
pub mod swarm;

use std::io::Write;

use crate::anonymize::Anonymizer;
use crate::config::{Compression, Endpoint, Format, OtlpNames, OtlpProtocol, Settings};
use crate::contract::batch::{self, BatchError};
use crate::wire::Batch;

/// A batch written in a wire format: the requests to make, in order.
pub struct Encoded {
    pub content_type: &'static str,
    pub requests: Vec<Request>,
    /// Events the format has no type for: not sent, and counted (`status-report.left-out`).
    pub left_out: usize,
}

pub struct Request {
    pub body: Vec<u8>,
    /// Events in it.
    pub events: usize,
    /// How many of the batch's events come up to and including this request's last one:
    /// once it is delivered, those are done (sent, or left out).
    pub through: usize,
    /// Events of the batch left out since the request before (after the last request, they
    /// count with it): told to the host's ledger.
    pub left_out: usize,
}

/// Why a batch could not be written in the configured format.
#[derive(Debug)]
pub enum EncodeError {
    /// The native bytes did not read back (cannot happen for the component's own batches).
    Batch(BatchError),
    Json(serde_json::Error),
}

/// How batches go out: the format and what it needs, with every value from the host that a
/// format sends already held to the privacy rules.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub format: Format,
    pub otlp_protocol: OtlpProtocol,
    pub otlp_names: OtlpNames,
    pub compression: Compression,
    pub headers: Vec<(String, String)>,
    /// `swarm`'s context properties: booleans, and names through the identifier rule.
    pub context: Vec<(String, serde_json::Value)>,
    /// `docker`'s `os_language`, through the identifier rule.
    pub os_language: Option<String>,
}

impl Options {
    pub fn new(settings: &Settings, rules: &Anonymizer) -> Options {
        let context = settings
            .context_properties
            .iter()
            .map(|(key, value)| {
                let value = match value.as_str() {
                    "true" => serde_json::Value::Bool(true),
                    "false" => serde_json::Value::Bool(false),
                    name => serde_json::Value::String(rules.identifier(name)),
                };
                (key.clone(), value)
            })
            .collect();
        Options {
            format: settings.format,
            otlp_protocol: settings.otlp_protocol,
            otlp_names: settings.otlp_names,
            compression: settings.compression,
            headers: settings.headers.clone(),
            context,
            os_language: settings.os_language.as_deref().map(|l| rules.identifier(l)),
        }
    }
}

/// Writes the batch whose native bytes are `body` (`events` events) as `options` say. A
/// caller that has read the batch already gives it as `parsed`, so it is not read twice.
pub fn encode(
    options: &Options,
    endpoint: &Endpoint,
    body: &[u8],
    events: usize,
    parsed: Option<&Batch>,
) -> Result<Encoded, EncodeError> {
    let mut read = None;
    let encoded = match options.format {
        Format::Native => {
            return Ok(Encoded {
                content_type: crate::wire::CONTENT_TYPE,
                requests: vec![Request {
                    body: body.to_vec(),
                    events,
                    through: events,
                    left_out: 0,
                }],
                left_out: 0,
            });
        }
        Format::Docker => docker::encode(
            read_once(parsed, body, &mut read)?,
            options.os_language.as_deref(),
        ),
        Format::Swarm => swarm::encode(
            read_once(parsed, body, &mut read)?,
            &swarm::Context {
                properties: &options.context,
                transport: if endpoint.https { "https" } else { "http" },
            },
        ),
        Format::Otlp => otlp::encode(
            read_once(parsed, body, &mut read)?,
            options.otlp_protocol,
            options.otlp_names,
        ),
    };
    encoded.map_err(EncodeError::Json)
}

/// `parsed`, or else `body` read into `slot`.
fn read_once<'a>(
    parsed: Option<&'a Batch>,
    body: &[u8],
    slot: &'a mut Option<Batch>,
) -> Result<&'a Batch, EncodeError> {
    match parsed {
        Some(batch) => Ok(batch),
        None => Ok(slot.insert(batch::parse(body).map_err(EncodeError::Batch)?)),
    }
}

/// One request carrying all of a batch's events that the format has a type for.
fn one_request(batch: &Batch, body: Vec<u8>, events: usize) -> Vec<Request> {
    if events == 0 {
        return Vec::new();
    }
    vec![Request {
        body,
        events,
        through: batch.events.len(),
        left_out: batch.events.len() - events,
    }]
}

/// `body` gzipped (`Content-Encoding: gzip`).
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// Rust's `std::env::consts::OS` as Go's `GOOS` and OpenTelemetry's `os.type` name it: the
/// same but for macOS (`darwin`).
pub fn darwin_os(os: &str) -> &str {
    match os {
        "macos" => "darwin",
        other => other,
    }
}

/// An `occurred_at` (RFC 3339, as the component writes it) in milliseconds since the epoch;
/// 0 for a time that does not read (it was checked when the batch was read).
pub fn unix_millis(rfc3339: &str) -> u64 {
    humantime::parse_rfc3339(rfc3339)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
