//! The admin token: only its SHA-256 is held (in memory and in the database), and a
//! presented token is compared digest to digest in constant time.

use std::path::Path;

use crate::error::AuthError;
use crate::secret;

/// The `meta` row holding the generated token's SHA-256 (lowercase hex).
pub const META_NAME: &str = "admin_token_sha256";

/// The admin token, as its SHA-256 digest.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl AdminToken {
    /// The token whose plaintext is `plain` (as set in the config file).
    pub fn from_plain(plain: &str) -> AdminToken {
        AdminToken {
            digest: secret::digest(plain),
        }
    }

    /// The token whose SHA-256 is `hex` (64 hex digits, either case); `None` when
    /// `hex` is not such a digest.
    pub fn from_sha256_hex(hex: &str) -> Option<AdminToken> {
        secret::parse_digest_hex(hex).map(|digest| AdminToken { digest })
    }

    /// The digest as lowercase hex (what the database and the config hold).
    pub fn sha256_hex(&self) -> String {
        secret::to_hex(&self.digest)
    }

    /// Whether `presented` is the token. Takes the same time wherever the digests
    /// differ.
    pub fn verify(&self, presented: &str) -> bool {
        secret::digests_equal(&self.digest, &secret::digest(presented))
    }
}

/// The admin token of the database at `db`: on the first start, a new one
/// (`pba_` and 24 base-62 characters from the OS's CSPRNG) whose SHA-256 is stored in
/// the `meta` table, returned with its plaintext to print once; on every later start
/// the stored one, with `None`. When two processes start at once, one token wins
/// and both use it.
pub fn first_start_token(db: &Path) -> Result<(AdminToken, Option<String>), AuthError> {
    let conn = crate::migrate::open(db)?;
    let stored = || -> Result<Option<AdminToken>, AuthError> {
        let mut stmt = conn.prepare("SELECT value FROM meta WHERE name = ?1")?;
        let mut rows = stmt.query_map([META_NAME], |r| r.get::<_, String>(0))?;
        match rows.next().transpose()? {
            None => Ok(None),
            Some(hex) => {
                AdminToken::from_sha256_hex(&hex)
                    .map(Some)
                    .ok_or_else(|| AuthError::Invalid {
                        field: format!("meta.{META_NAME}"),
                        message: "is not a SHA-256 hex digest; delete the row to get a new token"
                            .to_owned(),
                    })
            }
        }
    };
    if let Some(token) = stored()? {
        return Ok((token, None));
    }
    let plain = secret::new_token("pba_")?;
    let token = AdminToken::from_plain(&plain);
    let inserted = conn.execute(
        "INSERT OR IGNORE INTO meta (name, value) VALUES (?1, ?2)",
        [META_NAME, &token.sha256_hex()],
    )?;
    if inserted == 0 {
        // Another process stored its token first.
        if let Some(theirs) = stored()? {
            return Ok((theirs, None));
        }
    }
    Ok((token, Some(plain)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_by_plaintext_and_by_digest() {
        let t = AdminToken::from_plain("pba_secret");
        assert!(t.verify("pba_secret"));
        assert!(!t.verify("pba_secreT"));
        let again = AdminToken::from_sha256_hex(&t.sha256_hex().to_uppercase()).unwrap();
        assert_eq!(again, t);
        assert!(again.verify("pba_secret"));
        assert!(AdminToken::from_sha256_hex("abc").is_none());
        assert!(AdminToken::from_sha256_hex(&"g".repeat(64)).is_none());
        assert_eq!(format!("{t:?}"), "AdminToken(..)");
    }
}
