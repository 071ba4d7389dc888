//! SMS pumping detection: starts and verifications per prefix (the number without its last
//! `prefix_drop` digits) and per country, over a sliding window of buckets, in fixed memory.
//!
//! A key trips when, with at least `min_starts` starts to judge by:
//!
//! - **conversion**: of the starts older than `maturity` (younger ones may still be checked),
//!   the share verified is below both `conversion_factor` × the baseline conversion and
//!   `min_conversion`. The baseline is a rolling average of the conversion of healthy keys,
//!   so it adapts to how well genuine users convert here, and pumped keys cannot drag it down;
//! - **velocity**: the window's starts exceed `velocity_factor` × the key's own baseline of
//!   verified starts per window (or `min_starts` while it has none), while under
//!   `min_conversion` of them are verified, on a key seen for at least `maturity` (a genuine
//!   burst has had time to convert).
//!
//! A tripped key is blocked for `cool_down` (Twilio's Fraud Guard blocks for 12 hours and
//! answers 60410). Verifications count in the bucket of their start, so conversion compares
//! like with like.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::PumpingConfig;
use crate::support::clock::ms;
use crate::support::table::Table;

#[derive(Debug, Default, Clone)]
struct Slot {
    first_ms: u64,
    newest: u64,
    /// (starts, verified) per bucket; allocated on first use.
    counts: Vec<(u32, u32)>,
    /// Rolling average of verified starts per window.
    baseline_verified: f32,
    blocked_until_ms: u64,
}

/// What the window saw for a key when it tripped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Trip {
    /// `conversion` or `velocity`.
    pub trigger: &'static str,
    pub starts: u32,
    pub verified: u32,
    pub mature_starts: u32,
    pub mature_verified: u32,
    pub threshold: f64,
}

/// Is the key blocked, and did this start trip it?
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PumpCheck {
    Ok,
    Blocked { until_ms: u64 },
    Tripped(Trip),
}

/// The windows of one kind of key (prefixes, or countries).
#[derive(Debug)]
pub(crate) struct Windows {
    table: Table<Slot>,
    bucket_ms: u64,
    buckets: usize,
    maturity_buckets: u64,
    cool_down_ms: u64,
    min_starts: u32,
    velocity_factor: f64,
    conversion_factor: f64,
    min_conversion: f64,
    /// Baseline conversion (f32 bits), shared by the keys of this table.
    baseline_conversion: AtomicU32,
}

impl Windows {
    /// Windows judged from `min_starts` starts on.
    pub(crate) fn new(cfg: &PumpingConfig, min_starts: u32, capacity: usize) -> Self {
        let window = ms(cfg.window).max(cfg.buckets as u64);
        let bucket_ms = window / cfg.buckets as u64;
        Self {
            table: Table::new(capacity),
            bucket_ms,
            buckets: cfg.buckets,
            maturity_buckets: ms(cfg.maturity).div_ceil(bucket_ms),
            cool_down_ms: ms(cfg.cool_down),
            min_starts,
            velocity_factor: cfg.velocity_factor,
            conversion_factor: cfg.conversion_factor,
            min_conversion: cfg.min_conversion,
            baseline_conversion: AtomicU32::new(1.0f32.to_bits()),
        }
    }

    fn stale_ms(&self) -> u64 {
        (self.bucket_ms * self.buckets as u64).max(self.cool_down_ms)
    }

    pub(crate) fn baseline_conversion(&self) -> f64 {
        f64::from(f32::from_bits(
            self.baseline_conversion.load(Ordering::Relaxed),
        ))
    }

    /// Moves `s` to the bucket of `now`, clearing the buckets it skipped, and folds each
    /// window it leaves behind into the baselines.
    fn advance(&self, s: &mut Slot, now_ms: u64) {
        let b = now_ms / self.bucket_ms;
        if s.counts.is_empty() {
            s.counts = vec![(0, 0); self.buckets];
            s.newest = b;
            s.first_ms = now_ms;
            return;
        }
        if b <= s.newest {
            return;
        }
        let steps = (b - s.newest).min(self.buckets as u64);
        for k in 1..=steps {
            let (mature_s, mature_v) = self.mature(s);
            let (_, verified) = totals(s);
            let alpha = 1.0 / self.buckets as f32;
            s.baseline_verified += alpha * (verified as f32 - s.baseline_verified);
            if mature_s >= self.min_starts {
                let conv = f64::from(mature_v) / f64::from(mature_s);
                if conv >= self.min_conversion {
                    let old = self.baseline_conversion();
                    let new = old + f64::from(alpha) * (conv - old);
                    self.baseline_conversion
                        .store((new as f32).to_bits(), Ordering::Relaxed);
                }
            }
            let idx = ((s.newest + k) % self.buckets as u64) as usize;
            s.counts[idx] = (0, 0);
        }
        s.newest = b;
    }

    /// Starts and verified of buckets at least `maturity` old.
    fn mature(&self, s: &Slot) -> (u32, u32) {
        let mut out = (0u32, 0u32);
        for age in self.maturity_buckets..self.buckets as u64 {
            if age > s.newest {
                break;
            }
            let (st, v) = s.counts[((s.newest - age) % self.buckets as u64) as usize];
            out.0 += st;
            out.1 += v;
        }
        out
    }

    /// Whether `key` is blocked now, without counting anything.
    pub(crate) fn blocked(&self, key: u64, now_ms: u64) -> Option<u64> {
        self.table
            .peek(key, now_ms, self.stale_ms(), |s| s.blocked_until_ms)
            .filter(|until| *until > now_ms)
    }

    /// Counts a start to `key` and says whether the key is (now) blocked.
    pub(crate) fn start(&self, key: u64, now_ms: u64) -> PumpCheck {
        self.table.with(key, now_ms, self.stale_ms(), |s| {
            if s.blocked_until_ms > now_ms {
                return PumpCheck::Blocked {
                    until_ms: s.blocked_until_ms,
                };
            }
            self.advance(s, now_ms);
            let idx = (s.newest % self.buckets as u64) as usize;
            s.counts[idx].0 += 1;
            let (starts, verified) = totals(s);
            if starts < self.min_starts {
                return PumpCheck::Ok;
            }
            let (mature_starts, mature_verified) = self.mature(s);
            let floor =
                (self.conversion_factor * self.baseline_conversion()).min(self.min_conversion);
            let trip = |trigger, threshold| Trip {
                trigger,
                starts,
                verified,
                mature_starts,
                mature_verified,
                threshold,
            };
            let tripped = if mature_starts >= self.min_starts
                && f64::from(mature_verified) < floor * f64::from(mature_starts)
            {
                Some(trip("conversion", floor))
            } else {
                let limit = self.velocity_factor
                    * f64::from(s.baseline_verified).max(f64::from(self.min_starts));
                let seasoned =
                    now_ms.saturating_sub(s.first_ms) >= self.maturity_buckets * self.bucket_ms;
                (seasoned
                    && f64::from(starts) > limit
                    && f64::from(verified) < self.min_conversion * f64::from(starts))
                .then(|| trip("velocity", limit))
            };
            match tripped {
                Some(t) => {
                    s.blocked_until_ms = now_ms + self.cool_down_ms;
                    PumpCheck::Tripped(t)
                }
                None => PumpCheck::Ok,
            }
        })
    }

    /// Counts a verification of a start made at `started_ms` (in that start's bucket, when it
    /// is still in the window).
    pub(crate) fn verified(&self, key: u64, started_ms: u64, now_ms: u64) {
        self.table.with(key, now_ms, self.stale_ms(), |s| {
            self.advance(s, now_ms);
            let b = started_ms / self.bucket_ms;
            if b + (self.buckets as u64) > s.newest && b <= s.newest {
                let idx = (b % self.buckets as u64) as usize;
                s.counts[idx].1 += 1;
            }
        });
    }
}

fn totals(s: &Slot) -> (u32, u32) {
    s.counts
        .iter()
        .fold((0, 0), |(a, b), (x, y)| (a + x, b + y))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn windows() -> Windows {
        Windows::new(
            &PumpingConfig {
                window: Duration::from_secs(100),
                buckets: 10,
                min_starts: 20,
                maturity: Duration::from_secs(20),
                cool_down: Duration::from_secs(1000),
                ..PumpingConfig::default()
            },
            20,
            1024,
        )
    }

    #[test]
    fn genuine_traffic_that_converts_never_trips() {
        let w = windows();
        // 5 starts a second for 300 s, 90% verified 3 s later.
        for t in 0..300_000u64 {
            if t % 200 == 0 {
                assert_eq!(w.start(1, t), PumpCheck::Ok, "at {t} ms");
            }
            if t >= 3000 && (t - 3000) % 200 == 0 && (t / 200) % 10 != 0 {
                w.verified(1, t - 3000, t);
            }
        }
    }

    #[test]
    fn a_prefix_that_never_converts_trips_and_stays_blocked() {
        let w = windows();
        let mut tripped = None;
        for i in 0..2000u64 {
            let t = i * 50;
            match w.start(2, t) {
                PumpCheck::Tripped(trip) => {
                    tripped = Some((t, trip));
                    break;
                }
                PumpCheck::Blocked { .. } => unreachable!("blocked before it tripped"),
                PumpCheck::Ok => {}
            }
        }
        let (t, trip) = tripped.expect("tripped");
        assert!(t >= 20_000, "not before maturity: {t}");
        assert_eq!(trip.mature_verified, 0);
        assert!(matches!(w.start(2, t + 1), PumpCheck::Blocked { .. }));
        assert!(w.blocked(2, t + 999_000).is_some());
        assert!(w.blocked(2, t + 1_000_001).is_none(), "cool-down over");
        // Other keys are not affected.
        assert_eq!(w.start(3, t), PumpCheck::Ok);
    }
}
