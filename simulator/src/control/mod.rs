//! The HTTP control plane of a network: health, messages, stats, metrics, carriers (run-time
//! changes and outages), MO injection, and the routers of the handset, event, lookup and voice
//! modules merged in.
//!
//! Responses are JSON with stable keys, except `/metrics`, which is Prometheus text. Errors are
//! JSON `{"error": "..."}` with a 4xx status that says whose fault it was.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::smsc::carrier::Carrier;
use crate::smsc::network::Network;
use crate::smsc::receipts::ReceiptAccount;
use crate::smsc::store::{MessageView, StoreStats};
use crate::world::behaviour::CarrierPatch;

/// Every control-plane route of a network.
pub fn router(net: Arc<Network>) -> Router {
    let own = Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/messages", get(messages))
        .route("/v1/stats", get(stats))
        .route("/metrics", get(metrics))
        .route("/v1/carriers", get(carriers))
        .route("/v1/carriers/{name}", get(carrier).patch(patch_carrier))
        .route(
            "/v1/carriers/{name}/outage",
            post(start_outage).delete(end_outage),
        )
        .route("/v1/mo", post(inject_mo))
        .with_state(Arc::clone(&net));
    own.merge(crate::handsets::router(Arc::clone(&net.handsets)))
        .merge(crate::world::events::router(Arc::clone(&net.events)))
        .merge(crate::world::lookup::router(
            Arc::clone(&net.plan),
            Arc::clone(&net) as Arc<dyn crate::world::lookup::CarrierStatus>,
        ))
        .merge(crate::world::voice::router(net))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

/// A carrier name that is not in the network: 404 naming the carriers that are.
#[derive(Debug)]
struct NoSuchCarrier(String);

impl IntoResponse for NoSuchCarrier {
    fn into_response(self) -> Response {
        error(StatusCode::NOT_FOUND, self.0)
    }
}

fn find(net: &Network, name: &str) -> Result<Arc<Carrier>, NoSuchCarrier> {
    net.carrier(name).ok_or_else(|| {
        let known: Vec<String> = net
            .carriers()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        NoSuchCarrier(format!(
            "no carrier named `{name}`; carriers: {}",
            known.join(", ")
        ))
    })
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
    /// Only messages accepted by this carrier.
    pub carrier: Option<String>,
    /// At most this many (default 50, at most 1000).
    pub limit: Option<usize>,
}

/// Body of `GET /v1/messages`.
#[derive(Debug, Serialize)]
pub struct MessagesBody {
    /// Newest first.
    pub messages: Vec<CarrierMessage>,
}

/// A message and the carrier that accepted it.
#[derive(Debug, Serialize)]
pub struct CarrierMessage {
    /// Carrier name.
    pub carrier: String,
    /// The message.
    #[serde(flatten)]
    pub message: MessageView,
}

async fn messages(
    State(net): State<Arc<Network>>,
    q: Result<Query<MessagesQuery>, QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let limit = q.limit.unwrap_or(50).min(1000);
    let carriers = match &q.carrier {
        Some(name) => match find(&net, name) {
            Ok(c) => vec![c],
            Err(r) => return r.into_response(),
        },
        None => net.carriers(),
    };
    let mut all: Vec<CarrierMessage> = carriers
        .iter()
        .flat_map(|c| {
            c.store
                .list(q.to.as_deref(), limit)
                .into_iter()
                .map(|m| CarrierMessage {
                    carrier: c.name().to_string(),
                    message: m,
                })
        })
        .collect();
    all.sort_by_key(|m| std::cmp::Reverse(m.message.submitted_at));
    all.truncate(limit);
    Json(MessagesBody { messages: all }).into_response()
}

/// One carrier's part of `GET /v1/stats`.
#[derive(Debug, Serialize)]
pub struct CarrierStats {
    /// Carrier name.
    pub carrier: String,
    /// True while it is down.
    pub down: bool,
    /// Receipt accounting.
    pub receipts: ReceiptAccount,
    /// True when generated = delivered + expired + overflow + stored.
    pub receipts_balanced: bool,
    /// Message store counters.
    pub store: StoreStats,
    /// Connections open now.
    pub connections_open: u64,
    /// Messages accepted.
    pub messages_accepted: u64,
    /// Messages that reached a handset.
    pub messages_delivered: u64,
    /// Final states by receipt stat.
    pub outcomes: std::collections::BTreeMap<&'static str, u64>,
    /// Submit refusals by command_status name.
    pub refusals: std::collections::BTreeMap<String, u64>,
    /// Receipts withheld by simulated loss.
    pub receipts_lost: u64,
    /// Receipts sent twice by design.
    pub receipts_duplicated: u64,
    /// MO messages queued.
    pub mo: u64,
}

/// Body of `GET /v1/stats`: the network totals at the top (so a one-carrier run reads as
/// before), each carrier under `carriers`.
#[derive(Debug, Serialize)]
pub struct StatsBody {
    /// Name of the first carrier (the only one in a one-carrier run).
    pub carrier: String,
    /// Receipt accounting, all carriers together.
    pub receipts: ReceiptAccount,
    /// True when every carrier's receipts add up.
    pub receipts_balanced: bool,
    /// Message store counters, all carriers together.
    pub store: StoreStats,
    /// Connections open now, all carriers together.
    pub connections_open: u64,
    /// The run's seed.
    pub seed: u64,
    /// Configured durations are divided by this.
    pub time_scale: f64,
    /// Seconds since start, in wall time.
    pub elapsed_secs: f64,
    /// Seconds since start in configured time (wall time times the time scale): what timeline
    /// offsets are measured in.
    pub scenario_elapsed_secs: f64,
    /// Handset counts.
    pub handsets: crate::handsets::HandsetStats,
    /// Events published.
    pub events_published: u64,
    /// Per carrier.
    pub carriers: Vec<CarrierStats>,
}

fn carrier_stats(c: &Carrier) -> CarrierStats {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &c.metrics;
    let receipts = c.receipts.account();
    CarrierStats {
        carrier: c.name().to_string(),
        down: c.is_down(),
        receipts_balanced: receipts.balances(),
        receipts,
        store: c.store.stats(),
        connections_open: m.connections_open.load(Relaxed),
        messages_accepted: m.messages_accepted.load(Relaxed),
        messages_delivered: m.messages_delivered.load(Relaxed),
        outcomes: m.outcome_counts(),
        refusals: m
            .refusal_counts()
            .into_iter()
            .map(|(s, n)| (crate::world::behaviour::Status(s).name(), n))
            .collect(),
        receipts_lost: m.receipts_lost.load(Relaxed),
        receipts_duplicated: m.receipts_duplicated.load(Relaxed),
        mo: m.mo_generated.load(Relaxed),
    }
}

/// The stats of a whole network.
pub fn network_stats(net: &Network) -> StatsBody {
    let carriers: Vec<CarrierStats> = net.carriers().iter().map(|c| carrier_stats(c)).collect();
    let mut receipts = ReceiptAccount::default();
    let mut store = StoreStats::default();
    for c in &carriers {
        receipts.add(&c.receipts);
        store.add(&c.store);
    }
    StatsBody {
        carrier: carriers
            .first()
            .map(|c| c.carrier.clone())
            .unwrap_or_default(),
        receipts_balanced: carriers.iter().all(|c| c.receipts_balanced),
        receipts,
        store,
        connections_open: carriers.iter().map(|c| c.connections_open).sum(),
        seed: net.seed,
        time_scale: net.time_scale,
        elapsed_secs: net.started.elapsed().as_secs_f64(),
        scenario_elapsed_secs: net.scenario_elapsed().as_secs_f64(),
        handsets: net.handsets.stats(),
        events_published: net.events.published(),
        carriers,
    }
}

async fn stats(State(net): State<Arc<Network>>) -> Json<StatsBody> {
    Json(network_stats(&net))
}

async fn metrics(State(net): State<Arc<Network>>) -> impl IntoResponse {
    let carriers = net.carriers();
    let stored: Vec<(u64, usize)> = carriers
        .iter()
        .map(|c| (c.receipts.account().stored(), c.store.stats().records))
        .collect();
    let figures: Vec<crate::smsc::metrics::CarrierFigures<'_>> = carriers
        .iter()
        .zip(&stored)
        .map(
            |(c, (stored, records))| crate::smsc::metrics::CarrierFigures {
                carrier: c.name(),
                metrics: &c.metrics,
                stored: *stored,
                store_records: *records,
            },
        )
        .collect();
    let body = crate::smsc::metrics::render_prometheus(&figures);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

async fn carriers(State(net): State<Arc<Network>>) -> Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = net.carriers().iter().map(|c| c.live_view()).collect();
    Json(serde_json::json!({ "carriers": list }))
}

async fn carrier(State(net): State<Arc<Network>>, Path(name): Path<String>) -> Response {
    match find(&net, &name) {
        Ok(c) => Json(c.live_view()).into_response(),
        Err(r) => r.into_response(),
    }
}

async fn patch_carrier(
    State(net): State<Arc<Network>>,
    Path(name): Path<String>,
    body: Result<Json<CarrierPatch>, JsonRejection>,
) -> Response {
    let c = match find(&net, &name) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let Json(patch) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    match c.apply_patch(&patch) {
        Ok(()) => Json(c.live_view()).into_response(),
        Err((field, message)) => error(StatusCode::BAD_REQUEST, format!("{field}: {message}")),
    }
}

/// Body of `POST /v1/carriers/{name}/outage`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutageRequest {
    /// How long, in configured time (divided by the time scale); until DELETE when absent.
    #[serde(default, with = "humantime_serde::option")]
    pub duration: Option<Duration>,
}

async fn start_outage(
    State(net): State<Arc<Network>>,
    Path(name): Path<String>,
    body: Option<Json<OutageRequest>>,
) -> Response {
    let c = match find(&net, &name) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let req = body.map(|Json(b)| b).unwrap_or_default();
    if req.duration.is_some_and(|d| d.is_zero()) {
        return error(
            StatusCode::BAD_REQUEST,
            "duration: must be longer than zero",
        );
    }
    c.start_outage(
        req.duration
            .map(|d| crate::world::dist::scale(d, net.time_scale)),
    );
    Json(c.live_view()).into_response()
}

async fn end_outage(State(net): State<Arc<Network>>, Path(name): Path<String>) -> Response {
    match find(&net, &name) {
        Ok(c) => {
            c.end_outage();
            Json(c.live_view()).into_response()
        }
        Err(r) => r.into_response(),
    }
}

/// Body of `POST /v1/mo`: a handset sends a text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoRequest {
    /// The handset's number.
    pub from: String,
    /// Where it is sent (a short code or the service's number).
    pub to: String,
    /// The text.
    pub text: String,
    /// Carrier that delivers it (default: the handset's own carrier).
    pub carrier: Option<String>,
    /// Account it is delivered to (default: the account that last messaged the handset).
    pub account: Option<String>,
}

async fn inject_mo(
    State(net): State<Arc<Network>>,
    body: Result<Json<MoRequest>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let from = match crate::world::plan::parse_number(req.from.trim()) {
        Ok(digits) => digits.to_string(),
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("from: {e}")),
    };
    if req.text.is_empty() {
        return error(StatusCode::BAD_REQUEST, "text: must not be empty");
    }
    let carrier_name = req
        .carrier
        .clone()
        .or_else(|| net.plan.lookup(&from).map(|r| r.carrier.to_string()));
    let carrier = match carrier_name {
        Some(name) => match find(&net, &name) {
            Ok(c) => c,
            Err(r) => return r.into_response(),
        },
        None => match net.carriers().into_iter().next() {
            Some(c) => c,
            None => return error(StatusCode::NOT_FOUND, "no carrier running"),
        },
    };
    let account = match req
        .account
        .clone()
        .or_else(|| carrier.mo_account(&from, &req.to))
    {
        Some(a) if carrier.cfg.accounts.contains_key(&a) => a,
        Some(a) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("carrier `{}` has no account `{a}`", carrier.name()),
            );
        }
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                "account: the carrier has several accounts and none has messaged this handset; name one",
            );
        }
    };
    carrier.queue_mo(&account, &from, &req.to, &req.text);
    (
        StatusCode::ACCEPTED,
        Json(serde_json::json!({
            "carrier": carrier.name(),
            "account": account,
            "from": from,
            "to": req.to,
        })),
    )
        .into_response()
}
