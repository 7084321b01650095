//! Keys and projects: the admin face of `gateway_auth::KeyStore`. Bodies are read
//! with `gateway_auth::keys::parse_json`, so a mistake is a 400 naming its path
//! (`policy.limits.rmp`); ids may be a key's or project's id or its name. Where each
//! limit stands (used, remaining, when it resets) comes from the gateway's limiter.

use std::sync::Arc;

use bytes::Bytes;
use gateway_auth::keys::{KeyRecord, KeyUpdate, NewKey, NewProject, ProjectUpdate, parse_json};
use gateway_auth::limits::{LimitUsage, Unit, micros_to_usd};
use gateway_auth::{KeyStore, Limits, ProjectRecord, Scope};
use http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::reply::{ApiError, blocking, json_answer, ok};
use crate::app::App;
use crate::respond::Answer;

/// A key change without parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Action {
    Revoke,
    Disable,
    Enable,
}

/// The body of `POST /admin/keys/{id}/rotate`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Rotate {
    /// Seconds the old secret keeps working.
    grace_secs: u64,
}

/// The body of a change that takes none: nothing, or `{}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoFields {}

pub(crate) fn store(app: &App) -> Result<Arc<KeyStore>, ApiError> {
    app.key_store().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable_error",
            "this server has no key database ([storage] path)",
        )
    })
}

/// Parses a JSON body; an empty body is `T::default()` when `empty_ok`.
pub(crate) fn body<T: DeserializeOwned + Default>(
    body: &Bytes,
    empty_ok: bool,
) -> Result<T, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::invalid(None, "the body is not UTF-8 JSON"))?;
    if empty_ok && text.trim().is_empty() {
        return Ok(T::default());
    }
    Ok(parse_json::<T>("", text)?)
}

/// A key as JSON: the record, its state now, and `key` (the plaintext) when given.
pub(crate) fn key_json(record: &KeyRecord, plaintext: Option<String>) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(record).map_err(ApiError::internal)?;
    let state = record.state(gateway_auth::cache::now_ms());
    v["state"] = serde_json::to_value(state).map_err(ApiError::internal)?;
    if let Some(key) = plaintext {
        v["key"] = Value::String(key);
    }
    Ok(v)
}

fn project_json(record: &ProjectRecord) -> Result<Value, ApiError> {
    serde_json::to_value(record).map_err(ApiError::internal)
}

/// `GET /admin/keys`: every key, oldest first.
pub(crate) async fn list(app: &App) -> Result<Answer, ApiError> {
    let store = store(app)?;
    let keys = blocking(move || Ok(store.list()?)).await?;
    let data = keys
        .iter()
        .map(|k| key_json(k, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(&json!({ "data": data })))
}

/// `POST /admin/keys`: a new key, with its plaintext (shown this once).
pub(crate) async fn create(app: &App, raw: &Bytes) -> Result<Answer, ApiError> {
    let new: NewKey = body(raw, false)?;
    let store = store(app)?;
    let (record, secret) = blocking(move || Ok(store.create(new)?)).await?;
    Ok(json_answer(
        StatusCode::CREATED,
        &key_json(&record, Some(secret))?,
    ))
}

/// `GET /admin/keys/{id}`; with `?include=limits`, also where its limits stand (as
/// `GET /admin/keys/{id}/limits` answers), so a page needs one request for both.
pub(crate) async fn get(app: &App, id: String, query: Option<&str>) -> Result<Answer, ApiError> {
    let with_limits = includes_limits(query)?;
    let store = store(app)?;
    let (record, project) = blocking(move || {
        let key = store.get(&id)?;
        let project = match (&key.project_id, with_limits) {
            (Some(p), true) => Some(store.get_project(p)?),
            _ => None,
        };
        Ok((key, project))
    })
    .await?;
    let mut v = key_json(&record, None)?;
    if with_limits {
        v["limits_standing"] = key_standing(app, &record, project.as_ref());
    }
    Ok(ok(&v))
}

/// `?include=limits` (the only include there is); anything else is a 400.
fn includes_limits(query: Option<&str>) -> Result<bool, ApiError> {
    let params = super::params::Params::parse(query, &["include"])?;
    match params.text("include").as_deref() {
        None => Ok(false),
        Some("limits") => Ok(true),
        Some(other) => Err(ApiError::invalid(
            Some("include"),
            format!("include: `{other}` is not something to include; `limits` is"),
        )),
    }
}

/// `PATCH /admin/keys/{id}`: name, project, policy (whole) or expiry.
pub(crate) async fn update(app: &App, id: String, raw: &Bytes) -> Result<Answer, ApiError> {
    let update: KeyUpdate = body(raw, false)?;
    let store = store(app)?;
    let record = blocking(move || Ok(store.update(&id, update)?)).await?;
    Ok(ok(&key_json(&record, None)?))
}

/// `POST /admin/keys/{id}/revoke|disable|enable`.
pub(crate) async fn act(
    app: &App,
    id: String,
    action: Action,
    raw: &Bytes,
) -> Result<Answer, ApiError> {
    let NoFields {} = body(raw, true)?;
    let store = store(app)?;
    let record = blocking(move || {
        Ok(match action {
            Action::Revoke => store.revoke(&id)?,
            Action::Disable => store.set_disabled(&id, true)?,
            Action::Enable => store.set_disabled(&id, false)?,
        })
    })
    .await?;
    Ok(ok(&key_json(&record, None)?))
}

/// `POST /admin/keys/{id}/rotate`: a new secret, with its plaintext; the old one
/// works for `grace_secs` more.
pub(crate) async fn rotate(app: &App, id: String, raw: &Bytes) -> Result<Answer, ApiError> {
    let Rotate { grace_secs } = body(raw, true)?;
    let store = store(app)?;
    let grace = std::time::Duration::from_secs(grace_secs);
    let (record, secret) = blocking(move || Ok(store.rotate(&id, grace)?)).await?;
    Ok(ok(&key_json(&record, Some(secret))?))
}

/// `GET /admin/projects`: every project, by name.
pub(crate) async fn list_projects(app: &App) -> Result<Answer, ApiError> {
    let store = store(app)?;
    let projects = blocking(move || Ok(store.list_projects()?)).await?;
    let data = projects
        .iter()
        .map(project_json)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ok(&json!({ "data": data })))
}

/// `POST /admin/projects`.
pub(crate) async fn create_project(app: &App, raw: &Bytes) -> Result<Answer, ApiError> {
    let new: NewProject = body(raw, false)?;
    let store = store(app)?;
    let record = blocking(move || Ok(store.create_project(new)?)).await?;
    Ok(json_answer(StatusCode::CREATED, &project_json(&record)?))
}

/// `GET /admin/projects/{id}`; with `?include=limits`, also where its limits stand.
pub(crate) async fn get_project(
    app: &App,
    id: String,
    query: Option<&str>,
) -> Result<Answer, ApiError> {
    let with_limits = includes_limits(query)?;
    let store = store(app)?;
    let record = blocking(move || Ok(store.get_project(&id)?)).await?;
    let mut v = project_json(&record)?;
    if with_limits {
        let now = gateway_auth::cache::now_ms();
        let data = standing(app, Scope::Project, &record.id, &record.limits, now);
        v["limits_standing"] = json!({ "at_ms": now, "data": data });
    }
    Ok(ok(&v))
}

/// `PATCH /admin/projects/{id}`: name or limits (whole).
pub(crate) async fn update_project(app: &App, id: String, raw: &Bytes) -> Result<Answer, ApiError> {
    let update: ProjectUpdate = body(raw, false)?;
    let store = store(app)?;
    let record = blocking(move || Ok(store.update_project(&id, update)?)).await?;
    Ok(ok(&project_json(&record)?))
}

/// `GET /admin/keys/{id}/limits`: where each limit of the key, and of its project
/// when it has one, stands now.
pub(crate) async fn key_limits(app: &App, id: String) -> Result<Answer, ApiError> {
    let store = store(app)?;
    let (key, project) = blocking(move || {
        let key = store.get(&id)?;
        let project = key
            .project_id
            .as_deref()
            .map(|p| store.get_project(p))
            .transpose()?;
        Ok((key, project))
    })
    .await?;
    Ok(ok(&key_standing(app, &key, project.as_ref())))
}

/// Where a key's limits, and its project's, stand now.
fn key_standing(app: &App, key: &KeyRecord, project: Option<&ProjectRecord>) -> Value {
    let now = gateway_auth::cache::now_ms();
    let mut data = standing(app, Scope::Key, &key.id, &key.policy.limits, now);
    if let Some(p) = project {
        data.extend(standing(app, Scope::Project, &p.id, &p.limits, now));
    }
    json!({ "at_ms": now, "data": data })
}

/// `GET /admin/projects/{id}/limits`: where each limit of the project stands now.
pub(crate) async fn project_limits(app: &App, id: String) -> Result<Answer, ApiError> {
    let store = store(app)?;
    let project = blocking(move || Ok(store.get_project(&id)?)).await?;
    let now = gateway_auth::cache::now_ms();
    let data = standing(app, Scope::Project, &project.id, &project.limits, now);
    Ok(ok(&json!({ "at_ms": now, "data": data })))
}

/// One subject's limits as JSON rows; money in dollars, as policies write it.
fn standing(app: &App, scope: Scope, id: &str, limits: &Limits, now_ms: i64) -> Vec<Value> {
    app.limiter
        .usage(scope, id, limits, now_ms)
        .iter()
        .map(|u| limit_row(scope, id, u))
        .collect()
}

fn limit_row(scope: Scope, id: &str, u: &LimitUsage) -> Value {
    let (unit, amount): (&str, fn(u64) -> Value) = match u.kind.unit() {
        Unit::Requests => ("requests", |v| json!(v)),
        Unit::Tokens => ("tokens", |v| json!(v)),
        Unit::MicroUsd => ("usd", |v| {
            json!(micros_to_usd(i64::try_from(v).unwrap_or(i64::MAX)))
        }),
    };
    json!({
        "scope": scope.as_str(),
        "id": id,
        "name": u.kind.name(),
        "unit": unit,
        "window": u.kind.window().as_str(),
        "limit": u.limit.map(amount),
        "used": amount(u.used),
        "remaining": u.remaining.map(amount),
        "resets_ms": u.resets_ms,
    })
}
