//! `GET /v1/handsets/{e164}/messages` and `DELETE` of the same: a virtual handset's inbox.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::Error;
use crate::handsets::{Channel, InboxQuery, InboxView};
use crate::smsc::network::Network;
use smpp::number::normalize;

/// Default `limit` of `GET /v1/handsets/{e164}/messages`.
const DEFAULT_LIMIT: usize = 50;
/// Largest `limit` the route honours; larger values are clamped.
const MAX_LIMIT: usize = 1000;

/// Query of `GET /v1/handsets/{e164}/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagesQuery {
    /// Only entries with a greater seq (see [`InboxQuery::since`]).
    since: Option<u64>,
    /// `sms` or `voice`.
    channel: Option<Channel>,
    /// At most this many (default [`DEFAULT_LIMIT`], clamped to [`MAX_LIMIT`]).
    limit: Option<usize>,
}

/// Body of `DELETE /v1/handsets/{e164}/messages`.
#[derive(Debug, Serialize)]
struct ClearBody {
    /// The number, normalized.
    number: String,
    /// Entries removed.
    cleared: usize,
}

/// The handset routes:
///
/// - `GET /v1/handsets/{e164}/messages?since=&channel=&limit=` returns an [`InboxView`]. The
///   number may be written with or without `+`. A number that never received anything answers
///   `200` with `received: 0` and no messages, not `404`: a tester polling for a code sees the
///   same shape before and after it arrives.
/// - `DELETE /v1/handsets/{e164}/messages` empties the inbox and returns a [`ClearBody`].
///
/// Bad query parameters answer `400` with `{"error": "..."}`.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new()
        .route(
            "/v1/handsets/{e164}/messages",
            get(get_messages).delete(delete_messages),
        )
        .with_state(net)
}

async fn get_messages(
    State(net): State<Arc<Network>>,
    Path(e164): Path<String>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<Json<InboxView>, Error> {
    let Query(q) = query?;
    let query = InboxQuery {
        since: q.since,
        channel: q.channel,
        limit: q.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT),
    };
    let view = net
        .world
        .handsets
        .messages(&e164, &query)
        .unwrap_or_else(|| InboxView {
            number: normalize(&e164).to_owned(),
            received: 0,
            overflow: 0,
            messages: Vec::new(),
        });
    Ok(Json(view))
}

async fn delete_messages(
    State(net): State<Arc<Network>>,
    Path(e164): Path<String>,
) -> Json<ClearBody> {
    let cleared = net.world.handsets.clear(&e164);
    Json(ClearBody {
        number: normalize(&e164).to_owned(),
        cleared,
    })
}
