//! `/v1/blocklist`: the customer's own entries. `GET ?source=customer|open_sms|heuristic`
//! lists the effective lists (all of them by default), `POST {number, reason?, ttl?}` adds an
//! entry (201), `DELETE ?number=` removes one (404 when it was not there).
//!
//! An entry added with lookup on holds the number's lookup as it is now, asked afresh and not
//! cached, so a number recycled, ported or given a new SIM after its listing is forgiven at its
//! next start; `lookup_snapshot: false` in the answer says the lookup was unavailable and the
//! snapshot will be taken at the number's next check instead.

use std::time::Duration;

use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::error::Error;
use super::state::{AppState, Caller, body};
use super::verifications::{json, text_field};
use crate::guard::lists::{Listed, Source};
use crate::support::clock::{ms, now_ms};
use crate::support::msisdn::Msisdn;
use crate::support::warn::Throttled;

/// Numbers listed while lookup was unavailable (logged at most every 5 s, with a count).
static NO_SNAPSHOT: Throttled = Throttled::new(
    "lookup unavailable when listing: the entry's lookup snapshot will be taken at the number's next check",
    5_000,
);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    source: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    number: String,
    #[serde(default)]
    reason: Option<String>,
    /// How long the entry stays (`30d`, `12h`); until removed when absent.
    #[serde(default, with = "humantime_serde::option")]
    ttl: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoveQuery {
    number: String,
}

#[derive(Debug, Serialize)]
struct ListBody {
    counts: serde_json::Value,
    entries: Vec<Listed>,
}

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/v1/blocklist", get(list).post(add).delete(remove))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Error> {
    q.map(|Query(q)| q).map_err(|e| Error::BadRequest {
        field: None,
        message: e.body_text(),
    })
}

async fn list(
    State(s): State<AppState>,
    _caller: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<ListBody>, Error> {
    let q = query(q)?;
    let source = match q.source.as_deref() {
        None | Some("all") => None,
        Some(w) => Some(Source::from_word(w).ok_or_else(|| {
            Error::bad(
                "source",
                format!("`{w}` is not one of customer, open_sms, heuristic, all"),
            )
        })?),
    };
    let lists = &s.engine.guard.lists;
    let [customer, open_sms, heuristic] = lists.counts();
    Ok(Json(ListBody {
        counts: serde_json::json!({ "customer": customer, "open_sms": open_sms, "heuristic": heuristic }),
        entries: lists.list(source, q.limit.unwrap_or(1000).min(100_000), now_ms()),
    }))
}

async fn add(
    State(s): State<AppState>,
    _caller: Caller,
    raw: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Listed>), Error> {
    let b: AddBody = json(&body(&s.engine, raw)?)?;
    let n = Msisdn::parse(b.number.trim()).map_err(|e| Error::bad("number", e.to_string()))?;
    let reason =
        text_field("reason", b.reason, 200)?.unwrap_or_else(|| "added by the customer".into());
    if b.ttl.is_some_and(|d| d.is_zero()) {
        return Err(Error::bad("ttl", "must be longer than zero"));
    }
    let now = now_ms();
    // The number as it is now, for "changed hands since listed": asked afresh and not cached
    // (see `Carriers::lookup_uncached`). Without an answer (lookup off or unavailable) the
    // snapshot is taken at the number's next check, and the entry says so.
    let lookup = s.engine.carriers.lookup_uncached(n).await;
    if lookup.is_none() && s.engine.cfg.lookup.enabled {
        NO_SNAPSHOT.warn(&format_args!("+{n}"));
    }
    let expires = b.ttl.map(|d| now + ms(d));
    let lists = &s.engine.guard.lists;
    if !lists.add(
        Source::Customer,
        n,
        reason.clone(),
        now,
        expires,
        lookup.as_deref(),
    ) {
        return Err(Error::Overloaded("the customer block list is full".into()));
    }
    let entry = lists
        .get(Source::Customer, n, now)
        .ok_or_else(|| Error::NotFound("the entry expired at once".into()))?;
    Ok((StatusCode::CREATED, Json(entry)))
}

async fn remove(
    State(s): State<AppState>,
    _caller: Caller,
    q: Result<Query<RemoveQuery>, QueryRejection>,
) -> Result<StatusCode, Error> {
    let q = query(q)?;
    let n = Msisdn::parse(q.number.trim()).map_err(|e| Error::bad("number", e.to_string()))?;
    if s.engine.guard.lists.remove(Source::Customer, n) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound(format!("+{n} is not on the customer list")))
    }
}
