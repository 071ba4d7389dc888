//! A realistic abuse section and a report that holds it, for the renderers' tests (summary,
//! HTML, JUnit, thresholds): a genuine majority with SMS pumpers, an OTP bomber, a brute
//! forcer and a human farm over ten minutes of scenario time, the guard in `enforce` against
//! a `record_only` baseline. The figures add up the way the measurement's do (the confusion
//! matrix is the rows' sums, precision and recall follow from it), so a renderer that shows
//! them wrongly shows a visible contradiction.

use std::collections::BTreeMap;

use super::abuse::*;
use super::{Report, RunFacts, build};
use crate::measure::Measure;
use crate::scenario::{Plan, RunThreshold};
use crate::target::{Stopped, TargetInfo};

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

#[allow(clippy::too_many_arguments)]
fn row(
    population: &str,
    persona: &str,
    label: Label,
    requests: u64,
    refused_by: &[(&str, u64)],
    delivered: u64,
    verified: u64,
    cost: f64,
) -> PersonaRow {
    let refused_by = map(refused_by);
    let refused = refused_by.values().sum();
    PersonaRow {
        population: population.into(),
        persona: persona.into(),
        label: Some(label),
        requests,
        served: requests - refused,
        refused,
        refused_by,
        delivered,
        verified,
        sms_parts: delivered,
        cost: Some(cost),
        ..PersonaRow::default()
    }
}

fn wave(population: &str, phase: &str, requests: u64, refused: u64, first: f64) -> Wave {
    let refusal = (refused > 0).then_some(first + (requests as f64 / 200.0).min(7.5));
    Wave {
        population: population.into(),
        phase: phase.into(),
        requests,
        refused,
        first_request_s: first,
        first_refusal_s: refusal,
        time_to_detect_s: refusal.map(|r| r - first),
    }
}

/// The abuse section of a mixed-traffic run.
pub fn abuse() -> AbuseReport {
    let mut guessers = row(
        "guessers",
        "brute_forcer",
        Label::Attack,
        40,
        &[],
        40,
        0,
        2.0,
    );
    guessers.guesses = 4000;
    guessers.guesses_refused = 3960;
    guessers.cracked = 1;
    let mut genuine = row(
        "genuine",
        "genuine",
        Label::Genuine,
        4800,
        &[("prefix_velocity", 8), ("http_429", 4)],
        4770,
        4650,
        240.0,
    );
    genuine.steered = 21;
    genuine.calls = 21;
    let personas = vec![
        genuine,
        row(
            "pumpers",
            "sms_pumping",
            Label::Attack,
            1500,
            &[("prefix_velocity", 1210), ("line_type", 194)],
            96,
            0,
            43.2,
        ),
        row(
            "bombers",
            "otp_bomber",
            Label::Attack,
            600,
            &[("number_flood", 580)],
            20,
            0,
            1.0,
        ),
        guessers,
        row("farm", "human_farm", Label::Attack, 60, &[], 60, 54, 3.0),
    ];
    let mut matrix = Confusion::default();
    for p in &personas {
        match p.label {
            Some(Label::Attack) => {
                matrix.attack_refused += p.refused;
                matrix.attack_served += p.served;
            }
            _ => {
                matrix.genuine_refused += p.refused;
                matrix.genuine_served += p.served;
            }
        }
    }
    let attack = matrix.attack_refused + matrix.attack_served;
    let genuine = matrix.genuine_refused + matrix.genuine_served;
    let refused = matrix.attack_refused + matrix.genuine_refused;
    let waves = vec![
        wave("pumpers", "ramp", 900, 820, 12.0),
        wave("pumpers", "peak", 600, 584, 300.0),
        wave("bombers", "peak", 600, 580, 310.0),
        wave("guessers", "all", 40, 0, 5.0),
        wave("farm", "all", 60, 0, 0.4),
    ];
    // One row each 10 s of scenario time: genuine traffic all along, the pumpers' ramp and
    // peak and the bombers' burst, the guard catching up within a row or two.
    // The last two rows are the drain: no arrivals, answers still coming in.
    let timeline = (1..=62)
        .map(|i| {
            let t = i as f64 * 10.0;
            let pumping = match i {
                2..=12 => 80,
                31..=36 => 100,
                _ => 0,
            };
            let bombing = if (32..=34).contains(&i) { 200 } else { 0 };
            let caught = |n: u64, first: bool| if first { n / 3 } else { n * 24 / 25 };
            BlockRow {
                t,
                attack_requests: pumping + bombing + u64::from(i <= 60) * 2,
                attack_refused: caught(pumping, i == 2 || i == 31) + caught(bombing, i == 32),
                genuine_requests: if i > 60 { 0 } else { 80 },
                genuine_refused: u64::from(i % 5 == 0),
            }
        })
        .collect();
    AbuseReport {
        precision: (refused > 0).then(|| matrix.attack_refused as f64 / refused as f64),
        recall: (attack > 0).then(|| matrix.attack_refused as f64 / attack as f64),
        blocked_share: Some(refused as f64 / (attack + genuine) as f64),
        genuine: Friction {
            requests: genuine,
            refused: matrix.genuine_refused,
            refused_ratio: Some(matrix.genuine_refused as f64 / genuine as f64),
            steered: 21,
            friction_ratio: Some((matrix.genuine_refused + 21) as f64 / genuine as f64),
        },
        time_to_detect_s: waves
            .iter()
            .filter_map(|w| w.time_to_detect_s)
            .reduce(f64::max),
        undetected_waves: waves.iter().filter(|w| w.first_refusal_s.is_none()).count() as u64,
        waves,
        money: Money {
            measured: true,
            currency: Some("EUR".into()),
            attack_cost: Some(49.2),
            genuine_cost: Some(240.0),
            other_cost: Some(0.0),
            carrier_total: Some(289.2),
            baseline: Some(Baseline {
                mode: "record_only".into(),
                attack_cost: 690.0,
                genuine_cost: 240.5,
                matrix: Confusion {
                    attack_served: attack,
                    genuine_served: genuine,
                    ..Confusion::default()
                },
                flagged: map(&[
                    ("prefix_velocity", 1290),
                    ("line_type", 194),
                    ("number_flood", 580),
                ]),
                wall_s: 62.0,
            }),
            saved: Some(690.0 - 49.2),
        },
        decisions: Some(DecisionCheck {
            mode: "enforce".into(),
            // The verifier lists every rule it has, the idle ones at 0.
            verifier_blocks: map(&[
                ("prefix_velocity", 1218),
                ("line_type", 194),
                ("number_flood", 580),
                ("sim_swap", 0),
                ("attestation", 0),
            ]),
            verifier_flagged: BTreeMap::new(),
            loadgen_refused: map(&[
                ("prefix_velocity", 1218),
                ("line_type", 194),
                ("number_flood", 580),
                ("http_429", 4),
            ]),
            consistent: true,
            differences: Vec::new(),
        }),
        timeline,
        matrix,
        personas,
    }
}

/// A report of the built-in smoke plan (one verified user) holding `abuse`, with `thresholds`
/// judged against it the way a run judges them.
pub fn report(abuse: Option<AbuseReport>, thresholds: &[&str]) -> Report {
    let plan = Plan::builtin_smoke().expect("the smoke plan");
    let thresholds: Vec<RunThreshold> = thresholds
        .iter()
        .map(|t| RunThreshold::parse(t).expect("a threshold"))
        .collect();
    let facts = RunFacts {
        abuse,
        wall_s: 62.0,
        ..RunFacts::default()
    };
    let mut r = build(
        &plan,
        TargetInfo::default(),
        &Measure::new(1.0, 1, 1),
        facts,
        Stopped::default(),
        &thresholds,
    );
    r.scenario.name = "mixed-traffic".into();
    r.scenario.duration_s = 600.0;
    r
}
