//! Ground truth of a run with fraud personas: per population, what each start request got
//! (served, refused by reason, failed), the codes its phones received, what it verified or
//! cracked, and what the carrier billed for its numbers; per attack wave (population × phase),
//! its first request and first refusal; and per interval, requests and refusals by label.
//!
//! Flows and the handset reader record here under the measure's lock; the report layer turns
//! it into the abuse section, where the population's persona gives each tally its label.

use std::collections::BTreeMap;

/// What a start request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered<'a> {
    /// A code was sent (or re-sent).
    Served,
    /// Refused on purpose, with the service's reason.
    Refused(&'a str),
    /// The service failed to answer.
    Failed,
}

/// One population's tally.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Start requests.
    pub requests: u64,
    /// Served.
    pub served: u64,
    /// Refused.
    pub refused: u64,
    /// Refused, by reason.
    pub refused_by: BTreeMap<String, u64>,
    /// Not answered.
    pub failed: u64,
    /// Codes that reached the population's phones.
    pub delivered: u64,
    /// Of them, by another channel than asked.
    pub steered: u64,
    /// Verifications approved with the code received.
    pub verified: u64,
    /// Guesses sent.
    pub guesses: u64,
    /// Guesses refused.
    pub guesses_refused: u64,
    /// Verifications a guess approved.
    pub cracked: u64,
    /// SMS submissions billed.
    pub sms_parts: u64,
    /// Calls billed.
    pub calls: u64,
    /// Money billed.
    pub cost: f64,
}

/// One wave's first request and first refusal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaveTally {
    /// Requests.
    pub requests: u64,
    /// Refused.
    pub refused: u64,
    /// First request (ns of wall time from the start of the load).
    pub first_request_ns: Option<u64>,
    /// First refusal.
    pub first_refusal_ns: Option<u64>,
}

/// Requests and refusals of one interval, by label (attack first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabelCounts {
    /// Attack requests answered.
    pub attack_requests: u64,
    /// Attack requests refused.
    pub attack_refused: u64,
    /// Genuine requests answered.
    pub genuine_requests: u64,
    /// Genuine requests refused.
    pub genuine_refused: u64,
}

/// The ledger of a run.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    attack: Vec<bool>,
    /// Per population.
    pub pops: Vec<Tally>,
    /// Per population, per phase.
    pub waves: Vec<Vec<WaveTally>>,
    /// Billed for numbers no population asked for: parts, calls, money.
    pub unowned: (u64, u64, f64),
    /// Billing events seen (message or call), whether the carrier's billing was observed.
    pub billed_events: u64,
    /// Closed intervals: end (scenario seconds) and counts.
    pub intervals: Vec<(f64, LabelCounts)>,
    current: LabelCounts,
}

impl Ledger {
    /// A ledger for populations whose requests are attacks where `attack[p]`, over `phases`.
    pub fn new(attack: Vec<bool>, phases: usize) -> Self {
        let n = attack.len();
        Self {
            attack,
            pops: vec![Tally::default(); n],
            waves: vec![vec![WaveTally::default(); phases.max(1)]; n],
            ..Self::default()
        }
    }

    /// A start request of population `pop` in `phase`, sent at `at_ns`, and its answer.
    pub fn request(&mut self, pop: usize, phase: usize, at_ns: u64, answer: Answered<'_>) {
        let Some(t) = self.pops.get_mut(pop) else {
            return;
        };
        t.requests += 1;
        let attack = self.attack[pop];
        let refused = matches!(answer, Answered::Refused(_));
        match answer {
            Answered::Served => t.served += 1,
            Answered::Refused(why) => {
                t.refused += 1;
                *t.refused_by.entry(why.to_string()).or_default() += 1;
            }
            Answered::Failed => t.failed += 1,
        }
        if let Some(w) = self.waves[pop].get_mut(phase) {
            w.requests += 1;
            w.first_request_ns = Some(w.first_request_ns.map_or(at_ns, |f| f.min(at_ns)));
            if refused {
                w.refused += 1;
                w.first_refusal_ns = Some(w.first_refusal_ns.map_or(at_ns, |f| f.min(at_ns)));
            }
        }
        // Failed requests are neither served nor refused: they stay out of the matrix.
        if answer != Answered::Failed {
            let c = &mut self.current;
            if attack {
                c.attack_requests += 1;
                c.attack_refused += u64::from(refused);
            } else {
                c.genuine_requests += 1;
                c.genuine_refused += u64::from(refused);
            }
        }
    }

    /// A code reached population `pop`'s phone; `steered`: by another channel than asked.
    pub fn delivered(&mut self, pop: usize, steered: bool) {
        if let Some(t) = self.pops.get_mut(pop) {
            t.delivered += 1;
            t.steered += u64::from(steered);
        }
    }

    /// A verification of `pop` approved with the code it received.
    pub fn verified(&mut self, pop: usize) {
        if let Some(t) = self.pops.get_mut(pop) {
            t.verified += 1;
        }
    }

    /// A guess of `pop`: refused by the service, or approved (`cracked`).
    pub fn guess(&mut self, pop: usize, refused: bool, cracked: bool) {
        if let Some(t) = self.pops.get_mut(pop) {
            t.guesses += 1;
            t.guesses_refused += u64::from(refused);
            t.cracked += u64::from(cracked);
        }
    }

    /// The carrier billed `price` for `parts` SMS parts or one call (`call`) to a number of
    /// population `pop` (`None`: no population asked for that number).
    pub fn billed(&mut self, pop: Option<usize>, parts: u64, call: bool, price: f64) {
        self.billed_events += 1;
        let price = if price.is_finite() { price } else { 0.0 };
        let calls = u64::from(call);
        match pop.and_then(|p| self.pops.get_mut(p)) {
            Some(t) => {
                t.sms_parts += parts;
                t.calls += calls;
                t.cost += price;
            }
            None => {
                self.unowned.0 += parts;
                self.unowned.1 += calls;
                self.unowned.2 += price;
            }
        }
    }

    /// Closes the interval ending at `t` (scenario seconds).
    pub fn interval(&mut self, t: f64) {
        self.intervals.push((t, std::mem::take(&mut self.current)));
    }

    /// Whether population `pop`'s requests are attacks.
    pub fn is_attack(&self, pop: usize) -> bool {
        self.attack.get(pop).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_by_label_and_wave() {
        let mut l = Ledger::new(vec![false, true], 2);
        l.request(0, 0, 10, Answered::Served);
        l.request(1, 1, 50, Answered::Served);
        l.request(1, 1, 70, Answered::Refused("sms_pumping"));
        l.request(1, 1, 60, Answered::Refused("sms_pumping"));
        l.request(1, 0, 5, Answered::Failed);
        assert_eq!(l.pops[1].requests, 4);
        assert_eq!(l.pops[1].refused_by["sms_pumping"], 2);
        let w = l.waves[1][1];
        assert_eq!(
            (w.first_request_ns, w.first_refusal_ns, w.refused),
            (Some(50), Some(60), 2)
        );
        l.interval(1.0);
        let (_, c) = l.intervals[0];
        assert_eq!(
            (c.attack_requests, c.attack_refused, c.genuine_requests),
            (3, 2, 1)
        );
    }

    #[test]
    fn billing_goes_to_the_owner_or_to_nobody() {
        let mut l = Ledger::new(vec![true], 1);
        l.billed(Some(0), 2, false, 1.7);
        l.billed(Some(0), 0, true, 3.2);
        l.billed(None, 1, false, 0.03);
        assert_eq!((l.pops[0].sms_parts, l.pops[0].calls), (2, 1));
        assert!((l.pops[0].cost - 4.9).abs() < 1e-9);
        assert_eq!(l.unowned.0, 1);
        assert_eq!(l.billed_events, 3);
    }
}
