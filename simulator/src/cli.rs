//! The `carrier-sim` command line: parsing, the config the flags describe, readiness lines,
//! signals. A thin shell over the front door ([`crate::start`]); `main.rs` only calls [`main`].
//! Readiness is one
//! JSON line per listener on stdout (`{"event":"listening","service":"smpp","addr":...}`), so
//! scripts can start the carrier on port 0 and read where it is; logs go to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::app::{Binds, Listening, Report};
use crate::config::{
    AccountConfig, CarrierConfig, Distribution, MessageIdFormat, SimConfig, TlsListenerConfig,
};

/// Mock SMS carrier that speaks SMPP.
#[derive(Debug, Parser)]
#[command(name = "carrier-sim", version, about, long_about = None)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run an SMSC until SIGINT or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Check a carrier config file and exit (0 when valid).
    Validate {
        /// The TOML file.
        file: PathBuf,
    },
    /// Print the JSON Schema of the config file (for editor completion and validation).
    Schema,
}

/// Options of `carrier-sim serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// SMPP listen address of the first carrier when the config gives it none (port 0 picks a
    /// free port; see the readiness line). Other carriers without one get a free port.
    #[arg(long, default_value = "127.0.0.1:2775")]
    pub smpp: String,
    /// HTTP control plane listen address.
    #[arg(long, default_value = "127.0.0.1:8775")]
    pub http: String,
    /// Also listen for SMPP over TLS on this address, for the first carrier (needs --tls-cert
    /// and --tls-key).
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    pub smpp_tls: Option<String>,
    /// PEM certificate chain for --smpp-tls.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --smpp-tls.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// An account as SYSTEM_ID:PASSWORD (repeatable); added to the first carrier's accounts.
    #[arg(long = "account", value_name = "ID:PASSWORD")]
    pub accounts: Vec<String>,
    /// Config file (TOML): carriers, number plan, timeline. See scenarios/ for examples.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seed of every random decision (overrides the file's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Divide every configured duration by this (e.g. 10 runs a 10-minute timeline in one);
    /// overrides the file's.
    #[arg(long)]
    pub time_scale: Option<f64>,
    /// Fixed delay from acceptance to handset delivery and receipt, for every carrier (e.g. 0,
    /// 250ms, 2s); overrides the files' latencies.
    #[arg(long, value_parser = humantime_parse)]
    pub delivery_delay: Option<Duration>,
    /// Message id format.
    #[arg(long, value_enum)]
    pub message_id_format: Option<MessageIdFormat>,
    /// Largest accepted command_length in octets.
    #[arg(long)]
    pub max_command_length: Option<usize>,
    /// Close connections that have not bound within this time.
    #[arg(long, value_parser = humantime_parse)]
    pub bind_timeout: Option<Duration>,
    /// Most simultaneous connections per carrier (all its listeners together).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Turn the failed-bind limits off for every carrier (`bind_lockout.enabled = false`): any
    /// number of wrong passwords, from anywhere, on one connection.
    #[arg(long)]
    pub no_bind_lockout: bool,
    /// Bearer token the control plane requires on every endpoint but /healthz and /metrics
    /// (overrides the file's `http.token`).
    #[arg(long, env = "CARRIER_SIM_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
    /// Keep message records, scheduled deliveries and stored receipts in this directory (one
    /// SQLite file per carrier), so a restart (even after SIGKILL) keeps what was owed;
    /// overrides the file's `state.dir`.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Discard the state found in the state directory instead of restoring it (e.g. a file
    /// refused as corrupt).
    #[arg(long)]
    pub reset_state: bool,
}

fn humantime_parse(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    humantime_serde::re::humantime::parse_duration(s).map_err(|e| e.to_string())
}

impl ServeArgs {
    /// The network configuration these options describe (file, then flags on top).
    pub(crate) fn sim_config(&self) -> anyhow::Result<SimConfig> {
        let mut cfg = match &self.config {
            Some(path) => SimConfig::load(path)?,
            None => SimConfig::default(),
        };
        if cfg.carriers.is_empty() {
            let c = CarrierConfig::default();
            cfg.carriers.insert(c.name.clone(), c);
        }
        if let Some(seed) = self.seed {
            cfg.seed = seed;
        }
        if let Some(scale) = self.time_scale {
            cfg.time_scale = scale;
        }
        if let Some(token) = &self.control_token {
            cfg.http.token = Some(crate::config::ControlToken::new(token.clone()));
        }
        let mut first = true;
        for c in cfg.carriers.values_mut() {
            if first {
                if c.smpp_tls.is_none()
                    && let (Some(listen), Some(cert), Some(key)) =
                        (&self.smpp_tls, &self.tls_cert, &self.tls_key)
                {
                    c.smpp_tls = Some(TlsListenerConfig {
                        listen: listen.clone(),
                        cert: cert.clone(),
                        key: key.clone(),
                    });
                }
                for spec in &self.accounts {
                    let (id, pw) = spec.split_once(':').with_context(|| {
                        format!("--account {spec:?}: expected SYSTEM_ID:PASSWORD")
                    })?;
                    c.accounts.insert(id.to_string(), AccountConfig::new(pw));
                }
                if c.smpp.is_empty() {
                    c.smpp.push(self.smpp.clone());
                }
            } else if c.smpp.is_empty() {
                c.smpp.push("127.0.0.1:0".into());
            }
            first = false;
            if let Some(d) = self.delivery_delay {
                c.behaviour.handset_latency = Some(Distribution::fixed(d));
                c.behaviour.receipt_latency = Some(Distribution::fixed(d));
            }
            if let Some(f) = self.message_id_format {
                c.receipts.message_id = f;
            }
            if let Some(n) = self.max_command_length {
                c.session.max_command_length = n;
            }
            if let Some(d) = self.bind_timeout {
                c.session.bind_timeout = d;
            }
            if let Some(n) = self.max_connections {
                c.session.max_connections = n;
            }
            if self.no_bind_lockout {
                c.bind_lockout.enabled = false;
            }
        }
        if let Some(dir) = &self.state_dir {
            cfg.state.dir = Some(dir.clone());
        }
        if self.reset_state {
            if cfg.state.dir.is_none() {
                anyhow::bail!("--reset-state: no state directory (give --state-dir DIR)");
            }
            cfg.state.reset = true;
        }
        cfg.validate()
            .map_err(|(field, msg)| anyhow::anyhow!("{field}: {msg}"))?;
        if let Some(c) = cfg.carriers.values().find(|c| c.accounts.is_empty()) {
            anyhow::bail!(
                "carrier `{}` has no accounts: give --account SYSTEM_ID:PASSWORD or [carriers.{}.accounts.ID] in --config",
                c.name,
                c.name
            );
        }
        Ok(cfg)
    }
}

/// Prints one readiness line.
fn announce(l: &Listening) {
    // A struct, not a json! map, so the keys keep this order: `event` first reads best in logs.
    #[derive(serde::Serialize)]
    struct Line<'a> {
        event: &'static str,
        #[serde(flatten)]
        listening: &'a Listening,
    }
    let line = serde_json::to_string(&Line {
        event: "listening",
        listening: l,
    })
    .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs `serve` until SIGINT or SIGTERM; prints a readiness line per listener, and the stop
/// report.
async fn serve(args: Box<ServeArgs>) -> anyhow::Result<Report> {
    let cfg = args.sim_config()?;
    // Installed before the readiness lines: see [`shutdown_signal`].
    let stop = shutdown_signal();
    let running = crate::app::start(cfg, Binds::from_config(args.http.clone())).await?;
    for l in running.listening() {
        announce(l);
    }
    stop.await;
    let report = running.shutdown().await;
    #[derive(serde::Serialize)]
    struct Stopped<'a> {
        event: &'static str,
        report: &'a Report,
    }
    let line = serde_json::to_string(&Stopped {
        event: "stopped",
        report: &report,
    })
    .unwrap_or_default();
    println!("{line}");
    Ok(report)
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: call it before announcing readiness, or a signal sent right
/// after the readiness line would find the default action (exit) still in place.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let int = signal(SignalKind::interrupt()).ok();
        let term = signal(SignalKind::terminate()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(int) => {},
                _ = wait(term) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Logs to stderr at `info` (or as `RUST_LOG` says), so stdout carries only the readiness and
/// report lines; the project's other binaries log the same way.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in CI logs or files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
}

/// Runs the `carrier-sim` command line (the binary's whole `main`): parses the arguments, runs
/// the command, prints errors as `carrier-sim: ...` and returns the exit code (0 ok, 2 error).
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("carrier-sim: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await.map(|_| ()),
            Command::Validate { file } => SimConfig::load(&file)
                .map(|_| println!("{}: ok", file.display()))
                .map_err(anyhow::Error::from),
            Command::Schema => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&crate::config::json_schema()).unwrap_or_default()
                );
                Ok(())
            }
        }
    });
    // Whatever is still running (connections being torn down, the runtime's blocking pool)
    // gets half a second: the report is out, and exit must not wait on a peer.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carrier-sim: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(args: &[&str]) -> Box<ServeArgs> {
        let mut argv = vec!["carrier-sim", "serve", "--account", "a:b"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Serve(a) => a,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn lockout_and_token_flags_reach_the_config() {
        let cfg = serve_args(&[]).sim_config().unwrap();
        assert!(cfg.carriers.values().all(|c| c.bind_lockout.enabled));
        let cfg = serve_args(&["--no-bind-lockout", "--control-token", "t0k"])
            .sim_config()
            .unwrap();
        assert!(cfg.carriers.values().all(|c| !c.bind_lockout.enabled));
        assert_eq!(cfg.http.token.as_ref().map(|t| t.secret()), Some("t0k"));
        let e = serve_args(&["--control-token", "two words"])
            .sim_config()
            .unwrap_err();
        assert!(e.to_string().starts_with("http.token:"), "{e}");
    }
}
