//! carrier-sim core through SMPP and HTTP: binds, every operation, every error status named in
//! the carrier-core issue, receipts (store-and-forward, retry, registered_delivery modes),
//! timeouts, connection cap, TLS and graceful shutdown.

use std::time::Duration;

use rusmpp::pdus::{
    BindReceiver, BindTransmitter, CancelSm, DataSm, DeliverSmResp, QuerySm, ReplaceSm, SubmitMulti,
};
use rusmpp::tlvs::{MessageSubmissionRequestTlvValue, TlvValue};
use rusmpp::types::{AnyOctetString, OctetString};
use rusmpp::values::{
    DataCoding, DestAddress, EsmClass, InterfaceVersion, MessagePayload, MessageState, Npi,
    RegisteredDelivery, SmeAddress, Ton,
};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use simulator::config::Distribution;
use simulator::config::{AccountConfig, MessageIdFormat};
use smpp::pdu::{c_str, c_string};
use testbed_tests::{PASSWORD, RawSession, SYSTEM_ID, TestNetwork, build, config, poll_until};

fn message_id(c: &Command) -> String {
    match c.pdu() {
        Some(Pdu::SubmitSmResp(r)) => c_str(r.message_id()),
        Some(Pdu::DataSmResp(r)) => c_str(r.message_id()),
        Some(Pdu::SubmitMultiResp(r)) => c_str(&r.message_id),
        other => panic!("not a submit response: {other:?}"),
    }
}

/// Reads the next deliver_sm, acks it with `status`, returns (esm_class, text, receipted id).
async fn receipt(s: &mut RawSession, status: CommandStatus) -> (u8, String, Option<String>) {
    let c = s.next_non_probe().await;
    let Some(Pdu::DeliverSm(d)) = c.pdu() else {
        panic!("expected deliver_sm, got {c:?}")
    };
    let text = String::from_utf8_lossy(d.short_message().as_ref()).to_string();
    let id = smpp::pdu::find_tlv(d.tlvs(), |v| match v {
        TlvValue::ReceiptedMessageId(id) => Some(c_str(id)),
        _ => None,
    });
    let esm: u8 = d.esm_class.into();
    s.send(Command::new(
        status,
        c.sequence_number(),
        DeliverSmResp::new(c_string::<65>(""), Vec::new()),
    ))
    .await;
    (esm, text, id)
}

fn bind_tx(system_id: &str, password: &str, version: u8) -> BindTransmitter {
    let mut b = BindTransmitter::builder()
        .system_id(c_string::<16>(system_id))
        .password(c_string::<9>(password))
        .build();
    b.interface_version = InterfaceVersion::from(version);
    b
}

#[tokio::test]
async fn binds_of_every_kind_and_version() {
    let c = TestNetwork::carrier(config()).await;
    for version in [0x33u8, 0x34, 0x50] {
        let mut s = RawSession::connect(c.smpp).await;
        let r = s.call(bind_tx(SYSTEM_ID, PASSWORD, version)).await;
        assert_eq!(r.status(), CommandStatus::EsmeRok);
        let Some(Pdu::BindTransmitterResp(resp)) = r.pdu() else {
            panic!("{r:?}")
        };
        // SMPP 3.3 peers cannot parse TLVs, so they get none.
        assert_eq!(
            resp.sc_interface_version().is_some(),
            version >= 0x34,
            "version {version:#x}"
        );
    }
    let mut rx = RawSession::connect(c.smpp).await;
    let b = BindReceiver::builder()
        .system_id(c_string::<16>(SYSTEM_ID))
        .password(c_string::<9>(PASSWORD))
        .build();
    assert_eq!(rx.call(b).await.id(), CommandId::BindReceiverResp);
    let mut trx = RawSession::connect(c.smpp).await;
    assert_eq!(
        trx.bind_transceiver(SYSTEM_ID, PASSWORD).await.status(),
        CommandStatus::EsmeRok
    );
    c.shutdown().await;
}

#[tokio::test]
async fn bind_refusals_name_the_reason() {
    let mut cfg = config();
    cfg.accounts.insert(
        "limited".into(),
        AccountConfig {
            max_binds: 1,
            ..AccountConfig::new("pw")
        },
    );
    let c = TestNetwork::carrier(cfg).await;
    let mut s = RawSession::connect(c.smpp).await;
    assert_eq!(
        s.bind_transceiver("nobody", PASSWORD).await.status(),
        CommandStatus::EsmeRinvsysid
    );
    assert_eq!(
        s.bind_transceiver(SYSTEM_ID, "wrong").await.status(),
        CommandStatus::EsmeRinvpaswd
    );
    // Two refused binds close the connection (bind_lockout.failures_per_connection).
    assert!(s.closed().await);
    // After one refused bind the session stays usable.
    let mut s = RawSession::connect(c.smpp).await;
    assert_eq!(
        s.bind_transceiver(SYSTEM_ID, "wrong").await.status(),
        CommandStatus::EsmeRinvpaswd
    );
    assert_eq!(
        s.bind_transceiver("limited", "pw").await.status(),
        CommandStatus::EsmeRok
    );
    // A second bind on a bound session.
    assert_eq!(
        s.bind_transceiver("limited", "pw").await.status(),
        CommandStatus::EsmeRalybnd
    );
    // Over the account's bind limit.
    let mut other = RawSession::connect(c.smpp).await;
    assert_eq!(
        other.bind_transceiver("limited", "pw").await.status(),
        CommandStatus::EsmeRbindfail
    );
    c.shutdown().await;
}

#[tokio::test]
async fn submit_sm_gets_an_id_a_receipt_and_shows_in_messages() {
    let c = TestNetwork::carrier(config()).await;
    let mut s = RawSession::bound(c.smpp).await;
    let r = s
        .call(build::text("447700900001", "Your code is 123456 {€}"))
        .await;
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    let id = message_id(&r);
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()),
        "hex id {id}"
    );
    let (esm, text, tlv_id) = receipt(&mut s, CommandStatus::EsmeRok).await;
    assert_eq!(esm, 0x04, "receipt esm_class");
    assert_eq!(tlv_id.as_deref(), Some(id.as_str()));
    let parsed = smpp::receipt::parse(&text).expect("standard receipt text");
    assert_eq!(parsed.id, id);
    assert_eq!(parsed.stat, smpp::receipt::ReceiptState::Delivered);
    assert!(
        text.contains(" stat:DELIVRD err:000 text:Your code is 123456"),
        "{text}"
    );

    let body = c.get_ok("/v1/messages?to=%2B447700900001&limit=5").await;
    let m = &body["messages"][0];
    assert_eq!(m["message_id"], id);
    assert_eq!(m["text"], "Your code is 123456 {€}");
    assert_eq!(m["source"], "447700900000");
    assert_eq!(m["data_coding"], 0);
    assert_eq!(m["parts"], 1);
    assert_eq!(m["state"], "DELIVRD");
    assert!(m["submitted_at"].is_string() && m["done_at"].is_string());
    c.shutdown().await;
}

#[tokio::test]
async fn message_id_formats() {
    for (format, check) in [
        (
            MessageIdFormat::Decimal,
            (|id: &str| id.chars().all(|c| c.is_ascii_digit())) as fn(&str) -> bool,
        ),
        (MessageIdFormat::Uuid, |id: &str| {
            id.len() == 36 && id.matches('-').count() == 4
        }),
    ] {
        let mut cfg = config();
        cfg.receipts.message_id = format;
        let c = TestNetwork::carrier(cfg).await;
        let mut s = RawSession::bound(c.smpp).await;
        let id = message_id(&s.call(build::text("447700900001", "hi")).await);
        assert!(check(&id), "{format:?}: {id}");
        let (_, _, tlv_id) = receipt(&mut s, CommandStatus::EsmeRok).await;
        assert_eq!(tlv_id, Some(id));
        c.shutdown().await;
    }
}

#[tokio::test]
async fn concatenated_messages_are_reassembled_for_udh_sar_and_payload() {
    let c = TestNetwork::carrier(config()).await;
    let mut s = RawSession::bound(c.smpp).await;
    let text =
        "Привет! Ваш код подтверждения: 654321. Никому его не сообщайте. 🙂 Это длинное сообщение.";
    for (to, method) in [
        ("447700900010", smpp::concat::ConcatMethod::Udh8),
        ("447700900011", smpp::concat::ConcatMethod::Udh16),
        ("447700900012", smpp::concat::ConcatMethod::Sar),
    ] {
        let split = smpp::concat::split(text, smpp::text::Encoding::Ucs2, method, 77).unwrap();
        assert!(split.parts.len() > 1);
        for p in &split.parts {
            let mut sm = build::submit(
                to,
                &p.short_message,
                split.data_coding,
                if p.udhi { 0x40 } else { 0 },
                0,
            );
            if let Some(sar) = p.sar {
                sm.set_tlvs(vec![
                    MessageSubmissionRequestTlvValue::SarMsgRefNum(sar.reference),
                    MessageSubmissionRequestTlvValue::SarTotalSegments(sar.total),
                    MessageSubmissionRequestTlvValue::SarSegmentSeqnum(sar.seq),
                ]);
            }
            assert_eq!(s.call(sm).await.status(), CommandStatus::EsmeRok);
        }
        let body = c.get_ok(&format!("/v1/messages?to={to}")).await;
        let m = &body["messages"][0];
        assert_eq!(m["text"], text, "{method:?}");
        assert_eq!(m["parts"], split.parts.len());
        assert_eq!(m["part_ids"].as_array().unwrap().len(), split.parts.len());
    }
    // message_payload carries a long message in one PDU.
    let bytes = smpp::text::encode(text, smpp::text::Encoding::Ucs2).unwrap();
    let sm = build::with_tlvs(
        build::submit("447700900013", &[], 8, 0, 0),
        vec![MessageSubmissionRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_vec(bytes)),
        )],
    );
    assert_eq!(s.call(sm).await.status(), CommandStatus::EsmeRok);
    let body = c.get_ok("/v1/messages?to=447700900013").await;
    assert_eq!(body["messages"][0]["text"], text);
    c.shutdown().await;
}

#[tokio::test]
async fn data_sm_and_submit_multi() {
    let c = TestNetwork::carrier(config()).await;
    let mut s = RawSession::bound(c.smpp).await;
    let mut d = DataSm::builder()
        .source_addr(c_string::<21>("12345"))
        .destination_addr(c_string::<21>("447700900020"))
        .esm_class(EsmClass::from(0u8))
        .registered_delivery(RegisteredDelivery::from(1u8))
        .data_coding(DataCoding::from(0u8))
        .build();
    d.set_tlvs(vec![MessageSubmissionRequestTlvValue::MessagePayload(
        MessagePayload::new(AnyOctetString::from_vec(b"data sm text".to_vec())),
    )]);
    let r = s.call(d).await;
    assert_eq!(r.id(), CommandId::DataSmResp);
    let id = message_id(&r);
    let (_, _, tlv_id) = receipt(&mut s, CommandStatus::EsmeRok).await;
    assert_eq!(tlv_id, Some(id));
    assert_eq!(
        c.get_ok("/v1/messages?to=447700900020").await["messages"][0]["text"],
        "data sm text"
    );

    let mut m = SubmitMulti::builder()
        .source_addr(c_string::<21>("12345"))
        .esm_class(EsmClass::from(0u8))
        .data_coding(DataCoding::from(0u8))
        .short_message(OctetString::from_vec(b"to many".to_vec()).unwrap())
        .build();
    m.set_dest_address(vec![
        DestAddress::SmeAddress(SmeAddress::new(
            Ton::International,
            Npi::Isdn,
            c_string::<21>("447700900021"),
        )),
        DestAddress::SmeAddress(SmeAddress::new(
            Ton::International,
            Npi::Isdn,
            c_string::<21>("not-a-number"),
        )),
        DestAddress::SmeAddress(SmeAddress::new(
            Ton::International,
            Npi::Isdn,
            c_string::<21>("447700900022"),
        )),
    ]);
    let r = s.call(m).await;
    let Some(Pdu::SubmitMultiResp(resp)) = r.pdu() else {
        panic!("{r:?}")
    };
    assert_eq!(r.status(), CommandStatus::EsmeRok);
    assert!(!c_str(&resp.message_id).is_empty());
    assert_eq!(resp.unsuccess_sme().len(), 1);
    assert_eq!(
        c_str(&resp.unsuccess_sme()[0].destination_addr),
        "not-a-number"
    );
    assert_eq!(
        resp.unsuccess_sme()[0].error_status_code,
        CommandStatus::EsmeRinvdstadr
    );
    for to in ["447700900021", "447700900022"] {
        assert_eq!(
            c.get_ok(&format!("/v1/messages?to={to}")).await["messages"][0]["text"],
            "to many"
        );
    }
    c.shutdown().await;
}

fn query(id: &str) -> QuerySm {
    QuerySm::builder()
        .message_id(c_string::<65>(id))
        .source_addr(c_string::<21>("447700900000"))
        .build()
}

#[tokio::test]
async fn query_cancel_and_replace_follow_the_real_state() {
    let mut cfg = config();
    cfg.behaviour.receipt_latency = Some(Distribution::fixed(Duration::from_secs(3600)));
    cfg.behaviour.handset_latency = Some(Distribution::fixed(Duration::from_secs(3600)));
    let c = TestNetwork::carrier(cfg).await;
    let mut s = RawSession::bound(c.smpp).await;
    let id = message_id(&s.call(build::text("447700900030", "first text")).await);
    let r = s.call(query(&id)).await;
    let Some(Pdu::QuerySmResp(q)) = r.pdu() else {
        panic!("{r:?}")
    };
    assert_eq!(q.message_state, MessageState::Enroute);

    let mut rep = ReplaceSm::builder()
        .message_id(c_string::<65>(&id))
        .source_addr(c_string::<21>("447700900000"))
        .build();
    rep.set_short_message(OctetString::from_vec(b"second text".to_vec()).unwrap());
    assert_eq!(s.call(rep.clone()).await.status(), CommandStatus::EsmeRok);
    assert_eq!(
        c.get_ok("/v1/messages?to=447700900030").await["messages"][0]["text"],
        "second text"
    );

    let cancel = CancelSm::builder()
        .message_id(c_string::<65>(&id))
        .source_addr(c_string::<21>("447700900000"))
        .destination_addr(c_string::<21>("447700900030"))
        .build();
    assert_eq!(
        s.call(cancel.clone()).await.status(),
        CommandStatus::EsmeRok
    );
    let r = s.call(query(&id)).await;
    let Some(Pdu::QuerySmResp(q)) = r.pdu() else {
        panic!("{r:?}")
    };
    assert_eq!(q.message_state, MessageState::Deleted);
    assert!(!q.final_date.as_ref().is_empty());
    // Final messages can be neither cancelled nor replaced; unknown ids cannot be queried.
    assert_eq!(
        s.call(cancel).await.status(),
        CommandStatus::EsmeRcancelfail
    );
    assert_eq!(s.call(rep).await.status(), CommandStatus::EsmeRreplacefail);
    assert_eq!(
        s.call(query("ffffffff")).await.status(),
        CommandStatus::EsmeRqueryfail
    );
    c.shutdown().await;
}

#[tokio::test]
async fn delivered_message_queries_as_delivered() {
    let c = TestNetwork::carrier(config()).await;
    let mut s = RawSession::bound(c.smpp).await;
    let id = message_id(&s.call(build::text("447700900031", "x")).await);
    receipt(&mut s, CommandStatus::EsmeRok).await;
    let r = s.call(query(&id)).await;
    let Some(Pdu::QuerySmResp(q)) = r.pdu() else {
        panic!("{r:?}")
    };
    assert_eq!(q.message_state, MessageState::Delivered);
    assert_eq!(q.final_date.as_ref().len(), 17, "YYMMDDhhmmsstnnp plus NUL");
    c.shutdown().await;
}

#[tokio::test]
async fn wrong_bind_state_gets_rinvbndsts() {
    let c = TestNetwork::carrier(config()).await;
    let mut s = RawSession::connect(c.smpp).await;
    assert_eq!(
        s.call(build::text("447700900001", "x")).await.status(),
        CommandStatus::EsmeRinvbndsts
    );
    assert_eq!(
        s.call(Pdu::Unbind).await.status(),
        CommandStatus::EsmeRinvbndsts
    );
    // enquire_link is allowed in any state.
    assert_eq!(
        s.call(Pdu::EnquireLink).await.status(),
        CommandStatus::EsmeRok
    );
    let b = BindReceiver::builder()
        .system_id(c_string::<16>(SYSTEM_ID))
        .password(c_string::<9>(PASSWORD))
        .build();
    assert_eq!(s.call(b).await.status(), CommandStatus::EsmeRok);
    // A receiver may not submit.
    assert_eq!(
        s.call(build::text("447700900001", "x")).await.status(),
        CommandStatus::EsmeRinvbndsts
    );
    c.shutdown().await;
}

fn raw_pdu(command_id: u32, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
    v.extend_from_slice(&command_id.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A submit_sm body with the given addresses, sm_length and trailing bytes.
fn submit_body(source: &[u8], dest: &[u8], sm_length: u8, rest: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8, 1, 1];
    b.extend_from_slice(source);
    b.push(0);
    b.extend_from_slice(&[1, 1]);
    b.extend_from_slice(dest);
    b.push(0);
    // esm_class, protocol_id, priority, schedule, validity, registered_delivery, replace,
    // data_coding, sm_default_msg_id
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.push(sm_length);
    b.extend_from_slice(rest);
    b
}

#[tokio::test]
async fn malformed_bodies_get_the_fitting_status_and_the_session_lives() {
    let c = TestNetwork::carrier(config()).await;
    let mut s = RawSession::bound(c.smpp).await;
    let cases: Vec<(&str, Vec<u8>, CommandStatus)> = vec![
        (
            "source_addr over 21",
            submit_body(&[b'1'; 30], b"447700900001", 0, &[]),
            CommandStatus::EsmeRinvsrcadr,
        ),
        (
            "destination_addr over 21",
            submit_body(b"1", &[b'4'; 30], 0, &[]),
            CommandStatus::EsmeRinvdstadr,
        ),
        (
            "sm_length past the end",
            submit_body(b"1", b"447700900001", 50, b"short"),
            CommandStatus::EsmeRinvmsglen,
        ),
        (
            "TLV length past the end",
            submit_body(b"1", b"447700900001", 0, &[0x04, 0x24, 0x00, 0x40, b'x']),
            CommandStatus::EsmeRinvtlvlen,
        ),
        (
            "alphanumeric destination",
            submit_body(b"1", b"hello", 0, &[]),
            CommandStatus::EsmeRinvdstadr,
        ),
    ];
    for (i, (what, body, want)) in cases.into_iter().enumerate() {
        let seq = 100 + i as u32;
        s.send_raw(&raw_pdu(0x0000_0004, seq, &body)).await;
        let r = s.next_non_probe().await;
        assert_eq!(r.id(), CommandId::SubmitSmResp, "{what}");
        assert_eq!(r.sequence_number(), seq, "{what}");
        assert_eq!(r.status(), want, "{what}");
        // Still in sync and usable.
        assert_eq!(
            s.call(Pdu::EnquireLink).await.status(),
            CommandStatus::EsmeRok,
            "{what}"
        );
    }
    c.shutdown().await;
}

#[tokio::test]
async fn unknown_command_id_gets_generic_nack_and_session_lives() {
    let c = TestNetwork::carrier(config()).await;
    let mut s = RawSession::bound(c.smpp).await;
    s.send_raw(&raw_pdu(0x0000_1234, 77, b"junk")).await;
    let r = s.next_non_probe().await;
    assert_eq!(r.id(), CommandId::GenericNack);
    assert_eq!(r.status(), CommandStatus::EsmeRinvcmdid);
    assert_eq!(r.sequence_number(), 77);
    assert_eq!(
        s.call(build::text("447700900001", "still here"))
            .await
            .status(),
        CommandStatus::EsmeRok
    );
    c.shutdown().await;
}

#[tokio::test]
async fn bad_command_length_gets_generic_nack_then_close() {
    let mut cfg = config();
    cfg.session.max_command_length = 4096;
    let c = TestNetwork::carrier(cfg).await;
    for (what, bytes) in [
        (
            "under 16",
            vec![0u8, 0, 0, 8, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 9],
        ),
        (
            "over the maximum",
            vec![0u8, 0, 0x20, 0, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 9],
        ),
    ] {
        let mut s = RawSession::bound(c.smpp).await;
        s.send_raw(&bytes).await;
        let f = s.next_frame().await.expect("generic_nack before close");
        let r = f.decode().unwrap();
        assert_eq!(r.id(), CommandId::GenericNack, "{what}");
        assert_eq!(r.status(), CommandStatus::EsmeRinvcmdlen, "{what}");
        assert_eq!(r.sequence_number(), 9, "{what}");
        assert!(s.closed().await, "{what}: connection closed");
    }
    assert_eq!(
        c.metric("carrier_framing_errors_total{carrier=\"default\"}")
            .await,
        2
    );
    c.shutdown().await;
}

#[tokio::test]
async fn connection_that_never_binds_is_closed() {
    let mut cfg = config();
    cfg.session.bind_timeout = Duration::from_millis(300);
    let c = TestNetwork::carrier(cfg).await;
    let mut s = RawSession::connect(c.smpp).await;
    let started = tokio::time::Instant::now();
    assert!(s.closed().await);
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A bound session is not closed by the bind timer.
    let mut bound = RawSession::bound(c.smpp).await;
    // The wait is the point: twice the bind timeout passes, and the bound session must still
    // answer (and only the unbound one has counted as a bind timeout).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        bound.call(Pdu::EnquireLink).await.status(),
        CommandStatus::EsmeRok
    );
    assert_eq!(
        c.metric("carrier_bind_timeouts_total{carrier=\"default\"}")
            .await,
        1
    );
    c.shutdown().await;
}

#[tokio::test]
async fn idle_session_is_probed_and_closed_when_silent() {
    let mut cfg = config();
    cfg.session.enquire_link_interval = Duration::from_millis(200);
    cfg.session.response_timeout = Duration::from_millis(300);
    let c = TestNetwork::carrier(cfg).await;
    // A peer that answers probes stays connected.
    let mut good = RawSession::bound(c.smpp).await;
    let good = tokio::spawn(async move {
        let mut answered = 0;
        let until = tokio::time::Instant::now() + Duration::from_millis(1500);
        while tokio::time::Instant::now() < until {
            let probe = good.next().await;
            assert_eq!(probe.id(), CommandId::EnquireLink);
            good.send(Command::new(
                CommandStatus::EsmeRok,
                probe.sequence_number(),
                Pdu::EnquireLinkResp,
            ))
            .await;
            answered += 1;
        }
        assert_eq!(
            good.call(Pdu::EnquireLink).await.status(),
            CommandStatus::EsmeRok
        );
        answered
    });
    // A silent peer is probed, then closed.
    let mut silent = RawSession::bound(c.smpp).await;
    let probe = silent.next().await;
    assert_eq!(probe.id(), CommandId::EnquireLink);
    assert!(silent.closed().await);
    assert!(
        good.await.unwrap() >= 3,
        "the live peer was probed repeatedly and kept"
    );
    assert_eq!(
        c.metric("carrier_idle_closes_total{carrier=\"default\"}")
            .await,
        1
    );
    c.shutdown().await;
}

#[tokio::test]
async fn unbind_from_the_esme_is_answered_and_closes() {
    let c = TestNetwork::carrier(config()).await;
    let mut s = RawSession::bound(c.smpp).await;
    assert_eq!(s.call(Pdu::Unbind).await.id(), CommandId::UnbindResp);
    assert!(s.closed().await);
    c.shutdown().await;
}

#[tokio::test]
async fn connection_cap_refuses_clearly() {
    let mut cfg = config();
    cfg.session.max_connections = 1;
    let c = TestNetwork::carrier(cfg).await;
    let _first = RawSession::bound(c.smpp).await;
    let mut second = RawSession::connect(c.smpp).await;
    let r = second.bind_transceiver(SYSTEM_ID, PASSWORD).await;
    assert_eq!(r.status(), CommandStatus::EsmeRbindfail);
    assert!(second.closed().await);
    assert_eq!(
        c.metric("carrier_connections_refused_total{carrier=\"default\"}")
            .await,
        1
    );
    c.shutdown().await;
}

#[tokio::test]
async fn receipts_are_stored_until_a_receiver_binds() {
    let c = TestNetwork::carrier(config()).await;
    let mut tx = RawSession::connect(c.smpp).await;
    assert_eq!(
        tx.call(bind_tx(SYSTEM_ID, PASSWORD, 0x34)).await.status(),
        CommandStatus::EsmeRok
    );
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(message_id(
            &tx.call(build::text("447700900040", &format!("m{i}"))).await,
        ));
    }
    let stats = c.get_ok("/v1/stats").await;
    assert_eq!(stats["receipts"]["queued"], 3);
    assert_eq!(stats["receipts_balanced"], true);
    // Nothing is sent to a transmitter.
    let b = BindReceiver::builder()
        .system_id(c_string::<16>(SYSTEM_ID))
        .password(c_string::<9>(PASSWORD))
        .build();
    let mut rx = RawSession::connect(c.smpp).await;
    assert_eq!(rx.call(b).await.status(), CommandStatus::EsmeRok);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(receipt(&mut rx, CommandStatus::EsmeRok).await.2.unwrap());
    }
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    // The account adds up once the carrier has read the acks.
    let stats = poll_until(
        Duration::from_secs(10),
        async || c.get_ok("/v1/stats").await,
        |s| s["receipts"]["delivered"] == 3,
    )
    .await;
    assert_eq!(stats["receipts"]["delivered"], 3);
    assert_eq!(stats["receipts"]["queued"], 0);
    assert_eq!(stats["receipts_balanced"], true);
    c.shutdown().await;
}

#[tokio::test]
async fn refused_or_unanswered_receipts_are_retried() {
    let mut cfg = config();
    cfg.receipts.retry_backoff = Duration::from_millis(100);
    cfg.session.response_timeout = Duration::from_millis(300);
    let c = TestNetwork::carrier(cfg).await;
    let mut s = RawSession::bound(c.smpp).await;
    let id = message_id(&s.call(build::text("447700900050", "retry me")).await);
    // First attempt refused with an error status.
    let (_, _, first) = receipt(&mut s, CommandStatus::EsmeRsyserr).await;
    assert_eq!(first.as_deref(), Some(id.as_str()));
    // Second attempt left unanswered: it times out and comes a third time.
    let c2 = s.next_non_probe().await;
    assert_eq!(c2.id(), CommandId::DeliverSm);
    let (_, _, third) = receipt(&mut s, CommandStatus::EsmeRok).await;
    assert_eq!(third.as_deref(), Some(id.as_str()));
    let stats = poll_until(
        Duration::from_secs(10),
        async || c.get_ok("/v1/stats").await,
        |s| s["receipts"]["delivered"] == 1,
    )
    .await;
    assert_eq!(stats["receipts"]["generated"], 1);
    assert_eq!(stats["receipts"]["delivered"], 1);
    assert_eq!(stats["receipts_balanced"], true);
    assert!(
        c.metric("carrier_receipts_total{carrier=\"default\",fate=\"retried\"}")
            .await
            >= 2
    );
    c.shutdown().await;
}

#[tokio::test]
async fn receipts_expire_after_their_last_attempt() {
    let mut cfg = config();
    cfg.receipts.retry_backoff = Duration::from_millis(50);
    cfg.receipts.max_attempts = 2;
    let c = TestNetwork::carrier(cfg).await;
    let mut s = RawSession::bound(c.smpp).await;
    s.call(build::text("447700900051", "doomed")).await;
    receipt(&mut s, CommandStatus::EsmeRsyserr).await;
    receipt(&mut s, CommandStatus::EsmeRsyserr).await;
    let stats = poll_until(
        Duration::from_secs(10),
        async || c.get_ok("/v1/stats").await,
        |s| s["receipts"]["expired"] == 1,
    )
    .await;
    assert_eq!(stats["receipts"]["expired"], 1);
    assert_eq!(stats["receipts_balanced"], true);
    c.shutdown().await;
}

#[tokio::test]
async fn registered_delivery_modes_are_honoured() {
    let c = TestNetwork::carrier(config()).await;
    let mut s = RawSession::bound(c.smpp).await;
    // 0: none; 2: failure only (this one succeeds): no receipt for either.
    for rd in [0u8, 2] {
        let sm = build::submit("447700900060", b"no receipt", 0, 0, rd);
        assert_eq!(s.call(sm).await.status(), CommandStatus::EsmeRok);
    }
    // 3: success only; 0x11: final plus intermediate.
    let id3 = message_id(
        &s.call(build::submit("447700900061", b"success only", 0, 0, 3))
            .await,
    );
    let (esm, _, id) = receipt(&mut s, CommandStatus::EsmeRok).await;
    assert_eq!((esm, id), (0x04, Some(id3)));
    let idi = message_id(
        &s.call(build::submit("447700900062", b"intermediate", 0, 0, 0x11))
            .await,
    );
    let (esm1, text1, id1) = receipt(&mut s, CommandStatus::EsmeRok).await;
    let (esm2, text2, id2) = receipt(&mut s, CommandStatus::EsmeRok).await;
    assert_eq!(
        (esm1, id1.as_deref()),
        (0x20, Some(idi.as_str())),
        "intermediate first: {text1}"
    );
    assert!(text1.contains("stat:ENROUTE"), "{text1}");
    assert_eq!((esm2, id2.as_deref()), (0x04, Some(idi.as_str())));
    assert!(text2.contains("stat:DELIVRD"), "{text2}");
    // Nothing else is pending: an enquire_link answer comes next, not a receipt.
    assert_eq!(
        s.call(Pdu::EnquireLink).await.id(),
        CommandId::EnquireLinkResp
    );
    c.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_unbinds_and_reports_stored_receipts() {
    let c = TestNetwork::carrier(config()).await;
    let mut tx = RawSession::connect(c.smpp).await;
    assert_eq!(
        tx.call(bind_tx(SYSTEM_ID, PASSWORD, 0x34)).await.status(),
        CommandStatus::EsmeRok
    );
    for _ in 0..2 {
        tx.call(build::text("447700900070", "kept")).await;
    }
    let stop = tokio::spawn(c.shutdown());
    // The carrier asks the bound session to unbind; answering lets it close at once.
    let u = tx.next().await;
    assert_eq!(u.id(), CommandId::Unbind);
    tx.send(Command::new(
        CommandStatus::EsmeRok,
        u.sequence_number(),
        Pdu::UnbindResp,
    ))
    .await;
    assert!(tx.closed().await);
    let report = stop.await.unwrap();
    assert_eq!(report.total.receipts.stored(), 2);
    assert_eq!(report.total.receipts.generated, 2);
    assert!(report.total.receipts.balances());
    assert_eq!(report.total.sessions_cut, 0);
}

#[tokio::test]
async fn control_plane_health_and_metrics() {
    let c = TestNetwork::carrier(config()).await;
    let mut s = RawSession::bound(c.smpp).await;
    s.call(build::text("447700900080", "count me")).await;
    receipt(&mut s, CommandStatus::EsmeRok).await;
    assert_eq!(c.get_text("/healthz").await, "ok\n");
    let needles = [
        "carrier_pdus_total{carrier=\"default\",direction=\"in\",command=\"submit_sm\",status=\"0x00000000\"} 1",
        "carrier_binds_total{carrier=\"default\",kind=\"transceiver\",status=\"0x00000000\"} 1",
        "carrier_receipts_total{carrier=\"default\",fate=\"delivered\"} 1",
        "carrier_messages_accepted_total{carrier=\"default\"} 1",
    ];
    // The receipt counts as delivered once the carrier has read its ack.
    let m = poll_until(
        Duration::from_secs(10),
        async || c.get_text("/metrics").await,
        |m| needles.iter().all(|n| m.contains(n)),
    )
    .await;
    for needle in needles {
        assert!(m.contains(needle), "missing {needle} in\n{m}");
    }
    c.shutdown().await;
}
