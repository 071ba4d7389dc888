//! `loadgen`: the load generator of carrier-testbed.
//!
//! `loadgen run SCENARIO` (verification flows from scenario files), built in layers that each
//! use only those below (`tests/layers.rs` checks): [`run`] (the engine, its command line and
//! progress) > [`report`] (summary, JSON, JUnit, interval log) > [`target`] (the embedded
//! carrier-sim and verifier, HTTP services, handsets, the control plane) > [`measure`]
//! (outcomes, histograms, intervals, identities) > [`users`] (arrivals, behaviour, numbers) >
//! [`scenario`] (the file format and its validation into a plan).
//!
//! - [`smpp`]: `loadgen smpp`, an open-loop SMPP benchmark of any SMSC (scheduler, lean wire
//!   path, receipt matching, HdrHistogram latencies, report and JSON);
//! - [`threshold`]: the `--threshold` grammar and verdicts, shared by both;
//! - [`proc`]: CPU time and memory from /proc, so a benchmark says which side limits it;
//! - [`cli`]: the command line, kept in the library so tests run the code the binary runs.

pub mod cli;
pub mod measure;
pub mod proc;
pub mod report;
pub mod run;
pub mod scenario;
pub mod smpp;
pub mod target;
pub mod threshold;
pub mod users;
