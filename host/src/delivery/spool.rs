//! The spool: batches the component could not deliver, kept on disk until a collector takes
//! them (the next run, the next flush, or `agent-telemetry flush`).
//!
//! Each batch is one file, written to a temporary name and renamed into place, so a file in
//! the spool is always whole. Its name carries when it was written and how many events it
//! holds, so nothing here reads a batch's content: the component reads it once, when it sends
//! it, and a file that is not a whole batch anyway (a disk fault, a hand edit) is then set
//! aside as `.bad` with a warning and never sent. A sender claims a file by renaming it (only
//! one rename can win, so two processes or two stores never send the same file at once) and
//! removes it only after a 2xx; a failed attempt puts it back. A claim left behind by a
//! crashed process is put back after [`STALE_CLAIM`]. The spool is bounded by total bytes and
//! by age: the oldest batches go first, and every event in them is counted as dropped.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::trust::identity::random_hex;
use crate::trust::private_files::{
    check_private_dir, create_private_dir, read_private, replace_private, touch,
};

/// The spool's directory name in the identity directory.
pub const SPOOL_DIR: &str = "spool";
const READY: &str = "batch";
const CLAIMED: &str = "sending";
const BAD: &str = "bad";
const REFUSED: &str = "refused";
/// A claim older than this belongs to a process that is gone: a send takes at most the
/// request timeout (5 s by default, capped by the host).
pub(crate) const STALE_CLAIM: Duration = Duration::from_secs(120);

/// The bounds of a spool: past them the oldest batches go first, and every event in them is
/// counted as dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolLimits {
    /// Total bytes of the batches waiting (16 MiB by default).
    pub max_bytes: u64,
    /// How long a batch may wait (7 days by default).
    pub max_age: Duration,
    /// A file larger than any batch the component makes (16 MiB at most, and a little for
    /// the one event that always fits) is set aside unread.
    pub max_file_bytes: u64,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        SpoolLimits {
            max_bytes: 16 << 20,
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_file_bytes: (16 << 20) + (64 << 10),
        }
    }
}

/// What happened to spooled events, for status and the fault suite.
#[derive(Debug, Default)]
pub(crate) struct SpoolCounters {
    pub(crate) spooled_events: AtomicU64,
    pub(crate) delivered_events: AtomicU64,
    /// Evicted for the byte or age bound.
    pub(crate) dropped_events: AtomicU64,
    /// Refused by the collector (a 4xx): dropped too, but for another reason.
    pub(crate) refused_events: AtomicU64,
    pub(crate) bad_files: AtomicU64,
    /// Files whose content the component would not send (planted or altered): kept as
    /// `.refused`, never sent.
    pub(crate) refused_files: AtomicU64,
}

/// The batches waiting on disk in one identity directory (in its [`SPOOL_DIR`]) until a
/// collector takes them. A program can count what waits there and discard it; writing and
/// sending are the `Telemetry` handle's.
pub struct Spool {
    dir: PathBuf,
    limits: SpoolLimits,
    pub(crate) counters: SpoolCounters,
    /// Set once the directory was found untrustworthy (to warn once).
    refused_dir: std::sync::atomic::AtomicBool,
}

/// A batch this process has claimed; put back unless `delivered`, `discard` or `set_aside`
/// is called.
pub(crate) struct Claimed {
    path: PathBuf,
    ready: PathBuf,
    pub(crate) body: Vec<u8>,
    /// As its name says (the component counts again when it reads the batch).
    pub(crate) events: u64,
    /// Set once the batch is delivered, discarded or released; otherwise dropping the claim
    /// (an abandoned send) puts the batch back.
    settled: bool,
}

impl Drop for Claimed {
    fn drop(&mut self) {
        if !self.settled {
            let _ = fs::rename(&self.path, &self.ready);
        }
    }
}

impl Claimed {
    /// Which spooled batch this is (its file name when ready).
    pub(crate) fn id(&self) -> &Path {
        &self.ready
    }
}

impl Spool {
    /// The spool kept in `dir` (an identity directory's [`SPOOL_DIR`]), bounded by `limits`.
    /// Nothing is created until a batch is written.
    pub fn new(dir: PathBuf, limits: SpoolLimits) -> Spool {
        Spool {
            dir,
            limits,
            counters: SpoolCounters::default(),
            refused_dir: Default::default(),
        }
    }

    /// The spool's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one batch of `events` events (whole or not at all), then enforces the bounds;
    /// returns how many events that evicted.
    pub(crate) fn write(&self, body: &[u8], events: u64) -> std::io::Result<u64> {
        create_private_dir(&self.dir)?;
        check_private_dir(&self.dir).map_err(std::io::Error::other)?;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        // Names sort by time, so the oldest batch is sent (and evicted) first; they carry the
        // event count, so counting what waits never reads the files.
        let name = format!("{nanos:024}-{}-{events}e", random_hex(6));
        replace_private(&self.dir.join(format!("{name}.{READY}")), body)?;
        crate::counter::add(&self.counters.spooled_events, events);
        Ok(self.enforce_limits())
    }

    /// The ready batches, oldest first, with their sizes and times; stale claims are put
    /// back first.
    fn ready(&self) -> Vec<(PathBuf, u64, SystemTime)> {
        if !self.usable() {
            return Vec::new();
        }
        let list = |ext: &str| -> Vec<(PathBuf, fs::Metadata)> {
            self.files_named(&[ext])
                .into_iter()
                .filter_map(|path| {
                    let meta = fs::symlink_metadata(&path).ok()?;
                    Some((path, meta))
                })
                .collect()
        };
        for (path, meta) in list(CLAIMED) {
            self.recover_if_stale(&path, &meta);
        }
        let mut files: Vec<(PathBuf, u64, SystemTime)> = list(READY)
            .into_iter()
            .map(|(path, meta)| {
                // The name says when the batch was written; the mtime changes with each claim.
                let written = written_at(&path)
                    .or_else(|| meta.modified().ok())
                    .unwrap_or_else(SystemTime::now);
                (path, meta.len(), written)
            })
            .collect();
        files.sort();
        files
    }

    /// Whether the spool directory is this user's alone (or not there yet): one that is a
    /// link, or that others can write, is not read at all.
    fn usable(&self) -> bool {
        match check_private_dir(&self.dir) {
            Ok(()) => true,
            Err(why) => {
                if !self.refused_dir.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        why,
                        "the spool directory cannot be trusted; nothing in it is read or sent"
                    );
                }
                false
            }
        }
    }

    fn recover_if_stale(&self, path: &Path, meta: &fs::Metadata) {
        let age = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .unwrap_or_default();
        if age > STALE_CLAIM
            && let Some(ready) = ready_name(path)
        {
            let _ = fs::rename(path, ready);
        }
    }

    /// Evicts the oldest batches beyond the byte bound and every batch beyond the age bound;
    /// clears what crashed writers and old bad files left behind.
    pub(crate) fn enforce_limits(&self) -> u64 {
        self.clear_leftovers();
        let files = self.ready();
        let mut total: u64 = files
            .iter()
            .fold(0, |sum, (_, len, _)| sum.saturating_add(*len));
        let mut evicted: u64 = 0;
        for (path, len, modified) in files {
            let too_old = modified.elapsed().unwrap_or_default() > self.limits.max_age;
            if total <= self.limits.max_bytes && !too_old {
                continue;
            }
            let events = events_of(&path);
            match fs::remove_file(&path) {
                Ok(()) => {
                    evicted = evicted.saturating_add(events);
                    tracing::warn!(path = %path.display(), events, "spooled batch dropped: the spool is over its size or age bound");
                }
                // Another sender took or evicted it meanwhile: it no longer counts either way.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => continue,
            }
            total = total.saturating_sub(len);
        }
        crate::counter::add(&self.counters.dropped_events, evicted);
        evicted
    }

    /// Removes `.tmp` files older than a claim can live (a writer that died before its
    /// rename: never a whole batch) and `.bad` files past the age bound.
    fn clear_leftovers(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let limit = match path.extension().and_then(|x| x.to_str()) {
                Some("tmp") => STALE_CLAIM,
                Some(BAD | REFUSED) => self.limits.max_age,
                _ => continue,
            };
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .unwrap_or_default();
            if age > limit {
                let _ = fs::remove_file(&path);
            }
        }
    }

    /// Claims the oldest ready batch not in `skip` (files this sender already left alone).
    pub(crate) fn claim_next(&self, skip: &[PathBuf]) -> Option<Claimed> {
        for (ready, _, _) in self.ready() {
            if skip.contains(&ready) {
                continue;
            }
            let stem = ready.file_stem()?.to_string_lossy().into_owned();
            let tag = random_hex(4);
            let path = ready.with_file_name(format!("{stem}.{tag}.{CLAIMED}"));
            // Another sender got it first: try the next one.
            if fs::rename(&ready, &path).is_err() {
                continue;
            }
            // The claim's age is what tells a crashed sender's file from a live one.
            // A link or a FIFO is not touched here; it is set aside below.
            let _ = touch(&path);
            // Untrusted input: a link, a FIFO or an oversized file is set aside, not read.
            let read = read_private(&path, self.limits.max_file_bytes);
            let claimed = |body| Claimed {
                events: events_of(&ready),
                path: path.clone(),
                ready: ready.clone(),
                body,
                settled: false,
            };
            match read {
                Ok(Some(body)) => return Some(claimed(body)),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(path = %ready.display(), error = %e, "a spool file cannot be read as a batch");
                    self.set_aside(claimed(Vec::new()));
                }
            }
        }
        None
    }

    /// Removes every batch waiting here (`telemetry off`: what was recorded is never sent after
    /// the user said no), claimed ones included; returns how many events that discarded.
    pub fn discard_all(&self) -> u64 {
        if !self.usable() {
            return 0;
        }
        let mut discarded: u64 = 0;
        for path in self.files_named(&[READY, CLAIMED]) {
            let events = events_of(&path);
            if fs::remove_file(&path).is_ok() {
                discarded = discarded.saturating_add(events);
            }
        }
        discarded
    }

    /// Files set aside and never to be sent: `.bad` (unreadable, torn, a link or FIFO, too
    /// large) and `.refused` (holding what the component would not send). They are removed
    /// once past the age bound.
    pub fn set_aside_files(&self) -> u64 {
        if !self.usable() {
            return 0;
        }
        self.files_named(&[BAD, REFUSED]).len() as u64
    }

    /// The files here whose extension is one of `extensions`.
    fn files_named(&self, extensions: &[&str]) -> Vec<PathBuf> {
        fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| extensions.contains(&x))
            })
            .collect()
    }

    /// Events not delivered yet: in ready batches, and in batches a sender (in this process or
    /// another) has claimed and not yet finished with.
    pub fn pending_events(&self) -> u64 {
        if !self.usable() {
            return 0;
        }
        // Ready first: listing them puts stale claims back, so none is counted twice.
        let ready = self.ready();
        ready
            .into_iter()
            .map(|(path, _, _)| path)
            .chain(self.files_named(&[CLAIMED]))
            .map(|p| events_of(&p))
            .fold(0, u64::saturating_add)
    }

    pub(crate) fn delivered(&self, mut claimed: Claimed) {
        claimed.settled = true;
        crate::counter::add(&self.counters.delivered_events, claimed.events);
        let _ = fs::remove_file(&claimed.path);
    }

    /// The collector refused it (a 4xx): sending it again would not help.
    pub(crate) fn discard(&self, mut claimed: Claimed) {
        claimed.settled = true;
        tracing::warn!(
            events = claimed.events,
            "the collector refused a spooled batch; dropped"
        );
        crate::counter::add(&self.counters.refused_events, claimed.events);
        let _ = fs::remove_file(&claimed.path);
    }

    /// Sent in part: `rest` (a batch of the `events` still to go) is spooled in its place,
    /// in the same place in the order.
    pub(crate) fn keep_rest(&self, mut claimed: Claimed, rest: &[u8], events: u64) {
        let delivered = claimed.events.saturating_sub(events);
        let prefix = claimed
            .ready
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('-').next())
            .unwrap_or("0")
            .to_string();
        let name = format!("{prefix}-{}-{events}e.{READY}", random_hex(6));
        if let Err(e) = replace_private(&self.dir.join(name), rest) {
            // The whole batch goes back instead: some of it will be sent again.
            tracing::warn!(error = %e, "cannot spool what is left of a batch sent in part; it is kept whole");
            return;
        }
        claimed.settled = true;
        crate::counter::add(&self.counters.delivered_events, delivered);
        let _ = fs::remove_file(&claimed.path);
    }

    /// Not delivered this time: back in the spool for a later attempt.
    pub(crate) fn release(&self, claimed: Claimed) {
        // Dropping an unsettled claim puts the batch back.
        drop(claimed);
    }

    /// It holds what the component would not send (`why` says where): kept as `.refused` for
    /// whoever wants to look, never sent.
    pub(crate) fn refuse(&self, mut claimed: Claimed, why: &str) {
        claimed.settled = true;
        let refused = claimed.ready.with_extension(REFUSED);
        tracing::warn!(path = %refused.display(), why, "a spool file holds what telemetry does not send (planted or altered); set aside, not sent");
        let _ = fs::rename(&claimed.path, &refused);
        self.counters.refused_files.fetch_add(1, Ordering::Relaxed);
    }

    /// Not a whole batch: kept as `.bad` for whoever wants to look, never sent.
    pub(crate) fn set_aside(&self, mut claimed: Claimed) {
        claimed.settled = true;
        let bad = claimed.ready.with_extension(BAD);
        tracing::warn!(path = %bad.display(), "a spool file is not a whole batch; set aside, not sent");
        let _ = fs::rename(&claimed.path, &bad);
        self.counters.bad_files.fetch_add(1, Ordering::Relaxed);
    }
}

/// When a spool file was written, from its name (`<nanos since the epoch>-<tag>.…`).
fn written_at(path: &Path) -> Option<SystemTime> {
    let name = path.file_name()?.to_str()?;
    let nanos: u64 = name.split(['-', '.']).next()?.parse().ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// Events in a spool file: from its name (`<nanos>-<tag>-<events>e.…`), or, for a file named
/// otherwise, from its content.
fn events_of(path: &Path) -> u64 {
    let from_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .filter(|stem| stem.split('-').count() == 3)
        .and_then(|stem| stem.rsplit('-').next())
        .and_then(|last| last.strip_suffix('e'))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        // A planted name cannot make the count overflow: it saturates.
        .map(|n| n.parse().unwrap_or(u64::MAX));
    from_name
        .or_else(|| {
            read_private(path, READ_TO_COUNT_MAX_BYTES)
                .ok()
                .flatten()
                .and_then(|b| event_count(&b))
        })
        .unwrap_or(0)
}

/// The most of a file named otherwise that is read to count its events.
const READ_TO_COUNT_MAX_BYTES: u64 = 16 << 20;

/// `<stem>.<tag>.sending` → `<stem>.batch`.
fn ready_name(claimed: &Path) -> Option<PathBuf> {
    let name = claimed.file_name()?.to_str()?;
    let stem = name.split('.').next()?;
    Some(claimed.with_file_name(format!("{stem}.{READY}")))
}

/// How many events a batch body holds, if it is a batch: for files not named by a spool.
fn event_count(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Count {
        events: Vec<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Count>(body)
        .ok()
        .map(|c| c.events.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize, tag: &str) -> Vec<u8> {
        let events: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"event_id":"{tag}-{i}","occurred_at":"2026-01-01T00:00:00.000Z","schema_version":1,"source":"t","environment":"t","installation_id":"install_0123456789abcdef","product":"t","product_version":"1","os":"linux","arch":"x86_64","ci":false,"data":{{"type":"server","state":"started"}}}}"#
                )
            })
            .collect();
        format!(
            r#"{{"schema":"agent-telemetry/batch","schema_version":1,"batch_id":"{tag}","sent_at":"2026-01-01T00:00:00.000Z","dropped_events":0,"events":[{}]}}"#,
            events.join(",")
        )
        .into_bytes()
    }

    /// A spool in a fresh temporary directory (not created until something is written).
    pub(super) fn spool(limits: SpoolLimits) -> Spool {
        let dir = std::env::temp_dir().join(format!("agent-telemetry-spool-{}", random_hex(6)));
        Spool::new(dir, limits)
    }

    #[test]
    fn a_batch_leaves_the_spool_only_when_delivered_oldest_first() {
        let spool = spool(SpoolLimits::default());
        spool.write(&batch(2, "first"), 2).unwrap();
        spool.write(&batch(3, "second"), 3).unwrap();
        assert_eq!(spool.pending_events(), 5);
        let claimed = spool.claim_next(&[]).unwrap();
        assert_eq!(claimed.body, batch(2, "first"));
        // While claimed, no one else gets it.
        let other = spool.claim_next(&[]).unwrap();
        assert_eq!(other.events, 3);
        assert!(spool.claim_next(&[]).is_none());
        assert_eq!(
            spool.pending_events(),
            5,
            "claimed batches are still pending"
        );
        spool.release(claimed);
        spool.release(other);
        assert_eq!(spool.pending_events(), 5, "a failed attempt loses nothing");
        let first = spool.claim_next(&[]).unwrap();
        spool.delivered(first);
        let second = spool.claim_next(&[]).unwrap();
        spool.discard(second);
        assert_eq!(spool.pending_events(), 0);
        assert_eq!(spool.counters.delivered_events.load(Ordering::Relaxed), 2);
        assert_eq!(spool.counters.refused_events.load(Ordering::Relaxed), 3);
        assert_eq!(spool.counters.dropped_events.load(Ordering::Relaxed), 0);
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn a_file_set_aside_is_kept_as_bad_and_never_claimed_again() {
        let spool = spool(SpoolLimits::default());
        spool.write(&batch(1, "whole"), 1).unwrap();
        let torn = batch(4, "torn");
        create_private_dir(spool.dir()).unwrap();
        fs::write(spool.dir().join("0.batch"), &torn[..torn.len() / 2]).unwrap();
        // The spool does not read batches; the component finds this one torn when it is sent.
        let first = spool.claim_next(&[]).unwrap();
        assert_eq!(first.body, &torn[..torn.len() / 2]);
        spool.set_aside(first);
        let claimed = spool.claim_next(&[]).unwrap();
        assert_eq!(claimed.body, batch(1, "whole"));
        assert!(spool.claim_next(&[]).is_none());
        assert_eq!(spool.counters.bad_files.load(Ordering::Relaxed), 1);
        assert!(spool.dir().join("0.bad").exists());
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn the_oldest_batches_are_dropped_and_counted_beyond_the_byte_bound() {
        let one = batch(10, "b0").len() as u64;
        let spool = spool(SpoolLimits {
            max_bytes: one * 3,
            ..SpoolLimits::default()
        });
        for i in 0..5 {
            spool.write(&batch(10, &format!("b{i}")), 10).unwrap();
        }
        assert_eq!(spool.pending_events(), 30);
        assert_eq!(spool.counters.dropped_events.load(Ordering::Relaxed), 20);
        let kept = spool.claim_next(&[]).unwrap();
        assert_eq!(kept.body, batch(10, "b2"), "the newest are kept");
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn batches_past_the_age_bound_are_dropped_and_counted() {
        let spool = spool(SpoolLimits {
            max_age: Duration::from_secs(3600),
            ..SpoolLimits::default()
        });
        spool.write(&batch(2, "old"), 2).unwrap();
        let written = spool.ready()[0].0.clone();
        let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
        let nanos = two_hours_ago
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        // Its name says it was written two hours ago (a claim would have touched its mtime).
        fs::rename(
            &written,
            spool.dir().join(format!("{nanos:024}-aaaaaa.batch")),
        )
        .unwrap();
        spool.write(&batch(1, "new"), 1).unwrap();
        assert_eq!(spool.pending_events(), 1);
        assert_eq!(spool.counters.dropped_events.load(Ordering::Relaxed), 2);
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn concurrent_senders_never_claim_the_same_batch_and_stale_claims_come_back() {
        let spool = std::sync::Arc::new(spool(SpoolLimits::default()));
        for i in 0..40 {
            spool.write(&batch(1, &format!("c{i}")), 1).unwrap();
        }
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let spool = spool.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Some(c) = spool.claim_next(&[]) {
                        got.push(c.body.clone());
                        spool.delivered(c);
                    }
                    got
                })
            })
            .collect();
        let mut all: Vec<Vec<u8>> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        all.sort();
        let before = all.len();
        all.dedup();
        assert_eq!(
            (before, all.len()),
            (40, 40),
            "each batch sent exactly once"
        );

        spool.write(&batch(1, "stale"), 1).unwrap();
        let claimed = spool.claim_next(&[]).unwrap();
        let file = fs::File::options()
            .append(true)
            .open(&claimed.path)
            .unwrap();
        file.set_modified(SystemTime::now() - STALE_CLAIM * 2)
            .unwrap();
        std::mem::forget(claimed);
        let recovered = spool
            .claim_next(&[])
            .expect("a crashed sender's claim is recovered");
        assert_eq!(recovered.body, batch(1, "stale"));
        // A live claim is not taken over.
        assert!(spool.claim_next(&[]).is_none());
        fs::remove_dir_all(spool.dir()).unwrap();
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn an_abandoned_claim_puts_the_batch_back_and_a_skipped_one_is_left_alone() {
        let spool = super::tests::spool(SpoolLimits::default());
        let dir = spool.dir().to_path_buf();
        let body = br#"{"schema":"agent-telemetry/batch","schema_version":1,"batch_id":"b","sent_at":"t","dropped_events":0,"events":[]}"#;
        spool.write(body, 0).unwrap();
        drop(spool.claim_next(&[]).unwrap());
        let again = spool.claim_next(&[]).expect("dropping a claim releases it");
        spool.delivered(again);
        // A batch of another schema version is put back, and skipped for the rest of a flush.
        let newer = br#"{"schema":"agent-telemetry/batch","schema_version":99,"events":[]}"#;
        fs::write(dir.join("1-newer.batch"), newer).unwrap();
        let claimed = spool.claim_next(&[]).unwrap();
        let skip = vec![claimed.id().to_path_buf()];
        spool.release(claimed);
        assert!(spool.claim_next(&skip).is_none());
        assert!(
            dir.join("1-newer.batch").exists(),
            "left for a build that reads it"
        );
        assert_eq!(spool.counters.bad_files.load(Ordering::Relaxed), 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_waits_is_counted_from_the_names_without_reading_the_files() {
        let spool = super::tests::spool(SpoolLimits::default());
        let dir = spool.dir().to_path_buf();
        let body = br#"{"schema":"agent-telemetry/batch","schema_version":1,"batch_id":"b","sent_at":"t","dropped_events":0,"events":[{},{},{}]}"#;
        spool.write(body, 3).unwrap();
        let written = spool.ready()[0].0.clone();
        assert_eq!(events_of(&written), 3);
        // Emptied behind the spool's back, it still counts by its name.
        fs::write(&written, b"").unwrap();
        assert_eq!(spool.pending_events(), 3);
        // A file named otherwise is counted from its content.
        fs::write(dir.join("1-other.batch"), body).unwrap();
        assert_eq!(spool.pending_events(), 6);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_crashed_writers_temporary_file_is_cleared_but_a_fresh_one_is_not() {
        let spool = super::tests::spool(SpoolLimits::default());
        let dir = spool.dir().to_path_buf();
        create_private_dir(&dir).unwrap();
        let (old, fresh) = (dir.join("1-old.tmp"), dir.join("2-fresh.tmp"));
        fs::write(&old, b"{\"schema\":").unwrap();
        fs::write(&fresh, b"{\"schema\":").unwrap();
        let file = fs::File::options().append(true).open(&old).unwrap();
        file.set_modified(SystemTime::now() - STALE_CLAIM * 2)
            .unwrap();
        spool.enforce_limits();
        assert!(!old.exists() && fresh.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
