//! What the fuzz targets run, kept in a library so that the same code also replays the saved
//! regression inputs and seeds under `cargo test` on the stable toolchain: here through
//! `tests/replay.rs`, and in the main workspace's `cargo test --workspace` through
//! `tests/tests/fuzz_corpus.rs`, which compiles this very file as a module (`#[path]`). So it
//! must build both as this crate's root and as a module of that test: no crate-level attributes,
//! and only dependencies both crates have (`smpp`, `simulator`, `tokio` with `test-util`,
//! `tokio-util`, `bytes`).
//!
//! - [`framing`]: arbitrary bytes through the bounded framing ([`SmppCodec`]) and body decoding
//!   ([`Frame::decode`]), plus the other parsers that read peer-controlled bytes: receipt text,
//!   text decoding by data_coding and UDH parsing.
//! - [`session`]: arbitrary bytes written into a live carrier session over `tokio::io::duplex`,
//!   on a paused clock so the session's timers (bind timeout, enquire_link, response timeout)
//!   fire deterministically and in virtual time.
//!
//! Both panic on a broken invariant, which is what libFuzzer reports as a crash.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::BytesMut;
use simulator::config::{AccountConfig, CarrierConfig};
use simulator::{Binds, Running, SimConfig};
use smpp::frame::{Frame, FrameError, HEADER_LEN, Header, SmppCodec, decode_one, encode_command};
use smpp::rusmpp::pdus::BindTransceiver;
use smpp::rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf};
use tokio::task::JoinHandle;
use tokio_util::codec::Decoder;

/// The account the session target binds with.
pub const SYSTEM_ID: &str = "fuzz";
/// Its password.
pub const PASSWORD: &str = "fuzzpw";

/// Bound on command_length used by the framing target: small enough that the fuzzer reaches
/// the too-long path with short inputs, large enough for every real PDU shape.
const FRAMING_MAX: usize = 4096;

/// Frames `bytes` completely; returns the frames and the error that stopped framing, if any.
fn frame_all(codec: &mut SmppCodec, buf: &mut BytesMut) -> (Vec<Frame>, Option<FrameError>) {
    let mut frames = Vec::new();
    loop {
        match codec.decode(buf) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}

/// The framing target. Invariants checked, beyond "does not panic":
/// - every frame is exactly `command_length` octets and at least a header;
/// - framing the input in two chunks (split at a point the input chooses) yields the same
///   frames as framing it at once, so partial reads never change what is seen;
/// - a body error never answers with ESME_ROK;
/// - a decoded command with a body re-encodes to bytes that decode back to the same command,
///   or, when its re-encoding does not decode at all, the frame is one rusmpp accepts loosely
///   and the carrier must refuse it and keep the session (see [`loosely_accepted`]).
pub fn framing(data: &[u8]) {
    let mut codec = SmppCodec::new(FRAMING_MAX);
    let mut whole = BytesMut::from(data);
    let (frames, err) = frame_all(&mut codec, &mut whole);

    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut chunked_codec = SmppCodec::new(FRAMING_MAX);
    let mut chunked = BytesMut::from(&data[..split]);
    let (mut chunked_frames, first_err) = frame_all(&mut chunked_codec, &mut chunked);
    let chunked_err = if first_err.is_some() {
        first_err
    } else {
        chunked.extend_from_slice(&data[split..]);
        let (rest, e) = frame_all(&mut chunked_codec, &mut chunked);
        chunked_frames.extend(rest);
        e
    };
    assert_eq!(frames, chunked_frames, "chunked framing disagrees");
    assert_eq!(
        err.as_ref().map(ToString::to_string),
        chunked_err.as_ref().map(ToString::to_string),
        "chunked framing ends differently"
    );
    if let Some(e) = &err {
        assert!(
            e.is_length_violation(),
            "only length errors without I/O: {e}"
        );
    }

    for frame in &frames {
        assert_eq!(frame.bytes.len(), frame.header.command_length as usize);
        assert!(frame.bytes.len() >= HEADER_LEN);
        match frame.decode() {
            // rusmpp hands back `pdu: None` for a body-less command (enquire_link, unbind,
            // cancel_sm_resp...) that carries a body and for a body-bearing one with none; such a
            // command re-encodes as a bare header, so only whole PDUs must round-trip.
            Ok(command) if command.pdu().is_none() => {}
            Ok(command) => round_trip(frame, &command),
            Err(e) => {
                assert_ne!(
                    e.status,
                    CommandStatus::EsmeRok,
                    "body error answered OK: {e}"
                );
                assert_eq!(e.header, frame.header);
            }
        }
    }

    // The same bytes as the other inputs a peer controls.
    let text = String::from_utf8_lossy(data);
    if let Ok(receipt) = smpp::receipt::parse(&text) {
        let _ = smpp::receipt::ReceiptFormat::default().format(&receipt);
    }
    if let Some((&data_coding, rest)) = data.split_first() {
        let _ = smpp::text::decode(data_coding, rest);
    }
    if let Ok((udh, rest)) = smpp::concat::parse_udh(data) {
        assert_eq!(
            udh.len + rest.len(),
            data.len(),
            "UDH length plus user data"
        );
        if let Some(c) = udh.concat {
            assert!(c.total >= 1 && (1..=c.total).contains(&c.seq), "{c:?}");
        }
    }
}

/// A command decoded from the wire must survive encode and decode unchanged, unless its
/// re-encoding does not decode: then the frame is one rusmpp accepts loosely, and what must hold
/// instead is checked on a live carrier.
fn round_trip(frame: &Frame, command: &Command) {
    let bytes = encode_command(command);
    match decode_one(&bytes) {
        Ok(back) => assert_eq!(&back, command, "re-encoded command decodes differently"),
        Err(e) => loosely_accepted(frame, &e.to_string()),
    }
}

/// What holds for a frame rusmpp decodes although its own re-encoding of the result does not
/// decode.
///
/// rusmpp 0.4 decodes some frames more loosely than it encodes: a C-octet string's minimum
/// length is checked against the octets left in the body rather than against the string (so a
/// `source_network_id` TLV holding just its NUL, minimum 7, passes when other octets follow),
/// and octets after the last field rusmpp reads are ignored (query_broadcast_sm, replace_sm,
/// alert_notification and the bind responses read at most one TLV). Re-encoded, such a command
/// loses the trailing octets and no longer decodes, so no round trip can hold. That is a
/// property of the library, not of our framing; refusing every such frame in `smpp::frame`
/// would mean re-encoding every inbound PDU on the carrier's hot path, or second-guessing
/// rusmpp field by field.
///
/// What a peer can rely on is checked instead, whatever the PDU: on a freshly bound session of
/// a carrier with the default configuration, a request is answered (its response or a
/// generic_nack, same sequence number) with an error status, a response gets no answer, and
/// either way the session then answers an enquire_link and ends cleanly when the peer closes.
/// If some day the carrier accepted such a request with ESME_ROK, that would be a finding worth
/// stopping for: it would act on a PDU it could not itself encode.
fn loosely_accepted(frame: &Frame, reencode_error: &str) {
    let verdict = paused_runtime().block_on(carrier_answers(frame.clone()));
    if let Err(why) = verdict {
        panic!(
            "{why}\nframe rusmpp accepts loosely (its re-encoding does not decode: {reencode_error}): {:02x?}",
            &frame.bytes[..]
        );
    }
}

/// Binds, sends `frame` and then an enquire_link, and judges what the carrier answers.
async fn carrier_answers(frame: Frame) -> Result<(), String> {
    let (running, client, session) = spawn_session().await;
    let (rx, mut tx) = tokio::io::split(client);
    let mut peer = Peer::new(rx);

    tx.write_all(&bind_pdu())
        .await
        .map_err(|e| format!("writing the bind: {e}"))?;
    let bound = peer
        .read_until(|h| h.sequence_number == 1 && h.is_response())
        .await?;
    if bound.last().map(Header::status) != Some(CommandStatus::EsmeRok) {
        return Err(format!("the fuzz account's bind failed: {}", show(&bound)));
    }

    let sent = frame.header;
    // Any number but the frame's, so the probe's answer cannot be taken for the frame's.
    let probe_seq = sent.sequence_number.wrapping_add(1);
    let mut input = frame.bytes.to_vec();
    input.extend_from_slice(&encode_command(&Command::new(
        CommandStatus::EsmeRok,
        probe_seq,
        Pdu::EnquireLink,
    )));
    tx.write_all(&input)
        .await
        .map_err(|e| format!("writing the frame: {e}"))?;
    let answers = peer
        .read_until(|h| h.sequence_number == probe_seq && h.id() == CommandId::EnquireLinkResp)
        .await
        .map_err(|e| format!("the session did not live on after the frame: {e}"))?;

    let answer = answers
        .iter()
        .find(|h| h.is_response() && h.sequence_number == sent.sequence_number);
    match (sent.is_response(), answer) {
        (true, Some(h)) => {
            return Err(format!("the carrier answered a response: {}", show(&[*h])));
        }
        (true, None) => {}
        (false, None) => {
            return Err(format!(
                "the request got no answer; the carrier sent {}",
                show(&answers)
            ));
        }
        (false, Some(h)) => {
            let fits =
                h.command_id == sent.command_id | 0x8000_0000 || h.id() == CommandId::GenericNack;
            if !fits || h.status() == CommandStatus::EsmeRok {
                return Err(format!("the request was answered with {}", show(&[*h])));
            }
        }
    }

    // The peer leaves; the session must end, without panicking, as in the session target.
    let _ = tx.shutdown().await;
    drop(tx);
    end_of_session(session).await;
    running.shutdown().await;
    Ok(())
}

/// PDU headers as a reader of a crash report wants them: name, sequence number, status.
fn show(headers: &[Header]) -> String {
    let each: Vec<String> = headers
        .iter()
        .map(|h| {
            format!(
                "{} seq {} status 0x{:08x}",
                smpp::frame::command_name(h.command_id),
                h.sequence_number,
                h.command_status
            )
        })
        .collect();
    format!("[{}]", each.join(", "))
}

/// The reading side of a test peer: frames what the carrier sends.
struct Peer {
    rx: ReadHalf<DuplexStream>,
    codec: SmppCodec,
    buf: BytesMut,
}

impl Peer {
    fn new(rx: ReadHalf<DuplexStream>) -> Self {
        Self {
            rx,
            codec: SmppCodec::new(smpp::frame::DEFAULT_MAX_COMMAND_LENGTH),
            buf: BytesMut::new(),
        }
    }

    /// Headers of everything the carrier sends, up to and including the first that satisfies
    /// `last`, within [`QUIET_FOR`] of virtual time.
    async fn read_until(&mut self, last: impl Fn(&Header) -> bool) -> Result<Vec<Header>, String> {
        let mut seen = Vec::new();
        let read = async {
            let mut chunk = [0u8; 4096];
            loop {
                // One frame at a time, so what follows the last one wanted stays buffered for
                // the next call.
                match self.codec.decode(&mut self.buf) {
                    Ok(Some(f)) => {
                        seen.push(f.header);
                        if last(&f.header) {
                            return Ok(());
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => return Err(format!("the carrier sent an unframeable PDU: {e}")),
                }
                match self.rx.read(&mut chunk).await {
                    Ok(0) | Err(_) => return Err("the carrier closed the session".to_string()),
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                }
            }
        };
        match tokio::time::timeout(QUIET_FOR, read).await {
            Ok(Ok(())) => Ok(seen),
            Ok(Err(why)) => Err(format!("{why}; before that it sent {}", show(&seen))),
            Err(_) => Err(format!(
                "no such answer within {QUIET_FOR:?}; the carrier sent {}",
                show(&seen)
            )),
        }
    }
}

/// The configuration the session target runs against: one carrier, `default`, with defaults
/// and one account.
pub fn session_config() -> SimConfig {
    let mut carrier = CarrierConfig::default();
    carrier
        .accounts
        .insert(SYSTEM_ID.into(), AccountConfig::new(PASSWORD));
    let mut cfg = SimConfig::default();
    cfg.carriers.insert(carrier.name.clone(), carrier);
    cfg
}

/// A valid bind_transceiver for the fuzz account, sequence number 1.
pub fn bind_pdu() -> Vec<u8> {
    let bind = BindTransceiver::builder()
        .system_id(smpp::pdu::c_string::<16>(SYSTEM_ID))
        .password(smpp::pdu::c_string::<9>(PASSWORD))
        .build();
    encode_command(&Command::new(CommandStatus::EsmeRok, 1, bind)).to_vec()
}

/// How long (in the session's paused, virtual time) the peer keeps its side open: past the
/// bind timeout, the enquire_link interval and its response timeout, so every timer can fire.
const QUIET_FOR: Duration = Duration::from_secs(60);

/// The session target. The first input byte chooses whether a valid bind comes first (odd) so
/// the fuzzer reaches the bound-state operations without having to discover a bind; the rest
/// is written to the carrier as it is. The peer reads (and drops) everything the carrier sends,
/// keeps its side open for [`QUIET_FOR`], then closes. Panics if the session panics, if the
/// carrier sends something that cannot be framed, or if the session outlives the peer's close.
pub fn session(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut input = Vec::with_capacity(rest.len() + 64);
    if mode & 1 == 1 {
        input.extend_from_slice(&bind_pdu());
    }
    input.extend_from_slice(rest);

    paused_runtime().block_on(drive_session(input));
}

/// A single-threaded runtime on a paused clock: the session's timers fire in virtual time, in
/// the same order on every run.
fn paused_runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot build a tokio runtime: {e}"),
    }
}

/// A fresh carrier ([`session_config`]) started through its front door with no listeners, and
/// one of its SMPP sessions over an in-memory pipe: the carrier, the peer's end, the session.
async fn spawn_session() -> (Running, DuplexStream, JoinHandle<()>) {
    let running = match simulator::start(session_config(), Binds::none()).await {
        Ok(r) => r,
        Err(e) => panic!("the fuzz carrier does not start: {e}"),
    };
    let (client, server) = tokio::io::duplex(16 * 1024);
    let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 2775));
    let session = match running.serve_stream("default", server, peer) {
        Ok(handle) => handle,
        Err(e) => panic!("{e}"),
    };
    (running, client, session)
}

/// Waits for a session whose peer has closed: it must end, and without panicking.
async fn end_of_session(session: JoinHandle<()>) {
    match tokio::time::timeout(Duration::from_secs(30), session).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(e)) => panic!("session task failed: {e}"),
        Err(_) => panic!("session still running 30 s after the peer closed"),
    }
}

async fn drive_session(input: Vec<u8>) {
    let (running, client, session) = spawn_session().await;
    let (mut rx, mut tx) = tokio::io::split(client);
    // The carrier's output is framed as a peer would, so a malformed PDU from it is a crash.
    let reader = tokio::spawn(async move {
        let mut codec = SmppCodec::new(smpp::frame::DEFAULT_MAX_COMMAND_LENGTH);
        let mut buf = BytesMut::new();
        let mut chunk = [0u8; 4096];
        loop {
            match rx.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            let (frames, err) = frame_all(&mut codec, &mut buf);
            if let Some(e) = err {
                panic!("carrier sent an unframeable PDU: {e}");
            }
            for f in frames {
                if let Err(e) = f.decode() {
                    panic!("carrier sent an undecodable PDU: {e}");
                }
            }
        }
    });

    // A session that closes early makes the write fail; that is a legal outcome.
    let _ = tx.write_all(&input).await;
    let _ = tokio::time::timeout(QUIET_FOR, async {
        while !session.is_finished() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let _ = tx.shutdown().await;
    drop(tx);

    end_of_session(session).await;
    match reader.await {
        Ok(()) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("reader task failed: {e}"),
    }
    running.shutdown().await;
}

/// The saved inputs of one kind (`seeds` or `regressions`) for one target, in name order.
fn saved_inputs(fuzz_dir: &Path, kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir.join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

/// Runs every saved input of `target` (`fuzz_dir/seeds/<target>/*`, then
/// `fuzz_dir/regressions/<target>/*`) through `run`. `fuzz_dir` is this crate's directory,
/// passed in because the two test crates that replay sit in different places. Finding no input
/// at all panics: it means a wrong directory, and a replay of nothing must not pass.
pub fn replay(fuzz_dir: &Path, target: &str, run: fn(&[u8])) {
    let mut n = 0;
    for kind in ["seeds", "regressions"] {
        for path in saved_inputs(fuzz_dir, kind, target) {
            let data = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            eprintln!("replaying {}", path.display());
            run(&data);
            n += 1;
        }
    }
    assert!(
        n > 0,
        "no {target} inputs under {}/{{seeds,regressions}}",
        fuzz_dir.display()
    );
}
