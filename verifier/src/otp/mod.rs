//! One-time codes: how they are made, how they are kept, how they are checked.
//!
//! - Every verification gets a 128-bit seed from the CSPRNG (`rand`'s ThreadRng: ChaCha12
//!   reseeded from the OS). With the `random` generator the code's digits are
//!   HMAC-SHA-256(process key, seed, binding) reduced mod 10^length (the 64-bit reduction's bias
//!   is below 10^-9); with `totp` they are RFC 4226 HOTP over a secret derived the same way and
//!   the RFC 6238 time step, so a code is valid only in its window ([`hotp`]).
//! - The store keeps the seed and, for `random` codes, only a keyed hash of the code
//!   (HMAC-SHA-256 under a key drawn when the process starts, never written anywhere): a dump
//!   of the store gives neither the codes nor a way to test guesses offline. Deriving the
//!   digits from the seed is what lets a resend carry the same code while it is valid (what the
//!   big providers do) without keeping the code itself.
//! - A check hashes the candidate the same way and compares in constant time (`subtle`).
//! - With `amount` and `payee` (PSD2 dynamic linking) both enter the code and its hash, so a
//!   code is good only for that amount and payee.
//!
//! HMAC is used, not a slow password KDF: codes live minutes, the attempt limit (5) is what
//! stops guessing, and the hot path must do ≥ 10,000 starts and checks per second.
//!
//! Layer: uses `config` (the code rules) and `support`; used by `flow`, and by `guard` for
//! the attestation tokens' MAC.

pub(crate) mod hotp;

use hmac::{Hmac, Mac};
use rand::{Rng, RngExt};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::{CodesConfig, Generator};

/// A keyed MAC with length-prefixed parts, so `("ab","c")` and `("a","bc")` never collide.
#[derive(Clone)]
pub(crate) struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never printed.
        f.write_str("Key(..)")
    }
}

impl Key {
    /// A fresh key from the CSPRNG.
    pub(crate) fn random() -> Self {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        Self(k)
    }

    /// A key from configured bytes (the attestation key).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        // Keys of any length are hashed to 32 bytes, as HMAC itself does for long keys.
        let mut k = [0u8; 32];
        k.copy_from_slice(&<Sha256 as sha2::Digest>::digest(bytes));
        Self(k)
    }

    /// HMAC-SHA-256 over `domain` and `parts`.
    pub(crate) fn mac(&self, domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(&self.0) else {
            unreachable!("HMAC takes keys of any length")
        };
        for p in std::iter::once(&domain).chain(parts) {
            m.update(&(p.len() as u32).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }
}

/// Constant-time equality of two byte strings.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// A fresh random 128-bit value (verification seeds and ids).
pub(crate) fn random_u128() -> u128 {
    rand::rng().random()
}

/// What a code is bound to: the transaction's amount and payee, when given.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Binding<'a> {
    pub amount: Option<&'a str>,
    pub payee: Option<&'a str>,
}

impl Binding<'_> {
    fn parts(&self) -> [&[u8]; 2] {
        [
            self.amount.unwrap_or("").as_bytes(),
            self.payee.unwrap_or("").as_bytes(),
        ]
    }
}

/// What the store keeps to check a code.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    pub seed: u128,
    /// Keyed hash of the code (`random` codes; zero for `totp`, which has no fixed code).
    pub hash: [u8; 32],
}

/// The code maker of one service.
#[derive(Debug)]
pub(crate) struct Codes {
    key: Key,
    length: u8,
    generator: Generator,
    step_ms: u64,
}

impl Codes {
    pub(crate) fn new(cfg: &CodesConfig) -> Self {
        Self {
            key: Key::random(),
            length: cfg.length,
            generator: cfg.generator,
            step_ms: crate::support::clock::ms(cfg.totp_step).max(1),
        }
    }

    /// A new verification's secret state.
    pub(crate) fn create(&self, id: u128, binding: Binding<'_>, now_ms: u64) -> Stored {
        let seed = random_u128();
        let hash = match self.generator {
            Generator::Random => {
                let code = self.code(seed, binding, now_ms);
                self.hash(id, code.as_bytes(), binding)
            }
            Generator::Totp => [0; 32],
        };
        Stored { seed, hash }
    }

    /// The code to send now (the same one every time for `random`; the current window's for
    /// `totp`).
    pub(crate) fn code(&self, seed: u128, binding: Binding<'_>, now_ms: u64) -> String {
        let [a, p] = binding.parts();
        match self.generator {
            Generator::Random => {
                let mac = self.key.mac(b"code", &[&seed.to_be_bytes(), a, p]);
                let v = u64::from_be_bytes(mac[..8].try_into().unwrap_or_default());
                digits(v, self.length)
            }
            Generator::Totp => {
                let secret = self.key.mac(b"totp", &[&seed.to_be_bytes(), a, p]);
                hotp::hotp(&secret[..20], now_ms / self.step_ms, self.length)
            }
        }
    }

    fn hash(&self, id: u128, code: &[u8], binding: Binding<'_>) -> [u8; 32] {
        let [a, p] = binding.parts();
        self.key.mac(b"check", &[&id.to_be_bytes(), code, a, p])
    }

    /// Whether `candidate` is the code of `stored`, compared in constant time.
    pub(crate) fn check(
        &self,
        id: u128,
        stored: &Stored,
        candidate: &str,
        binding: Binding<'_>,
        now_ms: u64,
    ) -> bool {
        if candidate.len() != usize::from(self.length)
            || !candidate.bytes().all(|b| b.is_ascii_digit())
        {
            return false;
        }
        match self.generator {
            Generator::Random => same(&self.hash(id, candidate.as_bytes(), binding), &stored.hash),
            Generator::Totp => {
                // The current window, and the one before it: RFC 6238 §5.2's one step of
                // grace for a code that was sent just before the window turned.
                let step = now_ms / self.step_ms;
                let [a, p] = binding.parts();
                let secret = self.key.mac(b"totp", &[&stored.seed.to_be_bytes(), a, p]);
                let now = same(
                    hotp::hotp(&secret[..20], step, self.length).as_bytes(),
                    candidate.as_bytes(),
                );
                let before = step > 0
                    && same(
                        hotp::hotp(&secret[..20], step - 1, self.length).as_bytes(),
                        candidate.as_bytes(),
                    );
                now | before
            }
        }
    }
}

/// `v` mod 10^len as exactly `len` digits.
pub(crate) fn digits(v: u64, len: u8) -> String {
    let len = usize::from(len);
    format!("{:0len$}", v % 10u64.pow(len as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(generator: Generator, length: u8) -> Codes {
        Codes::new(&CodesConfig {
            generator,
            length,
            ..CodesConfig::default()
        })
    }

    #[test]
    fn random_codes_are_stable_per_seed_and_checked_by_hash() {
        let c = codes(Generator::Random, 6);
        let b = Binding::default();
        let s = c.create(7, b, 0);
        let code = c.code(s.seed, b, 0);
        assert_eq!(code.len(), 6);
        assert_eq!(
            c.code(s.seed, b, 999_999),
            code,
            "a resend carries the same code"
        );
        assert!(c.check(7, &s, &code, b, 0));
        let wrong = digits(code.parse::<u64>().unwrap() + 1, 6);
        assert!(!c.check(7, &s, &wrong, b, 0));
        assert!(!c.check(8, &s, &code, b, 0), "bound to its verification");
        assert!(!c.check(7, &s, "12a456", b, 0));
        assert!(!c.check(7, &s, &code[..5], b, 0));
    }

    #[test]
    fn amount_and_payee_bind_the_code() {
        let c = codes(Generator::Random, 8);
        let b = Binding {
            amount: Some("10.00 EUR"),
            payee: Some("ACME"),
        };
        let s = c.create(1, b, 0);
        let code = c.code(s.seed, b, 0);
        assert!(c.check(1, &s, &code, b, 0));
        let other = Binding {
            amount: Some("1000.00 EUR"),
            payee: Some("ACME"),
        };
        assert!(!c.check(1, &s, &code, other, 0));
    }

    #[test]
    fn totp_codes_live_in_their_window() {
        let c = codes(Generator::Totp, 6);
        let b = Binding::default();
        let s = c.create(1, b, 0);
        let step = 30_000;
        let code = c.code(s.seed, b, 5 * step);
        assert!(c.check(1, &s, &code, b, 5 * step + 100));
        assert!(
            c.check(1, &s, &code, b, 6 * step + 100),
            "one step of grace"
        );
        assert!(
            !c.check(1, &s, &code, b, 7 * step + 100),
            "gone two windows later"
        );
    }

    #[test]
    fn lengths_4_to_10() {
        for len in 4..=10 {
            let c = codes(Generator::Random, len);
            let s = c.create(1, Binding::default(), 0);
            assert_eq!(
                c.code(s.seed, Binding::default(), 0).len(),
                usize::from(len)
            );
        }
    }
}
