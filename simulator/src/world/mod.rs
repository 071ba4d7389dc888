//! The simulated world: what the carriers' subscribers and numbers are, and what happens to a
//! message or a call once a carrier has it.
//!
//! - [`plan`]: the number plan (ranges, line types, flags, prices) and [`lookup`] over it;
//! - [`behaviour`]: what a carrier, account or range does to messages and calls, and the
//!   [`engine`] that decides each message from it, drawing from [`dist`]'s seeded streams;
//! - [`throttle`]: token buckets;
//! - [`voice`]: calls that ring, are answered and read a text to the handset;
//! - [`events`]: the bus every step of a message or call is published on.
//!
//! This layer knows nothing of SMPP sessions, listeners or HTTP. It may use [`crate::handsets`]
//! and the leaf utilities; everything above it ([`crate::config`], [`crate::smsc`],
//! [`crate::control`]) may use it.

pub mod behaviour;
pub mod dist;
pub mod engine;
pub mod events;
pub mod lookup;
pub mod plan;
pub mod throttle;
pub mod voice;
