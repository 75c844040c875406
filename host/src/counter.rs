//! Counters shown to users. Some counts come from spool file names, which anyone who can
//! write the spool could have chosen: totals saturate, never wrap.

use std::sync::atomic::{AtomicU64, Ordering};

/// Adds `n` to `counter`, stopping at `u64::MAX`.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
        Some(c.saturating_add(n))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_near_the_top_stops_there() {
        let counter = AtomicU64::new(u64::MAX - 1);
        add(&counter, 5);
        assert_eq!(counter.load(Ordering::Relaxed), u64::MAX);
        add(&counter, u64::MAX);
        assert_eq!(counter.load(Ordering::Relaxed), u64::MAX);
    }
}
