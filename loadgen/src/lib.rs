//! `loadgen`: the load generator of carrier-testbed.
//!
//! - [`smpp`]: `loadgen smpp`, an open-loop SMPP benchmark of any SMSC (scheduler, lean wire
//!   path, receipt matching, HdrHistogram latencies, report and JSON);
//! - [`threshold`]: the `--threshold` grammar and verdicts;
//! - [`proc`]: CPU time and memory from /proc, so a benchmark says which side limits it;
//! - [`cli`]: the command line (`loadgen smpp ...`; `loadgen run SCENARIO` arrives with its
//!   own issue), kept in the library so tests run the code the binary runs.

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
