//! What the smpp benchmarks share: the criterion settings that keep a whole `cargo bench -p
//! smpp` to a few minutes on the project's 2-core machine, and the messages measured, so that
//! figures from different benches are about the same PDUs.

use std::time::Duration;

use criterion::Criterion;
use rusmpp::Pdu;
use smpp::receipt::{
    NetworkError, OutgoingReceipt, Receipt, ReceiptDate, ReceiptProfile, ReceiptState, build_pdu,
};

/// Half a second of warm-up, three seconds and 50 samples per benchmark.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

/// A 160-character OTP message, all in the GSM 03.38 default alphabet.
pub fn otp_text() -> String {
    let base = "Your verification code is 482913. It expires in 10 minutes. Do not share this code with anyone, \
                our staff will never ask for it. If you did not request it, ignore this.";
    let mut text: String = base.chars().cycle().take(160).collect();
    text.truncate(160);
    text
}

/// The receipt for message `id` as carriers build it (`smpp::receipt::build_pdu`) in `profile`:
/// UNDELIV with both dates, err 001, the first 20 characters of [`otp_text`] and a GSM network
/// error, so that every field and TLV is there.
pub fn receipt_pdu(id: &str, profile: &ReceiptProfile) -> Pdu {
    let date = ReceiptDate {
        year: 26,
        month: 11,
        day: 22,
        hour: 12,
        minute: 30,
        second: None,
    };
    let receipt = Receipt {
        submit_date: Some(date),
        done_date: Some(date),
        text: otp_text().chars().take(20).collect(),
        ..Receipt::new(id, ReceiptState::Undeliverable).with_err_code(1)
    };
    let out = OutgoingReceipt {
        receipt: &receipt,
        original_source: "VerifyCo",
        original_destination: "447700900123",
        intermediate: false,
        network_error: Some(NetworkError::gsm(1)),
    };
    build_pdu(&out, profile).expect("short ASCII id")
}
