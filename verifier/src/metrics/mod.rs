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

/// A metric family: its series (labels, value). Gauges are built by the layer that owns the
/// value and passed to [`Metrics::render`].
#[derive(Debug)]
pub(crate) struct Family {
    pub name: &'static str,
    pub kind: &'static str,
    pub help: &'static str,
    pub samples: Vec<(String, f64)>,
}

impl Family {
    fn counter(name: &'static str, help: &'static str, samples: Vec<(String, f64)>) -> Self {
        Self {
            name,
            kind: "counter",
            help,
            samples,
        }
    }

    /// A gauge.
    pub(crate) fn gauge(
        name: &'static str,
        help: &'static str,
        samples: Vec<(String, f64)>,
    ) -> Self {
        Self {
            name,
            kind: "gauge",
            help,
            samples,
        }
    }
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

    /// The counters as metric families, each series with its labels.
    fn families(&self) -> Vec<Family> {
        let per_carrier = |v: &[AtomicU64], label: &str, words: [&str; 2]| {
            let mut samples = Vec::new();
            for (i, c) in self.carriers.iter().enumerate() {
                for (j, w) in words.iter().enumerate() {
                    samples.push((
                        format!("{label}=\"{w}\",carrier=\"{c}\""),
                        get(&v[i * 2 + j]) as f64,
                    ));
                }
            }
            samples
        };
        let by = |v: &[AtomicU64], label: &str, words: &mut dyn Iterator<Item = &'static str>| {
            words
                .zip(v)
                .map(|(w, c)| (format!("{label}=\"{w}\""), get(c) as f64))
                .collect()
        };
        let blocks = Rule::ALL
            .iter()
            .flat_map(|r| {
                ["enforce", "record_only"]
                    .iter()
                    .enumerate()
                    .map(move |(j, m)| {
                        (
                            format!("rule=\"{r}\",mode=\"{m}\""),
                            get(&self.blocks[r.index() * 2 + j]) as f64,
                        )
                    })
            })
            .collect();
        vec![
            Family::counter(
                "verifier_verifications_started_total",
                "Verifications started (resends excluded).",
                vec![(String::new(), get(&self.started) as f64)],
            ),
            Family::counter(
                "verifier_sends_total",
                "Codes sent, by channel and carrier.",
                per_carrier(&self.sends, "channel", ["sms", "voice"]),
            ),
            Family::counter(
                "verifier_receipts_total",
                "Final receipts (and call outcomes) matched to attempts, by outcome and carrier.",
                per_carrier(&self.receipts, "outcome", ["delivered", "undeliverable"]),
            ),
            Family::counter(
                "verifier_checks_total",
                "Checks, by result.",
                by(
                    &self.checks,
                    "result",
                    &mut CheckResult::ALL.iter().map(|r| r.word()),
                ),
            ),
            Family::counter(
                "verifier_failovers_total",
                "Steps left for the next, by cause.",
                by(
                    &self.failovers,
                    "cause",
                    &mut Cause::ALL.iter().map(|r| r.word()),
                ),
            ),
            Family::counter(
                "verifier_blocks_total",
                "Fraud-guard rules that fired, by rule and mode (record_only: not enforced).",
                blocks,
            ),
            Family::counter(
                "verifier_overload_total",
                "Requests refused for load or limits, and lookups that could not answer.",
                by(
                    &self.overload,
                    "what",
                    &mut Overload::ALL.iter().map(|r| r.word()),
                ),
            ),
        ]
    }

    /// Prometheus text exposition (format 0.0.4): the counters, then `gauges`.
    pub(crate) fn render(&self, gauges: &[Family]) -> String {
        let mut out = String::with_capacity(8 * 1024);
        for f in self.families().iter().chain(gauges) {
            let _ = writeln!(
                out,
                "# HELP {} {}\n# TYPE {} {}",
                f.name, f.help, f.name, f.kind
            );
            for (labels, v) in &f.samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{} {v}", f.name);
                } else {
                    let _ = writeln!(out, "{}{{{labels}}} {v}", f.name);
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
