//! `GET /v1/events`: the event bus as a WebSocket stream, one JSON text message per event.
//!
//! ring -> filter -> socket send, awaiting the socket, so a client that does not read only makes
//! its own subscription lag (it is then told how many events it missed). Streams end when the
//! client closes or when the bus shuts down, which lets a graceful shutdown finish while clients
//! are connected.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{
    CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code,
    rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;

use super::error::Error;
use crate::smsc::network::Network;
use crate::world::events::{EventBus, EventFilter, EventKind, Subscription};

/// Query of `GET /v1/events` (each value comma-separated).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// Number prefixes.
    prefix: Option<String>,
    /// Event types (see [`crate::world::events::EVENT_TYPES`]).
    #[serde(rename = "type")]
    types: Option<String>,
    /// Carrier name.
    carrier: Option<String>,
    /// The control token, for clients that cannot set headers (checked by [`super::auth`]).
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

/// Clients only send control frames and close; anything larger is refused by the protocol layer.
const MAX_CLIENT_MESSAGE: usize = 64 * 1024;
/// Hard cap on the socket's outgoing buffer: the stream awaits each send, so this is never
/// reached in practice, but it makes the bound explicit.
const MAX_WRITE_BUFFER: usize = 1024 * 1024;
/// How long a close frame may take to leave before the connection is simply dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The event-stream route: `GET /v1/events?prefix=4477,4420&type=handset_delivered,receipt_sent&carrier=alpha` upgrades
/// to a WebSocket that carries each matching event as one JSON text message. Invalid parameters
/// answer `400` with `{"error": "...", "valid_types": [...]}`; a closed bus answers `503`.
pub(crate) fn router(net: Arc<Network>) -> Router {
    Router::new()
        .route("/v1/events", get(events))
        .with_state(net)
}

async fn events(
    State(net): State<Arc<Network>>,
    query: Result<Query<EventsQuery>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    // Parameters are checked before the upgrade so a plain GET shows what is wrong with them.
    let Query(q) = query.map_err(|e| Error::EventFilter(e.body_text()))?;
    let filter = EventFilter::parse(
        q.prefix.as_deref(),
        q.types.as_deref(),
        q.carrier.as_deref(),
    )
    .map_err(|e| Error::EventFilter(e.to_string()))?;
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let bus = &net.world.events;
    if bus.is_closed() {
        return Err(Error::Unavailable("event stream is shut down".into()));
    }
    // Subscribing before answering the upgrade means a client sees every event published after
    // its handshake completes.
    let Some(subscription) = bus.subscribe_capped(filter) else {
        return Err(Error::Unavailable(format!(
            "event stream: {} subscribers already (events.max_subscribers); try again later",
            bus.limits().max_subscribers
        )));
    };
    let bus = Arc::clone(bus);
    Ok(ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .on_upgrade(move |socket| stream_events(socket, subscription, bus)))
}

async fn stream_events(socket: WebSocket, mut subscription: Subscription, bus: Arc<EventBus>) {
    let shutdown = subscription.closed();
    let max_lags = bus.limits().max_lags;
    let mut lags = 0u32;
    let (mut sink, mut incoming) = socket.split();
    loop {
        let event = tokio::select! {
            biased;
            () = shutdown.cancelled() => {
                going_away(&mut sink).await;
                return;
            }
            message = incoming.next() => match message {
                None | Some(Err(_)) => return,
                Some(Ok(Message::Close(_))) => {
                    // The protocol layer queued the close reply; closing the sink sends it.
                    let _ = tokio::time::timeout(CLOSE_GRACE, sink.close()).await;
                    return;
                }
                // Pings are answered by the protocol layer on this read; client text is ignored.
                Some(Ok(_)) => continue,
            },
            event = subscription.next_shared() => match event {
                Some(event) => event,
                None => {
                    going_away(&mut sink).await;
                    return;
                }
            },
        };
        if let EventKind::Lagged { missed } = event.kind {
            lags += 1;
            if lags > max_lags {
                // Told often enough: a client this far behind gets a close it can act on
                // instead of a stream of gaps.
                bus.count_closed_lagging();
                let frame = CloseFrame {
                    code: close_code::POLICY,
                    reason: Utf8Bytes::from(format!(
                        "fell behind the event ring {lags} times (last {missed} events); reconnect with a narrower filter"
                    )),
                };
                let _ =
                    tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
                return;
            }
        }
        let text = match serde_json::to_string(&*event) {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(seq = event.seq, error = %e, "event not serializable; skipped");
                continue;
            }
        };
        // Awaiting the send is the back-pressure: while the client does not read, this
        // subscription stops reading the ring and lags instead of buffering.
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            sent = sink.send(Message::Text(Utf8Bytes::from(text))) => {
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}

async fn going_away(sink: &mut futures::stream::SplitSink<WebSocket, Message>) {
    let frame = CloseFrame {
        code: close_code::AWAY,
        reason: Utf8Bytes::from_static("event stream shut down"),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, sink.send(Message::Close(Some(frame)))).await;
}
