//! carrier-sim driven by the shared ESME client (`smpp::client`), the way verifier and loadgen
//! use it: binds, windowed submits, receipts as events, store-and-forward across a rebind,
//! receipt retry after a refused ack, unbind at shutdown, reconnect, and SMPP over TLS.

use std::sync::Arc;
use std::time::Duration;

use rusmpp::CommandStatus;
use simulator::Binds;
use smpp::client::{
    BindMode, Client, ClientConfig, ClientError, DeliverAck, Event, Events, ReconnectPolicy, Target,
};
use smpp::receipt::ReceiptState;
use testbed_tests::{PASSWORD, SYSTEM_ID, TestNetwork, build, config, network_of, poll_until};

fn cfg(bind: BindMode) -> ClientConfig {
    let mut c = ClientConfig::new(SYSTEM_ID, PASSWORD);
    c.bind = bind;
    c.response_timeout = Duration::from_secs(5);
    c
}

async fn connect(carrier: &TestNetwork, c: ClientConfig) -> (Client, Events) {
    Client::connect(Target::Tcp(carrier.smpp.to_string()), c)
        .await
        .expect("connect and bind")
}

/// Next receipt event within 10 s: (message id, state), acked by the client's policy.
async fn next_receipt(events: &mut Events) -> (String, ReceiptState) {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("a receipt within 10 s")
            .expect("event stream open");
        if let Event::Deliver {
            receipt: Some(r), ..
        } = e
        {
            return (r.id, r.stat);
        }
    }
}

#[tokio::test]
async fn windowed_submits_each_get_a_matching_receipt() {
    let c = TestNetwork::carrier(config()).await;
    let mut conf = cfg(BindMode::Transceiver);
    conf.window = 8;
    let (client, mut events) = connect(&c, conf).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .submit_sm(build::text(&format!("4477009{i:05}"), &format!("code {i}")))
                .await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let r = t.await.unwrap().expect("submit answered");
        assert_eq!(r.status, CommandStatus::EsmeRok);
        ids.push(r.message_id.expect("message id"));
    }
    let mut got = Vec::new();
    for _ in 0..50 {
        let (id, state) = next_receipt(&mut events).await;
        assert_eq!(state, ReceiptState::Delivered);
        got.push(id);
    }
    ids.sort();
    got.sort();
    assert_eq!(got, ids, "every receipt matches a submitted id, none twice");
    client.unbind().await.expect("unbind");
    let report = c.shutdown().await;
    assert_eq!(report.total.receipts.delivered, 50);
    assert!(report.total.receipts.balances());
}

#[tokio::test]
async fn bind_refusal_is_a_typed_error() {
    let c = TestNetwork::carrier(config()).await;
    let mut conf = cfg(BindMode::Transmitter);
    conf.password = "nope".into();
    let err = Client::connect(Target::Tcp(c.smpp.to_string()), conf)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::BindRefused {
                status: CommandStatus::EsmeRinvpaswd,
                ..
            }
        ),
        "{err}"
    );
    c.shutdown().await;
}

#[tokio::test]
async fn receipts_wait_for_a_receiver_and_survive_a_rebind() {
    let c = TestNetwork::carrier(config()).await;
    let (tx, _tx_events) = connect(&c, cfg(BindMode::Transmitter)).await;
    let first = tx
        .submit_sm(build::text("447700900100", "one"))
        .await
        .unwrap();
    // A receiver binds, takes the first receipt, then leaves.
    let (rx, mut rx_events) = connect(&c, cfg(BindMode::Receiver)).await;
    assert_eq!(
        next_receipt(&mut rx_events).await.0,
        first.message_id.clone().unwrap()
    );
    rx.unbind().await.unwrap();
    drop(rx_events);
    // Submitted while nobody receives: stored.
    let second = tx
        .submit_sm(build::text("447700900100", "two"))
        .await
        .unwrap();
    let account = poll_until(
        Duration::from_secs(10),
        async || c.running.stats().receipts,
        |a| a.queued == 1,
    )
    .await;
    assert_eq!(account.queued, 1);
    // The next receiver bind gets it.
    let (_rx2, mut rx2_events) = connect(&c, cfg(BindMode::Receiver)).await;
    assert_eq!(
        next_receipt(&mut rx2_events).await.0,
        second.message_id.unwrap()
    );
    // Delivered once the carrier has read the client's ack.
    let account = poll_until(
        Duration::from_secs(10),
        async || c.running.stats().receipts,
        |a| (a.delivered, a.stored()) == (2, 0),
    )
    .await;
    assert_eq!((account.delivered, account.stored()), (2, 0));
    c.shutdown().await;
}

#[tokio::test]
async fn a_refused_receipt_comes_again() {
    let mut carrier_cfg = config();
    carrier_cfg.receipts.retry_backoff = Duration::from_millis(100);
    let c = TestNetwork::carrier(carrier_cfg).await;
    let mut conf = cfg(BindMode::Transceiver);
    conf.deliver_ack = DeliverAck::Manual;
    let (client, mut events) = connect(&c, conf).await;
    let id = client
        .submit_sm(build::text("447700900101", "again"))
        .await
        .unwrap()
        .message_id
        .unwrap();
    let mut attempts = Vec::new();
    while attempts.len() < 2 {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .unwrap()
            .unwrap();
        if let Event::Deliver {
            receipt: Some(r),
            responder: Some(resp),
            ..
        } = e
        {
            // Refuse the first, accept the second.
            let status = if attempts.is_empty() {
                CommandStatus::EsmeRxTAppn
            } else {
                CommandStatus::EsmeRok
            };
            resp.respond(status).await.unwrap();
            attempts.push(r.id);
        }
    }
    assert_eq!(attempts, vec![id.clone(), id]);
    let a = poll_until(
        Duration::from_secs(10),
        async || c.running.stats().receipts,
        |a| (a.generated, a.delivered, a.stored()) == (1, 1, 0),
    )
    .await;
    assert_eq!((a.generated, a.delivered, a.stored()), (1, 1, 0));
    c.shutdown().await;
}

#[tokio::test]
async fn shutdown_unbinds_the_client() {
    let c = TestNetwork::carrier(config()).await;
    let (client, mut events) = connect(&c, cfg(BindMode::Transceiver)).await;
    let stop = tokio::spawn(c.shutdown());
    let mut unbound = false;
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
        if matches!(e, Event::Unbound) {
            unbound = true;
            break;
        }
    }
    assert!(unbound, "the carrier unbinds bound clients when it stops");
    let report = stop.await.unwrap();
    assert_eq!(
        report.total.sessions_cut, 0,
        "the unbind_resp let the session end in time"
    );
    assert!(
        client
            .submit_sm(build::text("447700900102", "late"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn client_reconnects_when_the_carrier_comes_back() {
    let first = TestNetwork::carrier(config()).await;
    let addr = first.smpp;
    let mut conf = cfg(BindMode::Transceiver);
    conf.reconnect = Some(ReconnectPolicy {
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        jitter: false,
        max_attempts: None,
    });
    let (client, mut events) = connect(&first, conf).await;
    assert_eq!(
        client
            .submit_sm(build::text("447700900103", "before"))
            .await
            .unwrap()
            .status,
        CommandStatus::EsmeRok
    );
    // The carrier goes away (unbinding the client), then a new one listens on the same port.
    first.shutdown().await;
    let second = TestNetwork::start_with(
        network_of(config()),
        Binds::loopback().smpp("default", addr.to_string()),
    )
    .await;
    let mut reconnected = false;
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
        if matches!(e, Event::Reconnected) {
            reconnected = true;
            break;
        }
    }
    assert!(
        reconnected,
        "the client rebinds with backoff once the carrier is back"
    );
    let r = client
        .submit_sm(build::text("447700900103", "after"))
        .await
        .unwrap();
    assert_eq!(r.status, CommandStatus::EsmeRok);
    assert_eq!(next_receipt(&mut events).await.0, r.message_id.unwrap());
    assert!(client.counters().reconnects >= 1);
    second.shutdown().await;
}

fn tls_pair() -> (tokio_rustls::TlsAcceptor, tokio_rustls::TlsConnector) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_der = key.cert.der().clone();
    let key_der =
        rustls_pki_types::PrivateKeyDer::try_from(key.signing_key.serialize_der()).unwrap();
    let acceptor = simulator::tls_acceptor(vec![cert_der.clone()], key_der).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (acceptor, tokio_rustls::TlsConnector::from(Arc::new(client)))
}

#[tokio::test]
async fn smpp_over_tls() {
    let (acceptor, connector) = tls_pair();
    let c = TestNetwork::start_with(
        network_of(config()),
        Binds::loopback().tls("default", acceptor),
    )
    .await;
    let target = Target::Tls {
        addr: c.smpp_tls.unwrap().to_string(),
        connector,
        server_name: rustls_pki_types::ServerName::try_from("localhost").unwrap(),
    };
    let (client, mut events) = Client::connect(target, cfg(BindMode::Transceiver))
        .await
        .expect("TLS bind");
    let r = client
        .submit_sm(build::text("447700900104", "over TLS"))
        .await
        .unwrap();
    assert_eq!(r.status, CommandStatus::EsmeRok);
    assert_eq!(next_receipt(&mut events).await.0, r.message_id.unwrap());
    let body = c.get_ok("/v1/messages?to=447700900104").await;
    assert_eq!(body["messages"][0]["text"], "over TLS");
    // The plain listener still works beside it.
    let (plain, _e) = connect(&c, cfg(BindMode::Transmitter)).await;
    assert!(plain.enquire_link().await.unwrap().is_ok());
    c.shutdown().await;
}
