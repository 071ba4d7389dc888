//! The HTTP API, one module per resource, over the `flow` and `guard` layers:
//!
//! - [`verifications`]: `POST /v1/verifications`, `POST /v1/verifications/check`,
//!   `GET /v1/verifications/{id}`;
//! - [`decisions`]: `GET /v1/decisions?rule=&verdict=&limit=`;
//! - [`blocklist`]: `GET/POST/DELETE /v1/blocklist`;
//! - [`metrics`]: `GET /metrics` (Prometheus), `GET /v1/stats`, `GET /healthz`;
//! - [`state`]: what handlers share (the engine, API keys, the calling account, bodies);
//! - [`twilio`]: the Twilio Verify v2 subset, a translation of the same calls into Twilio's
//!   form bodies, JSON shapes and error codes;
//! - [`local`]: the same `/v1` calls in process (start, check, attempts), for embedders that
//!   skip the HTTP hop (loadgen's embedded default).
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
pub(crate) mod local;
pub(crate) mod metrics;
pub(crate) mod state;
pub(crate) mod twilio;
pub(crate) mod verifications;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;

use crate::flow::Engine;
use error::Error;
use state::{ApiKeys, AppState};

/// Every route of the service.
pub(crate) fn router(engine: Arc<Engine>) -> Router {
    let limit = engine.cfg.limits.max_body_bytes;
    let state = AppState {
        keys: Arc::new(ApiKeys::new(&engine.cfg.api.keys)),
        engine,
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
