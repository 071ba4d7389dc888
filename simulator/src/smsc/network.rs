//! The network: the carriers of one run over one shared [`World`].
//!
//! Carriers are separate SMSCs (own listeners, accounts, stores, receipt queues, throttles,
//! faults and outages), but they share the world: one number plan, one set of virtual handsets,
//! one event stream, one voice channel and one seed, the way operators share a numbering space
//! and subscribers. A message's behaviour comes from the carrier it was submitted to, the
//! account, and the number ranges its destination falls in (see [`crate::world::behaviour`]).
//!
//! The network is what the front door runs and the control plane reads: carriers by name, calls
//! placed through them, the timeline that changes them, and the stats of all of them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::carrier::Carrier;
use super::durable::StateError;
use super::stats::{CarrierStats, HttpCounters, Stats};
use crate::config::{SimConfig, TimelineEntry};
use crate::handsets::{HandsetLimits, Handsets};
use crate::world::World;
use crate::world::calls::CallRecord;
use crate::world::events::{EventBus, EventLimits};
use crate::world::lookup::CarrierStatus;
use crate::world::plan::{NumberPlan, PlanError};
use crate::world::voice::{self, CallError, CallRequest};

/// A carrier name that is not in the network.
#[derive(Debug, thiserror::Error)]
#[error("no carrier named `{name}`; carriers: {known}")]
pub(crate) struct UnknownCarrier {
    name: String,
    known: String,
}

/// A text a handset sends to an ESME (`POST /v1/mo`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoRequest {
    /// The handset's number.
    pub from: String,
    /// Where it is sent (a short code or the service's number).
    pub to: String,
    /// The text.
    pub text: String,
    /// Carrier that delivers it (default: the handset's own carrier).
    pub carrier: Option<String>,
    /// Account it is delivered to (default: the account that last messaged the handset).
    pub account: Option<String>,
}

/// Longest MO text: ten concatenated GSM-7 parts' worth. Longer than one short_message (254
/// octets), it is sent whole in message_payload.
pub(crate) const MAX_MO_CHARS: usize = 1_530;

/// Where an MO message was queued.
#[derive(Debug, serde::Serialize)]
pub(crate) struct MoQueued {
    /// Carrier that delivers it.
    pub carrier: String,
    /// Account whose receivers get it.
    pub account: String,
    /// The handset's number, normalized.
    pub from: String,
    /// Destination as given.
    pub to: String,
}

/// Why an MO message could not be queued.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MoError {
    /// `from` is not a number.
    #[error("from: {0}")]
    BadFrom(crate::world::plan::NumberError),
    /// `text` is empty.
    #[error("text: must not be empty")]
    EmptyText,
    /// `text` is longer than an MO message may be.
    #[error("text: {chars} characters; an MO message has at most {MAX_MO_CHARS}")]
    TextTooLong {
        /// Characters given.
        chars: usize,
    },
    /// The named carrier does not exist.
    #[error(transparent)]
    UnknownCarrier(#[from] UnknownCarrier),
    /// No carrier runs at all.
    #[error("no carrier running")]
    NoCarrier,
    /// The carrier has no such account.
    #[error("carrier `{carrier}` has no account `{account}`")]
    UnknownAccount {
        /// The carrier.
        carrier: String,
        /// The account asked for.
        account: String,
    },
    /// No account was named and none can be inferred.
    #[error(
        "account: the carrier has several accounts and none has messaged this handset; name one"
    )]
    AmbiguousAccount,
}

/// Why a network could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The number plan is invalid.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A carrier's durable state cannot be used.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The carriers of one run and the world they share.
#[derive(Debug)]
pub(crate) struct Network {
    /// What every carrier shares.
    pub world: Arc<World>,
    carriers: BTreeMap<String, Arc<Carrier>>,
    /// The timeline from the file, applied by [`Network::run_timeline`].
    timeline: Vec<TimelineEntry>,
    /// The control plane's connection counters (its server counts, stats report).
    pub http: Arc<HttpCounters>,
    /// The control plane's connection limits.
    pub http_limits: crate::config::HttpConfig,
    /// Where the carriers keep their durable state, if they do.
    pub state_dir: Option<std::path::PathBuf>,
}

impl Network {
    /// Builds the world and its carriers from a loaded config (paths in it already resolved).
    pub fn build(cfg: &SimConfig) -> Result<Arc<Network>, BuildError> {
        let started_at = Utc::now();
        let carrier_cfgs = cfg.carriers();
        let plan = if cfg.ranges.is_empty() {
            NumberPlan::everything_mobile(&carrier_cfgs[0].name)
        } else {
            NumberPlan::build(&cfg.plan_config(), Path::new(""), started_at)?
        };
        let footprint = plan.footprint();
        tracing::info!(
            ranges = plan.ranges().len(),
            prefixes = footprint.prefixes,
            listed_numbers = footprint.listed_numbers,
            attribute_sets = footprint.attribute_sets,
            "number plan built"
        );
        let shutdown = CancellationToken::new();
        let billing = crate::world::billing::Billing::new(
            &plan,
            carrier_cfgs.iter().map(|c| {
                (
                    c.name.as_str(),
                    c.accounts.keys().map(String::as_str).collect(),
                )
            }),
        );
        let world = Arc::new(World {
            seed: cfg.seed,
            time_scale: cfg.time_scale,
            started: tokio::time::Instant::now(),
            plan: Arc::new(plan),
            unknown_numbers: cfg.unknown_numbers,
            has_plan: !cfg.ranges.is_empty(),
            handsets: Arc::new(Handsets::with_limits(HandsetLimits {
                inbox_capacity: cfg.handsets.inbox_capacity,
                max_handsets: cfg.handsets.max_handsets,
                max_entries: cfg.handsets.max_entries,
                max_bytes: cfg.handsets.max_bytes,
            })),
            events: Arc::new(EventBus::with_limits(
                cfg.events.capacity,
                EventLimits {
                    max_subscribers: cfg.events.max_subscribers,
                    max_lags: cfg.events.max_lags,
                },
                shutdown.child_token(),
            )),
            calls: crate::world::calls::Calls::default(),
            billing,
            numbers: crate::world::numbers::NumberOverrides::default(),
            shutdown,
        });
        let state = cfg.state.dir.as_deref().map(|dir| (&cfg.state, dir));
        let mut carriers = BTreeMap::new();
        for c in carrier_cfgs {
            carriers.insert(c.name.clone(), Carrier::open(c, Arc::clone(&world), state)?);
        }
        Ok(Arc::new(Network {
            world,
            state_dir: cfg.state.dir.clone(),
            carriers,
            timeline: cfg.timeline.clone(),
            http: Arc::default(),
            http_limits: cfg.http.clone(),
        }))
    }

    /// A network of this one carrier, every number a reachable mobile on it (unit tests).
    #[cfg(test)]
    pub fn single(cfg: crate::config::CarrierConfig) -> Arc<Network> {
        let mut sim = SimConfig::default();
        sim.carriers.insert(cfg.name.clone(), cfg);
        match Self::build(&sim) {
            Ok(net) => net,
            Err(e) => unreachable!("a plan without ranges cannot fail: {e}"),
        }
    }

    /// A carrier by name.
    pub fn carrier(&self, name: &str) -> Option<&Arc<Carrier>> {
        self.carriers.get(name)
    }

    /// A carrier by name, or an error naming the carriers there are.
    pub fn find(&self, name: &str) -> Result<&Arc<Carrier>, UnknownCarrier> {
        self.carrier(name).ok_or_else(|| UnknownCarrier {
            name: name.to_string(),
            known: self
                .carriers
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Every carrier, by name.
    pub fn carriers(&self) -> impl Iterator<Item = &Arc<Carrier>> {
        self.carriers.values()
    }

    /// Places a call through the named carrier, or the number's own (the first carrier for a
    /// number outside the plan); see [`crate::world::voice`].
    pub fn place_call(&self, req: CallRequest) -> Result<CallRecord, CallError> {
        let to = voice::check(&req)?;
        let resolved = self.world.plan.lookup(&to);
        let carrier = match &req.carrier {
            Some(name) => self
                .carrier(name)
                .ok_or_else(|| CallError::UnknownCarrier(name.clone()))?,
            None => resolved
                .as_ref()
                .and_then(|r| self.carrier(&r.carrier))
                .or_else(|| self.carriers().next())
                .ok_or_else(|| CallError::UnknownCarrier("(none running)".into()))?,
        };
        let route = voice::Route {
            carrier: carrier.name().to_string(),
            down: carrier.is_down(),
            voice: self.world.voice_for(carrier.voice(), resolved.as_ref()),
            occurrence: carrier.next_occurrence(&format!("voice:{to}")),
            stop: carrier.shutdown.clone(),
        };
        voice::place(&self.world, req, to, resolved.as_ref(), route)
    }

    /// Queues a handset's text for an ESME: through the named carrier or the handset's own (the
    /// first carrier for a number outside the plan), to the named account or the one that last
    /// messaged the handset.
    pub fn inject_mo(&self, req: MoRequest) -> Result<MoQueued, MoError> {
        let from = crate::world::plan::parse_number(req.from.trim())
            .map_err(MoError::BadFrom)?
            .to_string();
        if req.text.is_empty() {
            return Err(MoError::EmptyText);
        }
        let chars = req.text.chars().count();
        if chars > MAX_MO_CHARS {
            return Err(MoError::TextTooLong { chars });
        }
        let carrier = match req
            .carrier
            .clone()
            .or_else(|| self.world.plan.lookup(&from).map(|r| r.carrier.to_string()))
        {
            Some(name) => self.find(&name)?,
            None => self.carriers().next().ok_or(MoError::NoCarrier)?,
        };
        let account = match req
            .account
            .clone()
            .or_else(|| carrier.mo_account(&from, &req.to))
        {
            Some(a) if carrier.cfg.accounts.contains_key(&a) => a,
            Some(account) => {
                return Err(MoError::UnknownAccount {
                    carrier: carrier.name().to_string(),
                    account,
                });
            }
            None => return Err(MoError::AmbiguousAccount),
        };
        carrier.queue_mo(&account, &from, &req.to, &req.text);
        Ok(MoQueued {
            carrier: carrier.name().to_string(),
            account,
            from,
            to: req.to,
        })
    }

    /// The stats of every carrier and their totals.
    pub fn stats(&self) -> Stats {
        let carriers: Vec<CarrierStats> = self.carriers().map(|c| c.stats()).collect();
        Stats::of(&self.world, &self.http, carriers)
    }

    /// Applies the timeline until `stop`: each entry at its offset from start, divided by the
    /// time scale.
    pub async fn run_timeline(self: Arc<Self>, stop: CancellationToken) {
        let mut entries = self.timeline.clone();
        entries.sort_by_key(|e| e.at);
        for e in entries {
            let when = self.world.started + crate::world::dist::scale(e.at, self.world.time_scale);
            tokio::select! {
                _ = tokio::time::sleep_until(when) => {}
                _ = stop.cancelled() => return,
            }
            let Some(carrier) = self.carrier(&e.carrier) else {
                continue;
            };
            tracing::info!(carrier = %e.carrier, at = ?e.at, outage = ?e.outage, "timeline entry");
            if !e.change.is_empty()
                && let Err((field, message)) = carrier.apply_patch(&e.change)
            {
                // Validated at load; a merged result can still be refused (outcome sums).
                tracing::warn!(carrier = %e.carrier, %field, %message, "timeline change refused");
            }
            if let Some(d) = e.outage {
                carrier.start_outage(Some(crate::world::dist::scale(d, self.world.time_scale)));
            }
        }
    }
}

impl CarrierStatus for Network {
    fn is_down(&self, carrier: &str) -> bool {
        self.carrier(carrier).is_some_and(|c| c.is_down())
    }
}
