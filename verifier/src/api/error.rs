//! The API's one error type. Every refusal is a variant; [`IntoResponse`] answers it in the
//! `/v1` shape (`{"error", "code", "field"}`, or `{"status": "blocked", "reason", "rule"}`), and
//! [`Twilio`] answers the same error in Twilio's shape (`{code, message, more_info, status}`)
//! with Twilio's error codes, so the compatible endpoints share the errors and differ only in
//! how they are written.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::flow::StartError;
use crate::guard::RefusalKind;
use crate::metrics::labels::Rule;

/// Everything a request can be refused for.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// A body or parameter that cannot be used (400).
    #[error("{message}")]
    BadRequest {
        field: Option<String>,
        message: String,
    },
    /// Missing or wrong credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// A fraud-guard rule refused the start (403, 429 or 401).
    #[error("{reason}")]
    Blocked {
        rule: Rule,
        reason: String,
        kind: RefusalKind,
    },
    /// SMS to a landline (400).
    #[error("{0}")]
    LandlineSms(String),
    /// No such resource, or it has ended (404).
    #[error("{0}")]
    NotFound(String),
    /// Too many sends to the number (429).
    #[error("{0}")]
    MaxSends(String),
    /// Too many checks (429 in Twilio's shape; `/v1` reports it as a check status).
    #[error("max check attempts reached")]
    MaxChecks,
    /// The body is larger than allowed (413).
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// At capacity (503).
    #[error("{0}")]
    Overloaded(String),
}

impl Error {
    pub(crate) fn bad(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::BadRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } | Error::LandlineSms(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Blocked { kind, .. } => match kind {
                RefusalKind::Forbidden => StatusCode::FORBIDDEN,
                RefusalKind::TooMany => StatusCode::TOO_MANY_REQUESTS,
                RefusalKind::Unauthorized => StatusCode::UNAUTHORIZED,
            },
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MaxSends(_) | Error::MaxChecks => StatusCode::TOO_MANY_REQUESTS,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub(crate) fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { .. } => "invalid_request",
            Error::Unauthorized(_) => "unauthorized",
            Error::Blocked { .. } => "blocked",
            Error::LandlineSms(_) => "sms_to_landline",
            Error::NotFound(_) => "not_found",
            Error::MaxSends(_) => "max_send_attempts",
            Error::MaxChecks => "max_check_attempts",
            Error::TooLarge(_) => "body_too_large",
            Error::Overloaded(_) => "overloaded",
        }
    }

    /// Twilio's error code for this refusal.
    fn twilio_code(&self) -> u32 {
        match self {
            Error::BadRequest { .. } | Error::TooLarge(_) => 60200,
            Error::Unauthorized(_) => 20003,
            Error::Blocked {
                kind: RefusalKind::Unauthorized,
                ..
            } => 20003,
            Error::Blocked {
                kind: RefusalKind::TooMany,
                ..
            } => 60203,
            Error::Blocked {
                rule: Rule::GeoPermissions,
                ..
            } => 60605,
            Error::Blocked { .. } => 60410,
            Error::LandlineSms(_) => 60205,
            Error::NotFound(_) => 20404,
            Error::MaxSends(_) => 60203,
            Error::MaxChecks => 60202,
            Error::Overloaded(_) => 20503,
        }
    }
}

impl From<StartError> for Error {
    fn from(e: StartError) -> Self {
        let message = e.to_string();
        match e {
            StartError::InvalidNumber(_) => Error::bad("to", message),
            StartError::NoStep(_) => Error::bad("channel", message),
            StartError::Unpaired(field) => Error::bad(field, message),
            StartError::Blocked(r) => Error::Blocked {
                rule: r.rule,
                reason: r.reason,
                kind: r.kind,
            },
            StartError::LandlineSms => Error::LandlineSms(message),
            StartError::MaxSends(..) => Error::MaxSends(message),
            StartError::PendingCap(_) => Error::Overloaded(message),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            Error::Blocked { rule, reason, .. } => {
                json!({ "status": "blocked", "reason": reason, "rule": rule })
            }
            Error::BadRequest { field, message } => {
                json!({ "error": message, "code": self.code(), "field": field })
            }
            _ => json!({ "error": self.to_string(), "code": self.code() }),
        };
        (status, Json(body)).into_response()
    }
}

/// The Twilio parameter a `/v1` field is called by.
fn twilio_param(field: &str) -> &str {
    match field {
        "to" => "To",
        "channel" => "Channel",
        "amount" => "Amount",
        "payee" => "Payee",
        "locale" => "Locale",
        "client_ip" => "DeviceIp",
        "code" => "Code",
        "id" => "VerificationSid",
        other => other,
    }
}

/// The same error in Twilio's shape.
#[derive(Debug)]
pub(crate) struct Twilio(pub Error);

impl From<Error> for Twilio {
    fn from(e: Error) -> Self {
        Twilio(e)
    }
}

impl IntoResponse for Twilio {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = e.status();
        let code = e.twilio_code();
        let message = match &e {
            Error::BadRequest {
                field: Some(f),
                message,
            } => {
                let param = twilio_param(f);
                let message = message.strip_prefix(&format!("{f}: ")).unwrap_or(message);
                format!("Invalid parameter `{param}`: {message}")
            }
            Error::Unauthorized(_)
            | Error::Blocked {
                kind: RefusalKind::Unauthorized,
                ..
            } => {
                format!("Authentication Error - {e}")
            }
            Error::Blocked { .. } => format!("Verification delivery attempt blocked: {e}"),
            Error::LandlineSms(_) => "SMS is not supported by landline phone number".into(),
            Error::MaxSends(_) => "Max send attempts reached".into(),
            Error::MaxChecks => "Max check attempts reached".into(),
            _ => e.to_string(),
        };
        let body = json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        });
        (status, Json(body)).into_response()
    }
}
