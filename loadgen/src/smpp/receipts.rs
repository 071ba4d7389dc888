//! The receipt book: which accepted messages still expect a delivery receipt.
//!
//! With transmitter + receiver binds (or an SMSC that routes receipts to any bound receiver) a
//! receipt can arrive on a different connection than its submit_sm, and even before that
//! connection has read the submit_sm_resp that names the id. So the book is shared by all binds
//! and keyed by the hash of the message id ([`super::wire::id_key`]); a receipt for an id not
//! yet known is held as *early* and matched when the id turns up. The book is split into
//! shards, each behind its own mutex, so binds on different threads rarely meet on a lock; one
//! entry is 16 octets of key and value plus the hash table's overhead.
//!
//! Entries stay after their receipt is matched so that a second receipt for the same id is
//! counted as duplicated; the book therefore grows by one entry per accepted message.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

const SHARDS: usize = 16;
const TAG_SHIFT: u32 = 62;
const TIME_MASK: u64 = (1 << TAG_SHIFT) - 1;
const AWAITING: u64 = 1;
const EARLY: u64 = 2;
const DONE: u64 = 3;

/// Keys are already hashes: pass them through.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u32(&mut self, n: u32) {
        // Sequence numbers: spread them so hashbrown's top-7-bit tags differ.
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A pass-through hasher for maps keyed by hashes or sequence numbers.
pub type KeyHash = BuildHasherDefault<KeyHasher>;

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<u64, u64, KeyHash>,
}

/// What a receipt turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// It completes an accepted message; latency from intended send, in nanoseconds.
    Matched(u64),
    /// Its message already had a receipt.
    Duplicated,
    /// No accepted message names this id (yet): held until one does.
    Early,
}

/// What registering an accepted message's id turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// Now awaiting its receipt.
    Awaiting,
    /// Its receipt had already arrived: matched, latency from intended send in nanoseconds.
    MatchedEarly(u64),
    /// The SMSC gave the same id to an earlier message; this one cannot be tracked.
    DuplicateId,
}

/// Totals read from the book at the end of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookCounts {
    /// Accepted messages still waiting for a receipt.
    pub awaiting: u64,
    /// Receipts whose id no accepted message claimed.
    pub early: u64,
    /// Entries in the book.
    pub entries: u64,
}

/// The shared receipt book.
#[derive(Debug)]
pub struct ReceiptBook {
    shards: Box<[Mutex<Shard>]>,
}

impl Default for ReceiptBook {
    fn default() -> Self {
        Self::new()
    }
}

impl ReceiptBook {
    /// An empty book.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    fn shard(&self, key: u64) -> std::sync::MutexGuard<'_, Shard> {
        let m = &self.shards[(key as usize) % SHARDS];
        // A poisoned shard only means another bind task panicked mid-update; its counts are
        // still the best we have.
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the message intended at `intended_ns` was accepted under `key`.
    pub fn accepted(&self, key: u64, intended_ns: u64) -> AcceptOutcome {
        let mut shard = self.shard(key);
        match shard.map.get_mut(&key) {
            None => {
                shard
                    .map
                    .insert(key, (AWAITING << TAG_SHIFT) | (intended_ns & TIME_MASK));
                AcceptOutcome::Awaiting
            }
            Some(v) if *v >> TAG_SHIFT == EARLY => {
                let arrived = *v & TIME_MASK;
                *v = DONE << TAG_SHIFT;
                AcceptOutcome::MatchedEarly(arrived.saturating_sub(intended_ns))
            }
            Some(_) => AcceptOutcome::DuplicateId,
        }
    }

    /// Records a receipt for `key` that arrived at `now_ns`.
    pub fn receipt(&self, key: u64, now_ns: u64) -> ReceiptOutcome {
        let mut shard = self.shard(key);
        match shard.map.get_mut(&key) {
            None => {
                shard
                    .map
                    .insert(key, (EARLY << TAG_SHIFT) | (now_ns & TIME_MASK));
                ReceiptOutcome::Early
            }
            Some(v) if *v >> TAG_SHIFT == AWAITING => {
                let intended = *v & TIME_MASK;
                *v = DONE << TAG_SHIFT;
                ReceiptOutcome::Matched(now_ns.saturating_sub(intended))
            }
            Some(_) => ReceiptOutcome::Duplicated,
        }
    }

    /// Counts entries by state (walks the whole book: for the end of a run and for progress).
    pub fn counts(&self) -> BookCounts {
        let mut c = BookCounts::default();
        for m in self.shards.iter() {
            let shard = m.lock().unwrap_or_else(|e| e.into_inner());
            c.entries += shard.map.len() as u64;
            for v in shard.map.values() {
                match v >> TAG_SHIFT {
                    AWAITING => c.awaiting += 1,
                    EARLY => c.early += 1,
                    _ => {}
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_after_response_matches() {
        let book = ReceiptBook::new();
        assert_eq!(book.accepted(1, 100), AcceptOutcome::Awaiting);
        assert_eq!(book.counts().awaiting, 1);
        assert_eq!(book.receipt(1, 350), ReceiptOutcome::Matched(250));
        assert_eq!(book.receipt(1, 400), ReceiptOutcome::Duplicated);
        assert_eq!(
            book.counts(),
            BookCounts {
                awaiting: 0,
                early: 0,
                entries: 1
            }
        );
    }

    #[test]
    fn receipt_before_response_is_held_then_matched() {
        let book = ReceiptBook::new();
        assert_eq!(book.receipt(9, 500), ReceiptOutcome::Early);
        assert_eq!(book.counts().early, 1);
        assert_eq!(book.accepted(9, 120), AcceptOutcome::MatchedEarly(380));
        assert_eq!(book.counts().early, 0);
        assert_eq!(book.receipt(9, 600), ReceiptOutcome::Duplicated);
        assert_eq!(book.accepted(9, 130), AcceptOutcome::DuplicateId);
    }

    #[test]
    fn unclaimed_and_unanswered_are_counted() {
        let book = ReceiptBook::new();
        for k in 0..100 {
            book.accepted(k, 0);
        }
        book.receipt(1000, 5);
        book.receipt(5, 5);
        let c = book.counts();
        assert_eq!(c.awaiting, 99);
        assert_eq!(c.early, 1);
    }
}
