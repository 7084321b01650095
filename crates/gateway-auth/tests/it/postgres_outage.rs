//! PostgreSQL going away mid-run and coming back: keys the store already holds keep
//! working from its cache, usage records wait in the writer's queue and are all
//! written once the database is reachable again. Two outages: a cut in the network
//! (the store reaches the shared test server through a relay this test cuts and
//! restores), and the server itself stopped and started again (a private one, from
//! `scripts/services`, so other tests keep theirs).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gateway_auth::usage::{LogQuery, UsageFilter, UsageReader, UsageWriter, WriterConfig};
use gateway_auth::{KeyPolicy, KeyStore, NewKey};
use gateway_postgres::{PgKeys, PgUsage, Postgres, PostgresOptions};
use tokio::net::{TcpListener, TcpStream};

use crate::usage::{FEB_1, record};

/// A TCP relay to the database that can refuse to carry anything.
struct Relay {
    port: u16,
    down: Arc<AtomicBool>,
    _runtime: tokio::runtime::Runtime,
}

impl Relay {
    fn start(target: String) -> Relay {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let flag = Arc::clone(&down);
        runtime.spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if flag.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let target = target.clone();
                let flag = Arc::clone(&flag);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while !flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    };
                    tokio::select! {
                        _ = copy => {}
                        _ = cut => {}
                    }
                });
            }
        });
        Relay {
            port,
            down,
            _runtime: runtime,
        }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// The shared test server's URL, or `None` (the test is skipped).
fn test_server() -> Option<String> {
    let url = std::env::var("PATCHBAY_TEST_POSTGRES").ok();
    if url.is_none() {
        assert!(
            std::env::var_os("PATCHBAY_REQUIRE_SERVICES").is_none(),
            "PATCHBAY_REQUIRE_SERVICES is set but PATCHBAY_TEST_POSTGRES is not"
        );
        eprintln!("skipped: PATCHBAY_TEST_POSTGRES is not set");
    }
    url
}

/// A PostgreSQL server of this test's own, from `scripts/services`, stopped (and its
/// files removed) on drop.
struct PrivateServer {
    dir: std::path::PathBuf,
    url: String,
}

impl PrivateServer {
    fn script(dir: &std::path::Path, action: &str) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/services");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(action)
            .env("PATCHBAY_SERVICES_DIR", dir)
            .env("PATCHBAY_SERVICES", "postgres")
            .output()
            .unwrap();
        assert!(out.status.success(), "services {action}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn start() -> PrivateServer {
        let dir = std::env::temp_dir().join(format!("pb-pg-outage-{}", std::process::id()));
        let printed = PrivateServer::script(&dir, "start");
        let url = printed
            .lines()
            .find_map(|l| l.strip_prefix("export PATCHBAY_TEST_POSTGRES="))
            .expect("a PostgreSQL URL")
            .to_owned();
        PrivateServer { dir, url }
    }

    fn pause(&self) {
        PrivateServer::script(&self.dir, "pause-postgres");
    }

    fn resume(&self) {
        PrivateServer::script(&self.dir, "start");
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../scripts/services"
            ))
            .arg("stop")
            .env("PATCHBAY_SERVICES_DIR", &self.dir)
            .output();
    }
}

#[test]
fn a_stopped_and_restarted_server_loses_no_usage() {
    // Needs the PostgreSQL the test services come from.
    if test_server().is_none() {
        return;
    }
    let server = PrivateServer::start();
    let options = PostgresOptions {
        timeout: Duration::from_millis(500),
        ..PostgresOptions::default()
    };
    let pg = Postgres::connect(&server.url, &options).unwrap();
    let keys = KeyStore::over(Arc::new(PgKeys::new(pg.clone())), KeyPolicy::default()).unwrap();
    let (_, secret) = keys
        .create(NewKey {
            name: "restart".into(),
            ..NewKey::default()
        })
        .unwrap();
    let usage = PgUsage::new(pg.clone());
    let (writer, thread) = UsageWriter::start_on(Box::new(usage.clone()), outage_config()).unwrap();
    for i in 0..100 {
        assert!(writer.record(record(i, FEB_1 + i as i64)));
    }
    assert!(writer.flush());

    server.pause();
    for i in 100..400 {
        assert!(writer.record(record(i, FEB_1 + i as i64)));
    }
    std::thread::sleep(Duration::from_millis(800));
    assert!(keys.authenticate(&secret).is_ok(), "served from the cache");
    let during = writer.stats();
    assert!(during.retried > 0 && during.written <= 100, "{during:?}");

    server.resume();
    assert!(writer.flush(), "the queued records were written");
    assert!(writer.shutdown());
    let stats = thread.join();
    assert_eq!((stats.written, stats.failed, stats.dropped), (400, 0, 0));
    let all = UsageFilter {
        from_ms: 0,
        to_ms: i64::MAX,
        ..UsageFilter::default()
    };
    assert_eq!(usage.totals(&all, None).unwrap()[0].totals.requests, 400);
    // The pool's connections were replaced: key changes work again.
    keys.revoke("restart").unwrap();
    assert!(keys.authenticate(&secret).is_err());
}

/// Batches that fail are retried every 200 ms at most; shutdown waits 20 s for them.
fn outage_config() -> WriterConfig {
    WriterConfig {
        batch_window: Duration::from_millis(20),
        retry_max: Duration::from_millis(200),
        give_up_after: Duration::from_secs(20),
        ..WriterConfig::default()
    }
}

#[test]
fn an_outage_loses_no_usage_and_known_keys_keep_working() {
    let Some(url) = test_server() else {
        return;
    };
    // postgres://user@host:port/db → the relay's address in its place.
    let (head, rest) = url.split_once('@').unwrap();
    let (target, db) = rest.split_once('/').unwrap();
    let relay = Relay::start(target.to_owned());
    let via_relay = format!("{head}@127.0.0.1:{}/{db}", relay.port);
    let options = PostgresOptions {
        schema: Some(format!("outage_{}", std::process::id())),
        timeout: Duration::from_millis(500),
        ..PostgresOptions::default()
    };
    let pg = Postgres::connect(&via_relay, &options).unwrap();
    pg.batch_execute("TRUNCATE requests, usage_hourly").unwrap();
    let keys = KeyStore::over(Arc::new(PgKeys::new(pg.clone())), KeyPolicy::default()).unwrap();
    let (_, secret) = keys
        .create(NewKey {
            name: format!("outage-{}", gateway_auth::cache::now_ms()),
            ..NewKey::default()
        })
        .unwrap();
    let usage = PgUsage::new(pg.clone());
    let (writer, thread) = UsageWriter::start_on(Box::new(usage.clone()), outage_config()).unwrap();
    for i in 0..100 {
        assert!(writer.record(record(i, FEB_1 + i as i64)));
    }
    assert!(writer.flush());

    relay.cut();
    for i in 100..600 {
        assert!(writer.record(record(i, FEB_1 + i as i64)));
    }
    std::thread::sleep(Duration::from_millis(1_000));
    // The key is served from the cache; a refresh fails without emptying it.
    assert!(keys.refresh_if_changed().is_err());
    assert!(keys.authenticate(&secret).is_ok());
    let queued = writer.stats();
    assert!(queued.retried > 0, "{queued:?}");
    assert!(queued.written <= 100, "{queued:?}");

    relay.restore();
    assert!(writer.flush(), "the queued records were written");
    assert!(writer.shutdown());
    let stats = thread.join();
    assert_eq!((stats.written, stats.failed, stats.dropped), (600, 0, 0));
    let all = UsageFilter {
        from_ms: 0,
        to_ms: i64::MAX,
        ..UsageFilter::default()
    };
    assert_eq!(usage.totals(&all, None).unwrap()[0].totals.requests, 600);
    let newest = usage.request_log(&LogQuery::default()).unwrap();
    assert_eq!(newest.entries[0].record.request_id, "req_599");
}
