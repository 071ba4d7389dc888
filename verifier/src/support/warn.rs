//! A warning that repeats (a full queue, a carrier refusing binds) is logged once per interval
//! with how many times it happened, so a storm cannot flood the log or slow the hot path.

use std::sync::atomic::{AtomicU64, Ordering};

use super::clock::now_ms;

/// One kind of repeated warning.
#[derive(Debug)]
pub(crate) struct Throttled {
    what: &'static str,
    interval_ms: u64,
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttled {
    pub(crate) const fn new(what: &'static str, interval_ms: u64) -> Self {
        Self {
            what,
            interval_ms,
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Logs `detail` unless this warning was logged less than an interval ago; then it is only
    /// counted, and the count goes out with the next line.
    pub(crate) fn warn(&self, detail: &dyn std::fmt::Display) {
        let now = now_ms().max(1);
        let last = self.last_ms.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < self.interval_ms {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self
            .last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let repeated = self.suppressed.swap(0, Ordering::Relaxed);
        tracing::warn!(repeated, "{}: {detail}", self.what);
    }
}
