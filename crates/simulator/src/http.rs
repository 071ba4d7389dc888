//! The HTTP control plane: health, the messages the carrier accepted, stats and metrics.
//!
//! Read-only in this form; later issues add handsets, events and run-time behaviour changes.
//! Responses are JSON with stable keys, except `/metrics`, which is Prometheus text.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::carrier::Carrier;
use crate::receipts::ReceiptAccount;
use crate::store::{MessageView, StoreStats};

/// The control-plane routes for one carrier.
pub fn router(carrier: Arc<Carrier>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/messages", get(messages))
        .route("/v1/stats", get(stats))
        .route("/metrics", get(metrics))
        .with_state(carrier)
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Query of `GET /v1/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    /// Only messages to this number (a leading `+` is ignored).
    pub to: Option<String>,
    /// At most this many (default 50, at most 1000).
    pub limit: Option<usize>,
}

/// Body of `GET /v1/messages`.
#[derive(Debug, Serialize)]
pub struct MessagesBody {
    /// Newest first.
    pub messages: Vec<MessageView>,
}

async fn messages(
    State(carrier): State<Arc<Carrier>>,
    q: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": e.body_text()})),
            )
                .into_response();
        }
    };
    let limit = q.limit.unwrap_or(50).min(1000);
    Json(MessagesBody {
        messages: carrier.store.list(q.to.as_deref(), limit),
    })
    .into_response()
}

/// Body of `GET /v1/stats`.
#[derive(Debug, Serialize)]
pub struct StatsBody {
    /// Carrier name.
    pub carrier: String,
    /// Receipt accounting (`balanced` says whether it adds up).
    pub receipts: ReceiptAccount,
    /// True when generated = delivered + expired + overflow + stored.
    pub receipts_balanced: bool,
    /// Message store counters.
    pub store: StoreStats,
    /// Connections open now.
    pub connections_open: u64,
}

async fn stats(State(carrier): State<Arc<Carrier>>) -> Json<StatsBody> {
    let receipts = carrier.receipts.account();
    Json(StatsBody {
        carrier: carrier.cfg.name.clone(),
        receipts_balanced: receipts.balances(),
        receipts,
        store: carrier.store.stats(),
        connections_open: carrier
            .metrics
            .connections_open
            .load(std::sync::atomic::Ordering::Relaxed),
    })
}

async fn metrics(State(carrier): State<Arc<Carrier>>) -> impl IntoResponse {
    let stored = carrier.receipts.account().stored();
    let body =
        carrier
            .metrics
            .render_prometheus(&carrier.cfg.name, stored, carrier.store.stats().records);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
