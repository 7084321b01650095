//! A Google service-account key and the signed JWT it trades for an access token
//! (OAuth 2.0 JWT bearer grant, RFC 7523): RS256 over `header.claims`, both
//! base64url JSON, signed with the key file's PKCS#8 RSA key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde::{Deserialize, Serialize};
use tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

/// The OAuth scope Vertex AI calls need.
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// How long a signed assertion asks to be valid (Google's maximum).
pub(crate) const ASSERTION_SECS: u64 = 3600;

/// The fields of a key file the gateway reads (the file has more).
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// A loaded service account: who it is, where its tokens come from, and its key.
pub(crate) struct ServiceAccount {
    /// `client_email`: the JWT's issuer.
    pub email: String,
    /// `private_key_id`: the JWT header's `kid`, when the file has one.
    pub key_id: Option<String>,
    /// `token_uri`: the token endpoint, and the JWT's audience.
    pub token_uri: String,
    key: RsaKeyPair,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("email", &self.email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'static str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

impl ServiceAccount {
    /// Reads a key file's JSON. The error says what is wrong in words for the
    /// operator; it never quotes the key.
    pub(crate) fn from_json(text: &[u8]) -> Result<ServiceAccount, String> {
        let file: KeyFile = serde_json::from_slice(text).map_err(|e| {
            format!(
                "not a JSON key file ({:?} error at line {})",
                e.classify(),
                e.line()
            )
        })?;
        match file.kind.as_deref() {
            Some("service_account") => {}
            Some(other) => {
                return Err(format!(
                    "its type is `{other}`, and only `service_account` keys are read; for user \
                     credentials set access_token (e.g. from `gcloud auth print-access-token`)"
                ));
            }
            None => return Err("it has no `type` (expected \"service_account\")".into()),
        }
        let need = |v: Option<String>, field: &str| {
            v.filter(|s| !s.trim().is_empty())
                .ok_or_else(|| format!("it has no `{field}`"))
        };
        let email = need(file.client_email, "client_email")?;
        let pem = need(file.private_key, "private_key")?;
        let token_uri = need(file.token_uri, "token_uri")?;
        match url::Url::parse(&token_uri) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => return Err("its `token_uri` is not an http(s) URL".into()),
        }
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|_| "its `private_key` is not a PKCS#8 PEM private key".to_owned())?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|e| format!("its `private_key` is not a usable RSA key ({e})"))?;
        Ok(ServiceAccount {
            email,
            key_id: file.private_key_id.filter(|s| !s.is_empty()),
            token_uri,
            key,
        })
    }

    /// The signed assertion issued at `iat` (Unix seconds), valid for an hour.
    pub(crate) fn assertion(&self, iat: u64) -> Result<String, String> {
        let header = Header {
            alg: "RS256",
            typ: "JWT",
            kid: self.key_id.as_deref(),
        };
        let claims = Claims {
            iss: &self.email,
            scope: SCOPE,
            aud: &self.token_uri,
            iat,
            exp: iat + ASSERTION_SECS,
        };
        let mut jwt = format!("{}.{}", base64_json(&header), base64_json(&claims));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                jwt.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "signing the token request failed".to_owned())?;
        jwt.push('.');
        jwt.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(jwt)
    }
}

/// `value` as base64url JSON: a JWT part.
fn base64_json(value: &impl Serialize) -> String {
    // Plain structs of strings and integers: serialising them cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    const KEY_FILE: &str =
        include_str!("../../tests/fixtures/vertex/TEST-ONLY-service-account.json");
    const PUBLIC_PEM: &str =
        include_str!("../../tests/fixtures/vertex/TEST-ONLY-service-account.pub.pem");

    fn public_der() -> Vec<u8> {
        let b64: String = PUBLIC_PEM
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("public key base64")
    }

    #[test]
    fn the_assertion_carries_the_claims_and_verifies_with_the_public_key() {
        let account = ServiceAccount::from_json(KEY_FILE.as_bytes()).expect("key file");
        let jwt = account.assertion(1_700_000_000).expect("signed");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let json = |s: &str| -> serde_json::Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).expect("base64url")).expect("json")
        };
        let header = json(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], "test-only-key-0001");
        let claims = json(parts[1]);
        assert_eq!(
            claims["iss"],
            "patchbay-test@patchbay-test.iam.gserviceaccount.com"
        );
        assert_eq!(claims["scope"], SCOPE);
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
        assert_eq!(claims["iat"], 1_700_000_000u64);
        assert_eq!(claims["exp"], 1_700_003_600u64);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_der());
        let signed = format!("{}.{}", parts[0], parts[1]);
        public
            .verify(signed.as_bytes(), &signature)
            .expect("the signature verifies");
        let mut tampered = signed.into_bytes();
        tampered[5] ^= 1;
        assert!(public.verify(&tampered, &signature).is_err());
    }

    #[test]
    fn bad_key_files_say_what_is_wrong_without_quoting_the_key() {
        let mut file: serde_json::Value = serde_json::from_str(KEY_FILE).expect("json");
        type Edit = fn(&mut serde_json::Value);
        let cases: [(Edit, &str); 4] = [
            (
                |f| f["type"] = "authorized_user".into(),
                "only `service_account`",
            ),
            (
                |f| {
                    f.as_object_mut().expect("object").remove("client_email");
                },
                "no `client_email`",
            ),
            (
                |f| f["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n".into(),
                "not a PKCS#8 PEM",
            ),
            (
                |f| f["token_uri"] = "file:///etc/passwd".into(),
                "not an http(s) URL",
            ),
        ];
        for (edit, want) in cases {
            let mut f = file.clone();
            edit(&mut f);
            let err = ServiceAccount::from_json(f.to_string().as_bytes()).expect_err(want);
            assert!(err.contains(want), "{err}");
            assert!(!err.contains("PRIVATE KEY"), "{err}");
        }
        assert!(ServiceAccount::from_json(b"{not json").is_err());
        file["private_key"] = serde_json::Value::Null;
        let err = ServiceAccount::from_json(file.to_string().as_bytes()).expect_err("no key");
        assert!(err.contains("no `private_key`"), "{err}");
    }
}
