//! The protocol decisions of one session: the bind state machine and every operation, as
//! plain functions of a decoded frame and the session's state that return the PDUs to send
//! (no I/O here; [`super::run`] does that).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rusmpp::pdus::{DataSmResp, QuerySmResp, SubmitMultiResp, SubmitSmResp};
use rusmpp::types::{COctetString, EmptyOrFullCOctetString};
use rusmpp::values::{DestAddress, MessageState, Npi, Ton, UnsuccessSme};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use smpp::frame::{Frame, Header};
use smpp::pdu::{bind_response, c_str, c_string, error_response, generic_nack};
use tokio::time::Instant;

use super::outgoing::{mo_deliver_sm, receipt_pdu};
use crate::config::ReceiptRouting;
use crate::smsc::carrier::{BindGuard, Carrier};
use crate::smsc::delivery::AfterResponse;
use crate::smsc::receipts::{PendingReceipt, SessionInbox};
use crate::smsc::store::{ConcatRef, Submission};

/// What a bind allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BindKind {
    /// May submit.
    Transmitter,
    /// May receive.
    Receiver,
    /// Both.
    Transceiver,
}

impl BindKind {
    fn can_submit(self) -> bool {
        matches!(self, BindKind::Transmitter | BindKind::Transceiver)
    }

    pub(super) fn can_receive(self) -> bool {
        matches!(self, BindKind::Receiver | BindKind::Transceiver)
    }

    /// The bind request this kind answers.
    fn request_id(self) -> CommandId {
        match self {
            BindKind::Transmitter => CommandId::BindTransmitter,
            BindKind::Receiver => CommandId::BindReceiver,
            BindKind::Transceiver => CommandId::BindTransceiver,
        }
    }

    fn name(self) -> &'static str {
        match self {
            BindKind::Transmitter => "transmitter",
            BindKind::Receiver => "receiver",
            BindKind::Transceiver => "transceiver",
        }
    }
}

/// The bind state of a session.
#[derive(Debug)]
enum BindState {
    /// Connected, not bound.
    Open,
    /// Bound.
    Bound { kind: BindKind, guard: BindGuard },
}

/// A request the carrier sent and awaits a response for.
#[derive(Debug)]
pub(super) enum Outstanding {
    Receipt(PendingReceipt),
    EnquireLink,
    Unbind,
}

/// What the I/O loop should do after handling a frame.
#[derive(Debug, Default)]
pub(crate) struct Actions {
    /// PDUs to send, in order.
    pub send: Vec<Command>,
    /// PDUs to send later (configured submit latency, injected response delay).
    pub delayed: Vec<Delayed>,
    /// Close the connection after sending.
    pub close: bool,
}

/// A response held back, with the deliveries that must wait until it is written.
#[derive(Debug)]
pub(crate) struct Delayed {
    /// How long to hold it.
    pub after: Duration,
    /// The PDUs.
    pub send: Vec<Command>,
    /// Work to run once they are written (see [`AfterResponse`]).
    pub then: Vec<AfterResponse>,
}

impl Actions {
    fn reply(cmd: Command) -> Self {
        Self {
            send: vec![cmd],
            ..Default::default()
        }
    }
}

/// Protocol state of one session.
#[derive(Debug)]
pub(crate) struct SessionState {
    carrier: Arc<Carrier>,
    peer: SocketAddr,
    bind: BindState,
    next_seq: u32,
    pub(super) outstanding: HashMap<u32, (Outstanding, Instant)>,
    /// How many of `outstanding` are receipts: the deliver window is checked on every turn of
    /// the I/O loop, and counting the map each time cost a scan of up to a window of entries.
    receipts_out: usize,
    /// Deliveries and receipts held until the responses that announce their ids are written.
    pub(super) after_response: Vec<AfterResponse>,
    /// Longest configured submit latency among the messages of the PDU being handled.
    latency: Duration,
    /// PDUs received, for the fault triggers.
    received: u64,
    /// Random stream for fault decisions, seeded per session.
    faults_rng: rand_pcg::Pcg64Mcg,
    /// This session's own receipt queue, when it can receive and receipts go to their origin.
    pub(super) inbox: Option<Arc<SessionInbox>>,
    /// Requests whose responses the I/O loop holds back now (submit latency, response delay).
    pub(super) held: usize,
    /// Binds refused on this connection (see `bind_lockout.failures_per_connection`).
    failed_binds: u32,
    /// A message was accepted since the I/O loop last wrote: with durable state its response
    /// waits for the commit that keeps it (see [`crate::smsc::durable`]).
    pub(super) accepted: bool,
}

impl SessionState {
    /// A fresh, unbound session.
    pub fn new(carrier: Arc<Carrier>, peer: SocketAddr) -> Self {
        let n = carrier.next_session();
        let faults_rng = crate::world::dist::stream(
            carrier.world.seed,
            &[
                b"session-faults",
                carrier.name().as_bytes(),
                &n.to_le_bytes(),
            ],
        );
        Self {
            carrier,
            peer,
            bind: BindState::Open,
            next_seq: 1,
            outstanding: HashMap::new(),
            receipts_out: 0,
            after_response: Vec::new(),
            latency: Duration::ZERO,
            received: 0,
            faults_rng,
            inbox: None,
            accepted: false,
            held: 0,
            failed_binds: 0,
        }
    }

    pub(super) fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    pub(super) fn account(&self) -> Option<&str> {
        match &self.bind {
            BindState::Bound { guard, .. } => Some(guard.account()),
            BindState::Open => None,
        }
    }

    /// The account bound, shared (operations are refused before binding, so unbound sessions
    /// never submit; they would get an empty account).
    fn account_shared(&self) -> Arc<str> {
        match &self.bind {
            BindState::Bound { guard, .. } => Arc::clone(guard.account_shared()),
            BindState::Open => Arc::from(""),
        }
    }

    pub(super) fn kind(&self) -> Option<BindKind> {
        match &self.bind {
            BindState::Bound { kind, .. } => Some(*kind),
            BindState::Open => None,
        }
    }

    /// Handles one frame from the peer, with the carrier's session faults applied.
    pub fn handle(&mut self, frame: &Frame) -> Actions {
        let header = frame.header;
        self.received += 1;
        let faults = self.carrier.faults();
        // Draw every fault decision for every PDU, so one setting does not shift the others.
        let drop_draw = crate::world::dist::chance(&mut self.faults_rng, faults.drop_probability);
        let unbind_draw =
            crate::world::dist::chance(&mut self.faults_rng, faults.unbind_probability);
        let nack_draw =
            crate::world::dist::chance(&mut self.faults_rng, faults.generic_nack_probability);
        let delay = crate::world::dist::scale(
            faults.response_delay.sample(&mut self.faults_rng),
            self.carrier.world.time_scale,
        );
        let bound = self.kind().is_some();
        if bound
            && (drop_draw
                || (faults.drop_after_pdus > 0 && self.received >= faults.drop_after_pdus))
        {
            tracing::info!(peer = %self.peer, pdus = self.received, "fault: dropping the connection");
            self.carrier
                .metrics
                .faults_injected
                .fetch_add(1, Ordering::Relaxed);
            return Actions {
                close: true,
                ..Default::default()
            };
        }
        let is_bind = matches!(
            header.id(),
            CommandId::BindTransmitter | CommandId::BindReceiver | CommandId::BindTransceiver
        );
        if bound && nack_draw && !header.is_response() && !is_bind {
            self.carrier
                .metrics
                .faults_injected
                .fetch_add(1, Ordering::Relaxed);
            return Actions::reply(generic_nack(
                CommandStatus::EsmeRsyserr,
                header.sequence_number,
            ));
        }
        if bound && faults.ignore_enquire_link && header.id() == CommandId::EnquireLink {
            return Actions::default();
        }
        // Back-pressure answers before the body is even decoded: under overload refusals come
        // at the offered rate, and each must cost as little as possible so the carrier keeps
        // its CPU for the messages it accepted (and their receipts).
        if bound
            && matches!(
                header.id(),
                CommandId::SubmitSm | CommandId::DataSm | CommandId::SubmitMulti
            )
            && let Some(status) = self
                .carrier
                .receipts
                .refusal(self.account().unwrap_or_default())
        {
            let metrics = &self.carrier.metrics;
            metrics
                .backpressure_refusals
                .fetch_add(1, Ordering::Relaxed);
            metrics.refusal(self.account().unwrap_or_default(), status);
            return Actions::reply(error_response(&header, CommandStatus::from(status)));
        }
        // The client's window is its promise, not ours: past `max_held_responses` requests
        // waiting for a held-back response, new operations are answered at once with
        // ESME_RTHROTTLED (counted) instead of holding more.
        if bound
            && self.held >= self.carrier.cfg.session.max_held_responses
            && is_operation(header.id())
        {
            let metrics = &self.carrier.metrics;
            metrics.window_refusals.fetch_add(1, Ordering::Relaxed);
            metrics.refusal(
                self.account().unwrap_or_default(),
                u32::from(CommandStatus::EsmeRthrottled),
            );
            return Actions::reply(error_response(&header, CommandStatus::EsmeRthrottled));
        }
        let mark = self.after_response.len();
        self.latency = Duration::ZERO;
        let mut actions = self.handle_frame(frame);
        let hold = self.latency + delay;
        // A response followed by a close (unbind_resp, a last refused bind) goes at once: held
        // back, it would be lost with the connection.
        if !hold.is_zero() && !actions.send.is_empty() && !actions.close {
            actions.delayed.push(Delayed {
                after: hold,
                send: std::mem::take(&mut actions.send),
                then: self.after_response.split_off(mark),
            });
        }
        if bound
            && !actions.close
            && (unbind_draw
                || (faults.unbind_after_pdus > 0 && self.received == faults.unbind_after_pdus))
            && !self
                .outstanding
                .values()
                .any(|(o, _)| matches!(o, Outstanding::Unbind))
        {
            tracing::info!(peer = %self.peer, pdus = self.received, "fault: sending unbind");
            self.carrier
                .metrics
                .faults_injected
                .fetch_add(1, Ordering::Relaxed);
            let seq = self.seq();
            self.outstanding
                .insert(seq, (Outstanding::Unbind, Instant::now()));
            actions
                .send
                .push(Command::new(CommandStatus::EsmeRok, seq, Pdu::Unbind));
        }
        actions
    }

    fn handle_frame(&mut self, frame: &Frame) -> Actions {
        let header = frame.header;
        if header.is_response() {
            return self.handle_response(frame);
        }
        let command = match frame.decode() {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(peer = %self.peer, error = %e, "bad PDU answered");
                // A bind with a body we cannot read is still a bind attempt in the wrong shape;
                // the state check still comes first so an unbound peer learns it must bind.
                if let Some(refusal) = self.state_refusal(header.id(), &header) {
                    return refusal;
                }
                return Actions::reply(error_response(&header, e.status));
            }
        };
        if let Some(refusal) = self.state_refusal(command.id(), &header) {
            return refusal;
        }
        let seq = header.sequence_number;
        let Some(pdu) = command.pdu() else {
            return Actions::reply(error_response(&header, CommandStatus::EsmeRinvcmdlen));
        };
        match pdu {
            Pdu::BindTransmitter(b) => self.bind(
                BindKind::Transmitter,
                seq,
                &b.system_id,
                &b.password,
                b.interface_version.into(),
            ),
            Pdu::BindReceiver(b) => self.bind(
                BindKind::Receiver,
                seq,
                &b.system_id,
                &b.password,
                b.interface_version.into(),
            ),
            Pdu::BindTransceiver(b) => self.bind(
                BindKind::Transceiver,
                seq,
                &b.system_id,
                &b.password,
                b.interface_version.into(),
            ),
            Pdu::EnquireLink => Actions::reply(Command::new(
                CommandStatus::EsmeRok,
                seq,
                Pdu::EnquireLinkResp,
            )),
            Pdu::Unbind => {
                let mut a =
                    Actions::reply(Command::new(CommandStatus::EsmeRok, seq, Pdu::UnbindResp));
                a.close = true;
                a
            }
            Pdu::SubmitSm(s) => self.submit_sm(seq, s),
            Pdu::DataSm(d) => self.data_sm(seq, d),
            Pdu::SubmitMulti(m) => self.submit_multi(seq, m),
            Pdu::QuerySm(q) => self.query_sm(seq, q),
            Pdu::CancelSm(c) => self.cancel_sm(seq, c),
            Pdu::ReplaceSm(r) => self.replace_sm(seq, r),
            // The carrier never accepts these from an ESME.
            _ => Actions::reply(error_response(&header, CommandStatus::EsmeRprohibited)),
        }
    }

    /// ESME_RINVBNDSTS (or ESME_RALYBND) when the command is not allowed in this bind state.
    fn state_refusal(&self, id: CommandId, header: &Header) -> Option<Actions> {
        use CommandId as C;
        let allowed = match (id, self.kind()) {
            (C::EnquireLink | C::GenericNack, _) => true,
            (C::BindTransmitter | C::BindReceiver | C::BindTransceiver, None) => true,
            (C::BindTransmitter | C::BindReceiver | C::BindTransceiver, Some(_)) => {
                return Some(Actions::reply(error_response(
                    header,
                    CommandStatus::EsmeRalybnd,
                )));
            }
            (_, None) => false,
            (
                C::SubmitSm | C::DataSm | C::SubmitMulti | C::QuerySm | C::CancelSm | C::ReplaceSm,
                Some(k),
            ) => k.can_submit(),
            // Everything else a bound session may send (unbind, responses; unknown ids are
            // answered with ESME_RINVCMDID by the decode path).
            (_, Some(_)) => true,
        };
        (!allowed).then(|| Actions::reply(error_response(header, CommandStatus::EsmeRinvbndsts)))
    }

    fn bind(
        &mut self,
        kind: BindKind,
        seq: u32,
        system_id: &COctetString<1, 16>,
        password: &COctetString<1, 9>,
        interface_version: u8,
    ) -> Actions {
        let sys = self.carrier.cfg.system_id.clone();
        let system_id = c_str(system_id);
        let ip = self.peer.ip();
        let now = Instant::now();
        let lockout = &self.carrier.lockout;
        // A locked-out bind is refused before its credentials are looked at, so a guesser
        // learns nothing from it, not even that a password was right.
        let result = match lockout.admit(ip, &system_id, now) {
            Err(_) => Err(CommandStatus::EsmeRbindfail),
            Ok(()) => {
                let r = self.carrier.authenticate(&system_id, &c_str(password));
                if let Err(CommandStatus::EsmeRinvsysid | CommandStatus::EsmeRinvpaswd) = r {
                    lockout.failed(ip, &system_id, now);
                }
                r
            }
        };
        let mut close = false;
        let status = match result {
            Ok(guard) => {
                tracing::info!(peer = %self.peer, account = %guard.account(), kind = kind.name(), interface_version = format!("0x{interface_version:02x}"), "bound");
                // A session that can receive gets receipts for its own messages first.
                if kind.can_receive()
                    && self.carrier.cfg.receipts.routing == ReceiptRouting::OriginFirst
                {
                    self.inbox = Some(self.carrier.receipts.open_inbox(guard.account()));
                }
                self.bind = BindState::Bound { kind, guard };
                CommandStatus::EsmeRok
            }
            Err(status) => {
                lockout.log_refused(self.peer, &system_id, status);
                self.failed_binds += 1;
                // After a failed bind, one more attempt on the connection (by default): a
                // guesser must reconnect for each pair of guesses, as with real SMSCs.
                if lockout
                    .failures_per_connection()
                    .is_some_and(|max| self.failed_binds >= max)
                {
                    self.carrier
                        .metrics
                        .bind_failure_closes
                        .fetch_add(1, Ordering::Relaxed);
                    close = true;
                }
                status
            }
        };
        self.carrier.metrics.bind(kind.name(), u32::from(status));
        let mut actions = Actions::reply(bind_response(
            kind.request_id(),
            status,
            seq,
            &sys,
            interface_version,
        ));
        actions.close = close;
        actions
    }

    fn submit_sm(&mut self, seq: u32, s: &rusmpp::pdus::SubmitSm) -> Actions {
        let payload = smpp::pdu::message_payload(s.tlvs());
        let short: &[u8] = s.short_message().as_ref();
        let result = if payload.is_some() && !short.is_empty() {
            // SMPP forbids both; refusing is what strict SMSCs do.
            Err(CommandStatus::EsmeRinvmsglen)
        } else {
            self.accept_one(OneMessage {
                source: &s.source_addr,
                destination: &s.destination_addr,
                esm_class: s.esm_class.into(),
                data_coding: s.data_coding.into(),
                registered_delivery: s.registered_delivery.into(),
                user_data: payload.unwrap_or(short),
                tlvs: s.tlvs(),
            })
        };
        let (status, id) =
            result.map_or_else(|e| (e, String::new()), |id| (CommandStatus::EsmeRok, id));
        Actions::reply(Command::new(
            status,
            seq,
            SubmitSmResp::new(c_string::<65>(&id), Vec::new()),
        ))
    }

    fn data_sm(&mut self, seq: u32, d: &rusmpp::pdus::DataSm) -> Actions {
        let result = self.accept_one(OneMessage {
            source: &d.source_addr,
            destination: &d.destination_addr,
            esm_class: d.esm_class.into(),
            data_coding: d.data_coding.into(),
            registered_delivery: d.registered_delivery.into(),
            user_data: smpp::pdu::message_payload(d.tlvs()).unwrap_or(&[]),
            tlvs: d.tlvs(),
        });
        let (status, id) =
            result.map_or_else(|e| (e, String::new()), |id| (CommandStatus::EsmeRok, id));
        Actions::reply(Command::new(
            status,
            seq,
            DataSmResp::new(c_string::<65>(&id), Vec::new()),
        ))
    }

    /// Checks and accepts one message to one destination; returns its id.
    fn accept_one(&mut self, m: OneMessage<'_>) -> Result<String, CommandStatus> {
        let destination = c_str(m.destination);
        check_destination(&destination)?;
        let (payload, concat) = split_concat(m.esm_class, m.user_data, m.tlvs)?;
        let account = self.account_shared();
        self.submit(
            &account,
            Submission {
                source: c_str(m.source),
                destination,
                data_coding: m.data_coding,
                registered_delivery: m.registered_delivery,
                payload,
                concat,
            },
        )
    }

    /// Hands one message to the carrier; keeps its deferred work and its response latency.
    fn submit(&mut self, account: &Arc<str>, sub: Submission) -> Result<String, CommandStatus> {
        let submitted = self.carrier.accept(account, sub, self.inbox.as_ref());
        self.latency = self.latency.max(submitted.latency);
        let (id, after) = submitted.result?;
        self.after_response.push(after);
        self.accepted = true;
        Ok(id)
    }

    fn submit_multi(&mut self, seq: u32, m: &rusmpp::pdus::SubmitMulti) -> Actions {
        let source = c_str(&m.source_addr);
        let esm: u8 = m.esm_class.into();
        let payload = smpp::pdu::message_payload(m.tlvs());
        let user_data = payload.unwrap_or(m.short_message().as_ref());
        let fail = |status| {
            Actions::reply(Command::new(
                status,
                seq,
                SubmitMultiResp::new(COctetString::empty(), Vec::new(), Vec::new()),
            ))
        };
        if m.dest_address().is_empty() || m.dest_address().len() > 254 {
            return fail(CommandStatus::EsmeRinvnumdests);
        }
        let (data, concat) = match split_concat(esm, user_data, m.tlvs()) {
            Ok(x) => x,
            Err(status) => return fail(status),
        };
        let account = self.account_shared();
        let mut first_id: Option<String> = None;
        let mut unsuccess = Vec::new();
        for dest in m.dest_address() {
            match dest {
                DestAddress::SmeAddress(sme) => {
                    let destination = c_str(&sme.destination_addr);
                    if let Err(status) = check_destination(&destination) {
                        unsuccess.push(UnsuccessSme::new(
                            sme.dest_addr_ton,
                            sme.dest_addr_npi,
                            sme.destination_addr.clone(),
                            status,
                        ));
                        continue;
                    }
                    let submitted = self.submit(
                        &account,
                        Submission {
                            source: source.clone(),
                            destination,
                            data_coding: m.data_coding.into(),
                            registered_delivery: m.registered_delivery.into(),
                            payload: data.clone(),
                            concat,
                        },
                    );
                    match submitted {
                        Ok(id) => {
                            first_id.get_or_insert(id);
                        }
                        Err(status) => unsuccess.push(UnsuccessSme::new(
                            sme.dest_addr_ton,
                            sme.dest_addr_npi,
                            sme.destination_addr.clone(),
                            status,
                        )),
                    }
                }
                DestAddress::DistributionListName(dl) => {
                    // Distribution lists are not provisioned on the simulator.
                    unsuccess.push(UnsuccessSme::new(
                        Ton::Unknown,
                        Npi::Unknown,
                        c_string::<21>(&c_str(&dl.dl_name)),
                        CommandStatus::EsmeRinvdlname,
                    ));
                }
            }
        }
        let resp = SubmitMultiResp::new(
            c_string::<65>(first_id.as_deref().unwrap_or("")),
            unsuccess,
            Vec::new(),
        );
        Actions::reply(Command::new(CommandStatus::EsmeRok, seq, resp))
    }

    fn query_sm(&mut self, seq: u32, q: &rusmpp::pdus::QuerySm) -> Actions {
        let account = self.account().unwrap_or_default().to_string();
        let id = c_str(&q.message_id);
        match self.carrier.query(&account, &id, &c_str(&q.source_addr)) {
            Ok(r) => {
                let final_date = r
                    .final_date
                    .map(|d| smpp_absolute_time(&d))
                    .and_then(|s| {
                        EmptyOrFullCOctetString::from_vec(format!("{s}\0").into_bytes()).ok()
                    })
                    .unwrap_or_else(EmptyOrFullCOctetString::empty);
                let resp = QuerySmResp::new(
                    q.message_id.clone(),
                    final_date,
                    r.state.message_state(),
                    u8::try_from(r.error_code).unwrap_or(u8::MAX),
                );
                Actions::reply(Command::new(CommandStatus::EsmeRok, seq, resp))
            }
            Err(status) => Actions::reply(Command::new(
                status,
                seq,
                QuerySmResp::new(
                    q.message_id.clone(),
                    EmptyOrFullCOctetString::empty(),
                    MessageState::Unknown,
                    0,
                ),
            )),
        }
    }

    fn cancel_sm(&mut self, seq: u32, c: &rusmpp::pdus::CancelSm) -> Actions {
        let account = self.account().unwrap_or_default().to_string();
        let status = match self.carrier.cancel(
            &account,
            &c_str(&c.message_id),
            &c_str(&c.source_addr),
            &c_str(&c.destination_addr),
        ) {
            Ok(_) => CommandStatus::EsmeRok,
            Err(s) => s,
        };
        Actions::reply(Command::new(status, seq, Pdu::CancelSmResp))
    }

    fn replace_sm(&mut self, seq: u32, r: &rusmpp::pdus::ReplaceSm) -> Actions {
        let account = self.account().unwrap_or_default().to_string();
        let payload = match r.message_payload() {
            Some(p) => p.value.as_ref().to_vec(),
            None => r.short_message().as_ref().to_vec(),
        };
        let status = match self.carrier.replace(
            &account,
            &c_str(&r.message_id),
            &c_str(&r.source_addr),
            payload,
            r.registered_delivery.into(),
        ) {
            Ok(()) => CommandStatus::EsmeRok,
            Err(s) => s,
        };
        Actions::reply(Command::new(status, seq, Pdu::ReplaceSmResp))
    }

    fn handle_response(&mut self, frame: &Frame) -> Actions {
        let header = frame.header;
        let Some((what, _)) = self.take_outstanding(header.sequence_number) else {
            // A response to nothing we sent: log it; answering a response would loop.
            tracing::debug!(peer = %self.peer, seq = header.sequence_number, id = %smpp::frame::command_name(header.command_id), "unexpected response ignored");
            return Actions::default();
        };
        // generic_nack or a body we cannot read still carries the status we need.
        let status = header.status();
        match what {
            Outstanding::Receipt(r) => {
                if status == CommandStatus::EsmeRok {
                    self.carrier.receipts.delivered(r.rid);
                } else {
                    let peer = self.peer;
                    self.carrier.receipts.retry_notice.hit(|count| {
                        tracing::info!(%peer, message_id = %r.message_id, ?status, count, "receipts refused by the ESME; they will be retried");
                    });
                    self.carrier.receipts.failed(r);
                }
                Actions::default()
            }
            Outstanding::EnquireLink => Actions::default(),
            Outstanding::Unbind => Actions {
                close: true,
                ..Default::default()
            },
        }
    }

    /// Builds deliver_sm PDUs for receipts taken from the router.
    pub(super) fn receipt_pdus(&mut self, receipts: Vec<PendingReceipt>) -> Vec<Command> {
        let now = Instant::now();
        let mut out = Vec::with_capacity(receipts.len());
        for r in receipts {
            let seq = self.seq();
            let pdu = if r.mo_text.is_some() {
                Pdu::from(mo_deliver_sm(&r))
            } else {
                self.carrier.world.events.publish_with(
                    Some(self.carrier.name()),
                    Some(&r.original_destination),
                    || crate::world::events::EventKind::ReceiptSent {
                        account: r.account.to_string(),
                        message_id: r.message_id.clone(),
                        to: r.original_destination.clone(),
                        stat: r.state.word().to_string(),
                        err: format!("{:03}", r.error_code.min(999)),
                        duplicate: r.attempts > 0,
                    },
                );
                receipt_pdu(&r, &self.carrier.cfg.receipts)
            };
            out.push(Command::new(CommandStatus::EsmeRok, seq, pdu));
            self.outstanding.insert(seq, (Outstanding::Receipt(r), now));
            self.receipts_out += 1;
        }
        out
    }

    pub(super) fn receipts_in_flight(&self) -> usize {
        self.receipts_out
    }

    /// Removes an outstanding request, keeping the receipt count in step.
    fn take_outstanding(&mut self, seq: u32) -> Option<(Outstanding, Instant)> {
        let taken = self.outstanding.remove(&seq);
        if let Some((Outstanding::Receipt(_), _)) = &taken {
            self.receipts_out -= 1;
        }
        taken
    }

    /// Requests past their deadline: failed receipts are retried elsewhere; an unanswered
    /// enquire_link or unbind means the peer is gone. Returns true when the session must close.
    pub(super) fn expire_outstanding(&mut self, now: Instant, timeout: Duration) -> bool {
        let late: Vec<u32> = self
            .outstanding
            .iter()
            .filter(|(_, (_, sent))| now.saturating_duration_since(*sent) >= timeout)
            .map(|(seq, _)| *seq)
            .collect();
        let mut close = false;
        for seq in late {
            if let Some((what, _)) = self.take_outstanding(seq) {
                match what {
                    Outstanding::Receipt(r) => {
                        let peer = self.peer;
                        self.carrier.receipts.retry_notice.hit(|count| {
                            tracing::info!(%peer, message_id = %r.message_id, count, "receipts without deliver_sm_resp; they will be retried");
                        });
                        self.carrier.receipts.failed(r);
                    }
                    Outstanding::EnquireLink => {
                        self.carrier
                            .metrics
                            .idle_closes
                            .fetch_add(1, Ordering::Relaxed);
                        tracing::info!(peer = %self.peer, "enquire_link unanswered; closing");
                        close = true;
                    }
                    Outstanding::Unbind => close = true,
                }
            }
        }
        close
    }

    /// At the end of the session every receipt still awaiting a response goes back to the
    /// router, so it is retried on another bind rather than lost.
    pub(super) fn release(&mut self) {
        if let Some(inbox) = self.inbox.take() {
            self.carrier.receipts.close_inbox(&inbox);
        }
        self.receipts_out = 0;
        for (_, (what, _)) in self.outstanding.drain() {
            if let Outstanding::Receipt(r) = what {
                self.carrier.receipts.failed(r);
            }
        }
    }
}

/// Operations whose answer may be held back (and so count against the held-response cap).
fn is_operation(id: CommandId) -> bool {
    matches!(
        id,
        CommandId::SubmitSm
            | CommandId::DataSm
            | CommandId::SubmitMulti
            | CommandId::QuerySm
            | CommandId::CancelSm
            | CommandId::ReplaceSm
    )
}

/// The fields of submit_sm and data_sm that acceptance needs.
struct OneMessage<'a> {
    source: &'a COctetString<1, 21>,
    destination: &'a COctetString<1, 21>,
    esm_class: u8,
    data_coding: u8,
    registered_delivery: u8,
    user_data: &'a [u8],
    tlvs: &'a [rusmpp::tlvs::Tlv],
}

/// An E.164 number (digits with an optional leading `+`, at most 15: the project's one rule,
/// [`smpp::number::parse_number`]); anything else is refused with ESME_RINVDSTADR, as an SMSC
/// routing on numbers would.
fn check_destination(dest: &str) -> Result<(), CommandStatus> {
    smpp::number::parse_number(dest)
        .map(|_| ())
        .map_err(|_| CommandStatus::EsmeRinvdstadr)
}

/// Separates UDH concatenation (esm_class UDHI) or sar_ TLVs from the user data.
fn split_concat(
    esm_class: u8,
    user_data: &[u8],
    tlvs: &[rusmpp::tlvs::Tlv],
) -> Result<(Vec<u8>, Option<ConcatRef>), CommandStatus> {
    if esm_class & 0x40 != 0 {
        let (udh, rest) = smpp::concat::parse_udh(user_data).map_err(|e| {
            tracing::debug!(error = %e, "bad UDH");
            CommandStatus::EsmeRinvesmclass
        })?;
        let concat = udh.concat.map(|c| ConcatRef {
            reference: c.reference,
            total: c.total,
            seq: c.seq,
        });
        return Ok((rest.to_vec(), concat));
    }
    if let Some((reference, total, seq)) = smpp::pdu::sar_info(tlvs) {
        if total == 0 || seq == 0 || seq > total {
            return Err(CommandStatus::EsmeRinvtlvval);
        }
        return Ok((
            user_data.to_vec(),
            Some(ConcatRef {
                reference,
                total,
                seq,
            }),
        ));
    }
    Ok((user_data.to_vec(), None))
}

/// SMPP absolute time `YYMMDDhhmmsstnnp` in UTC.
fn smpp_absolute_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    format!("{}000+", t.format("%y%m%d%H%M%S"))
}
