//! `POST /v1/verifications` (start, or resend the pending code), `POST /v1/verifications/check`
//! and `GET /v1/verifications/{id}` (every attempt with its carrier, message id, receipt and
//! failover cause).

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::error::Error;
use super::state::{AppState, Caller, body};
use crate::flow::store::{Requested, View, parse_id};
use crate::flow::{Checked, StartRequest, Target};
use crate::metrics::labels::CheckResult;
use crate::support::msisdn::Msisdn;

/// Body of `POST /v1/verifications` (also what the in-process client sends: `api::local`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartBody {
    pub(crate) to: String,
    #[serde(default)]
    pub(crate) channel: Option<String>,
    #[serde(default)]
    pub(crate) client_ip: Option<String>,
    #[serde(default)]
    pub(crate) device_id: Option<String>,
    #[serde(default)]
    pub(crate) account_id: Option<String>,
    #[serde(default)]
    pub(crate) locale: Option<String>,
    #[serde(default)]
    pub(crate) amount: Option<String>,
    #[serde(default)]
    pub(crate) payee: Option<String>,
    #[serde(default)]
    pub(crate) attestation_token: Option<String>,
}

/// Body of `POST /v1/verifications/check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    id: Option<String>,
    code: String,
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    payee: Option<String>,
}

/// Answer of a check.
#[derive(Debug, Serialize)]
struct CheckAnswer {
    id: String,
    to: String,
    /// `approved`, `pending` (wrong code), `expired` or `max_attempts`.
    status: &'static str,
    valid: bool,
    checks: u32,
}

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/verifications", post(start))
        .route("/v1/verifications/check", post(check))
        .route("/v1/verifications/{id}", get(show))
}

/// Decodes a JSON body, naming the field in errors.
pub(crate) fn json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        let msg = e.to_string();
        let named = msg.starts_with("missing field") || msg.starts_with("unknown field");
        let field = if named {
            // serde names the field in backticks: `to`.
            msg.split('`').nth(1).map(str::to_string)
        } else {
            wrong_field::<T>(bytes)
        };
        Error::BadRequest {
            field,
            message: format!("invalid JSON body: {msg}"),
        }
    })
}

/// Which field of a JSON object has a value of the wrong type: serde's message does not say,
/// so each field is decoded alone; the one that fails for a reason other than the fields it
/// lacks is the culprit. Only on the error path.
fn wrong_field<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Option<String> {
    let serde_json::Value::Object(map) = serde_json::from_slice(bytes).ok()? else {
        return None;
    };
    map.into_iter().find_map(|(k, v)| {
        let alone = serde_json::Value::Object([(k.clone(), v)].into_iter().collect());
        match serde_json::from_value::<T>(alone) {
            Err(e) if !e.to_string().starts_with("missing field") => Some(k),
            _ => None,
        }
    })
}

/// Checks the optional text fields: bounded and printable, so they can be logged and sent.
pub(crate) fn text_field(
    field: &str,
    v: Option<String>,
    max: usize,
) -> Result<Option<String>, Error> {
    match v {
        Some(s) if s.chars().count() > max => {
            Err(Error::bad(field, format!("at most {max} characters")))
        }
        Some(s) if s.chars().any(char::is_control) => {
            Err(Error::bad(field, "control characters are not allowed"))
        }
        Some(s) if s.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

async fn start(
    State(s): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<View>), Error> {
    let b: StartBody = json(&body(&s.engine, raw)?)?;
    let header = headers
        .get("x-attestation-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let view = s.engine.start(start_request(b, caller.0, header)?).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The engine's request from a start body: the channel word and the bounded text fields
/// checked. `account`: the calling account (it wins over the body's `account_id`);
/// `attestation`: the header's token, used when the body has none.
pub(crate) fn start_request(
    b: StartBody,
    account: Option<String>,
    attestation: Option<String>,
) -> Result<StartRequest, Error> {
    let channel = match b.channel.as_deref() {
        None => None,
        Some(c) => Some(Requested::parse(c).ok_or_else(|| {
            Error::bad("channel", format!("`{c}` is not one of sms, voice, auto"))
        })?),
    };
    Ok(StartRequest {
        to: b.to,
        channel,
        client_ip: text_field("client_ip", b.client_ip, 64)?,
        device_id: text_field("device_id", b.device_id, 128)?,
        account: account.or(text_field("account_id", b.account_id, 128)?),
        locale: text_field("locale", b.locale, 16)?,
        amount: text_field("amount", b.amount, 32)?,
        payee: text_field("payee", b.payee, 64)?,
        attestation: b.attestation_token.or(attestation),
    })
}

/// The target of a check from `id` or `to`.
pub(crate) fn target(id: Option<&str>, to: Option<&str>) -> Result<Target, Error> {
    match (id, to) {
        (Some(id), _) => parse_id(id).map(Target::Id).ok_or_else(|| {
            Error::bad(
                "id",
                format!("`{id}` is not a verification id (VE and 32 hex digits)"),
            )
        }),
        (None, Some(to)) => Msisdn::parse(to.trim())
            .map(Target::Number)
            .map_err(|e| Error::bad("to", e.to_string())),
        (None, None) => Err(Error::bad("to", "give `to` or `id`")),
    }
}

async fn check(
    State(s): State<AppState>,
    _caller: Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<CheckAnswer>, Error> {
    let b: CheckBody = json(&body(&s.engine, raw)?)?;
    let target = target(b.id.as_deref(), b.to.as_deref())?;
    check_code(&b.code)?;
    let checked = s
        .engine
        .check(target, &b.code, b.amount.as_deref(), b.payee.as_deref());
    let (status, view) = check_answer(checked)?;
    Ok(Json(CheckAnswer {
        id: view.id,
        to: view.to,
        status,
        valid: status == "approved",
        checks: view.checks,
    }))
}

/// Refuses a code that cannot be one (digits only, at most 10).
pub(crate) fn check_code(code: &str) -> Result<(), Error> {
    if code.is_empty() || code.len() > 10 || !code.bytes().all(|c| c.is_ascii_digit()) {
        return Err(Error::bad("code", "must be 4 to 10 digits"));
    }
    Ok(())
}

/// A check's status word (`approved`, `pending` for a wrong code, `expired`, `max_attempts`)
/// and the verification, or 404 when there is none pending.
pub(crate) fn check_answer(checked: Checked) -> Result<(&'static str, View), Error> {
    let Some(view) = checked.view else {
        return Err(Error::NotFound(
            "no pending verification (it may have ended)".into(),
        ));
    };
    let status = match checked.result {
        CheckResult::Approved => "approved",
        CheckResult::WrongCode => "pending",
        CheckResult::Expired => "expired",
        CheckResult::MaxAttempts => "max_attempts",
        CheckResult::NotFound => return Err(Error::NotFound("no pending verification".into())),
    };
    Ok((status, view))
}

async fn show(
    State(s): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<View>, Error> {
    let parsed = parse_id(&id).ok_or_else(|| {
        Error::bad(
            "id",
            format!("`{id}` is not a verification id (VE and 32 hex digits)"),
        )
    })?;
    s.engine
        .view(parsed)
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("no verification {id}")))
}
