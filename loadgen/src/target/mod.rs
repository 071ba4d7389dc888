//! What a run drives and reads: the verification service (the embedded verifier called in
//! process, or any service over HTTP: the reference verifier's `/v1`, a Twilio-Verify-speaking
//! one, or a generic API described by templates: [`adapter`]), the handsets (carrier-sim's
//! in-process feed or its WebSocket stream: [`handsets`]), and the carrier's control plane for
//! the timeline ([`control`]). [`connect`] starts or reaches them as the plan says
//! ([`embedded`] starts the in-process ones) and [`Embedded::shutdown`] stops what it started.
//!
//! Every answer a service gives becomes a [`StartAnswer`] or a [`CheckAnswer`] here, so the
//! flows above never see HTTP or the verifier's types.
//!
//! Layer: uses `scenario`; used by `run`.

pub mod adapter;
pub mod control;
pub mod embedded;
pub mod handsets;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::scenario::{ChannelChoice, NetworkTarget, Plan, ServiceFile, ServicePlan};
use adapter::Adapter;
use control::Control;
use handsets::Handsets;

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

/// The failover a verification's attempts show: the cause the service gave for leaving the
/// first step and the time that added (first step sent → the first step that was not left
/// sent), and why the first step was chosen when it was not simply first.
pub fn failover(attempts: &[Attempt]) -> (Option<(String, Duration)>, Option<String>) {
    let Some(first) = attempts.first() else {
        return (None, None);
    };
    let routed = first.routed.clone();
    let Some(cause) = first.failover_cause.clone() else {
        return (None, routed);
    };
    let settled = attempts
        .iter()
        .find(|a| a.failover_cause.is_none())
        .or(attempts.last())
        .map_or(first.submitted_at, |a| a.submitted_at);
    let added = (settled - first.submitted_at).to_std().unwrap_or_default();
    (Some((cause, added)), routed)
}

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

/// What a run was pointed at, in words, for the reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TargetInfo {
    /// `embedded carrier-sim (...)` or the control plane's URL.
    pub network: String,
    /// `embedded verifier, in-process calls` or the service's kind and URL.
    pub service: String,
    /// `in-process feed` or the WebSocket URL.
    pub handsets: String,
}

/// Everything a run drives and reads.
#[derive(Debug)]
pub struct Targets {
    /// The verification service.
    pub service: Service,
    /// The handsets.
    pub handsets: Handsets,
    /// The carrier's control plane.
    pub control: Control,
    /// What was started in this process.
    pub embedded: Embedded,
    /// In words.
    pub info: TargetInfo,
}

/// What [`connect`] started in this process.
#[derive(Debug, Default)]
pub struct Embedded {
    /// The embedded carrier-sim.
    pub network: Option<simulator::Running>,
    /// The embedded verifier.
    pub verifier: Option<verifier::Running>,
}

/// What the embedded components reported when they stopped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stopped {
    /// carrier-sim's report (receipt account, messages accepted), when embedded.
    pub network: Option<serde_json::Value>,
    /// The verifier's figures, when embedded.
    pub verifier: Option<serde_json::Value>,
}

/// How long the embedded verifier's binds may take to come up.
const BIND_WAIT: Duration = Duration::from_secs(10);

/// Starts (embedded) or reaches (external) what the plan names, and subscribes to the
/// handsets: once this returns, every code delivered is seen.
pub async fn connect(plan: &Plan) -> Result<Targets, String> {
    let service_external = matches!(plan.service, ServicePlan::External(_));
    let (network, control, handsets, network_info) = match &plan.network_target {
        NetworkTarget::Embedded => {
            let cfg = plan
                .network
                .as_ref()
                .ok_or("an embedded network needs [network]")?;
            let sim = embedded::start_network(cfg, service_external).await?;
            let http = sim
                .http_addr()
                .ok_or("the embedded carrier-sim has no control plane")?;
            let control = Control::new(&format!("http://{http}"))?;
            let feed = Handsets::Feed(sim.feed(handsets::filter()));
            let info = format!(
                "embedded carrier-sim ({} carrier{}: {})",
                sim.carriers().len(),
                if sim.carriers().len() == 1 { "" } else { "s" },
                sim.carriers().join(", ")
            );
            (Some(sim), control, feed, info)
        }
        NetworkTarget::External(url) => {
            let control = Control::new(url)?;
            let scale = control
                .time_scale()
                .await
                .map_err(|e| format!("carrier-sim at {url} does not answer: {e}"))?;
            if (scale - plan.time_scale).abs() > 1e-9 {
                return Err(format!(
                    "carrier-sim at {url} runs at time scale {scale}, the scenario at {}: start \
                     it with --time-scale {} or run with --time-scale {scale}",
                    plan.time_scale, plan.time_scale
                ));
            }
            let ws = Handsets::connect(url).await.map_err(|e| e.to_string())?;
            (None, control, ws, format!("carrier-sim at {url}"))
        }
    };
    let handsets_info = match &handsets {
        Handsets::Feed(_) => "in-process feed".to_string(),
        Handsets::Socket(_) => format!("WebSocket {}/v1/events", control.base()),
    };
    let timeout = plan.settings.request_timeout;
    let (service, verifier, service_info) = match &plan.service {
        ServicePlan::Embedded { config, wiring } => {
            let v =
                embedded::start_verifier(config, wiring, network.as_ref(), plan.time_scale).await?;
            wait_for_binds(&v).await?;
            let info = format!(
                "embedded verifier, in-process calls (HTTP also on {})",
                v.http_addr()
            );
            (Service::Local(v.local()), Some(v), info)
        }
        ServicePlan::External(s) => {
            let a = match s.as_ref() {
                ServiceFile::Verifier { url, api_key } => {
                    Adapter::verifier(url, api_key.as_deref(), timeout)?
                }
                ServiceFile::Twilio {
                    url,
                    service_sid,
                    account_sid,
                    auth_token,
                } => Adapter::twilio(
                    url,
                    service_sid,
                    account_sid.as_deref().zip(auth_token.as_deref()),
                    timeout,
                )?,
                ServiceFile::Http(h) => Adapter::from_file(h, timeout)?,
            };
            let info = a.describe();
            (Service::Http(Box::new(a)), None, info)
        }
    };
    Ok(Targets {
        service,
        handsets,
        control,
        embedded: Embedded { network, verifier },
        info: TargetInfo {
            network: network_info,
            service: service_info,
            handsets: handsets_info,
        },
    })
}

async fn wait_for_binds(v: &verifier::Running) -> Result<(), String> {
    let deadline = Instant::now() + BIND_WAIT;
    loop {
        let stats = v.stats();
        if stats.carriers.iter().all(|c| c.binds_up > 0) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let down: Vec<String> = stats
                .carriers
                .iter()
                .filter(|c| c.binds_up == 0)
                .map(|c| c.carrier.clone())
                .collect();
            return Err(format!(
                "the verifier could not bind to {} within {} s",
                down.join(", "),
                BIND_WAIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Embedded {
    /// Stops what [`connect`] started (the verifier first, so it unbinds from a live network)
    /// and returns their reports.
    pub async fn shutdown(self) -> Stopped {
        let verifier = match self.verifier {
            Some(v) => serde_json::to_value(v.shutdown().await).ok(),
            None => None,
        };
        let network = match self.network {
            Some(n) => serde_json::to_value(n.shutdown().await).ok(),
            None => None,
        };
        Stopped { network, verifier }
    }
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
        assert_eq!(f, Some(("step_timeout".into(), Duration::from_secs(3))));
        let (f, _) = failover(&[
            at(0, Some("bind_lost")),
            at(10, Some("throttled")),
            at(5_010, Some("step_timeout")),
        ]);
        assert_eq!(f, Some(("bind_lost".into(), Duration::from_millis(5_010))));
    }
}
