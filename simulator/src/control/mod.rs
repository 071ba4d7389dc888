//! The control plane: HTTP and WebSocket, one module per resource.
//!
//! - `GET /healthz`;
//! - [`messages`]: what the carriers accepted; [`handsets`]: a handset's inbox;
//! - [`events`]: the event stream (WebSocket);
//! - [`lookup`]: number intelligence and the open-SMS list; [`numbers`]: SIM swaps,
//!   recyclings and ports during a run; [`calls`]: the voice channel;
//! - [`carriers`]: behaviour in force, run-time changes and outages; [`mo`]: a handset sends
//!   a text;
//! - [`stats`]: `/v1/stats`; [`metrics`]: Prometheus text;
//! - [`server`]: the HTTP/1 connection loop, bounded in connections, time and body size;
//!   [`auth`]: the optional bearer token it checks.
//!
//! Handlers translate HTTP to calls on the layers below and return `Result<_, Error>`: JSON
//! bodies with stable keys, and one error type ([`error::Error`]) that maps each failure to its status and a
//! JSON `{"error": "..."}` body that says whose fault it was. This layer holds no state and no
//! domain logic of its own; it may use every layer below it.

mod auth;
mod calls;
mod carriers;
mod error;
mod events;
mod handsets;
mod lookup;
mod messages;
mod metrics;
mod mo;
mod numbers;
pub(crate) mod server;
mod stats;

pub(crate) use auth::exposure_warning;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::smsc::network::Network;

/// Every control-plane route of a network.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(messages::router(Arc::clone(&net)))
        .merge(stats::router(Arc::clone(&net)))
        .merge(metrics::router(Arc::clone(&net)))
        .merge(carriers::router(Arc::clone(&net)))
        .merge(mo::router(Arc::clone(&net)))
        .merge(handsets::router(Arc::clone(&net)))
        .merge(events::router(Arc::clone(&net)))
        .merge(lookup::router(Arc::clone(&net)))
        .merge(numbers::router(Arc::clone(&net)))
        .merge(calls::router(net))
}

async fn healthz() -> &'static str {
    "ok\n"
}

#[cfg(test)]
mod tests;
