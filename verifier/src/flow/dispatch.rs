//! The workflow in motion: sending the code step by step and failing over.
//!
//! A step is tried by [`Engine::dispatch`]: an SMS through the carrier's bind pool or a call
//! through its control plane. A send that fails at once (submit error, throttling, no bind or a
//! lost one, no answer, an open breaker, a call that cannot be placed) moves to the next step
//! at once, recording the cause on the attempt. A send that goes out arms the step's timeout;
//! then a DELIVRD receipt (or an answered call) settles the step, a final receipt of any other
//! kind (or a failed, busy or unanswered call) moves on at once, and the timeout moves on when
//! neither a DELIVRD receipt nor a successful check came in time. When the steps run out the
//! verification stays pending until it expires (a resend starts the workflow again).
//!
//! One task drives every deadline ([`Engine::run`]): step timeouts, call polls, expiry, and a
//! periodic sweep of the number index and the receipt correlation maps.

use std::sync::Arc;
use std::time::Duration;

use smpp::receipt::ReceiptState;
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::correlate::AttemptRef;
use super::messages::{Message, text};
use super::store::{Attempt, Status};
use super::timers::Due;
use crate::carriers::control::CallState;
use crate::carriers::pool::ReceiptEvent;
use crate::config::Channel;
use crate::metrics::labels::{Cause, Overload};
use crate::otp::Binding;
use crate::support::clock::{ms, now_ms, wall};

/// How often an unfinished call is asked about.
const CALL_POLL_MS: u64 = 250;
/// Resolution of the deadline driver.
const TICK: Duration = Duration::from_millis(20);
/// How long a receipt for an unknown message id waits for its submit to complete.
const EARLY_RECEIPT_MS: u64 = 60_000;

impl Engine {
    /// Sends the code on the step in force of generation `round`, failing over until a send
    /// goes out or the steps run out.
    pub(crate) async fn dispatch(self: Arc<Self>, id: u128, round: u32) {
        loop {
            // Read what to send under the lock; send without it.
            let (channel, carrier, to, text, pos) = {
                let shard = self.store.by_id.shard(&id);
                let Some(v) = shard.get(&id) else { return };
                if v.status != Status::Pending || v.round != round {
                    return;
                }
                let Some(step) = v.steps.get(usize::from(v.pos)) else {
                    return;
                };
                let (channel, carrier, _) = self.workflow[usize::from(*step)];
                let now = now_ms();
                let binding = Binding {
                    amount: v.amount.as_deref(),
                    payee: v.payee.as_deref(),
                };
                let code = self.codes.code(v.stored.seed, binding, now);
                let m = Message {
                    brand: &self.cfg.messages.brand,
                    code: &code,
                    minutes: v.expires_ms.saturating_sub(now).div_ceil(60_000).max(1),
                    amount: v.amount.as_deref(),
                    payee: v.payee.as_deref(),
                };
                (
                    channel,
                    carrier,
                    v.to,
                    text(v.locale.as_deref(), channel, &m),
                    v.pos,
                )
            };
            let sent = match channel {
                Channel::Sms => self.carriers.send_sms(carrier, to, &text).await,
                Channel::Voice => {
                    self.carriers
                        .call(carrier, to, &self.cfg.messages.voice_from, &text)
                        .await
                }
            };
            drop(text);
            let now = now_ms();
            let mut shard = self.store.by_id.shard(&id);
            let Some(v) = shard.get_mut(&id) else { return };
            if v.status != Status::Pending || v.round != round || v.pos != pos {
                return;
            }
            let mut attempt = Attempt {
                channel,
                carrier: self.carriers.name(carrier).to_string(),
                message_id: None,
                call_id: None,
                submitted_at: wall(now),
                receipt_status: None,
                receipt_at: None,
                failover_cause: None,
                failover_detail: None,
                routed: if pos == 0 { v.routed } else { None },
                pos,
                round,
            };
            v.updated_ms = now;
            match sent {
                Err(e) => {
                    attempt.failover_cause = Some(e.cause);
                    attempt.failover_detail = Some(e.detail);
                    v.attempts.push(attempt);
                    v.pos += 1;
                    self.metrics.failover(e.cause);
                    continue;
                }
                Ok(handle) => {
                    self.metrics.sent(carrier, channel);
                    let step = self.workflow[usize::from(v.steps[usize::from(pos)])];
                    let index = v.attempts.len() as u16;
                    let at = AttemptRef {
                        id,
                        round,
                        pos,
                        attempt: index,
                    };
                    match channel {
                        Channel::Sms => attempt.message_id = Some(handle.clone()),
                        Channel::Voice => attempt.call_id = Some(handle.clone()),
                    }
                    v.attempts.push(attempt);
                    v.delivered = false;
                    self.timers
                        .push(now + step.2, id, Due::StepTimeout { round, pos });
                    drop(shard);
                    match channel {
                        Channel::Sms => {
                            if let Some(state) =
                                self.correlator.expect(carrier as u16, handle, at, now)
                            {
                                let delivered = state == ReceiptState::Delivered;
                                self.metrics.receipt(carrier, delivered);
                                self.settle(
                                    at,
                                    &state_word(state),
                                    delivered,
                                    Cause::Undeliverable,
                                );
                            }
                        }
                        Channel::Voice => {
                            self.timers
                                .push(now + CALL_POLL_MS, id, Due::CallPoll { round, pos })
                        }
                    }
                    return;
                }
            }
        }
    }

    /// A final receipt from a carrier.
    pub(crate) fn receipt(self: &Arc<Self>, r: ReceiptEvent) {
        let delivered = r.state == ReceiptState::Delivered;
        let now = now_ms();
        // An unknown id is kept as an early receipt; `dispatch` matches it when the submit
        // completes.
        if let Some(at) = self
            .correlator
            .receipt(r.carrier as u16, r.message_id, r.state, now)
        {
            self.metrics.receipt(r.carrier, delivered);
            self.settle(at, &state_word(r.state), delivered, Cause::Undeliverable);
        }
    }

    /// The outcome of attempt `at` is known: `delivered` settles its step; anything else moves
    /// the workflow on at once (when the step is still the one in force).
    fn settle(self: &Arc<Self>, at: AttemptRef, status: &str, delivered: bool, cause: Cause) {
        let mut shard = self.store.by_id.shard(&at.id);
        let Some(v) = shard.get_mut(&at.id) else {
            return;
        };
        if let Some(a) = v.attempts.get_mut(usize::from(at.attempt)) {
            a.receipt_status = Some(status.to_string());
            a.receipt_at = Some(wall(now_ms()));
        }
        if v.status != Status::Pending || v.round != at.round || v.pos != at.pos {
            return;
        }
        if delivered {
            v.delivered = true;
            return;
        }
        self.leave_step(v, at.attempt, cause, Some(status.to_string()));
        drop(shard);
        let engine = Arc::clone(self);
        tokio::spawn(engine.dispatch(at.id, at.round));
    }

    /// Records why the step in force is left and moves to the next.
    fn leave_step(
        &self,
        v: &mut super::store::Verification,
        attempt: u16,
        cause: Cause,
        detail: Option<String>,
    ) {
        if let Some(a) = v.attempts.get_mut(usize::from(attempt)) {
            a.failover_cause = Some(cause);
            a.failover_detail = detail;
        }
        v.pos += 1;
        v.updated_ms = now_ms();
        self.metrics.failover(cause);
    }

    /// Handles what is due at `now`.
    fn due(self: &Arc<Self>, id: u128, due: Due, now: u64) {
        match due {
            Due::Expire => {
                let mut shard = self.store.by_id.shard(&id);
                let Some(v) = shard.get_mut(&id) else { return };
                if v.status != Status::Pending || now < v.expires_ms {
                    return;
                }
                v.status = Status::Expired;
                v.updated_ms = now;
                let to = v.to;
                drop(shard);
                self.store.ended(id, to);
            }
            Due::StepTimeout { round, pos } => {
                let mut shard = self.store.by_id.shard(&id);
                let Some(v) = shard.get_mut(&id) else { return };
                if v.status != Status::Pending || v.round != round || v.pos != pos || v.delivered {
                    return;
                }
                let attempt = v
                    .attempts
                    .iter()
                    .rposition(|a| a.round == round && a.pos == pos)
                    .unwrap_or(0) as u16;
                self.leave_step(
                    v,
                    attempt,
                    Cause::StepTimeout,
                    Some("no DELIVRD receipt and no check in time".into()),
                );
                drop(shard);
                tokio::spawn(Arc::clone(self).dispatch(id, round));
            }
            Due::CallPoll { round, pos } => {
                let call = {
                    let shard = self.store.by_id.shard(&id);
                    shard
                        .get(&id)
                        .filter(|v| v.status == Status::Pending && v.round == round && v.pos == pos)
                        .and_then(|v| {
                            let i = v
                                .attempts
                                .iter()
                                .rposition(|a| a.round == round && a.pos == pos)?;
                            let carrier = self.workflow[usize::from(v.steps[usize::from(pos)])].1;
                            Some((i as u16, carrier, v.attempts[i].call_id.clone()?))
                        })
                };
                let Some((attempt, carrier, call_id)) = call else {
                    return;
                };
                let engine = Arc::clone(self);
                tokio::spawn(async move {
                    let at = AttemptRef {
                        id,
                        round,
                        pos,
                        attempt,
                    };
                    match engine.carriers.call_state(carrier, &call_id).await {
                        Ok(CallState::InProgress) | Err(_) => {
                            engine.timers.push(
                                now_ms() + CALL_POLL_MS,
                                id,
                                Due::CallPoll { round, pos },
                            );
                        }
                        Ok(CallState::Answered) => {
                            engine.metrics.receipt(carrier, true);
                            engine.settle(at, "answered", true, Cause::CallFailed);
                        }
                        Ok(CallState::Failed(word)) => {
                            engine.metrics.receipt(carrier, false);
                            engine.settle(at, &word, false, Cause::CallFailed);
                        }
                    }
                });
            }
        }
    }

    /// Drives deadlines and sweeps until `stop`.
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        let sweep_ms = ms(self.cfg.limits.sweep_interval);
        let mut last_sweep = now_ms();
        loop {
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                () = stop.cancelled() => return,
            }
            let now = now_ms();
            for (id, due) in self.timers.pop_due(now) {
                self.due(id, due, now);
            }
            if now.saturating_sub(last_sweep) >= sweep_ms {
                last_sweep = now;
                self.sweep(now);
            }
        }
    }

    /// Forgets numbers whose verifications have left the store, and correlation entries that
    /// can no longer matter.
    fn sweep(&self, now: u64) {
        // Lock order: a number's shard, then a verification's (as `open` does).
        self.store.by_number.for_each_shard(|m| {
            m.retain(|_, ns| {
                ns.active.is_some()
                    || ns
                        .last
                        .is_some_and(|id| self.store.by_id.shard(&id).contains_key(&id))
            })
        });
        // A receipt later than this finds its step long left; it would only fill in the
        // attempt record, which is not worth the memory of every lost receipt.
        let longest_step = self.workflow.iter().map(|s| s.2).max().unwrap_or(0);
        let horizon = (longest_step * 2 + 60_000).min(ms(self.cfg.codes.expiry) + 60_000);
        let dropped = self.correlator.sweep(now, horizon, EARLY_RECEIPT_MS);
        for _ in 0..dropped {
            self.metrics.overload(Overload::UnmatchedReceipt);
        }
    }
}

fn state_word(s: ReceiptState) -> String {
    s.word().to_string()
}
