//! Client session tests against a scripted fake SMSC.
//!
//! Most tests run over `tokio::io::duplex` with paused time, so timeouts and keep-alives are
//! exercised without waiting; reconnection runs over real TCP on 127.0.0.1 with short backoffs.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use rusmpp::pdus::{DataSm, DeliverSm, SubmitSm, SubmitSmResp};
use rusmpp::types::OctetString;
use rusmpp::values::EsmClass;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream};
use tokio::net::TcpListener;
use tokio_util::codec::Framed;

use super::session::SequenceNumbers;
use super::*;
use crate::frame::{Frame, RawPdu, SmppCodec};
use crate::pdu::{bind_response, c_string};
use crate::receipt::{NetworkError, ReceiptState, data_sm_receipt_tlvs};

/// The SMSC side of a test: reads and writes whole PDUs.
struct Smsc<S> {
    io: Framed<S, SmppCodec>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Smsc<S> {
    fn new(stream: S) -> Self {
        Self {
            io: Framed::new(stream, SmppCodec::default()),
        }
    }

    async fn frame(&mut self) -> Option<Frame> {
        match self.io.next().await {
            Some(Ok(frame)) => Some(frame),
            Some(Err(e)) => panic!("fake SMSC could not frame: {e}"),
            None => None,
        }
    }

    async fn recv(&mut self) -> Command {
        let frame = self.frame().await.expect("client closed the connection");
        frame.decode().expect("client PDU decodes")
    }

    async fn send(&mut self, command: Command) {
        self.io.send(&command).await.expect("fake SMSC write");
    }

    async fn send_raw(&mut self, bytes: Vec<u8>) {
        self.io
            .send(RawPdu(Bytes::from(bytes)))
            .await
            .expect("fake SMSC write");
    }

    /// Reads the bind and answers it with `status`; returns the bind.
    async fn answer_bind(&mut self, status: CommandStatus) -> Command {
        let bind = self.recv().await;
        let version = bind_version(&bind);
        self.send(bind_response(
            bind.id(),
            status,
            bind.sequence_number(),
            "SMSC",
            version,
        ))
        .await;
        bind
    }

    async fn accept_bind(&mut self) -> Command {
        self.answer_bind(CommandStatus::EsmeRok).await
    }

    async fn answer_submit(&mut self, req: &Command, status: CommandStatus, id: &str) {
        let resp = SubmitSmResp::new(c_string::<65>(id), Vec::new());
        self.send(Command::new(status, req.sequence_number(), resp))
            .await;
    }
}

fn bind_version(bind: &Command) -> u8 {
    match bind.pdu() {
        Some(Pdu::BindTransceiver(b)) => u8::from(b.interface_version),
        Some(Pdu::BindTransmitter(b)) => u8::from(b.interface_version),
        Some(Pdu::BindReceiver(b)) => u8::from(b.interface_version),
        other => panic!("expected a bind, got {other:?}"),
    }
}

fn cfg() -> ClientConfig {
    let mut cfg = ClientConfig::new("esme", "secret");
    cfg.enquire_link_interval = None;
    cfg.response_timeout = Duration::from_secs(5);
    cfg
}

fn sm(dest: &str) -> SubmitSm {
    SubmitSm::builder()
        .source_addr(c_string::<21>("Acme"))
        .destination_addr(c_string::<21>(dest))
        .esm_class(EsmClass::from(0u8))
        .short_message(OctetString::from_slice(b"code 123456").expect("short text"))
        .build()
}

fn destination(cmd: &Command) -> String {
    match cmd.pdu() {
        Some(Pdu::SubmitSm(s)) => s.destination_addr.as_str().to_string(),
        other => panic!("expected submit_sm, got {other:?}"),
    }
}

fn deliver_sm(esm_class: u8, text: &str) -> DeliverSm {
    DeliverSm::builder()
        .source_addr(c_string::<21>("447700900001"))
        .destination_addr(c_string::<21>("Acme"))
        .esm_class(EsmClass::from(esm_class))
        .short_message(OctetString::from_slice(text.as_bytes()).expect("short text"))
        .build()
}

async fn session(cfg: ClientConfig) -> (Client, Events, Smsc<DuplexStream>) {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let mut smsc = Smsc::new(b);
    let (client, _) = tokio::join!(Client::bind_stream(a, cfg), smsc.accept_bind());
    let (client, events) = client.expect("bind succeeds");
    (client, events, smsc)
}

/// Next event that is not an enquire_link notice.
async fn next_event(events: &mut Events) -> Option<Event> {
    loop {
        match events.recv().await {
            Some(Event::EnquireLink { .. }) => continue,
            other => return other,
        }
    }
}

#[test]
fn sequence_numbers_wrap_to_one() {
    let seq = SequenceNumbers::starting_at(0x7FFF_FFFE);
    let got: Vec<u32> = (0..4).map(|_| seq.next()).collect();
    assert_eq!(got, vec![0x7FFF_FFFE, 0x7FFF_FFFF, 1, 2]);
    let fresh = SequenceNumbers::starting_at(0);
    assert_eq!(fresh.next(), 1);
}

#[tokio::test(start_paused = true)]
async fn binds_with_the_configured_fields() {
    let mut c = cfg();
    c.system_type = "OTP".into();
    c.address_range = "^44".into();
    let (a, b) = tokio::io::duplex(4096);
    let mut smsc = Smsc::new(b);
    let (client, bind) = tokio::join!(Client::bind_stream(a, c), smsc.accept_bind());
    let (client, _events) = client.expect("bound");
    assert_eq!(bind.sequence_number(), 1);
    match bind.pdu() {
        Some(Pdu::BindTransceiver(b)) => {
            assert_eq!(b.system_id.as_str(), "esme");
            assert_eq!(b.password.as_str(), "secret");
            assert_eq!(b.system_type.as_str(), "OTP");
            assert_eq!(b.address_range.as_str(), "^44");
            assert_eq!(u8::from(b.interface_version), 0x34);
        }
        other => panic!("expected bind_transceiver, got {other:?}"),
    }
    assert_eq!(client.bind_info().system_id, "SMSC");
    assert_eq!(client.bind_info().sc_interface_version, Some(0x34));
    assert!(client.is_connected());
}

#[tokio::test(start_paused = true)]
async fn binds_as_transmitter_with_smpp50() {
    let mut c = cfg();
    c.bind = BindMode::Transmitter;
    c.interface_version = 0x50;
    let (a, b) = tokio::io::duplex(4096);
    let mut smsc = Smsc::new(b);
    let (client, bind) = tokio::join!(Client::bind_stream(a, c), smsc.accept_bind());
    assert!(client.is_ok());
    assert_eq!(bind.id(), CommandId::BindTransmitter);
    assert_eq!(bind_version(&bind), 0x50);
}

#[tokio::test(start_paused = true)]
async fn bind_refused_carries_the_status() {
    let (a, b) = tokio::io::duplex(4096);
    let mut smsc = Smsc::new(b);
    let (client, _) = tokio::join!(
        Client::bind_stream(a, cfg()),
        smsc.answer_bind(CommandStatus::EsmeRinvpaswd)
    );
    match client {
        Err(ClientError::BindRefused { command, status }) => {
            assert_eq!(command, "bind_transceiver");
            assert_eq!(status, CommandStatus::EsmeRinvpaswd);
        }
        other => panic!("expected BindRefused, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn header_only_bind_refusal_uses_the_header_status() {
    let (a, b) = tokio::io::duplex(4096);
    let mut smsc = Smsc::new(b);
    let server = async {
        let bind = smsc.recv().await;
        // bind_transceiver_resp, ESME_RBINDFAIL, no body at all.
        let mut pdu = vec![0, 0, 0, 16, 0x80, 0, 0, 9, 0, 0, 0, 0x0D];
        pdu.extend_from_slice(&bind.sequence_number().to_be_bytes());
        smsc.send_raw(pdu).await;
    };
    let (client, _) = tokio::join!(Client::bind_stream(a, cfg()), server);
    assert!(matches!(
        client,
        Err(ClientError::BindRefused {
            status: CommandStatus::EsmeRbindfail,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn bind_times_out() {
    let (a, b) = tokio::io::duplex(4096);
    let mut smsc = Smsc::new(b);
    let (client, _) = tokio::join!(Client::bind_stream(a, cfg()), smsc.recv());
    assert!(matches!(client, Err(ClientError::BindTimeout { .. })));
}

#[tokio::test(start_paused = true)]
async fn invalid_config_is_refused_before_connecting() {
    let (a, _b) = tokio::io::duplex(4096);
    let mut c = cfg();
    c.password = "much_too_long".into();
    match Client::bind_stream(a, c).await {
        Err(ClientError::InvalidConfig { field, .. }) => assert_eq!(field, "password"),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn submit_returns_the_message_id() {
    let (client, _events, mut smsc) = session(cfg()).await;
    let server = async {
        let req = smsc.recv().await;
        assert_eq!(req.id(), CommandId::SubmitSm);
        assert_eq!(req.status(), CommandStatus::EsmeRok);
        smsc.answer_submit(&req, CommandStatus::EsmeRok, "0A1B2C")
            .await;
    };
    let (result, _) = tokio::join!(client.submit_sm(sm("447700900123")), server);
    let result = result.expect("answered");
    assert_eq!(result.status, CommandStatus::EsmeRok);
    assert_eq!(result.message_id.as_deref(), Some("0A1B2C"));
    let counters = client.counters();
    assert_eq!(counters.requests_sent, 1);
    assert_eq!(counters.responses_with(CommandStatus::EsmeRok), 1);
}

#[tokio::test(start_paused = true)]
async fn window_holds_the_third_request_until_a_response() {
    let mut c = cfg();
    c.window = 2;
    c.response_timeout = Duration::from_secs(30);
    let (client, _events, mut smsc) = session(c).await;
    let tasks: Vec<_> = (1..=3)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.submit_sm(sm(&format!("4477009000{i}"))).await })
        })
        .collect();
    let first = smsc.recv().await;
    let second = smsc.recv().await;
    let third_early = tokio::time::timeout(Duration::from_secs(10), smsc.frame()).await;
    assert!(
        third_early.is_err(),
        "a third request went out with a window of 2"
    );
    assert_eq!(client.in_flight(), 2);
    smsc.answer_submit(&first, CommandStatus::EsmeRok, "m1")
        .await;
    let third = smsc.recv().await;
    smsc.answer_submit(&second, CommandStatus::EsmeRok, "m2")
        .await;
    smsc.answer_submit(&third, CommandStatus::EsmeRok, "m3")
        .await;
    for t in tasks {
        let r = t.await.expect("task").expect("answered");
        assert_eq!(r.status, CommandStatus::EsmeRok);
    }
    assert_eq!(client.counters().responses, 3);
}

#[tokio::test(start_paused = true)]
async fn many_concurrent_requests_each_get_their_own_answer() {
    let mut c = cfg();
    c.window = 8;
    let (client, _events, mut smsc) = session(c).await;
    let server = tokio::spawn(async move {
        serve_echo(&mut smsc).await;
    });
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let dest = format!("4477{i:06}");
                let r = client.submit_sm(sm(&dest)).await;
                (dest, r)
            })
        })
        .collect();
    for t in tasks {
        let (dest, r) = t.await.expect("task");
        assert_eq!(r.expect("answered").message_id, Some(format!("id-{dest}")));
    }
    let counters = client.counters();
    assert_eq!(counters.requests_sent, 200);
    assert_eq!(counters.responses, 200);
    assert_eq!(client.in_flight(), 0);
    client.close().await;
    server.await.expect("server");
}

/// Answers every submit_sm with `id-{destination}` until the client goes away.
async fn serve_echo<S: AsyncRead + AsyncWrite + Unpin>(smsc: &mut Smsc<S>) {
    while let Some(frame) = smsc.frame().await {
        let req = frame.decode().expect("decodes");
        let id = format!("id-{}", destination(&req));
        smsc.answer_submit(&req, CommandStatus::EsmeRok, &id).await;
    }
}

#[tokio::test(start_paused = true)]
async fn responses_are_matched_by_sequence_number_out_of_order() {
    let (client, _events, mut smsc) = session(cfg()).await;
    let dests = ["447700900001", "447700900002", "447700900003"];
    let tasks: Vec<_> = dests
        .iter()
        .map(|d| {
            let client = client.clone();
            let d = d.to_string();
            tokio::spawn(async move { (d.clone(), client.submit_sm(sm(&d)).await) })
        })
        .collect();
    let mut reqs = Vec::new();
    for _ in 0..3 {
        reqs.push(smsc.recv().await);
    }
    for req in reqs.iter().rev() {
        let id = format!("id-{}", destination(req));
        smsc.answer_submit(req, CommandStatus::EsmeRok, &id).await;
    }
    for t in tasks {
        let (dest, r) = t.await.expect("task");
        let r = r.expect("answered");
        assert_eq!(r.message_id, Some(format!("id-{dest}")));
    }
}

#[tokio::test(start_paused = true)]
async fn query_sm_and_submit_multi_return_typed_results() {
    use rusmpp::pdus::{QuerySm, QuerySmResp, SubmitMulti, SubmitMultiResp};
    use rusmpp::values::{DestAddress, MessageState, Npi, SmeAddress, Ton, UnsuccessSme};
    let (client, _events, mut smsc) = session(cfg()).await;
    let server = async {
        let q = smsc.recv().await;
        assert_eq!(q.id(), CommandId::QuerySm);
        let resp = QuerySmResp::builder()
            .message_id(c_string::<65>("0A1B2C"))
            .message_state(MessageState::Delivered)
            .build();
        smsc.send(Command::new(
            CommandStatus::EsmeRok,
            q.sequence_number(),
            resp,
        ))
        .await;
        let m = smsc.recv().await;
        assert_eq!(m.id(), CommandId::SubmitMulti);
        let refused = UnsuccessSme::new(
            Ton::International,
            Npi::Isdn,
            c_string::<21>("447700900002"),
            CommandStatus::EsmeRinvdstadr,
        );
        let resp = SubmitMultiResp::builder()
            .message_id(c_string::<65>("multi-1"))
            .push_unsuccess_sme(refused)
            .build();
        smsc.send(Command::new(
            CommandStatus::EsmeRok,
            m.sequence_number(),
            resp,
        ))
        .await;
    };
    let requests = async {
        let query = QuerySm {
            message_id: c_string::<65>("0A1B2C"),
            ..Default::default()
        };
        let q = client.query_sm(query).await.expect("query answered");
        let dests = ["447700900001", "447700900002"]
            .iter()
            .map(|d| {
                DestAddress::SmeAddress(SmeAddress::new(
                    Ton::International,
                    Npi::Isdn,
                    c_string::<21>(d),
                ))
            })
            .collect();
        let multi = SubmitMulti::builder()
            .source_addr(c_string::<21>("Acme"))
            .dest_address(dests)
            .esm_class(EsmClass::from(0u8))
            .short_message(OctetString::from_slice(b"hi").expect("short text"))
            .build();
        let m = client.submit_multi(multi).await.expect("multi answered");
        (q, m)
    };
    let ((q, m), _) = tokio::join!(requests, server);
    let resp = q.resp.expect("query_sm_resp body");
    assert_eq!(resp.message_state, MessageState::Delivered);
    assert_eq!(m.message_id.as_deref(), Some("multi-1"));
    assert_eq!(m.unsuccessful.len(), 1);
    assert_eq!(
        m.unsuccessful[0].error_status_code,
        CommandStatus::EsmeRinvdstadr
    );
}

#[tokio::test(start_paused = true)]
async fn unanswered_request_times_out_and_a_late_answer_is_counted() {
    let mut c = cfg();
    c.response_timeout = Duration::from_secs(2);
    let (client, _events, mut smsc) = session(c).await;
    let (result, req) = tokio::join!(client.submit_sm(sm("447700900001")), smsc.recv());
    match result {
        Err(ClientError::Timeout {
            sequence_number,
            after,
            ..
        }) => {
            assert_eq!(sequence_number, Some(req.sequence_number()));
            assert_eq!(after, Duration::from_secs(2));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    smsc.answer_submit(&req, CommandStatus::EsmeRok, "late")
        .await;
    // A round trip after the late answer guarantees the client has read it.
    let server = async {
        let ping = smsc.recv().await;
        smsc.send(Command::new(
            CommandStatus::EsmeRok,
            ping.sequence_number(),
            Pdu::EnquireLinkResp,
        ))
        .await;
    };
    let (ping, _) = tokio::join!(client.enquire_link(), server);
    assert!(ping.expect("enquire_link answered").is_ok());
    let counters = client.counters();
    assert_eq!(counters.timeouts, 1);
    assert_eq!(counters.unexpected_responses, 1);
    assert_eq!(counters.requests_sent, 2);
    assert_eq!(
        counters.requests_sent,
        counters.responses + counters.timeouts + counters.disconnected
    );
}

#[tokio::test(start_paused = true)]
async fn error_statuses_are_data_not_errors() {
    let (client, mut events, mut smsc) = session(cfg()).await;
    let server = async {
        // Full body with an error status.
        let a = smsc.recv().await;
        smsc.answer_submit(&a, CommandStatus::EsmeRthrottled, "")
            .await;
        // Header-only submit_sm_resp (body does not decode): the header status counts.
        let b = smsc.recv().await;
        let mut pdu = vec![0, 0, 0, 16, 0x80, 0, 0, 4, 0, 0, 0, 0x14];
        pdu.extend_from_slice(&b.sequence_number().to_be_bytes());
        smsc.send_raw(pdu).await;
        // generic_nack answers the request too.
        let c = smsc.recv().await;
        smsc.send(Command::new(
            CommandStatus::EsmeRinvcmdlen,
            c.sequence_number(),
            Pdu::GenericNack,
        ))
        .await;
    };
    let requests = async {
        let a = client.submit_sm(sm("1")).await.expect("answered");
        let b = client.submit_sm(sm("2")).await.expect("answered");
        let c = client.submit_sm(sm("3")).await.expect("answered");
        (a, b, c)
    };
    let ((a, b, c), _) = tokio::join!(requests, server);
    assert_eq!(a.status, CommandStatus::EsmeRthrottled);
    assert_eq!(a.message_id, None);
    assert_eq!(b.status, CommandStatus::EsmeRmsgqful);
    assert_eq!(c.status, CommandStatus::EsmeRinvcmdlen);
    match next_event(&mut events).await {
        Some(Event::GenericNack {
            sequence_number,
            status,
            matched,
        }) => {
            assert_eq!(sequence_number, c.sequence_number);
            assert_eq!(status, CommandStatus::EsmeRinvcmdlen);
            assert!(matched);
        }
        other => panic!("expected GenericNack, got {other:?}"),
    }
    let counters = client.counters();
    assert_eq!(counters.responses_with(CommandStatus::EsmeRthrottled), 1);
    assert_eq!(counters.responses_with(CommandStatus::EsmeRmsgqful), 1);
    assert_eq!(counters.generic_nacks_received, 1);
}

#[tokio::test(start_paused = true)]
async fn receipt_is_parsed_and_acked_with_the_configured_status() {
    let mut c = cfg();
    c.deliver_ack = DeliverAck::Auto(CommandStatus::EsmeRxTAppn);
    let (client, mut events, mut smsc) = session(c).await;
    let text = "id:0A1B2C sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 \
                stat:DELIVRD err:000 text:code 123456";
    smsc.send(Command::new(
        CommandStatus::EsmeRok,
        41,
        deliver_sm(0x04, text),
    ))
    .await;
    let resp = smsc.recv().await;
    assert_eq!(resp.id(), CommandId::DeliverSmResp);
    assert_eq!(resp.sequence_number(), 41);
    assert_eq!(resp.status(), CommandStatus::EsmeRxTAppn);
    match next_event(&mut events).await {
        Some(Event::Deliver {
            sequence_number,
            pdu,
            receipt,
            responder,
        }) => {
            assert_eq!(sequence_number, 41);
            assert!(pdu.is_delivery_receipt());
            assert_eq!(pdu.source_addr(), "447700900001");
            assert!(responder.is_none());
            let r = receipt.expect("receipt parsed");
            assert_eq!(r.id, "0A1B2C");
            assert_eq!(r.stat, ReceiptState::Delivered);
        }
        other => panic!("expected Deliver, got {other:?}"),
    }
    let counters = client.counters();
    assert_eq!(counters.deliveries_received, 1);
    assert_eq!(counters.receipts_received, 1);
    assert_eq!(counters.receipts_unparsed, 0);
}

#[tokio::test(start_paused = true)]
async fn tlv_only_receipt_in_data_sm_is_parsed() {
    let (client, mut events, mut smsc) = session(cfg()).await;
    let tlvs = data_sm_receipt_tlvs(
        "77f1c0de",
        ReceiptState::Undeliverable,
        Some(NetworkError::gsm(5)),
    )
    .expect("valid id");
    let data = DataSm::builder()
        .source_addr(c_string::<21>("447700900001"))
        .destination_addr(c_string::<21>("Acme"))
        .esm_class(EsmClass::from(0x04u8))
        .tlvs(tlvs)
        .build();
    smsc.send(Command::new(CommandStatus::EsmeRok, 7, data))
        .await;
    let resp = smsc.recv().await;
    assert_eq!(resp.id(), CommandId::DataSmResp);
    assert_eq!(resp.status(), CommandStatus::EsmeRok);
    match next_event(&mut events).await {
        Some(Event::Deliver {
            pdu: Delivered::DataSm(_),
            receipt: Some(r),
            ..
        }) => {
            assert_eq!(r.id, "77f1c0de");
            assert_eq!(r.stat, ReceiptState::Undeliverable);
            assert_eq!(r.err.as_deref(), Some("005"));
        }
        other => panic!("expected a data_sm receipt, got {other:?}"),
    }
    assert_eq!(client.counters().receipts_received, 1);
}

#[tokio::test(start_paused = true)]
async fn manual_ack_uses_the_applications_status_and_drop_asks_for_a_retry() {
    let mut c = cfg();
    c.deliver_ack = DeliverAck::Manual;
    let (_client, mut events, mut smsc) = session(c).await;
    smsc.send(Command::new(
        CommandStatus::EsmeRok,
        10,
        deliver_sm(0, "hello"),
    ))
    .await;
    smsc.send(Command::new(
        CommandStatus::EsmeRok,
        11,
        deliver_sm(0, "again"),
    ))
    .await;
    let Some(Event::Deliver {
        responder: Some(first),
        receipt: None,
        pdu,
        ..
    }) = next_event(&mut events).await
    else {
        panic!("expected a delivery with a responder");
    };
    assert_eq!(pdu.payload(), b"hello");
    assert_eq!(first.sequence_number(), 10);
    first
        .respond(CommandStatus::EsmeRok)
        .await
        .expect("answered");
    let Some(Event::Deliver {
        responder: Some(second),
        ..
    }) = next_event(&mut events).await
    else {
        panic!("expected a second delivery");
    };
    drop(second);
    let a = smsc.recv().await;
    assert_eq!(
        (a.sequence_number(), a.status()),
        (10, CommandStatus::EsmeRok)
    );
    let b = smsc.recv().await;
    assert_eq!(
        (b.sequence_number(), b.status()),
        (11, CommandStatus::EsmeRxTAppn)
    );
}

#[tokio::test(start_paused = true)]
async fn malformed_delivery_is_answered_with_an_error_and_the_session_stays() {
    let (client, _events, mut smsc) = session(cfg()).await;
    // deliver_sm whose source_addr runs past 21 characters.
    let mut body = vec![0u8, 1, 1];
    body.extend_from_slice(&[b'9'; 30]);
    body.push(0);
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(b"Acme\0");
    body.extend_from_slice(&[0; 11]);
    let mut pdu = ((16 + body.len()) as u32).to_be_bytes().to_vec();
    pdu.extend_from_slice(&[0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 3]);
    pdu.extend_from_slice(&body);
    smsc.send_raw(pdu).await;
    let resp = smsc.recv().await;
    assert_eq!(resp.id(), CommandId::DeliverSmResp);
    assert_eq!(resp.sequence_number(), 3);
    assert_eq!(resp.status(), CommandStatus::EsmeRinvsrcadr);
    // An ESME does not take submit_sm.
    smsc.send(Command::new(CommandStatus::EsmeRok, 4, sm("1")))
        .await;
    let resp = smsc.recv().await;
    assert_eq!(resp.id(), CommandId::SubmitSmResp);
    assert_eq!(resp.status(), CommandStatus::EsmeRinvcmdid);
    assert!(client.is_connected());
}

#[tokio::test(start_paused = true)]
async fn enquire_link_from_the_smsc_is_answered_and_counted() {
    let (client, mut events, mut smsc) = session(cfg()).await;
    smsc.send(Command::new(CommandStatus::EsmeRok, 77, Pdu::EnquireLink))
        .await;
    let resp = smsc.recv().await;
    assert_eq!(resp.id(), CommandId::EnquireLinkResp);
    assert_eq!(resp.sequence_number(), 77);
    assert!(matches!(
        events.recv().await,
        Some(Event::EnquireLink {
            sequence_number: 77
        })
    ));
    assert_eq!(client.counters().enquire_links_received, 1);
}

#[tokio::test(start_paused = true)]
async fn keep_alive_declares_a_silent_link_dead() {
    let mut c = cfg();
    c.enquire_link_interval = Some(Duration::from_secs(10));
    c.response_timeout = Duration::from_secs(3);
    let (client, mut events, mut smsc) = session(c).await;
    let start = tokio::time::Instant::now();
    let ping = smsc.recv().await;
    assert_eq!(ping.id(), CommandId::EnquireLink);
    assert!(start.elapsed() >= Duration::from_secs(10));
    smsc.send(Command::new(
        CommandStatus::EsmeRok,
        ping.sequence_number(),
        Pdu::EnquireLinkResp,
    ))
    .await;
    let unanswered = smsc.recv().await;
    assert_eq!(unanswered.id(), CommandId::EnquireLink);
    match next_event(&mut events).await {
        Some(Event::Disconnected { reason }) => {
            assert_eq!(reason, DisconnectReason::EnquireLinkTimeout)
        }
        other => panic!("expected Disconnected, got {other:?}"),
    }
    assert!(smsc.frame().await.is_none(), "connection closed");
    assert_eq!(client.counters().enquire_links_sent, 2);
    assert!(next_event(&mut events).await.is_none(), "stream ends");
}

#[tokio::test(start_paused = true)]
async fn unbind_from_the_smsc_is_answered_then_the_session_closes() {
    let (client, mut events, mut smsc) = session(cfg()).await;
    smsc.send(Command::new(CommandStatus::EsmeRok, 9, Pdu::Unbind))
        .await;
    let resp = smsc.recv().await;
    assert_eq!(resp.id(), CommandId::UnbindResp);
    assert_eq!(resp.sequence_number(), 9);
    assert!(
        smsc.frame().await.is_none(),
        "client closed after unbind_resp"
    );
    assert!(matches!(
        next_event(&mut events).await,
        Some(Event::Unbound)
    ));
    assert!(matches!(
        next_event(&mut events).await,
        Some(Event::Disconnected {
            reason: DisconnectReason::UnbindReceived
        })
    ));
    assert!(next_event(&mut events).await.is_none());
    assert!(client.is_closed());
    assert!(matches!(
        client.submit_sm(sm("1")).await,
        Err(ClientError::Closed { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn client_unbind_waits_for_unbind_resp_and_closes() {
    let (client, mut events, mut smsc) = session(cfg()).await;
    let server = async {
        let unbind = smsc.recv().await;
        assert_eq!(unbind.id(), CommandId::Unbind);
        smsc.send(Command::new(
            CommandStatus::EsmeRok,
            unbind.sequence_number(),
            Pdu::UnbindResp,
        ))
        .await;
        smsc.frame().await
    };
    let (resp, after) = tokio::join!(client.unbind(), server);
    let resp = resp.expect("unbind_resp");
    assert_eq!(resp.pdu, Some(Pdu::UnbindResp));
    assert!(after.is_none(), "connection closed after unbind");
    assert!(matches!(
        next_event(&mut events).await,
        Some(Event::Disconnected {
            reason: DisconnectReason::Unbound
        })
    ));
    assert!(next_event(&mut events).await.is_none());
    assert!(client.is_closed());
}

#[tokio::test(start_paused = true)]
async fn disconnect_fails_in_flight_requests() {
    let (client, mut events, mut smsc) = session(cfg()).await;
    let tasks: Vec<_> = (0..2)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.submit_sm(sm(&format!("4477{i}"))).await })
        })
        .collect();
    smsc.recv().await;
    smsc.recv().await;
    drop(smsc);
    for t in tasks {
        match t.await.expect("task") {
            Err(ClientError::Disconnected { reason, .. }) => {
                assert_eq!(reason, DisconnectReason::ClosedByPeer)
            }
            other => panic!("expected Disconnected, got {other:?}"),
        }
    }
    assert!(matches!(
        next_event(&mut events).await,
        Some(Event::Disconnected {
            reason: DisconnectReason::ClosedByPeer
        })
    ));
    let counters = client.counters();
    assert_eq!(counters.disconnected, 2);
    assert_eq!(counters.requests_sent, 2);
    assert!(matches!(
        client.submit_sm(sm("1")).await,
        Err(ClientError::Closed { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn dropping_the_client_closes_the_connection() {
    let (client, mut events, mut smsc) = session(cfg()).await;
    let other = client.clone();
    drop(client);
    assert!(other.is_connected(), "a clone keeps the session");
    drop(other);
    assert!(smsc.frame().await.is_none());
    assert!(matches!(
        next_event(&mut events).await,
        Some(Event::Disconnected {
            reason: DisconnectReason::Closed
        })
    ));
    assert!(next_event(&mut events).await.is_none());
}

#[tokio::test(start_paused = true)]
async fn close_fails_in_flight_requests() {
    let (client, _events, mut smsc) = session(cfg()).await;
    let c2 = client.clone();
    let task = tokio::spawn(async move { c2.submit_sm(sm("1")).await });
    smsc.recv().await;
    client.close().await;
    assert!(matches!(
        task.await.expect("task"),
        Err(ClientError::Disconnected {
            reason: DisconnectReason::Closed,
            ..
        })
    ));
    assert!(smsc.frame().await.is_none());
}

/// Serves one bound connection: answers submit_sm with `id`, enquire_link and unbind, until
/// the client goes away.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(smsc: &mut Smsc<S>, id: &str) {
    while let Some(frame) = smsc.frame().await {
        let req = frame.decode().expect("decodes");
        match req.id() {
            CommandId::SubmitSm => smsc.answer_submit(&req, CommandStatus::EsmeRok, id).await,
            CommandId::EnquireLink => {
                smsc.send(Command::new(
                    CommandStatus::EsmeRok,
                    req.sequence_number(),
                    Pdu::EnquireLinkResp,
                ))
                .await
            }
            CommandId::Unbind => {
                smsc.send(Command::new(
                    CommandStatus::EsmeRok,
                    req.sequence_number(),
                    Pdu::UnbindResp,
                ))
                .await
            }
            _ => {}
        }
    }
}

fn fast_reconnect(max_attempts: Option<u32>) -> ReconnectPolicy {
    ReconnectPolicy {
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        jitter: false,
        max_attempts,
    }
}

#[tokio::test]
async fn reconnects_with_backoff_and_rebinds_over_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept 1");
        let mut first = Smsc::new(s);
        first.accept_bind().await;
        // Take the first submit and drop the connection with it in flight.
        first.recv().await;
        drop(first);
        let (s, _) = listener.accept().await.expect("accept 2");
        let mut second = Smsc::new(s);
        let rebind = second.accept_bind().await;
        serve(&mut second, "after-reconnect").await;
        rebind
    });
    let mut c = cfg();
    c.reconnect = Some(fast_reconnect(Some(5)));
    let (client, mut events) = Client::connect(Target::Tcp(addr), c)
        .await
        .expect("connect");
    match client.submit_sm(sm("1")).await {
        Err(ClientError::Disconnected { .. }) => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
    // Sent while the link is down: waits for the reconnection, then goes through.
    let r = client
        .submit_sm(sm("2"))
        .await
        .expect("sent after reconnect");
    assert_eq!(r.message_id.as_deref(), Some("after-reconnect"));
    assert!(matches!(
        next_event(&mut events).await,
        Some(Event::Disconnected {
            reason: DisconnectReason::ClosedByPeer
        })
    ));
    assert!(matches!(
        next_event(&mut events).await,
        Some(Event::Reconnected)
    ));
    let counters = client.counters();
    assert_eq!(counters.reconnects, 1);
    assert_eq!(counters.disconnected, 1);
    assert_eq!(counters.responses, 1);
    client.unbind().await.expect("unbind");
    let rebind = server.await.expect("server");
    match rebind.pdu() {
        Some(Pdu::BindTransceiver(b)) => {
            assert_eq!(b.system_id.as_str(), "esme");
            assert_eq!(b.password.as_str(), "secret");
        }
        other => panic!("expected a rebind, got {other:?}"),
    }
}

#[tokio::test]
async fn a_request_waits_for_the_link_no_longer_than_its_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept");
        let mut smsc = Smsc::new(s);
        smsc.accept_bind().await;
        drop(smsc);
        listener
    });
    let mut c = cfg();
    c.response_timeout = Duration::from_millis(200);
    // The first redial comes long after the request has given up.
    c.reconnect = Some(ReconnectPolicy {
        initial_backoff: Duration::from_secs(30),
        max_backoff: Duration::from_secs(30),
        jitter: false,
        max_attempts: None,
    });
    let (client, mut events) = Client::connect(Target::Tcp(addr), c)
        .await
        .expect("connect");
    let _listener = server.await.expect("server");
    assert!(matches!(
        next_event(&mut events).await,
        Some(Event::Disconnected { .. })
    ));
    assert!(!client.is_connected());
    match client.submit_sm(sm("1")).await {
        Err(ClientError::Timeout {
            sequence_number: None,
            ..
        }) => {}
        other => panic!("expected a link-wait Timeout, got {other:?}"),
    }
    let counters = client.counters();
    assert_eq!(counters.link_wait_timeouts, 1);
    assert_eq!(counters.requests_sent, 0);
    client.close().await;
    assert!(client.is_closed());
}

#[tokio::test]
async fn unbind_while_the_link_is_down_closes_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept");
        let mut smsc = Smsc::new(s);
        smsc.accept_bind().await;
        drop(smsc);
        listener
    });
    let mut c = cfg();
    // Long enough that waiting for the link would be seen: the unbind must not wait.
    c.response_timeout = Duration::from_secs(20);
    c.reconnect = Some(ReconnectPolicy {
        initial_backoff: Duration::from_secs(30),
        max_backoff: Duration::from_secs(30),
        jitter: false,
        max_attempts: None,
    });
    let (client, mut events) = Client::connect(Target::Tcp(addr), c)
        .await
        .expect("connect");
    let _listener = server.await.expect("server");
    assert!(matches!(
        next_event(&mut events).await,
        Some(Event::Disconnected { .. })
    ));
    let unbound = tokio::time::timeout(Duration::from_secs(5), client.unbind())
        .await
        .expect("unbind returns without waiting for the link");
    assert!(
        matches!(unbound, Err(ClientError::Closed { .. })),
        "{unbound:?}"
    );
    assert!(client.is_closed());
}

#[tokio::test]
async fn reconnection_gives_up_after_max_attempts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.expect("accept");
        let mut smsc = Smsc::new(s);
        smsc.accept_bind().await;
        // Close the listener, then the connection: every redial is refused.
        drop(listener);
        drop(smsc);
    });
    let mut c = cfg();
    c.reconnect = Some(fast_reconnect(Some(2)));
    let (client, mut events) = Client::connect(Target::Tcp(addr), c)
        .await
        .expect("connect");
    server.await.expect("server");
    assert!(matches!(
        next_event(&mut events).await,
        Some(Event::Disconnected { .. })
    ));
    assert!(next_event(&mut events).await.is_none(), "session over");
    assert!(client.is_closed());
    assert_eq!(client.counters().reconnect_attempts, 2);
    match client.submit_sm(sm("1")).await {
        Err(ClientError::Closed { reason }) => assert!(reason.contains("gave up"), "{reason}"),
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_reports_an_unreachable_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    drop(listener);
    match Client::connect(Target::Tcp(addr), cfg()).await {
        Err(ClientError::Connect { .. }) => {}
        other => panic!("expected Connect error, got {other:?}"),
    }
}
