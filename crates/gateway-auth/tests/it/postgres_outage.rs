//! PostgreSQL going away mid-run and coming back: keys the store already holds keep
//! working from its cache, usage records wait in the writer's queue and are all
//! written once the database is reachable again. The outage is a cut in the network:
//! the store reaches the real server through a relay this test can cut and restore.

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

#[test]
fn an_outage_loses_no_usage_and_known_keys_keep_working() {
    let Ok(url) = std::env::var("PATCHBAY_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("PATCHBAY_REQUIRE_SERVICES").is_none(),
            "PATCHBAY_REQUIRE_SERVICES is set but PATCHBAY_TEST_POSTGRES is not"
        );
        eprintln!("skipped: PATCHBAY_TEST_POSTGRES is not set");
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
    let (writer, thread) = UsageWriter::start_on(
        Box::new(usage.clone()),
        WriterConfig {
            batch_window: Duration::from_millis(20),
            retry_max: Duration::from_millis(200),
            give_up_after: Duration::from_secs(20),
            ..WriterConfig::default()
        },
    )
    .unwrap();
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
