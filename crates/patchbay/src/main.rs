//! `patchbay`: the gateway's command line.

use clap::Parser;

/// mimalloc: the request path allocates many small, short-lived buffers, where
/// glibc's malloc spent about a tenth more instructions per request. Built without
/// transparent huge pages (`no_thp`): with them each of its 2 MiB arena pages touched
/// is resident whole, which cost 14 MiB idle and ~18 KiB per open stream.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 headers).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// How long a freed page stays committed before mimalloc hands it back. At its
/// default, 1,000 ms, a gateway that had just served 1,000 streams held 33.2 MiB 2 s
/// after they closed (idle: 24 MiB); at 100 ms, 27.5 MiB, with no cost measurable
/// under load (docs/BENCHMARKS.md, "Sixth look").
const PURGE_DELAY_MS: std::ffi::c_long = 100;

fn main() -> std::process::ExitCode {
    shorten_purge_delay();
    gateway_server::listen::set_release_hook(release_freed_memory);
    patchbay::run::main(patchbay::cli::Cli::parse())
}

/// Sets [`PURGE_DELAY_MS`], unless `MIMALLOC_PURGE_DELAY` in the environment says
/// otherwise (mimalloc reads it when it starts).
#[allow(unsafe_code)]
fn shorten_purge_delay() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: `mi_option_set` takes no pointers; options may be set at any time, and
    // this runs first in `main`, before any thread of ours exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
}

/// mimalloc's collect, for the once-a-second nudge of a quiet gateway: it takes in the
/// blocks other threads freed and returns empty pages to the system. Without it, the
/// work-stealing layout kept about twice as much after 1,000 streams closed
/// (docs/BENCHMARKS.md, "Fourth look"). A runtime whose burst ended, or a thread
/// about to sleep after one, asks for the forced collection, which also hands back
/// the empty pages the thread keeps cached and purges them without waiting for the
/// purge delay ("Eleventh look", "Twelfth look"). A thread about to sleep also trims
/// the C library's malloc, which SQLite allocates with: its page cache, freed by the
/// usage writer as it goes quiet, would otherwise stay in glibc's arenas.
#[allow(unsafe_code)]
fn release_freed_memory(how: gateway_server::listen::Release) {
    use gateway_server::listen::Release;
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any
    // time.
    unsafe { libmimalloc_sys::mi_collect(how != Release::Routine) }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if how == Release::Thorough {
        // SAFETY: `malloc_trim` takes no pointers and is thread-safe (it locks each
        // arena it trims).
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_option_is_the_one_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: `mi_option_get` takes no pointers.
        let get = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        // mimalloc's own default for the purge delay: the index names that option.
        assert_eq!(get(), 1000);
        shorten_purge_delay();
        assert_eq!(get(), PURGE_DELAY_MS);
    }
}
