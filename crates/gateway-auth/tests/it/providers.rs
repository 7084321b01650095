//! Runtime providers on every backend: a provider round-trips with its key sealed at
//! rest, a rotation of the master key seals old keys again, and on PostgreSQL a
//! change made by one store is announced to another.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gateway_auth::{KeyChange, MasterKey, Vault};
use serde_json::json;

use crate::backends::Backend;

fn settings(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn providers_round_trip_sealed_and_reseal_after_a_rotation() {
    for b in Backend::all() {
        let db = b.shared();
        let old = MasterKey::from_bytes([1; 32]);
        let s = db.providers(Vault::new(old.clone(), None));
        let put = s
            .put(
                "eu",
                &settings(json!({"preset": "openai", "base_url": "http://127.0.0.1:1/v1"})),
                &KeyChange::Set("sk-0123456789abcdef".into()),
            )
            .unwrap();
        assert_eq!(put.key_hint.as_deref(), Some("…cdef"));
        s.put(
            "mock",
            &settings(json!({"kind": "mock"})),
            &KeyChange::Clear,
        )
        .unwrap();
        let listed = s.list_opened().unwrap();
        let names: Vec<_> = listed.iter().map(|(p, _)| p.name.as_str()).collect();
        assert_eq!(names, ["eu", "mock"]);
        assert_eq!(listed[0].1.as_deref(), Some("sk-0123456789abcdef"));
        assert_eq!(listed[1].1, None);
        let kept = s
            .put(
                "eu",
                &settings(json!({"preset": "openai"})),
                &KeyChange::Keep,
            )
            .unwrap();
        assert_eq!(kept.created_ms, put.created_ms);
        assert_eq!(kept.key_hint.as_deref(), Some("…cdef"));
        drop(s);

        let new = MasterKey::from_bytes([2; 32]);
        let rotated = db.providers(Vault::new(new.clone(), Some(old)));
        assert_eq!(rotated.reseal().unwrap(), 1);
        assert_eq!(rotated.reseal().unwrap(), 0, "nothing left to reseal");
        let only_new = db.providers(Vault::new(new, None));
        assert_eq!(
            only_new.list_opened().unwrap()[0].1.as_deref(),
            Some("sk-0123456789abcdef")
        );
        assert!(only_new.remove("eu").unwrap());
        assert!(!only_new.remove("eu").unwrap());
        assert_eq!(only_new.list().unwrap().len(), 1);
    }
}

#[test]
fn on_postgres_a_change_is_announced_to_the_other_instances() {
    for b in Backend::all() {
        if let Backend::Sqlite = b {
            continue;
        }
        let db = b.shared();
        let vault = || Vault::new(MasterKey::from_bytes([7; 32]), None);
        let here = db.providers(vault());
        let there = db.providers(vault());
        let notices = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&notices);
        there
            .on_change(Arc::new(move || {
                seen.fetch_add(1, Ordering::SeqCst);
            }))
            .unwrap();
        // The listener's first call comes once it listens.
        let start = Instant::now();
        while notices.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(5), "never listened");
            std::thread::sleep(Duration::from_millis(5));
        }
        here.put("x", &settings(json!({"kind": "mock"})), &KeyChange::Clear)
            .unwrap();
        let start = Instant::now();
        while notices.load(Ordering::SeqCst) < 2 {
            assert!(start.elapsed() < Duration::from_secs(2), "not announced");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(there.list().unwrap()[0].name, "x");
    }
}
