//! `POST /v1/numbers/{number}/sim-swap`, `/recycle` and `/port`: number life events during a
//! run (the changes are kept in [`crate::world::numbers`]). Each answers with the number's
//! lookup as it now reads, and publishes `number_changed` on the event bus.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;

use super::error::Error;
use crate::smsc::network::Network;
use crate::world::events::EventKind;
use crate::world::lookup::{LookupResponse, lookup_number};
use crate::world::numbers::{Change, Numbers};
use crate::world::plan::parse_number;

/// Body of `POST /v1/numbers/{number}/port` (optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortBody {
    /// The network the number moved to.
    carrier: Option<String>,
}

/// The number routes.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new()
        .route("/v1/numbers/{number}/sim-swap", post(sim_swap))
        .route("/v1/numbers/{number}/recycle", post(recycle))
        .route("/v1/numbers/{number}/port", post(port))
        .with_state(net)
}

async fn sim_swap(
    State(net): State<Arc<Network>>,
    Path(number): Path<String>,
) -> Result<Json<LookupResponse>, Error> {
    change(&net, &number, Change::SimSwap(Utc::now()))
}

async fn recycle(
    State(net): State<Arc<Network>>,
    Path(number): Path<String>,
) -> Result<Json<LookupResponse>, Error> {
    change(&net, &number, Change::Recycled)
}

async fn port(
    State(net): State<Arc<Network>>,
    Path(number): Path<String>,
    body: Bytes,
) -> Result<Json<LookupResponse>, Error> {
    let body: PortBody = if body.iter().all(u8::is_ascii_whitespace) {
        PortBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Error::BadRequest(format!("body: not a port request: {e}")))?
    };
    if let Some(name) = &body.carrier
        && !known_carrier(&net, name)
    {
        let mut known: Vec<&str> = net.carriers().map(|c| c.name()).collect();
        known.extend(
            net.world
                .plan
                .ranges()
                .iter()
                .filter_map(|r| r.config.carrier.as_deref()),
        );
        known.sort_unstable();
        known.dedup();
        return Err(Error::BadRequest(format!(
            "carrier: no carrier {name:?} in this network or its number plan (known: {})",
            known.join(", ")
        )));
    }
    change(&net, &number, Change::Ported(body.carrier))
}

/// A carrier of the network, or one the plan names (a network the simulator does not run).
fn known_carrier(net: &Network, name: &str) -> bool {
    net.carrier(name).is_some()
        || net
            .world
            .plan
            .ranges()
            .iter()
            .any(|r| r.config.carrier.as_deref() == Some(name))
}

fn change(net: &Network, input: &str, change: Change) -> Result<Json<LookupResponse>, Error> {
    let digits =
        parse_number(input.trim()).map_err(|e| Error::BadRequest(format!("number: {e}")))?;
    let world = &net.world;
    let Some(before) = world.numbers().resolve(digits) else {
        return Err(Error::NotFound(format!(
            "number: +{digits} is not in the number plan"
        )));
    };
    world.numbers.apply(digits, &change).map_err(|full| {
        world.numbers.full_warning.hit(|count| {
            tracing::warn!(count, "{full}");
        });
        Error::Unavailable(full.to_string())
    })?;
    world
        .events
        .publish_with(Some(&before.carrier), Some(digits), || {
            EventKind::NumberChanged {
                change: change.word().to_string(),
                ported_to: match &change {
                    Change::Ported(c) => c.clone(),
                    _ => None,
                },
            }
        });
    Ok(Json(lookup_number(
        &world.numbers(),
        net,
        digits,
        Utc::now(),
    )))
}
