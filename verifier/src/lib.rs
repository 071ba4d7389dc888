//! The reference verification service: OTP start/check with expiry, attempt and send limits,
//! a channel workflow with failover (SMS on carrier A, SMS on carrier B, voice) and a fraud guard.
//!
//! It is the system under test that `loadgen run` drives by default. It reaches carriers through
//! the shared ESME client in the `smpp` crate. The service itself is built by a later issue; this
//! crate exists now so the workspace has its final shape and the dependency graph is fixed.
