//! One verification, as one user lives it: ask for a code at the intended time, wait for it
//! on the phone (asking again after a while, giving up after longer), read and type it (maybe
//! wrongly first), check it, and end in exactly one outcome. Every latency is measured from the
//! intended start time, so a slow service shows as latency, not as fewer users.
//!
//! The flow owns its number from the pick to its end; when the run's drain is over it ends at
//! once as `failed: unfinished`, so every user is accounted for.
//!
//! A population's persona picks the flow: genuine users, open-SMS abusers, VoIP farms, API-key
//! bots, human farms, SIM-swap takeovers and recycled-number owners live the user's flow (the
//! last two after a life event of their number at the carrier); SMS pumpers, OTP bombers and
//! number-set bots only ask ([`ask_only`]); brute forcers ask and guess ([`brute_force`]).
//! Every start request goes through [`ask`], which records it in the abuse ledger with the
//! population that made it, so the service is judged against ground truth.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::shared::Owners;
use super::shared::{Delivery, Receipts, Slots};
use crate::measure::abuse::Answered;
use crate::measure::{End, Measure, Outcome, Route};
use crate::scenario::{BotToken, ChannelChoice, PersonaFile, Plan};
use crate::target::control::Control;
use crate::target::{CheckAnswer, Service, StartAnswer, StartReq, failover};
use crate::users::behaviour::{Choices, User};

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
    /// Verifications of attack personas under way.
    pub attack_in_flight: AtomicU64,
    /// The most at once.
    pub peak_attack_in_flight: AtomicU64,
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
    /// Which population last asked for each number.
    pub owners: Owners,
    /// The carrier's control plane (numbers' life events).
    pub control: Control,
}

/// Counters of the handset stream.
#[derive(Debug, Default)]
pub struct HandsetCounters {
    /// Codes handed to their flow.
    pub codes: AtomicU64,
    /// Deliveries to flows that had their code.
    pub extra: AtomicU64,
    /// Deliveries to numbers no flow uses and no population asked for.
    pub stray: AtomicU64,
    /// Deliveries to numbers a persona asked for without waiting for the code.
    pub unwaited: AtomicU64,
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
    /// The number (taken in the slots when the user waits for a code).
    pub number: u64,
    /// Where the code will come, for users that wait for one (the number is then theirs in
    /// the slots until their flow ends).
    pub code: Option<oneshot::Receiver<Delivery>>,
    /// Whether the number was taken in the slots.
    pub slotted: bool,
    /// A number-set bot's round: the bot and its numbers.
    pub set: Option<(u64, Arc<[u64]>)>,
}

#[derive(Debug, Default)]
struct State {
    /// The user's first request was counted as sent (attempted).
    attempted: bool,
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
    let attack = ctx.plan.populations[a.population].persona.is_attack();
    if attack {
        let n = ctx.attack_in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        ctx.peak_attack_in_flight.fetch_max(n, Ordering::Relaxed);
    }
    let mut st = State::default();
    let ended = tokio::select! {
        biased;
        () = ctx.cancel.cancelled() => (Outcome::Failed, Cow::Borrowed("unfinished")),
        end = live(&ctx, &mut a, &mut st) => end,
    };
    let (outcome, reason) = ended;
    // Every user that arrived is counted as attempted, also one whose flow ended before its
    // first request (the run's end, a failed life event of its number).
    if !st.attempted {
        sent(&ctx, &a, &mut st);
    }
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
    if a.slotted {
        ctx.slots.free(a.number);
    }
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
    if attack {
        ctx.attack_in_flight.fetch_sub(1, Ordering::Relaxed);
    }
    ctx.in_flight.fetch_sub(1, Ordering::Relaxed);
}

/// How a flow ended: the outcome and its reason (the service's word for a refusal).
type Ended = (Outcome, Cow<'static, str>);

fn end(o: Outcome, reason: &'static str) -> Ended {
    (o, Cow::Borrowed(reason))
}

/// Lifetime of a minted attestation token (wall seconds; the verifier's `max_ttl` is 300 s).
const TOKEN_TTL_S: u64 = 60;
/// The key an API-key bot's forged tokens are signed with: not the app's.
const FORGED_KEY: &str = "not-the-app-attestation-key";

/// A start request of population `pop` in `phase`: the number's owner is noted first (the
/// carrier may bill before the answer comes), and the answer goes into the abuse ledger.
async fn ask(ctx: &Ctx, pop: usize, phase: usize, req: &StartReq<'_>) -> StartAnswer {
    ctx.owners.set(req.to, pop);
    let at = ctx.since_zero(Instant::now());
    let answer = ctx.service.start(req).await;
    let seen = match &answer {
        StartAnswer::Started { .. } => Answered::Served,
        StartAnswer::Refused { reason } => Answered::Refused(reason),
        StartAnswer::Failed { .. } => Answered::Failed,
    };
    ctx.measure().abuse.request(pop, phase, at, seen);
    answer
}

/// What a user sends besides the number: their device (one is made up for the token when
/// attestation is in force and the population has none) and the attestation token, as their
/// persona would send it.
fn credentials(ctx: &Ctx, pop: usize, index: u64, c: &Choices) -> (Option<String>, Option<String>) {
    let persona = &ctx.plan.populations[pop].persona;
    let key = ctx.plan.attestation_key();
    let device = c
        .device_id
        .clone()
        .or_else(|| key.map(|_| format!("app-{pop}-{index}")));
    let token = match persona {
        PersonaFile::ApiKeyBot {
            token: BotToken::None,
        } => None,
        PersonaFile::ApiKeyBot {
            token: BotToken::Forged,
        } => Some(verifier::attestation_token(
            FORGED_KEY,
            device.as_deref().unwrap_or(""),
            TOKEN_TTL_S,
        )),
        _ => key
            .map(|k| verifier::attestation_token(k, device.as_deref().unwrap_or(""), TOKEN_TTL_S)),
    };
    (device, token)
}

/// Records the send of the user's first request (lag behind the intended time) for the
/// run's counters.
fn sent(ctx: &Ctx, a: &Arrival, st: &mut State) {
    st.attempted = true;
    let sent = Instant::now();
    let lag = sent.saturating_duration_since(a.intended);
    let at = ctx.since_zero(sent);
    ctx.first_send_ns.fetch_min(at, Ordering::Relaxed);
    ctx.last_send_ns.fetch_max(at, Ordering::Relaxed);
    ctx.measure().sent(
        a.population,
        a.phase,
        lag,
        lag > ctx.plan.settings.behind_tolerance,
    );
}

/// A user's first start request: counted as sent, asked, its answer timed from the intended
/// start; on a refusal or a failure, how the flow ends.
async fn first_ask(
    ctx: &Ctx,
    a: &Arrival,
    st: &mut State,
    req: &StartReq<'_>,
) -> Result<(), Ended> {
    sent(ctx, a, st);
    let answer = ask(ctx, a.population, a.phase, req).await;
    let started = matches!(answer, StartAnswer::Started { .. });
    ctx.measure()
        .answered(a.population, a.phase, a.intended.elapsed(), started);
    match answer {
        StartAnswer::Started { id } => {
            st.started = true;
            st.id = id;
            Ok(())
        }
        StartAnswer::Refused { reason } => Err((Outcome::Refused, Cow::Owned(reason))),
        StartAnswer::Failed { reason, detail } => {
            ctx.failure(reason, &detail);
            Err(end(Outcome::Failed, reason))
        }
    }
}

async fn live(ctx: &Ctx, a: &mut Arrival, st: &mut State) -> Ended {
    match &ctx.plan.populations[a.population].persona {
        PersonaFile::SmsPumping
        | PersonaFile::OtpBomber { .. }
        | PersonaFile::NumberSetBot { .. } => ask_only(ctx, a, st).await,
        PersonaFile::BruteForcer {
            guesses,
            guess_gap,
            code_digits,
        } => brute_force(ctx, a, st, *guesses, *guess_gap, *code_digits).await,
        PersonaFile::SimSwapTakeover { swap: true } => {
            if let Err(e) = ctx.control.number_event(a.number, "sim-swap").await {
                ctx.failure("number_event", &e);
                return end(Outcome::Failed, "number_event");
            }
            user(ctx, a, st).await
        }
        PersonaFile::RecycledNumberOwner => {
            if let Err(e) = ctx.control.number_event(a.number, "recycle").await {
                ctx.failure("number_event", &e);
                return end(Outcome::Failed, "number_event");
            }
            user(ctx, a, st).await
        }
        _ => user(ctx, a, st).await,
    }
}

/// Asks for codes and never checks them: one number, or a number-set bot's whole set, from
/// one device and IP. Ends refused when every request was, else abandoned (`never_checks`).
async fn ask_only(ctx: &Ctx, a: &mut Arrival, st: &mut State) -> Ended {
    let plan = &ctx.plan;
    let pop = &plan.populations[a.population];
    // A bot keeps its device and IP from round to round: its choices come from its own stream.
    let (who, numbers): (u64, Arc<[u64]>) = match &a.set {
        Some((bot, set)) => (u64::MAX - 2 - bot, Arc::clone(set)),
        None => (a.index, Arc::from(vec![a.number])),
    };
    let mut u = User::new(pop, plan.seed, a.population, who, plan.time_scale);
    let choices = u.choices();
    let (device, _) = credentials(ctx, a.population, who, &choices);
    sent(ctx, a, st);
    let mut refused = None;
    let mut failed = None;
    for (i, n) in numbers.iter().enumerate() {
        let (_, token) = credentials(ctx, a.population, who, &choices);
        let req = StartReq {
            to: *n,
            channel: choices.channel,
            client_ip: choices.client_ip.as_deref(),
            device_id: device.as_deref(),
            attestation: token.as_deref(),
        };
        let answer = ask(ctx, a.population, a.phase, &req).await;
        if i == 0 {
            ctx.measure().answered(
                a.population,
                a.phase,
                a.intended.elapsed(),
                matches!(answer, StartAnswer::Started { .. }),
            );
        }
        match answer {
            StartAnswer::Started { .. } => st.started = true,
            StartAnswer::Refused { reason } => {
                refused.get_or_insert(reason);
            }
            StartAnswer::Failed { reason, detail } => {
                ctx.failure(reason, &detail);
                failed.get_or_insert(reason);
            }
        }
    }
    match (st.started, refused, failed) {
        (true, _, _) => end(Outcome::Abandoned, "never_checks"),
        (false, Some(r), _) => (Outcome::Refused, Cow::Owned(r)),
        (false, None, Some(f)) => end(Outcome::Failed, f),
        (false, None, None) => end(Outcome::Failed, "start_error"),
    }
}

/// Starts a verification for a number the attacker does not hold and guesses codes until one
/// is approved, the service stops answering them, or the guesses are spent.
async fn brute_force(
    ctx: &Ctx,
    a: &mut Arrival,
    st: &mut State,
    guesses: u32,
    gap: Duration,
    digits: usize,
) -> Ended {
    let plan = &ctx.plan;
    let pop = &plan.populations[a.population];
    let mut u = User::new(pop, plan.seed, a.population, a.index, plan.time_scale);
    let choices = u.choices();
    let (device, token) = credentials(ctx, a.population, a.index, &choices);
    let req = StartReq {
        to: a.number,
        channel: choices.channel,
        client_ip: choices.client_ip.as_deref(),
        device_id: device.as_deref(),
        attestation: token.as_deref(),
    };
    if let Err(ended) = first_ask(ctx, a, st, &req).await {
        return ended;
    }
    let p = a.population;
    for g in 0..guesses {
        if g > 0 {
            tokio::time::sleep(gap.div_f64(plan.time_scale)).await;
        }
        let code = u.guess(digits);
        st.checks += 1;
        let answer = ctx.service.check(st.id.as_deref(), a.number, &code).await;
        let refused = matches!(
            answer,
            CheckAnswer::MaxAttempts | CheckAnswer::NotFound | CheckAnswer::Expired
        );
        ctx.measure()
            .abuse
            .guess(p, refused, answer == CheckAnswer::Approved);
        match answer {
            CheckAnswer::Approved => {
                st.verify = Some(a.intended.elapsed());
                return end(Outcome::Verified, "");
            }
            CheckAnswer::Wrong => {}
            CheckAnswer::Expired => return end(Outcome::Expired, "check"),
            CheckAnswer::MaxAttempts => return end(Outcome::Failed, "max_attempts"),
            CheckAnswer::NotFound => return end(Outcome::Failed, "not_found"),
            CheckAnswer::Failed(detail) => {
                ctx.failure("check_error", &detail);
                return end(Outcome::Failed, "check_error");
            }
        }
    }
    end(Outcome::Abandoned, "guesses_spent")
}

/// The user's flow: ask, wait for the code (asking again, giving up), read it, type it.
async fn user(ctx: &Ctx, a: &mut Arrival, st: &mut State) -> Ended {
    let plan = &ctx.plan;
    let pop = &plan.populations[a.population];
    let mut user = User::new(pop, plan.seed, a.population, a.index, plan.time_scale);
    let choices = user.choices();
    let (device, token) = credentials(ctx, a.population, a.index, &choices);
    let req = StartReq {
        to: a.number,
        channel: choices.channel,
        client_ip: choices.client_ip.as_deref(),
        device_id: device.as_deref(),
        attestation: token.as_deref(),
    };
    let Some(mut code_rx) = a.code.take() else {
        return end(Outcome::Failed, "no_slot");
    };

    if let Err(ended) = first_ask(ctx, a, st, &req).await {
        return ended;
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
            d = &mut code_rx => match d {
                Ok(d) => break d,
                // The slot went away: only the end of the run does that.
                Err(_) => return end(Outcome::Failed, "unfinished"),
            },
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                if Some(wake) == resend_at && wake < wait_end {
                    resends += 1;
                    last_ask = Instant::now();
                    ctx.measure().resent(a.population, a.phase);
                    // A fresh token: the first one was used.
                    let (_, fresh) = credentials(ctx, a.population, a.index, &choices);
                    let again = StartReq { attestation: fresh.as_deref(), ..req };
                    // A refused or failed resend leaves the first code on its way.
                    if let StartAnswer::Failed { reason, detail } =
                        ask(ctx, a.population, a.phase, &again).await
                    {
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
    let steered = match choices.channel {
        ChannelChoice::Sms => delivery.route.channel != "sms",
        ChannelChoice::Voice => delivery.route.channel != "voice",
        ChannelChoice::Auto => false,
    };
    {
        let mut m = ctx.measure();
        m.delivered(a.population, a.phase, since, &delivery.route);
        m.abuse.delivered(a.population, steered);
    }
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
                ctx.measure().abuse.verified(a.population);
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
