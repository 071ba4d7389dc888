//! Pass/fail thresholds: `--threshold 'submit_resp.p99<5ms'`.
//!
//! Grammar (whitespace around the operator is allowed):
//!
//! ```text
//! threshold := metric op value
//! op        := "<" | "<=" | ">" | ">="
//! metric    := latency "." stat            value: a duration with unit: 800us, 5ms, 1.5s
//!            | count                       value: a whole number
//!            | "error_rate"                value: a fraction (0.001) or a percentage (0.1%)
//!            | "achieved_rate"             value: messages per second, optional "/s"
//! latency   := "submit_resp" | "submit_service" | "receipt" | "send_lag"
//! stat      := "p50" | "p90" | "p99" | "p999" | "p99.9" | "max" | "mean"
//! count     := "submitted" | "accepted" | "rejected" | "timed_out" | "missing" | "duplicated"
//!            | "unmatched" | "behind_schedule" | "unsent"
//! ```
//!
//! Duration units: `ns`, `us` (or `µs`), `ms`, `s`, `m`. A threshold on a latency with no
//! samples (e.g. `receipt.p99` when no receipt arrived) fails: no evidence is not a pass.
//!
//! The grammar (`metric op value`, the operators, the value forms of each [`Kind`] and the
//! verdicts) is shared by every command: [`split`] and [`parse_value`] are what `loadgen run`
//! parses its own metric names with, so both commands read thresholds the same way.

use std::fmt;

use serde::Serialize;

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression as given.
    pub expr: String,
    /// What it measures.
    pub metric: Metric,
    /// The comparison that must hold.
    pub op: Op,
    /// The limit, in the metric's unit (microseconds for latencies).
    pub limit: f64,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    /// Whether `value op limit` holds.
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Lt => value < limit,
            Op::Le => value <= limit,
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
        }
    }
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// Latency histograms a threshold can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// submit_sm_resp from intended send.
    SubmitResp,
    /// submit_sm_resp from actual write.
    SubmitService,
    /// Receipt from intended send.
    Receipt,
    /// Lateness of sends.
    SendLag,
}

/// Statistics of a latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// A quantile, in per-mille (500 = p50, 999 = p99.9).
    Quantile(u16),
    /// Largest value.
    Max,
    /// Arithmetic mean.
    Mean,
}

/// Counters a threshold can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// submit_sm sent.
    Submitted,
    /// Accepted.
    Accepted,
    /// Rejected.
    Rejected,
    /// Timed out.
    TimedOut,
    /// Receipts missing.
    Missing,
    /// Receipts duplicated.
    Duplicated,
    /// Receipts unmatched.
    Unmatched,
    /// Sends behind schedule.
    BehindSchedule,
    /// Scheduled messages never sent.
    Unsent,
}

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A latency statistic, microseconds.
    Latency(Latency, Stat),
    /// A counter.
    Count(Count),
    /// (rejected + timed_out) / submitted.
    ErrorRate,
    /// Sent messages per second.
    AchievedRate,
}

/// Why a threshold expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("threshold `{expr}`: {reason}")]
pub struct ThresholdError {
    /// The expression as given.
    pub expr: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The kind of value a metric takes, which fixes how its limit is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A duration with a unit (`800us`, `5ms`, `1.5s`), compared in microseconds.
    Duration,
    /// A whole number.
    Count,
    /// A fraction (`0.001`) or a percentage (`0.1%`).
    Fraction,
    /// Per second, with an optional `/s`.
    Rate,
    /// An amount of money in the scenario's currency, a plain number (`10` or `10.0`).
    Money,
}

impl Kind {
    /// The unit values of this kind are compared (and reported) in.
    pub fn unit(self) -> &'static str {
        match self {
            Kind::Duration => "us",
            Kind::Count => "count",
            Kind::Fraction => "fraction",
            Kind::Rate => "per_second",
            Kind::Money => "currency",
        }
    }
}

/// Splits `metric op value` into its three parts (trimmed), refusing an expression without an
/// operator or without a value.
pub fn split(expr: &str) -> Result<(&str, Op, &str), ThresholdError> {
    let err = |reason: &str| ThresholdError {
        expr: expr.to_string(),
        reason: reason.to_string(),
    };
    let pos = expr
        .find(['<', '>'])
        .ok_or_else(|| err("no comparison operator (one of < <= > >=)"))?;
    let (lhs, rest) = expr.split_at(pos);
    let (op, rhs) = if let Some(r) = rest.strip_prefix("<=") {
        (Op::Le, r)
    } else if let Some(r) = rest.strip_prefix(">=") {
        (Op::Ge, r)
    } else if let Some(r) = rest.strip_prefix('<') {
        (Op::Lt, r)
    } else if let Some(r) = rest.strip_prefix('>') {
        (Op::Gt, r)
    } else {
        return Err(err("no comparison operator"));
    };
    let value = rhs.trim();
    if value.is_empty() {
        return Err(err("no value after the operator"));
    }
    Ok((lhs.trim(), op, value))
}

/// Parses a limit of `kind` into its unit (microseconds for durations).
pub fn parse_value(kind: Kind, value: &str) -> Result<f64, String> {
    match kind {
        Kind::Duration => parse_duration_us(value),
        Kind::Count => value
            .parse::<u64>()
            .map(|v| v as f64)
            .map_err(|_| format!("`{value}` is not a whole number")),
        Kind::Fraction => {
            let (num, scale) = match value.strip_suffix('%') {
                Some(v) => (v.trim(), 0.01),
                None => (value, 1.0),
            };
            num.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .map(|v| v * scale)
                .ok_or_else(|| format!("`{value}` is not a fraction or percentage"))
        }
        Kind::Rate => value
            .trim_end_matches("/s")
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("`{value}` is not a rate per second")),
        Kind::Money => value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                format!("`{value}` is not an amount (a plain number in the scenario's currency)")
            }),
    }
}

/// The verdict of `metric op limit` (in `unit`) against a measured value (`None`: the metric
/// had no samples, which fails: no evidence is not a pass).
pub fn verdict(
    expr: &str,
    metric: String,
    op: Op,
    limit: f64,
    unit: &'static str,
    value: Option<f64>,
) -> Verdict {
    Verdict {
        expr: expr.to_string(),
        metric,
        op,
        limit,
        unit,
        value,
        pass: value.is_some_and(|v| op.holds(v, limit)),
        why: None,
    }
}

impl Threshold {
    /// Parses one expression.
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

    /// Judges the threshold against a value (`None`: the metric had no samples).
    pub fn judge(&self, value: Option<f64>) -> Verdict {
        verdict(
            &self.expr,
            self.metric.to_string(),
            self.op,
            self.limit,
            self.metric.unit(),
            value,
        )
    }
}

impl Metric {
    /// The kind of value it takes.
    pub fn kind(&self) -> Kind {
        match self {
            Metric::Latency(..) => Kind::Duration,
            Metric::Count(_) => Kind::Count,
            Metric::ErrorRate => Kind::Fraction,
            Metric::AchievedRate => Kind::Rate,
        }
    }

    /// The unit values are compared in.
    pub fn unit(&self) -> &'static str {
        self.kind().unit()
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Latency(l, s) => {
                let l = match l {
                    Latency::SubmitResp => "submit_resp",
                    Latency::SubmitService => "submit_service",
                    Latency::Receipt => "receipt",
                    Latency::SendLag => "send_lag",
                };
                write!(f, "{l}.{s}")
            }
            Metric::Count(c) => f.write_str(match c {
                Count::Submitted => "submitted",
                Count::Accepted => "accepted",
                Count::Rejected => "rejected",
                Count::TimedOut => "timed_out",
                Count::Missing => "missing",
                Count::Duplicated => "duplicated",
                Count::Unmatched => "unmatched",
                Count::BehindSchedule => "behind_schedule",
                Count::Unsent => "unsent",
            }),
            Metric::ErrorRate => f.write_str("error_rate"),
            Metric::AchievedRate => f.write_str("achieved_rate"),
        }
    }
}

fn parse_metric(name: &str) -> Result<Metric, String> {
    if let Some((hist, stat)) = name.split_once('.') {
        let l = match hist {
            "submit_resp" => Latency::SubmitResp,
            "submit_service" => Latency::SubmitService,
            "receipt" => Latency::Receipt,
            "send_lag" => Latency::SendLag,
            other => {
                return Err(format!(
                    "unknown latency `{other}` (submit_resp, submit_service, receipt, send_lag)"
                ));
            }
        };
        return Ok(Metric::Latency(l, parse_stat(stat)?));
    }
    Ok(match name {
        "submitted" => Metric::Count(Count::Submitted),
        "accepted" => Metric::Count(Count::Accepted),
        "rejected" => Metric::Count(Count::Rejected),
        "timed_out" => Metric::Count(Count::TimedOut),
        "missing" => Metric::Count(Count::Missing),
        "duplicated" => Metric::Count(Count::Duplicated),
        "unmatched" => Metric::Count(Count::Unmatched),
        "behind_schedule" => Metric::Count(Count::BehindSchedule),
        "unsent" => Metric::Count(Count::Unsent),
        "error_rate" => Metric::ErrorRate,
        "achieved_rate" => Metric::AchievedRate,
        "" => return Err("no metric before the operator".into()),
        other => return Err(format!("unknown metric `{other}`")),
    })
}

/// Parses a latency statistic: `p50`, `p90`, `p99`, `p999` (or `p99.9`), `max`, `mean`.
pub fn parse_stat(stat: &str) -> Result<Stat, String> {
    Ok(match stat {
        "p50" => Stat::Quantile(500),
        "p90" => Stat::Quantile(900),
        "p99" => Stat::Quantile(990),
        "p999" | "p99.9" => Stat::Quantile(999),
        "max" => Stat::Max,
        "mean" => Stat::Mean,
        other => {
            return Err(format!(
                "unknown statistic `{other}` (p50, p90, p99, p999, max, mean)"
            ));
        }
    })
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stat::Quantile(999) => f.write_str("p999"),
            Stat::Quantile(q) => write!(f, "p{}", q / 10),
            Stat::Max => f.write_str("max"),
            Stat::Mean => f.write_str("mean"),
        }
    }
}

/// Parses `5ms`, `800us`, `1.5s` into microseconds.
fn parse_duration_us(s: &str) -> Result<f64, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{s}` needs a unit (ns, us, ms, s, m)"))?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration"))?;
    let scale = match unit.trim() {
        "ns" => 0.001,
        "us" | "µs" => 1.0,
        "ms" => 1_000.0,
        "s" => 1_000_000.0,
        "m" => 60_000_000.0,
        other => {
            return Err(format!(
                "unknown duration unit `{other}` (ns, us, ms, s, m)"
            ));
        }
    };
    Ok(v * scale)
}

/// A threshold's outcome, as it appears in the report and the JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The expression as given.
    pub expr: String,
    /// Canonical metric name.
    pub metric: String,
    /// The operator.
    pub op: Op,
    /// The limit, in `unit`.
    pub limit: f64,
    /// `us`, `count`, `fraction`, `per_second` or `currency`.
    pub unit: &'static str,
    /// The measured value in `unit` (`null`: no samples, or a value JSON cannot hold, such
    /// as the unbounded time to detect of a wave never detected; `why` then says which).
    pub value: Option<f64>,
    /// Whether the threshold held.
    pub pass: bool,
    /// Why there is no value, or what the value stands for when it is not a plain
    /// measurement (absent when the value speaks for itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = match self.value {
            Some(v) => format!("{v:.3}"),
            None if self.why.is_some() => "nothing".into(),
            None => "no samples".into(),
        };
        write!(
            f,
            "{} {:<28} measured {} {} (limit {} {} {})",
            if self.pass { "PASS" } else { "FAIL" },
            self.expr,
            value,
            self.unit,
            self.op.as_str(),
            self.limit,
            self.unit
        )?;
        match &self.why {
            Some(why) => write!(f, ": {why}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_grammar() {
        let t = Threshold::parse("submit_resp.p99<5ms").unwrap();
        assert_eq!(
            t.metric,
            Metric::Latency(Latency::SubmitResp, Stat::Quantile(990))
        );
        assert_eq!(t.op, Op::Lt);
        assert_eq!(t.limit, 5000.0);
        let t = Threshold::parse(" receipt.p99.9 <= 1.5s ").unwrap();
        assert_eq!(
            t.metric,
            Metric::Latency(Latency::Receipt, Stat::Quantile(999))
        );
        assert_eq!(t.op, Op::Le);
        assert_eq!(t.limit, 1_500_000.0);
        let t = Threshold::parse("rejected<=0").unwrap();
        assert_eq!(t.metric, Metric::Count(Count::Rejected));
        let t = Threshold::parse("error_rate<0.5%").unwrap();
        assert!((t.limit - 0.005).abs() < 1e-12);
        let t = Threshold::parse("achieved_rate>=19900/s").unwrap();
        assert_eq!(t.limit, 19900.0);
        assert_eq!(t.metric.to_string(), "achieved_rate");
    }

    #[test]
    fn refuses_bad_expressions_naming_them() {
        for bad in [
            "submit_resp.p99",
            "submit_resp.p99<5",
            "submit_resp.p98<5ms",
            "latency.p99<5ms",
            "rejected<1.5",
            "<5ms",
            "timed_out<",
            "error_rate<lots",
            "submit_resp.p99<5parsecs",
        ] {
            let e = Threshold::parse(bad).unwrap_err();
            assert_eq!(e.expr, bad);
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn judges() {
        let t = Threshold::parse("submit_resp.p99<5ms").unwrap();
        assert!(t.judge(Some(4999.0)).pass);
        assert!(!t.judge(Some(5000.0)).pass);
        assert!(!t.judge(None).pass);
        let t = Threshold::parse("achieved_rate>=100").unwrap();
        assert!(t.judge(Some(100.0)).pass);
    }

    #[test]
    fn shared_parts_read_every_kind() {
        let (name, op, value) = split(" verified_ratio >= 93% ").unwrap();
        assert_eq!((name, op, value), ("verified_ratio", Op::Ge, "93%"));
        assert!((parse_value(Kind::Fraction, value).unwrap() - 0.93).abs() < 1e-12);
        assert_eq!(parse_value(Kind::Duration, "15s"), Ok(15_000_000.0));
        assert_eq!(parse_value(Kind::Count, "7"), Ok(7.0));
        assert_eq!(parse_value(Kind::Rate, "10000/s"), Ok(10_000.0));
        assert!(parse_value(Kind::Duration, "15").is_err());
        assert!(parse_value(Kind::Count, "1.5").is_err());
        assert!(split("verified_ratio 0.9").is_err());
        assert!(split("verified_ratio >").is_err());
        assert_eq!(parse_stat("p99.9"), Ok(Stat::Quantile(999)));
        assert_eq!(Stat::Quantile(990).to_string(), "p99");
        let v = verdict("x < 1s", "x".into(), Op::Lt, 1e6, "us", Some(2e6));
        assert!(!v.pass);
        assert!(!verdict("x < 1s", "x".into(), Op::Lt, 1e6, "us", None).pass);
    }
}
