//! `GET /admin/overview`: what the console's Overview page shows, in one request: the
//! totals over a range, its largest keys (with their names), models and providers, and
//! its series per hour or day, all from the hourly rollups on one read connection; and
//! the latency percentiles over the range from the request log (gateway-auth's
//! `usage::latency`: nearest rank over successful requests; time to first token from
//! streamed ones).

use gateway_auth::usage::latency::Percentiles;
use gateway_auth::usage::query::{Bucket, GroupBy, UsageGroup};
use serde_json::{Value, json};

use super::params::Params;
use super::reply::{ApiError, blocking, ok};
use super::usage::{add, filter, point_json, reader, totals_json};
use crate::app::App;
use crate::respond::Answer;

/// Groups listed per kind by default, and at most.
const TOP: i64 = 5;
const MAX_TOP: i64 = 50;

/// The largest `top` groups, with `name` (a key's name) where `names` knows it.
fn top_json(groups: &[UsageGroup], top: usize, names: &[(String, String)]) -> Value {
    let list = groups
        .iter()
        .take(top)
        .map(|g| {
            let mut v = totals_json(&g.totals);
            v["group"] = json!(g.group);
            if let Some((_, name)) = names.iter().find(|(id, _)| *id == g.group) {
                v["name"] = json!(name);
            }
            v
        })
        .collect();
    Value::Array(list)
}

fn percentiles_json(p: &Percentiles) -> Value {
    json!({ "samples": p.samples, "p50_ms": p.p50_ms, "p95_ms": p.p95_ms })
}

/// `GET /admin/overview`.
pub(crate) async fn overview(app: &App, q: Option<&str>) -> Result<Answer, ApiError> {
    let p = Params::parse(q, &["from", "to", "bucket", "top"])?;
    let (range, _) = filter(&p)?;
    let bucket = match p.choice("bucket", &["hour", "day"])? {
        None | Some(0) => Bucket::Hour,
        Some(_) => Bucket::Day,
    };
    let top = usize::try_from(p.number("top", 1, MAX_TOP)?.unwrap_or(TOP)).unwrap_or(5);
    let usage = reader(app)?;
    let store = app.key_store().cloned();
    let f = range.clone();
    let (groups, points, names, latency) = blocking(move || {
        let groups =
            [GroupBy::Key, GroupBy::Model, GroupBy::Provider].map(|g| usage.totals(&f, Some(g)));
        let [keys, models, providers] = groups;
        let points = usage.series(&f, bucket, None)?;
        let latency = usage.latency(f.from_ms, f.to_ms)?;
        let names: Vec<(String, String)> = match store {
            Some(store) => store.list()?.into_iter().map(|k| (k.id, k.name)).collect(),
            None => Vec::new(),
        };
        Ok(([keys?, models?, providers?], points, names, latency))
    })
    .await?;
    let mut sum = gateway_auth::usage::query::UsageTotals::default();
    for g in &groups[0] {
        add(&mut sum, &g.totals);
    }
    let points: Vec<Value> = points.iter().map(point_json).collect();
    Ok(ok(&json!({
        "from_ms": range.from_ms,
        "to_ms": range.to_ms,
        "bucket": if bucket == Bucket::Hour { "hour" } else { "day" },
        "totals": totals_json(&sum),
        "top": {
            "keys": top_json(&groups[0], top, &names),
            "models": top_json(&groups[1], top, &[]),
            "providers": top_json(&groups[2], top, &[]),
        },
        "points": points,
        "latency": {
            "total": percentiles_json(&latency.total),
            "first_token": percentiles_json(&latency.first_token),
        },
    })))
}
