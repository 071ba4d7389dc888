//! `loadgen`: the load generator's binary. All the work is in the library (`loadgen::cli`),
//! so tests drive the same code.

fn main() -> std::process::ExitCode {
    loadgen::cli::main()
}
