//! Verifications: start (guard, lookup, routing, send limits), check (expiry, attempt limit,
//! constant-time code check), fetch, cancel and approve; the workflow that sends the code step
//! by step and fails over ([`dispatch`]); the store ([`store`]), the deadlines ([`timers`]),
//! receipt correlation ([`correlate`]) and the message texts ([`messages`]).
//!
//! The semantics follow the big providers: a start for a number that has a pending
//! verification re-sends the same code (while it is valid) instead of making another; at most
//! `max_sends` sends per number per `send_window`; `max_checks` checks, then `max_attempts`;
//! an ended verification is gone for checks (404). Both the `/v1` API and the Twilio-shaped one
//! call this layer; neither has semantics of its own.
//!
//! Layer: uses `guard`, `carriers`, `otp`, `metrics`, `config`, `support`; used by `api` and
//! the front door.

pub(crate) mod correlate;
pub(crate) mod dispatch;
pub(crate) mod messages;
pub(crate) mod store;
pub(crate) mod timers;

use std::sync::Arc;

use smpp::number::NumberError;

use crate::carriers::Carriers;
use crate::config::{Channel, VerifierConfig};
use crate::guard::{Guard, Outcome, Refusal, RefusalKind, StartInput};
use crate::metrics::Metrics;
use crate::metrics::labels::{Cause, CheckResult, Overload};
use crate::otp::{Binding, Codes};
use crate::support::clock::{ms, now_ms};
use crate::support::msisdn::Msisdn;
use crate::support::warn::Throttled;
use correlate::Correlator;
use store::{NumberState, Requested, Status, Store, Verification, View};
use timers::{Due, Timers};

static PENDING_CAP: Throttled = Throttled::new("at the pending cap", 5_000);

/// A start request, already decoded by the API.
#[derive(Debug, Clone, Default)]
pub(crate) struct StartRequest {
    pub to: String,
    pub channel: Option<Requested>,
    pub client_ip: Option<String>,
    pub device_id: Option<String>,
    pub account: Option<String>,
    pub locale: Option<String>,
    pub amount: Option<String>,
    pub payee: Option<String>,
    pub attestation: Option<String>,
}

/// Why a start was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    #[error("to: {0}")]
    InvalidNumber(#[from] NumberError),
    #[error("{}", .0.reason)]
    Blocked(Refusal),
    #[error("to: SMS cannot be sent to a landline; use channel voice (or auto)")]
    LandlineSms,
    #[error("{0}: amount and payee go together")]
    Unpaired(&'static str),
    #[error("channel: no workflow step for channel {0}")]
    NoStep(&'static str),
    #[error("max send attempts reached: {0} sends to this number within {1} s")]
    MaxSends(u32, u64),
    #[error("too many pending verifications ({0}); try again later")]
    PendingCap(usize),
}

/// A check's target.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    Id(u128),
    Number(Msisdn),
}

/// The answer to a check.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub result: CheckResult,
    pub view: Option<View>,
}

/// The verification engine of one service.
#[derive(Debug)]
pub(crate) struct Engine {
    pub cfg: VerifierConfig,
    /// (channel, carrier index, timeout ms) per workflow step.
    pub workflow: Vec<(Channel, usize, u64)>,
    pub codes: Codes,
    pub store: Store,
    pub carriers: Arc<Carriers>,
    pub guard: Arc<Guard>,
    pub metrics: Arc<Metrics>,
    pub timers: Timers,
    pub correlator: Correlator,
}

impl Engine {
    pub(crate) fn new(
        cfg: VerifierConfig,
        carriers: Arc<Carriers>,
        guard: Arc<Guard>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let workflow = cfg
            .steps()
            .iter()
            .map(|s| {
                (
                    s.channel,
                    carriers.index(&s.carrier).unwrap_or(0),
                    ms(s.timeout),
                )
            })
            .collect();
        Self {
            codes: Codes::new(&cfg.codes),
            store: Store::new(cfg.limits.keep_ended, cfg.limits.send_history),
            workflow,
            carriers,
            guard,
            metrics,
            timers: Timers::default(),
            correlator: Correlator::default(),
            cfg,
        }
    }

    fn steps_for(&self, channel: Option<Channel>) -> Vec<u16> {
        (0..self.workflow.len())
            .filter(|i| channel.is_none_or(|c| self.workflow[*i].0 == c))
            .map(|i| i as u16)
            .collect()
    }

    /// Starts a verification (or re-sends the pending one's code).
    pub(crate) async fn start(self: &Arc<Self>, req: StartRequest) -> Result<View, StartError> {
        let to = Msisdn::parse(req.to.trim())?;
        match (&req.amount, &req.payee) {
            (Some(_), None) => return Err(StartError::Unpaired("payee")),
            (None, Some(_)) => return Err(StartError::Unpaired("amount")),
            _ => {}
        }
        let lookup = self.carriers.lookup(to).await;
        let now = now_ms();
        let input = StartInput {
            to,
            client_ip: req.client_ip.as_deref(),
            device_id: req.device_id.as_deref(),
            attestation: req.attestation.as_deref(),
            lookup: lookup.as_deref(),
        };
        let voice_only = match self
            .guard
            .start(&input, now, chrono::Utc::now().timestamp())
        {
            Outcome::Refuse(r) => return Err(StartError::Blocked(r)),
            Outcome::Allow { voice_only } => voice_only,
        };
        let requested = req.channel.unwrap_or(Requested::Auto);
        let landline = lookup.as_deref().and_then(|l| l.line_type.as_deref()) == Some("landline");
        let (steps, routed) = match requested {
            Requested::Sms if landline => return Err(StartError::LandlineSms),
            Requested::Sms => match voice_only {
                Some(rule) => {
                    return Err(StartError::Blocked(Refusal {
                        rule,
                        reason: format!(
                            "{rule}: SMS is refused for this number; use channel voice"
                        ),
                        kind: RefusalKind::Forbidden,
                    }));
                }
                None => (self.steps_for(Some(Channel::Sms)), None),
            },
            Requested::Voice => (self.steps_for(Some(Channel::Voice)), None),
            Requested::Auto if landline => {
                (self.steps_for(Some(Channel::Voice)), Some(Cause::Landline))
            }
            Requested::Auto if voice_only.is_some() => (
                self.steps_for(Some(Channel::Voice)),
                Some(Cause::GuardVoice),
            ),
            Requested::Auto => (self.steps_for(None), None),
        };
        if steps.is_empty() {
            let word = match requested {
                Requested::Sms => "sms",
                _ => "voice",
            };
            return Err(StartError::NoStep(word));
        }
        if let Some(c) = routed {
            self.metrics.failover(c);
        }
        let country = lookup.as_deref().and_then(|l| l.country.clone());
        let (id, round) = self.open(to, steps, routed, &req, country, now)?;
        let view = self
            .view(id)
            .ok_or(StartError::PendingCap(self.cfg.limits.max_pending))?;
        let engine = Arc::clone(self);
        tokio::spawn(async move { engine.dispatch(id, round).await });
        Ok(view)
    }

    /// Opens a verification for `to`, or re-opens its pending one for a resend; returns its id
    /// and the generation to dispatch.
    fn open(
        &self,
        to: Msisdn,
        steps: Vec<u16>,
        routed: Option<Cause>,
        req: &StartRequest,
        country: Option<String>,
        now: u64,
    ) -> Result<(u128, u32), StartError> {
        let binding = (req.amount.clone(), req.payee.clone());
        let c = &self.cfg.codes;
        let window = ms(c.send_window);
        let max = c.max_sends as usize;
        // Counted now: a start refused further down takes its send back.
        let counted = self.store.sends.with(to.raw(), now, window, |s| {
            s.times.retain(|t| now.saturating_sub(*t) < window);
            let ok = s.times.len() < max;
            if ok {
                s.times.push(now);
            }
            ok
        });
        if !counted {
            self.metrics.overload(Overload::MaxSends);
            return Err(StartError::MaxSends(c.max_sends, c.send_window.as_secs()));
        }
        let mut numbers = self.store.by_number.shard(&to);
        let ns: &mut NumberState = numbers.entry(to).or_default();
        if let Some(id) = ns.active {
            let mut shard = self.store.by_id.shard(&id);
            if let Some(v) = shard.get_mut(&id)
                && v.status == Status::Pending
                && now < v.expires_ms
            {
                if (v.amount.clone(), v.payee.clone()) == binding {
                    // A resend: the same code, the workflow from its first step again.
                    v.sends += 1;
                    v.round += 1;
                    v.steps = steps;
                    v.pos = 0;
                    v.delivered = false;
                    v.routed = routed;
                    v.updated_ms = now;
                    return Ok((id, v.round));
                }
                // Another amount or payee: that code must not approve this one.
                v.status = Status::Canceled;
                v.updated_ms = now;
                drop(shard);
                ns.active = None;
                drop(numbers);
                self.store.ended(id, to);
                numbers = self.store.by_number.shard(&to);
            }
        }
        if !self.store.reserve(self.cfg.limits.max_pending) {
            drop(numbers);
            self.store.sends.with(to.raw(), now, window, |s| {
                if let Some(i) = s.times.iter().rposition(|t| *t == now) {
                    s.times.remove(i);
                }
            });
            self.metrics.overload(Overload::PendingCap);
            PENDING_CAP.warn(&format_args!(
                "{} verifications pending; starts answer 503",
                self.cfg.limits.max_pending
            ));
            return Err(StartError::PendingCap(self.cfg.limits.max_pending));
        }
        let ns = numbers.entry(to).or_default();
        let id = crate::otp::random_u128();
        let stored = self.codes.create(
            id,
            Binding {
                amount: binding.0.as_deref(),
                payee: binding.1.as_deref(),
            },
            now,
        );
        let expires_ms = now + ms(c.expiry);
        let v = Verification {
            id,
            to,
            status: Status::Pending,
            created_ms: now,
            updated_ms: now,
            expires_ms,
            stored,
            amount: binding.0,
            payee: binding.1,
            locale: req.locale.clone(),
            account: req.account.clone(),
            country,
            checks: 0,
            sends: 1,
            steps,
            pos: 0,
            round: 0,
            delivered: false,
            routed,
            attempts: Vec::new(),
        };
        ns.active = Some(id);
        ns.last = Some(id);
        drop(numbers);
        self.store.by_id.shard(&id).insert(id, v);
        self.timers.push(expires_ms, id, Due::Expire);
        self.metrics.started();
        Ok((id, 0))
    }

    /// A verification by id (pending or in the ended history).
    pub(crate) fn view(&self, id: u128) -> Option<View> {
        self.store
            .by_id
            .shard(&id)
            .get(&id)
            .map(|v| v.view(&self.workflow))
    }

    /// Checks `code` against the target's pending verification. `binding`: the amount and
    /// payee the check claims (the verification's own when not given).
    pub(crate) fn check(
        &self,
        target: Target,
        code: &str,
        amount: Option<&str>,
        payee: Option<&str>,
    ) -> Checked {
        let now = now_ms();
        let id = match target {
            Target::Id(id) => Some(id),
            Target::Number(n) => self
                .store
                .by_number
                .shard(&n)
                .get(&n)
                .and_then(|s| s.active.or(s.last)),
        };
        let Some(id) = id else {
            return self.checked(CheckResult::NotFound, None);
        };
        let mut shard = self.store.by_id.shard(&id);
        let Some(v) = shard.get_mut(&id) else {
            drop(shard);
            return self.checked(CheckResult::NotFound, None);
        };
        match v.status {
            Status::Pending => {}
            Status::Expired => {
                let view = v.view(&self.workflow);
                drop(shard);
                return self.checked(CheckResult::Expired, Some(view));
            }
            _ => {
                drop(shard);
                return self.checked(CheckResult::NotFound, None);
            }
        }
        v.updated_ms = now;
        let to = v.to;
        self.guard.checked(to, now);
        let result = if now >= v.expires_ms {
            v.status = Status::Expired;
            CheckResult::Expired
        } else if v.checks >= self.cfg.codes.max_checks {
            v.status = Status::MaxAttempts;
            CheckResult::MaxAttempts
        } else {
            v.checks += 1;
            let binding = Binding {
                amount: amount.or(v.amount.as_deref()),
                payee: payee.or(v.payee.as_deref()),
            };
            if self.codes.check(v.id, &v.stored, code.trim(), binding, now) {
                v.status = Status::Approved;
                CheckResult::Approved
            } else {
                CheckResult::WrongCode
            }
        };
        let view = v.view(&self.workflow);
        let (created, country) = (v.created_ms, v.country.clone());
        drop(shard);
        if result == CheckResult::Approved {
            self.guard.verified(to, country.as_deref(), created, now);
        }
        if view.status != Status::Pending {
            self.store.ended(id, to);
        }
        self.checked(result, Some(view))
    }

    fn checked(&self, result: CheckResult, view: Option<View>) -> Checked {
        self.metrics.check(result);
        Checked { result, view }
    }

    /// Ends a pending verification as `status` (canceled, or approved out of band); `None`
    /// when it is not pending.
    pub(crate) fn finish(&self, id: u128, status: Status) -> Option<View> {
        let now = now_ms();
        let mut shard = self.store.by_id.shard(&id);
        let v = shard.get_mut(&id).filter(|v| v.status == Status::Pending)?;
        v.status = status;
        v.updated_ms = now;
        let (to, view, created, country) = (
            v.to,
            v.view(&self.workflow),
            v.created_ms,
            v.country.clone(),
        );
        drop(shard);
        if status == Status::Approved {
            self.guard.verified(to, country.as_deref(), created, now);
        }
        self.store.ended(id, to);
        Some(view)
    }
}
