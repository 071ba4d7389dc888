//! What a run drives and reads: the verification service (the embedded verifier called in
//! process, or any service over HTTP: the reference verifier's `/v1`, a Twilio-Verify-speaking
//! one, or a generic API described by templates: [`adapter`]), the handsets (carrier-sim's
//! in-process feed or its WebSocket stream: [`handsets`]), and the carrier's control plane for
//! the timeline ([`control`]). [`connect`] starts or reaches them as the plan says
//! ([`embedded`] starts the in-process ones) and [`Embedded::shutdown`] stops what it started.
//! [`answers`] holds what a service's answers become, [`service`] the service itself;
//! [`reference`] reaches the reference verifier's block list and decision records.
//!
//! Every answer a service gives becomes a [`StartAnswer`] or a [`CheckAnswer`] here, so the
//! flows above never see HTTP or the verifier's types.
//!
//! Layer: uses `scenario`; used by `run`.

pub mod adapter;
pub mod answers;
pub mod connect;
pub mod control;
pub mod embedded;
pub mod handsets;
pub mod reference;
pub mod service;

pub use answers::{Attempt, CheckAnswer, StartAnswer, StartReq, failover};
pub use connect::{Embedded, Stopped, TargetInfo, Targets, connect};
pub use service::Service;
