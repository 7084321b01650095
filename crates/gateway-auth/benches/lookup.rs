//! Criterion bench for the per-request key lookup: SHA-256 of the presented key, one
//! probe of the in-memory table, and a clock read when the key can expire. The table
//! holds 10,000 keys; the goal is ≤ 2 µs on a hit.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gateway_auth::cache::now_ms;
use gateway_auth::keys::digest;
use gateway_auth::{KeyPolicy, KeyStore, NewKey, migrate};
use rusqlite::params;

const KEYS: usize = 10_000;

/// A store with `KEYS` keys. The bulk is inserted in one transaction (creating them
/// one by one through the store would dominate a smoke run of the bench); the keys
/// measured are made by the store itself.
fn store() -> (KeyStore, String, String) {
    let mut conn = migrate::open_in_memory().expect("in-memory database");
    let tx = conn.transaction().expect("transaction");
    let policy = serde_json::to_string(&KeyPolicy::default()).expect("policy as JSON");
    for i in 0..KEYS - 2 {
        let id = format!("bulk{i:06}");
        let plain = format!(
            "pbk_{id}_{:032x}",
            (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        tx.execute(
            "INSERT INTO keys (id, name, prefix, secret_sha256, policy, created_ms, updated_ms) \
             VALUES (?1, ?1, 'pbk_…', ?2, ?3, 0, 0)",
            params![id, digest(&plain), policy],
        )
        .expect("bulk key");
    }
    tx.commit().expect("commit");
    let db = std::sync::Arc::new(gateway_auth::keys::SqliteKeys::with_connection(conn));
    let store = KeyStore::over(db, KeyPolicy::default()).expect("store");
    let (_, plain) = store
        .create(NewKey {
            name: "measured".into(),
            ..NewKey::default()
        })
        .expect("key");
    let (_, expiring) = store
        .create(NewKey {
            name: "expiring".into(),
            expires_ms: Some(now_ms() + 86_400_000),
            ..NewKey::default()
        })
        .expect("key");
    assert_eq!(store.cache().len(), KEYS);
    (store, plain, expiring)
}

fn lookup(c: &mut Criterion) {
    let (store, plain, expiring) = store();
    let cache = store.cache();
    let unknown = format!("pbk_AAAAAAAAAA_{}", "x".repeat(32));
    let mut g = c.benchmark_group("lookup");
    g.bench_function("sha256_only", |b| b.iter(|| digest(black_box(&plain))));
    g.bench_function("hit", |b| {
        b.iter(|| cache.authenticate(black_box(&plain)).expect("valid key"))
    });
    g.bench_function("hit_with_expiry", |b| {
        b.iter(|| cache.authenticate(black_box(&expiring)).expect("valid key"))
    });
    g.bench_function("miss", |b| {
        b.iter(|| {
            cache
                .authenticate(black_box(&unknown))
                .expect_err("unknown key")
        })
    });
    g.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
