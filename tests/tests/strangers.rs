//! A carrier that lets no stranger in: failed binds are limited per source address, per
//! system_id and per connection (through real SMPP binds from several loopback addresses), and
//! the control plane's token and limits answer strangers and abusers clearly, each counted in
//! `/v1/stats` and `/metrics` (through real HTTP).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use rusmpp::CommandStatus;
use simulator::config::{CarrierConfig, ControlToken};
use testbed_tests::{PASSWORD, RawSession, SYSTEM_ID, TestNetwork, build, config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

fn loopback(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// Binds on a fresh connection from `source`; the status.
async fn bind_from(net: &TestNetwork, source: u8, password: &str) -> CommandStatus {
    let mut s = RawSession::connect_from(net.smpp, loopback(source)).await;
    s.bind_transceiver(SYSTEM_ID, password).await.status()
}

/// Three failures lock an address out for 1.5 s.
fn lockout_config() -> CarrierConfig {
    let mut cfg = config();
    cfg.bind_lockout.max_failures = 3;
    cfg.bind_lockout.cool_down = Duration::from_millis(1500);
    cfg
}

#[tokio::test]
async fn failed_binds_lock_the_address_out_for_the_cool_down_but_not_other_addresses() {
    let cool_down = Duration::from_millis(1500);
    let net = TestNetwork::carrier(lockout_config()).await;
    let bad = loopback(1);

    // A typo, then the right password, on one connection: bound, and the session works.
    let mut s = RawSession::connect_from(net.smpp, loopback(3)).await;
    assert_eq!(
        s.bind_transceiver(SYSTEM_ID, "typo").await.status(),
        CommandStatus::EsmeRinvpaswd
    );
    assert_eq!(
        s.bind_transceiver(SYSTEM_ID, PASSWORD).await.status(),
        CommandStatus::EsmeRok
    );
    let resp = s.call(build::text("447700900001", "hello")).await;
    assert_eq!(resp.status(), CommandStatus::EsmeRok);
    drop(s);

    // Two wrong passwords on one connection: both answered, then the carrier closes it.
    let mut s = RawSession::connect_from(net.smpp, bad).await;
    for _ in 0..2 {
        assert_eq!(
            s.bind_transceiver(SYSTEM_ID, "wrong").await.status(),
            CommandStatus::EsmeRinvpaswd
        );
    }
    assert!(s.closed().await, "closed after the second failed bind");

    // The third failure locks the address: even the right password is refused from it now,
    // and the connection is closed after that second refusal.
    let mut s = RawSession::connect_from(net.smpp, bad).await;
    let third = Instant::now();
    assert_eq!(
        s.bind_transceiver(SYSTEM_ID, "guess").await.status(),
        CommandStatus::EsmeRinvpaswd
    );
    assert_eq!(
        s.bind_transceiver(SYSTEM_ID, PASSWORD).await.status(),
        CommandStatus::EsmeRbindfail
    );
    assert!(s.closed().await);
    assert_eq!(
        bind_from(&net, 1, PASSWORD).await,
        CommandStatus::EsmeRbindfail,
        "locked on a new connection too"
    );
    // Another machine with the right password is not locked out by the attacker.
    assert_eq!(bind_from(&net, 2, PASSWORD).await, CommandStatus::EsmeRok);

    let stats = net.carrier_stats("default").await;
    let l = &stats["bind_lockout"];
    assert_eq!(l["failures"], 4, "{l}"); // typo, wrong, wrong, guess
    assert_eq!(l["address_lockouts"], 1, "{l}");
    assert_eq!(l["refused_address_locked"], 2, "{l}");
    assert_eq!(l["connections_closed"], 2, "{l}");
    assert_eq!(l["locked_addresses"], 1, "{l}");
    assert_eq!(l["system_id_guards"], 0, "{l}");
    let metric = |name: &str| format!("{name}{{carrier=\"default\"}}");
    assert_eq!(
        net.metric(&metric("carrier_bind_address_lockouts_total"))
            .await,
        1
    );
    assert_eq!(
        net.metric(&metric("carrier_bind_refused_address_locked_total"))
            .await,
        2
    );
    assert_eq!(net.metric(&metric("carrier_bind_failures_total")).await, 4);
    assert_eq!(
        net.metric(&metric("carrier_bind_failure_closes_total"))
            .await,
        2
    );
    assert_eq!(
        net.metric(&metric("carrier_bind_locked_addresses")).await,
        1
    );
    // ESME_RBINDFAIL (0x0d) twice in the bind counts.
    assert_eq!(
        net.metric(
            "carrier_binds_total{carrier=\"default\",kind=\"transceiver\",status=\"0x0000000d\"}"
        )
        .await,
        2
    );

    // After the cool-down the address binds again.
    tokio::time::sleep_until(third + cool_down + Duration::from_millis(100)).await;
    assert_eq!(bind_from(&net, 1, PASSWORD).await, CommandStatus::EsmeRok);
    let l = net.carrier_stats("default").await["bind_lockout"].clone();
    assert_eq!(l["locked_addresses"], 0, "{l}");
    assert_eq!(l["refused_address_locked"], 2, "{l}");
    net.shutdown().await;
}

#[tokio::test]
async fn guessing_from_many_addresses_guards_the_system_id_against_those_addresses_only() {
    let mut cfg = lockout_config();
    cfg.bind_lockout.system_id_addresses = 3;
    let net = TestNetwork::carrier(cfg).await;
    // Three machines guess once each: none reaches the per-address limit.
    for source in 2..=4 {
        assert_eq!(
            bind_from(&net, source, "guess").await,
            CommandStatus::EsmeRinvpaswd
        );
    }
    // The system_id is guarded now: a guesser gets no second try, even with the right password.
    assert_eq!(
        bind_from(&net, 2, PASSWORD).await,
        CommandStatus::EsmeRbindfail
    );
    // The owner, from an address that never failed, binds.
    assert_eq!(bind_from(&net, 5, PASSWORD).await, CommandStatus::EsmeRok);
    // A new guesser gets one guess, then is refused.
    assert_eq!(
        bind_from(&net, 6, "guess").await,
        CommandStatus::EsmeRinvpaswd
    );
    assert_eq!(
        bind_from(&net, 6, PASSWORD).await,
        CommandStatus::EsmeRbindfail
    );

    let l = net.carrier_stats("default").await["bind_lockout"].clone();
    assert_eq!(l["system_id_guards"], 1, "{l}");
    assert_eq!(l["refused_system_id_guarded"], 2, "{l}");
    assert_eq!(l["guarded_system_ids"], 1, "{l}");
    assert_eq!(l["address_lockouts"], 0, "{l}");
    assert_eq!(
        net.metric("carrier_bind_system_id_guards_total{carrier=\"default\"}")
            .await,
        1
    );
    assert_eq!(
        net.metric("carrier_bind_refused_system_id_guarded_total{carrier=\"default\"}")
            .await,
        2
    );
    assert_eq!(
        net.metric("carrier_bind_guarded_system_ids{carrier=\"default\"}")
            .await,
        1
    );
    net.shutdown().await;
}

#[tokio::test]
async fn with_the_limits_off_a_connection_may_guess_for_ever() {
    let mut cfg = config();
    cfg.bind_lockout.enabled = false;
    let net = TestNetwork::carrier(cfg).await;
    let mut s = RawSession::connect(net.smpp).await;
    for _ in 0..20 {
        assert_eq!(
            s.bind_transceiver(SYSTEM_ID, "wrong").await.status(),
            CommandStatus::EsmeRinvpaswd
        );
    }
    assert_eq!(
        s.bind_transceiver(SYSTEM_ID, PASSWORD).await.status(),
        CommandStatus::EsmeRok
    );
    let l = net.carrier_stats("default").await["bind_lockout"].clone();
    assert_eq!(l["failures"], 20, "{l}");
    assert_eq!(l["address_lockouts"], 0, "{l}");
    assert_eq!(l["connections_closed"], 0, "{l}");
    net.shutdown().await;
}

const TOKEN: &str = "s3cret-t0ken";

async fn with_token() -> TestNetwork {
    let mut sim = testbed_tests::network_of(config());
    sim.http.token = Some(ControlToken::new(TOKEN));
    TestNetwork::start(sim).await
}

/// GET `path` with an optional `Authorization` header: status, WWW-Authenticate, body.
async fn get(net: &TestNetwork, path: &str, auth: Option<&str>) -> (u16, String, String) {
    let mut req = reqwest::Client::new().get(net.url(path));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = req.send().await.expect("GET");
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    (status, challenge, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn with_a_token_only_health_and_metrics_answer_strangers() {
    let net = with_token().await;
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(get(&net, "/healthz", None).await.0, 200);
    assert_eq!(get(&net, "/metrics", None).await.0, 200);

    let mut refused = 0;
    for path in [
        "/v1/stats",
        "/v1/messages",
        "/v1/carriers",
        "/v1/handsets/447700900001",
        "/v1/no-such-thing",
    ] {
        let (status, challenge, body) = get(&net, path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(challenge.starts_with("Bearer"), "{path}: {challenge}");
        let body: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("Authorization: Bearer"),
            "{body}"
        );
        refused += 1;
    }
    let (status, challenge, _) = get(&net, "/v1/stats", Some("Bearer not-the-token")).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    refused += 1;

    // A stranger cannot take the carrier down.
    let resp = reqwest::Client::new()
        .post(net.url("/v1/carriers/default/outage"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    refused += 1;
    // Nor change a number's lookup answer; with the token it can.
    let recycle = |auth: Option<&str>| {
        let mut req = reqwest::Client::new().post(net.url("/v1/numbers/447700900001/recycle"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    assert_eq!(recycle(None).await.unwrap().status().as_u16(), 401);
    refused += 1;
    assert_eq!(recycle(Some(&bearer)).await.unwrap().status().as_u16(), 200);

    // The event stream needs it too: the header, or `access_token` for browsers.
    let url = format!("ws://{}/v1/events?type=mo", net.http);
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 401);
        }
        other => panic!("expected 401 without the token, got {other:?}"),
    }
    refused += 1;
    {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", bearer.parse().unwrap());
        tokio_tungstenite::connect_async(req)
            .await
            .expect("handshake with the header");
    }
    tokio_tungstenite::connect_async(format!("{url}&access_token={TOKEN}"))
        .await
        .expect("handshake with access_token");

    // With the token everything works, and the refusals are counted.
    let (status, _, body) = get(&net, "/v1/stats", Some(&bearer)).await;
    assert_eq!(status, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["http"]["unauthorized"], refused, "{stats}");
    assert_eq!(stats["carriers"][0]["down"], false, "{stats}");
    assert_eq!(
        net.metric("carrier_http_refusals_total{reason=\"unauthorized\"}")
            .await,
        refused
    );
    net.shutdown().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_answered_413_whether_announced_or_chunked() {
    let mut sim = testbed_tests::network_of(config());
    sim.http.max_body_bytes = 1024;
    let net = TestNetwork::start(sim).await;
    let mo = |text: &str| serde_json::json!({"from": "+447700900001", "to": "12345", "text": text});
    // Under the limit: served.
    let (status, body) = net
        .send_json(reqwest::Method::POST, "/v1/mo", &mo("STOP"))
        .await;
    assert_eq!(status, 202, "{body}");
    // Announced by Content-Length: refused before it is read.
    let (status, body) = net
        .send_json(reqwest::Method::POST, "/v1/mo", &mo(&"x".repeat(2000)))
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("max_body_bytes"),
        "{body}"
    );
    // Chunked (no length announced): refused when reading passes the limit.
    let mut s = tokio::net::TcpStream::connect(net.http).await.unwrap();
    let chunk = format!(
        "{{\"from\":\"+447700900001\",\"to\":\"12345\",\"text\":\"{}\"}}",
        "y".repeat(2000)
    );
    let request = format!(
        "POST /v1/mo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("max_body_bytes"), "{answer}");

    let stats = net.get_ok("/v1/stats").await;
    assert_eq!(stats["http"]["body_too_large"], 2, "{stats}");
    assert_eq!(
        net.metric("carrier_http_refusals_total{reason=\"body_too_large\"}")
            .await,
        2
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_websocket_stream_holds_its_connection_place_until_it_ends() {
    let mut sim = testbed_tests::network_of(config());
    sim.http.max_connections = 2;
    let net = TestNetwork::start(sim).await;
    let url = format!("ws://{}/v1/events?type=call", net.http);
    let (first, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("handshake");
    let (_second, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("handshake");
    // Both places are held by the streams: a plain request is answered 503.
    let resp = reqwest::get(net.url("/healthz")).await.expect("answered");
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.text().await.unwrap().contains("http.max_connections"));
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = reqwest::get(net.url("/healthz")).await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the place is freed when the stream ends"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    net.shutdown().await;
}

#[tokio::test]
async fn a_body_that_trickles_in_past_the_request_timeout_is_answered_408() {
    let mut sim = testbed_tests::network_of(config());
    sim.http.request_timeout = Duration::from_millis(300);
    let net = TestNetwork::start(sim).await;
    let mut s = tokio::net::TcpStream::connect(net.http).await.unwrap();
    // The headers promise 100 bytes; 10 come, then nothing.
    s.write_all(
        b"POST /v1/mo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"from\":\"+",
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("not completed within"), "{answer}");
    let stats = net.get_ok("/v1/stats").await;
    assert_eq!(stats["http"]["timed_out"], 1, "{stats}");
    assert_eq!(
        net.metric("carrier_http_refusals_total{reason=\"request_timeout\"}")
            .await,
        1
    );
    net.shutdown().await;
}

#[tokio::test]
async fn the_last_refused_bind_is_answered_before_the_close_even_with_a_response_delay() {
    let mut cfg = config();
    cfg.faults.response_delay = Some(simulator::config::Distribution::fixed(
        Duration::from_millis(200),
    ));
    let net = TestNetwork::carrier(cfg).await;
    let mut s = RawSession::connect(net.smpp).await;
    for _ in 0..2 {
        assert_eq!(
            s.bind_transceiver(SYSTEM_ID, "wrong").await.status(),
            CommandStatus::EsmeRinvpaswd
        );
    }
    assert!(s.closed().await);
    net.shutdown().await;
}
