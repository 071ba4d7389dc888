//! `/v1/carriers`: each carrier's behaviour, faults, voice, throttle and up/down state in force;
//! `PATCH` changes them at run time (the same keys as the file); `POST`/`DELETE .../outage`
//! takes a carrier down and brings it back.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::Error;
use crate::smsc::carrier::LiveView;
use crate::smsc::network::Network;
use crate::world::behaviour::CarrierPatch;

/// Body of `GET /v1/carriers`.
#[derive(Debug, Serialize)]
struct CarriersBody {
    /// By name.
    carriers: Vec<LiveView>,
}

/// Body of `POST /v1/carriers/{name}/outage`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutageRequest {
    /// How long, in configured time (divided by the time scale); until DELETE when absent.
    #[serde(default, with = "humantime_serde::option")]
    duration: Option<Duration>,
}

/// The carrier routes.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new()
        .route("/v1/carriers", get(list))
        .route("/v1/carriers/{name}", get(show).patch(patch))
        .route(
            "/v1/carriers/{name}/outage",
            post(start_outage).delete(end_outage),
        )
        .with_state(net)
}

async fn list(State(net): State<Arc<Network>>) -> Json<CarriersBody> {
    Json(CarriersBody {
        carriers: net.carriers().map(|c| c.live_view()).collect(),
    })
}

async fn show(
    State(net): State<Arc<Network>>,
    Path(name): Path<String>,
) -> Result<Json<LiveView>, Error> {
    Ok(Json(net.find(&name)?.live_view()))
}

async fn patch(
    State(net): State<Arc<Network>>,
    Path(name): Path<String>,
    body: Result<Json<CarrierPatch>, JsonRejection>,
) -> Result<Json<LiveView>, Error> {
    let c = net.find(&name)?;
    let Json(patch) = body?;
    c.apply_patch(&patch)
        .map_err(|(field, message)| Error::BadRequest(format!("{field}: {message}")))?;
    Ok(Json(c.live_view()))
}

async fn start_outage(
    State(net): State<Arc<Network>>,
    Path(name): Path<String>,
    body: Option<Json<OutageRequest>>,
) -> Result<Json<LiveView>, Error> {
    let c = net.find(&name)?;
    let req = body.map(|Json(b)| b).unwrap_or_default();
    if req.duration.is_some_and(|d| d.is_zero()) {
        return Err(Error::BadRequest(
            "duration: must be longer than zero".into(),
        ));
    }
    c.start_outage(
        req.duration
            .map(|d| crate::world::dist::scale(d, net.world.time_scale)),
    );
    Ok(Json(c.live_view()))
}

async fn end_outage(
    State(net): State<Arc<Network>>,
    Path(name): Path<String>,
) -> Result<Json<LiveView>, Error> {
    let c = net.find(&name)?;
    c.end_outage();
    Ok(Json(c.live_view()))
}
