//! The fraud guard: every start passes its rules before a code is sent. In mode `off` nothing
//! is evaluated; in `record_only` every rule is evaluated and what fires is recorded and
//! counted but nothing is refused; in `enforce` the first rule that blocks refuses the start.
//!
//! The rules, in the order they are tried:
//!
//! 1. app attestation (`attestation`, [`attest`]), when configured;
//! 2. per-IP velocity and distinct destination countries per IP (`ip_velocity`,
//!    `ip_countries`, [`traffic`]);
//! 3. the effective block lists (`blocklist_customer`, `blocklist_open_sms`,
//!    `blocklist_heuristic`; `blocklist_forgiven` records a number let off, [`lists`]);
//! 4. geo permissions (`geo_permissions`, Twilio's 60605) and line type from lookup
//!    (`line_type`: premium, shared cost, pager, voicemail refused; non-fixed VoIP refused or
//!    sent by voice);
//! 5. a prefix or country blocked for SMS pumping (`sms_pumping`, Twilio's 60410, [`pumping`]);
//! 6. per-number flooding (`number_flood`) and numbers requested together again from one IP or
//!    device (`number_group`, which lists them);
//! 7. a recent SIM swap or carrier change (`sim_swap`: refused, or voice required);
//! 8. then the start is counted: a prefix or country whose velocity or conversion trips is
//!    blocked from this start on, and a number that keeps starting without ever verifying is
//!    listed (`repeat_requester`).
//!
//! All state is in fixed memory (see `support::table`) or bounded (lists, decisions, seen
//! attestation nonces), so random numbers and addresses cannot exhaust the process.
//!
//! Layer: uses `carriers` (lookup answers), `otp` (MACs), `metrics`, `config`, `support`;
//! used by `flow` and `api`.

pub(crate) mod attest;
pub(crate) mod decisions;
pub(crate) mod lists;
pub(crate) mod pumping;
pub(crate) mod traffic;

use serde_json::json;

use crate::carriers::control::LookupInfo;
use crate::config::{GuardConfig, GuardMode, Policy};
use crate::metrics::Metrics;
use crate::metrics::labels::Rule;
use crate::support::clock::ms;
use crate::support::msisdn::Msisdn;
use crate::support::table::Table;
use attest::Attestation;
use decisions::{Decisions, Verdict};
use lists::{Lists, Source};
use pumping::{PumpCheck, Windows};
use traffic::Traffic;

/// How a refusal is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefusalKind {
    /// 403.
    Forbidden,
    /// 429.
    TooMany,
    /// 401.
    Unauthorized,
}

/// A start refused by a rule.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub rule: Rule,
    pub reason: String,
    pub kind: RefusalKind,
}

/// What the guard says about a start.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Go ahead; with a rule when SMS is not allowed and voice must be used.
    Allow { voice_only: Option<Rule> },
    /// Refused.
    Refuse(Refusal),
}

/// What the guard looks at for a start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StartInput<'a> {
    pub to: Msisdn,
    pub client_ip: Option<&'a str>,
    pub device_id: Option<&'a str>,
    pub attestation: Option<&'a str>,
    pub lookup: Option<&'a LookupInfo>,
}

#[derive(Debug, Default, Clone)]
struct CarrierSeen {
    carrier: u64,
    changed_ms: u64,
}

/// The guard of one service.
#[derive(Debug)]
pub(crate) struct Guard {
    cfg: GuardConfig,
    pub decisions: Decisions,
    pub lists: Lists,
    prefixes: Windows,
    countries: Windows,
    traffic: Traffic,
    carriers_seen: Table<CarrierSeen>,
    attestation: Option<Attestation>,
    metrics: std::sync::Arc<Metrics>,
}

/// The outcome of one rule inside [`Guard::start`]: keep going, or stop with this.
type Step = Result<(), Refusal>;

impl Guard {
    pub(crate) fn new(cfg: &GuardConfig, metrics: std::sync::Arc<Metrics>) -> Self {
        Self {
            decisions: Decisions::new(cfg.decisions_kept),
            lists: Lists::new(cfg.blocklist.max_entries),
            prefixes: Windows::new(&cfg.pumping, cfg.pumping.min_starts, cfg.table_capacity),
            countries: Windows::new(&cfg.pumping, cfg.pumping.country_min_starts, 1024),
            traffic: Traffic::new(&cfg.velocity, &cfg.heuristics, cfg.table_capacity),
            carriers_seen: Table::new(cfg.table_capacity),
            attestation: cfg
                .attestation
                .as_ref()
                .map(|a| Attestation::new(&a.key, a.max_ttl.as_secs())),
            cfg: cfg.clone(),
            metrics,
        }
    }

    pub(crate) fn mode(&self) -> GuardMode {
        self.cfg.mode
    }

    /// Records a rule that fired; a refusal to return when the mode enforces it.
    fn fire(
        &self,
        rule: Rule,
        verdict: Verdict,
        to: Msisdn,
        reason: String,
        kind: RefusalKind,
        inputs: serde_json::Value,
    ) -> Step {
        let enforce = self.cfg.mode == GuardMode::Enforce;
        if verdict == Verdict::Block || verdict == Verdict::Voice {
            self.metrics.block(rule, enforce);
        }
        self.decisions.record(
            rule,
            verdict,
            self.cfg.mode,
            format!("+{to}"),
            reason.clone(),
            inputs,
        );
        if enforce && verdict == Verdict::Block {
            return Err(Refusal { rule, reason, kind });
        }
        Ok(())
    }

    /// Runs the rules for a start at `now_ms` (`now_unix` for token expiry).
    pub(crate) fn start(&self, s: &StartInput<'_>, now_ms: u64, now_unix: i64) -> Outcome {
        if self.cfg.mode == GuardMode::Off {
            return Outcome::Allow { voice_only: None };
        }
        let mut voice_only = None;
        match self.rules(s, now_ms, now_unix, &mut voice_only) {
            Ok(()) => Outcome::Allow { voice_only },
            Err(r) => Outcome::Refuse(r),
        }
    }

    fn rules(
        &self,
        s: &StartInput<'_>,
        now: u64,
        now_unix: i64,
        voice_only: &mut Option<Rule>,
    ) -> Step {
        let to = s.to;
        let country = s.lookup.and_then(|l| l.country.as_deref());
        use RefusalKind::{Forbidden, TooMany, Unauthorized};

        if let Some(a) = &self.attestation
            && let Err(e) = a.verify(s.attestation, s.device_id, now_unix)
        {
            let kind = if e.unauthorized() {
                Unauthorized
            } else {
                Forbidden
            };
            self.fire(
                Rule::Attestation,
                Verdict::Block,
                to,
                e.to_string(),
                kind,
                json!({ "error": e.word(), "device_id": s.device_id }),
            )?;
        }

        if let Some(ip) = s.client_ip
            && let Some((countries, count)) = self.traffic.ip_started(ip, country, now)
        {
            let (rule, what) = if countries {
                (Rule::IpCountries, "distinct destination countries")
            } else {
                (Rule::IpVelocity, "starts")
            };
            let reason = format!("{} {what} from {ip}, limit {}", count.seen, count.limit);
            self.fire(rule, Verdict::Block, to, reason, TooMany, json!({ "client_ip": ip, "country": country, "seen": count.seen, "limit": count.limit }))?;
        }

        let (hit, forgiven) = self.lists.check(to, s.lookup, now);
        for f in forgiven {
            self.fire(
                Rule::BlocklistForgiven,
                Verdict::Forgive,
                to,
                format!("removed from the {} list: {}", f.source.word(), f.why),
                Forbidden,
                json!({ "list": f.source.word(), "why": f.why }),
            )?;
        }
        if let Some(h) = hit {
            let rule = match h.source {
                Source::Customer => Rule::BlocklistCustomer,
                Source::OpenSms => Rule::BlocklistOpenSms,
                Source::Heuristic => Rule::BlocklistHeuristic,
            };
            let reason = format!("listed on the {} list: {}", h.source.word(), h.reason);
            self.fire(
                rule,
                Verdict::Block,
                to,
                reason,
                Forbidden,
                json!({ "list": h.source.word(), "listed_at": h.listed_at, "reason": h.reason }),
            )?;
        }

        if !self.cfg.allowed_countries.is_empty()
            && let Some(cc) = country
            && !self.cfg.allowed_countries.iter().any(|a| a == cc)
        {
            let reason = format!("destination country {cc} is not allowed");
            self.fire(
                Rule::GeoPermissions,
                Verdict::Block,
                to,
                reason,
                Forbidden,
                json!({ "country": cc, "allowed": self.cfg.allowed_countries }),
            )?;
        }

        if let Some(lt) = s.lookup.and_then(|l| l.line_type.as_deref()) {
            let inputs =
                || json!({ "line_type": lt, "carrier": s.lookup.and_then(|l| l.carrier.clone()) });
            if self.cfg.line_type.refuse.iter().any(|r| r == lt) {
                self.fire(
                    Rule::LineType,
                    Verdict::Block,
                    to,
                    format!("line type {lt} is refused"),
                    Forbidden,
                    inputs(),
                )?;
            } else if lt == "nonFixedVoip" {
                match self.cfg.line_type.non_fixed_voip {
                    Policy::Refuse => self.fire(
                        Rule::LineType,
                        Verdict::Block,
                        to,
                        "non-fixed VoIP is refused".into(),
                        Forbidden,
                        inputs(),
                    )?,
                    Policy::Voice => {
                        self.fire(
                            Rule::LineType,
                            Verdict::Voice,
                            to,
                            "non-fixed VoIP: voice only".into(),
                            Forbidden,
                            inputs(),
                        )?;
                        *voice_only = Some(Rule::LineType);
                    }
                    Policy::Allow => {}
                }
            }
        }

        let prefix = to.prefix(self.cfg.pumping.prefix_drop);
        let country_key = country.map(|c| crate::support::key_of(&("country", c)));
        let blocked = self
            .prefixes
            .blocked(prefix.raw(), now)
            .map(|u| (format!("prefix {prefix}"), u))
            .or_else(|| {
                country_key
                    .and_then(|k| self.countries.blocked(k, now))
                    .map(|u| (format!("country {}", country.unwrap_or("")), u))
            });
        if let Some((what, until)) = blocked {
            let reason = format!("{what} is blocked for SMS pumping");
            self.fire(Rule::SmsPumping, Verdict::Block, to, reason, Forbidden, json!({ "prefix": prefix.to_string(), "country": country, "blocked_for_ms": until - now }))?;
        }

        if let Some(c) = self.traffic.flooding(to, now) {
            let reason = format!("{} starts without a check", c.seen);
            self.fire(
                Rule::NumberFlood,
                Verdict::Block,
                to,
                reason,
                TooMany,
                json!({ "starts_without_check": c.seen, "limit": c.limit }),
            )?;
        }

        if let Some(source) = s.device_id.or(s.client_ip)
            && let Some(group) = self.traffic.grouped(source, to, now)
        {
            let numbers: Vec<String> = group.iter().map(|n| format!("+{n}")).collect();
            for n in &group {
                let listed = self.list_heuristic(
                    *n,
                    "requested together with the same numbers again",
                    now,
                    None,
                );
                if listed {
                    self.fire(
                        Rule::NumberGroup,
                        Verdict::List,
                        *n,
                        "listed: always requested with the same numbers".into(),
                        Forbidden,
                        json!({ "source": source, "group": numbers }),
                    )?;
                }
            }
            let reason = format!(
                "requested together with {} other numbers again from one source",
                group.len() - 1
            );
            self.fire(
                Rule::NumberGroup,
                Verdict::Block,
                to,
                reason,
                Forbidden,
                json!({ "source": source, "group": numbers }),
            )?;
        }

        if let Some(l) = s.lookup
            && self.cfg.sim_swap.policy != Policy::Allow
        {
            let days = u64::from(self.cfg.sim_swap.days);
            let horizon = days * 86_400_000;
            let swap_age = l
                .last_sim_swap
                .map(|at| (chrono::Utc::now() - at).num_milliseconds().max(0) as u64);
            let change_age = l.carrier.as_ref().and_then(|c| {
                let k = crate::support::key_of(c);
                self.carriers_seen
                    .with(to.raw(), now, horizon.max(1), |seen| {
                        if seen.carrier != 0 && seen.carrier != k {
                            seen.changed_ms = now.max(1);
                        }
                        seen.carrier = k;
                        (seen.changed_ms != 0).then(|| now - seen.changed_ms)
                    })
            });
            let recent = |age: Option<u64>| age.is_some_and(|a| a < horizon);
            if recent(swap_age) || recent(change_age) {
                let what = if recent(swap_age) {
                    "SIM swap"
                } else {
                    "carrier change"
                };
                let inputs = json!({ "last_sim_swap": l.last_sim_swap, "carrier": l.carrier, "days": days, "what": what });
                match self.cfg.sim_swap.policy {
                    Policy::Refuse => self.fire(
                        Rule::SimSwap,
                        Verdict::Block,
                        to,
                        format!("{what} within {days} days"),
                        Forbidden,
                        inputs,
                    )?,
                    Policy::Voice | Policy::Allow => {
                        self.fire(
                            Rule::SimSwap,
                            Verdict::Voice,
                            to,
                            format!("{what} within {days} days: SMS refused, voice required"),
                            Forbidden,
                            inputs,
                        )?;
                        *voice_only = Some(Rule::SimSwap);
                    }
                }
            }
        }

        // Counted only now: a start refused above sends nothing and costs nothing.
        let tripped = match self.prefixes.start(prefix.raw(), now) {
            PumpCheck::Tripped(t) => Some((format!("prefix {prefix}"), t)),
            _ => None,
        }
        .or_else(|| match country_key.map(|k| self.countries.start(k, now)) {
            Some(PumpCheck::Tripped(t)) => Some((format!("country {}", country.unwrap_or("")), t)),
            _ => None,
        });
        if let Some((what, t)) = tripped {
            let reason = format!(
                "{what} tripped on {}: blocked for {} s",
                t.trigger,
                self.cfg.pumping.cool_down.as_secs()
            );
            self.fire(
                Rule::SmsPumping,
                Verdict::Block,
                to,
                reason,
                Forbidden,
                json!({
                    "prefix": prefix.to_string(), "country": country, "trigger": t.trigger,
                    "starts": t.starts, "verified": t.verified, "mature_starts": t.mature_starts,
                    "mature_verified": t.mature_verified, "threshold": t.threshold,
                    "baseline_conversion": self.prefixes.baseline_conversion(),
                }),
            )?;
        }
        if let Some(c) = self.traffic.number_started(to, now) {
            self.list_heuristic(
                to,
                "requests codes again and again and never verifies",
                now,
                s.lookup,
            );
            let reason = format!("{} starts and no verification", c.seen);
            self.fire(Rule::RepeatRequester, Verdict::Block, to, reason, Forbidden, json!({ "starts": c.seen, "limit": c.limit, "window_s": self.cfg.heuristics.repeat_window.as_secs() }))?;
        }
        Ok(())
    }

    /// Puts `n` on the heuristic list (only when enforcing: in `record_only` the list must not
    /// block later either); whether it was listed.
    fn list_heuristic(
        &self,
        n: Msisdn,
        reason: &str,
        now: u64,
        lookup: Option<&LookupInfo>,
    ) -> bool {
        if self.cfg.mode != GuardMode::Enforce {
            return false;
        }
        let expires = now + ms(self.cfg.blocklist.heuristic_ttl);
        self.lists.add(
            Source::Heuristic,
            n,
            reason.into(),
            now,
            Some(expires),
            lookup,
        )
    }

    /// A check was made on `to`.
    pub(crate) fn checked(&self, to: Msisdn, now_ms: u64) {
        self.traffic.number_checked(to, now_ms);
    }

    /// `to`, started at `started_ms`, verified.
    pub(crate) fn verified(&self, to: Msisdn, country: Option<&str>, started_ms: u64, now_ms: u64) {
        self.traffic.number_verified(to, now_ms);
        self.prefixes.verified(
            to.prefix(self.cfg.pumping.prefix_drop).raw(),
            started_ms,
            now_ms,
        );
        if let Some(c) = country {
            self.countries
                .verified(crate::support::key_of(&("country", c)), started_ms, now_ms);
        }
    }

    /// Replaces the open-SMS list with what the carriers publish now: entries are refreshed
    /// to expire `open_sms_ttl` from now; those no longer published expire on their own.
    pub(crate) fn open_sms_published(&self, numbers: &[Msisdn], now_ms: u64) -> usize {
        let expires = now_ms + ms(self.cfg.blocklist.open_sms_ttl);
        numbers
            .iter()
            .filter(|n| {
                self.lists.add(
                    Source::OpenSms,
                    **n,
                    "published on an open-SMS website".into(),
                    now_ms,
                    Some(expires),
                    None,
                )
            })
            .count()
    }

    /// Entries of the fixed-memory tables pushed out while fresh.
    pub(crate) fn evictions(&self) -> u64 {
        self.traffic.evictions() + self.carriers_seen.evictions()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn guard(cfg: GuardConfig) -> Guard {
        Guard::new(&cfg, Arc::new(Metrics::new(vec!["a".into()])))
    }

    fn n(s: &str) -> Msisdn {
        Msisdn::parse(s).unwrap()
    }

    #[test]
    fn a_country_pumped_across_many_prefixes_is_blocked() {
        let mut cfg = GuardConfig::default();
        cfg.pumping.min_starts = 1_000; // no single prefix trips
        cfg.pumping.country_min_starts = 20;
        cfg.pumping.window = Duration::from_secs(100);
        cfg.pumping.maturity = Duration::from_secs(10);
        let g = guard(cfg);
        let xx = LookupInfo {
            valid: true,
            country: Some("XX".into()),
            line_type: Some("mobile".into()),
            ..LookupInfo::default()
        };
        let gb = LookupInfo {
            country: Some("GB".into()),
            ..xx.clone()
        };
        let start = |to: Msisdn, l: &LookupInfo, t: u64| {
            let input = StartInput {
                to,
                client_ip: None,
                device_id: None,
                attestation: None,
                lookup: Some(l),
            };
            g.start(&input, t, 0)
        };
        let mut blocked_at = None;
        for i in 0..200u64 {
            // Every start to another prefix of XX, one a second, none verified.
            let to = n(&format!("99{:03}000{:03}", i, i));
            if let Outcome::Refuse(r) = start(to, &xx, i * 1000) {
                assert_eq!(r.rule, Rule::SmsPumping);
                assert!(r.reason.contains("country XX"), "{}", r.reason);
                blocked_at = Some(i);
                break;
            }
            // GB traffic alongside converts, and is never touched.
            let gb_to = n(&format!("4477009{i:05}"));
            assert!(matches!(start(gb_to, &gb, i * 1000), Outcome::Allow { .. }));
            g.verified(gb_to, Some("GB"), i * 1000, i * 1000 + 500);
        }
        let at = blocked_at.expect("the country trips");
        assert!(at >= 20, "not before country_min_starts: {at}");
        // Blocked from then on, whatever the prefix.
        let r = start(n("99777000777"), &xx, at * 1000 + 1);
        assert!(matches!(
            r,
            Outcome::Refuse(Refusal {
                rule: Rule::SmsPumping,
                ..
            })
        ));
        assert_eq!(g.decisions.list(Some(Rule::SmsPumping), None, 10).len(), 2);
    }
}
