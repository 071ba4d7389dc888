//! The command line of `loadgen run`, `loadgen validate` and `loadgen schema` (their options and
//! what each prints), so `cli.rs` only names the sub-commands. Exit codes are `loadgen smpp`'s:
//! 0 when the run is valid and every threshold held, 99 when a threshold was breached, 1 on
//! errors (a refused scenario, targets that cannot be started or reached, a broken identity).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::progress::ProgressMode;
use super::{RunOptions, plan, run};
use crate::scenario::Overrides;

/// Exit code on errors.
const EXIT_ERROR: u8 = crate::report::EXIT_ERROR;

/// Progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    /// A bar on a terminal, a line a second otherwise.
    Auto,
    /// A line a second.
    Plain,
    /// Nothing until the summary.
    Off,
}

/// Options of `loadgen run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (none: the built-in smoke scenario, scenarios/smoke.toml).
    pub scenario: Option<PathBuf>,
    /// Divide every duration by this (rates stay as written).
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Seed of every decision.
    #[arg(long)]
    pub seed: Option<u64>,
    /// How long users arrive (scenarios without phases).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// A running carrier-sim's control plane (http://HOST:PORT) instead of the embedded one:
    /// handsets are read from its WebSocket event stream.
    #[arg(long)]
    pub network: Option<String>,
    /// Bearer token of that control plane (carrier-sim's --control-token).
    #[arg(long, env = "CARRIER_SIM_CONTROL_TOKEN", hide_env_values = true)]
    pub network_token: Option<String>,
    /// A running reference verifier (http://HOST:PORT) instead of the embedded one.
    #[arg(long)]
    pub verifier: Option<String>,
    /// Pass/fail threshold, e.g. 'delivery_time.p99<15s' (repeatable; added to the file's).
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the thresholds as JUnit XML test cases to this file.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write an HdrHistogram interval log (delivery_time, receipt_time, verify_time) here.
    #[arg(long)]
    pub hdr_log: Option<PathBuf>,
    /// Write a self-contained HTML report (inline SVG plots) to this file.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Progress display while running.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressArg,
    /// pid of an external carrier-sim or verifier, to report its CPU share (repeatable).
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Runtime worker threads (default: one per core; everything embedded shares them).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Skip the scenario's baseline run (`settings.baseline`): no money-saved figure.
    #[arg(long)]
    pub no_baseline: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}"))
}

impl RunArgs {
    /// The library options these arguments ask for.
    pub fn options(&self) -> RunOptions {
        RunOptions {
            scenario: self.scenario.clone(),
            overrides: Overrides {
                time_scale: self.time_scale,
                seed: self.seed,
                duration: self.duration,
                network: self.network.clone(),
                network_token: self.network_token.clone(),
                verifier: self.verifier.clone(),
            },
            thresholds: self.thresholds.clone(),
            json: self.json.clone(),
            junit: self.junit.clone(),
            hdr_log: self.hdr_log.clone(),
            no_baseline: self.no_baseline,
            html: self.html.clone(),
            progress: match self.progress {
                ProgressArg::Auto => ProgressMode::Auto,
                ProgressArg::Plain => ProgressMode::Plain,
                ProgressArg::Off => ProgressMode::Off,
            },
            server_pids: self.server_pids.clone(),
        }
    }
}

/// `loadgen run`: runs, prints the summary, returns the exit code.
pub fn main_run(args: &RunArgs) -> ExitCode {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let report = match runtime.block_on(run(args.options())) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    print!("{}", crate::report::summary::summary(&report));
    ExitCode::from(report.exit_code())
}

/// `loadgen validate FILE`: checks a scenario (and the thresholds given) without running it.
pub fn main_validate(file: &std::path::Path, thresholds: &[String]) -> ExitCode {
    let mut opts = RunOptions::new(Some(file.to_path_buf()));
    opts.thresholds = thresholds.to_vec();
    match plan(&opts) {
        Ok((p, t)) => {
            println!(
                "{}: valid: {} ({} population{}, {} phase{}, {} timeline entr{}, {} threshold{})",
                file.display(),
                p.name,
                p.populations.len(),
                if p.populations.len() == 1 { "" } else { "s" },
                p.phases.len(),
                if p.phases.len() == 1 { "" } else { "s" },
                p.timeline.len(),
                if p.timeline.len() == 1 { "y" } else { "ies" },
                t.len(),
                if t.len() == 1 { "" } else { "s" },
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// `loadgen schema`: prints the JSON Schema of scenario files.
pub fn main_schema() -> ExitCode {
    match serde_json::to_string_pretty(&crate::scenario::json_schema()) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
