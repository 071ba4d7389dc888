//! RFC 4226 HOTP (HMAC-SHA-1, dynamic truncation); with a counter of `time / step` it is
//! RFC 6238 TOTP.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The HOTP value of `secret` at `counter`, as `digits` decimal digits.
pub(crate) fn hotp(secret: &[u8], counter: u64, digits: u8) -> String {
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(secret) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let bin = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    super::digits(u64::from(bin), digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4226_appendix_d() {
        let secret = b"12345678901234567890";
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(secret, counter as u64, 6), *want);
        }
    }

    #[test]
    fn rfc6238_appendix_b_sha1() {
        let secret = b"12345678901234567890";
        for (t, want) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(hotp(secret, t / 30, 8), want);
        }
    }
}
