//! The key store and its cache end to end: lifecycle, formats, what the database file
//! holds, rotation, revocation and expiry under concurrent lookups, projects, input
//! errors, and changes made by another connection.
// Helpers outside #[test] functions unwrap too: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use crate::backends::Backend;
use gateway_auth::cache::now_ms;
use gateway_auth::keys::parse_json;
use gateway_auth::{
    AuthError, KeyPolicy, KeyState, KeyStore, KeyStyle, KeyUpdate, Limits, NewKey, NewProject,
    ProjectUpdate, Refusal,
};

fn new_key(name: &str) -> NewKey {
    NewKey {
        name: name.to_owned(),
        ..NewKey::default()
    }
}

fn field_of<T: std::fmt::Debug>(r: Result<T, AuthError>) -> String {
    match r {
        Err(AuthError::Invalid { field, .. }) => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// A fresh directory for a file database, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("pb-keys-{tag}-{}-{}", std::process::id(), now_ms()));
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

#[test]
fn full_lifecycle() {
    for b in Backend::all() {
        let s = b.store();
        let (rec, plain) = s.create(new_key("ci")).unwrap();
        assert_eq!(rec.name, "ci");
        assert_eq!(rec.state(now_ms()), KeyState::Active);
        assert!(plain.starts_with(&format!("pbk_{}_", rec.id)));
        assert!(rec.prefix.starts_with(&format!("pbk_{}_", rec.id)) && rec.prefix.ends_with('…'));
        assert_eq!(rec.policy, KeyPolicy::default());
        assert_eq!(s.authenticate(&plain).unwrap().key_id(), rec.id);

        // show by id or name; list
        assert_eq!(s.get(&rec.id).unwrap(), rec);
        assert_eq!(s.get("ci").unwrap(), rec);
        let (other, _) = s.create(new_key("dev")).unwrap();
        let listed: Vec<_> = s.list().unwrap().into_iter().map(|k| k.id).collect();
        assert_eq!(listed, [rec.id.clone(), other.id.clone()]);
        assert!(matches!(
            s.get("nope"),
            Err(AuthError::NotFound { what: "key", .. })
        ));

        // update: name, policy, expiry; the cache follows
        let policy = KeyPolicy {
            models: vec!["claude-*".into()],
            limits: Limits {
                rpm: Some(10),
                ..Limits::default()
            },
            ..KeyPolicy::default()
        };
        let updated = s
            .update(
                "ci",
                KeyUpdate {
                    name: Some("ci-nightly".into()),
                    policy: Some(policy.clone()),
                    expires_ms: Some(Some(now_ms() + 3_600_000)),
                    ..KeyUpdate::default()
                },
            )
            .unwrap();
        assert_eq!(updated.name, "ci-nightly");
        assert!(updated.expires_ms.is_some());
        let entry = s.authenticate(&plain).unwrap();
        assert_eq!(entry.policy, policy);
        assert_eq!(entry.name, "ci-nightly");
        let cleared = s
            .update(
                &rec.id,
                KeyUpdate {
                    expires_ms: Some(None),
                    ..KeyUpdate::default()
                },
            )
            .unwrap();
        assert_eq!(cleared.expires_ms, None);
        assert_eq!(cleared.name, "ci-nightly");

        // disable, enable
        assert!(s.set_disabled(&rec.id, true).unwrap().disabled);
        assert_eq!(
            s.authenticate(&plain).unwrap_err(),
            Refusal::Disabled {
                key_id: rec.id.clone()
            }
        );
        assert_eq!(s.get(&rec.id).unwrap().state(now_ms()), KeyState::Disabled);
        assert!(!s.set_disabled(&rec.id, false).unwrap().disabled);
        assert!(s.authenticate(&plain).is_ok());

        // revoke: final, idempotent, and frozen
        let revoked = s.revoke("ci-nightly").unwrap();
        assert_eq!(revoked.state(now_ms()), KeyState::Revoked);
        assert_eq!(
            s.authenticate(&plain).unwrap_err(),
            Refusal::Revoked {
                key_id: rec.id.clone()
            }
        );
        assert_eq!(s.revoke(&rec.id).unwrap().revoked_ms, revoked.revoked_ms);
        assert_eq!(field_of(s.set_disabled(&rec.id, false)), "key");
        assert_eq!(field_of(s.rotate(&rec.id, Duration::ZERO)), "key");
        assert_eq!(field_of(s.update(&rec.id, KeyUpdate::default())), "key");

        // a revoked key's name may be reused; the name then means the live key
        let (again, _) = s.create(new_key("ci-nightly")).unwrap();
        assert_eq!(s.get("ci-nightly").unwrap().id, again.id);
        assert_eq!(field_of(s.create(new_key("ci-nightly"))), "name");
        assert_eq!(s.cache().len(), 3);
        assert_eq!(s.authenticate("pbk_nothing_here"), Err(Refusal::Unknown));
    }
}

#[test]
fn defaults_from_the_config_apply_to_keys_without_a_policy() {
    for b in Backend::all() {
        let mut defaults = KeyPolicy::default();
        defaults.limits.rpd = Some(1000);
        let s = b.store_with(defaults.clone()).unwrap();
        let (rec, _) = s.create(new_key("a")).unwrap();
        assert_eq!(rec.policy, defaults);
        let own = KeyPolicy {
            log_bodies: true,
            ..KeyPolicy::default()
        };
        let (rec, _) = s
            .create(NewKey {
                policy: Some(own.clone()),
                ..new_key("b")
            })
            .unwrap();
        assert_eq!(rec.policy, own);
        let mut bad = KeyPolicy::default();
        bad.limits.total_usd = Some(f64::NAN);
        assert_eq!(
            field_of(b.store_with(bad.clone())),
            "defaults.limits.total_usd"
        );
    }
}

#[test]
fn style_prefixes() {
    for b in Backend::all() {
        let s = b.store();
        for (style, prefix) in [
            (KeyStyle::Patchbay, "pbk_"),
            (KeyStyle::OpenAi, "sk-"),
            (KeyStyle::Anthropic, "sk-ant-"),
        ] {
            let (rec, plain) = s
                .create(NewKey {
                    style,
                    ..new_key(prefix)
                })
                .unwrap();
            assert!(
                plain.starts_with(&format!("{prefix}{}_", rec.id)),
                "{plain}"
            );
            assert_eq!(rec.style, style);
            assert!(s.authenticate(&plain).is_ok());
            // A rotation keeps the style.
            let (rotated, new_plain) = s.rotate(&rec.id, Duration::ZERO).unwrap();
            assert_eq!(rotated.style, style);
            assert!(
                new_plain.starts_with(&format!("{prefix}{}_", rec.id)),
                "{new_plain}"
            );
        }
        let json = serde_json::to_value(s.get("sk-ant-").unwrap()).unwrap();
        assert_eq!(json["style"], "anthropic");
    }
}

#[test]
fn the_database_file_holds_no_plaintext() {
    let dir = TempDir::new("plain");
    let s = KeyStore::open(&dir.db(), KeyPolicy::default()).unwrap();
    let mut plaintexts = Vec::new();
    let mut prefixes = Vec::new();
    for (i, style) in [KeyStyle::Patchbay, KeyStyle::OpenAi, KeyStyle::Anthropic]
        .into_iter()
        .cycle()
        .take(30)
        .enumerate()
    {
        let (rec, plain) = s
            .create(NewKey {
                style,
                ..new_key(&format!("k{i}"))
            })
            .unwrap();
        plaintexts.push(plain);
        prefixes.push(rec.prefix.clone());
        if i % 3 == 0 {
            let (_, rotated) = s.rotate(&rec.id, Duration::from_secs(60)).unwrap();
            plaintexts.push(rotated);
        }
    }
    // Before and after a checkpoint: the WAL first, then the main file.
    let mut files = Vec::new();
    for suffix in ["", "-wal"] {
        let path = PathBuf::from(format!("{}{suffix}", dir.db().display()));
        files.push((suffix, std::fs::read(&path).unwrap()));
    }
    drop(s);
    files.push(("closed", std::fs::read(dir.db()).unwrap()));
    assert!(files.iter().any(|(_, b)| !b.is_empty()));
    // As text, so the search is std's (fast even in a debug build); invalid UTF-8
    // becomes U+FFFD, which leaves every ASCII run, and so every key, intact.
    let files: Vec<_> = files
        .into_iter()
        .map(|(which, b)| (which, String::from_utf8_lossy(&b).into_owned()))
        .collect();
    // The search does see what is stored: every display prefix is there.
    for prefix in &prefixes {
        assert!(
            files.iter().any(|(_, text)| text.contains(prefix.as_str())),
            "{prefix}"
        );
    }
    for plain in &plaintexts {
        let secret = plain.rsplit('_').next().unwrap();
        assert_eq!(secret.len(), 32);
        for (which, bytes) in &files {
            for needle in [plain.as_str(), secret] {
                assert!(
                    !bytes.contains(needle),
                    "{needle} found in the database file ({which})"
                );
            }
        }
    }
}

#[test]
fn rotation_with_grace() {
    for b in Backend::all() {
        let s = b.store();
        let (rec, old) = s.create(new_key("svc")).unwrap();
        let t0 = now_ms();
        let (rotated, new) = s.rotate("svc", Duration::from_secs(600)).unwrap();
        assert_ne!(old, new);
        assert_ne!(rotated.prefix, rec.prefix);
        let until = rotated.previous_secret_until_ms.unwrap();
        assert!(until >= t0 + 600_000 && until <= now_ms() + 600_000);
        let cache = s.cache();
        // The new secret works at once; the old one until the grace ends, then not.
        assert!(cache.authenticate(&new).is_ok());
        assert!(cache.authenticate(&old).is_ok());
        assert!(cache.authenticate_at(&old, until - 1).is_ok());
        assert_eq!(
            cache.authenticate_at(&old, until).unwrap_err(),
            Refusal::Rotated {
                key_id: rec.id.clone()
            }
        );
        assert!(cache.authenticate_at(&new, until + 1).is_ok());
        // Disabling the key disables both secrets.
        s.set_disabled("svc", true).unwrap();
        assert!(cache.authenticate(&old).is_err() && cache.authenticate(&new).is_err());
        s.set_disabled("svc", false).unwrap();
        // A second rotation ends the first one's grace; without grace the old secret
        // stops at once.
        let (again, newest) = s.rotate("svc", Duration::ZERO).unwrap();
        assert_eq!(again.previous_secret_until_ms, None);
        assert_eq!(cache.authenticate(&old), Err(Refusal::Unknown));
        assert_eq!(cache.authenticate(&new), Err(Refusal::Unknown));
        assert!(cache.authenticate(&newest).is_ok());
    }
}

#[test]
fn revocation_during_grace_revokes_both_secrets() {
    for b in Backend::all() {
        let s = b.store();
        let (_, old) = s.create(new_key("svc")).unwrap();
        let (_, new) = s.rotate("svc", Duration::from_secs(600)).unwrap();
        s.revoke("svc").unwrap();
        assert!(matches!(s.authenticate(&old), Err(Refusal::Revoked { .. })));
        assert!(matches!(s.authenticate(&new), Err(Refusal::Revoked { .. })));
    }
}

/// Threads authenticate `key` in a loop while `change` runs on the main thread.
/// Returns (successes before, successes that began after `change` returned).
fn hammer(s: &Arc<KeyStore>, key: &str, change: impl FnOnce(&KeyStore)) -> (usize, usize) {
    const THREADS: usize = 4;
    let done = Arc::new(AtomicBool::new(false));
    let changed = Arc::new(AtomicBool::new(false));
    let before = Arc::new(AtomicUsize::new(0));
    let after = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(THREADS + 1));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (s, key) = (Arc::clone(s), key.to_owned());
            let (done, changed) = (Arc::clone(&done), Arc::clone(&changed));
            let (before, after) = (Arc::clone(&before), Arc::clone(&after));
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                while !done.load(Ordering::SeqCst) {
                    // Read the flag before the lookup: a lookup that starts after the
                    // change returned must see it.
                    let was_changed = changed.load(Ordering::SeqCst);
                    if s.authenticate(&key).is_ok() {
                        if was_changed { &after } else { &before }.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    start.wait();
    thread::sleep(Duration::from_millis(20));
    change(s);
    changed.store(true, Ordering::SeqCst);
    thread::sleep(Duration::from_millis(50));
    done.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    (before.load(Ordering::SeqCst), after.load(Ordering::SeqCst))
}

#[test]
fn revoke_is_seen_by_the_very_next_lookup_under_concurrency() {
    for b in Backend::all() {
        let s = Arc::new(b.store());
        for i in 0..100 {
            s.create(new_key(&format!("filler{i}"))).unwrap();
        }
        let (_, key) = s.create(new_key("victim")).unwrap();
        // A request already in flight keeps its entry; the next one is refused.
        let in_flight = s.authenticate(&key).unwrap();
        let (before, after) = hammer(&s, &key, |s| {
            s.revoke("victim").unwrap();
        });
        assert!(before > 0, "the threads never ran before the revoke");
        assert_eq!(after, 0, "a lookup after revoke returned succeeded");
        assert_eq!(in_flight.name, "victim");
    }
}

#[test]
fn rotate_without_grace_under_concurrency() {
    for b in Backend::all() {
        let s = Arc::new(b.store());
        let (_, old) = s.create(new_key("svc")).unwrap();
        let new = Arc::new(std::sync::Mutex::new(String::new()));
        let slot = Arc::clone(&new);
        let (before, after) = hammer(&s, &old, move |s| {
            *slot.lock().unwrap() = s.rotate("svc", Duration::ZERO).unwrap().1;
        });
        assert!(before > 0);
        assert_eq!(after, 0, "the old secret worked after rotate returned");
        assert!(s.authenticate(&new.lock().unwrap()).is_ok());
    }
}

#[test]
fn disable_under_concurrency() {
    for b in Backend::all() {
        let s = Arc::new(b.store());
        let (_, key) = s.create(new_key("svc")).unwrap();
        let (before, after) = hammer(&s, &key, |s| {
            s.set_disabled("svc", true).unwrap();
        });
        assert!(before > 0);
        assert_eq!(after, 0);
    }
}

#[test]
fn expiry_needs_no_reload() {
    for b in Backend::all() {
        let s = b.store();
        let expires = now_ms() + 3_600_000;
        let (rec, key) = s
            .create(NewKey {
                expires_ms: Some(expires),
                ..new_key("temp")
            })
            .unwrap();
        let cache = s.cache();
        assert!(cache.authenticate(&key).is_ok());
        assert!(cache.authenticate_at(&key, expires - 1).is_ok());
        assert_eq!(
            cache.authenticate_at(&key, expires),
            Err(Refusal::Expired {
                key_id: rec.id.clone()
            })
        );
        assert_eq!(s.get("temp").unwrap().state(expires), KeyState::Expired);
        // An expiry in the past is refused as a typo.
        assert_eq!(
            field_of(s.create(NewKey {
                expires_ms: Some(now_ms() - 1),
                ..new_key("late")
            })),
            "expires_ms"
        );
    }
}

#[test]
fn expiry_while_requests_are_in_flight() {
    for b in Backend::all() {
        let s = Arc::new(b.store());
        // Long enough for a create on a busy database server to return first.
        let expires = now_ms() + 1_500;
        let (_, key) = s
            .create(NewKey {
                expires_ms: Some(expires),
                ..new_key("short")
            })
            .unwrap();
        let in_flight = s.authenticate(&key).unwrap();
        let (before, after) = hammer(&s, &key, |_| {
            // Let the real clock pass the expiry; no store call is involved.
            while now_ms() <= expires {
                thread::sleep(Duration::from_millis(5));
            }
        });
        assert!(before > 0);
        assert_eq!(after, 0);
        // The request that authenticated before still holds its entry.
        assert_eq!(in_flight.expires_ms, Some(expires));
    }
}

#[test]
fn projects() {
    for b in Backend::all() {
        let s = b.store();
        let limits = Limits {
            monthly_usd: Some(100.0),
            ..Limits::default()
        };
        let p = s
            .create_project(NewProject {
                name: "research".into(),
                limits: limits.clone(),
            })
            .unwrap();
        assert!(p.id.starts_with("prj_"));
        assert_eq!(s.get_project("research").unwrap(), p);
        assert_eq!(s.get_project(&p.id).unwrap(), p);
        assert_eq!(s.list_projects().unwrap(), std::slice::from_ref(&p));
        assert_eq!(
            field_of(s.create_project(NewProject {
                name: "research".into(),
                ..NewProject::default()
            })),
            "name"
        );
        assert!(matches!(
            s.get_project("nope"),
            Err(AuthError::NotFound {
                what: "project",
                ..
            })
        ));

        let (a, ka) = s
            .create(NewKey {
                project: Some("research".into()),
                ..new_key("a")
            })
            .unwrap();
        let (_, kb) = s
            .create(NewKey {
                project: Some(p.id.clone()),
                ..new_key("b")
            })
            .unwrap();
        assert_eq!(a.project_id.as_deref(), Some(p.id.as_str()));
        let ea = s.authenticate(&ka).unwrap();
        let eb = s.authenticate(&kb).unwrap();
        assert_eq!(ea.subject.project_id.as_deref(), Some(p.id.as_str()));
        assert_eq!(ea.project.as_ref().unwrap().limits, limits);
        // Both keys share one project entry.
        assert!(Arc::ptr_eq(
            ea.project.as_ref().unwrap(),
            eb.project.as_ref().unwrap()
        ));

        // New project limits reach its keys' next requests.
        let mut tighter = limits.clone();
        tighter.monthly_usd = Some(5.0);
        let renamed = s
            .update_project(
                "research",
                ProjectUpdate {
                    name: Some("lab".into()),
                    limits: Some(tighter.clone()),
                },
            )
            .unwrap();
        assert_eq!(renamed.name, "lab");
        assert_eq!(
            s.authenticate(&ka)
                .unwrap()
                .project
                .as_ref()
                .unwrap()
                .limits,
            tighter
        );
        assert_eq!(
            s.authenticate(&kb).unwrap().project.as_ref().unwrap().name,
            "lab"
        );

        // Moving a key out of its project, and into one that does not exist.
        s.update(
            "a",
            KeyUpdate {
                project: Some(None),
                ..KeyUpdate::default()
            },
        )
        .unwrap();
        let ea = s.authenticate(&ka).unwrap();
        assert!(ea.project.is_none() && ea.subject.project_id.is_none());
        assert_eq!(
            field_of(s.update(
                "a",
                KeyUpdate {
                    project: Some(Some("ghost".into())),
                    ..KeyUpdate::default()
                }
            )),
            "project"
        );
        assert_eq!(
            field_of(s.create(NewKey {
                project: Some("ghost".into()),
                ..new_key("c")
            })),
            "project"
        );
        let bad = Limits {
            daily_usd: Some(-3.0),
            ..Limits::default()
        };
        assert_eq!(
            field_of(s.update_project(
                "lab",
                ProjectUpdate {
                    limits: Some(bad),
                    ..ProjectUpdate::default()
                }
            )),
            "limits.daily_usd"
        );
    }
}

#[test]
fn malformed_input_names_the_field() {
    for b in Backend::all() {
        let e = parse_json::<NewKey>("", r#"{"name":"x","policy":{"limits":{"rmp":5}}}"#);
        assert_eq!(field_of(e), "policy.limits.rmp");
        let e = parse_json::<NewKey>("", r#"{"name":"x","colour":"red"}"#);
        assert_eq!(field_of(e), "colour");
        let e = parse_json::<NewKey>("", r#"{"name":"x","style":"gemini"}"#);
        assert_eq!(field_of(e), "style");
        let e = parse_json::<KeyUpdate>("", r#"{"policy":{"models":"*"}}"#);
        assert_eq!(field_of(e), "policy.models");
        let e = parse_json::<KeyPolicy>("policy", r#"{"max_tokens_mode":"truncate"}"#);
        assert_eq!(field_of(e), "policy.max_tokens_mode");
        let e = parse_json::<NewProject>("", r#"{"name":"p","limits":{"dialy_usd":1}}"#);
        assert_eq!(field_of(e), "limits.dialy_usd");

        // `null` clears, absence keeps.
        let u: KeyUpdate = parse_json("", r#"{"expires_ms":null}"#).unwrap();
        assert_eq!(u.expires_ms, Some(None));
        assert_eq!(u.project, None);
        let k: NewKey = parse_json("", r#"{"name":"x","style":"anthropic"}"#).unwrap();
        assert_eq!(k.style, KeyStyle::Anthropic);

        let s = b.store();
        assert_eq!(field_of(s.create(new_key(""))), "name");
        assert_eq!(field_of(s.create(new_key(" padded"))), "name");
        let mut p = KeyPolicy::default();
        p.limits.daily_usd = Some(-1.0);
        assert_eq!(
            field_of(s.create(NewKey {
                policy: Some(p),
                ..new_key("x")
            })),
            "policy.limits.daily_usd"
        );
        assert!(s.list().unwrap().is_empty(), "a refused key was written");
    }
}

#[test]
fn another_connections_changes_are_picked_up_by_refresh() {
    for b in Backend::all() {
        let db = b.shared();
        let server = db.open();
        let (_, mine) = server.create(new_key("server-made")).unwrap();
        assert!(
            !server.refresh_if_changed().unwrap(),
            "own changes need no reload"
        );

        // The CLI, or another instance: a store of its own on the same database.
        let cli = db.open();
        let (_, theirs) = cli.create(new_key("cli-made")).unwrap();
        // (PostgreSQL announces changes: the cache may have it already.)
        if let Backend::Sqlite = b {
            assert_eq!(server.cache().authenticate(&theirs), Err(Refusal::Unknown));
        }
        // An unknown key makes the store catch up first: a new key works at once.
        assert!(server.authenticate(&theirs).is_ok());
        assert!(!server.refresh_if_changed().unwrap(), "already caught up");
        assert_eq!(server.authenticate("pbk_never_made"), Err(Refusal::Unknown));

        cli.revoke("server-made").unwrap();
        match b {
            Backend::Sqlite => {
                assert!(
                    server.authenticate(&mine).is_ok(),
                    "not seen before the refresh"
                );
                assert!(server.refresh_if_changed().unwrap());
            }
            // Announced by NOTIFY: seen with no refresh asked for.
            Backend::Postgres { .. } => {
                let start = std::time::Instant::now();
                while server.cache().authenticate(&mine).is_ok() {
                    assert!(
                        start.elapsed() < Duration::from_millis(900),
                        "not announced"
                    );
                    thread::sleep(Duration::from_millis(5));
                }
                eprintln!("a revocation announced in {:?}", start.elapsed());
            }
        }
        assert!(matches!(
            server.authenticate(&mine),
            Err(Refusal::Revoked { .. })
        ));

        // Commits that are not about keys (the usage writer's) cause no reload.
        db.execute(
            "INSERT INTO requests (request_id, ts_ms, key_id, requested_model, caller_shape, \
             total_ms, status, streamed) VALUES ('r1', 0, 'k', 'm', 'openai', 1, 200, 0)",
            "INSERT INTO meta (name, value) VALUES ('unrelated', '1')",
        );
        assert!(!server.refresh_if_changed().unwrap());

        // A change of ours made after someone else's reloads everything, theirs too.
        let (_, late) = cli.create(new_key("cli-late")).unwrap();
        server.create(new_key("server-late")).unwrap();
        assert!(server.authenticate(&late).is_ok());
        assert!(!server.refresh_if_changed().unwrap());
    }
}

#[test]
fn a_key_whose_row_cannot_be_read_is_refused_and_the_rest_still_work() {
    for b in Backend::all() {
        let db = b.shared();
        let s = db.open();
        let (bad, bad_key) = s.create(new_key("bad")).unwrap();
        let (_, good_key) = s.create(new_key("good")).unwrap();
        // Someone edits the database by hand and breaks a policy.
        db.execute(
            &format!(
                "UPDATE keys SET policy = '{{' WHERE id = '{}'; \
                 UPDATE meta SET value = value + 1 WHERE name = 'keys_version';",
                bad.id
            ),
            &format!(
                "UPDATE keys SET policy = '{{' WHERE id = '{}'; \
                 UPDATE meta SET value = (value::bigint + 1)::text WHERE name = 'keys_version';",
                bad.id
            ),
        );
        // The reload skips that row, rather than fail every key.
        assert!(s.refresh_if_changed().unwrap());
        assert_eq!(s.authenticate(&bad_key), Err(Refusal::Unknown));
        assert!(s.authenticate(&good_key).is_ok());
        let reopened = db.open();
        assert_eq!(reopened.authenticate(&bad_key), Err(Refusal::Unknown));
        assert!(reopened.authenticate(&good_key).is_ok());
        // Changing the broken key fails without writing anything.
        assert!(matches!(
            s.set_disabled("bad", true),
            Err(AuthError::Json(_))
        ));
    }
}
