//! What a service's answers become, whatever the service: [`StartAnswer`], [`CheckAnswer`],
//! and the [`Attempt`]s of a verification with the [`failover`] they show.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::scenario::ChannelChoice;

/// A start request.
#[derive(Debug, Clone, Copy)]
pub struct StartReq<'a> {
    /// The number, as digits.
    pub to: u64,
    /// The channel asked for.
    pub channel: ChannelChoice,
    /// The user's IP.
    pub client_ip: Option<&'a str>,
    /// The user's device.
    pub device_id: Option<&'a str>,
    /// The app's attestation token.
    pub attestation: Option<&'a str>,
}

/// How a start was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAnswer {
    /// Started (or the pending code re-sent); the id when the service gives one.
    Started {
        /// The verification id.
        id: Option<String>,
    },
    /// Refused on purpose: a fraud rule, a rate limit, overload, a bad request.
    Refused {
        /// The rule or error code (`line_type`, `max_send_attempts`, `http_503`...).
        reason: String,
    },
    /// The service failed to answer (transport error, timeout, an unexpected status).
    Failed {
        /// `start_error`.
        reason: &'static str,
        /// What happened.
        detail: String,
    },
}

/// How a check was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckAnswer {
    /// Approved.
    Approved,
    /// A wrong code: still pending.
    Wrong,
    /// Expired.
    Expired,
    /// Too many checks.
    MaxAttempts,
    /// No such verification (ended or unknown).
    NotFound,
    /// The service failed to answer.
    Failed(String),
}

/// One send of a code, as the service records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `sms` or `voice`.
    pub channel: String,
    /// The carrier.
    pub carrier: String,
    /// When it was sent.
    pub submitted_at: DateTime<Utc>,
    /// Why the workflow left the step.
    pub failover_cause: Option<String>,
    /// Why the step was chosen at start.
    pub routed: Option<String>,
}

/// What failover a verification's attempts show: the cause the service gave for leaving the
/// first step, and the time that added.
pub type Failover = (String, Option<Duration>);

/// The failover a verification's attempts show: the cause the service gave for leaving the
/// first step and the time that added (first step sent → the first step that was not left
/// sent; none when no later step was sent, as when the first step's code arrived after the step
/// was left and the user checked it), and why the first step was chosen when it was not simply
/// first.
pub fn failover(attempts: &[Attempt]) -> (Option<Failover>, Option<String>) {
    let Some(first) = attempts.first() else {
        return (None, None);
    };
    let routed = first.routed.clone();
    let Some(cause) = first.failover_cause.clone() else {
        return (None, routed);
    };
    let added = attempts
        .get(1..)
        .filter(|later| !later.is_empty())
        .map(|later| {
            let settled = later
                .iter()
                .find(|a| a.failover_cause.is_none())
                .or(later.last())
                .map_or(first.submitted_at, |a| a.submitted_at);
            (settled - first.submitted_at).to_std().unwrap_or_default()
        });
    (Some((cause, added)), routed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64, cause: Option<&str>) -> Attempt {
        Attempt {
            channel: "sms".into(),
            carrier: "a".into(),
            submitted_at: DateTime::<Utc>::from_timestamp_millis(ms).expect("a time"),
            failover_cause: cause.map(str::to_string),
            routed: None,
        }
    }

    #[test]
    fn failover_is_the_first_steps_cause_and_the_time_to_the_step_that_held() {
        assert_eq!(failover(&[at(0, None)]), (None, None));
        let (f, _) = failover(&[at(0, Some("step_timeout")), at(3_000, None)]);
        assert_eq!(
            f,
            Some(("step_timeout".into(), Some(Duration::from_secs(3))))
        );
        // Left, but nothing else was sent before the end: failover, with no time added.
        let (f, _) = failover(&[at(0, Some("step_timeout"))]);
        assert_eq!(f, Some(("step_timeout".into(), None)));
        let (f, _) = failover(&[
            at(0, Some("bind_lost")),
            at(10, Some("throttled")),
            at(5_010, Some("step_timeout")),
        ]);
        assert_eq!(
            f,
            Some(("bind_lost".into(), Some(Duration::from_millis(5_010))))
        );
    }
}
