//! A fixed-memory table of per-key state for the fraud rules (per prefix, per IP, per device,
//! per number): a power-of-two array of slots in locked shards, each key mapping to two
//! candidate slots. A new key takes a free or stale slot, else the candidate touched longest
//! ago. Memory never grows, whatever the input: an attacker spraying random keys evicts old
//! entries (counted) but cannot exhaust the process.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::sharded::lock;

const SHARDS: usize = 16;

#[derive(Debug, Default, Clone)]
struct Slot<V> {
    key: u64,
    touched_ms: u64,
    used: bool,
    value: V,
}

/// Per-key state `V` for at most `capacity` keys (rounded up to a power of two).
#[derive(Debug)]
pub(crate) struct Table<V> {
    shards: Vec<Mutex<Vec<Slot<V>>>>,
    per_shard: usize,
    evictions: AtomicU64,
}

impl<V: Default + Clone> Table<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        let per_shard = (capacity.max(SHARDS * 2) / SHARDS).next_power_of_two();
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(vec![Slot::default(); per_shard]))
                .collect(),
            per_shard,
            evictions: AtomicU64::new(0),
        }
    }

    /// Runs `f` on `key`'s state, created (as `V::default()`) when absent. `stale_ms`: a slot
    /// untouched for that long is free for another key.
    pub(crate) fn with<R>(
        &self,
        key: u64,
        now_ms: u64,
        stale_ms: u64,
        f: impl FnOnce(&mut V) -> R,
    ) -> R {
        let mixed = super::key_of(&key);
        let shard = (mixed as usize) % SHARDS;
        let mut slots = lock(&self.shards[shard]);
        let a = ((mixed >> 8) as usize) & (self.per_shard - 1);
        let b = a ^ 1;
        let i = if slots[a].used && slots[a].key == key {
            a
        } else if slots[b].used && slots[b].key == key {
            b
        } else {
            let free = |s: &Slot<V>| !s.used || now_ms.saturating_sub(s.touched_ms) >= stale_ms;
            let i = if free(&slots[a]) {
                a
            } else if free(&slots[b]) {
                b
            } else {
                self.evictions.fetch_add(1, Ordering::Relaxed);
                if slots[a].touched_ms <= slots[b].touched_ms {
                    a
                } else {
                    b
                }
            };
            slots[i] = Slot {
                key,
                touched_ms: now_ms,
                used: true,
                value: V::default(),
            };
            i
        };
        slots[i].touched_ms = now_ms;
        f(&mut slots[i].value)
    }

    /// `key`'s state if present and fresh, without creating it.
    pub(crate) fn peek<R>(
        &self,
        key: u64,
        now_ms: u64,
        stale_ms: u64,
        f: impl FnOnce(&V) -> R,
    ) -> Option<R> {
        let mixed = super::key_of(&key);
        let slots = lock(&self.shards[(mixed as usize) % SHARDS]);
        let a = ((mixed >> 8) as usize) & (self.per_shard - 1);
        [a, a ^ 1]
            .into_iter()
            .map(|i| &slots[i])
            .find(|s| s.used && s.key == key && now_ms.saturating_sub(s.touched_ms) < stale_ms)
            .map(|s| f(&s.value))
    }

    /// Keys pushed out by other keys while still fresh.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_state_per_key_and_never_grows() {
        let t: Table<u32> = Table::new(64);
        for _ in 0..3 {
            t.with(7, 1, 1000, |v| *v += 1);
        }
        assert_eq!(t.peek(7, 2, 1000, |v| *v), Some(3));
        assert_eq!(t.peek(8, 2, 1000, |v| *v), None);
        // A spray of a million keys: memory is the same array, old keys are evicted.
        for k in 0..1_000_000u64 {
            t.with(k + 100, 2, 1000, |v| *v = 1);
        }
        assert!(t.evictions() > 0);
        assert_eq!(t.shards.iter().map(|s| lock(s).len()).sum::<usize>(), 64);
        // A stale slot counts as absent.
        t.with(5, 10, 1000, |v| *v = 9);
        assert_eq!(t.peek(5, 5000, 1000, |v| *v), None);
    }
}
