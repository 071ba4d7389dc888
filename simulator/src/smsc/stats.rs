//! What a running network reports about itself: per carrier and in total, the receipt account,
//! the message store, connections, outcomes and refusals; the seed and the clock. The control
//! plane serves it as `GET /v1/stats`, and embedders read it from the front door.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::durable::StateStats;
use super::receipts::ReceiptAccount;
use super::store::StoreStats;
use crate::handsets::HandsetStats;
use crate::world::World;
use crate::world::billing::BillingStats;
use crate::world::events::SubscriberStats;

/// One carrier's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarrierStats {
    /// Carrier name.
    pub carrier: String,
    /// True while it is down.
    pub down: bool,
    /// Receipt accounting.
    pub receipts: ReceiptAccount,
    /// True when generated = delivered + expired + overflow + stored.
    pub receipts_balanced: bool,
    /// Message store counters.
    pub store: StoreStats,
    /// Connections open now.
    pub connections_open: u64,
    /// Messages accepted.
    pub messages_accepted: u64,
    /// Messages that reached a handset.
    pub messages_delivered: u64,
    /// Final states by receipt stat.
    pub outcomes: BTreeMap<String, u64>,
    /// Submit refusals by command_status name (every cause: throttles, configured errors,
    /// back-pressure, limits).
    pub refusals: BTreeMap<String, u64>,
    /// Of those, submits refused because the account's receipts backed up past
    /// `receipts.high_water` (answered with `receipts.full_response`).
    pub backpressure_refusals: u64,
    /// Of those, operations refused with ESME_RTHROTTLED because their session held
    /// `session.max_held_responses` responses back already.
    pub window_refusals: u64,
    /// Of those, submits refused because the carrier's timers were full (`store.max_timers`).
    pub timer_refusals: u64,
    /// Timers waiting now (delayed handset deliveries, final states, receipts, MO replies).
    pub timers: usize,
    /// Messages the store evicted before their final state (their receipts were never made).
    pub evicted_pending: u64,
    /// Receipts withheld by simulated loss.
    pub receipts_lost: u64,
    /// Receipts sent twice by design.
    pub receipts_duplicated: u64,
    /// MO messages queued.
    pub mo: u64,
    /// Failed binds and the lockouts they caused.
    pub bind_lockout: BindLockoutStats,
    /// The durable state (`--state-dir`); absent when the carrier keeps everything in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateStats>,
}

/// One carrier's failed binds and lockouts (see `bind_lockout` in the config).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindLockoutStats {
    /// Binds refused for their credentials (ESME_RINVSYSID, ESME_RINVPASWD).
    pub failures: u64,
    /// Source addresses locked out (lockouts started).
    pub address_lockouts: u64,
    /// System_ids guarded against guessing from many addresses (guards started).
    pub system_id_guards: u64,
    /// Binds refused with ESME_RBINDFAIL because their address was locked out.
    pub refused_address_locked: u64,
    /// Binds refused with ESME_RBINDFAIL because their system_id was guarded and their
    /// address had failed against it.
    pub refused_system_id_guarded: u64,
    /// Connections closed after `failures_per_connection` failed binds.
    pub connections_closed: u64,
    /// Addresses locked out now.
    pub locked_addresses: usize,
    /// System_ids guarded now.
    pub guarded_system_ids: usize,
}

/// Counters of the control plane's connections (kept by its server, reported here).
#[derive(Debug, Default)]
pub(crate) struct HttpCounters {
    /// Connections refused at `http.max_connections`.
    pub refused: AtomicU64,
    /// Requests answered 408 for taking longer than `http.request_timeout`.
    pub timed_out: AtomicU64,
    /// Connections answered 408 and closed for not sending a request's headers within
    /// `http.header_timeout` (slow clients; idle keep-alive connections are closed uncounted).
    pub header_timeouts: AtomicU64,
    /// Requests answered 413 for a body over `http.max_body_bytes`.
    pub body_too_large: AtomicU64,
    /// Requests answered 401 for lacking the control token.
    pub unauthorized: AtomicU64,
}

impl HttpCounters {
    /// The counts now.
    pub(crate) fn stats(&self) -> HttpStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        HttpStats {
            refused: load(&self.refused),
            timed_out: load(&self.timed_out),
            header_timeouts: load(&self.header_timeouts),
            body_too_large: load(&self.body_too_large),
            unauthorized: load(&self.unauthorized),
        }
    }
}

/// The control plane's refusals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpStats {
    /// Connections refused (503) because `http.max_connections` were open.
    pub refused: u64,
    /// Requests answered 408 for taking longer than `http.request_timeout`.
    pub timed_out: u64,
    /// Connections answered 408 and closed for not sending a request's headers within
    /// `http.header_timeout`.
    pub header_timeouts: u64,
    /// Requests answered 413 for a body over `http.max_body_bytes`.
    pub body_too_large: u64,
    /// Requests answered 401 for lacking the control token (`http.token`).
    pub unauthorized: u64,
}

/// Voice calls in progress and refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallStats {
    /// Calls in progress now.
    pub active: usize,
    /// Calls refused (503) because as many as the voice channel carries were in progress.
    pub refused: u64,
}

/// A whole network's figures: the totals at the top (so a one-carrier run reads as one
/// carrier), each carrier under `carriers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Name of the first carrier (the only one in a one-carrier run).
    pub carrier: String,
    /// Receipt accounting, all carriers together.
    pub receipts: ReceiptAccount,
    /// True when every carrier's receipts add up.
    pub receipts_balanced: bool,
    /// Message store counters, all carriers together.
    pub store: StoreStats,
    /// Connections open now, all carriers together.
    pub connections_open: u64,
    /// The run's seed.
    pub seed: u64,
    /// Configured durations are divided by this.
    pub time_scale: f64,
    /// Seconds since start, in wall time.
    pub elapsed_secs: f64,
    /// Seconds since start in configured time (wall time times the time scale): what timeline
    /// offsets are measured in.
    pub scenario_elapsed_secs: f64,
    /// Handset counts.
    pub handsets: HandsetStats,
    /// Events published.
    pub events_published: u64,
    /// Event-stream subscribers: open, refused at the cap, closed for lagging.
    pub event_subscribers: SubscriberStats,
    /// The control plane's refusals.
    pub http: HttpStats,
    /// Voice calls in progress now, and those refused because 10,000 were.
    pub calls: CallStats,
    /// What the carriers charged: totals, by carrier, account and range.
    #[serde(default)]
    pub billing: BillingStats,
    /// Per carrier.
    pub carriers: Vec<CarrierStats>,
}

impl Stats {
    /// Totals over `carriers`, with the world's clock and counts.
    pub(crate) fn of(world: &World, http: &HttpCounters, carriers: Vec<CarrierStats>) -> Self {
        let mut receipts = ReceiptAccount::default();
        let mut store = StoreStats::default();
        for c in &carriers {
            receipts.add(&c.receipts);
            store.add(&c.store);
        }
        Stats {
            carrier: carriers
                .first()
                .map(|c| c.carrier.clone())
                .unwrap_or_default(),
            receipts_balanced: carriers.iter().all(|c| c.receipts_balanced),
            receipts,
            store,
            connections_open: carriers.iter().map(|c| c.connections_open).sum(),
            seed: world.seed,
            time_scale: world.time_scale,
            elapsed_secs: world.started.elapsed().as_secs_f64(),
            scenario_elapsed_secs: world.scenario_elapsed().as_secs_f64(),
            handsets: world.handsets.stats(),
            events_published: world.events.published(),
            event_subscribers: world.events.subscriber_stats(),
            calls: CallStats {
                active: world.calls.active.load(Ordering::Relaxed),
                refused: world.calls.refused.load(Ordering::Relaxed),
            },
            http: http.stats(),
            billing: world.billing.stats(),
            carriers,
        }
    }

    /// One carrier's figures by name.
    pub fn carrier(&self, name: &str) -> Option<&CarrierStats> {
        self.carriers.iter().find(|c| c.carrier == name)
    }
}
