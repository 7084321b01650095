//! The key layer in front of a database other processes write to: a key the cache
//! does not know waits for a catch-up run on the store's own thread, never the
//! runtime's; many unknown keys share one run; a mutation stuck on another process's
//! write lock holds nobody up.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gateway_auth::cache::now_ms;
use gateway_auth::keys::{CATCH_UP_GAP, NewKey};
use gateway_auth::layer::{JsonReject, KeySources};
use gateway_auth::{Entry, KeyLayer, KeyPolicy, KeyStore, Keys, migrate};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

type Body = Full<Bytes>;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "pb-catch-up-{tag}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn db(&self) -> PathBuf {
        self.0.join("patchbay.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn new_key(name: &str) -> NewKey {
    NewKey {
        name: name.into(),
        ..NewKey::default()
    }
}

/// The server's store and key layer over `db`, with an inner service that names the
/// key it was given.
fn guarded(
    db: PathBuf,
) -> (
    Arc<KeyStore>,
    impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
) {
    let store = Arc::new(KeyStore::open(&db, KeyPolicy::default()).unwrap());
    let keys = Arc::new(Keys::new(&[], Some(store.clone())));
    let svc = ServiceBuilder::new()
        .layer(KeyLayer::new(keys, KeySources::AnyShape, JsonReject))
        .service(service_fn(|req: Request<Body>| async move {
            let name = req.extensions().get::<Arc<Entry>>().unwrap().name.clone();
            Ok::<_, Infallible>(Response::new(Full::from(name)))
        }));
    (store, svc)
}

fn request(key: &str) -> Request<Body> {
    Request::builder()
        .uri("/anything")
        .header("authorization", format!("Bearer {key}"))
        .body(Full::default())
        .unwrap()
}

#[tokio::test]
async fn a_key_made_by_another_process_works_on_its_first_request() {
    let dir = TempDir::new("first");
    let (store, mut svc) = guarded(dir.db());
    let cli = KeyStore::open(&dir.db(), KeyPolicy::default()).unwrap();
    let (_, key) = cli.create(new_key("from-cli")).unwrap();
    assert!(store.cache().authenticate(&key).is_err(), "not seen yet");
    let resp = svc
        .ready()
        .await
        .unwrap()
        .call(request(&key))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(store.catch_ups(), 1);
    // A known key never asks for one.
    svc.ready()
        .await
        .unwrap()
        .call(request(&key))
        .await
        .unwrap();
    assert_eq!(store.catch_ups(), 1);
}

#[tokio::test]
async fn a_flood_of_unknown_keys_costs_one_catch_up_at_a_time() {
    let dir = TempDir::new("flood");
    let (store, mut svc) = guarded(dir.db());
    // Catch-ups are at least `CATCH_UP_GAP` apart, and every request waiting meanwhile
    // shares the next one: over any stretch of time, the runs are bounded by the
    // time, not by the number of requests.
    let t0 = std::time::Instant::now();
    let mut pending = Vec::new();
    for i in 0..500 {
        svc.ready().await.unwrap();
        pending.push(svc.call(request(&format!("pbk_nobody_{i}"))));
    }
    // A waiter that gives up (a caller gone) holds none of the others up.
    drop(pending.pop());
    for resp in futures_util::future::join_all(pending).await {
        assert_eq!(resp.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let gaps = t0.elapsed().as_millis() / CATCH_UP_GAP.as_millis();
    let runs = store.catch_ups();
    assert!(
        runs >= 1 && u128::from(runs) <= gaps + 1,
        "{runs} catch-ups for 500 unknown keys in {gaps} gaps"
    );
    assert!(runs < 100, "{runs} catch-ups for 500 unknown keys");
}

#[tokio::test]
async fn a_mutation_stuck_on_a_locked_database_holds_no_request_up() {
    let dir = TempDir::new("locked");
    let (store, mut svc) = guarded(dir.db());
    let cli = KeyStore::open(&dir.db(), KeyPolicy::default()).unwrap();
    let (_, from_cli) = cli.create(new_key("from-cli")).unwrap();
    let (_, known) = store.create(new_key("known")).unwrap();

    // Another process holds the write lock; a mutation of ours waits on it (up to
    // the 5 s busy timeout), holding the store's writing connection.
    let blocker = migrate::open(&dir.db()).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let writer = store.clone();
    let mutation = std::thread::spawn(move || writer.create(new_key("during-lock")));
    std::thread::sleep(Duration::from_millis(200));

    for (key, status) in [
        (known.as_str(), StatusCode::OK),
        (from_cli.as_str(), StatusCode::OK),
        ("pbk_nobody", StatusCode::UNAUTHORIZED),
    ] {
        let resp = svc.ready().await.unwrap().call(request(key)).await.unwrap();
        assert_eq!(resp.status(), status, "{key}");
    }
    assert!(
        !mutation.is_finished(),
        "answered while the mutation still waited on the lock"
    );
    blocker.execute_batch("ROLLBACK").unwrap();
    mutation.join().unwrap().unwrap();
}
