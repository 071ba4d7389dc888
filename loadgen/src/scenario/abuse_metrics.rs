//! The abuse metrics a `loadgen run` threshold can name: how the service's defences did
//! against the scenario's fraud personas (the report's `abuse` section), read with the same
//! grammar as every other threshold ([`super::thresholds`]):
//!
//! ```text
//! abuse   := "abuse." ("recall" | "precision" | "blocked_share")       value: a fraction
//!          | "abuse.time_to_detect"                  value: a duration (scenario time)
//!          | "abuse.undetected_waves"                value: a whole number
//!          | "genuine." ("refused_ratio" | "friction_ratio")            value: a fraction
//!          | "genuine." ("refused" | "steered")     value: a whole number
//!          | "fraud." ("cost" | "saved" | "baseline_cost")  value: an amount (10 or 10.0)
//!          | "brute_force.cracked"                   value: a whole number
//!          | "persona." population "." field
//! field   := requests | served | refused | verified | delivered | cracked   (whole numbers)
//!          | refused_ratio                                                  (a fraction)
//!          | cost                                                           (an amount)
//! ```
//!
//! Amounts are plain numbers in the scenario's currency (the number plan's), measured from
//! the carrier's own billing. `abuse.time_to_detect` is the longest over the attack waves; a
//! wave never detected makes it unbounded, so the threshold fails and says how many were not.
//!
//! Layer: part of `scenario` (uses only [`crate::threshold`]).

use std::fmt;

use crate::threshold::Kind;

/// A population's figure in the abuse section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonaField {
    /// Start requests sent.
    Requests,
    /// Start requests served.
    Served,
    /// Start requests refused.
    Refused,
    /// refused / requests.
    RefusedRatio,
    /// Verifications approved.
    Verified,
    /// Codes that reached its phones.
    Delivered,
    /// Verifications its guesses approved.
    Cracked,
    /// What the carrier billed for its numbers.
    Cost,
}

impl PersonaField {
    /// Every field with its name.
    pub const ALL: [(PersonaField, &'static str); 8] = [
        (PersonaField::Requests, "requests"),
        (PersonaField::Served, "served"),
        (PersonaField::Refused, "refused"),
        (PersonaField::RefusedRatio, "refused_ratio"),
        (PersonaField::Verified, "verified"),
        (PersonaField::Delivered, "delivered"),
        (PersonaField::Cracked, "cracked"),
        (PersonaField::Cost, "cost"),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("", |(_, n)| n)
    }
}

/// What an abuse threshold measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbuseMetric {
    /// Of the attack's start requests, the share refused.
    Recall,
    /// Of the refused start requests, the share that was attack.
    Precision,
    /// Refused start requests / all start requests.
    BlockedShare,
    /// The longest first-request-to-first-refusal over the attack waves.
    TimeToDetect,
    /// Attack waves never refused.
    UndetectedWaves,
    /// Genuine start requests refused / genuine start requests.
    GenuineRefusedRatio,
    /// (genuine refused + steered) / genuine start requests.
    GenuineFrictionRatio,
    /// Genuine start requests refused.
    GenuineRefused,
    /// Genuine codes delivered by another channel than asked.
    GenuineSteered,
    /// What the carrier billed for attack numbers.
    FraudCost,
    /// The baseline's attack cost minus this run's.
    FraudSaved,
    /// The baseline's attack cost.
    FraudBaselineCost,
    /// Verifications cracked by guessing, over every population.
    BruteForceCracked,
    /// One population's figure.
    Persona {
        /// The population's name.
        population: String,
        /// Which figure.
        field: PersonaField,
    },
}

/// The fixed names (every metric but `persona.*`).
const FIXED: [(&str, AbuseMetric); 13] = [
    ("abuse.recall", AbuseMetric::Recall),
    ("abuse.precision", AbuseMetric::Precision),
    ("abuse.blocked_share", AbuseMetric::BlockedShare),
    ("abuse.time_to_detect", AbuseMetric::TimeToDetect),
    ("abuse.undetected_waves", AbuseMetric::UndetectedWaves),
    ("genuine.refused_ratio", AbuseMetric::GenuineRefusedRatio),
    ("genuine.friction_ratio", AbuseMetric::GenuineFrictionRatio),
    ("genuine.refused", AbuseMetric::GenuineRefused),
    ("genuine.steered", AbuseMetric::GenuineSteered),
    ("fraud.cost", AbuseMetric::FraudCost),
    ("fraud.saved", AbuseMetric::FraudSaved),
    ("fraud.baseline_cost", AbuseMetric::FraudBaselineCost),
    ("brute_force.cracked", AbuseMetric::BruteForceCracked),
];

/// The first words of abuse metrics: a name starting with one is read here or refused here.
const HEADS: [&str; 5] = ["abuse", "genuine", "fraud", "brute_force", "persona"];

impl AbuseMetric {
    /// The kind of value it takes.
    pub fn kind(&self) -> Kind {
        use AbuseMetric::*;
        match self {
            Recall | Precision | BlockedShare | GenuineRefusedRatio | GenuineFrictionRatio => {
                Kind::Fraction
            }
            TimeToDetect => Kind::Duration,
            UndetectedWaves | GenuineRefused | GenuineSteered | BruteForceCracked => Kind::Count,
            FraudCost | FraudSaved | FraudBaselineCost => Kind::Money,
            Persona { field, .. } => match field {
                PersonaField::RefusedRatio => Kind::Fraction,
                PersonaField::Cost => Kind::Money,
                _ => Kind::Count,
            },
        }
    }

    /// The population a `persona.*` metric names.
    pub fn population(&self) -> Option<&str> {
        match self {
            AbuseMetric::Persona { population, .. } => Some(population),
            _ => None,
        }
    }
}

impl fmt::Display for AbuseMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let AbuseMetric::Persona { population, field } = self {
            return write!(f, "persona.{population}.{}", field.name());
        }
        f.write_str(FIXED.iter().find(|(_, m)| m == self).map_or("", |(n, _)| n))
    }
}

/// A name as a threshold can hold it (a population, a carrier, a reason): letters, digits,
/// `_` and `-`.
pub fn word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads an abuse metric name: `None` when the name is not one of the abuse family (its
/// first word is none of theirs), an error when it is but is not a metric of it.
pub fn parse(name: &str) -> Option<Result<AbuseMetric, String>> {
    let head = name.split('.').next().unwrap_or("");
    if !HEADS.contains(&head) {
        return None;
    }
    if let Some((_, m)) = FIXED.iter().find(|(n, _)| *n == name) {
        return Some(Ok(m.clone()));
    }
    if let Some(rest) = name.strip_prefix("persona.") {
        let fields = || PersonaField::ALL.map(|(_, n)| n).join(", ");
        return Some(match rest.rsplit_once('.') {
            Some((population, field)) if word(population) => PersonaField::ALL
                .iter()
                .find(|(_, n)| *n == field)
                .map(|(f, _)| AbuseMetric::Persona {
                    population: population.to_string(),
                    field: *f,
                })
                .ok_or_else(|| format!("unknown persona figure `{field}` ({})", fields())),
            Some((population, _)) => Err(format!(
                "`{population}` is not a population name (letters, digits, `_` and `-`)"
            )),
            None => Err(format!(
                "`{name}` needs a population and a figure: `persona.POPULATION.FIELD` ({})",
                fields()
            )),
        });
    }
    Some(Err(format!(
        "unknown abuse metric `{name}` ({}, persona.POPULATION.FIELD)",
        FIXED.map(|(n, _)| n).join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_itself() {
        for (name, m) in &FIXED {
            assert_eq!(parse(name), Some(Ok(m.clone())));
            assert_eq!(m.to_string(), *name);
        }
        let m = parse("persona.pumpers-2.refused_ratio").unwrap().unwrap();
        assert_eq!(m.population(), Some("pumpers-2"));
        assert_eq!(m.kind(), Kind::Fraction);
        assert_eq!(m.to_string(), "persona.pumpers-2.refused_ratio");
        assert_eq!(
            parse("persona.x.cost").unwrap().unwrap().kind(),
            Kind::Money
        );
        assert_eq!(
            parse("persona.x.cracked").unwrap().unwrap().kind(),
            Kind::Count
        );
        assert_eq!(AbuseMetric::TimeToDetect.kind(), Kind::Duration);
        assert_eq!(AbuseMetric::FraudSaved.kind(), Kind::Money);
        assert_eq!(parse("delivery_time.p99"), None);
    }

    #[test]
    fn refuses_names_of_the_family_that_are_not_metrics() {
        for (bad, says) in [
            ("abuse.recal", "unknown abuse metric"),
            ("fraud", "unknown abuse metric"),
            ("persona.pumpers", "needs a population and a figure"),
            (
                "persona.pumpers.happiness",
                "unknown persona figure `happiness`",
            ),
            ("persona.pump ers.cost", "is not a population name"),
            ("persona..cost", "is not a population name"),
        ] {
            let e = parse(bad).expect("of the family").unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
