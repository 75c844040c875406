//! Forgetting on opt-out: [`opt_out`] is what `agent-telemetry telemetry off` does, for any
//! program's own opt-out path to do the same (Mozilla Glean's deletion-request ping is the
//! model).
//!
//! 1. The choice is written (`consent::write_choice`), and the spool is purged: nothing
//!    recorded is sent after the user said no.
//! 2. If the egress ledger shows that this installation sent something that may have been
//!    stored, one deletion request per endpoint it sent to is made pending: a line in
//!    [`PENDING_FILE`] in the identity directory naming the installation id and the endpoint.
//!    Endpoints it sent to in a format whose collectors cannot delete (docker, swarm, otlp)
//!    get a note in the ledger instead.
//! 3. The installation id and the key are removed: a later `telemetry on` is a new
//!    installation that nothing links to this one.
//! 4. Every pending request is sent ([`send_pending`]): a POST of the deletion document
//!    (`agent_telemetry_contract::deletion`) to the endpoint, checked by the egress policy (a
//!    POST to exactly that URL, plain http only to loopback), with no header but its media
//!    type, within [`DELETION_TIMEOUT`] for them all. Each is recorded in the ledger with its
//!    outcome. One the collector carried out (a 2xx) or refused for good (another 4xx) is
//!    settled; one that could not be delivered (no answer, 408, 429, 5xx) stays pending and
//!    is sent again by `agent-telemetry flush` or the next `telemetry off`.
//!
//! In debug mode nothing leaves the machine, deletion requests included: they stay pending.

use std::path::Path;
use std::time::Duration;

use agent_telemetry_contract::deletion::{DeletionReceipt, DeletionRequest};
use agent_telemetry_contract::ids;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde::{Deserialize, Serialize};

use crate::delivery::spool::{SPOOL_DIR, Spool};
use crate::egress::ledger::{LEDGER_FILE, Ledger, LedgerEntry};
use crate::egress::policy::AllowedEndpoint;
use crate::settings::TelemetrySettings;
use crate::trust::private_files::{append_private, read_private, replace_private};

/// The pending deletion requests' file in the identity directory.
pub const PENDING_FILE: &str = "deletion-pending";
/// Taken while the pending file is read and rewritten, so that two processes lose none.
const PENDING_LOCK: &str = "deletion-pending.lock";
/// The most pending requests kept (each is an installation and an endpoint: a user would
/// need to opt out dozens of times against dead collectors to reach it).
const MAX_PENDING: usize = 64;
/// A pending file larger than this was not written by this host.
const PENDING_MAX_BYTES: u64 = 64 << 10;
/// How long the deletion requests of one call may take together: a dead or hanging collector
/// must not hang `telemetry off`.
pub const DELETION_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a collector's answer read.
const ANSWER_MAX_BYTES: usize = 4096;

/// One deletion request: the installation to forget, and where it sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingDeletion {
    /// The installation id (`install_…`).
    pub installation_id: String,
    /// The endpoint URL it sent batches to, where the request goes.
    pub endpoint: String,
}

/// What became of one deletion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// The collector carried it out: the events it said it deleted (`None` if its answer
    /// did not say).
    Deleted(Option<u64>),
    /// The collector refused it for good (a 4xx but 408 and 429): one that cannot delete, or
    /// an older collector. Not sent again.
    Refused(u16),
    /// Not delivered (why), kept pending.
    Pending(String),
    /// The egress policy does not let it out (the file names an endpoint this host would never
    /// send to): dropped.
    Denied(String),
}

/// A deletion request and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletionOutcome {
    /// The request.
    pub request: PendingDeletion,
    /// What became of it.
    pub outcome: Deletion,
}

/// What [`opt_out`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptOut {
    /// Events discarded from the spool.
    pub discarded_events: u64,
    /// Events counted in counts-only mode and not yet uploaded, discarded.
    pub discarded_counts: u64,
    /// The installation id that was removed (a later `telemetry on` makes a new one).
    pub forgotten_id: Option<String>,
    /// Endpoints this installation sent to in a format that has no deletion request, with
    /// the format: nothing could be asked of them.
    pub no_deletion: Vec<(String, String)>,
    /// Every deletion request sent or left pending by this call (earlier pending ones too).
    pub deletions: Vec<DeletionOutcome>,
}

/// Turns telemetry off for the identity directory of `settings` (required) and has the
/// collectors forget this installation: see the module's documentation. Errors only when the
/// choice cannot be written; a deletion that cannot be delivered is an outcome, not an error.
pub async fn opt_out(settings: &TelemetrySettings) -> std::io::Result<OptOut> {
    let dir = settings.identity_dir.as_deref().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no identity directory: nothing is kept, so there is nothing to turn off or forget",
        )
    })?;
    crate::trust::consent::write_choice(dir, false)?;
    let discarded_events = Spool::new(dir.join(SPOOL_DIR), settings.spool_limits).discard_all();
    let discarded_counts = crate::delivery::counts::CountsBook::discard_all(dir)?;
    let ledger = Ledger::open(Some(dir.join(LEDGER_FILE)), settings.ledger_max_bytes);
    let mut no_deletion = Vec::new();
    let forgotten_id = crate::trust::identity::read_installation_id(dir);
    if let Some(id) = &forgotten_id {
        let (sent, other) = endpoints_sent_to(dir, id);
        for (endpoint, format) in &other {
            ledger.append(LedgerEntry::no_deletion(endpoint.clone(), format));
        }
        no_deletion = other;
        let requests = sent.into_iter().map(|endpoint| PendingDeletion {
            installation_id: id.clone(),
            endpoint,
        });
        // Pending before the id goes: a crash in between loses neither.
        update_pending(dir, |pending| {
            for request in requests {
                if !pending.contains(&request) {
                    pending.push(request);
                }
            }
        })?;
    }
    crate::trust::identity::remove_identity(dir)?;
    let deletions = send_pending(settings).await;
    Ok(OptOut {
        discarded_events,
        discarded_counts,
        forgotten_id,
        no_deletion,
        deletions,
    })
}

/// Sends every pending deletion request of the identity directory of `settings` (none without
/// one), within [`DELETION_TIMEOUT`] in all, and keeps pending those not delivered: see the
/// module's documentation. Whether telemetry is on does not matter: the request only erases.
pub async fn send_pending(settings: &TelemetrySettings) -> Vec<DeletionOutcome> {
    let Some(dir) = settings.identity_dir.as_deref() else {
        return Vec::new();
    };
    let pending = read_pending(dir);
    if pending.is_empty() {
        return Vec::new();
    }
    let ledger = Ledger::open(Some(dir.join(LEDGER_FILE)), settings.ledger_max_bytes);
    let until = tokio::time::Instant::now() + DELETION_TIMEOUT;
    let mut outcomes = Vec::new();
    for request in pending {
        let outcome = if settings.debug {
            Deletion::Pending("debug mode: nothing leaves the machine".to_string())
        } else {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            send(&request, left, &ledger).await
        };
        outcomes.push(DeletionOutcome { request, outcome });
    }
    let settled: Vec<&PendingDeletion> = outcomes
        .iter()
        .filter(|o| !matches!(o.outcome, Deletion::Pending(_)))
        .map(|o| &o.request)
        .collect();
    if !settled.is_empty()
        && let Err(e) = update_pending(dir, |pending| pending.retain(|p| !settled.contains(&p)))
    {
        tracing::warn!(dir = %dir.display(), error = %e, "the pending deletion requests cannot be updated; settled ones will be sent again");
    }
    outcomes
}

/// The deletion requests waiting in `dir`. The file is untrusted: one that cannot be read
/// counts as none (with a warning), and an entry whose id is not an installation id is
/// skipped.
pub fn read_pending(dir: &Path) -> Vec<PendingDeletion> {
    let path = dir.join(PENDING_FILE);
    let parsed = read_private(&path, PENDING_MAX_BYTES).and_then(|bytes| {
        bytes
            .map(|b| serde_json::from_slice::<Vec<PendingDeletion>>(&b))
            .transpose()
            .map_err(std::io::Error::other)
    });
    match parsed {
        Ok(pending) => pending
            .unwrap_or_default()
            .into_iter()
            .filter(|p| ids::is_installation_id(&p.installation_id))
            .take(MAX_PENDING)
            .collect(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "pending deletion requests cannot be read");
            Vec::new()
        }
    }
}

/// Reads, changes and rewrites the pending file under its lock (atomically; removed when
/// nothing is left).
fn update_pending(
    dir: &Path,
    change: impl FnOnce(&mut Vec<PendingDeletion>),
) -> std::io::Result<()> {
    let lock = append_private(&dir.join(PENDING_LOCK))?;
    lock.lock()?;
    let mut pending = read_pending(dir);
    change(&mut pending);
    pending.truncate(MAX_PENDING);
    let path = dir.join(PENDING_FILE);
    if pending.is_empty() {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    } else {
        replace_private(&path, &serde_json::to_vec(&pending)?)?;
    }
    // The lock file itself stays: removing it would race another process's open.
    lock.unlock()
}

/// The endpoints `id` sent to that may have stored something, as the ledger in `dir` shows:
/// those in the native format, and the others with their format.
fn endpoints_sent_to(dir: &Path, id: &str) -> (Vec<String>, Vec<(String, String)>) {
    let entries = match crate::egress::ledger::read(&dir.join(LEDGER_FILE)) {
        Ok((entries, _)) => entries,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "the egress ledger cannot be read; no deletion request can be addressed");
            return (Vec::new(), Vec::new());
        }
    };
    let mut native: Vec<String> = Vec::new();
    let mut other: Vec<(String, String)> = Vec::new();
    for entry in entries
        .iter()
        .filter(|e| e.may_have_stored() && e.body_names(id))
    {
        match entry.wire_format() {
            Some(format) if format == "native" => {
                if !native.contains(&entry.endpoint) {
                    native.push(entry.endpoint.clone());
                }
            }
            format => {
                let pair = (
                    entry.endpoint.clone(),
                    format.unwrap_or_else(|| "unknown".to_string()),
                );
                if !other.contains(&pair) {
                    other.push(pair);
                }
            }
        }
    }
    (native, other)
}

/// Whether a deletion request answered with `status` stays pending (408, 429 and 5xx: the
/// collector could not take it now), rather than being settled.
pub fn kept_pending(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// Sends one deletion request within `left`, through the egress policy, and records it.
async fn send(request: &PendingDeletion, left: Duration, ledger: &Ledger) -> Deletion {
    // The policy the component's requests go through, with this endpoint as the one allowed.
    let uri = AllowedEndpoint::parse(&request.endpoint)
        .ok()
        .zip(request.endpoint.parse::<http::Uri>().ok())
        .filter(|(policy, uri)| policy.allows(&http::Method::POST, uri))
        .map(|(_, uri)| uri);
    let Some(uri) = uri else {
        return Deletion::Denied(format!(
            "the egress policy does not let a request out to {}",
            request.endpoint.escape_debug()
        ));
    };
    let Some(document) = DeletionRequest::new(&request.installation_id) else {
        return Deletion::Denied("not an installation id".to_string());
    };
    let body = Bytes::from(document.to_json());
    let mut entry = LedgerEntry::encoded(request.endpoint.clone(), &body, None, None);
    entry.deletion = true;
    entry.content_type = Some(agent_telemetry_contract::wire::CONTENT_TYPE.to_string());
    let outcome = match tokio::time::timeout(left, exchange(uri, body, left)).await {
        Ok(Ok((status, answer))) => {
            entry.status = Some(status);
            match status {
                200..=299 => {
                    let deleted = serde_json::from_slice::<DeletionReceipt>(&answer)
                        .ok()
                        .map(|r| r.deleted);
                    entry.deleted = deleted;
                    Deletion::Deleted(deleted)
                }
                _ if kept_pending(status) => {
                    Deletion::Pending(format!("the collector answered {status}"))
                }
                _ => Deletion::Refused(status),
            }
        }
        Ok(Err(e)) => {
            entry.error = Some(e.clone());
            Deletion::Pending(e)
        }
        Err(_) => {
            let why = format!("no answer within {}", humantime::format_duration(left));
            entry.error = Some(why.clone());
            Deletion::Pending(why)
        }
    };
    ledger.append(entry);
    outcome
}

/// POSTs `body` to `uri` with its media type and no other header of ours: the status and the
/// start of the answer.
async fn exchange(uri: http::Uri, body: Bytes, left: Duration) -> Result<(u16, Bytes), String> {
    let request = http::Request::post(uri)
        .header(
            http::header::CONTENT_TYPE,
            agent_telemetry_contract::wire::CONTENT_TYPE,
        )
        .body(Full::new(body).map_err(|e| match e {}))
        .map_err(|e| e.to_string())?;
    let options = wasmtime_wasi_http::RequestOptions {
        connect_timeout: Some(left),
        first_byte_timeout: Some(left),
        between_bytes_timeout: Some(left),
    };
    let (response, io) = wasmtime_wasi_http::default_send_request(request, Some(options))
        .await
        .map_err(|e| e.to_string())?;
    // The connection is driven while the answer is read, and stopped when this future ends
    // or is dropped (its time is up).
    let io = AbortOnDrop(tokio::spawn(io));
    let status = response.status().as_u16();
    let answer = Limited::new(response.into_body(), ANSWER_MAX_BYTES)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    drop(io);
    Ok((status, answer))
}

/// Aborts a task when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "install_0123456789abcdef";
    const OTHER: &str = "install_fedcba9876543210";

    fn sent(endpoint: &str, body: &str, format: &str, status: Option<u16>) -> LedgerEntry {
        let mut entry = LedgerEntry::encoded(endpoint.to_string(), body.as_bytes(), None, None);
        entry.format = Some(format.to_string());
        entry.status = status;
        if status.is_none() {
            entry.error = Some("no answer before the sender gave up".to_string());
        }
        entry
    }

    fn native(id: &str) -> String {
        format!(r#"{{"schema":"agent-telemetry/batch","events":[{{"installation_id":"{id}"}}]}}"#)
    }

    /// Only the endpoints this installation sent to, that may have stored it, get a request;
    /// those of formats with no deletion are named apart.
    #[test]
    fn the_ledger_says_where_this_installation_sent() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(Some(dir.path().join(LEDGER_FILE)), 1 << 20);
        let a = "http://127.0.0.1:1/v1/batch";
        let mut debug = sent(
            "http://127.0.0.1:2/v1/batch",
            &native(ID),
            "native",
            Some(200),
        );
        debug.debug = true;
        let mut old = sent(
            "http://127.0.0.1:7/v1/batch",
            &native(ID),
            "native",
            Some(200),
        );
        old.format = None;
        for entry in [
            sent(a, &native(ID), "native", Some(200)),
            sent(a, &native(ID), "native", Some(200)),
            debug,
            sent(
                "http://127.0.0.1:3/v1/batch",
                &native(ID),
                "native",
                Some(400),
            ),
            sent(
                "http://127.0.0.1:4/v1/batch",
                &native(OTHER),
                "native",
                Some(200),
            ),
            sent("http://127.0.0.1:5/v1/batch", &native(ID), "native", None),
            sent(
                "http://127.0.0.1:6/api/telemetry",
                &format!(r#"{{"records":[{{"user_uuid":"{ID}"}}]}}"#),
                "docker",
                Some(200),
            ),
            old,
        ] {
            ledger.append(entry);
        }
        let (native, other) = endpoints_sent_to(dir.path(), ID);
        assert_eq!(
            native,
            [
                a,
                "http://127.0.0.1:5/v1/batch",
                "http://127.0.0.1:7/v1/batch"
            ]
        );
        assert_eq!(
            other,
            [(
                "http://127.0.0.1:6/api/telemetry".to_string(),
                "docker".to_string()
            )]
        );
    }

    /// The pending file is untrusted: what cannot be read is none, and an entry whose id is
    /// not an installation id is never sent.
    #[test]
    fn the_pending_file_is_read_strictly_and_removed_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        let request = |id: &str| PendingDeletion {
            installation_id: id.to_string(),
            endpoint: "http://127.0.0.1:1/v1/batch".to_string(),
        };
        assert!(read_pending(dir.path()).is_empty());
        update_pending(dir.path(), |p| p.extend([request(ID), request(OTHER)])).unwrap();
        assert_eq!(read_pending(dir.path()), [request(ID), request(OTHER)]);
        update_pending(dir.path(), |p| p.retain(|r| r.installation_id != ID)).unwrap();
        assert_eq!(read_pending(dir.path()), [request(OTHER)]);
        update_pending(dir.path(), Vec::clear).unwrap();
        assert!(!dir.path().join(PENDING_FILE).exists());

        let file = dir.path().join(PENDING_FILE);
        std::fs::write(&file, "not json").unwrap();
        assert!(read_pending(dir.path()).is_empty());
        std::fs::write(
            &file,
            r#"[{"installation_id":"ephemeral_0123456789abcdef","endpoint":"http://127.0.0.1:1/"},
                {"installation_id":"install_0123456789abcdef","endpoint":"http://127.0.0.1:1/"}]"#,
        )
        .unwrap();
        assert_eq!(read_pending(dir.path()).len(), 1);
    }

    /// `opt_out` against a collector that is not there: it returns, says the request is
    /// pending, keeps it (with the old id) after removing the id, and the ledger shows it.
    /// An endpoint the egress policy would never let out is dropped, never sent.
    #[tokio::test]
    async fn a_dead_collector_leaves_the_request_pending_and_the_id_goes() {
        let dir = tempfile::tempdir().unwrap();
        let dead = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let endpoint = format!("http://{dead}/v1/batch");
        let identity = crate::trust::identity::Identity::load_or_create(dir.path());
        let id = identity.installation_id.unwrap();
        let ledger = Ledger::open(Some(dir.path().join(LEDGER_FILE)), 1 << 20);
        ledger.append(sent(&endpoint, &native(&id), "native", Some(200)));
        ledger.append(sent(
            "http://192.0.2.1/v1/batch",
            &native(&id),
            "native",
            Some(200),
        ));
        let settings = TelemetrySettings::new("test", "1.0").identity_dir(dir.path());

        let done = opt_out(&settings).await.unwrap();
        assert_eq!(done.forgotten_id.as_deref(), Some(id.as_str()));
        assert!(crate::trust::identity::read_installation_id(dir.path()).is_none());
        assert_eq!(done.deletions.len(), 2, "{done:?}");
        assert!(
            matches!(done.deletions[0].outcome, Deletion::Pending(_)),
            "{done:?}"
        );
        assert!(
            matches!(done.deletions[1].outcome, Deletion::Denied(_)),
            "{done:?}"
        );
        let pending = read_pending(dir.path());
        assert_eq!(
            pending,
            [PendingDeletion {
                installation_id: id.clone(),
                endpoint: endpoint.clone()
            }]
        );
        let (entries, _) = crate::egress::ledger::read(&dir.path().join(LEDGER_FILE)).unwrap();
        let request = entries.iter().find(|e| e.deletion).expect("in the ledger");
        assert_eq!(request.endpoint, endpoint);
        assert!(request.error.is_some() && request.status.is_none());
        let document = DeletionRequest::parse(&request.decoded_body().unwrap()).unwrap();
        assert_eq!(document.installation_id, id);

        // Opting out again sends it again, and asks nothing new (the id is gone).
        let again = opt_out(&settings).await.unwrap();
        assert_eq!(again.forgotten_id, None);
        assert_eq!(again.deletions.len(), 1);
        assert_eq!(read_pending(dir.path()).len(), 1);
    }
}
