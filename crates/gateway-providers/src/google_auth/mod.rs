//! Google OAuth access tokens for Vertex AI, minted from a service-account key and
//! kept until shortly before they expire.
//!
//! One [`TokenSource`] per provider. A request takes the cached token; when it is
//! missing or within [`REFRESH_EARLY`] of its expiry, one request exchanges a fresh
//! signed JWT at the key's `token_uri` (no stampede). The others keep using the
//! current token while it has not expired; without one they wait for that same
//! exchange and share its outcome. A failed exchange caches nothing, so the
//! next request tries again; a token not yet expired keeps serving meanwhile.

mod service_account;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gateway_protocol::{Blame, ErrorKind, GatewayError};
use http::HeaderValue;
use serde::Deserialize;

use crate::client::HttpClient;
pub(crate) use service_account::ServiceAccount;

/// How long before its expiry a token is replaced.
pub(crate) const REFRESH_EARLY: Duration = Duration::from_secs(300);

/// The longest a token exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a token endpoint's answer read.
const MAX_ANSWER: usize = 64 << 10;

/// Service-account tokens for one provider.
pub(crate) struct TokenSource {
    provider: Arc<str>,
    account: ServiceAccount,
    client: HttpClient,
    current: RwLock<Option<Token>>,
    /// Held by the one request exchanging a token.
    exchange: tokio::sync::Mutex<Outcome>,
    /// Exchanges finished so far: a waiter that sees it move shares that outcome.
    exchanges: AtomicU64,
}

/// A token and when it stops working.
#[derive(Clone)]
struct Token {
    authorization: HeaderValue,
    expires: Instant,
}

impl Token {
    /// Whether the token is still good `margin` from `now`.
    fn good_at(&self, now: Instant, margin: Duration) -> bool {
        now + margin < self.expires
    }
}

/// The last exchange's failure, for the requests that waited on it.
#[derive(Default)]
struct Outcome {
    failure: Option<GatewayError>,
}

/// The token endpoint's answer (RFC 6749 §5.1, §5.2).
#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("provider", &self.provider)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub(crate) fn new(provider: Arc<str>, account: ServiceAccount, client: HttpClient) -> Self {
        TokenSource {
            provider,
            account,
            client,
            current: RwLock::new(None),
            exchange: tokio::sync::Mutex::new(Outcome::default()),
            exchanges: AtomicU64::new(0),
        }
    }

    /// The `Authorization` value to send now: the cached token, or a fresh one.
    pub(crate) async fn authorization(&self) -> Result<HeaderValue, GatewayError> {
        if let Some(value) = self.cached(REFRESH_EARLY) {
            return Ok(value);
        }
        let seen = self.exchanges.load(Ordering::Acquire);
        let mut outcome = match self.exchange.try_lock() {
            Ok(outcome) => outcome,
            Err(_) => {
                // Another request is refreshing: a token not yet expired serves
                // meanwhile, so only that request waits for the token endpoint.
                if let Some(value) = self.cached(Duration::ZERO) {
                    return Ok(value);
                }
                self.exchange.lock().await
            }
        };
        if let Some(value) = self.cached(REFRESH_EARLY) {
            return Ok(value);
        }
        if self.exchanges.load(Ordering::Acquire) != seen {
            // An exchange ended while this request waited, and left no token.
            if let Some(err) = &outcome.failure {
                return self.cached(Duration::ZERO).ok_or_else(|| err.clone());
            }
        }
        let fetched = self.fetch().await;
        self.exchanges.fetch_add(1, Ordering::Release);
        match fetched {
            Ok(token) => {
                outcome.failure = None;
                let value = token.authorization.clone();
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(token);
                Ok(value)
            }
            Err(err) => {
                outcome.failure = Some(err.clone());
                match self.cached(Duration::ZERO) {
                    Some(still_valid) => {
                        tracing::warn!(
                            provider = %self.provider,
                            "token refresh failed; the current token serves until it expires: {}",
                            err.message
                        );
                        Ok(still_valid)
                    }
                    None => Err(err),
                }
            }
        }
    }

    /// Forgets the cached token (the upstream refused it), so the next request
    /// fetches another.
    pub(crate) fn forget(&self) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn cached(&self, margin: Duration) -> Option<HeaderValue> {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        current
            .as_ref()
            .filter(|t| t.good_at(Instant::now(), margin))
            .map(|t| t.authorization.clone())
    }

    /// One exchange at the token endpoint.
    async fn fetch(&self) -> Result<Token, GatewayError> {
        let provider = &self.provider;
        let unavailable = |why: String| {
            let mut err = GatewayError::new(
                ErrorKind::Upstream,
                format!("provider `{provider}`: no Vertex AI access token: {why}"),
            );
            err.status = 503;
            err.blame = Blame::Upstream;
            err.retryable = true;
            err
        };
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = self.account.assertion(iat).map_err(unavailable)?;
        let body = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        );
        let request = http::Request::post(&self.account.token_uri)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(Bytes::from(body))
            .map_err(|_| unavailable("the key file's token_uri is not a usable URL".into()))?;
        let started = Instant::now();
        let answer = self
            .client
            .send_whole(request, MAX_ANSWER, EXCHANGE_TIMEOUT)
            .await
            .map_err(|e| {
                tracing::warn!(provider = %provider, "token endpoint unreachable: {}", e.message);
                unavailable("the token endpoint could not be reached".into())
            })?;
        let status = answer.status().as_u16();
        let parsed: Option<Answer> = serde_json::from_slice(answer.body()).ok();
        if !answer.status().is_success() {
            let code = parsed
                .and_then(|a| a.error)
                .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or_else(|| "no error code".into());
            tracing::warn!(
                provider = %provider,
                status,
                body = %String::from_utf8_lossy(&answer.body()[..answer.body().len().min(512)]),
                "token endpoint refused the service account"
            );
            if (400..500).contains(&status) && status != 429 {
                let mut err = GatewayError::new(
                    ErrorKind::Authentication,
                    format!(
                        "provider `{provider}`: Google's token endpoint refused the service \
                         account's key ({code}, HTTP {status}); check credentials_file"
                    ),
                );
                err.blame = Blame::Upstream;
                err.retryable = false;
                err.upstream_status = Some(status);
                return Err(err);
            }
            let mut err = unavailable(format!("the token endpoint answered HTTP {status}"));
            err.upstream_status = Some(status);
            return Err(err);
        }
        let Some(Answer {
            access_token: Some(token),
            expires_in,
            ..
        }) = parsed
        else {
            return Err(unavailable(
                "the token endpoint's answer has no access_token".into(),
            ));
        };
        let mut authorization = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| unavailable("the token endpoint sent an unusable token".into()))?;
        authorization.set_sensitive(true);
        let lifetime = lifetime(expires_in);
        tracing::debug!(provider = %provider, secs = lifetime.as_secs(), "access token minted");
        Ok(Token {
            authorization,
            // Counted from before the request, so the cache never outlives the token.
            expires: started + lifetime,
        })
    }
}

/// A token's lifetime when the answer does not say (Google's is an hour).
const ASSUMED_LIFETIME: u64 = 3600;

/// The longest lifetime believed: a day (an endpoint's odd `expires_in` must not
/// keep a token for ever, nor overflow the clock).
const LONGEST_LIFETIME: u64 = 86_400;

/// How long a token with `expires_in` is kept.
fn lifetime(expires_in: Option<u64>) -> Duration {
    Duration::from_secs(expires_in.unwrap_or(ASSUMED_LIFETIME).min(LONGEST_LIFETIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_odd_expires_in_is_bounded() {
        assert_eq!(lifetime(None), Duration::from_secs(3600));
        assert_eq!(lifetime(Some(299)), Duration::from_secs(299));
        assert_eq!(lifetime(Some(u64::MAX)), Duration::from_secs(86_400));
        let _ = Instant::now() + lifetime(Some(u64::MAX));
    }

    #[test]
    fn a_token_is_replaced_before_it_expires_and_kept_to_the_end_on_failure() {
        let now = Instant::now();
        let token = Token {
            authorization: HeaderValue::from_static("Bearer t"),
            expires: now + Duration::from_secs(600),
        };
        assert!(token.good_at(now, REFRESH_EARLY));
        let late = now + Duration::from_secs(301);
        assert!(!token.good_at(late, REFRESH_EARLY), "refreshed 5 min early");
        assert!(
            token.good_at(late, Duration::ZERO),
            "still usable meanwhile"
        );
        assert!(!token.good_at(now + Duration::from_secs(600), Duration::ZERO));
    }
}
