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

use crate::config::{AccountConfig, CarrierConfig, MessageIdFormat, SimConfig};
use crate::smsc::server::{CarrierListeners, ShutdownReport};
use crate::world::dist::Distribution;

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
    /// Print the JSON Schema of the config file (for editor completion and validation).
    Schema,
}

/// Options of `carrier-sim serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
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
    /// The network configuration these options describe (file, then flags on top).
    pub fn sim_config(&self) -> anyhow::Result<SimConfig> {
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
        let mut first = true;
        for c in cfg.carriers.values_mut() {
            if first {
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

/// Prints one readiness line; `carrier` names the carrier an SMPP listener belongs to.
pub fn announce(service: &str, carrier: Option<&str>, addr: std::net::SocketAddr) {
    // A struct, not a json! map, so the keys keep this order: `event` first reads best in logs.
    #[derive(serde::Serialize)]
    struct Listening<'a> {
        event: &'static str,
        service: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        carrier: Option<&'a str>,
        addr: String,
    }
    let line = serde_json::to_string(&Listening {
        event: "listening",
        service,
        carrier,
        addr: addr.to_string(),
    })
    .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The stop line's report: totals over every carrier, and each carrier's own.
#[derive(Debug, serde::Serialize)]
pub struct StopReport {
    /// Totals.
    #[serde(flatten)]
    pub total: ShutdownReport,
    /// The run's seed (rerun with it to get the same decisions).
    pub seed: u64,
    /// Configured durations were divided by this.
    pub time_scale: f64,
    /// Wall-clock seconds the network ran.
    pub elapsed_secs: f64,
    /// The same in configured time (wall time times the time scale).
    pub scenario_elapsed_secs: f64,
    /// Per carrier.
    pub carriers: std::collections::BTreeMap<String, ShutdownReport>,
}

/// Runs `serve` until SIGINT or SIGTERM.
pub async fn serve(args: Box<ServeArgs>) -> anyhow::Result<StopReport> {
    let cfg = args.sim_config()?;
    let base = args
        .config
        .as_deref()
        .and_then(|p| p.parent())
        .unwrap_or(std::path::Path::new("."));
    let (net, carriers) = crate::smsc::network::Network::build(&cfg, base)?;
    let http = TcpListener::bind(&args.http)
        .await
        .with_context(|| format!("--http {}: cannot listen", args.http))?;
    let stop = shutdown_signal();
    let mut served = Vec::new();
    for (i, carrier) in carriers.into_iter().enumerate() {
        let mut smpp = Vec::new();
        for addr in &carrier.cfg.smpp {
            let l = TcpListener::bind(addr).await.with_context(|| {
                format!("carrier `{}`: SMPP {addr}: cannot listen", carrier.name())
            })?;
            announce("smpp", Some(carrier.name()), l.local_addr()?);
            smpp.push(l);
        }
        let tls_spec = match (
            &carrier.cfg.smpp_tls,
            &args.smpp_tls,
            &args.tls_cert,
            &args.tls_key,
        ) {
            (Some(t), _, _, _) => Some((t.listen.clone(), t.cert.clone(), t.key.clone())),
            (None, Some(addr), Some(cert), Some(key)) if i == 0 => {
                Some((addr.clone(), cert.clone(), key.clone()))
            }
            _ => None,
        };
        let smpp_tls = match tls_spec {
            Some((addr, cert, key)) => {
                let acceptor = crate::smsc::tls::acceptor(&cert, &key)?;
                let l = TcpListener::bind(&addr).await.with_context(|| {
                    format!(
                        "carrier `{}`: SMPP TLS {addr}: cannot listen",
                        carrier.name()
                    )
                })?;
                announce("smpp-tls", Some(carrier.name()), l.local_addr()?);
                Some((l, acceptor))
            }
            None => None,
        };
        served.push((carrier, CarrierListeners { smpp, smpp_tls }));
    }
    announce("http", None, http.local_addr()?);
    tracing::info!(
        seed = net.seed,
        time_scale = net.time_scale,
        carriers = served.len(),
        "network running"
    );
    let (seed, time_scale) = (net.seed, net.time_scale);
    let clock = std::sync::Arc::clone(&net);
    let report = crate::smsc::server::run_network(net, served, Some(http), stop).await?;
    let elapsed = clock.started.elapsed();
    let mut total = ShutdownReport {
        receipts: crate::smsc::receipts::ReceiptAccount::default(),
        sessions_cut: 0,
        messages_accepted: 0,
    };
    for r in report.carriers.values() {
        total.receipts.add(&r.receipts);
        total.sessions_cut = r.sessions_cut;
        total.messages_accepted += r.messages_accepted;
    }
    let stop = StopReport {
        total,
        seed,
        time_scale,
        elapsed_secs: elapsed.as_secs_f64(),
        scenario_elapsed_secs: elapsed.mul_f64(time_scale).as_secs_f64(),
        carriers: report.carriers,
    };
    #[derive(serde::Serialize)]
    struct Stopped<'a> {
        event: &'static str,
        report: &'a StopReport,
    }
    let line = serde_json::to_string(&Stopped {
        event: "stopped",
        report: &stop,
    })
    .unwrap_or_default();
    println!("{line}");
    Ok(stop)
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
