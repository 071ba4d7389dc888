//! Which number a user verifies: drawn from the population's pool at random or in order, and
//! never one that another verification of the run is using at the moment (the caller says
//! which are busy), so each code read off a handset belongs to exactly one verification.

use rand::RngExt;
use rand_pcg::Pcg64Mcg;

use crate::scenario::{NumberPool, Pick};

/// Random draws tried before a random pick gives up on finding a free number.
const RANDOM_TRIES: usize = 64;
/// Numbers stepped over before a sequential pick gives up.
const SEQUENTIAL_TRIES: u64 = 4096;

/// Picks numbers from one pool.
#[derive(Debug)]
pub struct Picker {
    pool: NumberPool,
    next: u64,
    rng: Pcg64Mcg,
}

impl Picker {
    /// A picker over `pool`, drawing from `rng`.
    pub fn new(pool: NumberPool, rng: Pcg64Mcg) -> Self {
        Self { pool, next: 0, rng }
    }

    /// A number that `busy` says is free, or `None` when none was found (the pool is too small
    /// for the verifications under way).
    pub fn pick(&mut self, busy: impl Fn(u64) -> bool) -> Option<u64> {
        let len = self.pool.len();
        if len == 0 {
            return None;
        }
        match self.pool.pick {
            Pick::Random => (0..RANDOM_TRIES)
                .map(|_| self.pool.nth(self.rng.random_range(0..len)))
                .find(|n| !busy(*n)),
            Pick::Sequential => {
                for _ in 0..SEQUENTIAL_TRIES.min(len) {
                    let n = self.pool.nth(self.next % len);
                    self.next = self.next.wrapping_add(1);
                    if !busy(n) {
                        return Some(n);
                    }
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rand::SeedableRng;

    use super::*;
    use crate::scenario::NumberSource;

    #[test]
    fn sequential_skips_busy_numbers_and_wraps() {
        let pool = NumberPool {
            source: NumberSource::List(Arc::new(vec![11, 12, 13])),
            pick: Pick::Sequential,
        };
        let mut p = Picker::new(pool, Pcg64Mcg::seed_from_u64(1));
        assert_eq!(p.pick(|n| n == 12), Some(11));
        assert_eq!(p.pick(|n| n == 12), Some(13));
        assert_eq!(p.pick(|_| false), Some(11));
        assert_eq!(p.pick(|_| true), None);
    }

    #[test]
    fn random_stays_in_the_prefix_and_avoids_busy_numbers() {
        let pool = NumberPool {
            source: NumberSource::Prefix {
                prefix: 4477009,
                span: 100,
            },
            pick: Pick::Random,
        };
        let mut p = Picker::new(pool, Pcg64Mcg::seed_from_u64(1));
        for _ in 0..200 {
            let n = p.pick(|n| n % 2 == 0).expect("a free number");
            assert!((447_700_900..447_701_000).contains(&n) && n % 2 == 1, "{n}");
        }
    }
}
