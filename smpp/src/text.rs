//! SMS text codecs: what the octets of `short_message` / `message_payload` mean for each
//! `data_coding`, and how to produce them.
//!
//! - GSM 03.38 (3GPP TS 23.038) default alphabet with its extension table, in the SMPP
//!   "unpacked" form (one septet per octet), which is what `data_coding` 0 carries in SMPP.
//!   [`pack_septets`] / [`unpack_septets`] convert to and from the packed air-interface form,
//!   including the fill bits that align septets after a UDH.
//! - IA5/ASCII (`data_coding` 1; node-smpp sends it for plain ASCII), Latin-1 (3),
//!   UCS-2 big-endian (8, with UTF-16 surrogate pairs for characters outside the BMP), and
//!   binary (2, 4 and the 8-bit coding groups), rendered as hex for display.
//!
//! [`decode`] never fails and never panics: it is fed whatever a peer sent, so anything it
//! cannot interpret becomes U+FFFD (or hex, for data it does not know how to read as text).

use std::fmt;

/// The escape septet that selects the extension table for the next septet.
pub const GSM7_ESCAPE: u8 = 0x1B;

/// GSM 03.38 default alphabet, indexed by septet. 0x1B is the escape and never decodes alone.
const GSM7_BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// GSM 03.38 extension table: (septet after the escape, character).
const GSM7_EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// An alphabet we can encode text into, with its SMPP `data_coding` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GSM 03.38 default alphabet + extension table, unpacked (`data_coding` 0x00).
    Gsm7,
    /// ISO-8859-1 (`data_coding` 0x03).
    Latin1,
    /// IA5 / US-ASCII (`data_coding` 0x01).
    Ascii,
    /// UCS-2 big-endian, with UTF-16 surrogate pairs beyond the BMP (`data_coding` 0x08).
    Ucs2,
}

impl Encoding {
    /// The SMPP `data_coding` octet announcing this encoding.
    pub fn data_coding(self) -> u8 {
        match self {
            Encoding::Gsm7 => 0x00,
            Encoding::Ascii => 0x01,
            Encoding::Latin1 => 0x03,
            Encoding::Ucs2 => 0x08,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Gsm7 => "GSM 03.38",
            Encoding::Latin1 => "Latin-1",
            Encoding::Ascii => "ASCII",
            Encoding::Ucs2 => "UCS-2",
        })
    }
}

/// Text that cannot be represented in the requested encoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// `index` counts characters (not bytes) from the start of the text.
    #[error("character {character:?} (U+{:04X}) at index {index} cannot be encoded in {encoding}", u32::from(*character))]
    Unencodable {
        character: char,
        index: usize,
        encoding: Encoding,
    },
}

/// How the octets of a message are to be read, as decided by `data_coding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alphabet {
    /// GSM 03.38, one septet per octet.
    Gsm7,
    /// IA5 / ASCII.
    Ascii,
    /// ISO-8859-1.
    Latin1,
    /// UCS-2 / UTF-16 big-endian.
    Ucs2,
    /// 8-bit data, or an alphabet this crate does not interpret (JIS, Cyrillic, Hebrew,
    /// Kanji, KS C 5601, compressed text, reserved values): shown as hex.
    Binary,
}

/// Maps an SMPP `data_coding` octet to the alphabet of its user data.
///
/// 0x00..=0x0F use the SMPP table. Above that the octet is read as a GSM 03.38 data coding
/// scheme, since that is what SMSCs pass through: general data coding (00xx / 01xx, where
/// bits 3..2 choose the alphabet and bit 5 means compressed), the message waiting groups
/// (0xC0..=0xDF GSM7, 0xE0..=0xEF UCS-2) and the data coding / message class group
/// (0xF0..=0xFF, where bit 2 selects 8-bit data over GSM7).
pub fn alphabet(data_coding: u8) -> Alphabet {
    match data_coding {
        0x00 => Alphabet::Gsm7,
        0x01 => Alphabet::Ascii,
        0x03 => Alphabet::Latin1,
        0x08 => Alphabet::Ucs2,
        0x02 | 0x04..=0x07 | 0x09..=0x0F => Alphabet::Binary,
        0x10..=0x7F => {
            let compressed = data_coding & 0x20 != 0;
            if compressed {
                return Alphabet::Binary;
            }
            match (data_coding >> 2) & 0x03 {
                0 => Alphabet::Gsm7,
                2 => Alphabet::Ucs2,
                _ => Alphabet::Binary,
            }
        }
        0x80..=0xBF => Alphabet::Binary,
        0xC0..=0xDF => Alphabet::Gsm7,
        0xE0..=0xEF => Alphabet::Ucs2,
        0xF0..=0xFF => {
            if data_coding & 0x04 != 0 {
                Alphabet::Binary
            } else {
                Alphabet::Gsm7
            }
        }
    }
}

/// Decodes the user data of a message (without any UDH) according to `data_coding`.
/// Never fails: invalid sequences become U+FFFD, binary data is rendered as lower-case hex.
pub fn decode(data_coding: u8, bytes: &[u8]) -> String {
    match alphabet(data_coding) {
        Alphabet::Gsm7 => decode_gsm7_unpacked(bytes),
        Alphabet::Ascii => bytes
            .iter()
            .map(|&b| {
                if b.is_ascii() {
                    char::from(b)
                } else {
                    char::REPLACEMENT_CHARACTER
                }
            })
            .collect(),
        Alphabet::Latin1 => bytes.iter().map(|&b| char::from(b)).collect(),
        Alphabet::Ucs2 => decode_ucs2(bytes),
        Alphabet::Binary => hex(bytes),
    }
}

/// Lower-case hex rendering of binary user data.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    out
}

/// Decodes GSM 03.38 septets stored one per octet.
///
/// Per TS 23.038, an escape followed by a septet with no extension character shows the
/// default-table character, and escape-escape (reserved for a further table) shows a space.
/// Octets above 0x7F and a trailing lone escape are not septets and become U+FFFD.
pub fn decode_gsm7_unpacked(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut iter = septets.iter().copied();
    while let Some(s) = iter.next() {
        if s > 0x7F {
            out.push(char::REPLACEMENT_CHARACTER);
        } else if s == GSM7_ESCAPE {
            match iter.next() {
                None => out.push(char::REPLACEMENT_CHARACTER),
                Some(GSM7_ESCAPE) => out.push(' '),
                Some(next) if next > 0x7F => out.push(char::REPLACEMENT_CHARACTER),
                Some(next) => {
                    out.push(gsm7_extension_char(next).unwrap_or(GSM7_BASIC[usize::from(next)]))
                }
            }
        } else {
            out.push(GSM7_BASIC[usize::from(s)]);
        }
    }
    out
}

fn gsm7_extension_char(septet: u8) -> Option<char> {
    GSM7_EXTENSION
        .iter()
        .find(|(code, _)| *code == septet)
        .map(|(_, c)| *c)
}

/// Decodes UTF-16 big-endian; unpaired surrogates and a trailing odd octet become U+FFFD.
pub fn decode_ucs2(bytes: &[u8]) -> String {
    let units = bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    let mut out: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if bytes.len() % 2 == 1 {
        out.push(char::REPLACEMENT_CHARACTER);
    }
    out
}

/// The GSM 03.38 septets for one character: one, or the escape plus one.
/// `None` if the character is in neither the default nor the extension table.
pub fn gsm7_char(c: char) -> Option<([u8; 2], usize)> {
    // Letters and digits sit at their ASCII codes in GSM 03.38: skip the table scan for
    // the bulk of typical text.
    if c.is_ascii_alphanumeric() {
        return Some(([c as u8, 0], 1));
    }
    if c != '\u{1B}'
        && let Some(pos) = GSM7_BASIC.iter().position(|&b| b == c)
    {
        // The table has 128 entries, so the position always fits a septet.
        return Some(([pos as u8, 0], 1));
    }
    GSM7_EXTENSION
        .iter()
        .find(|(_, ext)| *ext == c)
        .map(|(code, _)| ([GSM7_ESCAPE, *code], 2))
}

/// Length of `text` in GSM 03.38 septets (extension characters count 2), or `None` if some
/// character is not in the GSM alphabet.
pub fn gsm7_septets(text: &str) -> Option<usize> {
    text.chars()
        .try_fold(0usize, |n, c| gsm7_char(c).map(|(_, len)| n + len))
}

/// GSM7 when every character is in the default or extension table, UCS-2 otherwise.
pub fn best_encoding(text: &str) -> Encoding {
    if gsm7_septets(text).is_some() {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Appends the encoding of `c` to `out`; `false` (and nothing appended) if it has none.
pub(crate) fn encode_char(c: char, encoding: Encoding, out: &mut Vec<u8>) -> bool {
    match encoding {
        Encoding::Gsm7 => match gsm7_char(c) {
            Some((septets, len)) => {
                out.extend_from_slice(&septets[..len]);
                true
            }
            None => false,
        },
        Encoding::Ascii => match u8::try_from(u32::from(c)) {
            Ok(b) if b.is_ascii() => {
                out.push(b);
                true
            }
            _ => false,
        },
        Encoding::Latin1 => match u8::try_from(u32::from(c)) {
            Ok(b) => {
                out.push(b);
                true
            }
            Err(_) => false,
        },
        Encoding::Ucs2 => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.extend_from_slice(&unit.to_be_bytes());
            }
            true
        }
    }
}

/// Encodes `text` as the octets SMPP carries for `encoding` (GSM7 unpacked).
pub fn encode(text: &str, encoding: Encoding) -> Result<Vec<u8>, TextError> {
    let mut out = Vec::with_capacity(text.len() * if encoding == Encoding::Ucs2 { 2 } else { 1 });
    for (index, character) in text.chars().enumerate() {
        if !encode_char(character, encoding, &mut out) {
            return Err(TextError::Unencodable {
                character,
                index,
                encoding,
            });
        }
    }
    Ok(out)
}

/// Packs septets (one per octet, high bit ignored) into the GSM 7-bit packed form.
///
/// `fill_bits` (0..=6) zero bits are put first, which is how septets are aligned to a septet
/// boundary after a UDH of `n` octets: `fill_bits = (7 - (n * 8) % 7) % 7`, and the packed
/// output is then appended to the UDH. Values above 6 are reduced modulo 7.
pub fn pack_septets(septets: &[u8], fill_bits: u8) -> Vec<u8> {
    let fill = usize::from(fill_bits % 7);
    let total_bits = fill + septets.len() * 7;
    let mut out = vec![0u8; total_bits.div_ceil(8)];
    for (i, &s) in septets.iter().enumerate() {
        let bit = fill + i * 7;
        let (byte, shift) = (bit / 8, bit % 8);
        let value = u16::from(s & 0x7F) << shift;
        out[byte] |= (value & 0xFF) as u8;
        if shift > 1 {
            out[byte + 1] |= (value >> 8) as u8;
        }
    }
    out
}

/// Unpacks up to `count` septets from the GSM 7-bit packed form, skipping `fill_bits`
/// leading fill bits. Returns fewer septets if `packed` runs out first.
///
/// The septet count comes from the user data length, because the packed form alone cannot
/// tell a trailing `@` (septet 0) from padding.
pub fn unpack_septets(packed: &[u8], fill_bits: u8, count: usize) -> Vec<u8> {
    let fill = usize::from(fill_bits % 7);
    let available = (packed.len() * 8).saturating_sub(fill) / 7;
    let n = count.min(available);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let bit = fill + i * 7;
        let (byte, shift) = (bit / 8, bit % 8);
        let lo = u16::from(packed[byte]);
        let hi = packed.get(byte + 1).copied().map_or(0, u16::from);
        out.push((((hi << 8 | lo) >> shift) & 0x7F) as u8);
    }
    out
}

/// Fill bits needed after a UDH of `udh_len` octets (UDHL included) so GSM7 user data
/// starts on a septet boundary.
pub fn gsm7_fill_bits(udh_len: usize) -> u8 {
    ((7 - (udh_len * 8) % 7) % 7) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gsm7_basic_table_round_trips_every_septet() {
        for septet in 0u8..0x80 {
            if septet == GSM7_ESCAPE {
                continue;
            }
            let text = decode(0, &[septet]);
            assert_eq!(text.chars().count(), 1, "septet {septet:#04x}");
            assert_eq!(encode(&text, Encoding::Gsm7).unwrap(), vec![septet]);
        }
    }

    #[test]
    fn gsm7_extension_table() {
        let text = "^{}\\[~]|€\u{0C}";
        let bytes = encode(text, Encoding::Gsm7).unwrap();
        assert_eq!(
            bytes,
            vec![
                0x1B, 0x14, 0x1B, 0x28, 0x1B, 0x29, 0x1B, 0x2F, 0x1B, 0x3C, 0x1B, 0x3D, 0x1B, 0x3E,
                0x1B, 0x40, 0x1B, 0x65, 0x1B, 0x0A
            ]
        );
        assert_eq!(decode(0, &bytes), text);
        assert_eq!(gsm7_septets(text), Some(20));
    }

    #[test]
    fn gsm7_specific_characters() {
        assert_eq!(encode("@£$¥", Encoding::Gsm7).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(
            encode("¤¡§¿à", Encoding::Gsm7).unwrap(),
            vec![0x24, 0x40, 0x5F, 0x60, 0x7F]
        );
        assert_eq!(
            encode("ΔΩΣ", Encoding::Gsm7).unwrap(),
            vec![0x10, 0x15, 0x18]
        );
        assert_eq!(decode(0, b"Hello"), "Hello");
    }

    #[test]
    fn gsm7_odd_escapes() {
        // Unknown extension code: the default-table character is shown (TS 23.038).
        assert_eq!(decode(0, &[0x1B, 0x41]), "A");
        assert_eq!(decode(0, &[0x1B, 0x1B]), " ");
        assert_eq!(decode(0, &[0x41, 0x1B]), "A\u{FFFD}");
        assert_eq!(decode(0, &[0x1B, 0x80, 0x41]), "\u{FFFD}A");
        assert_eq!(decode(0, &[0xC1]), "\u{FFFD}");
    }

    #[test]
    fn gsm7_rejects_characters_outside_both_tables() {
        let err = encode("ab`c", Encoding::Gsm7).unwrap_err();
        assert_eq!(
            err,
            TextError::Unencodable {
                character: '`',
                index: 2,
                encoding: Encoding::Gsm7
            }
        );
        assert!(err.to_string().contains("U+0060"), "{err}");
        // The escape character itself is not text.
        assert!(encode("\u{1B}", Encoding::Gsm7).is_err());
        assert_eq!(gsm7_septets("привет"), None);
    }

    #[test]
    fn best_encoding_picks_gsm7_only_when_possible() {
        assert_eq!(best_encoding("Your code is 123456"), Encoding::Gsm7);
        assert_eq!(best_encoding("Prix: 10€ {ok}"), Encoding::Gsm7);
        assert_eq!(best_encoding("Код 1234"), Encoding::Ucs2);
        assert_eq!(best_encoding("ok 👍"), Encoding::Ucs2);
        assert_eq!(best_encoding(""), Encoding::Gsm7);
    }

    #[test]
    fn data_coding_values() {
        assert_eq!(Encoding::Gsm7.data_coding(), 0);
        assert_eq!(Encoding::Ascii.data_coding(), 1);
        assert_eq!(Encoding::Latin1.data_coding(), 3);
        assert_eq!(Encoding::Ucs2.data_coding(), 8);
    }

    #[test]
    fn latin1_and_ascii() {
        let text = "Café déjà vu ÿ";
        let bytes = encode(text, Encoding::Latin1).unwrap();
        assert_eq!(bytes.len(), text.chars().count());
        assert_eq!(decode(3, &bytes), text);
        assert!(matches!(
            encode("€", Encoding::Latin1),
            Err(TextError::Unencodable { index: 0, .. })
        ));
        assert_eq!(encode("a`b", Encoding::Ascii).unwrap(), b"a`b".to_vec());
        assert_eq!(decode(1, b"plain ascii `~"), "plain ascii `~");
        assert_eq!(decode(1, &[0x41, 0xE9]), "A\u{FFFD}");
        assert!(matches!(
            encode("é", Encoding::Ascii),
            Err(TextError::Unencodable {
                character: 'é', ..
            })
        ));
    }

    #[test]
    fn ucs2_with_surrogates() {
        let text = "Код 👍";
        let bytes = encode(text, Encoding::Ucs2).unwrap();
        assert_eq!(&bytes[..2], &[0x04, 0x1A]);
        assert_eq!(&bytes[bytes.len() - 4..], &[0xD8, 0x3D, 0xDC, 0x4D]);
        assert_eq!(decode(8, &bytes), text);
        // Lone surrogates and an odd trailing octet.
        assert_eq!(decode(8, &[0xD8, 0x3D, 0x00, 0x41]), "\u{FFFD}A");
        assert_eq!(decode(8, &[0xDC, 0x4D]), "\u{FFFD}");
        assert_eq!(decode(8, &[0x00, 0x41, 0x42]), "A\u{FFFD}");
    }

    #[test]
    fn binary_is_hex() {
        assert_eq!(decode(0x02, &[0x00, 0xAB, 0x7F]), "00ab7f");
        assert_eq!(decode(0x04, &[]), "");
        assert_eq!(decode(0xF6, &[0xFF]), "ff");
    }

    #[test]
    fn coding_groups() {
        assert_eq!(alphabet(0xF0), Alphabet::Gsm7);
        assert_eq!(alphabet(0xF1), Alphabet::Gsm7);
        assert_eq!(alphabet(0xF4), Alphabet::Binary);
        assert_eq!(alphabet(0xF7), Alphabet::Binary);
        assert_eq!(alphabet(0x10), Alphabet::Gsm7);
        assert_eq!(alphabet(0x18), Alphabet::Ucs2);
        assert_eq!(alphabet(0x14), Alphabet::Binary);
        assert_eq!(alphabet(0x30), Alphabet::Binary);
        assert_eq!(alphabet(0x48), Alphabet::Ucs2);
        assert_eq!(alphabet(0xC0), Alphabet::Gsm7);
        assert_eq!(alphabet(0xD8), Alphabet::Gsm7);
        assert_eq!(alphabet(0xE0), Alphabet::Ucs2);
        assert_eq!(alphabet(0x90), Alphabet::Binary);
        assert_eq!(alphabet(0x06), Alphabet::Binary);
        assert_eq!(decode(0xF1, b"Hi"), "Hi");
        assert_eq!(decode(0x18, &[0x00, 0x41]), "A");
    }

    #[test]
    fn pack_known_vector() {
        // "hellohello" is the classic packing example from TS 23.038.
        let septets = encode("hellohello", Encoding::Gsm7).unwrap();
        let packed = pack_septets(&septets, 0);
        assert_eq!(
            packed,
            vec![0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
        );
        assert_eq!(unpack_septets(&packed, 0, 10), septets);
    }

    #[test]
    fn pack_with_udh_fill_bits() {
        // A 6-octet UDH (8-bit concat reference) needs one fill bit.
        assert_eq!(gsm7_fill_bits(6), 1);
        assert_eq!(gsm7_fill_bits(7), 0);
        assert_eq!(gsm7_fill_bits(0), 0);
        let septets = encode("Hi@", Encoding::Gsm7).unwrap();
        let packed = pack_septets(&septets, 1);
        assert_eq!(packed.len(), 3); // 1 + 21 bits
        assert_eq!(packed[0] & 1, 0);
        assert_eq!(unpack_septets(&packed, 1, 3), septets);
        // The count comes from the UDL, not from the octets.
        assert_eq!(unpack_septets(&packed, 1, 99), septets);
        assert_eq!(unpack_septets(&[], 3, 5), Vec::<u8>::new());
    }

    proptest! {
        #[test]
        fn decode_never_panics(dc in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(dc, &bytes);
        }

        #[test]
        fn gsm_text_round_trips(
            text in proptest::collection::vec(
                proptest::sample::select(
                    GSM7_BASIC.iter().copied().filter(|&c| c != '\u{1B}')
                        .chain(GSM7_EXTENSION.iter().map(|(_, c)| *c))
                        .collect::<Vec<char>>()),
                0..300,
            ).prop_map(|chars| chars.into_iter().collect::<String>())
        ) {
            prop_assert_eq!(best_encoding(&text), Encoding::Gsm7);
            let bytes = encode(&text, Encoding::Gsm7).unwrap();
            prop_assert_eq!(Some(bytes.len()), gsm7_septets(&text));
            prop_assert_eq!(&decode(0, &bytes), &text);
            let packed = pack_septets(&bytes, 1);
            prop_assert_eq!(unpack_septets(&packed, 1, bytes.len()), bytes);
        }

        #[test]
        fn unicode_round_trips_through_ucs2(text in any::<String>()) {
            let bytes = encode(&text, Encoding::Ucs2).unwrap();
            prop_assert_eq!(decode(8, &bytes), text);
        }

        #[test]
        fn best_encoding_always_encodes(text in any::<String>()) {
            let enc = best_encoding(&text);
            let bytes = encode(&text, enc).unwrap();
            prop_assert_eq!(decode(enc.data_coding(), &bytes), text);
        }

        #[test]
        fn latin1_round_trips(text in "[\\x00-\\xff]{0,200}") {
            let bytes = encode(&text, Encoding::Latin1).unwrap();
            prop_assert_eq!(decode(3, &bytes), text);
        }

        #[test]
        fn pack_unpack_round_trips(
            septets in proptest::collection::vec(0u8..0x80, 0..200),
            fill in 0u8..7,
        ) {
            let packed = pack_septets(&septets, fill);
            prop_assert_eq!(unpack_septets(&packed, fill, septets.len()), septets);
        }
    }
}
