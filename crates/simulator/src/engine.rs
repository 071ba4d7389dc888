//! The behaviour engine: the one place that decides what happens to each message.
//!
//! Sessions ask it about every accepted message and act on the [`Decision`]; nothing else in the
//! carrier chooses outcomes or timings. In this first form every message is delivered after the
//! configured fixed delay with stat DELIVRD; number ranges, latency distributions, loss and
//! faults plug in here without touching the session code.

use std::time::Duration;

use smpp::receipt::ReceiptState;

use crate::config::DeliveryConfig;

/// What the engine is told about a message.
#[derive(Debug, Clone, Copy)]
pub struct MessageFacts<'a> {
    /// Submitting account.
    pub account: &'a str,
    /// Source address.
    pub source: &'a str,
    /// Destination address.
    pub destination: &'a str,
    /// Number of parts of the whole message this part belongs to.
    pub parts: u8,
}

/// What happens to one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Time from acceptance to the final state (handset delivery and receipt).
    pub deliver_after: Duration,
    /// Final state.
    pub outcome: ReceiptState,
    /// Error code for the receipt's `err:` field and network_error_code.
    pub error_code: u16,
}

/// Decides outcomes and timings.
#[derive(Debug, Clone)]
pub struct Engine {
    delivery: DeliveryConfig,
}

impl Engine {
    /// An engine for this delivery policy.
    pub fn new(delivery: DeliveryConfig) -> Self {
        Self { delivery }
    }

    /// The decision for one accepted message.
    pub fn decide(&self, _facts: &MessageFacts<'_>) -> Decision {
        Decision {
            deliver_after: self.delivery.delay,
            outcome: ReceiptState::Delivered,
            error_code: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_delay_delivers() {
        let e = Engine::new(DeliveryConfig {
            delay: Duration::from_millis(300),
            ..Default::default()
        });
        let d = e.decide(&MessageFacts {
            account: "a",
            source: "s",
            destination: "447700900001",
            parts: 1,
        });
        assert_eq!(d.deliver_after, Duration::from_millis(300));
        assert_eq!(d.outcome, ReceiptState::Delivered);
    }
}
