//! `patchbay`: the gateway's command line.

use clap::Parser;

/// mimalloc: the request path allocates many small, short-lived buffers, where
/// glibc's malloc spent about a tenth more instructions per request. Built without
/// transparent huge pages (`no_thp`): with them each of its 2 MiB arena pages touched
/// is resident whole, which cost 14 MiB idle and ~18 KiB per open stream.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    gateway_server::listen::set_release_hook(release_freed_memory);
    patchbay::run::main(patchbay::cli::Cli::parse())
}

/// mimalloc's collect, for the once-a-second nudge of a quiet gateway: it takes in the
/// blocks other threads freed and returns empty pages to the system. Without it, the
/// work-stealing layout kept about twice as much after 1,000 streams closed
/// (docs/BENCHMARKS.md, "Fourth look").
#[allow(unsafe_code)]
fn release_freed_memory() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any
    // time; `false` asks for the ordinary, not the forced, collection.
    unsafe { libmimalloc_sys::mi_collect(false) }
}
