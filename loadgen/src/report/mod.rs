//! The report of a run: one [`Report`] (its JSON is the `--json` output, schema
//! [`SCHEMA_VERSION`], keys documented in `loadgen/README.md`), the thresholds judged against
//! it ([`judge`]; the abuse figures' values in [`abuse_values`]), and its renderings: the
//! end-of-test summary ([`summary`]), JUnit ([`junit`]), the HdrHistogram interval log
//! ([`hdrlog`]) and the self-contained HTML page ([`html`]).
//!
//! Layer: uses `measure`, `target` (what was driven, in words) and `scenario`; used by `run`.

pub mod abuse;
pub mod abuse_text;
pub mod abuse_values;
pub mod curves;
pub mod ground_truth;
pub mod hdrlog;
pub mod junit;
pub mod summary;
pub mod words;

// The self-contained page of `--html`, with its plots.
pub mod html;

// A realistic report with an abuse section, for the renderers' tests.
#[cfg(test)]
pub(crate) mod fixture;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::measure::{Counts, Hist, Identity, IntervalRow, Measure, Percentiles, Reasons, ratio};
use crate::scenario::thresholds::{Count, Latency, Rate, Ratio, RunMetric};
use crate::scenario::{Plan, RunThreshold};
use crate::target::{Stopped, TargetInfo};
use crate::threshold::{Stat, Verdict};

/// Layout version of the JSON report: a key changes meaning or disappears only with a new one.
pub const SCHEMA_VERSION: u32 = 1;

/// Exit code of a run that breached a threshold.
pub const EXIT_THRESHOLD: u8 = 99;
/// Exit code of a run that is not valid (errors, a broken identity), or could not be made.
pub const EXIT_ERROR: u8 = 1;

/// The scenario, as run.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    /// Its name.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The file (or `scenarios/smoke.toml (built in)`).
    pub file: String,
    /// The seed.
    pub seed: u64,
    /// What durations were divided by.
    pub time_scale: f64,
    /// How long users arrived, in scenario time.
    pub duration_s: f64,
}

/// How each verification ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcomes {
    /// The service refused the start.
    pub refused: u64,
    /// Approved.
    pub verified: u64,
    /// Expired.
    pub expired: u64,
    /// The user walked away.
    pub abandoned: u64,
    /// Anything else.
    pub failed: u64,
}

impl Outcomes {
    fn of(c: &Counts) -> Self {
        Self {
            refused: c.refused,
            verified: c.verified,
            expired: c.expired,
            abandoned: c.abandoned,
            failed: c.failed,
        }
    }
}

/// Ratios (null when their denominator is 0).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Ratios {
    /// verified / attempted.
    pub verified: Option<f64>,
    /// delivered / started.
    pub delivered: Option<f64>,
    /// refused / attempted.
    pub refused: Option<f64>,
    /// expired / attempted.
    pub expired: Option<f64>,
    /// abandoned / attempted.
    pub abandoned: Option<f64>,
    /// failed / attempted.
    pub failed: Option<f64>,
    /// failovers / started.
    pub failover: Option<f64>,
}

impl Ratios {
    fn of(c: &Counts) -> Self {
        Self {
            verified: ratio(c.verified, c.attempted),
            delivered: ratio(c.delivered, c.started),
            refused: ratio(c.refused, c.attempted),
            expired: ratio(c.expired, c.attempted),
            abandoned: ratio(c.abandoned, c.attempted),
            failed: ratio(c.failed, c.attempted),
            failover: ratio(c.failovers, c.started),
        }
    }
}

/// Rates, per second of wall time.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rates {
    /// The mean arrival rate the scenario asks for.
    pub target: f64,
    /// Users that asked, per second, from the first start sent to the last.
    pub achieved: f64,
    /// Nothing unsent, and the starts kept to the schedule's rate (within 1 %).
    pub met: bool,
    /// Verifications approved per second, from the start of the load to the last approval.
    pub verified: f64,
}

/// The latencies of the run (µs of scenario time).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latencies {
    /// Intended start → the start answered.
    pub start_response: Percentiles,
    /// Intended start → the start sent.
    pub send_lag: Percentiles,
    /// Intended start → the code on the phone.
    pub delivery_time: Percentiles,
    /// Intended start → the carrier's receipt for the message that carried the code.
    pub receipt_time: Percentiles,
    /// Intended start → approved.
    pub verify_time: Percentiles,
    /// The time failover added.
    pub failover_time: Percentiles,
}

/// One channel and carrier.
#[derive(Debug, Clone, Serialize)]
pub struct RouteReport {
    /// `sms` or `voice`.
    pub channel: String,
    /// The carrier that delivered.
    pub carrier: String,
    /// Codes delivered this way.
    pub delivered: u64,
    /// Their delivery times (µs).
    pub delivery_time_us: Percentiles,
    /// Their receipt times (µs).
    pub receipt_time_us: Percentiles,
    /// Their verify times (µs).
    pub verify_time_us: Percentiles,
}

/// Failover.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FailoverReport {
    /// Whether the service tells attempts (the reference verifier does); without them
    /// failover cannot be seen, only the carriers that delivered.
    pub observable: bool,
    /// Verifications that needed a second step.
    pub verifications: u64,
    /// Of those started.
    pub ratio: Option<f64>,
    /// By the cause of leaving the first step.
    pub by_cause: BTreeMap<String, u64>,
    /// Sent straight to a later step at start, by cause.
    pub routed: BTreeMap<String, u64>,
    /// The time failover added (µs), for the verifications whose later step was sent before
    /// they ended (first step sent → the step that held sent).
    pub added_us: Percentiles,
    /// Delivery times of the verifications that failed over (µs).
    pub delivery_time_us: Percentiles,
}

/// One population or phase.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    /// Its name.
    pub name: String,
    /// From, seconds of scenario time (phases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_s: Option<f64>,
    /// To (phases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_s: Option<f64>,
    /// Its counters.
    #[serde(flatten)]
    pub counts: Counts,
    /// verified / attempted.
    pub verified_ratio: Option<f64>,
    /// Delivery times of its users (phases), µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_time_us: Option<Percentiles>,
}

/// A timeline entry as applied.
#[derive(Debug, Clone, Serialize)]
pub struct EventReport {
    /// When, seconds of scenario time from the start of the load.
    pub at_s: f64,
    /// The carrier.
    pub carrier: String,
    /// What was done.
    pub what: String,
    /// How long the carrier was taken down, seconds of scenario time (outages only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage_s: Option<f64>,
    /// Why it could not be done, when it could not.
    pub error: Option<String>,
}

/// What the handset stream brought.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HandsetReport {
    /// Deliveries to numbers of running verifications that were waiting for their code.
    pub codes: u64,
    /// Further deliveries to a verification that had its code (a failover's second SMS,
    /// a resend).
    pub extra: u64,
    /// Deliveries to numbers no verification of the run was using (late ones, other traffic).
    pub stray: u64,
    /// Codes to numbers a fraud persona asked for without waiting for them (pumped numbers,
    /// bombed victims).
    pub unwaited: u64,
    /// Deliveries whose text held no code.
    pub unreadable: u64,
    /// Events the stream missed (it fell behind): deliveries that may never have been seen.
    pub lagged_events: u64,
    /// Receipts of code-carrying messages matched to their verification.
    pub receipts_matched: u64,
    /// Code-carrying messages whose receipt never came in the run.
    pub receipts_missing: u64,
    /// Receipts by `stat:`.
    pub receipt_stats: BTreeMap<String, u64>,
}

/// CPU and machine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Machine {
    /// This process's CPU use over the load, in cores (everything embedded runs in it).
    pub process_cores: f64,
    /// Other processes' CPU use (`--server-pid`), in cores, by pid.
    pub servers_cores: BTreeMap<String, f64>,
    /// Cores of the machine.
    pub cores: usize,
    /// The 1-minute load average when the load started.
    pub load_average: Option<f64>,
}

/// Memory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Memory {
    /// This process's peak resident memory.
    pub peak_rss_bytes: u64,
    /// Its resident memory when the load started.
    pub start_rss_bytes: u64,
    /// Most verifications under way at once.
    pub peak_pending: u64,
    /// (peak − start) / peak pending: the memory a pending verification costs, everything
    /// in this process included.
    pub per_pending_bytes: Option<u64>,
    /// Most verifications of attack personas under way at once.
    pub peak_attack_pending: u64,
    /// Distinct numbers the run asked for codes to (every population, whatever the answer).
    pub numbers: u64,
}

/// The report of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Layout version.
    pub schema: u32,
    /// What ran.
    pub scenario: ScenarioInfo,
    /// Against what.
    pub target: TargetInfo,
    /// Wall seconds from the start of the load to the end of the drain.
    pub wall_s: f64,
    /// Arrivals planned.
    pub scheduled: u64,
    /// Arrivals never sent (the run ended first).
    pub unsent: u64,
    /// Users that asked for a code.
    pub attempted: u64,
    /// Starts accepted.
    pub started: u64,
    /// Codes that reached the phone.
    pub delivered: u64,
    /// How verifications ended.
    pub outcomes: Outcomes,
    /// Why.
    pub reasons: Reasons,
    /// Ratios.
    pub ratios: Ratios,
    /// Rates.
    pub rates: Rates,
    /// Starts sent later than `behind_schedule_tolerance_us` after their intended time.
    pub behind_schedule: u64,
    /// The tolerance.
    pub behind_schedule_tolerance_us: u64,
    /// Resend requests.
    pub resends: u64,
    /// Wrong codes typed.
    pub typos: u64,
    /// Checks sent.
    pub checks: u64,
    /// Latencies (µs of scenario time).
    pub latency_us: Latencies,
    /// Per channel and carrier.
    pub routes: Vec<RouteReport>,
    /// Failover.
    pub failover: FailoverReport,
    /// Per population.
    pub populations: Vec<Part>,
    /// Per phase.
    pub phases: Vec<Part>,
    /// One row a second (wall).
    pub timeline: Vec<IntervalRow>,
    /// The scenario's timeline as applied.
    pub events: Vec<EventReport>,
    /// The handset stream.
    pub handsets: HandsetReport,
    /// The accounting identities.
    pub identity: Identity,
    /// CPU.
    pub machine: Machine,
    /// Memory.
    pub memory: Memory,
    /// What the embedded components reported when they stopped.
    pub embedded: Stopped,
    /// Latency distributions, for plots (`curves`; added in schema 1, after the keys above).
    pub percentile_curves: curves::Curves,
    /// How the defences did against the scenario's fraud personas (when a population has one).
    pub abuse: Option<abuse::AbuseReport>,
    /// Threshold verdicts.
    pub thresholds: Vec<Verdict>,
    /// All held.
    pub thresholds_passed: bool,
    /// What made the run invalid (exit 1).
    pub errors: Vec<String>,
    /// Things the reader should know (a target rate not met, failures' details).
    pub notes: Vec<String>,
}

impl Report {
    /// The process exit code the report calls for: 1 when the run is not valid (an error, a
    /// broken identity: its figures cannot be trusted, whatever the thresholds say), else 99
    /// when a threshold was breached, else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            EXIT_ERROR
        } else if !self.thresholds_passed {
            EXIT_THRESHOLD
        } else {
            0
        }
    }
}

/// What the run layer hands over besides the measurements.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// Wall seconds of the run.
    pub wall_s: f64,
    /// The abuse section, when the scenario has personas.
    pub abuse: Option<abuse::AbuseReport>,
    /// Arrivals planned.
    pub scheduled: u64,
    /// Never sent.
    pub unsent: u64,
    /// The mean target rate.
    pub target_rate: f64,
    /// First to last start sent (wall seconds).
    pub send_window_s: f64,
    /// First to last intended start (wall seconds).
    pub planned_window_s: f64,
    /// Start of the load → last approval (wall seconds).
    pub verified_window_s: f64,
    /// The behind-schedule tolerance.
    pub behind_tolerance_us: u64,
    /// Timeline rows.
    pub timeline: Vec<IntervalRow>,
    /// Timeline entries as applied.
    pub events: Vec<EventReport>,
    /// Handset stream figures.
    pub handsets: HandsetReport,
    /// CPU and machine.
    pub machine: Machine,
    /// Memory.
    pub memory: Memory,
    /// Whether the service tells attempts.
    pub attempts_observable: bool,
    /// Errors so far.
    pub errors: Vec<String>,
    /// Notes so far.
    pub notes: Vec<String>,
}

/// Builds the report: the figures, the identity, and the thresholds judged.
pub fn build(
    plan: &Plan,
    target: TargetInfo,
    m: &Measure,
    facts: RunFacts,
    stopped: Stopped,
    thresholds: &[RunThreshold],
) -> Report {
    let t = &m.total;
    let c = &t.counts;
    let rate = |n: u64, window: f64| {
        if n >= 2 && window > 0.0 {
            (n - 1) as f64 / window
        } else {
            0.0
        }
    };
    let achieved = rate(c.attempted, facts.send_window_s);
    let planned = rate(facts.scheduled, facts.planned_window_s);
    let met = facts.unsent == 0 && achieved >= 0.99 * planned;
    let mut notes = facts.notes;
    if !met {
        notes.push(format!(
            "TARGET RATE NOT MET: {achieved:.1}/s achieved against {planned:.1}/s scheduled, \
             {} arrivals unsent",
            facts.unsent
        ));
    }
    let identity = crate::measure::identity(c, facts.scheduled, facts.unsent);
    let mut errors = facts.errors;
    if !identity.holds {
        errors.push(format!(
            "broken accounting identity: {}",
            identity
                .text
                .iter()
                .filter(|l| l.ends_with("BROKEN"))
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if facts.handsets.lagged_events > 0 {
        errors.push(format!(
            "the handset stream fell behind and missed {} events: codes may have been lost to \
             the run, so its figures are incomplete",
            facts.handsets.lagged_events
        ));
    }
    let routes = t
        .routes
        .iter()
        .map(|(r, h)| RouteReport {
            channel: r.channel.to_string(),
            carrier: r.carrier.clone(),
            delivered: h.delivered,
            delivery_time_us: h.delivery.summary(),
            receipt_time_us: h.receipt.summary(),
            verify_time_us: h.verify.summary(),
        })
        .collect();
    let populations = plan
        .populations
        .iter()
        .zip(&m.populations)
        .map(|(p, c)| Part {
            name: p.name.clone(),
            from_s: None,
            to_s: None,
            counts: c.clone(),
            verified_ratio: c.verified_ratio(),
            delivery_time_us: None,
        })
        .collect();
    let phases = plan
        .phases
        .iter()
        .zip(&m.phases)
        .map(|(p, (c, h))| Part {
            name: p.name.clone(),
            from_s: Some(p.from.as_secs_f64()),
            to_s: Some(p.to.as_secs_f64()),
            counts: c.clone(),
            verified_ratio: c.verified_ratio(),
            delivery_time_us: Some(h.summary()),
        })
        .collect();
    let mut report = Report {
        schema: SCHEMA_VERSION,
        scenario: ScenarioInfo {
            name: plan.name.clone(),
            description: plan.description.clone(),
            file: plan.source.display().to_string(),
            seed: plan.seed,
            time_scale: plan.time_scale,
            duration_s: plan.duration.as_secs_f64(),
        },
        target,
        wall_s: facts.wall_s,
        scheduled: facts.scheduled,
        unsent: facts.unsent,
        attempted: c.attempted,
        started: c.started,
        delivered: c.delivered,
        outcomes: Outcomes::of(c),
        reasons: t.reasons.clone(),
        ratios: Ratios::of(c),
        rates: Rates {
            target: facts.target_rate,
            achieved,
            met,
            verified: if facts.verified_window_s > 0.0 {
                c.verified as f64 / facts.verified_window_s
            } else {
                0.0
            },
        },
        behind_schedule: c.behind_schedule,
        behind_schedule_tolerance_us: facts.behind_tolerance_us,
        resends: c.resends,
        typos: c.typos,
        checks: c.checks,
        latency_us: Latencies {
            start_response: t.start_response.summary(),
            send_lag: t.send_lag.summary(),
            delivery_time: t.delivery.summary(),
            receipt_time: t.receipt.summary(),
            verify_time: t.verify.summary(),
            failover_time: t.failover_time.summary(),
        },
        routes,
        failover: FailoverReport {
            observable: facts.attempts_observable,
            verifications: c.failovers,
            ratio: ratio(c.failovers, c.started),
            by_cause: t.reasons.failovers.clone(),
            routed: t.reasons.routed.clone(),
            added_us: t.failover_time.summary(),
            delivery_time_us: t.failover_delivery.summary(),
        },
        populations,
        phases,
        timeline: facts.timeline,
        events: facts.events,
        handsets: HandsetReport {
            receipt_stats: t.receipt_stats.clone(),
            ..facts.handsets
        },
        identity,
        machine: facts.machine,
        memory: facts.memory,
        embedded: stopped,
        percentile_curves: curves::Curves::of(t),
        abuse: facts.abuse,
        thresholds: Vec::new(),
        thresholds_passed: true,
        errors,
        notes,
    };
    report.thresholds = thresholds.iter().map(|th| judge(th, &report, m)).collect();
    report.thresholds_passed = report.thresholds.iter().all(|v| v.pass);
    report
}

/// The histogram a latency threshold reads: the whole run's, or the routes' of one channel
/// or carrier merged.
fn latency_hist(m: &Measure, latency: Latency, selector: Option<&str>) -> Hist {
    let t = &m.total;
    let Some(sel) = selector else {
        return match latency {
            Latency::StartResponse => t.start_response.clone(),
            Latency::DeliveryTime => t.delivery.clone(),
            Latency::ReceiptTime => t.receipt.clone(),
            Latency::VerifyTime => t.verify.clone(),
            Latency::FailoverTime => t.failover_time.clone(),
            Latency::SendLag => t.send_lag.clone(),
        };
    };
    let mut h = Hist::new();
    for (r, rh) in &t.routes {
        if r.channel == sel || r.carrier == sel {
            h.add(match latency {
                Latency::ReceiptTime => &rh.receipt,
                Latency::VerifyTime => &rh.verify,
                _ => &rh.delivery,
            });
        }
    }
    h
}

/// The measured value a threshold is judged against (`None`: no samples).
pub fn value_of(metric: &RunMetric, r: &Report, m: &Measure) -> Option<f64> {
    match metric {
        RunMetric::Latency {
            latency,
            selector,
            stat,
        } => {
            let h = latency_hist(m, *latency, selector.as_deref());
            if h.is_empty() {
                return None;
            }
            Some(match stat {
                Stat::Quantile(q) => h.0.value_at_quantile(f64::from(*q) / 1000.0) as f64,
                Stat::Max => h.0.max() as f64,
                Stat::Mean => h.0.mean(),
            })
        }
        RunMetric::Count { count, reason } => {
            let reasons = &r.reasons;
            let by = |map: &BTreeMap<String, u64>| {
                reason.as_ref().map(|k| map.get(k).copied().unwrap_or(0))
            };
            let v = match count {
                Count::Scheduled => r.scheduled,
                Count::Attempted => r.attempted,
                Count::Started => r.started,
                Count::Delivered => r.delivered,
                Count::Refused => by(&reasons.refused).unwrap_or(r.outcomes.refused),
                Count::Verified => r.outcomes.verified,
                Count::Expired => by(&reasons.expired).unwrap_or(r.outcomes.expired),
                Count::Abandoned => by(&reasons.abandoned).unwrap_or(r.outcomes.abandoned),
                Count::Failed => by(&reasons.failed).unwrap_or(r.outcomes.failed),
                Count::Failovers => by(&reasons.failovers).unwrap_or(r.failover.verifications),
                Count::Resends => r.resends,
                Count::Unsent => r.unsent,
                Count::BehindSchedule => r.behind_schedule,
                Count::LaggedEvents => r.handsets.lagged_events,
            };
            Some(v as f64)
        }
        RunMetric::Ratio(x) => match x {
            Ratio::Verified => r.ratios.verified,
            Ratio::Delivered => r.ratios.delivered,
            Ratio::Refused => r.ratios.refused,
            Ratio::Expired => r.ratios.expired,
            Ratio::Abandoned => r.ratios.abandoned,
            Ratio::Failed => r.ratios.failed,
            Ratio::Failover => r.ratios.failover,
        },
        RunMetric::Rate(Rate::Achieved) => Some(r.rates.achieved),
        RunMetric::Rate(Rate::Verified) => Some(r.rates.verified),
        RunMetric::Abuse(a) => abuse_values::value(a, r.abuse.as_ref()).0,
    }
}

/// Judges one threshold. A rate threshold does not pass when the target rate was not met: a
/// rate that fell short of its schedule is not evidence of the rate asked for.
pub fn judge(t: &RunThreshold, r: &Report, m: &Measure) -> Verdict {
    if let RunMetric::Abuse(a) = &t.metric {
        // An abuse figure may be missing for a reason the verdict tells.
        let (value, why) = abuse_values::value(a, r.abuse.as_ref());
        return Verdict {
            why,
            ..t.judge(value)
        };
    }
    let mut v = t.judge(value_of(&t.metric, r, m));
    if matches!(t.metric, RunMetric::Rate(Rate::Achieved)) && !r.rates.met {
        v.pass = false;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::measure::{End, Outcome, Route};

    fn verified(m: &mut Measure) {
        m.sent(0, 0, Duration::ZERO, false);
        m.answered(0, 0, Duration::from_millis(5), true);
        let route = Route {
            channel: "sms",
            carrier: "alpha".into(),
        };
        m.delivered(0, 0, Duration::from_secs(1), &route);
        m.ended(&End {
            population: 0,
            phase: 0,
            outcome: Outcome::Verified,
            reason: "",
            started: true,
            delivery: Some(Duration::from_secs(1)),
            verify: Some(Duration::from_secs(3)),
            route: Some(route),
            typos: 0,
            checks: 1,
            failover: None,
            routed: None,
        });
    }

    #[test]
    fn a_broken_identity_is_an_error_that_outranks_the_thresholds() {
        let plan = Plan::builtin_smoke().expect("smoke");
        let t = vec![RunThreshold::parse("verified <= 100").expect("threshold")];
        let mut m = Measure::new(1.0, 1, 1);
        verified(&mut m);
        let facts = |scheduled| RunFacts {
            scheduled,
            ..RunFacts::default()
        };
        let good = build(
            &plan,
            TargetInfo::default(),
            &m,
            facts(1),
            Stopped::default(),
            &t,
        );
        assert!(
            good.identity.holds && good.errors.is_empty(),
            "{:?}",
            good.errors
        );
        assert_eq!(good.exit_code(), 0);
        // Two arrivals scheduled, one accounted for: a user went missing.
        let bad = build(
            &plan,
            TargetInfo::default(),
            &m,
            facts(2),
            Stopped::default(),
            &t,
        );
        assert!(!bad.identity.holds);
        assert!(bad.thresholds_passed, "the thresholds alone would pass");
        assert!(
            bad.errors[0].starts_with("broken accounting identity: scheduled 2"),
            "{:?}",
            bad.errors
        );
        assert_eq!(bad.exit_code(), EXIT_ERROR);
        assert!(summary::summary(&bad).contains("result     ERROR"));
        assert_eq!(junit::junit(&bad).matches("<error ").count(), 1);
        let breached = build(
            &plan,
            TargetInfo::default(),
            &m,
            facts(1),
            Stopped::default(),
            &[RunThreshold::parse("verified > 100").expect("threshold")],
        );
        assert_eq!(breached.exit_code(), EXIT_THRESHOLD);
    }
}
