//! Starting (embedded) or reaching (external) what a plan names: [`connect`] gives the
//! [`Targets`]; [`Embedded::shutdown`] stops what it started.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::adapter::Adapter;
use super::control::Control;
use super::embedded;
use super::handsets::{self, Handsets};
use super::reference::Reference;
use super::service::Service;
use crate::scenario::{NetworkTarget, Plan, ServiceFile, ServicePlan};

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
    /// The reference verifier's block list and decisions, when the service is one.
    pub reference: Option<super::reference::Reference>,
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
            let control = Control::new(
                &format!("http://{http}"),
                cfg.http.token.as_ref().map(|t| t.secret()),
            )?;
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
            let token = plan.network_token.as_deref();
            let control = Control::new(url, token)?;
            let scale = control.time_scale().await.map_err(|e| {
                let hint = if e.contains("HTTP 401") {
                    " (loadgen sends the control plane's token given with --network-token, \
                         CARRIER_SIM_CONTROL_TOKEN or target.network_token)"
                } else {
                    ""
                };
                format!("carrier-sim at {url} does not answer: {e}{hint}")
            })?;
            if (scale - plan.time_scale).abs() > 1e-9 {
                return Err(format!(
                    "carrier-sim at {url} runs at time scale {scale}, the scenario at {}: start \
                     it with --time-scale {} or run with --time-scale {scale}",
                    plan.time_scale, plan.time_scale
                ));
            }
            let ws = Handsets::connect(url, token)
                .await
                .map_err(|e| e.to_string())?;
            (None, control, ws, format!("carrier-sim at {url}"))
        }
    };
    let handsets_info = match &handsets {
        Handsets::Feed(_) => "in-process feed".to_string(),
        Handsets::Socket(_) => format!("WebSocket {}/v1/events", control.base()),
    };
    let timeout = plan.settings.request_timeout;
    let (service, verifier, service_info, reference) = match &plan.service {
        ServicePlan::Embedded { config, wiring } => {
            let v =
                embedded::start_verifier(config, wiring, network.as_ref(), plan.time_scale).await?;
            wait_for_binds(&v).await?;
            let info = format!(
                "embedded verifier, in-process calls (HTTP also on {})",
                v.http_addr()
            );
            let key = config.api.keys.first().map(|k| k.key.as_str());
            let list = Reference::new(&format!("http://{}", v.http_addr()), key)?;
            (Service::Local(v.local()), Some(v), info, Some(list))
        }
        ServicePlan::External(s) => {
            let list = match s.as_ref() {
                ServiceFile::Verifier { url, api_key } => {
                    Some(Reference::new(url, api_key.as_deref())?)
                }
                _ => None,
            };
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
            (Service::Http(Box::new(a)), None, info, list)
        }
    };
    Ok(Targets {
        service,
        handsets,
        control,
        reference,
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
