//! Latency distributions (fixed, uniform, normal, log-normal, Pareto, empirical) with clamps,
//! and the seeded per-message random streams the behaviour engine draws from.
//!
//! Every draw here is a pure function of the random stream: a [`Distribution`] is sampled by
//! inverse CDF from exactly one `u64` of the stream ([`Distribution::sample`] is
//! `quantile(u)` for a uniform `u`), and [`stream`] derives a PCG generator from a seed and a
//! key with a mixing function written down in this file. Together they make a run replayable:
//! the same seed, carrier, destination and occurrence give the same delays and outcomes on
//! every platform and every release, independent of `rand_distr`'s sampling algorithms (which
//! are free to change their value streams between versions). A distribution's kind can also be
//! changed without shifting the draws that follow it on the same stream.
//!
//! The config form (TOML, durations as humantime strings):
//!
//! ```toml
//! submit_delay = "2s"                                              # shorthand for fixed
//! fixed        = { kind = "fixed", value = "2s" }
//! uniform      = { kind = "uniform", min = "1s", max = "3s" }
//! normal       = { kind = "normal", mean = "2s", stddev = "500ms", floor = "100ms" }
//! lognormal    = { kind = "lognormal", median = "2s", p99 = "15s", cap = "60s" }
//! pareto       = { kind = "pareto", scale = "1s", shape = 1.5, cap = "5m" }
//! empirical    = { kind = "empirical", points = [
//!     { p = 0.5, value = "1s" }, { p = 0.9, value = "3s" }, { p = 1.0, value = "10s" } ] }
//! ```

use std::fmt;
use std::time::Duration;

use humantime_serde::re::humantime;
use rand::Rng;
use rand_pcg::Pcg64Mcg;
use schemars::{JsonSchema, Schema};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The standard normal quantile at p = 0.99: a log-normal's `p99` sits this many sigmas above
/// its median.
pub const Z99: f64 = 2.326_347_874_040_840_8;

/// A latency distribution as written in the config file.
///
/// Every kind takes optional `floor` and `cap` clamps, applied after sampling; a sample below
/// zero (possible for `normal`) becomes zero, then the floor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(
    remote = "Self",
    tag = "kind",
    rename_all = "lowercase",
    deny_unknown_fields
)]
#[schemars(rename = "Distribution", transform = add_shorthand_schema)]
pub enum Distribution {
    /// Always the same delay.
    Fixed {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        value: Duration,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        floor: Option<Duration>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        cap: Option<Duration>,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        min: Duration,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        max: Duration,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        floor: Option<Duration>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        cap: Option<Duration>,
    },
    /// Gaussian; negative samples become zero (or the floor).
    Normal {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        mean: Duration,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        stddev: Duration,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        floor: Option<Duration>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        cap: Option<Duration>,
    },
    /// Log-normal given by its median and 99th percentile: `mu = ln(median)`,
    /// `sigma = ln(p99 / median) / Z99`.
    LogNormal {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        median: Duration,
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        p99: Duration,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        floor: Option<Duration>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        cap: Option<Duration>,
    },
    /// Pareto (heavy tail): `scale` is the minimum, a smaller `shape` a heavier tail (the mean
    /// is infinite for `shape <= 1`, so pair it with a `cap`).
    Pareto {
        #[serde(with = "humantime_serde")]
        #[schemars(with = "String")]
        scale: Duration,
        shape: f64,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        floor: Option<Duration>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        cap: Option<Duration>,
    },
    /// Cumulative quantile points, sampled by inverse CDF with linear interpolation between
    /// them, starting from zero at p = 0 unless the first point has p = 0.
    Empirical {
        points: Vec<QuantilePoint>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        floor: Option<Duration>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "humantime_serde::option"
        )]
        #[schemars(with = "Option<String>")]
        cap: Option<Duration>,
    },
}

/// One point of an empirical distribution: a fraction `p` of samples is at most `value`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantilePoint {
    pub p: f64,
    #[serde(with = "humantime_serde")]
    #[schemars(with = "String")]
    pub value: Duration,
}

/// Wraps the derived (tagged-table) schema so it also accepts the plain-string shorthand.
fn add_shorthand_schema(schema: &mut Schema) {
    let mut tagged = std::mem::take(schema).to_value();
    let mut top = serde_json::Map::new();
    // Title and description describe the whole type, so they stay on the outer schema.
    if let Some(obj) = tagged.as_object_mut() {
        for key in ["title", "description"] {
            if let Some(v) = obj.remove(key) {
                top.insert(key.to_owned(), v);
            }
        }
    }
    top.insert(
        "anyOf".to_owned(),
        serde_json::json!([
            {
                "type": "string",
                "description": "Shorthand for a fixed delay: a humantime duration such as \"250ms\" or \"2s\"."
            },
            tagged
        ]),
    );
    *schema = Schema::from(top);
}

impl Serialize for Distribution {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The inherent (remote = "Self") serializer writes the tagged table form.
        Distribution::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for Distribution {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DistributionVisitor;

        impl<'de> Visitor<'de> for DistributionVisitor {
            type Value = Distribution;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration such as \"250ms\", or a table with `kind` = one of \
                     fixed, uniform, normal, lognormal, pareto, empirical",
                )
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Distribution, E> {
                let value = humantime::parse_duration(s)
                    .map_err(|e| E::custom(format!("invalid duration {s:?}: {e}")))?;
                Ok(Distribution::Fixed {
                    value,
                    floor: None,
                    cap: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Distribution, A::Error> {
                Distribution::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer.deserialize_any(DistributionVisitor)
    }
}

fn fmt_d(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

impl Distribution {
    /// A fixed delay without clamps.
    pub fn fixed(value: Duration) -> Self {
        Distribution::Fixed {
            value,
            floor: None,
            cap: None,
        }
    }

    /// Zero delay.
    pub fn fixed_zero() -> Self {
        Self::fixed(Duration::ZERO)
    }

    /// A fixed delay of whole seconds.
    pub fn fixed_secs(secs: u64) -> Self {
        Self::fixed(Duration::from_secs(secs))
    }

    /// Uniform between two whole-second bounds, without clamps.
    pub fn uniform_secs(min: u64, max: u64) -> Self {
        Distribution::Uniform {
            min: Duration::from_secs(min),
            max: Duration::from_secs(max),
            floor: None,
            cap: None,
        }
    }

    /// The `(floor, cap)` clamps of any kind.
    pub fn clamps(&self) -> (Option<Duration>, Option<Duration>) {
        match self {
            Distribution::Fixed { floor, cap, .. }
            | Distribution::Uniform { floor, cap, .. }
            | Distribution::Normal { floor, cap, .. }
            | Distribution::LogNormal { floor, cap, .. }
            | Distribution::Pareto { floor, cap, .. }
            | Distribution::Empirical { floor, cap, .. } => (*floor, *cap),
        }
    }

    /// The config key of this kind (`"fixed"`, `"lognormal"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Distribution::Fixed { .. } => "fixed",
            Distribution::Uniform { .. } => "uniform",
            Distribution::Normal { .. } => "normal",
            Distribution::LogNormal { .. } => "lognormal",
            Distribution::Pareto { .. } => "pareto",
            Distribution::Empirical { .. } => "empirical",
        }
    }

    /// Checks the parameters; the message names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Distribution::Fixed { .. } | Distribution::Normal { .. } => {}
            Distribution::Uniform { min, max, .. } => {
                if min > max {
                    return Err(format!(
                        "min ({}) must not be greater than max ({})",
                        fmt_d(*min),
                        fmt_d(*max)
                    ));
                }
            }
            Distribution::LogNormal { median, p99, .. } => {
                if median.is_zero() {
                    return Err("median must be greater than 0".to_owned());
                }
                if p99 <= median {
                    return Err(format!(
                        "p99 ({}) must be greater than median ({})",
                        fmt_d(*p99),
                        fmt_d(*median)
                    ));
                }
            }
            Distribution::Pareto { scale, shape, .. } => {
                if scale.is_zero() {
                    return Err("scale must be greater than 0".to_owned());
                }
                if !(shape.is_finite() && *shape > 0.0) {
                    return Err(format!(
                        "shape ({shape}) must be a finite number greater than 0"
                    ));
                }
            }
            Distribution::Empirical { points, .. } => validate_points(points)?,
        }
        if let (Some(floor), Some(cap)) = self.clamps()
            && floor > cap
        {
            return Err(format!(
                "floor ({}) must not be greater than cap ({})",
                fmt_d(floor),
                fmt_d(cap)
            ));
        }
        Ok(())
    }

    /// The `p`-quantile, clamps applied: the delay that a fraction `p` of samples does not
    /// exceed. Exact for every kind except `normal` and `lognormal`, whose standard normal
    /// quantile is good to about 1e-9 relative. `p` is clamped into `[0, 1]` (NaN counts as 0);
    /// an unbounded tail at `p = 1` saturates to `Duration::MAX` unless capped.
    pub fn quantile(&self, p: f64) -> Duration {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        let (floor, cap) = self.clamps();
        let mut d = secs_to_duration(self.raw_quantile_secs(p));
        if let Some(floor) = floor {
            d = d.max(floor);
        }
        if let Some(cap) = cap {
            d = d.min(cap);
        }
        d
    }

    /// One sample. Draws exactly one `u64` from `rng`, whatever the kind, and maps it through
    /// [`Distribution::quantile`] (inverse CDF), so the value depends only on the stream.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        self.quantile(open_unit(rng.next_u64()))
    }

    /// Quantile in seconds before clamping; may be negative or infinite.
    fn raw_quantile_secs(&self, p: f64) -> f64 {
        match self {
            Distribution::Fixed { value, .. } => value.as_secs_f64(),
            Distribution::Uniform { min, max, .. } => {
                let (lo, hi) = (min.as_secs_f64(), max.as_secs_f64());
                lo + (hi - lo) * p
            }
            Distribution::Normal { mean, stddev, .. } => {
                mean.as_secs_f64() + stddev.as_secs_f64() * std_normal_quantile(p)
            }
            Distribution::LogNormal { median, p99, .. } => {
                let median = median.as_secs_f64();
                let sigma = (p99.as_secs_f64() / median).ln() / Z99;
                median * (sigma * std_normal_quantile(p)).exp()
            }
            Distribution::Pareto { scale, shape, .. } => {
                scale.as_secs_f64() * (1.0 - p).powf(-1.0 / shape)
            }
            Distribution::Empirical { points, .. } => empirical_quantile(points, p),
        }
    }
}

fn validate_points(points: &[QuantilePoint]) -> Result<(), String> {
    let Some(last) = points.last() else {
        return Err("points must not be empty".to_owned());
    };
    for (i, pt) in points.iter().enumerate() {
        if !(0.0..=1.0).contains(&pt.p) {
            return Err(format!("points[{i}].p ({}) must be within [0, 1]", pt.p));
        }
        if i > 0 {
            let prev = &points[i - 1];
            if pt.p <= prev.p {
                return Err(format!(
                    "points[{i}].p ({}) must be greater than points[{}].p ({})",
                    pt.p,
                    i - 1,
                    prev.p
                ));
            }
            if pt.value < prev.value {
                return Err(format!(
                    "points[{i}].value ({}) must not be less than points[{}].value ({})",
                    fmt_d(pt.value),
                    i - 1,
                    fmt_d(prev.value)
                ));
            }
        }
    }
    if last.p != 1.0 {
        return Err(format!(
            "the last point's p must be 1 (points[{}].p is {})",
            points.len() - 1,
            last.p
        ));
    }
    Ok(())
}

/// Inverse CDF of a validated empirical distribution, linear between points, from (0, 0).
fn empirical_quantile(points: &[QuantilePoint], p: f64) -> f64 {
    let (mut p0, mut v0) = (0.0, 0.0);
    for pt in points {
        let v1 = pt.value.as_secs_f64();
        if p <= pt.p {
            if pt.p <= p0 {
                return v1;
            }
            return v0 + (v1 - v0) * (p - p0) / (pt.p - p0);
        }
        (p0, v0) = (pt.p, v1);
    }
    v0
}

/// Seconds to a `Duration`, saturating: negative or NaN gives zero, too large `Duration::MAX`.
fn secs_to_duration(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

/// Maps a `u64` to the open interval (0, 1): the top 53 bits, centred in their cell, so
/// neither 0 nor 1 (where the normal and Pareto quantiles are infinite) can come out.
fn open_unit(x: u64) -> f64 {
    ((x >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// One uniform draw in [0, 1) from `rng` (53 bits), taking exactly one `u64`.
pub fn unit<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    half_open_unit(rng.next_u64())
}

/// Maps a `u64` to [0, 1) with 53 bits of precision.
fn half_open_unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Standard normal quantile (inverse CDF) by P. J. Acklam's rational approximation: relative
/// error below 1.15e-9 over (0, 1), which is well under a nanosecond for any delay here.
/// Returns -inf at 0 and +inf at 1.
fn std_normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;

    // Tail: x = C(q) / D(q) with q = sqrt(-2 ln p).
    let tail = |p: f64| {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };

    if p <= 0.0 {
        f64::NEG_INFINITY
    } else if p >= 1.0 {
        f64::INFINITY
    } else if p < P_LOW {
        tail(p)
    } else if p > 1.0 - P_LOW {
        -tail(1.0 - p)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Divides a configured delay by the run's time scale: `time_scale` 10 makes everything ten
/// times faster. Saturates at `Duration::MAX`.
///
/// # Panics
/// If `time_scale` is not greater than zero (NaN included); config validation refuses those.
pub fn scale(d: Duration, time_scale: f64) -> Duration {
    assert!(
        time_scale > 0.0,
        "time_scale must be greater than 0, got {time_scale}"
    );
    if time_scale == 1.0 {
        return d;
    }
    secs_to_duration(d.as_secs_f64() / time_scale)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// One step of SplitMix64 (Steele, Lea and Flood): advances `state` and returns a well-mixed
/// output.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random stream for one `(seed, key)`, identical on every platform and release.
///
/// Mixing, fixed by this function and pinned by a golden test:
/// 1. `h` = FNV-1a 64 (offset basis `0xcbf29ce484222325`, prime `0x100000001b3`) over the
///    8 little-endian bytes of `seed`, then for each key part its length as 8 little-endian
///    bytes followed by its bytes (the length prefix keeps `["ab", "c"]` and `["a", "bc"]`
///    apart);
/// 2. two SplitMix64 outputs from state `h`: `lo` first, then `hi`;
/// 3. `Pcg64Mcg::new((hi << 64) | lo)` (PCG forces the low bit of its state to 1).
///
/// The engine calls it as
/// `stream(seed, &[carrier.as_bytes(), destination.as_bytes(), &occurrence.to_le_bytes()])`.
pub fn stream(seed: u64, key: &[&[u8]]) -> Pcg64Mcg {
    let mut h = fnv1a(FNV_OFFSET, &seed.to_le_bytes());
    for part in key {
        h = fnv1a(h, &(part.len() as u64).to_le_bytes());
        h = fnv1a(h, part);
    }
    let mut state = h;
    let lo = splitmix64(&mut state);
    let hi = splitmix64(&mut state);
    Pcg64Mcg::new((u128::from(hi) << 64) | u128::from(lo))
}

/// True with probability `p` (`p <= 0` or NaN never, `p >= 1` always). Draws exactly one `u64`.
pub fn chance<R: Rng + ?Sized>(rng: &mut R, p: f64) -> bool {
    half_open_unit(rng.next_u64()) < p
}

/// Checks a set of outcome probabilities: each within [0, 1], summing to 1 within 1e-9.
pub fn check_probabilities(ps: impl IntoIterator<Item = f64>) -> Result<(), String> {
    let mut sum = 0.0;
    for (i, p) in ps.into_iter().enumerate() {
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("probability #{i} ({p}) must be within [0, 1]"));
        }
        sum += p;
    }
    if (sum - 1.0).abs() > 1e-9 {
        // Rounded so 0.7 + 0.2 reads as 0.9, not 0.8999999999999999.
        let shown = (sum * 1e9).round() / 1e9;
        return Err(format!(
            "probabilities must sum to 1, but they sum to {shown}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wrap {
        d: Distribution,
    }

    fn parse(s: &str) -> Result<Distribution, String> {
        toml::from_str::<Wrap>(s)
            .map(|w| w.d)
            .map_err(|e| e.to_string())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Serializes to TOML, parses back, and checks nothing changed.
    fn round_trip(d: &Distribution) {
        let text = toml::to_string(&Wrap { d: d.clone() }).expect("serialize");
        let back = parse(&text).unwrap_or_else(|e| panic!("re-parse of {text}: {e}"));
        assert_eq!(&back, d, "round trip through {text}");
    }

    fn samples(d: &Distribution, n: usize) -> Vec<f64> {
        let mut rng = stream(7, &[b"stats", d.kind().as_bytes()]);
        (0..n).map(|_| d.sample(&mut rng).as_secs_f64()).collect()
    }

    fn sorted(mut v: Vec<f64>) -> Vec<f64> {
        v.sort_by(f64::total_cmp);
        v
    }

    fn empirical_q(sorted: &[f64], p: f64) -> f64 {
        sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    fn stddev(v: &[f64]) -> f64 {
        let m = mean(v);
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
    }

    fn close(actual: f64, expected: f64, rel: f64) {
        assert!(
            (actual - expected).abs() <= rel * expected.abs(),
            "{actual} not within {rel} of {expected}"
        );
    }

    #[test]
    fn shorthand_is_fixed() {
        assert_eq!(parse(r#"d = "2s""#).unwrap(), Distribution::fixed(secs(2)));
        assert_eq!(
            parse(r#"d = "250ms""#).unwrap(),
            Distribution::fixed(ms(250))
        );
        let e = parse(r#"d = "soon""#).unwrap_err();
        assert!(e.contains("invalid duration \"soon\""), "{e}");
    }

    #[test]
    fn every_form_parses() {
        assert_eq!(
            parse(r#"d = { kind = "fixed", value = "2s" }"#).unwrap(),
            Distribution::fixed(secs(2))
        );
        assert_eq!(
            parse(r#"d = { kind = "uniform", min = "1s", max = "3s" }"#).unwrap(),
            Distribution::Uniform {
                min: secs(1),
                max: secs(3),
                floor: None,
                cap: None
            }
        );
        assert_eq!(
            parse(r#"d = { kind = "normal", mean = "2s", stddev = "500ms", floor = "100ms" }"#)
                .unwrap(),
            Distribution::Normal {
                mean: secs(2),
                stddev: ms(500),
                floor: Some(ms(100)),
                cap: None
            }
        );
        assert_eq!(
            parse(r#"d = { kind = "lognormal", median = "2s", p99 = "15s", cap = "1m" }"#).unwrap(),
            Distribution::LogNormal {
                median: secs(2),
                p99: secs(15),
                floor: None,
                cap: Some(secs(60))
            }
        );
        assert_eq!(
            parse(r#"d = { kind = "pareto", scale = "1s", shape = 1.5 }"#).unwrap(),
            Distribution::Pareto {
                scale: secs(1),
                shape: 1.5,
                floor: None,
                cap: None
            }
        );
        assert_eq!(
            parse(
                r#"
                [d]
                kind = "empirical"
                points = [ { p = 0.5, value = "1s" }, { p = 0.9, value = "3s" }, { p = 1.0, value = "10s" } ]
                "#
            )
            .unwrap(),
            Distribution::Empirical {
                points: vec![
                    QuantilePoint { p: 0.5, value: secs(1) },
                    QuantilePoint { p: 0.9, value: secs(3) },
                    QuantilePoint { p: 1.0, value: secs(10) },
                ],
                floor: None,
                cap: None
            }
        );
    }

    #[test]
    fn every_form_round_trips() {
        let all = [
            Distribution::fixed(ms(1500)),
            Distribution::Fixed {
                value: secs(2),
                floor: Some(secs(1)),
                cap: Some(secs(3)),
            },
            Distribution::Uniform {
                min: secs(1),
                max: secs(3),
                floor: None,
                cap: Some(ms(2500)),
            },
            Distribution::Normal {
                mean: secs(2),
                stddev: ms(500),
                floor: Some(ms(100)),
                cap: None,
            },
            Distribution::LogNormal {
                median: secs(2),
                p99: secs(15),
                floor: None,
                cap: None,
            },
            Distribution::Pareto {
                scale: secs(1),
                shape: 1.5,
                floor: None,
                cap: Some(secs(300)),
            },
            Distribution::Empirical {
                points: vec![
                    QuantilePoint {
                        p: 0.0,
                        value: ms(100),
                    },
                    QuantilePoint {
                        p: 0.5,
                        value: secs(1),
                    },
                    QuantilePoint {
                        p: 1.0,
                        value: secs(10),
                    },
                ],
                floor: None,
                cap: None,
            },
        ];
        for d in &all {
            round_trip(d);
            // Also through JSON, which the control plane speaks.
            let json = serde_json::to_string(d).expect("json");
            let back: Distribution = serde_json::from_str(&json).expect("json back");
            assert_eq!(&back, d, "{json}");
        }
        assert_eq!(
            serde_json::from_str::<Distribution>(r#""3s""#).unwrap(),
            Distribution::fixed(secs(3))
        );
    }

    #[test]
    fn unknown_kind_lists_valid_kinds() {
        let e = parse(r#"d = { kind = "weibull", scale = "1s" }"#).unwrap_err();
        assert!(e.contains("unknown variant `weibull`"), "{e}");
        for kind in [
            "fixed",
            "uniform",
            "normal",
            "lognormal",
            "pareto",
            "empirical",
        ] {
            assert!(e.contains(&format!("`{kind}`")), "{kind} missing from {e}");
        }
        let e = parse(r#"d = { value = "1s" }"#).unwrap_err();
        assert!(e.contains("missing field `kind`"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = parse(r#"d = { kind = "fixed", value = "1s", jitter = "1s" }"#).unwrap_err();
        assert!(e.contains("unknown field `jitter`"), "{e}");
        let e = parse(r#"d = { kind = "uniform", min = "1s", max = "2s", min_clamp = "1s" }"#)
            .unwrap_err();
        assert!(e.contains("unknown field `min_clamp`"), "{e}");
        let e = parse(
            r#"d = { kind = "empirical", points = [ { p = 1.0, value = "1s", weight = 2 } ] }"#,
        )
        .unwrap_err();
        assert!(e.contains("unknown field `weight`"), "{e}");
        let e = parse(r#"d = { kind = "normal", mean = "1s" }"#).unwrap_err();
        assert!(e.contains("missing field `stddev`"), "{e}");
        let e = parse(r#"d = 5"#).unwrap_err();
        assert!(e.contains("a duration such as"), "{e}");
    }

    #[test]
    fn schema_describes_shorthand_and_tables() {
        let schema = serde_json::to_value(schemars::schema_for!(Distribution)).expect("schema");
        let any_of = schema["anyOf"].as_array().expect("anyOf");
        assert_eq!(any_of[0]["type"], "string");
        let text = any_of[1].to_string();
        for kind in [
            "fixed",
            "uniform",
            "normal",
            "lognormal",
            "pareto",
            "empirical",
        ] {
            assert!(text.contains(&format!("\"{kind}\"")), "{kind} in {text}");
        }
        assert!(
            text.contains("\"floor\"") && text.contains("\"p99\""),
            "{text}"
        );
        assert_eq!(schema["title"], "Distribution");
    }

    #[test]
    fn validation_names_the_bad_key() {
        let err = |d: Distribution| d.validate().unwrap_err();
        assert_eq!(
            err(Distribution::LogNormal {
                median: secs(2),
                p99: secs(1),
                floor: None,
                cap: None
            }),
            "p99 (1s) must be greater than median (2s)"
        );
        assert_eq!(
            err(Distribution::LogNormal {
                median: Duration::ZERO,
                p99: secs(1),
                floor: None,
                cap: None
            }),
            "median must be greater than 0"
        );
        assert_eq!(
            err(Distribution::Uniform {
                min: secs(3),
                max: secs(1),
                floor: None,
                cap: None
            }),
            "min (3s) must not be greater than max (1s)"
        );
        assert_eq!(
            err(Distribution::Fixed {
                value: secs(1),
                floor: Some(secs(5)),
                cap: Some(secs(2))
            }),
            "floor (5s) must not be greater than cap (2s)"
        );
        for shape in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = err(Distribution::Pareto {
                scale: secs(1),
                shape,
                floor: None,
                cap: None,
            });
            assert!(e.starts_with("shape ("), "{e}");
        }
        assert_eq!(
            err(Distribution::Pareto {
                scale: Duration::ZERO,
                shape: 1.0,
                floor: None,
                cap: None
            }),
            "scale must be greater than 0"
        );
        let emp = |pts: &[(f64, u64)]| Distribution::Empirical {
            points: pts
                .iter()
                .map(|&(p, v)| QuantilePoint { p, value: ms(v) })
                .collect(),
            floor: None,
            cap: None,
        };
        assert_eq!(err(emp(&[])), "points must not be empty");
        assert_eq!(
            err(emp(&[(0.5, 1000), (0.5, 2000), (1.0, 3000)])),
            "points[1].p (0.5) must be greater than points[0].p (0.5)"
        );
        assert_eq!(
            err(emp(&[(0.5, 3000), (1.0, 1000)])),
            "points[1].value (1s) must not be less than points[0].value (3s)"
        );
        assert_eq!(
            err(emp(&[(0.5, 1000), (0.9, 3000)])),
            "the last point's p must be 1 (points[1].p is 0.9)"
        );
        assert_eq!(
            err(emp(&[(1.5, 1000)])),
            "points[0].p (1.5) must be within [0, 1]"
        );
        assert_eq!(
            err(emp(&[(-0.1, 1000), (1.0, 2000)])),
            "points[0].p (-0.1) must be within [0, 1]"
        );
        assert!(err(emp(&[(f64::NAN, 1000), (1.0, 2000)])).starts_with("points[0].p (NaN)"));
        // A first point at p = 0 sets the minimum instead of starting from zero.
        emp(&[(0.0, 500), (1.0, 2000)]).validate().unwrap();
        emp(&[(0.5, 1000), (0.9, 1000), (1.0, 3000)])
            .validate()
            .unwrap();
        Distribution::Normal {
            mean: secs(1),
            stddev: Duration::ZERO,
            floor: Some(secs(1)),
            cap: Some(secs(1)),
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn normal_quantile_matches_known_values() {
        // Reference values of the standard normal quantile, one or more in every branch.
        let cases = [
            (0.5, 0.0),
            (0.841_344_746_068_542_9, 1.0),
            (0.9, 1.281_551_565_544_600_4),
            (0.975, 1.959_963_984_540_054),
            (0.99, Z99),
            (0.999, 3.090_232_306_167_813),
            (0.001_349_898_031_630_094_6, -3.0),
            (0.01, -Z99),
            (0.1, -1.281_551_565_544_600_4),
            (1e-9, -5.997_807_015_007_686),
        ];
        for (p, z) in cases {
            let got = std_normal_quantile(p);
            assert!(
                (got - z).abs() <= 1.2e-9 * z.abs().max(1e-3),
                "z({p}) = {got}, want {z}"
            );
        }
        assert_eq!(std_normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(std_normal_quantile(1.0), f64::INFINITY);
    }

    #[test]
    fn analytic_quantiles() {
        let ln = Distribution::LogNormal {
            median: secs(2),
            p99: secs(15),
            floor: None,
            cap: None,
        };
        close(ln.quantile(0.5).as_secs_f64(), 2.0, 1e-9);
        close(ln.quantile(0.99).as_secs_f64(), 15.0, 1e-8);
        assert_eq!(ln.quantile(0.0), Duration::ZERO);
        assert_eq!(ln.quantile(1.0), Duration::MAX);

        let par = Distribution::Pareto {
            scale: secs(1),
            shape: 2.0,
            floor: None,
            cap: Some(secs(100)),
        };
        assert_eq!(par.quantile(0.0), secs(1));
        assert_eq!(par.quantile(0.75), secs(2));
        assert_eq!(par.quantile(1.0), secs(100));

        let uni = Distribution::Uniform {
            min: secs(1),
            max: secs(3),
            floor: None,
            cap: None,
        };
        assert_eq!(uni.quantile(0.25), ms(1500));
        assert_eq!(uni.quantile(-1.0), secs(1));
        assert_eq!(uni.quantile(f64::NAN), secs(1));

        let emp = Distribution::Empirical {
            points: vec![
                QuantilePoint {
                    p: 0.5,
                    value: secs(1),
                },
                QuantilePoint {
                    p: 0.9,
                    value: secs(3),
                },
                QuantilePoint {
                    p: 1.0,
                    value: secs(10),
                },
            ],
            floor: None,
            cap: None,
        };
        assert_eq!(emp.quantile(0.0), Duration::ZERO);
        assert_eq!(emp.quantile(0.25), ms(500));
        assert_eq!(emp.quantile(0.5), secs(1));
        assert_eq!(emp.quantile(0.7), secs(2));
        assert_eq!(emp.quantile(0.95), ms(6500));
        assert_eq!(emp.quantile(1.0), secs(10));
        let from_min = Distribution::Empirical {
            points: vec![
                QuantilePoint {
                    p: 0.0,
                    value: secs(1),
                },
                QuantilePoint {
                    p: 1.0,
                    value: secs(3),
                },
            ],
            floor: None,
            cap: None,
        };
        assert_eq!(from_min.quantile(0.0), secs(1));
        assert_eq!(from_min.quantile(0.5), secs(2));

        let normal = Distribution::Normal {
            mean: secs(1),
            stddev: secs(1),
            floor: Some(ms(10)),
            cap: None,
        };
        // z(0.1) is about -1.28: negative, so the floor.
        assert_eq!(normal.quantile(0.1), ms(10));
        close(
            normal.quantile(0.975).as_secs_f64(),
            2.959_963_984_540_054,
            1e-9,
        );
    }

    #[test]
    fn lognormal_sample_statistics() {
        let d = Distribution::LogNormal {
            median: secs(2),
            p99: secs(15),
            floor: None,
            cap: None,
        };
        let s = sorted(samples(&d, 100_000));
        close(empirical_q(&s, 0.5), 2.0, 0.03);
        close(empirical_q(&s, 0.99), 15.0, 0.06);
        // Analytic mean exp(mu + sigma^2 / 2).
        let sigma = (15.0f64 / 2.0).ln() / Z99;
        close(mean(&s), 2.0 * (sigma * sigma / 2.0).exp(), 0.03);
    }

    #[test]
    fn uniform_sample_statistics() {
        let d = Distribution::Uniform {
            min: secs(1),
            max: secs(3),
            floor: None,
            cap: None,
        };
        let s = samples(&d, 100_000);
        assert!(s.iter().all(|&x| (1.0..=3.0).contains(&x)));
        close(mean(&s), 2.0, 0.005);
        // Variance of U(1, 3) is 4/12.
        close(stddev(&s), (4.0f64 / 12.0).sqrt(), 0.01);
        let s = sorted(s);
        assert!(s[0] < 1.001 && s[s.len() - 1] > 2.999);
    }

    #[test]
    fn normal_sample_statistics() {
        let d = Distribution::Normal {
            mean: secs(10),
            stddev: secs(2),
            floor: None,
            cap: None,
        };
        let s = samples(&d, 100_000);
        close(mean(&s), 10.0, 0.003);
        close(stddev(&s), 2.0, 0.015);
        let s = sorted(s);
        close(
            empirical_q(&s, 0.975),
            10.0 + 2.0 * 1.959_963_984_540_054,
            0.01,
        );
    }

    #[test]
    fn pareto_sample_statistics() {
        let d = Distribution::Pareto {
            scale: secs(1),
            shape: 1.5,
            floor: None,
            cap: None,
        };
        let s = sorted(samples(&d, 100_000));
        assert!(s[0] >= 1.0);
        // Median scale * 2^(1/shape); p90 scale * 10^(1/shape).
        close(empirical_q(&s, 0.5), 2f64.powf(1.0 / 1.5), 0.02);
        close(empirical_q(&s, 0.9), 10f64.powf(1.0 / 1.5), 0.03);
    }

    #[test]
    fn empirical_sample_statistics() {
        let d = Distribution::Empirical {
            points: vec![
                QuantilePoint {
                    p: 0.5,
                    value: secs(1),
                },
                QuantilePoint {
                    p: 0.9,
                    value: secs(3),
                },
                QuantilePoint {
                    p: 1.0,
                    value: secs(10),
                },
            ],
            floor: None,
            cap: None,
        };
        let s = sorted(samples(&d, 100_000));
        close(empirical_q(&s, 0.25), 0.5, 0.02);
        close(empirical_q(&s, 0.5), 1.0, 0.02);
        close(empirical_q(&s, 0.7), 2.0, 0.02);
        close(empirical_q(&s, 0.9), 3.0, 0.02);
        close(empirical_q(&s, 0.95), 6.5, 0.03);
        assert!(s[s.len() - 1] <= 10.0);
    }

    #[test]
    fn clamps_hold_for_every_kind() {
        let (floor, cap) = (Some(ms(800)), Some(secs(4)));
        let all = [
            Distribution::Uniform {
                min: Duration::ZERO,
                max: secs(10),
                floor,
                cap,
            },
            Distribution::Normal {
                mean: secs(1),
                stddev: secs(3),
                floor,
                cap,
            },
            Distribution::LogNormal {
                median: secs(2),
                p99: secs(30),
                floor,
                cap,
            },
            Distribution::Pareto {
                scale: ms(100),
                shape: 0.5,
                floor,
                cap,
            },
        ];
        for d in &all {
            let s = samples(d, 100_000);
            assert!(s.iter().all(|&x| (0.8..=4.0).contains(&x)), "{d:?}");
            // Both clamps actually bite for these parameters.
            assert!(s.contains(&0.8), "{d:?} never floored");
            assert!(s.contains(&4.0), "{d:?} never capped");
        }
        // Negative normal samples become zero without a floor.
        let d = Distribution::Normal {
            mean: Duration::ZERO,
            stddev: secs(1),
            floor: None,
            cap: None,
        };
        let s = samples(&d, 10_000);
        assert!(s.iter().all(|&x| x >= 0.0));
        let zeros = s.iter().filter(|&&x| x == 0.0).count();
        assert!((4_700..5_300).contains(&zeros), "{zeros}");
    }

    #[test]
    fn streams_are_deterministic_and_keyed() {
        let key: [&[u8]; 3] = [b"alpha", b"447700900001", &0u64.to_le_bytes()];
        let a: Vec<u64> = (0..16)
            .scan(stream(42, &key), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..16)
            .scan(stream(42, &key), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        let first = |seed: u64, key: &[&[u8]]| stream(seed, key).next_u64();
        let base = first(42, &key);
        assert_ne!(base, first(43, &key));
        assert_ne!(
            base,
            first(42, &[b"alpha", b"447700900001", &1u64.to_le_bytes()])
        );
        assert_ne!(
            base,
            first(42, &[b"alpha", b"447700900002", &0u64.to_le_bytes()])
        );
        // Length prefixes keep differently split keys apart.
        assert_ne!(first(1, &[b"ab", b"c"]), first(1, &[b"a", b"bc"]));
        assert_ne!(first(1, &[]), first(1, &[b""]));
        // Samples follow the stream, one u64 each.
        let d = Distribution::Normal {
            mean: secs(2),
            stddev: secs(1),
            floor: None,
            cap: None,
        };
        let mut r1 = stream(42, &key);
        let mut r2 = stream(42, &key);
        for _ in 0..100 {
            assert_eq!(d.sample(&mut r1), d.sample(&mut r2));
        }
        let mut r3 = stream(42, &key);
        Distribution::fixed(secs(1)).sample(&mut r3);
        assert_eq!(r3.next_u64(), a[1]);
    }

    #[test]
    fn stream_golden_values() {
        // Pinned: a change here replays every seeded run differently. Only update it on
        // purpose, and say so in the changelog.
        let mut rng = stream(42, &[b"alpha", b"447700900001", &0u64.to_le_bytes()]);
        let got: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
        assert_eq!(got, GOLDEN);
        // And the inverse-CDF mapping from the stream to delays.
        let d = Distribution::LogNormal {
            median: secs(2),
            p99: secs(15),
            floor: None,
            cap: None,
        };
        let mut rng = stream(42, &[b"alpha", b"447700900001", &0u64.to_le_bytes()]);
        let delays: Vec<Duration> = (0..3).map(|_| d.sample(&mut rng)).collect();
        assert_eq!(
            delays,
            [
                Duration::from_nanos(2_186_446_021),
                Duration::from_nanos(14_724_542_674),
                Duration::from_nanos(2_714_674_050),
            ]
        );
        // The mixing stages on their own, against independently known values.
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
        let mut state = 0u64;
        assert_eq!(splitmix64(&mut state), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut state), 0x6e78_9e6a_a1b9_65f4);
    }

    /// Also computed by an independent Python transcription of the steps documented on
    /// [`stream`] and of PCG XSL-RR 128/64 (MCG).
    const GOLDEN: [u64; 4] = [
        9_979_350_312_355_979_792,
        18_251_490_262_106_959_015,
        11_766_477_297_977_689_554,
        17_458_332_239_052_039_773,
    ];

    #[test]
    fn chance_matches_its_probability() {
        let mut rng = stream(1, &[b"chance"]);
        assert!(!(0..1000).any(|_| chance(&mut rng, 0.0)));
        assert!((0..1000).all(|_| chance(&mut rng, 1.0)));
        assert!(!(0..1000).any(|_| chance(&mut rng, f64::NAN)));
        let hits = (0..100_000).filter(|_| chance(&mut rng, 0.3)).count();
        assert!((29_500..30_500).contains(&hits), "{hits}");
    }

    #[test]
    fn probabilities_are_checked() {
        check_probabilities([0.5, 0.25, 0.25]).unwrap();
        check_probabilities([0.1; 10]).unwrap();
        check_probabilities([1.0]).unwrap();
        assert_eq!(
            check_probabilities([0.5, 0.4]).unwrap_err(),
            "probabilities must sum to 1, but they sum to 0.9"
        );
        assert_eq!(
            check_probabilities([0.5, 1.5]).unwrap_err(),
            "probability #1 (1.5) must be within [0, 1]"
        );
        assert_eq!(
            check_probabilities([f64::NAN]).unwrap_err(),
            "probability #0 (NaN) must be within [0, 1]"
        );
        assert!(check_probabilities([]).unwrap_err().contains("sum to 0"));
    }

    #[test]
    fn time_scale_divides() {
        assert_eq!(scale(secs(10), 10.0), secs(1));
        assert_eq!(scale(secs(10), 1.0), secs(10));
        assert_eq!(scale(secs(1), 0.5), secs(2));
        assert_eq!(scale(secs(1), f64::INFINITY), Duration::ZERO);
        assert_eq!(scale(Duration::MAX, 1e-3), Duration::MAX);
    }

    #[test]
    #[should_panic(expected = "time_scale must be greater than 0")]
    fn time_scale_zero_panics() {
        scale(secs(1), 0.0);
    }
}
