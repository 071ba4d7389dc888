//! Fuzz target: arbitrary bytes through `SmppCodec` framing, `Frame::decode`, receipt text
//! parsing, text decoding and UDH parsing (the invariants are in `fuzz_support::framing`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_support::framing(data));
