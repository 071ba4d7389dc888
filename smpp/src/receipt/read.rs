//! Reading a received deliver_sm or data_sm: what it is (a receipt, an intermediate
//! notification or a message) and, for a receipt, which message it reports on.
//!
//! The rules live in one place, [`DeliveryView`]: a borrowed view of the few fields that decide
//! (esm_class, the user data, and the receipted_message_id, message_state and
//! network_error_code TLVs), whose methods make every decision. The view is built one of two
//! ways, and nothing else differs between them:
//!
//! - from a PDU rusmpp has decoded ([`DeliveryView::from_pdu`], wrapped by [`from_pdu`] and
//!   [`from_parts`]): the ESME client, which decodes every PDU anyway;
//! - in place from the body octets ([`DeliveryView::from_body`]): loadgen, which reads up to
//!   150,000 receipts a second on the machine whose SMSC it measures. A rusmpp decode costs
//!   about 1 µs and a dozen allocations per receipt there, enough to make the measuring tool
//!   the bottleneck; reading in place costs tens of nanoseconds and allocates nothing.
//!
//! Both builders hand their TLVs to the same picker (the first of each kind counts) and their
//! user data to the same rule ([`crate::pdu::pick_user_data`]), so the same octets give equal
//! views; the property test below checks that for every receipt profile and for mutated bodies.

use std::borrow::Cow;

use rusmpp::tlvs::{Tlv, TlvValue};
use rusmpp::values::MessageState;
use rusmpp::{CommandId, Pdu};

use super::{
    DeliveryKind, MAX_RECEIPTED_ID, NetworkError, Receipt, ReceiptState, TextReceipt,
    parse_in_place,
};
use crate::pdu::pick_user_data;

/// TLV tags the view reads (SMPP 3.4 section 5.3.2).
const TAG_RECEIPTED_MESSAGE_ID: u16 = 0x001E;
const TAG_NETWORK_ERROR_CODE: u16 = 0x0423;
const TAG_MESSAGE_PAYLOAD: u16 = 0x0424;
const TAG_MESSAGE_STATE: u16 = 0x0427;

/// What a received deliver_sm or data_sm says about delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryInfo {
    /// What esm_class says the PDU is.
    pub kind: DeliveryKind,
    /// For a receipt or an intermediate notification, what it reports (see
    /// [`DeliveryView::receipt`]); `None` for other messages, and when neither the text nor the
    /// TLVs name a message.
    pub receipt: Option<Receipt>,
}

/// What the receipt TLVs of a deliver_sm or data_sm say.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiptTlvs {
    /// `receipted_message_id`.
    pub message_id: Option<String>,
    /// `message_state`, if present and a defined value.
    pub state: Option<ReceiptState>,
    /// `network_error_code`.
    pub network_error: Option<NetworkError>,
}

impl ReceiptTlvs {
    /// Any receipt TLV was present.
    pub fn is_receipt(&self) -> bool {
        self.message_id.is_some() || self.state.is_some()
    }
}

/// Reads the receipt TLVs from a PDU's TLVs; other TLVs are ignored.
pub fn from_tlvs(tlvs: &[Tlv]) -> ReceiptTlvs {
    let picks = TlvPicks::of_decoded(tlvs);
    ReceiptTlvs {
        message_id: picks.receipted_message_id.map(str::to_owned),
        state: picks.message_state,
        network_error: picks.network_error,
    }
}

/// Reads a received deliver_sm or data_sm ([`DeliveryView::from_pdu`]); `None` for any other
/// PDU.
pub fn from_pdu(pdu: &Pdu) -> Option<DeliveryInfo> {
    DeliveryView::from_pdu(pdu).map(|view| view.info())
}

/// Reads what a delivery says, from its esm_class, its user data (short_message, or
/// message_payload when that is empty: [`crate::pdu::user_data`]) and its TLVs. The ESME
/// client reads every delivery with it; see [`DeliveryView::receipt`] for the rules.
pub fn from_parts(esm_class: u8, user_data: &[u8], tlvs: &[Tlv]) -> DeliveryInfo {
    let picks = TlvPicks::of_decoded(tlvs);
    DeliveryView {
        esm_class,
        user_data,
        receipted_message_id: picks.receipted_message_id,
        message_state: picks.message_state,
        network_error: picks.network_error,
    }
    .info()
}

/// The fields of a deliver_sm or data_sm that say what it is and what it reports, borrowed
/// from a decoded PDU or from the body octets. Its methods are the one reader of received
/// receipts: the ESME client and loadgen both go through them, so they can never disagree on
/// a kind or an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryView<'a> {
    /// esm_class, whose message-type bits say what the PDU is ([`DeliveryKind::of`]).
    pub esm_class: u8,
    /// The user data: short_message, or the message_payload TLV when short_message is empty
    /// (data_sm has only the TLV).
    pub user_data: &'a [u8],
    /// The first receipted_message_id TLV.
    pub receipted_message_id: Option<&'a str>,
    /// The first message_state TLV with a value the spec defines.
    pub message_state: Option<ReceiptState>,
    /// The first network_error_code TLV.
    pub network_error: Option<NetworkError>,
}

impl<'a> DeliveryView<'a> {
    /// The view of a decoded deliver_sm or data_sm; `None` for any other PDU.
    pub fn from_pdu(pdu: &'a Pdu) -> Option<Self> {
        let (esm_class, short_message, tlvs): (u8, &[u8], &[Tlv]) = match pdu {
            Pdu::DeliverSm(d) => (u8::from(d.esm_class), d.short_message().as_ref(), d.tlvs()),
            Pdu::DataSm(d) => (u8::from(d.esm_class), &[], d.tlvs()),
            _ => return None,
        };
        Some(TlvPicks::of_decoded(tlvs).into_view(esm_class, short_message))
    }

    /// The view of a deliver_sm or data_sm read in place from its body (the octets after the
    /// 16-octet header), without decoding it: nothing is copied or allocated.
    ///
    /// The body is checked as rusmpp checks it when it decodes, as far as the view depends on
    /// it: every read is bounded by the body, C-octet strings must end within their maximum
    /// length and be ASCII, the two times must be empty or full, and the TLVs must fill the
    /// rest of the body exactly. The TLVs the view reads must also be the length their type
    /// has (receipted_message_id a C-octet string that fills its value, message_state one
    /// octet, network_error_code three), where rusmpp reads the type's length and ignores the
    /// stated one: such a body is malformed, and taking either reading would be a guess.
    /// Other TLVs are skipped by their stated length, their values unchecked: the view does
    /// not depend on them.
    pub fn from_body(command_id: CommandId, body: &'a [u8]) -> Result<Self, MalformedDelivery> {
        let deliver_sm = match command_id {
            CommandId::DeliverSm => true,
            CommandId::DataSm => false,
            other => return Err(MalformedDelivery::NotADelivery(u32::from(other))),
        };
        let mut b = Body { rest: body };
        b.c_string("service_type", 6)?;
        b.take(2, "source_addr_ton/npi")?;
        b.c_string("source_addr", 21)?;
        b.take(2, "dest_addr_ton/npi")?;
        b.c_string("destination_addr", 21)?;
        let esm_class = b.u8("esm_class")?;
        let short_message = if deliver_sm {
            b.take(2, "protocol_id/priority_flag")?;
            b.time("schedule_delivery_time")?;
            b.time("validity_period")?;
            b.take(4, "registered_delivery..sm_default_msg_id")?;
            let sm_length = b.u8("sm_length")?;
            b.take(usize::from(sm_length), "short_message")?
        } else {
            b.take(2, "registered_delivery/data_coding")?;
            &[]
        };
        let mut picks = TlvPicks::default();
        while !b.rest.is_empty() {
            let head = b.take(4, "a TLV header")?;
            let tag = u16::from_be_bytes([head[0], head[1]]);
            let length = u16::from_be_bytes([head[2], head[3]]);
            let value = b.take(usize::from(length), "a TLV value")?;
            if let Some(tlv) = ReceiptTlv::from_wire(tag, value)? {
                picks.offer(tlv);
            }
        }
        Ok(picks.into_view(esm_class, short_message))
    }

    /// What esm_class says the PDU is.
    pub fn kind(&self) -> DeliveryKind {
        DeliveryKind::of(self.esm_class)
    }

    /// The id of the message a receipt or an intermediate notification reports on, by the
    /// rules of [`DeliveryView::receipt`], without building the receipt: borrowed from the PDU
    /// (allocated only when the text it comes from is not UTF-8). The text is parsed only when
    /// there is no receipted_message_id, since the TLV's id counts whatever the text says.
    pub fn receipt_id(&self) -> Option<Cow<'a, str>> {
        self.resolve(false, |_| ()).map(|(id, _)| id)
    }

    /// What a receipt or an intermediate notification reports, from its text, its TLVs, or
    /// both; `None` for other messages.
    ///
    /// - Text that parses ([`super::parse`]) gives every field it has.
    /// - receipted_message_id, when present, is the id, even when the text names another: SMPP
    ///   defines the TLV as the id of the receipted message, while the text is free-form and
    ///   some SMSCs write the id there in another base than in submit_sm_resp.
    /// - Without parsable text, the TLVs alone give the receipt (TLV-only receipts): id,
    ///   message_state (UNKNOWN when absent) and network_error_code as `err` (three digits).
    /// - Neither: `None`.
    pub fn receipt(&self) -> Option<Receipt> {
        let (id, text) = self.resolve(true, |text| text.to_receipt())?;
        let id = id.into_owned();
        Some(match text {
            Some(receipt) => Receipt { id, ..receipt },
            None => Receipt {
                id,
                sub: None,
                dlvrd: None,
                submit_date: None,
                done_date: None,
                stat: self.message_state.unwrap_or(ReceiptState::Unknown),
                err: self.network_error.map(|e| format!("{:03}", e.error_code)),
                text: String::new(),
            },
        })
    }

    /// The kind, and the receipt for a receipt or an intermediate notification.
    pub fn info(&self) -> DeliveryInfo {
        DeliveryInfo {
            kind: self.kind(),
            receipt: self.receipt(),
        }
    }

    /// The one decision both [`DeliveryView::receipt_id`] and [`DeliveryView::receipt`] make:
    /// whether the PDU reports on a message at all, which id counts, and (when asked for, or
    /// when the id must come from it) what the text says, handed to `keep`.
    fn resolve<T>(
        &self,
        want_text: bool,
        keep: impl FnOnce(TextReceipt<'_>) -> T,
    ) -> Option<(Cow<'a, str>, Option<T>)> {
        if self.kind() == DeliveryKind::Message {
            return None;
        }
        let text = if want_text || self.receipted_message_id.is_none() {
            self.text(keep)
        } else {
            None
        };
        match (self.receipted_message_id, text) {
            (Some(id), text) => {
                if let Some((text_id, _)) = &text
                    && text_id != id
                {
                    tracing::debug!(%text_id, tlv_id = %id, "receipt text and receipted_message_id differ; the TLV counts");
                }
                Some((Cow::Borrowed(id), text.map(|(_, t)| t)))
            }
            (None, Some((id, t))) => Some((id, Some(t))),
            (None, None) => None,
        }
    }

    /// The user data parsed as receipt text: its id, and what `keep` takes from it. Octets that
    /// are not UTF-8 are read as [`String::from_utf8_lossy`] gives them, the one case that
    /// copies.
    fn text<T>(&self, keep: impl FnOnce(TextReceipt<'_>) -> T) -> Option<(Cow<'a, str>, T)> {
        if self.user_data.is_empty() {
            return None;
        }
        // `str::from_utf8` checks ASCII a word at a time; `from_utf8_lossy` goes octet by
        // octet, so it is kept for text that needs it.
        let parsed = match std::str::from_utf8(self.user_data) {
            Ok(text) => parse_in_place(text).map(|r| (Cow::Borrowed(r.id), keep(r))),
            Err(_) => {
                let text = String::from_utf8_lossy(self.user_data);
                parse_in_place(&text).map(|r| (Cow::Owned(r.id.to_owned()), keep(r)))
            }
        };
        parsed
            .inspect_err(
                |e| tracing::debug!(error = %e, "receipt text did not parse; trying its TLVs"),
            )
            .ok()
    }
}

/// Why a body could not be read as a deliver_sm or data_sm. Carries no heap data, so counting
/// one costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedDelivery {
    /// The command is neither deliver_sm nor data_sm.
    #[error("command_id 0x{0:08x} is neither deliver_sm nor data_sm")]
    NotADelivery(u32),
    /// The body ends inside a field.
    #[error("the body ends inside {0}")]
    Truncated(&'static str),
    /// A C-octet string without its NUL within `max` octets, or not ASCII.
    #[error("{field} is not a C-octet string of at most {max} ASCII octets with its NUL")]
    BadCString {
        /// The field.
        field: &'static str,
        /// Its longest form, NUL included.
        max: usize,
    },
    /// A time that is neither empty nor 16 characters.
    #[error("{0} is neither empty nor a 16-character time")]
    BadTime(&'static str),
    /// A receipt TLV whose length its type cannot have.
    #[error("TLV 0x{tag:04x} has a value of {length} octets, which its type cannot have")]
    BadTlv {
        /// The TLV's tag.
        tag: u16,
        /// Its stated length.
        length: usize,
    },
}

/// The body not yet read; every read is checked against what is left.
struct Body<'a> {
    rest: &'a [u8],
}

impl<'a> Body<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], MalformedDelivery> {
        if self.rest.len() < n {
            return Err(MalformedDelivery::Truncated(field));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, MalformedDelivery> {
        Ok(self.take(1, field)?[0])
    }

    /// A C-octet string of at most `max` octets with its NUL (rusmpp's `COctetString<1, max>`),
    /// without the NUL. One pass finds the NUL and checks for ASCII.
    fn c_string(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], MalformedDelivery> {
        for (i, &b) in self.rest.iter().take(max).enumerate() {
            if b == 0 {
                // `i` indexes `rest`, so the split is in bounds.
                let (s, rest) = self.rest.split_at(i);
                self.rest = rest.get(1..).unwrap_or_default();
                return Ok(s);
            }
            if !b.is_ascii() {
                return Err(MalformedDelivery::BadCString { field, max });
            }
        }
        Err(if self.rest.len() < max {
            MalformedDelivery::Truncated(field)
        } else {
            MalformedDelivery::BadCString { field, max }
        })
    }

    /// schedule_delivery_time or validity_period: empty, or 16 characters and the NUL
    /// (rusmpp's `EmptyOrFullCOctetString<17>`).
    fn time(&mut self, field: &'static str) -> Result<(), MalformedDelivery> {
        match self.c_string(field, 17)?.len() {
            0 | 16 => Ok(()),
            _ => Err(MalformedDelivery::BadTime(field)),
        }
    }
}

/// A TLV the view reads, from either builder.
#[derive(Debug, Clone, Copy)]
enum ReceiptTlv<'a> {
    ReceiptedMessageId(&'a str),
    /// `None` for a value the spec does not define.
    MessageState(Option<ReceiptState>),
    NetworkError(NetworkError),
    MessagePayload(&'a [u8]),
}

impl<'a> ReceiptTlv<'a> {
    /// The TLV a decoded one is, if the view reads it.
    fn from_decoded(value: &'a TlvValue) -> Option<Self> {
        Some(match value {
            TlvValue::ReceiptedMessageId(id) => ReceiptTlv::ReceiptedMessageId(id.as_str()),
            TlvValue::MessageState(state) => {
                ReceiptTlv::MessageState(ReceiptState::from_message_state(*state))
            }
            TlvValue::NetworkErrorCode(code) => ReceiptTlv::NetworkError(code.into()),
            TlvValue::MessagePayload(payload) => ReceiptTlv::MessagePayload(payload.value.as_ref()),
            _ => return None,
        })
    }

    /// The TLV `tag` with `value` as on the wire, if the view reads it.
    fn from_wire(tag: u16, value: &'a [u8]) -> Result<Option<Self>, MalformedDelivery> {
        let bad = MalformedDelivery::BadTlv {
            tag,
            length: value.len(),
        };
        // rusmpp decodes no value from an empty TLV (`Tlv::value` is `None`), and the decoded
        // builder skips those; so does this one.
        if value.is_empty() {
            return Ok(None);
        }
        Ok(Some(match tag {
            TAG_RECEIPTED_MESSAGE_ID => {
                let Some((0, id)) = value.split_last() else {
                    return Err(bad);
                };
                if id.len() > MAX_RECEIPTED_ID || !id.iter().all(|&b| b != 0 && b.is_ascii()) {
                    return Err(bad);
                }
                ReceiptTlv::ReceiptedMessageId(std::str::from_utf8(id).map_err(|_| bad)?)
            }
            TAG_MESSAGE_STATE => match value {
                [state] => ReceiptTlv::MessageState(ReceiptState::from_message_state(
                    MessageState::from(*state),
                )),
                _ => return Err(bad),
            },
            TAG_NETWORK_ERROR_CODE => match value {
                [network_type, hi, lo] => ReceiptTlv::NetworkError(NetworkError {
                    network_type: *network_type,
                    error_code: u16::from_be_bytes([*hi, *lo]),
                }),
                _ => return Err(bad),
            },
            TAG_MESSAGE_PAYLOAD => ReceiptTlv::MessagePayload(value),
            _ => return Ok(None),
        }))
    }
}

/// The TLVs a view needs, as both builders pick them.
#[derive(Debug, Default)]
struct TlvPicks<'a> {
    receipted_message_id: Option<&'a str>,
    message_state: Option<ReceiptState>,
    network_error: Option<NetworkError>,
    message_payload: Option<&'a [u8]>,
}

impl<'a> TlvPicks<'a> {
    fn of_decoded(tlvs: &'a [Tlv]) -> Self {
        let mut picks = Self::default();
        for tlv in tlvs
            .iter()
            .filter_map(Tlv::value)
            .filter_map(ReceiptTlv::from_decoded)
        {
            picks.offer(tlv);
        }
        picks
    }

    /// The first of each counts, as a key repeated in receipt text does; for message_state,
    /// the first with a defined value.
    fn offer(&mut self, tlv: ReceiptTlv<'a>) {
        match tlv {
            ReceiptTlv::ReceiptedMessageId(id) => {
                self.receipted_message_id.get_or_insert(id);
            }
            ReceiptTlv::MessageState(state) => {
                if self.message_state.is_none() {
                    self.message_state = state;
                }
            }
            ReceiptTlv::NetworkError(e) => {
                self.network_error.get_or_insert(e);
            }
            ReceiptTlv::MessagePayload(payload) => {
                self.message_payload.get_or_insert(payload);
            }
        }
    }

    fn into_view(self, esm_class: u8, short_message: &'a [u8]) -> DeliveryView<'a> {
        DeliveryView {
            esm_class,
            user_data: pick_user_data(short_message, self.message_payload),
            receipted_message_id: self.receipted_message_id,
            message_state: self.message_state,
            network_error: self.network_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Frame, Header, encode_command};
    use crate::receipt::tests::{build, profile, undelivered};
    use crate::receipt::{
        OutgoingReceipt, ReceiptDate, ReceiptFormat, ReceiptPduKind, ReceiptProfile, build_pdu,
    };
    use bytes::{BufMut, Bytes, BytesMut};
    use proptest::prelude::*;
    use proptest::sample::Index;
    use rusmpp::encode::Length;
    use rusmpp::values::EsmClass;
    use rusmpp::{Command, CommandStatus};

    /// Every shape a carrier sends receipts in: deliver_sm or data_sm, with or without text,
    /// with or without TLVs.
    fn profiles() -> Vec<ReceiptProfile> {
        let mut out = Vec::new();
        for pdu in [ReceiptPduKind::DeliverSm, ReceiptPduKind::DataSm] {
            for (text, tlvs) in [(true, true), (true, false), (false, true), (false, false)] {
                out.push(profile(pdu, text, tlvs));
            }
        }
        out
    }

    /// The frame a peer receives for `pdu`.
    fn frame(pdu: Pdu) -> Frame {
        let bytes = encode_command(&Command::new(CommandStatus::EsmeRok, 7, pdu));
        Frame {
            header: Header::peek(&bytes).expect("a header"),
            bytes,
        }
    }

    /// `f` with its body replaced by `body` (and command_length to match).
    fn with_body(f: &Frame, body: &[u8]) -> Frame {
        let mut whole = BytesMut::with_capacity(16 + body.len());
        whole.put_u32((16 + body.len()) as u32);
        whole.put_slice(&f.bytes[4..16]);
        whole.put_slice(body);
        let bytes: Bytes = whole.freeze();
        Frame {
            header: Header::peek(&bytes).expect("a header"),
            bytes,
        }
    }

    fn raw(frame: &Frame) -> Result<DeliveryView<'_>, MalformedDelivery> {
        DeliveryView::from_body(frame.header.id(), frame.body())
    }

    /// rusmpp 0.4 reads a TLV of a known fixed-size type by its type, whatever its stated
    /// length, and carries on from there; when the two differ it has misread the TLVs, so only
    /// decodes where every TLV is its stated length are the reading to agree with.
    fn read_faithfully(pdu: &Pdu) -> bool {
        let tlvs = match pdu {
            Pdu::DeliverSm(d) => d.tlvs(),
            Pdu::DataSm(d) => d.tlvs(),
            _ => return false,
        };
        tlvs.iter()
            .all(|t| t.value().map_or(0, Length::length) == usize::from(t.value_length()))
    }

    #[test]
    fn both_builders_give_the_same_view_for_every_profile() {
        let r = undelivered();
        for profile in profiles() {
            for intermediate in [false, true] {
                let f = frame(build(&r, &profile, intermediate));
                let command = f.decode().expect("decodes");
                let decoded = DeliveryView::from_pdu(command.pdu().expect("a body")).unwrap();
                let view = raw(&f).expect("reads in place");
                assert_eq!(view, decoded, "{profile:?}");
                let expected = (profile.text || profile.tlvs).then_some(Cow::Borrowed("1a2b3c"));
                assert_eq!(view.receipt_id(), expected, "{profile:?}");
                assert_eq!(
                    Some(view.info()),
                    from_pdu(command.pdu().unwrap()),
                    "{profile:?}"
                );
                let kind = if intermediate {
                    DeliveryKind::Intermediate
                } else {
                    DeliveryKind::Receipt
                };
                assert_eq!(view.kind(), kind);
            }
        }
    }

    /// A deliver_sm body written by hand, so that tests can send what builders refuse to
    /// write: `tlvs` is (tag, value) in order.
    fn deliver_sm_body(esm_class: u8, text: &[u8], tlvs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        b.push(0); // service_type
        b.extend_from_slice(&[1, 1]);
        b.extend_from_slice(b"447700900001\0");
        b.extend_from_slice(&[5, 0]);
        b.extend_from_slice(b"Acme\0");
        b.extend_from_slice(&[esm_class, 0, 0]);
        b.extend_from_slice(&[0, 0]); // both times empty
        b.extend_from_slice(&[0, 0, 0, 0]);
        b.push(u8::try_from(text.len()).expect("a short text"));
        b.extend_from_slice(text);
        for (tag, value) in tlvs {
            b.extend_from_slice(&tag.to_be_bytes());
            b.extend_from_slice(&(value.len() as u16).to_be_bytes());
            b.extend_from_slice(value);
        }
        b
    }

    /// A deliver_sm frame with `body`.
    fn deliver_sm(body: &[u8]) -> Frame {
        with_body(&frame(Pdu::from(rusmpp::pdus::DeliverSm::default())), body)
    }

    /// The view read in place, after checking that rusmpp reads the same frame the same way.
    fn agreed(f: &Frame) -> DeliveryView<'_> {
        let command = f.decode().expect("rusmpp decodes it");
        let pdu = command.pdu().expect("a body");
        assert!(read_faithfully(pdu), "{pdu:?}");
        let view = raw(f).expect("reads in place");
        assert_eq!(view, DeliveryView::from_pdu(pdu).unwrap());
        assert_eq!(Some(view.info()), from_pdu(pdu));
        view
    }

    #[test]
    fn the_tlv_id_counts_and_the_text_is_then_not_needed() {
        // Some SMSCs write the id in decimal in the text and as in submit_sm_resp in the TLV.
        let text = b"id:111 stat:DELIVRD text:hi";
        let f = deliver_sm(&deliver_sm_body(0x04, text, &[(0x001E, b"6f\0")]));
        let view = agreed(&f);
        assert_eq!(view.receipt_id(), Some(Cow::Borrowed("6f")));
        let r = view.receipt().unwrap();
        assert_eq!(
            (r.id.as_str(), r.stat, r.text.as_str()),
            ("6f", ReceiptState::Delivered, "hi")
        );
        // With the TLV there, text that does not parse changes nothing about the id.
        let f = deliver_sm(&deliver_sm_body(0x04, b"stat:??", &[(0x001E, b"6f\0")]));
        assert_eq!(agreed(&f).receipt_id(), Some(Cow::Borrowed("6f")));
    }

    #[test]
    fn without_the_tlv_the_id_is_the_texts_if_the_text_parses() {
        let f = deliver_sm(&deliver_sm_body(0x04, b"id:abc stat:DELIVRD", &[]));
        let id = agreed(&f).receipt_id();
        assert!(
            matches!(id, Some(Cow::Borrowed("abc"))),
            "borrowed, not copied: {id:?}"
        );
        // An id but no valid state: the text does not parse, so it names no message.
        for text in [
            &b"id:abc stat:NOPE"[..],
            b"id:abc",
            b"id:abc stat:DELIVRD sub:x",
        ] {
            let f = deliver_sm(&deliver_sm_body(0x04, text, &[]));
            assert_eq!(
                agreed(&f).receipt_id(),
                None,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        // Text in message_payload when short_message is empty.
        let f = deliver_sm(&deliver_sm_body(
            0x04,
            b"",
            &[(0x0424, b"id:p1 stat:EXPIRED")],
        ));
        assert_eq!(agreed(&f).receipt_id(), Some(Cow::Borrowed("p1")));
        // Not UTF-8: read as from_utf8_lossy reads it, like the decoded reader.
        let f = deliver_sm(&deliver_sm_body(0x04, b"id:a\xffb stat:DELIVRD", &[]));
        assert_eq!(agreed(&f).receipt_id().as_deref(), Some("a\u{fffd}b"));
    }

    #[test]
    fn messages_are_not_receipts_and_intermediates_are_read_alike() {
        let body = |esm| deliver_sm_body(esm, b"id:abc stat:ENROUTE", &[(0x001E, b"abc\0")]);
        let f = deliver_sm(&body(0x00));
        let view = agreed(&f);
        assert_eq!(
            (view.kind(), view.receipt_id()),
            (DeliveryKind::Message, None)
        );
        let f = deliver_sm(&body(0x20 | 0x03));
        let view = agreed(&f);
        assert_eq!(view.kind(), DeliveryKind::Intermediate);
        assert_eq!(view.receipt_id(), Some(Cow::Borrowed("abc")));
    }

    #[test]
    fn the_first_of_each_tlv_counts() {
        let tlvs: [(u16, &[u8]); 7] = [
            (0x0427, &[0x7f]), // undefined message_state: skipped
            (0x001E, b""),     // no value: skipped, as rusmpp skips it
            (0x0427, &[3]),
            (0x001E, b"first\0"),
            (0x001E, b"second\0"),
            (0x0423, &[3, 0, 9]),
            (0x0427, &[2]),
        ];
        let f = deliver_sm(&deliver_sm_body(0x04, b"", &tlvs));
        let view = agreed(&f);
        assert_eq!(view.receipted_message_id, Some("first"));
        assert_eq!(view.message_state, Some(ReceiptState::Expired));
        assert_eq!(view.network_error, Some(NetworkError::gsm(9)));
        let r = view.receipt().unwrap();
        assert_eq!(
            (r.stat, r.err.as_deref()),
            (ReceiptState::Expired, Some("009"))
        );
    }

    #[test]
    fn malformed_bodies_are_errors() {
        use MalformedDelivery as M;
        let good = deliver_sm_body(0x04, b"id:1 stat:DELIVRD", &[(0x0427, &[2])]);
        let at = |f: &Frame| raw(f).err();
        assert_eq!(
            DeliveryView::from_body(CommandId::SubmitSm, &good).err(),
            Some(M::NotADelivery(4))
        );
        // Cut anywhere inside a field: an error, never a panic. Cut just before the TLV, the
        // body is whole, only shorter.
        let whole_without_tlv = good.len() - 5;
        for cut in 0..good.len() {
            let f = deliver_sm(&good[..cut]);
            if cut == whole_without_tlv {
                assert_eq!(agreed(&f).receipt_id(), Some(Cow::Borrowed("1")));
                continue;
            }
            assert!(
                matches!(at(&f), Some(M::Truncated(_))),
                "cut at {cut}: {:?}",
                at(&f)
            );
            // rusmpp refuses it too (an empty body decodes as a command without a PDU).
            assert!(
                f.decode().map_or(true, |c| c.pdu().is_none()),
                "cut at {cut}"
            );
        }
        let mut long_source = good.clone();
        long_source.splice(3..15, *b"4477009000011234567890");
        assert_eq!(
            at(&deliver_sm(&long_source)),
            Some(M::BadCString {
                field: "source_addr",
                max: 21
            })
        );
        let mut not_ascii = good.clone();
        not_ascii[3] = 0xC4;
        assert!(matches!(
            at(&deliver_sm(&not_ascii)),
            Some(M::BadCString { .. })
        ));
        let mut short_time = good.clone();
        short_time.splice(25..26, *b"2611\0");
        assert_eq!(
            at(&deliver_sm(&short_time)),
            Some(M::BadTime("schedule_delivery_time"))
        );
        // Receipt TLVs whose stated length their type cannot have.
        for (tag, value) in [
            (0x001E, &b"abc"[..]),
            (0x001E, b"a\0c\0"),
            (0x0427, &[2, 0]),
            (0x0423, &[3, 0]),
        ] {
            let f = deliver_sm(&deliver_sm_body(0x04, b"", &[(tag, value)]));
            assert_eq!(
                at(&f),
                Some(M::BadTlv {
                    tag,
                    length: value.len()
                })
            );
        }
        // A receipted_message_id whose NUL comes before its stated end. rusmpp reads the
        // C-string and then the rest of the value as more TLVs (here a message_state), so it
        // decodes; in place this is malformed, since which reading the SMSC meant is a guess.
        let value = b"ab\0\x04\x27\x00\x01\x02";
        let f = deliver_sm(&deliver_sm_body(0x04, b"", &[(0x001E, value)]));
        assert_eq!(
            at(&f),
            Some(M::BadTlv {
                tag: 0x001E,
                length: 8
            })
        );
        let command = f.decode().expect("rusmpp decodes it");
        assert!(!read_faithfully(command.pdu().unwrap()));
        let misread = from_pdu(command.pdu().unwrap()).unwrap().receipt.unwrap();
        assert_eq!(
            (misread.id.as_str(), misread.stat),
            ("ab", ReceiptState::Delivered)
        );
        let mut id_of_65 = vec![b'a'; 65];
        id_of_65.push(0);
        let f = deliver_sm(&deliver_sm_body(0x04, b"", &[(0x001E, &id_of_65)]));
        assert!(matches!(at(&f), Some(M::BadTlv { .. })));
        assert!(f.decode().is_err(), "rusmpp refuses it too");
    }

    fn arb_date() -> impl Strategy<Value = ReceiptDate> {
        (
            0u8..100,
            1u8..13,
            1u8..32,
            0u8..24,
            0u8..60,
            prop::option::of(0u8..60),
        )
            .prop_map(|(year, month, day, hour, minute, second)| ReceiptDate {
                year,
                month,
                day,
                hour,
                minute,
                second,
            })
    }

    fn arb_receipt() -> impl Strategy<Value = Receipt> {
        (
            // What receipted_message_id can hold: 1 to 64 printable ASCII characters; a space
            // is allowed too, which the text cannot carry in an id.
            "[ -~]{1,64}",
            prop::option::of(0u32..1000),
            prop::option::of(0u32..1000),
            prop::option::of(arb_date()),
            prop::option::of(arb_date()),
            prop::sample::select(ReceiptState::ALL.to_vec()),
            prop::option::of("[0-9A-Z]{1,3}"),
            "\\PC{0,30}",
        )
            .prop_map(
                |(id, sub, dlvrd, submit_date, done_date, stat, err, text)| Receipt {
                    id,
                    sub,
                    dlvrd,
                    submit_date,
                    done_date,
                    stat,
                    err,
                    text,
                },
            )
    }

    fn arb_profile() -> impl Strategy<Value = ReceiptProfile> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()),
            0usize..=40,
        )
            .prop_map(
                |(data_sm, text, tlvs, (upper, sub_dlvrd, capitalized, seconds), text_chars)| {
                    ReceiptProfile {
                        pdu: if data_sm {
                            ReceiptPduKind::DataSm
                        } else {
                            ReceiptPduKind::DeliverSm
                        },
                        text,
                        tlvs,
                        format: ReceiptFormat {
                            upper_case_keys: upper,
                            sub_dlvrd,
                            capitalized_text: capitalized,
                            seconds_in_dates: seconds,
                            text_chars,
                        },
                    }
                },
            )
    }

    /// Changes to a body's octets: overwrite, insert, remove, and a final cut.
    #[derive(Debug, Clone)]
    enum Mutation {
        Set(Index, u8),
        Insert(Index, u8),
        Remove(Index),
    }

    fn arb_mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            4 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            1 => any::<Index>().prop_map(Mutation::Remove),
        ]
    }

    fn mutate(body: &mut Vec<u8>, mutations: &[Mutation], cut: Option<Index>) {
        for m in mutations {
            match m {
                Mutation::Set(i, b) if !body.is_empty() => {
                    let at = i.index(body.len());
                    body[at] = *b;
                }
                Mutation::Insert(i, b) => body.insert(i.index(body.len() + 1), *b),
                Mutation::Remove(i) if !body.is_empty() => {
                    body.remove(i.index(body.len()));
                }
                _ => {}
            }
        }
        if let Some(cut) = cut {
            body.truncate(cut.index(body.len() + 1));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The raw reader and the decoded reader agree on every receipt any profile builds,
        /// and on the same bytes mutated, wherever rusmpp decodes them (faithfully; see
        /// `read_faithfully`). Elsewhere the raw reader must simply not panic.
        #[test]
        fn raw_reader_agrees_with_from_pdu(
            receipt in arb_receipt(),
            profile in arb_profile(),
            intermediate in any::<bool>(),
            network_error in prop::option::of((any::<u8>(), any::<u16>())),
            esm_class in prop::option::of(any::<u8>()),
            mutations in prop::collection::vec(arb_mutation(), 0..4),
            cut in prop::option::weighted(0.2, any::<Index>()),
        ) {
            let out = OutgoingReceipt {
                receipt: &receipt,
                original_source: "447700900001",
                original_destination: "VerifyCo",
                intermediate,
                network_error: network_error
                    .map(|(network_type, error_code)| NetworkError { network_type, error_code }),
            };
            let mut pdu = build_pdu(&out, &profile).expect("an id the TLV holds");
            if let Some(esm_class) = esm_class {
                match &mut pdu {
                    Pdu::DeliverSm(d) => d.esm_class = EsmClass::from(esm_class),
                    Pdu::DataSm(d) => d.esm_class = EsmClass::from(esm_class),
                    _ => unreachable!("build_pdu builds deliver_sm or data_sm"),
                }
            }
            let built = frame(pdu);
            let mut body = built.body().to_vec();
            let pristine = mutations.is_empty() && cut.is_none();
            mutate(&mut body, &mutations, cut);
            let f = with_body(&built, &body);

            let raw_view = raw(&f);
            let decoded = f.decode();
            if pristine {
                prop_assert!(decoded.is_ok() && raw_view.is_ok(), "{decoded:?} {raw_view:?}");
            }
            let Ok(command) = decoded else { return Ok(()) };
            let Some(pdu) = command.pdu().filter(|p| read_faithfully(p)) else { return Ok(()) };
            let view = match raw_view {
                Ok(view) => view,
                Err(e) => return Err(TestCaseError::fail(format!("rusmpp reads it; in place: {e}"))),
            };
            prop_assert_eq!(view, DeliveryView::from_pdu(pdu).expect("a delivery"));
            let info = from_pdu(pdu).expect("a delivery");
            prop_assert_eq!(view.kind(), info.kind);
            prop_assert_eq!(view.receipt_id().map(Cow::into_owned), info.receipt.map(|r| r.id));
            if pristine && view.kind() != DeliveryKind::Message && (profile.tlvs || profile.text) {
                // What was sent is what is read: the TLV's id, or the text's when the text is
                // all there is and the id can travel in it.
                let text_carries_id = !receipt.id.contains(char::is_whitespace);
                if profile.tlvs || text_carries_id {
                    let id = view.receipt_id();
                    prop_assert_eq!(id.as_deref(), Some(receipt.id.as_str()));
                }
            }
        }
    }
}
