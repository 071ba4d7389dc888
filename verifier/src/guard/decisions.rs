//! The guard's decision records: every rule that fires (and every listed number forgiven),
//! with its inputs, verdict and the mode in force, in a bounded ring that
//! `GET /v1/decisions?rule=&verdict=` reads, with the totals of every decision since the start
//! by rule, verdict and enforcement (the ring forgets, the totals do not). Rules that let a
//! request through are counted, not recorded: at 10,000 starts/s a record per rule per start
//! would be the log, not the guard.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::GuardMode;
use crate::metrics::labels::Rule;
use crate::support::sharded::lock;

/// What a rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    /// Refused (in `record_only` mode: would have been).
    Block,
    /// Sent by voice instead of SMS.
    Voice,
    /// A listed number forgiven (recycled or ported since it was listed).
    Forgive,
    /// Listed on the heuristic list.
    List,
}

impl Verdict {
    pub(crate) fn from_word(w: &str) -> Option<Self> {
        Some(match w {
            "block" => Verdict::Block,
            "voice" => Verdict::Voice,
            "forgive" => Verdict::Forgive,
            "list" => Verdict::List,
            _ => return None,
        })
    }
}

/// One decision.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Decision {
    /// Increasing id.
    pub id: u64,
    /// When.
    pub at: DateTime<Utc>,
    /// The rule.
    pub rule: Rule,
    /// What it decided.
    pub verdict: Verdict,
    /// `enforce` or `record_only`.
    pub mode: &'static str,
    /// Whether the verdict took effect.
    pub enforced: bool,
    /// The number concerned.
    pub to: String,
    /// Why, in words.
    pub reason: String,
    /// What the rule looked at.
    pub inputs: serde_json::Value,
}

/// How many decisions of one rule, verdict and enforcement were made since the start (the
/// ring keeps only the newest; these count them all).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Total {
    pub rule: Rule,
    pub verdict: Verdict,
    pub enforced: bool,
    pub count: u64,
}

const VERDICTS: [Verdict; 4] = [
    Verdict::Block,
    Verdict::Voice,
    Verdict::Forgive,
    Verdict::List,
];

/// The ring of decisions.
#[derive(Debug)]
pub(crate) struct Decisions {
    kept: usize,
    next: AtomicU64,
    ring: Mutex<VecDeque<Decision>>,
    /// Per rule × verdict × enforced.
    totals: Vec<AtomicU64>,
}

fn slot(rule: Rule, verdict: Verdict, enforced: bool) -> usize {
    let v = VERDICTS.iter().position(|x| *x == verdict).unwrap_or(0);
    (rule.index() * VERDICTS.len() + v) * 2 + usize::from(enforced)
}

impl Decisions {
    pub(crate) fn new(kept: usize) -> Self {
        Self {
            kept,
            next: AtomicU64::new(1),
            ring: Mutex::new(VecDeque::new()),
            totals: (0..Rule::ALL.len() * VERDICTS.len() * 2)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &self,
        rule: Rule,
        verdict: Verdict,
        mode: GuardMode,
        to: String,
        reason: String,
        inputs: serde_json::Value,
    ) {
        let enforced = mode == GuardMode::Enforce;
        if let Some(c) = self.totals.get(slot(rule, verdict, enforced)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if self.kept == 0 {
            return;
        }
        let d = Decision {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            at: Utc::now(),
            rule,
            verdict,
            mode: mode.word(),
            enforced,
            to,
            reason,
            inputs,
        };
        let mut ring = lock(&self.ring);
        if ring.len() >= self.kept {
            ring.pop_front();
        }
        ring.push_back(d);
    }

    /// Every decision made since the start, counted by rule, verdict and enforcement (the
    /// counts that are not zero).
    pub(crate) fn totals(&self) -> Vec<Total> {
        let mut out = Vec::new();
        for rule in Rule::ALL {
            for verdict in VERDICTS {
                for enforced in [true, false] {
                    let count = self.totals[slot(*rule, verdict, enforced)].load(Ordering::Relaxed);
                    if count > 0 {
                        out.push(Total {
                            rule: *rule,
                            verdict,
                            enforced,
                            count,
                        });
                    }
                }
            }
        }
        out
    }

    /// Newest first, filtered.
    pub(crate) fn list(
        &self,
        rule: Option<Rule>,
        verdict: Option<Verdict>,
        limit: usize,
    ) -> Vec<Decision> {
        lock(&self.ring)
            .iter()
            .rev()
            .filter(|d| rule.is_none_or(|r| d.rule == r) && verdict.is_none_or(|v| d.verdict == v))
            .take(limit)
            .cloned()
            .collect()
    }
}
