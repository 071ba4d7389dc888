//! `GET /metrics` (Prometheus text), `GET /v1/stats` (the same counters as JSON, with the
//! carriers' breaker states) and `GET /healthz`. Open without an API key, as scrapers expect.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use super::state::AppState;
use crate::metrics::Family;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/stats", get(stats))
        .route("/healthz", get(|| async { "ok\n" }))
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let e = &s.engine;
    let mut gauges = e.carriers.gauges();
    let one = |v: f64| vec![(String::new(), v)];
    gauges.push(Family::gauge(
        "verifier_pending_verifications",
        "Verifications waiting for their code.",
        one(e.store.pending() as f64),
    ));
    gauges.push(Family::gauge(
        "verifier_guard_table_evictions",
        "Fraud-guard table entries pushed out while fresh (fixed memory under a spray).",
        one(e.guard.evictions() as f64),
    ));
    let lists = ["customer", "open_sms", "heuristic"]
        .iter()
        .zip(e.guard.lists.counts());
    gauges.push(Family::gauge(
        "verifier_blocklist_entries",
        "Entries per block list.",
        lists
            .map(|(l, c)| (format!("list=\"{l}\""), c as f64))
            .collect(),
    ));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        e.metrics.render(&gauges),
    )
}

async fn stats(State(s): State<AppState>) -> Json<serde_json::Value> {
    let e = &s.engine;
    let carriers: Vec<serde_json::Value> = e
        .carriers
        .states()
        .into_iter()
        .map(|(name, breaker, binds)| serde_json::json!({ "carrier": name, "breaker": breaker, "binds_up": binds }))
        .collect();
    Json(serde_json::json!({
        "counters": e.metrics.snapshot(),
        "pending": e.store.pending(),
        "guard_mode": e.guard.mode().word(),
        "carriers": carriers,
    }))
}
