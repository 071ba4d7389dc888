//! carrier-sim's control plane, as a run uses it: the scenario's timeline (outages and
//! behaviour changes, `POST /v1/carriers/{name}/outage` and `PATCH /v1/carriers/{name}`), and
//! the carrier's own figures (`GET /v1/stats`: its time scale, to check it against the
//! scenario's), and one number's life events for the fraud personas (a SIM swap before a
//! takeover, a number recycled to a new owner). The same calls serve the embedded carrier (on
//! its loopback control plane) and a running one, so a timeline means the same in both modes.

use std::time::Duration;

use serde_json::{Value, json};

use crate::scenario::TimelineFile;

/// `Authorization: Bearer TOKEN`, marked sensitive so it stays out of debug output.
pub fn bearer(token: &str) -> Result<reqwest::header::HeaderValue, String> {
    let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| "the control-plane token cannot be sent in a header".to_string())?;
    v.set_sensitive(true);
    Ok(v)
}

/// A carrier-sim control plane.
#[derive(Debug, Clone)]
pub struct Control {
    base: String,
    http: reqwest::Client,
}

impl Control {
    /// The control plane at `base` (`http://127.0.0.1:8775`), with its bearer token if it
    /// has one.
    pub fn new(base: &str, token: Option<&str>) -> Result<Self, String> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(t) = token {
            headers.insert(reqwest::header::AUTHORIZATION, bearer(t)?);
        }
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .default_headers(headers)
                .build()
                .map_err(|e| format!("HTTP client: {e}"))?,
        })
    }

    /// Its base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value, String> {
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("HTTP {}: {body}", status.as_u16()))
        }
    }

    /// Whether it answers, and its time scale.
    pub async fn time_scale(&self) -> Result<f64, String> {
        let stats = self
            .call(self.http.get(format!("{}/v1/stats", self.base)))
            .await
            .map_err(|e| format!("{}/v1/stats: {e}", self.base))?;
        stats
            .get("time_scale")
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("{}/v1/stats has no time_scale", self.base))
    }

    /// What the carrier has billed so far and in which currency (`billing.total_cost` and
    /// `billing.currency` of `GET /v1/stats`), when it bills.
    pub async fn billed(&self) -> Option<(String, f64)> {
        let stats = self
            .call(self.http.get(format!("{}/v1/stats", self.base)))
            .await
            .ok()?;
        let currency = stats.pointer("/billing/currency")?.as_str()?.to_string();
        Some((currency, stats.pointer("/billing/total_cost")?.as_f64()?))
    }

    /// A life event of one number at the carrier (`sim-swap`, `recycle`): from now on its
    /// lookup shows it.
    pub async fn number_event(&self, number: u64, event: &str) -> Result<(), String> {
        self.call(
            self.http
                .post(format!("{}/v1/numbers/{number}/{event}", self.base)),
        )
        .await
        .map(|_| ())
        .map_err(|e| format!("POST /v1/numbers/{number}/{event}: {e}"))
    }

    /// Applies one timeline entry: an outage (its duration in scenario time: the carrier
    /// divides it by its time scale) and/or a behaviour change. Returns what was done, for the
    /// report.
    pub async fn apply(&self, t: &TimelineFile) -> Result<String, String> {
        let mut done = Vec::new();
        let carrier = &t.carrier;
        if let Some(change) = t.change.as_ref().filter(|c| !c.is_empty()) {
            let body = serde_json::to_value(change).map_err(|e| e.to_string())?;
            self.call(
                self.http
                    .patch(format!("{}/v1/carriers/{carrier}", self.base))
                    .json(&body),
            )
            .await
            .map_err(|e| format!("PATCH /v1/carriers/{carrier}: {e}"))?;
            done.push(format!("behaviour changed: {body}"));
        }
        if let Some(d) = t.outage {
            let duration = humantime::format_duration(d).to_string();
            self.call(
                self.http
                    .post(format!("{}/v1/carriers/{carrier}/outage", self.base))
                    .json(&json!({ "duration": duration })),
            )
            .await
            .map_err(|e| format!("POST /v1/carriers/{carrier}/outage: {e}"))?;
            done.push(format!("down for {duration}"));
        }
        Ok(done.join("; "))
    }
}
