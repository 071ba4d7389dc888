//! Counters of the service and their Prometheus text (`GET /metrics`): starts, sends by
//! channel and carrier, checks by result, failovers by cause, blocks by rule and mode,
//! overload answers; gauges (pending, breaker state) are passed in at render time by the layer
//! that owns them.
//!
//! Every counter is a relaxed atomic in a fixed array indexed by the closed label sets of
//! [`labels`], so counting costs one atomic add on the hot path.
//!
//! Layer: above `support` and `config` only; every layer above counts here.

pub(crate) mod labels;

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use labels::{Cause, CheckResult, Overload, Rule};

use crate::config::Channel;

fn counters(n: usize) -> Vec<AtomicU64> {
    (0..n).map(|_| AtomicU64::new(0)).collect()
}

fn add(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Every counter of one service.
#[derive(Debug)]
pub(crate) struct Metrics {
    carriers: Vec<String>,
    started: AtomicU64,
    approved: AtomicU64,
    /// [carrier][channel]
    sends: Vec<AtomicU64>,
    /// [carrier][delivered, undeliverable]
    receipts: Vec<AtomicU64>,
    checks: Vec<AtomicU64>,
    failovers: Vec<AtomicU64>,
    /// [rule][enforce, record_only]
    blocks: Vec<AtomicU64>,
    overload: Vec<AtomicU64>,
}

/// A gauge sample the owner of the value passes to [`Metrics::render`].
#[derive(Debug)]
pub(crate) struct Gauge {
    pub name: &'static str,
    pub help: &'static str,
    pub samples: Vec<(String, f64)>,
}

impl Metrics {
    pub(crate) fn new(carriers: Vec<String>) -> Self {
        let n = carriers.len();
        Self {
            carriers,
            started: AtomicU64::new(0),
            approved: AtomicU64::new(0),
            sends: counters(n * 2),
            receipts: counters(n * 2),
            checks: counters(CheckResult::ALL.len()),
            failovers: counters(Cause::ALL.len()),
            blocks: counters(Rule::ALL.len() * 2),
            overload: counters(Overload::ALL.len()),
        }
    }

    pub(crate) fn started(&self) {
        add(&self.started);
    }

    pub(crate) fn sent(&self, carrier: usize, channel: Channel) {
        add(&self.sends[carrier * 2 + channel as usize]);
    }

    pub(crate) fn receipt(&self, carrier: usize, delivered: bool) {
        add(&self.receipts[carrier * 2 + usize::from(!delivered)]);
    }

    pub(crate) fn check(&self, result: CheckResult) {
        add(&self.checks[result.index()]);
        if result == CheckResult::Approved {
            add(&self.approved);
        }
    }

    pub(crate) fn failover(&self, cause: Cause) {
        add(&self.failovers[cause.index()]);
    }

    pub(crate) fn block(&self, rule: Rule, enforced: bool) {
        add(&self.blocks[rule.index() * 2 + usize::from(!enforced)]);
    }

    pub(crate) fn overload(&self, what: Overload) {
        add(&self.overload[what.index()]);
    }

    /// A snapshot for [`crate::Running::stats`].
    pub(crate) fn snapshot(&self) -> Snapshot {
        let by = |v: &[AtomicU64], words: &[&'static str]| {
            words
                .iter()
                .zip(v)
                .map(|(w, c)| (w.to_string(), get(c)))
                .collect()
        };
        Snapshot {
            started: get(&self.started),
            approved: get(&self.approved),
            sends: self
                .carriers
                .iter()
                .enumerate()
                .map(|(i, c)| SendCount {
                    carrier: c.clone(),
                    sms: get(&self.sends[i * 2]),
                    voice: get(&self.sends[i * 2 + 1]),
                    delivered: get(&self.receipts[i * 2]),
                    undeliverable: get(&self.receipts[i * 2 + 1]),
                })
                .collect(),
            checks: by(
                &self.checks,
                &CheckResult::ALL
                    .iter()
                    .map(|r| r.word())
                    .collect::<Vec<_>>(),
            ),
            failovers: by(
                &self.failovers,
                &Cause::ALL.iter().map(|r| r.word()).collect::<Vec<_>>(),
            ),
            blocks: Rule::ALL
                .iter()
                .map(|r| (r.word().to_string(), get(&self.blocks[r.index() * 2])))
                .collect(),
            flagged: Rule::ALL
                .iter()
                .map(|r| (r.word().to_string(), get(&self.blocks[r.index() * 2 + 1])))
                .collect(),
            overload: by(
                &self.overload,
                &Overload::ALL.iter().map(|r| r.word()).collect::<Vec<_>>(),
            ),
        }
    }

    /// Prometheus text exposition (format 0.0.4), with `gauges` appended.
    pub(crate) fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "verifier_verifications_started_total",
            "counter",
            "Verifications started (resends excluded).",
        );
        let _ = writeln!(
            out,
            "verifier_verifications_started_total {}",
            get(&self.started)
        );
        head(
            &mut out,
            "verifier_sends_total",
            "counter",
            "Codes sent, by channel and carrier.",
        );
        for (i, c) in self.carriers.iter().enumerate() {
            for ch in [Channel::Sms, Channel::Voice] {
                let _ = writeln!(
                    out,
                    "verifier_sends_total{{channel=\"{}\",carrier=\"{c}\"}} {}",
                    ch.word(),
                    get(&self.sends[i * 2 + ch as usize])
                );
            }
        }
        head(
            &mut out,
            "verifier_receipts_total",
            "counter",
            "Final receipts matched to attempts, by carrier and outcome.",
        );
        for (i, c) in self.carriers.iter().enumerate() {
            for (j, o) in ["delivered", "undeliverable"].iter().enumerate() {
                let _ = writeln!(
                    out,
                    "verifier_receipts_total{{carrier=\"{c}\",outcome=\"{o}\"}} {}",
                    get(&self.receipts[i * 2 + j])
                );
            }
        }
        head(
            &mut out,
            "verifier_checks_total",
            "counter",
            "Checks, by result.",
        );
        for r in CheckResult::ALL {
            let _ = writeln!(
                out,
                "verifier_checks_total{{result=\"{r}\"}} {}",
                get(&self.checks[r.index()])
            );
        }
        head(
            &mut out,
            "verifier_failovers_total",
            "counter",
            "Steps left for the next, by cause.",
        );
        for c in Cause::ALL {
            let _ = writeln!(
                out,
                "verifier_failovers_total{{cause=\"{c}\"}} {}",
                get(&self.failovers[c.index()])
            );
        }
        head(
            &mut out,
            "verifier_blocks_total",
            "counter",
            "Fraud-guard rules that fired, by rule and mode (record_only: not enforced).",
        );
        for r in Rule::ALL {
            for (j, m) in ["enforce", "record_only"].iter().enumerate() {
                let _ = writeln!(
                    out,
                    "verifier_blocks_total{{rule=\"{r}\",mode=\"{m}\"}} {}",
                    get(&self.blocks[r.index() * 2 + j])
                );
            }
        }
        head(
            &mut out,
            "verifier_overload_total",
            "counter",
            "Requests refused for load or limits, and lookups that could not answer.",
        );
        for o in Overload::ALL {
            let _ = writeln!(
                out,
                "verifier_overload_total{{what=\"{o}\"}} {}",
                get(&self.overload[o.index()])
            );
        }
        for g in gauges {
            head(&mut out, g.name, "gauge", g.help);
            for (labels, v) in &g.samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{} {v}", g.name);
                } else {
                    let _ = writeln!(out, "{}{{{labels}}} {v}", g.name);
                }
            }
        }
        out
    }
}

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Snapshot {
    /// Verifications started.
    pub started: u64,
    /// Checks that approved.
    pub approved: u64,
    /// Per carrier.
    pub sends: Vec<SendCount>,
    /// Checks by result.
    pub checks: Vec<(String, u64)>,
    /// Failovers by cause.
    pub failovers: Vec<(String, u64)>,
    /// Enforced blocks by rule.
    pub blocks: Vec<(String, u64)>,
    /// Rules that fired in `record_only` mode, by rule.
    pub flagged: Vec<(String, u64)>,
    /// Overload answers by kind.
    pub overload: Vec<(String, u64)>,
}

/// Sends and receipts of one carrier.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SendCount {
    /// The carrier.
    pub carrier: String,
    /// SMS submitted (accepted by the carrier).
    pub sms: u64,
    /// Voice calls placed.
    pub voice: u64,
    /// DELIVRD receipts.
    pub delivered: u64,
    /// Other final receipts.
    pub undeliverable: u64,
}

impl Snapshot {
    /// A count from one of the `(name, count)` lists.
    pub fn count(list: &[(String, u64)], name: &str) -> u64 {
        list.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c)
    }
}
