//! Google Vertex AI: where a project's models live, how a provider authenticates,
//! and the one body edit Claude on Vertex needs.
//!
//! Vertex speaks the shapes of the vendors it hosts: Gemini's `generateContent` for
//! publisher `google` (kind `vertex`) and Anthropic's Messages for publisher
//! `anthropic` (kind `vertex_anthropic`, through `rawPredict`). The kind picks the
//! publisher, so one provider speaks one shape; a project serving both families is
//! two providers. Calls carry `Authorization: Bearer` with a configured access token
//! or one minted from a service-account key ([`crate::google_auth`]). Embeddings
//! go to Vertex's `:predict`, rewritten both ways in `embed.rs`.

pub(crate) mod embed;

use std::sync::Arc;

use bytes::Bytes;
use gateway_protocol::{ErrorKind, GatewayError};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::client::HttpClient;
use crate::error::ProviderError;
use crate::google_auth::{ServiceAccount, TokenSource};
use crate::routes::{normalise_base, segment};
use crate::spec::{ProviderConfig, ProviderKind};

/// The body's `anthropic_version` for Claude on Vertex when none is configured.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// The region used when `location` is not set.
pub const DEFAULT_LOCATION: &str = "us-central1";

/// The environment variable Google's tools read a key file's path from.
pub const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// The host root for `location`: `global` has no regional prefix, and the `us` and
/// `eu` multi-regions have hosts of their own.
fn default_root(location: &str) -> String {
    match location {
        "global" => "https://aiplatform.googleapis.com".to_owned(),
        "us" | "eu" => format!("https://aiplatform.{location}.rep.googleapis.com"),
        region => format!("https://{region}-aiplatform.googleapis.com"),
    }
}

/// The publisher of a kind's models.
fn publisher(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::VertexAnthropic => "anthropic",
        _ => "google",
    }
}

/// Where a Vertex provider's models live, its settings checked:
/// `{root}/v1/projects/{project}/locations/{location}/publishers/{publisher}`, the
/// root being `base_url` (a proxy, a private endpoint, a test upstream) or the
/// location's own host.
pub(crate) fn base(
    provider: &str,
    kind: ProviderKind,
    cfg: &ProviderConfig,
) -> Result<String, ProviderError> {
    let project = setting(provider, kind, "project", cfg.project.as_deref())?.ok_or_else(|| {
        ProviderError::MissingSetting {
            provider: provider.to_owned(),
            kind: kind.as_str(),
            setting: "project",
            example: "project = \"my-gcp-project\"",
        }
    })?;
    let location =
        setting(provider, kind, "location", cfg.location.as_deref())?.unwrap_or(DEFAULT_LOCATION);
    let root = match &cfg.base_url {
        Some(url) => normalise_base(provider, kind, url)?,
        None => default_root(location),
    };
    Ok(format!(
        "{root}/v1/projects/{}/locations/{}/publishers/{}",
        segment(project),
        segment(location),
        publisher(kind)
    ))
}

/// `value` trimmed, refused when blank or holding characters no project or region
/// id has.
fn setting<'a>(
    provider: &str,
    kind: ProviderKind,
    name: &'static str,
    value: Option<&'a str>,
) -> Result<Option<&'a str>, ProviderError> {
    let Some(value) = value.map(str::trim) else {
        return Ok(None);
    };
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(ProviderError::BadSetting {
            provider: provider.to_owned(),
            setting: name,
            reason: format!(
                "kind `{}` needs a Google Cloud id here (letters, digits, `-`)",
                kind.as_str()
            ),
        });
    }
    Ok(Some(value))
}

/// How a Vertex provider authenticates.
pub(crate) enum Credentials {
    /// A configured token, sent as it is.
    Static(String),
    /// Tokens minted from a service-account key.
    ServiceAccount(Arc<TokenSource>),
}

/// Reads the provider's credentials: `access_token`, else `credentials_file`, else
/// the file `env_file` names (the value of [`CREDENTIALS_ENV`]).
pub(crate) fn credentials(
    provider: &str,
    kind: ProviderKind,
    cfg: &ProviderConfig,
    env_file: Option<String>,
    client: &HttpClient,
) -> Result<Credentials, ProviderError> {
    let token = cfg.access_token.as_deref().map(str::trim);
    let file = cfg.credentials_file.as_deref().map(str::trim);
    if token.is_some() && file.is_some() {
        return Err(ProviderError::BadSetting {
            provider: provider.to_owned(),
            setting: "credentials_file",
            reason: "set either access_token or credentials_file, not both".into(),
        });
    }
    if let Some(token) = token {
        if token.is_empty() {
            return Err(ProviderError::BadSetting {
                provider: provider.to_owned(),
                setting: "access_token",
                reason: "it is empty (is its environment variable set?)".into(),
            });
        }
        if http::HeaderValue::from_str(token).is_err() {
            return Err(ProviderError::BadSetting {
                provider: provider.to_owned(),
                setting: "access_token",
                reason: "it holds characters an HTTP header cannot carry".into(),
            });
        }
        return Ok(Credentials::Static(token.to_owned()));
    }
    let (path, from) = match (file, env_file.filter(|f| !f.trim().is_empty())) {
        (Some(path), _) => (path.to_owned(), "credentials_file"),
        (None, Some(path)) => (path, CREDENTIALS_ENV),
        (None, None) => {
            return Err(ProviderError::MissingSetting {
                provider: provider.to_owned(),
                kind: kind.as_str(),
                setting: "credentials_file",
                example: "credentials_file = \"/etc/patchbay/sa.json\" (or access_token = \"${VERTEX_ACCESS_TOKEN}\", or GOOGLE_APPLICATION_CREDENTIALS)",
            });
        }
    };
    let bad = |reason: String| ProviderError::BadCredentials {
        provider: provider.to_owned(),
        from,
        path: path.clone(),
        reason,
    };
    let text = std::fs::read(&path).map_err(|e| bad(format!("it cannot be read: {e}")))?;
    let account = ServiceAccount::from_json(&text).map_err(bad)?;
    Ok(Credentials::ServiceAccount(Arc::new(TokenSource::new(
        Arc::from(provider),
        account,
        client.clone(),
    ))))
}

/// A Messages body as Claude on Vertex takes it: with `anthropic_version` (instead
/// of the header; the caller's own kept) and, unless `keep_model` (token counting,
/// whose URL names no model), without `model` (the URL names it). The other fields
/// go through as their exact text; what is not a JSON object goes as it came (the
/// upstream then says what is wrong with it).
pub(crate) fn anthropic_body(body: Bytes, version: &str, keep_model: bool) -> Bytes {
    let drop: &[&str] = if keep_model { &[] } else { &["model"] };
    anthropic_body_without(body, version, drop)
}

/// A Messages body with `anthropic_version` added (the caller's own kept) and the
/// members `drop` names removed: Vertex's and Bedrock's forms of it (Bedrock also
/// refuses `stream`, which its URL says).
pub(crate) fn anthropic_body_without(body: Bytes, version: &str, drop: &[&str]) -> Bytes {
    let Ok(Fields(fields)) = serde_json::from_slice::<Fields>(&body) else {
        return body;
    };
    let Ok(version) = serde_json::value::to_raw_value(version) else {
        return body;
    };
    let version = ("anthropic_version".to_owned(), version);
    let has_version = fields.iter().any(|(k, _)| k == "anthropic_version");
    let added = (!has_version).then_some(&version);
    let kept = fields.iter().filter(|(k, _)| !drop.contains(&k.as_str()));
    object(added.into_iter().chain(kept))
}

/// The most of an embeddings answer read (250 vectors of 3,072 numbers fit).
const MAX_EMBEDDINGS_ANSWER: usize = 64 << 20;

/// A `:predict` answer read whole and handed on as `batchEmbedContents`' answer.
pub(crate) fn embed_answer(
    mut body: crate::BodyStream,
    provider: std::sync::Arc<str>,
) -> crate::BodyStream {
    use futures_util::StreamExt;
    Box::pin(futures_util::stream::once(async move {
        let mut all = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            if all.len() + chunk.len() > MAX_EMBEDDINGS_ANSWER {
                return Err(GatewayError::new(
                    ErrorKind::Upstream,
                    format!(
                        "provider `{provider}` sent an embeddings answer over {MAX_EMBEDDINGS_ANSWER} bytes"
                    ),
                ));
            }
            all.extend_from_slice(&chunk);
        }
        embed::batch_answer(&all).map(Bytes::from).ok_or_else(|| {
            GatewayError::new(
                ErrorKind::Upstream,
                format!("provider `{provider}` answered the embeddings request, but not with Vertex's predictions"),
            )
        })
    }))
}

/// The members of Gemini's `generateContentRequest` that Vertex's countTokens takes
/// at its top level (it has no such wrapper); the others (`model`, safety and tool
/// settings) do not change a count.
const COUNTED: [&str; 4] = ["contents", "systemInstruction", "tools", "generationConfig"];

/// A Gemini countTokens body as Vertex takes it: a `generateContentRequest`'s
/// counted members moved to the top level. A body without the wrapper (`{"contents":
/// …}`) or not a JSON object goes as it came.
pub(crate) fn gemini_count_tokens_body(body: Bytes) -> Bytes {
    let Ok(Fields(fields)) = serde_json::from_slice::<Fields>(&body) else {
        return body;
    };
    let Some(inner) = fields
        .iter()
        .find(|(k, _)| k == "generateContentRequest")
        .and_then(|(_, v)| serde_json::from_str::<Fields>(v.get()).ok())
    else {
        return body;
    };
    let hoisted = inner
        .0
        .iter()
        .filter(|(k, _)| COUNTED.contains(&k.as_str()));
    let kept = fields
        .iter()
        .filter(|(k, _)| k != "generateContentRequest" && !inner.0.iter().any(|(i, _)| i == k));
    object(hoisted.chain(kept))
}

/// `fields` written as one JSON object, values as their text.
fn object<'a>(fields: impl Iterator<Item = &'a (String, Box<RawValue>)>) -> Bytes {
    let mut out = vec![b'{'];
    for (n, (name, value)) in fields.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(serde_json::to_string(name).unwrap_or_default().as_bytes());
        out.push(b':');
        out.extend_from_slice(value.get().as_bytes());
    }
    out.push(b'}');
    Bytes::from(out)
}

/// A JSON object's top-level fields in order, values as their text.
struct Fields(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Each;
        impl<'de> Visitor<'de> for Each {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(Each)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edited(body: &str) -> String {
        String::from_utf8(
            anthropic_body(Bytes::from(body.to_owned()), "vertex-2023-10-16", false).to_vec(),
        )
        .expect("utf-8")
    }

    #[test]
    fn the_model_goes_and_the_version_comes_the_rest_byte_for_byte() {
        let body = r#"{"model":"claude-sonnet-4","max_tokens":1024,"temperature":0.70,"messages":[{"role":"user","content":"\u00e9"}],"stream":true}"#;
        assert_eq!(
            edited(body),
            r#"{"anthropic_version":"vertex-2023-10-16","max_tokens":1024,"temperature":0.70,"messages":[{"role":"user","content":"\u00e9"}],"stream":true}"#
        );
    }

    #[test]
    fn a_callers_own_version_is_kept_and_non_objects_pass() {
        let body = r#"{"anthropic_version":"vertex-2099-01-01","model":"m","max_tokens":1}"#;
        assert_eq!(
            edited(body),
            r#"{"anthropic_version":"vertex-2099-01-01","max_tokens":1}"#
        );
        assert_eq!(
            edited(r#"{"model":"m"}"#),
            r#"{"anthropic_version":"vertex-2023-10-16"}"#
        );
        for body in ["[1]", "{\"a\":", "nope", ""] {
            assert_eq!(edited(body), body);
        }
        let count = anthropic_body(
            Bytes::from_static(br#"{"model":"claude-x","messages":[]}"#),
            "vertex-2023-10-16",
            true,
        );
        assert_eq!(
            count,
            r#"{"anthropic_version":"vertex-2023-10-16","model":"claude-x","messages":[]}"#
        );
    }

    #[test]
    fn count_tokens_bodies_lose_the_generate_content_request_wrapper() {
        let edit = |body: &str| {
            String::from_utf8(gemini_count_tokens_body(Bytes::from(body.to_owned())).to_vec())
                .expect("utf-8")
        };
        let wrapped = r#"{"generateContentRequest":{"model":"models/gemini-2.5-pro","contents":[{"role":"user","parts":[{"text":"hi"}]}],"systemInstruction":{"parts":[{"text":"be brief"}]},"safetySettings":[],"generationConfig":{"maxOutputTokens":8}}}"#;
        assert_eq!(
            edit(wrapped),
            r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"systemInstruction":{"parts":[{"text":"be brief"}]},"generationConfig":{"maxOutputTokens":8}}"#
        );
        let plain = r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#;
        assert_eq!(edit(plain), plain);
        for body in ["[1]", "nope", r#"{"generateContentRequest":3}"#] {
            assert_eq!(edit(body), body);
        }
    }

    #[test]
    fn the_base_names_project_location_and_publisher() {
        let mut cfg = ProviderConfig::new(ProviderKind::Vertex);
        cfg.project = Some("my-proj".into());
        assert_eq!(
            base("v", ProviderKind::Vertex, &cfg).expect("base"),
            "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1/publishers/google"
        );
        cfg.location = Some("global".into());
        assert_eq!(
            base("v", ProviderKind::VertexAnthropic, &cfg).expect("base"),
            "https://aiplatform.googleapis.com/v1/projects/my-proj/locations/global/publishers/anthropic"
        );
        cfg.location = Some("eu".into());
        assert_eq!(
            base("v", ProviderKind::Vertex, &cfg).expect("base"),
            "https://aiplatform.eu.rep.googleapis.com/v1/projects/my-proj/locations/eu/publishers/google"
        );
        cfg.location = Some("global".into());
        cfg.base_url = Some("http://127.0.0.1:9/v1/".into());
        assert_eq!(
            base("v", ProviderKind::Vertex, &cfg).expect("base"),
            "http://127.0.0.1:9/v1/projects/my-proj/locations/global/publishers/google"
        );
        cfg.location = Some("europe-west4/../x".into());
        let err = base("v", ProviderKind::Vertex, &cfg).expect_err("bad location");
        assert_eq!(err.setting(), Some("location"));
        cfg.project = None;
        cfg.location = None;
        let err = base("v", ProviderKind::Vertex, &cfg).expect_err("no project");
        assert_eq!(err.setting(), Some("project"));
        assert!(err.to_string().contains("needs `project`"), "{err}");
    }

    #[test]
    fn credentials_come_from_the_token_the_file_or_the_environment() {
        let client = HttpClient::new().expect("client");
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/vertex/TEST-ONLY-service-account.json"
        );
        let kind = ProviderKind::Vertex;
        let mut cfg = ProviderConfig::new(kind);
        let err = credentials("v", kind, &cfg, None, &client)
            .err()
            .expect("none");
        assert_eq!(err.setting(), Some("credentials_file"));
        let from_env = credentials("v", kind, &cfg, Some(fixture.into()), &client);
        assert!(matches!(from_env, Ok(Credentials::ServiceAccount(_))));
        let missing = credentials(
            "v",
            kind,
            &cfg,
            Some("/nonexistent/sa.json".into()),
            &client,
        )
        .err()
        .expect("unreadable");
        assert_eq!(missing.setting(), Some("credentials_file"));
        let said = missing.to_string();
        assert!(
            said.contains("/nonexistent/sa.json") && said.contains(CREDENTIALS_ENV),
            "{said}"
        );
        cfg.access_token = Some("ya29.static".into());
        assert!(matches!(
            credentials("v", kind, &cfg, Some(fixture.into()), &client),
            Ok(Credentials::Static(t)) if t == "ya29.static"
        ));
        cfg.access_token = Some("ya29.line\nbreak".into());
        let bad = credentials("v", kind, &cfg, None, &client)
            .err()
            .expect("bad");
        assert_eq!(bad.setting(), Some("access_token"));
        assert!(!bad.to_string().contains("ya29"), "{bad}");
        cfg.access_token = Some("ya29.static".into());
        cfg.credentials_file = Some(fixture.into());
        let both = credentials("v", kind, &cfg, None, &client)
            .err()
            .expect("both");
        assert!(both.to_string().contains("not both"), "{both}");
    }
}
