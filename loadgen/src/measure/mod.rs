//! What a run measures: every verification's way through (sent, answered, delivered, ended in
//! exactly one outcome), latency histograms in scenario time ([`hist`]), the same per channel
//! and carrier, per population and per phase, intervals over time, the accounting identities
//! checked at the end ([`Identity`]), and the ground truth of fraud personas ([`abuse`]).
//!
//! Flows report here at each step, with wall-time latencies measured from their intended start
//! time (open loop); histograms hold them as scenario time (wall × time scale), so thresholds
//! written for the scenario hold at any time scale.
//!
//! Layer: uses `scenario`; used by `report` and `run`.

pub mod abuse;
pub mod hist;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

pub use hist::{Hist, Percentiles};

/// How a verification ended: exactly one per user that asked for a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The service refused the start (by rule, rate limit, overload, bad request).
    Refused,
    /// The code was checked and approved.
    Verified,
    /// The verification expired: no code before it did, or the check came too late.
    Expired,
    /// The user walked away (by choice, or tired of waiting for a code).
    Abandoned,
    /// Anything else: too many checks, errors of the service, unfinished at the end.
    Failed,
}

/// Counters of a run, a population, a phase or an interval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Users that asked for a code.
    pub attempted: u64,
    /// Starts the service accepted (each user counted once).
    pub started: u64,
    /// Verifications whose code reached the phone.
    pub delivered: u64,
    /// Ended refused.
    pub refused: u64,
    /// Ended verified.
    pub verified: u64,
    /// Ended expired.
    pub expired: u64,
    /// Ended abandoned.
    pub abandoned: u64,
    /// Ended failed.
    pub failed: u64,
    /// Of `failed`, those that never started (the start request failed).
    pub failed_unstarted: u64,
    /// Verifications that needed a second step (failover).
    pub failovers: u64,
    /// Resend requests.
    pub resends: u64,
    /// Wrong codes typed.
    pub typos: u64,
    /// Check requests.
    pub checks: u64,
    /// Starts sent later than the tolerance after their intended time.
    pub behind_schedule: u64,
}

impl Counts {
    /// Adds `o` into these.
    pub fn add(&mut self, o: &Counts) {
        self.attempted += o.attempted;
        self.started += o.started;
        self.delivered += o.delivered;
        self.refused += o.refused;
        self.verified += o.verified;
        self.expired += o.expired;
        self.abandoned += o.abandoned;
        self.failed += o.failed;
        self.failed_unstarted += o.failed_unstarted;
        self.failovers += o.failovers;
        self.resends += o.resends;
        self.typos += o.typos;
        self.checks += o.checks;
        self.behind_schedule += o.behind_schedule;
    }

    /// Verifications that have ended.
    pub fn ended(&self) -> u64 {
        self.refused + self.verified + self.expired + self.abandoned + self.failed
    }

    /// `verified / attempted` (`None` before anyone asked).
    pub fn verified_ratio(&self) -> Option<f64> {
        ratio(self.verified, self.attempted)
    }

    fn end(&mut self, o: Outcome, started: bool) {
        match o {
            Outcome::Refused => self.refused += 1,
            Outcome::Verified => self.verified += 1,
            Outcome::Expired => self.expired += 1,
            Outcome::Abandoned => self.abandoned += 1,
            Outcome::Failed => {
                self.failed += 1;
                if !started {
                    self.failed_unstarted += 1;
                }
            }
        }
    }
}

/// `part / whole`, `None` when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Why verifications ended as they did, and why they failed over, by word.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reasons {
    /// Refusals by reason (the guard's rule, `max_send_attempts`, `overloaded`, `http_503`...).
    pub refused: BTreeMap<String, u64>,
    /// Expiries: `not_delivered` (no code in time), `check` (the check came too late).
    pub expired: BTreeMap<String, u64>,
    /// Walk-aways: `chose` (never meant to check), `no_code` (tired of waiting).
    pub abandoned: BTreeMap<String, u64>,
    /// Failures: `max_attempts`, `not_found`, `start_error`, `check_error`, `unfinished`,
    /// `no_free_number`.
    pub failed: BTreeMap<String, u64>,
    /// Failovers by the cause the service gave for leaving the first step.
    pub failovers: BTreeMap<String, u64>,
    /// Verifications sent straight to a later step at start, by cause (`landline`, ...).
    pub routed: BTreeMap<String, u64>,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// Where a code went: channel and carrier.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// `sms` or `voice`.
    pub channel: &'static str,
    /// The carrier that delivered it (`unknown` when the stream did not say).
    pub carrier: String,
}

/// The latencies of one route.
#[derive(Debug, Clone, Default)]
pub struct RouteHists {
    /// Codes delivered.
    pub delivered: u64,
    /// Intended start → code on the phone.
    pub delivery: Hist,
    /// Intended start → the receipt of the message that carried it.
    pub receipt: Hist,
    /// Intended start → approved.
    pub verify: Hist,
}

/// The whole run's figures.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Counters.
    pub counts: Counts,
    /// Reasons.
    pub reasons: Reasons,
    /// Intended start → start answered.
    pub start_response: Hist,
    /// Intended start → start sent.
    pub send_lag: Hist,
    /// Intended start → code on the phone.
    pub delivery: Hist,
    /// Intended start → the receipt of the message that carried the code.
    pub receipt: Hist,
    /// Intended start → approved.
    pub verify: Hist,
    /// The time failover added (first step sent → delivering step sent).
    pub failover_time: Hist,
    /// Delivery, receipt and verify times of verifications that failed over.
    pub failover_delivery: Hist,
    /// Per channel and carrier.
    pub routes: BTreeMap<Route, RouteHists>,
    /// Receipts by `stat:` (of the messages that carried codes).
    pub receipt_stats: BTreeMap<String, u64>,
}

/// One interval of the run, as the timeline shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntervalRow {
    /// End of the interval, seconds of scenario time from the start of the load.
    pub t: f64,
    /// Users that asked, started, ... in the interval (by when it happened).
    #[serde(flatten)]
    pub counts: Counts,
    /// Users that asked per second (wall time).
    pub rate: f64,
    /// Verifications approved per second (wall time).
    pub verified_rate: f64,
    /// p99 of the delivery times recorded in the interval (µs), null without any.
    pub delivery_p99_us: Option<u64>,
    /// Codes delivered in the interval, per carrier.
    pub delivered_by_carrier: BTreeMap<String, u64>,
    /// Failovers in the interval (counted when their verification ended), by cause.
    pub failovers_by_cause: BTreeMap<String, u64>,
}

/// What one interval gives the interval log: its row and its histograms.
#[derive(Debug, Clone)]
pub struct IntervalSnapshot {
    /// The row.
    pub row: IntervalRow,
    /// Delivery times recorded in it.
    pub delivery: Hist,
    /// Receipt times recorded in it.
    pub receipt: Hist,
    /// Verify times recorded in it.
    pub verify: Hist,
}

/// A verification's end, as a flow reports it.
#[derive(Debug, Clone)]
pub struct End<'a> {
    /// Population index.
    pub population: usize,
    /// Phase index (by intended start).
    pub phase: usize,
    /// How it ended.
    pub outcome: Outcome,
    /// Why (see [`Reasons`]).
    pub reason: &'a str,
    /// Whether the service accepted its start.
    pub started: bool,
    /// Intended start → the code on the phone, when it came (wall time).
    pub delivery: Option<Duration>,
    /// Intended start → approved, when verified (wall time).
    pub verify: Option<Duration>,
    /// Where its code went, when it came.
    pub route: Option<Route>,
    /// Wrong codes typed.
    pub typos: u64,
    /// Checks sent.
    pub checks: u64,
    /// The cause the service gave for leaving its first step, and the time that added (none
    /// when no later step was sent before the verification ended: the first step's code
    /// arrived after all, and failover added nothing the user waited for).
    pub failover: Option<(&'a str, Option<Duration>)>,
    /// Why it went straight to a later step, when it did.
    pub routed: Option<&'a str>,
}

/// Everything measured so far.
#[derive(Debug, Clone)]
pub struct Measure {
    time_scale: f64,
    /// The whole run.
    pub total: Tally,
    /// Per population.
    pub populations: Vec<Counts>,
    /// Per phase: counters and delivery times.
    pub phases: Vec<(Counts, Hist)>,
    /// Ground truth of the fraud personas' requests ([`abuse`]).
    pub abuse: abuse::Ledger,
    iv: IntervalSnapshot,
}

impl Measure {
    /// Nothing measured yet, for `populations` populations and `phases` phases.
    pub fn new(time_scale: f64, populations: usize, phases: usize) -> Self {
        Self {
            time_scale,
            total: Tally::default(),
            populations: vec![Counts::default(); populations],
            phases: vec![(Counts::default(), Hist::new()); phases],
            abuse: abuse::Ledger::new(vec![false; populations], phases),
            iv: IntervalSnapshot {
                row: IntervalRow::default(),
                delivery: Hist::new(),
                receipt: Hist::new(),
                verify: Hist::new(),
            },
        }
    }

    fn counts(&mut self, population: usize, phase: usize, f: impl Fn(&mut Counts)) {
        f(&mut self.total.counts);
        f(&mut self.iv.row.counts);
        if let Some(c) = self.populations.get_mut(population) {
            f(c);
        }
        if let Some((c, _)) = self.phases.get_mut(phase) {
            f(c);
        }
    }

    /// A start request went out, `lag` after its intended time.
    pub fn sent(&mut self, population: usize, phase: usize, lag: Duration, behind: bool) {
        self.total.send_lag.record(lag, self.time_scale);
        self.counts(population, phase, |c| {
            c.attempted += 1;
            c.behind_schedule += u64::from(behind);
        });
    }

    /// A user could not even ask (no free number): counted as asked and failed.
    pub fn not_sent(&mut self, population: usize, phase: usize, reason: &str) {
        self.counts(population, phase, |c| {
            c.attempted += 1;
            c.failed += 1;
            c.failed_unstarted += 1;
        });
        bump(&mut self.total.reasons.failed, reason);
    }

    /// The first start was answered `response` after its intended time; `started`: accepted.
    pub fn answered(&mut self, population: usize, phase: usize, response: Duration, started: bool) {
        self.total.start_response.record(response, self.time_scale);
        if started {
            self.counts(population, phase, |c| c.started += 1);
        }
    }

    /// The user asked for the code again.
    pub fn resent(&mut self, population: usize, phase: usize) {
        self.counts(population, phase, |c| c.resends += 1);
    }

    /// The code reached the phone `since` after the intended start.
    pub fn delivered(&mut self, population: usize, phase: usize, since: Duration, route: &Route) {
        let scale = self.time_scale;
        self.counts(population, phase, |c| c.delivered += 1);
        self.total.delivery.record(since, scale);
        self.iv.delivery.record(since, scale);
        if let Some((_, h)) = self.phases.get_mut(phase) {
            h.record(since, scale);
        }
        let r = self.route(route);
        r.delivered += 1;
        r.delivery.record(since, scale);
        bump(&mut self.iv.row.delivered_by_carrier, &route.carrier);
    }

    /// The receipt of the message that carried a code came `since` after the intended start.
    pub fn receipt(&mut self, since: Duration, route: &Route, stat: &str) {
        let scale = self.time_scale;
        self.total.receipt.record(since, scale);
        self.iv.receipt.record(since, scale);
        self.route(route).receipt.record(since, scale);
        bump(&mut self.total.receipt_stats, stat);
    }

    fn route(&mut self, route: &Route) -> &mut RouteHists {
        if !self.total.routes.contains_key(route) {
            self.total
                .routes
                .insert(route.clone(), RouteHists::default());
        }
        self.total
            .routes
            .get_mut(route)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    /// A verification ended.
    pub fn ended(&mut self, e: &End<'_>) {
        let scale = self.time_scale;
        let failover = e.failover.is_some();
        self.counts(e.population, e.phase, |c| {
            c.end(e.outcome, e.started);
            c.typos += e.typos;
            c.checks += e.checks;
            c.failovers += u64::from(failover);
        });
        let reasons = &mut self.total.reasons;
        match e.outcome {
            Outcome::Refused => bump(&mut reasons.refused, e.reason),
            Outcome::Expired => bump(&mut reasons.expired, e.reason),
            Outcome::Abandoned => bump(&mut reasons.abandoned, e.reason),
            Outcome::Failed => bump(&mut reasons.failed, e.reason),
            Outcome::Verified => {}
        }
        if let Some(routed) = e.routed {
            bump(&mut reasons.routed, routed);
        }
        if let Some((cause, added)) = e.failover {
            bump(&mut reasons.failovers, cause);
            bump(&mut self.iv.row.failovers_by_cause, cause);
            if let Some(added) = added {
                self.total.failover_time.record(added, scale);
            }
            if let Some(d) = e.delivery {
                self.total.failover_delivery.record(d, scale);
            }
        }
        if let Some(v) = e.verify {
            self.total.verify.record(v, scale);
            self.iv.verify.record(v, scale);
            if let Some(route) = &e.route {
                self.route(route).verify.record(v, scale);
            }
        }
    }

    /// Closes the interval that ends `t` seconds (wall) after the start of the load and lasted
    /// `dt` seconds: its row and histograms; a new one begins.
    pub fn take_interval(&mut self, t: f64, dt: f64) -> IntervalSnapshot {
        let per_second = |n: u64| if dt > 0.0 { n as f64 / dt } else { 0.0 };
        let mut snap = std::mem::replace(
            &mut self.iv,
            IntervalSnapshot {
                row: IntervalRow::default(),
                delivery: Hist::new(),
                receipt: Hist::new(),
                verify: Hist::new(),
            },
        );
        snap.row.t = t * self.time_scale;
        self.abuse.interval(snap.row.t);
        snap.row.rate = per_second(snap.row.counts.attempted);
        snap.row.verified_rate = per_second(snap.row.counts.verified);
        snap.row.delivery_p99_us = snap.delivery.quantile(0.99);
        snap
    }
}

/// The accounting identities of a run, checked from independently kept counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// All of them hold.
    pub holds: bool,
    /// Each identity with its numbers, and whether it holds.
    pub text: Vec<String>,
}

/// Checks the identities: every arrival was asked or unsent; every user that asked ended in
/// exactly one outcome; every started verification ended verified, expired, abandoned or
/// failed; nobody verified without a code and no code came without a start.
pub fn identity(c: &Counts, scheduled: u64, unsent: u64) -> Identity {
    let mut text = Vec::new();
    let mut holds = true;
    let mut check = |ok: bool, line: String| {
        holds &= ok;
        text.push(format!("{line} {}", if ok { "holds" } else { "BROKEN" }));
    };
    check(
        scheduled == c.attempted + unsent,
        format!(
            "scheduled {scheduled} = attempted {} + unsent {unsent}:",
            c.attempted
        ),
    );
    check(
        c.attempted == c.ended(),
        format!(
            "attempted {} = refused {} + verified {} + expired {} + abandoned {} + failed {}:",
            c.attempted, c.refused, c.verified, c.expired, c.abandoned, c.failed
        ),
    );
    let failed_started = c.failed.saturating_sub(c.failed_unstarted);
    check(
        c.started == c.verified + c.expired + c.abandoned + failed_started
            && c.failed_unstarted <= c.failed,
        format!(
            "started {} = verified {} + expired {} + abandoned {} + failed after start {}:",
            c.started, c.verified, c.expired, c.abandoned, failed_started
        ),
    );
    check(
        c.verified <= c.delivered && c.delivered <= c.started,
        format!(
            "verified {} <= delivered {} <= started {}:",
            c.verified, c.delivered, c.started
        ),
    );
    Identity { holds, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route() -> Route {
        Route {
            channel: "sms",
            carrier: "alpha".into(),
        }
    }

    #[test]
    fn a_flow_is_counted_once_everywhere() {
        let mut m = Measure::new(2.0, 1, 1);
        m.sent(0, 0, Duration::from_millis(1), false);
        m.answered(0, 0, Duration::from_millis(5), true);
        m.delivered(0, 0, Duration::from_millis(500), &route());
        m.receipt(Duration::from_millis(600), &route(), "DELIVRD");
        m.ended(&End {
            population: 0,
            phase: 0,
            outcome: Outcome::Verified,
            reason: "",
            started: true,
            delivery: Some(Duration::from_millis(500)),
            verify: Some(Duration::from_secs(3)),
            route: Some(route()),
            typos: 1,
            checks: 2,
            failover: Some(("step_timeout", Some(Duration::from_secs(1)))),
            routed: None,
        });
        let c = &m.total.counts;
        assert_eq!(
            (c.attempted, c.started, c.delivered, c.verified, c.failovers),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(m.populations[0], *c);
        assert_eq!(m.phases[0].0, *c);
        // Scenario time: wall × 2.
        let p = m.total.verify.summary();
        assert!((5_990_000..=6_010_000).contains(&p.p50), "{p:?}");
        assert_eq!(m.total.reasons.failovers["step_timeout"], 1);
        assert!(identity(c, 1, 0).holds);
        let iv = m.take_interval(0.5, 0.5);
        assert_eq!(iv.row.t, 1.0);
        assert_eq!(iv.row.rate, 2.0);
        assert_eq!(iv.row.delivered_by_carrier["alpha"], 1);
        assert_eq!(m.take_interval(1.0, 0.5).row.counts, Counts::default());
    }

    #[test]
    fn a_broken_identity_is_reported_with_its_numbers() {
        let c = Counts {
            attempted: 3,
            started: 2,
            delivered: 2,
            verified: 2,
            ..Counts::default()
        };
        let id = identity(&c, 3, 0);
        assert!(!id.holds);
        assert!(
            id.text
                .iter()
                .any(|l| l.starts_with("attempted 3 = refused 0") && l.ends_with("BROKEN")),
            "{:?}",
            id.text
        );
    }
}
