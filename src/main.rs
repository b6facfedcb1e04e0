//! The `weir` binary: the command line of the library (`weir::api::cli_main`).

/// mimalloc instead of glibc malloc: records are allocated on one thread (the source) and freed on
/// another (a step or sink), the pattern where glibc's per-thread arenas spend their time consolidating
/// (measured in docs/performance.md). Built without transparent huge pages (`no_thp`): with them every
/// thread's first touch of its heap made a 2 MiB page resident, and `weir serve` with 10 webhook
/// pipelines held 89 MiB instead of 31 MiB, for no measurable speed (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    weir::api::cli_main()
}
