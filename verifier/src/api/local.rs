//! An in-process client of the `/v1` calls, for programs that run the service inside their own
//! process (loadgen's embedded default): start, check, and a verification's attempt record,
//! through the same request checks (`verifications::start_request`, `check_code`,
//! `check_answer`) and the same `flow` calls the HTTP handlers make, without the HTTP hop.
//!
//! Answers carry what the HTTP answers carry: a refusal has the status code, the error code
//! and, for a guard refusal, the rule, exactly as `/v1` would have answered them. What it
//! skips is what only HTTP has: the API keys (the embedding program owns the service) and the
//! body size limit (there is no body).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::Error;
use super::verifications::{StartBody, check_answer, check_code, start_request, target};
use crate::flow::Engine;
use crate::flow::store::parse_id;

/// An in-process client of a running service ([`crate::Running::local`]).
#[derive(Debug, Clone)]
pub struct Local {
    engine: Arc<Engine>,
}

/// A start, as the body of `POST /v1/verifications` would give it.
#[derive(Debug, Clone, Default)]
pub struct LocalStart {
    /// The number, E.164 with or without `+`.
    pub to: String,
    /// `sms`, `voice` or `auto` (none: `auto`).
    pub channel: Option<String>,
    /// The end user's IP address.
    pub client_ip: Option<String>,
    /// The end user's device id.
    pub device_id: Option<String>,
    /// The account the verification is recorded under.
    pub account_id: Option<String>,
    /// Locale of the messages.
    pub locale: Option<String>,
    /// The app's attestation token (what `X-Attestation-Token` carries over HTTP).
    pub attestation: Option<String>,
}

/// A started (or re-sent) verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalStarted {
    /// `VE` and 32 hex digits.
    pub id: String,
    /// The channel of the step in force: `sms` or `voice`.
    pub channel: &'static str,
}

/// A refused call, as `/v1` would have answered it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct LocalRefusal {
    /// The HTTP status `/v1` answers with (400, 403, 404, 429, 503, ...).
    pub status: u16,
    /// The error code of the `/v1` body (`blocked`, `max_send_attempts`, `overloaded`, ...).
    pub code: &'static str,
    /// The guard rule, when a rule refused the start (`line_type`, `sms_pumping`, ...).
    pub rule: Option<&'static str>,
    /// What was refused, in words.
    pub message: String,
}

/// The answer to a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalCheck {
    /// The code was right.
    Approved,
    /// A wrong code; the verification stays pending (`/v1` answers `pending`).
    WrongCode,
    /// The verification had expired.
    Expired,
    /// Too many checks.
    MaxAttempts,
}

/// One send of a verification's code, as `GET /v1/verifications/{id}` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAttempt {
    /// `sms` or `voice`.
    pub channel: &'static str,
    /// The carrier it went through.
    pub carrier: String,
    /// When it was sent (or tried).
    pub submitted_at: DateTime<Utc>,
    /// Receipt state (`DELIVRD`, ...) or call outcome (`answered`, ...).
    pub receipt_status: Option<String>,
    /// When the receipt (or call outcome) came.
    pub receipt_at: Option<DateTime<Utc>>,
    /// Why the workflow left this step (`step_timeout`, `throttled`, ...).
    pub failover_cause: Option<&'static str>,
    /// Why this step was chosen when it was not simply the next (`landline`, `guard_voice`).
    pub routed: Option<&'static str>,
}

impl From<Error> for LocalRefusal {
    fn from(e: Error) -> Self {
        LocalRefusal {
            status: e.status().as_u16(),
            code: e.code(),
            rule: match &e {
                Error::Blocked { rule, .. } => Some(rule.word()),
                _ => None,
            },
            message: e.to_string(),
        }
    }
}

impl Local {
    pub(crate) fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    /// `POST /v1/verifications`: starts a verification (or re-sends the pending one's code).
    pub async fn start(&self, req: LocalStart) -> Result<LocalStarted, LocalRefusal> {
        let body = StartBody {
            to: req.to,
            channel: req.channel,
            client_ip: req.client_ip,
            device_id: req.device_id,
            account_id: req.account_id,
            locale: req.locale,
            attestation_token: req.attestation,
            ..StartBody::default()
        };
        let request = start_request(body, None, None)?;
        let view = self.engine.start(request).await.map_err(Error::from)?;
        Ok(LocalStarted {
            id: view.id,
            channel: view.channel.word(),
        })
    }

    /// `POST /v1/verifications/check` by id (`VE...`) or, without one, by number.
    pub fn check(
        &self,
        id: Option<&str>,
        to: Option<&str>,
        code: &str,
    ) -> Result<LocalCheck, LocalRefusal> {
        let target = target(id, to)?;
        check_code(code)?;
        let (status, _) = check_answer(self.engine.check(target, code, None, None))?;
        Ok(match status {
            "approved" => LocalCheck::Approved,
            "expired" => LocalCheck::Expired,
            "max_attempts" => LocalCheck::MaxAttempts,
            _ => LocalCheck::WrongCode,
        })
    }

    /// The attempts of verification `id` (pending or recently ended), as
    /// `GET /v1/verifications/{id}` lists them; `None` when it is unknown or forgotten.
    pub fn attempts(&self, id: &str) -> Option<Vec<LocalAttempt>> {
        let view = self.engine.view(parse_id(id)?)?;
        Some(
            view.attempts
                .into_iter()
                .map(|a| LocalAttempt {
                    channel: a.channel.word(),
                    carrier: a.carrier,
                    submitted_at: a.submitted_at,
                    receipt_status: a.receipt_status,
                    receipt_at: a.receipt_at,
                    failover_cause: a.failover_cause.map(|c| c.word()),
                    routed: a.routed.map(|c| c.word()),
                })
                .collect(),
        )
    }
}
