//! Baseline SMSC for `bench/smpp.sh`: the least an SMSC must do, so carrier-sim's cost can be
//! read as a ratio to it.
//!
//! It frames PDUs with `smpp::frame`, decodes each with rusmpp, and answers: any bind (OK),
//! submit_sm (submit_sm_resp with a hex message id and, when registered_delivery asks for it
//! and the session can receive, a standard receipt deliver_sm with the receipt TLVs and the
//! same text carrier-sim writes), enquire_link and unbind. Nothing else: no accounts, no
//! throttling, no store, no control plane. Responses of one read are encoded with rusmpp into
//! one buffer and written with one call, as a careful server would.
//!
//! `--silent` never answers submit_sm (bind and enquire_link still are): used to measure
//! loadgen's memory per in-flight message.
//!
//! Prints `{"event":"listening","service":"smpp","addr":"..."}` on stdout when ready.
//!
//! ```sh
//! cargo run --release -p loadgen --example baseline_smsc -- --listen 127.0.0.1:0
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use rusmpp::pdus::SubmitSmResp;
use rusmpp::types::COctetString;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use smpp::frame::SmppCodec;
use smpp::receipt::{
    OutgoingReceipt, Receipt, ReceiptDate, ReceiptProfile, ReceiptState, build_pdu,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::{Decoder, Encoder};

#[derive(Debug, Clone, Copy)]
struct Opts {
    silent: bool,
}

fn main() -> anyhow::Result<()> {
    let mut listen = "127.0.0.1:2776".to_string();
    let mut threads = 1usize;
    let mut opts = Opts { silent: false };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => {
                listen = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--listen ADDR"))?
            }
            "--threads" => {
                threads = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--threads N"))?
                    .parse()?
            }
            "--silent" => opts.silent = true,
            other => anyhow::bail!(
                "unknown argument {other}; usage: baseline_smsc [--listen ADDR] [--threads N] [--silent]"
            ),
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?
        .block_on(serve(listen, opts))
}

async fn serve(listen: String, opts: Opts) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&listen).await?;
    println!(
        "{{\"event\":\"listening\",\"service\":\"smpp\",\"addr\":\"{}\"}}",
        listener.local_addr()?
    );
    let ids = Arc::new(AtomicU64::new(1));
    loop {
        let (sock, _) = listener.accept().await?;
        let _ = sock.set_nodelay(true);
        let ids = Arc::clone(&ids);
        tokio::spawn(async move {
            if let Err(e) = session(sock, ids, opts).await {
                eprintln!("session ended: {e}");
            }
        });
    }
}

async fn session(mut sock: TcpStream, ids: Arc<AtomicU64>, opts: Opts) -> anyhow::Result<()> {
    let mut codec = SmppCodec::default();
    let mut rbuf = BytesMut::with_capacity(64 * 1024);
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    let mut can_receive = false;
    let mut seq = 0u32;
    loop {
        if sock.read_buf(&mut rbuf).await? == 0 {
            return Ok(());
        }
        let mut close = false;
        while let Some(frame) = codec.decode(&mut rbuf)? {
            let cmd = match frame.decode() {
                Ok(c) => c,
                Err(e) => {
                    codec.encode(&smpp::pdu::error_response(&e.header, e.status), &mut wbuf)?;
                    continue;
                }
            };
            let s = cmd.sequence_number();
            let reply = |pdu: Pdu| Command::new(CommandStatus::EsmeRok, s, pdu);
            match cmd.pdu() {
                Some(Pdu::BindTransceiver(_))
                | Some(Pdu::BindReceiver(_))
                | Some(Pdu::BindTransmitter(_)) => {
                    let id = cmd.id();
                    can_receive = id != CommandId::BindTransmitter;
                    let resp =
                        smpp::pdu::bind_response(id, CommandStatus::EsmeRok, s, "baseline", 0x34);
                    codec.encode(&resp, &mut wbuf)?;
                }
                Some(Pdu::SubmitSm(sm)) => {
                    if opts.silent {
                        continue;
                    }
                    let id = format!("{:x}", ids.fetch_add(1, Ordering::Relaxed));
                    let resp = SubmitSmResp::builder()
                        .message_id(COctetString::from_string(id.clone())?)
                        .build();
                    codec.encode(&reply(resp.into()), &mut wbuf)?;
                    if u8::from(sm.registered_delivery) & 0x03 != 0 && can_receive {
                        seq = if seq >= 0x7FFF_FFFF { 1 } else { seq + 1 };
                        let text = String::from_utf8_lossy(sm.short_message().as_ref())
                            .chars()
                            .take(20)
                            .collect();
                        let dsm = receipt(
                            &id,
                            sm.source_addr.as_str(),
                            sm.destination_addr.as_str(),
                            text,
                        )?;
                        codec.encode(&Command::new(CommandStatus::EsmeRok, seq, dsm), &mut wbuf)?;
                    }
                }
                Some(Pdu::EnquireLink) => codec.encode(&reply(Pdu::EnquireLinkResp), &mut wbuf)?,
                Some(Pdu::Unbind) => {
                    codec.encode(&reply(Pdu::UnbindResp), &mut wbuf)?;
                    close = true;
                }
                // deliver_sm_resp and the rest need no answer here.
                _ => {}
            }
        }
        if !wbuf.is_empty() {
            sock.write_all(&wbuf).await?;
            wbuf.clear();
        }
        if close {
            return Ok(());
        }
    }
}

/// The receipt deliver_sm for a message from `original_source` to `original_destination`,
/// built by the shared receipt builder in the standard profile (carrier-sim's default: standard
/// text and the receipt TLVs), so the receipt costs both servers the same to build.
fn receipt(
    id: &str,
    original_source: &str,
    original_destination: &str,
    text: String,
) -> anyhow::Result<Pdu> {
    let now = chrono::Utc::now().naive_utc();
    let r = Receipt {
        submit_date: ReceiptDate::from_naive(now, false),
        done_date: ReceiptDate::from_naive(now, false),
        text,
        ..Receipt::new(id, ReceiptState::Delivered)
    };
    let out = OutgoingReceipt {
        receipt: &r,
        original_source,
        original_destination,
        intermediate: false,
        network_error: None,
    };
    Ok(build_pdu(&out, &ReceiptProfile::STANDARD)?)
}
