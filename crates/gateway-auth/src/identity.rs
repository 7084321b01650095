//! One key system: the keys declared in a config file and the database's keys, behind
//! one [`Keys::authenticate`] that answers with the key's [`Entry`] either way, and
//! reading the presented key from every API shape's header ([`presented_key`]).
//!
//! A declared key is an `Entry` like any other — subject `config:<name>`, a policy
//! with its model globs and nothing else — so everything downstream (model checks,
//! limits, usage records) has one kind of caller to handle.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderName};

use crate::cache::{Entry, Refusal};
use crate::error::AuthError;
use crate::keys::{CatchUp, KeyStore};
use crate::policy::{KeyPolicy, Subject};
use crate::secret;

/// A key declared in the config file (`[[keys]]`): only its digest is held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredKey {
    /// Names the key in logs and usage (`config:<name>`).
    pub name: String,
    /// SHA-256 of the secret.
    pub digest: [u8; 32],
    /// Model-name globs the key may use.
    pub models: Vec<String>,
}

impl DeclaredKey {
    /// A key given by its SHA-256 (`sha256 = "..."`, 64 hex digits).
    pub fn from_sha256_hex(
        name: &str,
        hex: &str,
        models: Vec<String>,
    ) -> Result<DeclaredKey, AuthError> {
        let digest = secret::parse_digest_hex(hex).ok_or_else(|| AuthError::Invalid {
            field: "sha256".to_owned(),
            message: "must be 64 hex digits".to_owned(),
        })?;
        Ok(DeclaredKey {
            name: name.to_owned(),
            digest,
            models,
        })
    }

    /// A key given in plain text (local development).
    pub fn from_secret(name: &str, plain: &str, models: Vec<String>) -> DeclaredKey {
        DeclaredKey {
            name: name.to_owned(),
            digest: secret::digest(plain),
            models,
        }
    }

    fn entry(&self) -> Entry {
        Entry {
            subject: Subject {
                key_id: format!("config:{}", self.name),
                project_id: None,
            },
            name: self.name.clone(),
            policy: KeyPolicy {
                models: self.models.clone(),
                ..KeyPolicy::default()
            },
            project: None,
            disabled: false,
            revoked_ms: None,
            expires_ms: None,
            grace_until_ms: None,
        }
    }
}

/// Every key a gateway accepts: the declared ones, then the database's.
#[derive(Debug, Default)]
pub struct Keys {
    /// Replaced whole when the config file is reloaded.
    declared: arc_swap::ArcSwap<HashMap<[u8; 32], Arc<Entry>>>,
    store: Option<Arc<KeyStore>>,
}

impl Keys {
    /// The declared keys (a later duplicate digest replaces an earlier one) and the
    /// database's, when there is a database.
    pub fn new(declared: &[DeclaredKey], store: Option<Arc<KeyStore>>) -> Keys {
        Keys {
            declared: arc_swap::ArcSwap::from_pointee(entries(declared)),
            store,
        }
    }

    /// Replaces the declared keys (a config reload): a request that already
    /// authenticated keeps its entry; the next one sees the new set.
    pub fn replace_declared(&self, declared: &[DeclaredKey]) {
        self.declared.store(Arc::new(entries(declared)));
    }

    /// The entry of `presented`, or why it is refused, from memory: never blocks.
    /// Declared keys are looked up first (a digest probe, like the database's cache).
    /// A key made by another process since the last refresh is unknown until a
    /// [`Keys::catch_up`].
    ///
    /// The secret is hashed once per thread while it stays in use
    /// ([`secret::memo`]); its entry is looked up afresh every time.
    pub fn authenticate(&self, presented: &str) -> Result<Arc<Entry>, Refusal> {
        let digest = secret::memo::digest(presented);
        let found = match (self.declared.load().get(&digest), &self.store) {
            (Some(entry), _) => Ok(Arc::clone(entry)),
            (None, Some(store)) => store.cache().authenticate_digest(&digest),
            (None, None) => Err(Refusal::Unknown),
        };
        if found.is_ok() {
            secret::memo::remember(presented, digest);
        }
        found
    }

    /// A catch-up of the database's cache with other processes' changes, after
    /// which an unknown key is worth one more look; `None` without a database file.
    pub fn catch_up(&self) -> Option<CatchUp> {
        self.store.as_ref().and_then(|s| s.catch_up())
    }

    /// The database's key store, when there is one.
    pub fn store(&self) -> Option<&Arc<KeyStore>> {
        self.store.as_ref()
    }

    /// How many keys the config file declares.
    pub fn declared_len(&self) -> usize {
        self.declared.load().len()
    }
}

fn entries(declared: &[DeclaredKey]) -> HashMap<[u8; 32], Arc<Entry>> {
    declared
        .iter()
        .map(|k| (k.digest, Arc::new(k.entry())))
        .collect()
}

/// Why a presented key is refused, in words for the caller (public ids only).
pub fn refusal_message(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Unknown => {
            "invalid API key: this is not a Patchbay key known to this gateway".to_owned()
        }
        other => other.to_string(),
    }
}

/// Where a key may be presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySources {
    /// Every API shape's form: `Authorization: Bearer` (OpenAI and most),
    /// `x-api-key` (Anthropic), `x-goog-api-key` (Gemini), `api-key` (Azure),
    /// `x-patchbay-key`, then `?key=` in the query string (Gemini's other form).
    AnyShape,
    /// `Authorization: Bearer` only (the admin API).
    BearerOnly,
}

/// The headers a key may come in, in the order they are read.
pub const KEY_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "x-patchbay-key",
];

/// [`KEY_HEADERS`] as header names: looked up without parsing a name per request.
static KEY_HEADER_NAMES: [HeaderName; 5] = [
    http::header::AUTHORIZATION,
    HeaderName::from_static("x-api-key"),
    HeaderName::from_static("x-goog-api-key"),
    HeaderName::from_static("api-key"),
    HeaderName::from_static("x-patchbay-key"),
];

/// The key a request presents in `sources`; empty values are skipped.
pub fn presented_key(
    headers: &HeaderMap,
    query: Option<&str>,
    sources: KeySources,
) -> Option<String> {
    let names: &[HeaderName] = match sources {
        KeySources::AnyShape => &KEY_HEADER_NAMES,
        KeySources::BearerOnly => &KEY_HEADER_NAMES[..1],
    };
    for name in names {
        for value in headers.get_all(name) {
            let Ok(v) = value.to_str() else { continue };
            let v = v.trim();
            let v = if *name == http::header::AUTHORIZATION {
                match v.split_once(' ') {
                    Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
                    _ => continue,
                }
            } else {
                v
            };
            if !v.is_empty() {
                return Some(v.to_owned());
            }
        }
    }
    if sources == KeySources::BearerOnly {
        return None;
    }
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "key")
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_are_the_listed_ones() {
        let names: Vec<&str> = KEY_HEADER_NAMES.iter().map(HeaderName::as_str).collect();
        assert_eq!(names, KEY_HEADERS);
    }
    use http::HeaderValue;

    fn keys() -> Keys {
        Keys::new(
            &[
                DeclaredKey::from_sha256_hex(
                    "alice",
                    &secret::digest_hex("pbk_alice"),
                    vec!["claude-*".to_owned()],
                )
                .unwrap(),
                DeclaredKey::from_secret("dev", "pbk_dev", vec!["*".to_owned()]),
            ],
            None,
        )
    }

    #[test]
    fn declared_keys_authenticate_as_entries() {
        let k = keys();
        let alice = k.authenticate("pbk_alice").unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.subject.key_id, "config:alice");
        assert!(alice.policy.allows_model("claude-opus-4-8"));
        assert!(!alice.policy.allows_model("gpt-5"));
        assert!(alice.policy.limits.is_unlimited());
        assert_eq!(k.authenticate("pbk_dev").unwrap().name, "dev");
        assert_eq!(k.authenticate("pbk_alic"), Err(Refusal::Unknown));
        assert_eq!(k.authenticate(""), Err(Refusal::Unknown));
        assert_eq!(
            Keys::default().authenticate("pbk_alice"),
            Err(Refusal::Unknown)
        );
        assert!(DeclaredKey::from_sha256_hex("x", "abc", vec![]).is_err());
        let upper = secret::digest_hex("s").to_uppercase();
        assert!(DeclaredKey::from_sha256_hex("x", &upper, vec![]).is_ok());
    }

    #[test]
    fn replaced_declared_keys_take_effect_for_the_next_lookup() {
        let k = keys();
        let before = k.authenticate("pbk_dev").unwrap();
        k.replace_declared(&[DeclaredKey::from_secret("new", "pbk_new", vec![])]);
        assert_eq!(k.authenticate("pbk_dev"), Err(Refusal::Unknown));
        assert_eq!(k.authenticate("pbk_new").unwrap().name, "new");
        assert_eq!(k.declared_len(), 1);
        assert_eq!(
            before.name, "dev",
            "an entry already handed out stays whole"
        );
    }

    #[test]
    fn a_remembered_secret_is_refused_as_soon_as_its_key_is_revoked() {
        let store = Arc::new(KeyStore::open_in_memory(KeyPolicy::default()).unwrap());
        let (record, secret) = store
            .create(crate::keys::NewKey {
                name: "busy".to_owned(),
                ..Default::default()
            })
            .unwrap();
        let k = Keys::new(&[], Some(Arc::clone(&store)));
        // Twice: the second answer comes by way of this thread's memo.
        assert_eq!(k.authenticate(&secret).unwrap().name, "busy");
        assert_eq!(k.authenticate(&secret).unwrap().name, "busy");
        store.revoke(&record.id).unwrap();
        assert_eq!(
            k.authenticate(&secret),
            Err(Refusal::Revoked {
                key_id: record.id.clone()
            })
        );
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn keys_are_read_from_every_shape() {
        type Case<'a> = (&'a [(&'static str, &'a str)], Option<&'a str>);
        let cases: [Case; 8] = [
            (&[("authorization", "Bearer pbk_1")], None),
            (&[("authorization", "bearer   pbk_1 ")], None),
            (&[("x-api-key", "pbk_1")], None),
            (&[("x-goog-api-key", "pbk_1")], None),
            (&[("api-key", "pbk_1")], None),
            (&[("x-patchbay-key", "pbk_1")], None),
            (&[], Some("alt=sse&key=pbk_1")),
            (
                &[("authorization", "Basic dXNlcg=="), ("x-api-key", "pbk_1")],
                None,
            ),
        ];
        for (h, q) in cases {
            assert_eq!(
                presented_key(&headers(h), q, KeySources::AnyShape).as_deref(),
                Some("pbk_1"),
                "{h:?} {q:?}"
            );
        }
    }

    #[test]
    fn header_order_absence_and_bearer_only() {
        let any = KeySources::AnyShape;
        let h = headers(&[("x-api-key", "second"), ("authorization", "Bearer first")]);
        assert_eq!(
            presented_key(&h, Some("key=third"), any).as_deref(),
            Some("first")
        );
        assert_eq!(presented_key(&headers(&[]), None, any), None);
        let empty = headers(&[("authorization", "Bearer ")]);
        assert_eq!(presented_key(&empty, Some("key="), any), None);
        assert_eq!(
            presented_key(&headers(&[]), Some("keys=x&monkey=y"), any),
            None
        );
        let plus = presented_key(&headers(&[]), Some("key=a%2Bb"), any);
        assert_eq!(plus.as_deref(), Some("a+b"));
        let broken = presented_key(&headers(&[]), Some("key=a%2"), any);
        assert_eq!(broken.as_deref(), Some("a%2"));
        let bearer = KeySources::BearerOnly;
        let h = headers(&[("x-api-key", "k")]);
        assert_eq!(presented_key(&h, Some("key=k"), bearer), None);
        let h = headers(&[("authorization", "Basic tok")]);
        assert_eq!(presented_key(&h, None, bearer), None);
        let h = headers(&[("authorization", "bearer  tok ")]);
        assert_eq!(presented_key(&h, None, bearer).as_deref(), Some("tok"));
    }
}
