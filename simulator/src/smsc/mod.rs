//! The SMPP side: carriers as SMSCs.
//!
//! - [`server`]: accept loops (plain and TLS, [`tls`]) with connection caps;
//! - [`session`]: one SMPP session, its bind state machine and every operation;
//! - [`carrier`]: one carrier's shared state and the operations sessions perform on it;
//! - [`receipts`]: store-and-forward of receipts per account; [`store`]: accepted messages;
//! - [`metrics`]: the counters a carrier keeps;
//! - [`network`]: the carriers of one run over one shared world.
//!
//! This layer may use [`crate::config`], [`crate::world`], [`crate::handsets`] and the leaf
//! utilities; only [`crate::control`] and the front door use it.

pub mod carrier;
pub mod metrics;
pub mod network;
pub mod receipts;
pub mod server;
pub mod session;
pub mod store;
pub mod tls;
