//! The key check and the limiter as tower layers in front of a plain `service_fn`:
//! what reaches the inner service, what is refused with which status and headers,
//! and what happens to reservations.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use gateway_auth::layer::{JsonReject, KeySources, Operator};
use gateway_auth::{
    AdminToken, Admission, DeclaredKey, Entry, Estimate, Exempt, KeyLayer, Keys, LimitLayer,
    Limits, MemoryLimiter,
};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

type Body = Full<Bytes>;

fn keys() -> Arc<Keys> {
    Arc::new(Keys::new(
        &[DeclaredKey::from_secret(
            "app",
            "pbk_app",
            vec!["*".to_owned()],
        )],
        None,
    ))
}

/// An inner service that says whose request it got.
async fn echo_identity(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let name = req
        .extensions()
        .get::<Arc<Entry>>()
        .map_or("nobody".to_owned(), |e| e.name.clone());
    Ok(Response::new(Full::from(name)))
}

fn request(auth: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().uri("/anything");
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.body(Full::default()).unwrap()
}

async fn text(resp: Response<Body>) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn the_key_layer_passes_known_keys_with_their_entry_and_refuses_the_rest() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let mut svc = ServiceBuilder::new()
        .layer(KeyLayer::new(keys(), KeySources::AnyShape, JsonReject))
        .service(service_fn(move |req| {
            counted.fetch_add(1, Ordering::Relaxed);
            echo_identity(req)
        }));

    let ok = svc
        .ready()
        .await
        .unwrap()
        .call(request(Some("Bearer pbk_app")))
        .await;
    let ok = ok.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(text(ok).await, "app");

    for (auth, message) in [
        (None, "no API key"),
        (Some("Bearer pbk_nope"), "invalid API key"),
        (Some("Basic cGJrX2FwcA=="), "no API key"),
    ] {
        let resp = svc
            .ready()
            .await
            .unwrap()
            .call(request(auth))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        let body: serde_json::Value = serde_json::from_str(&text(resp).await).unwrap();
        assert_eq!(body["error"]["type"], "authentication_error");
        let said = body["error"]["message"].as_str().unwrap();
        assert!(said.contains(message), "{auth:?}: {said}");
    }
    assert_eq!(
        calls.load(Ordering::Relaxed),
        1,
        "refused requests never go inward"
    );
}

#[tokio::test]
async fn an_admin_token_guards_a_service_with_bearer_only() {
    let token = Arc::new(AdminToken::from_plain("pba_secret"));
    let mut svc = ServiceBuilder::new()
        .layer(KeyLayer::new(token, KeySources::BearerOnly, JsonReject))
        .service(service_fn(|req: Request<Body>| async move {
            let who = req.extensions().get::<Operator>().copied();
            Ok::<_, Infallible>(Response::new(Full::from(format!("{who:?}"))))
        }));
    let ok = svc
        .ready()
        .await
        .unwrap()
        .call(request(Some("Bearer pba_secret")));
    assert_eq!(text(ok.await.unwrap()).await, "Some(Operator)");
    let mut other_form = request(None);
    other_form
        .headers_mut()
        .insert("x-api-key", "pba_secret".parse().unwrap());
    let refused = svc.ready().await.unwrap().call(other_form).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

/// A database-style entry with limits, put in the extensions as the key layer would.
fn limited_entry(limits: Limits) -> Arc<Entry> {
    let keys = Keys::new(
        &[DeclaredKey::from_secret("l", "pbk_l", vec!["*".into()])],
        None,
    );
    let mut entry = (*keys.authenticate("pbk_l").unwrap()).clone();
    entry.policy.limits = limits;
    Arc::new(entry)
}

fn with_entry(entry: &Arc<Entry>) -> Request<Body> {
    let mut req = request(None);
    req.extensions_mut().insert(entry.clone());
    req
}

#[tokio::test]
async fn the_limit_layer_admits_exactly_the_rate_and_answers_429_with_headers() {
    let limiter = Arc::new(MemoryLimiter::new());
    let mut svc = ServiceBuilder::new()
        .layer(LimitLayer::new(limiter, JsonReject))
        .service(service_fn(echo_identity));
    let entry = limited_entry(Limits {
        rpm: Some(3),
        ..Limits::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let resp = svc
            .ready()
            .await
            .unwrap()
            .call(with_entry(&entry))
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            let h = resp.headers();
            assert!(h.contains_key("retry-after"));
            assert_eq!(h["x-ratelimit-limit-requests"], "3");
            assert_eq!(h["x-ratelimit-remaining-requests"], "0");
            assert_eq!(h["x-patchbay-limit"], "key.rpm");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);

    // No entry (another identity or none) and exempt requests are not counted.
    let resp = svc
        .ready()
        .await
        .unwrap()
        .call(request(None))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut exempt = with_entry(&entry);
    exempt.extensions_mut().insert(Exempt);
    let resp = svc.ready().await.unwrap().call(exempt).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn reservations_are_settled_by_the_inner_service_or_at_the_estimate() {
    let limiter = Arc::new(MemoryLimiter::new());
    let entry = limited_entry(Limits {
        daily_output_tokens: Some(100),
        ..Limits::default()
    });
    let estimate = Estimate {
        input_tokens: 0,
        output_tokens: 60,
        cost_micros: None,
    };
    let call = |settle_with: Option<u64>| {
        let limiter = limiter.clone();
        let mut req = with_entry(&entry);
        req.extensions_mut().insert(estimate);
        async move {
            let svc = ServiceBuilder::new()
                .layer(LimitLayer::new(limiter, JsonReject))
                .service(service_fn(move |req: Request<Body>| async move {
                    if let Some(tokens) = settle_with {
                        let admission = req.extensions().get::<Admission>().unwrap();
                        assert_eq!(admission.estimate().output_tokens, 60);
                        let actual = gateway_auth::Actual {
                            output_tokens: tokens,
                            ..Default::default()
                        };
                        admission
                            .take()
                            .unwrap()
                            .settle(&actual, gateway_auth::cache::now_ms());
                        assert!(admission.take().is_none(), "taken once");
                    }
                    Ok::<_, Infallible>(Response::new(Body::default()))
                }));
            svc.oneshot(req).await.unwrap().status().as_u16()
        }
    };
    // Settled at 10 by the inner service: 90 left, so a 60-token estimate passes.
    assert_eq!(call(Some(10)).await, 200);
    // Not taken: charged at the estimate (60) when the request is gone: 10 + 60 = 70.
    assert_eq!(call(None).await, 200);
    // 30 left: a 60-token estimate is refused.
    assert_eq!(call(None).await, 429);
}

/// A limiter on a "shared store": the in-memory one, answered after a wait, as a
/// round trip to Redis would be. It counts the admissions that waited.
struct Remote {
    local: Arc<MemoryLimiter>,
    waited: Arc<AtomicUsize>,
}

impl gateway_auth::Limiter for Remote {
    fn admit(
        &self,
        subject: &gateway_auth::Subject,
        key: &Limits,
        project: Option<&Limits>,
        estimate: &Estimate,
        now_ms: i64,
    ) -> Result<gateway_auth::Reservation, gateway_auth::Refused> {
        self.local.admit(subject, key, project, estimate, now_ms)
    }

    fn admission(
        &self,
        subject: &gateway_auth::Subject,
        key: &Limits,
        project: Option<&Limits>,
        estimate: &Estimate,
        now_ms: i64,
    ) -> gateway_auth::Admit {
        let (local, waited) = (self.local.clone(), self.waited.clone());
        let (subject, key, project, estimate) =
            (subject.clone(), key.clone(), project.cloned(), *estimate);
        gateway_auth::Admit::Later(Box::pin(async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            waited.fetch_add(1, Ordering::SeqCst);
            local.admit(&subject, &key, project.as_ref(), &estimate, now_ms)
        }))
    }

    fn status(
        &self,
        subject: &gateway_auth::Subject,
        key: &Limits,
        project: Option<&Limits>,
        now_ms: i64,
    ) -> gateway_auth::LimitStatus {
        self.local.status(subject, key, project, now_ms)
    }

    fn usage(
        &self,
        scope: gateway_auth::Scope,
        id: &str,
        limits: &Limits,
        now_ms: i64,
    ) -> Vec<gateway_auth::LimitUsage> {
        self.local.usage(scope, id, limits, now_ms)
    }
}

#[tokio::test]
async fn a_limiter_that_answers_later_admits_and_refuses_the_same_way() {
    let waited = Arc::new(AtomicUsize::new(0));
    let limiter = Arc::new(Remote {
        local: Arc::new(MemoryLimiter::new()),
        waited: waited.clone(),
    });
    let reached = Arc::new(AtomicUsize::new(0));
    let counted = reached.clone();
    let mut svc = ServiceBuilder::new()
        .layer(LimitLayer::new(limiter, JsonReject))
        .service(service_fn(move |req: Request<Body>| {
            let counted = counted.clone();
            async move {
                // A limited request's admission is in the extensions by the time the
                // inner service runs.
                let limited = req.extensions().get::<Arc<Entry>>().is_some();
                assert_eq!(req.extensions().get::<Admission>().is_some(), limited);
                counted.fetch_add(1, Ordering::SeqCst);
                echo_identity(req).await
            }
        }));
    let entry = limited_entry(Limits {
        rpm: Some(2),
        ..Limits::default()
    });
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let resp = svc
            .ready()
            .await
            .unwrap()
            .call(with_entry(&entry))
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(resp.headers()["x-patchbay-limit"], "key.rpm");
        }
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    assert_eq!(waited.load(Ordering::SeqCst), 4, "every admission waited");
    assert_eq!(
        reached.load(Ordering::SeqCst),
        2,
        "refused ones never reach in"
    );
    // Unlimited requests skip the store entirely.
    let resp = svc
        .ready()
        .await
        .unwrap()
        .call(request(None))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(waited.load(Ordering::SeqCst), 4);
}
