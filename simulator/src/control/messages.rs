//! `GET /v1/messages`: what the carriers accepted, newest first, reassembled and decoded.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::error::Error;
use crate::smsc::network::Network;
use crate::smsc::store::MessageView;

/// Query of `GET /v1/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagesQuery {
    /// Only messages to this number (a leading `+` is ignored).
    to: Option<String>,
    /// Only messages accepted by this carrier.
    carrier: Option<String>,
    /// At most this many (default 50, at most 1000).
    limit: Option<usize>,
}

/// Body of `GET /v1/messages`.
#[derive(Debug, Serialize)]
struct MessagesBody {
    /// Newest first.
    messages: Vec<CarrierMessage>,
}

/// A message and the carrier that accepted it.
#[derive(Debug, Serialize)]
struct CarrierMessage {
    /// Carrier name.
    carrier: String,
    /// Currency of `price` (the plan's).
    currency: String,
    /// The message.
    #[serde(flatten)]
    message: MessageView,
}

/// The message routes.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new()
        .route("/v1/messages", get(messages))
        .with_state(net)
}

async fn messages(
    State(net): State<Arc<Network>>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<Json<MessagesBody>, Error> {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(50).min(1000);
    let carriers = match &q.carrier {
        Some(name) => vec![net.find(name)?],
        None => net.carriers().collect(),
    };
    let mut all: Vec<CarrierMessage> = carriers
        .iter()
        .flat_map(|c| {
            c.store
                .list(q.to.as_deref(), limit)
                .into_iter()
                .map(|m| CarrierMessage {
                    carrier: c.name().to_string(),
                    currency: net.world.billing.currency().to_string(),
                    message: m,
                })
        })
        .collect();
    all.sort_by_key(|m| std::cmp::Reverse(m.message.submitted_at));
    all.truncate(limit);
    Ok(Json(MessagesBody { messages: all }))
}
