//! Fetching media that a caller gave by URL, for upstreams that only take it inline
//! (Gemini, Ollama).
//!
//! The gateway fetches on the caller's behalf, so the URL is untrusted: by default
//! only public addresses are reached. The check sits in the resolver, on the very
//! addresses the connection then uses (a name that resolves to a private address is
//! refused; there is no second lookup to rebind), and IP literals are checked before
//! the request. Redirects are followed by hand, a few hops, each hop checked the same
//! way; the body is read up to a size limit within a total time limit.
//!
//! One request may name many URLs: a [`Budget`] caps the bytes fetched for it in
//! total, shared by its concurrent fetches; the count of URLs and the request's own
//! deadline are the server's to enforce (it knows the request).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gateway_protocol::{ErrorKind, GatewayError};
use http_body_util::{BodyExt, Empty};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// Redirect hops followed before giving up.
const MAX_REDIRECTS: usize = 3;

/// What the gateway may fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Fetch at all; when off, URL media to inline-only upstreams is refused.
    pub enabled: bool,
    /// Also reach loopback, private, link-local and other non-public addresses.
    pub allow_private: bool,
    /// The largest body accepted.
    pub max_bytes: usize,
    /// Connect, redirects and body together.
    pub timeout: Duration,
    /// The most distinct URLs fetched for one request.
    pub max_urls: usize,
    /// The most bytes fetched for one request, all its URLs together (the server also
    /// holds the copies it puts inline to it).
    pub max_total_bytes: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            enabled: true,
            allow_private: false,
            max_bytes: 20 << 20,
            timeout: Duration::from_secs(10),
            max_urls: 16,
            max_total_bytes: 50 << 20,
        }
    }
}

/// Media fetched from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The MIME type, from the answer's `content-type` or the bytes themselves.
    pub media_type: String,
    /// The bytes.
    pub bytes: Bytes,
}

/// The bytes one request may still fetch ([`FetchPolicy::max_total_bytes`]), shared by
/// its concurrent fetches: each takes its chunks from it as they arrive, so the total
/// holds however the fetches interleave.
#[derive(Debug)]
pub struct Budget {
    left: AtomicUsize,
    total: usize,
}

impl Budget {
    /// A budget of `total` bytes.
    pub fn new(total: usize) -> Budget {
        Budget {
            left: AtomicUsize::new(total),
            total,
        }
    }

    /// Takes `n` bytes; false (and nothing taken) when fewer are left.
    fn take(&self, n: usize) -> bool {
        self.left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .is_ok()
    }

    fn left(&self) -> usize {
        self.left.load(Ordering::Relaxed)
    }

    /// The bytes it started with.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The caller's error when a request's media would exceed it.
    pub fn exceeded(&self) -> GatewayError {
        over_budget(self.total)
    }
}

/// A client for media URLs under a [`FetchPolicy`]. Cheap to clone.
#[derive(Clone)]
pub struct MediaFetcher {
    policy: FetchPolicy,
    client: Client<HttpsConnector<HttpConnector<GuardedResolver>>, Empty<Bytes>>,
}

impl std::fmt::Debug for MediaFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaFetcher")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl MediaFetcher {
    /// A fetcher trusting the bundled Mozilla roots.
    pub fn new(policy: FetchPolicy) -> Result<MediaFetcher, crate::ProviderError> {
        let resolver = GuardedResolver {
            allow_private: policy.allow_private,
        };
        let mut http = HttpConnector::new_with_resolver(resolver);
        http.enforce_http(false);
        http.set_connect_timeout(Some(policy.timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(crate::client::tls_config(&[])?)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(4)
            .build(https);
        Ok(MediaFetcher { policy, client })
    }

    /// The policy fetches follow.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// A fresh budget for one request's fetches.
    pub fn budget(&self) -> Budget {
        Budget::new(self.policy.max_total_bytes)
    }

    /// Fetches `url`, its bytes taken from `budget`. Failures are the caller's (400:
    /// the URL is theirs), with the reason; a URL the policy forbids says so.
    pub async fn fetch(&self, url: &str, budget: &Budget) -> Result<Fetched, GatewayError> {
        if !self.policy.enabled {
            return Err(switched_off());
        }
        match tokio::time::timeout(self.policy.timeout, self.follow(url, budget)).await {
            Ok(result) => result,
            Err(_) => Err(refused(
                url,
                &format!("no complete answer within {:?}", self.policy.timeout),
            )),
        }
    }

    async fn follow(&self, url: &str, budget: &Budget) -> Result<Fetched, GatewayError> {
        let mut current: http::Uri = url
            .parse()
            .map_err(|e| refused(url, &format!("not a valid URL ({e})")))?;
        for _ in 0..=MAX_REDIRECTS {
            self.check_target(&current)
                .map_err(|why| refused(url, &why))?;
            let req = http::Request::get(current.clone())
                .header(http::header::USER_AGENT, "patchbay-media-fetch")
                .header(http::header::ACCEPT, "image/*, application/pdf, */*;q=0.5")
                .body(Empty::<Bytes>::new())
                .map_err(|e| refused(url, &e.to_string()))?;
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| refused(url, &connect_reason(url, &e)))?;
            let status = resp.status();
            if status.is_redirection() {
                let next = resp
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| refused(url, &format!("{status} without a location")))?;
                current = join(&current, next).map_err(|why| refused(url, &why))?;
                continue;
            }
            if !status.is_success() {
                return Err(refused(url, &format!("the server answered {status}")));
            }
            if let Some(len) = resp
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
            {
                if len > self.policy.max_bytes {
                    return Err(too_large(url, self.policy.max_bytes));
                }
                if len > budget.left() {
                    return Err(over_budget(budget.total));
                }
            }
            let declared = resp
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    v.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                });
            let body = self.read(url, resp.into_body(), budget).await?;
            let media_type = match declared {
                Some(t) if t.starts_with("image/") || t == "application/pdf" => t,
                other => match sniff(&body) {
                    Some(kind) => kind.to_owned(),
                    None => {
                        return Err(refused(
                            url,
                            &format!(
                                "it is not an image or a PDF (content-type {})",
                                other.as_deref().unwrap_or("none")
                            ),
                        ));
                    }
                },
            };
            return Ok(Fetched {
                media_type,
                bytes: body,
            });
        }
        Err(refused(
            url,
            &format!("more than {MAX_REDIRECTS} redirects"),
        ))
    }

    /// The body, up to `max_bytes`, each chunk taken from `budget` as it arrives.
    async fn read(
        &self,
        url: &str,
        mut body: hyper::body::Incoming,
        budget: &Budget,
    ) -> Result<Bytes, GatewayError> {
        let mut out = bytes::BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                tracing::debug!(url, error = %crate::upstream::chain(&e), "media body broke off");
                refused(
                    url,
                    &format!(
                        "the body broke off ({})",
                        crate::upstream::Transport::of(&e).describe()
                    ),
                )
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if out.len() + data.len() > self.policy.max_bytes {
                return Err(too_large(url, self.policy.max_bytes));
            }
            if !budget.take(data.len()) {
                return Err(over_budget(budget.total));
            }
            out.extend_from_slice(&data);
        }
        Ok(out.freeze())
    }

    /// http(s) only; an IP literal must be allowed (names are checked as resolved).
    fn check_target(&self, uri: &http::Uri) -> Result<(), String> {
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err("only http and https URLs are fetched".to_owned()),
        }
        let host = uri.host().ok_or("the URL has no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>()
            && !self.policy.allow_private
            && !is_public(ip)
        {
            return Err(format!("{ip} is not a public address"));
        }
        Ok(())
    }
}

/// `next` (a `location` header) against `base`.
fn join(base: &http::Uri, next: &str) -> Result<http::Uri, String> {
    let base = url::Url::parse(&base.to_string()).map_err(|e| e.to_string())?;
    let joined = base
        .join(next)
        .map_err(|e| format!("bad redirect location: {e}"))?;
    joined
        .as_str()
        .parse()
        .map_err(|e| format!("bad redirect location: {e}"))
}

fn refused(url: &str, why: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::InvalidRequest,
        format!(
            "the media at {url} could not be fetched for this upstream, which takes media inline only: {why}"
        ),
    )
}

fn switched_off() -> GatewayError {
    GatewayError::new(
        ErrorKind::InvalidRequest,
        "this upstream takes media inline only, and fetching media URLs is switched off on this gateway ([media] fetch_urls); send the media inline as base64",
    )
}

fn over_budget(total: usize) -> GatewayError {
    GatewayError::new(
        ErrorKind::InvalidRequest,
        format!(
            "the media URLs of this request add up to more than {total} bytes, the most fetched for one request ([media] max_total_bytes); send fewer or smaller files, or some inline as base64"
        ),
    )
}

fn too_large(url: &str, max: usize) -> GatewayError {
    refused(
        url,
        &format!("it is larger than {max} bytes ([media] max_bytes)"),
    )
}

/// Why `url` could not be reached, in words for the caller: the guard's refusal, or
/// the kind of failure — never the address it resolved to. The whole chain is logged.
fn connect_reason(url: &str, err: &hyper_util::client::legacy::Error) -> String {
    tracing::debug!(url, error = %crate::upstream::chain(err), "media fetch failed");
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
        {
            return GUARD_REFUSAL.to_owned();
        }
        source = e.source();
    }
    format!(
        "it could not be reached: {}",
        crate::upstream::Transport::of(err).describe()
    )
}

/// The guard's answer to a name whose addresses are all non-public.
const GUARD_REFUSAL: &str = "its host resolves only to addresses that are not public";

/// The media type the first bytes announce (the formats upstreams accept).
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    const SIGNATURES: [(&[u8], &str); 5] = [
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF8", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"RIFF", "image/webp"),
    ];
    SIGNATURES
        .iter()
        .find(|(magic, kind)| {
            bytes.starts_with(magic) && (*kind != "image/webp" || bytes.get(8..12) == Some(b"WEBP"))
        })
        .map(|(_, kind)| *kind)
}

/// Addresses on the public internet: not loopback, private, link-local, shared
/// (CGNAT), documentation, benchmarking, multicast, broadcast or unspecified; for
/// IPv6 also unique-local, site-local (`fec0::/10`), discard-only (`100::/64`),
/// Teredo (`2001::/32`), local-use NAT64 (`64:ff9b:1::/48`) and the deprecated
/// IPv4-compatible form (`::a.b.c.d`). Addresses that carry an IPv4 address — mapped
/// (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) — are judged by
/// that address, since that is where the packets go.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            let v4_of = |hi: u16, lo: u16| {
                let [a, b] = hi.to_be_bytes();
                let [c, d] = lo.to_be_bytes();
                IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d))
            };
            // NAT64, well-known prefix: the last 32 bits are the IPv4 destination.
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(v4_of(seg[6], seg[7]));
            }
            // 6to4: the IPv4 address follows the prefix.
            if seg[0] == 0x2002 {
                return is_public(v4_of(seg[1], seg[2]));
            }
            let first = seg[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || seg[..6] == [0; 6]
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || seg[..4] == [0x100, 0, 0, 0]
                || seg[..3] == [0x64, 0xff9b, 1]
                || first == 0x2001 && seg[1] == 0
                || first == 0x2001 && seg[1] == 0x0db8)
        }
    }
}

/// The system resolver, keeping only the addresses the policy allows.
#[derive(Debug, Clone, Copy)]
struct GuardedResolver {
    allow_private: bool,
}

type ResolveFuture =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = ResolveFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if allowed.is_empty() && !found.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    GUARD_REFUSAL,
                ));
            }
            Ok(allowed.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            // Tunnels and translations to private IPv4, and deprecated or special ranges.
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::808:808",
            "::127.0.0.1",
            "::8.8.8.8",
            "2002:c0a8:101::1",
            "2002:7f00:1::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fec0::1",
            "100::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn sniffing_knows_the_accepted_formats() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"<html>"), None);
    }
}
