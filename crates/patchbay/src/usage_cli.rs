//! `patchbay usage`: totals from the database's hourly rollups, grouped by key,
//! project, model, provider or day, over a time range.

use std::fmt::Write as _;
use std::path::PathBuf;

use gateway_auth::usage::query::{GroupBy, UsageFilter, UsageGroup};
use gateway_auth::usage::{SqliteReader, UsageReader};

use crate::cli::UsageArgs;
use gateway_server::config::{Config, DEFAULT_DATABASE};

/// Runs `patchbay usage`; the text to print, or the error message.
pub fn run(args: &UsageArgs) -> Result<String, String> {
    let config = match &args.config {
        Some(cfg) => Some(Config::load(cfg).map_err(|e| e.to_string())?),
        None => None,
    };
    let url = config.as_ref().and_then(|c| c.storage.url.clone());
    let reader: Box<dyn UsageReader> = match (&args.db, url) {
        // The config's PostgreSQL, unless `--db` names a file.
        (None, Some(url)) => {
            let pg = gateway_postgres::Postgres::connect(&url, &Default::default())
                .map_err(|e| format!("storage.url: {e}"))?;
            Box::new(gateway_postgres::PgUsage::new(pg))
        }
        (db, _) => {
            let path = db
                .clone()
                .or_else(|| config.map(|c| c.storage.path))
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATABASE));
            if !path.exists() {
                return Err(format!("{}: no database here yet", path.display()));
            }
            Box::new(SqliteReader::new(&path))
        }
    };
    let now = gateway_auth::cache::now_ms();
    let filter = UsageFilter {
        from_ms: parse_time(&args.since, now).map_err(|e| format!("--since: {e}"))?,
        to_ms: match &args.until {
            Some(t) => parse_time(t, now).map_err(|e| format!("--until: {e}"))?,
            None => now + 3_600_000,
        },
        key_id: args.key.clone(),
        model: args.model.clone(),
        ..UsageFilter::default()
    };
    let group = parse_group(&args.by)?;
    let groups = reader.totals(&filter, group).map_err(|e| e.to_string())?;
    Ok(if args.json {
        let rows: Vec<serde_json::Value> = groups.iter().map(json_row).collect();
        format!("{}\n", serde_json::Value::Array(rows))
    } else {
        table(&groups, &args.by)
    })
}

fn parse_group(by: &str) -> Result<Option<GroupBy>, String> {
    Ok(Some(match by {
        "key" => GroupBy::Key,
        "project" => GroupBy::Project,
        "model" => GroupBy::Model,
        "provider" => GroupBy::Provider,
        "day" => GroupBy::Day,
        "none" | "total" => return Ok(None),
        other => {
            return Err(format!(
                "--by {other}: expected key, project, model, provider, day or total"
            ));
        }
    }))
}

/// `7d`, `24h`, `30m` ago; an RFC 3339 time; or Unix milliseconds.
fn parse_time(text: &str, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    let ago = |n: &str, unit_ms: i64| {
        n.parse::<i64>()
            .map(|n| now_ms - n * unit_ms)
            .map_err(|_| format!("`{text}` is not a number of units"))
    };
    if let Some(n) = text.strip_suffix('d') {
        return ago(n, 86_400_000);
    }
    if let Some(n) = text.strip_suffix('h') {
        return ago(n, 3_600_000);
    }
    if let Some(n) = text.strip_suffix('m') {
        return ago(n, 60_000);
    }
    if let Some(secs) = gateway_translate::time::parse_rfc3339(text) {
        return i64::try_from(secs)
            .map(|s| s * 1000)
            .map_err(|_| "out of range".to_owned());
    }
    text.parse::<i64>()
        .map_err(|_| format!("`{text}`: write 7d, 24h, 30m, an RFC 3339 time or Unix milliseconds"))
}

fn label(g: &UsageGroup, by: &str) -> String {
    if by == "day" {
        if let Ok(ms) = g.group.parse::<u64>() {
            return gateway_translate::time::format_rfc3339(ms / 1000)[..10].to_owned();
        }
    }
    if g.group.is_empty() {
        "-".to_owned()
    } else {
        g.group.clone()
    }
}

fn cost(g: &UsageGroup) -> String {
    let usd = format!("${:.4}", g.totals.cost_usd());
    if g.totals.unpriced > 0 {
        format!("{usd} (+{} unpriced)", g.totals.unpriced)
    } else {
        usd
    }
}

fn table(groups: &[UsageGroup], by: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<28} {:>9} {:>7} {:>12} {:>12} {:>10}  cost",
        by, "requests", "errors", "input", "output", "cached"
    );
    for g in groups {
        let t = &g.totals;
        let _ = writeln!(
            s,
            "{:<28} {:>9} {:>7} {:>12} {:>12} {:>10}  {}",
            label(g, by),
            t.requests,
            t.errors,
            t.input_tokens,
            t.output_tokens,
            t.cached_tokens,
            cost(g)
        );
    }
    if groups.is_empty() {
        s.push_str("(no usage in this range)\n");
    }
    s
}

fn json_row(g: &UsageGroup) -> serde_json::Value {
    let t = &g.totals;
    serde_json::json!({
        "group": g.group,
        "requests": t.requests,
        "errors": t.errors,
        "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens,
        "cached_tokens": t.cached_tokens,
        "reasoning_tokens": t.reasoning_tokens,
        "cost_usd": t.cost_usd(),
        "unpriced_requests": t.unpriced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_form() {
        let now = 1_800_000_000_000;
        assert_eq!(parse_time("7d", now).unwrap(), now - 7 * 86_400_000);
        assert_eq!(parse_time("2h", now).unwrap(), now - 7_200_000);
        assert_eq!(
            parse_time("2026-11-23T00:00:00Z", now).unwrap(),
            1_795_392_000_000
        );
        assert_eq!(parse_time("12345", now).unwrap(), 12345);
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_group("colour").is_err());
    }
}
