//! `loadgen`: the load generator.
//!
//! Two jobs, added by later issues: `loadgen smpp` (an open-loop SMPP benchmark of any SMSC) and
//! `loadgen run SCENARIO` (verification flows driven by genuine and fraudulent virtual users). Until
//! then the binary only describes itself, so that `--help` on a fresh build tells the truth.

use clap::Parser;

/// Open-loop load generator for SMPP carriers and phone-verification flows.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    anyhow::bail!(
        "no job is implemented yet: `loadgen smpp` and `loadgen run` arrive with their issues"
    )
}
