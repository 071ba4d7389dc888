//! The carrier's timers: one hashed timing wheel per carrier for everything that happens after
//! a delay (a message reaching its handset, its final state and receipt, a receipt held back to
//! arrive out of order, a handset's MO reply), run by one task, bounded.
//!
//! This replaced a tokio task per timer: at 50,000 messages/s with a one-second latency that was
//! 100,000 live tasks, each an allocation and a runtime timer entry, uncapped, and none
//! cancelled at shutdown without waking them all. Here a timer is an item in a slot of a
//! [`Wheel`] (1 ms ticks, 4,096 slots; later deadlines wait in a heap until they come within
//! range), inserting is a push under a mutex, and [`Timers::insert`] refuses an item past the
//! configured capacity so the caller can answer with an explicit refusal instead of growing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Length of one tick.
const TICK: Duration = Duration::from_millis(1);
/// Slots of the wheel: deadlines up to this many ticks ahead go straight into a slot.
const SLOTS: u64 = 4096;

/// A deadline beyond the wheel's horizon, ordered by tick then arrival.
#[derive(Debug)]
struct Far<T> {
    tick: u64,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Far<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.tick, self.seq) == (o.tick, o.seq)
    }
}
impl<T> Eq for Far<T> {}
impl<T> PartialOrd for Far<T> {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Far<T> {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.tick, self.seq).cmp(&(o.tick, o.seq))
    }
}

/// A hashed timing wheel of 1 ms ticks; time is passed in, never read, so tests drive it.
#[derive(Debug)]
pub(crate) struct Wheel<T> {
    origin: Instant,
    /// Every tick before this one has been expired.
    next_tick: u64,
    slots: Vec<Vec<T>>,
    in_slots: usize,
    far: BinaryHeap<Reverse<Far<T>>>,
    far_seq: u64,
    /// Items whose deadline had passed when inserted: due at the next expiry.
    overdue: Vec<T>,
}

impl<T> Wheel<T> {
    pub(crate) fn new(origin: Instant) -> Self {
        Self {
            origin,
            next_tick: 0,
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            in_slots: 0,
            far: BinaryHeap::new(),
            far_seq: 0,
            overdue: Vec::new(),
        }
    }

    /// Items held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.in_slots + self.far.len() + self.overdue.len()
    }

    fn tick_of(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.origin);
        // Round up: an item never fires before its deadline.
        u64::try_from(d.as_nanos().div_ceil(TICK.as_nanos())).unwrap_or(u64::MAX)
    }

    fn instant_of(&self, tick: u64) -> Instant {
        self.origin + TICK.saturating_mul(u32::try_from(tick).unwrap_or(u32::MAX))
    }

    /// Adds `item`, due at `at` (a deadline already past is due at the next expiry).
    pub(crate) fn insert(&mut self, at: Instant, item: T) {
        let tick = self.tick_of(at);
        if tick < self.next_tick {
            self.overdue.push(item);
        } else if tick < self.next_tick + SLOTS {
            self.slots[(tick % SLOTS) as usize].push(item);
            self.in_slots += 1;
        } else {
            self.far_seq += 1;
            self.far.push(Reverse(Far {
                tick,
                seq: self.far_seq,
                item,
            }));
        }
    }

    /// Moves every item due at or before `now` into `out`, in deadline order.
    pub(crate) fn expire(&mut self, now: Instant, out: &mut Vec<T>) {
        // An item sits in the tick its deadline rounds up to, so every tick that has begun by
        // `now` holds only items already due.
        let end = self.tick_of_floor(now).saturating_add(1);
        out.append(&mut self.overdue);
        while self.next_tick < end {
            if self.in_slots == 0 {
                // Nothing in the wheel: jump to the next far deadline (or to the end).
                let next_far = self.far.peek().map_or(end, |Reverse(f)| f.tick);
                self.next_tick = self.next_tick.max(next_far.min(end));
                self.pull_far();
                if self.in_slots == 0 {
                    break;
                }
                continue;
            }
            let slot = &mut self.slots[(self.next_tick % SLOTS) as usize];
            self.in_slots -= slot.len();
            out.append(slot);
            self.next_tick += 1;
            self.pull_far();
        }
    }

    fn tick_of_floor(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.origin);
        u64::try_from(d.as_nanos() / TICK.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Brings far items that came within the horizon into their slots.
    fn pull_far(&mut self) {
        while let Some(Reverse(f)) = self.far.peek() {
            if f.tick >= self.next_tick + SLOTS {
                break;
            }
            let Some(Reverse(f)) = self.far.pop() else {
                break;
            };
            let tick = f.tick.max(self.next_tick);
            self.slots[(tick % SLOTS) as usize].push(f.item);
            self.in_slots += 1;
        }
    }

    /// When the earliest item is due, if any.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        if !self.overdue.is_empty() {
            return Some(self.origin);
        }
        if self.in_slots > 0 {
            for t in self.next_tick..self.next_tick + SLOTS {
                if !self.slots[(t % SLOTS) as usize].is_empty() {
                    return Some(self.instant_of(t));
                }
            }
        }
        self.far.peek().map(|Reverse(f)| self.instant_of(f.tick))
    }
}

/// A bounded set of timers shared by a carrier's sessions, run by [`Timers::run`].
#[derive(Debug)]
pub(crate) struct Timers<T> {
    wheel: Mutex<Wheel<T>>,
    capacity: usize,
    len: AtomicUsize,
    /// Tick (ms since the wheel's origin) the runner sleeps until; an insert due earlier wakes
    /// it.
    sleeping_until: AtomicU64,
    wake: Notify,
}

/// The timer set is full; the item is handed back.
#[derive(Debug)]
pub(crate) struct Full<T>(pub T);

impl<T> Timers<T> {
    /// Room for `capacity` items.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            wheel: Mutex::new(Wheel::new(Instant::now())),
            capacity,
            len: AtomicUsize::new(0),
            sleeping_until: AtomicU64::new(u64::MAX),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Wheel<T>> {
        self.wheel.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Items waiting.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// True when `n` more items would not fit.
    pub(crate) fn would_overflow(&self, n: usize) -> bool {
        self.len() + n > self.capacity
    }

    /// Adds `item`, due after `delay`; refused when the set is full.
    pub(crate) fn insert(&self, delay: Duration, item: T) -> Result<(), Full<T>> {
        if self.len.fetch_add(1, Ordering::Relaxed) >= self.capacity {
            self.len.fetch_sub(1, Ordering::Relaxed);
            return Err(Full(item));
        }
        let at = Instant::now() + delay;
        let tick = {
            let mut wheel = self.lock();
            wheel.insert(at, item);
            wheel.tick_of(at)
        };
        if tick < self.sleeping_until.load(Ordering::Relaxed) {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Runs items as they fall due, calling `run` on each, until `stop` completes; what is
    /// still waiting then is dropped.
    pub(crate) async fn run(&self, mut run: impl FnMut(T), stop: impl std::future::Future) {
        tokio::pin!(stop);
        let mut due = Vec::new();
        loop {
            let next = {
                let mut wheel = self.lock();
                wheel.expire(Instant::now(), &mut due);
                let next = wheel.next_due();
                self.sleeping_until.store(
                    next.map_or(u64::MAX, |at| wheel.tick_of(at)),
                    Ordering::Relaxed,
                );
                next
            };
            if !due.is_empty() {
                self.len.fetch_sub(due.len(), Ordering::Relaxed);
                for item in due.drain(..) {
                    run(item);
                }
                // Items run may have scheduled more, or time passed while running: look again.
                continue;
            }
            let sleep = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                () = self.wake.notified() => {}
                _ = &mut stop => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_fire_in_deadline_order_never_early() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0);
        let ms = Duration::from_millis;
        for (d, name) in [
            (5, "c"),
            (1, "a"),
            (3, "b"),
            (10_000, "far"),
            (4_500, "mid"),
        ] {
            w.insert(t0 + ms(d), name);
        }
        assert_eq!(w.len(), 5);
        assert_eq!(w.next_due(), Some(t0 + ms(1)));
        let mut out = Vec::new();
        w.expire(t0 + Duration::from_micros(900), &mut out);
        assert!(out.is_empty(), "nothing is due before 1 ms");
        w.expire(t0 + ms(3), &mut out);
        assert_eq!(out, ["a", "b"]);
        out.clear();
        w.expire(t0 + ms(4_499), &mut out);
        assert_eq!(out, ["c"]);
        out.clear();
        w.expire(t0 + ms(4_500), &mut out);
        assert_eq!(out, ["mid"]);
        out.clear();
        assert_eq!(w.next_due(), Some(t0 + ms(10_000)));
        w.expire(t0 + ms(20_000), &mut out);
        assert_eq!(out, ["far"]);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_due(), None);
    }

    #[test]
    fn a_past_deadline_is_due_at_once() {
        let t0 = Instant::now();
        let mut w = Wheel::new(t0);
        let mut out = Vec::new();
        w.expire(t0 + Duration::from_secs(100), &mut out);
        w.insert(t0 + Duration::from_secs(1), 1);
        w.expire(t0 + Duration::from_secs(100), &mut out);
        assert_eq!(out, [1]);
    }

    #[tokio::test(start_paused = true)]
    async fn timers_run_items_and_refuse_past_capacity() {
        let timers = std::sync::Arc::new(Timers::new(2));
        assert!(timers.insert(Duration::from_millis(50), 1).is_ok());
        assert!(timers.insert(Duration::from_millis(10), 2).is_ok());
        assert!(matches!(timers.insert(Duration::ZERO, 3), Err(Full(3))));
        assert!(timers.would_overflow(1));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = tokio_util::sync::CancellationToken::new();
        let runner = {
            let (timers, stop) = (std::sync::Arc::clone(&timers), stop.clone());
            tokio::spawn(async move {
                timers
                    .run(
                        |i| {
                            let _ = tx.send(i);
                        },
                        stop.cancelled_owned(),
                    )
                    .await
            })
        };
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(timers.len(), 0);
        // An earlier item inserted while the runner sleeps wakes it.
        timers.insert(Duration::from_secs(60), 4).expect("room");
        timers.insert(Duration::from_millis(5), 5).expect("room");
        assert_eq!(rx.recv().await, Some(5));
        stop.cancel();
        runner.await.expect("runner ends");
    }
}
