//! The SMPP side: carriers as SMSCs.
//!
//! - [`server`]: accept loops (plain and TLS, [`tls`]) with connection caps;
//! - [`session`]: one SMPP session, its bind state machine and every operation;
//!   [`lockout`]: the failed-bind limits its binds go through;
//! - [`carrier`]: one carrier's shared state and the operations sessions perform on it;
//!   [`decide`]: what it decides for a new message; [`delivery`]: what then happens to it;
//! - [`receipts`]: store-and-forward of receipts per account; [`store`]: accepted messages;
//!   [`durable`]: both kept across restarts (`--state-dir`);
//!   [`timers`]: what happens after a delay ([`jobs`]), on one bounded timing wheel per carrier;
//! - [`metrics`]: the counters a carrier keeps; [`stats`]: the figures it reports;
//! - [`network`]: the carriers of one run over their shared world.
//!
//! This layer may use [`crate::config`], [`crate::world`], [`crate::handsets`] and the leaf
//! utilities; only [`crate::control`] and the front door use it.

pub(crate) mod carrier;
pub(crate) mod decide;
pub(crate) mod delivery;
pub(crate) mod durable;
pub(crate) mod jobs;
pub(crate) mod lockout;
pub(crate) mod metrics;
pub(crate) mod network;
pub(crate) mod receipts;
pub(crate) mod server;
pub(crate) mod session;
pub(crate) mod stats;
pub(crate) mod store;
pub(crate) mod timers;
pub(crate) mod tls;
