//! `POST /v2/Services/{ServiceSid}/Verifications` and `GET`/`POST`
//! `/v2/Services/{ServiceSid}/Verifications/{Sid}`, in Twilio's shape.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{TwilioCaller, channel_word, common, date, form, service};
use crate::api::error::{Error, Twilio};
use crate::api::state::{AppState, body};
use crate::api::verifications::text_field;
use crate::flow::StartRequest;
use crate::flow::store::{Requested, Status, View, parse_id};

#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(rename = "To")]
    to: String,
    #[serde(rename = "Channel")]
    channel: String,
    #[serde(rename = "Locale", default)]
    locale: Option<String>,
    #[serde(rename = "Amount", default)]
    amount: Option<String>,
    #[serde(rename = "Payee", default)]
    payee: Option<String>,
    #[serde(rename = "DeviceIp", default)]
    device_ip: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UpdateForm {
    #[serde(rename = "Status")]
    status: String,
}

fn resource(v: &View, service: &str, account: &str) -> Value {
    let mut m = common(v, service, account);
    // One per send of the code (the start and each resend), as Twilio lists them; the
    // carrier attempts behind each (failovers) are in `/v1/verifications/{id}`.
    let attempts: Vec<Value> = (0..v.sends)
        .map(|i| {
            let time = if i == 0 { v.created_at } else { v.updated_at };
            json!({
                "attempt_sid": format!("VL{}{:04x}", &v.id[2..30], i),
                "channel": channel_word(v.channel),
                "time": date(time),
            })
        })
        .collect();
    m.insert("send_code_attempts".into(), attempts.into());
    m.insert("lookup".into(), json!({}));
    m.insert("sna".into(), Value::Null);
    m.insert(
        "url".into(),
        format!(
            "https://verify.twilio.com/v2/Services/{service}/Verifications/{}",
            v.id
        )
        .into(),
    );
    Value::Object(m)
}

pub(crate) async fn create(
    State(s): State<AppState>,
    TwilioCaller(account): TwilioCaller,
    Path(svc): Path<String>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), Twilio> {
    let svc = service(&svc)?;
    let f: CreateForm = form(&body(&s.engine, raw)?)?;
    let channel = match f.channel.as_str() {
        "sms" => Requested::Sms,
        "call" => Requested::Voice,
        other => {
            return Err(Error::bad(
                "Channel",
                format!("`{other}` is not supported here (sms, call)"),
            )
            .into());
        }
    };
    let amount = text_field("Amount", f.amount, 32)?;
    let payee = text_field("Payee", f.payee, 64)?;
    let req = StartRequest {
        to: f.to,
        channel: Some(channel),
        client_ip: text_field("DeviceIp", f.device_ip, 64)?,
        device_id: None,
        account: Some(account.clone()),
        locale: text_field("Locale", f.locale, 16)?,
        amount,
        payee,
        attestation: headers
            .get("x-attestation-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    let view = s
        .engine
        .start(req)
        .await
        .map_err(|e| Twilio(Error::from(e)))?;
    Ok((StatusCode::CREATED, Json(resource(&view, svc, &account))))
}

fn pending(s: &AppState, svc: &str, sid: &str) -> Result<u128, Error> {
    let not_found = || {
        Error::NotFound(format!(
            "The requested resource /Services/{svc}/Verifications/{sid} was not found"
        ))
    };
    let id = parse_id(sid).ok_or_else(not_found)?;
    // Like Twilio: an approved, canceled or expired verification is no longer a resource.
    match s.engine.view(id) {
        Some(v) if v.status == Status::Pending => Ok(id),
        _ => Err(not_found()),
    }
}

pub(crate) async fn fetch(
    State(s): State<AppState>,
    TwilioCaller(account): TwilioCaller,
    Path((svc, sid)): Path<(String, String)>,
) -> Result<Json<Value>, Twilio> {
    let svc = service(&svc)?;
    let id = pending(&s, svc, &sid)?;
    let view = s.engine.view(id).ok_or_else(|| {
        Error::NotFound(format!(
            "The requested resource /Services/{svc}/Verifications/{sid} was not found"
        ))
    })?;
    Ok(Json(resource(&view, svc, &account)))
}

pub(crate) async fn update(
    State(s): State<AppState>,
    TwilioCaller(account): TwilioCaller,
    Path((svc, sid)): Path<(String, String)>,
    raw: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, Twilio> {
    let svc = service(&svc)?;
    let f: UpdateForm = form(&body(&s.engine, raw)?)?;
    let status = match f.status.as_str() {
        "canceled" => Status::Canceled,
        "approved" => Status::Approved,
        other => {
            return Err(Error::bad(
                "Status",
                format!("`{other}` is not one of canceled, approved"),
            )
            .into());
        }
    };
    let id = pending(&s, svc, &sid)?;
    let view = s.engine.finish(id, status).ok_or_else(|| {
        Error::NotFound(format!(
            "The requested resource /Services/{svc}/Verifications/{sid} was not found"
        ))
    })?;
    Ok(Json(resource(&view, svc, &account)))
}
