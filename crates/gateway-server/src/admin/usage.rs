//! Usage totals and time series (from the hourly rollups), pages of the request log,
//! and the provider list. Queries open their own read connection to the database.

use std::sync::Arc;

use gateway_auth::usage::query::{self, Bucket, GroupBy, LogQuery, UsageFilter, UsageTotals};
use gateway_auth::usage::{LoggedRequest, UsageReader};
use gateway_translate::time::format_rfc3339;
use http::StatusCode;
use serde_json::{Value, json};

use super::params::Params;
use super::reply::{ApiError, blocking, ok};
use crate::app::App;
use crate::respond::Answer;

/// The filters every usage query takes.
pub(super) const FILTERS: [&str; 7] = [
    "from", "to", "key", "project", "model", "provider", "group_by",
];

/// `group_by` values, in the order of [`GROUPS`].
const GROUP_NAMES: [&str; 5] = ["key", "project", "model", "provider", "day"];
const GROUPS: [GroupBy; 5] = [
    GroupBy::Key,
    GroupBy::Project,
    GroupBy::Model,
    GroupBy::Provider,
    GroupBy::Day,
];

/// Largest page of the request log.
const MAX_PAGE: i64 = 1000;

pub(super) fn reader(app: &App) -> Result<Arc<dyn UsageReader>, ApiError> {
    app.usage_reader().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable_error",
            "this server has no usage database ([storage] path)",
        )
    })
}

/// The filter and grouping of a usage query. Default range: everything up to now.
pub(super) fn filter(p: &Params) -> Result<(UsageFilter, Option<usize>), ApiError> {
    let now = gateway_auth::cache::now_ms();
    let from_ms = p.time_ms("from")?.unwrap_or(0);
    // `to` is exclusive: one past now takes in the current hour.
    let to_ms = p.time_ms("to")?.unwrap_or(now + 1);
    if to_ms <= from_ms {
        return Err(ApiError::invalid(Some("to"), "`to` must lie after `from`"));
    }
    let filter = UsageFilter {
        from_ms,
        to_ms,
        key_id: p.text("key"),
        project_id: p.text("project"),
        model: p.text("model"),
        provider: p.text("provider"),
    };
    Ok((filter, p.choice("group_by", &GROUP_NAMES)?))
}

pub(super) fn totals_json(t: &UsageTotals) -> Value {
    json!({
        "requests": t.requests,
        "errors": t.errors,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "cached_tokens": t.cached_tokens,
        "reasoning_tokens": t.reasoning_tokens,
        "cost_micros": t.cost_micros,
        "cost_usd": t.cost_usd(),
        "unpriced_requests": t.unpriced,
    })
}

/// One point of a series: its totals and its bucket's start (ms and RFC 3339).
pub(super) fn point_json(pt: &query::UsagePoint) -> Value {
    let mut v = totals_json(&pt.totals);
    v["bucket_ms"] = json!(pt.bucket_ms);
    v["bucket"] = json!(format_rfc3339(
        u64::try_from(pt.bucket_ms / 1000).unwrap_or(0)
    ));
    v
}

pub(super) fn add(sum: &mut UsageTotals, t: &UsageTotals) {
    sum.requests += t.requests;
    sum.errors += t.errors;
    sum.input_tokens += t.input_tokens;
    sum.output_tokens += t.output_tokens;
    sum.cached_tokens += t.cached_tokens;
    sum.reasoning_tokens += t.reasoning_tokens;
    sum.cost_micros += t.cost_micros;
    sum.unpriced += t.unpriced;
}

/// A group's value for people: `day` groups (their start in Unix ms) as dates.
fn group_label(group: Option<usize>, value: &str) -> Value {
    Value::String(group_text(group, value))
}

fn group_text(group: Option<usize>, value: &str) -> String {
    if group.map(|g| GROUPS[g]) == Some(GroupBy::Day) {
        if let Some(secs) = value.parse::<u64>().ok().map(|ms| ms / 1000) {
            return format_rfc3339(secs)[..10].to_owned();
        }
    }
    value.to_owned()
}

/// One row of a grouped usage table: the group's value for people (a date for
/// `day`), the key's or project's name where it has one, and its totals.
pub(super) struct TableRow {
    pub group: String,
    pub name: Option<String>,
    pub totals: UsageTotals,
}

/// A usage table: the range, the grouping (an index of [`GROUP_NAMES`]), the rows
/// (largest cost first; none when ungrouped) and their sum.
pub(super) struct Table {
    pub filter: UsageFilter,
    pub group: Option<usize>,
    pub rows: Vec<TableRow>,
    pub sum: UsageTotals,
}

impl Table {
    pub fn group_name(&self) -> Option<&'static str> {
        self.group.map(|g| GROUP_NAMES[g])
    }
}

/// The totals over the range of `p`, per group, with names: what `GET /admin/usage`
/// and its CSV export both show, from one read of the rollups.
pub(super) async fn table(app: &App, p: &Params) -> Result<Table, ApiError> {
    let (filter, group) = filter(p)?;
    let by = group.map(|g| GROUPS[g]);
    let usage = reader(app)?;
    let store = app.key_store().cloned();
    let f = filter.clone();
    let (groups, names) = blocking(move || {
        let groups = usage.totals(&f, by)?;
        let names: Vec<(String, String)> = match (by, store) {
            (Some(GroupBy::Key), Some(store)) => {
                store.list()?.into_iter().map(|k| (k.id, k.name)).collect()
            }
            (Some(GroupBy::Project), Some(store)) => store
                .list_projects()?
                .into_iter()
                .map(|p| (p.id, p.name))
                .collect(),
            _ => Vec::new(),
        };
        Ok((groups, names))
    })
    .await?;
    let mut sum = UsageTotals::default();
    let mut rows = Vec::with_capacity(groups.len());
    for g in &groups {
        add(&mut sum, &g.totals);
        let name = names
            .iter()
            .find(|(id, _)| *id == g.group)
            .map(|(_, name)| name.clone());
        rows.push(TableRow {
            group: group_text(group, &g.group),
            name,
            totals: g.totals,
        });
    }
    if group.is_none() {
        rows.clear();
    }
    Ok(Table {
        filter,
        group,
        rows,
        sum,
    })
}

fn range_json(f: &UsageFilter, group: Option<usize>) -> Value {
    json!({
        "from_ms": f.from_ms,
        "to_ms": f.to_ms,
        "group_by": group.map(|g| GROUP_NAMES[g]),
    })
}

/// `GET /admin/usage`: totals over the range, overall and per group (largest cost
/// first; a key or project group with its `name`).
pub(crate) async fn totals(app: &App, q: Option<&str>) -> Result<Answer, ApiError> {
    let p = Params::parse(q, &FILTERS)?;
    let t = table(app, &p).await?;
    let data: Vec<Value> = t
        .rows
        .iter()
        .map(|r| {
            let mut v = totals_json(&r.totals);
            v["group"] = json!(r.group);
            if let Some(name) = &r.name {
                v["name"] = json!(name);
            }
            v
        })
        .collect();
    let mut out = range_json(&t.filter, t.group);
    out["totals"] = totals_json(&t.sum);
    out["groups"] = Value::Array(data);
    Ok(ok(&out))
}

/// `GET /admin/usage/series`: one point per hour or day (and group), oldest first;
/// buckets without requests are absent.
pub(crate) async fn series(app: &App, q: Option<&str>) -> Result<Answer, ApiError> {
    let mut allowed = FILTERS.to_vec();
    allowed.push("bucket");
    let p = Params::parse(q, &allowed)?;
    let (filter, group) = filter(&p)?;
    let bucket = match p.choice("bucket", &["hour", "day"])? {
        None | Some(0) => Bucket::Hour,
        Some(_) => Bucket::Day,
    };
    let usage = reader(app)?;
    let f = filter.clone();
    let points = blocking(move || Ok(usage.series(&f, bucket, group.map(|g| GROUPS[g]))?)).await?;
    let data: Vec<Value> = points
        .iter()
        .map(|pt| {
            let mut v = point_json(pt);
            if group.is_some() {
                v["group"] = group_label(group, &pt.group);
            }
            v
        })
        .collect();
    let mut out = range_json(&filter, group);
    out["bucket"] = json!(if bucket == Bucket::Hour {
        "hour"
    } else {
        "day"
    });
    out["points"] = Value::Array(data);
    Ok(ok(&out))
}

/// `GET /admin/logs`: a page of the request log, newest first; `next` is the
/// `before` of the next page (`null` on the last).
pub(crate) async fn logs(app: &App, q: Option<&str>) -> Result<Answer, ApiError> {
    let p = Params::parse(
        q,
        &[
            "key", "model", "status", "errors", "from", "to", "before", "limit",
        ],
    )?;
    let status = p.number("status", 100, 599)?;
    let lq = LogQuery {
        key_id: p.text("key"),
        model: p.text("model"),
        status: status.and_then(|s| u16::try_from(s).ok()),
        errors_only: p.flag("errors")?,
        from_ms: p.time_ms("from")?,
        to_ms: p.time_ms("to")?,
        before_id: p.number("before", 1, i64::MAX)?,
        limit: usize::try_from(p.number("limit", 1, MAX_PAGE)?.unwrap_or(50)).unwrap_or(50),
    };
    let usage = reader(app)?;
    let page = blocking(move || Ok(usage.request_log(&lq)?)).await?;
    let data: Vec<Value> = page.entries.iter().map(entry_json).collect();
    Ok(ok(&json!({ "data": data, "next": page.next })))
}

fn entry_json(e: &LoggedRequest) -> Value {
    let r = &e.record;
    let body = |b: &Option<Vec<u8>>| {
        b.as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    json!({
        "id": e.id,
        "request_id": r.request_id,
        "ts_ms": r.ts_ms,
        "time": format_rfc3339(u64::try_from(r.ts_ms / 1000).unwrap_or(0)),
        "key_id": r.key_id,
        "project_id": r.project_id,
        "requested_model": r.requested_model,
        "routed_model": r.routed_model,
        "provider": r.provider,
        "caller_shape": r.caller_shape,
        "upstream_shape": r.upstream_shape,
        "status": r.status,
        "error_kind": r.error_kind,
        "streamed": r.streamed,
        "cache_hit": r.cache_hit,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cached_tokens": r.cached_tokens,
        "cache_write_tokens": r.cache_write_tokens,
        "reasoning_tokens": r.reasoning_tokens,
        "cost_micros": r.cost_micros,
        "cost_usd": r.cost_micros.map(gateway_auth::limits::micros_to_usd),
        "ttfb_ms": r.ttfb_ms,
        "total_ms": r.total_ms,
        "request_body": body(&r.request_body),
        "response_body": body(&r.response_body),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_groups_read_as_dates() {
        assert_eq!(group_label(Some(4), "1700006400000"), json!("2023-11-15"));
        assert_eq!(group_label(Some(2), "gpt-5"), json!("gpt-5"));
    }

    #[test]
    fn ranges_must_be_ordered() {
        let p = Params::parse(Some("from=10&to=5"), &FILTERS).unwrap();
        assert_eq!(filter(&p).unwrap_err().param.as_deref(), Some("to"));
        let p = Params::parse(Some("group_by=week"), &FILTERS).unwrap();
        assert_eq!(filter(&p).unwrap_err().param.as_deref(), Some("group_by"));
    }
}
