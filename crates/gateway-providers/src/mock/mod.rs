//! The built-in mock provider: deterministic answers in any shape, no network.
//!
//! [`answer`] builds the bytes an upstream of a shape would send (whole or as stream
//! chunks) or the failure it would report; [`crate::Provider::send`] plays them as an
//! [`crate::UpstreamReply`], and the server's `patchbay mock` listener serves them
//! over HTTP. Embeddings, model lists and token counts have their own builders.

mod agent;
mod chat;
mod config;
mod other;

use std::time::Duration;

use bytes::Bytes;
use gateway_protocol::{ApiShape, ErrorKind, GatewayError};

use crate::body::BodyStream;

pub use chat::{answer, answer_for};
pub use config::{MAX_TOKENS, MockConfig, Scenario, parse_shape};
pub use other::{count_tokens, embeddings, models};

/// A mock's answer to one call.
#[derive(Debug, Clone, PartialEq)]
pub enum MockAnswer {
    /// The call fails before the first byte (an injected status, or a request the
    /// mock cannot read).
    Fail(GatewayError),
    /// A whole JSON body.
    Whole(Vec<u8>),
    /// A streamed body.
    Stream {
        /// The chunks, each a complete piece of the shape's stream grammar.
        chunks: Vec<Vec<u8>>,
        /// Pause before each chunk.
        delay: Duration,
        /// Stop with a connection reset after this many chunks (when fewer than all).
        cut_after: Option<usize>,
    },
}

impl MockAnswer {
    /// The answer as a body stream: chunks with their delays, then the cut if any.
    /// `Fail` is returned as the error.
    pub fn into_body(self) -> Result<BodyStream, GatewayError> {
        match self {
            MockAnswer::Fail(err) => Err(err),
            MockAnswer::Whole(body) => Ok(Box::pin(futures_util::stream::iter([Ok(Bytes::from(
                body,
            ))]))),
            MockAnswer::Stream {
                chunks,
                delay,
                cut_after,
            } => {
                let total = chunks.len();
                let cut = cut_after.filter(|&n| n < total);
                let played = cut.unwrap_or(total);
                let items = chunks
                    .into_iter()
                    .take(played)
                    .map(|c| Some(Ok(Bytes::from(c))))
                    .chain(cut.map(|n| {
                        Some(Err(GatewayError::new(
                            ErrorKind::Upstream,
                            format!("mock upstream: connection reset after {n} chunks"),
                        )))
                    }));
                let stream = futures_util::stream::unfold(
                    (items.collect::<Vec<_>>().into_iter(), delay),
                    |(mut items, delay)| async move {
                        let item = items.next().flatten()?;
                        if !delay.is_zero() && item.is_ok() {
                            tokio::time::sleep(delay).await;
                        }
                        Some((item, (items, delay)))
                    },
                );
                Ok(Box::pin(stream))
            }
        }
    }
}

/// The AWS access key id whose calls the Bedrock-shaped mock verifies with
/// [`MOCK_AWS_SECRET_ACCESS_KEY`]; calls signed with any other key are checked for
/// their form only (the mock cannot know their secret).
pub const MOCK_AWS_ACCESS_KEY_ID: &str = "AKIDPATCHBAYMOCK";

/// The secret of [`MOCK_AWS_ACCESS_KEY_ID`].
pub const MOCK_AWS_SECRET_ACCESS_KEY: &str = "patchbay-mock-secret";

/// Whether a call to the Bedrock-shaped mock is signed: a well-formed SigV4
/// `Authorization` for service `bedrock` with `x-amz-date`, and, for
/// [`MOCK_AWS_ACCESS_KEY_ID`], a signature that matches. The error is Bedrock's
/// (403, `InvalidSignatureException` in words).
pub fn check_aws_signature(
    method: &str,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(), GatewayError> {
    let secret =
        |id: &str| (id == MOCK_AWS_ACCESS_KEY_ID).then(|| MOCK_AWS_SECRET_ACCESS_KEY.to_owned());
    crate::aws::verify(&secret, method, uri, headers, body).map_err(|why| {
        GatewayError::new(
            ErrorKind::Authentication,
            format!("The request signature we calculated does not match the signature you provided: {why}"),
        )
        .with_status(403)
    })
}

/// The key the Cohere-shaped mock refuses as Cohere refuses a revoked or unknown key:
/// HTTP 498, "invalid api token".
pub const MOCK_COHERE_INVALID_KEY: &str = "patchbay-mock-invalid-key";

/// Whether a call to the Cohere-shaped mock carries a key as Cohere wants it
/// (`Authorization: Bearer <key>`): none is a 401, [`MOCK_COHERE_INVALID_KEY`] a 498,
/// any other key is accepted.
pub fn check_bearer_key(headers: &http::HeaderMap) -> Result<(), GatewayError> {
    let key = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    match key {
        None => Err(GatewayError::new(
            ErrorKind::Authentication,
            "no api key supplied: send it as `Authorization: Bearer <key>`",
        )),
        Some(MOCK_COHERE_INVALID_KEY) => {
            Err(GatewayError::new(ErrorKind::Authentication, "invalid api token").with_status(498))
        }
        Some(_) => Ok(()),
    }
}

/// The `content-type` of a successful answer in `shape`.
pub fn content_type(shape: ApiShape, stream: bool) -> &'static str {
    match (shape, stream) {
        (_, false) => "application/json",
        (ApiShape::Ollama, true) => "application/x-ndjson",
        (ApiShape::Bedrock, true) => "application/vnd.amazon.eventstream",
        (_, true) => "text/event-stream",
    }
}

/// A 64-bit FNV-1a hash: deterministic ids and vectors without a dependency.
pub(crate) fn fnv(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
