//! Verifications in memory: by id in a sharded map, each number's pending and last verification
//! in another, the ended ones in a bounded history (for `GET /v1/verifications/{id}`), so memory
//! is bounded by `max_pending` + `keep_ended`; and each number's recent send times in a
//! fixed-memory table (`limits.send_history` numbers).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::config::Channel;
use crate::metrics::labels::Cause;
use crate::otp::Stored;
use crate::support::clock::wall;
use crate::support::msisdn::Msisdn;
use crate::support::sharded::{Sharded, lock};
use crate::support::table::Table;

/// The channel a start asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Requested {
    /// SMS steps only.
    Sms,
    /// Voice steps only.
    Voice,
    /// The whole workflow.
    Auto,
}

impl Requested {
    /// Parses `sms`, `voice` (`call` as Twilio says) or `auto`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sms" => Requested::Sms,
            "voice" | "call" => Requested::Voice,
            "auto" => Requested::Auto,
            _ => return None,
        })
    }
}

/// Where a verification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Waiting for the code.
    Pending,
    /// The right code was checked (or it was approved through the API).
    Approved,
    /// It lived past its expiry.
    Expired,
    /// Too many checks.
    MaxAttempts,
    /// Canceled through the API (or replaced by a start with another amount or payee).
    Canceled,
}

/// One send of the code.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Attempt {
    /// `sms` or `voice`.
    pub channel: Channel,
    /// Carrier name.
    pub carrier: String,
    /// The SMSC's message id (SMS).
    pub message_id: Option<String>,
    /// The call id (voice).
    pub call_id: Option<String>,
    /// When it was sent (or tried).
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    /// Receipt state (`DELIVRD`, `UNDELIV`, ...) or call outcome (`answered`, `busy`, ...).
    pub receipt_status: Option<String>,
    /// When the receipt (or call outcome) came.
    pub receipt_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why the workflow left this step, when it did.
    pub failover_cause: Option<Cause>,
    /// Details of the cause (status, error).
    pub failover_detail: Option<String>,
    /// Why the step was chosen when it was not simply the next (`landline`, `guard_voice`).
    pub routed: Option<Cause>,
    #[serde(skip)]
    pub(crate) pos: u16,
    #[serde(skip)]
    pub(crate) round: u32,
}

/// A verification.
#[derive(Debug, Clone)]
pub(crate) struct Verification {
    pub id: u128,
    pub to: Msisdn,
    pub status: Status,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub expires_ms: u64,
    pub stored: Stored,
    pub amount: Option<String>,
    pub payee: Option<String>,
    pub locale: Option<String>,
    pub account: Option<String>,
    pub country: Option<String>,
    pub checks: u32,
    pub sends: u32,
    /// Workflow step indices for this verification, in order.
    pub steps: Vec<u16>,
    /// Position in `steps` of the step in force.
    pub pos: u16,
    /// Bumped by each resend, so timers and receipts of an earlier round are ignored.
    pub round: u32,
    /// The step in force got its DELIVRD receipt (or its call was answered).
    pub delivered: bool,
    /// Why the first step was chosen, when not simply first.
    pub routed: Option<Cause>,
    pub attempts: Vec<Attempt>,
}

impl Verification {
    /// The channel of the step in force (or of the last step).
    pub(crate) fn channel(&self, workflow: &[(Channel, usize, u64)]) -> Channel {
        let pos = usize::from(self.pos).min(self.steps.len().saturating_sub(1));
        self.steps
            .get(pos)
            .map_or(Channel::Sms, |s| workflow[usize::from(*s)].0)
    }
}

/// A verification as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct View {
    /// `VE` and 32 hex digits.
    pub id: String,
    /// `+` and the digits.
    pub to: String,
    /// The channel of the step in force.
    pub channel: Channel,
    /// Status.
    pub status: Status,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Expires.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// Checks made.
    pub checks: u32,
    /// Sends of the code (the start and resends).
    pub sends: u32,
    /// Transaction amount the code is bound to.
    pub amount: Option<String>,
    /// Payee the code is bound to.
    pub payee: Option<String>,
    /// Locale of the messages.
    pub locale: Option<String>,
    /// The account (API key) that started it.
    pub account: Option<String>,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
}

/// `VE` and 32 lower-case hex digits, like Twilio's verification SIDs.
pub(crate) fn id_string(id: u128) -> String {
    format!("VE{id:032x}")
}

/// The id of `VE` + 32 hex digits.
pub(crate) fn parse_id(s: &str) -> Option<u128> {
    let hex = s.strip_prefix("VE")?;
    (hex.len() == 32)
        .then(|| u128::from_str_radix(hex, 16).ok())
        .flatten()
}

impl Verification {
    pub(crate) fn view(&self, workflow: &[(Channel, usize, u64)]) -> View {
        View {
            id: id_string(self.id),
            to: format!("+{}", self.to),
            channel: self.channel(workflow),
            status: self.status,
            created_at: wall(self.created_ms),
            updated_at: wall(self.updated_ms),
            expires_at: wall(self.expires_ms),
            checks: self.checks,
            sends: self.sends,
            amount: self.amount.clone(),
            payee: self.payee.clone(),
            locale: self.locale.clone(),
            account: self.account.clone(),
            attempts: self.attempts.clone(),
        }
    }
}

/// Per number: its pending verification and its last one. An entry lives while either is in
/// the store, so the index is bounded by `max_pending` + `keep_ended`.
#[derive(Debug, Default)]
pub(crate) struct NumberState {
    pub active: Option<u128>,
    pub last: Option<u128>,
}

/// The send times of one number within the send window (at most `max_sends`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Sends {
    pub times: Vec<u64>,
}

/// Rings of ended ids.
const ENDED_RINGS: usize = 16;

/// The store.
#[derive(Debug)]
pub(crate) struct Store {
    pub by_id: Sharded<u128, Verification>,
    pub by_number: Sharded<Msisdn, NumberState>,
    /// Send times per number in fixed memory: numbers sprayed at random push out each other's
    /// history, while a number being hammered stays (each send touches it).
    pub sends: Table<Sends>,
    /// Ended ids in the order they ended, spread over rings by id so that ending does not take
    /// one lock for everybody; each ring keeps its share of `keep_ended`.
    ended: Vec<Mutex<VecDeque<u128>>>,
    keep_per_ring: usize,
    pending: AtomicUsize,
}

impl Store {
    pub(crate) fn new(keep_ended: usize, send_history: usize) -> Self {
        Self {
            by_id: Sharded::default(),
            by_number: Sharded::default(),
            sends: Table::new(send_history),
            ended: (0..ENDED_RINGS)
                .map(|_| Mutex::new(VecDeque::new()))
                .collect(),
            keep_per_ring: keep_ended.div_ceil(ENDED_RINGS),
            pending: AtomicUsize::new(0),
        }
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Takes a pending slot unless `cap` are taken.
    pub(crate) fn reserve(&self, cap: usize) -> bool {
        self.pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                (p < cap).then_some(p + 1)
            })
            .is_ok()
    }

    pub(crate) fn release(&self) {
        self.pending.fetch_sub(1, Ordering::Relaxed);
    }

    /// Records that `v` (its shard lock released by the caller) ended: the number's pending
    /// slot is freed, and the oldest ended verifications beyond `keep_ended` are forgotten.
    pub(crate) fn ended(&self, id: u128, to: Msisdn) {
        self.release();
        {
            let mut numbers = self.by_number.shard(&to);
            if let Some(ns) = numbers.get_mut(&to)
                && ns.active == Some(id)
            {
                ns.active = None;
            }
        }
        let evicted: Vec<u128> = {
            let mut ended = lock(&self.ended[(id as usize) % ENDED_RINGS]);
            ended.push_back(id);
            let over = ended.len().saturating_sub(self.keep_per_ring);
            ended.drain(..over).collect()
        };
        for old in evicted {
            self.by_id.shard(&old).remove(&old);
        }
    }
}
