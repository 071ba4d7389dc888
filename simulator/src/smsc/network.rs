//! The simulated network: the carriers of one run and everything they share.
//!
//! Carriers are separate SMSCs (own listeners, accounts, stores, receipt queues, throttles,
//! faults and outages), but they share one number plan, one set of virtual handsets, one event
//! stream, one voice channel and one seed, the way operators share a numbering space and
//! subscribers. A message's behaviour comes from the carrier it was submitted to, the account,
//! and the number ranges its destination falls in (see [`crate::world::behaviour`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock, Weak};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::{CarrierConfig, SimConfig, UnknownNumbers};
use crate::handsets::Handsets;
use crate::smsc::carrier::Carrier;
use crate::world::behaviour::{BehaviourPatch, Voice};
use crate::world::events::EventBus;
use crate::world::plan::{NumberPlan, PlanError, Resolved};

/// Shared state of a run.
#[derive(Debug)]
pub struct Network {
    /// Seed of every random decision.
    pub seed: u64,
    /// Divides configured durations.
    pub time_scale: f64,
    /// When the run started (wall clock).
    pub started_at: DateTime<Utc>,
    /// When the run started (monotonic; timeline offsets count from here).
    pub started: tokio::time::Instant,
    /// The number plan.
    pub plan: Arc<NumberPlan>,
    /// What happens to numbers outside the plan.
    pub unknown_numbers: UnknownNumbers,
    /// True when the plan came from the file (so unknown numbers can exist).
    pub has_plan: bool,
    /// Virtual handsets.
    pub handsets: Arc<Handsets>,
    /// Event stream.
    pub events: Arc<EventBus>,
    /// Voice calls.
    pub calls: crate::world::voice::Calls,
    /// The timeline from the file, applied by the server once it runs.
    pub timeline: Vec<crate::config::TimelineEntry>,
    carriers: OnceLock<BTreeMap<String, Weak<Carrier>>>,
    /// Cancelled when the run shuts down.
    pub shutdown: CancellationToken,
}

impl Network {
    /// Builds the network and its carriers from a loaded config; `base_dir` resolves relative
    /// paths (number files).
    pub fn build(
        cfg: &SimConfig,
        base_dir: &Path,
    ) -> Result<(Arc<Network>, Vec<Arc<Carrier>>), PlanError> {
        let started_at = Utc::now();
        let carrier_cfgs = cfg.carriers();
        let plan = if cfg.ranges.is_empty() {
            NumberPlan::everything_mobile(&carrier_cfgs[0].name)
        } else {
            NumberPlan::build(&cfg.plan_config(), base_dir, started_at)?
        };
        let shutdown = CancellationToken::new();
        let net = Arc::new(Network {
            seed: cfg.seed,
            time_scale: cfg.time_scale,
            started_at,
            started: tokio::time::Instant::now(),
            plan: Arc::new(plan),
            unknown_numbers: cfg.unknown_numbers,
            has_plan: !cfg.ranges.is_empty(),
            handsets: Arc::new(Handsets::with_limits(
                cfg.handsets.inbox_capacity,
                cfg.handsets.max_handsets,
            )),
            events: Arc::new(EventBus::with_shutdown(
                cfg.events.capacity,
                shutdown.child_token(),
            )),
            calls: crate::world::voice::Calls::default(),
            timeline: cfg.timeline.clone(),
            carriers: OnceLock::new(),
            shutdown,
        });
        let carriers: Vec<Arc<Carrier>> = carrier_cfgs
            .into_iter()
            .map(|c| Carrier::with_network(c, Arc::clone(&net)))
            .collect();
        let by_name = carriers
            .iter()
            .map(|c| (c.cfg.name.clone(), Arc::downgrade(c)))
            .collect();
        // Set exactly once, right here, before anyone else can see the network.
        let _ = net.carriers.set(by_name);
        Ok((net, carriers))
    }

    /// A network holding only this carrier, every number a reachable mobile on it.
    pub fn single(cfg: CarrierConfig) -> Arc<Carrier> {
        let mut sim = SimConfig::default();
        sim.carriers.insert(cfg.name.clone(), cfg);
        match Self::build(&sim, Path::new(".")) {
            Ok((_, mut carriers)) => carriers.remove(0),
            // Without ranges there is no plan to get wrong.
            Err(e) => unreachable!("a plan without ranges cannot fail: {e}"),
        }
    }

    /// A carrier by name, while it runs.
    pub fn carrier(&self, name: &str) -> Option<Arc<Carrier>> {
        self.carriers.get()?.get(name)?.upgrade()
    }

    /// Every running carrier, by name.
    pub fn carriers(&self) -> Vec<Arc<Carrier>> {
        self.carriers
            .get()
            .map(|m| m.values().filter_map(Weak::upgrade).collect())
            .unwrap_or_default()
    }

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

    /// The voice behaviour for a call to `resolved` placed through `carrier`.
    pub fn voice_for(&self, carrier: &Carrier, resolved: Option<&Resolved>) -> Voice {
        let mut v = carrier.voice();
        if let Some(r) = resolved {
            for &i in r.chain.iter().rev() {
                if let Some(p) = self
                    .plan
                    .ranges()
                    .get(i)
                    .and_then(|r| r.config.voice.as_ref())
                {
                    p.apply_to(&mut v);
                }
            }
        }
        v
    }

    /// Seconds since start, scaled back to configured time (what a timeline offset means).
    pub fn scenario_elapsed(&self) -> std::time::Duration {
        self.started.elapsed().mul_f64(self.time_scale)
    }
}

impl crate::world::lookup::CarrierStatus for Network {
    fn is_down(&self, carrier: &str) -> bool {
        self.carrier(carrier).is_some_and(|c| c.is_down())
    }
}
