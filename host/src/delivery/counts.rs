//! Counts-only mode (`mode = aggregate`): the batches the component makes never leave the
//! machine. The egress policy hands each one here instead of sending it; its events (already
//! checked by the component's rules) are folded into one [`Upload`] per period, installation
//! and product version, kept in `counts.json` in the identity directory. Once a period is over
//! its upload is sealed and sent, one request per period, through the same door as a batch
//! (the ledger records it; `log` shows it).
//!
//! Every fold is written before the component is told the batch was taken, under a lock that
//! processes sharing the directory take in turn: a crash loses no count, and two programs
//! folding at once lose none either. A sealed upload keeps its `upload_id` until the collector
//! has taken it, so a retry is never counted twice; events of a sealed period that arrive late
//! (a spooled batch) start a new upload of that period.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use agent_telemetry_contract::batch;
use agent_telemetry_contract::counts::{Period, Upload};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::egress::capture;
use crate::egress::connections::Connections;
use crate::egress::ledger::Ledger;
use crate::trust::identity::random_hex;
use crate::trust::private_files::{append_private, read_private, replace_private};

/// The counters' file in the identity directory.
pub const COUNTS_FILE: &str = "counts.json";
/// Held while the counters' file is read and written.
const LOCK_FILE: &str = "counts.lock";
/// Periods kept at most (two months of days): past it the oldest sealed one gives way, its
/// events counted as dropped.
const MAX_UPLOADS: usize = 64;
/// A counters file past this is not one this library wrote: [`MAX_UPLOADS`] uploads of 4,096
/// counters of at most about 1.5 KiB each (names within 256 bytes), and the batch ids.
const COUNTS_FILE_MAX_BYTES: u64 = 512 << 20;
/// Batch ids remembered as folded, so that a batch delivered again (its answer lost) is
/// not counted twice.
const FOLDED_IDS: usize = 1_024;

/// The counters: open periods, and sealed ones waiting to be sent.
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
struct Book {
    /// Periods still folding.
    open: Vec<Upload>,
    /// Periods over, each sent until the collector takes it.
    sealed: Vec<Upload>,
    /// Events dropped because the book was full, or the uploads that held them refused.
    #[serde(default)]
    dropped: u64,
    /// The ids of the batches folded last, oldest first.
    #[serde(default)]
    folded: std::collections::VecDeque<String>,
}

/// Why a batch was not folded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FoldError {
    /// Not a native batch: the component sends nothing else in this mode.
    #[error("not a native batch: {0}")]
    NotABatch(#[from] batch::BatchError),
    /// The counters could not be kept: the component keeps the batch and tries again.
    #[error("the counters cannot be written: {0}")]
    Io(#[from] std::io::Error),
}

/// One installation's counters, on disk (or, without an identity directory or in debug mode,
/// in memory until the handle stops).
pub(crate) struct CountsBook {
    dir: Option<PathBuf>,
    period: Period,
    memory: Mutex<Book>,
    clock: Clock,
    /// One sender at a time in this process: the start-up upload and the one at shutdown
    /// never send the same upload twice.
    sending: tokio::sync::Mutex<()>,
}

impl CountsBook {
    /// The counters kept in `dir` (in memory when `None`).
    pub(crate) fn new(dir: Option<PathBuf>, period: Period, clock: Clock) -> CountsBook {
        CountsBook {
            dir,
            period,
            memory: Mutex::default(),
            clock,
            sending: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether the counters outlive the process.
    pub(crate) fn kept(&self) -> bool {
        self.dir.is_some()
    }

    /// Reads the book, lets `change` change it, writes it back: under the lock when on disk.
    fn with_book<T>(&self, change: impl FnOnce(&mut Book) -> T) -> std::io::Result<T> {
        let Some(dir) = &self.dir else {
            let mut book = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            return Ok(change(&mut book));
        };
        let lock = append_private(&dir.join(LOCK_FILE))?;
        lock.lock()?;
        let path = dir.join(COUNTS_FILE);
        let mut book = match read_private(&path, COUNTS_FILE_MAX_BYTES)? {
            None => Book::default(),
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                // Untrusted: a file this library did not write is set aside, never sent.
                tracing::warn!(path = %path.display(), error = %e, "the counters file is not one this library wrote; it is set aside");
                let _ = std::fs::rename(&path, dir.join(format!("{COUNTS_FILE}.invalid")));
                Book::default()
            }),
        };
        let before = book.clone();
        let out = change(&mut book);
        if book != before {
            let mut bytes = serde_json::to_vec(&book).map_err(std::io::Error::other)?;
            bytes.push(b'\n');
            replace_private(&path, &bytes)?;
        }
        drop(lock);
        Ok(out)
    }

    /// Folds the native batch `body` into the counters; the events folded.
    pub(crate) fn fold(&self, body: &[u8]) -> Result<u64, FoldError> {
        let batch = batch::parse(body)?;
        let folded = self.with_book(|book| {
            // A batch folded already (its answer lost on the way back) counts once.
            if book.folded.contains(&batch.batch_id) {
                return 0;
            }
            if book.folded.len() >= FOLDED_IDS {
                book.folded.pop_front();
            }
            book.folded.push_back(batch.batch_id.clone());
            for event in &batch.events {
                let Some(start) = period_start(self.period, &event.occurred_at) else {
                    book.dropped += 1;
                    continue;
                };
                let at = book
                    .open
                    .iter()
                    .position(|u| u.holds(event, self.period, &start));
                let upload = match at {
                    Some(i) => &mut book.open[i],
                    None => {
                        if book.open.len() + book.sealed.len() >= MAX_UPLOADS {
                            // The oldest sealed upload gives way; with none sealed, this event.
                            if book.sealed.is_empty() {
                                book.dropped += 1;
                                continue;
                            }
                            let oldest = book.sealed.remove(0);
                            book.dropped += oldest.events;
                            tracing::warn!(period = %oldest.period_start, events = oldest.events, "counts-only mode: too many periods kept; the oldest unsent one is dropped");
                        }
                        let upload = Upload::for_event(event, random_hex(8), self.period, start);
                        book.open.push(upload);
                        book.open.last_mut().expect("just pushed")
                    }
                };
                upload.fold(event);
            }
            batch.events.len() as u64
        })?;
        Ok(folded)
    }

    /// Seals the periods that are over (all of them when `all`), and returns every sealed
    /// upload, oldest first.
    pub(crate) fn due(&self, all: bool) -> std::io::Result<Vec<Upload>> {
        let now = rfc3339(self.clock.now());
        // Each upload by its own period: programs sharing the directory may keep others.
        let over = |u: &Upload| {
            Period::parse(&u.period)
                .and_then(|p| period_start(p, &now))
                .is_some_and(|current| u.period_start < current)
        };
        self.with_book(|book| {
            let (over, open): (Vec<Upload>, Vec<Upload>) = std::mem::take(&mut book.open)
                .into_iter()
                .partition(|u| all || over(u));
            book.open = open;
            book.sealed.extend(over);
            book.sealed
                .sort_by(|a, b| a.period_start.cmp(&b.period_start));
            book.sealed.clone()
        })
    }

    /// Discards every count kept in `dir`, open and sealed (after `telemetry off`, nothing is
    /// sent): the events they counted.
    pub(crate) fn discard_all(dir: &std::path::Path) -> std::io::Result<u64> {
        let book = CountsBook::new(Some(dir.to_path_buf()), Period::Day, Clock::system());
        if !dir.join(COUNTS_FILE).exists() {
            return Ok(0);
        }
        book.with_book(|book| {
            let events = book.open.iter().chain(&book.sealed).map(|u| u.events).sum();
            *book = Book::default();
            events
        })
    }

    /// Forgets the sealed `upload`: the collector took it, or refused it for good (then its
    /// events count as dropped).
    fn settle(&self, upload: &Upload, answer: Answer) -> std::io::Result<()> {
        self.with_book(|book| {
            book.sealed.retain(|u| u.upload_id != upload.upload_id);
            if matches!(answer, Answer::Refused(_)) {
                book.dropped += upload.events;
            }
        })
    }

    /// Forgets the sealed upload `upload_id`: the collector took it.
    #[cfg(test)]
    fn sent(&self, upload_id: &str) -> std::io::Result<()> {
        self.with_book(|book| book.sealed.retain(|u| u.upload_id != upload_id))
    }

    /// Sends every upload that is due (all when `all`: the counters cannot outlive this
    /// process), each once, within `deadline`; those that were not taken wait for next time.
    pub(crate) async fn send_due(
        &self,
        uploader: &Uploader,
        all: bool,
        deadline: Duration,
    ) -> SendReport {
        let mut report = SendReport::default();
        let until = tokio::time::Instant::now() + deadline;
        let Ok(_one_at_a_time) = tokio::time::timeout(deadline, self.sending.lock()).await else {
            return report;
        };
        let due = match self.due(all) {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "the counters cannot be read; nothing is uploaded now");
                return report;
            }
        };
        for upload in due {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let answer = if left.is_zero() {
                Answer::NotNow
            } else {
                tokio::time::timeout(left, uploader.send(&upload))
                    .await
                    .unwrap_or(Answer::NotNow)
            };
            match answer {
                Answer::Taken => report.sent += 1,
                Answer::NotNow => {
                    report.pending += 1;
                    continue;
                }
                Answer::Refused(status) => {
                    // Never taken by this endpoint (not a collector of counts, say): dropped and
                    // counted, rather than sent every hour for ever.
                    tracing::warn!(status, period = %upload.period_start, "counts-only mode: the endpoint refused an upload; its counts are dropped");
                    report.refused += 1;
                }
            }
            if let Err(e) = self.settle(&upload, answer) {
                tracing::warn!(error = %e, "an upload's answer cannot be kept; it is sent again and the collector keeps it once");
            }
        }
        report
    }
}

impl crate::egress::policy::Fold for CountsBook {
    fn fold(&self, body: &[u8]) -> u16 {
        match CountsBook::fold(self, body) {
            Ok(_) => 200,
            Err(e @ FoldError::NotABatch(_)) => {
                tracing::warn!(error = %e, "counts-only mode: a request that is not a batch was refused");
                400
            }
            Err(e) => {
                tracing::warn!(error = %e, "counts-only mode: the batch is kept to be folded later");
                503
            }
        }
    }
}

/// What [`CountsBook::send_due`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendReport {
    /// Uploads the collector took.
    pub(crate) sent: u64,
    /// Uploads that wait for a later run.
    pub(crate) pending: u64,
    /// Uploads the endpoint refused for good (a 4xx other than 408 and 429): dropped.
    pub(crate) refused: u64,
}

/// What became of one upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// A 2xx.
    Taken,
    /// No answer, a 5xx, 408 or 429, or debug mode: sent again later.
    NotNow,
    /// Another 4xx: the endpoint will never take it.
    Refused(u16),
}

/// Sends an upload to the endpoint, as a batch would go: the static headers, the capped
/// timeout, the ledger (or, in debug mode, the debug log).
pub(crate) struct Uploader {
    pub(crate) url: String,
    /// The static request headers (an API key, say): sent, never logged.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) debug_log: Option<Arc<PathBuf>>,
}

impl Uploader {
    /// What the endpoint made of `upload`.
    async fn send(&self, upload: &Upload) -> Answer {
        let Ok(body) = serde_json::to_vec(upload) else {
            return Answer::NotNow;
        };
        let mut request =
            http::Request::post(&self.url).header(http::header::CONTENT_TYPE, "application/json");
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let Ok(request) = request.body(capture::full_body(Bytes::from(body))) else {
            return Answer::NotNow;
        };
        let options = wasmtime_wasi_http::RequestOptions {
            connect_timeout: Some(self.timeout),
            first_byte_timeout: Some(self.timeout),
            between_bytes_timeout: Some(self.timeout),
        };
        // An upload a day at most: a connection of its own, closed after it.
        let sent = capture::send_recorded(
            request,
            Connections::new(self.timeout),
            options,
            self.timeout,
            self.ledger.clone(),
            self.debug_log.clone(),
            agent_telemetry_contract::config::Format::Native,
        )
        .await;
        match sent {
            // Debug mode answers 200 itself: what it captured is kept to be sent for real.
            Ok(_) if self.debug_log.is_some() => Answer::NotNow,
            Ok((response, _)) => {
                let status = response.status();
                if status.is_success() {
                    Answer::Taken
                } else if status.is_client_error() && !matches!(status.as_u16(), 408 | 429) {
                    Answer::Refused(status.as_u16())
                } else {
                    Answer::NotNow
                }
            }
            Err(_) => Answer::NotNow,
        }
    }
}

/// The first day (`YYYY-MM-DD`) of the `period` the RFC 3339 time `at` falls in.
fn period_start(period: Period, at: &str) -> Option<String> {
    let secs = humantime::parse_rfc3339_weak(at)
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs();
    let day = period.start((secs / 86_400) as i64);
    let start = UNIX_EPOCH + Duration::from_secs(u64::try_from(day).ok()? * 86_400);
    Some(rfc3339(start)[..10].to_string())
}

/// `time` as RFC 3339, UTC (a time before 1970 reads as 1970).
fn rfc3339(time: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(time.max(UNIX_EPOCH)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    const EVENT: &str = r#"{"event_id":"0190a0b0-0000-7000-8000-000000000001","occurred_at":"2026-11-02T10:00:00.000Z","schema_version":2,"source":"cli","environment":"production","installation_id":"install_0123456789abcdef","product":"agent","product_version":"1.0.0","os":"linux","arch":"x86_64","ci":false,"data":{"type":"tool_call","tool":"shell","duration_ms":120,"outcome":"success"}}"#;

    fn batch(events: usize) -> Vec<u8> {
        batch_with_id(events, &random_hex(4))
    }

    fn batch_with_id(events: usize, id: &str) -> Vec<u8> {
        let events: Vec<&str> = std::iter::repeat_n(EVENT, events).collect();
        format!(
            r#"{{"schema":"agent-telemetry/batch","schema_version":2,"batch_id":"{id}","sent_at":"2026-11-02T10:00:00Z","dropped_events":0,"events":[{}]}}"#,
            events.join(",")
        )
        .into_bytes()
    }

    #[test]
    fn a_batch_delivered_again_is_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let (book, _) = book(dir.path());
        book.fold(&batch_with_id(3, "same")).unwrap();
        assert_eq!(book.fold(&batch_with_id(3, "same")).unwrap(), 0);
        book.fold(&batch_with_id(2, "other")).unwrap();
        let due = book.due(true).unwrap();
        assert_eq!(due.iter().map(|u| u.events).sum::<u64>(), 5);
    }

    fn book(dir: &std::path::Path) -> (CountsBook, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(1_793_613_600)); // 2026-11-02T10:00:00Z
        let read = now.clone();
        let clock =
            Clock::from_fn(move || UNIX_EPOCH + Duration::from_secs(read.load(Ordering::SeqCst)));
        (
            CountsBook::new(Some(dir.to_path_buf()), Period::Day, clock),
            now,
        )
    }

    #[test]
    fn a_period_is_sealed_once_over_and_late_events_start_a_new_upload() {
        let dir = tempfile::tempdir().unwrap();
        let (book, now) = book(dir.path());
        assert_eq!(book.fold(&batch(3)).unwrap(), 3);
        assert!(book.due(false).unwrap().is_empty(), "the day is not over");
        now.fetch_add(86_400, Ordering::SeqCst);
        let due = book.due(false).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].events, due[0].counters[0].count), (3, 3));
        // A spooled batch of that day, folded after its upload was sealed.
        book.fold(&batch(2)).unwrap();
        let due = book.due(false).unwrap();
        assert_eq!(due.len(), 2);
        assert_ne!(due[0].upload_id, due[1].upload_id);
        assert_eq!(due.iter().map(|u| u.events).sum::<u64>(), 5);
        book.sent(&due[0].upload_id).unwrap();
        assert_eq!(book.due(false).unwrap(), [due[1].clone()]);
        assert!(book.fold(b"{\"not\":\"a batch\"}").is_err());
    }

    #[test]
    fn a_week_is_sealed_once_sunday_is_over() {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicU64::new(1_793_613_600)); // Monday 2026-11-02T10:00:00Z
        let read = now.clone();
        let clock =
            Clock::from_fn(move || UNIX_EPOCH + Duration::from_secs(read.load(Ordering::SeqCst)));
        let book = CountsBook::new(Some(dir.path().to_path_buf()), Period::Week, clock);
        book.fold(&batch(2)).unwrap();
        now.fetch_add(6 * 86_400, Ordering::SeqCst); // Sunday
        assert!(book.due(false).unwrap().is_empty());
        now.fetch_add(86_400, Ordering::SeqCst); // the next Monday
        let due = book.due(false).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].period.as_str(), due[0].period_start.as_str()),
            ("week", "2026-11-02")
        );
        assert_eq!(
            period_start(Period::Week, "2026-11-08T23:59:59.000Z").as_deref(),
            Some("2026-11-02")
        );
        assert_eq!(
            period_start(Period::Week, "2026-11-09T00:00:00.000Z").as_deref(),
            Some("2026-11-09")
        );
        assert_eq!(period_start(Period::Day, "not a time"), None);
    }

    #[test]
    fn a_counters_file_this_library_did_not_write_is_set_aside_never_sent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(COUNTS_FILE),
            r#"{"open":[],"sealed":[{"planted":1}]}"#,
        )
        .unwrap();
        let (book, _) = book(dir.path());
        assert!(book.due(true).unwrap().is_empty());
        assert!(dir.path().join(format!("{COUNTS_FILE}.invalid")).exists());
        book.fold(&batch(1)).unwrap();
        assert_eq!(book.due(true).unwrap().len(), 1);
    }
}
