//! A phone number packed in a `u64`: E.164 has at most 15 digits (< 2^50), and the digit
//! count goes in the bits above, so `0044` and `44` stay different numbers. Bounded tables and
//! block lists key on it without allocating a `String` per request.

use std::fmt;

use smpp::number::{NumberError, parse_number};

const LEN_SHIFT: u32 = 52;
const VALUE_MASK: u64 = (1 << LEN_SHIFT) - 1;

/// An E.164 number checked by the project's one rule (`smpp::number`), packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Msisdn(u64);

impl Msisdn {
    /// Parses `+447700900123` or `447700900123`.
    pub(crate) fn parse(input: &str) -> Result<Self, NumberError> {
        let digits = parse_number(input)?;
        Ok(Self::from_digits(digits))
    }

    fn from_digits(digits: &str) -> Self {
        let value = digits
            .bytes()
            .fold(0u64, |v, b| v * 10 + u64::from(b - b'0'));
        Self(((digits.len() as u64) << LEN_SHIFT) | value)
    }

    /// How many digits.
    pub(crate) fn len(self) -> usize {
        (self.0 >> LEN_SHIFT) as usize
    }

    /// The number without its last `drop` digits, packed the same way (the "prefix" the SMS
    /// pumping rules count by); the whole number when it has no more digits than that.
    pub(crate) fn prefix(self, drop: usize) -> Msisdn {
        let len = self.len();
        if drop == 0 || len <= drop {
            return self;
        }
        let value = (self.0 & VALUE_MASK) / 10u64.pow(drop as u32);
        Self((((len - drop) as u64) << LEN_SHIFT) | value)
    }

    /// The raw packed value (a table key).
    pub(crate) fn raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Msisdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.len();
        if len == 0 {
            return Ok(());
        }
        write!(f, "{:0len$}", self.0 & VALUE_MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_leading_zeros() {
        for n in ["447700900123", "1", "007", "123456789012345"] {
            assert_eq!(Msisdn::parse(n).unwrap().to_string(), n);
        }
        assert_eq!(
            Msisdn::parse("+447700900123").unwrap().to_string(),
            "447700900123"
        );
        assert_ne!(Msisdn::parse("0044").unwrap(), Msisdn::parse("44").unwrap());
        assert!(Msisdn::parse("44 77").is_err());
        assert!(Msisdn::parse("1234567890123456").is_err());
    }

    #[test]
    fn prefix_drops_the_last_digits() {
        let n = Msisdn::parse("447700900123").unwrap();
        assert_eq!(n.prefix(3).to_string(), "447700900");
        assert_eq!(n.prefix(0), n);
        assert_eq!(Msisdn::parse("12").unwrap().prefix(3).to_string(), "12");
    }
}
