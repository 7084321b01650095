//! The admin route table: every method and path template the admin API serves, and
//! matching a request against it. The table is the one source of truth: the router
//! serves exactly these, and a test holds the OpenAPI document to the same list.

use http::{Method, StatusCode};

use super::reply::ApiError;

/// What a route does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    ListKeys,
    CreateKey,
    GetKey,
    UpdateKey,
    RevokeKey,
    RotateKey,
    DisableKey,
    EnableKey,
    KeyLimits,
    ListProjects,
    CreateProject,
    GetProject,
    UpdateProject,
    ProjectLimits,
    Usage,
    UsageSeries,
    UsageExport,
    Overview,
    Logs,
    Providers,
    ProviderPresets,
    CreateProvider,
    UpdateProvider,
    RemoveProvider,
    TestProvider,
    ProviderModels,
    ConfigStatus,
    ReloadConfig,
    Routing,
    ResolveRoute,
    ListTools,
    ConnectTool,
    DisconnectTool,
    Live,
    OpenApi,
}

/// Every admin route: its method and path template (`{id}` matches one path
/// segment: a key's or project's id, or its name; a tool's name).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin/keys"),
    ("POST", "/admin/keys"),
    ("GET", "/admin/keys/{id}"),
    ("PATCH", "/admin/keys/{id}"),
    ("POST", "/admin/keys/{id}/revoke"),
    ("POST", "/admin/keys/{id}/rotate"),
    ("POST", "/admin/keys/{id}/disable"),
    ("POST", "/admin/keys/{id}/enable"),
    ("GET", "/admin/keys/{id}/limits"),
    ("GET", "/admin/projects"),
    ("POST", "/admin/projects"),
    ("GET", "/admin/projects/{id}"),
    ("PATCH", "/admin/projects/{id}"),
    ("GET", "/admin/projects/{id}/limits"),
    ("GET", "/admin/usage"),
    ("GET", "/admin/usage/series"),
    ("GET", "/admin/usage/export.csv"),
    ("GET", "/admin/overview"),
    ("GET", "/admin/logs"),
    ("GET", "/admin/providers"),
    ("GET", "/admin/providers/presets"),
    ("POST", "/admin/providers"),
    ("PATCH", "/admin/providers/{id}"),
    ("DELETE", "/admin/providers/{id}"),
    ("POST", "/admin/providers/{id}/test"),
    ("GET", "/admin/providers/{id}/models"),
    ("GET", "/admin/config"),
    ("POST", "/admin/config/reload"),
    ("GET", "/admin/routing"),
    ("GET", "/admin/routing/resolve"),
    ("GET", "/admin/tools"),
    ("POST", "/admin/tools/{id}/connect"),
    ("POST", "/admin/tools/{id}/disconnect"),
    ("GET", "/admin/live"),
    ("GET", "/admin/openapi.json"),
];

/// The operation of each entry of [`ROUTES`], in the same order.
const OPS: &[Op] = &[
    Op::ListKeys,
    Op::CreateKey,
    Op::GetKey,
    Op::UpdateKey,
    Op::RevokeKey,
    Op::RotateKey,
    Op::DisableKey,
    Op::EnableKey,
    Op::KeyLimits,
    Op::ListProjects,
    Op::CreateProject,
    Op::GetProject,
    Op::UpdateProject,
    Op::ProjectLimits,
    Op::Usage,
    Op::UsageSeries,
    Op::UsageExport,
    Op::Overview,
    Op::Logs,
    Op::Providers,
    Op::ProviderPresets,
    Op::CreateProvider,
    Op::UpdateProvider,
    Op::RemoveProvider,
    Op::TestProvider,
    Op::ProviderModels,
    Op::ConfigStatus,
    Op::ReloadConfig,
    Op::Routing,
    Op::ResolveRoute,
    Op::ListTools,
    Op::ConnectTool,
    Op::DisconnectTool,
    Op::Live,
    Op::OpenApi,
];

/// The operation for `method` on `path`, with the path's `{id}` values
/// (percent-decoded). Unknown paths are 404; known paths with another method are
/// 405 with `Allow`.
pub(crate) fn find(method: &Method, path: &str) -> Result<(Op, Vec<String>), ApiError> {
    let mut allow: Vec<&str> = Vec::new();
    for (&(m, template), &op) in ROUTES.iter().zip(OPS.iter()) {
        let Some(ids) = matches(template, path) else {
            continue;
        };
        if m == method.as_str() {
            return Ok((op, ids));
        }
        allow.push(m);
    }
    if allow.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found_error",
            format!("no admin route for {method} {path}; see GET /admin/openapi.json"),
        ));
    }
    let allow = allow.join(", ");
    let mut err = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        format!("{path} takes {allow}"),
    );
    err.allow = Some(allow);
    Err(err)
}

/// The `{id}` values when `path` fits `template` (a trailing slash is tolerated).
fn matches(template: &str, path: &str) -> Option<Vec<String>> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let mut ids = Vec::new();
    let mut want = template.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(ids),
            (Some("{id}"), Some(seg)) if !seg.is_empty() => {
                ids.push(crate::ingress::percent_decode(seg));
            }
            (Some(w), Some(h)) if w == h => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn paths_find_their_operation_and_ids() {
        let (op, ids) = find(&Method::POST, "/admin/keys/abc%20d/rotate").unwrap();
        assert_eq!((op, ids), (Op::RotateKey, vec!["abc d".to_owned()]));
        assert_eq!(find(&Method::GET, "/admin/keys/").unwrap().0, Op::ListKeys);
        assert_eq!(
            find(&Method::GET, "/admin/usage/series").unwrap().0,
            Op::UsageSeries
        );
        let err = find(&Method::DELETE, "/admin/keys/k1").unwrap_err();
        assert_eq!(err.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(err.allow.as_deref(), Some("GET, PATCH"));
        let err = find(&Method::GET, "/admin/keys/k1/explode").unwrap_err();
        assert_eq!(err.status, StatusCode::NOT_FOUND);
        assert!(find(&Method::GET, "/admin/keys//revoke").is_err());
    }

    #[test]
    fn every_route_is_in_the_openapi_document_and_nothing_else() {
        let doc: serde_json::Value = serde_json::from_str(super::super::OPENAPI).unwrap();
        assert_eq!(doc["openapi"].as_str().unwrap().get(..3), Some("3.1"));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "patch", "put", "delete", "head", "options"]
                    .contains(&method.as_str())
                {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let served: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        assert_eq!(served.len(), ROUTES.len(), "a route is listed twice");
        assert_eq!(documented, served);
    }

    #[test]
    fn every_operation_has_one_route() {
        let ops: BTreeSet<String> = OPS.iter().map(|op| format!("{op:?}")).collect();
        assert_eq!(ops.len(), ROUTES.len());
    }
}
