//! What the flows, the handset reader and the collector share: the numbers in use with the
//! flow waiting on each ([`Slots`]), the receipts of code-carrying messages ([`Receipts`]),
//! which population last asked for a code to each number ([`Owners`], so the carrier's
//! billing and codes no flow waits for are put down to it), and the measurements.
//!
//! A number is in [`Slots`] from the moment a user picks it until their verification ends, so
//! no two verifications of the run use one number at once and every delivery belongs to at
//! most one of them. The map is sharded by number, so the reader and the flows rarely meet on
//! a lock.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::measure::Route;

/// A code that reached a phone.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// When the reader saw it.
    pub at: Instant,
    /// The message (or call) id.
    pub message_id: String,
    /// Channel and carrier.
    pub route: Route,
    /// The code read off it (`None`: the text held none).
    pub code: Option<String>,
}

/// A multiplicative hash for numbers: keys are phone numbers the run picked, not input an
/// attacker chooses, so a fast hash is safe here.
#[derive(Debug, Default, Clone, Copy)]
pub struct NumberHasher(u64);

impl Hasher for NumberHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
}

type Map<V> = HashMap<u64, V, BuildHasherDefault<NumberHasher>>;

const SHARDS: usize = 64;

/// The shard a number's entry lives in (the top bits of its hash).
fn shard_of(number: u64) -> usize {
    let mut h = NumberHasher::default();
    h.write_u64(number);
    (h.finish() >> 58) as usize % SHARDS
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold no invariant a panicking holder could break half-way.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Which population last asked for a code to each number. Bounded by the numbers the run
/// asks for (a u64 and a u32 each): a million numbers are some 30 MB.
#[derive(Debug)]
pub struct Owners {
    shards: Vec<Mutex<Map<u32>>>,
}

impl Default for Owners {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Map::default())).collect(),
        }
    }
}

impl Owners {
    fn shard(&self, number: u64) -> &Mutex<Map<u32>> {
        &self.shards[shard_of(number)]
    }

    /// Population `pop` asks for a code to `number`.
    pub fn set(&self, number: u64, pop: usize) {
        lock(self.shard(number)).insert(number, pop as u32);
    }

    /// The population that last asked for a code to `number`.
    pub fn get(&self, number: u64) -> Option<usize> {
        lock(self.shard(number)).get(&number).map(|p| *p as usize)
    }

    /// Distinct numbers asked for so far (the report's `memory.numbers`).
    pub fn count(&self) -> u64 {
        self.shards.iter().map(|s| lock(s).len() as u64).sum()
    }
}

/// The numbers in use, each with the flow waiting for its code.
#[derive(Debug)]
pub struct Slots {
    shards: Vec<Mutex<Map<Option<oneshot::Sender<Delivery>>>>>,
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    /// Handed to the flow waiting for it.
    Code,
    /// The number's flow already had its code.
    Extra,
    /// No flow uses the number.
    Stray,
}

impl Default for Slots {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Map::default())).collect(),
        }
    }
}

impl Slots {
    fn shard(&self, number: u64) -> &Mutex<Map<Option<oneshot::Sender<Delivery>>>> {
        &self.shards[shard_of(number)]
    }

    /// Whether a verification is using `number`.
    pub fn busy(&self, number: u64) -> bool {
        lock(self.shard(number)).contains_key(&number)
    }

    /// Takes `number` for a new verification; its code will come on the receiver. `None`
    /// when it is in use.
    pub fn take(&self, number: u64) -> Option<oneshot::Receiver<Delivery>> {
        let mut shard = lock(self.shard(number));
        if shard.contains_key(&number) {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        shard.insert(number, Some(tx));
        Some(rx)
    }

    /// Frees `number`.
    pub fn free(&self, number: u64) {
        lock(self.shard(number)).remove(&number);
    }

    /// Hands a delivery to the flow waiting on its number.
    pub fn deliver(&self, number: u64, d: Delivery) -> Routed {
        let tx = {
            let mut shard = lock(self.shard(number));
            match shard.get_mut(&number) {
                None => return Routed::Stray,
                Some(slot) => slot.take(),
            }
        };
        match tx {
            // A flow that has just ended dropped its receiver: the code came too late for it.
            Some(tx) => match tx.send(d) {
                Ok(()) => Routed::Code,
                Err(_) => Routed::Extra,
            },
            None => Routed::Extra,
        }
    }
}

/// A code-carrying message's receipt, or the wait for it.
#[derive(Debug, Clone)]
enum Entry {
    /// The flow saw the code; the receipt has not come yet.
    Awaiting { intended: Instant, route: Route },
    /// The receipt came first (receipts and handset deliveries have their own latencies).
    Early { at: Instant, stat: String },
}

/// A receipt matched to its verification: when the verification was meant to start, when the
/// receipt came, its carrier and its `stat:`.
#[derive(Debug, Clone)]
pub struct Matched {
    /// Intended start.
    pub intended: Instant,
    /// The receipt's arrival.
    pub at: Instant,
    /// Route of the message.
    pub route: Route,
    /// `stat:`.
    pub stat: String,
}

/// Most receipts held unmatched before old ones are dropped: receipts of messages no flow
/// claims (a failover's second SMS, other traffic) would otherwise pile up.
const MAX_UNMATCHED: usize = 200_000;

/// Receipts of the messages that carried codes, matched by message id in either order.
#[derive(Debug, Default)]
pub struct Receipts {
    map: Mutex<HashMap<String, Entry>>,
    /// Size of the map at which the next sweep of old receipts runs (0: [`MAX_UNMATCHED`]).
    sweep_at: AtomicUsize,
    /// Sweeps run.
    sweeps: AtomicU64,
}

impl Receipts {
    /// A flow saw its code in message `id`.
    pub fn claim(&self, id: &str, intended: Instant, route: &Route) -> Option<Matched> {
        let mut map = lock(&self.map);
        match map.remove(id) {
            Some(Entry::Early { at, stat }) => Some(Matched {
                intended,
                at,
                route: route.clone(),
                stat,
            }),
            _ => {
                map.insert(
                    id.to_string(),
                    Entry::Awaiting {
                        intended,
                        route: route.clone(),
                    },
                );
                None
            }
        }
    }

    /// The carrier sent a receipt for message `id`.
    pub fn receipt(&self, id: &str, stat: &str, at: Instant) -> Option<Matched> {
        let mut map = lock(&self.map);
        match map.remove(id) {
            Some(Entry::Awaiting { intended, route }) => Some(Matched {
                intended,
                at,
                route,
                stat: stat.to_string(),
            }),
            _ => {
                if map.len() >= self.sweep_at.load(Ordering::Relaxed).max(MAX_UNMATCHED) {
                    let oldest = at.checked_sub(std::time::Duration::from_secs(60));
                    map.retain(|_, e| match e {
                        Entry::Early { at, .. } => oldest.is_none_or(|o| *at > o),
                        Entry::Awaiting { .. } => true,
                    });
                    // When more than MAX_UNMATCHED receipts are younger than a minute (SMS
                    // pumpers' receipts, thousands a second, are never claimed), sweeping on
                    // every receipt would scan the whole map each time, and the handset reader
                    // would fall behind: the next sweep waits until the map has doubled.
                    self.sweep_at.store(map.len() * 2, Ordering::Relaxed);
                    self.sweeps.fetch_add(1, Ordering::Relaxed);
                }
                map.insert(
                    id.to_string(),
                    Entry::Early {
                        at,
                        stat: stat.to_string(),
                    },
                );
                None
            }
        }
    }

    /// Sweeps of old receipts run so far.
    #[cfg(test)]
    fn sweeps(&self) -> u64 {
        self.sweeps.load(Ordering::Relaxed)
    }

    /// Code-carrying messages still waiting for their receipt.
    pub fn missing(&self) -> u64 {
        lock(&self.map)
            .values()
            .filter(|e| matches!(e, Entry::Awaiting { .. }))
            .count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Delivery {
        Delivery {
            at: Instant::now(),
            message_id: "m1".into(),
            route: Route {
                channel: "sms",
                carrier: "a".into(),
            },
            code: Some("123456".into()),
        }
    }

    #[test]
    fn a_number_serves_one_flow_and_gets_one_code() {
        let slots = Slots::default();
        let mut rx = slots.take(447700900001).expect("free");
        assert!(slots.take(447700900001).is_none(), "in use");
        assert!(slots.busy(447700900001));
        assert_eq!(slots.deliver(447700900001, delivery()), Routed::Code);
        assert_eq!(rx.try_recv().expect("the code").message_id, "m1");
        assert_eq!(slots.deliver(447700900001, delivery()), Routed::Extra);
        assert_eq!(slots.deliver(447700900002, delivery()), Routed::Stray);
        slots.free(447700900001);
        assert!(!slots.busy(447700900001));
    }

    #[test]
    fn receipts_match_in_either_order() {
        let r = Receipts::default();
        let route = delivery().route;
        let t0 = Instant::now();
        assert!(r.claim("a", t0, &route).is_none());
        assert_eq!(r.missing(), 1);
        assert_eq!(
            r.receipt("a", "DELIVRD", t0).expect("matched").stat,
            "DELIVRD"
        );
        assert!(r.receipt("b", "DELIVRD", t0).is_none());
        assert!(r.claim("b", t0, &route).is_some(), "the early receipt");
        assert_eq!(r.missing(), 0);
    }

    #[test]
    fn unclaimed_young_receipts_past_the_bound_are_swept_rarely_and_kept() {
        let r = Receipts::default();
        let route = delivery().route;
        let t0 = Instant::now();
        // An old receipt nobody claims, then three bounds' worth younger than a minute.
        r.receipt("old", "DELIVRD", t0);
        let young = t0 + std::time::Duration::from_secs(120);
        let n = 3 * MAX_UNMATCHED;
        for i in 0..n {
            r.receipt(&i.to_string(), "DELIVRD", young);
        }
        // The map doubles between sweeps: a handful, not one per receipt past the bound.
        assert!(
            (1..=3).contains(&r.sweeps()),
            "{} sweeps for {n} receipts",
            r.sweeps()
        );
        assert!(
            r.claim("old", t0, &route).is_none(),
            "swept: over a minute old"
        );
        assert!(r.claim("0", t0, &route).is_some(), "kept: young");
        assert!(r.claim(&(n - 1).to_string(), t0, &route).is_some());
    }
}
