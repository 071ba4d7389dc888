//! The simulated world: what the carriers' subscribers and numbers are, and what happens to a
//! message or a call once a carrier has it.
//!
//! - [`plan`]: the number plan (ranges, line types, flags, prices) and [`lookup`] over it,
//!   with the [`numbers`] changed during the run laid over it;
//! - [`billing`]: what the carriers charge for messages and calls;
//! - [`behaviour`]: what a carrier, account or range does to messages and calls, and the
//!   [`engine`] that decides each message from it, drawing from [`dist`]'s seeded streams;
//! - [`throttle`]: token buckets;
//! - [`voice`]: calls that ring, are answered and read a text to the handset, recorded in
//!   [`calls`];
//! - [`events`]: the bus every step of a message or call is published on.
//!
//! [`World`] is what every carrier of a run shares: the plan, the handsets, the event bus, the
//! calls, the seed and the clock. This layer knows nothing of SMPP sessions, listeners or HTTP:
//! it uses only [`crate::handsets`] and the leaf utilities, and everything above it
//! ([`crate::config`], [`crate::smsc`], [`crate::control`]) may use it.

pub(crate) mod behaviour;
pub(crate) mod billing;
pub(crate) mod calls;
pub(crate) mod dist;
pub(crate) mod engine;
pub(crate) mod events;
pub(crate) mod lookup;
pub(crate) mod numbers;
pub(crate) mod plan;
pub(crate) mod throttle;
pub(crate) mod voice;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::handsets::Handsets;
use behaviour::{BehaviourPatch, Voice};
use events::EventBus;
use plan::{NumberPlan, Resolved, UnknownNumbers};

/// What the carriers of one run share, the way operators share a numbering space and
/// subscribers: one number plan, one set of handsets, one event stream, the calls, one seed and
/// one clock.
#[derive(Debug)]
pub(crate) struct World {
    /// Seed of every random decision.
    pub seed: u64,
    /// Divides configured durations.
    pub time_scale: f64,
    /// When the run started (monotonic; timeline offsets count from here).
    pub started: tokio::time::Instant,
    /// The number plan.
    pub plan: Arc<NumberPlan>,
    /// What happens to numbers outside the plan.
    pub unknown_numbers: UnknownNumbers,
    /// True when the plan came from ranges in the file (so unknown numbers can exist).
    pub has_plan: bool,
    /// Virtual handsets.
    pub handsets: Arc<Handsets>,
    /// Event stream.
    pub events: Arc<EventBus>,
    /// Voice calls.
    pub calls: calls::Calls,
    /// What the carriers charged.
    pub billing: billing::Billing,
    /// Numbers changed during the run (SIM swaps, recyclings, ports), as lookup shows them.
    pub numbers: numbers::NumberOverrides,
    /// Cancelled when the run shuts down: ends event streams and calls in progress.
    pub shutdown: CancellationToken,
}

impl World {
    /// Range behaviour patches for a lookup's chain, least specific first (the merge order).
    pub fn range_behaviour<'a>(
        &'a self,
        resolved: &'a Resolved,
    ) -> impl Iterator<Item = &'a BehaviourPatch> + 'a {
        resolved
            .chain
            .iter()
            .rev()
            .filter_map(|&i| self.plan.ranges().get(i)?.config.behaviour.as_ref())
    }

    /// The voice behaviour for a call to `resolved`: the placing carrier's `base`, refined by
    /// each range of the number's chain, least specific first.
    pub fn voice_for(&self, mut base: Voice, resolved: Option<&Resolved>) -> Voice {
        if let Some(r) = resolved {
            for &i in r.chain.iter().rev() {
                if let Some(p) = self
                    .plan
                    .ranges()
                    .get(i)
                    .and_then(|r| r.config.voice.as_ref())
                {
                    p.apply_to(&mut base);
                }
            }
        }
        base
    }

    /// The plan with the run's number changes laid over it (what lookup answers from).
    pub fn numbers(&self) -> numbers::Changed<'_> {
        numbers::Changed {
            plan: &self.plan,
            overrides: &self.numbers,
        }
    }

    /// Time since start, scaled back to configured time (what a timeline offset means).
    pub fn scenario_elapsed(&self) -> std::time::Duration {
        self.started.elapsed().mul_f64(self.time_scale)
    }
}
