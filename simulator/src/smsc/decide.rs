//! What a carrier decides for one submitted message, before anything is stored or published.
//!
//! [`Carrier::decide`] runs admission (the account's and the carrier's token buckets, one token
//! per SMS part), places the destination in the number plan (refusing numbers outside it when
//! the plan says so), resolves the behaviour in force (carrier, account and range patches,
//! cached per account and range chain) and asks the engine for the message's fate, drawn from
//! a stream seeded by the run's seed, the carrier, the destination and how many messages that
//! destination had before. The answer is a [`Decision`] or a [`Refusal`]; storing the message,
//! counting it and publishing its events are [`Carrier::accept`]'s work, so the decision can be
//! tested without sessions, stores or event buses.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusmpp::CommandStatus;

use super::carrier::{Cached, Carrier, OCCURRENCE_BUCKETS, lock};
use super::store::Submission;
use crate::world::behaviour::Behaviour;
use crate::world::engine::{Decision, MessageFacts};
use crate::world::plan::{Resolved, UnknownNumbers};

/// A submission refused before it is stored: the status and how long to hold the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// command_status of the response.
    pub status: CommandStatus,
    /// Configured submit latency (zero for refusals made before the engine is asked).
    pub latency: Duration,
}

impl Refusal {
    fn now(status: CommandStatus) -> Self {
        Self {
            status,
            latency: Duration::ZERO,
        }
    }
}

/// Where and at what an accepted message is billed, found with its decision (the plan lookup
/// is done once).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Charge {
    /// Its slot in the ledger's ranges ([`crate::world::billing::range_slot`]).
    pub range: usize,
    /// Price per part (0 outside the plan).
    pub price_sms: f64,
}

impl Carrier {
    /// Decides one submission from `account`: admission, plan, behaviour, the engine's draw.
    /// Takes throttle tokens and advances the destination's occurrence count (both decide
    /// later messages) but stores and publishes nothing.
    pub(crate) fn decide(
        &self,
        account: &str,
        sub: &Submission,
    ) -> Result<(Decision, Charge), Refusal> {
        // Back-pressure first: a refused message must not spend throttle tokens.
        if let Some(status) = self.receipts.refusal(account) {
            self.metrics
                .backpressure_refusals
                .fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::now(CommandStatus::from(status)));
        }
        // The state's writer must keep up, or the message could not be kept.
        if let Some(status) = self.durable.as_ref().and_then(|d| d.refusal()) {
            return Err(Refusal::now(status));
        }
        // Room for the message's timers (handset delivery and final state) or a queue-full
        // answer: the timers are bounded, and a full set is an explicit refusal.
        if self.timers.would_overflow(2) {
            self.metrics.timer_refusals.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::now(CommandStatus::EsmeRmsgqful));
        }
        self.admit(account, sub.parts_cost())
            .map_err(Refusal::now)?;
        let number = smpp::number::normalize(&sub.destination);
        let resolved = self.world.plan.lookup(number);
        if resolved.is_none()
            && self.world.has_plan
            && self.world.unknown_numbers == UnknownNumbers::Reject
        {
            return Err(Refusal::now(CommandStatus::EsmeRinvdstadr));
        }
        let behaviour = self.behaviour_for(account, resolved.as_ref());
        let occurrence = self.next_occurrence(number);
        let mut rng = crate::world::dist::stream(
            self.world.seed,
            &[
                self.name().as_bytes(),
                number.as_bytes(),
                &occurrence.to_le_bytes(),
            ],
        );
        let facts = MessageFacts {
            sms_capable: resolved.as_ref().is_none_or(|r| r.line_type.takes_sms()),
            absent: resolved.as_ref().is_some_and(|r| r.absent),
            time_scale: self.world.time_scale,
        };
        let decision = crate::world::engine::decide(&behaviour, &facts, &mut rng);
        match decision.refusal {
            Some(status) => Err(Refusal {
                status: CommandStatus::from(status),
                latency: decision.submit_latency,
            }),
            None => Ok((
                decision,
                Charge {
                    range: crate::world::billing::range_slot(&self.world.plan, resolved.as_ref()),
                    price_sms: resolved.as_ref().map_or(0.0, |r| r.price_sms),
                },
            )),
        }
    }

    /// The behaviour for a message from `account` to a number whose plan lookup is `resolved`.
    pub(super) fn behaviour_for(
        &self,
        account: &str,
        resolved: Option<&Resolved>,
    ) -> Arc<Behaviour> {
        let chain: &[usize] = resolved.map_or(&[], |r| &r.chain);
        let key = crate::fasthash::hash_one(&(account, chain));
        if let Some(c) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && c.account == account
            && c.chain == chain
        {
            return Arc::clone(&c.behaviour);
        }
        let mut b = Behaviour::default();
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .behaviour
            .apply_to(&mut b);
        if let Some(a) = self.cfg.accounts.get(account) {
            a.behaviour.apply_to(&mut b);
        }
        if let Some(r) = resolved {
            for patch in self.world.range_behaviour(r) {
                patch.apply_to(&mut b);
            }
        }
        let b = Arc::new(b);
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                key,
                Cached {
                    account: account.to_string(),
                    chain: chain.to_vec(),
                    behaviour: Arc::clone(&b),
                },
            );
        b
    }

    /// Admission through the account's and the carrier's token buckets; `Err` carries the
    /// configured refusal status.
    pub(super) fn admit(&self, account: &str, parts: u32) -> Result<(), CommandStatus> {
        let now = std::time::Instant::now();
        let account_bucket = self.account_throttles.get(account);
        if let Some(b) = account_bucket {
            let mut b = lock(b);
            if b.try_take(now, parts).is_err() {
                return Err(CommandStatus::from(b.config().response.command_status()));
            }
        }
        if let Some(b) = lock(&self.throttle).as_mut()
            && b.try_take(now, parts).is_err()
        {
            // The account's tokens were spent on a message the carrier refused: give them
            // back, or a throttled carrier would also drain every account's budget.
            if let Some(a) = account_bucket {
                lock(a).refund(now, parts);
            }
            return Err(CommandStatus::from(b.config().response.command_status()));
        }
        Ok(())
    }

    /// How many decisions were drawn for `key` before (a destination number, or a prefixed key
    /// for other channels); see [`OCCURRENCE_BUCKETS`].
    pub(crate) fn next_occurrence(&self, key: &str) -> u32 {
        let h = crate::fasthash::hash_one(key);
        self.occurrences[(h as usize) % OCCURRENCE_BUCKETS].fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AccountConfig, CarrierConfig, SimConfig};
    use crate::smsc::network::Network;

    fn submission(to: &str) -> Submission {
        Submission {
            source: "VERIFY".into(),
            destination: to.into(),
            data_coding: 0,
            registered_delivery: 1,
            payload: b"code 123456".to_vec(),
            concat: None,
        }
    }

    fn carrier_toml(rest: &str) -> Arc<Network> {
        let text = format!("[carriers.default.accounts.test]\npassword = \"secret\"\n{rest}");
        let cfg = SimConfig::parse(std::path::Path::new("t.toml"), &text).expect("config");
        Network::build(&cfg).expect("network")
    }

    #[tokio::test]
    async fn a_throttled_submission_is_refused_and_stores_nothing() {
        let net = carrier_toml("[carriers.default.throttle]\nrate = 1.0\nburst = 1\n");
        let c = net.carrier("default").expect("carrier");
        assert!(c.decide("test", &submission("447700900001")).is_ok());
        let refused = c.decide("test", &submission("447700900001"));
        assert_eq!(
            refused,
            Err(Refusal {
                status: CommandStatus::EsmeRthrottled,
                latency: Duration::ZERO
            })
        );
        assert_eq!(c.store.stats().records, 0, "deciding stores nothing");
        assert_eq!(c.metrics.messages_accepted.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_number_outside_the_plan_is_refused_when_the_plan_says_so() {
        let net = carrier_toml("[[ranges]]\nprefix = \"4477\"\ncarrier = \"default\"\n");
        let c = net.carrier("default").expect("carrier");
        assert!(c.decide("test", &submission("447700900001")).is_ok());
        assert_eq!(
            c.decide("test", &submission("12025550100"))
                .map_err(|r| r.status),
            Err(CommandStatus::EsmeRinvdstadr)
        );
    }

    #[tokio::test]
    async fn the_same_seed_gives_the_same_decisions() {
        let toml = "[carriers.default.behaviour]\nsubmit_latency = { kind = \"uniform\", min = \"1ms\", max = \"900ms\" }\n";
        let (a, b) = (carrier_toml(toml), carrier_toml(toml));
        let (a, b) = (a.carrier("default").unwrap(), b.carrier("default").unwrap());
        for n in 0..50 {
            let to = format!("4477009{:05}", n % 7);
            let (x, y) = (
                a.decide("test", &submission(&to)),
                b.decide("test", &submission(&to)),
            );
            assert_eq!(x.map(|d| d.0.submit_latency), y.map(|d| d.0.submit_latency));
        }
    }

    #[tokio::test]
    async fn a_carrier_refusal_refunds_the_account_tokens() {
        let net = carrier_toml(
            "[carriers.default.throttle]\nrate = 0.001\nburst = 1\n[carriers.default.accounts.test.throttle]\nrate = 0.001\nburst = 2\n",
        );
        let c = net.carrier("default").expect("carrier");
        assert!(c.decide("test", &submission("447700900001")).is_ok());
        // The carrier's bucket is empty now; the account had two tokens and keeps one.
        for _ in 0..5 {
            assert!(c.decide("test", &submission("447700900001")).is_err());
        }
        let tokens = lock(&c.account_throttles["test"]).tokens(std::time::Instant::now());
        assert!(tokens > 0.99, "the account kept its token: {tokens}");
    }

    #[test]
    fn account_and_carrier_buckets_both_count() {
        let mut cfg = CarrierConfig::default();
        let mut account = AccountConfig::new("secret");
        account.throttle = Some(crate::world::throttle::ThrottleConfig::new(1.0));
        cfg.accounts.insert("test".into(), account);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let net = Network::single(cfg);
            let c = net.carrier("default").expect("carrier");
            let first = c.decide("test", &submission("447700900001"));
            assert!(first.is_ok());
            assert!(c.decide("test", &submission("447700900002")).is_err());
        });
    }
}
