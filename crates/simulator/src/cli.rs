//! The `carrier-sim` command line: parsing, building the carrier, readiness lines, signals.
//!
//! Kept in the library so tests can run the same code path the binary runs. Readiness is one
//! JSON line per listener on stdout (`{"event":"listening","service":"smpp","addr":...}`), so
//! scripts can start the carrier on port 0 and read where it is; logs go to stderr.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::config::{AccountConfig, CarrierConfig, MessageIdFormat};
use crate::server::{Listeners, ShutdownReport};

/// Mock SMS carrier that speaks SMPP.
#[derive(Debug, Parser)]
#[command(name = "carrier-sim", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an SMSC until SIGINT or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Check a carrier config file and exit (0 when valid).
    Validate {
        /// The TOML file.
        file: PathBuf,
    },
}

/// Options of `carrier-sim serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// SMPP listen address (port 0 picks a free port; see the readiness line).
    #[arg(long, default_value = "127.0.0.1:2775")]
    pub smpp: String,
    /// HTTP control plane listen address.
    #[arg(long, default_value = "127.0.0.1:8775")]
    pub http: String,
    /// Also listen for SMPP over TLS on this address (needs --tls-cert and --tls-key).
    #[arg(long, requires_all = ["tls_cert", "tls_key"])]
    pub smpp_tls: Option<String>,
    /// PEM certificate chain for --smpp-tls.
    #[arg(long)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --smpp-tls.
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// An account as SYSTEM_ID:PASSWORD (repeatable); added to those in --config.
    #[arg(long = "account", value_name = "ID:PASSWORD")]
    pub accounts: Vec<String>,
    /// Carrier config file (TOML).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Delay from acceptance to delivery and receipt (e.g. 0, 250ms, 2s).
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
    /// Most simultaneous connections per listener.
    #[arg(long)]
    pub max_connections: Option<usize>,
}

fn humantime_parse(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    humantime_serde::re::humantime::parse_duration(s).map_err(|e| e.to_string())
}

impl ServeArgs {
    /// The carrier configuration these options describe.
    pub fn carrier_config(&self) -> anyhow::Result<CarrierConfig> {
        let mut cfg = match &self.config {
            Some(path) => CarrierConfig::load(path)?,
            None => CarrierConfig::default(),
        };
        for spec in &self.accounts {
            let (id, pw) = spec
                .split_once(':')
                .with_context(|| format!("--account {spec:?}: expected SYSTEM_ID:PASSWORD"))?;
            cfg.accounts.insert(id.to_string(), AccountConfig::new(pw));
        }
        if let Some(d) = self.delivery_delay {
            cfg.delivery.delay = d;
        }
        if let Some(f) = self.message_id_format {
            cfg.delivery.message_id_format = f;
        }
        if let Some(n) = self.max_command_length {
            cfg.session.max_command_length = n;
        }
        if let Some(d) = self.bind_timeout {
            cfg.session.bind_timeout = d;
        }
        if let Some(n) = self.max_connections {
            cfg.session.max_connections = n;
        }
        cfg.validate()
            .map_err(|(field, msg)| anyhow::anyhow!("{field}: {msg}"))?;
        if cfg.accounts.is_empty() {
            anyhow::bail!(
                "no accounts: give --account SYSTEM_ID:PASSWORD or [accounts.ID] in --config"
            );
        }
        Ok(cfg)
    }
}

/// Prints one readiness line.
pub fn announce(service: &str, addr: std::net::SocketAddr) {
    // A struct, not a json! map, so the keys keep this order: `event` first reads best in logs.
    #[derive(serde::Serialize)]
    struct Listening<'a> {
        event: &'static str,
        service: &'a str,
        addr: String,
    }
    let line = serde_json::to_string(&Listening {
        event: "listening",
        service,
        addr: addr.to_string(),
    })
    .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs `serve` until SIGINT or SIGTERM.
pub async fn serve(args: Box<ServeArgs>) -> anyhow::Result<ShutdownReport> {
    let cfg = args.carrier_config()?;
    let smpp = TcpListener::bind(&args.smpp)
        .await
        .with_context(|| format!("--smpp {}: cannot listen", args.smpp))?;
    let http = TcpListener::bind(&args.http)
        .await
        .with_context(|| format!("--http {}: cannot listen", args.http))?;
    let smpp_tls = match (&args.smpp_tls, &args.tls_cert, &args.tls_key) {
        (Some(addr), Some(cert), Some(key)) => {
            let acceptor = crate::tls::acceptor(cert, key)?;
            let l = TcpListener::bind(addr)
                .await
                .with_context(|| format!("--smpp-tls {addr}: cannot listen"))?;
            Some((l, acceptor))
        }
        _ => None,
    };
    announce("smpp", smpp.local_addr()?);
    if let Some((l, _)) = &smpp_tls {
        announce("smpp-tls", l.local_addr()?);
    }
    announce("http", http.local_addr()?);
    let carrier = crate::Carrier::new(cfg);
    let report = crate::server::run(
        Listeners {
            smpp,
            smpp_tls,
            http: Some(http),
        },
        carrier,
        shutdown_signal(),
    )
    .await?;
    #[derive(serde::Serialize)]
    struct Stopped<'a> {
        event: &'static str,
        report: &'a ShutdownReport,
    }
    let line = serde_json::to_string(&Stopped {
        event: "stopped",
        report: &report,
    })
    .unwrap_or_default();
    println!("{line}");
    Ok(report)
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
