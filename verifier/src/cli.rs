//! The `verifier` command line: `serve` (from a config file or from flags), `validate`,
//! `schema` and `attest`. A thin shell over the front door ([`crate::Verifier::start`]):
//! readiness is one JSON line per listener on stdout, logs go to stderr, SIGINT or SIGTERM
//! stops it and prints the report.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::app::Verifier;
use crate::config::VerifierConfig;

/// The reference verification service.
#[derive(Debug, Parser)]
#[command(name = "verifier", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service until SIGINT or SIGTERM.
    Serve {
        /// Config file (TOML); see scenarios/verifier.toml.
        #[arg(long)]
        config: Option<PathBuf>,
        /// HTTP listen address [default: 127.0.0.1:8790, or the config's `listen`].
        #[arg(long)]
        listen: Option<String>,
        /// A carrier as smpp://SYSTEM_ID:PASSWORD@HOST:PORT?control=http://HOST:PORT[&control_token=TOKEN]
        /// (repeatable, in failover order; without --config).
        #[arg(long = "carrier", value_name = "URL")]
        carriers: Vec<String>,
    },
    /// Check a config file and exit (0 when valid).
    Validate {
        /// The TOML file.
        file: PathBuf,
    },
    /// Print the JSON Schema of the config file.
    Schema,
    /// Issue an app-attestation token (standing in for the app's attestation service).
    Attest {
        /// The attestation key (as in guard.attestation.key).
        #[arg(long, env = "VERIFIER_ATTESTATION_KEY", hide_env_values = true)]
        key: String,
        /// The device the token is for.
        #[arg(long)]
        device_id: String,
        /// Lifetime of the token.
        #[arg(long, default_value = "5m", value_parser = humantime_serde::re::humantime::parse_duration)]
        ttl: Duration,
    },
}

fn line(value: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

async fn serve(
    config: Option<PathBuf>,
    listen: Option<String>,
    carriers: Vec<String>,
) -> anyhow::Result<()> {
    let cfg = match config {
        Some(path) => {
            if !carriers.is_empty() {
                anyhow::bail!("give either --config or --carrier, not both");
            }
            let mut cfg = VerifierConfig::load(&path)?;
            if let Some(listen) = listen {
                cfg.listen = listen;
                cfg.validate()
                    .map_err(|(field, message)| anyhow::anyhow!("--listen: {field}: {message}"))?;
            }
            cfg
        }
        None => {
            let listen = listen.unwrap_or_else(|| VerifierConfig::default().listen);
            VerifierConfig::from_flags(&listen, &carriers)?
        }
    };
    // carrier-sim's: SIGINT or SIGTERM, handlers installed before the readiness lines.
    let stop = simulator::cli::shutdown_signal();
    let running = Verifier::start(cfg).await?;
    for l in running.listening() {
        line(&serde_json::json!({ "event": "listening", "service": l.service, "addr": l.addr }));
    }
    stop.await;
    let report = running.shutdown().await;
    line(&serde_json::json!({ "event": "stopped", "report": report }));
    Ok(())
}

/// Runs the command line (the binary's whole `main`); exit code 0 ok, 2 error.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    simulator::cli::init_logging();
    let result = match cli.command {
        Command::Validate { file } => VerifierConfig::load(&file)
            .map(|_| println!("{}: ok", file.display()))
            .map_err(anyhow::Error::from),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::config::json_schema()).unwrap_or_default()
            );
            Ok(())
        }
        Command::Attest {
            key,
            device_id,
            ttl,
        } => {
            println!(
                "{}",
                crate::guard::attest::issue(
                    &key,
                    &device_id,
                    ttl.as_secs().max(1),
                    chrono::Utc::now().timestamp()
                )
            );
            Ok(())
        }
        Command::Serve {
            config,
            listen,
            carriers,
        } => match tokio::runtime::Runtime::new() {
            Ok(rt) => rt.block_on(serve(config, listen, carriers)),
            Err(e) => Err(anyhow::anyhow!("cannot start the runtime: {e}")),
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verifier: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
