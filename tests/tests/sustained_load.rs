//! Sustained load: every queue the carrier keeps is bounded, and a full one is an explicit,
//! counted answer (ESME_RMSGQFUL, ESME_RTHROTTLED, 429/503), never a silent drop.

use std::time::Duration;

use rusmpp::pdus::{BindReceiver, BindTransmitter};
use rusmpp::{Command, CommandStatus, Pdu};
use smpp::pdu::c_string;
use testbed_tests::{PASSWORD, RawSession, SYSTEM_ID, TestNetwork, build, config};

/// Polls `cond` every 20 ms for up to 10 s.
async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within 10 s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn bind_transmitter(s: &mut RawSession) {
    let b = BindTransmitter::builder()
        .system_id(c_string::<16>(SYSTEM_ID))
        .password(c_string::<9>(PASSWORD))
        .build();
    assert_eq!(s.call(b).await.status(), CommandStatus::EsmeRok);
}

async fn bind_receiver(s: &mut RawSession) {
    let b = BindReceiver::builder()
        .system_id(c_string::<16>(SYSTEM_ID))
        .password(c_string::<9>(PASSWORD))
        .build();
    assert_eq!(s.call(b).await.status(), CommandStatus::EsmeRok);
}

/// Reads `n` deliver_sm and acknowledges each.
async fn take_receipts(s: &mut RawSession, n: usize) -> Vec<Command> {
    let mut got = Vec::new();
    while got.len() < n {
        let c = s.next_non_probe().await;
        if let Some(Pdu::DeliverSm(_)) = c.pdu() {
            let seq = c.sequence_number();
            s.send(Command::new(
                CommandStatus::EsmeRok,
                seq,
                rusmpp::pdus::DeliverSmResp::default(),
            ))
            .await;
            got.push(c);
        }
    }
    got
}

#[tokio::test]
async fn receipts_backing_up_are_answered_with_queue_full_until_they_drain() {
    let mut cfg = config();
    cfg.receipts.store_capacity = 100;
    cfg.receipts.high_water = Some(20);
    cfg.receipts.low_water = Some(5);
    let net = TestNetwork::carrier(cfg).await;
    // A transmitter alone: nobody can take the receipts, so they back up.
    let mut tx = RawSession::connect(net.smpp).await;
    bind_transmitter(&mut tx).await;
    let (mut accepted, mut full) = (0, 0);
    for i in 0..60 {
        let resp = tx
            .call(build::text(&format!("4477009{i:05}"), "code"))
            .await;
        match resp.status() {
            CommandStatus::EsmeRok => accepted += 1,
            CommandStatus::EsmeRmsgqful => full += 1,
            other => panic!("unexpected status {other:?}"),
        }
    }
    // Each receipt is queued once its submit_sm_resp is written, before the next submit is read.
    assert_eq!((accepted, full), (20, 40));
    let stats = net.carrier_stats("default").await;
    assert_eq!(stats["backpressure_refusals"], 40, "{stats}");
    assert_eq!(stats["refusals"]["ESME_RMSGQFUL"], 40, "{stats}");
    assert_eq!(stats["receipts"]["overflow"], 0, "{stats}");
    assert_eq!(stats["receipts"]["queued"], 20, "{stats}");
    assert_eq!(
        net.metric("carrier_backpressure_refusals_total{carrier=\"default\"}")
            .await,
        40
    );

    // A receiver drains them; below the low-water mark submits are accepted again.
    let mut rx = RawSession::connect(net.smpp).await;
    bind_receiver(&mut rx).await;
    take_receipts(&mut rx, 20).await;
    eventually("the receipts are acknowledged", || async {
        net.carrier_stats("default").await["receipts"]["delivered"] == 20
    })
    .await;
    let resp = tx.call(build::quiet("447700900999")).await;
    assert_eq!(resp.status(), CommandStatus::EsmeRok);
    let stats = net.carrier_stats("default").await;
    assert_eq!(stats["receipts_balanced"], true, "{stats}");
    net.shutdown().await;
}

#[tokio::test]
async fn back_pressure_can_answer_throttled_instead() {
    let mut cfg = config();
    cfg.receipts.store_capacity = 10;
    cfg.receipts.high_water = Some(2);
    cfg.receipts.low_water = Some(1);
    cfg.receipts.full_response = simulator::config::ThrottleResponse::Throttled;
    let net = TestNetwork::carrier(cfg).await;
    let mut tx = RawSession::connect(net.smpp).await;
    bind_transmitter(&mut tx).await;
    let statuses: Vec<CommandStatus> = {
        let mut v = Vec::new();
        for i in 0..4 {
            v.push(
                tx.call(build::text(&format!("4477009{i:05}"), "x"))
                    .await
                    .status(),
            );
        }
        v
    };
    assert_eq!(
        statuses,
        [
            CommandStatus::EsmeRok,
            CommandStatus::EsmeRok,
            CommandStatus::EsmeRthrottled,
            CommandStatus::EsmeRthrottled
        ]
    );
    net.shutdown().await;
}

#[tokio::test]
async fn receipts_go_back_to_the_transceiver_that_submitted() {
    let net = TestNetwork::carrier(config()).await;
    let mut a = RawSession::bound(net.smpp).await;
    let mut b = RawSession::bound(net.smpp).await;
    // Both sessions can receive; each gets exactly the receipts of its own messages, each
    // after the submit_sm_resp that announced its id.
    for (session, prefix) in [(&mut a, "44770091"), (&mut b, "44770092")] {
        let mut ids = Vec::new();
        for i in 0..20 {
            let seq = session
                .request(build::text(&format!("{prefix}{i:04}"), "code"))
                .await;
            // The response comes first on this connection, then its receipt.
            let resp = session.next_non_probe().await;
            assert_eq!(resp.sequence_number(), seq);
            let Some(Pdu::SubmitSmResp(r)) = resp.pdu() else {
                panic!("expected submit_sm_resp, got {resp:?}");
            };
            ids.push(smpp::pdu::c_str(r.message_id()));
            let receipt = take_receipts(session, 1).await.remove(0);
            let Some(Pdu::DeliverSm(d)) = receipt.pdu() else {
                unreachable!()
            };
            let text = String::from_utf8_lossy(d.short_message().as_ref()).into_owned();
            let id = ids.last().expect("id");
            assert!(text.starts_with(&format!("id:{id} ")), "{text}");
        }
    }
    let stats = net.carrier_stats("default").await;
    assert_eq!(stats["receipts"]["delivered"], 40, "{stats}");
    net.shutdown().await;
}

#[tokio::test]
async fn timers_are_bounded_and_a_full_set_answers_queue_full() {
    let mut cfg = config();
    cfg.store.max_timers = 10;
    let minute = simulator::config::Distribution::fixed(Duration::from_secs(60));
    cfg.behaviour.handset_latency = Some(minute.clone());
    cfg.behaviour.receipt_latency = Some(minute);
    let net = TestNetwork::carrier(cfg).await;
    let mut s = RawSession::bound(net.smpp).await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(
            s.call(build::quiet(&format!("4477009{i:05}")))
                .await
                .status(),
        );
    }
    // Two timers per message (handset and final state): five fit in ten.
    let ok = statuses
        .iter()
        .filter(|s| **s == CommandStatus::EsmeRok)
        .count();
    assert_eq!(ok, 5, "{statuses:?}");
    assert!(
        statuses[5..]
            .iter()
            .all(|s| *s == CommandStatus::EsmeRmsgqful)
    );
    let stats = net.carrier_stats("default").await;
    assert_eq!(stats["timer_refusals"], 3, "{stats}");
    assert_eq!(stats["timers"], 10, "{stats}");
    // Shutdown does not wait for a minute of timers.
    let started = tokio::time::Instant::now();
    net.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn held_responses_are_capped_per_session_with_throttled_answers() {
    let mut cfg = config();
    cfg.session.max_held_responses = 3;
    cfg.behaviour.submit_latency = Some(simulator::config::Distribution::fixed(
        Duration::from_millis(300),
    ));
    let net = TestNetwork::carrier(cfg).await;
    let mut s = RawSession::bound(net.smpp).await;
    // Ten requests pipelined: three are held for 300 ms, the other seven answered at once.
    for i in 0..10 {
        s.request(build::quiet(&format!("4477009{i:05}"))).await;
    }
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(s.next_non_probe().await.status());
    }
    let throttled = statuses
        .iter()
        .filter(|s| **s == CommandStatus::EsmeRthrottled)
        .count();
    assert_eq!(throttled, 7, "{statuses:?}");
    // The refusals came first; the held responses after their latency.
    assert!(
        statuses[..7]
            .iter()
            .all(|s| *s == CommandStatus::EsmeRthrottled)
    );
    let stats = net.carrier_stats("default").await;
    assert_eq!(stats["window_refusals"], 7, "{stats}");
    assert_eq!(stats["messages_accepted"], 3, "{stats}");
    net.shutdown().await;
}

#[tokio::test]
async fn event_subscribers_are_capped_with_503_and_counted() {
    let mut sim = testbed_tests::network_of(config());
    sim.events.max_subscribers = 3;
    let net = TestNetwork::start(sim).await;
    let url = format!("ws://{}/v1/events?type=call", net.http);
    let mut open = Vec::new();
    for _ in 0..3 {
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("handshake under the cap");
        open.push(ws);
    }
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 503);
        }
        other => panic!("expected 503 past the cap, got {other:?}"),
    }
    let stats = net.get_ok("/v1/stats").await;
    assert_eq!(stats["event_subscribers"]["open"], 3, "{stats}");
    assert_eq!(stats["event_subscribers"]["refused"], 1, "{stats}");
    assert_eq!(
        net.metric("carrier_event_subscribers_refused_total").await,
        1
    );
    assert_eq!(net.metric("carrier_event_subscribers").await, 3);
    // A place frees when a subscriber leaves.
    drop(open.pop());
    eventually("the subscription is dropped", || async {
        net.get_ok("/v1/stats").await["event_subscribers"]["open"] == 2
    })
    .await;
    tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("a place again");
    net.shutdown().await;
}

#[tokio::test]
async fn long_mo_text_arrives_whole_and_too_long_is_refused() {
    let net = TestNetwork::carrier(config()).await;
    let mut rx = RawSession::bound(net.smpp).await;
    let text = "stop ".repeat(60); // 300 characters: more than one short_message
    let (status, body) = net
        .send_json(
            reqwest::Method::POST,
            "/v1/mo",
            &serde_json::json!({"from": "+447700900001", "to": "12345", "text": text}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let mo = take_receipts(&mut rx, 1).await.remove(0);
    let Some(Pdu::DeliverSm(d)) = mo.pdu() else {
        unreachable!()
    };
    assert!(d.short_message().as_ref().is_empty());
    let payload = smpp::pdu::message_payload(d.tlvs()).expect("message_payload");
    assert_eq!(payload, text.as_bytes());

    refused_with(
        &net,
        "/v1/mo",
        serde_json::json!({"from": "+447700900001", "to": "12345", "text": "x".repeat(1_000_000)}),
        "at most 1530",
    )
    .await;
    net.shutdown().await;
}

/// POSTs `body` to `path` and checks the answer is 400 with an error that says `why`.
async fn refused_with(net: &TestNetwork, path: &str, body: serde_json::Value, why: &str) {
    let (status, answer) = net.send_json(reqwest::Method::POST, path, &body).await;
    assert_eq!(status, 400, "{answer}");
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.contains(why), "{answer}");
}

#[tokio::test]
async fn call_text_is_capped() {
    let net = TestNetwork::carrier(config()).await;
    refused_with(
        &net,
        "/v1/calls",
        serde_json::json!({"to": "+447700900001", "from": "+15550001", "text": "1 ".repeat(5_000)}),
        "at most 1000",
    )
    .await;
    net.shutdown().await;
}

#[tokio::test]
async fn http_connections_are_capped_and_slow_headers_time_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sim = testbed_tests::network_of(config());
    sim.http.max_connections = 2;
    sim.http.header_timeout = Duration::from_millis(300);
    let net = TestNetwork::start(sim).await;
    // Two slowloris clients: a few bytes of headers, then nothing.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut s = tokio::net::TcpStream::connect(net.http)
            .await
            .expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        slow.push(s);
    }
    // While they hold both places, a third connection is answered 503 (once its request is
    // read, or after half a second without one, as here).
    let mut third = tokio::net::TcpStream::connect(net.http)
        .await
        .expect("connect");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), third.read_to_string(&mut answer))
        .await
        .expect("answered in time")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    // The slow ones are told 408 and closed when their header time runs out.
    for mut s in slow {
        let mut answer = String::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut answer))
            .await
            .expect("closed by the server within the header timeout");
        assert!(read.is_ok());
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("http.header_timeout"), "{answer}");
    }
    // A keep-alive connection left idle after its response is closed too, uncounted.
    let mut idle = tokio::net::TcpStream::connect(net.http)
        .await
        .expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), idle.read_to_string(&mut answer))
        .await
        .expect("closed within the header timeout")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.contains("408"), "{answer}");
    // Places are free again.
    eventually("the control plane answers again", || async {
        reqwest::get(net.url("/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    let stats = net.get_ok("/v1/stats").await;
    assert_eq!(stats["http"]["refused"], 1, "{stats}");
    assert_eq!(stats["http"]["header_timeouts"], 2, "{stats}");
    assert_eq!(
        net.metric("carrier_http_refusals_total{reason=\"connections\"}")
            .await,
        1
    );
    assert_eq!(
        net.metric("carrier_http_refusals_total{reason=\"header_timeout\"}")
            .await,
        2
    );
    net.shutdown().await;
}
