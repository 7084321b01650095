//! Secrets sealed at rest: the upstream keys an operator adds at runtime (the
//! console's Providers page) are stored in the database encrypted with
//! XChaCha20-Poly1305 under a master key that never enters the database.
//!
//! The master key is 32 bytes, read from `PATCHBAY_MASTER_KEY` (64 hex digits) or
//! else from a key file (created with mode 0600 at the first start, next to the
//! database unless configured). A sealed value names the key that sealed it (the
//! first 8 bytes of its SHA-256), so a rotation can tell old values from new:
//! [`Vault::open`] takes the previous key too, and [`Vault::needs_reseal`] says
//! which values to seal again under the current one.
//!
//! Sealed layout: version byte (1), key id (8), nonce (24), ciphertext with its tag.
//! The row's name is the associated data: a value copied to another row fails to open.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

#[cfg(test)]
mod tests;

/// The environment variable holding the master key (64 hex digits).
pub const MASTER_KEY_ENV: &str = "PATCHBAY_MASTER_KEY";
/// The environment variable holding the previous master key during a rotation.
pub const PREVIOUS_MASTER_KEY_ENV: &str = "PATCHBAY_PREVIOUS_MASTER_KEY";

const VERSION: u8 = 1;
const ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const HEADER: usize = 1 + ID_LEN + NONCE_LEN;

/// What can go wrong with the master key or a sealed value.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key in the environment or the key file is not 32 bytes of hex.
    #[error("{source_name}: the master key must be 64 hexadecimal digits (32 bytes)")]
    BadKey {
        /// Where it came from (the variable or the file).
        source_name: String,
    },
    /// The key file could not be read or created.
    #[error("master key file {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The OS random source failed.
    #[error("random source: {0}")]
    Random(String),
    /// Sealed by a key that is neither the current nor the previous one.
    #[error(
        "sealed under another master key (id {0}); set {PREVIOUS_MASTER_KEY_ENV} to the key it was sealed with"
    )]
    UnknownKey(String),
    /// The value is damaged, or was moved to another row.
    #[error("the sealed value does not open (damaged, or not sealed for this name)")]
    Corrupt,
}

/// A 32-byte master key.
#[derive(Clone)]
pub struct MasterKey {
    bytes: [u8; 32],
    id: [u8; ID_LEN],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &hex(&self.id))
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// The key of these bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        MasterKey { bytes, id }
    }

    /// A fresh random key.
    pub fn generate() -> Result<MasterKey, VaultError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| VaultError::Random(e.to_string()))?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// Reads 64 hex digits (surrounding white space ignored); `source_name` names
    /// where they came from in the error.
    pub fn from_hex(text: &str, source_name: &str) -> Result<MasterKey, VaultError> {
        let bad = || VaultError::BadKey {
            source_name: source_name.to_owned(),
        };
        let text = text.trim();
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(MasterKey::from_bytes(bytes))
    }

    /// The key as 64 lowercase hex digits (what a key file holds).
    pub fn to_hex(&self) -> String {
        hex(&self.bytes)
    }

    /// The key's public id: the first 8 bytes of its SHA-256, in hex.
    pub fn id(&self) -> String {
        hex(&self.id)
    }

    /// The key from `PATCHBAY_MASTER_KEY` when it is set, else from `file`, which is
    /// created (mode 0600, a fresh random key) when it does not exist.
    pub fn load_or_create(env: Option<&str>, file: &Path) -> Result<MasterKey, VaultError> {
        if let Some(text) = env {
            return MasterKey::from_hex(text, MASTER_KEY_ENV);
        }
        match std::fs::read_to_string(file) {
            Ok(text) => MasterKey::from_hex(&text, &file.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = MasterKey::generate()?;
                write_private(file, &format!("{}\n", key.to_hex()))?;
                Ok(key)
            }
            Err(source) => Err(VaultError::File {
                path: file.to_owned(),
                source,
            }),
        }
    }
}

/// Writes `text` to a new file readable by its owner only; an existing file is
/// left alone (another process created it first) and read back by the caller.
fn write_private(path: &Path, text: &str) -> Result<(), VaultError> {
    use std::io::Write as _;
    let file_error = |source| VaultError::File {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(file_error)?;
    file.write_all(text.as_bytes()).map_err(file_error)?;
    file.sync_all().map_err(file_error)
}

/// Seals and opens values with the current master key (and, during a rotation,
/// opens with the previous one).
#[derive(Debug, Clone)]
pub struct Vault {
    current: MasterKey,
    previous: Option<MasterKey>,
}

impl Vault {
    /// A vault sealing with `current`, opening with it or `previous`.
    pub fn new(current: MasterKey, previous: Option<MasterKey>) -> Vault {
        Vault { current, previous }
    }

    /// The current key's id.
    pub fn key_id(&self) -> String {
        self.current.id()
    }

    /// `plaintext` sealed for `name` under the current key, with a fresh nonce.
    pub fn seal(&self, name: &str, plaintext: &str) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| VaultError::Random(e.to_string()))?;
        let cipher = XChaCha20Poly1305::new((&self.current.bytes).into());
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: name.as_bytes(),
        };
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| VaultError::Corrupt)?;
        let mut out = Vec::with_capacity(HEADER + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plaintext of a value sealed for `name`.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<String, VaultError> {
        if sealed.len() < HEADER + 16 || sealed[0] != VERSION {
            return Err(VaultError::Corrupt);
        }
        let id = &sealed[1..1 + ID_LEN];
        let key = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.id == id)
            .ok_or_else(|| VaultError::UnknownKey(hex(id)))?;
        let cipher = XChaCha20Poly1305::new((&key.bytes).into());
        let payload = Payload {
            msg: &sealed[HEADER..],
            aad: name.as_bytes(),
        };
        let plain = cipher
            .decrypt(XNonce::from_slice(&sealed[1 + ID_LEN..HEADER]), payload)
            .map_err(|_| VaultError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| VaultError::Corrupt)
    }

    /// True when `sealed` was sealed under another key than the current one.
    pub fn needs_reseal(&self, sealed: &[u8]) -> bool {
        sealed.len() < HEADER || sealed[1..1 + ID_LEN] != self.current.id
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
