//! One single-threaded runtime per worker thread, all accepting from one listening
//! socket.
//!
//! On tokio's work-stealing runtime a request's halves — the caller's connection,
//! the upstream connection, the body relay — run wherever a worker is free, so one
//! request wakes two threads several times (a futex and a context switch each). Here
//! a connection stays on the thread that accepted it, and so does every upstream call
//! it makes (the HTTP client keeps a pool per thread). The threads share the socket:
//! whichever is idle first takes the next connection, so a busy thread takes fewer.
//! A thread holding more connections than its share steps back from accepting for a
//! moment (`super::balance`), so a burst of connections is shared out. An HTTP/2
//! connection's requests are spread over every thread's runtime (`super::spread`),
//! so one multiplexed connection uses every core.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use super::{Seat, Sharing, Slots, StreamExecutor, TlsAcceptor, serve_gateway};
use crate::app::App;

/// Serves `app`'s gateway on `listener` with `threads` threads, each running its own
/// single-threaded runtime: this call's (it must run on a single-threaded runtime for
/// the layout to hold) and `threads - 1` it starts. Connection slots are shared.
/// When `shutdown` resolves every thread stops accepting and drains as
/// [`super::serve`] does; the call returns when all have.
pub async fn serve_per_thread(
    app: Arc<App>,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    threads: usize,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let slots = Slots::new(app.conn_limits.max_connections);
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = listener.into_std()?;
    let mut others = Vec::new();
    // Each thread reports its runtime, then waits for the HTTP/2 stream executor that
    // spreads over all of them (`super::spread`).
    let mut runtimes = vec![tokio::runtime::Handle::current()];
    let mut executors = Vec::new();
    let mut seats = Seat::table(threads.max(1)).into_iter();
    let my_seat = seats.next();
    for (n, seat) in (1..threads.max(1)).zip(seats) {
        let socket = shared.try_clone()?;
        let (app, tls, slots) = (app.clone(), tls.clone(), slots.clone());
        let mut stop = stop_rx.clone();
        let (runtime_tx, runtime_rx) = oneshot::channel();
        let (executor_tx, executor_rx) = oneshot::channel::<StreamExecutor>();
        let thread = std::thread::Builder::new()
            .name(format!("patchbay-worker-{n}"))
            .spawn(move || -> io::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let _ = runtime_tx.send(runtime.handle().clone());
                runtime.block_on(async move {
                    // No executor: the gateway gave up starting (another thread failed).
                    let Ok(streams) = executor_rx.await else {
                        return Ok(());
                    };
                    let listener = TcpListener::from_std(socket)?;
                    let stopped = async move {
                        let _ = stop.wait_for(|stop| *stop).await;
                    };
                    let sharing = Sharing {
                        streams,
                        seat: Some(seat),
                    };
                    serve_gateway(app, listener, tls, slots, sharing, stopped, grace).await
                })
            })?;
        others.push(thread);
        executors.push(executor_tx);
        match runtime_rx.await {
            Ok(handle) => runtimes.push(handle),
            // Its runtime failed to build: the thread's error says why.
            Err(_) => return join(others).await.map(drop),
        }
    }
    let streams = StreamExecutor::spread(runtimes);
    for executor in executors {
        let _ = executor.send(streams.clone());
    }
    let listener = TcpListener::from_std(shared)?;
    let stopped = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    let sharing = Sharing {
        streams,
        seat: my_seat,
    };
    let served = serve_gateway(app, listener, tls, slots, sharing, stopped, grace).await;
    served.and(join(others).await.map(drop))
}

/// Waits for the worker threads to end; the first error any returned.
async fn join(threads: Vec<std::thread::JoinHandle<io::Result<()>>>) -> io::Result<Vec<()>> {
    tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a worker thread panicked")))
            })
            .collect::<io::Result<Vec<()>>>()
    })
    .await
    .map_err(io::Error::other)?
}
