//! Sending one native batch in the configured wire format: written by `encode`, gzipped if
//! configured, and POSTed request by request by `transport`, all within one timeout.
//!
//! Most formats make one request per batch. Agent Swarm's makes one per event; an attempt
//! then starts after the requests an earlier one delivered ([`Progress`]), so a retry never
//! sends an event twice, and a batch handed to the host's spool half sent is cut to the
//! events still to go.

use std::time::{Duration, Instant};

use crate::config::{Compression, Endpoint};
use crate::encode::{self, Encoded, Options};
use crate::pipeline::Progress;
use crate::transport::{self, Headers, Verdict};
use crate::wire::Batch;

/// What came of one attempt.
pub struct Sent {
    /// `Delivered` once every request of the batch has been.
    pub verdict: Verdict,
    /// Events delivered by this attempt.
    pub delivered: usize,
    /// Events the format has no type for, in the whole batch.
    pub left_out: usize,
}

/// Sends the batch whose native bytes are `body` (`events` events; `parsed`, if the caller
/// has read them), from where `progress` says the attempts before got to, and moves it on.
pub fn send(
    options: &Options,
    endpoint: &Endpoint,
    body: &[u8],
    events: usize,
    parsed: Option<&Batch>,
    progress: &mut Progress,
    timeout: Duration,
) -> Sent {
    let Encoded {
        content_type,
        requests,
        left_out,
    } = match encode::encode(options, endpoint, body, events, parsed) {
        Ok(encoded) => encoded,
        // Not writable in this format (it cannot happen to the component's own batches):
        // sending it again would not help.
        Err(_) => {
            return Sent {
                verdict: Verdict::Rejected,
                delivered: 0,
                left_out: 0,
            };
        }
    };
    let gzip = options.compression == Compression::Gzip;
    let deadline = Instant::now() + timeout;
    let mut delivered = 0;
    for request in requests.iter().skip(progress.requests) {
        let gzipped;
        let body: &[u8] = if gzip {
            gzipped = encode::gzip(&request.body);
            &gzipped
        } else {
            &request.body
        };
        let headers = Headers {
            content_type,
            gzip,
            extra: &options.headers,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let verdict = transport::post(endpoint, &headers, body, left);
        if !matches!(verdict, Verdict::Delivered) {
            return Sent {
                verdict,
                delivered,
                left_out,
            };
        }
        progress.requests += 1;
        progress.events += request.events;
        progress.through = request.through;
        delivered += request.events;
    }
    progress.through = events;
    Sent {
        verdict: Verdict::Delivered,
        delivered,
        left_out,
    }
}
