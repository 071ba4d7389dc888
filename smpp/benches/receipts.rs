//! Criterion benchmark of reading a received receipt as far as loadgen needs it: its kind
//! (receipt, intermediate notification or message) and the id of the message it reports on.
//!
//! Two readers, same rules (`smpp::receipt::DeliveryView`), on the same frames:
//! - `from_pdu`: decode the body with rusmpp (`Frame::decode`), then `receipt::from_pdu`, which
//!   builds the whole `Receipt`: what the ESME client does, and what loadgen did per receipt;
//! - `from_body`: `DeliveryView::from_body` on the body octets, then `kind` and `receipt_id`:
//!   no decode, no allocation; what loadgen does now.
//!
//! Each profile is measured on 1000 receipts with distinct ids, built by `build_pdu` as the
//! carrier builds them, in the shapes real SMSCs send (text and TLVs, text only, TLVs only;
//! deliver_sm and data_sm). Throughput is in receipts (criterion `Elements`), so the time per
//! element is the time per receipt. Results and the command are recorded in BENCHMARKS.md.
//!
//! Run: `cargo bench -p smpp --bench receipts`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rusmpp::{Command, CommandStatus};
use smpp::frame::{Frame, Header, encode_command};
use smpp::receipt::{DeliveryKind, DeliveryView, ReceiptPduKind, ReceiptProfile, from_pdu};

mod common;

/// Receipts per measured batch.
const BATCH: usize = 1000;

/// `BATCH` receipts in `profile` with distinct ids, as frames cut from the stream.
fn frames(profile: &ReceiptProfile) -> Vec<Frame> {
    (0..BATCH as u64)
        .map(|i| {
            let id = format!("{:012x}", 0x1a2b_3c4d_5e6f + i);
            let pdu = common::receipt_pdu(&id, profile);
            let bytes = encode_command(&Command::new(CommandStatus::EsmeRok, i as u32 + 1, pdu));
            Frame {
                header: Header::peek(&bytes).expect("a header"),
                bytes,
            }
        })
        .collect()
}

/// The profiles measured, by name.
fn profiles() -> Vec<(&'static str, ReceiptProfile)> {
    let with = |pdu, text, tlvs| ReceiptProfile {
        pdu,
        text,
        tlvs,
        ..ReceiptProfile::STANDARD
    };
    use ReceiptPduKind::{DataSm, DeliverSm};
    vec![
        ("deliver_sm_text_tlvs", with(DeliverSm, true, true)),
        ("deliver_sm_text", with(DeliverSm, true, false)),
        ("deliver_sm_tlvs", with(DeliverSm, false, true)),
        ("data_sm_text_tlvs", with(DataSm, true, true)),
        ("data_sm_text", with(DataSm, true, false)),
    ]
}

/// rusmpp decode and the whole receipt; returns the total id length, so nothing is optimised
/// away and both readers can be checked against each other.
fn read_decoded(frames: &[Frame]) -> usize {
    let mut total = 0;
    for frame in frames {
        let info = frame
            .decode()
            .ok()
            .and_then(|command| command.pdu().and_then(from_pdu));
        if let Some(info) = info
            && info.kind == DeliveryKind::Receipt
            && let Some(receipt) = info.receipt
        {
            total += receipt.id.len();
        }
    }
    total
}

/// In place: the view, its kind, its id.
fn read_in_place(frames: &[Frame]) -> usize {
    let mut total = 0;
    for frame in frames {
        if let Ok(view) = DeliveryView::from_body(frame.header.id(), frame.body())
            && view.kind() == DeliveryKind::Receipt
            && let Some(id) = view.receipt_id()
        {
            total += id.len();
        }
    }
    total
}

fn bench_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("receipt_id");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (name, profile) in profiles() {
        let frames = frames(&profile);
        // Every receipt read, and the same ids by both: otherwise the comparison means nothing.
        assert_eq!(read_in_place(&frames), BATCH * 12, "{name}: every id read");
        assert_eq!(read_decoded(&frames), BATCH * 12, "{name}: every id read");
        group.bench_with_input(BenchmarkId::new("from_pdu", name), &frames, |b, f| {
            b.iter(|| read_decoded(black_box(f)))
        });
        group.bench_with_input(BenchmarkId::new("from_body", name), &frames, |b, f| {
            b.iter(|| read_in_place(black_box(f)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench_read
}
criterion_main!(benches);
