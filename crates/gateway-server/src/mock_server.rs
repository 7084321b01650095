//! `patchbay mock`: the built-in mock provider served over HTTP as a stand-alone
//! upstream, for integration tests and load benchmarks.
//!
//! Plain hyper (no tower): one task per connection, HTTP/1.1 keep-alive and HTTP/2
//! (prior knowledge) through `hyper_util`'s auto builder, `TCP_NODELAY` on, and each
//! stream chunk written as its own body frame when the mock produces it. The paths
//! answered are those `gateway-providers` calls for each kind (see `routes.rs`); the
//! answers come from `gateway_providers::mock`. Auth is not checked, with two
//! exceptions: the Bedrock-shaped mock checks SigV4 signatures and the Cohere-shaped
//! one wants a Bearer key (see `mock::check_bearer_key`); otherwise any key in any
//! header (or none) is accepted. Request bodies are limited to 10 MiB (413 beyond).

mod body;
mod routes;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gateway_protocol::{ApiShape, ErrorKind, GatewayError};
use gateway_providers::mock::{self, MockAnswer, MockConfig};
use gateway_translate::codec;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use body::MockBody;

/// The largest request body read (larger ones get 413).
pub const MAX_BODY_BYTES: usize = 10 << 20;

/// How long in-flight connections may run on after shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// What `patchbay mock` serves: one API shape and the mock's behaviour.
///
/// Auth is not checked (but for Bedrock's signatures and Cohere's Bearer key): any
/// key (or none) is accepted in any header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockServer {
    /// The shape spoken. OpenAI Chat also answers the Responses API (`/responses`).
    pub shape: ApiShape,
    /// The mock's settings; a request's model name (`mock-fail-503`, ...) and its
    /// `patchbay.ext.mock` parameters still apply on top.
    pub config: MockConfig,
}

/// What `patchbay mock`'s command line asks for (its `--shape`, `--scenario`,
/// `--tokens`, `--chunks` and `--chunk-delay-ms`), as [`mock_options`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockOptions {
    /// The shape to speak.
    pub shape: ApiShape,
    /// A named behaviour, in the mock's model-name vocabulary.
    pub scenario: Option<String>,
    /// Output tokens per answer.
    pub tokens: Option<u32>,
    /// Stream chunks per answer.
    pub chunks: Option<u32>,
    /// Delay between stream chunks, in milliseconds.
    pub chunk_delay_ms: Option<u64>,
}

/// Options from the command line → what to serve. Err = message for the user.
///
/// `--scenario` takes the mock's model-name vocabulary: `echo`, `text`, `tools`,
/// `text-200`, `fail-503`, `cut-3`, `tokens-50`, `chunks-8`, combinable
/// (`text-40-chunks-10-cut-3`). `--tokens`, `--chunks` and `--chunk-delay-ms` win
/// over the scenario.
pub fn mock_options(args: &MockOptions) -> Result<MockServer, String> {
    let shape = args.shape;
    let mut config = MockConfig {
        shape: Some(shape),
        ..MockConfig::default()
    };
    if let Some(scenario) = &args.scenario {
        apply_scenario(&mut config, scenario)?;
    }
    if let Some(n) = args.tokens {
        config.tokens = n;
    }
    if let Some(n) = args.chunks {
        if n == 0 {
            return Err("--chunks must be at least 1".to_owned());
        }
        config.chunks = n;
    }
    if let Some(ms) = args.chunk_delay_ms {
        config.chunk_delay_ms = ms;
    }
    Ok(MockServer { shape, config })
}

/// Checks every segment of `scenario` before handing it to
/// [`MockConfig::apply_model_name`] (which ignores what it does not know).
fn apply_scenario(config: &mut MockConfig, scenario: &str) -> Result<(), String> {
    let mut segments = scenario.split('-').peekable();
    while let Some(seg) = segments.next() {
        let number = segments.peek().and_then(|n| n.parse::<u64>().ok());
        let known = match seg {
            "mock" | "echo" | "tools" | "tool" => true,
            "text" => {
                if number.is_some() {
                    segments.next();
                }
                true
            }
            "fail" => number.is_some_and(|n| (400..600).contains(&n)) && segments.next().is_some(),
            "cut" | "tokens" | "chunks" => number.is_some() && segments.next().is_some(),
            _ => false,
        };
        if !known {
            return Err(format!(
                "unknown --scenario `{scenario}` (at `{seg}`); use echo, text, tools, \
                 text-<words>, fail-<status 400..599>, cut-<chunks>, tokens-<n>, chunks-<n>, \
                 or a combination such as text-40-chunks-10-cut-3"
            ));
        }
    }
    config.apply_model_name(scenario);
    Ok(())
}

impl MockServer {
    /// Serves until `shutdown` resolves, then stops accepting and returns (in-flight
    /// connections are let finish, bounded by 5 s).
    ///
    /// Failed accepts (a peer gone, too many open files) are logged and the loop goes
    /// on, so this returns `Ok` once shut down.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = Arc::new(self);
        let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
        let graceful = GracefulShutdown::new();
        let mut tasks = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(err) => {
                        tracing::warn!("mock server: accept failed: {err}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!("mock server: TCP_NODELAY not set: {err}");
            }
            while tasks.try_join_next().is_some() {}
            let (state, builder, watcher) =
                (Arc::clone(&state), Arc::clone(&builder), graceful.watcher());
            tasks.spawn(async move {
                let service = service_fn(move |req| handle(Arc::clone(&state), req));
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                if let Err(err) = watcher.watch(conn).await {
                    tracing::debug!("mock server: connection ended: {err}");
                }
            });
        }
        drop(listener);
        if tokio::time::timeout(DRAIN, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::debug!("mock server: connections still open after {DRAIN:?}; closing them");
        }
        tasks.shutdown().await;
        Ok(())
    }
}

/// Answers one request.
async fn handle(
    server: Arc<MockServer>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let Some(call) = routes::route(
        server.shape,
        &parts.method,
        parts.uri.path(),
        parts.uri.query(),
    ) else {
        let err = GatewayError::new(
            ErrorKind::NotFound,
            format!(
                "the mock {} upstream has no endpoint {} {}",
                server.shape,
                parts.method,
                parts.uri.path()
            ),
        );
        return Ok(error_reply(server.shape, &err));
    };
    let body = if call.reads_body() {
        match read_body(body, &parts.headers).await {
            Ok(body) => body,
            Err(err) => return Ok(error_reply(call.error_shape(), &err)),
        }
    } else {
        Bytes::new()
    };
    if call.shape() == ApiShape::Cohere {
        if let Err(err) = mock::check_bearer_key(&parts.headers) {
            return Ok(error_reply(call.error_shape(), &err));
        }
    }
    if call.signed() {
        let method = parts.method.as_str();
        if let Err(err) = mock::check_aws_signature(method, &parts.uri, &parts.headers, &body) {
            return Ok(error_reply(call.error_shape(), &err));
        }
    }
    let error_shape = call.error_shape();
    let (answer, content_type) = call.answer(&server.config, &body);
    Ok(reply(error_shape, answer, content_type))
}

/// Reads a request body of at most [`MAX_BODY_BYTES`].
async fn read_body(body: Incoming, headers: &HeaderMap) -> Result<Bytes, GatewayError> {
    let too_large = || {
        GatewayError::new(
            ErrorKind::PayloadTooLarge,
            format!("the request body is larger than the mock's limit of {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(too_large()),
        Err(err) => Err(GatewayError::invalid_request(
            "body",
            format!("the request body could not be read: {err}"),
        )),
    }
}

/// The HTTP response for an answer.
fn reply(shape: ApiShape, answer: MockAnswer, content_type: &'static str) -> Response<MockBody> {
    let body = match answer {
        MockAnswer::Fail(err) => return error_reply(shape, &err),
        MockAnswer::Whole(bytes) => MockBody::Full(Some(Bytes::from(bytes))),
        stream @ MockAnswer::Stream { .. } => match stream.into_body() {
            Ok(chunks) => MockBody::Stream(chunks),
            Err(err) => return error_reply(shape, &err),
        },
    };
    let mut resp = Response::new(body);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// An error in `shape`'s envelope, with `retry-after` when the error has one.
fn error_reply(shape: ApiShape, err: &GatewayError) -> Response<MockBody> {
    let (status, body) = codec::encode_error(shape, err);
    let mut resp = Response::new(MockBody::Full(Some(Bytes::from(body))));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = resp.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(mock::content_type(shape, false)),
    );
    if let Some(secs) = err.retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    if shape == ApiShape::Bedrock {
        // Bedrock names the kind of error in a header, not the body.
        let kind = gateway_translate::bedrock::error::error_type(err.kind);
        headers.insert("x-amzn-errortype", HeaderValue::from_static(kind));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_providers::Scenario;

    fn args(scenario: Option<&str>) -> MockOptions {
        MockOptions {
            shape: ApiShape::Gemini,
            scenario: scenario.map(str::to_owned),
            tokens: None,
            chunks: None,
            chunk_delay_ms: None,
        }
    }

    #[test]
    fn scenarios_use_the_model_name_vocabulary() {
        let s = mock_options(&args(Some("text-40-chunks-10-cut-3"))).expect("valid");
        assert_eq!(s.config.scenario, Scenario::Text);
        assert_eq!(
            (s.config.tokens, s.config.chunks, s.config.cut_after_chunks),
            (40, 10, Some(3))
        );
        let s = mock_options(&args(Some("fail-503"))).expect("valid");
        assert_eq!(s.config.fail_status, Some(503));
        for bad in ["bogus", "fail", "fail-200", "cut", "text-x", "tools-3"] {
            let err = mock_options(&args(Some(bad))).expect_err(bad);
            assert!(err.contains("--scenario"), "{err}");
        }
    }
}
