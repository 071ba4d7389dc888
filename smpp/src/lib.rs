//! Shared SMPP code for carrier-sim, verifier and loadgen.
//!
//! - [`frame`]: framing by command_length with a bound, decoding each body with rusmpp, so a
//!   malformed PDU becomes an error response instead of a lost session;
//! - [`number`]: the one E.164 phone-number check (optional '+', 1 to 15 digits);
//! - [`pdu`]: building responses (including error responses) and reading common fields;
//! - [`receipt`]: delivery receipts: their text and TLVs, the receipt PDU a carrier sends and
//!   the one reader of received receipts;
//! - [`text`]: GSM 03.38 7-bit (with the extension table), Latin-1 and UCS-2;
//! - [`concat`]: splitting long messages (UDH 8/16-bit, sar_ TLVs, message_payload) and
//!   reassembling parts;
//! - [`client`]: the ESME client session that verifier and loadgen share.
//!
//! Re-exports rusmpp so that every crate uses the same codec version.

pub mod client;
pub mod concat;
pub mod frame;
pub mod number;
pub mod pdu;
pub mod receipt;
pub mod text;

pub use rusmpp;
