//! The egress ledger: a record of every request the host let the telemetry component make
//! (or, in debug mode, captured instead of sending), with the exact payload.
//!
//! Entries are JSON lines in `egress.jsonl` in the identity directory, bounded in bytes: when
//! the file outgrows its bound, the oldest entries are dropped until it is down to half (a line
//! another process appends while a trim rewrites the file can be lost with it). The
//! newest entries are also kept in memory, so a program without an identity directory can
//! still show them. All handles to one file in a process share one writer, so concurrent
//! stores never interleave lines; separate processes append whole lines with `O_APPEND`.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use serde::{Deserialize, Serialize};

use crate::trust::private_files::read_private;

/// The ledger's name in the identity directory.
pub const LEDGER_FILE: &str = "egress.jsonl";

/// The most of a ledger file `read` reads.
const READ_MAX_BYTES: u64 = 64 << 20;

/// Entries kept in memory per ledger.
const MEMORY_ENTRIES: usize = 256;

/// One request the telemetry component made (or debug mode captured): one line of the ledger
/// file, as `agent-telemetry log` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// When the request was made (RFC 3339, UTC).
    pub at: String,
    /// The request's URL.
    pub endpoint: String,
    /// The collector's answer; `None` when there was none (see `error`) or in debug mode.
    pub status: Option<u16>,
    /// Why there was no answer (a network error, a timeout, the sender giving up), or that
    /// a gzip body which did not decompress is kept as it was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Size of the body, in bytes.
    pub bytes: u64,
    /// SHA-256 of the body, hex.
    pub sha256: String,
    /// Events in the batch, when the body is a batch.
    pub events: Option<u64>,
    /// On a note (see [`LedgerEntry::left_out`]): events the wire format had no type for, and
    /// so did not carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_out: Option<u64>,
    /// On a note of what the OpenTelemetry mapping dropped (see
    /// [`LedgerEntry::inbound_dropped`]): how much, in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// On a counts-only upload: the period it holds the counts of (`2026-12-01`); `events`
    /// is then how many events were folded into it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts_of: Option<String>,
    /// Set on an entry that records no request: what it notes instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The body's media type (`application/json`, `application/x-protobuf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Captured by debug mode: it did not leave the machine.
    #[serde(default)]
    pub debug: bool,
    /// The wire format of a request the component made (`native`, `docker`, `swarm`,
    /// `otlp`); absent on entries older than it, and on notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Set on a deletion request (`telemetry off` asking the collector to forget this
    /// installation; see [`crate::forget`]), and on a note that one could not be made.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deletion: bool,
    /// On a deletion request the collector carried out: the events it said it deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<u64>,
    /// `gzip` when the body was sent compressed; `body` and `body_base64` hold it decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// The body (decompressed when it was sent gzipped), when it is UTF-8: the JSON formats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Otherwise the body (decompressed) in base64: OTLP protobuf, which `log --body` shows
    /// decoded as OTLP/JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

/// The most a gzipped body is decompressed to for the ledger: far beyond any batch.
const DECODED_MAX_BYTES: u64 = 64 << 20;

impl LedgerEntry {
    /// [`encoded`](Self::encoded) for a body sent as it is.
    #[cfg(test)]
    pub(crate) fn new(endpoint: String, body: &[u8], events: Option<u64>) -> LedgerEntry {
        LedgerEntry::encoded(endpoint, body, events, None)
    }

    /// An entry for `body` (a batch of `events` events, if known) sent to `endpoint` with
    /// `content_encoding` (`gzip`, or `None`); `status` and `error` are filled in later.
    pub(crate) fn encoded(
        endpoint: String,
        body: &[u8],
        events: Option<u64>,
        content_encoding: Option<&str>,
    ) -> LedgerEntry {
        use sha2::Digest;
        LedgerEntry {
            at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
            endpoint,
            status: None,
            error: None,
            bytes: body.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(body)),
            events,
            left_out: None,
            counts_of: None,
            dropped: None,
            note: None,
            content_type: None,
            format: None,
            deletion: false,
            deleted: None,
            debug: false,
            content_encoding: None,
            body: None,
            body_base64: None,
        }
        .keeping(body, content_encoding)
    }

    /// Keeps `body`, sent with `content_encoding`, in a form a person can audit: decompressed,
    /// as text when it is UTF-8 and in base64 otherwise. A body that does not decompress is
    /// kept as it was sent, and the entry says so in `error`.
    fn keeping(mut self, body: &[u8], content_encoding: Option<&str>) -> LedgerEntry {
        use base64::Engine as _;
        use std::io::Read;
        let mut decoded = Vec::new();
        let body = match content_encoding {
            Some(encoding) if encoding.eq_ignore_ascii_case("gzip") => {
                self.content_encoding = Some("gzip".to_string());
                let mut reader = flate2::read::GzDecoder::new(body).take(DECODED_MAX_BYTES + 1);
                match reader.read_to_end(&mut decoded) {
                    Ok(_) if decoded.len() as u64 > DECODED_MAX_BYTES => {
                        self.error = Some(format!(
                            "the gzip body decompresses past {DECODED_MAX_BYTES} bytes: kept as sent"
                        ));
                        body
                    }
                    Ok(_) => &decoded[..],
                    Err(e) => {
                        self.error = Some(format!("the gzip body does not decompress: {e}"));
                        body
                    }
                }
            }
            _ => body,
        };
        match std::str::from_utf8(body) {
            Ok(text) => self.body = Some(text.to_string()),
            Err(_) => {
                self.body_base64 = Some(base64::engine::general_purpose::STANDARD.encode(body))
            }
        }
        self
    }

    /// A note, not a request: `events` of what was just sent to `endpoint` had no type in the
    /// wire format, and were left out (the component says so in its flush and delivery
    /// reports; nothing on the wire does).
    pub fn left_out(endpoint: String, events: u64) -> LedgerEntry {
        let mut note = LedgerEntry::encoded(endpoint, &[], Some(0), None);
        note.body = None;
        note.left_out = Some(events);
        note.note = Some("left out: the wire format has no type for these events".to_string());
        note
    }

    /// A note, not a request: what the OpenTelemetry mapping dropped of what agents emitted
    /// (content, attributes outside the mapping, spans of no kind), by reason. None of it
    /// was forwarded; `endpoint` is where the rest went.
    pub fn inbound_dropped(endpoint: String, dropped: &crate::otel::Dropped) -> LedgerEntry {
        let mut note = LedgerEntry::encoded(endpoint, &[], Some(0), None);
        note.body = None;
        note.dropped = Some(dropped.total());
        note.note = Some(format!(
            "OpenTelemetry in, dropped and not forwarded: {}",
            dropped.describe()
        ));
        note
    }

    /// A note, not a request: the installation sent to `endpoint` in `format`, whose
    /// collectors have no deletion request, so none was sent there (see [`crate::forget`]).
    pub fn no_deletion(endpoint: String, format: &str) -> LedgerEntry {
        let mut note = LedgerEntry::encoded(endpoint, &[], None, None);
        note.body = None;
        note.deletion = true;
        note.format = Some(format.to_string());
        note.note = Some(format!(
            "no deletion request: the {format} format has none; that collector keeps what it \
             was sent"
        ));
        note
    }

    /// Whether this entry records a request that left the machine and may have been stored:
    /// not a note, not captured by debug mode, not a deletion request, and either answered
    /// with a success or not answered at all (it may have arrived).
    pub fn may_have_stored(&self) -> bool {
        self.note.is_none()
            && !self.debug
            && !self.deletion
            && match self.status {
                Some(code) => (200..300).contains(&code),
                None => self.error.is_some(),
            }
    }

    /// The wire format of the request: as recorded, or for an entry older than that field,
    /// `native` when its body is a native batch.
    pub fn wire_format(&self) -> Option<String> {
        if let Some(format) = &self.format {
            return Some(format.clone());
        }
        #[derive(Deserialize)]
        struct Schema {
            schema: String,
        }
        let body = self.decoded_body()?;
        let schema = serde_json::from_slice::<Schema>(&body).ok()?;
        (schema.schema == agent_telemetry_contract::wire::SCHEMA).then(|| "native".to_string())
    }

    /// Whether the body names `text` (an installation id), in whatever form it was kept.
    pub fn body_names(&self, text: &str) -> bool {
        let needle = text.as_bytes();
        !needle.is_empty()
            && self
                .decoded_body()
                .is_some_and(|body| body.windows(needle.len()).any(|w| w == needle))
    }

    /// The body as it was before any compression, whether kept as text or in base64.
    pub fn decoded_body(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        match (&self.body, &self.body_base64) {
            (Some(text), _) => Some(text.clone().into_bytes()),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD.decode(b64).ok(),
            (None, None) => None,
        }
    }
}

pub(crate) struct Ledger {
    path: Option<PathBuf>,
    max_bytes: u64,
    recent: Mutex<VecDeque<LedgerEntry>>,
}

impl Ledger {
    /// The ledger at `path` (shared with every other handle to it in this process), or an
    /// in-memory one.
    pub(crate) fn open(path: Option<PathBuf>, max_bytes: u64) -> Arc<Ledger> {
        static OPEN: OnceLock<Mutex<HashMap<PathBuf, Weak<Ledger>>>> = OnceLock::new();
        let make = |path| {
            Arc::new(Ledger {
                path,
                max_bytes: max_bytes.max(4096),
                recent: Mutex::default(),
            })
        };
        let Some(path) = path else {
            return make(None);
        };
        let mut open = OPEN
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(ledger) = open.get(&path).and_then(Weak::upgrade) {
            return ledger;
        }
        open.retain(|_, l| l.strong_count() > 0);
        let ledger = make(Some(path.clone()));
        open.insert(path, Arc::downgrade(&ledger));
        ledger
    }

    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Adds an entry. A file that cannot be written costs a warning, never the request.
    pub(crate) fn append(&self, entry: LedgerEntry) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(path) = &self.path
            && let Err(e) = self.append_to_file(path, &entry)
        {
            tracing::warn!(path = %path.display(), error = %e, "egress ledger cannot be written");
        }
        if recent.len() == MEMORY_ENTRIES {
            recent.pop_front();
        }
        recent.push_back(entry);
    }

    /// The newest entries this process recorded, oldest first.
    pub(crate) fn recent(&self) -> Vec<LedgerEntry> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().cloned().collect()
    }

    fn append_to_file(&self, path: &Path, entry: &LedgerEntry) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(entry)?;
        line.push(b'\n');
        let mut file = crate::trust::private_files::append_private(path)?;
        file.write_all(&line)?;
        if file.metadata()?.len() > self.max_bytes {
            self.trim(path)?;
        }
        Ok(())
    }

    /// Keeps the newest whole lines that fit in half the bound; replaces the file atomically.
    fn trim(&self, path: &Path) -> std::io::Result<()> {
        let content = read_private(path, self.max_bytes.saturating_mul(4))?.unwrap_or_default();
        let keep = (self.max_bytes / 2) as usize;
        let mut start = content.len().saturating_sub(keep);
        // Start at a line boundary so no entry is cut in half.
        while start > 0 && start < content.len() && content[start - 1] != b'\n' {
            start += 1;
        }
        crate::trust::private_files::replace_private(path, &content[start..])
    }
}

/// Reads a ledger file: its entries, oldest first, and how many lines could not be read
/// (a line cut short by a crash, say), which are skipped.
pub fn read(path: &Path) -> std::io::Result<(Vec<LedgerEntry>, usize)> {
    // The file is bounded by its writers; one much larger was not written by them.
    let Some(bytes) = read_private(path, READ_MAX_BYTES)? else {
        return Ok((Vec::new(), 0));
    };
    let content = String::from_utf8_lossy(&bytes);
    let mut entries = Vec::new();
    let mut unreadable = 0;
    for line in content.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(entry) => entries.push(entry),
            Err(_) => unreadable += 1,
        }
    }
    Ok((entries, unreadable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn entries_survive_on_disk_and_the_file_stays_bounded() {
        let dir = std::env::temp_dir().join(format!(
            "agent-telemetry-ledger-{}",
            crate::trust::identity::random_hex(6)
        ));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(LEDGER_FILE);
        let ledger = Ledger::open(Some(path.clone()), 8192);
        let body = br#"{"events":[{},{}]}"#;
        for _ in 0..200 {
            ledger.append(LedgerEntry::new(
                "http://127.0.0.1:1/v1/batch".into(),
                body,
                Some(2),
            ));
        }
        let (entries, unreadable) = read(&path).unwrap();
        assert_eq!(unreadable, 0);
        assert!(
            !entries.is_empty() && entries.len() < 200,
            "{}",
            entries.len()
        );
        assert!(fs::metadata(&path).unwrap().len() <= 8192);
        assert_eq!(entries[0].events, Some(2));
        assert_eq!(
            entries[0].body.as_deref(),
            Some(std::str::from_utf8(body).unwrap())
        );
        // A second handle in this process is the same ledger.
        assert!(Arc::ptr_eq(
            &ledger,
            &Ledger::open(Some(path.clone()), 8192)
        ));
        // A torn last line is skipped and counted, not fatal.
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"at\":\"20")
            .unwrap();
        let (again, unreadable) = read(&path).unwrap();
        assert_eq!((again.len(), unreadable), (entries.len(), 1));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Issue 20: with gzip or OTLP protobuf the ledger kept no body, so there was nothing to
    /// audit.
    #[test]
    fn gzip_and_binary_bodies_are_kept_decoded() {
        let json = br#"{"events":[{"type":"tool_call"}]}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(json).unwrap();
        let gzipped = gz.finish().unwrap();
        let entry = LedgerEntry::encoded(
            "http://127.0.0.1:1/".into(),
            &gzipped,
            Some(1),
            Some("gzip"),
        );
        assert_eq!(
            entry.body.as_deref(),
            Some(std::str::from_utf8(json).unwrap())
        );
        assert_eq!(
            entry.bytes,
            gzipped.len() as u64,
            "the size and hash are of what left"
        );
        assert_eq!(entry.content_encoding.as_deref(), Some("gzip"));

        let protobuf = [0x0a, 0x03, 0xff, 0x00, 0x80];
        let entry = LedgerEntry::new("http://127.0.0.1:1/".into(), &protobuf, None);
        assert_eq!(entry.body, None);
        assert_eq!(entry.decoded_body().as_deref(), Some(&protobuf[..]));

        let broken = LedgerEntry::encoded(
            "http://127.0.0.1:1/".into(),
            b"not gzip",
            None,
            Some("gzip"),
        );
        assert_eq!(broken.body.as_deref(), Some("not gzip"));
        assert!(broken.error.is_some());
    }
}
