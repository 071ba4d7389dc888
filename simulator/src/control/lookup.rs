//! `GET /v1/lookup/{e164}` and `GET /v1/open-sms-numbers`: number intelligence over the plan and
//! the carriers' live state (the answers are built in [`crate::world::lookup`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;

use crate::smsc::network::Network;
use crate::world::lookup::{LookupResponse, OpenSmsList, lookup_number, open_sms_list};

/// The lookup routes.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new()
        .route("/v1/lookup/{e164}", get(lookup))
        .route("/v1/open-sms-numbers", get(open_sms))
        .with_state(net)
}

async fn lookup(State(net): State<Arc<Network>>, Path(e164): Path<String>) -> Json<LookupResponse> {
    Json(lookup_number(
        &net.world.numbers(),
        net.as_ref(),
        &e164,
        Utc::now(),
    ))
}

async fn open_sms(State(net): State<Arc<Network>>) -> Json<OpenSmsList> {
    Json(open_sms_list(&net.world.plan))
}
