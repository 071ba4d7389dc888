//! Receipts to attempts: a message id (per carrier) names the attempt that sent it. A receipt
//! may reach a receiver before its submit_sm_resp reaches the sender (several binds, see
//! DESIGN.md), so an unknown id is kept for a while as an early receipt and matched when the
//! submit completes. Both maps are swept by age, so ids whose receipts never come, and
//! receipts for messages that are not ours, do not stay.

use smpp::receipt::ReceiptState;

use crate::support::sharded::Sharded;

/// The attempt a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AttemptRef {
    pub id: u128,
    pub round: u32,
    pub pos: u16,
    pub attempt: u16,
}

/// Both maps.
#[derive(Debug, Default)]
pub(crate) struct Correlator {
    expected: Sharded<(u16, String), (u64, AttemptRef)>,
    early: Sharded<(u16, String), (u64, ReceiptState)>,
}

impl Correlator {
    /// A submit was accepted with `message_id`; returns a receipt that came before it.
    pub(crate) fn expect(
        &self,
        carrier: u16,
        message_id: String,
        at: AttemptRef,
        now_ms: u64,
    ) -> Option<ReceiptState> {
        let key = (carrier, message_id);
        if let Some((_, state)) = self.early.shard(&key).remove(&key) {
            return Some(state);
        }
        self.expected.shard(&key).insert(key, (now_ms, at));
        None
    }

    /// A receipt came: its attempt, or `None` (kept as early).
    pub(crate) fn receipt(
        &self,
        carrier: u16,
        message_id: String,
        state: ReceiptState,
        now_ms: u64,
    ) -> Option<AttemptRef> {
        let key = (carrier, message_id);
        if let Some((_, at)) = self.expected.shard(&key).remove(&key) {
            return Some(at);
        }
        self.early.shard(&key).insert(key, (now_ms, state));
        None
    }

    /// Forgets expectations older than `expected_ms` and early receipts older than
    /// `early_ms`; returns how many early receipts were dropped unmatched.
    pub(crate) fn sweep(&self, now_ms: u64, expected_ms: u64, early_ms: u64) -> usize {
        self.expected
            .for_each_shard(|m| m.retain(|_, (at, _)| now_ms.saturating_sub(*at) < expected_ms));
        let mut dropped = 0;
        self.early.for_each_shard(|m| {
            let before = m.len();
            m.retain(|_, (at, _)| now_ms.saturating_sub(*at) < early_ms);
            dropped += before - m.len();
        });
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_and_late_receipts_both_match() {
        let c = Correlator::default();
        let at = AttemptRef {
            id: 1,
            round: 0,
            pos: 0,
            attempt: 0,
        };
        assert_eq!(c.expect(0, "a".into(), at, 0), None);
        assert_eq!(
            c.receipt(0, "a".into(), ReceiptState::Delivered, 1),
            Some(at)
        );
        assert_eq!(
            c.receipt(0, "a".into(), ReceiptState::Delivered, 1),
            None,
            "a duplicate is not matched twice"
        );
        assert_eq!(
            c.receipt(1, "b".into(), ReceiptState::Undeliverable, 2),
            None
        );
        assert_eq!(
            c.expect(1, "b".into(), at, 3),
            Some(ReceiptState::Undeliverable)
        );
        assert_eq!(
            c.sweep(100_000, 10, 10),
            1,
            "the duplicate kept as early is dropped"
        );
    }
}
