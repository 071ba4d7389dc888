//! Test harness: carrier-sim embedded through its front door (`simulator::start` on
//! `Binds::loopback()`), running `scenarios/alpha-beta.toml` with a time scale, and the verifier
//! started through its own front door on port 0, sending through both carriers. Helpers speak
//! HTTP to both, and read codes from the handsets' inboxes, as a tester would.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use simulator::SimConfig;
use verifier::config::{Channel, StepConfig};
use verifier::{Running, Verifier, VerifierConfig};

/// Alpha's mobiles (`447700900xxx`); the open-SMS numbers are 100 to 109.
pub const MOBILE: &str = "+447700900123";
/// A landline on beta.
pub const LANDLINE: &str = "+442079460123";
/// An international premium-rate number.
pub const PREMIUM: &str = "+882123456789";

/// The carrier network and the verifier.
#[derive(Debug)]
pub struct Testbed {
    pub sim: simulator::Running,
    pub verifier: Running,
    pub api: String,
    pub control: String,
    pub http: reqwest::Client,
}

/// `scenarios/alpha-beta.toml` with `time_scale`; without its outage unless `outage`.
pub fn alpha_beta(time_scale: f64, outage: bool) -> SimConfig {
    alpha_beta_with("", time_scale, outage)
}

/// The same with `extra` TOML (more ranges, say) appended to the file.
pub fn alpha_beta_with(extra: &str, time_scale: f64, outage: bool) -> SimConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/alpha-beta.toml");
    let text = std::fs::read_to_string(&path).expect("scenarios/alpha-beta.toml") + "\n" + extra;
    let mut cfg = SimConfig::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    cfg.time_scale = time_scale;
    if !outage {
        cfg.timeline.clear();
    }
    for c in cfg.carriers.values_mut() {
        // The verifier unbinds at shutdown; nobody should wait 5 s for a straggler.
        c.session.shutdown_grace = Duration::from_millis(300);
    }
    cfg
}

/// The verifier's config for a running network: alpha then beta for SMS (step timeout
/// `step`), then voice; sweeps every 100 ms.
pub fn verifier_config(sim: &simulator::Running, step: Duration) -> VerifierConfig {
    let control = format!("http://{}", sim.http_addr().expect("control plane"));
    let mut cfg = VerifierConfig::from_flags(
        "127.0.0.1:0",
        &["alpha", "beta"].map(|name| {
            format!(
                "smpp://verifier:secret@{}?control={control}&name={name}",
                sim.smpp_addr(name).expect("listening")
            )
        }),
    )
    .expect("flags");
    cfg.workflow = vec![
        StepConfig {
            channel: Channel::Sms,
            carrier: "alpha".into(),
            timeout: step,
        },
        StepConfig {
            channel: Channel::Sms,
            carrier: "beta".into(),
            timeout: step,
        },
        StepConfig {
            channel: Channel::Voice,
            carrier: "beta".into(),
            timeout: step * 2,
        },
    ];
    cfg.limits.sweep_interval = Duration::from_millis(100);
    for c in &mut cfg.carriers {
        c.response_timeout = Duration::from_secs(2);
    }
    cfg
}

impl Testbed {
    /// alpha-beta at time scale 20 without the outage, and a verifier with `tweak` applied.
    pub async fn start(tweak: impl FnOnce(&mut VerifierConfig)) -> Self {
        Self::with(alpha_beta(20.0, false), Duration::from_secs(5), tweak).await
    }

    /// `sim` and a verifier with step timeout `step` and `tweak` applied.
    pub async fn with(
        sim: SimConfig,
        step: Duration,
        tweak: impl FnOnce(&mut VerifierConfig),
    ) -> Self {
        let sim = simulator::start(sim, simulator::Binds::loopback())
            .await
            .expect("carrier-sim starts");
        let mut cfg = verifier_config(&sim, step);
        tweak(&mut cfg);
        let verifier = Verifier::start(cfg)
            .await
            .unwrap_or_else(|e| panic!("verifier starts: {e}"));
        let tb = Self {
            api: format!("http://{}", verifier.http_addr()),
            control: format!("http://{}", sim.http_addr().expect("control plane")),
            sim,
            verifier,
            http: reqwest::Client::new(),
        };
        tb.wait_for_binds().await;
        tb
    }

    /// Waits until every carrier has a bind up (they come up in the background).
    pub async fn wait_for_binds(&self) {
        eventually("binds up", || async {
            self.verifier
                .stats()
                .carriers
                .iter()
                .all(|c| c.binds_up > 0)
        })
        .await;
    }

    pub async fn shutdown(self) {
        let _ = tokio::time::timeout(Duration::from_secs(20), self.verifier.shutdown()).await;
        let _ = tokio::time::timeout(Duration::from_secs(20), self.sim.shutdown()).await;
    }

    /// POST a JSON body to the verifier; status and JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        send(self.http.post(format!("{}{path}", self.api)).json(body)).await
    }

    /// POST raw bytes with a content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let url = format!("{}{path}", self.api);
        send(
            self.http
                .post(url)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    /// GET from the verifier.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.http.get(format!("{}{path}", self.api))).await
    }

    /// Starts a verification (`channel` or the default) and returns status and body.
    pub async fn start_verification(&self, to: &str, extra: Value) -> (u16, Value) {
        let mut body = json!({ "to": to });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        self.post("/v1/verifications", &body).await
    }

    pub async fn check(&self, to: &str, code: &str) -> (u16, Value) {
        self.post(
            "/v1/verifications/check",
            &json!({ "to": to, "code": code }),
        )
        .await
    }

    /// The control plane of carrier-sim.
    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.control));
        if let Some(b) = body {
            r = r.json(&b);
        }
        send(r).await
    }

    /// Changes a carrier's behaviour at run time (`PATCH /v1/carriers/{name}`).
    pub async fn patch_carrier(&self, name: &str, patch: Value) {
        let path = format!("/v1/carriers/{name}");
        let (status, body) = self
            .control(reqwest::Method::PATCH, &path, Some(patch))
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// The texts in a handset's inbox on `channel`, oldest first.
    pub async fn inbox(&self, to: &str, channel: &str) -> Vec<String> {
        let (_, body) = self
            .control(
                reqwest::Method::GET,
                &format!(
                    "/v1/handsets/{}/messages?channel={channel}&limit=100",
                    to.trim_start_matches('+')
                ),
                None,
            )
            .await;
        body["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|e| e["text"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits for the `n`-th message on `channel` to reach `to`, and returns the code in it.
    pub async fn code(&self, to: &str, channel: &str, n: usize) -> String {
        let mut found = None;
        for _ in 0..400 {
            let texts = self.inbox(to, channel).await;
            if let Some(t) = texts.get(n - 1) {
                found = Some(code_in(t));
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        found.unwrap_or_else(|| panic!("no message {n} on {channel} reached {to}"))
    }

    /// A verification's record.
    pub async fn record(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/verifications/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// One sample of `/metrics`.
    pub async fn metric(&self, series: &str) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.api))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .parse::<f64>()
                    .ok()
            })
            .map(|v| v as u64)
            .unwrap_or_else(|| panic!("no sample {series} in /metrics:\n{text}"))
    }

    /// Decision records of `rule`.
    pub async fn decisions(&self, rule: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/v1/decisions?rule={rule}")).await;
        assert_eq!(status, 200, "{body}");
        body["decisions"].as_array().cloned().unwrap_or_default()
    }
}

/// Sends a request; its status and JSON answer (`null` when the body is not JSON).
pub async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The code in a message: the first run of digits and spaces holding at least 4 digits (SMS
/// put the code first; voice spells it `1 2 3 4 5 6`).
pub fn code_in(text: &str) -> String {
    let mut best = String::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once('.')) {
        if c.is_ascii_digit() {
            run.push(c);
        } else if c == ' ' && !run.is_empty() {
            continue;
        } else {
            if run.len() >= 4 && best.is_empty() {
                best = run.clone();
            }
            run.clear();
        }
    }
    best
}

/// Polls `cond` until true (at most 20 s).
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..800 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}
