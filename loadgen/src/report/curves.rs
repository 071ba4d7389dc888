//! Percentile distributions of the run's latencies: the points of the HdrHistogram-style plot
//! (latency against percentile on a `1/(1-p)` axis) that the HTML report draws, also in the
//! JSON (`percentile_curves`) so a run can be re-plotted or compared without its histograms.
//!
//! The report's fixed percentiles (p50 ... max) say little about the shape of a tail; a curve
//! does. Points are spaced evenly on the `1/(1-p)` axis, [`POINTS_PER_DECADE`] a decade, up to
//! the resolution the sample count allows (`p = 1 - 1/count`), where the largest sample closes
//! the curve: with `count` samples nothing finer than that is measured.

use serde::Serialize;

use crate::measure::{Hist, Tally};

/// Points in each decade of `1/(1-p)` (between p90 and p99, say).
pub const POINTS_PER_DECADE: u32 = 12;

/// One point of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// The percentile, 0 to 100 (`99.9`).
    pub percentile: f64,
    /// The latency at it, µs of scenario time.
    pub us: u64,
}

/// The delivery times of one channel and carrier.
#[derive(Debug, Clone, Serialize)]
pub struct RouteCurve {
    /// `sms` or `voice`.
    pub channel: String,
    /// The carrier that delivered.
    pub carrier: String,
    /// Their delivery-time distribution.
    pub delivery_time: Vec<CurvePoint>,
}

/// The distributions of a run (empty lists where nothing was measured).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Curves {
    /// Intended start → the code on the phone.
    pub delivery_time: Vec<CurvePoint>,
    /// Intended start → the carrier's receipt.
    pub receipt_time: Vec<CurvePoint>,
    /// Intended start → approved.
    pub verify_time: Vec<CurvePoint>,
    /// Delivery times per channel and carrier.
    pub routes: Vec<RouteCurve>,
}

impl Curves {
    /// The distributions of the whole run.
    pub fn of(t: &Tally) -> Self {
        Self {
            delivery_time: curve(&t.delivery),
            receipt_time: curve(&t.receipt),
            verify_time: curve(&t.verify),
            routes: t
                .routes
                .iter()
                .map(|(r, h)| RouteCurve {
                    channel: r.channel.to_string(),
                    carrier: r.carrier.clone(),
                    delivery_time: curve(&h.delivery),
                })
                .collect(),
        }
    }
}

/// The points of `h`'s distribution: `p = 1 - 10^(-k/POINTS_PER_DECADE)` for k = 0, 1, ...
/// while `1/(1-p)` stays below the sample count, then the largest sample at `1 - 1/count`.
pub fn curve(h: &Hist) -> Vec<CurvePoint> {
    let n = h.len();
    if n == 0 {
        return Vec::new();
    }
    let last = 1.0 - 1.0 / n as f64;
    let mut points = Vec::new();
    for k in 0.. {
        let q = 1.0 - 10f64.powf(-f64::from(k) / f64::from(POINTS_PER_DECADE));
        // Tolerance: at a power of ten, `q` and `last` are the same number computed two ways.
        if q >= last - 1e-12 {
            break;
        }
        points.push(CurvePoint {
            percentile: q * 100.0,
            us: h.0.value_at_quantile(q),
        });
    }
    points.push(CurvePoint {
        percentile: last * 100.0,
        us: h.0.max(),
    });
    points
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_curve_rises_to_the_largest_sample_at_the_resolution_of_its_count() {
        let mut h = Hist::new();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms), 1.0);
        }
        let c = curve(&h);
        // 1000 samples: three decades (p0 to p99.9), 12 points each, then the largest.
        assert_eq!(c.len(), 3 * POINTS_PER_DECADE as usize + 1, "{c:?}");
        assert_eq!(c[0].percentile, 0.0);
        assert!((c[12].percentile - 90.0).abs() < 1e-9, "{:?}", c[12]);
        assert!((899_000..=901_000).contains(&c[12].us), "{:?}", c[12]);
        let end = c.last().unwrap();
        assert!((end.percentile - 99.9).abs() < 1e-9);
        assert!((999_000..=1_001_000).contains(&end.us), "{end:?}");
        assert!(
            c.windows(2)
                .all(|w| w[0].us <= w[1].us && w[0].percentile < w[1].percentile)
        );
        assert!(curve(&Hist::new()).is_empty());
        // One sample: its value at p0, nothing finer.
        let mut one = Hist::new();
        one.record(Duration::from_millis(5), 1.0);
        assert_eq!(curve(&one).len(), 1);
    }
}
