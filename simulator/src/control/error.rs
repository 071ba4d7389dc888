//! The control plane's one error type: each failure mapped to its HTTP status and a JSON
//! `{"error": "..."}` body that says whose fault it was.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::smsc::network::UnknownCarrier;
use crate::world::events::EVENT_TYPES;

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
    /// The body is over `http.max_body_bytes`: 413.
    #[error("{0}")]
    TooLarge(String),
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
            Error::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Json(serde_json::json!({ "error": message })),
            ),
        }
        .into_response()
    }
}

impl From<JsonRejection> for Error {
    fn from(e: JsonRejection) -> Self {
        // A body cut off at `http.max_body_bytes` is not malformed: say so with its own status
        // (the server counts it).
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return Error::TooLarge(format!(
                "request body too large (http.max_body_bytes): {}",
                e.body_text()
            ));
        }
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
