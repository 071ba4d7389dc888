//! The reference verification service: OTP start/check with expiry, attempt and send limits,
//! a channel workflow with failover (SMS on carrier A, SMS on carrier B, voice), a fraud guard,
//! and a Twilio-Verify-compatible API. It is the system under test that `loadgen run` drives by
//! default, and reaches carriers through the shared ESME client in the `smpp` crate and their
//! HTTP control planes.
//!
//! # The front door
//!
//! [`Verifier::start`] takes a [`VerifierConfig`] (from a file with [`VerifierConfig::load`],
//! from flags with [`VerifierConfig::from_flags`], or built in code) and returns a [`Running`]
//! service: its addresses, [stats](Running::stats), and [`Running::shutdown`], which returns
//! the [`Report`]. The `verifier` binary, the tests and loadgen start it this way.
//! [`Running::local`] gives an in-process client ([`Local`]) of the `/v1` calls, for programs
//! that embed the service and skip the HTTP hop (loadgen's embedded default).
//!
//! ```
//! use simulator::config::{AccountConfig, CarrierConfig};
//! use simulator::{Binds, EventFilter, EventKind, SimConfig};
//! use verifier::{Verifier, VerifierConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! // A carrier: one account, every number a reachable mobile.
//! let mut carrier = CarrierConfig::default();
//! carrier.accounts.insert("verifier".into(), AccountConfig::new("secret"));
//! let mut net = SimConfig::default();
//! net.carriers.insert(carrier.name.clone(), carrier);
//! let sim = simulator::start(net, Binds::loopback()).await?;
//! let mut handsets = sim.feed(EventFilter::parse(None, Some("handset_delivered"), None)?);
//!
//! // The verifier, sending through it.
//! let url = format!(
//!     "smpp://verifier:secret@{}?control=http://{}",
//!     sim.smpp_addr("default").expect("listening"),
//!     sim.http_addr().expect("control plane"),
//! );
//! let running = Verifier::start(VerifierConfig::from_flags("127.0.0.1:0", &[url])?).await?;
//! let api = format!("http://{}", running.http_addr());
//! let http = reqwest::Client::new();
//!
//! // Start a verification; the code reaches the handset.
//! let started: serde_json::Value = http
//!     .post(format!("{api}/v1/verifications"))
//!     .json(&serde_json::json!({ "to": "+447700900123", "channel": "sms" }))
//!     .send().await?.json().await?;
//! assert_eq!(started["status"], "pending");
//! let event = handsets.next().await.expect("a delivery");
//! let EventKind::HandsetDelivered { text, .. } = event.kind else { unreachable!() };
//! let code: String = text.chars().take_while(char::is_ascii_digit).collect();
//!
//! // Check it.
//! let checked: serde_json::Value = http
//!     .post(format!("{api}/v1/verifications/check"))
//!     .json(&serde_json::json!({ "to": "+447700900123", "code": code }))
//!     .send().await?.json().await?;
//! assert_eq!(checked["status"], "approved");
//!
//! let report = running.shutdown().await;
//! assert_eq!(report.stats.counters.approved, 1);
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Layers
//!
//! Each layer is a folder whose `mod.rs` says what it is for; each uses only those below it,
//! and no module imports one that imports it back (`tests/layers.rs` checks both):
//!
//! 1. `api/`: HTTP, one module per resource, the Twilio translation, one error type;
//! 2. `flow/`: verifications, the workflow and failover, the store, deadlines, receipts;
//! 3. `guard/`: the fraud rules, block lists, bounded windows, attestation, decisions;
//! 4. `carriers/`: ESME pools, breakers, the control-plane client, the lookup cache;
//! 5. `otp/`: code generation, keyed hashes, HOTP/TOTP;
//! 6. `metrics/`: counters and the Prometheus text;
//! 7. [`config`]: the config file, flags, validation, JSON Schema;
//! 8. `support/`: packed numbers, fixed-memory tables, sharded maps, the clock.
//!
//! `app` (the front door), `tls` and [`cli`] sit on top.

mod api;
mod app;
mod carriers;
pub mod cli;
pub mod config;
mod flow;
mod guard;
mod metrics;
mod otp;
mod support;
mod tls;

pub use api::local::{Local, LocalAttempt, LocalCheck, LocalRefusal, LocalStart, LocalStarted};
pub use app::{CarrierState, Listening, Report, Running, StartError, Stats, Verifier};
pub use carriers::breaker::BreakerState;
pub use config::{ConfigError, VerifierConfig};
pub use metrics::{SendCount, Snapshot};

/// Issues an app-attestation token for `device_id`, valid `ttl_secs`, signed with `key`: what
/// `verifier attest` prints, for tests and load generators standing in for an app.
pub fn attestation_token(key: &str, device_id: &str, ttl_secs: u64) -> String {
    guard::attest::issue(key, device_id, ttl_secs, chrono::Utc::now().timestamp())
}
