//! The HTTP API, one module per resource, over the `flow` and `guard` layers:
//!
//! - [`verifications`]: `POST /v1/verifications`, `POST /v1/verifications/check`,
//!   `GET /v1/verifications/{id}`;
//! - [`decisions`]: `GET /v1/decisions?rule=&verdict=&limit=`;
//! - [`blocklist`]: `GET/POST/DELETE /v1/blocklist`;
//! - [`metrics`]: `GET /metrics` (Prometheus), `GET /v1/stats`, `GET /healthz`;
//! - [`twilio`]: the Twilio Verify v2 subset, a translation of the same calls into Twilio's
//!   form bodies, JSON shapes and error codes.
//!
//! Bodies are read as bytes under a size limit (413 beyond it, counted) and decoded here, so a
//! malformed body is a 400 naming the field, never a panic or a framework's bare message. One
//! error type ([`error::Error`]) answers every refusal. `/v1` asks for an API key when keys
//! are configured (`Authorization: Bearer KEY` or `X-Api-Key`); keys are kept as keyed hashes
//! and never logged.
//!
//! Layer: uses `flow`, `guard`, `carriers`, `metrics`, `otp`, `config`, `support`.

pub(crate) mod blocklist;
pub(crate) mod decisions;
pub(crate) mod error;
pub(crate) mod metrics;
pub(crate) mod twilio;
pub(crate) mod verifications;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;

use crate::flow::Engine;
use crate::metrics::labels::Overload;
use crate::otp::Key;
use error::Error;

/// What every handler reaches.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub engine: Arc<Engine>,
    keys: Arc<ApiKeys>,
}

/// API keys by keyed hash, so the keys themselves are not kept and a lookup does not compare
/// secrets byte by byte.
#[derive(Debug)]
struct ApiKeys {
    mac: Key,
    accounts: HashMap<[u8; 32], String>,
}

impl ApiKeys {
    fn account(&self, key: &str) -> Option<&String> {
        self.accounts
            .get(&self.mac.mac(b"api-key", &[key.as_bytes()]))
    }
}

/// The account calling `/v1`: `None` when no keys are configured (the API is open).
#[derive(Debug)]
pub(crate) struct Caller(pub Option<String>);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        if state.keys.accounts.is_empty() {
            return Ok(Caller(None));
        }
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let key = header("x-api-key")
            .or_else(|| header("authorization").and_then(|a| a.strip_prefix("Bearer ")));
        let Some(key) = key else {
            return Err(Error::Unauthorized(
                "an API key is required: Authorization: Bearer KEY or X-Api-Key".into(),
            ));
        };
        match state.keys.account(key.trim()) {
            Some(account) => Ok(Caller(Some(account.clone()))),
            None => Err(Error::Unauthorized("the API key is not valid".into())),
        }
    }
}

/// The body's bytes, or 413 (counted) / 400.
pub(crate) fn body(engine: &Engine, body: Result<Bytes, BytesRejection>) -> Result<Bytes, Error> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            engine.metrics.overload(Overload::BodyTooLarge);
            Error::TooLarge(engine.cfg.limits.max_body_bytes)
        } else {
            Error::BadRequest {
                field: None,
                message: e.body_text(),
            }
        }
    })
}

/// Every route of the service.
pub(crate) fn router(engine: Arc<Engine>) -> Router {
    let keys = ApiKeys {
        mac: Key::random(),
        accounts: HashMap::new(),
    };
    let accounts = engine
        .cfg
        .api
        .keys
        .iter()
        .map(|k| {
            (
                keys.mac.mac(b"api-key", &[k.key.as_bytes()]),
                k.account.clone(),
            )
        })
        .collect();
    let limit = engine.cfg.limits.max_body_bytes;
    let state = AppState {
        engine,
        keys: Arc::new(ApiKeys { accounts, ..keys }),
    };
    Router::new()
        .merge(verifications::router())
        .merge(decisions::router())
        .merge(blocklist::router())
        .merge(metrics::router())
        .merge(twilio::router())
        .fallback(|| async { Error::NotFound("no such route".into()) })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
