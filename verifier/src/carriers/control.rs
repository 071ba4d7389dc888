//! The carrier's HTTP control plane, as a client: voice calls (`POST /v1/calls`,
//! `GET /v1/calls/{id}`), number lookup (`GET /v1/lookup/{e164}`, Twilio-Lookup-v2-shaped) and
//! the open-SMS list (`GET /v1/open-sms-numbers`). Only the fields the verifier reads are
//! declared, so extra fields in a carrier's answers do not break it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::support::msisdn::Msisdn;

/// One carrier's control plane.
#[derive(Debug, Clone)]
pub(crate) struct Control {
    base: String,
    http: reqwest::Client,
}

/// What lookup says about a number.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LookupInfo {
    /// Well formed and known.
    pub valid: bool,
    /// ISO 3166 alpha-2.
    pub country: Option<String>,
    /// camelCase line type (`mobile`, `landline`, `premium`, ...).
    pub line_type: Option<String>,
    /// The network that holds the number.
    pub carrier: Option<String>,
    /// The last SIM swap.
    pub last_sim_swap: Option<DateTime<Utc>>,
    /// Ported from another network.
    pub ported: bool,
    /// Reassigned to a new subscriber.
    pub recycled: bool,
}

#[derive(Debug, Deserialize)]
struct LookupBody {
    valid: bool,
    country_code: Option<String>,
    line_type_intelligence: Option<LineTypeBody>,
    sim_swap: Option<SimSwapBody>,
    ported: Option<bool>,
    recycled: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct LineTypeBody {
    #[serde(rename = "type")]
    line_type: Option<String>,
    carrier_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SimSwapBody {
    last_sim_swap: Option<LastSwapBody>,
}

#[derive(Debug, Deserialize)]
struct LastSwapBody {
    last_sim_swap_date: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct OpenSmsBody {
    numbers: Vec<OpenSmsEntry>,
}

#[derive(Debug, Deserialize)]
struct OpenSmsEntry {
    number: String,
}

#[derive(Debug, Deserialize)]
struct CallBody {
    call_id: String,
    status: String,
}

/// Where a call is, as far as the workflow cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallState {
    /// Not ended yet.
    InProgress,
    /// Answered: the code was heard.
    Answered,
    /// Failed, busy or unanswered (the status word).
    Failed(String),
}

impl Control {
    /// A client of the control plane at `base`, sending `token` as a bearer token when given.
    pub(crate) fn new(base: &str, token: Option<&str>, timeout: Duration) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        // Validated with the config; a value that cannot be a header is left out (every call
        // then answers 401, which names the problem).
        if let Some(Ok(mut value)) =
            token.map(|t| reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")))
        {
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(64)
            .default_headers(headers)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, String> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("GET {path}: HTTP {}", resp.status()));
        }
        resp.json().await.map_err(|e| format!("GET {path}: {e}"))
    }

    /// Looks a number up.
    pub(crate) async fn lookup(&self, n: Msisdn) -> Result<LookupInfo, String> {
        let b: LookupBody = self.get(&format!("/v1/lookup/%2B{n}")).await?;
        let lt = b.line_type_intelligence;
        Ok(LookupInfo {
            valid: b.valid,
            country: b.country_code,
            line_type: lt.as_ref().and_then(|l| l.line_type.clone()),
            carrier: lt.and_then(|l| l.carrier_name),
            last_sim_swap: b
                .sim_swap
                .and_then(|s| s.last_sim_swap)
                .and_then(|s| s.last_sim_swap_date),
            ported: b.ported.unwrap_or(false),
            recycled: b.recycled.unwrap_or(false),
        })
    }

    /// The published open-SMS numbers.
    pub(crate) async fn open_sms_numbers(&self) -> Result<Vec<Msisdn>, String> {
        let b: OpenSmsBody = self.get("/v1/open-sms-numbers").await?;
        Ok(b.numbers
            .iter()
            .filter_map(|e| Msisdn::parse(&e.number).ok())
            .collect())
    }

    /// Places a call that reads `text` to `to`; returns the call id.
    pub(crate) async fn place_call(
        &self,
        to: Msisdn,
        from: &str,
        text: &str,
        carrier: Option<&str>,
    ) -> Result<String, String> {
        let resp = self
            .http
            .post(format!("{}/v1/calls", self.base))
            .json(&serde_json::json!({ "to": format!("+{to}"), "from": from, "text": text, "carrier": carrier }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("POST /v1/calls: HTTP {}", resp.status()));
        }
        let b: CallBody = resp.json().await.map_err(|e| e.to_string())?;
        Ok(b.call_id)
    }

    /// Where a call is.
    pub(crate) async fn call_state(&self, call_id: &str) -> Result<CallState, String> {
        let b: CallBody = self.get(&format!("/v1/calls/{call_id}")).await?;
        Ok(match b.status.as_str() {
            "answered" | "completed" => CallState::Answered,
            "queued" | "ringing" => CallState::InProgress,
            other => CallState::Failed(other.to_string()),
        })
    }
}
