//! Warnings that repeat are logged at most once per interval, with how many times they happened.
//!
//! Under overload the same event (a receipt store full, a refused connection) can happen
//! hundreds of thousands of times a second; a log line each time wrote hundreds of megabytes of
//! stderr and cost more CPU than the work itself, which made overload worse. A [`Repeated`]
//! counts every occurrence and lets one through per interval carrying the count since the last
//! line, so the log stays readable and its cost is flat whatever the rate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The interval the carrier's repeated warnings use.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// One cause of a repeated warning. Share it (it is `Sync`); every method takes `&self`.
#[derive(Debug)]
pub struct Repeated {
    epoch: Instant,
    interval_ms: u64,
    /// Milliseconds since `epoch` of the last line written, plus one (0: never).
    last: AtomicU64,
    /// Occurrences not yet reported in a line.
    pending: AtomicU64,
}

impl Default for Repeated {
    fn default() -> Self {
        Self::every(DEFAULT_INTERVAL)
    }
}

impl Repeated {
    /// At most one line per `interval`.
    pub fn every(interval: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            last: AtomicU64::new(0),
            pending: AtomicU64::new(0),
        }
    }

    /// Counts one occurrence; calls `log` with the occurrences since the last line (this one
    /// included) when a line is due. `log` runs on at most one caller per interval.
    pub fn hit(&self, log: impl FnOnce(u64)) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let now = u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < self.interval_ms {
            return;
        }
        if self
            .last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let count = self.pending.swap(0, Ordering::Relaxed);
            if count > 0 {
                log(count);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_carrying_the_count() {
        let r = Repeated::every(Duration::from_secs(3600));
        let mut lines = Vec::new();
        for _ in 0..1000 {
            r.hit(|n| lines.push(n));
        }
        // The first occurrence is logged at once; the rest wait for the next interval.
        assert_eq!(lines, vec![1]);
        let r = Repeated::every(Duration::ZERO);
        let mut total = 0;
        for _ in 0..10 {
            r.hit(|n| total += n);
        }
        assert_eq!(total, 10, "with no interval every occurrence is reported");
    }

    #[test]
    fn the_next_line_reports_what_was_held_back() {
        let r = Repeated::every(Duration::from_millis(20));
        let mut lines = Vec::new();
        for _ in 0..5 {
            r.hit(|n| lines.push(n));
        }
        std::thread::sleep(Duration::from_millis(30));
        r.hit(|n| lines.push(n));
        assert_eq!(lines, vec![1, 5]);
    }
}
