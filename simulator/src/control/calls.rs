//! `POST /v1/calls`, `GET /v1/calls`, `GET /v1/calls/{id}`: the voice channel, as a voice API.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::Error;
use crate::smsc::network::Network;
use crate::world::calls::CallRecord;
use crate::world::voice::{CallError, CallRequest};

/// Query of `GET /v1/calls`.
#[derive(Debug, Deserialize)]
struct CallsQuery {
    /// Only calls to this number.
    to: Option<String>,
    /// Most calls returned (default 100).
    limit: Option<usize>,
}

/// Body of `GET /v1/calls`.
#[derive(Debug, Serialize)]
struct CallsBody {
    /// Newest first.
    calls: Vec<CallRecord>,
}

/// The call routes.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new()
        .route("/v1/calls", post(create).get(list))
        .route("/v1/calls/{id}", get(show))
        .with_state(net)
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Self {
        match e {
            CallError::UnknownCarrier(_) => Error::NotFound(e.to_string()),
            CallError::BadNumber(_) | CallError::EmptyText | CallError::TextTooLong { .. } => {
                Error::BadRequest(e.to_string())
            }
            CallError::Busy => Error::Unavailable(e.to_string()),
        }
    }
}

async fn create(
    State(net): State<Arc<Network>>,
    body: Result<Json<CallRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<CallRecord>), Error> {
    let Json(req) = body?;
    Ok((StatusCode::CREATED, Json(net.place_call(req)?)))
}

async fn list(
    State(net): State<Arc<Network>>,
    query: Result<Query<CallsQuery>, QueryRejection>,
) -> Result<Json<CallsBody>, Error> {
    let Query(q) = query?;
    let calls = net
        .world
        .calls
        .list(q.to.as_deref(), q.limit.unwrap_or(100));
    Ok(Json(CallsBody { calls }))
}

async fn show(
    State(net): State<Arc<Network>>,
    Path(id): Path<String>,
) -> Result<Json<CallRecord>, Error> {
    net.world
        .calls
        .get(&id)
        .map(Json)
        .ok_or_else(|| Error::NotFound(format!("no call {id}")))
}
