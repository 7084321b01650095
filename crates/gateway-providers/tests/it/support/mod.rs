//! A loopback HTTP/1 upstream for the tests: records requests and answers per plan.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

/// One request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum End {
    /// Normally.
    Finish,
    /// The connection is aborted.
    Cut,
    /// Chunks keep coming every 20 ms until the client goes away.
    Forever,
}

/// The answer to give.
#[derive(Debug, Clone)]
pub struct Plan {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub head_delay: Duration,
    pub chunks: Vec<(Duration, Bytes)>,
    pub end: End,
}

impl Plan {
    pub fn ok(body: &str) -> Plan {
        Plan::status(200, body)
    }

    pub fn status(status: u16, body: &str) -> Plan {
        Plan {
            status,
            headers: vec![("content-type", "application/json".into())],
            head_delay: Duration::ZERO,
            chunks: vec![(Duration::ZERO, Bytes::from(body.to_owned()))],
            end: End::Finish,
        }
    }
}

/// A small chat call for `model`.
pub fn chat_call(model: &str, stream: bool) -> gateway_providers::UpstreamCall {
    gateway_providers::UpstreamCall {
        operation: gateway_providers::Operation::Chat,
        model: model.to_owned(),
        stream,
        body: Bytes::from_static(br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#),
        headers: Default::default(),
    }
}

/// A running upstream.
pub struct Upstream {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    /// Notified when a body stream is dropped because its client went away.
    pub closed: Arc<Notify>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
}

impl Upstream {
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> Recorded {
        self.requests
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("a request was recorded")
    }
}

type Body = StreamBody<Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send>>>;

/// Starts an upstream answering every request with `plan(request)`.
pub async fn serve(plan: impl Fn(&Recorded) -> Plan + Send + Sync + 'static) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let closed = Arc::new(Notify::new());
    let plan = Arc::new(plan);
    let connections = Arc::new(AtomicUsize::new(0));
    let (reqs, done, accepted) = (requests.clone(), closed.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            accepted.fetch_add(1, Ordering::SeqCst);
            let (plan, reqs, done) = (plan.clone(), reqs.clone(), done.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (plan, reqs, done) = (plan.clone(), reqs.clone(), done.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let rec = Recorded {
                            method: parts.method.to_string(),
                            uri: parts.uri.to_string(),
                            headers: parts.headers,
                            body,
                        };
                        let plan = plan(&rec);
                        reqs.lock().expect("lock").push(rec);
                        tokio::time::sleep(plan.head_delay).await;
                        Ok::<_, Infallible>(respond(plan, done))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Upstream {
        addr,
        requests,
        closed,
        connections,
    }
}

fn respond(plan: Plan, closed: Arc<Notify>) -> http::Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
    tokio::spawn(async move {
        for (delay, chunk) in plan.chunks {
            tokio::time::sleep(delay).await;
            if tx.send(Ok(Frame::data(chunk))).await.is_err() {
                closed.notify_one();
                return;
            }
        }
        match plan.end {
            End::Finish => {}
            End::Cut => {
                let _ = tx
                    .send(Err(std::io::Error::other("cut by the test upstream")))
                    .await;
            }
            End::Forever => loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if tx
                    .send(Ok(Frame::data(Bytes::from_static(b"data: {}\n\n"))))
                    .await
                    .is_err()
                {
                    closed.notify_one();
                    return;
                }
            },
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut resp = http::Response::builder().status(plan.status);
    for (k, v) in plan.headers {
        resp = resp.header(k, v);
    }
    resp.body(StreamBody::new(Box::pin(stream) as Pin<Box<_>>))
        .expect("response")
}
