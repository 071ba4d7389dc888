//! The voice channel: calls that ring, are answered or not, and read a text to the handset.
//!
//! `POST /v1/calls` places a call the way a voice API does and returns its id at once; the call
//! then moves through queued -> ringing -> answered -> completed (or busy / no_answer / failed)
//! on timers drawn from the destination's voice behaviour, each change published as a `call`
//! event. An answered call puts its text in the handset inbox with channel `voice` (that is
//! what the person heard) and is billed per started minute at the range's price. Landlines and
//! other lines that take calls answer; lines that cannot take calls (pagers, say) fail, as do
//! calls through a carrier that is down and calls to absent subscribers.
//!
//! Decisions use their own seeded stream (keyed "voice", carrier, number, occurrence), so calls
//! never shift SMS decisions and the same seed gives the same call outcomes.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::World;
use super::behaviour::Voice;
use super::calls::{CallRecord, CallStatus};
use super::dist;
use super::events::EventKind;
use super::plan::Resolved;
use crate::handsets::{Channel, NewEntry};

/// Speaking rate used to time a call: words per second, read twice as voice OTP services do.
const WORDS_PER_SECOND: f64 = 2.5;

/// A call request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRequest {
    /// Number to call (E.164, with or without '+').
    pub to: String,
    /// Caller id.
    pub from: String,
    /// Text read to the callee.
    pub text: String,
    /// Carrier to place it through; default: the number's own carrier.
    #[serde(default)]
    pub carrier: Option<String>,
}

/// Why a call could not be placed at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    /// `to` is not a number.
    #[error("`to` must be an E.164 number (digits, optional '+'), not {0:?}")]
    BadNumber(String),
    /// `text` is empty.
    #[error("`text` must not be empty")]
    EmptyText,
    /// `text` is longer than a call reads.
    #[error("`text` has {chars} characters; a call reads at most {MAX_CALL_TEXT_CHARS}")]
    TextTooLong {
        /// Characters given.
        chars: usize,
    },
    /// As many calls as the voice channel carries are in progress.
    #[error("{MAX_ACTIVE_CALLS} calls are in progress; try again when some have ended")]
    Busy,
    /// The named carrier does not exist.
    #[error("no carrier named `{0}`")]
    UnknownCarrier(String),
}

/// The checked number (digits) of a call request, or why it cannot be placed.
pub(crate) fn check(req: &CallRequest) -> Result<String, CallError> {
    let to = match crate::world::plan::parse_number(req.to.trim()) {
        Ok(digits) => digits.to_string(),
        Err(_) => return Err(CallError::BadNumber(req.to.clone())),
    };
    if req.text.trim().is_empty() {
        return Err(CallError::EmptyText);
    }
    let chars = req.text.chars().count();
    if chars > MAX_CALL_TEXT_CHARS {
        return Err(CallError::TextTooLong { chars });
    }
    Ok(to)
}

/// Longest text a call reads (the talk time, and so the call's life, grows with it).
pub const MAX_CALL_TEXT_CHARS: usize = 1_000;
/// Most calls in progress at once (each is a task until it ends); more are refused.
pub const MAX_ACTIVE_CALLS: usize = 10_000;

/// How a call is carried: chosen by the SMPP side, which knows the carriers.
#[derive(Debug)]
pub(crate) struct Route {
    /// The carrier placing it.
    pub carrier: String,
    /// The carrier is in an outage.
    pub down: bool,
    /// Voice behaviour in force: the carrier's, refined by the number's ranges.
    pub voice: Voice,
    /// How many calls to this number the carrier decided before (seeds this one).
    pub occurrence: u32,
    /// Ends the call early when the carrier shuts down.
    pub stop: CancellationToken,
}

/// Why a call cannot connect before it rings, from what is known of its number and carrier.
fn failure(route: &Route, resolved: Option<&Resolved>, has_plan: bool) -> Option<&'static str> {
    if route.down {
        Some("carrier_outage")
    } else if resolved.is_none() && has_plan {
        Some("unallocated_number")
    } else if resolved.is_some_and(|r| !r.line_type.answers_calls()) {
        Some("not_voice_capable")
    } else if resolved.is_some_and(|r| r.absent) {
        Some("absent_subscriber")
    } else {
        None
    }
}

/// What happens to one call: how it ends and its timers (already scaled).
#[derive(Debug, Clone, Copy, PartialEq)]
struct CallDecision {
    end: End,
    ring: Duration,
    timeout: Duration,
}

/// Decides one call from its voice behaviour and its own random stream, in a fixed draw order
/// (so changing one probability does not reshuffle the others); `failure` wins over the draw.
fn decide<R: Rng + ?Sized>(
    voice: &Voice,
    failure: Option<&'static str>,
    time_scale: f64,
    rng: &mut R,
) -> CallDecision {
    let draw = dist::unit(rng);
    let ring = dist::scale(voice.ring_time.sample(rng), time_scale);
    let timeout = dist::scale(voice.no_answer_timeout.sample(rng), time_scale);
    let end = if let Some(reason) = failure {
        End::Failed(reason)
    } else if draw < voice.answer {
        End::Answered
    } else if draw < voice.answer + voice.busy {
        End::Busy
    } else if draw < voice.answer + voice.busy + voice.failed {
        End::Failed("network_failure")
    } else {
        End::NoAnswer
    };
    CallDecision { end, ring, timeout }
}

/// Places a call to `to` (checked by [`check`], `resolved` in the plan) along `route`; returns
/// its record (status queued) at once and plays it out on timers.
pub(crate) fn place(
    world: &Arc<World>,
    req: CallRequest,
    to: String,
    resolved: Option<&Resolved>,
    route: Route,
) -> Result<CallRecord, CallError> {
    // Each call in progress is a task: take a place or refuse before anything is recorded.
    let active = &world.calls.active;
    if active.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= MAX_ACTIVE_CALLS {
        active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        world
            .calls
            .refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(CallError::Busy);
    }
    // Shaped like the call ids of the voice APIs: "CA" and 32 hex digits.
    let id = format!("CA{}", uuid::Uuid::new_v4().simple());
    let record = CallRecord {
        call_id: id.clone(),
        carrier: route.carrier.clone(),
        from: req.from.clone(),
        to: to.clone(),
        status: CallStatus::Queued,
        reason: None,
        created_at: Utc::now(),
        answered_at: None,
        ended_at: None,
        duration_secs: 0,
        price: 0.0,
        currency: world.plan.currency().to_string(),
    };
    world.calls.insert(record.clone());
    publish(world, &record);

    // Decide everything now, from the call's own stream.
    let mut rng = dist::stream(
        world.seed,
        &[
            b"voice",
            route.carrier.as_bytes(),
            to.as_bytes(),
            &route.occurrence.to_le_bytes(),
        ],
    );
    let decision = decide(
        &route.voice,
        failure(&route, resolved, world.has_plan),
        world.time_scale,
        &mut rng,
    );
    let words = req.text.split_whitespace().count().max(1) as f64;
    let talk_secs = (2.0 * words / WORDS_PER_SECOND).ceil().max(5.0) as u64;
    let price_per_minute = resolved.map_or(0.0, |r| r.price_call_minute);
    let (minutes, price) = super::billing::call_charge(talk_secs, price_per_minute);
    let bill = Bill {
        carrier: world
            .billing
            .carrier_index(&route.carrier)
            .unwrap_or(usize::MAX),
        range: super::billing::range_slot(&world.plan, resolved),
        minutes,
        price,
    };
    let plan = Plan {
        id,
        to,
        from: req.from,
        text: req.text,
        carrier: route.carrier,
        end: decision.end,
        ring: decision.ring,
        timeout: decision.timeout,
        talk: Duration::from_secs(talk_secs),
        bill,
    };
    let tasks = world.calls.tasks.clone();
    let world = Arc::clone(world);
    tasks.spawn(async move {
        play(Arc::clone(&world), route.stop, plan).await;
        world
            .calls
            .active
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    });
    Ok(record)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Answered,
    Busy,
    NoAnswer,
    Failed(&'static str),
}

#[derive(Debug)]
struct Plan {
    id: String,
    to: String,
    from: String,
    text: String,
    carrier: String,
    end: End,
    ring: Duration,
    timeout: Duration,
    talk: Duration,
    bill: Bill,
}

/// What an answered call is billed, and where in the ledger.
#[derive(Debug, Clone, Copy)]
struct Bill {
    carrier: usize,
    range: usize,
    minutes: u64,
    price: f64,
}

fn publish(world: &World, r: &CallRecord) {
    world.events.publish(
        Some(&r.carrier),
        Some(&r.to),
        EventKind::Call {
            call_id: r.call_id.clone(),
            from: r.from.clone(),
            to: r.to.clone(),
            status: r.status.word().to_string(),
            price: r.ended_at.is_some().then_some(r.price),
        },
    );
}

fn set(world: &World, id: &str, f: impl FnOnce(&mut CallRecord)) {
    if let Some(r) = world.calls.update(id, f) {
        publish(world, &r);
    }
}

async fn play(world: Arc<World>, stop: CancellationToken, p: Plan) {
    let sleep = |d: Duration| {
        let stop = stop.clone();
        async move {
            tokio::select! {
                _ = tokio::time::sleep(d) => true,
                _ = stop.cancelled() => false,
            }
        }
    };
    let ended = |status: CallStatus, reason: Option<&str>| {
        let reason = reason.map(str::to_string);
        move |r: &mut CallRecord| {
            r.status = status;
            r.reason = reason;
            r.ended_at = Some(Utc::now());
        }
    };
    if let End::Failed(reason) = p.end {
        set(&world, &p.id, ended(CallStatus::Failed, Some(reason)));
        return;
    }
    set(&world, &p.id, |r| r.status = CallStatus::Ringing);
    match p.end {
        End::Busy => {
            // A busy tone comes back within a ring or so.
            if sleep(p.ring.min(Duration::from_secs(1))).await {
                set(&world, &p.id, ended(CallStatus::Busy, None));
            }
        }
        End::NoAnswer => {
            if sleep(p.timeout).await {
                set(&world, &p.id, ended(CallStatus::NoAnswer, None));
            }
        }
        End::Answered => {
            if !sleep(p.ring).await {
                return;
            }
            set(&world, &p.id, |r| {
                r.status = CallStatus::Answered;
                r.answered_at = Some(Utc::now());
            });
            world.handsets.deliver(
                &p.to,
                NewEntry {
                    channel: Channel::Voice,
                    from: p.from.clone(),
                    text: p.text.clone().into(),
                    carrier: p.carrier.as_str().into(),
                    reference: p.id.clone(),
                    parts: 1,
                    received_at: Utc::now(),
                },
            );
            world.events.publish(
                Some(&p.carrier),
                Some(&p.to),
                EventKind::HandsetDelivered {
                    message_id: p.id.clone(),
                    from: p.from.clone(),
                    to: p.to.clone(),
                    channel: Channel::Voice,
                    text: p.text.clone(),
                },
            );
            if sleep(dist::scale(p.talk, world.time_scale)).await {
                let (secs, bill) = (p.talk.as_secs(), p.bill);
                // Billed once the call has been talked through, as its record shows it.
                world
                    .billing
                    .bill_call(bill.carrier, bill.range, bill.minutes, bill.price);
                let price = bill.price;
                set(&world, &p.id, move |r| {
                    r.status = CallStatus::Completed;
                    r.ended_at = Some(Utc::now());
                    r.duration_secs = secs;
                    r.price = price;
                });
            }
        }
        End::Failed(_) => {}
    }
}
