//! The `carrier-sim` binary: everything is in the library ([`simulator::cli::main`]).

// mimalloc instead of glibc's malloc: under sustained load the carrier allocates and frees
// small strings for every message from several threads, and glibc's allocator both cost more
// per call and aged (fragmented arenas, malloc_consolidate) as the process ran; see the
// "Soak" section of BENCHMARKS.md for the figures with and without it.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    simulator::cli::main()
}
