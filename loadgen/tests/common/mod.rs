//! A scriptable test SMSC on 127.0.0.1:0 for the `loadgen smpp` tests.
//!
//! It answers binds (refusing any password but `secret` with ESME_RINVPASWD), enquire_link
//! and unbind, and answers submit_sm after a configurable delay, optionally with a receipt in
//! any receipt profile (built by `smpp::receipt::build_pdu`, as carriers' receipts are),
//! optionally preceded by an intermediate notification; it can also drop the first connection
//! after a number of submit_sm, leaving them unanswered, to exercise reconnection accounting,
//! send receipts for ids it never gave, and stop reading for a while (a stalled SMSC).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use rusmpp::pdus::SubmitSmResp;
use rusmpp::types::COctetString;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use smpp::frame::SmppCodec;
use smpp::receipt::{OutgoingReceipt, Receipt, ReceiptProfile, ReceiptState, build_pdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::codec::{Decoder, Encoder};

/// How the test SMSC behaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Delay before each submit_sm_resp.
    pub response_delay: Duration,
    /// Close the first connection upon the n-th submit_sm (1-based), unanswered.
    pub drop_first_after: Option<usize>,
    /// Send a receipt after each accepted submit_sm asking for one.
    pub receipts: bool,
    /// Send each receipt before the submit_sm_resp it belongs to.
    pub receipt_first: bool,
    /// The shape of the receipts (deliver_sm or data_sm, text, TLVs).
    pub receipt_profile: ReceiptProfile,
    /// Precede each receipt with an ENROUTE intermediate notification.
    pub intermediate: bool,
    /// After each submit_sm_resp, also send a receipt for an id this SMSC never gave.
    pub stray_receipts: bool,
    /// Stop reading for `stall_for` upon the n-th submit_sm (1-based) of each connection,
    /// as an SMSC whose input stalls: the client's window fills and its sends fall behind.
    pub stall_after: Option<usize>,
    /// How long a stall lasts.
    pub stall_for: Duration,
}

/// A running test SMSC.
#[derive(Debug)]
pub struct TestSmsc {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
}

impl TestSmsc {
    /// Starts one on 127.0.0.1:0.
    pub async fn start(b: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let conns = Arc::clone(&connections);
        let ids = Arc::new(AtomicU64::new(1));
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let n = conns.fetch_add(1, Ordering::SeqCst);
                let drop_after = if n == 0 { b.drop_first_after } else { None };
                tokio::spawn(session(sock, b.clone(), drop_after, Arc::clone(&ids)));
            }
        });
        Self { addr, connections }
    }

    /// `host:port`.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }
}

async fn session(
    sock: tokio::net::TcpStream,
    b: Behaviour,
    drop_after: Option<usize>,
    ids: Arc<AtomicU64>,
) {
    let (mut rd, mut wr) = sock.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, Vec<Command>)>();
    let writer = tokio::spawn(async move {
        let mut codec = SmppCodec::default();
        while let Some((at, cmds)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            let mut buf = BytesMut::new();
            for c in &cmds {
                if codec.encode(c, &mut buf).is_err() {
                    return;
                }
            }
            if wr.write_all(&buf).await.is_err() {
                return;
            }
        }
    });
    let mut codec = SmppCodec::default();
    let mut buf = BytesMut::new();
    let mut submits = 0usize;
    let mut seq = 0u32;
    'conn: loop {
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        while let Ok(Some(frame)) = codec.decode(&mut buf) {
            let Ok(cmd) = frame.decode() else { continue };
            let s = cmd.sequence_number();
            let now = tokio::time::Instant::now();
            let out = match cmd.pdu() {
                Some(Pdu::BindTransceiver(bt)) => {
                    let status = if bt.password.as_str() == "secret" {
                        CommandStatus::EsmeRok
                    } else {
                        CommandStatus::EsmeRinvpaswd
                    };
                    vec![smpp::pdu::bind_response(
                        CommandId::BindTransceiver,
                        status,
                        s,
                        "test",
                        0x34,
                    )]
                }
                Some(Pdu::SubmitSm(sm)) => {
                    submits += 1;
                    if drop_after == Some(submits) {
                        break 'conn;
                    }
                    let id = format!("{:x}", ids.fetch_add(1, Ordering::Relaxed));
                    let resp = Command::new(
                        CommandStatus::EsmeRok,
                        s,
                        SubmitSmResp::builder()
                            .message_id(COctetString::from_string(id.clone()).expect("id"))
                            .build(),
                    );
                    let mut out = vec![resp];
                    if b.receipts && u8::from(sm.registered_delivery) & 1 == 1 {
                        let mut receipts = Vec::new();
                        let states = [
                            (true, ReceiptState::Enroute),
                            (false, ReceiptState::Delivered),
                        ];
                        for (intermediate, state) in states {
                            if intermediate && !b.intermediate {
                                continue;
                            }
                            let r = Receipt::new(id.clone(), state);
                            let out = OutgoingReceipt {
                                receipt: &r,
                                original_source: sm.source_addr.as_str(),
                                original_destination: sm.destination_addr.as_str(),
                                intermediate,
                                network_error: None,
                            };
                            let pdu = build_pdu(&out, &b.receipt_profile).expect("hex ids fit");
                            seq += 1;
                            receipts.push(Command::new(CommandStatus::EsmeRok, seq, pdu));
                        }
                        if b.receipt_first {
                            out.splice(0..0, receipts);
                        } else {
                            out.extend(receipts);
                        }
                    }
                    if b.stray_receipts {
                        // Ids from the top of the id space, which `ids` never reaches.
                        let stray = format!("{:x}", u64::MAX - ids.fetch_add(1, Ordering::Relaxed));
                        let r = Receipt::new(stray, ReceiptState::Delivered);
                        let o = OutgoingReceipt {
                            receipt: &r,
                            original_source: sm.source_addr.as_str(),
                            original_destination: sm.destination_addr.as_str(),
                            intermediate: false,
                            network_error: None,
                        };
                        let pdu = build_pdu(&o, &b.receipt_profile).expect("hex ids fit");
                        seq += 1;
                        out.push(Command::new(CommandStatus::EsmeRok, seq, pdu));
                    }
                    let _ = tx.send((now + b.response_delay, out));
                    if b.stall_after == Some(submits) {
                        // Answers already queued still go out; nothing more is read.
                        tokio::time::sleep(b.stall_for).await;
                    }
                    continue;
                }
                Some(Pdu::EnquireLink) => {
                    vec![Command::new(
                        CommandStatus::EsmeRok,
                        s,
                        Pdu::EnquireLinkResp,
                    )]
                }
                Some(Pdu::Unbind) => {
                    vec![Command::new(CommandStatus::EsmeRok, s, Pdu::UnbindResp)]
                }
                _ => continue,
            };
            let _ = tx.send((now, out));
        }
    }
    drop(tx);
    if drop_after.is_some() && submits >= drop_after.unwrap_or(0) {
        writer.abort();
    } else {
        let _ = writer.await;
    }
}
