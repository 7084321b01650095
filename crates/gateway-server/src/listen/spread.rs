//! Where an HTTP/2 connection's requests run.
//!
//! hyper serves each HTTP/2 stream as a task of its own, spawned through the
//! connection's executor. On the work-stealing runtime a plain `tokio::spawn` lets
//! any worker take it. Under the per-thread layout a connection lives on the thread
//! that accepted it, so one busy HTTP/2 connection (a load balancer's, a client that
//! multiplexes) would keep every one of its requests on one core while the others
//! idle. There the streams are handed to every worker's runtime in turn instead:
//! the connection's frames stay on its thread, its requests' work does not.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;

/// The executor a listener gives hyper for HTTP/2 streams.
#[derive(Clone, Default)]
pub(crate) enum StreamExecutor {
    /// On the current runtime (`tokio::spawn`).
    #[default]
    Local,
    /// Round the given runtimes, one stream each in turn.
    Spread(Arc<Spread>),
}

/// Runtimes taken in turn.
pub(crate) struct Spread {
    runtimes: Vec<Handle>,
    next: AtomicUsize,
}

impl StreamExecutor {
    /// Streams spread over `runtimes` (local when there is one or none).
    pub(crate) fn spread(runtimes: Vec<Handle>) -> Self {
        if runtimes.len() < 2 {
            return StreamExecutor::Local;
        }
        StreamExecutor::Spread(Arc::new(Spread {
            runtimes,
            next: AtomicUsize::new(0),
        }))
    }
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        match self {
            StreamExecutor::Local => drop(tokio::spawn(future)),
            StreamExecutor::Spread(spread) => {
                let turn = spread.next.fetch_add(1, Ordering::Relaxed) % spread.runtimes.len();
                drop(spread.runtimes[turn].spawn(future));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use hyper::rt::Executor;

    use super::*;

    /// `n` single-threaded runtimes on threads of their own, kept running until the
    /// returned sender is dropped.
    fn runtimes(n: usize) -> (Vec<Handle>, tokio::sync::watch::Sender<()>) {
        let (stop, stopped) = tokio::sync::watch::channel(());
        let handles = (0..n)
            .map(|i| {
                let (tx, rx) = std::sync::mpsc::channel();
                let mut stopped = stopped.clone();
                std::thread::Builder::new()
                    .name(format!("spread-test-{i}"))
                    .spawn(move || {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("runtime");
                        tx.send(runtime.handle().clone()).expect("handle");
                        runtime.block_on(async move { while stopped.changed().await.is_ok() {} });
                    })
                    .expect("thread");
                rx.recv().expect("handle")
            })
            .collect();
        (handles, stop)
    }

    #[test]
    fn spread_streams_run_on_every_runtime_in_turn() {
        let (handles, stop) = runtimes(3);
        let executor = StreamExecutor::spread(handles);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        for _ in 0..6 {
            let (seen, done) = (seen.clone(), done_tx.clone());
            executor.execute(async move {
                let name = std::thread::current().name().map(str::to_owned);
                seen.lock().expect("lock").push(name);
                done.send(()).expect("done");
            });
        }
        for _ in 0..6 {
            done_rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("every stream ran");
        }
        drop(stop);
        let seen = seen.lock().expect("lock");
        let threads: BTreeSet<_> = seen.iter().flatten().cloned().collect();
        assert_eq!(
            threads,
            ["spread-test-0", "spread-test-1", "spread-test-2"]
                .map(String::from)
                .into(),
            "six streams over three runtimes: {seen:?}"
        );
    }

    #[test]
    fn one_runtime_is_local() {
        let (handles, _stop) = runtimes(1);
        assert!(matches!(
            StreamExecutor::spread(handles),
            StreamExecutor::Local
        ));
    }
}
