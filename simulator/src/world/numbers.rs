//! Number life events: what happened to one number during a run (its SIM swapped, the number
//! recycled to a new subscriber, ported to another network), laid over the plan's answer.
//!
//! The plan says what a number is at the start; a scenario needs to change one number's lookup
//! answer in the middle of a run (a SIM swap just before an account takeover, a number recycled
//! to a new owner). The changes live in a map bounded at [`MAX_OVERRIDES`] numbers: a change to
//! a number not yet in a full map is refused ([`Full`]) and counted, never stored, so memory
//! stays bounded however many numbers a run changes.
//!
//! Only lookup reads the overrides (the messaging hot path never does): they change what a
//! verification service learns about a number, not how the carrier routes it.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use chrono::{DateTime, Utc};

use super::plan::{NumberPlan, Resolved};
use crate::ratelog::Repeated;

/// Most numbers with a change at once.
pub const MAX_OVERRIDES: usize = 1_000_000;

/// One change to a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// Its SIM was swapped at this time.
    SimSwap(DateTime<Utc>),
    /// A new subscriber has the number.
    Recycled,
    /// Ported to another network (named, when known).
    Ported(Option<String>),
}

impl Change {
    /// The word the `number_changed` event carries.
    pub(crate) fn word(&self) -> &'static str {
        match self {
            Change::SimSwap(_) => "sim_swap",
            Change::Recycled => "recycled",
            Change::Ported(_) => "ported",
        }
    }
}

/// What changed for one number, laid over its plan answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Override {
    sim_swap: Option<DateTime<Utc>>,
    recycled: bool,
    ported: bool,
    carrier: Option<String>,
}

/// The map is full: the change was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0} numbers have been changed already, the most carrier-sim keeps: this change to a new number was refused (changes to those numbers are still taken)"
)]
pub(crate) struct Full(pub usize);

/// Every number changed during the run.
#[derive(Debug)]
pub(crate) struct NumberOverrides {
    /// Most numbers kept ([`MAX_OVERRIDES`]).
    capacity: usize,
    map: RwLock<HashMap<Box<str>, Override>>,
    /// Numbers in the map (read without the lock, so lookups skip it while nothing changed).
    len: AtomicUsize,
    /// Changes applied.
    pub applied: AtomicU64,
    /// Changes refused because the map was full.
    pub refused: AtomicU64,
    /// Logs those refusals at most once a minute, with their count.
    pub full_warning: Repeated,
}

impl Default for NumberOverrides {
    fn default() -> Self {
        Self::with_capacity(MAX_OVERRIDES)
    }
}

impl NumberOverrides {
    /// Room for `capacity` numbers.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            map: RwLock::default(),
            len: AtomicUsize::new(0),
            applied: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            full_warning: Repeated::every(std::time::Duration::from_secs(60)),
        }
    }

    /// Records `change` for `number` (E.164 digits).
    pub(crate) fn apply(&self, number: &str, change: &Change) -> Result<(), Full> {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if !map.contains_key(number) && map.len() >= self.capacity {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Full(self.capacity));
        }
        let o = map.entry(number.into()).or_default();
        match change {
            Change::SimSwap(at) => o.sim_swap = Some(*at),
            Change::Recycled => o.recycled = true,
            Change::Ported(carrier) => {
                o.ported = true;
                if carrier.is_some() {
                    o.carrier.clone_from(carrier);
                }
            }
        }
        self.len.store(map.len(), Ordering::Relaxed);
        self.applied.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `r` with the changes made to its number.
    fn lay_over(&self, mut r: Resolved) -> Resolved {
        if self.len.load(Ordering::Relaxed) == 0 {
            return r;
        }
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = map.get(r.number.as_str()) {
            if o.sim_swap.is_some() {
                r.sim_swap = o.sim_swap;
            }
            r.recycled |= o.recycled;
            r.ported |= o.ported;
            if let Some(c) = &o.carrier {
                r.carrier = c.as_str().into();
            }
        }
        r
    }

    /// Numbers changed now.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

/// Where lookup reads what a number is.
pub trait Numbers {
    /// Everything known about `digits` (E.164 digits), or `None` outside the plan.
    fn resolve(&self, digits: &str) -> Option<Resolved>;
}

impl Numbers for NumberPlan {
    fn resolve(&self, digits: &str) -> Option<Resolved> {
        self.lookup(digits)
    }
}

/// The plan with the run's changes laid over it: what lookup answers from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Changed<'a> {
    /// The plan.
    pub plan: &'a NumberPlan,
    /// The changes.
    pub overrides: &'a NumberOverrides,
}

impl Numbers for Changed<'_> {
    fn resolve(&self, digits: &str) -> Option<Resolved> {
        self.plan.lookup(digits).map(|r| self.overrides.lay_over(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_lay_over_the_plan_and_a_recycling_swaps_no_sim() {
        let plan = NumberPlan::everything_mobile("alpha");
        let o = NumberOverrides::default();
        let changed = Changed {
            plan: &plan,
            overrides: &o,
        };
        let before = changed.resolve("447700900001").expect("in plan");
        assert!(!before.recycled && before.sim_swap.is_none());
        o.apply("447700900001", &Change::Recycled).unwrap();
        let r = changed.resolve("447700900001").unwrap();
        assert!(r.recycled);
        assert_eq!(r.sim_swap, None, "recycling is not a SIM swap");
        let at = Utc::now();
        o.apply("447700900001", &Change::SimSwap(at)).unwrap();
        o.apply("447700900001", &Change::Ported(Some("beta".into())))
            .unwrap();
        let r = changed.resolve("447700900001").unwrap();
        assert_eq!(r.sim_swap, Some(at));
        assert!(r.ported && r.recycled);
        assert_eq!(&*r.carrier, "beta");
        assert_eq!(changed.resolve("447700900002").unwrap(), before_of(&plan));
        assert_eq!(o.len(), 1);
    }

    #[test]
    fn a_full_map_refuses_new_numbers_and_counts_them() {
        let o = NumberOverrides::with_capacity(2);
        o.apply("1", &Change::Recycled).unwrap();
        o.apply("2", &Change::Recycled).unwrap();
        assert_eq!(o.apply("3", &Change::Recycled), Err(Full(2)));
        assert!(
            o.apply("1", &Change::SimSwap(Utc::now())).is_ok(),
            "known numbers still change"
        );
        assert_eq!(o.refused.load(Ordering::Relaxed), 1);
        assert_eq!(o.len(), 2);
    }

    fn before_of(plan: &NumberPlan) -> Resolved {
        plan.lookup("447700900002").unwrap()
    }
}
