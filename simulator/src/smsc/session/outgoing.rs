//! What the carrier sends a session unprompted: receipts, shaped by the carrier's receipt
//! profile, and MO messages from handsets.

use rusmpp::Pdu;
use rusmpp::pdus::DeliverSm;
use rusmpp::types::{EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, EsmClass, Npi, PriorityFlag, RegisteredDelivery, ReplaceIfPresentFlag, ServiceType,
    Ton,
};
use smpp::pdu::c_string;

use crate::config::ReceiptConfig;
use crate::smsc::receipts::PendingReceipt;

/// The PDU that carries a receipt, shaped by the carrier's receipt profile (see
/// [`smpp::receipt::build_pdu`]: deliver_sm or data_sm, text and/or TLVs, esm_class 0x04 or
/// 0x20 for an intermediate notification).
pub(crate) fn receipt_pdu(r: &PendingReceipt, profile: &ReceiptConfig) -> Pdu {
    use smpp::receipt::{NetworkError, OutgoingReceipt, Receipt, ReceiptDate, ReceiptState};
    let with_seconds = profile.seconds_in_dates;
    let receipt = Receipt {
        id: r.message_id.clone(),
        sub: Some(1),
        dlvrd: Some(u32::from(r.state == ReceiptState::Delivered)),
        submit_date: ReceiptDate::from_naive(r.submitted_at.naive_utc(), with_seconds),
        done_date: ReceiptDate::from_naive(r.done_at.naive_utc(), with_seconds),
        stat: r.state,
        err: Some(format!("{:03}", r.error_code.min(999))),
        text: r.text.clone(),
    };
    let out = OutgoingReceipt {
        receipt: &receipt,
        original_source: &r.original_source,
        original_destination: &r.original_destination,
        intermediate: r.intermediate,
        network_error: (r.error_code != 0).then(|| NetworkError::gsm(r.error_code)),
    };
    let profile = profile.profile();
    smpp::receipt::build_pdu(&out, &profile).unwrap_or_else(|e| {
        // Our ids are short ASCII, so the TLVs always fit; should one ever not, the text
        // still carries the id.
        tracing::warn!(message_id = %r.message_id, error = %e, "receipt sent without TLVs");
        let text_only = smpp::receipt::ReceiptProfile {
            tlvs: false,
            ..profile
        };
        smpp::receipt::build_pdu(&out, &text_only)
            .unwrap_or_else(|_| unreachable!("without TLVs the receipt always builds"))
    })
}

/// The deliver_sm that carries an MO message from a handset: esm_class 0, the text in the
/// smallest encoding that holds it, in short_message when it fits (254 octets) and whole in
/// message_payload when it does not (the control plane caps MO text well below its limit).
pub(crate) fn mo_deliver_sm(r: &PendingReceipt) -> DeliverSm {
    let text = r.mo_text.as_deref().unwrap_or_default();
    let encoding = smpp::text::best_encoding(text);
    let bytes = smpp::text::encode(text, encoding).unwrap_or_default();
    let (short, tlvs) = if bytes.len() <= 254 {
        (bytes, Vec::new())
    } else {
        (
            Vec::new(),
            vec![
                rusmpp::tlvs::MessageDeliveryRequestTlvValue::MessagePayload(
                    rusmpp::values::MessagePayload::new(rusmpp::types::AnyOctetString::from_vec(
                        bytes,
                    )),
                ),
            ],
        )
    };
    deliver_sm(
        r,
        EsmClass::from(0u8),
        DataCoding::from(encoding.data_coding()),
        short,
        tlvs,
    )
}

/// A deliver_sm from the message's destination back to its source.
fn deliver_sm(
    r: &PendingReceipt,
    esm_class: EsmClass,
    data_coding: DataCoding,
    short_message: Vec<u8>,
    tlvs: Vec<rusmpp::tlvs::MessageDeliveryRequestTlvValue>,
) -> DeliverSm {
    DeliverSm::new(
        ServiceType::default(),
        Ton::Unknown,
        Npi::Unknown,
        c_string::<21>(&r.original_destination),
        Ton::Unknown,
        Npi::Unknown,
        c_string::<21>(&r.original_source),
        esm_class,
        0,
        PriorityFlag::default(),
        EmptyOrFullCOctetString::empty(),
        EmptyOrFullCOctetString::empty(),
        RegisteredDelivery::from(0u8),
        ReplaceIfPresentFlag::default(),
        data_coding,
        0,
        OctetString::from_vec(short_message).unwrap_or_default(),
        tlvs,
    )
}
