//! Secrets and their digests: SHA-256 (all that is ever stored of a key or token),
//! hex forms, comparison in constant time, and new secrets from the OS's CSPRNG.

use std::fmt::Write as _;
use std::io::Read;

use sha2::{Digest, Sha256};

use crate::error::AuthError;

pub mod memo;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// SHA-256 of a presented secret: what the stores and caches index by.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Lowercase hex of `bytes` (what config files and the database hold).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The lowercase hex SHA-256 of `secret` (`printf %s "$KEY" | sha256sum`).
pub fn digest_hex(secret: &str) -> String {
    to_hex(&digest(secret))
}

/// A SHA-256 digest from 64 hex digits (either case, surrounding blanks ignored);
/// `None` when `hex` is not one.
pub fn parse_digest_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks(2)) {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        *byte = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// Whether two digests are equal, taking the same time wherever they differ.
pub fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    bytes_equal(a, b)
}

/// Whether `a` and `b` hold the same bytes, taking the same time wherever they
/// differ (their lengths are not secret: unequal lengths answer at once).
pub fn bytes_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `len` base-62 characters from `/dev/urandom`. Fails rather than fall back to a
/// weaker generator.
pub fn random_base62(len: usize) -> Result<String, AuthError> {
    let mut urandom = std::fs::File::open("/dev/urandom")?;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        urandom.read_exact(&mut buf)?;
        // Rejection sampling: 248 = 4 × 62, so accepted bytes are uniform mod 62.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(BASE62[usize::from(b % 62)]));
        }
    }
    Ok(out)
}

/// A new bearer secret: `prefix` and 24 base-62 characters (~143 bits), such as the
/// admin token (`pba_`) or the quickstart's config key (`pbk_`).
pub fn new_token(prefix: &str) -> Result<String, AuthError> {
    Ok(format!("{prefix}{}", random_base62(24)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_hex_is_the_usual_sha256() {
        // printf %s abc | sha256sum
        assert_eq!(
            digest_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hex_digests_parse_in_either_case_and_refuse_the_rest() {
        let d = digest("s");
        assert_eq!(parse_digest_hex(&digest_hex("s")), Some(d));
        assert_eq!(parse_digest_hex(&digest_hex("s").to_uppercase()), Some(d));
        assert_eq!(parse_digest_hex(&format!(" {} ", digest_hex("s"))), Some(d));
        assert_eq!(parse_digest_hex("abc"), None);
        assert_eq!(parse_digest_hex(&"g".repeat(64)), None);
        assert!(digests_equal(&d, &d));
        assert!(!digests_equal(&d, &digest("t")));
    }

    #[test]
    fn tokens_are_base62_and_distinct() {
        let a = new_token("pbk_").unwrap();
        let b = new_token("pbk_").unwrap();
        assert_ne!(a, b);
        for t in [&a, &b] {
            assert_eq!(t.len(), 28, "{t}");
            let body = t.strip_prefix("pbk_").unwrap();
            assert!(body.bytes().all(|c| c.is_ascii_alphanumeric()), "{t}");
        }
    }
}
