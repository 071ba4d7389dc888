//! Virtual users: when they arrive ([`arrival`]: constant, ramp, spike and Poisson models
//! times the phases' rate factors, open loop), who they are and what they do ([`behaviour`]:
//! channel, abandoning, IP and device, reading and typing times, typos, each user on a seeded
//! stream of their own), and which number they verify ([`numbers`]).
//!
//! Layer: uses `scenario`; used by `run`.

pub mod arrival;
pub mod behaviour;
pub mod numbers;
