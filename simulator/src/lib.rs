//! carrier-sim: mock SMS and voice carriers that speak SMPP 3.3/3.4/5.0 to real clients, with
//! per-number-range behaviour, virtual handsets, voice, number lookup and an HTTP + WebSocket
//! control plane.
//!
//! # The front door
//!
//! [`start`] takes a [`SimConfig`] (loaded from a file with [`SimConfig::load`], or built in
//! code) and [`Binds`] (where to listen) and returns a [`Running`] simulator: each carrier's
//! SMPP (and TLS) addresses and the control plane's, an in-process [feed](Running::feed) of the
//! events the WebSocket stream carries (handset deliveries, calls, receipts...), its
//! [stats](Running::stats), and [`Running::shutdown`], which returns the [`Report`]. The
//! `carrier-sim` binary and the integration tests start carriers this way, and so do the crates
//! that embed it.
//!
//! ```
//! use simulator::config::{AccountConfig, CarrierConfig};
//! use simulator::{Binds, EventFilter, EventKind, SimConfig};
//! use smpp::client::{Client, ClientConfig, Target};
//! use smpp::rusmpp::{pdus::SubmitSm, types::OctetString, values::EsmClass};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! // One carrier, `default`, with one account; every number is a reachable mobile.
//! let mut carrier = CarrierConfig::default();
//! carrier.accounts.insert("test".into(), AccountConfig::new("secret"));
//! let mut config = SimConfig::default();
//! config.carriers.insert(carrier.name.clone(), carrier);
//!
//! // Every listener on 127.0.0.1 port 0.
//! let running = simulator::start(config, Binds::loopback()).await?;
//! let mut handsets = running.feed(EventFilter::parse(None, Some("handset_delivered"), None)?);
//!
//! // Submit one message with the shared ESME client.
//! let smsc = running.smpp_addr("default").expect("listening");
//! let (client, _events) =
//!     Client::connect(Target::Tcp(smsc.to_string()), ClientConfig::new("test", "secret")).await?;
//! let sm = SubmitSm::builder()
//!     .source_addr(smpp::pdu::c_string::<21>("VERIFY"))
//!     .destination_addr(smpp::pdu::c_string::<21>("447700900123"))
//!     .esm_class(EsmClass::from(0)) // rusmpp's default encodes as 0x08
//!     .short_message(OctetString::from_vec(b"Your code is 123456".to_vec())?)
//!     .build();
//! let submitted = client.submit_sm(sm).await?;
//! assert_eq!(submitted.status, smpp::rusmpp::CommandStatus::EsmeRok);
//!
//! // The handset gets it.
//! let event = handsets.next().await.expect("a delivery");
//! let EventKind::HandsetDelivered { to, text, .. } = event.kind else { unreachable!() };
//! assert_eq!((to.as_str(), text.as_str()), ("447700900123", "Your code is 123456"));
//!
//! client.unbind().await?;
//! let report = running.shutdown().await;
//! assert_eq!(report.total.messages_accepted, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Layers
//!
//! Inside, the crate is built in layers, each a folder whose `mod.rs` says what it is for; each
//! uses only those below it, and no module imports one that imports it back:
//!
//! 1. `control/`: the HTTP and WebSocket control plane, one module per resource;
//! 2. `smsc/`: the SMPP side: listeners, sessions, carrier operations, receipt routing, the
//!    message store, and the network of carriers;
//! 3. [`config`]: the configuration file, its validation and JSON Schema;
//! 4. `world/`: the simulated world: number plan, lookup, behaviour and its engine,
//!    distributions, throttles, voice, the event bus;
//! 5. `handsets/`: virtual handsets and their inboxes;
//! 6. `fasthash` and `ratelog`: leaf utilities.
//!
//! `app` (the front door) and [`cli`] (the command line over it) sit on top.

mod app;
pub mod cli;
pub mod config;
mod control;
mod fasthash;
mod handsets;
mod ratelog;
mod smsc;
mod world;

pub use app::{
    Binds, Listening, NoSuchCarrier, Report, Restart, Running, Service, StartError, start,
};
pub use config::SimConfig;
pub use handsets::{Channel, HandsetStats};
pub use smsc::durable::{StateError, StateStats};
pub use smsc::receipts::ReceiptAccount;
pub use smsc::server::CarrierReport;
pub use smsc::stats::{CarrierStats, Stats};
pub use smsc::store::StoreStats;
pub use smsc::tls::{TlsError, acceptor as tls_acceptor_from_pem, acceptor_from as tls_acceptor};
pub use world::billing::{BillingStats, BillingTotals, OUTSIDE_PLAN, VOICE_ACCOUNT};
pub use world::events::{EVENT_TYPES, Event, EventFilter, EventKind, FilterError, Subscription};
