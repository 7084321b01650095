//! Wrong admin tokens are throttled per peer: ten at once, then one every six
//! seconds; past that the peer gets 429 with `retry-after` and its token is not even
//! looked at. A 20-character random token cannot be guessed either way; the throttle
//! keeps a guessing script from costing CPU and filling the log.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response, StatusCode, header};
use tower::{Layer, Service};

use super::reply::ApiError;
use crate::listen::Peer;
use crate::respond::Answer;

/// Time one wrong guess costs a peer once its burst is used.
const EMISSION: Duration = Duration::from_secs(6);
/// Wrong guesses allowed at once.
const BURST: u32 = 10;
/// Peers remembered; past it, peers not yet seen share one allowance.
const MAX_PEERS: usize = 4096;

/// Who is throttled: an IPv4 address, an IPv6 /64 (one host usually holds a whole
/// /64), or every peer not remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PeerKey {
    V4(u32),
    V6(u64),
    Overflow,
    Unknown,
}

fn key_of(peer: Option<&Peer>) -> PeerKey {
    match peer.map(|p| p.0.ip()) {
        Some(IpAddr::V4(v4)) => PeerKey::V4(v4.to_bits()),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => PeerKey::V4(v4.to_bits()),
            None => PeerKey::V6((v6.to_bits() >> 64) as u64),
        },
        None => PeerKey::Unknown,
    }
}

/// Each peer's theoretical arrival time (GCRA) of its next wrong guess.
#[derive(Debug, Default)]
pub(super) struct Guesses {
    next: Mutex<HashMap<PeerKey, Instant>>,
}

impl Guesses {
    /// How long `key` must wait before its token is looked at again, if at all.
    fn wait(&self, key: PeerKey, now: Instant) -> Option<Duration> {
        let next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let tat = match next.get(&key) {
            Some(tat) => *tat,
            None if next.len() >= MAX_PEERS => *next.get(&PeerKey::Overflow)?,
            None => return None,
        };
        let allowed_from = tat.checked_sub(EMISSION * (BURST - 1))?;
        (allowed_from > now).then(|| allowed_from - now)
    }

    /// Counts a wrong guess from `key`.
    fn wrong(&self, mut key: PeerKey, now: Instant) {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        if !next.contains_key(&key) && next.len() >= MAX_PEERS {
            next.retain(|_, tat| *tat > now);
            if next.len() >= MAX_PEERS {
                key = PeerKey::Overflow;
            }
        }
        let tat = next.entry(key).or_insert(now);
        *tat = (*tat).max(now) + EMISSION;
    }
}

/// Throttles wrong admin tokens; sits just outside the token check.
#[derive(Debug, Clone, Default)]
pub(super) struct ThrottleLayer {
    guesses: Arc<Guesses>,
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;
    fn layer(&self, inner: S) -> Throttle<S> {
        Throttle {
            inner,
            guesses: self.guesses.clone(),
        }
    }
}

/// The service [`ThrottleLayer`] makes.
#[derive(Debug, Clone)]
pub(super) struct Throttle<S> {
    inner: S,
    guesses: Arc<Guesses>,
}

type Boxed<E> = Pin<Box<dyn Future<Output = Result<Answer, E>> + Send>>;

impl<S, B> Service<Request<B>> for Throttle<S>
where
    S: Service<Request<B>, Response = Answer>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Answer;
    type Error = S::Error;
    type Future = Boxed<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let key = key_of(req.extensions().get::<Peer>());
        if let Some(wait) = self.guesses.wait(key, Instant::now()) {
            return Box::pin(std::future::ready(Ok(too_many_guesses(wait))));
        }
        let guesses = self.guesses.clone();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let resp = answer.await?;
            if resp.status() == StatusCode::UNAUTHORIZED {
                guesses.wrong(key, Instant::now());
            }
            Ok(resp)
        })
    }
}

fn too_many_guesses(wait: Duration) -> Response<crate::respond::Body> {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        format!("too many wrong admin tokens from this address; retry in {secs} s"),
    )
    .answer();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_wrong_guesses_pass_then_one_every_six_seconds() {
        let g = Guesses::default();
        let peer = PeerKey::V4(0x7f00_0001);
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(g.wait(peer, t0), None);
            g.wrong(peer, t0);
        }
        let wait = g.wait(peer, t0).expect("the eleventh guess waits");
        assert_eq!(wait, EMISSION);
        assert_eq!(
            g.wait(PeerKey::V4(0x7f00_0002), t0),
            None,
            "others are not held"
        );
        assert_eq!(g.wait(peer, t0 + EMISSION), None);
    }

    #[test]
    fn an_ipv6_peer_is_throttled_by_its_64() {
        let a: std::net::SocketAddr = "[2001:db8::1]:1".parse().unwrap();
        let b: std::net::SocketAddr = "[2001:db8::ffff]:2".parse().unwrap();
        assert_eq!(key_of(Some(&Peer(a))), key_of(Some(&Peer(b))));
    }

    #[test]
    fn peers_past_the_table_share_one_allowance() {
        let g = Guesses::default();
        let t0 = Instant::now();
        for n in 0..MAX_PEERS as u32 {
            g.wrong(PeerKey::V4(n), t0);
        }
        let stranger = PeerKey::V4(u32::MAX);
        for _ in 0..BURST {
            g.wrong(stranger, t0);
        }
        assert!(g.wait(stranger, t0).is_some());
    }
}
