//! The span queue and its exporter: ended spans are appended, already encoded, to
//! one buffer; a task on the runtime sends what is queued once a second (sooner
//! when a batch fills) as OTLP/HTTP protobuf or OTLP/gRPC.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use http::HeaderMap;
use tokio::sync::Notify;

use super::otlp::{self, Envelope};
use crate::config::{OtlpProtocol, TracingConfig};

/// Spans sent in one export request (the OTLP SDKs' default batch).
const BATCH: usize = 512;
/// Spans held while the collector is slow or away; more are dropped (and counted).
const MAX_QUEUED: usize = 2048;
/// How often the queue is sent when no batch fills first.
const DELAY: Duration = Duration::from_secs(1);
/// How long an export waits for the collector's answer (OTLP's default).
const COLLECTOR_TIMEOUT: Duration = Duration::from_secs(10);
/// A collector's answer is small; more is not read.
const MAX_COLLECTOR_ANSWER: usize = 1 << 20;
/// Export failures and drops are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

const GRPC_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

#[derive(Debug, Default)]
struct Queue {
    /// Encoded spans, each framed as an entry of `ScopeSpans.spans`.
    entries: Vec<u8>,
    spans: usize,
    dropped: u64,
}

/// Where spans go.
enum Sender {
    Http {
        client: gateway_providers::HttpClient,
        url: http::Uri,
        headers: HeaderMap,
    },
    Grpc {
        client: tonic::client::Grpc<tonic::transport::Channel>,
        metadata: HeaderMap,
    },
}

/// The queue and the collector it is sent to.
pub(super) struct Exporter {
    queue: Mutex<Queue>,
    wake: Notify,
    envelope: Envelope,
    sender: Sender,
    /// One export at a time, so a flush waits for one already under way.
    sending: tokio::sync::Mutex<()>,
    runtime: tokio::runtime::Handle,
    closed: AtomicBool,
    last_warned: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter").finish_non_exhaustive()
    }
}

impl Exporter {
    /// The exporter `config` names, its task started on `runtime`.
    pub(super) fn start(
        endpoint: &str,
        config: &TracingConfig,
        runtime: tokio::runtime::Handle,
    ) -> Result<Arc<Exporter>, String> {
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let bad =
                |what: &str| format!("tracing.headers: `{name}` is not a valid header {what}");
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("name"))?;
            let value = http::HeaderValue::from_str(value).map_err(|_| bad("value"))?;
            headers.insert(name, value);
        }
        let sender = match config.protocol {
            OtlpProtocol::Http => {
                let url = match endpoint.trim_end_matches('/') {
                    e if e.ends_with("/v1/traces") => e.to_owned(),
                    e => format!("{e}/v1/traces"),
                };
                let url = url.parse().map_err(|e| format!("`{url}`: {e}"))?;
                headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/x-protobuf"),
                );
                let client = gateway_providers::HttpClient::new().map_err(|e| e.to_string())?;
                Sender::Http {
                    client,
                    url,
                    headers,
                }
            }
            OtlpProtocol::Grpc => {
                let _in_runtime = runtime.enter();
                let mut channel = tonic::transport::Endpoint::from_shared(endpoint.to_owned())
                    .map_err(|e| e.to_string())?
                    .connect_timeout(COLLECTOR_TIMEOUT);
                if endpoint.starts_with("https://") {
                    let tls = tonic::transport::ClientTlsConfig::new().with_webpki_roots();
                    channel = channel.tls_config(tls).map_err(|e| e.to_string())?;
                }
                Sender::Grpc {
                    client: tonic::client::Grpc::new(channel.connect_lazy()),
                    metadata: headers,
                }
            }
        };
        let exporter = Arc::new(Exporter {
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
            envelope: Envelope::new(&config.service_name),
            sender,
            sending: tokio::sync::Mutex::new(()),
            runtime: runtime.clone(),
            closed: AtomicBool::new(false),
            last_warned: Mutex::new(None),
        });
        runtime.spawn(exporter.clone().run());
        Ok(exporter)
    }

    /// Queues one encoded `Span` body (dropped when the queue is full or closed).
    pub(super) fn push(&self, span: &[u8]) {
        let full = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            if queue.spans >= MAX_QUEUED || self.closed.load(Ordering::Relaxed) {
                queue.dropped += 1;
                return;
            }
            otlp::framed_span(&mut queue.entries, span);
            queue.spans += 1;
            queue.spans == BATCH
        };
        if full {
            self.wake.notify_one();
        }
    }

    async fn run(self: Arc<Self>) {
        while !self.closed.load(Ordering::Relaxed) {
            tokio::select! {
                () = tokio::time::sleep(DELAY) => {}
                () = self.wake.notified() => {}
            }
            self.export_queued().await;
        }
    }

    /// Sends everything queued, in batches.
    async fn export_queued(&self) {
        let _one_at_a_time = self.sending.lock().await;
        let (entries, dropped) = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.spans = 0;
            (
                std::mem::take(&mut queue.entries),
                std::mem::take(&mut queue.dropped),
            )
        };
        if dropped > 0 {
            self.warn(&format!(
                "{dropped} spans dropped: the export queue was full"
            ));
        }
        let mut rest = &entries[..];
        while !rest.is_empty() {
            let (batch, after) = otlp::split_after(rest, BATCH);
            rest = after;
            if let Err(err) = self.send(self.envelope.request(batch)).await {
                self.warn(&format!("traces not exported: {err}"));
            }
        }
    }

    async fn send(&self, body: Vec<u8>) -> Result<(), String> {
        match &self.sender {
            Sender::Http {
                client,
                url,
                headers,
            } => {
                let mut request = http::Request::new(Bytes::from(body));
                *request.method_mut() = http::Method::POST;
                *request.uri_mut() = url.clone();
                *request.headers_mut() = headers.clone();
                let answer = client
                    .send_whole(request, MAX_COLLECTOR_ANSWER, COLLECTOR_TIMEOUT)
                    .await
                    .map_err(|e| e.message)?;
                if answer.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("the collector answered {}", answer.status()))
                }
            }
            Sender::Grpc { client, metadata } => {
                let mut client = client.clone();
                let call = async {
                    client.ready().await.map_err(|e| e.to_string())?;
                    let mut request = tonic::Request::new(Bytes::from(body));
                    *request.metadata_mut() =
                        tonic::metadata::MetadataMap::from_headers(metadata.clone());
                    let path = http::uri::PathAndQuery::from_static(GRPC_EXPORT);
                    client
                        .unary(request, path, RawCodec)
                        .await
                        .map(drop)
                        .map_err(|status| status.to_string())
                };
                tokio::time::timeout(COLLECTOR_TIMEOUT, call)
                    .await
                    .map_err(|_| "the collector did not answer in time".to_owned())?
            }
        }
    }

    fn warn(&self, what: &str) {
        let mut last = self.last_warned.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!("{what}");
        }
    }

    /// Sends everything queued so far and waits for it (blocking: call it off the
    /// runtime's workers).
    pub(super) fn flush(self: &Arc<Self>) {
        let (done, wait) = std::sync::mpsc::channel();
        let exporter = self.clone();
        self.runtime.spawn(async move {
            exporter.export_queued().await;
            let _ = done.send(());
        });
        let _ = wait.recv_timeout(COLLECTOR_TIMEOUT * 2);
    }

    /// Sends what is queued and stops: later spans are dropped.
    pub(super) fn shutdown(self: &Arc<Self>) {
        self.closed.store(true, Ordering::Relaxed);
        self.flush();
        self.wake.notify_one();
    }
}

/// gRPC's message codec for bytes already encoded: the request goes as it is, the
/// answer (an `ExportTraceServiceResponse`) is not read.
#[derive(Debug, Clone, Copy)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Bytes,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = ();
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}
