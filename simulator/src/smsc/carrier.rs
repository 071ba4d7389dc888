//! One carrier's shared state and the operations sessions perform on it.
//!
//! Sessions hold an `Arc<Carrier>` and call these methods for every message operation; they
//! own no message state themselves. That keeps query_sm, cancel_sm and receipts consistent across
//! sessions (a receipt for a message submitted on one bind goes out on another) and keeps the
//! protocol code free of storage concerns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::Utc;
use rusmpp::CommandStatus;
use smpp::concat::Reassembler;
use smpp::receipt::ReceiptState;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{CarrierConfig, UnknownNumbers};
use crate::handsets::{Channel, NewEntry};
use crate::smsc::metrics::Metrics;
use crate::smsc::network::Network;
use crate::smsc::receipts::{PendingReceipt, ReceiptRouter};
pub use crate::smsc::store::Submission;
use crate::smsc::store::{IdGenerator, MessageRecord, MessageStore, Slot};
use crate::world::behaviour::{
    Behaviour, BehaviourPatch, CarrierPatch, Faults, ThrottleSetting, Voice, VoicePatch,
};
use crate::world::engine::{Decision, MessageFacts};
use crate::world::events::EventKind;
use crate::world::throttle::TokenBucket;

/// Occurrence counters for seeding: one per hash bucket of destinations, so memory is fixed
/// however many numbers a run touches. Two numbers share a counter only on a bucket collision
/// (about one pair per 2,000 numbers in a run), and even then decisions stay reproducible as long
/// as messages to those two numbers arrive in the same order.
const OCCURRENCE_BUCKETS: usize = 1 << 20;

/// What must happen only after the submit response is on the wire.
///
/// With a delivery delay of zero a receipt could otherwise reach a receiver session before the
/// submitter has read its submit_sm_resp, and most gateways (Kannel among them) cannot match a
/// receipt for an id they have not yet been given.
#[derive(Debug)]
#[must_use = "pass it to Carrier::after_response once the response is sent"]
pub struct AfterResponse {
    id: String,
    /// Where the record sits, so finishing it needs no id lookup.
    slot: Slot,
    intermediate: Option<PendingReceipt>,
    decision: Decision,
}

/// The answer to one submitted message.
#[derive(Debug)]
pub struct Submitted {
    /// The message id and the work to run once the response is written, or the refusal.
    pub result: Result<(String, AfterResponse), CommandStatus>,
    /// How long to hold the response (the configured submit latency).
    pub latency: Duration,
}

/// What a handset delivery reads from the stored record.
struct Reached {
    source: String,
    destination: String,
    /// Only when an MO reply will need it.
    account: Option<String>,
    data_coding: u8,
    concat: Option<crate::smsc::store::ConcatRef>,
    payload: Vec<u8>,
}

/// Result of query_sm.
#[derive(Debug, Clone, Copy)]
pub struct QueryResult {
    /// Current state.
    pub state: ReceiptState,
    /// When it became final.
    pub final_date: Option<chrono::DateTime<Utc>>,
    /// Error code.
    pub error_code: u16,
}

/// Carrier-level behaviour that can change at run time.
#[derive(Debug, Clone)]
struct Live {
    behaviour: BehaviourPatch,
    faults: Arc<Faults>,
    voice: VoicePatch,
}

/// A resolved behaviour, cached per (account, range chain) until the next change.
#[derive(Debug)]
struct Cached {
    account: String,
    chain: Vec<usize>,
    behaviour: Arc<Behaviour>,
}

/// Shared state of one carrier.
#[derive(Debug)]
pub struct Carrier {
    /// Configuration it runs with.
    pub cfg: CarrierConfig,
    /// The network it belongs to.
    pub net: Arc<Network>,
    /// Accepted messages.
    pub store: MessageStore,
    /// Receipts (and MO messages) waiting for receivers.
    pub receipts: Arc<ReceiptRouter>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    ids: IdGenerator,
    binds: Mutex<HashMap<String, usize>>,
    live: RwLock<Live>,
    cache: RwLock<HashMap<u64, Cached>>,
    throttle: Mutex<Option<TokenBucket>>,
    account_throttles: HashMap<String, Mutex<TokenBucket>>,
    outage: watch::Sender<bool>,
    outage_epoch: AtomicU64,
    occurrences: Box<[AtomicU32]>,
    parts: Mutex<Reassembler<(String, String, u16)>>,
    sessions: AtomicU64,
    /// Cancelled when the carrier shuts down.
    pub shutdown: CancellationToken,
    /// Scheduled deliveries, so shutdown can stop them.
    pub tasks: TaskTracker,
}

/// Holds one of an account's binds; released on drop.
#[derive(Debug)]
pub struct BindGuard {
    carrier: Arc<Carrier>,
    account: String,
}

impl BindGuard {
    /// The account bound.
    pub fn account(&self) -> &str {
        &self.account
    }
}

impl Drop for BindGuard {
    fn drop(&mut self) {
        let mut binds = self.carrier.binds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = binds.get_mut(&self.account) {
            *n = n.saturating_sub(1);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Carrier {
    /// A carrier with this configuration, alone in its network, every number a reachable
    /// mobile on it.
    pub fn new(cfg: CarrierConfig) -> Arc<Self> {
        Network::single(cfg)
    }

    /// A carrier inside `net` (see [`Network::build`]).
    pub fn with_network(cfg: CarrierConfig, net: Arc<Network>) -> Arc<Self> {
        let metrics = Arc::new(Metrics::default());
        let now = std::time::Instant::now();
        let mut faults = Faults::default();
        cfg.faults.apply_to(&mut faults);
        Arc::new(Self {
            store: MessageStore::new(cfg.store.capacity),
            receipts: ReceiptRouter::new(cfg.receipts.clone(), Arc::clone(&metrics)),
            ids: IdGenerator::new(cfg.receipts.message_id),
            binds: Mutex::new(HashMap::new()),
            live: RwLock::new(Live {
                behaviour: cfg.behaviour.clone(),
                faults: Arc::new(faults),
                voice: cfg.voice.clone(),
            }),
            cache: RwLock::new(HashMap::new()),
            throttle: Mutex::new(cfg.throttle.as_ref().map(|t| TokenBucket::new(t, now))),
            account_throttles: cfg
                .accounts
                .iter()
                .filter_map(|(id, a)| {
                    let t = a.throttle.as_ref()?;
                    Some((id.clone(), Mutex::new(TokenBucket::new(t, now))))
                })
                .collect(),
            outage: watch::channel(false).0,
            outage_epoch: AtomicU64::new(0),
            occurrences: (0..OCCURRENCE_BUCKETS).map(|_| AtomicU32::new(0)).collect(),
            // Parts of one message reach the handset within seconds of each other; an hour
            // covers any configured latency, and 100k pending messages bounds memory.
            parts: Mutex::new(Reassembler::new(100_000, Duration::from_secs(3600))),
            sessions: AtomicU64::new(0),
            shutdown: net.shutdown.child_token(),
            tasks: TaskTracker::new(),
            metrics,
            cfg,
            net,
        })
    }

    /// The carrier's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Checks credentials, the account's bind limit and whether the carrier is up.
    pub fn authenticate(
        self: &Arc<Self>,
        system_id: &str,
        password: &str,
    ) -> Result<BindGuard, CommandStatus> {
        let Some(account) = self.cfg.accounts.get(system_id) else {
            return Err(CommandStatus::EsmeRinvsysid);
        };
        if account.password != password {
            return Err(CommandStatus::EsmeRinvpaswd);
        }
        if self.is_down() {
            return Err(CommandStatus::EsmeRbindfail);
        }
        let mut binds = lock(&self.binds);
        let n = binds.entry(system_id.to_string()).or_insert(0);
        if *n >= account.max_binds {
            return Err(CommandStatus::EsmeRbindfail);
        }
        *n += 1;
        Ok(BindGuard {
            carrier: Arc::clone(self),
            account: system_id.to_string(),
        })
    }

    /// Numbers sessions in start order (seeds their fault decisions).
    pub fn next_session(&self) -> u64 {
        self.sessions.fetch_add(1, Ordering::Relaxed)
    }

    /// Session faults in force now.
    pub fn faults(&self) -> Arc<Faults> {
        Arc::clone(&self.live.read().unwrap_or_else(|e| e.into_inner()).faults)
    }

    /// Carrier-level voice behaviour in force now (ranges refine it per call).
    pub fn voice(&self) -> Voice {
        let mut v = Voice::default();
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .voice
            .apply_to(&mut v);
        v
    }

    /// Everything that can change at run time, as the control plane shows it.
    pub fn live_view(&self) -> serde_json::Value {
        let live = self.live.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut behaviour = Behaviour::default();
        live.behaviour.apply_to(&mut behaviour);
        let mut voice = Voice::default();
        live.voice.apply_to(&mut voice);
        let throttle = lock(&self.throttle).as_ref().map(|b| b.config().clone());
        serde_json::json!({
            "name": self.cfg.name,
            "down": self.is_down(),
            "behaviour": behaviour,
            "faults": *live.faults,
            "voice": voice,
            "throttle": throttle,
        })
    }

    /// Applies a run-time change; refused (with the field and reason) if any part is invalid,
    /// in which case nothing changes.
    pub fn apply_patch(&self, patch: &CarrierPatch) -> Result<(), (String, String)> {
        patch.validate()?;
        {
            let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
            let mut next = live.clone();
            if let Some(b) = &patch.behaviour {
                next.behaviour.merge(b);
                let mut check = Behaviour::default();
                next.behaviour.apply_to(&mut check);
                crate::world::dist::check_probabilities(
                    check.outcomes.iter().map(|o| o.probability),
                )
                .map_err(|m| ("behaviour.outcomes".to_string(), m))?;
            }
            if let Some(f) = &patch.faults {
                let mut faults = (*next.faults).clone();
                f.apply_to(&mut faults);
                next.faults = Arc::new(faults);
            }
            if let Some(v) = &patch.voice {
                next.voice.merge(v);
                let mut check = Voice::default();
                next.voice.apply_to(&mut check);
                check.validate().map_err(|m| ("voice".to_string(), m))?;
            }
            *live = next;
        }
        if let Some(t) = &patch.throttle {
            let now = std::time::Instant::now();
            let mut bucket = lock(&self.throttle);
            match (t, bucket.as_mut()) {
                (ThrottleSetting::Off(_), _) => *bucket = None,
                (ThrottleSetting::On(cfg), Some(b)) => b.reconfigure(cfg, now),
                (ThrottleSetting::On(cfg), None) => *bucket = Some(TokenBucket::new(cfg, now)),
            }
        }
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.net
            .events
            .publish_with(Some(self.name()), None, || EventKind::CarrierChanged {
                change: "behaviour_changed".into(),
                detail: serde_json::to_value(patch).unwrap_or_default(),
            });
        Ok(())
    }

    /// True while the carrier is down.
    pub fn is_down(&self) -> bool {
        *self.outage.borrow()
    }

    /// Watches the up/down state (sessions drop when it turns down).
    pub fn outage_watch(&self) -> watch::Receiver<bool> {
        self.outage.subscribe()
    }

    /// Takes the carrier down: binds are refused and sessions dropped; it comes back after
    /// `duration` (already scaled), or when [`Carrier::end_outage`] is called.
    pub fn start_outage(self: &Arc<Self>, duration: Option<Duration>) {
        let epoch = self.outage_epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.outage.send_replace(true);
        tracing::info!(carrier = %self.name(), ?duration, "outage started");
        self.net
            .events
            .publish_with(Some(self.name()), None, || EventKind::CarrierChanged {
                change: "outage_started".into(),
                detail: serde_json::json!({
                    "duration_ms": duration.map(|d| d.as_millis() as u64),
                }),
            });
        if let Some(d) = duration {
            let me = Arc::clone(self);
            let stop = self.shutdown.clone();
            self.tasks.spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {
                        // A newer outage owns the state now; leave its end to it.
                        if me.outage_epoch.load(Ordering::SeqCst) == epoch {
                            me.end_outage();
                        }
                    }
                    _ = stop.cancelled() => {}
                }
            });
        }
    }

    /// Brings the carrier back up.
    pub fn end_outage(&self) {
        self.outage_epoch.fetch_add(1, Ordering::SeqCst);
        if self.outage.send_replace(false) {
            tracing::info!(carrier = %self.name(), "outage ended");
            self.net
                .events
                .publish_with(Some(self.name()), None, || EventKind::CarrierChanged {
                    change: "outage_ended".into(),
                    detail: serde_json::Value::Null,
                });
        }
    }

    /// The behaviour for a message from `account` to a number whose plan lookup is `resolved`.
    fn behaviour_for(
        &self,
        account: &str,
        resolved: Option<&crate::world::plan::Resolved>,
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
            for patch in self.net.range_behaviour(r) {
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
    fn admit(&self, account: &str, parts: u32) -> Result<(), CommandStatus> {
        let now = std::time::Instant::now();
        if let Some(b) = self.account_throttles.get(account) {
            let mut b = lock(b);
            if b.try_take(now, parts).is_err() {
                return Err(CommandStatus::from(b.config().response.command_status()));
            }
        }
        if let Some(b) = lock(&self.throttle).as_mut()
            && b.try_take(now, parts).is_err()
        {
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

    /// Submits a message: throttles, looks the destination up in the plan, asks the engine,
    /// and on acceptance stores the message. Returns its id and the work that must wait until
    /// the submit response is on the wire (see [`AfterResponse`]), or the refusal.
    pub fn accept(self: &Arc<Self>, account: &str, sub: Submission) -> Submitted {
        let refuse = |status: CommandStatus, latency: Duration| {
            self.metrics.refusal(account, u32::from(status));
            self.net
                .events
                .publish_with(Some(self.name()), Some(&sub.destination), || {
                    EventKind::MessageRejected {
                        account: account.to_string(),
                        to: sub.destination.clone(),
                        command_status: u32::from(status),
                        reason: crate::world::behaviour::Status(u32::from(status)).name(),
                    }
                });
            Submitted {
                result: Err(status),
                latency,
            }
        };
        if let Err(status) = self.admit(account, sub.parts_cost()) {
            return refuse(status, Duration::ZERO);
        }
        let number = crate::smsc::store::normalize(&sub.destination);
        let resolved = self.net.plan.lookup(number);
        if resolved.is_none()
            && self.net.has_plan
            && self.net.unknown_numbers == UnknownNumbers::Reject
        {
            return refuse(CommandStatus::EsmeRinvdstadr, Duration::ZERO);
        }
        let behaviour = self.behaviour_for(account, resolved.as_ref());
        let occurrence = self.next_occurrence(number);
        let mut rng = crate::world::dist::stream(
            self.net.seed,
            &[
                self.name().as_bytes(),
                number.as_bytes(),
                &occurrence.to_le_bytes(),
            ],
        );
        let facts = MessageFacts {
            sms_capable: resolved.as_ref().is_none_or(|r| r.line_type.takes_sms()),
            absent: resolved.as_ref().is_some_and(|r| r.absent),
            time_scale: self.net.time_scale,
        };
        let decision = crate::world::engine::decide(&behaviour, &facts, &mut rng);
        if let Some(status) = decision.refusal {
            return refuse(CommandStatus::from(status), decision.submit_latency);
        }
        let latency = decision.submit_latency;
        let id = self.ids.next_id();
        let record = MessageRecord::new(id.clone(), account.to_string(), sub);
        self.metrics.accepted(account);
        self.net
            .events
            .publish_with(Some(self.name()), Some(&record.destination), || {
                EventKind::MessageAccepted {
                    account: account.to_string(),
                    message_id: id.clone(),
                    from: record.source.clone(),
                    to: record.destination.clone(),
                    parts: record.concat.map_or(1, |c| c.total),
                }
            });
        let intermediate = (record.registered_delivery & 0x10 != 0)
            .then(|| self.receipt_for(&record, ReceiptState::Enroute, 0, true));
        let slot = self.store.insert(record);
        let after = AfterResponse {
            id: id.clone(),
            slot,
            intermediate,
            decision,
        };
        Submitted {
            result: Ok((id, after)),
            latency,
        }
    }

    /// Runs the work [`Carrier::accept`] deferred, once the submit response has been written:
    /// schedules the handset delivery and the final state with its receipt.
    pub fn after_response(self: &Arc<Self>, after: AfterResponse) {
        if let Some(r) = after.intermediate {
            self.receipts.publish(r);
        }
        let mut d = after.decision;
        let slot = after.slot;
        if let Some(delay) = d.handset_after {
            // Only the handset side needs the reply; finishing does not read it.
            let mo = d.mo_reply.take();
            let id = after.id.clone();
            self.at(delay, move |me| me.reach_handset(slot, &id, mo));
        }
        let id = after.id;
        let receipt_after = d.receipt_after;
        let finish = move |me: Arc<Carrier>| {
            me.finish(slot, &id, &d);
        };
        self.at(receipt_after, finish);
    }

    /// Runs `f` after `delay` (at once when zero), unless the carrier shuts down first: then
    /// the message stays ENROUTE in the store, reported rather than lost.
    fn at(self: &Arc<Self>, delay: Duration, f: impl FnOnce(Arc<Carrier>) + Send + 'static) {
        if delay.is_zero() {
            f(Arc::clone(self));
            return;
        }
        let me = Arc::clone(self);
        let token = self.shutdown.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => f(me),
                _ = token.cancelled() => {}
            }
        });
    }

    /// The message (or part) reaches its handset; whole messages land in the inbox.
    fn reach_handset(self: &Arc<Self>, slot: Slot, id: &str, mo: Option<(Duration, String)>) {
        // Copy out only what the handset needs: cloning the whole record (as a lookup by id
        // did) cost an allocation per field on every delivered message.
        let Some(r) = self.store.read_slot(slot, |r| {
            (r.state != ReceiptState::Deleted).then(|| Reached {
                source: r.source.clone(),
                destination: r.destination.clone(),
                account: mo.is_some().then(|| r.account.clone()),
                data_coding: r.data_coding,
                concat: r.concat,
                payload: r.payload.clone(),
            })
        }) else {
            return;
        };
        let Some(r) = r else {
            return;
        };
        let payload = match r.concat {
            None => Some(r.payload),
            Some(c) => {
                let key = (r.destination.clone(), r.source.clone(), c.reference);
                lock(&self.parts)
                    .push(key, c.total, c.seq, &r.payload, std::time::Instant::now())
                    .ok()
                    .flatten()
            }
        };
        let Some(payload) = payload else {
            return;
        };
        self.metrics
            .messages_delivered
            .fetch_add(1, Ordering::Relaxed);
        let text = smpp::text::decode(r.data_coding, &payload);
        let parts = r.concat.map_or(1, |c| c.total);
        let events = &self.net.events;
        // The event needs its own copy of the text only when someone listens.
        let event_text = events.has_subscribers().then(|| text.clone());
        self.net.handsets.deliver(
            &r.destination,
            NewEntry {
                channel: Channel::Sms,
                from: r.source.clone(),
                text,
                carrier: self.name().to_string(),
                reference: id.to_string(),
                parts,
                received_at: Utc::now(),
            },
        );
        events.publish_with(Some(self.name()), Some(&r.destination), || {
            EventKind::HandsetDelivered {
                message_id: id.to_string(),
                from: r.source.clone(),
                to: r.destination.clone(),
                channel: Channel::Sms,
                // A subscriber that arrived since the check above: decode again.
                text: event_text.unwrap_or_else(|| smpp::text::decode(r.data_coding, &payload)),
            }
        });
        if let (Some((delay, text)), Some(account)) = (mo, r.account) {
            let (from, to) = (r.destination, r.source);
            self.at(delay, move |me| {
                me.queue_mo(&account, &from, &to, &text);
            });
        }
    }

    /// Queues an MO message (a handset's text to `to`) for `account`'s receivers.
    pub fn queue_mo(&self, account: &str, from: &str, to: &str, text: &str) {
        self.metrics.mo_generated.fetch_add(1, Ordering::Relaxed);
        self.receipts.publish(PendingReceipt {
            message_id: String::new(),
            account: account.to_string(),
            original_source: to.to_string(),
            original_destination: from.to_string(),
            state: ReceiptState::Delivered,
            error_code: 0,
            intermediate: false,
            submitted_at: Utc::now(),
            done_at: Utc::now(),
            text: String::new(),
            mo_text: Some(text.to_string()),
            attempts: 0,
            created: tokio::time::Instant::now(),
        });
        self.net
            .events
            .publish_with(Some(self.name()), Some(from), || EventKind::Mo {
                account: account.to_string(),
                from: from.to_string(),
                to: to.to_string(),
                text: text.to_string(),
            });
    }

    /// The account an MO from `from` to `to` goes to: the one that last sent `from` a message
    /// from `to` (or from anywhere), else the carrier's only account.
    pub fn mo_account(&self, from: &str, to: &str) -> Option<String> {
        let recent = self.store.list(Some(from), 50);
        recent
            .iter()
            .find(|m| m.source == to)
            .or(recent.first())
            .map(|m| m.account.clone())
            .or_else(|| {
                (self.cfg.accounts.len() == 1)
                    .then(|| self.cfg.accounts.keys().next().cloned())
                    .flatten()
            })
    }

    /// Moves the record in `slot` (message `id`), if still pending, to its final state and
    /// publishes the receipt its registered_delivery asks for.
    fn finish(self: &Arc<Self>, slot: Slot, id: &str, d: &Decision) {
        let (outcome, error_code, lost) = (d.outcome, d.error_code, d.receipt_lost);
        let (duplicated, reorder) = (d.receipt_duplicated, d.receipt_reorder);
        // One record per slot, so at most one receipt (or one lost one): no Vecs per message.
        let mut receipt = None;
        let now = Utc::now();
        let mut lost_to = None;
        self.store.update_slot(slot, |r| {
            if r.state.is_final() {
                // Cancelled (DELETED) or already final: nothing to deliver.
                return;
            }
            r.state = outcome;
            r.error_code = error_code;
            r.done_at = Some(now);
            self.metrics.outcome(&r.account, outcome.word());
            if wants_final_receipt(r.registered_delivery, outcome) {
                if lost {
                    lost_to = Some(r.destination.clone());
                } else {
                    receipt = Some(self.receipt_for(r, outcome, error_code, false));
                }
            }
        });
        if let Some(to) = lost_to {
            self.metrics.receipts_lost.fetch_add(1, Ordering::Relaxed);
            self.net
                .events
                .publish_with(Some(self.name()), Some(&to), || EventKind::MessageLost {
                    message_id: id.to_string(),
                    to: to.clone(),
                });
        }
        let Some(r) = receipt else {
            return;
        };
        let publish = move |me: Arc<Carrier>| {
            if duplicated {
                me.metrics
                    .receipts_duplicated
                    .fetch_add(1, Ordering::Relaxed);
                me.receipts.publish(r.clone());
            }
            me.receipts.publish(r);
        };
        match reorder {
            Some(hold) => self.at(hold, publish),
            None => publish(Arc::clone(self)),
        }
    }

    fn receipt_for(
        &self,
        r: &MessageRecord,
        state: ReceiptState,
        error_code: u16,
        intermediate: bool,
    ) -> PendingReceipt {
        let text: String = smpp::text::decode(r.data_coding, &r.payload)
            .chars()
            .take(self.cfg.receipts.text_chars)
            .collect();
        PendingReceipt {
            message_id: r.message_id.clone(),
            account: r.account.clone(),
            original_source: r.source.clone(),
            original_destination: r.destination.clone(),
            state,
            error_code,
            intermediate,
            submitted_at: r.submitted_at,
            done_at: r.done_at.unwrap_or_else(Utc::now),
            text,
            mo_text: None,
            attempts: 0,
            created: tokio::time::Instant::now(),
        }
    }

    /// query_sm: the message's real state, if `account` owns it.
    pub fn query(
        &self,
        account: &str,
        id: &str,
        source: &str,
    ) -> Result<QueryResult, CommandStatus> {
        let records = self.store.get(id);
        let r = records
            .iter()
            .find(|r| r.account == account && (source.is_empty() || r.source == source))
            .ok_or(CommandStatus::EsmeRqueryfail)?;
        Ok(QueryResult {
            state: r.state,
            final_date: r.done_at,
            error_code: r.error_code,
        })
    }

    /// cancel_sm: by id, or (with an empty id) every pending message from `source` to
    /// `destination`. Only pending messages can be cancelled.
    pub fn cancel(
        &self,
        account: &str,
        id: &str,
        source: &str,
        destination: &str,
    ) -> Result<usize, CommandStatus> {
        let ids = if id.is_empty() {
            if destination.is_empty() {
                return Err(CommandStatus::EsmeRcancelfail);
            }
            self.store.find_ids(|r| {
                r.account == account
                    && !r.state.is_final()
                    && r.destination == destination
                    && (source.is_empty() || r.source == source)
            })
        } else {
            vec![id.to_string()]
        };
        let mut cancelled = 0;
        let now = Utc::now();
        for id in ids {
            self.store.update(&id, |r| {
                let matches = r.account == account
                    && (source.is_empty() || r.source == source)
                    && (destination.is_empty() || r.destination == destination);
                if matches && !r.state.is_final() {
                    r.state = ReceiptState::Deleted;
                    r.done_at = Some(now);
                    cancelled += 1;
                }
            });
        }
        if cancelled == 0 {
            return Err(CommandStatus::EsmeRcancelfail);
        }
        Ok(cancelled)
    }

    /// replace_sm: replaces the text (and registered_delivery) of a pending message.
    pub fn replace(
        &self,
        account: &str,
        id: &str,
        source: &str,
        payload: Vec<u8>,
        registered_delivery: u8,
    ) -> Result<(), CommandStatus> {
        let mut replaced = 0;
        self.store.update(id, |r| {
            if r.account == account
                && (source.is_empty() || r.source == source)
                && !r.state.is_final()
            {
                r.payload = payload.clone();
                r.registered_delivery = registered_delivery;
                replaced += 1;
            }
        });
        if replaced == 0 {
            return Err(CommandStatus::EsmeRreplacefail);
        }
        Ok(())
    }
}

/// Whether registered_delivery asks for a final receipt for this outcome.
///
/// Bits 0-1: 0 none, 1 on success or failure, 2 on failure only, 3 on success only (SMPP 5.0).
pub fn wants_final_receipt(registered_delivery: u8, outcome: ReceiptState) -> bool {
    let success = outcome == ReceiptState::Delivered;
    match registered_delivery & 0x03 {
        1 => true,
        2 => !success,
        3 => success,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AccountConfig;

    #[test]
    fn registered_delivery_modes() {
        use ReceiptState::*;
        assert!(!wants_final_receipt(0, Delivered));
        assert!(wants_final_receipt(1, Delivered) && wants_final_receipt(1, Undeliverable));
        assert!(!wants_final_receipt(2, Delivered) && wants_final_receipt(2, Expired));
        assert!(wants_final_receipt(3, Delivered) && !wants_final_receipt(3, Rejected));
        assert!(wants_final_receipt(0x11, Delivered));
    }

    #[test]
    fn bind_limits_and_credentials() {
        let mut cfg = CarrierConfig::default();
        cfg.accounts.insert(
            "test".into(),
            AccountConfig {
                max_binds: 1,
                ..AccountConfig::new("secret")
            },
        );
        let c = Carrier::new(cfg);
        assert_eq!(
            c.authenticate("nobody", "x").unwrap_err(),
            CommandStatus::EsmeRinvsysid
        );
        assert_eq!(
            c.authenticate("test", "wrong").unwrap_err(),
            CommandStatus::EsmeRinvpaswd
        );
        let g = c.authenticate("test", "secret").unwrap();
        assert_eq!(
            c.authenticate("test", "secret").unwrap_err(),
            CommandStatus::EsmeRbindfail
        );
        drop(g);
        assert!(c.authenticate("test", "secret").is_ok());
    }
}
