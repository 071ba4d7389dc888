//! The verification service a run drives: the embedded verifier called in process, or a service
//! over HTTP through the [`super::adapter`].

use super::adapter::Adapter;
use super::answers::{Attempt, CheckAnswer, StartAnswer, StartReq};

/// The verification service.
#[derive(Debug)]
pub enum Service {
    /// The embedded verifier, called in process.
    Local(verifier::Local),
    /// A service over HTTP.
    Http(Box<Adapter>),
}

impl Service {
    /// Starts a verification.
    pub async fn start(&self, r: &StartReq<'_>) -> StartAnswer {
        match self {
            Service::Http(a) => a.start(r).await,
            Service::Local(l) => {
                let req = verifier::LocalStart {
                    to: format!("+{}", r.to),
                    channel: Some(r.channel.word().to_string()),
                    client_ip: r.client_ip.map(str::to_string),
                    device_id: r.device_id.map(str::to_string),
                    attestation: r.attestation.map(str::to_string),
                    ..verifier::LocalStart::default()
                };
                match l.start(req).await {
                    Ok(s) => StartAnswer::Started { id: Some(s.id) },
                    Err(e) if matches!(e.status, 400 | 401 | 403 | 429 | 503) => {
                        StartAnswer::Refused {
                            reason: e.rule.unwrap_or(e.code).to_string(),
                        }
                    }
                    Err(e) => StartAnswer::Failed {
                        reason: "start_error",
                        detail: e.to_string(),
                    },
                }
            }
        }
    }

    /// Checks a code, by id when there is one.
    pub async fn check(&self, id: Option<&str>, to: u64, code: &str) -> CheckAnswer {
        match self {
            Service::Http(a) => a.check(id, to, code).await,
            Service::Local(l) => {
                let number = format!("+{to}");
                let by_number = id.is_none().then_some(number.as_str());
                match l.check(id, by_number, code) {
                    Ok(verifier::LocalCheck::Approved) => CheckAnswer::Approved,
                    Ok(verifier::LocalCheck::WrongCode) => CheckAnswer::Wrong,
                    Ok(verifier::LocalCheck::Expired) => CheckAnswer::Expired,
                    Ok(verifier::LocalCheck::MaxAttempts) => CheckAnswer::MaxAttempts,
                    Err(e) if e.status == 404 => CheckAnswer::NotFound,
                    Err(e) => CheckAnswer::Failed(e.to_string()),
                }
            }
        }
    }

    /// Whether the service tells each verification's attempts.
    pub fn has_attempts(&self) -> bool {
        match self {
            Service::Local(_) => true,
            Service::Http(a) => a.has_attempts(),
        }
    }

    /// The attempts of verification `id`.
    pub async fn attempts(&self, id: &str) -> Option<Vec<Attempt>> {
        match self {
            Service::Http(a) => a.attempts(id).await,
            Service::Local(l) => Some(
                l.attempts(id)?
                    .into_iter()
                    .map(|a| Attempt {
                        channel: a.channel.to_string(),
                        carrier: a.carrier,
                        submitted_at: a.submitted_at,
                        failover_cause: a.failover_cause.map(str::to_string),
                        routed: a.routed.map(str::to_string),
                    })
                    .collect(),
            ),
        }
    }
}
