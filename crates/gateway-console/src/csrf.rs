//! CSRF: a change made with the session cookie must also carry the session's CSRF
//! token in `x-csrf-token`. Another site's page can make the browser send the cookie
//! (were it not `SameSite=Strict`) but cannot read the token, which only the console's
//! own page gets (from `GET /console/session`, same-origin). Reads (`GET`, `HEAD`)
//! change nothing and need no token.

use http::{HeaderMap, Method};

use crate::random;

/// The header the page sends the token in.
pub const HEADER: &str = "x-csrf-token";

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `x-csrf-token`.
    Missing,
    /// An `x-csrf-token` that is not this session's.
    Wrong,
}

impl Refusal {
    /// What to tell the caller.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => {
                "a change made with the console's session needs its CSRF token in `x-csrf-token`"
            }
            Refusal::Wrong => {
                "the `x-csrf-token` is not this session's (reload the console, or log in again)"
            }
        }
    }
}

/// Whether `method` can change anything (and so needs the token).
pub fn is_change(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks a request of `method` with `headers` against the session's token.
pub fn check(method: &Method, headers: &HeaderMap, token: &str) -> Result<(), Refusal> {
    if !is_change(method) {
        return Ok(());
    }
    let presented = headers.get(HEADER).ok_or(Refusal::Missing)?;
    if random::same(presented.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(Refusal::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(token: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(t) = token {
            h.insert(HEADER, HeaderValue::from_static(t));
        }
        h
    }

    #[test]
    fn changes_need_the_sessions_token() {
        let token = "0123abcd";
        assert_eq!(
            check(&Method::POST, &with(None), token),
            Err(Refusal::Missing)
        );
        assert_eq!(
            check(&Method::PATCH, &with(Some("0123abce")), token),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            check(&Method::DELETE, &with(Some("0123abcd0")), token),
            Err(Refusal::Wrong),
            "a longer token is not a match"
        );
        assert_eq!(
            check(&Method::POST, &with(Some("")), token),
            Err(Refusal::Wrong)
        );
        assert_eq!(check(&Method::POST, &with(Some("0123abcd")), token), Ok(()));
        assert_eq!(check(&Method::PUT, &with(Some("0123abcd")), token), Ok(()));
    }

    #[test]
    fn reads_need_none() {
        assert_eq!(check(&Method::GET, &with(None), "t"), Ok(()));
        assert_eq!(check(&Method::HEAD, &with(Some("x")), "t"), Ok(()));
    }
}
