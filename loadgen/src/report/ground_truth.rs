//! Builds the abuse section ([`super::abuse::AbuseReport`]) from the run's ground truth: the
//! ledger's tallies labelled by each population's persona, the confusion matrix and the ratios
//! derived from it, the waves, the money, and the verifier's own counts set against loadgen's
//! (embedded verifier only). [`baseline`] keeps what a baseline run's report says about money.

use std::collections::BTreeMap;

use super::Report;
use super::abuse::{
    AbuseReport, Baseline, BlockRow, Confusion, DecisionCheck, Friction, Label, Money, PersonaRow,
    Wave,
};
use crate::measure::abuse::Ledger;
use crate::measure::ratio;
use crate::scenario::Plan;
use crate::target::reference::Blocks;

/// The reference verifier's refusal codes that are not the guard's rules (limits, overload,
/// bad requests): it does not count them among its rule decisions.
const NOT_RULES: [&str; 8] = [
    "invalid_request",
    "unauthorized",
    "sms_to_landline",
    "not_found",
    "max_send_attempts",
    "max_check_attempts",
    "body_too_large",
    "overloaded",
];

/// The abuse section of a run of `plan`. `billed`: the carrier's currency and its own total
/// at the end, when it bills; `decisions`: the reference verifier's guard mode and enforced blocks by rule
/// (its decision totals) at the end, or why they could not be read; `baseline`: the baseline
/// run's money, when one ran.
pub fn abuse(
    plan: &Plan,
    ledger: &Ledger,
    billed: Option<(String, f64)>,
    decisions: Option<Result<Blocks, String>>,
    baseline: Option<Baseline>,
) -> AbuseReport {
    let measured = billed.is_some();
    let (currency, carrier_total) = billed.unzip();
    let money_of = |x: f64| measured.then_some(round_cents(x));
    let mut matrix = Confusion::default();
    let mut personas = Vec::new();
    let (mut attack_cost, mut genuine_cost) = (0.0, 0.0);
    let mut steered_genuine = 0;
    for (i, (pop, t)) in plan.populations.iter().zip(&ledger.pops).enumerate() {
        let attack = ledger.is_attack(i);
        let answered_served = t.served;
        if attack {
            matrix.attack_refused += t.refused;
            matrix.attack_served += answered_served;
            attack_cost += t.cost;
        } else {
            matrix.genuine_refused += t.refused;
            matrix.genuine_served += answered_served;
            genuine_cost += t.cost;
            steered_genuine += t.steered;
        }
        personas.push(PersonaRow {
            population: pop.name.clone(),
            persona: pop.persona.name().to_string(),
            label: Some(if attack {
                Label::Attack
            } else {
                Label::Genuine
            }),
            requests: t.requests,
            served: t.served,
            refused: t.refused,
            refused_by: t.refused_by.clone(),
            failed: t.failed,
            delivered: t.delivered,
            steered: t.steered,
            verified: t.verified,
            guesses: t.guesses,
            guesses_refused: t.guesses_refused,
            cracked: t.cracked,
            sms_parts: t.sms_parts,
            calls: t.calls,
            cost: money_of(t.cost),
        });
    }
    let refused = matrix.attack_refused + matrix.genuine_refused;
    let attack_requests = matrix.attack_refused + matrix.attack_served;
    let genuine_requests = matrix.genuine_refused + matrix.genuine_served;
    let all = attack_requests + genuine_requests;

    let scenario_s = |ns: u64| ns as f64 / 1e9 * plan.time_scale;
    let mut waves = Vec::new();
    for (i, pop) in plan.populations.iter().enumerate() {
        if !ledger.is_attack(i) {
            continue;
        }
        for (ph, w) in ledger.waves[i].iter().enumerate() {
            let Some(first) = w.first_request_ns else {
                continue;
            };
            let phase = if plan.phases.len() > 1 {
                plan.phases
                    .get(ph)
                    .map_or_else(|| "all".into(), |p| p.name.clone())
            } else {
                "all".into()
            };
            waves.push(Wave {
                population: pop.name.clone(),
                phase,
                requests: w.requests,
                refused: w.refused,
                first_request_s: scenario_s(first),
                first_refusal_s: w.first_refusal_ns.map(scenario_s),
                time_to_detect_s: w
                    .first_refusal_ns
                    .map(|r| scenario_s(r.saturating_sub(first))),
            });
        }
    }
    let time_to_detect_s = waves
        .iter()
        .filter_map(|w| w.time_to_detect_s)
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    let undetected_waves = waves.iter().filter(|w| w.refused == 0).count() as u64;

    let saved = match (&baseline, measured) {
        (Some(b), true) => Some(round_cents(b.attack_cost - attack_cost)),
        _ => None,
    };
    let money = Money {
        measured,
        currency,
        attack_cost: money_of(attack_cost),
        genuine_cost: money_of(genuine_cost),
        other_cost: money_of(ledger.unowned.2),
        carrier_total: carrier_total.map(round_cents),
        baseline,
        saved,
    };
    let loadgen_refused = ledger.pops.iter().fold(BTreeMap::new(), |mut acc, t| {
        for (k, v) in &t.refused_by {
            *acc.entry(k.clone()).or_insert(0) += v;
        }
        acc
    });
    let decisions = decisions.map(|d| decision_check(d, loadgen_refused));
    AbuseReport {
        personas,
        matrix,
        precision: ratio(matrix.attack_refused, refused),
        recall: ratio(matrix.attack_refused, attack_requests),
        blocked_share: ratio(refused, all),
        genuine: Friction {
            requests: genuine_requests,
            refused: matrix.genuine_refused,
            refused_ratio: ratio(matrix.genuine_refused, genuine_requests),
            steered: steered_genuine,
            friction_ratio: ratio(matrix.genuine_refused + steered_genuine, genuine_requests),
        },
        waves,
        time_to_detect_s,
        undetected_waves,
        money,
        decisions,
        timeline: ledger
            .intervals
            .iter()
            .map(|(t, c)| BlockRow {
                t: *t,
                attack_requests: c.attack_requests,
                attack_refused: c.attack_refused,
                genuine_requests: c.genuine_requests,
                genuine_refused: c.genuine_refused,
            })
            .collect(),
    }
}

/// The verifier's rule blocks against loadgen's refusals by the same word. Only rules are
/// compared: a refusal for a limit or overload is not a rule's block.
fn decision_check(
    verifier: Result<Blocks, String>,
    loadgen_refused: BTreeMap<String, u64>,
) -> DecisionCheck {
    let Blocks {
        mode,
        enforced: verifier_blocks,
        recorded: verifier_flagged,
    } = match verifier {
        Ok(x) => x,
        Err(e) => {
            return DecisionCheck {
                mode: "unknown".into(),
                consistent: false,
                loadgen_refused,
                differences: vec![format!("the decision records could not be read: {e}")],
                ..DecisionCheck::default()
            };
        }
    };
    let mut differences = Vec::new();
    let words: std::collections::BTreeSet<&String> = verifier_blocks
        .keys()
        .chain(
            loadgen_refused
                .keys()
                .filter(|k| !NOT_RULES.contains(&k.as_str()) && !k.starts_with("http_")),
        )
        .collect();
    for w in words {
        let theirs = verifier_blocks.get(w).copied().unwrap_or(0);
        let ours = loadgen_refused.get(w).copied().unwrap_or(0);
        if theirs != ours {
            differences.push(format!(
                "{w}: the verifier's records show {theirs} blocked, loadgen saw {ours} refused"
            ));
        }
    }
    DecisionCheck {
        mode,
        consistent: differences.is_empty(),
        verifier_blocks,
        verifier_flagged,
        loadgen_refused,
        differences,
    }
}

/// What a baseline run (guard in `mode`) says about money and requests.
pub fn baseline(r: &Report, mode: &str) -> Baseline {
    let a = r.abuse.as_ref();
    Baseline {
        mode: mode.to_string(),
        attack_cost: a.and_then(|a| a.money.attack_cost).unwrap_or(0.0),
        genuine_cost: a.and_then(|a| a.money.genuine_cost).unwrap_or(0.0),
        matrix: a.map(|a| a.matrix).unwrap_or_default(),
        flagged: a
            .and_then(|a| a.decisions.as_ref())
            .map(|d| d.verifier_flagged.clone())
            .unwrap_or_default(),
        wall_s: r.wall_s,
    }
}

/// Money to the cent (prices are per part and per minute; sums of floats drift below that).
fn round_cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
