//! The lean wire path of `loadgen smpp`: pre-encoded submit_sm templates and the few reads the
//! benchmark needs from incoming PDUs.
//!
//! The shared ESME client (`smpp::client`) gives every request a oneshot channel, a window
//! permit and a trip through a writer task; that is the right shape for verifier, but at
//! 200,000 submits/s on two cores it would cost more than the SMSC under test. So the benchmark
//! frames with `smpp::frame` (the same bounded framing the carrier uses) and writes PDUs from
//! templates: the submit_sm body is encoded once, and each message copies it into the write
//! buffer with its own sequence number and destination. Responses are read only as far as the
//! benchmark needs (header, message_id). Deliveries (receipts) are read in place, without a
//! rusmpp decode, by `smpp::receipt::DeliveryView::from_body`, which applies the same rules as
//! the ESME client's reader, so the two cannot disagree on a kind or an id.
//! The unit tests decode what is written here with rusmpp, so the bytes are checked against the
//! codec, not against this file.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use smpp::frame::{Frame, HEADER_LEN};
use smpp::receipt::{DeliveryKind, DeliveryView};

/// command_id values used on the hot path (SMPP 3.4 section 5.1.2.1).
pub mod id {
    /// generic_nack.
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    /// bind_receiver.
    pub const BIND_RECEIVER: u32 = 0x0000_0001;
    /// bind_transmitter.
    pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
    /// bind_transceiver.
    pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    /// submit_sm.
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    /// submit_sm_resp.
    pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
    /// deliver_sm.
    pub const DELIVER_SM: u32 = 0x0000_0005;
    /// deliver_sm_resp.
    pub const DELIVER_SM_RESP: u32 = 0x8000_0005;
    /// unbind.
    pub const UNBIND: u32 = 0x0000_0006;
    /// unbind_resp.
    pub const UNBIND_RESP: u32 = 0x8000_0006;
    /// enquire_link.
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    /// enquire_link_resp.
    pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
    /// data_sm.
    pub const DATA_SM: u32 = 0x0000_0103;
    /// data_sm_resp.
    pub const DATA_SM_RESP: u32 = 0x8000_0103;
}

/// TLV tag of message_payload.
const TAG_MESSAGE_PAYLOAD: u16 = 0x0424;
/// Longest short_message; longer texts go in message_payload.
const MAX_SHORT_MESSAGE: usize = 254;

/// Writes a PDU header.
pub fn put_header(buf: &mut BytesMut, length: usize, command_id: u32, status: u32, seq: u32) {
    buf.put_u32(length as u32);
    buf.put_u32(command_id);
    buf.put_u32(status);
    buf.put_u32(seq);
}

/// Writes a PDU without a body (enquire_link, unbind, their responses, generic_nack).
pub fn put_empty(buf: &mut BytesMut, command_id: u32, status: u32, seq: u32) {
    put_header(buf, HEADER_LEN, command_id, status, seq);
}

/// Writes a response whose body is an empty message_id (deliver_sm_resp, data_sm_resp).
pub fn put_empty_id_resp(buf: &mut BytesMut, command_id: u32, seq: u32) {
    put_header(buf, HEADER_LEN + 1, command_id, 0, seq);
    buf.put_u8(0);
}

/// Writes a bind request (SMPP 3.4 section 4.1.1): interface_version 0x34, TON/NPI 0, no
/// address range.
pub fn put_bind(buf: &mut BytesMut, command_id: u32, seq: u32, system_id: &str, password: &str) {
    let body_len = system_id.len() + 1 + password.len() + 1 + 1 + 1 + 1 + 1 + 1;
    put_header(buf, HEADER_LEN + body_len, command_id, 0, seq);
    put_cstr(buf, system_id.as_bytes());
    put_cstr(buf, password.as_bytes());
    put_cstr(buf, b""); // system_type
    buf.put_u8(0x34); // interface_version
    buf.put_u8(0); // addr_ton
    buf.put_u8(0); // addr_npi
    put_cstr(buf, b""); // address_range
}

fn put_cstr(buf: &mut BytesMut, s: &[u8]) {
    buf.put_slice(s);
    buf.put_u8(0);
}

/// What every submit_sm of a run has in common, encoded once.
#[derive(Debug, Clone)]
pub struct SubmitTemplate {
    /// Body octets before destination_addr (service_type .. dest_addr_npi).
    before_dest: Vec<u8>,
    /// Body octets after destination_addr's NUL (esm_class .. short_message, TLVs).
    after_dest: Vec<u8>,
}

/// Options for [`SubmitTemplate::new`].
#[derive(Debug, Clone)]
pub struct SubmitSpec<'a> {
    /// source_addr.
    pub source: &'a str,
    /// registered_delivery flag (0x01 asks for a final receipt).
    pub registered_delivery: u8,
    /// data_coding.
    pub data_coding: u8,
    /// The encoded message text.
    pub payload: &'a [u8],
}

impl SubmitTemplate {
    /// Encodes the parts of submit_sm that do not change from message to message.
    ///
    /// A source that is an E.164 number ([`smpp::number::parse_number`]: an optional `+` and
    /// 1 to 15 digits) is sent as an international number (TON 1, NPI 1), anything else as
    /// alphanumeric (TON 5, NPI 0). A payload longer than 254 octets goes in message_payload
    /// with sm_length 0.
    pub fn new(spec: &SubmitSpec<'_>) -> Self {
        let source = smpp::number::normalize(spec.source);
        let numeric = smpp::number::parse_number(spec.source).is_ok();
        let (ton, npi) = if numeric { (1, 1) } else { (5, 0) };
        let mut before = Vec::with_capacity(32);
        before.push(0); // service_type ""
        before.push(ton);
        before.push(npi);
        before.extend_from_slice(source.as_bytes());
        before.push(0);
        before.push(1); // dest_addr_ton: international
        before.push(1); // dest_addr_npi: E.164
        let mut after = Vec::with_capacity(16 + spec.payload.len());
        after.push(0); // esm_class: default mode, default type (set explicitly, see DESIGN.md)
        after.push(0); // protocol_id
        after.push(0); // priority_flag
        after.push(0); // schedule_delivery_time ""
        after.push(0); // validity_period ""
        after.push(spec.registered_delivery);
        after.push(0); // replace_if_present_flag
        after.push(spec.data_coding);
        after.push(0); // sm_default_msg_id
        if spec.payload.len() <= MAX_SHORT_MESSAGE {
            after.push(spec.payload.len() as u8);
            after.extend_from_slice(spec.payload);
        } else {
            after.push(0);
            after.extend_from_slice(&TAG_MESSAGE_PAYLOAD.to_be_bytes());
            after.extend_from_slice(&(spec.payload.len() as u16).to_be_bytes());
            after.extend_from_slice(spec.payload);
        }
        Self {
            before_dest: before,
            after_dest: after,
        }
    }

    /// Appends one submit_sm to `buf`.
    #[inline]
    pub fn put(&self, buf: &mut BytesMut, seq: u32, dest: &[u8]) {
        let len = HEADER_LEN + self.before_dest.len() + dest.len() + 1 + self.after_dest.len();
        buf.reserve(len);
        put_header(buf, len, id::SUBMIT_SM, 0, seq);
        buf.put_slice(&self.before_dest);
        buf.put_slice(dest);
        buf.put_u8(0);
        buf.put_slice(&self.after_dest);
    }

    /// Length in octets of a submit_sm to a destination of `dest_len` digits.
    pub fn encoded_len(&self, dest_len: usize) -> usize {
        HEADER_LEN + self.before_dest.len() + dest_len + 1 + self.after_dest.len()
    }
}

/// Reads the C-octet string at the start of `body` (without its NUL), or `None` when it has
/// no NUL.
#[inline]
pub fn cstr(body: &[u8]) -> Option<&[u8]> {
    let end = body.iter().position(|&b| b == 0)?;
    Some(&body[..end])
}

/// What a received deliver_sm or data_sm counts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery<'a> {
    /// A delivery receipt for the message with this id.
    Receipt(Cow<'a, str>),
    /// An intermediate notification (esm_class says so; no receipt is waited for on it).
    Intermediate,
    /// A mobile-originated message or anything else that is not about delivery.
    Message,
    /// A body that does not read, or a receipt that names no message: an SMSC bug to report.
    Malformed,
}

/// Reads a deliver_sm or data_sm frame in place with the shared receipt reader
/// ([`DeliveryView::from_body`], whose rules the ESME client follows too, so both agree on every
/// kind and id). No rusmpp decode: at 150k receipts/s a decode per receipt would take a fifth of
/// a core from the machine being measured, where this takes tens of nanoseconds.
pub fn delivery(frame: &Frame) -> Delivery<'_> {
    let Ok(view) = DeliveryView::from_body(frame.header.id(), frame.body()) else {
        return Delivery::Malformed;
    };
    match view.kind() {
        DeliveryKind::Receipt => view
            .receipt_id()
            .map_or(Delivery::Malformed, Delivery::Receipt),
        DeliveryKind::Intermediate => Delivery::Intermediate,
        DeliveryKind::Message => Delivery::Message,
    }
}

/// A 64-bit hash of a message id, used as the key of the receipt book.
///
/// Keys are hashes rather than strings so that a tracked message costs 16 octets whatever the
/// id format; two ids colliding in 64 bits among n messages has probability about n²/2⁶⁵
/// (1 in 370,000 for ten million messages), and would show as one duplicated and one missing
/// receipt.
#[inline]
pub fn id_key(id: &[u8]) -> u64 {
    // FNV-1a over the octets, then a murmur3 finaliser so the low bits (the shard index) mix.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::pdus::DeliverSm;
    use rusmpp::types::OctetString;
    use rusmpp::values::EsmClass;
    use rusmpp::{Command, CommandStatus, Pdu};
    use smpp::frame::decode_one;
    use smpp::receipt::{
        OutgoingReceipt, Receipt, ReceiptPduKind, ReceiptProfile, ReceiptState, build_pdu,
    };

    fn submit(payload: &[u8]) -> (Vec<u8>, SubmitTemplate) {
        let t = SubmitTemplate::new(&SubmitSpec {
            source: "LOADGEN",
            registered_delivery: 1,
            data_coding: 8,
            payload,
        });
        let mut buf = BytesMut::new();
        t.put(&mut buf, 77, b"447700900123");
        (buf.to_vec(), t)
    }

    #[test]
    fn submit_template_decodes_with_rusmpp() {
        let (bytes, t) = submit(b"\x00h\x00i");
        assert_eq!(bytes.len(), t.encoded_len(12));
        let cmd = decode_one(&bytes).expect("decodes");
        assert_eq!(cmd.sequence_number(), 77);
        let Some(Pdu::SubmitSm(sm)) = cmd.pdu() else {
            panic!("not a submit_sm: {cmd:?}");
        };
        assert_eq!(sm.source_addr.as_str(), "LOADGEN");
        assert_eq!(sm.destination_addr.as_str(), "447700900123");
        assert_eq!(u8::from(sm.registered_delivery), 1);
        assert_eq!(u8::from(sm.esm_class), 0);
        assert_eq!(u8::from(sm.data_coding), 8);
        assert_eq!(sm.short_message().as_ref(), b"\x00h\x00i");
    }

    #[test]
    fn long_payload_goes_in_message_payload() {
        let text = vec![b'a'; 300];
        let (bytes, _) = submit(&text);
        let cmd = decode_one(&bytes).expect("decodes");
        let Some(Pdu::SubmitSm(sm)) = cmd.pdu() else {
            panic!("not a submit_sm");
        };
        assert_eq!(sm.sm_length(), 0);
        let tlvs: Vec<_> = sm.tlvs().to_vec();
        assert_eq!(smpp::pdu::message_payload(&tlvs), Some(&text[..]));
    }

    /// The source_addr and its TON as a submit_sm from this template puts them on the wire.
    fn sent_source(source: &str) -> (String, u8) {
        let t = SubmitTemplate::new(&SubmitSpec {
            source,
            registered_delivery: 0,
            data_coding: 0,
            payload: b"x",
        });
        let mut buf = BytesMut::new();
        t.put(&mut buf, 1, b"1");
        let cmd = decode_one(&buf).expect("decodes");
        let Some(Pdu::SubmitSm(sm)) = cmd.pdu() else {
            panic!("not a submit_sm");
        };
        (
            sm.source_addr.as_str().to_owned(),
            u8::from(sm.source_addr_ton),
        )
    }

    #[test]
    fn numeric_source_is_international() {
        assert_eq!(sent_source("+447700900000"), ("447700900000".into(), 1));
        assert_eq!(sent_source("LOADGEN"), ("LOADGEN".into(), 5));
        // More digits than E.164 allows is not a number, so it is not sent as one.
        assert_eq!(sent_source("1234567890123456").1, 5);
    }

    #[test]
    fn bind_and_empty_pdus_decode() {
        let mut buf = BytesMut::new();
        put_bind(&mut buf, id::BIND_TRANSCEIVER, 3, "test", "secret");
        let cmd = decode_one(&buf).expect("bind decodes");
        let Some(Pdu::BindTransceiver(b)) = cmd.pdu() else {
            panic!("not a bind: {cmd:?}");
        };
        assert_eq!(b.system_id.as_str(), "test");
        assert_eq!(b.password.as_str(), "secret");
        let mut buf = BytesMut::new();
        put_empty_id_resp(&mut buf, id::DELIVER_SM_RESP, 9);
        let cmd = decode_one(&buf).expect("deliver_sm_resp decodes");
        assert!(matches!(cmd.pdu(), Some(Pdu::DeliverSmResp(_))));
        let mut buf = BytesMut::new();
        put_empty(&mut buf, id::ENQUIRE_LINK_RESP, 0, 4);
        assert_eq!(
            decode_one(&buf).expect("decodes"),
            Command::new(CommandStatus::EsmeRok, 4, Pdu::EnquireLinkResp)
        );
    }

    fn frame_of(command: &Command) -> Frame {
        let bytes = smpp::frame::encode_command(command);
        Frame {
            header: smpp::frame::Header::peek(&bytes).expect("a header"),
            bytes,
        }
    }

    fn receipt_frame(profile: ReceiptProfile, intermediate: bool) -> Frame {
        let r = Receipt::new("0a1b2c", ReceiptState::Delivered);
        let out = OutgoingReceipt {
            receipt: &r,
            original_source: "LOADGEN",
            original_destination: "447700900123",
            intermediate,
            network_error: None,
        };
        let pdu = build_pdu(&out, &profile).expect("a short id");
        frame_of(&Command::new(CommandStatus::EsmeRok, 5, pdu))
    }

    #[test]
    fn deliveries_count_by_kind_and_id() {
        for pdu in [ReceiptPduKind::DeliverSm, ReceiptPduKind::DataSm] {
            for (text, tlvs) in [(true, true), (true, false), (false, true), (false, false)] {
                let profile = ReceiptProfile {
                    pdu,
                    text,
                    tlvs,
                    ..ReceiptProfile::STANDARD
                };
                let expected = if text || tlvs {
                    Delivery::Receipt(Cow::Borrowed("0a1b2c"))
                } else {
                    // Neither text nor TLVs: a receipt that names no message.
                    Delivery::Malformed
                };
                assert_eq!(
                    delivery(&receipt_frame(profile, false)),
                    expected,
                    "{profile:?}"
                );
                assert_eq!(
                    delivery(&receipt_frame(profile, true)),
                    Delivery::Intermediate,
                    "{profile:?}"
                );
            }
        }
        let mo = DeliverSm::builder()
            .source_addr(smpp::pdu::c_string::<21>("447700900123"))
            .destination_addr(smpp::pdu::c_string::<21>("LOADGEN"))
            // rusmpp's default esm_class encodes as 0x08: set it.
            .esm_class(EsmClass::from(0u8))
            .short_message(OctetString::from_vec(b"id:1 stat:DELIVRD".to_vec()).unwrap())
            .build();
        let mo = frame_of(&Command::new(CommandStatus::EsmeRok, 6, mo));
        assert_eq!(delivery(&mo), Delivery::Message);
        // A body cut short is malformed, whatever it was going to be.
        let whole = receipt_frame(ReceiptProfile::STANDARD, false);
        let cut = Frame {
            bytes: whole.bytes.slice(..whole.bytes.len() - 3),
            ..whole
        };
        assert_eq!(delivery(&cut), Delivery::Malformed);
    }

    #[test]
    fn id_keys_differ() {
        assert_ne!(id_key(b"1"), id_key(b"2"));
        assert_eq!(id_key(b"abc"), id_key(b"abc"));
    }
}
