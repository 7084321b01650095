//! Listening for change notices: a connection of its own (a pooled one would be
//! handed to others), `LISTEN`ing on a channel and calling back on each notice,
//! reconnecting after a failure. Notices missed while disconnected are covered by a
//! callback right after each (re)connection, and by the store's own periodic look.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

/// How long to wait before connecting again after a failure.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Calls `wake` for every notice on `channel`, for as long as the runtime runs.
pub(crate) async fn listen(
    config: tokio_postgres::Config,
    channel: &'static str,
    wake: Arc<dyn Fn() + Send + Sync>,
) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                // The connection's messages: notices go to the loop below; its end
                // (an error, the server gone) ends the channel.
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(Ok(message)) = messages.next().await {
                        if let AsyncMessage::Notification(_) = message {
                            if tx.send(()).is_err() {
                                return;
                            }
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {channel}")).await {
                    Ok(()) => {
                        // Changes made while no one listened.
                        wake();
                        while rx.recv().await.is_some() {
                            wake();
                        }
                        tracing::warn!(channel, "postgres notices stopped; reconnecting");
                    }
                    Err(err) => tracing::warn!(channel, %err, "postgres LISTEN failed"),
                }
                driver.abort();
            }
            Err(err) => tracing::warn!(channel, %err, "postgres notices: cannot connect"),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}
