//! Token-bucket throttling per account and per carrier.
//!
//! A [`TokenBucket`] admits `rate` tokens per second with room for `burst` at once; each
//! message part costs one token. The engine asks it before accepting a `submit_sm` and answers a
//! refusal with the configured [`ThrottleResponse`] status. Time is always passed in, never read
//! here, so the arithmetic is exact under a synthetic clock and the engine decides what "now"
//! means (real time or a scaled one).
//!
//! The bucket is kept as a GCRA "theoretical arrival time" in integer nanoseconds rather than a
//! floating token count, so a steady sender at exactly the configured rate is never refused by
//! rounding and the wait returned with a refusal is exact: retrying after it succeeds.

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a throttle is configured (`{ rate = 50, burst = 50, response = "throttled" }`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Tokens per second, from `MIN_RATE` to `MAX_RATE`. A token is one message part.
    pub rate: f64,
    /// Bucket size: how many tokens can be spent at once. Default `ceil(rate)`, at least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// The status a refused submit gets.
    #[serde(default)]
    pub response: ThrottleResponse,
}

/// The SMPP status a throttled request is answered with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThrottleResponse {
    /// `ESME_RTHROTTLED` (0x58): the client should slow down.
    #[default]
    Throttled,
    /// `ESME_RMSGQFUL` (0x14): the carrier's queue is full.
    QueueFull,
}

impl ThrottleResponse {
    /// The SMPP `command_status` value.
    pub fn command_status(self) -> u32 {
        match self {
            ThrottleResponse::Throttled => 0x0000_0058,
            ThrottleResponse::QueueFull => 0x0000_0014,
        }
    }
}

impl ThrottleConfig {
    /// Slowest rate accepted: one token every 1e6 s (about 11.6 days).
    pub const MIN_RATE: f64 = 1e-6;
    /// Fastest rate accepted: one token per nanosecond, the bucket's resolution.
    pub const MAX_RATE: f64 = 1e9;

    /// A config with the default burst and response.
    pub fn new(rate: f64) -> Self {
        ThrottleConfig {
            rate,
            burst: None,
            response: ThrottleResponse::default(),
        }
    }

    /// The effective bucket size: `burst`, or `ceil(rate)` (at least 1) when unset.
    pub fn burst(&self) -> u32 {
        // `as` saturates, and validation keeps `rate` finite.
        self.burst
            .unwrap_or_else(|| (self.rate.ceil() as u32).max(1))
    }

    /// Time between two tokens, rounded to the nearest nanosecond (at least 1 ns).
    pub fn interval(&self) -> Duration {
        let rate = self.rate.clamp(Self::MIN_RATE, Self::MAX_RATE);
        Duration::from_nanos(((1e9 / rate).round() as u64).max(1))
    }

    /// Checks `rate` and `burst`; the message names the bad key.
    pub fn validate(&self) -> Result<(), String> {
        let rate = self.rate;
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!("rate ({rate}) must be a number greater than 0"));
        }
        if rate < Self::MIN_RATE {
            return Err(format!(
                "rate ({rate}) must be at least {} tokens per second",
                Self::MIN_RATE
            ));
        }
        if rate > Self::MAX_RATE {
            return Err(format!(
                "rate ({rate}) must be at most {} tokens per second",
                Self::MAX_RATE
            ));
        }
        if self.burst == Some(0) {
            return Err("burst must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// A token bucket. It starts full.
///
/// Cost rule: a request for `n` tokens (one per message part) passes when `n` tokens are
/// available. A request for more than `burst` tokens could never find that many, so it passes
/// only when the bucket is full, and then takes all `n`: the bucket goes into debt by
/// `n - burst` tokens and refuses everything until the debt is paid off by refill. Long
/// multipart messages are therefore admitted, but their cost still counts against the rate.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    config: ThrottleConfig,
    interval: Duration,
    burst: u32,
    /// When the bucket will be full again; at or before `now` means full. The fill at `now`
    /// is `burst - (tat - now) / interval`, negative while in debt.
    tat: Instant,
}

impl TokenBucket {
    /// A full bucket for a validated config.
    pub fn new(config: &ThrottleConfig, now: Instant) -> Self {
        TokenBucket {
            config: config.clone(),
            interval: config.interval(),
            burst: config.burst(),
            tat: now,
        }
    }

    /// The config in force (its `response` says how refusals are answered).
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// Takes `n` tokens, or returns how long until the request would pass (retrying after
    /// exactly that long succeeds if nothing else took tokens in between). `n = 0` always
    /// passes. See the type's documentation for requests larger than `burst`.
    pub fn try_take(&mut self, now: Instant, n: u32) -> Result<(), Duration> {
        if n == 0 {
            return Ok(());
        }
        let start = self.tat.max(now);
        // Time until full: the tokens already spent, in refill time.
        let deficit = start - now;
        let cost = self.interval.saturating_mul(n);
        if n > self.burst {
            if !deficit.is_zero() {
                return Err(deficit);
            }
            self.tat = now + cost;
            return Ok(());
        }
        let capacity = self.interval.saturating_mul(self.burst);
        let after = deficit + cost;
        if after > capacity {
            return Err(after - capacity);
        }
        self.tat = start + cost;
        Ok(())
    }

    /// Gives back `n` tokens taken by [`try_take`](Self::try_take) at `now` for a request
    /// that was refused further on (another bucket said no), so a refused message costs
    /// nothing. Never fills the bucket past full.
    pub fn refund(&mut self, now: Instant, n: u32) {
        let cost = self.interval.saturating_mul(n);
        self.tat = self.tat.checked_sub(cost).unwrap_or(now).max(now);
    }

    /// Tokens available at `now` (fractional while refilling, negative while in debt).
    pub fn tokens(&self, now: Instant) -> f64 {
        let deficit = self.tat.saturating_duration_since(now);
        f64::from(self.burst) - deficit.as_nanos() as f64 / self.interval.as_nanos() as f64
    }

    /// The bucket size in force.
    #[cfg(test)]
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Applies a changed config at runtime. The current fill carries over (it is not refilled
    /// by raising the rate), clamped to the new burst; debt carries over as well.
    pub fn reconfigure(&mut self, config: &ThrottleConfig, now: Instant) {
        let fill = self.tokens(now).min(f64::from(config.burst()));
        self.config = config.clone();
        self.interval = config.interval();
        self.burst = config.burst();
        let deficit_ns = (f64::from(self.burst) - fill) * self.interval.as_nanos() as f64;
        // Nanosecond rounding: exact whenever the fill is a whole number of tokens.
        self.tat = now + Duration::from_nanos(deficit_ns.round().max(0.0) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_restores_what_was_taken() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(&cfg(10.0, 5), t0);
        b.try_take(t0, 2).expect("room");
        assert!((b.tokens(t0) - 3.0).abs() < 1e-9);
        b.refund(t0, 2);
        assert!((b.tokens(t0) - 5.0).abs() < 1e-9);
        // Never past full.
        b.refund(t0, 2);
        assert!((b.tokens(t0) - 5.0).abs() < 1e-9);
    }

    fn cfg(rate: f64, burst: u32) -> ThrottleConfig {
        ThrottleConfig {
            rate,
            burst: Some(burst),
            response: ThrottleResponse::Throttled,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Offers one single-part message every `step` over `[0, total]` and counts admissions.
    fn admitted(config: &ThrottleConfig, step: Duration, total: Duration) -> usize {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(config, t0);
        let mut t = Duration::ZERO;
        let mut count = 0;
        while t <= total {
            if bucket.try_take(t0 + t, 1).is_ok() {
                count += 1;
            }
            t += step;
        }
        count
    }

    #[test]
    fn steady_rate_admits_rate_times_t_plus_burst() {
        // Offered far above the rate: exactly burst + rate * T get through over [0, T].
        assert_eq!(admitted(&cfg(50.0, 50), ms(1), ms(10_000)), 50 + 500);
        assert_eq!(admitted(&cfg(50.0, 1), ms(1), ms(10_000)), 1 + 500);
        assert_eq!(admitted(&cfg(2.5, 1), ms(1), ms(10_000)), 1 + 25);
        assert_eq!(
            admitted(&cfg(1000.0, 10), Duration::from_micros(100), ms(2_000)),
            10 + 2000
        );
        // Offered exactly at the rate: nothing is refused, even with a bucket of one.
        assert_eq!(admitted(&cfg(50.0, 1), ms(20), ms(10_000)), 501);
        // Non-integral interval (1/3 s rounds to 333_333_333 ns).
        assert_eq!(admitted(&cfg(3.0, 3), ms(1), ms(9_000)), 3 + 27);
    }

    #[test]
    fn burst_is_available_at_once_then_refills() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(&cfg(10.0, 5), t0);
        for _ in 0..5 {
            b.try_take(t0, 1).unwrap();
        }
        assert_eq!(b.try_take(t0, 1), Err(ms(100)));
        assert_eq!(b.tokens(t0), 0.0);
        assert_eq!(b.tokens(t0 + ms(250)), 2.5);
        // A long pause refills to burst and no further.
        assert_eq!(b.tokens(t0 + ms(60_000)), 5.0);
        let later = t0 + ms(60_000);
        for _ in 0..5 {
            b.try_take(later, 1).unwrap();
        }
        assert!(b.try_take(later, 1).is_err());
    }

    #[test]
    fn refusal_returns_the_exact_wait() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(&cfg(10.0, 2), t0);
        b.try_take(t0, 2).unwrap();
        assert_eq!(b.try_take(t0 + ms(30), 1), Err(ms(70)));
        assert_eq!(b.try_take(t0 + ms(30), 2), Err(ms(170)));
        // One nanosecond early is still refused, by one nanosecond; on time passes.
        let due = t0 + ms(200);
        assert_eq!(
            b.try_take(due - Duration::from_nanos(1), 2),
            Err(Duration::from_nanos(1))
        );
        b.try_take(due, 2).unwrap();
        // A refusal takes nothing.
        assert_eq!(b.try_take(due, 1), Err(ms(100)));
        assert_eq!(b.try_take(due, 1), Err(ms(100)));
        b.try_take(due + ms(100), 1).unwrap();
        // Zero parts always pass.
        b.try_take(due + ms(100), 0).unwrap();
    }

    #[test]
    fn each_part_costs_one_token() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(&cfg(10.0, 10), t0);
        b.try_take(t0, 3).unwrap();
        b.try_take(t0, 6).unwrap();
        assert_eq!(b.tokens(t0), 1.0);
        // A two-part message needs a second token: 100 ms away.
        assert_eq!(b.try_take(t0, 2), Err(ms(100)));
        b.try_take(t0, 1).unwrap();
        assert_eq!(b.try_take(t0 + ms(250), 3), Err(ms(50)));
        b.try_take(t0 + ms(300), 3).unwrap();
    }

    #[test]
    fn larger_than_burst_needs_a_full_bucket_and_leaves_debt() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(&cfg(10.0, 4), t0);
        b.try_take(t0, 1).unwrap();
        // Six parts > burst 4: waits for a full bucket, not for six tokens.
        assert_eq!(b.try_take(t0, 6), Err(ms(100)));
        let full = t0 + ms(100);
        b.try_take(full, 6).unwrap();
        assert_eq!(b.tokens(full), -2.0);
        // The debt of two tokens is paid off before anything else passes.
        assert_eq!(b.try_take(full, 1), Err(ms(300)));
        assert_eq!(b.try_take(full, 6), Err(ms(600)));
        b.try_take(full + ms(300), 1).unwrap();
        // Straight from a full bucket works too.
        let mut fresh = TokenBucket::new(&cfg(10.0, 4), t0);
        fresh.try_take(t0, 100).unwrap();
        assert_eq!(fresh.tokens(t0), -96.0);
        assert_eq!(fresh.try_take(t0, 1), Err(ms(9_700)));
    }

    #[test]
    fn reconfigure_keeps_the_fill_clamped_to_the_new_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(&cfg(10.0, 10), t0);
        b.try_take(t0, 4).unwrap();
        // A higher rate and burst do not refill the bucket.
        b.reconfigure(&cfg(20.0, 20), t0);
        assert_eq!(b.burst(), 20);
        assert_eq!(b.tokens(t0), 6.0);
        b.try_take(t0, 6).unwrap();
        // ...but the new rate applies from now on.
        assert_eq!(b.try_take(t0, 1), Err(ms(50)));
        assert_eq!(b.tokens(t0 + ms(500)), 10.0);

        // Shrinking the burst clamps the fill.
        let mut b = TokenBucket::new(&cfg(10.0, 10), t0);
        b.try_take(t0, 2).unwrap();
        b.reconfigure(&cfg(10.0, 3), t0);
        assert_eq!(b.tokens(t0), 3.0);
        b.try_take(t0, 3).unwrap();
        assert_eq!(b.try_take(t0, 1), Err(ms(100)));

        // Debt survives a reconfigure and is repaid at the new rate.
        let mut b = TokenBucket::new(&cfg(10.0, 2), t0);
        b.try_take(t0, 5).unwrap();
        b.reconfigure(&cfg(100.0, 2), t0);
        assert_eq!(b.tokens(t0), -3.0);
        assert_eq!(b.try_take(t0, 1), Err(ms(40)));

        // Mid-refill fill carries over fractionally.
        let mut b = TokenBucket::new(&cfg(10.0, 10), t0);
        b.try_take(t0, 10).unwrap();
        b.reconfigure(&cfg(2.0, 10), t0 + ms(250));
        assert_eq!(b.tokens(t0 + ms(250)), 2.5);
        assert_eq!(b.try_take(t0 + ms(250), 3), Err(ms(250)));
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wrap {
        throttle: ThrottleConfig,
    }

    fn parse(s: &str) -> Result<ThrottleConfig, String> {
        toml::from_str::<Wrap>(s)
            .map(|w| w.throttle)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn config_from_toml() {
        let c = parse(r#"throttle = { rate = 50, burst = 50, response = "throttled" }"#).unwrap();
        assert_eq!(c, cfg(50.0, 50));
        let c = parse(r#"throttle = { rate = 2.5 }"#).unwrap();
        assert_eq!(c, ThrottleConfig::new(2.5));
        assert_eq!(c.burst(), 3);
        assert_eq!(ThrottleConfig::new(0.2).burst(), 1);
        let c = parse(r#"throttle = { rate = 1, response = "queue_full" }"#).unwrap();
        assert_eq!(c.response, ThrottleResponse::QueueFull);
        let e = parse(r#"throttle = { rate = 1, bucket = 3 }"#).unwrap_err();
        assert!(e.contains("unknown field `bucket`"), "{e}");
        let e = parse(r#"throttle = { rate = 1, response = "busy" }"#).unwrap_err();
        assert!(
            e.contains("unknown variant `busy`") && e.contains("`queue_full`"),
            "{e}"
        );
        // Serializing and parsing again gives the same config.
        let text = toml::to_string(&cfg(7.5, 3)).unwrap();
        let back: ThrottleConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, cfg(7.5, 3));
    }

    #[test]
    fn response_statuses_match_smpp() {
        let throttled: u32 = rusmpp::CommandStatus::EsmeRthrottled.into();
        let queue_full: u32 = rusmpp::CommandStatus::EsmeRmsgqful.into();
        assert_eq!(ThrottleResponse::Throttled.command_status(), throttled);
        assert_eq!(ThrottleResponse::QueueFull.command_status(), queue_full);
        assert_eq!(throttled, 0x58);
        assert_eq!(queue_full, 0x14);
        assert_eq!(ThrottleResponse::default(), ThrottleResponse::Throttled);
    }

    #[test]
    fn validation() {
        cfg(50.0, 50).validate().unwrap();
        ThrottleConfig::new(ThrottleConfig::MIN_RATE)
            .validate()
            .unwrap();
        ThrottleConfig::new(ThrottleConfig::MAX_RATE)
            .validate()
            .unwrap();
        assert_eq!(
            ThrottleConfig::new(0.0).validate().unwrap_err(),
            "rate (0) must be a number greater than 0"
        );
        assert_eq!(
            ThrottleConfig::new(f64::NAN).validate().unwrap_err(),
            "rate (NaN) must be a number greater than 0"
        );
        assert_eq!(
            ThrottleConfig::new(-5.0).validate().unwrap_err(),
            "rate (-5) must be a number greater than 0"
        );
        assert!(
            ThrottleConfig::new(1e-7)
                .validate()
                .unwrap_err()
                .contains("at least")
        );
        assert!(
            ThrottleConfig::new(2e9)
                .validate()
                .unwrap_err()
                .contains("at most")
        );
        assert_eq!(
            cfg(5.0, 0).validate().unwrap_err(),
            "burst must be at least 1"
        );
        assert_eq!(
            ThrottleConfig::new(3.0).interval(),
            Duration::from_nanos(333_333_333)
        );
        assert_eq!(
            ThrottleConfig::new(ThrottleConfig::MAX_RATE).interval(),
            Duration::from_nanos(1)
        );
    }
}
