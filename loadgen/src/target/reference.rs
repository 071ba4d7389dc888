//! The reference verifier's routes a run uses besides start and check: its customer block list
//! (`POST /v1/blocklist`: the numbers of a `recycled_number_owner` population are listed before
//! the load, standing in for the abuse of their previous owners, so the run shows whether the
//! list forgives their new owners) and its decision records (`GET /v1/decisions`: the totals
//! of every decision since the start, set against what loadgen saw refused). The embedded
//! verifier is reached on its loopback HTTP listener, an external one at its URL; both with
//! the API key `/v1` asks for.

use std::time::Duration;

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Numbers listed at once, at most (a run lists its pool before the load starts).
pub const MAX_LISTED: u64 = 100_000;

/// What the guard blocked, from its decision totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocks {
    /// `off`, `record_only` or `enforce`.
    pub mode: String,
    /// Blocks that refused, by rule.
    pub enforced: BTreeMap<String, u64>,
    /// Blocks only recorded (`record_only`), by rule.
    pub recorded: BTreeMap<String, u64>,
}

/// A reference verifier's `/v1/blocklist` and `/v1/decisions`.
#[derive(Debug, Clone)]
pub struct Reference {
    base: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl Reference {
    /// The verifier at `base`, called with `api_key` when it has one.
    pub fn new(base: &str, api_key: Option<&str>) -> Result<Self, String> {
        Ok(Self {
            base: base.trim_end_matches('/').to_string(),
            api_key: api_key.map(str::to_string),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| format!("HTTP client: {e}"))?,
        })
    }

    /// Lists `number` with `reason`.
    pub async fn list(&self, number: u64, reason: &str) -> Result<(), String> {
        let url = format!("{}/v1/blocklist", self.base);
        let req = self
            .http
            .post(&url)
            .json(&json!({ "number": format!("+{number}"), "reason": reason }));
        self.call(req, &url).await.map(|_| ())
    }

    /// The guard's mode, and every block since the verifier started by rule (from the totals
    /// of `GET /v1/decisions`): enforced ones, and those only recorded (`record_only`).
    pub async fn blocks(&self) -> Result<Blocks, String> {
        let url = format!("{}/v1/decisions?limit=0", self.base);
        let body = self.call(self.http.get(&url), &url).await?;
        let totals = body
            .get("totals")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("GET {url}: no `totals` in the answer"))?;
        let mut out = Blocks {
            mode: body
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
            ..Blocks::default()
        };
        for t in totals {
            let word = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("");
            if word("verdict") != "block" {
                continue;
            }
            let n = t.get("count").and_then(Value::as_u64).unwrap_or(0);
            let into = if t.get("enforced") == Some(&Value::Bool(true)) {
                &mut out.enforced
            } else {
                &mut out.recorded
            };
            *into.entry(word("rule").to_string()).or_insert(0) += n;
        }
        Ok(out)
    }

    async fn call(&self, mut req: reqwest::RequestBuilder, url: &str) -> Result<Value, String> {
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() {
            Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
        } else {
            Err(format!("{url}: HTTP {}: {body}", status.as_u16()))
        }
    }
}
