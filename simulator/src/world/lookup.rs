//! Number lookup API, shaped like the commercial lookup services, and the open-SMS number list.
//!
//! `GET /v1/lookup/{e164}` answers from the [`NumberPlan`] the way Twilio's Lookup v2 answers
//! with its `line_type_intelligence` and `sim_swap` packages, so a verification service can point
//! its lookup client here instead of at the real service. Numbers are accepted with or without
//! '+' (`%2B` works too). A query string such as `?fields=line_type_intelligence,sim_swap` is
//! accepted and ignored: every package is always returned, because all of them are free here.
//!
//! Like those APIs, an invalid number is not an HTTP error: the answer is 200 with
//! `valid: false` and `validation_errors` (`INVALID_FORMAT` for anything but digits with an
//! optional leading '+', `TOO_LONG` past 15 digits, `NOT_IN_NUMBER_PLAN` for a well-formed number
//! no range matches), and every package `null`.
//!
//! Reachability combines the plan with the carriers' live state ([`CarrierStatus`]): a carrier in
//! an outage makes its numbers `unreachable` with reason `carrier_outage`, which takes precedence
//! over `absent_subscriber` (a network that is down cannot tell whether a handset is attached).
//!
//! `GET /v1/open-sms-numbers` lists the plan's open-SMS numbers the way those websites publish
//! them: the number, its country and carrier, and where its received messages can be read.

use std::fmt;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::world::numbers::Numbers;
use crate::world::plan::{NumberError, NumberPlan, Resolved, parse_number};

/// Live state of the carriers, as far as lookup needs it.
pub trait CarrierStatus: Send + Sync {
    /// Whether `carrier` is in an outage now.
    fn is_down(&self, carrier: &str) -> bool;
}

/// A [`CarrierStatus`] in which no carrier is ever down.
#[cfg(test)]
#[derive(Debug, Clone, Copy, Default)]
pub struct AllCarriersUp;

#[cfg(test)]
impl CarrierStatus for AllCarriersUp {
    fn is_down(&self, _carrier: &str) -> bool {
        false
    }
}

/// Validation error for a malformed number.
pub const INVALID_FORMAT: &str = "INVALID_FORMAT";
/// Validation error for more than 15 digits.
pub const TOO_LONG: &str = "TOO_LONG";
/// Validation error for a well-formed number outside the plan.
pub const NOT_IN_NUMBER_PLAN: &str = "NOT_IN_NUMBER_PLAN";

/// Body of `GET /v1/lookup/{e164}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookupResponse {
    /// `+` and the E.164 digits; the input as given when it is malformed.
    pub phone_number: String,
    /// Whether the number is well formed and in the plan.
    pub valid: bool,
    /// Why it is not valid (empty when valid).
    pub validation_errors: Vec<String>,
    /// ISO 3166-1 alpha-2 country.
    pub country_code: Option<String>,
    /// Line type and network.
    pub line_type_intelligence: Option<LineTypeIntelligence>,
    /// Last SIM swap.
    pub sim_swap: Option<SimSwap>,
    /// Ported from another network.
    pub ported: Option<bool>,
    /// Recently reassigned to a new subscriber.
    pub recycled: Option<bool>,
    /// Whether the handset can be reached now.
    pub reachability: Option<Reachability>,
    /// This resource.
    pub url: String,
}

/// The `line_type_intelligence` package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineTypeIntelligence {
    /// Line type, camelCase (`mobile`, `nonFixedVoip`, ...).
    #[serde(rename = "type")]
    pub line_type: String,
    /// Owning carrier.
    pub carrier_name: String,
    /// MCC, when the plan sets one.
    pub mobile_country_code: Option<String>,
    /// MNC, when the plan sets one.
    pub mobile_network_code: Option<String>,
    /// Always null: the plan always knows.
    pub error_code: Option<u32>,
}

/// The `sim_swap` package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSwap {
    /// When the SIM was last swapped.
    pub last_sim_swap: LastSimSwap,
    /// Owning carrier.
    pub carrier_name: String,
    /// MCC, when the plan sets one.
    pub mobile_country_code: Option<String>,
    /// MNC, when the plan sets one.
    pub mobile_network_code: Option<String>,
    /// Always null.
    pub error_code: Option<u32>,
}

/// When the SIM was last swapped, and how recently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastSimSwap {
    /// RFC 3339, UTC; null when never swapped (or the configured swap is still in the future).
    pub last_sim_swap_date: Option<String>,
    /// Smallest of PT15M, PT1H, PT4H, PT24H, PT48H, P7D, P14D, P28D holding the time since the
    /// swap; null when older or never.
    pub swapped_period: Option<String>,
    /// Whether `swapped_period` is set.
    pub swapped_in_period: bool,
}

/// The `reachability` package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reachability {
    /// Reachable or not.
    pub status: ReachabilityStatus,
    /// Why not, when unreachable.
    pub reason: Option<UnreachableReason>,
}

/// Whether a handset can be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReachabilityStatus {
    /// Messages and calls can reach it.
    Reachable,
    /// They cannot.
    Unreachable,
}

/// Why a handset cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnreachableReason {
    /// The plan marks the subscriber absent.
    AbsentSubscriber,
    /// The owning carrier is in an outage.
    CarrierOutage,
}

impl fmt::Display for UnreachableReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnreachableReason::AbsentSubscriber => "absent_subscriber",
            UnreachableReason::CarrierOutage => "carrier_outage",
        })
    }
}

/// Body of `GET /v1/open-sms-numbers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenSmsList {
    /// How many numbers follow.
    pub count: usize,
    /// Sorted by number.
    pub numbers: Vec<OpenSmsNumber>,
}

/// One published open-SMS number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenSmsNumber {
    /// `+` and the E.164 digits.
    pub number: String,
    /// ISO 3166-1 alpha-2 country, when the plan sets one.
    pub country_code: Option<String>,
    /// Owning carrier.
    pub carrier_name: String,
    /// Line type, camelCase.
    pub line_type: String,
    /// Where the messages the number received can be read.
    pub messages_url: String,
}

/// Swap-recency buckets, as lookup services report them: ISO 8601 duration and its length.
const SWAP_PERIODS: [(&str, i64); 8] = [
    ("PT15M", 15 * 60),
    ("PT1H", 3600),
    ("PT4H", 4 * 3600),
    ("PT24H", 24 * 3600),
    ("PT48H", 48 * 3600),
    ("P7D", 7 * 86_400),
    ("P14D", 14 * 86_400),
    ("P28D", 28 * 86_400),
];

/// The smallest swap period holding `since_swap`; `None` past 28 days or for a negative time (a
/// swap that has not happened yet).
pub fn swapped_period(since_swap: TimeDelta) -> Option<&'static str> {
    if since_swap < TimeDelta::zero() {
        return None;
    }
    SWAP_PERIODS
        .iter()
        .find(|(_, secs)| since_swap <= TimeDelta::seconds(*secs))
        .map(|(name, _)| *name)
}

/// Whether `r` can be reached now, and if not, why.
pub fn reachability(r: &Resolved, status: &dyn CarrierStatus) -> Reachability {
    let reason = if status.is_down(&r.carrier) {
        Some(UnreachableReason::CarrierOutage)
    } else if r.absent {
        Some(UnreachableReason::AbsentSubscriber)
    } else {
        None
    };
    Reachability {
        status: if reason.is_some() {
            ReachabilityStatus::Unreachable
        } else {
            ReachabilityStatus::Reachable
        },
        reason,
    }
}

/// The lookup answer for `input` at time `now`.
pub fn lookup_number(
    plan: &(impl Numbers + ?Sized),
    status: &dyn CarrierStatus,
    input: &str,
    now: DateTime<Utc>,
) -> LookupResponse {
    let digits = match parse_number(input) {
        Ok(digits) => digits,
        Err(e) => {
            let error = match e {
                NumberError::TooLong { .. } => TOO_LONG,
                NumberError::Empty(_) | NumberError::NotDigits { .. } => INVALID_FORMAT,
            };
            return invalid(input.to_string(), error);
        }
    };
    let Some(r) = plan.resolve(digits) else {
        return invalid(format!("+{digits}"), NOT_IN_NUMBER_PLAN);
    };
    let carrier_name = r.carrier.to_string();
    let mcc = r.mcc.as_deref().map(str::to_string);
    let mnc = r.mnc.as_deref().map(str::to_string);
    // A swap dated after `now` has not happened yet: report the SIM as never swapped.
    let swap = r.sim_swap.filter(|at| *at <= now);
    let period = swap.and_then(|at| swapped_period(now - at));
    LookupResponse {
        phone_number: format!("+{digits}"),
        valid: true,
        validation_errors: Vec::new(),
        country_code: r.country.as_deref().map(str::to_string),
        line_type_intelligence: Some(LineTypeIntelligence {
            line_type: r.line_type.lookup_name().to_string(),
            carrier_name: carrier_name.clone(),
            mobile_country_code: mcc.clone(),
            mobile_network_code: mnc.clone(),
            error_code: None,
        }),
        sim_swap: Some(SimSwap {
            last_sim_swap: LastSimSwap {
                last_sim_swap_date: swap.map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true)),
                swapped_period: period.map(str::to_string),
                swapped_in_period: period.is_some(),
            },
            carrier_name,
            mobile_country_code: mcc,
            mobile_network_code: mnc,
            error_code: None,
        }),
        ported: Some(r.ported),
        recycled: Some(r.recycled),
        reachability: Some(reachability(&r, status)),
        url: format!("/v1/lookup/+{digits}"),
    }
}

fn invalid(phone_number: String, error: &str) -> LookupResponse {
    LookupResponse {
        url: format!("/v1/lookup/{phone_number}"),
        phone_number,
        valid: false,
        validation_errors: vec![error.to_string()],
        country_code: None,
        line_type_intelligence: None,
        sim_swap: None,
        ported: None,
        recycled: None,
        reachability: None,
    }
}

/// The plan's open-SMS numbers, as published.
pub fn open_sms_list(plan: &NumberPlan) -> OpenSmsList {
    let numbers: Vec<OpenSmsNumber> = plan
        .open_sms_numbers()
        .into_iter()
        .map(|r| OpenSmsNumber {
            messages_url: format!("/v1/handsets/{}/messages", r.number),
            number: format!("+{}", r.number),
            country_code: r.country.as_deref().map(str::to_string),
            carrier_name: r.carrier.to_string(),
            line_type: r.line_type.lookup_name().to_string(),
        })
        .collect();
    OpenSmsList {
        count: numbers.len(),
        numbers,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::world::plan::PlanConfig;

    fn now() -> DateTime<Utc> {
        "2026-06-01T12:00:00Z".parse().expect("time")
    }

    fn plan() -> NumberPlan {
        let cfg: PlanConfig = toml::from_str(
            r#"
            [[ranges]]
            prefix = "447700900"
            country = "GB"
            mcc = "234"
            mnc = "10"
            carrier = "alpha"
            line_type = "mobile"
            [[ranges]]
            numbers = ["447700900555"]
            open_sms = true
            [[ranges]]
            numbers = ["447700900666"]
            sim_swap_ago = "3h"
            ported = true
            [[ranges]]
            numbers = ["447700900777"]
            sim_swap = "2026-07-01"
            absent = true
            [[ranges]]
            prefix = "44207946"
            country = "GB"
            carrier = "beta"
            line_type = "landline"
            "#,
        )
        .expect("parses");
        NumberPlan::build(&cfg, Path::new("."), now()).expect("builds")
    }

    struct Down(&'static str);

    impl CarrierStatus for Down {
        fn is_down(&self, carrier: &str) -> bool {
            carrier == self.0
        }
    }

    #[test]
    fn swapped_period_buckets() {
        let m = TimeDelta::minutes;
        let h = TimeDelta::hours;
        let d = TimeDelta::days;
        let cases = [
            (TimeDelta::zero(), Some("PT15M")),
            (m(15), Some("PT15M")),
            (m(15) + TimeDelta::seconds(1), Some("PT1H")),
            (h(1), Some("PT1H")),
            (h(3), Some("PT4H")),
            (h(4), Some("PT4H")),
            (h(5), Some("PT24H")),
            (h(24), Some("PT24H")),
            (h(25), Some("PT48H")),
            (h(48), Some("PT48H")),
            (d(3), Some("P7D")),
            (d(7), Some("P7D")),
            (d(8), Some("P14D")),
            (d(14), Some("P14D")),
            (d(20), Some("P28D")),
            (d(28), Some("P28D")),
            (d(28) + TimeDelta::seconds(1), None),
            (d(400), None),
            (-m(1), None),
        ];
        for (since, expected) in cases {
            assert_eq!(swapped_period(since), expected, "{since}");
        }
    }

    #[test]
    fn valid_mobile_is_fully_described() {
        let body = lookup_number(&plan(), &AllCarriersUp, "447700900123", now());
        let json = serde_json::to_value(&body).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "phone_number": "+447700900123",
                "valid": true,
                "validation_errors": [],
                "country_code": "GB",
                "line_type_intelligence": {
                    "type": "mobile",
                    "carrier_name": "alpha",
                    "mobile_country_code": "234",
                    "mobile_network_code": "10",
                    "error_code": null
                },
                "sim_swap": {
                    "last_sim_swap": {
                        "last_sim_swap_date": null,
                        "swapped_period": null,
                        "swapped_in_period": false
                    },
                    "carrier_name": "alpha",
                    "mobile_country_code": "234",
                    "mobile_network_code": "10",
                    "error_code": null
                },
                "ported": false,
                "recycled": false,
                "reachability": { "status": "reachable", "reason": null },
                "url": "/v1/lookup/+447700900123"
            })
        );
        assert_eq!(
            lookup_number(&plan(), &AllCarriersUp, "+447700900123", now()),
            body
        );
    }

    #[test]
    fn sim_swap_ported_and_future_swap() {
        let plan = plan();
        let body = lookup_number(&plan, &AllCarriersUp, "447700900666", now());
        let swap = body.sim_swap.expect("sim swap").last_sim_swap;
        assert_eq!(
            swap.last_sim_swap_date.as_deref(),
            Some("2026-06-01T09:00:00Z")
        );
        assert_eq!(swap.swapped_period.as_deref(), Some("PT4H"));
        assert!(swap.swapped_in_period);
        assert_eq!(body.ported, Some(true));

        // Configured for July: at June's lookup it has not happened.
        let body = lookup_number(&plan, &AllCarriersUp, "447700900777", now());
        let swap = body.sim_swap.expect("sim swap").last_sim_swap;
        assert_eq!(swap.last_sim_swap_date, None);
        assert!(!swap.swapped_in_period);
        let later: DateTime<Utc> = "2026-07-10T00:00:00Z".parse().expect("time");
        let body = lookup_number(&plan, &AllCarriersUp, "447700900777", later);
        let swap = body.sim_swap.expect("sim swap").last_sim_swap;
        assert_eq!(
            swap.last_sim_swap_date.as_deref(),
            Some("2026-07-01T00:00:00Z")
        );
        assert_eq!(swap.swapped_period.as_deref(), Some("P14D"));
    }

    #[test]
    fn reachability_outage_before_absent() {
        let plan = plan();
        let absent = lookup_number(&plan, &AllCarriersUp, "447700900777", now());
        assert_eq!(
            absent.reachability,
            Some(Reachability {
                status: ReachabilityStatus::Unreachable,
                reason: Some(UnreachableReason::AbsentSubscriber)
            })
        );
        let down = lookup_number(&plan, &Down("alpha"), "447700900777", now());
        assert_eq!(
            down.reachability.expect("reachability").reason,
            Some(UnreachableReason::CarrierOutage)
        );
        let other = lookup_number(&plan, &Down("alpha"), "442079460000", now());
        assert_eq!(
            other.reachability.expect("reachability").status,
            ReachabilityStatus::Reachable
        );
        assert_eq!(
            UnreachableReason::CarrierOutage.to_string(),
            "carrier_outage"
        );
    }

    #[test]
    fn invalid_numbers_answer_with_validation_errors() {
        let plan = plan();
        let cases = [
            ("4477abc", "4477abc", INVALID_FORMAT),
            ("+", "+", INVALID_FORMAT),
            ("1234567890123456", "1234567890123456", TOO_LONG),
            ("15550001", "+15550001", NOT_IN_NUMBER_PLAN),
            ("+15550001", "+15550001", NOT_IN_NUMBER_PLAN),
        ];
        for (input, phone_number, error) in cases {
            let body = lookup_number(&plan, &AllCarriersUp, input, now());
            assert_eq!(body.phone_number, phone_number);
            assert!(!body.valid);
            assert_eq!(body.validation_errors, [error]);
            assert_eq!(body.country_code, None);
            assert_eq!(body.line_type_intelligence, None);
            assert_eq!(body.sim_swap, None);
            assert_eq!(body.ported, None);
            assert_eq!(body.recycled, None);
            assert_eq!(body.reachability, None);
            assert_eq!(body.url, format!("/v1/lookup/{phone_number}"));
        }
    }

    #[test]
    fn open_sms_list_is_published_like_the_websites() {
        let list = open_sms_list(&plan());
        assert_eq!(
            list,
            OpenSmsList {
                count: 1,
                numbers: vec![OpenSmsNumber {
                    number: "+447700900555".into(),
                    country_code: Some("GB".into()),
                    carrier_name: "alpha".into(),
                    line_type: "mobile".into(),
                    messages_url: "/v1/handsets/447700900555/messages".into(),
                }],
            }
        );
    }
}
