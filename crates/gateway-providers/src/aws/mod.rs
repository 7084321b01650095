//! Amazon Bedrock: where a provider's models live, which credentials sign its calls,
//! and the signing of one call ([`sigv4`]).
//!
//! Credentials, first found wins: the provider's `access_key_id` and
//! `secret_access_key` (with `session_token`); else the environment's
//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`; else the
//! shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, or `~/.aws/credentials`),
//! profile `AWS_PROFILE` or `default`. The region: `region`, else `AWS_REGION`, else
//! `AWS_DEFAULT_REGION`. They are read once, when the provider is built.

pub mod sigv4;

use std::path::PathBuf;
use std::time::SystemTime;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::ProviderError;
use crate::spec::{ProviderConfig, ProviderKind};
use sigv4::{Credentials, Scope};

/// The SigV4 service name of Bedrock's runtime API.
pub const SERVICE: &str = "bedrock";

/// The host of a region's Bedrock runtime API.
pub fn default_root(region: &str) -> String {
    format!("https://bedrock-runtime.{region}.amazonaws.com")
}

/// A Bedrock provider's signing identity.
#[derive(Debug, Clone)]
pub(crate) struct Signer {
    pub(crate) region: String,
    pub(crate) credentials: Credentials,
}

/// Reads an environment variable, non-empty (a seam for tests).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The region and credentials of a Bedrock provider (see the module docs for the
/// order).
pub(crate) fn signer(
    provider: &str,
    kind: ProviderKind,
    cfg: &ProviderConfig,
    env: Env<'_>,
) -> Result<Signer, ProviderError> {
    let get = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let region = cfg
        .region
        .clone()
        .or_else(|| get("AWS_REGION"))
        .or_else(|| get("AWS_DEFAULT_REGION"))
        .ok_or_else(|| ProviderError::MissingSetting {
            provider: provider.to_owned(),
            kind: kind.as_str(),
            setting: "region",
            example: "region = \"us-east-1\", or AWS_REGION",
        })?;
    let region = region.trim().to_owned();
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ProviderError::BadSetting {
            provider: provider.to_owned(),
            setting: "region",
            reason: format!("`{region}` is not an AWS region name such as us-east-1"),
        });
    }
    let credentials = credentials(provider, cfg, &get)?;
    Ok(Signer {
        region,
        credentials,
    })
}

fn credentials(
    provider: &str,
    cfg: &ProviderConfig,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials, ProviderError> {
    let missing = |reason: String| ProviderError::BadSetting {
        provider: provider.to_owned(),
        setting: "access_key_id",
        reason,
    };
    match (&cfg.access_key_id, &cfg.secret_access_key) {
        (Some(id), Some(secret)) => {
            return Ok(Credentials {
                access_key_id: id.trim().to_owned(),
                secret_access_key: secret.trim().to_owned(),
                session_token: cfg.session_token.clone().filter(|t| !t.trim().is_empty()),
            });
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(missing(
                "set both access_key_id and secret_access_key, or neither (then the \
                 environment or the shared credentials file is used)"
                    .to_owned(),
            ));
        }
        (None, None) if cfg.session_token.is_some() => {
            return Err(missing(
                "session_token needs access_key_id and secret_access_key".to_owned(),
            ));
        }
        (None, None) => {}
    }
    if let (Some(id), Some(secret)) = (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
        return Ok(Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: get("AWS_SESSION_TOKEN"),
        });
    }
    let path = get("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| get("HOME").map(|h| PathBuf::from(h).join(".aws").join("credentials")));
    let profile = get("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
    let text = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
    let Some(text) = text else {
        return Err(missing(format!(
            "no AWS credentials: set access_key_id and secret_access_key, or \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a shared credentials file ({})",
            path.map_or_else(
                || "~/.aws/credentials".to_owned(),
                |p| p.display().to_string()
            )
        )));
    };
    shared_profile(&text, &profile).ok_or_else(|| {
        missing(format!(
            "the shared credentials file has no profile `{profile}` with \
             aws_access_key_id and aws_secret_access_key"
        ))
    })
}

/// The credentials of `profile` in a shared credentials file (INI: `[profile]`
/// sections of `key = value` lines, `#` and `;` comments).
pub(crate) fn shared_profile(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_profile = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_owned();
            match k.trim() {
                "aws_access_key_id" => id = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    Some(Credentials {
        access_key_id: id.filter(|s| !s.is_empty())?,
        secret_access_key: secret.filter(|s| !s.is_empty())?,
        session_token: token.filter(|s| !s.is_empty()),
    })
}

impl Signer {
    /// Signs a call with this provider's region and credentials (see [`sign`]).
    pub(crate) fn sign(
        &self,
        method: &str,
        uri: &http::Uri,
        headers: &mut HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), http::header::InvalidHeaderValue> {
        sign(
            &self.credentials,
            &self.region,
            method,
            uri,
            headers,
            body,
            now,
        )
    }
}

/// Signs a Bedrock call made at `now`: adds `x-amz-date`, `x-amz-security-token`
/// (temporary credentials) and `authorization` to `headers`, the signature covering
/// `host` (the URI's authority), the content type when there is one, the date and
/// the token. `uri` is the full URL the call goes to.
pub fn sign(
    credentials: &Credentials,
    region: &str,
    method: &str,
    uri: &http::Uri,
    headers: &mut HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), http::header::InvalidHeaderValue> {
    {
        let date = sigv4::amz_date(now);
        let host = uri.authority().map_or("", http::uri::Authority::as_str);
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut signed: Vec<(&str, &str)> = vec![("host", host), ("x-amz-date", &date)];
        if let Some(ct) = &content_type {
            signed.push(("content-type", ct));
        }
        if let Some(token) = &credentials.session_token {
            signed.push(("x-amz-security-token", token));
        }
        let req = sigv4::Request {
            method,
            path: uri.path(),
            query: uri.query().unwrap_or(""),
            headers: &signed,
            body,
        };
        let scope = Scope {
            region,
            service: SERVICE,
            amz_date: &date,
        };
        let auth = sigv4::authorization(
            &credentials.access_key_id,
            &credentials.secret_access_key,
            &scope,
            &req,
        );
        headers.insert(
            HeaderName::from_static("x-amz-date"),
            HeaderValue::from_str(&date)?,
        );
        if let Some(token) = &credentials.session_token {
            let mut v = HeaderValue::from_str(token)?;
            v.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-amz-security-token"), v);
        }
        let mut v = HeaderValue::from_str(&auth)?;
        v.set_sensitive(true);
        headers.insert(http::header::AUTHORIZATION, v);
        Ok(())
    }
}

/// An `InvokeModelWithResponseStream` body as the Anthropic SSE it carries (see
/// `gateway_translate::bedrock::invoke`), chunk by chunk; the end of the upstream's
/// body ends the unwrapping (a message cut off becomes an error event).
pub(crate) fn unwrap_stream(body: crate::BodyStream) -> crate::BodyStream {
    use futures_util::StreamExt;
    use gateway_translate::bedrock::invoke::Unwrapper;
    let state = (body, Unwrapper::new(), false);
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut body, mut unwrap, done)| async move {
            if done {
                return None;
            }
            loop {
                let mut out = Vec::new();
                match body.next().await {
                    Some(Ok(chunk)) => {
                        unwrap.push(&chunk, &mut out);
                        if !out.is_empty() {
                            return Some((Ok(bytes::Bytes::from(out)), (body, unwrap, false)));
                        }
                    }
                    Some(Err(err)) => return Some((Err(err), (body, unwrap, true))),
                    None => {
                        unwrap.finish(&mut out);
                        if out.is_empty() {
                            return None;
                        }
                        return Some((Ok(bytes::Bytes::from(out)), (body, unwrap, true)));
                    }
                }
            }
        },
    ))
}

/// Whether `headers` carry a valid signature of the call by `access_key_id` with
/// `secret` (the Bedrock-shaped mock's check). `Err` says what is wrong.
pub fn verify(
    secret_for: &dyn Fn(&str) -> Option<String>,
    method: &str,
    uri: &http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let auth = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("no Authorization header")?;
    let parsed = sigv4::parse_authorization(auth)?;
    let date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or("no x-amz-date header")?;
    if !date.starts_with(&parsed.date) {
        return Err(format!(
            "x-amz-date {date} is not the credential's date {}",
            parsed.date
        ));
    }
    if parsed.service != SERVICE {
        return Err(format!(
            "the credential's service is `{}`, not `{SERVICE}`",
            parsed.service
        ));
    }
    let Some(secret) = secret_for(&parsed.access_key_id) else {
        // An unknown key: the form is all that can be checked.
        return Ok(());
    };
    let mut values = Vec::with_capacity(parsed.signed_headers.len());
    for name in &parsed.signed_headers {
        let value = match name.as_str() {
            "host" => headers
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .or(uri.authority().map(http::uri::Authority::as_str)),
            other => headers.get(other).and_then(|v| v.to_str().ok()),
        }
        .ok_or_else(|| format!("signed header `{name}` is missing"))?;
        values.push((name.as_str(), value));
    }
    let req = sigv4::Request {
        method,
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &values,
        body,
    };
    let scope = Scope {
        region: &parsed.region,
        service: &parsed.service,
        amz_date: date,
    };
    let want = sigv4::signature(&secret, &scope, &req);
    let same = want.len() == parsed.signature.len()
        && want
            .bytes()
            .zip(parsed.signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return Err("the signature does not match the request".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ProviderConfig {
        ProviderConfig::new(ProviderKind::Bedrock)
    }

    #[test]
    fn config_then_environment_then_the_shared_file() {
        let dir = std::env::temp_dir().join(format!("pb-aws-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("credentials");
        std::fs::write(
            &file,
            "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s-file\n\n\
             # a comment\n[work]\naws_access_key_id=AKIDWORK\naws_secret_access_key=s-work\n\
             aws_session_token=tok-work\n",
        )
        .unwrap();
        let file_s = file.display().to_string();
        let env_all = |name: &str| -> Option<String> {
            match name {
                "AWS_REGION" => Some("eu-west-1".into()),
                "AWS_ACCESS_KEY_ID" => Some("AKIDENV".into()),
                "AWS_SECRET_ACCESS_KEY" => Some("s-env".into()),
                "AWS_SHARED_CREDENTIALS_FILE" => Some(file_s.clone()),
                _ => None,
            }
        };
        let mut c = cfg();
        c.access_key_id = Some("AKIDCFG".into());
        c.secret_access_key = Some("s-cfg".into());
        c.region = Some("us-west-2".into());
        let s = signer("b", ProviderKind::Bedrock, &c, &env_all).unwrap();
        assert_eq!(
            (s.region.as_str(), s.credentials.access_key_id.as_str()),
            ("us-west-2", "AKIDCFG")
        );
        let s = signer("b", ProviderKind::Bedrock, &cfg(), &env_all).unwrap();
        assert_eq!(
            (s.region.as_str(), s.credentials.access_key_id.as_str()),
            ("eu-west-1", "AKIDENV")
        );
        let env_file = |name: &str| -> Option<String> {
            match name {
                "AWS_DEFAULT_REGION" => Some("ap-south-1".into()),
                "AWS_SHARED_CREDENTIALS_FILE" => Some(file_s.clone()),
                "AWS_PROFILE" => Some("work".into()),
                _ => None,
            }
        };
        let s = signer("b", ProviderKind::Bedrock, &cfg(), &env_file).unwrap();
        assert_eq!(s.region, "ap-south-1");
        assert_eq!(s.credentials.access_key_id, "AKIDWORK");
        assert_eq!(s.credentials.session_token.as_deref(), Some("tok-work"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_pieces_name_the_setting() {
        let none = |_: &str| -> Option<String> { None };
        let err = signer("b", ProviderKind::Bedrock, &cfg(), &none)
            .unwrap_err()
            .to_string();
        assert!(err.contains("region"), "{err}");
        let mut c = cfg();
        c.region = Some("us-east-1".into());
        let err = signer("b", ProviderKind::Bedrock, &c, &none)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("AWS_ACCESS_KEY_ID") && err.contains("credentials"),
            "{err}"
        );
        c.access_key_id = Some("AKID".into());
        let err = signer("b", ProviderKind::Bedrock, &c, &none)
            .unwrap_err()
            .to_string();
        assert!(err.contains("both"), "{err}");
        c.region = Some("US East".into());
        let err = signer("b", ProviderKind::Bedrock, &c, &none)
            .unwrap_err()
            .to_string();
        assert!(err.contains("region"), "{err}");
    }

    #[test]
    fn a_signed_call_verifies_and_a_changed_body_does_not() {
        let s = Signer {
            region: "us-east-1".into(),
            credentials: Credentials {
                access_key_id: "AKIDTEST".into(),
                secret_access_key: "secret".into(),
                session_token: Some("tok".into()),
            },
        };
        let uri: http::Uri =
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/a.b-v1%3A0/converse"
                .parse()
                .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        s.sign("POST", &uri, &mut headers, b"{}", SystemTime::now())
            .unwrap();
        let auth = headers["authorization"].to_str().unwrap();
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
        let secret = |id: &str| (id == "AKIDTEST").then(|| "secret".to_owned());
        assert_eq!(verify(&secret, "POST", &uri, &headers, b"{}"), Ok(()));
        let err = verify(&secret, "POST", &uri, &headers, b"{ }").unwrap_err();
        assert!(err.contains("does not match"), "{err}");
        let unknown = |_: &str| None;
        assert_eq!(verify(&unknown, "POST", &uri, &headers, b"{ }"), Ok(()));
        headers.remove("authorization");
        assert!(verify(&secret, "POST", &uri, &headers, b"{}").is_err());
    }
}
