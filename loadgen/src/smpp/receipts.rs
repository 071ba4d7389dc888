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
//!
//! Early receipts are the one part an SMSC can grow without our say: a receipt for an id that
//! no accepted message will ever name (an SMSC bug, or receipts for another client's
//! messages) would otherwise be held until the run ends. So they are capped
//! ([`ReceiptBook::with_early_cap`]): each shard keeps its early entries in arrival order, and
//! when its share of the cap is full the oldest one still waiting is dropped and counted
//! (`early_dropped`). A legitimate early receipt waits only until its submit_sm_resp is read,
//! so at most binds x window of them exist at once; the oldest is the likeliest to be junk.

use std::collections::{HashMap, VecDeque};
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
    /// Keys of early entries in arrival order; entries matched since are skipped lazily.
    early_order: VecDeque<u64>,
    /// Early entries in `map`.
    early: usize,
    /// Early entries evicted because the shard's share of the cap was full.
    early_dropped: u64,
}

impl Shard {
    /// Makes room for one more early entry under `cap`, evicting the oldest still waiting.
    fn make_early_room(&mut self, cap: usize) {
        while self.early >= cap.max(1) {
            let Some(key) = self.early_order.pop_front() else {
                // Unreachable while `early` counts the keys in `early_order`; stop rather
                // than spin if that ever breaks.
                self.early = 0;
                return;
            };
            if self.map.get(&key).is_some_and(|v| *v >> TAG_SHIFT == EARLY) {
                self.map.remove(&key);
                self.early -= 1;
                self.early_dropped += 1;
            }
        }
        // Matched early keys stay in the queue until they reach its front; when they are most
        // of it (an old unmatched one at the front holds them back), sweep them out so the
        // queue stays within twice the live count.
        if self.early_order.len() > 2 * self.early + 64 {
            let map = &self.map;
            self.early_order
                .retain(|k| map.get(k).is_some_and(|v| *v >> TAG_SHIFT == EARLY));
        }
    }
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
    /// Early receipts dropped because the early store was full.
    pub early_dropped: u64,
    /// Entries in the book.
    pub entries: u64,
}

/// Default cap on early receipts held at once ([`ReceiptBook::with_early_cap`]).
pub const DEFAULT_EARLY_CAP: usize = 100_000;

/// The shared receipt book.
#[derive(Debug)]
pub struct ReceiptBook {
    shards: Box<[Mutex<Shard>]>,
    /// Early entries each shard may hold.
    early_cap_per_shard: usize,
}

impl Default for ReceiptBook {
    fn default() -> Self {
        Self::new()
    }
}

impl ReceiptBook {
    /// An empty book holding at most [`DEFAULT_EARLY_CAP`] early receipts.
    pub fn new() -> Self {
        Self::with_early_cap(DEFAULT_EARLY_CAP)
    }

    /// An empty book holding at most about `cap` early receipts (the cap is split evenly over
    /// the shards, so a shard may drop one a little before the whole book is full).
    pub fn with_early_cap(cap: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            early_cap_per_shard: cap.div_ceil(SHARDS).max(1),
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
                shard.early -= 1;
                AcceptOutcome::MatchedEarly(arrived.saturating_sub(intended_ns))
            }
            Some(_) => AcceptOutcome::DuplicateId,
        }
    }

    /// Records a receipt for `key` that arrived at `now_ns`.
    pub fn receipt(&self, key: u64, now_ns: u64) -> ReceiptOutcome {
        let cap = self.early_cap_per_shard;
        let mut shard = self.shard(key);
        match shard.map.get_mut(&key) {
            None => {
                shard.make_early_room(cap);
                shard
                    .map
                    .insert(key, (EARLY << TAG_SHIFT) | (now_ns & TIME_MASK));
                shard.early += 1;
                shard.early_order.push_back(key);
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
            c.early_dropped += shard.early_dropped;
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
                early_dropped: 0,
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

    #[test]
    fn early_store_is_bounded_and_drops_the_oldest() {
        // A cap of 16 over 16 shards: one early receipt per shard.
        let book = ReceiptBook::with_early_cap(SHARDS);
        // Keys 0 and SHARDS land in shard 0; the second evicts the first.
        assert_eq!(book.receipt(0, 1), ReceiptOutcome::Early);
        assert_eq!(book.receipt(SHARDS as u64, 2), ReceiptOutcome::Early);
        let c = book.counts();
        assert_eq!((c.early, c.early_dropped), (1, 1));
        // The dropped one is forgotten: its message now waits (and will count as missing)...
        assert_eq!(book.accepted(0, 0), AcceptOutcome::Awaiting);
        // ...while the kept one still matches.
        assert_eq!(
            book.accepted(SHARDS as u64, 0),
            AcceptOutcome::MatchedEarly(2)
        );
        assert_eq!(book.counts().early, 0);
    }

    #[test]
    fn matched_early_receipts_do_not_fill_the_store() {
        let book = ReceiptBook::with_early_cap(SHARDS * 4);
        // Far more early receipts than the cap, each claimed soon after: nothing is dropped,
        // and the arrival queues stay small.
        for k in 0..100_000u64 {
            assert_eq!(book.receipt(k, k), ReceiptOutcome::Early);
            assert_eq!(book.accepted(k, 0), AcceptOutcome::MatchedEarly(k));
        }
        let c = book.counts();
        assert_eq!((c.early, c.early_dropped), (0, 0));
        for m in book.shards.iter() {
            let shard = m.lock().expect("shard");
            assert!(
                shard.early_order.len() <= 2 * 4 + 64,
                "{}",
                shard.early_order.len()
            );
        }
        // Stale ones (never claimed) are evicted oldest first, and counted.
        for k in 1_000_000..1_000_000 + 1000u64 {
            book.receipt(k, 0);
        }
        let c = book.counts();
        assert_eq!(c.early, (SHARDS * 4) as u64);
        assert_eq!(c.early_dropped, 1000 - (SHARDS * 4) as u64);
    }
}
