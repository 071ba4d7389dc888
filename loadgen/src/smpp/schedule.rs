//! The open-loop schedule: when message i is meant to be sent.
//!
//! Intended times are a pure function of the rate profile, fixed before the first send, so a
//! slow server cannot push them back (no coordinated omission). For a constant rate message i
//! is due at `i / rate`; for a ramp the rate is integrated, `N(t) = from·t + (to-from)·t²/(2·over)`
//! while ramping and linear after, and message i is due at the `t` where `N(t) = i`.

use std::time::Duration;

/// The rate profile of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateProfile {
    /// A fixed rate, messages per second.
    Constant(f64),
    /// From `from` to `to` messages per second, linearly over `over`, then `to`.
    Ramp {
        /// Starting rate.
        from: f64,
        /// Final rate.
        to: f64,
        /// Length of the ramp.
        over: Duration,
    },
}

/// Intended send times of one run.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    profile: RateProfile,
    duration: f64,
    total: u64,
}

impl Schedule {
    /// The schedule of `profile` over `duration`.
    pub fn new(profile: RateProfile, duration: Duration) -> Self {
        let duration = duration.as_secs_f64();
        let mut s = Self {
            profile,
            duration,
            total: 0,
        };
        s.total = s.cumulative(duration).ceil().max(0.0) as u64;
        s
    }

    /// Messages scheduled in the whole run.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The run's length in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.duration
    }

    /// The average scheduled rate, messages per second.
    pub fn mean_rate(&self) -> f64 {
        if self.duration > 0.0 {
            self.total as f64 / self.duration
        } else {
            0.0
        }
    }

    /// N(t): messages scheduled in `[0, t)` as a real number.
    fn cumulative(&self, t: f64) -> f64 {
        match self.profile {
            RateProfile::Constant(rate) => rate * t,
            RateProfile::Ramp { from, to, over } => {
                let over = over.as_secs_f64();
                if over <= 0.0 {
                    return to * t;
                }
                let slope = (to - from) / over;
                if t <= over {
                    from * t + slope * t * t / 2.0
                } else {
                    from * over + slope * over * over / 2.0 + to * (t - over)
                }
            }
        }
    }

    /// How many messages are due at `t` seconds after the start (intended time ≤ t).
    pub fn due_at(&self, t: f64) -> u64 {
        if t < 0.0 {
            return 0;
        }
        let n = self.cumulative(t.min(self.duration)).floor() as u64 + 1;
        n.min(self.total)
    }

    /// Intended time of message `i` in nanoseconds after the start.
    pub fn intended_ns(&self, i: u64) -> u64 {
        (self.intended_secs(i) * 1e9) as u64
    }

    /// Intended time of message `i` in seconds after the start.
    pub fn intended_secs(&self, i: u64) -> f64 {
        let i = i as f64;
        if i <= 0.0 {
            return 0.0;
        }
        match self.profile {
            RateProfile::Constant(rate) => i / rate,
            RateProfile::Ramp { from, to, over } => {
                let over = over.as_secs_f64();
                if over <= 0.0 {
                    return i / to;
                }
                let at_top = self.cumulative(over);
                if i <= at_top {
                    // Root of slope/2·t² + from·t − i = 0 in the form that stays exact when
                    // the slope is near zero and defined when `from` is zero.
                    let slope = (to - from) / over;
                    let disc = (from * from + 2.0 * slope * i).max(0.0);
                    2.0 * i / (from + disc.sqrt())
                } else {
                    over + (i - at_top) / to
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_rate_spaces_messages_evenly() {
        let s = Schedule::new(RateProfile::Constant(1000.0), Duration::from_secs(2));
        assert_eq!(s.total(), 2000);
        assert_eq!(s.intended_ns(0), 0);
        assert_eq!(s.intended_ns(1), 1_000_000);
        assert_eq!(s.intended_ns(1500), 1_500_000_000);
        assert_eq!(s.due_at(0.0), 1);
        assert_eq!(s.due_at(0.0105), 11);
        assert_eq!(s.due_at(5.0), 2000);
        assert!((s.mean_rate() - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn ramp_integrates_the_rate() {
        // 0 -> 1000/s over 10 s: 5000 messages in the ramp, then 1000/s for 5 s.
        let s = Schedule::new(
            RateProfile::Ramp {
                from: 0.0,
                to: 1000.0,
                over: Duration::from_secs(10),
            },
            Duration::from_secs(15),
        );
        assert_eq!(s.total(), 10_000);
        // Half the ramp's messages are due at t where 50·t² = 2500: t ≈ 7.07 s.
        assert!((s.intended_secs(2500) - 50f64.sqrt()).abs() < 1e-9);
        assert!((s.intended_secs(5000) - 10.0).abs() < 1e-9);
        assert!((s.intended_secs(7000) - 12.0).abs() < 1e-9);
        for i in [1u64, 10, 100, 4999, 5001, 9999] {
            let t = s.intended_secs(i);
            assert_eq!(s.due_at(t + 1e-9), i + 1, "message {i} at {t}");
        }
    }

    #[test]
    fn ramp_down_and_flat_ramp() {
        let down = Schedule::new(
            RateProfile::Ramp {
                from: 2000.0,
                to: 1000.0,
                over: Duration::from_secs(2),
            },
            Duration::from_secs(2),
        );
        assert_eq!(down.total(), 3000);
        let mut last = -1.0;
        for i in 0..3000 {
            let t = down.intended_secs(i);
            assert!(t > last);
            last = t;
        }
        let flat = Schedule::new(
            RateProfile::Ramp {
                from: 500.0,
                to: 500.0,
                over: Duration::from_secs(1),
            },
            Duration::from_secs(1),
        );
        assert!((flat.intended_secs(250) - 0.5).abs() < 1e-12);
    }
}
