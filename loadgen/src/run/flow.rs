//! One verification, as one user lives it: ask for a code at the intended time, wait for it
//! on the phone (asking again after a while, giving up after longer), read and type it (maybe
//! wrongly first), check it, and end in exactly one outcome. Every latency is measured from the
//! intended start time, so a slow service shows as latency, not as fewer users.
//!
//! The flow owns its number from the pick to its end; when the run's drain is over it ends at
//! once as `failed: unfinished`, so every user is accounted for.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::shared::{Delivery, Receipts, Slots};
use crate::measure::{End, Measure, Outcome, Route};
use crate::scenario::Plan;
use crate::target::{CheckAnswer, Service, StartAnswer, StartReq, failover};
use crate::users::behaviour::User;

/// Wrong codes a user types at most before giving up on typing (a typo rate near 1 would
/// otherwise loop until the service's attempt limit; the service answers first).
const MAX_TYPOS: u64 = 20;
/// Distinct failure details kept for the report.
const FAILURE_SAMPLES: usize = 20;

/// What every flow shares.
#[derive(Debug)]
pub struct Ctx {
    /// The plan.
    pub plan: Arc<Plan>,
    /// The service.
    pub service: Service,
    /// Numbers in use.
    pub slots: Slots,
    /// Receipts of code-carrying messages.
    pub receipts: Receipts,
    /// Measurements.
    pub measure: Mutex<Measure>,
    /// The start of the load.
    pub zero: Instant,
    /// Cancelled when the drain is over.
    pub cancel: CancellationToken,
    /// Verifications under way.
    pub in_flight: AtomicU64,
    /// The most at once.
    pub peak_in_flight: AtomicU64,
    /// First and last start sent, and last approval (ns from zero; first is `u64::MAX`
    /// until one is sent).
    pub first_send_ns: AtomicU64,
    /// Last start sent.
    pub last_send_ns: AtomicU64,
    /// Last approval.
    pub last_verified_ns: AtomicU64,
    /// Counters of the handset stream.
    pub handsets: HandsetCounters,
    /// Failure details, by text (bounded).
    pub failures: Mutex<BTreeMap<String, u64>>,
    /// How long a verification lives at the service (wall).
    pub expiry: Duration,
}

/// Counters of the handset stream.
#[derive(Debug, Default)]
pub struct HandsetCounters {
    /// Codes handed to their flow.
    pub codes: AtomicU64,
    /// Deliveries to flows that had their code.
    pub extra: AtomicU64,
    /// Deliveries to numbers no flow uses.
    pub stray: AtomicU64,
    /// Deliveries without a code.
    pub unreadable: AtomicU64,
    /// Events missed.
    pub lagged: AtomicU64,
    /// Receipts matched.
    pub receipts_matched: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ctx {
    fn measure(&self) -> std::sync::MutexGuard<'_, Measure> {
        lock(&self.measure)
    }

    fn since_zero(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.zero).as_nanos() as u64
    }

    /// Keeps a failure's detail for the report (the first few kinds, counted).
    pub fn failure(&self, what: &str, detail: &str) {
        let key = format!("{what}: {detail}");
        let mut f = lock(&self.failures);
        if let Some(n) = f.get_mut(&key) {
            *n += 1;
        } else if f.len() < FAILURE_SAMPLES {
            f.insert(key, 1);
        }
    }
}

/// One user's arrival.
#[derive(Debug)]
pub struct Arrival {
    /// Population index.
    pub population: usize,
    /// Phase index (of the intended time).
    pub phase: usize,
    /// Arrival index within the population (the user's random stream).
    pub index: u64,
    /// Intended start.
    pub intended: Instant,
    /// The number, taken in the slots.
    pub number: u64,
    /// Where the code will come.
    pub code: oneshot::Receiver<Delivery>,
}

#[derive(Debug, Default)]
struct State {
    started: bool,
    id: Option<String>,
    route: Option<Route>,
    delivery: Option<Duration>,
    verify: Option<Duration>,
    typos: u64,
    checks: u64,
}

/// Runs one verification to its end.
pub async fn flow(ctx: Arc<Ctx>, mut a: Arrival) {
    let n = ctx.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    ctx.peak_in_flight.fetch_max(n, Ordering::Relaxed);
    let mut st = State::default();
    let ended = tokio::select! {
        biased;
        () = ctx.cancel.cancelled() => (Outcome::Failed, Cow::Borrowed("unfinished")),
        end = live(&ctx, &mut a, &mut st) => end,
    };
    let (outcome, reason) = ended;
    let mut fo = None;
    let mut routed = None;
    if st.started
        && reason != "unfinished"
        && ctx.plan.settings.attempts
        && ctx.service.has_attempts()
        && let Some(id) = &st.id
    {
        let attempts = tokio::select! {
            () = ctx.cancel.cancelled() => None,
            a = ctx.service.attempts(id) => a,
        };
        if let Some(list) = attempts {
            (fo, routed) = failover(&list);
        }
    }
    ctx.slots.free(a.number);
    ctx.measure().ended(&End {
        population: a.population,
        phase: a.phase,
        outcome,
        reason: &reason,
        started: st.started,
        delivery: st.delivery,
        verify: st.verify,
        route: st.route.clone(),
        typos: st.typos,
        checks: st.checks,
        failover: fo.as_ref().map(|(c, d)| (c.as_str(), *d)),
        routed: routed.as_deref(),
    });
    if outcome == Outcome::Verified {
        ctx.last_verified_ns
            .fetch_max(ctx.since_zero(Instant::now()), Ordering::Relaxed);
    }
    ctx.in_flight.fetch_sub(1, Ordering::Relaxed);
}

/// How a flow ended: the outcome and its reason (the service's word for a refusal).
type Ended = (Outcome, Cow<'static, str>);

fn end(o: Outcome, reason: &'static str) -> Ended {
    (o, Cow::Borrowed(reason))
}

async fn live(ctx: &Ctx, a: &mut Arrival, st: &mut State) -> Ended {
    let plan = &ctx.plan;
    let pop = &plan.populations[a.population];
    let mut user = User::new(pop, plan.seed, a.population, a.index, plan.time_scale);
    let choices = user.choices();
    let req = StartReq {
        to: a.number,
        channel: choices.channel,
        client_ip: choices.client_ip.as_deref(),
        device_id: choices.device_id.as_deref(),
    };

    let sent = Instant::now();
    let lag = sent.saturating_duration_since(a.intended);
    let at = ctx.since_zero(sent);
    ctx.first_send_ns.fetch_min(at, Ordering::Relaxed);
    ctx.last_send_ns.fetch_max(at, Ordering::Relaxed);
    ctx.measure().sent(
        a.population,
        a.phase,
        lag,
        lag > plan.settings.behind_tolerance,
    );
    let answer = ctx.service.start(&req).await;
    let response = a.intended.elapsed();
    let started = matches!(answer, StartAnswer::Started { .. });
    ctx.measure()
        .answered(a.population, a.phase, response, started);
    match answer {
        StartAnswer::Started { id } => {
            st.started = true;
            st.id = id;
        }
        StartAnswer::Refused { reason } => return (Outcome::Refused, Cow::Owned(reason)),
        StartAnswer::Failed { reason, detail } => {
            ctx.failure(reason, &detail);
            return end(Outcome::Failed, reason);
        }
    }

    // Waiting for the code: asking again after `resend_after`, giving up after
    // `give_up_after`, or until the verification expires.
    let b = &pop.behaviour;
    let wall = |d: Duration| d.div_f64(plan.time_scale);
    let expires = a.intended + ctx.expiry;
    let give_up = b.give_up_after.map(|d| a.intended + wall(d));
    let wait_end = give_up.map_or(expires, |g| g.min(expires));
    let mut resends = 0;
    let mut last_ask = a.intended;
    let delivery = loop {
        let resend_at = b
            .resend_after
            .filter(|_| resends < b.max_resends)
            .map(|d| last_ask + wall(d));
        let wake = resend_at.map_or(wait_end, |r| r.min(wait_end));
        tokio::select! {
            d = &mut a.code => match d {
                Ok(d) => break d,
                // The slot went away: only the end of the run does that.
                Err(_) => return end(Outcome::Failed, "unfinished"),
            },
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                if Some(wake) == resend_at && wake < wait_end {
                    resends += 1;
                    last_ask = Instant::now();
                    ctx.measure().resent(a.population, a.phase);
                    // A refused or failed resend leaves the first code on its way.
                    if let StartAnswer::Failed { reason, detail } = ctx.service.start(&req).await {
                        ctx.failure(reason, &detail);
                    }
                    continue;
                }
                return if give_up.is_some_and(|g| wake >= g) && wake < expires {
                    end(Outcome::Abandoned, "no_code")
                } else {
                    end(Outcome::Expired, "not_delivered")
                };
            }
        }
    };
    let since = delivery.at.saturating_duration_since(a.intended);
    st.delivery = Some(since);
    st.route = Some(delivery.route.clone());
    ctx.measure()
        .delivered(a.population, a.phase, since, &delivery.route);
    // Only SMS has delivery receipts; a call's outcome is the call itself.
    if delivery.route.channel == "sms"
        && let Some(m) = ctx
            .receipts
            .claim(&delivery.message_id, a.intended, &delivery.route)
    {
        ctx.handsets
            .receipts_matched
            .fetch_add(1, Ordering::Relaxed);
        ctx.measure().receipt(
            m.at.saturating_duration_since(m.intended),
            &m.route,
            &m.stat,
        );
    }
    let Some(code) = delivery.code else {
        return end(Outcome::Failed, "no_code_in_message");
    };
    if choices.abandons {
        return end(Outcome::Abandoned, "chose");
    }

    tokio::time::sleep(user.read_time()).await;
    loop {
        let typo = st.typos < MAX_TYPOS && user.typo();
        let typed = if typo {
            user.mistype(&code)
        } else {
            code.clone()
        };
        st.checks += 1;
        match ctx.service.check(st.id.as_deref(), a.number, &typed).await {
            CheckAnswer::Approved if typo => return end(Outcome::Failed, "wrong_code_approved"),
            CheckAnswer::Approved => {
                st.verify = Some(a.intended.elapsed());
                return end(Outcome::Verified, "");
            }
            CheckAnswer::Wrong if typo => {
                st.typos += 1;
                tokio::time::sleep(user.retype_time()).await;
            }
            CheckAnswer::Wrong => return end(Outcome::Failed, "code_rejected"),
            CheckAnswer::Expired => return end(Outcome::Expired, "check"),
            CheckAnswer::MaxAttempts => return end(Outcome::Failed, "max_attempts"),
            CheckAnswer::NotFound => return end(Outcome::Failed, "not_found"),
            CheckAnswer::Failed(detail) => {
                ctx.failure("check_error", &detail);
                return end(Outcome::Failed, "check_error");
            }
        }
    }
}
