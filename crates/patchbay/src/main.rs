//! `patchbay`: the gateway's command line.

use clap::Parser;

/// mimalloc: the request path allocates many small, short-lived buffers across
/// threads, where glibc's malloc spent about a tenth of the gateway's CPU.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    patchbay::run::main(patchbay::cli::Cli::parse())
}
