//! `carrier-sim`: thin entry point; the command line lives in the library (`simulator::cli`).

fn main() -> std::process::ExitCode {
    simulator::cli::main()
}
