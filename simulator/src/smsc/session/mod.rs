//! One SMPP session on the carrier side.
//!
//! The session is generic over `AsyncRead + AsyncWrite` so tests can drive it over
//! `tokio::io::duplex`, and TLS is just another stream. Protocol decisions are made by
//! [`state::SessionState::handle`], which takes one decoded frame and returns the PDUs to send
//! and whether to close ([`state`]); the I/O loop in [`run`], here, only moves bytes, runs
//! timers and pulls receipts; [`outgoing`] builds what the carrier sends unprompted (receipts
//! and MO messages).
//!
//! Robustness rules (each has a test): a command_length out of bounds gets generic_nack
//! ESME_RINVCMDLEN and the connection closes (the stream cannot be re-synchronised); an unknown
//! command_id gets generic_nack ESME_RINVCMDID and the session lives; a body that does not
//! decode gets its operation's response with the status naming the bad field and the session
//! lives; an operation not allowed in the bind state gets ESME_RINVBNDSTS.

pub(crate) mod outgoing;
pub(crate) mod state;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use rusmpp::{Command, CommandStatus, Pdu};
use smpp::frame::{FrameError, SmppCodec};
use smpp::pdu::generic_nack;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

use super::carrier::Carrier;
use super::delivery::AfterResponse;
use super::metrics::Direction;
use state::{Delayed, Outstanding, SessionState};

/// Runs one session to its end over `stream`.
///
/// `stop` is the carrier's shutdown signal: when it fires the carrier unbinds the peer and closes
/// once the unbind_resp arrives or the response timeout passes.
pub(crate) async fn run<S>(
    stream: S,
    peer: SocketAddr,
    carrier: Arc<Carrier>,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let cfg = carrier.cfg.session.clone();
    let mut framed = Framed::new(stream, SmppCodec::new(cfg.max_command_length));
    let mut state = SessionState::new(Arc::clone(&carrier), peer);
    let bind_deadline = Instant::now() + cfg.bind_timeout;
    let mut last_rx = Instant::now();
    let tick_every = (cfg.response_timeout / 4)
        .min(cfg.enquire_link_interval / 4)
        .min(cfg.bind_timeout / 4)
        .clamp(Duration::from_millis(20), Duration::from_millis(500));
    let mut tick = tokio::time::interval(tick_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unbinding = false;
    let metrics = Arc::clone(&carrier.metrics);
    let mut outage = carrier.outage_watch();
    // Held responses: the futures yield a key, the items wait here so that a session ending
    // early can still run their deferred deliveries (the carrier accepted those messages).
    let mut held: HashMap<u64, Delayed> = HashMap::new();
    let mut timers = futures::stream::FuturesUnordered::new();
    let mut next_hold = 0u64;
    let mut ready: Vec<AfterResponse> = Vec::new();
    // Responses waiting for the commit of their messages (durable state), oldest first, with
    // the ticket they wait for and the work that follows them.
    let mut uncommitted: VecDeque<(u64, Vec<Command>, Vec<AfterResponse>)> = VecDeque::new();
    // A connection made during an outage stays up to hear its bind refused (ESME_RBINDFAIL,
    // from `Carrier::authenticate`); only sessions alive when the outage starts are dropped.
    outage.borrow_and_update();

    // The bound account, kept across turns of the loop rather than copied on each.
    let mut account = String::new();
    let mut out: Vec<Command> = Vec::new();
    'session: loop {
        let receiver_room = |state: &SessionState, unbinding: bool| match state.kind() {
            Some(k) if k.can_receive() && !unbinding => cfg
                .deliver_window
                .saturating_sub(state.receipts_in_flight()),
            _ => 0,
        };
        let room = receiver_room(&state, unbinding);
        if let Some(a) = state.account()
            && a != account
        {
            account = a.to_string();
        }
        out.clear();
        let mut close = false;
        let mut took_receipts = false;
        // Held-back responses (submit latency) of accepted messages were released this turn.
        let mut delayed_accepts = false;
        tokio::select! {
            biased;
            _ = stop.cancelled(), if !unbinding => {
                unbinding = true;
                if state.kind().is_some() {
                    let seq = state.seq();
                    state.outstanding.insert(seq, (Outstanding::Unbind, Instant::now()));
                    out.push(Command::new(CommandStatus::EsmeRok, seq, Pdu::Unbind));
                } else {
                    close = true;
                }
            }
            item = framed.next() => {
                let mut next = item;
                // Drain what is already buffered before flushing, so a pipelined window is
                // answered with one write instead of one per PDU. 256 rather than 64: at 150,000
                // submit_sm/s a read holds a hundred PDUs or more, and the larger batch cut
                // carrier-sim's CPU by about a tenth (fewer writev calls and wakeups) for at most
                // a few hundred microseconds more before the first response of a batch is sent.
                let mut budget = 256;
                loop {
                    match next {
                        None => break 'session,
                        Some(Err(FrameError::Io(e))) => {
                            tracing::debug!(%peer, error = %e, "connection error");
                            break 'session;
                        }
                        Some(Err(e)) => {
                            tracing::info!(%peer, error = %e, "framing error; closing");
                            metrics.framing_errors.fetch_add(1, Ordering::Relaxed);
                            out.push(generic_nack(CommandStatus::EsmeRinvcmdlen, e.sequence_number()));
                            close = true;
                            break;
                        }
                        Some(Ok(frame)) => {
                            last_rx = Instant::now();
                            metrics.pdu(Direction::In, frame.header.command_id, frame.header.command_status);
                            let actions = state.handle(&frame);
                            out.extend(actions.send);
                            for d in actions.delayed {
                                let key = next_hold;
                                next_hold += 1;
                                timers.push(tokio::time::sleep(d.after).map(move |_| key));
                                held.insert(key, d);
                            }
                            state.held = held.len();
                            if actions.close {
                                close = true;
                                break;
                            }
                        }
                    }
                    budget -= 1;
                    if budget == 0 {
                        break;
                    }
                    match framed.next().now_or_never() {
                        Some(item) => next = item,
                        None => break,
                    }
                }
            }
            // The oldest responses waiting for their messages' commit (durable state) may go:
            // they are released below, with any others already committed.
            () = committed(&carrier, uncommitted.front().map_or(0, |u| u.0)), if !uncommitted.is_empty() => {}
            Some(key) = timers.next(), if !timers.is_empty() => {
                if let Some(d) = held.remove(&key) {
                    out.extend(d.send);
                    delayed_accepts |= !d.then.is_empty();
                    ready.extend(d.then);
                }
                state.held = held.len();
            }
            changed = outage.changed() => {
                if changed.is_err() || *outage.borrow_and_update() {
                    tracing::info!(%peer, carrier = %carrier.name(), "carrier outage; dropping the connection");
                    break 'session;
                }
            }
            _ = carrier.receipts.wait(&account, state.inbox.as_deref()), if room > 0 => {
                let taken = carrier.receipts.take(&account, state.inbox.as_deref(), room);
                out.extend(state.receipt_pdus(taken));
                took_receipts = true;
            }
            _ = tick.tick() => {
                let now = Instant::now();
                if state.kind().is_none() && now >= bind_deadline {
                    metrics.bind_timeouts.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(%peer, "no bind within {:?}; closing", cfg.bind_timeout);
                    break 'session;
                }
                if state.expire_outstanding(now, cfg.response_timeout) {
                    close = true;
                } else if state.kind().is_some()
                    && now.saturating_duration_since(last_rx) >= cfg.enquire_link_interval
                    && !state.outstanding.values().any(|(o, _)| matches!(o, Outstanding::EnquireLink))
                {
                    let seq = state.seq();
                    state.outstanding.insert(seq, (Outstanding::EnquireLink, now));
                    out.push(Command::new(CommandStatus::EsmeRok, seq, Pdu::EnquireLink));
                }
            }
        }
        // With durable state, no submit_sm_resp leaves before the message it announces is
        // committed (see `crate::smsc::durable`): what this turn would send is held, with the
        // work that follows it, until the writer has committed every write queued so far. The
        // session meanwhile goes on reading, acknowledging receipts and sending them; waiting
        // in the loop instead held every receipt back for a commit each turn.
        if let Some(d) = &carrier.durable
            && (state.accepted || delayed_accepts)
        {
            state.accepted = false;
            let ticket = d.pushed();
            if close {
                d.committed(ticket).await;
            } else if !d.is_committed(ticket) || !uncommitted.is_empty() {
                let afters: Vec<AfterResponse> = state
                    .after_response
                    .drain(..)
                    .chain(ready.drain(..))
                    .collect();
                uncommitted.push_back((ticket, std::mem::take(&mut out), afters));
            }
        }
        // Responses whose messages are committed leave now, oldest first, whichever branch ran:
        // a client that keeps the socket busy would otherwise keep the release branch waiting.
        if let Some(d) = &carrier.durable {
            while let Some((ticket, _, _)) = uncommitted.front()
                && d.is_committed(*ticket)
            {
                if let Some((_, cmds, afters)) = uncommitted.pop_front() {
                    out.extend(cmds);
                    ready.extend(afters);
                }
            }
        }
        // Receipts ride along with every batch. The select is biased towards reading, so a
        // peer that keeps the socket busy (any ESME submitting at a high rate) would otherwise
        // never let the receipt branch run: receipts piled up in the account's store until it
        // overflowed, at about 100,000 messages/s, while the deliver window stood empty.
        if !took_receipts && !close && !account.is_empty() {
            let room = receiver_room(&state, unbinding);
            if room > 0 {
                let taken = carrier
                    .receipts
                    .take(&account, state.inbox.as_deref(), room);
                out.extend(state.receipt_pdus(taken));
            }
        }
        for cmd in &out {
            metrics.pdu(Direction::Out, u32::from(cmd.id()), u32::from(cmd.status()));
            if framed.feed(cmd).await.is_err() {
                break 'session;
            }
        }
        if !out.is_empty() && SinkExt::<&Command>::flush(&mut framed).await.is_err() {
            break 'session;
        }
        for after in state.after_response.drain(..).chain(ready.drain(..)) {
            carrier.after_response(after);
        }
        if close {
            break;
        }
    }
    // Messages accepted in the last batch, or whose responses were still held, are delivered
    // even though their responses were never written: the carrier accepted them.
    let held_afters = held.into_values().flat_map(|d| d.then);
    let uncommitted_afters = uncommitted.into_iter().flat_map(|u| u.2);
    for after in state
        .after_response
        .drain(..)
        .chain(ready)
        .chain(held_afters)
        .chain(uncommitted_afters)
    {
        carrier.after_response(after);
    }
    // The session owns receipts it sent but never saw acknowledged: hand them back.
    state.release();
    let _ = SinkExt::<&Command>::close(&mut framed).await;
    tracing::debug!(%peer, "session ended");
}

/// Completes once the carrier's durable state has committed every write up to `ticket` (at
/// once without durable state).
async fn committed(carrier: &Carrier, ticket: u64) {
    if let Some(d) = &carrier.durable {
        d.committed(ticket).await;
    }
}
