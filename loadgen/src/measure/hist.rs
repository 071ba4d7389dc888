//! Latency histograms: HdrHistogram in microseconds of scenario time, and the percentile
//! summary reports and thresholds read from them.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Longest latency kept exactly: a day of scenario time; longer values are recorded as a day
/// (a verification ends long before).
const HIGHEST_US: u64 = 86_400_000_000;

/// One latency histogram (microseconds, 3 significant digits).
#[derive(Debug, Clone)]
pub struct Hist(pub Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Self::new()
    }
}

impl Hist {
    /// An empty histogram.
    pub fn new() -> Self {
        // Bounds that are always valid: 1 µs to a day, 3 significant digits.
        Self(
            Histogram::new_with_bounds(1, HIGHEST_US, 3).unwrap_or_else(|_| {
                Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits are valid"))
            }),
        )
    }

    /// Records a wall-time latency as scenario time (× `time_scale`).
    pub fn record(&mut self, wall: Duration, time_scale: f64) {
        let us = (wall.as_secs_f64() * time_scale * 1e6).round() as u64;
        self.0.saturating_record(us.clamp(1, HIGHEST_US));
    }

    /// Adds another histogram's samples.
    pub fn add(&mut self, other: &Hist) {
        // Both have the same bounds, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Forgets every sample.
    pub fn reset(&mut self) {
        self.0.reset();
    }

    /// A quantile in microseconds (`None` without samples).
    pub fn quantile(&self, q: f64) -> Option<u64> {
        (!self.0.is_empty()).then(|| self.0.value_at_quantile(q))
    }

    /// The summary reports show.
    pub fn summary(&self) -> Percentiles {
        Percentiles::of(self)
    }
}

/// A latency's summary (microseconds of scenario time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// The summary of `h` (all zero without samples).
    pub fn of(h: &Hist) -> Self {
        let h = &h.0;
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_scenario_time() {
        let mut h = Hist::new();
        h.record(Duration::from_millis(100), 10.0);
        assert_eq!(h.len(), 1);
        let p = h.summary();
        assert!((999_000..=1_001_000).contains(&p.p50), "{p:?}");
        let mut sum = Hist::new();
        sum.add(&h);
        sum.add(&h);
        assert_eq!(sum.len(), 2);
        assert_eq!(Hist::new().quantile(0.99), None);
    }
}
