//! What every handler reaches: the engine, the API keys, and the extractors and helpers the
//! resource modules share (the calling account, the size-limited body).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;

use super::error::Error;
use crate::flow::Engine;
use crate::metrics::labels::Overload;
use crate::otp::Key;

/// What every handler reaches.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub engine: Arc<Engine>,
    pub(super) keys: Arc<ApiKeys>,
}

/// API keys by keyed hash, so the keys themselves are not kept and a lookup does not compare
/// secrets byte by byte.
#[derive(Debug)]
pub(crate) struct ApiKeys {
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

impl ApiKeys {
    /// The configured keys, kept as keyed hashes under a fresh key.
    pub(crate) fn new(keys: &[crate::config::ApiKey]) -> Self {
        let mac = Key::random();
        let accounts = keys
            .iter()
            .map(|k| (mac.mac(b"api-key", &[k.key.as_bytes()]), k.account.clone()))
            .collect();
        Self { mac, accounts }
    }
}
