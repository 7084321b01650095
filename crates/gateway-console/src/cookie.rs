//! The session cookie: its name, the `Set-Cookie` that starts and ends it, and
//! reading it back from a request.
//!
//! `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page sends it),
//! `Path=/`, no `Domain` (this host only). Under TLS it is also `Secure` and named with
//! the `__Host-` prefix, which browsers accept only with `Secure`, `Path=/` and no
//! `Domain`, so a neighbouring host cannot plant one.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, header};

/// The cookie's name over plain HTTP.
pub const NAME: &str = "patchbay_console";
/// The cookie's name over HTTPS.
pub const NAME_TLS: &str = "__Host-patchbay_console";

/// The cookie's name on a listener with or without TLS.
pub fn name(tls: bool) -> &'static str {
    if tls { NAME_TLS } else { NAME }
}

fn attributes(tls: bool) -> &'static str {
    if tls {
        "; HttpOnly; SameSite=Strict; Path=/; Secure"
    } else {
        "; HttpOnly; SameSite=Strict; Path=/"
    }
}

/// The `Set-Cookie` value that starts session `id`, kept by the browser for `max_age`.
pub fn set(id: &str, max_age: Duration, tls: bool) -> HeaderValue {
    let value = format!(
        "{}={id}{}; Max-Age={}",
        name(tls),
        attributes(tls),
        max_age.as_secs()
    );
    // The id is hex: always a valid header value.
    HeaderValue::try_from(value).unwrap_or_else(|_| clear(tls))
}

/// The `Set-Cookie` value that makes the browser drop the cookie.
pub fn clear(tls: bool) -> HeaderValue {
    let value = if tls {
        "__Host-patchbay_console=; HttpOnly; SameSite=Strict; Path=/; Secure; Max-Age=0"
    } else {
        "patchbay_console=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    };
    HeaderValue::from_static(value)
}

/// The session id the request's `Cookie` headers carry, if any (the first non-empty
/// one under this listener's name).
pub fn read(headers: &HeaderMap, tls: bool) -> Option<&str> {
    let want = name(tls);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == want && !v.is_empty())
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_host_wide() {
        let set = set("abc123", Duration::from_secs(43200), false);
        let set = set.to_str().unwrap();
        assert_eq!(
            set,
            "patchbay_console=abc123; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200"
        );
        assert!(!set.contains("Secure"));
        assert!(!set.contains("Domain"));
    }

    #[test]
    fn under_tls_it_is_secure_and_host_prefixed() {
        let set = set("abc123", Duration::from_secs(60), true);
        let set = set.to_str().unwrap();
        assert!(set.starts_with("__Host-patchbay_console=abc123;"));
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
            assert!(set.split("; ").any(|a| a == attr), "{attr} in {set}");
        }
        let clear = clear(true);
        assert!(clear.to_str().unwrap().contains("Max-Age=0"));
        assert!(clear.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn the_session_id_is_read_among_other_cookies() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("theme=dark"));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; patchbay_console=s3cr3t; b=2"),
        );
        assert_eq!(read(&h, false), Some("s3cr3t"));
        assert_eq!(read(&h, true), None, "the TLS name differs");
        let mut empty = HeaderMap::new();
        empty.insert(
            header::COOKIE,
            HeaderValue::from_static("patchbay_console="),
        );
        assert_eq!(read(&empty, false), None);
    }
}
