//! The metrics a `loadgen run` threshold can name, read with the shared grammar of
//! [`crate::threshold`] (`metric op value`, the same operators, units and verdicts as
//! `loadgen smpp`):
//!
//! ```text
//! metric  := latency ["." selector] "." stat     value: a duration (15s, 800ms)
//!          | count ["." reason]                  value: a whole number
//!          | ratio                               value: a fraction (0.93) or a percentage (93%)
//!          | rate                                value: per second, optional "/s"
//!          | abuse                               see [`super::abuse_metrics`]
//! latency := start_response | delivery_time | receipt_time | verify_time | failover_time
//!          | send_lag
//! selector:= sms | voice | a carrier's name
//! stat    := p50 | p90 | p99 | p999 | p99.9 | max | mean
//! count   := scheduled | attempted | started | delivered | refused | verified | expired
//!          | abandoned | failed | failovers | resends | unsent | behind_schedule | lagged_events
//! ratio   := verified_ratio | delivered_ratio | refused_ratio | expired_ratio
//!          | abandoned_ratio | failed_ratio | failover_ratio
//! rate    := achieved_rate | verified_rate
//! abuse   := abuse.recall | abuse.precision | abuse.blocked_share | abuse.time_to_detect
//!          | abuse.undetected_waves | genuine.refused_ratio | genuine.friction_ratio
//!          | genuine.refused | genuine.steered | fraud.cost | fraud.saved | fraud.baseline_cost
//!          | brute_force.cracked | persona.<population>.<field>
//! ```
//!
//! A reason narrows a count to one cause: `refused.line_type`, `failed.max_attempts`,
//! `failovers.step_timeout`. Latencies are in scenario time (wall time × time scale).

use std::fmt;

use super::abuse_metrics::{self, AbuseMetric, word};
use crate::threshold::{Kind, Op, Stat, ThresholdError, Verdict, parse_stat, parse_value, split};

/// A parsed `loadgen run` threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct RunThreshold {
    /// The expression as written (`delivery_time.p99 < 15s`).
    pub expr: String,
    /// What it measures.
    pub metric: RunMetric,
    /// The comparison that must hold.
    pub op: Op,
    /// The limit in the metric's unit (microseconds for latencies).
    pub limit: f64,
}

/// The latencies a threshold can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Intended start → the start request answered.
    StartResponse,
    /// Intended start → the code in the handset.
    DeliveryTime,
    /// Intended start → the carrier's delivery receipt for the message that carried the code.
    ReceiptTime,
    /// Intended start → the check that approved.
    VerifyTime,
    /// The time failover added: first step sent → the step that delivered sent.
    FailoverTime,
    /// Intended start → the start request actually sent.
    SendLag,
}

impl Latency {
    /// Every latency with its name.
    pub const ALL: [(Latency, &'static str); 6] = [
        (Latency::StartResponse, "start_response"),
        (Latency::DeliveryTime, "delivery_time"),
        (Latency::ReceiptTime, "receipt_time"),
        (Latency::VerifyTime, "verify_time"),
        (Latency::FailoverTime, "failover_time"),
        (Latency::SendLag, "send_lag"),
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(l, _)| *l == self)
            .map_or("", |(_, n)| n)
    }
}

/// The counts a threshold can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Arrivals planned within the duration.
    Scheduled,
    /// Users that asked for a code.
    Attempted,
    /// Starts the service accepted.
    Started,
    /// Verifications whose code reached the phone.
    Delivered,
    /// Starts the service refused.
    Refused,
    /// Verifications approved.
    Verified,
    /// Verifications that expired.
    Expired,
    /// Users that walked away.
    Abandoned,
    /// Verifications that failed.
    Failed,
    /// Verifications that needed a second step.
    Failovers,
    /// Resend requests.
    Resends,
    /// Arrivals never sent.
    Unsent,
    /// Starts sent later than the tolerance.
    BehindSchedule,
    /// Events the handset stream lost.
    LaggedEvents,
}

impl Count {
    /// Every count with its name.
    pub const ALL: [(Count, &'static str); 14] = [
        (Count::Scheduled, "scheduled"),
        (Count::Attempted, "attempted"),
        (Count::Started, "started"),
        (Count::Delivered, "delivered"),
        (Count::Refused, "refused"),
        (Count::Verified, "verified"),
        (Count::Expired, "expired"),
        (Count::Abandoned, "abandoned"),
        (Count::Failed, "failed"),
        (Count::Failovers, "failovers"),
        (Count::Resends, "resends"),
        (Count::Unsent, "unsent"),
        (Count::BehindSchedule, "behind_schedule"),
        (Count::LaggedEvents, "lagged_events"),
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("", |(_, n)| n)
    }

    /// Whether a reason may narrow it.
    fn has_reasons(self) -> bool {
        matches!(
            self,
            Count::Refused | Count::Expired | Count::Abandoned | Count::Failed | Count::Failovers
        )
    }
}

/// The ratios a threshold can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ratio {
    /// verified / attempted: how many users got through.
    Verified,
    /// delivered / started.
    Delivered,
    /// refused / attempted.
    Refused,
    /// expired / attempted.
    Expired,
    /// abandoned / attempted.
    Abandoned,
    /// failed / attempted.
    Failed,
    /// failovers / started.
    Failover,
}

impl Ratio {
    /// Every ratio with its name.
    pub const ALL: [(Ratio, &'static str); 7] = [
        (Ratio::Verified, "verified_ratio"),
        (Ratio::Delivered, "delivered_ratio"),
        (Ratio::Refused, "refused_ratio"),
        (Ratio::Expired, "expired_ratio"),
        (Ratio::Abandoned, "abandoned_ratio"),
        (Ratio::Failed, "failed_ratio"),
        (Ratio::Failover, "failover_ratio"),
    ];
}

/// The rates a threshold can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Users that asked for a code, per second of the real sending window.
    Achieved,
    /// Verifications approved per second of wall time.
    Verified,
}

/// What a threshold measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMetric {
    /// A latency statistic, optionally of one channel or carrier.
    Latency {
        /// Which latency.
        latency: Latency,
        /// `sms`, `voice` or a carrier name.
        selector: Option<String>,
        /// Which statistic.
        stat: Stat,
    },
    /// A count, optionally of one reason.
    Count {
        /// Which count.
        count: Count,
        /// One reason (`line_type`, `max_attempts`, ...).
        reason: Option<String>,
    },
    /// A ratio.
    Ratio(Ratio),
    /// A rate.
    Rate(Rate),
    /// A figure of the abuse section.
    Abuse(AbuseMetric),
}

impl RunMetric {
    /// The kind of value it takes.
    pub fn kind(&self) -> Kind {
        match self {
            RunMetric::Latency { .. } => Kind::Duration,
            RunMetric::Count { .. } => Kind::Count,
            RunMetric::Ratio(_) => Kind::Fraction,
            RunMetric::Rate(_) => Kind::Rate,
            RunMetric::Abuse(a) => a.kind(),
        }
    }
}

impl fmt::Display for RunMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunMetric::Latency {
                latency,
                selector,
                stat,
            } => match selector {
                Some(s) => write!(f, "{}.{s}.{stat}", latency.name()),
                None => write!(f, "{}.{stat}", latency.name()),
            },
            RunMetric::Count { count, reason } => match reason {
                Some(r) => write!(f, "{}.{r}", count.name()),
                None => f.write_str(count.name()),
            },
            RunMetric::Ratio(r) => f.write_str(
                Ratio::ALL
                    .iter()
                    .find(|(x, _)| x == r)
                    .map_or("", |(_, n)| n),
            ),
            RunMetric::Rate(Rate::Achieved) => f.write_str("achieved_rate"),
            RunMetric::Rate(Rate::Verified) => f.write_str("verified_rate"),
            RunMetric::Abuse(a) => a.fmt(f),
        }
    }
}

/// Parses a metric name.
pub fn parse_metric(name: &str) -> Result<RunMetric, String> {
    if name.is_empty() {
        return Err("no metric before the operator".into());
    }
    if let Some(abuse) = abuse_metrics::parse(name) {
        return abuse.map(RunMetric::Abuse);
    }
    let (head, rest) = match name.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (name, None),
    };
    if let Some((latency, _)) = Latency::ALL.iter().find(|(_, n)| *n == head) {
        let Some(rest) = rest else {
            return Err(format!(
                "`{head}` needs a statistic, e.g. `{head}.p99` (p50, p90, p99, p999, max, mean)"
            ));
        };
        // `p99.9` holds a dot itself: try the whole rest as a statistic first.
        let (selector, stat) = match parse_stat(rest) {
            Ok(stat) => (None, stat),
            Err(e) => match rest.split_once('.') {
                Some((sel, stat)) if word(sel) => (Some(sel.to_string()), parse_stat(stat)?),
                _ => return Err(e),
            },
        };
        if selector.is_some()
            && !matches!(
                latency,
                Latency::DeliveryTime | Latency::ReceiptTime | Latency::VerifyTime
            )
        {
            return Err(format!(
                "`{head}` is not kept per channel or carrier (delivery_time, receipt_time and \
                 verify_time are)"
            ));
        }
        return Ok(RunMetric::Latency {
            latency: *latency,
            selector,
            stat,
        });
    }
    if let Some((count, _)) = Count::ALL.iter().find(|(_, n)| *n == head) {
        let reason = match rest {
            None => None,
            Some(r) if count.has_reasons() && word(r) => Some(r.to_string()),
            Some(r) if count.has_reasons() => return Err(format!("`{r}` is not a reason")),
            Some(_) => return Err(format!("`{head}` has no reasons to narrow it by")),
        };
        return Ok(RunMetric::Count {
            count: *count,
            reason,
        });
    }
    if rest.is_none() {
        if let Some((ratio, _)) = Ratio::ALL.iter().find(|(_, n)| *n == head) {
            return Ok(RunMetric::Ratio(*ratio));
        }
        match head {
            "achieved_rate" => return Ok(RunMetric::Rate(Rate::Achieved)),
            "verified_rate" => return Ok(RunMetric::Rate(Rate::Verified)),
            _ => {}
        }
    }
    Err(format!(
        "unknown metric `{name}` (latencies: {}; counts: {}; ratios: {}; rates: achieved_rate, \
         verified_rate; abuse: abuse.*, genuine.*, fraud.*, brute_force.cracked, \
         persona.POPULATION.FIELD)",
        Latency::ALL.map(|(_, n)| n).join(", "),
        Count::ALL.map(|(_, n)| n).join(", "),
        Ratio::ALL.map(|(_, n)| n).join(", "),
    ))
}

impl RunThreshold {
    /// Parses `metric op value`.
    pub fn parse(expr: &str) -> Result<Self, ThresholdError> {
        let err = |reason: String| ThresholdError {
            expr: expr.to_string(),
            reason,
        };
        let (name, op, value) = split(expr)?;
        let metric = parse_metric(name).map_err(err)?;
        let limit = parse_value(metric.kind(), value).map_err(err)?;
        Ok(Self {
            expr: expr.to_string(),
            metric,
            op,
            limit,
        })
    }

    /// Judges it against a measured value (`None`: no samples, which fails).
    pub fn judge(&self, value: Option<f64>) -> Verdict {
        crate::threshold::verdict(
            &self.expr,
            self.metric.to_string(),
            self.op,
            self.limit,
            self.metric.kind().unit(),
            value,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form() {
        let t = RunThreshold::parse("delivery_time.p99 < 15s").unwrap();
        assert_eq!(
            t.metric,
            RunMetric::Latency {
                latency: Latency::DeliveryTime,
                selector: None,
                stat: Stat::Quantile(990)
            }
        );
        assert_eq!(t.limit, 15_000_000.0);
        let t = RunThreshold::parse("delivery_time.alpha.p99.9<=2s").unwrap();
        assert_eq!(t.metric.to_string(), "delivery_time.alpha.p999");
        let t = RunThreshold::parse("verified_ratio > 93%").unwrap();
        assert!((t.limit - 0.93).abs() < 1e-12);
        assert_eq!(t.metric, RunMetric::Ratio(Ratio::Verified));
        let t = RunThreshold::parse("refused.line_type <= 0").unwrap();
        assert_eq!(t.metric.to_string(), "refused.line_type");
        let t = RunThreshold::parse("achieved_rate >= 10000/s").unwrap();
        assert_eq!(t.metric, RunMetric::Rate(Rate::Achieved));
        assert_eq!(t.judge(Some(10_000.0)).unit, "per_second");
        let t = RunThreshold::parse("abuse.recall > 0.95").unwrap();
        assert_eq!(t.metric, RunMetric::Abuse(AbuseMetric::Recall));
        let t = RunThreshold::parse("fraud.cost < 10.0").unwrap();
        assert_eq!((t.limit, t.judge(Some(3.0)).unit), (10.0, "currency"));
        let t = RunThreshold::parse("abuse.time_to_detect < 30s").unwrap();
        assert_eq!(t.limit, 30_000_000.0);
        let t = RunThreshold::parse("persona.pumpers.refused_ratio >= 99%").unwrap();
        assert_eq!(t.metric.to_string(), "persona.pumpers.refused_ratio");
        assert!((t.limit - 0.99).abs() < 1e-12);
    }

    #[test]
    fn refuses_naming_the_expression() {
        for (bad, says) in [
            ("delivery_time < 15s", "needs a statistic"),
            ("delivery_time.p98 < 15s", "unknown statistic"),
            ("delivery_time.p99 < 15", "needs a unit"),
            ("verified_ratio > lots", "not a fraction"),
            ("verified.alpha > 1", "no reasons"),
            ("start_response.sms.p99 < 1s", "not kept per channel"),
            ("happiness > 1", "unknown metric"),
            ("fraud.cost < cheap", "is not an amount"),
            ("fraud.cost < -1", "is not an amount"),
            ("abuse.time_to_detect < 30", "needs a unit"),
            ("genuine.refused < 0.5", "not a whole number"),
            ("abuse.recal > 0.9", "unknown abuse metric"),
            ("persona.pumpers > 1", "needs a population and a figure"),
            ("verified_ratio 0.9", "no comparison operator"),
        ] {
            let e = RunThreshold::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains(says), "{bad}: {e}");
        }
    }
}
