//! When to try again: exponential backoff with jitter, and the collector's `Retry-After`.
//! Portable, so the rules are tested natively; `component.rs` applies them.

use std::time::{Duration, SystemTime};

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
