//! Framing by `command_length`, bounded, that survives a bad PDU.
//!
//! rusmpp's own `CommandCodec` loses frame sync after a body decode error and `Framed` ends the
//! stream on any error, which would drop a session for a single malformed PDU. So framing is done
//! here in two steps: [`SmppCodec`] cuts the byte stream into whole frames by `command_length`
//! (checked against a configurable maximum before anything is buffered), and [`Frame::decode`]
//! then decodes one frame's body with rusmpp. A body that does not decode yields a
//! [`BodyError`] carrying the header and the `command_status` the peer should get back, and the
//! stream stays in sync because the frame was already cut out of it.

use bytes::{Bytes, BytesMut};
use rusmpp::decode::DecodeErrorKind;
use rusmpp::decode::DecodeWithLength;
use rusmpp::fields::SmppField;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::{Command, CommandId, CommandStatus};
use tokio_util::codec::{Decoder, Encoder};

/// Length of the SMPP header: command_length, command_id, command_status, sequence_number.
pub const HEADER_LEN: usize = 16;

/// Default bound on `command_length`. The largest legitimate PDU (submit_sm with a full
/// message_payload) fits comfortably; anything longer is refused before it is buffered.
pub const DEFAULT_MAX_COMMAND_LENGTH: usize = 65_536;

/// The four header fields of a PDU, read without decoding the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total length of the PDU in octets, header included.
    pub command_length: u32,
    /// Raw command_id (may name no known command).
    pub command_id: u32,
    /// Raw command_status.
    pub command_status: u32,
    /// Sequence number used to correlate requests and responses.
    pub sequence_number: u32,
}

impl Header {
    /// Reads a header from the first 16 octets of `buf`, or `None` if there are fewer.
    pub fn peek(buf: &[u8]) -> Option<Self> {
        if buf.len() < HEADER_LEN {
            return None;
        }
        let word = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        Some(Self {
            command_length: word(0),
            command_id: word(4),
            command_status: word(8),
            sequence_number: word(12),
        })
    }

    /// The command id as rusmpp knows it (`CommandId::Other` for unknown ids).
    pub fn id(&self) -> CommandId {
        CommandId::from(self.command_id)
    }

    /// The command status as rusmpp knows it.
    pub fn status(&self) -> CommandStatus {
        CommandStatus::from(self.command_status)
    }

    /// True when the command id has the response bit set.
    pub fn is_response(&self) -> bool {
        self.command_id & 0x8000_0000 != 0
    }
}

/// One whole PDU cut from the stream, header included, not yet decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The parsed header.
    pub header: Header,
    /// The whole PDU as received (header and body).
    pub bytes: Bytes,
}

impl Frame {
    /// The body octets, after the 16-octet header.
    pub fn body(&self) -> &[u8] {
        &self.bytes[HEADER_LEN..]
    }

    /// Decodes the frame with rusmpp.
    ///
    /// Unknown command ids are refused with `ESME_RINVCMDID` (rusmpp would otherwise hand them
    /// back as `Pdu::Other`); bodies that do not decode are mapped to the status that names the
    /// offending field.
    pub fn decode(&self) -> Result<Command, BodyError> {
        let id = self.header.id();
        if !is_known_command(id) {
            return Err(BodyError {
                header: self.header,
                status: CommandStatus::EsmeRinvcmdid,
                field: None,
                reason: format!("unknown command_id 0x{:08x}", self.header.command_id),
            });
        }
        // rusmpp decodes the PDU after command_length: id, status, sequence number, body.
        let mut buf = BytesMut::from(&self.bytes[4..]);
        let len = buf.len();
        match Command::decode(&mut buf, len) {
            Ok((command, _)) => Ok(command),
            Err(err) => {
                let field = deepest_field(&err);
                let status = status_for_decode_error(id, field, err.kind());
                Err(BodyError {
                    header: self.header,
                    status,
                    field,
                    reason: err.to_string(),
                })
            }
        }
    }
}

/// A frame whose body could not be decoded, with the status to answer it with.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} (seq {}): {reason}; answering with {status:?}", command_name(.header.command_id), .header.sequence_number)]
pub struct BodyError {
    /// Header of the offending PDU (its sequence number goes in the response).
    pub header: Header,
    /// The command_status the response should carry.
    pub status: CommandStatus,
    /// The field rusmpp failed on, when it said.
    pub field: Option<SmppField>,
    /// Human-readable reason, for logs and capture.
    pub reason: String,
}

/// Errors that end a connection: the stream cannot be framed any more.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// command_length below the 16-octet header.
    #[error("command_length {length} is shorter than the 16-octet header")]
    TooShort {
        /// The offending command_length.
        length: u32,
        /// Sequence number, when the header was already buffered (0 otherwise).
        sequence_number: u32,
    },
    /// command_length above the configured maximum.
    #[error("command_length {length} exceeds the maximum of {max} octets")]
    TooLong {
        /// The offending command_length.
        length: u32,
        /// The configured maximum.
        max: usize,
        /// Sequence number, when the header was already buffered (0 otherwise).
        sequence_number: u32,
    },
    /// Transport error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl FrameError {
    /// Sequence number to echo in the generic_nack, when known.
    pub fn sequence_number(&self) -> u32 {
        match self {
            FrameError::TooShort {
                sequence_number, ..
            }
            | FrameError::TooLong {
                sequence_number, ..
            } => *sequence_number,
            FrameError::Io(_) => 0,
        }
    }

    /// True for framing violations (answered with generic_nack ESME_RINVCMDLEN, then closed).
    pub fn is_length_violation(&self) -> bool {
        !matches!(self, FrameError::Io(_))
    }
}

/// Codec that frames by command_length with a bound, and encodes rusmpp commands.
#[derive(Debug)]
pub struct SmppCodec {
    max_command_length: usize,
    encoder: CommandCodec,
}

impl SmppCodec {
    /// A codec that refuses PDUs longer than `max_command_length` octets.
    pub fn new(max_command_length: usize) -> Self {
        let max_command_length = max_command_length.max(HEADER_LEN);
        Self {
            max_command_length,
            encoder: CommandCodec::new().without_max_length(),
        }
    }

    /// The configured maximum command_length.
    pub fn max_command_length(&self) -> usize {
        self.max_command_length
    }
}

impl Default for SmppCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_COMMAND_LENGTH)
    }
}

impl Decoder for SmppCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let length = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        // Judge the length from its first four octets: waiting for a full header before refusing
        // a bad length would let a peer that sent "00 00 00 04" hang the session.
        let sequence_number = Header::peek(src).map_or(0, |h| h.sequence_number);
        if (length as usize) < HEADER_LEN {
            return Err(FrameError::TooShort {
                length,
                sequence_number,
            });
        }
        if length as usize > self.max_command_length {
            return Err(FrameError::TooLong {
                length,
                max: self.max_command_length,
                sequence_number,
            });
        }
        let length = length as usize;
        if src.len() < length {
            src.reserve(length - src.len());
            return Ok(None);
        }
        let bytes = src.split_to(length).freeze();
        let header = Header::peek(&bytes).expect("frame holds at least a header");
        Ok(Some(Frame { header, bytes }))
    }
}

impl Encoder<&Command> for SmppCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: &Command, dst: &mut BytesMut) -> Result<(), Self::Error> {
        self.encoder.encode(item, dst).map_err(|e| match e {
            rusmpp::tokio_codec::EncodeError::Io(e) => e,
            other => std::io::Error::other(other.to_string()),
        })
    }
}

impl Encoder<Command> for SmppCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Command, dst: &mut BytesMut) -> Result<(), Self::Error> {
        self.encode(&item, dst)
    }
}

/// Raw, pre-encoded PDU bytes (used for faults and for tests that send malformed PDUs).
#[derive(Debug, Clone)]
pub struct RawPdu(pub Bytes);

impl Encoder<RawPdu> for SmppCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: RawPdu, dst: &mut BytesMut) -> Result<(), Self::Error> {
        dst.extend_from_slice(&item.0);
        Ok(())
    }
}

/// Encodes one command to bytes (length prefix included).
pub fn encode_command(command: &Command) -> Bytes {
    let mut buf = BytesMut::new();
    // Encoding into a BytesMut cannot fail.
    let _ = SmppCodec::default().encode(command, &mut buf);
    buf.freeze()
}

/// Decodes exactly one PDU from `bytes` (length prefix included), as a peer would.
pub fn decode_one(bytes: &[u8]) -> Result<Command, DecodeOneError> {
    let mut buf = BytesMut::from(bytes);
    match SmppCodec::new(usize::MAX >> 1).decode(&mut buf)? {
        Some(frame) => Ok(frame.decode()?),
        None => Err(DecodeOneError::Incomplete),
    }
}

/// Error from [`decode_one`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeOneError {
    /// The bytes hold less than one whole PDU.
    #[error("incomplete PDU")]
    Incomplete,
    /// Framing failed.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The body failed to decode.
    #[error(transparent)]
    Body(#[from] BodyError),
}

/// True for the command ids this library decodes (SMPP 3.4 and 5.0, broadcast included).
pub fn is_known_command(id: CommandId) -> bool {
    !matches!(id, CommandId::Other(_))
}

/// Name of a command id, for messages and metrics (`submit_sm`, `0x00000123` when unknown).
pub fn command_name(raw_id: u32) -> String {
    let name = match CommandId::from(raw_id) {
        CommandId::GenericNack => "generic_nack",
        CommandId::BindReceiver => "bind_receiver",
        CommandId::BindReceiverResp => "bind_receiver_resp",
        CommandId::BindTransmitter => "bind_transmitter",
        CommandId::BindTransmitterResp => "bind_transmitter_resp",
        CommandId::QuerySm => "query_sm",
        CommandId::QuerySmResp => "query_sm_resp",
        CommandId::SubmitSm => "submit_sm",
        CommandId::SubmitSmResp => "submit_sm_resp",
        CommandId::DeliverSm => "deliver_sm",
        CommandId::DeliverSmResp => "deliver_sm_resp",
        CommandId::Unbind => "unbind",
        CommandId::UnbindResp => "unbind_resp",
        CommandId::ReplaceSm => "replace_sm",
        CommandId::ReplaceSmResp => "replace_sm_resp",
        CommandId::CancelSm => "cancel_sm",
        CommandId::CancelSmResp => "cancel_sm_resp",
        CommandId::BindTransceiver => "bind_transceiver",
        CommandId::BindTransceiverResp => "bind_transceiver_resp",
        CommandId::Outbind => "outbind",
        CommandId::EnquireLink => "enquire_link",
        CommandId::EnquireLinkResp => "enquire_link_resp",
        CommandId::SubmitMulti => "submit_multi",
        CommandId::SubmitMultiResp => "submit_multi_resp",
        CommandId::AlertNotification => "alert_notification",
        CommandId::DataSm => "data_sm",
        CommandId::DataSmResp => "data_sm_resp",
        CommandId::BroadcastSm => "broadcast_sm",
        CommandId::BroadcastSmResp => "broadcast_sm_resp",
        CommandId::QueryBroadcastSm => "query_broadcast_sm",
        CommandId::QueryBroadcastSmResp => "query_broadcast_sm_resp",
        CommandId::CancelBroadcastSm => "cancel_broadcast_sm",
        CommandId::CancelBroadcastSmResp => "cancel_broadcast_sm_resp",
        CommandId::Other(_) => return format!("0x{raw_id:08x}"),
    };
    name.to_string()
}

/// Walks rusmpp's verbose error chain down to the innermost field it names.
fn deepest_field(err: &rusmpp::decode::DecodeError) -> Option<SmppField> {
    let mut field = None;
    let mut cur = err;
    while let Some(source) = cur.source() {
        field = Some(source.field());
        cur = source.error();
    }
    field
}

/// Maps a body decode failure to the status the SMPP specification assigns to that field.
fn status_for_decode_error(
    id: CommandId,
    field: Option<SmppField>,
    kind: DecodeErrorKind,
) -> CommandStatus {
    use CommandStatus as S;
    use SmppField as F;
    match field {
        Some(F::source_addr | F::esme_addr) => S::EsmeRinvsrcadr,
        Some(F::source_addr_ton | F::esme_addr_ton) => S::EsmeRinvsrcton,
        Some(F::source_addr_npi | F::esme_addr_npi) => S::EsmeRinvsrcnpi,
        Some(F::destination_addr | F::dest_address | F::addr) => S::EsmeRinvdstadr,
        Some(F::dest_addr_ton | F::addr_ton) => S::EsmeRinvdstton,
        Some(F::dest_addr_npi | F::addr_npi) => S::EsmeRinvdstnpi,
        Some(F::short_message | F::sm_length | F::message_payload) => S::EsmeRinvmsglen,
        Some(F::system_id) => S::EsmeRinvsysid,
        Some(F::password) => S::EsmeRinvpaswd,
        Some(F::system_type) => S::EsmeRinvsystyp,
        Some(F::service_type) => S::EsmeRinvsertyp,
        Some(F::schedule_delivery_time) => S::EsmeRinvsched,
        Some(F::validity_period) => S::EsmeRinvexpiry,
        Some(F::message_id) => S::EsmeRinvmsgid,
        Some(F::esm_class) => S::EsmeRinvesmclass,
        Some(F::number_of_dests) => S::EsmeRinvnumdests,
        Some(F::dl_name) => S::EsmeRinvdlname,
        Some(F::priority_flag) => S::EsmeRinvprtflg,
        Some(F::registered_delivery) => S::EsmeRinvregdlvflg,
        Some(F::replace_if_present_flag) => S::EsmeRinvrepflag,
        Some(F::sm_default_msg_id) => S::EsmeRinvdftmsgid,
        Some(F::data_coding) => S::EsmeRinvdcs,
        // A TLV whose length runs past the body or disagrees with its type: ESME_RINVPARLEN
        // (0xC2, "invalid parameter length" in 3.4, ESME_RINVTLVLEN in 5.0).
        Some(F::value_length | F::value) => S::EsmeRinvtlvlen,
        Some(F::tlvs | F::tag) => S::EsmeRinvtlvstream,
        _ => match kind {
            DecodeErrorKind::UnexpectedEof => S::EsmeRinvcmdlen,
            _ if matches!(id, CommandId::Other(_)) => S::EsmeRinvcmdid,
            _ => S::EsmeRsyserr,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusmpp::Pdu;

    fn frames(bytes: &[u8], max: usize) -> (Vec<Frame>, Option<FrameError>) {
        let mut codec = SmppCodec::new(max);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => out.push(f),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn enquire_link_round_trips() {
        let cmd = Command::new(CommandStatus::EsmeRok, 7, Pdu::EnquireLink);
        let bytes = encode_command(&cmd);
        assert_eq!(bytes.len(), 16);
        let back = decode_one(&bytes).unwrap();
        assert_eq!(back, cmd);
    }

    #[test]
    fn partial_frame_waits_and_reserves() {
        let cmd = Command::new(CommandStatus::EsmeRok, 7, Pdu::EnquireLink);
        let bytes = encode_command(&cmd);
        let mut codec = SmppCodec::default();
        let mut buf = BytesMut::from(&bytes[..10]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&bytes[10..]);
        let frame = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.header.sequence_number, 7);
        assert!(buf.is_empty());
    }

    #[test]
    fn short_length_is_refused_from_four_octets() {
        let (f, err) = frames(&[0, 0, 0, 4], 1000);
        assert!(f.is_empty());
        assert!(matches!(err, Some(FrameError::TooShort { length: 4, .. })));
    }

    #[test]
    fn long_length_is_refused_before_buffering() {
        let mut pdu = vec![0, 0x10, 0, 0, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 9];
        pdu.truncate(16);
        let (_, err) = frames(&pdu, 65_536);
        match err {
            Some(FrameError::TooLong {
                length,
                max,
                sequence_number,
            }) => {
                assert_eq!(length, 0x0010_0000);
                assert_eq!(max, 65_536);
                assert_eq!(sequence_number, 9);
            }
            other => panic!("expected TooLong, got {other:?}"),
        }
    }

    #[test]
    fn unknown_command_id_is_rinvcmdid_and_stream_stays_in_sync() {
        let mut bytes = vec![0, 0, 0, 16, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 0, 0, 0, 3];
        bytes.extend_from_slice(&encode_command(&Command::new(
            CommandStatus::EsmeRok,
            4,
            Pdu::EnquireLink,
        )));
        let (f, err) = frames(&bytes, 1000);
        assert!(err.is_none());
        assert_eq!(f.len(), 2);
        let e = f[0].decode().unwrap_err();
        assert_eq!(e.status, CommandStatus::EsmeRinvcmdid);
        assert_eq!(e.header.sequence_number, 3);
        assert!(f[1].decode().is_ok());
    }

    #[test]
    fn over_long_source_addr_maps_to_rinvsrcadr() {
        // submit_sm body: service_type "", ton, npi, source_addr of 30 chars (max 21).
        let mut body = vec![0u8, 1, 1];
        body.extend_from_slice(&[b'1'; 30]);
        body.push(0);
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(b"447700900001\0");
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut pdu = Vec::new();
        pdu.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
        pdu.extend_from_slice(&4u32.to_be_bytes());
        pdu.extend_from_slice(&0u32.to_be_bytes());
        pdu.extend_from_slice(&11u32.to_be_bytes());
        pdu.extend_from_slice(&body);
        let err = decode_one(&pdu).unwrap_err();
        match err {
            DecodeOneError::Body(b) => {
                assert_eq!(b.status, CommandStatus::EsmeRinvsrcadr, "{b}");
                assert_eq!(b.header.sequence_number, 11);
            }
            other => panic!("expected body error, got {other}"),
        }
    }

    #[test]
    fn command_names() {
        assert_eq!(command_name(4), "submit_sm");
        assert_eq!(command_name(0x8000_0004), "submit_sm_resp");
        assert_eq!(command_name(0x1234), "0x00001234");
    }
}
