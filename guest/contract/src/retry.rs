//! When to send, when to wait and when to give up: one schedule for every sender of batches,
//! the component's own flush (under any WASI host) and the host's delivery from its spool.
//!
//! It is pure: the caller passes the time (a [`Duration`] since an origin of its choosing, so
//! a WASI monotonic clock and tokio's clock both fit) and the randomness, and does the sending
//! and the sleeping itself. What it decides:
//! - a failed attempt waits for the collector's `Retry-After`, or else an exponential backoff
//!   with jitter that grows with every failure until one attempt succeeds, across flushes;
//! - a flush tries at most [`ATTEMPTS_PER_FLUSH`] times and starts no attempt with less than
//!   [`MIN_ATTEMPT`] left; what it cannot send waits for a later flush;
//! - a batch that fails several times in one flush counts as failed once;
//! - the last flush (at shutdown) makes one attempt whatever the backoff says, since there is
//!   no later flush in this process; a `Retry-After` is honoured all the same;
//! - a call that must answer by a deadline keeps a [`reserve`] of it for the answer.

use std::time::{Duration, SystemTime};

/// Tries per flush before the rest waits for a later flush.
pub const ATTEMPTS_PER_FLUSH: u32 = 4;
/// The least time worth starting a request with.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(50);
/// The longest deadline taken as given: "no deadline" (`Duration::MAX`) means this.
pub const LONGEST_DEADLINE: Duration = Duration::from_secs(86_400);
/// The most of a deadline kept back for the answer (see [`reserve`]).
pub const MAX_RESERVE: Duration = Duration::from_millis(100);

/// The first retry waits about this long; each further one twice as long.
pub const BASE_DELAY: Duration = Duration::from_millis(200);
/// No wait is longer, whatever the attempt count.
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// A collector's `Retry-After` is honoured up to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The wait before retry number `attempt` (1 for the first retry): `BASE_DELAY · 2^(attempt-1)`,
/// capped at `MAX_DELAY`, then jittered into its upper half by `random` so that many clients
/// failing together do not come back together.
pub fn backoff(attempt: u32, random: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let full = BASE_DELAY.saturating_mul(1 << exponent).min(MAX_DELAY);
    let half = full / 2;
    let jitter = half.mul_f64(f64::from(random) / f64::from(u32::MAX));
    half + jitter
}

/// A `Retry-After` value: delta-seconds or an HTTP date, capped at `MAX_RETRY_AFTER`. `None`
/// when it is neither (the backoff then decides).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The part of `left` a call keeps back so that its answer arrives by the deadline: a tenth,
/// at most [`MAX_RESERVE`].
pub fn reserve(left: Duration) -> Duration {
    (left / 10).min(MAX_RESERVE)
}

/// `left` less its [`reserve`]: the deadline to hand to the work inside a call.
pub fn within(left: Duration) -> Duration {
    left - reserve(left)
}

/// What a sender remembers from one flush to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryState {
    /// Failed attempts since the last success: the backoff's exponent.
    failures: u32,
    /// No attempt before this.
    not_before: Option<Duration>,
    /// Whether `not_before` is the collector's own `Retry-After` (always honoured) rather
    /// than the backoff (which the last flush may skip).
    asked: bool,
}

impl RetryState {
    /// Starts a flush at `now` that must be done by `deadline` (both since the same origin);
    /// `last` for the flush at shutdown.
    pub fn begin(&mut self, now: Duration, deadline: Duration, last: bool) -> Flush<'_> {
        if last && !self.asked {
            self.not_before = None;
        }
        Flush {
            state: self,
            deadline: deadline.min(now.saturating_add(LONGEST_DEADLINE)),
            tries: 0,
            failed_batches: Vec::new(),
            failed_events: 0,
        }
    }

    /// Failed attempts since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// What a flush does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send the next batch, giving it at most `left`.
    Send {
        /// The time left before the flush's deadline.
        left: Duration,
    },
    /// Sleep this long, then ask again.
    Wait(Duration),
    /// Stop: out of time or tries, or the next attempt may not start before the deadline.
    Stop,
}

/// One flush, from [`RetryState::begin`].
#[derive(Debug)]
pub struct Flush<'a> {
    state: &'a mut RetryState,
    deadline: Duration,
    tries: u32,
    /// The batches that failed in this flush, each counted once.
    failed_batches: Vec<u64>,
    failed_events: u64,
}

impl Flush<'_> {
    /// What to do at `now` (on the schedule's clock): send, wait for a retry's time, or stop.
    pub fn next(&self, now: Duration) -> Step {
        if let Some(at) = self.state.not_before.filter(|at| *at > now) {
            return if at + MIN_ATTEMPT > self.deadline {
                Step::Stop
            } else {
                Step::Wait(at - now)
            };
        }
        let left = self.deadline.saturating_sub(now);
        if left < MIN_ATTEMPT || self.tries >= ATTEMPTS_PER_FLUSH {
            Step::Stop
        } else {
            Step::Send { left }
        }
    }

    /// A batch got through: the backoff starts over.
    pub fn delivered(&mut self) {
        *self.state = RetryState::default();
    }

    /// The batch `batch` (any number that tells it from the others) of `events` events failed
    /// at `now`, with the collector's `Retry-After` if it gave one; `random` jitters the
    /// backoff. Returns the wait before the next attempt.
    pub fn failed(
        &mut self,
        now: Duration,
        batch: u64,
        events: u64,
        retry_after: Option<Duration>,
        random: u32,
    ) -> Duration {
        if !self.failed_batches.contains(&batch) {
            self.failed_batches.push(batch);
            self.failed_events = self.failed_events.saturating_add(events);
        }
        self.tries += 1;
        let state = &mut *self.state;
        state.failures = state.failures.saturating_add(1);
        state.asked = retry_after.is_some();
        let wait = retry_after.unwrap_or_else(|| backoff(state.failures, random));
        state.not_before = Some(now.saturating_add(wait));
        wait
    }

    /// Events whose delivery failed in this flush, each batch counted once.
    pub fn failed_events(&self) -> u64 {
        self.failed_events
    }

    /// How long after `now` the next attempt may start: what a flush that stopped reports
    /// as its `retry-after-ms` (zero when nothing is waiting).
    pub fn retry_after(&self, now: Duration) -> Duration {
        self.state
            .not_before
            .map_or(Duration::ZERO, |at| at.saturating_sub(now))
    }
}

/// What one attempt of a [`Courier`] came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx: the backoff starts over.
    Delivered,
    /// The collector refused it for good, or it was not a batch to send: settled either way.
    Settled,
    /// Worth another try later: batch `batch` (any number that tells it from the others) of
    /// `events` events, with the collector's `Retry-After` if it gave one.
    Failed {
        /// Tells this batch from the others, so that it counts as failed once per flush.
        batch: u64,
        /// Its events.
        events: u64,
        /// The collector's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
    },
}

/// Whoever sends batches: the component from its queue (under any WASI host), or the host
/// from its spool. [`drive`] is the one loop over them both.
pub trait Courier {
    /// The time, since the origin the flush began with.
    fn now(&self) -> Duration;
    /// Randomness for the backoff's jitter.
    fn random(&mut self) -> u32;
    /// Sends the next batch, in at most `left`; `None` when there is none (or the courier is
    /// told to stop).
    fn send_next(&mut self, left: Duration) -> impl Future<Output = Option<Attempt>>;
    /// Waits `wait` before the next attempt; false when told to stop instead.
    fn wait(&mut self, wait: Duration) -> impl Future<Output = bool>;
}

/// What a flush driven by [`drive`] leaves to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Driven {
    /// Events whose delivery failed, each batch counted once.
    pub failed_events: u64,
    /// How long until the next attempt may start (zero when nothing waits).
    pub retry_after: Duration,
}

/// The one delivery loop: sends batch after batch through `courier` as `flush` allows, waits
/// where it says, and stops when it says, when the courier has nothing more, or when a wait
/// is cut short. Both the component's own flush and the host's delivery from its spool run
/// it, each with its own courier.
pub async fn drive(mut flush: Flush<'_>, courier: &mut impl Courier) -> Driven {
    loop {
        let left = match flush.next(courier.now()) {
            Step::Send { left } => left,
            Step::Wait(wait) => {
                if courier.wait(wait).await {
                    continue;
                }
                break;
            }
            Step::Stop => break,
        };
        match courier.send_next(left).await {
            None => break,
            Some(Attempt::Delivered) => flush.delivered(),
            Some(Attempt::Settled) => {}
            Some(Attempt::Failed {
                batch,
                events,
                retry_after,
            }) => {
                let random = courier.random();
                flush.failed(courier.now(), batch, events, retry_after, random);
            }
        }
    }
    Driven {
        failed_events: flush.failed_events(),
        retry_after: flush.retry_after(courier.now()),
    }
}

/// Runs a future whose every step is ready at once (the component's courier, whose sending
/// and sleeping block): for [`drive`] where there is no async runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A courier on a clock of its own: each send takes 10 ms, each wait what it is asked.
    struct Scripted {
        now: Duration,
        attempts: Vec<Option<Attempt>>,
        log: Vec<String>,
    }

    impl Courier for Scripted {
        fn now(&self) -> Duration {
            self.now
        }
        fn random(&mut self) -> u32 {
            0
        }
        async fn send_next(&mut self, left: Duration) -> Option<Attempt> {
            self.now += Duration::from_millis(10);
            self.log.push(format!("send with {}ms", left.as_millis()));
            if self.attempts.is_empty() {
                return None;
            }
            self.attempts.remove(0)
        }
        async fn wait(&mut self, wait: Duration) -> bool {
            self.now += wait;
            self.log.push(format!("wait {}ms", wait.as_millis()));
            true
        }
    }

    #[test]
    fn the_one_loop_retries_a_failed_batch_after_its_wait_and_stops_when_there_is_nothing_left() {
        let failed = |retry_after| {
            Some(Attempt::Failed {
                batch: 1,
                events: 5,
                retry_after,
            })
        };
        let mut courier = Scripted {
            now: Duration::ZERO,
            attempts: vec![
                failed(Some(Duration::from_millis(300))),
                failed(None),
                Some(Attempt::Delivered),
                Some(Attempt::Settled),
            ],
            log: Vec::new(),
        };
        let mut state = RetryState::default();
        let flush = state.begin(Duration::ZERO, Duration::from_secs(10), false);
        let driven = block_on(drive(flush, &mut courier));
        assert_eq!(
            courier.log,
            [
                "send with 10000ms",
                "wait 300ms",
                "send with 9690ms",
                // The second failure's backoff, with no jitter: half of 2 · BASE_DELAY.
                "wait 200ms",
                "send with 9480ms",
                "send with 9470ms",
                "send with 9460ms",
            ]
        );
        // The batch failed twice and counts once; it got through, so nothing waits.
        assert_eq!(
            driven,
            Driven {
                failed_events: 5,
                retry_after: Duration::ZERO
            }
        );
        assert_eq!(state.failures(), 0);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempt in 1..=8 {
            let full = BASE_DELAY * (1 << (attempt - 1));
            let full = full.min(MAX_DELAY);
            assert_eq!(backoff(attempt, 0), full / 2);
            assert_eq!(backoff(attempt, u32::MAX), full);
            let mid = backoff(attempt, u32::MAX / 2);
            assert!(mid > full / 2 && mid < full);
        }
        assert_eq!(backoff(u32::MAX, u32::MAX), MAX_DELAY);
        assert_eq!(backoff(0, 0), BASE_DELAY / 2);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_is_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("86400", now), Some(MAX_RETRY_AFTER));
        let in_ten = httpdate::fmt_http_date(now + Duration::from_secs(10));
        assert_eq!(
            parse_retry_after(&in_ten, now),
            Some(Duration::from_secs(10))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(10));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_flush_sends_until_its_tries_or_its_time_run_out() {
        let mut state = RetryState::default();
        let mut flush = state.begin(Duration::ZERO, 10_000 * MS, false);
        assert_eq!(flush.next(Duration::ZERO), Step::Send { left: 10_000 * MS });
        let mut now = Duration::ZERO;
        for i in 0..ATTEMPTS_PER_FLUSH {
            let wait = flush.failed(now, 7, 20, None, 0);
            assert_eq!(wait, backoff(i + 1, 0));
            assert_eq!(flush.next(now), Step::Wait(wait));
            now += wait;
        }
        assert_eq!(
            flush.next(now),
            Step::Stop,
            "at most {ATTEMPTS_PER_FLUSH} tries"
        );
        assert_eq!(flush.failed_events(), 20, "one batch, counted once");
        let near_the_end = state.begin(Duration::ZERO, MIN_ATTEMPT - MS, false);
        assert_eq!(near_the_end.next(Duration::ZERO), Step::Stop);
    }

    #[test]
    fn the_backoff_grows_across_flushes_until_a_batch_gets_through() {
        let mut state = RetryState::default();
        let mut now = Duration::ZERO;
        for failures in 1..=3 {
            let mut flush = state.begin(now, now + 60_000 * MS, false);
            assert_eq!(flush.failed(now, 1, 1, None, 0), backoff(failures, 0));
            now += 60_000 * MS;
        }
        assert_eq!(state.failures(), 3);
        let mut flush = state.begin(now, now + 1_000 * MS, false);
        flush.delivered();
        assert_eq!(state, RetryState::default());
    }

    #[test]
    fn a_wait_that_does_not_fit_stops_the_flush_and_says_how_long() {
        let mut state = RetryState::default();
        let mut flush = state.begin(Duration::ZERO, 2_000 * MS, false);
        flush.failed(Duration::ZERO, 1, 5, Some(Duration::from_secs(120)), 0);
        assert_eq!(flush.next(10 * MS), Step::Stop);
        assert_eq!(flush.retry_after(10 * MS), 119_990 * MS);
        // A later flush does not try before the collector's time either.
        let later = state.begin(1_000 * MS, 3_000 * MS, false);
        assert_eq!(later.next(1_000 * MS), Step::Stop);
    }

    #[test]
    fn the_last_flush_tries_once_over_the_backoff_but_never_over_retry_after() {
        let mut state = RetryState::default();
        let mut flush = state.begin(Duration::ZERO, 100 * MS, false);
        flush.failed(Duration::ZERO, 1, 1, None, u32::MAX);
        let last = state.begin(MS, 100 * MS, true);
        assert_eq!(last.next(MS), Step::Send { left: 99 * MS });

        let mut state = RetryState::default();
        let mut flush = state.begin(Duration::ZERO, 100 * MS, false);
        flush.failed(Duration::ZERO, 1, 1, Some(Duration::from_secs(30)), 0);
        let last = state.begin(MS, 100 * MS, true);
        assert_eq!(last.next(MS), Step::Stop);
    }

    #[test]
    fn the_reserve_is_a_tenth_of_what_is_left_at_most_100_ms() {
        assert_eq!(reserve(500 * MS), 50 * MS);
        assert_eq!(reserve(Duration::from_secs(5)), MAX_RESERVE);
        assert_eq!(within(500 * MS), 450 * MS);
        assert_eq!(within(Duration::ZERO), Duration::ZERO);
    }
}
