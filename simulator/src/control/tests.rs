//! The handset and event-stream routes served over real sockets, with events and deliveries
//! put straight into the world so each case is exact: the WebSocket event stream (filters, a
//! slow consumer that must lag rather than grow memory, pings, shutdown) through
//! tokio-tungstenite, and the handset inbox endpoints through reqwest. (Everything else in the
//! control plane is tested through the front door, in `tests/`.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::config::SimConfig;
use crate::handsets::{Channel, Handsets, NewEntry};
use crate::smsc::network::Network;
use crate::world::events::{EventBus, EventKind};

const WAIT: Duration = Duration::from_secs(30);

struct Server {
    addr: SocketAddr,
    net: Arc<Network>,
    bus: Arc<EventBus>,
    handsets: Arc<Handsets>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Ends the event streams and the server, as the front door's shutdown does.
    fn shut_down(&self) {
        self.net.world.shutdown.cancel();
    }
}

/// The control plane of a one-carrier network whose bus holds `bus_capacity` events and whose
/// inboxes hold 4 entries.
async fn start(bus_capacity: usize) -> Server {
    let mut cfg = SimConfig::default();
    cfg.events.capacity = bus_capacity;
    cfg.handsets.inbox_capacity = 4;
    let net = Network::build(&cfg).expect("network");
    let app = super::router(Arc::clone(&net));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let stop = net.world.shutdown.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    Server {
        addr,
        bus: Arc::clone(&net.world.events),
        handsets: Arc::clone(&net.world.handsets),
        net,
        task,
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(addr: SocketAddr, query: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/events{query}"))
        .await
        .expect("websocket handshake");
    ws
}

/// The next text message as JSON, skipping control frames.
async fn next_json(ws: &mut Ws) -> serde_json::Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("an event in time")
            .expect("stream open")
            .expect("websocket frame");
        match msg {
            Message::Text(text) => return serde_json::from_str(&text).expect("event JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

fn delivered(to: &str, text: &str) -> EventKind {
    EventKind::HandsetDelivered {
        message_id: format!("m-{text}"),
        from: "VERIFY".into(),
        to: to.into(),
        channel: Channel::Sms,
        text: text.into(),
    }
}

fn receipt(to: &str) -> EventKind {
    EventKind::ReceiptSent {
        account: "acct".into(),
        message_id: "m".into(),
        to: to.into(),
        stat: "DELIVRD".into(),
        err: "000".into(),
        duplicate: false,
    }
}

#[tokio::test]
async fn filtered_events_arrive_as_json_with_their_type() {
    let server = start(1024).await;
    let mut ws = connect(
        server.addr,
        "?prefix=4477,%2B4420&type=handset_delivered,receipt_sent&carrier=alpha",
    )
    .await;
    let bus = &server.bus;
    // Each of these fails one part of the filter.
    bus.publish(
        Some("beta"),
        Some("447700900001"),
        delivered("447700900001", "x"),
    );
    bus.publish(
        Some("alpha"),
        Some("33612345678"),
        delivered("33612345678", "x"),
    );
    bus.publish(
        Some("alpha"),
        Some("447700900001"),
        EventKind::MessageLost {
            message_id: "m".into(),
            to: "447700900001".into(),
        },
    );
    bus.publish(
        Some("alpha"),
        None,
        EventKind::CarrierChanged {
            change: "outage_started".into(),
            detail: serde_json::json!({}),
        },
    );
    // These match.
    bus.publish(
        Some("alpha"),
        Some("+447700900001"),
        delivered("447700900001", "123456"),
    );
    bus.publish(Some("alpha"), Some("442079460001"), receipt("442079460001"));

    let first = next_json(&mut ws).await;
    assert_eq!(first["type"], "handset_delivered");
    assert_eq!(first["seq"], 5);
    assert_eq!(first["carrier"], "alpha");
    assert_eq!(first["number"], "447700900001");
    assert_eq!(first["channel"], "sms");
    assert_eq!(first["text"], "123456");
    let second = next_json(&mut ws).await;
    assert_eq!(second["type"], "receipt_sent");
    assert_eq!(second["seq"], 6);
    assert_eq!(second["stat"], "DELIVRD");
    assert_eq!(second["duplicate"], false);

    ws.close(None).await.expect("close");
    server.shut_down();
}

#[tokio::test]
async fn unknown_event_type_is_a_400_listing_valid_types() {
    let server = start(16).await;
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("http://{}/v1/events?type=delivered", server.addr))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.expect("JSON error");
    assert!(
        body["error"]
            .as_str()
            .expect("error text")
            .contains("delivered")
    );
    let valid: Vec<&str> = body["valid_types"]
        .as_array()
        .expect("valid_types")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(valid, crate::world::events::EVENT_TYPES);

    // The WebSocket handshake is refused the same way.
    let err =
        tokio_tungstenite::connect_async(format!("ws://{}/v1/events?type=bogus", server.addr))
            .await
            .expect_err("handshake refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 400),
        other => panic!("unexpected error {other:?}"),
    }

    let resp = client
        .get(format!("http://{}/v1/events?prefix=44x", server.addr))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST);
    server.shut_down();
}

#[tokio::test]
async fn slow_consumer_lags_instead_of_growing_memory() {
    const PUBLISHED: u64 = 200_000;
    let server = start(1024).await;
    let mut ws = connect(server.addr, "").await;
    assert_eq!(server.bus.subscribers(), 1);

    // The client reads nothing while everything is published.
    for i in 0..PUBLISHED {
        server.bus.publish(
            Some("alpha"),
            Some("447700900001"),
            delivered("447700900001", &i.to_string()),
        );
        if i % 1000 == 0 {
            assert!(server.bus.queued() <= server.bus.capacity());
            // Let the server's connection task run, as it would on a busy machine.
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(server.bus.published(), PUBLISHED);
    assert!(server.bus.queued() <= server.bus.capacity());

    let (mut received, mut missed, mut lagged_events, mut last_seq) = (0u64, 0u64, 0u64, 0u64);
    let mut closed = None;
    while last_seq < PUBLISHED {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("stream open")
            .expect("websocket frame");
        let ev: serde_json::Value = match msg {
            Message::Text(text) => serde_json::from_str(&text).expect("event JSON"),
            Message::Close(frame) => {
                closed = frame;
                break;
            }
            _ => continue,
        };
        if ev["type"] == "lagged" {
            missed += ev["missed"].as_u64().expect("missed");
            lagged_events += 1;
        } else {
            let seq = ev["seq"].as_u64().expect("seq");
            assert!(seq > last_seq, "events in order");
            last_seq = seq;
            received += 1;
        }
    }
    assert!(lagged_events >= 1, "the slow consumer was told it lagged");
    assert!(missed > 0);
    assert!(received < PUBLISHED);
    match closed {
        // Told `max_lags` times, then closed with a reason (and counted).
        Some(frame) => {
            assert_eq!(frame.code, CloseCode::Policy);
            assert_eq!(lagged_events, u64::from(server.bus.limits().max_lags));
            assert_eq!(server.bus.subscriber_stats().closed_lagging, 1);
        }
        None => assert_eq!(received + missed, PUBLISHED),
    }
    server.shut_down();
}

#[tokio::test]
async fn pings_are_answered() {
    let server = start(16).await;
    let mut ws = connect(server.addr, "").await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .expect("ping");
    let pong = tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("pong in time")
        .expect("stream open")
        .expect("frame");
    assert_eq!(pong, Message::Pong(b"are you there".to_vec().into()));
    server.shut_down();
}

#[tokio::test]
async fn client_close_ends_the_subscription() {
    let server = start(16).await;
    let mut ws = connect(server.addr, "").await;
    assert_eq!(server.bus.subscribers(), 1);
    ws.close(None).await.expect("close");
    // The server answers the close; then the connection ends.
    while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, ws.next()).await {}
    tokio::time::timeout(WAIT, async {
        while server.bus.subscribers() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("subscription dropped");
    server.shut_down();
}

#[tokio::test]
async fn graceful_shutdown_does_not_hang_on_open_streams() {
    let server = start(16).await;
    let mut reading = connect(server.addr, "").await;
    // A client that never reads must not hold the shutdown either.
    let _stalled = connect(server.addr, "").await;
    assert_eq!(server.bus.subscribers(), 2);
    server.shut_down();
    tokio::time::timeout(WAIT, server.task)
        .await
        .expect("server stopped in time")
        .expect("server task")
        .expect("serve");
    let frame = tokio::time::timeout(WAIT, reading.next())
        .await
        .expect("close in time");
    match frame {
        Some(Ok(Message::Close(Some(close)))) => {
            assert_eq!(u16::from(close.code), 1001);
        }
        other => panic!("expected a going-away close frame, got {other:?}"),
    }
    tokio::time::timeout(WAIT, async {
        while server.bus.subscribers() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("every stream ended");
}

#[tokio::test]
async fn handset_inbox_over_http() {
    let server = start(16).await;
    let client = reqwest::Client::new();
    let base = format!("http://{}/v1/handsets", server.addr);

    // Never received anything: 200, empty, received 0.
    let body: serde_json::Value = client
        .get(format!("{base}/%2B447700900009/messages"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["number"], "447700900009");
    assert_eq!(body["received"], 0);
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(0));

    for (i, channel) in [
        Channel::Sms,
        Channel::Voice,
        Channel::Sms,
        Channel::Sms,
        Channel::Sms,
    ]
    .into_iter()
    .enumerate()
    {
        server.handsets.deliver(
            "+447700900001",
            NewEntry {
                channel,
                from: "VERIFY".into(),
                text: format!("code {i}").into(),
                carrier: "alpha".into(),
                reference: format!("m{i}"),
                parts: 1,
                received_at: Utc::now(),
            },
        );
    }

    // Capacity 4: the first entry overflowed.
    let body: serde_json::Value = client
        .get(format!("{base}/447700900001/messages"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["received"], 5);
    assert_eq!(body["overflow"], 1);
    let seqs: Vec<u64> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["seq"].as_u64())
        .collect();
    assert_eq!(seqs, [2, 3, 4, 5]);

    let body: serde_json::Value = client
        .get(format!(
            "{base}/+447700900001/messages?since=2&channel=sms&limit=1"
        ))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let messages = body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["seq"], 3);
    assert_eq!(messages[0]["text"], "code 2");
    assert_eq!(messages[0]["channel"], "sms");

    let resp = client
        .get(format!("{base}/447700900001/messages?channel=fax"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.expect("JSON error");
    assert!(body["error"].is_string());

    let body: serde_json::Value = client
        .delete(format!("{base}/447700900001/messages"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["cleared"], 4);
    let body: serde_json::Value = client
        .get(format!("{base}/447700900001/messages"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(body["received"], 0);
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(0));
    server.shut_down();
}
