//! Sending one batch with `wasi:http`, bounded by a deadline, and never trapping.
//!
//! Pitfalls of wasmtime's `wasi:http` this follows: `handle` is called before the body is
//! written (writing first deadlocks on large bodies); the body is written in chunks of at most
//! 4096 bytes as `check-write` allows (a larger blocking write traps); the output stream is
//! dropped before `finish`; every wait is on a pollable raced against a monotonic-clock
//! deadline, never a spin.

use std::time::{Duration, Instant};

use crate::bindings::clocks::monotonic_clock;
use crate::bindings::io::poll::{self, Pollable};
use crate::bindings::io::streams::OutputStream;
use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    Fields, FutureIncomingResponse, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use crate::config::Endpoint;
use crate::retry;

/// The headers of one request. Nothing in them is the component's own bookkeeping: counts go
/// back to the host in the flush and delivery reports, so no header of ours can reach a
/// collector under any host.
pub struct Headers<'a> {
    pub content_type: &'static str,
    /// The body is gzipped.
    pub gzip: bool,
    /// Static headers from the configuration (checked when it was read).
    pub extra: &'a [(String, String)],
}

/// What the collector (or the network) made of a batch.
pub enum Verdict {
    /// A 2xx answer.
    Delivered,
    /// A 3xx, or a 4xx other than 408 and 429: sending it again would not help.
    Rejected,
    /// Worth another try later: network error, timeout, denial, 408, 429, 5xx; with the
    /// collector's `Retry-After`, if it gave one.
    Failed { retry_after: Option<Duration> },
}

const CHUNK: u64 = 4096;

/// POSTs a body and says what came of it, within `timeout`.
pub fn post(endpoint: &Endpoint, headers: &Headers, body: &[u8], timeout: Duration) -> Verdict {
    let deadline = Instant::now() + timeout;
    match send(endpoint, headers, body, timeout, deadline) {
        Some((status, _)) if (200..300).contains(&status) => Verdict::Delivered,
        Some((408 | 429, retry_after)) => Verdict::Failed { retry_after },
        // Redirects are not followed (the host allows one endpoint), and a 4xx will not change.
        Some((status, _)) if (300..500).contains(&status) => Verdict::Rejected,
        Some((_, retry_after)) => Verdict::Failed { retry_after },
        None => Verdict::Failed { retry_after: None },
    }
}

/// The response status and `Retry-After`, or `None` for any failure to get one.
fn send(
    endpoint: &Endpoint,
    headers: &Headers,
    body: &[u8],
    timeout: Duration,
    deadline: Instant,
) -> Option<(u16, Option<Duration>)> {
    let mut fields = vec![(
        "content-type".to_string(),
        headers.content_type.as_bytes().to_vec(),
    )];
    if headers.gzip {
        fields.push(("content-encoding".to_string(), b"gzip".to_vec()));
    }
    for (name, value) in headers.extra {
        fields.push((name.clone(), value.as_bytes().to_vec()));
    }
    let headers = Fields::from_list(&fields).ok()?;
    let request = OutgoingRequest::new(headers);
    request.set_method(&Method::Post).ok()?;
    let scheme = if endpoint.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    request.set_scheme(Some(&scheme)).ok()?;
    request.set_authority(Some(&endpoint.authority)).ok()?;
    request
        .set_path_with_query(Some(&endpoint.path_with_query))
        .ok()?;
    let outgoing_body = request.body().ok()?;

    let options = RequestOptions::new();
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    // A host may refuse to let a guest set these; its own caps then apply.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));

    let response = outgoing_handler::handle(request, Some(options)).ok()?;
    let written = write_body(&outgoing_body, body, deadline);
    let finished = written && OutgoingBody::finish(outgoing_body, None).is_ok();
    if !finished {
        return None;
    }
    await_status(&response, deadline)
}

fn write_body(outgoing_body: &OutgoingBody, bytes: &[u8], deadline: Instant) -> bool {
    let Ok(stream) = outgoing_body.write() else {
        return false;
    };
    let ok = write_all(&stream, bytes, deadline);
    // The stream must be gone before the body is finished.
    drop(stream);
    ok
}

fn write_all(stream: &OutputStream, mut rest: &[u8], deadline: Instant) -> bool {
    while !rest.is_empty() {
        let ready = match stream.check_write() {
            Ok(0) => {
                if !wait(&stream.subscribe(), deadline) {
                    return false;
                }
                continue;
            }
            Ok(n) => n.min(CHUNK) as usize,
            Err(_) => return false,
        };
        let take = ready.min(rest.len());
        if stream.write(&rest[..take]).is_err() {
            return false;
        }
        rest = &rest[take..];
    }
    if stream.flush().is_err() {
        return false;
    }
    // Wait until the flush has gone through (check-write reports it, or an error).
    loop {
        match stream.check_write() {
            Ok(n) if n > 0 => return true,
            Ok(_) => {
                if !wait(&stream.subscribe(), deadline) {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
}

fn await_status(
    response: &FutureIncomingResponse,
    deadline: Instant,
) -> Option<(u16, Option<Duration>)> {
    if !wait(&response.subscribe(), deadline) {
        return None;
    }
    match response.get() {
        Some(Ok(Ok(incoming))) => {
            let retry_after = incoming
                .headers()
                .get("retry-after")
                .first()
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| retry::parse_retry_after(v, std::time::SystemTime::now()));
            Some((incoming.status(), retry_after))
        }
        _ => None,
    }
}

/// Blocks until `pollable` is ready (true) or the deadline passes (false).
fn wait(pollable: &Pollable, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return pollable.ready();
    }
    let timer =
        monotonic_clock::subscribe_duration(u64::try_from(left.as_nanos()).unwrap_or(u64::MAX));
    let ready = poll::poll(&[pollable, &timer]);
    ready.contains(&0)
}
