//! Property tests of a live, bound carrier session fed random and mutated PDUs over TCP.
//!
//! Each case opens a fresh bound session, pipelines a few generated PDUs and an enquire_link
//! "barrier", and reads until the barrier's response. Everything the carrier sent before that
//! belongs to the case, so "exactly one answer per request, none per response" is checkable.
//! The expected answer of every PDU is computed from its bytes alone, independently of the
//! carrier's code: the response id from the command id (our own table), and the status from
//! whether rusmpp decodes the body (a body that does not decode must be refused with a non-zero
//! status on the operation's own response; an unknown command id must get generic_nack
//! ESME_RINVCMDID), or, for PDUs sent as generated, the exact status the operation must give.
//! After every case the session must still answer enquire_link and accept a valid submit_sm.
//! Receipts (deliver_sm) the carrier sends meanwhile are answered with ESME_ROK.
//!
//! command_length out of bounds cannot be answered in place (the stream cannot be resynced), so
//! it has its own property: generic_nack ESME_RINVCMDLEN, then the carrier closes.

use std::cell::Cell;
use std::collections::HashMap;
use std::time::Duration;

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rusmpp::decode::DecodeWithLength;
use rusmpp::pdus::{
    BindReceiver, BindTransceiver, BindTransmitter, CancelSm, DataSm, DeliverSm, DeliverSmResp,
    QuerySm, ReplaceSm, SubmitMulti,
};
use rusmpp::tlvs::MessageSubmissionRequestTlvValue as SubmitTlv;
use rusmpp::types::{AnyOctetString, OctetString};
use rusmpp::values::{
    DataCoding, DestAddress, EsmClass, MessagePayload, Npi, RegisteredDelivery, SmeAddress, Ton,
};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use simulator::config::AccountConfig;
use simulator::config::CarrierConfig;
use smpp::frame::{HEADER_LEN, Header, encode_command};
use smpp::pdu::c_string;
use testbed_tests::{PASSWORD, RawSession, SYSTEM_ID, TestNetwork, build};

/// Bound on command_length for the carrier under test: small, so out-of-bounds lengths are
/// cheap to produce, and still far above every generated PDU.
const MAX_LEN: usize = 4096;
/// Largest PDU the generators produce (mutations included), well inside [`MAX_LEN`].
const MAX_GENERATED: usize = 1024;
/// The generic_nack command id.
const GENERIC_NACK: u32 = 0x8000_0000;

fn carrier_config() -> CarrierConfig {
    let mut cfg = CarrierConfig::default();
    // Every case binds afresh; the closed sessions release their binds asynchronously.
    cfg.accounts.insert(
        SYSTEM_ID.into(),
        AccountConfig {
            max_binds: 100_000,
            ..AccountConfig::new(PASSWORD)
        },
    );
    cfg.session.max_command_length = MAX_LEN;
    cfg.session.shutdown_grace = Duration::from_millis(500);
    cfg
}

// ---------------------------------------------------------------------------------------------
// The oracle: what a PDU must be answered with, from its bytes alone.

/// The response id of each request, written out here rather than taken from `smpp::pdu` so a
/// mistake there cannot hide itself. `None`: the request has no response of its own.
fn response_of(id: CommandId) -> Option<CommandId> {
    use CommandId as C;
    Some(match id {
        C::BindTransmitter => C::BindTransmitterResp,
        C::BindReceiver => C::BindReceiverResp,
        C::BindTransceiver => C::BindTransceiverResp,
        C::SubmitSm => C::SubmitSmResp,
        C::DeliverSm => C::DeliverSmResp,
        C::DataSm => C::DataSmResp,
        C::QuerySm => C::QuerySmResp,
        C::CancelSm => C::CancelSmResp,
        C::ReplaceSm => C::ReplaceSmResp,
        C::SubmitMulti => C::SubmitMultiResp,
        C::EnquireLink => C::EnquireLinkResp,
        C::Unbind => C::UnbindResp,
        C::BroadcastSm => C::BroadcastSmResp,
        C::QueryBroadcastSm => C::QueryBroadcastSmResp,
        C::CancelBroadcastSm => C::CancelBroadcastSmResp,
        _ => return None,
    })
}

/// Every request id SMPP 5.0 defines (unbind excepted: it ends the session by design).
const REQUEST_IDS: &[u32] = &[
    0x0000_0001, // bind_receiver
    0x0000_0002, // bind_transmitter
    0x0000_0003, // query_sm
    0x0000_0004, // submit_sm
    0x0000_0005, // deliver_sm
    0x0000_0007, // replace_sm
    0x0000_0008, // cancel_sm
    0x0000_0009, // bind_transceiver
    0x0000_000B, // outbind
    0x0000_0015, // enquire_link
    0x0000_0021, // submit_multi
    0x0000_0102, // alert_notification
    0x0000_0103, // data_sm
    0x0000_0111, // broadcast_sm
    0x0000_0112, // query_broadcast_sm
    0x0000_0113, // cancel_broadcast_sm
];

/// What status an answer must carry.
#[derive(Debug, Clone, PartialEq)]
enum StatusRule {
    Exactly(CommandStatus),
    NonZero,
    OneOf(Vec<CommandStatus>),
}

impl StatusRule {
    fn admits(&self, status: CommandStatus) -> bool {
        match self {
            StatusRule::Exactly(s) => *s == status,
            StatusRule::NonZero => status != CommandStatus::EsmeRok,
            StatusRule::OneOf(list) => list.contains(&status),
        }
    }
}

/// The answer a PDU must get.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    /// Responses (and generic_nack) are never answered.
    Nothing,
    /// Exactly one PDU with this command id and a status the rule admits.
    Answer { id: u32, status: StatusRule },
}

/// True when rusmpp decodes the PDU into a whole body (`pdu()` is `None` for a body-less
/// command that carries a body, or a body-bearing command that carries none).
fn body_decodes(pdu: &[u8]) -> bool {
    let mut buf = BytesMut::from(&pdu[4..]);
    let len = buf.len();
    matches!(Command::decode(&mut buf, len), Ok((c, _)) if c.pdu().is_some())
}

fn expectation(pdu: &[u8], exact: Option<CommandStatus>) -> Want {
    use CommandId as C;
    use CommandStatus as S;
    let header = Header::peek(pdu).expect("generated PDUs hold a header");
    if header.is_response() {
        return Want::Nothing;
    }
    let id = header.id();
    let Some(resp) = (!matches!(id, C::Other(_))).then(|| response_of(id)) else {
        return Want::Answer {
            id: GENERIC_NACK,
            status: StatusRule::Exactly(S::EsmeRinvcmdid),
        };
    };
    let answer_id = resp.map_or(GENERIC_NACK, u32::from);
    let status = match id {
        // Already bound: a second bind is refused whatever its body says.
        C::BindTransmitter | C::BindReceiver | C::BindTransceiver => {
            StatusRule::Exactly(S::EsmeRalybnd)
        }
        _ if !body_decodes(pdu) => StatusRule::NonZero,
        _ if exact.is_some() => StatusRule::Exactly(exact.unwrap_or(S::EsmeRok)),
        C::SubmitSm | C::DataSm => StatusRule::OneOf(vec![
            S::EsmeRok,
            S::EsmeRinvdstadr,
            S::EsmeRinvmsglen,
            S::EsmeRinvesmclass,
            S::EsmeRinvtlvval,
        ]),
        C::SubmitMulti => StatusRule::OneOf(vec![
            S::EsmeRok,
            S::EsmeRinvnumdests,
            S::EsmeRinvmsglen,
            S::EsmeRinvesmclass,
            S::EsmeRinvtlvval,
        ]),
        C::QuerySm => StatusRule::OneOf(vec![S::EsmeRok, S::EsmeRqueryfail]),
        C::CancelSm => StatusRule::OneOf(vec![S::EsmeRok, S::EsmeRcancelfail]),
        C::ReplaceSm => StatusRule::OneOf(vec![S::EsmeRok, S::EsmeRreplacefail]),
        C::EnquireLink => StatusRule::Exactly(S::EsmeRok),
        // An SMSC does not take deliver_sm, outbind, alert_notification or broadcasts from an ESME.
        _ => StatusRule::Exactly(S::EsmeRprohibited),
    };
    Want::Answer {
        id: answer_id,
        status,
    }
}

// ---------------------------------------------------------------------------------------------
// Generators.

/// One generated PDU: whole bytes with a consistent command_length, and the exact status it
/// must get when it was sent as built (`None` once mutated or random).
#[derive(Clone)]
struct Input {
    bytes: Vec<u8>,
    exact: Option<CommandStatus>,
    what: String,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]", self.what, smpp::text::hex(&self.bytes))
    }
}

fn encoded(pdu: impl Into<Pdu>) -> Vec<u8> {
    encode_command(&Command::new(CommandStatus::EsmeRok, 0, pdu)).to_vec()
}

fn valid_input(pdu: impl Into<Pdu>, exact: Option<CommandStatus>, what: &str) -> Input {
    Input {
        bytes: encoded(pdu),
        exact,
        what: what.to_string(),
    }
}

fn msisdn() -> impl Strategy<Value = String> {
    "\\+?[1-9][0-9]{6,14}"
}

/// Message ids the carrier can never have issued (its ids are hex, decimal or UUIDs).
fn foreign_message_id() -> impl Strategy<Value = String> {
    "nx-[0-9]{1,12}"
}

/// TLVs a plain submit_sm may carry without changing its fate (sar_ only as a valid triple).
fn harmless_tlvs() -> impl Strategy<Value = Vec<SubmitTlv>> {
    (
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(
            (any::<u16>(), 1u8..=8).prop_flat_map(|(r, t)| (Just(r), Just(t), 1..=t)),
        ),
    )
        .prop_map(|(sp, dp, ttl, sar)| {
            let mut tlvs = Vec::new();
            if let Some(p) = sp {
                tlvs.push(SubmitTlv::SourcePort(p));
            }
            if let Some(p) = dp {
                tlvs.push(SubmitTlv::DestPort(p));
            }
            if let Some(t) = ttl {
                tlvs.push(SubmitTlv::QosTimeToLive(t));
            }
            if let Some((r, t, s)) = sar {
                tlvs.push(SubmitTlv::SarMsgRefNum(r));
                tlvs.push(SubmitTlv::SarTotalSegments(t));
                tlvs.push(SubmitTlv::SarSegmentSeqnum(s));
            }
            tlvs
        })
}

/// Valid PDUs, each with the exact status a bound transceiver session must get for it.
fn valid_pdu() -> impl Strategy<Value = Input> {
    use CommandStatus as S;
    prop_oneof![
        4 => (msisdn(), "[A-Za-z0-9 .,!?]{0,160}", prop::sample::select(vec![0u8, 1, 2, 3, 0x10, 0x11]), harmless_tlvs())
            .prop_map(|(to, text, rd, tlvs)| {
                let sm = build::with_tlvs(build::submit(&to, text.as_bytes(), 0, 0, rd), tlvs);
                valid_input(sm, Some(S::EsmeRok), "submit_sm")
            }),
        2 => (msisdn(), prop::collection::vec(any::<u8>(), 0..300), any::<u8>()).prop_map(|(to, payload, rd)| {
            let d = DataSm::builder()
                .source_addr(c_string::<21>("447700900000"))
                .destination_addr(c_string::<21>(&to))
                .esm_class(EsmClass::from(0u8))
                .registered_delivery(RegisteredDelivery::from(rd & 0x13))
                .data_coding(DataCoding::from(4u8))
                .tlvs(vec![SubmitTlv::MessagePayload(MessagePayload::new(AnyOctetString::from_vec(payload)))])
                .build();
            valid_input(d, Some(S::EsmeRok), "data_sm")
        }),
        1 => (prop::collection::vec(msisdn(), 1..4), "[a-z ]{0,100}").prop_map(|(tos, text)| {
            let dests = tos
                .iter()
                .map(|to| DestAddress::SmeAddress(SmeAddress::new(Ton::International, Npi::Isdn, c_string::<21>(to))))
                .collect();
            let m = SubmitMulti::builder()
                .source_addr(c_string::<21>("447700900000"))
                .dest_address(dests)
                .esm_class(EsmClass::from(0u8))
                .short_message(OctetString::from_vec(text.into_bytes()).expect("fits"))
                .build();
            valid_input(m, Some(S::EsmeRok), "submit_multi")
        }),
        1 => foreign_message_id().prop_map(|id| {
            let q = QuerySm::builder().message_id(c_string::<65>(&id)).build();
            valid_input(q, Some(S::EsmeRqueryfail), "query_sm of an unknown id")
        }),
        1 => (foreign_message_id(), msisdn()).prop_map(|(id, to)| {
            let c = CancelSm::builder()
                .message_id(c_string::<65>(&id))
                .destination_addr(c_string::<21>(&to))
                .build();
            valid_input(c, Some(S::EsmeRcancelfail), "cancel_sm of an unknown id")
        }),
        1 => (foreign_message_id(), "[a-z]{0,50}").prop_map(|(id, text)| {
            let r = ReplaceSm::builder()
                .message_id(c_string::<65>(&id))
                .short_message(OctetString::from_vec(text.into_bytes()).expect("fits"))
                .build();
            valid_input(r, Some(S::EsmeRreplacefail), "replace_sm of an unknown id")
        }),
        1 => Just(valid_input(Pdu::EnquireLink, Some(S::EsmeRok), "enquire_link")),
        1 => ("[a-z]{1,15}", "[a-z]{1,8}", 0u8..3).prop_map(|(sys, pw, kind)| {
            let (sys, pw) = (c_string::<16>(&sys), c_string::<9>(&pw));
            let pdu: Pdu = match kind {
                0 => BindTransmitter::builder().system_id(sys).password(pw).build().into(),
                1 => BindReceiver::builder().system_id(sys).password(pw).build().into(),
                _ => BindTransceiver::builder().system_id(sys).password(pw).build().into(),
            };
            valid_input(pdu, Some(S::EsmeRalybnd), "bind while bound")
        }),
        1 => (msisdn(), "[a-z]{0,40}").prop_map(|(to, text)| {
            let d = DeliverSm::builder()
                .source_addr(c_string::<21>(&to))
                .destination_addr(c_string::<21>("447700900000"))
                .esm_class(EsmClass::from(0u8))
                .short_message(OctetString::from_vec(text.into_bytes()).expect("fits"))
                .build();
            valid_input(d, Some(S::EsmeRprohibited), "deliver_sm from an ESME")
        }),
        1 => Just(valid_input(Pdu::GenericNack, None, "generic_nack")),
        1 => Just(valid_input(DeliverSmResp::new(c_string::<65>(""), Vec::new()), None, "stray deliver_sm_resp")),
    ]
}

/// TLV tags worth aiming at: the ones the carrier reads and a few it does not.
const TLV_TAGS: &[u16] = &[
    0x0424, 0x020C, 0x020E, 0x020F, 0x0204, 0x020A, 0x020B, 0x0017, 0x0005, 0x001E, 0x0427, 0x0423,
    0x0210, 0x1400,
];

/// One change to a PDU's bytes. The command_length is rewritten afterwards to match, so every
/// mutation keeps the stream framed; only the content lies.
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: Index,
        mask: u8,
    },
    Set {
        at: Index,
        value: u8,
    },
    Truncate {
        at: Index,
    },
    Extend(Vec<u8>),
    Resize {
        len: usize,
        fill: u8,
    },
    CommandId(u32),
    Tlv {
        tag: u16,
        lie: Option<u16>,
        value: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        2 => any::<Index>().prop_map(|at| Mutation::Truncate { at }),
        1 => prop::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        1 => (HEADER_LEN..600, any::<u8>()).prop_map(|(len, fill)| Mutation::Resize { len, fill }),
        1 => prop_oneof![prop::sample::select(REQUEST_IDS.to_vec()), any::<u32>()].prop_map(Mutation::CommandId),
        3 => (
            prop_oneof![prop::sample::select(TLV_TAGS.to_vec()), any::<u16>()],
            proptest::option::weighted(0.3, 0u16..300),
            prop::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(tag, lie, value)| Mutation::Tlv { tag, lie, value }),
    ]
}

impl Mutation {
    fn apply(&self, pdu: &mut Vec<u8>) {
        // Octets 0..4 (command_length) and 12..16 (sequence_number) are rewritten when the case
        // is sent; aim the point mutations at command_id, command_status and the body.
        let pick = |at: &Index, pdu: &Vec<u8>| {
            let spots: Vec<usize> = (4..12).chain(HEADER_LEN..pdu.len()).collect();
            spots[at.index(spots.len())]
        };
        match self {
            Mutation::Flip { at, mask } => {
                let i = pick(at, pdu);
                pdu[i] ^= mask;
            }
            Mutation::Set { at, value } => {
                let i = pick(at, pdu);
                pdu[i] = *value;
            }
            Mutation::Truncate { at } => {
                let keep = HEADER_LEN + at.index(pdu.len() - HEADER_LEN + 1);
                pdu.truncate(keep);
            }
            Mutation::Extend(more) => pdu.extend_from_slice(more),
            Mutation::Resize { len, fill } => pdu.resize(*len, *fill),
            Mutation::CommandId(id) => pdu[4..8].copy_from_slice(&id.to_be_bytes()),
            Mutation::Tlv { tag, lie, value } => {
                let len = lie.unwrap_or(value.len() as u16);
                pdu.extend_from_slice(&tag.to_be_bytes());
                pdu.extend_from_slice(&len.to_be_bytes());
                pdu.extend_from_slice(value);
            }
        }
        pdu.truncate(MAX_GENERATED);
    }
}

fn mutated_pdu() -> impl Strategy<Value = Input> {
    (valid_pdu(), prop::collection::vec(mutation(), 1..5)).prop_map(|(base, muts)| {
        let mut bytes = base.bytes;
        for m in &muts {
            m.apply(&mut bytes);
        }
        Input {
            bytes,
            exact: None,
            what: format!("{} mutated by {muts:?}", base.what),
        }
    })
}

fn random_pdu() -> impl Strategy<Value = Input> {
    (
        prop_oneof![
            3 => prop::sample::select(REQUEST_IDS.to_vec()),
            1 => prop::sample::select(REQUEST_IDS.to_vec()).prop_map(|id| id | 0x8000_0000),
            3 => any::<u32>(),
        ],
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(id, status, body)| {
            let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
            bytes.extend_from_slice(&0u32.to_be_bytes());
            bytes.extend_from_slice(&id.to_be_bytes());
            bytes.extend_from_slice(&status.to_be_bytes());
            bytes.extend_from_slice(&0u32.to_be_bytes());
            bytes.extend_from_slice(&body);
            Input {
                bytes,
                exact: None,
                what: format!("random PDU id {id:#010x}"),
            }
        })
}

fn any_pdu() -> impl Strategy<Value = Input> {
    prop_oneof![2 => valid_pdu(), 5 => mutated_pdu(), 3 => random_pdu()]
}

/// Stamps length, sequence number and a session-safe command id on a generated PDU.
fn finalize(input: &Input, seq: u32) -> Vec<u8> {
    let mut bytes = input.bytes.clone();
    let len = bytes.len() as u32;
    bytes[0..4].copy_from_slice(&len.to_be_bytes());
    // unbind would end the session mid-case; its answer is covered by the core tests.
    if bytes[4..8] == 6u32.to_be_bytes() {
        bytes[4..8].copy_from_slice(&0x15u32.to_be_bytes());
    }
    bytes[12..16].copy_from_slice(&seq.to_be_bytes());
    bytes
}

// ---------------------------------------------------------------------------------------------
// Driving a session.

/// A PDU the carrier sent, decoded.
#[derive(Debug, Clone, Copy)]
struct Answer {
    id: u32,
    status: CommandStatus,
}

/// Reads the carrier's PDUs, answering its requests (receipts, keep-alives), until the
/// response with `until_seq` arrives; returns the responses seen by sequence number.
/// `Ok(None)`: the carrier closed first.
async fn collect_until(
    s: &mut RawSession,
    until_seq: u32,
    responses: &mut HashMap<u32, Vec<Answer>>,
) -> Result<Option<Answer>, TestCaseError> {
    loop {
        let Some(frame) = s.next_frame().await else {
            return Ok(None);
        };
        let command = frame.decode().map_err(|e| {
            TestCaseError::fail(format!(
                "carrier sent an undecodable PDU ({e}): {}",
                smpp::text::hex(&frame.bytes)
            ))
        })?;
        // A header-only PDU of a kind that has a body decodes to `pdu: None`: not a whole PDU.
        if command.pdu().is_none() {
            return Err(TestCaseError::fail(format!(
                "carrier sent {} without its body: {}",
                smpp::frame::command_name(frame.header.command_id),
                smpp::text::hex(&frame.bytes)
            )));
        }
        let seq = frame.header.sequence_number;
        if frame.header.is_response() {
            let answer = Answer {
                id: frame.header.command_id,
                status: command.status(),
            };
            if seq == until_seq {
                return Ok(Some(answer));
            }
            responses.entry(seq).or_default().push(answer);
            continue;
        }
        let reply: Pdu = match command.pdu() {
            Some(Pdu::DeliverSm(_)) => DeliverSmResp::new(c_string::<65>(""), Vec::new()).into(),
            Some(Pdu::EnquireLink) => Pdu::EnquireLinkResp,
            other => {
                return Err(TestCaseError::fail(format!(
                    "carrier sent an unexpected request: {other:?}"
                )));
            }
        };
        s.send(Command::new(CommandStatus::EsmeRok, seq, reply))
            .await;
    }
}

/// A well-behaved exchange: the request with `seq` must get `resp_id` with ESME_ROK.
async fn must_work(
    s: &mut RawSession,
    pdu: impl Into<Pdu>,
    seq: u32,
    resp_id: CommandId,
    what: &str,
) -> Result<(), TestCaseError> {
    s.send(Command::new(CommandStatus::EsmeRok, seq, pdu)).await;
    let mut stray = HashMap::new();
    let answer = collect_until(s, seq, &mut stray).await?.ok_or_else(|| {
        TestCaseError::fail(format!("session closed instead of answering {what}"))
    })?;
    prop_assert!(stray.is_empty(), "stray responses around {what}: {stray:?}");
    prop_assert_eq!(
        answer.id,
        u32::from(resp_id),
        "{} answered with the wrong id",
        what
    );
    prop_assert_eq!(answer.status, CommandStatus::EsmeRok, "{} refused", what);
    Ok(())
}

/// How many PDUs of each kind the cases produced, so a generator that drifts into producing
/// only one kind (say, nothing but undecodable bodies) fails the test instead of passing it.
#[derive(Debug, Default)]
struct Coverage {
    unanswered: Cell<usize>,
    unknown_id: Cell<usize>,
    refused_body: Cell<usize>,
    mutated_accepted: Cell<usize>,
    exact: Cell<usize>,
}

impl Coverage {
    fn count(&self, want: &Want, input_was_exact: bool) {
        let bump = |c: &Cell<usize>| c.set(c.get() + 1);
        match want {
            Want::Nothing => bump(&self.unanswered),
            Want::Answer {
                id: GENERIC_NACK,
                status: StatusRule::Exactly(CommandStatus::EsmeRinvcmdid),
            } => bump(&self.unknown_id),
            Want::Answer {
                status: StatusRule::NonZero,
                ..
            } => bump(&self.refused_body),
            Want::Answer { .. } if input_was_exact => bump(&self.exact),
            Want::Answer {
                status: StatusRule::OneOf(_),
                ..
            } => bump(&self.mutated_accepted),
            Want::Answer { .. } => {}
        }
    }

    fn assert_broad(&self) {
        for (name, c) in [
            ("responses left unanswered", &self.unanswered),
            ("unknown command ids", &self.unknown_id),
            ("bodies refused", &self.refused_body),
            ("mutated PDUs still decodable", &self.mutated_accepted),
            ("valid PDUs with an exact status", &self.exact),
        ] {
            assert!(c.get() >= 10, "only {} cases of {name}: {self:?}", c.get());
        }
    }
}

/// Checks the responses to a case against the oracle.
fn check_answers(
    sent: &[(u32, Vec<u8>, Want)],
    mut responses: HashMap<u32, Vec<Answer>>,
) -> Result<(), TestCaseError> {
    for (seq, bytes, want) in sent {
        let got = responses.remove(seq).unwrap_or_default();
        let hex = smpp::text::hex(bytes);
        match want {
            Want::Nothing => {
                prop_assert!(got.is_empty(), "response PDU {hex} was answered: {got:?}")
            }
            Want::Answer { id, status } => {
                prop_assert_eq!(
                    got.len(),
                    1,
                    "PDU {} got {:?}, expected one answer",
                    hex,
                    got
                );
                let a = got[0];
                prop_assert_eq!(
                    a.id,
                    *id,
                    "PDU {} answered with {} instead of {}",
                    hex,
                    smpp::frame::command_name(a.id),
                    smpp::frame::command_name(*id)
                );
                prop_assert!(
                    status.admits(a.status),
                    "PDU {hex} answered with {:?}, expected {status:?}",
                    a.status
                );
            }
        }
    }
    prop_assert!(
        responses.is_empty(),
        "responses to sequence numbers never sent: {responses:?}"
    );
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        // Shrinking reconnects for every attempt; bound it so a failure reports quickly.
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn every_request_gets_one_fitting_answer_and_the_session_survives() {
    let rt = runtime();
    let carrier = rt.block_on(TestNetwork::carrier(carrier_config()));
    let strategy = (prop::collection::vec(any_pdu(), 1..7), any::<u32>());
    let coverage = Coverage::default();
    let result = runner(512).run(&strategy, |(inputs, base)| {
        rt.block_on(async {
            let mut s = RawSession::bound(carrier.smpp).await;
            // Sequence numbers are arbitrary 32-bit values: the carrier must echo any of them.
            let seq_of = |i: usize| base.wrapping_add(i as u32);
            let barrier = seq_of(inputs.len());
            let mut sent = Vec::with_capacity(inputs.len());
            let mut stream = Vec::new();
            for (i, input) in inputs.iter().enumerate() {
                let bytes = finalize(input, seq_of(i));
                let want = expectation(&bytes, input.exact);
                coverage.count(&want, input.exact.is_some());
                stream.extend_from_slice(&bytes);
                sent.push((seq_of(i), bytes, want));
            }
            stream.extend_from_slice(&encode_command(&Command::new(
                CommandStatus::EsmeRok,
                barrier,
                Pdu::EnquireLink,
            )));
            s.send_raw(&stream).await;

            let mut responses = HashMap::new();
            let barrier_answer = collect_until(&mut s, barrier, &mut responses)
                .await?
                .ok_or_else(|| {
                    TestCaseError::fail(format!(
                        "carrier closed the session; responses so far {responses:?}"
                    ))
                })?;
            prop_assert_eq!(barrier_answer.id, u32::from(CommandId::EnquireLinkResp));
            prop_assert_eq!(barrier_answer.status, CommandStatus::EsmeRok);
            check_answers(&sent, responses)?;

            must_work(
                &mut s,
                build::submit("447700900123", b"still here", 0, 0, 0),
                barrier.wrapping_add(1),
                CommandId::SubmitSmResp,
                "a valid submit_sm after the case",
            )
            .await
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let framing_errors =
        rt.block_on(carrier.metric("carrier_framing_errors_total{carrier=\"default\"}"));
    assert_eq!(
        framing_errors, 0,
        "no case had a command_length out of bounds"
    );
    coverage.assert_broad();
    eprintln!("{coverage:?}");
    // The server task itself must have survived every case.
    rt.block_on(carrier.shutdown());
}

/// A header whose command_length is out of bounds: below the header or above the maximum.
fn bad_length() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..HEADER_LEN as u32, (MAX_LEN as u32 + 1)..=u32::MAX]
}

#[test]
fn command_length_out_of_bounds_gets_rinvcmdlen_then_close() {
    let rt = runtime();
    let carrier = rt.block_on(TestNetwork::carrier(carrier_config()));
    let strategy = (
        prop::collection::vec(valid_pdu(), 0..3),
        bad_length(),
        any::<u32>(),
        1u32..0x7FFF_FFFF,
        prop::collection::vec(any::<u8>(), 0..64),
    );
    let result = runner(48).run(&strategy, |(before, length, id, bad_seq, trailer)| {
        rt.block_on(async {
            let mut s = RawSession::bound(carrier.smpp).await;
            let mut sent = Vec::new();
            let mut stream = Vec::new();
            for (i, input) in before.iter().enumerate() {
                let seq = 0x4000_0000 + i as u32;
                let bytes = finalize(input, seq);
                let want = expectation(&bytes, input.exact);
                stream.extend_from_slice(&bytes);
                sent.push((seq, bytes, want));
            }
            stream.extend_from_slice(&length.to_be_bytes());
            stream.extend_from_slice(&id.to_be_bytes());
            stream.extend_from_slice(&0u32.to_be_bytes());
            stream.extend_from_slice(&bad_seq.to_be_bytes());
            stream.extend_from_slice(&trailer);
            s.send_raw(&stream).await;

            let mut responses = HashMap::new();
            // The generic_nack for the bad header carries its sequence number; the carrier
            // may only know it as 0 if the header's first four octets arrived alone.
            let nack_seq = responses_until_nack(&mut s, &mut responses).await?;
            prop_assert!(
                nack_seq == bad_seq || nack_seq == 0,
                "generic_nack carries seq {nack_seq}, the bad PDU had {bad_seq}"
            );
            check_answers(&sent, responses)?;
            prop_assert!(s.closed().await, "carrier kept the session open");
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // Afterwards the carrier still serves new sessions.
    rt.block_on(async {
        let mut s = RawSession::bound(carrier.smpp).await;
        // Receipts for the cases' submissions may come first on this new bind; they are answered.
        let alive = must_work(
            &mut s,
            Pdu::EnquireLink,
            7,
            CommandId::EnquireLinkResp,
            "enquire_link",
        )
        .await;
        assert!(alive.is_ok(), "{alive:?}");
    });
    rt.block_on(carrier.shutdown());
}

/// Collects responses until a generic_nack ESME_RINVCMDLEN; returns its sequence number.
async fn responses_until_nack(
    s: &mut RawSession,
    responses: &mut HashMap<u32, Vec<Answer>>,
) -> Result<u32, TestCaseError> {
    loop {
        let Some(frame) = s.next_frame().await else {
            return Err(TestCaseError::fail(format!(
                "closed without generic_nack; responses {responses:?}"
            )));
        };
        let command = frame
            .decode()
            .map_err(|e| TestCaseError::fail(format!("carrier sent an undecodable PDU: {e}")))?;
        let seq = frame.header.sequence_number;
        if frame.header.command_id == GENERIC_NACK
            && command.status() == CommandStatus::EsmeRinvcmdlen
        {
            return Ok(seq);
        }
        if frame.header.is_response() {
            responses.entry(seq).or_default().push(Answer {
                id: frame.header.command_id,
                status: command.status(),
            });
        } else if let Some(Pdu::DeliverSm(_)) = command.pdu() {
            s.send(Command::new(
                CommandStatus::EsmeRok,
                seq,
                DeliverSmResp::new(c_string::<65>(""), Vec::new()),
            ))
            .await;
        }
    }
}

/// A refused broadcast_sm or query_broadcast_sm is answered with a response that carries its
/// mandatory message_id, so a strict peer can decode it (found by the property test above).
#[tokio::test]
async fn broadcast_error_responses_carry_a_body() {
    let c = TestNetwork::carrier(carrier_config()).await;
    let mut s = RawSession::bound(c.smpp).await;
    for (id, seq) in [(0x0000_0111u32, 21u32), (0x0000_0112, 22)] {
        let mut pdu = Vec::with_capacity(HEADER_LEN);
        pdu.extend_from_slice(&16u32.to_be_bytes());
        pdu.extend_from_slice(&id.to_be_bytes());
        pdu.extend_from_slice(&0u32.to_be_bytes());
        pdu.extend_from_slice(&seq.to_be_bytes());
        s.send_raw(&pdu).await;
        let frame = s.next_frame().await.expect("an answer");
        assert_eq!(frame.header.sequence_number, seq);
        assert_eq!(frame.header.command_id, id | 0x8000_0000);
        let command = frame.decode().expect("decodable");
        assert!(
            command.pdu().is_some(),
            "{} without a body: {}",
            smpp::frame::command_name(frame.header.command_id),
            smpp::text::hex(&frame.bytes)
        );
    }
    c.shutdown().await;
}
