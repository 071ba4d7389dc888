//! The reference verifier's customer block list (`POST /v1/blocklist`), as a run uses it: the
//! numbers of a `recycled_number_owner` population are listed before the load, standing in
//! for the abuse of their previous owners, so the run shows whether the list forgives their
//! new owners. The embedded verifier is reached on its loopback HTTP listener, an external one
//! at its URL; both with the API key `/v1` asks for.

use std::time::Duration;

use serde_json::json;

/// Numbers listed at once, at most (a run lists its pool before the load starts).
pub const MAX_LISTED: u64 = 100_000;

/// A verifier's `/v1/blocklist`.
#[derive(Debug, Clone)]
pub struct BlockList {
    url: String,
    api_key: Option<String>,
    http: reqwest::Client,
}

impl BlockList {
    /// The list of the verifier at `base`, called with `api_key` when it has one.
    pub fn new(base: &str, api_key: Option<&str>) -> Result<Self, String> {
        Ok(Self {
            url: format!("{}/v1/blocklist", base.trim_end_matches('/')),
            api_key: api_key.map(str::to_string),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| format!("HTTP client: {e}"))?,
        })
    }

    /// Lists `number` with `reason`.
    pub async fn add(&self, number: u64, reason: &str) -> Result<(), String> {
        let mut req = self
            .http
            .post(&self.url)
            .json(&json!({ "number": format!("+{number}"), "reason": reason }));
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("POST {}: {e}", self.url))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            let body = resp.text().await.unwrap_or_default();
            Err(format!(
                "POST {}: HTTP {}: {body}",
                self.url,
                status.as_u16()
            ))
        }
    }
}
