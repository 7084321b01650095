//! Who is calling: the [`KeyStore`] interface the keys issue implements, the keys
//! declared in the config file ([`ConfigKeys`]), reading a key from any API shape's
//! header ([`extract_key`]) and generating new keys ([`generate_key`]).

use std::io::Read;
use std::sync::Arc;

use gateway_auth::cache::{Entry, Refusal};

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::{ConfigError, KeyConfig};
use crate::routing::glob_match;

/// Resolves a presented key to the identity it stands for.
pub trait KeyStore: Send + Sync {
    /// The identity of `presented`, or `None` when no key matches. Implementations
    /// must not reveal through timing which key (or how much of one) matched.
    fn authenticate(&self, presented: &str) -> Option<KeyIdentity>;
}

/// The identity behind a key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyIdentity {
    /// The key's name (logs, usage).
    pub name: String,
    /// Model-name globs this key may use (config keys; database keys read their
    /// policy).
    pub allowed_models: Vec<String>,
    /// The database key behind it — policy, project, limits — when it is one.
    pub entry: Option<Arc<Entry>>,
}

impl KeyIdentity {
    /// Whether the key may use the public model name `model`.
    pub fn allows(&self, model: &str) -> bool {
        let globs = match &self.entry {
            Some(e) => &e.policy.models,
            None => &self.allowed_models,
        };
        globs.iter().any(|g| glob_match(g, model))
    }

    /// The identity of a database key.
    pub fn of_entry(entry: Arc<Entry>) -> KeyIdentity {
        KeyIdentity {
            name: entry.name.clone(),
            allowed_models: Vec::new(),
            entry: Some(entry),
        }
    }
}

/// Why a database key was refused, in words for the caller (public ids only).
pub fn refusal_message(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Unknown => {
            "invalid API key: this is not a Patchbay key known to this gateway".to_owned()
        }
        other => other.to_string(),
    }
}

/// The keys of the config file's `[[keys]]`, compared by SHA-256 digest.
#[derive(Debug, Clone, Default)]
pub struct ConfigKeys {
    keys: Vec<([u8; 32], KeyIdentity)>,
}

impl ConfigKeys {
    /// Builds the store from `[[keys]]` (already validated by `Config`).
    pub fn new(keys: &[KeyConfig]) -> Result<ConfigKeys, ConfigError> {
        let mut out = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let digest = match (&k.sha256, &k.secret) {
                (Some(hex), _) => parse_hex32(hex).ok_or_else(|| {
                    ConfigError::invalid(format!("keys[{i}].sha256"), "must be 64 hex digits")
                })?,
                (None, Some(secret)) => sha256(secret),
                (None, None) => {
                    return Err(ConfigError::invalid(
                        format!("keys[{i}]"),
                        "set `sha256` or `secret`",
                    ));
                }
            };
            out.push((
                digest,
                KeyIdentity {
                    name: k.name.clone(),
                    allowed_models: k.models.clone(),
                    entry: None,
                },
            ));
        }
        Ok(ConfigKeys { keys: out })
    }

    /// How many keys are declared.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is declared (then nobody gets in).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl KeyStore for ConfigKeys {
    fn authenticate(&self, presented: &str) -> Option<KeyIdentity> {
        // Digests are compared, never secrets, and every digest is compared in full:
        // the time taken depends only on the number of keys.
        let digest = sha256(presented);
        let mut found = None;
        for (stored, identity) in &self.keys {
            if digests_equal(stored, &digest) && found.is_none() {
                found = Some(identity);
            }
        }
        found.cloned()
    }
}

fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

/// The lowercase hex SHA-256 of `secret`: what `[[keys]] sha256` holds.
pub fn sha256_hex(secret: &str) -> String {
    use std::fmt::Write;
    sha256(secret)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// The headers a key may come in, in the order they are read: OpenAI and everyone
/// (`Authorization: Bearer`), Anthropic (`x-api-key`), Gemini (`x-goog-api-key`),
/// Azure (`api-key`), and Patchbay's own.
pub const KEY_HEADERS: [&str; 5] = [
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "api-key",
    "x-patchbay-key",
];

/// The key a request presents: `Authorization: Bearer`, `x-api-key`,
/// `x-goog-api-key`, `api-key`, `x-patchbay-key`, then `?key=` in the raw query
/// string (Gemini's remaining form). Empty values are skipped.
pub fn extract_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    for name in KEY_HEADERS {
        for value in headers.get_all(name) {
            let Ok(v) = value.to_str() else { continue };
            let v = v.trim();
            let v = if name == "authorization" {
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
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "key")
        .map(|(_, v)| crate::ingress::percent_decode(&v.replace('+', " ")))
        .filter(|v| !v.is_empty())
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new key, `pbk_` and 24 base-62 characters (~143 bits) from the OS's CSPRNG
/// (`/dev/urandom`). Fails rather than fall back to a weaker generator.
pub fn generate_key() -> std::io::Result<String> {
    let mut urandom = std::fs::File::open("/dev/urandom")?;
    let mut key = String::with_capacity(28);
    key.push_str("pbk_");
    let mut buf = [0u8; 32];
    while key.len() < 28 {
        urandom.read_exact(&mut buf)?;
        // Rejection sampling: 248 = 4 × 62, so accepted bytes are uniform mod 62.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if key.len() == 28 {
                break;
            }
            key.push(BASE62[usize::from(b % 62)] as char);
        }
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn keys() -> ConfigKeys {
        ConfigKeys::new(&[
            KeyConfig {
                name: "alice".to_owned(),
                sha256: Some(sha256_hex("pbk_alice")),
                secret: None,
                models: vec!["claude-*".to_owned()],
            },
            KeyConfig {
                name: "dev".to_owned(),
                sha256: None,
                secret: Some("pbk_dev".to_owned()),
                models: vec!["*".to_owned()],
            },
        ])
        .unwrap()
    }

    #[test]
    fn hashed_and_plain_keys_authenticate() {
        let k = keys();
        let alice = k.authenticate("pbk_alice").unwrap();
        assert_eq!(alice.name, "alice");
        assert!(alice.allows("claude-opus-4-8"));
        assert!(!alice.allows("gpt-5"));
        assert_eq!(k.authenticate("pbk_dev").unwrap().name, "dev");
        assert!(k.authenticate("pbk_alic").is_none());
        assert!(k.authenticate("").is_none());
        assert!(ConfigKeys::default().authenticate("pbk_alice").is_none());
    }

    #[test]
    fn uppercase_hex_digests_work() {
        let k = ConfigKeys::new(&[KeyConfig {
            name: "a".to_owned(),
            sha256: Some(sha256_hex("s").to_uppercase()),
            secret: None,
            models: vec!["*".to_owned()],
        }])
        .unwrap();
        assert!(k.authenticate("s").is_some());
    }

    #[test]
    fn sha256_hex_is_the_usual_digest() {
        // printf %s abc | sha256sum
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
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
                extract_key(&headers(h), q).as_deref(),
                Some("pbk_1"),
                "{h:?} {q:?}"
            );
        }
    }

    #[test]
    fn header_order_and_absence() {
        let h = headers(&[("x-api-key", "second"), ("authorization", "Bearer first")]);
        assert_eq!(extract_key(&h, Some("key=third")).as_deref(), Some("first"));
        assert_eq!(extract_key(&headers(&[]), None), None);
        assert_eq!(
            extract_key(&headers(&[("authorization", "Bearer ")]), Some("key=")),
            None
        );
        assert_eq!(extract_key(&headers(&[]), Some("keys=x&monkey=y")), None);
        assert_eq!(
            extract_key(&headers(&[]), Some("key=a%2Bb")).as_deref(),
            Some("a+b")
        );
        assert_eq!(
            extract_key(&headers(&[]), Some("key=a%2")).as_deref(),
            Some("a%2")
        );
    }

    #[test]
    fn generated_keys_are_base62_and_distinct() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a, b);
        for k in [&a, &b] {
            assert_eq!(k.len(), 28, "{k}");
            let body = k.strip_prefix("pbk_").unwrap();
            assert!(body.bytes().all(|c| c.is_ascii_alphanumeric()), "{k}");
        }
    }
}
