//! `carrier-sim`: thin entry point; everything lives in the library (`simulator::cli`).

use clap::Parser;
use simulator::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in CI logs or files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("carrier-sim: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => simulator::cli::serve(args).await.map(|_| ()),
            Command::Validate { file } => simulator::config::SimConfig::load(&file)
                .map(|_| println!("{}: ok", file.display()))
                .map_err(anyhow::Error::from),
            Command::Schema => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&simulator::config::json_schema())
                        .unwrap_or_default()
                );
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carrier-sim: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
