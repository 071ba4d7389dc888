//! One carrier's shared state and the operations sessions perform on it.
//!
//! Sessions hold an `Arc<Carrier>` and call these methods for every message operation; they
//! own no message state themselves. That keeps query_sm, cancel_sm and receipts consistent across
//! sessions (a receipt for a message submitted on one bind goes out on another) and keeps the
//! protocol code free of storage concerns.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use rusmpp::CommandStatus;
use smpp::receipt::ReceiptState;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::CarrierConfig;
use crate::engine::{Engine, MessageFacts};
use crate::metrics::Metrics;
use crate::receipts::{PendingReceipt, ReceiptRouter};
pub use crate::store::Submission;
use crate::store::{IdGenerator, MessageRecord, MessageStore};

/// What must happen only after the submit response is on the wire.
///
/// With a delivery delay of zero a receipt could otherwise reach a receiver session before the
/// submitter has read its submit_sm_resp, and most gateways (Kannel among them) cannot match a
/// receipt for an id they have not yet been given.
#[derive(Debug)]
#[must_use = "pass it to Carrier::after_response once the response is sent"]
pub struct AfterResponse {
    id: String,
    intermediate: Option<PendingReceipt>,
    finish: Option<(ReceiptState, u16)>,
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

/// Shared state of one carrier.
#[derive(Debug)]
pub struct Carrier {
    /// Configuration it runs with.
    pub cfg: CarrierConfig,
    /// Accepted messages.
    pub store: MessageStore,
    /// Receipts waiting for receivers.
    pub receipts: Arc<ReceiptRouter>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Outcome and timing decisions.
    pub engine: Engine,
    ids: IdGenerator,
    binds: Mutex<HashMap<String, usize>>,
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

impl Carrier {
    /// A carrier with this configuration.
    pub fn new(cfg: CarrierConfig) -> Arc<Self> {
        let metrics = Arc::new(Metrics::default());
        Arc::new(Self {
            store: MessageStore::new(cfg.store.capacity),
            receipts: ReceiptRouter::new(cfg.receipts.clone(), Arc::clone(&metrics)),
            engine: Engine::new(cfg.delivery.clone()),
            ids: IdGenerator::new(cfg.delivery.message_id_format),
            binds: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            metrics,
            cfg,
        })
    }

    /// Checks credentials and the account's bind limit.
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
        let mut binds = self.binds.lock().unwrap_or_else(|e| e.into_inner());
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

    /// Accepts a message: stores it, asks the engine, schedules delivery. Returns its id and the
    /// work that must wait until the submit response is on the wire (see [`AfterResponse`]).
    pub fn accept(self: &Arc<Self>, account: &str, sub: Submission) -> (String, AfterResponse) {
        let id = self.ids.next_id();
        let decision = self.engine.decide(&MessageFacts {
            account,
            source: &sub.source,
            destination: &sub.destination,
            parts: sub.concat.map_or(1, |c| c.total),
        });
        let record = MessageRecord::new(id.clone(), account.to_string(), sub);
        let mut after = AfterResponse {
            id: id.clone(),
            intermediate: (record.registered_delivery & 0x10 != 0)
                .then(|| self.receipt_for(&record, ReceiptState::Enroute, 0, true)),
            finish: None,
        };
        self.store.insert(record);
        self.metrics
            .messages_accepted
            .fetch_add(1, Ordering::Relaxed);
        if decision.deliver_after.is_zero() {
            after.finish = Some((decision.outcome, decision.error_code));
        } else {
            let me = Arc::clone(self);
            let id = id.clone();
            let token = self.shutdown.clone();
            self.tasks.spawn(async move {
                tokio::select! {
                    _ = tokio::time::sleep(decision.deliver_after) => {
                        me.finish(&id, decision.outcome, decision.error_code);
                    }
                    // At shutdown the message stays ENROUTE in the store: reported, not lost.
                    _ = token.cancelled() => {}
                }
            });
        }
        (id, after)
    }

    /// Runs the work [`Carrier::accept`] deferred, once the submit response has been written.
    pub fn after_response(&self, after: AfterResponse) {
        if let Some(r) = after.intermediate {
            self.receipts.publish(r);
        }
        if let Some((outcome, error_code)) = after.finish {
            self.finish(&after.id, outcome, error_code);
        }
    }

    /// Moves every record with `id` that is still pending to its final state and publishes the
    /// receipts their registered_delivery asks for.
    fn finish(&self, id: &str, outcome: ReceiptState, error_code: u16) {
        let mut receipts = Vec::new();
        let now = Utc::now();
        self.store.update(id, |r| {
            if r.state.is_final() {
                // Cancelled (DELETED) or already final: nothing to deliver.
                return;
            }
            r.state = outcome;
            r.error_code = error_code;
            r.done_at = Some(now);
            if outcome == ReceiptState::Delivered {
                self.metrics
                    .messages_delivered
                    .fetch_add(1, Ordering::Relaxed);
            }
            if wants_final_receipt(r.registered_delivery, outcome) {
                receipts.push(self.receipt_for(r, outcome, error_code, false));
            }
        });
        for r in receipts {
            self.receipts.publish(r);
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
            .take(20)
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
                password: "secret".into(),
                max_binds: 1,
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
