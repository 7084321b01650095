//! The Grafana dashboard (`docs/grafana/patchbay.json`) queries only what the gateway
//! exports: every `patchbay_*` name in its PromQL is a series of a real `/metrics`
//! scrape, label names match, `rate()` is never over a gauge, and every panel has a
//! datasource and a query.
//!
//! A name counts as exported only when the scrape has samples of it, not a bare
//! `# TYPE` line: the traffic below reaches every family (same-shape, streamed,
//! cross-shape, refused keys, a rate-limited key, a failing upstream retried and
//! fallen back from), so a name without samples is a name nothing writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::collections::{BTreeMap, BTreeSet};

use gateway_auth::Limits;
use gateway_protocol::ApiShape;
use gateway_providers::MockConfig;
use serde_json::Value;
use support::*;

fn dashboard() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana/patchbay.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON: {e}"))
}

/// Every panel, rows' nested panels included.
fn panels(dash: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(inner) = p["panels"].as_array() {
            out.extend(inner);
        }
    }
    out
}

/// The PromQL of every panel target and template variable, with where it is from.
fn queries(dash: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(dash) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or_default().to_owned();
            out.push((format!("panel {:?}", p["title"]), expr));
        }
    }
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] == "query" {
            let expr = v["definition"].as_str().unwrap_or_default().to_owned();
            out.push((format!("variable {:?}", v["name"]), expr));
        }
    }
    out
}

/// A scrape: each family's type by name, and each series name's label names.
#[derive(Default)]
struct Exposition {
    types: BTreeMap<String, String>,
    series: BTreeMap<String, BTreeSet<String>>,
}

impl Exposition {
    fn parse(text: &str) -> Exposition {
        let mut e = Exposition::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                e.types.insert(name.to_owned(), kind.to_owned());
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let labels = e.series.entry(line[..end].to_owned()).or_default();
            if line[end..].starts_with('{') {
                labels.extend(label_names(&line[end + 1..]));
            }
        }
        e
    }

    /// The family a series name belongs to, and its type.
    fn family(&self, series: &str) -> Option<(&str, &str)> {
        let candidates = [
            (series, None),
            (series.trim_end_matches("_total"), Some("counter")),
            (series.trim_end_matches("_bucket"), Some("histogram")),
            (series.trim_end_matches("_sum"), Some("histogram")),
            (series.trim_end_matches("_count"), Some("histogram")),
        ];
        candidates.into_iter().find_map(|(name, wanted)| {
            let (name, kind) = self.types.get_key_value(name)?;
            (wanted.is_none() || wanted == Some(kind.as_str()))
                .then_some((name.as_str(), kind.as_str()))
        })
    }
}

/// The label names of a `{a="x",b="y"}` matcher list or sample labels, from after
/// the `{` to the closing `}`.
fn label_names(s: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        let name: String = std::iter::from_fn(|| chars.next_if(|c| is_name_char(*c))).collect();
        if name.is_empty() {
            break;
        }
        names.push(name);
        // Skip the operator and the quoted value (with its escapes).
        while chars.next_if(|c| *c != '"').is_some() {}
        chars.next();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => break,
                _ => {}
            }
        }
    }
    names
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// What one PromQL expression uses: metric names (with the label names matched on
/// each), names inside `rate()`, and the label names of `by (...)` clauses.
#[derive(Debug, Default)]
struct Uses {
    metrics: BTreeMap<String, BTreeSet<String>>,
    rated: BTreeSet<String>,
    grouped: BTreeSet<String>,
}

fn uses(expr: &str) -> Uses {
    let mut u = Uses::default();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !is_name_char(bytes[i] as char) || (i > 0 && is_name_char(bytes[i - 1] as char)) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_name_char(bytes[i] as char) {
            i += 1;
        }
        let word = &expr[start..i];
        let rest = expr[i..].trim_start();
        if word.starts_with("patchbay_") {
            let matched = match rest.strip_prefix('{') {
                Some(m) => label_names(&m[..m.find('}').unwrap_or(m.len())]),
                None => Vec::new(),
            };
            u.metrics
                .entry(word.to_owned())
                .or_default()
                .extend(matched);
            let before = expr[..start].trim_end();
            if before.ends_with("rate(") || before.ends_with("increase(") {
                u.rated.insert(word.to_owned());
            }
        } else if word == "by" || word == "without" {
            if let Some(list) = rest.strip_prefix('(') {
                let list = &list[..list.find(')').unwrap_or(list.len())];
                u.grouped.extend(
                    list.split(',')
                        .map(|l| l.trim().to_owned())
                        .filter(|l| !l.is_empty()),
                );
            }
        }
    }
    u
}

/// What is wrong with `queries` against the scrape `e`: one line per problem.
fn problems(queries: &[(String, String)], e: &Exposition) -> Vec<String> {
    let mut out = Vec::new();
    for (from, expr) in queries {
        let u = uses(expr);
        if u.metrics.is_empty() {
            out.push(format!("{from}: no patchbay_* metric in `{expr}`"));
        }
        let mut labels_here = BTreeSet::new();
        for (name, matched) in &u.metrics {
            let Some(labels) = e.series.get(name) else {
                let hint = match e.family(name) {
                    Some((family, kind)) => {
                        format!(" (the {kind} family {family} has no such series)")
                    }
                    None => String::new(),
                };
                out.push(format!("{from}: {name} is not exported{hint}"));
                continue;
            };
            for m in matched.difference(labels) {
                out.push(format!("{from}: {name} has no label {m:?}"));
            }
            labels_here.extend(labels.iter().cloned());
            if name.ends_with("_bucket") && e.family(name).map(|f| f.1) != Some("histogram") {
                out.push(format!("{from}: {name} is not a histogram's buckets"));
            }
        }
        for name in &u.rated {
            if matches!(e.family(name), Some((_, "gauge"))) {
                out.push(format!("{from}: rate() over the gauge {name}"));
            }
        }
        for label in u.grouped.difference(&labels_here) {
            out.push(format!(
                "{from}: groups by {label:?}, which its metrics do not have"
            ));
        }
    }
    out
}

#[test]
fn every_panel_has_a_datasource_and_a_query() {
    let dash = dashboard();
    assert_eq!(dash["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert!(dash["schemaVersion"].as_u64().unwrap() >= 36);
    let mut shown = 0;
    for p in panels(&dash) {
        if p["type"] == "row" {
            continue;
        }
        shown += 1;
        let title = &p["title"];
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no targets");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
            assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()), "{title}");
        }
    }
    assert!(shown >= 20, "{shown} panels");
    let vars: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["provider", "model"]);
}

#[test]
fn the_checker_catches_made_up_names_labels_and_gauge_rates() {
    let scrape = "# TYPE patchbay_requests counter\n\
        patchbay_requests_total{provider=\"openai\",status=\"2xx\"} 3\n\
        # TYPE patchbay_open_streams gauge\npatchbay_open_streams 0\n\
        # TYPE patchbay_fallbacks counter\n";
    let e = Exposition::parse(scrape);
    let q = |expr: &str| vec![("test".to_owned(), expr.to_owned())];
    let ok = "sum by (provider) (rate(patchbay_requests_total{status=\"2xx\"}[5m]))";
    assert_eq!(problems(&q(ok), &e), Vec::<String>::new());
    for bad in [
        "rate(patchbay_request_total[5m])",
        "rate(patchbay_requests[5m])",
        "rate(patchbay_fallbacks_total[5m])",
        "sum by (model) (rate(patchbay_requests_total[5m]))",
        "patchbay_requests_total{stauts=\"2xx\"}",
        "rate(patchbay_open_streams[5m])",
        "histogram_quantile(0.5, rate(patchbay_requests_bucket[5m]))",
        "vector(1)",
    ] {
        assert!(!problems(&q(bad), &e).is_empty(), "{bad} passes");
    }
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_exported() {
    let up = Upstreams::start(MockConfig::default()).await;
    let busy = failing_upstream(503).await;
    let gw = Gateway::start(&format!(
        r#"{}
[providers.busy]
kind = "openai_compatible"
base_url = "http://{busy}/v1"

[[routes]]
model = "gpt-4o-mini"
targets = [{{ provider = "openai" }}]

[[routes]]
model = "cross"
targets = [{{ provider = "anthropic", model = "claude-haiku-4-5" }}]

[[routes]]
model = "flaky"
targets = [{{ provider = "busy", model = "gpt-4o-mini" }}]
fallbacks = [{{ provider = "openai", model = "gpt-4o-mini" }}]
retries = 1
backoff_ms = 1
backoff_max_ms = 2

[metrics]
main_listener = true
key_labels = true
username = "prom"
password = "scrape-secret"

[access_log]
format = "off"
"#,
        up.toml()
    ))
    .await;
    let (_, limited) = key_with(
        &gw,
        "one-a-minute",
        Limits {
            rpm: Some(1),
            ..Limits::default()
        },
    );
    let chat = |model: &str, key: &str, stream: bool| {
        let (path, body) = chat_request(ApiShape::OpenAiChat, model, "dashboard", stream, false);
        let req = client().post(gw.url(&path)).bearer_auth(key).json(&body);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            resp.bytes().await.unwrap();
            status
        }
    };
    assert_eq!(chat("gpt-4o-mini", KEY, false).await, 200);
    assert_eq!(chat("gpt-4o-mini", KEY, true).await, 200);
    assert_eq!(chat("cross", KEY, true).await, 200);
    assert_eq!(chat("flaky", KEY, false).await, 200);
    assert_eq!(chat("gpt-4o-mini", "pbk_not_a_key", false).await, 401);
    assert_eq!(chat("gpt-4o-mini", &limited, false).await, 200);
    assert_eq!(chat("gpt-4o-mini", &limited, false).await, 429);
    gw.app.flush_usage();

    let resp = client()
        .get(gw.url("/metrics"))
        .basic_auth("prom", Some("scrape-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let scrape = Exposition::parse(&resp.text().await.unwrap());
    assert!(scrape.types.len() > 20, "{:?}", scrape.types);

    let dash = dashboard();
    let queries = queries(&dash);
    let problems = problems(&queries, &scrape);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Every exported family has a panel: a new metric is not forgotten.
    let queried: BTreeSet<&str> = queries
        .iter()
        .flat_map(|(_, expr)| uses(expr).metrics.into_keys())
        .filter_map(|name| scrape.family(&name).map(|(family, _)| family))
        .collect();
    let unshown: Vec<&String> = scrape
        .types
        .keys()
        .filter(|f| !queried.contains(f.as_str()))
        .collect();
    assert!(unshown.is_empty(), "families with no panel: {unshown:?}");
    gw.shutdown().await;
}
