//! Entry points for the fuzz targets in `fuzz/` and for their corpus replay in
//! `cargo test`: arbitrary bytes in, any answer out, never a panic.
//!
//! Hidden from the docs: these follow the fuzz targets, not a stable API.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use gateway_auth::KeySources;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use tokio::runtime::Runtime;
use tower::ServiceExt;

use crate::app::App;
use crate::config::Config;
use crate::ingress;
use crate::stack::Gateway;

/// The key the ingress target's gateway accepts; the seed requests present it.
pub const INGRESS_KEY: &str = "pbk_fuzz_ingress_key";

/// How long one exchange may take before it is dropped: a caller may ask the mock to
/// pause between chunks (`patchbay.ext.mock.chunk_delay_ms`), which is its own wait,
/// not a finding.
const EXCHANGE_LIMIT: Duration = Duration::from_millis(250);

/// What a caught panic's answer says (layers/classify.rs); the gateway answers it
/// rather than dying, but for the fuzzers it is a crash all the same.
const PANIC_MARK: &[u8] = b"internal error (request ";

/// A request as text, the shape of an HTTP/1.1 head: `METHOD TARGET [VERSION]`, then
/// `name: value` lines, then an empty line and the body. Lines end in `\n` or `\r\n`.
/// `None` when the method or target is one hyper would refuse before the gateway sees
/// it; header lines that are not a valid name and value are left out.
pub fn parse_request(data: &[u8]) -> Option<Request<Bytes>> {
    let (head, body) = split_head(data);
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let mut start = lines.next()?.splitn(3, |&b| b == b' ');
    let method = Method::from_bytes(start.next()?).ok()?;
    let uri = Uri::try_from(start.next()?).ok()?;
    let mut builder = Request::builder().method(method).uri(uri);
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = HeaderName::from_bytes(line[..colon].trim_ascii());
        let value = HeaderValue::from_bytes(line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) = (name, value) {
            builder = builder.header(name, value);
        }
    }
    builder.body(Bytes::copy_from_slice(body)).ok()
}

/// The head and the body, split at the first empty line.
fn split_head(data: &[u8]) -> (&[u8], &[u8]) {
    for (i, w) in data.windows(2).enumerate() {
        if w == b"\n\n" {
            return (&data[..i], &data[i + 2..]);
        }
        if w == b"\n\r" && data.get(i + 2) == Some(&b'\n') {
            return (&data[..i], &data[i + 3..]);
        }
    }
    (data, &[])
}

/// A request (see [`parse_request`]) classified, its key read, and sent through the
/// whole gateway stack over the mock provider; the answer is read to its end.
pub fn http_ingress(data: &[u8]) {
    let Some(req) = parse_request(data) else {
        return;
    };
    let endpoint = ingress::classify(
        req.method(),
        req.uri().path(),
        req.uri().query(),
        req.headers(),
    );
    let _ = endpoint.error_shape();
    let _ = gateway_auth::presented_key(req.headers(), req.uri().query(), KeySources::AnyShape);
    if let Some((status, body)) = exchange(req) {
        assert!(
            !(status == StatusCode::INTERNAL_SERVER_ERROR
                && body.windows(PANIC_MARK.len()).any(|w| w == PANIC_MARK)),
            "a layer panicked: {}",
            String::from_utf8_lossy(&body)
        );
    }
}

/// `req` through the ingress gateway: the status and the whole body, or `None` when
/// the answer took longer than [`EXCHANGE_LIMIT`] or its body failed.
fn exchange(req: Request<Bytes>) -> Option<(StatusCode, Bytes)> {
    let (runtime, gateway) = ingress_gateway();
    runtime.block_on(async {
        tokio::time::timeout(EXCHANGE_LIMIT, async {
            let resp = gateway.clone().oneshot(req.map(Full::new)).await.ok()?;
            let status = resp.status();
            let body = resp.into_body().collect().await.ok()?.to_bytes();
            Some((status, body))
        })
        .await
        .ok()
        .flatten()
    })
}

/// One gateway for the whole run: the no-file configuration (mock provider, default
/// route) with [`INGRESS_KEY`], no database.
fn ingress_gateway() -> &'static (Runtime, Gateway) {
    static GATEWAY: OnceLock<(Runtime, Gateway)> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        let config = Config::default_mock_with_key(INGRESS_KEY);
        let app = {
            let _entered = runtime.enter();
            App::with_keys(&config, None).expect("the default mock configuration")
        };
        (runtime, Gateway::new(Arc::new(app)))
    })
}

/// TOML text loaded as `patchbay serve --config` loads it — parsed, interpolated,
/// deserialized, validated — and, when valid, built into the gateway's state
/// (providers, catalogue, routes, keys) without a database.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut config) = Config::from_toml_str(text, &fuzz_env) else {
        return;
    };
    // An access log would open (and create) whatever file a fuzzed config names, and
    // a tracer would connect to its collector.
    config.access_log.format = crate::config::AccessLogFormat::Off;
    config.tracing.otlp_endpoint = None;
    let _ = config.declared_keys();
    let _ = App::with_keys(&config, None);
}

/// The environment `${NAME}` reads in [`config_toml`]: `*_SHA256` names hold a digest,
/// other `*_KEY` names a secret, `EMPTY` nothing; the rest are unset.
fn fuzz_env(name: &str) -> Option<String> {
    if name.ends_with("_SHA256") {
        Some("0".repeat(64))
    } else if name.ends_with("_KEY") {
        Some("sk-fuzz".to_owned())
    } else if name == "EMPTY" {
        Some(String::new())
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
