//! What sets a reload off: SIGHUP, and the config file changing on disk.
//!
//! The file is read once a second and compared with what the latest reload read
//! (its bytes' hash, not its time stamp: editors that save by renaming, a `touch`, or a clock
//! step must neither miss nor invent a change). A file that cannot be read (in the
//! middle of being replaced) is looked at again on the next tick.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::Trigger;
use crate::app::App;

/// How often the file is looked at.
const POLL: Duration = Duration::from_secs(1);

/// Reloads `app`'s config file on SIGHUP and when it changes, and its runtime
/// providers when the shared database announces a change, until the runtime stops. The file as it is now is the baseline (read before this returns), so a
/// change made right after is seen.
pub fn watch(app: Arc<App>) -> impl std::future::Future<Output = ()> + Send {
    let path = app.config_path();
    if let Some(path) = &path {
        app.last_read(path);
    }
    watching(app, path)
}

async fn watching(app: Arc<App>, path: Option<std::path::PathBuf>) {
    #[cfg(unix)]
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(err) => {
            tracing::warn!(%err, "cannot listen for SIGHUP; the config file is still watched");
            None
        }
    };
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hup = async {
            match hangup.as_mut() {
                Some(s) => s.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup = std::future::pending::<Option<()>>();
        let trigger = tokio::select! {
            _ = hup => Trigger::Signal,
            // Another instance changed the runtime providers on the shared database.
            _ = app.runtime_providers_changed() => {
                let app = app.clone();
                let _ = tokio::task::spawn_blocking(move || app.reload_runtime()).await;
                continue;
            }
            _ = tick.tick() => {
                let Some(path) = path.as_deref() else { continue };
                // Compared with what the latest reload read, whoever asked for it
                // (a "reload now" or SIGHUP between two ticks included).
                let now = digest(path);
                if now.is_none() || now == app.last_read(path) {
                    continue;
                }
                Trigger::FileChanged
            }
        };
        let app = app.clone();
        let _ = tokio::task::spawn_blocking(move || app.reload_file(trigger)).await;
    }
}

/// The SHA-256 of the file's bytes, `None` when it cannot be read.
pub(crate) fn digest(path: &Path) -> Option<[u8; 32]> {
    std::fs::read(path).ok().map(|b| Sha256::digest(&b).into())
}
