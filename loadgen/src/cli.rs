//! The `loadgen` command line.
//!
//! Sub-commands: `smpp` (its options here), and `run SCENARIO`, `validate FILE` and `schema`
//! (their options in `run::args`). Exit codes: 0 when the run is valid and every threshold
//! held, 99 when a threshold was breached, 1 on any error (bad options, bind refused, a
//! refused scenario, broken accounting identity).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::run::args::ProgressArg;
use crate::smpp::schedule::RateProfile;
use crate::smpp::{BindType, DestSpec, ProgressMode, SmppOptions, Text, TlsOptions};
use crate::threshold::Threshold;

/// Exit code when a threshold was breached.
pub const EXIT_THRESHOLD: u8 = 99;
/// Exit code on errors.
pub const EXIT_ERROR: u8 = 1;

/// Open-loop load generator for SMPP carriers and phone-verification flows.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open-loop SMPP benchmark of an SMSC: fixed-rate submit_sm, latency from intended send
    /// time, receipts matched by message id.
    Smpp(Box<SmppArgs>),
    /// Verification flows from a scenario file: users ask for codes, read them off their
    /// handsets and check them; delivery, failover and a verdict (no file: the built-in smoke
    /// scenario).
    Run(Box<crate::run::args::RunArgs>),
    /// Check a scenario file (and thresholds) without running it.
    Validate {
        /// The scenario file.
        file: PathBuf,
        /// Thresholds to check as well.
        #[arg(long = "threshold", value_name = "EXPR")]
        thresholds: Vec<String>,
    },
    /// Print the JSON Schema of scenario files (also scenarios/loadgen-scenario.schema.json).
    Schema,
}

/// Bind kinds on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BindTypeArg {
    /// One transceiver per bind.
    Trx,
    /// A transmitter and a receiver per bind.
    #[value(name = "tx+rx")]
    TxRx,
    /// Transmitters only (receipts are left with the SMSC).
    Tx,
}

/// Text encodings on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CodingArg {
    /// GSM 03.38 default alphabet, unpacked (data_coding 0).
    Gsm7,
    /// UCS-2 (data_coding 8).
    Ucs2,
    /// ISO-8859-1 (data_coding 3).
    Latin1,
}

/// Options of `loadgen smpp`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("load").required(true).args(["rate", "ramp"])))]
pub struct SmppArgs {
    /// SMSC address, HOST:PORT.
    #[arg(long)]
    pub target: String,
    /// system_id to bind with.
    #[arg(long)]
    pub system_id: String,
    /// Password to bind with.
    #[arg(long, env = "LOADGEN_SMPP_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// Connect with TLS (needs --tls-ca).
    #[arg(long, requires = "tls_ca")]
    pub tls: bool,
    /// PEM file of the certificate(s) to trust for --tls.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Name the server certificate must carry (default: the target's host).
    #[arg(long)]
    pub tls_server_name: Option<String>,
    /// Constant rate, submit_sm per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Linear ramp FROM:TO:OVER, e.g. 1000:50000:30s (then TO until --duration ends).
    #[arg(long, value_parser = parse_ramp)]
    pub ramp: Option<RateProfile>,
    /// Length of the sending phase (e.g. 30s, 2m).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Number of binds (connections, or transmitter + receiver pairs with --bind-type tx+rx).
    #[arg(long, default_value_t = 1)]
    pub binds: usize,
    /// How to bind.
    #[arg(long, value_enum, default_value = "trx")]
    pub bind_type: BindTypeArg,
    /// Most submit_sm outstanding per bind.
    #[arg(long, default_value_t = 100)]
    pub window: usize,
    /// Ask for final delivery receipts (registered_delivery=1) and measure them.
    #[arg(long)]
    pub registered_delivery: bool,
    /// Destination: a digit prefix of at most 12 digits (numbers are PREFIX + counter, 12
    /// digits, at least 3 of counter) or a file with one E.164 number (at most 15 digits) per
    /// line.
    #[arg(long, default_value = "4477009")]
    pub dest: String,
    /// source_addr (an E.164 number, 1 to 15 digits: international; otherwise alphanumeric).
    #[arg(long, default_value = "LOADGEN")]
    pub source: String,
    /// Message text.
    #[arg(long, conflicts_with = "text_len")]
    pub text: Option<String>,
    /// Generated message text of this many characters.
    #[arg(long)]
    pub text_len: Option<usize>,
    /// Text encoding.
    #[arg(long, value_enum, default_value = "gsm7")]
    pub data_coding: CodingArg,
    /// A submit_sm with no response after this long is timed out.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// After sending, wait this long at most for outstanding receipts.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub receipt_wait: Duration,
    /// A send later than this after its intended time counts as behind schedule.
    #[arg(long, value_parser = parse_duration, default_value = "2ms")]
    pub behind_tolerance: Duration,
    /// Most receipts held at once while waiting for their submit_sm_resp (more are dropped,
    /// oldest first, and counted as receipts.early_dropped).
    #[arg(long, default_value_t = crate::smpp::receipts::DEFAULT_EARLY_CAP)]
    pub max_early_receipts: usize,
    /// Share of one core the sending thread may spend spinning to send each message at its
    /// due time (0 to 1; 0: sleep only, accepting the timer's oversleep as send lag).
    #[arg(long, default_value_t = crate::smpp::DEFAULT_SPIN_BUDGET)]
    pub spin_budget: f64,
    /// Wake the sending thread at most once per this interval and send everything due then
    /// (0: each message at its own time). Trades send lag for fewer, larger writes.
    #[arg(long, value_parser = parse_duration, default_value = "0")]
    pub coalesce: Duration,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an HdrHistogram interval log (tags submit_resp and receipt, µs) to this file.
    #[arg(long)]
    pub hdr_log: Option<PathBuf>,
    /// Pass/fail threshold, e.g. 'submit_resp.p99<5ms' (repeatable; grammar in the README).
    #[arg(long = "threshold", value_name = "EXPR", value_parser = parse_threshold)]
    pub thresholds: Vec<Threshold>,
    /// Progress display while running.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressArg,
    /// pid of the SMSC, to report its CPU share next to loadgen's.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Runtime worker threads (default: 1, which leaves the other cores to the server).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}"))
}

fn parse_ramp(s: &str) -> Result<RateProfile, String> {
    let mut parts = s.splitn(3, ':');
    let (Some(from), Some(to), Some(over)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("`{s}`: expected FROM:TO:OVER, e.g. 1000:50000:30s"));
    };
    let num = |v: &str| {
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| format!("`{s}`: `{v}` is not a rate"))
    };
    Ok(RateProfile::Ramp {
        from: num(from)?,
        to: num(to)?,
        over: parse_duration(over)?,
    })
}

fn parse_threshold(s: &str) -> Result<Threshold, String> {
    Threshold::parse(s).map_err(|e| e.to_string())
}

impl SmppArgs {
    /// The library options these arguments ask for.
    pub fn options(&self) -> SmppOptions {
        let mut o = SmppOptions::new(&self.target, &self.system_id, &self.password);
        o.tls = self.tls.then(|| TlsOptions {
            ca: self.tls_ca.clone().unwrap_or_default(),
            server_name: self.tls_server_name.clone(),
        });
        o.rate = match (self.rate, self.ramp) {
            (_, Some(r)) => r,
            (Some(r), None) => RateProfile::Constant(r),
            (None, None) => RateProfile::Constant(0.0),
        };
        o.duration = self.duration;
        o.binds = self.binds;
        o.bind_type = match self.bind_type {
            BindTypeArg::Trx => BindType::Trx,
            BindTypeArg::TxRx => BindType::TxRx,
            BindTypeArg::Tx => BindType::Tx,
        };
        o.window = self.window;
        o.registered_delivery = self.registered_delivery;
        o.dest = if std::path::Path::new(&self.dest).is_file() {
            DestSpec::File(PathBuf::from(&self.dest))
        } else {
            DestSpec::Prefix(self.dest.clone())
        };
        o.source = self.source.clone();
        if let Some(t) = &self.text {
            o.text = Text::Literal(t.clone());
        } else if let Some(n) = self.text_len {
            o.text = Text::Length(n);
        }
        o.encoding = match self.data_coding {
            CodingArg::Gsm7 => smpp::text::Encoding::Gsm7,
            CodingArg::Ucs2 => smpp::text::Encoding::Ucs2,
            CodingArg::Latin1 => smpp::text::Encoding::Latin1,
        };
        o.timeout = self.timeout;
        o.receipt_wait = self.receipt_wait;
        o.behind_tolerance = self.behind_tolerance;
        o.max_early_receipts = self.max_early_receipts;
        o.spin_budget = self.spin_budget;
        o.coalesce = self.coalesce;
        o.hdr_log = self.hdr_log.clone();
        o.thresholds = self.thresholds.clone();
        o.progress = match self.progress {
            ProgressArg::Auto => ProgressMode::Auto,
            ProgressArg::Plain => ProgressMode::Plain,
            ProgressArg::Off => ProgressMode::Off,
        };
        o.server_pid = self.server_pid;
        o
    }
}

/// Parses the command line, runs it, and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Smpp(args) => smpp(&args),
        Command::Run(args) => crate::run::args::main_run(&args),
        Command::Validate { file, thresholds } => {
            crate::run::args::main_validate(&file, &thresholds)
        }
        Command::Schema => crate::run::args::main_schema(),
    }
}

fn smpp(args: &SmppArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let report = match runtime.block_on(crate::smpp::run(args.options())) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    print!("{}", report.summary());
    if let Some(path) = &args.json {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(path, bytes));
        if let Err(e) = written {
            eprintln!("error: {}: {e}", path.display());
            return ExitCode::from(EXIT_ERROR);
        }
    }
    if !report.errors.is_empty() {
        for e in &report.errors {
            eprintln!("error: {e}");
        }
        return ExitCode::from(EXIT_ERROR);
    }
    if !report.thresholds_passed {
        return ExitCode::from(EXIT_THRESHOLD);
    }
    ExitCode::SUCCESS
}
