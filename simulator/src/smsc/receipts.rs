//! Receipt routing: store-and-forward per account, bounded, with retries, and a full account.
//!
//! Receipts belong to the account that submitted the message and may be taken by any of its
//! receiver or transceiver sessions. Sessions *pull* from their account's queue when they have
//! room in their deliver window, so a receipt produced while nobody is bound simply waits for
//! the next bind. A receipt that gets an error or no deliver_sm_resp is put back after a
//! backoff, a bounded number of times. Every receipt ends in exactly one of: delivered, expired,
//! overflow (store full), or still held (queued, waiting to retry, or in flight), and
//! [`ReceiptRouter::account`] proves it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use smpp::receipt::ReceiptState;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::ReceiptConfig;
use crate::smsc::metrics::{Metrics, ReceiptFate};

/// A receipt waiting to be sent, with everything needed to build its deliver_sm.
#[derive(Debug, Clone)]
pub struct PendingReceipt {
    /// The message id the receipt reports on.
    pub message_id: String,
    /// Account the receipt goes back to.
    pub account: String,
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
}

#[derive(Debug, Default)]
struct Queue {
    items: Mutex<VecDeque<PendingReceipt>>,
    notify: Notify,
}

/// Receipt counts that must add up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptAccount {
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

    /// Adds another account's counts (totals over carriers).
    pub fn add(&mut self, o: &ReceiptAccount) {
        self.generated += o.generated;
        self.delivered += o.delivered;
        self.expired += o.expired;
        self.overflow += o.overflow;
        self.queued += o.queued;
        self.retrying += o.retrying;
        self.in_flight += o.in_flight;
    }

    /// True when every generated receipt is accounted for.
    pub fn balances(&self) -> bool {
        self.generated == self.delivered + self.expired + self.overflow + self.stored()
    }
}

/// Per-account receipt queues shared by all sessions of a carrier.
#[derive(Debug)]
pub struct ReceiptRouter {
    queues: Mutex<HashMap<String, Arc<Queue>>>,
    cfg: ReceiptConfig,
    metrics: Arc<Metrics>,
    retrying: AtomicU64,
    in_flight: AtomicU64,
}

impl ReceiptRouter {
    /// A router with the given policy.
    pub fn new(cfg: ReceiptConfig, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            queues: Mutex::new(HashMap::new()),
            cfg,
            metrics,
            retrying: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
        })
    }

    fn queue(&self, account: &str) -> Arc<Queue> {
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        // Look up before inserting: `entry` would allocate the key on every call, and this
        // runs for every receipt published, taken and waited for.
        if let Some(queue) = q.get(account) {
            return Arc::clone(queue);
        }
        Arc::clone(q.entry(account.to_string()).or_default())
    }

    /// Takes a new receipt for its account's receivers.
    pub fn publish(&self, receipt: PendingReceipt) {
        self.metrics
            .receipts_generated
            .fetch_add(1, Ordering::Relaxed);
        self.enqueue(receipt, false);
    }

    fn enqueue(&self, receipt: PendingReceipt, front: bool) {
        let q = self.queue(&receipt.account);
        let was_empty = {
            let mut items = q.items.lock().unwrap_or_else(|e| e.into_inner());
            if items.len() >= self.cfg.store_capacity {
                drop(items);
                self.metrics.receipt_fate(ReceiptFate::Overflow);
                tracing::warn!(account = %receipt.account, message_id = %receipt.message_id, "receipt store full; receipt counted as overflow");
                return;
            }
            let was_empty = items.is_empty();
            if front {
                items.push_front(receipt);
            } else {
                items.push_back(receipt);
            }
            was_empty
        };
        // Wake a receiver only when the queue turns non-empty: a receiver that finds the queue
        // non-empty takes a window's worth and passes the turn on (see `take`), and sessions also
        // take receipts on every turn of their loop. Waking one per receipt cost a cross-thread
        // wakeup per message at high rates.
        if was_empty {
            q.notify.notify_one();
        }
    }

    /// Takes up to `max` receipts for a session of `account`; marks them in flight.
    pub fn take(&self, account: &str, max: usize) -> Vec<PendingReceipt> {
        if max == 0 {
            return Vec::new();
        }
        let q = self.queue(account);
        let (taken, more) = {
            let mut items = q.items.lock().unwrap_or_else(|e| e.into_inner());
            let n = max.min(items.len());
            let taken: Vec<_> = items.drain(..n).collect();
            (taken, !items.is_empty())
        };
        self.in_flight
            .fetch_add(taken.len() as u64, Ordering::Relaxed);
        if more {
            // Let another receiver of this account pick up the rest.
            q.notify.notify_one();
        }
        taken
    }

    /// Waits until `account` may have receipts to take.
    pub async fn wait(&self, account: &str) {
        let q = self.queue(account);
        let notified = q.notify.notified();
        if !q.items.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
            return;
        }
        notified.await;
    }

    /// An in-flight receipt was acknowledged with ESME_ROK.
    pub fn delivered(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.metrics.receipt_fate(ReceiptFate::Delivered);
    }

    /// An in-flight receipt failed (error status, no response, or its session ended):
    /// retry it after a backoff, or expire it when its attempts are used up.
    pub fn failed(self: &Arc<Self>, mut receipt: PendingReceipt) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        receipt.attempts += 1;
        if receipt.attempts >= self.cfg.max_attempts {
            tracing::warn!(message_id = %receipt.message_id, attempts = receipt.attempts, "receipt expired after its last attempt");
            self.metrics.receipt_fate(ReceiptFate::Expired);
            return;
        }
        self.metrics
            .receipts_retried
            .fetch_add(1, Ordering::Relaxed);
        let backoff = self.backoff(receipt.attempts);
        self.retrying.fetch_add(1, Ordering::Relaxed);
        let me = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(backoff).await;
            me.retrying.fetch_sub(1, Ordering::Relaxed);
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
        let queues: Vec<Arc<Queue>> = self
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut expired = 0;
        for q in queues {
            let mut items = q.items.lock().unwrap_or_else(|e| e.into_inner());
            let before = items.len();
            items.retain(|r| now.saturating_duration_since(r.created) < self.cfg.ttl);
            expired += (before - items.len()) as u64;
        }
        for _ in 0..expired {
            self.metrics.receipt_fate(ReceiptFate::Expired);
        }
        expired
    }

    /// The receipt account: generated = delivered + expired + overflow + stored.
    pub fn account(&self) -> ReceiptAccount {
        let queued: u64 = self
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|q| q.items.lock().unwrap_or_else(|e| e.into_inner()).len() as u64)
            .sum();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ReceiptAccount {
            generated: load(&self.metrics.receipts_generated),
            delivered: load(&self.metrics.receipts_delivered),
            expired: load(&self.metrics.receipts_expired),
            overflow: load(&self.metrics.receipts_overflow),
            queued,
            retrying: load(&self.retrying),
            in_flight: load(&self.in_flight),
        }
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
        }
    }

    fn router(cfg: ReceiptConfig) -> Arc<ReceiptRouter> {
        ReceiptRouter::new(cfg, Arc::new(Metrics::default()))
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
        let taken = r.take("a", 10);
        assert_eq!(taken.len(), 2);
        r.delivered();
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
        let t = r.take("a", 1).pop().unwrap();
        r.failed(t);
        assert_eq!(r.account().retrying, 1);
        assert!(r.take("a", 1).is_empty());
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let t = r.take("a", 1).pop().expect("retried after backoff");
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
