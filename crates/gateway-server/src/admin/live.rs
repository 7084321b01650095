//! `GET /admin/live`: the live feed as Server-Sent Events — a `snapshot` first, then
//! a `tick` each second (which also keeps idle proxies and the connection's
//! deadlines from cutting the stream), `lagged` when the watcher fell behind and
//! missed ticks. The stream ends when the admin listener shuts down.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::{BodyExt, StreamBody};

use crate::app::App;
use crate::observe::live::{Delivery, Watcher, lagged_event};
use crate::respond::Answer;

/// How long a browser waits before reconnecting a dropped stream, ms.
const RETRY_MS: u32 = 2000;

/// The feed for one watcher, as a streamed answer.
pub(crate) fn stream(app: &Arc<App>) -> Answer {
    let (snapshot, watcher) = app.observer.live.watch();
    let mut first = format!("retry: {RETRY_MS}\n").into_bytes();
    first.extend_from_slice(&snapshot);
    let events = futures_util::stream::unfold(
        (Some(Bytes::from(first)), watcher),
        |(first, mut watcher): (Option<Bytes>, Watcher)| async move {
            if let Some(first) = first {
                return Some((first, (None, watcher)));
            }
            let bytes = match watcher.next().await {
                Delivery::Event(bytes) => bytes,
                Delivery::Lagged(n) => lagged_event(n),
                Delivery::Closed => return None,
            };
            Some((bytes, (None, watcher)))
        },
    );
    let frames =
        futures_util::StreamExt::map(events, |b| Ok::<_, Infallible>(http_body::Frame::data(b)));
    let mut resp = Response::new(StreamBody::new(frames).boxed_unsync());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}
