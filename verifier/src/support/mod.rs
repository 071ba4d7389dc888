//! Leaf utilities every layer may use, and which use no other layer: compact phone numbers,
//! bounded fixed-memory tables, sharded maps, the process clock and once-per-interval warnings.
//!
//! They exist because the hot path (≥ 10,000 verifications/s on two cores) must not take a
//! global lock per request, and because state fed by untrusted input (numbers, IP addresses,
//! devices) must live in fixed memory: an attacker spraying random values may evict entries,
//! never grow the process.

pub(crate) mod clock;
pub(crate) mod msisdn;
pub(crate) mod sharded;
pub(crate) mod table;
pub(crate) mod warn;

use std::hash::{BuildHasher, Hash};
use std::sync::OnceLock;

/// A keyed hash of `value`, stable for the life of the process. The key is random per
/// process (std's SipHash `RandomState`), so clients cannot pick inputs that collide in the
/// bounded tables.
pub(crate) fn key_of<T: Hash + ?Sized>(value: &T) -> u64 {
    static STATE: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    STATE
        .get_or_init(std::collections::hash_map::RandomState::new)
        .hash_one(value)
}
