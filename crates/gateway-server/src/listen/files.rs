//! The open-files limit: raised to what the system allows at start, and the
//! connection cap kept below it, so a flood of sockets meets a clear refusal
//! instead of "too many open files" on every accept (health checks included).

/// Descriptors kept aside for everything that is not a caller's connection: the
/// database, the log, listeners, the upstream pool's idle sockets.
const RESERVED: u64 = 256;

/// Raises this process's soft limit on open files to its hard limit; the new soft
/// limit. A no-op where there is no such limit.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    #[cfg(unix)]
    {
        rlimit::increase_nofile_limit(u64::MAX)
    }
    #[cfg(not(unix))]
    {
        Ok(u64::MAX)
    }
}

/// `wanted` connections, or fewer when the open-files limit cannot hold two sockets
/// each (the caller's and, at worst, one upstream) beside [`RESERVED`].
pub(super) fn affordable_connections(wanted: usize) -> usize {
    let affordable = soft_limit().map_or(usize::MAX, |limit| {
        usize::try_from(limit.saturating_sub(RESERVED) / 2).unwrap_or(usize::MAX)
    });
    if wanted > affordable {
        let lowered_to = affordable.max(1);
        let why = "the open-files limit cannot hold this many connections; raise it (ulimit -n) or lower server.max_connections";
        // The default asks for more than many machines allow: only a chosen number
        // that cannot be had is worth a warning.
        if wanted == crate::config::DEFAULT_MAX_CONNECTIONS {
            tracing::info!(max_connections = wanted, lowered_to, "{why}");
        } else {
            tracing::warn!(max_connections = wanted, lowered_to, "{why}");
        }
    }
    wanted.min(affordable).max(1)
}

fn soft_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|(soft, _)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one_and_the_cap_fits_under_it() {
        let raised = raise_open_files_limit().unwrap();
        let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert_eq!(raised, soft);
        #[cfg(target_os = "linux")]
        assert_eq!(soft, hard);
        let cap = affordable_connections(usize::MAX) as u64;
        assert!(
            cap * 2 + RESERVED <= soft.max(RESERVED + 2),
            "{cap} connections under {soft}"
        );
        assert_eq!(affordable_connections(10), 10.min(cap as usize));
    }
}
