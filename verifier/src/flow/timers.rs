//! Deadlines of the workflow (step timeouts, voice-call polls, expiry) in one heap, driven by
//! one task, instead of a sleeping task per verification: at 10,000 starts/s a pending
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

/// The heap of deadlines.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: Mutex<BinaryHeap<Reverse<(u64, u128, Due)>>>,
}

impl Timers {
    pub(crate) fn push(&self, at_ms: u64, id: u128, due: Due) {
        lock(&self.heap).push(Reverse((at_ms, id, due)));
    }

    /// Everything due at `now_ms`, earliest first.
    pub(crate) fn pop_due(&self, now_ms: u64) -> Vec<(u128, Due)> {
        let mut heap = lock(&self.heap);
        let mut out = Vec::new();
        while heap.peek().is_some_and(|Reverse((at, _, _))| *at <= now_ms) {
            if let Some(Reverse((_, id, due))) = heap.pop() {
                out.push((id, due));
            }
        }
        out
    }
}
