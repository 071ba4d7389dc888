//! `GET /v1/stats`: the network's figures (see [`crate::smsc::stats`]).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::smsc::network::Network;
use crate::smsc::stats::Stats;

/// The stats route.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new().route("/v1/stats", get(stats)).with_state(net)
}

async fn stats(State(net): State<Arc<Network>>) -> Json<Stats> {
    Json(net.stats())
}
