//! A hash map split into independently locked shards, so concurrent requests for different
//! keys rarely wait for each other (no global lock per request).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

const SHARDS: usize = 64;

/// A map of `K` to `V` in [`SHARDS`] mutex-guarded shards.
#[derive(Debug)]
pub(crate) struct Sharded<K, V> {
    shards: Vec<Mutex<HashMap<K, V>>>,
}

impl<K: Hash + Eq, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    /// The locked shard holding `key`.
    pub(crate) fn shard(&self, key: &K) -> MutexGuard<'_, HashMap<K, V>> {
        let i = (super::key_of(key) as usize) % SHARDS;
        lock(&self.shards[i])
    }

    /// Each shard in turn, locked (for sweeps and listings; never on the request path).
    pub(crate) fn for_each_shard(&self, mut f: impl FnMut(&mut HashMap<K, V>)) {
        for s in &self.shards {
            f(&mut lock(s));
        }
    }
}

/// Locks a mutex, taking the data even if a panicking thread poisoned it: the maps hold plain
/// records that stay consistent between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
