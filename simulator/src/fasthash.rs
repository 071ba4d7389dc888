//! A small, fast, non-cryptographic hasher for the carrier's hot-path maps.
//!
//! std's default SipHash is built to resist hash flooding by untrusted keys; the carrier's hot
//! maps are keyed by values it makes itself (message ids, positions) or by phone numbers a
//! tester sends on purpose, and at hundreds of thousands of messages per second SipHash was a
//! visible share of the profile. This is the multiply-rotate scheme of rustc's FxHasher, written
//! here rather than taken as a dependency because it is a dozen lines. Its output is not stable
//! across versions of this file and must never be persisted or used to seed anything.

use std::hash::{BuildHasherDefault, Hasher};

/// 2^64 / golden ratio, odd: spreads consecutive integers over the whole word.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Multiply-rotate hasher (FxHash-style).
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            // The length keeps "1" and "1\0" apart.
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // hashbrown takes its 7-bit tag from the top bits and the bucket from the low bits; the
        // last multiply leaves the low bits of small keys poorly mixed, so fold the top half in.
        self.hash ^ (self.hash >> 32)
    }
}

/// `BuildHasher` for [`FastHasher`], for `HashMap<K, V, FastBuild>`.
pub type FastBuild = BuildHasherDefault<FastHasher>;

/// A `HashMap` using [`FastHasher`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastBuild>;

/// Hashes one value with [`FastHasher`].
pub fn hash_one<T: std::hash::Hash + ?Sized>(value: &T) -> u64 {
    let mut h = FastHasher::default();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_short_strings_hash_apart() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000u64 {
            assert!(seen.insert(hash_one(&format!("{:x}", i))));
        }
        assert_ne!(hash_one("1"), hash_one("1\0"));
        assert_ne!(hash_one(""), hash_one("\0"));
    }

    #[test]
    fn sequential_keys_spread_over_the_low_bits() {
        // hashbrown indexes buckets with the low bits: consecutive ids must not pile up.
        let mut buckets = [0u32; 64];
        for i in 0..64_000u64 {
            buckets[(hash_one(&i) & 63) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (700..1300).contains(&n)),
            "{buckets:?}"
        );
    }
}
