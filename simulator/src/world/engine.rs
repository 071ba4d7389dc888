//! The behaviour engine: the one place that decides what happens to each message.
//!
//! Sessions ask the carrier to accept a message; the carrier resolves the message's behaviour
//! (carrier, account and number-range patches merged) and calls [`decide`] with a random stream
//! seeded from the run's seed, the carrier, the destination and how many messages that
//! destination has had before. Every draw is made in a fixed order whether it is used or not,
//! so changing one probability in a file does not reshuffle unrelated decisions, and the same
//! seed and file give the same decisions however sessions interleave.
//!
//! Line types and flags act before the configured mix: a number that cannot take SMS (a
//! landline, say) gets UNDELIV with GSM MAP error 11 (teleservice not provisioned) and an
//! absent subscriber gets EXPIRED with error 27 (absent subscriber), in both cases with nothing
//! on the handset, because that is what real networks report for them.

use std::time::Duration;

use rand::Rng;
use smpp::receipt::ReceiptState;

use crate::world::behaviour::Behaviour;
use crate::world::dist::{self, chance};

/// GSM MAP error: teleservice not provisioned (the number cannot receive SMS).
pub const ERR_NOT_SMS_CAPABLE: u16 = 11;
/// GSM MAP error: absent subscriber.
pub const ERR_ABSENT_SUBSCRIBER: u16 = 27;

/// What the engine is told about a message besides its behaviour.
#[derive(Debug, Clone, Copy)]
pub struct MessageFacts {
    /// The destination can receive SMS (by line type).
    pub sms_capable: bool,
    /// The destination is an absent subscriber.
    pub absent: bool,
    /// Divides every drawn duration.
    pub time_scale: f64,
}

/// What happens to one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Delay before the submit response.
    pub submit_latency: Duration,
    /// A submit-time refusal (command_status), if any.
    pub refusal: Option<u32>,
    /// Final state.
    pub outcome: ReceiptState,
    /// Error code for `err:` and network_error_code.
    pub error_code: u16,
    /// When (after acceptance) the handset gets the message; `None` when it never does.
    pub handset_after: Option<Duration>,
    /// When (after acceptance) the message reaches its final state and the receipt is made.
    pub receipt_after: Duration,
    /// No receipt will ever be sent.
    pub receipt_lost: bool,
    /// The receipt is sent twice.
    pub receipt_duplicated: bool,
    /// Extra hold of the receipt that makes it arrive out of order.
    pub receipt_reorder: Option<Duration>,
    /// The handset replies (after its delivery) with this delay and text.
    pub mo_reply: Option<(Duration, String)>,
}

/// Decides one message from its resolved behaviour and its random stream.
pub fn decide<R: Rng + ?Sized>(b: &Behaviour, facts: &MessageFacts, rng: &mut R) -> Decision {
    let scale = |d: Duration| dist::scale(d, facts.time_scale);
    // Fixed draw order; see the module header.
    let submit_latency = scale(b.submit_latency.sample(rng));
    let refusal_draw: f64 = crate::world::dist::unit(rng);
    let outcome_draw: f64 = crate::world::dist::unit(rng);
    let handset_latency = scale(b.handset_latency.sample(rng));
    let receipt_latency = scale(b.receipt_latency.sample(rng));
    let lost = chance(rng, b.loss);
    let duplicated = chance(rng, b.duplicate_receipts);
    let reordered = chance(rng, b.out_of_order);
    let reorder_delay = scale(b.reorder_delay.sample(rng));
    let replies = chance(rng, b.mo_reply);
    let mo_latency = scale(b.mo_latency.sample(rng));

    let mut acc = 0.0;
    let refusal = b
        .submit_errors
        .iter()
        .find(|e| {
            acc += e.probability;
            refusal_draw < acc
        })
        .map(|e| e.status.0);

    let (outcome, error_code) = if !facts.sms_capable {
        (ReceiptState::Undeliverable, ERR_NOT_SMS_CAPABLE)
    } else if facts.absent {
        (ReceiptState::Expired, ERR_ABSENT_SUBSCRIBER)
    } else {
        let mut acc = 0.0;
        let chosen = b
            .outcomes
            .iter()
            .find(|o| {
                acc += o.probability;
                outcome_draw < acc
            })
            // Rounding can leave the sum a hair under 1: the last outcome takes the rest.
            .or(b.outcomes.last());
        chosen.map_or((ReceiptState::Delivered, 0), |o| (o.stat.0, o.err))
    };
    let delivered = outcome == ReceiptState::Delivered;
    Decision {
        submit_latency,
        refusal,
        outcome,
        error_code,
        handset_after: delivered.then_some(handset_latency),
        receipt_after: receipt_latency,
        receipt_lost: lost,
        receipt_duplicated: duplicated,
        receipt_reorder: reordered.then_some(reorder_delay),
        mo_reply: (delivered && replies).then(|| (mo_latency, b.mo_text.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::behaviour::{BehaviourPatch, Outcome, Stat, Status, SubmitError};
    use crate::world::dist::Distribution;

    const FACTS: MessageFacts = MessageFacts {
        sms_capable: true,
        absent: false,
        time_scale: 1.0,
    };

    fn behaviour(toml_text: &str) -> Behaviour {
        let patch: BehaviourPatch = toml::from_str(toml_text).unwrap();
        patch.validate().unwrap();
        let mut b = Behaviour::default();
        patch.apply_to(&mut b);
        b
    }

    #[test]
    fn default_delivers_at_once() {
        let d = decide(&Behaviour::default(), &FACTS, &mut dist::stream(1, &[b"x"]));
        assert_eq!(d.outcome, ReceiptState::Delivered);
        assert_eq!(d.handset_after, Some(Duration::ZERO));
        assert_eq!(d.receipt_after, Duration::ZERO);
        assert!(d.refusal.is_none() && !d.receipt_lost && d.mo_reply.is_none());
    }

    #[test]
    fn outcome_mix_follows_probabilities() {
        let b = behaviour(
            r#"outcomes = [
                { stat = "DELIVRD", probability = 0.7 },
                { stat = "UNDELIV", err = 1, probability = 0.2 },
                { stat = "EXPIRED", probability = 0.1 },
            ]"#,
        );
        let n = 100_000;
        let mut counts = [0u32; 3];
        for i in 0..n {
            let d = decide(&b, &FACTS, &mut dist::stream(9, &[&u64::to_le_bytes(i)]));
            match d.outcome {
                ReceiptState::Delivered => counts[0] += 1,
                ReceiptState::Undeliverable => {
                    assert_eq!(d.error_code, 1);
                    assert!(d.handset_after.is_none());
                    counts[1] += 1
                }
                ReceiptState::Expired => counts[2] += 1,
                other => panic!("{other:?}"),
            }
        }
        let share = |c: u32| f64::from(c) / n as f64;
        assert!((share(counts[0]) - 0.7).abs() < 0.01, "{counts:?}");
        assert!((share(counts[1]) - 0.2).abs() < 0.01, "{counts:?}");
        assert!((share(counts[2]) - 0.1).abs() < 0.01, "{counts:?}");
    }

    #[test]
    fn submit_errors_loss_and_duplicates_follow_probabilities() {
        let mut b = Behaviour {
            submit_errors: vec![SubmitError {
                status: Status(0x08),
                probability: 0.05,
            }],
            loss: 0.1,
            duplicate_receipts: 0.02,
            ..Default::default()
        };
        b.outcomes = vec![Outcome {
            stat: Stat(ReceiptState::Delivered),
            err: 0,
            probability: 1.0,
        }];
        let n = 100_000u64;
        let (mut refused, mut lost, mut dup) = (0, 0, 0);
        for i in 0..n {
            let d = decide(&b, &FACTS, &mut dist::stream(3, &[&i.to_le_bytes()]));
            refused += u32::from(d.refusal == Some(0x08));
            lost += u32::from(d.receipt_lost);
            dup += u32::from(d.receipt_duplicated);
        }
        let share = |c: u32| f64::from(c) / n as f64;
        assert!((share(refused) - 0.05).abs() < 0.005, "{refused}");
        assert!((share(lost) - 0.1).abs() < 0.006, "{lost}");
        assert!((share(dup) - 0.02).abs() < 0.003, "{dup}");
    }

    #[test]
    fn line_type_and_absence_override_the_mix() {
        let b = Behaviour::default();
        let landline = MessageFacts {
            sms_capable: false,
            ..FACTS
        };
        let d = decide(&b, &landline, &mut dist::stream(1, &[b"l"]));
        assert_eq!(
            (d.outcome, d.error_code, d.handset_after),
            (ReceiptState::Undeliverable, ERR_NOT_SMS_CAPABLE, None)
        );
        let absent = MessageFacts {
            absent: true,
            ..FACTS
        };
        let d = decide(&b, &absent, &mut dist::stream(1, &[b"a"]));
        assert_eq!(
            (d.outcome, d.error_code),
            (ReceiptState::Expired, ERR_ABSENT_SUBSCRIBER)
        );
    }

    #[test]
    fn time_scale_divides_durations_and_same_stream_same_decision() {
        let b = Behaviour {
            handset_latency: Distribution::fixed_secs(10),
            receipt_latency: Distribution::fixed_secs(20),
            ..Default::default()
        };
        let fast = MessageFacts {
            time_scale: 10.0,
            ..FACTS
        };
        let d = decide(&b, &fast, &mut dist::stream(1, &[b"t"]));
        assert_eq!(d.handset_after, Some(Duration::from_secs(1)));
        assert_eq!(d.receipt_after, Duration::from_secs(2));
        let lognormal: Distribution =
            serde_json::from_str(r#"{"kind":"lognormal","median":"2s","p99":"15s"}"#).unwrap();
        let b = Behaviour {
            handset_latency: lognormal.clone(),
            receipt_latency: lognormal,
            ..Default::default()
        };
        let one = decide(&b, &FACTS, &mut dist::stream(5, &[b"447700900001"]));
        let two = decide(&b, &FACTS, &mut dist::stream(5, &[b"447700900001"]));
        assert_eq!(one, two);
    }
}
