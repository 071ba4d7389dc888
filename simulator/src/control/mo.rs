//! `POST /v1/mo` `{from, to, text, carrier?, account?}`: a handset sends an SMS to an ESME.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};

use super::error::Error;
use crate::smsc::network::{MoError, MoQueued, MoRequest, Network};

/// The MO route.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new().route("/v1/mo", post(inject)).with_state(net)
}

impl From<MoError> for Error {
    fn from(e: MoError) -> Self {
        match e {
            MoError::BadFrom(_)
            | MoError::EmptyText
            | MoError::TextTooLong { .. }
            | MoError::AmbiguousAccount => Error::BadRequest(e.to_string()),
            MoError::UnknownCarrier(_) | MoError::NoCarrier | MoError::UnknownAccount { .. } => {
                Error::NotFound(e.to_string())
            }
        }
    }
}

async fn inject(
    State(net): State<Arc<Network>>,
    body: Result<Json<MoRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<MoQueued>), Error> {
    let Json(req) = body?;
    Ok((StatusCode::ACCEPTED, Json(net.inject_mo(req)?)))
}
