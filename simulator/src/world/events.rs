//! The event bus: bounded fan-out of what happens in the world to its subscribers (WebSocket
//! clients of the control plane, and in-process feeds of embedders such as loadgen).
//!
//! The carrier calls [`EventBus::publish`] at each step a message or call goes through (accepted,
//! rejected, delivered to a handset, lost, receipt sent, call status, MO, carrier changes). The
//! bus is one bounded ring ([`tokio::sync::broadcast`]) shared by every subscriber: publishing
//! never blocks and never allocates more than one event, however many subscribers there are and
//! however slow they are. A subscriber that falls more than the ring's capacity behind loses the
//! overwritten events; its [`Subscription`] then yields one [`EventKind::Lagged`] event telling how
//! many it missed. Nothing is buffered per subscriber, so a stalled WebSocket client costs the
//! server one ring position, not memory that grows with time.
//!
//! Subscriptions end when the bus is dropped or its shutdown token is cancelled, which lets a
//! server's graceful shutdown finish while WebSocket clients are connected.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
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
    /// This subscriber fell behind and `missed` events were overwritten before it read them.
    Lagged {
        /// Events skipped, counted over the whole ring (the filter cannot be applied to events
        /// that are gone, so some of them may not have matched).
        missed: u64,
    },
}

/// Every `"type"` tag, in declaration order.
pub const EVENT_TYPES: [&str; 9] = [
    "message_accepted",
    "message_rejected",
    "handset_delivered",
    "message_lost",
    "receipt_sent",
    "call",
    "mo",
    "carrier_changed",
    "lagged",
];

impl EventKind {
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
            EventKind::Lagged { .. } => EVENT_TYPES[8],
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

/// The process-wide event bus. Share it behind an [`Arc`].
#[derive(Debug)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<Event>>,
    /// Last seq handed out; equals the number of events published.
    seq: AtomicU64,
    /// Held while a seq is assigned and the event enters the ring, so ring order is seq order
    /// even when several sessions publish at once.
    order: Mutex<()>,
    #[cfg(test)]
    capacity: usize,
    shutdown: CancellationToken,
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
    pub fn with_shutdown(capacity: usize, shutdown: CancellationToken) -> Self {
        let capacity = capacity.clamp(1, usize::MAX >> 2).next_power_of_two();
        let (tx, _) = broadcast::channel(capacity);
        Self {
            tx,
            seq: AtomicU64::new(0),
            order: Mutex::new(()),
            #[cfg(test)]
            capacity,
            shutdown,
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
        if self.shutdown.is_cancelled() {
            return;
        }
        if self.tx.receiver_count() == 0 {
            self.seq.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut event = Event {
            seq: 0,
            at: Utc::now(),
            carrier: carrier.map(str::to_owned),
            number: number.map(|n| normalize(n).to_owned()),
            kind: kind(),
        };
        // The lock guards no data, only the order of (assign seq, send); poisoning is harmless.
        let _order = self
            .order
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        event.seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        // An error only means the last subscriber left since the check: nothing to deliver.
        let _ = self.tx.send(Arc::new(event));
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
        Subscription {
            rx: self.tx.subscribe(),
            filter,
            shutdown: self.shutdown.clone(),
        }
    }

    /// Events published so far (also those nobody was subscribed to).
    pub fn published(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    /// Number of live subscriptions (one per open WebSocket, plus in-process ones).
    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    #[cfg(test)]
    /// Size of the ring (a power of two).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    #[cfg(test)]
    /// Events in the ring that some subscriber has not read yet; never more than
    /// [`capacity`](Self::capacity).
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    /// Whether the shutdown token was cancelled.
    pub fn is_closed(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}

/// One subscriber's view of the bus: only matching events, plus a [`EventKind::Lagged`] event
/// whenever it fell behind.
#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Event>>,
    filter: EventFilter,
    shutdown: CancellationToken,
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
            let received = tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return None,
                received = self.rx.recv() => received,
            };
            match received {
                Ok(event) if self.filter.matches(&event) => return Some(event),
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    return Some(Arc::new(Event {
                        seq: 0,
                        at: Utc::now(),
                        carrier: None,
                        number: None,
                        kind: EventKind::Lagged { missed },
                    }));
                }
                Err(RecvError::Closed) => return None,
            }
        }
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
