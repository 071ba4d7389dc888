//! `POST /v2/Services/{ServiceSid}/VerificationCheck`, in Twilio's shape: a wrong code answers
//! 200 with `status: pending`; too many checks 429 (60202); an approved, expired or unknown
//! verification 404 (20404), as Twilio does.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::{TwilioCaller, common, form, service};
use crate::api::error::{Error, Twilio};
use crate::api::state::{AppState, body};
use crate::api::verifications::target;
use crate::metrics::labels::CheckResult;

#[derive(Debug, Deserialize)]
struct CheckForm {
    #[serde(rename = "To", default)]
    to: Option<String>,
    #[serde(rename = "VerificationSid", default)]
    verification_sid: Option<String>,
    #[serde(rename = "Code")]
    code: String,
    #[serde(rename = "Amount", default)]
    amount: Option<String>,
    #[serde(rename = "Payee", default)]
    payee: Option<String>,
}

pub(crate) async fn create(
    State(s): State<AppState>,
    TwilioCaller(account): TwilioCaller,
    Path(svc): Path<String>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Twilio> {
    let svc = service(&svc)?;
    let f: CheckForm = form(&body(&s.engine, raw)?)?;
    let target = target(f.verification_sid.as_deref(), f.to.as_deref()).map_err(|e| match e {
        Error::BadRequest {
            field: Some(f),
            message,
        } => Error::BadRequest {
            field: Some(if f == "id" {
                "VerificationSid".into()
            } else {
                "To".into()
            }),
            message,
        },
        other => other,
    })?;
    if f.code.is_empty() || f.code.len() > 10 || !f.code.bytes().all(|c| c.is_ascii_digit()) {
        return Err(Error::bad("Code", "must be 4 to 10 digits").into());
    }
    let checked = s
        .engine
        .check(target, &f.code, f.amount.as_deref(), f.payee.as_deref());
    let not_found = || {
        Twilio(Error::NotFound(format!(
            "The requested resource /Services/{svc}/VerificationCheck was not found"
        )))
    };
    match checked.result {
        CheckResult::MaxAttempts => Err(Twilio(Error::MaxChecks)),
        CheckResult::Expired | CheckResult::NotFound => Err(not_found()),
        CheckResult::Approved | CheckResult::WrongCode => {
            let view = checked.view.ok_or_else(not_found)?;
            let mut m = common(&view, svc, &account);
            m.insert("sna_attempts_error_codes".into(), Value::Array(Vec::new()));
            Ok(Json(Value::Object(m)))
        }
    }
}
