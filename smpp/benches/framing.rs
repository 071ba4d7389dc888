//! Criterion benchmark of SMPP framing: decode (`SmppCodec` + `Frame::decode`) and encode of
//! submit_sm (160-character GSM text, with and without TLVs) and deliver_sm (a delivery
//! receipt with its TLVs), one PDU at a time and 1000 PDUs in one buffer.
//!
//! Every figure has a baseline measured in the same run: rusmpp's own `CommandCodec` on the
//! same bytes. Our framing exists to survive bad PDUs (bounded length, frame cut before the
//! body is decoded), and the ratio to the baseline is what that robustness costs; absolute
//! numbers depend on the machine. Throughput is reported in PDUs (criterion `Elements`).
//! Results and the command are recorded in BENCHMARKS.md.
//!
//! Run: `cargo bench -p smpp --bench framing`.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rusmpp::pdus::SubmitSm;
use rusmpp::tlvs::MessageSubmissionRequestTlvValue as SubmitTlv;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::OctetString;
use rusmpp::values::{DataCoding, EsmClass, Npi, RegisteredDelivery, Ton, UserMessageReference};
use rusmpp::{Command, CommandStatus};
use smpp::frame::{DEFAULT_MAX_COMMAND_LENGTH, SmppCodec};
use smpp::pdu::c_string;
use smpp::receipt::ReceiptProfile;
use tokio_util::codec::{Decoder, Encoder};

mod common;

/// PDUs per buffer in the batch benchmarks.
const BATCH: usize = 1000;

fn submit_sm(with_tlvs: bool) -> SubmitSm {
    let text = smpp::text::encode(&common::otp_text(), smpp::text::Encoding::Gsm7)
        .expect("the OTP text is GSM-7");
    let mut sm = SubmitSm::builder()
        .source_addr_ton(Ton::Alphanumeric)
        .source_addr_npi(Npi::Unknown)
        .source_addr(c_string::<21>("VerifyCo"))
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(c_string::<21>("447700900123"))
        // rusmpp's EsmClass default encodes as 0x08.
        .esm_class(EsmClass::from(0u8))
        .registered_delivery(RegisteredDelivery::from(1u8))
        .data_coding(DataCoding::from(0u8))
        .short_message(OctetString::from_vec(text).expect("160 octets fit"))
        .build();
    if with_tlvs {
        // What a concatenating, reference-tracking ESME sends with each part.
        sm.set_tlvs(vec![
            SubmitTlv::SarMsgRefNum(0x1234),
            SubmitTlv::SarTotalSegments(2),
            SubmitTlv::SarSegmentSeqnum(1),
            SubmitTlv::UserMessageReference(UserMessageReference::new(42)),
            SubmitTlv::SourcePort(9200),
            SubmitTlv::QosTimeToLive(300),
        ]);
    }
    sm
}

/// The PDUs benchmarked, by name.
fn cases() -> Vec<(&'static str, Command)> {
    let ok = CommandStatus::EsmeRok;
    vec![
        ("submit_sm_160", Command::new(ok, 1, submit_sm(false))),
        ("submit_sm_160_tlvs", Command::new(ok, 1, submit_sm(true))),
        (
            "deliver_sm_receipt",
            // A standard receipt deliver_sm, built as carriers build them.
            Command::new(
                ok,
                1,
                common::receipt_pdu("1a2b3c4d5e6f", &ReceiptProfile::STANDARD),
            ),
        ),
    ]
}

/// `n` copies of `command` with consecutive sequence numbers, encoded back to back.
fn stream(command: &Command, n: usize) -> BytesMut {
    let mut codec = SmppCodec::default();
    let mut buf = BytesMut::new();
    for i in 0..n {
        let mut c = command.clone();
        c.sequence_number = i as u32 + 1;
        codec.encode(&c, &mut buf).expect("encoding into memory");
    }
    buf
}

/// Ours: cut frames by command_length, then decode each body. Returns the PDUs decoded.
fn decode_ours(bytes: &BytesMut) -> usize {
    let mut codec = SmppCodec::new(DEFAULT_MAX_COMMAND_LENGTH);
    let mut buf = bytes.clone();
    let mut n = 0;
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        if let Ok(command) = frame.decode() {
            black_box(&command);
            n += 1;
        }
    }
    n
}

/// Baseline: rusmpp's `CommandCodec` on the same bytes.
fn decode_rusmpp(bytes: &BytesMut) -> usize {
    let mut codec = CommandCodec::new().with_max_length(DEFAULT_MAX_COMMAND_LENGTH);
    let mut buf = bytes.clone();
    let mut n = 0;
    while let Ok(Some(command)) = codec.decode(&mut buf) {
        black_box(&command);
        n += 1;
    }
    n
}

fn encode_ours(commands: &[Command], buf: &mut BytesMut) {
    let mut codec = SmppCodec::default();
    buf.clear();
    for c in commands {
        codec.encode(c, buf).expect("encoding into memory");
    }
}

fn encode_rusmpp(commands: &[Command], buf: &mut BytesMut) {
    let mut codec = CommandCodec::new().without_max_length();
    buf.clear();
    for c in commands {
        codec.encode(c, buf).expect("encoding into memory");
    }
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for (name, command) in cases() {
        for n in [1, BATCH] {
            let bytes = stream(&command, n);
            // Both decoders must see every PDU, or the comparison is meaningless.
            assert_eq!(
                decode_ours(&bytes),
                n,
                "{name}: SmppCodec decodes every PDU"
            );
            assert_eq!(
                decode_rusmpp(&bytes),
                n,
                "{name}: CommandCodec decodes every PDU"
            );
            group.throughput(Throughput::Elements(n as u64));
            let id = format!("{name}/x{n}");
            group.bench_with_input(BenchmarkId::new("smpp", &id), &bytes, |b, bytes| {
                b.iter(|| decode_ours(black_box(bytes)))
            });
            group.bench_with_input(BenchmarkId::new("rusmpp", &id), &bytes, |b, bytes| {
                b.iter(|| decode_rusmpp(black_box(bytes)))
            });
        }
    }
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (name, command) in cases() {
        for n in [1, BATCH] {
            let commands: Vec<Command> = (0..n)
                .map(|i| {
                    let mut c = command.clone();
                    c.sequence_number = i as u32 + 1;
                    c
                })
                .collect();
            let mut ours = BytesMut::new();
            let mut theirs = BytesMut::new();
            encode_ours(&commands, &mut ours);
            encode_rusmpp(&commands, &mut theirs);
            assert_eq!(ours, theirs, "{name}: both encoders write the same bytes");
            group.throughput(Throughput::Elements(n as u64));
            let id = format!("{name}/x{n}");
            group.bench_with_input(BenchmarkId::new("smpp", &id), &commands, |b, cmds| {
                let mut buf = BytesMut::with_capacity(ours.len());
                b.iter(|| {
                    encode_ours(black_box(cmds), &mut buf);
                    black_box(buf.len())
                })
            });
            group.bench_with_input(BenchmarkId::new("rusmpp", &id), &commands, |b, cmds| {
                let mut buf = BytesMut::with_capacity(theirs.len());
                b.iter(|| {
                    encode_rusmpp(black_box(cmds), &mut buf);
                    black_box(buf.len())
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench_decode, bench_encode
}
criterion_main!(benches);
