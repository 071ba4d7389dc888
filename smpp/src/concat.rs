//! Long messages both ways: splitting text into SMPP parts, and putting received parts back
//! together.
//!
//! Splitting ([`split`]) supports the three ways SMPP carries a long message: a concatenation
//! UDH in `short_message` with an 8- or 16-bit reference (esm_class UDHI), the `sar_*` TLVs,
//! or one `message_payload` TLV. Parts are cut on character boundaries, so a GSM escape
//! sequence or a UTF-16 surrogate pair is never split between two parts.
//!
//! Receiving: [`parse_udh`] reads the UDH of a `short_message`, and [`Reassembler`] collects
//! parts (from a UDH or from `sar_*` TLVs) under a key the caller chooses, bounded in the number
//! of pending messages and in time, with every dropped part counted. It works on octets, so a
//! sender that did split an escape or a surrogate pair still decodes correctly once joined.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::text::{Encoding, TextError, encode_char};

/// Information element identifier of the concatenation IE with an 8-bit reference.
pub const IEI_CONCAT_8: u8 = 0x00;
/// Information element identifier of the concatenation IE with a 16-bit reference.
pub const IEI_CONCAT_16: u8 = 0x08;
/// Most parts a concatenated message can have: the part counters are one octet.
pub const MAX_PARTS: usize = 255;
/// Most octets a `message_payload` TLV can carry: its length field is 16 bits.
pub const MAX_PAYLOAD: usize = u16::MAX as usize;

/// How a long message is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConcatMethod {
    /// Concatenation UDH with an 8-bit reference (IEI 0x00); only the low octet of the
    /// reference is sent.
    Udh8,
    /// Concatenation UDH with a 16-bit reference (IEI 0x08).
    Udh16,
    /// `sar_msg_ref_num`, `sar_total_segments` and `sar_segment_seqnum` TLVs.
    Sar,
    /// The whole message in one `message_payload` TLV.
    Payload,
}

/// Values for the `sar_*` TLVs of one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SarInfo {
    /// `sar_msg_ref_num`.
    pub reference: u16,
    /// `sar_total_segments`.
    pub total: u8,
    /// `sar_segment_seqnum`, 1-based.
    pub seq: u8,
}

/// One PDU's worth of a split message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Octets for `short_message` (UDH first when [`Part::udhi`] is set), or for the
    /// `message_payload` TLV when the method is [`ConcatMethod::Payload`].
    pub short_message: Vec<u8>,
    /// `short_message` starts with a UDH: the caller sets esm_class bit 0x40.
    pub udhi: bool,
    /// Set for [`ConcatMethod::Sar`] when there is more than one part: the caller adds the
    /// `sar_*` TLVs.
    pub sar: Option<SarInfo>,
}

/// A message split into parts, all sent with the same `data_coding`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The `data_coding` octet for every part.
    pub data_coding: u8,
    /// The method that was asked for; a message that fits one SMS is a single plain part
    /// whatever the method (except `Payload`, whose single part goes in `message_payload`).
    pub method: ConcatMethod,
    /// Parts in sequence order.
    pub parts: Vec<Part>,
}

/// Why a message could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("message needs {parts} parts; concatenation allows at most {MAX_PARTS}")]
    TooManyParts { parts: usize },
    #[error("message is {octets} octets; message_payload allows at most {MAX_PAYLOAD}")]
    PayloadTooLong { octets: usize },
}

/// Octets available per part, in the unpacked SMPP form: (single SMS, with an 8-bit
/// concatenation UDH, with a 16-bit one).
///
/// GSM7 and IA5 are 7-bit on the air, so a septet per octet here: 160, or 153 / 152 once
/// the 6 / 7 UDH octets (48 / 56 bits, i.e. 7 / 8 septets with fill) are taken out of 140
/// octets. Latin-1 and UCS-2 are 8-bit: 140, minus the UDH.
fn capacities(encoding: Encoding) -> (usize, usize, usize) {
    match encoding {
        Encoding::Gsm7 | Encoding::Ascii => (160, 153, 152),
        Encoding::Latin1 => (140, 134, 133),
        // Even, so that a part always holds whole UTF-16 code units: 70 / 67 / 66 units.
        Encoding::Ucs2 => (140, 134, 132),
    }
}

/// Encodes `text` and splits it into parts for `method`.
///
/// A message that fits one SMS (160 GSM septets, 140 octets, 70 UCS-2 units) is one part
/// without UDH or `sar_*`. Otherwise parts are filled greedily up to 153 septets / 134
/// octets / 67 UCS-2 units with an 8-bit reference, and 152 / 133 / 66 with a 16-bit one.
/// `Sar` uses the 16-bit limits because the SMSC builds the UDH and the reference is 16
/// bits. `Udh8` sends only the low octet of `reference`.
pub fn split(
    text: &str,
    encoding: Encoding,
    method: ConcatMethod,
    reference: u16,
) -> Result<Split, SplitError> {
    // Octets of the whole message, and the offset where each character's encoding starts:
    // parts are only cut at those offsets.
    let mut bytes = Vec::with_capacity(text.len() * 2);
    let mut char_starts = Vec::with_capacity(text.len());
    for (index, character) in text.chars().enumerate() {
        char_starts.push(bytes.len());
        if !encode_char(character, encoding, &mut bytes) {
            return Err(TextError::Unencodable {
                character,
                index,
                encoding,
            }
            .into());
        }
    }
    let data_coding = encoding.data_coding();
    let single = |short_message: Vec<u8>| Split {
        data_coding,
        method,
        parts: vec![Part {
            short_message,
            udhi: false,
            sar: None,
        }],
    };

    if method == ConcatMethod::Payload {
        if bytes.len() > MAX_PAYLOAD {
            return Err(SplitError::PayloadTooLong {
                octets: bytes.len(),
            });
        }
        return Ok(single(bytes));
    }
    let (single_cap, cap8, cap16) = capacities(encoding);
    if bytes.len() <= single_cap {
        return Ok(single(bytes));
    }
    let cap = if method == ConcatMethod::Udh8 {
        cap8
    } else {
        cap16
    };

    let mut ranges = Vec::new();
    let mut start = 0;
    let mut last_boundary = 0;
    for &boundary in char_starts.iter().chain(std::iter::once(&bytes.len())) {
        if boundary - start > cap {
            ranges.push(start..last_boundary);
            start = last_boundary;
        }
        last_boundary = boundary;
    }
    if start < bytes.len() {
        ranges.push(start..bytes.len());
    }
    let total = u8::try_from(ranges.len()).map_err(|_| SplitError::TooManyParts {
        parts: ranges.len(),
    })?;

    let parts = ranges
        .into_iter()
        .zip(1..=total)
        .map(|(range, seq)| {
            let body = &bytes[range];
            match method {
                ConcatMethod::Udh8 => {
                    let [_, low] = reference.to_be_bytes();
                    let mut sm = vec![0x05, IEI_CONCAT_8, 0x03, low, total, seq];
                    sm.extend_from_slice(body);
                    Part {
                        short_message: sm,
                        udhi: true,
                        sar: None,
                    }
                }
                ConcatMethod::Udh16 => {
                    let [high, low] = reference.to_be_bytes();
                    let mut sm = vec![0x06, IEI_CONCAT_16, 0x04, high, low, total, seq];
                    sm.extend_from_slice(body);
                    Part {
                        short_message: sm,
                        udhi: true,
                        sar: None,
                    }
                }
                ConcatMethod::Sar | ConcatMethod::Payload => Part {
                    short_message: body.to_vec(),
                    udhi: false,
                    sar: Some(SarInfo {
                        reference,
                        total,
                        seq,
                    }),
                },
            }
        })
        .collect();
    Ok(Split {
        data_coding,
        method,
        parts,
    })
}

/// The concatenation IE of a UDH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConcatInfo {
    /// Message reference (an 8-bit reference is widened).
    pub reference: u16,
    /// Number of parts, at least 1.
    pub total: u8,
    /// This part's number, 1..=total.
    pub seq: u8,
    /// The reference was 16-bit (IEI 0x08) rather than 8-bit (IEI 0x00).
    pub wide_reference: bool,
}

/// What a user data header says, as far as this crate cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Udh {
    /// The concatenation IE, if present.
    pub concat: Option<ConcatInfo>,
    /// Identifiers of the other IEs, which are skipped (port addressing, language shifts...).
    pub other_ieis: Vec<u8>,
    /// Length of the header in octets, UDHL included: what GSM7 fill bits are computed from.
    pub len: usize,
}

/// A UDH or a concatenated part that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConcatError {
    #[error("UDHI is set but short_message is empty")]
    Empty,
    #[error("UDH length {udhl} runs past the {available} octets that follow it")]
    HeaderOverrun { udhl: usize, available: usize },
    #[error("UDH information element at offset {offset} is truncated")]
    TruncatedElement { offset: usize },
    #[error("concatenation IE {iei:#04x} has length {len}, expected {expected}")]
    BadConcatLength {
        iei: u8,
        len: usize,
        expected: usize,
    },
    #[error("UDH has more than one concatenation IE")]
    DuplicateConcat,
    #[error("part {seq} of {total} is not a valid segment number")]
    BadSegment { seq: u8, total: u8 },
}

/// Reads the UDH at the start of `short_message` (sent with esm_class UDHI) and returns it
/// with the user data that follows.
pub fn parse_udh(short_message: &[u8]) -> Result<(Udh, &[u8]), ConcatError> {
    let (&udhl, rest) = short_message.split_first().ok_or(ConcatError::Empty)?;
    let udhl = usize::from(udhl);
    if udhl > rest.len() {
        return Err(ConcatError::HeaderOverrun {
            udhl,
            available: rest.len(),
        });
    }
    let (header, user_data) = rest.split_at(udhl);
    let mut udh = Udh {
        len: udhl + 1,
        ..Udh::default()
    };
    let mut offset = 0;
    while offset < header.len() {
        let (iei, len) = match header.get(offset..offset + 2) {
            Some(&[iei, len]) => (iei, usize::from(len)),
            _ => return Err(ConcatError::TruncatedElement { offset: offset + 1 }),
        };
        let value = header
            .get(offset + 2..offset + 2 + len)
            .ok_or(ConcatError::TruncatedElement { offset: offset + 1 })?;
        let concat = match (iei, value) {
            (IEI_CONCAT_8, &[reference, total, seq]) => Some(ConcatInfo {
                reference: u16::from(reference),
                total,
                seq,
                wide_reference: false,
            }),
            (IEI_CONCAT_16, &[high, low, total, seq]) => Some(ConcatInfo {
                reference: u16::from_be_bytes([high, low]),
                total,
                seq,
                wide_reference: true,
            }),
            (IEI_CONCAT_8 | IEI_CONCAT_16, _) => {
                return Err(ConcatError::BadConcatLength {
                    iei,
                    len,
                    expected: if iei == IEI_CONCAT_8 { 3 } else { 4 },
                });
            }
            _ => {
                udh.other_ieis.push(iei);
                None
            }
        };
        if let Some(info) = concat {
            if udh.concat.is_some() {
                return Err(ConcatError::DuplicateConcat);
            }
            check_segment(info.total, info.seq)?;
            udh.concat = Some(info);
        }
        offset += 2 + len;
    }
    Ok((udh, user_data))
}

fn check_segment(total: u8, seq: u8) -> Result<(), ConcatError> {
    if total == 0 || seq == 0 || seq > total {
        return Err(ConcatError::BadSegment { seq, total });
    }
    Ok(())
}

/// Counters of a [`Reassembler`]; every part that does not end up in a message is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReassemblyStats {
    /// Messages returned whole.
    pub completed: u64,
    /// Parts ignored because the same part of a pending message had already arrived.
    pub duplicates: u64,
    /// Pending messages dropped to make room (the oldest goes first).
    pub evicted_groups: u64,
    /// Parts held by those messages.
    pub evicted_parts: u64,
    /// Pending messages dropped by [`Reassembler::expire`].
    pub expired_groups: u64,
    /// Parts held by those messages.
    pub expired_parts: u64,
    /// Pending messages dropped because a part arrived under the same key with a different
    /// total: the reference was reused by a new message.
    pub replaced_groups: u64,
    /// Parts held by those messages.
    pub replaced_parts: u64,
}

#[derive(Debug)]
struct Group {
    parts: Vec<Option<Vec<u8>>>,
    received: usize,
    age_key: (Instant, u64),
}

/// Collects the parts of concatenated messages and hands back each whole payload once its
/// last part arrives, in sequence order whatever the arrival order.
///
/// Keys are the caller's, typically `(source, destination, reference)`. Memory is bounded:
/// at most `max_groups` messages are pending (the oldest is evicted to admit a new one), and
/// [`Reassembler::expire`] drops messages whose first part is `timeout` old. A duplicate of a
/// part that arrives after its message completed starts a new pending message, which then
/// expires; it cannot be told apart from a new message reusing the reference.
#[derive(Debug)]
pub struct Reassembler<K> {
    max_groups: usize,
    timeout: Duration,
    groups: HashMap<K, Group>,
    // Pending keys by (first-part arrival, insertion counter): oldest first.
    by_age: BTreeMap<(Instant, u64), K>,
    next_id: u64,
    stats: ReassemblyStats,
}

impl<K: Hash + Eq + Clone> Reassembler<K> {
    /// A reassembler holding at most `max_groups` pending messages (at least 1) for at most
    /// `timeout` each.
    pub fn new(max_groups: usize, timeout: Duration) -> Self {
        Self {
            max_groups: max_groups.max(1),
            timeout,
            groups: HashMap::new(),
            by_age: BTreeMap::new(),
            next_id: 0,
            stats: ReassemblyStats::default(),
        }
    }

    /// Adds part `seq` of `total` under `key`, received at `now`. Returns the joined payload
    /// when this part completes the message, `None` while parts are missing (or if it was a
    /// duplicate), and an error for an impossible segment number.
    pub fn push(
        &mut self,
        key: K,
        total: u8,
        seq: u8,
        data: &[u8],
        now: Instant,
    ) -> Result<Option<Vec<u8>>, ConcatError> {
        check_segment(total, seq)?;
        if total == 1 {
            self.stats.completed += 1;
            return Ok(Some(data.to_vec()));
        }
        let slot = usize::from(seq - 1);
        if let Some(group) = self.groups.get(&key)
            && group.parts.len() != usize::from(total)
        {
            let received = group.received;
            self.remove(&key);
            self.stats.replaced_groups += 1;
            self.stats.replaced_parts += received as u64;
        }
        if !self.groups.contains_key(&key) {
            if self.groups.len() >= self.max_groups
                && let Some((_, oldest)) = self.by_age.pop_first()
                && let Some(evicted) = self.groups.remove(&oldest)
            {
                self.stats.evicted_groups += 1;
                self.stats.evicted_parts += evicted.received as u64;
            }
            let age_key = (now, self.next_id);
            self.next_id += 1;
            self.by_age.insert(age_key, key.clone());
            self.groups.insert(
                key.clone(),
                Group {
                    parts: vec![None; usize::from(total)],
                    received: 0,
                    age_key,
                },
            );
        }
        let Some(group) = self.groups.get_mut(&key) else {
            return Ok(None);
        };
        if group.parts[slot].is_some() {
            self.stats.duplicates += 1;
            return Ok(None);
        }
        group.parts[slot] = Some(data.to_vec());
        group.received += 1;
        if group.received < group.parts.len() {
            return Ok(None);
        }
        let Some(group) = self.remove(&key) else {
            return Ok(None);
        };
        self.stats.completed += 1;
        Ok(Some(group.parts.into_iter().flatten().flatten().collect()))
    }

    /// Drops every pending message whose first part arrived `timeout` or more before `now`,
    /// and returns how many were dropped.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut dropped = 0;
        while let Some((&(started, _), _)) = self.by_age.first_key_value() {
            if now.saturating_duration_since(started) < self.timeout {
                break;
            }
            if let Some((_, key)) = self.by_age.pop_first()
                && let Some(group) = self.groups.remove(&key)
            {
                self.stats.expired_groups += 1;
                self.stats.expired_parts += group.received as u64;
                dropped += 1;
            }
        }
        dropped
    }

    /// Messages waiting for parts.
    pub fn pending(&self) -> usize {
        self.groups.len()
    }

    /// Counters since creation.
    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    fn remove(&mut self, key: &K) -> Option<Group> {
        let group = self.groups.remove(key)?;
        self.by_age.remove(&group.age_key);
        Some(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{decode, gsm7_septets};
    use proptest::prelude::*;

    fn gsm(n: usize) -> String {
        "a".repeat(n)
    }

    /// Puts a split message back together the way a receiver would, feeding parts in the
    /// given order, and decodes it.
    fn reassemble(split: &Split, order: &[usize]) -> String {
        let mut r = Reassembler::new(8, Duration::from_secs(60));
        let now = Instant::now();
        let mut whole = None;
        for &i in order {
            let part = &split.parts[i];
            let (total, seq, data) = if part.udhi {
                let (udh, data) = parse_udh(&part.short_message).unwrap();
                let c = udh.concat.unwrap();
                (c.total, c.seq, data)
            } else if let Some(sar) = part.sar {
                (sar.total, sar.seq, &part.short_message[..])
            } else {
                (1, 1, &part.short_message[..])
            };
            if let Some(bytes) = r.push(("src", "dst"), total, seq, data, now).unwrap() {
                assert!(whole.is_none(), "completed twice");
                whole = Some(bytes);
            }
        }
        assert_eq!(r.pending(), 0);
        decode(split.data_coding, &whole.expect("message completed"))
    }

    fn body_len(part: &Part) -> usize {
        if part.udhi {
            parse_udh(&part.short_message).unwrap().1.len()
        } else {
            part.short_message.len()
        }
    }

    #[test]
    fn fits_in_one_sms() {
        for method in [ConcatMethod::Udh8, ConcatMethod::Udh16, ConcatMethod::Sar] {
            let s = split(&gsm(160), Encoding::Gsm7, method, 7).unwrap();
            assert_eq!(s.parts.len(), 1);
            assert!(!s.parts[0].udhi);
            assert_eq!(s.parts[0].sar, None);
            assert_eq!(s.parts[0].short_message.len(), 160);
            assert_eq!(
                split(&"ж".repeat(70), Encoding::Ucs2, method, 7)
                    .unwrap()
                    .parts
                    .len(),
                1
            );
            assert_eq!(
                split(&"é".repeat(140), Encoding::Latin1, method, 7)
                    .unwrap()
                    .parts
                    .len(),
                1
            );
        }
        let empty = split("", Encoding::Gsm7, ConcatMethod::Udh8, 0).unwrap();
        assert_eq!(empty.parts.len(), 1);
        assert!(empty.parts[0].short_message.is_empty());
    }

    #[test]
    fn gsm7_limits() {
        let s = split(&gsm(161), Encoding::Gsm7, ConcatMethod::Udh8, 0x1234).unwrap();
        assert_eq!(s.data_coding, 0);
        let lens: Vec<_> = s.parts.iter().map(body_len).collect();
        assert_eq!(lens, vec![153, 8]);
        assert_eq!(
            &s.parts[0].short_message[..6],
            &[0x05, 0x00, 0x03, 0x34, 2, 1]
        );
        assert_eq!(
            &s.parts[1].short_message[..6],
            &[0x05, 0x00, 0x03, 0x34, 2, 2]
        );
        assert!(s.parts.iter().all(|p| p.udhi && p.sar.is_none()));

        let s = split(&gsm(161), Encoding::Gsm7, ConcatMethod::Udh16, 0x1234).unwrap();
        let lens: Vec<_> = s.parts.iter().map(body_len).collect();
        assert_eq!(lens, vec![152, 9]);
        assert_eq!(
            &s.parts[1].short_message[..7],
            &[0x06, 0x08, 0x04, 0x12, 0x34, 2, 2]
        );

        let s = split(&gsm(306), Encoding::Gsm7, ConcatMethod::Udh8, 1).unwrap();
        assert_eq!(s.parts.len(), 2);
        let s = split(&gsm(307), Encoding::Gsm7, ConcatMethod::Udh8, 1).unwrap();
        assert_eq!(s.parts.len(), 3);
    }

    #[test]
    fn escape_sequence_is_never_split() {
        // 152 septets then '€' (2 septets): the first part would end on the escape.
        let text = format!("{}€{}", gsm(152), gsm(20));
        let s = split(&text, Encoding::Gsm7, ConcatMethod::Udh8, 1).unwrap();
        let lens: Vec<_> = s.parts.iter().map(body_len).collect();
        assert_eq!(lens, vec![152, 22]);
        let (_, second) = parse_udh(&s.parts[1].short_message).unwrap();
        assert_eq!(&second[..2], &[0x1B, 0x65]);
        assert_eq!(
            decode(0, parse_udh(&s.parts[0].short_message).unwrap().1),
            gsm(152)
        );
        assert_eq!(reassemble(&s, &[1, 0]), text);
    }

    #[test]
    fn ucs2_limits_and_surrogates() {
        let s = split(&"ж".repeat(71), Encoding::Ucs2, ConcatMethod::Udh8, 1).unwrap();
        assert_eq!(s.data_coding, 8);
        let lens: Vec<_> = s.parts.iter().map(body_len).collect();
        assert_eq!(lens, vec![134, 8]);
        let s = split(&"ж".repeat(71), Encoding::Ucs2, ConcatMethod::Udh16, 1).unwrap();
        let lens: Vec<_> = s.parts.iter().map(body_len).collect();
        assert_eq!(lens, vec![132, 10]);

        // 66 units then an emoji (2 units): it would straddle the 67-unit boundary.
        let text = format!("{}😀{}", "ж".repeat(66), "ж".repeat(10));
        let s = split(&text, Encoding::Ucs2, ConcatMethod::Udh8, 1).unwrap();
        let lens: Vec<_> = s.parts.iter().map(body_len).collect();
        assert_eq!(lens, vec![132, 24]);
        for part in &s.parts {
            assert!(!decode(8, parse_udh(&part.short_message).unwrap().1).contains('\u{FFFD}'));
        }
        assert_eq!(reassemble(&s, &[1, 0]), text);
    }

    #[test]
    fn latin1_limits() {
        let s = split(&"é".repeat(141), Encoding::Latin1, ConcatMethod::Udh8, 1).unwrap();
        assert_eq!(s.data_coding, 3);
        assert_eq!(
            s.parts.iter().map(body_len).collect::<Vec<_>>(),
            vec![134, 7]
        );
        let s = split(&"é".repeat(141), Encoding::Latin1, ConcatMethod::Udh16, 1).unwrap();
        assert_eq!(
            s.parts.iter().map(body_len).collect::<Vec<_>>(),
            vec![133, 8]
        );
    }

    #[test]
    fn sar_parts_carry_tlv_values() {
        let s = split(&gsm(400), Encoding::Gsm7, ConcatMethod::Sar, 0xBEEF).unwrap();
        assert_eq!(s.parts.len(), 3);
        for (i, part) in s.parts.iter().enumerate() {
            assert!(!part.udhi);
            assert_eq!(
                part.sar,
                Some(SarInfo {
                    reference: 0xBEEF,
                    total: 3,
                    seq: i as u8 + 1
                })
            );
        }
        assert_eq!(s.parts[0].short_message.len(), 152);
    }

    #[test]
    fn payload_is_one_part_of_any_length() {
        let text = gsm(1000);
        let s = split(&text, Encoding::Gsm7, ConcatMethod::Payload, 0).unwrap();
        assert_eq!(s.parts.len(), 1);
        assert_eq!(s.parts[0].short_message.len(), 1000);
        assert!(!s.parts[0].udhi);
        assert!(matches!(
            split(&gsm(MAX_PAYLOAD + 1), Encoding::Gsm7, ConcatMethod::Payload, 0),
            Err(SplitError::PayloadTooLong { octets }) if octets == MAX_PAYLOAD + 1
        ));
    }

    #[test]
    fn split_errors() {
        assert!(matches!(
            split(&gsm(153 * 255 + 1), Encoding::Gsm7, ConcatMethod::Udh8, 0),
            Err(SplitError::TooManyParts { parts: 256 })
        ));
        assert_eq!(
            split(&gsm(153 * 255), Encoding::Gsm7, ConcatMethod::Udh8, 0)
                .unwrap()
                .parts
                .len(),
            255
        );
        let err = split("hi 😀", Encoding::Gsm7, ConcatMethod::Udh8, 0).unwrap_err();
        assert!(matches!(
            err,
            SplitError::Text(TextError::Unencodable { index: 3, .. })
        ));
    }

    #[test]
    fn round_trips_all_methods() {
        let long_gsm = format!("{}{}", "Code {123} [ok] ~|^ € \\ ".repeat(20), "end");
        assert!(gsm7_septets(&long_gsm).unwrap() > 400);
        let long_ucs2 = "Ваш код 😀 👍🏽 ".repeat(30);
        for method in [
            ConcatMethod::Udh8,
            ConcatMethod::Udh16,
            ConcatMethod::Sar,
            ConcatMethod::Payload,
        ] {
            for (text, encoding) in [
                (&long_gsm, Encoding::Gsm7),
                (&long_ucs2, Encoding::Ucs2),
                (&"Ünïcödé ".repeat(40), Encoding::Latin1),
                (&"plain ascii `x` ".repeat(20), Encoding::Ascii),
            ] {
                let s = split(text, encoding, method, 42).unwrap();
                let n = s.parts.len();
                let forward: Vec<_> = (0..n).collect();
                let reverse: Vec<_> = (0..n).rev().collect();
                let mut middle_out: Vec<_> = (0..n).skip(n / 2).collect();
                middle_out.extend(0..n / 2);
                for order in [forward, reverse, middle_out] {
                    assert_eq!(&reassemble(&s, &order), text, "{method:?} {encoding:?}");
                }
                for part in &s.parts {
                    assert!(method == ConcatMethod::Payload || part.short_message.len() <= 160);
                }
            }
        }
    }

    #[test]
    fn parse_udh_with_other_elements() {
        // National language single shift (0x24, len 1) before a 16-bit concat IE.
        let sm = [
            0x09, 0x24, 0x01, 0x02, 0x08, 0x04, 0xAB, 0xCD, 0x03, 0x02, b'h', b'i',
        ];
        let (udh, data) = parse_udh(&sm).unwrap();
        assert_eq!(
            udh.concat,
            Some(ConcatInfo {
                reference: 0xABCD,
                total: 3,
                seq: 2,
                wide_reference: true
            })
        );
        assert_eq!(udh.other_ieis, vec![0x24]);
        assert_eq!(udh.len, 10);
        assert_eq!(data, b"hi");

        let (udh, data) = parse_udh(&[0x05, 0x00, 0x03, 0x7F, 0x02, 0x01]).unwrap();
        assert_eq!(
            udh.concat.map(|c| (c.reference, c.wide_reference)),
            Some((0x7F, false))
        );
        assert!(data.is_empty());

        // A header with no concatenation IE (e.g. port addressing only).
        let (udh, data) = parse_udh(&[0x04, 0x04, 0x02, 0x0B, 0x84, 0x41]).unwrap();
        assert_eq!(udh.concat, None);
        assert_eq!(data, &[0x41]);
        let (udh, _) = parse_udh(&[0x00, 0x41]).unwrap();
        assert_eq!(
            udh,
            Udh {
                len: 1,
                ..Udh::default()
            }
        );
    }

    #[test]
    fn malformed_udh_is_an_error() {
        assert_eq!(parse_udh(&[]), Err(ConcatError::Empty));
        assert_eq!(
            parse_udh(&[0x05, 0x00, 0x03]),
            Err(ConcatError::HeaderOverrun {
                udhl: 5,
                available: 2
            })
        );
        assert_eq!(
            parse_udh(&[0x03, 0x00, 0x03, 0x01]),
            Err(ConcatError::TruncatedElement { offset: 1 })
        );
        assert_eq!(
            parse_udh(&[0x01, 0x00]),
            Err(ConcatError::TruncatedElement { offset: 1 })
        );
        assert_eq!(
            parse_udh(&[0x04, 0x00, 0x02, 0x01, 0x02]),
            Err(ConcatError::BadConcatLength {
                iei: 0,
                len: 2,
                expected: 3
            })
        );
        assert_eq!(
            parse_udh(&[0x05, 0x00, 0x03, 0x01, 0x02, 0x03]),
            Err(ConcatError::BadSegment { seq: 3, total: 2 })
        );
        assert_eq!(
            parse_udh(&[0x05, 0x00, 0x03, 0x01, 0x00, 0x00]),
            Err(ConcatError::BadSegment { seq: 0, total: 0 })
        );
        assert_eq!(
            parse_udh(&[
                0x0A, 0x00, 0x03, 0x01, 0x02, 0x01, 0x00, 0x03, 0x01, 0x02, 0x01
            ]),
            Err(ConcatError::DuplicateConcat)
        );
    }

    #[test]
    fn reassembler_orders_and_ignores_duplicates() {
        let mut r = Reassembler::new(4, Duration::from_secs(10));
        let t = Instant::now();
        assert_eq!(r.push(1, 3, 3, b"c", t).unwrap(), None);
        assert_eq!(r.push(1, 3, 1, b"a", t).unwrap(), None);
        assert_eq!(r.push(1, 3, 1, b"X", t).unwrap(), None);
        assert_eq!(r.pending(), 1);
        assert_eq!(r.push(1, 3, 2, b"b", t).unwrap(), Some(b"abc".to_vec()));
        assert_eq!(r.pending(), 0);
        assert_eq!(r.push(2, 1, 1, b"solo", t).unwrap(), Some(b"solo".to_vec()));
        let stats = r.stats();
        assert_eq!(stats.completed, 2);
        assert_eq!(stats.duplicates, 1);
        assert_eq!(
            r.push(3, 2, 3, b"x", t),
            Err(ConcatError::BadSegment { seq: 3, total: 2 })
        );
        assert_eq!(
            r.push(3, 0, 0, b"x", t),
            Err(ConcatError::BadSegment { seq: 0, total: 0 })
        );
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn reassembler_evicts_oldest_when_full() {
        let mut r = Reassembler::new(2, Duration::from_secs(10));
        let t = Instant::now();
        r.push("a", 2, 1, b"a1", t).unwrap();
        r.push("b", 3, 1, b"b1", t + Duration::from_secs(1))
            .unwrap();
        r.push("b", 3, 2, b"b2", t + Duration::from_secs(1))
            .unwrap();
        r.push("c", 2, 1, b"c1", t + Duration::from_secs(2))
            .unwrap();
        assert_eq!(r.pending(), 2);
        assert_eq!(r.stats().evicted_groups, 1);
        assert_eq!(r.stats().evicted_parts, 1);
        // "a" is gone: its second part starts a new message.
        assert_eq!(
            r.push("a", 2, 2, b"a2", t + Duration::from_secs(3))
                .unwrap(),
            None
        );
        assert_eq!(r.stats().evicted_groups, 2);
        assert_eq!(r.stats().evicted_parts, 3);
        assert_eq!(
            r.push("c", 2, 2, b"c2", t + Duration::from_secs(3))
                .unwrap(),
            Some(b"c1c2".to_vec())
        );
    }

    #[test]
    fn reassembler_expires_old_messages() {
        let mut r = Reassembler::new(10, Duration::from_secs(30));
        let t = Instant::now();
        r.push("old", 3, 1, b"x", t).unwrap();
        r.push("old", 3, 2, b"y", t).unwrap();
        r.push("new", 2, 1, b"z", t + Duration::from_secs(20))
            .unwrap();
        assert_eq!(r.expire(t + Duration::from_secs(29)), 0);
        assert_eq!(r.expire(t + Duration::from_secs(30)), 1);
        assert_eq!(r.pending(), 1);
        let stats = r.stats();
        assert_eq!((stats.expired_groups, stats.expired_parts), (1, 2));
        assert_eq!(
            r.push("new", 2, 2, b"!", t + Duration::from_secs(31))
                .unwrap(),
            Some(b"z!".to_vec())
        );
        assert_eq!(r.expire(t + Duration::from_secs(1000)), 0);
    }

    #[test]
    fn reassembler_replaces_a_reused_reference() {
        let mut r = Reassembler::new(10, Duration::from_secs(30));
        let t = Instant::now();
        r.push(7, 3, 1, b"old", t).unwrap();
        assert_eq!(r.push(7, 2, 2, b"B", t).unwrap(), None);
        assert_eq!(r.push(7, 2, 1, b"A", t).unwrap(), Some(b"AB".to_vec()));
        let stats = r.stats();
        assert_eq!((stats.replaced_groups, stats.replaced_parts), (1, 1));
        assert_eq!(r.pending(), 0);
    }

    fn shuffled(n: usize, seed: u64) -> Vec<usize> {
        // A small deterministic permutation, enough to vary the arrival order.
        let mut order: Vec<usize> = (0..n).collect();
        let mut state = seed | 1;
        for i in (1..n).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        order
    }

    fn method() -> impl Strategy<Value = ConcatMethod> {
        prop_oneof![
            Just(ConcatMethod::Udh8),
            Just(ConcatMethod::Udh16),
            Just(ConcatMethod::Sar),
            Just(ConcatMethod::Payload),
        ]
    }

    proptest! {
        #[test]
        fn parse_udh_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok((udh, data)) = parse_udh(&bytes) {
                prop_assert_eq!(udh.len + data.len(), bytes.len());
            }
        }

        #[test]
        fn unicode_round_trips(text in ".{0,400}", m in method(), seed in any::<u64>()) {
            let s = split(&text, Encoding::Ucs2, m, 9).unwrap();
            prop_assert_eq!(reassemble(&s, &shuffled(s.parts.len(), seed)), text);
        }

        #[test]
        fn gsm_round_trips(
            text in "[@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !#¤%&'()*+,./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\\\\\[~\\]|€\n\r]{0,600}",
            m in method(),
            seed in any::<u64>(),
        ) {
            let s = split(&text, Encoding::Gsm7, m, 300).unwrap();
            prop_assert_eq!(reassemble(&s, &shuffled(s.parts.len(), seed)), text);
        }
    }
}
