//! Upstream failures as `GatewayError`s: transport errors, and the `retry-after`
//! delay an error answer asks for.

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use gateway_protocol::calendar::{self, Date};
use gateway_protocol::{ErrorKind, GatewayError};
use http::HeaderMap;

use crate::client::SendError;
use crate::plain::PlainError;

/// A failure before the response headers arrived, as the caller sees it: the
/// provider's configured name and the kind of failure, never its host, address, port
/// or URL (the caller did not choose them, and they map the operator's network). The
/// whole error chain goes to the log for the operator.
pub(crate) fn before_headers(err: &SendError, provider: &str, host: &str) -> GatewayError {
    let transport = Transport::of(err.as_error());
    tracing::warn!(
        provider,
        host,
        error = %chain(err.as_error()),
        "upstream request failed before an answer"
    );
    if transport == Transport::TimedOut {
        return GatewayError::new(
            ErrorKind::UpstreamTimeout,
            format!("provider `{provider}` could not be reached in time (timeouts.connect_ms)"),
        );
    }
    if err.is_connect() {
        return GatewayError::new(
            ErrorKind::Upstream,
            format!(
                "provider `{provider}` is unreachable: {}",
                transport.describe()
            ),
        );
    }
    GatewayError::new(
        ErrorKind::Upstream,
        format!(
            "the request to provider `{provider}` failed: {}",
            transport.describe()
        ),
    )
}

/// The kind of a transport failure, found down an error chain. Its words are fixed
/// text for callers: the errors themselves may name hosts and addresses (a TLS
/// certificate's names, a resolver's message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// A connect or I/O time limit passed.
    TimedOut,
    /// The host name did not resolve.
    Dns,
    /// The server's TLS certificate was not accepted.
    TlsCertificate,
    /// The TLS handshake or session failed otherwise.
    Tls,
    /// Nothing listens there.
    Refused,
    /// The peer reset or aborted the connection.
    Reset,
    /// No route to the host or network.
    Unreachable,
    /// The connection closed before a complete message.
    Closed,
    /// Anything else.
    Other,
}

impl Transport {
    /// The first recognised failure down `err`'s chain, outermost first (a
    /// resolver's failure is wrapped as "dns error" above its own cause).
    pub(crate) fn of(err: &(dyn Error + 'static)) -> Transport {
        let mut source = Some(err);
        while let Some(e) = source {
            if let Some(kind) = Transport::one(e) {
                return kind;
            }
            source = e.source();
        }
        Transport::Other
    }

    fn one(e: &(dyn Error + 'static)) -> Option<Transport> {
        use std::io::ErrorKind as Io;
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            // An error wrapped in an I/O error (rustls's, by tokio-rustls) is not
            // its `source()`: look inside.
            if let Some(kind) = io.get_ref().and_then(|inner| Transport::one(inner)) {
                return Some(kind);
            }
            return match io.kind() {
                Io::TimedOut => Some(Transport::TimedOut),
                Io::ConnectionRefused => Some(Transport::Refused),
                Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe => {
                    Some(Transport::Reset)
                }
                Io::HostUnreachable | Io::NetworkUnreachable | Io::AddrNotAvailable => {
                    Some(Transport::Unreachable)
                }
                _ => None,
            };
        }
        if let Some(plain) = e.downcast_ref::<PlainError>() {
            match plain {
                PlainError::Dns(_) => return Some(Transport::Dns),
                PlainError::ConnectTimeout => return Some(Transport::TimedOut),
                // The cause, next in the chain, says more.
                PlainError::Connect(_) | PlainError::Http(_) => return None,
            }
        }
        if let Some(tls) = e.downcast_ref::<tokio_rustls::rustls::Error>() {
            return Some(match tls {
                tokio_rustls::rustls::Error::InvalidCertificate(_) => Transport::TlsCertificate,
                _ => Transport::Tls,
            });
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_timeout() {
                return Some(Transport::TimedOut);
            }
            if hyper.is_incomplete_message() || hyper.is_closed() {
                return Some(Transport::Closed);
            }
            return None;
        }
        // hyper-util's connector error type is private; its text is fixed.
        (e.to_string() == "dns error").then_some(Transport::Dns)
    }

    /// The failure in words, for callers.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Transport::TimedOut => "it timed out",
            Transport::Dns => "its host name did not resolve (DNS)",
            Transport::TlsCertificate => "its TLS certificate was rejected",
            Transport::Tls => "the TLS handshake failed",
            Transport::Refused => "the connection was refused",
            Transport::Reset => "the connection was reset",
            Transport::Unreachable => "there is no route to it",
            Transport::Closed => "the connection closed before a complete answer",
            Transport::Other => "the connection failed",
        }
    }
}

/// Every message down an error chain, `: `-separated, for the operator's log. Hosts
/// and addresses may be in it; callers never see it.
pub(crate) fn chain(err: &(dyn Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
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
    struct Wrap(&'static str, std::io::Error);

    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn transport_failures_are_found_down_the_chain_and_described_without_the_host() {
        use std::io::{Error as IoError, ErrorKind as Io};
        let tcp = |kind, text: &str| Wrap("tcp connect error", IoError::new(kind, text.to_owned()));
        let cases = [
            (
                tcp(Io::TimedOut, "deadline has elapsed"),
                Transport::TimedOut,
            ),
            (
                tcp(Io::ConnectionRefused, "Connection refused"),
                Transport::Refused,
            ),
            (
                tcp(Io::ConnectionReset, "reset by 10.0.0.5:8080"),
                Transport::Reset,
            ),
            (
                // The resolver's own text names the host; only the wrapper's kind counts.
                Wrap(
                    "dns error",
                    IoError::other("failed to lookup address for upstream.internal"),
                ),
                Transport::Dns,
            ),
            (
                Wrap(
                    "tls",
                    IoError::new(
                        Io::InvalidData,
                        tokio_rustls::rustls::Error::InvalidCertificate(
                            tokio_rustls::rustls::CertificateError::UnknownIssuer,
                        ),
                    ),
                ),
                Transport::TlsCertificate,
            ),
            (tcp(Io::Other, "10.0.0.5:8080 went away"), Transport::Other),
        ];
        for (err, want) in cases {
            assert_eq!(Transport::of(&err), want, "{err}");
            let said = want.describe();
            assert!(!said.contains("10.0.0.5") && !said.contains("upstream.internal"));
        }
        let chained = chain(&tcp(Io::ConnectionRefused, "Connection refused"));
        assert_eq!(chained, "tcp connect error: Connection refused");
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
