//! One carrier's shared state and the operations sessions perform on it.
//!
//! Sessions hold an `Arc<Carrier>` and call its methods for every message operation; they own
//! no message state themselves. That keeps query_sm, cancel_sm and receipts consistent across
//! sessions (a receipt for a message submitted on one bind goes out on another) and keeps the
//! protocol code free of storage concerns. This file holds the carrier's state, binds, run-time
//! changes, outages and the operations on stored messages; what it decides for a new message is
//! in [`super::decide`], and what then happens to the message over time in [`super::delivery`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::Utc;
use rusmpp::CommandStatus;
use serde::Serialize;
use smpp::receipt::ReceiptState;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::durable::{Durable, Op, Restored, StateError};
use super::jobs::{Fate, Job};
use super::lockout::BindLockout;
use super::metrics::Metrics;
use super::receipts::{PendingReceipt, ReceiptRouter};
use super::stats::CarrierStats;
use super::store::{IdGenerator, MessageRecord, MessageStore, Submission};
use super::timers::Timers;
use crate::config::{CarrierConfig, StateConfig};
use crate::ratelog::Repeated;
use crate::world::World;
use crate::world::behaviour::{
    Behaviour, BehaviourPatch, CarrierPatch, Faults, Status, ThrottleSetting, Voice, VoicePatch,
};
use crate::world::events::EventKind;
use crate::world::throttle::{ThrottleConfig, TokenBucket};

/// Occurrence counters for seeding: one per hash bucket of destinations, so memory is fixed
/// however many numbers a run touches. Two numbers share a counter only on a bucket collision
/// (about one pair per 2,000 numbers in a run), and even then decisions stay reproducible as long
/// as messages to those two numbers arrive in the same order.
pub(super) const OCCURRENCE_BUCKETS: usize = 1 << 20;

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
pub(super) struct Live {
    pub(super) behaviour: BehaviourPatch,
    faults: Arc<Faults>,
    voice: VoicePatch,
}

/// A resolved behaviour, cached per (account, range chain) until the next change.
#[derive(Debug)]
pub(super) struct Cached {
    pub(super) account: String,
    pub(super) chain: Vec<usize>,
    pub(super) behaviour: Arc<Behaviour>,
}

/// What is in force in a carrier now, as the control plane shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LiveView {
    /// Carrier name.
    pub name: String,
    /// True while it is down.
    pub down: bool,
    /// Carrier-level behaviour (accounts and ranges refine it per message).
    pub behaviour: Behaviour,
    /// Session faults.
    pub faults: Faults,
    /// Carrier-level voice behaviour.
    pub voice: Voice,
    /// The carrier-wide throttle, if any.
    pub throttle: Option<ThrottleConfig>,
}

/// Shared state of one carrier.
#[derive(Debug)]
pub(crate) struct Carrier {
    /// Configuration it runs with.
    pub cfg: CarrierConfig,
    /// Its name, shared by every handset entry it delivers.
    pub name_shared: Arc<str>,
    /// The world it shares with the other carriers of the run.
    pub world: Arc<World>,
    /// Accepted messages.
    pub store: MessageStore,
    /// Receipts (and MO messages) waiting for receivers.
    pub receipts: Arc<ReceiptRouter>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Failed-bind limits (see [`super::lockout`]).
    pub lockout: BindLockout,
    pub(super) ids: IdGenerator,
    binds: Mutex<HashMap<String, usize>>,
    pub(super) live: RwLock<Live>,
    pub(super) cache: RwLock<HashMap<u64, Cached>>,
    pub(super) throttle: Mutex<Option<TokenBucket>>,
    pub(super) account_throttles: HashMap<String, Mutex<TokenBucket>>,
    outage: watch::Sender<bool>,
    outage_epoch: AtomicU64,
    /// Cancels the timer of the outage in force, so a new outage (or its end) stops the old
    /// timer instead of leaving a task behind: at most one outage timer per carrier, however
    /// often the control plane is called.
    outage_timer: Mutex<CancellationToken>,
    pub(super) occurrences: Box<[AtomicU32]>,
    sessions: AtomicU64,
    /// Cancelled when the carrier shuts down.
    pub shutdown: CancellationToken,
    /// The carrier's own tasks (outage timers), so shutdown can stop them.
    pub tasks: TaskTracker,
    /// Delayed work: handset deliveries, final states and receipts, MO replies (see
    /// [`super::timers`]); run by [`Carrier::run_timers`].
    pub(crate) timers: Timers<Job>,
    pub(super) timers_full_warning: Repeated,
    pub(super) evicted_pending_warning: Repeated,
    /// Its index in the world's ledger ([`crate::world::billing`]).
    pub(super) bill_index: usize,
    /// Its durable state (`--state-dir`), if kept.
    pub(crate) durable: Option<Arc<Durable>>,
}

/// Holds one of an account's binds; released on drop.
#[derive(Debug)]
pub(crate) struct BindGuard {
    carrier: Arc<Carrier>,
    /// Shared with every record and receipt of the session's messages (no copy per message).
    account: Arc<str>,
}

impl BindGuard {
    /// The account bound.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The account bound, shared.
    pub fn account_shared(&self) -> &Arc<str> {
        &self.account
    }
}

impl Drop for BindGuard {
    fn drop(&mut self) {
        let mut binds = self.carrier.binds.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = binds.get_mut(&*self.account) {
            *n = n.saturating_sub(1);
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Carrier {
    /// A carrier in `world`; with `state` (its config and directory), its durable state is
    /// opened and what it holds restored (see [`super::durable`]).
    pub fn open(
        cfg: CarrierConfig,
        world: Arc<World>,
        state: Option<(&StateConfig, &Path)>,
    ) -> Result<Arc<Self>, StateError> {
        let ids = IdGenerator::new(cfg.receipts.message_id);
        let (durable, restored) = match state {
            Some((state, dir)) => {
                let (d, restored) =
                    Durable::open(state, dir, &cfg.name, cfg.store.capacity, ids.counter())?;
                ids.resume(restored.next_id);
                (Some(d), Some(restored))
            }
            None => (None, None),
        };
        let carrier = Self::build(cfg, world, ids, durable);
        if let Some(restored) = restored {
            carrier.restore(restored);
        }
        Ok(carrier)
    }

    fn build(
        cfg: CarrierConfig,
        world: Arc<World>,
        ids: IdGenerator,
        durable: Option<Arc<Durable>>,
    ) -> Arc<Self> {
        let metrics = Arc::new(Metrics::default());
        let now = std::time::Instant::now();
        let mut faults = Faults::default();
        cfg.faults.apply_to(&mut faults);
        Arc::new(Self {
            store: MessageStore::new(cfg.store.capacity),
            receipts: ReceiptRouter::new(
                cfg.receipts.clone(),
                Arc::clone(&metrics),
                cfg.accounts.keys().map(String::as_str),
                durable.clone(),
            ),
            lockout: BindLockout::new(
                cfg.bind_lockout.clone(),
                cfg.accounts.keys().map(String::as_str),
                Arc::clone(&metrics),
            ),
            ids,
            durable,
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
            outage_timer: Mutex::new(CancellationToken::new()),
            occurrences: (0..OCCURRENCE_BUCKETS).map(|_| AtomicU32::new(0)).collect(),
            sessions: AtomicU64::new(0),
            shutdown: world.shutdown.child_token(),
            tasks: TaskTracker::new(),
            timers: Timers::new(cfg.store.max_timers),
            timers_full_warning: Repeated::default(),
            evicted_pending_warning: Repeated::default(),
            bill_index: world.billing.carrier_index(&cfg.name).unwrap_or(usize::MAX),
            metrics,
            name_shared: cfg.name.as_str().into(),
            cfg,
            world,
        })
    }

    /// What `record` is billed under the plan: its parts times its range's `price_sms`.
    fn price_of(&self, record: &MessageRecord) -> f64 {
        let parts = super::store::parts_of(
            record.data_coding,
            record.payload.len(),
            record.concat.is_some(),
        );
        let number = smpp::number::normalize(&record.destination);
        let price = self.world.plan.lookup(number).map_or(0.0, |r| r.price_sms);
        crate::world::billing::sms_charge(parts, price)
    }

    /// Runs the carrier's timers until it shuts down.
    pub async fn run_timers(self: Arc<Self>) {
        let stop = self.shutdown.clone();
        self.timers
            .run(|job| self.run(job), stop.cancelled_owned())
            .await;
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
            account: system_id.into(),
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
    pub fn live_view(&self) -> LiveView {
        let live = self.live.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut behaviour = Behaviour::default();
        live.behaviour.apply_to(&mut behaviour);
        let mut voice = Voice::default();
        live.voice.apply_to(&mut voice);
        LiveView {
            name: self.cfg.name.clone(),
            down: self.is_down(),
            behaviour,
            faults: (*live.faults).clone(),
            voice,
            throttle: lock(&self.throttle).as_ref().map(|b| b.config().clone()),
        }
    }

    /// This carrier's figures (see [`super::stats`]).
    pub fn stats(&self) -> CarrierStats {
        use std::sync::atomic::Ordering::Relaxed;
        let m = &self.metrics;
        let receipts = self.receipts.account();
        CarrierStats {
            carrier: self.name().to_string(),
            down: self.is_down(),
            receipts_balanced: receipts.balances(),
            receipts,
            store: self.store.stats(),
            connections_open: m.connections_open.load(Relaxed),
            messages_accepted: m.messages_accepted.load(Relaxed),
            messages_delivered: m.messages_delivered.load(Relaxed),
            outcomes: m
                .outcome_counts()
                .into_iter()
                .map(|(stat, n)| (stat.to_string(), n))
                .collect(),
            refusals: m
                .refusal_counts()
                .into_iter()
                .map(|(s, n)| (Status(s).name(), n))
                .collect(),
            backpressure_refusals: m.backpressure_refusals.load(Relaxed),
            timer_refusals: m.timer_refusals.load(Relaxed),
            window_refusals: m.window_refusals.load(Relaxed),
            timers: self.timers.len(),
            evicted_pending: m.evicted_pending.load(Relaxed),
            receipts_lost: m.receipts_lost.load(Relaxed),
            receipts_duplicated: m.receipts_duplicated.load(Relaxed),
            mo: m.mo_generated.load(Relaxed),
            bind_lockout: self.lockout_stats(),
            state: self.durable.as_ref().map(|d| d.stats()),
        }
    }

    /// Failed binds and lockouts.
    pub fn lockout_stats(&self) -> super::stats::BindLockoutStats {
        use std::sync::atomic::Ordering::Relaxed;
        let m = &self.metrics;
        let now = self.lockout.now(tokio::time::Instant::now());
        super::stats::BindLockoutStats {
            failures: m.bind_failures.load(Relaxed),
            address_lockouts: m.bind_lockouts_address.load(Relaxed),
            system_id_guards: m.bind_lockouts_system_id.load(Relaxed),
            refused_address_locked: m.bind_refused_address_locked.load(Relaxed),
            refused_system_id_guarded: m.bind_refused_system_id_guarded.load(Relaxed),
            connections_closed: m.bind_failure_closes.load(Relaxed),
            locked_addresses: now.locked_addresses,
            guarded_system_ids: now.guarded_system_ids,
        }
    }

    /// Puts back what the durable state held at start: the newest message records (query_sm
    /// finds them), the pending ones rescheduled at their time (their handset deliveries too,
    /// unless due before the state's last commit, when they had happened), and the stored
    /// receipts, queued for the next bind.
    fn restore(self: &Arc<Self>, restored: Restored) {
        use super::durable::{FLAG_DUPLICATED, FLAG_LOST, time};
        let now = Utc::now().timestamp_millis();
        let until = |at: i64| Duration::from_millis(u64::try_from(at - now).unwrap_or(0));
        let messages = restored.messages.len() as u64;
        let mut pending = 0u64;
        for row in restored.messages {
            let mut record = MessageRecord::new(
                row.message_id.clone(),
                row.account.as_str().into(),
                Submission {
                    source: row.source,
                    destination: row.destination,
                    data_coding: row.data_coding,
                    registered_delivery: row.registered_delivery,
                    payload: row.payload,
                    concat: row.concat,
                },
            );
            record.state = row.state;
            record.error_code = row.error_code;
            record.submitted_at = time(row.submitted_ms);
            record.done_at = row.done_ms.map(time);
            record.key = row.key;
            // Not stored: recomputed from the plan, which prices a number the same way as
            // long as the config is the same.
            record.price = self.price_of(&record);
            let slot = self.store.insert(record);
            if row.state.is_final() {
                continue;
            }
            pending += 1;
            self.receipts.schedule(u64::from(row.promised));
            if let Some(at) = row.handset_ms
                && at > restored.alive_ms
            {
                self.restore_at(
                    until(at),
                    Job::Handset {
                        slot,
                        id: row.message_id.clone(),
                        mo: None,
                    },
                );
            }
            let fate = Fate {
                outcome: row.outcome,
                error_code: row.fate_error,
                lost: row.flags & FLAG_LOST != 0,
                duplicated: row.flags & FLAG_DUPLICATED != 0,
                reorder: row.reorder_ms.map(Duration::from_millis),
                promised: row.promised,
            };
            self.restore_at(
                until(row.due_ms),
                Job::Finish {
                    slot,
                    id: row.message_id,
                    fate,
                    origin: None,
                },
            );
        }
        let receipts = restored.receipts.len() as u64;
        for row in restored.receipts {
            self.receipts.publish(PendingReceipt::from_row(row));
        }
        if let Some(d) = &self.durable {
            d.set_restored(messages, pending, receipts);
            tracing::info!(carrier = %self.name(), file = %d.path().display(), messages, pending, receipts, "state restored");
        }
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
        self.world
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
        self.world
            .events
            .publish_with(Some(self.name()), None, || EventKind::CarrierChanged {
                change: "outage_started".into(),
                detail: serde_json::json!({
                    "duration_ms": duration.map(|d| d.as_millis() as u64),
                }),
            });
        let replaced = self.shutdown.child_token();
        std::mem::replace(&mut *lock(&self.outage_timer), replaced.clone()).cancel();
        if let Some(d) = duration {
            let me = Arc::clone(self);
            self.tasks.spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {
                        // A newer outage owns the state now; leave its end to it.
                        if me.outage_epoch.load(Ordering::SeqCst) == epoch {
                            me.end_outage();
                        }
                    }
                    // A newer outage, an explicit end, or shutdown.
                    _ = replaced.cancelled() => {}
                }
            });
        }
    }

    /// Brings the carrier back up.
    pub fn end_outage(&self) {
        self.outage_epoch.fetch_add(1, Ordering::SeqCst);
        lock(&self.outage_timer).cancel();
        if self.outage.send_replace(false) {
            tracing::info!(carrier = %self.name(), "outage ended");
            self.world
                .events
                .publish_with(Some(self.name()), None, || EventKind::CarrierChanged {
                    change: "outage_ended".into(),
                    detail: serde_json::Value::Null,
                });
        }
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
            .find(|r| &*r.account == account && (source.is_empty() || r.source == source))
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
            self.store.find_ids(destination, |r| {
                &*r.account == account
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
                let matches = &*r.account == account
                    && (source.is_empty() || r.source == source)
                    && (destination.is_empty() || r.destination == destination);
                if matches && !r.state.is_final() {
                    r.state = ReceiptState::Deleted;
                    r.done_at = Some(now);
                    cancelled += 1;
                    if let Some(d) = &self.durable {
                        d.push(Op::Final {
                            key: r.key,
                            state: ReceiptState::Deleted,
                            error_code: r.error_code,
                            done_ms: now.timestamp_millis(),
                            receipts: Vec::new(),
                        });
                    }
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
            if &*r.account == account
                && (source.is_empty() || r.source == source)
                && !r.state.is_final()
            {
                r.payload = payload.clone();
                r.registered_delivery = registered_delivery;
                replaced += 1;
                if let Some(d) = &self.durable {
                    d.push(Op::Replace {
                        key: r.key,
                        payload: payload.clone(),
                        registered_delivery,
                    });
                }
            }
        });
        if replaced == 0 {
            return Err(CommandStatus::EsmeRreplacefail);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AccountConfig;

    #[tokio::test]
    async fn repeated_outages_keep_one_timer() {
        let mut cfg = CarrierConfig::default();
        cfg.accounts
            .insert("test".into(), AccountConfig::new("secret"));
        let net = crate::smsc::network::Network::single(cfg);
        let c = net.carrier("default").expect("carrier");
        for _ in 0..1000 {
            c.start_outage(Some(Duration::from_secs(3600)));
        }
        // The replaced timers end as soon as they run.
        for _ in 0..100 {
            if c.tasks.len() <= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(c.tasks.len(), 1);
        assert!(c.is_down());
        c.end_outage();
        assert!(!c.is_down());
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
        let net = crate::smsc::network::Network::single(cfg);
        let c = net.carrier("default").expect("carrier");
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
