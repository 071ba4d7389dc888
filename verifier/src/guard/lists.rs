//! The block lists, after RingCaptcha's: the customer's own entries (the API), numbers
//! published on open-SMS websites (fetched from the carriers' `/v1/open-sms-numbers`), and the
//! heuristic list the rules feed. What is checked is the *effective* list: entries past their
//! expiry are gone, and a number that lookup shows recycled, ported, moved to another network
//! or given a new SIM since it was listed is forgiven (it has a new owner, who did nothing).
//!
//! An entry keeps a snapshot of the number's lookup when it was listed (taken at its first
//! check when no lookup was at hand then), which is what "since it was listed" compares with.
//! Each list is bounded (`max_entries`); a full list refuses new entries (counted).

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::carriers::control::LookupInfo;
use crate::support::clock::{from_wall, wall};
use crate::support::msisdn::Msisdn;
use crate::support::sharded::Sharded;

/// Which list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    /// The customer's own entries.
    Customer,
    /// Published on open-SMS websites.
    OpenSms,
    /// Fed by the heuristics.
    Heuristic,
}

impl Source {
    pub(crate) const ALL: [Source; 3] = [Source::Customer, Source::OpenSms, Source::Heuristic];

    pub(crate) fn word(self) -> &'static str {
        match self {
            Source::Customer => "customer",
            Source::OpenSms => "open_sms",
            Source::Heuristic => "heuristic",
        }
    }

    pub(crate) fn from_word(w: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.word() == w)
    }
}

/// What lookup said when a number was listed.
#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    ported: bool,
    recycled: bool,
    carrier: Option<String>,
}

#[derive(Debug, Clone)]
struct Entry {
    listed_ms: u64,
    expires_ms: Option<u64>,
    reason: String,
    snapshot: Option<Snapshot>,
}

/// One entry as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Listed {
    /// `+` and the digits.
    pub number: String,
    /// Which list.
    pub source: Source,
    /// Why it is listed.
    pub reason: String,
    /// When.
    pub listed_at: DateTime<Utc>,
    /// When it goes (none: until removed).
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the entry holds the number's lookup as it was when listed, which later
    /// lookups are compared with to forgive a new owner; false until it has one (lookup was
    /// off or unavailable when it was listed: it is taken at the number's next check).
    pub lookup_snapshot: bool,
}

/// Why a listed number was let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forgiven {
    pub source: Source,
    pub why: &'static str,
}

/// A hit on the effective list.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    pub source: Source,
    pub reason: String,
    pub listed_at: DateTime<Utc>,
}

/// The three lists.
#[derive(Debug)]
pub(crate) struct Lists {
    entries: Sharded<Msisdn, [Option<Entry>; 3]>,
    counts: [AtomicUsize; 3],
    max_entries: usize,
}

impl Lists {
    pub(crate) fn new(max_entries: usize) -> Self {
        Self {
            entries: Sharded::default(),
            counts: Default::default(),
            max_entries,
        }
    }

    /// Lists `n` on `source`; false when that list is full. Re-listing refreshes the entry
    /// (and keeps its first listing time and snapshot; one that had none takes `lookup`).
    pub(crate) fn add(
        &self,
        source: Source,
        n: Msisdn,
        reason: String,
        now_ms: u64,
        expires_ms: Option<u64>,
        lookup: Option<&LookupInfo>,
    ) -> bool {
        let i = source as usize;
        let mut shard = self.entries.shard(&n);
        let slots = shard.entry(n).or_default();
        match &mut slots[i] {
            Some(e) => {
                e.expires_ms = expires_ms;
                e.reason = reason;
                if e.snapshot.is_none() {
                    e.snapshot = lookup.map(snapshot);
                }
            }
            empty => {
                if self.counts[i].load(Ordering::Relaxed) >= self.max_entries {
                    return false;
                }
                self.counts[i].fetch_add(1, Ordering::Relaxed);
                *empty = Some(Entry {
                    listed_ms: now_ms,
                    expires_ms,
                    reason,
                    snapshot: lookup.map(snapshot),
                });
            }
        }
        true
    }

    /// Removes `n` from `source`; whether it was there.
    pub(crate) fn remove(&self, source: Source, n: Msisdn) -> bool {
        let mut shard = self.entries.shard(&n);
        let Some(slots) = shard.get_mut(&n) else {
            return false;
        };
        let was = slots[source as usize].take().is_some();
        if was {
            self.counts[source as usize].fetch_sub(1, Ordering::Relaxed);
        }
        if slots.iter().all(Option::is_none) {
            shard.remove(&n);
        }
        was
    }

    /// The effective list's answer for `n`: the first list that still holds it, and the
    /// entries forgiven on the way (removed).
    pub(crate) fn check(
        &self,
        n: Msisdn,
        lookup: Option<&LookupInfo>,
        now_ms: u64,
    ) -> (Option<Hit>, Vec<Forgiven>) {
        let mut forgiven = Vec::new();
        let mut hit = None;
        let mut shard = self.entries.shard(&n);
        let Some(slots) = shard.get_mut(&n) else {
            return (None, forgiven);
        };
        for source in Source::ALL {
            let i = source as usize;
            let Some(e) = &mut slots[i] else { continue };
            let gone = if e.expires_ms.is_some_and(|x| x <= now_ms) {
                Some(None)
            } else {
                match (lookup, &e.snapshot) {
                    (Some(l), Some(s)) => new_owner(s, l, e.listed_ms).map(Some),
                    (Some(l), None) => {
                        e.snapshot = Some(snapshot(l));
                        None
                    }
                    _ => None,
                }
            };
            match gone {
                Some(why) => {
                    slots[i] = None;
                    self.counts[i].fetch_sub(1, Ordering::Relaxed);
                    if let Some(why) = why {
                        forgiven.push(Forgiven { source, why });
                    }
                }
                None if hit.is_none() => {
                    hit = Some(Hit {
                        source,
                        reason: e.reason.clone(),
                        listed_at: wall(e.listed_ms),
                    });
                }
                None => {}
            }
        }
        if slots.iter().all(Option::is_none) {
            shard.remove(&n);
        }
        (hit, forgiven)
    }

    /// `n`'s entry on `source`, when it is there and has not expired.
    pub(crate) fn get(&self, source: Source, n: Msisdn, now_ms: u64) -> Option<Listed> {
        let shard = self.entries.shard(&n);
        let e = shard.get(&n)?[source as usize].as_ref()?;
        e.expires_ms
            .is_none_or(|x| x > now_ms)
            .then(|| listed(n, source, e))
    }

    /// Entries (of `source`, or all), at most `limit`, sorted by number.
    pub(crate) fn list(&self, source: Option<Source>, limit: usize, now_ms: u64) -> Vec<Listed> {
        let mut out = Vec::new();
        self.entries.for_each_shard(|shard| {
            for (n, slots) in shard.iter() {
                for s in Source::ALL {
                    if source.is_some_and(|x| x != s) {
                        continue;
                    }
                    if let Some(e) = &slots[s as usize]
                        && e.expires_ms.is_none_or(|x| x > now_ms)
                    {
                        out.push(listed(*n, s, e));
                    }
                }
            }
        });
        out.sort_by(|a, b| a.number.cmp(&b.number));
        out.truncate(limit);
        out
    }

    /// Entries per list.
    pub(crate) fn counts(&self) -> [usize; 3] {
        [0, 1, 2].map(|i| self.counts[i].load(Ordering::Relaxed))
    }
}

fn listed(n: Msisdn, source: Source, e: &Entry) -> Listed {
    Listed {
        number: format!("+{n}"),
        source,
        reason: e.reason.clone(),
        listed_at: wall(e.listed_ms),
        expires_at: e.expires_ms.map(wall),
        lookup_snapshot: e.snapshot.is_some(),
    }
}

fn snapshot(l: &LookupInfo) -> Snapshot {
    Snapshot {
        ported: l.ported,
        recycled: l.recycled,
        carrier: l.carrier.clone(),
    }
}

/// Why `now` says the number changed hands since `then` (listed at `listed_ms`), if it does.
fn new_owner(then: &Snapshot, now: &LookupInfo, listed_ms: u64) -> Option<&'static str> {
    if now.recycled && !then.recycled {
        Some("recycled since listed")
    } else if now.ported != then.ported || (then.carrier.is_some() && now.carrier != then.carrier) {
        Some("ported since listed")
    } else if now
        .last_sim_swap
        .is_some_and(|at| from_wall(at) > listed_ms)
    {
        Some("new SIM since listed")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Msisdn {
        Msisdn::parse(s).unwrap()
    }

    #[test]
    fn entries_expire_and_recycled_numbers_are_forgiven() {
        let l = Lists::new(10);
        let mobile = LookupInfo {
            valid: true,
            carrier: Some("alpha".into()),
            ..LookupInfo::default()
        };
        assert!(l.add(
            Source::Customer,
            n("447700900001"),
            "fraud".into(),
            0,
            Some(1000),
            Some(&mobile)
        ));
        assert!(l.add(
            Source::Heuristic,
            n("447700900002"),
            "repeat".into(),
            0,
            None,
            Some(&mobile)
        ));
        assert_eq!(
            l.check(n("447700900001"), None, 10).0.unwrap().source,
            Source::Customer
        );
        assert!(
            l.check(n("447700900001"), None, 1000).0.is_none(),
            "expired"
        );
        let recycled = LookupInfo {
            recycled: true,
            ..mobile.clone()
        };
        let (hit, forgiven) = l.check(n("447700900002"), Some(&recycled), 10);
        assert!(hit.is_none());
        assert_eq!(
            forgiven,
            vec![Forgiven {
                source: Source::Heuristic,
                why: "recycled since listed"
            }]
        );
        assert!(
            l.check(n("447700900002"), Some(&mobile), 11).0.is_none(),
            "removed for good"
        );
        assert_eq!(l.counts(), [0, 0, 0]);
    }

    #[test]
    fn lists_are_bounded() {
        let l = Lists::new(1);
        assert!(l.add(Source::Customer, n("1"), String::new(), 0, None, None));
        assert!(!l.add(Source::Customer, n("2"), String::new(), 0, None, None));
        assert!(
            l.add(Source::Customer, n("1"), "again".into(), 0, None, None),
            "refresh"
        );
        assert!(l.remove(Source::Customer, n("1")));
        assert!(l.add(Source::Customer, n("2"), String::new(), 0, None, None));
    }
}
