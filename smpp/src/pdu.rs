//! Building responses and reading the fields every peer needs.
//!
//! Both sides of a session answer requests, sometimes with an error before the body could even
//! be decoded, so the response for a request is built here from the request's command id and
//! sequence number alone. Error responses carry the smallest body that popular clients accept
//! (an empty message_id for *_sm_resp), because some of them fail to parse a header-only response.

use bytes::Bytes;
use rusmpp::pdus::{
    BindReceiverResp, BindTransceiverResp, BindTransmitterResp, BroadcastSmResp, DataSmResp,
    DeliverSmResp, QueryBroadcastSmResp, QuerySmResp, SubmitMultiResp, SubmitSmResp,
};
use rusmpp::tlvs::{Tlv, TlvValue};
use rusmpp::types::{AnyOctetString, COctetString};
use rusmpp::values::InterfaceVersion;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};

use crate::frame::Header;

/// The response command id for a request id, or `None` when the command has no response
/// (a response itself, generic_nack, outbind, alert_notification, or an unknown id).
pub fn response_id(request: CommandId) -> Option<CommandId> {
    use CommandId as C;
    Some(match request {
        C::BindReceiver => C::BindReceiverResp,
        C::BindTransmitter => C::BindTransmitterResp,
        C::BindTransceiver => C::BindTransceiverResp,
        C::QuerySm => C::QuerySmResp,
        C::SubmitSm => C::SubmitSmResp,
        C::DeliverSm => C::DeliverSmResp,
        C::Unbind => C::UnbindResp,
        C::ReplaceSm => C::ReplaceSmResp,
        C::CancelSm => C::CancelSmResp,
        C::EnquireLink => C::EnquireLinkResp,
        C::SubmitMulti => C::SubmitMultiResp,
        C::DataSm => C::DataSmResp,
        C::BroadcastSm => C::BroadcastSmResp,
        C::QueryBroadcastSm => C::QueryBroadcastSmResp,
        C::CancelBroadcastSm => C::CancelBroadcastSmResp,
        _ => return None,
    })
}

/// A generic_nack carrying `status` for the PDU with `sequence_number`.
pub fn generic_nack(status: CommandStatus, sequence_number: u32) -> Command {
    Command::new(status, sequence_number, Pdu::GenericNack)
}

/// The error answer to a request that could not be served: the request's own response with
/// `status`, or a generic_nack when the request has no response or its id is unknown.
pub fn error_response(header: &Header, status: CommandStatus) -> Command {
    let seq = header.sequence_number;
    let Some(resp) = response_id(header.id()) else {
        return generic_nack(status, seq);
    };
    Command::new(status, seq, empty_response_pdu(resp, ""))
}

/// The response PDU for `resp` with an empty or minimal body. `system_id` fills bind responses.
pub fn empty_response_pdu(resp: CommandId, system_id: &str) -> Pdu {
    use CommandId as C;
    let sys = c_string::<16>(system_id);
    match resp {
        C::BindReceiverResp => BindReceiverResp::new(sys, None).into(),
        C::BindTransmitterResp => BindTransmitterResp::new(sys, None).into(),
        C::BindTransceiverResp => BindTransceiverResp::new(sys, None).into(),
        C::SubmitSmResp => SubmitSmResp::new(COctetString::empty(), Vec::new()).into(),
        C::DeliverSmResp => DeliverSmResp::new(COctetString::empty(), Vec::new()).into(),
        C::DataSmResp => DataSmResp::new(COctetString::empty(), Vec::new()).into(),
        C::SubmitMultiResp => {
            SubmitMultiResp::new(COctetString::empty(), Vec::new(), Vec::new()).into()
        }
        C::QuerySmResp => QuerySmResp::builder().build().into(),
        C::BroadcastSmResp => BroadcastSmResp::new(COctetString::empty(), Vec::new()).into(),
        C::QueryBroadcastSmResp => {
            QueryBroadcastSmResp::new(COctetString::empty(), Vec::new()).into()
        }
        C::UnbindResp => Pdu::UnbindResp,
        C::EnquireLinkResp => Pdu::EnquireLinkResp,
        C::CancelSmResp => Pdu::CancelSmResp,
        C::ReplaceSmResp => Pdu::ReplaceSmResp,
        C::CancelBroadcastSmResp => Pdu::CancelBroadcastSmResp,
        other => Pdu::Other {
            command_id: other,
            body: AnyOctetString::from_bytes(Bytes::new()),
        },
    }
}

/// A bind response of the kind that answers `request` (one of the three bind ids).
///
/// `sc_interface_version` is only sent to peers that bound with 3.4 or later: an SMPP 3.3
/// ESME cannot parse TLVs.
pub fn bind_response(
    request: CommandId,
    status: CommandStatus,
    sequence_number: u32,
    system_id: &str,
    peer_interface_version: u8,
) -> Command {
    let sys = c_string::<16>(system_id);
    let version = match peer_interface_version {
        _ if status != CommandStatus::EsmeRok => None,
        v if v >= 0x50 => Some(InterfaceVersion::Smpp5_0),
        v if v >= 0x34 => Some(InterfaceVersion::Smpp3_4),
        _ => None,
    };
    let pdu: Pdu = match request {
        CommandId::BindReceiver => BindReceiverResp::new(sys, version).into(),
        CommandId::BindTransmitter => BindTransmitterResp::new(sys, version).into(),
        _ => BindTransceiverResp::new(sys, version).into(),
    };
    Command::new(status, sequence_number, pdu)
}

/// A C-octet string of at most `MAX - 1` characters; longer input is truncated, never refused,
/// since the values put here are ours (ids, system ids) and a refusal would only hide a bug.
pub fn c_string<const MAX: usize>(s: &str) -> COctetString<1, MAX> {
    let mut bytes: Vec<u8> = s.bytes().filter(|b| *b != 0 && b.is_ascii()).collect();
    bytes.truncate(MAX - 1);
    bytes.push(0);
    COctetString::from_vec(bytes).unwrap_or_else(|_| COctetString::empty())
}

/// The text of a C-octet string (rusmpp guarantees ASCII).
pub fn c_str<const MIN: usize, const MAX: usize>(s: &COctetString<MIN, MAX>) -> String {
    s.as_str().to_string()
}

/// Finds the first TLV whose value matches `pick`.
pub fn find_tlv<'a, T>(tlvs: &'a [Tlv], pick: impl Fn(&'a TlvValue) -> Option<T>) -> Option<T> {
    tlvs.iter().filter_map(|t| t.value()).find_map(pick)
}

/// The message_payload TLV's bytes, when present.
pub fn message_payload(tlvs: &[Tlv]) -> Option<&[u8]> {
    find_tlv(tlvs, |v| match v {
        TlvValue::MessagePayload(p) => Some(p.value.as_ref()),
        _ => None,
    })
}

/// The user data of a message: short_message, or the message_payload TLV when short_message is
/// empty (SMPP 3.4 section 5.3.2.32: a message uses one or the other; data_sm has only the TLV).
pub fn user_data<'a>(short_message: &'a [u8], tlvs: &'a [Tlv]) -> &'a [u8] {
    pick_user_data(short_message, message_payload(tlvs))
}

/// The rule behind [`user_data`], on fields already found: a reader that walks the raw body
/// (`smpp::receipt::DeliveryView::from_body`) picks the same octets as one that decoded it.
pub fn pick_user_data<'a>(short_message: &'a [u8], message_payload: Option<&'a [u8]>) -> &'a [u8] {
    if short_message.is_empty() {
        message_payload.unwrap_or(&[])
    } else {
        short_message
    }
}

/// The sar_ TLVs (reference, total, sequence), when all three are present.
pub fn sar_info(tlvs: &[Tlv]) -> Option<(u16, u8, u8)> {
    let r = find_tlv(tlvs, |v| match v {
        TlvValue::SarMsgRefNum(r) => Some(*r),
        _ => None,
    })?;
    let t = find_tlv(tlvs, |v| match v {
        TlvValue::SarTotalSegments(t) => Some(*t),
        _ => None,
    })?;
    let s = find_tlv(tlvs, |v| match v {
        TlvValue::SarSegmentSeqnum(s) => Some(*s),
        _ => None,
    })?;
    Some((r, t, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode_one, encode_command};

    #[test]
    fn error_response_uses_the_request_response_id() {
        let header = Header {
            command_length: 16,
            command_id: 0x0000_0004,
            command_status: 0,
            sequence_number: 42,
        };
        let resp = error_response(&header, CommandStatus::EsmeRinvdstadr);
        assert_eq!(resp.id(), CommandId::SubmitSmResp);
        assert_eq!(resp.sequence_number(), 42);
        let back = decode_one(&encode_command(&resp)).unwrap();
        assert_eq!(back.status(), CommandStatus::EsmeRinvdstadr);
    }

    #[test]
    fn unknown_request_gets_generic_nack() {
        let header = Header {
            command_length: 16,
            command_id: 0x0000_1234,
            command_status: 0,
            sequence_number: 5,
        };
        let resp = error_response(&header, CommandStatus::EsmeRinvcmdid);
        assert_eq!(resp.id(), CommandId::GenericNack);
    }

    #[test]
    fn bind_response_omits_tlv_for_smpp33() {
        let r33 = bind_response(
            CommandId::BindTransmitter,
            CommandStatus::EsmeRok,
            1,
            "sim",
            0x33,
        );
        let r34 = bind_response(
            CommandId::BindTransmitter,
            CommandStatus::EsmeRok,
            1,
            "sim",
            0x34,
        );
        assert_eq!(encode_command(&r33).len() + 5, encode_command(&r34).len());
    }

    #[test]
    fn c_string_truncates_and_filters() {
        assert_eq!(c_str(&c_string::<9>("abcdefghijkl")), "abcdefgh");
        assert_eq!(c_str(&c_string::<9>("a\0b")), "ab");
    }
}
