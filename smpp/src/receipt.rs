//! Delivery receipts: the `id:... stat:...` text in `short_message`, and the receipt TLVs.
//!
//! The carrier formats receipts in the profile a scenario asks for ([`ReceiptFormat`]), and the
//! ESME client parses whatever real SMSCs send ([`parse`]), which varies: upper-case keys,
//! `Text:`, no `sub`/`dlvrd`, 12-digit dates, hex / decimal / UUID ids. Mismatched receipt ids
//! are the most common bug in SMPP gateways, so the id is kept exactly as written.
//!
//! [`receipt_tlvs`] and [`from_tlvs`] cover `receipted_message_id`, `message_state` and
//! `network_error_code`, so a client can also match a receipt that carries TLVs only.

use std::fmt::{self, Write as _};

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rusmpp::encode::{Encode, Length};
use rusmpp::tlvs::{
    MessageDeliveryRequestTlvValue, MessageSubmissionRequestTlvValue, Tlv, TlvValue,
};
use rusmpp::types::{AnyOctetString, COctetString};
use rusmpp::values::{ErrorCodeNetworkType, MessageState, NetworkErrorCode};

/// Longest `receipted_message_id`, in characters (the TLV is a C-string of at most 65 octets).
pub const MAX_RECEIPTED_ID: usize = 64;

/// The state of a message as a receipt reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptState {
    Enroute,
    Delivered,
    Expired,
    Deleted,
    Undeliverable,
    Accepted,
    Unknown,
    Rejected,
    Scheduled,
    Skipped,
}

impl ReceiptState {
    /// Every state, in `message_state` order.
    pub const ALL: [ReceiptState; 10] = [
        ReceiptState::Scheduled,
        ReceiptState::Enroute,
        ReceiptState::Delivered,
        ReceiptState::Expired,
        ReceiptState::Deleted,
        ReceiptState::Undeliverable,
        ReceiptState::Accepted,
        ReceiptState::Unknown,
        ReceiptState::Rejected,
        ReceiptState::Skipped,
    ];

    /// The word written after `stat:` (SMPP 3.4 Appendix B, plus the SMPP 5.0 states).
    pub fn word(self) -> &'static str {
        match self {
            ReceiptState::Enroute => "ENROUTE",
            ReceiptState::Delivered => "DELIVRD",
            ReceiptState::Expired => "EXPIRED",
            ReceiptState::Deleted => "DELETED",
            ReceiptState::Undeliverable => "UNDELIV",
            ReceiptState::Accepted => "ACCEPTD",
            ReceiptState::Unknown => "UNKNOWN",
            ReceiptState::Rejected => "REJECTD",
            ReceiptState::Scheduled => "SCHEDULED",
            ReceiptState::Skipped => "SKIPPED",
        }
    }

    /// Reads a `stat:` word, case-insensitively; the spelled-out forms some SMSCs send
    /// (`DELIVERED`, `UNDELIVERABLE`, ...) are accepted too.
    pub fn from_word(word: &str) -> Option<Self> {
        const WORDS: [(&str, ReceiptState); 16] = [
            ("DELIVRD", ReceiptState::Delivered),
            ("DELIVERED", ReceiptState::Delivered),
            ("EXPIRED", ReceiptState::Expired),
            ("DELETED", ReceiptState::Deleted),
            ("UNDELIV", ReceiptState::Undeliverable),
            ("UNDELIVERABLE", ReceiptState::Undeliverable),
            ("UNDELIVERED", ReceiptState::Undeliverable),
            ("ACCEPTD", ReceiptState::Accepted),
            ("ACCEPTED", ReceiptState::Accepted),
            ("UNKNOWN", ReceiptState::Unknown),
            ("REJECTD", ReceiptState::Rejected),
            ("REJECTED", ReceiptState::Rejected),
            ("ENROUTE", ReceiptState::Enroute),
            ("SCHEDULED", ReceiptState::Scheduled),
            ("SKIPPED", ReceiptState::Skipped),
            ("SCHEDUL", ReceiptState::Scheduled),
        ];
        WORDS
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(word))
            .map(|(_, s)| *s)
    }

    /// The SMPP `message_state` value (SMPP 5.0 section 4.7.15: SCHEDULED is 0).
    pub fn message_state(self) -> MessageState {
        match self {
            ReceiptState::Scheduled => MessageState::Scheduled,
            ReceiptState::Enroute => MessageState::Enroute,
            ReceiptState::Delivered => MessageState::Delivered,
            ReceiptState::Expired => MessageState::Expired,
            ReceiptState::Deleted => MessageState::Deleted,
            ReceiptState::Undeliverable => MessageState::Undeliverable,
            ReceiptState::Accepted => MessageState::Accepted,
            ReceiptState::Unknown => MessageState::Unknown,
            ReceiptState::Rejected => MessageState::Rejected,
            ReceiptState::Skipped => MessageState::Skipped,
        }
    }

    /// The state for a `message_state` value; `None` for values the spec does not define.
    pub fn from_message_state(state: MessageState) -> Option<Self> {
        Some(match state {
            MessageState::Scheduled => ReceiptState::Scheduled,
            MessageState::Enroute => ReceiptState::Enroute,
            MessageState::Delivered => ReceiptState::Delivered,
            MessageState::Expired => ReceiptState::Expired,
            MessageState::Deleted => ReceiptState::Deleted,
            MessageState::Undeliverable => ReceiptState::Undeliverable,
            MessageState::Accepted => ReceiptState::Accepted,
            MessageState::Unknown => ReceiptState::Unknown,
            MessageState::Rejected => ReceiptState::Rejected,
            MessageState::Skipped => ReceiptState::Skipped,
            MessageState::Other(_) => return None,
        })
    }

    /// No further delivery attempts follow this state. ENROUTE and SCHEDULED are
    /// intermediate, and UNKNOWN may be either, so it is not treated as final.
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            ReceiptState::Enroute | ReceiptState::Scheduled | ReceiptState::Unknown
        )
    }
}

impl fmt::Display for ReceiptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl From<ReceiptState> for MessageState {
    fn from(state: ReceiptState) -> Self {
        state.message_state()
    }
}

/// A `YYMMDDhhmm` or `YYMMDDhhmmss` receipt date; which of the two it was is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReceiptDate {
    /// Two-digit year (2000 + `year`).
    pub year: u8,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    /// `Some` for the 12-digit form.
    pub second: Option<u8>,
}

impl ReceiptDate {
    /// Reads 10 or 12 ASCII digits, with each field in its range.
    pub fn parse(s: &str) -> Option<Self> {
        if !(s.len() == 10 || s.len() == 12) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let b = s.as_bytes();
        let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
        let date = Self {
            year: two(0),
            month: two(2),
            day: two(4),
            hour: two(6),
            minute: two(8),
            second: (b.len() == 12).then(|| two(10)),
        };
        let valid = (1..=12).contains(&date.month)
            && (1..=31).contains(&date.day)
            && date.hour <= 23
            && date.minute <= 59
            && date.second.is_none_or(|s| s <= 59);
        valid.then_some(date)
    }

    /// The date of `time`, which must be in 2000..=2099 to be written with two year digits.
    pub fn from_naive(time: NaiveDateTime, with_seconds: bool) -> Option<Self> {
        let year = u8::try_from(time.year().checked_sub(2000)?).ok()?;
        if year > 99 {
            return None;
        }
        // chrono's fields are within range, so the casts below cannot truncate.
        Some(Self {
            year,
            month: time.month() as u8,
            day: time.day() as u8,
            hour: time.hour() as u8,
            minute: time.minute() as u8,
            second: with_seconds.then_some(time.second().min(59) as u8),
        })
    }

    /// As a calendar time in 20YY; `None` for a day that does not exist (e.g. 30 Feb).
    pub fn to_naive(&self) -> Option<NaiveDateTime> {
        NaiveDate::from_ymd_opt(
            2000 + i32::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        )?
        .and_hms_opt(
            u32::from(self.hour),
            u32::from(self.minute),
            u32::from(self.second.unwrap_or(0)),
        )
    }

    fn write(&self, out: &mut String, with_seconds: bool) {
        let _ = write!(
            out,
            "{:02}{:02}{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute
        );
        if with_seconds {
            let _ = write!(out, "{:02}", self.second.unwrap_or(0));
        }
    }
}

impl fmt::Display for ReceiptDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(12);
        self.write(&mut s, self.second.is_some());
        f.write_str(&s)
    }
}

/// A delivery receipt as written in `short_message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The message id from submit_sm_resp, exactly as written (hex, decimal, UUID...).
    pub id: String,
    /// Number of messages originally submitted.
    pub sub: Option<u32>,
    /// Number of messages delivered.
    pub dlvrd: Option<u32>,
    pub submit_date: Option<ReceiptDate>,
    pub done_date: Option<ReceiptDate>,
    pub stat: ReceiptState,
    /// Network or SMSC error code, kept as text because SMSCs do not all send digits.
    pub err: Option<String>,
    /// The first characters of the original message.
    pub text: String,
}

impl Receipt {
    /// A receipt with the fields most SMSCs fill: `sub:001`, `dlvrd:001` if delivered else
    /// `000`, `err:000`, no dates, no text.
    pub fn new(id: impl Into<String>, stat: ReceiptState) -> Self {
        Self {
            id: id.into(),
            sub: Some(1),
            dlvrd: Some(u32::from(stat == ReceiptState::Delivered)),
            submit_date: None,
            done_date: None,
            stat,
            err: Some("000".to_owned()),
            text: String::new(),
        }
    }

    /// Sets `err` to a numeric code written with at least three digits.
    pub fn with_err_code(mut self, code: u32) -> Self {
        self.err = Some(format!("{code:03}"));
        self
    }
}

impl fmt::Display for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&ReceiptFormat::default().format(self))
    }
}

/// How a carrier writes receipt text. The default is the SMPP 3.4 Appendix B form:
/// `id:{id} sub:{sub:03} dlvrd:{dlvrd:03} submit date:{YYMMDDhhmm} done date:{YYMMDDhhmm}
/// stat:{STAT} err:{err} text:{first 20 chars}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReceiptFormat {
    /// `ID:`, `SUB:`, ..., `TEXT:`.
    pub upper_case_keys: bool,
    /// Write `sub:` and `dlvrd:` (when the receipt has them).
    pub sub_dlvrd: bool,
    /// `Text:` instead of `text:` (with lower-case keys).
    pub capitalized_text: bool,
    /// 12-digit `YYMMDDhhmmss` dates instead of `YYMMDDhhmm`.
    pub seconds_in_dates: bool,
    /// How many characters of the message text to copy.
    pub text_chars: usize,
}

impl Default for ReceiptFormat {
    fn default() -> Self {
        Self::STANDARD
    }
}

impl ReceiptFormat {
    /// The SMPP 3.4 Appendix B form.
    pub const STANDARD: ReceiptFormat = ReceiptFormat {
        upper_case_keys: false,
        sub_dlvrd: true,
        capitalized_text: false,
        seconds_in_dates: false,
        text_chars: 20,
    };

    /// Writes `receipt`. Optional fields that are `None` are left out, as are `sub` and
    /// `dlvrd` when [`ReceiptFormat::sub_dlvrd`] is off; `stat` and `text` are always
    /// written, `text:` last, since readers take it to the end of the message.
    pub fn format(&self, receipt: &Receipt) -> String {
        let mut out = String::with_capacity(160);
        let key = |out: &mut String, name: &str| {
            if !out.is_empty() {
                out.push(' ');
            }
            if self.upper_case_keys {
                out.push_str(&name.to_ascii_uppercase());
            } else {
                out.push_str(name);
            }
            out.push(':');
        };
        key(&mut out, "id");
        out.push_str(&receipt.id);
        if self.sub_dlvrd {
            if let Some(sub) = receipt.sub {
                key(&mut out, "sub");
                let _ = write!(out, "{sub:03}");
            }
            if let Some(dlvrd) = receipt.dlvrd {
                key(&mut out, "dlvrd");
                let _ = write!(out, "{dlvrd:03}");
            }
        }
        for (name, date) in [
            ("submit date", receipt.submit_date),
            ("done date", receipt.done_date),
        ] {
            if let Some(date) = date {
                key(&mut out, name);
                date.write(&mut out, self.seconds_in_dates);
            }
        }
        key(&mut out, "stat");
        out.push_str(receipt.stat.word());
        if let Some(err) = &receipt.err {
            key(&mut out, "err");
            out.push_str(err);
        }
        let text_key = if self.capitalized_text && !self.upper_case_keys {
            "Text"
        } else {
            "text"
        };
        key(&mut out, text_key);
        out.extend(receipt.text.chars().take(self.text_chars));
        out
    }
}

/// Why receipt text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptParseError {
    #[error("receipt has no `{field}` field")]
    Missing { field: &'static str },
    #[error("receipt field `{field}` is empty")]
    Empty { field: &'static str },
    #[error("bad date in `{field}`: {value:?} (expected YYMMDDhhmm or YYMMDDhhmmss)")]
    BadDate { field: &'static str, value: String },
    #[error("bad number in `{field}`: {value:?}")]
    BadNumber { field: &'static str, value: String },
    #[error("unknown state in `stat`: {value:?}")]
    UnknownState { value: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Sub,
    Dlvrd,
    SubmitDate,
    DoneDate,
    Stat,
    Err,
    Text,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Sub => "sub",
            Field::Dlvrd => "dlvrd",
            Field::SubmitDate => "submit date",
            Field::DoneDate => "done date",
            Field::Stat => "stat",
            Field::Err => "err",
            Field::Text => "text",
        }
    }
}

/// `s` without its case-insensitive ASCII prefix `prefix`.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// The field whose key (with its colon) starts `s`, and what follows the colon.
fn match_key(s: &str) -> Option<(Field, &str)> {
    const SIMPLE: [(&str, Field); 6] = [
        ("id:", Field::Id),
        ("sub:", Field::Sub),
        ("dlvrd:", Field::Dlvrd),
        ("stat:", Field::Stat),
        ("err:", Field::Err),
        ("text:", Field::Text),
    ];
    for (key, field) in SIMPLE {
        if let Some(rest) = strip_prefix_ci(s, key) {
            return Some((field, rest));
        }
    }
    // Two-word keys: `submit date:`, also seen as `submit_date:` or with extra spaces.
    for (word, field) in [("submit", Field::SubmitDate), ("done", Field::DoneDate)] {
        if let Some(rest) = strip_prefix_ci(s, word) {
            let rest = rest.trim_start_matches([' ', '_']);
            if let Some(rest) = strip_prefix_ci(rest, "date:") {
                return Some((field, rest));
            }
        }
    }
    None
}

/// Splits `s` into its first whitespace-free token and the rest.
fn token(s: &str) -> (&str, &str) {
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    s.split_at(end)
}

/// Parses receipt text. Keys are case-insensitive and may come in any order; `sub`, `dlvrd`,
/// the dates, `err` and `text` may be missing. `text:` runs to the end of the message (it may
/// hold spaces and colons). Unknown `key:value` tokens are skipped; if a key appears twice
/// the first one counts.
pub fn parse(text: &str) -> Result<Receipt, ReceiptParseError> {
    let mut values: [Option<&str>; 8] = [None; 8];
    let slot = |field: Field| field as usize;
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let Some((field, after)) = match_key(rest) else {
            rest = token(rest).1;
            continue;
        };
        if field == Field::Text {
            values[slot(field)].get_or_insert(after.trim_end_matches('\0'));
            break;
        }
        // A value normally follows the colon directly; `key: value` is accepted unless
        // what follows the space is the next key.
        let (mut value, mut remaining) = token(after);
        if value.is_empty() {
            let next = after.trim_start();
            if !next.is_empty() && match_key(next).is_none() {
                (value, remaining) = token(next);
            }
        }
        values[slot(field)].get_or_insert(value);
        rest = remaining;
    }

    let get = |field: Field| values[slot(field)].filter(|v| !v.is_empty());
    let id = match values[slot(Field::Id)] {
        None => return Err(ReceiptParseError::Missing { field: "id" }),
        Some("") => return Err(ReceiptParseError::Empty { field: "id" }),
        Some(id) => id.to_owned(),
    };
    let stat = match values[slot(Field::Stat)] {
        None => return Err(ReceiptParseError::Missing { field: "stat" }),
        Some("") => return Err(ReceiptParseError::Empty { field: "stat" }),
        Some(word) => {
            ReceiptState::from_word(word).ok_or_else(|| ReceiptParseError::UnknownState {
                value: word.to_owned(),
            })?
        }
    };
    let number = |field: Field| {
        get(field)
            .map(|v| {
                v.parse::<u32>().map_err(|_| ReceiptParseError::BadNumber {
                    field: field.name(),
                    value: v.to_owned(),
                })
            })
            .transpose()
    };
    let date = |field: Field| {
        get(field)
            .map(|v| {
                ReceiptDate::parse(v).ok_or_else(|| ReceiptParseError::BadDate {
                    field: field.name(),
                    value: v.to_owned(),
                })
            })
            .transpose()
    };
    Ok(Receipt {
        id,
        sub: number(Field::Sub)?,
        dlvrd: number(Field::Dlvrd)?,
        submit_date: date(Field::SubmitDate)?,
        done_date: date(Field::DoneDate)?,
        stat,
        err: get(Field::Err).map(str::to_owned),
        text: values[slot(Field::Text)].unwrap_or("").to_owned(),
    })
}

/// A `network_error_code` TLV value: the network type (3 = GSM, 7 = SMPP error, ...) and
/// the code in that network's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetworkError {
    pub network_type: u8,
    pub error_code: u16,
}

impl NetworkError {
    /// A GSM (MAP) error, network type 3.
    pub const fn gsm(error_code: u16) -> Self {
        Self {
            network_type: 3,
            error_code,
        }
    }

    /// An SMPP error, network type 7.
    pub const fn smpp(error_code: u16) -> Self {
        Self {
            network_type: 7,
            error_code,
        }
    }
}

impl From<NetworkError> for NetworkErrorCode {
    fn from(e: NetworkError) -> Self {
        NetworkErrorCode::new(ErrorCodeNetworkType::from(e.network_type), e.error_code)
    }
}

impl From<&NetworkErrorCode> for NetworkError {
    fn from(e: &NetworkErrorCode) -> Self {
        Self {
            network_type: u8::from(e.network_type),
            error_code: e.error_code,
        }
    }
}

/// A message id that cannot go in `receipted_message_id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptTlvError {
    #[error("receipted_message_id {id:?} is {len} characters; at most {MAX_RECEIPTED_ID}")]
    IdTooLong { id: String, len: usize },
    #[error("receipted_message_id {id:?} must be ASCII without NUL")]
    IdNotAscii { id: String },
}

fn receipted_id(id: &str) -> Result<COctetString<1, 65>, ReceiptTlvError> {
    if !id.is_ascii() || id.contains('\0') {
        return Err(ReceiptTlvError::IdNotAscii { id: id.to_owned() });
    }
    if id.len() > MAX_RECEIPTED_ID {
        return Err(ReceiptTlvError::IdTooLong {
            id: id.to_owned(),
            len: id.len(),
        });
    }
    // Checked above: ASCII, no NUL, short enough, which is all COctetString requires.
    COctetString::from_string(id.to_owned())
        .map_err(|_| ReceiptTlvError::IdNotAscii { id: id.to_owned() })
}

/// The receipt TLVs: `receipted_message_id`, `message_state` and, when given,
/// `network_error_code`.
pub fn receipt_tlvs(
    id: &str,
    state: ReceiptState,
    network_error: Option<NetworkError>,
) -> Result<Vec<TlvValue>, ReceiptTlvError> {
    let mut tlvs = vec![
        TlvValue::ReceiptedMessageId(receipted_id(id)?),
        TlvValue::MessageState(state.message_state()),
    ];
    if let Some(e) = network_error {
        tlvs.push(TlvValue::NetworkErrorCode(e.into()));
    }
    Ok(tlvs)
}

/// [`receipt_tlvs`] in the type `DeliverSm::builder().tlvs(...)` takes.
pub fn deliver_sm_receipt_tlvs(
    id: &str,
    state: ReceiptState,
    network_error: Option<NetworkError>,
) -> Result<Vec<MessageDeliveryRequestTlvValue>, ReceiptTlvError> {
    let mut tlvs = vec![
        MessageDeliveryRequestTlvValue::ReceiptedMessageId(receipted_id(id)?),
        MessageDeliveryRequestTlvValue::MessageState(state.message_state()),
    ];
    if let Some(e) = network_error {
        tlvs.push(MessageDeliveryRequestTlvValue::NetworkErrorCode(e.into()));
    }
    Ok(tlvs)
}

/// [`receipt_tlvs`] in the type `DataSm::builder().tlvs(...)` takes.
///
/// rusmpp 0.4 gives data_sm no typed receipt TLVs, so they are passed as raw tag + value;
/// on the wire they are the same TLVs, and a peer decodes them as the typed ones.
pub fn data_sm_receipt_tlvs(
    id: &str,
    state: ReceiptState,
    network_error: Option<NetworkError>,
) -> Result<Vec<MessageSubmissionRequestTlvValue>, ReceiptTlvError> {
    Ok(receipt_tlvs(id, state, network_error)?
        .into_iter()
        .map(|value| {
            let mut bytes = vec![0u8; value.length()];
            let written = value.encode(&mut bytes);
            bytes.truncate(written);
            MessageSubmissionRequestTlvValue::Other {
                tag: value.tag(),
                value: AnyOctetString::from_vec(bytes),
            }
        })
        .collect())
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
    let mut out = ReceiptTlvs::default();
    for value in tlvs.iter().filter_map(Tlv::value) {
        match value {
            TlvValue::ReceiptedMessageId(id) if out.message_id.is_none() => {
                out.message_id = Some(id.as_str().to_owned());
            }
            TlvValue::MessageState(state) if out.state.is_none() => {
                out.state = ReceiptState::from_message_state(*state);
            }
            TlvValue::NetworkErrorCode(code) if out.network_error.is_none() => {
                out.network_error = Some(code.into());
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode_one, encode_command};
    use proptest::prelude::*;
    use rusmpp::pdus::{DataSm, DeliverSm};
    use rusmpp::values::EsmClass;
    use rusmpp::{Command, CommandStatus, Pdu};

    fn date(s: &str) -> ReceiptDate {
        ReceiptDate::parse(s).unwrap()
    }

    fn sample() -> Receipt {
        Receipt {
            id: "0123ABCD".to_owned(),
            sub: Some(1),
            dlvrd: Some(1),
            submit_date: Some(date("2611221530")),
            done_date: Some(date("2611221531")),
            stat: ReceiptState::Delivered,
            err: Some("000".to_owned()),
            text: "Your code is 123456".to_owned(),
        }
    }

    #[test]
    fn standard_format() {
        assert_eq!(
            sample().to_string(),
            "id:0123ABCD sub:001 dlvrd:001 submit date:2611221530 done date:2611221531 \
             stat:DELIVRD err:000 text:Your code is 123456"
        );
        let mut long = sample();
        long.text = "This text is longer than twenty characters".to_owned();
        assert!(long.to_string().ends_with("text:This text is longer "));
        assert_eq!(
            Receipt::new("42", ReceiptState::Undeliverable)
                .with_err_code(1)
                .to_string(),
            "id:42 sub:001 dlvrd:000 stat:UNDELIV err:001 text:"
        );
    }

    #[test]
    fn format_variants() {
        let r = sample();
        let upper = ReceiptFormat {
            upper_case_keys: true,
            ..ReceiptFormat::STANDARD
        };
        assert_eq!(
            upper.format(&r),
            "ID:0123ABCD SUB:001 DLVRD:001 SUBMIT DATE:2611221530 DONE DATE:2611221531 \
             STAT:DELIVRD ERR:000 TEXT:Your code is 123456"
        );
        let no_counts = ReceiptFormat {
            sub_dlvrd: false,
            capitalized_text: true,
            ..ReceiptFormat::STANDARD
        };
        assert_eq!(
            no_counts.format(&r),
            "id:0123ABCD submit date:2611221530 done date:2611221531 stat:DELIVRD err:000 \
             Text:Your code is 123456"
        );
        let seconds = ReceiptFormat {
            seconds_in_dates: true,
            ..ReceiptFormat::STANDARD
        };
        assert!(
            seconds
                .format(&r)
                .contains("submit date:261122153000 done date:261122153100")
        );
    }

    #[test]
    fn every_format_variant_round_trips() {
        let mut with_seconds = sample();
        with_seconds.submit_date = Some(date("261122153007"));
        with_seconds.done_date = Some(date("261122153159"));
        for upper_case_keys in [false, true] {
            for sub_dlvrd in [false, true] {
                for capitalized_text in [false, true] {
                    for seconds_in_dates in [false, true] {
                        let format = ReceiptFormat {
                            upper_case_keys,
                            sub_dlvrd,
                            capitalized_text,
                            seconds_in_dates,
                            text_chars: 20,
                        };
                        let mut expected = if seconds_in_dates {
                            with_seconds.clone()
                        } else {
                            sample()
                        };
                        if !sub_dlvrd {
                            expected.sub = None;
                            expected.dlvrd = None;
                        }
                        let text = format.format(&expected);
                        assert_eq!(parse(&text), Ok(expected), "{format:?}: {text}");
                    }
                }
            }
        }
        for stat in ReceiptState::ALL {
            let r = Receipt::new("c5d2e9f0-1b2a-4c3d-8e4f-5a6b7c8d9e0f", stat);
            assert_eq!(parse(&r.to_string()), Ok(r));
        }
    }

    #[test]
    fn real_world_variants() {
        let r = parse(
            "id:0123ABCD sub:001 dlvrd:001 submit date:2611221530 done date:2611221530 \
             stat:DELIVRD err:000 Text:Your code is 123456",
        )
        .unwrap();
        assert_eq!(r.id, "0123ABCD");
        assert_eq!(r.stat, ReceiptState::Delivered);
        assert_eq!(r.text, "Your code is 123456");
        assert_eq!(r.done_date, Some(date("2611221530")));

        let r = parse("id:c5d2e9f0-8a1b-4c2d-9e3f-0a1b2c3d4e5f stat:UNDELIV err:001").unwrap();
        assert_eq!(r.id, "c5d2e9f0-8a1b-4c2d-9e3f-0a1b2c3d4e5f");
        assert_eq!(r.stat, ReceiptState::Undeliverable);
        assert_eq!(r.err.as_deref(), Some("001"));
        assert_eq!((r.sub, r.dlvrd, r.submit_date), (None, None, None));
        assert_eq!(r.text, "");

        let r = parse(
            "ID:1234567890 SUB:001 DLVRD:000 SUBMIT DATE:2601011200 DONE DATE:2601011201 \
             STAT:EXPIRED ERR:027 TEXT:",
        )
        .unwrap();
        assert_eq!(r.id, "1234567890");
        assert_eq!(r.stat, ReceiptState::Expired);
        assert_eq!(r.dlvrd, Some(0));

        // Any order, 12-digit dates, underscores, text with colons and spaces.
        let r =
            parse("stat:delivrd done_date:260102030405 id:ff00 text:code: 12 34 id:nope stat:X")
                .unwrap();
        assert_eq!(r.id, "ff00");
        assert_eq!(r.stat, ReceiptState::Delivered);
        assert_eq!(r.done_date, Some(date("260102030405")));
        assert_eq!(r.done_date.unwrap().second, Some(5));
        assert_eq!(r.text, "code: 12 34 id:nope stat:X");

        // Unknown fields are skipped; a space after the colon is tolerated.
        let r = parse("id: 77 smsc:alpha stat: ACCEPTD err:").unwrap();
        assert_eq!(r.id, "77");
        assert_eq!(r.stat, ReceiptState::Accepted);
        assert_eq!(r.err, None);

        // First occurrence wins.
        assert_eq!(parse("id:1 id:2 stat:DELIVRD").unwrap().id, "1");
    }

    #[test]
    fn parse_errors_name_the_problem() {
        assert_eq!(
            parse("sub:001 stat:DELIVRD"),
            Err(ReceiptParseError::Missing { field: "id" })
        );
        assert_eq!(
            parse("id:1 sub:001"),
            Err(ReceiptParseError::Missing { field: "stat" })
        );
        assert_eq!(
            parse("id: stat:DELIVRD"),
            Err(ReceiptParseError::Empty { field: "id" })
        );
        let err = parse("id:1 stat:DELIVRD done date:2613011530").unwrap_err();
        assert_eq!(
            err,
            ReceiptParseError::BadDate {
                field: "done date",
                value: "2613011530".to_owned()
            }
        );
        assert!(err.to_string().contains("done date"), "{err}");
        assert!(matches!(
            parse("id:1 stat:DELIVRD submit date:26112215"),
            Err(ReceiptParseError::BadDate {
                field: "submit date",
                ..
            })
        ));
        assert!(matches!(
            parse("id:1 sub:x01 stat:DELIVRD"),
            Err(ReceiptParseError::BadNumber { field: "sub", .. })
        ));
        assert_eq!(
            parse("id:1 stat:LOST"),
            Err(ReceiptParseError::UnknownState {
                value: "LOST".to_owned()
            })
        );
        assert_eq!(parse(""), Err(ReceiptParseError::Missing { field: "id" }));
    }

    #[test]
    fn dates() {
        let d = date("2611221530");
        assert_eq!(d.second, None);
        assert_eq!(d.to_string(), "2611221530");
        assert_eq!(date("261122153045").to_string(), "261122153045");
        let naive = d.to_naive().unwrap();
        assert_eq!(naive.to_string(), "2026-11-22 15:30:00");
        assert_eq!(ReceiptDate::from_naive(naive, false), Some(d));
        assert_eq!(ReceiptDate::parse("2602300000").unwrap().to_naive(), None);
        for bad in [
            "",
            "26112215301",
            "2611221560",
            "2600221530",
            "26112a1530",
            "２６１１２２１５３０",
        ] {
            assert_eq!(ReceiptDate::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn states() {
        for (value, state) in ReceiptState::ALL.into_iter().enumerate() {
            assert_eq!(u8::from(state.message_state()), value as u8);
            assert_eq!(ReceiptState::from_message_state(state.into()), Some(state));
            assert_eq!(ReceiptState::from_word(state.word()), Some(state));
            assert_eq!(
                ReceiptState::from_word(&state.word().to_lowercase()),
                Some(state)
            );
        }
        for state in ReceiptState::ALL {
            if !matches!(state, ReceiptState::Scheduled | ReceiptState::Skipped) {
                assert_eq!(state.word().len(), 7, "{state:?}");
            }
        }
        assert_eq!(
            ReceiptState::from_message_state(MessageState::Other(42)),
            None
        );
        assert!(ReceiptState::Delivered.is_final());
        assert!(ReceiptState::Rejected.is_final());
        assert!(!ReceiptState::Enroute.is_final());
        assert!(!ReceiptState::Unknown.is_final());
    }

    fn pdu_tlvs(command: &Command) -> Vec<Tlv> {
        let decoded = decode_one(&encode_command(command)).unwrap();
        match decoded.pdu() {
            Some(Pdu::DeliverSm(p)) => p.tlvs().to_vec(),
            Some(Pdu::DataSm(p)) => p.tlvs().to_vec(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn tlvs_round_trip_through_deliver_sm_and_data_sm() {
        let expected = ReceiptTlvs {
            message_id: Some("c5d2e9f0-8a1b-4c2d-9e3f-0a1b2c3d4e5f".to_owned()),
            state: Some(ReceiptState::Undeliverable),
            network_error: Some(NetworkError::gsm(27)),
        };
        let id = expected.message_id.as_deref().unwrap();

        let values =
            receipt_tlvs(id, ReceiptState::Undeliverable, Some(NetworkError::gsm(27))).unwrap();
        let tlvs: Vec<Tlv> = values.into_iter().map(Tlv::from).collect();
        assert_eq!(from_tlvs(&tlvs), expected);

        let deliver = DeliverSm::builder()
            .esm_class(EsmClass::from(0x04))
            .tlvs(
                deliver_sm_receipt_tlvs(
                    id,
                    ReceiptState::Undeliverable,
                    Some(NetworkError::gsm(27)),
                )
                .unwrap(),
            )
            .build();
        let tlvs = pdu_tlvs(&Command::new(CommandStatus::EsmeRok, 1, deliver));
        assert_eq!(from_tlvs(&tlvs), expected);

        let data = DataSm::builder()
            .esm_class(EsmClass::from(0x04))
            .tlvs(
                data_sm_receipt_tlvs(id, ReceiptState::Undeliverable, Some(NetworkError::gsm(27)))
                    .unwrap(),
            )
            .build();
        let tlvs = pdu_tlvs(&Command::new(CommandStatus::EsmeRok, 2, data));
        assert_eq!(from_tlvs(&tlvs), expected);

        let without_error = receipt_tlvs("99", ReceiptState::Delivered, None).unwrap();
        assert_eq!(without_error.len(), 2);
        let parsed = from_tlvs(&without_error.into_iter().map(Tlv::from).collect::<Vec<_>>());
        assert!(parsed.is_receipt());
        assert_eq!(parsed.network_error, None);
        assert!(!from_tlvs(&[]).is_receipt());
    }

    #[test]
    fn tlv_id_must_fit() {
        assert!(matches!(
            receipt_tlvs(&"a".repeat(65), ReceiptState::Delivered, None),
            Err(ReceiptTlvError::IdTooLong { len: 65, .. })
        ));
        assert!(receipt_tlvs(&"a".repeat(64), ReceiptState::Delivered, None).is_ok());
        assert!(matches!(
            receipt_tlvs("idé", ReceiptState::Delivered, None),
            Err(ReceiptTlvError::IdNotAscii { .. })
        ));
        assert!(matches!(
            receipt_tlvs("a\0b", ReceiptState::Delivered, None),
            Err(ReceiptTlvError::IdNotAscii { .. })
        ));
        assert_eq!(
            NetworkError::from(&NetworkErrorCode::from(NetworkError::smpp(0x45))),
            NetworkError::smpp(0x45)
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in any::<String>()) {
            let _ = parse(&text);
        }

        #[test]
        fn parse_never_panics_on_receipt_like_text(
            text in "((id|sub|dlvrd|submit date|done date|stat|err|text|ID|Text|é)[:]?[ 0-9a-fA-Fé:]{0,14} ?){0,12}"
        ) {
            let _ = parse(&text);
        }

        #[test]
        fn parse_never_panics_on_lossy_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn formatted_receipts_parse_back(
            id in "[0-9A-Za-z-]{1,64}",
            sub in proptest::option::of(0u32..1000),
            dlvrd in proptest::option::of(0u32..1000),
            state in proptest::sample::select(ReceiptState::ALL.to_vec()),
            err in proptest::option::of("[0-9A-Z]{1,3}"),
            text in "[^\\x00]{0,20}",
            upper in any::<bool>(),
        ) {
            let r = Receipt {
                id, sub, dlvrd,
                submit_date: Some(ReceiptDate::parse("2512312359").unwrap()),
                done_date: None,
                stat: state,
                err,
                text,
            };
            let format = ReceiptFormat { upper_case_keys: upper, ..ReceiptFormat::STANDARD };
            prop_assert_eq!(parse(&format.format(&r)), Ok(r));
        }
    }
}
