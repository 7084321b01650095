//! `GET /admin/usage/export.csv`: the console's Usage table as CSV, the same rows and
//! columns (group, name, requests, tokens in and out, cost, errors), as a download.
//!
//! Cells follow RFC 4180 (quoted when they hold a comma, a quote or a line break;
//! quotes doubled; CRLF between records). Group values and names come from callers
//! (a key's name, a requested model), so a text cell that a spreadsheet would take
//! for a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is
//! prefixed with `'`. The table is one row per group (keys, models, days…), small
//! enough to build whole.

use http::{HeaderValue, StatusCode, header};

use super::params::Params;
use super::reply::ApiError;
use super::usage::{FILTERS, Table, table};
use crate::app::App;
use crate::respond::{self, Answer};

/// The header row.
const COLUMNS: [&str; 7] = [
    "group",
    "name",
    "requests",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "errors",
];

/// `GET /admin/usage/export.csv`: takes what `GET /admin/usage` takes.
pub(crate) async fn export(app: &App, q: Option<&str>) -> Result<Answer, ApiError> {
    let p = Params::parse(q, &FILTERS)?;
    let t = table(app, &p).await?;
    let body = csv(&t);
    let mut resp = http::Response::new(respond::full(body));
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let disposition = format!("attachment; filename=\"{}\"", file_name(&t));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// The whole document: the header, then one record per group (one `total` record
/// when ungrouped).
fn csv(t: &Table) -> String {
    let mut out = String::new();
    record(&mut out, COLUMNS.iter().map(|c| (*c).to_owned()));
    let numbers = |x: &gateway_auth::usage::query::UsageTotals| {
        [
            x.requests.to_string(),
            x.input_tokens.to_string(),
            x.output_tokens.to_string(),
            usd(x.cost_micros),
            x.errors.to_string(),
        ]
    };
    if t.group.is_none() {
        let [r, i, o, c, e] = numbers(&t.sum);
        record(
            &mut out,
            ["total".into(), String::new(), r, i, o, c, e].into_iter(),
        );
    }
    for row in &t.rows {
        let [r, i, o, c, e] = numbers(&row.totals);
        let name = row.name.as_deref().map(text_cell).unwrap_or_default();
        record(
            &mut out,
            [text_cell(&row.group), name, r, i, o, c, e].into_iter(),
        );
    }
    out
}

/// Appends one record of already-guarded cells, quoted where needed.
fn record(out: &mut String, cells: impl Iterator<Item = String>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&cell);
        }
    }
    out.push_str("\r\n");
}

/// A text cell from outside: one a spreadsheet would read as a formula gets a `'`.
fn text_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

/// Micro-dollars as dollars with all six decimals (exact, no float).
fn usd(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let m = micros.unsigned_abs();
    format!("{sign}{}.{:06}", m / 1_000_000, m % 1_000_000)
}

/// `usage-by-model-2026-12-01-to-2026-12-03.csv` (the dates of the range, `to`
/// exclusive as given).
fn file_name(t: &Table) -> String {
    let date = |ms: i64| {
        let secs = u64::try_from(ms.max(0) / 1000).unwrap_or(0);
        gateway_translate::time::format_rfc3339(secs)[..10].to_owned()
    };
    let by = t
        .group_name()
        .map_or("total".to_owned(), |g| format!("by-{g}"));
    format!(
        "usage-{by}-{}-to-{}.csv",
        date(t.filter.from_ms),
        date(t.filter.to_ms)
    )
}

#[cfg(test)]
mod tests {
    use gateway_auth::usage::query::{UsageFilter, UsageTotals};

    use super::super::usage::TableRow;
    use super::*;

    fn row(group: &str, name: Option<&str>, requests: u64, cost_micros: i64) -> TableRow {
        TableRow {
            group: group.into(),
            name: name.map(str::to_owned),
            totals: UsageTotals {
                requests,
                errors: 1,
                input_tokens: 10,
                output_tokens: 20,
                cost_micros,
                ..UsageTotals::default()
            },
        }
    }

    fn table_of(group: Option<usize>, rows: Vec<TableRow>) -> Table {
        Table {
            filter: UsageFilter {
                from_ms: 1_700_006_400_000,
                to_ms: 1_700_179_200_000,
                ..UsageFilter::default()
            },
            group,
            rows,
            sum: UsageTotals {
                requests: 3,
                ..UsageTotals::default()
            },
        }
    }

    #[test]
    fn cells_with_commas_quotes_and_line_breaks_are_quoted() {
        let t = table_of(
            Some(0),
            vec![
                row("k1", Some("a, \"b\"\nc"), 2, 1_500_000),
                row("k2", Some("plain"), 1, 7),
            ],
        );
        assert_eq!(
            csv(&t),
            "group,name,requests,input_tokens,output_tokens,cost_usd,errors\r\n\
             k1,\"a, \"\"b\"\"\nc\",2,10,20,1.500000,1\r\n\
             k2,plain,1,10,20,0.000007,1\r\n"
        );
    }

    #[test]
    fn formulas_are_defused_in_text_cells_only() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(text_cell(bad), format!("'{bad}"));
        }
        assert_eq!(text_cell("gpt-5"), "gpt-5");
        let t = table_of(
            Some(2),
            vec![row("=HYPERLINK(\"http://x\",\"y\")", None, 1, -2_000_000)],
        );
        let out = csv(&t);
        assert!(
            out.ends_with("\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",,1,10,20,-2.000000,1\r\n"),
            "{out}"
        );
    }

    #[test]
    fn ungrouped_is_one_total_record_and_the_file_is_named_for_its_range() {
        let t = table_of(None, Vec::new());
        assert!(csv(&t).ends_with("\r\ntotal,,3,0,0,0.000000,0\r\n"));
        assert_eq!(file_name(&t), "usage-total-2023-11-15-to-2023-11-17.csv");
        let t = table_of(Some(4), Vec::new());
        assert_eq!(file_name(&t), "usage-by-day-2023-11-15-to-2023-11-17.csv");
    }
}
