//! When to retry an upstream call and how long to wait first.

use std::time::Duration;

use gateway_protocol::{Blame, ErrorKind, GatewayError};

/// Exponential backoff with full jitter: before retry `n` (0-based) wait a uniform
/// random time in `[0, min(cap, base × 2ⁿ)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first step's ceiling.
    pub base: Duration,
    /// The largest ceiling.
    pub cap: Duration,
}

impl Default for Backoff {
    /// 250 ms, doubling, capped at 8 s.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(8),
        }
    }
}

impl Backoff {
    /// The ceiling before retry `attempt` (0-based), without jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry `attempt` (0-based): full jitter under the ceiling.
    pub fn delay(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let ceiling = u64::try_from(self.ceiling(attempt).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rng.u64(0..=ceiling))
    }

    /// The wait before retrying after `err`: the jittered delay, or the upstream's
    /// `retry_after` when that is longer (still capped).
    pub fn delay_after(
        &self,
        err: &GatewayError,
        attempt: u32,
        rng: &mut fastrand::Rng,
    ) -> Duration {
        let jittered = self.delay(attempt, rng);
        match err.retry_after {
            Some(secs) => jittered.max(Duration::from_secs(secs).min(self.cap)),
            None => jittered,
        }
    }
}

/// The jittered wait before retry `attempt` under the default [`Backoff`].
pub fn backoff_delay(attempt: u32, rng: &mut fastrand::Rng) -> Duration {
    Backoff::default().delay(attempt, rng)
}

/// Whether another try (the same target again, or the next one) can help: connect
/// errors, timeouts, 429 and 5xx from upstream. Only meaningful before the first byte
/// reached the caller; after that, nothing is retried. Errors blamed on the caller
/// (bad request, the gateway's own limits) and the gateway's internal errors never are.
pub fn retryable(err: &GatewayError) -> bool {
    if err.blame == Blame::Client || err.kind == ErrorKind::Internal {
        return false;
    }
    matches!(
        err.kind,
        ErrorKind::RateLimited
            | ErrorKind::Overloaded
            | ErrorKind::UpstreamTimeout
            | ErrorKind::Upstream
    ) || err.status == 429
        || (500..600).contains(&err.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_a_doubling_capped_ceiling() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        assert_eq!(b.ceiling(0), Duration::from_millis(100));
        assert_eq!(b.ceiling(3), Duration::from_millis(800));
        assert_eq!(b.ceiling(4), Duration::from_secs(1));
        assert_eq!(b.ceiling(64), Duration::from_secs(1));
        let mut rng = fastrand::Rng::with_seed(7);
        let mut seen_distinct = std::collections::BTreeSet::new();
        for attempt in 0..10 {
            for _ in 0..50 {
                let d = b.delay(attempt, &mut rng);
                assert!(d <= b.ceiling(attempt));
                seen_distinct.insert(d);
            }
        }
        assert!(seen_distinct.len() > 100, "jitter should spread delays");
    }

    #[test]
    fn same_seed_same_delays() {
        let a: Vec<_> = {
            let mut r = fastrand::Rng::with_seed(1);
            (0..5).map(|i| backoff_delay(i, &mut r)).collect()
        };
        let b: Vec<_> = {
            let mut r = fastrand::Rng::with_seed(1);
            (0..5).map(|i| backoff_delay(i, &mut r)).collect()
        };
        assert_eq!(a, b);
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let b = Backoff::default();
        let mut rng = fastrand::Rng::with_seed(3);
        let err = GatewayError::from_upstream(429, "slow down").with_retry_after(2);
        assert!(b.delay_after(&err, 0, &mut rng) >= Duration::from_secs(2));
        let err = err.with_retry_after(3600);
        assert_eq!(b.delay_after(&err, 0, &mut rng), b.cap);
    }

    #[test]
    fn what_is_retryable() {
        for status in [429, 500, 502, 503, 504, 529] {
            assert!(
                retryable(&GatewayError::from_upstream(status, "x")),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 413, 422] {
            assert!(
                !retryable(&GatewayError::from_upstream(status, "x")),
                "{status}"
            );
        }
        let connect = GatewayError::new(ErrorKind::Upstream, "connection refused");
        assert!(retryable(&connect));
        assert!(retryable(&GatewayError::new(
            ErrorKind::UpstreamTimeout,
            "no answer"
        )));
        // The gateway's own rate limit and bugs are not retried upstream.
        assert!(!retryable(&GatewayError::new(
            ErrorKind::RateLimited,
            "key limit"
        )));
        assert!(!retryable(&GatewayError::new(ErrorKind::Internal, "bug")));
    }
}
