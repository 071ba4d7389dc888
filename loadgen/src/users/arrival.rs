//! When users arrive: the intended start times of one population, open loop.
//!
//! A population's rate over time is its arrival model (constant, ramp, spike, a day's curve;
//! Poisson or evenly spaced) times the rate factor of the phase in force. The rate is piecewise
//! linear between breakpoints (phase edges, the end of a ramp, the edges of a spike, every
//! hour of a day's curve, which is followed linearly in between), so its integral is
//! solved exactly segment by segment: arrival `i` of an evenly spaced model comes when the
//! integrated rate reaches `i` (as in `loadgen smpp`: a constant rate `r` gives `i / r`), and a
//! Poisson model draws exponential steps of the integrated rate (the time-rescaling theorem,
//! which makes a non-homogeneous Poisson process of any rate profile).
//!
//! Times are wall time from the start of the load: durations are divided by the time scale,
//! rates stay as written (as carrier-sim's throttles do), so a scaled scenario runs faster with
//! fewer users rather than with more users per second.

use std::time::Duration;

use rand::RngExt;
use rand_pcg::Pcg64Mcg;

use crate::scenario::{ArrivalFile, PhasePlan};

/// A rate profile: at `t` seconds, the rate and its slope.
type RateFn = Box<dyn Fn(f64) -> (f64, f64)>;

/// One segment of the rate profile: from `at` (seconds) the rate is `rate + slope × (t - at)`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    at: f64,
    end: f64,
    rate: f64,
    slope: f64,
}

impl Segment {
    /// The integral of the rate over the whole segment.
    fn area(&self) -> f64 {
        let d = self.end - self.at;
        self.rate * d + 0.5 * self.slope * d * d
    }

    /// The integral from `from` (inside the segment) to the end.
    fn area_from(&self, from: f64) -> f64 {
        let r0 = self.rate + self.slope * (from - self.at);
        let d = self.end - from;
        r0 * d + 0.5 * self.slope * d * d
    }

    /// The time after `from` at which the integral from `from` reaches `area` (`None` when
    /// the segment ends first).
    fn solve(&self, from: f64, area: f64) -> Option<f64> {
        let r0 = self.rate + self.slope * (from - self.at);
        let d = if self.slope.abs() < 1e-12 {
            if r0 <= 0.0 {
                return None;
            }
            area / r0
        } else {
            // r0·d + slope·d²/2 = area
            let disc = r0 * r0 + 2.0 * self.slope * area;
            if disc < 0.0 {
                return None;
            }
            (disc.sqrt() - r0) / self.slope
        };
        let t = from + d.max(0.0);
        // Within a nanosecond of the end counts as the end: the next segment takes it.
        (t < self.end - 1e-9).then_some(t)
    }
}

/// The intended start times of one population.
#[derive(Debug, Clone)]
pub struct Arrivals {
    segments: Vec<Segment>,
    poisson: bool,
    /// Where the last arrival was: segment index and time.
    seg: usize,
    t: f64,
    first: bool,
    rng: Pcg64Mcg,
}

impl Arrivals {
    /// The arrivals of `model` over `phases` (scenario time, divided by `time_scale` here),
    /// drawing Poisson steps from `rng`.
    pub fn new(model: &ArrivalFile, phases: &[PhasePlan], time_scale: f64, rng: Pcg64Mcg) -> Self {
        let wall = |d: Duration| d.as_secs_f64() / time_scale;
        let end = phases.last().map_or(0.0, |p| wall(p.to));
        let (base, poisson): (RateFn, bool) = match *model {
            ArrivalFile::Constant { rate } => (Box::new(move |_| (rate, 0.0)), false),
            ArrivalFile::Poisson { rate } => (Box::new(move |_| (rate, 0.0)), true),
            ArrivalFile::Ramp {
                from,
                to,
                over,
                poisson,
            } => {
                let over = wall(over);
                (
                    Box::new(move |t: f64| {
                        if t < over {
                            (from + (to - from) * t / over, (to - from) / over)
                        } else {
                            (to, 0.0)
                        }
                    }),
                    poisson,
                )
            }
            ArrivalFile::Spike {
                rate,
                peak,
                at,
                hold,
                poisson,
            } => {
                let (a, b) = (wall(at), wall(at + hold));
                (
                    Box::new(move |t: f64| {
                        if t >= a && t < b {
                            (peak, 0.0)
                        } else {
                            (rate, 0.0)
                        }
                    }),
                    poisson,
                )
            }
            ArrivalFile::Diurnal {
                mean,
                amplitude,
                peak_hour,
                start_hour,
                poisson,
            } => {
                // The curve at hour `h` of the day; followed linearly from hour to hour.
                let at_hour = move |h: f64| {
                    let phase = std::f64::consts::TAU * (h - peak_hour) / 24.0;
                    mean * (1.0 + amplitude * phase.cos())
                };
                let hour = 3600.0 / time_scale;
                (
                    Box::new(move |t: f64| {
                        let k = (t / hour).floor();
                        let h0 = start_hour + k;
                        let (r0, r1) = (at_hour(h0), at_hour(h0 + 1.0));
                        let slope = (r1 - r0) / hour;
                        (r0 + slope * (t - k * hour), slope)
                    }),
                    poisson,
                )
            }
        };
        let mut cuts = vec![0.0, end];
        if matches!(model, ArrivalFile::Diurnal { .. }) {
            let hour = 3600.0 / time_scale;
            let mut t = hour;
            while t < end {
                cuts.push(t);
                t += hour;
            }
        }
        for p in phases {
            cuts.push(wall(p.from));
            cuts.push(wall(p.to));
        }
        match *model {
            ArrivalFile::Ramp { over, .. } => cuts.push(wall(over)),
            ArrivalFile::Spike { at, hold, .. } => {
                cuts.push(wall(at));
                cuts.push(wall(at + hold));
            }
            _ => {}
        }
        cuts.retain(|c| *c >= 0.0 && *c <= end);
        cuts.sort_by(f64::total_cmp);
        cuts.dedup_by(|a, b| (*a - *b).abs() < 1e-12);
        let factor = |t: f64| {
            phases
                .iter()
                .find(|p| t >= wall(p.from) && t < wall(p.to))
                .map_or(0.0, |p| p.rate_factor)
        };
        let segments = cuts
            .windows(2)
            .map(|w| {
                let (rate, slope) = base(w[0]);
                let k = factor(w[0]);
                Segment {
                    at: w[0],
                    end: w[1],
                    rate: rate * k,
                    slope: slope * k,
                }
            })
            .collect();
        Self {
            segments,
            poisson,
            seg: 0,
            t: 0.0,
            first: true,
            rng,
        }
    }

    /// How many arrivals the profile holds on average (the integral of its rate).
    pub fn expected(&self) -> f64 {
        self.segments.iter().map(Segment::area).sum()
    }

    /// The mean rate over the run, per second of wall time.
    pub fn mean_rate(&self) -> f64 {
        let span = self.segments.last().map_or(0.0, |s| s.end);
        if span > 0.0 {
            self.expected() / span
        } else {
            0.0
        }
    }

    /// The next arrival's intended time from the start of the load (wall time), or `None`
    /// when the run has no more.
    pub fn next_arrival(&mut self) -> Option<Duration> {
        let mut need = if self.poisson {
            // Exp(1) by inversion; 1 - u is in (0, 1], so the logarithm is finite.
            -(1.0 - self.rng.random::<f64>()).ln()
        } else if self.first {
            0.0
        } else {
            1.0
        };
        self.first = false;
        while let Some(seg) = self.segments.get(self.seg) {
            let from = self.t.max(seg.at);
            let rate_now = seg.rate + seg.slope * (from - seg.at);
            if need <= 0.0 {
                // The first arrival comes at once, unless no one arrives yet (a phase with
                // factor 0, say): then it comes as soon as the rate is above zero.
                if from < seg.end && (rate_now > 0.0 || seg.slope > 0.0) {
                    self.t = from;
                    return Some(Duration::from_secs_f64(from));
                }
            } else if let Some(t) = seg.solve(from, need) {
                self.t = t;
                return Some(Duration::from_secs_f64(t));
            }
            need -= seg.area_from(from).max(0.0);
            self.seg += 1;
            self.t = seg.end;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn main(secs: u64) -> Vec<PhasePlan> {
        vec![PhasePlan {
            name: "main".into(),
            from: Duration::ZERO,
            to: Duration::from_secs(secs),
            rate_factor: 1.0,
        }]
    }

    fn all(mut a: Arrivals) -> Vec<f64> {
        std::iter::from_fn(|| a.next_arrival())
            .map(|d| d.as_secs_f64())
            .collect()
    }

    fn rng() -> Pcg64Mcg {
        Pcg64Mcg::seed_from_u64(7)
    }

    #[test]
    fn constant_is_evenly_spaced_from_zero() {
        let a = Arrivals::new(&ArrivalFile::Constant { rate: 10.0 }, &main(2), 1.0, rng());
        let times = all(a);
        assert_eq!(times.len(), 20);
        for (i, t) in times.iter().enumerate() {
            assert!((t - i as f64 / 10.0).abs() < 1e-9, "{i}: {t}");
        }
    }

    #[test]
    fn time_scale_shortens_the_run_not_the_rate() {
        let a = Arrivals::new(
            &ArrivalFile::Constant { rate: 10.0 },
            &main(20),
            10.0,
            rng(),
        );
        let times = all(a);
        assert_eq!(times.len(), 20);
        assert!(*times.last().unwrap() < 2.0);
    }

    #[test]
    fn a_day_keeps_its_mean_and_its_peak_at_any_time_scale() {
        let model = ArrivalFile::Diurnal {
            mean: 10.0,
            amplitude: 0.6,
            peak_hour: 20.0,
            start_hour: 0.0,
            poisson: false,
        };
        // A day compressed 1440×: 60 s of wall time at a mean of 10/s.
        let a = Arrivals::new(&model, &main(86_400), 1440.0, rng());
        assert!((a.expected() - 600.0).abs() < 6.0, "{}", a.expected());
        let times = all(a);
        // Per compressed hour (2.5 s): fewest around 08:00, most around 20:00.
        let per_hour = |h: f64| {
            times
                .iter()
                .filter(|t| **t >= h * 2.5 && **t < (h + 1.0) * 2.5)
                .count()
        };
        assert!(
            per_hour(20.0) > 3 * per_hour(8.0),
            "{} {}",
            per_hour(20.0),
            per_hour(8.0)
        );
        // 10 × (1 ± 0.6) per second over 2.5 s.
        assert!((38..=41).contains(&per_hour(19.0)), "{}", per_hour(19.0));
        assert!(per_hour(8.0) <= 12, "{}", per_hour(8.0));
    }

    #[test]
    fn ramp_integrates_linearly() {
        // 0 → 100/s over 10 s: 500 arrivals, the i-th at sqrt(2 i / 10).
        let model = ArrivalFile::Ramp {
            from: 0.0,
            to: 100.0,
            over: Duration::from_secs(10),
            poisson: false,
        };
        let a = Arrivals::new(&model, &main(10), 1.0, rng());
        assert!((a.expected() - 500.0).abs() < 1e-6);
        let times = all(a);
        assert_eq!(times.len(), 500);
        assert!((times[200] - (2.0 * 200.0 / 10.0f64).sqrt()).abs() < 1e-6);
    }

    #[test]
    fn spike_and_phase_factors_change_the_rate() {
        let model = ArrivalFile::Spike {
            rate: 10.0,
            peak: 100.0,
            at: Duration::from_secs(2),
            hold: Duration::from_secs(1),
            poisson: false,
        };
        let phases = vec![
            PhasePlan {
                name: "a".into(),
                from: Duration::ZERO,
                to: Duration::from_secs(4),
                rate_factor: 1.0,
            },
            PhasePlan {
                name: "b".into(),
                from: Duration::from_secs(4),
                to: Duration::from_secs(6),
                rate_factor: 0.0,
            },
        ];
        let times = all(Arrivals::new(&model, &phases, 1.0, rng()));
        let in_spike = times.iter().filter(|t| (2.0..3.0).contains(*t)).count();
        assert!((99..=101).contains(&in_spike), "{in_spike}");
        assert!(
            times.iter().all(|t| *t < 4.0),
            "phase b has factor 0: {:?}",
            &times[times.len() - 3..]
        );
        assert!((129..=131).contains(&times.len()), "{}", times.len());
    }

    #[test]
    fn poisson_has_the_rate_and_is_seeded() {
        let model = ArrivalFile::Poisson { rate: 1000.0 };
        let a = all(Arrivals::new(&model, &main(10), 1.0, rng()));
        let b = all(Arrivals::new(&model, &main(10), 1.0, rng()));
        assert_eq!(a, b, "same seed, same arrivals");
        // Mean 10,000, standard deviation 100.
        assert!((9_600..=10_400).contains(&a.len()), "{}", a.len());
        let gaps: Vec<f64> = a.windows(2).map(|w| w[1] - w[0]).collect();
        let short = gaps.iter().filter(|g| **g < 0.001).count() as f64 / gaps.len() as f64;
        // P(gap < mean) = 1 - 1/e for exponential gaps.
        assert!((short - 0.632).abs() < 0.03, "{short}");
    }
}
