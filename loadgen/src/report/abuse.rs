//! The abuse section of a report: how the service's defences did against the scenario's fraud
//! personas, judged from ground truth. Every request loadgen makes carries its population's
//! label (genuine or attack) inside loadgen only, never on the wire, so the service is judged
//! by what it answered, as an outside observer would judge it:
//!
//! - per persona (population): requests, refused by reason, codes delivered, verified, money;
//! - the confusion matrix over start requests (attack refused / served, genuine refused /
//!   served), precision, recall and the share of all requests the service blocked;
//! - genuine friction: genuine requests refused, and genuine users steered to another channel
//!   than the one they asked for;
//! - time to detect each attack wave (an attack population's requests in one phase): its first
//!   request to its first refusal;
//! - money from the carrier's own billing (carrier-sim's `price` on each accepted message and
//!   answered call), attributed to the population that asked for a code to that number, and
//!   the same for a baseline run of the same seed with the guard in `record_only` (or `off`);
//! - the verifier's own counts of what its rules blocked, set against loadgen's refusals by
//!   reason (embedded verifier only).
//!
//! Counted over start requests: that is what the guard judges and what costs money. A brute
//! forcer's guesses are checks, counted on its own row (`guesses`, `guesses_refused`,
//! `cracked`).

use std::collections::BTreeMap;

use serde::Serialize;

/// Genuine or attack: the ground truth of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// A real user who should be served.
    Genuine,
    /// An attacker who should be stopped.
    Attack,
}

/// The abuse section.
#[derive(Debug, Clone, Serialize)]
pub struct AbuseReport {
    /// Per population, in scenario order.
    pub personas: Vec<PersonaRow>,
    /// Over start requests.
    pub matrix: Confusion,
    /// `attack_refused / (attack_refused + genuine_refused)`: of what was refused, the share
    /// that was attack (`None` when nothing was refused).
    pub precision: Option<f64>,
    /// `attack_refused / attack requests`: of the attack, the share refused (`None` without
    /// attack requests).
    pub recall: Option<f64>,
    /// Refused start requests / all start requests (to set against published block rates:
    /// RingCaptcha reports blocking about 1.7 % of requests a month).
    pub blocked_share: Option<f64>,
    /// What genuine users went through.
    pub genuine: Friction,
    /// Attack waves and how long each took to be detected.
    pub waves: Vec<Wave>,
    /// The longest time to detect over the waves that were detected, seconds of scenario time
    /// (`None` when no wave was).
    pub time_to_detect_s: Option<f64>,
    /// Waves never refused at all.
    pub undetected_waves: u64,
    /// Money, from the carrier's billing.
    pub money: Money,
    /// The verifier's own counts (embedded verifier only).
    pub decisions: Option<DecisionCheck>,
    /// One row per report interval (wall second): requests and refusals by label.
    pub timeline: Vec<BlockRow>,
}

/// One population's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PersonaRow {
    /// The population's name.
    pub population: String,
    /// Its persona (`genuine`, `sms_pumping`, ...).
    pub persona: String,
    /// Genuine or attack.
    pub label: Option<Label>,
    /// Start requests sent (first asks, resends and every number of a set).
    pub requests: u64,
    /// Start requests served (a code was sent).
    pub served: u64,
    /// Start requests refused on purpose.
    pub refused: u64,
    /// Refusals by the service's reason (the rule, or `http_429`...).
    pub refused_by: BTreeMap<String, u64>,
    /// Start requests the service failed to answer.
    pub failed: u64,
    /// Codes that reached this population's phones (SMS or call).
    pub delivered: u64,
    /// Codes delivered by another channel than the one asked for (SMS asked, call came).
    pub steered: u64,
    /// Verifications approved.
    pub verified: u64,
    /// Code guesses sent (brute forcers).
    pub guesses: u64,
    /// Guesses the service refused (attempt limit, rate limit, verification gone).
    pub guesses_refused: u64,
    /// Verifications a guess approved.
    pub cracked: u64,
    /// SMS submissions the carrier billed for this population's numbers (a code is one part).
    pub sms_parts: u64,
    /// Calls the carrier billed.
    pub calls: u64,
    /// What the carrier billed, in `money.currency` (`None` when billing is not observed).
    pub cost: Option<f64>,
}

/// The confusion matrix over start requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// Attack requests refused (true positives).
    pub attack_refused: u64,
    /// Attack requests served (false negatives).
    pub attack_served: u64,
    /// Genuine requests refused (false positives).
    pub genuine_refused: u64,
    /// Genuine requests served (true negatives).
    pub genuine_served: u64,
}

/// Genuine friction.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Friction {
    /// Genuine start requests.
    pub requests: u64,
    /// Of them, refused.
    pub refused: u64,
    /// `refused / requests`.
    pub refused_ratio: Option<f64>,
    /// Genuine codes delivered by another channel than asked (steered to voice).
    pub steered: u64,
    /// `(refused + steered) / requests`.
    pub friction_ratio: Option<f64>,
}

/// An attack wave: one attack population's requests within one phase.
#[derive(Debug, Clone, Serialize)]
pub struct Wave {
    /// The population.
    pub population: String,
    /// The phase (`all` without phases).
    pub phase: String,
    /// Its requests.
    pub requests: u64,
    /// Of them refused.
    pub refused: u64,
    /// First request, seconds of scenario time from the start of the load.
    pub first_request_s: f64,
    /// First refusal, when there was one.
    pub first_refusal_s: Option<f64>,
    /// `first_refusal_s - first_request_s`.
    pub time_to_detect_s: Option<f64>,
}

/// Money, from the carrier's billing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Money {
    /// Whether the carrier's billing was observed (carrier-sim embedded or its event stream);
    /// without it every cost below is `None`.
    pub measured: bool,
    /// The plan's currency.
    pub currency: Option<String>,
    /// Billed for attack populations' numbers.
    pub attack_cost: Option<f64>,
    /// Billed for genuine populations' numbers.
    pub genuine_cost: Option<f64>,
    /// Billed for numbers no population asked for.
    pub other_cost: Option<f64>,
    /// What the carrier says it billed in all (its `/v1/stats`): the three costs above add up
    /// to it when no billing event was missed.
    pub carrier_total: Option<f64>,
    /// The same seed with the guard relaxed, when the scenario asks for a baseline.
    pub baseline: Option<Baseline>,
    /// `baseline.attack_cost - attack_cost`: what the guard saved.
    pub saved: Option<f64>,
}

/// The baseline run's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Baseline {
    /// The guard's mode in it (`record_only` or `off`).
    pub mode: String,
    /// Billed for attack populations' numbers.
    pub attack_cost: f64,
    /// Billed for genuine populations' numbers.
    pub genuine_cost: f64,
    /// Its confusion matrix (with the guard relaxed, attack is served).
    pub matrix: Confusion,
    /// Rules that fired without refusing, by rule (what `record_only` would have blocked).
    pub flagged: BTreeMap<String, u64>,
    /// Wall seconds it took.
    pub wall_s: f64,
}

/// The verifier's counts set against loadgen's.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DecisionCheck {
    /// The guard's mode.
    pub mode: String,
    /// Starts the verifier refused by rule (its `blocks` counters).
    pub verifier_blocks: BTreeMap<String, u64>,
    /// Rules that fired without refusing (record_only), by rule.
    pub verifier_flagged: BTreeMap<String, u64>,
    /// Starts loadgen saw refused, by reason.
    pub loadgen_refused: BTreeMap<String, u64>,
    /// Every rule's count agrees (loadgen's refusals by a rule word equal the verifier's blocks
    /// by that rule).
    pub consistent: bool,
    /// Where they differ, in words.
    pub differences: Vec<String>,
}

/// One interval's requests and refusals by label.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct BlockRow {
    /// End of the interval, seconds of scenario time from the start of the load.
    pub t: f64,
    /// Attack start requests answered in it.
    pub attack_requests: u64,
    /// Of them refused.
    pub attack_refused: u64,
    /// Genuine start requests answered in it.
    pub genuine_requests: u64,
    /// Of them refused.
    pub genuine_refused: u64,
}
