//! The work a carrier's timers hold (see [`super::timers`]): what happens to an accepted message
//! after a delay, each item carrying what it needs. [`super::delivery`] makes and runs them.

use std::sync::Arc;
use std::time::Duration;

use smpp::receipt::ReceiptState;

use super::receipts::{PendingReceipt, SessionInbox};
use super::store::Slot;

/// Work that waits on a timer (see [`super::timers`]): everything it needs, so running it
/// reads the store only where the record is the truth (its state, its parts).
#[derive(Debug)]
pub(crate) enum Job {
    /// The message (or part) reaches its handset; the handset may reply.
    Handset {
        slot: Slot,
        id: String,
        mo: Option<(Duration, String)>,
    },
    /// The message reaches its final state; its receipt is made.
    Finish {
        slot: Slot,
        id: String,
        fate: Fate,
        origin: Option<Arc<SessionInbox>>,
    },
    /// A receipt held back to arrive out of order.
    Publish {
        receipt: PendingReceipt,
        duplicated: bool,
        /// The duplicate's durable row (0 without `--state-dir`).
        dup_rid: u64,
    },
    /// A handset's MO reply.
    Mo {
        account: String,
        from: String,
        to: String,
        text: String,
    },
}

/// What the engine decided for a message's end (the part of the engine's decision finishing needs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fate {
    pub(crate) outcome: ReceiptState,
    pub(crate) error_code: u16,
    pub(crate) lost: bool,
    pub(crate) duplicated: bool,
    pub(crate) reorder: Option<Duration>,
    /// Receipts scheduled for it at acceptance (see [`super::receipts::ReceiptRouter::schedule`]):
    /// one when its registered_delivery asks for a receipt of this outcome, two when that
    /// receipt is to be duplicated.
    pub(crate) promised: u8,
}
