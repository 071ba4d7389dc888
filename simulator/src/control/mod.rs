//! The control plane: HTTP and WebSocket, one module per resource.
//!
//! - `GET /healthz`;
//! - [`messages`]: what the carriers accepted; [`handsets`]: a handset's inbox;
//! - [`events`]: the event stream (WebSocket);
//! - [`lookup`]: number intelligence and the open-SMS list; [`calls`]: the voice channel;
//! - [`carriers`]: behaviour in force, run-time changes and outages; [`mo`]: a handset sends
//!   a text;
//! - [`stats`]: `/v1/stats`; [`metrics`]: Prometheus text.
//!
//! Handlers translate HTTP to calls on the layers below and return `Result<_, Error>`: JSON
//! bodies with stable keys, and one [`Error`] type that maps each failure to its status and a
//! JSON `{"error": "..."}` body that says whose fault it was. This layer holds no state and no
//! domain logic of its own; it may use every layer below it.

mod calls;
mod carriers;
mod events;
mod handsets;
mod lookup;
mod messages;
mod metrics;
mod mo;
mod stats;

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::smsc::network::{Network, UnknownCarrier};
use crate::world::events::EVENT_TYPES;

/// Every control-plane route of a network.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(messages::router(Arc::clone(&net)))
        .merge(stats::router(Arc::clone(&net)))
        .merge(metrics::router(Arc::clone(&net)))
        .merge(carriers::router(Arc::clone(&net)))
        .merge(mo::router(Arc::clone(&net)))
        .merge(handsets::router(Arc::clone(&net)))
        .merge(events::router(Arc::clone(&net)))
        .merge(lookup::router(Arc::clone(&net)))
        .merge(calls::router(net))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Why a control-plane request failed; each variant is answered with its status and
/// `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The request is malformed or a value in it is refused: 400.
    #[error("{0}")]
    BadRequest(String),
    /// An event-stream filter is refused: 400, with the valid event types listed.
    #[error("{0}")]
    EventFilter(String),
    /// What the request names does not exist: 404.
    #[error("{0}")]
    NotFound(String),
    /// The service is shutting down: 503.
    #[error("{0}")]
    Unavailable(String),
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let message = self.to_string();
        match self {
            Error::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": message })),
            ),
            Error::EventFilter(_) => (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": message, "valid_types": EVENT_TYPES })),
            ),
            Error::NotFound(_) => (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({ "error": message })),
            ),
            Error::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "error": message })),
            ),
        }
        .into_response()
    }
}

impl From<JsonRejection> for Error {
    fn from(e: JsonRejection) -> Self {
        Error::BadRequest(e.body_text())
    }
}

impl From<QueryRejection> for Error {
    fn from(e: QueryRejection) -> Self {
        Error::BadRequest(e.body_text())
    }
}

impl From<UnknownCarrier> for Error {
    fn from(e: UnknownCarrier) -> Self {
        Error::NotFound(e.to_string())
    }
}

#[cfg(test)]
mod tests;
