//! The shape of a key: `<style prefix><public id>_<secret>`, generated from the OS's
//! CSPRNG, and the SHA-256 digest that is all the database keeps of it.

use serde::{Deserialize, Serialize};

use crate::error::AuthError;

/// Characters of the public id: ~59 bits, enough that ids never collide in practice
/// (the store still checks) and short enough to read in a log line.
pub(crate) const ID_LEN: usize = 10;
/// Characters of the secret: ~190 bits from the CSPRNG.
pub(crate) const SECRET_LEN: usize = 32;
/// Characters of the secret kept in the display prefix, so two generations of a
/// rotated key can be told apart; 4 of 32 leaves ~167 bits unknown.
const SHOWN_SECRET_CHARS: usize = 4;

/// How a key's plaintext begins. Some tools check the format of the key they are
/// given, so a key meant for them can look like theirs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStyle {
    /// `pbk_<id>_<secret>`: recognisably Patchbay's (secret scanners can match it).
    #[default]
    Patchbay,
    /// `sk-<id>_<secret>`, for tools that expect an OpenAI-style key.
    OpenAi,
    /// `sk-ant-<id>_<secret>`, for tools that expect an Anthropic-style key.
    Anthropic,
}

impl KeyStyle {
    /// The text every key of this style begins with.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyStyle::Patchbay => "pbk_",
            KeyStyle::OpenAi => "sk-",
            KeyStyle::Anthropic => "sk-ant-",
        }
    }

    /// The style of a stored display prefix. `sk-ant-` is tested before `sk-`, which
    /// it begins with.
    pub(crate) fn of_prefix(display: &str) -> KeyStyle {
        if display.starts_with(KeyStyle::Anthropic.prefix()) {
            KeyStyle::Anthropic
        } else if display.starts_with(KeyStyle::OpenAi.prefix()) {
            KeyStyle::OpenAi
        } else {
            KeyStyle::Patchbay
        }
    }
}

impl std::str::FromStr for KeyStyle {
    type Err = AuthError;

    /// Accepts the style's name or its prefix: `patchbay`/`pbk`, `openai`/`sk`,
    /// `anthropic`/`sk-ant`.
    fn from_str(s: &str) -> Result<KeyStyle, AuthError> {
        match s.trim_end_matches(['_', '-']) {
            "patchbay" | "pbk" => Ok(KeyStyle::Patchbay),
            "openai" | "open_ai" | "sk" => Ok(KeyStyle::OpenAi),
            "anthropic" | "sk-ant" => Ok(KeyStyle::Anthropic),
            _ => Err(AuthError::Invalid {
                field: "style".to_owned(),
                message: format!("`{s}` is not a key style; use patchbay, openai or anthropic"),
            }),
        }
    }
}

/// A freshly generated key: its plaintext (shown once), the digest the database
/// stores, and the display prefix.
pub(crate) struct Generated {
    pub plaintext: String,
    pub digest: [u8; 32],
    pub display: String,
}

/// A new secret for the key `id` in `style`.
pub(crate) fn generate(style: KeyStyle, id: &str) -> Result<Generated, AuthError> {
    let secret = random_base62(SECRET_LEN)?;
    let plaintext = format!("{}{id}_{secret}", style.prefix());
    let display = format!("{}{id}_{}…", style.prefix(), &secret[..SHOWN_SECRET_CHARS]);
    Ok(Generated {
        digest: digest(&plaintext),
        plaintext,
        display,
    })
}

/// A new public key id.
pub(crate) fn new_key_id() -> Result<String, AuthError> {
    random_base62(ID_LEN)
}

/// A new public project id, `prj_` and 8 base-62 characters.
pub(crate) fn new_project_id() -> Result<String, AuthError> {
    Ok(format!("prj_{}", random_base62(8)?))
}

pub use crate::secret::{digest, random_base62};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_their_style_prefix_the_id_and_a_base62_secret() {
        for style in [KeyStyle::Patchbay, KeyStyle::OpenAi, KeyStyle::Anthropic] {
            let g = generate(style, "AbCdEfGhIj").unwrap();
            let rest = g.plaintext.strip_prefix(style.prefix()).unwrap();
            let (id, secret) = rest.split_once('_').unwrap();
            assert_eq!(id, "AbCdEfGhIj");
            assert_eq!(secret.len(), SECRET_LEN);
            assert!(secret.bytes().all(|c| c.is_ascii_alphanumeric()));
            assert_eq!(g.digest, digest(&g.plaintext));
            assert!(
                g.display
                    .starts_with(&format!("{}AbCdEfGhIj_", style.prefix()))
            );
            assert!(!g.display.contains(secret));
            assert_eq!(KeyStyle::of_prefix(&g.display), style);
        }
    }

    #[test]
    fn secrets_and_ids_differ_every_time() {
        let a = generate(KeyStyle::Patchbay, "x").unwrap();
        let b = generate(KeyStyle::Patchbay, "x").unwrap();
        assert_ne!(a.plaintext, b.plaintext);
        assert_ne!(new_key_id().unwrap(), new_key_id().unwrap());
        assert!(new_project_id().unwrap().starts_with("prj_"));
    }

    #[test]
    fn styles_parse_by_name_or_prefix() {
        assert_eq!("pbk_".parse::<KeyStyle>().unwrap(), KeyStyle::Patchbay);
        assert_eq!("openai".parse::<KeyStyle>().unwrap(), KeyStyle::OpenAi);
        assert_eq!("sk-ant-".parse::<KeyStyle>().unwrap(), KeyStyle::Anthropic);
        let err = "gemini".parse::<KeyStyle>().unwrap_err();
        assert!(matches!(err, AuthError::Invalid { ref field, .. } if field == "style"));
    }
}
