//! The event bus: bounded fan-out of what happens in the world to its subscribers (WebSocket
//! clients of the control plane, and in-process feeds of embedders such as loadgen).
//!
//! The carrier calls [`EventBus::publish`] at each step a message or call goes through (accepted,
//! rejected, delivered to a handset, lost, receipt sent, call status, MO, carrier changes). The
//! bus is one ring of `capacity` events shared by every subscriber, and publishing costs the
//! same whatever the number of subscribers: with none it only counts; with any, it builds the
//! event once, writes it into the next slot, and at most once per [`WAKE_INTERVAL`] (longer
//! with many subscribers) wakes the subscribers (through one dispatcher task, not one wakeup per event and subscriber). Each
//! subscriber reads and filters on its own task, at its own pace; most filters are decided from
//! a compact header kept beside each slot (type, carrier, number digits) without touching the
//! event. The old bus (tokio's broadcast channel) woke every waiting subscriber on every publish
//! from the publishing session's thread: with 2,000 idle WebSocket subscribers SMPP throughput
//! fell from 20,000 to a few hundred messages per second.
//!
//! A subscriber that falls more than the ring's capacity behind loses the overwritten events; its
//! [`Subscription`] then yields one [`EventKind::Lagged`] event telling how many it missed.
//! Nothing is buffered per subscriber, so a stalled client costs nothing that grows with time.
//!
//! Subscriptions end when the bus is dropped or its shutdown token is cancelled, which lets a
//! server's graceful shutdown finish while WebSocket clients are connected.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::handsets::Channel;
use smpp::number::normalize;

/// One thing that happened in a carrier, as sent on the stream (one JSON object per event, with
/// the [`EventKind`] fields flattened next to a `"type"` tag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Bus-wide sequence number: 1 for the first event published, increasing by one per
    /// publish. A subscriber sees a subsequence of it. Synthesized [`EventKind::Lagged`] events
    /// carry 0.
    pub seq: u64,
    /// When it was published.
    pub at: DateTime<Utc>,
    /// Carrier the event belongs to, if any.
    #[serde(default)]
    pub carrier: Option<String>,
    /// The handset number the event concerns, normalized (no `+`): the destination for
    /// messages, calls and receipts, the sender for MO.
    #[serde(default)]
    pub number: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// The event's `"type"` tag.
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

/// What happened; serialized as `"type": "<snake_case variant>"` plus the variant's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A submit_sm (or data_sm) was accepted and got a message id.
    MessageAccepted {
        /// ESME account (system_id).
        account: String,
        /// Message id returned to the ESME.
        message_id: String,
        /// Source address.
        from: String,
        /// Destination address.
        to: String,
        /// SMS parts it counts for.
        parts: u8,
        /// What this submission was billed, in the plan currency: the SMS parts it counts for
        /// as carried in this submit (one per UDH part; a long `message_payload` counts all its
        /// parts) times its range's `price_sms`; 0 outside the plan. Absent in streams from
        /// before billing (read as 0).
        #[serde(default)]
        price: f64,
    },
    /// A submit was refused with an error status.
    MessageRejected {
        /// ESME account.
        account: String,
        /// Destination address.
        to: String,
        /// SMPP command_status returned.
        command_status: u32,
        /// Why, in words.
        reason: String,
    },
    /// A message or call text reached the handset's inbox.
    HandsetDelivered {
        /// Message id or call id.
        message_id: String,
        /// Sender.
        from: String,
        /// Handset number.
        to: String,
        /// SMS or voice.
        channel: Channel,
        /// Decoded text.
        text: String,
    },
    /// The message was lost on purpose (simulated loss): no handset delivery.
    MessageLost {
        /// Message id.
        message_id: String,
        /// Destination address.
        to: String,
    },
    /// A delivery receipt was sent to the ESME.
    ReceiptSent {
        /// ESME account.
        account: String,
        /// Message id the receipt is for.
        message_id: String,
        /// Destination of the original message.
        to: String,
        /// Receipt `stat:` (DELIVRD, UNDELIV, ...).
        stat: String,
        /// Receipt `err:`.
        err: String,
        /// True when this is a deliberate duplicate of an earlier receipt.
        duplicate: bool,
    },
    /// A voice call changed status.
    Call {
        /// Call id.
        call_id: String,
        /// Caller id.
        from: String,
        /// Called number.
        to: String,
        /// queued, ringing, answered, completed, busy, no_answer or failed.
        status: String,
        /// On a final status (completed, busy, no_answer, failed), what the call was billed in
        /// the plan currency: per started minute of talk time at the range's
        /// `price_call_minute` when it was answered, else 0. None on other statuses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        price: Option<f64>,
    },
    /// A handset sent a mobile-originated message.
    Mo {
        /// ESME account it is delivered to.
        account: String,
        /// Handset number (sender).
        from: String,
        /// Destination (the ESME's short code or number).
        to: String,
        /// Text.
        text: String,
    },
    /// A carrier's behaviour changed (timeline or control plane).
    CarrierChanged {
        /// outage_started, outage_ended or behaviour_changed.
        change: String,
        /// What changed, as JSON.
        detail: serde_json::Value,
    },
    /// A number's lookup answer was changed through the control plane (a SIM swap, a
    /// recycling, a port). The event's `number` is the number, its `carrier` the number's
    /// carrier before the change.
    NumberChanged {
        /// sim_swap, recycled or ported.
        change: String,
        /// The carrier it was ported to, when one was named.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ported_to: Option<String>,
    },
    /// This subscriber fell behind and `missed` events were overwritten before it read them.
    Lagged {
        /// Events skipped, counted over the whole ring (the filter cannot be applied to events
        /// that are gone, so some of them may not have matched).
        missed: u64,
    },
}

/// Every `"type"` tag, in declaration order.
pub const EVENT_TYPES: [&str; 10] = [
    "message_accepted",
    "message_rejected",
    "handset_delivered",
    "message_lost",
    "receipt_sent",
    "call",
    "mo",
    "carrier_changed",
    "number_changed",
    "lagged",
];

impl EventKind {
    /// Index of this variant's tag in [`EVENT_TYPES`].
    fn type_index(&self) -> u64 {
        match self {
            EventKind::MessageAccepted { .. } => 0,
            EventKind::MessageRejected { .. } => 1,
            EventKind::HandsetDelivered { .. } => 2,
            EventKind::MessageLost { .. } => 3,
            EventKind::ReceiptSent { .. } => 4,
            EventKind::Call { .. } => 5,
            EventKind::Mo { .. } => 6,
            EventKind::CarrierChanged { .. } => 7,
            EventKind::NumberChanged { .. } => 8,
            EventKind::Lagged { .. } => LAGGED as u64,
        }
    }

    /// The `"type"` tag this variant serializes with.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::MessageAccepted { .. } => EVENT_TYPES[0],
            EventKind::MessageRejected { .. } => EVENT_TYPES[1],
            EventKind::HandsetDelivered { .. } => EVENT_TYPES[2],
            EventKind::MessageLost { .. } => EVENT_TYPES[3],
            EventKind::ReceiptSent { .. } => EVENT_TYPES[4],
            EventKind::Call { .. } => EVENT_TYPES[5],
            EventKind::Mo { .. } => EVENT_TYPES[6],
            EventKind::CarrierChanged { .. } => EVENT_TYPES[7],
            EventKind::NumberChanged { .. } => EVENT_TYPES[8],
            EventKind::Lagged { .. } => EVENT_TYPES[9],
        }
    }
}

/// Most number prefixes one subscription may filter on.
pub const MAX_PREFIXES: usize = 256;
/// Longest number prefix accepted (digits).
pub const MAX_PREFIX_LEN: usize = 21;

/// Why a filter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A `type` that no event has.
    #[error("unknown event type {name:?}; valid types: {}", EVENT_TYPES.join(", "))]
    UnknownType {
        /// The name given.
        name: String,
    },
    /// A prefix that is not 1 to 21 digits (after an optional `+`).
    #[error("invalid number prefix {prefix:?}: expected 1 to {MAX_PREFIX_LEN} digits")]
    InvalidPrefix {
        /// The prefix given.
        prefix: String,
    },
    /// More than 256 prefixes.
    #[error("{count} number prefixes given, at most {MAX_PREFIXES} allowed")]
    TooManyPrefixes {
        /// How many were given.
        count: usize,
    },
}

/// Which events a subscription receives. Each empty or absent part matches everything;
/// non-empty parts must all match. [`EventKind::Lagged`] always passes: it is about the
/// subscription itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// The event's number starts with one of these (both compared without a leading `+`).
    /// Events that concern no number (carrier changes) do not match a non-empty prefix list.
    pub prefixes: Vec<String>,
    /// The event's `"type"` is one of these (see [`EVENT_TYPES`]).
    pub types: Vec<String>,
    /// The event belongs to this carrier.
    pub carrier: Option<String>,
}

impl EventFilter {
    /// A filter from the comma-separated query values of `GET /v1/events`
    /// (`prefix=4477,+4420&type=handset_delivered,receipt_sent&carrier=alpha`), validated:
    /// unknown types, non-digit prefixes and too many prefixes are refused.
    pub fn parse(
        prefixes: Option<&str>,
        types: Option<&str>,
        carrier: Option<&str>,
    ) -> Result<Self, FilterError> {
        let list = |s: Option<&str>| -> Vec<String> {
            s.unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let prefixes = list(prefixes);
        if prefixes.len() > MAX_PREFIXES {
            return Err(FilterError::TooManyPrefixes {
                count: prefixes.len(),
            });
        }
        let prefixes = prefixes
            .into_iter()
            .map(|p| {
                let digits = normalize(&p);
                if digits.is_empty()
                    || digits.len() > MAX_PREFIX_LEN
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    Err(FilterError::InvalidPrefix { prefix: p.clone() })
                } else {
                    Ok(digits.to_owned())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let types = list(types);
        if let Some(unknown) = types.iter().find(|t| !EVENT_TYPES.contains(&t.as_str())) {
            return Err(FilterError::UnknownType {
                name: unknown.clone(),
            });
        }
        let carrier = carrier
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        Ok(Self {
            prefixes,
            types,
            carrier,
        })
    }

    /// Whether `event` passes this filter.
    pub fn matches(&self, event: &Event) -> bool {
        if matches!(event.kind, EventKind::Lagged { .. }) {
            return true;
        }
        if !self.types.is_empty() && !self.types.iter().any(|t| t == event.type_name()) {
            return false;
        }
        if let Some(carrier) = &self.carrier
            && event.carrier.as_deref() != Some(carrier.as_str())
        {
            return false;
        }
        if !self.prefixes.is_empty() {
            let Some(number) = event.number.as_deref() else {
                return false;
            };
            let number = normalize(number);
            if !self
                .prefixes
                .iter()
                .any(|p| number.starts_with(normalize(p)))
            {
                return false;
            }
        }
        true
    }
}

/// How long the subscribers wait to hear of new events, per hundred subscribers (at most ten
/// times this): wakeups are batched to at most one per interval, whatever the event rate.
pub const WAKE_INTERVAL: Duration = Duration::from_millis(2);

/// Header value of an empty or overwritten slot.
const UNSET: u64 = 0;

/// One slot of the ring: the event, and beside it what filters need, readable without a lock.
#[derive(Debug, Default)]
struct Slot {
    /// Seq of the event in the slot (0 while being written).
    seq: AtomicU64,
    /// Type index (bits 0-3), carrier index plus one (bits 8-23; 0 = none), number length
    /// (bits 24-31; 0 = no number, 255 = not packable), "packed" flag (bit 32).
    head: AtomicU64,
    /// The number's first 16 digits, 4 bits each, most significant first.
    digits: AtomicU64,
    event: Mutex<Option<Arc<Event>>>,
}

/// What the bus and its subscriptions share.
#[derive(Debug)]
struct Shared {
    slots: Box<[Slot]>,
    mask: u64,
    /// Last seq written to the ring (or counted, while nobody subscribed).
    seq: AtomicU64,
    /// Events written to the ring.
    written: AtomicU64,
    /// Held while a seq is assigned and its slot written, so ring order is seq order.
    order: Mutex<()>,
    /// Live subscriptions.
    subscribers: AtomicUsize,
    /// Set when events were published since the subscribers were last woken.
    pending: AtomicBool,
    /// Wakes the dispatcher (who wakes the subscribers after [`WAKE_INTERVAL`]).
    kick: Notify,
    /// Where subscribers wait.
    readers: Notify,
    dispatcher: AtomicBool,
    closed: AtomicBool,
    /// Carrier names by index, for the slot headers.
    carriers: RwLock<Vec<String>>,
    shutdown: CancellationToken,
    limits: EventLimits,
    /// Subscriptions refused by [`EventLimits::max_subscribers`].
    refused: AtomicU64,
    /// Subscribers closed for lagging [`EventLimits::max_lags`] times.
    closed_lagging: AtomicU64,
}

/// Bounds of the event stream's subscribers (the ring itself holds `capacity` events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    /// Most subscriptions through [`EventBus::subscribe_capped`] (the WebSocket stream);
    /// more are refused (counted).
    pub max_subscribers: usize,
    /// A capped subscriber told this many times that it fell behind the ring is closed
    /// (counted).
    pub max_lags: u32,
}

impl Default for EventLimits {
    fn default() -> Self {
        Self {
            max_subscribers: 1_000,
            max_lags: 10,
        }
    }
}

/// Counts of the event stream's subscribers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberStats {
    /// Subscriptions open now (WebSocket streams and in-process feeds).
    pub open: usize,
    /// Subscriptions refused because `events.max_subscribers` were open.
    pub refused: u64,
    /// Subscribers closed after falling behind the ring `events.max_lags` times.
    pub closed_lagging: u64,
}

impl Shared {
    fn carrier_index(&self, name: &str) -> u64 {
        {
            let known = self.carriers.read().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = known.iter().position(|c| c == name) {
                return i as u64 + 1;
            }
        }
        let mut known = self.carriers.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = known.iter().position(|c| c == name) {
            return i as u64 + 1;
        }
        // More carriers than the header holds: the filter falls back to the event.
        if known.len() >= 0xFFFE {
            return 0xFFFF;
        }
        known.push(name.to_owned());
        known.len() as u64
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.shutdown.is_cancelled()
    }

    /// Starts the task that turns publish kicks into batched wakeups, once, on the runtime of
    /// the first subscriber that waits.
    fn ensure_dispatcher(self: &Arc<Self>) {
        if self.dispatcher.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::clone(self);
        tokio::spawn(async move {
            // Ends at shutdown, or when the bus is dropped (its drop kicks this awake).
            while !me.is_closed() {
                tokio::select! {
                    () = me.kick.notified() => {}
                    () = me.shutdown.cancelled() => return,
                }
                // Batch wakeups by the number of subscribers: 2 ms for up to 100, up to 20 ms
                // for a thousand or more, so waking them stays around 50,000 wakeups a second
                // at most, whatever the event rate (a 4,096-event ring at 60,000 events/s wraps
                // in 68 ms, so even the longest interval leaves each subscriber room to read).
                let subscribers = me.subscribers.load(Ordering::Relaxed);
                let batch = u32::try_from(subscribers.div_ceil(100).clamp(1, 10)).unwrap_or(10);
                tokio::time::sleep(WAKE_INTERVAL * batch).await;
                me.pending.store(false, Ordering::Release);
                me.readers.notify_waiters();
            }
        });
    }
}

/// Packs a number's digits for the slot header: `(length, digits, packed)`.
fn pack(number: &str) -> (u64, u64, bool) {
    let len = number.len();
    if len == 0 {
        return (0, 0, false);
    }
    if len > 16 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return (255, 0, false);
    }
    let mut digits = 0u64;
    for (i, b) in number.bytes().enumerate() {
        digits |= u64::from(b - b'0') << (60 - 4 * i);
    }
    (len as u64, digits, true)
}

/// A filter in the form the slot headers are checked against.
#[derive(Debug, Clone, Default)]
struct Compiled {
    /// Types wanted (bit per [`EVENT_TYPES`] index); all when empty.
    types: u16,
    /// Carrier index plus one; `None` for any carrier.
    carrier: Option<u64>,
    /// `(length, digits, mask)` per prefix; `None` when a prefix cannot be packed (the event
    /// decides then).
    prefixes: Option<Vec<(u64, u64, u64)>>,
}

impl Compiled {
    /// Whether the header already says the event does not match; `None` when it cannot tell.
    fn rejects(&self, filter: &EventFilter, head: u64, digits: u64) -> Option<bool> {
        let ty = head & 0xF;
        if self.types != 0 && self.types & (1 << ty) == 0 {
            return Some(true);
        }
        let carrier = (head >> 8) & 0xFFFF;
        if let Some(want) = self.carrier
            && (carrier == 0xFFFF || want == 0xFFFF)
        {
            return None;
        } else if let Some(want) = self.carrier
            && carrier != want
        {
            return Some(true);
        }
        if filter.prefixes.is_empty() {
            return Some(false);
        }
        let len = (head >> 24) & 0xFF;
        let packed = head & (1 << 32) != 0;
        let Some(prefixes) = &self.prefixes else {
            return None;
        };
        if len == 0 {
            return Some(true);
        }
        if !packed {
            return None;
        }
        let hit = prefixes
            .iter()
            .any(|&(plen, pdigits, pmask)| plen <= len && (digits ^ pdigits) & pmask == 0);
        Some(!hit)
    }
}

/// The process-wide event bus. Share it behind an [`Arc`].
#[derive(Debug)]
pub struct EventBus {
    shared: Arc<Shared>,
}

impl Drop for EventBus {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.readers.notify_waiters();
        self.shared.kick.notify_one();
    }
}

impl EventBus {
    /// A bus whose ring holds `capacity` events, rounded up to a power of two (at least 1);
    /// [`capacity`](Self::capacity) reports the effective size.
    #[cfg(test)]
    pub fn new(capacity: usize) -> Self {
        Self::with_shutdown(capacity, CancellationToken::new())
    }

    /// Like [`new`](Self::new), with streams that end when `shutdown` is cancelled (pass the
    /// server's shutdown token, or a child of it, so graceful shutdown does not wait on clients).
    #[cfg(test)]
    pub fn with_shutdown(capacity: usize, shutdown: CancellationToken) -> Self {
        Self::with_limits(capacity, EventLimits::default(), shutdown)
    }

    /// A bus with these subscriber limits.
    pub fn with_limits(capacity: usize, limits: EventLimits, shutdown: CancellationToken) -> Self {
        let capacity = capacity.clamp(1, 1 << 24).next_power_of_two();
        Self {
            shared: Arc::new(Shared {
                slots: (0..capacity).map(|_| Slot::default()).collect(),
                mask: capacity as u64 - 1,
                seq: AtomicU64::new(0),
                written: AtomicU64::new(0),
                order: Mutex::new(()),
                subscribers: AtomicUsize::new(0),
                pending: AtomicBool::new(false),
                kick: Notify::new(),
                readers: Notify::new(),
                dispatcher: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                carriers: RwLock::new(Vec::new()),
                shutdown,
                limits,
                refused: AtomicU64::new(0),
                closed_lagging: AtomicU64::new(0),
            }),
        }
    }

    /// Publish an event. It gets the next seq and the current time. When nobody subscribes
    /// the event is only counted (no allocation); after shutdown it is ignored.
    pub fn publish(&self, carrier: Option<&str>, number: Option<&str>, kind: EventKind) {
        self.publish_with(carrier, number, || kind);
    }

    /// Like [`publish`](Self::publish), building the kind only when someone subscribes: use it
    /// on hot paths where building the kind itself costs (formatting, cloning text).
    pub fn publish_with(
        &self,
        carrier: Option<&str>,
        number: Option<&str>,
        kind: impl FnOnce() -> EventKind,
    ) {
        let shared = &*self.shared;
        if shared.shutdown.is_cancelled() {
            return;
        }
        if shared.subscribers.load(Ordering::Relaxed) == 0 {
            shared.seq.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let number = number.map(|n| normalize(n).to_owned());
        let kind = kind();
        let (len, digits, packed) = pack(number.as_deref().unwrap_or(""));
        let carrier_index = carrier.map_or(0, |c| shared.carrier_index(c));
        let head =
            kind.type_index() | (carrier_index << 8) | (len << 24) | (u64::from(packed) << 32);
        let mut event = Event {
            seq: 0,
            at: Utc::now(),
            carrier: carrier.map(str::to_owned),
            number,
            kind,
        };
        {
            // The lock guards the order of (assign seq, write slot); poisoning is harmless.
            let _order = shared.order.lock().unwrap_or_else(|e| e.into_inner());
            let seq = shared.seq.load(Ordering::Relaxed) + 1;
            event.seq = seq;
            let slot = &shared.slots[(seq & shared.mask) as usize];
            slot.seq.store(UNSET, Ordering::Release);
            slot.head.store(head, Ordering::Relaxed);
            slot.digits.store(digits, Ordering::Relaxed);
            *slot.event.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(event));
            slot.seq.store(seq, Ordering::Release);
            shared.seq.store(seq, Ordering::Release);
            shared.written.fetch_add(1, Ordering::Relaxed);
        }
        if !shared.pending.swap(true, Ordering::AcqRel) {
            shared.kick.notify_one();
        }
    }

    /// Subscribe from now on: events published before this call are not seen.
    pub fn subscribe(&self, filter: EventFilter) -> Subscription {
        let filter = EventFilter {
            prefixes: filter
                .prefixes
                .iter()
                .map(|p| normalize(p).to_owned())
                .collect(),
            ..filter
        };
        let shared = &self.shared;
        let types = filter
            .types
            .iter()
            .filter_map(|t| EVENT_TYPES.iter().position(|n| n == t))
            .fold(0u16, |m, i| m | (1 << i));
        let prefixes = filter
            .prefixes
            .iter()
            .map(|p| {
                let (len, digits, packed) = pack(p);
                packed.then(|| (len, digits, u64::MAX << (64 - 4 * len)))
            })
            .collect::<Option<Vec<_>>>();
        let compiled = Compiled {
            types: if types == 0 { 0 } else { types | (1 << LAGGED) },
            carrier: filter.carrier.as_deref().map(|c| shared.carrier_index(c)),
            prefixes,
        };
        shared.subscribers.fetch_add(1, Ordering::Relaxed);
        // The lock orders this read against publishers: every event after it is seen.
        let next = {
            let _order = shared.order.lock().unwrap_or_else(|e| e.into_inner());
            shared.seq.load(Ordering::Acquire) + 1
        };
        Subscription {
            shared: Arc::clone(shared),
            next,
            filter,
            compiled,
            shutdown: shared.shutdown.clone(),
        }
    }

    /// Like [`subscribe`](Self::subscribe), unless `max_subscribers` are open already: then
    /// `None` (counted). What the WebSocket stream uses.
    pub fn subscribe_capped(&self, filter: EventFilter) -> Option<Subscription> {
        let shared = &self.shared;
        let max = shared.limits.max_subscribers;
        let mut open = shared.subscribers.load(Ordering::Relaxed);
        loop {
            if open >= max {
                shared.refused.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            // Take the place first so concurrent subscribers cannot overshoot the cap;
            // `subscribe` takes its own, so give this one back after.
            match shared.subscribers.compare_exchange(
                open,
                open + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => open = now,
            }
        }
        let sub = self.subscribe(filter);
        shared.subscribers.fetch_sub(1, Ordering::Relaxed);
        Some(sub)
    }

    /// The subscriber limits in force.
    pub fn limits(&self) -> EventLimits {
        self.shared.limits
    }

    /// Counts a capped subscriber closed for lagging too often.
    pub fn count_closed_lagging(&self) {
        self.shared.closed_lagging.fetch_add(1, Ordering::Relaxed);
    }

    /// Subscriber counts.
    pub fn subscriber_stats(&self) -> SubscriberStats {
        SubscriberStats {
            open: self.subscribers(),
            refused: self.shared.refused.load(Ordering::Relaxed),
            closed_lagging: self.shared.closed_lagging.load(Ordering::Relaxed),
        }
    }

    /// Events published so far (also those nobody was subscribed to).
    pub fn published(&self) -> u64 {
        self.shared.seq.load(Ordering::Relaxed)
    }

    /// Number of live subscriptions (one per open WebSocket, plus in-process ones).
    pub fn subscribers(&self) -> usize {
        self.shared.subscribers.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    /// Size of the ring (a power of two).
    pub fn capacity(&self) -> usize {
        self.shared.slots.len()
    }

    #[cfg(test)]
    /// Events held in the ring; never more than [`capacity`](Self::capacity).
    pub fn queued(&self) -> usize {
        let written = self.shared.written.load(Ordering::Relaxed);
        usize::try_from(written)
            .unwrap_or(usize::MAX)
            .min(self.shared.slots.len())
    }

    /// Whether the shutdown token was cancelled.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }
}

/// Type index of [`EventKind::Lagged`] in [`EVENT_TYPES`].
const LAGGED: usize = 9;

/// One subscriber's view of the bus: only matching events, plus a [`EventKind::Lagged`] event
/// whenever it fell behind.
#[derive(Debug)]
pub struct Subscription {
    shared: Arc<Shared>,
    /// Seq of the next event to read.
    next: u64,
    filter: EventFilter,
    compiled: Compiled,
    shutdown: CancellationToken,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.shared.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Subscription {
    /// The next matching event, or a `lagged` event when events were overwritten before this
    /// subscription read them; `None` once the bus is closed or dropped. Cancel-safe: dropping
    /// the future loses no matching event.
    pub async fn next(&mut self) -> Option<Event> {
        self.next_shared().await.map(Arc::unwrap_or_clone)
    }

    /// Like [`next`](Self::next) without copying the event out of the ring.
    pub async fn next_shared(&mut self) -> Option<Arc<Event>> {
        loop {
            if self.shared.is_closed() {
                return None;
            }
            if let Some(event) = self.poll_ring() {
                return Some(event);
            }
            // Nothing new: wait for the dispatcher's next wakeup (registered before looking
            // again, so an event published in between is not missed).
            self.shared.ensure_dispatcher();
            let woken = self.shared.readers.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.shared.seq.load(Ordering::Acquire) >= self.next || self.shared.is_closed() {
                continue;
            }
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return None,
                () = woken => {}
            }
        }
    }

    /// The next matching event already in the ring, skipping those the filter rejects; a
    /// `lagged` event when the ring moved past this subscription.
    fn poll_ring(&mut self) -> Option<Arc<Event>> {
        let shared = &*self.shared;
        let capacity = shared.slots.len() as u64;
        loop {
            let published = shared.seq.load(Ordering::Acquire);
            if self.next > published {
                return None;
            }
            if published - self.next >= capacity {
                return Some(self.lagged(published));
            }
            let seq = self.next;
            let slot = &shared.slots[(seq & shared.mask) as usize];
            if slot.seq.load(Ordering::Acquire) != seq {
                // Overwritten while we looked: the ring moved on.
                let published = shared.seq.load(Ordering::Acquire);
                return Some(self.lagged(published.max(seq + capacity)));
            }
            let head = slot.head.load(Ordering::Relaxed);
            let digits = slot.digits.load(Ordering::Relaxed);
            std::sync::atomic::fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) != seq {
                continue;
            }
            self.next += 1;
            if self.compiled.rejects(&self.filter, head, digits) == Some(true) {
                continue;
            }
            let event = slot.event.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match event {
                Some(e) if e.seq == seq => {
                    if self.filter.matches(&e) {
                        return Some(e);
                    }
                }
                // Overwritten between the header and the event.
                _ => {
                    self.next = seq;
                    let published = shared.seq.load(Ordering::Acquire);
                    return Some(self.lagged(published.max(seq + capacity)));
                }
            }
        }
    }

    /// Skips to the oldest event still in the ring; the `lagged` event says how many were lost.
    fn lagged(&mut self, published: u64) -> Arc<Event> {
        let capacity = self.shared.slots.len() as u64;
        let oldest = (published + 1).saturating_sub(capacity).max(self.next);
        let missed = oldest - self.next;
        self.next = oldest;
        Arc::new(Event {
            seq: 0,
            at: Utc::now(),
            carrier: None,
            number: None,
            kind: EventKind::Lagged { missed },
        })
    }

    /// The token whose cancellation ends this subscription (the bus's shutdown).
    pub(crate) fn closed(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// This subscription's filter (prefixes normalized).
    pub fn filter(&self) -> &EventFilter {
        &self.filter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(to: &str) -> EventKind {
        EventKind::HandsetDelivered {
            message_id: "m1".into(),
            from: "VERIFY".into(),
            to: to.into(),
            channel: Channel::Sms,
            text: "code 123456".into(),
        }
    }

    fn event(carrier: Option<&str>, number: Option<&str>, kind: EventKind) -> Event {
        Event {
            seq: 1,
            at: Utc::now(),
            carrier: carrier.map(str::to_owned),
            number: number.map(str::to_owned),
            kind,
        }
    }

    fn every_kind() -> Vec<EventKind> {
        vec![
            EventKind::MessageAccepted {
                account: "a".into(),
                message_id: "m".into(),
                from: "f".into(),
                to: "t".into(),
                parts: 2,
                price: 0.1,
            },
            EventKind::MessageRejected {
                account: "a".into(),
                to: "t".into(),
                command_status: 0x58,
                reason: "throttled".into(),
            },
            delivered("447700900001"),
            EventKind::MessageLost {
                message_id: "m".into(),
                to: "t".into(),
            },
            EventKind::ReceiptSent {
                account: "a".into(),
                message_id: "m".into(),
                to: "t".into(),
                stat: "DELIVRD".into(),
                err: "000".into(),
                duplicate: false,
            },
            EventKind::Call {
                call_id: "c".into(),
                from: "f".into(),
                to: "t".into(),
                status: "ringing".into(),
                price: None,
            },
            EventKind::Mo {
                account: "a".into(),
                from: "f".into(),
                to: "t".into(),
                text: "STOP".into(),
            },
            EventKind::CarrierChanged {
                change: "outage_started".into(),
                detail: serde_json::json!({ "for_s": 30 }),
            },
            EventKind::NumberChanged {
                change: "ported".into(),
                ported_to: Some("beta".into()),
            },
            EventKind::Lagged { missed: 7 },
        ]
    }

    #[test]
    fn json_type_tags_match_type_names_and_round_trip() {
        let kinds = every_kind();
        assert_eq!(kinds.len(), EVENT_TYPES.len());
        for (kind, name) in kinds.into_iter().zip(EVENT_TYPES) {
            assert_eq!(kind.type_name(), name);
            let ev = event(Some("alpha"), Some("4477"), kind);
            let json = serde_json::to_value(&ev).expect("serialize");
            assert_eq!(json["type"], name);
            assert_eq!(json["carrier"], "alpha");
            assert_eq!(json["number"], "4477");
            let back: Event = serde_json::from_value(json).expect("deserialize");
            assert_eq!(back, ev);
        }
    }

    #[test]
    fn handset_delivered_json_shape() {
        let ev = event(
            Some("alpha"),
            Some("447700900001"),
            delivered("447700900001"),
        );
        let json = serde_json::to_value(&ev).expect("serialize");
        assert_eq!(json["channel"], "sms");
        assert_eq!(json["text"], "code 123456");
        assert_eq!(json["seq"], 1);
        assert!(json["at"].is_string());
    }

    #[test]
    fn parse_validates_and_normalizes() {
        let f = EventFilter::parse(
            Some("4477, +4420,"),
            Some("handset_delivered,receipt_sent"),
            Some("alpha"),
        )
        .expect("valid");
        assert_eq!(f.prefixes, ["4477", "4420"]);
        assert_eq!(f.types, ["handset_delivered", "receipt_sent"]);
        assert_eq!(f.carrier.as_deref(), Some("alpha"));
        assert_eq!(
            EventFilter::parse(None, None, None).expect("empty"),
            EventFilter::default()
        );
        let err = EventFilter::parse(None, Some("delivered"), None).expect_err("unknown type");
        assert_eq!(
            err,
            FilterError::UnknownType {
                name: "delivered".into()
            }
        );
        assert!(err.to_string().contains("handset_delivered"));
        assert!(matches!(
            EventFilter::parse(Some("44a7"), None, None),
            Err(FilterError::InvalidPrefix { .. })
        ));
        let many = vec!["44"; MAX_PREFIXES + 1].join(",");
        assert!(matches!(
            EventFilter::parse(Some(&many), None, None),
            Err(FilterError::TooManyPrefixes { .. })
        ));
    }

    #[test]
    fn filter_matching() {
        let ev = event(
            Some("alpha"),
            Some("447700900001"),
            delivered("447700900001"),
        );
        let carrier_ev = event(
            Some("alpha"),
            None,
            EventKind::CarrierChanged {
                change: "outage_ended".into(),
                detail: serde_json::Value::Null,
            },
        );
        let f = |p: &[&str], t: &[&str], c: Option<&str>| EventFilter {
            prefixes: p.iter().map(|s| s.to_string()).collect(),
            types: t.iter().map(|s| s.to_string()).collect(),
            carrier: c.map(str::to_owned),
        };
        assert!(f(&[], &[], None).matches(&ev));
        assert!(f(&[], &[], None).matches(&carrier_ev));
        assert!(f(&["4477"], &[], None).matches(&ev));
        assert!(f(&["+4477", "4420"], &[], None).matches(&ev));
        assert!(!f(&["4420"], &[], None).matches(&ev));
        assert!(!f(&["4477"], &[], None).matches(&carrier_ev));
        assert!(f(&[], &["receipt_sent", "handset_delivered"], None).matches(&ev));
        assert!(!f(&[], &["receipt_sent"], None).matches(&ev));
        assert!(f(&[], &[], Some("alpha")).matches(&ev));
        assert!(!f(&[], &[], Some("beta")).matches(&ev));
        assert!(f(&["4477"], &["handset_delivered"], Some("alpha")).matches(&ev));
        assert!(!f(&["4477"], &["handset_delivered"], Some("beta")).matches(&ev));
        let lagged = event(None, None, EventKind::Lagged { missed: 1 });
        assert!(f(&["4420"], &["mo"], Some("beta")).matches(&lagged));
    }

    #[tokio::test]
    async fn subscription_sees_only_matching_events_in_order() {
        let bus = EventBus::new(64);
        let mut sub = bus.subscribe(EventFilter {
            prefixes: vec!["+4477".into()],
            ..EventFilter::default()
        });
        bus.publish(
            Some("alpha"),
            Some("+447700900001"),
            delivered("447700900001"),
        );
        bus.publish(
            Some("alpha"),
            Some("442079460001"),
            delivered("442079460001"),
        );
        bus.publish(
            Some("beta"),
            Some("447700900002"),
            delivered("447700900002"),
        );
        let first = sub.next().await.expect("first");
        assert_eq!(
            (first.seq, first.number.as_deref()),
            (1, Some("447700900001"))
        );
        let second = sub.next().await.expect("second");
        assert_eq!((second.seq, second.carrier.as_deref()), (3, Some("beta")));
        assert_eq!(bus.published(), 3);
    }

    #[tokio::test]
    async fn publish_without_subscribers_is_counted_and_not_built() {
        let bus = EventBus::new(8);
        let mut built = false;
        bus.publish_with(Some("alpha"), None, || {
            built = true;
            EventKind::Lagged { missed: 0 }
        });
        assert!(!built);
        assert_eq!(bus.published(), 1);
        assert_eq!(bus.queued(), 0);
        let mut sub = bus.subscribe(EventFilter::default());
        bus.publish(Some("alpha"), Some("4477"), delivered("4477"));
        assert_eq!(sub.next().await.expect("event").seq, 2);
    }

    #[tokio::test]
    async fn lagged_subscriber_is_told_how_many_it_missed() {
        let bus = EventBus::new(16);
        assert_eq!(bus.capacity(), 16);
        let mut sub = bus.subscribe(EventFilter::default());
        let published = 1000u64;
        for i in 0..published {
            bus.publish(Some("alpha"), Some("4477"), delivered(&i.to_string()));
            assert!(bus.queued() <= bus.capacity());
        }
        let (mut received, mut missed, mut lagged_events) = (0u64, 0u64, 0);
        let mut last_seq = 0;
        while received + missed < published {
            let ev = sub.next().await.expect("event");
            match ev.kind {
                EventKind::Lagged { missed: n } => {
                    missed += n;
                    lagged_events += 1;
                }
                _ => {
                    assert!(ev.seq > last_seq);
                    last_seq = ev.seq;
                    received += 1;
                }
            }
        }
        assert_eq!(lagged_events, 1);
        assert_eq!(received, 16);
        assert_eq!(missed, published - 16);
        assert_eq!(last_seq, published);
        assert_eq!(received + missed, bus.published());
    }

    #[tokio::test]
    async fn lag_is_counted_with_a_filter_when_all_events_match() {
        let bus = EventBus::new(8);
        let mut sub = bus.subscribe(EventFilter {
            types: vec!["handset_delivered".into()],
            ..EventFilter::default()
        });
        for i in 0..100 {
            bus.publish(None, Some("4477"), delivered(&i.to_string()));
        }
        let first = sub.next().await.expect("lagged");
        assert_eq!(first.kind, EventKind::Lagged { missed: 92 });
        assert_eq!(first.seq, 0);
        let next = sub.next().await.expect("oldest kept");
        assert_eq!(next.seq, 93);
    }

    #[tokio::test]
    async fn shutdown_ends_subscriptions_and_ignores_publishes() {
        let token = CancellationToken::new();
        let bus = EventBus::with_shutdown(4, token.clone());
        let mut sub = bus.subscribe(EventFilter::default());
        bus.publish(None, None, EventKind::Lagged { missed: 0 });
        token.cancel();
        assert!(bus.is_closed());
        assert!(sub.next().await.is_none());
        bus.publish(None, None, EventKind::Lagged { missed: 0 });
        assert_eq!(bus.published(), 1);
    }

    #[tokio::test]
    async fn capped_subscriptions_are_refused_and_counted() {
        let bus = EventBus::with_limits(
            8,
            EventLimits {
                max_subscribers: 2,
                max_lags: 1,
            },
            CancellationToken::new(),
        );
        let a = bus.subscribe_capped(EventFilter::default()).expect("first");
        let _b = bus
            .subscribe_capped(EventFilter::default())
            .expect("second");
        assert!(bus.subscribe_capped(EventFilter::default()).is_none());
        drop(a);
        assert!(bus.subscribe_capped(EventFilter::default()).is_some());
        let stats = bus.subscriber_stats();
        assert_eq!((stats.refused, stats.open), (1, 1));
    }

    #[tokio::test]
    async fn a_waiting_subscriber_is_woken_and_filters_by_header() {
        let bus = Arc::new(EventBus::new(64));
        let mut calls = bus.subscribe(EventFilter {
            types: vec!["call".into()],
            ..EventFilter::default()
        });
        let mut number = bus.subscribe(EventFilter {
            prefixes: vec!["4420".into()],
            carrier: Some("beta".into()),
            ..EventFilter::default()
        });
        let publisher = {
            let bus = Arc::clone(&bus);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                for n in ["447700900001", "442079460001"] {
                    for carrier in ["alpha", "beta"] {
                        bus.publish(Some(carrier), Some(n), delivered(n));
                    }
                }
                bus.publish(
                    Some("alpha"),
                    Some("1555"),
                    EventKind::Call {
                        call_id: "c".into(),
                        from: "f".into(),
                        to: "1555".into(),
                        status: "ringing".into(),
                        price: None,
                    },
                );
            })
        };
        let call = calls.next().await.expect("a call");
        assert_eq!(call.type_name(), "call");
        let hit = number.next().await.expect("one event");
        assert_eq!(
            (hit.carrier.as_deref(), hit.number.as_deref()),
            (Some("beta"), Some("442079460001"))
        );
        publisher.await.expect("publisher");
    }

    #[tokio::test]
    async fn dropping_the_bus_ends_subscriptions() {
        let bus = EventBus::new(4);
        let mut sub = bus.subscribe(EventFilter::default());
        drop(bus);
        assert!(sub.next().await.is_none());
    }

    #[test]
    fn concurrent_publishers_keep_seq_order_in_the_ring() {
        let bus = Arc::new(EventBus::new(1 << 16));
        let mut sub = bus.subscribe(EventFilter::default());
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let bus = Arc::clone(&bus);
                std::thread::spawn(move || {
                    for _ in 0..5000 {
                        bus.publish(None, Some("4477"), EventKind::Lagged { missed: 0 });
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().expect("publisher thread");
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            for expected in 1..=20_000u64 {
                // Published events of kind Lagged carry their real seq; only synthesized ones
                // have 0, and there is no lag here.
                assert_eq!(sub.next().await.expect("event").seq, expected);
            }
        });
    }
}
