//! Deadlines of the workflow (step timeouts, voice-call polls, expiry) in a few heaps, driven
//! by one task, instead of a sleeping task per verification: at 10,000 starts/s a pending
//! verification costs a heap entry, not a task.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;

use crate::support::sharded::lock;

/// What is due.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Due {
    /// The step at `pos` of generation `round` ran out of time.
    StepTimeout { round: u32, pos: u16 },
    /// Ask where the call of the step at `pos` is.
    CallPoll { round: u32, pos: u16 },
    /// The verification expires.
    Expire,
}

/// Heaps the deadlines are spread over (by verification), so starts on different cores
/// rarely meet on one lock.
const SHARDS: usize = 16;

type Heap = BinaryHeap<Reverse<(u64, u128, Due)>>;

/// The heaps of deadlines.
#[derive(Debug)]
pub(crate) struct Timers {
    heaps: Vec<Mutex<Heap>>,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            heaps: (0..SHARDS).map(|_| Mutex::new(BinaryHeap::new())).collect(),
        }
    }
}

impl Timers {
    pub(crate) fn push(&self, at_ms: u64, id: u128, due: Due) {
        // The id is random: its low bits spread the verifications evenly.
        lock(&self.heaps[(id as usize) % SHARDS]).push(Reverse((at_ms, id, due)));
    }

    /// Everything due at `now_ms` (earliest first within each heap).
    pub(crate) fn pop_due(&self, now_ms: u64) -> Vec<(u128, Due)> {
        let mut out = Vec::new();
        for heap in &self.heaps {
            let mut heap = lock(heap);
            while heap.peek().is_some_and(|Reverse((at, _, _))| *at <= now_ms) {
                if let Some(Reverse((_, id, due))) = heap.pop() {
                    out.push((id, due));
                }
            }
        }
        out
    }
}
