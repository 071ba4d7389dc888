//! What happens to an accepted message over time: it is stored and announced when accepted, it
//! reaches its handset (whole, once its last part has), it reaches its final state, and its
//! receipt goes to the account's receivers.
//!
//! Sessions call [`Carrier::accept`] for each message and [`Carrier::after_response`] once the
//! submit response is written; the timers in between are the carrier's tasks, so a shutdown
//! stops them and what was still pending stays ENROUTE in the store, reported rather than lost.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use rusmpp::CommandStatus;
use smpp::receipt::ReceiptState;

use super::carrier::Carrier;
use super::decide::Refusal;
use super::durable::Op;
use super::jobs::{Fate, Job};
use super::receipts::{PendingReceipt, SessionInbox};
use super::store::{MessageRecord, Slot, Submission};
use super::timers::Full;
use crate::handsets::{Channel, NewEntry, Text};
use crate::world::behaviour::Status;
use crate::world::engine::Decision;
use crate::world::events::EventKind;

/// What must happen only after the submit response is on the wire.
///
/// With a delivery delay of zero a receipt could otherwise reach a receiver session before the
/// submitter has read its submit_sm_resp, and most gateways (Kannel among them) cannot match a
/// receipt for an id they have not yet been given.
#[derive(Debug)]
#[must_use = "pass it to Carrier::after_response once the response is sent"]
pub(crate) struct AfterResponse {
    id: String,
    /// Where the record sits, so finishing it needs no id lookup.
    slot: Slot,
    /// Receipts scheduled for it (see [`Fate::promised`]).
    promised: u8,
    intermediate: Option<PendingReceipt>,
    decision: Decision,
    /// The submitting session's inbox, where the receipt goes first (see
    /// [`crate::config::ReceiptRouting`]).
    origin: Option<Arc<SessionInbox>>,
}

/// The answer to one submitted message.
#[derive(Debug)]
pub(crate) struct Submitted {
    /// The message id and the work to run once the response is written, or the refusal.
    pub(crate) result: Result<(String, AfterResponse), CommandStatus>,
    /// How long to hold the response (the configured submit latency).
    pub(crate) latency: Duration,
}

impl Carrier {
    /// Submits a message: [`Carrier::decide`]s it, then stores, counts and publishes the
    /// answer. Returns its id and the work that must wait until the submit response is on the
    /// wire (see [`AfterResponse`]), or the refusal.
    pub(crate) fn accept(
        self: &Arc<Self>,
        account: &Arc<str>,
        sub: Submission,
        origin: Option<&Arc<SessionInbox>>,
    ) -> Submitted {
        let (decision, charge) = match self.decide(account, &sub) {
            Ok(d) => d,
            Err(Refusal { status, latency }) => {
                self.metrics.refusal(account, u32::from(status));
                self.world
                    .events
                    .publish_with(Some(self.name()), Some(&sub.destination), || {
                        EventKind::MessageRejected {
                            account: account.to_string(),
                            to: sub.destination.clone(),
                            command_status: u32::from(status),
                            reason: Status(u32::from(status)).name(),
                        }
                    });
                return Submitted {
                    result: Err(status),
                    latency,
                };
            }
        };
        let latency = decision.submit_latency;
        let id = self.ids.next_id();
        let billed_parts = sub.parts_cost();
        let price = crate::world::billing::sms_charge(billed_parts, charge.price_sms);
        let mut record = MessageRecord::new(id.clone(), Arc::clone(account), sub);
        record.price = price;
        self.metrics.accepted(account);
        self.world
            .billing
            .bill_sms(self.bill_index, account, charge.range, billed_parts, price);
        self.world
            .events
            .publish_with(Some(self.name()), Some(&record.destination), || {
                EventKind::MessageAccepted {
                    account: account.to_string(),
                    message_id: id.clone(),
                    from: record.source.clone(),
                    to: record.destination.clone(),
                    parts: record.concat.map_or(1, |c| c.total),
                    price,
                }
            });
        let intermediate = (record.registered_delivery & 0x10 != 0).then(|| PendingReceipt {
            origin: origin.cloned(),
            ..self.receipt_for(&record, ReceiptState::Enroute, 0, true)
        });
        let promised = receipts_owed(
            record.registered_delivery,
            decision.outcome,
            decision.receipt_duplicated,
        );
        if let Some(d) = &self.durable {
            record.key = d.next_key();
            d.push(Op::Message(Box::new(message_row(
                &record, &decision, promised,
            ))));
        }
        let slot = self.store.insert(record);
        // Owed from now on, so the account shows it even before the response is written.
        self.receipts.schedule(u64::from(promised));
        let after = AfterResponse {
            id: id.clone(),
            promised,
            slot,
            intermediate,
            decision,
            origin: origin.cloned(),
        };
        Submitted {
            result: Ok((id, after)),
            latency,
        }
    }

    /// Runs the work [`Carrier::accept`] deferred, once the submit response has been written:
    /// schedules the handset delivery and the final state with its receipt.
    pub(crate) fn after_response(self: &Arc<Self>, after: AfterResponse) {
        if let Some(r) = after.intermediate {
            self.receipts.publish(r);
        }
        let mut d = after.decision;
        let slot = after.slot;
        if let Some(delay) = d.handset_after {
            // Only the handset side needs the reply; finishing does not read it.
            let mo = d.mo_reply.take();
            self.at(
                delay,
                Job::Handset {
                    slot,
                    id: after.id.clone(),
                    mo,
                },
            );
        }
        let fate = Fate {
            outcome: d.outcome,
            error_code: d.error_code,
            lost: d.receipt_lost,
            duplicated: d.receipt_duplicated,
            reorder: d.receipt_reorder,
            promised: after.promised,
        };
        self.at(
            d.receipt_after,
            Job::Finish {
                slot,
                id: after.id,
                fate,
                origin: after.origin,
            },
        );
    }

    /// Runs `job` after `delay` (at once when zero) on the carrier's timers (see
    /// [`super::timers`]); a shutdown first leaves the message ENROUTE in the store, reported
    /// rather than lost.
    fn at(self: &Arc<Self>, delay: Duration, job: Job) {
        if delay.is_zero() {
            self.run(job);
            return;
        }
        if let Err(Full(job)) = self.timers.insert(delay, job) {
            // Admission keeps room for a message's timers (see `Carrier::decide`); should
            // concurrent sessions still fill the last places, the work is done early rather
            // than dropped.
            self.timers_full_warning.hit(|count| {
                tracing::warn!(carrier = %self.name(), count, capacity = self.cfg.store.max_timers, "timers full; delayed work run early");
            });
            self.run(job);
        }
    }

    /// Schedules restored work (see [`Carrier::restore`]), like [`Carrier::at`].
    pub(super) fn restore_at(self: &Arc<Self>, delay: Duration, job: Job) {
        self.at(delay, job);
    }

    /// Runs one timer's work.
    pub(crate) fn run(self: &Arc<Self>, job: Job) {
        match job {
            Job::Handset { slot, id, mo } => self.reach_handset(slot, &id, mo),
            Job::Finish {
                slot,
                id,
                fate,
                origin,
            } => self.finish(slot, &id, &fate, origin),
            Job::Publish {
                receipt,
                duplicated,
                dup_rid,
            } => self.publish_receipt(receipt, duplicated, dup_rid),
            Job::Mo {
                account,
                from,
                to,
                text,
            } => self.queue_mo(&account, &from, &to, &text),
        }
    }

    /// The message (or part) reaches its handset; a message lands in the inbox when its last
    /// part does (the store gathers the parts, see [`super::store::MessageStore::reach_handset`]).
    fn reach_handset(self: &Arc<Self>, slot: Slot, id: &str, mo: Option<(Duration, String)>) {
        let Some(r) = self.store.reach_handset(slot, mo.is_some()) else {
            return;
        };
        self.metrics
            .messages_delivered
            .fetch_add(1, Ordering::Relaxed);
        // An MO reply goes from the handset back to the sender.
        let reply = match (mo, r.account) {
            (Some((delay, text)), Some(account)) => Some((
                delay,
                text,
                account,
                r.destination.clone(),
                r.source.clone(),
            )),
            _ => None,
        };
        let events = &self.world.events;
        // The event carries decoded text, made only when someone listens; the inbox keeps the
        // user data and decodes it when read.
        events.publish_with(Some(self.name()), Some(&r.destination), || {
            EventKind::HandsetDelivered {
                message_id: id.to_string(),
                from: r.source.clone(),
                to: r.destination.clone(),
                channel: Channel::Sms,
                text: smpp::text::decode(r.data_coding, &r.payload),
            }
        });
        self.world.handsets.deliver(
            &r.destination,
            NewEntry {
                channel: Channel::Sms,
                from: r.source,
                text: Text::Sms {
                    data_coding: r.data_coding,
                    payload: r.payload,
                },
                carrier: Arc::clone(&self.name_shared),
                reference: id.to_string(),
                parts: r.parts,
                received_at: Utc::now(),
            },
        );
        if let Some((delay, text, account, from, to)) = reply {
            self.at(
                delay,
                Job::Mo {
                    account,
                    from,
                    to,
                    text,
                },
            );
        }
    }

    /// Queues an MO message (a handset's text to `to`) for `account`'s receivers.
    pub(crate) fn queue_mo(&self, account: &str, from: &str, to: &str, text: &str) {
        self.metrics.mo_generated.fetch_add(1, Ordering::Relaxed);
        self.receipts.publish(PendingReceipt {
            message_id: String::new(),
            account: account.into(),
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
            origin: None,
            rid: 0,
        });
        self.world
            .events
            .publish_with(Some(self.name()), Some(from), || EventKind::Mo {
                account: account.to_string(),
                from: from.to_string(),
                to: to.to_string(),
                text: text.to_string(),
            });
    }

    /// Moves the record in `slot` (message `id`), if still pending, to its final state and
    /// publishes the receipt its registered_delivery asks for.
    fn finish(
        self: &Arc<Self>,
        slot: Slot,
        id: &str,
        fate: &Fate,
        origin: Option<Arc<SessionInbox>>,
    ) {
        let outcome = fate.outcome;
        // One record per slot, so at most one receipt (or one lost one): no Vecs per message.
        let mut receipt = None;
        let now = Utc::now();
        let mut lost_to = None;
        // Receipts made now; the account's scheduled ones are settled against it below.
        let mut made = 0u8;
        // The record's durable key, when it reaches its final state here.
        let mut finished = None;
        let found = self.store.update_slot(slot, |r| {
            if r.state.is_final() {
                // Cancelled (DELETED) or already final: nothing to deliver.
                return;
            }
            finished = Some(r.key);
            r.state = outcome;
            r.error_code = fate.error_code;
            r.done_at = Some(now);
            self.metrics.outcome(&r.account, outcome.word());
            if wants_final_receipt(r.registered_delivery, outcome) {
                if fate.lost {
                    lost_to = Some(r.destination.clone());
                } else {
                    made = 1 + u8::from(fate.duplicated);
                    receipt = Some(PendingReceipt {
                        origin,
                        ..self.receipt_for(r, outcome, fate.error_code, false)
                    });
                }
            }
        });
        // replace_sm may have changed registered_delivery since the receipts were scheduled.
        match made.cmp(&fate.promised) {
            std::cmp::Ordering::Less => self.receipts.withdraw(u64::from(fate.promised - made)),
            std::cmp::Ordering::Greater => self.receipts.schedule(u64::from(made - fate.promised)),
            std::cmp::Ordering::Equal => {}
        }
        if !found {
            // The store evicted the record while it was pending (more messages accepted within
            // its latency than the store holds): its final state and receipt are gone. Counted
            // and logged, never silent; raise `store.capacity` to keep them.
            self.metrics.evicted_pending.fetch_add(1, Ordering::Relaxed);
            self.evicted_pending_warning.hit(|count| {
                tracing::warn!(carrier = %self.name(), count, capacity = self.cfg.store.capacity, "pending messages evicted from the store before their final state; their receipts are not sent");
            });
            return;
        }
        // The final state and the receipts it made are written together (see
        // [`super::durable::Op::Final`]).
        let mut dup_rid = 0;
        if let (Some(d), Some(key)) = (&self.durable, finished) {
            let mut rows = Vec::new();
            if let Some(r) = &mut receipt {
                self.receipts.assign_rid(r);
                rows.push(r.row());
                if fate.duplicated {
                    dup_rid = d.next_rid();
                    let mut dup = r.row();
                    dup.rid = dup_rid;
                    rows.push(dup);
                }
            }
            d.push(Op::Final {
                key,
                state: outcome,
                error_code: fate.error_code,
                done_ms: super::durable::ms(now),
                receipts: rows,
            });
        }
        if let Some(to) = lost_to {
            self.metrics.receipts_lost.fetch_add(1, Ordering::Relaxed);
            self.world
                .events
                .publish_with(Some(self.name()), Some(&to), || EventKind::MessageLost {
                    message_id: id.to_string(),
                    to: to.clone(),
                });
        }
        let Some(receipt) = receipt else {
            return;
        };
        match fate.reorder {
            Some(hold) => self.at(
                hold,
                Job::Publish {
                    receipt,
                    duplicated: fate.duplicated,
                    dup_rid,
                },
            ),
            None => self.publish_receipt(receipt, fate.duplicated, dup_rid),
        }
    }

    /// Hands a final receipt, scheduled when its message was accepted, to the router (twice
    /// when `duplicated`; the copy's durable row is `dup_rid`).
    fn publish_receipt(&self, receipt: PendingReceipt, duplicated: bool, dup_rid: u64) {
        if duplicated {
            self.metrics
                .receipts_duplicated
                .fetch_add(1, Ordering::Relaxed);
            self.receipts.publish_scheduled(PendingReceipt {
                rid: dup_rid,
                ..receipt.clone()
            });
        }
        self.receipts.publish_scheduled(receipt);
    }

    fn receipt_for(
        &self,
        r: &MessageRecord,
        state: ReceiptState,
        error_code: u16,
        intermediate: bool,
    ) -> PendingReceipt {
        // Only the first `text_chars` characters are copied: decode just enough bytes for
        // them (no SMPP encoding takes more than 4 octets a character) instead of the whole
        // message.
        let n = self.cfg.receipts.text_chars;
        let head = &r.payload[..r.payload.len().min(n.saturating_mul(4))];
        let mut text = smpp::text::decode(r.data_coding, head);
        if let Some((cut, _)) = text.char_indices().nth(n) {
            text.truncate(cut);
        }
        PendingReceipt {
            message_id: r.message_id.clone(),
            account: Arc::clone(&r.account),
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
            origin: None,
            rid: 0,
        }
    }
}

/// The durable row of a message just accepted, with the fate decided for it.
fn message_row(r: &MessageRecord, d: &Decision, promised: u8) -> super::durable::MessageRow {
    use super::durable::{FLAG_DUPLICATED, FLAG_LOST, MessageRow, ms};
    let now = ms(r.submitted_at);
    let after =
        |delay: Duration| now.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
    MessageRow {
        key: r.key,
        message_id: r.message_id.clone(),
        account: r.account.to_string(),
        source: r.source.clone(),
        destination: r.destination.clone(),
        data_coding: r.data_coding,
        registered_delivery: r.registered_delivery,
        payload: r.payload.clone(),
        concat: r.concat,
        state: r.state,
        error_code: r.error_code,
        submitted_ms: now,
        done_ms: None,
        due_ms: after(d.receipt_after),
        handset_ms: d.handset_after.map(after),
        outcome: d.outcome,
        fate_error: d.error_code,
        flags: if d.receipt_lost { FLAG_LOST } else { 0 }
            | if d.receipt_duplicated {
                FLAG_DUPLICATED
            } else {
                0
            },
        reorder_ms: d
            .receipt_reorder
            .map(|h| u64::try_from(h.as_millis()).unwrap_or(u64::MAX)),
        promised,
    }
}

/// Receipts owed for a message with this registered_delivery and fate: one when it asks for a
/// receipt of this outcome, two when that receipt is to be duplicated (see [`Fate::promised`]).
fn receipts_owed(registered_delivery: u8, outcome: ReceiptState, duplicated: bool) -> u8 {
    if wants_final_receipt(registered_delivery, outcome) {
        1 + u8::from(duplicated)
    } else {
        0
    }
}

/// Whether registered_delivery asks for a final receipt for this outcome.
///
/// Bits 0-1: 0 none, 1 on success or failure, 2 on failure only, 3 on success only (SMPP 5.0).
pub(crate) fn wants_final_receipt(registered_delivery: u8, outcome: ReceiptState) -> bool {
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

    #[test]
    fn registered_delivery_modes() {
        use ReceiptState::*;
        assert!(!wants_final_receipt(0, Delivered));
        assert!(wants_final_receipt(1, Delivered) && wants_final_receipt(1, Undeliverable));
        assert!(!wants_final_receipt(2, Delivered) && wants_final_receipt(2, Expired));
        assert!(wants_final_receipt(3, Delivered) && !wants_final_receipt(3, Rejected));
        assert!(wants_final_receipt(0x11, Delivered));
    }
}
