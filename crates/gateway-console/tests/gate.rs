//! The gate as the admin listener uses it, with stand-ins for the admin API: which
//! requests reach the API with and without its token check, login and logout, CSRF
//! on changes, the cookie's attributes, and the security headers on every answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use gateway_console::{Answer, Console, MemorySessions, Policy, Sessions, assets, cookie, headers};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{Service, ServiceExt};

const TOKEN: &str = "pba_console_test_token";

/// An API stand-in answering 200 with `who` in `x-served-by`.
fn api(
    who: &'static str,
) -> impl Service<Request<Full<Bytes>>, Response = Answer, Error = Infallible, Future = impl Send>
+ Clone
+ Send
+ 'static {
    tower::service_fn(move |_req: Request<Full<Bytes>>| async move {
        let mut resp = http::Response::new(Full::new(Bytes::from_static(b"{}")).boxed_unsync());
        resp.headers_mut()
            .insert("x-served-by", who.parse().unwrap());
        Ok::<_, Infallible>(resp)
    })
}

struct Harness {
    console: Arc<Console>,
    /// The console's sessions, to count them.
    held: Arc<MemorySessions>,
    tls: bool,
}

impl Harness {
    fn new(tls: bool) -> Harness {
        Harness::with_policy(tls, Policy::default())
    }

    fn with_policy(tls: bool, policy: Policy) -> Harness {
        let held = Arc::new(MemorySessions::default());
        let sessions = Sessions::new(held.clone(), policy);
        Harness {
            console: Arc::new(Console::with_sessions(tls, |t| t == TOKEN, sessions)),
            held,
            tls,
        }
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, Bytes) {
        let gate = self.console.clone().gate(api("keyed"), api("direct"));
        let resp = gate.oneshot(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        (
            parts.status,
            parts.headers,
            body.collect().await.unwrap().to_bytes(),
        )
    }

    fn req(&self, method: Method, path: &str) -> http::request::Builder {
        let host = "127.0.0.1:4001";
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, host)
    }

    /// Logs in: the session id (from `Set-Cookie`) and the CSRF token.
    async fn login(&self) -> (String, String) {
        let req = self
            .req(Method::POST, "/console/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(format!("{{\"token\":\"{TOKEN}\"}}"))))
            .unwrap();
        let (status, headers, body) = self.send(req).await;
        assert_eq!(status, StatusCode::OK);
        let set = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
        let pair = set.split(';').next().unwrap();
        let (name, id) = pair.split_once('=').unwrap();
        assert_eq!(name, cookie::name(self.tls));
        let body: Value = serde_json::from_slice(&body).unwrap();
        (id.to_owned(), body["csrf"].as_str().unwrap().to_owned())
    }

    fn with_cookie(&self, method: Method, path: &str, id: &str) -> http::request::Builder {
        self.req(method, path)
            .header(header::COOKIE, format!("{}={id}", cookie::name(self.tls)))
    }
}

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

fn assert_secure(headers: &HeaderMap, tls: bool, what: &str) {
    for (name, value) in headers::list(tls) {
        assert_eq!(
            headers.get(&name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{name} on {what}"
        );
    }
    assert_eq!(
        headers.contains_key(header::STRICT_TRANSPORT_SECURITY),
        tls,
        "HSTS on {what}"
    );
}

#[tokio::test]
async fn the_page_and_every_asset_carry_the_security_headers() {
    for tls in [false, true] {
        let h = Harness::new(tls);
        let (status, headers, body) = h.send(h.req(Method::GET, "/").body(empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(body, assets::page().bytes);
        assert_secure(&headers, tls, "/");
        for a in assets::ALL {
            let path = format!("/assets/{}", a.name);
            let (status, headers, body) = h
                .send(h.req(Method::GET, &path).body(empty()).unwrap())
                .await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(headers[header::CONTENT_TYPE], a.content_type, "{path}");
            assert_eq!(body, a.bytes, "{path}");
            assert_secure(&headers, tls, &path);
        }
        for missing in ["/assets/nope.js", "/assets/../Cargo.toml", "/favicon.ico"] {
            let (status, headers, _) = h
                .send(h.req(Method::GET, missing).body(empty()).unwrap())
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
            assert_secure(&headers, tls, missing);
        }
        let (status, headers, _) = h
            .send(h.req(Method::POST, "/").body(empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(headers[header::ALLOW], "GET, HEAD");
    }
}

#[tokio::test]
async fn api_answers_through_the_gate_carry_them_too() {
    let h = Harness::new(false);
    let (_, headers, _) = h
        .send(
            h.req(Method::GET, "/admin/keys")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(headers["x-served-by"], "keyed");
    assert_secure(&headers, false, "/admin/keys");
}

#[tokio::test]
async fn login_makes_a_session_cookie_and_a_wrong_token_is_refused() {
    for tls in [false, true] {
        let h = Harness::new(tls);
        let wrong = h
            .req(Method::POST, "/console/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(b"{\"token\":\"guess\"}")))
            .unwrap();
        let (status, headers, body) = h.send(wrong).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "the throttle counts 401s");
        assert!(headers.get(header::SET_COOKIE).is_none());
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["type"], "authentication_error");
        assert!(h.held.is_empty());

        let req = h
            .req(Method::POST, "/console/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(format!("{{\"token\":\"{TOKEN}\"}}"))))
            .unwrap();
        let (status, headers, _) = h.send(req).await;
        assert_eq!(status, StatusCode::OK);
        let set = headers[header::SET_COOKIE].to_str().unwrap();
        let attrs: Vec<&str> = set.split("; ").skip(1).collect();
        for want in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
            assert!(attrs.contains(&want), "{want} in {set}");
        }
        assert_eq!(attrs.contains(&"Secure"), tls, "{set}");
        assert_eq!(h.held.len(), 1);
        assert_secure(&headers, tls, "login");
    }
}

#[tokio::test]
async fn login_takes_only_json_from_this_origin() {
    let h = Harness::new(false);
    let body = || Full::new(Bytes::from(format!("{{\"token\":\"{TOKEN}\"}}")));
    let form = h
        .req(Method::POST, "/console/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body())
        .unwrap();
    assert_eq!(h.send(form).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let elsewhere = h
        .req(Method::POST, "/console/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, "http://evil.example")
        .body(body())
        .unwrap();
    assert_eq!(h.send(elsewhere).await.0, StatusCode::FORBIDDEN);
    let cross_site = h
        .req(Method::POST, "/console/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header("sec-fetch-site", "cross-site")
        .body(body())
        .unwrap();
    assert_eq!(h.send(cross_site).await.0, StatusCode::FORBIDDEN);
    let here = h
        .req(Method::POST, "/console/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, "http://127.0.0.1:4001")
        .header("sec-fetch-site", "same-origin")
        .body(body())
        .unwrap();
    assert_eq!(h.send(here).await.0, StatusCode::OK);
    assert_eq!(h.held.len(), 1);
}

#[tokio::test]
async fn the_session_cookie_opens_the_api_and_changes_need_the_csrf_token() {
    let h = Harness::new(false);
    let (id, csrf) = h.login().await;

    let read = h.with_cookie(Method::GET, "/admin/keys", &id);
    let (status, headers, _) = h.send(read.body(empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["x-served-by"], "direct",
        "the session stands for the token"
    );

    let missing = h.with_cookie(Method::POST, "/admin/keys", &id);
    let (status, _, body) = h.send(missing.body(empty()).unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-csrf-token")
    );

    let wrong = h
        .with_cookie(Method::POST, "/admin/keys/k1/revoke", &id)
        .header("x-csrf-token", "0".repeat(64));
    assert_eq!(
        h.send(wrong.body(empty()).unwrap()).await.0,
        StatusCode::FORBIDDEN
    );

    let another = Harness::new(false);
    let (_, other_csrf) = another.login().await;
    let theirs = h
        .with_cookie(Method::PATCH, "/admin/keys/k1", &id)
        .header("x-csrf-token", other_csrf);
    assert_eq!(
        h.send(theirs.body(empty()).unwrap()).await.0,
        StatusCode::FORBIDDEN,
        "another session's token"
    );

    let right = h
        .with_cookie(Method::POST, "/admin/keys/k1/revoke", &id)
        .header("x-csrf-token", &csrf);
    let (status, headers, _) = h.send(right.body(empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-served-by"], "direct");
}

#[tokio::test]
async fn the_bearer_token_works_as_before_and_no_cookie_means_the_token_check() {
    let h = Harness::new(false);
    let (id, _) = h.login().await;
    // A bearer token wins over a cookie, and needs no CSRF token.
    let both = h
        .with_cookie(Method::POST, "/admin/keys", &id)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    let (_, headers, _) = h.send(both.body(empty()).unwrap()).await;
    assert_eq!(headers["x-served-by"], "keyed");
    let neither = h.req(Method::GET, "/admin/keys");
    let (_, headers, _) = h.send(neither.body(empty()).unwrap()).await;
    assert_eq!(headers["x-served-by"], "keyed", "refused there with 401");
}

#[tokio::test]
async fn logout_ends_the_session_and_an_ended_session_is_refused() {
    let h = Harness::new(false);
    let (id, csrf) = h.login().await;
    let session = |h: &Harness, id: &str| {
        h.with_cookie(Method::GET, "/console/session", id)
            .body(empty())
            .unwrap()
    };
    let (_, _, body) = h.send(session(&h, &id)).await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["authenticated"], true);
    assert_eq!(body["csrf"], csrf.as_str());

    let no_token = h.with_cookie(Method::POST, "/console/logout", &id);
    assert_eq!(
        h.send(no_token.body(empty()).unwrap()).await.0,
        StatusCode::FORBIDDEN,
        "logout is a change too"
    );
    let logout = h
        .with_cookie(Method::POST, "/console/logout", &id)
        .header("x-csrf-token", &csrf);
    let (status, headers, _) = h.send(logout.body(empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(h.held.is_empty());

    let (status, _, body) = h.send(session(&h, &id)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "not a 401: loading the page is no guess"
    );
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["authenticated"], false);

    let after = h.with_cookie(Method::GET, "/admin/keys", &id);
    let (status, headers, _) = h.send(after.body(empty()).unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(headers.get("x-served-by").is_none());
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn an_idle_session_expires() {
    use std::time::Duration;
    let h = Harness::with_policy(
        false,
        Policy {
            idle: Duration::from_millis(50),
            lifetime: Duration::from_secs(60),
            max: 8,
        },
    );
    let (id, _) = h.login().await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    let req = h.with_cookie(Method::GET, "/admin/keys", &id);
    assert_eq!(
        h.send(req.body(empty()).unwrap()).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// A shared store that cannot be reached.
struct Unreachable;

impl gateway_console::SessionStore for Unreachable {
    fn insert(
        &self,
        _: gateway_console::SessionRow,
        _: Policy,
    ) -> gateway_console::session::Pending<()> {
        Box::pin(async { Err(gateway_console::ConsoleError::Store("refused".into())) })
    }
    fn touch(
        &self,
        _: gateway_console::session::IdDigest,
        _: i64,
        _: Policy,
    ) -> gateway_console::session::Pending<Option<String>> {
        Box::pin(async { Err(gateway_console::ConsoleError::Store("refused".into())) })
    }
    fn remove(
        &self,
        _: gateway_console::session::IdDigest,
    ) -> gateway_console::session::Pending<bool> {
        Box::pin(async { Err(gateway_console::ConsoleError::Store("refused".into())) })
    }
}

#[tokio::test]
async fn an_unreachable_session_store_is_a_503_and_the_token_still_works() {
    let sessions = Sessions::new(Arc::new(Unreachable), Policy::default());
    let h = Harness {
        console: Arc::new(Console::with_sessions(false, |t| t == TOKEN, sessions)),
        held: Arc::new(MemorySessions::default()),
        tls: false,
    };
    let login = h
        .req(Method::POST, "/console/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(format!("{{\"token\":\"{TOKEN}\"}}"))))
        .unwrap();
    let (status, headers, body) = h.send(login).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.get(header::SET_COOKIE).is_none());
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["type"], "api_error");

    let with_cookie = h.with_cookie(Method::GET, "/admin/keys", "some-old-session");
    let (status, headers, _) = h.send(with_cookie.body(empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(headers.get("x-served-by").is_none());

    let with_token = h
        .req(Method::GET, "/admin/keys")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(empty())
        .unwrap();
    let (status, headers, _) = h.send(with_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-served-by"], "keyed");
}
