//! The Responses API's WebSocket transport: an upgrade on `GET /v1/responses`, then
//! one `response.create` message per response and its streaming events back as text
//! frames (the JSON of each SSE `data:` line). What Codex uses when its provider says
//! `supports_websockets` (docs/RESPONSES.md).
//!
//! A thin layer over the HTTP path: the upgrade is authenticated by the stack like
//! any request (a 401 in OpenAI's envelope before any upgrade), and each message
//! becomes a `POST /v1/responses` with `stream: true` and the upgrade's headers, sent
//! through the whole gateway stack ([`crate::Gateway`]): so each response is
//! authenticated, limited, routed to any upstream shape, logged and charged exactly
//! as over HTTP. The one thing the transport adds is the connection's [`Memory`] of
//! its latest response, which a message's request carries in its extensions.
//!
//! One response at a time per connection; a message while one streams is refused
//! with an `error` event. Bad messages get an `error` event and the connection goes
//! on. Messages are bounded by `server.max_body_bytes` (past it: an `error` event and
//! close 1009). An upgraded connection gives its connection slot back, so sockets have
//! a cap of their own, `server.max_connections` (past it: a 503 before the upgrade). A connection idle for [`IDLE`] is closed; on shutdown each connection
//! finishes the response it is streaming, then closes with 1001.

mod message;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use gateway_protocol::{ErrorKind, GatewayError};
use gateway_translate::framing::{Frame, Framer, Framing};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, handshake};
use tower::ServiceExt;

use super::Memory;
use crate::app::App;
use crate::respond::{self, Answer};
use message::Create;

/// A connection with no message and no response in flight for this long is closed
/// (a client reconnects when it needs to).
pub const IDLE: Duration = Duration::from_secs(600);

/// Events of one response waiting to be written (the stream is read no further
/// ahead of a slow client than this).
const QUEUED_EVENTS: usize = 64;

/// The gateway's open sockets: whether the transport is on, how many are open, and
/// the signal that closes them at shutdown.
#[derive(Debug)]
pub(crate) struct Sockets {
    enabled: bool,
    closing: watch::Sender<bool>,
    open: watch::Sender<usize>,
}

impl Sockets {
    /// Sockets for a gateway whose `[responses] websocket` is `enabled`.
    pub(crate) fn new(enabled: bool) -> Sockets {
        Sockets {
            enabled,
            closing: watch::Sender::new(false),
            open: watch::Sender::new(0),
        }
    }

    /// Whether upgrades are served (else refused).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Asks every socket to close once its response in flight is over.
    pub(crate) fn close_all(&self) {
        self.closing.send_replace(true);
    }

    /// Sockets open now.
    pub fn open(&self) -> usize {
        *self.open.borrow()
    }

    /// Resolves when no socket is open.
    pub(crate) async fn all_closed(&self) {
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|n| *n == 0).await;
    }

    fn opened(&self) -> OpenGuard {
        self.open.send_modify(|n| *n += 1);
        OpenGuard(self.open.clone())
    }
}

/// Counts a socket as open until dropped.
struct OpenGuard(watch::Sender<usize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Answers an authenticated upgrade request: `101 Switching Protocols` and the
/// connection served from then on, or an error in OpenAI's envelope when the request
/// is no usable WebSocket handshake.
pub(crate) fn accept(app: &Arc<App>, parts: &mut http::request::Parts) -> Answer {
    match upgrade(app, parts) {
        Ok(answer) => answer,
        Err(err) => respond::error(gateway_protocol::ApiShape::OpenAiResponses, &err),
    }
}

fn upgrade(app: &Arc<App>, parts: &mut http::request::Parts) -> Result<Answer, GatewayError> {
    let headers = &parts.headers;
    let version = headers.get(header::SEC_WEBSOCKET_VERSION);
    if version.is_none_or(|v| v.as_bytes() != b"13") {
        return Err(GatewayError::invalid_request(
            "sec-websocket-version",
            "the WebSocket handshake must say `sec-websocket-version: 13`",
        ));
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(GatewayError::invalid_request(
            "sec-websocket-key",
            "the WebSocket handshake has no `sec-websocket-key`",
        ));
    };
    let accept_key = handshake::derive_accept_key(key.as_bytes());
    // Present only on an HTTP/1.1 connection served with upgrades.
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return Err(GatewayError::new(
            ErrorKind::InvalidRequest,
            "this connection cannot be upgraded: open the WebSocket over HTTP/1.1",
        ));
    };
    // Sockets hold no connection slot once upgraded: they have a cap of their own.
    let max_sockets = app.conn_limits.max_connections;
    if app.sockets.open() >= max_sockets {
        return Err(GatewayError::new(
            ErrorKind::Overloaded,
            format!("this gateway has {max_sockets} WebSocket connections open, its limit (server.max_connections); retry shortly"),
        )
        .with_retry_after(1));
    }
    let forward = forwarded(headers);
    // The key may be in the query (`?key=`): each message's request keeps it.
    let path = match parts.uri.query() {
        Some(q) => format!("/v1/responses?{q}"),
        None => "/v1/responses".to_owned(),
    };
    let uri = Uri::try_from(path).unwrap_or_else(|_| Uri::from_static("/v1/responses"));
    let max = usize::try_from(app.max_body_bytes).unwrap_or(usize::MAX);
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let guard = app.sockets.opened();
    let app = app.clone();
    tokio::spawn(async move {
        let _open = guard;
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                Socket::new(app, uri, forward).run(ws).await;
            }
            Err(err) => tracing::debug!(%err, "the WebSocket upgrade did not complete"),
        }
    });
    let mut resp = Response::new(respond::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept_key) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok(resp)
}

/// The upgrade's headers that each message's request carries (with its query): the
/// key in whatever header it came, the client's own headers; not the handshake's, nor its request
/// id (each response gets its own).
fn forwarded(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let n = name.as_str();
        let skip = n.starts_with("sec-websocket-")
            || matches!(
                n,
                "connection"
                    | "upgrade"
                    | "content-length"
                    | "transfer-encoding"
                    | "te"
                    | "keep-alive"
                    | "x-request-id"
            );
        if !skip {
            out.append(name.clone(), value.clone());
        }
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}

/// One open socket.
struct Socket {
    app: Arc<App>,
    gateway: crate::Gateway,
    uri: Uri,
    headers: HeaderMap,
    memory: Arc<Memory>,
}

/// Why the serving loop stops.
enum End {
    /// The client closed, or the connection broke.
    Gone,
    /// Closing from this side, with this frame.
    Close(CloseCode, &'static str),
}

impl Socket {
    fn new(app: Arc<App>, uri: Uri, headers: HeaderMap) -> Socket {
        Socket {
            gateway: crate::Gateway::new(app.clone()),
            app,
            uri,
            headers,
            memory: Arc::new(Memory::default()),
        }
    }

    /// Serves messages until the client leaves, the connection idles out, or the
    /// gateway shuts down.
    async fn run<S>(self, mut ws: WebSocketStream<S>)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let mut closing = self.app.sockets.closing.subscribe();
        let mut draining = *closing.borrow_and_update();
        let mut in_flight: Option<mpsc::Receiver<Event>> = None;
        let end = loop {
            if draining && in_flight.is_none() {
                break End::Close(CloseCode::Away, "the gateway is shutting down");
            }
            let idle = in_flight.is_none();
            let next_event = async {
                match in_flight.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = ws.next() => match msg {
                    None | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                        break End::Gone;
                    }
                    Some(Err(WsError::Capacity(_))) => {
                        let err = GatewayError::new(
                            ErrorKind::PayloadTooLarge,
                            format!(
                                "the message is larger than the gateway's limit of {} bytes (server.max_body_bytes)",
                                self.app.max_body_bytes
                            ),
                        );
                        let _ = ws.send(Message::text(message::error_event(&err))).await;
                        break End::Close(CloseCode::Size, "message too large");
                    }
                    Some(Err(err)) => {
                        tracing::debug!(%err, "a WebSocket connection broke");
                        break End::Gone;
                    }
                    Some(Ok(Message::Text(text))) => {
                        let events = if message::is_acknowledgement(text.as_str()) {
                            Vec::new()
                        } else if in_flight.is_some() {
                            vec![message::error_event(&busy())]
                        } else {
                            match message::read(text.as_str(), &self.memory) {
                                Ok(Create::Respond(body)) => {
                                    in_flight = Some(self.respond(body));
                                    Vec::new()
                                }
                                Ok(Create::Warmup(events)) => events,
                                Err(err) => vec![message::error_event(&err)],
                            }
                        };
                        for event in events {
                            if ws.send(Message::text(event)).await.is_err() {
                                break;
                            }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let err = GatewayError::new(
                            ErrorKind::InvalidRequest,
                            "binary messages are not taken: send `response.create` as JSON text",
                        );
                        if ws.send(Message::text(message::error_event(&err))).await.is_err() {
                            break End::Gone;
                        }
                    }
                    // Pings are answered by the codec; a close is answered by it too,
                    // and the next read ends the loop.
                    Some(Ok(_)) => {}
                },
                event = next_event => match event {
                    Some(Event { text, last }) => {
                        // Over once its last event is out: the client may send the next
                        // message as soon as it reads it.
                        if last {
                            in_flight = None;
                        }
                        if ws.send(Message::text(text)).await.is_err() {
                            break End::Gone;
                        }
                    }
                    None => in_flight = None,
                },
                Ok(()) = closing.changed(), if !draining => {
                    draining = *closing.borrow_and_update();
                }
                () = tokio::time::sleep(IDLE), if idle => {
                    break End::Close(CloseCode::Normal, "idle");
                }
            }
        };
        if let End::Close(code, reason) = end {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = ws.close(Some(frame)).await;
        }
    }

    /// Starts one response: its request through the gateway stack, its events into
    /// the returned queue (the last one marked).
    fn respond(&self, body: Bytes) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel(QUEUED_EVENTS);
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req.extensions_mut().insert(self.memory.clone());
        let gateway = self.gateway.clone();
        tokio::spawn(async move {
            // The gateway's service never fails (its errors are answers).
            let Ok(resp) = gateway.oneshot(req).await;
            relay(resp, &tx).await;
        });
        rx
    }
}

/// One event for the client; `last` ends its response.
struct Event {
    text: String,
    last: bool,
}

/// Sends an answer of the stack as events: a stream's frames as they come, an error
/// answer as one `error` event; a stream that ends before its last event ends with an
/// `error` event.
async fn relay(resp: Response<crate::stack::OuterBody>, tx: &mpsc::Sender<Event>) {
    let status = resp.status();
    let streamed = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let mut body = resp.into_body();
    if !status.is_success() || !streamed {
        let bytes = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let status = if status.is_success() {
            StatusCode::BAD_GATEWAY
        } else {
            status
        };
        let text = message::answer_error_event(status.as_u16(), &bytes);
        let _ = tx.send(Event { text, last: true }).await;
        return;
    }
    let mut framer = Framer::new(Framing::Sse);
    let mut frames: Vec<Frame> = Vec::new();
    // The last event was sent; the body is still read to its end, where the request's
    // account closes.
    let mut ended = false;
    let mut done = false;
    while !done {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if framer.push(&data, &mut frames).is_err() {
                        break;
                    }
                }
            }
            Some(Err(_)) => break,
            None => {
                framer.finish(&mut frames);
                done = true;
            }
        }
        for frame in frames.drain(..) {
            // Nothing after a response's last event is the client's.
            if ended {
                continue;
            }
            ended = is_last(&frame);
            if tx
                .send(Event {
                    text: frame.data,
                    last: ended,
                })
                .await
                .is_err()
            {
                return;
            }
        }
    }
    if !ended {
        let err = GatewayError::new(
            ErrorKind::Upstream,
            "the response stream ended before its last event",
        );
        let text = message::error_event(&err);
        let _ = tx.send(Event { text, last: true }).await;
    }
}

/// Whether a frame ends a response: `response.completed`, `.failed`, `.incomplete`,
/// or an `error`.
fn is_last(frame: &Frame) -> bool {
    let kind = frame.event.as_deref().map_or_else(
        || {
            gateway_translate::fastpath::get_member(frame.data.as_bytes(), "type")
                .ok()
                .flatten()
                .and_then(|raw| serde_json::from_slice::<String>(raw).ok())
                .unwrap_or_default()
        },
        str::to_owned,
    );
    matches!(
        kind.as_str(),
        "response.completed" | "response.failed" | "response.incomplete" | "error"
    )
}

/// A message sent while a response streams.
fn busy() -> GatewayError {
    GatewayError::new(
        ErrorKind::InvalidRequest,
        "a response is in progress on this connection: send the next `response.create` after its last event",
    )
    .with_code("response_in_progress")
}
