//! Upstream failures as `GatewayError`s: transport errors, and the `retry-after`
//! delay an error answer asks for.

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use gateway_protocol::calendar::{self, Date};
use gateway_protocol::{ErrorKind, GatewayError};
use http::HeaderMap;

/// A failure before the response headers arrived.
pub(crate) fn before_headers(err: &hyper_util::client::legacy::Error, host: &str) -> GatewayError {
    if is_timeout(err) {
        return GatewayError::new(
            ErrorKind::UpstreamTimeout,
            format!("upstream {host} did not answer in time (timeouts.connect_ms)"),
        );
    }
    if err.is_connect() {
        return GatewayError::new(
            ErrorKind::Upstream,
            format!("could not connect to upstream {host}: {}", cause(err)),
        );
    }
    GatewayError::new(
        ErrorKind::Upstream,
        format!("request to upstream {host} failed: {}", cause(err)),
    )
}

/// Whether a timed-out I/O operation (the connector's connect timeout, or the
/// system's) is somewhere in the chain.
fn is_timeout(err: &(dyn Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// The deepest cause of a client or body error. The client's errors say only their
/// category ("client error (Connect)"); the useful text ("Connection refused", the
/// TLS alert) is at the bottom of the chain. None of it holds the URL (which may
/// carry a key): hyper's errors never include it.
pub(crate) fn cause(err: &(dyn Error + 'static)) -> String {
    let mut deepest = None;
    let mut source = err.source();
    while let Some(s) = source {
        deepest = Some(s);
        source = s.source();
    }
    match deepest {
        Some(s) => s.to_string(),
        None if err.is::<hyper_util::client::legacy::Error>() => "transport error".to_owned(),
        None => err.to_string(),
    }
}

/// The retry delay an answer asks for, in whole seconds: `retry-after-ms`, else
/// `retry-after` as seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<u64> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some((ms / 1000.0).ceil() as u64);
        }
    }
    let value = text("retry-after")?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(at.saturating_sub(now))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
fn parse_http_date(s: &str) -> Option<u64> {
    let mut it = s.split_ascii_whitespace();
    let _weekday = it.next()?;
    let day: u32 = it.next()?.parse().ok()?;
    let month = calendar::month_from_abbrev(it.next()?)?;
    // IMF-fixdate years have four digits; a bound also keeps the arithmetic in range.
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|x| x.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if it.next()? != "GMT"
        || !(0..=9999).contains(&year)
        || !(1..=31).contains(&day)
        || h > 23
        || m > 59
        || sec > 60
    {
        return None;
    }
    let days = Date::new(year, month, day).to_days();
    u64::try_from(days * calendar::SECS_PER_DAY)
        .ok()
        .map(|d| d + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    /// A connector error wrapping an I/O error, as hyper-util's `ConnectError` does.
    #[derive(Debug)]
    struct Wrap(std::io::Error);

    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("tcp connect error")
        }
    }

    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn connect_timeouts_are_found_down_the_chain_and_causes_are_the_deepest_text() {
        use std::io::{Error as IoError, ErrorKind as Io};
        let timed_out = Wrap(IoError::new(Io::TimedOut, "deadline has elapsed"));
        assert!(is_timeout(&timed_out));
        assert_eq!(cause(&timed_out), "deadline has elapsed");
        let refused = Wrap(IoError::new(Io::ConnectionRefused, "Connection refused"));
        assert!(!is_timeout(&refused));
        assert_eq!(cause(&refused), "Connection refused");
        assert_eq!(cause(&IoError::other("cut")), "cut");
    }

    #[test]
    fn retry_after_reads_seconds_ms_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37
        assert_eq!(retry_after(&headers(&[("retry-after", "7")]), now), Some(7));
        assert_eq!(
            retry_after(
                &headers(&[("retry-after-ms", "1500"), ("retry-after", "9")]),
                now
            ),
            Some(2)
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]),
                now
            ),
            Some(30)
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
                now
            ),
            Some(0)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Thu, 29 Feb 2024 00:00:00 GMT")]),
                UNIX_EPOCH + Duration::from_secs(1_709_164_800 - 5)
            ),
            Some(5)
        );
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn retry_after_with_a_huge_year_is_ignored_not_an_overflow() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let huge = "Sun, 06 Nov 9223372036854775807 08:49:37 GMT";
        assert_eq!(retry_after(&headers(&[("retry-after", huge)]), now), None);
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
    }
}
