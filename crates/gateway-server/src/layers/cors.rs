//! Cross-origin access for browser clients (`[server.cors]`): web chat apps that call
//! the gateway from the page (Open WebUI's direct connections, browser builds of the
//! SDKs with `dangerouslyAllowBrowser`) need the browser to let their page read the
//! answers. Off by default: a gateway that lists no origin sends no CORS header, and
//! browsers keep other sites' pages out.
//!
//! Callers authenticate with a key in a header, never a cookie, so no answer allows
//! credentials: a page that can read answers still needs a key to get one. A
//! preflight (`OPTIONS` with `access-control-request-method`) from a listed origin is
//! answered by [`Cors::preflight`] before the key is looked at (browsers send none
//! with it); other answers to a listed origin carry [`Cors::allow`]'s headers.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use crate::respond::{self, Answer};

/// Which origins may read the gateway's answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    origins: Origins,
    max_age: Option<HeaderValue>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Origins {
    /// No CORS header at all.
    #[default]
    None,
    /// Any origin (`*`).
    Any,
    /// These origins, compared byte for byte with the `Origin` header.
    Listed(Vec<HeaderValue>),
}

/// Methods a preflight is told the API takes.
const METHODS: &str = "GET, POST, DELETE, OPTIONS";

/// Why a `[server.cors]` origin is refused.
pub fn check_origin(origin: &str) -> Result<(), String> {
    if origin == "*" {
        return Ok(());
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err(format!(
            "`{origin}` is not an origin: write scheme://host[:port], as `https://chat.example.com`"
        ));
    };
    let host_ok = !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' '])
        && rest.is_ascii()
        && !rest.ends_with(':');
    if !matches!(scheme, "http" | "https") || !host_ok {
        return Err(format!(
            "`{origin}` is not an origin: write scheme://host[:port] with no path or trailing slash, as `https://chat.example.com`"
        ));
    }
    Ok(())
}

impl Cors {
    /// The policy of `origins` (each `"*"` or `scheme://host[:port]`, as checked by
    /// [`check_origin`]), telling browsers to keep a preflight's answer `max_age`.
    pub fn new(origins: &[String], max_age: Duration) -> Result<Cors, String> {
        let mut listed = Vec::new();
        for origin in origins {
            check_origin(origin)?;
            if origin == "*" {
                return Ok(Cors {
                    origins: Origins::Any,
                    max_age: Some(HeaderValue::from(max_age.as_secs())),
                });
            }
            // Browsers send the origin in lower case; so must the list compare.
            let lower = origin.to_ascii_lowercase();
            listed.push(HeaderValue::from_str(&lower).map_err(|e| format!("`{origin}`: {e}"))?);
        }
        if listed.is_empty() {
            return Ok(Cors::default());
        }
        Ok(Cors {
            origins: Origins::Listed(listed),
            max_age: Some(HeaderValue::from(max_age.as_secs())),
        })
    }

    /// Whether any origin is allowed.
    pub fn is_on(&self) -> bool {
        self.origins != Origins::None
    }

    /// The `access-control-allow-origin` value for a request's `Origin`, if allowed.
    fn allowed(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        match &self.origins {
            Origins::None => None,
            Origins::Any => Some(HeaderValue::from_static("*")),
            Origins::Listed(list) => list.iter().any(|o| o == origin).then(|| origin.clone()),
        }
    }

    /// The answer to a preflight from an allowed origin; `None` for anything else
    /// (which goes on as if there were no CORS).
    pub fn preflight(&self, method: &Method, headers: &HeaderMap) -> Option<Answer> {
        if method != Method::OPTIONS || !headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return None;
        }
        let origin = self.allowed(headers)?;
        let mut resp = Response::new(respond::empty());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        // Whatever headers the page's SDK sends (`authorization`, `x-api-key`,
        // `anthropic-version`, `x-stainless-*`, ...): the key still decides.
        if let Some(asked) = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        if let Some(age) = &self.max_age {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        h.insert(
            header::VARY,
            HeaderValue::from_static(
                "origin, access-control-request-method, access-control-request-headers",
            ),
        );
        Some(resp)
    }

    /// The CORS headers an answer to this request carries, if any.
    pub fn allow(&self, headers: &HeaderMap) -> Option<Allow> {
        if !self.is_on() {
            return None;
        }
        Some(Allow {
            origin: self.allowed(headers)?,
            vary: matches!(self.origins, Origins::Listed(_)),
        })
    }
}

/// The CORS headers of one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    origin: HeaderValue,
    /// The answer names the origin, so shared caches must key on it.
    vary: bool,
}

impl Allow {
    /// Puts the headers on an answer: the origin, and every header readable (request
    /// id, rate-limit state, `retry-after`, the gateway's own).
    pub fn decorate(self, headers: &mut HeaderMap) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, self.origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("*"),
        );
        if self.vary {
            headers.append(header::VARY, HeaderValue::from_static("origin"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("authorization, content-type, x-stainless-os"),
        );
        h
    }

    fn listed() -> Cors {
        Cors::new(
            &[
                "https://Chat.example.com".into(),
                "http://localhost:3000".into(),
            ],
            Duration::from_secs(600),
        )
        .unwrap()
    }

    #[test]
    fn a_listed_origin_gets_a_preflight_answer_naming_it() {
        let cors = listed();
        let answer = cors
            .preflight(&Method::OPTIONS, &request("https://chat.example.com"))
            .expect("answered");
        assert_eq!(answer.status(), StatusCode::NO_CONTENT);
        let h = answer.headers();
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://chat.example.com"
        );
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization, content-type, x-stainless-os"
        );
        assert_eq!(h[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
    }

    #[test]
    fn other_origins_and_plain_options_are_not_answered() {
        let cors = listed();
        assert!(
            cors.preflight(&Method::OPTIONS, &request("https://evil.example"))
                .is_none()
        );
        assert!(cors.allow(&request("https://evil.example")).is_none());
        let mut plain = request("https://chat.example.com");
        plain.remove(header::ACCESS_CONTROL_REQUEST_METHOD);
        assert!(cors.preflight(&Method::OPTIONS, &plain).is_none());
        assert!(
            cors.preflight(&Method::POST, &request("https://chat.example.com"))
                .is_none()
        );
        let off = Cors::default();
        assert!(!off.is_on());
        assert!(
            off.preflight(&Method::OPTIONS, &request("http://localhost:3000"))
                .is_none()
        );
        assert!(off.allow(&request("http://localhost:3000")).is_none());
    }

    #[test]
    fn any_origin_is_a_star_without_vary() {
        let cors = Cors::new(&["*".into()], Duration::from_secs(60)).unwrap();
        let mut h = HeaderMap::new();
        cors.allow(&request("https://anything.example"))
            .unwrap()
            .decorate(&mut h);
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(h[header::ACCESS_CONTROL_EXPOSE_HEADERS], "*");
        assert!(h.get(header::VARY).is_none());
        let mut h = HeaderMap::new();
        listed()
            .allow(&request("http://localhost:3000"))
            .unwrap()
            .decorate(&mut h);
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "http://localhost:3000"
        );
        assert_eq!(h[header::VARY], "origin");
    }

    #[test]
    fn origins_must_be_scheme_and_host() {
        for bad in [
            "chat.example.com",
            "https://chat.example.com/",
            "https://chat.example.com/path",
            "ftp://chat.example.com",
            "https://",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
        for good in ["*", "https://chat.example.com", "http://localhost:3000"] {
            assert!(check_origin(good).is_ok(), "{good}");
        }
    }
}
