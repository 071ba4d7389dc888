//! The values abuse thresholds ([`crate::scenario::abuse_metrics`]) are judged against, read
//! from the report's abuse section, each with the reason when there is none: a threshold on a
//! figure the run could not measure fails, and its verdict says why (no abuse section, no
//! attack, billing not observed, no baseline run).
//!
//! Layer: part of `report` (reads the [`AbuseReport`] and the scenario's metric names).

use super::abuse::{AbuseReport, PersonaRow};
use crate::measure::ratio;
use crate::scenario::abuse_metrics::{AbuseMetric, PersonaField};

impl AbuseReport {
    /// The row of a population.
    pub fn persona(&self, population: &str) -> Option<&PersonaRow> {
        self.personas.iter().find(|p| p.population == population)
    }

    /// The waves never refused, as `population/phase`.
    pub fn undetected(&self) -> Vec<String> {
        self.waves
            .iter()
            .filter(|w| w.time_to_detect_s.is_none())
            .map(|w| format!("{}/{}", w.population, w.phase))
            .collect()
    }

    /// Why a cost is missing.
    fn no_cost(&self) -> String {
        if self.money.measured {
            "the carrier billed nothing that could be attributed".into()
        } else {
            "the carrier's billing was not observed in this run".into()
        }
    }
}

/// The measured value of an abuse metric (in its kind's unit: microseconds for the time to
/// detect), and why there is none or what it stands for.
pub fn value(metric: &AbuseMetric, abuse: Option<&AbuseReport>) -> (Option<f64>, Option<String>) {
    let Some(a) = abuse else {
        return (
            None,
            Some("the run has no abuse section: no population has a persona".into()),
        );
    };
    let or = |v: Option<f64>, why: &str| match v {
        Some(v) => (Some(v), None),
        None => (None, Some(why.to_string())),
    };
    let count = |n: u64| (Some(n as f64), None);
    let cost = |v: Option<f64>| match v {
        Some(v) => (Some(v), None),
        None => (None, Some(a.no_cost())),
    };
    match metric {
        AbuseMetric::Recall => or(a.recall, "no attack start requests"),
        AbuseMetric::Precision => or(a.precision, "no start request was refused"),
        AbuseMetric::BlockedShare => or(a.blocked_share, "no start requests"),
        AbuseMetric::TimeToDetect => time_to_detect(a),
        AbuseMetric::UndetectedWaves => count(a.undetected_waves),
        AbuseMetric::GenuineRefusedRatio => {
            or(a.genuine.refused_ratio, "no genuine start requests")
        }
        AbuseMetric::GenuineFrictionRatio => {
            or(a.genuine.friction_ratio, "no genuine start requests")
        }
        AbuseMetric::GenuineRefused => count(a.genuine.refused),
        AbuseMetric::GenuineSteered => count(a.genuine.steered),
        AbuseMetric::FraudCost => cost(a.money.attack_cost),
        AbuseMetric::FraudSaved | AbuseMetric::FraudBaselineCost if !a.money.measured => cost(None),
        AbuseMetric::FraudSaved | AbuseMetric::FraudBaselineCost if a.money.baseline.is_none() => (
            None,
            Some("no baseline run: the scenario asks for none".into()),
        ),
        AbuseMetric::FraudSaved => cost(a.money.saved),
        AbuseMetric::FraudBaselineCost => cost(a.money.baseline.as_ref().map(|b| b.attack_cost)),
        AbuseMetric::BruteForceCracked => count(a.personas.iter().map(|p| p.cracked).sum()),
        AbuseMetric::Persona { population, field } => {
            let Some(p) = a.persona(population) else {
                return (
                    None,
                    Some(format!("no population `{population}` in the abuse section")),
                );
            };
            match field {
                PersonaField::Requests => count(p.requests),
                PersonaField::Served => count(p.served),
                PersonaField::Refused => count(p.refused),
                PersonaField::RefusedRatio => or(
                    ratio(p.refused, p.requests),
                    "the population sent no start requests",
                ),
                PersonaField::Verified => count(p.verified),
                PersonaField::Delivered => count(p.delivered),
                PersonaField::Cracked => count(p.cracked),
                PersonaField::Cost => cost(p.cost),
            }
        }
    }
}

/// The longest time to detect over the waves (µs of scenario time); unbounded when a wave was
/// never detected, which no limit passes.
fn time_to_detect(a: &AbuseReport) -> (Option<f64>, Option<String>) {
    let undetected = a.undetected();
    if !undetected.is_empty() {
        let shown: Vec<&str> = undetected.iter().take(3).map(String::as_str).collect();
        return (
            Some(f64::INFINITY),
            Some(format!(
                "{} of {} attack waves never detected: {}{}",
                undetected.len(),
                a.waves.len(),
                shown.join(", "),
                if undetected.len() > shown.len() {
                    ", ..."
                } else {
                    ""
                }
            )),
        );
    }
    let longest = a
        .waves
        .iter()
        .filter_map(|w| w.time_to_detect_s)
        .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.max(t))));
    match longest {
        Some(s) => (Some(s * 1e6), None),
        None => (None, Some("no attack waves".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture;
    use crate::threshold::Verdict;

    /// Judges each threshold against the fixture's section (or none) as a run would.
    fn judged(abuse: Option<super::AbuseReport>, exprs: &[&str]) -> Vec<Verdict> {
        fixture::report(abuse, exprs).thresholds
    }

    #[test]
    fn every_metric_reads_its_figure() {
        let exprs = [
            "abuse.recall > 0.9",
            "abuse.precision >= 0.99",
            "abuse.blocked_share < 30%",
            "abuse.undetected_waves <= 2",
            "genuine.refused_ratio < 0.005",
            "genuine.friction_ratio < 0.01",
            "genuine.refused <= 12",
            "genuine.steered <= 21",
            "fraud.cost < 50",
            "fraud.saved > 600.0",
            "fraud.baseline_cost >= 690",
            "brute_force.cracked <= 1",
            "persona.pumpers.refused >= 1404",
            "persona.pumpers.refused_ratio > 93%",
            "persona.farm.verified >= 54",
            "persona.guessers.cracked < 2",
            "persona.pumpers.cost <= 43.2",
        ];
        let v = judged(Some(fixture::abuse()), &exprs);
        for v in &v {
            assert!(v.pass, "{v}");
            assert_eq!(v.why, None, "{v}");
        }
        let value = |i: usize| v[i].value.expect("a value");
        assert!((value(0) - 1984.0 / 2200.0).abs() < 1e-12);
        assert!((value(1) - 1984.0 / 1996.0).abs() < 1e-12);
        assert!((value(2) - 1996.0 / 7000.0).abs() < 1e-12);
        assert_eq!(value(3), 2.0);
        assert!((value(4) - 12.0 / 4800.0).abs() < 1e-12);
        assert!((value(5) - 33.0 / 4800.0).abs() < 1e-12);
        assert!((value(9) - 640.8).abs() < 1e-9);
        assert_eq!(value(11), 1.0);
        assert!((value(13) - 1404.0 / 1500.0).abs() < 1e-12);
        assert_eq!(v[12].unit, "count");
        assert_eq!(v[8].unit, "currency");
        assert_eq!(v[0].metric, "abuse.recall");
        assert_eq!(v[13].metric, "persona.pumpers.refused_ratio");
        // The same limits the other way fail.
        let v = judged(
            Some(fixture::abuse()),
            &[
                "abuse.recall > 0.95",
                "fraud.cost < 10.0",
                "genuine.refused < 12",
            ],
        );
        assert!(v.iter().all(|v| !v.pass), "{v:?}");
    }

    #[test]
    fn time_to_detect_is_the_longest_wave_and_unbounded_with_an_undetected_one() {
        let mut a = fixture::abuse();
        let v = &judged(Some(a.clone()), &["abuse.time_to_detect < 1m"])[0];
        assert!(!v.pass, "two waves were never detected: {v}");
        assert_eq!(v.value, Some(f64::INFINITY));
        assert_eq!(
            v.why.as_deref(),
            Some("2 of 5 attack waves never detected: guessers/all, farm/all"),
            "{v}"
        );
        assert!(
            v.to_string().contains("2 of 5 attack waves never detected"),
            "{v}"
        );
        a.waves.retain(|w| w.time_to_detect_s.is_some());
        let v = &judged(
            Some(a.clone()),
            &["abuse.time_to_detect < 5s", "abuse.time_to_detect < 4s"],
        );
        assert!(v[0].pass, "{}", v[0]);
        assert_eq!(
            v[0].value,
            Some(4_500_000.0),
            "the pumpers' ramp took 4.5 s"
        );
        assert_eq!(v[0].unit, "us");
        assert!(!v[1].pass);
        a.waves.clear();
        let v = &judged(Some(a), &["abuse.time_to_detect < 5s"])[0];
        assert_eq!((v.pass, v.value), (false, None));
        assert_eq!(v.why.as_deref(), Some("no attack waves"));
    }

    #[test]
    fn a_figure_the_run_could_not_measure_fails_saying_why() {
        let exprs = [
            "abuse.recall > 0.9",
            "fraud.cost < 10",
            "persona.pumpers.requests > 0",
        ];
        for v in judged(None, &exprs) {
            assert!(!v.pass);
            assert_eq!(v.value, None);
            assert_eq!(
                v.why.as_deref(),
                Some("the run has no abuse section: no population has a persona"),
                "{v}"
            );
            assert!(
                v.to_string()
                    .ends_with("): the run has no abuse section: no population has a persona"),
                "{v}"
            );
        }
        let mut a = fixture::abuse();
        a.money.baseline = None;
        a.money.saved = None;
        let v = judged(
            Some(a.clone()),
            &["fraud.saved > 0", "fraud.baseline_cost > 0"],
        );
        for v in &v {
            assert!(!v.pass);
            assert_eq!(
                v.why.as_deref(),
                Some("no baseline run: the scenario asks for none")
            );
        }
        a.money = super::super::abuse::Money::default();
        for p in &mut a.personas {
            p.cost = None;
        }
        let v = judged(
            Some(a.clone()),
            &[
                "fraud.cost < 10",
                "fraud.saved > 0",
                "persona.pumpers.cost < 1",
            ],
        );
        for v in &v {
            assert!(!v.pass);
            assert_eq!(
                v.why.as_deref(),
                Some("the carrier's billing was not observed in this run"),
                "{v}"
            );
        }
        a.recall = None;
        a.personas[1].requests = 0;
        let v = judged(
            Some(a),
            &[
                "abuse.recall > 0.9",
                "persona.pumpers.refused_ratio > 0.9",
                "persona.nobody.requests < 1",
            ],
        );
        let why: Vec<_> = v
            .iter()
            .map(|v| v.why.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            why,
            [
                "no attack start requests",
                "the population sent no start requests",
                "no population `nobody` in the abuse section"
            ]
        );
    }
}
