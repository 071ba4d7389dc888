//! `verifier`: thin entry point; the command line lives in the library (`verifier::cli`).

fn main() -> std::process::ExitCode {
    verifier::cli::main()
}
