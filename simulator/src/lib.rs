//! carrier-sim: mock SMS carriers that speak SMPP 3.3/3.4/5.0 to real clients.
//!
//! A [`carrier::Carrier`] holds one carrier's accounts, message store, receipt queues and
//! counters; [`server::run`] serves it on already-bound listeners (plain SMPP, SMPP over TLS,
//! HTTP control plane) until a shutdown future completes. The binary in `main.rs` is a thin shell
//! over [`cli`]. Every message's outcome and timing comes from [`engine`].

pub mod behaviour;
pub mod carrier;
pub mod cli;
pub mod config;
pub mod dist;
pub mod engine;
pub mod events;
pub mod fasthash;
pub mod handsets;
pub mod http;
pub mod lookup;
pub mod metrics;
pub mod network;
pub mod plan;
pub mod receipts;
pub mod server;
pub mod session;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod voice;

pub use carrier::Carrier;
pub use config::CarrierConfig;
pub use server::{Listeners, ShutdownReport};
