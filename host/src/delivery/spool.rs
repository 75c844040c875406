//! The spool: batches the component could not deliver, kept on disk until a collector takes
//! them (the next run, the next flush, or `agent-telemetry flush`).
//!
//! Each file is written to a temporary name, synced and renamed into place, so a file in the
//! spool is always whole. A file holds one batch (`.batch`), or, when a flush moves several
//! at once, a group of them (`.batches`, [`GROUP_HEADER`] then each batch as `<events>
//! <bytes>\n` and its bytes), so that they cost one `fsync` instead of one each; a group is
//! sent batch by batch, and what is left of it when a send fails or stops is written back in
//! its place. An older build that shares the directory reads only `.batch` files and leaves
//! groups alone. A file's name carries when it was written and how many events it holds, so
//! nothing here reads a batch's content: the component reads it once, when it sends it, and
//! a file that is not a whole batch anyway (a disk fault, a hand edit) is then set aside as
//! `.bad` with a warning and never sent. A sender claims a file by renaming it (only
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
/// A group of batches written under one `fsync`, and the same claimed.
const GROUP: &str = "batches";
const GROUP_CLAIMED: &str = "sending-batches";
/// How a group file starts (its format's version is the last word).
pub(crate) const GROUP_HEADER: &[u8] = b"agent-telemetry spool group 1\n";
/// The most bytes of one group file, framing included: a group is evicted whole at the
/// spool's byte bound, so it stays a small part of it (at most 1/[`GROUPS_IN_A_SPOOL`]).
const GROUP_MAX_BYTES: usize = 1 << 20;
const GROUPS_IN_A_SPOOL: u64 = 16;
/// The most batches a group file is read as (a real batch is far larger than the 1 MiB
/// bound's share of this): a planted file of empty entries is set aside whole.
const GROUP_MAX_BATCHES: usize = 1 << 16;
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

/// One batch read from the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spooled {
    pub(crate) body: Vec<u8>,
    /// As the file says (the component counts again when it reads the batch).
    pub(crate) events: u64,
}

/// A spool file this process has claimed: one batch, or a group of them sent one at a time.
/// Each batch is settled in turn (delivered, discarded, set aside); whatever is not settled
/// when the claim is released or dropped (an abandoned send) goes back to the spool.
pub(crate) struct Claimed {
    path: PathBuf,
    ready: PathBuf,
    /// The batches the file holds, in order; those before `next` are settled.
    batches: Vec<Spooled>,
    next: usize,
    /// A batch was replaced by what is left of it: the file no longer says what is left.
    altered: bool,
    /// Every batch is settled, or what is left went back to the spool.
    settled: bool,
}

impl Drop for Claimed {
    fn drop(&mut self) {
        if !self.settled {
            self.put_back();
        }
    }
}

impl Claimed {
    /// Where the file stands in the spool's order (the start of its name, which what is left
    /// of it keeps): the same for every attempt at what it holds.
    pub(crate) fn position(&self) -> &str {
        position(&self.ready)
    }

    /// The batch to send now.
    pub(crate) fn batch(&self) -> &Spooled {
        &self.batches[self.next]
    }

    pub(crate) fn batch_mut(&mut self) -> &mut Spooled {
        &mut self.batches[self.next]
    }

    /// Events in the batches not settled yet.
    pub(crate) fn events_left(&self) -> u64 {
        self.batches[self.next..]
            .iter()
            .fold(0, |sum, b| sum.saturating_add(b.events))
    }

    /// Whether every batch in the file is settled (and the file gone).
    pub(crate) fn done(&self) -> bool {
        self.settled
    }

    /// The batch now is settled: on to the next, or, after the last, the file is removed.
    fn advance(&mut self) {
        self.next += 1;
        if self.next == self.batches.len() {
            self.settled = true;
            let _ = fs::remove_file(&self.path);
        }
    }

    /// The batches not settled yet, with their events.
    fn left(&self) -> Vec<(&[u8], u64)> {
        self.batches[self.next..]
            .iter()
            .map(|b| (b.body.as_slice(), b.events))
            .collect()
    }

    /// Whether the file is still this sender's, checked before each batch after the first: a
    /// claim gone from under it was discarded (`telemetry off`, `forget`) or taken back by
    /// another process after a stall, and what is left of it is then not this sender's to
    /// send or put back. The check touches the claim, so one sent batch by batch never
    /// looks abandoned.
    fn still_ours(&mut self) -> bool {
        match touch(&self.path) {
            Ok(()) => true,
            // Gone: settled here, the file is someone else's (or nobody's) now.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.settled = true;
                false
            }
            // Still there but not touched (a read-only or failing disk): still this sender's.
            // Dropping it here would let it go stale and be sent again whole.
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot renew a spool file's claim; sending on");
                true
            }
        }
    }

    /// Puts what is not settled back in the spool, in the same place in the order: the file
    /// itself when none of it was, otherwise what is left. Returns the ready file's path, or
    /// `None` when the claim was gone (discarded meanwhile: nothing goes back).
    fn put_back(&mut self) -> Option<PathBuf> {
        self.settled = true;
        if self.next == 0 && !self.altered {
            return fs::rename(&self.path, &self.ready)
                .is_ok()
                .then(|| self.ready.clone());
        }
        let dir = self.ready.parent().unwrap_or(Path::new("."));
        let left = self.left();
        // What is left is written under a claim of its own, and only then is the claimed
        // file removed: a crash in between leaves both, and the collector keeps each event
        // once. A claimed file already gone was discarded meanwhile, and so is what is left.
        let rest = match write_file(dir, position(&self.ready), &left, Some(&random_hex(4))) {
            Ok(rest) => rest,
            Err(e) => {
                // The whole file goes back instead: what was sent of it will be sent again
                // (the collector keeps each event id once).
                tracing::warn!(error = %e, "cannot spool what is left of a claimed spool file; it is kept whole");
                return fs::rename(&self.path, &self.ready)
                    .is_ok()
                    .then(|| self.ready.clone());
            }
        };
        if fs::remove_file(&self.path).is_err() {
            let _ = fs::remove_file(&rest);
            return None;
        }
        let ready = ready_name(&rest)?;
        fs::rename(&rest, &ready).is_ok().then_some(ready)
    }

    /// Moves the batch now out of the way as `extension` (`.bad`, `.refused`), with the rest
    /// of its file: a group this build wrote holds nothing of the kind, so one that does was
    /// altered, and what is left of it is set aside too, as one file. Returns where it went, or
    /// `None` when the claim was gone (discarded meanwhile, or taken back): nothing of it is
    /// then written again.
    fn move_aside(&mut self, extension: &str) -> Option<PathBuf> {
        self.settled = true;
        let to = self.ready.with_extension(extension);
        if self.next == 0 && !self.altered {
            return fs::rename(&self.path, &to).is_ok().then_some(to);
        }
        let left = self.left();
        if let Err(e) = replace_private(&to, &content_of(&left)) {
            tracing::warn!(path = %to.display(), error = %e, "cannot keep a batch set aside; it is removed");
        }
        // As in `put_back`: the copy is written first, and taken away again if the claimed
        // file is gone (discarded or taken back meanwhile).
        if fs::remove_file(&self.path).is_err() {
            let _ = fs::remove_file(&to);
            return None;
        }
        Some(to)
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

    /// Writes `batches` (bodies and their events), in order and each whole or not at all,
    /// several to a file under one `fsync` ([`GROUP_MAX_BYTES`] of them at most), then
    /// enforces the bounds; returns how many events that evicted. On an error, says how many
    /// of the batches were written before it, and how many events enforcing the bounds on
    /// those evicted.
    pub(crate) fn write_all(
        &self,
        batches: &[(&[u8], u64)],
    ) -> Result<u64, (usize, u64, std::io::Error)> {
        if batches.is_empty() {
            return Ok(0);
        }
        create_private_dir(&self.dir).map_err(|e| (0, 0, e))?;
        check_private_dir(&self.dir).map_err(|e| (0, 0, std::io::Error::other(e)))?;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        // A group is evicted whole at the byte bound: it stays a small part of the spool.
        let most = GROUP_MAX_BYTES
            .min(usize::try_from(self.limits.max_file_bytes).unwrap_or(usize::MAX))
            .min(usize::try_from(self.limits.max_bytes / GROUPS_IN_A_SPOOL).unwrap_or(usize::MAX));
        let mut written = 0;
        // Names sort by time (one nanosecond apart here), so the oldest batch is sent (and
        // evicted) first; they carry the event count, so counting what waits never reads the
        // files.
        for (n, file) in files_of(batches, most).into_iter().enumerate() {
            let position = format!("{:024}", nanos + n as u128);
            if let Err(e) = write_file(&self.dir, &position, file, None) {
                return Err((written, self.enforce_limits(), e));
            }
            written += file.len();
            let events = file
                .iter()
                .fold(0, |sum: u64, (_, e)| sum.saturating_add(*e));
            crate::counter::add(&self.counters.spooled_events, events);
        }
        Ok(self.enforce_limits())
    }

    /// Writes one batch of `events` events (whole or not at all), then enforces the bounds;
    /// returns how many events that evicted.
    #[cfg(test)]
    pub(crate) fn write(&self, body: &[u8], events: u64) -> std::io::Result<u64> {
        self.write_all(&[(body, events)]).map_err(|(_, _, e)| e)
    }

    /// The ready files (batches and groups), oldest first, with their sizes and times; stale
    /// claims are put back first.
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
        for (path, meta) in list(CLAIMED).into_iter().chain(list(GROUP_CLAIMED)) {
            self.recover_if_stale(&path, &meta);
        }
        let mut files: Vec<(PathBuf, u64, SystemTime)> = list(READY)
            .into_iter()
            .chain(list(GROUP))
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

    /// Claims the oldest ready file not in `skip` (files this sender already left alone).
    pub(crate) fn claim_next(&self, skip: &[PathBuf]) -> Option<Claimed> {
        for (ready, _, _) in self.ready() {
            if skip.contains(&ready) {
                continue;
            }
            let group = ready.extension().is_some_and(|x| x == GROUP);
            let stem = ready.file_stem()?.to_string_lossy().into_owned();
            let tag = random_hex(4);
            let claimed = if group { GROUP_CLAIMED } else { CLAIMED };
            let path = ready.with_file_name(format!("{stem}.{tag}.{claimed}"));
            // Another sender got it first: try the next one.
            if fs::rename(&ready, &path).is_err() {
                continue;
            }
            // The claim's age is what tells a crashed sender's file from a live one.
            // A link or a FIFO is not touched here; it is set aside below.
            let _ = touch(&path);
            // Untrusted input: a link, a FIFO, an oversized file or a group that does not
            // parse is set aside, not read.
            let bound = if group {
                // A group is written within GROUP_MAX_BYTES; what is left of one, with a
                // batch replaced by what is left of it, a little more at most. Not this
                // process's own file bound: another process sharing the spool may have
                // written it under larger limits.
                GROUP_MAX_BYTES as u64 + (64 << 10)
            } else {
                self.limits.max_file_bytes
            };
            let read = read_private(&path, bound);
            let mut claimed = Claimed {
                path: path.clone(),
                ready: ready.clone(),
                batches: Vec::new(),
                next: 0,
                altered: false,
                settled: false,
            };
            let batches = match read {
                Ok(Some(content)) if group => parse_group(&content).ok_or_else(|| {
                    std::io::Error::other("not a group of batches as a spool writes one")
                }),
                Ok(Some(body)) => Ok(vec![Spooled {
                    events: events_of(&ready),
                    body,
                }]),
                // Gone since the rename (another process discarded the spool).
                Ok(None) => {
                    claimed.settled = true;
                    continue;
                }
                Err(e) => Err(e),
            };
            match batches {
                Ok(batches) => {
                    claimed.batches = batches;
                    return Some(claimed);
                }
                Err(e) => {
                    tracing::warn!(path = %ready.display(), error = %e, "a spool file cannot be read as a batch");
                    claimed.batches.push(Spooled {
                        events: events_of(&ready),
                        body: Vec::new(),
                    });
                    self.set_aside(&mut claimed);
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
        for path in self.files_named(&[READY, CLAIMED, GROUP, GROUP_CLAIMED]) {
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
            .chain(self.files_named(&[CLAIMED, GROUP_CLAIMED]))
            .map(|p| events_of(&p))
            .fold(0, u64::saturating_add)
    }

    /// The batch now was delivered.
    pub(crate) fn delivered(&self, claimed: &mut Claimed) {
        crate::counter::add(&self.counters.delivered_events, claimed.batch().events);
        claimed.advance();
    }

    /// The collector refused the batch now (a 4xx): sending it again would not help.
    pub(crate) fn discard(&self, claimed: &mut Claimed) {
        let events = claimed.batch().events;
        tracing::warn!(events, "the collector refused a spooled batch; dropped");
        crate::counter::add(&self.counters.refused_events, events);
        claimed.advance();
    }

    /// The batch now was sent in part: `rest` (a batch of the `events` still to go) takes its
    /// place, and what is left of the file goes back to the spool, in the same place in the
    /// order. Returns where it waits (`None`: the claim was discarded meanwhile, and so is
    /// what is left).
    pub(crate) fn keep_rest(
        &self,
        mut claimed: Claimed,
        rest: Vec<u8>,
        events: u64,
    ) -> Option<PathBuf> {
        let delivered = claimed.batch().events.saturating_sub(events);
        crate::counter::add(&self.counters.delivered_events, delivered);
        *claimed.batch_mut() = Spooled { body: rest, events };
        claimed.altered = true;
        self.release(claimed)
    }

    /// Not delivered this time: what is left of the file goes back to the spool for a later
    /// attempt. Returns where it waits (`None`: the claim was discarded meanwhile, and so is
    /// what is left).
    pub(crate) fn release(&self, mut claimed: Claimed) -> Option<PathBuf> {
        claimed.put_back()
    }

    /// A file being sent batch by batch, before its next batch: `None` if the claim is gone
    /// (discarded by `telemetry off` or `forget`, or taken back after a stall), and with it
    /// what is left of the file.
    pub(crate) fn resume(&self, mut claimed: Claimed) -> Option<Claimed> {
        if claimed.still_ours() {
            return Some(claimed);
        }
        tracing::info!(
            events = claimed.events_left(),
            "a spool file was taken away while it was sent (discarded, or taken back after a stall); what is left of it is not sent from here"
        );
        None
    }

    /// The batch now holds what the component would not send (`why` says where): kept as
    /// `.refused` for whoever wants to look, never sent.
    pub(crate) fn refuse(&self, claimed: &mut Claimed, why: &str) {
        if let Some(refused) = claimed.move_aside(REFUSED) {
            tracing::warn!(path = %refused.display(), why, "a spool file holds what telemetry does not send (planted or altered); set aside, not sent");
            self.counters.refused_files.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The batch now is not a whole batch: kept as `.bad` for whoever wants to look, never
    /// sent.
    pub(crate) fn set_aside(&self, claimed: &mut Claimed) {
        if let Some(bad) = claimed.move_aside(BAD) {
            tracing::warn!(path = %bad.display(), "a spool file is not a whole batch; set aside, not sent");
            self.counters.bad_files.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The most a batch's line in a group takes: two numbers of at most 20 digits, a space and
/// a newline.
const GROUP_LINE_MAX: usize = 42;

/// `batches` cut into the spool files they are written as, in order: as many to a group as
/// fit in `most` bytes, framing included (a batch too large for a group alone, as a batch
/// file).
fn files_of<'a, 'b>(batches: &'a [(&'b [u8], u64)], most: usize) -> Vec<&'a [(&'b [u8], u64)]> {
    let mut files = Vec::new();
    let mut start = 0;
    let mut bytes = GROUP_HEADER.len();
    for (i, (body, _)) in batches.iter().enumerate() {
        let framed = body.len().saturating_add(GROUP_LINE_MAX);
        if i > start && bytes.saturating_add(framed) > most {
            files.push(&batches[start..i]);
            (start, bytes) = (i, GROUP_HEADER.len());
        }
        bytes = bytes.saturating_add(framed);
    }
    files.push(&batches[start..]);
    files
}

/// Writes `batches` as one spool file in `dir` at `position` (the start of its name): a
/// batch file for one, a group for several, synced once; ready to send, or already claimed
/// as `claimed_as` (a claim's tag). Returns its path.
fn write_file(
    dir: &Path,
    position: &str,
    batches: &[(&[u8], u64)],
    claimed_as: Option<&str>,
) -> std::io::Result<PathBuf> {
    let events = batches
        .iter()
        .fold(0, |sum: u64, (_, e)| sum.saturating_add(*e));
    let name = format!("{position}-{}-{events}e", random_hex(6));
    let (extension, claimed) = match batches {
        [_] => (READY, CLAIMED),
        _ => (GROUP, GROUP_CLAIMED),
    };
    let path = match claimed_as {
        Some(tag) => dir.join(format!("{name}.{tag}.{claimed}")),
        None => dir.join(format!("{name}.{extension}")),
    };
    replace_private(&path, &content_of(batches))?;
    Ok(path)
}

/// What a spool file holding `batches` holds: the batch itself for one, a group for several.
fn content_of<'a>(batches: &[(&'a [u8], u64)]) -> std::borrow::Cow<'a, [u8]> {
    match batches {
        [(body, _)] => std::borrow::Cow::Borrowed(body),
        _ => std::borrow::Cow::Owned(group_of(batches)),
    }
}

/// The content of a group file holding `batches`.
fn group_of(batches: &[(&[u8], u64)]) -> Vec<u8> {
    let bytes = batches.iter().map(|(b, _)| b.len() + 32).sum::<usize>();
    let mut content = Vec::with_capacity(GROUP_HEADER.len() + bytes);
    content.extend_from_slice(GROUP_HEADER);
    for (body, events) in batches {
        content.extend_from_slice(format!("{events} {}\n", body.len()).as_bytes());
        content.extend_from_slice(body);
    }
    content
}

/// The batches of a group file, or `None` if `content` is not one (untrusted: a torn write,
/// a hand edit, a newer build's format).
fn parse_group(content: &[u8]) -> Option<Vec<Spooled>> {
    let mut rest = content.strip_prefix(GROUP_HEADER)?;
    let mut batches = Vec::new();
    while !rest.is_empty() {
        // `<events> <bytes>\n`: two numbers of at most 20 digits.
        let end = rest.iter().take(GROUP_LINE_MAX).position(|&b| b == b'\n')?;
        let (events, len) = std::str::from_utf8(&rest[..end]).ok()?.split_once(' ')?;
        let number = |n: &str| {
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse::<u64>().ok())?
        };
        let (events, len) = (number(events)?, usize::try_from(number(len)?).ok()?);
        if len == 0 || batches.len() == GROUP_MAX_BATCHES {
            return None;
        }
        let body = rest.get(end + 1..)?.get(..len)?;
        batches.push(Spooled {
            body: body.to_vec(),
            events,
        });
        rest = &rest[end + 1 + len..];
    }
    (!batches.is_empty()).then_some(batches)
}

/// The start of a spool file's name: when it was written, which orders the spool.
fn position(ready: &Path) -> &str {
    ready
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split(['-', '.']).next())
        .unwrap_or("0")
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

/// `<stem>.<tag>.sending` → `<stem>.batch`, `<stem>.<tag>.sending-batches` → `<stem>.batches`.
fn ready_name(claimed: &Path) -> Option<PathBuf> {
    let name = claimed.file_name()?.to_str()?;
    let stem = name.split('.').next()?;
    let ready = if name.ends_with(GROUP_CLAIMED) {
        GROUP
    } else {
        READY
    };
    Some(claimed.with_file_name(format!("{stem}.{ready}")))
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
        assert_eq!(claimed.batch().body, batch(2, "first"));
        // While claimed, no one else gets it.
        let other = spool.claim_next(&[]).unwrap();
        assert_eq!(other.batch().events, 3);
        assert!(spool.claim_next(&[]).is_none());
        assert_eq!(
            spool.pending_events(),
            5,
            "claimed batches are still pending"
        );
        spool.release(claimed);
        spool.release(other);
        assert_eq!(spool.pending_events(), 5, "a failed attempt loses nothing");
        let mut first = spool.claim_next(&[]).unwrap();
        spool.delivered(&mut first);
        assert!(first.done());
        let mut second = spool.claim_next(&[]).unwrap();
        spool.discard(&mut second);
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
        let mut first = spool.claim_next(&[]).unwrap();
        assert_eq!(first.batch().body, &torn[..torn.len() / 2]);
        spool.set_aside(&mut first);
        let claimed = spool.claim_next(&[]).unwrap();
        assert_eq!(claimed.batch().body, batch(1, "whole"));
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
        assert_eq!(kept.batch().body, batch(10, "b2"), "the newest are kept");
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
                    while let Some(mut c) = spool.claim_next(&[]) {
                        got.push(c.batch().body.clone());
                        spool.delivered(&mut c);
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
        assert_eq!(recovered.batch().body, batch(1, "stale"));
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
        let mut again = spool.claim_next(&[]).expect("dropping a claim releases it");
        spool.delivered(&mut again);
        // A batch of another schema version is put back, and skipped for the rest of a flush.
        let newer = br#"{"schema":"agent-telemetry/batch","schema_version":99,"events":[]}"#;
        fs::write(dir.join("1-newer.batch"), newer).unwrap();
        let claimed = spool.claim_next(&[]).unwrap();
        let skip = vec![spool.release(claimed).unwrap()];
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

#[cfg(test)]
mod group_tests {
    use super::tests::spool;
    use super::*;

    fn body(tag: &str, events: usize) -> Vec<u8> {
        format!(r#"{{"batch":"{tag}","events":{events}}}"#).into_bytes()
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// `bodies` (of an event each) written together, claimed, and the first delivered.
    fn first_sent(spool: &Spool, bodies: &[&Vec<u8>]) -> Claimed {
        let batches: Vec<(&[u8], u64)> = bodies.iter().map(|b| (b.as_slice(), 1)).collect();
        spool.write_all(&batches).unwrap();
        let mut claimed = spool.claim_next(&[]).unwrap();
        spool.delivered(&mut claimed);
        claimed
    }

    /// Claims the next file and settles every batch in it as delivered: their bodies.
    fn deliver_next(spool: &Spool) -> Vec<Vec<u8>> {
        let mut claimed = spool.claim_next(&[]).unwrap();
        let mut sent = Vec::new();
        while !claimed.done() {
            sent.push(claimed.batch().body.clone());
            spool.delivered(&mut claimed);
        }
        sent
    }

    #[test]
    fn batches_written_together_are_one_file_sent_one_at_a_time() {
        let spool = spool(SpoolLimits::default());
        let bodies: Vec<Vec<u8>> = (0..4).map(|i| body(&format!("g{i}"), i + 1)).collect();
        let batches: Vec<(&[u8], u64)> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| (b.as_slice(), i as u64 + 1))
            .collect();
        assert_eq!(spool.write_all(&batches).unwrap(), 0);
        let names = files(spool.dir());
        assert_eq!(names.len(), 1, "one file for the four: {names:?}");
        assert!(names[0].ends_with("-10e.batches"), "{names:?}");
        assert_eq!(spool.pending_events(), 10);
        assert_eq!(spool.counters.spooled_events.load(Ordering::Relaxed), 10);

        let mut claimed = spool.claim_next(&[]).unwrap();
        assert!(spool.claim_next(&[]).is_none(), "claimed whole");
        for (i, expected) in bodies.iter().enumerate() {
            assert_eq!(&claimed.batch().body, expected);
            assert_eq!(claimed.batch().events, i as u64 + 1);
            assert_eq!(claimed.events_left(), (i as u64 + 1..=4).sum::<u64>());
            assert!(!claimed.done());
            spool.delivered(&mut claimed);
        }
        assert!(claimed.done());
        assert!(files(spool.dir()).is_empty(), "removed once all were sent");
        assert_eq!(spool.counters.delivered_events.load(Ordering::Relaxed), 10);
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn what_is_left_of_a_group_goes_back_in_its_place() {
        let spool = spool(SpoolLimits::default());
        let [a, b, c, d] = ["a", "b", "c", "d"].map(|t| body(t, 1));
        spool
            .write_all(&[(a.as_slice(), 1), (b.as_slice(), 1), (c.as_slice(), 1)])
            .unwrap();
        spool.write(&d, 1).unwrap();

        // The first is sent, the second fails: the two left go back, before `d`.
        let mut claimed = spool.claim_next(&[]).unwrap();
        let position = claimed.position().to_string();
        spool.delivered(&mut claimed);
        let waits = spool.release(claimed).unwrap();
        assert!(
            waits.to_string_lossy().ends_with("-2e.batches"),
            "{waits:?}"
        );
        assert_eq!(spool.pending_events(), 3);
        let mut claimed = spool.claim_next(&[]).unwrap();
        assert_eq!(claimed.position(), position, "the same place in the order");
        assert_eq!(claimed.batch().body, b);
        spool.delivered(&mut claimed);
        // An abandoned send (the claim dropped) puts the last one back, as a batch file.
        drop(claimed);
        assert_eq!(files(spool.dir()).len(), 2);
        assert!(
            files(spool.dir())
                .iter()
                .any(|n| n.starts_with(&position) && n.ends_with("-1e.batch"))
        );
        assert_eq!(deliver_next(&spool), vec![c]);
        assert_eq!(deliver_next(&spool), vec![d]);
        assert!(files(spool.dir()).is_empty());
        assert_eq!(spool.counters.delivered_events.load(Ordering::Relaxed), 4);
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn a_batch_of_a_group_sent_in_part_is_replaced_by_what_is_left_of_it() {
        let spool = spool(SpoolLimits::default());
        let (a, b) = (body("a", 3), body("b", 2));
        spool.write_all(&[(&a, 3), (&b, 2)]).unwrap();
        let claimed = spool.claim_next(&[]).unwrap();
        let rest = body("a-rest", 1);
        let waits = spool.keep_rest(claimed, rest.clone(), 1).unwrap();
        assert!(
            waits.to_string_lossy().ends_with("-3e.batches"),
            "{waits:?}"
        );
        assert_eq!(spool.counters.delivered_events.load(Ordering::Relaxed), 2);
        assert_eq!(deliver_next(&spool), vec![rest, b]);
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn a_group_file_that_is_not_one_is_set_aside_unsent() {
        let spool = spool(SpoolLimits::default());
        let whole = group_of(&[(b"{}".as_slice(), 1), (b"{\"x\":1}".as_slice(), 1)]);
        let mut wrong = vec![
            whole[..whole.len() - 1].to_vec(),                         // torn
            [whole.as_slice(), b"1"].concat(),                         // trailing bytes
            whole.replacen_header(b"agent-telemetry spool group 2\n"), // a newer format
            [GROUP_HEADER, b"1 99999999999999999999999\n{}".as_slice()].concat(),
            [GROUP_HEADER, b"x 2\n{}".as_slice()].concat(),
            GROUP_HEADER.to_vec(), // no batch
        ];
        create_private_dir(spool.dir()).unwrap();
        for (i, content) in wrong.drain(..).enumerate() {
            fs::write(
                spool.dir().join(format!("{i:024}-aaaaaa-2e.batches")),
                content,
            )
            .unwrap();
        }
        fs::write(
            spool.dir().join(format!("{:024}-bbbbbb-2e.batches", 9)),
            &whole,
        )
        .unwrap();
        assert_eq!(
            deliver_next(&spool),
            vec![b"{}".to_vec(), b"{\"x\":1}".to_vec()],
            "only the whole group is read"
        );
        assert_eq!(spool.counters.bad_files.load(Ordering::Relaxed), 6);
        assert!(files(spool.dir()).iter().all(|n| n.ends_with(".bad")));
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    trait Header {
        fn replacen_header(&self, header: &[u8]) -> Vec<u8>;
    }
    impl Header for Vec<u8> {
        fn replacen_header(&self, header: &[u8]) -> Vec<u8> {
            [header, &self[GROUP_HEADER.len()..]].concat()
        }
    }

    #[test]
    fn a_batch_of_a_group_set_aside_takes_the_rest_of_the_group_with_it_as_one_file() {
        let spool = spool(SpoolLimits::default());
        let [a, b, c] = ["a", "b", "c"].map(|t| body(t, 1));
        // Set aside first: the whole file, renamed.
        spool.write_all(&[(&a, 1), (&b, 1)]).unwrap();
        let mut claimed = spool.claim_next(&[]).unwrap();
        spool.set_aside(&mut claimed);
        assert!(claimed.done());
        let names = files(spool.dir());
        assert!(
            names.len() == 1 && names[0].ends_with("-2e.bad"),
            "{names:?}"
        );
        fs::remove_file(spool.dir().join(&names[0])).unwrap();
        // Refused after one was delivered: what is left, as one file.
        let mut claimed = first_sent(&spool, &[&a, &b, &c]);
        spool.refuse(&mut claimed, "test");
        assert!(claimed.done());
        let names = files(spool.dir());
        assert!(
            names.len() == 1 && names[0].ends_with(".refused"),
            "{names:?}"
        );
        let kept = fs::read(spool.dir().join(&names[0])).unwrap();
        assert_eq!(parse_group(&kept).unwrap().len(), 2, "b and c");
        // The last one alone: its body.
        let mut claimed = first_sent(&spool, &[&a, &b]);
        spool.set_aside(&mut claimed);
        let bad = files(spool.dir())
            .into_iter()
            .find(|n| n.ends_with(".bad"))
            .unwrap();
        assert_eq!(fs::read(spool.dir().join(bad)).unwrap(), b);
        assert_eq!(spool.set_aside_files(), 2);
        assert_eq!(spool.pending_events(), 0);
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn a_group_discarded_while_it_is_sent_is_neither_sent_on_nor_put_back() {
        // `telemetry off` in another process while this one sends a group batch by batch.
        let spool = spool(SpoolLimits::default());
        let [a, b, c] = ["a", "b", "c"].map(|t| body(t, 1));
        let claimed = first_sent(&spool, &[&a, &b, &c]);
        let other_process = Spool::new(spool.dir().to_path_buf(), SpoolLimits::default());
        assert_eq!(other_process.discard_all(), 3, "counted by the file's name");
        assert!(spool.resume(claimed).is_none(), "not sent on");
        assert!(files(spool.dir()).is_empty());

        // Discarded while its second batch was on the wire: the failed send puts nothing back.
        let claimed = first_sent(&spool, &[&a, &b, &c]);
        let claimed = spool.resume(claimed).unwrap();
        other_process.discard_all();
        assert_eq!(spool.release(claimed), None);
        assert!(files(spool.dir()).is_empty(), "{:?}", files(spool.dir()));
        // Nor is what is left of it set aside (or counted so) when its next batch is refused.
        let mut claimed = first_sent(&spool, &[&a, &b, &c]);
        other_process.discard_all();
        spool.set_aside(&mut claimed);
        spool.refuse(&mut claimed, "test");
        drop(claimed);
        assert!(files(spool.dir()).is_empty(), "{:?}", files(spool.dir()));
        assert_eq!(spool.counters.bad_files.load(Ordering::Relaxed), 0);
        assert_eq!(spool.counters.refused_files.load(Ordering::Relaxed), 0);
        // Nor does a batch sent in part, nor an abandoned claim.
        spool.write_all(&[(&a, 1), (&b, 1)]).unwrap();
        let claimed = spool.claim_next(&[]).unwrap();
        other_process.discard_all();
        assert_eq!(spool.keep_rest(claimed, body("a-rest", 1), 1), None);
        let claimed = first_sent(&spool, &[&a, &b]);
        other_process.discard_all();
        drop(claimed);
        assert!(files(spool.dir()).is_empty(), "{:?}", files(spool.dir()));
        assert_eq!(spool.pending_events(), 0);
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn a_group_sent_batch_by_batch_is_kept_claimed_and_one_taken_back_is_left_to_its_taker() {
        let spool = spool(SpoolLimits::default());
        let [a, b, c] = ["a", "b", "c"].map(|t| body(t, 1));
        spool.write_all(&[(&a, 1), (&b, 1), (&c, 1)]).unwrap();
        let other_process = Spool::new(spool.dir().to_path_buf(), SpoolLimits::default());
        let age = |claimed: &Claimed| {
            fs::metadata(&claimed.path)
                .unwrap()
                .modified()
                .unwrap()
                .elapsed()
                .unwrap_or_default()
        };
        let backdate = |claimed: &Claimed, by: Duration| {
            let file = fs::File::options()
                .append(true)
                .open(&claimed.path)
                .unwrap();
            file.set_modified(SystemTime::now() - by).unwrap();
        };
        // Each batch's send takes most of a claim's life: the claim is renewed before each.
        let mut claimed = spool.claim_next(&[]).unwrap();
        backdate(&claimed, STALE_CLAIM - Duration::from_secs(5));
        spool.delivered(&mut claimed);
        let mut claimed = spool.resume(claimed).unwrap();
        assert!(age(&claimed) < Duration::from_secs(60));
        assert!(other_process.claim_next(&[]).is_none(), "not taken back");
        spool.delivered(&mut claimed);

        // One send took longer than a claim lives: another process took the file back. What
        // is left is its to send now, not this sender's.
        backdate(&claimed, STALE_CLAIM * 2);
        let mut taken = other_process.claim_next(&[]).unwrap();
        assert!(spool.resume(claimed).is_none());
        let mut sent = Vec::new();
        while !taken.done() {
            sent.push(taken.batch().body.clone());
            other_process.delivered(&mut taken);
        }
        assert_eq!(
            sent,
            [a, b, c],
            "the file as it was (the collector keeps each event once)"
        );
        assert!(files(spool.dir()).is_empty());
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn a_group_is_a_small_part_of_a_small_spool() {
        let bodies: Vec<Vec<u8>> = (0..8).map(|i| body(&format!("{i:03}"), 1)).collect();
        let framed = (bodies[0].len() + GROUP_LINE_MAX) as u64;
        // Two batches and their framing to a group.
        let spool = spool(SpoolLimits {
            max_bytes: (GROUP_HEADER.len() as u64 + framed * 2) * GROUPS_IN_A_SPOOL,
            ..SpoolLimits::default()
        });
        let batches: Vec<(&[u8], u64)> = bodies.iter().map(|b| (b.as_slice(), 1)).collect();
        spool.write_all(&batches).unwrap();
        let names = files(spool.dir());
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(
            names.iter().all(|n| n.ends_with("-2e.batches")),
            "{names:?}"
        );
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn a_group_written_under_larger_limits_is_read_by_a_process_with_smaller_ones() {
        let spool = spool(SpoolLimits::default());
        let bodies: Vec<Vec<u8>> = (0..4).map(|i| body(&format!("{i:03}"), 1)).collect();
        let batches: Vec<(&[u8], u64)> = bodies.iter().map(|b| (b.as_slice(), 1)).collect();
        spool.write_all(&batches).unwrap();
        let group = bodies.iter().map(Vec::len).sum::<usize>() as u64;
        let smaller = Spool::new(
            spool.dir().to_path_buf(),
            SpoolLimits {
                max_file_bytes: group / 2,
                ..SpoolLimits::default()
            },
        );
        assert_eq!(deliver_next(&smaller), bodies);
        assert_eq!(smaller.counters.bad_files.load(Ordering::Relaxed), 0);
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn a_planted_group_is_set_aside_whole_unread() {
        let spool = spool(SpoolLimits::default());
        create_private_dir(spool.dir()).unwrap();
        // Larger than any group a spool writes.
        let mut huge = GROUP_HEADER.to_vec();
        let one = vec![b'x'; 4096];
        while huge.len() <= GROUP_MAX_BYTES + (64 << 10) {
            huge.extend_from_slice(format!("1 {}\n", one.len()).as_bytes());
            huge.extend_from_slice(&one);
        }
        // Entries that are empty, or too many of them.
        let empty = [GROUP_HEADER, b"1 0\n1 0\n1 0\n".as_slice()].concat();
        let mut many = GROUP_HEADER.to_vec();
        for _ in 0..=GROUP_MAX_BATCHES {
            many.extend_from_slice(b"1 1\nx");
        }
        assert!(many.len() < GROUP_MAX_BYTES);
        for (i, content) in [huge, empty, many].iter().enumerate() {
            fs::write(
                spool.dir().join(format!("{i:024}-aaaaaa-1e.batches")),
                content,
            )
            .unwrap();
        }
        assert!(spool.claim_next(&[]).is_none());
        assert_eq!(spool.counters.bad_files.load(Ordering::Relaxed), 3);
        assert_eq!(spool.set_aside_files(), 3, "one file each");
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn a_group_holds_at_most_a_file_s_bound_and_the_order_is_kept() {
        let bodies: Vec<Vec<u8>> = (0..7).map(|i| body(&format!("{i:03}"), 1)).collect();
        // Three batches and their framing to a file.
        let one = (bodies[0].len() + GROUP_LINE_MAX) as u64;
        let spool = spool(SpoolLimits {
            max_file_bytes: GROUP_HEADER.len() as u64 + one * 3,
            ..SpoolLimits::default()
        });
        let batches: Vec<(&[u8], u64)> = bodies.iter().map(|b| (b.as_slice(), 1)).collect();
        spool.write_all(&batches).unwrap();
        let names = files(spool.dir());
        let kinds: Vec<&str> = names
            .iter()
            .map(|n| n.rsplit('.').next().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["batches", "batches", "batch"],
            "3, 3 and 1: {names:?}"
        );
        let mut sent = Vec::new();
        while spool.pending_events() > 0 {
            sent.extend(deliver_next(&spool));
        }
        assert_eq!(sent, bodies);
        fs::remove_dir_all(spool.dir()).unwrap();
    }

    #[test]
    fn a_crashed_senders_group_comes_back_and_opting_out_discards_groups() {
        let spool = spool(SpoolLimits::default());
        let (a, b) = (body("a", 2), body("b", 3));
        spool.write_all(&[(&a, 2), (&b, 3)]).unwrap();
        let claimed = spool.claim_next(&[]).unwrap();
        let file = fs::File::options()
            .append(true)
            .open(&claimed.path)
            .unwrap();
        file.set_modified(SystemTime::now() - STALE_CLAIM * 2)
            .unwrap();
        std::mem::forget(claimed);
        assert_eq!(deliver_next(&spool), vec![a.clone(), b.clone()]);

        spool.write_all(&[(&a, 2), (&b, 3)]).unwrap();
        spool.write_all(&[(&a, 2), (&b, 3)]).unwrap();
        let claimed = spool.claim_next(&[]).unwrap();
        assert_eq!(
            spool.discard_all(),
            10,
            "the claimed group and the ready one"
        );
        std::mem::forget(claimed);
        assert!(files(spool.dir()).is_empty());
        fs::remove_dir_all(spool.dir()).unwrap();
    }
}
