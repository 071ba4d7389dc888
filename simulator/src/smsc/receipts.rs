//! Receipt routing: store-and-forward per account, bounded, with retries, back-pressure and a
//! full account.
//!
//! Receipts belong to the account that submitted the message. With the default `origin_first`
//! routing a receipt goes first to the session that submitted the message when that session
//! can receive (a transceiver) and is still bound, so it follows its submit_sm_resp on the same
//! connection; otherwise, and when that session ends, any receiver or transceiver of the
//! account may take it. Sessions *pull* when they have room in their deliver window, so a
//! receipt produced while nobody is bound simply waits for the next bind. A receipt that gets an
//! error or no deliver_sm_resp is put back after a backoff, a bounded number of times.
//!
//! Bounds: an account holds at most `store_capacity` receipts (queued or waiting to retry).
//! Before that, from `high_water` held receipts until they fall below `low_water`, the account's
//! new submits are refused ([`ReceiptRouter::refusal`]), so a slow receiver slows its sender
//! down instead of losing receipts; overflow stays the counted last resort. Every receipt ends
//! in exactly one of: delivered, expired, overflow, or still held (queued, waiting to retry, or
//! in flight), and [`ReceiptRouter::account`] proves it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use smpp::receipt::ReceiptState;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::ReceiptConfig;
use crate::ratelog::Repeated;
use crate::smsc::durable::{self, Durable, Op, ReceiptRow};
use crate::smsc::metrics::{Metrics, ReceiptFate};

/// A receipt waiting to be sent, with everything needed to build its deliver_sm.
#[derive(Debug, Clone)]
pub struct PendingReceipt {
    /// The message id the receipt reports on.
    pub message_id: String,
    /// Account the receipt goes back to.
    pub account: Arc<str>,
    /// The original message's source (the receipt's destination_addr).
    pub original_source: String,
    /// The original message's destination (the receipt's source_addr).
    pub original_destination: String,
    /// State reported.
    pub state: ReceiptState,
    /// Error code reported (`err:`).
    pub error_code: u16,
    /// True for an intermediate notification rather than a final receipt.
    pub intermediate: bool,
    /// When the message was accepted.
    pub submitted_at: DateTime<Utc>,
    /// When it reached the reported state.
    pub done_at: DateTime<Utc>,
    /// First characters of the message text (as many as the receipt profile copies).
    pub text: String,
    /// Set for an MO message (a handset's text) riding the same queue: its text. MO messages
    /// go to the account's receivers with the same store-and-forward, retry and accounting as
    /// receipts.
    pub mo_text: Option<String>,
    /// Sends attempted so far.
    pub attempts: u32,
    /// When the receipt was created (for the time to live).
    pub created: Instant,
    /// The receiving session that submitted the message, when receipts go back to it first
    /// (`receipts.routing = "origin_first"`).
    pub origin: Option<Arc<SessionInbox>>,
    /// Its row in the durable state until an ESME acknowledges it (0 without `--state-dir`).
    pub rid: u64,
}

impl PendingReceipt {
    /// The row the durable state keeps for it.
    pub(crate) fn row(&self) -> ReceiptRow {
        ReceiptRow {
            rid: self.rid,
            message_id: self.message_id.clone(),
            account: self.account.to_string(),
            original_source: self.original_source.clone(),
            original_destination: self.original_destination.clone(),
            state: self.state,
            error_code: self.error_code,
            intermediate: self.intermediate,
            submitted_ms: durable::ms(self.submitted_at),
            done_ms: durable::ms(self.done_at),
            text: self.text.clone(),
            mo_text: self.mo_text.clone(),
        }
    }

    /// A receipt restored from the durable state (its time to live starts again now).
    pub(crate) fn from_row(r: ReceiptRow) -> Self {
        PendingReceipt {
            message_id: r.message_id,
            account: r.account.into(),
            original_source: r.original_source,
            original_destination: r.original_destination,
            state: r.state,
            error_code: r.error_code,
            intermediate: r.intermediate,
            submitted_at: durable::time(r.submitted_ms),
            done_at: durable::time(r.done_ms),
            text: r.text,
            mo_text: r.mo_text,
            attempts: 0,
            created: Instant::now(),
            origin: None,
            rid: r.rid,
        }
    }
}

/// One receipt queue: an account's shared queue, or one session's own.
#[derive(Debug, Default)]
struct Queue {
    items: Mutex<VecDeque<PendingReceipt>>,
    notify: Notify,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<PendingReceipt>> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A receiving session's own receipt queue (see [`ReceiptRouter::open_inbox`]): receipts for
/// messages it submitted wait here first, so they leave on the connection that carried the
/// submit_sm, after its submit_sm_resp.
#[derive(Debug)]
pub struct SessionInbox {
    queue: Queue,
    /// False once the session ended; receipts then go to the account's shared queue.
    open: std::sync::atomic::AtomicBool,
    account: Arc<AccountQueue>,
}

/// Everything the router keeps for one account.
#[derive(Debug, Default)]
struct AccountQueue {
    shared: Queue,
    /// Receipts held for the account: queued (shared or in a session inbox) or waiting out a
    /// retry backoff. What the high-water mark and the store capacity are compared with.
    backlog: AtomicUsize,
    /// True from the moment the backlog reached the high-water mark until it fell below the
    /// low-water mark: new submits are refused meanwhile.
    refusing: AtomicBool,
    /// Session inboxes, for the time-to-live sweep (closed ones are pruned by it).
    inboxes: Mutex<Vec<Weak<SessionInbox>>>,
}

/// Receipt counts that must add up, twice: what was asked for is generated, still scheduled or
/// withdrawn; what was generated is delivered, expired, overflowed or still held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptAccount {
    /// Receipts owed: one per accepted message whose registered_delivery asks for a receipt
    /// of the outcome decided for it (two when the receipt is to be duplicated), plus
    /// intermediate notifications, MO messages and receipts restored from `--state-dir`.
    #[serde(default)]
    pub asked: u64,
    /// Of those, receipts not yet made: their message is accepted and its final state (or a
    /// receipt held back to arrive out of order) is not yet due.
    #[serde(default)]
    pub scheduled: u64,
    /// Of those, receipts never made on purpose: withheld by simulated loss, or their message
    /// was cancelled, or evicted from the store before its final state.
    #[serde(default)]
    pub withdrawn: u64,
    /// Receipts created.
    pub generated: u64,
    /// Acknowledged by an ESME.
    pub delivered: u64,
    /// Expired (attempts or time to live exhausted).
    pub expired: u64,
    /// Dropped because the store was full.
    pub overflow: u64,
    /// Waiting in a queue for a receiver.
    pub queued: u64,
    /// Waiting out a retry backoff.
    pub retrying: u64,
    /// Sent, awaiting deliver_sm_resp.
    pub in_flight: u64,
}

impl ReceiptAccount {
    /// Receipts still held by the carrier.
    pub fn stored(&self) -> u64 {
        self.queued + self.retrying + self.in_flight
    }

    /// Receipts the carrier still owes: scheduled or stored. What a restart without
    /// `--state-dir` loses.
    pub fn owed(&self) -> u64 {
        self.scheduled + self.stored()
    }

    /// Adds another account's counts (totals over carriers).
    pub fn add(&mut self, o: &ReceiptAccount) {
        self.asked += o.asked;
        self.scheduled += o.scheduled;
        self.withdrawn += o.withdrawn;
        self.generated += o.generated;
        self.delivered += o.delivered;
        self.expired += o.expired;
        self.overflow += o.overflow;
        self.queued += o.queued;
        self.retrying += o.retrying;
        self.in_flight += o.in_flight;
    }

    /// True when every receipt asked for is accounted for (asked = generated + scheduled +
    /// withdrawn) and so is every generated one (generated = delivered + expired + overflow +
    /// stored).
    pub fn balances(&self) -> bool {
        self.asked == self.generated + self.scheduled + self.withdrawn
            && self.generated == self.delivered + self.expired + self.overflow + self.stored()
    }
}

/// Per-account receipt queues shared by all sessions of a carrier.
///
/// Accounts are fixed by the configuration, so their queues are made up front and found
/// without a lock; a receipt for an account that is not configured (none can be made) goes to a
/// queue of its own made on first use.
#[derive(Debug)]
pub struct ReceiptRouter {
    accounts: HashMap<String, Arc<AccountQueue>>,
    others: Mutex<HashMap<String, Arc<AccountQueue>>>,
    cfg: ReceiptConfig,
    metrics: Arc<Metrics>,
    scheduled: AtomicU64,
    queued: AtomicU64,
    retrying: AtomicU64,
    in_flight: AtomicU64,
    overflow_warning: Repeated,
    expiry_warning: Repeated,
    /// Receipts an ESME refused or left unanswered (each retried): one line a second.
    pub(crate) retry_notice: Repeated,
    /// The carrier's durable state, which keeps every receipt until it is owed no more.
    durable: Option<Arc<Durable>>,
}

impl ReceiptRouter {
    /// A router with the given policy for these accounts.
    pub fn new<'a>(
        cfg: ReceiptConfig,
        metrics: Arc<Metrics>,
        accounts: impl IntoIterator<Item = &'a str>,
        durable: Option<Arc<Durable>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            accounts: accounts
                .into_iter()
                .map(|a| (a.to_string(), Arc::default()))
                .collect(),
            others: Mutex::new(HashMap::new()),
            cfg,
            metrics,
            scheduled: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            retrying: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            overflow_warning: Repeated::default(),
            expiry_warning: Repeated::default(),
            retry_notice: Repeated::default(),
            durable,
        })
    }

    /// Gives `receipt` its durable row id (when the state is kept and it has none yet); the
    /// caller writes the row.
    pub(crate) fn assign_rid(&self, receipt: &mut PendingReceipt) {
        if let Some(d) = &self.durable
            && receipt.rid == 0
        {
            receipt.rid = d.next_rid();
        }
    }

    /// The receipt `rid` is owed no more (acknowledged, expired, overflowed): its row goes.
    fn settled(&self, rid: u64) {
        if rid != 0
            && let Some(d) = &self.durable
        {
            d.push(Op::ReceiptDone(rid));
        }
    }

    fn queue(&self, account: &str) -> Arc<AccountQueue> {
        if let Some(q) = self.accounts.get(account) {
            return Arc::clone(q);
        }
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = others.get(account) {
            return Arc::clone(q);
        }
        Arc::clone(others.entry(account.to_string()).or_default())
    }

    /// A session of `account` that can receive opens its own inbox: with the `origin_first`
    /// routing, receipts for the messages it submits wait there before the account's shared
    /// queue. Close it with [`ReceiptRouter::close_inbox`] when the session ends.
    pub fn open_inbox(&self, account: &str) -> Arc<SessionInbox> {
        let account = self.queue(account);
        let inbox = Arc::new(SessionInbox {
            queue: Queue::default(),
            open: AtomicBool::new(true),
            account: Arc::clone(&account),
        });
        let mut inboxes = account.inboxes.lock().unwrap_or_else(|e| e.into_inner());
        inboxes.retain(|w| w.strong_count() > 0);
        inboxes.push(Arc::downgrade(&inbox));
        inbox
    }

    /// The session that owned `inbox` ended: what is still in it moves to the account's shared
    /// queue, for the account's other receivers.
    pub fn close_inbox(&self, inbox: &SessionInbox) {
        let left: Vec<PendingReceipt> = {
            let mut items = inbox.queue.lock();
            inbox.open.store(false, Ordering::Release);
            items.drain(..).collect()
        };
        if left.is_empty() {
            return;
        }
        let shared = &inbox.account.shared;
        let was_empty = {
            let mut items = shared.lock();
            let was_empty = items.is_empty();
            items.extend(left.into_iter().map(|mut r| {
                r.origin = None;
                r
            }));
            was_empty
        };
        if was_empty {
            shared.notify.notify_one();
        }
    }

    /// Whether `account`'s submits are refused now because its receipts back up, and with which
    /// status: from the moment its backlog (queued and retrying receipts) reaches `high_water`
    /// until it falls below `low_water`.
    pub fn refusal(&self, account: &str) -> Option<u32> {
        let q = self.accounts.get(account)?;
        let backlog = q.backlog.load(Ordering::Relaxed);
        let refusing = q.refusing.load(Ordering::Relaxed);
        let now = if refusing {
            backlog >= self.cfg.low_water()
        } else {
            backlog >= self.cfg.high_water()
        };
        if now != refusing {
            q.refusing.store(now, Ordering::Relaxed);
            if now {
                tracing::info!(%account, backlog, high_water = self.cfg.high_water(), "receipts back up; refusing submits until they drain");
            } else {
                tracing::info!(%account, backlog, low_water = self.cfg.low_water(), "receipts drained; accepting submits again");
            }
        }
        now.then(|| self.cfg.full_response.command_status())
    }

    /// `n` receipts are owed for a message just accepted, to be made when it reaches its final
    /// state ([`ReceiptRouter::publish_scheduled`] or [`ReceiptRouter::withdraw`]).
    pub fn schedule(&self, n: u64) {
        if n > 0 {
            self.metrics.receipts_asked.fetch_add(n, Ordering::Relaxed);
            self.scheduled.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// `n` scheduled receipts will never be made (simulated loss, a cancelled or evicted
    /// message).
    pub fn withdraw(&self, n: u64) {
        if n > 0 {
            self.scheduled.fetch_sub(n, Ordering::Relaxed);
            self.metrics
                .receipts_withdrawn
                .fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Takes a new receipt that was not scheduled (an intermediate notification, an MO
    /// message, a receipt restored from `--state-dir`) for its account's receivers.
    pub fn publish(&self, mut receipt: PendingReceipt) {
        if let Some(d) = &self.durable
            && receipt.rid == 0
        {
            receipt.rid = d.next_rid();
            d.push(Op::Receipt(Box::new(receipt.row())));
        }
        self.metrics.receipts_asked.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .receipts_generated
            .fetch_add(1, Ordering::Relaxed);
        self.enqueue(receipt, false);
    }

    /// Takes a receipt that was scheduled ([`ReceiptRouter::schedule`]) for its account's
    /// receivers.
    pub fn publish_scheduled(&self, receipt: PendingReceipt) {
        self.scheduled.fetch_sub(1, Ordering::Relaxed);
        self.metrics
            .receipts_generated
            .fetch_add(1, Ordering::Relaxed);
        self.enqueue(receipt, false);
    }

    fn enqueue(&self, mut receipt: PendingReceipt, front: bool) {
        let account = match &receipt.origin {
            Some(inbox) => Arc::clone(&inbox.account),
            None => self.queue(&receipt.account),
        };
        if account.backlog.load(Ordering::Relaxed) >= self.cfg.store_capacity {
            self.settled(receipt.rid);
            self.metrics.receipt_fate(ReceiptFate::Overflow);
            self.overflow_warning.hit(|count| {
                tracing::warn!(account = %receipt.account, count, capacity = self.cfg.store_capacity, "receipt store full; receipts counted as overflow");
            });
            return;
        }
        account.backlog.fetch_add(1, Ordering::Relaxed);
        self.queued.fetch_add(1, Ordering::Relaxed);
        // The submitting session's own inbox first, while it is open.
        if let Some(inbox) = receipt.origin.take() {
            let mut items = inbox.queue.lock();
            if inbox.open.load(Ordering::Acquire) {
                let was_empty = items.is_empty();
                push(&mut items, receipt, front);
                drop(items);
                if was_empty {
                    inbox.queue.notify.notify_one();
                }
                return;
            }
        }
        let was_empty = {
            let mut items = account.shared.lock();
            let was_empty = items.is_empty();
            push(&mut items, receipt, front);
            was_empty
        };
        // Wake a receiver only when the queue turns non-empty: a receiver that finds the queue
        // non-empty takes a window's worth and passes the turn on (see `take`), and sessions also
        // take receipts on every turn of their loop. Waking one per receipt cost a cross-thread
        // wakeup per message at high rates.
        if was_empty {
            account.shared.notify.notify_one();
        }
    }

    /// Takes up to `max` receipts for a session of `account` (from its own inbox first, when
    /// it has one); marks them in flight.
    pub fn take(
        &self,
        account: &str,
        inbox: Option<&SessionInbox>,
        max: usize,
    ) -> Vec<PendingReceipt> {
        if max == 0 {
            return Vec::new();
        }
        let mut taken = Vec::new();
        let q = match inbox {
            Some(inbox) => {
                let mut items = inbox.queue.lock();
                let n = max.min(items.len());
                taken.extend(items.drain(..n));
                Arc::clone(&inbox.account)
            }
            None => self.queue(account),
        };
        if taken.len() < max {
            let more = {
                let mut items = q.shared.lock();
                let n = (max - taken.len()).min(items.len());
                taken.extend(items.drain(..n));
                !items.is_empty()
            };
            if more {
                // Let another receiver of this account pick up the rest.
                q.shared.notify.notify_one();
            }
        }
        let n = taken.len();
        if n > 0 {
            q.backlog.fetch_sub(n, Ordering::Relaxed);
            self.queued.fetch_sub(n as u64, Ordering::Relaxed);
            self.in_flight.fetch_add(n as u64, Ordering::Relaxed);
        }
        taken
    }

    /// Waits until `account` may have receipts to take (in `inbox` or its shared queue).
    pub async fn wait(&self, account: &str, inbox: Option<&SessionInbox>) {
        let q = match inbox {
            Some(inbox) => Arc::clone(&inbox.account),
            None => self.queue(account),
        };
        let shared = q.shared.notify.notified();
        let own = inbox.map(|i| i.queue.notify.notified());
        if !q.shared.lock().is_empty() || inbox.is_some_and(|i| !i.queue.lock().is_empty()) {
            return;
        }
        match own {
            Some(own) => {
                tokio::select! {
                    () = shared => {}
                    () = own => {}
                }
            }
            None => shared.await,
        }
    }

    /// An in-flight receipt (durable row `rid`) was acknowledged with ESME_ROK.
    pub fn delivered(&self, rid: u64) {
        self.settled(rid);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.metrics.receipt_fate(ReceiptFate::Delivered);
    }

    /// An in-flight receipt failed (error status, no response, or its session ended):
    /// retry it after a backoff, or expire it when its attempts are used up.
    pub fn failed(self: &Arc<Self>, mut receipt: PendingReceipt) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        receipt.attempts += 1;
        receipt.origin = None;
        if receipt.attempts >= self.cfg.max_attempts {
            self.expiry_warning.hit(|count| {
                tracing::warn!(message_id = %receipt.message_id, attempts = receipt.attempts, count, "receipts expired after their last attempt");
            });
            self.settled(receipt.rid);
            self.metrics.receipt_fate(ReceiptFate::Expired);
            return;
        }
        self.metrics
            .receipts_retried
            .fetch_add(1, Ordering::Relaxed);
        let backoff = self.backoff(receipt.attempts);
        let account = self.queue(&receipt.account);
        // Waiting receipts count against the account's store like queued ones, so retries
        // cannot grow without bound either.
        account.backlog.fetch_add(1, Ordering::Relaxed);
        self.retrying.fetch_add(1, Ordering::Relaxed);
        let me = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(backoff).await;
            me.retrying.fetch_sub(1, Ordering::Relaxed);
            account.backlog.fetch_sub(1, Ordering::Relaxed);
            me.enqueue(receipt, true);
        });
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(16);
        self.cfg
            .retry_backoff
            .saturating_mul(factor)
            .min(self.cfg.retry_backoff_max)
    }

    /// Expires queued receipts older than the time to live; returns how many.
    pub fn expire_old(&self, now: Instant) -> u64 {
        let mut accounts: Vec<Arc<AccountQueue>> = self.accounts.values().cloned().collect();
        accounts.extend(
            self.others
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .cloned(),
        );
        let mut expired = 0;
        for account in accounts {
            let inboxes: Vec<Arc<SessionInbox>> = account
                .inboxes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .filter_map(Weak::upgrade)
                .collect();
            let queues = std::iter::once(&account.shared).chain(inboxes.iter().map(|i| &i.queue));
            for q in queues {
                let mut items = q.lock();
                let before = items.len();
                items.retain(|r| {
                    let keep = now.saturating_duration_since(r.created) < self.cfg.ttl;
                    if !keep {
                        self.settled(r.rid);
                    }
                    keep
                });
                let gone = before - items.len();
                account.backlog.fetch_sub(gone, Ordering::Relaxed);
                expired += gone as u64;
            }
        }
        self.queued.fetch_sub(expired, Ordering::Relaxed);
        for _ in 0..expired {
            self.metrics.receipt_fate(ReceiptFate::Expired);
        }
        expired
    }

    /// The receipt account: asked = generated + scheduled + withdrawn, and generated =
    /// delivered + expired + overflow + stored.
    pub fn account(&self) -> ReceiptAccount {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ReceiptAccount {
            asked: load(&self.metrics.receipts_asked),
            scheduled: load(&self.scheduled),
            withdrawn: load(&self.metrics.receipts_withdrawn),
            generated: load(&self.metrics.receipts_generated),
            delivered: load(&self.metrics.receipts_delivered),
            expired: load(&self.metrics.receipts_expired),
            overflow: load(&self.metrics.receipts_overflow),
            queued: load(&self.queued),
            retrying: load(&self.retrying),
            in_flight: load(&self.in_flight),
        }
    }
}

fn push(items: &mut VecDeque<PendingReceipt>, receipt: PendingReceipt, front: bool) {
    if front {
        items.push_front(receipt);
    } else {
        items.push_back(receipt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(id: &str) -> PendingReceipt {
        PendingReceipt {
            message_id: id.into(),
            account: "a".into(),
            original_source: "s".into(),
            original_destination: "d".into(),
            state: ReceiptState::Delivered,
            error_code: 0,
            intermediate: false,
            submitted_at: Utc::now(),
            done_at: Utc::now(),
            text: String::new(),
            mo_text: None,
            attempts: 0,
            created: Instant::now(),
            origin: None,
            rid: 0,
        }
    }

    fn router(cfg: ReceiptConfig) -> Arc<ReceiptRouter> {
        ReceiptRouter::new(cfg, Arc::new(Metrics::default()), ["a"], None)
    }

    #[tokio::test]
    async fn overflow_is_counted_and_the_account_balances() {
        let r = router(ReceiptConfig {
            store_capacity: 2,
            ..Default::default()
        });
        for i in 0..3 {
            r.publish(receipt(&i.to_string()));
        }
        let a = r.account();
        assert_eq!((a.generated, a.queued, a.overflow), (3, 2, 1));
        assert!(a.balances());
        let taken = r.take("a", None, 10);
        assert_eq!(taken.len(), 2);
        r.delivered(0);
        r.failed(taken[1].clone());
        let a = r.account();
        assert_eq!((a.delivered, a.retrying, a.in_flight), (1, 1, 0));
        assert!(a.balances());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_retry_with_backoff_then_expire() {
        let r = router(ReceiptConfig {
            max_attempts: 2,
            retry_backoff: Duration::from_secs(1),
            ..Default::default()
        });
        r.publish(receipt("x"));
        let t = r.take("a", None, 1).pop().unwrap();
        r.failed(t);
        assert_eq!(r.account().retrying, 1);
        assert!(r.take("a", None, 1).is_empty());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let t = r.take("a", None, 1).pop().expect("retried after backoff");
        assert_eq!(t.attempts, 1);
        r.failed(t);
        let a = r.account();
        assert_eq!((a.expired, a.stored()), (1, 0));
        assert!(a.balances());
    }

    #[tokio::test(start_paused = true)]
    async fn old_receipts_expire() {
        let r = router(ReceiptConfig {
            ttl: Duration::from_secs(5),
            ..Default::default()
        });
        r.publish(receipt("x"));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert_eq!(r.expire_old(Instant::now()), 1);
        assert!(r.account().balances());
    }
}
