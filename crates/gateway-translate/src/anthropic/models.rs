//! `GET /v1/models` in Anthropic's shape: `{data, has_more, first_id, last_id}` with
//! RFC 3339 `created_at` (PROTOCOLS §5.6).

use gateway_protocol::{ModelInfo, ModelList};
use serde::{Deserialize, Serialize};

use crate::error::TranslateError;
use crate::json;

/// The list body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct List {
    /// The models.
    pub data: Vec<Model>,
    /// Whether another page follows.
    #[serde(default)]
    pub has_more: bool,
    /// First id of this page.
    #[serde(default)]
    pub first_id: Option<String>,
    /// Last id of this page.
    #[serde(default)]
    pub last_id: Option<String>,
}

/// One model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    /// Always `model`.
    #[serde(rename = "type", default = "model_type")]
    pub kind: String,
    /// Model id.
    pub id: String,
    /// Human name.
    #[serde(default)]
    pub display_name: String,
    /// RFC 3339 creation time.
    #[serde(default)]
    pub created_at: String,
    /// Context window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<u64>,
    /// Output limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
}

fn model_type() -> String {
    "model".to_owned()
}

/// Encodes a model list (one page, `has_more: false`). Unknown creation times are
/// shown as the Unix epoch (`created_at` is required in this shape).
pub fn encode(list: &ModelList) -> Vec<u8> {
    let data: Vec<Model> = list
        .models
        .iter()
        .map(|m| Model {
            kind: model_type(),
            id: m.id.clone(),
            display_name: m.display_name.clone().unwrap_or_else(|| m.id.clone()),
            created_at: rfc3339(m.created.unwrap_or(0)),
            max_input_tokens: m.context_window,
            max_tokens: m.max_output_tokens,
        })
        .collect();
    json::encode(&List {
        first_id: data.first().map(|m| m.id.clone()),
        last_id: data.last().map(|m| m.id.clone()),
        has_more: false,
        data,
    })
}

/// Decodes an upstream model list.
pub fn decode(body: &[u8]) -> Result<ModelList, TranslateError> {
    let list: List = json::decode_upstream("model list", body)?;
    Ok(ModelList {
        models: list
            .data
            .into_iter()
            .map(|m| ModelInfo {
                created: parse_rfc3339(&m.created_at),
                display_name: (!m.display_name.is_empty()).then_some(m.display_name),
                owned_by: Some("anthropic".to_owned()),
                context_window: m.max_input_tokens,
                max_output_tokens: m.max_tokens,
                id: m.id,
            })
            .collect(),
    })
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01 (`days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds → `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(unix: u64) -> String {
    let secs = i64::try_from(unix).unwrap_or(i64::MAX / 2);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` → Unix seconds; `None` when unreadable or
/// before 1970.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(13) != Some(&b':')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = frac.get(digits..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes().get(3) != Some(&b':') {
                return None;
            }
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset;
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_760_000_000), "2025-10-09T08:53:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(parse_rfc3339("2026-02-17T00:00:00Z"), Some(1_771_286_400));
        for t in [0, 59, 86_399, 951_782_400, 1_760_000_000, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2025-10-09T10:53:20.5+02:00"),
            Some(1_760_000_000)
        );
        assert_eq!(parse_rfc3339("garbage"), None);
    }
}
