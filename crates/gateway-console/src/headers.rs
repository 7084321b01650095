//! The security headers on every answer the console's gate gives, pages, assets and
//! API answers alike.
//!
//! The Content-Security-Policy allows only this origin's scripts, styles and
//! connections (no inline script or style element, no `eval`), `data:` images, no
//! plugins, no framing, no `<base>`, forms posting only here. Under TLS,
//! `Strict-Transport-Security` keeps the browser on HTTPS for a year.

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// The Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `Strict-Transport-Security` under TLS.
pub const HSTS: &str = "max-age=31536000";

/// The headers, by name and value (HSTS only when `tls`).
pub fn list(tls: bool) -> Vec<(HeaderName, &'static str)> {
    let mut out = vec![
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ),
    ];
    if tls {
        out.push((header::STRICT_TRANSPORT_SECURITY, HSTS));
    }
    out
}

/// Sets the headers on `headers`, replacing any already there.
pub fn apply(headers: &mut HeaderMap, tls: bool) {
    for (name, value) in list(tls) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_is_strict() {
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "object-src 'none'",
        ] {
            assert!(
                CSP.split("; ").any(|d| d == directive),
                "{directive} missing"
            );
        }
        for loose in ["unsafe-inline", "unsafe-eval", "*", "http:", "https:"] {
            assert!(!CSP.contains(loose), "{loose} in the policy");
        }
    }

    #[test]
    fn hsts_only_under_tls() {
        let mut plain = HeaderMap::new();
        apply(&mut plain, false);
        assert!(plain.get(header::STRICT_TRANSPORT_SECURITY).is_none());
        assert_eq!(plain[header::X_FRAME_OPTIONS], "DENY");
        let mut tls = HeaderMap::new();
        apply(&mut tls, true);
        assert_eq!(tls[header::STRICT_TRANSPORT_SECURITY], HSTS);
    }
}
