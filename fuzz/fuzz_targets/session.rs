//! Fuzz target: arbitrary bytes written into a live carrier session over `tokio::io::duplex`
//! (the driver and its invariants are in `fuzz_support::session`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_support::session(data));
