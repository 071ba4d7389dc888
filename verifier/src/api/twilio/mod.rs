//! A Twilio Verify v2 compatible subset, so an application written against Twilio (with its
//! official SDK) can be pointed at this service for load tests:
//!
//! - `POST /v2/Services/{ServiceSid}/Verifications` (`To`, `Channel` sms|call, `Locale`,
//!   `Amount`, `Payee`, `DeviceIp`);
//! - `GET` and `POST` (`Status=canceled|approved`) `/v2/Services/{ServiceSid}/Verifications/{Sid}`;
//! - `POST /v2/Services/{ServiceSid}/VerificationCheck` (`To` or `VerificationSid`, `Code`).
//!
//! Bodies are form-encoded; answers are Twilio's JSON shapes and statuses, errors Twilio's
//! `{code, message, more_info, status}` with its codes (60200, 60202, 60203, 60205, 60410,
//! 60605, 20404, 20003). It is a translation over the same `flow` calls as `/v1`: the same
//! verification answers both APIs. With `api.twilio` configured, requests need HTTP Basic auth
//! with that account SID and auth token (401 with Twilio's 20003 body otherwise); without, the
//! endpoints are open, as a local mock should be.

pub(crate) mod checks;
pub(crate) mod verifications;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::error::{Error, Twilio};
use super::state::AppState;
use crate::flow::store::{Status, View};
use crate::otp::same;

/// The account SID answers carry when none is configured.
const OPEN_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";

/// A request that passed Twilio's auth; carries the account SID for the answers.
#[derive(Debug)]
pub(crate) struct TwilioCaller(pub String);

impl FromRequestParts<AppState> for TwilioCaller {
    type Rejection = Twilio;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Twilio> {
        let Some(auth) = &state.engine.cfg.api.twilio else {
            return Ok(TwilioCaller(OPEN_ACCOUNT_SID.into()));
        };
        let given = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let Some((sid, token)) = given.as_deref().and_then(|g| g.split_once(':')) else {
            return Err(Twilio(Error::Unauthorized(
                "credentials are required (HTTP Basic: AccountSid:AuthToken)".into(),
            )));
        };
        // Both compared in full, in constant time, so timing tells nothing about either.
        let ok = same(sid.as_bytes(), auth.account_sid.as_bytes())
            & same(token.as_bytes(), auth.auth_token.as_bytes());
        if ok {
            Ok(TwilioCaller(auth.account_sid.clone()))
        } else {
            Err(Twilio(Error::Unauthorized(
                "invalid username or password".into(),
            )))
        }
    }
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v2/Services/{service}/Verifications",
            post(verifications::create),
        )
        .route(
            "/v2/Services/{service}/Verifications/{sid}",
            post(verifications::update).get(verifications::fetch),
        )
        .route(
            "/v2/Services/{service}/VerificationCheck",
            post(checks::create),
        )
}

/// Decodes a form body, naming the parameter in errors.
pub(crate) fn form<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, Error> {
    serde_urlencoded::from_bytes(bytes).map_err(|e| {
        let msg = e.to_string();
        let field = msg.split('`').nth(1).map(str::to_string);
        Error::BadRequest {
            field,
            message: msg,
        }
    })
}

/// A service SID as Twilio's look (`VA` + 32 characters); other paths are not found.
pub(crate) fn service(sid: &str) -> Result<&str, Error> {
    if sid.len() == 34
        && sid.starts_with("VA")
        && sid[2..].bytes().all(|b| b.is_ascii_alphanumeric())
    {
        Ok(sid)
    } else {
        Err(Error::NotFound(format!(
            "The requested resource /Services/{sid} was not found"
        )))
    }
}

/// Twilio's status words.
pub(crate) fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pending => "pending",
        Status::Approved => "approved",
        Status::Expired => "expired",
        Status::MaxAttempts => "max_attempts_reached",
        Status::Canceled => "canceled",
    }
}

/// Twilio's channel words.
pub(crate) fn channel_word(c: crate::config::Channel) -> &'static str {
    match c {
        crate::config::Channel::Sms => "sms",
        crate::config::Channel::Voice => "call",
    }
}

pub(crate) fn date(d: chrono::DateTime<chrono::Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The fields every Verify resource shares.
pub(crate) fn common(
    v: &View,
    service: &str,
    account: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    let mut put = |k: &str, val: serde_json::Value| {
        m.insert(k.into(), val);
    };
    put("sid", v.id.clone().into());
    put("service_sid", service.into());
    put("account_sid", account.into());
    put("to", v.to.clone().into());
    put("channel", channel_word(v.channel).into());
    put("status", status_word(v.status).into());
    put("valid", (v.status == Status::Approved).into());
    put("amount", v.amount.clone().into());
    put("payee", v.payee.clone().into());
    put("date_created", date(v.created_at).into());
    put("date_updated", date(v.updated_at).into());
    m
}
