//! Providers in the admin API: the config file's (read-only) and the ones added at
//! runtime (add, change, remove without a restart; their upstream keys sealed in
//! the database, shown back by their last four characters only), the presets to
//! start from, a connection test and the upstream's model list. Also the reload
//! state and "reload now" (`/admin/config`).

mod probe;

use std::sync::Arc;

use bytes::Bytes;
use gateway_auth::KeyChange;
use gateway_providers::presets::PRESETS;
use gateway_providers::{Provider, ProviderKind};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::reply::{ApiError, blocking, json_answer, ok};
use crate::app::App;
use crate::config::ConfigError;
use crate::reload::{RuntimeChangeError, Trigger, provider_table};
use crate::respond::Answer;

/// Longest provider name accepted (it is a label value and a path segment).
const MAX_NAME: usize = 64;

/// `GET /admin/providers`: every provider in force, by name: where it comes from,
/// kind, preset, wire shape, host; a runtime one also its settings and key hint.
/// Never a key, a header value or a full URL of the file's (a URL may carry a key).
pub(crate) async fn list(app: &Arc<App>) -> Result<Answer, ApiError> {
    let table = app.table();
    let stored = match &app.upstreams {
        Some(_) => {
            let app = app.clone();
            blocking(move || Ok(app.upstreams.as_ref().map(|s| s.list()).transpose()?)).await?
        }
        None => None,
    }
    .unwrap_or_default();
    let mut list: Vec<_> = table.providers().collect();
    list.sort_by_key(|(name, _)| *name);
    let data: Vec<Value> = list
        .iter()
        .map(|(name, p)| {
            let mut v = describe(name, p);
            match stored.iter().find(|s| s.name == *name) {
                Some(s) => {
                    v["source"] = json!("runtime");
                    v["settings"] = Value::Object(redacted(&s.settings));
                    v["key_hint"] = json!(s.key_hint);
                    v["updated_ms"] = json!(s.updated_ms);
                }
                None => v["source"] = json!("file"),
            }
            v
        })
        .collect();
    Ok(ok(&json!({
        "data": data,
        "generation": table.generation(),
        "runtime_enabled": app.upstreams.is_some(),
        // What a page adding one needs too, so it loads in one request.
        "presets": presets_value(),
    })))
}

/// A runtime provider's settings as shown: header values hidden (they may carry
/// credentials, as a proxy's auth header does), names kept.
fn redacted(settings: &Map<String, Value>) -> Map<String, Value> {
    let mut shown = settings.clone();
    if let Some(Value::Object(headers)) = shown.get_mut("headers") {
        for value in headers.values_mut() {
            *value = json!("(hidden)");
        }
    }
    shown
}

fn describe(name: &str, p: &Provider) -> Value {
    json!({
        "name": name,
        "kind": p.kind().as_str(),
        "preset": p.preset().map(|pr| pr.name),
        "shape": p.shape().as_str(),
        "host": host_of(p.base_url()),
    })
}

/// The host (and port) of a URL, without user info, path or query; `None` for an
/// empty URL (the mock provider).
pub(crate) fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    (!host.is_empty()).then(|| host.to_owned())
}

/// `GET /admin/providers/presets`: the kinds with their default API roots, and the
/// OpenAI-compatible presets.
pub(crate) fn presets() -> Answer {
    ok(&presets_value())
}

fn presets_value() -> Value {
    let kinds: Vec<Value> = ProviderKind::ALL
        .iter()
        .map(|k| json!({"kind": k.as_str(), "base_url": k.default_base_url()}))
        .collect();
    let presets: Vec<Value> = PRESETS
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "label": p.label,
                "base_url": p.base_url,
                "api_key_env": p.api_key_env,
                "key_required": p.quirks.key_required,
            })
        })
        .collect();
    json!({"kinds": kinds, "presets": presets})
}

/// A provider body: `name` (create only), `api_key` (a string sets it, `null`
/// removes it, absent keeps it) and the rest: the provider's settings, as a
/// `[providers.<name>]` table would hold them.
struct Body {
    name: Option<String>,
    key: KeyChange,
    settings: Map<String, Value>,
}

fn parse(body: &Bytes) -> Result<Body, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(None, format!("the body is not valid JSON: {e}")))?;
    let Value::Object(mut settings) = value else {
        return Err(ApiError::invalid(None, "the body must be a JSON object"));
    };
    let name = match settings.remove("name") {
        None => None,
        Some(Value::String(n)) => Some(n),
        Some(_) => return Err(ApiError::invalid(Some("name"), "name: must be a string")),
    };
    if settings.contains_key("access_token") {
        // Settings are stored and shown as they are; secrets go in the sealed key.
        return Err(ApiError::invalid(
            Some("access_token"),
            "access_token: send it as api_key, which is sealed in the database (a Vertex AI provider's key is its access token)",
        ));
    }
    if settings.contains_key("secret_access_key") {
        return Err(ApiError::invalid(
            Some("secret_access_key"),
            "secret_access_key: send it as api_key, which is sealed in the database (a Bedrock provider's key is its secret access key)",
        ));
    }
    if settings.contains_key("session_token") {
        // One sealed key per provider: temporary credentials cannot be stored with it.
        return Err(ApiError::invalid(
            Some("session_token"),
            "session_token: a provider added at runtime keeps one sealed secret; use a long-term key, or declare the provider in the config file",
        ));
    }
    let key = match settings.remove("api_key") {
        None => KeyChange::Keep,
        Some(Value::Null) => KeyChange::Clear,
        Some(Value::String(k)) if k.trim().is_empty() => KeyChange::Clear,
        Some(Value::String(k)) => KeyChange::Set(k.trim().to_owned()),
        Some(_) => {
            return Err(ApiError::invalid(
                Some("api_key"),
                "api_key: must be a string (or null to remove it)",
            ));
        }
    };
    Ok(Body {
        name,
        key,
        settings,
    })
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let fine = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if fine {
        Ok(())
    } else {
        Err(ApiError::invalid(
            Some("name"),
            format!(
                "name: use 1 to {MAX_NAME} letters, digits, `-` and `_`, starting with a letter or digit"
            ),
        ))
    }
}

/// A configuration error as a 400 naming the setting (`base_url`, not the
/// `providers.<name>.` path the file would have).
fn invalid(name: &str, err: ConfigError) -> ApiError {
    let (path, message) = match &err {
        ConfigError::Invalid { problems, .. } if !problems.is_empty() => {
            let p = &problems[0];
            (p.path.clone(), p.message.clone())
        }
        other => (String::new(), other.to_string()),
    };
    let prefix = format!("providers.{name}");
    let param = path
        .strip_prefix(&prefix)
        .map(|rest| rest.trim_start_matches('.').to_owned())
        .filter(|p| !p.is_empty());
    let shown = if path.is_empty() {
        message
    } else {
        format!("{path}: {message}")
    };
    ApiError::invalid(param.as_deref(), shown)
}

fn change_error(name: &str, err: RuntimeChangeError) -> ApiError {
    match err {
        RuntimeChangeError::Invalid(e) => invalid(name, e),
        RuntimeChangeError::Store(e) => e.into(),
    }
}

fn no_store() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable_error",
        "this server has no database ([storage] path): providers cannot be added at runtime",
    )
}

fn read_only(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict_error",
        format!(
            "provider `{name}` comes from the config file: change it there (the file is reloaded when it changes)"
        ),
    )
}

/// `POST /admin/providers`: adds a runtime provider; 201 with it. 409 when the
/// name is taken; 400 naming the setting when the result would not validate.
pub(crate) async fn create(app: &Arc<App>, body: &Bytes) -> Result<Answer, ApiError> {
    let Body {
        name,
        key,
        settings,
    } = parse(body)?;
    let name = name.ok_or_else(|| ApiError::invalid(Some("name"), "name: is required"))?;
    check_name(&name)?;
    if app.upstreams.is_none() {
        return Err(no_store());
    }
    if app.table().provider(&name).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict_error",
            format!("a provider called `{name}` exists already"),
        ));
    }
    let plain = match &key {
        KeyChange::Set(k) => Some(k.clone()),
        _ => None,
    };
    let table =
        provider_table(&name, &settings, plain.as_deref()).map_err(|e| invalid(&name, e))?;
    let app2 = app.clone();
    let stored = blocking(move || {
        let store = app2.upstreams.as_ref().ok_or_else(no_store)?;
        app2.change_runtime(
            |list| list.push((name.clone(), table)),
            || store.put(&name, &settings, &key),
        )
        .map_err(|e| change_error(&name, e))
    })
    .await?;
    Ok(json_answer(
        StatusCode::CREATED,
        &json!({"name": stored.name, "source": "runtime", "settings": stored.settings, "key_hint": stored.key_hint}),
    ))
}

/// `PATCH /admin/providers/{name}`: changes a runtime provider's settings (a
/// setting given replaces its value, `null` removes it) and key.
pub(crate) async fn update(app: &Arc<App>, name: &str, body: &Bytes) -> Result<Answer, ApiError> {
    let Body {
        name: renamed,
        key,
        settings: changes,
    } = parse(body)?;
    if renamed.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::invalid(
            Some("name"),
            "name: a provider cannot be renamed; add one under the new name and remove this one",
        ));
    }
    if app.upstreams.is_none() {
        return Err(if app.table().provider(name).is_some() {
            read_only(name)
        } else {
            not_found(name)
        });
    }
    let name = name.to_owned();
    let app2 = app.clone();
    let stored = blocking(move || {
        let store = app2.upstreams.as_ref().ok_or_else(no_store)?;
        let current = store.list_opened()?;
        let Some((old, old_key)) = current.into_iter().find(|(s, _)| s.name == name) else {
            return Err(if app2.table().provider(&name).is_some() {
                read_only(&name)
            } else {
                not_found(&name)
            });
        };
        let mut settings = old.settings;
        for (k, v) in changes {
            if v.is_null() {
                settings.remove(&k);
            } else {
                settings.insert(k, v);
            }
        }
        let plain = match &key {
            KeyChange::Keep => old_key,
            KeyChange::Set(k) => Some(k.clone()),
            KeyChange::Clear => None,
        };
        let table =
            provider_table(&name, &settings, plain.as_deref()).map_err(|e| invalid(&name, e))?;
        app2.change_runtime(
            |list| {
                if let Some(slot) = list.iter_mut().find(|(n, _)| *n == name) {
                    slot.1 = table;
                }
            },
            || store.put(&name, &settings, &key),
        )
        .map_err(|e| change_error(&name, e))
    })
    .await?;
    Ok(ok(
        &json!({"name": stored.name, "source": "runtime", "settings": stored.settings, "key_hint": stored.key_hint}),
    ))
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found_error",
        format!("provider `{name}` not found"),
    )
}

/// `DELETE /admin/providers/{name}`: removes a runtime provider (refused, naming
/// the route, while a route of the file still sends to it).
pub(crate) async fn remove(app: &Arc<App>, name: &str) -> Result<Answer, ApiError> {
    let name = name.to_owned();
    let app2 = app.clone();
    blocking(move || {
        let store = app2.upstreams.as_ref().ok_or_else(no_store)?;
        if !store.list()?.iter().any(|s| s.name == name) {
            return Err(if app2.table().provider(&name).is_some() {
                read_only(&name)
            } else {
                not_found(&name)
            });
        }
        app2.change_runtime(
            |list| list.retain(|(n, _)| *n != name),
            || store.remove(&name),
        )
        .map_err(|e| change_error(&name, e))?;
        Ok(ok(&json!({"name": name, "removed": true})))
    })
    .await
}

/// `POST /admin/providers/{name}/test`: a real request to the upstream (its model
/// list), with how long it took and the upstream's error if any.
pub(crate) async fn test(app: &Arc<App>, name: &str) -> Result<Answer, ApiError> {
    let table = app.table();
    let provider = table.provider(name).ok_or_else(|| not_found(name))?;
    let result = probe::probe(provider).await;
    Ok(ok(
        &serde_json::to_value(&result).map_err(ApiError::internal)?
    ))
}

/// `GET /admin/providers/{name}/models`: the upstream's model list (ids).
pub(crate) async fn models(app: &Arc<App>, name: &str) -> Result<Answer, ApiError> {
    let table = app.table();
    let provider = table.provider(name).ok_or_else(|| not_found(name))?;
    let result = probe::probe(provider).await;
    if !result.ok {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            result
                .error
                .unwrap_or_else(|| "the upstream did not answer".into()),
        ));
    }
    Ok(ok(
        &json!({"data": result.models, "latency_ms": result.latency_ms}),
    ))
}

/// `GET /admin/config`: the config file, the table in force and the latest reloads.
pub(crate) fn status(app: &App) -> Answer {
    ok(&serde_json::to_value(app.reload_status()).unwrap_or(Value::Null))
}

/// `POST /admin/config/reload`: reads the config file again now; 200 with what the
/// reload did (a refused file is `ok: false` with its error, and 422).
pub(crate) async fn reload(app: &Arc<App>) -> Result<Answer, ApiError> {
    let app2 = app.clone();
    let report = blocking(move || Ok(app2.reload_file(Trigger::Admin))).await?;
    let status = if report.ok {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(json_answer(
        status,
        &serde_json::to_value(&report).map_err(ApiError::internal)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::{host_of, redacted};

    #[test]
    fn header_values_are_hidden_and_names_kept() {
        let settings = serde_json::json!({
            "kind": "openai",
            "headers": {"proxy-authorization": "Basic c2VjcmV0", "x-team": "a"},
        });
        let shown = redacted(settings.as_object().unwrap());
        assert_eq!(shown["kind"], "openai");
        assert_eq!(shown["headers"]["proxy-authorization"], "(hidden)");
        assert_eq!(shown["headers"]["x-team"], "(hidden)");
        assert!(
            !serde_json::Value::Object(shown)
                .to_string()
                .contains("c2VjcmV0")
        );
    }

    #[test]
    fn hosts_lose_credentials_paths_and_queries() {
        assert_eq!(
            host_of("https://user:sk-secret@api.example.com:8443/v1?key=abc").as_deref(),
            Some("api.example.com:8443")
        );
        assert_eq!(
            host_of("http://127.0.0.1:9/v1").as_deref(),
            Some("127.0.0.1:9")
        );
        assert_eq!(host_of(""), None);
    }
}
