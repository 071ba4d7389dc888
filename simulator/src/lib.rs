//! carrier-sim: mock SMS carriers that speak SMPP 3.3/3.4/5.0 to real clients.
//!
//! Layers, each a folder whose `mod.rs` says what it is for; each uses only those below it:
//!
//! - [`control`]: the HTTP and WebSocket control plane;
//! - [`smsc`]: the SMPP side (listeners, sessions, carrier operations, receipts, message store);
//! - [`config`]: the configuration file, its validation and schema;
//! - [`world`]: the simulated world (number plan, lookup, behaviour and its engine, voice, events);
//! - [`handsets`]: virtual handsets and their inboxes;
//! - [`fasthash`]: a leaf utility.

pub mod cli;
pub mod config;
pub mod control;
pub mod fasthash;
pub mod handsets;
pub mod smsc;
pub mod world;

pub use config::CarrierConfig;
pub use smsc::carrier::Carrier;
pub use smsc::server::{Listeners, ShutdownReport};
