//! The `weir` binary: the command line of the library (`weir::api::cli_main`).

/// mimalloc instead of glibc malloc: records are allocated on one thread (the source) and freed on
/// another (a step or sink), the pattern where glibc's per-thread arenas spend their time consolidating
/// (measured in docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    weir::api::cli_main()
}
